//! Where a request came from, for audit records and per-address rate limits.

use crate::AppState;
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use std::{
    convert::Infallible,
    net::{IpAddr, Ipv6Addr, SocketAddr},
};

#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address: behind the ALB the last `X-Forwarded-For` hop (the one the ALB
    /// appended; earlier hops are the client's to forge), else the socket peer.
    pub ip: String,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The network the client's address belongs to, what per-client limits count: an IPv4
    /// address is one, an IPv6 address counts by its /64 (the smallest prefix one subscriber
    /// is given, whose addresses it rotates freely), and an IPv4-mapped IPv6 address as the
    /// IPv4 address it is.
    pub fn network(&self) -> String {
        network_of(&self.ip)
    }
}

fn network_of(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        // Only the socket peer's absence gets here ("unknown"): one network of its own.
        Err(_) => ip.to_owned(),
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .auth
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .rfind(|hop| hop.parse::<IpAddr>().is_ok())
                    .map(str::to_owned)
            })
            .flatten();
        let peer = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        Ok(Self {
            ip: forwarded.unwrap_or_else(peer),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(200).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::network_of;

    #[test]
    fn an_ipv4_address_is_its_own_network() {
        assert_eq!(network_of("203.0.113.7"), "203.0.113.7");
        assert_ne!(network_of("203.0.113.7"), network_of("203.0.113.8"));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let net = "2001:db8:1:2::/64";
        assert_eq!(network_of("2001:db8:1:2::1"), net);
        assert_eq!(network_of("2001:db8:1:2:ffff:ffff:ffff:ffff"), net);
        assert_eq!(network_of("2001:DB8:1:2:abcd::9"), net);
        assert_eq!(network_of("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(network_of("::1"), "::/64");
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_is_its_ipv4_network() {
        assert_eq!(network_of("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of("::ffff:cb00:7107"), "203.0.113.7");
    }

    #[test]
    fn an_unknown_peer_is_a_network_of_its_own() {
        assert_eq!(network_of("unknown"), "unknown");
    }
}
