//! What can go wrong: [`ApiError`] for a request (rendered as the contract's error body),
//! [`StartError`] for start-up.
//!
//! A handler returns an `ApiError`; its response carries the error in an extension and no
//! body yet, because the request id is only known to the outermost layer
//! ([`crate::request_id`]), which writes the body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use casedesk_model::{Case, ErrorBody, ErrorCode, ErrorDetail, FieldErrors};

/// The largest request body accepted (the 413's limit).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request that cannot be answered with success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    BadParameters {
        message: String,
        fields: FieldErrors,
    },
    #[error("A valid `Authorization: Bearer <token>` header is required.")]
    Unauthorized,
    #[error("The email or the password is wrong.")]
    InvalidCredentials,
    #[error("The email or the setup code is wrong, or the code was used or has expired.")]
    InvalidSetupCode,
    #[error("The session has expired or was signed out: sign in again.")]
    SessionExpired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error(
        "This Idempotency-Key was already used for a different request (method, path or body)."
    )]
    IdempotencyConflict,
    #[error("{0}")]
    AlreadyExists(String),
    /// 410: a change-feed cursor this database cannot continue from.
    #[error("{0}")]
    CursorExpired(String),
    #[error("This is the last active admin: make someone else an admin first.")]
    LastAdmin,
    #[error("The case has changed: it is at version {}.", current.version)]
    VersionConflict { current: Box<Case> },
    #[error("The request body is over the limit of {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Validation {
        message: String,
        fields: FieldErrors,
    },
    #[error("PATCH needs an `If-Match: \"<version>\"` header naming the version you changed.")]
    PreconditionRequired,
    #[error("Too many requests: retry in {retry_after_secs} s.")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("The server failed: {0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) | Self::BadParameters { .. } => ErrorCode::BadRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::InvalidCredentials | Self::InvalidSetupCode => ErrorCode::InvalidCredentials,
            Self::SessionExpired => ErrorCode::SessionExpired,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::CursorExpired(_) => ErrorCode::CursorExpired,
            Self::LastAdmin => ErrorCode::LastAdmin,
            Self::VersionConflict { .. } => ErrorCode::VersionConflict,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Validation { .. } => ErrorCode::ValidationFailed,
            Self::PreconditionRequired => ErrorCode::PreconditionRequired,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn case_not_found(id: uuid::Uuid) -> Self {
        Self::NotFound(format!("No case with id {id}."))
    }

    /// The error for a response some layer made without our body (a 405 from the router,
    /// a 413 from the body limit), chosen by its status.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden("Forbidden.".into()),
            404 => Self::NotFound("No such resource.".into()),
            405 => Self::MethodNotAllowed("This method is not allowed on this path.".into()),
            413 => Self::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            },
            415 => Self::UnsupportedMediaType("The body must be JSON.".into()),
            s if (400..500).contains(&s) => Self::BadRequest(
                status
                    .canonical_reason()
                    .unwrap_or("Bad request")
                    .to_owned(),
            ),
            503 => Self::Unavailable("The server cannot answer now.".into()),
            _ => Self::Internal(
                status
                    .canonical_reason()
                    .unwrap_or("unknown error")
                    .to_owned(),
            ),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(error: crate::db::DbError) -> Self {
        if error.is_timeout() {
            // Usually after the 408 already went out: nobody reads this answer.
            tracing::warn!(%error, "a query was stopped at the request's deadline");
            return Self::Unavailable("The database took too long to answer.".into());
        }
        tracing::error!(%error, "database error");
        Self::Internal("database error".into())
    }
}

/// An error waiting for its request id; see the module doc.
#[derive(Clone, Debug)]
pub(crate) struct PendingError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) fields: Option<FieldErrors>,
    pub(crate) current: Option<Box<Case>>,
}

impl PendingError {
    /// The JSON body, now that the request id is known.
    pub(crate) fn render(self, request_id: &str) -> Vec<u8> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                request_id: request_id.to_owned(),
                fields: self.fields,
            },
            current: self.current.map(|c| *c),
        };
        // Serialising plain structs of strings, numbers and maps cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl ApiError {
    /// The status, the `Retry-After` seconds if any, and the body still missing its id.
    pub(crate) fn into_parts(self) -> (StatusCode, Option<u64>, PendingError) {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = self.to_string();
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable(_) => Some(1),
            _ => None,
        };
        let (fields, current) = match self {
            Self::BadParameters { fields, .. } | Self::Validation { fields, .. } => {
                (Some(fields), None)
            }
            Self::VersionConflict { current } => (None, Some(current)),
            _ => (None, None),
        };
        let pending = PendingError {
            code,
            message,
            fields,
            current,
        };
        (status, retry_after, pending)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after, pending) = self.into_parts();
        let mut response = status.into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(pending);
        response
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Database(#[from] crate::db::DbError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("bad CORS origin `{0}`")]
    CorsOrigin(String),
    #[error(
        "--cors-origin '*' is refused: it would let any web page call the API; \
         name each allowed origin instead (e.g. --cors-origin http://127.0.0.1:8080)"
    )]
    CorsWildcard,
    #[error(
        "--cors-origin null is refused: `null` is the origin of any sandboxed frame or local \
         file, whoever made it; name each allowed origin instead"
    )]
    CorsNull,
    #[error(
        "a service token (--auth-token) of {shortest} characters is refused: use at least \
         {min} random characters (e.g. `openssl rand -base64 32`)"
    )]
    ShortServiceToken { shortest: usize, min: usize },
    #[error(
        "a --metrics-token of {length} characters is refused: use at least {min} random \
         characters (e.g. `openssl rand -base64 32`)"
    )]
    ShortMetricsToken { length: usize, min: usize },
    #[error(
        "--allow-chaos is refused when listening on {0}: fault injection changes how the \
         server treats everyone, so it runs only on a loopback address (127.0.0.1, ::1)"
    )]
    ChaosBeyondLoopback(std::net::SocketAddr),
    #[error(
        "`{0}` is not an origin: give the scheme, the host and the port if not the \
         scheme's, such as https://casedesk.example or http://127.0.0.1:8080"
    )]
    NotAnOrigin(String),
    #[error("--trust-proxy `{0}` is not an address or a range such as 10.0.0.0/8")]
    NotAProxyRange(String),
    #[error("cannot seed demo data: {0}")]
    Seed(String),
    #[error("{0}")]
    ChangePerson(String),
    #[error("cannot read the password: {0}")]
    ReadPassword(std::io::Error),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
}
