//! Host set-up (router::host) against a real kernel in network namespaces:
//! the plan read from the kernel, its application (addresses gone, link up,
//! IPv6 off, the netdev-ingress drop stopping the kernel from answering),
//! and the undo restoring what was there.
//!
//! Each test makes namespaces `hst<pid>-<n>{a,b}` joined by a veth (`pa` in
//! a, `pb` in b) and removes them when it ends, also on panic. Needs root;
//! without it the tests print SKIPPED, except under CI=true where they fail.
use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use router::host::state::StateFile;
use router::host::{recover, Change, HostError, HostOptions, HostPort, Plan};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("timeout")
        .arg("10")
        .arg(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd} {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> String {
    run("ip", args).unwrap_or_else(|e| panic!("{e}"))
}

struct Pair {
    a: String,
    b: String,
}

impl Pair {
    fn new() -> Option<Pair> {
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
        if !root || run("ip", &["-V"]).is_err() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but the host set-up tests need root and iproute2");
            }
            eprintln!("!!! SKIPPED host set-up tests: need root and iproute2");
            return None;
        }
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("hst{}-{n}", std::process::id());
        let pair = Pair {
            a: format!("{base}a"),
            b: format!("{base}b"),
        };
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "-n", &pair.a, "link", "add", "name", "pa", "type", "veth", "peer", "name", "pb",
        ]);
        ip(&["-n", &pair.a, "link", "set", "pb", "netns", &pair.b]);
        ip(&["-n", &pair.a, "addr", "add", "10.203.0.1/24", "dev", "pa"]);
        ip(&[
            "-n",
            &pair.a,
            "addr",
            "add",
            "fd00:203::1/64",
            "dev",
            "pa",
            "nodad",
        ]);
        ip(&["-n", &pair.b, "addr", "add", "10.203.0.2/24", "dev", "pb"]);
        ip(&["-n", &pair.b, "link", "set", "pb", "up"]);
        ip(&["-n", &pair.a, "link", "set", "lo", "up"]);
        Some(pair)
    }

    /// Runs `f` on a thread inside namespace a (sockets, netlink and
    /// /proc/sys/net all follow the thread's namespace).
    fn in_a<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.a);
        std::thread::spawn(move || {
            let ns = File::open(&path).expect("namespace file");
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("thread in namespace a")
    }

    fn sysctl_a(&self, name: &str) -> String {
        run("ip", &["netns", "exec", &self.a, "sysctl", "-n", name])
            .unwrap_or_else(|e| panic!("{e}"))
            .trim()
            .to_string()
    }

    /// Whether namespace b gets an answer to one ping of 10.203.0.1.
    fn ping_a_from_b(&self) -> bool {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.b,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                "10.203.0.1",
            ],
        )
        .is_ok()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

fn port() -> Vec<HostPort> {
    vec![HostPort {
        name: "eth1".into(),
        ifname: "pa".into(),
    }]
}

