use super::*;
use crate::action::Action;
use crate::key::ListKey;
use crate::overlay::fixtures::*;
use crate::overlay::NoKnownCases;
use casedesk_model::{
    AssigneeFilter, CaseListQuery, CasePatch, CaseSort, CaseStatus, ChangeSeq, LogPosition,
    Priority,
};
use std::collections::HashMap;

const ME: &str = "0191c7a2-5b7e-7c3a-9f10-000000000001";

fn at(ms: u64) -> Millis {
    Millis(ms)
}

/// Position `n` of the log (dense numbers, one log).
fn pos(n: u64) -> Cursor {
    Cursor::from(LogPosition { log: 1, number: n })
}

fn seq(n: u64) -> ChangeSeq {
    LogPosition { log: 1, number: n }.seq()
}

fn upserted(n: u64, case: &Case) -> Change {
    Change {
        seq: seq(n),
        body: ChangeBody::Case { case: case.clone() },
    }
}

fn deleted(n: u64, id: Uuid) -> Change {
    Change {
        seq: seq(n),
        body: ChangeBody::CaseDeleted { id },
    }
}

fn noted(n: u64, note: &Note) -> Change {
    Change {
        seq: seq(n),
        body: ChangeBody::Note { note: note.clone() },
    }
}

fn unknown(n: u64) -> Change {
    Change {
        seq: seq(n),
        body: ChangeBody::Unknown,
    }
}

/// A page answering a pull from `since` in the first download.
fn page(since: Option<Cursor>, changes: Vec<Change>, cursor: Cursor, more: bool) -> ReplicaEvent {
    page_of(1, since, changes, cursor, more)
}

fn page_of(
    download: u32,
    since: Option<Cursor>,
    changes: Vec<Change>,
    cursor: Cursor,
    more: bool,
) -> ReplicaEvent {
    ReplicaEvent::Page {
        from: PullFrom { since, download },
        page: ChangePage {
            changes,
            cursor,
            more,
        },
    }
}

/// A cursor part-way through a working set (not a log position).
fn part_way(n: u64) -> Cursor {
    Cursor(format!("w1.part-way.{n}"))
}

fn versioned(mut case: Case, version: u64) -> Case {
    case.version = version;
    case
}

fn assigned(mut case: Case, to: &str) -> Case {
    case.assignee = Some(to.to_owned());
    case
}

fn open(n: u128) -> Case {
    case(n, CaseStatus::Open, Priority::Medium, T0 - DAY)
}

/// A replica whose working set (`cases`, then `notes`) downloaded in one page, ending on log
/// position 10.
fn downloaded(cases: &[Case], notes: &[Note]) -> Replica {
    let mut replica = Replica::new(Some(ME.into()));
    let changes = cases
        .iter()
        .map(|c| upserted(10, c))
        .chain(notes.iter().map(|n| noted(10, n)))
        .collect();
    replica.apply(page(None, changes, pos(10), false), at(T0));
    assert_eq!(replica.status().snapshot, Snapshot::Complete);
    replica
}

/// Delivers `change` live (its `seq` as given).
fn live(replica: &mut Replica, change: Change) -> Vec<ReplicaCommand> {
    replica.apply(ReplicaEvent::Live(Box::new(change)), at(T0))
}

