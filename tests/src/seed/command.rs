//! The lab command (`src/bin/lab.rs`, run by `scripts/lab.sh`): `up`,
//! `demo`, `fix`, `status` and `down` of the seed lab under fixed names
//! (`$RLAB_PREFIX-<role>`, default `rlab-`), its state (logs, control
//! socket, PID files) in `$RLAB_STATE` (default `/run/$RLAB_PREFIX`).
//!
//! `up` builds the lab with [`SeedLab::build`] — the same code every test
//! uses — and detaches it; a failed `up` removes what it made. `down` reads
//! the PID files back, stops those processes by PID, then kills anything
//! left inside the lab's namespaces by PID and deletes them.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::{
    namespaces, webpods, LabConfig, LabOptions, SeedLab, CLIENT_POD, NODES, ROUTER_NS, WAN_NS,
};
use crate::env::{have_tool, is_root, router_bin};
use crate::lab::{delete_netns, Lab};
use crate::netns::Ns;
use crate::process::{pid_alive, terminate_pid};
use crate::router::{Forwarder, RouterProc};

/// How a command failed: `Usage` exits 2 (and lab.sh prints its usage).
#[derive(Debug)]
pub enum Failure {
    Usage,
    Error(String),
}

type Result<T = ()> = std::result::Result<T, Failure>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Failure::Error(msg.into()))
}

/// `==> msg`, bold, on stderr (like scripts/lib/common.sh's `log`).
pub fn log(msg: &str) {
    eprintln!("\x1b[1m==> {msg}\x1b[0m");
}

fn warn(msg: &str) {
    eprintln!("\x1b[1;33mwarning:\x1b[0m {msg}");
}

/// Where this lab lives, from the environment lab.sh passes on.
struct Place {
    prefix: String,
    state: PathBuf,
    /// How to name the command in hints (`$RLAB_SCRIPT`, lab.sh's `$0`).
    script: String,
}

impl Place {
    fn from_env() -> Place {
        let prefix = std::env::var("RLAB_PREFIX").unwrap_or_else(|_| "rlab".into());
        let state = std::env::var_os("RLAB_STATE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("/run/{prefix}")));
        let script = std::env::var("RLAB_SCRIPT").unwrap_or_else(|_| "./scripts/lab.sh".into());
        Place {
            prefix,
            state,
            script,
        }
    }

    fn ns(&self, role: &str) -> Ns {
        Ns::named(format!("{}-{role}", self.prefix))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.state.join(name)
    }

    fn read(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.file(name))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn forwarder(&self) -> Option<Forwarder> {
        match self.read("forwarder").as_deref() {
            Some("kernel") => Some(Forwarder::Kernel),
            Some("router") => Some(Forwarder::Router),
            _ => None,
        }
    }

    /// The options `up` built the lab with (`--dual-stack`).
    fn options(&self) -> LabOptions {
        LabOptions {
            dual_stack: self.read("dual-stack").as_deref() == Some("yes"),
            ..LabOptions::default()
        }
    }

    fn config(&self) -> Option<LabConfig> {
        self.read("config").as_deref().and_then(LabConfig::parse)
    }

    fn router(&self) -> RouterProc {
        RouterProc {
            pid: self
                .read("pids/router.pid")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            bin: router_bin(),
            socket: self.file("router.sock"),
            config: self.config().map(LabConfig::file).unwrap_or_default(),
        }
    }

    /// The PID files in `pids/`, sorted: (name, pid).
    fn pids(&self) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = fs::read_dir(self.file("pids"))
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let path = e.ok()?.path();
                let name = path.file_stem()?.to_str()?.to_string();
                let pid = fs::read_to_string(&path).ok()?.trim().parse().ok()?;
                Some((name, pid))
            })
            .collect();
        v.sort();
        v
    }

    fn is_up(&self) -> bool {
        self.ns(ROUTER_NS).exists()
    }
}

/// Runs one lab command (`args` without the program name).
pub fn run(args: &[String]) -> Result {
    let (cmd, rest) = args.split_first().ok_or(Failure::Usage)?;
    let place = Place::from_env();
    if !is_root() {
        return err(format!(
            "lab.sh {cmd} needs root (network namespaces): run it with sudo"
        ));
    }
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match cmd.as_str() {
        "up" => up(&place, &rest),
        "demo" => demo(&place, &rest),
        "fix" => fix(&place, &rest),
        "status" => status(&place),
        "down" => down(&place),
        _ => Err(Failure::Usage),
    }
}

