//! IPv6 forwarding tests (RFC 8200, RFC 4443) with byte fixtures and the
//! mock TX sink of [`super::tests`].
use std::net::Ipv6Addr;

use super::tests::{drops, MockSink, HOST_A, HOST_B, MAC0, MAC1};
use super::*;
use crate::ports::PortInfo;
use crate::rib::nexthop::NextHop;
use crate::wire::ethernet::{ethertype, EthernetRepr};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv6::{class, next_header};

pub(crate) fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// HOST_A on port 0, and the router's addresses.
const SRC: &str = "fd00:10::100";
const OURS0: &str = "fd00:10::200";
const LL0: &str = "fe80::a0";
/// Behind HOST_B (fd00:20::100) on port 1.
const REMOTE: &str = "fd00:172:20:2::5";
/// Behind an IPv4-mapped next hop: HOST_A's IPv4 address on port 0.
const MAPPED_REMOTE: &str = "fd00:172:20:9::5";

pub(crate) fn shared6(mtu1: u16) -> Arc<Shared> {
    let ports = vec![
        PortInfo {
            id: 0,
            name: "eth1".into(),
            ifname: "eth1".into(),
            ifindex: 2,
            mac: MAC0,
            mtu: 1500,
            addrs: vec!["192.168.10.200/24".parse().unwrap()],
            addrs6: vec![
                format!("{LL0}/64").parse().unwrap(),
                format!("{OURS0}/64").parse().unwrap(),
            ],
        },
        PortInfo {
            id: 1,
            name: "eth2".into(),
            ifname: "eth2".into(),
            ifindex: 3,
            mac: MAC1,
            mtu: mtu1,
            addrs: vec!["192.168.20.200/24".parse().unwrap()],
            addrs6: vec![
                "fe80::a1/64".parse().unwrap(),
                "fd00:20::200/64".parse().unwrap(),
            ],
        },
    ];
    let shared = Shared::new(ports, 1);
    let hops = vec![
        NextHop::Connected { port: 0 }, // 0
        NextHop::Connected { port: 1 }, // 1
        NextHop::Gateway {
            port: 1,
            gw: v6("fd00:20::100"),
        }, // 2
        NextHop::Local,                 // 3
        NextHop::Gateway {
            port: 0,
            gw: v6("::ffff:192.168.10.100"),
        }, // 4
        NextHop::Blackhole,             // 5
        NextHop::Unreachable,           // 6
    ];
    shared
        .nexthops6
        .store(Arc::new(NextHopTable { entries: hops }));
    let net = |s: &str| s.parse::<ipnet::Ipv6Net>().unwrap();
    shared
        .fib6
        .apply(&[
            fib::Change::Upsert(net("fd00:10::/64"), 0),
            fib::Change::Upsert(net("fd00:20::/64"), 1),
            fib::Change::Upsert(net("fd00:172:20:2::/64"), 2),
            fib::Change::Upsert(net("fd00:10::200/128"), 3),
            fib::Change::Upsert(net("fd00:20::200/128"), 3),
            fib::Change::Upsert(net("fe80::a0/128"), 3),
            fib::Change::Upsert(net("fd00:172:20:9::/64"), 4),
            fib::Change::Upsert(net("fd00:99::/32"), 5),
            fib::Change::Upsert(net("fd00:98::/32"), 6),
        ])
        .unwrap();
    {
        let w = shared.neigh6.writer().unwrap();
        w.upsert(0, v6(SRC), HOST_A, NeighState::Reachable);
        w.upsert(1, v6("fd00:20::100"), HOST_B, NeighState::Reachable);
        w.upsert(1, v6("fd00:20::66"), [0; 6], NeighState::Failed);
        let w4 = shared.neigh.writer().unwrap();
        w4.upsert(
            0,
            "192.168.10.100".parse().unwrap(),
            HOST_A,
            NeighState::Reachable,
        );
    }
    shared
}

fn fwd6(mtu1: u16) -> (Forwarder, MockSink) {
    (
        Forwarder::new(shared6(mtu1), 0, FwdOptions::default()),
        MockSink::default(),
    )
}

