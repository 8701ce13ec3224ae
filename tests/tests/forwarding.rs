//! Forwarding across the router with real kernel stacks at both ends:
//! `src (192.168.10.100) — router (eth1 .10.200 | eth2 .20.200) — dst (192.168.20.100)`,
//! veths with their default offloads.
//!
//! Every scenario runs twice: `::router` against `router`, and `::kernel`
//! against the router namespace's own kernel (ip_forward=1), which checks
//! that the test asserts what a correct router does. Drop counters are only
//! checked for `router`.
use std::time::Duration;

use router_tests::{
    both_forwarders, ping_counts, repo_file, require, spawn_whoami, tcp_bulk, Forwarder, Line,
    DST_IP, RTR_DST_SIDE, RTR_SRC_SIDE, SRC_IP,
};

const T: Duration = Duration::from_secs(20);

fn ping(from: &router_tests::Ns, args: &[&str], to: &str) -> (u32, u32, String) {
    let mut v = vec!["ping", "-n"];
    v.extend_from_slice(args);
    v.push(to);
    let out = from.run(&v, T);
    assert!(!out.timed_out, "{out}");
    let text = out.combined();
    let (tx, rx) = ping_counts(&text).unwrap_or_else(|| panic!("no ping summary: {out}"));
    (tx, rx, text)
}

// ---------------------------------------------------------------------------

fn ping_across(mode: Forwarder) {
    require!("ping");
    let line = Line::build("ping", mode, Line::default_spec());
    for size in ["56", "1000", "1472"] {
        let (tx, rx, out) = ping(
            &line.src,
            &["-c", "3", "-i", "0.2", "-W", "2", "-s", size],
            DST_IP,
        );
        assert_eq!((tx, rx), (3, 3), "src -> dst, {size} bytes:\n{out}");
        assert!(
            out.contains(&format!(
                "{} bytes from {DST_IP}",
                size.parse::<u32>().unwrap() + 8
            )),
            "{out}"
        );
        let (tx, rx, out) = ping(
            &line.dst,
            &["-c", "3", "-i", "0.2", "-W", "2", "-s", size],
            SRC_IP,
        );
        assert_eq!((tx, rx), (3, 3), "dst -> src, {size} bytes:\n{out}");
    }
    // A forwarded packet has its TTL decremented once: dst's reply arrives
    // with 63 (Linux's 64 minus one hop).
    let (_, _, out) = ping(&line.src, &["-c", "1", "-W", "2"], DST_IP);
    assert!(out.contains("ttl=63"), "expected one hop (ttl=63):\n{out}");
    // The router answers echo for its own addresses, also the far port's.
    for addr in [RTR_SRC_SIDE, RTR_DST_SIDE] {
        let (tx, rx, out) = ping(&line.src, &["-c", "2", "-i", "0.2", "-W", "2"], addr);
        assert_eq!((tx, rx), (2, 2), "ping router {addr}:\n{out}");
        assert!(
            out.contains("ttl=64"),
            "the router itself answers (ttl=64):\n{out}"
        );
    }
    if let Some(r) = &line.router {
        // eth1 received at least: 9 requests to dst, 9 replies to dst's
        // requests, the ttl probe and 4 requests to the router itself.
        let s = r.port_stats("eth1");
        assert!(
            s.rx_packets >= 23,
            "eth1 rx_packets {} < pings sent",
            s.rx_packets
        );
        // eth2 sent at least 10 requests to dst and 9 replies to dst's.
        let s2 = r.port_stats("eth2");
        assert!(s2.tx_packets >= 19, "eth2 tx_packets {}", s2.tx_packets);
    }
}
both_forwarders!(ping_across);

// ---------------------------------------------------------------------------