fn up(place: &Place, args: &[&str]) -> Result {
    let mut config = LabConfig::Static;
    let mut forwarder = Forwarder::Router;
    let mut options = LabOptions::default();
    for a in args {
        match *a {
            "--kernel" => forwarder = Forwarder::Kernel,
            "--dual-stack" => options.dual_stack = true,
            other => config = LabConfig::parse(other).ok_or(Failure::Usage)?,
        }
    }
    if forwarder == Forwarder::Kernel && config == LabConfig::Bgp {
        return err("--kernel supports static and broken");
    }
    if config == LabConfig::Bgp && !(have_tool("gobgpd") && have_tool("gobgp")) {
        return err("gobgpd/gobgp missing (scripts/install-deps.sh)");
    }
    for role in namespaces() {
        let ns = place.ns(role);
        if ns.exists() {
            return err(format!(
                "namespace {} exists: the lab is up already (sudo {} down)",
                ns.name(),
                place.script
            ));
        }
    }
    if forwarder == Forwarder::Router {
        need_router_bin()?;
    }
    log(&format!("creating namespaces ({}-*)", place.prefix));
    let lab = Lab::named(&place.prefix, &place.state);
    // A failed `up` unwinds through the lab, which removes what it made.
    let dual = options.dual_stack;
    let seed = match panic::catch_unwind(AssertUnwindSafe(|| {
        SeedLab::build_with(lab, forwarder, config, options)
    })) {
        Ok(seed) => seed,
        Err(e) => {
            warn("lab.sh up failed; removed what it made");
            panic::resume_unwind(e)
        }
    };
    fs::write(
        place.file("dual-stack"),
        if dual { "yes\n" } else { "no\n" },
    )
    .map_err(|e| Failure::Error(format!("write state: {e}")))?;
    fs::write(place.file("forwarder"), format!("{}\n", forwarder.name()))
        .map_err(|e| Failure::Error(format!("write state: {e}")))?;
    fs::write(place.file("config"), format!("{}\n", config.name()))
        .map_err(|e| Failure::Error(format!("write state: {e}")))?;
    let config_name = if dual {
        // SeedLab wrote the dual-stack config next to the logs.
        format!(
            "{} (lab-{}.toml + IPv6)",
            place
                .file(&format!("lab-{}-dual.toml", config.name()))
                .display(),
            config.name()
        )
    } else {
        config
            .file()
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    match &seed.router {
        Some(r) => log(&format!(
            "router running in {} with {} (pid {}, log {})",
            seed.ns(ROUTER_NS).name(),
            config_name,
            r.pid,
            place.file("router.log").display()
        )),
        None => log(&format!(
            "kernel forwarding in {} ({})",
            seed.ns(ROUTER_NS).name(),
            config.name()
        )),
    }
    if config == LabConfig::Bgp {
        report_bgp(&seed, place);
    }
    seed.detach();
    log(&format!(
        "lab is up ({}, {}{}). Next: sudo {} demo",
        config.name(),
        forwarder.name(),
        if dual { ", dual stack" } else { "" },
        place.script
    ));
    if config == LabConfig::Broken {
        log(&format!(
            "broken on purpose: demo shows {} failing and leaking to the wan side; then: sudo {} fix",
            far_webpod().addr,
            place.script
        ));
    }
    Ok(())
}

/// The webpod only the router connects the client to (the one the broken
/// lab loses).
fn far_webpod() -> &'static super::Pod {
    webpods()
        .find(|p| p.behind_router())
        .expect("the seed has a webpod behind the router")
}

fn need_router_bin() -> Result {
    let bin = router_bin();
    if bin.is_file() {
        Ok(())
    } else {
        err(format!(
            "router binary {} not found (cargo build --release -p router)",
            bin.display()
        ))
    }
}

fn report_bgp(seed: &SeedLab, place: &Place) {
    let mut cidrs: Vec<&str> = NODES.iter().map(|n| n.pod_cidr).collect();
    if seed.options.dual_stack {
        // ipv6-unicast on the IPv4 sessions (next hop ::ffff:<node>), as Cilium.
        cidrs.extend(NODES.iter().map(|n| n.pod_cidr6));
    }
    log(&format!(
        "gobgpd on the nodes announces {}; waiting for the router to learn them",
        cidrs.join(", ")
    ));
    if seed.wait_bgp_learned(Duration::from_secs(30)) {
        log(&format!(
            "router learned all {} PodCIDRs over BGP",
            cidrs.len()
        ));
    } else {
        warn(&format!(
            "the router has not learned all PodCIDRs after 30 s: see '{} show bgp summary --socket {}'",
            router_bin().display(),
            place.file("router.sock").display()
        ));
    }
}

