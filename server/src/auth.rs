//! Who a request acts as (docs/api.md §4), put in the request by [`require`] on `/api/v1`.
//!
//! A bearer token is either a service token (`--auth-token`, acting as the person
//! "Service") or a session's (`POST /session`). With people on (the default) every endpoint
//! but the open ones (`/health`, signing in, the app's crash reports: see `api`) needs one;
//! the events socket may instead send it as its first message (see `events`), since
//! browsers cannot set headers on a WebSocket and a token in a URL ends up in logs. Under
//! `--no-auth` a request without a token acts as "Guest"; one that sends a token must still
//! send a valid one.
//!
//! What the actor may do is checked per endpoint by [`permit`], with the rule the route
//! table (`api`) gives each route: 403 `forbidden` for what the role does not allow.

use crate::clock;
use crate::error::ApiError;
use crate::people;
use crate::rate_limit::ClientKey;
use crate::sessions::{self, Lookup, TokenHash};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use casedesk_model::{Permission, Person};
use uuid::Uuid;

/// The fewest characters a service token may have: a token is a password nobody types,
/// and a short one could be guessed through the API.
pub(crate) const MIN_SERVICE_TOKEN_CHARS: usize = 32;

/// The service tokens the server accepts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tokens(Vec<String>);

impl Tokens {
    /// The `--auth-token`s; `Err` names how long the shortest one is when it is shorter
    /// than [`MIN_SERVICE_TOKEN_CHARS`] (empty ones are left out).
    pub(crate) fn new(tokens: Vec<String>) -> Result<Self, usize> {
        let tokens: Vec<String> = tokens.into_iter().filter(|t| !t.is_empty()).collect();
        match tokens.iter().map(|t| t.chars().count()).min() {
            Some(shortest) if shortest < MIN_SERVICE_TOKEN_CHARS => Err(shortest),
            _ => Ok(Self(tokens)),
        }
    }

    /// The place of the service token `candidate` is, if it is one. Every token is
    /// compared, so the time does not tell which one matched.
    fn identify(&self, candidate: &str) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .fold(None, |found, (index, token)| {
                let matches = constant_time_eq(token.as_bytes(), candidate.as_bytes());
                found.or(matches.then_some(index))
            })
    }
}

/// Who a request authenticated as, as the rate limiter keys it (no secret is kept here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Identity {
    /// A service token, by its place in the list.
    Service(usize),
    /// A signed-in person.
    Person(Uuid),
}

#[cfg(test)]
impl Identity {
    pub(crate) fn token(index: usize) -> Self {
        Self::Service(index)
    }
}

/// Who is behind an [`Actor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActorKind {
    /// A signed-in person: their role decides.
    Person,
    /// A service token: everything, as before roles.
    Service,
    /// Anyone under `--no-auth`: everything on cases, as before roles; but without people
    /// on, nobody manages people (the port is open to whoever reaches it).
    Guest,
}

/// The person a request acts as, and the session it came with (for sign-out).
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub(crate) person: Person,
    pub(crate) session: Option<TokenHash>,
    pub(crate) kind: ActorKind,
}

impl Actor {
    pub(crate) fn id(&self) -> Uuid {
        self.person.id
    }

    /// Everyone under `--no-auth`.
    pub(crate) fn guest() -> Self {
        Self {
            person: people::guest(),
            session: None,
            kind: ActorKind::Guest,
        }
    }

    /// Whoever holds a service token.
    pub(crate) fn service() -> Self {
        Self {
            person: people::service(),
            session: None,
            kind: ActorKind::Service,
        }
    }

    /// Whether this actor may do `permission`.
    pub(crate) fn allows(&self, permission: Permission) -> bool {
        match self.kind {
            ActorKind::Person => self.person.active && self.person.role.allows(permission),
            ActorKind::Service => true,
            ActorKind::Guest => permission != Permission::ManagePeople,
        }
    }
}

/// The refusal of a request the actor's role does not allow.
pub(crate) fn forbidden(permission: Permission) -> ApiError {
    let what = match permission {
        Permission::Read => "read here",
        Permission::OwnAccount => "manage an account",
        Permission::WriteCases => "create or change cases and notes",
        Permission::DeleteCases => "delete cases",
        Permission::ManagePeople => "manage people",
    };
    ApiError::Forbidden(format!("Your role does not allow you to {what}."))
}

