//! Route manager tests: preference, BGP next-hop resolution, ECMP, and
//! the publication order and id reuse the workers rely on.
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use ipnet::Ipv4Net;

use super::nexthop::{NextHop, NextHopIds};
use super::*;
use crate::config::Gateway;
use crate::config::{LoopbackConfig, StaticRoute, StaticTarget};
use crate::ports::PortId;
use crate::ports::PortInfo;
use crate::shared::Shared;

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}
fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn port(id: PortId, name: &str, addr: &str) -> PortInfo {
    PortInfo {
        id,
        name: name.into(),
        ifname: name.into(),
        ifindex: u32::from(id) + 10,
        mac: [2, 0, 0, 0, 0, id as u8],
        mtu: 1500,
        addrs: vec![net(addr)],
        addrs6: Vec::new(),
    }
}

/// The lab: eth0 10.0.2.15/24, eth1 192.168.10.200/24, eth2 192.168.20.200/24,
/// loop1 10.10.1.200/24.
fn lab() -> (Arc<Shared>, RouteManager) {
    let shared = Shared::new(
        vec![
            port(0, "eth0", "10.0.2.15/24"),
            port(1, "eth1", "192.168.10.200/24"),
            port(2, "eth2", "192.168.20.200/24"),
        ],
        1,
    );
    let mut rm = RouteManager::new(shared.clone());
    rm.set_connected(&[LoopbackConfig {
        name: "loop1".into(),
        addresses: vec![net("10.10.1.200/24")],
        addresses6: Vec::new(),
    }])
    .unwrap();
    rm.set_static(&[StaticRoute {
        prefix: net("0.0.0.0/0"),
        target: StaticTarget::Via(vec![Gateway {
            port: 0,
            addr: ip("10.0.2.2"),
        }]),
    }])
    .unwrap();
    (shared, rm)
}

/// What the published FIB + next-hop table say for `addr`.
fn fib_lookup(shared: &Shared, addr: &str) -> Option<NextHop> {
    let id = shared.fib.load().lookup(ip(addr))?;
    Some(shared.nexthops.load().get(id).expect("id in table").clone())
}

fn announce(prefix: &str, hops: &[&str]) -> BgpRouteChange {
    BgpRouteChange::Announce {
        prefix: net(prefix),
        next_hops: hops.iter().map(|h| ip(h).into()).collect(),
        internal: false,
    }
}

#[test]
fn connected_local_loopback_and_default() {
    let (shared, rm) = lab();
    assert_eq!(
        fib_lookup(&shared, "192.168.10.100"),
        Some(NextHop::Connected { port: 1 })
    );
    assert_eq!(fib_lookup(&shared, "192.168.10.200"), Some(NextHop::Local));
    assert_eq!(fib_lookup(&shared, "10.10.1.200"), Some(NextHop::Local));
    assert_eq!(fib_lookup(&shared, "10.10.1.7"), Some(NextHop::Unreachable));
    assert_eq!(
        fib_lookup(&shared, "172.20.2.36"),
        Some(NextHop::Gateway {
            port: 0,
            gw: ip("10.0.2.2")
        })
    );
    let routes = rm.routes();
    // 3 subnets + 3 locals, loop1 subnet + local, default.
    assert_eq!(routes.len(), 9);
    assert_eq!(routes[0].prefix, net("0.0.0.0/0"));
    assert_eq!(routes[0].source, RouteSource::Static);
    assert_eq!(
        routes[0].next_hops,
        vec![RouteHop {
            port: Some("eth0".into()),
            via: Some(ip("10.0.2.2").into())
        }]
    );
    let l = rm.route(&net("10.10.1.200/32")).unwrap();
    assert_eq!(
        (l.source, l.kind, l.interface.as_deref()),
        (RouteSource::Local, "local", Some("loop1"))
    );
    assert_eq!(
        rm.lookup(ip("192.168.20.5")).unwrap().prefix,
        net("192.168.20.0/24")
    );
    let s = rm.summary();
    assert_eq!(
        (s.fib_routes, s.connected, s.local, s.static_routes, s.bgp),
        (9, 4, 4, 1, 0)
    );
}

