//! Dashboard arithmetic on known data.

use crate::support::Server;
use casedesk_model::DashboardMetrics;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

async fn metrics(server: &Server) -> DashboardMetrics {
    let response = server
        .get("/api/v1/dashboard/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn metrics_count_statuses_priorities_days_and_time_to_resolve() {
    let server = Server::start(&[]);
    let empty = metrics(&server).await;
    assert_eq!(empty.by_status.total(), 0);
    assert_eq!(empty.mean_hours_to_resolve, None);
    assert_eq!(empty.opened_per_day.len(), 30);
    assert!(empty.opened_per_day.iter().all(|d| d.count == 0));

    // 2 open (low, medium), 1 in progress (high), 3 resolved later (critical), one of
    // them then closed; 1 created closed; 1 deleted (not counted anywhere).
    let mut ids = Vec::new();
    for (status, priority) in [
        ("open", "low"),
        ("open", "medium"),
        ("in_progress", "high"),
        ("open", "critical"),
        ("open", "critical"),
        ("open", "critical"),
        ("closed", "low"),
        ("open", "high"),
    ] {
        let id = Uuid::now_v7();
        ids.push(id.to_string());
        server
            .create(json!({"id": id, "title": "m", "status": status, "priority": priority}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for id in &ids[3..6] {
        let response = server.patch(id, 1, json!({"status": "resolved"})).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = server.patch(&ids[5], 2, json!({"status": "closed"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{}", ids[7]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let m = metrics(&server).await;
    assert_eq!(
        (
            m.by_status.open,
            m.by_status.in_progress,
            m.by_status.resolved,
            m.by_status.closed
        ),
        (2, 1, 2, 2)
    );
    assert_eq!(
        (
            m.by_priority.low,
            m.by_priority.medium,
            m.by_priority.high,
            m.by_priority.critical
        ),
        (2, 1, 1, 3)
    );

    let today = casedesk_model::Timestamp::parse(&m.generated_at.to_string())
        .unwrap()
        .utc_date();
    assert_eq!(m.opened_per_day.len(), 30);
    assert_eq!(m.resolved_per_day.len(), 30);
    assert_eq!(m.opened_per_day[29].date, today);
    assert_eq!(m.resolved_per_day[29].date, today);
    // Oldest first, consecutive days.
    for series in [&m.opened_per_day, &m.resolved_per_day] {
        assert!(series.windows(2).all(|w| w[0].date < w[1].date));
    }
    assert_eq!(m.opened_per_day[29].count, 7);
    assert_eq!(
        m.opened_per_day[..29].iter().map(|d| d.count).sum::<u64>(),
        0
    );
    // Three cases entered `resolved` today (one was closed after): the closed-at-creation
    // case never did.
    assert_eq!(m.resolved_per_day[29].count, 3);

    // Four done cases: three resolved ≥ 50 ms after creation, one closed at creation (0).
    let mean = m.mean_hours_to_resolve.expect("a mean");
    let three_quarters_of_50ms = 0.75 * 50.0 / 3_600_000.0;
    assert!(mean >= three_quarters_of_50ms, "{mean}");
    assert!(mean < 1.0 / 60.0, "under a minute: {mean}");
}
