//! Per-client rate limiting of `/api/v1` and `/health`: a token bucket per client that
//! refills at `--rate-limit-per-sec` and holds `--rate-limit-burst` requests. An empty
//! bucket answers 429 with `Retry-After` (whole seconds until a request will pass).
//!
//! A client is what the sender cannot choose freely: a token auth accepted
//! ([`auth::Identity`](crate::auth::Identity)), else the peer's address
//! ([`peer::network`](crate::peer::network)). A bearer the server does not accept is never
//! a key (a random one per request would get a fresh bucket each time), and requests that
//! fail auth spend their address's bucket too (see `auth::require`), so guessing tokens is
//! limited like everything else. A token that is not a service token also costs a database
//! lookup, so each address has a second, much smaller bucket of failed authentications
//! ([`RateLimiter::for_failed_auth`]): once it is empty, tokens from that address are
//! refused before they are looked up.
//!
//! Memory is bounded: past `--rate-limit-max-clients` buckets, full ones (clients idle long
//! enough to have nothing to remember) are forgotten, then the least recently seen.
//!
//! The default, 500 requests/s with a burst of 1,000, is far above what a person clicking
//! makes and above the app's own pace (its request budget sends at most 400/s, so its drain
//! of a backlog never earns a 429, which would also hold the person's reads for a second),
//! while one runaway client is held to about half of what one SQLite server writes
//! (811 POST/s in `scripts/bench-server`). At 100/s it capped the app's drain at a third of
//! what the app and server do together on loopback.

use crate::auth::Identity;
use crate::error::ApiError;
use crate::peer;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::Extensions;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Failed authentications one address may make at once, and per second on average (with
/// rate limiting on): an app whose session ended fails a few times before it asks its
/// person to sign in again; a guesser is held to one lookup a second.
const AUTH_FAILURES_BURST: u32 = 20;
const AUTH_FAILURES_PER_SEC: f64 = 1.0;

/// Who a bucket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// A token auth accepted (no secret is kept here).
    Identity(Identity),
    /// The peer's address (its /64 for IPv6).
    Peer(IpAddr),
    /// A request without a recorded peer (only a router driven in-process).
    Unknown,
}

impl ClientKey {
    /// The validated identity of the request if auth accepted one, else its peer address.
    pub(crate) fn of(extensions: &Extensions) -> Self {
        match extensions.get::<Identity>() {
            Some(identity) => Self::Identity(*identity),
            None => Self::peer(extensions),
        }
    }

    /// The peer address of the request, whatever it claims to be.
    pub(crate) fn peer(extensions: &Extensions) -> Self {
        peer::address(extensions)
            .map(|ip| Self::Peer(peer::network(ip)))
            .unwrap_or(Self::Unknown)
    }
}

pub(crate) struct RateLimiter {
    per_sec: f64,
    burst: f64,
    max_clients: usize,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    /// When the bucket was last refilled, which is when its client was last seen.
    refilled: Instant,
}

impl RateLimiter {
    /// `None` when `per_sec` is 0 (no limit). A `burst` of 0 means twice the rate.
    pub(crate) fn new(per_sec: f64, burst: u32, max_clients: usize) -> Option<Self> {
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
            max_clients: max_clients.max(1),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// The bucket of failed authentications per address (see the module doc); `None` when
    /// rate limiting is off (`per_sec` of requests 0).
    pub(crate) fn for_failed_auth(requests_per_sec: f64, max_clients: usize) -> Option<Self> {
        if requests_per_sec <= 0.0 {
            return None;
        }
        Self::new(AUTH_FAILURES_PER_SEC, AUTH_FAILURES_BURST, max_clients)
    }

    /// Gives back a token [`check`](Self::check) took (what it was taken for turned out
    /// not to count).
    pub(crate) fn refund(&self, client: ClientKey) {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(&client) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
        }
    }

    /// Takes one token for `client`, or says in how many whole seconds one will be there.
    pub(crate) fn check(&self, client: ClientKey, now: Instant) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= self.max_clients && !buckets.contains_key(&client) {
            self.make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
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

    /// Frees at least one place: first every full bucket (forgetting it changes nothing),
    /// then, if none was full, the least recently seen eighth, so that a flood of new keys
    /// pays for the sort once per many requests instead of on each.
    fn make_room(&self, buckets: &mut HashMap<ClientKey, Bucket>, now: Instant) {
        let (per_sec, burst) = (self.per_sec, self.burst);
        buckets.retain(|_, b| refilled(b, now, per_sec, burst).tokens < burst);
        if buckets.len() < self.max_clients {
            return;
        }
        let mut seen: Vec<Instant> = buckets.values().map(|b| b.refilled).collect();
        let evict = (buckets.len() + 1 - self.max_clients).max(self.max_clients / 8);
        let evict = evict.min(seen.len());
        if evict == 0 {
            return;
        }
        // In range: 1 ≤ evict ≤ seen.len() (checked just above).
        let (_, cutoff, _) = seen.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        let mut left = evict;
        buckets.retain(|_, b| {
            if left > 0 && b.refilled <= cutoff {
                left -= 1;
                false
            } else {
                true
            }
        });
    }

    /// How many clients are remembered now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

fn refilled(bucket: &Bucket, now: Instant, per_sec: f64, burst: f64) -> Bucket {
    let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
    Bucket {
        tokens: (bucket.tokens + elapsed * per_sec).min(burst),
        refilled: now,
    }
}

/// Spends one request of `client`'s bucket; the 429 to answer when it is empty.
pub(crate) fn spend(state: &AppState, client: ClientKey) -> Result<(), ApiError> {
    match &state.rate_limiter {
        Some(limiter) => limiter
            .check(client, Instant::now())
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs }),
        None => Ok(()),
    }
}

