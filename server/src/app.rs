//! Putting it together: the shared state, the router with its layers, and the serve loop
//! with start-up work (migrate, seed, prune) and graceful shutdown.
//!
//! Every answer passes, outermost first: security headers → request id (error bodies) →
//! telemetry (its span, log line and metrics) → the `Host`/`Origin` check → CORS → the
//! whole-request timeout (408) → the request's deadline for its queries → the routes.
//! `/__chaos` answers only to loopback clients.

use crate::auth::Tokens;
use crate::chaos::{Chaos, ChaosSettings};
use crate::config::{Config, LogFormat};
use crate::connections::ConnectionPlaces;
use crate::db::Db;
use crate::error::StartError;
use crate::events::EventBus;
use crate::origin::Origins;
use crate::peer::TrustedProxies;
use crate::rate_limit::RateLimiter;
use crate::sign_in::SignInThrottle;
use crate::state::AppState;
use crate::static_files::Site;
use crate::telemetry::{Live, Telemetry};
use crate::{
    api, chaos, client_errors, clock, compression, connections, idempotency, origin, peer, people,
    rate_limit, request_id, security_headers, seed, static_files, telemetry,
};
use axum::extract::Request as AxumRequest;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

/// How often expired idempotency keys, long-ended sessions and changes older than the
/// change log keeps are pruned (also once at start-up).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for open requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn router(state: AppState, config: &Config, cors: Option<CorsLayer>) -> Router {
    let limits = state.limits;
    let api = api::routes(&state);
    let origin_check = from_fn_with_state(state.clone(), origin::check);
    // `/health` spends its client's bucket like any request (it is also under `/api/v1`).
    let health = get(api::health).route_layer(from_fn_with_state(state.clone(), rate_limit::limit));
    let chaos_routes = Router::new()
        .route(
            "/__chaos",
            get(chaos::show).put(chaos::update).delete(chaos::reset),
        )
        // `layer`, not `route_layer`: a method the route lacks is 404 too, not a 405 that
        // would tell a remote client the path exists.
        .layer(from_fn(loopback_only));
    let telemetry = Arc::clone(&state.telemetry);
    let mut app = Router::new()
        .nest("/api/v1", api.layer(compression::layer()))
        .route("/health", health)
        .route(
            "/metrics",
            get(telemetry::scrape).layer(compression::layer()),
        )
        .merge(chaos_routes)
        .with_state(state);
    app = match &config.static_dir {
        Some(dir) => {
            let site = Router::new()
                .fallback(static_files::serve)
                .with_state(Site::new(dir.clone()))
                .layer(CompressionLayer::new());
            app.fallback_service(site)
        }
        None => app.fallback(api::not_found),
    };
    // The database stops the request's queries when its 408 goes out (below).
    app = app.layer(from_fn_with_state(
        limits.request_timeout,
        queries_until_deadline,
    ));
    // Innermost: a request that takes too long (a body trickling in, a handler stuck) is
    // answered 408; the layers outside give it CORS headers and the JSON error body.
    app = app.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    // Before CORS and everything else: a request for a host this server does not serve
    // (DNS rebinding) or from an origin it does not admit (CSRF) gets nothing.
    app = app.layer(origin_check);
    app.layer(from_fn_with_state(telemetry, telemetry::observe))
        .layer(from_fn(request_id::assign_and_finish))
        .layer(from_fn(security_headers::add))
}

/// Serves the request with its deadline known to the database, which stops its queries
/// then instead of running on for an answer nobody will read.
async fn queries_until_deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: AxumRequest,
    next: Next,
) -> Response {
    crate::db::serve_until(std::time::Instant::now() + timeout, next.run(request)).await
}

/// `/__chaos` changes how the server treats everyone, so even with `--allow-chaos` only a
/// client on this machine may reach it; anyone else gets the 404 of a path that does not
/// exist.
async fn loopback_only(request: AxumRequest, next: Next) -> Response {
    if peer::is_loopback(request.extensions()) {
        next.run(request).await
    } else {
        api::not_found().await.into_response()
    }
}

/// The CORS layer for the named origins; `None` when there are none (same origin only).
/// `*` is refused: the API answers with data for whoever holds a token, and a wildcard
/// would let any page on the web script it with a token it got hold of. `null` is
/// refused too: it is the origin of every sandboxed frame and local file, whoever made it.
fn cors(origins: &[String]) -> Result<Option<CorsLayer>, StartError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| match o.trim() {
            "*" => Err(StartError::CorsWildcard),
            null if null.eq_ignore_ascii_case("null") => Err(StartError::CorsNull),
            trimmed => {
                HeaderValue::from_str(trimmed).map_err(|_| StartError::CorsOrigin(o.clone()))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::PUT,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            idempotency::IDEMPOTENCY_KEY,
            request_id::X_REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            // The app measures a `Retry-After` date against the server's own clock.
            header::DATE,
            request_id::X_REQUEST_ID,
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600));
    Ok(Some(layer))
}

