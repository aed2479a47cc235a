//! `GET /api/v1/changes` (docs/api.md §6): a person's working set, then the change log after
//! it; pages bounded by count and bytes; cursors that cannot be continued (410) or were never
//! given out (400); retention.

use crate::support::{client, expect_error, new_case, sign_in, Server};
use casedesk_model::{Case, Change, ChangeBody, ChangePage, Cursor};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

const DAY_S: i64 = 86_400;

/// `GET /api/v1/changes?{query}` as `token` (none under `--no-auth`).
async fn get_changes(server: &Server, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = server.get(&format!("/api/v1/changes?{query}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// One page, asserting 200.
async fn page(server: &Server, token: Option<&str>, query: &str) -> ChangePage {
    let response = get_changes(server, token, query).await;
    assert_eq!(response.status().as_u16(), 200, "GET /changes?{query}");
    response.json().await.unwrap()
}

fn since(cursor: &Cursor) -> String {
    format!("since={}", cursor.0)
}

/// Every page from `from` (the start when `None`) until one says there is no more: the
/// changes, the last cursor, and how many pages it took.
async fn drain(
    server: &Server,
    token: Option<&str>,
    from: Option<&Cursor>,
    limit: u32,
) -> (Vec<Change>, Cursor, usize) {
    let mut changes = Vec::new();
    let mut cursor = from.cloned();
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("{}&limit={limit}", since(cursor)),
            None => format!("limit={limit}"),
        };
        let got = page(server, token, &query).await;
        pages += 1;
        assert!(
            got.changes.len() <= limit as usize,
            "a page holds at most `limit`"
        );
        changes.extend(got.changes);
        cursor = Some(got.cursor.clone());
        if !got.more {
            return (changes, got.cursor, pages);
        }
        assert!(pages < 10_000, "the feed ends");
    }
}

/// What a device holds after applying `changes` in order: each case at its newest version,
/// deleted cases gone for good, notes by case.
#[derive(Debug, Default, PartialEq)]
struct Replica {
    cases: BTreeMap<Uuid, Case>,
    deleted: BTreeSet<Uuid>,
    notes: BTreeMap<Uuid, BTreeSet<Uuid>>,
}

impl Replica {
    fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match &change.body {
                ChangeBody::Case { case } => {
                    let newer = self
                        .cases
                        .get(&case.id)
                        .is_none_or(|held| held.version < case.version);
                    if newer && !self.deleted.contains(&case.id) {
                        self.cases.insert(case.id, case.clone());
                    }
                }
                ChangeBody::CaseDeleted { id } => {
                    self.cases.remove(id);
                    self.notes.remove(id);
                    self.deleted.insert(*id);
                }
                ChangeBody::Note { note } => {
                    if !self.deleted.contains(&note.case_id) {
                        self.notes.entry(note.case_id).or_default().insert(note.id);
                    }
                }
                ChangeBody::Unknown => panic!("the server sent a kind this build lacks"),
            }
        }
    }

    fn case_ids(&self) -> BTreeSet<Uuid> {
        self.cases.keys().copied().collect()
    }
}

fn id_of(case: &Value) -> Uuid {
    case["id"].as_str().unwrap().parse().unwrap()
}

/// The position number inside a log cursor or seq (the test knows the format).
fn number(text: &str) -> u64 {
    casedesk_model::LogPosition::parse(text)
        .unwrap_or_else(|| panic!("`{text}` is a log position"))
        .number
}

