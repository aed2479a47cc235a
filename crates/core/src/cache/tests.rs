//! The reducer driven by hand: a fake clock advanced explicitly, a seeded jitter source, and
//! the commands checked one by one. Property tests at the end run random event sequences.

use super::*;
use crate::clock::{DurationMs, SeededRandom};
use crate::entry::{FetchStatus, QueryStatus};
use crate::persist::PersistedEntry;
use crate::retry::RetryPolicy;
use casedesk_model::{Case, CaseStatus, Priority, Timestamp};
use uuid::Uuid;

/// A cache with a clock the test moves.
pub(crate) struct Harness {
    pub(crate) cache: QueryCache,
    pub(crate) now: Millis,
    pub(crate) rng: SeededRandom,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(CacheConfig::default())
    }

    pub(crate) fn with_config(config: CacheConfig) -> Self {
        Self {
            cache: QueryCache::new(config, true),
            now: Millis(1_000_000),
            rng: SeededRandom::new(7),
        }
    }

    pub(crate) fn apply(&mut self, event: CacheEvent) -> Vec<CacheCommand> {
        self.cache.apply(event, self.now, &mut self.rng)
    }

    pub(crate) fn advance(&mut self, ms: u64) {
        self.now = self.now + DurationMs(ms);
    }

    pub(crate) fn observe(&mut self, key: &QueryKey) -> Vec<CacheCommand> {
        self.apply(CacheEvent::Observe {
            key: key.clone(),
            options: QueryOptions::DEFAULT,
        })
    }

    pub(crate) fn unobserve(&mut self, key: &QueryKey) -> Vec<CacheCommand> {
        self.apply(CacheEvent::Unobserve { key: key.clone() })
    }

    pub(crate) fn succeed(
        &mut self,
        key: &QueryKey,
        fetch: FetchId,
        data: QueryData,
    ) -> Vec<CacheCommand> {
        self.apply(CacheEvent::FetchSucceeded {
            key: key.clone(),
            fetch,
            data,
            etag: Some("\"e1\"".into()),
            size_bytes: 100,
        })
    }

    pub(crate) fn fail(
        &mut self,
        key: &QueryKey,
        fetch: FetchId,
        failure: Failure,
    ) -> Vec<CacheCommand> {
        self.apply(CacheEvent::FetchFailed {
            key: key.clone(),
            fetch,
            failure,
        })
    }

    /// Observes `key` and answers its fetch with `data`: a loaded, observed entry.
    pub(crate) fn load(&mut self, key: &QueryKey, data: QueryData) {
        let cmds = self.observe(key);
        let fetch = only_fetch(&cmds).1;
        self.succeed(key, fetch, data);
    }

    pub(crate) fn entry(&self, key: &QueryKey) -> &QueryEntry {
        self.cache.get(key).expect("entry present")
    }
}

/// A key per name, ordered as the names are (a notes key: the reducer treats every key
/// alike).
pub(crate) fn key(name: &str) -> QueryKey {
    let mut bytes = [0u8; 16];
    for (slot, byte) in bytes.iter_mut().zip(name.bytes()) {
        *slot = byte;
    }
    QueryKey::Notes(Uuid::from_bytes(bytes))
}

fn list(name: &str) -> QueryKey {
    QueryKey::case_list(&casedesk_model::CaseListQuery {
        q: Some(name.into()),
        ..Default::default()
    })
}

pub(crate) fn notes(n: u128) -> QueryData {
    QueryData::Notes(vec![casedesk_model::Note {
        author_id: None,
        id: Uuid::from_u128(n),
        case_id: Uuid::from_u128(1),
        body: format!("note {n}"),
        author: "dana".into(),
        created_at: ts(0),
    }])
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_700_000_000_000 + ms).expect("valid time")
}

pub(crate) fn case(id: u128, version: u64) -> Case {
    Case {
        created_by: None,
        updated_by: None,
        id: Uuid::from_u128(id),
        title: format!("case {id}"),
        description: String::new(),
        status: CaseStatus::Open,
        priority: Priority::Medium,
        assignee: None,
        tags: Vec::new(),
        created_at: ts(0),
        updated_at: ts(version as i64),
        version,
    }
}

