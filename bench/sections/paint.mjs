// Section: time to first meaningful paint of the dashboard with data, in headless Chromium,
// against the reference server with its demo data. Measured in the page: from navigation
// start (performance.now()'s origin) to the first animation frame at which the "Open" count
// shows a number. Cold: a fresh browser context each time (no IndexedDB, no HTTP or service
// worker cache). Warm: the same context after a first visit, so the cache is restored from
// IndexedDB and the app shell may come from the service worker.
import { eventually, launchBrowser, startServer, watchedPage } from "../../e2e/lib/harness.mjs";
import { table } from "../lib/format.mjs";
import { ensureAppAndServer, median, ms, shellAndDataStored } from "../lib/app.mjs";

export const title = "First visit: time to the dashboard with data, cold and warm";

const VISITS = 7;

async function paintOnce(context, url, { prime = false } = {}) {
  const page = await watchedPage(context);
  await page.goto(url, { waitUntil: "commit" });
  const handle = await page.waitForFunction(
    () => {
      const card = document.querySelector('[data-testid="metric-open"]');
      return card && /\d/.test(card.textContent) ? performance.now() : false;
    },
    null,
    { polling: "raf", timeout: 30_000 },
  );
  const at = await handle.jsonValue();
  const fcp = await page.evaluate(
    () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
  );
  if (page.panics.length) throw new Error(`the app panicked: ${page.panics[0]}`);
  // Closed at once, the page would leave nothing stored for the warm visits to start from.
  if (prime) await eventually("the shell and the numbers are stored", () => shellAndDataStored(page), 30_000);
  await page.close();
  return { at, fcp };
}

export async function run(ctx) {
  ensureAppAndServer(ctx);
  // Without people: this measures painting, not signing in (its pages never sign in).
  const server = await startServer({ seedDemo: true, people: false });
  const browser = await launchBrowser();
  const cold = [];
  const warm = [];
  try {
    const url = `${server.url}/`;
    for (let i = 0; i < VISITS; i++) {
      const context = await browser.newContext();
      cold.push(await paintOnce(context, url));
      await context.close();
    }
    const context = await browser.newContext();
    await paintOnce(context, url, { prime: true });
    for (let i = 0; i < VISITS; i++) warm.push(await paintOnce(context, url));
    await context.close();
  } finally {
    await browser.close();
    await server.stop();
  }
  const row = (name, visits) => {
    const at = visits.map((v) => v.at);
    const fcp = visits.map((v) => v.fcp).filter((v) => v !== null);
    return [name, ms(median(at)), `${ms(Math.min(...at))} – ${ms(Math.max(...at))}`, fcp.length ? ms(median(fcp)) : "–"];
  };
  const rows = [row("cold (fresh context)", cold), row("warm (cache in IndexedDB)", warm)];
  for (const r of rows) console.log(`dashboard with data, ${r[0]}: ${r[1]}`);
  return `Headless Chromium on this machine, the release build served by the reference server (debug
build, demo data) on loopback, so no network latency: from navigation start to the first frame
at which the dashboard's "Open" count shows a number; ${VISITS} visits each, median and range.

${table(["visit", "dashboard with data (median)", "range", "first contentful paint (median)"], rows)}`;
}
