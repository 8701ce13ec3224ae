//! Slow-path tests: ARP answering and learning, resolution with queued
//! packets, failure → host unreachable, RST for TCP when no stack runs,
//! routing of the local stack's packets.
use super::*;
use crate::dataplane::forward::tests::{
    a, ip_frame, parse_icmp, shared_with, udp, MockSink, HOST_A, MAC0, MAC1,
};
use crate::dataplane::forward::FwdOptions;
use crate::neigh::NeighState;

const PEER: MacAddr = [2, 0, 0, 0, 0, 0x77];

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

fn parse_arp(frame: &[u8]) -> (MacAddr, ArpRepr) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), ethertype::ARP);
    (
        eth.dst(),
        ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap(),
    )
}

macro_rules! core {
    ($shared:ident, $h:ident, $core:ident) => {
        let $shared = shared_with(1500);
        let $h = handoff();
        let fwd = Forwarder::new(
            $shared.clone(),
            $shared.control_thread(),
            FwdOptions::default(),
        );
        #[allow(unused_mut)]
        let mut $core = SlowCore::new(
            $shared.clone(),
            fwd,
            NeighOptions::default(),
            $shared.neigh.writer().unwrap(),
            $h.clone(),
        );
    };
}

fn punt(h: &Handoff, why: Punt, port: PortId, frame: &[u8]) {
    assert!(h.push(why, port, frame, &FrameMeta::default()));
}

#[test]
fn answers_arp_for_our_address_and_learns() {
    core!(shared, h, c);
    let mut s = MockSink::default();
    let req = arp_frame(
        ArpOp::Request,
        ethernet::BROADCAST,
        HOST_A,
        "192.168.10.100",
        [0; 6],
        "192.168.10.200",
    );
    punt(&h, Punt::Arp, 0, &req);
    c.round(&mut s);
    assert_eq!(s.sent.len(), 1);
    assert_eq!(s.sent[0].port, 0);
    let (dst, r) = parse_arp(&s.sent[0].frame);
    assert_eq!(dst, HOST_A);
    assert_eq!(
        r,
        ArpRepr {
            op: ArpOp::Reply,
            sha: MAC0,
            spa: a("192.168.10.200"),
            tha: HOST_A,
            tpa: a("192.168.10.100")
        }
    );
    assert_eq!(
        shared.neigh.lookup(0, a("192.168.10.100")).unwrap().state,
        NeighState::Stale
    );
    // Requests for other hosts: no answer; the address of the other port
    // is not answered on this one either.
    for tpa in ["192.168.10.1", "192.168.20.200"] {
        let req = arp_frame(
            ArpOp::Request,
            ethernet::BROADCAST,
            PEER,
            "192.168.10.7",
            [0; 6],
            tpa,
        );
        punt(&h, Punt::Arp, 0, &req);
    }
    c.round(&mut s);
    let replies = s
        .sent
        .iter()
        .filter(|o| parse_arp(&o.frame).1.op == ArpOp::Reply)
        .count();
    assert_eq!(replies, 1);
    // (The lookup above used the STALE entry: a unicast re-probe went out.)
    let (dst, probe) = parse_arp(&s.sent[1].frame);
    assert_eq!(
        (dst, probe.op, probe.tpa),
        (HOST_A, ArpOp::Request, a("192.168.10.100"))
    );
    assert!(
        shared.neigh.lookup(0, a("192.168.10.7")).is_none(),
        "not learnt from requests for others"
    );
    assert_eq!(h.free_buffers().0, 16, "buffers returned");
}

