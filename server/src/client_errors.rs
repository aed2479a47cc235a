//! `POST /api/v1/client-errors` (docs/api.md §7): the app reports a crash
//! `{"message","build","route","at"}`, and the server logs it as one structured warning and
//! answers 204.
//!
//! It needs no session (the app may crash signed out) but passes the API's `Origin` check,
//! so no other site can fill the log. What one address may send is bounded: a report is at
//! most [`MAX_REPORT_BYTES`] (413 over), and each address has its own bucket of
//! [`BURST`] reports refilled at one per [`REFILL_SECS`] s (429 past it), apart from the API's
//! rate limit, so a crash loop cannot flood the log. The texts are logged on one line each,
//! control characters escaped, so a report cannot forge log lines.

use crate::body::{decode_json, read_body_up_to};
use crate::error::ApiError;
use crate::rate_limit::{ClientKey, RateLimiter};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::Deserialize;
use std::time::Instant;

/// The largest report accepted.
pub(crate) const MAX_REPORT_BYTES: usize = 8 * 1024;
/// Reports one address may send at once.
const BURST: u32 = 10;
/// Then one report per this many seconds.
const REFILL_SECS: f64 = 6.0;
/// Addresses remembered at once (as `--rate-limit-max-clients` does for the API's limit).
const MAX_ADDRESSES: usize = 10_000;

/// The per-address bucket of reports.
pub(crate) fn limiter() -> Option<RateLimiter> {
    RateLimiter::new(1.0 / REFILL_SECS, BURST, MAX_ADDRESSES)
}

/// A crash report as the app sends it; unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct Report {
    message: String,
    #[serde(default)]
    build: Option<String>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

/// `POST /api/v1/client-errors`.
pub(crate) async fn report(
    State(state): State<AppState>,
    parts: Parts,
    body: Body,
) -> Result<StatusCode, ApiError> {
    if let Some(limiter) = &state.client_error_limiter {
        limiter
            .check(ClientKey::peer(&parts.extensions), Instant::now())
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    }
    let bytes = read_body_up_to(body, MAX_REPORT_BYTES).await?;
    let report: Report = decode_json(&parts.headers, &bytes)?;
    state.telemetry.client_error();
    tracing::warn!(
        error = %one_line(&report.message),
        build = %one_line(report.build.as_deref().unwrap_or("")),
        app_route = %one_line(report.route.as_deref().unwrap_or("")),
        at = %one_line(report.at.as_deref().unwrap_or("")),
        "client error"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `text` with its control characters (line breaks included) escaped as `\n`, `\u{1b}`…
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_cannot_break_a_log_line() {
        assert_eq!(
            one_line("panicked at x\nINFO forged\r\u{1b}[31m"),
            "panicked at x\\nINFO forged\\r\\u{1b}[31m"
        );
        assert_eq!(one_line("plain ü text"), "plain ü text");
    }
}
