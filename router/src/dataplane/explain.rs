//! `router route get`: what the dataplane does with one packet, found by
//! building that packet and running it through [`Forwarder::process`] —
//! the workers' own decision code, not a second model of it.
//!
//! The run uses [`Forwarder::scratch`]: scratch counters (the real ones do
//! not move), its own ICMP token bucket (the workers' are not spent), and
//! its own drop monitor, which reports the drop reason and the ICMP error.
//! A [`RecordingSink`] keeps what would have been sent or handed to the
//! slow path instead of sending it. The route and ECMP member are read with
//! the same [`Forwarder::route`] / [`Forwarder::packet_hash`] calls (or
//! their IPv6 forms) that `process` makes, on the same batch (FIB
//! snapshot). Both families go through the one `process`, which sends an
//! IPv6 frame down the IPv6 steps.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use super::counters::DropReason;
use super::forward::{Batch, Egress, Egress6, Forwarder, FrameMeta, FwdOptions, Punt, TxSink};
use super::monitor::IcmpSent;
use crate::neigh::NeighHit;
use crate::ports::PortId;
use crate::rib::nexthop::NextHop;
use crate::shared::Shared;
use crate::wire::ethernet::{self, ethertype, EthernetRepr, MacAddr};
use crate::wire::icmp::Icmpv4Repr;
use crate::wire::icmpv6;
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, class, next_header, Ipv6Packet};
use crate::wire::vnet::VnetHdr;

/// The MAC the synthetic packet comes from (locally administered).
pub const PROBE_MAC: MacAddr = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];

/// The upper layer of the probe: an echo request, or the first segment or
/// datagram of a flow (what ECMP hashes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeProto {
    /// ICMP echo request (ICMPv6 for an IPv6 probe).
    Echo,
    Tcp,
    Udp,
}

impl ProbeProto {
    /// The IP protocol / next header number for `dst`'s family.
    pub fn number(self, dst: IpAddr) -> u8 {
        match (self, dst) {
            (ProbeProto::Echo, IpAddr::V4(_)) => protocol::ICMP,
            (ProbeProto::Echo, IpAddr::V6(_)) => next_header::ICMPV6,
            (ProbeProto::Tcp, _) => protocol::TCP,
            (ProbeProto::Udp, _) => protocol::UDP,
        }
    }

    /// Bytes of upper-layer header the probe carries.
    fn header_len(self) -> usize {
        match self {
            ProbeProto::Tcp => 20,
            ProbeProto::Udp | ProbeProto::Echo => 8,
        }
    }
}

/// The packet to explain, of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub dst: IpAddr,
    /// Source, of `dst`'s family; `None`: a host on the ingress port's
    /// subnet.
    pub src: Option<IpAddr>,
    /// Ingress port; `None`: where the route to `src` leaves, else the
    /// first port other than the egress one.
    pub iif: Option<PortId>,
    pub proto: ProbeProto,
    pub sport: u16,
    pub dport: u16,
    /// TTL, or IPv6 hop limit.
    pub ttl: u8,
    /// Bytes of IP packet: the IPv4 total length, or the IPv6 header and
    /// its payload (at least the headers).
    pub len: usize,
    /// IPv4 only (routers never fragment IPv6).
    pub dont_frag: bool,
}

impl Probe {
    /// An echo request as `ping` sends it by default (56 data bytes).
    pub fn to(dst: impl Into<IpAddr>) -> Probe {
        let dst = dst.into();
        Probe {
            dst,
            src: None,
            iif: None,
            proto: ProbeProto::Echo,
            sport: 0,
            dport: 0,
            ttl: 64,
            len: match dst {
                IpAddr::V4(_) => ipv4::MIN_HEADER_LEN + 8 + 56,
                IpAddr::V6(_) => ipv6::HEADER_LEN + 8 + 56,
            },
            dont_frag: false,
        }
    }
}

/// Where the route sends the probe: [`Egress`] or [`Egress6`] with the
/// next hop of either family (an IPv6 route's next hop may be
/// IPv4-mapped, a neighbour resolved by ARP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeEgress {
    Out {
        port: PortId,
        next_hop: IpAddr,
    },
    Local,
    Blackhole,
    /// ICMP (or ICMPv6) destination unreachable with this code.
    Unreachable(u8),
}

