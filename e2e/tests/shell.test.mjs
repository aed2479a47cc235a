// The built app served by the reference server opens, routes, and reports the network.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, watchedPage, screenshot } from "../lib/harness.mjs";

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
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
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
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
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
  const context = await browser.newContext();
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
