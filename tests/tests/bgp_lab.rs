//! The seed lab with BGP (LAB.md, "BGP fix"), built in-process from the one
//! definition in `router_tests::seed` (the same code `lab.sh up bgp` runs):
//! three node namespaces each run a real gobgpd configured like Cilium's BGP
//! control plane (AS 65001, hold 9 / keepalive 3, eBGP multihop 2, graceful
//! restart 15 s with the N bit, IPv4 and IPv6 unicast, connecting outward
//! only) that announces its PodCIDR to `router`, which runs
//! `configs/lab-bgp.toml` unchanged.
//!
//! Every node peers with 192.168.10.200 (Cilium's `peerAddress` in the
//! seed); for k8s-w0 that address is not on its subnet: that is why the lab
//! uses eBGP multihop 2.
use router_tests::router::show_json as show;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use router_tests::seed::{self, webpods, LabConfig, NODES, ROUTER_ID, WAN_NS};
use router_tests::{
    poll_until, repo_file, require, wait_until, Forwarder, Lab, RouterProc, SeedLab,
};
use serde_json::Value;

fn build(tag: &str) -> SeedLab {
    SeedLab::build(Lab::new(tag), Forwarder::Router, LabConfig::Bgp)
}

/// `router <args> --json`, parsed.
fn peers(r: &RouterProc) -> Vec<Value> {
    show(r, &["show", "bgp", "summary"])
        .get("peers")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default()
}

fn established(r: &RouterProc) -> usize {
    peers(r)
        .iter()
        .filter(|p| p.get("state").and_then(|s| s.as_str()) == Some("Established"))
        .count()
}

