//! The server's clock: the system time, as the model's [`Timestamp`].

use casedesk_model::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in a UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Now, to the millisecond.
pub(crate) fn now() -> Timestamp {
    shifted(0)
}

/// Now moved by `offset_ms`: the server's clock as the chaos setting `clock_offset_s`
/// skews it, so tests can age idempotency keys without waiting days.
pub(crate) fn shifted(offset_ms: i64) -> Timestamp {
    // Only a clock beyond the year 9999 is unrepresentable; fall back rather than panic.
    Timestamp::from_unix_millis(now_millis().saturating_add(offset_ms))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Now, in Unix milliseconds.
pub(crate) fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}
