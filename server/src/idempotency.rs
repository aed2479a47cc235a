//! Idempotency keys: `POST`, `PATCH` and `DELETE` may carry `Idempotency-Key: <uuid>`.
//!
//! The first successful response to a key is stored in the same transaction as the change
//! it reports, so a crash can never apply a change and forget its key. A repeat with the
//! same method, path and body gets that response again (status, ETag, content type,
//! body) and changes nothing; the same key on a different request is a 409. Since all
//! writers of one key take turns in the database (SQLite writes one transaction at a time;
//! on PostgreSQL the key is locked for the transaction, across servers), the second of
//! two concurrent requests with one key sees the first's record. Error answers are not
//! stored, so a request that failed may be retried with its key. Keys are kept for
//! [`RETENTION_MS`] (the contract asks for at least 8 days, longer than the app retries),
//! across restarts. A key past that age counts as absent as soon as it is looked up, not
//! only once the hourly prune has removed it, so expiry does not depend on the prune's
//! timing.

use crate::db::{lock_key_of, DbError, Sql};
use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

/// How long keys are kept: 8 days, as the contract promises (the app gives up retrying
/// an action well before that).
pub(crate) const RETENTION_MS: i64 = 8 * crate::clock::DAY_MS;

/// The header naming the key.
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed response (an extension of the contract, for debugging).
pub(crate) const IDEMPOTENT_REPLAY: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Reads the `Idempotency-Key` header: absent is fine, anything but a UUID is a 400.
pub(crate) fn key_from_headers(headers: &HeaderMap) -> Result<Option<Uuid>, ApiError> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| Uuid::parse_str(text.trim()).ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest("The Idempotency-Key header must be a UUID.".into()))
}

/// What a key is bound to.
#[derive(Clone, Debug)]
pub(crate) struct Fingerprint {
    pub(crate) key: Uuid,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) body_hash: [u8; 32],
}

/// A response as stored for replay (and as every mutation builds it).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredResponse {
    pub(crate) status: u16,
    pub(crate) etag: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl StoredResponse {
    /// A JSON response.
    pub(crate) fn json<T: serde::Serialize>(
        status: StatusCode,
        value: &T,
        etag: Option<String>,
    ) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ApiError::Internal(format!("cannot encode the response: {e}")))?;
        Ok(Self {
            status: status.as_u16(),
            etag,
            content_type: Some(crate::api::JSON_CONTENT_TYPE.to_owned()),
            body,
        })
    }

    /// An answer without a body (204).
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status: status.as_u16(),
            etag: None,
            content_type: None,
            body: Vec::new(),
        }
    }
}

impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_TYPE);
        if let Some(value) = self
            .content_type
            .and_then(|v| HeaderValue::try_from(v).ok())
        {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(value) = self.etag.and_then(|v| HeaderValue::try_from(v).ok()) {
            headers.insert(header::ETAG, value);
        }
        response
    }
}

/// What the store knows about a key.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Never seen (or expired): go ahead.
    Fresh,
    /// Seen with this very request: answer this.
    Replay(StoredResponse),
    /// Seen with another request.
    Conflict,
}

/// What the store knows about `request`'s key at `now_ms`. An expired record is deleted
/// here, inside the caller's transaction, so that [`record`] can store the key afresh.
/// The key stays locked until the caller's transaction ends.
pub(crate) fn lookup(
    conn: &dyn Sql,
    request: &Fingerprint,
    now_ms: i64,
) -> Result<Lookup, DbError> {
    conn.lock_key(lock_key_of(request.key.as_bytes()))?;
    let expired = conn.execute(
        "DELETE FROM idempotency_keys WHERE key = ?1 AND created_at < ?2",
        &[
            request.key.into(),
            now_ms.saturating_sub(RETENTION_MS).into(),
        ],
    )?;
    if expired > 0 {
        return Ok(Lookup::Fresh);
    }
    let row = conn.query_opt(
        "SELECT method, path, body_hash, status, etag, content_type, body
         FROM idempotency_keys WHERE key = ?1",
        &[request.key.into()],
    )?;
    let Some(row) = row else {
        return Ok(Lookup::Fresh);
    };
    let same = row.text(0)? == request.method
        && row.text(1)? == request.path
        && row.bytes(2)? == request.body_hash;
    if !same {
        return Ok(Lookup::Conflict);
    }
    Ok(Lookup::Replay(StoredResponse {
        status: u16::try_from(row.int(3)?).unwrap_or(500),
        etag: row.opt_text(4)?,
        content_type: row.opt_text(5)?,
        body: row.bytes(6)?,
    }))
}

