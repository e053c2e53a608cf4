//! Who the client is: the TCP peer, or behind a trusted proxy the rightmost
//! `X-Forwarded-For` hop that is not itself a trusted proxy.
//!
//! One resolution, made once per request by [`resolve_layer`] and stored as a
//! [`ClientIp`] extension, serves the per-address rate limit and the
//! `Peer` extractor (`@connections` `sourceIp`, dev sign-in). The per-address
//! connection cap stays on the TCP peer: it acts before any HTTP is read.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// The client's address as this gateway believes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// One entry of `SPILLWAY_TRUSTED_PROXIES`: a CIDR block, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange(pub IpNet);

impl FromStr for ProxyRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip)))
            .map_err(|_| format!("{s:?} is neither a CIDR block (10.0.0.0/16) nor an address"))
    }
}

/// The proxies whose `X-Forwarded-For` is believed. Empty: none (the default).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(ranges: &[ProxyRange]) -> Self {
        Self(ranges.iter().map(|r| r.0).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy;
    /// then, right to left through `X-Forwarded-For`, the first hop that is
    /// not a trusted proxy (each proxy appends the address it saw, so only the
    /// entries right of the first untrusted one were written by our proxies).
    /// A malformed entry stops the walk at the last hop known good.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Middleware: resolve the client once and store it as a [`ClientIp`] extension.
pub async fn resolve_layer(
    State(trusted): State<TrustedProxies>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = trusted.resolve(peer, req.headers());
        req.extensions_mut().insert(ClientIp(client));
    }
    next.run(req).await
}

/// The client of a request: the resolved [`ClientIp`], else the TCP peer.
pub fn client_of(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    match (extensions.get::<ClientIp>(), peer) {
        (Some(ClientIp(ip)), Some(peer)) if canonical(peer.ip()) == *ip => Some(peer),
        // A forwarded client: its port is the proxy's business, not ours.
        (Some(ClientIp(ip)), _) => Some(SocketAddr::new(*ip, 0)),
        (None, peer) => peer,
    }
}

/// Extractor of the client's address: the TCP peer, or behind a trusted
/// proxy the address it forwarded (port 0 then, the proxy keeps it).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(client_of(&parts.extensions)))
    }
}

/// Rate-limit key: the resolved client address.
#[derive(Debug, Clone, Copy)]
pub struct ClientIpKeyExtractor;

impl KeyExtractor for ClientIpKeyExtractor {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<Self::Key, GovernorError> {
        client_of(req.extensions())
            .map(|a| a.ip())
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn trusted(list: &[&str]) -> TrustedProxies {
        let ranges: Vec<ProxyRange> = list.iter().map(|s| s.parse().unwrap()).collect();
        TrustedProxies::new(&ranges)
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_their_own_client() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.resolve(ip("198.51.100.9"), &xff(&["1.2.3.4"])),
            ip("198.51.100.9")
        );
        let vpc = trusted(&["10.0.0.0/16"]);
        assert_eq!(
            vpc.resolve(ip("198.51.100.9"), &xff(&["1.2.3.4"])),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_wins() {
        let vpc = trusted(&["10.0.0.0/16", "192.168.1.1"]);
        let peer = ip("10.0.3.4");
        // A client-supplied spoof on the left is not believed.
        assert_eq!(
            vpc.resolve(peer, &xff(&["6.6.6.6, 203.0.113.7"])),
            ip("203.0.113.7")
        );
        // Trusted hops on the right are skipped, across header lines too.
        assert_eq!(
            vpc.resolve(
                peer,
                &xff(&["6.6.6.6, 203.0.113.7", "192.168.1.1, 10.0.9.9"])
            ),
            ip("203.0.113.7")
        );
        assert_eq!(
            vpc.resolve(peer, &xff(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            vpc.resolve(peer, &xff(&["203.0.113.7:5000"])),
            ip("203.0.113.7")
        );
        // No header: the proxy itself.
        assert_eq!(vpc.resolve(peer, &HeaderMap::new()), peer);
        // Garbage stops the walk at the last good hop.
        assert_eq!(vpc.resolve(peer, &xff(&["1.1.1.1, junk"])), peer);
        assert_eq!(vpc.resolve(peer, &xff(&["junk, 10.0.0.8"])), ip("10.0.0.8"));
        // Mapped IPv4 peers count as IPv4.
        assert_eq!(
            vpc.resolve(ip("::ffff:10.0.0.1"), &xff(&["203.0.113.7"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ranges_parse_as_cidr_or_address() {
        assert!("10.0.0.0/16".parse::<ProxyRange>().is_ok());
        assert!("10.0.0.1".parse::<ProxyRange>().is_ok());
        assert!("fd00::/8".parse::<ProxyRange>().is_ok());
        assert!("10.0.0.0/33".parse::<ProxyRange>().is_err());
        assert!("vpc".parse::<ProxyRange>().is_err());
    }
}