/// `router ARGS --socket SOCK`, printed (best effort, like `|| true`).
fn show(place: &Place, args: &[&str]) {
    let out = place.router().cli(args);
    print!("{}", out.stdout);
    if !out.success() {
        eprint!("{}", out.stderr);
    }
}

fn demo(place: &Place, args: &[&str]) -> Result {
    if !place.is_up() {
        return err(format!(
            "the lab is not up (sudo {} up static)",
            place.script
        ));
    }
    let rounds: u32 = match args.first() {
        Some(n) => n.parse().map_err(|_| Failure::Usage)?,
        None => 10,
    };
    let client = place.ns(CLIENT_POD);
    let me = super::pod(CLIENT_POD);
    let dual = place.options().dual_stack;
    if dual {
        log(&format!(
            "{CLIENT_POD} ({}, {}) -> each webpod over IPv4 and IPv6, {rounds} rounds (the seed's curl loop, bounded)",
            me.addr, me.addr6
        ));
    } else {
        log(&format!(
            "{CLIENT_POD} ({}) -> each webpod, {rounds} rounds (the seed's curl loop, bounded)",
            me.addr
        ));
    }
    let leak0 = place.ns(WAN_NS).snmp("Ip", "InAddrErrors");
    let leak6 = || {
        let wan = place.ns(WAN_NS);
        wan.snmp6("Ip6InAddrErrors") + wan.snmp6("Ip6InNoRoutes")
    };
    let leak6_0 = if dual { leak6() } else { 0 };
    let pods: Vec<_> = webpods().collect();
    // (pod, address): IPv4 first, then in dual stack the IPv6 twins.
    let mut targets: Vec<(&super::Pod, &str)> = pods.iter().map(|p| (*p, p.addr)).collect();
    if dual {
        targets.extend(pods.iter().map(|p| (*p, p.addr6)));
    }
    let mut answered = vec![0u32; targets.len()];
    for _ in 0..rounds {
        for (i, (_, addr)) in targets.iter().enumerate() {
            let out = client.run(
                &[
                    "curl",
                    "-s",
                    "--connect-timeout",
                    "1",
                    "--max-time",
                    "2",
                    &format!("http://{}/", crate::traffic::url_host(addr)),
                ],
                Duration::from_secs(4),
            );
            match out.stdout.lines().find(|l| l.contains("Hostname")) {
                Some(line) => {
                    println!("{line}   ({addr})");
                    answered[i] += 1;
                }
                None => println!("---   ({addr}: no answer)"),
            }
        }
    }
    println!();
    for ((p, addr), n) in targets.iter().zip(&answered) {
        println!(
            "  {:<14} {:<18} on {:<8} answered {n:>2}/{rounds}",
            p.name, addr, p.node
        );
    }
    println!();
    let far = far_webpod();
    log(&format!(
        "ping {CLIENT_POD} -> webpod on {} ({}), with tcpdump in the wan namespace",
        far.node, far.addr
    ));
    let wan = place.ns(WAN_NS);
    let capture = {
        let wan = wan.clone();
        thread::spawn(move || {
            wan.run(
                &["tcpdump", "-i", "eth0", "-nn", "-l", "-c", "2", "icmp"],
                Duration::from_secs(3),
            )
        })
    };
    thread::sleep(Duration::from_millis(500));
    let ping = client.run(
        &["ping", "-c", "2", "-i", "0.3", "-W", "1", far.addr],
        Duration::from_secs(5),
    );
    print!("{}", ping.stdout);
    let cap = capture.join().map(|o| o.stdout).unwrap_or_default();
    let leak1 = wan.snmp("Ip", "InAddrErrors");
    if cap.contains(" IP ") {
        println!("tcpdump in {} (the public side) saw:", wan.name());
        for l in cap.lines() {
            println!("    {l}");
        }
    } else {
        println!("tcpdump in {} (the public side) saw nothing.", wan.name());
    }
    println!(
        "packets for foreign addresses that leaked to the wan side during the demo: {}",
        leak1.saturating_sub(leak0)
    );
    if dual {
        println!(
            "IPv6 packets for foreign addresses that leaked to the wan side during the demo: {}",
            leak6().saturating_sub(leak6_0)
        );
    }
    println!();
    if place.forwarder() == Some(Forwarder::Router) {
        log("router show interfaces");
        show(place, &["show", "interfaces"]);
        log("router show route");
        show(place, &["show", "route"]);
        if place.config() == Some(LabConfig::Bgp) {
            log("router show bgp summary");
            show(place, &["show", "bgp", "summary"]);
        }
    } else {
        let rtr = place.ns(ROUTER_NS);
        log(&format!("ip route (kernel forwarder in {})", rtr.name()));
        print!(
            "{}",
            rtr.run(&["ip", "route"], Duration::from_secs(5)).stdout
        );
        if dual {
            log(&format!("ip -6 route (kernel forwarder in {})", rtr.name()));
            print!(
                "{}",
                rtr.run(&["ip", "-6", "route"], Duration::from_secs(5))
                    .stdout
            );
        }
        // The address the seed's write-up asks the VM about.
        log("ip route get 172.20.2.36");
        print!(
            "{}",
            rtr.run(
                &["ip", "route", "get", "172.20.2.36"],
                Duration::from_secs(5)
            )
            .stdout
        );
    }
    let i = targets
        .iter()
        .position(|(p, _)| p.name == far.name)
        .unwrap_or(0);
    if answered[i] == 0 {
        println!();
        log(&format!(
            "{} is unreachable: the router has no route to {} and sends it out its default route (eth0).",
            far.addr,
            far.node().pod_cidr
        ));
        log(&format!(
            "fix it as the seed does: sudo {} fix",
            place.script
        ));
    }
    Ok(())
}