pub(crate) fn fetches(cmds: &[CacheCommand]) -> Vec<(QueryKey, FetchId, Option<String>)> {
    cmds.iter()
        .filter_map(|c| match c {
            CacheCommand::Fetch {
                key,
                fetch,
                if_none_match,
            } => Some((key.clone(), *fetch, if_none_match.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn only_fetch(cmds: &[CacheCommand]) -> (QueryKey, FetchId, Option<String>) {
    let all = fetches(cmds);
    assert_eq!(all.len(), 1, "expected exactly one fetch in {cmds:?}");
    all.into_iter().next().expect("one fetch")
}

fn wake(cmds: &[CacheCommand]) -> Option<Millis> {
    cmds.iter().find_map(|c| match c {
        CacheCommand::ScheduleWake { at } => Some(*at),
        _ => None,
    })
}

fn notified(cmds: &[CacheCommand]) -> Vec<QueryKey> {
    cmds.iter()
        .find_map(|c| match c {
            CacheCommand::Notify { keys } => Some(keys.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn cancels(cmds: &[CacheCommand]) -> Vec<FetchId> {
    cmds.iter()
        .filter_map(|c| match c {
            CacheCommand::CancelFetch { fetch, .. } => Some(*fetch),
            _ => None,
        })
        .collect()
}

fn http(status: u16, retry_after: Option<DurationMs>) -> Failure {
    Failure::Http {
        status,
        code: None,
        message: "nope".into(),
        request_id: Some(format!("req-{status}")),
        retry_after,
    }
}

// ---- stale-while-revalidate and in-flight sharing ----

#[test]
fn a_miss_fetches_once_and_the_answer_is_shown() {
    let mut h = Harness::new();
    let k = key("a");
    let cmds = h.observe(&k);
    let (fk, fetch, inm) = only_fetch(&cmds);
    assert_eq!((fk, inm), (k.clone(), None));
    assert_eq!(h.entry(&k).status(), QueryStatus::Loading);
    assert!(h.entry(&k).is_fetching());
    assert_eq!(notified(&cmds), vec![k.clone()]);
    h.advance(50);
    let cmds = h.succeed(&k, fetch, notes(1));
    assert_eq!(notified(&cmds), vec![k.clone()]);
    assert!(cmds.contains(&CacheCommand::PersistSoon));
    let e = h.entry(&k);
    assert_eq!(e.status(), QueryStatus::Success);
    assert_eq!(e.data(), Some(&notes(1)));
    assert_eq!(e.fetch_status(), FetchStatus::Idle);
    assert_eq!(e.fetched_at(), Some(h.now));
}

#[test]
fn fresh_data_is_not_refetched_and_stale_data_is_shown_while_revalidating() {
    let mut h = Harness::new();
    let k = key("a");
    h.load(&k, notes(1));
    h.unobserve(&k);
    // Fresh: a second view mounts and finds it, no request.
    h.advance(29_000);
    assert!(fetches(&h.observe(&k)).is_empty());
    h.unobserve(&k);
    // Stale: shown at once, one background fetch with the ETag.
    h.advance(2_000);
    let cmds = h.observe(&k);
    let (_, _, inm) = only_fetch(&cmds);
    assert_eq!(inm.as_deref(), Some("\"e1\""));
    assert_eq!(h.entry(&k).status(), QueryStatus::Success);
    assert_eq!(h.entry(&k).data(), Some(&notes(1)));
    assert!(h.entry(&k).is_fetching());
    let l = h.cache.diagnostics().lookups();
    assert_eq!((l.hits, l.stale_hits, l.misses), (1, 1, 1));
}

#[test]
fn observers_and_requests_share_one_fetch() {
    let mut h = Harness::new();
    let k = key("a");
    let first = h.observe(&k);
    let fetch = only_fetch(&first).1;
    assert!(fetches(&h.observe(&k)).is_empty());
    assert!(fetches(&h.apply(CacheEvent::Prefetch { key: k.clone() })).is_empty());
    assert!(fetches(&h.apply(CacheEvent::FetchRequested { key: k.clone() })).is_empty());
    assert_eq!(h.entry(&k).observers(), 2);
    h.succeed(&k, fetch, notes(1));
    assert_eq!(h.entry(&k).data(), Some(&notes(1)));
    // An explicit refetch of fresh data does fetch.
    assert_eq!(
        fetches(&h.apply(CacheEvent::FetchRequested { key: k.clone() })).len(),
        1
    );
}

#[test]
fn a_304_refreshes_the_age_and_keeps_the_data() {
    let mut h = Harness::new();
    let k = key("a");
    h.load(&k, notes(1));
    h.cache.take_dirty();
    h.advance(60_000);
    assert!(h.entry(&k).is_stale(h.now));
    let fetch = only_fetch(&h.apply(CacheEvent::FetchRequested { key: k.clone() })).1;
    h.advance(20);
    let before = h.entry(&k).revision();
    let cmds = h.apply(CacheEvent::NotModified {
        key: k.clone(),
        fetch,
    });
    let e = h.entry(&k);
    assert_eq!(e.fetched_at(), Some(h.now));
    assert_eq!(e.data(), Some(&notes(1)));
    assert_eq!(e.etag(), Some("\"e1\""));
    assert!(!e.is_stale(h.now));
    assert_ne!(e.revision(), before);
    assert_eq!(notified(&cmds), vec![k.clone()]);
    // The stored record is not rewritten for a timestamp.
    assert!(h.cache.take_dirty().is_empty());
}

// ---- retries ----

#[test]
fn transient_failures_retry_with_bounded_jitter_then_give_up() {
    let mut h = Harness::new();
    let k = key("a");
    let mut fetch = only_fetch(&h.observe(&k)).1;
    for attempt in 1..=2u32 {
        let cmds = h.fail(&k, fetch, http(503, None));
        let at = wake(&cmds).expect("a retry is scheduled");
        let ceiling = RetryPolicy::QUERY.ceiling(attempt);
        assert!(
            at >= h.now && at <= h.now + ceiling,
            "attempt {attempt}: {at:?}"
        );
        assert_eq!(h.entry(&k).failure_count(), attempt);
        assert!(h.entry(&k).is_fetching());
        assert_eq!(h.entry(&k).status(), QueryStatus::Loading);
        assert!(h.entry(&k).last_failure().is_some());
        // Nothing happens before the time.
        if at > h.now {
            h.now = Millis(at.0 - 1);
            assert!(fetches(&h.apply(CacheEvent::Tick)).is_empty());
        }
        h.now = at;
        fetch = only_fetch(&h.apply(CacheEvent::Tick)).1;
    }
    let cmds = h.fail(&k, fetch, http(503, None));
    assert!(fetches(&cmds).is_empty());
    assert_eq!(h.entry(&k).status(), QueryStatus::Error);
    assert_eq!(h.entry(&k).fetch_status(), FetchStatus::Idle);
    assert_eq!(h.entry(&k).failure_count(), 3);
    let snap = h.cache.diagnostics_snapshot(h.now);
    assert_eq!(snap.recent_errors.len(), 3);
    assert_eq!(snap.recent_errors[0].request_id.as_deref(), Some("req-503"));
}

#[test]
fn retry_after_is_a_floor_on_the_delay() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    let cmds = h.fail(&k, fetch, http(429, Some(DurationMs::from_secs(20))));
    assert_eq!(wake(&cmds), Some(h.now + DurationMs::from_secs(20)));
    // A reconnect does not cut a server-requested wait short.
    h.apply(CacheEvent::NetworkOffline);
    assert!(fetches(&h.apply(CacheEvent::NetworkOnline)).is_empty());
    h.advance(20_000);
    assert_eq!(fetches(&h.apply(CacheEvent::Tick)).len(), 1);
}

#[test]
fn a_wait_longer_than_the_policy_would_make_is_shown_as_an_error_at_once() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    let cmds = h.fail(&k, fetch, http(429, Some(DurationMs::from_secs(600))));
    assert!(fetches(&cmds).is_empty());
    let e = h.entry(&k);
    assert_eq!(e.status(), QueryStatus::Error);
    assert!(matches!(e.error(), Some(Failure::Http { status: 429, .. })));
}

#[test]
fn a_404_is_final_at_once() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    let cmds = h.fail(&k, fetch, http(404, None));
    assert!(fetches(&cmds).is_empty());
    let e = h.entry(&k);
    assert_eq!(e.status(), QueryStatus::Error);
    assert_eq!(e.failure_count(), 1);
    assert!(matches!(e.error(), Some(Failure::Http { status: 404, .. })));
    // No retry is pending: the only deadline left is none (the entry is observed).
    assert_eq!(h.cache.earliest_deadline(), None);
    // A new view mounting retries from scratch (the error entry is stale).
    h.unobserve(&k);
    assert_eq!(fetches(&h.observe(&k)).len(), 1);
    assert_eq!(h.entry(&k).failure_count(), 0);
}

#[test]
fn offline_pauses_without_counting_and_resumes_on_reconnect() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    let at = wake(&h.fail(&k, fetch, http(503, None))).expect("retry");
    assert_eq!(h.entry(&k).failure_count(), 1);
    h.apply(CacheEvent::NetworkOffline);
    h.now = at;
    // The retry comes due while offline: paused, not attempted.
    let cmds = h.apply(CacheEvent::Tick);
    assert!(fetches(&cmds).is_empty());
    assert_eq!(h.entry(&k).fetch_status(), FetchStatus::Paused);
    // A second view mounting while offline does not fetch either.
    let other = key("b");
    assert!(fetches(&h.observe(&other)).is_empty());
    assert_eq!(h.entry(&other).fetch_status(), FetchStatus::Paused);
    h.advance(60_000);
    let cmds = h.apply(CacheEvent::NetworkOnline);
    let mut keys: Vec<QueryKey> = fetches(&cmds).into_iter().map(|f| f.0).collect();
    keys.sort();
    assert_eq!(keys, vec![k.clone(), other.clone()]);
    assert_eq!(h.entry(&k).failure_count(), 1, "offline time did not count");
}

#[test]
fn failures_while_offline_are_not_counted() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    h.apply(CacheEvent::NetworkOffline);
    h.fail(
        &k,
        fetch,
        Failure::Network {
            message: "reset".into(),
        },
    );
    assert_eq!(h.entry(&k).failure_count(), 0);
    assert_eq!(h.entry(&k).fetch_status(), FetchStatus::Paused);
    let fetch = only_fetch(&h.apply(CacheEvent::NetworkOnline)).1;
    // The browser said offline though the cache was not told: retried later, not counted.
    let cmds = h.fail(&k, fetch, Failure::Offline);
    assert!(wake(&cmds).is_some());
    assert_eq!(h.entry(&k).failure_count(), 0);
    assert_eq!(h.cache.diagnostics_snapshot(h.now).recent_errors.len(), 0);
}

#[test]
fn a_deferred_fetch_waits_for_the_budget_without_counting() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    let until = h.now + DurationMs(100);
    let cmds = h.apply(CacheEvent::FetchDeferred {
        key: k.clone(),
        fetch,
        until,
    });
    assert_eq!(wake(&cmds), Some(until));
    assert!(h.entry(&k).is_fetching());
    h.now = until;
    assert_eq!(fetches(&h.apply(CacheEvent::Tick)).len(), 1);
    assert_eq!(h.entry(&k).failure_count(), 0);
}

// ---- focus and reconnect ----

#[test]
fn focus_refetches_only_stale_observed_entries() {
    let mut h = Harness::new();
    let (stale, fresh, unobserved) = (key("stale"), key("fresh"), key("unobserved"));
    h.load(&stale, notes(1));
    h.load(&unobserved, notes(2));
    h.unobserve(&unobserved);
    h.advance(40_000);
    h.load(&fresh, notes(3));
    let cmds = h.apply(CacheEvent::WindowFocused);
    let keys: Vec<QueryKey> = fetches(&cmds).into_iter().map(|f| f.0).collect();
    assert_eq!(keys, vec![stale.clone()]);
    // Focus again while that fetch is in flight: still one request.
    assert!(fetches(&h.apply(CacheEvent::WindowFocused)).is_empty());
}

#[test]
fn reconnect_refetches_stale_observed_entries() {
    let mut h = Harness::new();
    let (a, b) = (key("a"), key("b"));
    h.load(&a, notes(1));
    h.load(&b, notes(2));
    h.apply(CacheEvent::NetworkOffline);
    h.advance(40_000);
    // Focus while offline pauses the refetches rather than sending them.
    assert!(fetches(&h.apply(CacheEvent::WindowFocused)).is_empty());
    let cmds = h.apply(CacheEvent::NetworkOnline);
    let mut keys: Vec<QueryKey> = fetches(&cmds).into_iter().map(|f| f.0).collect();
    keys.sort();
    assert_eq!(keys, vec![a, b]);
}

#[test]
fn new_default_options_apply_to_entries_made_from_then_on() {
    let mut h = Harness::new();
    let (before, after) = (key("before"), key("after"));
    h.apply(CacheEvent::Prefetch {
        key: before.clone(),
    });
    let short = QueryOptions::DEFAULT.with_stale_time(DurationMs(100));
    h.cache.set_default_options(short);
    assert_eq!(h.cache.config().defaults, short);
    h.apply(CacheEvent::Prefetch { key: after.clone() });
    assert_eq!(
        h.entry(&before).options().stale_time,
        QueryOptions::DEFAULT_STALE_TIME
    );
    assert_eq!(h.entry(&after).options().stale_time, DurationMs(100));
}

// ---- cancellation ----

#[test]
fn the_last_observer_leaving_cancels_at_the_next_tick_unless_adopted() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    let cmds = h.unobserve(&k);
    assert!(cancels(&cmds).is_empty());
    assert_eq!(wake(&cmds), Some(h.now));
    // Re-mounted in the same turn: the request is adopted.
    assert!(fetches(&h.observe(&k)).is_empty());
    assert!(cancels(&h.apply(CacheEvent::Tick)).is_empty());
    // Gone for good: aborted at the tick, and a late answer is ignored.
    h.unobserve(&k);
    let cmds = h.apply(CacheEvent::Tick);
    assert_eq!(cancels(&cmds), vec![fetch]);
    assert!(!h.entry(&k).is_fetching());
    h.succeed(&k, fetch, notes(1));
    assert!(h.entry(&k).data().is_none());
    // The next view fetches afresh with a new id.
    let again = only_fetch(&h.observe(&k)).1;
    assert_ne!(again, fetch);
}

#[test]
fn a_prefetch_is_not_cancelled_and_an_unobserved_retry_is_dropped() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.apply(CacheEvent::Prefetch { key: k.clone() })).1;
    assert!(cancels(&h.apply(CacheEvent::Tick)).is_empty());
    h.succeed(&k, fetch, notes(1));
    assert_eq!(h.entry(&k).data(), Some(&notes(1)));
    // Observed, fresh from the prefetch: a hit.
    assert!(fetches(&h.observe(&k)).is_empty());
    assert_eq!(h.cache.diagnostics().lookups().hits, 1);
    // A retry pending when the view leaves is dropped (nobody waits for it).
    h.advance(40_000);
    let fetch = only_fetch(&h.apply(CacheEvent::FetchRequested { key: k.clone() })).1;
    assert!(wake(&h.fail(&k, fetch, http(500, None))).is_some());
    h.unobserve(&k);
    assert_eq!(h.entry(&k).fetch_status(), FetchStatus::Idle);
}

