//! Network namespaces: unique names, and [`Ns`], a handle to run commands
//! in one, read its counters, or run code on a thread inside it.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

use crate::process::{run_timeout, CmdOutput};

/// Where `ip netns add` mounts named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Timeout for the small set-up commands (`ip link`, `sysctl`, ...).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `<prefix>-<pid>-<n>-<tag>`.
pub fn unique_name(prefix: &str, tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{tag}", std::process::id())
}

/// A handle on a network namespace (by name, under /run/netns). Whoever
/// created it deletes it: a [`Lab`](crate::Lab) for its own.
#[derive(Clone, Debug)]
pub struct Ns {
    name: String,
}

impl Ns {
    /// A handle on the namespace called `name`; creates nothing.
    pub fn named(name: impl Into<String>) -> Ns {
        Ns { name: name.into() }
    }

    /// Whether the namespace exists (is mounted under /run/netns).
    pub fn exists(&self) -> bool {
        Path::new(NETNS_DIR).join(&self.name).exists()
    }

    /// Runs `f` on a thread of its own that has joined this namespace
    /// (setns(2) moves only the calling thread), and returns its result.
    /// Sockets `f` opens live in the namespace; the caller's threads stay
    /// where they are. Used by tests that speak a protocol themselves (a
    /// hand-made BGP peer) instead of re-running their binary under
    /// `ip netns exec`.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = Path::new(NETNS_DIR).join(&self.name);
        let file = fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        thread::scope(|s| {
            s.spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns into {}: {e}", path.display()));
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns> <prog> <args...>`, not yet run.
    pub fn command<S: AsRef<OsStr>>(&self, prog: impl AsRef<OsStr>, args: &[S]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog).args(args);
        c
    }

    /// Runs a command inside the namespace for at most `timeout`.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S], timeout: Duration) -> CmdOutput {
        let (prog, rest) = args.split_first().expect("a program");
        run_timeout(&mut self.command(prog, rest), timeout)
    }

    /// Runs a bash script inside the namespace for at most `timeout`.
    pub fn sh(&self, script: &str, timeout: Duration) -> CmdOutput {
        run_timeout(&mut self.command("bash", &["-c", script]), timeout)
    }

    /// Runs a set-up command (10 s bound) and panics if it fails; returns stdout.
    pub fn must<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
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

    /// A counter from /proc/net/snmp6, e.g. `snmp6("Ip6InAddrErrors")`.
    pub fn snmp6(&self, field: &str) -> u64 {
        let text = self.read("/proc/net/snmp6");
        parse_snmp6(&text, field)
            .unwrap_or_else(|| panic!("no {field} in /proc/net/snmp6 of {}", self.name))
    }

    /// Switches IPv6 on in the namespace, for the links that exist and
    /// those made later, without duplicate address detection (no address
    /// is ever tentative), router advertisements or SLAAC: test addresses
    /// are static and usable at once.
    pub fn enable_ipv6(&self) {
        for key in ["accept_dad", "accept_ra", "autoconf"] {
            for scope in ["all", "default"] {
                self.sysctl(&format!("net.ipv6.conf.{scope}.{key}"), "0");
            }
        }
        self.sysctl("net.ipv6.conf.all.disable_ipv6", "0");
        self.sysctl("net.ipv6.conf.default.disable_ipv6", "0");
    }

    /// Waits (≤ 5 s) until no IPv6 address of the namespace is tentative
    /// (DAD done); panics otherwise.
    pub fn wait_ipv6_settled(&self) {
        let ok =
            crate::process::poll_until(Duration::from_secs(5), Duration::from_millis(50), || {
                self.run(&["ip", "-6", "addr", "show", "tentative"], SETUP_TIMEOUT)
                    .stdout
                    .trim()
                    .is_empty()
            });
        assert!(
            ok,
            "tentative IPv6 addresses in {} after 5 s:\n{}",
            self.name,
            self.run(&["ip", "-6", "addr"], SETUP_TIMEOUT).stdout
        );
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

/// A field of /proc/net/snmp6 (one `Name value` pair a line).
pub fn parse_snmp6(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == field).then(|| it.next()?.parse().ok())?
    })
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
    fn snmp6_parse() {
        let t = "Ip6InReceives                   \t12\nIp6InAddrErrors                 \t3\n";
        assert_eq!(parse_snmp6(t, "Ip6InAddrErrors"), Some(3));
        assert_eq!(parse_snmp6(t, "Ip6InReceive"), None);
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_name("rtest", "x");
        let b = unique_name("rtest", "x");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("rtest-{}-", std::process::id())));
    }
}
