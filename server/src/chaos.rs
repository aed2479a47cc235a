//! Fault injection for tests and demos, off by default (docs/api.md §1, "Fault injection").
//!
//! Applies to `/api/v1` requests only (not `/__chaos` or static files):
//! - `fail_rate`: that fraction is answered 503 before touching data;
//! - `latency_ms: [MIN, MAX]`: each request is delayed by a uniform draw in that range;
//!   `latency_on` (`reads`, `writes` or `all`, the default) narrows it, so a test can keep
//!   writes slow without holding every connection the browser has for the site;
//! - `drop_rate`: that fraction is handled (a change is committed, idempotency record
//!   included) and then the connection is closed without an answer;
//! - `corrupt` (our extension, for the app's hostile-input tests) with `corrupt_rate`
//!   (default 1) and `corrupt_on` (`reads`, `writes` or `all`): that fraction of the
//!   covered requests gets a hostile answer of the named kind ([`CorruptKind`]). Kinds
//!   that stand for a refusal (401, 412, 429, 500, 503, a redirect) answer before the
//!   handler runs, so nothing changes; the others garble a successful answer after the
//!   change is committed, its idempotency record holding the real answer;
//! - `status_429_rate` with `retry_after_s` (our extension, for the client's request budget):
//!   that fraction is answered 429 `rate_limited` with `Retry-After: retry_after_s` before
//!   touching data, as the real rate limiter answers (which tests run switched off);
//! - `clock_offset_s`: shifts the server's "now" for the writes' timestamps, the
//!   idempotency keys' age and the dashboard, so tests can age keys by days at once;
//! - `corrupt_socket`: the events WebSocket sends malformed messages before every real one,
//!   or every message twice ([`SocketChaos`]);
//! - `hold_commit` (for the change feed's commit-order tests): while it is on, the next
//!   change to reach its commit waits there, its transaction open and its change-log number
//!   taken, until it is turned off; other changes pass (one is held at a time).
//!
//! Settings come from the start-up flags and, with `--allow-chaos`, from `GET`/`PUT`/
//! `DELETE /__chaos`; without that flag those answer 404.

mod hostile;

pub(crate) use hostile::Corrupted;

use crate::body::{decode_json, read_body};
use crate::config::LatencyRange;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::ws::Message;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use casedesk_model::FieldErrors;
use hostile::CorruptKind;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

/// Which requests `corrupt` (or `latency_ms`) covers, by method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Covered {
    /// `GET` (and `HEAD`): `corrupt`'s default, what it meant before writes were covered.
    #[default]
    Reads,
    /// `POST`, `PATCH`, `DELETE` (and `PUT`).
    Writes,
    /// Both.
    All,
}

impl Covered {
    fn covers(self, method: &Method) -> bool {
        let read = method == Method::GET || method == Method::HEAD;
        match self {
            Self::Reads => read,
            Self::Writes => !read,
            Self::All => true,
        }
    }
}

/// What `corrupt_socket` does to the events WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SocketChaos {
    /// Before every real message, the frames of [`malformed_frames`]: cut-off JSON, wrong
    /// shapes, an unknown type, an array, `null`, an empty text and a binary frame.
    Malformed,
    /// Every message sent twice.
    Duplicated,
}

/// The current fault injection, as `GET /__chaos` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ChaosSettings {
    pub(crate) fail_rate: f64,
    pub(crate) latency_ms: [u64; 2],
    pub(crate) latency_on: Covered,
    pub(crate) drop_rate: f64,
    pub(crate) corrupt: Option<CorruptKind>,
    pub(crate) corrupt_rate: f64,
    pub(crate) status_429_rate: f64,
    /// The `Retry-After` of an injected 429, in whole seconds.
    pub(crate) retry_after_s: u64,
    pub(crate) corrupt_on: Covered,
    /// The pause between two bytes of a `slow_drip` answer.
    pub(crate) drip_ms: u64,
    /// Added to the server's clock (see the module doc); may be negative.
    pub(crate) clock_offset_s: i64,
    pub(crate) corrupt_socket: Option<SocketChaos>,
    pub(crate) hold_commit: bool,
}

/// The longest `Retry-After` an injected 429 may name: an hour, as for `latency_ms`'s bound,
/// only so that a typo cannot silence a client for days.
const MAX_RETRY_AFTER_S: u64 = 3_600;
/// `drip_ms` bounds: at least 1 ms, at most 10 s between two bytes.
const DRIP_MS: std::ops::RangeInclusive<u64> = 1..=10_000;
/// `clock_offset_s` bounds: a year either way, ample to age keys past their 8 days.
const MAX_CLOCK_OFFSET_S: i64 = 366 * 86_400;

