//! The dashboard's numbers (`GET /dashboard/metrics`): counts and the mean time to
//! resolve from the trigger-kept `case_counts`, the daily series computed in SQL over live
//! cases and shared by reads until the cases change.
//!
//! - `opened_per_day` / `resolved_per_day`: the last 30 UTC days including today, oldest
//!   first, zeros included; a case counts as resolved on the day it last entered
//!   `resolved` (`resolved_at`, kept when it is closed later, cleared when reopened).
//! - `mean_hours_to_resolve`: over cases now resolved or closed, from creation to
//!   `resolved_at`, or to `closed_at` for a case closed without being resolved first.

use crate::clock::DAY_MS;
use crate::db::{DbError, Sql};
use casedesk_model::metrics::SERIES_DAYS;
use casedesk_model::{
    CaseStatus, DashboardMetrics, DayCount, Priority, PriorityCounts, StatusCounts, Timestamp,
};
use std::collections::HashMap;

/// The metrics as of `now`. The counts by status and priority and the mean time to
/// resolve come from `case_counts` (kept by triggers in every write's transaction: a few
/// hundred rows whatever the number of cases); the two series scan the last 30 days of a
/// covering index, read through [`Sql::query_shared`], so that reads of unchanged cases
/// (on the same UTC day) share them.
pub(crate) fn compute(conn: &dyn Sql, now: Timestamp) -> Result<DashboardMetrics, DbError> {
    let mut by_status = StatusCounts::default();
    let mut by_priority = PriorityCounts::default();
    // Milliseconds to resolution summed over done cases, and how many of them have a time.
    let mut resolve_ms = 0.0;
    let mut resolved = 0u64;
    // CAST: PostgreSQL's sum of BIGINT is NUMERIC.
    let rows = conn.query(
        "SELECT status, priority, CAST(sum(n) AS BIGINT), CAST(sum(timed_ms) AS BIGINT),
                CAST(sum(timed) AS BIGINT)
         FROM case_counts GROUP BY status, priority",
        &[],
    )?;
    for row in rows.iter() {
        let status = row.text(0)?;
        let rank = row.int(1)?;
        let n = row.count(2)?;
        let Some(status) = CaseStatus::parse(&status) else {
            continue;
        };
        *by_status.get_mut(status) += n;
        if let Some(priority) = Priority::ALL
            .into_iter()
            .find(|p| crate::cases::priority_rank(*p) == rank)
        {
            *by_priority.get_mut(priority) += n;
        }
        if status.is_done() {
            resolve_ms += row.real(3)?;
            resolved += row.count(4)?;
        }
    }

    let today = now.unix_millis().div_euclid(DAY_MS);
    let first_day = today - (SERIES_DAYS as i64 - 1);
    let since = first_day * DAY_MS;
    let opened = per_day(conn, "created_at", since)?;
    let resolved_days = per_day(conn, "resolved_at", since)?;
    let series = |counts: &HashMap<i64, u64>| {
        (first_day..=today)
            .map(|day| DayCount {
                date: Timestamp::from_unix_millis(day * DAY_MS)
                    .map(Timestamp::utc_date)
                    .unwrap_or_default(),
                count: counts.get(&day).copied().unwrap_or(0),
            })
            .collect::<Vec<_>>()
    };

    Ok(DashboardMetrics {
        by_status,
        by_priority,
        opened_per_day: series(&opened),
        resolved_per_day: series(&resolved_days),
        mean_hours_to_resolve: (resolved > 0).then(|| resolve_ms / resolved as f64 / 3_600_000.0),
        generated_at: now,
    })
}

/// Cases per UTC day number of `column`, from `since` (Unix ms) on.
fn per_day(conn: &dyn Sql, column: &str, since: i64) -> Result<HashMap<i64, u64>, DbError> {
    conn.query_shared(
        &format!(
            "SELECT {column} / {DAY_MS}, count(*) FROM cases
             WHERE deleted_at IS NULL AND {column} >= ?1 GROUP BY 1"
        ),
        &[since.into()],
    )?
    .iter()
    .map(|row| Ok((row.int(0)?, row.count(1)?)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{insert, CaseRecord};
    use casedesk_model::Case;
    use uuid::Uuid;

    #[test]
    fn series_cover_thirty_days_and_mean_uses_resolution_times() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (db, _) = crate::db::Db::memory();
        let now = Timestamp::parse("2026-11-21T10:00:00Z").unwrap();
        fn ms(text: &str) -> Timestamp {
            Timestamp::parse(text).unwrap()
        }
        let make = move |n: u128, status: CaseStatus, created: &str| Case {
            created_by: None,
            updated_by: None,
            id: Uuid::from_u128(n),
            title: "t".into(),
            description: String::new(),
            status,
            priority: Priority::High,
            assignee: None,
            tags: vec![],
            created_at: ms(created),
            updated_at: ms(created),
            version: 1,
        };
        let metrics = rt.block_on(async move {
            db.with_writer(move |conn| {
                // Open today; resolved 3 h after creation yesterday; closed 5 h after creation
                // without being resolved; one from 40 days ago, outside the series.
                insert(
                    conn,
                    &CaseRecord::new(make(1, CaseStatus::Open, "2026-11-21T09:00:00Z")),
                )?;
                let mut r = CaseRecord::new(make(2, CaseStatus::Open, "2026-11-20T08:00:00Z"));
                r.case.status = CaseStatus::Resolved;
                r.track_status(
                    Some(CaseStatus::Open),
                    ms("2026-11-20T11:00:00Z").unix_millis(),
                );
                insert(conn, &r)?;
                let mut c = CaseRecord::new(make(3, CaseStatus::Open, "2026-11-20T08:00:00Z"));
                c.case.status = CaseStatus::Closed;
                c.track_status(
                    Some(CaseStatus::Open),
                    ms("2026-11-20T13:00:00Z").unix_millis(),
                );
                insert(conn, &c)?;
                insert(
                    conn,
                    &CaseRecord::new(make(4, CaseStatus::Open, "2026-10-12T09:00:00Z")),
                )?;
                compute(conn, now)
            })
            .await
            .unwrap()
        });
        assert_eq!(metrics.opened_per_day.len(), 30);
        assert_eq!(metrics.opened_per_day[0].date, "2026-10-23");
        assert_eq!(metrics.opened_per_day[29].date, "2026-11-21");
        assert_eq!(metrics.opened_per_day[29].count, 1);
        assert_eq!(metrics.opened_per_day[28].count, 2);
        assert_eq!(metrics.resolved_per_day[28].count, 1);
        let opened: u64 = metrics.opened_per_day.iter().map(|d| d.count).sum();
        assert_eq!(opened, 3);
        assert_eq!(metrics.by_status.open, 2);
        assert_eq!(metrics.by_status.total(), 4);
        assert_eq!(metrics.by_priority.high, 4);
        assert_eq!(metrics.mean_hours_to_resolve, Some(4.0));
    }
}