/// An Ethernet/IPv6 frame from HOST_A to port 0's MAC (or `dst_mac`).
pub(crate) fn frame6(
    dst_mac: MacAddr,
    src: &str,
    dst: &str,
    hop: u8,
    nh: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40 + payload.len()];
    EthernetRepr {
        dst: dst_mac,
        src: HOST_A,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut f)
    .unwrap();
    ipv6::emit_header(
        &mut f[14..],
        &v6(src),
        &v6(dst),
        nh,
        payload.len() as u16,
        hop,
    )
    .unwrap();
    // A flow label, so forwarding is seen to keep it.
    f[15] |= 0x0a;
    f[16] = 0xbc;
    f[54..].copy_from_slice(payload);
    f
}

pub(crate) fn udp6(dst: &str, hop: u8, len: usize) -> Vec<u8> {
    let mut u = vec![0u8; 8 + len];
    u[0..2].copy_from_slice(&1000u16.to_be_bytes());
    u[2..4].copy_from_slice(&2000u16.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    frame6(MAC0, SRC, dst, hop, next_header::UDP, &u)
}

pub(crate) fn icmp6(src: &str, dst: &str, t: u8, word: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + body.len()];
    icmpv6::emit(&mut m, &v6(src), &v6(dst), t, 0, word, body).unwrap();
    m
}

fn rx6(f: &mut Forwarder, s: &mut MockSink, frame: &mut [u8]) {
    let b = f.begin_batch(Instant::now());
    f.process(&b, 0, frame, &FrameMeta::default(), s);
}

/// The ICMPv6 message in a frame the router sent, checksum verified by
/// smoltcp's parser.
pub(crate) fn sent_icmp6(frame: &[u8]) -> (Ipv6Packet<&[u8]>, u8, u8, u32) {
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!(ip.next_header(), next_header::ICMPV6);
    let theirs = smoltcp::wire::Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(theirs.verify_checksum(&ip.src(), &ip.dst()));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    let (t, c, w) = (icmp.msg_type(), icmp.code(), icmp.word());
    (ip, t, c, w)
}

#[test]
fn forwards_to_a_gateway_with_hop_limit_one_lower() {
    let (mut f, mut s) = fwd6(1500);
    let mut fr = udp6(REMOTE, 64, 20);
    let orig = fr.clone();
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1, "{:?}", s.punted);
    let out = &s.sent[0];
    assert_eq!(out.port, 1);
    assert_eq!(&out.frame[0..6], &HOST_B);
    assert_eq!(&out.frame[6..12], &MAC1);
    let ip = Ipv6Packet::new_checked(&out.frame[14..]).unwrap();
    assert_eq!(ip.hop_limit(), 63);
    assert_eq!(ip.flow_label(), 0xabc00);
    // Everything but the MACs and the hop limit is untouched.
    assert_eq!(&out.frame[14..21], &orig[14..21]);
    assert_eq!(&out.frame[22..], &orig[22..]);
}

#[test]
fn ipv4_mapped_next_hop_uses_the_arp_entry() {
    let (mut f, mut s) = fwd6(1500);
    let mut fr = udp6(MAPPED_REMOTE, 64, 4);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1);
    assert_eq!((s.sent[0].port, &s.sent[0].frame[0..6]), (0, &HOST_A[..]));
}

#[test]
fn hop_limit_expiry_sends_time_exceeded_from_the_ingress_port() {
    let (mut f, mut s) = fwd6(1500);
    let mut fr = udp6(REMOTE, 1, 20);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1);
    let (ip, t, c, _) = sent_icmp6(&s.sent[0].frame);
    assert_eq!((t, c), (icmpv6::msg::TIME_EXCEEDED, 0));
    assert_eq!((ip.src(), ip.dst()), (v6(OURS0), v6(SRC)));
    assert_eq!(&s.sent[0].frame[0..6], &HOST_A);
    // The quote starts with the packet as received.
    assert_eq!(&ip.payload()[8..48], &fr[14..54]);
    assert_eq!(drops(&f, 0, DropReason::TtlExceeded), 1);
}

