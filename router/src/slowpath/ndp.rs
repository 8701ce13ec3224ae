//! Neighbor Discovery (RFC 4861) on the slow path, as a router: answering
//! Neighbor Solicitations for our addresses (Router flag set), learning
//! from solicitations and advertisements into the same neighbour cache
//! machinery as ARP, the solicitations the state machine asks for, and at
//! start Duplicate Address Detection (RFC 4862 §5.4) followed by
//! unsolicited advertisements (§7.2.6), the counterpart of gratuitous ARP.
//!
//! Router Advertisements are never sent (RFC 4861 §6.2.1: off unless
//! configured; sending them is not supported), and received Router
//! Solicitations, Advertisements and Redirects are counted and ignored: a
//! router does not take its configuration from them.
//!
//! The bodies are parsed and built with smoltcp's `NdiscRepr` (the slow
//! path only; see [`crate::wire`]).
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, Icmpv6Packet as SmolIcmpv6, Icmpv6Repr, NdiscNeighborFlags, NdiscRepr,
    RawHardwareAddress,
};

use super::{SlowCore, SlowPacket};
use crate::dataplane::counters::DropReason;
use crate::dataplane::forward::TxSink;
use crate::neigh::ArpSeen;
use crate::ports::PortId;
use crate::wire::ethernet::{self, ethertype, EthernetFrame, EthernetRepr, MacAddr};
use crate::wire::ipv6::{self, class, next_header, Ipv6Packet};

/// RFC 4861 §6.1.1, §7.1.1, §7.1.2: every ND message arrives with hop
/// limit 255, which proves it was not forwarded from another link.
const ND_HOP_LIMIT: u8 = 255;
/// RFC 4862 §5.1: RetransTimer (1 s) times DupAddrDetectTransmits (1).
pub(super) const DAD_WAIT: Duration = Duration::from_secs(1);

fn raw_mac(mac: MacAddr) -> RawHardwareAddress {
    RawHardwareAddress::from(EthernetAddress(mac))
}

fn mac_of(raw: RawHardwareAddress) -> Option<MacAddr> {
    raw.as_bytes().try_into().ok()
}

/// An address whose Duplicate Address Detection is running.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tentative {
    pub(super) port: PortId,
    pub(super) addr: Ipv6Addr,
    pub(super) until: Instant,
}

