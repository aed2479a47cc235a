// People on one device (docs/api.md §4), in the built app against the real server: A queues
// changes offline and signs out through the dialog; B signs in on the same browser and works:
// B's changes are sent, A's are held (B sees only their count, none of A's cases or
// changes); A signs in again and A's changes are sent, authored by A.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launchBrowser, watchedPage, screenshot, eventually, uuid, signIn, DEMO_PEOPLE,
} from "../lib/harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const blobHex = (id) => id.replaceAll("-", "").toLowerCase();

async function pending(page) {
  return Number(await page.getByTestId("sync-status").getAttribute("data-pending"));
}

/** The names of the IndexedDB databases of the page's origin. */
async function databases(page) {
  return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
}

test("A's offline changes wait through B's session and are sent, as A's, when A signs in again", async () => {
  const dana = DEMO_PEOPLE.dana;
  const sam = DEMO_PEOPLE.sam;
  const word = `people${Date.now().toString(36)}`;
  // A case Dana will have cached, and change offline.
  const shared = { id: uuid(), title: `${word} shared printer`, status: "open", priority: "medium", tags: [] };
  const made = await server.api("/cases", { method: "POST", headers: { "idempotency-key": uuid() }, body: JSON.stringify(shared) });
  assert.equal(made.status, 201);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  await page.goto(server.url + `/cases?q=${word}`);
  await signIn(page, server, "dana");
  await page.locator(`[data-testid=case-row][data-case-id="${shared.id}"]`).waitFor();
  await page.goto(server.url + `/cases/${shared.id}`);
  await page.getByRole("heading", { name: shared.title, level: 1 }).waitFor();
  assert.ok((await databases(page)).includes(`casedesk-${dana.id}-cache`), "Dana's cases are cached");

  // Offline, Dana adds a note and creates a case: both wait on the device.
  await context.setOffline(true);
  await page.getByLabel("Note", { exact: true }).fill(`${word} note by Dana`);
  await page.getByRole("button", { name: "Add note" }).click();
  await eventually("the note waits", async () => (await pending(page)) === 1);
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByRole("link", { name: "New case" }).click();
  await page.getByLabel("Title").fill(`${word} made offline by Dana`);
  await page.getByRole("button", { name: "Create case" }).click();
  await eventually("two changes wait", async () => (await pending(page)) === 2);

  // Signing out asks first, saying how many changes are not saved.
  await page.getByRole("button", { name: "Sign out" }).first().click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /2 changes are not yet saved/);
  await dialog.getByRole("button", { name: "Stay signed in" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await page.getByRole("dialog").getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await eventually("Dana's cached cases left the device", async () =>
    !(await databases(page)).includes(`casedesk-${dana.id}-cache`));

  // Sam signs in on the same device and works.
  await context.setOffline(false);
  await signIn(page, server, "sam");
  await page.getByRole("link", { name: "Sync", exact: true }).click();
  await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  const held = page.getByTestId("held-actions");
  await held.waitFor();
  assert.equal(await held.getAttribute("data-count"), "2");
  const syncText = await page.locator("main").innerText();
  assert.ok(!syncText.includes(word), "Sam sees no content of Dana's changes");
  assert.equal(await page.getByTestId("pending-action").count(), 0);
  assert.equal(await pending(page), 0, "Dana's changes are not Sam's to send");
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByRole("link", { name: "New case" }).click();
  await page.getByLabel("Title").fill(`${word} made by Sam`);
  await page.getByRole("button", { name: "Create case" }).click();
  await eventually("Sam's case is saved", async () => (await pending(page)) === 0 && (await server.api(`/cases?q=${word}%20made%20by%20Sam`)).body.total === 1);
  assert.ok(!(await databases(page)).includes(`casedesk-${dana.id}-cache`), "Sam never sees Dana's cache");
  const samCase = (await server.api(`/cases?q=${encodeURIComponent(`${word} made by Sam`)}`)).body.items[0];
  assert.equal(samCase.created_by, sam.id);
  // Dana's changes did not go out under Sam's session.
  assert.equal((await server.api(`/cases?q=${encodeURIComponent(`${word} made offline`)}`)).body.total, 0);
  assert.equal((await server.api(`/cases/${shared.id}/notes`)).body.length, 0);
  await screenshot(page, "people-held-for-dana");

  // Sam signs out (nothing waits: no dialog); Dana signs in again and her changes go out.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await signIn(page, server, "dana");
  await eventually("Dana's changes are sent", async () => {
    const made = await server.api(`/cases?q=${encodeURIComponent(`${word} made offline`)}`);
    const notes = await server.api(`/cases/${shared.id}/notes`);
    return made.body.total === 1 && notes.body.length === 1;
  }, 30_000);
  const danaCase = (await server.api(`/cases?q=${encodeURIComponent(`${word} made offline`)}`)).body.items[0];
  assert.equal(danaCase.created_by, dana.id, "created under Dana's session");
  const [note] = (await server.api(`/cases/${shared.id}/notes`)).body;
  assert.equal(note.author_id, dana.id, "the note is Dana's");
  const rows = server.readDatabase("SELECT lower(hex(actor_id)) FROM history WHERE lower(hex(case_id)) = ?", [blobHex(shared.id)]);
  assert.deepEqual(rows.map(([actor]) => actor), [blobHex(dana.id), blobHex(dana.id)], "created and note, both by Dana");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("the new-case form's Assignee lists people and sends the picked person's id", async () => {
  const sam = DEMO_PEOPLE.sam;
  const title = `assigned${Date.now().toString(36)} to Sam`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  await page.goto(server.url + "/cases/new");
  await signIn(page, server, "dana");
  await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
  const assignee = page.getByLabel("Assignee", { exact: true });
  await page.locator("#case-assignee option", { hasText: sam.name }).waitFor({ state: "attached" });
  const options = await assignee.locator("option").allTextContents();
  assert.equal(options[0], "Unassigned");
  assert.ok(options.includes(DEMO_PEOPLE.dana.name) && options.includes(sam.name), JSON.stringify(options));
  await page.getByLabel("Title").fill(title);
  await assignee.selectOption({ label: sam.name });
  await page.getByRole("button", { name: "Create case" }).click();
  await page.getByRole("heading", { name: title, level: 1 }).waitFor();
  await eventually("the case is on the server", async () =>
    (await server.api(`/cases?q=${encodeURIComponent(title)}`)).body.total === 1);
  const [made] = (await server.api(`/cases?q=${encodeURIComponent(title)}`)).body.items;
  assert.equal(made.assignee, sam.id, "assigned to Sam by id");
  assert.equal((await page.getByLabel("Assignee", { exact: true }).inputValue()), sam.id, "the case page shows Sam");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("signing in or out in one tab signs every tab of the device in or out", async () => {
  const dana = DEMO_PEOPLE.dana;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const first = await watchedPage(context);
  const second = await watchedPage(context);
  await first.goto(server.url + "/cases");
  await second.goto(server.url + "/sync");
  await first.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await second.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();

  // Signing in in the first tab brings the second in, back where it was.
  await signIn(first, server, "dana");
  await second.getByTestId("current-user").filter({ hasText: dana.name }).waitFor();
  await second.getByRole("heading", { name: "Sync", level: 1 }).waitFor();

  // Signing out in the second tab signs the first out: its cases go from the screen.
  await first.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  await second.getByRole("button", { name: "Sign out" }).click();
  await first.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  assert.equal(await first.getByTestId("current-user").count(), 0, "nobody is named");
  assert.equal(await first.getByTestId("case-row").count(), 0, "no case of Dana's stays on screen");
  await eventually("Dana's cached cases left the device", async () =>
    !(await databases(first)).includes(`casedesk-${dana.id}-cache`));
  await screenshot(first, "people-signed-out-by-another-tab");
  assert.deepEqual(first.panics, []);
  assert.deepEqual(second.panics, []);
  await context.close();
});

test("people and a case's history come through the cache: kept for offline, read again when the case changes", async () => {
  // A server of its own, stopped below, so only the device can answer after the reload.
  const own = await startServer();
  let running = true;
  const dana = DEMO_PEOPLE.dana;
  const sam = DEMO_PEOPLE.sam;
  const made = { id: uuid(), title: `history${Date.now().toString(36)}`, status: "open", priority: "medium", tags: [] };
  assert.equal((await own.api("/cases", { method: "POST", headers: { "idempotency-key": uuid() }, body: JSON.stringify(made) })).status, 201);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await watchedPage(context);
    await page.goto(own.url + `/cases/${made.id}`);
    await signIn(page, own, "dana");
    await page.getByRole("heading", { name: made.title, level: 1 }).waitFor();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
    const entries = page.getByTestId("history-entry");
    await eventually("the creation is in the history", async () => (await entries.count()) === 1);
    await page.locator("#case-assignee option", { hasText: sam.name }).waitFor({ state: "attached" });

    // This device's change, once confirmed, reads the history again.
    await page.getByLabel("Status", { exact: true }).selectOption("in_progress");
    await eventually("the status change is in the history", async () => (await entries.count()) === 2);
    // In the words the status picker and badges use, not the values the server records.
    assert.match(await entries.first().innerText(), /Dana Reyes changed status from “Open” to “In progress”/);
    // A change made elsewhere, heard over the live socket, does too.
    const patched = await own.api(`/cases/${made.id}`, { method: "PATCH", headers: { "if-match": '"2"', "idempotency-key": uuid() }, body: JSON.stringify({ assignee: sam.id, priority: "critical" }) });
    assert.equal(patched.status, 200);
    await eventually("the assignment is in the history", async () => (await entries.count()) === 3);
    assert.match(await entries.first().innerText(), new RegExp(`assignee from “nothing” to “${sam.name}”`));
    assert.match(await entries.first().innerText(), /priority from “Medium” to “Critical”/);

    // Both are stored on the device for the person: offline, a reload shows them.
    const stored = async () => page.evaluate(async (name) => {
      const db = await new Promise((ok, fail) => { const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
      const keys = await new Promise((ok, fail) => { const r = db.transaction("entries").objectStore("entries").getAllKeys(); r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
      const records = await new Promise((ok, fail) => { const r = db.transaction("entries").objectStore("entries").getAll(); r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
      db.close();
      return { keys: keys.map(String), records: records.map(String) };
    }, `casedesk-${dana.id}-cache`);
    await eventually("people and history are stored", async () => {
      const { keys, records } = await stored();
      return keys.includes('"users"') && keys.includes(`{"history":"${made.id}"}`)
        && records.some((r) => r.includes(sam.name)) && records.some((r) => r.includes('"field":"assignee"'));
    });
    await context.setOffline(true);
    running = false;
    await own.stop();
    await page.reload();
    await page.getByRole("heading", { name: made.title, level: 1 }).waitFor({ timeout: 10_000 });
    await eventually("the history shows offline", async () => (await entries.count()) === 3);
    await page.locator("#case-assignee option", { hasText: sam.name }).waitFor({ state: "attached" });
    assert.equal(await page.getByLabel("Assignee", { exact: true }).inputValue(), sam.id);
    await screenshot(page, "people-history-offline");
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    if (running) await own.stop();
  }
});
