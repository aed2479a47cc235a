//! Benchmark only, never part of the app: casedesk's query cache and overlay compiled to wasm
//! with the app's release profile, behind a few `#[wasm_bindgen]` calls, so that
//! `bench/cache/bench.mjs` can time them in the browser beside `@tanstack/query-core` doing
//! the same operations on the same data. `scripts/bench` builds and runs it.
//!
//! # Layout
//! - [`fixture`]: the cache's contents and the 100 pending actions, made here and handed to
//!   the page as JSON, so both sides hold identical keys and data.
//! - [`CacheBench`]: one filled cache and the operations the page times on it: lookup (one
//!   per call, or a batch inside wasm), invalidation of every list page, and the overlay
//!   view of a list page and of the metrics with the pending actions; and, for the side by
//!   side `scripts/test` runs, each of them with its result as JSON to compare with TanStack's.

mod fixture;

use casedesk_core::overlay::{self, CaseIndex, KnownCases};
use casedesk_core::{
    Action, CacheCommand, CacheConfig, CacheEvent, Millis, OverlayTarget, QueryCache, QueryData,
    QueryKey, SeededRandom,
};
use casedesk_model::CaseListQuery;
use fixture::{Fixture, NOW_MS};
use std::hint::black_box;
use wasm_bindgen::prelude::*;

const NOW: Millis = Millis(NOW_MS);

/// The step between successive lookups: a prime, so a run visits keys all over the cache in
/// an order neither side can predict better than the other. The page uses the same one.
const LOOKUP_STEP: usize = 7_919;

/// A cache of `size` entries and everything the timed operations need.
#[wasm_bindgen]
pub struct CacheBench {
    /// Invalidated, then revalidated between samples, by the invalidation benchmark.
    cache: QueryCache,
    /// An identical cache that never changes: the overlay's known cases borrow from it.
    frozen: &'static QueryCache,
    /// An index of the cases known in `frozen`, built once, for the overlay's own cost; the
    /// `*_indexed` calls ask the cache itself (it keeps an index of where each case is held),
    /// as the app's glue does.
    index: CaseIndex<'static>,
    fixture: Fixture,
    keys: Vec<QueryKey>,
    list_keys: Vec<QueryKey>,
    list_target: OverlayTarget,
    pending: Vec<Action>,
    rng: SeededRandom,
}

