#![forbid(unsafe_code)]
//! Network-namespace helpers for the integration tests (and the forwarding
//! benchmark, which builds the same topologies).
//!
//! Traffic rules these helpers enforce by construction: every namespace has a
//! name unique to this process (`<prefix>-<pid>-<counter>-<role>`), links are
//! veths created directly inside the namespaces that use them (nothing in the
//! root namespace, no `dummy` links), and a [`Lab`] removes what it made when
//! dropped — also while a test panics: spawned processes are killed by their
//! process-group id, then any process still inside one of its namespaces is
//! killed by PID, then the namespaces are deleted (which destroys their veths).
//!
//! Tests that need root or a tool call [`require_root`]/[`require_tool`]: under
//! `CI=true` a missing prerequisite panics (the run fails), otherwise the test
//! prints a loud SKIPPED line and returns.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Prefix of the namespaces the integration tests create; `scripts/test-all.sh`
/// fails the run when any is left behind.
pub const TEST_PREFIX: &str = "rtest";

/// Timeout for the small set-up commands (`ip link`, `sysctl`, ...).
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Prerequisites
// ---------------------------------------------------------------------------

/// True when running under CI (`CI=true`/`CI=1`): missing prerequisites fail.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE") | Ok("True")
    )
}

fn skip_or_fail(what: &str) -> bool {
    if in_ci() {
        panic!("prerequisite missing under CI=true: {what}");
    }
    // Straight to fd 2: libtest captures `eprintln!` of passing tests, and a
    // skip must never be silent.
    use std::io::Write;
    let bar = "!".repeat(72);
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!!! SKIPPED: {what}\n!!! (run as root via `sudo ./scripts/test-all.sh`; under CI=true this fails)\n{bar}"
    );
    false
}

/// Whether the process runs as root (uid 0), read from /proc without libc.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Returns true when the test may go on. Without root: panics under CI,
/// otherwise prints a loud SKIPPED message and returns false.
pub fn require_root() -> bool {
    is_root() || skip_or_fail("this test needs root (network namespaces)")
}

/// Whether `tool` is an executable on PATH.
pub fn have_tool(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        fs::metadata(dir.join(tool))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Returns true when `tool` is on PATH; otherwise panics under CI or skips loudly.
pub fn require_tool(tool: &str) -> bool {
    have_tool(tool)
        || skip_or_fail(&format!(
            "this test needs `{tool}` on PATH (scripts/install-deps.sh installs it)"
        ))
}

/// `require_root()` and every tool in `tools`.
pub fn require_root_and(tools: &[&str]) -> bool {
    require_root() && tools.iter().all(|t| require_tool(t))
}

/// Early-return from a test whose prerequisites are missing (see [`require_root_and`]).
#[macro_export]
macro_rules! require {
    ($($tool:expr),* $(,)?) => {
        if !$crate::require_root_and(&[$($tool),*]) {
            return;
        }
    };
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The `router` binary: `$ROUTER_BIN`, else the newer of
/// `target/release/router` and `target/debug/router`.
pub fn router_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ROUTER_BIN") {
        return PathBuf::from(p);
    }
    let t = target_dir();
    let candidates = [t.join("release/router"), t.join("debug/router")];
    candidates
        .iter()
        .filter_map(|p| fs::metadata(p).and_then(|m| m.modified()).ok().map(|m| (m, p.clone())))
        .max_by_key(|(m, _)| *m)
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "no router binary: set ROUTER_BIN or build it (`cargo build --release -p router`); looked in {}",
                t.display()
            )
        })
}

/// A file or script shipped in the repository (e.g. `scripts/lib/whoami.py`).
pub fn repo_file(rel: &str) -> PathBuf {
    let p = workspace_root().join(rel);
    assert!(p.exists(), "{} is missing", p.display());
    p
}

// ---------------------------------------------------------------------------
// Running commands with a timeout
// ---------------------------------------------------------------------------

/// What a bounded command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Shell-like rendering of the command, for messages.
    pub cmd: String,
    /// Exit code; `None` when killed (timeout or signal).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Panics (with everything printed) unless the command exited 0.
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {}{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.cmd,
            self.code
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed".into()),
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Kill a whole process group (the children are spawned as group leaders).
/// Uses kill(1) because this crate forbids `unsafe` (no raw libc::kill).
fn kill_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn kill_pid(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

fn wait_deadline(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    }
}

/// Runs `cmd` (stdin closed, output captured) for at most `timeout`; on expiry
/// its process group is killed and `timed_out` is set. Never hangs.
pub fn run_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let rendered = render(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CmdOutput {
                cmd: rendered,
                code: None,
                timed_out: false,
                stdout: String::new(),
                stderr: format!("spawn failed: {e}"),
            }
        }
    };
    let out = reader(child.stdout.take().expect("piped"));
    let err = reader(child.stderr.take().expect("piped"));
    let pgid = child.id();
    let status = wait_deadline(&mut child, Instant::now() + timeout);
    let timed_out = status.is_none();
    // Whatever the leader left behind in its group goes too.
    kill_group(pgid, "-KILL");
    let status = status.or_else(|| child.wait().ok());
    let grace = Duration::from_secs(2);
    CmdOutput {
        cmd: rendered,
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        stdout: out.recv_timeout(grace).unwrap_or_default(),
        stderr: err.recv_timeout(grace).unwrap_or_default(),
    }
}

