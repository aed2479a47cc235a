// Runs the benchmark sections in order and writes BENCHMARKS.md: the machine, the date, the
// commit, then one part per section. Each section is a file in bench/sections/ exporting
// `title` and `async run(ctx)` that returns Markdown; one whose subject cannot be measured yet
// returns `notMeasured(why)`. To add one: write the file and add its name to SECTIONS.
//
// Usage (scripts/bench passes its arguments here):
//   node bench/run.mjs [--only name,name] [--quick] [--native] [--queue] [--out FILE]
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// In this order: `online` reads what `queue` measured.
const SECTIONS = ["size", "paint", "cache", "queue", "online", "live", "native"];

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = option("only")?.split(",");
const out = option("out") ?? join(root, "BENCHMARKS.md");
const ctx = {
  root,
  quick: flag("quick"),
  native: flag("native"),
  queue: flag("queue"),
  artifacts: join(root, "target", "bench-artifacts"),
  log: (msg) => console.error(`bench: ${msg}`),
};

const sh = (cmd, cmdArgs) => {
  try {
    return execFileSync(cmd, cmdArgs, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "?";
  }
};

function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model ?? "?";
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  const dirty = sh("git", ["status", "--porcelain", "--untracked-files=no"]) !== "" ? " (with uncommitted changes)" : "";
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- Commit: ${sh("git", ["rev-parse", "--short=12", "HEAD"])}${dirty}`,
    `- CPU: ${model}, ${cpus().length} cores available`,
    `- Memory: ${gib} GiB`,
    `- OS: ${sh("uname", ["-sr"])}; ${sh("rustc", ["--version"])}; Node ${process.version}`,
    `- Load average when the run started (1, 5, 15 min): ${loadAtStart.map((l) => l.toFixed(2)).join(", ")}; when it ended: ${loadavg().map((l) => l.toFixed(2)).join(", ")}`,
  ].join("\n");
}

const started = Date.now();
const loadAtStart = loadavg();
const parts = [];
const timings = [];
const failed = [];
for (const name of SECTIONS) {
  if (only && !only.includes(name)) continue;
  const section = await import(`./sections/${name}.mjs`);
  ctx.log(`== ${name}: ${section.title}`);
  const t0 = Date.now();
  let body;
  try {
    body = await section.run(ctx);
  } catch (error) {
    // The other sections still run and the file is still written; the exit status says so.
    failed.push(name);
    console.error(error);
    body = `_Failed this time: ${String(error.message ?? error).split("\n")[0]}_`;
  }
  timings.push(`${name} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  parts.push(`## ${section.title}\n\n${body}\n`);
}

const doc = `# casedesk benchmarks

Written by \`scripts/bench\`${ctx.quick ? " (--quick: fewer runs, rougher figures)" : ""}; do not edit by hand. A
benchmark, not a test: figures move with the machine and its load (this one may be shared).

${machine()}
- Sections run: ${timings.join(", ")}; total ${((Date.now() - started) / 1000).toFixed(0)} s

${parts.join("\n")}`;
writeFileSync(out, doc);
ctx.log(`wrote ${out}`);
if (failed.length) {
  ctx.log(`failed sections: ${failed.join(", ")}`);
  process.exitCode = 1;
}
