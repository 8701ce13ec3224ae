//! [`Lab`]: the owner of what a test (or the lab command) creates —
//! namespaces, veths, bridges, background processes and a scratch
//! directory — and removes again.
//!
//! Traffic rules it enforces by construction: links are veths created
//! directly inside the namespaces that use them (nothing in the root
//! namespace, no `dummy` links), and dropping a lab (also while a test
//! panics) kills its processes by process-group id, then any process still
//! inside one of its namespaces by PID, then deletes the namespaces (which
//! destroys their veths) and the scratch directory.
//!
//! Two ways of naming: a test's lab ([`Lab::new`]) gives every namespace a
//! name unique to the process (`rtest-<pid>-<n>-<role>`), so tests run in
//! parallel; the lab command's ([`Lab::named`]) names them `<prefix>-<role>`
//! and, once it is up, [`Lab::detach`]es so the lab outlives the command
//! until `lab.sh down`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::{unique_name, Ns, SETUP_TIMEOUT};
use crate::process::{kill_group, kill_pid, render, run_timeout, tail, wait_deadline, Signal};

/// Prefix of the namespaces the integration tests create; `scripts/test-all.sh`
/// fails the run when any is left behind.
pub const TEST_PREFIX: &str = "rtest";

/// A process spawned into a namespace (a process-group leader).
struct Spawned {
    what: String,
    child: Child,
    log: PathBuf,
}

/// How the lab names its namespaces.
#[derive(Clone, Debug)]
enum Naming {
    /// `<prefix>-<pid>-<n>-<role>`: unique to this process and call.
    Unique(String),
    /// `<prefix>-<role>`: the lab command's stable names.
    Fixed(String),
}

/// Owns namespaces, processes and a scratch directory; removes all of them on
/// drop (also during a panic) unless detached.
pub struct Lab {
    naming: Naming,
    namespaces: Vec<Ns>,
    procs: Vec<Spawned>,
    dir: PathBuf,
    /// Write `<dir>/pids/<name>.pid` for every process (the lab command's
    /// `down` reads them back).
    pid_files: bool,
    /// Remove `dir` on drop (not when it belongs to a lab that stands).
    own_dir: bool,
}

impl Lab {
    /// A lab for an integration test; namespaces are named `rtest-<pid>-<n>-<role>`.
    pub fn new(tag: &str) -> Lab {
        Lab::with_prefix(TEST_PREFIX, tag)
    }

    /// A lab whose namespaces start with `prefix` (the benchmark uses `rbench`).
    pub fn with_prefix(prefix: &str, tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(unique_name(prefix, tag));
        Lab::make(Naming::Unique(prefix.to_string()), dir, false)
    }

    /// A lab whose namespaces are called `<prefix>-<role>` and whose state
    /// (logs, sockets, PID files) lives in `dir`: the lab command's.
    pub fn named(prefix: &str, dir: &Path) -> Lab {
        Lab::make(Naming::Fixed(prefix.to_string()), dir.to_path_buf(), true)
    }

    /// [`Lab::named`] for a lab that stands already (the lab command's
    /// `fix`): it owns only what is made from here on, and never removes
    /// `dir`.
    pub fn reopen(prefix: &str, dir: &Path) -> Lab {
        let mut lab = Lab::named(prefix, dir);
        lab.own_dir = false;
        lab
    }