/// HTTP and bulk TCP in both directions with the veths' default offloads
/// (checksum offload, TSO/GSO, GRO): a forwarder that mishandles
/// CHECKSUM_PARTIAL or GSO frames fails here while pings pass.
fn tcp_across(mode: Forwarder) {
    require!("socat", "curl", "python3", "sha256sum", "ss");
    let mut line = Line::build("tcp", mode, Line::default_spec());
    let offloads = line.src.run(&["ethtool", "-k", "eth0"], T).stdout;
    assert!(
        offloads.contains("tcp-segmentation-offload: on"),
        "veth TSO should default to on:\n{offloads}"
    );

    spawn_whoami(&mut line.lab, &line.dst, "webpod-test-dst", 8080);
    for _ in 0..3 {
        let out = line.src.run(
            &[
                "curl",
                "-s",
                "--connect-timeout",
                "2",
                "--max-time",
                "5",
                &format!("http://{DST_IP}:8080/"),
            ],
            T,
        );
        assert!(out.success(), "{out}");
        assert!(out.stdout.contains("Hostname: webpod-test-dst"), "{out}");
        assert!(
            out.stdout.contains(&format!("RemoteAddr: {SRC_IP}:")),
            "{out}"
        );
    }

    const FORWARD: usize = 128 << 20;
    let (src, dst) = (line.src.clone(), line.dst.clone());
    let r = tcp_bulk(
        &mut line.lab,
        &src,
        &dst,
        DST_IP,
        5001,
        FORWARD,
        Duration::from_secs(90),
    );
    r.assert_intact(FORWARD);
    eprintln!(
        "[{}] bulk src->dst {} MiB in {:.2} s = {:.2} Gbit/s",
        mode.name(),
        FORWARD >> 20,
        r.secs,
        r.gbit_per_s()
    );

    const BACK: usize = 32 << 20;
    let r = tcp_bulk(
        &mut line.lab,
        &dst,
        &src,
        SRC_IP,
        5002,
        BACK,
        Duration::from_secs(60),
    );
    r.assert_intact(BACK);
    eprintln!(
        "[{}] bulk dst->src {} MiB in {:.2} s = {:.2} Gbit/s",
        mode.name(),
        BACK >> 20,
        r.secs,
        r.gbit_per_s()
    );
}
both_forwarders!(tcp_across);

// ---------------------------------------------------------------------------

fn ttl_expiry(mode: Forwarder) {
    require!("ping", "traceroute");
    let line = Line::build("ttl", mode, Line::default_spec());
    let (_, rx, out) = ping(&line.src, &["-c", "1", "-W", "2", "-t", "1"], DST_IP);
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!("From {RTR_SRC_SIDE}")) && out.contains("Time to live exceeded"),
        "{out}"
    );

    let out = line
        .src
        .run(
            &["traceroute", "-n", "-q", "1", "-w", "2", "-m", "3", DST_IP],
            T,
        )
        .ok();
    let hops: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert!(hops.len() >= 2, "{out}");
    assert!(
        hops[0].trim_start().starts_with('1') && hops[0].contains(RTR_SRC_SIDE),
        "hop 1 is the router: {out}"
    );
    assert!(
        hops[1].trim_start().starts_with('2') && hops[1].contains(DST_IP),
        "hop 2 is dst: {out}"
    );
    if let Some(r) = &line.router {
        assert!(
            r.port_stats("eth1").drop("ttl_exceeded") >= 2,
            "{}",
            r.show_interfaces()
        );
    }
}
both_forwarders!(ttl_expiry);

// ---------------------------------------------------------------------------

/// No route (no default route): ICMP net unreachable from the router, counted
/// as no_route, and nothing leaves another port. A blackhole route drops
/// silently.
fn no_route(mode: Forwarder) {
    require!("ping");
    let line = Line::build(
        "noroute",
        mode,
        Line::default_spec().blackhole("172.20.8.0/24"),
    );
    let dst_in = line.dst.snmp("Ip", "InReceives");
    let (_, rx, out) = ping(
        &line.src,
        &["-c", "2", "-i", "0.3", "-W", "2"],
        "172.20.9.9",
    );
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!("From {RTR_SRC_SIDE}"))
            && out.contains("Destination Net Unreachable"),
        "{out}"
    );

    let (_, rx, out) = ping(
        &line.src,
        &["-c", "2", "-i", "0.3", "-W", "1"],
        "172.20.8.1",
    );
    assert_eq!(rx, 0, "{out}");
    assert!(
        !out.contains("Unreachable"),
        "a blackhole route drops silently:\n{out}"
    );

    assert_eq!(
        line.dst.snmp("Ip", "InReceives"),
        dst_in,
        "nothing may leak out the other port"
    );
    if let Some(r) = &line.router {
        assert!(
            r.port_stats("eth1").drop("no_route") >= 4,
            "{}",
            r.show_interfaces()
        );
    }
}
both_forwarders!(no_route);