#[test]
fn preference_by_distance() {
    let (shared, mut rm) = lab();
    // eBGP and static for the same prefix: static (1) beats eBGP (20).
    rm.apply_bgp([announce("172.20.2.0/24", &["192.168.20.100"])])
        .unwrap();
    assert!(rm.bgp_installed(&net("172.20.2.0/24")));
    rm.set_static(&[StaticRoute {
        prefix: net("172.20.2.0/24"),
        target: StaticTarget::Via(vec![Gateway {
            port: 1,
            addr: ip("192.168.10.100"),
        }]),
    }])
    .unwrap();
    assert_eq!(
        fib_lookup(&shared, "172.20.2.1"),
        Some(NextHop::Gateway {
            port: 1,
            gw: ip("192.168.10.100")
        })
    );
    assert!(!rm.bgp_installed(&net("172.20.2.0/24")));
    assert_eq!(
        rm.route(&net("172.20.2.0/24")).unwrap().source,
        RouteSource::Static
    );
    // Static removed (and the default gone): BGP takes over again.
    rm.set_static(&[]).unwrap();
    assert_eq!(
        fib_lookup(&shared, "172.20.2.1"),
        Some(NextHop::Gateway {
            port: 2,
            gw: ip("192.168.20.100")
        })
    );
    assert_eq!(
        rm.route(&net("172.20.2.0/24")).unwrap().distance,
        DISTANCE_EBGP
    );
    // Withdrawn: nothing left (no default route either).
    let out = rm
        .apply_bgp([BgpRouteChange::Withdraw {
            prefix: net("172.20.2.0/24"),
        }])
        .unwrap();
    assert_eq!(out.withdrawn, 1);
    assert_eq!(fib_lookup(&shared, "172.20.2.1"), None);
}

#[test]
fn ibgp_and_ebgp_distances() {
    let (_, mut rm) = lab();
    rm.apply_bgp([BgpRouteChange::Announce {
        prefix: net("172.16.0.0/16"),
        next_hops: vec![ip("192.168.10.1").into()],
        internal: true,
    }])
    .unwrap();
    assert_eq!(
        rm.route(&net("172.16.0.0/16")).unwrap().distance,
        DISTANCE_IBGP
    );
}

#[test]
fn bgp_never_overrides_connected() {
    let (shared, mut rm) = lab();
    let out = rm
        .apply_bgp([
            announce("192.168.10.0/24", &["192.168.20.100"]),
            announce("192.168.10.128/25", &["192.168.20.100"]),
            announce("192.168.10.200/32", &["192.168.20.100"]),
            announce("10.10.1.0/24", &["192.168.20.100"]),
            // Less specific than a connected subnet is fine: LPM keeps the subnet.
            announce("192.168.0.0/16", &["192.168.20.100"]),
        ])
        .unwrap();
    assert_eq!(out.rejected.len(), 4, "{out:?}");
    assert!(matches!(out.rejected[0], BgpReject::Connected { .. }));
    assert_eq!(out.announced, 1);
    assert_eq!(
        fib_lookup(&shared, "192.168.10.130"),
        Some(NextHop::Connected { port: 1 })
    );
    assert_eq!(fib_lookup(&shared, "192.168.10.200"), Some(NextHop::Local));
    assert_eq!(
        fib_lookup(&shared, "192.168.30.1"),
        Some(NextHop::Gateway {
            port: 2,
            gw: ip("192.168.20.100")
        })
    );
    let bad = rm
        .apply_bgp([
            announce("172.20.0.1/24", &["192.168.10.100"]),
            announce("172.20.9.0/24", &[]),
        ])
        .unwrap();
    assert!(matches!(bad.rejected[0], BgpReject::HostBitsSet { .. }));
    assert!(matches!(bad.rejected[1], BgpReject::NoNextHop { .. }));
}

