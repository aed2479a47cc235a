// Prints the raw, gzip (level 9) and brotli (quality 11) size of each file under a folder,
// and the totals: what a first visit downloads when the server compresses its answers.
// Precompressed copies (`.br`, `.gz`, written by scripts/lib/precompress.mjs) are another form
// of a file already counted, not more files to download.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = process.argv[2] ?? "dist";

function* files(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (!/\.(br|gz)$/.test(name)) yield path;
  }
}

const rows = [];
for (const path of files(root)) {
  const bytes = readFileSync(path);
  rows.push({
    file: relative(root, path),
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
    }).length,
  });
}
const total = rows.reduce(
  (t, r) => ({ file: "total", raw: t.raw + r.raw, gzip: t.gzip + r.gzip, brotli: t.brotli + r.brotli }),
  { raw: 0, gzip: 0, brotli: 0 },
);
const width = Math.max(5, ...rows.map((r) => r.file.length));
const fmt = (n) => n.toLocaleString("en-US").padStart(10);
console.log(`| ${"file".padEnd(width)} | ${"raw".padStart(10)} | ${"gzip".padStart(10)} | ${"brotli".padStart(10)} |`);
console.log(`|${"-".repeat(width + 2)}|${"-".repeat(12)}|${"-".repeat(12)}|${"-".repeat(12)}|`);
for (const r of [...rows, total]) {
  console.log(`| ${r.file.padEnd(width)} | ${fmt(r.raw)} | ${fmt(r.gzip)} | ${fmt(r.brotli)} |`);
}
