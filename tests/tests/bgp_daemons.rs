//! Self-test of the daemon harness (tests/src/daemons.rs): gobgpd, BIRD 2 and
//! FRR peer with each other in namespaces, without the router, so a failure
//! in the router tests can be told apart from a broken daemon config.
use std::time::Duration;

use router_tests::daemons::{
    kernel_has_route, Bird, BirdConfig, Frr, FrrConfig, GobgpConfig, GobgpNeighbor, Gobgpd,
};
use router_tests::{require, wait_until, Lab};

#[test]
fn gobgpd_peers_with_bird_and_frr() {
    require!(
        "gobgpd",
        "gobgp",
        "bird",
        "birdc",
        "vtysh",
        "/usr/lib/frr/bgpd",
        "/usr/lib/frr/zebra"
    );
    let mut lab = Lab::new("bgpd-harness");
    let g = lab.ns("gobgp");
    let b = lab.ns("bird");
    let f = lab.ns("frr");
    lab.veth(&g, "tob", &b, "tog");
    lab.veth(&g, "tof", &f, "tog");
    g.ip("addr add 10.99.1.1/24 dev tob");
    b.ip("addr add 10.99.1.2/24 dev tog");
    g.ip("addr add 10.99.2.1/24 dev tof");
    f.ip("addr add 10.99.2.2/24 dev tog");

    let mut to_bird = GobgpNeighbor::cilium(
        "10.99.1.2".parse().unwrap(),
        65000,
        "10.99.1.1".parse().unwrap(),
    );
    to_bird.ipv6 = false;
    let to_frr = GobgpNeighbor::cilium(
        "10.99.2.2".parse().unwrap(),
        65002,
        "10.99.2.1".parse().unwrap(),
    );
    let mut cfg = GobgpConfig::cilium(65001, "10.99.1.1".parse().unwrap(), vec![to_bird, to_frr]);
    cfg.reject_imports = false;
    let gobgpd = Gobgpd::start(&mut lab, &g, "node", &cfg);

    let bird = Bird::start(
        &mut lab,
        &b,
        "peer",
        &BirdConfig {
            router_id: "10.99.1.2".parse().unwrap(),
            asn: 65000,
            local: "10.99.1.2".parse().unwrap(),
            neighbors: vec![("10.99.1.1".parse().unwrap(), 65001)],
            originate: vec!["10.10.1.0/24".into()],
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
            asn: 65002,
            router_id: "10.99.2.2".parse().unwrap(),
            neighbors: vec![("10.99.2.1".parse().unwrap(), "external".into())],
            networks: vec!["10.10.9.0/24".into()],
            password: None,
        },
        true,
    );

    gobgpd
        .announce("172.20.0.0/24")
        .expect("gobgp global rib add");
    wait_until(
        "gobgpd established with bird and frr",
        Duration::from_secs(30),
        || {
            gobgpd.is_established("10.99.1.2".parse().unwrap())
                && gobgpd.is_established("10.99.2.2".parse().unwrap())
        },
    );
    assert!(bird.is_established(0));
    assert!(frr.is_established("10.99.2.1".parse().unwrap()));
    wait_until(
        "bird installs 172.20.0.0/24 in its kernel",
        Duration::from_secs(20),
        || kernel_has_route(&b, "172.20.0.0/24"),
    );
    wait_until(
        "zebra installs 172.20.0.0/24 in its kernel",
        Duration::from_secs(20),
        || kernel_has_route(&f, "172.20.0.0/24"),
    );
    wait_until(
        "gobgpd learns both peers' prefixes",
        Duration::from_secs(20),
        || gobgpd.rib_count("ipv4").unwrap_or(0) >= 3,
    );
}
