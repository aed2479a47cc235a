//! People (docs/api.md §4) over HTTP: signing in and out, sessions that expire, the 401s,
//! the sign-in throttle, authorship, assignees, history, and the `Origin`/`Host` checks.

use crate::support::{
    add_user, client, expect_error, new_case, run_user, sign_in, Server, SERVICE_TOKEN,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const DEMO_PASSWORD: &str = "casedesk-demo";

/// A request with the session's bearer token.
fn authed(server: &Server, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    server.request(method, path).bearer_auth(token)
}

async fn token_of(server: &Server, email: &str) -> (String, Value) {
    let session = sign_in(server, email, DEMO_PASSWORD).await;
    let token = session["token"].as_str().unwrap().to_owned();
    (token, session["user"].clone())
}

#[tokio::test]
async fn signing_in_gives_a_token_for_me_and_users() {
    let server = Server::start_demo(3, &[]);
    let session = sign_in(&server, "Dana@Example.com ", DEMO_PASSWORD).await;
    let token = session["token"].as_str().unwrap();
    assert!(token.len() >= 43, "at least 256 bits, base64url: {token}");
    assert_eq!(session["user"]["name"], "Dana Reyes");
    assert_eq!(session["user"]["role"], "admin");
    assert!(session["expires_at"].as_str().unwrap().ends_with('Z'));

    let me: Value = authed(&server, Method::GET, "/api/v1/me", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me, session["user"]);
    let users: Vec<Value> = authed(&server, Method::GET, "/api/v1/users", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = users.iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(
        names,
        ["Dana Reyes", "Lee Chen", "Priya Natarajan", "Sam Okafor"],
        "every person but Service and Guest, by name"
    );
}

#[tokio::test]
async fn answers_carrying_people_are_never_stored_by_the_browser() {
    let server = Server::start_demo(1, &[]);
    let signed_in = server
        .post_json(
            "/api/v1/session",
            &json!({"email": "dana@example.com", "password": DEMO_PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.headers()["cache-control"], "no-store");
    let token = signed_in.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/api/v1/me", "/api/v1/users"] {
        let response = authed(&server, Method::GET, path, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    // Cases are revalidated, not forbidden to store (the app's own cache asks with ETags).
    let cases = authed(&server, Method::GET, "/api/v1/cases", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(cases.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let server = Server::start_demo(0, &[]);
    let attempt = |email: &'static str, password: &'static str| {
        server
            .post_json(
                "/api/v1/session",
                &json!({"email": email, "password": password}),
            )
            .send()
    };
    let wrong_password = expect_error(
        attempt("dana@example.com", "casedesk-dem0").await.unwrap(),
        401,
        "invalid_credentials",
    )
    .await;
    let unknown_email = expect_error(
        attempt("nobody@example.com", DEMO_PASSWORD).await.unwrap(),
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        wrong_password["error"]["message"],
        unknown_email["error"]["message"]
    );
    assert_eq!(wrong_password.get("current"), unknown_email.get("current"));
    // The built-in people have no password and cannot sign in.
    expect_error(
        attempt("service@casedesk.invalid", "").await.unwrap(),
        401,
        "invalid_credentials",
    )
    .await;
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address reaches the server).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

async fn try_sign_in(
    server: &Server,
    from: [u8; 4],
    email: &str,
    password: &str,
) -> reqwest::Response {
    client_from(from)
        .post(server.url("/api/v1/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_is_throttled_per_email_from_an_address_per_address_and_per_email() {
    let server = Server::start_demo(
        0,
        &["--sign-in-max-failures", "2", "--sign-in-window-s", "600"],
    );
    // Two failures for dana from one address use up dana's failures from there…
    try_sign_in(&server, [127, 0, 0, 2], "dana@example.com", "x").await;
    try_sign_in(&server, [127, 0, 0, 2], "dana@example.com", "y").await;
    let throttled = try_sign_in(&server, [127, 0, 0, 2], "dana@example.com", DEMO_PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    expect_error(throttled, 429, "rate_limited").await;

    // …six failures from one address (three times as many) use up the address's, whatever
    // the emails…
    for n in 0..6 {
        let response =
            try_sign_in(&server, [127, 0, 0, 4], &format!("x{n}@example.com"), "x").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{n}");
    }
    let from_four = try_sign_in(&server, [127, 0, 0, 4], "priya@example.com", DEMO_PASSWORD).await;
    assert_eq!(from_four.status(), StatusCode::TOO_MANY_REQUESTS);
    // …while another person from another address signs in…
    let from_five = try_sign_in(&server, [127, 0, 0, 5], "priya@example.com", DEMO_PASSWORD).await;
    assert_eq!(from_five.status(), StatusCode::OK);

    // …and twenty failures for one email (ten times as many), from ten addresses, lock it
    // from every address.
    for n in 10..20 {
        for password in ["x", "y"] {
            try_sign_in(&server, [127, 0, 0, n], "lee@example.com", password).await;
        }
    }
    let fresh = try_sign_in(&server, [127, 0, 0, 30], "lee@example.com", DEMO_PASSWORD).await;
    assert_eq!(fresh.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn someone_guessing_at_an_email_from_another_address_does_not_lock_its_person_out() {
    let server = Server::start_demo(0, &[]);
    // The default allows 10 failures per email from one address, 100 from all.
    let mut refused = 0;
    for n in 0..15 {
        let guess = try_sign_in(
            &server,
            [127, 0, 0, 2],
            "dana@example.com",
            &format!("guess {n}"),
        )
        .await;
        if guess.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 5, "the guesser is throttled after 10 failures");
    let dana = try_sign_in(&server, [127, 0, 0, 3], "dana@example.com", DEMO_PASSWORD).await;
    assert_eq!(
        dana.status(),
        StatusCode::OK,
        "Dana signs in from her own address"
    );
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_get_their_own_sign_in_throttles() {
    let server = Server::start_demo(
        0,
        &["--trust-proxy", "127.0.0.1", "--sign-in-max-failures", "2"],
    );
    let through_proxy = |client: &'static str, password: &'static str| {
        client_from([127, 0, 0, 1])
            .post(server.url("/api/v1/session"))
            .header("X-Forwarded-For", client)
            .json(&json!({"email": "dana@example.com", "password": password}))
            .send()
    };
    for guess in ["x", "y"] {
        let response = through_proxy("198.51.100.1", guess).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let guesser = through_proxy("198.51.100.1", DEMO_PASSWORD).await.unwrap();
    assert_eq!(guesser.status(), StatusCode::TOO_MANY_REQUESTS);
    let dana = through_proxy("198.51.100.2", DEMO_PASSWORD).await.unwrap();
    assert_eq!(
        dana.status(),
        StatusCode::OK,
        "another client behind the proxy"
    );
}

#[tokio::test]
async fn concurrent_wrong_guesses_for_one_email_get_at_most_the_allowed_checks() {
    let server = Server::start_demo(0, &[]);
    let passwords: Vec<String> = (0..50).map(|n| format!("guess {n}")).collect();
    let guesses: Vec<_> = passwords
        .iter()
        .map(|password| try_sign_in(&server, [127, 0, 0, 2], "dana@example.com", password))
        .collect();
    let answers = futures_util::future::join_all(guesses).await;
    let mut checked = 0;
    for answer in answers {
        match answer.status().as_u16() {
            // Only a password checked and found wrong is 401.
            401 => checked += 1,
            429 | 503 => assert!(answer.headers().contains_key("retry-after")),
            other => panic!("{other}"),
        }
    }
    assert!(
        (1..=10).contains(&checked),
        "{checked} passwords checked for one email from one address; the limit is 10"
    );
}

#[tokio::test]
async fn signing_out_revokes_the_token() {
    let server = Server::start_demo(0, &[]);
    let (token, _) = token_of(&server, "sam@example.com").await;
    let (other, _) = token_of(&server, "sam@example.com").await;
    let out = authed(&server, Method::DELETE, "/api/v1/session", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let me = authed(&server, Method::GET, "/api/v1/me", &token)
        .send()
        .await
        .unwrap();
    expect_error(me, 401, "session_expired").await;
    let cases = authed(&server, Method::GET, "/api/v1/cases", &token)
        .send()
        .await
        .unwrap();
    expect_error(cases, 401, "session_expired").await;
    // Only that session ended.
    let me = authed(&server, Method::GET, "/api/v1/me", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
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
async fn a_session_expires_after_30_days_without_use() {
    let server = Server::start_demo(0, &["--allow-chaos"]);
    let (used, _) = token_of(&server, "lee@example.com").await;
    let (idle, _) = token_of(&server, "lee@example.com").await;
    let me = |token: String| {
        let request = authed(&server, Method::GET, "/api/v1/me", &token);
        async move { request.send().await.unwrap() }
    };
    set_clock(&server, 29).await;
    assert_eq!(me(used.clone()).await.status(), StatusCode::OK, "day 29");
    // Used on day 29, it lives to day 59; the idle one ended on day 30.
    set_clock(&server, 31).await;
    expect_error(me(idle.clone()).await, 401, "session_expired").await;
    set_clock(&server, 58).await;
    assert_eq!(me(used.clone()).await.status(), StatusCode::OK, "day 58");
    set_clock(&server, 89).await;
    expect_error(me(used).await, 401, "session_expired").await;
}

#[tokio::test]
async fn every_endpoint_but_health_and_sign_in_needs_a_session() {
    let server = Server::start_people(&[]);
    let id = Uuid::now_v7();
    let endpoints: Vec<(Method, String)> = vec![
        (Method::GET, "/api/v1/cases".into()),
        (Method::POST, "/api/v1/cases".into()),
        (Method::GET, format!("/api/v1/cases/{id}")),
        (Method::PATCH, format!("/api/v1/cases/{id}")),
        (Method::DELETE, format!("/api/v1/cases/{id}")),
        (Method::GET, format!("/api/v1/cases/{id}/notes")),
        (Method::POST, format!("/api/v1/cases/{id}/notes")),
        (Method::GET, format!("/api/v1/cases/{id}/history")),
        (Method::GET, "/api/v1/dashboard/metrics".into()),
        (Method::GET, "/api/v1/me".into()),
        (Method::GET, "/api/v1/users".into()),
        (Method::DELETE, "/api/v1/session".into()),
        (Method::GET, "/api/v1/no-such-endpoint".into()),
    ];
    for (method, path) in &endpoints {
        let bare = server
            .request(method.clone(), path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            bare.headers()["www-authenticate"],
            "Bearer",
            "{method} {path}"
        );
        expect_error(bare, 401, "unauthorized").await;
        let forged = authed(&server, method.clone(), path, "forged-token")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(forged, 401, "unauthorized").await;
    }
    for path in ["/health", "/api/v1/health"] {
        let health = server.get(path).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{path}");
    }
    // Sign-in itself answers without a session (here: a body that is not a sign-in).
    let sign_in = server
        .post_json("/api/v1/session", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_server_sets_authorship_and_ignores_the_clients() {
    let server = Server::start_demo(0, &["--auth-token", SERVICE_TOKEN]);
    let (token, dana) = token_of(&server, "dana@example.com").await;
    let (_, sam) = token_of(&server, "sam@example.com").await;
    let mut body = new_case("Printer jams");
    body["created_by"] = sam["id"].clone();
    body["updated_by"] = sam["id"].clone();
    let created: Value = authed(&server, Method::POST, "/api/v1/cases", &token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["created_by"], dana["id"]);
    assert_eq!(created["updated_by"], dana["id"]);
    let id = created["id"].as_str().unwrap();

    let note: Value = authed(&server, Method::POST, &format!("/api/v1/cases/{id}/notes"), &token)
        .json(&json!({"id": Uuid::now_v7(), "body": "On it", "author": "Sam Okafor", "author_id": sam["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(note["author"], "Dana Reyes");
    assert_eq!(note["author_id"], dana["id"]);

    // A service token acts as "Service".
    let service: Value = authed(&server, Method::GET, "/api/v1/me", SERVICE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(service["name"], "Service");
    let patched: Value = authed(
        &server,
        Method::PATCH,
        &format!("/api/v1/cases/{id}"),
        SERVICE_TOKEN,
    )
    .header("If-Match", "\"1\"")
    .json(&json!({"status": "in_progress"}))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(patched["updated_by"], service["id"]);
    assert_eq!(patched["created_by"], dana["id"]);
}

#[tokio::test]
async fn an_assignee_must_be_a_person_and_the_list_filters_by_it() {
    let server = Server::start_demo(0, &[]);
    let (token, dana) = token_of(&server, "dana@example.com").await;
    let (_, sam) = token_of(&server, "sam@example.com").await;
    for unknown in [json!("dana"), json!(Uuid::now_v7())] {
        let mut body = new_case("Unknown assignee");
        body["assignee"] = unknown;
        let refused = authed(&server, Method::POST, "/api/v1/cases", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = expect_error(refused, 422, "validation_failed").await;
        assert!(error["error"]["fields"]["assignee"].is_string(), "{error}");
    }
    let create = |title: &str, assignee: Value| {
        let mut body = new_case(title);
        body["assignee"] = assignee;
        let request = authed(&server, Method::POST, "/api/v1/cases", &token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()
        }
    };
    let mine = create("Mine", dana["id"].clone()).await;
    let sams = create("Sam's", sam["id"].clone()).await;
    let nobodys = create("Nobody's", Value::Null).await;
    assert_eq!(mine["assignee"], dana["id"]);

    let unknown_patch = authed(
        &server,
        Method::PATCH,
        &format!("/api/v1/cases/{}", sams["id"].as_str().unwrap()),
        &token,
    )
    .header("If-Match", "\"1\"")
    .json(&json!({"assignee": Uuid::now_v7()}))
    .send()
    .await
    .unwrap();
    expect_error(unknown_patch, 422, "validation_failed").await;

    let titles = |query: String| {
        let request = authed(
            &server,
            Method::GET,
            &format!("/api/v1/cases?{query}"),
            &token,
        );
        async move {
            let list: Value = request.send().await.unwrap().json().await.unwrap();
            let mut titles: Vec<String> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["title"].as_str().unwrap().to_owned())
                .collect();
            titles.sort();
            titles
        }
    };
    assert_eq!(titles("assignee=me".into()).await, ["Mine"]);
    assert_eq!(
        titles(format!("assignee={}", sam["id"].as_str().unwrap())).await,
        ["Sam's"]
    );
    assert_eq!(titles("assignee=none".into()).await, ["Nobody's"]);
    assert_eq!(titles(String::new()).await.len(), 3);
    let _ = nobodys;
}

#[tokio::test]
async fn history_records_each_change_in_order_with_actors_and_values() {
    let server = Server::start_demo(0, &[]);
    let (dana_token, dana) = token_of(&server, "dana@example.com").await;
    let (sam_token, sam) = token_of(&server, "sam@example.com").await;
    let mut body = new_case("Badge reader broken");
    body["priority"] = json!("high");
    let created: Value = authed(&server, Method::POST, "/api/v1/cases", &dana_token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let patched = authed(
        &server,
        Method::PATCH,
        &format!("/api/v1/cases/{id}"),
        &sam_token,
    )
    .header("If-Match", "\"1\"")
    .json(&json!({"status": "in_progress", "assignee": sam["id"], "title": "Badge reader broken"}))
    .send()
    .await
    .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let note_id = Uuid::now_v7();
    let note = authed(
        &server,
        Method::POST,
        &format!("/api/v1/cases/{id}/notes"),
        &dana_token,
    )
    .json(&json!({"id": note_id, "body": "Vendor called"}))
    .send()
    .await
    .unwrap();
    assert_eq!(note.status(), StatusCode::CREATED);
    // Deleting is an admin's (Dana's).
    let deleted = authed(
        &server,
        Method::DELETE,
        &format!("/api/v1/cases/{id}"),
        &dana_token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // A deleted case's history stays readable.
    let response = authed(
        &server,
        Method::GET,
        &format!("/api/v1/cases/{id}/history"),
        &dana_token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let history: Vec<Value> = response.json().await.unwrap();
    let kinds: Vec<&str> = history
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "updated", "note_added", "deleted"]);
    let actors: Vec<&Value> = history.iter().map(|e| &e["actor_id"]).collect();
    assert_eq!(actors, [&dana["id"], &sam["id"], &dana["id"], &dana["id"]]);

    let created_changes = &history[0]["changes"];
    assert!(created_changes
        .as_array()
        .unwrap()
        .contains(&json!({"field": "priority", "from": null, "to": "high"})));
    // Only what changed, with from and to (the unchanged title is not listed).
    assert_eq!(
        history[1]["changes"],
        json!([
            {"field": "status", "from": "open", "to": "in_progress"},
            {"field": "assignee", "from": null, "to": sam["id"]},
        ])
    );
    assert_eq!(
        history[2]["changes"],
        json!([{"field": "note", "from": null, "to": note_id}])
    );
    let ats: Vec<&str> = history.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = ats.clone();
    sorted.sort();
    assert_eq!(ats, sorted, "oldest first");

    let unknown = authed(
        &server,
        Method::GET,
        &format!("/api/v1/cases/{}/history", Uuid::now_v7()),
        &dana_token,
    )
    .send()
    .await
    .unwrap();
    expect_error(unknown, 404, "not_found").await;
}

#[tokio::test]
async fn a_request_from_a_foreign_origin_is_refused_whatever_its_method() {
    let server = Server::start_demo(0, &["--cors-origin", "http://127.0.0.1:9"]);
    let (token, _) = token_of(&server, "dana@example.com").await;
    let post = |origin: Option<&str>| {
        let mut request =
            authed(&server, Method::POST, "/api/v1/cases", &token).json(&new_case("Origin"));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        async move { request.send().await.unwrap() }
    };
    let foreign = post(Some("http://evil.example")).await;
    expect_error(foreign, 403, "forbidden").await;
    expect_error(post(Some("null")).await, 403, "forbidden").await;
    assert_eq!(
        post(Some(&server.base)).await.status(),
        StatusCode::CREATED,
        "own origin"
    );
    assert_eq!(
        post(Some("http://127.0.0.1:9")).await.status(),
        StatusCode::CREATED,
        "allowed origin"
    );
    assert_eq!(
        post(None).await.status(),
        StatusCode::CREATED,
        "no origin: not a browser"
    );
    // Reads too: the server does no work for a page it would not let read the answer.
    let read = |origin: &str| {
        authed(&server, Method::GET, "/api/v1/cases", &token)
            .header("Origin", origin)
            .send()
    };
    expect_error(read("http://evil.example").await.unwrap(), 403, "forbidden").await;
    assert_eq!(
        read("http://127.0.0.1:9").await.unwrap().status(),
        StatusCode::OK
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let own = read(&format!("http://localhost:{port}")).await.unwrap();
    assert_eq!(
        own.status(),
        StatusCode::OK,
        "a loopback name of this server"
    );
}

#[tokio::test]
async fn with_people_on_or_off_the_host_must_be_this_server() {
    for server in [Server::start(&[]), Server::start_demo(0, &[])] {
        let port = server.base.rsplit(':').next().unwrap().to_owned();
        let get = |path: &'static str, host: String| {
            let request = server.get(path).header("Host", host);
            async move { request.send().await.unwrap() }
        };
        for path in ["/health", "/api/v1/health", "/api/v1/cases", "/anything"] {
            let rebound = get(path, format!("evil.example:{port}")).await;
            expect_error(rebound, 403, "forbidden").await;
            let other_port = get(path, "127.0.0.1:1".into()).await;
            expect_error(other_port, 403, "forbidden").await;
        }
        let sign_in = server
            .post_json(
                "/api/v1/session",
                &json!({"email": "dana@example.com", "password": DEMO_PASSWORD}),
            )
            .header("Host", format!("evil.example:{port}"))
            .send()
            .await
            .unwrap();
        expect_error(sign_in, 403, "forbidden").await;
        for host in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ] {
            assert_eq!(
                get("/health", host.clone()).await.status(),
                StatusCode::OK,
                "{host}"
            );
        }
    }
}

#[tokio::test]
async fn a_public_origin_is_served_and_names_it_does_not_list_are_not() {
    let server = Server::start_demo(
        0,
        &[
            "--public-origin",
            "https://casedesk.example",
            "--cors-origin",
            "http://127.0.0.1:9",
        ],
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let get = |host: &str, origin: Option<&str>| {
        let mut request = server.get("/health").header("Host", host);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(get("casedesk.example", None).await, StatusCode::OK);
    // Behind a proxy that passes its upstream's address: the page is the public origin.
    let upstream = format!("127.0.0.1:{port}");
    assert_eq!(
        get(&upstream, Some("https://casedesk.example")).await,
        StatusCode::OK
    );
    assert_eq!(
        get("casedesk.example", Some("https://casedesk.example")).await,
        StatusCode::OK
    );
    assert_eq!(get("other.example", None).await, StatusCode::FORBIDDEN);
    assert_eq!(
        get("casedesk.example:8443", None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("casedesk.example", Some("https://evil.example")).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn without_people_everyone_acts_as_guest() {
    let server = Server::start(&[]);
    // Everyone acts as Guest, whatever the body says.
    let case = server.create(new_case("As guest")).await;
    let note: Value = server
        .post_json(
            &format!("/api/v1/cases/{}/notes", case["id"].as_str().unwrap()),
            &json!({"id": Uuid::now_v7(), "body": "hi", "author": "dana"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(note["author"], "Guest");
    assert_eq!(case["created_by"], note["author_id"]);
}

#[tokio::test]
async fn user_add_reads_the_password_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "people.db");
    let id = add_user(
        &db,
        "ines@example.com",
        "Ines Duarte",
        "admin",
        "a long passphrase",
    );
    assert!(Uuid::parse_str(&id).is_ok(), "{id}");
    let server = Server::start_raw(&db, &["--rate-limit-per-sec", "0"], &[]);
    let session = sign_in(&server, "ines@example.com", "a long passphrase").await;
    assert_eq!(session["user"]["id"], id.as_str());
    assert_eq!(session["user"]["role"], "admin");
    assert_eq!(session["user"]["name"], "Ines Duarte");
    // The same email again (in other case) is refused.
    let again = std::panic::catch_unwind(|| {
        add_user(&db, "INES@example.com", "X", "agent", "another passphrase")
    });
    assert!(again.is_err(), "a second person with the same email");
}

#[tokio::test]
async fn user_passwd_role_and_deactivate_change_people_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "shell.db");
    add_user(
        &db,
        "ines@example.com",
        "Ines Duarte",
        "admin",
        "a long passphrase",
    );
    add_user(
        &db,
        "omar@example.com",
        "Omar Haddad",
        "agent",
        "omars passphrase",
    );
    let server = Server::start_raw(&db, &["--rate-limit-per-sec", "0"], &[]);
    let session = sign_in(&server, "omar@example.com", "omars passphrase").await;
    let omar = session["token"].as_str().unwrap().to_owned();
    let stderr =
        |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).to_string();

    let passwd = run_user(
        &db,
        &["passwd", "--email", "OMAR@example.com"],
        "omars new one\n",
    );
    assert!(passwd.status.success(), "{}", stderr(&passwd));
    let me = authed(&server, Method::GET, "/api/v1/me", &omar)
        .send()
        .await
        .unwrap();
    expect_error(me, 401, "session_expired").await;
    let old = server
        .post_json(
            "/api/v1/session",
            &json!({"email": "omar@example.com", "password": "omars passphrase"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(old, 401, "invalid_credentials").await;
    sign_in(&server, "omar@example.com", "omars new one").await;
    let short = run_user(&db, &["passwd", "--email", "omar@example.com"], "short\n");
    assert!(!short.status.success());
    assert!(stderr(&short).contains("at least 10"), "{}", stderr(&short));

    let role = run_user(
        &db,
        &["role", "--email", "omar@example.com", "--role", "viewer"],
        "",
    );
    assert!(role.status.success(), "{}", stderr(&role));
    let viewer = sign_in(&server, "omar@example.com", "omars new one").await;
    assert_eq!(viewer["user"]["role"], "viewer");
    let write = authed(
        &server,
        Method::POST,
        "/api/v1/cases",
        viewer["token"].as_str().unwrap(),
    )
    .json(&new_case("A viewer's case"))
    .send()
    .await
    .unwrap();
    expect_error(write, 403, "forbidden").await;

    for last_admin in [
        vec!["role", "--email", "ines@example.com", "--role", "agent"],
        vec!["deactivate", "--email", "ines@example.com"],
    ] {
        let refused = run_user(&db, &last_admin, "");
        assert!(!refused.status.success(), "{last_admin:?}");
        assert!(
            stderr(&refused).contains("last active admin"),
            "{}",
            stderr(&refused)
        );
    }

    let off = run_user(&db, &["deactivate", "--email", "omar@example.com"], "");
    assert!(off.status.success(), "{}", stderr(&off));
    let me = authed(
        &server,
        Method::GET,
        "/api/v1/me",
        viewer["token"].as_str().unwrap(),
    )
    .send()
    .await
    .unwrap();
    expect_error(me, 401, "session_expired").await;
    let again = server
        .post_json(
            "/api/v1/session",
            &json!({"email": "omar@example.com", "password": "omars new one"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(again, 401, "invalid_credentials").await;

    let nobody = run_user(&db, &["deactivate", "--email", "nobody@example.com"], "");
    assert!(!nobody.status.success());
    assert!(
        stderr(&nobody).contains("nobody has the email"),
        "{}",
        stderr(&nobody)
    );
}

/// The terminal (a pseudo-terminal made by `script`) of the `casedesk-server` process
/// whose command line holds `marker`, once there is one.
#[cfg(unix)]
fn terminal_of(marker: &str) -> Option<String> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) && cmdline.contains("user add") && !cmdline.contains("script") {
            let tty = std::fs::read_link(entry.path().join("fd/0")).ok()?;
            let tty = tty.to_string_lossy().to_string();
            if tty.starts_with("/dev/pts/") {
                return Some(tty);
            }
        }
    }
    None
}

/// Whether the terminal `tty` has echo off now (as `stty` reports it).
#[cfg(unix)]
fn echo_is_off(tty: &str) -> bool {
    let settings = std::process::Command::new("stty")
        .args(["-a", "-F", tty])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    settings.split_whitespace().any(|flag| flag == "-echo")
}

#[cfg(unix)]
#[tokio::test]
async fn a_password_typed_on_a_terminal_is_not_shown() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::db_in(dir.path(), "typed.db");
    let marker = format!("typed-{}@example.com", Uuid::now_v7().simple());
    let command = format!(
        "'{}' --db '{}' user add --email {marker} --name Typed --role admin",
        env!("CARGO_BIN_EXE_casedesk-server"),
        db.display()
    );
    // `script` runs the command on a pseudo-terminal of its own, as a person's shell would.
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs the command on a terminal");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 256];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };
    let mut input = child.stdin.take().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let secret = "typed secret passphrase";
    for prompt in ["Password for", "The same again"] {
        // Type only once the prompt is shown and the terminal has stopped echoing.
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no prompt `{prompt}` with echo off: {shown:?}"
            );
            let prompted = shown.lock().unwrap().contains(prompt);
            if prompted && terminal_of(&marker).is_some_and(|tty| echo_is_off(&tty)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        input.write_all(format!("{secret}\r").as_bytes()).unwrap();
        input.flush().unwrap();
    }
    drop(input);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let shown = shown.lock().unwrap().clone();
    assert!(status.success(), "{shown}");
    assert!(!shown.contains(secret), "the password was shown: {shown:?}");
    let server = Server::start_raw(&db, &["--rate-limit-per-sec", "0"], &[]);
    let session = sign_in(&server, &marker, secret).await;
    assert_eq!(session["user"]["role"], "admin");
}
