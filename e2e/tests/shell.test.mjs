// The built app served by the reference server opens, routes, reports the network, and
// opens with no network at all once its service worker has cached the shell.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, watchedPage, screenshot, signedInContext } from "../lib/harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the dashboard opens with the nav and the sync indicator", async () => {
  const context = await signedInContext(browser, server, { viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  await page.goto(server.url + "/");
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  const nav = page.getByRole("navigation");
  for (const name of ["Dashboard", "Cases", "Sync"]) {
    await nav.getByRole("link", { name, exact: true }).waitFor();
  }
  const indicator = page.getByTestId("sync-status");
  assert.equal(await indicator.getAttribute("data-online"), "true");
  assert.match(await indicator.getAttribute("data-pending"), /^\d+$/);
  await screenshot(page, "shell-dashboard-1280");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("a deep link is served by the SPA fallback and unknown routes say Not found", async () => {
  const context = await signedInContext(browser, server, { viewport: { width: 390, height: 844 } });
  const page = await watchedPage(context);
  await page.goto(server.url + "/cases/new");
  await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
  await page.goto(server.url + "/no/such/page");
  await page.getByRole("heading", { name: "Not found", level: 1 }).waitFor();
  await screenshot(page, "shell-not-found-390");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("the indicator follows the browser going offline and back", async () => {
  const context = await signedInContext(browser, server);
  const page = await watchedPage(context);
  await page.goto(server.url + "/");
  const indicator = page.getByTestId("sync-status");
  await indicator.waitFor();
  await context.setOffline(true);
  await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "false");
  await context.setOffline(false);
  await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "true");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("once the service worker controls the page, the app and its deep links open offline", async () => {
  // A server of its own, stopped below: with it gone as well as the network, nothing but the
  // service worker can answer (offline emulation's reach into a worker's own fetches has
  // varied across Chromium versions).
  const own = await startServer();
  const context = await signedInContext(browser, own);
  try {
    const page = await watchedPage(context);
    await page.goto(own.url + "/");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });

    await context.setOffline(true);
    await own.stop();
    await page.reload();
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor({ timeout: 10_000 });
    const indicator = page.getByTestId("sync-status");
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "false");
    assert.equal(await indicator.getAttribute("data-online"), "false");

    await page.goto(own.url + "/cases/new");
    await page.getByRole("heading", { name: "New case", level: 1 }).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId("sync-status").getAttribute("data-online"), "false");
    await screenshot(page, "shell-offline-new-case");
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await own.stop();
  }
});
