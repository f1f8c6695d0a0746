//! Which bucket a client address falls in (SPEC §3): an IPv4 address is its own key; an IPv6
//! address is keyed by its network of `rate_limit.ipv6_prefix` bits (default /64), because one
//! subscriber usually holds a whole /64 and could otherwise rotate through it for free.
//! The daemon's rate limiter keys its buckets with [`key_for`] and the alert rules name their
//! per-client subjects with [`subject`]: both come from here, so an alert's subject is the key
//! the limiter counted.

use std::net::{IpAddr, Ipv6Addr};

/// The key of `ip`: the address itself (IPv4, IPv4-mapped IPv6) or its IPv6 network,
/// host bits zeroed.
pub fn key_for(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask(ipv6_prefix))),
    }
}

/// How a key is written in Redis keys and audit metadata: `203.0.113.7` or `2001:db8::/64`.
pub fn describe(key: IpAddr, ipv6_prefix: u8) -> String {
    match key {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/{}", ipv6_prefix.min(128)),
    }
}

/// The key of an address as the audit log records it (`origin.ip`), written as [`describe`]
/// writes it: the subject of a per-client alert. Text that is not an address is kept as is.
pub fn subject(ip: &str, ipv6_prefix: u8) -> String {
    match ip.parse::<IpAddr>() {
        Ok(addr) => describe(key_for(addr, ipv6_prefix), ipv6_prefix),
        Err(_) => ip.to_owned(),
    }
}

fn mask(prefix: u8) -> u128 {
    let prefix = u32::from(prefix.min(128));
    // `checked_shl(128)` is None: a /0 keeps no bits.
    u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn ipv4_is_the_whole_address() {
        assert_eq!(key_for(ip("203.0.113.7"), 64), ip("203.0.113.7"));
        assert_ne!(key_for(ip("203.0.113.7"), 64), key_for(ip("203.0.113.8"), 64));
        assert_eq!(key_for(ip("::ffff:203.0.113.7"), 64), ip("203.0.113.7"));
    }

    #[test]
    fn ipv6_is_keyed_by_its_prefix() {
        let a = key_for(ip("2001:db8:1:2:aaaa::1"), 64);
        let b = key_for(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64);
        let other = key_for(ip("2001:db8:1:3::1"), 64);
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, other);
        assert_eq!(describe(a, 64), "2001:db8:1:2::/64");
        assert_eq!(key_for(ip("2001:db8:1:2::1"), 48), key_for(ip("2001:db8:1:3::1"), 48));
        assert_eq!(key_for(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(key_for(ip("2001:db8::1"), 0), ip("::"));
    }

    #[test]
    fn an_alert_subject_is_the_limiter_key_it_counted() {
        for addr in [
            "203.0.113.9",
            "::ffff:203.0.113.9",
            "2001:db8:1:2:3:4:5:6",
            "2001:db8:1:2::",
            "::1",
            "fe80::1",
        ] {
            for prefix in [1, 48, 56, 64, 127, 128] {
                let limiter = describe(key_for(ip(addr), prefix), prefix);
                assert_eq!(subject(addr, prefix), limiter, "{addr} /{prefix}");
            }
        }
        assert_eq!(subject("2001:db8:1:2:3:4:5:6", 64), "2001:db8:1:2::/64");
        assert_eq!(subject("::ffff:203.0.113.9", 64), "203.0.113.9");
        assert_eq!(subject("not an address", 64), "not an address");
    }
}
