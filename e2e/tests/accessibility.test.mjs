// Every page and state people see passes axe-core's checks, at a desktop width (1280 px) and a
// phone's (390 px), and none scrolls sideways: sign-in, the setup code form, the sign-out
// question with unsaved changes, the dashboard, the case list with the bulk bar, a case with
// its history and the conflict panel, a new case with a field's error, the Sync page with a
// dead letter and another person's held changes, Devtools, Settings, People with a new setup
// code, Account, the shortcuts dialog, and Not found.
// One server, one browser, one page: each state is reached once and checked at both widths by
// resizing the page. axe-core (e2e/node_modules) is injected into the page by file content.
//
// A rule is turned off only in RULES_OFF below, with the reason beside it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import {
  startServer,
  launchBrowser,
  watchedPage,
  screenshot,
  eventually,
  signIn,
  uuid,
  navigateInApp,
} from "../lib/harness.mjs";

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Rules turned off, each with why. */
const RULES_OFF = {};

const WIDTHS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

let server, browser, context, page;
/** Every problem found, by state and width; the test fails at the end if any. */
const problems = [];
const checked = [];

before(async () => {
  server = await startServer({ seedDemo: true });
  browser = await launchBrowser();
  // Reduced motion: a state is checked as it rests, not halfway through a transition.
  // bypassCSP: the app's Content-Security-Policy rightly refuses inline scripts, and axe-core
  // goes in as one; nothing here tests the policy (shell.test.mjs and the server's tests do).
  context = await browser.newContext({ viewport: WIDTHS[0], reducedMotion: "reduce", bypassCSP: true });
  page = await watchedPage(context);
});
after(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

/** axe-core's violations in the page as it is now. */
async function violations() {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ content: AXE_SOURCE });
  }
  return page.evaluate(async (off) => {
    const rules = Object.fromEntries(Object.keys(off).map((id) => [id, { enabled: false }]));
    const result = await window.axe.run(document, { resultTypes: ["violations"], rules });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary.replace(/\s+/g, " ")}`),
    }));
  }, RULES_OFF);
}

/** How far the page scrolls sideways, in px (0 when it fits). */
async function sidewaysScroll() {
  return page.evaluate(() => {
    const root = document.scrollingElement;
    return root.scrollWidth - root.clientWidth;
  });
}

/**
 * Checks the page's current state (`name`) at each width: no axe violation, no sideways
 * scroll. `ready` (optional) is awaited after each resize, for a state that re-lays itself out.
 */
async function check(name, ready = async () => {}) {
  for (const size of WIDTHS) {
    await page.setViewportSize(size);
    await ready();
    // Two frames: the resize's layout and anything the app re-renders on it.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const where = `${name} at ${size.width} px`;
    for (const v of await violations()) {
      problems.push(`${where}: ${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.join("\n    ")}`);
    }
    const overflow = await sidewaysScroll();
    if (overflow > 0) problems.push(`${where}: scrolls sideways by ${overflow} px`);
    await screenshot(page, `a11y-${name.replace(/[^a-z0-9]+/gi, "-")}-${size.width}`);
  }
  await page.setViewportSize(WIDTHS[0]);
  checked.push(name);
}

const pendingCount = async () => Number(await page.getByTestId("sync-status").getAttribute("data-pending"));
const deadCount = async () => Number(await page.getByTestId("sync-status").getAttribute("data-dead"));

async function createCase(fields) {
  const body = { id: uuid(), status: "open", priority: "medium", tags: [], ...fields };
  const made = await server.api("/cases", { method: "POST", headers: { "idempotency-key": uuid() }, body: JSON.stringify(body) });
  assert.equal(made.status, 201);
  return made.body;
}

async function openCase(made) {
  await page.goto(`${server.url}/cases/${made.id}`);
  await page.getByRole("heading", { name: made.title, level: 1 }).waitFor();
}

test("every page and state people see passes axe-core at 1280 and 390 px wide and never scrolls sideways", { timeout: 180_000 }, async () => {
  // Signed out: the sign-in page.
  await page.goto(`${server.url}/sign-in`);
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await check("sign-in");
  await page.getByRole("link", { name: "Use a setup code" }).click();
  await page.getByLabel("Setup code", { exact: true }).waitFor();
  await check("setup code");
  await page.goto(`${server.url}/sign-in`);

  // Sam makes a case offline and signs out before it is sent: the question, then (for Dana,
  // below) a held change on the Sync page.
  await signIn(page, server, "sam");
  await page.goto(`${server.url}/cases/new`);
  await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
  await context.setOffline(true);
  await page.getByLabel("Title").fill(`Made offline by Sam ${Date.now()}`);
  await page.getByRole("button", { name: "Create case" }).click();
  await eventually("Sam's case waits", async () => (await pendingCount()) === 1);
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await page.getByRole("dialog").waitFor();
  await check("sign-out question with unsaved changes");
  await page.getByRole("dialog").getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await context.setOffline(false);

  await signIn(page, server, "dana");
  await page.goto(`${server.url}/`);
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  await eventually("the numbers are in", async () => /\d/.test(await page.getByTestId("metric-open").textContent()));
  await page.waitForLoadState("networkidle");
  await check("dashboard");

  await page.goto(`${server.url}/cases`);
  await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  await page.getByTestId("case-row").first().waitFor();
  await page.getByRole("checkbox", { name: /^Select “/ }).first().check();
  await page.locator(".bulk-bar.open").waitFor();
  await check("cases with the bulk bar");

  // A case with a history of two entries, then a clash on its status: the conflict panel.
  const clash = await createCase({ title: `Badge reader at the side door ${Date.now()}` });
  await openCase(clash);
  await page.getByLabel("Status", { exact: true }).selectOption("in_progress");
  await eventually("the change is in the history", async () => (await page.getByTestId("history-entry").count()) === 2);
  await eventually("the change is saved", async () => (await pendingCount()) === 0);
  await context.setOffline(true);
  await page.getByLabel("Status", { exact: true }).selectOption("resolved");
  const theirs = await server.api(`/cases/${clash.id}`, {
    method: "PATCH",
    headers: { "if-match": '"2"', "idempotency-key": uuid() },
    body: JSON.stringify({ status: "closed" }),
  });
  assert.equal(theirs.status, 200);
  await context.setOffline(false);
  await page.getByRole("button", { name: "Keep mine" }).first().waitFor({ timeout: 20_000 });
  await check("case page with its history and the conflict panel");
  await page.getByRole("button", { name: "Use theirs" }).first().click();
  await eventually("the clash is settled", async () => (await pendingCount()) === 0, 20_000);

  // A change to a case deleted behind the app's back: a dead letter.
  const doomed = await createCase({ title: `Water cooler leaks ${Date.now()}` });
  await openCase(doomed);
  await context.setOffline(true);
  await page.getByLabel("Status", { exact: true }).selectOption("resolved");
  assert.equal((await server.api(`/cases/${doomed.id}`, { method: "DELETE", headers: { "idempotency-key": uuid() } })).status, 204);
  await context.setOffline(false);
  await eventually("the change is a dead letter", async () => (await deadCount()) === 1, 20_000);

  await navigateInApp(page, "/sync");
  await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  await page.getByTestId("dead-letter").waitFor();
  await page.getByTestId("held-actions").waitFor();
  await check("sync with a dead letter and held changes");

  await page.goto(`${server.url}/cases/new`);
  await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
  await page.getByRole("button", { name: "Create case" }).click();
  await page.locator(".field-error").first().waitFor();
  await check("new case with a field error");

  await page.goto(`${server.url}/devtools`);
  await page.getByRole("heading", { name: "Devtools", level: 1 }).waitFor();
  await page.getByTestId("socket-state").waitFor();
  await check("devtools");

  await page.goto(`${server.url}/settings`);
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
  await check("settings");

  // Dana is an admin: she adds a person, and the page shows the new person's setup code.
  await page.goto(`${server.url}/people`);
  await page.getByRole("heading", { name: "People", level: 1 }).waitFor();
  await page.getByLabel("Email", { exact: true }).fill(`ada${Date.now().toString(36)}@example.com`);
  await page.getByLabel("Name", { exact: true }).fill("Ada Lovelace");
  await page.getByRole("button", { name: "Add person" }).click();
  await page.getByTestId("setup-code").waitFor();
  await check("people with a new setup code");

  await page.goto(`${server.url}/account`);
  await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
  await check("account");

  await page.locator("main").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("?");
  await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
  await check("shortcuts dialog");
  await page.keyboard.press("Escape");

  await page.goto(`${server.url}/no-such-page`);
  await page.getByRole("heading", { name: "Not found", level: 1 }).waitFor();
  await check("not found");

  assert.deepEqual(page.panics, []);
  assert.deepEqual(problems, [], `${problems.length} problems in ${checked.length} states:\n${problems.join("\n")}`);
});
