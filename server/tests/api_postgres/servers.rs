//! Two servers on one PostgreSQL database (docs/api.md §5): idempotency keys and `If-Match`
//! are decided by the database, and a change accepted by one reaches the sockets of both.

use crate::support::pg_cluster::{psql, psql_in_background};
use crate::support::{db_in, new_case, Server};
use casedesk_model::ChangeEvent;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const FLAGS: &[&str] = &["--no-seed-demo", "--no-auth", "--rate-limit-per-sec", "0"];

/// Two servers on one fresh database; its URL too.
fn two_servers() -> (Server, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(dir.path(), "shared");
    let a = Server::start_raw(&db, FLAGS, &[]);
    let b = Server::start_raw(&db, FLAGS, &[]);
    (a, b, db.to_string_lossy().into_owned())
}

async fn connect(server: &Server) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/events"))
        .await
        .expect("the socket opens");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The next change event, pings skipped, within 10 s; `None` once the socket closes.
async fn next_event(socket: &mut Socket) -> Option<ChangeEvent> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an event in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                let event: ChangeEvent = serde_json::from_str(&text).unwrap();
                if event != ChangeEvent::Ping {
                    return Some(event);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_key_replayed_on_the_other_server_returns_the_stored_answer() {
    let (a, b, _) = two_servers();
    let key = Uuid::new_v4().to_string();
    let body = new_case("Sent to A, retried on B");
    let first = a
        .post_json("/api/v1/cases", &body)
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first = first.text().await.unwrap();
    let replay = b
        .post_json("/api/v1/cases", &body)
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), first);
    assert_eq!(b.list("").await["total"], 1);
}

#[tokio::test]
async fn one_key_sent_to_both_servers_at_once_applies_once() {
    let (a, b, _) = two_servers();
    for round in 0..10 {
        let key = Uuid::new_v4().to_string();
        let body = new_case(&format!("Raced {round}"));
        let send = |server: &Server| {
            server
                .post_json("/api/v1/cases", &body)
                .header("Idempotency-Key", &key)
                .send()
        };
        let (x, y) = tokio::join!(send(&a), send(&b));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!((x.status().as_u16(), y.status().as_u16()), (201, 201));
        assert_eq!(x.text().await.unwrap(), y.text().await.unwrap());
    }
    assert_eq!(a.list("").await["total"], 10);
}

