// Hostile answers: the server's test mode answers with one of 22 kinds of
// garbage or refusal (server/README.md, "Hostile answers"), on reads, on writes, and on the
// live-updates socket. For each, the whole app (release build, real server, real Chromium)
// must never panic (a wasm panic kills the app), say plainly what went wrong (no Rust debug
// text, no raw JSON or HTML), keep working, lose nothing, and recover once the server answers
// properly again.
//
// Chaos settings are global to a server, so the tests share a small pool of servers and run
// a few at a time, each holding one server for its whole run and calming it afterwards.
// Each test uses a fresh browser context: the HTTP cache would otherwise answer from an
// earlier good copy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, watchedPage, screenshot, eventually, uuid, signedInContext } from "../lib/harness.mjs";

const POOL_SIZE = Number(process.env.CASEDESK_HOSTILE_SERVERS ?? 3);
const TARGET_TITLE = "Hostile answers target";

let browser;
const pool = [];
const free = [];
const waiting = [];

before(async () => {
  browser = await launchBrowser();
  for (let i = 0; i < POOL_SIZE; i += 1) {
    const server = await startServer();
    server.caseId = uuid();
    await server.api("/cases", { method: "POST", body: JSON.stringify({ id: server.caseId, title: TARGET_TITLE }) });
    pool.push(server);
    free.push(server);
  }
});
after(async () => {
  await browser?.close();
  await Promise.all(pool.map((server) => server.stop()));
});

/**
 * Runs `fn` with a server of the pool to itself; calms it after. `open()` gives a page in a
 * fresh browser context of its own: in a background tab of a shared context the driver's
 * clicks stalled (a person only ever clicks in the tab in front).
 */
