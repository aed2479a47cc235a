//! Signing in and out (`POST`/`DELETE /session`), who one is (`GET /me`) and who else
//! there is (`GET /users`); docs/api.md §4.
//!
//! An unknown email and a wrong password get the same 401 `invalid_credentials` after the
//! same work: an unknown email is checked against a dummy Argon2id hash made at start-up
//! with the same parameters, so the time does not tell which emails exist. Failures are
//! counted per email and per peer address ([`SignInThrottle`]); past the limit within the
//! window, sign-in answers 429 with `Retry-After` before looking at the password, which
//! bounds password guessing against one person and from one address.

use crate::api::{encode, JSON_CONTENT_TYPE};
use crate::auth::Actor;
use crate::body::{decode_json, read_body};
use crate::clock;
use crate::conditional;
use crate::error::ApiError;
use crate::people;
use crate::sessions;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use casedesk_model::{Person, Session, SignIn, Timestamp};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most (email or address) keys the throttle remembers; past it, the oldest are forgotten.
const MAX_TRACKED: usize = 10_000;

/// What failures are counted under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ThrottleKey {
    /// The email, trimmed and lower-cased (as the database compares it).
    Email(String),
    Peer(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    /// When the first failure of this window happened.
    since: Instant,
}

/// Failed sign-ins per email and per address, in fixed windows.
pub(crate) struct SignInThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<ThrottleKey, Failures>>,
    /// An Argon2id hash of nothing anyone knows, verified when the email is unknown.
    dummy_hash: String,
}

