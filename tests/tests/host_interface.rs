//! Host interfaces on the seed lab (`LabOptions::host_interfaces`): the
//! router owns eth0 and eth1, and the router namespace's kernel still uses
//! their addresses through TAPs (`eth0-host`, `eth1-host`), the way a router
//! VM's sshd keeps answering on 10.0.2.15.
//!
//! * A TCP server in the router namespace's kernel is reachable on both
//!   port addresses from nodes and pods, also from k8s-w0 behind eth2, which
//!   has no host interface (its packets come in on eth2 and go up the TAP of
//!   the port whose address they are for).
//! * The kernel pings and curls every webpod through the router (its
//!   default route is via 10.0.2.2 on eth0-host; the router answers its ARP
//!   and routes its packets through the FIB), and pings the router's
//!   loopback address, which it does not hold.
//! * The TAP mirrors the port's carrier.
//! * With the host interfaces off (router restarted without them), the TAPs
//!   are gone and the same TCP port gets a RST from the router, as before.
use std::time::Duration;

use router_tests::seed::{
    self, host_interface, router_port, webpods, LabConfig, LabOptions, ROUTER_NS, SWITCH_NS,
};
use router_tests::{ping_counts, poll_until, repo_file, require, Forwarder, Lab, Ns, SeedLab};

/// The kernel's own server in the router namespace.
const KERNEL_PORT: u16 = 8080;
const KERNEL_NAME: &str = "router-vm-kernel";

fn ping(from: &Ns, to: &str) -> (u32, u32, String) {
    let out = from.run(
        &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", to],
        Duration::from_secs(10),
    );
    let text = out.combined();
    let (tx, rx) = ping_counts(&text).unwrap_or_else(|| panic!("no ping summary: {out}"));
    (tx, rx, text)
}

/// `curl http://ADDR:PORT/` from `ns`: the hostname it answered with, a
/// few tries (a neighbour may still be resolving).
fn curl(ns: &Ns, addr: &str, port: u16) -> Option<String> {
    let target = format!("{addr}:{port}");
    (0..3).find_map(|_| seed::curl_hostname(ns, &target, None))
}

