// The device keeps the queue, and tabs without Web Locks take turns, in the built app
// against the real server: the Sync page says whether the browser keeps this device's data;
// unreadable stored changes are listed, exported and discarded; a newer
// tab upgrading the database is not blocked and the older one asks for a reload; and with
// `navigator.locks` removed (plain HTTP from a LAN address) two tabs still send each change
// exactly once, and one takes over when the other closes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startServer, launchBrowser, watchedPage, screenshot, eventually, signedInContext } from "../lib/harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh context (its own IndexedDB) without the service worker, so every API request is
 * the page's own and is seen once. */
async function freshContext() {
  return signedInContext(browser, server, { serviceWorkers: "block", acceptDownloads: true });
}

async function openSync(context) {
  const page = await watchedPage(context);
  await page.goto(server.url + "/sync");
  await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  return page;
}

/** Counts in the browser what the `actions` store of the queue database holds. */
function storedActions(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("casedesk-queue");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const count = db.transaction("actions").objectStore("actions").count();
          count.onsuccess = () => {
            db.close();
            resolve(count.result);
          };
          count.onerror = () => reject(count.error);
        };
      }),
  );
}

/** Creates a case through the app's own links and form (no page load). */
async function createCase(page, title) {
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByRole("link", { name: "New case" }).click();
  await page.getByLabel("Title").fill(title);
  await page.getByRole("button", { name: "Create case" }).click();
  await page.getByRole("heading", { name: title, level: 1 }).waitFor();
}

test("the Sync page says whether the browser keeps this device's data", async () => {
  const context = await freshContext();
  const page = await openSync(context);
  const line = page.getByTestId("storage-persistence");
  await eventually("the browser answered", async () =>
    ["true", "false"].includes(await line.getAttribute("data-persisted")));
  const persisted = await page.evaluate(() => navigator.storage.persisted());
  assert.equal(await line.getAttribute("data-persisted"), String(persisted));
  assert.equal(
    (await line.textContent()).trim(),
    persisted
      ? "Stored durably on this device"
      : "The browser may clear this device's data when space runs low",
  );
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("an unreadable stored change is listed, exported as JSON, and deleted only by Discard", async () => {
  const context = await freshContext();
  let page = await openSync(context);
  const raw = JSON.stringify({ action: { kind: "ArchiveCase" }, format: 9 });
  // Something this version cannot read lands in the queue's database (another version of
  // casedesk, or a damaged disk).
  await page.evaluate(
    (raw) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("casedesk-queue");
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction("actions", "readwrite");
          tx.objectStore("actions").put(raw, "strange-record");
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      }),
    raw,
  );
  await page.reload();
  const item = page.getByTestId("unreadable-record");
  await item.waitFor();
  assert.equal(await item.getAttribute("data-key"), "strange-record");
  await page.getByRole("alert").filter({ hasText: "1 stored change could not be read" }).first().waitFor();

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    item.getByRole("button", { name: "Export" }).click(),
  ]);
  const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
  assert.deepEqual(exported, { key: "strange-record", value: JSON.parse(raw) });
  assert.equal(await storedActions(page), 1, "exporting keeps it");
  await screenshot(page, "device-unreadable");

  await item.getByRole("button", { name: "Discard" }).click();
  await eventually("it leaves the list", async () => (await page.getByTestId("unreadable-record").count()) === 0);
  assert.equal(await storedActions(page), 0, "discarding deletes it from the device");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("a newer tab upgrading the database is not blocked; the older tab stops and offers Reload", async () => {
  const context = await freshContext();
  const older = await openSync(context);
  await eventually("the older tab stores on the device", async () =>
    (await older.getByText("Saved on this device", { exact: true }).count()) === 1);

  // A newer casedesk opens the queue's database at the next version.
  const newer = await watchedPage(context);
  await newer.goto(server.url + "/api/v1/health"); // same origin, not the app
  const outcome = await newer.evaluate(
    () =>
      new Promise((resolve) => {
        const open = indexedDB.open("casedesk-queue", 2);
        const timer = setTimeout(() => resolve("blocked"), 5_000);
        open.onsuccess = () => {
          clearTimeout(timer);
          open.result.close();
          resolve("upgraded");
        };
        open.onerror = () => resolve(`failed: ${open.error}`);
      }),
  );
  assert.equal(outcome, "upgraded");

  const banner = older.getByTestId("reload-banner");
  await banner.waitFor();
  assert.match(await banner.textContent(), /casedesk was updated in another tab/);
  await older.getByRole("alert").filter({ hasText: "Reload this tab to keep working" }).first().waitFor();
  assert.equal((await older.getByTestId("sync-status").textContent()).trim(), "Updated in another tab · reload");
  await screenshot(older, "device-reload-banner");

  // Reloading runs this (older) build again: the database is newer than it knows, so it
  // says so plainly and leaves the data alone.
  await banner.getByRole("button", { name: "Reload" }).click();
  await older.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  await older.getByText("Kept for a newer version of casedesk; this tab's memory only").waitFor();
  await older.getByTestId("health-warnings").filter({ hasText: "saved by a newer version of casedesk" }).waitFor();
  const version = await newer.evaluate(
    () =>
      new Promise((resolve) => {
        const open = indexedDB.open("casedesk-queue");
        open.onsuccess = () => {
          resolve(open.result.version);
          open.result.close();
        };
      }),
  );
  assert.equal(version, 2, "the newer database is left as it is");
  assert.deepEqual(older.panics, []);
  await context.close();
});

