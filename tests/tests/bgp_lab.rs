//! The seed lab with BGP (LAB.md, "BGP fix"): three node namespaces each run
//! a real gobgpd configured like Cilium's BGP control plane (AS 65001, hold
//! 9 / keepalive 3, eBGP multihop 2, graceful restart 15 s with the N bit,
//! IPv4 and IPv6 unicast, connecting outward only) that announces its
//! PodCIDR to `router`, which runs `configs/lab-bgp.toml` unchanged.
//!
//! Topology (as scripts/lab.sh builds it):
//! ```text
//! wan 10.0.2.2 --eth0-- router --eth1-- switch --+-- k8s-ctr 192.168.10.100 -- curl-pod, webpod-ctr
//!                         |                      +-- k8s-w1  192.168.10.101 -- webpod-w1
//!                         +--eth2-- k8s-w0 192.168.20.100 -- webpod-w0
//! ```
//! k8s-w0 peers with 192.168.10.200 like the other nodes (Cilium's
//! `peerAddress`), two hops away: that is why the lab uses eBGP multihop 2.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use router_tests::daemons::{GobgpConfig, GobgpNeighbor, Gobgpd};
use router_tests::{poll_until, repo_file, require, spawn_whoami, wait_until, Lab, Ns, RouterProc};
use serde_json::Value;

const ROUTER_IP: &str = "192.168.10.200";

/// (node, node address, PodCIDR prefix, gateway on its subnet)
const NODES: [(&str, &str, &str, &str); 3] = [
    ("k8s-ctr", "192.168.10.100", "172.20.0", "192.168.10.200"),
    ("k8s-w1", "192.168.10.101", "172.20.1", "192.168.10.200"),
    ("k8s-w0", "192.168.20.100", "172.20.2", "192.168.20.200"),
];

/// (pod, node index, address, hostname) — the seed's pods.
const PODS: [(&str, usize, &str, &str); 4] = [
    ("curl-pod", 0, "172.20.0.95", ""),
    ("webpod-ctr", 0, "172.20.0.238", "webpod-697b545f57-85dkh"),
    ("webpod-w1", 1, "172.20.1.154", "webpod-697b545f57-zjp55"),
    ("webpod-w0", 2, "172.20.2.249", "webpod-697b545f57-9lpt4"),
];

struct SeedLab {
    router: RouterProc,
    rtr: Ns,
    wan: Ns,
    nodes: Vec<Ns>,
    pods: HashMap<&'static str, Ns>,
    gobgp: Vec<Gobgpd>,
    // Last: dropping the lab kills every process and deletes the namespaces.
    lab: Lab,
}

fn build(tag: &str) -> SeedLab {
    let mut lab = Lab::new(tag);
    let rtr = lab.ns("router");
    let wan = lab.ns("wan");
    let sw = lab.ns("switch");
    let nodes: Vec<Ns> = NODES.iter().map(|(n, ..)| lab.ns(n)).collect();

    lab.bridge(&sw, "br0");
    lab.veth(&rtr, "eth1", &sw, "p-router");
    lab.veth(&nodes[0], "eth1", &sw, "p-ctr");
    lab.veth(&nodes[1], "eth1", &sw, "p-w1");
    for p in ["p-router", "p-ctr", "p-w1"] {
        sw.ip(&format!("link set {p} master br0"));
    }
    lab.veth(&rtr, "eth2", &nodes[2], "eth1");
    lab.veth(&rtr, "eth0", &wan, "eth0");
    wan.ip("addr add 10.0.2.2/24 dev eth0");
    wan.sysctl("net.ipv4.ip_forward", "0");

    for (ns, (_, ip, cidr, gw)) in nodes.iter().zip(NODES) {
        ns.ip(&format!("addr add {ip}/24 dev eth1"));
        ns.sysctl("net.ipv4.ip_forward", "1");
        ns.ip(&format!("addr add {cidr}.1/32 dev lo"));
        for dst in [
            "172.20.0.0/16",
            "10.10.0.0/16",
            "10.0.2.0/24",
            "172.16.0.0/16",
        ] {
            ns.ip(&format!("route add {dst} via {gw}"));
        }
    }
    nodes[0].ip("route add 172.20.1.0/24 via 192.168.10.101");
    nodes[1].ip("route add 172.20.0.0/24 via 192.168.10.100");
    nodes[0].ip("route add 192.168.20.0/24 via 192.168.10.200");
    nodes[1].ip("route add 192.168.20.0/24 via 192.168.10.200");
    nodes[2].ip("route add 192.168.10.0/24 via 192.168.20.200");

    let mut pods = HashMap::new();
    for (pod, node, ip, host) in PODS {
        let ns = lab.ns(pod);
        let lxc = format!(
            "lxc-{}",
            pod.trim_start_matches("webpod-").trim_end_matches("-pod")
        );
        lab.veth(&nodes[node], &lxc, &ns, "eth0");
        let cidr = NODES[node].2;
        ns.ip(&format!("addr add {ip}/32 dev eth0"));
        ns.ip(&format!("route add {cidr}.1 dev eth0 scope link"));
        ns.ip(&format!("route add default via {cidr}.1 dev eth0"));
        nodes[node].ip(&format!("route add {ip}/32 dev {lxc}"));
        if !host.is_empty() {
            spawn_whoami(&mut lab, &ns, host, 80);
        }
        pods.insert(pod, ns);
    }

    // The router namespace's kernel neither forwards nor owns an address.
    rtr.sysctl("net.ipv4.ip_forward", "0");
    let router = lab.spawn_router_file(&rtr, &repo_file("configs/lab-bgp.toml"));

    let gobgp = nodes
        .iter()
        .zip(NODES)
        .map(|(ns, (name, ip, _, _))| {
            let n = GobgpNeighbor::cilium(ROUTER_IP.parse().unwrap(), 65000, ip.parse().unwrap());
            Gobgpd::start(
                &mut lab,
                ns,
                name,
                &GobgpConfig::cilium(65001, ip.parse().unwrap(), vec![n]),
            )
        })
        .collect();
    SeedLab {
        router,
        rtr,
        wan,
        nodes,
        pods,
        gobgp,
        lab,
    }
}