#[wasm_bindgen]
impl CacheBench {
    /// Fills a cache with `size` entries (as fetched data, fresh at `NOW`) and makes 100
    /// pending actions.
    #[wasm_bindgen(constructor)]
    pub fn new(size: usize) -> CacheBench {
        let fixture = Fixture::new(size);
        let config = CacheConfig {
            max_entries: usize::MAX,
            max_bytes: u64::MAX,
            ..CacheConfig::default()
        };
        let mut rng = SeededRandom::new(1);
        let mut cache = QueryCache::new(config, true);
        for (key, data) in &fixture.entries {
            let event = CacheEvent::SetData {
                key: key.clone(),
                data: data.clone(),
            };
            cache.apply(event, NOW, &mut rng);
        }
        // Nothing here is ever persisted: forget the record of unsaved changes.
        cache.take_dirty();
        // Lives as long as the page: the index borrows from it for the benchmark's lifetime.
        let frozen: &'static QueryCache = Box::leak(Box::new(cache.clone()));
        let index = CaseIndex::from_data(frozen.entries().filter_map(|(_, e)| e.data()));
        let keys: Vec<QueryKey> = fixture.entries.iter().map(|(k, _)| k.clone()).collect();
        let list_keys = keys
            .iter()
            .filter(|k| casedesk_core::KeyScope::CaseLists.matches(k))
            .cloned()
            .collect();
        let pending = fixture::pending(100, fixture.cases);
        CacheBench {
            cache,
            frozen,
            index,
            keys,
            list_keys,
            list_target: OverlayTarget::CaseList(CaseListQuery::default()),
            pending,
            rng,
            fixture,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Never true: the fixture always holds the metrics. (Clippy wants `len`'s partner.)
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The distinct cases the overlay's index knows.
    pub fn known_cases(&self) -> usize {
        self.index.len()
    }

    /// The entries as `[{key, data}]`, in insertion order, each `key` as TanStack's array (see
    /// [`tanstack_key`]) and each `data` as the API sends it.
    pub fn entries_json(&self) -> String {
        let entries: Vec<serde_json::Value> = self
            .fixture
            .entries
            .iter()
            .map(|(key, data)| {
                serde_json::json!({ "key": tanstack_key(key), "data": data_value(data) })
            })
            .collect();
        serde_json::Value::Array(entries).to_string()
    }

    /// What the cache holds for key `i` (as the page numbers them), read back from the cache
    /// as the API's JSON; empty when it holds nothing. `scripts/test`'s side by side compares
    /// it with what TanStack's cache gives for the same key.
    pub fn cached_json(&self, i: usize) -> String {
        self.keys
            .get(i)
            .and_then(|key| self.cache.get(key))
            .and_then(|entry| entry.data())
            .map(data_value)
            .map(|value| value.to_string())
            .unwrap_or_default()
    }

    /// The pending actions as the queue stores them (serde's JSON of `Action`).
    pub fn pending_json(&self) -> String {
        serde_json::to_string(&self.pending).unwrap_or_default()
    }

    /// The query of the list page on screen.
    pub fn list_query_json(&self) -> String {
        match &self.list_target {
            OverlayTarget::CaseList(query) => serde_json::to_string(query).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// One lookup of key `i` (as the page numbers them): whether it holds data.
    pub fn lookup(&self, i: usize) -> bool {
        self.keys
            .get(i)
            .and_then(|key| self.cache.get(key))
            .is_some_and(|entry| entry.data().is_some())
    }

    /// `count` lookups in one call, starting after key `start` and stepping as the page does:
    /// how many held data.
    pub fn lookup_batch(&self, start: usize, count: usize) -> usize {
        let n = self.keys.len().max(1);
        let mut i = start;
        let mut hits = 0;
        for _ in 0..count {
            i = (i + LOOKUP_STEP) % n;
            let hit = self
                .keys
                .get(i)
                .and_then(|key| self.cache.get(black_box(key)))
                .is_some_and(|entry| entry.data().is_some());
            hits += usize::from(black_box(hit));
        }
        hits
    }

    /// Invalidates every list page (`["cases", "list"]`) through the reducer: how many keys
    /// the resulting `Notify` names.
    pub fn invalidate_lists(&mut self) -> usize {
        let commands = self.cache.apply(
            CacheEvent::Invalidate {
                scope: casedesk_core::KeyScope::CaseLists,
            },
            NOW,
            &mut self.rng,
        );
        commands
            .iter()
            .map(|command| match command {
                CacheCommand::Notify { keys } => keys.len(),
                _ => 0,
            })
            .sum()
    }

    /// Invalidates every list page, as [`CacheBench::invalidate_lists`] does, and returns the
    /// keys the resulting `Notify` names, as TanStack's arrays (JSON), for the side by side
    /// to compare with the queries TanStack marks invalidated.
    pub fn invalidate_lists_keys_json(&mut self) -> String {
        let commands = self.cache.apply(
            CacheEvent::Invalidate {
                scope: casedesk_core::KeyScope::CaseLists,
            },
            NOW,
            &mut self.rng,
        );
        let keys: Vec<Vec<String>> = commands
            .iter()
            .flat_map(|command| match command {
                CacheCommand::Notify { keys } => keys.iter().map(tanstack_key).collect(),
                _ => Vec::new(),
            })
            .collect();
        serde_json::to_string(&keys).unwrap_or_default()
    }

    /// Untimed, between invalidation samples: every list page is revalidated (a request and
    /// its 304), so it is fresh again and the next invalidation does the full work.
    pub fn revalidate_lists(&mut self) {
        for key in &self.list_keys {
            let commands = self.cache.apply(
                CacheEvent::FetchRequested { key: key.clone() },
                NOW,
                &mut self.rng,
            );
            for command in commands {
                if let CacheCommand::Fetch { key, fetch, .. } = command {
                    self.cache
                        .apply(CacheEvent::NotModified { key, fetch }, NOW, &mut self.rng);
                }
            }
        }
    }

    /// How many list pages are stale now (to check that invalidation and revalidation work).
    pub fn stale_lists(&self) -> usize {
        self.list_keys
            .iter()
            .filter_map(|key| self.cache.get(key))
            .filter(|entry| entry.is_stale(NOW))
            .count()
    }

    /// Page 1 of the case list as shown with the pending actions, against the index built
    /// once: the overlay's own cost. Returns the number of items shown.
    pub fn list_view(&self) -> usize {
        let view = self.view_of(&self.list_target, &self.index);
        black_box(match view {
            Some(QueryData::CaseList(list)) => list.items.len(),
            _ => 0,
        })
    }

    /// The same with the cache itself answering "which cases are known" (it keeps an index
    /// of where each case is held), as the app's glue does on each recomputation.
    pub fn list_view_indexed(&self) -> usize {
        let view = self.view_of(&self.list_target, self.frozen);
        black_box(match view {
            Some(QueryData::CaseList(list)) => list.items.len(),
            _ => 0,
        })
    }

    /// The dashboard metrics as shown with the pending actions, against the index built once.
    /// Returns the number of open cases shown.
    pub fn metrics_view(&self) -> u32 {
        let view = self.view_of(&OverlayTarget::Metrics, &self.index);
        black_box(match view {
            Some(QueryData::Metrics(metrics)) => open_count(&metrics),
            _ => 0,
        })
    }

    /// The same with the cache itself answering "which cases are known", as the app's glue does.
    pub fn metrics_view_indexed(&self) -> u32 {
        let view = self.view_of(&OverlayTarget::Metrics, self.frozen);
        black_box(match view {
            Some(QueryData::Metrics(metrics)) => open_count(&metrics),
            _ => 0,
        })
    }

    /// The list page's view as the API's JSON, with known cases from the prebuilt index or
    /// (`from_cache`) from the cache, for the page to check that TanStack's optimistic updates
    /// arrive at exactly the same page.
    pub fn list_view_json(&self, from_cache: bool) -> String {
        let known: &dyn KnownCases = if from_cache { self.frozen } else { &self.index };
        match self.view_of(&self.list_target, known) {
            Some(QueryData::CaseList(list)) => serde_json::to_string(&list).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The metrics' view as the API's JSON, likewise.
    pub fn metrics_view_json(&self, from_cache: bool) -> String {
        let known: &dyn KnownCases = if from_cache { self.frozen } else { &self.index };
        match self.view_of(&OverlayTarget::Metrics, known) {
            Some(QueryData::Metrics(metrics)) => {
                serde_json::to_string(&metrics).unwrap_or_default()
            }
            _ => String::new(),
        }
    }
}

/// The open cases the metrics show, as a number JavaScript reads without a BigInt.
fn open_count(metrics: &casedesk_model::DashboardMetrics) -> u32 {
    u32::try_from(metrics.by_status.open).unwrap_or(u32::MAX)
}

impl CacheBench {
    /// What the app's glue does for a view: the target's key, its cached server data, and
    /// the overlay of the pending actions on it.
    fn view_of(&self, target: &OverlayTarget, index: &dyn KnownCases) -> Option<QueryData> {
        let key = target.key();
        let server = self.frozen.get(&key).and_then(|entry| entry.data());
        overlay::view(target, server, &self.pending, index)
    }
}

/// Cached data as the API sends it.
fn data_value(data: &QueryData) -> serde_json::Value {
    let value = match data {
        QueryData::Case(case) => serde_json::to_value(case),
        QueryData::CaseList(list) => serde_json::to_value(list),
        QueryData::Notes(notes) => serde_json::to_value(notes),
        QueryData::Metrics(metrics) => serde_json::to_value(metrics),
        QueryData::Users(people) => serde_json::to_value(people),
        QueryData::History(entries) => serde_json::to_value(entries),
    };
    value.unwrap_or_default()
}

/// TanStack's key for one of ours: an array of the segments of the key's path, as an app
/// using TanStack would write it (`["cases", "list", "status=open"]`, `["dashboard",
/// "metrics"]`, `["cases", id]`, `["notes", id]`). Ours is a typed enum; its path form keeps
/// a list's query string whole, so it stays one segment and list pages share the
/// `["cases", "list"]` prefix TanStack invalidates by.
fn tanstack_key(key: &QueryKey) -> Vec<String> {
    let path = key.to_string();
    let segments = if path.starts_with("cases/list/") {
        3
    } else {
        usize::MAX
    };
    path.splitn(segments, '/').map(str::to_owned).collect()
}