// ---- invalidation, set, remove ----

#[test]
fn invalidate_by_scope_marks_all_and_refetches_the_observed() {
    let mut h = Harness::new();
    let list_a = list("a");
    let list_b = list("b");
    let one = QueryKey::case(Uuid::from_u128(1));
    let notes_key = QueryKey::notes(Uuid::from_u128(1));
    let other_notes = QueryKey::notes(Uuid::from_u128(2));
    for k in [&list_a, &list_b, &one, &notes_key, &other_notes] {
        h.load(k, notes(1));
    }
    h.unobserve(&list_b);
    let cmds = h.apply(CacheEvent::Invalidate {
        scope: KeyScope::CaseLists,
    });
    let keys: Vec<QueryKey> = fetches(&cmds).into_iter().map(|f| f.0).collect();
    assert_eq!(keys, vec![list_a.clone()]);
    assert_eq!(notified(&cmds), vec![list_a.clone(), list_b.clone()]);
    assert!(h.entry(&list_b).is_stale(h.now));
    assert!(!h.entry(&one).is_stale(h.now));
    assert!(!h.entry(&notes_key).is_stale(h.now));
    // Everything of case 1: its case and its notes refetch, another case's notes do not.
    let cmds = h.apply(CacheEvent::Invalidate {
        scope: KeyScope::OfCase(Uuid::from_u128(1)),
    });
    let keys: Vec<QueryKey> = fetches(&cmds).into_iter().map(|f| f.0).collect();
    assert_eq!(keys, vec![one, notes_key]);
    assert!(!h.entry(&other_notes).is_stale(h.now));
}

