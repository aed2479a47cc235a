// Section (optional, `scripts/bench --native`): the native criterion benchmarks of
// crates/core (cache and overlay), for comparison with the same operations in wasm above.
// Built with the workspace's release profile, as the wasm; shorter warm-up and measurement
// than criterion's defaults so the section takes a few minutes.
import { spawnSync } from "node:child_process";
import { duration, table } from "../lib/format.mjs";

export const title = "Native (criterion, crates/core/benches)";

const UNITS = { ps: 1e-3, ns: 1, "µs": 1e3, us: 1e3, ms: 1e6, s: 1e9 };

export async function run({ root, native, log }) {
  if (!native) {
    console.log("native: skipped (scripts/bench --native runs it)");
    return "_Not run this time: `scripts/bench --native` adds it (a few minutes more)._";
  }
  log("running cargo bench -p casedesk-core (cache, overlay)");
  const result = spawnSync(
    "cargo",
    ["bench", "-p", "casedesk-core", "--bench", "cache", "--bench", "overlay", "--", "--warm-up-time", "1", "--measurement-time", "2"],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 },
  );
  if (result.status !== 0) throw new Error(`cargo bench failed (${result.status})`);
  const rows = [];
  let name = null;
  for (const line of result.stdout.split("\n")) {
    const m = line.match(/^(\S+)?\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]/);
    if (!m) {
      if (/^\S/.test(line) && !/^(Benchmarking|Found|Gnuplot|\s)/.test(line)) name = line.trim();
      continue;
    }
    const label = m[1] ?? name;
    rows.push([`\`${label}\``, duration(Number(m[2]) * (UNITS[m[3]] ?? NaN))]);
  }
  return `\`cargo bench -p casedesk-core\` (the workspace's release profile, \`opt-level = "z"\`, as the wasm
above), criterion's median estimate of each benchmark; see the bench files for what each does.
Not the same fixtures as the browser section: \`overlay_100_pending\` looks known cases up in a
\`HashMap\` rather than the app's index, and the \`invalidate_*\` benchmarks start from restored
entries, which are stale already, so they time the scan without marking anything (the browser
section starts from fresh ones).

${table(["benchmark", "time"], rows)}`;
}
