//! The error body every failing endpoint returns:
//! `{"error":{"code","message","request_id","fields"?},"current"?}`.

use crate::{Case, FieldErrors};
use serde::{Deserialize, Serialize};

/// What went wrong, as a stable machine-readable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed JSON or parameters.
    BadRequest,
    /// 401: missing or invalid bearer token.
    Unauthorized,
    /// 401: sign-in with an unknown email or a wrong password (the same answer for both).
    InvalidCredentials,
    /// 401: the session's token expired or was revoked; sign in again.
    SessionExpired,
    /// 403: a request the person's role does not allow, from a foreign `Origin`, or to a
    /// `Host` the server does not serve.
    Forbidden,
    /// 404: no such resource.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: an idempotency key reused with a different request.
    IdempotencyConflict,
    /// 409: a case with this id already exists (a create with a fresh key).
    AlreadyExists,
    /// 409: the change would leave no active admin (demoting or deactivating the last one).
    LastAdmin,
    /// 410: a change-feed cursor older than the server keeps, or from another database:
    /// start again from a fresh working set (`GET /changes` without `since`).
    CursorExpired,
    /// 412: `If-Match` names an old version; `current` holds the server's case.
    VersionConflict,
    /// 413: body over 64 KiB.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: a field breaks a rule; `fields` names each.
    ValidationFailed,
    /// 428: `If-Match` missing on PATCH.
    PreconditionRequired,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 500: the server failed.
    Internal,
    /// 503: the server cannot answer now (including injected chaos).
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status this code is sent with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized | Self::InvalidCredentials | Self::SessionExpired => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::IdempotencyConflict | Self::AlreadyExists | Self::LastAdmin => 409,
            Self::CursorExpired => 410,
            Self::VersionConflict => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ValidationFailed => 422,
            Self::PreconditionRequired => 428,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }
}

/// The inner `error` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence a person can read.
    pub message: String,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
}

/// The whole error body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// On 412 only: the case as the server holds it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Case>,
}