#[test]
fn invalidation_during_a_fetch_refetches_once_after_it_lands() {
    let mut h = Harness::new();
    let k = key("a");
    let fetch = only_fetch(&h.observe(&k)).1;
    for _ in 0..5 {
        assert!(fetches(&h.apply(CacheEvent::Invalidate {
            scope: KeyScope::Key(k.clone())
        }))
        .is_empty());
    }
    let cmds = h.succeed(&k, fetch, notes(1));
    let again = only_fetch(&cmds).1;
    assert!(
        h.entry(&k).is_stale(h.now),
        "the answer may predate the change"
    );
    assert_eq!(h.entry(&k).data(), Some(&notes(1)));
    assert!(fetches(&h.succeed(&k, again, notes(2))).is_empty());
    assert!(!h.entry(&k).is_stale(h.now));
}

#[test]
fn set_data_is_fresh_derives_a_case_etag_and_never_goes_back_a_version() {
    let mut h = Harness::new();
    let k = QueryKey::case(Uuid::from_u128(5));
    h.apply(CacheEvent::SetData {
        key: k.clone(),
        data: QueryData::Case(case(5, 3)),
    });
    let e = h.entry(&k);
    assert_eq!(e.etag(), Some("\"3\""));
    assert!(!e.is_stale(h.now));
    assert!(e.size_bytes() > 100);
    h.apply(CacheEvent::SetData {
        key: k.clone(),
        data: QueryData::Case(case(5, 2)),
    });
    assert_eq!(h.entry(&k).data(), Some(&QueryData::Case(case(5, 3))));
    // A fetch that left before the mutation and lands after it does not undo it.
    let fetch = only_fetch(&h.apply(CacheEvent::FetchRequested { key: k.clone() })).1;
    h.apply(CacheEvent::SetData {
        key: k.clone(),
        data: QueryData::Case(case(5, 4)),
    });
    h.succeed(&k, fetch, QueryData::Case(case(5, 3)));
    assert_eq!(h.entry(&k).data(), Some(&QueryData::Case(case(5, 4))));
    assert_eq!(h.entry(&k).etag(), Some("\"4\""));
    assert!(!h.entry(&k).is_fetching());
}

