//! The query cache: every entry by key, and the one reducer through which all of them change.
//! Events come in (a view mounts, an answer lands, the network returns, a timer fires);
//! commands go out (fetch, cancel, wake me at, notify these keys, persist soon).

use crate::clock::{Millis, Random};
use crate::data::QueryData;
use crate::diagnostics::{
    CacheFootprint, Diagnostics, DiagnosticsSnapshot, ErrorRecord, LookupOutcome, RequestOutcome,
    RequestSample,
};
use crate::entry::{estimate_size, FetchId, FetchState, QueryEntry, QueryOptions, WaitReason};
use crate::failure::Failure;
use crate::key::{KeyScope, QueryKey};
use crate::overlay::KnownCases;
use crate::persist::{PersistDelta, PersistedEntry};
use crate::tab_share::{SharedAnswer, SharedRecord};
use casedesk_model::{etag_for_version, Case};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use uuid::Uuid;

/// Cache-wide settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// At most this many entries; beyond it the least recently used unobserved ones go.
    pub max_entries: usize,
    /// At most this many bytes of response bodies, likewise.
    pub max_bytes: u64,
    /// Options for entries created without an observer (prefetch, `SetData`, restore).
    pub defaults: QueryOptions,
}

impl CacheConfig {
    /// 500: a person works through tens of cases and a handful of list filters in a session;
    /// 500 keys hold all of that many times over, and keep every prefix scan and eviction
    /// pass in the microseconds (see the benchmark).
    pub const DEFAULT_MAX_ENTRIES: usize = 500;

    /// 5 MiB of JSON: a case is ~1 KB and a 50-case page ~40 KB, so this holds a long
    /// session's working set, while the decoded data stays a few times that in wasm memory
    /// (fine on a phone) and a restore from IndexedDB decodes it in tens of milliseconds.
    pub const DEFAULT_MAX_BYTES: u64 = 5 * 1024 * 1024;
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            defaults: QueryOptions::DEFAULT,
        }
    }
}

/// Something that happened, fed to [`QueryCache::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum CacheEvent {
    /// A view mounted and shows `key`. Fresh data: nothing to do; stale: shown and
    /// revalidated in the background; none: fetched.
    Observe {
        key: QueryKey,
        options: QueryOptions,
    },
    /// A view that observed `key` unmounted.
    Unobserve {
        key: QueryKey,
    },
    /// Warm the cache (link hover): fetch if missing or stale, without observing.
    Prefetch {
        key: QueryKey,
    },
    /// Refetch now, whatever the data's age (an explicit "refresh", or after a mutation).
    FetchRequested {
        key: QueryKey,
    },
    /// Request `fetch` answered 2xx with a body.
    FetchSucceeded {
        key: QueryKey,
        fetch: FetchId,
        data: QueryData,
        etag: Option<String>,
        /// The response body's length.
        size_bytes: u64,
    },
    /// Request `fetch` answered 304: the cached data is current; nothing to decode.
    NotModified {
        key: QueryKey,
        fetch: FetchId,
    },
    /// Request `fetch` failed.
    FetchFailed {
        key: QueryKey,
        fetch: FetchId,
        failure: Failure,
    },
    /// The glue could not send request `fetch` (the request budget had no token): the cache
    /// asks again at `until`. Not counted as an attempt.
    FetchDeferred {
        key: QueryKey,
        fetch: FetchId,
        until: Millis,
    },
    /// Everything `scope` reaches is stale; observed entries refetch.
    Invalidate {
        scope: KeyScope,
    },
    /// Authoritative data from elsewhere (the server's answer to a mutation). A case's ETag
    /// is derived from its version; other data gets none.
    SetData {
        key: QueryKey,
        data: QueryData,
    },
    /// Forget everything `scope` reaches. Observed entries are emptied and refetched.
    Remove {
        scope: KeyScope,
    },
    WindowFocused,
    NetworkOnline,
    NetworkOffline,
    /// The timer asked for by `ScheduleWake` fired (or any time: an early tick is harmless).
    Tick,
    /// Entries read from storage at start-up.
    Restore {
        entries: Vec<PersistedEntry>,
    },
    /// Another tab of the same person gave this answer for its key: taken when newer than
    /// what the entry holds (never creating an entry). With `fetch`, that request was waiting
    /// for the siblings: it ends unsent when the entry is fresh now, else it still goes out.
    /// Not persisted here: the tab that fetched it writes it.
    Shared {
        fetch: Option<FetchId>,
        answer: SharedAnswer,
    },
}