#[test]
fn bgp_next_hop_resolution() {
    let (shared, mut rm) = lab();
    rm.set_static(&[
        StaticRoute {
            prefix: net("0.0.0.0/0"),
            target: StaticTarget::Via(vec![Gateway {
                port: 0,
                addr: ip("10.0.2.2"),
            }]),
        },
        // A next hop behind a static route: use that static's gateway.
        StaticRoute {
            prefix: net("10.99.0.0/16"),
            target: StaticTarget::Via(vec![Gateway {
                port: 2,
                addr: ip("192.168.20.1"),
            }]),
        },
    ])
    .unwrap();
    rm.apply_bgp([
        announce("172.20.0.0/24", &["192.168.10.100"]),
        announce("172.21.0.0/24", &["10.99.1.1"]),
        // Only resolvable via the default route: not installed (FRR's default).
        announce("172.22.0.0/24", &["8.8.8.8"]),
        // Our own address is no next hop.
        announce("172.23.0.0/24", &["192.168.10.200"]),
    ])
    .unwrap();
    assert_eq!(
        fib_lookup(&shared, "172.20.0.5"),
        Some(NextHop::Gateway {
            port: 1,
            gw: ip("192.168.10.100")
        })
    );
    assert_eq!(
        fib_lookup(&shared, "172.21.0.5"),
        Some(NextHop::Gateway {
            port: 2,
            gw: ip("192.168.20.1")
        })
    );
    // Not installed: the default route (static) answers for it.
    assert!(!rm.bgp_installed(&net("172.22.0.0/24")));
    assert!(!rm.bgp_installed(&net("172.23.0.0/24")));
    assert_eq!(rm.bgp_route_count(), 4);
    assert_eq!(
        rm.resolve_next_hop(ip("10.99.3.3").into()),
        Some(vec![(2, ip("192.168.20.1"))])
    );
    assert_eq!(rm.resolve_next_hop(ip("8.8.8.8").into()), None);
    // The static route behind 172.21/24 goes away: its BGP route is removed.
    rm.set_static(&[]).unwrap();
    assert!(!rm.bgp_installed(&net("172.21.0.0/24")));
    assert_eq!(fib_lookup(&shared, "172.21.0.5"), None);
    assert!(rm.bgp_installed(&net("172.20.0.0/24")));
}

#[test]
fn ecmp_from_bgp_and_static() {
    let (shared, mut rm) = lab();
    rm.apply_bgp([announce(
        "172.16.1.1/32",
        &[
            "192.168.20.100",
            "192.168.10.101",
            "192.168.10.100",
            "192.168.10.100",
        ],
    )])
    .unwrap();
    let want = NextHop::Multipath(
        vec![
            (1, ip("192.168.10.100")),
            (1, ip("192.168.10.101")),
            (2, ip("192.168.20.100")),
        ]
        .into_boxed_slice(),
    );
    assert_eq!(fib_lookup(&shared, "172.16.1.1"), Some(want.clone()));
    let e = rm.route(&net("172.16.1.1/32")).unwrap();
    assert_eq!(e.kind, "multipath");
    assert_eq!(e.next_hops.len(), 3);
    assert_eq!(
        e.next_hops[2],
        RouteHop {
            port: Some("eth2".into()),
            via: Some(ip("192.168.20.100").into())
        }
    );
    // A second route with the same next-hop set shares the id.
    rm.apply_bgp([announce(
        "172.16.1.2/32",
        &["192.168.10.100", "192.168.20.100", "192.168.10.101"],
    )])
    .unwrap();
    assert_eq!(
        rm.route(&net("172.16.1.2/32")).unwrap().nexthop_id,
        e.nexthop_id
    );
    // One member withdrawn by re-announcement: two members left.
    rm.apply_bgp([announce(
        "172.16.1.1/32",
        &["192.168.10.100", "192.168.20.100"],
    )])
    .unwrap();
    assert_eq!(rm.route(&net("172.16.1.1/32")).unwrap().next_hops.len(), 2);
    // Static ECMP.
    rm.set_static(&[StaticRoute {
        prefix: net("172.30.0.0/16"),
        target: StaticTarget::Via(vec![
            Gateway {
                port: 2,
                addr: ip("192.168.20.100"),
            },
            Gateway {
                port: 1,
                addr: ip("192.168.10.100"),
            },
        ]),
    }])
    .unwrap();
    assert!(
        matches!(fib_lookup(&shared, "172.30.1.1"), Some(NextHop::Multipath(m)) if m.len() == 2)
    );
}

