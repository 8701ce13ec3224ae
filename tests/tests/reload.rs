//! `router reload` and SIGHUP in the seed lab with BGP (the real,
//! Cilium-like gobgpd on every node), under traffic.
//!
//! curl-pod (behind k8s-ctr) pings webpod-w0 (behind k8s-w0) 100 times a
//! second for the whole test: both directions ride BGP routes the reloads
//! never touch (172.20.2.0/24 from k8s-w0, 172.20.0.0/24 from k8s-ctr), and
//! not one echo may be lost. Meanwhile the config file is edited and
//! reloaded: a static route, a network and the k8s-w1 neighbour go in and
//! out, and k8s-w1 comes back with an import filter that is then removed.
//! The sessions of k8s-ctr and k8s-w0 are never reset: their gobgpd's own
//! uptime (the time the session came up, `gobgp neighbor -j`) does not
//! move, nor does the router's count of Established transitions. An
//! invalid file and a key that cannot change live are refused, with the
//! `router check` error, and nothing changes.
use router_tests::router::show_json as show;
use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use router_tests::process::{kill_pid, Signal};
use router_tests::seed::{pod, LabConfig, CLIENT_POD, NODES, ROUTER_ID, ROUTER_NS};
use router_tests::{
    ping_counts, poll_until, repo_file, require, run_timeout, wait_until, Forwarder, Lab,
    RouterProc, SeedLab,
};
use serde_json::Value;

const K8S_CTR: usize = 0;
const K8S_W1: usize = 1;
const K8S_W0: usize = 2;
const W1_NEIGHBOR: &str =
    "[[bgp.neighbors]]\naddress = \"192.168.10.101\"          # k8s-w1\ngroup = \"CILIUM\"\n";
const STATIC_ROUTE: &str = "[[routes]]\nprefix = \"198.51.100.0/24\"\nblackhole = true\n";

/// `router ARGS --json`, parsed.
/// The FIB entry for `prefix`: (source, gateways).
fn fib_route(r: &RouterProc, prefix: &str) -> Option<(String, Vec<String>)> {
    let v = show(r, &["show", "route"]);
    let routes = match v {
        Value::Array(a) => a,
        Value::Object(ref m) => m.get("routes")?.as_array()?.clone(),
        _ => return None,
    };
    let e = routes
        .iter()
        .find(|e| e.get("prefix").and_then(Value::as_str) == Some(prefix))?;
    let source = e.get("source")?.as_str()?.to_string();
    let via = e
        .get("next_hops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| h.get("via").and_then(Value::as_str).map(str::to_string))
        .collect();
    Some((source, via))
}

/// Every FIB entry as "prefix source nexthop-id" (ids change whenever a
/// route is touched).
fn fib_summary(r: &RouterProc) -> Vec<String> {
    let v = show(r, &["show", "route"]);
    let routes = match v {
        Value::Array(a) => a,
        Value::Object(ref m) => m
            .get("routes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    routes
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e.get("prefix").unwrap_or(&Value::Null),
                e.get("source").unwrap_or(&Value::Null),
                e.get("nexthop_id").unwrap_or(&Value::Null)
            )
        })
        .collect()
}

fn has_bgp_route(r: &RouterProc, prefix: &str, via: &str) -> bool {
    fib_route(r, prefix) == Some(("bgp".into(), vec![via.to_string()]))
}

/// The router's Established transitions per neighbour address.
fn transitions(r: &RouterProc) -> Vec<(String, u64)> {
    let v = show(r, &["show", "bgp", "neighbors"]);
    let list = v.as_array().cloned().unwrap_or_default();
    let mut out: Vec<(String, u64)> = list
        .iter()
        .filter_map(|n| {
            let addr = n.pointer("/summary/address")?.as_str()?.to_string();
            Some((addr, n.get("established_transitions")?.as_u64()?))
        })
        .collect();
    out.sort();
    out
}

