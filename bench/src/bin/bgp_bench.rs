//! BGP benchmark (issue 4): one eBGP sender feeds the fib issue's synthetic
//! IPv4 table (about 1,000,000 prefixes, ~1000 per UPDATE) to, in turn,
//! `router`, BIRD 2 (kernel protocol exporting to its namespace's FIB), FRR
//! (bgpd + zebra installing into the kernel) and gobgpd (RIB only: it has no
//! FIB), and measures, per target:
//! * install: from the first UPDATE to every prefix in the FIB (router:
//!   `show bgp summary` `fib_routes`; BIRD/FRR: `ip route` in the target's
//!   namespace; gobgpd: `gobgp global rib summary`);
//! * withdraw: from the first withdrawing UPDATE until they are all gone;
//! * peak memory: VmHWM of the daemon processes (router: the process;
//!   FRR: bgpd + zebra), which does not include the kernel's FIB.
//!
//! `cargo run --release -p bench --bin bgp_bench -- [--quick] [--targets router,bird]`
//!
//! Needs root (namespaces) and the daemons; everything runs in namespaces
//! `rbench-<pid>-…` that are removed at the end (also on error).
#![forbid(unsafe_code)]

#[path = "../bgp/sender.rs"]
mod sender;
#[path = "../fib/tables.rs"]
#[allow(dead_code)]
mod tables;

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use ipnet::Ipv4Net;
use router_tests::config::{BgpSpec, NeighborSpec, RemoteAs, RouterSpec};
use router_tests::daemons::{
    kernel_route_count, vm_hwm_kib, Bird, BirdConfig, Frr, FrrConfig, GobgpConfig, GobgpNeighbor,
    Gobgpd,
};
use router_tests::{Lab, Ns, RouterProc};

/// Same seed as the FIB benchmark's IPv4 table.
const SEED: u64 = 0x5eed_0004;
const SENDER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const TARGET: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const LINK: &str = "10.77.0.0/30";

#[derive(Parser, Debug)]
#[command(about = "BGP convergence: router vs BIRD 2, FRR and gobgpd")]
struct Args {
    /// Small table (50,000 prefixes) for a CI smoke run.
    #[arg(long)]
    quick: bool,
    /// Table size (default 1,000,000; 50,000 with --quick).
    #[arg(long)]
    prefixes: Option<usize>,
    /// Targets to run, comma separated (router, bird, frr, gobgpd).
    #[arg(long, value_delimiter = ',', default_value = "router,bird,frr,gobgpd")]
    targets: Vec<String>,
    /// Limit per phase (install, withdraw) per target, in seconds.
    #[arg(long, default_value_t = 600)]
    phase_timeout: u64,
    /// Internal: run as the sender inside the sender namespace.
    #[arg(long, hide = true)]
    sender: bool,
    /// Print the table (one prefix a line) and exit.
    #[arg(long)]
    dump_table: bool,
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Prefixes no Internet table carries and BIRD refuses to import (its
/// `net_classify` scope check): "this network", loopback, link-local,
/// multicast and reserved space.
const MARTIANS: [&str; 4] = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3"];

/// The table: the FIB benchmark's generator, minus martians (the generator
/// spreads prefixes over first octets 1-223, 127 included) and minus
/// prefixes inside the sender-target link (a router never lets BGP override
/// a connected subnet, so those would never install and the comparison
/// would be unequal). The default route stays.
fn table(n: usize) -> Vec<Ipv4Net> {
    let link: Ipv4Net = LINK.parse().expect("link prefix");
    let martians: Vec<Ipv4Net> = MARTIANS
        .iter()
        .map(|m| m.parse().expect("martian prefix"))
        .collect();
    let (routes, _) = tables::ipv4(SEED, n);
    routes
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !link.contains(p) && !martians.iter().any(|m| m.contains(p)))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Router,
    Bird,
    Frr,
    Gobgpd,
}

impl Target {
    fn parse(s: &str) -> Option<Target> {
        match s {
            "router" => Some(Target::Router),
            "bird" => Some(Target::Bird),
            "frr" => Some(Target::Frr),
            "gobgpd" | "gobgp" => Some(Target::Gobgpd),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Target::Router => "router",
            Target::Bird => "bird",
            Target::Frr => "frr",
            Target::Gobgpd => "gobgpd",
        }
    }
    fn tools(self) -> &'static [&'static str] {
        match self {
            Target::Router => &[],
            Target::Bird => &["bird", "birdc"],
            Target::Frr => &["/usr/lib/frr/bgpd", "/usr/lib/frr/zebra", "vtysh"],
            Target::Gobgpd => &["gobgpd", "gobgp"],
        }
    }
    fn what(self) -> &'static str {
        match self {
            Target::Router => "FIB (poptrie)",
            Target::Bird => "kernel FIB",
            Target::Frr => "kernel FIB (zebra)",
            Target::Gobgpd => "RIB only",
        }
    }
}