#[test]
fn remove_drops_unobserved_and_empties_and_refetches_observed() {
    let mut h = Harness::new();
    let (a, b) = (
        QueryKey::case(Uuid::from_u128(1)),
        QueryKey::notes(Uuid::from_u128(1)),
    );
    h.load(&a, notes(1));
    h.load(&b, notes(2));
    h.unobserve(&b);
    h.cache.take_dirty();
    let cmds = h.apply(CacheEvent::Remove {
        scope: KeyScope::OfCase(Uuid::from_u128(1)),
    });
    assert!(h.cache.get(&b).is_none());
    assert_eq!(h.entry(&a).status(), QueryStatus::Loading);
    assert_eq!(h.entry(&a).observers(), 1);
    assert_eq!(only_fetch(&cmds).0, a);
    assert_eq!(h.cache.total_bytes(), 0);
    let delta = h.cache.take_dirty();
    assert!(delta.upserts.is_empty());
    assert_eq!(delta.removals, vec![a, b]);
}

#[test]
fn notifications_are_batched_per_apply() {
    let mut h = Harness::new();
    let keys: Vec<QueryKey> = (0..3).map(|i| list(&i.to_string())).collect();
    for k in &keys {
        h.load(k, notes(1));
    }
    let cmds = h.apply(CacheEvent::Invalidate {
        scope: KeyScope::CaseLists,
    });
    let notifies = cmds
        .iter()
        .filter(|c| matches!(c, CacheCommand::Notify { .. }))
        .count();
    assert_eq!(notifies, 1);
    assert_eq!(notified(&cmds), keys);
    // Fetches come first, then the one Notify.
    assert!(matches!(cmds.first(), Some(CacheCommand::Fetch { .. })));
}

// ---- GC and LRU ----

#[test]
fn an_unobserved_entry_is_collected_after_gc_time() {
    let mut h = Harness::new();
    let k = key("a");
    h.load(&k, notes(1));
    h.cache.take_dirty();
    let cmds = h.unobserve(&k);
    let at = wake(&cmds).expect("GC scheduled");
    assert_eq!(at, h.now + QueryOptions::DEFAULT_GC_TIME);
    h.now = Millis(at.0 - 1);
    h.apply(CacheEvent::Tick);
    assert!(h.cache.get(&k).is_some());
    h.now = at;
    let cmds = h.apply(CacheEvent::Tick);
    assert!(h.cache.get(&k).is_none());
    assert_eq!(notified(&cmds), vec![k.clone()]);
    assert!(cmds.contains(&CacheCommand::PersistSoon));
    assert_eq!(h.cache.take_dirty().removals, vec![k]);
    assert_eq!(h.cache.total_bytes(), 0);
}

#[test]
fn a_case_left_an_hour_ago_is_still_on_this_device() {
    // Offline-first: leaving a page must not forget its data within a working session.
    let mut h = Harness::new();
    let k = key("a");
    h.load(&k, notes(1));
    h.cache.take_dirty();
    h.unobserve(&k);
    h.advance(60 * 60_000);
    h.apply(CacheEvent::Tick);
    assert!(h.cache.get(&k).is_some());
    assert!(
        h.cache.take_dirty().removals.is_empty(),
        "nothing deleted from storage"
    );
}

#[test]
fn an_observer_returning_stops_the_gc_clock() {
    let mut h = Harness::new();
    let k = key("a");
    h.load(&k, notes(1));
    h.unobserve(&k);
    h.advance(60_000);
    h.observe(&k);
    h.advance(600_000);
    h.apply(CacheEvent::Tick);
    assert!(h.cache.get(&k).is_some());
}

fn set(h: &mut Harness, k: &QueryKey) {
    h.apply(CacheEvent::SetData {
        key: k.clone(),
        data: notes(1),
    });
}

#[test]
fn lru_by_count_evicts_the_least_recently_used_unobserved_entry() {
    let mut h = Harness::with_config(CacheConfig {
        max_entries: 3,
        ..CacheConfig::default()
    });
    let (a, b, c, d, e) = (key("a"), key("b"), key("c"), key("d"), key("e"));
    h.load(&a, notes(1)); // observed, and the least recently used
    set(&mut h, &b);
    set(&mut h, &c);
    h.advance(1);
    set(&mut h, &b); // b used again: c is now the LRU unobserved entry
    set(&mut h, &d);
    assert!(
        h.cache.get(&a).is_some(),
        "observed entries are never evicted"
    );
    assert!(h.cache.get(&c).is_none());
    assert!(h.cache.get(&b).is_some() && h.cache.get(&d).is_some());
    assert_eq!(h.cache.len(), 3);
    // Everything observed: the bound yields rather than evicting what is on screen.
    h.observe(&b);
    h.observe(&d);
    h.load(&e, notes(1));
    assert_eq!(h.cache.len(), 4);
    assert!(h.cache.entries().all(|(_, entry)| entry.is_observed()));
}

#[test]
fn lru_by_bytes_evicts_until_under_the_bound() {
    let mut h = Harness::with_config(CacheConfig {
        max_bytes: 250,
        ..CacheConfig::default()
    });
    let (a, b, c) = (key("a"), key("b"), key("c"));
    for k in [&a, &b] {
        h.load(k, notes(1)); // 100 bytes each
        h.unobserve(k);
    }
    assert_eq!(h.cache.total_bytes(), 200);
    h.load(&c, notes(1)); // 300 > 250: a, the least recently used, goes
    assert!(h.cache.get(&a).is_none());
    assert!(h.cache.get(&b).is_some());
    assert_eq!(h.cache.total_bytes(), 200);
    let grow = |h: &mut Harness, size: u64| {
        let fetch = only_fetch(&h.apply(CacheEvent::FetchRequested { key: c.clone() })).1;
        h.apply(CacheEvent::FetchSucceeded {
            key: c.clone(),
            fetch,
            data: notes(2),
            etag: None,
            size_bytes: size,
        });
    };
    grow(&mut h, 200); // 300 again: b goes
    assert!(h.cache.get(&b).is_none());
    assert_eq!(h.cache.total_bytes(), 200);
    grow(&mut h, 400); // over, but c is on screen: it stays
    assert!(h.cache.get(&c).is_some());
    assert_eq!(h.cache.total_bytes(), 400);
}