/// Something the glue must do, returned by [`QueryCache::apply`] in this order: fetches and
/// cancellations, then one `Notify`, then `ScheduleWake`, then `PersistSoon`.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheCommand {
    /// Send `GET` for `key`, with `If-None-Match` when given; answer with `FetchSucceeded`,
    /// `NotModified`, `FetchFailed` or (no budget) `FetchDeferred`, quoting `fetch`.
    Fetch {
        key: QueryKey,
        fetch: FetchId,
        if_none_match: Option<String>,
    },
    /// Abort request `fetch` (its view went away, or its entry was removed). An answer that
    /// arrives anyway is ignored.
    CancelFetch { key: QueryKey, fetch: FetchId },
    /// Feed `Tick` at `at` (replacing any earlier timer: this is always the earliest).
    ScheduleWake { at: Millis },
    /// These keys' visible state changed: update their views, in one batch.
    Notify { keys: Vec<QueryKey> },
    /// There are unsaved changes: call `take_dirty` soon (throttled, e.g. within 1 s).
    PersistSoon,
}

/// What one `apply` call accumulates before it turns into commands.
#[derive(Default)]
struct Effects {
    requests: Vec<CacheCommand>,
    touched: Vec<QueryKey>,
    removed: Vec<QueryKey>,
    /// Keys whose visible change was taken where it happened, moving no deadline and no
    /// data (an invalidation): notified without looking the entry up again.
    notified: Vec<QueryKey>,
    wake: Option<Millis>,
}

impl Effects {
    fn wake_at(&mut self, at: Millis) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }
}

/// All cached queries, changed only through [`QueryCache::apply`].
#[derive(Clone, Debug)]
pub struct QueryCache {
    /// Ordered by key, so the list pages form one contiguous range: invalidating every
    /// list visits only the list pages.
    entries: BTreeMap<QueryKey, QueryEntry>,
    config: CacheConfig,
    online: bool,
    next_fetch_id: u64,
    next_access_seq: u64,
    total_bytes: u64,
    /// The earliest wake the glue was asked for and has not yet answered with `Tick`.
    scheduled_wake: Option<Millis>,
    /// Keys whose stored record is out of date.
    dirty: BTreeSet<QueryKey>,
    diagnostics: Diagnostics,
    /// Which entries hold each case (its own entry, the list pages showing it), kept current
    /// in `finish`: the overlay asks for a few cases per view, and scanning every entry for
    /// them made a view cost O(cache) (3.7 ms at 10,000 entries in the browser benchmark).
    case_holders: HashMap<Uuid, BTreeSet<QueryKey>>,
    /// The other direction, so a changed entry's old cases can be withdrawn.
    held_by_key: HashMap<QueryKey, Vec<Uuid>>,
}

