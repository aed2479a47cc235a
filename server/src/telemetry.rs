//! What the server tells its operator about itself (docs/api.md §7), not to be confused with
//! the dashboard's case metrics (`metrics`):
//!
//! - [`observe`] wraps every request once: a span with its `request_id`, `method`, route
//!   template, `client` address and (once `auth` knows it) `person_id`, one log line when it is answered
//!   (`status`, `ms`), and the request metrics;
//! - [`scrape`] serves `GET /metrics` in Prometheus text format (prometheus-client) to
//!   whoever holds `--metrics-token`: the request metrics, and gauges read from their owners
//!   at scrape time ([`Live`]: connections, sockets, database pool, read cache, password
//!   checks).
//!
//! Labels are bounded: the route is axum's matched template (`/api/v1/cases/{id}`), never
//! a raw path, and an unknown method is `other`.

use crate::connections::ConnectionPlaces;
use crate::db::Db;
use crate::error::ApiError;
use crate::idempotency::IDEMPOTENT_REPLAY;
use crate::password_checks::PasswordChecks;
use crate::peer::PerPeer;
use crate::rate_limit::ClientKey;
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Request latency buckets, in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request no route matched: the built app's files, or nothing.
const STATIC_ROUTE: &str = "static";
const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The request metrics and the registry that serves them with the [`Live`] gauges.
pub(crate) struct Telemetry {
    registry: Registry,
    /// `--metrics-token`; `None`: `/metrics` is 404.
    token: Option<String>,
    /// Whether a request no route matched is for the built app's files.
    serves_static: bool,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    in_flight: Gauge,
    refusals: Family<StatusLabels, Counter>,
    replays: Counter,
    client_errors: Counter,
}

impl Telemetry {
    pub(crate) fn new(token: Option<String>, serves_static: bool, live: Live) -> Self {
        let mut registry = Registry::with_prefix("casedesk");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer (for a socket, to its upgrade)",
            Unit::Seconds,
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        let refusals = Family::<StatusLabels, Counter>::default();
        registry.register(
            "http_refusals",
            "Requests refused: 401 (no or a wrong token), 403 (origin, host or role), 429 (rate, sign-in throttle, sockets)",
            refusals.clone(),
        );
        let replays = Counter::default();
        registry.register(
            "idempotent_replays",
            "Changes answered from a stored Idempotency-Key answer instead of applied again",
            replays.clone(),
        );
        let client_errors = Counter::default();
        registry.register(
            "client_errors",
            "Crash reports the app sent (POST /api/v1/client-errors) and the server logged",
            client_errors.clone(),
        );
        registry.register_collector(Box::new(live));
        Self {
            registry,
            token: token.filter(|t| !t.is_empty()),
            serves_static,
            requests,
            latency,
            in_flight,
            refusals,
            replays,
            client_errors,
        }
    }

    /// Counts one crash report that was logged.
    pub(crate) fn client_error(&self) {
        self.client_errors.inc();
    }

    fn route_of(&self, request: &Request) -> String {
        if let Some(path) = request.extensions().get::<MatchedPath>() {
            return path.as_str().to_owned();
        }
        let path = request.uri().path();
        let api = path == "/api" || path.starts_with("/api/");
        if self.serves_static && !api {
            STATIC_ROUTE.to_owned()
        } else {
            UNMATCHED_ROUTE.to_owned()
        }
    }

    fn record(&self, route: RouteLabels, status: StatusCode, seconds: f64, replayed: bool) {
        let status = status.as_u16();
        self.latency.get_or_create(&route).observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method: route.method,
                route: route.route,
                status,
            })
            .inc();
        if matches!(status, 401 | 403 | 429) {
            self.refusals.get_or_create(&StatusLabels { status }).inc();
        }
        if replayed {
            self.replays.inc();
        }
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// A method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Takes one from the in-flight gauge when dropped: also when the client goes away and
/// the request's future is dropped unanswered.
struct InFlight(Gauge);

