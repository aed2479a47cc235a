//! Bearer-token auth: when the server has tokens (`--auth-token`), every `/api/v1`
//! endpoint but `/health` needs `Authorization: Bearer <token>`; the events socket may
//! pass it as `?token=` instead, since browsers cannot set headers on a WebSocket.

use crate::app::AppState;
use crate::error::ApiError;
use crate::rate_limit::ClientKey;
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

    /// The identity a candidate token proves, if the server accepts it. Every token is
    /// compared, so the time does not tell which one matched.
    fn identify(&self, candidate: &str) -> Option<Identity> {
        self.0
            .iter()
            .enumerate()
            .fold(None, |found, (index, token)| {
                let matches = constant_time_eq(token.as_bytes(), candidate.as_bytes());
                found.or(matches.then_some(Identity::token(index)))
            })
    }
}

/// Who a request authenticated as: one of the server's tokens (by its place in the list, so
/// no secret is copied around). Put in the request's extensions by [`require`]; the rate
/// limiter keys on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    token: usize,
}

impl Identity {
    pub(crate) fn token(index: usize) -> Self {
        Self { token: index }
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

/// The middleware on `/api/v1`, outside the rate limiter: an accepted token puts its
/// [`Identity`] in the request; a refused request spends its peer address's rate-limit
/// bucket before it is answered 401 (so it is 429 once that is empty).
pub(crate) async fn require(
    State(state): State<AppState>,
    mut request: Request,
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
    let identity = from_header
        .iter()
        .chain(from_query.iter())
        .find_map(|token| state.tokens.identify(token));
    if let Some(identity) = identity {
        request.extensions_mut().insert(identity);
        next.run(request).await
    } else if let Err(too_many) =
        crate::rate_limit::spend(&state, ClientKey::peer(request.extensions()))
    {
        too_many.into_response()
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
        assert!(tokens.identify("s3cret").is_some());
        assert!(tokens.identify("s3cre").is_none());
        assert!(tokens.identify("").is_none());
        assert_eq!(tokens.identify("s3cret"), Some(Identity::token(0)));
        assert_eq!(query_token(Some("a=1&token=x%20y")), Some("x y".into()));
    }
}
