//! What the benchmark's caches hold and which actions are pending: a long session's cache of
//! `size` entries, shaped like `crates/core/benches` (85 % cases, 10 % list pages, 5 % notes,
//! plus the dashboard metrics), with real data in every entry, and the overlay benchmark's
//! 100 pending actions. Both sides of the comparison get exactly this (the page receives it
//! as JSON), so they hold the same keys and the same bytes.

use casedesk_core::{Action, ActionKind, Millis, QueryData, QueryKey};
use casedesk_model::{
    Case, CaseList, CaseListQuery, CasePatch, CaseStatus, DashboardMetrics, DayCount, NewCase,
    NewNote, Note, Priority, PriorityCounts, StatusCounts, Timestamp,
};
use uuid::Uuid;

/// 2026-11-20T12:00:00Z: the benchmark's "now", when every entry was fetched.
pub(crate) const NOW_MS: u64 = 1_795_176_000_000;
const DAY_MS: u64 = 86_400_000;
const PER_PAGE: usize = 50;

/// The cache's contents, in the order the page inserts them, and the cases they mention.
pub(crate) struct Fixture {
    pub(crate) entries: Vec<(QueryKey, QueryData)>,
    /// How many distinct cases the entries hold (each has its own `["cases", id]` entry).
    pub(crate) cases: usize,
}

fn at(ms: u64) -> Timestamp {
    // Every time used here is in 2026, well inside what a Timestamp represents.
    Timestamp::from_unix_millis(ms as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Case `n`'s id: a version-4 UUID whose random bits are a fixed function of `n`, so runs
/// are repeatable and ids look like the app's real ones (random, not sequential).
pub(crate) fn case_id(n: usize) -> Uuid {
    id_from(n as u64, 0x00ca_5e00)
}

/// A v4 UUID made from `n` and a salt by two rounds of SplitMix64.
fn id_from(n: u64, salt: u64) -> Uuid {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let high = mix(n ^ salt.rotate_left(32));
    let low = mix(high ^ n);
    let mut bytes = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// Case `n`, last updated `n` minutes (and a day) before now, spread over statuses and
/// priorities: case 0 is the most recently updated, so page 1 of the default list is
/// cases 0‥49.
pub(crate) fn case(n: usize) -> Case {
    let updated = NOW_MS - DAY_MS - n as u64 * 60_000;
    Case {
        created_by: None,
        updated_by: None,
        id: case_id(n),
        title: format!("Printer {n} jams"),
        description: "Floor 3, by the window; the paper tray clicks and the display shows E-42."
            .into(),
        status: CaseStatus::ALL[n % 4],
        priority: Priority::ALL[(n / 4) % 4],
        assignee: n.is_multiple_of(3).then(|| "sam".to_owned()),
        tags: vec!["hardware".into(), format!("floor-{}", n % 7)],
        created_at: at(updated - DAY_MS),
        updated_at: at(updated),
        version: 1 + (n as u64 % 5),
    }
}

/// Page `page` (1-based) of the default list (most recently updated first) of `cases` cases.
fn list_page(page: usize, cases: usize) -> CaseList {
    let start = (page - 1) * PER_PAGE;
    CaseList {
        items: (start..(start + PER_PAGE).min(cases)).map(case).collect(),
        total: cases as u64,
        page: page as u32,
        per_page: PER_PAGE as u32,
    }
}

fn notes(case_n: usize) -> Vec<Note> {
    let case_id = case_id(case_n);
    (0..3u64)
        .map(|k| Note {
            author_id: None,
            id: id_from(case_n as u64 * 3 + k, 0x0000_0e7e),
            case_id,
            body: "Called the vendor; a technician comes on Tuesday morning.".into(),
            author: "sam".into(),
            created_at: at(NOW_MS - DAY_MS + k * 60_000),
        })
        .collect()
}

pub(crate) fn metrics(cases: usize) -> DashboardMetrics {
    let quarter = cases as u64 / 4;
    let days: Vec<DayCount> = (0..30u64)
        .rev()
        .map(|back| DayCount {
            date: at(NOW_MS - back * DAY_MS).utc_date(),
            count: 3,
        })
        .collect();
    DashboardMetrics {
        by_status: StatusCounts {
            open: quarter,
            in_progress: quarter,
            resolved: quarter,
            closed: quarter,
        },
        by_priority: PriorityCounts {
            low: quarter,
            medium: quarter,
            high: quarter,
            critical: quarter,
        },
        opened_per_day: days.clone(),
        resolved_per_day: days,
        mean_hours_to_resolve: Some(31.5),
        generated_at: at(NOW_MS),
    }
}

impl Fixture {
    /// `size` entries: the metrics, then by position in every 20: two list pages, one notes
    /// list, seventeen cases. List page `j` is page `j + 1` of the default list (its key is
    /// the app's own, `["cases", "list", "page=…"]`; the first is `["cases", "list", ""]`) and
    /// holds 50 cases, wrapping round when the cases run out.
    pub(crate) fn new(size: usize) -> Self {
        let cases = (1..size).filter(|i| i % 20 > 2).count().max(PER_PAGE);
        let pages = cases.div_ceil(PER_PAGE);
        let (mut lists, mut noted, mut next_case) = (0usize, 0usize, 0usize);
        let mut entries = Vec::with_capacity(size);
        entries.push((QueryKey::metrics(), QueryData::Metrics(metrics(cases))));
        for i in 1..size {
            let entry = match i % 20 {
                0 | 1 => {
                    let query = CaseListQuery::default().with_page(lists as u32 + 1);
                    let data = list_page(lists % pages + 1, cases);
                    lists += 1;
                    (QueryKey::case_list(&query), QueryData::CaseList(data))
                }
                2 => {
                    noted += 1;
                    let n = (noted - 1) % cases;
                    (QueryKey::notes(case_id(n)), QueryData::Notes(notes(n)))
                }
                _ => {
                    next_case += 1;
                    let c = case(next_case - 1);
                    (QueryKey::case(c.id), QueryData::Case(c))
                }
            };
            entries.push(entry);
        }
        Self { entries, cases }
    }
}

/// `count` pending actions on `cases` known cases, as `crates/core/benches/overlay.rs`: per
/// ten, two creations, six updates (status, priority or title; a third of all actions on
/// cases of page 1), one delete, one note.
pub(crate) fn pending(count: usize, cases: usize) -> Vec<Action> {
    (0..count)
        .map(|i| {
            let id = id_from(i as u64, 0xac71_0000);
            let key = id_from(i as u64, 0x1de4_0000);
            let target = if i.is_multiple_of(3) {
                case(i % PER_PAGE)
            } else {
                case((i * 7_919) % cases)
            };
            let kind = match i % 10 {
                0 | 1 => ActionKind::CreateCase {
                    case: NewCase {
                        id: id_from(i as u64, 0x0ce4_0000),
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
                        id: id_from(i as u64, 0x2073_0000),
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