impl QueryCache {
    /// An empty cache; `online` is the platform's current belief (`navigator.onLine`).
    pub fn new(config: CacheConfig, online: bool) -> Self {
        Self {
            entries: BTreeMap::new(),
            config,
            online,
            next_fetch_id: 1,
            next_access_seq: 0,
            total_bytes: 0,
            scheduled_wake: None,
            dirty: BTreeSet::new(),
            diagnostics: Diagnostics::new(),
            case_holders: HashMap::new(),
            held_by_key: HashMap::new(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Replaces the options new entries get and views observe with (TanStack's
    /// `setDefaultOptions`). Entries keep the options they were observed with until a view
    /// observes them again.
    pub fn set_default_options(&mut self, options: QueryOptions) {
        self.config.defaults = options;
    }

    pub fn get(&self, key: &QueryKey) -> Option<&QueryEntry> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Every entry `scope` reaches, in key order.
    pub fn entries_in<'a>(
        &'a self,
        scope: &'a KeyScope,
    ) -> Box<dyn Iterator<Item = (&'a QueryKey, &'a QueryEntry)> + 'a> {
        match scope {
            KeyScope::Everything => Box::new(self.entries.iter()),
            KeyScope::Key(key) => Box::new(self.entries.get_key_value(key).into_iter()),
            KeyScope::CaseLists => Box::new(
                self.entries
                    .range::<QueryKey, _>((
                        Bound::Excluded(QueryKey::before_every_list()),
                        Bound::Unbounded,
                    ))
                    .take_while(|(key, _)| matches!(key, QueryKey::CaseList(_))),
            ),
            KeyScope::OfCase(id) => Box::new(
                QueryKey::of_case(*id)
                    .into_iter()
                    .filter_map(move |key| self.entries.get_key_value(&key)),
            ),
        }
    }

    /// The keys `scope` reaches, for handlers that add or drop entries as they go.
    fn keys_in(&self, scope: &KeyScope) -> Vec<QueryKey> {
        self.entries_in(scope).map(|(key, _)| key.clone()).collect()
    }

    /// Runs `f` on every entry `scope` reaches, in place: no key is cloned or looked up
    /// again, which made invalidating every list ten times slower at 1,000 entries.
    fn each_in_mut(&mut self, scope: &KeyScope, mut f: impl FnMut(&QueryKey, &mut QueryEntry)) {
        match scope {
            KeyScope::Everything => self.entries.iter_mut().for_each(|(k, e)| f(k, e)),
            KeyScope::Key(key) => {
                if let Some(entry) = self.entries.get_mut(key) {
                    f(key, entry);
                }
            }
            KeyScope::CaseLists => self
                .entries
                .range_mut::<QueryKey, _>((
                    Bound::Excluded(QueryKey::before_every_list()),
                    Bound::Unbounded,
                ))
                .take_while(|(key, _)| matches!(key, QueryKey::CaseList(_)))
                .for_each(|(k, e)| f(k, e)),
            KeyScope::OfCase(id) => {
                for key in QueryKey::of_case(*id) {
                    if let Some(entry) = self.entries.get_mut(&key) {
                        f(&key, entry);
                    }
                }
            }
        }
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&QueryKey, &QueryEntry)> {
        self.entries.iter()
    }

    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// For the glue to record the action queue's requests and errors beside the queries'.
    pub fn diagnostics_mut(&mut self) -> &mut Diagnostics {
        &mut self.diagnostics
    }

    pub fn diagnostics_snapshot(&self, now: Millis) -> DiagnosticsSnapshot {
        let footprint = CacheFootprint {
            entries: self.entries.len(),
            observed: self.entries.values().filter(|e| e.is_observed()).count(),
            bytes: self.total_bytes,
        };
        self.diagnostics.snapshot(now, footprint)
    }

    /// The records to write and delete since the last call; clears the record of changes.
    /// A key changed several times is written once, in its latest state.
    pub fn take_dirty(&mut self) -> PersistDelta {
        let mut delta = PersistDelta::default();
        for key in std::mem::take(&mut self.dirty) {
            let stored = self.entries.get(&key).and_then(|entry| {
                Some(PersistedEntry {
                    data: entry.data()?.clone(),
                    etag: entry.etag().map(str::to_owned),
                    fetched_at: entry.fetched_at()?,
                    size_bytes: entry.size_bytes(),
                    key: key.clone(),
                })
            });
            match stored {
                Some(record) => delta.upserts.push(record),
                None => delta.removals.push(key),
            }
        }
        delta
    }

    /// Whether there are changes `take_dirty` would return.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The one reducer: applies `event` at `now` and returns what the glue must do.
    /// `rng` supplies retry jitter.
    pub fn apply(
        &mut self,
        event: CacheEvent,
        now: Millis,
        rng: &mut dyn Random,
    ) -> Vec<CacheCommand> {
        self.apply_all(std::iter::once(event), now, rng)
    }

    /// Applies `events` in order as one step: the commands of all of them, with one
    /// `Notify` for every key any of them changed. What a confirmed action does to the
    /// cache lands this way, so no view sees a state between two of its events.
    pub fn apply_all(
        &mut self,
        events: impl IntoIterator<Item = CacheEvent>,
        now: Millis,
        rng: &mut dyn Random,
    ) -> Vec<CacheCommand> {
        let mut fx = Effects::default();
        let was_dirty = self.has_dirty();
        for event in events {
            self.reduce(event, now, rng, &mut fx);
        }
        self.enforce_bounds(&mut fx);
        self.finish(fx, was_dirty)
    }

    fn reduce(&mut self, event: CacheEvent, now: Millis, rng: &mut dyn Random, fx: &mut Effects) {
        match event {
            CacheEvent::Observe { key, options } => self.observe(key, options, now, fx),
            CacheEvent::Unobserve { key } => self.unobserve(key, now, fx),
            CacheEvent::Prefetch { key } => self.prefetch(key, now, fx),
            CacheEvent::FetchRequested { key } => self.fetch_requested(key, now, fx),
            CacheEvent::FetchSucceeded {
                key,
                fetch,
                data,
                etag,
                size_bytes,
            } => self.fetch_succeeded(key, fetch, data, etag, size_bytes, now, fx),
            CacheEvent::NotModified { key, fetch } => self.not_modified(key, fetch, now, fx),
            CacheEvent::FetchFailed {
                key,
                fetch,
                failure,
            } => self.fetch_failed(key, fetch, failure, now, rng, fx),
            CacheEvent::FetchDeferred { key, fetch, until } => {
                if let Some(entry) = self.entries.get_mut(&key) {
                    if entry.defer(fetch, until) {
                        fx.touched.push(key);
                    }
                }
            }
            CacheEvent::Invalidate { scope } => self.invalidate(&scope, now, fx),
            CacheEvent::SetData { key, data } => self.set_data(key, data, now, fx),
            CacheEvent::Remove { scope } => self.remove(&scope, now, fx),
            CacheEvent::WindowFocused => self.window_focused(now, fx),
            CacheEvent::NetworkOnline => self.network_online(now, fx),
            CacheEvent::NetworkOffline => self.online = false,
            CacheEvent::Tick => self.tick(now, fx),
            CacheEvent::Restore { entries } => self.restore(entries, now, fx),
            CacheEvent::Shared { fetch, answer } => self.shared(fetch, answer, now, fx),
        }
    }

    // ---- event handlers ----

    fn observe(&mut self, key: QueryKey, options: QueryOptions, now: Millis, fx: &mut Effects) {
        let seq = self.next_seq();
        let entry = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| QueryEntry::new(options, now, seq));
        let outcome = if entry.data().is_none() {
            LookupOutcome::Miss
        } else if entry.is_stale(now) {
            LookupOutcome::StaleHit
        } else {
            LookupOutcome::Hit
        };
        entry.observe(options, now, seq);
        // A request already in flight, a scheduled retry or a paused fetch serves this view
        // too: one fetch per key however many views ask.
        let wants_fetch = entry.is_stale(now) && entry.fetch_state() == FetchState::Idle;
        self.diagnostics.record_lookup(outcome);
        fx.touched.push(key.clone());
        if wants_fetch {
            self.start_fetch(&key, now, fx);
        }
    }

    fn unobserve(&mut self, key: QueryKey, now: Millis, fx: &mut Effects) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        // An orphaned request is cancelled at the next tick (its deadline is now), not here:
        // a view that re-mounts in the same turn (a route re-render) adopts it instead of
        // paying for a new one.
        if entry.unobserve(now) {
            fx.touched.push(key);
        }
    }

