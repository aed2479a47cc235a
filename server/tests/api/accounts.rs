//! People managed through the API and one's own account (docs/api.md §4): adding people
//! with setup codes, roles, deactivation, the last admin, password changes, signing out
//! everywhere, and the 90-day end of every session.

use crate::support::{client, expect_error, new_case, sign_in, Server};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const DEMO_PASSWORD: &str = "casedesk-demo";

async fn token_of(server: &Server, email: &str) -> String {
    sign_in(server, email, DEMO_PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn send(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut request = server.request(method, path).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn people(server: &Server, token: &str) -> Vec<Value> {
    let response = send(server, Method::GET, "/api/v1/users", token, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn id_of(server: &Server, token: &str, email: &str) -> String {
    people(server, token)
        .await
        .iter()
        .find(|p| p["email"] == email)
        .and_then(|p| p["id"].as_str())
        .unwrap()
        .to_owned()
}

async fn patch_person(server: &Server, token: &str, id: &str, body: Value) -> Response {
    send(
        server,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        token,
        Some(body),
    )
    .await
}

async fn add_person(server: &Server, token: &str, email: &str, role: &str) -> Value {
    let response = send(
        server,
        Method::POST,
        "/api/v1/users",
        token,
        Some(json!({"email": email, "name": "Ada Lovelace", "role": role})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn use_setup_code(server: &Server, email: &str, code: &str, password: &str) -> Response {
    server
        .post_json(
            "/api/v1/session/setup",
            &json!({"email": email, "setup_code": code, "password": password}),
        )
        .send()
        .await
        .unwrap()
}

async fn try_sign_in(server: &Server, email: &str, password: &str) -> Response {
    server
        .post_json(
            "/api/v1/session",
            &json!({"email": email, "password": password}),
        )
        .send()
        .await
        .unwrap()
}

async fn me(server: &Server, token: &str) -> Response {
    send(server, Method::GET, "/api/v1/me", token, None).await
}

async fn set_clock(server: &Server, days: i64) {
    let response = client()
        .put(server.url("/__chaos"))
        .json(&json!({"clock_offset_s": days * 86_400}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_adds_a_person_who_signs_in_once_with_the_setup_code() {
    let server = Server::start_demo(0, &[]);
    let dana = token_of(&server, "dana@example.com").await;
    let added = add_person(&server, &dana, " ada@example.com ", "viewer").await;
    assert_eq!(added["user"]["email"], "ada@example.com");
    assert_eq!(added["user"]["role"], "viewer");
    assert_eq!(added["user"]["active"], true);
    let code = added["setup_code"].as_str().unwrap().to_owned();
    assert!(code.len() >= 22, "at least 128 bits: {code}");
    assert!(added["expires_at"].as_str().unwrap().ends_with('Z'));

    // No password yet: nothing signs in but the code.
    expect_error(
        try_sign_in(&server, "ada@example.com", "").await,
        401,
        "invalid_credentials",
    )
    .await;
    let wrong = use_setup_code(
        &server,
        "ada@example.com",
        "not-the-code",
        "a long passphrase",
    );
    expect_error(wrong.await, 401, "invalid_credentials").await;
    let someone_elses = use_setup_code(&server, "sam@example.com", &code, "a long passphrase");
    expect_error(someone_elses.await, 401, "invalid_credentials").await;

    let used = use_setup_code(&server, "ada@example.com", &code, "a long passphrase").await;
    assert_eq!(used.status(), StatusCode::OK);
    assert_eq!(used.headers()["cache-control"], "no-store");
    let session: Value = used.json().await.unwrap();
    assert_eq!(session["user"]["id"], added["user"]["id"]);
    assert!(session["expires_at"].is_string());
    let token = session["token"].as_str().unwrap();
    let me: Value = me(&server, token).await.json().await.unwrap();
    assert_eq!(me["name"], "Ada Lovelace");

    // The code worked once; the password it set works from now on.
    let again = use_setup_code(&server, "ada@example.com", &code, "another passphrase");
    expect_error(again.await, 401, "invalid_credentials").await;
    let signed_in = try_sign_in(&server, "ada@example.com", "a long passphrase").await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let listed = people(&server, &dana).await;
    let ada = listed.iter().find(|p| p["email"] == "ada@example.com");
    assert_eq!(ada.map(|p| &p["role"]), Some(&json!("viewer")));
}

#[tokio::test]
async fn a_new_setup_code_replaces_the_old_one_and_ends_the_persons_sessions_when_used() {
    let server = Server::start_demo(0, &[]);
    let dana = token_of(&server, "dana@example.com").await;
    let sam_token = token_of(&server, "sam@example.com").await;
    let sam = id_of(&server, &dana, "sam@example.com").await;
    let new_code = |server: &Server| {
        let request = server
            .request(Method::POST, &format!("/api/v1/users/{sam}/setup-code"))
            .bearer_auth(&dana);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let issued: Value = response.json().await.unwrap();
            assert_eq!(issued["user"]["email"], "sam@example.com");
            issued["setup_code"].as_str().unwrap().to_owned()
        }
    };
    let old = new_code(&server).await;
    let new = new_code(&server).await;
    assert_ne!(old, new);
    let with_old = use_setup_code(&server, "sam@example.com", &old, "sams new passphrase");
    expect_error(with_old.await, 401, "invalid_credentials").await;
    // Until the code is used, the old password still works.
    assert_eq!(me(&server, &sam_token).await.status(), StatusCode::OK);
    let with_new = use_setup_code(&server, "sam@example.com", &new, "sams new passphrase").await;
    assert_eq!(with_new.status(), StatusCode::OK);
    expect_error(me(&server, &sam_token).await, 401, "session_expired").await;
    expect_error(
        try_sign_in(&server, "sam@example.com", DEMO_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    for unknown in [
        Uuid::now_v7().to_string(),
        "01900000-0000-7000-8000-000000005e71".into(),
    ] {
        let response = send(
            &server,
            Method::POST,
            &format!("/api/v1/users/{unknown}/setup-code"),
            &dana,
            None,
        )
        .await;
        expect_error(response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_setup_code_expires_after_seven_days() {
    let server = Server::start_demo(0, &["--allow-chaos"]);
    let dana = token_of(&server, "dana@example.com").await;
    let late = add_person(&server, &dana, "late@example.com", "agent").await;
    let early = add_person(&server, &dana, "early@example.com", "agent").await;
    set_clock(&server, 6).await;
    let in_time = use_setup_code(
        &server,
        "early@example.com",
        early["setup_code"].as_str().unwrap(),
        "a long passphrase",
    );
    assert_eq!(in_time.await.status(), StatusCode::OK);
    set_clock(&server, 7).await;
    let too_late = use_setup_code(
        &server,
        "late@example.com",
        late["setup_code"].as_str().unwrap(),
        "a long passphrase",
    );
    expect_error(too_late.await, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn passwords_need_ten_characters_and_must_not_be_the_email() {
    let server = Server::start_demo(0, &[]);
    let dana = token_of(&server, "dana@example.com").await;
    let added = add_person(&server, &dana, "ada@example.com", "agent").await;
    let code = added["setup_code"].as_str().unwrap();
    for bad in ["short", "Ada@Example.com"] {
        let refused = use_setup_code(&server, "ada@example.com", code, bad).await;
        let body = expect_error(refused, 422, "validation_failed").await;
        assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    }
    // A refused password did not use the code up.
    let used = use_setup_code(&server, "ada@example.com", code, "ten chars!").await;
    assert_eq!(used.status(), StatusCode::OK);

    let change = send(
        &server,
        Method::PUT,
        "/api/v1/me/password",
        &dana,
        Some(json!({"current": DEMO_PASSWORD, "new": "dana@example.com"})),
    )
    .await;
    let body = expect_error(change, 422, "validation_failed").await;
    assert!(body["error"]["fields"]["new"].is_string(), "{body}");
}

#[tokio::test]
async fn adding_a_person_checks_the_fields_and_the_email_is_taken_once() {
    let server = Server::start_demo(0, &[]);
    let dana = token_of(&server, "dana@example.com").await;
    for (body, field) in [
        (
            json!({"email": "SAM@example.com", "name": "Sam", "role": "agent"}),
            "email",
        ),
        (
            json!({"email": "no-at-sign", "name": "X", "role": "agent"}),
            "email",
        ),
        (
            json!({"email": "x@example.com", "name": " ", "role": "agent"}),
            "name",
        ),
    ] {
        let refused = send(&server, Method::POST, "/api/v1/users", &dana, Some(body)).await;
        let error = expect_error(refused, 422, "validation_failed").await;
        assert!(error["error"]["fields"][field].is_string(), "{error}");
    }
    let bad_role = send(
        &server,
        Method::POST,
        "/api/v1/users",
        &dana,
        Some(json!({"email": "x@example.com", "name": "X", "role": "root"})),
    )
    .await;
    assert_eq!(bad_role.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(people(&server, &dana).await.len(), 4, "nobody was added");
}

#[tokio::test]
async fn deactivating_a_person_ends_their_sessions_and_keeps_their_authorship() {
    let server = Server::start_demo(0, &[]);
    let dana = token_of(&server, "dana@example.com").await;
    let sam_token = token_of(&server, "sam@example.com").await;
    let sam = id_of(&server, &dana, "sam@example.com").await;
    let case = send(
        &server,
        Method::POST,
        "/api/v1/cases",
        &sam_token,
        Some(new_case("Sam's case")),
    )
    .await;
    assert_eq!(case.status(), StatusCode::CREATED);
    let case: Value = case.json().await.unwrap();
    let case_id = case["id"].as_str().unwrap();
    let note = send(
        &server,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/notes"),
        &sam_token,
        Some(json!({"id": Uuid::now_v7(), "body": "Sam's note"})),
    )
    .await;
    assert_eq!(note.status(), StatusCode::CREATED);

    let off = patch_person(&server, &dana, &sam, json!({"active": false})).await;
    assert_eq!(off.status(), StatusCode::OK);
    let off: Value = off.json().await.unwrap();
    assert_eq!(off["active"], false);
    assert_eq!(off["role"], "agent");
    expect_error(me(&server, &sam_token).await, 401, "session_expired").await;
    expect_error(
        try_sign_in(&server, "sam@example.com", DEMO_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    // What Sam did is still Sam's, and Sam is still listed, as inactive.
    let case: Value = send(
        &server,
        Method::GET,
        &format!("/api/v1/cases/{case_id}"),
        &dana,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(case["created_by"], sam.as_str());
    let notes: Vec<Value> = send(
        &server,
        Method::GET,
        &format!("/api/v1/cases/{case_id}/notes"),
        &dana,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(notes[0]["author"], "Sam Okafor");
    assert_eq!(notes[0]["author_id"], sam.as_str());
    let listed = people(&server, &dana).await;
    let sam_listed = listed.iter().find(|p| p["id"] == sam.as_str()).unwrap();
    assert_eq!(sam_listed["active"], false);
    assert!(listed.iter().all(|p| p["role"].is_string()));

    // Nor does a setup code let a deactivated person in.
    let code = send(
        &server,
        Method::POST,
        &format!("/api/v1/users/{sam}/setup-code"),
        &dana,
        None,
    )
    .await;
    assert_eq!(code.status(), StatusCode::OK);
    let code: Value = code.json().await.unwrap();
    let code = code["setup_code"].as_str().unwrap();
    let refused = use_setup_code(&server, "sam@example.com", code, "sams new passphrase");
    expect_error(refused.await, 401, "invalid_credentials").await;

    // Reactivated, Sam signs in again (the old session stays over).
    let on = patch_person(&server, &dana, &sam, json!({"active": true})).await;
    assert_eq!(on.status(), StatusCode::OK);
    expect_error(me(&server, &sam_token).await, 401, "session_expired").await;
    let again = try_sign_in(&server, "sam@example.com", DEMO_PASSWORD).await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let server = Server::start_demo(0, &[]);
    let dana_token = token_of(&server, "dana@example.com").await;
    let dana = id_of(&server, &dana_token, "dana@example.com").await;
    let sam = id_of(&server, &dana_token, "sam@example.com").await;
    for change in [
        json!({"role": "agent"}),
        json!({"active": false}),
        json!({"role": "viewer"}),
    ] {
        let refused = patch_person(&server, &dana_token, &dana, change).await;
        expect_error(refused, 409, "last_admin").await;
    }
    // A name change of the last admin is fine.
    let renamed = patch_person(&server, &dana_token, &dana, json!({"name": "Dana R."})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    // With a second admin, the first may step down.
    let promoted = patch_person(&server, &dana_token, &sam, json!({"role": "admin"})).await;
    assert_eq!(promoted.status(), StatusCode::OK);
    let demoted = patch_person(&server, &dana_token, &dana, json!({"role": "agent"})).await;
    assert_eq!(demoted.status(), StatusCode::OK);
    // Dana is an agent now, and the server says so on her next request.
    let refused = patch_person(&server, &dana_token, &sam, json!({"role": "agent"})).await;
    expect_error(refused, 403, "forbidden").await;
}

#[tokio::test]
async fn only_people_can_be_managed_and_an_unknown_id_is_404() {
    let server = Server::start_demo(0, &[]);
    let dana = token_of(&server, "dana@example.com").await;
    let service_id = "01900000-0000-7000-8000-000000005e71";
    for unknown in [Uuid::now_v7().to_string(), service_id.to_owned()] {
        let refused = patch_person(&server, &dana, &unknown, json!({"role": "viewer"})).await;
        expect_error(refused, 404, "not_found").await;
    }
    let not_an_id = patch_person(&server, &dana, "dana", json!({})).await;
    expect_error(not_an_id, 400, "bad_request").await;
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    const SERVICE: &str = "accounts-test-service-token-0123456789abcdef";
    let server = Server::start_demo(0, &["--auth-token", SERVICE]);
    let dana = id_of(&server, SERVICE, "dana@example.com").await;
    let sam = id_of(&server, SERVICE, "sam@example.com").await;
    for round in 0..6 {
        for id in [&dana, &sam] {
            let admin = patch_person(&server, SERVICE, id, json!({"role": "admin"})).await;
            assert_eq!(admin.status(), StatusCode::OK);
        }
        let dana_token = token_of(&server, "dana@example.com").await;
        let sam_token = token_of(&server, "sam@example.com").await;
        let (a, b) = tokio::join!(
            patch_person(&server, &dana_token, &sam, json!({"role": "agent"})),
            patch_person(&server, &sam_token, &dana, json!({"active": false})),
        );
        // Exactly one wins. The other finds itself the last admin (409) or, when the
        // winner committed before it was authorised, no longer an admin (403) or no longer
        // signed in (401).
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| [200, 401, 403, 409].contains(s)),
            "round {round}: {statuses:?}"
        );
        let admins = people(&server, SERVICE)
            .await
            .iter()
            .filter(|p| p["role"] == "admin" && p["active"] == true)
            .count();
        assert_eq!(admins, 1, "round {round}");
        let back = patch_person(&server, SERVICE, &dana, json!({"active": true})).await;
        assert_eq!(back.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let server = Server::start_demo(0, &[]);
    let this = token_of(&server, "sam@example.com").await;
    let other = token_of(&server, "sam@example.com").await;
    let dana = token_of(&server, "dana@example.com").await;
    let wrong = send(
        &server,
        Method::PUT,
        "/api/v1/me/password",
        &this,
        Some(json!({"current": "not it at all", "new": "sams new passphrase"})),
    )
    .await;
    let body = expect_error(wrong, 422, "validation_failed").await;
    assert!(body["error"]["fields"]["current"].is_string(), "{body}");
    assert_eq!(me(&server, &other).await.status(), StatusCode::OK);

    let changed = send(
        &server,
        Method::PUT,
        "/api/v1/me/password",
        &this,
        Some(json!({"current": DEMO_PASSWORD, "new": "sams new passphrase"})),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&server, &this).await.status(), StatusCode::OK);
    expect_error(me(&server, &other).await, 401, "session_expired").await;
    assert_eq!(
        me(&server, &dana).await.status(),
        StatusCode::OK,
        "others' stay"
    );
    expect_error(
        try_sign_in(&server, "sam@example.com", DEMO_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let with_new = try_sign_in(&server, "sam@example.com", "sams new passphrase").await;
    assert_eq!(with_new.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_out_everywhere_keeps_only_this_session() {
    const SERVICE: &str = "accounts-test-service-token-0123456789abcdef";
    let server = Server::start_demo(0, &["--auth-token", SERVICE]);
    let this = token_of(&server, "priya@example.com").await;
    let others = [
        token_of(&server, "priya@example.com").await,
        token_of(&server, "priya@example.com").await,
    ];
    let sam = token_of(&server, "sam@example.com").await;
    let out = send(&server, Method::DELETE, "/api/v1/me/sessions", &this, None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&server, &this).await.status(), StatusCode::OK);
    for other in &others {
        expect_error(me(&server, other).await, 401, "session_expired").await;
    }
    assert_eq!(me(&server, &sam).await.status(), StatusCode::OK);
    // A service token has no sessions to end, nor a password to change.
    let service = send(
        &server,
        Method::DELETE,
        "/api/v1/me/sessions",
        SERVICE,
        None,
    )
    .await;
    assert_eq!(service.status(), StatusCode::NO_CONTENT);
    let password = send(
        &server,
        Method::PUT,
        "/api/v1/me/password",
        SERVICE,
        Some(json!({"current": "x", "new": "a long passphrase"})),
    )
    .await;
    expect_error(password, 403, "forbidden").await;
}

#[tokio::test]
async fn a_session_ends_90_days_after_sign_in_however_often_it_is_used() {
    let server = Server::start_demo(0, &["--allow-chaos"]);
    let token = token_of(&server, "lee@example.com").await;
    for day in [20, 40, 60, 80, 89] {
        set_clock(&server, day).await;
        assert_eq!(
            me(&server, &token).await.status(),
            StatusCode::OK,
            "day {day}"
        );
    }
    set_clock(&server, 90).await;
    expect_error(me(&server, &token).await, 401, "session_expired").await;
    // A fresh sign-in is a fresh 90 days.
    let fresh = token_of(&server, "lee@example.com").await;
    assert_eq!(me(&server, &fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_signing_in() {
    let server = Server::start_demo(0, &["--sign-in-max-failures", "2"]);
    let sam = token_of(&server, "sam@example.com").await;
    let change = |current: &str| {
        let request = server
            .request(Method::PUT, "/api/v1/me/password")
            .bearer_auth(&sam)
            .json(&json!({"current": current, "new": "sams new passphrase"}));
        async move { request.send().await.unwrap() }
    };
    for guess in ["guess one", "guess two"] {
        expect_error(change(guess).await, 422, "validation_failed").await;
    }
    // Past the limit even the right password waits, as a sign-in would.
    let throttled = change(DEMO_PASSWORD).await;
    assert!(throttled.headers().contains_key("retry-after"));
    expect_error(throttled, 429, "rate_limited").await;
    expect_error(
        try_sign_in(&server, "sam@example.com", DEMO_PASSWORD).await,
        429,
        "rate_limited",
    )
    .await;
}
