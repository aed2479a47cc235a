//! Confirmation: what the server's answer to one action does to the cache. One pure
//! function turns (cache, action, answer) into the cache events the glue applies in one
//! batch (`QueryCache::apply_all`) with the queue's removal of the action, so nothing flickers.

use crate::action::{Action, ActionKind};
use crate::cache::{CacheEvent, QueryCache};
use crate::data::QueryData;
use crate::key::{KeyScope, QueryKey};
use crate::overlay::{self, OverlayTarget};
use crate::request::ServerAnswer;

/// The cache events that confirm `action` with `answer`, in order:
///
/// 1. every cached list page and the metrics, settled as the server now has them: computed
///    against the cache from before the answer (the fold needs the old state to know what
///    moved), written only where they change;
/// 2. the action's own entry: the answered case, the notes with the new note, or the
///    deleted case's queries removed;
/// 3. invalidations of what was settled by guess (a page a case left runs one short; a
///    created case may belong on a page), so it is revalidated behind the settled data.
///
/// The created-here rule: a case created on this device is unknown to the server until its
/// creation lands, so a view that asked for its notes before then holds a 404. Once the
/// creation is confirmed, that 404 is replaced by the truth: no notes. A 404 for a case the
/// server knew (any other confirmed action) is the server's word and stays.
pub fn confirmation_events(
    cache: &QueryCache,
    action: &Action,
    answer: &ServerAnswer,
) -> Vec<CacheEvent> {
    let mut events = Vec::new();
    let mut settled_keys = Vec::new();
    let metrics = KeyScope::Key(QueryKey::Metrics);
    let others = cache
        .entries_in(&KeyScope::CaseLists)
        .chain(cache.entries_in(&metrics));
    for (key, entry) in others {
        let Some(server) = entry.data() else {
            continue;
        };
        let target = OverlayTarget::of(key);
        let settled = overlay::settle(&target, server, action, answer, cache);
        if settled != *server {
            events.push(CacheEvent::SetData {
                key: key.clone(),
                data: settled,
            });
            settled_keys.push(key.clone());
        }
    }
    match answer {
        ServerAnswer::Case(case) => {
            events.push(CacheEvent::SetData {
                key: QueryKey::Case(case.id),
                data: QueryData::Case(case.clone()),
            });
            let notes = QueryKey::Notes(case.id);
            let created = matches!(action.kind, ActionKind::CreateCase { .. });
            if created && cache.get(&notes).is_some_and(|e| e.data().is_none()) {
                events.push(CacheEvent::SetData {
                    key: notes,
                    data: QueryData::Notes(Vec::new()),
                });
            }
        }
        ServerAnswer::Note(note) => {
            let key = QueryKey::Notes(note.case_id);
            let cached = cache.get(&key).and_then(|e| e.data());
            let data = match cached {
                Some(server) => overlay::settle(
                    &OverlayTarget::Notes(note.case_id),
                    server,
                    action,
                    answer,
                    cache,
                ),
                // Nothing cached (the case was new): the confirmed note is all we know; it
                // is refetched to learn the rest.
                None => QueryData::Notes(vec![note.clone()]),
            };
            if cached.is_none() {
                settled_keys.push(key.clone());
            }
            events.push(CacheEvent::SetData { key, data });
        }
        // The case is gone: forget its queries (a view still on them refetches and learns
        // it is gone).
        ServerAnswer::Deleted => events.push(CacheEvent::Remove {
            scope: KeyScope::OfCase(action.case_id()),
        }),
    }
    // The change wrote a history entry on the server: a cached history is read again.
    let history = QueryKey::History(action.case_id());
    if !matches!(answer, ServerAnswer::Deleted) && cache.get(&history).is_some() {
        settled_keys.push(history);
    }
    events.extend(settled_keys.into_iter().map(|key| CacheEvent::Invalidate {
        scope: KeyScope::Key(key),
    }));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{case, ts, Harness};
    use crate::clock::Millis;
    use crate::failure::Failure;
    use casedesk_model::{
        CaseList, CaseListQuery, CasePatch, CaseStatus, NewCase, NewNote, Note, Priority,
    };
    use uuid::Uuid;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn action(kind: ActionKind) -> Action {
        Action::new(id(900), id(901), kind, Millis(0))
    }

    fn update(base: &casedesk_model::Case, status: CaseStatus) -> Action {
        action(ActionKind::UpdateCase {
            id: base.id,
            patch: CasePatch {
                status: Some(status),
                ..CasePatch::default()
            },
            base_version: base.version,
            base: base.clone(),
        })
    }

    fn create(n: u128) -> Action {
        action(ActionKind::CreateCase {
            case: NewCase {
                id: id(n),
                title: format!("case {n}"),
                description: String::new(),
                status: CaseStatus::Open,
                priority: Priority::Medium,
                assignee: None,
                tags: Vec::new(),
            },
        })
    }

    fn list_of(items: Vec<casedesk_model::Case>) -> QueryData {
        let total = items.len() as u64;
        QueryData::CaseList(CaseList {
            items,
            total,
            page: 1,
            per_page: 50,
        })
    }

    fn open_list() -> QueryKey {
        QueryKey::case_list(&CaseListQuery {
            status: Some(CaseStatus::Open),
            ..CaseListQuery::default()
        })
    }

    fn not_found() -> Failure {
        Failure::Http {
            status: 404,
            code: Some("not_found".into()),
            message: "no such case".into(),
            request_id: None,
            retry_after: None,
        }
    }

    /// A notes entry whose fetch answered 404 (permanent: no retries).
    fn notes_not_found(h: &mut Harness, case_id: Uuid) {
        let key = QueryKey::Notes(case_id);
        let cmds = h.observe(&key);
        let fetch = crate::cache::tests::only_fetch(&cmds).1;
        h.fail(&key, fetch, not_found());
        assert!(h.entry(&key).error().is_some());
    }

    fn set_data(events: &[CacheEvent]) -> Vec<&QueryKey> {
        events
            .iter()
            .filter_map(|e| match e {
                CacheEvent::SetData { key, .. } => Some(key),
                _ => None,
            })
            .collect()
    }

    fn invalidated(events: &[CacheEvent]) -> Vec<&KeyScope> {
        events
            .iter()
            .filter_map(|e| match e {
                CacheEvent::Invalidate { scope } => Some(scope),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_confirmed_update_writes_the_case_and_settles_the_lists_it_left() {
        let mut h = Harness::new();
        let before = case(1, 1);
        h.load(&QueryKey::Case(before.id), QueryData::Case(before.clone()));
        h.load(&open_list(), list_of(vec![before.clone()]));
        let mut after = before.clone();
        after.status = CaseStatus::Resolved;
        after.version = 2;
        after.updated_at = ts(10);
        let events = confirmation_events(
            &h.cache,
            &update(&before, CaseStatus::Resolved),
            &ServerAnswer::Case(after.clone()),
        );
        // The open list loses the resolved case at once, and is revalidated behind.
        assert_eq!(
            set_data(&events),
            vec![&open_list(), &QueryKey::Case(before.id)]
        );
        match &events[0] {
            CacheEvent::SetData { data, .. } => {
                assert!(data.as_case_list().unwrap().items.is_empty())
            }
            other => panic!("{other:?}"),
        }
        assert!(events.contains(&CacheEvent::SetData {
            key: QueryKey::Case(before.id),
            data: QueryData::Case(after),
        }));
        assert_eq!(invalidated(&events), vec![&KeyScope::Key(open_list())]);
    }

    #[test]
    fn a_confirmed_change_has_its_cases_cached_history_read_again() {
        let mut h = Harness::new();
        let before = case(1, 1);
        h.load(&QueryKey::Case(before.id), QueryData::Case(before.clone()));
        h.load(
            &QueryKey::History(before.id),
            QueryData::History(Vec::new()),
        );
        h.load(&QueryKey::History(id(2)), QueryData::History(Vec::new()));
        let mut after = before.clone();
        after.status = CaseStatus::Resolved;
        after.version = 2;
        let events = confirmation_events(
            &h.cache,
            &update(&before, CaseStatus::Resolved),
            &ServerAnswer::Case(after),
        );
        // Its own history only; another case's stays as it is.
        assert_eq!(
            invalidated(&events),
            vec![&KeyScope::Key(QueryKey::History(before.id))]
        );
    }

    #[test]
    fn a_confirmed_creation_replaces_the_404_of_its_notes_with_no_notes() {
        let mut h = Harness::new();
        // The person opened the case created here before its creation landed.
        notes_not_found(&mut h, id(5));
        let mut created = case(5, 1);
        created.title = "case 5".into();
        let events =
            confirmation_events(&h.cache, &create(5), &ServerAnswer::Case(created.clone()));
        assert_eq!(
            events,
            vec![
                CacheEvent::SetData {
                    key: QueryKey::Case(id(5)),
                    data: QueryData::Case(created),
                },
                CacheEvent::SetData {
                    key: QueryKey::Notes(id(5)),
                    data: QueryData::Notes(Vec::new()),
                },
            ]
        );
    }

    #[test]
    fn a_creation_read_back_before_its_answer_is_applied_is_still_counted_by_older_metrics() {
        use casedesk_model::{DashboardMetrics, PriorityCounts, StatusCounts};
        let mut h = Harness::new();
        let metrics_at = |generated_ms: i64, open: u64| {
            QueryData::Metrics(DashboardMetrics {
                by_status: StatusCounts {
                    open,
                    ..StatusCounts::default()
                },
                by_priority: PriorityCounts::default(),
                opened_per_day: Vec::new(),
                resolved_per_day: Vec::new(),
                mean_hours_to_resolve: None,
                generated_at: ts(generated_ms),
            })
        };
        h.load(&QueryKey::Metrics, metrics_at(0, 24));
        // The case page read the new case from the server before the queue applied the
        // creation's answer: the cache knows it, the metrics (older) do not count it.
        let mut created = case(5, 1);
        created.title = "case 5".into();
        created.created_at = ts(10);
        created.updated_at = ts(10);
        h.load(&QueryKey::Case(id(5)), QueryData::Case(created.clone()));
        let events =
            confirmation_events(&h.cache, &create(5), &ServerAnswer::Case(created.clone()));
        let settled = events.iter().find_map(|e| match e {
            CacheEvent::SetData {
                key: QueryKey::Metrics,
                data: QueryData::Metrics(m),
            } => Some(m.by_status.open),
            _ => None,
        });
        assert_eq!(settled, Some(25), "the dashboard counts the new case");

        // Metrics generated after the creation count it already: nothing to add.
        let mut h = Harness::new();
        h.load(&QueryKey::Metrics, metrics_at(20, 25));
        h.load(&QueryKey::Case(id(5)), QueryData::Case(created.clone()));
        let events = confirmation_events(&h.cache, &create(5), &ServerAnswer::Case(created));
        assert!(!set_data(&events).contains(&&QueryKey::Metrics));
    }

    #[test]
    fn an_update_read_back_before_its_answer_is_applied_still_moves_older_metrics() {
        use casedesk_model::{DashboardMetrics, PriorityCounts, StatusCounts};
        let metrics_at = |generated_ms: i64, open: u64, closed: u64| {
            QueryData::Metrics(DashboardMetrics {
                by_status: StatusCounts {
                    open,
                    closed,
                    ..StatusCounts::default()
                },
                by_priority: PriorityCounts::default(),
                opened_per_day: Vec::new(),
                resolved_per_day: Vec::new(),
                mean_hours_to_resolve: None,
                generated_at: ts(generated_ms),
            })
        };
        let counts = |events: &[CacheEvent]| {
            events.iter().find_map(|e| match e {
                CacheEvent::SetData {
                    key: QueryKey::Metrics,
                    data: QueryData::Metrics(m),
                } => Some((m.by_status.open, m.by_status.closed)),
                _ => None,
            })
        };
        let mut base = case(5, 1);
        base.updated_at = ts(0);
        let mut closed = base.clone();
        closed.status = CaseStatus::Closed;
        closed.version = 2;
        closed.updated_at = ts(10);
        let closing = update(&base, CaseStatus::Closed);

        // The case page read the closed case (a live event made it refetch) before the queue
        // applied the answer: the metrics, generated before the change, count it open.
        let mut h = Harness::new();
        h.load(&QueryKey::Metrics, metrics_at(5, 24, 3));
        h.load(&QueryKey::Case(id(5)), QueryData::Case(closed.clone()));
        let events = confirmation_events(&h.cache, &closing, &ServerAnswer::Case(closed.clone()));
        assert_eq!(
            counts(&events),
            Some((23, 4)),
            "the dashboard moves the case"
        );

        // Metrics generated after the change count it closed already: nothing to move.
        let mut h = Harness::new();
        h.load(&QueryKey::Metrics, metrics_at(20, 23, 4));
        h.load(&QueryKey::Case(id(5)), QueryData::Case(closed.clone()));
        let events = confirmation_events(&h.cache, &closing, &ServerAnswer::Case(closed.clone()));
        assert_eq!(counts(&events), None);

        // The usual order (the cache still holds the case as it was): moved once, as before.
        let mut h = Harness::new();
        h.load(&QueryKey::Metrics, metrics_at(5, 24, 3));
        h.load(&QueryKey::Case(id(5)), QueryData::Case(base.clone()));
        let events = confirmation_events(&h.cache, &closing, &ServerAnswer::Case(closed));
        assert_eq!(counts(&events), Some((23, 4)));
    }

    #[test]
    fn a_404_for_a_case_the_server_knew_is_kept() {
        let mut h = Harness::new();
        notes_not_found(&mut h, id(1));
        let before = case(1, 1);
        let mut after = before.clone();
        after.version = 2;
        let events = confirmation_events(
            &h.cache,
            &update(&before, CaseStatus::Closed),
            &ServerAnswer::Case(after),
        );
        assert_eq!(set_data(&events), vec![&QueryKey::Case(id(1))]);
    }

    #[test]
    fn a_confirmed_deletion_forgets_everything_of_the_case_and_settles_lists() {
        let mut h = Harness::new();
        let gone = case(1, 3);
        let kept = case(2, 1);
        h.load(&QueryKey::Case(gone.id), QueryData::Case(gone.clone()));
        h.load(&open_list(), list_of(vec![gone.clone(), kept.clone()]));
        let delete = action(ActionKind::DeleteCase {
            id: gone.id,
            last_known: Some(gone.clone()),
        });
        let events = confirmation_events(&h.cache, &delete, &ServerAnswer::Deleted);
        assert!(events.contains(&CacheEvent::Remove {
            scope: KeyScope::OfCase(gone.id),
        }));
        assert_eq!(set_data(&events), vec![&open_list()]);
        assert_eq!(invalidated(&events), vec![&KeyScope::Key(open_list())]);
        // Applied as one batch: one notify, the case gone, the page one shorter.
        let cmds = h.cache.apply_all(events, h.now, &mut h.rng);
        let notifies = cmds
            .iter()
            .filter(|c| matches!(c, crate::cache::CacheCommand::Notify { .. }))
            .count();
        assert_eq!(notifies, 1);
        let page = h
            .entry(&open_list())
            .data()
            .unwrap()
            .as_case_list()
            .unwrap();
        assert_eq!(page.items, vec![kept]);
        assert!(
            h.entry(&QueryKey::Case(gone.id)).data().is_none(),
            "emptied, refetching"
        );
    }

    #[test]
    fn a_confirmed_note_joins_the_cached_notes() {
        let mut h = Harness::new();
        let earlier = Note {
            id: id(40),
            case_id: id(1),
            body: "first".into(),
            author: "dana".into(),
            author_id: None,
            created_at: ts(0),
        };
        h.load(
            &QueryKey::Notes(id(1)),
            QueryData::Notes(vec![earlier.clone()]),
        );
        let added = Note {
            id: id(41),
            body: "second".into(),
            created_at: ts(5),
            ..earlier.clone()
        };
        let add = action(ActionKind::AddNote {
            case_id: id(1),
            note: NewNote {
                id: added.id,
                body: added.body.clone(),
                author: None,
            },
        });
        let events = confirmation_events(&h.cache, &add, &ServerAnswer::Note(added.clone()));
        assert_eq!(
            events,
            vec![CacheEvent::SetData {
                key: QueryKey::Notes(id(1)),
                data: QueryData::Notes(vec![earlier, added.clone()]),
            }]
        );
        // Nothing cached: the note is all we know, and the notes are refetched.
        let empty = Harness::new();
        let events = confirmation_events(&empty.cache, &add, &ServerAnswer::Note(added.clone()));
        assert_eq!(
            events,
            vec![
                CacheEvent::SetData {
                    key: QueryKey::Notes(id(1)),
                    data: QueryData::Notes(vec![added]),
                },
                CacheEvent::Invalidate {
                    scope: KeyScope::Key(QueryKey::Notes(id(1))),
                },
            ]
        );
    }
}
