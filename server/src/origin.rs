//! Where a request comes from, checked on every request before anything else looks at it,
//! with people on or off:
//!
//! - **DNS rebinding.** A page on `evil.example` whose name is made to point at this
//!   server is same-origin with itself, so the browser lets it read what it asks for; but
//!   its requests carry `Host: evil.example`. Every request must name a host this server
//!   is reached by ([`Origins::serves_host`]): a `--public-origin` (default: the listen
//!   address), the host of a `--cors-origin`, or `localhost` and the loopback addresses
//!   with the listening port (no rebinding page can be any of these: a name the attacker
//!   controls is none of them). Listening on every address (`0.0.0.0`, `::`) without a
//!   `--public-origin`, any IP address with the listening port is served too: an address
//!   is never rebound, only names are.
//! - **Cross-site requests (CSRF) and cross-site WebSockets (CSWSH).** A request whose
//!   `Origin` is neither this server's (a public origin, a loopback origin with the
//!   listening port, or the origin of the request's own `Host`) nor a `--cors-origin` is
//!   refused, whatever its method. A request without `Origin` passes: browsers send one on
//!   every request that changes something and on every WebSocket, so its absence means a
//!   same-origin read or a client that is not a browser (curl, the load tool), which no web
//!   page can drive. `null` (a sandboxed frame, a local file) is never admitted.
//!
//! Refusals are 403 `forbidden`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// `http` or `https`, the schemes of the origins a browser sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// A host and an optional port, as a `Host` header or an origin names them. The host is
/// lower-cased; an IPv6 address keeps its brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let (host, port) = if text.starts_with('[') {
            let end = text.find(']')?;
            let (host, rest) = text.split_at(end + 1);
            host[1..end].parse::<std::net::Ipv6Addr>().ok()?;
            match rest {
                "" => (host.to_owned(), None),
                _ => (host.to_owned(), Some(rest.strip_prefix(':')?.parse().ok()?)),
            }
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
                None => (text, None),
            }
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        let valid = !host.is_empty() && (host.starts_with('[') || host.chars().all(plain));
        valid.then_some(Self { host, port })
    }

    /// The IP address this authority names, if it names one rather than a name.
    fn ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    /// `localhost` or a loopback address.
    fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.ip().is_some_and(|ip| ip.to_canonical().is_loopback())
    }

    /// Whether it names `port`, given that no port means `default_port`.
    fn has_port(&self, port: u16, default_port: u16) -> bool {
        self.port.unwrap_or(default_port) == port
    }
}

/// A web origin, `scheme://host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: Scheme,
    authority: Authority,
}

impl Origin {
    /// An origin as a flag or an `Origin` header gives it (a trailing `/` is allowed);
    /// `None` for anything else, `null` included.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_end_matches('/');
        let (scheme, rest) = text.split_once("://")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        if rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let mut authority = Authority::parse(rest)?;
        // `http://x:80` is `http://x`.
        if authority.port == Some(scheme.default_port()) {
            authority.port = None;
        }
        Some(Self { scheme, authority })
    }

    fn port(&self) -> u16 {
        self.authority.port.unwrap_or(self.scheme.default_port())
    }

    /// Whether a `Host` header naming `host` asks for this origin.
    fn is_reached_as(&self, host: &Authority) -> bool {
        host.host == self.authority.host && host.has_port(self.port(), self.scheme.default_port())
    }
}

/// Where this server is listening, once it is.
#[derive(Clone, Copy, Debug)]
struct Listening {
    addr: SocketAddr,
}

/// The origins people reach this server by and the ones allowed to call it.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    /// `--public-origin`s; empty: the listen address.
    public: Vec<Origin>,
    /// `--cors-origin`s.
    cors: Vec<Origin>,
    /// Set once the listener is bound; until then (a router driven in-process, which no
    /// browser can reach) nothing is checked.
    listening: OnceLock<Listening>,
}

impl Origins {
    /// `Err` names the first flag value that is not an origin.
    pub(crate) fn new(public: &[String], cors: &[String]) -> Result<Self, String> {
        let parse = |values: &[String]| {
            values
                .iter()
                .map(|value| Origin::parse(value).ok_or_else(|| value.clone()))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            public: parse(public)?,
            cors: parse(cors)?,
            listening: OnceLock::new(),
        })
    }

    /// From now on, requests are checked against `addr` (see the module doc).
    pub(crate) fn listening_on(&self, addr: SocketAddr) {
        // Set once, by the server that binds; a second call changes nothing.
        let _ = self.listening.set(Listening { addr });
    }

    /// Whether listening on every address with no `--public-origin` named: then any IP
    /// address with the listening port is served (see the module doc).
    pub(crate) fn serves_any_address(&self) -> bool {
        self.public.is_empty()
            && self
                .listening
                .get()
                .is_some_and(|l| l.addr.ip().is_unspecified())
    }

    /// Whether a `Host` header naming `host` asks for this server.
    fn serves_host(&self, listening: Listening, host: &Authority) -> bool {
        let port = listening.addr.port();
        if self
            .public
            .iter()
            .chain(&self.cors)
            .any(|origin| origin.is_reached_as(host))
        {
            return true;
        }
        if !host.has_port(port, 80) {
            return false;
        }
        if host.is_loopback() {
            return true;
        }
        if !self.public.is_empty() {
            return false;
        }
        // The default public origin: the listen address.
        match host.ip() {
            Some(ip) => {
                let listen = listening.addr.ip();
                listen.is_unspecified() || ip.to_canonical() == listen.to_canonical()
            }
            None => false,
        }
    }

    /// Whether a request with `Origin: origin` for `host` (which [`serves_host`] accepted)
    /// comes from this server's own pages or an allowed origin.
    ///
    /// [`serves_host`]: Self::serves_host
    fn admits_origin(&self, listening: Listening, origin: &Origin, host: &Authority) -> bool {
        self.public.contains(origin)
            || self.cors.contains(origin)
            || (origin.authority.is_loopback() && origin.port() == listening.addr.port())
            || origin.is_reached_as(host)
    }

    /// `Err` with the refusal's message when a request with `headers` is not for this
    /// server or not from an origin allowed to call it.
    fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(listening) = self.listening.get().copied() else {
            return Ok(());
        };
        let host_text = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let host = Authority::parse(host_text)
            .filter(|host| self.serves_host(listening, host))
            .ok_or_else(|| {
                format!(
                    "This server is not reached as `{host_text}`: name it with --public-origin."
                )
            })?;
        let Some(origin_text) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin_text = origin_text.to_str().unwrap_or_default();
        match Origin::parse(origin_text) {
            Some(origin) if self.admits_origin(listening, &origin, &host) => Ok(()),
            _ => Err(format!(
                "Requests from the origin `{origin_text}` are refused: it is neither this \
                 server's nor an allowed one."
            )),
        }
    }
}