/// Polls `cond` every `every` until it holds or `timeout` passes; returns
/// whether it held. Bounded by construction.
pub fn poll_until(timeout: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(every);
    }
}

/// Like [`poll_until`] but panics with `what` on timeout.
pub fn wait_until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, Duration::from_millis(50), cond),
        "timed out after {timeout:?} waiting for {what}"
    );
}

// ---------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `<prefix>-<pid>-<n>-<tag>`.
pub fn unique_name(prefix: &str, tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{tag}", std::process::id())
}

/// A handle on a network namespace owned by a [`Lab`] (the lab deletes it).
#[derive(Clone, Debug)]
pub struct Ns {
    name: String,
}

impl Ns {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns> <prog> <args...>`, not yet run.
    pub fn command<S: AsRef<std::ffi::OsStr>>(
        &self,
        prog: impl AsRef<std::ffi::OsStr>,
        args: &[S],
    ) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog).args(args);
        c
    }

    /// Runs a command inside the namespace for at most `timeout`.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], timeout: Duration) -> CmdOutput {
        let (prog, rest) = args.split_first().expect("a program");
        run_timeout(&mut self.command(prog, rest), timeout)
    }

    /// Runs a bash script inside the namespace for at most `timeout`.
    pub fn sh(&self, script: &str, timeout: Duration) -> CmdOutput {
        run_timeout(&mut self.command("bash", &["-c", script]), timeout)
    }

    /// Runs a set-up command (10 s bound) and panics if it fails; returns stdout.
    pub fn must<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        self.run(args, SETUP_TIMEOUT).ok().stdout
    }

    /// `ip <args>` inside the namespace, panicking on failure.
    pub fn ip(&self, args: &str) -> String {
        let mut v = vec!["ip"];
        v.extend(args.split_whitespace());
        self.must(&v)
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        self.must(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// Reads a file as seen from inside the namespace (/sys and /proc/net are per namespace).
    pub fn read(&self, path: &str) -> String {
        self.must(&["cat", path])
    }

    /// An interface statistics counter, e.g. `counter("eth0", "rx_packets")`.
    pub fn counter(&self, iface: &str, name: &str) -> u64 {
        let s = self.read(&format!("/sys/class/net/{iface}/statistics/{name}"));
        s.trim()
            .parse()
            .unwrap_or_else(|e| panic!("counter {iface}/{name} in {}: {e}: {s:?}", self.name))
    }

    /// A counter from /proc/net/snmp, e.g. `snmp("Ip", "InAddrErrors")`.
    pub fn snmp(&self, group: &str, field: &str) -> u64 {
        let text = self.read("/proc/net/snmp");
        parse_snmp(&text, group, field)
            .unwrap_or_else(|| panic!("no {group}:{field} in /proc/net/snmp of {}", self.name))
    }

    pub fn mac(&self, iface: &str) -> String {
        self.read(&format!("/sys/class/net/{iface}/address"))
            .trim()
            .to_string()
    }
}

/// Extracts `group: field` from the two-line-per-group /proc/net/snmp format.
pub fn parse_snmp(text: &str, group: &str, field: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let header = lines.next()?;
    let values = lines.next()?;
    let idx = header.split_whitespace().position(|h| h == field)?;
    values.split_whitespace().nth(idx)?.parse().ok()
}

/// A process spawned into a namespace (a process-group leader).
struct Spawned {
    what: String,
    child: Child,
    log: PathBuf,
}

/// Owns namespaces, processes and a scratch directory; removes all of them on
/// drop (also during a panic).
pub struct Lab {
    prefix: String,
    namespaces: Vec<Ns>,
    procs: Vec<Spawned>,
    dir: PathBuf,
}

impl Lab {
    /// A lab for an integration test; namespaces are named `rtest-<pid>-<n>-<role>`.
    pub fn new(tag: &str) -> Lab {
        Lab::with_prefix(TEST_PREFIX, tag)
    }

    /// A lab whose namespaces start with `prefix` (the benchmark uses `rbench`).
    pub fn with_prefix(prefix: &str, tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(unique_name(prefix, tag));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Lab {
            prefix: prefix.to_string(),
            namespaces: Vec::new(),
            procs: Vec::new(),
            dir,
        }
    }

    /// Scratch directory (configs, logs, sockets), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a namespace with `lo` up and IPv6 off (no router solicitations
    /// or MLD reports muddying the counters).
    pub fn ns(&mut self, role: &str) -> Ns {
        let name = unique_name(&self.prefix, role);
        let out = run_timeout(
            Command::new("ip").args(["netns", "add", &name]),
            SETUP_TIMEOUT,
        );
        assert!(out.success(), "{out}");
        let ns = Ns { name };
        self.namespaces.push(ns.clone());
        ns.ip("link set lo up");
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1");
        ns
    }

    /// Takes ownership of a namespace someone else creates (e.g. a script):
    /// it is deleted on drop like the lab's own, if it exists then.
    pub fn adopt(&mut self, name: &str) -> Ns {
        let ns = Ns {
            name: name.to_string(),
        };
        self.namespaces.push(ns.clone());
        ns
    }

    /// A veth pair created directly inside its two namespaces (`a_if` in `a`,
    /// `b_if` in `b`), both ends up, default offloads untouched.
    pub fn veth(&self, a: &Ns, a_if: &str, b: &Ns, b_if: &str) {
        let out = run_timeout(
            Command::new("ip").args([
                "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if,
                "netns", &b.name,
            ]),
            SETUP_TIMEOUT,
        );
        assert!(out.success(), "{out}");
        a.ip(&format!("link set {a_if} up"));
        b.ip(&format!("link set {b_if} up"));
    }

    /// A bridge inside `ns` (a switch), up.
    pub fn bridge(&self, ns: &Ns, name: &str) {
        ns.ip(&format!("link add {name} type bridge"));
        ns.ip(&format!("link set {name} up"));
    }

    /// Starts `args` inside `ns` in the background (own process group,
    /// output to a log file in the lab dir). Returns the PID; the lab kills it on drop.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(&mut self, ns: &Ns, args: &[S]) -> u32 {
        let (prog, rest) = args.split_first().expect("a program");
        let what = render(&ns.command(prog, rest));
        let log = self.dir.join(format!("proc{}.log", self.procs.len()));
        let file = fs::File::create(&log).expect("create log");
        let err = file.try_clone().expect("dup log");
        let child = ns
            .command(prog, rest)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let pid = child.id();
        self.procs.push(Spawned { what, child, log });
        pid
    }

    /// Whether a process spawned by this lab is still running.
    pub fn alive(&mut self, pid: u32) -> bool {
        self.procs
            .iter_mut()
            .find(|p| p.child.id() == pid)
            .map(|p| matches!(p.child.try_wait(), Ok(None)))
            .unwrap_or(false)
    }

    /// Waits at most `timeout` for a spawned process to exit on its own; returns
    /// its exit code (None if it is still running or was killed by a signal).
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> Option<i32> {
        let p = self.procs.iter_mut().find(|p| p.child.id() == pid)?;
        wait_deadline(&mut p.child, Instant::now() + timeout).and_then(|s| s.code())
    }

    /// Output a spawned process has written so far.
    pub fn log_of(&self, pid: u32) -> String {
        self.procs
            .iter()
            .find(|p| p.child.id() == pid)
            .map(|p| fs::read_to_string(&p.log).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Stops a spawned process (SIGTERM to its group, SIGKILL after 2 s).
    pub fn stop(&mut self, pid: u32) {
        if let Some(i) = self.procs.iter().position(|p| p.child.id() == pid) {
            let mut p = self.procs.remove(i);
            stop_child(&mut p);
        }
    }

    /// Starts `router run` inside `ns` with `config` (written to the lab dir)
    /// and waits until its control socket answers.
    pub fn spawn_router(&mut self, ns: &Ns, config: &str) -> RouterProc {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let cfg = self.dir.join(format!("router{n}.toml"));
        fs::write(&cfg, config).expect("write router config");
        self.spawn_router_file(ns, &cfg)
    }

    /// Starts `router run -c FILE` inside `ns` and waits for its control socket.
    pub fn spawn_router_file(&mut self, ns: &Ns, cfg: &Path) -> RouterProc {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let sock = self.dir.join(format!("router{n}.sock"));
        let bin = router_bin();
        let pid = self.spawn(
            ns,
            &[
                bin.as_os_str(),
                "run".as_ref(),
                "-c".as_ref(),
                cfg.as_os_str(),
                "--socket".as_ref(),
                sock.as_os_str(),
            ],
        );
        let r = RouterProc {
            pid,
            bin,
            socket: sock,
            config: cfg.to_path_buf(),
        };
        let ready = poll_until(Duration::from_secs(15), Duration::from_millis(50), || {
            if !self.alive(pid) {
                return true;
            }
            r.socket.exists() && r.try_show_interfaces().is_some()
        });
        assert!(
            self.alive(pid),
            "router exited during start-up:\n{}",
            self.log_of(pid)
        );
        assert!(
            ready,
            "router control socket {} not answering after 15 s:\n{}",
            r.socket.display(),
            self.log_of(pid)
        );
        r
    }

    fn cleanup(&mut self) {
        let panicking = thread::panicking();
        for p in self.procs.iter_mut().rev() {
            if panicking {
                let log = fs::read_to_string(&p.log).unwrap_or_default();
                if !log.is_empty() {
                    eprintln!("--- log of `{}` ---\n{}", p.what, tail(&log, 4000));
                }
            }
        }
        for mut p in self.procs.drain(..).rev() {
            stop_child(&mut p);
        }
        for ns in self.namespaces.drain(..).rev() {
            // Anything still inside (e.g. a daemon that forked away from its
            // group) is killed by PID before the namespace goes.
            if !Path::new("/run/netns").join(&ns.name).exists() {
                continue;
            }
            let pids = run_timeout(
                Command::new("ip").args(["netns", "pids", &ns.name]),
                SETUP_TIMEOUT,
            );
            for pid in pids
                .stdout
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
            {
                kill_pid(pid, "-KILL");
            }
            let out = run_timeout(
                Command::new("ip").args(["netns", "del", &ns.name]),
                SETUP_TIMEOUT,
            );
            if !out.success() {
                eprintln!("warning: could not delete namespace {}: {out}", ns.name);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn stop_child(p: &mut Spawned) {
    let pgid = p.child.id();
    if matches!(p.child.try_wait(), Ok(None)) {
        kill_group(pgid, "-TERM");
        if wait_deadline(&mut p.child, Instant::now() + Duration::from_secs(2)).is_none() {
            kill_group(pgid, "-KILL");
        }
    }
    // The leader may have exited while its children live on: the group goes too.
    kill_group(pgid, "-KILL");
    let _ = wait_deadline(&mut p.child, Instant::now() + Duration::from_secs(2));
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

// ---------------------------------------------------------------------------
// The router process and its control socket
// ---------------------------------------------------------------------------

/// A running `router` started by [`Lab::spawn_router`].
#[derive(Debug, Clone)]
pub struct RouterProc {
    pub pid: u32,
    pub bin: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
}

impl RouterProc {
    /// `router <args> --socket SOCK` (a local Unix socket; no network traffic).
    pub fn cli(&self, args: &[&str]) -> CmdOutput {
        run_timeout(
            Command::new(&self.bin)
                .args(args)
                .arg("--socket")
                .arg(&self.socket),
            SETUP_TIMEOUT,
        )
    }

    fn try_show_interfaces(&self) -> Option<serde_json::Value> {
        let out = self.cli(&["show", "interfaces", "--json"]);
        if !out.success() {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// `router show interfaces --json`, parsed.
    pub fn show_interfaces(&self) -> serde_json::Value {
        let out = self.cli(&["show", "interfaces", "--json"]).ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("show interfaces --json: {e}: {}", out.stdout))
    }

    /// Counters of one port (matched by port name or kernel interface name).
    pub fn port_stats(&self, port: &str) -> PortStats {
        let v = self.show_interfaces();
        PortStats::from_json(&v, port)
            .unwrap_or_else(|| panic!("port {port} not in show interfaces --json: {v}"))
    }

    /// One drop reason summed over all ports.
    pub fn drops_total(&self, reason: &str) -> u64 {
        let v = self.show_interfaces();
        ports_of(&v)
            .iter()
            .filter_map(PortStats::from_port)
            .map(|s| s.drop(reason))
            .sum()
    }
}

/// Counters of one port as shown by `router show interfaces --json`.
#[derive(Debug, Clone, Default)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub drops: BTreeMap<String, u64>,
}

/// The port objects of a `show interfaces --json` document: accepts a bare
/// array, `{"ports": [...]}`/`{"interfaces": [...]}`, or a map keyed by name.
fn ports_of(v: &serde_json::Value) -> Vec<serde_json::Value> {
    use serde_json::Value;
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => {
            for key in ["ports", "interfaces"] {
                if let Some(inner) = o.get(key) {
                    return ports_of(inner);
                }
            }
            o.iter()
                .filter(|(_, p)| p.is_object())
                .map(|(k, p)| {
                    let mut p = p.clone();
                    if let Some(m) = p.as_object_mut() {
                        m.entry("name").or_insert_with(|| Value::String(k.clone()));
                    }
                    p
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

impl PortStats {
    fn from_port(p: &serde_json::Value) -> Option<PortStats> {
        let num = |k: &str| -> u64 {
            p.get(k)
                .or_else(|| p.get("counters").and_then(|c| c.get(k)))
                .and_then(|x| x.as_u64())
                .unwrap_or(0)
        };
        let drops_v = p
            .get("drops")
            .or_else(|| p.get("counters").and_then(|c| c.get("drops")))?;
        let drops = drops_v
            .as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect();
        Some(PortStats {
            rx_packets: num("rx_packets"),
            tx_packets: num("tx_packets"),
            rx_bytes: num("rx_bytes"),
            tx_bytes: num("tx_bytes"),
            drops,
        })
    }

    pub fn from_json(v: &serde_json::Value, port: &str) -> Option<PortStats> {
        ports_of(v)
            .iter()
            .find(|p| {
                ["name", "interface", "iface", "ifname"]
                    .iter()
                    .any(|k| p.get(*k).and_then(|n| n.as_str()) == Some(port))
            })
            .and_then(PortStats::from_port)
    }

    pub fn drop(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------
// Router specification, for both forwarders
// ---------------------------------------------------------------------------

/// Which forwarder runs in the router namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarder {
    /// The router namespace's own kernel: addresses on the veths, ip_forward=1
    /// (the reference the tests are checked against and the benchmark's baseline).
    Kernel,
    /// `router run` on the veths, whose kernel side has no IPv4 address and
    /// does not forward.
    Router,
}

impl Forwarder {
    pub fn name(self) -> &'static str {
        match self {
            Forwarder::Kernel => "kernel",
            Forwarder::Router => "router",
        }
    }
}

/// A router port: `iface` is the kernel interface inside the router namespace.
#[derive(Clone, Debug)]
pub struct PortSpec {
    pub name: String,
    pub iface: String,
    /// `a.b.c.d/len`
    pub addrs: Vec<String>,
    pub mtu: Option<u32>,
}

/// A static route.
#[derive(Clone, Debug)]
pub enum RouteSpec {
    Via { prefix: String, via: String },
    Dev { prefix: String, port: String },
    Blackhole { prefix: String },
}

/// Ports, routes and worker count, rendered either as a `router` config or as
/// `ip` commands for the kernel forwarder.
#[derive(Clone, Debug, Default)]
pub struct RouterSpec {
    pub workers: Option<u32>,
    pub ports: Vec<PortSpec>,
    pub routes: Vec<RouteSpec>,
}

impl RouterSpec {
    pub fn port(mut self, iface: &str, addr: &str) -> Self {
        self.ports.push(PortSpec {
            name: iface.to_string(),
            iface: iface.to_string(),
            addrs: vec![addr.to_string()],
            mtu: None,
        });
        self
    }
    pub fn port_mtu(mut self, iface: &str, addr: &str, mtu: u32) -> Self {
        self.ports.push(PortSpec {
            name: iface.to_string(),
            iface: iface.to_string(),
            addrs: vec![addr.to_string()],
            mtu: Some(mtu),
        });
        self
    }
    pub fn via(mut self, prefix: &str, via: &str) -> Self {
        self.routes.push(RouteSpec::Via {
            prefix: prefix.to_string(),
            via: via.to_string(),
        });
        self
    }
    pub fn blackhole(mut self, prefix: &str) -> Self {
        self.routes.push(RouteSpec::Blackhole {
            prefix: prefix.to_string(),
        });
        self
    }
    pub fn workers(mut self, n: u32) -> Self {
        self.workers = Some(n);
        self
    }

    /// The `router` TOML configuration (schema: router/src/config/mod.rs).
    pub fn to_toml(&self) -> String {
        let mut s = String::from("# generated by router-tests\n[router]\n");
        if let Some(w) = self.workers {
            let _ = writeln!(s, "worker_threads = {w}");
        }
        s.push('\n');
        for p in &self.ports {
            let _ = writeln!(s, "[[ports]]\nname = {:?}\nifname = {:?}", p.name, p.iface);
            let addrs: Vec<String> = p.addrs.iter().map(|a| format!("{a:?}")).collect();
            let _ = writeln!(s, "addresses = [{}]", addrs.join(", "));
            if let Some(m) = p.mtu {
                let _ = writeln!(s, "mtu = {m}");
            }
            s.push('\n');
        }
        for r in &self.routes {
            match r {
                RouteSpec::Via { prefix, via } => {
                    let _ = writeln!(s, "[[routes]]\nprefix = {prefix:?}\nvia = {via:?}\n");
                }
                RouteSpec::Dev { prefix, port } => {
                    let _ = writeln!(s, "[[routes]]\nprefix = {prefix:?}\nport = {port:?}\n");
                }
                RouteSpec::Blackhole { prefix } => {
                    let _ = writeln!(s, "[[routes]]\nprefix = {prefix:?}\nblackhole = true\n");
                }
            }
        }
        s
    }

    /// Configures the router namespace's kernel as the forwarder.
    pub fn apply_kernel(&self, ns: &Ns) {
        for p in &self.ports {
            for a in &p.addrs {
                ns.ip(&format!("addr add {a} dev {}", p.iface));
            }
            if let Some(m) = p.mtu {
                ns.ip(&format!("link set {} mtu {m}", p.iface));
            }
        }
        for r in &self.routes {
            match r {
                RouteSpec::Via { prefix, via } => {
                    ns.ip(&format!("route replace {prefix} via {via}"))
                }
                RouteSpec::Dev { prefix, port } => {
                    ns.ip(&format!("route replace {prefix} dev {port}"))
                }
                RouteSpec::Blackhole { prefix } => {
                    ns.ip(&format!("route replace blackhole {prefix}"))
                }
            };
        }
        ns.sysctl("net.ipv4.ip_forward", "1");
    }

    /// Prepares the router namespace for `router`: no kernel forwarding, no
    /// IPv4 address on the ports (they were created without), link MTUs set.
    pub fn prepare_router_ns(&self, ns: &Ns) {
        ns.sysctl("net.ipv4.ip_forward", "0");
        for p in &self.ports {
            if let Some(m) = p.mtu {
                ns.ip(&format!("link set {} mtu {m}", p.iface));
            }
        }
    }
}

/// Starts the chosen forwarder in `ns` for `spec`; `Some` for `router`.
pub fn start_forwarder(
    lab: &mut Lab,
    ns: &Ns,
    mode: Forwarder,
    spec: &RouterSpec,
) -> Option<RouterProc> {
    match mode {
        Forwarder::Kernel => {
            spec.apply_kernel(ns);
            None
        }
        Forwarder::Router => {
            spec.prepare_router_ns(ns);
            Some(lab.spawn_router(ns, &spec.to_toml()))
        }
    }
}

/// Defines the tests `$name::kernel` and `$name::router`, each calling
/// `$name(Forwarder)`: every scenario runs against `router` and, as the
/// reference that shows the test asserts what a correct router does, the
/// router namespace's own kernel.
#[macro_export]
macro_rules! both_forwarders {
    ($name:ident) => {
        mod $name {
            #[test]
            fn kernel() {
                super::$name($crate::Forwarder::Kernel)
            }
            #[test]
            fn router() {
                super::$name($crate::Forwarder::Router)
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Standard topologies
// ---------------------------------------------------------------------------

/// src — router — dst:
/// `src eth0 192.168.10.100/24` — `router eth1 192.168.10.200/24 | eth2 192.168.20.200/24` — `dst eth0 192.168.20.100/24`.
/// Hosts route everything via the router. Field order matters: the forwarder
/// handle is dropped before the lab that kills it.
pub struct Line {
    pub router: Option<RouterProc>,
    pub src: Ns,
    pub rtr: Ns,
    pub dst: Ns,
    pub mode: Forwarder,
    pub spec: RouterSpec,
    pub lab: Lab,
}

pub const SRC_IP: &str = "192.168.10.100";
pub const DST_IP: &str = "192.168.20.100";
pub const RTR_SRC_SIDE: &str = "192.168.10.200";
pub const RTR_DST_SIDE: &str = "192.168.20.200";

impl Line {
    /// The default spec: both ports, connected routes only, 2 workers.
    pub fn default_spec() -> RouterSpec {
        RouterSpec::default()
            .workers(2)
            .port("eth1", "192.168.10.200/24")
            .port("eth2", "192.168.20.200/24")
    }

    /// Builds the namespaces and links; `before_start` runs before the
    /// forwarder starts (e.g. to switch off ARP on a host).
    pub fn build_with(
        tag: &str,
        mode: Forwarder,
        spec: RouterSpec,
        before_start: impl FnOnce(&Line),
    ) -> Line {
        Line::build_in(Lab::new(tag), mode, spec, before_start)
    }

    pub fn build_in(
        mut lab: Lab,
        mode: Forwarder,
        spec: RouterSpec,
        before_start: impl FnOnce(&Line),
    ) -> Line {
        let src = lab.ns("src");
        let rtr = lab.ns("rtr");
        let dst = lab.ns("dst");
        lab.veth(&src, "eth0", &rtr, "eth1");
        lab.veth(&rtr, "eth2", &dst, "eth0");
        src.ip(&format!("addr add {SRC_IP}/24 dev eth0"));
        src.ip(&format!("route add default via {RTR_SRC_SIDE}"));
        dst.ip(&format!("addr add {DST_IP}/24 dev eth0"));
        dst.ip(&format!("route add default via {RTR_DST_SIDE}"));
        let mut line = Line {
            router: None,
            src,
            rtr,
            dst,
            mode,
            spec,
            lab,
        };
        before_start(&line);
        let (rtr, spec) = (line.rtr.clone(), line.spec.clone());
        line.router = start_forwarder(&mut line.lab, &rtr, mode, &spec);
        line
    }

    pub fn build(tag: &str, mode: Forwarder, spec: RouterSpec) -> Line {
        Line::build_with(tag, mode, spec, |_| {})
    }

    /// The router process (panics in kernel mode).
    pub fn router(&self) -> &RouterProc {
        self.router.as_ref().expect("router mode")
    }
}

// ---------------------------------------------------------------------------
// The seed lab (scripts/lab.sh) under a unique prefix
// ---------------------------------------------------------------------------

/// The seed lab of LAB.md, built by `scripts/lab.sh` under a prefix unique to
/// this test (so the script the README tells users to run is what the tests
/// exercise). Dropping it runs `lab.sh down` and then deletes whatever is
/// left of its namespaces (processes inside killed by PID).
pub struct SeedLab {
    pub prefix: String,
    pub state: PathBuf,
    pub mode: Forwarder,
    _lab: Lab,
}

/// Pod addresses of the seed lab.
pub const CURL_POD: &str = "172.20.0.95";
pub const WEBPODS: [(&str, &str); 3] = [
    ("172.20.0.238", "webpod-697b545f57-85dkh"),
    ("172.20.1.154", "webpod-697b545f57-zjp55"),
    ("172.20.2.249", "webpod-697b545f57-9lpt4"),
];

impl SeedLab {
    /// `lab.sh up <config> [--kernel]`; panics (after cleaning up) if it fails.
    pub fn up(config: &str, mode: Forwarder) -> SeedLab {
        let prefix = unique_name(TEST_PREFIX, "seed");
        let mut lab = Lab::new("seedstate");
        let state = lab.dir().join("lab-state");
        let names = [
            "router",
            "switch",
            "wan",
            "k8s-ctr",
            "k8s-w1",
            "k8s-w0",
            "curl-pod",
            "webpod-ctr",
            "webpod-w1",
            "webpod-w0",
        ];
        for n in names {
            lab.adopt(&format!("{prefix}-{n}"));
        }
        let seed = SeedLab {
            prefix,
            state,
            mode,
            _lab: lab,
        };
        let mut args = vec!["up", config];
        if mode == Forwarder::Kernel {
            args.push("--kernel");
        }
        let out = seed.lab_sh(&args, Duration::from_secs(60));
        assert!(out.success(), "{out}");
        seed
    }

    /// Runs `scripts/lab.sh ARGS` for this lab (no install, no build).
    pub fn lab_sh(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        let mut c = Command::new("bash");
        c.arg(repo_file("scripts/lab.sh"))
            .args(args)
            .env("RLAB_PREFIX", &self.prefix)
            .env("RLAB_STATE", &self.state)
            .env("RLAB_NO_SETUP", "1");
        if self.mode == Forwarder::Router {
            c.env("ROUTER_BIN", router_bin());
        }
        run_timeout(&mut c, timeout)
    }

    /// A namespace of the lab by role: "router", "wan", "k8s-w0", "curl-pod", ...
    pub fn ns(&self, role: &str) -> Ns {
        Ns {
            name: format!("{}-{role}", self.prefix),
        }
    }

    /// `curl http://IP/` from curl-pod (1 s connect timeout like the seed's
    /// loop); the `Hostname:` it answered, if any.
    pub fn curl(&self, ip: &str) -> Option<String> {
        let out = self.ns("curl-pod").run(
            &[
                "curl",
                "-s",
                "--connect-timeout",
                "1",
                "--max-time",
                "3",
                &format!("http://{ip}/"),
            ],
            Duration::from_secs(5),
        );
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Hostname: ").map(|h| h.trim().to_string()))
    }