    fn prefetch(&mut self, key: QueryKey, now: Millis, fx: &mut Effects) {
        let entry = self.entry_or_new(&key, now, fx);
        let wants_fetch = entry.is_stale(now) && entry.fetch_state() == FetchState::Idle;
        if wants_fetch {
            self.start_fetch(&key, now, fx);
        }
    }

    fn fetch_requested(&mut self, key: QueryKey, now: Millis, fx: &mut Effects) {
        self.entry_or_new(&key, now, fx);
        self.start_fetch(&key, now, fx);
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_succeeded(
        &mut self,
        key: QueryKey,
        fetch: FetchId,
        data: QueryData,
        etag: Option<String>,
        size_bytes: u64,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        let old_size = entry.size_bytes();
        let Some(done) = entry.succeed(fetch, data, etag, size_bytes, now) else {
            return;
        };
        self.total_bytes = self
            .total_bytes
            .saturating_sub(old_size)
            .saturating_add(entry.size_bytes());
        let refetch = done.refetch_after && entry.is_observed();
        self.dirty.insert(key.clone());
        self.record_request(&key, done.elapsed, RequestOutcome::Ok, now);
        fx.touched.push(key.clone());
        if refetch {
            self.start_fetch(&key, now, fx);
        }
    }

    fn not_modified(&mut self, key: QueryKey, fetch: FetchId, now: Millis, fx: &mut Effects) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        let Some(done) = entry.not_modified(fetch, now) else {
            return;
        };
        // A 304 only moves `fetched_at`; the stored record is not rewritten for it. After a
        // reload the entry merely looks older and revalidates with one more cheap 304.
        let refetch = entry.is_observed() && (done.refetch_after || entry.data().is_none());
        self.record_request(&key, done.elapsed, RequestOutcome::NotModified, now);
        fx.touched.push(key.clone());
        if refetch {
            self.start_fetch(&key, now, fx);
        }
    }

