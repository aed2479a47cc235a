// Failover between API servers (docs/api.md §5): two servers on one throwaway
// PostgreSQL, the app served by the first with a config.json naming both. While the
// person's notes drain under injected failures on both servers, the server in use is killed
// (SIGKILL). Then every note is on the server exactly once (counted in the database), the
// Sync page names the other server, and a change made through the surviving server's API
// shows on the open page (live updates came back through it). Before that, an offline start
// with several origins: the app opens with the list of config.json it read last.
//
// N comes from CASEDESK_FAILOVER_N (the full proof is 200 actions under 30 % failures).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  distDir,
  eventually,
  freePort,
  launchBrowser,
  screenshot,
  signedInContext,
  startPostgres,
  startServer,
  uuid,
  watchedPage,
  navigateInApp,
} from "../lib/harness.mjs";

// 60 by default (24-37 s here at b78a293, where the queue stopped waiting out backoffs
// earned by the killed server; 66 s at 2d7174f; 211 s at f1edba9, before the health-checked
// switch; the notes of one case are sent one after another); CASEDESK_FAILOVER_N=200 runs the
// full count (106 s at b78a293; 153 s at 9e62e62).
const N = Number(process.env.CASEDESK_FAILOVER_N ?? 60);
const CHAOS = { fail_rate: 0.3, drop_rate: 0.05, latency_ms: [0, 30] };
const DRAIN_TIMEOUT_MS = Number(process.env.CASEDESK_FAILOVER_DRAIN_MS ?? Math.max(300_000, N * 1_500));

let pg, a, b, browser, appDir;
before(async () => {
  pg = await startPostgres();
  // The app's files, plus the config.json written once both addresses are known.
  appDir = mkdtempSync(join(tmpdir(), "casedesk-failover-app-"));
  cpSync(distDir, appDir, { recursive: true });
  // Each server takes the app's requests and socket from the other's origin: the first test
  // opens the app from B and the second from A. B's address is named before it starts.
  const portB = await freePort();
  a = await startServer({ db: pg.url, staticDir: appDir, args: ["--cors-origin", `http://127.0.0.1:${portB}`] });
  b = await startServer({ db: pg.url, staticDir: appDir, seed: "none", port: portB, args: ["--cors-origin", a.url] });
  writeFileSync(join(appDir, "config.json"), JSON.stringify({ api_origins: [a.url, b.url] }));
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  await pg?.stop();
  if (appDir) rmSync(appDir, { recursive: true, force: true });
});

const go = navigateInApp;

async function pendingCount(page) {
  return Number(await page.getByTestId("sync-status").getAttribute("data-pending"));
}

test("offline, the app opens with the origins of the config.json it read last", async () => {
  // Served by B, which config.json names second: the Sync page names A only if the list
  // read online was kept (without it, the app would fall back to its own origin, B's).
  const context = await signedInContext(browser, b);
  try {
    const page = await watchedPage(context);
    await page.goto(`${b.url}/sync`);
    await eventually("the Sync page names the first server of config.json", async () =>
      (await page.getByTestId("api-origin").textContent()) === a.url);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });

    // config.json is not the service worker's: offline, the page's own fetch of it fails.
    await context.setOffline(true);
    await page.reload();
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "false");
    await eventually("offline, the Sync page still names the first server of config.json", async () =>
      (await page.getByTestId("api-origin").textContent()) === a.url);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
  }
});

test("the server in use is killed mid-drain: every note lands once through the other, live updates and the Sync page follow", async () => {
  const caseId = uuid();
  const created = await a.api("/cases", {
    method: "POST",
    body: JSON.stringify({ id: caseId, title: "Failover case", priority: "medium" }),
  });
  assert.equal(created.status, 201);

  const context = await signedInContext(browser, a);
  const page = await watchedPage(context);
  await page.goto(`${a.url}/sync`);
  await eventually("the Sync page names the first server", async () =>
    (await page.getByTestId("api-origin").textContent()) === a.url);

  await go(page, `/cases/${caseId}`);
  await page.getByRole("heading", { name: "Failover case" }).waitFor();
  // Both servers fail a share of requests from here to the end.
  await a.chaos(CHAOS);
  await b.chaos(CHAOS);
  const note = page.getByLabel("Note", { exact: true });
  const add = page.getByRole("button", { name: "Add note" });
  for (let i = 0; i < N; i += 1) {
    await note.fill(`failover note ${i}`);
    await add.click();
    // The field empties once the note is queued: the next one is a new note.
    await eventually(`note ${i} queued`, async () => (await note.inputValue()) === "");
  }

  // Mid-drain: kill whichever server the app is using now.
  await eventually("some notes have been sent and some still wait", async () => {
    const pending = await pendingCount(page);
    return pending > 0 && pending < N;
  }, 120_000);
  await go(page, "/sync");
  const inUse = await page.getByTestId("api-origin").textContent();
  const [victim, survivor] = inUse === b.url ? [b, a] : [a, b];
  await victim.kill("SIGKILL");
  await screenshot(page, "failover-killed");

  await eventually("every note has been sent", async () => (await pendingCount(page)) === 0, DRAIN_TIMEOUT_MS);
  await eventually("the Sync page names the surviving server", async () =>
    (await page.getByTestId("api-origin").textContent()) === survivor.url, 60_000);
  assert.equal(Number(await page.getByTestId("sync-status").getAttribute("data-dead")), 0);

  // Exactly once, counted in the shared database.
  const rows = pg.query(
    // Ids are stored as 16 bytes.
    `SELECT body, count(*) FROM notes WHERE case_id = decode('${caseId.replaceAll("-", "")}', 'hex')
     GROUP BY body ORDER BY body`,
  );
  const missing = Array.from({ length: N }, (_, i) => `failover note ${i}`).filter(
    (body) => !rows.some(([stored]) => stored === body),
  );
  assert.deepEqual(missing, [], "every note is on the server");
  assert.equal(rows.length, N, "every note is on the server");
  assert.deepEqual(rows.filter(([, count]) => count !== "1"), [], "no note twice");

  // Live updates through the survivor: a change made there shows on the open page.
  await survivor.calm();
  await go(page, `/cases/${caseId}`);
  await page.getByRole("heading", { name: "Failover case" }).waitFor();
  const current = await survivor.api(`/cases/${caseId}`);
  const patched = await survivor.api(`/cases/${caseId}`, {
    method: "PATCH",
    headers: { "if-match": `"${current.body.version}"` },
    body: JSON.stringify({ title: "Renamed on the surviving server" }),
  });
  assert.equal(patched.status, 200);
  await page.getByRole("heading", { name: "Renamed on the surviving server" }).waitFor({ timeout: 60_000 });
  await screenshot(page, "failover-after");
  assert.deepEqual(page.panics, []);
  await context.close();
});