impl From<Egress> for ProbeEgress {
    fn from(e: Egress) -> Self {
        match e {
            Egress::Out { port, next_hop } => ProbeEgress::Out {
                port,
                next_hop: next_hop.into(),
            },
            Egress::Out6 { port, next_hop } => ProbeEgress::Out {
                port,
                next_hop: next_hop.into(),
            },
            Egress::Local => ProbeEgress::Local,
            Egress::Blackhole => ProbeEgress::Blackhole,
            Egress::Unreachable(c) => ProbeEgress::Unreachable(c),
        }
    }
}

impl From<Egress6> for ProbeEgress {
    fn from(e: Egress6) -> Self {
        match e {
            Egress6::Out { port, next_hop } => ProbeEgress::Out {
                port,
                next_hop: next_hop.into(),
            },
            Egress6::Local => ProbeEgress::Local,
            Egress6::Blackhole => ProbeEgress::Blackhole,
            Egress6::Unreachable(c) => ProbeEgress::Unreachable(c),
        }
    }
}

/// What `process` did with the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sent out of `port` to `dst_mac` (`frames` > 1: fragmented).
    Forwarded {
        port: PortId,
        dst_mac: MacAddr,
        frames: usize,
    },
    /// Handed to the slow path to resolve `next_hop` on `port` first (ARP
    /// for an IPv4 address, Neighbor Solicitation for an IPv6 one); it
    /// leaves once the neighbour answers, or is dropped with an ICMP
    /// unreachable.
    AwaitingNeighbour { port: PortId, next_hop: IpAddr },
    /// Addressed to the router and answered (an echo reply on `port`).
    LocalAnswered { port: PortId },
    /// Addressed to the router: TCP, handed to the local stack.
    LocalTcp,
    /// Addressed to an address of `port` and not the router's own business:
    /// up that port's host interface to the kernel.
    ToHost { port: PortId },
    /// Dropped, counted on `port` as `reason`, with this ICMP error sent.
    Dropped {
        port: PortId,
        reason: DropReason,
        icmp: Option<IcmpSent>,
    },
    /// Nothing came of it (should not happen; said rather than hidden).
    Nothing,
}

/// The explanation of one probe.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The packet as built: source, ingress port.
    pub src: IpAddr,
    pub in_port: PortId,
    /// The flow hash `process` computed (picks the ECMP member).
    pub hash: u32,
    pub egress: ProbeEgress,
    /// (chosen member index, members) when the route is ECMP.
    pub ecmp: Option<(usize, usize)>,
    /// The neighbour entry of the egress next hop, as workers see it.
    pub neighbour: Option<NeighHit>,
    /// How long ago the neighbour was last confirmed reachable (an ARP
    /// reply or a solicited Neighbor Advertisement), if ever.
    pub confirmed_ago: Option<std::time::Duration>,
    pub verdict: Verdict,
    /// Where the ICMP error (or echo reply) went, if one was sent.
    pub reply_port: Option<PortId>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("no port {0}")]
    NoPort(PortId),
    #[error("the router has no ports")]
    NoPorts,
    #[error("source {src} and destination {dst} are of different families")]
    MixedFamilies { src: IpAddr, dst: IpAddr },
}

/// A sink that records instead of sending (also the fuzz targets' sink).
#[derive(Default)]
pub struct RecordingSink {
    pub sent: Vec<(PortId, Vec<u8>)>,
    /// Why, the ingress port, and the frame as handed over.
    pub punted: Vec<(Punt, PortId, Vec<u8>)>,
}

impl TxSink for RecordingSink {
    fn frame_capacity(&self, _port: PortId) -> usize {
        ethernet::HEADER_LEN + 65535
    }
    fn send(
        &mut self,
        port: PortId,
        fill: impl FnOnce(&mut [u8]) -> (usize, Option<VnetHdr>),
    ) -> bool {
        let mut buf = vec![0u8; self.frame_capacity(port)];
        let (len, _) = fill(&mut buf);
        if len == 0 {
            return false;
        }
        buf.truncate(len);
        self.sent.push((port, buf));
        true
    }
    fn punt(&mut self, why: Punt, in_port: PortId, frame: &[u8], _meta: &FrameMeta) -> bool {
        self.punted.push((why, in_port, frame.to_vec()));
        true
    }
}

