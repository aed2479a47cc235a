//! Hostile answers: what a broken proxy or server sends instead of the real answer.
//!
//! A [`CorruptKind`] is either a *refusal* (401, 412, 429, 500, 503, a redirect), made by
//! [`refusal`] before the handler runs, so nothing changes, or a *garbling* of a
//! successful answer, made by [`garble`] after the handler ran: a change is committed and
//! its idempotency record holds the real answer, only the bytes on the wire are wrong.
//! Garbled answers carry no `ETag` (except `extra_fields`, a valid answer). A 204 has no
//! body to garble: the kinds that need one take the real body to be `{}` and answer 200
//! (hyper never sends a body with a 204).

use crate::error::{ApiError, PendingError};
use crate::request_id::RequestId;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use casedesk_model::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The kinds of hostile answer `corrupt` can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CorruptKind {
    /// The real status, JSON content type, half the real body plus bytes that are not JSON.
    InvalidJson,
    /// The real status, valid JSON of the real shape with every string a number, every
    /// number a string, every boolean a string, every null `false`.
    WrongTypes,
    /// 502 with a proxy's HTML error page.
    HtmlErrorPage,
    /// The real status, JSON content type, 32 MiB of valid JSON, chunked (no length).
    HugeBody,
    /// The real status announcing the full `Content-Length`, half the body, then the
    /// connection closes.
    TruncatedBody,
    /// The real status and body labelled `text/plain`.
    WrongContentType,
    /// 200 with an empty body.
    #[serde(rename = "empty_200")]
    Empty200,
    /// The real status, the real JSON wrapped in a one-element array.
    ArrayInsteadOfObject,
    /// The real status, the real JSON with every `id` (and a note's `case_id`) a fresh
    /// UUID: another case than the one asked about or written.
    OtherCase,
    /// 304 with no body and no `ETag`, though the request sent no `If-None-Match`.
    NotModifiedUncached,
    /// 204 with no body where the real answer has one.
    #[serde(rename = "empty_204")]
    Empty204,
    /// The real status, JSON content type, the body `null`.
    NullBody,
    /// The real answer (status, headers, `ETag`) with unknown fields added to each object.
    ExtraFields,
    /// The real status, each object's keys written twice: first with a wrong-typed value,
    /// then with the real one (last-wins parsers see the real answer, strict ones refuse).
    DuplicatedJsonKeys,
    /// The real status, the real body one byte per `drip_ms`, cut off after
    /// [`SLOW_DRIP_LIMIT`].
    SlowDrip,
    /// Refusal: 500 `internal` with our JSON error body.
    ServerErrorBody,
    /// Refusal: 401 `session_expired` with a JSON error body and `WWW-Authenticate`.
    Unauthorized,
    /// Refusal: 412 `version_conflict` whose body lacks `current`.
    PreconditionWithoutCurrent,
    /// Refusal: 429 `rate_limited` without `Retry-After`.
    RateLimitedNoRetryAfter,
    /// Refusal: 429 `rate_limited` with `Retry-After: 99999999`.
    RateLimitedHugeRetryAfter,
    /// Refusal: 503 `unavailable` whose `Retry-After` is an HTTP date `retry_after_s` ahead.
    RetryAfterDate,
    /// Refusal: 302 to `/login?next=<path>` with a small HTML body, as a login wall does.
    Redirect,
}

/// Marks a response chaos made on purpose, so no later layer "fixes" it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Corrupted;

/// The longest a slow drip keeps one connection busy; past it the connection is cut.
pub(crate) const SLOW_DRIP_LIMIT: Duration = Duration::from_secs(600);
/// The `Retry-After` of `rate_limited_huge_retry_after`: over three years.
pub(crate) const HUGE_RETRY_AFTER_S: u64 = 99_999_999;

const JSON: &str = "application/json; charset=utf-8";
const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center></body></html>\n";
const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><a href=\"/login\">Sign in</a></body></html>\n";
const HUGE_CHUNK: usize = 64 * 1024;
const HUGE_CHUNKS: usize = 512;

