//! IPv6 across the router on the dual-stack seed lab (`LabOptions::dual_stack`,
//! `lab.sh up … --dual-stack`): real kernel stacks at both ends — curl-pod on
//! k8s-ctr, the webpods on k8s-ctr, k8s-w1 and k8s-w0 — veths with their
//! default offloads.
//!
//! ```text
//! wan fd00:2::2 --eth0-- router --eth1-- switch --+-- k8s-ctr fd00:10::100 -- curl-pod fd00:172:20::95, webpod-ctr fd00:172:20::238
//!   (fd00:2::15 | fd00:10::200 | fd00:20::200)    +-- k8s-w1  fd00:10::101 -- webpod-w1 fd00:172:20:1::154
//!                                  +--eth2-- k8s-w0 fd00:20::100 -- webpod-w0 fd00:172:20:2::249
//! ```
//!
//! Every scenario runs twice, like tests/tests/forwarding.rs: `::router`
//! against `router`, and `::kernel` against the router namespace's own
//! kernel (addresses on the veths, forwarding=1), the reference that shows
//! the test asserts what a correct router does. Router counters are only
//! checked for `router`; the IPv6 drop reasons are assumed to keep the IPv4
//! names (`bad_header`, `martian`, `ttl_exceeded`, `mtu`,
//! `neigh_unresolved`).
//!
//! The path from curl-pod to webpod-w0 has three forwarding hops: k8s-ctr,
//! the router, k8s-w0 (the nodes forward for their pods, as with Cilium's
//! native routing). Hop limit 2 therefore expires at the router.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use router_tests::seed::{
    self, pod, router_port, webpods, LabConfig, LabOptions, Pod, CLIENT_POD, NODES, ROUTER_ID,
    ROUTER_NS, WAN_NS,
};
use router_tests::{
    both_forwarders, ping_counts, poll_until, repo_file, require, router_bin, run_timeout,
    tcp_bulk, CmdOutput, Forwarder, Lab, LabScript, Ns, SeedLab,
};

const T: Duration = Duration::from_secs(20);

/// The lab command lab.sh runs, as cargo built it for these tests.
const LAB_BIN: &str = env!("CARGO_BIN_EXE_lab");

fn dual(options: LabOptions) -> LabOptions {
    LabOptions {
        dual_stack: true,
        ..options
    }
}

/// The dual-stack seed lab with `config` and `options`, `mode` forwarding.
fn lab(tag: &str, mode: Forwarder, config: LabConfig, options: LabOptions) -> SeedLab {
    SeedLab::build_with(Lab::new(tag), mode, config, dual(options))
}

/// The webpod only the router connects curl-pod to (on k8s-w0).
fn far_webpod() -> &'static Pod {
    webpods()
        .find(|p| p.behind_router())
        .expect("a webpod behind the router")
}

/// The router's address on curl-pod's node subnet: where ICMPv6 errors
/// about curl-pod's packets come from.
fn router_near() -> &'static str {
    pod(CLIENT_POD).node().gateway6()
}

/// `ping -n ARGS TO` in `from`: (transmitted, received, output).
fn ping(from: &Ns, args: &[&str], to: &str) -> (u32, u32, String) {
    let mut v = vec!["ping", "-n"];
    v.extend_from_slice(args);
    v.push(to);
    let out = from.run(&v, T);
    assert!(!out.timed_out, "{out}");
    let text = out.combined();
    let (tx, rx) = ping_counts(&text).unwrap_or_else(|| panic!("no ping summary: {out}"));
    (tx, rx, text)
}

/// `curl http://[IP]/` from curl-pod, a few tries (a freshly started
/// forwarder may still be resolving neighbours): the hostname answered.
fn curl6(lab: &SeedLab, ip: &str) -> Option<String> {
    (0..3).find_map(|_| lab.curl(ip))
}

// ---------------------------------------------------------------------------

