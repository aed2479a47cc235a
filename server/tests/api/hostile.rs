//! Hostile answers (`corrupt`, `corrupt_on`, `corrupt_socket`): every kind on reads and
//! writes, and what a write under a hostile answer leaves behind.

use crate::support::{expect_error, new_case, Server};
use casedesk_model::ChangeEvent;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// The kinds that garble a successful answer (after a write is committed).
const GARBLING: &[&str] = &[
    "invalid_json",
    "wrong_types",
    "html_error_page",
    "huge_body",
    "truncated_body",
    "wrong_content_type",
    "empty_200",
    "array_instead_of_object",
    "other_case",
    "not_modified_uncached",
    "empty_204",
    "null_body",
    "extra_fields",
    "duplicated_json_keys",
    "slow_drip",
];

/// The kinds that refuse the request before it touches data.
const REFUSING: &[&str] = &[
    "server_error_body",
    "unauthorized",
    "precondition_without_current",
    "rate_limited_no_retry_after",
    "rate_limited_huge_retry_after",
    "retry_after_date",
    "redirect",
];

/// A client that shows redirects instead of following them.
fn raw_client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn chaos(server: &Server, body: Value) {
    let response = raw_client()
        .put(server.url("/__chaos"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{body}");
}

/// An answer as it came over the wire; `body` is `None` when it broke off.
struct Wire {
    status: u16,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl Wire {
    async fn read(request: RequestBuilder) -> Self {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.ok().map(|b| b.to_vec());
        Self {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    fn bytes(&self) -> &[u8] {
        self.body.as_deref().expect("a whole body")
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(self.bytes()).ok()
    }
}

/// The real answer a garbled one stands for: status, JSON body (`{}` for a 204), ETag.
struct Real {
    status: u16,
    body: Value,
    etag: Option<String>,
}

/// Asserts that `wire` is what garbling `kind` makes of `real` (see server/README.md).
fn check_garbled(kind: &str, wire: &Wire, real: &Real) {
    let status = if real.status == 204 { 200 } else { real.status };
    let context = format!(
        "{kind}: {} {:?}",
        wire.status,
        wire.body
            .as_ref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
    );
    let json_type = || {
        assert!(
            wire.content_type().starts_with("application/json"),
            "{context}"
        )
    };
    if kind != "extra_fields" {
        assert!(wire.header("etag").is_none(), "{context}");
    }
    match kind {
        "invalid_json" => {
            assert_eq!(wire.status, status, "{context}");
            json_type();
            assert!(wire.json().is_none(), "{context}");
        }
        "wrong_types" => {
            assert_eq!(wire.status, status, "{context}");
            let value = wire.json().expect("JSON");
            // A 204's stand-in `{}` has no scalar to scramble.
            if real.body != json!({}) {
                assert_ne!(value, real.body, "{context}");
            }
            if real.body.get("version").is_some() {
                assert!(value["version"].is_string(), "{context}");
            }
        }
        "html_error_page" => {
            assert_eq!(wire.status, 502, "{context}");
            assert!(wire.content_type().starts_with("text/html"), "{context}");
            assert!(String::from_utf8_lossy(wire.bytes()).contains("<html>"));
        }
        "huge_body" => {
            assert_eq!(wire.status, status, "{context}");
            assert!(wire.header("content-length").is_none(), "{context}");
            assert!(wire.bytes().len() > 32 * 1024 * 1024, "{context}");
        }
        "truncated_body" => {
            assert_eq!(wire.status, status, "{context}");
            let announced: usize = wire.header("content-length").unwrap().parse().unwrap();
            assert_eq!(announced, serde_json::to_vec(&real.body).unwrap().len());
            assert!(wire.body.is_none(), "the body must break off: {context}");
        }
        "wrong_content_type" => {
            assert_eq!(wire.status, status, "{context}");
            assert!(wire.content_type().starts_with("text/plain"), "{context}");
            assert_eq!(wire.json().as_ref(), Some(&real.body), "{context}");
        }
        "empty_200" => {
            assert_eq!(wire.status, 200, "{context}");
            assert!(wire.bytes().is_empty(), "{context}");
        }
        "array_instead_of_object" => {
            assert_eq!(wire.status, status, "{context}");
            assert_eq!(wire.json(), Some(json!([real.body])), "{context}");
        }
        "other_case" => {
            assert_eq!(wire.status, status, "{context}");
            let value = wire.json().expect("JSON");
            let id = value["id"].as_str().expect("an id");
            assert!(Uuid::parse_str(id).is_ok(), "{context}");
            assert_ne!(value["id"], real.body["id"], "{context}");
            if let Some(title) = real.body.get("title") {
                assert_eq!(&value["title"], title, "the rest is as it was: {context}");
            }
        }
        "not_modified_uncached" => {
            assert_eq!(wire.status, 304, "{context}");
            assert!(wire.bytes().is_empty(), "{context}");
        }
        "empty_204" => {
            assert_eq!(wire.status, 204, "{context}");
            assert!(wire.bytes().is_empty(), "{context}");
        }
        "null_body" => {
            assert_eq!(wire.status, status, "{context}");
            json_type();
            assert_eq!(wire.bytes(), b"null", "{context}");
        }
        "extra_fields" => {
            assert_eq!(wire.status, status, "{context}");
            json_type();
            let value = wire.json().expect("JSON");
            let extra = value.as_object().expect("an object");
            for (key, real_value) in real.body.as_object().unwrap() {
                assert_eq!(extra.get(key), Some(real_value), "{context}");
            }
            assert_eq!(value["schema_version"], 99, "{context}");
            assert_eq!(wire.header("etag"), real.etag.as_deref(), "{context}");
            if real.body.get("version").is_some() {
                // A lenient reader (unknown fields ignored) takes it as the real answer.
                let case: casedesk_model::Case = serde_json::from_value(value).unwrap();
                assert_eq!(serde_json::to_value(case).unwrap(), real.body);
            }
        }
        "duplicated_json_keys" => {
            assert_eq!(wire.status, status, "{context}");
            json_type();
            // serde_json's Value keeps the last duplicate, as JSON.parse does.
            assert_eq!(wire.json().as_ref(), Some(&real.body), "{context}");
            if let Some(id) = real.body.get("id") {
                let text = String::from_utf8_lossy(wire.bytes()).into_owned();
                assert_eq!(text.matches("\"id\":").count(), 2, "{context}");
                assert!(text.contains(&format!("\"id\":{}", id.as_str().unwrap().len())));
                assert!(serde_json::from_str::<casedesk_model::Case>(&text).is_err());
            }
        }
        "slow_drip" => {
            assert_eq!(wire.status, status, "{context}");
            assert_eq!(wire.json().as_ref(), Some(&real.body), "{context}");
        }
        other => panic!("not a garbling kind: {other}"),
    }
}

/// Asserts the answer of a refusal `kind`.
async fn check_refusal(kind: &str, response: reqwest::Response) {
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match kind {
        "server_error_body" => {
            expect_error(response, 500, "internal").await;
        }
        "unauthorized" => {
            assert_eq!(
                header("www-authenticate").as_deref(),
                Some("Bearer error=\"invalid_token\"")
            );
            expect_error(response, 401, "session_expired").await;
        }
        "precondition_without_current" => {
            let body = expect_error(response, 412, "version_conflict").await;
            assert!(body.get("current").is_none(), "{body}");
        }
        "rate_limited_no_retry_after" => {
            assert_eq!(header("retry-after"), None);
            expect_error(response, 429, "rate_limited").await;
        }
        "rate_limited_huge_retry_after" => {
            assert_eq!(header("retry-after").as_deref(), Some("99999999"));
            expect_error(response, 429, "rate_limited").await;
        }
        "retry_after_date" => {
            let date = header("retry-after").unwrap();
            assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
            assert!(date.parse::<u64>().is_err(), "{date}");
            expect_error(response, 503, "unavailable").await;
        }
        "redirect" => {
            assert_eq!(response.status().as_u16(), 302);
            let location = header("location").unwrap();
            assert!(
                location.starts_with("/login?next=%2Fapi%2Fv1%2F"),
                "{location}"
            );
            assert!(header("content-type").unwrap().starts_with("text/html"));
        }
        other => panic!("not a refusal kind: {other}"),
    }
}

#[tokio::test]
async fn every_kind_answers_reads_as_documented() {
    let server = Server::start(&["--allow-chaos"]);
    let case = server.create(new_case("Read me")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    let real = Real {
        status: 200,
        etag: Some("\"1\"".into()),
        body: case,
    };
    chaos(&server, json!({"drip_ms": 1})).await;
    for kind in GARBLING {
        chaos(&server, json!({"corrupt": kind})).await;
        let wire = Wire::read(raw_client().get(server.url(&path))).await;
        check_garbled(kind, &wire, &real);
    }
    for kind in REFUSING {
        chaos(&server, json!({"corrupt": kind})).await;
        check_refusal(
            kind,
            raw_client().get(server.url(&path)).send().await.unwrap(),
        )
        .await;
    }
    // A list: other_case changes each item's id, extra_fields decorates each item.
    chaos(&server, json!({"corrupt": "other_case"})).await;
    let list = Wire::read(raw_client().get(server.url("/api/v1/cases"))).await;
    let list = list.json().unwrap();
    assert_eq!(list["total"], 1);
    assert_ne!(list["items"][0]["id"], real.body["id"]);
    chaos(&server, json!({"corrupt": "extra_fields"})).await;
    let list = Wire::read(raw_client().get(server.url("/api/v1/cases"))).await;
    assert_eq!(list.json().unwrap()["items"][0]["schema_version"], 99);

    // corrupt_on "writes" leaves reads alone.
    chaos(
        &server,
        json!({"corrupt": "invalid_json", "corrupt_on": "writes"}),
    )
    .await;
    let wire = Wire::read(raw_client().get(server.url(&path))).await;
    assert_eq!(wire.json(), Some(real.body.clone()));
}

/// One write, its key, and how to see that it was applied exactly once.
#[derive(Clone, Copy, Debug)]
enum Write {
    Create,
    Edit,
    Note,
    Delete,
}

const WRITES: [Write; 4] = [Write::Create, Write::Edit, Write::Note, Write::Delete];

impl Write {
    /// Makes what the write needs (with chaos off) and returns the request to send.
    async fn prepare(
        self,
        server: &Server,
    ) -> (Method, String, Value, Option<&'static str>, String) {
        let case = new_case("Target");
        let id = case["id"].as_str().unwrap().to_owned();
        if !matches!(self, Write::Create) {
            server.create(case.clone()).await;
        }
        match self {
            Write::Create => (Method::POST, "/api/v1/cases".into(), case, None, id),
            Write::Edit => (
                Method::PATCH,
                format!("/api/v1/cases/{id}"),
                json!({"status": "resolved"}),
                Some("\"1\""),
                id,
            ),
            Write::Note => (
                Method::POST,
                format!("/api/v1/cases/{id}/notes"),
                json!({"id": Uuid::now_v7(), "body": "noted"}),
                None,
                id,
            ),
            Write::Delete => (
                Method::DELETE,
                format!("/api/v1/cases/{id}"),
                Value::Null,
                None,
                id,
            ),
        }
    }

    /// Asserts the write's effect is there exactly once (`applied`) or not at all.
    async fn check_state(self, server: &Server, id: &str, applied: bool) {
        let case = raw_client()
            .get(server.url(&format!("/api/v1/cases/{id}")))
            .send()
            .await
            .unwrap();
        match self {
            Write::Create => {
                assert_eq!(
                    case.status().as_u16(),
                    if applied { 200 } else { 404 },
                    "{self:?}"
                );
            }
            Write::Edit => {
                let case: Value = case.json().await.unwrap();
                let (version, status) = if applied {
                    (2, "resolved")
                } else {
                    (1, "open")
                };
                assert_eq!(
                    (case["version"].as_u64(), case["status"].as_str()),
                    (Some(version), Some(status)),
                    "{self:?}"
                );
            }
            Write::Note => {
                let notes: Value = raw_client()
                    .get(server.url(&format!("/api/v1/cases/{id}/notes")))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(
                    notes.as_array().unwrap().len(),
                    usize::from(applied),
                    "{self:?}"
                );
            }
            Write::Delete => {
                assert_eq!(
                    case.status().as_u16(),
                    if applied { 404 } else { 200 },
                    "{self:?}"
                );
            }
        }
    }
}

fn write_request(
    server: &Server,
    method: &Method,
    path: &str,
    body: &Value,
    if_match: Option<&str>,
    key: &str,
) -> RequestBuilder {
    let mut request = raw_client()
        .request(method.clone(), server.url(path))
        .header("Idempotency-Key", key);
    if !body.is_null() {
        request = request.json(body);
    }
    if let Some(version) = if_match {
        request = request.header("If-Match", version);
    }
    request
}

#[tokio::test]
async fn garbled_writes_are_committed_once_and_a_replay_gives_the_real_answer() {
    let server = Server::start(&["--allow-chaos"]);
    for kind in GARBLING {
        for write in WRITES {
            chaos(&server, json!({"corrupt": null})).await;
            let (method, path, body, if_match, id) = write.prepare(&server).await;
            let key = Uuid::new_v4().to_string();
            chaos(
                &server,
                json!({"corrupt": kind, "corrupt_on": "writes", "drip_ms": 1}),
            )
            .await;
            let wire = Wire::read(write_request(
                &server, &method, &path, &body, if_match, &key,
            ))
            .await;
            chaos(&server, json!({"corrupt": null})).await;
            write.check_state(&server, &id, true).await;

            let replay = Wire::read(write_request(
                &server, &method, &path, &body, if_match, &key,
            ))
            .await;
            assert_eq!(
                replay.header("idempotent-replayed"),
                Some("true"),
                "{kind} {write:?}"
            );
            let expected = match write {
                Write::Create | Write::Note => 201,
                Write::Edit => 200,
                Write::Delete => 204,
            };
            assert_eq!(replay.status, expected, "{kind} {write:?}");
            let real = Real {
                status: replay.status,
                body: if replay.status == 204 {
                    json!({})
                } else {
                    replay.json().expect("a JSON replay")
                },
                etag: replay.header("etag").map(str::to_owned),
            };
            if let Write::Create = write {
                assert_eq!(real.body["id"], id.as_str());
            }
            check_garbled(kind, &wire, &real);
            write.check_state(&server, &id, true).await;
        }
    }
}

#[tokio::test]
async fn refused_writes_change_nothing_and_the_key_stays_unused() {
    let server = Server::start(&["--allow-chaos"]);
    for kind in REFUSING {
        for write in WRITES {
            chaos(&server, json!({"corrupt": null})).await;
            let (method, path, body, if_match, id) = write.prepare(&server).await;
            let key = Uuid::new_v4().to_string();
            chaos(&server, json!({"corrupt": kind, "corrupt_on": "all"})).await;
            let response = write_request(&server, &method, &path, &body, if_match, &key)
                .send()
                .await
                .unwrap();
            check_refusal(kind, response).await;
            chaos(&server, json!({"corrupt": null})).await;
            write.check_state(&server, &id, false).await;

            let retry = Wire::read(write_request(
                &server, &method, &path, &body, if_match, &key,
            ))
            .await;
            assert!(
                retry.header("idempotent-replayed").is_none(),
                "{kind} {write:?}"
            );
            assert!(
                (200..300).contains(&retry.status),
                "{kind} {write:?}: {}",
                retry.status
            );
            write.check_state(&server, &id, true).await;
        }
    }
}

#[tokio::test]
async fn a_slow_drip_sends_one_byte_at_a_time() {
    let server = Server::start(&["--allow-chaos"]);
    let case = server.create(new_case("Drip")).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    chaos(&server, json!({"corrupt": "slow_drip", "drip_ms": 2})).await;
    let mut response = raw_client().get(server.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("content-length").is_none());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        assert_eq!(chunk.len(), 1, "one byte per chunk");
        body.extend_from_slice(&chunk);
    }
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), case);

    // At the default pace (a byte a second) the client has the head and a first byte,
    // and the rest is still to come; hanging up frees the server.
    chaos(&server, json!({"drip_ms": 1000})).await;
    let mut response = raw_client().get(server.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.chunk().await.unwrap().as_deref(), Some(&b"{"[..]));
    drop(response);
    chaos(&server, json!({"corrupt": null})).await;
    assert_eq!(
        server.list("").await["total"],
        1,
        "the server still answers"
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a frame in time")
        .expect("the socket is open")
        .expect("a frame")
}

#[tokio::test]
async fn the_socket_sends_malformed_frames_and_duplicates_on_request() {
    let server = Server::start(&["--allow-chaos"]);
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/events"))
        .await
        .unwrap();

    chaos(&server, json!({"corrupt_socket": "malformed"})).await;
    let case = server.create(new_case("Noisy")).await;
    let mut garbage = Vec::new();
    let event = loop {
        match next_frame(&mut socket).await {
            Message::Text(text) => match serde_json::from_str::<ChangeEvent>(&text) {
                Ok(event) => break event,
                Err(_) => garbage.push(format!("text {text}")),
            },
            Message::Binary(bytes) => garbage.push(format!("binary {bytes:?}")),
            other => panic!("{other:?}"),
        }
    };
    assert!(matches!(event, ChangeEvent::CaseCreated { id, .. } if id.to_string() == case["id"]));
    assert_eq!(garbage.len(), 7, "{garbage:?}");
    assert!(
        garbage.iter().any(|g| g.starts_with("binary")),
        "{garbage:?}"
    );
    assert!(
        garbage.iter().any(|g| g.contains("case.teleported")),
        "{garbage:?}"
    );
    assert!(garbage.contains(&"text ".to_owned()), "{garbage:?}");

    chaos(&server, json!({"corrupt_socket": "duplicated"})).await;
    server.create(new_case("Twice")).await;
    let first = next_frame(&mut socket).await;
    let second = next_frame(&mut socket).await;
    assert_eq!(first, second);
    let Message::Text(text) = first else {
        panic!("{first:?}")
    };
    assert!(text.contains("case.created"), "{text}");

    chaos(&server, json!({"corrupt_socket": null})).await;
    server.create(new_case("Once")).await;
    let Message::Text(text) = next_frame(&mut socket).await else {
        panic!()
    };
    assert!(serde_json::from_str::<ChangeEvent>(&text).is_ok());
}
