//! ICMP messages the router originates (echo replies, destination
//! unreachable, time exceeded, fragmentation needed) and the token bucket
//! that rate-limits the errors (RFC 1812 §4.3.2.8).
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use crate::wire::ethernet::{self, EthernetRepr, MacAddr};
use crate::wire::icmp::Icmpv4Repr;
use crate::wire::icmpv6;
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6;

/// RFC 1812 §4.3.2.3: an error quotes as much of the offending datagram as
/// fits in 576 bytes of IP datagram.
pub const MAX_ERROR_IP_LEN: usize = 576;
pub const MAX_QUOTE: usize =
    MAX_ERROR_IP_LEN - ipv4::MIN_HEADER_LEN - crate::wire::icmp::HEADER_LEN;
/// RFC 1812 §4.3.2.5: errors are sent with precedence 6 (internetwork
/// control), as Linux does.
const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;
pub const DEFAULT_TTL: u8 = 64;

/// ICMP error rate limit: a token bucket refilled at `per_sec`, holding at
/// most `burst` tokens (Linux: icmp_msgs_per_sec=1000, icmp_msgs_burst=50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcmpRateLimit {
    pub per_sec: u32,
    pub burst: u32,
}

impl Default for IcmpRateLimit {
    fn default() -> Self {
        IcmpRateLimit {
            per_sec: 1000,
            burst: 50,
        }
    }
}

/// A token bucket owned by one thread (no atomics). Time is passed in so a
/// batch reads the clock once, and tests control it.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens in units of 1/1_000_000 token.
    micro_tokens: u64,
    max_micro: u64,
    per_sec: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub fn new(limit: IcmpRateLimit) -> Self {
        let max_micro = limit.burst as u64 * 1_000_000;
        TokenBucket {
            micro_tokens: max_micro,
            max_micro,
            per_sec: limit.per_sec as u64,
            last: None,
        }
    }
    /// Takes one token if available.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last);
            // per_sec tokens per second = per_sec micro-tokens per µs.
            let add = (dt.as_micros() as u64).saturating_mul(self.per_sec);
            self.micro_tokens = self.micro_tokens.saturating_add(add).min(self.max_micro);
        }
        self.last = Some(now);
        if self.micro_tokens >= 1_000_000 {
            self.micro_tokens -= 1_000_000;
            true
        } else {
            false
        }
    }
}

/// Addresses of an ICMP message to build.
#[derive(Clone, Copy, Debug)]
pub struct IcmpHeaders {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub ident: u16,
}

fn emit_ip_icmp(out: &mut [u8], h: &IcmpHeaders, tos: u8, icmp: &Icmpv4Repr) -> Option<usize> {
    let icmp_len = icmp.buffer_len();
    let total = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + icmp_len;
    let out = out.get_mut(..total)?;
    EthernetRepr {
        dst: h.dst_mac,
        src: h.src_mac,
        ethertype: ethernet::ethertype::IPV4,
    }
    .emit(out)
    .ok()?;
    let ip = Ipv4Repr {
        src: h.src_ip,
        dst: h.dst_ip,
        protocol: ipv4::protocol::ICMP,
        ttl: DEFAULT_TTL,
        dscp_ecn: tos,
        ident: h.ident,
        dont_frag: false,
        payload_len: icmp_len,
    };
    ip.emit(&mut out[ethernet::HEADER_LEN..]).ok()?;
    icmp.emit(&mut out[ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN..])
        .ok()?;
    Some(total)
}

/// Builds an Ethernet frame carrying an ICMP error about `offending` (an
/// IPv4 packet as received, validated). `next_hop_mtu` is the MTU of
/// "fragmentation needed", or the pointer of a parameter problem. Returns the frame length, or None if
/// `out` is too small.
pub fn build_error(
    out: &mut [u8],
    h: &IcmpHeaders,
    msg_type: u8,
    code: u8,
    next_hop_mtu: u16,
    offending: &[u8],
) -> Option<usize> {
    let p = Ipv4Packet::new_checked(offending).ok()?;
    let quote_len = (p.total_len() as usize).min(MAX_QUOTE);
    let quote = &offending[..quote_len];
    let repr = match msg_type {
        crate::wire::icmp::msg::TIME_EXCEEDED => Icmpv4Repr::TimeExceeded { code, quote },
        crate::wire::icmp::msg::PARAM_PROBLEM => Icmpv4Repr::ParamProblem {
            code,
            pointer: next_hop_mtu as u8,
            quote,
        },
        _ => Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu,
            quote,
        },
    };
    emit_ip_icmp(out, h, TOS_INTERNETWORK_CONTROL, &repr)
}

