//! The replica's costs at 10,000 cases: a page of the list answered on the device (filter +
//! sort + page, with and without 100 pending actions), a search, and applying a page of 500
//! changes. Before the runs it prints the stored bytes per 1,000 cases. Run:
//! `cargo bench -p casedesk-core --bench replica`.

use casedesk_core::{Action, ActionKind, ListKey, Millis, Replica, ReplicaEvent};
use casedesk_model::{
    AssigneeFilter, Case, CaseListQuery, CasePatch, CaseSort, CaseStatus, Change, ChangeBody,
    ChangePage, Cursor, LogPosition, Note, Priority, Timestamp,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use uuid::Uuid;

/// 2026-11-20T12:00:00Z.
const NOW_MS: u64 = 1_795_176_000_000;
const NOW: Millis = Millis(NOW_MS);
const SIZE: usize = 10_000;
const ME: &str = "0191c7a2-5b7e-7c3a-9f10-000000000001";
const PLACES: [&str; 5] = [
    "floor 3",
    "reception",
    "the warehouse",
    "room 214",
    "the lab",
];
const THINGS: [&str; 5] = ["Printer", "Laptop", "VPN", "Badge reader", "Projector"];

fn at(ms: u64) -> Timestamp {
    // Every time used here is in 2026.
    Timestamp::from_unix_millis(ms as i64).unwrap_or_else(|| unreachable!())
}

/// Case `n`, updated `n` minutes ago, spread over statuses, priorities and assignees, with a
/// title and a description of ordinary length.
fn case(n: usize) -> Case {
    let updated = NOW_MS - n as u64 * 60_000;
    Case {
        created_by: None,
        updated_by: None,
        id: Uuid::from_u128(n as u128 + 1),
        title: format!("{} in {} fails (#{n})", THINGS[n % 5], PLACES[(n / 5) % 5]),
        description: format!(
            "Reported by the front desk: the {} in {} stopped working this morning. Tried \
             turning it off and on again; the error persists. Ticket {n}.",
            THINGS[n % 5].to_lowercase(),
            PLACES[(n / 5) % 5]
        ),
        status: CaseStatus::ALL[n % 4],
        priority: Priority::ALL[(n / 4) % 4],
        assignee: n.is_multiple_of(3).then(|| ME.to_owned()),
        tags: vec!["hardware".into(), "site-a".into()],
        created_at: at(updated - 86_400_000),
        updated_at: at(updated),
        version: 1,
    }
}

fn note(n: usize) -> Note {
    Note {
        id: Uuid::from_u128(1_000_000 + n as u128),
        case_id: Uuid::from_u128((n % SIZE) as u128 + 1),
        body: "Called the vendor; a technician comes tomorrow.".into(),
        author: "dana".into(),
        created_at: at(NOW_MS - n as u64 * 1_000),
        author_id: None,
    }
}

fn at_position(number: u64) -> LogPosition {
    LogPosition { log: 1, number }
}

fn upserted(case: Case) -> Change {
    Change {
        seq: at_position(1).seq(),
        body: ChangeBody::Case { case },
    }
}

/// A replica holding cases `0..SIZE` and one note on each of every other case, downloaded
/// in pages of 500.
fn filled() -> Replica {
    let mut replica = Replica::new(Some(ME.into()));
    let changes: Vec<Change> = (0..SIZE)
        .map(|n| upserted(case(n)))
        .chain((0..SIZE / 2).map(|n| Change {
            seq: at_position(1).seq(),
            body: ChangeBody::Note { note: note(n * 2) },
        }))
        .collect();
    let pages: Vec<&[Change]> = changes.chunks(500).collect();
    for (i, chunk) in pages.iter().enumerate() {
        let last = i + 1 == pages.len();
        let event = ReplicaEvent::Page {
            from: replica.pull_from(),
            page: ChangePage {
                changes: chunk.to_vec(),
                cursor: if last {
                    Cursor::from(at_position(1))
                } else {
                    Cursor(format!("w1.{i}"))
                },
                more: !last,
            },
        };
        replica.apply(event, NOW);
    }
    replica
}

/// 100 pending actions: updates of listed cases, creations, deletions.
fn pending() -> Vec<Action> {
    (0..100)
        .map(|i| {
            let target = case(i * 97);
            let kind = match i % 4 {
                0 => ActionKind::DeleteCase {
                    id: target.id,
                    last_known: Some(target),
                },
                1 => ActionKind::CreateCase {
                    case: casedesk_model::NewCase {
                        id: Uuid::from_u128(3_000_000 + i as u128),
                        title: format!("New printer case {i}"),
                        description: String::new(),
                        status: CaseStatus::Open,
                        priority: Priority::High,
                        assignee: None,
                        tags: vec![],
                    },
                },
                _ => ActionKind::UpdateCase {
                    id: target.id,
                    patch: CasePatch {
                        status: Some(CaseStatus::InProgress),
                        ..CasePatch::default()
                    },
                    base_version: target.version,
                    base: target,
                },
            };
            Action::new(
                Uuid::from_u128(1_000_000 + i as u128),
                Uuid::from_u128(2_000_000 + i as u128),
                kind,
                Millis(NOW_MS + i as u64),
            )
        })
        .collect()
}

fn key(query: CaseListQuery) -> ListKey {
    ListKey::new(query)
}

fn benches(c: &mut Criterion) {
    let replica = filled();
    let stored: usize = replica
        .records()
        .filter(|r| matches!(r, casedesk_core::replica::ReplicaRecord::Case(_)))
        .map(|r| r.encode().map_or(0, |json| json.len()))
        .sum();
    eprintln!(
        "replica: {} cases, {} bytes of case records per 1,000 cases (JSON)",
        replica.len(),
        stored * 1_000 / replica.len().max(1)
    );
    let none: [&Action; 0] = [];
    let actions = pending();
    let known = casedesk_core::overlay::NoKnownCases;

    let default_list = key(CaseListQuery::default());
    let filtered = key(CaseListQuery {
        status: Some(CaseStatus::Open),
        priority: Some(Priority::High),
        sort: CaseSort::PriorityDesc,
        page: 2,
        per_page: 50,
        ..CaseListQuery::default()
    });
    let mine = key(CaseListQuery {
        assignee: Some(AssigneeFilter::Me),
        sort: CaseSort::CreatedAsc,
        ..CaseListQuery::default()
    });
    // Matches a fifth of the cases (in the title and the description), and one case.
    let broad_search = key(CaseListQuery {
        q: Some("PRINTER".into()),
        ..CaseListQuery::default()
    });
    let narrow_search = key(CaseListQuery {
        q: Some("ticket 4242.".into()),
        ..CaseListQuery::default()
    });

    let mut group = c.benchmark_group("replica_10000");
    group.bench_function("list_newest_page_1", |b| {
        b.iter(|| black_box(replica.answer(&default_list, none, &known, NOW)));
    });
    group.bench_function("list_open_high_by_priority_page_2", |b| {
        b.iter(|| black_box(replica.answer(&filtered, none, &known, NOW)));
    });
    group.bench_function("list_mine_oldest_first", |b| {
        b.iter(|| black_box(replica.answer(&mine, none, &known, NOW)));
    });
    group.bench_function("list_newest_with_100_pending", |b| {
        b.iter(|| black_box(replica.answer(&default_list, &actions, &known, NOW)));
    });
    group.bench_function("search_broad", |b| {
        b.iter(|| black_box(replica.answer(&broad_search, none, &known, NOW)));
    });
    group.bench_function("search_narrow", |b| {
        b.iter(|| black_box(replica.answer(&narrow_search, none, &known, NOW)));
    });
    let delta = ReplicaEvent::Page {
        from: replica.pull_from(),
        page: ChangePage {
            changes: (0..500)
                .map(|n| {
                    let mut changed = case(n * 19);
                    changed.version = 2;
                    changed.status = CaseStatus::Closed;
                    upserted(changed)
                })
                .collect(),
            cursor: Cursor::from(at_position(501)),
            more: false,
        },
    };
    group.bench_function("apply_500_changes", |b| {
        b.iter_batched(
            || (replica.clone(), delta.clone()),
            // Returned, so that dropping the replica is not timed.
            |(mut replica, delta)| {
                let commands = replica.apply(delta, NOW);
                (replica, commands)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(replica, benches);
criterion_main!(replica);