    /// Packets for addresses the wan namespace does not own that reached it
    /// (it does not forward: Ip:InAddrErrors).
    pub fn wan_leaks(&self) -> u64 {
        self.ns("wan").snmp("Ip", "InAddrErrors")
    }

    /// The running router (router mode).
    pub fn router(&self) -> RouterProc {
        let pid = fs::read_to_string(self.state.join("pids/router.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        RouterProc {
            pid,
            bin: router_bin(),
            socket: self.state.join("router.sock"),
            config: PathBuf::new(),
        }
    }

    /// `lab.sh down`; the namespaces must be gone afterwards.
    pub fn down(&mut self) {
        let out = self.lab_sh(&["down"], Duration::from_secs(30));
        assert!(out.success(), "{out}");
        let left = run_timeout(Command::new("ip").args(["netns", "list"]), SETUP_TIMEOUT).stdout;
        let ours: Vec<&str> = left
            .lines()
            .filter(|l| l.starts_with(&format!("{}-", self.prefix)))
            .collect();
        assert!(ours.is_empty(), "lab.sh down left namespaces: {ours:?}");
    }
}

impl Drop for SeedLab {
    fn drop(&mut self) {
        if self.state.exists() {
            if thread::panicking() {
                if let Ok(log) = fs::read_to_string(self.state.join("router.log")) {
                    eprintln!("--- router.log ---\n{}", tail(&log, 4000));
                }
            }
            let _ = self.lab_sh(&["down"], Duration::from_secs(30));
        }
        // `self.lab` drops next: it deletes any adopted namespace still there.
    }
}

/// Parses iputils ping's summary: (transmitted, received).
pub fn ping_counts(output: &str) -> Option<(u32, u32)> {
    let line = output.lines().find(|l| l.contains("packets transmitted"))?;
    let mut nums = line.split(',').map(|f| {
        f.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    });
    Some((nums.next()??, nums.next()??))
}

/// Generates `size` bytes of pseudo-random data into `path` (xorshift; no
/// dependency) and returns nothing; use `sha256sum` to check it.
pub fn write_random_file(path: &Path, size: usize, seed: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(
        1 << 20,
        fs::File::create(path).expect("create data file"),
    );
    let mut x = seed | 1;
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for w in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).expect("write data");
        left -= n;
    }
    f.flush().expect("flush data");
}

