// Whose session the device acts under (docs/api.md §4), in the built app against the real
// server: after a sign-out no request carries that person's token but the one revocation,
// their changes wait for their next sign-in; a session another person takes over resumes
// nothing of the first person's; `?next=` never leaves the app; a server without people opens
// offline as its guest.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launchBrowser, watchedPage, screenshot, eventually, signIn, DEMO_PEOPLE, DEMO_PASSWORD,
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

async function pending(page) {
  return Number(await page.getByTestId("sync-status").getAttribute("data-pending"));
}

/** The token the app keeps for the signed-in person (IndexedDB, `casedesk-session`). */
async function storedToken(page) {
  return page.evaluate(async () => {
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open("casedesk-session");
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    try {
      const text = await new Promise((ok, fail) => {
        const r = db.transaction("session").objectStore("session").get("current");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      return text ? JSON.parse(text).token : null;
    } finally {
      db.close();
    }
  });
}

/** What the server says of `token`: 200 while it is good, 401 once revoked. */
async function statusOfToken(token) {
  const res = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Every request of `context`'s pages (and workers) that carries a bearer token, as
 * `{ method, path, token }`, in the order they were sent.
 */
function recordTokens(context) {
  const seen = [];
  context.on("request", async (request) => {
    const entry = { method: request.method(), path: new URL(request.url()).pathname, token: null };
    seen.push(entry);
    // A request of a page or worker closing as the test ends has no headers left to read.
    const headers = await request.allHeaders().catch(() => ({}));
    const authorization = headers.authorization ?? "";
    entry.token = authorization.startsWith("Bearer ") ? authorization.slice(7) : null;
  });
  return seen;
}

/** Signs `page` out through the dialog that keeps the waiting changes on the device. */
async function signOutKeepingChanges(page, count) {
  await page.getByRole("button", { name: "Sign out" }).first().click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), new RegExp(`${count} changes? (is|are) not yet saved`));
  await dialog.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
}

async function createCaseOffline(page, title, expectPending) {
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByRole("link", { name: "New case" }).click();
  await page.getByLabel("Title").fill(title);
  await page.getByRole("button", { name: "Create case" }).click();
  await eventually(`${expectPending} change(s) wait`, async () => (await pending(page)) === expectPending);
}

async function casesTitled(title) {
  return (await server.api(`/cases?q=${encodeURIComponent(title)}`)).body.items;
}

for (const order of ["network back while the sign-in page shows", "network back, then another person signs in"]) {
  test(`after signing out offline, only the revocation carries the person's token (${order}); her change waits for her`, async () => {
    const dana = DEMO_PEOPLE.dana;
    const word = `signout${Date.now().toString(36)}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const seen = recordTokens(context);
    const page = await watchedPage(context);
    await page.goto(server.url + "/cases");
    await signIn(page, server, "dana");
    await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
    const token = await storedToken(page);
    assert.ok(token, "Dana's token is stored");

    // Offline, Dana creates a case, then signs out keeping it on the device.
    await context.setOffline(true);
    const title = `${word} made offline by Dana`;
    await createCaseOffline(page, title, 1);
    await signOutKeepingChanges(page, 1);
    const signedOutAt = seen.length;

    // The network comes back.
    await context.setOffline(false);
    if (order.includes("another person")) {
      await signIn(page, server, "sam");
      await page.getByRole("link", { name: "Sync", exact: true }).click();
      const held = page.getByTestId("held-actions");
      await held.waitFor();
      assert.equal(await held.getAttribute("data-count"), "1");
    }
    // The revocation goes out once the network is back: the server no longer takes it.
    await eventually("Dana's token is revoked", async () => (await statusOfToken(token)) === 401, 20_000);
    const withToken = () => seen.slice(signedOutAt).filter((r) => r.token === token);
    await eventually("the revocation was seen leaving", async () => withToken().length >= 1);
    assert.equal((await casesTitled(title)).length, 0, "nothing of Dana's was sent before she signed in");
    await screenshot(page, `session-signed-out-${order.includes("another") ? "then-sam" : "sign-in-page"}`);

    // Dana signs in again: her change goes, as hers, under her new session.
    if (order.includes("another person")) {
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    }
    await signIn(page, server, "dana");
    await eventually("Dana's case is on the server", async () => (await casesTitled(title)).length === 1, 30_000);
    const [made] = await casesTitled(title);
    assert.equal(made.created_by, dana.id);
    assert.deepEqual(
      withToken().map((r) => `${r.method} ${r.path}`),
      ["DELETE /api/v1/session"],
      "after the sign-out, her old token went out once, to revoke itself",
    );
    assert.deepEqual(page.panics, []);
    await context.close();
  });
}

test("after signing in, ?next= leads only to a path of this app", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  // A tab in the middle: the browser drops it, and `/\t/evil.example` becomes `//evil.example`.
  await page.goto(`${server.url}/sign-in?next=%2F%09%2Fevil.example`);
  await signIn(page, server, "dana");
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  assert.equal(page.url(), `${server.url}/`, "the dashboard, on this app");
  // The usual spellings of another site, each refused the same way (signed in, the page
  // leaves for `next` at once).
  for (const next of ["%2F%2Fevil.example", "%2F%5Cevil.example", "%5C%5Cevil.example", "javascript%3Aalert(1)", "https%3A%2F%2Fevil.example%2F", "%2F%250A%2Fevil.example"]) {
    await page.goto(`${server.url}/sign-in?next=${next}`);
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    assert.equal(page.url(), `${server.url}/`, next);
  }
  // A path of this app is followed, query and all.
  await page.goto(`${server.url}/sign-in?next=${encodeURIComponent("/cases?status=open")}`);
  await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  assert.equal(page.url(), `${server.url}/cases?status=open`);
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("a server without people opens offline as its guest: no sign-in page nobody could use", async () => {
  const guestServer = await startServer({ people: false });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await watchedPage(context);
    await page.goto(guestServer.url + "/");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
    const guest = await page.getByTestId("current-user").innerText();

    // Offline: a reload, and a navigation to another page, open the app as the guest.
    await context.setOffline(true);
    for (const path of ["/", "/cases"]) {
      await page.goto(guestServer.url + path);
      await page.getByTestId("current-user").filter({ hasText: guest }).waitFor();
      assert.equal(await page.getByRole("heading", { name: "Sign in", level: 1 }).count(), 0, path);
    }
    await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
    await page.goto(guestServer.url + "/");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await screenshot(page, "session-no-people-offline");
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await guestServer.stop();
  }
});
