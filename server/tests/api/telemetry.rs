//! `GET /metrics` (docs/api.md §7): only with `--metrics-token`, only for that token, in
//! Prometheus text format, its counters moving with what the server does.

use crate::support::{new_case, Server};
use futures_util::StreamExt;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

const METRICS_TOKEN: &str = "metrics-test-scrape-token-0123456789abcdef";
const SERVICE_TOKEN: &str = "telemetry-test-service-token-0123456789";

/// One sample line: its name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format's sample lines (comments skipped); panics on a malformed one.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
            };
            let Some((name, labels)) = series.split_once('{') else {
                return Sample {
                    name: series.to_owned(),
                    labels: BTreeMap::new(),
                    value,
                };
            };
            Sample {
                name: name.to_owned(),
                labels: parse_labels(labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"))),
                value,
            }
        })
        .collect()
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            return labels;
        }
        assert_eq!(
            chars.next(),
            Some('"'),
            "a quoted value for {name} in {text}"
        );
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("a dangling escape in {text}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// The value of the sample `name` whose labels include `labels`, if exactly one does.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    match found.as_slice() {
        [one] => Some(one.value),
        [] => None,
        many => panic!(
            "{} samples of {name} match {labels:?}: {many:?}",
            many.len()
        ),
    }
}

async fn scrape(server: &Server) -> (String, Vec<Sample>) {
    let response = server
        .get("/metrics")
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

#[tokio::test]
async fn metrics_are_404_without_the_flag_and_401_without_its_token() {
    let plain = Server::start(&[]);
    for token in [None, Some(METRICS_TOKEN)] {
        let mut request = plain.get("/metrics");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }

    let server = Server::start(&["--metrics-token", METRICS_TOKEN]);
    let missing = server.get("/metrics").send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = server
        .get("/metrics")
        .bearer_auth("metrics-test-scrape-token-0123456789abcdeF")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (text, samples) = scrape(&server).await;
    assert!(
        text.contains("# TYPE casedesk_http_requests_total counter"),
        "{text}"
    );
    // The refused scrapes are counted like any refusal.
    assert_eq!(
        value(
            &samples,
            "casedesk_http_refusals_total",
            &[("status", "401")]
        ),
        Some(2.0)
    );
}

#[test]
fn a_short_metrics_token_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .arg("--db")
        .arg(crate::support::db_in(dir.path(), "short.db"))
        .args(["--addr", "127.0.0.1:0", "--metrics-token", "scrape-me"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--metrics-token of 9 characters is refused"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_counters_move_with_requests_refusals_replays_and_sockets() {
    let server = Server::start(&[
        "--auth-token",
        SERVICE_TOKEN,
        "--metrics-token",
        METRICS_TOKEN,
        "--ws-max-per-peer",
        "1",
    ]);
    let (_, before) = scrape(&server).await;
    assert_eq!(
        value(&before, "casedesk_idempotent_replays_total", &[]),
        Some(0.0)
    );

    // A case created, and created again with the same key: one replay.
    let body = new_case("Counted");
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let response = server
            .post_json("/api/v1/cases", &body)
            .bearer_auth(SERVICE_TOKEN)
            .header("Idempotency-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let id = body["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let response = server
            .get(&format!("/api/v1/cases/{id}"))
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A search: its ids go through the shared read cache.
    let list = server
        .get("/api/v1/cases?q=count")
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    // Refusals: no token (401), a foreign origin (403), a second socket (429).
    let anonymous = server.get("/api/v1/cases").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let foreign = server
        .post_json("/api/v1/cases", &new_case("Cross-site"))
        .bearer_auth(SERVICE_TOKEN)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let socket_request = || {
        let mut request = server
            .ws_url("/api/v1/events")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {SERVICE_TOKEN}").parse().unwrap(),
        );
        request
    };
    let (mut socket, _) = tokio_tungstenite::connect_async(socket_request())
        .await
        .expect("the first socket opens");
    match tokio_tungstenite::connect_async(socket_request()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("a second socket from one peer is refused, got {other:?}"),
    }

    let (text, after) = scrape(&server).await;
    let requests = |method: &str, route: &str, status: &str| {
        value(
            &after,
            "casedesk_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("POST", "/api/v1/cases", "201"), Some(2.0));
    assert_eq!(requests("GET", "/api/v1/cases/{id}", "200"), Some(2.0));
    assert_eq!(requests("GET", "/api/v1/cases", "401"), Some(1.0));
    assert_eq!(requests("POST", "/api/v1/cases", "403"), Some(1.0));
    assert_eq!(requests("GET", "/api/v1/events", "429"), Some(1.0));
    assert_eq!(
        value(
            &after,
            "casedesk_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/api/v1/cases/{id}")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &after,
            "casedesk_http_request_duration_seconds_bucket",
            &[
                ("method", "GET"),
                ("route", "/api/v1/cases/{id}"),
                ("le", "+Inf")
            ]
        ),
        Some(2.0)
    );
    for (status, n) in [("401", 1.0), ("403", 1.0), ("429", 1.0)] {
        assert_eq!(
            value(
                &after,
                "casedesk_http_refusals_total",
                &[("status", status)]
            ),
            Some(n),
            "refusals {status}"
        );
    }
    assert_eq!(
        value(&after, "casedesk_idempotent_replays_total", &[]),
        Some(1.0)
    );
    let gauge = |name: &str| value(&after, name, &[]).unwrap_or_else(|| panic!("{name}"));
    assert!(
        gauge("casedesk_http_requests_in_flight") >= 1.0,
        "the scrape itself"
    );
    assert_eq!(gauge("casedesk_event_sockets_open"), 1.0);
    assert!(
        gauge("casedesk_connections_open") >= 2.0,
        "the socket's and the scrape's"
    );
    assert!(
        gauge("casedesk_read_cache_entries") >= 1.0,
        "the search's ids"
    );
    assert!(gauge("casedesk_read_cache_bytes") >= 1.0);
    assert_eq!(gauge("casedesk_sign_in_checks_in_flight"), 0.0);
    assert!(gauge("casedesk_db_pool_waits_total") >= 0.0);
    assert!(gauge("casedesk_db_pool_wait_seconds_total") >= 0.0);
    assert!(
        !text.contains(&id),
        "routes are templates, never a raw path with an id"
    );

    // The socket closes: the gauge follows.
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    let mut open = 1.0;
    for _ in 0..500 {
        let (_, samples) = scrape(&server).await;
        open = value(&samples, "casedesk_event_sockets_open", &[]).unwrap();
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(open, 0.0, "a closed socket is no longer counted");
}