/// Takes one failed authentication from `client`'s bucket before a token is looked up;
/// the 429 to answer when it is empty. Give it back ([`refund_auth_attempt`]) when the
/// token turns out to be good.
pub(crate) fn spend_auth_attempt(state: &AppState, client: ClientKey) -> Result<(), ApiError> {
    match &state.auth_failures {
        Some(limiter) => limiter
            .check(client, Instant::now())
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs }),
        None => Ok(()),
    }
}

pub(crate) fn refund_auth_attempt(state: &AppState, client: ClientKey) {
    if let Some(limiter) = &state.auth_failures {
        limiter.refund(client);
    }
}

/// The middleware on `/api/v1` (inside `auth::require`, which has put the caller's
/// [`Identity`] in the request when it accepted a token) and on `/health`.
pub(crate) async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match spend(&state, ClientKey::of(request.extensions())) {
        Ok(()) => next.run(request).await,
        Err(too_many) => too_many.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(n: u32) -> ClientKey {
        ClientKey::Peer(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(2.0, 3, 100).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
        }
        assert_eq!(limiter.check(ip(1), t0), Err(1));
        assert_eq!(limiter.check(ip(2), t0), Ok(()), "clients are separate");
        assert_eq!(
            limiter.check(ip(1), t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert_eq!(
            limiter.check(ip(1), t0 + Duration::from_millis(500)),
            Err(1)
        );
        let slow = RateLimiter::new(0.1, 1, 100).unwrap();
        assert_eq!(slow.check(ip(1), t0), Ok(()));
        assert_eq!(slow.check(ip(1), t0), Err(10));
        assert!(RateLimiter::new(0.0, 5, 100).is_none());
    }

    #[test]
    fn a_flood_of_new_clients_does_not_grow_the_limiter_past_its_bound() {
        let limiter = RateLimiter::new(1.0, 5, 64).unwrap();
        let t0 = Instant::now();
        // Every key spends a token at the same instant: no bucket is full, none is idle.
        for n in 0..10_000 {
            assert_eq!(limiter.check(ip(n), t0), Ok(()));
            assert!(limiter.tracked() <= 64, "{} buckets", limiter.tracked());
        }
        // A client seen more recently than the flood keeps its emptied bucket through more
        // of it: eviction takes the least recently seen first.
        let t1 = t0 + Duration::from_millis(1);
        let busy = ip(1_000_000);
        for _ in 0..5 {
            assert_eq!(limiter.check(busy, t1), Ok(()));
        }
        for n in 20_000..20_040 {
            let _ = limiter.check(ip(n), t1);
        }
        assert_eq!(limiter.check(busy, t1), Err(1), "still limited");
        assert!(limiter.tracked() <= 64);
    }

    #[test]
    fn a_refunded_token_is_back_and_a_full_bucket_stays_full() {
        let limiter = RateLimiter::new(0.01, 2, 100).unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
            limiter.refund(ip(1));
        }
        limiter.refund(ip(1));
        assert_eq!(limiter.check(ip(1), t0), Ok(()));
        assert_eq!(limiter.check(ip(1), t0), Ok(()));
        assert!(limiter.check(ip(1), t0).is_err(), "never above the burst");
        assert!(RateLimiter::for_failed_auth(0.0, 100).is_none());
    }

    #[test]
    fn identities_and_addresses_are_separate_clients() {
        let limiter = RateLimiter::new(1.0, 1, 100).unwrap();
        let t0 = Instant::now();
        let token = ClientKey::Identity(Identity::token(0));
        assert_eq!(limiter.check(token, t0), Ok(()));
        assert_eq!(limiter.check(token, t0), Err(1));
        assert_eq!(limiter.check(ip(1), t0), Ok(()));
        assert_eq!(
            limiter.check(ClientKey::Identity(Identity::token(1)), t0),
            Ok(())
        );
    }
}
