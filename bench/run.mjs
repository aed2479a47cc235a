// Runs the benchmark sections in order and writes BENCHMARKS.md: the machine, the date, the
// commit, then one part per section. Each section is a file in bench/sections/ exporting
// `title` and `async run(ctx)` that returns Markdown; one whose subject cannot be measured yet
// returns `notMeasured(why)`. To add one: write the file and add its name to SECTIONS.
//
// Usage (scripts/bench passes its arguments here):
//   node bench/run.mjs [--only name,name] [--quick] [--native] [--queue] [--out FILE]
//
// With --only, the sections not run keep what the file already says about them (each says
// which run measured it), so one section can be measured again without losing the others.
// Sections written by other tools (scripts/bench-server's "Server") are always kept.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// In this order: `online` reads what `queue` measured.
const SECTIONS = ["size", "paint", "phone", "cache", "queue", "online", "live", "native"];

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

/** When and at which commit a section was measured. */
function stamp() {
  const dirty = sh("git", ["status", "--porcelain", "--untracked-files=no"]) !== "" ? ", with uncommitted changes" : "";
  return `${new Date().toISOString().replace(/\.\d+Z$/, "Z")} at ${sh("git", ["rev-parse", "--short=12", "HEAD"])}${dirty}${ctx.quick ? ", --quick" : ""}`;
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
  parts.push({ name, text: `## ${section.title}\n\n_Measured ${stamp()}._\n\n${body}\n` });
}

/** The sections of an earlier file, by name (found by their titles). */
async function earlierSections(path) {
  if (!existsSync(path)) return new Map();
  const text = readFileSync(path, "utf8");
  const chunks = text.split(/^(?=## )/m).slice(1);
  // A section written before sections carried their own date was measured by the run the
  // file's header describes.
  const date = text.match(/^- Date: (.+)$/m)?.[1] ?? "?";
  const commit = text.match(/^- Commit: (\S+)/m)?.[1] ?? "?";
  const dated = (chunk) =>
    /^_Measured /m.test(chunk) ? chunk : chunk.replace(/\n\n/, `\n\n_Measured ${date} at ${commit}._\n\n`);
  const found = new Map();
  for (const name of SECTIONS) {
    const { title } = await import(`./sections/${name}.mjs`);
    const chunk = chunks.find((c) => c.startsWith(`## ${title}\n`));
    if (chunk) found.set(name, dated(chunk.trimEnd()) + "\n");
  }
  return found;
}

/** Sections of an earlier file that no section here writes (another tool's, e.g. scripts/bench-server's "Server"). */
async function foreignSections(path) {
  if (!existsSync(path)) return [];
  const titles = [];
  for (const name of SECTIONS) titles.push((await import(`./sections/${name}.mjs`)).title);
  return readFileSync(path, "utf8")
    .split(/^(?=## )/m)
    .slice(1)
    .filter((chunk) => !titles.some((title) => chunk.startsWith(`## ${title}\n`)))
    .map((chunk) => chunk.trimEnd() + "\n");
}

// Sections not run this time keep their earlier text, in the usual order; sections other tools
// write stay at the end, whatever ran.
const kept = only ? await earlierSections(out) : new Map();
const ordered = SECTIONS.flatMap((name) => {
  const fresh = parts.find((p) => p.name === name);
  if (fresh) return [fresh.text];
  return kept.has(name) ? [kept.get(name)] : [];
}).concat(await foreignSections(out));

const doc = `# casedesk benchmarks

Written by \`scripts/bench\`${ctx.quick ? " (--quick: fewer runs, rougher figures)" : ""}; do not edit by hand. A
benchmark, not a test: figures move with the machine and its load (this one may be shared).

${machine()}
- Sections run${only ? " this time (the others are from earlier runs, as each says)" : ""}: ${timings.join(", ")}; total ${((Date.now() - started) / 1000).toFixed(0)} s

${ordered.join("\n")}`;
writeFileSync(out, doc);
ctx.log(`wrote ${out}`);
if (failed.length) {
  ctx.log(`failed sections: ${failed.join(", ")}`);
  process.exitCode = 1;
}