// ---- persistence ----

#[test]
fn the_delta_holds_only_changed_keys_in_their_latest_state() {
    let mut h = Harness::new();
    let (a, b, c) = (key("a"), key("b"), key("c"));
    for k in [&a, &b, &c] {
        h.load(k, notes(1));
    }
    assert_eq!(h.cache.take_dirty().upserts.len(), 3);
    assert!(h.cache.take_dirty().is_empty());
    // Only b changes (twice); only b is written, once, in its last state.
    h.advance(60_000);
    let fetch = only_fetch(&h.apply(CacheEvent::FetchRequested { key: b.clone() })).1;
    let cmds = h.succeed(&b, fetch, notes(2));
    assert!(cmds.contains(&CacheCommand::PersistSoon));
    set(&mut h, &b);
    let cmds = h.apply(CacheEvent::SetData {
        key: b.clone(),
        data: notes(3),
    });
    assert!(
        !cmds.contains(&CacheCommand::PersistSoon),
        "one hint per flush"
    );
    // Observing, invalidating and 304s write nothing.
    h.apply(CacheEvent::Invalidate {
        scope: KeyScope::Key(a.clone()),
    });
    let delta = h.cache.take_dirty();
    assert_eq!(delta.removals, Vec::<QueryKey>::new());
    assert_eq!(delta.upserts.len(), 1);
    assert_eq!(delta.upserts[0].key, b);
    assert_eq!(delta.upserts[0].data, notes(3));
}

#[test]
fn restore_round_trips_and_revalidates_behind_the_painted_data() {
    let mut h = Harness::new();
    let (a, b) = (key("a"), key("b"));
    h.load(&a, notes(1));
    h.load(&b, notes(2));
    let saved: Vec<PersistedEntry> = h
        .cache
        .take_dirty()
        .upserts
        .iter()
        .map(|e| {
            crate::persist::decode(&crate::persist::encode(e).expect("encodes")).expect("decodes")
        })
        .collect();

    let mut fresh = Harness::new();
    fresh.now = h.now + DurationMs(5_000);
    let cmds = fresh.apply(CacheEvent::Restore { entries: saved });
    assert!(fetches(&cmds).is_empty(), "nothing observed yet");
    assert!(
        !cmds.contains(&CacheCommand::PersistSoon),
        "restoring writes nothing back"
    );
    let e = fresh.entry(&a);
    assert_eq!(e.data(), Some(&notes(1)));
    assert_eq!(e.etag(), Some("\"e1\""));
    assert_eq!(e.fetched_at(), h.entry(&a).fetched_at());
    assert_eq!(fresh.cache.total_bytes(), 200);
    // Painted at once, revalidated with If-None-Match, even though only 5 s old.
    let cmds = fresh.observe(&a);
    assert_eq!(fresh.entry(&a).status(), QueryStatus::Success);
    assert_eq!(only_fetch(&cmds).2.as_deref(), Some("\"e1\""));
    assert_eq!(fresh.cache.diagnostics().lookups().stale_hits, 1);
}

#[test]
fn restore_does_not_overwrite_live_data() {
    let mut h = Harness::new();
    let k = key("a");
    h.load(&k, notes(9));
    h.apply(CacheEvent::Restore {
        entries: vec![PersistedEntry {
            key: k.clone(),
            data: notes(1),
            etag: None,
            fetched_at: Millis(1),
            size_bytes: 10,
        }],
    });
    assert_eq!(h.entry(&k).data(), Some(&notes(9)));
    assert_eq!(h.cache.total_bytes(), 100);
}

