//! Forwarding tests with byte fixtures and a mock TX sink.
use super::*;
use crate::dataplane::icmp_out::IcmpRateLimit;
use crate::ports::PortInfo;
use crate::rib::nexthop::NextHop;
use crate::wire::checksum;
use crate::wire::ethernet::ethertype;
use crate::wire::icmp::Icmpv4Packet;
use crate::wire::ipv4::protocol;
use crate::wire::vnet::{VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4};
use ipnet::Ipv4Net;
use proptest::prelude::*;

pub(crate) const MAC0: MacAddr = [2, 0, 0, 0, 0, 0xa0];
pub(crate) const MAC1: MacAddr = [2, 0, 0, 0, 0, 0xa1];
pub(crate) const HOST_A: MacAddr = [2, 0, 0, 0, 0, 0x64]; // 192.168.10.100 on port 0
pub(crate) const HOST_B: MacAddr = [2, 0, 0, 0, 0, 0xc8]; // 192.168.20.100 on port 1
pub(crate) const HOST_C: MacAddr = [2, 0, 0, 0, 0, 0xc9]; // 192.168.20.101 on port 1
pub(crate) const HOST_D: MacAddr = [2, 0, 0, 0, 0, 0x65]; // 192.168.10.101 on port 0

pub(crate) fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
pub(crate) fn n(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

pub(crate) struct Sent {
    pub port: PortId,
    pub frame: Vec<u8>,
    pub vnet: Option<VnetHdr>,
}

#[derive(Default)]
pub(crate) struct MockSink {
    pub sent: Vec<Sent>,
    pub punted: Vec<(Punt, PortId, Vec<u8>)>,
    pub full: bool,
}

impl TxSink for MockSink {
    fn frame_capacity(&self, _port: PortId) -> usize {
        65536 + 14
    }
    fn send(
        &mut self,
        port: PortId,
        fill: impl FnOnce(&mut [u8]) -> (usize, Option<VnetHdr>),
    ) -> bool {
        if self.full {
            return false;
        }
        let mut buf = vec![0xeeu8; self.frame_capacity(port)];
        let (len, vnet) = fill(&mut buf);
        if len == 0 {
            return false;
        }
        buf.truncate(len);
        self.sent.push(Sent {
            port,
            frame: buf,
            vnet,
        });
        true
    }
    fn punt(&mut self, why: Punt, in_port: PortId, frame: &[u8], _meta: &FrameMeta) -> bool {
        if self.full {
            return false;
        }
        self.punted.push((why, in_port, frame.to_vec()));
        true
    }
}

pub(crate) fn shared_with(mtu1: u16) -> Arc<Shared> {
    shared_with_hosts(mtu1, Vec::new())
}

/// [`shared_with`], with host interfaces on the ports `hosts` names.
pub(crate) fn shared_with_hosts(
    mtu1: u16,
    hosts: Vec<Option<crate::shared::HostPort>>,
) -> Arc<Shared> {
    let ports = vec![
        PortInfo {
            id: 0,
            name: "eth1".into(),
            ifname: "eth1".into(),
            ifindex: 2,
            mac: MAC0,
            mtu: 1500,
            addrs: vec![n("192.168.10.200/24")],
            addrs6: Vec::new(),
        },
        PortInfo {
            id: 1,
            name: "eth2".into(),
            ifname: "eth2".into(),
            ifindex: 3,
            mac: MAC1,
            mtu: mtu1,
            addrs: vec![n("192.168.20.200/24")],
            addrs6: Vec::new(),
        },
    ];
    let shared = Shared::with_hosts(ports, 1, hosts);
    let hops = vec![
        NextHop::Connected { port: 0 }, // 0
        NextHop::Connected { port: 1 }, // 1
        NextHop::Gateway {
            port: 1,
            gw: a("192.168.20.100"),
        }, // 2
        NextHop::Local,                 // 3
        NextHop::Unreachable,           // 4
        NextHop::Blackhole,             // 5
        NextHop::Multipath(
            vec![
                (1, a("192.168.20.100")),
                (1, a("192.168.20.101")),
                (0, a("192.168.10.101")),
            ]
            .into(),
        ), // 6
    ];
    shared
        .nexthops
        .store(Arc::new(NextHopTable { entries: hops }));
    shared
        .fib
        .apply(&[
            fib::Change::Upsert(n("192.168.10.0/24"), 0),
            fib::Change::Upsert(n("192.168.20.0/24"), 1),
            fib::Change::Upsert(n("172.20.2.0/24"), 2),
            fib::Change::Upsert(n("192.168.10.200/32"), 3),
            fib::Change::Upsert(n("192.168.20.200/32"), 3),
            fib::Change::Upsert(n("10.10.1.200/32"), 3),
            fib::Change::Upsert(n("10.10.1.0/24"), 4),
            fib::Change::Upsert(n("10.99.0.0/16"), 5),
            fib::Change::Upsert(n("10.50.0.0/16"), 6),
        ])
        .unwrap();
    {
        let w = shared.neigh.writer().unwrap();
        w.upsert(0, a("192.168.10.100"), HOST_A, NeighState::Reachable);
        w.upsert(0, a("192.168.10.101"), HOST_D, NeighState::Reachable);
        w.upsert(1, a("192.168.20.100"), HOST_B, NeighState::Reachable);
        w.upsert(1, a("192.168.20.101"), HOST_C, NeighState::Stale);
        w.upsert(1, a("192.168.20.66"), [0; 6], NeighState::Failed);
    }
    shared
}

fn setup(mtu1: u16, icmp: IcmpRateLimit) -> (Forwarder, MockSink) {
    let shared = shared_with(mtu1);
    let f = Forwarder::new(
        shared,
        0,
        FwdOptions {
            icmp,
            ..FwdOptions::default()
        },
    );
    (f, MockSink::default())
}

/// The two-port router with port 1's MTU at `mtu1`.
fn with_mtu(mtu1: u16) -> (Forwarder, MockSink) {
    setup(mtu1, IcmpRateLimit::default())
}

fn fwd() -> (Forwarder, MockSink) {
    with_mtu(1500)
}

/// HOST_A's address on port 0: the source of most test packets.
const SRC: &str = "192.168.10.100";
/// Behind the gateway 192.168.20.100 (HOST_B) on port 1.
const REMOTE: &str = "172.20.2.249";
/// The router's address on port 0.
const OURS: &str = "192.168.10.200";

/// An Ethernet/IPv4 frame from HOST_A to port 0 with `l4` as payload.
pub(crate) fn ip_frame(src: &str, dst: &str, ttl: u8, df: bool, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + l4.len()];
    EthernetRepr {
        dst: MAC0,
        src: HOST_A,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f)
    .unwrap();
    crate::wire::ipv4::Ipv4Repr {
        src: a(src),
        dst: a(dst),
        protocol: proto,
        ttl,
        dscp_ecn: 0,
        ident: 0x4242,
        dont_frag: df,
        payload_len: l4.len(),
    }
    .emit(&mut f[14..])
    .unwrap();
    f[34..].copy_from_slice(l4);
    f
}

