//! Setup codes in SQL: how a person an admin added signs in the first time (and how an
//! admin lets someone back in who forgot their password).
//!
//! A code is 32 random bytes (like a session token, so far past guessing that a wrong one
//! needs no throttle before the slow password hash it leads to), shown once; only its
//! SHA-256 is stored. Each person has at most one: a new code replaces the old, using one
//! deletes it, and it is worth nothing after 7 days.

use crate::clock::DAY_MS;
use crate::db::{DbError, Sql};
use crate::sessions::{self, RandomError};
use uuid::Uuid;

/// How long a setup code works.
pub(crate) const SETUP_CODE_TTL_MS: i64 = 7 * DAY_MS;

/// A fresh code (43 characters of base64url) and what is stored of it.
pub(crate) fn new_code() -> Result<(String, [u8; 32]), RandomError> {
    let code = sessions::new_token()?;
    let hash = sessions::token_hash(&code);
    Ok((code, hash))
}

/// Makes `code_hash` the one setup code of `person_id`, from `now_ms`; returns its expiry.
pub(crate) fn replace(
    conn: &dyn Sql,
    person_id: Uuid,
    code_hash: &[u8; 32],
    now_ms: i64,
) -> Result<i64, DbError> {
    let expires_at = now_ms.saturating_add(SETUP_CODE_TTL_MS);
    conn.execute(
        "INSERT INTO setup_codes (person_id, code_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (person_id) DO UPDATE
         SET code_hash = excluded.code_hash, created_at = excluded.created_at,
             expires_at = excluded.expires_at",
        &[
            person_id.into(),
            code_hash.as_slice().into(),
            now_ms.into(),
            expires_at.into(),
        ],
    )?;
    Ok(expires_at)
}

/// Whether `code_hash` is the live code of `person_id` (without using it up).
pub(crate) fn is_live(
    conn: &dyn Sql,
    person_id: Uuid,
    code_hash: &[u8; 32],
    now_ms: i64,
) -> Result<bool, DbError> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM setup_codes
                        WHERE person_id = ?1 AND code_hash = ?2 AND expires_at > ?3)",
        &[person_id.into(), code_hash.as_slice().into(), now_ms.into()],
    )?
    .bool(0)
}

/// Uses up the code `code_hash` if it is the live code of `person_id`: deletes it and
/// answers true; otherwise (unknown, someone else's, expired) changes nothing and answers
/// false. Deleting is the check, so two uses at once cannot both succeed.
pub(crate) fn take(
    conn: &dyn Sql,
    person_id: Uuid,
    code_hash: &[u8; 32],
    now_ms: i64,
) -> Result<bool, DbError> {
    let taken = conn.execute(
        "DELETE FROM setup_codes WHERE person_id = ?1 AND code_hash = ?2 AND expires_at > ?3",
        &[person_id.into(), code_hash.as_slice().into(), now_ms.into()],
    )?;
    Ok(taken == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people;

    #[tokio::test]
    async fn a_code_works_once_only_for_its_person_and_only_for_seven_days() {
        let (db, _) = crate::db::Db::memory();
        let outcome = db
            .with_writer(|conn| {
                let person = people::service().id;
                let other = people::guest().id;
                let t0 = 1_000;
                let (code, hash) = new_code().map_err(|e| DbError::Task(e.to_string()))?;
                assert_eq!(code.len(), 43);
                assert_eq!(replace(conn, person, &hash, t0)?, t0 + SETUP_CODE_TTL_MS);
                assert!(!take(conn, other, &hash, t0)?, "someone else's code");
                assert!(is_live(conn, person, &hash, t0)?);
                assert!(take(conn, person, &hash, t0)?);
                assert!(!take(conn, person, &hash, t0)?, "used already");

                let (_, old) = new_code().map_err(|e| DbError::Task(e.to_string()))?;
                let (_, new) = new_code().map_err(|e| DbError::Task(e.to_string()))?;
                replace(conn, person, &old, t0)?;
                replace(conn, person, &new, t0)?;
                assert!(!take(conn, person, &old, t0)?, "replaced");
                assert!(
                    !take(conn, person, &new, t0 + SETUP_CODE_TTL_MS)?,
                    "expired"
                );
                assert!(take(conn, person, &new, t0 + SETUP_CODE_TTL_MS - 1)?);
                Ok(())
            })
            .await;
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}
