// A visit to the dashboard asks for its data while the app's code is still downloading
// (index.html's early fetch), and the app uses that answer instead of asking again. Signed
// in, the script reads the session's token from IndexedDB and sends it, and the app adopts the
// answer because it holds the same token (it never downloads the numbers itself); on a
// server without people it sends none. On a
// device that never signed in, the script creates no database (the app's own session store
// must be created by the app, with its object store). The app's list of API origins
// (config.json) is fetched early too, on every visit, and the app reads it from that answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startServer, launchBrowser, watchedPage, signedInContext, sessionOnlyContext, eventually, uuid, distDir,
} from "../lib/harness.mjs";

const METRICS = "/api/v1/dashboard/metrics";
const CONFIG = "/config.json";

let server, guestServer, browser;
before(async () => {
  server = await startServer();
  guestServer = await startServer({ people: false });
  browser = await launchBrowser();
  for (const [s, title] of [[server, "Early one"], [server, "Early two"], [guestServer, "Early one"], [guestServer, "Early two"]]) {
    const created = await s.api("/cases", {
      method: "POST",
      body: JSON.stringify({ id: uuid(), title, priority: "low" }),
    });
    assert.equal(created.status, 201);
  }
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await guestServer?.stop();
});

/**
 * Loads the dashboard in `page` until the "Open" count shows 2; resolves with the metrics
 * requests made (their Authorization and If-None-Match headers, the answer's status and
 * ETag), how many times config.json was asked for, and when the first metrics request and
 * config.json's started and the wasm finished downloading (resource timing, ms since
 * navigation).
 */
async function visitDashboard(page, url) {
  const asked = [];
  let configRequests = 0;
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    if (path === METRICS) asked.push(request);
    if (path === CONFIG) configRequests += 1;
  });
  await page.goto(url + "/");
  await page.getByTestId("metric-open").filter({ hasText: "2" }).waitFor();
  const order = await page.evaluate(([metricsPath, configPath]) => {
    const entries = performance.getEntriesByType("resource");
    const wasm = entries.find((e) => e.name.endsWith(".wasm"));
    const metrics = entries.find((e) => new URL(e.name).pathname === metricsPath);
    const config = entries.find((e) => new URL(e.name).pathname === configPath);
    return { metricsStart: metrics?.startTime, configStart: config?.startTime, wasmEnd: wasm?.responseEnd };
  }, [METRICS, CONFIG]);
  const requests = await Promise.all(
    asked.map(async (request) => {
      const headers = await request.allHeaders();
      const response = await request.response();
      return {
        authorization: headers.authorization ?? null,
        ifNoneMatch: headers["if-none-match"] ?? null,
        status: response?.status(),
        etag: (await response?.allHeaders())?.etag ?? null,
      };
    }),
  );
  return { requests, configRequests, ...order };
}

/** config.json was asked for once, before the wasm had arrived: the app used that answer. */
function assertConfigReadEarlyOnce(seen) {
  assert.equal(seen.configRequests, 1, "the app asked for config.json again");
  assert.ok(
    seen.configStart < seen.wasmEnd,
    `config.json was asked for at ${seen.configStart} ms, after the wasm arrived at ${seen.wasmEnd} ms`,
  );
}

/**
 * The numbers came once: the early answer (the first metrics request). The app may revalidate
 * it (an answer made before the live socket listened may have missed a change:
 * src/query/live.rs), but only with that answer's ETag, which it can hold only by having
 * adopted it, and the server says 304. Returns the early request.
 */
function assertOnlyTheEarlyAnswerWasDownloaded(seen) {
  const [early, ...later] = seen.requests;
  assert.ok(early, "no metrics request");
  assert.deepEqual([early.ifNoneMatch, early.status], [null, 200]);
  for (const revalidation of later) {
    assert.deepEqual(
      revalidation,
      { authorization: early.authorization, ifNoneMatch: early.etag, status: 304, etag: early.etag },
      "the app fetched the metrics itself",
    );
  }
  return early;
}

/** Slows the page's network (through the DevTools protocol) so the wasm takes a while to come. */
async function slowNetwork(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 40,
    downloadThroughput: (4_000 * 1000) / 8,
    uploadThroughput: (2_000 * 1000) / 8,
  });
}

