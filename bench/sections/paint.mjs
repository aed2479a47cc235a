// Section (hook): time to first meaningful paint of the dashboard with data, cold (empty
// cache, nothing stored) and warm (the cache restored from IndexedDB), in headless Chromium.
import { notMeasured } from "../lib/format.mjs";

export const title = "First visit: time to the dashboard with data, cold and warm";

export async function run() {
  // To fill in: build with `trunk build --release --offline`, start the reference server with
  // e2e/lib/harness.mjs `startServer({ seedDemo: true })`, open it with `launchBrowser()`, and
  // time navigation start → the dashboard's counts visible (a data-testid on the rendered
  // numbers), once in a fresh context (cold) and once after a reload with IndexedDB kept (warm).
  return notMeasured(
    "the dashboard page does not show server data yet (pages, issue 6; the query glue it needs is in)",
  );
}
