//! Sessions in SQL: a sign-in's random token, of which only the SHA-256 is stored, and its
//! sliding expiry.
//!
//! A token is 32 random bytes (256 bits) from the operating system, base64url-encoded. Only
//! its hash is kept: whoever reads the database (a backup, a stolen disk) cannot use the
//! sessions in it, while a lookup stays one indexed equality (a fast hash suffices for a
//! value with 256 bits of entropy; a slow one is for guessable passwords). A session
//! expires 30 days after it was last used; using it moves the expiry on, at most once an
//! hour so that reads do not each write, and never past 90 days after the sign-in (a
//! stolen token does not live for ever by being used). A deactivated person's sessions
//! are over too. Signing out marks it revoked; the row stays so a revoked token answers
//! `session_expired` rather than looking unknown.

use crate::clock::DAY_MS;
use crate::db::{DbError, Engine, Sql};
use crate::people;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use casedesk_model::Person;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a session lives without being used.
pub(crate) const SESSION_TTL_MS: i64 = 30 * DAY_MS;
/// How long a session lives after its sign-in, however much it is used.
pub(crate) const SESSION_MAX_AGE_MS: i64 = 90 * DAY_MS;
/// The expiry moves on only when it would move by more than this.
const SLIDE_STEP_MS: i64 = 3_600_000;

/// The SHA-256 of a token: what the database holds instead of the token.
pub(crate) type TokenHash = [u8; 32];

/// The operating system could not give random bytes.
#[derive(Debug, thiserror::Error)]
#[error("no randomness for a session token: {0}")]
pub(crate) struct RandomError(String);

/// A fresh token: 32 random bytes, base64url without padding (43 characters).
pub(crate) fn new_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Stores a new session for `person_id`; returns its expiry (Unix milliseconds).
pub(crate) fn create(
    conn: &dyn Sql,
    hash: &TokenHash,
    person_id: Uuid,
    now_ms: i64,
) -> Result<i64, DbError> {
    let expires_at = now_ms.saturating_add(SESSION_TTL_MS);
    conn.execute(
        "INSERT INTO sessions (token_hash, person_id, created_at, expires_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, NULL)",
        &[
            hash.as_slice().into(),
            person_id.into(),
            now_ms.into(),
            expires_at.into(),
        ],
    )?;
    Ok(expires_at)
}

/// What a presented token is worth.
#[derive(Clone, Debug)]
pub(crate) enum Lookup {
    /// A live session of `person`; `slide` says its expiry should be moved on.
    Live { person: Person, slide: bool },
    /// It was a session, now expired or revoked.
    Ended,
    /// No session ever had this token.
    Unknown,
}

/// When a session signed in at `created_at` and used at `now_ms` should expire: 30 days
/// on, but not past its 90th day.
fn slid_expiry(created_at: i64, now_ms: i64) -> i64 {
    now_ms
        .saturating_add(SESSION_TTL_MS)
        .min(created_at.saturating_add(SESSION_MAX_AGE_MS))
}

pub(crate) fn lookup(conn: &dyn Sql, hash: &TokenHash, now_ms: i64) -> Result<Lookup, DbError> {
    let row = conn.query_opt(
        "SELECT person_id, expires_at, revoked_at, created_at FROM sessions
         WHERE token_hash = ?1",
        &[hash.as_slice().into()],
    )?;
    let Some(row) = row else {
        return Ok(Lookup::Unknown);
    };
    let (person_id, expires_at, revoked_at, created_at) =
        (row.uuid(0)?, row.int(1)?, row.opt_int(2)?, row.int(3)?);
    let too_old = now_ms >= created_at.saturating_add(SESSION_MAX_AGE_MS);
    if revoked_at.is_some() || now_ms >= expires_at || too_old {
        return Ok(Lookup::Ended);
    }
    Ok(match people::by_id(conn, person_id)? {
        Some(person) if person.active => Lookup::Live {
            person,
            slide: slid_expiry(created_at, now_ms) - expires_at > SLIDE_STEP_MS,
        },
        _ => Lookup::Ended,
    })
}