pub(crate) fn udp(sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let mut u = vec![0u8; 8 + len];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    for (i, b) in u[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    u
}

/// A small UDP datagram (ports 1 → 2, 3 bytes) from [`SRC`] to `dst`.
fn udp_to(dst: &str) -> Vec<u8> {
    udp_frame(dst, 64, false, &udp(1, 2, 3))
}

/// A UDP frame from [`SRC`] to `dst` with this TTL, DF and datagram.
fn udp_frame(dst: &str, ttl: u8, df: bool, datagram: &[u8]) -> Vec<u8> {
    ip_frame(SRC, dst, ttl, df, protocol::UDP, datagram)
}

fn echo_req() -> Vec<u8> {
    let mut e = vec![0u8; 8 + 4];
    crate::wire::icmp::Icmpv4Repr::EchoRequest {
        ident: 7,
        seq: 1,
        data: b"ping",
    }
    .emit(&mut e)
    .unwrap();
    e
}

/// A UDP datagram whose checksum field holds only the pseudo-header sum
/// (CHECKSUM_PARTIAL, as the kernel hands it over), from [`SRC`] to
/// [`REMOTE`]; and the vnet header asking for it to be completed.
fn partial_udp(sport: u16, dport: u16, len: usize) -> (Vec<u8>, u16, VnetHdr) {
    let mut l4 = udp(sport, dport, len);
    let ph = checksum::fold(checksum::pseudo_header_sum(
        a(SRC).octets(),
        a(REMOTE).octets(),
        17,
        l4.len() as u32,
    ));
    l4[6..8].copy_from_slice(&ph.to_be_bytes());
    let vnet = VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 6,
        ..Default::default()
    };
    (l4, ph, vnet)
}

/// The metadata of a frame that came with `vnet`.
fn with_vnet(vnet: VnetHdr) -> FrameMeta {
    FrameMeta {
        vnet: Some(vnet),
        ..Default::default()
    }
}

/// Whether `datagram`'s UDP checksum is right for [`SRC`] → [`REMOTE`],
/// checked with smoltcp's UDP view (an independent implementation).
fn udp_checksum_ok(datagram: &[u8]) -> bool {
    let u = smoltcp::wire::UdpPacket::new_checked(datagram).unwrap();
    let (src, dst) = (
        smoltcp::wire::IpAddress::Ipv4(a(SRC)),
        smoltcp::wire::IpAddress::Ipv4(a(REMOTE)),
    );
    // A zero field means "no checksum" to a receiver; here it is a bug.
    u.checksum() != 0 && u.verify_checksum(&src, &dst)
}

use crate::wire::ethernet::EthernetRepr;

pub(crate) fn run(f: &mut Forwarder, s: &mut MockSink, frame: &mut [u8], meta: &FrameMeta) {
    let b = f.begin_batch(Instant::now());
    f.process(&b, 0, frame, meta, s);
}

/// [`run`] with no metadata (a plain frame, wholly received).
fn rx(f: &mut Forwarder, s: &mut MockSink, frame: &mut [u8]) {
    run(f, s, frame, &FrameMeta::default());
}

