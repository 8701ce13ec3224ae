//! Operating the router in the seed lab (the one definition in
//! `router_tests::seed`): `route get` explains the broken, static and BGP
//! labs (ECMP included), and `monitor drops` catches each drop reason we
//! can provoke from the lab's namespaces while good traffic keeps flowing.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use router_tests::seed::{LabConfig, NODES, WAN_ADDR};
use router_tests::{poll_until, require, wait_until, Forwarder, Lab, RouterProc, SeedLab};
use serde_json::Value;

fn build(tag: &str, config: LabConfig) -> SeedLab {
    SeedLab::build(Lab::new(tag), Forwarder::Router, config)
}

#[test]
fn route_get_explains_broken_and_static_labs() {
    require!("ping");
    let l = build("op-broken", LabConfig::Broken);
    // Let the router learn the wan side's MAC (a real ARP exchange).
    let _ = l.ns("curl-pod").run(
        &["ping", "-n", "-c", "1", "-W", "1", "172.20.2.36"],
        Duration::from_secs(5),
    );
    let (first, all, v) = l.router().route_get(&["172.20.2.36"]);
    assert!(
        first.starts_with(&format!(
            "172.20.2.36 via {WAN_ADDR} dev eth0 src 10.0.2.15: "
        )),
        "{all}"
    );
    assert!(
        first.ends_with("forwarded by the default route (no route more specific than 0.0.0.0/0)"),
        "{all}"
    );
    assert!(all.contains("no route covers 172.20.2.0/24"), "{all}");
    assert!(
        all.contains("0.0.0.0/0 via 10.0.2.2 dev eth0, static, configured at "),
        "{all}"
    );
    assert_eq!(v["considered"]["uncovered"], "172.20.2.0/24", "{v}");
    assert_eq!(v["route"]["prefix"], "0.0.0.0/0");
    assert_eq!(v["next_hop"]["port"], "eth0");
    // What route get ran did not move the real counters.
    let rx = l.router().port_stats("eth1").rx_packets;
    for _ in 0..5 {
        l.router().route_get(&["172.20.2.36"]);
    }
    assert_eq!(l.router().port_stats("eth1").rx_packets, rx);
    drop(l);

    let l = build("op-static", LabConfig::Static);
    let _ = l.ns("curl-pod").run(
        &["ping", "-n", "-c", "1", "-W", "1", "172.20.2.249"],
        Duration::from_secs(5),
    );
    let (first, all, v) = l.router().route_get(&["172.20.2.36"]);
    assert!(
        first.starts_with("172.20.2.36 via 192.168.20.100 dev eth2 src 192.168.20.200: forwarded by 172.20.2.0/24 (static)"),
        "{all}"
    );
    let cfg = LabConfig::Static.file();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let at = v["route"]["provenance"]["config"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let line: usize = at
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // The line named is the `[[routes]]` entry of 172.20.2.0/24.
    let near: Vec<&str> = text.lines().skip(line.saturating_sub(2)).take(4).collect();
    assert!(
        near.iter().any(|l| l.contains("172.20.2.0/24")),
        "{at}: {near:?}"
    );
    assert!(all.contains("neighbour   192.168.20.100 at "), "{all}");
    // The ping above made the router resolve it: an ARP reply confirmed it.
    assert!(all.contains(" s ago"), "no last-confirmed time: {all}");
    assert!(
        v["next_hop"]["neighbour"]["confirmed_ms_ago"].is_u64(),
        "{v}"
    );
    // A TTL that would expire, and a martian source, explained.
    let (first, all, _) = l.router().route_get(&["172.20.2.36", "ttl", "1"]);
    assert!(first.contains("dropped (ttl_exceeded"), "{all}");
    assert!(first.contains("ICMP time-exceeded sent to"), "{all}");
    let (_, all, v) = l
        .router()
        .route_get(&["172.20.2.36", "from", "127.0.0.1", "iif", "eth1"]);
    assert_eq!(v["verdict"]["reason"], "martian", "{all}");
    // Addressed to the router.
    let (first, all, _) = l.router().route_get(&["192.168.10.200", "iif", "eth1"]);
    assert!(first.contains("local delivery"), "{all}");
}

fn bgp_established(r: &RouterProc) -> usize {
    let out = r.cli(&["show", "bgp", "summary", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v["peers"].as_array().map_or(0, |p| {
        p.iter().filter(|p| p["state"] == "Established").count()
    })
}

#[test]
fn route_get_names_bgp_peer_and_ecmp_member() {
    require!("gobgpd", "gobgp", "ping");
    let l = build("op-bgp", LabConfig::Bgp);
    wait_until("BGP sessions", Duration::from_secs(40), || {
        bgp_established(l.router()) == NODES.len()
    });
    let w0 = NODES
        .iter()
        .find(|n| n.pod_cidr == "172.20.2.0/24")
        .expect("k8s-w0");
    assert!(
        poll_until(Duration::from_secs(20), Duration::from_millis(200), || {
            l.router().route_get(&["172.20.2.36"]).0.contains("(bgp)")
        }),
        "172.20.2.0/24 never came from BGP"
    );
    // The control plane runs below the workers (`control_plane_nice`,
    // default 19), so that a BGP ingest delays routes, not packets.
    let nice = l.router().thread_nice();
    for t in ["bgp", "control"] {
        assert_eq!(nice.get(t), Some(&19), "{t} thread: {nice:?}");
    }
    assert_eq!(nice.get("fwd-0"), Some(&0), "{nice:?}");
    let (first, all, v) = l.router().route_get(&["172.20.2.36"]);
    assert!(
        first.contains(&format!("via {} dev eth2", w0.addr)),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "BGP, from peer {} (AS 65001), AS path 65001",
            w0.addr
        )),
        "{all}"
    );
    assert_eq!(
        v["route"]["provenance"]["paths"][0]["as_path"], "65001",
        "{v}"
    );
    assert!(all.contains("received "), "{all}");
    // The path's own age: a number of seconds, no older than its session.
    let path = &v["route"]["provenance"]["paths"][0];
    let (age, up) = (path["age_secs"].as_u64(), path["session_up_secs"].as_u64());
    assert!(
        matches!((age, up), (Some(a), Some(u)) if a <= u + 1),
        "{path}"
    );

    // A Service /32 announced by two nodes: ECMP, and the member follows the flow.
    for i in [0, 1] {
        l.gobgp[i]
            .announce("172.16.1.1/32")
            .expect("announce service");
    }
    assert!(
        poll_until(Duration::from_secs(15), Duration::from_millis(200), || {
            l.router()
                .route_get(&["172.16.1.1"])
                .1
                .contains("ECMP member")
        }),
        "no ECMP route for the Service"
    );
    let mut members = std::collections::HashSet::new();
    for sport in 42000..42016u16 {
        let sp = sport.to_string();
        let words = [
            "172.16.1.1",
            "from",
            "172.20.2.249",
            "proto",
            "tcp",
            "sport",
            &sp,
            "dport",
            "80",
        ];
        let (_, all, v) = l.router().route_get(&words);
        let m = v["next_hop"]["ecmp"]["member"]
            .as_u64()
            .expect("ecmp member");
        assert_eq!(v["next_hop"]["ecmp"]["members"], 2, "{all}");
        // The same 5-tuple always gets the same answer.
        assert_eq!(
            l.router().route_get(&words).2["next_hop"]["ecmp"]["member"],
            m
        );
        assert!(
            all.contains(&format!("ECMP member {} of 2 for this flow", m + 1)),
            "{all}"
        );
        members.insert(m);
    }
    assert_eq!(members.len(), 2, "16 flows use both members");
}

/// Sends raw Ethernet frames from `ns` out of `iface` (python3, AF_PACKET):
/// `kind` is "martian" (source 127.0.0.1) or "badsum" (header checksum
/// wrong), towards `dst_mac`, for 172.20.2.249.
fn send_raw(l: &SeedLab, ns: &str, iface: &str, dst_mac: &str, kind: &str) {
    let script = format!(
        r#"
import socket, struct
def csum(b):
    s = sum(struct.unpack('!10H', b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
src = socket.inet_aton('127.0.0.1' if '{kind}' == 'martian' else '192.168.10.100')
dst = socket.inet_aton('172.20.2.249')
h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28, 1, 0, 64, 17, 0, src, dst)
c = csum(h)
if '{kind}' == 'badsum': c ^= 0x5a5a
h = h[:10] + struct.pack('!H', c) + h[12:]
udp = struct.pack('!HHHH', 4000, 4001, 8, 0)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('{iface}', 0))
mac = bytes.fromhex('{dst_mac}'.replace(':', ''))
src_mac = open('/sys/class/net/{iface}/address').read().strip()
eth = mac + bytes.fromhex(src_mac.replace(':', '')) + b'\x08\x00'
for _ in range(3): s.send(eth + h + udp)
"#
    );
    let out = l
        .ns(ns)
        .run(&["python3", "-c", &script], Duration::from_secs(10));
    assert!(out.success(), "raw send: {out}");
}

#[test]
fn monitor_drops_catches_each_reason_while_traffic_flows() {
    require!("ping", "python3");
    let l = build("op-monitor", LabConfig::Static);
    let r = l.router();
    let mac_of = |port: &str| {
        r.show_interfaces()
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == port))
            .and_then(|p| p["mac"].as_str())
            .unwrap_or_else(|| panic!("{port} mac"))
            .to_string()
    };
    let (eth1_mac, eth2_mac) = (mac_of("eth1"), mac_of("eth2"));
    // The stream, bounded by time; read on a thread.
    let mut child = Command::new(&r.bin)
        .args(["monitor", "drops", "--json", "--duration", "40", "--socket"])
        .arg(&r.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("router monitor drops");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    // Good traffic all along: pings across the router must all come back.
    let good = {
        let ns = l.ns("curl-pod").clone();
        std::thread::spawn(move || {
            ns.run(
                &[
                    "ping",
                    "-n",
                    "-q",
                    "-c",
                    "40",
                    "-i",
                    "0.2",
                    "-W",
                    "1",
                    "172.20.2.249",
                ],
                Duration::from_secs(30),
            )
        })
    };
    let pod = l.ns("curl-pod");
    // ttl_exceeded: TTL 2 from the pod is 1 at the router (the node forwards).
    let _ = pod.run(
        &[
            "ping",
            "-n",
            "-c",
            "2",
            "-i",
            "0.2",
            "-t",
            "2",
            "-W",
            "1",
            "172.20.2.249",
        ],
        Duration::from_secs(5),
    );
    // no_route: the loopback subnet 10.10.1.0/24 exists nowhere (unreachable).
    let _ = pod.run(
        &["ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "10.10.1.5"],
        Duration::from_secs(5),
    );
    // neigh_unresolved: nobody has 192.168.20.77 on eth2's subnet.
    let _ = pod.run(
        &[
            "ping",
            "-n",
            "-c",
            "6",
            "-i",
            "0.5",
            "-W",
            "1",
            "192.168.20.77",
        ],
        Duration::from_secs(10),
    );
    // martian and bad_header: crafted frames to the router. The bad
    // checksum goes over k8s-w0's direct link: a bridge with br_netfilter
    // (Docker hosts) drops IPv4 with a bad header checksum itself.
    send_raw(&l, "k8s-ctr", "eth1", &eth1_mac, "martian");
    send_raw(&l, "k8s-w0", "eth1", &eth2_mac, "badsum");

    let want = [
        "ttl_exceeded",
        "no_route",
        "neigh_unresolved",
        "martian",
        "bad_header",
    ];
    let mut seen: std::collections::HashMap<String, Value> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !want.iter().all(|w| seen.contains_key(*w)) {
        if let Ok(v) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(reason) = v["reason"].as_str() {
                seen.entry(reason.to_string()).or_insert(v);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let good = good.join().expect("ping thread");
    let out = r.cli(&["show", "drops"]);
    eprintln!("$ router show drops\n{}", out.stdout);
    for w in want {
        assert!(seen.contains_key(w), "no {w} event; saw {:?}", seen.keys());
    }
    let ttl = &seen["ttl_exceeded"];
    assert_eq!(ttl["port"], "eth1");
    assert_eq!(ttl["dst"], "172.20.2.249");
    assert_eq!(ttl["protocol"], "icmp");
    assert_eq!(ttl["icmp_sent"]["name"], "time-exceeded", "{ttl}");
    assert_eq!(seen["no_route"]["icmp_sent"]["name"], "host-unreachable");
    assert_eq!(seen["neigh_unresolved"]["dst"], "192.168.20.77");
    assert_eq!(seen["martian"]["src"], "127.0.0.1");
    assert!(
        good.stdout.contains("40 packets transmitted, 40 received"),
        "good traffic lost packets while monitored: {good}"
    );
    // The counters agree (show drops hides zero rows).
    for w in want {
        assert!(out.stdout.contains(w), "show drops: {out}");
    }
}

#[test]
fn monitor_drops_ends_by_count_and_reports_losses() {
    require!("ping");
    let l = build("op-monitor-count", LabConfig::Static);
    let r = l.router();
    let pod = l.ns("curl-pod").clone();
    let pinger = std::thread::spawn(move || {
        pod.run(
            &[
                "ping",
                "-n",
                "-c",
                "20",
                "-i",
                "0.1",
                "-W",
                "1",
                "10.10.1.5",
            ],
            Duration::from_secs(10),
        )
    });
    let out = r.cli(&[
        "monitor",
        "drops",
        "--reason",
        "no_route",
        "--count",
        "3",
        "--duration",
        "15",
    ]);
    let _ = pinger.join();
    assert!(out.success(), "{out}");
    eprintln!(
        "$ router monitor drops --reason no_route --count 3\n{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "3 events and the summary: {out}");
    assert!(
        lines[0].contains(" eth1 no_route ") && lines[0].contains("> 10.10.1.5 icmp"),
        "{out}"
    );
    assert!(lines[3].starts_with("-- 3 events shown"), "{out}");
}