/// `sha256sum FILE` (hex digest).
pub fn sha256_file(path: &Path) -> String {
    let out = run_timeout(Command::new("sha256sum").arg(path), Duration::from_secs(60)).ok();
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Sends `size` bytes of random data from `from` to `to_ip:port` over TCP with
/// socat and returns (sent sha256, received sha256, received byte count, seconds).
/// The receiver hashes the stream as it arrives.
pub fn tcp_bulk(
    lab: &mut Lab,
    from: &Ns,
    to: &Ns,
    to_ip: &str,
    port: u16,
    size: usize,
    timeout: Duration,
) -> BulkResult {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let data = lab.dir().join(format!("bulk{n}.bin"));
    write_random_file(&data, size, 0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let sent = sha256_file(&data);
    let result = lab.dir().join(format!("bulk{n}.recv"));
    // The receiver hashes and counts the stream as it arrives, then writes
    // "<sha256> <bytes>" to `result` atomically (rename).
    let hasher = format!(
        "import hashlib,os,sys\nh=hashlib.sha256();n=0\nwhile True:\n b=sys.stdin.buffer.read(1<<20)\n if not b: break\n h.update(b);n+=len(b)\n\
         open('{r}.tmp','w').write(h.hexdigest()+' '+str(n))\nos.rename('{r}.tmp','{r}')\n",
        r = result.display()
    );
    let server = lab.spawn(
        to,
        &[
            "bash",
            "-c",
            &format!("socat -u TCP-LISTEN:{port},reuseaddr STDOUT | python3 -c \"$0\"",),
            &hasher,
        ],
    );
    wait_listening(to, port);
    let start = Instant::now();
    let client = run_timeout(
        &mut from.command(
            "socat",
            &[
                "-u".to_string(),
                format!("OPEN:{}", data.display()),
                format!("TCP:{to_ip}:{port},connect-timeout=5"),
            ],
        ),
        timeout,
    );
    let got = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        result.exists()
    });
    let secs = start.elapsed().as_secs_f64();
    let _ = lab.wait_exit(server, Duration::from_secs(2));
    lab.stop(server);
    let _ = fs::remove_file(&data);
    let received = if got {
        fs::read_to_string(&result).unwrap_or_default()
    } else {
        String::new()
    };
    let mut fields = received.split_whitespace();
    let recv_sha = fields.next().unwrap_or_default().to_string();
    let bytes = fields.next().and_then(|b| b.parse().ok()).unwrap_or(0);
    BulkResult {
        sent_sha: sent,
        recv_sha,
        bytes,
        secs,
        client,
    }
}