/// A running target and how to count its installed routes.
enum Running {
    Router(RouterProc),
    Bird(Bird, Ns),
    Frr(Frr, Ns),
    Gobgpd(Gobgpd),
}

impl Running {
    fn count(&self) -> Option<u64> {
        match self {
            Running::Router(r) => {
                let out = r.cli(&["show", "bgp", "summary", "--json"]);
                let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
                v.get("fib_routes")?.as_u64()
            }
            Running::Bird(_, ns) => kernel_route_count(ns, Some("bird")),
            Running::Frr(_, ns) => kernel_route_count(ns, Some("bgp")),
            Running::Gobgpd(g) => g.rib_count("ipv4"),
        }
    }
    fn peak_kib(&self) -> Option<u64> {
        match self {
            Running::Router(r) => vm_hwm_kib(r.pid),
            Running::Bird(b, _) => vm_hwm_kib(b.pid),
            Running::Frr(f, _) => f.vm_hwm_kib(),
            Running::Gobgpd(g) => vm_hwm_kib(g.pid),
        }
    }
    fn poll_every(&self) -> Duration {
        match self {
            Running::Router(_) => Duration::from_millis(50),
            _ => Duration::from_millis(200),
        }
    }
}

fn router_config() -> RouterSpec {
    RouterSpec::default()
        .workers(1)
        .port("eth1", &format!("{TARGET}/30"))
        .bgp(BgpSpec {
            asn: 65000,
            router_id: TARGET.to_string(),
            neighbors: vec![NeighborSpec {
                address: SENDER.to_string(),
                remote_as: Some(RemoteAs::Number(sender::SENDER_AS)),
                passive: Some(true),
                ..NeighborSpec::default()
            }],
            ..BgpSpec::default()
        })
}

fn start_target(lab: &mut Lab, t: Target, ns: &Ns) -> Running {
    let ip = |a: Ipv4Addr| std::net::IpAddr::V4(a);
    match t {
        Target::Router => {
            ns.sysctl("net.ipv4.ip_forward", "0");
            Running::Router(lab.spawn_router_spec(ns, &router_config()))
        }
        Target::Bird => {
            ns.ip(&format!("addr add {TARGET}/30 dev eth1"));
            let cfg = BirdConfig {
                router_id: ip(TARGET),
                asn: 65000,
                local: ip(TARGET),
                neighbors: vec![(ip(SENDER), sender::SENDER_AS)],
                originate: Vec::new(),
                kernel_export: true,
                hold_time: 180,
                password: None,
            };
            Running::Bird(Bird::start(lab, ns, "bench", &cfg), ns.clone())
        }
        Target::Frr => {
            ns.ip(&format!("addr add {TARGET}/30 dev eth1"));
            let cfg = FrrConfig {
                asn: 65000,
                router_id: ip(TARGET),
                neighbors: vec![(ip(SENDER), sender::SENDER_AS.to_string())],
                networks: Vec::new(),
                password: None,
            };
            Running::Frr(Frr::start(lab, ns, "bench", &cfg, true), ns.clone())
        }
        Target::Gobgpd => {
            ns.ip(&format!("addr add {TARGET}/30 dev eth1"));
            let n = GobgpNeighbor {
                address: ip(SENDER),
                peer_as: sender::SENDER_AS,
                local_address: None,
                passive: true,
                hold_time: 180,
                keepalive: 60,
                connect_retry: 5,
                multihop_ttl: None,
                graceful_restart: None,
                ipv6: false,
                auth_password: None,
            };
            let cfg = GobgpConfig {
                asn: 65000,
                router_id: ip(TARGET),
                listen_port: 179,
                neighbors: vec![n],
                reject_imports: false,
            };
            Running::Gobgpd(Gobgpd::start(lab, ns, "bench", &cfg))
        }
    }
}

/// The sender process and its stdout lines.
struct SenderProc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl SenderProc {
    fn spawn(ns: &Ns, n: usize) -> Result<SenderProc, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = ns
            .command(
                &exe,
                &[
                    "--sender".to_string(),
                    "--prefixes".to_string(),
                    n.to_string(),
                ],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn sender: {e}"))?;
        let out = child.stdout.take().ok_or("no sender stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok(SenderProc { child, lines: rx })
    }

    fn send(&mut self, cmd: &str) -> Result<(), String> {
        let stdin = self.child.stdin.as_mut().ok_or("sender stdin closed")?;
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("to sender: {e}"))
    }

