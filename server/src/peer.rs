//! The client's network address as the limits, the sign-in throttle and the logs see it:
//! the peer address of the connection, or, when that peer is a proxy named by
//! `--trust-proxy`, the client it forwards for (`Forwarded`, else `X-Forwarded-For`),
//! worked out once per request by `connections` ([`ClientAddress`]). An IPv6 client is
//! counted by its /64 network (what one subscriber usually gets), an IPv4-mapped IPv6
//! address as the IPv4 address it is. [`PerPeer`] counts what each address holds.

use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client a request came from, as [`TrustedProxies::client`] worked it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

/// The client address of the request: the one `connections` worked out, else the
/// connection's peer; `None` for a router driven in-process.
pub(crate) fn address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientAddress>()
        .map(|client| client.0)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        })
}

/// The address a limit counts a client under.
pub(crate) fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
    }
}

/// Whether the request's client is on this machine (an IPv4-mapped loopback counts).
pub(crate) fn is_loopback(extensions: &Extensions) -> bool {
    address(extensions).is_some_and(|ip| ip.to_canonical().is_loopback())
}

/// The proxies (`--trust-proxy`) whose word on the client's address is taken.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Ranges in CIDR notation (`10.0.0.0/8`, `fd00::/8`) or single addresses; `Err`
    /// names the first that is neither.
    pub(crate) fn parse(ranges: &[String]) -> Result<Self, String> {
        ranges
            .iter()
            .map(|range| {
                let text = range.trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| range.clone())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client a request from `peer` with `headers` came from. Each proxy appends the
    /// address it got the request from to the forwarding header, so the list is read from
    /// its end, past every trusted proxy, to the first address no trusted proxy is: what
    /// a client wrote further left is its own claim. A peer that is not trusted is the
    /// client, whatever its headers say; an entry that is not an address (`unknown`, an
    /// obfuscated name) stops the walk at the proxy that reported it.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The addresses a request passed through, first (the original client) to last, from
/// every `Forwarded` header's `for=`, or if there is none, every `X-Forwarded-For`; `None`
/// for an entry that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node_address(value))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(node_address)
        .collect()
}

/// The address of a forwarding entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`, each perhaps in double quotes.
fn node_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// How many of something (connections, events sockets) each client address holds, so
/// that one address cannot take them all.
#[derive(Debug, Default)]
pub(crate) struct PerPeer {
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One thing counted against its address; uncounted when dropped.
#[derive(Debug)]
pub(crate) struct PeerSlot {
    owner: Arc<PerPeer>,
    peer: IpAddr,
}

impl PerPeer {
    /// A slot for one more from `peer` (counted by its [`network`]), or `None` when it
    /// already holds `max`.
    pub(crate) fn take(self: &Arc<Self>, peer: IpAddr, max: usize) -> Option<PeerSlot> {
        let peer = network(peer);
        let mut held = self.lock();
        let count = held.entry(peer).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            owner: Arc::clone(self),
            peer,
        })
    }

    /// How many are held, by all addresses together (the operator's metrics).
    pub(crate) fn total(&self) -> usize {
        self.lock().values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counts only; every step leaves them consistent.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self.owner.lock();
        if let Some(count) = held.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            network("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        let mut extensions = Extensions::new();
        assert!(!is_loopback(&extensions), "no address is not loopback");
        extensions.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));
        assert!(is_loopback(&extensions));
        extensions.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 9))));
        assert!(!is_loopback(&extensions));
        extensions.insert(ConnectInfo("[::1]:9".parse::<SocketAddr>().unwrap()));
        assert!(is_loopback(&extensions));
        extensions.insert(ConnectInfo("[::2]:9".parse::<SocketAddr>().unwrap()));
        assert!(
            !is_loopback(&extensions),
            "::2 shares ::1's /64 but is not loopback"
        );
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:9".parse().unwrap();
        extensions.insert(ConnectInfo(mapped));
        assert!(is_loopback(&extensions));
        // The client worked out from a trusted proxy's headers comes first.
        extensions.insert(ClientAddress(ip("203.0.113.9")));
        assert!(!is_loopback(&extensions));
        assert_eq!(address(&extensions), Some(ip("203.0.113.9")));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_anyone_else_is_the_client() {
        let trusted =
            TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into(), "fd00::/8".into()])
                .unwrap();
        let proxy = ip("127.0.0.1");
        let xff = |value| headers(&[("x-forwarded-for", value)]);
        // The proxy appended the address it got the request from.
        assert_eq!(
            trusted.client(proxy, &xff("198.51.100.7")),
            ip("198.51.100.7")
        );
        // What the client wrote to the left of it is ignored; trusted hops are skipped.
        assert_eq!(
            trusted.client(proxy, &xff("1.2.3.4, 198.51.100.7, 10.1.2.3")),
            ip("198.51.100.7")
        );
        // An untrusted peer's headers are ignored.
        assert_eq!(
            trusted.client(ip("198.51.100.7"), &xff("1.2.3.4")),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(trusted.client(proxy, &HeaderMap::new()), proxy);
        // Only trusted hops: the first of them.
        assert_eq!(
            trusted.client(proxy, &xff("10.0.0.5, 10.0.0.6")),
            ip("10.0.0.5")
        );
        // Not an address: the walk stops at the proxy that reported it.
        assert_eq!(trusted.client(proxy, &xff("unknown")), proxy);
        // Several header lines are one list.
        let two = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(trusted.client(proxy, &two), ip("198.51.100.7"));
        // `Forwarded` wins over `X-Forwarded-For`, with ports, brackets and quotes.
        let forwarded = headers(&[
            (
                "forwarded",
                r#"for=1.2.3.4, For="[2001:db8::17]:4711";proto=https"#,
            ),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(trusted.client(proxy, &forwarded), ip("2001:db8::17"));
        assert_eq!(
            trusted.client(proxy, &headers(&[("forwarded", "for=\"192.0.2.60:80\"")])),
            ip("192.0.2.60")
        );
        // An IPv4-mapped peer is its IPv4 address.
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &xff("198.51.100.7")),
            ip("198.51.100.7")
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
    }

    #[test]
    fn each_address_holds_at_most_its_share() {
        let held = Arc::new(PerPeer::default());
        let a = ip("10.0.0.1");
        let first = held.take(a, 2);
        let second = held.take(a, 2);
        assert!(first.is_some() && second.is_some());
        assert!(held.take(a, 2).is_none());
        assert!(
            held.take(ip("10.0.0.2"), 2).is_some(),
            "another address has its own count"
        );
        drop(first);
        assert!(held.take(a, 2).is_some(), "a slot dropped is free again");
        assert!(held.lock().len() <= 2);
    }
}
