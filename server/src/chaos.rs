//! Fault injection for tests and demos, off by default (contract.md §1, "Fault injection").
//!
//! Applies to `/api/v1` requests only (not the events socket, `/__chaos` or static files):
//! - `fail_rate`: that fraction is answered 503 before touching data;
//! - `latency_ms: [MIN, MAX]`: each request is delayed by a uniform draw in that range;
//! - `drop_rate`: that fraction is handled (a change is committed, idempotency record
//!   included) and then the connection is closed without an answer;
//! - `corrupt` (our extension, for the app's hostile-input tests) with `corrupt_rate`
//!   (default 1): that fraction of successful `GET` answers is replaced by garbage of the
//!   named kind ([`CorruptKind`]);
//! - `status_429_rate` with `retry_after_s` (our extension, for the client's request budget):
//!   that fraction is answered 429 `rate_limited` with `Retry-After: retry_after_s` before
//!   touching data, as the real rate limiter answers (which tests run switched off).
//!
//! Settings come from the start-up flags and, with `--allow-chaos`, from `GET`/`PUT`/
//! `DELETE /__chaos`; without that flag those answer 404.

use crate::app::AppState;
use crate::body::{decode_json, read_body};
use crate::config::LatencyRange;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use casedesk_model::FieldErrors;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// The kinds of garbage `corrupt` can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CorruptKind {
    /// 200, JSON content type, a body that is not JSON.
    InvalidJson,
    /// 200, valid JSON of the wrong shape: every string becomes a number, every number a
    /// string, every boolean a string.
    WrongTypes,
    /// 502 with a proxy's HTML error page.
    HtmlErrorPage,
    /// 200, JSON content type, 32 MiB of valid JSON, chunked (no length announced).
    HugeBody,
    /// 200 announcing the full `Content-Length`, half the body, then the connection closes.
    TruncatedBody,
    /// 200, the right body labelled `text/plain`.
    WrongContentType,
    /// 200 with an empty body.
    #[serde(rename = "empty_200")]
    Empty200,
}

/// The current fault injection, as `GET /__chaos` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ChaosSettings {
    pub(crate) fail_rate: f64,
    pub(crate) latency_ms: [u64; 2],
    pub(crate) drop_rate: f64,
    pub(crate) corrupt: Option<CorruptKind>,
    pub(crate) corrupt_rate: f64,
    pub(crate) status_429_rate: f64,
    /// The `Retry-After` of an injected 429, in whole seconds.
    pub(crate) retry_after_s: u64,
}

/// The longest `Retry-After` an injected 429 may name: an hour, as for `latency_ms`'s bound,
/// only so that a typo cannot silence a client for days.
const MAX_RETRY_AFTER_S: u64 = 3_600;

impl ChaosSettings {
    pub(crate) fn off() -> Self {
        Self {
            fail_rate: 0.0,
            latency_ms: [0, 0],
            drop_rate: 0.0,
            corrupt: None,
            corrupt_rate: 0.0,
            status_429_rate: 0.0,
            retry_after_s: 1,
        }
    }
}

/// The body of `PUT /__chaos`: fields present replace the current ones, absent ones stay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChaosUpdate {
    fail_rate: Option<f64>,
    latency_ms: Option<[u64; 2]>,
    drop_rate: Option<f64>,
    #[serde(default, deserialize_with = "present_or_null")]
    corrupt: Option<Option<CorruptKind>>,
    corrupt_rate: Option<f64>,
    status_429_rate: Option<f64>,
    retry_after_s: Option<u64>,
}

fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ChaosUpdate {
    fn apply_to(self, current: &ChaosSettings) -> Result<ChaosSettings, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut next = current.clone();
        let mut rate = |field: &str, value: Option<f64>, target: &mut f64| {
            if let Some(value) = value {
                if value.is_finite() && (0.0..=1.0).contains(&value) {
                    *target = value;
                } else {
                    errors.insert(field, format!("`{value}` is not a rate from 0 to 1."));
                }
            }
        };
        rate("fail_rate", self.fail_rate, &mut next.fail_rate);
        rate("drop_rate", self.drop_rate, &mut next.drop_rate);
        if let Some(corrupt) = self.corrupt {
            next.corrupt = corrupt;
            next.corrupt_rate = if corrupt.is_some() { 1.0 } else { 0.0 };
        }
        rate("corrupt_rate", self.corrupt_rate, &mut next.corrupt_rate);
        rate(
            "status_429_rate",
            self.status_429_rate,
            &mut next.status_429_rate,
        );
        if let Some(seconds) = self.retry_after_s {
            if seconds <= MAX_RETRY_AFTER_S {
                next.retry_after_s = seconds;
            } else {
                errors.insert(
                    "retry_after_s",
                    format!("`{seconds}` is more than {MAX_RETRY_AFTER_S} seconds."),
                );
            }
        }
        if let Some([min, max]) = self.latency_ms {
            match LatencyRange::new(min, max) {
                Ok(_) => next.latency_ms = [min, max],
                Err(message) => errors.insert("latency_ms", message),
            }
        }
        errors.into_result().map(|()| next)
    }
}

