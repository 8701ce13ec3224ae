//! The `router` process: starting it in a namespace ([`Lab::spawn_router`]),
//! its CLI over the control socket ([`RouterProc`]), its port counters
//! ([`PortStats`]), and the choice of forwarder every scenario runs against
//! ([`Forwarder`], [`both_forwarders!`](crate::both_forwarders)).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::config::RouterSpec;
use crate::env::router_bin;
use crate::lab::Lab;
use crate::netns::{Ns, COUNTER, SETUP_TIMEOUT};
use crate::process::{poll_until, run_timeout, CmdOutput};

impl Lab {
    /// Starts `router run` inside `ns` with `spec` (serialised to the lab
    /// dir) and waits until its control socket answers.
    pub fn spawn_router_spec(&mut self, ns: &Ns, spec: &RouterSpec) -> RouterProc {
        self.spawn_router(ns, &spec.to_toml())
    }

    /// [`Lab::spawn_router_spec`] with a configuration given as TOML text
    /// (a test's literal config file).
    pub fn spawn_router(&mut self, ns: &Ns, config: &str) -> RouterProc {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let cfg = self.dir().join(format!("router{n}.toml"));
        fs::write(&cfg, config).expect("write router config");
        self.spawn_router_file(ns, &cfg)
    }

    /// Starts `router run -c FILE` inside `ns` and waits for its control socket.
    pub fn spawn_router_file(&mut self, ns: &Ns, cfg: &Path) -> RouterProc {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let sock = self.dir().join(format!("router{n}.sock"));
        self.spawn_router_at(ns, cfg, &sock, "router")
    }

    /// Starts `router run -c CFG --socket SOCK` inside `ns` (log `<name>.log`)
    /// and waits (≤ 15 s) until the control socket answers.
    pub fn spawn_router_at(&mut self, ns: &Ns, cfg: &Path, sock: &Path, name: &str) -> RouterProc {
        let _ = fs::remove_file(sock);
        let bin = router_bin();
        let pid = self.spawn_named(
            ns,
            name,
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
            socket: sock.to_path_buf(),
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
}

/// A running `router` started by [`Lab::spawn_router`].
#[derive(Debug, Clone)]
pub struct RouterProc {
    pub pid: u32,
    pub bin: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
}

impl RouterProc {
    /// The nice value of each of the router's threads, by thread name
    /// (`bgp`, `control`, `fwd-0`, ...); the largest where several threads
    /// share a name.
    pub fn thread_nice(&self) -> std::collections::BTreeMap<String, i64> {
        let mut m = std::collections::BTreeMap::new();
        for (name, fields) in thread_stats(self.pid) {
            // proc(5): field 19 (nice) is the 17th after the name.
            if let Some(n) = fields.get(16).and_then(|x| x.parse::<i64>().ok()) {
                let e = m.entry(name).or_insert(n);
                *e = (*e).max(n);
            }
        }
        m
    }

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

    /// `router route get WORDS`, as text (its first line, and all of it)
    /// and as JSON (`--json`); panics if either fails.
    pub fn route_get(&self, words: &[&str]) -> (String, String, serde_json::Value) {
        let mut args = vec!["route", "get"];
        args.extend_from_slice(words);
        let out = self.cli(&args);
        assert!(out.success(), "router {args:?}: {out}");
        eprintln!("$ router {}\n{}", args.join(" "), out.stdout);
        let first = out.stdout.lines().next().unwrap_or_default().to_string();
        args.push("--json");
        let j = self.cli(&args);
        assert!(j.success(), "router {args:?}: {j}");
        let v = serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("{e}: {}", j.stdout));
        (first, out.stdout, v)
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
            Some(lab.spawn_router_spec(ns, spec))
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

/// Each thread of process `pid`: its name and the fields of
/// /proc/PID/task/TID/stat after the name (proc(5) field 3 is index 0).
pub fn thread_stats(pid: u32) -> Vec<(String, Vec<String>)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let s = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The name may hold spaces and parentheses: it runs from the
            // first '(' to the last ')'.
            let (open, close) = (s.find('(')?, s.rfind(')')?);
            let fields = s[close + 1..]
                .split_whitespace()
                .map(String::from)
                .collect();
            Some((s[open + 1..close].to_string(), fields))
        })
        .collect()
}

/// `router ARGS --json` against `r`, parsed; panics with the output when
/// the command fails or prints no JSON.
pub fn show_json(r: &RouterProc, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = r.cli(&a);
    assert!(out.success(), "router {args:?}: {out}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("router {args:?} --json: {e}: {}", out.stdout))
}

/// Gateways of the BGP route for `prefix` in the router's FIB, in the order
/// shown (None: no such BGP route).
pub fn bgp_route(r: &RouterProc, prefix: &str) -> Option<Vec<String>> {
    use serde_json::Value;
    let routes = match show_json(r, &["show", "route"]) {
        Value::Array(a) => a,
        Value::Object(ref m) => m
            .get("routes")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let e = routes
        .iter()
        .find(|e| e.get("prefix").and_then(|p| p.as_str()) == Some(prefix))?;
    (e.get("source").and_then(|s| s.as_str()) == Some("bgp")).then(|| {
        e.get("next_hops")
            .and_then(|n| n.as_array())
            .into_iter()
            .flatten()
            .filter_map(|h| h.get("via").and_then(|v| v.as_str()).map(str::to_string))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
