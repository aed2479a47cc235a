// Number formatting and small Markdown helpers shared by the sections.

/** A duration given in nanoseconds, with a unit that keeps three significant digits. */
export function duration(ns) {
  if (!Number.isFinite(ns)) return "–";
  if (ns < 1_000) return `${ns.toPrecision(3)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toPrecision(3)} µs`;
  return `${(ns / 1_000_000).toPrecision(3)} ms`;
}

/** `ours / theirs` as a ratio, and which is faster: "0.21 (4.8× faster)". */
export function ratio(ours, theirs) {
  const r = ours / theirs;
  if (!Number.isFinite(r)) return "–";
  if (r <= 1) return `${r.toFixed(2)} (${(1 / r).toFixed(1)}× faster)`;
  return `${r.toFixed(2)} (${r.toFixed(1)}× slower)`;
}

export const bytes = (n) => n.toLocaleString("en-US");

/** A Markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** What a hook section says until someone measures it. */
export function notMeasured(why) {
  console.log(`not measured yet: ${why}`);
  return `_Not measured yet: ${why}_`;
}
