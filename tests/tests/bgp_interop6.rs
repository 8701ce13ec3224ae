//! IPv6 unicast from real BIRD 2 and real FRR (bgpd + zebra) into the
//! router's FIB, and forwarded to: (a) over an IPv6 session (the router's
//! BGP on its userspace TCP stack over IPv6), (b) carried on an IPv4
//! session (MP-BGP AFI 2 next to IPv4 unicast).
//!
//! ```text
//! host fd00:61::1 --eth0-- eth1 router (AS 65000) eth2 --eth0-- peer (BIRD AS 65010 | FRR AS 65020)
//!                   fd00:61::200            192.168.62.200       192.168.62.1
//!                                           fd00:62::200         fd00:62::1
//!                                                                lo: fd00:6a::1/64, fd00:6b::1/64
//! ```
//!
//! The peer announces fd00:6a::/64 and fd00:6b::/64, both of which its own
//! kernel owns (addresses on its `lo`), so the host's ping to fd00:6a::1
//! is answered by the peer and crosses the router both ways (the peer's
//! default route points at the router). Withdrawing fd00:6a::/64 must take
//! it out of the router's FIB while fd00:6b::/64 stays: the session and
//! its IPv6 channel stay up, only the one route goes.
//!
//! What next hop each daemon sends is taken from the wire (tcpdump on the
//! peer's eth0, when tcpdump is installed) and from the router's FIB; with
//! global + link-local the router uses the global, and a link-local one
//! alone is a neighbour on the port of the session it came over:
//!
//! - dual-stack link, IPv6 or IPv4 session, BIRD and FRR alike: the
//!   daemon's global and its link-local (`fd00:62::1, fe80::…`, 32
//!   octets); installed via fd00:62::1.
//! - IPv4-only link (the peer has no global IPv6), IPv4 session: BIRD
//!   sends nothing for its IPv6 routes unless its channel has `extended
//!   next hop on`, then `::ffff:192.168.62.1`, installed and resolved by
//!   ARP; FRR sends its link-local twice (`fe80::…, fe80::…`), installed
//!   via that address on eth2 and resolved by NDP.
//!
//! The other direction is checked on the dual-stack link: the router's
//! `networks` prefix fd00:61::/64 reaches the daemon with next hop
//! fd00:62::200 + fe80::200 (RFC 2545).
use router_tests::router::{bgp_route, show_json as show};
use std::net::IpAddr;
use std::time::Duration;

use router_tests::daemons::{Bird, BirdConfig, Frr, FrrConfig};
use router_tests::{have_tool, poll_until, require, wait_until, Lab, Ns, RouterProc};

/// Announced, then withdrawn: the peer owns fd00:6a::1.
const PREFIX: &str = "fd00:6a::/64";
const TARGET: &str = "fd00:6a::1";
/// Announced throughout: the withdrawal of PREFIX is of that route only.
const KEEP: &str = "fd00:6b::/64";

const PEER4: &str = "192.168.62.1";
const PEER6: &str = "fd00:62::1";
const ROUTER4: &str = "192.168.62.200";
const ROUTER6: &str = "fd00:62::200";
/// The router's link-local on eth2 (set, not derived from the MAC): the
/// peer's IPv6 return route on an IPv4-only link.
const ROUTER_LL: &str = "fe80::200";

/// What the router announces: the host's subnet.
const ROUTER_NET: &str = "fd00:61::/64";

const T: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Daemon {
    Bird,
    Frr,
}

/// The family of the BGP session's TCP connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Session {
    Ipv6,
    Ipv4,
}

/// The addresses on the peer's side of the router–peer link.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Link {
    /// 192.168.62.1/24 and fd00:62::1/64.
    DualStack,
    /// 192.168.62.1/24 and only the kernel's link-local: the daemon has no
    /// global IPv6 address to send as next hop on its IPv4 session.
    Ipv4Only,
}

impl Daemon {
    fn asn(self) -> u32 {
        match self {
            Daemon::Bird => 65010,
            Daemon::Frr => 65020,
        }
    }
}