/// ping6 from curl-pod to every webpod (small and full-size echoes), the
/// reply's hop limit showing each forwarding hop once, and the router
/// answering echo for its own IPv6 addresses.
fn ping6_across(mode: Forwarder) {
    require!("ping", "curl", "python3", "ss");
    let lab = lab("ping6", mode, LabConfig::Static, LabOptions::default());
    let client = lab.ns(CLIENT_POD);
    for p in webpods() {
        // 1232 + 8 + 40 = 1280, IPv6's minimum MTU.
        for size in ["56", "1232"] {
            let (tx, rx, out) = ping(
                client,
                &["-c", "3", "-i", "0.2", "-W", "2", "-s", size],
                p.addr6,
            );
            assert_eq!(
                (tx, rx),
                (3, 3),
                "curl-pod -> {} {size} bytes:\n{out}",
                p.name
            );
        }
        // The reply crosses the webpod's node, the router if the webpod is
        // behind it, and curl-pod's node: Linux starts at 64.
        let hops = if p.behind_router() {
            3
        } else if p.node == pod(CLIENT_POD).node {
            1
        } else {
            2
        };
        let (_, rx, out) = ping(client, &["-c", "1", "-W", "2"], p.addr6);
        assert_eq!(rx, 1, "{out}");
        assert!(
            out.contains(&format!("ttl={}", 64 - hops)),
            "{}: expected {hops} hops (ttl={}):\n{out}",
            p.name,
            64 - hops
        );
    }
    // The router's own addresses, also the far port's: one hop (k8s-ctr).
    for port in ["eth1", "eth2"] {
        let addr = router_port(port).addr6;
        let (tx, rx, out) = ping(client, &["-c", "2", "-i", "0.2", "-W", "2"], addr);
        assert_eq!((tx, rx), (2, 2), "ping router {addr}:\n{out}");
        assert!(out.contains("ttl=63"), "the router itself answers:\n{out}");
    }
    if let Some(r) = &lab.router {
        let s = r.port_stats("eth2");
        assert!(s.tx_packets >= 7, "eth2 tx_packets {}", s.tx_packets);
    }
}
both_forwarders!(ping6_across);

// ---------------------------------------------------------------------------

/// TCP over IPv6 with the veths' default offloads (checksum offload,
/// TSO/GSO, GRO): HTTP from curl-pod to every webpod, then 20 MiB from
/// curl-pod to webpod-w0 and 8 MiB back, the data's sha256 compared at both
/// ends. A forwarder that mishandles CHECKSUM_PARTIAL or GSO frames of
/// IPv6 fails here while pings pass.
fn tcp6_http_and_bulk(mode: Forwarder) {
    require!("socat", "curl", "python3", "sha256sum", "ss", "ethtool");
    let mut lab = lab("tcp6", mode, LabConfig::Static, LabOptions::default());
    let client = lab.ns(CLIENT_POD).clone();
    let offloads = client.run(&["ethtool", "-k", "eth0"], T).stdout;
    assert!(
        offloads.contains("tcp-segmentation-offload: on"),
        "veth TSO should default to on:\n{offloads}"
    );
    for p in webpods() {
        assert_eq!(curl6(&lab, p.addr6).as_deref(), p.hostname, "{}", p.addr6);
    }
    // The webpod saw curl-pod's IPv6 address (no NAT, no IPv4 fallback).
    let far = far_webpod();
    let out = client.run(
        &[
            "curl",
            "-s",
            "--connect-timeout",
            "2",
            "--max-time",
            "5",
            &format!("http://[{}]/", far.addr6),
        ],
        T,
    );
    assert!(
        out.stdout
            .contains(&format!("RemoteAddr: [{}]:", pod(CLIENT_POD).addr6)),
        "{out}"
    );

    let far_ns = lab.ns(far.name).clone();
    const FORWARD: usize = 20 << 20;
    let r = tcp_bulk(
        &mut lab.lab,
        &client,
        &far_ns,
        far.addr6,
        5001,
        FORWARD,
        Duration::from_secs(60),
    );
    r.assert_intact(FORWARD);
    eprintln!(
        "[{}] IPv6 bulk curl-pod -> {} {} MiB in {:.2} s = {:.2} Gbit/s",
        mode.name(),
        far.name,
        FORWARD >> 20,
        r.secs,
        r.gbit_per_s()
    );
    const BACK: usize = 8 << 20;
    let r = tcp_bulk(
        &mut lab.lab,
        &far_ns,
        &client,
        pod(CLIENT_POD).addr6,
        5002,
        BACK,
        Duration::from_secs(60),
    );
    r.assert_intact(BACK);
}
both_forwarders!(tcp6_http_and_bulk);

// ---------------------------------------------------------------------------

/// Hop limit expiry, traceroute6-style with `ping -t N`: hop limit 2 dies
/// at the router (Time Exceeded from its address on curl-pod's subnet),
/// hop limit 3 at k8s-w0 — the router decrements exactly once.
fn hop_limit_expiry(mode: Forwarder) {
    require!("ping", "curl", "python3", "ss");
    let lab = lab("hlim6", mode, LabConfig::Static, LabOptions::default());
    let client = lab.ns(CLIENT_POD);
    let far = far_webpod();
    let (_, rx, out) = ping(client, &["-c", "1", "-W", "2", "-t", "2"], far.addr6);
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Time exceeded: Hop limit",
            router_near()
        )),
        "hop limit 2 must expire at the router:\n{out}"
    );
    let (_, rx, out) = ping(client, &["-c", "1", "-W", "2", "-t", "3"], far.addr6);
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Time exceeded: Hop limit",
            far.node().addr6
        )),
        "hop limit 3 must expire at {}:\n{out}",
        far.node
    );
    let (_, rx, out) = ping(client, &["-c", "1", "-W", "2", "-t", "4"], far.addr6);
    assert_eq!(rx, 1, "hop limit 4 reaches the webpod:\n{out}");
    if let Some(r) = &lab.router {
        assert!(
            r.port_stats("eth1").drop("ttl_exceeded") >= 1,
            "{}",
            r.show_interfaces()
        );
    }
}
both_forwarders!(hop_limit_expiry);

