// Section (opt-in, `scripts/bench --queue`): the durable action queue, as measured by the
// ignored `bench_*` browser tests of tests/offline.rs (owned by the queue's authors): actions
// durably enqueued per second (IndexedDB), and the drain rate of 1,000 actions against the
// reference server, without and with chaos. Their lines also give the time from `online` to
// the first request, which the `online` section reports; and the time to send an edit made
// behind a bulk change of 500 (with the queue's priority, and strict first-in, first-out).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { notMeasured, table } from "../lib/format.mjs";

export const title = "The action queue: enqueue and drain rates";

const COMMAND = "WASM_BINDGEN_TEST_TIMEOUT=300 scripts/lib/browser-tests --release --test offline -- --include-ignored --nocapture bench";

/** "what: result" at the last ": " before a number (the labels have colons of their own). */
export function splitLine(line) {
  const m = line.match(/^(.*): (\d.*)$/);
  return m ? [m[1], m[2]] : [line, ""];
}

export async function run(ctx) {
  if (!ctx.queue) {
    return notMeasured(
      `it takes about 10 minutes the first time (a release build of the app's browser tests, then a 3-minute drain under chaos); \`scripts/bench --queue\` adds it (it runs \`${COMMAND}\`)`,
    );
  }
  ctx.log(`running the queue's measurements: ${COMMAND}`);
  const result = spawnSync(
    join(ctx.root, "scripts", "lib", "browser-tests"),
    ["--release", "--test", "offline", "--", "--include-ignored", "--nocapture", "bench"],
    {
      cwd: ctx.root,
      encoding: "utf8",
      // The server's rate limiter as shipped (tests run it off): the drain the app does.
      env: { ...process.env, WASM_BINDGEN_TEST_TIMEOUT: "300", CASEDESK_TEST_SHIPPED_LIMITS: "1" },
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 64 << 20,
    },
  );
  if (result.status !== 0) throw new Error(`the queue's measurements failed (${result.status}):\n${result.stdout.slice(-3000)}`);
  const lines = result.stdout.split("\n").map((l) => l.trim()).filter((l) => /^(enqueue|drain|edit behind)\b.*: \d/.test(l));
  if (lines.length === 0) throw new Error("the queue's measurements printed nothing to report");
  ctx.queueLines = lines;
  for (const line of lines) console.log(line);
  const rows = lines.map(splitLine);
  return `In headless Chromium, against the reference server (debug build, fresh SQLite file, its
per-client rate limiter at the shipped default), the app's queue compiled with the release
profile and drawing on the request budget as shipped (\`BudgetConfig::DEFAULT\`): the drain the
app does, with nobody pressing "Sync now". The ignored \`bench_*\` tests of \`tests/offline.rs\`
(see there for exactly what each does), run by \`CASEDESK_TEST_SHIPPED_LIMITS=1 ${COMMAND}\`.

${table(["measurement", "result"], rows)}`;
}