/// What [`run`] serves, made ready: for the server and for in-process tests.
pub(crate) struct Prepared {
    pub(crate) router: Router,
    pub(crate) db: Db,
    /// Sending `true` closes the open events sockets.
    pub(crate) stop: watch::Sender<bool>,
    /// To be told the listen address once the listener is bound (the `Host` check).
    pub(crate) origins: Arc<Origins>,
    pub(crate) trusted: Arc<TrustedProxies>,
    /// The places among the connections served at once.
    pub(crate) places: ConnectionPlaces,
}

/// Checks the flags, opens (and seeds) the database, and builds the router.
pub(crate) async fn prepare(config: &Config) -> Result<Prepared, StartError> {
    // Flags first, so a bad one is refused before anything is created.
    let cors = cors(&config.cors_origins)?;
    let tokens = Tokens::new(config.auth_tokens.clone()).map_err(|shortest| {
        StartError::ShortServiceToken {
            shortest,
            min: crate::auth::MIN_SERVICE_TOKEN_CHARS,
        }
    })?;
    // The same bar as service tokens: the scrape endpoint answers whoever guesses it.
    if let Some(token) = config.metrics_token.as_deref().filter(|t| !t.is_empty()) {
        let length = token.chars().count();
        if length < crate::auth::MIN_SERVICE_TOKEN_CHARS {
            return Err(StartError::ShortMetricsToken {
                length,
                min: crate::auth::MIN_SERVICE_TOKEN_CHARS,
            });
        }
    }
    if config.allow_chaos && !config.addr.ip().is_loopback() {
        return Err(StartError::ChaosBeyondLoopback(config.addr));
    }
    let origins = Origins::new(&config.public_origins, &config.cors_origins)
        .map_err(StartError::NotAnOrigin)?;
    let trusted =
        TrustedProxies::parse(&config.trust_proxies).map_err(StartError::NotAProxyRange)?;
    let (db, was_new) = Db::open(&config.db).await?;
    let db = db.with_query_timeout(config.limits().request_timeout);
    tracing::info!(engine = ?db.engine(), was_new, schema = db.schema_version(), "database ready");

    if config.seed_demo {
        let count = config.demo_cases;
        let started = std::time::Instant::now();
        let demo_hash =
            tokio::task::spawn_blocking(|| people::hash_password(people::DEMO_PASSWORD))
                .await
                .map_err(|e| StartError::Seed(e.to_string()))?
                .map_err(|e| StartError::Seed(e.to_string()))?;
        let inserted = db
            .with_writer(move |conn| seed::seed(conn, count, clock::now(), &demo_hash))
            .await
            .map_err(|e| StartError::Seed(e.to_string()))?;
        tracing::info!(inserted, elapsed = ?started.elapsed(), "demo data seeded");
        if inserted > 0 {
            db.settle_after_bulk_load()
                .await
                .map_err(|e| StartError::Seed(e.to_string()))?;
        }
        announce_demo_people(config.log_format);
    }
    if !config.no_auth {
        let people = db.read(people::count).await?;
        if people == 0 {
            announce_first_admin(config.log_format);
        }
    }
    let sign_in = SignInThrottle::new(
        config.sign_in_max_failures,
        Duration::from_secs(config.sign_in_window_s),
    )
    .map_err(|e| StartError::Seed(e.to_string()))?;

    let (stop, shutdown) = watch::channel(false);
    let places = ConnectionPlaces::new(config.limits().max_connections);
    let sockets = Arc::new(peer::PerPeer::default());
    let password_checks = Arc::new(crate::password_checks::PasswordChecks::for_this_machine());
    let telemetry = Arc::new(Telemetry::new(
        config.metrics_token.clone(),
        config.static_dir.is_some(),
        Live {
            db: db.clone(),
            places: places.clone(),
            sockets: Arc::clone(&sockets),
            password_checks: Arc::clone(&password_checks),
        },
    ));
    let state = AppState {
        db: db.clone(),
        events: EventBus::new(config.event_buffer),
        chaos: Arc::new(Chaos::new(
            config.allow_chaos,
            ChaosSettings {
                fail_rate: config.chaos_fail_rate,
                latency_ms: [
                    config.chaos_latency_ms.min_ms,
                    config.chaos_latency_ms.max_ms,
                ],
                drop_rate: config.chaos_drop_rate,
                ..ChaosSettings::off()
            },
        )),
        rate_limiter: RateLimiter::new(
            config.rate_limit_per_sec,
            config.rate_limit_burst,
            config.rate_limit_max_clients,
        )
        .map(Arc::new),
        auth_failures: RateLimiter::for_failed_auth(
            config.rate_limit_per_sec,
            config.rate_limit_max_clients,
        )
        .map(Arc::new),
        tokens: Arc::new(tokens),
        people: !config.no_auth,
        sign_in: Arc::new(sign_in),
        password_checks,
        origins: Arc::new(origins),
        ws_ping_interval: config.ws_ping_interval(),
        limits: config.limits(),
        sockets,
        shutdown,
        telemetry,
        client_error_limiter: client_errors::limiter().map(Arc::new),
    };
    crate::pg_events::start(db.clone(), state.events.clone()).await?;
    let origins = Arc::clone(&state.origins);
    Ok(Prepared {
        router: router(state, config, cors),
        db,
        stop,
        origins,
        trusted: Arc::new(trusted),
        places,
    })
}

