//! `router route get`: what the dataplane does with one packet, found by
//! building that packet and running it through [`Forwarder::process`] —
//! the workers' own decision code, not a second model of it.
//!
//! The run uses [`Forwarder::scratch`]: scratch counters (the real ones do
//! not move), its own ICMP token bucket (the workers' are not spent), and
//! its own drop monitor, which reports the drop reason and the ICMP error.
//! A [`RecordingSink`] keeps what would have been sent or handed to the
//! slow path instead of sending it. The route and ECMP member are read with
//! the same [`Forwarder::route`] / [`Forwarder::packet_hash`] calls that
//! `process` makes, on the same batch (FIB snapshot).
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use super::counters::DropReason;
use super::forward::{Egress, Forwarder, FrameMeta, FwdOptions, Punt, TxSink};
use super::monitor::IcmpSent;
use crate::neigh::NeighHit;
use crate::ports::PortId;
use crate::shared::Shared;
use crate::wire::ethernet::{self, ethertype, EthernetRepr, MacAddr};
use crate::wire::icmp::Icmpv4Repr;
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use crate::wire::vnet::VnetHdr;

/// The MAC the synthetic packet comes from (locally administered).
pub const PROBE_MAC: MacAddr = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];

/// The packet to explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub dst: Ipv4Addr,
    /// Source; `None`: a host on the ingress port's subnet.
    pub src: Option<Ipv4Addr>,
    /// Ingress port; `None`: where the route to `src` leaves, else the
    /// first port other than the egress one.
    pub iif: Option<PortId>,
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    /// IPv4 total length (at least the headers).
    pub len: usize,
    pub dont_frag: bool,
}