#[test]
fn next_hop_table_is_a_superset_and_ids_are_interned() {
    let (shared, mut rm) = lab();
    let before = shared.nexthops.load_full();
    rm.apply_bgp([
        announce("172.20.0.0/24", &["192.168.10.100"]),
        announce("172.20.1.0/24", &["192.168.10.101"]),
    ])
    .unwrap();
    let after = shared.nexthops.load_full();
    // Every old id keeps its meaning.
    assert!(after.entries.len() >= before.entries.len());
    assert_eq!(&after.entries[..before.entries.len()], &before.entries[..]);
    // Every FIB id resolves in the published table.
    for (_, id) in shared.fib.routes() {
        assert!(after.get(id).is_some(), "id {id}");
    }
    // Interned: equal next hops, equal ids; no duplicate values.
    let mut seen = HashSet::new();
    for e in after.entries.iter() {
        assert!(seen.insert(e.clone()), "duplicate {e:?}");
    }
    let a = rm.route(&net("172.20.0.0/24")).unwrap().nexthop_id;
    rm.apply_bgp([announce("172.20.5.0/24", &["192.168.10.100"])])
        .unwrap();
    assert_eq!(rm.route(&net("172.20.5.0/24")).unwrap().nexthop_id, a);
    // Withdraw everything using id `a`: the id is not reused at once, and
    // its slot keeps the old next hop for stale readers.
    rm.apply_bgp([
        BgpRouteChange::Withdraw {
            prefix: net("172.20.0.0/24"),
        },
        BgpRouteChange::Withdraw {
            prefix: net("172.20.5.0/24"),
        },
    ])
    .unwrap();
    rm.apply_bgp([announce("172.20.7.0/24", &["192.168.20.100"])])
        .unwrap();
    let table = shared.nexthops.load_full();
    assert_eq!(
        table.get(a),
        Some(&NextHop::Gateway {
            port: 1,
            gw: ip("192.168.10.100")
        })
    );
    assert_ne!(rm.route(&net("172.20.7.0/24")).unwrap().nexthop_id, a);
    // Needed again during the grace period: the same id comes back.
    rm.apply_bgp([announce("172.20.0.0/24", &["192.168.10.100"])])
        .unwrap();
    assert_eq!(rm.route(&net("172.20.0.0/24")).unwrap().nexthop_id, a);
}

#[test]
fn rested_ids_are_reused_after_grace() {
    let mut ids: NextHopIds = NextHopIds::default();
    let t0 = Instant::now();
    let a = ids.intern(&NextHop::Blackhole, 0, t0).unwrap();
    ids.acquire(a);
    ids.release(a, 1, t0);
    // Too early (publications and time).
    let b = ids.intern(&NextHop::Unreachable, 2, t0).unwrap();
    assert_ne!(a, b);
    let later = t0 + ID_REUSE_GRACE;
    let c = ids.intern(&NextHop::Local, 3, later).unwrap();
    assert_eq!(c, a, "rested id reused");
    ids.acquire(c);
    assert_eq!(ids.entries[a as usize], NextHop::Local);
    assert!(!ids.by_value.contains_key(&NextHop::Blackhole));
}

#[test]
fn publication_is_batched_and_idempotent() {
    let (shared, mut rm) = lab();
    let changes: Vec<_> = (0..1000u32)
        .map(|i| {
            announce(
                &format!("172.{}.{}.0/24", 16 + i / 256, i % 256),
                &["192.168.10.100"],
            )
        })
        .collect();
    let out = rm.apply_bgp(changes.clone()).unwrap();
    assert_eq!(out.fib_changes, 1000);
    assert_eq!(shared.fib.load().len(), 9 + 1000);
    // The same announcements again change nothing.
    assert_eq!(rm.apply_bgp(changes).unwrap().fib_changes, 0);
    assert_eq!(rm.clear_bgp().unwrap(), 1000);
    assert_eq!(shared.fib.load().len(), 9);
}

#[test]
fn handle_is_shareable() {
    let (_, rm) = lab();
    let h = rm.into_handle();
    let h2 = Arc::clone(&h);
    std::thread::spawn(move || {
        h2.lock()
            .unwrap()
            .apply_bgp([announce("172.20.0.0/24", &["192.168.10.100"])])
            .unwrap()
    })
    .join()
    .unwrap();
    assert!(h.lock().unwrap().bgp_installed(&net("172.20.0.0/24")));
}

