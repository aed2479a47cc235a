//! Putting it together: the shared state, the router with its layers, and the serve loop
//! with start-up work (migrate, seed, prune) and graceful shutdown.

use crate::auth::Tokens;
use crate::chaos::{Chaos, ChaosSettings};
use crate::config::Config;
use crate::db::Db;
use crate::error::StartError;
use crate::events::EventBus;
use crate::rate_limit::RateLimiter;
use crate::static_files::Site;
use crate::{api, chaos, clock, idempotency, request_id, seed, static_files};
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use axum::middleware::from_fn;
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// How often expired idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for open requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every request can reach; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: Db,
    pub(crate) events: EventBus,
    pub(crate) chaos: Arc<Chaos>,
    pub(crate) rate_limiter: Option<Arc<RateLimiter>>,
    pub(crate) tokens: Arc<Tokens>,
    pub(crate) ws_ping_interval: Duration,
    /// Becomes `true` when the server stops; open sockets close.
    pub(crate) shutdown: watch::Receiver<bool>,
}

fn router(state: AppState, config: &Config) -> Result<Router, StartError> {
    let api = api::routes(&state);
    let mut app = Router::new()
        .nest("/api/v1", api)
        .route("/health", get(api::health))
        .route(
            "/__chaos",
            get(chaos::show).put(chaos::update).delete(chaos::reset),
        )
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
    if !config.cors_origins.is_empty() {
        app = app.layer(cors(&config.cors_origins)?);
    }
    Ok(app
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .extensions()
                        .get::<request_id::RequestId>()
                        .map_or("", |id| id.0.as_str());
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(from_fn(request_id::assign_and_finish)))
}

fn cors(origins: &[String]) -> Result<CorsLayer, StartError> {
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o.trim()).map_err(|_| StartError::CorsOrigin(o.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
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
            request_id::X_REQUEST_ID,
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600)))
}

/// Runs the server until SIGTERM, SIGINT or Ctrl-C.
pub async fn run(config: Config) -> Result<(), StartError> {
    let (db, was_new) = Db::open(&config.db)?;
    tracing::info!(db = %config.db, was_new, schema = crate::db::SCHEMA_VERSION, "database ready");

    let seed_demo = config.seed_demo || (was_new && !config.no_seed_demo);
    if seed_demo {
        let count = config.demo_cases;
        let started = std::time::Instant::now();
        let inserted = db
            .with_writer(move |conn| Ok(seed::seed(conn, count, clock::now())?))
            .await
            .map_err(|e| StartError::Seed(e.to_string()))?;
        tracing::info!(inserted, elapsed = ?started.elapsed(), "demo data seeded");
    }

    let (stop, shutdown) = watch::channel(false);
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
        rate_limiter: RateLimiter::new(config.rate_limit_per_sec, config.rate_limit_burst)
            .map(Arc::new),
        tokens: Arc::new(Tokens::new(config.auth_tokens.clone())),
        ws_ping_interval: config.ws_ping_interval(),
        shutdown,
    };
    let app = router(state, &config)?;

    let pruner = tokio::spawn(prune_forever(db));

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.addr,
            source,
        })?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    announce(local);

    let (stopping_tx, mut stopping_rx) = watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        let _ = stopping_tx.send(true);
    });
    let grace = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let result = tokio::select! {
        result = server => result.map_err(StartError::Serve),
        () = grace => {
            tracing::warn!("open requests did not finish in time; stopping anyway");
            Ok(())
        }
    };
    pruner.abort();
    result
}

/// The one line on standard output, which tests read for the port.
fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    // If stdout is gone nobody is listening for the line; the server still runs.
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}

async fn prune_forever(db: Db) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let pruned = db
            .with_writer(|conn| Ok(idempotency::prune(conn, clock::now_millis())?))
            .await;
        match pruned {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "expired idempotency keys pruned"),
            Err(error) => tracing::warn!(%error, "cannot prune idempotency keys"),
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