/// Builds an echo reply carrying the request's identifier, sequence number
/// and data (RFC 792), with the request's TOS (RFC 1812 §4.3.3.4... Linux
/// copies it too).
pub fn build_echo_reply(
    out: &mut [u8],
    h: &IcmpHeaders,
    tos: u8,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Option<usize> {
    emit_ip_icmp(out, h, tos, &Icmpv4Repr::EchoReply { ident, seq, data })
}

/// Addresses of an ICMPv6 message to build.
#[derive(Clone, Copy, Debug)]
pub struct Icmp6Headers {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
}

/// Hop limit of what the router originates (Linux's default).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Builds an Ethernet frame with an ICMPv6 message (type, code, second
/// word, body). Returns its length, or None if `out` is too small.
pub fn build_icmp6(
    out: &mut [u8],
    h: &Icmp6Headers,
    hop_limit: u8,
    msg_type: u8,
    code: u8,
    word: u32,
    body: &[u8],
) -> Option<usize> {
    let icmp_len = icmpv6::HEADER_LEN + body.len();
    let total = ethernet::HEADER_LEN + ipv6::HEADER_LEN + icmp_len;
    let out = out.get_mut(..total)?;
    EthernetRepr {
        dst: h.dst_mac,
        src: h.src_mac,
        ethertype: ethernet::ethertype::IPV6,
    }
    .emit(out)
    .ok()?;
    ipv6::emit_header(
        &mut out[ethernet::HEADER_LEN..],
        &h.src_ip,
        &h.dst_ip,
        ipv6::next_header::ICMPV6,
        u16::try_from(icmp_len).ok()?,
        hop_limit,
    )
    .ok()?;
    icmpv6::emit(
        &mut out[ethernet::HEADER_LEN + ipv6::HEADER_LEN..],
        &h.src_ip,
        &h.dst_ip,
        msg_type,
        code,
        word,
        body,
    )
    .ok()?;
    Some(total)
}

/// An ICMPv6 error about `offending` (an IPv6 packet as received): RFC
/// 4443 §2.4(c), quoting as much of it as keeps the error within 1280
/// bytes. `word`: the MTU of Packet Too Big, the pointer of Parameter
/// Problem, else 0.
pub fn build_error6(
    out: &mut [u8],
    h: &Icmp6Headers,
    msg_type: u8,
    code: u8,
    word: u32,
    offending: &[u8],
) -> Option<usize> {
    let quote = &offending[..offending.len().min(icmpv6::MAX_QUOTE)];
    build_icmp6(out, h, DEFAULT_HOP_LIMIT, msg_type, code, word, quote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::{msg, unreach, Icmpv4Packet};
    use std::time::Duration;

    #[test]
    fn error6_quotes_within_1280() {
        let mut orig = vec![0u8; 1500];
        ipv6::emit_header(
            &mut orig,
            &"fd00:10::100".parse().unwrap(),
            &"fd00:20::100".parse().unwrap(),
            17,
            1460,
            1,
        )
        .unwrap();
        let h = Icmp6Headers {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: "fd00:10::200".parse().unwrap(),
            dst_ip: "fd00:10::100".parse().unwrap(),
        };
        let mut out = [0u8; 2048];
        let n = build_error6(&mut out, &h, icmpv6::msg::PACKET_TOO_BIG, 0, 1400, &orig).unwrap();
        assert_eq!(n, 14 + 1280);
        let ip = crate::wire::ipv6::Ipv6Packet::new_checked(&out[14..n]).unwrap();
        assert_eq!(ip.total_len(), 1280);
        let icmp = crate::wire::icmpv6::Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(&h.src_ip, &h.dst_ip));
        assert_eq!((icmp.msg_type(), icmp.word()), (2, 1400));
        assert_eq!(&icmp.body()[..40], &orig[..40]);
        assert!(build_error6(&mut out[..100], &h, 2, 0, 0, &orig).is_none());
    }

    #[test]
    fn bucket_burst_then_rate() {
        let mut b = TokenBucket::new(IcmpRateLimit {
            per_sec: 10,
            burst: 3,
        });
        let t = Instant::now();
        assert!(b.allow(t) && b.allow(t) && b.allow(t));
        assert!(!b.allow(t));
        assert!(!b.allow(t + Duration::from_millis(50)));
        assert!(b.allow(t + Duration::from_millis(100)));
        assert!(!b.allow(t + Duration::from_millis(100)));
        // Never more than the burst after a long pause.
        let later = t + Duration::from_secs(3600);
        assert!((0..3).all(|_| b.allow(later)));
        assert!(!b.allow(later));
    }

    #[test]
    fn error_quotes_header_and_576_limit() {
        let mut orig = vec![0u8; 1500];
        {
            let mut p = Ipv4Packet::new_unchecked(&mut orig[..]);
            p.set_version_ihl(20);
            p.set_total_len(1500);
            p.set_ttl(1);
            p.set_protocol(17);
            p.set_src(Ipv4Addr::new(192, 168, 10, 100));
            p.set_dst(Ipv4Addr::new(172, 20, 2, 249));
            p.fill_checksum();
        }
        let h = IcmpHeaders {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(192, 168, 10, 200),
            dst_ip: Ipv4Addr::new(192, 168, 10, 100),
            ident: 7,
        };
        let mut out = [0u8; 2048];
        let n = build_error(&mut out, &h, msg::TIME_EXCEEDED, 0, 0, &orig).unwrap();
        assert_eq!(n, 14 + 576);
        let ip = Ipv4Packet::new_checked(&out[14..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len(), 576);
        assert_eq!(ip.dst(), h.dst_ip);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
        assert_eq!(&icmp.data()[..20], &orig[..20]);
        let n = build_error(
            &mut out,
            &h,
            msg::DST_UNREACHABLE,
            unreach::FRAG_NEEDED,
            1400,
            &orig[..1500],
        )
        .unwrap();
        let ip = Ipv4Packet::new_checked(&out[14..n]).unwrap();
        assert_eq!(
            Icmpv4Packet::new_checked(ip.payload())
                .unwrap()
                .next_hop_mtu(),
            1400
        );
        assert!(build_error(&mut out[..100], &h, 3, 0, 0, &orig).is_none());
        assert!(build_error(&mut out, &h, 3, 0, 0, &orig[..10]).is_none());
    }
}