// ---- property tests ----

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Observe(usize),
        Unobserve(usize),
        Prefetch(usize),
        Refetch(usize),
        /// Answer the outstanding request of this key (if any) with a body of this size.
        Succeed(usize, u64),
        NotModified(usize),
        Fail(usize, u16, Option<u64>),
        FailOffline(usize),
        Defer(usize, u64),
        /// Answer a request that is no longer current.
        StaleAnswer(usize),
        Invalidate(usize),
        SetData(usize, u64),
        Remove(usize),
        Focus,
        Online,
        Offline,
        Tick(u64),
    }

    const KEYS: usize = 6;

    /// Data shaped like what each key holds in the app: cases for case keys, pages of cases
    /// (overlapping, with versions that vary) for list keys, notes elsewhere.
    fn data_for(k: usize, n: u64) -> QueryData {
        let case = |id: u128, version: u64| {
            let mut c = crate::overlay::fixtures::case(
                id,
                casedesk_model::CaseStatus::Open,
                casedesk_model::Priority::Low,
                crate::overlay::fixtures::T0,
            );
            c.version = version;
            c
        };
        let page = |items: Vec<casedesk_model::Case>| {
            QueryData::CaseList(casedesk_model::CaseList {
                total: items.len() as u64,
                items,
                page: 1,
                per_page: 50,
            })
        };
        match k {
            0 => QueryData::Case(case(1, n % 7 + 1)),
            1 => QueryData::Case(case(2, n % 5 + 1)),
            // Which cases a page shows changes with `n`, as pages do when cases move.
            2 => page(vec![
                case(1 + u128::from(n % 3), n % 3 + 1),
                case(4, n % 4 + 1),
            ]),
            3 => page(vec![
                case(2, n % 6 + 1),
                case(3 + u128::from(n % 2), n % 2 + 1),
            ]),
            _ => notes(n.into()),
        }
    }

    fn keys() -> Vec<QueryKey> {
        vec![
            QueryKey::case(Uuid::from_u128(1)),
            QueryKey::case(Uuid::from_u128(2)),
            super::list("a"),
            super::list("b"),
            QueryKey::notes(Uuid::from_u128(1)),
            QueryKey::metrics(),
        ]
    }

    fn scopes() -> Vec<KeyScope> {
        vec![
            KeyScope::Everything,
            KeyScope::OfCase(Uuid::from_u128(1)),
            KeyScope::CaseLists,
            KeyScope::Key(QueryKey::case(Uuid::from_u128(1))),
            KeyScope::Key(QueryKey::notes(Uuid::from_u128(1))),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let k = 0..KEYS;
        prop_oneof![
            3 => k.clone().prop_map(Op::Observe),
            2 => k.clone().prop_map(Op::Unobserve),
            1 => k.clone().prop_map(Op::Prefetch),
            1 => k.clone().prop_map(Op::Refetch),
            4 => (k.clone(), 0u64..400).prop_map(|(k, s)| Op::Succeed(k, s)),
            1 => k.clone().prop_map(Op::NotModified),
            2 => (k.clone(), prop::sample::select(vec![404u16, 429, 500, 503]), prop::option::of(0u64..5_000))
                .prop_map(|(k, s, r)| Op::Fail(k, s, r)),
            1 => k.clone().prop_map(Op::FailOffline),
            1 => (k.clone(), 0u64..2_000).prop_map(|(k, d)| Op::Defer(k, d)),
            1 => k.clone().prop_map(Op::StaleAnswer),
            1 => (0..5usize).prop_map(Op::Invalidate),
            2 => (k.clone(), 0u64..400).prop_map(|(k, n)| Op::SetData(k, n)),
            1 => (0..5usize).prop_map(Op::Remove),
            1 => Just(Op::Focus),
            1 => Just(Op::Online),
            1 => Just(Op::Offline),
            3 => (0u64..400_000).prop_map(Op::Tick),
        ]
    }

    /// What the test believes from the commands alone, checked against the cache.
    #[derive(Default)]
    struct World {
        outstanding: HashMap<QueryKey, FetchId>,
        retired: HashMap<QueryKey, FetchId>,
        observers: HashMap<QueryKey, u32>,
    }

    impl World {
        fn absorb(&mut self, cmds: &[CacheCommand]) -> Result<(), TestCaseError> {
            for cmd in cmds {
                match cmd {
                    CacheCommand::Fetch { key, fetch, .. } => {
                        prop_assert!(
                            !self.outstanding.contains_key(key),
                            "second fetch for {key:?} while one is in flight"
                        );
                        self.outstanding.insert(key.clone(), *fetch);
                    }
                    CacheCommand::CancelFetch { key, fetch } => {
                        prop_assert_eq!(self.outstanding.remove(key), Some(*fetch));
                        self.retired.insert(key.clone(), *fetch);
                    }
                    _ => {}
                }
            }
            Ok(())
        }
    }

    fn check(h: &Harness, world: &World) -> Result<(), TestCaseError> {
        let cache = &h.cache;
        // The cache's requests in flight are exactly the ones the glue was told to send.
        for (key, entry) in cache.entries() {
            prop_assert_eq!(entry.in_flight(), world.outstanding.get(key).copied());
        }
        for key in world.outstanding.keys() {
            prop_assert!(cache.get(key).is_some_and(|e| e.in_flight().is_some()));
        }
        // Observed entries are never evicted or collected, and their counts agree.
        for (key, &count) in &world.observers {
            if count > 0 {
                prop_assert_eq!(cache.get(key).map(QueryEntry::observers), Some(count));
            }
        }
        // Bytes are accounted exactly, and the bounds hold unless only observed are left.
        let sum: u64 = cache.entries().map(|(_, e)| e.size_bytes()).sum();
        prop_assert_eq!(sum, cache.total_bytes());
        let all_observed = cache.entries().all(|(_, e)| e.is_observed());
        prop_assert!(cache.total_bytes() <= cache.config().max_bytes || all_observed);
        prop_assert!(cache.len() <= cache.config().max_entries || all_observed);
        // Online, nothing stays paused.
        if cache.is_online() {
            prop_assert!(cache
                .entries()
                .all(|(_, e)| e.fetch_status() != FetchStatus::Paused));
        }
        // Every deadline is covered by the wake the glue was asked for.
        if let Some(deadline) = cache.earliest_deadline() {
            prop_assert!(
                cache.scheduled_wake.is_some_and(|w| w <= deadline),
                "deadline {deadline:?} not covered by {:?}",
                cache.scheduled_wake
            );
        }
        // Data implies a fetch time.
        for (_, e) in cache.entries() {
            prop_assert_eq!(e.data().is_some(), e.fetched_at().is_some());
        }
        // The index holds no key whose entry is gone or empty (it would only grow).
        for key in cache.held_by_key.keys() {
            prop_assert!(
                cache.get(key).is_some_and(|e| e.data().is_some()),
                "{key:?} still indexed"
            );
        }
        // The cache's own case index answers exactly as a full scan of its entries does.
        let scanned =
            crate::overlay::CaseIndex::from_data(cache.entries().filter_map(|(_, e)| e.data()));
        for id in 1..=4u128 {
            let id = Uuid::from_u128(id);
            prop_assert_eq!(
                cache.known_case(id).map(|c| c.version),
                scanned.known_case(id).map(|c| c.version)
            );
        }
        Ok(())
    }

    fn run(ops: Vec<Op>, config: CacheConfig) -> Result<(), TestCaseError> {
        let keys = keys();
        let scopes = scopes();
        let mut h = Harness::with_config(config);
        let mut world = World::default();
        for op in ops {
            let event = match op {
                Op::Observe(k) => {
                    *world.observers.entry(keys[k].clone()).or_default() += 1;
                    Some(CacheEvent::Observe {
                        key: keys[k].clone(),
                        options: QueryOptions::DEFAULT,
                    })
                }
                Op::Unobserve(k) => {
                    let count = world.observers.entry(keys[k].clone()).or_default();
                    (*count > 0).then(|| {
                        *count -= 1;
                        CacheEvent::Unobserve {
                            key: keys[k].clone(),
                        }
                    })
                }
                Op::Prefetch(k) => Some(CacheEvent::Prefetch {
                    key: keys[k].clone(),
                }),
                Op::Refetch(k) => Some(CacheEvent::FetchRequested {
                    key: keys[k].clone(),
                }),
                Op::Succeed(k, size) => {
                    world
                        .outstanding
                        .remove(&keys[k])
                        .map(|fetch| CacheEvent::FetchSucceeded {
                            key: keys[k].clone(),
                            fetch,
                            data: data_for(k, size),
                            etag: Some(format!("\"{size}\"")),
                            size_bytes: size,
                        })
                }
                Op::NotModified(k) => {
                    world
                        .outstanding
                        .remove(&keys[k])
                        .map(|fetch| CacheEvent::NotModified {
                            key: keys[k].clone(),
                            fetch,
                        })
                }
                Op::Fail(k, status, retry_after) => {
                    world
                        .outstanding
                        .remove(&keys[k])
                        .map(|fetch| CacheEvent::FetchFailed {
                            key: keys[k].clone(),
                            fetch,
                            failure: http(status, retry_after.map(DurationMs)),
                        })
                }
                Op::FailOffline(k) => {
                    world
                        .outstanding
                        .remove(&keys[k])
                        .map(|fetch| CacheEvent::FetchFailed {
                            key: keys[k].clone(),
                            fetch,
                            failure: Failure::Offline,
                        })
                }
                Op::Defer(k, ms) => {
                    world
                        .outstanding
                        .remove(&keys[k])
                        .map(|fetch| CacheEvent::FetchDeferred {
                            key: keys[k].clone(),
                            fetch,
                            until: h.now + DurationMs(ms),
                        })
                }
                Op::StaleAnswer(k) => {
                    world
                        .retired
                        .get(&keys[k])
                        .map(|&fetch| CacheEvent::FetchSucceeded {
                            key: keys[k].clone(),
                            fetch,
                            data: notes(999),
                            etag: None,
                            size_bytes: 999,
                        })
                }
                Op::Invalidate(p) => Some(CacheEvent::Invalidate {
                    scope: scopes[p].clone(),
                }),
                Op::SetData(k, n) => Some(CacheEvent::SetData {
                    key: keys[k].clone(),
                    data: data_for(k, n),
                }),
                Op::Remove(p) => Some(CacheEvent::Remove {
                    scope: scopes[p].clone(),
                }),
                Op::Focus => Some(CacheEvent::WindowFocused),
                Op::Online => Some(CacheEvent::NetworkOnline),
                Op::Offline => Some(CacheEvent::NetworkOffline),
                Op::Tick(ms) => {
                    h.advance(ms);
                    Some(CacheEvent::Tick)
                }
            };
            let Some(event) = event else { continue };
            let cmds = h.apply(event);
            world.absorb(&cmds)?;
            check(&h, &world)?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn random_event_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..120)) {
            run(ops, CacheConfig::default())?;
        }

        #[test]
        fn tight_bounds_never_evict_what_is_observed(ops in prop::collection::vec(op(), 1..120)) {
            run(ops, CacheConfig { max_entries: 3, max_bytes: 500, ..CacheConfig::default() })?;
        }
    }
}

