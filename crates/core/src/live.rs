//! From the server's change events to cache effects: which keys to invalidate, remove or
//! leave alone given what the cache holds, and the coalescing that turns a flood of events
//! into one invalidation per key per window.

use crate::cache::{CacheEvent, QueryCache};
use crate::clock::{DurationMs, Millis};
use crate::data::QueryData;
use crate::entry::QueryEntry;
use crate::key::{KeyScope, QueryKey};
use casedesk_model::{ChangeEvent, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The cache effects of one change event, given what `cache` holds now.
pub fn effects_of(event: &ChangeEvent, cache: &QueryCache) -> Vec<CacheEvent> {
    let mut batch = ChangeBatch::default();
    batch.add(event.clone());
    batch.effects(cache)
}

/// A case's change: its newest version seen in the batch and when the server made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CaseChange {
    version: u64,
    at: Timestamp,
}

/// Change events merged: per case only the newest version counts, a deletion supersedes
/// every other change to the case, and `resync` supersedes everything.
///
/// Its effects avoid refetches that cannot bring anything new. A key is left alone when the
/// cache can prove it already reflects the change: the cached case is at the event's version
/// or later (our own change echoing back), a list page holds the case at that version, a
/// page or the metrics were requested after the client knew of the change, or the metrics
/// were generated after it (both times from the server's clock).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeBatch {
    resync: bool,
    /// Created or updated cases (creation is an update from nothing, for the cache).
    changed: BTreeMap<Uuid, CaseChange>,
    deleted: BTreeSet<Uuid>,
    /// New notes by case.
    notes: BTreeMap<Uuid, BTreeSet<Uuid>>,
    /// The latest server time of any case change: metrics generated at or after it count
    /// every change in the batch.
    latest_case_change: Option<Timestamp>,
}

