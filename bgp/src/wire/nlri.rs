//! RFC 4271 §4.3 / RFC 4760 §5: NLRI as (length, prefix) tuples, the prefix
//! padded to whole octets.
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::Family;

/// Octets a prefix of this length takes on the wire (length octet included).
pub fn prefix_wire_len(prefix_len: u8) -> usize {
    1 + usize::from(prefix_len).div_ceil(8)
}

/// Parse one prefix at the start of `b`; returns it and the octets used.
/// `None` if the length exceeds the family's maximum or the octets overrun
/// `b` (RFC 7606 §5.3: a syntactically incorrect NLRI field). Host bits
/// beyond the prefix length are cleared.
pub fn parse_prefix(family: Family, b: &[u8]) -> Option<(IpNet, usize)> {
    let (&len, rest) = b.split_first()?;
    let nbytes = usize::from(len).div_ceil(8);
    let bytes = rest.get(..nbytes)?;
    match family {
        Family::Ipv4Unicast => {
            if len > 32 {
                return None;
            }
            let mut a = [0u8; 4];
            a[..nbytes].copy_from_slice(bytes);
            let net = Ipv4Net::new(Ipv4Addr::from(a), len).ok()?.trunc();
            Some((IpNet::V4(net), 1 + nbytes))
        }
        Family::Ipv6Unicast => {
            if len > 128 {
                return None;
            }
            let mut a = [0u8; 16];
            a[..nbytes].copy_from_slice(bytes);
            let net = Ipv6Net::new(Ipv6Addr::from(a), len).ok()?.trunc();
            Some((IpNet::V6(net), 1 + nbytes))
        }
    }
}

/// Append one prefix in wire form.
pub fn emit_prefix(out: &mut Vec<u8>, p: &IpNet) {
    let len = p.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match p {
        IpNet::V4(v4) => out.extend_from_slice(&v4.addr().octets()[..n]),
        IpNet::V6(v6) => out.extend_from_slice(&v6.addr().octets()[..n]),
    }
}

/// Iterates the prefixes of an NLRI / withdrawn-routes field. Yields
/// `Err(())` once and stops if the field is malformed.
#[derive(Clone, Debug)]
pub struct PrefixIter<'a> {
    family: Family,
    bytes: &'a [u8],
    failed: bool,
}

impl<'a> PrefixIter<'a> {
    pub fn new(family: Family, bytes: &'a [u8]) -> Self {
        PrefixIter {
            family,
            bytes,
            failed: false,
        }
    }

    /// Validate the whole field without allocating; the number of prefixes.
    pub fn validate(family: Family, bytes: &'a [u8]) -> Option<usize> {
        let mut n = 0;
        for p in PrefixIter::new(family, bytes) {
            p.ok()?;
            n += 1;
        }
        Some(n)
    }
}

impl Iterator for PrefixIter<'_> {
    type Item = Result<IpNet, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.bytes.is_empty() {
            return None;
        }
        match parse_prefix(self.family, self.bytes) {
            Some((p, used)) => {
                self.bytes = &self.bytes[used..];
                Some(Ok(p))
            }
            None => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_prefixes() {
        let b = [24, 10, 10, 1, 32, 172, 16, 1, 1, 8, 10];
        let v: Vec<_> = PrefixIter::new(Family::Ipv4Unicast, &b)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            v,
            vec![
                "10.10.1.0/24".parse::<IpNet>().unwrap(),
                "172.16.1.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap()
            ]
        );
        let mut out = Vec::new();
        for p in &v {
            emit_prefix(&mut out, p);
        }
        assert_eq!(out, b);
    }

    #[test]
    fn malformed() {
        assert_eq!(
            PrefixIter::validate(Family::Ipv4Unicast, &[33, 1, 2, 3, 4, 5]),
            None
        );
        assert_eq!(
            PrefixIter::validate(Family::Ipv4Unicast, &[24, 10, 10]),
            None
        );
        assert_eq!(PrefixIter::validate(Family::Ipv6Unicast, &[129]), None);
        assert_eq!(PrefixIter::validate(Family::Ipv4Unicast, &[0]), Some(1));
        // Host bits are cleared.
        let (p, _) = parse_prefix(Family::Ipv4Unicast, &[23, 10, 10, 1]).unwrap();
        assert_eq!(p, "10.10.0.0/23".parse::<IpNet>().unwrap());
    }
}
