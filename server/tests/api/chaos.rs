//! Fault injection: `/__chaos`, failures, latency, and hostile answers.

use crate::support::{client, expect_error, new_case, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// PUTs `body` to /__chaos and returns the answer, whatever it is.
async fn put_chaos(server: &Server, body: &Value) -> reqwest::Response {
    client()
        .put(server.url("/__chaos"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn set_chaos(server: &Server, body: Value) -> Value {
    let response = put_chaos(server, &body).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn chaos_control_is_404_unless_allowed() {
    let server = Server::start(&[]);
    let response = client().get(server.url("/__chaos")).send().await.unwrap();
    expect_error(response, 404, "not_found").await;
    let response = put_chaos(&server, &json!({"fail_rate": 1})).await;
    expect_error(response, 404, "not_found").await;
}

#[tokio::test]
async fn chaos_settings_are_shown_merged_checked_and_reset() {
    let server = Server::start(&["--allow-chaos", "--chaos-latency-ms", "0..0"]);
    let shown: Value = client()
        .get(server.url("/__chaos"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown,
        json!({
            "fail_rate": 0.0, "latency_ms": [0, 0], "latency_on": "all", "drop_rate": 0.0, "corrupt": null,
            "corrupt_rate": 0.0, "status_429_rate": 0.0, "retry_after_s": 1,
            "corrupt_on": "reads", "drip_ms": 1000, "clock_offset_s": 0, "corrupt_socket": null,
            "hold_commit": false
        })
    );
    let after = set_chaos(&server, json!({"fail_rate": 0.25, "latency_ms": [1, 3]})).await;
    assert_eq!(after["fail_rate"], 0.25);
    let after = set_chaos(&server, json!({"latency_on": "writes"})).await;
    assert_eq!(after["latency_on"], "writes");
    assert_eq!(after["latency_ms"], json!([1, 3]), "absent fields stay");
    let after = set_chaos(&server, json!({"corrupt": "empty_200"})).await;
    assert_eq!(after["fail_rate"], 0.25, "absent fields stay");
    assert_eq!(after["corrupt"], "empty_200");
    assert_eq!(after["corrupt_rate"], 1.0);

    for bad in [
        json!({"fail_rate": 1.5}),
        json!({"latency_ms": [10, 5]}),
        json!({"drop_rate": -1}),
        json!({"drip_ms": 0}),
        json!({"drip_ms": 10_001}),
        json!({"clock_offset_s": 366 * 86_400 + 1}),
        json!({"clock_offset_s": -366 * 86_400 - 1}),
    ] {
        expect_error(put_chaos(&server, &bad).await, 422, "validation_failed").await;
    }
    for bad in [
        json!({"corrupt": "gremlins"}),
        json!({"latency_ms": "fast"}),
        json!({"corrupt_on": "sometimes"}),
        json!({"corrupt_socket": "gremlins"}),
        json!({"clock_offset_s": 1.5}),
    ] {
        expect_error(put_chaos(&server, &bad).await, 422, "validation_failed").await;
    }

    let reset: Value = client()
        .delete(server.url("/__chaos"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["fail_rate"], 0.0);
    assert_eq!(reset["corrupt"], Value::Null);

    let after = set_chaos(
        &server,
        json!({"corrupt_on": "all", "drip_ms": 5, "clock_offset_s": -3600, "corrupt_socket": "duplicated"}),
    )
    .await;
    assert_eq!(
        (
            &after["corrupt_on"],
            &after["drip_ms"],
            &after["clock_offset_s"],
            &after["corrupt_socket"]
        ),
        (
            &json!("all"),
            &json!(5),
            &json!(-3600),
            &json!("duplicated")
        )
    );
    let after = set_chaos(&server, json!({"corrupt_socket": null})).await;
    assert_eq!(after["corrupt_socket"], Value::Null);
    assert_eq!(after["corrupt_on"], "all", "absent fields stay");
    let reset: Value = client()
        .delete(server.url("/__chaos"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&reset["corrupt_on"], &reset["clock_offset_s"]),
        (&json!("reads"), &json!(0))
    );
}

#[tokio::test]
async fn a_fail_rate_of_one_is_503_before_touching_data() {
    let server = Server::start(&["--allow-chaos"]);
    set_chaos(&server, json!({"fail_rate": 1})).await;
    let response = server
        .post_json("/api/v1/cases", &new_case("Never stored"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 503, "unavailable").await;
    // Only /api/v1 is affected: the control endpoint and the root health still answer.
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    set_chaos(&server, json!({"fail_rate": 0})).await;
    assert_eq!(server.list("").await["total"], 0);
}

#[tokio::test]
async fn a_429_rate_of_one_is_rate_limited_with_retry_after_before_touching_data() {
    let server = Server::start(&["--allow-chaos"]);
    let after = set_chaos(&server, json!({"status_429_rate": 1, "retry_after_s": 2})).await;
    assert_eq!(
        (
            after["status_429_rate"].clone(),
            after["retry_after_s"].clone()
        ),
        (json!(1.0), json!(2))
    );
    let response = server
        .post_json("/api/v1/cases", &new_case("Never stored"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "2");
    expect_error(response, 429, "rate_limited").await;
    let response = server.get("/api/v1/cases").send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "2");
    expect_error(response, 429, "rate_limited").await;
    // Only /api/v1: the root health still answers.
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    for bad in [
        json!({"status_429_rate": 2}),
        json!({"retry_after_s": 86_400}),
        json!({"retry_after_s": -1}),
    ] {
        expect_error(put_chaos(&server, &bad).await, 422, "validation_failed").await;
    }
    set_chaos(&server, json!({"status_429_rate": 0})).await;
    assert_eq!(
        server.list("").await["total"],
        0,
        "the refused create left nothing"
    );
}

#[tokio::test]
async fn start_up_flags_inject_failures_and_latency() {
    let server = Server::start(&["--chaos-fail-rate", "1"]);
    let response = server.get("/api/v1/cases").send().await.unwrap();
    expect_error(response, 503, "unavailable").await;

    let server = Server::start(&["--chaos-latency-ms", "150..200"]);
    let started = Instant::now();
    let response = server.get("/api/v1/cases").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn hostile_answers_replace_successful_gets() {
    let server = Server::start(&["--allow-chaos"]);
    let case = server.create(new_case("Target")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());

    set_chaos(&server, json!({"corrupt": "invalid_json"})).await;
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).is_err());

    set_chaos(&server, json!({"corrupt": "wrong_types"})).await;
    let response = server.get(&path).send().await.unwrap();
    let value: Value = response.json().await.unwrap();
    assert!(serde_json::from_value::<casedesk_model::Case>(value.clone()).is_err());
    assert!(value["version"].is_string(), "{value}");

    set_chaos(&server, json!({"corrupt": "html_error_page"})).await;
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("<html>"));

    set_chaos(&server, json!({"corrupt": "huge_body"})).await;
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().len() > 32 * 1024 * 1024);

    set_chaos(&server, json!({"corrupt": "truncated_body"})).await;
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.is_err(), "the body must break off");

    set_chaos(&server, json!({"corrupt": "wrong_content_type"})).await;
    let response = server.get(&path).send().await.unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        response.json::<Value>().await.is_ok(),
        "the body is still right"
    );

    set_chaos(&server, json!({"corrupt": "empty_200"})).await;
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().is_empty());

    // Writes and errors are untouched; a rate of 0 and null switch it off.
    let response = server
        .post_json("/api/v1/cases", &new_case("Still writable"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = server.get("/api/v1/cases/not-a-uuid").send().await.unwrap();
    expect_error(response, 400, "bad_request").await;
    set_chaos(&server, json!({"corrupt_rate": 0})).await;
    assert_eq!(server.list("").await["total"], 2);
    set_chaos(&server, json!({"corrupt": null})).await;
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["title"], "Target");
}

const DAY_S: i64 = 86_400;

/// POSTs `body` to `path` with `key`.
async fn post_with_key(server: &Server, path: &str, body: &Value, key: &str) -> reqwest::Response {
    server
        .post_json(path, body)
        .header("Idempotency-Key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn idempotency_keys_replay_for_8_days_then_the_id_is_already_taken() {
    let server = Server::start(&["--allow-chaos"]);
    let case = new_case("Queued offline");
    let case_key = uuid::Uuid::new_v4().to_string();
    let first = post_with_key(&server, "/api/v1/cases", &case, &case_key).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body: Value = first.json().await.unwrap();
    let notes = format!("/api/v1/cases/{}/notes", case["id"].as_str().unwrap());
    let note = json!({"id": uuid::Uuid::now_v7(), "body": "sent twice"});
    let note_key = uuid::Uuid::new_v4().to_string();
    let first = post_with_key(&server, &notes, &note, &note_key).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_note: Value = first.json().await.unwrap();

    // Seven days on, a retry is still a replay of the first answer.
    set_chaos(&server, json!({"clock_offset_s": 7 * DAY_S})).await;
    let again = post_with_key(&server, "/api/v1/cases", &case, &case_key).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    let again = post_with_key(&server, &notes, &note, &note_key).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first_note);

    // Nine days on, the keys are gone: the same request is a new create of an id that
    // exists, 409 `already_exists` (not `idempotency_conflict`), and nothing changes.
    set_chaos(&server, json!({"clock_offset_s": 9 * DAY_S})).await;
    let late = post_with_key(&server, "/api/v1/cases", &case, &case_key).await;
    assert!(late.headers().get("idempotent-replayed").is_none());
    expect_error(late, 409, "already_exists").await;
    let late = post_with_key(&server, &notes, &note, &note_key).await;
    expect_error(late, 409, "already_exists").await;
    assert_eq!(server.list("").await["total"], 1);
    let listed: Value = server
        .get(&notes)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A key reused with another body is the other 409, whatever the clock.
    let other = post_with_key(
        &server,
        "/api/v1/cases",
        &new_case("Other"),
        &uuid::Uuid::new_v4().to_string(),
    )
    .await;
    assert_eq!(other.status(), StatusCode::CREATED);
    let reused = {
        let key = uuid::Uuid::new_v4().to_string();
        post_with_key(&server, "/api/v1/cases", &new_case("One"), &key).await;
        post_with_key(&server, "/api/v1/cases", &new_case("Two"), &key).await
    };
    expect_error(reused, 409, "idempotency_conflict").await;
}

#[tokio::test]
async fn the_clock_offset_moves_the_timestamps_the_server_writes() {
    let server = Server::start(&["--allow-chaos"]);
    let now = server.create(new_case("Today")).await;
    set_chaos(&server, json!({"clock_offset_s": -30 * DAY_S})).await;
    let past = server.create(new_case("A month ago")).await;
    let created = |case: &Value| {
        casedesk_model::Timestamp::parse(case["created_at"].as_str().unwrap())
            .unwrap()
            .unix_millis()
    };
    // Rounded: a few milliseconds pass between the two creates.
    let days = ((created(&now) - created(&past)) as f64 / (DAY_S * 1000) as f64).round();
    assert_eq!(days, 30.0, "{now} vs {past}");
}
