//! Headers every answer carries, the API's (errors, 404s, 429s, 408s) as much as the app's
//! files, set by the outermost layer so no path can miss them:
//!
//! - `X-Content-Type-Options: nosniff`: a browser never guesses a type, so a JSON answer
//!   holding a case's text cannot be run as a script or rendered as HTML;
//! - `Referrer-Policy: no-referrer`: case ids in the app's URLs do not leak to other sites;
//! - `X-Frame-Options: DENY` and, where the answer has no policy of its own (the API's
//!   answers), `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`: no
//!   other page can frame us (clickjacking). The app's files keep their own policy, which
//!   already says `frame-ancestors 'none'` (see `static_files`).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// For answers that are data, not pages: nothing may load from them, nobody may frame them.
const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

pub(crate) async fn add(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CONTENT_SECURITY_POLICY),
        );
    }
    response
}