/// The `Host` and `Origin` checks on every request (see the module doc).
pub(crate) async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.origins.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(message) => ApiError::Forbidden(message).into_response(),
    }
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

    fn listening(public: &[&str], cors: &[&str], addr: &str) -> Origins {
        let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        let origins = Origins::new(&strings(public), &strings(cors)).unwrap();
        origins.listening_on(addr.parse().unwrap());
        origins
    }

    #[test]
    fn origins_parse_and_normalise() {
        let origin = |text| Origin::parse(text);
        assert_eq!(
            origin("HTTP://Example.COM:80/"),
            origin("http://example.com")
        );
        assert_eq!(origin("https://x.example:443"), origin("https://x.example"));
        assert_ne!(origin("https://x.example"), origin("http://x.example"));
        assert!(origin("http://[::1]:3000").is_some());
        for bad in [
            "null",
            "*",
            "file://",
            "ftp://x.example",
            "http://",
            "http://x.example/path",
            "http://user@x.example",
            "http://x.example:port",
            "http://::1:3000",
            "http://[nonsense]:3000",
            "http://evil example",
        ] {
            assert!(origin(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn by_default_the_listen_address_and_loopback_names_are_served() {
        let origins = listening(&[], &["http://127.0.0.1:8080/"], "127.0.0.1:3000");
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST:3000",
            "[::1]:3000",
            "127.0.0.2:3000",
            "127.0.0.1:8080",
        ] {
            assert_eq!(origins.check(&headers(None, host)), Ok(()), "{host}");
        }
        for host in [
            "evil.example:3000",
            "evil.example",
            "localhost:3001",
            "localhost",
            "10.0.0.1:3000",
            "",
            "127.0.0.1:3000:3000",
        ] {
            assert!(origins.check(&headers(None, host)).is_err(), "{host}");
        }
    }

    #[test]
    fn own_and_allowed_origins_pass_foreign_ones_do_not() {
        let origins = listening(&[], &["http://127.0.0.1:8080/"], "127.0.0.1:3000");
        let from = |origin| origins.check(&headers(Some(origin), "127.0.0.1:3000"));
        assert_eq!(from("http://127.0.0.1:3000"), Ok(()));
        assert_eq!(from("http://localhost:3000"), Ok(()));
        assert_eq!(from("HTTP://127.0.0.1:8080"), Ok(()));
        assert!(from("http://evil.example").is_err());
        assert!(from("null").is_err());
        assert!(from("http://127.0.0.1:3001").is_err());
    }

    #[test]
    fn public_origins_name_what_is_served() {
        let origins = listening(
            &["https://casedesk.example", "http://casedesk.example:8080"],
            &[],
            "0.0.0.0:3000",
        );
        for host in [
            "casedesk.example",
            "casedesk.example:443",
            "casedesk.example:8080",
            "127.0.0.1:3000",
            "localhost:3000",
        ] {
            assert_eq!(origins.check(&headers(None, host)), Ok(()), "{host}");
        }
        // Named origins replace the listen address: another name or address is refused.
        for host in ["other.example", "casedesk.example:3000", "10.0.0.5:3000"] {
            assert!(origins.check(&headers(None, host)).is_err(), "{host}");
        }
        // Behind a proxy: the page's origin is the public one, the host the upstream's.
        let proxied = headers(Some("https://casedesk.example"), "127.0.0.1:3000");
        assert_eq!(origins.check(&proxied), Ok(()));
        let foreign = headers(Some("https://evil.example"), "casedesk.example");
        assert!(origins.check(&foreign).is_err());
    }

    #[test]
    fn listening_on_every_address_serves_any_address_but_no_other_name() {
        let origins = listening(&[], &[], "0.0.0.0:3000");
        assert!(origins.serves_any_address());
        assert_eq!(origins.check(&headers(None, "10.0.0.5:3000")), Ok(()));
        assert_eq!(
            origins.check(&headers(Some("http://10.0.0.5:3000"), "10.0.0.5:3000")),
            Ok(())
        );
        assert!(origins.check(&headers(None, "evil.example:3000")).is_err());
        assert!(origins.check(&headers(None, "10.0.0.5:3001")).is_err());
        // Another address's page is another origin.
        let other_page = headers(Some("http://10.0.0.6:3000"), "10.0.0.5:3000");
        assert!(origins.check(&other_page).is_err());
    }

    #[test]
    fn nothing_is_checked_before_the_server_listens() {
        let origins = Origins::new(&[], &[]).unwrap();
        assert_eq!(
            origins.check(&headers(Some("null"), "evil.example")),
            Ok(())
        );
        assert!(Origins::new(&["casedesk.example".into()], &[]).is_err());
    }
}
