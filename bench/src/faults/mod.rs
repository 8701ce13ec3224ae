//! The fault benchmark's lab: one router with four ports, traffic hosts on
//! three of them and BGP peers on the fourth, and what it reads back from
//! the router (control socket, /proc).
//!
//! ```text
//!  src 192.168.10.100 --eth1-- router --eth2-- a 192.168.20.100 (172.20.50.1, 172.20.60.1 on lo)
//!                               |  |
//!                               |  +---eth3-- b 192.168.30.100 (172.20.50.1 on lo)
//!                               +------eth4-- peers 10.77.0.1 (churn/flapping peer), .3 .4 (steady peers)
//! ```
//!
//! Routes: 172.20.60.0/24 static via a (the churn and ingest tests' traffic);
//! 172.20.50.0/24 from BGP, announced by a and by b (ECMP when both do; the
//! route-flap test's traffic). Everything sits in `rbench-<pid>-…`
//! namespaces, removed by the [`Lab`] when the scenario ends.
pub mod traffic;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use router_tests::config::{BgpSpec, NeighborSpec, RemoteAs, RouterSpec};
use router_tests::{Lab, Ns, RouterProc};
use serde_json::Value;

pub const PREFIX: &str = "rbench";
pub const ROUTER_AS: u32 = 65000;
pub const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 100);
pub const A: Ipv4Addr = Ipv4Addr::new(192, 168, 20, 100);
pub const B: Ipv4Addr = Ipv4Addr::new(192, 168, 30, 100);
pub const CHURN: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const PEERS_RTR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const STEADY: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 3), Ipv4Addr::new(10, 77, 0, 4)];
pub const AS_A: u32 = 65101;
pub const AS_B: u32 = 65102;
pub const AS_CHURN: u32 = 65100;
pub const AS_STEADY: [u32; 2] = [65103, 65104];
/// The flapping route (a and b announce it).
pub const FLAP_PREFIX: &str = "172.20.50.0/24";
pub const FLAP_DST: Ipv4Addr = Ipv4Addr::new(172, 20, 50, 1);
/// The steady static route (the churn and ingest tests' traffic).
pub const STATIC_PREFIX: &str = "172.20.60.0/24";
pub const STATIC_DST: Ipv4Addr = Ipv4Addr::new(172, 20, 60, 1);
pub const UDP_PORT: u16 = 9000;

/// The router's config: four ports, the static route, BGP with every peer
/// passive (they connect), ECMP over up to 4 paths.
pub fn router_spec(churn_max_prefix: Option<u32>) -> RouterSpec {
    let n = |addr: Ipv4Addr, asn: u32| NeighborSpec {
        address: addr.to_string(),
        remote_as: Some(RemoteAs::Number(asn)),
        passive: Some(true),
        ..NeighborSpec::default()
    };
    let mut churn = n(CHURN, AS_CHURN);
    churn.max_prefix = churn_max_prefix;
    RouterSpec::default()
        .workers(2)
        .port("eth1", "192.168.10.200/24")
        .port("eth2", "192.168.20.200/24")
        .port("eth3", "192.168.30.200/24")
        .port("eth4", &format!("{PEERS_RTR}/24"))
        .via(STATIC_PREFIX, &A.to_string())
        .bgp(BgpSpec {
            asn: ROUTER_AS,
            router_id: "192.168.10.200".into(),
            maximum_paths: Some(4),
            multipath_relax: Some(true),
            neighbors: vec![
                n(A, AS_A),
                n(B, AS_B),
                churn,
                n(STEADY[0], AS_STEADY[0]),
                n(STEADY[1], AS_STEADY[1]),
            ],
            ..BgpSpec::default()
        })
}

/// The namespaces and the running router. Field order: the router handle
/// goes before the lab that kills it.
pub struct FaultLab {
    pub router: RouterProc,
    pub src: Ns,
    pub a: Ns,
    pub b: Ns,
    pub peers: Ns,
    pub lab: Lab,
}

impl FaultLab {
    pub fn build(tag: &str, spec: &RouterSpec) -> FaultLab {
        let mut lab = Lab::with_prefix(PREFIX, tag);
        let src = lab.ns("src");
        let rtr = lab.ns("rtr");
        let a = lab.ns("a");
        let b = lab.ns("b");
        let peers = lab.ns("peers");
        lab.veth(&src, "eth0", &rtr, "eth1");
        lab.veth(&rtr, "eth2", &a, "eth0");
        lab.veth(&rtr, "eth3", &b, "eth0");
        lab.veth(&rtr, "eth4", &peers, "eth0");
        src.ip(&format!("addr add {SRC}/24 dev eth0"));
        src.ip("route add default via 192.168.10.200");
        a.ip(&format!("addr add {A}/24 dev eth0"));
        a.ip("route add default via 192.168.20.200");
        a.ip(&format!("addr add {FLAP_DST}/32 dev lo"));
        a.ip(&format!("addr add {STATIC_DST}/32 dev lo"));
        b.ip(&format!("addr add {B}/24 dev eth0"));
        b.ip("route add default via 192.168.30.200");
        b.ip(&format!("addr add {FLAP_DST}/32 dev lo"));
        peers.ip(&format!("addr add {CHURN}/24 dev eth0"));
        for s in STEADY {
            peers.ip(&format!("addr add {s}/24 dev eth0"));
        }
        spec.prepare_router_ns(&rtr);
        let router = lab.spawn_router_spec(&rtr, spec);
        FaultLab {
            router,
            src,
            a,
            b,
            peers,
            lab,
        }
    }