// ---------------------------------------------------------------------------

/// Router port eth2 (to k8s-w0) has `mtu = 1400`. A 1500-byte packet from
/// curl-pod to webpod-w0 (IPv6: never fragmented by a router) gets ICMPv6
/// Packet Too Big with MTU 1400 from the router; curl-pod's kernel caches
/// the path MTU (`ip -6 route get` shows `mtu 1400`); packets that fit
/// pass, and TCP (GSO on) delivers intact data both ways.
fn packet_too_big(mode: Forwarder) {
    require!("ping", "socat", "python3", "sha256sum", "ss", "curl");
    let options = LabOptions {
        port_mtu: vec![("eth2", 1400)],
        ..LabOptions::default()
    };
    let mut lab = lab("ptb6", mode, LabConfig::Static, options);
    let client = lab.ns(CLIENT_POD).clone();
    let far = far_webpod();
    let route = client.ip(&format!("-6 route get {}", far.addr6));
    assert!(!route.contains("mtu"), "no path MTU cached yet: {route}");
    // 1452 + 8 + 40 = 1500.
    let (_, rx, out) = ping(
        &client,
        &["-c", "2", "-i", "0.3", "-W", "2", "-M", "do", "-s", "1452"],
        far.addr6,
    );
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Packet too big: mtu=1400",
            router_near()
        )),
        "expected Packet Too Big with mtu 1400 from the router:\n{out}"
    );
    let route = client.ip(&format!("-6 route get {}", far.addr6));
    assert!(
        route.contains("mtu 1400"),
        "curl-pod should have cached the path MTU: {route}"
    );
    // Fits: 1352 + 48 = 1400.
    let (_, rx, out) = ping(
        &client,
        &["-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", "1352"],
        far.addr6,
    );
    assert_eq!(rx, 2, "{out}");

    let far_ns = lab.ns(far.name).clone();
    const SIZE: usize = 8 << 20;
    for (from, to, to_ip, port) in [
        (&client, &far_ns, far.addr6, 5003),
        (&far_ns, &client, pod(CLIENT_POD).addr6, 5004),
    ] {
        let r = tcp_bulk(
            &mut lab.lab,
            from,
            to,
            to_ip,
            port,
            SIZE,
            Duration::from_secs(60),
        );
        r.assert_intact(SIZE);
    }
    if let Some(r) = &lab.router {
        // The first DF probe reached the router; later ones fail at curl-pod.
        assert!(
            r.port_stats("eth1").drop("mtu") + r.port_stats("eth2").drop("mtu") >= 1,
            "{}",
            r.show_interfaces()
        );
    }
}
both_forwarders!(packet_too_big);

// ---------------------------------------------------------------------------

/// A static route to a next hop that does not exist (fd00:20::77 on
/// k8s-w0's subnet): neighbour discovery gets no answer and the sender gets
/// ICMPv6 Destination Unreachable, Address Unreachable (RFC 4443 §3.1 code
/// 3) from the router; nothing reaches k8s-w0.
fn ndp_no_answer(mode: Forwarder) {
    require!("ping", "curl", "python3", "ss");
    let options = LabOptions {
        extra_routes: vec![("fd00:172:20:5::/64".into(), "fd00:20::77".into())],
        ..LabOptions::default()
    };
    let lab = lab("ndp6", mode, LabConfig::Static, options);
    let client = lab.ns(CLIENT_POD);
    let w0 = lab.ns(far_webpod().node);
    let w0_fwd = w0.snmp6("Ip6OutForwDatagrams");
    let (_, rx, out) = ping(client, &["-c", "1", "-W", "8"], "fd00:172:20:5::1");
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Destination unreachable: Address unreachable",
            router_near()
        )),
        "{out}"
    );
    // k8s-w0 sees the router's neighbour solicitations for fd00:20::77
    // (multicast), never the echo request itself.
    assert_eq!(
        w0.snmp6("Ip6OutForwDatagrams"),
        w0_fwd,
        "nothing may be forwarded by k8s-w0"
    );
    if let Some(r) = &lab.router {
        assert!(
            r.drops_total("neigh_unresolved") >= 1,
            "{}",
            r.show_interfaces()
        );
    }
    // The rest of the lab is unaffected.
    let far = far_webpod();
    assert_eq!(curl6(&lab, far.addr6).as_deref(), far.hostname);
}
both_forwarders!(ndp_no_answer);

