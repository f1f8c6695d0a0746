//! Which address a request comes from (SPEC §3): the TCP peer, unless the peer is a trusted
//! proxy; then the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A
//! malformed header falls back to the peer and never fails the request.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// Resolve the client address of a request.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    // Several header lines are one comma-separated list, in order.
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        entries.extend(text.split(','));
    }
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            return peer;
        };
        if !is_trusted(ip, trusted) {
            return ip;
        }
    }
    peer
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443` or `203.0.113.7:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (host, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                "x-forwarded-for",
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        let got = resolve(ip("198.51.100.9"), &headers(&["1.2.3.4"]), &nets(&["10.0.0.0/8"]));
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn trusted_peer_yields_the_rightmost_untrusted_entry() {
        let trusted = nets(&["10.0.0.0/8"]);
        // A forged left-most entry gains nothing: the right-most untrusted one is taken.
        let got = resolve(ip("10.0.0.1"), &headers(&["6.6.6.6, 203.0.113.7, 10.0.0.2"]), &trusted);
        assert_eq!(got, ip("203.0.113.7"));
        let got = resolve(ip("10.0.0.1"), &headers(&["6.6.6.6", "203.0.113.8"]), &trusted);
        assert_eq!(got, ip("203.0.113.8"));
    }

    #[test]
    fn malformed_or_missing_header_falls_back_to_the_peer() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &headers(&["not-an-ip"]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), &headers(&["1.2.3.4, , "]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(resolve(ip("10.0.0.1"), &headers(&[]), &trusted), ip("10.0.0.1"));
        assert_eq!(
            resolve(ip("10.0.0.1"), &headers(&["10.0.0.3"]), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn bracketed_and_ported_forms() {
        let trusted = nets(&["127.0.0.0/8"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &headers(&["[2001:db8::1]:443"]), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            resolve(ip("127.0.0.1"), &headers(&["203.0.113.7:8080"]), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), &headers(&["::ffff:203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
    }
}
