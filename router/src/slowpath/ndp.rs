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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::forward::tests::{MockSink, HOST_A, MAC0, MAC1};
    use crate::dataplane::forward::tests6::{frame6, icmp6, sent_icmp6, udp6, v6};
    use crate::dataplane::forward::{FrameMeta, Punt};
    use crate::neigh::NeighState;
    use crate::slowpath::Handoff;
    use crate::wire::icmpv6::msg;

    const PEER: MacAddr = [2, 0, 0, 0, 0, 0x77];

    /// NS/NA body: target, then one link-layer address option of `kind`
    /// (1 source, 2 target) when `mac` is given.
    fn nd_body(target: &str, kind: u8, mac: Option<MacAddr>) -> Vec<u8> {
        let mut b = v6(target).octets().to_vec();
        if let Some(m) = mac {
            b.extend([kind, 1]);
            b.extend(m);
        }
        b
    }

    fn ns_frame(src: &str, target: &str, hop: u8, from: Option<MacAddr>) -> Vec<u8> {
        let g = class::solicited_node(&v6(target)).to_string();
        let ns = icmp6(src, &g, msg::NEIGHBOR_SOLICIT, 0, &nd_body(target, 1, from));
        frame6(
            class::multicast_mac(&v6(&g)),
            src,
            &g,
            hop,
            next_header::ICMPV6,
            &ns,
        )
    }

    fn deliver(
        c: &mut SlowCore<'_>,
        h: &Handoff,
        s: &mut MockSink,
        why: Punt,
        port: PortId,
        f: &[u8],
    ) {
        assert!(h.push(why, port, f, &FrameMeta::default()));
        c.round(s);
    }

    #[test]
    fn answers_a_solicitation_with_router_solicited_override_and_learns() {
        rig6!(c, s, h, shared);
        let f = ns_frame("fd00:10::101", "fd00:10::200", 255, Some(PEER));
        deliver(&mut c, &h, &mut s, Punt::Ndp, 0, &f);
        assert_eq!(s.sent.len(), 1);
        let out = &s.sent[0].frame;
        assert_eq!(&out[0..6], &PEER);
        let (ip, t, _, word) = sent_icmp6(out);
        assert_eq!(t, msg::NEIGHBOR_ADVERT);
        assert_eq!(ip.hop_limit(), 255);
        assert_eq!(
            (ip.src(), ip.dst()),
            (v6("fd00:10::200"), v6("fd00:10::101"))
        );
        // R, S and O (RFC 4861 §4.4).
        assert_eq!(word >> 29, 0b111);
        assert_eq!(&ip.payload()[8..24], &v6("fd00:10::200").octets());
        assert_eq!(&ip.payload()[24..32], &[2, 1, 2, 0, 0, 0, 0, 0xa0]);
        assert_eq!(
            shared
                .neigh6
                .lookup(0, v6("fd00:10::101"))
                .map(|n| (n.mac, n.state)),
            Some((PEER, NeighState::Stale))
        );
        let _ = MAC0;
    }

    #[test]
    fn nd_with_a_forwarded_hop_limit_or_for_others_is_dropped() {
        rig6!(c, s, h, shared);
        deliver(
            &mut c,
            &h,
            &mut s,
            Punt::Ndp,
            0,
            &ns_frame("fd00:10::101", "fd00:10::200", 64, Some(PEER)),
        );
        deliver(
            &mut c,
            &h,
            &mut s,
            Punt::Ndp,
            0,
            &ns_frame("fd00:10::101", "fd00:10::999", 255, Some(PEER)),
        );
        // From :: (DAD) with a source link-layer option: malformed.
        deliver(
            &mut c,
            &h,
            &mut s,
            Punt::Ndp,
            0,
            &ns_frame("::", "fd00:10::200", 255, Some(PEER)),
        );
        assert!(s.sent.is_empty());
        let t = shared.counters.totals(0);
        assert_eq!((t.drops["bad_header"], t.drops["not_for_us"]), (2, 1));
    }

    #[test]
    fn defends_our_address_against_dad() {
        rig6!(c, s, h, shared);
        deliver(
            &mut c,
            &h,
            &mut s,
            Punt::Ndp,
            0,
            &ns_frame("::", "fd00:10::200", 255, None),
        );
        assert_eq!(s.sent.len(), 1);
        let (ip, t, _, word) = sent_icmp6(&s.sent[0].frame);
        assert_eq!((t, ip.dst()), (msg::NEIGHBOR_ADVERT, class::ALL_NODES));
        assert_eq!(word >> 29, 0b101, "R and O, not S");
        let _ = shared;
    }

    #[test]
    fn resolves_with_a_solicitation_and_flushes_on_the_advertisement() {
        rig6!(c, s, h, shared);
        let pkt = udp6("fd00:20::77", 64, 8);
        let why = Punt::Resolve6 {
            port: 1,
            next_hop: v6("fd00:20::77"),
        };
        deliver(&mut c, &h, &mut s, why, 0, &pkt);
        assert_eq!(s.sent.len(), 1);
        let ns = &s.sent[0];
        assert_eq!(
            (ns.port, &ns.frame[0..6]),
            (1, &[0x33, 0x33, 0xff, 0, 0, 0x77][..])
        );
        let (ip, t, _, _) = sent_icmp6(&ns.frame);
        assert_eq!(t, msg::NEIGHBOR_SOLICIT);
        assert_eq!(ip.src(), v6("fd00:20::200"));
        assert_eq!(&ip.payload()[24..32], &[1, 1, 2, 0, 0, 0, 0, 0xa1]);
        // The solicited answer, unicast to us.
        let na = icmp6(
            "fd00:20::77",
            "fd00:20::200",
            msg::NEIGHBOR_ADVERT,
            0x6000_0000,
            &nd_body("fd00:20::77", 2, Some(PEER)),
        );
        let mut f = frame6(
            MAC1,
            "fd00:20::77",
            "fd00:20::200",
            255,
            next_header::ICMPV6,
            &na,
        );
        f[6..12].copy_from_slice(&PEER);
        deliver(&mut c, &h, &mut s, Punt::Ndp, 1, &f);
        assert_eq!(s.sent.len(), 2);
        let out = &s.sent[1];
        assert_eq!((out.port, &out.frame[0..6]), (1, &PEER[..]));
        assert_eq!(
            Ipv6Packet::new_checked(&out.frame[14..])
                .unwrap()
                .hop_limit(),
            63
        );
        assert_eq!(
            shared.neigh6.lookup(1, v6("fd00:20::77")).map(|n| n.state),
            Some(NeighState::Reachable)
        );
    }

    #[test]
    fn failed_resolution_sends_address_unreachable() {
        rig6!(c, s, h, shared);
        let pkt = udp6("fd00:20::77", 64, 8);
        let why = Punt::Resolve6 {
            port: 1,
            next_hop: v6("fd00:20::77"),
        };
        assert!(h.push(why, 0, &pkt, &FrameMeta::default()));
        let t0 = Instant::now();
        let b = c.forwarder().begin_batch(t0);
        while let Some(p) = h.pop() {
            c.handle(&b, p, &mut s);
        }
        for ms in (0..=3000).step_by(100) {
            let mut b = c.forwarder().begin_batch(t0);
            b.now = t0 + Duration::from_millis(ms);
            c.tick(&b, &mut s);
        }
        let solicitations = s.sent.iter().filter(|o| o.port == 1).count();
        assert_eq!(solicitations, 3);
        let last = s.sent.last().unwrap();
        assert_eq!((last.port, &last.frame[0..6]), (0, &HOST_A[..]));
        let (ip, t, code, _) = sent_icmp6(&last.frame);
        assert_eq!((t, code), (msg::DST_UNREACHABLE, 3));
        assert_eq!(ip.src(), v6("fd00:10::200"));
        assert_eq!(shared.counters.totals(0).drops["neigh_unresolved"], 1);
    }

    #[test]
    fn dad_then_unsolicited_advertisements() {
        rig6!(c, s, h, shared);
        let t0 = Instant::now();
        c.start_dad(t0, &mut s);
        // Two addresses on each of two ports.
        assert_eq!(s.sent.len(), 4);
        let (ip, t, _, _) = sent_icmp6(&s.sent[0].frame);
        assert_eq!(
            (t, ip.src()),
            (msg::NEIGHBOR_SOLICIT, Ipv6Addr::UNSPECIFIED)
        );
        c.finish_dad(t0 + Duration::from_millis(500), &mut s);
        assert_eq!(s.sent.len(), 4, "not before the wait");
        c.finish_dad(t0 + DAD_WAIT, &mut s);
        assert_eq!(s.sent.len(), 8);
        let (ip, t, _, word) = sent_icmp6(&s.sent[4].frame);
        assert_eq!(
            (t, ip.dst(), word >> 29),
            (msg::NEIGHBOR_ADVERT, class::ALL_NODES, 0b101)
        );
        // Someone else advertising one of ours is a conflict, never learnt.
        let na = icmp6(
            "fe80::77",
            "ff02::1",
            msg::NEIGHBOR_ADVERT,
            0x2000_0000,
            &nd_body("fd00:10::200", 2, Some(PEER)),
        );
        let f = frame6(
            class::multicast_mac(&class::ALL_NODES),
            "fe80::77",
            "ff02::1",
            255,
            next_header::ICMPV6,
            &na,
        );
        deliver(&mut c, &h, &mut s, Punt::Ndp, 0, &f);
        assert_eq!(c.dad_conflicts, 1);
        assert!(shared.neigh6.lookup(0, v6("fd00:10::200")).is_none());
    }
}
