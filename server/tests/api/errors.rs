//! Every error code of the contract, each with the JSON error body and the request id.

use crate::support::{client, expect_error, new_case, Server, OTHER_SERVICE_TOKEN, SERVICE_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn malformed_json_is_400() {
    let server = Server::start(&[]);
    for body in ["{\"id\":", "", "[1,2]", "\"text\"", "{'id': 1}"] {
        let response = server
            .request(Method::POST, "/api/v1/cases")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(response, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_each() {
    let server = Server::start(&[]);
    let response = server
        .get("/api/v1/cases?status=pending&per_page=500&page=0&sort=title&priority=urgent")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, "bad_request").await;
    let fields = body["error"]["fields"].as_object().unwrap();
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["page", "per_page", "priority", "sort", "status"]);
}

#[tokio::test]
async fn search_text_over_200_characters_is_422_naming_q() {
    let server = Server::start(&[]);
    server.create(new_case(&"a".repeat(200))).await;
    let found = server.list(&format!("q={}", "a".repeat(200))).await;
    assert_eq!(found["total"], 1, "200 characters are searched");
    let response = server
        .get(&format!("/api/v1/cases?q={}", "a".repeat(201)))
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 422, "validation_failed").await;
    let fields = body["error"]["fields"].as_object().unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["q"]);
}

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_is_400() {
    let server = Server::start(&[]);
    for path in ["/api/v1/cases/not-a-uuid", "/api/v1/cases/123/notes"] {
        let response = server.get(path).send().await.unwrap();
        expect_error(response, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn missing_token_is_401_when_auth_is_on() {
    let server = Server::start(&[
        "--auth-token",
        SERVICE_TOKEN,
        "--auth-token",
        OTHER_SERVICE_TOKEN,
    ]);
    let response = server.get("/api/v1/cases").send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_error(response, 401, "unauthorized").await;
    let response = server
        .get("/api/v1/cases")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    expect_error(response, 401, "unauthorized").await;
    // Unknown paths are 401 too: nothing is revealed without a token.
    let response = server.get("/api/v1/nothing").send().await.unwrap();
    expect_error(response, 401, "unauthorized").await;
    for token in [SERVICE_TOKEN, OTHER_SERVICE_TOKEN] {
        let response = server
            .get("/api/v1/cases")
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Health needs no token.
    let response = server.get("/api/v1/health").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_resources_and_routes_are_404() {
    let server = Server::start(&[]);
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/v1/cases/{unknown}"),
        format!("/api/v1/cases/{unknown}/notes"),
        "/api/v1/nothing".to_owned(),
        "/api/v2/cases".to_owned(),
        "/api".to_owned(),
        "/elsewhere".to_owned(),
    ] {
        let response = server.get(&path).send().await.unwrap();
        expect_error(response, 404, "not_found").await;
    }
    let response = server
        .patch(&unknown.to_string(), 1, json!({"title": "x"}))
        .await;
    expect_error(response, 404, "not_found").await;
}

#[tokio::test]
async fn notes_on_a_deleted_or_unknown_case_are_404() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Soon gone")).await;
    let id = case["id"].as_str().unwrap();
    server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    for case_id in [id.to_owned(), Uuid::now_v7().to_string()] {
        let path = format!("/api/v1/cases/{case_id}/notes");
        let response = server
            .post_json(&path, &json!({"id": Uuid::now_v7(), "body": "hello"}))
            .send()
            .await
            .unwrap();
        expect_error(response, 404, "not_found").await;
        let response = server.get(&path).send().await.unwrap();
        expect_error(response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_405() {
    let server = Server::start(&[]);
    for (method, path) in [
        (Method::PUT, "/api/v1/cases".to_owned()),
        (Method::DELETE, "/api/v1/cases".to_owned()),
        (Method::POST, format!("/api/v1/cases/{}", Uuid::now_v7())),
        (Method::POST, "/api/v1/dashboard/metrics".to_owned()),
    ] {
        let response = server.request(method, &path).send().await.unwrap();
        assert!(response.headers().contains_key("allow"));
        expect_error(response, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn creating_an_existing_id_is_409_already_exists() {
    let server = Server::start(&[]);
    let body = new_case("Original");
    server.create(body.clone()).await;
    let response = server
        .post_json("/api/v1/cases", &body)
        .send()
        .await
        .unwrap();
    expect_error(response, 409, "already_exists").await;

    // A deleted case's id stays taken.
    let id = body["id"].as_str().unwrap();
    server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    let response = server
        .post_json("/api/v1/cases", &body)
        .send()
        .await
        .unwrap();
    expect_error(response, 409, "already_exists").await;

    // Same for a note id.
    let case = server.create(new_case("Host")).await;
    let path = format!("/api/v1/cases/{}/notes", case["id"].as_str().unwrap());
    let note = json!({"id": Uuid::now_v7(), "body": "once"});
    let response = server.post_json(&path, &note).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = server.post_json(&path, &note).send().await.unwrap();
    expect_error(response, 409, "already_exists").await;
}

#[tokio::test]
async fn a_stale_if_match_is_412_with_the_current_case() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Contended")).await;
    let id = case["id"].as_str().unwrap();
    let first = server.patch(id, 1, json!({"priority": "critical"})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let response = server.patch(id, 1, json!({"title": "Mine"})).await;
    let body = expect_error(response, 412, "version_conflict").await;
    assert_eq!(body["current"]["version"], 2);
    assert_eq!(body["current"]["priority"], "critical");
    assert_eq!(body["current"]["title"], "Contended");
    // `*` matches any version; a weak tag is read as its version.
    let response = server
        .request(Method::PATCH, &format!("/api/v1/cases/{id}"))
        .header("If-Match", "*")
        .json(&json!({"title": "Any"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .request(Method::PATCH, &format!("/api/v1/cases/{id}"))
        .header("If-Match", "W/\"3\"")
        .json(&json!({"title": "Weak"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_if_match_is_428_and_a_garbled_one_400() {
    let server = Server::start(&[]);
    let case = server.create(new_case("Unguarded")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    let response = server
        .request(Method::PATCH, &path)
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(response, 428, "precondition_required").await;
    let response = server
        .request(Method::PATCH, &path)
        .header("If-Match", "version one")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "bad_request").await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let server = Server::start(&[]);
    let big = json!({"id": Uuid::now_v7(), "title": "big", "description": "x".repeat(70 * 1024)});
    // With a Content-Length…
    let response = server
        .post_json("/api/v1/cases", &big)
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "payload_too_large").await;
    // …and chunked, without one.
    let bytes = serde_json::to_vec(&big).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = server
        .request(Method::POST, "/api/v1/cases")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "payload_too_large").await;
    assert_eq!(server.list("").await["total"], 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let server = Server::start(&[]);
    let body = serde_json::to_string(&new_case("typed")).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = server
            .request(Method::POST, "/api/v1/cases")
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        expect_error(response, 415, "unsupported_media_type").await;
    }
}

#[tokio::test]
async fn invalid_fields_are_422_naming_each() {
    let server = Server::start(&[]);
    let id = Uuid::now_v7();
    let response = server
        .post_json(
            "/api/v1/cases",
            &json!({"id": id, "title": "   ", "description": "d".repeat(10_001),
                    "tags": vec!["t"; 21]}),
        )
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 422, "validation_failed").await;
    let fields = &body["error"]["fields"];
    for field in ["title", "description", "tags"] {
        assert!(fields[field].is_string(), "{field}: {body}");
    }

    // Wrong types and unknown enum values name the field.
    for (bad, field) in [
        (
            json!({"id": id, "title": "x", "status": "pending"}),
            "status",
        ),
        (json!({"id": id, "title": "x", "priority": 3}), "priority"),
        (json!({"id": id, "title": 42}), "title"),
        (json!({"id": "not-a-uuid", "title": "x"}), "id"),
        (json!({"title": "x"}), "id"),
        (json!({"id": id, "title": "x", "tags": ["a", 1]}), "tags"),
    ] {
        let response = server
            .post_json("/api/v1/cases", &bad)
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 422, "validation_failed").await;
        assert!(
            body["error"]["fields"][field].is_string(),
            "{field}: {body}"
        );
    }

    let case = server.create(new_case("Valid")).await;
    let id = case["id"].as_str().unwrap();
    let response = server.patch(id, 1, json!({"title": ""})).await;
    let body = expect_error(response, 422, "validation_failed").await;
    assert!(body["error"]["fields"]["title"].is_string());
    let response = server
        .post_json(
            &format!("/api/v1/cases/{id}/notes"),
            &json!({"id": Uuid::now_v7(), "body": " "}),
        )
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 422, "validation_failed").await;
    assert!(body["error"]["fields"]["body"].is_string());
}

#[tokio::test]
async fn rate_limiting_is_429_with_retry_after() {
    let server = Server::start(&["--rate-limit-per-sec", "0.5", "--rate-limit-burst", "3"]);
    for _ in 0..3 {
        let response = server.get("/api/v1/cases").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = server.get("/api/v1/cases").send().await.unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    expect_error(response, 429, "rate_limited").await;
    // Health spends the same bucket (limits.rs: `health_is_rate_limited_like_everything_else`).
    let response = server.get("/api/v1/health").send().await.unwrap();
    expect_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_made_otherwise() {
    let server = Server::start(&[]);
    let response = server
        .get("/api/v1/cases/not-a-uuid")
        .header("X-Request-ID", "trace-123.abc_DEF")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123.abc_DEF");
    let body = expect_error(response, 400, "bad_request").await;
    assert_eq!(body["error"]["request_id"], "trace-123.abc_DEF");

    for bad in ["has space", &"x".repeat(129), "quote\"d"] {
        let response = client()
            .get(server.url("/api/v1/health"))
            .header("X-Request-ID", bad)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(Uuid::parse_str(id).is_ok(), "{bad:?} → {id}");
    }
    let response = server.get("/api/v1/cases").send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok());
}