#[derive(Debug)]
pub struct BulkResult {
    pub sent_sha: String,
    pub recv_sha: String,
    pub bytes: u64,
    pub secs: f64,
    pub client: CmdOutput,
}

impl BulkResult {
    pub fn gbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.secs / 1e9
    }
    /// Panics unless all `size` bytes arrived intact.
    pub fn assert_intact(&self, size: usize) {
        assert!(self.client.success(), "sender failed: {}", self.client);
        assert_eq!(
            self.bytes, size as u64,
            "byte count at the receiver (sender: {})",
            self.client
        );
        assert_eq!(
            self.sent_sha, self.recv_sha,
            "sha256 of the data differs between sender and receiver"
        );
    }
}

/// Waits (≤ 10 s) until something listens on TCP `port` inside `ns`.
pub fn wait_listening(ns: &Ns, port: u16) {
    wait_until(
        &format!("TCP listener on :{port} in {}", ns.name()),
        Duration::from_secs(10),
        || {
            ns.run(&["ss", "-Hltn", &format!("sport = :{port}")], SETUP_TIMEOUT)
                .stdout
                .contains("LISTEN")
        },
    );
}

/// Starts the whoami-like HTTP server (`scripts/lib/whoami.py`) in `ns`.
pub fn spawn_whoami(lab: &mut Lab, ns: &Ns, hostname: &str, port: u16) -> u32 {
    let script = repo_file("scripts/lib/whoami.py");
    let pid = lab.spawn(
        ns,
        &[
            "python3",
            &script.to_string_lossy(),
            "--name",
            hostname,
            "--port",
            &port.to_string(),
        ],
    );
    wait_listening(ns, port);
    pid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_parse() {
        let t = "Ip: Forwarding DefaultTTL InReceives InAddrErrors\nIp: 2 64 10 7\nIcmp: InMsgs\nIcmp: 3\n";
        assert_eq!(parse_snmp(t, "Ip", "InAddrErrors"), Some(7));
        assert_eq!(parse_snmp(t, "Icmp", "InMsgs"), Some(3));
        assert_eq!(parse_snmp(t, "Ip", "Nope"), None);
    }

    #[test]
    fn ping_summary() {
        let out = "--- 1.2.3.4 ping statistics ---\n3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n";
        assert_eq!(ping_counts(out), Some((3, 2)));
        let err = "2 packets transmitted, 0 received, +2 errors, 100% packet loss";
        assert_eq!(ping_counts(err), Some((2, 0)));
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_name("rtest", "x");
        let b = unique_name("rtest", "x");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("rtest-{}-", std::process::id())));
    }

    #[test]
    fn port_stats_shapes() {
        let v: serde_json::Value = serde_json::json!({"ports": [
            {"name": "eth1", "interface": "eth1", "rx_packets": 5, "tx_packets": 1, "drops": {"martian": 2}}
        ]});
        let s = PortStats::from_json(&v, "eth1").unwrap();
        assert_eq!((s.rx_packets, s.drop("martian"), s.drop("mtu")), (5, 2, 0));
        let m: serde_json::Value =
            serde_json::json!({"eth2": {"rx_packets": 3, "drops": {"mtu": 4}}});
        assert_eq!(PortStats::from_json(&m, "eth2").unwrap().drop("mtu"), 4);
    }

    #[test]
    fn run_timeout_kills() {
        let out = run_timeout(Command::new("sleep").arg("5"), Duration::from_millis(200));
        assert!(out.timed_out && out.code.is_none());
        let out = run_timeout(
            Command::new("sh").args(["-c", "echo hi; exit 3"]),
            Duration::from_secs(5),
        );
        assert_eq!((out.code, out.stdout.as_str()), (Some(3), "hi\n"));
    }
}

/// Real BGP daemons (gobgpd, BIRD, FRR) for the BGP tests and benchmark.
pub mod daemons;