#[test]
fn reload_is_one_batch_and_leaves_unchanged_routes_alone() {
    let (shared, mut rm) = lab();
    rm.apply_bgp([announce("172.20.0.0/24", &["192.168.10.100"])])
        .unwrap();
    let loop1 = LoopbackConfig {
        name: "loop1".into(),
        addresses: vec![net("10.10.1.200/24")],
        addresses6: Vec::new(),
    };
    let default = StaticRoute {
        prefix: net("0.0.0.0/0"),
        target: StaticTarget::Via(vec![Gateway {
            port: 0,
            addr: ip("10.0.2.2"),
        }]),
    };
    let id_of = |s: &Shared, p: &str| {
        s.fib
            .routes()
            .into_iter()
            .find(|(n, _)| *n == net(p))
            .map(|(_, id)| id)
    };
    let default_id = id_of(&shared, "0.0.0.0/0").unwrap();
    let bgp_id = id_of(&shared, "172.20.0.0/24").unwrap();

    // The same config again: nothing reaches the FIB.
    let before = rm.publications();
    assert_eq!(
        rm.reload(std::slice::from_ref(&loop1), std::slice::from_ref(&default))
            .unwrap(),
        0
    );
    assert_eq!(rm.publications(), before + 1);

    // A static route added and loop1 replaced by loop2: one publication,
    // exactly the changed prefixes; the default route and the BGP route keep
    // their next-hop ids.
    let pod = StaticRoute {
        prefix: net("172.20.2.0/24"),
        target: StaticTarget::Via(vec![Gateway {
            port: 2,
            addr: ip("192.168.20.100"),
        }]),
    };
    let loop2 = LoopbackConfig {
        name: "loop2".into(),
        addresses: vec![net("10.10.2.200/24")],
        addresses6: Vec::new(),
    };
    let before = rm.publications();
    let n = rm
        .reload(
            std::slice::from_ref(&loop2),
            &[default.clone(), pod.clone()],
        )
        .unwrap();
    assert_eq!(rm.publications(), before + 1, "one batch");
    // + 172.20.2.0/24, - 10.10.1.0/24, - 10.10.1.200/32, + 10.10.2.0/24, + 10.10.2.200/32
    assert_eq!(n, 5);
    assert_eq!(id_of(&shared, "0.0.0.0/0"), Some(default_id));
    assert_eq!(id_of(&shared, "172.20.0.0/24"), Some(bgp_id));
    assert_eq!(
        fib_lookup(&shared, "172.20.2.249"),
        Some(NextHop::Gateway {
            port: 2,
            gw: ip("192.168.20.100")
        })
    );
    assert_eq!(fib_lookup(&shared, "10.10.2.200"), Some(NextHop::Local));
    // 10.10.1.200 now follows the default route.
    assert_eq!(
        fib_lookup(&shared, "10.10.1.200"),
        Some(NextHop::Gateway {
            port: 0,
            gw: ip("10.0.2.2")
        })
    );
    // And back.
    assert_eq!(rm.reload(&[loop1], &[default]).unwrap(), 5);
    assert_eq!(id_of(&shared, "0.0.0.0/0"), Some(default_id));
}

/// The IPv6 manager: the same code as IPv4's, on the IPv6 FIB.
mod ipv6 {
    use std::net::Ipv6Addr;

    use ipnet::Ipv6Net;

    use super::*;

    fn net6(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }
    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn dual(id: PortId, name: &str, v4: &str, v6: &[&str]) -> PortInfo {
        PortInfo {
            addrs6: v6.iter().map(|s| net6(s)).collect(),
            ..port(id, name, v4)
        }
    }

    fn lab6() -> (Arc<Shared>, RouteManager<V6>) {
        let shared = Shared::new(
            vec![
                dual(
                    0,
                    "eth1",
                    "192.168.10.200/24",
                    &["fe80::a0/64", "fd00:10::200/64"],
                ),
                dual(
                    1,
                    "eth2",
                    "192.168.20.200/24",
                    &["fe80::a1/64", "fd00:20::200/64"],
                ),
            ],
            1,
        );
        let mut rm = RouteManager::<V6>::with_family(shared.clone());
        rm.set_connected(&[LoopbackConfig {
            name: "loop1".into(),
            addresses: Vec::new(),
            addresses6: vec![net6("fd00:10:10:1::200/64")],
        }])
        .unwrap();
        (shared, rm)
    }

    fn hop(shared: &Shared, a: &str) -> Option<NextHop<Ipv6Addr>> {
        let id = shared.fib6.load().lookup(ip6(a))?;
        shared.nexthops6.load().get(id).cloned()
    }