fn router_config(neighbor: &str, remote_as: u32) -> String {
    format!(
        r#"
[router]
worker_threads = 1

[[ports]]
name = "eth1"
addresses = ["fd00:61::200/64"]

[[ports]]
name = "eth2"
addresses = ["{ROUTER4}/24", "{ROUTER6}/64", "{ROUTER_LL}/64"]

[bgp]
asn = 65000
router_id = "{ROUTER4}"
networks = ["{ROUTER_NET}"]

[[bgp.neighbors]]
address = "{neighbor}"
remote_as = {remote_as}
hold_time = 9
keepalive = 3
connect_retry = 2
"#
    )
}

/// The router's only peer is Established (from `show bgp summary`).
fn router_established(r: &RouterProc, peer: &str) -> bool {
    let s = show(r, &["show", "bgp", "summary"]);
    s.get("peers")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .any(|p| {
            p.get("address").and_then(|a| a.as_str()) == Some(peer)
                && p.get("state").and_then(|s| s.as_str()) == Some("Established")
        })
}

/// `ping -6` from the host to TARGET: whether all replies came.
fn ping_target(host: &Ns, count: &str) -> (bool, String) {
    let out = host.run(
        &[
            "ping", "-6", "-n", "-c", count, "-i", "0.2", "-W", "1", TARGET,
        ],
        Duration::from_secs(10),
    );
    (out.success(), out.to_string())
}

/// Every "nexthop: ..." of an MP_REACH_NLRI the daemon sent, as tcpdump
/// decodes the capture `pcap`
/// (read back with `tcpdump -r`), e.g. "fd00:62::1, fe80::1" or
/// "::ffff:192.168.62.1".
fn wire_next_hops(ns: &Ns, pcap: &str) -> Vec<String> {
    let out = ns.run(
        &[
            "tcpdump", "-r", pcap, "-nn", "-vvv", "tcp", "port", "179", "and", "(", "src", "host",
            PEER4, "or", "src", "host", PEER6, ")",
        ],
        Duration::from_secs(10),
    );
    out.stdout
        .split("nexthop: ")
        .skip(1)
        .filter_map(|rest| rest.split(", nh-length").next())
        .map(str::to_string)
        .collect()
}

/// What the daemon says it sends the router, for failure messages.
fn daemon_view(peer: &Peer, neighbor: IpAddr) -> String {
    let r = match peer {
        Peer::Bird(b, _) => b
            .birdc(&["show", "protocols", "all", "peer0"])
            .and_then(|a| Ok(a + &b.birdc(&["show", "route", "export", "peer0", "all"])?)),
        Peer::Frr(f) => f.vtysh(&[
            &format!("show bgp neighbors {neighbor}"),
            &format!("show bgp ipv6 unicast neighbors {neighbor} advertised-routes"),
        ]),
    };
    r.unwrap_or_else(|e| e)
}

enum Peer {
    Bird(Bird, BirdConfig),
    Frr(Frr),
}

/// The link-local address of `ns`'s eth0 (the kernel's, from its MAC).
fn link_local(ns: &Ns) -> String {
    let out = ns.must(&[
        "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
    ]);
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local on eth0 in {}: {out}", ns.name()))
        .to_string()
}

