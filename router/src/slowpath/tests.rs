//! Slow-path tests: ARP answering and learning, resolution with queued
//! packets, failure → host unreachable, RST for TCP when no stack runs,
//! routing of the local stack's packets.
//!
//! Each test builds the two-port router of the forwarding tests
//! (`rig!`), feeds frames as the workers would (`Rig::deliver`) or as the
//! local stack would (`Rig::stack_sends`), and checks what was sent.
use smoltcp::wire::{IpAddress, TcpPacket};

use super::*;
use crate::dataplane::forward::tests::{
    a, ip_frame, parse_icmp, shared_with, udp, MockSink, HOST_A, MAC0, MAC1,
};
use crate::dataplane::forward::{FrameMeta, FwdOptions};
use crate::neigh::NeighState;
use crate::wire::arp::ArpPacket;
use crate::wire::ethernet::{ethertype, EthernetFrame, EthernetRepr};
use crate::wire::ipv4::{protocol, Ipv4Packet};

const PEER: MacAddr = [2, 0, 0, 0, 0, 0x77];
/// An address on port 1's subnet that nobody has resolved yet.
const UNRESOLVED: &str = "192.168.20.77";

fn handoff() -> Arc<Handoff> {
    Arc::new(Handoff::new(HandoffOptions {
        depth: 16,
        small_buffers: 16,
        small_size: 2048,
        large_buffers: 2,
        large_size: 65600,
    }))
}

fn arp_frame(
    op: ArpOp,
    eth_dst: MacAddr,
    sha: MacAddr,
    spa: &str,
    tha: MacAddr,
    tpa: &str,
) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    EthernetRepr {
        dst: eth_dst,
        src: sha,
        ethertype: ethertype::ARP,
    }
    .emit(&mut f)
    .unwrap();
    ArpRepr {
        op,
        sha,
        spa: a(spa),
        tha,
        tpa: a(tpa),
    }
    .emit(&mut f[14..])
    .unwrap();
    f
}

/// A broadcast ARP request from `sha`/`spa` for `tpa`.
fn arp_request(sha: MacAddr, spa: &str, tpa: &str) -> Vec<u8> {
    arp_frame(ArpOp::Request, ethernet::BROADCAST, sha, spa, [0; 6], tpa)
}

/// PEER's reply, on port 1, that it holds [`UNRESOLVED`].
fn peer_reply() -> Vec<u8> {
    arp_frame(ArpOp::Reply, MAC1, PEER, UNRESOLVED, MAC1, "192.168.20.200")
}

fn parse_arp(frame: &[u8]) -> (MacAddr, ArpRepr) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), ethertype::ARP);
    (
        eth.dst(),
        ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap(),
    )
}

/// A UDP packet from HOST_A (port 0) to [`UNRESOLVED`], and why a worker
/// hands it over.
fn udp_to_unresolved() -> (Vec<u8>, Punt) {
    let frame = ip_frame(
        "192.168.10.100",
        UNRESOLVED,
        64,
        false,
        protocol::UDP,
        &udp(1, 2, 8),
    );
    let why = Punt::Resolve {
        port: 1,
        next_hop: a(UNRESOLVED),
    };
    (frame, why)
}

fn tcp_segment(flags: u8, seq: u32, ack: u32, data: usize) -> Vec<u8> {
    let mut t = vec![0u8; 20 + data];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&179u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t
}

/// An Ethernet frame with a TCP segment (DF set) from `src` to `dst`.
fn tcp_frame(src: &str, dst: &str, flags: u8, seq: u32, ack: u32, data: usize) -> Vec<u8> {
    let mut f = ip_frame(
        src,
        dst,
        64,
        true,
        protocol::TCP,
        &tcp_segment(flags, seq, ack, data),
    );
    let (s, d) = (
        smoltcp::wire::IpAddress::Ipv4(a(src)),
        smoltcp::wire::IpAddress::Ipv4(a(dst)),
    );
    TcpPacket::new_unchecked(&mut f[34..]).fill_checksum(&s, &d);
    f
}

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const SYN_ACK: u8 = SYN | ACK;

/// A slow path over the forwarding tests' two-port router, its hand-off
/// queue and a mock sink.
struct Rig<'a> {
    shared: Arc<Shared>,
    h: Arc<Handoff>,
    c: SlowCore<'a>,
    s: MockSink,
}