pub(crate) fn drops(f: &Forwarder, port: usize, r: DropReason) -> u64 {
    f.shared().counters.totals(port).drops[r.name()]
}

pub(crate) fn parse_icmp(frame: &[u8]) -> (Ipv4Packet<&[u8]>, u8, u8) {
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.protocol(), protocol::ICMP);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    let (t, c) = (icmp.msg_type(), icmp.code());
    (ip, t, c)
}

/// Asserts that `frame` is a valid ICMP message of this type and code;
/// returns its IPv4 packet.
fn expect_icmp(frame: &[u8], msg_type: u8, code: u8) -> Ipv4Packet<&[u8]> {
    let (ip, t, c) = parse_icmp(frame);
    assert_eq!((t, c), (msg_type, code));
    ip
}

/// The next-hop MTU an ICMP "fragmentation needed" carries.
fn next_hop_mtu(ip: &Ipv4Packet<&[u8]>) -> u16 {
    Icmpv4Packet::new_unchecked(ip.payload()).next_hop_mtu()
}

#[test]
fn forwards_with_ttl_decrement_and_mac_rewrite() {
    let (mut f, mut s) = fwd();
    let mut frame = udp_frame(REMOTE, 64, true, &udp(1000, 80, 100));
    frame.extend_from_slice(&[0u8; 6]); // Ethernet padding is trimmed
    let orig = frame.clone();
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.sent.len(), 1);
    let out = &s.sent[0];
    assert_eq!(out.port, 1);
    assert_eq!(out.frame.len(), orig.len() - 6);
    assert_eq!(&out.frame[0..6], &HOST_B);
    assert_eq!(&out.frame[6..12], &MAC1);
    let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    let mut copy = out.frame[14..34].to_vec();
    Ipv4Packet::new_unchecked(&mut copy[..]).fill_checksum();
    assert_eq!(
        Ipv4Packet::new_unchecked(&copy[..]).checksum(),
        ip.checksum(),
        "incremental == full"
    );
    assert_eq!(&out.frame[34..], &orig[34..orig.len() - 6]);
    let t0 = f.shared().counters.totals(0);
    let t1 = f.shared().counters.totals(1);
    assert_eq!((t0.rx_packets, t1.tx_packets), (1, 1));
    assert_eq!(t1.tx_bytes, out.frame.len() as u64);
}

#[test]
fn connected_destination_uses_its_own_mac() {
    let (mut f, mut s) = fwd();
    rx(&mut f, &mut s, &mut udp_to("192.168.20.101"));
    assert_eq!(&s.sent[0].frame[0..6], &HOST_C, "STALE entries are used");
}

#[test]
fn ttl_expiry_sends_time_exceeded_quoting_header() {
    let (mut f, mut s) = fwd();
    let mut frame = udp_frame(REMOTE, 1, false, &udp(33434, 33435, 32));
    let orig = frame.clone();
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.sent.len(), 1);
    let out = &s.sent[0];
    assert_eq!(out.port, 0);
    assert_eq!(&out.frame[0..6], &HOST_A);
    assert_eq!(&out.frame[6..12], &MAC0);
    let ip = expect_icmp(&out.frame, msg::TIME_EXCEEDED, 0);
    assert_eq!(ip.src(), a(OURS));
    assert_eq!(ip.dst(), a(SRC));
    let quote = &ip.payload()[8..];
    assert_eq!(
        quote,
        &orig[14..],
        "whole (short) datagram quoted, TTL as received"
    );
    assert_eq!(drops(&f, 0, DropReason::TtlExceeded), 1);
}

#[test]
fn no_route_unreachable_and_blackhole() {
    let (mut f, mut s) = fwd();
    // (destination, the ICMP error it gets; None: dropped silently)
    let cases = [
        ("8.8.8.8", Some(unreach::NET)),    // no route
        ("10.10.1.5", Some(unreach::HOST)), // `unreachable` route
        ("10.99.1.1", None),                // blackhole
    ];
    for (dst, code) in cases {
        let before = s.sent.len();
        rx(&mut f, &mut s, &mut udp_to(dst));
        match code {
            Some(code) => {
                assert_eq!(s.sent.len(), before + 1, "{dst}");
                expect_icmp(&s.sent[before].frame, msg::DST_UNREACHABLE, code);
            }
            None => assert_eq!(s.sent.len(), before, "blackhole is silent"),
        }
    }
    assert_eq!(s.sent.len(), 2);
    assert_eq!(drops(&f, 0, DropReason::NoRoute), 3);
}

#[test]
fn df_over_mtu_gets_frag_needed_with_mtu() {
    let (mut f, mut s) = with_mtu(1400);
    rx(
        &mut f,
        &mut s,
        &mut udp_frame(REMOTE, 64, true, &udp(1, 2, 1472)),
    );
    assert_eq!(s.sent.len(), 1);
    let ip = expect_icmp(&s.sent[0].frame, msg::DST_UNREACHABLE, unreach::FRAG_NEEDED);
    assert_eq!(next_hop_mtu(&ip), 1400);
    assert_eq!(
        ip.src(),
        a(OURS),
        "sourced from the port the error leaves by"
    );
    assert_eq!(drops(&f, 0, DropReason::Mtu), 1);
}

