//! Per-client rate limiting of `/api/v1` (not `/health`): a token bucket per client (the
//! bearer token when there is one, else the peer's IP address) that refills at
//! `--rate-limit-per-sec` and holds `--rate-limit-burst` requests. An empty bucket answers
//! 429 with `Retry-After` (whole seconds until a request will pass).
//!
//! The default, 100 requests/s with a burst of 200, is far above what a person clicking
//! makes, while an app draining thousands of queued actions is slowed to that pace (it
//! obeys `Retry-After`), not broken.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Past this many clients, full (idle) buckets are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

pub(crate) struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// `None` when `per_sec` is 0 (no limit). A `burst` of 0 means twice the rate.
    pub(crate) fn new(per_sec: f64, burst: u32) -> Option<Self> {
        if per_sec <= 0.0 {
            return None;
        }
        let burst = if burst == 0 {
            (per_sec * 2.0).max(1.0)
        } else {
            f64::from(burst)
        };
        Some(Self {
            per_sec,
            burst,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `client`, or says in how many whole seconds one will be there.
    pub(crate) fn check(&self, client: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(client) {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets.retain(|_, b| refilled(b, now, per_sec, burst).tokens < burst);
        }
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        *bucket = refilled(bucket, now, self.per_sec, self.burst);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_sec;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

fn refilled(bucket: &Bucket, now: Instant, per_sec: f64, burst: f64) -> Bucket {
    let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
    Bucket {
        tokens: (bucket.tokens + elapsed * per_sec).min(burst),
        refilled: now,
    }
}

/// The middleware on `/api/v1`.
pub(crate) async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.rate_limiter else {
        return next.run(request).await;
    };
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let client = match crate::auth::bearer_token(request.headers()) {
        Some(token) => format!("token:{token}"),
        None => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| format!("ip:{}", info.0.ip()))
            .unwrap_or_else(|| "unknown".into()),
    };
    match limiter.check(&client, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after_secs) => ApiError::RateLimited { retry_after_secs }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(2.0, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a", t0), Ok(()));
        }
        assert_eq!(limiter.check("a", t0), Err(1));
        assert_eq!(limiter.check("b", t0), Ok(()), "clients are separate");
        assert_eq!(limiter.check("a", t0 + Duration::from_millis(500)), Ok(()));
        assert_eq!(limiter.check("a", t0 + Duration::from_millis(500)), Err(1));
        let slow = RateLimiter::new(0.1, 1).unwrap();
        assert_eq!(slow.check("a", t0), Ok(()));
        assert_eq!(slow.check("a", t0), Err(10));
        assert!(RateLimiter::new(0.0, 5).is_none());
    }
}
