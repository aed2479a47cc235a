//! The router driven in-process (`tower::ServiceExt::oneshot`, an in-memory database):
//! what only a peer address other than loopback can show, and a property test that throws
//! arbitrary requests at it.

use super::*;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use clap::Parser;
use proptest::prelude::*;
use tower::ServiceExt;
use uuid::Uuid;

fn config(extra: &[&str]) -> Config {
    let mut args = vec!["casedesk-server", "--db", ":memory:", "--no-seed-demo"];
    args.extend_from_slice(extra);
    Config::try_parse_from(args).unwrap()
}

async fn status_from(router: &Router, request: Request<Body>) -> StatusCode {
    router.clone().oneshot(request).await.unwrap().status()
}

fn from_peer(method: &str, path: &str, peer: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

#[tokio::test]
async fn chaos_answers_only_loopback_peers() {
    let Prepared { router, .. } = prepare(&config(&["--allow-chaos"])).await.unwrap();
    for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
        let status = status_from(&router, from_peer("GET", "/__chaos", peer)).await;
        assert_eq!(status, StatusCode::OK, "{peer}");
    }
    for peer in ["10.1.2.3:5000", "[2001:db8::1]:5000", "192.168.0.9:80"] {
        for method in ["GET", "PUT", "DELETE", "POST"] {
            let status = status_from(&router, from_peer(method, "/__chaos", peer)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} from {peer}");
        }
    }
    // No recorded peer at all is not loopback either.
    let request = Request::get("/__chaos").body(Body::empty()).unwrap();
    assert_eq!(status_from(&router, request).await, StatusCode::NOT_FOUND);
}

/// The service token of the property test's server.
const GOOD_TOKEN: &str = "good-service-token-of-32-characters";

/// One case the generated requests can hit by id.
const KNOWN_CASE: &str = "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44";

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        3 => Just(Method::GET),
        3 => Just(Method::POST),
        3 => Just(Method::PATCH),
        1 => Just(Method::PUT),
        1 => Just(Method::DELETE),
        1 => Just(Method::HEAD),
        1 => Just(Method::OPTIONS),
        1 => Just(Method::from_bytes(b"BREW").unwrap()),
    ]
}

/// Characters a path segment may hold unescaped, plus `%` for escapes good and bad.
const SEGMENT: &str = "[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,24}";

fn path() -> impl Strategy<Value = String> {
    let known = prop_oneof![
        Just("/".to_owned()),
        Just("/health".to_owned()),
        Just("/__chaos".to_owned()),
        Just("/api".to_owned()),
        Just("/api/v1".to_owned()),
        Just("/api/v1/health".to_owned()),
        Just("/api/v1/cases".to_owned()),
        Just("/api/v1/events".to_owned()),
        Just("/api/v1/dashboard/metrics".to_owned()),
        Just(format!("/api/v1/cases/{KNOWN_CASE}")),
        Just(format!("/api/v1/cases/{KNOWN_CASE}/notes")),
        Just(format!("/api/v1/cases/{}", Uuid::nil())),
    ];
    let query = prop_oneof![
        Just(String::new()),
        "\\?(status|priority|q|sort|page|per_page|assignee|token)=[A-Za-z0-9%_.-]{0,12}",
        "\\?[a-z_]{1,8}=[A-Za-z0-9%]{0,8}(&[a-z_]{1,8}=[A-Za-z0-9%]{0,8}){0,3}",
    ];
    let garbage_id = prop_oneof![
        SEGMENT.prop_map(|s| s.to_owned()),
        "(%[0-9A-Fa-f]{2}){1,12}",
        "%[G-Zg-z]{0,2}",
        "[a-z]{200,3000}",
        Just(format!("{KNOWN_CASE}%00")),
        Just(KNOWN_CASE.to_uppercase()),
    ];
    let under_cases = (
        garbage_id,
        prop_oneof![
            Just(String::new()),
            Just("/notes".to_owned()),
            Just("/history".to_owned()),
            SEGMENT.prop_map(|s| format!("/{s}")),
        ],
    )
        .prop_map(|(id, tail)| format!("/api/v1/cases/{id}{tail}"));
    let anywhere =
        proptest::collection::vec(SEGMENT, 1..5).prop_map(|s| format!("/{}", s.join("/")));
    (
        prop_oneof![4 => known, 3 => under_cases, 1 => anywhere],
        query,
    )
        .prop_map(|(path, query)| path + &query)
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just(String::new()),
        Just("\"1\"".to_owned()),
        Just("*".to_owned()),
        Just("W/\"1\"".to_owned()),
        Just("\"99999999999999999999999\"".to_owned()),
        Just(Uuid::new_v4().to_string()),
        Just("application/json".to_owned()),
        Just("application/json; charset=utf-8".to_owned()),
        Just("text/plain".to_owned()),
        Just("Bearer".to_owned()),
        Just("Bearer x".to_owned()),
        Just("Basic Zm9vOmJhcg==".to_owned()),
        "[ -~]{0,60}",
    ])
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let text = "[ -~\\PC]{0,80}";
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..300),
        text.prop_map(String::into_bytes),
        (text, text).prop_map(|(title, status)| serde_json::to_vec(&serde_json::json!({
            "id": KNOWN_CASE, "title": title, "status": status,
        }))
        .unwrap()),
        (text, any::<i64>(), proptest::collection::vec(text, 0..30)).prop_map(
            |(title, priority, tags)| serde_json::to_vec(&serde_json::json!({
                "id": Uuid::new_v4(), "title": title, "priority": priority, "tags": tags,
                "body": title, "description": null,
            }))
            .unwrap()
        ),
        Just(b"{\"id\":".to_vec()),
        Just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec()),
    ]
}

