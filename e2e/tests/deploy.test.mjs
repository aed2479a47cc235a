// The offline app is always the app: what the service worker keeps as the shell is
// only ever a page of the build it installed, whatever the network answers, and a new deploy
// takes over open tabs without losing or doubling what they had queued.
//
// Each test serves its own copy of the built app, so it can change what the "network" answers
// (a captive portal's page, a new deploy) by rewriting files in that copy: the server reads
// them from disk on every request.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, request as forward } from "node:http";
import { join } from "node:path";
import { startServer, launchBrowser, watchedPage, screenshot, eventually, distDir, signedInContext } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A copy of the built app in a folder of its own (build "A"). */
function copyOfBuild() {
  const dir = mkdtempSync(join(tmpdir(), "casedesk-site-"));
  cpSync(distDir, dir, { recursive: true });
  return dir;
}

/**
 * Turns the build in `dir` into a new deploy ("B"), as a deploy would: the new hashed files
 * are written first, then `index.html` pointing at them, then the old files are removed.
 * Every hash gets a new value, so B shares no hashed name with A. Returns B's hashed names.
 */
function deployNewBuild(dir) {
  const hashed = /^(.*-)([0-9a-f]{8,})((?:_bg)?\.[a-z0-9]+)$/i;
  const renamed = new Map(); // old hash -> new hash
  for (const name of readdirSync(dir)) {
    const m = name.match(hashed);
    if (m && !renamed.has(m[2])) {
      renamed.set(m[2], [...m[2]].map((c) => ((parseInt(c, 16) + 1) % 16).toString(16)).join(""));
    }
  }
  assert.ok(renamed.size > 0, "the build has hashed files");
  const rewrite = (text) => {
    for (const [from, to] of renamed) text = text.split(from).join(to);
    return text;
  };
  const olds = readdirSync(dir).filter((name) => hashed.test(name));
  const news = [];
  for (const name of olds) {
    const target = rewrite(name);
    if (/\.(js|css|html|json|svg)$/i.test(name)) {
      writeFileSync(join(dir, target), rewrite(readFileSync(join(dir, name), "utf8")));
    } else {
      copyFileSync(join(dir, name), join(dir, target));
    }
    news.push(target);
  }
  writeFileSync(join(dir, "index.html"), rewrite(readFileSync(join(dir, "index.html"), "utf8")));
  for (const name of olds) rmSync(join(dir, name));
  return news;
}

/** The hashed files the page's document names (what build it runs). */
async function buildFiles(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("link[href], script[src]")]
      .map((e) => e.getAttribute("href") ?? e.getAttribute("src"))
      .filter((url) => /-[0-9a-f]{8,}(_bg)?\.[a-z0-9]+$/i.test(url))
      .map((url) => url.split("/").pop()),
  );
}

/** Asserts `page` runs the build whose hashed files are `files`, not the one of `old`. */
async function assertRuns(page, files, old) {
  const running = await buildFiles(page);
  assert.ok(running.length > 0, "the page names hashed build files");
  for (const name of running) {
    assert.ok(files.includes(name) && !old.includes(name), `${name} is a file of the new build`);
  }
}

async function controlled(page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
  return page.evaluate(() => navigator.serviceWorker.controller.scriptURL);
}

/** Creates each case through the form and adds a note to it (offline: all queued). */
async function queueCasesWithNotes(page, titles) {
  for (const title of titles) {
    await page.getByRole("navigation").getByRole("link", { name: "Cases", exact: true }).click();
    await page.getByRole("link", { name: "New case" }).click();
    await page.getByLabel("Title").fill(title);
    await page.getByRole("button", { name: "Create case" }).click();
    await page.getByRole("heading", { name: title, level: 1 }).waitFor();
    await page.getByLabel("Note", { exact: true }).fill(`note on ${title}`);
    await page.getByRole("button", { name: "Add note" }).click();
    await page.getByText(`note on ${title}`, { exact: true }).waitFor();
  }
}