impl InFlight {
    fn start(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The middleware around every request (inside `request_id`, which gives the id); see the
/// module doc.
pub(crate) async fn observe(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let labels = RouteLabels {
        method: method_label(request.method()),
        route: telemetry.route_of(&request),
    };
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    // At ERROR level, so the span is on whenever any line is (`RUST_LOG=warn` included):
    // a warning inside a request still names the request.
    // The client as the limits see it (behind a trusted proxy, the address it names).
    let client = crate::peer::address(request.extensions())
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let span = tracing::error_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %labels.route,
        client = %client,
        person_id = tracing::field::Empty,
    );
    let in_flight = InFlight::start(&telemetry.in_flight);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    drop(in_flight);
    let status = response.status();
    let replayed = response
        .headers()
        .get(&IDEMPOTENT_REPLAY)
        .is_some_and(|v| v.as_bytes() == b"true");
    // Milliseconds to the microsecond: enough to tell a cached read from a written one.
    let ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "request");
        } else {
            tracing::info!(status = status.as_u16(), ms, "request");
        }
    });
    telemetry.record(labels, status, elapsed.as_secs_f64(), replayed);
    response
}

/// Records who a request acts as on its span (the `person_id` of its log lines).
pub(crate) fn record_person(id: uuid::Uuid) {
    tracing::Span::current().record("person_id", tracing::field::display(id));
}

/// `GET /metrics`: 404 without `--metrics-token`, 401 without that token (a refusal spends
/// the peer's rate-limit bucket, as a refused API request does), else the metrics.
pub(crate) async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    let telemetry = &state.telemetry;
    let Some(expected) = telemetry.token.as_deref() else {
        return crate::api::not_found().await.into_response();
    };
    let offered = crate::auth::bearer_token(request.headers()).unwrap_or("");
    if !crate::auth::constant_time_eq(expected.as_bytes(), offered.as_bytes()) {
        if let Err(too_many) =
            crate::rate_limit::spend(&state, ClientKey::peer(request.extensions()))
        {
            return too_many.into_response();
        }
        let mut response = ApiError::Unauthorized.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    match telemetry.encode() {
        Ok(text) => (
            [
                (
                    header::CONTENT_TYPE,
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(_) => ApiError::Internal("cannot encode the metrics".into()).into_response(),
    }
}

/// Values their owners keep, read at each scrape.
pub(crate) struct Live {
    pub(crate) db: Db,
    pub(crate) places: ConnectionPlaces,
    pub(crate) sockets: Arc<PerPeer>,
    pub(crate) password_checks: Arc<PasswordChecks>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        gauge(
            &mut encoder,
            "connections_open",
            "Connections being served (an events socket keeps its connection's place)",
            self.places.taken(),
        )?;
        gauge(
            &mut encoder,
            "event_sockets_open",
            "Change-event sockets open",
            self.sockets.total(),
        )?;
        let checks = self.password_checks.now();
        gauge(
            &mut encoder,
            "sign_in_checks_in_flight",
            "Password checks and hashes (Argon2id) running now",
            checks.running,
        )?;
        gauge(
            &mut encoder,
            "sign_in_checks_waiting",
            "Password checks and hashes waiting for their turn (a full queue is 503)",
            checks.waiting,
        )?;
        let cache = self.db.read_cache_size();
        gauge(
            &mut encoder,
            "read_cache_entries",
            "Read queries whose rows the shared read cache holds (at most 4,096)",
            cache.entries,
        )?;
        gauge(
            &mut encoder,
            "read_cache_bytes",
            "Memory the shared read cache's entries take, roughly (at most 32 MiB)",
            cache.bytes,
        )?;
        let waits = self.db.pool_waits();
        let count = ConstCounter::new(waits.count);
        count.encode(encoder.encode_descriptor(
            "db_pool_waits",
            "Database uses that found every connection busy and waited for one",
            None,
            count.metric_type(),
        )?)?;
        let seconds = ConstCounter::new(waits.seconds);
        seconds.encode(encoder.encode_descriptor(
            "db_pool_wait",
            "Time spent waiting for a database connection",
            Some(&Unit::Seconds),
            seconds.metric_type(),
        )?)
    }
}

/// A gauge whose value is read at the scrape.
fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: usize,
) -> std::fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}
