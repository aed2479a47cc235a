//! A database written by the release before people (schema 2, `fixtures/release-v2.sql`)
//! is migrated on start with every case and note kept, and free-text assignees mapped to
//! the demo people they name.

use crate::support::{client, Server, SERVICE_TOKEN};
use serde_json::Value;

const OLD_RELEASE: &str = include_str!("fixtures/release-v2.sql");

async fn get(server: &Server, path: &str) -> Value {
    let response = client()
        .get(server.url(path))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_database_of_the_release_before_people_keeps_every_case_and_note() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(OLD_RELEASE).unwrap();
    }
    let server = Server::start_raw(
        &db,
        &["--rate-limit-per-sec", "0", "--auth-token", SERVICE_TOKEN],
        &[],
    );

    let users = get(&server, "/api/v1/users").await;
    let id_of = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .map(|u| u["id"].clone())
            .unwrap_or_else(|| panic!("{name} among {users}"))
    };
    let dana = id_of("Dana Reyes");
    let lee = id_of("Lee Chen");

    let case = |n: u8| format!("01900000-0000-7000-8000-0000000000{n:02x}");
    let list = get(&server, "/api/v1/cases?sort=created_at").await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [case(1), case(2), case(3)],
        "the live cases, the deleted one not listed"
    );

    let printer = get(&server, &format!("/api/v1/cases/{}", case(1))).await;
    assert_eq!(printer["title"], "Printer jams");
    assert_eq!(printer["description"], "Floor 3");
    assert_eq!(printer["priority"], "high");
    assert_eq!(printer["tags"], serde_json::json!(["hardware"]));
    assert_eq!(printer["version"], 1);
    assert_eq!(printer["created_at"], "2025-11-20T00:53:20Z");
    assert_eq!(printer["assignee"], dana, "`dana` is Dana Reyes");
    assert_eq!(printer["created_by"], Value::Null, "older than people");
    let vpn = get(&server, &format!("/api/v1/cases/{}", case(2))).await;
    assert_eq!(vpn["assignee"], lee, "`Lee Chen` is Lee Chen");
    assert_eq!(vpn["status"], "resolved");
    let chair = get(&server, &format!("/api/v1/cases/{}", case(3))).await;
    assert_eq!(chair["assignee"], Value::Null, "`marco` is nobody we know");

    // The counts the migration took: the deleted case is not among them, and the
    // assignees are those mapped to people.
    for (filter, total) in [
        (String::new(), 3),
        ("status=open".into(), 1),
        ("status=resolved&priority=critical".into(), 1),
        ("priority=medium".into(), 0),
        (format!("assignee={}", dana.as_str().unwrap()), 1),
        ("assignee=none".into(), 1),
        ("assignee=none&status=in_progress&priority=low".into(), 1),
    ] {
        let list = get(&server, &format!("/api/v1/cases?{filter}")).await;
        assert_eq!(list["total"], total, "{filter}");
    }
    let metrics = get(&server, "/api/v1/dashboard/metrics").await;
    assert_eq!(
        metrics["by_status"],
        serde_json::json!({"open": 1, "in_progress": 1, "resolved": 1, "closed": 0})
    );
    let mean = metrics["mean_hours_to_resolve"].as_f64().unwrap();
    assert!(
        (mean - 4.0 / 3600.0).abs() < 1e-12,
        "4 s to resolve the VPN: {mean}"
    );

    let notes = get(&server, &format!("/api/v1/cases/{}/notes", case(1))).await;
    let bodies: Vec<(&str, &str)> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["body"].as_str().unwrap(), n["author"].as_str().unwrap()))
        .collect();
    assert_eq!(
        bodies,
        [("Looking into it", "dana"), ("Toner replaced", "anonymous")]
    );
    assert_eq!(notes[0]["author_id"], dana);
    assert_eq!(notes[1]["author_id"], Value::Null);
    let notes = get(&server, &format!("/api/v1/cases/{}/notes", case(2))).await;
    assert_eq!(notes[0]["body"], "Fixed");
    assert_eq!(
        get(&server, &format!("/api/v1/cases/{}/history", case(1))).await,
        serde_json::json!([])
    );

    // Every row is still there, the deleted case's included; the demo people who came from
    // the migration cannot sign in (they have no password).
    drop(server);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (cases, notes, version): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM notes),
                    (SELECT user_version FROM pragma_user_version)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!((cases, notes), (4, 3));
    assert!(version >= 3, "{version}");
    let passwords: i64 = conn
        .query_row(
            "SELECT count(*) FROM people WHERE password_hash IS NOT NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(passwords, 0);
}

#[tokio::test]
async fn a_database_of_an_earlier_release_gets_a_change_feed_from_its_working_set_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(OLD_RELEASE).unwrap();
    }
    let server = Server::start_raw(
        &db,
        &["--rate-limit-per-sec", "0", "--auth-token", SERVICE_TOKEN],
        &[],
    );
    let case = |n: u8| format!("01900000-0000-7000-8000-0000000000{n:02x}");
    // The log starts empty; the working set (the open and in-progress cases, with their
    // notes; the others are older than 90 days) comes from the tables.
    let first = get(&server, "/api/v1/changes").await;
    assert_eq!(first["more"], false);
    let kinds: Vec<(&str, &str)> = first["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c["kind"].as_str().unwrap() {
            "case" => ("case", c["case"]["id"].as_str().unwrap()),
            kind => (kind, c["note"]["case_id"].as_str().unwrap()),
        })
        .collect();
    let (printer, chair) = (case(1), case(3));
    assert_eq!(
        kinds,
        [
            ("case", printer.as_str()),
            ("note", printer.as_str()),
            ("note", printer.as_str()),
            ("case", chair.as_str())
        ]
    );
    // Changes from now on are logged.
    let response = client()
        .patch(server.url(&format!("/api/v1/cases/{}", case(2))))
        .bearer_auth(SERVICE_TOKEN)
        .header("If-Match", "\"3\"")
        .json(&serde_json::json!({"status": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cursor = first["cursor"].as_str().unwrap();
    let next = get(&server, &format!("/api/v1/changes?since={cursor}")).await;
    let changes = next["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["case"]["id"], case(2));
    assert_eq!(changes[0]["case"]["version"], 4);
}