    /// The next line starting with `tag`, within `timeout`.
    fn expect(&self, tag: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(tag) => return Ok(l),
                Ok(l) if l.starts_with("ERROR") => return Err(l),
                Ok(_) => continue,
                Err(_) => return Err(format!("sender: no {tag} within {timeout:?}")),
            }
        }
    }
}

impl Drop for SenderProc {
    fn drop(&mut self) {
        let _ = self.send("EXIT");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stamp(line: &str) -> Result<u128, String> {
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad sender line {line:?}"))
}

#[derive(Clone, Debug, Default)]
struct Row {
    install_s: Option<f64>,
    withdraw_s: Option<f64>,
    peak_kib: Option<u64>,
    /// The router's AF_PACKET rings (resident socket mappings), counted in
    /// `peak_kib` but fixed by `[router]` ring sizes, ports and workers,
    /// not by the table.
    rings_kib: Option<u64>,
    note: String,
}

/// Polls `count` until `done(count)`; returns the seconds since `t0` (unix ns).
fn wait_count(
    r: &Running,
    t0: u128,
    timeout: Duration,
    done: impl Fn(u64) -> bool,
) -> (Option<f64>, Option<u64>) {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        if let Some(c) = r.count() {
            last = Some(c);
            if done(c) {
                return (Some((unix_ns().saturating_sub(t0)) as f64 / 1e9), last);
            }
        }
        std::thread::sleep(r.poll_every());
    }
    (None, last)
}

fn run_target(t: Target, n_wanted: usize, n: usize, phase: Duration) -> Result<Row, String> {
    let mut lab = Lab::with_prefix("rbench", t.name());
    let snd = lab.ns("sender");
    let tgt = lab.ns("target");
    lab.veth(&tgt, "eth1", &snd, "eth0");
    snd.ip(&format!("addr add {SENDER}/30 dev eth0"));
    let running = start_target(&mut lab, t, &tgt);
    // The sender regenerates the same table from the same size argument.
    let mut s = SenderProc::spawn(&snd, n_wanted)?;
    let ready = s.expect("READY", Duration::from_secs(90))?;
    eprintln!("  {}: {ready}", t.name());
    // Let the session settle (KEEPALIVEs, the target's own initial table).
    std::thread::sleep(Duration::from_secs(1));
    let base = running.count().ok_or("cannot count the target's routes")?;
    let mut row = Row {
        rings_kib: match &running {
            Running::Router(r) => router_tests::daemons::socket_mapped_kib(r.pid),
            _ => None,
        },
        ..Row::default()
    };

    s.send("GO")?;
    let t0 = stamp(&s.expect("T0", Duration::from_secs(30))?)?;
    let want = base + n as u64;
    let (secs, last) = wait_count(&running, t0, phase, |c| c >= want);
    row.install_s = secs;
    if secs.is_none() {
        row.note = format!("install timed out at {last:?}/{want}");
    }
    let sent = stamp(&s.expect("SENT", Duration::from_secs(5)).unwrap_or_default()).unwrap_or(t0);
    eprintln!(
        "  {}: install {:?} s (sender wrote everything in {:.2} s)",
        t.name(),
        row.install_s,
        (sent.saturating_sub(t0)) as f64 / 1e9
    );

    if row.install_s.is_some() {
        s.send("WITHDRAW")?;
        let w0 = stamp(&s.expect("W0", Duration::from_secs(30))?)?;
        let (secs, last) = wait_count(&running, w0, phase, |c| c <= base);
        row.withdraw_s = secs;
        if secs.is_none() {
            row.note = format!("withdraw timed out at {last:?} (base {base})");
        }
        eprintln!("  {}: withdraw {:?} s", t.name(), row.withdraw_s);
    }
    row.peak_kib = running.peak_kib();
    drop(s);
    drop(running);
    drop(lab);
    Ok(row)
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn opt_s(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.2}"))
        .unwrap_or_else(|| "timeout".into())
}

fn main() {
    let args = Args::parse();
    let n_wanted = args
        .prefixes
        .unwrap_or(if args.quick { 50_000 } else { 1_000_000 });
    if args.dump_table {
        for p in table(n_wanted) {
            println!("{p}");
        }
        return;
    }
    if args.sender {
        let prefixes = table(n_wanted);
        if let Err(e) = sender::run(TARGET, SENDER, prefixes) {
            println!("ERROR {e}");
            std::process::exit(1);
        }
        return;
    }
    if !router_tests::require_root() {
        std::process::exit(if router_tests::in_ci() { 1 } else { 0 });
    }
    let targets: Vec<Target> = args
        .targets
        .iter()
        .map(|s| {
            Target::parse(s.trim())
                .unwrap_or_else(|| panic!("unknown target {s:?} (router, bird, frr, gobgpd)"))
        })
        .collect();
    for t in &targets {
        for tool in t.tools() {
            if !router_tests::require_tool(tool) {
                std::process::exit(if router_tests::in_ci() { 1 } else { 0 });
            }
        }
    }
    let n = table(n_wanted).len();
    eprintln!(
        "bgp_bench: {n} IPv4 prefixes (seed {SEED:#x}), targets {:?}",
        targets.iter().map(|t| t.name()).collect::<Vec<_>>()
    );
    // A smoke run must finish well inside the CI step's limit (4 targets).
    let phase = Duration::from_secs(if args.quick {
        args.phase_timeout.min(60)
    } else {
        args.phase_timeout
    });
    let mut rows: Vec<(Target, Row)> = Vec::new();
    for &t in &targets {
        eprintln!("target {} ...", t.name());
        let row = run_target(t, n_wanted, n, phase).unwrap_or_else(|e| Row {
            note: e,
            ..Row::default()
        });
        rows.push((t, row));
    }

    let ours = rows
        .iter()
        .find(|(t, _)| *t == Target::Router)
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    println!();
    println!(
        "BGP: one peer, {n} IPv4 prefixes, first UPDATE -> all in the FIB, and withdrawn again"
    );
    println!(
        "{:<8} {:<20} {:>10} {:>11} {:>10} {:>13} {:>14} {:>10}  note",
        "target",
        "installs into",
        "install s",
        "withdraw s",
        "peak MiB",
        "ours/install",
        "ours/withdraw",
        "ours/mem",
    );
    for (t, r) in &rows {
        let mem = r
            .peak_kib
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into());
        let mem_ratio = match (ours.peak_kib, r.peak_kib) {
            (Some(a), Some(b)) if b > 0 => format!("{:.2}x", a as f64 / b as f64),
            _ => "-".into(),
        };
        println!(
            "{:<8} {:<20} {:>10} {:>11} {:>10} {:>13} {:>14} {:>10}  {}",
            t.name(),
            t.what(),
            opt_s(r.install_s),
            opt_s(r.withdraw_s),
            mem,
            ratio(ours.install_s, r.install_s),
            ratio(ours.withdraw_s, r.withdraw_s),
            mem_ratio,
            r.note
        );
    }
    let mib = |k: u64| k as f64 / 1024.0;
    if let (Some(peak), Some(rings)) = (ours.peak_kib, ours.rings_kib) {
        let without = peak.saturating_sub(rings);
        let vs_bird = rows
            .iter()
            .find(|(t, _)| *t == Target::Bird)
            .and_then(|(_, b)| b.peak_kib)
            .map(|b| format!(", {:.2}x BIRD's peak", without as f64 / b as f64))
            .unwrap_or_default();
        println!();
        println!(
            "router: {:.1} MiB of its {:.1} MiB peak are AF_PACKET rings ([router] rx_ring_frames/tx_ring_frames per worker per port, and the slow path's); without them {:.1} MiB{vs_bird}",
            mib(rings),
            mib(peak),
            mib(without),
        );
    }
    if let Some((_, bird)) = rows.iter().find(|(t, _)| *t == Target::Bird) {
        let time_ok =
            matches!((ours.install_s, bird.install_s), (Some(a), Some(b)) if a <= 0.5 * b);
        let mem_ok = matches!((ours.peak_kib, bird.peak_kib), (Some(a), Some(b)) if a <= b);
        println!();
        println!(
            "target vs BIRD: install time <= 0.5x: {}; peak memory <= BIRD: {}",
            if time_ok { "met" } else { "NOT met" },
            if mem_ok { "met" } else { "NOT met" }
        );
    }
    // A target that did not converge (or could not run) fails the run, so
    // the smoke run in CI catches a broken transport or daemon setup.
    let failed: Vec<&str> = rows
        .iter()
        .filter(|(_, r)| r.install_s.is_none() || r.withdraw_s.is_none())
        .map(|(t, _)| t.name())
        .collect();
    if !failed.is_empty() {
        eprintln!("bgp_bench: no result for {failed:?}");
        std::process::exit(1);
    }
}