/// The routes of `show route --json` (an array, or an object with `routes`).
fn fib_routes(r: &RouterProc) -> Vec<Value> {
    let v = show(r, &["show", "route"]);
    match v {
        Value::Array(a) => a,
        Value::Object(ref m) => m
            .get("routes")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The BGP route for `prefix` in the FIB: its gateways, sorted.
fn bgp_route(r: &RouterProc, prefix: &str) -> Option<Vec<String>> {
    let routes = fib_routes(r);
    let e = routes
        .iter()
        .find(|e| e.get("prefix").and_then(|p| p.as_str()) == Some(prefix))?;
    if e.get("source").and_then(|s| s.as_str()) != Some("bgp") {
        return None;
    }
    let mut via: Vec<String> = e
        .get("next_hops")
        .and_then(|n| n.as_array())
        .into_iter()
        .flatten()
        .filter_map(|h| h.get("via").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    via.sort();
    Some(via)
}

fn wait_route(r: &RouterProc, prefix: &str, via: &[&str], timeout: Duration) {
    let mut want: Vec<String> = via.iter().map(|s| s.to_string()).collect();
    want.sort();
    let ok = poll_until(timeout, Duration::from_millis(200), || {
        bgp_route(r, prefix).as_ref() == Some(&want)
    });
    assert!(
        ok,
        "BGP route {prefix} via {want:?} not in the FIB after {timeout:?}; have {:?}\nFIB: {:?}",
        bgp_route(r, prefix),
        fib_routes(r)
    );
}

fn curl_all_webpods(l: &SeedLab) {
    for p in webpods() {
        let got = l.curl(p.addr);
        assert_eq!(
            got.as_deref(),
            p.hostname,
            "curl-pod -> {} ({})",
            p.name,
            p.addr
        );
    }
}

fn wait_all_learned(l: &SeedLab) {
    wait_until(
        "three BGP sessions Established",
        Duration::from_secs(40),
        || established(l.router()) == NODES.len(),
    );
    for (i, n) in NODES.iter().enumerate() {
        let prefix = n.pod_cidr;
        let ok = poll_until(Duration::from_secs(20), Duration::from_millis(200), || {
            bgp_route(l.router(), prefix) == Some(vec![n.addr.to_string()])
        });
        assert!(
            ok,
            "BGP route {prefix} via {} not in the FIB; have {:?}\nrouter neighbors: {}\nrouter bgp routes: {}\ngobgp neighbor: {:?}\ngobgp rib: {:?}",
            n.addr,
            bgp_route(l.router(), prefix),
            show(l.router(), &["show", "bgp", "neighbors"]),
            show(l.router(), &["show", "bgp", "routes"]),
            l.gobgp[i].cli(&["neighbor", ROUTER_ID]),
            l.gobgp[i].cli(&["global", "rib"]),
        );
    }
}

#[test]
fn bgp_seed_lab_learns_pod_cidrs_withdraws_and_does_ecmp() {
    require!("gobgpd", "gobgp", "curl", "python3");
    let mut l = build("bgp-lab");
    wait_all_learned(&l);
    // Our End-of-RIB arrived, so Cilium-like peers sent their routes; they
    // received our 10.10.1.0/24 (and rejected it, like Cilium).
    for p in peers(l.router()) {
        assert_eq!(
            p.get("remote_as").and_then(|a| a.as_u64()),
            Some(65001),
            "{p}"
        );
        assert!(
            p.get("prefixes_sent").and_then(|a| a.as_u64()).unwrap_or(0) >= 1,
            "we announce 10.10.1.0/24: {p}"
        );
    }
    curl_all_webpods(&l);

    // k8s-w0 withdraws its PodCIDR: the route goes, and traffic for it
    // follows the default route to the wan side, exactly the seed's failure
    // (the lab config has `0.0.0.0/0 via 10.0.2.2`).
    l.gobgp[2]
        .withdraw("172.20.2.0/24")
        .expect("gobgp global rib del");
    let gone = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        bgp_route(l.router(), "172.20.2.0/24").is_none()
    });
    assert!(gone, "172.20.2.0/24 still in the FIB after the withdrawal");
    let lookup = show(l.router(), &["show", "route", "172.20.2.249"]);
    assert!(
        lookup.to_string().contains("10.0.2.2"),
        "172.20.2.249 should now follow the default route: {lookup}"
    );
    let leaked_before = l.ns(WAN_NS).counter("eth0", "rx_packets");
    assert_eq!(
        l.curl("172.20.2.249"),
        None,
        "webpod-w0 must not answer after the withdrawal"
    );
    let leaked = l.ns(WAN_NS).counter("eth0", "rx_packets") - leaked_before;
    assert!(
        leaked >= 1,
        "the SYNs to 172.20.2.249 should leak to the wan side (default route)"
    );
    // Announced again: back.
    l.gobgp[2].announce("172.20.2.0/24").expect("re-announce");
    wait_route(
        l.router(),
        "172.20.2.0/24",
        &["192.168.20.100"],
        Duration::from_secs(10),
    );
    curl_all_webpods(&l);

    // A Service address served by k8s-ctr and k8s-w1: one ECMP route.
    for (i, name) in [(0, "svc-on-ctr"), (1, "svc-on-w1")] {
        let node = l.ns(NODES[i].name).clone();
        node.ip("addr add 172.16.1.1/32 dev lo");
        l.lab.spawn(
            &node,
            &[
                "python3",
                &repo_file("scripts/lib/whoami.py").to_string_lossy(),
                "--name",
                name,
                "--port",
                "80",
                "--bind",
                "172.16.1.1",
            ],
        );
        l.gobgp[i]
            .announce("172.16.1.1/32")
            .expect("announce service");
    }
    wait_route(
        l.router(),
        "172.16.1.1/32",
        &["192.168.10.100", "192.168.10.101"],
        Duration::from_secs(10),
    );
    let routes = show(l.router(), &["show", "bgp", "routes", "172.16.1.1/32"]);
    let text = routes.to_string();
    assert!(
        text.contains("\"multipath\":true"),
        "both paths should be multipath: {routes}"
    );
    // Flows from webpod-w0 with different source ports cross the router and
    // are spread over both nodes; one flow always takes the same node.
    let client = l.ns("webpod-w0");
    std::thread::sleep(Duration::from_millis(500)); // the service servers bind
    let mut per_node: HashMap<String, u32> = HashMap::new();
    let mut failures = 0;
    for i in 0..24u16 {
        match seed::curl_hostname(client, "172.16.1.1", Some(42000 + i)) {
            Some(h) => *per_node.entry(h).or_default() += 1,
            None => failures += 1,
        }
    }
    assert_eq!(
        failures, 0,
        "every flow to the service must be answered: {per_node:?}"
    );
    assert!(
        per_node.get("svc-on-ctr").copied().unwrap_or(0) > 0,
        "no flow reached k8s-ctr: {per_node:?}"
    );
    assert!(
        per_node.get("svc-on-w1").copied().unwrap_or(0) > 0,
        "no flow reached k8s-w1: {per_node:?}"
    );
    eprintln!("service flows per node: {per_node:?}");
}

#[test]
fn bgp_seed_lab_graceful_restart_and_router_restart() {
    require!("gobgpd", "gobgp", "curl", "python3");
    let mut l = build("bgp-gr");
    wait_all_learned(&l);

    // k8s-w1's agent crashes (SIGKILL): graceful restart keeps its routes,
    // marked stale, for the restart time it advertised (15 s), then purges.
    let killed = Instant::now();
    l.gobgp[1].kill9(&mut l.lab);
    wait_until(
        "the router notices the session loss",
        Duration::from_secs(12),
        || established(l.router()) == 2,
    );
    assert!(
        bgp_route(l.router(), "172.20.1.0/24").is_some(),
        "stale route must be kept during the restart time"
    );
    let paths = show(l.router(), &["show", "bgp", "routes", "172.20.1.0/24"]).to_string();
    assert!(
        paths.contains("\"stale\":true"),
        "the kept path is marked stale: {paths}"
    );
    // Still there until shortly before the restart time ends...
    while killed.elapsed() < Duration::from_secs(12) {
        assert!(
            bgp_route(l.router(), "172.20.1.0/24").is_some(),
            "stale route removed early, after {:?}",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // ...and gone soon after it.
    let purged = poll_until(Duration::from_secs(12), Duration::from_millis(200), || {
        bgp_route(l.router(), "172.20.1.0/24").is_none()
    });
    assert!(
        purged,
        "stale route still present {:?} after the crash",
        killed.elapsed()
    );
    assert!(
        killed.elapsed() >= Duration::from_secs(14),
        "purged before the 15 s restart time: {:?}",
        killed.elapsed()
    );
    // The other nodes' routes never moved.
    assert!(
        bgp_route(l.router(), "172.20.0.0/24").is_some()
            && bgp_route(l.router(), "172.20.2.0/24").is_some()
    );

    // The agent comes back and announces again: re-learned.
    l.gobgp[1].restart(&mut l.lab);
    l.gobgp[1]
        .announce("172.20.1.0/24")
        .expect("announce after restart");
    wait_all_learned(&l);

    // The router restarts: every session and route comes back.
    l.restart_router();
    wait_all_learned(&l);
    curl_all_webpods(&l);
}
