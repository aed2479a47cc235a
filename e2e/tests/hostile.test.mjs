// Hostile answers (issue 7): the server's test mode replaces successful reads with invalid
// JSON, wrong types, an HTML error page from a "proxy", a 32 MiB body, a truncated body, the
// wrong content type, or an empty 200. Each page must say plainly that it could not load,
// keep working (navigation, the Sync page), never panic (a wasm panic kills the app), and
// recover with "Try again" once the server answers properly again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, watchedPage, screenshot, eventually, uuid } from "../lib/harness.mjs";

let server, browser, caseId;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  caseId = uuid();
  await server.api("/cases", { method: "POST", body: JSON.stringify({ id: caseId, title: "Hostile answers target" }) });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the panic detector sees a wasm panic's console line", async () => {
  // Without this the suite could pass because detection is broken, not because nothing panicked.
  const context = await browser.newContext();
  const page = await watchedPage(context);
  await page.goto(server.url + "/sync");
  await page.evaluate(() => console.error("panicked at src/lib.rs:1:1:\nforced by the test"));
  await eventually("the panic is recorded", async () => page.panics.length === 1, 2_000);
  await context.close();
});

const PAGES = [
  ["/", "Dashboard", /dashboard could not be loaded/i],
  ["/cases", "Cases", /cases could not be loaded/i],
  [() => `/cases/${caseId}`, "This case could not be loaded", /.+/],
];

for (const kind of ["invalid_json", "wrong_types", "html_error_page", "huge_body", "truncated_body", "empty_200"]) {
  test(`${kind}: every page says it could not load, keeps working, and recovers`, async () => {
    await server.chaos({ corrupt: kind, corrupt_rate: 1 });
    // A fresh browser context for each kind: the HTTP cache would otherwise answer from an
    // earlier good copy.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await watchedPage(context);
    try {
      for (const [pathOrFn, heading, message] of PAGES) {
        const path = typeof pathOrFn === "function" ? pathOrFn() : pathOrFn;
        await page.goto(server.url + path);
        await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
        // Transient failures (the 502 page) are retried first; the error shows when they run out.
        const errorState = page.locator(".error-state").filter({ hasText: message });
        await errorState.first().waitFor({ timeout: 30_000 });
        const text = (await errorState.first().innerText()).trim();
        assert.ok(text.length > 10, `${kind} at ${path}: a readable error, got "${text}"`);
        assert.doesNotMatch(text, /<html|<!doctype|\{"items"/i, `${kind} at ${path}: the garbage itself is not shown`);
        await page.getByRole("button", { name: "Try again" }).first().waitFor();
      }
      await screenshot(page, `hostile-${kind}`);

      // Still working: navigation and the Sync page (which needs no server data).
      await page.getByRole("link", { name: "Sync", exact: true }).click();
      await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();

      // The server answers properly again: "Try again" brings the data.
      await server.chaos({ corrupt: null });
      await page.getByRole("link", { name: "Cases", exact: true }).click();
      await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
      const tryAgain = page.getByRole("button", { name: "Try again" });
      if (await tryAgain.count()) await tryAgain.first().click();
      await page.getByTestId("case-row").first().waitFor({ timeout: 20_000 });
      assert.deepEqual(page.panics, [], `${kind}: no wasm panic`);
    } finally {
      await server.chaos({ corrupt: null });
      await context.close();
    }
  });
}

test("wrong_content_type: a correct body with the wrong label is still shown", async () => {
  await server.chaos({ corrupt: "wrong_content_type", corrupt_rate: 1 });
  const context = await browser.newContext();
  const page = await watchedPage(context);
  try {
    await page.goto(`${server.url}/cases/${caseId}`);
    await page.getByRole("heading", { name: "Hostile answers target", level: 1 }).waitFor();
    assert.deepEqual(page.panics, []);
  } finally {
    await server.chaos({ corrupt: null });
    await context.close();
  }
});
