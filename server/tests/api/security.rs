//! CORS for named origins (off by default).

use crate::support::{client, Server, SERVICE_TOKEN};
use reqwest::{Method, StatusCode};

const ORIGIN: &str = "http://127.0.0.1:8123";

#[tokio::test]
async fn a_named_origin_passes_preflight_and_sees_the_headers_it_needs() {
    let server = Server::start(&[
        "--cors-origin",
        ORIGIN,
        "--cors-origin",
        "http://other.test",
    ]);
    let response = client()
        .request(Method::OPTIONS, server.url("/api/v1/cases/x"))
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "content-type,if-match,idempotency-key,authorization,x-request-id",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    let methods = headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    for method in ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "content-type",
        "authorization",
        "if-match",
        "if-none-match",
        "idempotency-key",
        "x-request-id",
    ] {
        assert!(allowed.contains(header), "{allowed}");
    }

    let response = client()
        .get(server.url("/api/v1/cases"))
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["etag", "x-request-id", "retry-after"] {
        assert!(exposed.contains(header), "{exposed}");
    }
}

#[tokio::test]
async fn other_origins_get_no_cors_headers() {
    for args in [vec![], vec!["--cors-origin", ORIGIN]] {
        let server = Server::start(&args);
        let response = client()
            .get(server.url("/api/v1/cases"))
            .header("Origin", "http://evil.test")
            .send()
            .await
            .unwrap();
        assert!(response
            .headers()
            .get("access-control-allow-origin")
            .is_none());
    }
}

#[tokio::test]
async fn errors_carry_cors_headers_so_the_app_can_read_them() {
    let server = Server::start(&["--cors-origin", ORIGIN, "--auth-token", SERVICE_TOKEN]);
    let response = client()
        .get(server.url("/api/v1/cases"))
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
}