#[tokio::test]
async fn concurrent_patches_with_one_version_through_both_servers_one_wins() {
    let (a, b, _) = two_servers();
    let case = a.create(new_case("Contested")).await;
    let id = case["id"].as_str().unwrap().to_owned();
    for version in 1..=10u64 {
        let (x, y) = tokio::join!(
            a.patch(&id, version, json!({"title": format!("A {version}")})),
            b.patch(&id, version, json!({"title": format!("B {version}")})),
        );
        let mut statuses = [x.status().as_u16(), y.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {version}");
    }
    let now: Value = b
        .get(&format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["version"], 11);
    let history: Value = a
        .get(&format!("/api/v1/cases/{id}/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        history.as_array().unwrap().len(),
        11,
        "one entry per change"
    );
}

#[tokio::test]
async fn a_change_made_through_a_arrives_on_a_socket_of_b_in_commit_order() {
    let (a, b, _) = two_servers();
    let mut on_b = connect(&b).await;
    let mut on_a = connect(&a).await;
    let case = a.create(new_case("Seen everywhere")).await;
    let id: Uuid = case["id"].as_str().unwrap().parse().unwrap();
    // Alternate servers: each socket sees every version, in order, once.
    for version in 1..=6u64 {
        let through = if version % 2 == 0 { &a } else { &b };
        let response = through
            .patch(
                &id.to_string(),
                version,
                json!({"title": format!("v{}", version + 1)}),
            )
            .await;
        assert_eq!(response.status().as_u16(), 200);
    }
    for socket in [&mut on_b, &mut on_a] {
        match next_event(socket).await {
            Some(ChangeEvent::CaseCreated {
                id: got, version, ..
            }) => {
                assert_eq!((got, version), (id, 1));
            }
            other => panic!("expected the creation, got {other:?}"),
        }
        for expected in 2..=7u64 {
            match next_event(socket).await {
                Some(ChangeEvent::CaseUpdated {
                    id: got, version, ..
                }) => {
                    assert_eq!((got, version), (id, expected));
                }
                other => panic!("expected version {expected}, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_server_that_loses_its_listener_tells_its_sockets_to_resync_and_listens_again() {
    let (a, b, url) = two_servers();
    let mut on_b = connect(&b).await;
    // Cut every LISTEN connection (both servers'): PostgreSQL ends those sessions.
    let cut = psql(
        &url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    );
    assert_eq!(cut, "2", "each server had one listening connection");
    match next_event(&mut on_b).await {
        Some(ChangeEvent::Resync { reason }) => assert!(reason.contains("refetch"), "{reason}"),
        other => panic!("expected a resync, got {other:?}"),
    }
    assert!(
        next_event(&mut on_b).await.is_none(),
        "then the socket closes"
    );
    // A new socket on B hears changes made through A again.
    let mut again = connect(&b).await;
    let case = a.create(new_case("After the cut")).await;
    match next_event(&mut again).await {
        Some(ChangeEvent::CaseCreated { id, .. }) => {
            assert_eq!(id.to_string(), case["id"].as_str().unwrap());
        }
        other => panic!("expected the creation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_change_through_a_is_in_the_next_count_and_search_through_b() {
    let (a, b, _) = two_servers();
    a.create(new_case("Printer jams")).await;
    // Read twice through B, so that its second read is answered from what it shared.
    for _ in 0..2 {
        assert_eq!(b.list("q=printer").await["total"], 1);
        assert_eq!(b.list("").await["total"], 1);
    }
    a.create(new_case("Printer out of toner")).await;
    assert_eq!(b.list("q=printer").await["total"], 2);
    assert_eq!(b.list("").await["total"], 2);
    let metrics: Value = b
        .get("/api/v1/dashboard/metrics")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metrics["by_status"]["open"], 2);
}

/// The next socket message that announces a change, decoded whole.
async fn next_live(socket: &mut Socket) -> casedesk_model::LiveEvent {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            let live: casedesk_model::LiveEvent = serde_json::from_str(&text).unwrap();
            if live.event != ChangeEvent::Ping {
                return live;
            }
        }
    }
}

async fn changes_page(server: &Server, query: &str) -> casedesk_model::ChangePage {
    let response = server
        .get(&format!("/api/v1/changes?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{query}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn events_on_both_servers_carry_their_change_numbered_in_commit_order() {
    use casedesk_model::{ChangeBody, SeqOrder};
    let (a, b, _) = two_servers();
    let start = changes_page(&b, "").await.cursor;
    let mut on_b = connect(&b).await;
    let mut on_a = connect(&a).await;
    let small = a.create(new_case("Small")).await;
    // Over NOTIFY's 8000 bytes with its change: it travels by id, the change still with it.
    let mut long = new_case("Long");
    long["description"] = json!("d".repeat(9_000));
    let long = b.create(long).await;
    let id: Uuid = small["id"].as_str().unwrap().parse().unwrap();
    let response = b
        .patch(&id.to_string(), 1, json!({"status": "closed"}))
        .await;
    assert_eq!(response.status().as_u16(), 200);

    let feed = changes_page(&a, &format!("since={start}")).await;
    assert_eq!(feed.changes.len(), 3);
    for socket in [&mut on_b, &mut on_a] {
        let mut held = start.clone();
        let mut carried = Vec::new();
        for _ in 0..3 {
            let change = next_live(socket)
                .await
                .change
                .expect("each event has its change");
            assert_eq!(change.seq.relative_to(&held), SeqOrder::Next);
            held = (&change.seq).into();
            carried.push(change);
        }
        assert!(matches!(&carried[1].body, ChangeBody::Case { case }
            if case.id.to_string() == long["id"].as_str().unwrap() && case.description.len() == 9_000));
        assert_eq!(carried, feed.changes, "what the events carried is the feed");
    }
}

/// How many of the database's sessions wait for a lock, and whether one sits, transaction
/// open, just after sending its change event (where `hold_commit` holds it).
fn sessions(url: &str) -> (usize, bool) {
    let waiting = psql(
        url,
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    let held = psql(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'idle in transaction' AND query LIKE '%pg_notify%'",
    );
    (waiting.parse().unwrap(), held != "0")
}

#[tokio::test]
async fn a_reader_never_passes_a_change_that_is_still_committing() {
    use casedesk_model::{Change, ChangeBody, Cursor};
    let dir = tempfile::tempdir().unwrap();
    let url = db_in(dir.path(), "shared");
    let mut flags = FLAGS.to_vec();
    flags.push("--allow-chaos");
    let a = Server::start_raw(&url, &flags, &[]);
    let b = Server::start_raw(&url, FLAGS, &[]);
    let url = url.to_string_lossy().into_owned();
    let mut cursor: Cursor = changes_page(&b, "").await.cursor;
    let mut seen: Vec<Change> = Vec::new();

    // The first change takes its place in the log, then is held open before its commit.
    let hold = a
        .request(reqwest::Method::PUT, "/__chaos")
        .json(&json!({"hold_commit": true}))
        .send()
        .await
        .unwrap();
    assert!(hold.status().is_success());
    let first = new_case("Numbered first, held");
    let first_id = first["id"].clone();
    let held = tokio::spawn({
        let request = a.post_json("/api/v1/cases", &first);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    while !sessions(&url).1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The second change starts after it, through the other server. With numbers taken at
    // insert (a sequence) it would commit now, numbered after the first; here it waits for
    // the first to commit before it takes a number.
    // Another priority, so that it shares no count row (`case_counts`) with the first.
    let mut second = new_case("Started second");
    second["priority"] = json!("critical");
    let second_id = second["id"].clone();
    let later = tokio::spawn({
        let request = b.post_json("/api/v1/cases", &second);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    while !later.is_finished() && sessions(&url).0 == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A reader polls while the first is still uncommitted.
    for _ in 0..3 {
        let page = changes_page(&b, &format!("since={cursor}")).await;
        seen.extend(page.changes);
        cursor = page.cursor;
    }
    let release = a
        .request(reqwest::Method::PUT, "/__chaos")
        .json(&json!({"hold_commit": false}))
        .send()
        .await
        .unwrap();
    assert!(release.status().is_success());
    assert_eq!(held.await.unwrap(), 201);
    assert_eq!(later.await.unwrap(), 201);
    loop {
        let page = changes_page(&b, &format!("since={cursor}")).await;
        seen.extend(page.changes);
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    let created: Vec<String> = seen
        .iter()
        .filter_map(|change| match &change.body {
            ChangeBody::Case { case } => Some(case.id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        created,
        [
            first_id.as_str().unwrap().to_owned(),
            second_id.as_str().unwrap().to_owned()
        ],
        "the reader got both, the first committed first"
    );
}

#[tokio::test]
async fn a_query_blocked_past_the_request_deadline_gives_its_connection_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(dir.path(), "locked");
    let mut flags = FLAGS.to_vec();
    flags.extend(["--request-timeout-ms", "1000"]);
    let server = Server::start_raw(&db, &flags, &[]);
    let url = db.to_string_lossy().into_owned();
    // Another session takes `cases` for itself: every read of it waits for the lock.
    let mut locker = psql_in_background(
        &url,
        "BEGIN; LOCK TABLE cases IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);",
    );
    let held = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                WHERE c.relname = 'cases' AND l.mode = 'AccessExclusiveLock' AND l.granted";
    let guard = std::time::Instant::now() + Duration::from_secs(60);
    while psql(&url, held) != "1" {
        assert!(
            std::time::Instant::now() < guard,
            "the lock was never taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // More waiting reads than the server has connections: each is stopped at its deadline.
    // The statement timeout equals the request timeout, so which of the two fires first is a
    // race: the request's 408, or PostgreSQL's cancel answered as 503 ("took too long"); both
    // are transient answers the app retries.
    let waiting: Vec<_> = (0..10)
        .map(|_| server.get("/api/v1/cases").send())
        .collect();
    for answer in futures_util::future::join_all(waiting).await {
        let status = answer.unwrap().status().as_u16();
        assert!(
            status == 408 || status == 503,
            "a read blocked past its deadline is stopped (408 or 503), got {status}"
        );
    }
    // Their queries were cancelled with them: a read of something else is answered while
    // the lock is still held (without a statement timeout, all the server's connections
    // would wait for it for ten minutes).
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let response = server.get("/api/v1/users").send().await.unwrap();
            if response.status().as_u16() == 200 {
                return;
            }
        }
    })
    .await;
    assert!(answered.is_ok(), "the server's connections stayed blocked");
    assert_eq!(psql(&url, held), "1", "the lock was held throughout");
    let _ = locker.kill();
    let _ = locker.wait();
    psql(
        &url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
}