impl ChangeBatch {
    /// Merges `event`; returns whether it can affect the cache (pings cannot).
    pub fn add(&mut self, event: ChangeEvent) -> bool {
        match event {
            ChangeEvent::CaseCreated { id, version, at }
            | ChangeEvent::CaseUpdated { id, version, at } => {
                self.note_case_time(at);
                if !self.deleted.contains(&id) {
                    let change = self.changed.entry(id).or_insert(CaseChange { version, at });
                    if version >= change.version {
                        *change = CaseChange { version, at };
                    }
                }
            }
            ChangeEvent::CaseDeleted { id, at } => {
                self.note_case_time(at);
                self.changed.remove(&id);
                self.deleted.insert(id);
            }
            ChangeEvent::NoteCreated { id, case_id, .. } => {
                self.notes.entry(case_id).or_default().insert(id);
            }
            ChangeEvent::Resync { .. } => self.resync = true,
            ChangeEvent::Ping | ChangeEvent::Pong => return false,
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        !self.resync && self.changed.is_empty() && self.deleted.is_empty() && self.notes.is_empty()
    }

    fn note_case_time(&mut self, at: Timestamp) {
        self.latest_case_change = self.latest_case_change.max(Some(at));
    }

    /// What the batch does to `cache`: each key at most once.
    pub fn effects(&self, cache: &QueryCache) -> Vec<CacheEvent> {
        if self.resync {
            // We missed events: nothing cached can be trusted. Everything goes stale and
            // what is on screen refetches.
            return vec![CacheEvent::Invalidate {
                scope: KeyScope::Everything,
            }];
        }
        let mut invalidate = BTreeSet::new();
        let mut remove = BTreeSet::new();

        for (&id, change) in &self.changed {
            let key = QueryKey::case(id);
            if cache
                .get(&key)
                .and_then(cached_case_version)
                .is_some_and(|cached| cached < change.version)
            {
                invalidate.insert(key);
                // The change has a history entry the cached history lacks.
                let history = QueryKey::History(id);
                if cache.get(&history).is_some() {
                    invalidate.insert(history);
                }
            }
        }
        for &id in &self.deleted {
            // On screen: refetch, so the view learns it is gone (404) while still showing
            // what it was. Off screen: forget it, so nobody paints a deleted case later.
            for key in [
                QueryKey::case(id),
                QueryKey::notes(id),
                QueryKey::History(id),
            ] {
                match cache.get(&key) {
                    Some(entry) if entry.is_observed() => invalidate.insert(key),
                    Some(_) => remove.insert(key),
                    None => false,
                };
            }
        }
        for (&case_id, note_ids) in &self.notes {
            let key = QueryKey::notes(case_id);
            let has_all = |entry: &QueryEntry| {
                entry
                    .data()
                    .and_then(QueryData::as_notes)
                    .is_some_and(|notes| {
                        note_ids.iter().all(|id| notes.iter().any(|n| n.id == *id))
                    })
            };
            if cache.get(&key).is_some_and(|entry| !has_all(entry)) && !remove.contains(&key) {
                invalidate.insert(key);
                let history = QueryKey::History(case_id);
                if cache.get(&history).is_some() && !remove.contains(&history) {
                    invalidate.insert(history);
                }
            }
        }

        if !self.changed.is_empty() || !self.deleted.is_empty() {
            // Lists may gain, lose or reorder cases; counts move.
            for (key, entry) in cache.entries_in(&KeyScope::CaseLists) {
                if !self.list_reflects_all(entry, cache) {
                    invalidate.insert(key.clone());
                }
            }
            let metrics = QueryKey::metrics();
            if let Some(entry) = cache.get(&metrics) {
                if !self.metrics_reflect_all(entry, cache) {
                    invalidate.insert(metrics);
                }
            }
        }

        remove
            .into_iter()
            .map(|key| CacheEvent::Remove {
                scope: KeyScope::Key(key),
            })
            .chain(invalidate.into_iter().map(|key| CacheEvent::Invalidate {
                scope: KeyScope::Key(key),
            }))
            .collect()
    }

    /// Whether the list page in `entry` already shows every case change of the batch.
    /// Deletions are never proven: a page without the case may still shift.
    fn list_reflects_all(&self, entry: &QueryEntry, cache: &QueryCache) -> bool {
        if !self.deleted.is_empty() {
            return false;
        }
        let page = entry.data().and_then(QueryData::as_case_list);
        self.changed.iter().all(|(&id, change)| {
            let holds_it = page.is_some_and(|page| {
                page.items
                    .iter()
                    .any(|case| case.id == id && case.version >= change.version)
            });
            holds_it || requested_after_known(entry, cache, id, change.version)
        })
    }

    /// Whether the metrics in `entry` already count every case change of the batch.
    fn metrics_reflect_all(&self, entry: &QueryEntry, cache: &QueryCache) -> bool {
        let generated_after = entry
            .data()
            .and_then(QueryData::as_metrics)
            .zip(self.latest_case_change)
            .is_some_and(|(metrics, latest)| metrics.generated_at >= latest);
        generated_after
            || (self.deleted.is_empty()
                && self
                    .changed
                    .iter()
                    .all(|(&id, change)| requested_after_known(entry, cache, id, change.version)))
    }
}

fn cached_case_version(entry: &QueryEntry) -> Option<u64> {
    entry.data().and_then(QueryData::as_case).map(|c| c.version)
}

/// Whether `entry` was requested (or is being refetched) after the client knew case `id`
/// was at `version`: the cached case at that version or later landed at `fetched_at`, so the
/// server had applied the change by then, and any request sent later reflects it. This is
/// what keeps our own change, echoed back, from refetching the lists a second time.
fn requested_after_known(entry: &QueryEntry, cache: &QueryCache, id: Uuid, version: u64) -> bool {
    let Some(case_entry) = cache.get(&QueryKey::case(id)) else {
        return false;
    };
    let known_at = match cached_case_version(case_entry) {
        Some(cached) if cached >= version => case_entry.fetched_at(),
        _ => None,
    };
    match (known_at, entry.reflects_server_state_at()) {
        // Strictly later: within one millisecond the order of send and arrival is unknown.
        (Some(known), Some(requested)) => requested > known,
        _ => false,
    }
}

/// Collects change events over a short window and releases them as one batch, so a flood
/// (a bulk import, a reconnecting server replaying) costs one invalidation per key per
/// window rather than one per event.
///
/// It throttles on the leading edge: an event that arrives when nothing was released for a
/// whole window is released at once (a single change elsewhere shows without waiting);
/// events that follow within the window wait for its end and go together, however many
/// follow, so a steady stream still reaches the screen every window. Glue: call `push` for
/// every message; when it returns `Some(at)`, start a timer for `at` (at once when `at` is
/// now); when the timer fires, `drain` and apply each event to the cache.
#[derive(Clone, Debug)]
pub struct LiveCoalescer {
    window: DurationMs,
    batch: ChangeBatch,
    flush_at: Option<Millis>,
    /// The end of the window opened by the last release: events before it wait for it.
    quiet_until: Option<Millis>,
}

impl LiveCoalescer {
    /// 200 ms: short enough to feel live, long enough to catch a burst (a bulk change sends
    /// its events within a few milliseconds of each other). An in-flight refetch absorbs
    /// further invalidations of its key anyway, so a longer window buys little.
    pub const DEFAULT_WINDOW: DurationMs = DurationMs(200);

