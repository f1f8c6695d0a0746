//! The client address: never a panic; an untrusted peer is the client whatever it forwards;
//! otherwise the answer is the peer or an address that is not a trusted proxy.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use sessiond_fuzz::client_ip::resolve;

fuzz_target!(|data: &[u8]| {
    // [kind][16 address bytes][trusted CIDRs, one per line]\0[X-Forwarded-For lines]
    if data.len() < 17 {
        return;
    }
    let mut octets = [0_u8; 16];
    octets.copy_from_slice(&data[1..17]);
    let peer = if data[0] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let rest = &data[17..];
    let (trusted_text, xff) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let trusted: Vec<IpNet> = String::from_utf8_lossy(trusted_text)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let mut headers = HeaderMap::new();
    for line in xff.split(|&b| b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", v);
        }
    }
    let client = resolve(peer, &headers, &trusted);
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        assert_eq!(client, peer);
    } else if client != peer {
        // The right-most forwarded address that is not itself a trusted proxy.
        assert!(!trusted.iter().any(|n| n.contains(&client)), "{client} is trusted");
        assert_eq!(client, client.to_canonical());
    }
});