    fn fetch_failed(
        &mut self,
        key: QueryKey,
        fetch: FetchId,
        failure: Failure,
        now: Millis,
        rng: &mut dyn Random,
        fx: &mut Effects,
    ) {
        let online = self.online;
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        // The retry time (if any) is the entry's next deadline, scheduled by `finish`.
        let Some((done, _after)) = entry.fail(fetch, failure.clone(), now, online, rng) else {
            return;
        };
        fx.touched.push(key.clone());
        // A request the browser never sent is not a server error worth showing.
        if online && !failure.is_offline() {
            self.record_request(&key, done.elapsed, RequestOutcome::Failed, now);
            self.diagnostics
                .record_error(ErrorRecord::of(now, key.to_string(), &failure));
        }
    }

    fn invalidate(&mut self, scope: &KeyScope, now: Millis, fx: &mut Effects) {
        let mut to_fetch = Vec::new();
        self.each_in_mut(scope, |key, entry| {
            // Marked in place and its change taken here: `finish` does not look the entry up
            // again (at 10,000 entries in wasm, the second lookup of every list page and the
            // ordered set of notified keys were most of the invalidation's time).
            if entry.invalidate(now) && entry.take_changed() {
                fx.notified.push(key.clone());
            }
            // In flight: flagged to refetch when it lands. Waiting or paused: the planned
            // attempt will fetch the new state anyway.
            if entry.is_observed() && entry.fetch_state() == FetchState::Idle {
                to_fetch.push(key.clone());
            }
        });
        for key in to_fetch {
            self.start_fetch(&key, now, fx);
        }
    }

    fn shared(
        &mut self,
        fetch: Option<FetchId>,
        answer: SharedAnswer,
        now: Millis,
        fx: &mut Effects,
    ) {
        let key = match &answer {
            SharedAnswer::Record(record) => &record.key,
            SharedAnswer::Stamp(stamp) => &stamp.key,
        };
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let old_size = entry.size_bytes();
        let mut changed = match &answer {
            SharedAnswer::Record(record) => entry.adopt_shared(record),
            SharedAnswer::Stamp(stamp) => entry.adopt_stamp(stamp),
        };
        self.total_bytes = self
            .total_bytes
            .saturating_sub(old_size)
            .saturating_add(entry.size_bytes());
        if let Some(fetch) = fetch {
            changed |= entry.settle_shared(fetch, now);
        }
        if changed {
            fx.touched.push(key.clone());
        }
    }

