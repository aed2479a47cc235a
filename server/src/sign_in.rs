//! Signing in and out (`POST`/`DELETE /session`), who one is (`GET /me`) and who else
//! there is (`GET /users`); docs/api.md §4.
//!
//! An unknown email and a wrong password get the same 401 `invalid_credentials` after the
//! same work: an unknown email is checked against a dummy Argon2id hash made at start-up
//! with the same parameters, so the time does not tell which emails exist. Failures are
//! counted ([`SignInThrottle`]) per email from one address, per address, and per email
//! from anywhere (a ceiling ten times higher); past a limit within the window, sign-in
//! answers 429 with `Retry-After` before looking at the password. Someone guessing at a
//! person's email from elsewhere therefore does not lock that person out, while guessing
//! against one person, from one address, or from many addresses at once is bounded. An
//! attempt counts as a failure before its password is checked (and is taken back if it
//! was right), so a burst of concurrent guesses gets no more checks than the limit.

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

/// Most keys the throttle remembers; past it, the oldest are forgotten.
const MAX_TRACKED: usize = 10_000;
/// Failures one address may make, whatever the emails, per failure allowed for one email
/// from one address: a few people behind one address may each mistype.
const PER_ADDRESS: u32 = 3;
/// Failures one email may get from all addresses together, per failure allowed from one
/// address: only many addresses guessing at once reach it.
const PER_EMAIL: u32 = 10;

/// What failures are counted under. The email is trimmed and lower-cased (as the database
/// compares it); an address is a peer's network ([`crate::peer::network`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ThrottleKey {
    /// One email from one address: a person's own attempts, or a guesser's at them.
    EmailFrom(String, IpAddr),
    /// One address, whatever the email.
    Peer(IpAddr),
    /// One email, from anywhere.
    Email(String),
}

impl ThrottleKey {
    /// The keys an attempt for `email` from `peer` counts under.
    fn of(email: &str, peer: Option<IpAddr>) -> Vec<Self> {
        let mut keys = vec![Self::Email(email.to_owned())];
        if let Some(ip) = peer {
            keys.push(Self::EmailFrom(email.to_owned(), ip));
            keys.push(Self::Peer(ip));
        }
        keys
    }
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

    /// How many failures `key` may have in one window.
    fn limit(&self, key: &ThrottleKey) -> u32 {
        match key {
            ThrottleKey::EmailFrom(..) => self.max_failures,
            ThrottleKey::Peer(_) => self.max_failures.saturating_mul(PER_ADDRESS),
            ThrottleKey::Email(_) => self.max_failures.saturating_mul(PER_EMAIL),
        }
    }

