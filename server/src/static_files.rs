//! The built app (`--static-dir`), served at `/`.
//!
//! - Files are served as they are (tower-http's `ServeDir`: content types from the
//!   extension, `application/wasm` included; `.br`/`.gz` siblings used when present) and
//!   compressed on the fly otherwise (the router adds the compression layer).
//! - A path that is not a file and does not look like one (no `.` in its last segment) gets
//!   `index.html`: the SPA's router handles it. Paths under `/api` never do: they are 404
//!   JSON.
//! - Caching: Trunk's hashed names (`app-<16+ hex>.js`, `…_bg.wasm`) are immutable for a
//!   year; `index.html`, `sw.js` and everything else are `no-cache` (revalidated).
//! - Every answer carries a Content-Security-Policy allowing only same-origin scripts plus
//!   `'wasm-unsafe-eval'`. Trunk's bootstrap is an inline `<script type="module">`, so the
//!   policy sent with `index.html` also names the SHA-256 of each inline script in that
//!   very file, and nothing else inline.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::ServeDir;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// The folder of the built app.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    root: Arc<PathBuf>,
}

impl Site {
    pub(crate) fn new(root: PathBuf) -> Self {
        if !root.join("index.html").is_file() {
            tracing::warn!(
                root = %root.display(),
                "--static-dir has no index.html (yet); the app pages will be 404 until it does"
            );
        }
        Self {
            root: Arc::new(root),
        }
    }
}

/// The policy, with `extra_scripts` (hash sources) allowed besides same-origin files and
/// `extra_connect` (the API origins of the app's `config.json`) besides its own origin.
fn content_security_policy(extra_scripts: &str, extra_connect: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{extra_scripts}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'{extra_connect}; \
         object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// The API origins the app's `config.json` names (docs/api.md §5), as `connect-src` sources
/// (each also as its WebSocket origin): the app talks to them, so the page must be allowed
/// to. Anything that is not a plain `http(s)://host[:port]` origin is left out.
async fn config_connect_sources(site: &Site) -> String {
    #[derive(serde::Deserialize)]
    struct ConfigFile {
        #[serde(default)]
        api_origins: Vec<String>,
    }
    let Ok(text) = tokio::fs::read_to_string(site.root.join("config.json")).await else {
        return String::new();
    };
    let Ok(config) = serde_json::from_str::<ConfigFile>(&text) else {
        return String::new();
    };
    let mut sources = String::new();
    for origin in config.api_origins {
        let origin = origin.trim().trim_end_matches('/');
        let Some((scheme, rest)) = origin.split_once("://") else {
            continue;
        };
        let plain = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        let ws = match scheme {
            "http" => "ws",
            "https" => "wss",
            _ => continue,
        };
        if plain {
            sources.push_str(&format!(" {scheme}://{rest} {ws}://{rest}"));
        }
    }
    sources
}

/// `'sha256-…'` sources for the inline scripts (those without `src`) of an HTML page.
fn inline_script_hashes(html: &str) -> String {
    let mut sources = String::new();
    let mut rest = html;
    while let Some(start) = find_ascii_case_insensitive(rest, "<script") {
        rest = &rest[start + "<script".len()..];
        let Some(tag_end) = rest.find('>') else { break };
        let attributes = &rest[..tag_end];
        rest = &rest[tag_end + 1..];
        let Some(close) = find_ascii_case_insensitive(rest, "</script") else {
            break;
        };
        let content = &rest[..close];
        rest = &rest[close..];
        if find_ascii_case_insensitive(attributes, "src=").is_none() && !content.is_empty() {
            let digest = Sha256::digest(content.as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            sources.push_str(&format!(" 'sha256-{encoded}'"));
        }
    }
    sources
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a file name carries a content hash (Trunk: `name-0123456789abcdef.js`).
fn is_hashed_name(name: &str) -> bool {
    name.split(['-', '.', '_'])
        .any(|part| part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn looks_like_a_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// The fallback service of the whole router: the app, or JSON 404 for `/api/…`.
pub(crate) async fn serve(State(site): State<Site>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound("No such endpoint.".into()).into_response();
    }
    if path == "/" || path == "/index.html" {
        return index(&site).await;
    }
    let response = match ServeDir::new(site.root.as_path())
        .precompressed_br()
        .precompressed_gzip()
        .oneshot(request)
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(infallible) => match infallible {},
    };
    if response.status() == StatusCode::NOT_FOUND && !looks_like_a_file(&path) {
        return index(&site).await;
    }
    let name = path.rsplit('/').next().unwrap_or("");
    let cache = if response.status().is_success() && is_hashed_name(name) && name != "sw.js" {
        IMMUTABLE
    } else {
        NO_CACHE
    };
    finish(
        response,
        cache,
        content_security_policy("", &config_connect_sources(&site).await),
    )
}

async fn index(site: &Site) -> Response {
    let path = site.root.join("index.html");
    match tokio::fs::read_to_string(&path).await {
        Ok(html) => {
            let policy = content_security_policy(
                &inline_script_hashes(&html),
                &config_connect_sources(site).await,
            );
            let mut response = Body::from(html).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            finish(response, NO_CACHE, policy)
        }
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot read index.html");
            let response = (StatusCode::NOT_FOUND, "index.html is missing").into_response();
            finish(response, NO_CACHE, content_security_policy("", ""))
        }
    }
}

fn finish(mut response: Response, cache: &'static str, policy: String) -> Response {
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    // `nosniff`, `Referrer-Policy` and framing: the outermost layer (`security_headers`).
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = r#"<html><head><script src="/a.js"></script>
            <SCRIPT type="module">import init from '/app-0123456789abcdef.js';</SCRIPT></head></html>"#;
        let sources = inline_script_hashes(html);
        let digest = Sha256::digest(b"import init from '/app-0123456789abcdef.js';");
        let expected = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(sources, format!(" 'sha256-{expected}'"));
        assert_eq!(inline_script_hashes("<p>no scripts</p>"), "");
    }

    #[test]
    fn hashed_names_and_file_like_paths() {
        assert!(is_hashed_name("casedesk-1a2b3c4d5e6f7a8b_bg.wasm"));
        assert!(is_hashed_name("casedesk-1a2b3c4d5e6f7a8b.js"));
        assert!(!is_hashed_name("sw.js"));
        assert!(!is_hashed_name("index.html"));
        assert!(looks_like_a_file("/assets/x.css"));
        assert!(!looks_like_a_file(
            "/cases/0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44"
        ));
    }

    #[tokio::test]
    async fn config_json_origins_may_be_connected_to_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let site = Site::new(dir.path().to_path_buf());
        assert_eq!(config_connect_sources(&site).await, "");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"api_origins": ["https://a.example/", "http://127.0.0.1:3001", "javascript:x", "https://b.example; script-src *"]}"#,
        )
        .unwrap();
        assert_eq!(
            config_connect_sources(&site).await,
            " https://a.example wss://a.example http://127.0.0.1:3001 ws://127.0.0.1:3001"
        );
        std::fs::write(dir.path().join("config.json"), "<html>").unwrap();
        assert_eq!(config_connect_sources(&site).await, "");
    }
}