/// `rig!(r)`: a [`Rig`] named `r` (a macro because the core borrows the
/// neighbour table's writer from `shared`, which must outlive it).
macro_rules! rig {
    ($r:ident) => {
        let shared = shared_with(1500);
        let h = handoff();
        let fwd = Forwarder::new(
            shared.clone(),
            shared.control_thread(),
            FwdOptions::default(),
        );
        let c = SlowCore::new(
            shared.clone(),
            fwd,
            NeighOptions::default(),
            shared.neigh.writer().unwrap(),
            shared.neigh6.writer().unwrap(),
            h.clone(),
        );
        #[allow(unused_mut)]
        let mut $r = Rig {
            shared: shared.clone(),
            h,
            c,
            s: MockSink::default(),
        };
    };
}

impl Rig<'_> {
    /// Queues `frame` as a worker would, without running the slow path.
    fn punt(&self, why: Punt, port: PortId, frame: &[u8]) {
        assert!(self.h.push(why, port, frame, &FrameMeta::default()));
    }
    /// Queues `frame` as a worker would and runs one round.
    fn deliver(&mut self, why: Punt, port: PortId, frame: &[u8]) {
        self.punt(why, port, frame);
        self.c.round(&mut self.s);
    }
    /// Sends `frame`'s IPv4 packet as the local stack would, runs one round.
    fn stack_sends(&mut self, frame: &[u8]) {
        self.shared
            .local_tcp
            .from_stack_tx
            .send(frame[14..].to_vec())
            .unwrap();
        self.c.round(&mut self.s);
    }
    fn sent_frame(&self, i: usize) -> &[u8] {
        &self.s.sent[i].frame
    }
    fn state(&self, port: PortId, ip: &str) -> Option<NeighState> {
        self.shared.neigh.lookup(port, a(ip)).map(|n| n.state)
    }
}

/// The TCP segment of a frame the router sent, checksum verified.
fn sent_tcp(frame: &[u8]) -> (Ipv4Packet<&[u8]>, TcpPacket<&[u8]>) {
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    let l4 = &frame[14 + ip.header_len()..14 + ip.total_len() as usize];
    let tcp = TcpPacket::new_checked(l4).unwrap();
    let (src, dst) = (IpAddress::Ipv4(ip.src()), IpAddress::Ipv4(ip.dst()));
    assert!(tcp.verify_checksum(&src, &dst), "TCP checksum");
    (ip, tcp)
}

#[test]
fn answers_arp_for_our_address_and_learns() {
    rig!(r);
    let req = arp_request(HOST_A, "192.168.10.100", "192.168.10.200");
    r.deliver(Punt::Arp, 0, &req);
    assert_eq!(r.s.sent.len(), 1);
    assert_eq!(r.s.sent[0].port, 0);
    let (dst, reply) = parse_arp(r.sent_frame(0));
    assert_eq!(dst, HOST_A);
    assert_eq!(
        reply,
        ArpRepr {
            op: ArpOp::Reply,
            sha: MAC0,
            spa: a("192.168.10.200"),
            tha: HOST_A,
            tpa: a("192.168.10.100")
        }
    );
    assert_eq!(r.state(0, "192.168.10.100"), Some(NeighState::Stale));
    // Requests for other hosts: no answer; the address of the other port
    // is not answered on this one either.
    for tpa in ["192.168.10.1", "192.168.20.200"] {
        r.punt(Punt::Arp, 0, &arp_request(PEER, "192.168.10.7", tpa));
    }
    r.c.round(&mut r.s);
    let replies =
        r.s.sent
            .iter()
            .filter(|o| parse_arp(&o.frame).1.op == ArpOp::Reply)
            .count();
    assert_eq!(replies, 1);
    // (The lookup above used the STALE entry: a unicast re-probe went out.)
    let (dst, probe) = parse_arp(r.sent_frame(1));
    assert_eq!(
        (dst, probe.op, probe.tpa),
        (HOST_A, ArpOp::Request, a("192.168.10.100"))
    );
    assert!(
        r.state(0, "192.168.10.7").is_none(),
        "not learnt from requests for others"
    );
    assert_eq!(r.h.free_buffers().0, 16, "buffers returned");
}

