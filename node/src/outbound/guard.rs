//! The address policy of outbound `fetch()`: which IP addresses a handler
//! may connect to.
//!
//! It judges the address a socket is about to connect to — after DNS, for
//! every address tried and every redirect hop — never the host name, so a
//! name that resolves (or re-resolves) to an internal address is refused
//! like the literal address would be. By default it refuses everything that
//! is not a public unicast address: loopback, private, link-local, CGNAT,
//! cloud metadata, multicast, reserved and documentation ranges, and the
//! IPv6 forms that embed such an IPv4 address (IPv4-mapped,
//! IPv4-compatible, NAT64, 6to4). Operators allow ranges explicitly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is refused: the reason, as in "is a private address".
pub type Reason = &'static str;

/// Decides whether outbound connections may go to an address.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allow: Vec<IpNet>,
}

impl Guard {
    /// A guard that refuses the internal ranges except those in `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Guard { allow }
    }

    /// The ranges allowed in spite of the default policy.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allow
    }

    /// `Ok` when a connection to `ip` may be made; otherwise why not.
    ///
    /// An allowed range matches the address itself, and for IPv6 forms that
    /// embed an IPv4 address also that IPv4 address (allowing 127.0.0.0/8
    /// allows `::ffff:127.0.0.1`).
    pub fn check(&self, ip: IpAddr) -> Result<(), Reason> {
        let Some(reason) = denied(ip) else { return Ok(()) };
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = self
            .allow
            .iter()
            .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)));
        if allowed { Ok(()) } else { Err(reason) }
    }
}

/// Why `ip` is refused by default, or `None` for a public unicast address.
pub fn denied(ip: IpAddr) -> Option<Reason> {
    match ip {
        IpAddr::V4(v4) => denied_v4(v4),
        IpAddr::V6(v6) => denied_v6(v6),
    }
}

fn denied_v4(ip: Ipv4Addr) -> Option<Reason> {
    let [a, b, c, d] = ip.octets();
    let reason = match (a, b, c, d) {
        (169, 254, 169, 254) | (168, 63, 129, 16) | (100, 100, 100, 200) => "a cloud metadata address",
        (255, 255, 255, 255) => "the broadcast address",
        (0, ..) => "a \"this network\" address",
        (127, ..) => "a loopback address",
        (10, ..) => "a private address",
        (172, 16..=31, ..) => "a private address",
        (192, 168, ..) => "a private address",
        (169, 254, ..) => "a link-local address",
        (100, 64..=127, ..) => "a shared (CGNAT) address",
        (192, 0, 0, _) => "an IETF protocol assignment address",
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => "a documentation address",
        (198, 18..=19, ..) => "a benchmarking address",
        (224..=239, ..) => "a multicast address",
        (240..=255, ..) => "a reserved address",
        _ => return None,
    };
    Some(reason)
}

