// People managed in the app and roles (docs/api.md §4), in the built app against the real
// server: an admin adds a person, who sets a password with the setup code in another browser;
// a viewer is offered no control that changes data and the server refuses their writes; a
// person deactivated while their tab is open is signed out there, their queued change held on
// the device and sent, once, after they are reactivated and sign in again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launchBrowser, watchedPage, signedInContext, screenshot, eventually, uuid,
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

const PASSWORD = "a long enough passphrase";

const word = () => `acct${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

/** Adds a person with `role` through the API (as Dana, an admin) and sets their password with the setup code. */
async function personWithRole(name, role, on = server) {
  const email = `${word()}@example.com`;
  const added = await on.api("/users", { method: "POST", body: JSON.stringify({ email, name, role }) });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const setup = await fetch(`${on.url}/api/v1/session/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, setup_code: added.body.setup_code, password: PASSWORD }),
  });
  assert.equal(setup.status, 200);
  return { ...added.body.user, email };
}

/** Signs `page` in through the sign-in form as `person` (with {@link PASSWORD}). */
async function signInAs(page, person, on = server) {
  await page.goto(on.url + "/sign-in");
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await page.getByLabel("Email", { exact: true }).fill(person.email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByTestId("current-user").filter({ hasText: person.name }).waitFor();
}

async function newCase(title) {
  const made = await server.api("/cases", {
    method: "POST",
    headers: { "idempotency-key": uuid() },
    body: JSON.stringify({ id: uuid(), title, status: "open", priority: "medium", tags: [] }),
  });
  assert.equal(made.status, 201);
  return made.body;
}

async function pending(page) {
  return Number(await page.getByTestId("sync-status").getAttribute("data-pending"));
}

/** The token the app keeps for this origin's session (IndexedDB `casedesk-session`). */
async function storedToken(page) {
  return page.evaluate(async () => {
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open("casedesk-session");
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const value = await new Promise((ok, fail) => {
      const r = db.transaction("session").objectStore("session").get("current");
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    db.close();
    return value ? JSON.parse(value).token : null;
  });
}

test("an admin adds a person, who sets a password with the setup code in another browser and is signed in", async () => {
  const admin = await signedInContext(browser, server, { who: "dana", viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(admin);
  await page.goto(server.url + "/");
  await page.getByRole("link", { name: "People", exact: true }).click();
  await page.getByRole("heading", { name: "People", level: 1 }).waitFor();

  const email = `${word()}@example.com`;
  const name = "Ada Lovelace";
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.locator("form.add-person").getByLabel("Role", { exact: true }).selectOption("agent");
  await page.getByRole("button", { name: "Add person" }).click();
  const code = (await page.getByTestId("setup-code").innerText()).trim();
  assert.ok(code.length >= 8, `a setup code: ${code}`);
  const ada = (await server.api("/users")).body.find((p) => p.email === email);
  assert.ok(ada, "the server has Ada");
  assert.equal(ada.role, "agent");
  const row = page.locator(`[data-testid=person-row][data-person-id="${ada.id}"]`);
  await row.waitFor();
  assert.equal(await row.getByLabel("Role", { exact: true }).inputValue(), "agent");
  await row.getByRole("button", { name: "Deactivate" }).waitFor();
  await row.getByRole("button", { name: "New setup code" }).waitFor();
  await screenshot(page, "accounts-person-added");

  // Ada, in a browser of her own, uses the code.
  const own = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const hers = await watchedPage(own);
  await hers.goto(server.url + "/cases");
  await hers.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await hers.getByRole("link", { name: "Use a setup code" }).click();
  await hers.getByLabel("Email", { exact: true }).fill(email);
  await hers.getByLabel("Setup code", { exact: true }).fill(code);
  await hers.getByLabel("New password", { exact: true }).fill(PASSWORD);
  await hers.getByRole("button", { name: "Set password" }).click();
  await hers.getByTestId("current-user").filter({ hasText: name }).waitFor();
  await hers.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  assert.equal(await hers.getByRole("link", { name: "People", exact: true }).count(), 0, "no People link for an agent");
  await screenshot(hers, "accounts-setup-code-signed-in");

  // Her password signs her in from now on; the code was used up.
  const withPassword = await fetch(`${server.url}/api/v1/session`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(withPassword.status, 200);
  const again = await fetch(`${server.url}/api/v1/session/setup`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, setup_code: code, password: "yet another passphrase" }),
  });
  assert.equal(again.status, 401, "a setup code works once");
  assert.deepEqual(page.panics, []);
  assert.deepEqual(hers.panics, []);
  await own.close();
  await admin.close();
});

test("a viewer is offered no control that changes data, and the server refuses their writes", async () => {
  const title = `${word()} for viewers`;
  const made = await newCase(title);
  const viewer = await personWithRole("Vera Viewer", "viewer");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(context);
  await signInAs(page, viewer);

  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.locator(`[data-testid=case-row][data-case-id="${made.id}"]`).waitFor();
  assert.equal(await page.getByRole("link", { name: "New case" }).count(), 0, "no New case");
  assert.equal(await page.locator("[data-testid=case-row] input").count(), 0, "no row to tick for a bulk change");
  assert.equal(await page.locator("[data-testid=case-row] select:enabled").count(), 0, "no status menu to change");
  assert.equal(await page.getByRole("link", { name: "People", exact: true }).count(), 0, "no People link");

  await page.locator(`[data-testid=case-row][data-case-id="${made.id}"] a.case-link`).click();
  await page.getByRole("heading", { name: title, level: 1 }).waitFor();
  await page.getByRole("heading", { name: "Notes" }).waitFor();
  const editable = await page.locator("main input:enabled, main select:enabled, main textarea:enabled").count();
  assert.equal(editable, 0, "no editable field on the case");
  for (const name of ["Add note", "Edit title", "Delete case"]) {
    assert.equal(await page.getByRole("button", { name }).count(), 0, `no ${name}`);
  }
  await screenshot(page, "accounts-viewer-case");

  // The server refuses anyway: a write with the viewer's own token is 403.
  const token = await storedToken(page);
  assert.ok(token, "the viewer's token is on the device");
  const refused = await page.evaluate(async ({ token, id }) => {
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": crypto.randomUUID() };
    const create = await fetch("/api/v1/cases", {
      method: "POST", headers, body: JSON.stringify({ id: crypto.randomUUID(), title: "by a viewer", status: "open", priority: "low", tags: [] }),
    });
    const note = await fetch(`/api/v1/cases/${id}/notes`, {
      method: "POST", headers: { ...headers, "idempotency-key": crypto.randomUUID() }, body: JSON.stringify({ id: crypto.randomUUID(), body: "by a viewer" }),
    });
    return [create.status, (await create.json()).error.code, note.status];
  }, { token, id: made.id });
  assert.deepEqual(refused, [403, "forbidden", 403]);
  assert.equal((await server.api(`/cases/${made.id}/notes`)).body.length, 0);
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("a person deactivated with their tab open is signed out there; their queued change is held and sent once after they are reactivated and sign in", async () => {
  const title = `${word()} deactivation`;
  const made = await newCase(title);
  const agent = await personWithRole("Dee Activated", "agent");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(context);
  await signInAs(page, agent);
  await page.goto(server.url + `/cases/${made.id}`);
  await page.getByRole("heading", { name: title, level: 1 }).waitFor();

  // An admin deactivates them while the tab is open.
  const off = await server.api(`/users/${agent.id}`, { method: "PATCH", body: JSON.stringify({ active: false }) });
  assert.equal(off.status, 200);

  // Their next change is kept on the device; the server's refusal signs the tab out.
  const text = `${word()} written after deactivation`;
  await page.getByLabel("Note", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Add note" }).click();
  const signIn = page.locator(".session-ended");
  await signIn.getByRole("heading", { name: "Sign in" }).waitFor();
  await eventually("the change is counted as waiting", async () => (await pending(page)) === 1);
  assert.equal((await server.api(`/cases/${made.id}/notes`)).body.length, 0, "nothing reached the server");

  // While deactivated, signing in is refused, and the change stays held.
  await signIn.getByLabel("Email", { exact: true }).fill(agent.email);
  await signIn.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await signIn.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "The email or the password is not right." }).waitFor();
  assert.equal(await pending(page), 1);
  assert.ok((await page.locator("main").innerText()).includes(text), "the change is still shown on the device");
  await screenshot(page, "accounts-deactivated-held");

  // Reactivated, they sign in again in place: the change goes out, once, as theirs.
  const on = await server.api(`/users/${agent.id}`, { method: "PATCH", body: JSON.stringify({ active: true }) });
  assert.equal(on.status, 200);
  await signIn.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await signIn.getByRole("button", { name: "Sign in", exact: true }).click();
  await eventually("the change is sent", async () => (await pending(page)) === 0, 30_000);
  await signIn.waitFor({ state: "detached" });
  const notes = (await server.api(`/cases/${made.id}/notes`)).body;
  assert.equal(notes.length, 1, "sent exactly once");
  assert.equal(notes[0].body, text);
  assert.equal(notes[0].author_id, agent.id, "under their own name");
  const history = (await server.api(`/cases/${made.id}/history`)).body;
  assert.equal(history.filter((h) => h.kind === "note_added").length, 1);
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("an open tab that sends nothing is signed out when its person is deactivated", async () => {
  // A server of its own that looks at each socket's session every half second.
  const own = await startServer({ args: ["--ws-ping-ms", "500"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const agent = await personWithRole("Ida Idle", "agent", own);
    const page = await watchedPage(context);
    await signInAs(page, agent, own);
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await eventually("live updates flow", async () =>
      (await page.getByTestId("sync-status").getAttribute("data-live")) === "true");

    const off = await own.api(`/users/${agent.id}`, { method: "PATCH", body: JSON.stringify({ active: false }) });
    assert.equal(off.status, 200);
    // No click, no change: the server ends the socket, refuses it again, and the tab shows
    // the sign-in form in place.
    await page.locator(".session-ended").getByRole("heading", { name: "Sign in" }).waitFor({ timeout: 20_000 });
    await screenshot(page, "accounts-idle-tab-signed-out");
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await own.stop();
  }
});