/** The server holds each case once, each with its one note. */
async function assertServerHoldsOnce(server, tag, titles) {
  const list = await server.api(`/cases?q=${tag}&per_page=200`);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.items.map((c) => c.title).sort(), [...titles].sort());
  for (const item of list.body.items) {
    const notes = await server.api(`/cases/${item.id}/notes`);
    assert.deepEqual(notes.body.map((n) => n.body), [`note on ${item.title}`]);
  }
}

const PORTAL = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Airport Wi-Fi</title>
<link rel="stylesheet" href="/portal.css"></head>
<body><h1>Sign in to Airport Wi-Fi</h1><p>Accept the terms to get online.</p>
<form action="/accept" method="post"><button>Accept</button></form></body></html>`;

test("a captive portal's page is shown while online but never becomes the app that opens offline", async () => {
  const site = copyOfBuild();
  const own = await startServer({ staticDir: site });
  const context = await signedInContext(browser, own);
  try {
    const page = await watchedPage(context);
    await page.goto(own.url + "/");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await controlled(page);

    // The network now answers every page with a portal's sign-in page: 200, text/html.
    writeFileSync(join(site, "index.html"), PORTAL);
    await page.goto(own.url + "/cases");
    // Shown as it is: signing in to the portal is how the person gets online.
    await page.getByRole("heading", { name: "Sign in to Airport Wi-Fi", level: 1 }).waitFor();

    // Then no network at all: the app, not the portal, opens.
    await context.setOffline(true);
    await own.stop();
    await page.goto(own.url + "/cases");
    await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "false");
    await screenshot(page, "deploy-offline-after-portal");
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await own.stop();
    rmSync(site, { recursive: true, force: true });
  }
});

/**
 * A reverse proxy in front of `target` (a server URL), as a deployment has one. While
 * `proxy.failing` is set it answers every page (not the API) itself with a 502 error page,
 * as a proxy does when the app's server is down.
 */
async function startProxy() {
  // The upstream is set once the server behind it runs (it is started knowing the proxy's
  // address, which it must accept as a host and origin of its own).
  const proxy = { failing: false, upstream: null };
  const server = createServer((req, res) => {
    if (proxy.failing && !req.url.startsWith("/api/")) {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>");
      return;
    }
    const out = forward(
      { host: proxy.upstream.hostname, port: proxy.upstream.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${server.address().port}`;
  proxy.stop = () =>
    new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    });
  return proxy;
}

test("a proxy's 502 page opens the app the worker keeps instead", async () => {
  const proxy = await startProxy();
  const own = await startServer({ args: ["--cors-origin", proxy.url] });
  proxy.upstream = new URL(own.url);
  const context = await signedInContext(browser, proxy);
  try {
    const page = await watchedPage(context);
    await page.goto(proxy.url + "/");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await controlled(page);

    proxy.failing = true;
    await page.goto(proxy.url + "/cases");
    await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByText("502 Bad Gateway").count(), 0);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await proxy.stop();
    await own.stop();
  }
});

