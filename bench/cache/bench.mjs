// The cache benchmark's page: casedesk's query cache and overlay (wasm, built from
// bench/cache-wasm) and @tanstack/query-core, filled with the same entries and timed doing the
// same operations, in the same page, one after the other. bench/sections/cache.mjs loads this
// page in headless Chromium and calls `window.runCacheBench`, which resolves to plain JSON.
//
// Timing: `performance.now()` (5 µs granularity with jitter: the server sends COOP/COEP, so the
// page is cross-origin isolated). Pure operations run in calibrated batches of ≥ 20 ms;
// operations that change the cache are timed one by one, the cache being put back between
// samples outside the timing, and averaged. Every figure is the median of several runs, after
// a warm-up run, in nanoseconds per operation.
import init, { CacheBench } from "./pkg/casedesk_cache_bench.js";
import { QueryClient } from "@tanstack/query-core";
import { changeOf, metricsWithChange, pageWithChange } from "./optimistic.mjs";

/** The step between successive lookups; the wasm side uses the same (LOOKUP_STEP). */
const LOOKUP_STEP = 7919;
const LIST_PREFIX = ["cases", "list"];
const METRICS_KEY = ["dashboard", "metrics"];

// Every result is added here, so no engine can drop the work that produced it.
let sink = 0;

const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1], runs: values.length };
}

/** The smallest step `performance.now()` takes here, in µs. */
function timerResolution() {
  let smallest = Infinity;
  for (let i = 0; i < 200; i++) {
    const a = performance.now();
    let b = performance.now();
    while (b === a) b = performance.now();
    smallest = Math.min(smallest, b - a);
  }
  return smallest * 1000;
}

/**
 * ns per operation of each variant, `{ name: batch }` where `batch(count)` does `count`
 * operations: batches calibrated to `targetMs`, then `runs` timed runs in which the variants
 * take turns, so a burst of load elsewhere on the machine hits them alike.
 */
async function batched(variants, { runs, targetMs }) {
  const counts = {};
  for (const [name, batch] of Object.entries(variants)) {
    let count = 1;
    for (;;) {
      const t0 = performance.now();
      batch(count);
      const ms = performance.now() - t0;
      if (ms >= targetMs / 4 || count >= 1 << 26) {
        counts[name] = Math.max(1, Math.ceil((count * targetMs) / Math.max(ms, 0.001)));
        break;
      }
      count *= 4;
    }
    batch(counts[name]); // warm-up at full size
  }
  const perOp = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (let r = 0; r < runs; r++) {
    for (const [name, batch] of Object.entries(variants)) {
      await pause();
      const t0 = performance.now();
      batch(counts[name]);
      perOp[name].push(((performance.now() - t0) * 1e6) / counts[name]);
    }
  }
  return Object.fromEntries(Object.entries(perOp).map(([name, v]) => [name, { ...summary(v), batch: counts[name] }]));
}

/**
 * ns per operation of each variant, `{ name: { reset, op } }`: `op()` timed one at a time,
 * `reset()` (untimed, optional) before each, averaged over a run; a warm-up run, then `runs`
 * runs in which the variants take turns. A run has `samples` operations, or fewer (at least
 * 5) when one operation and its reset take so long that a run would exceed `runMs`.
 */
