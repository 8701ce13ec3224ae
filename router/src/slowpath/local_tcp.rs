//! TCP for the router's own addresses. Segments from the wire go to the
//! local stack (smoltcp, used by BGP) over a [`LocalTcpPipe`]; the stack's
//! packets come back and are routed like any the router originates. When
//! no stack runs the slow path answers with a RST itself.
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use smoltcp::wire::{IpAddress, TcpPacket, TcpSeqNumber};

use super::{SlowCore, SlowPacket};
use crate::dataplane::counters::DropReason;
use crate::dataplane::forward::{
    complete_checksum, Batch, Egress, Egress6, FrameMeta, Punt, TxSink,
};
use crate::neigh::Resolve;
use crate::wire::ethernet::{self, ethertype, EthernetFrame, EthernetRepr, MacAddr};
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Packet};

/// IPv4 and IPv6 packets (no Ethernet header) between the slow path and the
/// router's own TCP stack (smoltcp, used by BGP). Slow path only: a `Vec` per
/// packet is acceptable here, never on the forwarding path.
pub struct LocalTcpPipe {
    /// Slow path -> stack: TCP segments addressed to one of our addresses.
    pub to_stack_tx: Sender<Vec<u8>>,
    pub to_stack_rx: Receiver<Vec<u8>>,
    /// Stack -> slow path: packets the stack wants routed and sent.
    pub from_stack_tx: Sender<Vec<u8>>,
    pub from_stack_rx: Receiver<Vec<u8>>,
    /// Set when no local TCP stack runs (e.g. no `[bgp]` section): the slow
    /// path then answers TCP to our addresses with a RST (RFC 793) instead
    /// of queueing it. While false, segments the stack cannot take (channel
    /// full) are dropped and counted as `queue_full` (TCP retransmits).
    pub detached: AtomicBool,
}

impl LocalTcpPipe {
    pub fn new(depth: usize) -> Self {
        let (a, b) = bounded(depth);
        let (c, d) = bounded(depth);
        LocalTcpPipe {
            to_stack_tx: a,
            to_stack_rx: b,
            from_stack_tx: c,
            from_stack_rx: d,
            detached: AtomicBool::new(false),
        }
    }
}