/// The middleware on each route that needs a signed-in actor: 403 `forbidden` unless the
/// actor [`Actor::allows`] `permission`. A request with no actor yet (the events socket,
/// which may authenticate in its first message) passes: the handler checks it then.
pub(crate) async fn permit(
    State(permission): State<Permission>,
    request: Request,
    next: Next,
) -> Response {
    match request.extensions().get::<Actor>() {
        Some(actor) if !actor.allows(permission) => forbidden(permission).into_response(),
        _ => next.run(request).await,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

/// The person `token` proves, with the identity the rate limiter keys on. A live session's
/// expiry is moved on (best effort: a failure to write it only shortens the session).
///
/// A token that is not a service token is looked up in the database only if `client` has
/// failed authentications left (429 otherwise); a token that is not a live session's
/// spends one (see `rate_limit`).
pub(crate) async fn authenticate(
    state: &AppState,
    token: &str,
    client: ClientKey,
) -> Result<(Actor, Identity), ApiError> {
    if let Some(index) = state.tokens.identify(token) {
        return Ok((Actor::service(), Identity::Service(index)));
    }
    crate::rate_limit::spend_auth_attempt(state, client)?;
    let hash = sessions::token_hash(token);
    let now_ms = clock::shifted(state.chaos.clock_offset_ms()).unix_millis();
    let found = state
        .db
        .read(move |tx| Ok::<_, ApiError>(sessions::lookup(tx, &hash, now_ms)?))
        .await;
    if !matches!(found, Ok(Lookup::Ended | Lookup::Unknown)) {
        // A live session, or a lookup that failed: no failed authentication.
        crate::rate_limit::refund_auth_attempt(state, client);
    }
    match found? {
        Lookup::Live { person, slide } => {
            if slide {
                let slid = state
                    .db
                    .write(
                        move |tx| Ok::<_, ApiError>(sessions::slide(tx, &hash, now_ms)?),
                        |_| {},
                    )
                    .await;
                if let Err(error) = slid {
                    tracing::warn!(%error, "cannot move a session's expiry on");
                }
            }
            let identity = Identity::Person(person.id);
            Ok((
                Actor {
                    person,
                    session: Some(hash),
                    kind: ActorKind::Person,
                },
                identity,
            ))
        }
        Lookup::Ended => Err(ApiError::SessionExpired),
        Lookup::Unknown => Err(ApiError::Unauthorized),
    }
}

/// Whether the session of `hash` is still live (not signed out, revoked, expired, nor its
/// person deactivated); a database failure counts as live, to be asked again later.
pub(crate) async fn session_is_live(state: &AppState, hash: TokenHash) -> bool {
    let now_ms = clock::shifted(state.chaos.clock_offset_ms()).unix_millis();
    let found = state
        .db
        .read(move |tx| Ok::<_, ApiError>(sessions::lookup(tx, &hash, now_ms)?))
        .await;
    !matches!(found, Ok(Lookup::Ended | Lookup::Unknown))
}

/// The middleware on `/api/v1`, outside the rate limiter: puts the [`Actor`] (and the
/// [`Identity`] the limiter keys on) in the request. A refused request spends its peer
/// address's rate-limit bucket before it is answered 401 (so it is 429 once that is empty),
/// and a token that is no live session's its bucket of failed authentications.
pub(crate) async fn require(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if crate::api::is_open(request.method(), &path) {
        return next.run(request).await;
    }
    let token = bearer_token(request.headers()).map(str::to_owned);
    let client = ClientKey::peer(request.extensions());
    let result: Result<Option<(Actor, Option<Identity>)>, ApiError> = match token {
        Some(token) => authenticate(&state, &token, client)
            .await
            .map(|(actor, identity)| Some((actor, Some(identity)))),
        // Guests have no identity: the limiter keys them by address.
        None if !state.people => Ok(Some((Actor::guest(), None))),
        // The events socket may authenticate with its first message instead.
        None if path == "/events" => Ok(None),
        None => Err(ApiError::Unauthorized),
    };
    match result {
        Ok(found) => {
            if let Some((actor, identity)) = found {
                crate::telemetry::record_person(actor.id());
                request.extensions_mut().insert(actor);
                if let Some(identity) = identity {
                    request.extensions_mut().insert(identity);
                }
            }
            next.run(request).await
        }
        // Too many failed authentications from this address: refused before a lookup.
        Err(too_many @ ApiError::RateLimited { .. }) => too_many.into_response(),
        Err(refused) => {
            if let Err(too_many) = crate::rate_limit::spend(&state, client) {
                return too_many.into_response();
            }
            let mut response = refused.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            response
        }
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
        let secret = "s3cret-s3cret-s3cret-s3cret-s3cret";
        let tokens = Tokens::new(vec![secret.into(), String::new()]).unwrap();
        assert_eq!(tokens.identify(secret), Some(0));
        assert!(tokens.identify(&secret[1..]).is_none());
        assert!(tokens.identify("").is_none());
        assert_eq!(
            Tokens::new(vec![secret.into(), "s3cret".into()]).err(),
            Some(6)
        );
    }
}