fn fix(place: &Place, args: &[&str]) -> Result {
    if !place.is_up() {
        return err("the lab is not up");
    }
    let to = match args.first() {
        Some(c) => LabConfig::parse(c).ok_or(Failure::Usage)?,
        None => LabConfig::Static,
    };
    let forwarder = place.forwarder().unwrap_or(Forwarder::Router);
    let mut seed = SeedLab::attach_with(
        Lab::reopen(&place.prefix, &place.state),
        forwarder,
        to,
        place.options(),
    );
    match forwarder {
        Forwarder::Kernel => {
            if to != LabConfig::Static {
                return err("--kernel lab: only the static fix");
            }
            log(&format!(
                "ip route add {} via {} (and the other PodCIDRs) in {}",
                far_webpod().node().pod_cidr,
                far_webpod().node().addr,
                seed.ns(ROUTER_NS).name()
            ));
            super::router_spec(to, &place.options()).apply_kernel_routes(seed.ns(ROUTER_NS));
        }
        Forwarder::Router => {
            log(&format!(
                "restarting router with configs/lab-{}.toml",
                to.name()
            ));
            if let Some((_, pid)) = place.pids().into_iter().find(|(n, _)| n == "router") {
                terminate_pid(pid, Duration::from_secs(3));
            }
            seed.start_router(to);
            if to == LabConfig::Bgp {
                let running = |n: &str| {
                    place
                        .pids()
                        .iter()
                        .any(|(p, pid)| p == &format!("gobgpd-{n}") && pid_alive(*pid))
                };
                if !NODES.iter().all(|n| running(n.name)) {
                    seed.start_bgp_speakers();
                }
                report_bgp(&seed, place);
            }
        }
    }
    fs::write(place.file("config"), format!("{}\n", to.name()))
        .map_err(|e| Failure::Error(format!("write state: {e}")))?;
    seed.detach();
    log(&format!("fixed. sudo {} demo", place.script));
    Ok(())
}

fn status(place: &Place) -> Result {
    let all = namespaces();
    let up = all.iter().filter(|r| place.ns(r).exists()).count();
    println!(
        "namespaces ({}-*): {up} of {} present",
        place.prefix,
        all.len()
    );
    if up == 0 {
        return Ok(());
    }
    println!(
        "forwarder: {}, config: {}",
        place.forwarder().map(Forwarder::name).unwrap_or("none"),
        place.config().map(LabConfig::name).unwrap_or("?")
    );
    for (name, pid) in place.pids() {
        let state = if pid_alive(pid) {
            "running"
        } else {
            "NOT running"
        };
        println!("  {name}: pid {pid} {state}");
    }
    let wan = place.ns(WAN_NS);
    println!(
        "wan leak counter (Ip:InAddrErrors in {}): {}",
        wan.name(),
        wan.snmp("Ip", "InAddrErrors")
    );
    if place.forwarder() == Some(Forwarder::Router) && place.file("router.sock").exists() {
        show(place, &["show", "interfaces"]);
    }
    Ok(())
}

fn down(place: &Place) -> Result {
    for (_, pid) in place.pids() {
        terminate_pid(pid, Duration::from_secs(3));
    }
    for role in namespaces() {
        delete_netns(&place.ns(role));
    }
    remove_state(&place.state);
    log("lab down");
    Ok(())
}

fn remove_state(dir: &Path) {
    if dir.exists() {
        if let Err(e) = fs::remove_dir_all(dir) {
            warn(&format!("could not remove {}: {e}", dir.display()));
        }
    }
}