    /// What this cache holds for `key`, as handed to another tab; `live`: the live socket is
    /// open (fresh data is then vouched for as current now).
    pub fn shared_record(&self, key: &QueryKey, now: Millis, live: bool) -> Option<SharedRecord> {
        self.entries.get(key)?.shared_record(key, now, live)
    }

    fn set_data(&mut self, key: QueryKey, data: QueryData, now: Millis, fx: &mut Effects) {
        let size = estimate_size(&data);
        let etag = match &data {
            QueryData::Case(case) => Some(etag_for_version(case.version)),
            _ => None,
        };
        // `entry_or_new` stamps the access (and creates the entry when absent).
        let entry = self.entry_or_new(&key, now, fx);
        let old_size = entry.size_bytes();
        if entry.set_data(data, etag, size, now) {
            self.total_bytes = self
                .total_bytes
                .saturating_sub(old_size)
                .saturating_add(size);
            self.dirty.insert(key);
        }
    }

    fn remove(&mut self, scope: &KeyScope, now: Millis, fx: &mut Effects) {
        for key in self.keys_in(scope) {
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if !entry.is_observed() {
                self.remove_entry(&key, fx);
                continue;
            }
            // A view still shows it: empty it, keep the observers, and fetch the truth.
            if let Some(fetch) = entry.cancel_fetch() {
                fx.requests.push(CacheCommand::CancelFetch {
                    key: key.clone(),
                    fetch,
                });
            }
            self.total_bytes = self.total_bytes.saturating_sub(entry.size_bytes());
            entry.reset();
            self.dirty.insert(key.clone());
            fx.touched.push(key.clone());
            self.start_fetch(&key, now, fx);
        }
    }