#[tokio::test]
async fn the_log_follows_each_change_in_order_and_a_page_stops_at_its_limit() {
    let server = Server::start(&[]);
    let start = page(&server, None, "").await;
    assert!(start.changes.is_empty() && !start.more, "{start:?}");

    let case = server.create(new_case("Printer jams")).await;
    let id = id_of(&case);
    let response = server
        .patch(&id.to_string(), 1, json!({"status": "in_progress"}))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let note_id = Uuid::now_v7();
    let response = server
        .post_json(
            &format!("/api/v1/cases/{id}/notes"),
            &json!({"id": note_id, "body": "on it"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    // Neither a repeat nor a refused change is logged.
    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);

    let first = page(&server, None, &format!("{}&limit=3", since(&start.cursor))).await;
    assert_eq!(first.changes.len(), 3);
    assert!(first.more);
    let rest = page(&server, None, &since(&first.cursor)).await;
    assert_eq!(rest.changes.len(), 1);
    assert!(!rest.more);
    let all: Vec<&Change> = first.changes.iter().chain(&rest.changes).collect();
    assert!(
        matches!(&all[0].body, ChangeBody::Case { case } if case.id == id && case.version == 1)
    );
    assert!(matches!(&all[1].body, ChangeBody::Case { case }
        if case.version == 2 && case.status == casedesk_model::CaseStatus::InProgress));
    assert!(matches!(&all[2].body, ChangeBody::Note { note } if note.id == note_id));
    assert!(matches!(&all[3].body, ChangeBody::CaseDeleted { id: gone } if *gone == id));
    // Numbered one after another from the cursor the device held.
    let numbers: Vec<u64> = all.iter().map(|c| number(&c.seq.0)).collect();
    let from = number(&start.cursor.0);
    assert_eq!(numbers, (from + 1..=from + 4).collect::<Vec<_>>());
    assert_eq!(number(&rest.cursor.0), from + 4);

    // Nothing new: an empty page at the same cursor.
    let idle = page(&server, None, &since(&rest.cursor)).await;
    assert!(idle.changes.is_empty() && !idle.more);
    assert_eq!(idle.cursor, rest.cursor);
}

#[tokio::test]
async fn the_working_set_is_open_recent_or_mine_with_its_notes() {
    let server = Server::start_demo(0, &["--allow-chaos"]);
    let dana = sign_in(&server, "dana@example.com", "casedesk-demo").await;
    let sam = sign_in(&server, "sam@example.com", "casedesk-demo").await;
    let dana_token = dana["token"].as_str().unwrap().to_owned();
    let sam_token = sam["token"].as_str().unwrap().to_owned();
    let dana_id = dana["user"]["id"].as_str().unwrap().to_owned();

    let as_dana = |method: Method, path: &str| {
        client()
            .request(method, server.url(path))
            .bearer_auth(&dana_token)
    };
    let chaos = |offset_days: i64| {
        client()
            .put(server.url("/__chaos"))
            .json(&json!({"clock_offset_s": offset_days * DAY_S}))
            .send()
    };
    // A case created and put into `status` (with `assignee`) `days_ago` days ago.
    let make =
        |title: &'static str, status: &'static str, assignee: Option<String>, days_ago: i64| {
            let dana_token = dana_token.clone();
            let server = &server;
            async move {
                assert!(chaos(-days_ago).await.unwrap().status().is_success());
                let mut body = new_case(title);
                body["status"] = json!(status);
                if let Some(assignee) = assignee {
                    body["assignee"] = json!(assignee);
                }
                let response = client()
                    .post(server.url("/api/v1/cases"))
                    .bearer_auth(&dana_token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 201, "{title}");
                assert!(chaos(0).await.unwrap().status().is_success());
                id_of(&body)
            }
        };
    let open_old = make("open, old", "open", None, 200).await;
    let in_progress_old = make("in progress, old", "in_progress", None, 200).await;
    let closed_recently = make("closed 89 days ago", "closed", None, 89).await;
    let resolved_old = make("resolved 91 days ago", "resolved", None, 91).await;
    let closed_old_dana = make("closed long ago, Dana's", "closed", Some(dana_id), 300).await;
    let deleted = make("deleted", "open", None, 0).await;
    let response = as_dana(Method::DELETE, &format!("/api/v1/cases/{deleted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let note_id = Uuid::now_v7();
    let response = as_dana(Method::POST, &format!("/api/v1/cases/{open_old}/notes"))
        .json(&json!({"id": note_id, "body": "still open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let _ = resolved_old;

    // Read with a page of one, so every step of the cursor is used.
    let mut dana_set = Replica::default();
    let (changes, cursor, pages) = drain(&server, Some(&dana_token), None, 1).await;
    dana_set.apply(&changes);
    assert!(pages > 5, "one change a page");
    let everyone = BTreeSet::from([open_old, in_progress_old, closed_recently]);
    let mut dana_expects = everyone.clone();
    dana_expects.insert(closed_old_dana);
    assert_eq!(dana_set.case_ids(), dana_expects);
    assert_eq!(dana_set.notes[&open_old], BTreeSet::from([note_id]));
    // The working set ends on a log position the device continues from.
    assert!(casedesk_model::LogPosition::parse(&cursor.0).is_some());

    let mut sam_set = Replica::default();
    let (changes, _, _) = drain(&server, Some(&sam_token), None, 500).await;
    sam_set.apply(&changes);
    assert_eq!(sam_set.case_ids(), everyone);
}

#[tokio::test]
async fn a_change_made_while_the_working_set_is_read_is_in_it_or_after_its_cursor() {
    let server = Server::start(&[]);
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(id_of(&server.create(new_case(&format!("case {n}"))).await));
    }
    // A writer changes, adds and deletes cases while a reader takes small pages.
    let writer = {
        let base = server.base.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let http = client();
            for (n, id) in ids.iter().enumerate() {
                let url = format!("{base}/api/v1/cases/{id}");
                let response = if n % 3 == 0 {
                    http.delete(&url).send().await.unwrap()
                } else {
                    http.patch(&url)
                        .header("If-Match", "\"1\"")
                        .json(&json!({"title": format!("changed {n}")}))
                        .send()
                        .await
                        .unwrap()
                };
                assert!(response.status().is_success());
                let response = http
                    .post(format!("{base}/api/v1/cases"))
                    .json(&new_case(&format!("new {n}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 201);
            }
        })
    };
    let mut replica = Replica::default();
    let mut cursor: Option<Cursor> = None;
    let mut writer = Some(writer);
    loop {
        let query = match &cursor {
            Some(cursor) => format!("{}&limit=4", since(cursor)),
            None => "limit=4".to_owned(),
        };
        let got = page(&server, None, &query).await;
        replica.apply(&got.changes);
        cursor = Some(got.cursor);
        if !got.more {
            // Caught up: once the writer is done, one more pull takes what it did last.
            match writer.take() {
                Some(writer) => writer.await.unwrap(),
                None => break,
            }
        }
    }
    let live = server.list("per_page=200").await;
    let expected: BTreeMap<Uuid, Case> = live["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let case: Case = serde_json::from_value(case.clone()).unwrap();
            (case.id, case)
        })
        .collect();
    assert_eq!(expected.len(), 40 - 14 + 40);
    assert_eq!(replica.cases, expected);
}

#[tokio::test]
async fn pages_are_bounded_by_bytes_as_well_as_by_count() {
    let server = Server::start(&[]);
    let start = page(&server, None, "").await;
    // 120 cases of about 9.5 kB each: more than the 1 MiB a page carries.
    let description = "x".repeat(9_500);
    let mut ids = BTreeSet::new();
    for n in 0..120 {
        let mut body = new_case(&format!("long {n}"));
        body["description"] = json!(description);
        ids.insert(id_of(&server.create(body).await));
    }
    for (from, what) in [(None, "the working set"), (Some(&start.cursor), "the log")] {
        let query = match from {
            Some(cursor) => format!("{}&limit=1000", since(cursor)),
            None => "limit=1000".to_owned(),
        };
        let response = get_changes(&server, None, &query).await;
        assert_eq!(response.status().as_u16(), 200);
        let bytes = response.bytes().await.unwrap();
        let first: ChangePage = serde_json::from_slice(&bytes).unwrap();
        assert!(first.more, "{what}: more after a full page");
        assert!(
            !first.changes.is_empty() && first.changes.len() < 120,
            "{what}: cut by bytes at {} changes",
            first.changes.len()
        );
        assert!(
            bytes.len() <= (1 << 20) + 1_000,
            "{what}: {} bytes",
            bytes.len()
        );
        let (rest, _, _) = drain(&server, None, Some(&first.cursor), 1000).await;
        let mut replica = Replica::default();
        replica.apply(&first.changes);
        replica.apply(&rest);
        assert_eq!(
            replica.case_ids(),
            ids,
            "{what}: nothing lost between pages"
        );
    }
}

#[tokio::test]
async fn cursors_the_server_never_gave_out_are_400_and_those_it_cannot_continue_are_410() {
    let server = Server::start(&[]);
    let other = Server::start(&[]);
    server.create(new_case("One")).await;
    let here = page(&server, None, "").await.cursor;
    let elsewhere = page(&other, None, "").await.cursor;

    for query in [
        "since=garbage",
        "since=0000000000000001",
        "since=w1.x",
        "limit=0",
        "limit=1001",
        "limit=many",
    ] {
        let body = expect_error(get_changes(&server, None, query).await, 400, "bad_request").await;
        assert!(body["error"]["fields"].is_object(), "{query}: {body}");
    }
    // A well-formed cursor from another database: start again.
    expect_error(
        get_changes(&server, None, &since(&elsewhere)).await,
        410,
        "cursor_expired",
    )
    .await;
    // One this database never reached (a restored older copy, say).
    let position = casedesk_model::LogPosition::parse(&here.0).unwrap();
    let ahead = casedesk_model::LogPosition {
        number: position.number + 100,
        ..position
    };
    expect_error(
        get_changes(&server, None, &format!("since={ahead}")).await,
        410,
        "cursor_expired",
    )
    .await;
    // Its own cursor still reads.
    assert!(page(&server, None, &since(&here)).await.changes.is_empty());
}

#[tokio::test]
async fn changes_older_than_thirty_days_are_pruned_and_their_cursors_expire() {
    let server = Server::start(&["--allow-chaos"]);
    let chaos = |offset_days: i64| {
        let request = server
            .request(Method::PUT, "/__chaos")
            .json(&json!({"clock_offset_s": offset_days * DAY_S}));
        async move {
            assert!(request.send().await.unwrap().status().is_success());
        }
    };
    let start = page(&server, None, "").await.cursor;
    chaos(-31).await;
    server.create(new_case("31 days ago")).await;
    let after_old = page(&server, None, &since(&start)).await.cursor;
    chaos(-29).await;
    let kept = id_of(&server.create(new_case("29 days ago")).await);
    chaos(0).await;
    let today = id_of(&server.create(new_case("today")).await);

    // The pruning runs at start-up (and hourly): restart on the same database.
    let db = server.db.clone();
    let dir = server.stop_keep_db();
    let server = Server::start_raw(
        &db,
        &["--no-auth", "--no-seed-demo", "--rate-limit-per-sec", "0"],
        &[],
    );
    // Wait for the start-up pruning to have run.
    let mut expired = None;
    for _ in 0..500 {
        let response = get_changes(&server, None, &since(&start)).await;
        if response.status().as_u16() == 410 {
            expired = Some(response);
            break;
        }
        assert_eq!(response.status().as_u16(), 200);
        tokio::task::yield_now().await;
    }
    let expired = expired.expect("the old cursor expires once pruned");
    expect_error(expired, 410, "cursor_expired").await;
    // A cursor past the pruned change still reads everything younger than 30 days.
    let (changes, _, _) = drain(&server, None, Some(&after_old), 500).await;
    let mut replica = Replica::default();
    replica.apply(&changes);
    assert_eq!(replica.case_ids(), BTreeSet::from([kept, today]));
    drop(dir);
}