#[derive(Debug)]
struct Arbitrary {
    method: Method,
    path: String,
    if_match: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Arbitrary> {
    (
        method(),
        path(),
        header_value(),
        header_value(),
        // Mostly JSON, so that bodies get past the media type to the decoder.
        prop_oneof![
            3 => Just(Some("application/json".to_owned())),
            1 => header_value(),
        ],
        // Often the server's token, so that requests get past auth to the handlers.
        prop_oneof![
            2 => Just(Some(format!("Bearer {GOOD_TOKEN}"))),
            1 => header_value(),
        ],
        body(),
    )
        .prop_map(
            |(method, path, if_match, idempotency_key, content_type, authorization, body)| {
                Arbitrary {
                    method,
                    path,
                    if_match,
                    idempotency_key,
                    content_type,
                    authorization,
                    body,
                }
            },
        )
}

impl Arbitrary {
    /// The HTTP request, or `None` when the generated text is not a valid URI or header
    /// (hyper would refuse those before the router sees them).
    fn build(&self) -> Option<Request<Body>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(&self.path);
        for (name, value) in [
            (header::IF_MATCH, &self.if_match),
            (idempotency::IDEMPOTENCY_KEY, &self.idempotency_key),
            (header::CONTENT_TYPE, &self.content_type),
            (header::AUTHORIZATION, &self.authorization),
        ] {
            if let Some(value) = value {
                builder = builder.header(name, HeaderValue::from_str(value).ok()?);
            }
        }
        let mut request = builder.body(Body::from(self.body.clone())).ok()?;
        let peer: SocketAddr = "10.0.0.7:40000".parse().ok()?;
        request.extensions_mut().insert(ConnectInfo(peer));
        Some(request)
    }
}

#[test]
fn arbitrary_requests_never_panic_and_never_answer_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let router = runtime.block_on(async {
        let Prepared { router, .. } = prepare(&config(&[
            "--rate-limit-per-sec",
            "0",
            "--auth-token",
            GOOD_TOKEN,
        ]))
        .await
        .unwrap();
        let create = Request::post("/api/v1/cases")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}"))
            .body(Body::from(
                serde_json::json!({"id": KNOWN_CASE, "title": "Known"}).to_string(),
            ))
            .unwrap();
        assert_eq!(status_from(&router, create).await, StatusCode::CREATED);
        router
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    // Which statuses came back, so a strategy that only ever builds 404s shows.
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let result = runner.run(&request(), |arbitrary| {
        let Some(request) = arbitrary.build() else {
            return Ok(());
        };
        let response = runtime.block_on(router.clone().oneshot(request));
        let Ok(response) = response;
        let status = response.status();
        *seen.lock().unwrap().entry(status.as_u16()).or_default() += 1;
        prop_assert!(!status.is_server_error(), "{status} for {arbitrary:?}");
        // Every answer, whatever it is, is finished by the outer layers.
        prop_assert!(response.headers().contains_key("x-request-id"));
        prop_assert!(response.headers().contains_key("x-content-type-options"));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let seen = seen.into_inner().unwrap();
    eprintln!("statuses: {seen:?}");
    assert!(
        seen.values().sum::<usize>() >= 500,
        "too few valid requests: {seen:?}"
    );
    for expected in [200, 400, 401, 404] {
        assert!(seen.contains_key(&expected), "never {expected}: {seen:?}");
    }
}