#[test]
fn gratuitous_arp_at_start() {
    core!(shared, h, c);
    let _ = (&shared, &h);
    let mut s = MockSink::default();
    c.announce(&mut s);
    assert_eq!(s.sent.len(), 2);
    let (dst, r) = parse_arp(&s.sent[1].frame);
    assert_eq!(dst, ethernet::BROADCAST);
    assert_eq!(
        (r.op, r.sha, r.spa, r.tpa),
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
    core!(shared, h, c);
    let mut s = MockSink::default();
    let frame = ip_frame(
        "192.168.10.100",
        "192.168.20.77",
        64,
        false,
        crate::wire::ipv4::protocol::UDP,
        &udp(1, 2, 8),
    );
    let why = Punt::Resolve {
        port: 1,
        next_hop: a("192.168.20.77"),
    };
    for _ in 0..2 {
        punt(&h, why, 0, &frame);
    }
    c.round(&mut s);
    // One broadcast request for two packets.
    assert_eq!(s.sent.len(), 1);
    let (dst, r) = parse_arp(&s.sent[0].frame);
    assert_eq!(dst, ethernet::BROADCAST);
    assert_eq!(
        (r.op, r.sha, r.spa, r.tpa),
        (
            ArpOp::Request,
            MAC1,
            a("192.168.20.200"),
            a("192.168.20.77")
        )
    );
    punt(&h, why, 0, &frame);
    c.round(&mut s);
    assert_eq!(s.sent.len(), 1, "at most one request per second");
    assert_eq!(h.free_buffers().0, 13, "three packets held");
    let reply = arp_frame(
        ArpOp::Reply,
        MAC1,
        PEER,
        "192.168.20.77",
        MAC1,
        "192.168.20.200",
    );
    punt(&h, Punt::Arp, 1, &reply);
    c.round(&mut s);
    assert_eq!(s.sent.len(), 4);
    for out in &s.sent[1..] {
        assert_eq!(out.port, 1);
        assert_eq!(&out.frame[0..6], &PEER);
        let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }
    assert_eq!(
        shared.neigh.lookup(1, a("192.168.20.77")).unwrap().state,
        NeighState::Reachable
    );
    assert_eq!(h.free_buffers().0, 16);
    assert_eq!(shared.counters.totals(1).tx_packets, 4);
}

#[test]
fn failed_resolution_sends_host_unreachable() {
    core!(shared, h, c);
    let mut s = MockSink::default();
    let frame = ip_frame(
        "192.168.10.100",
        "192.168.20.77",
        64,
        false,
        crate::wire::ipv4::protocol::UDP,
        &udp(1, 2, 8),
    );
    punt(
        &h,
        Punt::Resolve {
            port: 1,
            next_hop: a("192.168.20.77"),
        },
        0,
        &frame,
    );
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
    let arps = s
        .sent
        .iter()
        .filter(|o| EthernetFrame::new_unchecked(&o.frame[..]).ethertype() == ethertype::ARP)
        .count();
    assert_eq!(arps, 3);
    let last = s.sent.last().unwrap();
    assert_eq!(last.port, 0);
    assert_eq!(&last.frame[0..6], &HOST_A);
    let (ip, t, code) = parse_icmp(&last.frame);
    assert_eq!((t, code), (msg::DST_UNREACHABLE, unreach::HOST));
    assert_eq!(ip.src(), a("192.168.10.200"));
    assert_eq!(shared.counters.totals(0).drops["neigh_unresolved"], 1);
    assert_eq!(h.free_buffers().0, 16);
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

#[test]
fn tcp_to_us_goes_to_the_stack_or_gets_rst() {
    core!(shared, h, c);
    let mut s = MockSink::default();
    let syn = ip_frame(
        "192.168.10.100",
        "192.168.10.200",
        64,
        true,
        crate::wire::ipv4::protocol::TCP,
        &tcp_segment(0x02, 1000, 0, 0),
    );
    punt(&h, Punt::LocalTcp, 0, &syn);
    c.round(&mut s);
    let got = shared.local_tcp.to_stack_rx.try_recv().unwrap();
    assert_eq!(got, syn[14..].to_vec());
    assert!(s.sent.is_empty());

    shared.local_tcp.detached.store(true, Ordering::Relaxed);
    punt(&h, Punt::LocalTcp, 0, &syn);
    c.round(&mut s);
    assert_eq!(s.sent.len(), 1);
    let out = &s.sent[0].frame;
    assert_eq!(&out[0..6], &HOST_A);
    let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src(), ip.dst()),
        (a("192.168.10.200"), a("192.168.10.100"))
    );
    let tcp = pnet_packet::tcp::TcpPacket::new(ip.payload()).unwrap();
    use pnet_packet::tcp::TcpFlags;
    assert_eq!(tcp.get_flags(), TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((tcp.get_sequence(), tcp.get_acknowledgement()), (0, 1001));
    assert_eq!((tcp.get_source(), tcp.get_destination()), (179, 40000));
    assert_eq!(
        tcp.get_checksum(),
        pnet_packet::tcp::ipv4_checksum(&tcp, &ip.src(), &ip.dst())
    );

    // A segment with ACK: <SEQ=SEG.ACK><CTL=RST>; a RST is never answered.
    let mut out = [0u8; 128];
    let seg = ip_frame(
        "192.168.10.100",
        "192.168.10.200",
        64,
        true,
        crate::wire::ipv4::protocol::TCP,
        &tcp_segment(0x10, 5, 777, 10),
    );
    let n = build_tcp_rst(&mut out, MAC0, HOST_A, 1, &seg[14..]).unwrap();
    let ip = Ipv4Packet::new_checked(&out[14..n]).unwrap();
    let tcp = pnet_packet::tcp::TcpPacket::new(ip.payload()).unwrap();
    assert_eq!((tcp.get_flags(), tcp.get_sequence()), (TcpFlags::RST, 777));
    let rst = ip_frame(
        "192.168.10.100",
        "192.168.10.200",
        64,
        true,
        crate::wire::ipv4::protocol::TCP,
        &tcp_segment(0x04, 5, 0, 0),
    );
    assert!(build_tcp_rst(&mut out, MAC0, HOST_A, 1, &rst[14..]).is_none());
}

#[test]
fn routes_packets_of_the_local_stack() {
    core!(shared, h, c);
    let mut s = MockSink::default();
    // Learn 192.168.10.100 first (a request for us).
    let req = arp_frame(
        ArpOp::Request,
        ethernet::BROADCAST,
        HOST_A,
        "192.168.10.100",
        [0; 6],
        "192.168.10.200",
    );
    punt(&h, Punt::Arp, 0, &req);
    c.round(&mut s);
    s.sent.clear();
    let pkt = ip_frame(
        "192.168.10.200",
        "192.168.10.100",
        64,
        true,
        crate::wire::ipv4::protocol::TCP,
        &tcp_segment(0x12, 1, 2, 0),
    );
    shared
        .local_tcp
        .from_stack_tx
        .send(pkt[14..].to_vec())
        .unwrap();
    c.round(&mut s);
    assert_eq!(s.sent.len(), 1);
    let out = &s.sent[0];
    assert_eq!(out.port, 0);
    assert_eq!(&out.frame[0..6], &HOST_A);
    assert_eq!(&out.frame[6..12], &MAC0);
    assert_eq!(&out.frame[12..], &pkt[12..], "sent unchanged (TTL 64)");
    // To an unresolved neighbour: ARP first, sent when the reply comes.
    let pkt = ip_frame(
        "192.168.20.200",
        "192.168.20.77",
        64,
        true,
        crate::wire::ipv4::protocol::TCP,
        &tcp_segment(0x02, 1, 0, 0),
    );
    shared
        .local_tcp
        .from_stack_tx
        .send(pkt[14..].to_vec())
        .unwrap();
    c.round(&mut s);
    assert_eq!(parse_arp(&s.sent[1].frame).1.tpa, a("192.168.20.77"));
    let reply = arp_frame(
        ArpOp::Reply,
        MAC1,
        PEER,
        "192.168.20.77",
        MAC1,
        "192.168.20.200",
    );
    punt(&h, Punt::Arp, 1, &reply);
    c.round(&mut s);
    assert_eq!(s.sent.len(), 3);
    assert_eq!(&s.sent[2].frame[0..6], &PEER);
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