    /// Counts an attempt as a failure of each key before its password is checked (see the
    /// module doc); `Err(seconds)`, counting nothing, when a key has used up its failures
    /// in the current window.
    fn begin(&self, keys: &[ThrottleKey], now: Instant) -> Result<(), u64> {
        let mut failures = self.lock();
        let wait = keys
            .iter()
            .filter_map(|key| failures.get(key).map(|f| (key, f)))
            .filter(|(key, f)| f.count >= self.limit(key))
            .filter_map(|(_, f)| (f.since + self.window).checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        if let Some(wait) = wait {
            return Err(wait.as_secs().max(1));
        }
        self.make_room(&mut failures, now);
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
        Ok(())
    }

    /// Takes back what [`begin`](Self::begin) counted: the attempt was no failure (its
    /// password was right, or it was never checked).
    fn refund(&self, keys: &[ThrottleKey]) {
        let mut failures = self.lock();
        for key in keys {
            if let Some(entry) = failures.get_mut(key) {
                entry.count = entry.count.saturating_sub(1);
            }
        }
    }

    /// A right password: the attempt was no failure, and this email's failures from this
    /// address are forgotten (not its address's: one account of one's own must not reset
    /// guessing at others).
    fn succeed(&self, keys: &[ThrottleKey]) {
        self.refund(keys);
        let mut failures = self.lock();
        for key in keys {
            if matches!(key, ThrottleKey::EmailFrom(..)) {
                failures.remove(key);
            }
        }
    }

    fn make_room(&self, failures: &mut HashMap<ThrottleKey, Failures>, now: Instant) {
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
    let peer = crate::peer::address(&parts.extensions).map(crate::peer::network);
    let keys = ThrottleKey::of(&email, peer);
    let throttle = state.sign_in.clone();
    throttle
        .begin(&keys, Instant::now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let checked = check_password(&state, &throttle, email, password).await;
    match &checked {
        Ok(Some(_)) => throttle.succeed(&keys),
        // Counted already.
        Ok(None) => {}
        // Never checked (too many at once, the database failed): not a failure.
        Err(_) => throttle.refund(&keys),
    }
    let person = checked?.ok_or(ApiError::InvalidCredentials)?;
    crate::telemetry::record_person(person.id);
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

/// The person `email` names if `password` is theirs, `None` if not (an unknown email
/// included); `Err` when the check could not be made.
async fn check_password(
    state: &AppState,
    throttle: &SignInThrottle,
    email: String,
    password: String,
) -> Result<Option<casedesk_model::Person>, ApiError> {
    let found = state
        .db
        .read(move |tx| Ok::<_, ApiError>(people::by_email(tx, &email)?))
        .await?;
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
    let phc = phc.unwrap_or_else(|| throttle.dummy_hash.clone());
    let verified = state
        .password_checks
        .run(move || people::verify_password(&password, &phc))
        .await?;
    Ok(person.filter(|_| verified && can_sign_in))
}

/// Whether `password` is the one of `phc` (`None`: the person has none), checked for the
/// person `email` from `peer` under the same throttle and the same cap on checks at once as
/// sign-in: `PUT /me/password`'s current password, so a session left open on a shared
/// computer cannot guess its person's password faster than sign-in could.
pub(crate) async fn check_own_password(
    state: &AppState,
    email: &str,
    peer: Option<IpAddr>,
    password: String,
    phc: Option<String>,
) -> Result<bool, ApiError> {
    let keys = ThrottleKey::of(&email.trim().to_lowercase(), peer);
    let throttle = state.sign_in.clone();
    throttle
        .begin(&keys, Instant::now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let has_one = phc.is_some();
    let phc = phc.unwrap_or_else(|| throttle.dummy_hash.clone());
    let checked = state
        .password_checks
        .run(move || people::verify_password(&password, &phc) && has_one)
        .await;
    match &checked {
        Ok(true) => throttle.succeed(&keys),
        // Counted already.
        Ok(false) => {}
        Err(_) => throttle.refund(&keys),
    }
    checked
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
    fn an_email_locked_from_one_address_still_opens_from_another() {
        let throttle = SignInThrottle::new(2, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let dana_from_a = ThrottleKey::of("dana@example.com", Some(a));
        for _ in 0..2 {
            assert_eq!(throttle.begin(&dana_from_a, t0), Ok(()));
        }
        assert_eq!(throttle.begin(&dana_from_a, t0), Err(60));
        let dana_from_b = ThrottleKey::of("dana@example.com", Some(b));
        assert_eq!(throttle.begin(&dana_from_b, t0), Ok(()));
        throttle.succeed(&dana_from_b);
        // The window passes.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(throttle.begin(&dana_from_a, later), Ok(()));
    }

    #[test]
    fn an_address_and_an_email_have_higher_ceilings_of_their_own() {
        let throttle = SignInThrottle::new(2, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        // One address, many emails: 2 × PER_ADDRESS failures.
        for n in 0..2 * PER_ADDRESS {
            let keys = ThrottleKey::of(&format!("p{n}@example.com"), Some(a));
            assert_eq!(throttle.begin(&keys, t0), Ok(()), "{n}");
        }
        let next = ThrottleKey::of("sam@example.com", Some(a));
        assert!(throttle.begin(&next, t0).is_err());
        // One email, many addresses: 2 × PER_EMAIL failures.
        for n in 0..PER_EMAIL {
            let from = Some(IpAddr::from([10, 1, 0, n as u8]));
            for _ in 0..2 {
                let keys = ThrottleKey::of("lee@example.com", from);
                assert_eq!(throttle.begin(&keys, t0), Ok(()), "{n}");
            }
        }
        let fresh = ThrottleKey::of("lee@example.com", Some(IpAddr::from([10, 2, 0, 1])));
        assert!(throttle.begin(&fresh, t0).is_err());
    }

    #[test]
    fn a_refunded_attempt_is_no_failure() {
        let throttle = SignInThrottle::new(1, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        let keys = ThrottleKey::of("dana@example.com", Some(IpAddr::from([10, 0, 0, 1])));
        for _ in 0..5 {
            assert_eq!(throttle.begin(&keys, t0), Ok(()));
            assert!(
                throttle.begin(&keys, t0).is_err(),
                "counted before checking"
            );
            throttle.refund(&keys);
        }
    }
}