fn denied_v6(ip: Ipv6Addr) -> Option<Reason> {
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // Forms that reach an IPv4 address: judged by that address.
    if let Some(v4) = embedded_v4(ip) {
        return denied_v4(v4);
    }
    let s = ip.segments();
    let reason = match s {
        // AWS's IPv6 instance metadata endpoint.
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => "a cloud metadata address",
        [0x0100, 0, 0, 0, ..] => "a discard-only address",
        // Local-use NAT64 (RFC 8215): translates to whatever the operator
        // routes there.
        [0x0064, 0xff9b, 0x0001, ..] => "a local-use NAT64 address",
        [0x2001, 0x0db8, ..] => "a documentation address",
        [x, ..] if x & 0xfe00 == 0xfc00 => "a private (unique local) address",
        [x, ..] if x & 0xffc0 == 0xfe80 => "a link-local address",
        [x, ..] if x & 0xffc0 == 0xfec0 => "a site-local address",
        [x, ..] if x & 0xff00 == 0xff00 => "a multicast address",
        // Nothing but 2000::/3 is assigned for global unicast.
        [x, ..] if x & 0xe000 != 0x2000 => "a reserved address",
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`), NAT64 with the well-known prefix (`64:ff9b::/96`)
/// and 6to4 (`2002:AABB:CCDD::/48`).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // `::` and `::1` are IPv6's own; the rest of ::/96 is IPv4-compatible.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ipv4_ranges_are_refused_with_their_reason() {
        let table = [
            ("0.0.0.0", "a \"this network\" address"),
            ("0.1.2.3", "a \"this network\" address"),
            ("127.0.0.1", "a loopback address"),
            ("127.255.255.254", "a loopback address"),
            ("10.0.0.1", "a private address"),
            ("10.255.255.255", "a private address"),
            ("172.16.0.1", "a private address"),
            ("172.31.255.255", "a private address"),
            ("192.168.1.1", "a private address"),
            ("169.254.0.1", "a link-local address"),
            ("169.254.169.254", "a cloud metadata address"),
            ("168.63.129.16", "a cloud metadata address"),
            ("100.100.100.200", "a cloud metadata address"),
            ("100.64.0.1", "a shared (CGNAT) address"),
            ("100.127.255.255", "a shared (CGNAT) address"),
            ("192.0.0.8", "an IETF protocol assignment address"),
            ("192.0.2.1", "a documentation address"),
            ("198.51.100.7", "a documentation address"),
            ("203.0.113.9", "a documentation address"),
            ("198.18.0.1", "a benchmarking address"),
            ("198.19.255.255", "a benchmarking address"),
            ("224.0.0.1", "a multicast address"),
            ("239.255.255.250", "a multicast address"),
            ("240.0.0.1", "a reserved address"),
            ("255.255.255.254", "a reserved address"),
            ("255.255.255.255", "the broadcast address"),
        ];
        for (addr, reason) in table {
            assert_eq!(denied(ip(addr)), Some(reason), "{addr}");
            assert_eq!(Guard::default().check(ip(addr)), Err(reason), "{addr}");
        }
    }

    #[test]
    fn public_ipv4_addresses_and_range_edges_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(denied(ip(addr)), None, "{addr}");
            assert_eq!(Guard::default().check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn internal_ipv6_ranges_are_refused_with_their_reason() {
        let table = [
            ("::", "the unspecified address"),
            ("::1", "a loopback address"),
            ("fc00::1", "a private (unique local) address"),
            ("fdff:ffff::1", "a private (unique local) address"),
            ("fd00:ec2::254", "a cloud metadata address"),
            ("fe80::1", "a link-local address"),
            ("febf:ffff::1", "a link-local address"),
            ("fec0::1", "a site-local address"),
            ("ff02::1", "a multicast address"),
            ("ff05::2", "a multicast address"),
            ("100::1", "a discard-only address"),
            ("2001:db8::1", "a documentation address"),
            ("4000::1", "a reserved address"),
            ("1::", "a reserved address"),
        ];
        for (addr, reason) in table {
            assert_eq!(denied(ip(addr)), Some(reason), "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_of_internal_ipv4_addresses_are_refused() {
        let table = [
            ("::ffff:127.0.0.1", "a loopback address"),
            ("::ffff:7f00:1", "a loopback address"),
            ("::ffff:10.0.0.1", "a private address"),
            ("::ffff:169.254.169.254", "a cloud metadata address"),
            ("::ffff:0:192.168.0.1", "a private address"),
            ("::127.0.0.1", "a loopback address"),
            ("::10.1.2.3", "a private address"),
            ("::0.0.0.2", "a \"this network\" address"),
            ("64:ff9b::127.0.0.1", "a loopback address"),
            ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
            ("64:ff9b:1::8.8.8.8", "a local-use NAT64 address"),
            ("2002:7f00:1::", "a loopback address"),
            ("2002:a00:1::1", "a private address"),
            ("::ffff:100.64.0.1", "a shared (CGNAT) address"),
            ("::ffff:255.255.255.255", "the broadcast address"),
        ];
        for (addr, reason) in table {
            assert_eq!(denied(ip(addr)), Some(reason), "{addr}");
        }
        // The same forms of public addresses pass.
        for addr in [
            "::ffff:8.8.8.8",
            "64:ff9b::1.1.1.1",
            "2002:808:808::1",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert_eq!(denied(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn allowed_ranges_override_the_default() {
        let guard = Guard::new(vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert_eq!(guard.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(guard.check(ip("127.9.9.9")), Ok(()));
        assert_eq!(guard.check(ip("::ffff:127.0.0.1")), Ok(()), "embedded IPv4 matches");
        assert_eq!(guard.check(ip("fd12::1")), Ok(()));
        assert_eq!(guard.check(ip("fd00:ec2::254")), Ok(()), "an explicit range wins");
        assert_eq!(guard.check(ip("10.0.0.1")), Err("a private address"));
        assert_eq!(guard.check(ip("169.254.169.254")), Err("a cloud metadata address"));
        assert_eq!(guard.check(ip("::1")), Err("a loopback address"), "::1 is not in 127/8");
        assert_eq!(guard.check(ip("fc00::1")), Err("a private (unique local) address"));
        let metadata_only = Guard::new(vec!["169.254.169.254/32".parse().unwrap()]);
        assert_eq!(metadata_only.check(ip("169.254.169.254")), Ok(()));
        assert_eq!(metadata_only.check(ip("169.254.169.253")), Err("a link-local address"));
    }

    #[test]
    fn embedded_ipv4_is_found_only_in_the_forms_that_carry_it() {
        let v4 = |s: &str| embedded_v4(s.parse().unwrap());
        assert_eq!(v4("::ffff:1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(v4("::1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(v4("64:ff9b::1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(v4("2002:102:304::"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(v4("::"), None);
        assert_eq!(v4("::1"), None);
        assert_eq!(v4("2001:4860::8888"), None);
        assert_eq!(v4("64:ff9b:2::1.2.3.4"), None);
    }
}
