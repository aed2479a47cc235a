//! The server as a process: restarts, demo seeding, environment flags, shutdown.

use crate::support::{expect_error, new_case, Server, OTHER_SERVICE_TOKEN, SERVICE_TOKEN};
use reqwest::StatusCode;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
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
async fn a_new_database_has_no_people_and_no_data_and_the_server_says_how_to_add_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "empty.db");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .args(["--addr", "127.0.0.1:0", "--rate-limit-per-sec", "0"])
        .args(["--auth-token", SERVICE_TOKEN, "--db"])
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let get = |path: &str| {
        crate::support::client()
            .get(format!("{base}{path}"))
            .bearer_auth(SERVICE_TOKEN)
            .send()
    };
    let cases: serde_json::Value = get("/api/v1/cases").await.unwrap().json().await.unwrap();
    assert_eq!(cases["total"], 0, "no demo cases");
    let users: serde_json::Value = get("/api/v1/users").await.unwrap().json().await.unwrap();
    assert_eq!(
        users,
        serde_json::json!([]),
        "no people, so no published password"
    );
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("casedesk-server user add --email E --name N --role admin"),
        "{said}"
    );
    assert!(!said.contains("casedesk-demo"), "{said}");
}

#[tokio::test]
async fn demo_data_is_seeded_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "demo.db");
    let plain = ["--rate-limit-per-sec", "0", "--no-auth"];
    // The old opt-out is still accepted (and changes nothing).
    let mut old_flag = plain.to_vec();
    old_flag.push("--no-seed-demo");
    let server = Server::start_raw(&db, &old_flag, &[]);
    assert_eq!(server.list("per_page=1").await["total"], 0);
    drop(server);
    let mut seeding = plain.to_vec();
    seeding.push("--seed-demo");
    let server = Server::start_raw(&db, &seeding, &[]);
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
    let server = Server::start_raw(&db, &plain, &[]);
    assert_eq!(server.list("per_page=1").await["total"], 500);
    // --seed-demo on a seeded database adds nothing new (same ids).
    drop(server);
    let server = Server::start_raw(&db, &seeding, &[]);
    assert_eq!(server.list("per_page=1").await["total"], 500);
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    if crate::support::engine() != crate::support::Engine::Sqlite {
        return;
    }
    let server = Server::start(&[]);
    // A write, so the WAL and its shared-memory index exist.
    server.create(new_case("Private")).await;
    let db = server.db.display().to_string();
    for path in [db.clone(), format!("{db}-wal"), format!("{db}-shm")] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} is {mode:o}");
    }
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
            (
                "CASEDESK_AUTH_TOKEN",
                &format!("{SERVICE_TOKEN},{OTHER_SERVICE_TOKEN}"),
            ),
            ("CASEDESK_RATE_LIMIT_PER_SEC", "0"),
        ],
    );
    let response = server.get("/api/v1/cases").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = server
        .get("/api/v1/cases")
        .bearer_auth(OTHER_SERVICE_TOKEN)
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