    #[test]
    fn connected_local_and_link_local() {
        let (shared, rm) = lab6();
        assert_eq!(
            hop(&shared, "fd00:10::55"),
            Some(NextHop::Connected { port: 0 })
        );
        assert_eq!(hop(&shared, "fd00:20::200"), Some(NextHop::Local));
        assert_eq!(
            hop(&shared, "fe80::a1"),
            Some(NextHop::Local),
            "our link-local"
        );
        assert_eq!(hop(&shared, "fe80::77"), None, "no connected fe80::/64");
        assert_eq!(hop(&shared, "fd00:10:10:1::5"), Some(NextHop::Unreachable));
        assert!(
            shared.fib.load().lookup(ip("192.168.10.5")).is_none(),
            "IPv4 FIB untouched"
        );
        let routes = rm.routes();
        assert!(routes
            .iter()
            .any(|e| e.prefix == net6("fd00:20::/64") && e.source == RouteSource::Connected));
        assert_eq!(
            rm.lookup(ip6("fd00:20::9")).unwrap().prefix,
            net6("fd00:20::/64")
        );
    }

    #[test]
    fn static_via_global_link_local_and_ecmp() {
        let (shared, mut rm) = lab6();
        rm.set_static(&[
            StaticRoute {
                prefix: net6("::/0"),
                target: StaticTarget::Via(vec![Gateway {
                    port: 1,
                    addr: ip6("fe80::1"),
                }]),
            },
            StaticRoute {
                prefix: net6("fd00:172:20:1::/64"),
                target: StaticTarget::Via(vec![
                    Gateway {
                        port: 0,
                        addr: ip6("fd00:10::101"),
                    },
                    Gateway {
                        port: 0,
                        addr: ip6("fd00:10::100"),
                    },
                ]),
            },
            StaticRoute {
                prefix: net6("fd00:99::/32"),
                target: StaticTarget::Blackhole,
            },
        ])
        .unwrap();
        assert_eq!(
            hop(&shared, "2001:db8::1"),
            Some(NextHop::Gateway {
                port: 1,
                gw: ip6("fe80::1")
            })
        );
        assert!(
            matches!(hop(&shared, "fd00:172:20:1::5"), Some(NextHop::Multipath(m)) if m.len() == 2)
        );
        assert_eq!(hop(&shared, "fd00:99::1"), Some(NextHop::Blackhole));
    }

    #[test]
    fn bgp_with_global_and_ipv4_mapped_next_hops() {
        let (shared, mut rm) = lab6();
        let out = rm
            .apply_bgp([
                BgpRouteChange::Announce {
                    prefix: net6("fd00:172:20:2::/64"),
                    next_hops: vec![ip6("::ffff:192.168.20.100").into()],
                    internal: false,
                },
                BgpRouteChange::Announce {
                    prefix: net6("fd00:172:20:0::/64"),
                    next_hops: vec![ip6("fd00:10::100").into()],
                    internal: false,
                },
                // Inside a connected subnet: refused.
                BgpRouteChange::Announce {
                    prefix: net6("fd00:20::/80"),
                    next_hops: vec![ip6("fd00:10::100").into()],
                    internal: false,
                },
                // A mapped next hop on no IPv4 subnet of ours: stored, not installed.
                BgpRouteChange::Announce {
                    prefix: net6("fd00:172:20:7::/64"),
                    next_hops: vec![ip6("::ffff:10.9.9.9").into()],
                    internal: false,
                },
            ])
            .unwrap();
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(
            hop(&shared, "fd00:172:20:2::249"),
            Some(NextHop::Gateway {
                port: 1,
                gw: ip6("::ffff:192.168.20.100")
            })
        );
        assert_eq!(
            hop(&shared, "fd00:172:20::95"),
            Some(NextHop::Gateway {
                port: 0,
                gw: ip6("fd00:10::100")
            })
        );
        assert_eq!(hop(&shared, "fd00:172:20:7::1"), None);
        assert!(rm
            .resolve_next_hop(ip6("::ffff:192.168.10.7").into())
            .is_some());
        rm.apply_bgp([BgpRouteChange::Withdraw {
            prefix: net6("fd00:172:20:2::/64"),
        }])
        .unwrap();
        assert_eq!(hop(&shared, "fd00:172:20:2::249"), None);
    }