#[test]
fn plan_apply_and_undo_against_the_kernel() {
    let Some(pair) = Pair::new() else { return };

    let plan = pair
        .in_a(|| Plan::build(&port(), HostOptions::default()))
        .expect("plan");
    let lines = plan.describe().join("\n");
    for want in [
        "pa: delete kernel address 10.203.0.1/24",
        "pa: delete kernel address fd00:203::1/64",
        "net.ipv6.conf.pa.disable_ipv6: 0 -> 1",
        "net.ipv6.conf.pa.accept_ra",
        "pa: set link up",
        "ingress chains with policy drop on pa",
    ] {
        assert!(lines.contains(want), "plan lacks {want:?}:\n{lines}");
    }
    // Building the plan changed nothing.
    assert!(ip(&["-n", &pair.a, "addr", "show", "dev", "pa"]).contains("10.203.0.1/24"));

    let applied = pair.in_a(move || plan.apply().map_err(|e| e.to_string()));
    let applied = applied.expect("apply");
    assert!(
        applied.ingress_drop_active(),
        "the kernel here has nftables' netdev family"
    );
    let addrs = ip(&["-n", &pair.a, "addr", "show", "dev", "pa"]);
    assert!(!addrs.contains("inet "), "IPv4 address left:\n{addrs}");
    assert!(
        !addrs.contains("fd00:203::1"),
        "IPv6 address left:\n{addrs}"
    );
    assert!(ip(&["-n", &pair.a, "link", "show", "pa"]).contains(",UP"));
    assert_eq!(pair.sysctl_a("net.ipv6.conf.pa.disable_ipv6"), "1");
    assert_eq!(pair.sysctl_a("net.ipv6.conf.pa.accept_ra"), "0");

    // With a kernel address put back by hand, the kernel would answer a ping
    // — but the ingress drop stops every frame before the kernel's IPv4.
    ip(&["-n", &pair.a, "addr", "add", "10.203.0.1/24", "dev", "pa"]);
    assert!(
        !pair.ping_a_from_b(),
        "the kernel answered through the ingress drop"
    );

    // Undo (in the namespace: netlink and /proc/sys follow the thread).
    pair.in_a(move || applied.undo());
    let addrs = ip(&["-n", &pair.a, "addr", "show", "dev", "pa"]);
    assert!(
        addrs.contains("10.203.0.1/24"),
        "IPv4 address not restored:\n{addrs}"
    );
    assert!(
        addrs.contains("fd00:203::1/64"),
        "IPv6 address not restored:\n{addrs}"
    );
    assert_eq!(pair.sysctl_a("net.ipv6.conf.pa.disable_ipv6"), "0");
    assert!(
        !ip(&["-n", &pair.a, "link", "show", "pa"]).contains(",UP"),
        "link left up"
    );
    // The link was down before: with it up again the kernel answers, so the
    // drop table is gone.
    ip(&["-n", &pair.a, "link", "set", "pa", "up"]);
    assert!(
        pair.ping_a_from_b(),
        "the kernel does not answer after the undo"
    );
}

/// A VM's routes through the port (its default route on eth0) go with the
/// port's addresses; the stop adds them back.
#[test]
fn kernel_routes_through_the_port_come_back_at_stop() {
    let Some(pair) = Pair::new() else { return };
    ip(&["-n", &pair.a, "link", "set", "pa", "up"]);
    ip(&[
        "-n",
        &pair.a,
        "route",
        "add",
        "default",
        "via",
        "10.203.0.2",
        "dev",
        "pa",
    ]);
    ip(&[
        "-n",
        &pair.a,
        "route",
        "add",
        "10.99.0.0/16",
        "via",
        "10.203.0.2",
        "dev",
        "pa",
        "metric",
        "7",
    ]);
    let plan = pair
        .in_a(|| Plan::build(&port(), HostOptions::default()))
        .expect("plan");
    let lines = plan.describe().join("\n");
    for want in [
        "pa: kernel route default via 10.203.0.2 goes with the addresses",
        "pa: kernel route 10.99.0.0/16 via 10.203.0.2 metric 7 goes with the addresses",
    ] {
        assert!(lines.contains(want), "plan lacks {want:?}:\n{lines}");
    }
    // The connected route comes back with its address: not listed.
    assert!(!lines.contains("kernel route 10.203.0.0/24"), "{lines}");
    let applied = pair
        .in_a(move || plan.apply().map_err(|e| e.to_string()))
        .expect("apply");
    let routes = ip(&["-n", &pair.a, "route", "show"]);
    assert!(!routes.contains("default"), "{routes}");
    pair.in_a(move || applied.undo());
    let routes = ip(&["-n", &pair.a, "route", "show"]);
    assert!(
        routes.contains("default via 10.203.0.2 dev pa")
            && routes.contains("10.99.0.0/16 via 10.203.0.2 dev pa metric 7"),
        "kernel routes not restored:\n{routes}"
    );
}

#[test]
fn a_second_start_replaces_a_leftover_drop_table() {
    let Some(pair) = Pair::new() else { return };
    // A router killed with SIGKILL leaves its table; the next start must
    // still install (replace) it, and one undo removes it.
    let ok = pair.in_a(|| {
        let first = Plan::build(&port(), HostOptions::default()).and_then(Plan::apply)?;
        let leftover: Vec<Change> = first.changes().to_vec();
        std::mem::forget(first);
        let second = Plan::build(&port(), HostOptions::default()).and_then(Plan::apply)?;
        let active = second.ingress_drop_active();
        second.undo();
        Ok::<_, HostError>((leftover.len(), active))
    });
    let (n, active) = ok.expect("two starts");
    assert!(n > 0);
    assert!(active);
    ip(&[
        "-n",
        &pair.a,
        "addr",
        "replace",
        "10.203.0.1/24",
        "dev",
        "pa",
    ]);
    ip(&["-n", &pair.a, "link", "set", "pa", "up"]);
    assert!(pair.ping_a_from_b(), "the drop table outlived the undo");
}