fn mark(mut response: Response) -> Response {
    response.extensions_mut().insert(Corrupted);
    response
}

fn answer(status: StatusCode, content_type: Option<&'static str>, body: Body) -> Response {
    let mut response = body.into_response();
    *response.status_mut() = status;
    response.headers_mut().remove(header::CONTENT_TYPE);
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    mark(response)
}

/// The answer of a refusal kind, made before the handler runs; `None` for the others.
pub(crate) fn refusal(
    kind: CorruptKind,
    request: &Request,
    retry_after_s: u64,
) -> Option<Response> {
    let response = match kind {
        CorruptKind::ServerErrorBody => {
            ApiError::Internal("injected failure (chaos), nothing was changed".into())
                .into_response()
        }
        CorruptKind::Unauthorized => session_expired(request),
        CorruptKind::PreconditionWithoutCurrent => {
            let mut response = StatusCode::PRECONDITION_FAILED.into_response();
            response.extensions_mut().insert(PendingError {
                code: ErrorCode::VersionConflict,
                message: "The case has changed (chaos: the current case is left out).".into(),
                fields: None,
                current: None,
            });
            response
        }
        CorruptKind::RateLimitedNoRetryAfter => {
            let mut response = ApiError::RateLimited {
                retry_after_secs: retry_after_s,
            }
            .into_response();
            response.headers_mut().remove(header::RETRY_AFTER);
            response
        }
        CorruptKind::RateLimitedHugeRetryAfter => ApiError::RateLimited {
            retry_after_secs: HUGE_RETRY_AFTER_S,
        }
        .into_response(),
        CorruptKind::RetryAfterDate => {
            let mut response =
                ApiError::Unavailable("Injected failure (chaos): nothing was changed.".into())
                    .into_response();
            let at = crate::clock::now_millis()
                .saturating_add(i64::try_from(retry_after_s.saturating_mul(1000)).unwrap_or(0));
            if let Some(date) = http_date(at).and_then(|d| HeaderValue::from_str(&d).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, date);
            }
            response
        }
        CorruptKind::Redirect => {
            // Inside the nested `/api/v1` router the URI has lost its prefix.
            let path = request
                .extensions()
                .get::<OriginalUri>()
                .map_or_else(|| request.uri().path(), |original| original.0.path());
            let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
            let mut response = answer(
                StatusCode::FOUND,
                Some("text/html; charset=utf-8"),
                Body::from(LOGIN_PAGE),
            );
            if let Ok(location) = HeaderValue::from_str(&format!("/login?next={next}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        _ => return None,
    };
    Some(mark(response))
}

/// 401 with the body a server gives for an expired session; the code is not one of ours
/// (`unauthorized`), as a sign-in layer in front of us would answer.
fn session_expired(request: &Request) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let body = serde_json::json!({"error": {
        "code": "session_expired",
        "message": "Your session has expired: sign in again.",
        "request_id": request_id,
    }});
    let mut response = answer(
        StatusCode::UNAUTHORIZED,
        Some(JSON),
        Body::from(body.to_string()),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix milliseconds.
fn http_date(unix_ms: i64) -> Option<String> {
    let at = casedesk_model::Timestamp::from_unix_millis(unix_ms)?.as_offset_date_time();
    let text = at
        .format(&time::format_description::well_known::Rfc2822)
        .ok()?;
    Some(text.replace("+0000", "GMT"))
}

/// A successful answer turned into the garbage of `kind`; see the module doc.
pub(crate) async fn garble(response: Response, kind: CorruptKind, drip_ms: u64) -> Response {
    let (mut parts, body) = response.into_parts();
    let original = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (status, real) = if parts.status == StatusCode::NO_CONTENT {
        (StatusCode::OK, Bytes::from_static(b"{}"))
    } else {
        (parts.status, original)
    };
    let parsed = || serde_json::from_slice::<Value>(&real).ok();
    let json = |body: Vec<u8>| answer(status, Some(JSON), Body::from(body));
    match kind {
        CorruptKind::InvalidJson => {
            let mut body = real.get(..real.len() / 2).unwrap_or_default().to_vec();
            body.extend_from_slice(b"\x00<<not json>>");
            json(body)
        }
        CorruptKind::WrongTypes => {
            let scrambled = parsed()
                .map(scramble)
                .unwrap_or_else(|| serde_json::json!({"items": 42}));
            json(serde_json::to_vec(&scrambled).unwrap_or_default())
        }
        CorruptKind::HtmlErrorPage => answer(
            StatusCode::BAD_GATEWAY,
            Some("text/html; charset=utf-8"),
            Body::from(HTML_ERROR_PAGE),
        ),
        CorruptKind::HugeBody => {
            let chunk = Bytes::from(vec![b'x'; HUGE_CHUNK]);
            let chunks = std::iter::once(Ok::<_, std::io::Error>(Bytes::from_static(
                b"{\"padding\":\"",
            )))
            .chain(std::iter::repeat_n(chunk, HUGE_CHUNKS).map(Ok))
            .chain(std::iter::once(Ok(Bytes::from_static(b"\"}"))));
            answer(
                status,
                Some(JSON),
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
        }
        CorruptKind::TruncatedBody => {
            let full = real.len();
            let half = real.slice(..full / 2);
            let stream = futures_util::stream::unfold(Some(half), |state| async move {
                match state {
                    Some(half) => Some((Ok(half), None)),
                    None => {
                        // Let the first half reach the client before the connection goes.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(std::io::Error::other("chaos: body truncated")), None))
                    }
                }
            });
            let mut response = answer(status, Some(JSON), Body::from_stream(stream));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
            response
        }
        CorruptKind::WrongContentType => {
            answer(status, Some("text/plain; charset=utf-8"), Body::from(real))
        }
        CorruptKind::Empty200 => answer(StatusCode::OK, Some(JSON), Body::empty()),
        CorruptKind::ArrayInsteadOfObject => {
            let mut body = b"[".to_vec();
            body.extend_from_slice(&real);
            body.push(b']');
            json(body)
        }
        CorruptKind::OtherCase => {
            let other = parsed()
                .map(other_case)
                .unwrap_or_else(|| serde_json::json!({"id": Uuid::new_v4()}));
            json(serde_json::to_vec(&other).unwrap_or_default())
        }
        CorruptKind::NotModifiedUncached => answer(StatusCode::NOT_MODIFIED, None, Body::empty()),
        CorruptKind::Empty204 => answer(StatusCode::NO_CONTENT, None, Body::empty()),
        CorruptKind::NullBody => json(b"null".to_vec()),
        CorruptKind::ExtraFields => {
            let Some(value) = parsed() else {
                return mark(Response::from_parts(parts, Body::from(real)));
            };
            let body = serde_json::to_vec(&extra_fields(value)).unwrap_or_default();
            parts.status = status;
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            mark(Response::from_parts(parts, Body::from(body)))
        }
        CorruptKind::DuplicatedJsonKeys => {
            let text =
                parsed().map_or_else(|| r#"{"id":1,"id":2}"#.to_owned(), |v| duplicated_keys(&v));
            json(text.into_bytes())
        }
        CorruptKind::SlowDrip => answer(status, Some(JSON), slow_drip(real, drip_ms)),
        CorruptKind::ServerErrorBody
        | CorruptKind::Unauthorized
        | CorruptKind::PreconditionWithoutCurrent
        | CorruptKind::RateLimitedNoRetryAfter
        | CorruptKind::RateLimitedHugeRetryAfter
        | CorruptKind::RetryAfterDate
        | CorruptKind::Redirect => {
            // Refusals answered before the handler ran; nothing to garble here.
            Response::from_parts(parts, Body::from(real))
        }
    }
}

/// The body one byte at a time, `drip_ms` apart, the first at once (so the status and
/// headers arrive promptly); cut off after [`SLOW_DRIP_LIMIT`] so that a client that
/// keeps listening cannot hold the server's task for ever. A client that hangs up drops
/// the stream, and with it the task.
fn slow_drip(body: Bytes, drip_ms: u64) -> Body {
    let drip = Duration::from_millis(drip_ms);
    let started = Instant::now();
    let stream = futures_util::stream::unfold(0usize, move |at| {
        let body = body.clone();
        async move {
            let byte = body.get(at..=at)?;
            if at > 0 {
                tokio::time::sleep(drip).await;
            }
            if started.elapsed() > SLOW_DRIP_LIMIT {
                let cut = std::io::Error::other("chaos: slow drip cut off");
                return Some((Err(cut), usize::MAX));
            }
            Some((Ok(Bytes::copy_from_slice(byte)), at + 1))
        }
    });
    Body::from_stream(stream)
}

/// Every scalar turned into the wrong type, recursively.
pub(crate) fn scramble(value: Value) -> Value {
    match value {
        Value::String(s) => Value::from(s.len()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Null => Value::Bool(false),
        Value::Array(items) => Value::Array(items.into_iter().map(scramble).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, scramble(v))).collect())
        }
    }
}

/// Fresh ids for every resource in the answer (a list's items, an array's elements).
fn other_case(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(other_case).collect()),
        Value::Object(mut map) => {
            if let Some(items) = map.remove("items") {
                map.insert("items".into(), other_case(items));
            } else {
                map.insert("id".into(), Value::String(Uuid::new_v4().to_string()));
                if map.contains_key("case_id") {
                    map.insert("case_id".into(), Value::String(Uuid::new_v4().to_string()));
                }
            }
            Value::Object(map)
        }
        other => other,
    }
}

/// Unknown fields added to the answer's object (a list's items and an array's elements
/// too), as a newer server or a decorating proxy would.
fn extra_fields(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(extra_fields).collect()),
        Value::Object(mut map) => {
            if let Some(items) = map.remove("items") {
                map.insert("items".into(), extra_fields(items));
            }
            map.insert("x_served_by".into(), Value::from("chaos-proxy/1.0"));
            map.insert("schema_version".into(), Value::from(99));
            map.insert(
                "_links".into(),
                serde_json::json!({"self": {"href": "/api/v1"}}),
            );
            Value::Object(map)
        }
        other => other,
    }
}

