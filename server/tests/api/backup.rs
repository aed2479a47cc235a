//! `casedesk-server backup PATH` on a live SQLite database (docs/api.md §7): taken while a
//! client goes on writing, the copy is one consistent moment, and a server started on it
//! serves the same cases, replays the same idempotency keys, and answers the change feed's
//! cursors as §6 says. (The PostgreSQL suite
//! checks that the command points PostgreSQL users to pg_dump.)

use crate::support::Server;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

const FLAGS: &[&str] = &["--no-auth", "--no-seed-demo", "--rate-limit-per-sec", "0"];

/// A case created with a key: its body, its key and the answer's text.
#[derive(Clone, Debug)]
struct Written {
    body: Value,
    key: String,
    answer: String,
}

async fn create_with_key(server: &Server, title: &str) -> Written {
    let body = crate::support::new_case(title);
    let key = Uuid::new_v4().to_string();
    let response = server
        .post_json("/api/v1/cases", &body)
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "{title}");
    Written {
        body,
        key,
        answer: response.text().await.unwrap(),
    }
}

/// Every live case the server has, by id.
async fn all_cases(server: &Server) -> HashMap<String, Value> {
    let mut cases = HashMap::new();
    for page in 1.. {
        let list = server.list(&format!("per_page=100&page={page}")).await;
        let items = list["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        for case in items {
            cases.insert(case["id"].as_str().unwrap().to_owned(), case);
        }
    }
    cases
}

/// Reads the change feed from `since` (the start if `None`) to its end: the ids of the cases
/// in it, in order, and the cursor at the end.
async fn changes_since(server: &Server, since: Option<&str>) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut cursor = since.map(str::to_owned);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/changes?since={cursor}"),
            None => "/api/v1/changes".to_owned(),
        };
        let response = server.get(&path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page: Value = response.json().await.unwrap();
        for change in page["changes"].as_array().unwrap() {
            if let Some(id) = change["case"]["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        cursor = Some(page["cursor"].as_str().unwrap().to_owned());
        if page["more"] != true {
            return (ids, cursor.unwrap_or_default());
        }
    }
}

/// Runs `casedesk-server --db DB backup COPY` to its end; its standard output.
fn run_backup(db: &Path, copy: &Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .arg("--db")
        .arg(db)
        .arg("backup")
        .arg(copy)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run casedesk-server backup");
    assert!(
        output.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_backup_taken_while_cases_are_written_restores_the_cases_and_their_keys() {
    // Enough cases for the copy to take a while: writes go on meanwhile.
    let server = Arc::new(Server::start_demo(2_000, &["--no-auth"]));
    let before: Vec<Written> = {
        let mut written = Vec::new();
        for n in 0..10 {
            written.push(create_with_key(&server, &format!("Before the backup {n}")).await);
        }
        written
    };

    // A device's place in the change feed before the backup.
    let (_, cursor_before) = changes_since(&server, None).await;

    // One client writes cases one after another until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut written = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = written.len();
                written.push(create_with_key(&server, &format!("During the backup {n}")).await);
            }
            written
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let db = server.db.clone();
    let (copy_path, out) = {
        let copy = copy.clone();
        tokio::task::spawn_blocking(move || {
            let out = run_backup(&db, &copy);
            (copy, out)
        })
        .await
        .unwrap()
    };
    assert!(out.starts_with("backed up "), "{out}");
    // Writes still go on after the copy; then the writer stops.
    let after = create_with_key(&server, "After the backup").await;
    stop.store(true, Ordering::Relaxed);
    let during = writer.await.unwrap();
    eprintln!("{} cases written while the backup ran: {out}", during.len());

    let source = all_cases(&server).await;
    // A device that synced after the copy was taken holds a place the copy never reached.
    let (_, cursor_after) = changes_since(&server, Some(&cursor_before)).await;
    let restored = Server::start_raw(&copy_path, FLAGS, &[]);
    let copied = all_cases(&restored).await;

    // Every case in the copy is the source's, unchanged; the copy has every case written
    // before it began, and of those written meanwhile a first run, never one with a gap.
    for (id, case) in &copied {
        assert_eq!(source.get(id), Some(case), "case {id}");
    }
    for written in &before {
        assert!(copied.contains_key(written.body["id"].as_str().unwrap()));
    }
    let present: Vec<bool> = during
        .iter()
        .map(|w| copied.contains_key(w.body["id"].as_str().unwrap()))
        .collect();
    let first_missing = present.iter().position(|p| !p).unwrap_or(present.len());
    assert!(
        present[first_missing..].iter().all(|p| !p),
        "the copy is one moment: {present:?}"
    );
    assert!(!copied.contains_key(after.body["id"].as_str().unwrap()));
    let written_after_the_copy = during.len() - first_missing + 1;
    assert_eq!(copied.len(), source.len() - written_after_the_copy);

    // The change feed after a restore (docs/api.md §6): a place the copy holds goes on with
    // exactly the changes the copy has after it; a place ahead of the copy is 410
    // `cursor_expired`, and that device starts again from a fresh working set.
    let (fed, _) = changes_since(&restored, Some(&cursor_before)).await;
    let copied_during: Vec<String> = during
        .iter()
        .take(first_missing)
        .map(|w| w.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fed, copied_during);
    let ahead = restored
        .get(&format!("/api/v1/changes?since={cursor_after}"))
        .send()
        .await
        .unwrap();
    crate::support::expect_error(ahead, 410, "cursor_expired").await;

    // The copy's keys replay their answers; a key it never saw is a new case there.
    let mut replayed = before.clone();
    replayed.extend(during.iter().take(first_missing).cloned());
    for written in &replayed {
        let replay = restored
            .post_json("/api/v1/cases", &written.body)
            .header("Idempotency-Key", &written.key)
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), StatusCode::CREATED);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        assert_eq!(replay.text().await.unwrap(), written.answer);
    }
    let fresh = restored
        .post_json("/api/v1/cases", &after.body)
        .header("Idempotency-Key", &after.key)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::CREATED);
    assert!(fresh.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_backup_refuses_a_database_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .arg("--db")
        .arg(dir.path().join("nothing.db"))
        .arg("backup")
        .arg(dir.path().join("copy.db"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert!(!dir.path().join("copy.db").exists());
    assert!(
        !dir.path().join("nothing.db").exists(),
        "nothing is created"
    );
}
