//! `--static-dir`: the built app with SPA fallback, CSP, caching and content types.

use crate::support::{expect_error, Server};
use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

const BOOTSTRAP: &str = "import init from '/casedesk-0123456789abcdef.js';await init();";

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let index = format!(
        "<!DOCTYPE html><html><head><link rel=\"modulepreload\" href=\"/casedesk-0123456789abcdef.js\">\
         <script type=\"module\">{BOOTSTRAP}</script></head><body></body></html>"
    );
    std::fs::write(dir.path().join("index.html"), index).unwrap();
    std::fs::write(
        dir.path().join("casedesk-0123456789abcdef.js"),
        "export default function init() {}\n".repeat(200),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("casedesk-0123456789abcdef_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sw.js"),
        "self.addEventListener('fetch', () => {});",
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn the_app_is_served_with_spa_fallback_csp_and_cache_rules() {
    let dir = site();
    let server = Server::start(&["--static-dir", dir.path().to_str().unwrap()]);

    let digest = Sha256::digest(BOOTSTRAP.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    for path in [
        "/",
        "/cases",
        "/cases/0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44",
        "/sync",
    ] {
        let response = server.get(path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(headers["cache-control"], "no-cache");
        let csp = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{csp}"
        );
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        let script_src = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script_src.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{csp}");
        assert!(response.text().await.unwrap().contains(BOOTSTRAP));
    }

    let response = server
        .get("/casedesk-0123456789abcdef_bg.wasm")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/wasm");
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(response.headers().contains_key("content-security-policy"));

    let response = server
        .get("/casedesk-0123456789abcdef.js")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert_eq!(response.headers()["content-encoding"], "gzip");

    let response = server.get("/sw.js").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-cache");

    // A missing file is a 404, not the app.
    let response = server.get("/missing.js").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The API is still the API, with JSON errors.
    let response = server.get("/api/v1/health").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server.get("/api/v2/anything").send().await.unwrap();
    expect_error(response, 404, "not_found").await;
    let response = server.get("/api/v1/nothing").send().await.unwrap();
    expect_error(response, 404, "not_found").await;
}