impl SignInThrottle {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Result<Self, people::HashError> {
        let mut secret = [0u8; 16];
        // Without randomness the dummy is still a valid hash of a fixed text nobody types.
        let _ = getrandom::fill(&mut secret);
        let dummy_hash = people::hash_password(&format!("{secret:?}"))?;
        Ok(Self {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
            dummy_hash,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(seconds)` when any key has used up its failures in the current window.
    fn check(&self, keys: &[ThrottleKey], now: Instant) -> Result<(), u64> {
        let failures = self.lock();
        let wait = keys
            .iter()
            .filter_map(|key| failures.get(key))
            .filter(|f| f.count >= self.max_failures)
            .filter_map(|f| (f.since + self.window).checked_duration_since(now))
            .max();
        match wait {
            Some(wait) if !wait.is_zero() => Err(wait.as_secs().max(1)),
            _ => Ok(()),
        }
    }

    fn fail(&self, keys: &[ThrottleKey], now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED {
            let window = self.window;
            failures.retain(|_, f| now.duration_since(f.since) < window);
            while failures.len() >= MAX_TRACKED {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(key, _)| key.clone());
                match oldest {
                    Some(key) => failures.remove(&key),
                    None => break,
                };
            }
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                since: now,
            });
            if now.duration_since(entry.since) >= self.window {
                *entry = Failures {
                    count: 0,
                    since: now,
                };
            }
            entry.count = entry.count.saturating_add(1);
        }
    }

    /// A right password clears its email's failures (not its address's: one account of
    /// one's own must not reset guessing at others).
    fn succeed(&self, email: &ThrottleKey) {
        self.lock().remove(email);
    }
}

pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /session`. Takes no `Idempotency-Key` (the stored answer would hold the token).
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let SignIn { email, password } = decode_json::<SignIn>(&parts.headers, &bytes)?;
    let email = email.trim().to_lowercase();
    let mut keys = vec![ThrottleKey::Email(email.clone())];
    if let Some(ip) = crate::peer::address(&parts.extensions) {
        keys.push(ThrottleKey::Peer(crate::peer::network(ip)));
    }
    let throttle = state.sign_in.clone();
    throttle
        .check(&keys, Instant::now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;

    let lookup_email = email.clone();
    let found = state
        .db
        .read(move |tx| Ok::<_, ApiError>(people::by_email(tx, &lookup_email)?))
        .await?;
    let dummy = throttle.dummy_hash.clone();
    let (person, phc) = match found {
        // A deactivated person signs in as little as an unknown email does.
        Some(record) => {
            let phc = record.password_hash.filter(|_| record.person.active);
            (Some(record.person), phc)
        }
        None => (None, None),
    };
    // Someone who cannot sign in (no password, deactivated) is checked against the dummy
    // too, so the answer and its time are those of an unknown email.
    let can_sign_in = phc.is_some();
    let verified = tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or(dummy);
        people::verify_password(&password, &phc)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    let person = match person {
        Some(person) if verified && can_sign_in => person,
        _ => {
            throttle.fail(&keys, Instant::now());
            return Err(ApiError::InvalidCredentials);
        }
    };
    throttle.succeed(&ThrottleKey::Email(email));
    let person_id = person.id;
    let (token, expires_ms) = new_session(&state, move |tx, hash, now_ms| {
        Ok(sessions::create(tx, hash, person_id, now_ms)?)
    })
    .await?;
    session_response(token, person, expires_ms)
}

/// Makes a fresh token and runs `write` with its hash and the time in one write
/// transaction (which stores the session, and whatever else comes with it); returns the
/// token and what `write` returned.
pub(crate) async fn new_session<T, F>(state: &AppState, write: F) -> Result<(String, T), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn crate::db::Sql, &sessions::TokenHash, i64) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let token = sessions::new_token().map_err(|e| ApiError::Internal(e.to_string()))?;
    let hash = sessions::token_hash(&token);
    let now_ms = clock::shifted(state.chaos.clock_offset_ms()).unix_millis();
    let written = state
        .db
        .write(move |tx| write(tx, &hash, now_ms), |_| {})
        .await?;
    Ok((token, written))
}

/// The answer of a sign-in (`POST /session`, `POST /session/setup`): 200 with the token,
/// the person and the session's expiry, never stored by a cache.
pub(crate) fn session_response(
    token: String,
    person: Person,
    expires_ms: i64,
) -> Result<Response, ApiError> {
    let session = Session {
        token,
        user: person,
        expires_at: Timestamp::from_unix_millis(expires_ms).unwrap_or(Timestamp::UNIX_EPOCH),
    };
    let response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
        encode(&session)?,
    )
        .into_response();
    Ok(no_store(response))
}

/// `DELETE /session`: revokes the session the request came with (204). With a service
/// token or as Guest there is no session to end: 204 as well.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, ApiError> {
    if let Some(hash) = actor.session {
        let now_ms = clock::shifted(state.chaos.clock_offset_ms()).unix_millis();
        state
            .db
            .write(
                move |tx| Ok::<_, ApiError>(sessions::revoke(tx, &hash, now_ms)?),
                |_| {},
            )
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /me`.
pub(crate) async fn me(actor: Actor, headers: HeaderMap) -> Result<Response, ApiError> {
    let body = encode(&actor.person)?;
    Ok(no_store(conditional::respond(
        &headers,
        conditional::hash_etag(&body),
        body,
    )))
}

/// `GET /users`: every person (but Service and Guest) by name, with their role and whether
/// they are active; for pickers and for the people page.
pub(crate) async fn users(
    State(state): State<AppState>,
    _actor: Actor,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let people = state
        .db
        .read(|tx| Ok::<_, ApiError>(people::list(tx)?))
        .await?;
    let body = encode(&people)?;
    Ok(conditional::respond(
        &headers,
        conditional::hash_etag(&body),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_wait_for_the_window() {
        let throttle = SignInThrottle::new(2, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        let dana = ThrottleKey::Email("dana@example.com".into());
        let sam = ThrottleKey::Email("sam@example.com".into());
        let peer = ThrottleKey::Peer(IpAddr::from([10, 0, 0, 1]));
        let keys = [dana.clone(), peer.clone()];
        assert_eq!(throttle.check(&keys, t0), Ok(()));
        throttle.fail(&keys, t0);
        throttle.fail(&keys, t0);
        assert_eq!(throttle.check(&keys, t0), Err(60));
        // The address is throttled for another email too; another address for dana too.
        assert!(throttle.check(&[sam.clone(), peer], t0).is_err());
        let other = ThrottleKey::Peer(IpAddr::from([10, 0, 0, 2]));
        assert!(throttle.check(&[dana.clone(), other.clone()], t0).is_err());
        assert_eq!(throttle.check(&[sam, other], t0), Ok(()));
        // The window passes.
        assert_eq!(throttle.check(&keys, t0 + Duration::from_secs(60)), Ok(()));
        throttle.succeed(&dana);
    }
}