/// When gobgpd's session with the router came up (its own clock), or None
/// when it is not Established.
fn gobgp_up_since(l: &SeedLab, node: usize) -> Option<String> {
    let router: IpAddr = ROUTER_ID.parse().ok()?;
    if !l.gobgp[node].is_established(router) {
        return None;
    }
    let out = l.gobgp[node].cli(&["neighbor", ROUTER_ID, "-j"]).ok()?;
    let v: Value = serde_json::from_str(&out).ok()?;
    let up = v.pointer("/timers/state/uptime")?;
    Some(up.to_string())
}

fn gobgp_has(l: &SeedLab, node: usize, prefix: &str) -> bool {
    l.gobgp[node]
        .cli(&["global", "rib", "-a", "ipv4"])
        .is_ok_and(|o| o.contains(prefix))
}

/// `router reload`: (success, stdout, stderr).
fn reload(r: &RouterProc) -> (bool, String, String) {
    let out = r.cli(&["reload"]);
    (out.success(), out.stdout.clone(), out.stderr.clone())
}

#[track_caller]
fn reload_ok(r: &RouterProc, cfg: &Path, text: &str, expect: &[&str]) -> String {
    fs::write(cfg, text).expect("write the config");
    let (ok, stdout, stderr) = reload(r);
    assert!(ok, "router reload failed: {stderr}\n{stdout}");
    eprintln!("router reload:\n{stdout}");
    for e in expect {
        assert!(stdout.contains(e), "reload reply lacks {e:?}:\n{stdout}");
    }
    stdout
}

/// A ping stream from curl-pod that the test stops with SIGINT (ping then
/// prints its summary); killed if the test panics first.
struct PingStream(Option<Child>);

impl PingStream {
    fn start(l: &SeedLab, dst: &str) -> PingStream {
        // 100 per second, at most 120 s (the deadline bounds it if the
        // test dies without stopping it).
        let child = l
            .ns(CLIENT_POD)
            .command("ping", &["-n", "-i", "0.01", "-w", "120", dst])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ping");
        PingStream(Some(child))
    }