    #[test]
    fn bgp_link_local_next_hop_is_the_neighbour_on_its_sessions_port() {
        // FRR on a link without global IPv6 sends only fe80::X; the route
        // goes via fe80::X on the session's port, and the same address on
        // the other port is another neighbour (ECMP of two members).
        let (shared, mut rm) = lab6();
        let ll = |port| BgpNextHop::OnLink {
            addr: ip6("fe80::55"),
            port,
        };
        rm.apply_bgp([
            BgpRouteChange::Announce {
                prefix: net6("fd00:6a::/64"),
                next_hops: vec![ll(1)],
                internal: false,
            },
            BgpRouteChange::Announce {
                prefix: net6("fd00:6b::/64"),
                next_hops: vec![ll(0), ll(1)],
                internal: false,
            },
            // Without its port a link-local address leads nowhere.
            BgpRouteChange::Announce {
                prefix: net6("fd00:6c::/64"),
                next_hops: vec![ip6("fe80::55").into()],
                internal: false,
            },
            // A port that does not exist (gone in a reload): nowhere.
            BgpRouteChange::Announce {
                prefix: net6("fd00:6d::/64"),
                next_hops: vec![ll(7)],
                internal: false,
            },
        ])
        .unwrap();
        assert_eq!(
            hop(&shared, "fd00:6a::1"),
            Some(NextHop::Gateway {
                port: 1,
                gw: ip6("fe80::55")
            })
        );
        assert_eq!(
            hop(&shared, "fd00:6b::1"),
            Some(NextHop::Multipath(
                vec![(0, ip6("fe80::55")), (1, ip6("fe80::55"))].into_boxed_slice()
            ))
        );
        assert_eq!(hop(&shared, "fd00:6c::1"), None);
        assert_eq!(hop(&shared, "fd00:6d::1"), None);
        assert!(rm.resolve_next_hop(ll(1)).is_some());
        assert!(rm.resolve_next_hop(ll(7)).is_none());
        assert!(rm.resolve_next_hop(ip6("fe80::55").into()).is_none());
    }

    #[test]
    fn ipv4_routes_via_ipv6_next_hops_rfc8950() {
        let (shared, _) = lab6();
        let mut rm = RouteManager::<V4>::with_family(shared.clone());
        rm.set_connected(&[]).unwrap();
        let v6hop = |a: &str, port| BgpNextHop::Ipv6 { addr: ip6(a), port };
        rm.apply_bgp([
            // A global IPv6 next hop on eth2's subnet.
            BgpRouteChange::Announce {
                prefix: net("172.20.5.0/24"),
                next_hops: vec![v6hop("fd00:20::100", None)],
                internal: false,
            },
            // A link-local one from eth1's session.
            BgpRouteChange::Announce {
                prefix: net("172.20.6.0/24"),
                next_hops: vec![v6hop("fe80::55", Some(0))],
                internal: false,
            },
            // On no subnet of ours, and link-local without a port: stored,
            // not installed.
            BgpRouteChange::Announce {
                prefix: net("172.20.7.0/24"),
                next_hops: vec![v6hop("fd00:99::1", None), v6hop("fe80::56", None)],
                internal: false,
            },
            // Both families: the IPv4 neighbour.
            BgpRouteChange::Announce {
                prefix: net("172.20.8.0/24"),
                next_hops: vec![v6hop("fd00:20::100", None), ip("192.168.10.7").into()],
                internal: false,
            },
        ])
        .unwrap();
        let get = |a: &str| {
            let id = shared.fib.load().lookup(ip(a))?;
            shared.nexthops.load().get(id).cloned()
        };
        assert_eq!(
            get("172.20.5.1"),
            Some(NextHop::Gateway6 {
                port: 1,
                gw: ip6("fd00:20::100")
            })
        );
        assert_eq!(
            get("172.20.6.1"),
            Some(NextHop::Gateway6 {
                port: 0,
                gw: ip6("fe80::55")
            })
        );
        assert_eq!(get("172.20.7.1"), None);
        assert_eq!(
            get("172.20.8.1"),
            Some(NextHop::Gateway {
                port: 0,
                gw: ip("192.168.10.7")
            })
        );
        assert!(rm.next_hop_resolves(v6hop("fd00:20::100", None)));
        assert!(
            !rm.next_hop_resolves(v6hop("fd00:20::200", None)),
            "our own address"
        );
        assert!(!rm.next_hop_resolves(v6hop("fd00:99::1", None)));
        // show route names the IPv6 gateway.
        let e = rm.route(&net("172.20.5.0/24")).unwrap();
        assert_eq!(e.next_hops[0].via, Some(ip6("fd00:20::100").into()));
    }
}
