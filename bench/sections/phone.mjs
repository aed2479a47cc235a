// Section: the dashboard on a phone. Headless Chromium slowed down through the DevTools
// protocol (CDP) to a mid-range phone on slow 4G: the CPU 4× slower, 150 ms round trip,
// 1.6 Mbit/s down, 750 kbit/s up. People on, signed in as Dana (the session in IndexedDB, as
// deployed). From navigation start to the first frame at which the dashboard's "Open" count
// shows a number, cold (a context that holds only the session: no app files, no service
// worker, no cached data, as after a deploy) and warm (same context: cache in IndexedDB,
// shell from the service worker). The release build as it is, and the same build without the
// early data fetch of index.html (a copy of dist/ with that script removed), so the table
// shows what overlapping the data request with the wasm download is worth.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  distDir, eventually, launchBrowser, sessionOnlyContext, signedInContext, startServer, watchedPage,
} from "../../e2e/lib/harness.mjs";
import { table } from "../lib/format.mjs";
import { ensureAppAndServer, median, ms, shellAndDataStored } from "../lib/app.mjs";

export const title = "On a phone: the dashboard with data on slow 4G and a 4× slower CPU";

// Lighthouse's "slow 4G" figures as issue 15 states them, and its mid-range phone CPU.
const PROFILE = { latencyMs: 150, downKbit: 1600, upKbit: 750, cpuSlowdown: 4 };
const METRICS_PATH = "/api/v1/dashboard/metrics";
// The marker index.html puts around its early-fetch script, so the bench can drop it.
const EARLY_FETCH = /<script data-early-fetch>[\s\S]*?<\/script>\s*/;

/** A new page of `context`, throttled to the phone profile before it navigates. */
async function phonePage(context) {
  const page = await watchedPage(context);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: PROFILE.latencyMs,
    downloadThroughput: (PROFILE.downKbit * 1000) / 8,
    uploadThroughput: (PROFILE.upKbit * 1000) / 8,
  });
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: PROFILE.cpuSlowdown });
  return page;
}

