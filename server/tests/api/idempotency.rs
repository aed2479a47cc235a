//! Idempotency keys: replays, misuse, a retry after a dropped answer, and concurrency.

use crate::support::{client, expect_error, new_case, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn a_replay_returns_the_first_response_and_changes_nothing() {
    let server = Server::start(&[]);
    let key = Uuid::new_v4().to_string();
    let body = new_case("Once only");
    let send = || {
        server
            .post_json("/api/v1/cases", &body)
            .header("Idempotency-Key", &key)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["etag"], "\"1\"");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(server.list("").await["total"], 1);

    // PATCH: the replay answers version 2 again, and no version 3 appears.
    let id = body["id"].as_str().unwrap().to_owned();
    let key = Uuid::new_v4().to_string();
    let patch = || {
        server
            .request(Method::PATCH, &format!("/api/v1/cases/{id}"))
            .header("If-Match", "\"1\"")
            .header("Idempotency-Key", &key)
            .json(&json!({"status": "resolved"}))
            .send()
    };
    let first: Value = patch().await.unwrap().json().await.unwrap();
    let again = patch().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let now: Value = server
        .get(&format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["version"], 2);

    // Notes and DELETE replay the same way.
    let key = Uuid::new_v4().to_string();
    let note = json!({"id": Uuid::now_v7(), "body": "once"});
    for _ in 0..2 {
        let response = server
            .post_json(&format!("/api/v1/cases/{id}/notes"), &note)
            .header("Idempotency-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let notes: Vec<Value> = server
        .get(&format!("/api/v1/cases/{id}/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes.len(), 1);
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let response = server
            .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
            .header("Idempotency-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn reusing_a_key_for_another_request_is_409_and_a_bad_key_400() {
    let server = Server::start(&[]);
    let key = Uuid::new_v4().to_string();
    let created = server
        .post_json("/api/v1/cases", &new_case("First"))
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another body, another path, another method.
    let response = server
        .post_json("/api/v1/cases", &new_case("Second"))
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    expect_error(response, 409, "idempotency_conflict").await;
    let response = server
        .post_json(
            &format!("/api/v1/cases/{id}/notes"),
            &json!({"id": Uuid::now_v7(), "body": "x"}),
        )
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    expect_error(response, 409, "idempotency_conflict").await;
    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    expect_error(response, 409, "idempotency_conflict").await;
    assert_eq!(server.list("").await["total"], 1);

    let response = server
        .post_json("/api/v1/cases", &new_case("Badly keyed"))
        .header("Idempotency-Key", "not-a-uuid")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "bad_request").await;
}

#[tokio::test]
async fn a_failed_request_does_not_burn_its_key() {
    let server = Server::start(&[]);
    let key = Uuid::new_v4().to_string();
    let id = Uuid::now_v7();
    let response = server
        .post_json("/api/v1/cases", &json!({"id": id, "title": ""}))
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    expect_error(response, 422, "validation_failed").await;
    // The same key with the fixed body is a fresh request.
    let response = server
        .post_json("/api/v1/cases", &json!({"id": id, "title": "Fixed"}))
        .header("Idempotency-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_retry_after_a_dropped_answer_applies_exactly_once() {
    let server = Server::start(&["--allow-chaos"]);
    let chaos = |body: Value| client().put(server.url("/__chaos")).json(&body).send();
    assert_eq!(
        chaos(json!({"drop_rate": 1})).await.unwrap().status(),
        StatusCode::OK
    );

    let key = Uuid::new_v4().to_string();
    let body = new_case("Lost answer");
    // A client without pooled connections, so nothing is retried behind our back.
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let lost = fresh
        .post(server.url("/api/v1/cases"))
        .header("Idempotency-Key", &key)
        .json(&body)
        .send()
        .await;
    let error = lost.expect_err("the answer must be lost, not a status");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");

    assert_eq!(
        chaos(json!({"drop_rate": 0})).await.unwrap().status(),
        StatusCode::OK
    );
    let retry = fresh
        .post(server.url("/api/v1/cases"))
        .header("Idempotency-Key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let case: Value = retry.json().await.unwrap();
    assert_eq!(case["id"], body["id"]);
    let list = server.list("").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["version"], 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_apply_once() {
    let server = Server::start(&[]);
    let key = Uuid::new_v4().to_string();
    let body = new_case("Raced");
    let requests = (0..8).map(|_| {
        server
            .post_json("/api/v1/cases", &body)
            .header("Idempotency-Key", &key)
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut bodies = Vec::new();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(server.list("").await["total"], 1);
}

#[tokio::test]
async fn concurrent_patches_of_one_version_have_one_winner() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Contested")).await;
    let id = case["id"].as_str().unwrap();
    let patches = (0..10).map(|n| server.patch(id, 1, json!({"title": format!("Edit {n}")})));
    let responses = futures_util::future::join_all(patches).await;
    let mut won = 0;
    let mut lost = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => won += 1,
            412 => {
                let body = expect_error(response, 412, "version_conflict").await;
                assert_eq!(body["current"]["version"], 2);
                lost += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((won, lost), (1, 9));
}