    pub fn new(window: DurationMs) -> Self {
        Self {
            window,
            batch: ChangeBatch::default(),
            flush_at: None,
            quiet_until: None,
        }
    }

    /// Adds an event received at `now`. Returns when to release it (start a timer then):
    /// `now` when nothing was released within the last window, else that window's end;
    /// `None` when a release is already due or the event is irrelevant.
    pub fn push(&mut self, event: ChangeEvent, now: Millis) -> Option<Millis> {
        if !self.batch.add(event) || self.flush_at.is_some() {
            return None;
        }
        let at = self.quiet_until.filter(|&quiet| quiet > now).unwrap_or(now);
        self.flush_at = Some(at);
        Some(at)
    }

    /// When the open window closes, if one is open.
    pub fn flush_at(&self) -> Option<Millis> {
        self.flush_at
    }

    /// Closes the window: the merged batch's effects on `cache`, to be applied in order.
    pub fn drain(&mut self, cache: &QueryCache) -> Vec<CacheEvent> {
        if let Some(released_at) = self.flush_at.take() {
            self.quiet_until = Some(released_at + self.window);
        }
        std::mem::take(&mut self.batch).effects(cache)
    }
}

impl Default for LiveCoalescer {
    fn default() -> Self {
        Self::new(Self::DEFAULT_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{case, fetches, notes, ts, Harness};
    use crate::cache::CacheCommand;
    use casedesk_model::{CaseList, DashboardMetrics, PriorityCounts, StatusCounts};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn page(cases: Vec<casedesk_model::Case>) -> QueryData {
        QueryData::CaseList(CaseList {
            total: cases.len() as u64,
            items: cases,
            page: 1,
            per_page: 50,
        })
    }

    fn metrics(generated_ms: i64) -> QueryData {
        QueryData::Metrics(DashboardMetrics {
            by_status: StatusCounts::default(),
            by_priority: PriorityCounts::default(),
            opened_per_day: Vec::new(),
            resolved_per_day: Vec::new(),
            mean_hours_to_resolve: None,
            generated_at: ts(generated_ms),
        })
    }

    fn list_key(name: &str) -> QueryKey {
        QueryKey::case_list(&casedesk_model::CaseListQuery {
            q: Some(name.into()),
            ..Default::default()
        })
    }

    fn updated(n: u128, version: u64, at_ms: i64) -> ChangeEvent {
        ChangeEvent::CaseUpdated {
            id: id(n),
            version,
            at: ts(at_ms),
        }
    }

    fn invalidated(effects: &[CacheEvent]) -> Vec<QueryKey> {
        effects
            .iter()
            .filter_map(|e| match e {
                CacheEvent::Invalidate {
                    scope: KeyScope::Key(key),
                } => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    fn removed(effects: &[CacheEvent]) -> Vec<QueryKey> {
        effects
            .iter()
            .filter_map(|e| match e {
                CacheEvent::Remove {
                    scope: KeyScope::Key(key),
                } => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    /// A cache holding case 1 at version 2, a page with case 1 at v2, a page without it,
    /// and metrics generated at t=100.
    fn session() -> Harness {
        let mut h = Harness::new();
        h.load(&QueryKey::case(id(1)), QueryData::Case(case(1, 2)));
        h.load(&list_key("a"), page(vec![case(1, 2)]));
        h.load(&list_key("b"), page(vec![case(7, 1)]));
        h.load(&QueryKey::metrics(), metrics(100));
        h
    }

    #[test]
    fn a_newer_version_invalidates_the_case_lists_and_metrics() {
        let h = session();
        let effects = effects_of(&updated(1, 3, 200), &h.cache);
        assert_eq!(
            invalidated(&effects),
            vec![
                QueryKey::case(id(1)),
                list_key("a"),
                list_key("b"),
                QueryKey::metrics()
            ]
        );
        assert!(removed(&effects).is_empty());
    }

    #[test]
    fn a_newer_version_invalidates_the_cases_cached_history() {
        let mut h = session();
        h.load(&QueryKey::History(id(1)), QueryData::History(Vec::new()));
        let effects = effects_of(&updated(1, 3, 200), &h.cache);
        assert!(invalidated(&effects).contains(&QueryKey::History(id(1))));
        // A version the cache already has wrote nothing new.
        let effects = effects_of(&updated(1, 2, 200), &h.cache);
        assert!(!invalidated(&effects).contains(&QueryKey::History(id(1))));
    }

    #[test]
    fn our_own_change_echoing_back_refetches_nothing_it_already_shows() {
        let mut h = session();
        // The mutation's answer (v3) is in the cache, and the lists were refetched after it.
        h.advance(10);
        h.apply(CacheEvent::SetData {
            key: QueryKey::case(id(1)),
            data: QueryData::Case(case(1, 3)),
        });
        h.advance(10);
        let cmds = h.apply(CacheEvent::Invalidate {
            scope: KeyScope::CaseLists,
        });
        assert_eq!(fetches(&cmds).len(), 2);
        // The echo arrives while those refetches are in flight: they will carry v3 already.
        let effects = effects_of(&updated(1, 3, 90), &h.cache);
        assert!(!invalidated(&effects).contains(&QueryKey::case(id(1))));
        assert!(!invalidated(&effects).contains(&list_key("a")));
        assert!(!invalidated(&effects).contains(&list_key("b")));
        // Metrics generated (t=100) after the change (t=90) already count it.
        assert!(invalidated(&effects).is_empty());
    }

    #[test]
    fn a_page_already_holding_the_version_is_left_alone() {
        let h = session();
        let effects = effects_of(&updated(1, 2, 50), &h.cache);
        assert_eq!(invalidated(&effects), vec![list_key("b")]);
    }

    #[test]
    fn creation_touches_lists_and_metrics_only() {
        let h = session();
        let effects = effects_of(
            &ChangeEvent::CaseCreated {
                id: id(9),
                version: 1,
                at: ts(500),
            },
            &h.cache,
        );
        assert_eq!(
            invalidated(&effects),
            vec![list_key("a"), list_key("b"), QueryKey::metrics()]
        );
    }

    #[test]
    fn deletion_refetches_a_shown_case_and_forgets_a_hidden_one() {
        let mut h = session();
        h.load(&QueryKey::notes(id(1)), notes(1));
        h.load(&QueryKey::case(id(2)), QueryData::Case(case(2, 1)));
        h.unobserve(&QueryKey::case(id(2)));
        let deleted = |n| ChangeEvent::CaseDeleted {
            id: id(n),
            at: ts(500),
        };
        let effects = effects_of(&deleted(1), &h.cache);
        let inv = invalidated(&effects);
        assert!(inv.contains(&QueryKey::case(id(1))));
        assert!(inv.contains(&QueryKey::notes(id(1))));
        assert!(inv.contains(&list_key("a")) && inv.contains(&list_key("b")));
        let effects = effects_of(&deleted(2), &h.cache);
        assert_eq!(removed(&effects), vec![QueryKey::case(id(2))]);
        assert!(!invalidated(&effects).contains(&QueryKey::case(id(2))));
    }

    #[test]
    fn a_new_note_invalidates_the_notes_unless_they_hold_it() {
        let mut h = Harness::new();
        let key = QueryKey::notes(id(1));
        h.load(&key, notes(5));
        let event = |note| ChangeEvent::NoteCreated {
            id: id(note),
            case_id: id(1),
            at: ts(0),
        };
        assert!(effects_of(&event(5), &h.cache).is_empty());
        assert_eq!(invalidated(&effects_of(&event(6), &h.cache)), vec![key]);
        // Notes of a case we do not hold: nothing to do.
        let other = ChangeEvent::NoteCreated {
            id: id(7),
            case_id: id(2),
            at: ts(0),
        };
        assert!(effects_of(&other, &h.cache).is_empty());
    }

    #[test]
    fn resync_invalidates_everything_and_ping_nothing() {
        let h = session();
        let effects = effects_of(
            &ChangeEvent::Resync {
                reason: "lagged".into(),
            },
            &h.cache,
        );
        assert_eq!(
            effects,
            vec![CacheEvent::Invalidate {
                scope: KeyScope::Everything
            }]
        );
        assert!(effects_of(&ChangeEvent::Ping, &h.cache).is_empty());
    }

    #[test]
    fn a_flood_collapses_into_one_invalidation_per_key() {
        let mut h = session();
        let mut live = LiveCoalescer::default();
        let t0 = h.now;
        assert_eq!(
            live.push(ChangeEvent::Ping, t0),
            None,
            "a ping opens no window"
        );
        // The first change of a burst goes at once (leading edge)...
        assert_eq!(live.push(updated(1, 3, 200), t0), Some(t0));
        assert_eq!(invalidated(&live.drain(&h.cache)).len(), 4);
        // ...and what follows within the window waits for its end, together.
        assert_eq!(
            live.push(updated(1, 4, 204), t0 + DurationMs(4)),
            Some(t0 + LiveCoalescer::DEFAULT_WINDOW)
        );
        for v in 5..200 {
            assert_eq!(
                live.push(updated(1, v, 200 + v as i64), t0 + DurationMs(v)),
                None
            );
        }
        for n in 10..60 {
            live.push(
                ChangeEvent::CaseCreated {
                    id: id(n),
                    version: 1,
                    at: ts(300),
                },
                t0,
            );
        }
        h.now = t0 + LiveCoalescer::DEFAULT_WINDOW;
        let effects = live.drain(&h.cache);
        assert_eq!(live.flush_at(), None);
        assert_eq!(
            invalidated(&effects),
            vec![
                QueryKey::case(id(1)),
                list_key("a"),
                list_key("b"),
                QueryKey::metrics()
            ]
        );
        // Applied, each observed key fetches exactly once.
        let mut requested = Vec::new();
        for effect in effects {
            let cmds = h.apply(effect);
            requested.extend(fetches(&cmds).into_iter().map(|f| f.0));
        }
        assert_eq!(requested.len(), 4);
        // Within the window after that release, the next change waits; a whole window of
        // quiet later, one goes at once again.
        let release = h.now;
        assert_eq!(
            live.push(updated(1, 500, 900), release + DurationMs(1)),
            Some(release + LiveCoalescer::DEFAULT_WINDOW)
        );
        live.drain(&h.cache);
        let quiet = release + LiveCoalescer::DEFAULT_WINDOW + LiveCoalescer::DEFAULT_WINDOW;
        assert_eq!(live.push(updated(1, 501, 901), quiet), Some(quiet));
    }

    #[test]
    fn a_deletion_in_the_batch_supersedes_updates_to_the_case() {
        let mut batch = ChangeBatch::default();
        batch.add(updated(1, 3, 0));
        batch.add(ChangeEvent::CaseDeleted {
            id: id(1),
            at: ts(1),
        });
        batch.add(updated(1, 4, 2));
        assert!(batch.changed.is_empty());
        assert!(batch.deleted.contains(&id(1)));
        assert!(!batch.is_empty());
        let h = Harness::new();
        assert!(
            batch.effects(&h.cache).is_empty(),
            "nothing cached, nothing to do"
        );
    }

    #[test]
    fn invalidated_keys_refetch_through_the_reducer() {
        let mut h = session();
        let effects = effects_of(&updated(1, 3, 200), &h.cache);
        let mut cmds = Vec::new();
        for effect in effects {
            cmds.extend(h.apply(effect));
        }
        let mut requested: Vec<QueryKey> = fetches(&cmds).into_iter().map(|f| f.0).collect();
        requested.sort();
        assert_eq!(
            requested,
            vec![
                QueryKey::case(id(1)),
                list_key("a"),
                list_key("b"),
                QueryKey::metrics()
            ]
        );
        // The case's refetch revalidates with its ETag.
        assert!(cmds.iter().any(|c| matches!(
            c,
            CacheCommand::Fetch { key, if_none_match: Some(_), .. } if *key == QueryKey::case(id(1))
        )));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn event() -> impl Strategy<Value = ChangeEvent> {
            prop_oneof![
                (1u128..5, 1u64..6, 0i64..300).prop_map(|(n, v, at)| ChangeEvent::CaseUpdated {
                    id: id(n),
                    version: v,
                    at: ts(at)
                }),
                (1u128..5, 1u64..3, 0i64..300).prop_map(|(n, v, at)| ChangeEvent::CaseCreated {
                    id: id(n),
                    version: v,
                    at: ts(at)
                }),
                (1u128..5, 0i64..300).prop_map(|(n, at)| ChangeEvent::CaseDeleted {
                    id: id(n),
                    at: ts(at)
                }),
                (1u128..4, 1u128..3).prop_map(|(note, case)| ChangeEvent::NoteCreated {
                    id: id(note),
                    case_id: id(case),
                    at: ts(0)
                }),
                Just(ChangeEvent::Ping),
            ]
        }

        /// A cache: cases 1–3 at random versions (or absent), on screen or not, two list
        /// pages holding random cases, metrics of a random age, notes of case 1.
        fn cache_from(
            versions: &[Option<u64>],
            shown: &[bool],
            pages: &[Vec<(u128, u64)>],
            generated: i64,
        ) -> Harness {
            let mut h = Harness::new();
            for (i, (version, on_screen)) in versions.iter().zip(shown).enumerate() {
                let n = i as u128 + 1;
                if let Some(v) = version {
                    h.load(&QueryKey::case(id(n)), QueryData::Case(case(n, *v)));
                    if !on_screen {
                        h.unobserve(&QueryKey::case(id(n)));
                    }
                }
                h.advance(1);
            }
            for (i, cases) in pages.iter().enumerate() {
                let items = cases.iter().map(|&(n, v)| case(n, v)).collect();
                h.load(&list_key(&i.to_string()), page(items));
                h.advance(1);
            }
            h.load(&QueryKey::metrics(), metrics(generated));
            h.load(&QueryKey::notes(id(1)), notes(1));
            h
        }

        proptest! {
            #[test]
            fn coalescing_never_loses_an_invalidation(
                versions in prop::collection::vec(prop::option::of(1u64..6), 3),
                shown in prop::collection::vec(any::<bool>(), 3),
                pages in prop::collection::vec(prop::collection::vec((1u128..5, 1u64..6), 0..3), 2),
                generated in 0i64..300,
                events in prop::collection::vec(event(), 1..12),
            ) {
                let h = cache_from(&versions, &shown, &pages, generated);
                let mut batch = ChangeBatch::default();
                for e in &events {
                    batch.add(e.clone());
                }
                let merged = batch.effects(&h.cache);
                let covered: BTreeSet<QueryKey> =
                    invalidated(&merged).into_iter().chain(removed(&merged)).collect();
                prop_assert_eq!(covered.len(), merged.len(), "each key once");
                for e in &events {
                    let single = effects_of(e, &h.cache);
                    for key in invalidated(&single).into_iter().chain(removed(&single)) {
                        prop_assert!(covered.contains(&key), "{:?} lost from {:?}", key, e);
                    }
                }
            }
        }
    }
}