// ---------------------------------------------------------------------------

/// Malformed and martian IPv6 frames injected from k8s-w0 into the router's
/// eth2 with a raw socket (`tests/tools/inject_frames6.py`) are dropped and
/// counted, while valid ones (next header 253) reach k8s-ctr and a ping6
/// through the same port loses nothing.
fn malformed_frames6(mode: Forwarder) {
    require!("ping", "python3", "curl", "ss");
    let mut lab = lab("bad6", mode, LabConfig::Static, LabOptions::default());
    let w0 = seed::node("k8s-w0");
    let ctr = seed::node("k8s-ctr");
    let (src, dst) = (lab.ns(w0.name).clone(), lab.ns(ctr.name).clone());
    // Neighbours resolved both ways before the injection.
    let (_, rx, out) = ping(&src, &["-c", "1", "-W", "2"], ctr.addr6);
    assert_eq!(rx, 1, "{out}");
    let router_mac = lab.ns(ROUTER_NS).mac(w0.router_port().iface);
    let src_mac = src.mac("eth1");
    let before = lab
        .router
        .as_ref()
        .map(|r| (r.drops_total("bad_header"), r.drops_total("martian")));
    let unknown_before = dst.snmp6("Ip6InUnknownProtos");
    let hdr_err_before = dst.snmp6("Ip6InHdrErrors");

    const N: u32 = 100;
    let script = repo_file("tests/tools/inject_frames6.py");
    let flood = lab.lab.spawn(
        &src,
        &[
            "ping", "-n", "-q", "-c", "500", "-i", "0.005", "-W", "2", ctr.addr6,
        ],
    );
    let inject = lab.lab.spawn(
        &src,
        &[
            "python3",
            &script.to_string_lossy(),
            "eth1",
            &src_mac,
            &router_mac,
            w0.addr6,
            ctr.addr6,
            &N.to_string(),
            "0.005",
        ],
    );
    assert_eq!(
        lab.lab.wait_exit(inject, Duration::from_secs(20)),
        Some(0),
        "{}",
        lab.lab.log_of(inject)
    );
    assert_eq!(
        lab.lab.wait_exit(flood, Duration::from_secs(30)),
        Some(0),
        "ping6 flood lost packets:\n{}",
        lab.lab.log_of(flood)
    );
    let flood_out = lab.lab.log_of(flood);
    assert_eq!(ping_counts(&flood_out), Some((500, 500)), "{flood_out}");

    let injected: serde_json::Value =
        serde_json::from_str(lab.lab.log_of(inject).trim()).expect("injector JSON");
    let expect = |k: &str| injected["expected"][k].as_u64().unwrap_or(0);
    // Exactly the valid frames reached k8s-ctr's IPv6 layer (next header
    // 253 is an unknown protocol there); nothing with a bad header did.
    let unknown = dst.snmp6("Ip6InUnknownProtos") - unknown_before;
    let hdr_err = dst.snmp6("Ip6InHdrErrors") - hdr_err_before;
    assert_eq!(hdr_err, 0, "frames with bad headers reached k8s-ctr");
    assert_eq!(
        unknown,
        expect("forward"),
        "k8s-ctr must receive exactly the valid injected packets: {injected}"
    );
    if let (Some(r), Some((bad0, mart0))) = (&lab.router, before) {
        let v = r.show_interfaces();
        assert_eq!(
            r.drops_total("bad_header") - bad0,
            expect("bad_header"),
            "bad_header drops; {v}"
        );
        assert_eq!(
            r.drops_total("martian") - mart0,
            expect("martian"),
            "martian drops; {v}"
        );
        let drops = r.cli(&["show", "drops"]);
        eprintln!("$ router show drops\n{}", drops.stdout);
        for w in ["bad_header", "martian"] {
            assert!(drops.stdout.contains(w), "show drops: {drops}");
        }
    }
}
both_forwarders!(malformed_frames6);

// ---------------------------------------------------------------------------

