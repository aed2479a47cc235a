// Section (hook): the durable action queue: actions durably enqueued per second (IndexedDB,
// one transaction each) and the drain rate of 1,000 actions against the local server, with and
// without chaos.
import { notMeasured } from "../lib/format.mjs";

export const title = "The action queue: enqueue and drain rates";

export async function run() {
  // To fill in: in the built app (or a wasm bench page like bench/cache/), enqueue N actions and
  // time until each write's transaction completes; then let the worker drain 1,000 actions
  // against e2e/lib/harness.mjs `startServer()`, once calm and once with `server.chaos({...})`
  // (failures and dropped answers), and report actions per second and that none was lost.
  return notMeasured("the durable queue and its worker are not in the app yet (issue 5)");
}