impl ChaosSettings {
    pub(crate) fn off() -> Self {
        Self {
            fail_rate: 0.0,
            latency_ms: [0, 0],
            latency_on: Covered::All,
            drop_rate: 0.0,
            corrupt: None,
            corrupt_rate: 0.0,
            status_429_rate: 0.0,
            retry_after_s: 1,
            corrupt_on: Covered::Reads,
            drip_ms: 1_000,
            clock_offset_s: 0,
            corrupt_socket: None,
            hold_commit: false,
        }
    }
}

/// The body of `PUT /__chaos`: fields present replace the current ones, absent ones stay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChaosUpdate {
    fail_rate: Option<f64>,
    latency_ms: Option<[u64; 2]>,
    latency_on: Option<Covered>,
    drop_rate: Option<f64>,
    #[serde(default, deserialize_with = "present_or_null")]
    corrupt: Option<Option<CorruptKind>>,
    corrupt_rate: Option<f64>,
    status_429_rate: Option<f64>,
    retry_after_s: Option<u64>,
    corrupt_on: Option<Covered>,
    drip_ms: Option<u64>,
    clock_offset_s: Option<i64>,
    #[serde(default, deserialize_with = "present_or_null")]
    corrupt_socket: Option<Option<SocketChaos>>,
    hold_commit: Option<bool>,
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
        if let Some(on) = self.corrupt_on {
            next.corrupt_on = on;
        }
        if let Some(on) = self.latency_on {
            next.latency_on = on;
        }
        if let Some(socket) = self.corrupt_socket {
            next.corrupt_socket = socket;
        }
        if let Some(hold) = self.hold_commit {
            next.hold_commit = hold;
        }
        if let Some(ms) = self.drip_ms {
            if DRIP_MS.contains(&ms) {
                next.drip_ms = ms;
            } else {
                errors.insert(
                    "drip_ms",
                    format!(
                        "`{ms}` is not from {} to {} ms.",
                        DRIP_MS.start(),
                        DRIP_MS.end()
                    ),
                );
            }
        }
        if let Some(offset) = self.clock_offset_s {
            if offset.unsigned_abs() <= MAX_CLOCK_OFFSET_S.unsigned_abs() {
                next.clock_offset_s = offset;
            } else {
                errors.insert(
                    "clock_offset_s",
                    format!("`{offset}` is more than {MAX_CLOCK_OFFSET_S} seconds either way."),
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
    /// Whether a commit is held now (`hold_commit`), and the signal that settings changed.
    holding: Mutex<bool>,
    settings_changed: Condvar,
}

/// The longest a commit is held, so that a forgotten `hold_commit` cannot wedge a server.
const MAX_HOLD: Duration = Duration::from_secs(60);

impl Chaos {
    pub(crate) fn new(allowed: bool, initial: ChaosSettings) -> Self {
        let seed = u64::try_from(crate::clock::now_millis()).unwrap_or(1) | 1;
        Self {
            allowed,
            settings: RwLock::new(initial),
            random: AtomicU64::new(seed),
            holding: Mutex::new(false),
            settings_changed: Condvar::new(),
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
        // Taking the lock orders this wake-up after a holder's check of the setting.
        drop(
            self.holding
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.settings_changed.notify_all();
    }

    /// With `hold_commit` on, blocks the calling write (on the blocking pool, its
    /// transaction open) until the setting is off again, or [`MAX_HOLD`] has passed; one
    /// write at a time is held, the others pass.
    pub(crate) fn hold_commit_if_asked(&self) {
        if !self.settings().hold_commit {
            return;
        }
        let mut holding = self
            .holding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *holding {
            return;
        }
        *holding = true;
        tracing::info!("hold_commit: a change waits before its commit");
        let deadline = std::time::Instant::now() + MAX_HOLD;
        while self.settings().hold_commit {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            holding = self
                .settings_changed
                .wait_timeout(holding, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        *holding = false;
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

    /// The `clock_offset_s` setting in milliseconds, for [`crate::clock::shifted`].
    pub(crate) fn clock_offset_ms(&self) -> i64 {
        self.settings().clock_offset_s.saturating_mul(1_000)
    }

    /// The WebSocket frames that carry one text message, as `corrupt_socket` has it.
    pub(crate) fn socket_frames(&self, text: String) -> Vec<Message> {
        match self.settings().corrupt_socket {
            None => vec![Message::Text(text.into())],
            Some(SocketChaos::Duplicated) => {
                vec![
                    Message::Text(text.clone().into()),
                    Message::Text(text.into()),
                ]
            }
            Some(SocketChaos::Malformed) => {
                let mut frames = malformed_frames();
                frames.push(Message::Text(text.into()));
                frames
            }
        }
    }
}

/// What `corrupt_socket: "malformed"` sends before each real message.
fn malformed_frames() -> Vec<Message> {
    let unknown = serde_json::json!({
        "type": "case.teleported",
        "id": uuid::Uuid::new_v4(),
        "at": crate::clock::now(),
    });
    vec![
        Message::Text(r#"{"type":"case.updated","id":"#.into()),
        Message::Text(r#"{"type":"case.updated","id":42,"version":"two","at":false}"#.into()),
        Message::Text(unknown.to_string().into()),
        Message::Text(r#"[{"type":"ping"}]"#.into()),
        Message::Text("null".into()),
        Message::Text("".into()),
        Message::Binary(Bytes::from_static(&[0x00, 0xff, 0xfe, b'{'])),
    ]
}

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
    if max > 0 && settings.latency_on.covers(request.method()) {
        let span = (max - min) as f64;
        let delay = min + (chaos.draw() * (span + 1.0)).floor().min(span) as u64;
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let hostile = settings
        .corrupt
        .filter(|_| settings.corrupt_on.covers(request.method()))
        .filter(|_| chaos.happens(settings.corrupt_rate));
    if let Some(kind) = hostile {
        if let Some(refusal) = hostile::refusal(kind, &request, settings.retry_after_s) {
            return refusal;
        }
    }
    let response = next.run(request).await;
    if chaos.happens(settings.drop_rate) {
        tracing::info!("chaos: dropping the connection after handling the request");
        return dropped_connection();
    }
    match hostile {
        Some(kind) if response.status().is_success() => {
            hostile::garble(response, kind, settings.drip_ms).await
        }
        _ => response,
    }
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

const JSON: &str = "application/json; charset=utf-8";

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

        let update: ChaosUpdate = serde_json::from_str(
            r#"{"corrupt_on":"writes","drip_ms":5,"clock_offset_s":-777600,"corrupt_socket":"malformed"}"#,
        )
        .unwrap();
        let hostile = update.apply_to(&off).unwrap();
        assert_eq!(hostile.corrupt_on, Covered::Writes);
        assert_eq!(
            hostile.latency_on,
            Covered::All,
            "latency covers every request unless told"
        );
        assert_eq!((hostile.drip_ms, hostile.clock_offset_s), (5, -777_600));
        assert_eq!(hostile.corrupt_socket, Some(SocketChaos::Malformed));
        let bad: ChaosUpdate =
            serde_json::from_str(r#"{"drip_ms":0,"clock_offset_s":99999999}"#).unwrap();
        let errors = bad.apply_to(&off).unwrap_err();
        assert!(errors.get("drip_ms").is_some() && errors.get("clock_offset_s").is_some());
    }

    #[test]
    fn latency_can_be_kept_to_writes() {
        let update: ChaosUpdate =
            serde_json::from_str(r#"{"latency_ms":[50,50],"latency_on":"writes"}"#).unwrap();
        let slow_writes = update.apply_to(&ChaosSettings::off()).unwrap();
        assert_eq!(slow_writes.latency_on, Covered::Writes);
        assert!(!slow_writes.latency_on.covers(&Method::GET));
        assert!(slow_writes.latency_on.covers(&Method::POST));
        let bad: Result<ChaosUpdate, _> = serde_json::from_str(r#"{"latency_on":"some"}"#);
        assert!(bad.is_err(), "an unknown cover is refused, not ignored");
    }

    #[test]
    fn corrupt_on_splits_reads_from_writes() {
        for (on, get, post, delete) in [
            (Covered::Reads, true, false, false),
            (Covered::Writes, false, true, true),
            (Covered::All, true, true, true),
        ] {
            assert_eq!(on.covers(&Method::GET), get, "{on:?}");
            assert_eq!(on.covers(&Method::HEAD), get, "{on:?}");
            assert_eq!(on.covers(&Method::POST), post, "{on:?}");
            assert_eq!(on.covers(&Method::DELETE), delete, "{on:?}");
        }
    }

    #[test]
    fn draws_are_uniform_enough() {
        let chaos = Chaos::new(true, ChaosSettings::off());
        let hits = (0..10_000).filter(|_| chaos.happens(0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| chaos.happens(0.0)));
        assert!((0..1000).all(|_| chaos.happens(1.0)));
    }
}
