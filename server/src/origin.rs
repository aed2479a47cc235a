//! Where a request comes from, against attacks through a victim's browser:
//!
//! - **Cross-site requests (CSRF) and cross-site WebSockets (CSWSH).** A `POST`, `PUT`,
//!   `PATCH` or `DELETE`, and the events socket's upgrade, whose `Origin` is neither this
//!   server's own (the origin whose host is the request's `Host`) nor a `--cors-origin` is
//!   refused 403. A request without `Origin` passes: browsers send one on every such
//!   request (and on every WebSocket), so its absence means a client that is not a
//!   browser (curl, the load tool), which no web page can drive.
//! - **DNS rebinding** (`--no-auth` only). A page on `evil.example` whose name is made to
//!   point at 127.0.0.1 is same-origin with itself, but its requests carry
//!   `Host: evil.example`. Without people nothing else stands in its way, so every request
//!   must name a host this server serves: its listen address, `localhost`, `127.0.0.1`,
//!   `[::1]` (with the port), or the host of a `--cors-origin`. With people on, such a page
//!   has no token and gets 401 anyway.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// The origins allowed besides the server's own: the `--cors-origin`s, normalised.
#[derive(Clone, Debug, Default)]
pub(crate) struct Origins(Vec<String>);

impl Origins {
    pub(crate) fn new(cors_origins: &[String]) -> Self {
        Self(cors_origins.iter().map(|o| normalise(o)).collect())
    }

    /// The `host[:port]` of each allowed origin.
    fn hosts(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter_map(|o| o.split_once("://").map(|(_, host)| host))
    }

    /// Whether a request with these headers may change data or open the events socket.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalise(origin);
        if self.0.contains(&origin) {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase());
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        // `null` (a sandboxed frame, a file) has no host and is never our own.
        matches!((origin_host, host), (Some(o), Some(h)) if o == h)
    }
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The `Host` values a server listening on `addr` answers under `--no-auth`.
pub(crate) fn served_hosts(addr: SocketAddr, origins: &Origins) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![
        addr.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    if port == 80 {
        // A browser leaves out the default port.
        hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(origins.hosts().map(str::to_owned));
    hosts.iter().map(|h| h.to_ascii_lowercase()).collect()
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF/CSWSH check on `/api/v1` (see the module doc).
pub(crate) async fn check_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let checked = changes_state(request.method()) || request.uri().path() == "/events";
    if checked && !state.origins.admits(request.headers()) {
        return ApiError::Forbidden(
            "Requests from this origin are refused: it is neither this server's nor an allowed one."
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// The DNS-rebinding check on every request under `--no-auth` (see the module doc).
pub(crate) async fn check_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.people {
        return next.run(request).await;
    }
    // Known once the listener is bound; a router driven in-process has none and is not
    // reachable by a browser.
    if let Some(hosts) = state.served_hosts.get() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !hosts.contains(&host) {
            return ApiError::Forbidden(format!(
                "This server (started with --no-auth) does not serve the host `{host}`."
            ))
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn own_and_allowed_origins_pass_foreign_ones_do_not() {
        let origins = Origins::new(&["http://127.0.0.1:8080/".to_owned()]);
        assert!(origins.admits(&headers(None, "127.0.0.1:3000")));
        assert!(origins.admits(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")));
        assert!(origins.admits(&headers(Some("HTTP://127.0.0.1:8080"), "127.0.0.1:3000")));
        assert!(!origins.admits(&headers(Some("http://evil.example"), "127.0.0.1:3000")));
        assert!(!origins.admits(&headers(Some("null"), "127.0.0.1:3000")));
        assert!(!origins.admits(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")));
    }

    #[test]
    fn served_hosts_name_the_port_and_allowed_origins() {
        let origins = Origins::new(&["http://127.0.0.1:8080".to_owned()]);
        let hosts = served_hosts("127.0.0.1:3000".parse().unwrap(), &origins);
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "[::1]:3000",
            "127.0.0.1:8080",
        ] {
            assert!(hosts.iter().any(|h| h == host), "{host}");
        }
        assert!(!hosts.iter().any(|h| h == "evil.example:3000"));
    }
}
