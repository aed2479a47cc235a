// Where the wasm's bytes go: runs twiggy on the release build *before* wasm-bindgen and
// wasm-opt (the shipped file has no names) and prints the code's size by crate, the largest
// functions, and the generic functions compiled most often. Sizes are of that intermediate,
// before wasm-opt; they show the shares, not the shipped bytes.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const wasm = process.argv[2];
const top = Number(process.argv[3] ?? 15);
if (!wasm || !existsSync(wasm)) {
  console.log(`(no ${wasm ?? "wasm"} to break down: build with 'trunk build --release' first)`);
  process.exit(0);
}

/** Splits one CSV line (twiggy quotes names that hold commas or quotes). */
function cells(line) {
  const out = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cell += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { out.push(cell); cell = ""; }
    else cell += c;
  }
  out.push(cell);
  return out;
}

/** The crate a function belongs to: `<T as Trait>::f` counts for T's crate when T is a path. */
function crateOf(name) {
  // Descriptors wasm-bindgen reads and then removes: not shipped.
  if (name.startsWith("__wbindgen_describe")) return "(bindgen descriptors, not shipped)";
  if (/^__wbg|^__wbindgen|^intounderlying/.test(name)) return "wasm_bindgen";
  // Some names carry the crate's disambiguator: `core[c5930c85a12de822]::fmt::…`.
  let path = name.replace(/\[[0-9a-f]{16}\]/g, "");
  const impl = name.match(/^<(.+?) as (.+?)>::/);
  if (impl) path = impl[1].includes("::") ? impl[1] : impl[2];
  path = path.replace(/^[<&*\s]+(mut\s+)?/, "");
  if (path.startsWith("str>") || path.startsWith("[")) return "core";
  const first = path.split("::")[0];
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(first) && path.includes("::") ? first : "(other)";
}

const csv = execFileSync("twiggy", ["top", "--format", "csv", "-n", "1000000", wasm], {
  encoding: "utf8",
  maxBuffer: 256 * 1024 * 1024,
});
const byCrate = new Map();
const functions = [];
let data = 0;
let sections = 0;
for (const line of csv.split("\n").slice(1)) {
  if (!line) continue;
  const [name, shallow] = cells(line);
  const size = Number(shallow);
  if (!Number.isFinite(size)) continue;
  if (/^data segment|^data\[/.test(name)) { data += size; continue; }
  if (/section|^type\[|^table\[|^global\[|^import |^export |^elem\[|^code\[/.test(name)) { sections += size; continue; }
  byCrate.set(crateOf(name), (byCrate.get(crateOf(name)) ?? 0) + size);
  functions.push([name, size]);
}
const code = [...byCrate.values()].reduce((a, b) => a + b, 0);
const fmt = (n) => n.toLocaleString("en-US").padStart(11);
console.log(`\nCode by crate (twiggy, ${wasm.split("/").pop()} before wasm-bindgen; ${code.toLocaleString("en-US")} bytes of named code, ${data.toLocaleString("en-US")} of data):\n`);
console.log("| crate                    |       bytes | share |");
console.log("|--------------------------|-------------|-------|");
for (const [crate, size] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${crate.padEnd(24)} | ${fmt(size)} | ${((100 * size) / code).toFixed(1).padStart(4)}% |`);
}
console.log(`\nThe ${top} largest functions:\n`);
console.log("|       bytes | function |");
console.log("|-------------|----------|");
for (const [name, size] of functions.sort((a, b) => b[1] - a[1]).slice(0, top)) {
  const short = name.replace(/::h[0-9a-f]{16}$/, "");
  console.log(`| ${fmt(size)} | \`${short.length > 110 ? short.slice(0, 107) + "…" : short}\` |`);
}

// The same generic function compiled once per type it is used with: where one non-generic
// helper would save bytes (sorting was compiled 65 times before `casedesk_core::sort`). Our
// own closures are distinct code, not copies, and are left out.
const copies = new Map();
for (const [name, size] of functions) {
  const generic = name.replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]{16}\]/g, "");
  if (/^<?casedesk(_\w+)?::/.test(generic) && generic.endsWith("{{closure}}")) continue;
  if (crateOf(name) === "(bindgen descriptors, not shipped)" || /WasmDescribe/.test(name)) continue;
  const [count, bytes] = copies.get(generic) ?? [0, 0];
  copies.set(generic, [count + 1, bytes + size]);
}
console.log(`\nCompiled most often (copies of one generic function, by their total bytes):\n`);
console.log("|       bytes | copies | function |");
console.log("|-------------|--------|----------|");
for (const [name, [count, bytes]] of [...copies]
  .filter(([, [count]]) => count > 1)
  .sort((a, b) => b[1][1] - a[1][1])
  .slice(0, top)) {
  const short = name.length > 100 ? name.slice(0, 97) + "…" : name;
  console.log(`| ${fmt(bytes)} | ${String(count).padStart(6)} | \`${short}\` |`);
}