pub(crate) fn record(
    conn: &dyn Sql,
    request: &Fingerprint,
    response: &StoredResponse,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO idempotency_keys
             (key, method, path, body_hash, status, etag, content_type, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            request.key.into(),
            request.method.as_str().into(),
            request.path.as_str().into(),
            request.body_hash.as_slice().into(),
            i64::from(response.status).into(),
            response.etag.as_deref().into(),
            response.content_type.as_deref().into(),
            response.body.clone().into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// Forgets keys older than [`RETENTION_MS`]; returns how many.
pub(crate) fn prune(conn: &dyn Sql, now_ms: i64) -> Result<u64, DbError> {
    conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < ?1",
        &[now_ms.saturating_sub(RETENTION_MS).into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_replay_conflict_and_expire() {
        let (db, _) = crate::db::Db::memory();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(db.with_writer(|conn| {
            let request = Fingerprint {
                key: Uuid::from_u128(7),
                method: "POST".into(),
                path: "/api/v1/cases".into(),
                body_hash: [1; 32],
            };
            assert!(matches!(lookup(conn, &request, 1_000)?, Lookup::Fresh));
            let response = StoredResponse {
                status: 201,
                etag: Some("\"1\"".into()),
                content_type: Some("application/json".into()),
                body: b"{}".to_vec(),
            };
            record(conn, &request, &response, 1_000)?;
            match lookup(conn, &request, 1_000)? {
                Lookup::Replay(stored) => assert_eq!(stored, response),
                other => panic!("expected a replay, got {other:?}"),
            }
            let other_body = Fingerprint {
                body_hash: [2; 32],
                ..request.clone()
            };
            assert!(matches!(
                lookup(conn, &other_body, 1_000)?,
                Lookup::Conflict
            ));
            let other_path = Fingerprint {
                path: "/api/v1/cases/x".into(),
                ..request.clone()
            };
            assert!(matches!(
                lookup(conn, &other_path, 1_000)?,
                Lookup::Conflict
            ));
            assert_eq!(prune(conn, 1_000 + RETENTION_MS - 1)?, 0);
            assert_eq!(prune(conn, 1_001 + RETENTION_MS)?, 1);
            assert!(matches!(lookup(conn, &request, 1_000)?, Lookup::Fresh));
            Ok(())
        }))
        .unwrap();
    }

    #[test]
    fn an_expired_key_is_absent_on_lookup_before_any_prune() {
        let (db, _) = crate::db::Db::memory();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(db.with_writer(|conn| {
            let request = Fingerprint {
                key: Uuid::from_u128(8),
                method: "POST".into(),
                path: "/api/v1/cases".into(),
                body_hash: [1; 32],
            };
            let response = StoredResponse::empty(StatusCode::NO_CONTENT);
            record(conn, &request, &response, 1_000)?;
            let last_day = 1_000 + RETENTION_MS;
            assert!(matches!(
                lookup(conn, &request, last_day)?,
                Lookup::Replay(_)
            ));
            assert!(matches!(
                lookup(conn, &request, last_day + 1)?,
                Lookup::Fresh
            ));
            // The key can be stored again for the new request.
            record(conn, &request, &response, last_day + 1)?;
            assert!(matches!(
                lookup(conn, &request, last_day + 1)?,
                Lookup::Replay(_)
            ));
            Ok(())
        }))
        .unwrap();
    }

    #[test]
    fn keys_must_be_uuids() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_from_headers(&headers).unwrap(), None);
        headers.insert(&IDEMPOTENCY_KEY, HeaderValue::from_static("abc"));
        assert!(key_from_headers(&headers).is_err());
        headers.insert(
            &IDEMPOTENCY_KEY,
            HeaderValue::from_static("0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44"),
        );
        assert!(key_from_headers(&headers).unwrap().is_some());
    }
}