test("a deploy while actions are queued: the old tab moves to the new build mid-drain and every action lands once", { timeout: 120_000 }, async () => {
  const site = copyOfBuild();
  const own = await startServer({ staticDir: site });
  const context = await signedInContext(browser, own, { viewport: { width: 1280, height: 800 } });
  const tag = `deploy${Date.now().toString(36)}`;
  try {
    const page = await watchedPage(context);
    await page.goto(own.url + "/cases");
    await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
    const workerA = await controlled(page);
    const filesA = await buildFiles(page);
    // A second tab of the same person, on the Sync page.
    const other = await watchedPage(context);
    await other.goto(own.url + "/sync");
    await other.getByRole("heading", { name: "Sync", level: 1 }).waitFor();

    // Offline, the person creates three cases and adds a note to each: six queued actions.
    await context.setOffline(true);
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "false");
    const titles = [1, 2, 3].map((n) => `${tag} case ${n}`);
    await queueCasesWithNotes(page, titles);
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.pending === "6");

    // Meanwhile build B is deployed. The server is slow to write, so the drain that starts
    // when the network is back is still running when the tabs move to B. Only writes: slow
    // reads of both tabs would hold all six connections the browser opens to the site, and a
    // page load waiting behind them past the worker's 3 s opens the cached app (A) instead,
    // as it should on a network that slow.
    const filesB = deployNewBuild(site);
    await own.chaos({ latency_ms: [9000, 9000], latency_on: "writes" });
    await context.setOffline(false);

    // The other tab is reloaded: it opens B, whose worker takes over both tabs (the first
    // tab, back online, also asks for it).
    await other.reload();
    await other.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    await assertRuns(other, filesB, filesA);
    await page.waitForFunction((a) => navigator.serviceWorker.controller?.scriptURL !== a, workerA, { timeout: 20_000 });

    // The first tab still runs A and is still draining; the person's next change of page
    // loads B there too.
    const pendingAtMove = Number(await page.getByTestId("sync-status").getAttribute("data-pending"));
    assert.ok(pendingAtMove > 0, `the drain is still running when the tab moves (pending ${pendingAtMove})`);
    const reloaded = page.waitForEvent("load");
    await page.getByRole("navigation").getByRole("link", { name: "Sync", exact: true }).click();
    await reloaded;
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/sync");
    await assertRuns(page, filesB, filesA);

    await own.calm();
    for (const tab of [page, other]) {
      await tab.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.pending === "0", null, { timeout: 60_000 });
    }

    await assertServerHoldsOnce(own, tag, titles);

    // And B is what opens with no network at all.
    await context.setOffline(true);
    await own.stop();
    await page.reload();
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor({ timeout: 10_000 });
    await assertRuns(page, filesB, filesA);
    await screenshot(page, "deploy-new-build-offline");
    assert.deepEqual(page.panics, []);
    assert.deepEqual(other.panics, []);
  } finally {
    await context.close();
    await own.stop();
    rmSync(site, { recursive: true, force: true });
  }
});

test("a lone tab finds a deploy when the network comes back and moves to it at the next page change", { timeout: 120_000 }, async () => {
  const site = copyOfBuild();
  const own = await startServer({ staticDir: site });
  const context = await signedInContext(browser, own, { viewport: { width: 1280, height: 800 } });
  const tag = `lone${Date.now().toString(36)}`;
  try {
    const page = await watchedPage(context);
    await page.goto(own.url + "/cases");
    await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
    const workerA = await controlled(page);
    const filesA = await buildFiles(page);

    await context.setOffline(true);
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.online === "false");
    const titles = [1, 2].map((n) => `${tag} case ${n}`);
    await queueCasesWithNotes(page, titles);
    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.pending === "4");

    // B is deployed while the tab is offline; nobody opens it anywhere else.
    const filesB = deployNewBuild(site);
    await context.setOffline(false);
    // Back online, the tab sees that the server serves another build: B's worker installs
    // and takes over, and the tab moves to B when the person opens another page.
    await page.waitForFunction((a) => navigator.serviceWorker.controller?.scriptURL !== a, workerA, { timeout: 20_000 });
    const reloaded = page.waitForEvent("load");
    await page.getByRole("navigation").getByRole("link", { name: "Sync", exact: true }).click();
    await reloaded;
    await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
    await assertRuns(page, filesB, filesA);

    await page.waitForFunction(() => document.querySelector("[data-testid=sync-status]")?.dataset.pending === "0", null, { timeout: 60_000 });
    await assertServerHoldsOnce(own, tag, titles);
    assert.deepEqual(page.panics, []);
  } finally {
    await context.close();
    await own.stop();
    rmSync(site, { recursive: true, force: true });
  }
});