/// A host address of `dst`'s family on `port`'s first subnet of that
/// family that is not one of the router's (the synthetic packet's default
/// source). IPv6 skips link-local subnets: a link-local source is never
/// forwarded off its link.
fn host_on(fwd: &Forwarder, port: PortId, dst: IpAddr) -> Option<IpAddr> {
    let ports = &fwd.shared().ports;
    let p = ports.get(port as usize)?;
    match dst {
        IpAddr::V4(_) => p.addrs.iter().find_map(|n| {
            let net = u32::from(n.network());
            let hosts = if n.prefix_len() >= 31 {
                0..=1u32.min(u32::MAX >> n.prefix_len())
            } else {
                1..=(u32::MAX >> n.prefix_len()) - 1
            };
            hosts
                .take(4)
                .map(|i| Ipv4Addr::from(net | i))
                .find(|a| !ports.iter().any(|q| q.addrs.iter().any(|x| x.addr() == *a)))
                .map(IpAddr::V4)
        }),
        IpAddr::V6(_) => p
            .addrs6
            .iter()
            .filter(|n| !n.addr().is_unicast_link_local())
            .find_map(|n| {
                let net = u128::from(n.network());
                let mask = u128::MAX.checked_shr(n.prefix_len().into()).unwrap_or(0);
                // Host 0 is the Subnet-Router anycast address (RFC 4291
                // §2.6.1) except on a /127 (RFC 6164).
                let first = if mask <= 1 { 0 } else { 1 };
                (first..=mask.min(4))
                    .map(|i| Ipv6Addr::from(net | i))
                    .find(|a| {
                        !ports
                            .iter()
                            .any(|q| q.addrs6.iter().any(|x| x.addr() == *a))
                    })
                    .map(IpAddr::V6)
            }),
    }
}

/// Builds the IPv4 probe's frame as received on a port with MAC `port_mac`.
pub fn build_frame(probe: &Probe, src: Ipv4Addr, dst: Ipv4Addr, port_mac: MacAddr) -> Vec<u8> {
    let ip_len = probe
        .len
        .clamp(ipv4::MIN_HEADER_LEN + probe.proto.header_len(), 65535);
    let payload_len = ip_len - ipv4::MIN_HEADER_LEN;
    let mut f = vec![0u8; ethernet::HEADER_LEN + ip_len];
    let _ = EthernetRepr {
        dst: port_mac,
        src: PROBE_MAC,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f);
    let _ = Ipv4Repr {
        src,
        dst,
        protocol: probe.proto.number(dst.into()),
        ttl: probe.ttl,
        dscp_ecn: 0,
        ident: 0x5e01,
        dont_frag: probe.dont_frag,
        payload_len,
    }
    .emit(&mut f[ethernet::HEADER_LEN..]);
    let l4 = &mut f[ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN..];
    match probe.proto {
        ProbeProto::Echo => {
            let data = vec![0u8; payload_len - 8];
            let _ = Icmpv4Repr::EchoRequest {
                ident: 0x5e01,
                seq: 1,
                data: &data,
            }
            .emit(l4);
        }
        ProbeProto::Tcp | ProbeProto::Udp => write_ports(probe, l4, payload_len),
    }
    f
}

/// Builds the IPv6 probe's frame (no extension headers) as received on a
/// port with MAC `port_mac`.
pub fn build_frame6(probe: &Probe, src: Ipv6Addr, dst: Ipv6Addr, port_mac: MacAddr) -> Vec<u8> {
    let payload_len = probe
        .len
        .saturating_sub(ipv6::HEADER_LEN)
        .clamp(probe.proto.header_len(), 65535);
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + payload_len];
    let _ = EthernetRepr {
        dst: port_mac,
        src: PROBE_MAC,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut f);
    let _ = ipv6::emit_header(
        &mut f[ethernet::HEADER_LEN..],
        &src,
        &dst,
        probe.proto.number(dst.into()),
        payload_len as u16,
        probe.ttl,
    );
    let l4 = &mut f[ethernet::HEADER_LEN + ipv6::HEADER_LEN..];
    match probe.proto {
        ProbeProto::Echo => {
            let data = vec![0u8; payload_len - icmpv6::HEADER_LEN];
            let _ = icmpv6::emit(
                l4,
                &src,
                &dst,
                icmpv6::msg::ECHO_REQUEST,
                0,
                0x5e01_0001,
                &data,
            );
        }
        ProbeProto::Tcp | ProbeProto::Udp => write_ports(probe, l4, payload_len),
    }
    f
}

