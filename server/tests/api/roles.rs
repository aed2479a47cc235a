//! Roles (docs/api.md §4) over HTTP: one table of every `/api/v1` route × who asks → the
//! status they get, checked against the router's own list of routes, so a route added
//! without a rule here fails.

use crate::support::{expect_error, new_case, sign_in, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

const DEMO_PASSWORD: &str = "casedesk-demo";
const SERVICE_TOKEN: &str = "roles-test-service-token-0123456789abcdef";

/// Who asks, in the table's column order.
const WHO: [&str; 5] = ["nobody", "viewer", "agent", "admin", "service"];

/// Every `/api/v1` route and the status each of [`WHO`] gets from it. Rows run in this
/// order, each for every column, so a row that ends something (a session, a case) comes
/// after those that use it. `/events` gives the upgrade's status: the socket opens for
/// anyone and then needs its first message to authenticate (see `events.rs`).
const TABLE: &[(&str, &str, [u16; 5])] = &[
    ("GET", "/health", [200, 200, 200, 200, 200]),
    ("GET", "/cases", [401, 200, 200, 200, 200]),
    ("POST", "/cases", [401, 403, 201, 201, 201]),
    ("GET", "/cases/{id}", [401, 200, 200, 200, 200]),
    ("PATCH", "/cases/{id}", [401, 403, 200, 200, 200]),
    ("GET", "/cases/{id}/notes", [401, 200, 200, 200, 200]),
    ("POST", "/cases/{id}/notes", [401, 403, 201, 201, 201]),
    ("GET", "/cases/{id}/history", [401, 200, 200, 200, 200]),
    ("DELETE", "/cases/{id}", [401, 403, 403, 204, 204]),
    ("GET", "/dashboard/metrics", [401, 200, 200, 200, 200]),
    ("GET", "/events", [101, 101, 101, 101, 101]),
    ("GET", "/changes", [401, 200, 200, 200, 200]),
    ("POST", "/client-errors", [204, 204, 204, 204, 204]),
    ("GET", "/me", [401, 200, 200, 200, 200]),
    ("GET", "/users", [401, 200, 200, 200, 200]),
    ("POST", "/users", [401, 403, 403, 201, 201]),
    ("PATCH", "/users/{id}", [401, 403, 403, 200, 200]),
    ("POST", "/users/{id}/setup-code", [401, 403, 403, 200, 200]),
    ("POST", "/session", [200, 200, 200, 200, 200]),
    ("POST", "/session/setup", [200, 200, 200, 200, 200]),
    ("PUT", "/me/password", [401, 204, 204, 204, 403]),
    ("DELETE", "/me/sessions", [401, 204, 204, 204, 204]),
    ("DELETE", "/session", [401, 204, 204, 204, 204]),
];

#[test]
fn every_route_of_the_router_has_a_row_in_the_table() {
    let routed: BTreeSet<(String, String)> = casedesk_server::api_routes()
        .into_iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let tabled: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        routed.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes without a row: give each one its expected statuses"
    );
    assert_eq!(
        tabled.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rows of routes the router does not have"
    );
    assert_eq!(tabled.len(), TABLE.len(), "one row per route");
}

/// What the table's requests need: a token per column, a case each column may change, the
/// ids and setup codes of people to manage.
struct World {
    tokens: [Option<String>; 5],
    case: String,
    managed: String,
    /// Per column: `(email, setup code)` of a person who has not signed in yet.
    setup: Vec<(String, String)>,
    /// Per column: the email and password that column signs in with.
    sign_in: Vec<(String, String)>,
}