#[test]
fn too_big_gets_packet_too_big_with_the_egress_mtu() {
    let (mut f, mut s) = fwd6(1400);
    let mut fr = udp6(REMOTE, 64, 1400);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1);
    let (ip, t, _, mtu) = sent_icmp6(&s.sent[0].frame);
    assert_eq!((t, mtu), (icmpv6::msg::PACKET_TOO_BIG, 1400));
    assert_eq!(ip.total_len(), 1280, "quotes as much as fits in 1280");
    assert_eq!(drops(&f, 0, DropReason::Mtu), 1);
    // Exactly the MTU passes.
    let mut fr = udp6(REMOTE, 64, 1400 - 48);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 2);
    assert_eq!(s.sent[1].port, 1);
}

#[test]
fn no_route_blackhole_unreachable() {
    let (mut f, mut s) = fwd6(1500);
    rx6(&mut f, &mut s, &mut udp6("2001:db8::1", 64, 4));
    let (_, t, c, _) = sent_icmp6(&s.sent[0].frame);
    assert_eq!(
        (t, c),
        (icmpv6::msg::DST_UNREACHABLE, icmpv6::unreach::NO_ROUTE)
    );
    rx6(&mut f, &mut s, &mut udp6("fd00:99::1", 64, 4));
    assert_eq!(s.sent.len(), 1, "blackhole: silent");
    rx6(&mut f, &mut s, &mut udp6("fd00:98::1", 64, 4));
    let (_, t, c, _) = sent_icmp6(&s.sent[1].frame);
    assert_eq!(
        (t, c),
        (icmpv6::msg::DST_UNREACHABLE, icmpv6::unreach::ADDRESS)
    );
    assert_eq!(drops(&f, 0, DropReason::NoRoute), 3);
}

#[test]
fn unresolved_neighbour_goes_to_ndp_and_failed_gets_address_unreachable() {
    let (mut f, mut s) = fwd6(1500);
    rx6(&mut f, &mut s, &mut udp6("fd00:20::77", 64, 4));
    assert!(s.sent.is_empty());
    assert_eq!(
        s.punted[0].0,
        Punt::Resolve6 {
            port: 1,
            next_hop: v6("fd00:20::77")
        }
    );
    rx6(&mut f, &mut s, &mut udp6("fd00:20::66", 64, 4));
    let (_, t, c, _) = sent_icmp6(&s.sent[0].frame);
    assert_eq!(
        (t, c),
        (icmpv6::msg::DST_UNREACHABLE, icmpv6::unreach::ADDRESS)
    );
    assert_eq!(drops(&f, 0, DropReason::NeighUnresolved), 1);
}

#[test]
fn echo_is_answered_on_global_and_link_local() {
    for ours in [OURS0, LL0, "fd00:20::200"] {
        let (mut f, mut s) = fwd6(1500);
        let src = if ours == LL0 { "fe80::64" } else { SRC };
        let req = icmp6(src, ours, icmpv6::msg::ECHO_REQUEST, 0x0007_0001, b"ping6");
        let mut fr = frame6(MAC0, src, ours, 64, next_header::ICMPV6, &req);
        rx6(&mut f, &mut s, &mut fr);
        assert_eq!(s.sent.len(), 1, "{ours}");
        let (ip, t, _, w) = sent_icmp6(&s.sent[0].frame);
        assert_eq!((t, w), (icmpv6::msg::ECHO_REPLY, 0x0007_0001));
        assert_eq!((ip.src(), ip.dst()), (v6(ours), v6(src)));
        assert_eq!(&ip.payload()[8..], b"ping6");
    }
}