    /// The control socket, asked directly (no CLI process per poll).
    pub fn ctl(&self) -> Ctl {
        Ctl {
            socket: self.router.socket.clone(),
        }
    }

    pub fn alive(&mut self) -> bool {
        let pid = self.router.pid;
        self.lab.alive(pid)
    }

    /// Whether the router's log shows a panic.
    pub fn panicked(&self) -> bool {
        self.lab.log_of(self.router.pid).contains("panicked")
    }
}

pub fn dst(addr: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(addr, UDP_PORT)
}

/// The router's control socket: one JSON request line, one response line.
#[derive(Clone)]
pub struct Ctl {
    socket: PathBuf,
}

impl Ctl {
    pub fn at(socket: &Path) -> Ctl {
        Ctl {
            socket: socket.to_path_buf(),
        }
    }

    /// `data` of the answer to `command` (e.g. "show bgp summary").
    pub fn ask(&self, command: &str) -> Result<Value, String> {
        let mut s = UnixStream::connect(&self.socket).map_err(|e| format!("control: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let req = serde_json::json!({ "command": command });
        writeln!(s, "{req}").map_err(|e| format!("control: {e}"))?;
        let mut line = String::new();
        BufReader::new(s)
            .read_line(&mut line)
            .map_err(|e| format!("control: {e}"))?;
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("control: {e}: {line}"))?;
        if v.get("ok") != Some(&Value::Bool(true)) {
            return Err(format!("{command}: {}", v["error"]));
        }
        Ok(v.get("data").cloned().unwrap_or(Value::Null))
    }

    /// FIB routes in total (`show bgp summary`'s `fib_routes`).
    pub fn fib_routes(&self) -> Result<u64, String> {
        self.ask("show bgp summary")?
            .get("fib_routes")
            .and_then(Value::as_u64)
            .ok_or_else(|| "show bgp summary without fib_routes".into())
    }

    /// `show bgp neighbors ADDR`, the one entry.
    pub fn neighbor(&self, addr: Ipv4Addr) -> Result<Value, String> {
        let v = self.ask(&format!("show bgp neighbors {addr}"))?;
        match v {
            Value::Array(mut a) if !a.is_empty() => Ok(a.swap_remove(0)),
            Value::Object(_) => Ok(v),
            other => Err(format!("show bgp neighbors {addr}: {other}")),
        }
    }

    /// The next hops (`via`) of the exact route `prefix`, empty if none.
    pub fn route_vias(&self, prefix: &str) -> Result<Vec<String>, String> {
        let v = self.ask(&format!("show route {prefix}"))?;
        let entries: Vec<Value> = match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            o => vec![o],
        };
        Ok(entries
            .iter()
            .filter(|e| e["prefix"].as_str() == Some(prefix))
            .flat_map(|e| e["next_hops"].as_array().cloned().unwrap_or_default())
            .filter_map(|h| h["via"].as_str().map(str::to_string))
            .collect())
    }

    /// Drop counters summed over all ports, by reason.
    pub fn drops(&self) -> Result<std::collections::BTreeMap<String, u64>, String> {
        let v = self.ask("show interfaces")?;
        let mut sum = std::collections::BTreeMap::new();
        for p in v.as_array().cloned().unwrap_or_default() {
            if let Some(d) = p["drops"].as_object() {
                for (k, n) in d {
                    *sum.entry(k.clone()).or_insert(0) += n.as_u64().unwrap_or(0);
                }
            }
        }
        Ok(sum)
    }
}

/// A neighbour entry's state is Established.
pub fn established(n: &Value) -> bool {
    n.get("state")
        .or_else(|| n.get("summary").and_then(|s| s.get("state")))
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("established"))
}

/// A numeric field of a neighbour entry, looked up at the top level or in
/// `summary`/`counters`.
pub fn num(n: &Value, key: &str) -> u64 {
    n.get(key)
        .or_else(|| n.get("summary").and_then(|c| c.get(key)))
        .or_else(|| n.get("counters").and_then(|c| c.get(key)))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// VmRSS / VmHWM of a process, KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// CPU seconds (user + system) a process has used, all threads.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are 14, 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0; // USER_HZ on Linux
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / tick
}

/// CPU seconds per thread name (`fwd-0`, `bgp`, `slowpath`, the main
/// thread...), summed over threads of the same name.
pub fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut m = std::collections::BTreeMap::new();
    for (name, f) in router_tests::router::thread_stats(pid) {
        // utime and stime (proc(5) fields 14, 15), in USER_HZ ticks.
        let get = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        *m.entry(name).or_insert(0.0) += (get(11) + get(12)) / 100.0;
    }
    m
}

/// `after - before`, per thread name, rounded to 10 ms.
pub fn cpu_delta(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> std::collections::BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0.0);
            (k.clone(), (d * 100.0).round() / 100.0)
        })
        .collect()
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Least-squares slope of (x, y) points.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}
