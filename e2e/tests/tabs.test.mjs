// Tabs share fetched data, in the built app against the real server: a second tab
// of the same signed-in person opens the list and the case the first tab holds without a GET
// for either, a change confirmed in one tab reaches the other without it refetching the list
// more than once, and the data goes only on that person's channel, never another's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launchBrowser, watchedPage, screenshot, eventually, uuid, signedInContext, DEMO_PEOPLE,
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

/** Every API GET the page itself sends, as paths with their query; `gets.answers` collects
 * `[path, status]` as the answers arrive. */
function recordGets(page) {
  const gets = [];
  gets.answers = [];
  const apiPath = (request) => {
    const url = new URL(request.url());
    return request.method() === "GET" && url.pathname.startsWith("/api/v1/")
      ? url.pathname.slice("/api/v1".length) + url.search
      : null;
  };
  page.on("request", (request) => {
    const path = apiPath(request);
    if (path) gets.push(path);
  });
  page.on("response", (response) => {
    const path = apiPath(response.request());
    if (path) gets.answers.push([path, response.status()]);
  });
  return gets;
}

test("a second tab of the same person reads what the first holds from it, and only that person's channel carries it", async () => {
  const dana = DEMO_PEOPLE.dana;
  const sam = DEMO_PEOPLE.sam;
  const word = `tabs${Date.now().toString(36)}`;
  const cases = [];
  for (const title of [`${word} projector flickers`, `${word} badge reader`]) {
    const body = { id: uuid(), title, status: "open", priority: "medium", tags: [] };
    const made = await server.api("/cases", { method: "POST", headers: { "idempotency-key": uuid() }, body: JSON.stringify(body) });
    assert.equal(made.status, 201);
    cases.push(body);
  }
  const [first] = cases;
  const listPath = `/cases?q=${word}`;
  const isList = (get) => get.startsWith("/cases?") && get.includes(`q=${word}`);
  const isCase = (get) => get === `/cases/${first.id}`;

  const context = await signedInContext(browser, server, { viewport: { width: 1280, height: 800 } });
  // A listener in the same browser on Dana's channel and on Sam's: what each would hear. It
  // is not the app (a plain API answer of the same origin), so it never replies.
  const listener = await context.newPage();
  await listener.goto(server.url + "/api/v1/health");
  await listener.evaluate(({ danaChannel, samChannel }) => {
    window.heard = { dana: [], sam: [] };
    const dana = new BroadcastChannel(danaChannel);
    dana.onmessage = (e) => window.heard.dana.push(String(e.data));
    const sam = new BroadcastChannel(samChannel);
    sam.onmessage = (e) => window.heard.sam.push(String(e.data));
  }, { danaChannel: `casedesk-${dana.id}-query`, samChannel: `casedesk-${sam.id}-query` });

  // Tab A reads the list, then opens the case from it (one app instance holds both).
  const a = await watchedPage(context);
  const getsA = recordGets(a);
  await a.goto(server.url + listPath);
  await a.locator(`[data-testid=case-row][data-case-id="${first.id}"]`).waitFor();
  await a.getByRole("link", { name: first.title }).click();
  await a.getByRole("heading", { name: first.title, level: 1 }).waitFor();
  assert.equal(getsA.filter(isList).length, 1, `tab A fetched the list once: ${getsA}`);
  assert.equal(getsA.filter(isCase).length, 1, `tab A fetched the case once: ${getsA}`);

  // Tab B opens the same list, then the case: both come from tab A, no GET for either.
  const b = await watchedPage(context);
  const getsB = recordGets(b);
  await b.goto(server.url + listPath);
  for (const c of cases) await b.locator(`[data-testid=case-row][data-case-id="${c.id}"]`).waitFor();
  await b.getByRole("link", { name: first.title }).click();
  await b.getByRole("heading", { name: first.title, level: 1 }).waitFor();
  assert.deepEqual(getsB.filter(isList), [], `tab B sent no GET for the list: ${getsB}`);
  assert.deepEqual(getsB.filter(isCase), [], `tab B sent no GET for the case: ${getsB}`);

  // Back on the list in B; a change confirmed in A shows in B, with at most one list GET.
  await b.goBack();
  const rowB = b.locator(`[data-testid=case-row][data-case-id="${first.id}"]`);
  await rowB.waitFor();
  const listGetsBefore = getsB.filter(isList).length;
  const listAnswersBefore = getsB.answers.filter(([path]) => isList(path)).length;
  await a.getByLabel("Status", { exact: true }).selectOption("resolved");
  await eventually("the change is confirmed in A", async () =>
    (await a.getByTestId("sync-status").getAttribute("data-pending")) === "0");
  await eventually("the server has it", async () =>
    (await server.api(`/cases/${first.id}`)).body.status === "resolved");
  await eventually("B shows the change as saved", async () =>
    (await rowB.locator("select").inputValue()) === "resolved" && (await rowB.getAttribute("data-sync")) === "synced");
  // B downloads the changed list once. (It may revalidate it once more, a 304: an
  // invalidation reaching B while its request is out flags one more.)
  await eventually("B's list requests are answered", async () =>
    getsB.answers.filter(([path]) => isList(path)).length === getsB.filter(isList).length);
  const listGetsAfter = getsB.filter(isList).length - listGetsBefore;
  const downloads = getsB.answers.filter(([path]) => isList(path)).slice(listAnswersBefore).filter(([, status]) => status === 200);
  assert.ok(downloads.length <= 1, `tab B downloaded the list ${downloads.length} times`);
  assert.ok(listGetsAfter <= 2, `tab B asked the server for the list ${listGetsAfter} times`);
  await screenshot(b, "tabs-second-tab");

  // Only Dana's channel carried data, and no message carries a credential.
  const heard = await listener.evaluate(() => window.heard);
  assert.ok(heard.dana.some((m) => m.includes(first.title)), "Dana's tabs shared the case on her channel");
  assert.deepEqual(heard.sam, [], "Sam's channel heard nothing");
  assert.ok(!heard.dana.some((m) => /bearer|"token"/i.test(m)), "no credential on the channel");

  // Signing out closes the channel: after the tabs' goodbye, nothing more is said on Dana's.
  const spoken = async () =>
    (await listener.evaluate(() => window.heard.dana)).filter((m) => !m.includes('"message":"Bye"')).length;
  const saidBefore = await spoken();
  await a.getByRole("button", { name: "Sign out" }).first().click();
  await a.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await b.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await a.goto(server.url + listPath);
  await a.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  assert.equal(await spoken(), saidBefore, "a signed-out tab says nothing on the person's channel");

  assert.deepEqual(a.panics, []);
  assert.deepEqual(b.panics, []);
  await context.close();
});