fn scenario(daemon: Daemon, session: Session, link: Link) {
    require!(
        "bird",
        "birdc",
        "vtysh",
        "/usr/lib/frr/bgpd",
        "/usr/lib/frr/zebra",
        "ping"
    );
    let tag = format!(
        "bgp6-{}-{}",
        match daemon {
            Daemon::Bird => "bird",
            Daemon::Frr => "frr",
        },
        match (session, link) {
            (Session::Ipv6, _) => "v6",
            (Session::Ipv4, Link::DualStack) => "v4",
            (Session::Ipv4, Link::Ipv4Only) => "v4only",
        }
    );
    assert!(
        session == Session::Ipv4 || link == Link::DualStack,
        "an IPv6 session needs IPv6 on the link"
    );
    let mut lab = Lab::new(&tag);
    let rtr = lab.ns("router");
    let host = lab.ns("host");
    let p = lab.ns("peer");
    // IPv6 on (no DAD) before the veths exist, in the two kernel ends.
    host.enable_ipv6();
    p.enable_ipv6();
    lab.veth(&rtr, "eth1", &host, "eth0");
    lab.veth(&rtr, "eth2", &p, "eth0");
    host.ip("addr add fd00:61::1/64 dev eth0");
    host.ip("-6 route add default via fd00:61::200 dev eth0");
    p.ip(&format!("addr add {PEER4}/24 dev eth0"));
    if link == Link::DualStack {
        p.ip(&format!("addr add {PEER6}/64 dev eth0"));
    }
    // What the peer announces, owned by its kernel: the ping's far end.
    p.ip("addr add fd00:6a::1/64 dev lo");
    p.ip("addr add fd00:6b::1/64 dev lo");
    // The return path of the ping: back through the router.
    match link {
        Link::DualStack => p.ip(&format!("-6 route add default via {ROUTER6} dev eth0")),
        Link::Ipv4Only => p.ip(&format!("-6 route add default via {ROUTER_LL} dev eth0")),
    };
    host.wait_ipv6_settled();
    p.wait_ipv6_settled();

    // The daemon's UPDATEs as they leave it, from before the session starts.
    let pcap = lab
        .dir()
        .join("peer-bgp.pcap")
        .to_string_lossy()
        .into_owned();
    let tcpdump = have_tool("tcpdump");
    if tcpdump {
        lab.spawn_named(
            &p,
            "tcpdump",
            &[
                "tcpdump", "-i", "eth0", "-U", "-s0", "-w", &pcap, "tcp", "port", "179",
            ],
        );
        // Until it captures: its "listening on" line in the log.
        let log = lab.dir().join("tcpdump.log");
        wait_until("tcpdump listening", Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|s| s.contains("listening on"))
        });
    }

    let (router_peer, daemon_local, daemon_neighbor): (&str, IpAddr, IpAddr) = match session {
        Session::Ipv6 => (PEER6, PEER6.parse().unwrap(), ROUTER6.parse().unwrap()),
        Session::Ipv4 => (PEER4, PEER4.parse().unwrap(), ROUTER4.parse().unwrap()),
    };
    // Only the router forwards: its namespace's kernel must not.
    rtr.sysctl("net.ipv4.ip_forward", "0");
    let router = lab.spawn_router(&rtr, &router_config(router_peer, daemon.asn()));

    let peer = match daemon {
        Daemon::Bird => {
            let cfg = BirdConfig {
                router_id: PEER4.parse().unwrap(),
                asn: daemon.asn(),
                local: daemon_local,
                neighbors: vec![(daemon_neighbor, 65000)],
                originate: vec![PREFIX.into(), KEEP.into()],
                kernel_export: false,
                hold_time: 9,
                password: None,
            };
            let opts = match link {
                Link::DualStack => String::new(),
                // Without it BIRD has no IPv6 next hop here (`BGP Next
                // hop: ::`) and sends no UPDATE for the two prefixes; with
                // it, its IPv4 address as ::ffff:a.b.c.d (RFC 4798 form).
                Link::Ipv4Only => "extended next hop on;".to_string(),
            };
            Peer::Bird(
                Bird::start_ipv6_options(&mut lab, &p, "peer", &cfg, &opts),
                cfg,
            )
        }
        Daemon::Frr => Peer::Frr(Frr::start(
            &mut lab,
            &p,
            "peer",
            &FrrConfig {
                asn: daemon.asn(),
                router_id: PEER4.parse().unwrap(),
                neighbors: vec![(daemon_neighbor, "65000".into())],
                networks: vec![PREFIX.into(), KEEP.into()],
                password: None,
            },
            true,
        )),
    };

    // Both ends see the session Established.
    let up = poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        router_established(&router, router_peer)
            && match &peer {
                Peer::Bird(b, _) => b.is_established(0),
                Peer::Frr(f) => f.is_established(daemon_neighbor),
            }
    });
    assert!(
        up,
        "{daemon:?} over {session:?}: session not Established on both ends\nrouter: {}\ndaemon: {}\nrouter log:\n{}",
        show(&router, &["show", "bgp", "summary"]),
        match &peer {
            Peer::Bird(b, _) => b.birdc(&["show", "protocols", "all", "peer0"]).unwrap_or_else(|e| e),
            Peer::Frr(f) => f.vtysh(&["show bgp summary"]).unwrap_or_else(|e| e),
        },
        lab.log_of(router.pid)
    );

    // Both prefixes reach the router's FIB from BGP.
    let mut nh = None;
    let learned = poll_until(T, Duration::from_millis(200), || {
        nh = bgp_route(&router, PREFIX);
        nh.is_some() && bgp_route(&router, KEEP).is_some()
    });
    // What the daemon put on the wire (its UPDATEs are in the capture by
    // now, or the route is not coming), and what the router made of it.
    let wire = if tcpdump {
        let mut w = Vec::new();
        poll_until(Duration::from_secs(5), Duration::from_millis(200), || {
            w = wire_next_hops(&p, &pcap);
            !w.is_empty()
        });
        w
    } else {
        Vec::new()
    };
    eprintln!(
        "{daemon:?} over {session:?} ({link:?}): MP_REACH_NLRI next hops on the wire: {wire:?}; router FIB next hops of {PREFIX}: {nh:?}"
    );
    assert!(
        learned,
        "{daemon:?} over {session:?} ({link:?}): {PREFIX} and {KEEP} not installed from BGP: {nh:?} (wire: {wire:?})\n{}\n{}\ndaemon:\n{}\nrouter log:\n{}",
        router.cli(&["show", "route"]),
        router.cli(&["show", "bgp", "routes"]),
        daemon_view(&peer, daemon_neighbor),
        lab.log_of(router.pid)
    );
    let nh = nh.unwrap_or_default();
    let peer_ll = link_local(&p);
    let (expected_wire, expected_fib) = match link {
        // RFC 2545: global + link-local, over either session family (with
        // zebra, FRR's bgpd knows eth0's global; BIRD finds it itself).
        // The router installs the global.
        Link::DualStack => (format!("{PEER6}, {peer_ll}"), PEER6.to_string()),
        // BIRD with `extended next hop on` in its IPv6 channel: its IPv4
        // address, IPv4-mapped (nh-length 16), which the router resolves
        // by ARP on eth2.
        Link::Ipv4Only if daemon == Daemon::Bird => {
            (format!("::ffff:{PEER4}"), format!("::ffff:{PEER4}"))
        }
        // FRR (bgpd + zebra, nothing configured) sends its link-local as
        // both the global and the link-local next hop (nh-length 32); the
        // router installs it on eth2, the session's port.
        Link::Ipv4Only => (format!("{peer_ll}, {peer_ll}"), peer_ll.clone()),
    };
    assert_eq!(
        nh,
        vec![expected_fib.clone()],
        "{daemon:?} over {session:?} ({link:?}): next hop of {PREFIX} in the FIB (wire: {wire:?})"
    );
    if tcpdump {
        assert!(
            !wire.is_empty() && wire.iter().all(|w| *w == expected_wire),
            "{daemon:?} over {session:?} ({link:?}): the daemon's MP_REACH_NLRI next hops: {wire:?}, expected {expected_wire}"
        );
    }
    let (first, all, v) = router.route_get(&[TARGET]);
    assert!(
        first.starts_with(&format!("{TARGET} via {expected_fib} dev eth2 "))
            && first.contains(&format!("forwarded by {PREFIX} (bgp)")),
        "{all}"
    );
    assert_eq!(v["route"]["provenance"]["source"], "bgp", "{v}");

    // The other direction: the router's IPv6 network reaches the daemon
    // with the next hop RFC 2545 asks for, eth2's global and link-local,
    // over either session family. (On the IPv4-only link the router still
    // sends fd00:62::200 + fe80::200, which is not on the daemon's link:
    // BIRD does not take the route, so it is not checked there.)
    if link == Link::DualStack {
        let mut seen = String::new();
        let got = poll_until(T, Duration::from_millis(200), || {
            seen = match &peer {
                Peer::Bird(b, _) => b.birdc(&["show", "route", ROUTER_NET, "all"]),
                Peer::Frr(f) => f.vtysh(&[&format!("show bgp ipv6 unicast {ROUTER_NET}")]),
            }
            .unwrap_or_else(|e| e);
            match daemon {
                Daemon::Bird => seen.contains(&format!("BGP.next_hop: {ROUTER6} {ROUTER_LL}")),
                Daemon::Frr => {
                    seen.contains(&format!("{ROUTER6} from {daemon_neighbor}"))
                        && seen.contains(&format!("({ROUTER_LL})"))
                }
            }
        });
        eprintln!("{daemon:?}: {ROUTER_NET} from the router:\n{seen}");
        assert!(
            got,
            "{daemon:?} over {session:?} ({link:?}): {ROUTER_NET} from the router with next hop {ROUTER6} + {ROUTER_LL}:\n{seen}"
        );
    }

    // Traffic: host -> router -> peer's lo and back.
    let mut last = String::new();
    let ok = poll_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let (ok, out) = ping_target(&host, "3");
        last = out;
        ok
    });
    assert!(
        ok,
        "{daemon:?} over {session:?}: ping -6 {TARGET} across the router: {last}\n{}",
        router.cli(&["show", "interfaces"])
    );

    // Withdrawal in the daemon: PREFIX leaves the router's FIB, KEEP stays.
    match &peer {
        Peer::Bird(b, cfg) => {
            let cfg = BirdConfig {
                originate: vec![KEEP.into()],
                ..cfg.clone()
            };
            b.reconfigure(&cfg)
                .unwrap_or_else(|e| panic!("birdc configure: {e}"));
        }
        Peer::Frr(f) => {
            f.network(PREFIX, false)
                .unwrap_or_else(|e| panic!("vtysh no network {PREFIX}: {e}"));
        }
    }
    let gone = poll_until(T, Duration::from_millis(200), || {
        bgp_route(&router, PREFIX).is_none()
    });
    assert!(
        gone,
        "{daemon:?} over {session:?}: {PREFIX} still in the FIB after the withdrawal:\n{}\nrouter log:\n{}",
        router.cli(&["show", "route"]),
        lab.log_of(router.pid)
    );
    assert_eq!(
        bgp_route(&router, KEEP),
        Some(vec![expected_fib]),
        "{KEEP} stays after {PREFIX} is withdrawn"
    );
    assert!(
        router_established(&router, router_peer),
        "the withdrawal is an UPDATE, not a session reset"
    );
    let (ok, out) = ping_target(&host, "1");
    assert!(!ok, "{TARGET} still reachable after the withdrawal: {out}");
}