/// The TCP SYN or UDP header of a flow probe (checksums are not checked
/// in transit, and a probe is never delivered).
fn write_ports(probe: &Probe, l4: &mut [u8], payload_len: usize) {
    l4[0..2].copy_from_slice(&probe.sport.to_be_bytes());
    l4[2..4].copy_from_slice(&probe.dport.to_be_bytes());
    match probe.proto {
        ProbeProto::Tcp => {
            l4[12] = 5 << 4;
            l4[13] = 0x02; // SYN
        }
        ProbeProto::Udp => l4[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes()),
        ProbeProto::Echo => {}
    }
}

/// (chosen member, members) when `hop` is an ECMP group holding
/// (`port`, `next_hop`).
fn ecmp_member<A: Copy + PartialEq>(
    hop: Option<&NextHop<A>>,
    port: PortId,
    next_hop: A,
) -> Option<(usize, usize)> {
    match hop {
        Some(NextHop::Multipath(m)) if m.len() > 1 => m
            .iter()
            .position(|&(p, g)| p == port && g == next_hop)
            .map(|i| (i, m.len())),
        _ => None,
    }
}

/// The route lookup `process` makes, for either family.
fn route(fwd: &Forwarder, b: &Batch, dst: IpAddr, hash: u32) -> ProbeEgress {
    match dst {
        IpAddr::V4(d) => fwd.route(b, d, hash).into(),
        IpAddr::V6(d) => fwd.route6(b, d, hash).into(),
    }
}

