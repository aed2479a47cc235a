//! The state every request can reach (`AppState`), apart from `app` (which builds it and
//! the router) so that the handlers and middleware that read it do not depend on `app`,
//! nor `app` on them through it.

use crate::auth::Tokens;
use crate::chaos::Chaos;
use crate::config::Limits;
use crate::db::Db;
use crate::events::EventBus;
use crate::origin::Origins;
use crate::password_checks::PasswordChecks;
use crate::peer::PerPeer;
use crate::rate_limit::RateLimiter;
use crate::sign_in::SignInThrottle;
use crate::telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every request can reach; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: Db,
    pub(crate) events: EventBus,
    pub(crate) chaos: Arc<Chaos>,
    pub(crate) rate_limiter: Option<Arc<RateLimiter>>,
    /// Failed authentications per address, a much smaller bucket (see `auth::require`).
    pub(crate) auth_failures: Option<Arc<RateLimiter>>,
    pub(crate) tokens: Arc<Tokens>,
    /// People on (the default): every request but `/health` and sign-in needs a token.
    pub(crate) people: bool,
    pub(crate) sign_in: Arc<SignInThrottle>,
    /// Argon2id computations at once (sign-in, passwords set).
    pub(crate) password_checks: Arc<PasswordChecks>,
    /// The origins this server is reached by and those allowed to call it.
    pub(crate) origins: Arc<Origins>,
    pub(crate) ws_ping_interval: Duration,
    pub(crate) limits: Limits,
    /// Events sockets open per peer address.
    pub(crate) sockets: Arc<PerPeer>,
    /// Becomes `true` when the server stops; open sockets close.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The request metrics and `/metrics`.
    pub(crate) telemetry: Arc<Telemetry>,
    /// Crash reports per address (`client_errors`).
    pub(crate) client_error_limiter: Option<Arc<RateLimiter>>,
}