#[test]
fn gratuitous_arp_at_start() {
    rig!(r);
    r.c.announce(&mut r.s);
    assert_eq!(r.s.sent.len(), 2);
    let (dst, g) = parse_arp(r.sent_frame(1));
    assert_eq!(dst, ethernet::BROADCAST);
    assert_eq!(
        (g.op, g.sha, g.spa, g.tpa),
        (
            ArpOp::Request,
            MAC1,
            a("192.168.20.200"),
            a("192.168.20.200")
        )
    );
}

#[test]
fn resolves_queues_and_flushes() {
    rig!(r);
    let (frame, why) = udp_to_unresolved();
    r.punt(why, 0, &frame);
    r.deliver(why, 0, &frame);
    // One broadcast request for two packets.
    assert_eq!(r.s.sent.len(), 1);
    let (dst, req) = parse_arp(r.sent_frame(0));
    assert_eq!(dst, ethernet::BROADCAST);
    assert_eq!(
        (req.op, req.sha, req.spa, req.tpa),
        (ArpOp::Request, MAC1, a("192.168.20.200"), a(UNRESOLVED))
    );
    r.deliver(why, 0, &frame);
    assert_eq!(r.s.sent.len(), 1, "at most one request per second");
    assert_eq!(r.h.free_buffers().0, 13, "three packets held");
    r.deliver(Punt::Arp, 1, &peer_reply());
    assert_eq!(r.s.sent.len(), 4);
    for out in &r.s.sent[1..] {
        assert_eq!(out.port, 1);
        assert_eq!(&out.frame[0..6], &PEER);
        let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }
    assert_eq!(r.state(1, UNRESOLVED), Some(NeighState::Reachable));
    assert_eq!(r.h.free_buffers().0, 16);
    assert_eq!(r.shared.counters.totals(1).tx_packets, 4);
}

#[test]
fn failed_resolution_sends_host_unreachable() {
    rig!(r);
    let (frame, why) = udp_to_unresolved();
    r.punt(why, 0, &frame);
    let t0 = Instant::now();
    let b = r.c.forwarder().begin_batch(t0);
    while let Some(p) = r.h.pop() {
        r.c.handle(&b, p, &mut r.s);
    }
    for ms in (0..=3000).step_by(100) {
        let mut b = r.c.forwarder().begin_batch(t0);
        b.now = t0 + Duration::from_millis(ms);
        r.c.tick(&b, &mut r.s);
    }
    let arps =
        r.s.sent
            .iter()
            .filter(|o| EthernetFrame::new_unchecked(&o.frame[..]).ethertype() == ethertype::ARP)
            .count();
    assert_eq!(arps, 3);
    let last = r.s.sent.last().unwrap();
    assert_eq!(last.port, 0);
    assert_eq!(&last.frame[0..6], &HOST_A);
    let (ip, t, code) = parse_icmp(&last.frame);
    assert_eq!((t, code), (msg::DST_UNREACHABLE, unreach::HOST));
    assert_eq!(ip.src(), a("192.168.10.200"));
    assert_eq!(r.shared.counters.totals(0).drops["neigh_unresolved"], 1);
    assert_eq!(r.h.free_buffers().0, 16);
}

/// RFC 1122 §4.2.2.7: a segment with a bad checksum never reaches the stack,
/// and is counted.
#[test]
fn tcp_with_a_bad_checksum_is_dropped_before_the_stack() {
    rig!(r);
    let mut syn = tcp_frame("192.168.10.100", "192.168.10.200", SYN, 1000, 0, 0);
    syn[14 + 20 + 16] ^= 0x5a;
    r.deliver(Punt::LocalTcp, 0, &syn);
    assert!(r.shared.local_tcp.to_stack_rx.try_recv().is_err());
    assert!(r.s.sent.is_empty(), "no RST for a segment that is not one");
    assert_eq!(r.shared.counters.totals(0).drops["bad_header"], 1);
}

