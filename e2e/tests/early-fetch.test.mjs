// A first visit to the dashboard asks for its data while the app's code is still downloading
// (index.html's early fetch), and the app uses that answer instead of asking again. The
// early request carries no token (index.html's script does not read the session from
// IndexedDB yet), so it can only succeed on a server without people (`--no-auth`); with
// people on, the app ignores its 401 and asks itself once signed in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, watchedPage, uuid } from "../lib/harness.mjs";

const METRICS = "/api/v1/dashboard/metrics";

let server, browser;
before(async () => {
  server = await startServer({ people: false });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a cold visit to the dashboard requests its data once, before the app's code has arrived", async () => {
  for (const title of ["Early one", "Early two"]) {
    const created = await server.api("/cases", {
      method: "POST",
      body: JSON.stringify({ id: uuid(), title, priority: "low" }),
    });
    assert.equal(created.status, 201);
  }
  const context = await browser.newContext();
  const page = await watchedPage(context);
  const asked = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === METRICS) asked.push(request.url());
  });
  await page.goto(server.url + "/");
  await page.getByTestId("metric-open").filter({ hasText: "2" }).waitFor();
  assert.equal(asked.length, 1, `the metrics were requested ${asked.length} times`);
  const order = await page.evaluate((path) => {
    const entries = performance.getEntriesByType("resource");
    const wasm = entries.find((e) => e.name.endsWith(".wasm"));
    const metrics = entries.find((e) => new URL(e.name).pathname === path);
    return { metricsStart: metrics?.startTime, wasmEnd: wasm?.responseEnd };
  }, METRICS);
  assert.ok(
    order.metricsStart < order.wasmEnd,
    `the data request started at ${order.metricsStart} ms, after the wasm arrived at ${order.wasmEnd} ms`,
  );
  assert.deepEqual(page.panics, []);
  await context.close();
});