#[test]
fn data_set_from_elsewhere_makes_its_entry_the_most_recently_used() {
    let mut h = Harness::with_config(CacheConfig {
        max_entries: 3,
        ..CacheConfig::default()
    });
    let (a, b, c, d) = (key("a"), key("b"), key("c"), key("d"));
    set(&mut h, &a);
    set(&mut h, &b);
    set(&mut h, &c);
    // A mutation's answer lands on a (the oldest): it is now the newest, b the oldest.
    set(&mut h, &a);
    let stamps: Vec<u64> = [&a, &b, &c]
        .iter()
        .map(|k| h.entry(k).access_seq())
        .collect();
    assert!(stamps[0] > stamps[2], "a after c: {stamps:?}");
    set(&mut h, &d);
    assert!(h.cache.get(&a).is_some(), "the entry just written stays");
    assert!(h.cache.get(&b).is_none(), "the least recently used goes");
}

#[test]
fn an_invalidation_names_each_page_it_staled_once_in_key_order_in_one_notify() {
    let mut h = Harness::new();
    let pages = [list("c"), list("a"), list("b")];
    for page in &pages {
        h.apply(CacheEvent::SetData {
            key: page.clone(),
            data: QueryData::CaseList(casedesk_model::CaseList {
                items: vec![case(1, 1)],
                total: 1,
                page: 1,
                per_page: 50,
            }),
        });
    }
    h.observe(&list("b"));
    // The same batch invalidates every page and writes one of them again.
    let cmds = h.cache.apply_all(
        [
            CacheEvent::Invalidate {
                scope: KeyScope::CaseLists,
            },
            CacheEvent::FetchRequested { key: list("a") },
        ],
        h.now,
        &mut h.rng,
    );
    let notifies = cmds
        .iter()
        .filter(|c| matches!(c, CacheCommand::Notify { .. }))
        .count();
    assert_eq!(notifies, 1);
    assert_eq!(notified(&cmds), vec![list("a"), list("b"), list("c")]);
    assert!(pages.iter().all(|p| h.entry(p).is_stale(h.now)));
    // Marked only: no page was fetched but the observed one and the one asked for.
    let mut fetched: Vec<QueryKey> = fetches(&cmds).into_iter().map(|(k, _, _)| k).collect();
    fetched.sort();
    assert_eq!(fetched, vec![list("a"), list("b")]);
    // Staleness moved no data: the case index still finds the case on every page.
    assert!(h.cache.known_case(Uuid::from_u128(1)).is_some());
}
