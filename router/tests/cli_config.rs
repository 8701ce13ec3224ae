//! The `router` binary on good and bad config files: `router check` and
//! `router run` exit 2 with "FILE:LINE:COL: field `x`: message" and start
//! nothing; control commands without a router exit 1. Needs no root.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_router");

/// A fresh directory for one test (pid + counter: tests run in parallel).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "router-cli-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn router(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("ROUTER_SOCKET")
        .output()
        .expect("run router")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

const GOOD: &str = r#"[router]
worker_threads = 1

[[ports]]
name = "eth1"
addresses = ["192.168.10.200/24"]

[[routes]]
prefix = "172.20.0.0/24"
via = "192.168.10.100"
"#;

#[test]
fn repo_configs_check_ok() {
    for name in ["lab-static.toml", "lab-broken.toml", "lab-bgp.toml"] {
        let path = configs().join(name);
        let o = router(&["check", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(": ok (3 ports, 2 loopbacks"), "{name}: {out}");
    }
}

/// (config text, line, field, words in the message)
const BAD: &[(&str, usize, &str, &str)] = &[
    ("[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\nspeed = 10\n", 4, "ports[0].speed", "unknown key `speed`"),
    (
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\n[[routes]]\nprefix = \"172.20.2.0/24\"\nvia = \"192.168.20.100\"\n",
        6,
        "routes[0].via",
        "next hop 192.168.20.100 is on no connected subnet",
    ),
    (
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\n[[routes]]\nprefix = \"172.20.2.1/24\"\nblackhole = true\n",
        5,
        "routes[0].prefix",
        "host bits set",
    ),
    (
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\n[[ports]]\nname = \"eth2\"\naddresses = [\"192.168.10.200/24\"]\n",
        6,
        "ports[1].addresses[0]",
        "address 192.168.10.200 is already used",
    ),
    ("[router]\nworker_threads = 0\n[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\n", 2, "router.worker_threads", "at least 1"),
    ("[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\nmtu = 20\n", 4, "ports[0].mtu", "out of range"),
    ("[[ports]]\nname = \"eth1\"\naddresses = [\"ff02::1/64\"]\n", 3, "ports[0].addresses[0]", "is a multicast address"),
    // Syntax: the array is never closed; reported at the end of the file.
    ("[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"\n", 4, "ports[0].addresses", "invalid array; expected `]`"),
];

#[test]
fn check_reports_file_line_field_and_exits_2() {
    let dir = TempDir::new("check");
    for (i, (text, line, field, needle)) in BAD.iter().enumerate() {
        let path = dir.file(&format!("bad{i}.toml"), text);
        let o = router(&["check", path.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        let first = err.lines().next().unwrap_or("");
        let prefix = format!("{}:{line}:", path.display());
        assert!(
            first.starts_with(&prefix),
            "case {i}: {first:?} should start with {prefix:?}"
        );
        assert!(
            first.contains(&format!("field `{field}`")),
            "case {i}: {first}"
        );
        assert!(first.contains(needle), "case {i}: {first}");
        assert!(o.stdout.is_empty(), "case {i}");
        assert_eq!(err.lines().count(), 1, "case {i}: one line: {err}");
    }
}

#[test]
fn run_with_bad_config_exits_2_and_starts_nothing() {
    let dir = TempDir::new("run");
    let (text, line, field, _) = BAD[1];
    let path = dir.file("bad.toml", text);
    let socket = dir.0.join("ctl.sock");
    let o = router(&[
        "run",
        "-c",
        path.to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:{line}:", path.display())),
        "{err}"
    );
    assert!(err.contains(&format!("field `{field}`")), "{err}");
    assert!(!socket.exists(), "no control socket for a bad config");
}

#[test]
fn missing_file_exits_2() {
    let o = router(&["check", "/nonexistent/router.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/router.toml: cannot read config"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_with_missing_interface_exits_1_and_starts_nothing() {
    let dir = TempDir::new("noif");
    // No interface has this name (15 bytes at most; unique enough).
    let text = GOOD.replace(
        "name = \"eth1\"",
        "name = \"eth1\"\nifname = \"rtnoexist9q7\"",
    );
    let path = dir.file("good.toml", &text);
    let socket = dir.0.join("ctl.sock");
    let o = router(&[
        "run",
        "-c",
        path.to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // The host set-up is the first to look at the interface: it names the
    // port, the interface and the fix.
    assert!(
        err.contains("port eth1 (interface rtnoexist9q7)") && err.contains("no such interface"),
        "{err}"
    );
    assert!(err.contains("fix:"), "{err}");
    assert!(!socket.exists());
}

#[test]
fn show_without_router_exits_1() {
    let dir = TempDir::new("show");
    let socket = dir.0.join("none.sock");
    for args in [
        vec!["show", "interfaces"],
        vec!["show", "route", "--json"],
        vec!["show", "bgp", "summary"],
        vec!["ping"],
    ] {
        let mut a = args.clone();
        a.extend(["--socket", socket.to_str().unwrap()]);
        let o = router(&a);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).contains("cannot connect to the control socket"),
            "{}",
            stderr(&o)
        );
    }
    // The socket path can come from a config file; a bad one is a config error.
    let bad = dir.file("bad.toml", BAD[0].0);
    let o = router(&["show", "interfaces", "-c", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(router(&["run"]).status.code(), Some(2));
    assert_eq!(router(&["show"]).status.code(), Some(2));
    assert_eq!(router(&["frobnicate"]).status.code(), Some(2));
    let o = router(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
}