#[test]
fn fragments_without_df() {
    let (mut f, mut s) = with_mtu(1000);
    let payload = udp(1, 2, 2392); // 2400 bytes of IP payload
    rx(&mut f, &mut s, &mut udp_frame(REMOTE, 64, false, &payload));
    assert_eq!(s.sent.len(), 3);
    let mut data = Vec::new();
    for (i, out) in s.sent.iter().enumerate() {
        assert_eq!(out.port, 1);
        assert_eq!(&out.frame[0..6], &HOST_B);
        let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(ip.total_len() as usize <= 1000);
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ip.ident(), 0x4242);
        assert!(!ip.dont_frag());
        assert_eq!(ip.frag_offset(), data.len());
        assert_eq!(ip.more_frags(), i < 2);
        if i < 2 {
            assert_eq!(ip.payload().len() % 8, 0);
        }
        data.extend_from_slice(ip.payload());
    }
    assert_eq!(data, payload);
    assert_eq!(f.shared().counters.totals(1).tx_packets, 3);
    // Policy "drop": counted, nothing sent.
    let (mut f, mut s) = with_mtu(1000);
    f.opts.fragment = FragmentPolicy::Drop;
    rx(&mut f, &mut s, &mut udp_frame(REMOTE, 64, false, &payload));
    assert!(s.sent.is_empty());
    assert_eq!(drops(&f, 0, DropReason::Mtu), 1);
}

#[test]
fn fragmenting_a_fragment_keeps_offsets_and_mf() {
    let (mut f, mut s) = with_mtu(576);
    let mut frame = udp_frame(REMOTE, 64, false, &[7u8; 1000]);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_flags_offset(false, true, 800);
        ip.fill_checksum();
    }
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.sent.len(), 2);
    for (i, out) in s.sent.iter().enumerate() {
        let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
        assert!(ip.more_frags(), "original MF kept on the last piece");
        assert_eq!(ip.frag_offset(), 800 + i * 552);
    }
}

#[test]
fn fragmentation_completes_partial_checksum() {
    let (mut f, mut s) = with_mtu(600);
    let (l4, _, vnet) = partial_udp(1, 2, 992);
    let mut frame = udp_frame(REMOTE, 64, false, &l4);
    run(&mut f, &mut s, &mut frame, &with_vnet(vnet));
    let mut data = Vec::new();
    for out in &s.sent {
        assert!(out.vnet.is_none());
        data.extend_from_slice(Ipv4Packet::new_checked(&out.frame[14..]).unwrap().payload());
    }
    assert!(udp_checksum_ok(&data));
}

#[test]
fn partial_checksum_passes_with_vnet_or_completes_without() {
    let (l4, ph, vnet) = partial_udp(5, 6, 20);
    let frame = udp_frame(REMOTE, 64, false, &l4);
    let (mut f, mut s) = fwd();
    run(&mut f, &mut s, &mut frame.clone(), &with_vnet(vnet));
    assert_eq!(s.sent[0].vnet, Some(vnet));
    assert_eq!(
        &s.sent[0].frame[40..42],
        &ph.to_be_bytes(),
        "left for the kernel"
    );
    let not_ready = FrameMeta {
        csum_not_ready: true,
        ..Default::default()
    };
    for meta in [with_vnet(vnet), not_ready] {
        let (mut f, mut s) = fwd();
        f.opts.tx_vnet = false;
        run(&mut f, &mut s, &mut frame.clone(), &meta);
        assert_eq!(s.sent[0].vnet, None);
        assert!(udp_checksum_ok(&s.sent[0].frame[34..]));
    }
}

#[test]
fn gso_superframe_passes_whole_with_vnet_header() {
    let (mut f, mut s) = fwd();
    let mut tcp = vec![0u8; 20 + 20000];
    tcp[12] = 5 << 4;
    let mut frame = ip_frame(SRC, REMOTE, 64, true, protocol::TCP, &tcp);
    let vnet = VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        gso_type: VNET_GSO_TCPV4,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    let meta = with_vnet(vnet);
    run(&mut f, &mut s, &mut frame, &meta);
    assert_eq!(s.sent.len(), 1);
    assert_eq!(s.sent[0].vnet, Some(vnet));
    assert_eq!(s.sent[0].frame.len(), frame.len());
    // Segments that would not fit a 1400-byte MTU: frag needed (DF).
    let (mut f, mut s) = with_mtu(1400);
    run(&mut f, &mut s, &mut frame.clone(), &meta);
    let ip = expect_icmp(&s.sent[0].frame, msg::DST_UNREACHABLE, unreach::FRAG_NEEDED);
    assert_eq!(next_hop_mtu(&ip), 1400);
}

