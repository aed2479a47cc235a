//! The server as a process: restarts, demo seeding, environment flags, shutdown.

use crate::support::{expect_error, new_case, Server};
use reqwest::StatusCode;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn a_restart_keeps_cases_and_idempotency_keys() {
    let server = Server::start(&[]);
    let key = Uuid::new_v4().to_string();
    let body = new_case("Durable");
    let first = server
        .post_json("/api/v1/cases", &body)
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    let db = server.db.clone();
    let dir = server.stop_keep_db();

    let again = Server::start_raw(&db, &["--rate-limit-per-sec", "0", "--no-auth"], &[]);
    assert_eq!(
        again.list("").await["total"],
        1,
        "no demo data on an old database"
    );
    let replay = again
        .post_json("/api/v1/cases", &body)
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), first);
    let conflict = again
        .post_json("/api/v1/cases", &new_case("Other"))
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    expect_error(conflict, 409, "idempotency_conflict").await;
    drop(again);
    drop(dir);
}

#[tokio::test]
async fn a_new_database_gets_demo_data_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "demo.db");
    let server = Server::start_raw(&db, &["--rate-limit-per-sec", "0", "--no-auth"], &[]);
    let list = server.list("per_page=1").await;
    assert_eq!(list["total"], 500);
    let metrics: serde_json::Value = server
        .get("/api/v1/dashboard/metrics")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(metrics["mean_hours_to_resolve"].as_f64().unwrap() > 0.0);
    drop(server);
    let server = Server::start_raw(&db, &["--rate-limit-per-sec", "0", "--no-auth"], &[]);
    assert_eq!(server.list("per_page=1").await["total"], 500);
    // --seed-demo on a seeded database adds nothing new (same ids).
    drop(server);
    let server = Server::start_raw(
        &db,
        &["--seed-demo", "--rate-limit-per-sec", "0", "--no-auth"],
        &[],
    );
    assert_eq!(server.list("per_page=1").await["total"], 500);
}

#[tokio::test]
async fn flags_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "env.db");
    let server = Server::start_raw(
        &db,
        &[],
        &[
            ("CASEDESK_NO_SEED_DEMO", "true"),
            ("CASEDESK_AUTH_TOKEN", "one,two"),
            ("CASEDESK_RATE_LIMIT_PER_SEC", "0"),
        ],
    );
    let response = server.get("/api/v1/cases").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = server
        .get("/api/v1/cases")
        .bearer_auth("two")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["total"],
        0
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let mut server = Server::start(&[]);
    server.create(new_case("Before shutdown")).await;
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server exits after SIGTERM");
    assert!(exit.success(), "{exit:?}");
}