/// `router <args> --json`, parsed.
fn show(r: &RouterProc, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = r.cli(&a);
    assert!(out.success(), "router {args:?}: {out}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("router {args:?} --json: {e}: {}", out.stdout))
}

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

/// The `Hostname:` an HTTP GET from `ns` gets back, if any.
fn curl(ns: &Ns, url: &str, local_port: Option<u16>) -> Option<String> {
    let mut args = vec!["curl", "-s", "--connect-timeout", "2", "--max-time", "3"];
    let lp;
    if let Some(p) = local_port {
        lp = p.to_string();
        args.extend(["--local-port", &lp]);
    }
    args.push(url);
    let out = ns.run(&args, Duration::from_secs(6));
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Hostname: ").map(|h| h.trim().to_string()))
}

fn curl_all_webpods(l: &SeedLab) {
    let client = &l.pods["curl-pod"];
    for (pod, _, ip, host) in PODS.iter().filter(|p| !p.3.is_empty()) {
        let got = curl(client, &format!("http://{ip}/"), None);
        assert_eq!(got.as_deref(), Some(*host), "curl-pod -> {pod} ({ip})");
    }
}

fn wait_all_learned(l: &SeedLab) {
    wait_until(
        "three BGP sessions Established",
        Duration::from_secs(40),
        || established(&l.router) == 3,
    );
    for (i, (_, ip, cidr, _)) in NODES.iter().enumerate() {
        let prefix = format!("{cidr}.0/24");
        let ok = poll_until(Duration::from_secs(20), Duration::from_millis(200), || {
            bgp_route(&l.router, &prefix) == Some(vec![ip.to_string()])
        });
        assert!(
            ok,
            "BGP route {prefix} via {ip} not in the FIB; have {:?}\nrouter neighbors: {}\nrouter bgp routes: {}\ngobgp neighbor: {:?}\ngobgp rib: {:?}",
            bgp_route(&l.router, &prefix),
            show(&l.router, &["show", "bgp", "neighbors"]),
            show(&l.router, &["show", "bgp", "routes"]),
            l.gobgp[i].cli(&["neighbor", ROUTER_IP]),
            l.gobgp[i].cli(&["global", "rib"]),
        );
    }
}

#[test]
fn bgp_seed_lab_learns_pod_cidrs_withdraws_and_does_ecmp() {
    require!("gobgpd", "gobgp", "curl", "python3");
    let mut l = build("bgp-lab");
    for (g, (_, _, cidr, _)) in l.gobgp.iter().zip(NODES) {
        g.announce(&format!("{cidr}.0/24"))
            .expect("gobgp global rib add");
    }
    wait_all_learned(&l);
    // Our End-of-RIB arrived, so Cilium-like peers sent their routes; they
    // received our 10.10.1.0/24 (and rejected it, like Cilium).
    for p in peers(&l.router) {
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
        bgp_route(&l.router, "172.20.2.0/24").is_none()
    });
    assert!(gone, "172.20.2.0/24 still in the FIB after the withdrawal");
    let lookup = show(&l.router, &["show", "route", "172.20.2.249"]);
    assert!(
        lookup.to_string().contains("10.0.2.2"),
        "172.20.2.249 should now follow the default route: {lookup}"
    );
    let leaked_before = l.wan.counter("eth0", "rx_packets");
    assert_eq!(
        curl(&l.pods["curl-pod"], "http://172.20.2.249/", None),
        None,
        "webpod-w0 must not answer after the withdrawal"
    );
    let leaked = l.wan.counter("eth0", "rx_packets") - leaked_before;
    assert!(
        leaked >= 1,
        "the SYNs to 172.20.2.249 should leak to the wan side (default route)"
    );
    // Announced again: back.
    l.gobgp[2].announce("172.20.2.0/24").expect("re-announce");
    wait_route(
        &l.router,
        "172.20.2.0/24",
        &["192.168.20.100"],
        Duration::from_secs(10),
    );
    curl_all_webpods(&l);

    // A Service address served by k8s-ctr and k8s-w1: one ECMP route.
    for (i, name) in [(0, "svc-on-ctr"), (1, "svc-on-w1")] {
        l.nodes[i].ip("addr add 172.16.1.1/32 dev lo");
        l.lab.spawn(
            &l.nodes[i],
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
        &l.router,
        "172.16.1.1/32",
        &["192.168.10.100", "192.168.10.101"],
        Duration::from_secs(10),
    );
    let routes = show(&l.router, &["show", "bgp", "routes", "172.16.1.1/32"]);
    let text = routes.to_string();
    assert!(
        text.contains("\"multipath\":true"),
        "both paths should be multipath: {routes}"
    );
    // Flows from webpod-w0 with different source ports cross the router and
    // are spread over both nodes; one flow always takes the same node.
    let client = &l.pods["webpod-w0"];
    std::thread::sleep(Duration::from_millis(500)); // the service servers bind
    let mut per_node: HashMap<String, u32> = HashMap::new();
    let mut failures = 0;
    for i in 0..24u16 {
        match curl(client, "http://172.16.1.1/", Some(42000 + i)) {
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
    for (g, (_, _, cidr, _)) in l.gobgp.iter().zip(NODES) {
        g.announce(&format!("{cidr}.0/24"))
            .expect("gobgp global rib add");
    }
    wait_all_learned(&l);

    // k8s-w1's agent crashes (SIGKILL): graceful restart keeps its routes,
    // marked stale, for the restart time it advertised (15 s), then purges.
    let killed = Instant::now();
    l.gobgp[1].kill9(&mut l.lab);
    wait_until(
        "the router notices the session loss",
        Duration::from_secs(12),
        || established(&l.router) == 2,
    );
    assert!(
        bgp_route(&l.router, "172.20.1.0/24").is_some(),
        "stale route must be kept during the restart time"
    );
    let paths = show(&l.router, &["show", "bgp", "routes", "172.20.1.0/24"]).to_string();
    assert!(
        paths.contains("\"stale\":true"),
        "the kept path is marked stale: {paths}"
    );
    // Still there until shortly before the restart time ends...
    while killed.elapsed() < Duration::from_secs(12) {
        assert!(
            bgp_route(&l.router, "172.20.1.0/24").is_some(),
            "stale route removed early, after {:?}",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // ...and gone soon after it.
    let purged = poll_until(Duration::from_secs(12), Duration::from_millis(200), || {
        bgp_route(&l.router, "172.20.1.0/24").is_none()
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
        bgp_route(&l.router, "172.20.0.0/24").is_some()
            && bgp_route(&l.router, "172.20.2.0/24").is_some()
    );

    // The agent comes back and announces again: re-learned.
    l.gobgp[1].restart(&mut l.lab);
    l.gobgp[1]
        .announce("172.20.1.0/24")
        .expect("announce after restart");
    wait_all_learned(&l);

    // The router restarts: every session and route comes back.
    let cfg = l.router.config.clone();
    l.lab.stop(l.router.pid);
    l.router = l.lab.spawn_router_file(&l.rtr, &cfg);
    wait_all_learned(&l);
    curl_all_webpods(&l);
}
