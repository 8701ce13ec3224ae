//! Each verdict of `route get` on the forwarding test rig (two ports,
//! routes of every kind, neighbours in every state).
use super::*;
use crate::dataplane::forward::tests::{shared_with, HOST_A, HOST_B};
use crate::wire::icmp::{msg, unreach};

fn probe(dst: &str) -> Probe {
    Probe::to(ip(dst))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn run(shared: &Arc<Shared>, p: &Probe) -> Trace {
    explain(shared, FwdOptions::default(), p).unwrap()
}

fn dropped(t: &Trace) -> (DropReason, Option<(u8, u8)>) {
    match t.verdict {
        Verdict::Dropped { reason, icmp, .. } => (reason, icmp.map(|i| (i.msg_type, i.code))),
        ref v => panic!("not dropped: {v:?}"),
    }
}

#[test]
fn forwarded_via_gateway_moves_no_real_counter() {
    let s = shared_with(1500);
    let t = run(&s, &probe("172.20.2.249"));
    assert_eq!(
        t.egress,
        ProbeEgress::Out {
            port: 1,
            next_hop: ip("192.168.20.100")
        }
    );
    assert_eq!(
        t.verdict,
        Verdict::Forwarded {
            port: 1,
            dst_mac: HOST_B,
            frames: 1
        }
    );
    // Default source: a host on the other port's subnet, coming in there.
    assert_eq!((t.in_port, t.src), (0, ip("192.168.10.1")));
    assert_eq!(t.neighbour.map(|n| n.mac), Some(HOST_B));
    let tot = s.counters.totals(0);
    assert_eq!((tot.rx_packets, s.counters.totals(1).tx_packets), (0, 0));
}

#[test]
fn each_drop_reason_with_its_icmp_error() {
    let s = shared_with(1400);
    // No route: net unreachable back to the source, out of the ingress port.
    let t = run(&s, &probe("8.8.8.8"));
    assert_eq!(
        dropped(&t),
        (
            DropReason::NoRoute,
            Some((msg::DST_UNREACHABLE, unreach::NET))
        )
    );
    assert_eq!(t.reply_port, Some(t.in_port));
    // Blackhole: dropped silently.
    let t = run(&s, &probe("10.99.1.1"));
    assert_eq!(t.egress, ProbeEgress::Blackhole);
    assert_eq!(dropped(&t), (DropReason::NoRoute, None));
    // Unreachable route: host unreachable.
    let t = run(&s, &probe("10.10.1.5"));
    assert_eq!(
        dropped(&t),
        (
            DropReason::NoRoute,
            Some((msg::DST_UNREACHABLE, unreach::HOST))
        )
    );
    // TTL.
    let t = run(
        &s,
        &Probe {
            ttl: 1,
            ..probe("172.20.2.249")
        },
    );
    assert_eq!(
        dropped(&t),
        (DropReason::TtlExceeded, Some((msg::TIME_EXCEEDED, 0)))
    );
    // Martian source.
    let t = run(
        &s,
        &Probe {
            src: Some(ip("127.0.0.1")),
            iif: Some(0),
            ..probe("172.20.2.249")
        },
    );
    assert_eq!(dropped(&t), (DropReason::Martian, None));
    // Neighbour failed: host unreachable.
    let t = run(&s, &probe("192.168.20.66"));
    assert_eq!(
        dropped(&t),
        (
            DropReason::NeighUnresolved,
            Some((msg::DST_UNREACHABLE, unreach::HOST))
        )
    );
    // MTU with DF: fragmentation needed (port 1's MTU is 1400).
    let t = run(
        &s,
        &Probe {
            len: 1500,
            dont_frag: true,
            ..probe("172.20.2.249")
        },
    );
    assert_eq!(
        dropped(&t),
        (
            DropReason::Mtu,
            Some((msg::DST_UNREACHABLE, unreach::FRAG_NEEDED))
        )
    );
    // Without DF it is fragmented.
    let t = run(
        &s,
        &Probe {
            len: 1500,
            ..probe("172.20.2.249")
        },
    );
    assert!(
        matches!(t.verdict, Verdict::Forwarded { frames: 2, .. }),
        "{:?}",
        t.verdict
    );
    // None of it touched the real counters.
    assert!(s.counters.totals(0).drops.values().all(|&n| n == 0));
}

#[test]
fn unknown_neighbour_waits_and_local_delivery() {
    let s = shared_with(1500);
    let t = run(&s, &probe("192.168.20.77"));
    assert_eq!(
        t.verdict,
        Verdict::AwaitingNeighbour {
            port: 1,
            next_hop: ip("192.168.20.77")
        }
    );
    assert_eq!(t.neighbour, None);
    let t = run(
        &s,
        &Probe {
            iif: Some(0),
            ..probe("192.168.10.200")
        },
    );
    assert_eq!(t.egress, ProbeEgress::Local);
    assert_eq!(t.verdict, Verdict::LocalAnswered { port: 0 });
    let t = run(
        &s,
        &Probe {
            iif: Some(0),
            proto: ProbeProto::Tcp,
            dport: 179,
            sport: 40000,
            ..probe("192.168.10.200")
        },
    );
    assert_eq!(t.verdict, Verdict::LocalTcp);
    let t = run(
        &s,
        &Probe {
            iif: Some(0),
            proto: ProbeProto::Udp,
            dport: 53,
            ..probe("192.168.10.200")
        },
    );
    assert_eq!(
        dropped(&t),
        (
            DropReason::LocalUnsupported,
            Some((msg::DST_UNREACHABLE, unreach::PORT))
        )
    );
    assert!(matches!(
        explain(
            &s,
            FwdOptions::default(),
            &Probe {
                iif: Some(9),
                ..probe("1.1.1.1")
            }
        ),
        Err(ExplainError::NoPort(9))
    ));
}

#[test]
fn ecmp_member_follows_the_flow() {
    let s = shared_with(1500);
    let flow = |sport| Probe {
        src: Some(ip("192.168.10.100")),
        proto: ProbeProto::Udp,
        sport,
        dport: 80,
        ..probe("10.50.1.1")
    };
    let mut seen = std::collections::HashSet::new();
    for sport in 1000..1064 {
        let t = run(&s, &flow(sport));
        let (i, n) = t.ecmp.expect("an ECMP route");
        assert_eq!(n, 3);
        // The same flow always picks the same member, and it is the one
        // the packet left by.
        assert_eq!(run(&s, &flow(sport)).ecmp, Some((i, n)));
        let ProbeEgress::Out { port, .. } = t.egress else {
            panic!("{:?}", t.egress)
        };
        match t.verdict {
            Verdict::Forwarded { port: p, .. } | Verdict::AwaitingNeighbour { port: p, .. } => {
                assert_eq!(p, port)
            }
            ref v => panic!("{v:?}"),
        }
        seen.insert(i);
    }
    assert_eq!(seen.len(), 3, "64 flows spread over all members");
}

#[test]
fn explain_is_invisible_to_a_live_monitor() {
    let s = shared_with(1500);
    let mut live = s.monitor.attach(1000).unwrap();
    let t = run(&s, &probe("8.8.8.8"));
    assert_eq!(dropped(&t).0, DropReason::NoRoute);
    let mut out = Vec::new();
    live.drain(&mut out, 10);
    assert!(out.is_empty());
}

// --- IPv6: the same verdicts through the same `process` -------------------

mod v6 {
    use super::*;
    use crate::dataplane::forward::tests6::shared6;
    use crate::wire::icmpv6::{msg as msg6, unreach as unreach6};

    #[test]
    fn forwarded_via_gateway_with_a_default_source() {
        let s = shared6(1500);
        let t = run(&s, &probe("fd00:172:20:2::5"));
        assert_eq!(
            t.egress,
            ProbeEgress::Out {
                port: 1,
                next_hop: ip("fd00:20::100")
            }
        );
        assert_eq!(
            t.verdict,
            Verdict::Forwarded {
                port: 1,
                dst_mac: HOST_B,
                frames: 1
            }
        );
        // A host on port 0's global subnet (not its link-local one, and
        // not the Subnet-Router anycast address), coming in there.
        assert_eq!((t.in_port, t.src), (0, ip("fd00:10::1")));
        assert_eq!(t.neighbour.map(|n| n.mac), Some(HOST_B));
        assert_eq!(s.counters.totals(1).tx_packets, 0);
    }

    #[test]
    fn each_drop_with_its_icmpv6_error() {
        let s = shared6(1400);
        // No route: ICMPv6 no-route back out of the ingress port.
        let t = run(&s, &probe("2001:db8:77::1"));
        assert_eq!(
            dropped(&t),
            (
                DropReason::NoRoute,
                Some((msg6::DST_UNREACHABLE, unreach6::NO_ROUTE))
            )
        );
        assert_eq!(t.reply_port, Some(t.in_port));
        // Blackhole: silent; unreachable route: address unreachable.
        let t = run(&s, &probe("fd00:99::1"));
        assert_eq!(
            (t.egress, dropped(&t)),
            (ProbeEgress::Blackhole, (DropReason::NoRoute, None))
        );
        let t = run(&s, &probe("fd00:98::1"));
        assert_eq!(
            dropped(&t),
            (
                DropReason::NoRoute,
                Some((msg6::DST_UNREACHABLE, unreach6::ADDRESS))
            )
        );
        // Hop limit.
        let t = run(
            &s,
            &Probe {
                ttl: 1,
                ..probe("fd00:172:20:2::5")
            },
        );
        assert_eq!(
            dropped(&t),
            (DropReason::TtlExceeded, Some((msg6::TIME_EXCEEDED, 0)))
        );
        // Too big for port 1 (MTU 1400): Packet Too Big, never fragmented.
        let t = run(
            &s,
            &Probe {
                len: 1401,
                ..probe("fd00:172:20:2::5")
            },
        );
        assert_eq!(
            dropped(&t),
            (DropReason::Mtu, Some((msg6::PACKET_TOO_BIG, 0)))
        );
        let t = run(
            &s,
            &Probe {
                len: 1400,
                ..probe("fd00:172:20:2::5")
            },
        );
        assert!(
            matches!(t.verdict, Verdict::Forwarded { frames: 1, .. }),
            "{:?}",
            t.verdict
        );
        // A martian source (loopback).
        let t = run(
            &s,
            &Probe {
                src: Some(ip("::1")),
                iif: Some(0),
                ..probe("fd00:172:20:2::5")
            },
        );
        assert_eq!(dropped(&t), (DropReason::Martian, None));
        // The failed neighbour: address unreachable.
        let t = run(&s, &probe("fd00:20::66"));
        assert_eq!(
            dropped(&t),
            (
                DropReason::NeighUnresolved,
                Some((msg6::DST_UNREACHABLE, unreach6::ADDRESS))
            )
        );
        assert!(s.counters.totals(0).drops.values().all(|&n| n == 0));
    }

    #[test]
    fn neighbours_by_ndp_or_by_arp_and_local_delivery() {
        let s = shared6(1500);
        // Unknown on port 1: waits for Neighbor Solicitation.
        let t = run(&s, &probe("fd00:20::77"));
        assert_eq!(
            t.verdict,
            Verdict::AwaitingNeighbour {
                port: 1,
                next_hop: ip("fd00:20::77")
            }
        );
        // An IPv4-mapped next hop (BGP over IPv4): its ARP entry is the
        // neighbour.
        let t = run(
            &s,
            &Probe {
                iif: Some(1),
                ..probe("fd00:172:20:9::5")
            },
        );
        assert_eq!(
            t.egress,
            ProbeEgress::Out {
                port: 0,
                next_hop: ip("::ffff:192.168.10.100")
            }
        );
        assert_eq!(t.neighbour.map(|n| n.mac), Some(HOST_A));
        assert!(
            matches!(t.verdict, Verdict::Forwarded { port: 0, .. }),
            "{:?}",
            t.verdict
        );
        // Echo to our own addresses, global and link-local, is answered.
        for ours in ["fd00:10::200", "fe80::a0"] {
            let t = run(
                &s,
                &Probe {
                    iif: Some(0),
                    ..probe(ours)
                },
            );
            assert_eq!(t.egress, ProbeEgress::Local, "{ours}");
            assert_eq!(t.verdict, Verdict::LocalAnswered { port: 0 }, "{ours}");
        }
        let t = run(
            &s,
            &Probe {
                iif: Some(0),
                proto: ProbeProto::Tcp,
                sport: 40000,
                dport: 179,
                ..probe("fd00:10::200")
            },
        );
        assert_eq!(t.verdict, Verdict::LocalTcp);
        // One family per probe.
        assert!(matches!(
            explain(
                &s,
                FwdOptions::default(),
                &Probe {
                    src: Some(ip("192.168.10.1")),
                    ..probe("fd00:20::100")
                }
            ),
            Err(ExplainError::MixedFamilies { .. })
        ));
    }
}