async function sampled(variants, { runs, samples, runMs }) {
  const perOp = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const count = {};
  for (const [name, { reset, op }] of Object.entries(variants)) {
    // One probe (reset and operation, twice) sizes the runs.
    const wallStart = performance.now();
    for (let s = 0; s < 2; s++) {
      reset?.();
      op();
    }
    const perSample = (performance.now() - wallStart) / 2;
    count[name] = Math.max(5, Math.min(samples, Math.floor(runMs / Math.max(perSample, 1e-3))));
  }
  for (let r = 0; r <= runs; r++) {
    for (const [name, { reset, op }] of Object.entries(variants)) {
      await pause();
      let total = 0;
      for (let s = 0; s < count[name]; s++) {
        reset?.();
        const t0 = performance.now();
        op();
        total += performance.now() - t0;
      }
      if (r > 0) perOp[name].push((total * 1e6) / count[name]); // run 0 warms up
    }
  }
  return Object.fromEntries(Object.entries(perOp).map(([name, v]) => [name, { ...summary(v), samples: count[name] }]));
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/**
 * TanStack's "view with the pending actions": the optimistic-update recipe, one `onMutate`
 * per pending action writing its change into the cached data with `setQueryData(key,
 * updater)`, then `getQueryData(key)`. An updater that has nothing to change (a note, for the
 * list) returns undefined, so TanStack skips the write.
 */
function tanstackView(client, key, actions, apply) {
  const states = new Map();
  const knownCase = (id) => client.getQueryData(["cases", id]);
  for (const action of actions) {
    client.setQueryData(key, (old) => {
      const change = changeOf(action, states, old.items ?? [], knownCase);
      return change === null ? undefined : apply(old, change);
    });
  }
  return client.getQueryData(key);
}

/**
 * Both caches filled with the same `size` entries (ours in wasm; TanStack's, and a second
 * TanStack client without structural sharing), after checking that both sides show the same
 * list page and metrics with the 100 pending actions: the comparison means nothing otherwise.
 */
function sideBySide(size, phase = () => {}) {
  const ours = new CacheBench(size);
  phase("wasm cache filled");
  const entries = JSON.parse(ours.entries_json());
  const actions = JSON.parse(ours.pending_json());
  const query = JSON.parse(ours.list_query_json());
  const keys = entries.map((e) => e.key);
  const n = keys.length;

  // gcTime Infinity: nothing is collected during the run (ours has no GC without a Tick
  // either); staleTime 30 s as ours. Every entry goes in as fetched data.
  const client = new QueryClient({ defaultOptions: { queries: { gcTime: Infinity, staleTime: 30_000 } } });
  for (const { key, data } of entries) client.setQueryData(key, data);
  // The same without structural sharing (setQueryData then skips its deep comparison of the
  // old and new data): TanStack's cheapest way to run the optimistic updates.
  const flat = new QueryClient({
    defaultOptions: { queries: { gcTime: Infinity, staleTime: 30_000, structuralSharing: false } },
  });
  for (const { key, data } of entries) flat.setQueryData(key, data);
  const cache = client.getQueryCache();
  phase("TanStack cache filled");
  const listQueries = cache.findAll({ queryKey: LIST_PREFIX });
  const listKey = ["cases", "list", ""];
  const serverPage = client.getQueryData(listKey);
  const serverMetrics = client.getQueryData(METRICS_KEY);
  if (cache.getAll().length !== n || ours.len() !== n) throw new Error(`entry counts differ: ${cache.getAll().length}, ${ours.len()}, ${n}`);
  if (!serverPage || !serverMetrics) throw new Error("the fixture lacks the list page or the metrics");

  // Both sides must reach the same data, or the comparison means nothing.
  const listUpdater = (old, change) => pageWithChange(old, change, query);
  const tanstackPage = tanstackView(client, listKey, actions, listUpdater);
  for (const fromCache of [false, true]) {
    if (!deepEqual(tanstackPage, JSON.parse(ours.list_view_json(fromCache)))) {
      throw new Error(`size ${size}: TanStack's optimistic list page differs from the overlay's (known cases from the ${fromCache ? "cache" : "index"}):\n${JSON.stringify(tanstackPage).slice(0, 2000)}\nvs\n${ours.list_view_json(fromCache).slice(0, 2000)}`);
    }
  }
  client.setQueryData(listKey, serverPage);
  const tanstackMetrics = tanstackView(client, METRICS_KEY, actions, metricsWithChange);
  for (const fromCache of [false, true]) {
    if (!deepEqual(tanstackMetrics, JSON.parse(ours.metrics_view_json(fromCache)))) {
      throw new Error(`size ${size}: TanStack's optimistic metrics differ from the overlay's (known cases from the ${fromCache ? "cache" : "index"}):\n${JSON.stringify(tanstackMetrics)}\nvs\n${ours.metrics_view_json(fromCache)}`);
    }
  }
  client.setQueryData(METRICS_KEY, serverMetrics);
  return { ours, client, flat, actions, keys, n, listQueries, listKey, listUpdater, serverPage, serverMetrics, tanstackPage, tanstackMetrics };
}

/**
 * The side by side without timing, as `scripts/test` runs it: both halves once, on `size`
 * entries, and every result compared. Each key reads back the same data from both caches;
 * invalidating `["cases","list"]` reaches the same keys on both; the list page and the
 * metrics with the pending actions are the same (`sideBySide`). Throws on the first
 * difference; resolves to what was compared.
 */
async function checkSize(size) {
  const { ours, client, flat, keys, n, listQueries, tanstackPage, tanstackMetrics, actions } = sideBySide(size);
  try {
    // (a) every key reads back the same data from both caches.
    for (let i = 0; i < n; i++) {
      const theirs = client.getQueryData(keys[i]);
      const mine = ours.cached_json(i);
      if (theirs === undefined || mine === "" || !deepEqual(theirs, JSON.parse(mine))) {
        throw new Error(`size ${size}: key ${JSON.stringify(keys[i])} reads differently:\n${JSON.stringify(theirs)?.slice(0, 1000)}\nvs\n${mine.slice(0, 1000)}`);
      }
    }
    if (ours.lookup_batch(0, n) !== n) throw new Error(`size ${size}: wasm lookups missed keys`);
    // (b) invalidating the list prefix marks the same keys on both sides, and only those.
    const oursInvalidated = JSON.parse(ours.invalidate_lists_keys_json()).map((k) => JSON.stringify(k)).sort();
    await client.invalidateQueries({ queryKey: LIST_PREFIX, refetchType: "none" });
    const theirsInvalidated = client.getQueryCache().getAll().filter((q) => q.state.isInvalidated).map((q) => JSON.stringify(q.queryKey)).sort();
    if (!deepEqual(oursInvalidated, theirsInvalidated)) {
      throw new Error(`size ${size}: invalidation reached different keys: ${oursInvalidated.length} ours, ${theirsInvalidated.length} TanStack's`);
    }
    if (oursInvalidated.length !== listQueries.length || ours.stale_lists() !== listQueries.length) {
      throw new Error(`size ${size}: invalidation missed list pages`);
    }
    return {
      entries: n,
      listPages: listQueries.length,
      pendingActions: actions.length,
      pageItems: tanstackPage.items.length,
      openShown: tanstackMetrics.by_status.open,
    };
  } finally {
    client.clear();
    flat.clear();
    ours.free();
  }
}

async function benchSize(size, opts) {
  const started = performance.now();
  const phase = (name) => console.log(`${size} entries: ${name} at ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const { ours, client, flat, actions, keys, n, listQueries, listKey, listUpdater, serverPage, serverMetrics } = sideBySide(size, phase);

  const result = {
    size,
    entries: n,
    listPages: listQueries.length,
    knownCases: ours.known_cases(),
    pendingActions: actions.length,
    pageItems: serverPage.items.length,
    ops: {},
  };

  phase("views checked equal");
  // (a) lookup by key.
  const hits = ours.lookup_batch(0, n);
  if (hits !== n) throw new Error(`wasm lookups found ${hits} of ${n}`);
  const lookups = await batched(
    {
      ours: (count) => {
        let i = 0;
        for (let c = 0; c < count; c++) {
          i = (i + LOOKUP_STEP) % n;
          sink += ours.lookup(i);
        }
      },
      oursBatched: (count) => {
        sink += ours.lookup_batch(0, count);
      },
      tanstack: (count) => {
        let i = 0;
        for (let c = 0; c < count; c++) {
          i = (i + LOOKUP_STEP) % n;
          sink += client.getQueryData(keys[i]) !== undefined;
        }
      },
    },
    opts,
  );
  result.ops.lookupOursPerCall = lookups.ours;
  result.ops.lookupOursBatched = lookups.oursBatched;
  result.ops.lookupTanstack = lookups.tanstack;
  phase("lookups timed");
  // (b) invalidate every list page, no observers; the pages are made fresh again between
  // samples (ours: a request and its 304 each; TanStack: setQueryData with the same data).
  ours.invalidate_lists();
  if (ours.stale_lists() !== listQueries.length) throw new Error("invalidation left fresh list pages");
  ours.revalidate_lists();
  if (ours.stale_lists() !== 0) throw new Error("revalidation left stale list pages");
  const freshTanstack = () => {
    for (const q of listQueries) client.setQueryData(q.queryKey, q.state.data);
  };
  const invalidated = () => listQueries.filter((q) => q.state.isInvalidated).length;
  freshTanstack();
  client.invalidateQueries({ queryKey: LIST_PREFIX });
  if (invalidated() !== listQueries.length) throw new Error("TanStack's invalidation missed list pages");
  const sampleOpts = { runs: opts.runs, samples: opts.samples, runMs: opts.runMs };
  const invalidations = await sampled(
    {
      ours: { reset: () => ours.revalidate_lists(), op: () => (sink += ours.invalidate_lists()) },
      tanstack: {
        reset: freshTanstack,
        op: () => (sink += client.invalidateQueries({ queryKey: LIST_PREFIX }) ? 1 : 0),
      },
      tanstackNoRefetch: {
        reset: freshTanstack,
        op: () => (sink += client.invalidateQueries({ queryKey: LIST_PREFIX, refetchType: "none" }) ? 1 : 0),
      },
    },
    sampleOpts,
  );
  result.ops.invalidateOurs = invalidations.ours;
  result.ops.invalidateTanstack = invalidations.tanstack;
  result.ops.invalidateTanstackNoRefetch = invalidations.tanstackNoRefetch;
  freshTanstack();

  phase("invalidations timed");
  // (c) the view of a list page and of the metrics with the pending actions.
  const lists = await sampled(
    {
      ours: { op: () => (sink += ours.list_view()) },
      oursWithIndex: { op: () => (sink += ours.list_view_indexed()) },
      tanstack: {
        reset: () => client.setQueryData(listKey, serverPage),
        op: () => (sink += tanstackView(client, listKey, actions, listUpdater).items.length),
      },
      tanstackFlat: {
        reset: () => flat.setQueryData(listKey, serverPage),
        op: () => (sink += tanstackView(flat, listKey, actions, listUpdater).items.length),
      },
    },
    sampleOpts,
  );
  client.setQueryData(listKey, serverPage);
  result.ops.listViewOurs = lists.ours;
  result.ops.listViewOursWithIndex = lists.oursWithIndex;
  result.ops.listViewTanstack = lists.tanstack;
  result.ops.listViewTanstackFlat = lists.tanstackFlat;
  const metrics = await sampled(
    {
      ours: { op: () => (sink += ours.metrics_view()) },
      oursWithIndex: { op: () => (sink += ours.metrics_view_indexed()) },
      tanstack: {
        reset: () => client.setQueryData(METRICS_KEY, serverMetrics),
        op: () => (sink += tanstackView(client, METRICS_KEY, actions, metricsWithChange).by_status.open),
      },
      tanstackFlat: {
        reset: () => flat.setQueryData(METRICS_KEY, serverMetrics),
        op: () => (sink += tanstackView(flat, METRICS_KEY, actions, metricsWithChange).by_status.open),
      },
    },
    sampleOpts,
  );
  client.setQueryData(METRICS_KEY, serverMetrics);
  result.ops.metricsViewOurs = metrics.ours;
  result.ops.metricsViewOursWithIndex = metrics.oursWithIndex;
  result.ops.metricsViewTanstack = metrics.tanstack;
  result.ops.metricsViewTanstackFlat = metrics.tanstackFlat;
  phase("views timed");
  client.clear();
  flat.clear();
  ours.free();
  return result;
}

/**
 * Runs the whole comparison. Options: `sizes` (entries per cache), `runs` (timed runs per
 * figure, after a warm-up), `samples` (at most, operations per run when timed one by one),
 * `runMs` (what such a run may take), `targetMs` (length of one batch).
 */
window.runCacheBench = async ({ sizes = [1000, 10000], runs = 9, samples = 40, targetMs = 20, runMs = 400 } = {}) => {
  await init();
  const results = {
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    timerResolutionUs: timerResolution(),
    runs,
    samples,
    targetMs,
    runMs,
    sizes: [],
  };
  for (const size of sizes) {
    results.sizes.push(await benchSize(size, { runs, samples, targetMs, runMs }));
    await pause();
  }
  results.sink = sink % 1000;
  return results;
};
/** The side by side without timing (see `checkSize`), for each of `sizes`. */
window.checkCacheAgreement = async ({ sizes = [200, 1000] } = {}) => {
  await init();
  const results = [];
  for (const size of sizes) results.push({ size, ...(await checkSize(size)) });
  return results;
};
window.cacheBenchReady = true;