async fn send(server: &Server, method: Method, path: &str, token: Option<&str>) -> Value {
    let mut request = server.request(method, path);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {:?}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

async fn set_up(server: &Server) -> World {
    let service = Some(SERVICE_TOKEN);
    let users = send(server, Method::GET, "/api/v1/users", service).await;
    let id_of = |email: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    // Lee becomes a viewer; Sam is an agent, Dana an admin.
    let lee = id_of("lee@example.com");
    let made_viewer = server
        .request(Method::PATCH, &format!("/api/v1/users/{lee}"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made_viewer.status(), StatusCode::OK);
    let mut tokens: [Option<String>; 5] = Default::default();
    for (column, email) in [(1, "lee"), (2, "sam"), (3, "dana")] {
        let session = sign_in(server, &format!("{email}@example.com"), DEMO_PASSWORD).await;
        tokens[column] = session["token"].as_str().map(str::to_owned);
    }
    tokens[4] = Some(SERVICE_TOKEN.to_owned());
    let case = server
        .post_json("/api/v1/cases", &new_case("Shared by every column"))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(case.status(), StatusCode::CREATED);
    let case: Value = case.json().await.unwrap();
    let mut setup = Vec::new();
    for column in WHO {
        let email = format!("new-{column}@example.com");
        let added = server
            .post_json(
                "/api/v1/users",
                &json!({"email": email, "name": format!("New {column}"), "role": "agent"}),
            )
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), StatusCode::CREATED);
        let added: Value = added.json().await.unwrap();
        setup.push((email, added["setup_code"].as_str().unwrap().to_owned()));
    }
    let sign_in = WHO
        .iter()
        .map(|_| ("dana@example.com".to_owned(), DEMO_PASSWORD.to_owned()))
        .collect();
    World {
        tokens,
        case: case["id"].as_str().unwrap().to_owned(),
        managed: id_of("priya@example.com"),
        setup,
        sign_in,
    }
}

/// The request of one table cell, sent; its status.
async fn call(server: &Server, world: &World, column: usize, method: &str, path: &str) -> u16 {
    let token = world.tokens[column].as_deref();
    if path == "/events" {
        return upgrade(server, token).await;
    }
    let concrete = path
        .replace("/cases/{id}", &format!("/cases/{}", world.case))
        .replace("/users/{id}", &format!("/users/{}", world.managed));
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let body = match (method.as_str(), path) {
        ("POST", "/cases") => new_case("Made in the role table"),
        ("PATCH", "/cases/{id}") => json!({"status": "in_progress"}),
        ("POST", "/cases/{id}/notes") => json!({"id": Uuid::now_v7(), "body": "A note"}),
        ("POST", "/users") => json!({
            "email": format!("added-by-{}@example.com", WHO[column]),
            "name": "Added",
            "role": "viewer",
        }),
        ("PATCH", "/users/{id}") => json!({"name": format!("Priya {}", WHO[column])}),
        ("POST", "/client-errors") => json!({"message": "A crash in the role table"}),
        ("POST", "/session") => {
            let (email, password) = &world.sign_in[column];
            json!({"email": email, "password": password})
        }
        ("POST", "/session/setup") => {
            let (email, code) = &world.setup[column];
            json!({"email": email, "setup_code": code, "password": "a new passphrase"})
        }
        ("PUT", "/me/password") => json!({"current": DEMO_PASSWORD, "new": "another passphrase"}),
        _ => json!({}),
    };
    let mut request = server.request(method.clone(), &format!("/api/v1{concrete}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == Method::PATCH && path.starts_with("/cases") {
        request = request.header("If-Match", "*");
    }
    if method != Method::GET && method != Method::DELETE {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 403 {
        expect_error(response, 403, "forbidden").await;
    } else if status == 401 {
        expect_error(response, 401, "unauthorized").await;
    }
    status
}

/// Opens the events socket with the token in its upgrade, if any; the upgrade's status.
async fn upgrade(server: &Server, token: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server
        .ws_url("/api/v1/events")
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn each_role_gets_what_the_table_says_from_every_route() {
    let server = Server::start_demo(0, &["--auth-token", SERVICE_TOKEN]);
    let world = set_up(&server).await;
    let mut wrong = Vec::new();
    for (method, path, expected) in TABLE {
        for (column, expected) in expected.iter().enumerate() {
            let got = call(&server, &world, column, method, path).await;
            if got != *expected {
                wrong.push(format!(
                    "{method} {path} as {}: {got}, expected {expected}",
                    WHO[column]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