impl Probe {
    pub fn to(dst: Ipv4Addr) -> Probe {
        Probe {
            dst,
            src: None,
            iif: None,
            protocol: protocol::ICMP,
            sport: 0,
            dport: 0,
            ttl: 64,
            len: 84,
            dont_frag: false,
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
    /// Handed to the slow path to resolve `next_hop` on `port` first; it
    /// leaves once ARP answers, or is dropped with host unreachable.
    AwaitingNeighbour { port: PortId, next_hop: Ipv4Addr },
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
    pub src: Ipv4Addr,
    pub in_port: PortId,
    /// The flow hash `process` computed (picks the ECMP member).
    pub hash: u32,
    pub egress: Egress,
    /// (chosen member index, members) when the route is ECMP.
    pub ecmp: Option<(usize, usize)>,
    /// The neighbour entry of the egress next hop, as workers see it.
    pub neighbour: Option<NeighHit>,
    /// How long ago the neighbour was last confirmed reachable (an ARP
    /// reply), if ever.
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

/// A host address on `port`'s first subnet that is not one of the
/// router's (the synthetic packet's default source).
fn host_on(fwd: &Forwarder, port: PortId) -> Option<Ipv4Addr> {
    let p = fwd.shared().ports.get(port as usize)?;
    p.addrs.iter().find_map(|n| {
        let net = u32::from(n.network());
        let hosts = if n.prefix_len() >= 31 {
            0..=1u32.min(u32::MAX >> n.prefix_len())
        } else {
            1..=(u32::MAX >> n.prefix_len()) - 1
        };
        hosts.take(4).map(|i| Ipv4Addr::from(net | i)).find(|a| {
            !fwd.shared()
                .ports
                .iter()
                .any(|q| q.addrs.iter().any(|x| x.addr() == *a))
        })
    })
}

/// Builds the probe's frame as received on a port with MAC `port_mac`.
pub fn build_frame(probe: &Probe, src: Ipv4Addr, port_mac: MacAddr) -> Vec<u8> {
    let l4_len = match probe.protocol {
        protocol::TCP => 20,
        protocol::UDP | protocol::ICMP => 8,
        _ => 0,
    };
    let ip_len = probe.len.clamp(ipv4::MIN_HEADER_LEN + l4_len, 65535);
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
        dst: probe.dst,
        protocol: probe.protocol,
        ttl: probe.ttl,
        dscp_ecn: 0,
        ident: 0x5e01,
        dont_frag: probe.dont_frag,
        payload_len,
    }
    .emit(&mut f[ethernet::HEADER_LEN..]);
    let l4 = &mut f[ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN..];
    match probe.protocol {
        protocol::TCP => {
            l4[0..2].copy_from_slice(&probe.sport.to_be_bytes());
            l4[2..4].copy_from_slice(&probe.dport.to_be_bytes());
            l4[12] = 5 << 4;
            l4[13] = 0x02; // SYN
        }
        protocol::UDP => {
            l4[0..2].copy_from_slice(&probe.sport.to_be_bytes());
            l4[2..4].copy_from_slice(&probe.dport.to_be_bytes());
            l4[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
        }
        protocol::ICMP => {
            let data_len = payload_len - 8;
            let data = vec![0u8; data_len];
            let _ = Icmpv4Repr::EchoRequest {
                ident: 0x5e01,
                seq: 1,
                data: &data,
            }
            .emit(l4);
        }
        _ => {}
    }
    f
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
    let (mut fwd, monitor) = Forwarder::scratch(Arc::clone(shared), opts);
    let mut session = monitor
        .attach(u32::MAX)
        .expect("a scratch monitor has no other reader");
    let b = fwd.begin_batch(Instant::now());
    // The ingress port: given, else where packets from `src` would come
    // in (the route back to it), else the first port other than the one
    // the destination leaves by.
    let out_port = match fwd.route(&b, probe.dst, 0) {
        Egress::Out { port, .. } => Some(port),
        _ => None,
    };
    let in_port = probe
        .iif
        .or_else(|| match probe.src.map(|s| fwd.route(&b, s, 0)) {
            Some(Egress::Out { port, .. }) => Some(port),
            _ => None,
        })
        .or_else(|| {
            (0..shared.ports.len() as PortId)
                .find(|p| Some(*p) != out_port && host_on(&fwd, *p).is_some())
        })
        .unwrap_or(0);
    let src = probe
        .src
        .or_else(|| host_on(&fwd, in_port))
        .unwrap_or(Ipv4Addr::new(192, 0, 2, 1));
    let port_mac = fwd.port_mac(in_port).ok_or(ExplainError::NoPort(in_port))?;
    let mut frame = build_frame(probe, src, port_mac);
    let meta = FrameMeta {
        wire_len: frame.len() as u32,
        ..FrameMeta::default()
    };
    let hash = {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        fwd.packet_hash(&ip)
    };
    let egress = fwd.route(&b, probe.dst, hash);
    let (ecmp, neighbour, confirmed_ago) = match egress {
        Egress::Out { port, next_hop } => {
            let members = match b.next_hop_of(probe.dst) {
                Some(crate::rib::nexthop::NextHop::Multipath(m)) if m.len() > 1 => m
                    .iter()
                    .position(|&(p, g)| p == port && g == next_hop)
                    .map(|i| (i, m.len())),
                _ => None,
            };
            let confirmed_ago = shared
                .neigh
                .last_confirmed(port, next_hop)
                .map(|at| at.elapsed());
            (members, shared.neigh.lookup(port, next_hop), confirmed_ago)
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
            Punt::Resolve { port, next_hop } => Verdict::AwaitingNeighbour { port, next_hop },
            Punt::LocalTcp => Verdict::LocalTcp,
            Punt::HostUp { port } => Verdict::ToHost { port },
            // Workers never punt these for a probe (ARP is not probed; only
            // the host interface's reader makes FromHost).
            Punt::Arp | Punt::FromHost { .. } => Verdict::Nothing,
            // `route get` probes IPv4 only.
            Punt::Resolve6 { .. } | Punt::Ndp => Verdict::Nothing,
        }
    } else if let Some((port, f)) = sink.sent.first() {
        if egress == Egress::Local {
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
