//! `POST /api/v1/client-errors` (docs/api.md §7): the app's crash reports are taken without
//! a session, bounded at 8 KiB, rate limited per address, and logged on one line.

use crate::support::{db_in, expect_error, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PATH: &str = "/api/v1/client-errors";
const MAX_REPORT_BYTES: usize = 8 * 1024;

/// A report whose JSON is exactly `bytes` long.
fn report_of(bytes: usize) -> String {
    let empty = json!({"message": "", "build": "b1", "route": "/", "at": "2026-12-08T00:00:00Z"})
        .to_string();
    let message = "x".repeat(bytes - empty.len());
    let body =
        json!({"message": message, "build": "b1", "route": "/", "at": "2026-12-08T00:00:00Z"})
            .to_string();
    assert_eq!(body.len(), bytes);
    body
}

async fn send(server: &Server, body: String) -> reqwest::Response {
    server
        .request(reqwest::Method::POST, PATH)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn crash_reports_are_logged_bounded_and_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(dir.path(), "reports.db");
    let log = dir.path().join("server.log");
    // People on, and no session: a crash may happen signed out.
    let server = Server::start_logging(
        &db,
        &[
            "--no-seed-demo",
            "--rate-limit-per-sec",
            "0",
            "--log-format",
            "json",
        ],
        &[("RUST_LOG", "warn")],
        &log,
    );
    let report = json!({
        "message": "panicked at src/pages/case.rs:42:9:\nindex out of bounds",
        "build": "app-3f2a9c",
        "route": "/cases/0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44",
        "at": "2026-12-08T01:02:03.456Z",
    });
    let logged = server.post_json(PATH, &report).send().await.unwrap();
    assert_eq!(logged.status(), StatusCode::NO_CONTENT);
    let request_id = logged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    // Another site's page cannot post reports.
    let foreign = server
        .post_json(PATH, &report)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(foreign, 403, "forbidden").await;

    // 8 KiB is the bound.
    assert_eq!(
        send(&server, report_of(MAX_REPORT_BYTES)).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        send(&server, report_of(MAX_REPORT_BYTES + 1)).await,
        413,
        "payload_too_large",
    )
    .await;
    expect_error(
        server
            .post_json(PATH, &json!({"build": "b"}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;

    // One address gets a burst, then 429 with Retry-After; the API's own limit is off here.
    let mut limited = None;
    for _ in 0..30 {
        let response = server.post_json(PATH, &report).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let limited = limited.expect("reports from one address are rate limited");
    assert!(limited.headers().get("retry-after").is_some());
    expect_error(limited, 429, "rate_limited").await;
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    let line: Value = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|line| line["msg"] == "client error" && line["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("the report is logged:\n{text}"));
    assert_eq!(line["level"], "warn");
    assert_eq!(
        line["error"], "panicked at src/pages/case.rs:42:9:\\nindex out of bounds",
        "on one line, its line break escaped"
    );
    assert_eq!(line["build"], "app-3f2a9c");
    assert_eq!(
        line["app_route"],
        "/cases/0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44"
    );
    assert_eq!(line["at"], "2026-12-08T01:02:03.456Z");
    assert_eq!(line["route"], PATH);
}