// ---------------------------------------------------------------------------

/// The next hop answers ARP only ~1.2 s after the first packet: the packet
/// waits in the neighbour queue and is delivered late. A next hop that never
/// answers gives ICMP host unreachable.
fn late_arp(mode: Forwarder) {
    require!("ping");
    let spec = Line::default_spec().via("172.20.5.0/24", "192.168.20.77");
    let mut line = Line::build_with("arp", mode, spec, |l| {
        l.dst.ip("link set eth0 arp off");
    });
    let src = line.src.clone();
    let pid = line
        .lab
        .spawn(&src, &["ping", "-n", "-c", "1", "-W", "8", DST_IP]);
    std::thread::sleep(Duration::from_millis(1200));
    line.dst.ip("link set eth0 arp on");
    let code = line.lab.wait_exit(pid, Duration::from_secs(12));
    let out = line.lab.log_of(pid);
    assert_eq!(
        code,
        Some(0),
        "the queued echo request must be delivered once ARP resolves:\n{out}"
    );
    let rtt: f64 = out
        .split("time=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no rtt in:\n{out}"));
    assert!(
        rtt >= 1000.0,
        "the reply should have waited for ARP (rtt {rtt} ms):\n{out}"
    );
    // Now resolved: normal latency.
    let (_, rx, out) = ping(&line.src, &["-c", "2", "-i", "0.2", "-W", "2"], DST_IP);
    assert_eq!(rx, 2, "{out}");

    // 192.168.20.77 does not exist.
    let (_, rx, out) = ping(&line.src, &["-c", "1", "-W", "8"], "172.20.5.1");
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains(&format!("From {RTR_SRC_SIDE}"))
            && out.contains("Destination Host Unreachable"),
        "{out}"
    );
    if let Some(r) = &line.router {
        assert!(
            r.drops_total("neigh_unresolved") >= 1,
            "{}",
            r.show_interfaces()
        );
    }
}
both_forwarders!(late_arp);

// ---------------------------------------------------------------------------

/// eth2 has MTU 1400. Without DF a 1500-byte packet is fragmented by the
/// router and reassembled at dst; with DF the sender gets "fragmentation
/// needed" with the MTU; TCP (GSO on) still delivers intact data.
fn df_mtu(mode: Forwarder) {
    require!("ping", "socat", "python3", "sha256sum", "ss");
    let mut spec = Line::default_spec();
    spec.ports[1].mtu = Some(1400);
    // Both ends of a link share its MTU (a veth drops frames larger than
    // the receiving end's MTU).
    let mut line = Line::build_with("mtu", mode, spec, |l| {
        l.dst.ip("link set eth0 mtu 1400");
    });

    // No DF first (before the sender learns the path MTU and fragments itself).
    let reasm = line.dst.snmp("Ip", "ReasmOKs");
    let (tx, rx, out) = ping(
        &line.src,
        &[
            "-c", "3", "-i", "0.2", "-W", "2", "-M", "dont", "-s", "1472",
        ],
        DST_IP,
    );
    assert_eq!((tx, rx), (3, 3), "{out}");
    let reasm = line.dst.snmp("Ip", "ReasmOKs") - reasm;
    assert!(reasm >= 3, "dst reassembled {reasm} datagrams: the router must fragment DF=0 packets over its 1400 MTU");

    // DF: ICMP fragmentation needed, MTU 1400.
    let (_, rx, out) = ping(
        &line.src,
        &["-c", "2", "-i", "0.3", "-W", "2", "-M", "do", "-s", "1472"],
        DST_IP,
    );
    assert_eq!(rx, 0, "{out}");
    assert!(
        out.contains("mtu = 1400") || out.contains("mtu=1400"),
        "expected Frag needed with mtu 1400:\n{out}"
    );
    let route = line.src.ip(&format!("route get {DST_IP}"));
    assert!(
        route.contains("mtu 1400"),
        "src should have learned the path MTU: {route}"
    );
    // Fits: 1372 + 28 = 1400.
    let (_, rx, out) = ping(
        &line.src,
        &["-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", "1372"],
        DST_IP,
    );
    assert_eq!(rx, 2, "{out}");

    // TCP with GSO on both sides of the MTU change.
    const SIZE: usize = 32 << 20;
    let (src, dst) = (line.src.clone(), line.dst.clone());
    let r = tcp_bulk(
        &mut line.lab,
        &src,
        &dst,
        DST_IP,
        5003,
        SIZE,
        Duration::from_secs(60),
    );
    r.assert_intact(SIZE);
    if let Some(r) = &line.router {
        // One DF probe reached the router; the second failed locally at src
        // (path MTU cached).
        assert!(
            r.port_stats("eth1").drop("mtu") + r.port_stats("eth2").drop("mtu") >= 1,
            "{}",
            r.show_interfaces()
        );
    }
}
both_forwarders!(df_mtu);

