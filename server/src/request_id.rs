//! The outermost layer: gives every request an id and finishes every error response.
//!
//! - The id is the incoming `X-Request-ID` when it is sane (1–128 characters of
//!   `[A-Za-z0-9-_.]`), else a new UUID; it is in a request extension for logs and in
//!   the response's `X-Request-ID` header.
//! - An [`ApiError`](crate::error::ApiError) response gets its JSON body here, with the id.
//! - Under `/api` and `/__chaos`, an error response some other layer made without our body
//!   (axum's 404/405, tower-http's 413) is given the contract's JSON error body too, so
//!   the API never answers plain text. Responses chaos made on purpose are left alone.

use crate::chaos::Corrupted;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(crate) async fn assign_and_finish(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let path = request.uri().path();
    let is_api = path == "/api" || path.starts_with("/api/") || path.starts_with("/__chaos");
    request.extensions_mut().insert(RequestId(id.clone()));

    let mut response = next.run(request).await;

    let pending = response
        .extensions_mut()
        .remove::<crate::error::PendingError>();
    let status = response.status();
    let foreign_error = is_api
        && (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<Corrupted>().is_none()
        && !is_json(&response);
    let pending =
        pending.or_else(|| foreign_error.then(|| ApiError::for_status(status).into_parts().2));
    if let Some(pending) = pending {
        let body = pending.render(&id);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::api::JSON_CONTENT_TYPE),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        *response.body_mut() = Body::from(body);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_echoed() {
        assert!(is_sane("abc-DEF_1.2"));
        assert!(is_sane(&"a".repeat(128)));
        assert!(!is_sane(&"a".repeat(129)));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("a\"b"));
    }
}