#[test]
fn neighbor_solicitation_to_our_group_goes_to_the_slow_path() {
    let (mut f, mut s) = fwd6(1500);
    let group = class::solicited_node(&v6(OURS0));
    let mut body = v6(OURS0).octets().to_vec();
    body.extend([1, 1, 2, 0, 0, 0, 0, 0x64]);
    let ns = icmp6(
        SRC,
        &group.to_string(),
        icmpv6::msg::NEIGHBOR_SOLICIT,
        0,
        &body,
    );
    let mut fr = frame6(
        class::multicast_mac(&group),
        SRC,
        &group.to_string(),
        255,
        next_header::ICMPV6,
        &ns,
    );
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.punted.len(), 1);
    assert_eq!(s.punted[0].0, Punt::Ndp);
    // Another node's group is not ours.
    let other = class::solicited_node(&v6("fd00:10::1234"));
    let mut fr = frame6(
        class::multicast_mac(&other),
        SRC,
        &other.to_string(),
        255,
        next_header::ICMPV6,
        &ns,
    );
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.punted.len(), 1);
    assert_eq!(drops(&f, 0, DropReason::NotForUs), 1);
}

#[test]
fn martians_and_malformed_are_dropped_and_counted() {
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (
            frame6(MAC0, "::1", REMOTE, 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, "ff02::1", REMOTE, 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, SRC, "::", 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, SRC, "::1", 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, "::ffff:10.0.0.1", REMOTE, 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, SRC, "::ffff:10.0.0.1", 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, "::", REMOTE, 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, OURS0, REMOTE, 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, SRC, "fe80::99", 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
        (
            frame6(MAC0, SRC, "ff05::1", 64, 17, &[0; 8]),
            DropReason::NotForUs,
        ),
        (
            frame6(MAC0, SRC, "ff01::1", 64, 17, &[0; 8]),
            DropReason::Martian,
        ),
    ];
    for (i, (mut fr, reason)) in cases.into_iter().enumerate() {
        let (mut f, mut s) = fwd6(1500);
        rx6(&mut f, &mut s, &mut fr);
        assert!(s.sent.is_empty() && s.punted.is_empty(), "case {i}");
        assert_eq!(drops(&f, 0, reason), 1, "case {i}: {reason:?}");
    }
    // Malformed: payload length beyond the frame, wrong version, short.
    let (mut f, mut s) = fwd6(1500);
    let mut fr = udp6(REMOTE, 64, 8);
    fr[18..20].copy_from_slice(&100u16.to_be_bytes());
    rx6(&mut f, &mut s, &mut fr);
    let mut fr = udp6(REMOTE, 64, 8);
    fr[14] = 0x40;
    rx6(&mut f, &mut s, &mut fr);
    let mut fr = udp6(REMOTE, 64, 8);
    rx6(&mut f, &mut s, &mut fr[..50]);
    assert!(s.sent.is_empty());
    assert_eq!(drops(&f, 0, DropReason::BadHeader), 3);
}

#[test]
fn link_local_source_is_not_forwarded_off_link() {
    let (mut f, mut s) = fwd6(1500);
    let mut fr = frame6(MAC0, "fe80::64", REMOTE, 64, 17, &[0; 8]);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1);
    let (ip, t, c, _) = sent_icmp6(&s.sent[0].frame);
    assert_eq!(
        (t, c),
        (icmpv6::msg::DST_UNREACHABLE, icmpv6::unreach::BEYOND_SCOPE)
    );
    assert_eq!(
        ip.src(),
        v6(LL0),
        "a link-local destination gets our link-local"
    );
    assert_eq!(drops(&f, 0, DropReason::Martian), 1);
}

#[test]
fn no_error_about_an_icmpv6_error() {
    let (mut f, mut s) = fwd6(1500);
    let err = icmp6(SRC, REMOTE, icmpv6::msg::DST_UNREACHABLE, 0, &[0; 48]);
    let mut fr = frame6(MAC0, SRC, REMOTE, 1, next_header::ICMPV6, &err);
    rx6(&mut f, &mut s, &mut fr);
    assert!(s.sent.is_empty());
    assert_eq!(drops(&f, 0, DropReason::TtlExceeded), 1);
    // An echo request with hop limit 1 does get one.
    let req = icmp6(SRC, REMOTE, icmpv6::msg::ECHO_REQUEST, 1, b"x");
    let mut fr = frame6(MAC0, SRC, REMOTE, 1, next_header::ICMPV6, &req);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1);
}

