// The Devtools page, in the built app against the real server: a row per cache
// entry whose buttons act on that key alone, the filter, queued actions, the live socket's
// own round trip and reconnects, and the exported file's content.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startServer, launchBrowser, watchedPage, screenshot, eventually, uuid, signedInContext, DEMO_PEOPLE } from "../lib/harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function createCase(title) {
  const res = await server.api("/cases", {
    method: "POST",
    headers: { "idempotency-key": uuid() },
    body: JSON.stringify({ id: uuid(), title, status: "open" }),
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** The row of the cache entry whose key is exactly `key`. */
function entryRow(page, key) {
  return page.locator(`[data-testid="cache-entry"][data-key="${key}"]`);
}

async function openDevtools(page) {
  await page.getByRole("link", { name: "Sync", exact: true }).click();
  await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  await page.getByRole("link", { name: "Devtools" }).click();
  await page.getByRole("heading", { name: "Devtools", level: 1 }).waitFor();
}

async function exportDiagnostics(page) {
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export diagnostics" }).click();
  const file = await download;
  assert.match(file.suggestedFilename(), /\.json$/);
  return JSON.parse(await readFile(await file.path(), "utf8"));
}

test("Devtools lists the cache, acts on one key, shows queue and socket, and exports it all", { timeout: 60_000 }, async () => {
  const tag = `dev${Date.now().toString(36)}`;
  const first = await createCase(`${tag} printer jams`);
  const second = await createCase(`${tag} projector flickers`);

  const context = await signedInContext(browser, server, { acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await watchedPage(context);
  const requests = [];
  page.on("request", (request) => requests.push(new URL(request.url()).pathname));

  // A few pages, so entries exist: the metrics, a list page, two cases and their notes.
  await page.goto(`${server.url}/`);
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByTestId("case-row").filter({ hasText: first.title }).waitFor();
  await page.getByRole("link", { name: first.title }).click();
  await page.getByRole("heading", { name: first.title, level: 1 }).waitFor();
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByRole("link", { name: second.title }).click();
  await page.getByRole("heading", { name: second.title, level: 1 }).waitFor();
  await openDevtools(page);

  const metrics = entryRow(page, "dashboard/metrics");
  // The second case is the one removed below; the first is used offline afterwards.
  const caseKey = `cases/${second.id}`;
  await metrics.waitFor();
  await entryRow(page, caseKey).waitFor();
  await entryRow(page, `notes/${first.id}`).waitFor();
  assert.ok(
    (await page.locator('[data-testid="cache-entry"][data-key^="cases/list/"]').count()) >= 1,
    "the list page has its entry",
  );
  const caseRowText = await entryRow(page, caseKey).innerText();
  assert.match(caseRowText, /Loaded/);
  assert.match(caseRowText, /Fresh/);
  assert.match(caseRowText, /\d+(\.\d)? (B|KB)/, "its size");
  assert.match(caseRowText, /\d+ s/, "its age");

  // The filter narrows the rows by key text.
  const total = await page.getByTestId("cache-entry").count();
  await page.getByLabel("Filter").fill("METRICS");
  await eventually("only the metrics row is left", async () => (await page.getByTestId("cache-entry").count()) === 1);
  await metrics.waitFor();
  await page.getByLabel("Filter").fill("no such key");
  await page.getByText("No key matches the filter.").waitFor();
  await page.getByLabel("Filter").fill("");
  await eventually("every row is back", async () => (await page.getByTestId("cache-entry").count()) === total);

  // Refetch asks the server for that key alone.
  requests.length = 0;
  await metrics.getByRole("button", { name: "Refetch" }).click();
  await eventually("the metrics are requested", async () => requests.includes("/api/v1/dashboard/metrics"));
  assert.deepEqual(
    requests.filter((path) => path.startsWith("/api/v1/") && path !== "/api/v1/dashboard/metrics"),
    [],
    "no other key is fetched",
  );
  await eventually("the refetched entry is fresh", async () => (await metrics.getAttribute("data-fresh")) === "true");

  // Invalidate makes it stale, and only it.
  await metrics.getByRole("button", { name: "Invalidate" }).click();
  await eventually("the metrics are stale", async () => (await metrics.getAttribute("data-fresh")) === "false");
  assert.match(await metrics.innerText(), /Stale/);
  assert.equal(await entryRow(page, caseKey).getAttribute("data-fresh"), "true", "the case is still fresh");

  // Remove forgets it: its row goes, the others stay.
  await entryRow(page, caseKey).getByRole("button", { name: "Remove" }).click();
  await eventually("the case's row is gone", async () => (await entryRow(page, caseKey).count()) === 0);
  assert.equal(await page.getByTestId("cache-entry").count(), total - 1);
  await metrics.waitFor();

  // The socket measured its own round trip; it has not reconnected yet.
  await eventually("the round trip shows", async () =>
    /^\d+(\.\d+)? ms$/.test((await page.getByTestId("socket-rtt").textContent()) ?? ""));
  assert.equal(await page.getByTestId("socket-state").textContent(), "Live");
  assert.equal(await page.getByTestId("socket-reconnects").textContent(), "0");
  assert.match(await page.getByTestId("devtools-hit-ratio").textContent(), /^\d+ %$/);
  assert.match(await page.getByTestId("devtools-timing").textContent(), /^\d+ ms \/ \d+ ms$/);
  assert.equal(await page.getByTestId("queued-action").count(), 0);

  // Offline, a note waits in the queue and shows as a queued action.
  await context.setOffline(true);
  await page.getByRole("link", { name: "Cases", exact: true }).click();
  await page.getByRole("link", { name: first.title }).click();
  await page.getByRole("heading", { name: first.title, level: 1 }).waitFor();
  await page.getByRole("textbox", { name: "Note" }).fill("Checked the tray");
  await page.getByRole("button", { name: "Add note" }).click();
  await openDevtools(page);
  const queued = page.getByTestId("queued-action");
  await queued.waitFor();
  assert.equal(await queued.count(), 1);
  const queuedText = await queued.innerText();
  assert.match(queuedText, /Waiting to be sent/);
  assert.match(queuedText, /When back online/, "its next attempt waits for the network");
  assert.equal(await queued.getByTestId("queued-action-author").innerText(), DEMO_PEOPLE.dana.name, "the author is named");
  assert.equal(await page.getByTestId("socket-state").textContent(), "Paused while offline");
  await screenshot(page, "devtools-offline");

  const offlineExport = await exportDiagnostics(page);
  const keys = offlineExport.cache_entries.map((entry) => entry.key_text);
  assert.ok(keys.includes("dashboard/metrics"), JSON.stringify(keys));
  assert.ok(keys.includes(`notes/${first.id}`), JSON.stringify(keys));
  const metricsEntry = offlineExport.cache_entries.find((entry) => entry.key_text === "dashboard/metrics");
  assert.deepEqual(metricsEntry.key, "metrics", "a key is exported in its stored form");
  assert.equal(metricsEntry.status, "Success");
  assert.equal(typeof metricsEntry.size_bytes, "number");
  assert.equal(typeof metricsEntry.observers, "number");
  assert.equal(typeof metricsEntry.stale, "boolean");
  assert.equal(offlineExport.queued_actions.length, 1);
  assert.equal(offlineExport.queued_actions[0].state, "pending");
  assert.equal(offlineExport.queued_actions[0].case_id, first.id);
  assert.equal(offlineExport.queued_actions[0].author, DEMO_PEOPLE.dana.name);
  assert.equal(offlineExport.queued_actions[0].author_id, DEMO_PEOPLE.dana.id);
  assert.equal(typeof offlineExport.socket.round_trip_ms, "number");
  assert.equal(offlineExport.socket.reconnects, 0);
  assert.equal(typeof offlineExport.hit_ratio, "number");
  assert.equal(typeof offlineExport.p50_ms, "number");
  assert.equal(typeof offlineExport.p95_ms, "number");
  assert.ok(Array.isArray(offlineExport.alerts));

  // Back online: the socket reconnects, measures again, and the note is sent.
  await context.setOffline(false);
  await eventually("the socket reconnected once", async () =>
    (await page.getByTestId("socket-reconnects").textContent()) === "1", 15_000);
  await eventually("the note was sent", async () => (await page.getByTestId("queued-action").count()) === 0, 15_000);
  const onlineExport = await exportDiagnostics(page);
  assert.equal(onlineExport.socket.reconnects, 1);
  assert.equal(onlineExport.socket.state, "Live");
  assert.deepEqual(onlineExport.queued_actions, []);
  const notes = await server.api(`/cases/${first.id}/notes`);
  assert.equal(notes.body.length, 1, "the note reached the server once");

  assert.deepEqual(page.panics, []);
  await context.close();
});
