//! Running it as an operator would: Prometheus metrics scraped from a
//! router in the BGP seed lab (real gobgpd peers) and checked with
//! promtool; systemd's notify protocol, with this test playing systemd;
//! host set-up seen from the router namespace's kernel.
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use router_tests::seed::{self, LabConfig, NODES, ROUTER_NS};
use router_tests::{poll_until, repo_file, require, Forwarder, Lab, SeedLab};

const METRICS_ADDR: &str = "127.0.0.1:9477";

/// `curl http://127.0.0.1:9477/metrics` inside the router namespace.
fn scrape(l: &SeedLab) -> String {
    let out = l.ns(ROUTER_NS).run(
        &[
            "curl",
            "-sS",
            "--max-time",
            "5",
            &format!("http://{METRICS_ADDR}/metrics"),
        ],
        Duration::from_secs(10),
    );
    assert!(out.success(), "scrape: {out}");
    out.stdout
}

/// The value of one sample line `name{labels} value`.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- scraped:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_in_the_bgp_lab_pass_promtool_and_cover_the_dashboard() {
    require!("gobgpd", "gobgp", "curl", "python3", "promtool");
    let mut l = SeedLab::build(Lab::new("metrics"), Forwarder::Router, LabConfig::Bgp);
    // The lab's BGP config with the exporter turned on.
    l.stop_router();
    let rtr = l.ns(ROUTER_NS).clone();
    rtr.ip("link set lo up");
    let text = std::fs::read_to_string(LabConfig::Bgp.file()).expect("lab-bgp.toml");
    let cfg = l.lab.dir().join("router-metrics.toml");
    std::fs::write(
        &cfg,
        format!("{text}\n[metrics]\nlisten = \"{METRICS_ADDR}\"\n"),
    )
    .expect("write config");
    let sock = l.lab.dir().join("router.sock");
    l.router = Some(l.lab.spawn_router_at(&rtr, &cfg, &sock, "router-metrics"));

    let all_up = poll_until(Duration::from_secs(40), Duration::from_millis(300), || {
        let m = scrape(&l);
        NODES.iter().all(|n| {
            sample(
                &m,
                &format!(
                    "router_bgp_peer_state{{peer=\"{}\",peer_as=\"65001\"}}",
                    n.addr
                ),
            ) == Some(1.0)
        }) && sample(&m, "router_fib_routes{family=\"ipv4\",source=\"bgp\"}")
            == Some(NODES.len() as f64)
    });
    let m = scrape(&l);
    assert!(
        all_up,
        "three peers Established and their routes in the FIB:\n{m}"
    );
    // Traffic through the router shows up per port.
    for p in seed::webpods() {
        assert_eq!(l.curl(p.addr).as_deref(), p.hostname, "curl {}", p.addr);
    }
    let m = scrape(&l);
    promtool_check(&m);
    assert!(
        sample(&m, "router_port_receive_packets_total{port=\"eth1\"}").unwrap_or(0.0) > 0.0,
        "{m}"
    );
    assert!(
        sample(&m, "router_port_transmit_bytes_total{port=\"eth2\"}").unwrap_or(0.0) > 0.0,
        "{m}"
    );
    for n in NODES {
        let peer = format!("peer=\"{}\",peer_as=\"65001\"", n.addr);
        // Labels come sorted by name.
        assert!(
            sample(
                &m,
                &format!(
                    "router_bgp_peer_prefixes_accepted{{afi=\"ipv4\",{peer},safi=\"unicast\"}}"
                )
            ) >= Some(1.0),
            "{m}"
        );
        assert!(
            sample(
                &m,
                &format!("router_bgp_peer_messages_received_total{{{peer},type=\"update\"}}")
            ) >= Some(1.0),
            "{m}"
        );
        assert!(
            sample(&m, &format!("router_bgp_peer_uptime_seconds{{{peer}}}")).is_some(),
            "{m}"
        );
    }
    assert!(
        sample(&m, "router_neighbours{family=\"ipv4\",state=\"reachable\"}") >= Some(1.0),
        "{m}"
    );
    // `show neighbors` names each node (a BGP peer and a next hop just
    // used) with the MAC its own namespace reports.
    let r = l.router.as_ref().expect("router");
    let neighbors = router_tests::router::show_json(r, &["show", "neighbors"]);
    for n in NODES {
        let entry = neighbors
            .as_array()
            .and_then(|a| a.iter().find(|e| e["address"] == n.addr))
            .unwrap_or_else(|| panic!("{} not in show neighbors: {neighbors}", n.addr));
        assert_eq!(entry["mac"], l.ns(n.name).mac("eth1"), "{entry}");
        assert_eq!(entry["family"], "ipv4", "{entry}");
        assert!(
            matches!(
                entry["state"].as_str(),
                Some("REACHABLE" | "STALE" | "PROBE")
            ),
            "{entry}"
        );
    }
    let table = r.cli(&["show", "neighbors"]);
    assert!(
        table.success() && table.stdout.contains("ADDRESS") && table.stdout.contains(NODES[0].addr),
        "{table}"
    );

    // Every metric the shipped Grafana dashboard charts is exported.
    let dashboard =
        std::fs::read_to_string(repo_file("configs/grafana-dashboard.json")).expect("dashboard");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let mut names: Vec<&str> = dashboard
        .match_indices("router_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            m.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the dashboard charts {name}, which the router does not export"
        );
    }
}