async function withServer(name, fn) {
  const server = free.pop() ?? (await new Promise((resolve) => waiting.push(resolve)));
  const contexts = [];
  const pages = [];
  const open = async () => {
    const context = await signedInContext(browser, server, { viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const page = await watchedPage(context);
    pages.push(page);
    return page;
  };
  try {
    await server.calm();
    await fn(server, open);
    for (const page of pages) assert.deepEqual(page.panics, [], `${name}: no wasm panic`);
  } catch (error) {
    for (const [i, page] of pages.entries()) {
      if (!page.isClosed()) await screenshot(page, `hostile-${name}-${i}`).catch(() => {});
    }
    throw error;
  } finally {
    await server.calm();
    await Promise.all(contexts.map((context) => context.close()));
    const next = waiting.shift();
    if (next) next(server);
    else free.push(server);
  }
}

/**
 * Every hostile case, as `[name, fn]`. They run as subtests of one test, `POOL_SIZE` at a
 * time (each on its own server), slow ones first so that the quick ones fill the gaps.
 * CASEDESK_HOSTILE_ONLY (a regular expression on the name) picks some, to debug one.
 */
const CASES = [];

/** What a person reads must be words: no Rust debug output, no raw JSON, no HTML. */
function assertPlain(text, where) {
  assert.ok(text.trim().length > 10, `${where}: a readable message, got "${text}"`);
  assert.doesNotMatch(
    text,
    /\b(Http|Decode|Network|Some|None|Failed|Conflict) ?[{(]|\{"|<html|<!doctype|panicked|\bstruct \w|\\u00/i,
    `${where}: plain words, got "${text}"`,
  );
}

/** Client-side navigation: the router follows `popstate`, so no reload. */
async function go(page, path) {
  await page.evaluate((p) => {
    history.pushState(null, "", p);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }, path);
}

const syncCount = async (page, name) => Number(await page.getByTestId("sync-status").getAttribute(`data-${name}`));

/** Waits for `data`, pressing "Try again" while one shows (a page may also recover by itself). */
async function recover(page, data, what) {
  let pressed = 0;
  await eventually(`${what}: the data is back`, async () => {
    if (await data.first().isVisible()) return true;
    // As a person would: press, then give the page a moment to load.
    const again = page.getByRole("button", { name: "Try again" });
    if (Date.now() - pressed > 3_000 && (await again.count())) {
      pressed = Date.now();
      await again.first().click({ timeout: 1_000 }).catch(() => {});
    }
    return false;
  }, 20_000);
}

// ----- reads -----

// What each page shows while every read gets the kind: "error" (a plain message and "Try
// again"), "data" (a lenient reader shows the data), or per page.
const ERROR = { dashboard: "error", cases: "error", detail: "error" };
const DATA = { dashboard: "data", cases: "data", detail: "data" };
const READS = {
  invalid_json: ERROR,
  wrong_types: ERROR,
  html_error_page: ERROR,
  huge_body: ERROR,
  truncated_body: ERROR,
  wrong_content_type: DATA,
  empty_200: ERROR,
  array_instead_of_object: ERROR,
  // A list cannot be told from one with other cases in it; one case's answer can.
  other_case: { dashboard: "data", cases: "data", detail: "error" },
  not_modified_uncached: ERROR,
  empty_204: ERROR,
  null_body: ERROR,
  extra_fields: DATA,
  // serde's derive refuses a repeated key (the first, wrong-typed value comes first).
  duplicated_json_keys: ERROR,
  server_error_body: ERROR,
  unauthorized: ERROR,
  precondition_without_current: ERROR,
  rate_limited_no_retry_after: ERROR,
  rate_limited_huge_retry_after: ERROR,
  retry_after_date: ERROR,
  redirect: ERROR,
};

const READ_PAGES = {
  dashboard: {
    path: () => "/",
    link: "Dashboard",
    error: /dashboard could not be loaded/i,
    data: (page) => page.getByTestId("metric-open").filter({ hasText: /\d/ }),
  },
  cases: {
    path: () => "/cases",
    link: "Cases",
    error: /cases could not be loaded/i,
    data: (page) => page.getByTestId("case-row").filter({ hasText: TARGET_TITLE }),
  },
  detail: {
    path: (server) => `/cases/${server.caseId}`,
    error: /.+/,
    data: (page) => page.getByRole("heading", { name: TARGET_TITLE, level: 1 }),
  },
};

/** Waits until the page shows what `expected` says for it: the data, or a plain error. */
async function showsExpected(page, kind, name, expected) {
  const spec = READ_PAGES[name];
  if (expected[name] === "data") {
    await spec.data(page).first().waitFor({ timeout: 20_000 });
    return;
  }
  const errorState = page.locator(".error-state").filter({ hasText: spec.error });
  // Transient failures are retried first; the error shows when the retries run out.
  await errorState.first().waitFor({ timeout: 30_000 });
  assertPlain(await errorState.first().innerText(), `${kind} on ${name}`);
  await page.getByRole("button", { name: "Try again" }).first().waitFor();
}

async function readCase(kind, expected) {
  await withServer(`read-${kind}`, async (server, open) => {
    await server.chaos({ corrupt: kind, corrupt_on: "reads" });
    // One tab, as a person would go: each page in turn, then the Sync page.
    const page = await open();
    const names = Object.keys(READ_PAGES);
    for (const [i, name] of names.entries()) {
      const path = READ_PAGES[name].path(server);
      if (i === 0) await page.goto(server.url + path);
      else if (READ_PAGES[name].link) await page.getByRole("link", { name: READ_PAGES[name].link, exact: true }).click();
      else await go(page, path);
      await showsExpected(page, kind, name, expected);
    }
    await page.getByRole("link", { name: "Sync", exact: true }).click();
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    await go(page, READ_PAGES.detail.path(server));

    // The server answers properly again: "Try again" brings the case, and the other pages
    // load when visited again.
    await server.calm();
    if (kind === "rate_limited_huge_retry_after") {
      // The server asked for years; the app believes 10 minutes, for every request of the
      // tab, and says so on each page. "Try again" says it again; loading the app afresh
      // starts over.
      await page.reload();
    }
    for (const name of [...names].reverse()) {
      if (name !== "detail") await go(page, READ_PAGES[name].path(server));
      await recover(page, READ_PAGES[name].data(page), `${kind} on ${name}`);
    }
  });
}

for (const [kind, expected] of Object.entries(READS)) {
  CASES.push([`reads (dashboard, list, case): ${kind}`, () => readCase(kind, expected)]);
}

// ----- writes -----

// Garbling kinds commit the change and garble only the answer: the app must keep the change,
// send it again under its key, and settle once the answer is readable. Refusing kinds change
// nothing: the app must keep the change and send it later.
const GARBLING = [
  "invalid_json", "wrong_types", "html_error_page", "huge_body", "truncated_body", "wrong_content_type",
  "empty_200", "array_instead_of_object", "other_case", "not_modified_uncached", "empty_204", "null_body",
  "extra_fields", "duplicated_json_keys", "slow_drip",
];
// Answers a lenient reader takes as they are: the change settles while the kind is on.
const READABLE = new Set(["wrong_content_type", "extra_fields"]);
// Holds that outlast the kind until the page is reloaded (see writeCase). A queue paused by
// a 401 is not one: "Sync now" tries again, and a 401 would pause it again.
const RESTART = new Set(["rate_limited_huge_retry_after"]);
const REFUSING = [
  "server_error_body", "unauthorized", "precondition_without_current", "rate_limited_no_retry_after",
  "rate_limited_huge_retry_after", "retry_after_date", "redirect",
];

/** Four changes through the UI, one of each kind of write, each on its own case. */
async function makeChanges(page, server, tag) {
  const make = async (title) => {
    const id = uuid();
    await server.api("/cases", { method: "POST", body: JSON.stringify({ id, title }) });
    return { id, title };
  };
  const cases = {
    edited: await make(`${tag} edited`),
    noted: await make(`${tag} noted`),
    deleted: await make(`${tag} deleted`),
    created: { title: `${tag} created`, id: null },
  };
  // Each page once with the server answering, so the case is on this device.
  for (const c of [cases.edited, cases.noted, cases.deleted]) {
    await go(page, `/cases/${c.id}`);
    await page.getByRole("heading", { name: c.title, level: 1 }).waitFor();
  }
  return cases;
}

async function writeChanges(page, cases, note) {
  await go(page, `/cases/${cases.edited.id}`);
  await page.getByRole("heading", { name: cases.edited.title, level: 1 }).waitFor();
  await page.getByLabel("Status", { exact: true }).selectOption("resolved");

  await go(page, `/cases/${cases.noted.id}`);
  await page.getByRole("heading", { name: cases.noted.title, level: 1 }).waitFor();
  await page.getByLabel("Note", { exact: true }).fill(note);
  await page.getByRole("button", { name: "Add note" }).click();
  await page.getByText(note, { exact: true }).waitFor();

  await go(page, `/cases/${cases.deleted.id}`);
  await page.getByRole("heading", { name: cases.deleted.title, level: 1 }).waitFor();
  await page.getByRole("button", { name: "Delete case" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await page.waitForURL((url) => !url.pathname.endsWith(cases.deleted.id));

  await go(page, "/cases/new");
  await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
  await page.getByLabel("Title").fill(cases.created.title);
  await page.getByRole("button", { name: "Create case" }).click();
  await page.getByRole("heading", { name: cases.created.title, level: 1 }).waitFor();
  cases.created.id = new URL(page.url()).pathname.split("/").pop();
}

/** What the server holds of the four changes: true when all four are there. */
async function serverHolds(server, cases, note) {
  const edited = await server.api(`/cases/${cases.edited.id}`);
  const notes = await server.api(`/cases/${cases.noted.id}/notes`);
  const deleted = await server.api(`/cases/${cases.deleted.id}`);
  const created = await server.api(`/cases?q=${encodeURIComponent(cases.created.title)}`);
  return {
    edited: edited.body?.status === "resolved",
    noted: (notes.body ?? []).some((n) => n.body === note),
    deleted: deleted.status === 404,
    created: created.body?.total >= 1,
    all() {
      return this.edited && this.noted && this.deleted && this.created;
    },
  };
}

/** Each change is on the server exactly once. */
async function assertExactlyOnce(server, cases, note, what) {
  const edited = await server.api(`/cases/${cases.edited.id}`);
  assert.equal(edited.body.status, "resolved", `${what}: the status change is saved`);
  assert.equal(edited.body.version, 2, `${what}: the status change is applied once`);
  const notes = await server.api(`/cases/${cases.noted.id}/notes`);
  assert.deepEqual(notes.body.map((n) => n.body), [note], `${what}: the note is saved once`);
  const deleted = await server.api(`/cases/${cases.deleted.id}`);
  assert.equal(deleted.status, 404, `${what}: the case is deleted`);
  const created = await server.api(`/cases?q=${encodeURIComponent(cases.created.title)}`);
  assert.deepEqual(created.body.items.map((c) => c.id), [cases.created.id], `${what}: the case is created once, with its id`);
}

/** On the Sync page, presses "Sync now" now and then until nothing is pending. */
async function drain(page, what, timeoutMs = 30_000) {
  if (!new URL(page.url()).pathname.endsWith("/sync")) {
    await go(page, "/sync");
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  }
  let pressed = 0;
  await eventually(`${what}: nothing pending`, async () => {
    if (Date.now() - pressed > 2_000) {
      pressed = Date.now();
      await page.getByRole("button", { name: "Sync now" }).click();
    }
    return (await syncCount(page, "pending")) === 0;
  }, timeoutMs);
}

async function writeCase(kind) {
  await withServer(`write-${kind}`, async (server, open) => {
    const page = await open();
    await page.goto(server.url + "/sync");
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    const cases = await makeChanges(page, server, `w-${kind}`);
    const note = `A note under ${kind}`;
    const garbling = GARBLING.includes(kind);
    await server.chaos({ corrupt: kind, corrupt_on: "writes", drip_ms: 10_000 });
    await writeChanges(page, cases, note);

    if (READABLE.has(kind)) {
      // A lenient reader takes the answer as it is.
      await drain(page, kind);
    } else {
      // The changes stay on screen, marked as not yet saved, and nothing is undone.
      await go(page, `/cases/${cases.edited.id}`);
      await page.getByRole("heading", { name: cases.edited.title, level: 1 }).waitFor();
      assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "resolved", `${kind}: the status stays`);
      await page.locator('.field-sync[data-sync="pending"]').first().waitFor();
      if (garbling) {
        // Committed on the server: only the answers were garbage.
        await eventually(`${kind}: the server holds every change`, async () => (await serverHolds(server, cases, note)).all(), 20_000);
      }
      await go(page, "/sync");
      await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
      // Tried, failed, told in words, kept.
      const error = page.getByTestId("pending-action").locator(".action-error");
      await error.first().waitFor({ timeout: 20_000 });
      assertPlain(await error.first().innerText(), `${kind}: the pending action's error`);
      assert.ok((await syncCount(page, "pending")) >= 1, `${kind}: changes are pending`);
      assert.equal(await syncCount(page, "dead"), 0, `${kind}: no dead letter`);
      if (kind === "unauthorized") {
        // The queue pauses for sign-in, and says so in words, on the page and in the alerts.
        await page.getByText(/asked to sign in again/i).first().waitFor();
        await page.getByRole("alert").filter({ hasText: /sign in again/i }).first().waitFor();
      }
      await screenshot(page, `hostile-write-${kind}`);
      await server.calm();
      if (RESTART.has(kind)) {
        // A 429's Retry-After, believed up to 10 minutes, holds every request of the tab;
        // "Sync now" does not override it. A reload starts afresh, nothing lost.
        await page.reload();
        await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
      }
      await drain(page, kind);
    }
    assert.equal(await syncCount(page, "dead"), 0, `${kind}: no dead letter`);
    await assertExactlyOnce(server, cases, note, kind);
  });
}

for (const kind of [...GARBLING, ...REFUSING]) {
  // slow_drip waits out the app's 15 s time limit twice: it starts first.
  CASES[kind === "slow_drip" ? "unshift" : "push"]([
    `writes (status, note, delete, create): ${kind}`,
    () => writeCase(kind),
  ]);
}

// A 412 without the server's case, to a change made while the server's copy moved on: the
// app looks the case up and merges. Made offline, so the app cannot hear of the other change.
CASES.push(["writes: precondition_without_current after changes elsewhere: looked up, merged or asked", async () => {
  await withServer("write-precondition-merge", async (server, open) => {
    const page = await open();
    const make = async (title) => {
      const id = uuid();
      await server.api("/cases", { method: "POST", body: JSON.stringify({ id, title }) });
      await go(page, `/cases/${id}`);
      await page.getByRole("heading", { name: title, level: 1 }).waitFor();
      return id;
    };
    await page.goto(server.url + "/sync");
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    const merged = await make("412 merge: other fields");
    const clashing = await make("412 merge: the same field");
    await page.context().setOffline(true);
    for (const id of [merged, clashing]) {
      await go(page, `/cases/${id}`);
      await page.getByLabel("Status", { exact: true }).selectOption("resolved");
    }
    const elsewhere = async (id, patch) => {
      const res = await server.api(`/cases/${id}`, { method: "PATCH", headers: { "If-Match": '"1"' }, body: JSON.stringify(patch) });
      assert.equal(res.status, 200);
    };
    await elsewhere(merged, { priority: "critical" });
    await elsewhere(clashing, { status: "closed" });
    await server.chaos({ corrupt: "precondition_without_current", corrupt_on: "writes" });
    await page.context().setOffline(false);

    // Another field changed elsewhere: both changes kept, nothing asked.
    await go(page, `/cases/${merged}`);
    await eventually("the other change shows beside mine", async () =>
      (await page.getByLabel("Priority", { exact: true }).inputValue()) === "critical", 20_000);
    assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "resolved");
    assert.equal(await page.getByRole("button", { name: "Keep mine" }).count(), 0);

    // The same field changed elsewhere: the person chooses, with both versions shown.
    await go(page, `/cases/${clashing}`);
    await page.getByRole("button", { name: "Keep mine" }).waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: "Use theirs" }).waitFor();
    await page.getByRole("button", { name: "Keep mine" }).click();
    assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "resolved");

    await server.calm();
    await drain(page, "412 merge");
    assert.equal(await syncCount(page, "dead"), 0);
    const a = (await server.api(`/cases/${merged}`)).body;
    assert.deepEqual([a.status, a.priority, a.version], ["resolved", "critical", 3], "both changes, each once");
    const b = (await server.api(`/cases/${clashing}`)).body;
    assert.deepEqual([b.status, b.version], ["resolved", 3], "mine kept, once");
  });
}]);

// ----- a slow answer -----

CASES.unshift(["reads: slow_drip keeps the page usable, the time limit ends it, and it loads once whole", async () => {
  await withServer("read-slow_drip", async (server, open) => {
    // One byte every 10 s: the app's 15 s time limit ends the request long before the end.
    await server.chaos({ corrupt: "slow_drip", corrupt_on: "reads", drip_ms: 10_000 });
    const page = await open();
    const aborted = [];
    page.on("requestfailed", (request) => {
      if (request.url().includes(`/api/v1/cases/${server.caseId}`)) aborted.push(Date.now());
    });
    await page.goto(`${server.url}/cases/${server.caseId}`);
    await page.getByRole("heading", { name: "Loading the case", level: 1 }).waitFor();
    // Usable meanwhile: another page (which cancels the request nobody waits for), and back.
    await page.getByRole("link", { name: "Sync", exact: true }).click();
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    aborted.length = 0;
    const started = Date.now();
    await go(page, `/cases/${server.caseId}`);
    await page.getByRole("heading", { name: "Loading the case", level: 1 }).waitFor();
    // The app gives up on the dripping answer by itself (its time limit), and tries again.
    await eventually("the app ended a dripping request", async () => aborted.length > 0, 25_000);
    assert.ok(aborted[0] - started >= 10_000, "not before the time limit");
    await server.calm();
    await page.getByRole("heading", { name: TARGET_TITLE, level: 1 }).waitFor({ timeout: 20_000 });
  });
}]);

// ----- the live-updates socket -----

async function socketCase(kind) {
  await withServer(`socket-${kind}`, async (server, open) => {
    const id = uuid();
    const title = `Live under ${kind}`;
    await server.api("/cases", { method: "POST", body: JSON.stringify({ id, title }) });
    const page = await open();
    await page.goto(`${server.url}/sync`);
    await page.getByTestId("health-live").filter({ hasText: /^Live$/ }).waitFor({ timeout: 20_000 });
    await go(page, `/cases/${id}`);
    await page.getByRole("heading", { name: title, level: 1 }).waitFor();
    await page.getByText("No notes yet.").waitFor();

    await server.chaos({ corrupt_socket: kind });
    // Changes made elsewhere still show, once each, through the garbage.
    const renamed = `${title}, renamed elsewhere`;
    const patched = await server.api(`/cases/${id}`, {
      method: "PATCH",
      headers: { "If-Match": '"1"' },
      body: JSON.stringify({ title: renamed, status: "in_progress" }),
    });
    assert.equal(patched.status, 200);
    await page.getByRole("heading", { name: renamed, level: 1 }).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "in_progress");
    for (const body of [`First note from elsewhere (${kind})`, `Second note from elsewhere (${kind})`]) {
      const added = await server.api(`/cases/${id}/notes`, { method: "POST", body: JSON.stringify({ id: uuid(), body }) });
      assert.equal(added.status, 201);
      await page.getByText(body, { exact: true }).waitFor({ timeout: 20_000 });
    }
    // By the time the second shows, the first's echoes have long been handled: nothing doubled.
    assert.equal(await page.locator("li.note").count(), 2, `${kind}: each note once`);
    await go(page, "/sync");
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    assert.equal(await page.getByTestId("health-live").innerText(), "Live", `${kind}: live updates stay live`);
    assert.equal(await syncCount(page, "pending"), 0);
  });
}

for (const kind of ["malformed", "duplicated"]) {
  CASES.push([`live socket: ${kind} messages`, () => socketCase(kind)]);
}

test("hostile answers: reads, writes and the live socket", { concurrency: POOL_SIZE }, async (t) => {
  const only = process.env.CASEDESK_HOSTILE_ONLY ? new RegExp(process.env.CASEDESK_HOSTILE_ONLY) : null;
  const picked = CASES.filter(([name]) => !only || only.test(name));
  await Promise.all(picked.map(([name, fn]) => t.test(name, fn)));
});

test("the panic detector sees a wasm panic's console line", async () => {
  // Without this the suite could pass because detection is broken, not because nothing panicked.
  const context = await signedInContext(browser, pool[0]);
  const page = await watchedPage(context);
  await page.goto(pool[0].url + "/sync");
  await page.evaluate(() => console.error("panicked at src/lib.rs:1:1:\nforced by the test"));
  await eventually("the panic is recorded", async () => page.panics.length === 1, 2_000);
  await context.close();
});
