//! What the Devtools page shows of the data layer: one row per cache entry, one per queued
//! action, and the filter that narrows the cache rows by key. Pure and serializable, so the
//! page only puts words on it and "Export diagnostics" writes the same rows.

use crate::cache::QueryCache;
use crate::clock::{DurationMs, Millis};
use crate::entry::{FetchStatus, QueryStatus};
use crate::failure::Failure;
use crate::key::QueryKey;
use crate::queue::{ActionState, ActionSummary, QueuedAction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One cache entry as the Devtools page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheRow {
    pub key: QueryKey,
    pub status: QueryStatus,
    pub fetch_status: FetchStatus,
    /// Views showing it now.
    pub observers: u32,
    /// Since the data was fetched or last confirmed (a 304); `None` without data.
    pub age: Option<DurationMs>,
    /// Stale data is shown but refetched when a view next looks (or at once, if observed).
    pub stale: bool,
    /// The response body's length.
    pub size_bytes: u64,
    /// The latest failure: the final error, or one still being retried. A success clears it.
    /// Its request id, when the server answered, finds it in the server's logs.
    pub last_error: Option<Failure>,
    /// When the next attempt is due, while a retry or the request budget makes it wait.
    pub next_attempt_at: Option<Millis>,
}

impl CacheRow {
    fn of(key: &QueryKey, entry: &crate::entry::QueryEntry, now: Millis) -> Self {
        Self {
            key: key.clone(),
            status: entry.status(),
            fetch_status: entry.fetch_status(),
            observers: entry.observers(),
            age: entry.data().and(entry.fetched_at()).map(|at| now.since(at)),
            stale: entry.is_stale(now),
            size_bytes: entry.size_bytes(),
            last_error: entry.last_failure().or(entry.error()).cloned(),
            next_attempt_at: entry.next_attempt_at(),
        }
    }
}

/// Narrows cache rows by key text: every word of the filter must appear in the key (its
/// segments joined by `/`), ignoring case. No words: every key matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter {
    words: Vec<String>,
}

impl KeyFilter {
    /// The filter a person typed.
    pub fn parse(text: &str) -> Self {
        Self {
            words: text.split_whitespace().map(str::to_lowercase).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn matches(&self, key: &QueryKey) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let text = key.to_string().to_lowercase();
        self.words.iter().all(|word| text.contains(word.as_str()))
    }
}

/// The rows of every entry `filter` matches, in key order, as of `now`.
pub fn cache_rows(cache: &QueryCache, now: Millis, filter: &KeyFilter) -> Vec<CacheRow> {
    cache
        .entries()
        .filter(|(key, _)| filter.matches(key))
        .map(|(key, entry)| CacheRow::of(key, entry, now))
        .collect()
}

/// One queued action as the Devtools page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    pub id: Uuid,
    pub case_id: Uuid,
    /// What it does (the app says it in words).
    pub what: ActionSummary,
    pub state: ActionState,
    /// Counted attempts (those made offline are not counted).
    pub attempts: u32,
    /// When it is sent next: only while pending. `None` while in flight, waiting for a
    /// conflict choice, or dead.
    pub next_attempt_at: Option<Millis>,
    /// The action it waits for (its case's creation), while that is queued.
    pub waits_for: Option<Uuid>,
    pub last_failure: Option<Failure>,
    pub enqueued_at: Millis,
    /// Who made it (`None` for actions queued before people, or on a server without them).
    pub author_id: Option<Uuid>,
}