#[test]
fn kernel_forwarding_is_refused_unless_allowed() {
    let Some(pair) = Pair::new() else { return };
    ip(&[
        "netns",
        "exec",
        &pair.a,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    let err = pair
        .in_a(|| Plan::build(&port(), HostOptions::default()).map(|_| ()))
        .expect_err("ip_forward=1 must be refused");
    let text = err.to_string();
    assert!(text.contains("net.ipv4.ip_forward"), "{text}");
    assert!(text.contains("sysctl -w net.ipv4.ip_forward=0"), "{text}");
    assert!(text.contains("allow_kernel_forwarding"), "{text}");
    let allowed = pair.in_a(|| {
        Plan::build(
            &port(),
            HostOptions {
                allow_kernel_forwarding: true,
                ..HostOptions::default()
            },
        )
        .map(|_| ())
    });
    assert!(allowed.is_ok(), "{allowed:?}");
}

#[test]
fn a_missing_interface_is_named_with_a_fix() {
    let Some(pair) = Pair::new() else { return };
    let err = pair
        .in_a(|| {
            Plan::build(
                &[HostPort {
                    name: "eth9".into(),
                    ifname: "nope9".into(),
                }],
                HostOptions::default(),
            )
            .map(|_| ())
        })
        .expect_err("no such interface");
    let text = err.to_string();
    assert!(text.contains("port eth9 (interface nope9)"), "{text}");
    assert!(text.contains("fix:"), "{text}");
}

/// A router that dies without undoing (here: the `Applied` is leaked, as a
/// SIGKILL would) leaves its changes in the state file; the next start's
/// `recover` undoes them from the file, so the host is as it was before
/// the first start, and the file is gone.
#[test]
fn a_crashed_run_is_restored_from_the_state_file() {
    let Some(pair) = Pair::new() else { return };
    let dir = std::env::temp_dir().join(format!("hst-state-{}-{}", std::process::id(), pair.a));
    std::fs::create_dir_all(&dir).expect("state dir");
    let state = StateFile::for_socket(&dir.join("router.sock"));
    let st = state.clone();
    pair.in_a(move || {
        let plan = Plan::build(&port(), HostOptions::default()).expect("plan");
        let applied = plan.apply_recorded(Some(st)).expect("apply");
        std::mem::forget(applied);
    });
    let recorded = state.load().expect("readable").expect("state file written");
    assert!(
        recorded
            .iter()
            .any(|c| matches!(c, Change::DeleteAddress { .. })),
        "{recorded:?}"
    );
    assert!(!ip(&["-n", &pair.a, "addr", "show", "dev", "pa"]).contains("10.203.0.1/24"));
    assert_eq!(pair.sysctl_a("net.ipv6.conf.pa.disable_ipv6"), "1");

    let st = state.clone();
    let n = pair.in_a(move || recover(&st)).expect("recover");
    assert_eq!(n, recorded.len());
    let addrs = ip(&["-n", &pair.a, "addr", "show", "dev", "pa"]);
    assert!(
        addrs.contains("10.203.0.1/24"),
        "IPv4 address not restored:\n{addrs}"
    );
    assert!(
        addrs.contains("fd00:203::1/64"),
        "IPv6 address not restored:\n{addrs}"
    );
    assert_eq!(pair.sysctl_a("net.ipv6.conf.pa.disable_ipv6"), "0");
    assert_eq!(state.load(), Ok(None), "state file removed");
    // Nothing left to restore the second time.
    let st = state.clone();
    assert_eq!(pair.in_a(move || recover(&st)), Ok(0));
    // The drop table went too: with the link up the kernel answers again.
    ip(&["-n", &pair.a, "link", "set", "pa", "up"]);
    assert!(
        pair.ping_a_from_b(),
        "the kernel does not answer after recovery"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