/// The seed's failure in IPv6 (configs/lab-broken.toml, dual stack: no
/// PodCIDR routes for either family): curl-pod reaches the webpods on its
/// own subnet, but IPv6 to fd00:172:20:2::/64 leaves by `::/0` to the wan,
/// where it is counted, and nothing reaches k8s-w0. The static fix brings
/// it back.
fn broken_leaks_ipv6_to_wan(mode: Forwarder) {
    require!("ping", "curl", "python3", "ss");
    let mut lab = lab("broken6", mode, LabConfig::Broken, LabOptions::default());
    let far = far_webpod();
    for p in webpods().filter(|p| !p.behind_router()) {
        assert_eq!(curl6(&lab, p.addr6).as_deref(), p.hostname, "{}", p.name);
    }
    let leaks = lab.wan_leaks6();
    // What the webpod got: echo requests and TCP segments (its IPv6
    // counters also see neighbour discovery and MLD from its node).
    let far_ns = lab.ns(far.name).clone();
    let got = || (far_ns.snmp6("Icmp6InEchos"), far_ns.snmp("Tcp", "InSegs"));
    let pod_in = got();
    assert_eq!(lab.curl(far.addr6), None, "{} has no route", far.addr6);
    let (_, rx, out) = ping(
        lab.ns(CLIENT_POD),
        &["-c", "3", "-i", "0.3", "-W", "1"],
        far.addr6,
    );
    assert_eq!(rx, 0, "{out}");
    let leaked = lab.wan_leaks6() - leaks;
    assert!(
        leaked >= 4,
        "the wan namespace should count the leaked IPv6 packets (saw {leaked})"
    );
    assert_eq!(got(), pod_in, "nothing may reach the webpod on k8s-w0");
    if mode == Forwarder::Router {
        explain_broken6(&lab, far);
    }

    // The fix, as `lab.sh fix` does it.
    match mode {
        Forwarder::Kernel => seed::router_spec(LabConfig::Static, &lab.options)
            .apply_kernel_routes(lab.ns(ROUTER_NS)),
        Forwarder::Router => {
            lab.stop_router();
            lab.start_router(LabConfig::Static);
        }
    }
    let leaks = lab.wan_leaks6();
    for p in webpods() {
        assert_eq!(
            curl6(&lab, p.addr6).as_deref(),
            p.hostname,
            "{} fixed",
            p.addr6
        );
    }
    assert_eq!(
        lab.wan_leaks6(),
        leaks,
        "nothing leaks once the route exists"
    );
    if mode == Forwarder::Router {
        explain_fixed6(&lab, far);
    }
}
both_forwarders!(broken_leaks_ipv6_to_wan);

/// `route get` for the far webpod's IPv6 address in the broken lab: it
/// leaves by `::/0` out of eth0 because no route covers its PodCIDR.
fn explain_broken6(lab: &SeedLab, far: &Pod) {
    let wan = seed::WAN_ADDR6;
    let (first, all, v) = lab.router().route_get(&[far.addr6]);
    let cidr = far.node().pod_cidr6;
    assert!(
        first.starts_with(&format!(
            "{} via {wan} dev eth0 src {}: ",
            far.addr6,
            seed::router_port("eth0").addr6
        )),
        "{all}"
    );
    assert!(
        first.ends_with("forwarded by the default route (no route more specific than ::/0)"),
        "{all}"
    );
    assert!(all.contains(&format!("no route covers {cidr}")), "{all}");
    assert_eq!(v["considered"]["uncovered"], cidr, "{v}");
    assert_eq!(v["route"]["prefix"], "::/0", "{v}");
    assert_eq!(v["packet"]["protocol"], "icmpv6", "{v}");
    // The pings above resolved the wan's address by NDP.
    assert!(all.contains(&format!("neighbour   {wan} at ")), "{all}");
}

