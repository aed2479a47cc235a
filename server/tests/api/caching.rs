//! Strong ETags and 304 on `If-None-Match`, for every kind of GET.

use crate::support::{new_case, Server};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// GETs `path`, then again with its ETag (304, no body), and returns the tag.
async fn etag_then_304(server: &Server, path: &str) -> String {
    let response = server.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let response = server
        .get(path)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path}");
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());
    etag
}

#[tokio::test]
async fn every_get_has_an_etag_and_answers_304_until_something_changes() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Cached")).await;
    let id = case["id"].as_str().unwrap();
    let paths = [
        format!("/api/v1/cases/{id}"),
        "/api/v1/cases?sort=priority".to_owned(),
        format!("/api/v1/cases/{id}/notes"),
        "/api/v1/dashboard/metrics".to_owned(),
    ];
    let mut before = Vec::new();
    for path in &paths {
        before.push(etag_then_304(&server, path).await);
    }
    assert_eq!(before[0], "\"1\"", "a case's tag is its version");

    // A change to the case changes the case, the list and the metrics tags.
    let response = server.patch(id, 1, json!({"status": "resolved"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    // And a note changes the notes' tag.
    let response = server
        .post_json(
            &format!("/api/v1/cases/{id}/notes"),
            &json!({"id": Uuid::now_v7(), "body": "done"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    for (path, old) in paths.iter().zip(&before) {
        let response = server
            .get(path)
            .header("If-None-Match", old)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} changed");
        assert_ne!(response.headers()["etag"], old.as_str());
    }
    assert_eq!(etag_then_304(&server, &paths[0]).await, "\"2\"");
}

#[tokio::test]
async fn if_none_match_accepts_lists_weak_tags_and_star() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Tags")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    for header in ["\"7\", \"1\"", "W/\"1\"", "*"] {
        let response = server
            .get(&path)
            .header("If-None-Match", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{header}");
    }
    let response = server
        .get(&path)
        .header("If-None-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