#[test]
fn martians_dropped() {
    for (src, dst) in [
        ("127.0.0.1", REMOTE),
        ("0.1.2.3", REMOTE),
        ("240.0.0.1", REMOTE),
        ("224.0.0.1", REMOTE),
        ("192.168.10.255", REMOTE),
        ("192.168.20.200", REMOTE),
        (SRC, "255.255.255.255"),
        (SRC, "224.0.0.5"),
        (SRC, "239.1.1.1"),
        (SRC, "127.0.0.1"),
        (SRC, "0.0.0.0"),
        (SRC, "250.0.0.1"),
    ] {
        let (mut f, mut s) = fwd();
        let mut frame = ip_frame(src, dst, 1, false, protocol::UDP, &udp(1, 2, 3));
        rx(&mut f, &mut s, &mut frame);
        assert!(s.sent.is_empty() && s.punted.is_empty(), "{src} -> {dst}");
        assert_eq!(drops(&f, 0, DropReason::Martian), 1, "{src} -> {dst}");
    }
    let (mut f, mut s) = fwd();
    rx(&mut f, &mut s, &mut udp_to("192.168.20.255"));
    assert!(s.sent.is_empty());
    assert_eq!(
        drops(&f, 0, DropReason::NotForUs),
        1,
        "directed broadcast not forwarded"
    );
}

/// Breaks a good frame in one way.
type Damage = fn(&[u8]) -> Vec<u8>;

#[test]
fn bad_headers_dropped() {
    let good = udp_frame(REMOTE, 64, false, &udp(1, 2, 10));
    // (what is wrong, how to break a good frame)
    let cases: [(&str, Damage); 6] = [
        ("bad checksum", |g| {
            let mut c = g.to_vec();
            c[24] ^= 0x40;
            c
        }),
        ("IHL 4", |g| {
            let mut c = g.to_vec();
            c[14] = 0x44;
            Ipv4Packet::new_unchecked(&mut c[14..]).fill_checksum();
            c
        }),
        ("short IPv4 header", |g| g[..14 + 19].to_vec()),
        ("total length > frame", |g| {
            let mut c = g.to_vec();
            c[16..18].copy_from_slice(&2000u16.to_be_bytes());
            Ipv4Packet::new_unchecked(&mut c[14..34]).fill_checksum();
            c
        }),
        ("version 6", |g| {
            let mut c = g.to_vec();
            c[14] = 0x65;
            c
        }),
        ("not even Ethernet", |g| g[..10].to_vec()),
    ];
    for (what, damage) in cases {
        let (mut f, mut s) = fwd();
        rx(&mut f, &mut s, &mut damage(&good));
        assert!(s.sent.is_empty(), "{what}");
        assert_eq!(drops(&f, 0, DropReason::BadHeader), 1, "{what}");
    }
}

#[test]
fn foreign_mac_and_broadcast_ip_not_forwarded() {
    let (mut f, mut s) = fwd();
    let mut frame = udp_to(REMOTE);
    frame[5] = 0x99;
    rx(&mut f, &mut s, &mut frame);
    frame[0..6].copy_from_slice(&ethernet::BROADCAST);
    rx(&mut f, &mut s, &mut frame);
    assert!(s.sent.is_empty());
    assert_eq!(drops(&f, 0, DropReason::NotForUs), 2);
    let mut t = frame.clone();
    t[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    t[0..6].copy_from_slice(&MAC0);
    rx(&mut f, &mut s, &mut t);
    assert_eq!(drops(&f, 0, DropReason::NotForUs), 3);
    // Truncated by the ring: never forwarded.
    let truncated = FrameMeta {
        truncated: true,
        ..Default::default()
    };
    run(&mut f, &mut s, &mut udp_to(REMOTE), &truncated);
    assert!(s.sent.is_empty());
    assert_eq!(drops(&f, 0, DropReason::Mtu), 1);
}

#[test]
fn arp_goes_to_slow_path() {
    let (mut f, mut s) = fwd();
    let mut frame = vec![0u8; 42];
    EthernetRepr {
        dst: ethernet::BROADCAST,
        src: HOST_A,
        ethertype: ethertype::ARP,
    }
    .emit(&mut frame)
    .unwrap();
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.punted.len(), 1);
    assert_eq!(s.punted[0].0, Punt::Arp);
    s.full = true;
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(drops(&f, 0, DropReason::QueueFull), 1);
}

#[test]
fn echo_request_to_us_is_answered() {
    for dst in [OURS, "192.168.20.200", "10.10.1.200"] {
        let (mut f, mut s) = fwd();
        let mut frame = ip_frame(SRC, dst, 64, false, protocol::ICMP, &echo_req());
        rx(&mut f, &mut s, &mut frame);
        assert_eq!(s.sent.len(), 1, "{dst}");
        let out = &s.sent[0];
        assert_eq!(out.port, 0);
        assert_eq!(&out.frame[0..6], &HOST_A);
        let ip = expect_icmp(&out.frame, msg::ECHO_REPLY, 0);
        assert_eq!(ip.src(), a(dst));
        assert_eq!(ip.dst(), a(SRC));
        let icmp = Icmpv4Packet::new_unchecked(ip.payload());
        assert_eq!(
            (icmp.echo_ident(), icmp.echo_seq(), icmp.data()),
            (7, 1, &b"ping"[..])
        );
    }
}