impl SlowCore<'_> {
    pub(super) fn local_tcp<S: TxSink>(&mut self, b: &Batch, mut p: SlowPacket, sink: &mut S) {
        let port = p.in_port;
        let meta = p.meta;
        let len = p.len;
        if !complete_checksum(&mut p.buf[..len], &meta) {
            self.count(port, DropReason::BadHeader);
            self.handoff.recycle(p);
            return;
        }
        let is_v6 = p.buf.get(12..14) == Some(&ethertype::IPV6.to_be_bytes()[..]);
        let ip_bytes = if is_v6 {
            let Some(Ok(ip)) = p
                .buf
                .get(ethernet::HEADER_LEN..len)
                .map(Ipv6Packet::new_checked)
            else {
                self.count(port, DropReason::BadHeader);
                self.handoff.recycle(p);
                return;
            };
            // RFC 1122 §4.2.2.7 as for IPv4, over the IPv6 pseudo-header
            // (RFC 8200 §8.1). The forwarder hands over only segments with
            // TCP right after the fixed header.
            let (src, dst) = (IpAddress::Ipv6(ip.src()), IpAddress::Ipv6(ip.dst()));
            let good = ip.next_header() == ipv6::next_header::TCP
                && TcpPacket::new_checked(ip.payload())
                    .is_ok_and(|t| t.verify_checksum(&src, &dst));
            if !good {
                self.count(port, DropReason::BadHeader);
                self.handoff.recycle(p);
                return;
            }
            ethernet::HEADER_LEN..ethernet::HEADER_LEN + ip.total_len()
        } else {
            // Workers hand over validated frames only; checked again here
            // because a short frame must not panic the slow path (found by
            // the slowpath fuzz target).
            let Some(Ok(ip)) = p
                .buf
                .get(ethernet::HEADER_LEN..len)
                .map(Ipv4Packet::new_checked)
            else {
                self.count(port, DropReason::BadHeader);
                self.handoff.recycle(p);
                return;
            };
            // RFC 1122 §4.2.2.7: "a TCP MUST ... discard segments with bad
            // checksums". The stack is told not to (device.rs: `Checksum::Tx`)
            // because the check is made here, once, on every segment after
            // its partial checksum was completed above, and counted. A
            // fragment is left to the stack, which drops it (no reassembly).
            if !ip.is_fragment() {
                let (src, dst) = (IpAddress::Ipv4(ip.src()), IpAddress::Ipv4(ip.dst()));
                let good = TcpPacket::new_checked(ip.payload())
                    .is_ok_and(|t| t.verify_checksum(&src, &dst));
                if !good {
                    self.count(port, DropReason::BadHeader);
                    self.handoff.recycle(p);
                    return;
                }
            }
            ethernet::HEADER_LEN..ethernet::HEADER_LEN + ip.total_len() as usize
        };
        let pipe = &self.shared.local_tcp;
        if !pipe.detached.load(Ordering::Relaxed) {
            // The slow path may allocate: one Vec per segment for the stack.
            match pipe.to_stack_tx.try_send(p.buf[ip_bytes].to_vec()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.count(port, DropReason::QueueFull),
                Err(TrySendError::Disconnected(_)) if !is_v6 => self.send_rst(b, &p, sink),
                // No RST builder for IPv6: the peer times out instead.
                Err(TrySendError::Disconnected(_)) => {
                    self.count(port, DropReason::LocalUnsupported)
                }
            }
        } else if is_v6 {
            self.count(port, DropReason::LocalUnsupported);
        } else {
            self.send_rst(b, &p, sink);
        }
        self.handoff.recycle(p);
    }

    fn send_rst<S: TxSink>(&mut self, b: &Batch, p: &SlowPacket, sink: &mut S) {
        let frame = p.frame();
        let Some(Ok(ip)) = frame
            .get(ethernet::HEADER_LEN..)
            .map(Ipv4Packet::new_checked)
        else {
            return;
        };
        let prev = EthernetFrame::new_unchecked(frame).src();
        let Some((port, dst_mac, _)) = self.fwd.reply_path(b, p.in_port, prev, ip.src()) else {
            return;
        };
        let Some(src_mac) = self.fwd.port_mac(port) else {
            return;
        };
        let ident = self.fwd.next_ident();
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = build_tcp_rst(buf, src_mac, dst_mac, ident, &frame[ethernet::HEADER_LEN..])
                .unwrap_or(0);
            (len, None)
        });
        if sent {
            self.count_tx(port, len);
        }
        self.count(p.in_port, DropReason::LocalUnsupported);
    }

    /// Routes one IPv6 packet from the local TCP stack: FIB6, then the
    /// neighbour by NDP, or by ARP for an IPv4-mapped next hop (a BGP route
    /// learned over IPv4).
    fn route_stack6<S: TxSink>(&mut self, b: &Batch, pkt: &[u8], sink: &mut S) {
        let Ok(ip) = Ipv6Packet::new_checked(pkt) else {
            return;
        };
        let hash = self.fwd.packet_hash6(&ip);
        let Egress6::Out { port, next_hop } = self.fwd.route6(b, ip.dst(), hash) else {
            tracing::debug!(dst = %ip.dst(), "local stack: no IPv6 route");
            return;
        };
        let ip_len = ip.total_len();
        if self.fwd.port_mtu(port).is_some_and(|m| ip_len > m) {
            self.count(port, DropReason::Mtu);
            return;
        }
        let mut buf = vec![0u8; ethernet::HEADER_LEN + ip_len].into_boxed_slice();
        buf[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
        buf[ethernet::HEADER_LEN..].copy_from_slice(&pkt[..ip_len]);
        let len = buf.len();
        let p = SlowPacket {
            buf,
            len,
            in_port: port,
            why: Punt::LocalTcp,
            meta: FrameMeta::default(),
            from_stack: true,
        };
        // As the forwarder does: a usable entry of the shared table is used
        // at once; anything else goes through the resolver.
        if let Some(n) = self
            .fwd
            .neighbour6(port, next_hop)
            .filter(|n| n.state.is_usable())
        {
            self.transmit(b, p, port, n.mac, sink);
            return;
        }
        let r = match ipv6::class::to_ipv4_mapped(&next_hop) {
            Some(v4) => self.cache.resolve(port, v4, p, b.now, &mut self.actions),
            None => self
                .cache6
                .resolve(port, next_hop, p, b.now, &mut self.actions6),
        };
        match r {
            Resolve::Send(mac, p) => self.transmit(b, p, port, mac, sink),
            Resolve::Queued => {}
            Resolve::Unreachable(p) => self.unreachable(b, p, sink),
        }
        self.run_actions(b, sink);
    }

    /// Routes one IPv4 or IPv6 packet from the local TCP stack.
    pub fn from_stack<S: TxSink>(&mut self, b: &Batch, pkt: &[u8], sink: &mut S) {
        if pkt.first().is_some_and(|v| v >> 4 == 6) {
            return self.route_stack6(b, pkt, sink);
        }
        let Ok(ip) = Ipv4Packet::new_checked(pkt) else {
            return;
        };
        let hash = self.fwd.packet_hash(&ip);
        let Egress::Out { port, next_hop } = self.fwd.route(b, ip.dst(), hash) else {
            tracing::debug!(dst = %ip.dst(), "local stack: no route");
            return;
        };
        let ip_len = ip.total_len() as usize;
        if self.fwd.port_mtu(port).is_some_and(|m| ip_len > m) {
            self.count(port, DropReason::Mtu);
            return;
        }
        let mut buf = vec![0u8; ethernet::HEADER_LEN + ip_len].into_boxed_slice();
        buf[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        buf[ethernet::HEADER_LEN..].copy_from_slice(&pkt[..ip_len]);
        let len = buf.len();
        let p = SlowPacket {
            buf,
            len,
            in_port: port,
            why: Punt::LocalTcp,
            meta: FrameMeta::default(),
            from_stack: true,
        };
        match self
            .cache
            .resolve(port, next_hop, p, b.now, &mut self.actions)
        {
            Resolve::Send(mac, p) => self.transmit(b, p, port, mac, sink),
            Resolve::Queued => {}
            Resolve::Unreachable(p) => self.unreachable(b, p, sink),
        }
        self.run_actions(b, sink);
    }
}

/// Builds an Ethernet frame with a TCP RST answering the segment in
/// `orig_ip` (RFC 793 §3.4 "Reset Generation", connection CLOSED): if the
/// segment has ACK, `<SEQ=SEG.ACK><CTL=RST>`, else
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Never answers a RST. Uses
/// smoltcp's TCP view (the stack BGP runs on already brings it).
pub fn build_tcp_rst(
    out: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    ident: u16,
    orig_ip: &[u8],
) -> Option<usize> {
    let ip = Ipv4Packet::new_checked(orig_ip).ok()?;
    if ip.protocol() != protocol::TCP || ip.is_fragment() {
        return None;
    }
    let seg = ip.payload();
    // Checks the data offset too: at least 20, at most the segment.
    let tcp = TcpPacket::new_checked(seg).ok()?;
    let doff = usize::from(tcp.header_len());
    if tcp.rst() {
        return None;
    }
    let (seq, ack, with_ack) = if tcp.ack() {
        (tcp.ack_number().0 as u32, 0, false)
    } else {
        let seg_len = (seg.len() - doff) as u32 + u32::from(tcp.syn()) + u32::from(tcp.fin());
        (0, (tcp.seq_number().0 as u32).wrapping_add(seg_len), true)
    };
    let total = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + 20;
    let out = out.get_mut(..total)?;
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(out)
    .ok()?;
    let (src, dst) = (ip.dst(), ip.src());
    Ipv4Repr {
        src,
        dst,
        protocol: protocol::TCP,
        ttl: 64,
        dscp_ecn: 0,
        ident,
        dont_frag: true,
        payload_len: 20,
    }
    .emit(&mut out[ethernet::HEADER_LEN..])
    .ok()?;
    let t = &mut out[ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN..];
    t.fill(0);
    let mut r = TcpPacket::new_unchecked(t);
    r.set_src_port(tcp.dst_port());
    r.set_dst_port(tcp.src_port());
    r.set_seq_number(TcpSeqNumber(seq as i32));
    r.set_ack_number(TcpSeqNumber(ack as i32));
    r.set_header_len(20);
    r.set_rst(true);
    r.set_ack(with_ack);
    r.set_window_len(0);
    r.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    Some(total)
}

#[cfg(test)]
mod tests {
    use smoltcp::wire::{IpAddress, TcpPacket};

    use super::*;
    use crate::dataplane::forward::tests::{MockSink, HOST_A, HOST_B, MAC0, MAC1};
    use crate::dataplane::forward::tests6::{frame6, v6};
    use crate::wire::icmpv6::msg;
    use crate::wire::ipv6::next_header;

    /// A BGP SYN from `src` to `dst`:179 in an Ethernet frame, checksum right.
    fn syn6(src: &str, dst: &str) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&179u16.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        let (s, d) = (IpAddress::Ipv6(v6(src)), IpAddress::Ipv6(v6(dst)));
        TcpPacket::new_unchecked(&mut t[..]).fill_checksum(&s, &d);
        frame6(MAC0, src, dst, 64, next_header::TCP, &t)
    }

    #[test]
    fn ipv6_tcp_to_us_goes_to_the_stack_after_its_checksum_is_checked() {
        rig6!(c, s, h, shared);
        let syn = syn6("fd00:10::100", "fd00:10::200");
        assert!(h.push(Punt::LocalTcp, 0, &syn, &FrameMeta::default()));
        c.round(&mut s);
        let got = shared.local_tcp.to_stack_rx.try_recv().unwrap();
        assert_eq!(got, syn[14..].to_vec());
        // RFC 1122 §4.2.2.7: a bad checksum never reaches the stack.
        let mut bad = syn.clone();
        bad[14 + 40 + 16] ^= 0x5a;
        assert!(h.push(Punt::LocalTcp, 0, &bad, &FrameMeta::default()));
        c.round(&mut s);
        assert!(shared.local_tcp.to_stack_rx.try_recv().is_err());
        assert_eq!(shared.counters.totals(0).drops["bad_header"], 1);
        assert!(s.sent.is_empty(), "no RST over IPv6");
    }

    #[test]
    fn ipv6_packets_of_the_stack_are_routed_and_resolved() {
        rig6!(c, s, h, shared);
        let _ = &h;
        let send = |c: &mut SlowCore<'_>, s: &mut MockSink, f: &[u8]| {
            shared
                .local_tcp
                .from_stack_tx
                .send(f[14..].to_vec())
                .unwrap();
            c.round(s);
        };
        // A neighbour known by NDP: out at once, unchanged but for the MACs.
        let pkt = syn6("fd00:10::200", "fd00:10::100");
        send(&mut c, &mut s, &pkt);
        assert_eq!(s.sent.len(), 1);
        let out = &s.sent[0];
        assert_eq!(out.port, 0);
        assert_eq!(&out.frame[0..6], &HOST_A);
        assert_eq!(&out.frame[6..12], &MAC0);
        assert_eq!(&out.frame[12..], &pkt[12..]);
        // Through a gateway on port 1.
        let pkt = syn6("fd00:20::200", "fd00:172:20:2::5");
        send(&mut c, &mut s, &pkt);
        assert_eq!((s.sent[1].port, &s.sent[1].frame[0..6]), (1, &HOST_B[..]));
        assert_eq!(&s.sent[1].frame[6..12], &MAC1);
        // An IPv4-mapped next hop (a route learned over IPv4): resolved by ARP.
        let pkt = syn6("fd00:10::200", "fd00:172:20:9::5");
        send(&mut c, &mut s, &pkt);
        assert_eq!((s.sent[2].port, &s.sent[2].frame[0..6]), (0, &HOST_A[..]));
        // An unknown neighbour: a Neighbor Solicitation first.
        let pkt = syn6("fd00:20::200", "fd00:20::77");
        send(&mut c, &mut s, &pkt);
        assert_eq!(s.sent.len(), 4);
        let ns = &s.sent[3].frame;
        assert_eq!(&ns[12..14], &ethertype::IPV6.to_be_bytes());
        assert_eq!(ns[14 + 6], next_header::ICMPV6);
        assert_eq!(ns[14 + 40], msg::NEIGHBOR_SOLICIT);
        // No route: dropped quietly.
        let pkt = syn6("fd00:10::200", "fd00:55::1");
        send(&mut c, &mut s, &pkt);
        assert_eq!(s.sent.len(), 4);
    }
}
