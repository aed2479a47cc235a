// A warm start paints from the device: a signed-in person who opened the dashboard
// before reopens it, and its first frame already holds the cached numbers — no skeleton, no
// "Loading…", not even for an instant. A MutationObserver installed before any of the page's
// scripts run records every element, text and busy flag the app ever puts in the document.
// A cold start (nothing cached) still paints its placeholders and then the server's numbers,
// which also shows the observer does see placeholders when there are some; numbers fetched
// just before the page was closed are kept (written when the page is hidden); and a store
// that cannot be read does not hold the page: it mounts and asks the server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launchBrowser, watchedPage, signedInContext, eventually, uuid, DEMO_PEOPLE,
} from "../lib/harness.mjs";

const CACHE_DB = `casedesk-${DEMO_PEOPLE.dana.id}-cache`;

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  for (const title of ["Warm one", "Warm two", "Warm three"]) {
    const made = await server.api("/cases", {
      method: "POST",
      body: JSON.stringify({ id: uuid(), title, priority: "low", assignee: DEMO_PEOPLE.dana.id }),
    });
    assert.equal(made.status, 201);
  }
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Runs in the page before anything else: records each placeholder the app ever adds (a
 * skeleton, an `aria-busy="true"`, a "Loading" text), and the "Open" card's text the first
 * time the card exists.
 */
function watchPlaceholders() {
  const seen = { placeholders: [], firstOpenText: null };
  window.__placeholders = seen;
  const PLACEHOLDER = '.skeleton, [aria-busy="true"]';
  const note = (what) => seen.placeholders.push(what.slice(0, 160));
  const look = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      if (/Loading/.test(node.data)) note(`text "${node.data}"`);
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      const found = node.matches(PLACEHOLDER) ? node : node.querySelector(PLACEHOLDER);
      if (found) note(found.outerHTML);
      if (/Loading/.test(node.textContent)) note(`text in ${node.outerHTML}`);
    }
  };
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "childList") record.addedNodes.forEach(look);
      else if (record.type === "characterData") look(record.target);
      else if (record.target.matches(PLACEHOLDER)) note(record.target.outerHTML);
    }
    const open = document.querySelector('[data-testid="metric-open"]');
    if (open && seen.firstOpenText === null) seen.firstOpenText = open.textContent;
  }).observe(document, {
    childList: true,
    subtree: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["class", "aria-busy"],
  });
}

/** The keys stored in the person's cache database (their stored JSON form). */
async function storedKeys(page) {
  return page.evaluate(
    (name) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open(name);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const read = db.transaction("entries").objectStore("entries").getAllKeys();
          read.onsuccess = () => {
            db.close();
            resolve(read.result);
          };
          read.onerror = () => reject(read.error);
        };
      }),
    CACHE_DB,
  );
}

/** The dashboard's "Open" and "My open cases" numbers, once both show one. */
async function dashboardNumbers(page) {
  const open = page.getByTestId("metric-open").filter({ hasText: /\d/ });
  const mine = page.getByTestId("metric-my-open").filter({ hasText: /\d/ });
  await open.waitFor();
  await mine.waitFor();
  return { open: await open.textContent(), mine: await mine.textContent() };
}

test("a warm start's first frame of the dashboard holds the cached numbers, with no placeholder before", async () => {
  const context = await signedInContext(browser, server);
  try {
    // A first visit caches the dashboard's answers (written within a second).
    const first = await watchedPage(context);
    await first.goto(server.url + "/");
    const numbers = await dashboardNumbers(first);
    assert.match(numbers.open, /3/);
    await eventually("the dashboard's answers are stored on the device", async () => {
      const keys = await storedKeys(first);
      return keys.includes('"metrics"') && keys.some((k) => k.includes("case_list"));
    });
    await first.close();

    const page = await watchedPage(context);
    await page.addInitScript(watchPlaceholders);
    await page.goto(server.url + "/");
    const warm = await dashboardNumbers(page);
    assert.match(warm.open, /3/);
    const seen = await page.evaluate(() => window.__placeholders);
    assert.deepEqual(seen.placeholders, [], "a placeholder was shown on a warm start");
    assert.match(seen.firstOpenText ?? "", /3/, `the "Open" card first read ${JSON.stringify(seen.firstOpenText)}`);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
  }
});

test("numbers that arrived just before the page was closed are painted first at the next start", async () => {
  const context = await signedInContext(browser, server);
  try {
    // Closed as soon as the numbers show: the cache's throttled write has not come due, so
    // only the write made when the page is hidden can have kept them.
    const first = await watchedPage(context);
    await first.goto(server.url + "/");
    await dashboardNumbers(first);
    await first.close();

    const page = await watchedPage(context);
    await page.addInitScript(watchPlaceholders);
    await page.goto(server.url + "/");
    await dashboardNumbers(page);
    const seen = await page.evaluate(() => window.__placeholders);
    assert.deepEqual(seen.placeholders, [], "a placeholder was shown: nothing was kept");
    assert.match(seen.firstOpenText ?? "", /3/);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
  }
});

