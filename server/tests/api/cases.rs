//! The success path of every case and note endpoint, and the list's filters, search,
//! order and paging.

use crate::support::{new_case, Server};
use casedesk_model::{Case, CaseList, Note};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn health_answers_under_the_api_and_at_the_root() {
    let server = Server::start(&[]);
    for path in ["/api/v1/health", "/health"] {
        let response = server.get(path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("etag"));
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap(),
            json!({"status": "ok"})
        );
    }
}

#[tokio::test]
async fn a_case_is_created_read_listed_changed_and_deleted() {
    let server = Server::start(&[]);
    let id = Uuid::now_v7();
    let response = server
        .post_json(
            "/api/v1/cases",
            &json!({"id": id, "title": "  Printer on floor 3 jams  ", "description": "Paper tray",
                    "priority": "high", "assignee": "dana", "tags": ["hardware"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let created: Case = response.json().await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.title, "Printer on floor 3 jams");
    assert_eq!(created.status.as_str(), "open");
    assert_eq!(created.priority.as_str(), "high");
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, created.updated_at);

    let response = server
        .get(&format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.json::<Case>().await.unwrap(), created);

    let list: CaseList = serde_json::from_value(server.list("").await).unwrap();
    assert_eq!((list.total, list.page, list.per_page), (1, 1, 50));
    assert_eq!(list.items, vec![created.clone()]);

    let response = server
        .patch(
            &id.to_string(),
            1,
            json!({"status": "in_progress", "assignee": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed: Case = response.json().await.unwrap();
    assert_eq!(changed.version, 2);
    assert_eq!(changed.status.as_str(), "in_progress");
    assert_eq!(changed.assignee, None);
    assert_eq!(changed.title, created.title, "absent fields stay");
    assert!(changed.updated_at >= created.updated_at);

    // A patch that changes nothing is accepted without a new version.
    let response = server
        .patch(&id.to_string(), 2, json!({"status": "in_progress"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Case>().await.unwrap().version, 2);

    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    let response = server
        .get(&format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.list("").await["total"], 0);
}

#[tokio::test]
async fn deleting_is_idempotent_and_unknown_ids_are_204_too() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Doomed")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    for _ in 0..2 {
        let response = server.request(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let never = format!("/api/v1/cases/{}", Uuid::now_v7());
    let response = server.request(Method::DELETE, &never).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn delete_honours_an_optional_if_match() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Guarded")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    let response = server
        .request(Method::DELETE, &path)
        .header("If-Match", "\"7\"")
        .send()
        .await
        .unwrap();
    let body = crate::support::expect_error(response, 412, "version_conflict").await;
    assert_eq!(body["current"]["version"], 1);
    let response = server
        .request(Method::DELETE, &path)
        .header("If-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn notes_are_added_and_listed_oldest_first() {
    let server = Server::start(&[]);
    let case = server.create(new_case("With notes")).await;
    let case_id = case["id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{case_id}/notes");
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Vec<Note>>().await.unwrap(), vec![]);

    let mut ids = Vec::new();
    for (n, author) in [(1, Some("dana")), (2, None), (3, Some("  "))] {
        let id = Uuid::now_v7();
        ids.push(id);
        let mut body = json!({"id": id, "body": format!("note {n}")});
        if let Some(author) = author {
            body["author"] = json!(author);
        }
        let response = server.post_json(&path, &body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let note: Note = response.json().await.unwrap();
        assert_eq!(note.id, id);
        assert_eq!(note.case_id.to_string(), case_id);
        assert_eq!(note.body, format!("note {n}"));
        // The server names the author from the session (here `--no-auth`: Guest), never
        // from the body.
        assert_eq!(note.author, "Guest");
    }
    let notes: Vec<Note> = server
        .get(&path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes.iter().map(|n| n.id).collect::<Vec<_>>(), ids);
    assert!(notes.windows(2).all(|w| w[0].created_at <= w[1].created_at));

    // A note does not change the case's version.
    let case: Case = server
        .get(&format!("/api/v1/cases/{case_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(case.version, 1);
}

#[tokio::test]
async fn the_list_filters_searches_sorts_and_pages_like_the_model() {
    let server = Server::start(&[]);
    let specs = [
        ("Printer jams", "Paper everywhere", "open", "high"),
        ("VPN down", "100% packet loss", "in_progress", "critical"),
        ("Badge reader", "under_score and PRINTER", "open", "low"),
        ("printer toner", "", "resolved", "medium"),
        ("Broken chair", "gas lift", "closed", "high"),
        ("Laptop will not boot", "stuck on logo", "open", "high"),
        ("Ünïcode PRINTER", "Ä and \"quoted\" text", "open", "low"),
    ];
    let mut all = Vec::new();
    for (title, description, status, priority) in specs {
        let case = server
            .create(
                json!({"id": Uuid::new_v4(), "title": title, "description": description,
                           "status": status, "priority": priority}),
            )
            .await;
        all.push(serde_json::from_value::<Case>(case).unwrap());
    }
    let cases = |value: serde_json::Value| serde_json::from_value::<CaseList>(value).unwrap();

    for query in [
        "q=PRINTER",
        "q=100%25",
        "q=_",
        "status=open",
        "priority=high&sort=created_at",
        "sort=-priority",
        "sort=priority&status=open",
        "sort=updated_at",
        "sort=-created_at&per_page=2&page=2",
        "q=%20%20&per_page=4",
        // Search semantics on both engines' indexes: ASCII case folding only, wildcards
        // and quotes literal, text under 3 characters (too short for a trigram) still works.
        "q=%C3%A4",
        "q=%C3%BCn%C3%AF",
        "q=%C3%9Cn%C3%AF",
        "q=pa",
        "q=er_s",
        "q=%22quoted",
        "q=PRINTER&status=open",
        "q=ter&sort=priority&per_page=2&page=2",
    ] {
        let pairs: Vec<(String, String)> = form_pairs(query);
        let model = casedesk_model::CaseListQuery::from_pairs(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .unwrap();
        let mut expected: Vec<Case> = all.iter().filter(|c| model.matches(c)).cloned().collect();
        expected.sort_by(|a, b| model.sort.compare(a, b));
        let total = expected.len() as u64;
        let page: Vec<Case> = expected
            .into_iter()
            .skip(model.offset() as usize)
            .take(model.per_page as usize)
            .collect();
        let got = cases(server.list(query).await);
        assert_eq!(got.total, total, "{query}");
        assert_eq!(got.items, page, "{query}");
        assert_eq!(
            (got.page, got.per_page),
            (model.page, model.per_page),
            "{query}"
        );
    }
    // Searching for `%` matches only the literal character.
    assert_eq!(cases(server.list("q=%25").await).total, 1);
    // A page past the end is empty but still knows the total.
    let past = cases(server.list("page=9").await);
    assert_eq!((past.items.len(), past.total), (0, 7));
    // A changed title is found by its new words only.
    let chair = all.iter().find(|c| c.title == "Broken chair").unwrap();
    let response = server
        .patch(&chair.id.to_string(), 1, json!({"title": "Wobbly stool"}))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(cases(server.list("q=wobbly").await).total, 1);
    assert_eq!(cases(server.list("q=chair").await).total, 0);
    // A deleted case is found no more.
    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{}", chair.id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(cases(server.list("q=wobbly").await).total, 0);
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn head_requests_get_headers_only() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Headless")).await;
    let response = server
        .request(
            Method::HEAD,
            &format!("/api/v1/cases/{}", case["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
}

#[tokio::test]
async fn an_in_memory_database_works() {
    let server = Server::start_raw(
        std::path::Path::new(":memory:"),
        &["--no-seed-demo", "--no-auth"],
        &[],
    );
    server.create(new_case("Ephemeral")).await;
    assert_eq!(server.list("").await["total"], 1);
}
