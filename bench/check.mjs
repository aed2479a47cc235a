// The TanStack side by side as a check, for scripts/test: casedesk's query cache and overlay
// (bench/cache-wasm, a debug wasm build) and @tanstack/query-core, each filled with the same
// small caches in one page of headless Chromium, do the benchmark's operations once (read
// every key back, invalidate every list page, show a list page and the metrics with 100
// pending actions), and every result must be the same on both sides. It checks that the
// comparison still builds, runs and compares like with like; it times nothing (the benchmark
// is scripts/bench).
//
// Usage: node bench/check.mjs   (after scripts/setup installed bench/node_modules)
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { check } from "./sections/cache.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const log = (msg) => console.error(`side by side: ${msg}`);
try {
  const results = await check({ root, log });
  for (const r of results) {
    log(`${r.entries} entries (${r.listPages} list pages): every key, the invalidation of every list page, the list page (${r.pageItems} rows) and the metrics (${r.openShown} open) with ${r.pendingActions} pending actions agree`);
  }
  console.log(`${results.length} passed, 0 failed`);
} catch (error) {
  log(String(error.stack ?? error));
  console.log("0 passed, 1 failed");
  process.exitCode = 1;
}