/// Moves a live session's expiry to 30 days from `now_ms` (never back, never past its
/// 90th day).
pub(crate) fn slide(conn: &dyn Sql, hash: &TokenHash, now_ms: i64) -> Result<(), DbError> {
    let (greater, lesser) = match conn.engine() {
        Engine::Sqlite => ("max", "min"),
        Engine::Postgres => ("greatest", "least"),
    };
    conn.execute(
        &format!(
            "UPDATE sessions
             SET expires_at = {greater}(expires_at, {lesser}(?2, created_at + ?4))
             WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3"
        ),
        &[
            hash.as_slice().into(),
            now_ms.saturating_add(SESSION_TTL_MS).into(),
            now_ms.into(),
            SESSION_MAX_AGE_MS.into(),
        ],
    )?;
    Ok(())
}

/// Ends a session for good (sign-out).
pub(crate) fn revoke(conn: &dyn Sql, hash: &TokenHash, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
        &[hash.as_slice().into(), now_ms.into()],
    )?;
    Ok(())
}

/// Ends every session of `person_id` but `except` (the one a request came with, if it
/// should stay): a password change, "sign out everywhere", a deactivation.
pub(crate) fn revoke_all_of(
    conn: &dyn Sql,
    person_id: Uuid,
    except: Option<&TokenHash>,
    now_ms: i64,
) -> Result<u64, DbError> {
    let all = "UPDATE sessions SET revoked_at = ?2 WHERE person_id = ?1 AND revoked_at IS NULL";
    match except {
        // Two statements: PostgreSQL cannot type a parameter that may be null on its own.
        Some(kept) => conn.execute(
            &format!("{all} AND token_hash <> ?3"),
            &[person_id.into(), now_ms.into(), kept.as_slice().into()],
        ),
        None => conn.execute(all, &[person_id.into(), now_ms.into()]),
    }
}

/// Forgets sessions that ended more than [`SESSION_TTL_MS`] ago (expired or revoked); their
/// tokens then answer `unauthorized` instead of `session_expired`. Returns how many.
pub(crate) fn prune(conn: &dyn Sql, now_ms: i64) -> Result<u64, DbError> {
    let before = now_ms.saturating_sub(SESSION_TTL_MS);
    conn.execute(
        "DELETE FROM sessions WHERE expires_at < ?1 OR revoked_at < ?1",
        &[before.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[tokio::test]
    async fn sessions_slide_end_and_are_pruned() {
        let (db, _) = crate::db::Db::memory();
        let outcome = db
            .with_writer(|conn| {
                let person = people::service();
                let hash = token_hash("t");
                let t0 = 1_000_000;
                let expires = create(conn, &hash, person.id, t0)?;
                assert_eq!(expires, t0 + SESSION_TTL_MS);
                let live = |at| lookup(conn, &hash, at);
                assert!(matches!(live(t0)?, Lookup::Live { slide: false, .. }));
                // Used after two hours: the expiry should move on.
                let later = t0 + 2 * SLIDE_STEP_MS;
                assert!(matches!(live(later)?, Lookup::Live { slide: true, .. }));
                slide(conn, &hash, later)?;
                assert!(matches!(
                    live(later + SESSION_TTL_MS - 1)?,
                    Lookup::Live { .. }
                ));
                assert!(matches!(live(later + SESSION_TTL_MS)?, Lookup::Ended));
                assert!(matches!(
                    lookup(conn, &token_hash("u"), t0)?,
                    Lookup::Unknown
                ));
                revoke(conn, &hash, later)?;
                assert!(matches!(live(later)?, Lookup::Ended));
                assert_eq!(prune(conn, later + SESSION_TTL_MS - 1)?, 0);
                assert_eq!(prune(conn, later + SESSION_TTL_MS + 1)?, 1);
                assert!(matches!(live(later)?, Lookup::Unknown));
                Ok(())
            })
            .await;
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_session_used_daily_still_ends_90_days_after_sign_in() {
        let (db, _) = crate::db::Db::memory();
        let outcome = db
            .with_writer(|conn| {
                let hash = token_hash("daily");
                let t0 = 5 * DAY_MS;
                create(conn, &hash, people::service().id, t0)?;
                let mut day = t0;
                while day < t0 + SESSION_MAX_AGE_MS {
                    match lookup(conn, &hash, day)? {
                        Lookup::Live { slide: true, .. } => slide(conn, &hash, day)?,
                        Lookup::Live { .. } => {}
                        other => panic!("ended early, on day {}: {other:?}", (day - t0) / DAY_MS),
                    }
                    day += DAY_MS;
                }
                assert!(matches!(lookup(conn, &hash, day)?, Lookup::Ended));
                Ok(())
            })
            .await;
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}
