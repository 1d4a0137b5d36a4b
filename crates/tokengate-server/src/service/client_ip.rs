//! The client's IP: the peer address, or `X-Forwarded-For` when the peer is
//! a trusted proxy.

use std::net::IpAddr;

use http::HeaderMap;

/// The client address of a request from `peer`. `X-Forwarded-For` is read
/// right to left, skipping trusted proxies; the first address that is not
/// one is the client. An untrusted peer's header is ignored, so a client
/// cannot choose the address its failed logins count against.
pub(crate) fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &dyn Fn(IpAddr) -> bool,
) -> IpAddr {
    if !trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted(ip) {
                    break;
                }
            }
            // A malformed hop: stop at the last address we could believe.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = |ip: IpAddr| ip == proxy;
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let untrusted: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(untrusted, &headers("1.2.3.4"), &trusted),
            untrusted
        );
        assert_eq!(
            client_ip(proxy, &headers("1.2.3.4, 203.0.113.7"), &trusted),
            client
        );
        assert_eq!(
            client_ip(proxy, &headers("203.0.113.7, 10.0.0.1"), &trusted),
            client
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_ip(proxy, &headers("garbage"), &trusted), proxy);
    }
}