/// Runs the server until SIGTERM, SIGINT or Ctrl-C.
pub async fn run(config: Config) -> Result<(), StartError> {
    let Prepared {
        router,
        db,
        stop,
        origins,
        trusted,
        places,
    } = prepare(&config).await?;
    let pruner = tokio::spawn(prune_forever(db));

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.addr,
            source,
        })?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    origins.listening_on(local);
    if origins.serves_any_address() {
        tracing::warn!(
            "listening on every address without --public-origin: requests must name this \
             server by an IP address or localhost; name the others with --public-origin"
        );
    }
    if config.no_auth {
        tracing::warn!("--no-auth: anyone who reaches this port acts as Guest (demos only)");
    }
    announce(local);

    let (stopping_tx, mut stopping_rx) = watch::channel(false);
    let server = connections::serve(
        listener,
        router,
        config.limits(),
        trusted,
        places,
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop.send(true);
            let _ = stopping_tx.send(true);
        },
    );
    let grace = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = server => {}
        () = grace => tracing::warn!("open requests did not finish in time; stopping anyway"),
    }
    pruner.abort();
    Ok(())
}

/// The one line on standard output, which tests read for the port.
fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    // If stdout is gone nobody is listening for the line; the server still runs.
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}

/// How to make the first admin of a database without people, on standard error (one JSON
/// line in JSON logs).
fn announce_first_admin(format: LogFormat) {
    if format == LogFormat::Json {
        tracing::warn!(
            command = "casedesk-server user add --email E --name N --role admin",
            "this database has no people yet, so nobody can sign in: make the first admin \
             (with the same --db)"
        );
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "casedesk: this database has no people yet, so nobody can sign in. Make the first \
         admin (with the same --db), typing a password when asked:\n  \
         casedesk-server user add --email E --name N --role admin"
    );
}

/// How to sign in to a new demo database, on standard error (standard output carries only
/// the `listening on` line). In JSON logs, one line without the password: a log collector
/// keeps what it reads, and its lines must all be JSON.
fn announce_demo_people(format: LogFormat) {
    if format == LogFormat::Json {
        let emails: Vec<&str> = people::DEMO_PEOPLE
            .iter()
            .map(|(_, _, email, _)| *email)
            .collect();
        tracing::info!(
            people = ?emails,
            "demo people added (their password is in docs/api.md §3)"
        );
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "casedesk: demo people (password `{}`):",
        people::DEMO_PASSWORD
    );
    for (_, name, email, role) in people::DEMO_PEOPLE {
        let _ = writeln!(stderr, "  {email}  {name} ({})", role.as_str());
    }
}

async fn prune_forever(db: Db) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let pruned = db
            .with_writer(|conn| idempotency::prune(conn, clock::now_millis()))
            .await;
        match pruned {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "expired idempotency keys pruned"),
            Err(error) => tracing::warn!(%error, "cannot prune idempotency keys"),
        }
        if db.engine() == crate::db::Engine::Postgres {
            let stored = db
                .with_writer(|conn| crate::pg_events::prune(conn, clock::now_millis()))
                .await;
            if let Err(error) = stored {
                tracing::warn!(%error, "cannot prune stored change events");
            }
        }
        let changes = db
            .with_writer(|conn| crate::change_log::prune(conn, clock::now_millis()))
            .await;
        match changes {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "changes past the change log's retention pruned"),
            Err(error) => tracing::warn!(%error, "cannot prune the change log"),
        }
        let ended = db
            .with_writer(|conn| crate::sessions::prune(conn, clock::now_millis()))
            .await;
        match ended {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "long-ended sessions pruned"),
            Err(error) => tracing::warn!(%error, "cannot prune sessions"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests;
