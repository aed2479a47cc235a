//! `--log-format json` (docs/api.md §7): a whole session against the real binary, every
//! line of its log a JSON object, every request line with its id, and no secret (token,
//! password, setup code) or body anywhere.

use crate::support::{add_user, db_in, new_case, sign_in, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple 7";
const WRONG_PASSWORD: &str = "incorrect pony 8";
const NEW_PASSWORD: &str = "a newcomer's own passphrase 9";
const SECRET_TITLE: &str = "Payroll dispute of Ms Example 4711";

#[tokio::test]
async fn json_logs_parse_line_by_line_name_each_request_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(dir.path(), "logs.db");
    let person = add_user(&db, "olive@example.com", "Olive Ops", "admin", PASSWORD);
    let log = dir.path().join("server.log");
    let server = Server::start_logging(
        &db,
        &[
            "--no-seed-demo",
            "--rate-limit-per-sec",
            "0",
            "--log-format",
            "json",
        ],
        &[("RUST_LOG", "info")],
        &log,
    );

    let refused = server
        .post_json(
            "/api/v1/session",
            &json!({"email": "olive@example.com", "password": WRONG_PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let session = sign_in(&server, "olive@example.com", PASSWORD).await;
    let token = session["token"].as_str().unwrap().to_owned();

    let mut body = new_case(SECRET_TITLE);
    body["description"] = json!("The body of a case is never logged either.");
    let created = server
        .post_json("/api/v1/cases", &body)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let create_id = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    let updated = server
        .request(Method::PATCH, &format!("/api/v1/cases/{id}"))
        .bearer_auth(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    // An admin adds a person, whose setup code signs them in with a password of their own.
    let added = server
        .post_json(
            "/api/v1/users",
            &json!({"email": "new@example.com", "name": "Nell New", "role": "agent"}),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let added: Value = added.json().await.unwrap();
    let setup_code = added["setup_code"].as_str().unwrap().to_owned();
    let newcomer = server
        .post_json(
            "/api/v1/session/setup",
            &json!({"email": "new@example.com", "setup_code": setup_code, "password": NEW_PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(newcomer.status(), StatusCode::OK);
    let newcomer: Value = newcomer.json().await.unwrap();
    let newcomer_token = newcomer["token"].as_str().unwrap().to_owned();

    let signed_out = server
        .request(Method::DELETE, "/api/v1/session")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    let after = server
        .get("/api/v1/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    // Each request's line is written before its answer leaves, so the log is complete.
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        token.as_str(),
        setup_code.as_str(),
        newcomer_token.as_str(),
        NEW_PASSWORD,
        PASSWORD,
        WRONG_PASSWORD,
        SECRET_TITLE,
    ] {
        assert!(!text.contains(secret), "the log holds `{secret}`:\n{text}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            for key in ["ts", "level", "msg"] {
                assert!(value[key].is_string(), "no {key}: {line}");
            }
            value
        })
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["msg"] == "request").collect();
    assert_eq!(requests.len(), 8, "one line per request:\n{text}");
    for line in &requests {
        assert!(
            line["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
        assert!(
            line["route"]
                .as_str()
                .is_some_and(|r| r.starts_with("/api/v1/")),
            "{line}"
        );
        assert!(line["status"].is_u64() && line["ms"].is_number(), "{line}");
    }
    let line = |method: &str, route: &str, status: u64| {
        requests
            .iter()
            .find(|l| l["method"] == method && l["route"] == route && l["status"] == status)
            .unwrap_or_else(|| panic!("no {method} {route} {status}:\n{text}"))
    };
    let create = line("POST", "/api/v1/cases", 201);
    assert_eq!(create["request_id"], create_id.as_str());
    for (method, route, status) in [
        ("POST", "/api/v1/session", 200),
        ("POST", "/api/v1/cases", 201),
        ("PATCH", "/api/v1/cases/{id}", 200),
        ("POST", "/api/v1/users", 201),
        ("DELETE", "/api/v1/session", 204),
    ] {
        assert_eq!(
            line(method, route, status)["person_id"],
            person.as_str(),
            "{method} {route}"
        );
    }
    assert!(line("POST", "/api/v1/session", 401)
        .get("person_id")
        .is_none());
    assert!(line("POST", "/api/v1/session/setup", 200)["request_id"].is_string());
}
