//! Step 2: where does the packet go? The FIB (poptrie) gives a next-hop
//! id, the published next-hop table what it means; an ECMP group picks
//! its member by a flow hash, so a flow keeps its path.
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Batch, Forwarder};
use crate::ports::PortId;
use crate::rib::nexthop::NextHop;
use crate::wire::icmp::unreach;
use crate::wire::icmpv6::unreach as unreach6;
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::ipv6::{next_header, Ipv6Packet};

/// Where a packet leaves: port and the neighbour to hand it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    Out {
        port: PortId,
        next_hop: Ipv4Addr,
    },
    /// To an IPv6 neighbour (RFC 8950: an IPv4 route with an IPv6 next
    /// hop), resolved by NDP.
    Out6 {
        port: PortId,
        next_hop: Ipv6Addr,
    },
    Local,
    Blackhole,
    /// ICMP destination unreachable with this code.
    Unreachable(u8),
}

/// Where an IPv6 packet leaves. `next_hop` may be IPv4-mapped (a BGP next
/// hop learned over an IPv4 session): that neighbour is resolved by ARP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress6 {
    Out {
        port: PortId,
        next_hop: Ipv6Addr,
    },
    Local,
    Blackhole,
    /// ICMPv6 destination unreachable with this code.
    Unreachable(u8),
}

/// Folds an IPv6 address to 32 bits for [`flow_hash`].
#[inline]
pub(super) fn fold128(a: Ipv6Addr) -> u32 {
    let v = u128::from(a);
    (v as u32) ^ ((v >> 32) as u32) ^ ((v >> 64) as u32) ^ ((v >> 96) as u32)
}

/// A flow hash over (src, dst, protocol, ports): the same flow always gives
/// the same value (a murmur3-style finaliser; no per-packet state).
#[inline]
pub(super) fn flow_hash(src: u32, dst: u32, proto: u8, ports: u32) -> u32 {
    let mut h = (src as u64) << 32 | dst as u64;
    h ^= (proto as u64) << 56 ^ (ports as u64).rotate_left(17);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h as u32
}

impl Forwarder {
    /// Route lookup for `dst`, with `hash` picking an ECMP member.
    pub fn route(&self, b: &Batch, dst: Ipv4Addr, hash: u32) -> Egress {
        let Some(id) = b.fib.lookup(dst) else {
            return Egress::Unreachable(unreach::NET);
        };
        match b.nexthops.get(id) {
            Some(NextHop::Connected { port }) => Egress::Out {
                port: *port,
                next_hop: dst,
            },
            Some(NextHop::Gateway { port, gw }) => Egress::Out {
                port: *port,
                next_hop: *gw,
            },
            Some(NextHop::Gateway6 { port, gw }) => Egress::Out6 {
                port: *port,
                next_hop: *gw,
            },
            Some(NextHop::Local) => Egress::Local,
            Some(NextHop::Blackhole) => Egress::Blackhole,
            Some(NextHop::Unreachable) => Egress::Unreachable(unreach::HOST),
            Some(NextHop::Multipath(members)) => {
                if members.is_empty() {
                    return Egress::Unreachable(unreach::NET);
                }
                // Multiply-shift maps the hash evenly onto the members.
                let i = ((hash as u64 * members.len() as u64) >> 32) as usize;
                let (port, gw) = members[i];
                Egress::Out { port, next_hop: gw }
            }
            // An id the table cannot resolve: treat as no route.
            None => Egress::Unreachable(unreach::NET),
        }
    }

    /// Route lookup for an IPv6 `dst` (the same rules as [`route`](Self::route)).
    pub fn route6(&self, b: &Batch, dst: Ipv6Addr, hash: u32) -> Egress6 {
        let Some(id) = b.fib6.lookup(dst) else {
            return Egress6::Unreachable(unreach6::NO_ROUTE);
        };
        match b.nexthops6.get(id) {
            Some(NextHop::Connected { port }) => Egress6::Out {
                port: *port,
                next_hop: dst,
            },
            Some(NextHop::Gateway { port, gw } | NextHop::Gateway6 { port, gw }) => Egress6::Out {
                port: *port,
                next_hop: *gw,
            },
            Some(NextHop::Local) => Egress6::Local,
            Some(NextHop::Blackhole) => Egress6::Blackhole,
            Some(NextHop::Unreachable) => Egress6::Unreachable(unreach6::ADDRESS),
            Some(NextHop::Multipath(members)) => {
                if members.is_empty() {
                    return Egress6::Unreachable(unreach6::NO_ROUTE);
                }
                let i = ((hash as u64 * members.len() as u64) >> 32) as usize;
                let (port, gw) = members[i];
                Egress6::Out { port, next_hop: gw }
            }
            None => Egress6::Unreachable(unreach6::NO_ROUTE),
        }
    }

    /// What this batch's IPv6 FIB maps `dst` to (for explanations).
    pub fn next_hop6_of<'b>(&self, b: &'b Batch, dst: Ipv6Addr) -> Option<&'b NextHop<Ipv6Addr>> {
        b.nexthops6.get(b.fib6.lookup(dst)?)
    }

    /// Flow hash of a validated IPv6 packet: addresses, flow label, and
    /// the upper-layer protocol and ports found past the extension headers
    /// (none for fragments, so all fragments of a packet take one path;
    /// RFC 6437 §2 lets a router hash the flow label with the addresses).
    #[inline]
    pub fn packet_hash6<T: AsRef<[u8]>>(&self, ip: &Ipv6Packet<T>) -> u32 {
        let mut proto = ip.next_header();
        let mut ports = 0;
        if let Some(ul) = ip.upper_layer() {
            proto = ul.protocol;
            if let (false, Some(off), next_header::TCP | next_header::UDP) =
                (ul.fragment, ul.offset, ul.protocol)
            {
                if let Some(p) = ip.payload().get(off..off + 4) {
                    ports = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                }
            }
        }
        flow_hash(
            fold128(ip.src()),
            fold128(ip.dst()) ^ ip.flow_label().rotate_left(12),
            proto,
            ports,
        )
    }

    /// Flow hash of a validated packet; ports only for unfragmented TCP/UDP
    /// (fragments all hash alike so they stay on one path).
    #[inline]
    pub fn packet_hash<T: AsRef<[u8]>>(&self, ip: &Ipv4Packet<T>) -> u32 {
        let proto = ip.protocol();
        let mut ports = 0;
        if !ip.is_fragment() && (proto == protocol::TCP || proto == protocol::UDP) {
            if let Some(p) = ip.payload().get(..4) {
                ports = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            }
        }
        flow_hash(u32::from(ip.src()), u32::from(ip.dst()), proto, ports)
    }
}
