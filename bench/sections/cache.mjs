// Section: the query cache side by side with @tanstack/query-core, in one page of headless
// Chromium. Builds bench/cache-wasm with the workspace's release profile and `wasm-opt -Oz`
// (as Trunk builds the app), serves bench/ with COOP/COEP, runs bench/cache/bench.mjs and
// turns its JSON into tables. What each row compares is written out below the tables.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { launchBrowser } from "../../e2e/lib/harness.mjs";
import { duration, ratio, table } from "../lib/format.mjs";
import { serveStatic } from "../lib/serve.mjs";

export const title = "The query cache against TanStack Query (browser, wasm vs JS)";

/**
 * Builds the page's two halves into bench/cache/pkg: bench/cache-wasm (as the app ships, with
 * the release profile and `wasm-opt -Oz`; or, for the side by side `scripts/test` runs, which
 * checks results and not speed, a debug build, whose dependencies the browser tests built)
 * and @tanstack/query-core bundled for production.
 */
function build(root, log, { release = true } = {}) {
  const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  const profile = release ? "release" : "debug";
  log(`building bench/cache-wasm (${profile} profile, wasm32)`);
  run("cargo", ["build", ...(release ? ["--release"] : []), "--target", "wasm32-unknown-unknown", "-p", "casedesk-cache-bench"]);
  const meta = JSON.parse(
    execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], { cwd: root, encoding: "utf8" }),
  );
  const wasm = join(meta.target_directory, "wasm32-unknown-unknown", profile, "casedesk_cache_bench.wasm");
  const out = join(root, "bench", "cache", "pkg");
  mkdirSync(out, { recursive: true });
  run("wasm-bindgen", ["--target", "web", "--no-typescript", "--out-dir", out, wasm]);
  const bg = join(out, "casedesk_cache_bench_bg.wasm");
  if (release) run("wasm-opt", ["-Oz", bg, "-o", bg]);
  log("bundling @tanstack/query-core for production (esbuild)");
  const { buildSync } = createRequire(join(root, "bench", "package.json"))("esbuild");
  buildSync({
    stdin: { contents: 'export * from "@tanstack/query-core";', resolveDir: join(root, "bench"), loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    define: { "process.env.NODE_ENV": '"production"' },
    outfile: join(out, "query-core.js"),
    logLevel: "error",
  });
}

function versionOf(root, pkg) {
  const path = join(root, "bench", "node_modules", pkg, "package.json");
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")).version : "?";
}

/**
 * Opens the bench page in headless Chromium and resolves to what `call(page)` resolves to;
 * fails when the page reports an error.
 */
async function onBenchPage(root, log, call) {
  const server = await serveStatic(join(root, "bench"));
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => (m.type() === "error" ? errors.push(m.text()) : log(`page: ${m.text()}`)));
    await page.goto(`${server.url}/cache/index.html`);
    await page.waitForFunction(() => window.cacheBenchReady === true, null, { timeout: 30_000 });
    const result = await call(page, browser.version());
    if (errors.length) throw new Error(`the bench page reported errors:\n${errors.join("\n")}`);
    return result;
  } finally {
    await browser.close();
    await server.close();
  }
}

/**
 * The side by side as a check, not a benchmark (`bench/check.mjs`, run by `scripts/test`):
 * both halves once on small caches, every result compared (`checkCacheAgreement` in
 * bench/cache/bench.mjs). Rejects on the first difference; resolves to what was compared.
 */
export async function check({ root, log, sizes = [200, 1000] }) {
  build(root, log, { release: false });
  return onBenchPage(root, log, (page) => page.evaluate((s) => window.checkCacheAgreement({ sizes: s }), sizes));
}

export async function run({ root, quick, log, artifacts }) {
  build(root, log);
  const options = quick ? { sizes: [1000, 10000], runs: 3, samples: 10, targetMs: 5, runMs: 100 } : {};
  const results = await onBenchPage(root, log, async (page, version) => {
    log(`running the cache comparison in ${version} (${quick ? "quick" : "full"})`);
    const measured = await page.evaluate((o) => window.runCacheBench(o), options);
    measured.browser = version;
    return measured;
  });
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, "cache.json"), JSON.stringify(results, null, 2));
  return render(results, versionOf(root, "@tanstack/query-core"));
}

/** "median (best)" of one figure. */
const cell = (f) => (f ? `${duration(f.median)} (${duration(f.min)})` : "–");

