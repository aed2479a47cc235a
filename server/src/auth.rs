//! Bearer-token auth: when the server has tokens (`--auth-token`), every `/api/v1`
//! endpoint but `/health` needs `Authorization: Bearer <token>`; the events socket may
//! pass it as `?token=` instead, since browsers cannot set headers on a WebSocket.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The tokens the server accepts; empty means auth is off.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tokens(Vec<String>);

impl Tokens {
    pub(crate) fn new(tokens: Vec<String>) -> Self {
        Self(tokens.into_iter().filter(|t| !t.is_empty()).collect())
    }

    fn accepts(&self, candidate: &str) -> bool {
        self.0
            .iter()
            .any(|token| constant_time_eq(token.as_bytes(), candidate.as_bytes()))
    }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

/// The middleware on `/api/v1`.
pub(crate) async fn require(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.tokens.0.is_empty() || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let from_header = bearer_token(request.headers()).map(str::to_owned);
    let from_query = if request.uri().path() == "/events" {
        query_token(request.uri().query())
    } else {
        None
    };
    let authorised = from_header
        .iter()
        .chain(from_query.iter())
        .any(|token| state.tokens.accepts(token));
    if authorised {
        next.run(request).await
    } else {
        let mut response = ApiError::Unauthorized.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_are_read_and_compared() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  s3cret "),
        );
        assert_eq!(bearer_token(&headers), Some("s3cret"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        let tokens = Tokens::new(vec!["s3cret".into(), String::new()]);
        assert!(tokens.accepts("s3cret"));
        assert!(!tokens.accepts("s3cre"));
        assert!(!tokens.accepts(""));
        assert_eq!(query_token(Some("a=1&token=x%20y")), Some("x y".into()));
    }
}
