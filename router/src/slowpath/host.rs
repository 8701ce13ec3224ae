//! The slow path's side of the host interfaces ([`crate::hostif`]).
//!
//! Up: a frame for one of a port's addresses that the router does not
//! consume goes into the port's TAP as received (its vnet header passes
//! GSO and partial checksums on), whichever port it came in by: addressed
//! to the TAP's MAC (the port's), from the router's MAC towards the kernel.
//!
//! Down, from the kernel:
//! * ARP requests are answered for every address but the kernel's own on
//!   that TAP (proxy ARP, RFC 1027), with the router's MAC: whatever the
//!   kernel routes out of the TAP — to its gateway or to a neighbour on the
//!   subnet — comes to the router. Nothing the kernel sends is ever put on
//!   a port as it is (no ARP, no broadcast, no IPv6), so nothing loops.
//! * IPv4 unicast to the router's MAC is routed through the FIB as a packet
//!   the router originates (the kernel's packets are the router's own, as
//!   the BGP stack's are: sourced from its addresses, not checked as
//!   martians, TTL not decremented). ICMP errors the kernel needs
//!   (destination unreachable, fragmentation needed for PMTU discovery)
//!   go back into the TAP; echo requests to the router's other addresses
//!   (loopbacks, ports without a host interface) are answered there too;
//!   anything else addressed to the router from the kernel is dropped
//!   (`local_unsupported`).
use std::net::{IpAddr, Ipv4Addr};

use super::{SlowCore, SlowPacket};
use crate::dataplane::counters::DropReason;
use crate::dataplane::forward::{complete_checksum, Batch, Egress, TxSink};
use crate::dataplane::icmp_out::{self, IcmpHeaders};
use crate::hostif::is_kernel_address;
use crate::neigh::Resolve;
use crate::ports::PortId;
use crate::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use crate::wire::ethernet::{self, ethertype, EthernetFrame, EthernetRepr, MacAddr};
use crate::wire::icmp::{msg, unreach, Icmpv4Packet};
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::vnet::VnetHdr;

/// What a frame from the kernel is, as far as the router cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FromKernel {
    Arp,
    /// An IPv4 packet to route, the frame's first `frame_len` bytes.
    Ipv4 {
        frame_len: usize,
    },
    Drop(DropReason),
}

/// Classifies a frame the kernel sent into a host interface whose router
/// side has MAC `router_mac`.
pub(super) fn classify(frame: &[u8], router_mac: MacAddr) -> FromKernel {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return FromKernel::Drop(DropReason::BadHeader);
    };
    match eth.ethertype() {
        ethertype::ARP => return FromKernel::Arp,
        ethertype::IPV4 => {}
        // IPv6 (off on the TAP, but it may have been turned back on), LLDP…
        _ => return FromKernel::Drop(DropReason::NotForUs),
    }
    if eth.dst() != router_mac {
        // Broadcasts and multicasts (DHCP, mDNS…) are the kernel's business
        // on its own link only: never forwarded.
        return FromKernel::Drop(DropReason::NotForUs);
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return FromKernel::Drop(DropReason::BadHeader);
    };
    if ip.version() != 4 || !ip.verify_checksum() {
        return FromKernel::Drop(DropReason::BadHeader);
    }
    let (src, dst) = (ip.src(), ip.dst());
    if is_martian(dst) || dst.is_multicast() || is_martian(src) || src.is_multicast() {
        return FromKernel::Drop(DropReason::Martian);
    }
    FromKernel::Ipv4 {
        frame_len: ethernet::HEADER_LEN + ip.total_len() as usize,
    }
}

/// 0/8, 127/8, 240/4 and 255.255.255.255 (RFC 1812 §5.3.7).
fn is_martian(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    first == 0 || first == 127 || first >= 240
}

/// The router's answer to an ARP packet the kernel sent on a host
/// interface whose kernel addresses are `kernel_addrs`: a reply with
/// `router_mac` to any request but one for the kernel's own address (or a
/// gratuitous one).
pub(super) fn proxy_arp_reply(
    arp: &ArpRepr,
    router_mac: MacAddr,
    kernel_addrs: &[ipnet::Ipv4Net],
) -> Option<ArpRepr> {
    if arp.op != ArpOp::Request
        || arp.tpa == arp.spa
        || arp.tpa.is_unspecified()
        || is_kernel_address(kernel_addrs, arp.tpa)
    {
        return None;
    }
    Some(ArpRepr {
        op: ArpOp::Reply,
        sha: router_mac,
        spa: arp.tpa,
        tha: arp.sha,
        tpa: arp.spa,
    })
}

