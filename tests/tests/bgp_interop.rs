//! Interop with BIRD 2 and FRR (bgpd + zebra) as eBGP peers, both directions:
//! the router announces 10.10.1.0/24 and both install it in their
//! namespace's kernel; each announces a prefix and the router installs it.
//!
//! ```text
//! bird 192.168.30.1 (AS 65010) --eth1-- router (AS 65000) --eth2-- frr 192.168.40.1 (AS 65020)
//! ```
use router_tests::router::{bgp_route, show_json as show};
use std::time::Duration;

use router_tests::daemons::{kernel_has_route, Bird, BirdConfig, Frr, FrrConfig};
use router_tests::{poll_until, require, wait_until, Lab};

const CONFIG: &str = r#"
[router]
worker_threads = 1

[[ports]]
name = "eth1"
addresses = ["192.168.30.200/24"]

[[ports]]
name = "eth2"
addresses = ["192.168.40.200/24"]

[[loopbacks]]
name = "loop1"
addresses = ["10.10.1.200/24"]

[bgp]
asn = 65000
router_id = "10.10.1.200"
networks = ["10.10.1.0/24"]
graceful_restart = { enabled = true }

[[bgp.neighbors]]
address = "192.168.30.1"
remote_as = 65010
hold_time = 9
keepalive = 3
connect_retry = 2
description = "bird"

[[bgp.neighbors]]
address = "192.168.40.1"
remote_as = 65020
hold_time = 9
keepalive = 3
connect_retry = 2
description = "frr"
"#;

#[test]
fn bgp_interop_with_bird_and_frr() {
    require!(
        "bird",
        "birdc",
        "vtysh",
        "/usr/lib/frr/bgpd",
        "/usr/lib/frr/zebra",
        "ping"
    );
    let mut lab = Lab::new("bgp-interop");
    let rtr = lab.ns("router");
    let b = lab.ns("bird");
    let f = lab.ns("frr");
    lab.veth(&rtr, "eth1", &b, "eth0");
    lab.veth(&rtr, "eth2", &f, "eth0");
    b.ip("addr add 192.168.30.1/24 dev eth0");
    f.ip("addr add 192.168.40.1/24 dev eth0");
    rtr.sysctl("net.ipv4.ip_forward", "0");
    let router = lab.spawn_router(&rtr, CONFIG);

    let bird = Bird::start(
        &mut lab,
        &b,
        "peer",
        &BirdConfig {
            router_id: "192.168.30.1".parse().unwrap(),
            asn: 65010,
            local: "192.168.30.1".parse().unwrap(),
            neighbors: vec![("192.168.30.200".parse().unwrap(), 65000)],
            originate: vec!["172.30.0.0/24".into()],
            kernel_export: true,
            hold_time: 9,
            password: None,
        },
    );
    let frr = Frr::start(
        &mut lab,
        &f,
        "peer",
        &FrrConfig {
            asn: 65020,
            router_id: "192.168.40.1".parse().unwrap(),
            neighbors: vec![("192.168.40.200".parse().unwrap(), "65000".into())],
            networks: vec!["172.31.0.0/24".into()],
            password: None,
        },
        true,
    );

    wait_until("BIRD session Established", Duration::from_secs(40), || {
        bird.is_established(0)
    });
    wait_until("FRR session Established", Duration::from_secs(40), || {
        frr.is_established("192.168.40.200".parse().unwrap())
    });

    // Router -> peers: 10.10.1.0/24 reaches both kernels, via our address.
    wait_until(
        "BIRD installs 10.10.1.0/24",
        Duration::from_secs(20),
        || kernel_has_route(&b, "10.10.1.0/24"),
    );
    wait_until(
        "zebra installs 10.10.1.0/24",
        Duration::from_secs(20),
        || kernel_has_route(&f, "10.10.1.0/24"),
    );
    let r = b.must(&["ip", "-4", "route", "show", "exact", "10.10.1.0/24"]);
    assert!(
        r.contains("via 192.168.30.200"),
        "next-hop self towards BIRD: {r}"
    );
    let r = f.must(&["ip", "-4", "route", "show", "exact", "10.10.1.0/24"]);
    assert!(
        r.contains("via 192.168.40.200"),
        "next-hop self towards FRR: {r}"
    );

    // Peers -> router: both prefixes installed in our FIB.
    let learned = poll_until(Duration::from_secs(20), Duration::from_millis(200), || {
        bgp_route(&router, "172.30.0.0/24") == Some(vec!["192.168.30.1".into()])
            && bgp_route(&router, "172.31.0.0/24") == Some(vec!["192.168.40.1".into()])
    });
    assert!(
        learned,
        "router did not install the peers' prefixes: {:?} {:?}\n{}",
        bgp_route(&router, "172.30.0.0/24"),
        bgp_route(&router, "172.31.0.0/24"),
        show(&router, &["show", "bgp", "routes"])
    );

    // And the data plane agrees: BIRD's side reaches our loopback address.
    let ping = b.run(
        &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.10.1.200"],
        Duration::from_secs(10),
    );
    assert!(
        ping.success(),
        "ping 10.10.1.200 from the BIRD side: {ping}"
    );

    let summary = show(&router, &["show", "bgp", "summary"]);
    let peers = summary
        .get("peers")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(peers.len(), 2, "{summary}");
    for p in &peers {
        assert_eq!(
            p.get("state").and_then(|s| s.as_str()),
            Some("Established"),
            "{p}"
        );
        assert!(
            p.get("prefixes_accepted")
                .and_then(|n| n.as_u64())
                .unwrap_or(0)
                >= 1,
            "{p}"
        );
    }
    let n = show(&router, &["show", "bgp", "neighbors", "192.168.40.1"]);
    assert!(n.to_string().contains("65020"), "{n}");
}