    fn make(naming: Naming, dir: PathBuf, pid_files: bool) -> Lab {
        let sub = if pid_files {
            dir.join("pids")
        } else {
            dir.clone()
        };
        fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("create {}: {e}", sub.display()));
        Lab {
            naming,
            namespaces: Vec::new(),
            procs: Vec::new(),
            dir,
            pid_files,
            own_dir: true,
        }
    }

    /// Scratch directory (configs, logs, sockets), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name the namespace for `role` gets (for a unique-naming lab, a new
    /// one on each call).
    pub fn ns_name(&self, role: &str) -> String {
        match &self.naming {
            Naming::Unique(prefix) => unique_name(prefix, role),
            Naming::Fixed(prefix) => format!("{prefix}-{role}"),
        }
    }

    /// Creates a namespace with `lo` up and IPv6 off (no router solicitations
    /// or MLD reports muddying the counters).
    pub fn ns(&mut self, role: &str) -> Ns {
        let ns = Ns::named(self.ns_name(role));
        let out = run_timeout(
            Command::new("ip").args(["netns", "add", ns.name()]),
            SETUP_TIMEOUT,
        );
        assert!(out.success(), "{out}");
        self.namespaces.push(ns.clone());
        ns.ip("link set lo up");
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1");
        ns
    }

    /// Takes ownership of a namespace someone else creates (e.g. a script):
    /// it is deleted on drop like the lab's own, if it exists then.
    pub fn adopt(&mut self, name: &str) -> Ns {
        let ns = Ns::named(name);
        self.namespaces.push(ns.clone());
        ns
    }

    /// A veth pair created directly inside its two namespaces (`a_if` in `a`,
    /// `b_if` in `b`), both ends up, default offloads untouched.
    pub fn veth(&self, a: &Ns, a_if: &str, b: &Ns, b_if: &str) {
        let out = run_timeout(
            Command::new("ip").args([
                "link",
                "add",
                a_if,
                "netns",
                a.name(),
                "type",
                "veth",
                "peer",
                "name",
                b_if,
                "netns",
                b.name(),
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
    pub fn spawn<S: AsRef<OsStr>>(&mut self, ns: &Ns, args: &[S]) -> u32 {
        let name = format!("proc{}", self.procs.len());
        self.spawn_named(ns, &name, args)
    }

    /// [`Lab::spawn`] with the log called `<name>.log` (and, in the lab
    /// command, the PID in `pids/<name>.pid`).
    pub fn spawn_named<S: AsRef<OsStr>>(&mut self, ns: &Ns, name: &str, args: &[S]) -> u32 {
        let (prog, rest) = args.split_first().expect("a program");
        let what = render(&ns.command(prog, rest));
        let log = self.dir.join(format!("{name}.log"));
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("create log");
        let err = file.try_clone().expect("dup log");
        // A group of its own: the daemon is killed with its children, and a
        // lab command's daemons outlive the caller's process group.
        let child = ns
            .command(prog, rest)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let pid = child.id();
        if self.pid_files {
            let f = self.dir.join("pids").join(format!("{name}.pid"));
            fs::write(&f, format!("{pid}\n"))
                .unwrap_or_else(|e| panic!("write {}: {e}", f.display()));
        }
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

    /// SIGKILL one spawned process by PID (a hard crash) and wait (≤ 5 s)
    /// until it is gone.
    pub fn kill9(&mut self, pid: u32) {
        kill_pid(pid, Signal::SIGKILL);
        let _ = self.wait_exit(pid, Duration::from_secs(5));
    }

    /// Leaves everything in place and forgets it: the lab command's `up`,
    /// once the lab stands (its `down` removes it).
    pub fn detach(mut self) {
        self.namespaces.clear();
        // Dropping a `Child` neither kills nor waits for it.
        self.procs.clear();
        self.own_dir = false;
    }

    fn cleanup(&mut self) {
        if thread::panicking() {
            for p in self.procs.iter().rev() {
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
            delete_netns(&ns);
        }
        if self.own_dir && !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Kills every process still inside `ns` by PID (e.g. a daemon that forked
/// away from its group), then deletes the namespace. Absent: nothing to do.
pub fn delete_netns(ns: &Ns) {
    if !ns.exists() {
        return;
    }
    let pids = run_timeout(
        Command::new("ip").args(["netns", "pids", ns.name()]),
        SETUP_TIMEOUT,
    );
    for pid in pids
        .stdout
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        kill_pid(pid, Signal::SIGKILL);
    }
    let out = run_timeout(
        Command::new("ip").args(["netns", "del", ns.name()]),
        SETUP_TIMEOUT,
    );
    if !out.success() {
        eprintln!("warning: could not delete namespace {}: {out}", ns.name());
    }
}

fn stop_child(p: &mut Spawned) {
    let pgid = p.child.id();
    if matches!(p.child.try_wait(), Ok(None)) {
        kill_group(pgid, Signal::SIGTERM);
        if wait_deadline(&mut p.child, Instant::now() + Duration::from_secs(2)).is_none() {
            kill_group(pgid, Signal::SIGKILL);
        }
    }
    // The leader may have exited while its children live on: the group goes too.
    kill_group(pgid, Signal::SIGKILL);
    let _ = wait_deadline(&mut p.child, Instant::now() + Duration::from_secs(2));
}