export function render(results, tanstackVersion) {
  // [label, ours, theirs, what the verdict calls it]
  const ROWS = [
    ["(a) lookup by key, one JS→wasm call per lookup", "lookupOursPerCall", "lookupTanstack", "lookup (a call per lookup)"],
    ["(a) lookup by key, looped inside wasm", "lookupOursBatched", "lookupTanstack", "lookup (looped in wasm)"],
    ['(b) invalidate `["cases","list"]`, no observers', "invalidateOurs", "invalidateTanstack", "invalidation"],
    ["(b) same, TanStack with `refetchType: 'none'`", "invalidateOurs", "invalidateTanstackNoRefetch", "invalidation (against `refetchType: 'none'`)"],
    ["(c) list page, 100 pending: overlay view", "listViewOurs", "listViewTanstack", "list view"],
    ["(c) same, TanStack without structural sharing", "listViewOurs", "listViewTanstackFlat", "list view (against no structural sharing)"],
    ["(c) list page, the cache answering which cases are known (as the app's glue does)", "listViewOursWithIndex", "listViewTanstack", "list view with the cache as the index"],
    ["(c) metrics, 100 pending: overlay view", "metricsViewOurs", "metricsViewTanstack", "metrics view"],
    ["(c) same, TanStack without structural sharing", "metricsViewOurs", "metricsViewTanstackFlat", "metrics view (against no structural sharing)"],
    ["(c) metrics, the cache answering which cases are known (as the app's glue does)", "metricsViewOursWithIndex", "metricsViewTanstack", "metrics view with the cache as the index"],
  ];
  const tables = results.sizes
    .map((s) => {
      const rows = ROWS.map(([label, ours, theirs]) => [
        label,
        cell(s.ops[ours]),
        cell(s.ops[theirs]),
        ratio(s.ops[ours].median, s.ops[theirs].median),
      ]);
      const heading = `**${s.entries.toLocaleString("en-US")} entries** (${s.listPages} list pages, ${s.knownCases.toLocaleString("en-US")} distinct cases known)`;
      return `${heading}\n\n${table(["operation", "casedesk (wasm)", "TanStack Query", "casedesk / TanStack"], rows)}`;
    })
    .join("\n\n");

  const tanstackWins = results.sizes.flatMap((s) =>
    ROWS.filter(([, ours, theirs]) => s.ops[ours].median > s.ops[theirs].median).map(
      ([, , , short]) => `${short} at ${s.entries.toLocaleString("en-US")} entries`,
    ),
  );
  const verdict = tanstackWins.length
    ? `In this run TanStack Query was faster at: ${tanstackWins.join("; ")}.`
    : "In this run casedesk was faster at every row.";

  return `Browser: Chromium ${results.browser}, headless. \`@tanstack/query-core\` ${tanstackVersion} from npm, bundled
for production by esbuild (minified, \`NODE_ENV=production\`), as an app ships it. casedesk's core
built with the app's release profile (\`opt-level = "z"\`, fat LTO, one codegen unit) and
\`wasm-opt -Oz\`, as Trunk builds the app. Cross-origin isolated: ${results.crossOriginIsolated}; timer granularity
${results.timerResolutionUs.toFixed(1)} µs. Time per operation: the median of ${results.runs} runs after a warm-up run, and
in brackets the best run (the least disturbed by other work on the machine); the two sides take
turns run by run, so load elsewhere hits both alike. The ratio compares medians; below 1,
casedesk is faster. Raw figures: \`target/bench-artifacts/cache.json\`.

${tables}

${verdict}

**The data.** Both sides hold exactly the same entries: the wasm side makes them and hands them to
the page as JSON, the page puts each into TanStack's cache with \`setQueryData\` and ours takes them
as \`SetData\` (fetched data, fresh). Keys: \`["dashboard","metrics"]\`, then in every 20 entries
two \`["cases","list",q]\` pages of 50 cases, one \`["notes",id]\` list of 3 notes and seventeen
\`["cases",id]\`; every case listed also has its own entry; ids are random v4 UUIDs. \`gcTime\`
infinite and \`staleTime\` 30 s on both sides. The 100 pending actions are the native overlay
benchmark's mix: per ten, two creations, six updates (status, priority or title; a third of all
actions on cases of page 1), one delete, one note.

**What each row does.**

- **(a) lookup**: the same sequence of keys (step 7,919 through all entries), present every time.
  TanStack: \`queryClient.getQueryData(key)\` with the key array (it hashes the key with
  \`JSON.stringify\`, then one \`Map\` lookup). Ours: \`QueryCache::get\`, an ordered map (\`BTreeMap\`)
  of typed keys (\`QueryKey\`, an enum; TanStack gets the same keys as arrays of their path's
  segments). First row: one \`#[wasm_bindgen]\` call per lookup from JS, the key chosen by its
  position on the wasm side; second row: the same lookups looped inside one call, which is how the
  app uses the cache (its glue is Rust too). The difference between the two rows is the JS→wasm
  call. Calibrated batches of ≥ ${results.targetMs} ms.
- **(b) invalidate by prefix**: every list page marked stale, nothing observing them, so nothing
  refetches. Ours: \`QueryCache::apply(CacheEvent::Invalidate { scope: KeyScope::CaseLists })\`: a range
  of the ordered map, then one \`Notify\` command naming the pages. TanStack:
  \`queryClient.invalidateQueries({ queryKey: ["cases","list"] })\`: a scan of every query with
  \`partialMatchKey\`, then a second scan for active queries to refetch (none); the next row skips
  that pass (\`refetchType: 'none'\`). Every sample starts from fresh pages (ours: a request and its
  304 per page; TanStack: \`setQueryData\` with the same data), made fresh outside the timing;
  each run times up to ${results.samples} operations one by one and averages them (fewer, at least 5,
  when an operation and its reset take long: a run stays near ${results.runMs} ms; the counts are in
  the raw figures).
- **(c) the view with 100 pending actions**: from the cached server data and the 100 pending
  actions to the data the screen shows, for page 1 of the list (50 cases) and for the dashboard
  metrics. Ours: \`overlay::view\`, which recomputes the view from scratch (the app does so on every
  change of the queue or the cache), against an index of known cases built once; the "cache answering
  which cases are known" rows ask the \`QueryCache\` itself, which keeps an index of the entries
  holding each case up to date as entries change — what the app's glue does on every
  recomputation. (It used to rebuild \`CaseIndex::from_data\` over the whole cache for each view:
  3.7 ms per list view and 7.1 ms per metrics view at 10,000 entries, slower than TanStack; that
  is why the cache now keeps the index.) TanStack: the optimistic-update recipe: for each action, an
  \`onMutate\` body calling \`setQueryData(key, updater)\` whose updater applies that one change
  immutably, then \`getQueryData(key)\`; known cases come from \`getQueryData(["cases", id])\`. The
  updaters (\`bench/cache/optimistic.mjs\`) follow the overlay's rules (placement in the sort order
  on the page, totals, counts, per-day series) and the page checks that both sides produce
  identical data before timing anything. Each TanStack sample starts from the server data
  (\`setQueryData(key, serverData)\`, untimed). By default \`setQueryData\` deep-compares the old and
  new data to keep unchanged parts (structural sharing); the "without structural sharing" rows
  use a second client with \`structuralSharing: false\`, TanStack's cheapest way. The recipe's
  \`cancelQueries\` (a scan of every query, per mutation) and its snapshot for rollback are left
  out, which favours TanStack.

**How to read (c).** TanStack pays its figure spread over the 100 mutations (one updater each,
when each is made) and reads the result for free; casedesk pays its figure on every
recomputation. What the recomputation buys: a rollback is dropping the action (correct even when
several optimistic changes to the same data fail independently, where restoring a snapshot
undoes the others), and the optimistic state survives a reload because it is derived from the
durable queue.

**Where the time goes.** Lookup: ours grows with the cache, as the ordered map compares keys
(a list key's query field by field, through heap pointers) (about log₂ N string comparisons, each likely a cache miss once the
cache is large); TanStack's is mostly hashing the key (\`JSON.stringify\`) before one \`Map\` lookup.
The ordering is what makes (b) a range rather than a scan.
Invalidation: ours visits only the list pages, marks each in place and clones its key into the
\`Notify\` command; no entry is looked up again and no ordered set of keys is built (the keys arrive
in order; one pass checks it). Those two steps were nearly all of this row's time in wasm: without them
it went from 2.34 ms to 76 µs at 10,000 entries (48 → 6.6 µs at 1,000; one run each, 2026-11-30).
Comparing two list keys field by field is slow at \`opt-level = "z"\`, and each lookup or
insertion made tens of such comparisons per page.
The index of where each case is held is updated only for entries whose data changed, which
invalidation never does (when it re-indexed every touched entry, this row was about 50 times
slower); TanStack scans every query but does little per query. Views: the overlay itself costs the same at both sizes (it
touches the page and the cases the actions name); asking the cache which cases are known costs a
lookup of each entry holding the case (its own entry and every list page listing it:
${results.sizes.map((s) => `${(s.listPages * 50 / s.knownCases + 1).toFixed(1)} holders per case at ${s.entries.toLocaleString("en-US")} entries`).join(", ")}). TanStack's
cost is mostly \`setQueryData\`'s structural sharing: with it off, its figure drops several-fold.`;
}