/// What the router told "systemd" so far.
fn notifications(sock: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

fn wait_for(sock: &UnixDatagram, got: &mut Vec<String>, what: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        notifications(sock, got);
        if got.iter().any(|m| m.lines().any(|l| l == what)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn systemd_notify_ready_watchdog_reload_and_stopping() {
    require!("ip");
    let mut lab = Lab::new("notify");
    let r = lab.ns("r");
    let h = lab.ns("h");
    lab.veth(&r, "eth1", &h, "eth1");
    // A kernel address on the port, as on a fresh VM: the router's host
    // set-up must take it off (and give it back at stop).
    r.ip("addr add 10.77.0.9/24 dev eth1");
    r.sysctl("net.ipv6.conf.eth1.disable_ipv6", "0");
    r.sysctl("net.ipv4.ip_forward", "0");
    let cfg = lab.dir().join("notify.toml");
    std::fs::write(
        &cfg,
        "[router]\nworker_threads = 2\n\n[[ports]]\nname = \"eth1\"\naddresses = [\"10.77.0.1/24\"]\n",
    )
    .expect("config");

    // This test is systemd: a datagram socket for sd_notify.
    let notify_path = lab.dir().join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    sock.set_nonblocking(true).expect("nonblocking");
    let bin = router_tests::router_bin();
    let ctl = lab.dir().join("router.sock");
    // systemd sets WATCHDOG_PID to the service's PID: `exec` keeps the
    // shell's.
    let script = format!(
        "NOTIFY_SOCKET={} WATCHDOG_USEC=1000000 WATCHDOG_PID=$$ exec {} run -c {} --socket {}",
        notify_path.display(),
        bin.display(),
        cfg.display(),
        ctl.display()
    );
    let pid = lab.spawn_named(&r, "router", &["sh", "-c", &script]);
    let mut got = Vec::new();
    assert!(
        wait_for(&sock, &mut got, "READY=1", Duration::from_secs(15)),
        "no READY=1 ({got:?}):\n{}",
        lab.log_of(pid)
    );
    // READY comes once the control socket listens.
    assert!(ctl.exists(), "READY=1 before the control socket exists");
    let ready_msg = got
        .iter()
        .find(|m| m.contains("READY=1"))
        .cloned()
        .unwrap_or_default();
    assert!(
        ready_msg.contains("STATUS=forwarding on 1 ports"),
        "{ready_msg}"
    );
    // Host set-up done before READY: the kernel address is gone, IPv6 off.
    let addrs = r.ip("addr show dev eth1");
    assert!(
        !addrs.contains("10.77.0.9"),
        "kernel address left on the port:\n{addrs}"
    );
    assert_eq!(
        r.read("/proc/sys/net/ipv6/conf/eth1/disable_ipv6").trim(),
        "1"
    );

    // The watchdog pings while the workers run (interval: half of 1 s).
    got.clear();
    std::thread::sleep(Duration::from_millis(1600));
    notifications(&sock, &mut got);
    let pings = got
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(pings >= 2, "watchdog pings in 1.6 s: {pings} ({got:?})");

    // A reload (the unit's ExecReload) is bracketed by RELOADING=1 and
    // READY=1.
    got.clear();
    let reload = std::process::Command::new(&bin)
        .args(["reload", "--socket"])
        .arg(&ctl)
        .output()
        .expect("router reload");
    assert!(reload.status.success(), "router reload: {reload:?}");
    assert!(
        wait_for(&sock, &mut got, "READY=1", Duration::from_secs(5)),
        "no READY=1 after the reload ({got:?})"
    );
    let reloading = got
        .iter()
        .position(|m| m.lines().any(|l| l == "RELOADING=1"))
        .unwrap_or_else(|| panic!("no RELOADING=1 ({got:?})"));
    let ready = got
        .iter()
        .position(|m| m.lines().any(|l| l == "READY=1"))
        .expect("READY=1");
    assert!(
        reloading < ready,
        "RELOADING=1 must come before READY=1: {got:?}"
    );
    assert!(
        got[reloading].contains("MONOTONIC_USEC="),
        "systemd (type notify-reload) wants MONOTONIC_USEC with RELOADING=1: {got:?}"
    );

    lab.stop(pid);
    notifications(&sock, &mut got);
    assert!(
        got.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "no STOPPING=1 ({got:?})"
    );
    // Stopped: the port's kernel address and IPv6 are back.
    let addrs = r.ip("addr show dev eth1");
    assert!(
        addrs.contains("10.77.0.9/24"),
        "kernel address not restored:\n{addrs}"
    );
    assert_eq!(
        r.read("/proc/sys/net/ipv6/conf/eth1/disable_ipv6").trim(),
        "0"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    require!("ip");
    let mut lab = Lab::new("dryrun");
    let r = lab.ns("r");
    let h = lab.ns("h");
    lab.veth(&r, "eth1", &h, "eth1");
    r.ip("addr add 10.78.0.9/24 dev eth1");
    r.sysctl("net.ipv6.conf.eth1.disable_ipv6", "0");
    let cfg = lab.dir().join("dry.toml");
    std::fs::write(
        &cfg,
        "[[ports]]\nname = \"eth1\"\naddresses = [\"10.78.0.1/24\"]\nhost_interface = \"eth1-host\"\n",
    )
    .expect("config");
    let bin = router_tests::router_bin();
    let out = r.run(
        &[
            bin.as_os_str(),
            "run".as_ref(),
            "-c".as_ref(),
            cfg.as_os_str(),
            "--dry-run".as_ref(),
        ],
        Duration::from_secs(10),
    );
    assert!(out.success(), "{out}");
    for want in [
        "eth1: delete kernel address 10.78.0.9/24",
        "net.ipv6.conf.eth1.disable_ipv6: 0 -> 1",
        "nftables: table netdev router: ingress chains with policy drop on eth1",
        "eth1: host interface eth1-host: create a TAP with the port's MAC and MTU, IPv6 off, addresses 10.78.0.1/24",
    ] {
        assert!(
            out.stdout.contains(want),
            "dry run lacks {want:?}:\n{}",
            out.stdout
        );
    }
    assert!(
        r.ip("addr show dev eth1").contains("10.78.0.9/24"),
        "--dry-run changed the port"
    );
    assert!(
        !r.ip("link show").contains("eth1-host"),
        "--dry-run made the TAP"
    );

    // ip_forward=1 is refused, naming the setting and the fix.
    r.sysctl("net.ipv4.ip_forward", "1");
    let out = r.run(
        &[
            bin.as_os_str(),
            "run".as_ref(),
            "-c".as_ref(),
            cfg.as_os_str(),
            "--dry-run".as_ref(),
        ],
        Duration::from_secs(10),
    );
    assert!(!out.success(), "ip_forward=1 accepted:\n{out}");
    assert!(out.stderr.contains("net.ipv4.ip_forward"), "{out}");
    assert!(
        out.stderr.contains("sysctl -w net.ipv4.ip_forward=0"),
        "{out}"
    );
}