/// The injector: settings plus a small random source.
pub(crate) struct Chaos {
    allowed: bool,
    settings: RwLock<ChaosSettings>,
    random: AtomicU64,
}

impl Chaos {
    pub(crate) fn new(allowed: bool, initial: ChaosSettings) -> Self {
        let seed = u64::try_from(crate::clock::now_millis()).unwrap_or(1) | 1;
        Self {
            allowed,
            settings: RwLock::new(initial),
            random: AtomicU64::new(seed),
        }
    }

    pub(crate) fn settings(&self) -> ChaosSettings {
        // A poisoned lock still holds valid settings (plain numbers).
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, settings: ChaosSettings) {
        *self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
    }

    /// A uniform draw in [0, 1) (SplitMix64; quality is ample for fault injection).
    fn draw(&self) -> f64 {
        let mut z = self
            .random
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn happens(&self, rate: f64) -> bool {
        rate > 0.0 && self.draw() < rate
    }
}

/// Marks a response chaos made on purpose, so no later layer "fixes" it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Corrupted;

/// The middleware on `/api/v1`.
pub(crate) async fn inject(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().ends_with("/events") {
        return next.run(request).await;
    }
    let chaos = &state.chaos;
    let settings = chaos.settings();
    if chaos.happens(settings.status_429_rate) {
        return ApiError::RateLimited {
            retry_after_secs: settings.retry_after_s,
        }
        .into_response();
    }
    if chaos.happens(settings.fail_rate) {
        return ApiError::Unavailable("Injected failure (chaos): nothing was changed.".into())
            .into_response();
    }
    let [min, max] = settings.latency_ms;
    if max > 0 {
        let span = (max - min) as f64;
        let delay = min + (chaos.draw() * (span + 1.0)).floor().min(span) as u64;
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let is_get = request.method() == Method::GET;
    let response = next.run(request).await;
    if chaos.happens(settings.drop_rate) {
        tracing::info!("chaos: dropping the connection after handling the request");
        return dropped_connection();
    }
    if let Some(kind) = settings.corrupt {
        if is_get && response.status() == StatusCode::OK && chaos.happens(settings.corrupt_rate) {
            return corrupt(response, kind).await;
        }
    }
    response
}

/// A response whose body fails at once: hyper then closes the connection before it has
/// written anything, so the client sees a connection error, not a status.
fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(std::future::ready(Err::<Bytes, _>(
        std::io::Error::other("chaos: connection dropped"),
    )));
    let mut response = Body::from_stream(failing).into_response();
    response.extensions_mut().insert(Corrupted);
    response
}

fn with_type(mut response: Response, content_type: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.extensions_mut().insert(Corrupted);
    response
}

const JSON: &str = "application/json; charset=utf-8";
const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center></body></html>\n";
const HUGE_CHUNK: usize = 64 * 1024;
const HUGE_CHUNKS: usize = 512;

async fn corrupt(response: Response, kind: CorruptKind) -> Response {
    let original = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let corrupted = match kind {
        CorruptKind::InvalidJson => {
            let cut = &original[..original.len() / 2];
            let mut body = cut.to_vec();
            body.extend_from_slice(b"\x00<<not json>>");
            with_type(Body::from(body).into_response(), JSON)
        }
        CorruptKind::WrongTypes => {
            let scrambled = serde_json::from_slice::<serde_json::Value>(&original)
                .map(scramble)
                .unwrap_or_else(|_| serde_json::json!({"items": 42}));
            let body = serde_json::to_vec(&scrambled).unwrap_or_default();
            with_type(Body::from(body).into_response(), JSON)
        }
        CorruptKind::HtmlErrorPage => {
            let mut response = Body::from(HTML_ERROR_PAGE).into_response();
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            with_type(response, "text/html; charset=utf-8")
        }
        CorruptKind::HugeBody => {
            let chunk = Bytes::from(vec![b'x'; HUGE_CHUNK]);
            let chunks = std::iter::once(Ok::<_, std::io::Error>(Bytes::from_static(
                b"{\"padding\":\"",
            )))
            .chain(std::iter::repeat_n(chunk, HUGE_CHUNKS).map(Ok))
            .chain(std::iter::once(Ok(Bytes::from_static(b"\"}"))));
            let body = Body::from_stream(futures_util::stream::iter(chunks));
            with_type(body.into_response(), JSON)
        }
        CorruptKind::TruncatedBody => {
            let full = original.len();
            let half = original.slice(..full / 2);
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
            let mut response = with_type(Body::from_stream(stream).into_response(), JSON);
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
            response
        }
        CorruptKind::WrongContentType => with_type(
            Body::from(original).into_response(),
            "text/plain; charset=utf-8",
        ),
        CorruptKind::Empty200 => with_type(Body::empty().into_response(), JSON),
    };
    corrupted
}

/// Every scalar turned into the wrong type, recursively.
fn scramble(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
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

/// `GET /__chaos`.
pub(crate) async fn show(State(state): State<AppState>) -> Result<Response, ApiError> {
    guard(&state)?;
    Ok(settings_response(&state.chaos.settings()))
}

/// `PUT /__chaos`.
pub(crate) async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    guard(&state)?;
    let bytes = read_body(body).await?;
    let update: ChaosUpdate = decode_json(&headers, &bytes)?;
    let next = update
        .apply_to(&state.chaos.settings())
        .map_err(|fields| ApiError::Validation {
            message: "Some chaos settings are out of range.".into(),
            fields,
        })?;
    tracing::info!(?next, "chaos settings changed");
    state.chaos.set(next.clone());
    Ok(settings_response(&next))
}

/// `DELETE /__chaos`: everything off.
pub(crate) async fn reset(State(state): State<AppState>) -> Result<Response, ApiError> {
    guard(&state)?;
    state.chaos.set(ChaosSettings::off());
    Ok(settings_response(&ChaosSettings::off()))
}

fn guard(state: &AppState) -> Result<(), ApiError> {
    if state.chaos.allowed {
        Ok(())
    } else {
        Err(ApiError::NotFound(
            "Fault injection is off: start the server with --allow-chaos.".into(),
        ))
    }
}

fn settings_response(settings: &ChaosSettings) -> Response {
    let body = serde_json::to_vec(settings).unwrap_or_default();
    let mut response = Body::from(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_merge_and_are_checked() {
        let off = ChaosSettings::off();
        let update: ChaosUpdate =
            serde_json::from_str(r#"{"fail_rate":0.5,"latency_ms":[1,5],"corrupt":"empty_200"}"#)
                .unwrap();
        let next = update.apply_to(&off).unwrap();
        assert_eq!(next.fail_rate, 0.5);
        assert_eq!(next.latency_ms, [1, 5]);
        assert_eq!(next.corrupt, Some(CorruptKind::Empty200));
        assert_eq!(next.corrupt_rate, 1.0);

        let update: ChaosUpdate = serde_json::from_str(r#"{"corrupt":null}"#).unwrap();
        let after = update.apply_to(&next).unwrap();
        assert_eq!(after.corrupt, None);
        assert_eq!(after.fail_rate, 0.5, "absent fields stay");

        let bad: ChaosUpdate =
            serde_json::from_str(r#"{"drop_rate":2,"latency_ms":[9,3]}"#).unwrap();
        let errors = bad.apply_to(&off).unwrap_err();
        assert!(errors.get("drop_rate").is_some() && errors.get("latency_ms").is_some());
        assert!(serde_json::from_str::<ChaosUpdate>(r#"{"corrupt":"gremlins"}"#).is_err());
        assert!(serde_json::from_str::<ChaosUpdate>(r#"{"fail":1}"#).is_err());

        let update: ChaosUpdate =
            serde_json::from_str(r#"{"status_429_rate":1,"retry_after_s":2}"#).unwrap();
        let limited = update.apply_to(&off).unwrap();
        assert_eq!((limited.status_429_rate, limited.retry_after_s), (1.0, 2));
        let bad: ChaosUpdate =
            serde_json::from_str(r#"{"status_429_rate":-0.5,"retry_after_s":86400}"#).unwrap();
        let errors = bad.apply_to(&off).unwrap_err();
        assert!(errors.get("status_429_rate").is_some() && errors.get("retry_after_s").is_some());
    }

    #[test]
    fn draws_are_uniform_enough() {
        let chaos = Chaos::new(true, ChaosSettings::off());
        let hits = (0..10_000).filter(|_| chaos.happens(0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| chaos.happens(0.0)));
        assert!((0..1000).all(|_| chaos.happens(1.0)));
    }

    #[test]
    fn scrambling_changes_every_scalar_type() {
        let value = serde_json::json!({"a": "text", "b": 3, "c": [true, null]});
        assert_eq!(
            scramble(value),
            serde_json::json!({"a": 4, "b": "3", "c": ["true", false]})
        );
    }
}
