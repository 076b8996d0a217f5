//! What the services know of the request they serve: its id (carried into error bodies and
//! audit events) and the address of the client that sent it (for per-source throttling).

use std::future::Future;
use std::net::IpAddr;

use ipnet::IpNet;

tokio::task_local! {
    static REQUEST: RequestContext;
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The `X-Request-Id` of the request.
    pub id: String,
    /// The client's address: the peer, or the address a trusted proxy forwarded for.
    pub source: Option<IpAddr>,
}

/// Runs `work` as part of the request `context`.
pub async fn in_request<F: Future>(context: RequestContext, work: F) -> F::Output {
    REQUEST.scope(context, work).await
}

/// The id of the request being served; empty outside a request.
pub fn current_request_id() -> String {
    REQUEST.try_with(|r| r.id.clone()).unwrap_or_default()
}

/// The client address of the request being served, when known.
pub fn current_source() -> Option<IpAddr> {
    REQUEST.try_with(|r| r.source).ok().flatten()
}

/// The client's address: the peer itself, unless the peer is a trusted proxy; then the
/// right-most address of `X-Forwarded-For` that is not a trusted proxy (the one the nearest
/// untrusted hop connected from — addresses further left are whatever the client wrote). A
/// trusted peer that forwards nothing usable is taken as the client.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted(&ip) => client = ip,
            Ok(ip) => return Some(ip),
            // A hop that is not an address ends what can be believed.
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), Some("198.51.100.1"), &proxies),
            Some(ip("203.0.113.9"))
        );
        // Behind a trusted proxy, the right-most untrusted hop; what the client wrote to the
        // left of it is ignored.
        assert_eq!(
            client_address(
                Some(ip("10.1.1.1")),
                Some("1.2.3.4, 198.51.100.7, 10.2.2.2"),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
        // Nothing usable forwarded: the proxy is all that is known.
        assert_eq!(
            client_address(Some(ip("10.1.1.1")), None, &proxies),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(
            client_address(Some(ip("10.1.1.1")), Some("garbage"), &proxies),
            Some(ip("10.1.1.1"))
        );
        // Without trusted proxies the header is never read.
        assert_eq!(
            client_address(Some(ip("10.1.1.1")), Some("198.51.100.7"), &[]),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(client_address(None, Some("198.51.100.7"), &proxies), None);
    }
}