#[test]
fn bird_ipv6_session() {
    scenario(Daemon::Bird, Session::Ipv6, Link::DualStack);
}

#[test]
fn frr_ipv6_session() {
    scenario(Daemon::Frr, Session::Ipv6, Link::DualStack);
}

#[test]
fn bird_ipv6_unicast_on_ipv4_session() {
    scenario(Daemon::Bird, Session::Ipv4, Link::DualStack);
}

#[test]
fn bird_ipv6_unicast_on_ipv4_session_ipv4_only_link() {
    scenario(Daemon::Bird, Session::Ipv4, Link::Ipv4Only);
}

#[test]
fn frr_ipv6_unicast_on_ipv4_session() {
    scenario(Daemon::Frr, Session::Ipv4, Link::DualStack);
}

/// FRR sends fe80::X as both next hops (no global IPv6 on its link): the
/// router installs the routes via fe80::X on eth2, the port of the
/// session they came over, resolves it with NDP and forwards.
#[test]
fn frr_ipv6_unicast_on_ipv4_session_ipv4_only_link() {
    scenario(Daemon::Frr, Session::Ipv4, Link::Ipv4Only);
}

/// RFC 8950 from real BIRD: IPv4 unicast on an IPv6 session over an
/// IPv6-only link, with BIRD's `extended next hop on` in its IPv4
/// channel. BIRD sends its IPv4 routes with its IPv6 addresses as next
/// hop (global + link-local); the router installs them via the global,
/// finds its MAC by NDP and forwards IPv4 to it. The peer's way back is
/// an IPv4 route via the router's IPv6 address (`via inet6`).
///
/// ```text
/// host 192.168.61.1 --eth0-- eth1 router eth2 (fd00:62::200 only) --eth0-- peer fd00:62::1
///                           192.168.61.200                              lo: 172.20.9.1/24, 172.20.10.1/24
/// ```
#[test]
fn bird_ipv4_routes_with_ipv6_next_hop_rfc8950() {
    require!("bird", "birdc", "ping");
    const V4_PREFIX: &str = "172.20.9.0/24";
    const V4_TARGET: &str = "172.20.9.1";
    const V4_KEEP: &str = "172.20.10.0/24";
    let mut lab = Lab::new("bgp6-bird-8950");
    let rtr = lab.ns("router");
    let host = lab.ns("host");
    let p = lab.ns("peer");
    p.enable_ipv6();
    lab.veth(&rtr, "eth1", &host, "eth0");
    lab.veth(&rtr, "eth2", &p, "eth0");
    host.ip("addr add 192.168.61.1/24 dev eth0");
    host.ip("route add default via 192.168.61.200 dev eth0");
    p.ip(&format!("addr add {PEER6}/64 dev eth0"));
    p.ip("addr add 172.20.9.1/24 dev lo");
    p.ip("addr add 172.20.10.1/24 dev lo");
    // IPv4 back to the host via the router's IPv6 address (RFC 5549
    // style, in the peer's kernel).
    p.ip(&format!(
        "route add 192.168.61.0/24 via inet6 {ROUTER6} dev eth0"
    ));
    p.wait_ipv6_settled();
    rtr.sysctl("net.ipv4.ip_forward", "0");
    let router = lab.spawn_router(
        &rtr,
        &format!(
            r#"
[router]
worker_threads = 1

[[ports]]
name = "eth1"
addresses = ["192.168.61.200/24"]

[[ports]]
name = "eth2"
addresses = ["{ROUTER6}/64", "{ROUTER_LL}/64"]

[bgp]
asn = 65000
router_id = "192.168.61.200"

[[bgp.neighbors]]
address = "{PEER6}"
remote_as = 65010
hold_time = 9
keepalive = 3
connect_retry = 2
"#
        ),
    );
    let cfg = BirdConfig {
        router_id: "192.168.62.1".parse().unwrap(),
        asn: 65010,
        local: PEER6.parse().unwrap(),
        neighbors: vec![(ROUTER6.parse().unwrap(), 65000)],
        originate: vec![V4_PREFIX.into(), V4_KEEP.into()],
        kernel_export: false,
        hold_time: 9,
        password: None,
    };
    let bird = Bird::start_channel_options(&mut lab, &p, "peer", &cfg, "extended next hop on;", "");
    let up = poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
        router_established(&router, PEER6) && bird.is_established(0)
    });
    assert!(
        up,
        "session not Established\nrouter: {}\nbird: {}\nrouter log:\n{}",
        show(&router, &["show", "bgp", "summary"]),
        bird.birdc(&["show", "protocols", "all", "peer0"])
            .unwrap_or_else(|e| e),
        lab.log_of(router.pid)
    );
    let mut nh = None;
    let learned = poll_until(T, Duration::from_millis(200), || {
        nh = bgp_route(&router, V4_PREFIX);
        nh.is_some() && bgp_route(&router, V4_KEEP).is_some()
    });
    assert!(
        learned,
        "{V4_PREFIX} not installed from BGP: {nh:?}\n{}\n{}\nbird:\n{}\nrouter log:\n{}",
        router.cli(&["show", "route"]),
        router.cli(&["show", "bgp", "routes"]),
        bird.birdc(&["show", "route", "export", "peer0", "all"])
            .unwrap_or_else(|e| e),
        lab.log_of(router.pid)
    );
    // The IPv4 route's next hop is BIRD's global IPv6 address on eth2.
    assert_eq!(nh, Some(vec![PEER6.to_string()]));
    let (first, all, _) = router.route_get(&[V4_TARGET]);
    assert!(
        first.starts_with(&format!("{V4_TARGET} via {PEER6} dev eth2: "))
            && first.contains(&format!("forwarded by {V4_PREFIX} (bgp)")),
        "{all}"
    );
    // IPv4 across the router, to an IPv6 neighbour and back.
    let mut last = String::new();
    let ok = poll_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let out = host.run(
            &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", V4_TARGET],
            Duration::from_secs(10),
        );
        last = out.to_string();
        out.success()
    });
    assert!(
        ok,
        "ping {V4_TARGET} across the router: {last}\n{}\nrouter log:\n{}",
        router.cli(&["show", "interfaces"]),
        lab.log_of(router.pid)
    );
    let (_, all, _) = router.route_get(&[V4_TARGET]);
    assert!(
        all.contains(&format!("{PEER6} at ")) && all.contains("REACHABLE"),
        "the NDP entry behind the IPv4 route: {all}"
    );
    // A withdrawal takes the route away; the other stays.
    let cfg = BirdConfig {
        originate: vec![V4_KEEP.into()],
        ..cfg
    };
    bird.reconfigure(&cfg)
        .unwrap_or_else(|e| panic!("birdc configure: {e}"));
    let gone = poll_until(T, Duration::from_millis(200), || {
        bgp_route(&router, V4_PREFIX).is_none()
    });
    assert!(gone, "{V4_PREFIX} still in the FIB after the withdrawal");
    assert_eq!(bgp_route(&router, V4_KEEP), Some(vec![PEER6.to_string()]));
}