/// `route get` once the static fix is in: the PodCIDR's route with its
/// config line, the node's NDP entry, hop-limit expiry and local delivery.
fn explain_fixed6(lab: &SeedLab, far: &Pod) {
    let node = far.node();
    let port = router_port("eth2");
    let (first, all, v) = lab.router().route_get(&[far.addr6]);
    assert!(
        first.starts_with(&format!(
            "{} via {} dev eth2 src {}: forwarded by {} (static)",
            far.addr6, node.addr6, port.addr6, node.pod_cidr6
        )),
        "{all}"
    );
    let at = v["route"]["provenance"]["config"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (file, line) = at.rsplit_once(':').expect("FILE:LINE");
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let line: usize = line.parse().expect("a line number");
    let near: Vec<&str> = text.lines().skip(line.saturating_sub(2)).take(4).collect();
    assert!(
        near.iter().any(|l| l.contains(node.pod_cidr6)),
        "{at}: {near:?}"
    );
    // curl-pod's traffic made the router resolve the node: a solicited
    // Neighbor Advertisement confirmed it.
    assert!(
        all.contains(&format!("neighbour   {} at ", node.addr6)),
        "{all}"
    );
    assert!(all.contains(" s ago"), "no last-confirmed time: {all}");
    let (first, all, _) = lab.router().route_get(&[far.addr6, "hoplimit", "1"]);
    assert!(first.contains("dropped (ttl_exceeded"), "{all}");
    assert!(first.contains("ICMPv6 time-exceeded sent to"), "{all}");
    let (first, all, v) = lab.router().route_get(&[far.addr6, "len", "1501"]);
    assert_eq!(v["verdict"]["reason"], "mtu", "{all}");
    assert!(first.contains("ICMPv6 packet-too-big"), "{all}");
    let ours = router_port("eth1").addr6;
    let (first, all, _) = lab.router().route_get(&[ours, "iif", "eth1"]);
    assert!(first.contains("local delivery"), "{all}");
}

// ---------------------------------------------------------------------------

/// The README's command in dual stack: `lab.sh up broken --dual-stack`,
/// `demo` shows the far webpod failing over IPv6 too and IPv6 leaking to
/// the wan; `lab.sh fix`, then `demo` shows curl-pod reaching every
/// webpod over IPv4 and IPv6.
fn lab_sh_dual_stack_demo(mode: Forwarder) {
    require!("curl", "ping", "python3", "ss", "tcpdump");
    let mut lab = LabScript::up_with(LAB_BIN, "broken", mode, &["--dual-stack"]);
    let far = far_webpod();
    let out = lab.lab_sh(&["demo", "1"], Duration::from_secs(90));
    assert!(out.success(), "{out}");
    for ip in [far.addr, far.addr6] {
        assert!(
            out.stdout.contains(&format!("---   ({ip}: no answer)")),
            "{ip} must fail in the broken lab:\n{out}"
        );
    }
    assert!(
        !out.stdout.contains(
            "IPv6 packets for foreign addresses that leaked to the wan side during the demo: 0"
        ),
        "the broken lab leaks IPv6 to the wan:\n{out}"
    );

    let fix = lab.lab_sh(&["fix"], Duration::from_secs(60));
    assert!(fix.success(), "{fix}");
    // A freshly restarted router may still be resolving neighbours.
    for p in webpods() {
        assert_eq!(
            (0..3).find_map(|_| lab.curl(p.addr6)).as_deref(),
            p.hostname,
            "{} after the fix",
            p.addr6
        );
    }
    let leaks = lab.wan_leaks6();
    let out = lab.lab_sh(&["demo", "2"], Duration::from_secs(90));
    assert!(out.success(), "{out}");
    for p in webpods() {
        let host = p.hostname.unwrap_or_default();
        for ip in [p.addr, p.addr6] {
            assert!(
                out.stdout.contains(&format!("Hostname: {host}   ({ip})")),
                "{host} via {ip} missing from demo:\n{out}"
            );
        }
    }
    assert!(!out.stdout.contains("no answer"), "{out}");
    assert_eq!(out.stdout.matches("answered  2/2").count(), 6, "{out}");
    assert_eq!(lab.wan_leaks6(), leaks, "nothing leaks once fixed");
    assert!(
        out.stdout.contains(
            "IPv6 packets for foreign addresses that leaked to the wan side during the demo: 0"
        ),
        "{out}"
    );
    lab.down();
}
both_forwarders!(lab_sh_dual_stack_demo);

// ---------------------------------------------------------------------------

/// BGP (router only; the kernel forwarder has no BGP): each node's gobgpd
/// announces its IPv6 PodCIDR as Cilium does by default — ipv6-unicast on
/// the same IPv4 session, so the next hop it sends is IPv4-mapped
/// (::ffff:<node>) — and the router installs fd00:172:20:N::/64 from BGP
/// and forwards to them.
#[test]
fn bgp_ipv6_pod_cidrs_router() {
    require!("curl", "ping", "python3", "ss", "gobgpd", "gobgp");
    let lab = lab(
        "bgp6",
        Forwarder::Router,
        LabConfig::Bgp,
        LabOptions::default(),
    );
    let router: std::net::IpAddr = ROUTER_ID.parse().expect("router id");
    let ok = poll_until(Duration::from_secs(30), Duration::from_millis(200), || {
        lab.gobgp.iter().all(|g| g.is_established(router))
    });
    assert!(
        ok,
        "not every gobgpd established its session with the router"
    );
    // What gobgpd sends for its IPv6 PodCIDR: MP_REACH_NLRI (AFI 2) with
    // the node's IPv4 address as next hop. `gobgp` prints it as the IPv4
    // address; on the wire it is ::ffff:<node> (16 octets), checked below
    // with tcpdump.
    for (n, g) in NODES.iter().zip(&lab.gobgp) {
        let rib = g
            .cli(&["global", "rib", "-a", "ipv6"])
            .unwrap_or_else(|e| e);
        assert!(
            rib.contains(n.pod_cidr6),
            "{}: global rib -a ipv6:\n{rib}",
            n.name
        );
        let mut adj = serde_json::Value::Null;
        let sent = poll_until(Duration::from_secs(10), Duration::from_millis(200), || {
            adj = g
                .cli(&["neighbor", ROUTER_ID, "adj-out", "-a", "ipv6", "-j"])
                .ok()
                .and_then(|o| serde_json::from_str(&o).ok())
                .unwrap_or_default();
            !adj[n.pod_cidr6].is_null()
        });
        let mp_reach = adj[n.pod_cidr6][0]["attrs"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["type"] == 14).cloned())
            .unwrap_or_default();
        assert!(
            sent && mp_reach["afi"] == 2 && mp_reach["nexthop"] == n.addr,
            "{}: gobgpd should send {} in MP_REACH_NLRI with next hop {} (IPv4-mapped):\n{adj}",
            n.name,
            n.pod_cidr6,
            n.addr
        );
    }
    if router_tests::have_tool("tcpdump") {
        let n = &NODES[0];
        let (ns, g) = (lab.ns(n.name).clone(), &lab.gobgp[0]);
        let cap = std::thread::spawn(move || {
            // `timeout` ends it with SIGTERM: tcpdump flushes what it has.
            ns.run(
                &[
                    "timeout", "5", "tcpdump", "-i", "eth1", "-l", "-nn", "-vvv", "-s0", "tcp",
                    "port", "179",
                ],
                Duration::from_secs(8),
            )
        });
        std::thread::sleep(Duration::from_millis(1000));
        g.withdraw(n.pod_cidr6).expect("withdraw");
        std::thread::sleep(Duration::from_millis(300));
        g.announce(n.pod_cidr6).expect("announce");
        let cap = cap.join().expect("tcpdump thread");
        assert!(
            cap.stdout
                .contains(&format!("nexthop: ::ffff:{}, nh-length: 16", n.addr)),
            "the UPDATE for {} should carry next hop ::ffff:{}:\n{cap}",
            n.pod_cidr6,
            n.addr
        );
    }
    assert!(
        lab.wait_bgp_learned(Duration::from_secs(30)),
        "the router did not install every IPv4 and IPv6 PodCIDR from BGP:\n{}",
        lab.router().cli(&["show", "route"])
    );
    let routes = lab.router().cli(&["show", "route"]);
    eprintln!("$ router show route\n{}", routes.stdout);
    for p in webpods() {
        assert_eq!(
            curl6(&lab, p.addr6).as_deref(),
            p.hostname,
            "{} via BGP",
            p.addr6
        );
        assert_eq!(
            curl6(&lab, p.addr).as_deref(),
            p.hostname,
            "{} via BGP",
            p.addr
        );
    }
    let leaks = lab.wan_leaks6();
    let far = far_webpod();
    let (_, rx, out) = ping(
        lab.ns(CLIENT_POD),
        &["-c", "3", "-i", "0.2", "-W", "2"],
        far.addr6,
    );
    assert_eq!(rx, 3, "{out}");
    assert_eq!(lab.wan_leaks6(), leaks, "nothing leaks to {WAN_NS}");
    // `route get` names the BGP path and the IPv4-mapped next hop, whose
    // MAC is the node's ARP entry.
    let node = far.node();
    let (first, all, v) = lab.router().route_get(&[far.addr6]);
    assert!(
        first.starts_with(&format!(
            "{} via ::ffff:{} dev eth2 src {}: forwarded by {} (bgp)",
            far.addr6,
            node.addr,
            router_port("eth2").addr6,
            node.pod_cidr6
        )),
        "{all}"
    );
    assert!(
        all.contains(&format!("BGP, from peer {}", node.addr)),
        "{all}"
    );
    assert_eq!(v["route"]["provenance"]["source"], "bgp", "{v}");
    assert!(
        all.contains(&format!("neighbour   ::ffff:{} at ", node.addr)),
        "{all}"
    );
}

