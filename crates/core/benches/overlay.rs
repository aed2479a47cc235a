//! The write side's costs: the overlay view of a list page and of the dashboard metrics with
//! 100 pending actions, when 1,000 or 10,000 cases are known; the queue picking what to send
//! from 1,000 queued actions. Run: `cargo bench -p casedesk-core --bench overlay`.

use casedesk_core::overlay::{case_list_view, metrics_view};
use casedesk_core::queue::QueueConfig;
use casedesk_core::{Action, ActionKind, ActionQueue, Millis};
use casedesk_model::{
    Case, CaseList, CaseListQuery, CasePatch, CaseStatus, DashboardMetrics, DayCount, NewCase,
    NewNote, Priority, PriorityCounts, StatusCounts, Timestamp,
};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use std::collections::HashMap;
use std::hint::black_box;
use uuid::Uuid;

/// 2026-11-20T12:00:00Z.
const NOW_MS: u64 = 1_795_176_000_000;
const DAY_MS: u64 = 86_400_000;

fn at(ms: u64) -> Timestamp {
    // Every time used here is in 2026.
    Timestamp::from_unix_millis(ms as i64).unwrap_or_else(|| unreachable!())
}

/// Case `n`, last updated `n` minutes before now, spread over statuses and priorities.
fn case(n: usize) -> Case {
    let updated = NOW_MS - DAY_MS - n as u64 * 60_000;
    Case {
        created_by: None,
        updated_by: None,
        id: Uuid::from_u128(n as u128 + 1),
        title: format!("Printer {n} jams"),
        description: "Floor 3".into(),
        status: CaseStatus::ALL[n % 4],
        priority: Priority::ALL[(n / 4) % 4],
        assignee: None,
        tags: vec!["hardware".into()],
        created_at: at(updated - DAY_MS),
        updated_at: at(updated),
        version: 1,
    }
}

fn known_cases(size: usize) -> HashMap<Uuid, Case> {
    (0..size).map(case).map(|c| (c.id, c)).collect()
}

/// Page 1 of the default list (most recently updated first): the first 50 cases.
fn first_page(size: usize) -> CaseList {
    CaseList {
        items: (0..50).map(case).collect(),
        total: size as u64,
        page: 1,
        per_page: 50,
    }
}

fn metrics() -> DashboardMetrics {
    let days: Vec<DayCount> = (0..30u64)
        .rev()
        .map(|back| DayCount {
            date: at(NOW_MS - back * DAY_MS).utc_date(),
            count: 3,
        })
        .collect();
    DashboardMetrics {
        by_status: StatusCounts {
            open: 2_500,
            in_progress: 2_500,
            resolved: 2_500,
            closed: 2_500,
        },
        by_priority: PriorityCounts {
            low: 2_500,
            medium: 2_500,
            high: 2_500,
            critical: 2_500,
        },
        opened_per_day: days.clone(),
        resolved_per_day: days,
        mean_hours_to_resolve: Some(31.5),
        generated_at: at(NOW_MS),
    }
}

/// `count` pending actions on a cache of `size` known cases: per ten, two creations, six
/// updates (status, priority or title; a third of them on cases of the page), one delete,
/// one note.
fn pending(count: usize, size: usize) -> Vec<Action> {
    (0..count)
        .map(|i| {
            let id = Uuid::from_u128(1_000_000 + i as u128);
            let key = Uuid::from_u128(2_000_000 + i as u128);
            let target = if i % 3 == 0 {
                case(i % 50)
            } else {
                case((i * 7_919) % size)
            };
            let kind = match i % 10 {
                0 | 1 => ActionKind::CreateCase {
                    case: NewCase {
                        id: Uuid::from_u128(3_000_000 + i as u128),
                        title: format!("New case {i}"),
                        description: String::new(),
                        status: CaseStatus::Open,
                        priority: Priority::High,
                        assignee: None,
                        tags: vec![],
                    },
                },
                8 => ActionKind::DeleteCase {
                    id: target.id,
                    last_known: Some(target),
                },
                9 => ActionKind::AddNote {
                    case_id: target.id,
                    note: NewNote {
                        id: Uuid::from_u128(4_000_000 + i as u128),
                        body: "Called the vendor".into(),
                        author: None,
                    },
                },
                k => {
                    let patch = match k % 3 {
                        0 => CasePatch {
                            status: Some(CaseStatus::Resolved),
                            ..CasePatch::default()
                        },
                        1 => CasePatch {
                            priority: Some(Priority::Critical),
                            ..CasePatch::default()
                        },
                        _ => CasePatch {
                            title: Some(format!("Renamed {i}")),
                            ..CasePatch::default()
                        },
                    };
                    ActionKind::UpdateCase {
                        id: target.id,
                        patch,
                        base_version: target.version,
                        base: target,
                    }
                }
            };
            Action::new(id, key, kind, Millis(NOW_MS + i as u64 * 1_000))
        })
        .collect()
}

/// A queue of `count` actions over `count / 3` cases, none sent yet.
fn queue_of(count: usize) -> ActionQueue {
    let mut queue = ActionQueue::new(QueueConfig::default());
    let cases = (count / 3).max(1);
    for i in 0..count {
        let target = case(i % cases);
        let action = Action::new(
            Uuid::from_u128(1_000_000 + i as u128),
            Uuid::from_u128(2_000_000 + i as u128),
            ActionKind::UpdateCase {
                id: target.id,
                patch: CasePatch {
                    status: Some(CaseStatus::Closed),
                    ..CasePatch::default()
                },
                base_version: target.version,
                base: target,
            },
            Millis(NOW_MS + i as u64),
        );
        queue.enqueue(action, Millis(NOW_MS + i as u64));
    }
    queue
}

fn benches(c: &mut Criterion) {
    let query = CaseListQuery::default();
    let server_metrics = metrics();
    for size in [1_000usize, 10_000] {
        let known = known_cases(size);
        let page = first_page(size);
        let actions = pending(100, size);

        let mut group = c.benchmark_group("overlay_100_pending");
        group.bench_with_input(BenchmarkId::new("list_page_50", size), &size, |b, _| {
            b.iter(|| black_box(case_list_view(&page, &query, &actions, &known)));
        });
        group.bench_with_input(BenchmarkId::new("metrics", size), &size, |b, _| {
            b.iter(|| black_box(metrics_view(&server_metrics, &actions, &known)));
        });
        group.finish();
    }

    let mut group = c.benchmark_group("queue_1000");
    let queue = queue_of(1_000);
    let now = Millis(NOW_MS + 10_000);
    group.bench_function("ready", |b| {
        b.iter_batched(
            || queue.clone(),
            |mut queue| black_box(queue.ready(now, true)),
            BatchSize::LargeInput,
        );
    });
    let mut full = queue.clone();
    full.ready(now, true);
    group.bench_function("ready_with_every_slot_busy", |b| {
        // Nothing changes when no slot is free, so the same queue serves every iteration.
        b.iter(|| black_box(full.ready(now, true).send.len()));
    });
    group.bench_function("live_actions_and_sync_states", |b| {
        b.iter(|| {
            black_box(queue.live_actions().count());
            black_box(queue.sync_states().len())
        });
    });
    group.bench_function("enqueue_1000", |b| {
        b.iter(|| black_box(queue_of(1_000).depth()));
    });
    group.finish();
}

criterion_group!(overlay, benches);
criterion_main!(overlay);