    /// Stops it; (transmitted, received).
    fn stop(mut self) -> (u32, u32) {
        let child = self.0.take().expect("running");
        kill_pid(child.id(), Signal::SIGINT);
        let out = child.wait_with_output().expect("ping output");
        let text = String::from_utf8_lossy(&out.stdout);
        ping_counts(&text).unwrap_or_else(|| panic!("no ping summary:\n{text}"))
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn reload_under_traffic_touches_only_what_changed() {
    require!("gobgpd", "gobgp", "curl", "python3", "ping");
    let mut l = SeedLab::build(Lab::new("reload"), Forwarder::Router, LabConfig::Bgp);
    // The router runs a copy of configs/lab-bgp.toml that the test edits.
    let base = fs::read_to_string(repo_file("configs/lab-bgp.toml")).expect("lab-bgp.toml");
    assert_eq!(
        base.matches(W1_NEIGHBOR).count(),
        1,
        "lab-bgp.toml changed shape"
    );
    assert_eq!(base.matches("\n[bgp]\n").count(), 1);
    let cfg = l.lab.dir().join("reload.toml");
    fs::write(&cfg, &base).expect("write the config");
    l.stop_router();
    let rtr = l.ns(ROUTER_NS).clone();
    let sock = l.lab.dir().join("router.sock");
    l.router = Some(l.lab.spawn_router_at(&rtr, &cfg, &sock, "router-reload"));
    assert!(
        l.wait_bgp_learned(Duration::from_secs(40)),
        "the three PodCIDRs were not learned: {:?}",
        show(l.router(), &["show", "bgp", "summary"])
    );
    let r = l.router().clone();

    // Nothing changed yet: "no changes".
    let (ok, stdout, stderr) = reload(&r);
    assert!(ok && stdout.contains("no changes"), "{stdout}{stderr}");

    let ctr_up = gobgp_up_since(&l, K8S_CTR).expect("k8s-ctr Established");
    let w0_up = gobgp_up_since(&l, K8S_W0).expect("k8s-w0 Established");
    let trans_before = transitions(&r);
    // The routes the stream rides, and the default route: never touched,
    // so their FIB entries keep their next-hop ids throughout.
    let untouched = |r: &RouterProc| -> Vec<String> {
        let keep = ["\"0.0.0.0/0\"", "\"172.20.0.0/24\"", "\"172.20.2.0/24\""];
        fib_summary(r)
            .into_iter()
            .filter(|e| keep.iter().any(|k| e.starts_with(k)))
            .collect()
    };
    let untouched_before = untouched(&r);
    assert_eq!(untouched_before.len(), 3, "{untouched_before:?}");
    let ping = PingStream::start(&l, "172.20.2.249");
    // The stream flows for a while before the first change.
    std::thread::sleep(Duration::from_secs(1));

    // 1. A static route and a network added, the k8s-w1 neighbour removed.
    let s1 = base
        .replace(W1_NEIGHBOR, "")
        .replace(
            "networks = [\"10.10.1.0/24\"]",
            "networks = [\"10.10.1.0/24\", \"10.10.2.0/24\"]",
        )
        .replace("\n[bgp]\n", &format!("\n{STATIC_ROUTE}\n[bgp]\n"));
    reload_ok(
        &r,
        &cfg,
        &s1,
        &[
            "route added 198.51.100.0/24 blackhole",
            "fib: 1 changes in one batch",
            "bgp: network added 10.10.2.0/24",
            "bgp: neighbor 192.168.10.101: removed (Cease / Peer De-configured)",
        ],
    );
    assert_eq!(
        fib_route(&r, "198.51.100.0/24").map(|x| x.0).as_deref(),
        Some("static")
    );
    wait_until("k8s-w1's route withdrawn", Duration::from_secs(5), || {
        fib_route(&r, NODES[K8S_W1].pod_cidr).is_none()
    });
    wait_until(
        "k8s-w1's gobgpd sees the session gone",
        Duration::from_secs(10),
        || gobgp_up_since(&l, K8S_W1).is_none(),
    );
    wait_until(
        "10.10.2.0/24 announced to k8s-ctr and k8s-w0",
        Duration::from_secs(10),
        || gobgp_has(&l, K8S_CTR, "10.10.2.0/24") && gobgp_has(&l, K8S_W0, "10.10.2.0/24"),
    );
    assert!(!gobgp_has(&l, K8S_W1, "10.10.2.0/24"));

    // 2. k8s-w1 back, with an import filter that rejects its PodCIDR.
    let filtered = W1_NEIGHBOR.to_string() + "import = [{ prefix = \"172.16.0.0/16\", le = 32 }]\n";
    let s2 = s1.clone() + "\n" + &filtered;
    reload_ok(&r, &cfg, &s2, &["bgp: neighbor 192.168.10.101: added"]);
    wait_until("k8s-w1 Established again", Duration::from_secs(20), || {
        gobgp_up_since(&l, K8S_W1).is_some()
    });
    let w1_up = gobgp_up_since(&l, K8S_W1).expect("k8s-w1 Established");
    let pod_w1 = NODES[K8S_W1].pod_cidr;
    wait_until(
        "k8s-w1's PodCIDR held, filtered",
        Duration::from_secs(10),
        || {
            show(&r, &["show", "bgp", "routes", pod_w1])
                .to_string()
                .contains("\"filtered\":true")
        },
    );
    assert!(
        fib_route(&r, pod_w1).is_none(),
        "the filter must keep {pod_w1} out of the FIB"
    );

    // 3. An invalid file and a key that cannot change live: refused with a
    //    clear message, nothing changes.
    let fib_before = fib_summary(&r);
    let config_before = show(&r, &["show", "config"]);
    let invalid = s2.replace(
        "\n[bgp]\n",
        "\n[[routes]]\nprefix = \"172.20.9.0/24\"\nvia = \"10.99.0.1\"\n\n[bgp]\n",
    );
    fs::write(&cfg, &invalid).expect("write the config");
    let check = run_timeout(
        Command::new(&r.bin).arg("check").arg(&cfg),
        Duration::from_secs(10),
    );
    assert!(!check.success());
    let check_line = check.stderr.lines().next().unwrap_or_default().to_string();
    assert!(
        check_line.starts_with(&format!("{}:", cfg.display())),
        "{check_line}"
    );
    let (ok, stdout, stderr) = reload(&r);
    assert!(!ok, "an invalid file must be refused: {stdout}");
    eprintln!("router reload (invalid):\n{stderr}");
    assert!(
        stderr.contains(&check_line),
        "reload: {stderr}\ncheck: {check_line}"
    );
    fs::write(&cfg, s2.replace("worker_threads = 2", "worker_threads = 3")).expect("write");
    let (ok, stdout, stderr) = reload(&r);
    assert!(!ok, "worker_threads cannot change live: {stdout}");
    eprintln!("router reload (worker_threads):\n{stderr}");
    assert!(
        stderr.contains("`router.worker_threads` cannot change while the router runs"),
        "{stderr}"
    );
    assert_eq!(fib_summary(&r), fib_before);
    assert_eq!(show(&r, &["show", "config"]), config_before);

    // 4. Back to the original file, by SIGHUP: the filter goes
    //    (re-import, no reset), the static route and the network go.
    fs::write(&cfg, &base).expect("write the config");
    kill_pid(r.pid, Signal::SIGHUP);
    wait_until(
        "k8s-w1's PodCIDR accepted after the re-import",
        Duration::from_secs(10),
        || has_bgp_route(&r, pod_w1, NODES[K8S_W1].addr),
    );
    wait_until("198.51.100.0/24 removed", Duration::from_secs(5), || {
        fib_route(&r, "198.51.100.0/24").is_none()
    });
    wait_until(
        "10.10.2.0/24 withdrawn from k8s-ctr",
        Duration::from_secs(10),
        || !gobgp_has(&l, K8S_CTR, "10.10.2.0/24"),
    );
    assert_eq!(
        gobgp_up_since(&l, K8S_W1).as_deref(),
        Some(w1_up.as_str()),
        "removing the import filter must not reset k8s-w1"
    );
    // The same file again by `router reload`: nothing left to do.
    let (ok, stdout, stderr) = reload(&r);
    assert!(ok && stdout.contains("no changes"), "{stdout}{stderr}");
    let text = r.cli(&["show", "config"]);
    assert!(
        text.success()
            && text.stdout.starts_with("# running config, read from")
            && text.stdout.contains("asn = 65000"),
        "show config: {text}"
    );
    let config_now = show(&r, &["show", "config"]);
    assert!(
        config_now.to_string().contains("192.168.10.101")
            && !config_now.to_string().contains("198.51.100.0/24"),
        "{config_now}"
    );

    std::thread::sleep(Duration::from_millis(300));
    let (sent, received) = ping.stop();
    assert!(sent > 100, "the stream ran: {sent} sent");
    assert_eq!(
        sent, received,
        "echoes lost on routes the reloads did not touch"
    );

    // The untouched sessions were never reset, by gobgpd's clock and ours.
    assert_eq!(
        gobgp_up_since(&l, K8S_CTR).as_deref(),
        Some(ctr_up.as_str())
    );
    assert_eq!(gobgp_up_since(&l, K8S_W0).as_deref(), Some(w0_up.as_str()));
    assert_eq!(untouched(&r), untouched_before);
    let trans_after = transitions(&r);
    for n in [NODES[K8S_CTR].addr, NODES[K8S_W0].addr] {
        let of = |t: &[(String, u64)]| t.iter().find(|(a, _)| a == n).map(|x| x.1);
        assert_eq!(of(&trans_before), of(&trans_after), "{n}: {trans_after:?}");
    }
    assert!(
        poll_until(Duration::from_secs(5), Duration::from_millis(200), || {
            l.curl(pod("webpod-w1").addr).as_deref() == pod("webpod-w1").hostname
        }),
        "webpod-w1 reachable again through k8s-w1's route"
    );
}