/// Runs `probe` through the forwarding code against the live FIB,
/// next-hop and neighbour tables of `shared`.
pub fn explain(
    shared: &Arc<Shared>,
    opts: FwdOptions,
    probe: &Probe,
) -> Result<Trace, ExplainError> {
    if shared.ports.is_empty() {
        return Err(ExplainError::NoPorts);
    }
    if let Some(p) = probe.iif.filter(|p| *p as usize >= shared.ports.len()) {
        return Err(ExplainError::NoPort(p));
    }
    if let Some(src) = probe.src.filter(|s| s.is_ipv4() != probe.dst.is_ipv4()) {
        return Err(ExplainError::MixedFamilies {
            src,
            dst: probe.dst,
        });
    }
    let (mut fwd, monitor) = Forwarder::scratch(Arc::clone(shared), opts);
    let mut session = monitor
        .attach(u32::MAX)
        .expect("a scratch monitor has no other reader");
    let b = fwd.begin_batch(Instant::now());
    // The ingress port: given, else where packets from `src` would come
    // in (the route back to it), else the first port other than the one
    // the destination leaves by.
    let out_port = match route(&fwd, &b, probe.dst, 0) {
        ProbeEgress::Out { port, .. } => Some(port),
        _ => None,
    };
    let in_port = probe
        .iif
        .or_else(|| match probe.src.map(|s| route(&fwd, &b, s, 0)) {
            Some(ProbeEgress::Out { port, .. }) => Some(port),
            _ => None,
        })
        .or_else(|| {
            (0..shared.ports.len() as PortId)
                .find(|p| Some(*p) != out_port && host_on(&fwd, *p, probe.dst).is_some())
        })
        .unwrap_or(0);
    // Documentation addresses (RFC 5737, RFC 3849) when the port has no
    // subnet of the family.
    let src = probe
        .src
        .or_else(|| host_on(&fwd, in_port, probe.dst))
        .unwrap_or(match probe.dst {
            IpAddr::V4(_) => Ipv4Addr::new(192, 0, 2, 1).into(),
            IpAddr::V6(_) => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(),
        });
    let port_mac = fwd.port_mac(in_port).ok_or(ExplainError::NoPort(in_port))?;
    let mut frame = match (src, probe.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => build_frame(probe, s, d, port_mac),
        (IpAddr::V6(s), IpAddr::V6(d)) => build_frame6(probe, s, d, port_mac),
        (src, dst) => return Err(ExplainError::MixedFamilies { src, dst }),
    };
    let meta = FrameMeta {
        wire_len: frame.len() as u32,
        ..FrameMeta::default()
    };
    let ip = &frame[ethernet::HEADER_LEN..];
    let hash = match probe.dst {
        IpAddr::V4(_) => fwd.packet_hash(&Ipv4Packet::new_unchecked(ip)),
        IpAddr::V6(_) => fwd.packet_hash6(&Ipv6Packet::new_unchecked(ip)),
    };
    let egress = route(&fwd, &b, probe.dst, hash);
    let (ecmp, neighbour, confirmed_ago) = match (egress, probe.dst) {
        (ProbeEgress::Out { port, next_hop }, dst) => {
            let (ecmp, neighbour, confirmed) = match (dst, next_hop) {
                (IpAddr::V4(d), IpAddr::V4(nh)) => (
                    ecmp_member(b.next_hop_of(d), port, nh),
                    shared.neigh.lookup(port, nh),
                    shared.neigh.last_confirmed(port, nh),
                ),
                (IpAddr::V6(d), IpAddr::V6(nh)) => (
                    ecmp_member(fwd.next_hop6_of(&b, d), port, nh),
                    fwd.neighbour6(port, nh),
                    // An IPv4-mapped next hop is an ARP neighbour.
                    match class::to_ipv4_mapped(&nh) {
                        Some(v4) => shared.neigh.last_confirmed(port, v4),
                        None => shared.neigh6.last_confirmed(port, nh),
                    },
                ),
                // RFC 8950: an IPv4 route via an IPv6 neighbour (one, no
                // ECMP), found by NDP.
                (IpAddr::V4(_), IpAddr::V6(nh)) => (
                    None,
                    shared.neigh6.lookup(port, nh),
                    shared.neigh6.last_confirmed(port, nh),
                ),
                _ => (None, None, None),
            };
            (ecmp, neighbour, confirmed.map(|at| at.elapsed()))
        }
        _ => (None, None, None),
    };
    let mut sink = RecordingSink::default();
    fwd.process(&b, in_port, &mut frame, &meta, &mut sink);
    let mut events = Vec::new();
    session.drain(&mut events, 16);
    let reply_port = |sink: &RecordingSink| sink.sent.first().map(|s| s.0);
    let verdict = if let Some(e) = events.first() {
        Verdict::Dropped {
            port: e.port,
            reason: e.reason,
            icmp: e.icmp_sent,
        }
    } else if let Some((why, _, _)) = sink.punted.first() {
        match *why {
            Punt::Resolve { port, next_hop } => Verdict::AwaitingNeighbour {
                port,
                next_hop: next_hop.into(),
            },
            Punt::Resolve6 { port, next_hop } => Verdict::AwaitingNeighbour {
                port,
                next_hop: next_hop.into(),
            },
            Punt::LocalTcp => Verdict::LocalTcp,
            Punt::HostUp { port } => Verdict::ToHost { port },
            // Workers never punt these for a probe (ARP and NDP are not
            // probed; only the host interface's reader makes FromHost).
            Punt::Arp | Punt::Ndp | Punt::FromHost { .. } => Verdict::Nothing,
        }
    } else if let Some((port, f)) = sink.sent.first() {
        if egress == ProbeEgress::Local {
            Verdict::LocalAnswered { port: *port }
        } else {
            let mut dst_mac = [0u8; 6];
            dst_mac.copy_from_slice(&f[..6]);
            Verdict::Forwarded {
                port: *port,
                dst_mac,
                frames: sink.sent.len(),
            }
        }
    } else {
        Verdict::Nothing
    };
    let reply_port = match verdict {
        Verdict::Dropped { icmp: Some(_), .. } | Verdict::LocalAnswered { .. } => reply_port(&sink),
        _ => None,
    };
    Ok(Trace {
        src,
        in_port,
        hash,
        egress,
        ecmp,
        neighbour,
        confirmed_ago,
        verdict,
        reply_port,
    })
}

#[cfg(test)]
mod tests;