#[test]
fn local_udp_tcp_and_other_protocols() {
    let (mut f, mut s) = fwd();
    // (protocol, payload, the ICMP error it gets; None: to the local stack)
    let cases: [(u8, Vec<u8>, Option<u8>); 3] = [
        (protocol::UDP, udp(1, 53, 3), Some(unreach::PORT)),
        (47, vec![0u8; 8], Some(unreach::PROTOCOL)),
        (protocol::TCP, vec![0u8; 20], None),
    ];
    for (proto, l4, code) in cases {
        let before = s.sent.len();
        rx(
            &mut f,
            &mut s,
            &mut ip_frame(SRC, OURS, 64, false, proto, &l4),
        );
        match code {
            Some(code) => {
                expect_icmp(&s.sent[before].frame, msg::DST_UNREACHABLE, code);
            }
            None => {
                assert_eq!(s.punted.len(), 1);
                assert_eq!(s.punted[0].0, Punt::LocalTcp);
            }
        }
    }
    assert_eq!(drops(&f, 0, DropReason::LocalUnsupported), 2);
}

#[test]
fn no_icmp_error_about_icmp_error_or_fragment() {
    let (mut f, mut s) = fwd();
    let mut unreachable = vec![0u8; 8 + 28];
    unreachable[0] = msg::DST_UNREACHABLE;
    let mut frame = ip_frame(SRC, REMOTE, 1, false, protocol::ICMP, &unreachable);
    rx(&mut f, &mut s, &mut frame);
    assert!(s.sent.is_empty());
    assert_eq!(drops(&f, 0, DropReason::TtlExceeded), 1);
    // An echo request is not an error: it does get time exceeded.
    let mut frame = ip_frame(SRC, REMOTE, 1, false, protocol::ICMP, &echo_req());
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.sent.len(), 1);
    // Non-first fragment: none.
    let mut frame = udp_frame(REMOTE, 1, false, &[0u8; 16]);
    Ipv4Packet::new_unchecked(&mut frame[14..]).set_flags_offset(false, false, 8);
    Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.sent.len(), 1);
}

#[test]
fn icmp_errors_rate_limited() {
    let (mut f, mut s) = setup(
        1500,
        IcmpRateLimit {
            per_sec: 1,
            burst: 2,
        },
    );
    let b = f.begin_batch(Instant::now());
    for _ in 0..5 {
        let mut frame = udp_frame(REMOTE, 1, false, &udp(1, 2, 3));
        f.process(&b, 0, &mut frame, &FrameMeta::default(), &mut s);
    }
    assert_eq!(s.sent.len(), 2);
    assert_eq!(drops(&f, 0, DropReason::TtlExceeded), 5);
}

#[test]
fn ecmp_same_flow_same_member_and_spread() {
    let (mut f, mut s) = fwd();
    let mut seen = std::collections::HashSet::new();
    for sport in 0..64u16 {
        let mut first = None;
        for _ in 0..3 {
            rx(
                &mut f,
                &mut s,
                &mut udp_frame("10.50.1.1", 64, false, &udp(sport, 80, 4)),
            );
            let out = s.sent.pop().unwrap();
            let member = (out.port, out.frame[5]);
            assert_eq!(*first.get_or_insert(member), member, "flow {sport} moved");
        }
        seen.insert(first.unwrap());
    }
    assert_eq!(seen.len(), 3, "64 flows use all three members: {seen:?}");
}

#[test]
fn neighbour_miss_punts_and_failed_answers_host_unreachable() {
    let (mut f, mut s) = fwd();
    let mut frame = udp_to("192.168.20.77");
    let orig = frame.clone();
    rx(&mut f, &mut s, &mut frame);
    assert!(s.sent.is_empty());
    assert_eq!(s.punted.len(), 1);
    assert_eq!(
        s.punted[0].0,
        Punt::Resolve {
            port: 1,
            next_hop: a("192.168.20.77")
        }
    );
    assert_eq!(s.punted[0].2, orig, "handed over unmodified");
    rx(&mut f, &mut s, &mut udp_to("192.168.20.66"));
    expect_icmp(&s.sent[0].frame, msg::DST_UNREACHABLE, unreach::HOST);
    assert_eq!(drops(&f, 0, DropReason::NeighUnresolved), 1);
}

#[test]
fn tx_ring_full_counts_queue_full() {
    let (mut f, mut s) = fwd();
    s.full = true;
    rx(&mut f, &mut s, &mut udp_to(REMOTE));
    assert_eq!(drops(&f, 1, DropReason::QueueFull), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..1600), gso in any::<bool>(), gso_size in any::<u16>(), cs in any::<u16>(), co in any::<u16>()) {
        let (mut f, mut s) = with_mtu(1000);
        let vnet = gso.then_some(VnetHdr { flags: VNET_F_NEEDS_CSUM, gso_type: VNET_GSO_TCPV4, hdr_len: 0, gso_size, csum_start: cs, csum_offset: co });
        run(&mut f, &mut s, &mut bytes, &FrameMeta { vnet, ..Default::default() });
    }

    #[test]
    fn mutated_valid_frames_never_panic(idx in proptest::collection::vec((0usize..1200, any::<u8>()), 1..8), len in 0usize..1200, dst in 0u8..6) {
        let dsts = [REMOTE, OURS, "10.50.0.1", "192.168.20.77", "8.8.8.8", "10.10.1.3"];
        let (mut f, mut s) = with_mtu(576);
        let mut frame = udp_frame(dsts[dst as usize], 64, false, &udp(1, 2, len));
        for (i, v) in idx {
            if i < frame.len() && i >= 14 {
                frame[i] = v;
            }
        }
        Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
        rx(&mut f, &mut s, &mut frame);
        for out in &s.sent {
            let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
            prop_assert!(ip.verify_checksum());
            prop_assert!(out.port == 0 || ip.total_len() <= 576);
        }
    }
}