test("a cold visit without people requests the dashboard's data and config.json before the app's code has arrived, and the app never asks for either again", async () => {
  const context = await browser.newContext();
  const page = await watchedPage(context);
  // On loopback the wasm can arrive before the script has looked for a session.
  await slowNetwork(context, page);
  const seen = await visitDashboard(page, guestServer.url);
  const early = assertOnlyTheEarlyAnswerWasDownloaded(seen);
  assert.equal(early.authorization, null);
  assert.ok(
    seen.metricsStart < seen.wasmEnd,
    `the data request started at ${seen.metricsStart} ms, after the wasm arrived at ${seen.wasmEnd} ms`,
  );
  assertConfigReadEarlyOnce(seen);
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("signed in, the early request carries the stored token and starts before the wasm has arrived, and the app never downloads the numbers itself", async () => {
  // The app's files and data cleared after signing in: only the early request can bring the
  // numbers before the app asks.
  const context = await sessionOnlyContext(browser, server);
  try {
    const page = await watchedPage(context);
    await slowNetwork(context, page);
    const seen = await visitDashboard(page, server.url);
    const early = assertOnlyTheEarlyAnswerWasDownloaded(seen);
    assert.match(early.authorization ?? "", /^Bearer \S+$/, "the early request carried no token");
    assert.ok(
      seen.metricsStart < seen.wasmEnd,
      `the data request started at ${seen.metricsStart} ms, after the wasm arrived at ${seen.wasmEnd} ms`,
    );
    assertConfigReadEarlyOnce(seen);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
  }
});

for (const [how, hideList] of [["listing the databases", false], ["without indexedDB.databases()", true]]) {
  test(`on a device that never signed in, the early fetch creates no database (${how}), and signing in works after`, async () => {
    const context = await browser.newContext();
    try {
      const page = await watchedPage(context);
      if (hideList) {
        // A browser without `indexedDB.databases()`: the script opens and aborts the upgrade.
        await page.addInitScript(() => {
          window.__listDatabases = IDBFactory.prototype.databases;
          delete IDBFactory.prototype.databases;
        });
      }
      // Only index.html's own script runs: the app's code never arrives.
      await page.route(/\.wasm$/, (route) => route.abort());
      const early = page.waitForRequest((r) => new URL(r.url()).pathname === METRICS);
      await page.goto(server.url + "/");
      const request = await early;
      assert.equal((await request.allHeaders()).authorization, undefined, "a token from nowhere");
      await request.response();
      const names = await page.evaluate(async () => {
        const list = window.__listDatabases ?? IDBFactory.prototype.databases;
        return (await list.call(indexedDB)).map((d) => d.name);
      });
      assert.deepEqual(names, [], "the page left a database behind");
      await page.close();

      // The app then makes its session store itself, and signing in keeps the session.
      const app = await watchedPage(context);
      await app.goto(server.url + "/");
      await app.getByRole("heading", { name: "Sign in" }).first().waitFor();
      await app.getByLabel("Email", { exact: true }).fill("dana@example.com");
      await app.getByLabel("Password", { exact: true }).fill("casedesk-demo");
      await app.getByRole("button", { name: "Sign in", exact: true }).click();
      await app.getByTestId("metric-open").filter({ hasText: "2" }).waitFor();
      await app.reload();
      await app.getByTestId("current-user").filter({ hasText: "Dana" }).waitFor();
      await eventually("the dashboard shows its numbers after the reload", async () =>
        /2/.test(await app.getByTestId("metric-open").textContent()),
      );
      assert.deepEqual(app.panics, []);
    } finally {
      await context.close();
    }
  });
}

test("a config.json read early that names another origin still sends the app there", async () => {
  // The app's files, served with a config.json naming a second server, which holds other numbers.
  const appDir = mkdtempSync(join(tmpdir(), "casedesk-early-config-"));
  cpSync(distDir, appDir, { recursive: true });
  const home = await startServer({ people: false, staticDir: appDir });
  const other = await startServer({ people: false, args: ["--cors-origin", home.url] });
  const context = await browser.newContext();
  try {
    for (const title of ["Elsewhere one", "Elsewhere two", "Elsewhere three"]) {
      const created = await other.api("/cases", {
        method: "POST",
        body: JSON.stringify({ id: uuid(), title, priority: "low" }),
      });
      assert.equal(created.status, 201);
    }
    writeFileSync(join(appDir, "config.json"), JSON.stringify({ api_origins: [other.url] }));
    const page = await watchedPage(context);
    await slowNetwork(context, page);
    const configs = [];
    const metrics = [];
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.pathname === CONFIG) configs.push(url.origin);
      if (url.pathname === METRICS) metrics.push(url.origin);
    });
    await page.goto(home.url + "/");
    await page.getByTestId("metric-open").filter({ hasText: "3" }).waitFor();
    assert.deepEqual(configs, [home.url], "config.json was not asked for once");
    assert.ok(metrics.includes(other.url), `the metrics were asked of ${metrics.join(", ")}`);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await home.stop();
    await other.stop();
    rmSync(appDir, { recursive: true, force: true });
  }
});