#[test]
fn host_interfaces_on_the_seed_lab() {
    require!("curl", "ping", "python3", "ss");
    let options = LabOptions {
        host_interfaces: vec!["eth0", "eth1"],
        ..LabOptions::default()
    };
    let mut lab = SeedLab::build_with(
        Lab::new("hostif"),
        Forwarder::Router,
        LabConfig::Static,
        options,
    );
    let rtr = lab.ns(ROUTER_NS).clone();

    // The TAPs: the port's MAC and address (and so its connected route),
    // up, no IPv6; the kernel still does not forward.
    for iface in ["eth0", "eth1"] {
        let tap = host_interface(iface);
        assert_eq!(rtr.mac(&tap), rtr.mac(iface), "{tap} has the port's MAC");
        let addrs = rtr.ip(&format!("-4 -o addr show dev {tap}"));
        assert!(
            addrs.contains(&format!("{}/24", router_port(iface).addr)),
            "{addrs}"
        );
        let link = rtr.ip(&format!("-o link show {tap}"));
        assert!(link.contains(",UP,LOWER_UP>"), "{link}");
        let v6 = rtr.read(&format!("/proc/sys/net/ipv6/conf/{tap}/disable_ipv6"));
        assert_eq!(v6.trim(), "1");
    }
    assert_eq!(rtr.read("/proc/sys/net/ipv4/ip_forward").trim(), "0");

    // The kernel's TCP server, on every address it holds.
    let script = repo_file("scripts/lib/whoami.py");
    let port = KERNEL_PORT.to_string();
    let script = script.to_string_lossy().to_string();
    lab.lab.spawn(
        &rtr,
        &["python3", &script, "--name", KERNEL_NAME, "--port", &port],
    );
    router_tests::traffic::wait_listening(&rtr, KERNEL_PORT);

    for (from, addr) in [
        ("k8s-ctr", "192.168.10.200"),
        ("k8s-ctr", "10.0.2.15"),
        ("k8s-w0", "10.0.2.15"),
        ("k8s-w0", "192.168.10.200"),
        ("curl-pod", "10.0.2.15"),
        ("curl-pod", "192.168.10.200"),
        ("webpod-w0", "10.0.2.15"),
    ] {
        assert_eq!(
            curl(lab.ns(from), addr, KERNEL_PORT).as_deref(),
            Some(KERNEL_NAME),
            "{from} -> the kernel's server on {addr}:{KERNEL_PORT}"
        );
    }
    // The router itself still answers echo requests for the port address.
    let (_, rx, text) = ping(lab.ns("k8s-w0"), "10.0.2.15");
    assert_eq!(rx, 3, "{text}");

    // The kernel reaches every webpod through the router, and none of it
    // leaks out of the default route to the wan.
    let leaks = lab.wan_leaks();
    for p in webpods() {
        let (_, rx, text) = ping(&rtr, p.addr);
        assert_eq!(rx, 3, "kernel -> {}: {text}", p.name);
        assert_eq!(
            curl(&rtr, p.addr, 80).as_deref(),
            p.hostname,
            "kernel curls {}",
            p.name
        );
    }
    // And the router's loopback address, which it does not hold.
    let (_, rx, text) = ping(&rtr, "10.10.1.200");
    assert_eq!(rx, 3, "kernel -> loop1: {text}");
    assert_eq!(
        lab.wan_leaks(),
        leaks,
        "the kernel's traffic leaked to the wan"
    );
    // ICMP errors about the kernel's own packets come up to it: with TTL 1
    // (the router does not decrement the kernel's packets) k8s-w0 answers
    // time exceeded to 10.0.2.15.
    let far = webpods().find(|p| p.behind_router()).expect("far webpod");
    let out = rtr.run(
        &["ping", "-n", "-c", "1", "-t", "1", "-W", "2", far.addr],
        Duration::from_secs(10),
    );
    assert!(
        out.stdout.contains("Time to live exceeded"),
        "no time exceeded for the kernel: {out}"
    );
    // Its gateway is the router's MAC on the TAP (proxy ARP), not the wan's.
    let neigh = rtr.ip("neigh show 10.0.2.2 dev eth0-host");
    let wan_mac = lab.ns("wan").mac("eth0");
    assert!(
        neigh.contains("lladdr") && !neigh.contains(&wan_mac),
        "{neigh}"
    );

    // Carrier follows the port: the switch's side of eth1 goes down.
    let sw = lab.ns(SWITCH_NS).clone();
    let carrier = |want: &str| {
        poll_until(Duration::from_secs(5), Duration::from_millis(100), || {
            rtr.read("/sys/class/net/eth1-host/carrier").trim() == want
        })
    };
    sw.ip("link set p-router down");
    assert!(carrier("0"), "eth1-host keeps its carrier with eth1 down");
    sw.ip("link set p-router up");
    assert!(carrier("1"), "eth1-host carrier back");

    // Host interfaces off: the TAPs go with the router that made them, and
    // the router resets the kernel server's port itself, as before.
    lab.options.host_interfaces.clear();
    lab.restart_router();
    for iface in ["eth0", "eth1"] {
        let tap = host_interface(iface);
        let out = rtr.run(&["ip", "link", "show", &tap], Duration::from_secs(5));
        assert!(!out.success(), "{tap} still there: {out}");
    }
    // curl's exit 7 within the connect timeout is a refused connection
    // (a timeout is 28); the router counts the RST it sends as
    // `local_unsupported`.
    let rsts = lab.router().drops_total("local_unsupported");
    let url = format!("http://10.0.2.15:{KERNEL_PORT}/");
    let out = lab.ns("k8s-w0").run(
        &["curl", "-sS", "--connect-timeout", "3", &url],
        Duration::from_secs(10),
    );
    assert_eq!(out.code, Some(7), "expected a RST: {out}");
    assert!(
        lab.router().drops_total("local_unsupported") > rsts,
        "the router did not answer the SYN itself"
    );
}

/// With `[bgp]` running, TCP/179 to a port address with a host interface
/// is still the router's (the nodes' gobgpd establish with the embedded
/// speaker on 192.168.10.200 and the PodCIDRs are learned), while another
/// TCP port on the same address goes up to the kernel.
#[test]
fn host_interface_leaves_bgp_to_the_router() {
    require!("curl", "ping", "python3", "ss", "gobgpd", "gobgp");
    let options = LabOptions {
        host_interfaces: vec!["eth0", "eth1"],
        ..LabOptions::default()
    };
    let mut lab = SeedLab::build_with(
        Lab::new("hostif-bgp"),
        Forwarder::Router,
        LabConfig::Bgp,
        options,
    );
    assert!(
        lab.wait_bgp_learned(Duration::from_secs(30)),
        "PodCIDRs not learned over BGP with host interfaces: {}",
        lab.router().cli(&["show", "bgp", "summary"])
    );
    let rtr = lab.ns(ROUTER_NS).clone();
    let script = repo_file("scripts/lib/whoami.py")
        .to_string_lossy()
        .to_string();
    let port = KERNEL_PORT.to_string();
    lab.lab.spawn(
        &rtr,
        &["python3", &script, "--name", KERNEL_NAME, "--port", &port],
    );
    router_tests::traffic::wait_listening(&rtr, KERNEL_PORT);
    assert_eq!(
        curl(lab.ns("k8s-ctr"), "192.168.10.200", KERNEL_PORT).as_deref(),
        Some(KERNEL_NAME)
    );
    // And the kernel reaches the webpod whose route came from BGP.
    let far = webpods().find(|p| p.behind_router()).expect("far webpod");
    assert_eq!(curl(&rtr, far.addr, 80).as_deref(), far.hostname);
}