// --- IPv4 options (forward/options.rs) -------------------------------------

/// A UDP frame from [`SRC`] to `dst` whose header carries `opts` (a
/// multiple of 4 bytes), checksum filled.
fn opt_frame(dst: &str, df: bool, opts: &[u8], datagram: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let plain = udp_frame(dst, 64, df, datagram);
    let mut f = plain[..34].to_vec();
    f.extend_from_slice(opts);
    f.extend_from_slice(&plain[34..]);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_version_ihl(20 + opts.len());
    ip.set_total_len((20 + opts.len() + datagram.len()) as u16);
    ip.fill_checksum();
    f
}

/// The pointer of the ICMP Parameter Problem in `frame`, and the quoted
/// header it points into.
fn param_problem(frame: &[u8]) -> (u8, Vec<u8>) {
    let ip = expect_icmp(frame, msg::PARAM_PROBLEM, 0);
    let icmp = Icmpv4Packet::new_unchecked(ip.payload());
    (icmp.rest()[0], icmp.data().to_vec())
}

#[test]
fn record_route_records_egress_address() {
    let (mut f, mut s) = fwd();
    // NOP, RR with room for two addresses, pointer 4.
    let opts = [1, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut frame = opt_frame(REMOTE, true, &opts, &udp(1, 2, 10));
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.sent.len(), 1);
    let ip = Ipv4Packet::new_checked(&s.sent[0].frame[14..]).unwrap();
    assert!(ip.verify_checksum(), "checksum covers the recorded address");
    assert_eq!(ip.ttl(), 63);
    assert_eq!(
        ip.options(),
        &[1, 7, 11, 8, 192, 168, 20, 200, 0, 0, 0, 0],
        "eth2's address recorded, pointer advanced"
    );
    assert_eq!(ip.payload(), &udp(1, 2, 10)[..]);
    // Once more through the router (as if looped): the second slot fills,
    // then the option is full and forwarded unchanged.
    let mut again = s.sent[0].frame.clone();
    again[0..6].copy_from_slice(&MAC0);
    rx(&mut f, &mut s, &mut again);
    let ip = Ipv4Packet::new_checked(&s.sent[1].frame[14..]).unwrap();
    assert_eq!(&ip.options()[..4], &[1, 7, 11, 12]);
    let full = s.sent[1].frame[14 + 20..14 + 32].to_vec();
    let mut third = s.sent[1].frame.clone();
    third[0..6].copy_from_slice(&MAC0);
    rx(&mut f, &mut s, &mut third);
    let ip = Ipv4Packet::new_checked(&s.sent[2].frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.ttl(), 61);
    assert_eq!(
        ip.options(),
        &full[..],
        "a full Record Route is left as it is"
    );
}

#[test]
fn record_route_in_packet_that_waits_for_arp() {
    // 192.168.20.77 is not in the neighbour table: the frame is punted
    // unchanged, and recorded when the slow path forwards it.
    let (mut f, mut s) = fwd();
    let opts = [7, 7, 4, 0, 0, 0, 0, 0];
    let mut frame = opt_frame("192.168.20.77", false, &opts, &udp(1, 2, 4));
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(s.punted.len(), 1);
    assert_eq!(&s.punted[0].2[34..42], &opts, "punted as received");
    let mut p = s.punted[0].2.clone();
    let b = f.begin_batch(Instant::now());
    f.forward_resolved(&b, 0, &mut p, &FrameMeta::default(), 1, HOST_C, &mut s);
    let ip = Ipv4Packet::new_checked(&s.sent[0].frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.options(), &[7, 7, 8, 192, 168, 20, 200, 0]);
}