#[test]
fn hop_by_hop_is_passed_over_for_the_five_tuple_and_forwarded() {
    let (mut f, mut s) = fwd6(1500);
    let mut p = vec![next_header::UDP, 0, 1, 4, 0, 0, 0, 0];
    p.extend([0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0]);
    let mut fr = frame6(MAC0, SRC, REMOTE, 64, next_header::HOP_BY_HOP, &p);
    let ip = Ipv6Packet::new_checked(&fr[14..]).unwrap();
    let ul = ip.upper_layer().unwrap();
    assert_eq!((ul.protocol, ul.offset), (next_header::UDP, Some(8)));
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1, "RFC 9673: Hop-by-Hop is no reason to punt");
    assert_eq!(s.sent[0].port, 1);
}

#[test]
fn unknown_next_header_to_us_gets_parameter_problem_at_that_field() {
    let (mut f, mut s) = fwd6(1500);
    let mut fr = frame6(MAC0, SRC, OURS0, 64, 253, &[0; 8]);
    rx6(&mut f, &mut s, &mut fr);
    let (_, t, c, ptr) = sent_icmp6(&s.sent[0].frame);
    assert_eq!((t, c, ptr), (icmpv6::msg::PARAM_PROBLEM, 1, 6));
    let mut fr = udp6(OURS0, 64, 4);
    rx6(&mut f, &mut s, &mut fr);
    let (_, t, c, _) = sent_icmp6(&s.sent[1].frame);
    assert_eq!(
        (t, c),
        (icmpv6::msg::DST_UNREACHABLE, icmpv6::unreach::PORT)
    );
}

#[test]
fn errors_are_rate_limited() {
    let mut f = Forwarder::new(
        shared6(1500),
        0,
        FwdOptions {
            icmp: crate::dataplane::icmp_out::IcmpRateLimit {
                per_sec: 1,
                burst: 2,
            },
            ..FwdOptions::default()
        },
    );
    let mut s = MockSink::default();
    for _ in 0..5 {
        rx6(&mut f, &mut s, &mut udp6(REMOTE, 1, 4));
    }
    assert_eq!(s.sent.len(), 2);
    assert_eq!(drops(&f, 0, DropReason::TtlExceeded), 5);
}

#[test]
fn drop_events_read_ipv6_past_extension_headers() {
    use crate::dataplane::monitor::DropEvent;
    let mut p = vec![next_header::UDP, 0, 1, 4, 0, 0, 0, 0];
    p.extend([0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0]);
    let fr = frame6(MAC0, SRC, REMOTE, 1, next_header::HOP_BY_HOP, &p);
    let e = DropEvent::from_frame(0, 0, DropReason::TtlExceeded, &fr, None);
    let ip = e.ip.unwrap();
    assert_eq!((ip.src, ip.dst), (v6(SRC).into(), v6(REMOTE).into()));
    assert_eq!(
        (ip.protocol, ip.ttl, ip.l4),
        (next_header::UDP, 1, Some((1000, 2000)))
    );
    // A truncated one still shows its addresses.
    let e = DropEvent::from_frame(0, 0, DropReason::BadHeader, &fr[..60], None);
    assert_eq!(e.ip.unwrap().l4, None);
}

/// A TCP SYN (header only) from `sport` to `dport`; checksum left 0.
fn tcp6(dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x02;
    frame6(MAC0, SRC, dst, 64, next_header::TCP, &t)
}

#[test]
fn bgp_tcp_to_us_goes_to_the_stack_and_other_tcp_is_port_unreachable() {
    let (mut f, mut s) = fwd6(1500);
    // To port 179, and a peer's answer from 179 to the stack's ephemeral range.
    for (sport, dport) in [(40000, 179), (179, 50000)] {
        let mut fr = tcp6(OURS0, sport, dport);
        rx6(&mut f, &mut s, &mut fr);
    }
    assert_eq!(s.punted.len(), 2);
    assert!(s.punted.iter().all(|p| p.0 == Punt::LocalTcp));
    assert!(s.sent.is_empty());
    // Anything else: RFC 4443 §3.1 port unreachable, as before.
    let mut fr = tcp6(OURS0, 40000, 22);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.punted.len(), 2);
    let (_, t, c, _) = sent_icmp6(&s.sent[0].frame);
    assert_eq!(
        (t, c),
        (icmpv6::msg::DST_UNREACHABLE, icmpv6::unreach::PORT)
    );
    // No stack running: port 179 too.
    f.shared
        .local_tcp
        .detached
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut fr = tcp6(OURS0, 40000, 179);
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.punted.len(), 2);
    assert_eq!(s.sent.len(), 2);
}

