// Section: live updates: a case open in two browser contexts; its status is changed in one
// (through the UI, so through the queue and the server) and timed until the other shows it
// (the server's change event over the WebSocket, the cache's invalidation and refetch, the
// render). Timed from Node around the two pages, so a few ms of driver overhead are included.
import { launchBrowser, startServer, uuid, watchedPage } from "../../e2e/lib/harness.mjs";
import { table } from "../lib/format.mjs";
import { ensureAppAndServer, median, ms } from "../lib/app.mjs";

export const title = "Live updates: from a change in one page to its display in another";

const CHANGES = 21;

/** The value below which `p` of the sorted `values` lie (nearest rank). */
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

const statusShown = (page, status) =>
  page.waitForFunction(
    (wanted) =>
      [...document.querySelectorAll("select")].some(
        (s) => s.labels?.[0]?.textContent.trim() === "Status" && s.value === wanted,
      ),
    status,
    { polling: "raf", timeout: 10_000 },
  );

export async function run(ctx) {
  ensureAppAndServer(ctx);
  // Without people: this measures the live path, not signing in (its pages never sign in).
  const server = await startServer({ seedDemo: false, people: false });
  const browser = await launchBrowser();
  const times = [];
  const changes = ctx.quick ? 7 : CHANGES;
  try {
    const id = uuid();
    await server.api("/cases", {
      method: "POST",
      body: JSON.stringify({ id, title: "Live update benchmark", priority: "medium" }),
    });
    const open = async () => {
      const context = await browser.newContext();
      const page = await watchedPage(context);
      await page.goto(`${server.url}/cases/${id}`);
      await page.getByRole("heading", { name: "Live update benchmark", level: 1 }).waitFor();
      return page;
    };
    const a = await open();
    const b = await open();
    await new Promise((r) => setTimeout(r, 1_000)); // both sockets connected
    for (let i = 0; i < changes; i++) {
      const status = i % 2 === 0 ? "resolved" : "in_progress";
      const t0 = performance.now();
      await a.getByLabel("Status").selectOption(status);
      await statusShown(b, status);
      times.push(performance.now() - t0);
      // The next change starts from the confirmed version.
      await a.waitForFunction(
        () => document.querySelector('[data-testid="sync-status"]')?.getAttribute("data-pending") === "0",
        null,
        { timeout: 10_000 },
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const page of [a, b]) if (page.panics.length) throw new Error(`the app panicked: ${page.panics[0]}`);
  } finally {
    await browser.close();
    await server.stop();
  }
  console.log(`live update: median ${ms(median(times))}`);
  const sorted = [...times].sort((x, y) => x - y);
  return `Two browser contexts show the same case; the status is changed in one through its select and
timed until the other's select shows it: the action through the queue to the server (debug
build, loopback), the change event over the WebSocket, the invalidation, the refetch and the
render. ${changes} changes, one at a time (each after the previous one is confirmed and 200 ms
of quiet, so each is the first event of its burst). The first change event of a burst is applied at once; later ones
are gathered for \`LiveCoalescer::DEFAULT_WINDOW\` (200 ms today) and applied together, so a
burst costs one refetch per window.

${table(
  ["", "fastest", "10th percentile", "median", "90th percentile", "slowest"],
  [["change in one page → shown in the other", ...[0, 0.1, 0.5, 0.9, 1].map((p) => ms(p === 0 ? sorted[0] : percentile(sorted, p)))]],
)}

Every change, fastest first: ${sorted.map((t) => t.toFixed(0)).join(", ")} ms.`;
}