    fn window_focused(&mut self, now: Millis, fx: &mut Effects) {
        let keys: Vec<QueryKey> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.is_observed()
                    && e.options().refetch_on_focus
                    && e.fetch_state() == FetchState::Idle
                    && e.is_stale(now)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.start_fetch(&key, now, fx);
        }
    }

    fn network_online(&mut self, now: Millis, fx: &mut Effects) {
        self.online = true;
        let keys: Vec<QueryKey> = self
            .entries
            .iter()
            .filter(|(_, e)| match e.fetch_state() {
                FetchState::Paused => true,
                // Backoff most likely waited out the very outage that just ended.
                FetchState::Waiting {
                    reason: WaitReason::Backoff,
                    ..
                } => e.is_observed(),
                FetchState::Idle => {
                    e.is_observed() && e.options().refetch_on_reconnect && e.is_stale(now)
                }
                FetchState::Waiting { .. } | FetchState::InFlight { .. } => false,
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.start_fetch(&key, now, fx);
        }
    }

    fn tick(&mut self, now: Millis, fx: &mut Effects) {
        // Whatever was scheduled has fired; the wake is recomputed from scratch below.
        self.scheduled_wake = None;
        let mut due = Vec::new();
        let mut orphans = Vec::new();
        let mut expired = Vec::new();
        for (key, entry) in &self.entries {
            match entry.fetch_state() {
                FetchState::Waiting { at, .. } if at <= now => due.push(key.clone()),
                FetchState::InFlight { orphaned: true, .. } if !entry.is_observed() => {
                    orphans.push(key.clone());
                }
                _ => {}
            }
            if entry.gc_due_at().is_some_and(|at| at <= now) {
                expired.push(key.clone());
            }
        }
        for key in orphans {
            if let Some(entry) = self.entries.get_mut(&key) {
                // Aborting frees the connection and the budget token for the view that
                // replaced this one; the entry keeps its old data and stays stale, so the
                // next view to ask refetches. See the report's note on cancel vs. finish.
                if let Some(fetch) = entry.cancel_fetch() {
                    fx.requests.push(CacheCommand::CancelFetch {
                        key: key.clone(),
                        fetch,
                    });
                }
                fx.touched.push(key);
            }
        }
        for key in expired {
            self.remove_entry(&key, fx);
        }
        for key in due {
            if self.entries.contains_key(&key) {
                self.start_fetch(&key, now, fx);
            }
        }
        if let Some(at) = self.earliest_deadline() {
            fx.wake_at(at);
        }
    }

    fn restore(&mut self, mut entries: Vec<PersistedEntry>, now: Millis, fx: &mut Effects) {
        // Oldest first, so LRU order follows the data's age.
        crate::sort::sort_by_key(&mut entries, |e| e.fetched_at);
        for stored in entries {
            if self
                .entries
                .get(&stored.key)
                .is_some_and(|e| e.data().is_some())
            {
                continue; // live data beat the store to it
            }
            let seq = self.next_seq();
            let defaults = self.config.defaults;
            let entry = self
                .entries
                .entry(stored.key.clone())
                .or_insert_with(|| QueryEntry::new(defaults, now, seq));
            if entry.set_data(
                stored.data,
                stored.etag,
                stored.size_bytes,
                stored.fetched_at,
            ) {
                entry.mark_restored();
                self.total_bytes = self.total_bytes.saturating_add(stored.size_bytes);
            }
            fx.touched.push(stored.key);
        }
    }

    // ---- shared steps ----

    fn next_seq(&mut self) -> u64 {
        self.next_access_seq = self.next_access_seq.wrapping_add(1);
        self.next_access_seq
    }

    /// The entry for `key`, created unobserved (with the default options) when absent.
    fn entry_or_new(&mut self, key: &QueryKey, now: Millis, fx: &mut Effects) -> &mut QueryEntry {
        let seq = self.next_seq();
        let defaults = self.config.defaults;
        let entry = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| QueryEntry::new(defaults, now, seq));
        entry.touch(now, seq);
        fx.touched.push(key.clone());
        entry
    }

    /// Starts a request for `key` unless one is in flight (then it is shared); pauses it
    /// instead while offline, where attempts would only fail and count.
    fn start_fetch(&mut self, key: &QueryKey, now: Millis, fx: &mut Effects) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.in_flight().is_some() {
            return;
        }
        fx.touched.push(key.clone());
        if !self.online {
            entry.pause();
            return;
        }
        let fetch = FetchId(self.next_fetch_id);
        self.next_fetch_id = self.next_fetch_id.wrapping_add(1);
        let if_none_match = entry.begin_fetch(fetch, now);
        fx.requests.push(CacheCommand::Fetch {
            key: key.clone(),
            fetch,
            if_none_match,
        });
    }

    /// Drops an entry, aborting its request if one is in flight.
    fn remove_entry(&mut self, key: &QueryKey, fx: &mut Effects) {
        let Some(mut entry) = self.entries.remove(key) else {
            return;
        };
        if let Some(fetch) = entry.cancel_fetch() {
            fx.requests.push(CacheCommand::CancelFetch {
                key: key.clone(),
                fetch,
            });
        }
        self.total_bytes = self.total_bytes.saturating_sub(entry.size_bytes());
        self.dirty.insert(key.clone());
        fx.removed.push(key.clone());
    }

    /// Evicts least recently used unobserved entries until both bounds hold, or nothing
    /// unobserved is left. An observed entry is never evicted: a view is showing it.
    fn enforce_bounds(&mut self, fx: &mut Effects) {
        let max_entries = self.config.max_entries;
        let max_bytes = self.config.max_bytes;
        if self.entries.len() <= max_entries && self.total_bytes <= max_bytes {
            return;
        }
        let mut candidates: Vec<(u64, u64, &QueryKey)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.is_observed())
            .map(|(key, e)| (e.access_seq(), e.size_bytes(), key))
            .collect();
        crate::sort::sort_by_key(&mut candidates, |(seq, _, _)| *seq);
        let mut count = self.entries.len();
        let mut bytes = self.total_bytes;
        let mut victims = Vec::new();
        for (_, size, key) in candidates {
            if count <= max_entries && bytes <= max_bytes {
                break;
            }
            count -= 1;
            bytes = bytes.saturating_sub(size);
            victims.push(key.clone());
        }
        for key in victims {
            self.remove_entry(&key, fx);
        }
    }

    /// The earliest time something is due: a retry, an orphan's cancellation, a GC.
    fn earliest_deadline(&self) -> Option<Millis> {
        self.entries
            .values()
            .filter_map(QueryEntry::next_deadline)
            .min()
    }

    fn record_request(
        &mut self,
        key: &QueryKey,
        duration: crate::clock::DurationMs,
        outcome: RequestOutcome,
        now: Millis,
    ) {
        self.diagnostics.record_request(RequestSample {
            at: now,
            subject: key.to_string(),
            duration,
            outcome,
        });
    }

    /// Turns the accumulated effects into commands, in the documented order.
    fn finish(&mut self, fx: Effects, was_dirty: bool) -> Vec<CacheCommand> {
        let Effects {
            mut requests,
            touched,
            removed,
            mut notified,
            wake,
        } = fx;
        let mut wake = wake;
        for key in &removed {
            self.reindex(key);
        }
        // A vector sorted once at the end: the keys mostly arrive in key order already (a
        // scope's walk), which the sort checks in one pass.
        let mut notify: Vec<QueryKey> = removed;
        for key in touched {
            let mut data_changed = false;
            if let Some(entry) = self.entries.get_mut(&key) {
                // Every entry an event touched may have a new deadline; the rest kept theirs,
                // which the scheduled wake already covers.
                if let Some(at) = entry.next_deadline() {
                    wake = Some(wake.map_or(at, |w: Millis| w.min(at)));
                }
                if entry.take_changed() {
                    notify.push(key.clone());
                }
                // Only a replaced or dropped answer moves the case index: an invalidation
                // touches every list page, and redoing 50 cases per page made it 50x slower
                // at 10,000 entries.
                data_changed = entry.take_data_changed();
            }
            if data_changed {
                self.reindex(&key);
            }
        }
        notify.append(&mut notified);
        if !notify.is_empty() {
            notify.sort_unstable();
            notify.dedup();
            requests.push(CacheCommand::Notify { keys: notify });
        }
        if let Some(at) = wake {
            if self.scheduled_wake.is_none_or(|scheduled| at < scheduled) {
                self.scheduled_wake = Some(at);
                requests.push(CacheCommand::ScheduleWake { at });
            }
        }
        if !was_dirty && self.has_dirty() {
            requests.push(CacheCommand::PersistSoon);
        }
        requests
    }
}

