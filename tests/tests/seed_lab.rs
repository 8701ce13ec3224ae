//! The seed's failure and its static fix, on the lab the README's command
//! builds (`scripts/lab.sh`, run here under a prefix unique to the test).
//!
//! Broken (configs/lab-broken.toml: no PodCIDR routes, default via 10.0.2.2):
//! curl-pod reaches the webpods on its own subnet but not 172.20.2.249; the
//! router sends that traffic out its default route, so it shows up in the wan
//! namespace (as in the seed's tcpdump) and nothing reaches k8s-w0. Fixed
//! (configs/lab-static.toml): all three answer and nothing leaks.
use std::time::Duration;

use router_tests::seed::{self, webpods, Pod, CLIENT_POD};
use router_tests::{both_forwarders, require, Forwarder, LabScript};

/// The lab command lab.sh runs, as cargo built it for these tests.
const LAB_BIN: &str = env!("CARGO_BIN_EXE_lab");

/// The webpod only the router connects curl-pod to (on k8s-w0).
fn far_webpod() -> &'static Pod {
    webpods()
        .find(|p| p.behind_router())
        .expect("a webpod behind the router")
}

fn seed_failure_and_static_fix(mode: Forwarder) {
    require!("curl", "ping", "python3", "ss", "tcpdump");
    let mut lab = LabScript::up(LAB_BIN, "broken", mode);
    let far = far_webpod();
    let (w0_node, w0_pod) = (lab.ns(far.node), lab.ns(far.name));

    // Same-subnet webpods answer, directly between the nodes.
    for p in webpods().filter(|p| !p.behind_router()) {
        assert_eq!(lab.curl(p.addr).as_deref(), p.hostname, "{}", p.name);
    }

    let leaks = lab.wan_leaks();
    let node_in = w0_node.snmp("Ip", "InReceives");
    let pod_in = w0_pod.snmp("Ip", "InReceives");
    let eth0_tx = (mode == Forwarder::Router).then(|| lab.router().port_stats("eth0").tx_packets);
    assert_eq!(
        lab.curl(far.addr),
        None,
        "172.20.2.249 must not answer without a route"
    );
    let out = lab.ns("curl-pod").run(
        &["ping", "-n", "-c", "3", "-i", "0.3", "-W", "1", far.addr],
        Duration::from_secs(10),
    );
    assert!(
        out.combined().contains("3 packets transmitted, 0 received"),
        "{out}"
    );
    // curl's SYN (and its retransmission within 1 s) plus 3 echo requests went out eth0.
    let leaked = lab.wan_leaks() - leaks;
    assert!(
        leaked >= 4,
        "the wan namespace should see the leaked packets (saw {leaked})"
    );
    assert_eq!(
        w0_node.snmp("Ip", "InReceives"),
        node_in,
        "nothing may reach k8s-w0"
    );
    assert_eq!(
        w0_pod.snmp("Ip", "InReceives"),
        pod_in,
        "nothing may reach the webpod on k8s-w0"
    );
    if let Some(tx0) = eth0_tx {
        let tx = lab.router().port_stats("eth0").tx_packets - tx0;
        assert!(tx >= 4, "router eth0 tx_packets grew by {tx}");
    }

    // The seed's capture: tcpdump on the public side shows curl-pod's request.
    let wan = lab.ns("wan");
    let cap_pid_out = {
        let wan2 = wan.clone();
        let t = std::thread::spawn(move || {
            wan2.run(
                &["tcpdump", "-i", "eth0", "-nn", "-l", "-c", "1", "icmp"],
                Duration::from_secs(5),
            )
        });
        std::thread::sleep(Duration::from_millis(700));
        let _ = lab.ns("curl-pod").run(
            &["ping", "-n", "-c", "2", "-i", "0.3", "-W", "1", far.addr],
            Duration::from_secs(5),
        );
        t.join().expect("tcpdump thread")
    };
    assert!(
        cap_pid_out.stdout.contains(&format!(
            "{} > {}: ICMP echo request",
            seed::pod(CLIENT_POD).addr,
            far.addr
        )),
        "tcpdump in wan: {cap_pid_out}"
    );

    // The fix.
    let out = lab.lab_sh(&["fix"], Duration::from_secs(30));
    assert!(out.success(), "{out}");
    let leaks = lab.wan_leaks();
    for p in webpods() {
        // A freshly restarted router may still be resolving neighbours: a
        // couple of tries, as the seed's loop would.
        let got = (0..3).find_map(|_| lab.curl(p.addr));
        assert_eq!(got.as_deref(), p.hostname, "{} after the fix", p.addr);
    }
    let out = lab.ns("curl-pod").run(
        &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", far.addr],
        Duration::from_secs(10),
    );
    assert!(
        out.combined().contains("3 packets transmitted, 3 received"),
        "{out}"
    );
    assert_eq!(
        lab.wan_leaks(),
        leaks,
        "nothing leaks once the route exists"
    );

    lab.down();
}
both_forwarders!(seed_failure_and_static_fix);

/// The README's lab command path: `up static` then `demo` shows all three
/// hostnames (the seed's loop, bounded).
fn lab_static_demo(mode: Forwarder) {
    require!("curl", "ping", "python3", "ss", "tcpdump");
    let mut lab = LabScript::up(LAB_BIN, "static", mode);
    let out = lab.lab_sh(&["demo", "3"], Duration::from_secs(90));
    assert!(out.success(), "{out}");
    for p in webpods() {
        let (ip, host) = (p.addr, p.hostname.unwrap_or_default());
        assert!(
            out.stdout.contains(&format!("Hostname: {host}   ({ip})")),
            "{host} missing from demo:\n{out}"
        );
        assert!(out.stdout.contains("answered  3/3"), "{out}");
        assert!(!out.stdout.contains("no answer"), "{out}");
    }
    let status = lab.lab_sh(&["status"], Duration::from_secs(20));
    assert!(
        status.success()
            && status
                .stdout
                .contains(&format!("{n} of {n} present", n = seed::namespaces().len())),
        "{status}"
    );
    lab.down();
}
both_forwarders!(lab_static_demo);

/// `lab.sh up bgp`: the nodes' gobgpd (Cilium's side) announce their
/// PodCIDRs, the router learns them, curl-pod reaches all three webpods.
#[test]
fn lab_bgp_demo_router() {
    require!("curl", "ping", "python3", "ss", "tcpdump", "gobgpd", "gobgp");
    let mut lab = LabScript::up(LAB_BIN, "bgp", Forwarder::Router);
    for p in webpods() {
        let got = (0..3).find_map(|_| lab.curl(p.addr));
        assert_eq!(
            got.as_deref(),
            p.hostname,
            "{} with routes from BGP",
            p.addr
        );
    }
    let routes = lab.router().cli(&["show", "route"]);
    for p in seed::NODES.map(|n| n.pod_cidr) {
        assert!(
            routes
                .stdout
                .lines()
                .any(|l| l.starts_with(p) && l.contains("bgp")),
            "{p} not from BGP: {routes}"
        );
    }
    lab.down();
}