impl SlowCore<'_> {
    /// RFC 4862 §5.4.2: a Neighbor Solicitation from :: for each of our
    /// IPv6 addresses; the unsolicited advertisements follow once
    /// [`DAD_WAIT`] has passed with no answer ([`SlowCore::tick`]).
    pub(super) fn start_dad<S: TxSink>(&mut self, now: Instant, sink: &mut S) {
        for port in 0..self.fwd.port_count() as PortId {
            let addrs: Vec<_> = self.fwd.port_addresses6(port).collect();
            for addr in addrs {
                let group = class::solicited_node(&addr);
                let ns = NdiscRepr::NeighborSolicit {
                    target_addr: addr,
                    lladdr: None,
                };
                self.send_ndisc(
                    port,
                    Ipv6Addr::UNSPECIFIED,
                    group,
                    class::multicast_mac(&group),
                    ns,
                    sink,
                );
                self.tentative.push(Tentative {
                    port,
                    addr,
                    until: now + DAD_WAIT,
                });
            }
        }
    }

    /// Ends the DAD of addresses whose wait is over: RFC 4861 §7.2.6
    /// unsolicited advertisements to all-nodes (Override set), so
    /// neighbours that cached another MAC for them learn ours.
    pub(super) fn finish_dad<S: TxSink>(&mut self, now: Instant, sink: &mut S) {
        if self.tentative.is_empty() {
            return;
        }
        let (done, waiting): (Vec<_>, Vec<_>) = self.tentative.iter().partition(|t| now >= t.until);
        self.tentative = waiting;
        for t in done {
            let Some(mac) = self.fwd.port_mac(t.port) else {
                continue;
            };
            let na = NdiscRepr::NeighborAdvert {
                flags: NdiscNeighborFlags::ROUTER | NdiscNeighborFlags::OVERRIDE,
                target_addr: t.addr,
                lladdr: Some(raw_mac(mac)),
            };
            self.send_ndisc(
                t.port,
                t.addr,
                class::ALL_NODES,
                class::multicast_mac(&class::ALL_NODES),
                na,
                sink,
            );
        }
    }

    /// The solicitation the neighbour state machine asks for: to the
    /// target's solicited-node group, or unicast to `unicast` when
    /// re-probing (RFC 4861 §7.2.2, §7.3.3).
    pub(super) fn send_ns<S: TxSink>(
        &mut self,
        port: PortId,
        target: Ipv6Addr,
        unicast: Option<MacAddr>,
        sink: &mut S,
    ) {
        let (Some(mac), Some(src)) = (
            self.fwd.port_mac(port),
            self.fwd.source_address6(port, &target),
        ) else {
            return;
        };
        let (dst, dst_mac) = match unicast {
            Some(m) => (target, m),
            None => {
                let g = class::solicited_node(&target);
                (g, class::multicast_mac(&g))
            }
        };
        let ns = NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(raw_mac(mac)),
        };
        self.send_ndisc(port, src, dst, dst_mac, ns, sink);
    }

    fn send_ndisc<S: TxSink>(
        &self,
        port: PortId,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        dst_mac: MacAddr,
        nd: NdiscRepr<'_>,
        sink: &mut S,
    ) {
        let Some(mac) = self.fwd.port_mac(port) else {
            return;
        };
        let repr = Icmpv6Repr::Ndisc(nd);
        let icmp_len = repr.buffer_len();
        let start = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
        let len = start + icmp_len;
        let sent = sink.send(port, |buf| {
            let Some(buf) = buf.get_mut(..len) else {
                return (0, None);
            };
            let eth = EthernetRepr {
                dst: dst_mac,
                src: mac,
                ethertype: ethertype::IPV6,
            };
            if eth.emit(buf).is_err()
                || ipv6::emit_header(
                    &mut buf[ethernet::HEADER_LEN..],
                    &src,
                    &dst,
                    next_header::ICMPV6,
                    icmp_len as u16,
                    ND_HOP_LIMIT,
                )
                .is_err()
            {
                return (0, None);
            }
            repr.emit(
                &src,
                &dst,
                &mut SmolIcmpv6::new_unchecked(&mut buf[start..]),
                &ChecksumCapabilities::default(),
            );
            (len, None)
        });
        if sent {
            self.count_tx(port, len);
        }
    }

    /// One ND message from a worker (to us or a group we listen to, its
    /// ICMPv6 checksum verified there).
    pub(super) fn handle_ndp<S: TxSink>(&mut self, now: Instant, p: &SlowPacket, sink: &mut S) {
        let port = p.in_port;
        let frame = p.frame();
        let bad = |core: &mut Self, reason| core.fwd.drop_packet(port, reason, frame, None);
        let Some(mac) = self.fwd.port_mac(port) else {
            return;
        };
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return bad(self, DropReason::BadHeader);
        };
        let Ok(ip) = Ipv6Packet::new_checked(eth.payload()) else {
            return bad(self, DropReason::BadHeader);
        };
        if ip.hop_limit() != ND_HOP_LIMIT {
            return bad(self, DropReason::BadHeader);
        }
        let (src, dst) = (ip.src(), ip.dst());
        let Some(off) = ip.upper_layer().and_then(|u| u.offset) else {
            return bad(self, DropReason::BadHeader);
        };
        let Some(Ok(pkt)) = ip.payload().get(off..).map(SmolIcmpv6::new_checked) else {
            return bad(self, DropReason::BadHeader);
        };
        // smoltcp's parser checks the code (0), the length and every
        // option's length (never 0), which §7.1.1/§7.1.2 ask for.
        let Ok(Icmpv6Repr::Ndisc(nd)) =
            Icmpv6Repr::parse(&src, &dst, &pkt, &ChecksumCapabilities::default())
        else {
            return bad(self, DropReason::BadHeader);
        };
        match nd {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                // §7.1.1: the target is never multicast; from :: the
                // destination is a solicited-node group and there is no
                // source link-layer address.
                if class::is_multicast(&target_addr)
                    || (src.is_unspecified()
                        && (lladdr.is_some() || class::solicited_node(&target_addr) != dst))
                {
                    return bad(self, DropReason::BadHeader);
                }
                if !self.fwd.is_port_address6(port, &target_addr) {
                    return bad(self, DropReason::NotForUs);
                }
                let flags = NdiscNeighborFlags::ROUTER | NdiscNeighborFlags::OVERRIDE;
                if src.is_unspecified() {
                    // Someone runs DAD for an address we hold: defend it
                    // (§7.2.4: to all-nodes, Solicited clear).
                    tracing::warn!(port, addr = %target_addr, "NDP: another node probes our address (DAD)");
                    let na = NdiscRepr::NeighborAdvert {
                        flags,
                        target_addr,
                        lladdr: Some(raw_mac(mac)),
                    };
                    let g = class::ALL_NODES;
                    self.send_ndisc(port, target_addr, g, class::multicast_mac(&g), na, sink);
                    return;
                }
                let their_mac = lladdr.and_then(mac_of);
                if let Some(m) = their_mac {
                    // §7.2.3: a solicitation with a source link-layer
                    // address creates or updates the sender's entry (STALE).
                    if m == mac || ethernet::is_multicast(&m) {
                        return bad(self, DropReason::NotForUs);
                    }
                    self.cache6
                        .learn(port, src, m, ArpSeen::RequestForUs, now, &mut self.actions6);
                }
                // §7.2.4: a solicited advertisement back to the sender.
                let na = NdiscRepr::NeighborAdvert {
                    flags: flags | NdiscNeighborFlags::SOLICITED,
                    target_addr,
                    lladdr: Some(raw_mac(mac)),
                };
                let to = their_mac.unwrap_or(eth.src());
                self.send_ndisc(port, target_addr, src, to, na, sink);
            }
            NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                // §7.1.2: the target is never multicast; to a multicast
                // destination the Solicited flag is clear.
                let solicited = flags.contains(NdiscNeighborFlags::SOLICITED);
                if class::is_multicast(&target_addr) || (class::is_multicast(&dst) && solicited) {
                    return bad(self, DropReason::BadHeader);
                }
                if self.fwd.is_port_address6(port, &target_addr) {
                    // RFC 4862 §5.4.4: another node uses our address.
                    tracing::error!(port, addr = %target_addr, mac = ?lladdr,
                        "NDP: duplicate address detected: another node advertises one of ours");
                    self.dad_conflicts += 1;
                    return;
                }
                // §7.2.5: without a target link-layer address there is
                // nothing to learn on Ethernet.
                let Some(m) = lladdr.and_then(mac_of) else {
                    return;
                };
                if m == mac || ethernet::is_multicast(&m) {
                    return bad(self, DropReason::NotForUs);
                }
                let seen = if solicited {
                    ArpSeen::Reply
                } else {
                    ArpSeen::Other
                };
                self.cache6
                    .learn(port, target_addr, m, seen, now, &mut self.actions6);
            }
            // Router Solicitations/Advertisements and Redirects: a router
            // takes no configuration from them (and sends no RAs).
            _ => bad(self, DropReason::LocalUnsupported),
        }
    }
}