// ---------------------------------------------------------------------------
// Config errors (no root needed).

/// A dual-stack config in the documented syntax: mixed addresses on ports
/// and loopbacks, global and link-local (with its port) IPv6 next hops.
const GOOD6: &str = r#"[router]
worker_threads = 2

[[ports]]
name = "eth1"
addresses = ["192.168.10.200/24", "fd00:10::200/64"]

[[ports]]
name = "eth2"
addresses = ["192.168.20.200/24", "fd00:20::200/64"]

[[loopbacks]]
name = "loop1"
addresses = ["10.10.1.200/24", "fd00:10:10:1::200/64"]

[[routes]]
prefix = "fd00:172:20:2::/64"
via = "fd00:20::100"

[[routes]]
prefix = "fd00:172:20:9::/64"
via = "fe80::1"
port = "eth1"

[[routes]]
prefix = "::/0"
via = "fd00:10::1"
"#;

fn router_cmd(args: &[&str], file: &Path) -> CmdOutput {
    run_timeout(
        Command::new(router_bin()).args(args).arg(file),
        Duration::from_secs(10),
    )
}

fn scratch() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(router_tests::unique_name("rtest", "cfg6"));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// `GOOD6` with `from` replaced by `to` (must occur); the text and the
/// 1-based line of the change.
fn mutate(from: &str, to: &str) -> (String, usize) {
    let at = GOOD6
        .find(from)
        .unwrap_or_else(|| panic!("{from} not in GOOD6"));
    let line = GOOD6[..at].matches('\n').count() + 1;
    (GOOD6.replacen(from, to, 1), line)
}

