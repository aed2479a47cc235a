// The offline app is always the app (issue 11): what the service worker keeps as the shell is
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
import { join } from "node:path";
import { startServer, launchBrowser, watchedPage, screenshot, eventually, distDir } from "../lib/harness.mjs";

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

const PORTAL = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Airport Wi-Fi</title>
<link rel="stylesheet" href="/portal.css"></head>
<body><h1>Sign in to Airport Wi-Fi</h1><p>Accept the terms to get online.</p>
<form action="/accept" method="post"><button>Accept</button></form></body></html>`;

test("a captive portal's page is shown while online but never becomes the app that opens offline", async () => {
  const site = copyOfBuild();
  const own = await startServer({ staticDir: site });
  const context = await browser.newContext();
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