impl SlowCore<'_> {
    /// Up: `p` goes into the host interface of `port`.
    pub(super) fn host_up<S: TxSink>(&mut self, mut p: SlowPacket, port: PortId, sink: &mut S) {
        let Some(router_mac) = self.shared.host(port).map(|h| h.router_mac) else {
            self.handoff.recycle(p);
            return;
        };
        let (len, meta) = (p.len, p.meta);
        let frame = &mut p.buf[..len];
        // With a vnet header the kernel completes what it says; without
        // one a partial checksum is completed here.
        let vnet = match meta.vnet {
            Some(v) => v,
            None => {
                if !complete_checksum(frame, &meta) {
                    self.count(p.in_port, DropReason::BadHeader);
                    self.handoff.recycle(p);
                    return;
                }
                VnetHdr::default()
            }
        };
        // It may have come in by another port (with that port's MAC): to
        // the kernel it arrives on this port's TAP, from the router.
        let Some(tap_mac) = self.fwd.port_mac(port) else {
            self.handoff.recycle(p);
            return;
        };
        frame[0..6].copy_from_slice(&tap_mac);
        frame[6..12].copy_from_slice(&router_mac);
        if !sink.send_host(port, &vnet, frame) {
            self.count(p.in_port, DropReason::QueueFull);
        }
        self.handoff.recycle(p);
    }

    /// Down: `p` came from the kernel on the host interface of `port`.
    pub(super) fn host_down<S: TxSink>(
        &mut self,
        b: &Batch,
        p: SlowPacket,
        port: PortId,
        sink: &mut S,
    ) {
        let Some(router_mac) = self.shared.host(port).map(|h| h.router_mac) else {
            self.handoff.recycle(p);
            return;
        };
        match classify(p.frame(), router_mac) {
            FromKernel::Drop(r) => {
                self.count(port, r);
                self.handoff.recycle(p);
            }
            FromKernel::Arp => {
                self.host_arp(&p, port, router_mac, sink);
                self.handoff.recycle(p);
            }
            FromKernel::Ipv4 { frame_len } => {
                self.host_ipv4(b, p, port, router_mac, frame_len, sink)
            }
        }
    }

    fn host_arp<S: TxSink>(
        &mut self,
        p: &SlowPacket,
        port: PortId,
        router_mac: MacAddr,
        sink: &mut S,
    ) {
        let eth = EthernetFrame::new_unchecked(p.frame());
        let Ok(arp) = ArpPacket::new_checked(eth.payload()).and_then(|a| ArpRepr::parse(&a)) else {
            self.count(port, DropReason::BadHeader);
            return;
        };
        let Some(kernel_addrs) = self
            .shared
            .ports
            .get(port as usize)
            .map(|i| i.addrs.as_slice())
        else {
            return;
        };
        let Some(reply) = proxy_arp_reply(&arp, router_mac, kernel_addrs) else {
            return;
        };
        let mut buf = [0u8; ethernet::HEADER_LEN + 28];
        let eth = EthernetRepr {
            dst: arp.sha,
            src: router_mac,
            ethertype: ethertype::ARP,
        };
        let len = ethernet::HEADER_LEN + reply.buffer_len();
        let Some(out) = buf.get_mut(..len) else {
            return;
        };
        if eth.emit(out).is_err() || reply.emit(&mut out[ethernet::HEADER_LEN..]).is_err() {
            return;
        }
        if !sink.send_host(port, &VnetHdr::default(), out) {
            self.count(port, DropReason::QueueFull);
        }
    }

    fn host_ipv4<S: TxSink>(
        &mut self,
        b: &Batch,
        mut p: SlowPacket,
        port: PortId,
        router_mac: MacAddr,
        frame_len: usize,
        sink: &mut S,
    ) {
        p.len = frame_len;
        let meta = p.meta;
        if !complete_checksum(&mut p.buf[..frame_len], &meta)
            || meta.vnet.is_some_and(|v| v.is_gso())
        {
            // No TUNSETOFFLOAD: the kernel sends neither.
            self.count(port, DropReason::BadHeader);
            self.handoff.recycle(p);
            return;
        }
        let ip = Ipv4Packet::new_unchecked(&p.buf[ethernet::HEADER_LEN..frame_len]);
        let dst = ip.dst();
        if self.fwd.is_subnet_broadcast(dst) {
            self.count(port, DropReason::NotForUs);
            self.handoff.recycle(p);
            return;
        }
        let hash = self.fwd.packet_hash(&ip);
        match self.fwd.route(b, dst, hash) {
            Egress::Local => {
                self.host_local(&p, port, router_mac, sink);
                self.handoff.recycle(p);
            }
            Egress::Blackhole => {
                self.count(port, DropReason::NoRoute);
                self.handoff.recycle(p);
            }
            Egress::Unreachable(code) => {
                self.count(port, DropReason::NoRoute);
                self.host_icmp_error(&p, port, router_mac, None, code, 0, sink);
                self.handoff.recycle(p);
            }
            Egress::Out {
                port: out_port,
                next_hop,
            } => self.host_out(b, p, port, router_mac, out_port, IpAddr::V4(next_hop), sink),
            // RFC 8950: an IPv4 route via an IPv6 neighbour.
            Egress::Out6 {
                port: out_port,
                next_hop,
            } => self.host_out(b, p, port, router_mac, out_port, IpAddr::V6(next_hop), sink),
        }
    }

    /// The kernel's packet `p` routed out `out_port` towards `next_hop`:
    /// refused with Fragmentation Needed when it exceeds the port's MTU,
    /// else sent once the neighbour (ARP, or NDP for an IPv6 next hop) is
    /// known.
    #[allow(clippy::too_many_arguments)]
    fn host_out<S: TxSink>(
        &mut self,
        b: &Batch,
        mut p: SlowPacket,
        port: PortId,
        router_mac: MacAddr,
        out_port: PortId,
        next_hop: IpAddr,
        sink: &mut S,
    ) {
        let ip = Ipv4Packet::new_unchecked(&p.buf[ethernet::HEADER_LEN..p.len]);
        let (dst, ip_len, df) = (ip.dst(), ip.total_len() as usize, ip.dont_frag());
        let mtu = self.fwd.port_mtu(out_port).unwrap_or(0);
        if ip_len > mtu {
            // No fragmentation of the kernel's packets: it does PMTU
            // discovery (DF) and learns the MTU from this error.
            self.count(port, DropReason::Mtu);
            if df {
                // The source of the error is the out port's address
                // facing the IPv4 neighbour, or facing the destination.
                let toward = match next_hop {
                    IpAddr::V4(gw) => gw,
                    IpAddr::V6(_) => dst,
                };
                let src = self.fwd.source_address(out_port, toward);
                let m = u16::try_from(mtu).unwrap_or(u16::MAX);
                self.host_icmp_error(&p, port, router_mac, src, unreach::FRAG_NEEDED, m, sink);
            }
            self.handoff.recycle(p);
            return;
        }
        p.in_port = out_port;
        p.from_stack = true;
        p.meta = Default::default();
        // An IPv6 next hop (RFC 8950) is resolved by NDP.
        let resolved = match next_hop {
            IpAddr::V6(gw) => self
                .cache6
                .resolve(out_port, gw, p, b.now, &mut self.actions6),
            IpAddr::V4(gw) => self
                .cache
                .resolve(out_port, gw, p, b.now, &mut self.actions),
        };
        match resolved {
            Resolve::Send(mac, p) => self.transmit(b, p, out_port, mac, sink),
            Resolve::Queued => {}
            Resolve::Unreachable(p) => self.unreachable(b, p, sink),
        }
        self.run_actions(b, sink);
    }

    /// The kernel sent a packet to one of the router's addresses that it
    /// does not hold itself: echo requests are answered, the rest dropped.
    fn host_local<S: TxSink>(
        &mut self,
        p: &SlowPacket,
        port: PortId,
        router_mac: MacAddr,
        sink: &mut S,
    ) {
        let frame = p.frame();
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let echo = (ip.protocol() == protocol::ICMP && !ip.is_fragment())
            .then(|| Icmpv4Packet::new_checked(ip.payload()).ok())
            .flatten()
            .filter(|i| i.msg_type() == msg::ECHO_REQUEST && i.code() == 0 && i.verify_checksum());
        let (Some(icmp), Some(tap_mac)) = (echo, self.fwd.port_mac(port)) else {
            self.count(port, DropReason::LocalUnsupported);
            return;
        };
        let h = IcmpHeaders {
            src_mac: router_mac,
            dst_mac: tap_mac,
            src_ip: ip.dst(),
            dst_ip: ip.src(),
            ident: self.fwd.next_ident(),
        };
        let mut buf = vec![0u8; frame.len() + 64];
        let Some(len) = icmp_out::build_echo_reply(
            &mut buf,
            &h,
            ip.dscp_ecn(),
            icmp.echo_ident(),
            icmp.echo_seq(),
            icmp.data(),
        ) else {
            return;
        };
        if !sink.send_host(port, &VnetHdr::default(), &buf[..len]) {
            self.count(port, DropReason::QueueFull);
        }
    }

    /// ICMP destination unreachable (`code`, with `mtu` for
    /// fragmentation needed) about the kernel's packet in `p`, into its
    /// TAP; sourced from `src`, else from the port's address towards the
    /// kernel (which the TAP accepts: `accept_local`).
    #[allow(clippy::too_many_arguments)]
    fn host_icmp_error<S: TxSink>(
        &mut self,
        p: &SlowPacket,
        port: PortId,
        router_mac: MacAddr,
        src: Option<Ipv4Addr>,
        code: u8,
        mtu: u16,
        sink: &mut S,
    ) {
        let frame = p.frame();
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        if ip.frag_offset() != 0
            || (ip.protocol() == protocol::ICMP
                && !matches!(ip.payload().first(), Some(&t) if !crate::wire::icmp::is_error(t)))
        {
            return;
        }
        let (Some(src_ip), Some(tap_mac)) = (
            src.or_else(|| self.fwd.source_address(port, ip.src())),
            self.fwd.port_mac(port),
        ) else {
            return;
        };
        let h = IcmpHeaders {
            src_mac: router_mac,
            dst_mac: tap_mac,
            src_ip,
            dst_ip: ip.src(),
            ident: self.fwd.next_ident(),
        };
        let mut buf = [0u8; 1024];
        let Some(len) = icmp_out::build_error(
            &mut buf,
            &h,
            msg::DST_UNREACHABLE,
            code,
            mtu,
            &frame[ethernet::HEADER_LEN..],
        ) else {
            return;
        };
        if !sink.send_host(port, &VnetHdr::default(), &buf[..len]) {
            self.count(port, DropReason::QueueFull);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Repr;

    const ROUTER: MacAddr = [0x00, 0, 0, 0, 0, 0x01];
    const TAP: MacAddr = [0x02, 0, 0, 0, 0, 0x01];

    fn ipv4_frame(dst_mac: MacAddr, src: &str, dst: &str) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        EthernetRepr {
            dst: dst_mac,
            src: TAP,
            ethertype: ethertype::IPV4,
        }
        .emit(&mut f)
        .unwrap();
        Ipv4Repr {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: protocol::UDP,
            ttl: 64,
            dscp_ecn: 0,
            ident: 7,
            dont_frag: true,
            payload_len: 8,
        }
        .emit(&mut f[14..])
        .unwrap();
        f
    }

    #[test]
    fn only_unicast_ipv4_to_the_router_is_routed() {
        let f = ipv4_frame(ROUTER, "10.0.2.15", "172.20.2.249");
        assert_eq!(classify(&f, ROUTER), FromKernel::Ipv4 { frame_len: 42 });
        // Sourced from our own address: fine from the kernel (not a martian).
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(
            classify(&padded, ROUTER),
            FromKernel::Ipv4 { frame_len: 42 }
        );
        // Broadcast frames (DHCP, ARP-less broadcasts) never leave the TAP.
        let b = ipv4_frame(ethernet::BROADCAST, "10.0.2.15", "255.255.255.255");
        assert_eq!(classify(&b, ROUTER), FromKernel::Drop(DropReason::NotForUs));
        let m = ipv4_frame(ROUTER, "10.0.2.15", "224.0.0.251");
        assert_eq!(classify(&m, ROUTER), FromKernel::Drop(DropReason::Martian));
        let l = ipv4_frame(ROUTER, "127.0.0.1", "172.20.2.249");
        assert_eq!(classify(&l, ROUTER), FromKernel::Drop(DropReason::Martian));
        let mut bad = f.clone();
        bad[14 + 10] ^= 0xff;
        assert_eq!(
            classify(&bad, ROUTER),
            FromKernel::Drop(DropReason::BadHeader)
        );
        let mut v6 = f;
        v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        assert_eq!(
            classify(&v6, ROUTER),
            FromKernel::Drop(DropReason::NotForUs)
        );
        assert_eq!(
            classify(&[0u8; 10], ROUTER),
            FromKernel::Drop(DropReason::BadHeader)
        );
    }

    // -- The whole path: the two-port router of the forwarding tests, port
    // 0 (eth1, 192.168.10.200, MAC0) with a host interface.

    use std::sync::Arc;
    use std::time::Instant;

    use crate::dataplane::forward::tests::{
        ip_frame, parse_icmp, shared_with_hosts, udp, MockSink, HOST_B, MAC0, MAC1,
    };
    use crate::dataplane::forward::{Forwarder, FrameMeta, FwdOptions, Punt};
    use crate::hostif::router_mac;
    use crate::neigh::NeighOptions;
    use crate::shared::{HostPort, Shared};
    use crate::slowpath::{Handoff, HandoffOptions};

    /// A [`MockSink`] that also records what goes into a host interface.
    #[derive(Default)]
    struct HostSink {
        inner: MockSink,
        host: Vec<(PortId, VnetHdr, Vec<u8>)>,
    }

    impl TxSink for HostSink {
        fn frame_capacity(&self, port: PortId) -> usize {
            self.inner.frame_capacity(port)
        }
        fn send(
            &mut self,
            port: PortId,
            fill: impl FnOnce(&mut [u8]) -> (usize, Option<VnetHdr>),
        ) -> bool {
            self.inner.send(port, fill)
        }
        fn punt(&mut self, why: Punt, in_port: PortId, frame: &[u8], meta: &FrameMeta) -> bool {
            self.inner.punt(why, in_port, frame, meta)
        }
        fn send_host(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) -> bool {
            self.host.push((port, *vnet, frame.to_vec()));
            true
        }
    }

    fn shared(mtu1: u16) -> Arc<Shared> {
        let host = HostPort {
            name: "eth1-host".into(),
            router_mac: router_mac(MAC0),
        };
        shared_with_hosts(mtu1, vec![Some(host), None])
    }

    fn tcp_to(dst: &str, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        ip_frame("192.168.10.100", dst, 64, true, protocol::TCP, &t)
    }

    /// What a worker does with `frame` from port 0.
    fn worker(shared: &Arc<Shared>, mut frame: Vec<u8>) -> HostSink {
        let mut f = Forwarder::new(shared.clone(), 0, FwdOptions::default());
        let mut s = HostSink::default();
        let b = f.begin_batch(Instant::now());
        f.process(&b, 0, &mut frame, &FrameMeta::default(), &mut s);
        s
    }

    #[test]
    fn workers_hand_the_unconsumed_to_the_host_interface() {
        let sh = shared(1500);
        let up = |s: &HostSink| {
            s.inner.sent.is_empty()
                && matches!(
                    s.inner.punted.as_slice(),
                    [(Punt::HostUp { port: 0 }, 0, _)]
                )
        };
        // TCP/22 and UDP to the port's address: up, no RST, no ICMP.
        assert!(up(&worker(&sh, tcp_to("192.168.10.200", 22))));
        let dns = ip_frame(
            "192.168.10.100",
            "192.168.10.200",
            64,
            false,
            protocol::UDP,
            &udp(53, 40000, 8),
        );
        assert!(up(&worker(&sh, dns)));
        // BGP stays with the stack (it runs: the pipe is not detached).
        let s = worker(&sh, tcp_to("192.168.10.200", 179));
        assert!(matches!(
            s.inner.punted.as_slice(),
            [(Punt::LocalTcp, 0, _)]
        ));
        // Echo requests are answered by the router.
        let echo = ip_frame(
            "192.168.10.100",
            "192.168.10.200",
            64,
            false,
            protocol::ICMP,
            &[8, 0, 0xf7, 0xff, 0, 0, 0, 0],
        );
        let s = worker(&sh, echo);
        assert!(s.inner.punted.is_empty() && s.inner.sent.len() == 1);
        assert_eq!(parse_icmp(&s.inner.sent[0].frame).1, msg::ECHO_REPLY);
        // The port without a host interface answers as before.
        let udp2 = ip_frame(
            "192.168.10.100",
            "192.168.20.200",
            64,
            false,
            protocol::UDP,
            &udp(1, 2, 8),
        );
        let s = worker(&sh, udp2);
        assert!(s.inner.punted.is_empty() && s.inner.sent.len() == 1);
        assert_eq!(parse_icmp(&s.inner.sent[0].frame).2, unreach::PORT);
    }

    /// Runs the slow path over `frames` (why, in_port, frame).
    fn slow(sh: &Arc<Shared>, frames: &[(Punt, PortId, Vec<u8>)]) -> HostSink {
        let h = Arc::new(Handoff::new(HandoffOptions::default()));
        let fwd = Forwarder::new(sh.clone(), sh.control_thread(), FwdOptions::default());
        let mut c = SlowCore::new(
            sh.clone(),
            fwd,
            NeighOptions::default(),
            sh.neigh.writer().unwrap(),
            sh.neigh6.writer().unwrap(),
            h.clone(),
        );
        let mut s = HostSink::default();
        for (why, port, f) in frames {
            assert!(h.push(*why, *port, f, &FrameMeta::default()));
            c.round(&mut s);
        }
        s
    }

    /// `frame` as the kernel sends it into eth1-host: from the TAP (MAC0)
    /// to the router's MAC.
    fn from_kernel(mut frame: Vec<u8>) -> (Punt, PortId, Vec<u8>) {
        frame[0..6].copy_from_slice(&router_mac(MAC0));
        frame[6..12].copy_from_slice(&MAC0);
        (Punt::FromHost { port: 0 }, 0, frame)
    }

    #[test]
    fn up_goes_to_the_taps_mac_whatever_port_it_came_by() {
        let sh = shared(1500);
        let mut f = tcp_to("192.168.10.200", 22);
        f[0..6].copy_from_slice(&MAC1); // came in by port 1
        let s = slow(&sh, &[(Punt::HostUp { port: 0 }, 1, f.clone())]);
        let [(port, _, got)] = s.host.as_slice() else {
            panic!("{:?}", s.host.len())
        };
        assert_eq!(*port, 0);
        assert_eq!(got[0..6], MAC0);
        assert_eq!(got[6..12], router_mac(MAC0));
        assert_eq!(got[12..], f[12..]);
        assert!(s.inner.sent.is_empty());
    }

    #[test]
    fn down_the_kernels_packets_are_routed_as_the_routers_own() {
        let sh = shared(1400);
        // Its ARP for a neighbour: the router answers with its MAC.
        let mut arp = vec![0u8; 42];
        EthernetRepr {
            dst: ethernet::BROADCAST,
            src: MAC0,
            ethertype: ethertype::ARP,
        }
        .emit(&mut arp)
        .unwrap();
        ArpRepr {
            op: ArpOp::Request,
            sha: MAC0,
            spa: "192.168.10.200".parse().unwrap(),
            tha: [0; 6],
            tpa: "192.168.10.100".parse().unwrap(),
        }
        .emit(&mut arp[14..])
        .unwrap();
        let s = slow(&sh, &[(Punt::FromHost { port: 0 }, 0, arp)]);
        let [(0, _, reply)] = s.host.as_slice() else {
            panic!("no ARP reply")
        };
        let r = ArpRepr::parse(&ArpPacket::new_checked(&reply[14..]).unwrap()).unwrap();
        assert_eq!((r.op, r.sha, r.tha), (ArpOp::Reply, router_mac(MAC0), MAC0));
        assert!(s.inner.sent.is_empty(), "nothing of it on the wire");

        // Sourced from the router's own address, out by port 1, TTL kept.
        let pkt = ip_frame(
            "192.168.10.200",
            "192.168.20.100",
            64,
            true,
            protocol::UDP,
            &udp(40000, 53, 8),
        );
        // The slow path's neighbour cache starts empty: it asks for
        // 192.168.20.100 and sends the packet once HOST_B answers.
        let mut answer = vec![0u8; 42];
        EthernetRepr {
            dst: MAC1,
            src: HOST_B,
            ethertype: ethertype::ARP,
        }
        .emit(&mut answer)
        .unwrap();
        ArpRepr {
            op: ArpOp::Reply,
            sha: HOST_B,
            spa: "192.168.20.100".parse().unwrap(),
            tha: MAC1,
            tpa: "192.168.20.200".parse().unwrap(),
        }
        .emit(&mut answer[14..])
        .unwrap();
        let s = slow(&sh, &[from_kernel(pkt), (Punt::Arp, 1, answer)]);
        let [solicit, sent] = s.inner.sent.as_slice() else {
            panic!("not forwarded: {} frames", s.inner.sent.len())
        };
        assert_eq!(
            (solicit.port, &solicit.frame[12..14]),
            (1, &[0x08, 0x06][..])
        );
        assert_eq!(
            (sent.port, &sent.frame[0..6], &sent.frame[6..12]),
            (1, &HOST_B[..], &MAC1[..])
        );
        let ip = Ipv4Packet::new_checked(&sent.frame[14..]).unwrap();
        assert_eq!(
            (ip.ttl(), ip.src().to_string()),
            (64, "192.168.10.200".to_string())
        );

        // Too big for port 1 (MTU 1400) with DF: fragmentation needed, to the kernel.
        let big = ip_frame(
            "192.168.10.200",
            "192.168.20.100",
            64,
            true,
            protocol::UDP,
            &udp(40000, 53, 1472),
        );
        let s = slow(&sh, &[from_kernel(big)]);
        let [(0, _, err)] = s.host.as_slice() else {
            panic!("no ICMP to the kernel")
        };
        let (ip, t, c) = parse_icmp(err);
        assert_eq!(
            (t, c, ip.dst().to_string()),
            (
                msg::DST_UNREACHABLE,
                unreach::FRAG_NEEDED,
                "192.168.10.200".to_string()
            )
        );
        assert_eq!(&err[0..6], &MAC0[..]);
        assert!(s.inner.sent.is_empty());

        // An echo request to the router's loopback address: answered to the kernel.
        let echo = ip_frame(
            "192.168.10.200",
            "10.10.1.200",
            64,
            false,
            protocol::ICMP,
            &[8, 0, 0xf7, 0xff, 0, 0, 0, 0],
        );
        let s = slow(&sh, &[from_kernel(echo)]);
        let [(0, _, rep)] = s.host.as_slice() else {
            panic!("no echo reply")
        };
        let (ip, t, _) = parse_icmp(rep);
        assert_eq!(
            (t, ip.src().to_string()),
            (msg::ECHO_REPLY, "10.10.1.200".to_string())
        );

        // A broadcast from the kernel stays on the TAP.
        let mut bc = ip_frame(
            "192.168.10.200",
            "255.255.255.255",
            64,
            false,
            protocol::UDP,
            &udp(68, 67, 8),
        );
        bc[0..6].copy_from_slice(&ethernet::BROADCAST);
        let s = slow(&sh, &[(Punt::FromHost { port: 0 }, 0, bc)]);
        assert!(s.inner.sent.is_empty() && s.host.is_empty());
    }

    #[test]
    fn proxy_arp_answers_all_but_the_kernels_own() {
        let own: Vec<ipnet::Ipv4Net> = vec!["10.0.2.15/24".parse().unwrap()];
        let req = |tpa: &str| ArpRepr {
            op: ArpOp::Request,
            sha: TAP,
            spa: "10.0.2.15".parse().unwrap(),
            tha: [0; 6],
            tpa: tpa.parse().unwrap(),
        };
        let r = proxy_arp_reply(&req("10.0.2.2"), ROUTER, &own).expect("the gateway");
        assert_eq!((r.op, r.sha, r.tha), (ArpOp::Reply, ROUTER, TAP));
        assert_eq!(
            (r.spa.to_string(), r.tpa.to_string()),
            ("10.0.2.2".into(), "10.0.2.15".into())
        );
        // Off-subnet and on-subnet alike: every frame comes to the router.
        assert!(proxy_arp_reply(&req("172.20.2.249"), ROUTER, &own).is_some());
        assert!(
            proxy_arp_reply(&req("10.0.2.15"), ROUTER, &own).is_none(),
            "its own"
        );
        let mut grat = req("10.0.2.15");
        grat.spa = grat.tpa;
        assert!(proxy_arp_reply(&grat, ROUTER, &own).is_none());
        let mut reply = req("10.0.2.2");
        reply.op = ArpOp::Reply;
        assert!(proxy_arp_reply(&reply, ROUTER, &own).is_none());
    }
}