#[test]
fn tcp_to_us_goes_to_the_stack_or_gets_rst() {
    rig!(r);
    let syn = tcp_frame("192.168.10.100", "192.168.10.200", SYN, 1000, 0, 0);
    r.deliver(Punt::LocalTcp, 0, &syn);
    let got = r.shared.local_tcp.to_stack_rx.try_recv().unwrap();
    assert_eq!(got, syn[14..].to_vec());
    assert!(r.s.sent.is_empty());

    r.shared.local_tcp.detached.store(true, Ordering::Relaxed);
    r.deliver(Punt::LocalTcp, 0, &syn);
    assert_eq!(r.s.sent.len(), 1);
    let out = r.sent_frame(0);
    assert_eq!(&out[0..6], &HOST_A);
    let (ip, tcp) = sent_tcp(out);
    assert_eq!(
        (ip.src(), ip.dst()),
        (a("192.168.10.200"), a("192.168.10.100"))
    );
    assert_eq!(ip.payload()[13], RST | ACK, "flags");
    assert_eq!((tcp.seq_number().0, tcp.ack_number().0), (0, 1001));
    assert_eq!((tcp.src_port(), tcp.dst_port()), (179, 40000));

    // A segment with ACK: <SEQ=SEG.ACK><CTL=RST>; a RST is never answered.
    let mut buf = [0u8; 128];
    let seg = tcp_frame("192.168.10.100", "192.168.10.200", ACK, 5, 777, 10);
    let n = build_tcp_rst(&mut buf, MAC0, HOST_A, 1, &seg[14..]).unwrap();
    let (ip, tcp) = sent_tcp(&buf[..n]);
    assert_eq!((ip.payload()[13], tcp.seq_number().0), (RST, 777));
    let rst = tcp_frame("192.168.10.100", "192.168.10.200", RST, 5, 0, 0);
    assert!(build_tcp_rst(&mut buf, MAC0, HOST_A, 1, &rst[14..]).is_none());
}

#[test]
fn routes_packets_of_the_local_stack() {
    rig!(r);
    // Learn 192.168.10.100 first (a request for us).
    let req = arp_request(HOST_A, "192.168.10.100", "192.168.10.200");
    r.deliver(Punt::Arp, 0, &req);
    r.s.sent.clear();
    let pkt = tcp_frame("192.168.10.200", "192.168.10.100", SYN_ACK, 1, 2, 0);
    r.stack_sends(&pkt);
    assert_eq!(r.s.sent.len(), 1);
    let out = &r.s.sent[0];
    assert_eq!(out.port, 0);
    assert_eq!(&out.frame[0..6], &HOST_A);
    assert_eq!(&out.frame[6..12], &MAC0);
    assert_eq!(&out.frame[12..], &pkt[12..], "sent unchanged (TTL 64)");
    // To an unresolved neighbour: ARP first, sent when the reply comes.
    let pkt = tcp_frame("192.168.20.200", UNRESOLVED, SYN, 1, 0, 0);
    r.stack_sends(&pkt);
    assert_eq!(parse_arp(r.sent_frame(1)).1.tpa, a(UNRESOLVED));
    r.deliver(Punt::Arp, 1, &peer_reply());
    assert_eq!(r.s.sent.len(), 3);
    assert_eq!(&r.sent_frame(2)[0..6], &PEER);
}

#[test]
fn handoff_is_bounded() {
    let h = Handoff::new(HandoffOptions {
        depth: 2,
        small_buffers: 3,
        small_size: 64,
        large_buffers: 1,
        large_size: 128,
    });
    let m = FrameMeta::default();
    assert!(h.push(Punt::Arp, 0, &[0u8; 60], &m));
    assert!(h.push(Punt::Arp, 0, &[0u8; 100], &m), "large pool");
    assert!(!h.push(Punt::Arp, 0, &[0u8; 60], &m), "queue full");
    assert!(
        !h.push(Punt::Arp, 0, &[0u8; 200], &m),
        "too big for any pool"
    );
    let p = h.pop().unwrap();
    assert_eq!(p.frame().len(), 60);
    h.recycle(p);
    assert_eq!(h.free_buffers(), (3, 0));
}

/// Regression (slowpath fuzz target): a hand-off shorter than an Ethernet
/// header, as local TCP or waiting for a neighbour, is dropped, not a panic.
#[test]
fn short_frames_do_not_panic() {
    rig!(r);
    for len in [0usize, 1, 13, 14, 20, 33] {
        let frame = vec![0x45u8; len];
        r.deliver(Punt::LocalTcp, 0, &frame);
        r.deliver(
            Punt::Resolve {
                port: 1,
                next_hop: a("192.168.20.100"),
            },
            0,
            &frame,
        );
    }
    for out in &r.s.sent {
        let t = EthernetFrame::new_checked(&out.frame[..])
            .unwrap()
            .ethertype();
        assert_eq!(t, ethertype::ARP, "nothing but ARP leaves");
    }
    let drops = r.shared.counters.totals(0).drops["bad_header"];
    assert!(drops >= 6, "local TCP ones counted as bad_header: {drops}");
}