/** Runs in the page before its scripts: the "Open" card's text when it first appears. */
function watchFirstCard() {
  new MutationObserver((_, observer) => {
    const card = document.querySelector('[data-testid="metric-open"]');
    if (card) {
      window.__firstCard = card.textContent;
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
}

/**
 * One visit: ms to the dashboard with data, whether the "Open" card had its number when it
 * first appeared, first contentful paint, when the wasm arrived and when the metrics request
 * started. `prime`: the page stays until the shell and the numbers are stored, for the warm
 * visits after it.
 */
async function visit(context, url, { prime = false } = {}) {
  const page = await phonePage(context);
  await page.addInitScript(watchFirstCard);
  await page.goto(url, { waitUntil: "commit" });
  const handle = await page.waitForFunction(
    () => {
      const card = document.querySelector('[data-testid="metric-open"]');
      return card && /\d/.test(card.textContent) ? performance.now() : false;
    },
    null,
    { polling: "raf", timeout: 120_000 },
  );
  const at = await handle.jsonValue();
  const timing = await page.evaluate((metricsPath) => {
    const entries = performance.getEntriesByType("resource");
    const wasm = entries.find((e) => e.name.endsWith(".wasm"));
    const metrics = entries.find((e) => new URL(e.name).pathname === metricsPath);
    const config = entries.find((e) => new URL(e.name).pathname === "/config.json");
    return {
      configEnd: config ? config.responseEnd : null,
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
      wasmEnd: wasm ? wasm.responseEnd : null,
      metricsStart: metrics ? metrics.startTime : null,
    };
  }, METRICS_PATH);
  const firstCard = await page.evaluate(() => window.__firstCard ?? "");
  if (page.panics.length) throw new Error(`the app panicked: ${page.panics[0]}`);
  if (prime) await eventually("the shell and the numbers are stored", () => shellAndDataStored(page), 60_000);
  await page.close();
  return { at, withData: /\d/.test(firstCard), ...timing };
}

/** `visits` cold visits (a fresh signed-in context each), then `visits` warm ones in one context. */
async function measure(browser, server, visits) {
  const url = `${server.url}/`;
  const cold = [];
  for (let i = 0; i < visits; i++) {
    const context = await sessionOnlyContext(browser, server);
    cold.push(await visit(context, url));
    await context.close();
  }
  const context = await signedInContext(browser, server);
  const warm = [];
  try {
    // The warm visits need the service worker installed and the numbers in IndexedDB.
    await visit(context, url, { prime: true });
    for (let i = 0; i < visits; i++) warm.push(await visit(context, url));
  } finally {
    await context.close();
  }
  return { cold, warm };
}

/** A copy of dist/ whose index.html has no early-fetch script; null when it has none. */
function distWithoutEarlyFetch() {
  const html = readFileSync(join(distDir, "index.html"), "utf8");
  if (!EARLY_FETCH.test(html)) return null;
  const dir = mkdtempSync(join(tmpdir(), "casedesk-bench-dist-"));
  cpSync(distDir, dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), html.replace(EARLY_FETCH, ""));
  return dir;
}

export async function run(ctx) {
  ensureAppAndServer(ctx);
  const visits = ctx.quick ? 5 : 7;
  const variants = [["as built", distDir]];
  const plain = distWithoutEarlyFetch();
  if (plain) variants.push(["without the early fetch", plain]);
  const rows = [];
  const browser = await launchBrowser();
  try {
    for (const [name, staticDir] of variants) {
      const server = await startServer({ seedDemo: true, staticDir });
      try {
        ctx.log(`phone: ${name}, ${visits} cold and ${visits} warm visits`);
        const { cold, warm } = await measure(browser, server, visits);
        for (const [kind, list] of [["cold", cold], ["warm", warm]]) {
          const pick = (field) => list.map((v) => v[field]).filter((v) => v !== null);
          const at = pick("at");
          const show = (values) => (values.length ? ms(median(values)) : "–");
          rows.push([
            `${kind}, ${name}`,
            `**${ms(median(at))}**`,
            `${ms(Math.min(...at))} – ${ms(Math.max(...at))}`,
            `${list.filter((v) => v.withData).length} of ${list.length}`,
            show(pick("fcp")),
            show(pick("wasmEnd")),
            show(pick("metricsStart")),
            show(pick("configEnd")),
          ]);
          console.log(`phone ${kind}, ${name}: ${ms(median(at))}`);
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await browser.close();
    if (plain) rmSync(plain, { recursive: true, force: true });
  }
  return `Headless Chromium throttled through the DevTools protocol to a phone on slow 4G: CPU
${PROFILE.cpuSlowdown}× slower (\`Emulation.setCPUThrottlingRate\`), ${PROFILE.latencyMs} ms round trip, ${PROFILE.downKbit / 1000} Mbit/s down and
${PROFILE.upKbit} kbit/s up (\`Network.emulateNetworkConditions\`, per page). The release build served by the
reference server (debug build, demo data, people on, compressing its answers) on loopback, signed in
as Dana. From navigation start to the first frame at which the dashboard's "Open" count shows a number;
${visits} visits of each kind, median (bold) and range, and the medians of the first contentful paint,
of when the wasm finished downloading, when the metrics request started and when the app's read of
\`config.json\` (its API origins, which its first request waits for) was answered (resource timing;
on a warm visit the shell comes from the service worker and the data first from IndexedDB).
"First frame had the numbers": the "Open" card held its number when it first appeared (a
MutationObserver installed before the page's scripts), so no placeholder was painted first.
Cold: a fresh browser context each visit that holds only the session (signed in unthrottled, then
the service worker, the caches, the HTTP cache and the cached data removed: a visit after a
deploy). Warm: one context, after a first visit that stayed until the service worker was
active and the numbers were stored in IndexedDB.
${plain ? `"Without the early fetch": the same build from a copy of \`dist/\` whose \`index.html\` lacks the
script that starts the dashboard's request and \`config.json\`'s before the wasm arrives.` : `This build has no early fetch in \`index.html\`, so there is no "without" row.`}

${table(["visit", "dashboard with data", "range", "first frame of the dashboard had the numbers", "first contentful paint", "wasm downloaded", "metrics request started", "config.json answered"], rows)}`;
}