fn batch(commands: &[ReplicaCommand]) -> StoreBatch {
    commands
        .iter()
        .find_map(|c| match c {
            ReplicaCommand::Store(batch) => Some(batch.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn put_keys(commands: &[ReplicaCommand]) -> Vec<RecordKey> {
    batch(commands).put.iter().map(ReplicaRecord::key).collect()
}

/// The cursors of the pulls asked for.
fn pulls(commands: &[ReplicaCommand]) -> Vec<Option<Cursor>> {
    commands
        .iter()
        .filter_map(|c| match c {
            ReplicaCommand::Pull(from) => Some(from.since.clone()),
            _ => None,
        })
        .collect()
}

fn held_ids(replica: &Replica) -> Vec<u128> {
    replica.cases().map(|c| c.id.as_u128()).collect()
}

fn list(replica: &Replica, query: CaseListQuery) -> ListAnswer {
    replica.answer(&ListKey::new(query), [], &NoKnownCases, at(T0))
}

fn listed(answer: &ListAnswer) -> Vec<u128> {
    answer.list.items.iter().map(|c| c.id.as_u128()).collect()
}

fn only(status: CaseStatus) -> CaseListQuery {
    CaseListQuery {
        status: Some(status),
        ..CaseListQuery::default()
    }
}

// Applying the feed.

#[test]
fn the_working_set_is_complete_only_after_its_last_page() {
    let mut replica = Replica::new(Some(ME.into()));
    assert_eq!(
        replica.apply(ReplicaEvent::Resume, at(T0)),
        vec![ReplicaCommand::Pull(PullFrom {
            since: None,
            download: 1
        })]
    );
    let first = replica.apply(
        page(
            None,
            vec![upserted(7, &open(1)), upserted(7, &open(2))],
            part_way(1),
            true,
        ),
        at(T0),
    );
    assert_eq!(pulls(&first), vec![Some(part_way(1))]);
    assert_eq!(
        replica.status().snapshot,
        Snapshot::Downloading { received: 2 }
    );
    let open_list = list(&replica, only(CaseStatus::Open));
    assert_eq!(listed(&open_list), vec![1, 2]);
    assert_eq!(open_list.coverage, Coverage::Partial);

    let last = replica.apply(
        page(
            Some(part_way(1)),
            vec![upserted(7, &open(3)), upserted(8, &open(4))],
            pos(8),
            false,
        ),
        at(T0 + 5),
    );
    assert!(pulls(&last).is_empty());
    let status = replica.status();
    assert_eq!(status.snapshot, Snapshot::Complete);
    assert_eq!(status.synced_at, Some(at(T0 + 5)));
    assert_eq!(status.cases, 4);
    assert_eq!(replica.cursor(), Some(&pos(8)));
    assert_eq!(
        list(&replica, only(CaseStatus::Open)).coverage,
        Coverage::Complete
    );
}

#[test]
fn a_page_lands_in_one_store_batch_with_its_cursor() {
    // The glue writes a batch in one transaction: a crash leaves the old cursor with the old
    // records, or the new cursor with all of the page's.
    let mut replica = downloaded(&[open(1)], &[]);
    let commands = replica.apply(
        page(
            Some(pos(10)),
            vec![upserted(11, &open(2)), deleted(12, case_id(1))],
            pos(12),
            false,
        ),
        at(T0),
    );
    let stores: Vec<&ReplicaCommand> = commands
        .iter()
        .filter(|c| matches!(c, ReplicaCommand::Store(_)))
        .collect();
    assert_eq!(stores.len(), 1);
    let stored = batch(&commands);
    assert!(stored.put.contains(&ReplicaRecord::Meta(MetaRecord {
        cursor: Some(pos(12)),
        ..replica_meta(&replica)
    })));
    assert_eq!(
        stored
            .put
            .iter()
            .map(ReplicaRecord::key)
            .collect::<Vec<_>>(),
        vec![
            RecordKey::Meta,
            RecordKey::Case(case_id(2)),
            RecordKey::Tombstone(case_id(1))
        ]
    );
    assert_eq!(stored.delete, vec![RecordKey::Case(case_id(1))]);
    // A page that does not decode never reaches the replica: the feed is asked again.
    let cut = r#"{"changes":[{"seq":"0000000000000001.13","kind":"case"}],"cursor":"0000000000000001.13","more":false}"#;
    assert!(serde_json::from_str::<ChangePage>(cut).is_err());
}

fn replica_meta(replica: &Replica) -> MetaRecord {
    match replica.records().next() {
        Some(ReplicaRecord::Meta(meta)) => meta,
        other => panic!("the first record is the meta record, not {other:?}"),
    }
}

#[test]
fn a_page_answering_another_position_is_ignored_and_the_feed_asked_again() {
    let mut replica = downloaded(&[open(1)], &[]);
    let before = replica.clone();
    for (download, since) in [
        (1, None),
        (1, Some(pos(9))),
        (1, Some(pos(11))),
        (2, Some(pos(10))),
    ] {
        let stale = page_of(
            download,
            since,
            vec![upserted(11, &open(9))],
            pos(11),
            false,
        );
        assert_eq!(
            replica.apply(stale, at(T0)),
            vec![ReplicaCommand::Pull(PullFrom {
                since: Some(pos(10)),
                download: 1
            })]
        );
    }
    assert_eq!(replica, before);
}

#[test]
fn the_next_live_change_moves_the_cursor_and_a_gap_asks_for_what_was_missed() {
    let mut replica = downloaded(&[open(1)], &[]);
    let commands = live(&mut replica, upserted(11, &open(2)));
    assert_eq!(replica.cursor(), Some(&pos(11)));
    assert_eq!(
        put_keys(&commands),
        vec![RecordKey::Meta, RecordKey::Case(case_id(2))]
    );
    assert!(pulls(&commands).is_empty());
    // 12 and 13 were missed: 14 is shown at once, and the feed asked from 11.
    let commands = live(&mut replica, upserted(14, &open(3)));
    assert!(replica.case(case_id(3)).is_some());
    assert_eq!(replica.cursor(), Some(&pos(11)));
    assert_eq!(pulls(&commands), vec![Some(pos(11))]);
    // One already held (a page brought it) is skipped.
    assert!(live(&mut replica, upserted(9, &versioned(open(1), 5))).is_empty());
    assert_eq!(replica.case(case_id(1)).map(|c| c.version), Some(1));
    assert_eq!(
        pulls(&replica.apply(ReplicaEvent::Resume, at(T0))),
        vec![Some(pos(11))]
    );
}

#[test]
fn an_older_or_repeated_copy_of_a_case_changes_nothing() {
    let mut replica = downloaded(&[versioned(open(1), 2)], &[]);
    let mut older = versioned(open(1), 1);
    older.title = "Older".into();
    // Out of order (after a gap), so that only the version decides.
    assert!(batch(&live(&mut replica, upserted(20, &older)))
        .put
        .is_empty());
    assert!(
        batch(&live(&mut replica, upserted(21, &versioned(open(1), 2))))
            .put
            .is_empty()
    );
    assert_eq!(replica.case(case_id(1)).unwrap().title, "Case 1");

    let mut newer = versioned(open(1), 3);
    newer.title = "Newer".into();
    let commands = live(&mut replica, upserted(22, &newer));
    assert_eq!(put_keys(&commands), vec![RecordKey::Case(case_id(1))]);
    assert!(commands.contains(&ReplicaCommand::Notify(ReplicaChanged {
        cases: vec![case_id(1)],
        notes_of: vec![],
    })));
    assert_eq!(replica.case(case_id(1)), Some(&newer));
}

#[test]
fn a_deletion_removes_the_case_with_its_notes_and_keeps_later_copies_out() {
    let first = note(1, case_id(1), T0 - 10);
    let mut replica = downloaded(&[open(1), open(2)], std::slice::from_ref(&first));
    let commands = live(&mut replica, deleted(11, case_id(1)));
    let stored = batch(&commands);
    assert_eq!(
        stored.delete,
        vec![RecordKey::Case(case_id(1)), RecordKey::Note(first.id)]
    );
    assert_eq!(
        stored
            .put
            .iter()
            .map(ReplicaRecord::key)
            .collect::<Vec<_>>(),
        vec![RecordKey::Meta, RecordKey::Tombstone(case_id(1))]
    );
    assert!(commands.contains(&ReplicaCommand::Notify(ReplicaChanged {
        cases: vec![case_id(1)],
        notes_of: vec![case_id(1)],
    })));
    assert_eq!(held_ids(&replica), vec![2]);
    assert!(replica.known_absent(case_id(1)));

    // Copies that were on their way from before the deletion (arriving after a gap, so not
    // skipped by position): the case at any version, a note on it, the deletion again.
    for change in [
        upserted(30, &versioned(open(1), 7)),
        noted(31, &note(2, case_id(1), T0)),
        deleted(32, case_id(1)),
    ] {
        assert!(batch(&live(&mut replica, change)).put.is_empty());
    }
    assert_eq!(held_ids(&replica), vec![2]);
    assert_eq!(replica.status().notes, 0);
}

#[test]
fn notes_are_kept_by_id_under_their_case_oldest_first() {
    let later = note(2, case_id(1), T0 - 5);
    let earlier = note(3, case_id(1), T0 - 50);
    let mut replica = downloaded(&[open(1), open(2)], &[later.clone(), earlier.clone()]);
    assert!(batch(&live(&mut replica, noted(20, &later))).put.is_empty());
    let notes = replica.notes(case_id(1));
    assert_eq!(notes.notes, vec![earlier, later]);
    assert!(notes.complete);
    assert_eq!(replica.notes(case_id(2)).notes, vec![]);
    assert_eq!(replica.status().notes, 2);

    let added = note(4, case_id(2), T0);
    let commands = live(&mut replica, noted(11, &added));
    assert_eq!(
        put_keys(&commands),
        vec![RecordKey::Meta, RecordKey::Note(added.id)]
    );
    assert!(commands.contains(&ReplicaCommand::Notify(ReplicaChanged {
        cases: vec![],
        notes_of: vec![case_id(2)],
    })));
}

#[test]
fn a_note_that_arrives_before_its_case_waits_for_it_until_a_prune() {
    let mut replica = downloaded(&[open(1)], &[]);
    let early = note(1, case_id(9), T0);
    live(&mut replica, noted(12, &early));
    live(&mut replica, upserted(11, &open(9)));
    assert_eq!(replica.notes(case_id(9)).notes, vec![early]);

    let stray = note(2, case_id(8), T0);
    live(&mut replica, noted(13, &stray));
    assert_eq!(replica.status().notes, 2);
    let commands = replica.apply(ReplicaEvent::Prune, at(T0));
    assert_eq!(batch(&commands).delete, vec![RecordKey::Note(stray.id)]);
    assert_eq!(replica.status().notes, 1);
}

#[test]
fn notes_are_complete_for_cases_that_came_with_them_or_were_created_since() {
    let mut replica = downloaded(&[open(1)], &[]);
    assert!(replica.notes(case_id(1)).complete);
    // Created after the download: the feed sends every note it will have.
    live(&mut replica, upserted(11, &open(2)));
    assert!(replica.notes(case_id(2)).complete);
    // An old case joining the working set (reopened): its older notes never come.
    live(&mut replica, upserted(12, &versioned(open(3), 6)));
    assert!(!replica.notes(case_id(3)).complete);
    // The same through a page of the log: only a working set's pages send a case's notes.
    replica.apply(
        page(
            Some(pos(12)),
            vec![upserted(13, &versioned(open(4), 3))],
            pos(13),
            false,
        ),
        at(T0),
    );
    assert!(!replica.notes(case_id(4)).complete);
    // Nothing is complete while a working set downloads.
    let mut downloading = Replica::new(None);
    downloading.apply(
        page(None, vec![upserted(1, &open(1))], part_way(1), true),
        at(T0),
    );
    assert!(!downloading.notes(case_id(1)).complete);
}

#[test]
fn unknown_kinds_are_skipped_and_counted() {
    let mut replica = Replica::new(Some(ME.into()));
    let commands = replica.apply(
        page(None, vec![unknown(1), upserted(2, &open(1))], pos(2), false),
        at(T0),
    );
    assert_eq!(replica.status().skipped_unknown, 1);
    assert_eq!(held_ids(&replica), vec![1]);
    let meta = batch(&commands).put.into_iter().find_map(|r| match r {
        ReplicaRecord::Meta(meta) => Some(meta),
        _ => None,
    });
    assert_eq!(meta.map(|m| m.skipped_unknown), Some(1));
    let commands = live(&mut replica, unknown(3));
    assert_eq!(put_keys(&commands), vec![RecordKey::Meta]);
    assert_eq!(replica.status().skipped_unknown, 2);
    assert_eq!(replica.cursor(), Some(&pos(3)), "it still takes its place");
}

#[test]
fn a_prune_removes_cases_that_aged_out_and_keeps_active_mine_and_recent_ones() {
    let old = T0 - 91 * DAY;
    let aged_out = case(1, CaseStatus::Closed, Priority::Low, old);
    let recent = case(2, CaseStatus::Closed, Priority::Low, T0 - 89 * DAY);
    let active = case(3, CaseStatus::InProgress, Priority::Low, T0 - 400 * DAY);
    let mine = assigned(case(4, CaseStatus::Resolved, Priority::Low, old), ME);
    let others = assigned(case(5, CaseStatus::Resolved, Priority::Low, old), "someone");
    let gone_note = note(1, case_id(1), old);
    let mut replica = downloaded(
        &[aged_out, recent, active, mine, others],
        std::slice::from_ref(&gone_note),
    );
    let commands = replica.apply(ReplicaEvent::Prune, at(T0));
    assert_eq!(held_ids(&replica), vec![2, 3, 4]);
    assert_eq!(
        batch(&commands).delete,
        vec![
            RecordKey::Case(case_id(1)),
            RecordKey::Case(case_id(5)),
            RecordKey::Note(gone_note.id),
        ]
    );
    // Nothing is remembered against them: back in the working set, they come back.
    live(
        &mut replica,
        upserted(
            11,
            &versioned(case(1, CaseStatus::Open, Priority::Low, T0), 2),
        ),
    );
    assert_eq!(held_ids(&replica), vec![1, 2, 3, 4]);
}

#[test]
fn a_tombstone_is_forgotten_after_the_feeds_retention() {
    let mut replica = downloaded(&[open(1)], &[]);
    live(&mut replica, deleted(11, case_id(1)));
    let commands = replica.apply(ReplicaEvent::Prune, at(T0 + 29 * DAY));
    assert!(batch(&commands).delete.is_empty());
    let commands = replica.apply(ReplicaEvent::Prune, at(T0 + 31 * DAY));
    assert_eq!(
        batch(&commands).delete,
        vec![RecordKey::Tombstone(case_id(1))]
    );
    assert!(!replica.known_absent(case_id(1)));
}

#[test]
fn a_shrunk_replica_keeps_only_mine_and_active_cases_and_says_so() {
    let recent_closed = case(1, CaseStatus::Closed, Priority::Low, T0 - DAY);
    let mine = assigned(case(2, CaseStatus::Resolved, Priority::Low, T0 - DAY), ME);
    let mut replica = downloaded(&[recent_closed.clone(), mine, open(3), open(4)], &[]);
    let commands = replica.apply(ReplicaEvent::Shrink, at(T0));
    assert_eq!(held_ids(&replica), vec![2, 3, 4]);
    assert_eq!(replica.status().extent, Extent::Shrunk);
    assert!(put_keys(&commands).contains(&RecordKey::Meta));
    assert_eq!(batch(&commands).delete, vec![RecordKey::Case(case_id(1))]);

    // Settled cases of others are not taken in, and leave when they settle.
    live(&mut replica, upserted(11, &versioned(recent_closed, 2)));
    let mut closed = versioned(open(4), 2);
    closed.status = CaseStatus::Closed;
    let commands = live(&mut replica, upserted(12, &closed));
    assert_eq!(batch(&commands).delete, vec![RecordKey::Case(case_id(4))]);
    assert_eq!(held_ids(&replica), vec![2, 3]);

    // Active and mine stay complete; the window no longer is.
    assert_eq!(
        list(&replica, only(CaseStatus::Open)).coverage,
        Coverage::Complete
    );
    let newest_first = CaseListQuery {
        per_page: 1,
        ..CaseListQuery::default()
    };
    assert_eq!(list(&replica, newest_first).coverage, Coverage::Partial);

    let commands = replica.apply(ReplicaEvent::Grow, at(T0));
    assert_eq!(pulls(&commands), vec![None]);
    assert_eq!(replica.status().extent, Extent::Whole);
    assert_eq!(
        replica.status().snapshot,
        Snapshot::Downloading { received: 0 }
    );
}

#[test]
fn a_rejected_cursor_downloads_afresh_and_drops_what_the_new_working_set_lacks() {
    let kept_note = note(1, case_id(1), T0 - 20);
    let lost_note = note(2, case_id(1), T0 - 10);
    let mut replica = downloaded(
        &[versioned(open(1), 3), open(2), open(7)],
        &[kept_note.clone(), lost_note.clone()],
    );
    live(&mut replica, deleted(11, case_id(7)));
    let commands = replica.apply(ReplicaEvent::CursorRejected, at(T0));
    assert_eq!(
        pulls(&commands),
        vec![None],
        "a fresh working set, from the start"
    );
    assert_eq!(
        batch(&commands).delete,
        vec![RecordKey::Tombstone(case_id(7))]
    );
    assert_eq!(replica.cursor(), None);
    // What is held stays shown, as partial, while the new working set downloads.
    let shown = list(&replica, only(CaseStatus::Open));
    assert_eq!(listed(&shown), vec![1, 2]);
    assert_eq!(shown.coverage, Coverage::Partial);

    // An answer to the first download's request, late: it could bring back case 2.
    let late = page(None, vec![upserted(10, &open(2))], pos(10), false);
    assert_eq!(pulls(&replica.apply(late, at(T0))), vec![None]);
    // A restored database (another log): case 1 is back at version 2, case 7 lives, 2 is gone.
    let restored_one = versioned(open(1), 2);
    let other_log = Cursor::from(LogPosition { log: 2, number: 4 });
    replica.apply(
        page_of(
            2,
            None,
            vec![
                upserted(4, &restored_one),
                noted(4, &kept_note),
                upserted(4, &open(7)),
            ],
            other_log.clone(),
            false,
        ),
        at(T0),
    );
    assert_eq!(held_ids(&replica), vec![1, 7]);
    assert_eq!(replica.case(case_id(1)), Some(&restored_one));
    assert_eq!(replica.notes(case_id(1)).notes, vec![kept_note]);
    assert_eq!(replica.status().snapshot, Snapshot::Complete);
    assert_eq!(replica.cursor(), Some(&other_log));
}

#[test]
fn a_case_known_only_from_a_live_event_during_a_download_needs_a_page_to_stay() {
    let mut replica = Replica::new(Some(ME.into()));
    // Sent before the snapshot was read, of a case deleted since: no page will mention it.
    let commands = live(&mut replica, upserted(3, &versioned(open(5), 3)));
    assert!(pulls(&commands).is_empty(), "the download pulls anyway");
    // Sent live and also in the snapshot.
    live(&mut replica, upserted(4, &versioned(open(6), 2)));
    assert_eq!(held_ids(&replica), vec![5, 6]);
    let commands = replica.apply(
        page(
            None,
            vec![upserted(4, &open(1)), upserted(4, &open(6))],
            pos(4),
            false,
        ),
        at(T0),
    );
    assert_eq!(held_ids(&replica), vec![1, 6]);
    assert_eq!(replica.case(case_id(6)).map(|c| c.version), Some(2));
    // It may also have been newer than the last page: the feed is asked from the cursor.
    assert_eq!(pulls(&commands), vec![Some(pos(4))]);
    let quiet = replica.apply(page(Some(pos(4)), vec![], pos(4), false), at(T0));
    assert!(pulls(&quiet).is_empty());
}

#[test]
fn an_event_writes_only_the_records_it_changed() {
    let mut replica = downloaded(&[open(1), open(2), open(3)], &[]);
    let mut changed = versioned(open(2), 2);
    changed.priority = Priority::Critical;
    assert_eq!(
        put_keys(&live(&mut replica, upserted(11, &changed))),
        vec![RecordKey::Meta, RecordKey::Case(case_id(2))]
    );
    let mut again = versioned(open(3), 2);
    again.title = "Renamed".into();
    let commands = replica.apply(
        page(
            Some(pos(11)),
            vec![upserted(12, &again), upserted(13, &changed)],
            pos(13),
            false,
        ),
        at(T0),
    );
    assert_eq!(
        put_keys(&commands),
        vec![RecordKey::Meta, RecordKey::Case(case_id(3))]
    );
    assert!(batch(&commands).delete.is_empty());
}

// Storage.

#[test]
fn records_round_trip_and_restore_rebuilds_the_same_replica() {
    let mut replica = downloaded(
        &[open(1), assigned(open(2), ME)],
        &[note(1, case_id(1), T0 - 3)],
    );
    live(&mut replica, deleted(11, case_id(9)));
    live(&mut replica, unknown(12));
    let stored: Vec<String> = replica.records().map(|r| r.encode().unwrap()).collect();
    assert!(
        stored[0].starts_with(r#"{"schema":1,"record":{"kind":"meta""#),
        "{}",
        stored[0]
    );
    let restored = Replica::restore(
        Some(ME.into()),
        stored.iter().map(|json| ReplicaRecord::decode(json)),
    );
    assert_eq!(restored.outcome, RestoreOutcome::Intact);
    assert!(restored.store.put.is_empty());
    assert_eq!(restored.replica, replica);
    assert_eq!(
        RecordKey::Case(case_id(1)).storage_key(),
        "case/00000000-0000-0000-0000-000000000001"
    );
}

#[test]
fn a_store_of_another_person_or_schema_or_without_meta_is_discarded() {
    let replica = downloaded(&[open(1)], &[]);
    let records: Vec<String> = replica.records().map(|r| r.encode().unwrap()).collect();
    let decode_all = |records: &[String]| -> Vec<Result<ReplicaRecord, RecordError>> {
        records.iter().map(|j| ReplicaRecord::decode(j)).collect()
    };

    let someone_else = Replica::restore(Some("someone".into()), decode_all(&records));
    assert_eq!(someone_else.outcome, RestoreOutcome::Discarded);
    assert!(someone_else.replica.is_empty());
    assert_eq!(
        someone_else
            .store
            .put
            .iter()
            .map(ReplicaRecord::key)
            .collect::<Vec<_>>(),
        vec![RecordKey::Meta]
    );

    let future: Vec<String> = records
        .iter()
        .map(|j| j.replacen(r#""schema":1"#, r#""schema":2"#, 1))
        .collect();
    assert_eq!(
        ReplicaRecord::decode(&future[0]),
        Err(RecordError::SchemaMismatch { found: 2 })
    );
    let restored = Replica::restore(Some(ME.into()), decode_all(&future));
    assert_eq!(restored.outcome, RestoreOutcome::Discarded);

    let without_meta = Replica::restore(Some(ME.into()), decode_all(&records[1..]));
    assert_eq!(without_meta.outcome, RestoreOutcome::Discarded);
}

#[test]
fn an_unreadable_record_shows_the_rest_and_downloads_afresh_over_it() {
    let replica = downloaded(&[open(1), open(2)], &[]);
    let mut records: Vec<String> = replica.records().map(|r| r.encode().unwrap()).collect();
    records[2].truncate(20);
    let restored = Replica::restore(
        Some(ME.into()),
        records.iter().map(|json| ReplicaRecord::decode(json)),
    );
    assert_eq!(restored.outcome, RestoreOutcome::Redownload);
    assert_eq!(held_ids(&restored.replica), vec![1]);
    assert_eq!(restored.replica.cursor(), None);
    let meta = restored.store.put.first().cloned();
    assert!(matches!(
        meta,
        Some(ReplicaRecord::Meta(MetaRecord {
            cursor: None,
            snapshot: Snapshot::Downloading { .. },
            ..
        }))
    ));
}

// Answering lists.

#[test]
fn lists_are_filtered_sorted_and_paged_as_the_server_orders_them() {
    // Cases 1..=5 updated at the same instant: ties go by id, ascending, both ways.
    let mut cases: Vec<Case> = (1..=5)
        .map(|n| {
            case(
                n,
                CaseStatus::Open,
                Priority::ALL[(n % 4) as usize],
                T0 - DAY,
            )
        })
        .collect();
    cases.push(case(
        6,
        CaseStatus::Closed,
        Priority::Critical,
        T0 - 2 * DAY,
    ));
    let replica = downloaded(&cases, &[]);
    let newest = list(&replica, CaseListQuery::default());
    assert_eq!(listed(&newest), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(newest.list.total, 6);
    let oldest = list(
        &replica,
        CaseListQuery {
            sort: CaseSort::UpdatedAsc,
            ..CaseListQuery::default()
        },
    );
    assert_eq!(listed(&oldest), vec![6, 1, 2, 3, 4, 5]);
    let by_priority = list(
        &replica,
        CaseListQuery {
            sort: CaseSort::PriorityDesc,
            page: 2,
            per_page: 2,
            ..CaseListQuery::default()
        },
    );
    // Critical: 3, 6; high: 2; medium: 1, 5; low: 4.
    assert_eq!(listed(&by_priority), vec![2, 1]);
    assert_eq!(by_priority.list.total, 6);
    assert_eq!((by_priority.list.page, by_priority.list.per_page), (2, 2));
    let open_high = list(
        &replica,
        CaseListQuery {
            status: Some(CaseStatus::Open),
            priority: Some(Priority::Critical),
            ..CaseListQuery::default()
        },
    );
    assert_eq!(listed(&open_high), vec![3]);
    let past_the_end = list(
        &replica,
        CaseListQuery {
            page: 9,
            ..CaseListQuery::default()
        },
    );
    assert!(past_the_end.list.items.is_empty());
    assert_eq!(past_the_end.list.total, 6);
}

#[test]
fn assignee_me_means_the_person_and_none_means_nobody() {
    let cases = [assigned(open(1), ME), assigned(open(2), "someone"), open(3)];
    let replica = downloaded(&cases, &[]);
    let by = |assignee| {
        listed(&list(
            &replica,
            CaseListQuery {
                assignee: Some(assignee),
                ..CaseListQuery::default()
            },
        ))
    };
    assert_eq!(by(AssigneeFilter::Me), vec![1]);
    assert_eq!(by(AssigneeFilter::Person(ME.into())), vec![1]);
    assert_eq!(by(AssigneeFilter::Person("someone".into())), vec![2]);
    assert_eq!(by(AssigneeFilter::Unassigned), vec![3]);
    // Without people there is no "me": it matches nothing, as on the server.
    let anonymous = {
        let mut r = Replica::new(None);
        r.apply(
            page(None, vec![upserted(1, &cases[0])], pos(1), false),
            at(T0),
        );
        r
    };
    let mine = anonymous.answer(
        &ListKey::new(CaseListQuery {
            assignee: Some(AssigneeFilter::Me),
            ..CaseListQuery::default()
        }),
        [],
        &NoKnownCases,
        at(T0),
    );
    assert!(mine.list.items.is_empty());
}

#[test]
fn search_ignores_ascii_case_in_title_and_description_but_not_tags_as_the_server_does() {
    let mut printer = open(1);
    printer.title = "Printer on floor 3 JAMS".into();
    let mut described = open(2);
    described.description = "the PRINTER tray is stuck".into();
    let mut tagged = open(3);
    tagged.tags = vec!["printer".into()];
    let mut umlaut = open(4);
    umlaut.title = "Ärger mit 100% Toner_Rest".into();
    let replica = downloaded(&[printer, described, tagged, umlaut], &[]);
    let search = |q: &str| {
        listed(&list(
            &replica,
            CaseListQuery {
                q: Some(q.into()),
                ..CaseListQuery::default()
            },
        ))
    };
    assert_eq!(search("printer"), vec![1, 2]);
    assert_eq!(search("  pRiNtEr "), vec![1, 2]);
    assert_eq!(search("jams"), vec![1]);
    // Letters beyond ASCII keep their case (SQLite's lower() and PostgreSQL's lower() in the
    // "C" collation fold ASCII only).
    assert_eq!(search("Ärger"), vec![4]);
    assert_eq!(search("ärger"), Vec::<u128>::new());
    // No wildcards: `%` and `_` are themselves.
    assert_eq!(search("100%"), vec![4]);
    assert_eq!(search("r_r"), vec![4]);
    assert_eq!(search("1%0"), Vec::<u128>::new());
    assert_eq!(search("r_e"), Vec::<u128>::new());
    assert_eq!(search("   "), vec![1, 2, 3, 4]);
}

#[test]
fn a_search_finds_a_case_by_its_latest_text() {
    let mut replica = downloaded(&[open(1)], &[]);
    let mut renamed = versioned(open(1), 2);
    renamed.title = "Scanner offline".into();
    live(&mut replica, upserted(11, &renamed));
    let search = |replica: &Replica, q: &str| {
        listed(&list(
            replica,
            CaseListQuery {
                q: Some(q.into()),
                ..CaseListQuery::default()
            },
        ))
    };
    assert_eq!(search(&replica, "SCANNER"), vec![1]);
    assert!(search(&replica, "case 1").is_empty());
    // And after a reload.
    let restored = Replica::restore(
        Some(ME.into()),
        replica
            .records()
            .map(|r| ReplicaRecord::decode(&r.encode().unwrap())),
    );
    assert_eq!(search(&restored.replica, "scanner"), vec![1]);
    // A pending rename is searched as shown.
    let rename = update_action(1, &renamed, title_patch("Printer offline"), T0);
    let shown = replica.answer(
        &ListKey::new(CaseListQuery {
            q: Some("PRINTER".into()),
            ..CaseListQuery::default()
        }),
        [&rename],
        &NoKnownCases,
        at(T0),
    );
    assert_eq!(listed(&shown), vec![1]);
}

#[test]
fn pending_actions_show_on_top_of_the_replica() {
    let cases = [
        case(1, CaseStatus::Open, Priority::Low, T0 - 3 * DAY),
        case(2, CaseStatus::Open, Priority::Low, T0 - 2 * DAY),
        case(3, CaseStatus::Open, Priority::Low, T0 - DAY),
    ];
    let replica = downloaded(&cases, &[]);
    let create = create_action(1, 100, "Printer", CaseStatus::Open, Priority::High, T0);
    let close = update_action(
        2,
        &cases[1],
        CasePatch {
            status: Some(CaseStatus::Closed),
            ..CasePatch::default()
        },
        T0 + 1,
    );
    let touch = update_action(3, &cases[0], title_patch("Touched"), T0 + 2);
    let delete = delete_action(4, &cases[2], T0 + 3);
    let pending: Vec<&Action> = vec![&create, &close, &touch, &delete];
    let shown = replica.answer(
        &ListKey::new(only(CaseStatus::Open)),
        pending.iter().copied(),
        &NoKnownCases,
        at(T0),
    );
    // Touched last, so most recently updated: first; the new case next; closed and deleted gone.
    assert_eq!(listed(&shown), vec![1, 100]);
    assert_eq!(shown.list.items[0].title, "Touched");
    assert_eq!(
        shown.list.items[1].version, 0,
        "provisional until confirmed"
    );
    assert_eq!(shown.list.total, 2);
    assert_eq!(shown.coverage, Coverage::Complete);
    let closed = replica.answer(
        &ListKey::new(only(CaseStatus::Closed)),
        pending.iter().copied(),
        &NoKnownCases,
        at(T0),
    );
    assert_eq!(listed(&closed), vec![2]);
}

#[test]
fn an_edit_of_a_case_outside_the_working_set_starts_from_what_the_client_knows() {
    let replica = downloaded(&[open(1)], &[]);
    let old = case(50, CaseStatus::Closed, Priority::Low, T0 - 200 * DAY);
    let reopen = update_action(
        1,
        &old,
        CasePatch {
            status: Some(CaseStatus::Open),
            ..CasePatch::default()
        },
        T0,
    );
    let query = ListKey::new(only(CaseStatus::Open));
    let unknown = replica.answer(&query, [&reopen], &NoKnownCases, at(T0));
    assert_eq!(listed(&unknown), vec![1]);
    let cache: HashMap<Uuid, Case> = [(old.id, old.clone())].into();
    let known = replica.answer(&query, [&reopen], &cache, at(T0));
    assert_eq!(listed(&known), vec![50, 1]);
    // A copy fetched after the feed's (a higher version) wins over the replica's.
    let mut fetched = versioned(open(1), 2);
    fetched.title = "Fetched".into();
    let cache: HashMap<Uuid, Case> = [(fetched.id, fetched)].into();
    let retitle = update_action(2, &open(1), CasePatch::default(), T0);
    let newer = replica.answer(&query, [&retitle], &cache, at(T0));
    assert_eq!(newer.list.items[0].title, "Fetched");
}

#[test]
fn lists_inside_the_working_set_are_complete_and_others_partial() {
    let replica = downloaded(&[open(1), assigned(open(2), ME)], &[]);
    let coverage = |query: CaseListQuery| list(&replica, query).coverage;
    for status in [CaseStatus::Open, CaseStatus::InProgress] {
        assert_eq!(coverage(only(status)), Coverage::Complete);
    }
    for status in [CaseStatus::Resolved, CaseStatus::Closed] {
        assert_eq!(coverage(only(status)), Coverage::Partial);
    }
    let assignee = |a| CaseListQuery {
        assignee: Some(a),
        q: Some("printer".into()),
        ..CaseListQuery::default()
    };
    assert_eq!(coverage(assignee(AssigneeFilter::Me)), Coverage::Complete);
    assert_eq!(
        coverage(assignee(AssigneeFilter::Person(ME.into()))),
        Coverage::Complete
    );
    assert_eq!(
        coverage(assignee(AssigneeFilter::Unassigned)),
        Coverage::Partial
    );
    assert_eq!(
        coverage(assignee(AssigneeFilter::Person("someone".into()))),
        Coverage::Partial
    );
}

#[test]
fn a_full_newest_first_page_inside_the_window_has_the_servers_items() {
    // 60 settled cases of others, updated over the last 60 hours.
    let cases: Vec<Case> = (1..=60)
        .map(|n| {
            case(
                n,
                CaseStatus::Closed,
                Priority::Low,
                T0 - n as u64 * 3_600_000,
            )
        })
        .collect();
    let replica = downloaded(&cases, &[]);
    let query = |sort, page| CaseListQuery {
        sort,
        page,
        ..CaseListQuery::default()
    };
    let first = list(&replica, query(CaseSort::UpdatedDesc, 1));
    assert_eq!(first.coverage, Coverage::ItemsComplete);
    assert_eq!(first.list.items.len(), 50);
    // The last page may have older cases after it, which the device does not keep.
    assert_eq!(
        list(&replica, query(CaseSort::UpdatedDesc, 2)).coverage,
        Coverage::Partial
    );
    assert_eq!(
        list(&replica, query(CaseSort::CreatedDesc, 1)).coverage,
        Coverage::ItemsComplete
    );
    for sort in [
        CaseSort::UpdatedAsc,
        CaseSort::CreatedAsc,
        CaseSort::PriorityDesc,
        CaseSort::PriorityAsc,
    ] {
        assert_eq!(list(&replica, query(sort, 1)).coverage, Coverage::Partial);
    }
    // Near the window's edge, clocks that disagree could hide a case the server still lists.
    let edge = replica.answer(
        &ListKey::new(query(CaseSort::UpdatedDesc, 1)),
        [],
        &NoKnownCases,
        at(T0 + 89 * DAY),
    );
    assert_eq!(edge.coverage, Coverage::Partial);
}