// ---------------------------------------------------------------------------

/// Malformed and martian frames injected from src with a raw socket are
/// dropped and counted, while a ping flood and a TCP transfer through the
/// same port lose nothing.
fn malformed_frames(mode: Forwarder) {
    require!("ping", "socat", "python3", "sha256sum", "ss");
    let mut line = Line::build("malformed", mode, Line::default_spec());
    let (src, dst) = (line.src.clone(), line.dst.clone());
    // Warm up ARP both ways so nothing waits for resolution.
    let (_, rx, out) = ping(&line.src, &["-c", "1", "-W", "2"], DST_IP);
    assert_eq!(rx, 1, "{out}");

    let router_mac = line.rtr.mac("eth1");
    let src_mac = line.src.mac("eth0");
    let before = line
        .router
        .as_ref()
        .map(|r| (r.drops_total("bad_header"), r.drops_total("martian")));
    let unknown_before = dst.snmp("Ip", "InUnknownProtos");
    let hdr_err_before = dst.snmp("Ip", "InHdrErrors");

    const N: u32 = 200;
    let script = repo_file("tests/tools/inject_frames.py");
    let flood = line.lab.spawn(
        &src,
        &[
            "ping", "-n", "-q", "-c", "2000", "-i", "0.002", "-W", "2", DST_IP,
        ],
    );
    let inject = line.lab.spawn(
        &src,
        &[
            "python3",
            &script.to_string_lossy(),
            "eth0",
            &src_mac,
            &router_mac,
            SRC_IP,
            DST_IP,
            &N.to_string(),
            "0.005",
        ],
    );
    const SIZE: usize = 64 << 20;
    let bulk = tcp_bulk(
        &mut line.lab,
        &src,
        &dst,
        DST_IP,
        5004,
        SIZE,
        Duration::from_secs(60),
    );
    assert_eq!(
        line.lab.wait_exit(inject, Duration::from_secs(20)),
        Some(0),
        "{}",
        line.lab.log_of(inject)
    );
    assert_eq!(
        line.lab.wait_exit(flood, Duration::from_secs(30)),
        Some(0),
        "ping flood lost packets:\n{}",
        line.lab.log_of(flood)
    );
    let flood_out = line.lab.log_of(flood);
    assert_eq!(ping_counts(&flood_out), Some((2000, 2000)), "{flood_out}");
    bulk.assert_intact(SIZE);

    let injected: serde_json::Value =
        serde_json::from_str(line.lab.log_of(inject).trim()).expect("injector JSON");
    let expect = |k: &str| injected["expected"][k].as_u64().unwrap_or(0);
    // Only the valid control frames reached dst's IP layer (protocol 253 is
    // counted there as an unknown protocol); nothing with a bad header did.
    let unknown = dst.snmp("Ip", "InUnknownProtos") - unknown_before;
    let hdr_err = dst.snmp("Ip", "InHdrErrors") - hdr_err_before;
    assert_eq!(hdr_err, 0, "frames with bad headers reached dst");
    match &line.router {
        Some(r) => {
            assert_eq!(
                unknown,
                expect("forward"),
                "dst must receive exactly the valid injected packets"
            );
            let (bad0, mart0) = before.expect("router mode");
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
        }
        None => {
            // Linux forwards some martians (e.g. class E sources), so only the
            // control frames are checked exactly.
            assert!(
                unknown >= expect("forward"),
                "valid injected packets must arrive ({unknown})"
            );
        }
    }
}
both_forwarders!(malformed_frames);