/// `PATH:LINE:COL:` somewhere in `stderr`, COL a number.
fn has_location(stderr: &str, path: &Path, lines: &[usize]) -> bool {
    lines.iter().any(|line| {
        let want = format!("{}:{line}:", path.display());
        stderr.match_indices(&want).any(|(i, m)| {
            let rest = &stderr[i + m.len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            digits > 0 && rest[digits..].starts_with(':')
        })
    })
}

#[test]
fn ipv6_config_good_and_generated_pass_check() {
    let dir = scratch();
    let good = dir.join("good6.toml");
    std::fs::write(&good, GOOD6).expect("write");
    let out = router_cmd(&["check"], &good);
    let mut failures = Vec::new();
    if !out.success() {
        failures.push(format!("GOOD6: {out}"));
    }
    // The dual-stack lab's configs, as the lab generates them.
    let dual = dual(LabOptions::default());
    for c in LabConfig::ALL {
        let f = dir.join(format!("lab-{}-dual.toml", c.name()));
        std::fs::write(&f, seed::router_spec(c, &dual).to_toml()).expect("write");
        let out = router_cmd(&["check"], &f);
        if !out.success() {
            failures.push(format!("{}: {out}", f.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// (what, (text, line of the change), more lines the error may point at,
/// a word the message must hold).
type BadCase = (&'static str, (String, usize), Vec<usize>, &'static str);

#[test]
fn ipv6_config_errors_name_file_line_and_column() {
    let dir = scratch();
    let (no_port, no_port_line) = mutate("port = \"eth1\"\n", "");
    let (mixed, mixed_line) = mutate("\"fd00:172:20:2::/64\"", "\"172.20.2.0/24\"");
    let cases: Vec<BadCase> = vec![
        (
            "IPv6 prefix longer than 128",
            mutate("\"fd00:172:20:2::/64\"", "\"fd00:172:20:2::/129\""),
            vec![],
            "prefix",
        ),
        (
            "bad IPv6 interface address",
            mutate("\"fd00:10::200/64\"", "\"fd00:10::zz/64\""),
            vec![],
            "addresses",
        ),
        (
            "bad IPv6 loopback address",
            mutate("\"fd00:10:10:1::200/64\"", "\"fd00:10:10:1::200/200\""),
            vec![],
            "addresses",
        ),
        (
            "IPv6 next hop on no connected subnet",
            mutate("\"fd00:20::100\"", "\"fd00:30::1\""),
            vec![],
            "via",
        ),
        (
            "IPv4 prefix via an IPv6 next hop",
            (mixed, mixed_line),
            vec![mixed_line + 1],
            "via",
        ),
        (
            "duplicate IPv6 address",
            mutate("\"fd00:20::200/64\"", "\"fd00:10::200/64\""),
            vec![],
            "addresses",
        ),
        (
            // The link-local next hop's route lost its port: the error is
            // at the route (its prefix, via or table line).
            "link-local next hop without a port",
            (no_port, no_port_line),
            vec![no_port_line - 3, no_port_line - 2, no_port_line - 1],
            "port",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, (text, line), more, word)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("bad6-{i}.toml"));
        std::fs::write(&path, &text).expect("write");
        let mut lines = vec![line];
        lines.extend(more);
        for verb in [
            &["check"][..],
            &["run", "--socket", "/nonexistent/router.sock", "-c"][..],
        ] {
            let out = router_cmd(verb, &path);
            if out.code != Some(2)
                || !has_location(&out.stderr, &path, &lines)
                || !out.stderr.contains(word)
            {
                failures.push(format!(
                    "{what} ({verb:?}): want exit 2, `{}:{lines:?}:COL:` and `{word}` on stderr; got {out}",
                    path.display()
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