/// The rows of `records`, in queue order.
pub fn queue_rows<'a>(records: impl IntoIterator<Item = &'a QueuedAction>) -> Vec<QueueRow> {
    records
        .into_iter()
        .map(|record| QueueRow {
            id: record.id(),
            case_id: record.action.case_id(),
            what: ActionSummary::of(&record.action),
            state: record.state,
            attempts: record.attempts,
            next_attempt_at: (record.state == ActionState::Pending)
                .then_some(record.next_attempt_at),
            waits_for: record.depends_on,
            last_failure: record.last_error.clone(),
            enqueued_at: record.enqueued_at,
            author_id: record.action.author,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Action, ActionKind};
    use crate::cache::tests::{case, key, notes, only_fetch, Harness};
    use crate::cache::CacheEvent;
    use crate::data::QueryData;
    use crate::queue::{ActionQueue, QueueConfig};
    use crate::SeededRandom;
    use casedesk_model::NewNote;

    fn http_500(request_id: &str) -> Failure {
        Failure::Http {
            status: 500,
            code: Some("internal".into()),
            message: "boom".into(),
            request_id: Some(request_id.into()),
            retry_after: None,
        }
    }

    fn row<'a>(rows: &'a [CacheRow], name: &str) -> &'a CacheRow {
        rows.iter()
            .find(|r| r.key == key(name))
            .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
    }

    #[test]
    fn a_row_per_entry_with_status_observers_age_freshness_and_size() {
        let mut h = Harness::new();
        h.load(&key("a"), notes(1));
        h.load(&key("b"), QueryData::Case(case(2, 1)));
        h.unobserve(&key("b"));
        h.advance(40_000);
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].key, key("a"), "in key order");
        let a = row(&rows, "a");
        assert_eq!(a.status, QueryStatus::Success);
        assert_eq!(a.observers, 1);
        assert_eq!(a.age, Some(DurationMs(40_000)));
        assert!(a.stale, "older than the 30 s stale time");
        assert_eq!(a.size_bytes, 100);
        assert_eq!(a.last_error, None);
        assert_eq!(row(&rows, "b").observers, 0);

        // A refetch makes it fresh and young again.
        let fetch = only_fetch(&h.apply(CacheEvent::FetchRequested { key: key("a") })).1;
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        assert_eq!(row(&rows, "a").fetch_status, FetchStatus::Fetching);
        h.advance(5);
        h.succeed(&key("a"), fetch, notes(2));
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        assert_eq!(row(&rows, "a").age, Some(DurationMs(0)));
        assert!(!row(&rows, "a").stale);
    }

    #[test]
    fn a_loading_entry_has_no_age_and_is_stale() {
        let mut h = Harness::new();
        h.observe(&key("new"));
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        let new = row(&rows, "new");
        assert_eq!(new.status, QueryStatus::Loading);
        assert_eq!(new.fetch_status, FetchStatus::Fetching);
        assert_eq!(new.age, None);
        assert!(new.stale);
    }

    #[test]
    fn the_last_error_keeps_its_request_id_while_retrying_and_when_final() {
        let mut h = Harness::new();
        let fetch = only_fetch(&h.observe(&key("a"))).1;
        h.fail(&key("a"), fetch, http_500("req-1"));
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        let a = row(&rows, "a");
        assert_eq!(a.status, QueryStatus::Loading, "still retrying");
        assert_eq!(
            a.last_error.as_ref().and_then(Failure::request_id),
            Some("req-1")
        );
        assert!(a.next_attempt_at.is_some_and(|at| at > h.now));

        // An unobserved entry gives up at once: the failure is final.
        let fetch = only_fetch(&h.observe(&key("b"))).1;
        h.unobserve(&key("b"));
        h.fail(&key("b"), fetch, http_500("req-2"));
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        let b = row(&rows, "b");
        assert_eq!(b.status, QueryStatus::Error);
        assert_eq!(
            b.last_error.as_ref().and_then(Failure::request_id),
            Some("req-2")
        );
        assert_eq!(b.next_attempt_at, None);
    }

    #[test]
    fn invalidate_and_remove_show_in_the_rows() {
        let mut h = Harness::new();
        h.load(&key("a"), notes(1));
        h.load(&key("b"), notes(2));
        h.unobserve(&key("b"));
        h.apply(CacheEvent::Invalidate {
            scope: key("b").into(),
        });
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        assert!(
            row(&rows, "b").stale,
            "invalidated data is stale at any age"
        );
        assert!(!row(&rows, "a").stale, "only the key asked for");
        h.apply(CacheEvent::Remove {
            scope: key("b").into(),
        });
        let rows = cache_rows(&h.cache, h.now, &KeyFilter::default());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key, key("a"));
    }

    #[test]
    fn the_filter_matches_every_word_anywhere_in_the_key_ignoring_case() {
        let list = QueryKey::case_list(&casedesk_model::CaseListQuery {
            status: Some(casedesk_model::CaseStatus::Open),
            sort: casedesk_model::CaseSort::UpdatedAsc,
            ..Default::default()
        });
        let metrics = QueryKey::metrics();
        let filter = |text: &str| KeyFilter::parse(text);
        assert!(filter("").matches(&list) && filter("  ").matches(&metrics));
        assert!(filter("").is_empty());
        assert!(filter("LIST").matches(&list));
        assert!(!filter("list").matches(&metrics));
        assert!(filter("cases/list").matches(&list), "across segments");
        assert!(filter("open list").matches(&list), "every word, any order");
        assert!(!filter("open metrics").matches(&list));
        assert!(filter("metrics").matches(&metrics));

        let search = |q: &str| {
            QueryKey::case_list(&casedesk_model::CaseListQuery {
                q: Some(q.into()),
                ..Default::default()
            })
        };
        let mut h = Harness::new();
        h.load(&search("alpha"), notes(1));
        h.load(&search("beta"), notes(2));
        let rows = cache_rows(&h.cache, h.now, &filter("ALP"));
        assert_eq!(
            rows.iter().map(|r| &r.key).collect::<Vec<_>>(),
            [&search("alpha")]
        );
        assert!(cache_rows(&h.cache, h.now, &filter("gamma")).is_empty());
    }

    /// The Devtools buttons send the cache's events scoped to one entry's key: that reaches
    /// that entry alone.
    #[test]
    fn an_entry_key_scope_reaches_that_entry_alone() {
        let id = Uuid::from_u128(5);
        let open = casedesk_model::CaseListQuery {
            status: Some(casedesk_model::CaseStatus::Open),
            ..Default::default()
        };
        let keys = [
            QueryKey::case(id),
            QueryKey::case(Uuid::from_u128(6)),
            QueryKey::case_list(&Default::default()),
            QueryKey::case_list(&open),
            QueryKey::notes(id),
            QueryKey::metrics(),
        ];
        for a in &keys {
            for b in &keys {
                let scope = crate::key::KeyScope::from(b);
                assert!(a == b || !scope.matches(a), "{b:?} reaches {a:?}");
            }
        }
    }

    #[test]
    fn queue_rows_show_state_attempts_next_attempt_and_last_failure() {
        let mut queue = ActionQueue::new(QueueConfig::default());
        let mut rng = SeededRandom::new(3);
        let now = Millis(1_000_000);
        let note = |n: u128| {
            Action::new(
                Uuid::from_u128(n),
                Uuid::from_u128(100 + n),
                ActionKind::AddNote {
                    case_id: Uuid::from_u128(9),
                    note: NewNote {
                        id: Uuid::from_u128(200 + n),
                        body: "hello".into(),
                        author: None,
                    },
                },
                now,
            )
        };
        queue.enqueue(note(1), now);
        queue.enqueue(note(2), now);
        let sent = queue.ready(now, true);
        let first = Uuid::from_u128(1);
        assert!(sent.send.iter().any(|o| o.id == first), "{sent:?}");
        queue.on_failure(first, &http_500("req-9"), now, true, &mut rng);

        let rows = queue_rows(queue.records());
        assert_eq!(rows.len(), 2);
        let failed = rows.iter().find(|r| r.id == first).expect("the first row");
        assert_eq!(failed.state, ActionState::Pending);
        assert_eq!(failed.attempts, 1);
        assert!(
            failed.next_attempt_at.is_some_and(|at| at > now),
            "{failed:?}"
        );
        assert_eq!(
            failed.last_failure.as_ref().and_then(Failure::request_id),
            Some("req-9")
        );
        assert_eq!(failed.case_id, Uuid::from_u128(9));
        assert_eq!(failed.what, ActionSummary::AddNote);
        let second = rows
            .iter()
            .find(|r| r.id == Uuid::from_u128(2))
            .expect("row");
        assert_eq!(second.attempts, 0);
        assert_eq!(second.last_failure, None);
        if second.state == ActionState::InFlight {
            assert_eq!(second.next_attempt_at, None, "in flight: nothing scheduled");
        }
    }
}
