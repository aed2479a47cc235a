// Section: what a first visit downloads. Reuses scripts/size: a release build by Trunk
// (--offline, wasm-opt -Oz), then raw, gzip (level 9) and brotli (quality 11) of every file in
// dist/.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export const title = "First visit: bytes downloaded";

export async function run({ root, log }) {
  log("building the release app (trunk build --release --offline) and measuring dist/");
  const tableText = execFileSync(join(root, "scripts", "size"), [], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  const total = tableText.split("\n").find((line) => /^\|\s*total\s*\|/.test(line));
  const [raw, gzip, brotli] = (total ?? "").split("|").slice(2, 5).map((cell) => cell.trim());
  console.log(`first visit: ${brotli} B brotli, ${gzip} B gzip, ${raw} B raw`);
  // Issue 15's goal for a first visit: 300 KB brotli (stretch 180 KB).
  const over = Number(brotli.replace(/,/g, "")) - 300_000;
  const goal = over > 0
    ? `Goal ≤ 300,000 B brotli (stretch 180,000): ${over.toLocaleString("en-US")} B over.`
    : "Goal ≤ 300,000 B brotli (stretch 180,000): met.";
  return `Every file of the release build (\`dist/\`, as \`scripts/size\` prints it): what a first visit
downloads from a server that compresses its answers. The hashed files' brotli column is what the
reference server sends: the build writes their quality-11 copies (\`scripts/lib/precompress.mjs\`). Total: **${brotli} B brotli**, ${gzip} B gzip,
${raw} B uncompressed. ${goal}

${tableText}`;
}