test("without Web Locks two tabs send each change once, and one takes over when the other closes", async () => {
  const context = await freshContext();
  // A non-secure context (plain HTTP from a LAN address) has no `navigator.locks`.
  await context.addInitScript(() => {
    delete Navigator.prototype.locks;
  });
  const posts = new Map();
  context.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/api/v1/cases") {
      const id = JSON.parse(request.postData() ?? "{}").id;
      posts.set(id, (posts.get(id) ?? 0) + 1);
    }
  });
  const a = await openSync(context);
  const b = await openSync(context);
  assert.equal(await a.evaluate(() => navigator.locks), undefined);
  const senders = async () =>
    (await Promise.all([a, b].map((p) => p.getByText("This tab", { exact: true }).count()))).reduce(
      (x, y) => x + y,
    );
  await eventually("one tab sends", async () => (await senders()) === 1);

  // Changes made in both tabs while offline, then the network comes back. The tabs move
  // by their own links, so each keeps running (a reload would start a new tab).
  await context.setOffline(true);
  const stamp = Date.now();
  let n = 0;
  for (const page of [a, b, a, b]) await createCase(page, `No locks ${stamp} ${n++}`);
  await eventually("both tabs show four waiting", async () =>
    (await a.getByTestId("sync-status").getAttribute("data-pending")) === "4" &&
    (await b.getByTestId("sync-status").getAttribute("data-pending")) === "4");
  await context.setOffline(false);
  await eventually("both tabs are drained", async () =>
    (await a.getByTestId("sync-status").getAttribute("data-pending")) === "0" &&
    (await b.getByTestId("sync-status").getAttribute("data-pending")) === "0", 20_000);
  const listed = await server.api(`/cases?q=${encodeURIComponent(`No locks ${stamp}`)}`);
  assert.equal(listed.body.total, 4);
  assert.equal(posts.size, 4);
  assert.deepEqual([...posts.values()], [1, 1, 1, 1], "each change sent once");

  // The sending tab closes (no clean-up runs): the other takes over once its lease expires.
  for (const page of [a, b]) await page.getByRole("link", { name: "Sync", exact: true }).click();
  await eventually("one tab sends", async () => (await senders()) === 1);
  const aSends = (await a.getByText("This tab", { exact: true }).count()) === 1;
  const [closing, staying] = aSends ? [a, b] : [b, a];
  const closedAt = Date.now();
  await closing.close();
  await staying.getByText("This tab", { exact: true }).waitFor({ timeout: 15_000 });
  console.log(`takeover after the sending tab closed: ${Date.now() - closedAt} ms`);
  const title = `No locks ${stamp} after`;
  await createCase(staying, title);
  await eventually("it is sent", async () =>
    (await staying.getByTestId("sync-status").getAttribute("data-pending")) === "0", 15_000);
  assert.equal(posts.size, 5);
  assert.deepEqual([...posts.values()], [1, 1, 1, 1, 1], "each change sent once");
  assert.deepEqual(staying.panics, []);
  await context.close();
});

test("without Web Locks, when the sending tab dies without a word, the other takes over once its lease expires", async () => {
  const context = await freshContext();
  await context.addInitScript(() => {
    delete Navigator.prototype.locks;
  });
  const a = await openSync(context);
  const b = await openSync(context);
  const sends = async (p) => (await p.getByText("This tab", { exact: true }).count()) === 1;
  await eventually("one tab sends", async () => (await sends(a)) !== (await sends(b)));
  const [dying, staying] = (await sends(a)) ? [a, b] : [b, a];
  // A crash runs no page-hide handler: the lease is not handed on, it runs out.
  const cdp = await context.newCDPSession(dying);
  const crashedAt = Date.now();
  cdp.send("Page.crash").catch(() => {});
  await staying.getByText("This tab", { exact: true }).waitFor({ timeout: 20_000 });
  const after = Date.now() - crashedAt;
  console.log(`takeover after the sending tab crashed: ${after} ms`);
  assert.ok(after < 12_000, `took ${after} ms`);
  assert.deepEqual(staying.panics, []);
  await context.close();
});