// ---------------------------------------------------------------------------

/// IPv4 options from real stacks. `ping -R` (the kernel's Record Route):
/// the reply's recorded route shows the router's address towards dst on
/// the way out and towards src on the way back. Options injected from src
/// with a raw socket (`tests/tools/ip_options.py`): malformed ones get ICMP
/// Parameter Problem from the router, its pointer at the bad octet; a loose
/// source route is dropped silently; Router Alert passes.
fn ip_options(mode: Forwarder) {
    require!("ping", "python3");
    let line = Line::build("ipopt", mode, Line::default_spec());
    let (tx, rx, out) = ping(&line.src, &["-c", "1", "-W", "2", "-R"], DST_IP);
    assert_eq!((tx, rx), (1, 1), "{out}");
    let rr: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("RR:"))
        .map(|l| l.trim_start_matches("RR:").trim())
        .take_while(|l| !l.is_empty())
        .collect();
    let at = |a: &str| rr.iter().position(|x| *x == a);
    let (out_hop, far, back_hop) = (
        at(RTR_DST_SIDE),
        at(DST_IP),
        rr.iter().rposition(|x| *x == RTR_SRC_SIDE),
    );
    assert!(
        matches!((out_hop, far, back_hop), (Some(o), Some(f), Some(b)) if o < f && f < b),
        "recorded route {rr:?} must hold {RTR_DST_SIDE}, then {DST_IP}, then {RTR_SRC_SIDE}:\n{out}"
    );

    let before = line
        .router
        .as_ref()
        .map(|r| (r.drops_total("bad_option"), r.drops_total("source_route")));
    let unknown_before = line.dst.snmp("Ip", "InUnknownProtos");
    let script = repo_file("tests/tools/ip_options.py");
    let (router_mac, src_mac) = (line.rtr.mac("eth1"), line.src.mac("eth0"));
    let out = line
        .src
        .run(
            &[
                "python3",
                &script.to_string_lossy(),
                "eth0",
                &src_mac,
                &router_mac,
                SRC_IP,
                DST_IP,
                "1.5",
            ],
            T,
        )
        .ok();
    let got: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("injector JSON");
    let pointer = |case: &str| {
        let v = &got[case];
        assert!(v.is_null() || v["from"] == RTR_SRC_SIDE, "{case}: {v}");
        v["pointer"].as_u64()
    };
    // A length of 0: the offending octet is the length (21); Linux points
    // at the option's type octet (20).
    let len_octet = if line.router.is_some() { 21 } else { 20 };
    assert_eq!(pointer("rr_len0"), Some(len_octet), "{got}");
    assert_eq!(pointer("rr_ptr3"), Some(22), "{got}");
    // An undefined Timestamp flag: the flag octet (23); Linux ignores the
    // flag of packets it receives.
    let ts_flag = line.router.as_ref().map(|_| 23);
    assert_eq!(pointer("ts_flag2"), ts_flag, "{got}");
    assert_eq!(
        pointer("lsrr"),
        None,
        "source routes are dropped silently: {got}"
    );
    assert_eq!(pointer("router_alert"), None, "{got}");
    // Only the Router Alert packet reaches dst (Linux also forwards the one
    // with the undefined Timestamp flag).
    let reach = if line.router.is_some() { 1 } else { 2 };
    assert_eq!(
        line.dst.snmp("Ip", "InUnknownProtos") - unknown_before,
        reach,
        "packets with options that reach dst: {got}"
    );
    if let (Some(r), Some((bad0, sr0))) = (&line.router, before) {
        let v = r.show_interfaces();
        assert_eq!(r.drops_total("bad_option") - bad0, 3, "{v}");
        assert_eq!(r.drops_total("source_route") - sr0, 1, "{v}");
    }
}
both_forwarders!(ip_options);
