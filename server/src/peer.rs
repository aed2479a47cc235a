//! The client's network address as the limits see it: the peer address of the connection
//! (put in each request by `connections`), an IPv6 peer counted by its /64 network (what
//! one subscriber usually gets), an IPv4-mapped IPv6 address as the IPv4 address it is.

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The peer address of the request's connection, if the server recorded one (a router
/// driven in-process has none).
pub(crate) fn address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The address a limit counts a peer under.
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

/// Whether the request came over the loopback interface (an IPv4-mapped loopback counts).
pub(crate) fn is_loopback(extensions: &Extensions) -> bool {
    address(extensions).is_some_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