impl QueryCache {
    /// Brings the case index up to date with what `key` holds now (or its absence).
    fn reindex(&mut self, key: &QueryKey) {
        for id in self.held_by_key.remove(key).unwrap_or_default() {
            if let Some(holders) = self.case_holders.get_mut(&id) {
                holders.remove(key);
                if holders.is_empty() {
                    self.case_holders.remove(&id);
                }
            }
        }
        let ids: Vec<Uuid> = match self.entries.get(key).and_then(QueryEntry::data) {
            Some(QueryData::Case(case)) => vec![case.id],
            Some(QueryData::CaseList(list)) => list.items.iter().map(|case| case.id).collect(),
            Some(
                QueryData::Notes(_)
                | QueryData::Metrics(_)
                | QueryData::Users(_)
                | QueryData::History(_),
            )
            | None => Vec::new(),
        };
        for id in &ids {
            self.case_holders
                .entry(*id)
                .or_default()
                .insert(key.clone());
        }
        if !ids.is_empty() {
            self.held_by_key.insert(key.clone(), ids);
        }
    }
}

/// The cache answers the overlay's "what does the server hold for this case?" directly: the
/// highest version among the entries that hold it.
impl KnownCases for QueryCache {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.case_holders
            .get(&id)?
            .iter()
            .filter_map(|key| match self.entries.get(key)?.data()? {
                QueryData::Case(case) if case.id == id => Some(case),
                QueryData::CaseList(list) => list.items.iter().find(|case| case.id == id),
                _ => None,
            })
            .max_by_key(|case| case.version)
    }
}

#[cfg(test)]
pub(crate) mod tests;