/// RFC 8950: IPv4 routes via IPv6 neighbours (`NextHop::Gateway6`), their
/// MACs from the NDP table.
#[test]
fn ipv4_route_via_an_ipv6_next_hop_uses_ndp() {
    use super::tests::{ip_frame, parse_icmp, udp};
    use crate::wire::icmp::{msg, unreach};
    use crate::wire::ipv4::protocol;
    let shared = shared6(1500);
    shared.nexthops.store(Arc::new(NextHopTable {
        entries: vec![
            // Resolved, not yet known, failed.
            NextHop::Gateway6 {
                port: 1,
                gw: v6("fd00:20::100"),
            },
            NextHop::Gateway6 {
                port: 1,
                gw: v6("fd00:20::77"),
            },
            NextHop::Gateway6 {
                port: 1,
                gw: v6("fd00:20::66"),
            },
            NextHop::Connected { port: 0 },
        ],
    }));
    let net = |s: &str| s.parse::<ipnet::Ipv4Net>().unwrap();
    shared
        .fib
        .apply(&[
            fib::Change::Upsert(net("172.20.5.0/24"), 0),
            fib::Change::Upsert(net("172.20.6.0/24"), 1),
            fib::Change::Upsert(net("172.20.7.0/24"), 2),
            fib::Change::Upsert(net("192.168.10.0/24"), 3),
        ])
        .unwrap();
    {
        let w4 = shared.neigh.writer().unwrap();
        w4.upsert(
            0,
            "192.168.10.100".parse().unwrap(),
            HOST_A,
            NeighState::Reachable,
        );
    }
    let mut f = Forwarder::new(shared, 0, FwdOptions::default());
    let mut s = MockSink::default();
    let dgram = udp(4000, 53, 8);
    let mut fr = ip_frame(
        "192.168.10.100",
        "172.20.5.9",
        64,
        false,
        protocol::UDP,
        &dgram,
    );
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 1, "{:?}", s.punted);
    let out = &s.sent[0];
    assert_eq!((out.port, &out.frame[0..6]), (1, &HOST_B[..]));
    assert_eq!(&out.frame[12..14], &ethertype::IPV4.to_be_bytes());
    let ip = Ipv4Packet::new_checked(&out.frame[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    // Not known yet: Neighbor Solicitation, with the IPv4 packet waiting.
    let mut fr = ip_frame(
        "192.168.10.100",
        "172.20.6.9",
        64,
        false,
        protocol::UDP,
        &dgram,
    );
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(
        s.punted.last().map(|p| p.0),
        Some(Punt::Resolve6 {
            port: 1,
            next_hop: v6("fd00:20::77")
        })
    );
    // Failed: ICMP host unreachable to the source.
    let mut fr = ip_frame(
        "192.168.10.100",
        "172.20.7.9",
        64,
        false,
        protocol::UDP,
        &dgram,
    );
    rx6(&mut f, &mut s, &mut fr);
    assert_eq!(s.sent.len(), 2);
    let (_, t, c) = parse_icmp(&s.sent[1].frame);
    assert_eq!((t, c), (msg::DST_UNREACHABLE, unreach::HOST));
    assert_eq!(drops(&f, 0, DropReason::NeighUnresolved), 1);
    // TTL expiry comes first, as for any next hop.
    let mut fr = ip_frame(
        "192.168.10.100",
        "172.20.5.9",
        1,
        false,
        protocol::UDP,
        &dgram,
    );
    rx6(&mut f, &mut s, &mut fr);
    let (_, t, _) = parse_icmp(&s.sent[2].frame);
    assert_eq!(t, msg::TIME_EXCEEDED);
}
