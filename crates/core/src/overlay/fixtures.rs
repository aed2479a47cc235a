//! Cases, actions and metrics for the overlay's and the queue's tests.

use crate::action::{Action, ActionKind};
use crate::clock::Millis;
use casedesk_model::{
    Case, CaseList, CasePatch, CaseStatus, DashboardMetrics, DayCount, NewCase, NewNote, Note,
    Priority, PriorityCounts, StatusCounts, Timestamp,
};
use uuid::Uuid;

/// 2026-11-20T12:00:00Z.
pub const T0: u64 = 1_795_176_000_000;
pub const DAY: u64 = 86_400_000;

pub fn case_id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn action_id(n: u128) -> Uuid {
    Uuid::from_u128(1_000_000 + n)
}

pub fn ts(millis: u64) -> Timestamp {
    Timestamp::from_unix_millis(millis as i64).unwrap()
}

pub fn case(n: u128, status: CaseStatus, priority: Priority, updated: u64) -> Case {
    Case {
        created_by: None,
        updated_by: None,
        id: case_id(n),
        title: format!("Case {n}"),
        description: String::new(),
        status,
        priority,
        assignee: None,
        tags: vec![],
        created_at: ts(updated.min(T0 - DAY)),
        updated_at: ts(updated),
        version: 1,
    }
}

fn action(n: u128, kind: ActionKind, at: u64) -> Action {
    Action::new(
        action_id(n),
        Uuid::from_u128(2_000_000 + n),
        kind,
        Millis(at),
    )
}

pub fn create_action(
    n: u128,
    case_n: u128,
    title: &str,
    status: CaseStatus,
    priority: Priority,
    at: u64,
) -> Action {
    action(
        n,
        ActionKind::CreateCase {
            case: NewCase {
                id: case_id(case_n),
                title: title.into(),
                description: String::new(),
                status,
                priority,
                assignee: None,
                tags: vec![],
            },
        },
        at,
    )
}

pub fn update_action(n: u128, base: &Case, patch: CasePatch, at: u64) -> Action {
    action(
        n,
        ActionKind::UpdateCase {
            id: base.id,
            patch,
            base_version: base.version,
            base: base.clone(),
        },
        at,
    )
}

pub fn delete_action(n: u128, last_known: &Case, at: u64) -> Action {
    action(
        n,
        ActionKind::DeleteCase {
            id: last_known.id,
            last_known: Some(last_known.clone()),
        },
        at,
    )
}

pub fn note_action(n: u128, case_id: Uuid, note_n: u128, body: &str, at: u64) -> Action {
    action(
        n,
        ActionKind::AddNote {
            case_id,
            note: NewNote {
                id: Uuid::from_u128(3_000_000 + note_n),
                body: body.into(),
                author: None,
            },
        },
        at,
    )
}

pub fn note(n: u128, case_id: Uuid, at: u64) -> Note {
    Note {
        author_id: None,
        id: Uuid::from_u128(3_000_000 + n),
        case_id,
        body: "server".into(),
        author: "dana".into(),
        created_at: ts(at),
    }
}

pub fn title_patch(title: &str) -> CasePatch {
    CasePatch {
        title: Some(title.into()),
        ..CasePatch::default()
    }
}

pub fn list_of(
    items: impl IntoIterator<Item = Case>,
    total: u64,
    page: u32,
    per_page: u32,
) -> CaseList {
    CaseList {
        items: items.into_iter().collect(),
        total,
        page,
        per_page,
    }
}

/// The items' ids as the small numbers the tests made them from.
pub fn ids(list: &CaseList) -> Vec<u128> {
    list.items.iter().map(|c| c.id.as_u128()).collect()
}

/// Counts of `cases`, with 30 days of zeros ending on T0's day.
pub fn metrics_for(cases: &[Case]) -> DashboardMetrics {
    let mut by_status = StatusCounts::default();
    let mut by_priority = PriorityCounts::default();
    for case in cases {
        *by_status.get_mut(case.status) += 1;
        *by_priority.get_mut(case.priority) += 1;
    }
    let days: Vec<DayCount> = (0..30)
        .rev()
        .map(|back| DayCount {
            date: ts(T0 - back * DAY).utc_date(),
            count: 0,
        })
        .collect();
    DashboardMetrics {
        by_status,
        by_priority,
        opened_per_day: days.clone(),
        resolved_per_day: days,
        mean_hours_to_resolve: None,
        generated_at: ts(T0),
    }
}

/// The count on `at`'s day, 0 when the series does not hold that day.
pub fn day_count(series: &[DayCount], at: u64) -> u64 {
    let day = ts(at).utc_date();
    series.iter().find(|d| d.date == day).map_or(0, |d| d.count)
}