#[test]
fn malformed_options_get_parameter_problem_at_the_octet() {
    // (options, pointer counted from the start of the IP header)
    let cases: [(&[u8], u8); 9] = [
        (&[7, 0, 4, 0], 21),                           // RR length 0
        (&[1, 0x44, 1, 0], 22),                        // Timestamp length 1
        (&[1, 1, 0x82, 11, 0, 0, 0, 0], 23),           // length past the header
        (&[1, 1, 1, 0x94], 23),                        // no length octet
        (&[7, 7, 3, 0, 0, 0, 0, 0], 22),               // RR pointer < 4
        (&[7, 7, 5, 0, 0, 0, 0, 0], 22),               // RR pointer leaves 3 bytes
        (&[7, 11, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0], 22),  // RR pointer off an address boundary
        (&[68, 8, 4, 0, 0, 0, 0, 0], 22),              // Timestamp pointer < 5
        (&[68, 12, 5, 2, 0, 0, 0, 0, 0, 0, 0, 0], 23), // Timestamp flag 2
    ];
    for (opts, pointer) in cases {
        let (mut f, mut s) = fwd();
        let mut padded = opts.to_vec();
        padded.resize(opts.len().div_ceil(4) * 4, 0);
        let mut frame = opt_frame(REMOTE, false, &padded, &udp(1, 2, 8));
        let orig = frame.clone();
        rx(&mut f, &mut s, &mut frame);
        assert_eq!(s.sent.len(), 1, "{opts:?}: only the ICMP error leaves");
        assert_eq!(s.sent[0].port, 0, "back to the source");
        let (p, quote) = param_problem(&s.sent[0].frame);
        assert_eq!(p, pointer, "{opts:?}");
        assert_eq!(quote, orig[14..], "the error quotes the packet as received");
        assert_eq!(drops(&f, 0, DropReason::BadOption), 1);
        assert_eq!(quote[pointer as usize], orig[14 + pointer as usize]);
    }
    // Addressed to the router: the same check applies.
    let (mut f, mut s) = fwd();
    let mut frame = opt_frame(OURS, false, &[7, 1, 0, 0], &udp(1, 2, 8));
    rx(&mut f, &mut s, &mut frame);
    assert_eq!(param_problem(&s.sent[0].frame).0, 21);
    assert_eq!(drops(&f, 0, DropReason::BadOption), 1);
}

#[test]
fn source_routes_are_dropped_and_counted() {
    for kind in [131u8, 137] {
        let (mut f, mut s) = fwd();
        let opts = [kind, 7, 4, 192, 168, 20, 100, 0];
        let mut frame = opt_frame(REMOTE, false, &opts, &udp(1, 2, 8));
        rx(&mut f, &mut s, &mut frame);
        assert!(s.sent.is_empty() && s.punted.is_empty(), "silently dropped");
        assert_eq!(drops(&f, 0, DropReason::SourceRoute), 1);
        // To the router itself too.
        let mut frame = opt_frame(OURS, false, &opts, &echo_req());
        rx(&mut f, &mut s, &mut frame);
        assert!(s.sent.is_empty());
        assert_eq!(drops(&f, 0, DropReason::SourceRoute), 2);
    }
}

#[test]
fn router_alert_timestamp_and_unknown_options_forwarded_unchanged() {
    let cases: [&[u8]; 4] = [
        &[148, 4, 0, 0],                         // Router Alert
        &[68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0], // Timestamp, room left
        &[68, 8, 9, 0x10, 0, 0, 0, 1],           // Timestamp, full, overflow 1
        &[0x9e, 4, 1, 2, 1, 0, 0, 0],            // unknown option, NOP, EOL
    ];
    for opts in cases {
        let (mut f, mut s) = fwd();
        let mut frame = opt_frame(REMOTE, false, opts, &udp(1, 2, 8));
        rx(&mut f, &mut s, &mut frame);
        assert_eq!(s.sent.len(), 1, "{opts:?}");
        let ip = Ipv4Packet::new_checked(&s.sent[0].frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ip.options(), opts);
    }
}

#[test]
fn fragmentation_copies_copied_options_only() {
    let (mut f, mut s) = with_mtu(600);
    // Router Alert (copied), Record Route (not copied) with room, NOP pad.
    let opts = [148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 1];
    let payload = udp(1, 2, 1000);
    let mut frame = opt_frame(REMOTE, false, &opts, &payload);
    rx(&mut f, &mut s, &mut frame);
    assert!(s.sent.len() >= 2);
    let mut data = Vec::new();
    for (i, out) in s.sent.iter().enumerate() {
        let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(ip.total_len() <= 600);
        assert_eq!(ip.ttl(), 63);
        if i == 0 {
            assert_eq!(
                ip.options(),
                &[148, 4, 0, 0, 7, 7, 8, 192, 168, 20, 200, 1],
                "the first fragment has all options, Record Route recorded"
            );
        } else {
            assert_eq!(ip.options(), &[148, 4, 0, 0], "only the copied option");
        }
        assert_eq!(ip.frag_offset(), data.len());
        data.extend_from_slice(ip.payload());
    }
    assert_eq!(data, payload);
}

/// Regression (forward fuzz target): a vnet header asking for a checksum
/// inside the IP header, on a packet to fragment that has options. The
/// header must not be rewritten (it lost its IHL, and the option code then
/// indexed out of bounds): dropped as bad_header.
#[test]
fn partial_checksum_inside_ip_header_is_refused() {
    for csum_start in [0u16, 14, 20, 34, 37] {
        let (mut f, mut s) = with_mtu(600);
        let opts = [148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 1];
        let mut frame = opt_frame(REMOTE, false, &opts, &udp(1, 2, 1000));
        let vnet = VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            csum_start,
            csum_offset: 0,
            ..Default::default()
        };
        run(&mut f, &mut s, &mut frame, &with_vnet(vnet));
        assert!(s.sent.is_empty(), "csum_start {csum_start}");
        assert_eq!(drops(&f, 0, DropReason::BadHeader), 1);
    }
}
