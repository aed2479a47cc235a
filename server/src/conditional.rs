//! Conditional `GET`: every answer carries a strong `ETag` and `Cache-Control: no-cache`;
//! `If-None-Match` naming the current tag answers 304 without a body.
//!
//! A case's tag is its version (`"3"`); other resources hash their body (`"h-<hex>"`),
//! or a part of it that leaves out what changes on every call (metrics' `generated_at`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// A strong tag from a hash of `bytes` (128 bits of SHA-256).
pub(crate) fn hash_etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut tag = String::from("\"h-");
    for byte in &digest[..16] {
        // Writing to a String cannot fail.
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    tag
}

/// Whether `If-None-Match` names `etag` (or is `*`). The comparison is weak, as RFC 9110
/// asks for `If-None-Match`: `W/"x"` matches `"x"`.
pub(crate) fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let wanted = bare(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == wanted)
}

/// 200 with `body` (JSON), or 304 when the client already has `etag`.
pub(crate) fn respond(headers: &HeaderMap, etag: String, body: Vec<u8>) -> Response {
    let not_modified = none_match(headers, &etag);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::api::JSON_CONTENT_TYPE),
        );
        response
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let mut headers = HeaderMap::new();
        assert!(!none_match(&headers, "\"3\""));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"1\", W/\"3\""),
        );
        assert!(none_match(&headers, "\"3\""));
        assert!(!none_match(&headers, "\"2\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, "\"9\""));
        let tag = hash_etag(b"x");
        assert_eq!(tag.len(), 2 + 2 + 32);
        assert_ne!(tag, hash_etag(b"y"));
    }
}