test("a cold start, with nothing cached, shows placeholders and then the server's numbers", async () => {
  const context = await signedInContext(browser, server);
  try {
    // Signing in showed the dashboard and cached it: that cache goes (no page has it open).
    const blank = await context.newPage();
    await blank.goto(server.url + "/health");
    await blank.evaluate(
      (name) =>
        new Promise((resolve, reject) => {
          const del = indexedDB.deleteDatabase(name);
          del.onsuccess = resolve;
          del.onerror = () => reject(del.error);
          del.onblocked = () => reject(new Error(`${name} is still open somewhere`));
        }),
      CACHE_DB,
    );
    await blank.close();

    const page = await watchedPage(context);
    await page.addInitScript(watchPlaceholders);
    await page.goto(server.url + "/");
    const cold = await dashboardNumbers(page);
    assert.match(cold.open, /3/);
    const seen = await page.evaluate(() => window.__placeholders);
    assert.ok(seen.placeholders.length > 0, "a cold start showed no placeholder: is the observer blind?");
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
  }
});

test("a stored cache that cannot be read does not hold the page: it mounts and shows the server's numbers", async () => {
  const context = await signedInContext(browser, server);
  try {
    // Another page of the origin keeps a write transaction open on the cache's store, so the
    // app's read of it waits for as long as this holds.
    const holder = await context.newPage();
    await holder.goto(server.url + "/health");
    await holder.evaluate(
      (name) =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open(name);
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction("entries", "readwrite");
            const store = tx.objectStore("entries");
            window.__hold = true;
            const spin = () => {
              if (window.__hold) store.count().onsuccess = spin;
            };
            spin();
            window.__released = new Promise((done) => (tx.oncomplete = done));
            resolve();
          };
        }),
      CACHE_DB,
    );

    const page = await watchedPage(context);
    await page.goto(server.url + "/");
    const numbers = await dashboardNumbers(page);
    assert.match(numbers.open, /3/);
    assert.equal(await holder.evaluate(() => window.__hold), true, "the store was held throughout");
    await holder.evaluate(() => {
      window.__hold = false;
      return window.__released;
    });
    await holder.close();
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
  }
});

test("a case created right after a warm start is counted on the dashboard: the page load's older answer never replaces the numbers", async (t) => {
  // A server of its own: this test changes the numbers the others count on.
  const own = await startServer();
  const context = await signedInContext(browser, own);
  try {
    const first = await watchedPage(context);
    await first.goto(own.url + "/");
    await first.getByTestId("metric-open").filter({ hasText: "0" }).waitFor();
    await eventually("the dashboard's answers are stored on the device", async () =>
      (await storedKeys(first)).includes('"metrics"'));
    await first.close();

    // A warm start: the numbers come from the device, fresh enough not to be asked for, while
    // index.html's early request for them (made on every visit to /) is answered unused. The
    // live socket is kept from connecting: its first open revalidates what is on screen
    // (src/query/live.rs), which would take the early answer off the table before the
    // person could act, as it does whenever the socket opens while the dashboard shows.
    const page = await watchedPage(context);
    await page.routeWebSocket(/\/api\/v1\/events/, (socket) => socket.close());
    const asked = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname === "/api/v1/dashboard/metrics") asked.push(request);
    });
    await page.goto(own.url + "/");
    await page.getByTestId("metric-open").filter({ hasText: "0" }).waitFor();
    await page.getByRole("link", { name: "Cases", exact: true }).click();
    await page.getByRole("link", { name: "New case" }).click();
    await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
    // On a slow machine the restore can outlast the start gate, and the app then revalidates
    // the numbers itself (which drops the early answer): the change below is still checked,
    // but the case this test is for did not arise.
    if (asked.length !== 1) {
      t.diagnostic(`the app asked for the numbers itself (${asked.length} requests): the early answer was dropped before the change`);
    }

    await page.getByLabel("Title").fill("Counted after a warm start");
    await page.getByRole("button", { name: "Create case" }).click();
    await page.getByRole("heading", { name: "Counted after a warm start", level: 1 }).waitFor();
    await eventually("the creation is saved", async () =>
      (await page.getByTestId("sync-status").getAttribute("data-pending")) === "0");

    // Back on the dashboard within the early answer's 15 s: the count has the new case.
    await page.getByRole("link", { name: "Dashboard", exact: true }).click();
    await eventually("the open count includes the new case", async () =>
      (await page.getByTestId("metric-open").textContent()).includes("1"));
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await own.stop();
  }
});