/// JSON text in which each object has every key twice: wrong-typed first, real last.
fn duplicated_keys(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let key = |k: &String| Value::String(k.clone()).to_string();
            let first = map
                .iter()
                .map(|(k, v)| format!("{}:{}", key(k), scramble(v.clone())));
            let last = map
                .iter()
                .map(|(k, v)| format!("{}:{}", key(k), duplicated_keys(v)));
            format!("{{{}}}", first.chain(last).collect::<Vec<_>>().join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(duplicated_keys)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrambling_changes_every_scalar_type() {
        let value = serde_json::json!({"a": "text", "b": 3, "c": [true, null]});
        assert_eq!(
            scramble(value),
            serde_json::json!({"a": 4, "b": "3", "c": ["true", false]})
        );
    }

    #[test]
    fn duplicated_keys_parse_last_wins_to_the_real_value() {
        let value = serde_json::json!({"id": "x", "n": {"v": 1}, "list": [{"a": true}]});
        let text = duplicated_keys(&value);
        assert_eq!(text.matches("\"id\":").count(), 2, "{text}");
        // serde_json's Value keeps the last of duplicate keys, as JSON.parse does.
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn other_case_changes_ids_and_extra_fields_keeps_them() {
        let list = serde_json::json!({"items": [{"id": "a"}], "total": 1});
        let other = other_case(list.clone());
        assert_ne!(other["items"][0]["id"], "a");
        assert_eq!(other["total"], 1);
        let extra = extra_fields(list);
        assert_eq!(extra["items"][0]["id"], "a");
        assert_eq!(extra["items"][0]["schema_version"], 99);
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(
            http_date(784_111_777_000).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
    }
}
