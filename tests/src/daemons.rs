//! Real BGP daemons (gobgpd, BIRD 2, FRR bgpd/zebra) inside test namespaces.
//!
//! Each daemon runs in the foreground, started with [`Lab::spawn`] (its own
//! process group, killed by the lab on drop), and keeps its config, control
//! socket, PID file and log in the lab's scratch directory. Tests that need
//! a hard crash use [`kill9`] (SIGKILL by PID). Nothing here touches the
//! root namespace's network or any process it did not start.
use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{poll_until, Lab, Ns};

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// SIGKILL one process by PID and wait (≤ 5 s) until the lab sees it gone.
pub fn kill9(lab: &mut Lab, pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let _ = lab.wait_exit(pid, Duration::from_secs(5));
}

/// VmHWM (peak RSS, KiB) of a process from /proc.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A world-writable directory in the lab dir: FRR drops privileges to the
/// `frr` user and writes its PID file and sockets there.
fn shared_dir(lab: &Lab, name: &str) -> PathBuf {
    let d = lab.dir().join(name);
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    fs::set_permissions(lab.dir(), fs::Permissions::from_mode(0o755)).ok();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o777))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", d.display()));
    d
}

fn cli_result(ns: &Ns, argv: &[&str]) -> Result<String, String> {
    let o = ns.run(argv, CLI_TIMEOUT);
    if o.success() {
        Ok(o.stdout)
    } else {
        Err(o.to_string())
    }
}

// ---------------------------------------------------------------- gobgpd

/// One `[[neighbors]]` entry of a gobgpd config.
#[derive(Clone, Debug)]
pub struct GobgpNeighbor {
    pub address: IpAddr,
    pub peer_as: u32,
    pub local_address: Option<IpAddr>,
    /// false = gobgpd connects out (Cilium); true = it only listens.
    pub passive: bool,
    pub hold_time: u16,
    pub keepalive: u16,
    pub connect_retry: u16,
    /// eBGP multihop TTL (Cilium's lab: 2); None = directly connected only.
    pub multihop_ttl: Option<u8>,
    /// Graceful restart with this restart time and the N bit (RFC 8538).
    pub graceful_restart: Option<u16>,
    pub ipv6: bool,
}

impl GobgpNeighbor {
    /// Cilium BGP control plane defaults in the seed lab: hold 9 /
    /// keepalive 3, eBGP multihop 2, graceful restart 15 s with the N bit,
    /// IPv4 and IPv6 unicast, connecting outward only.
    pub fn cilium(router: IpAddr, router_as: u32, local: IpAddr) -> GobgpNeighbor {
        GobgpNeighbor {
            address: router,
            peer_as: router_as,
            local_address: Some(local),
            passive: false,
            hold_time: 9,
            keepalive: 3,
            // Cilium's default is 120 s; short here so tests converge quickly
            // after the router restarts.
            connect_retry: 1,
            multihop_ttl: Some(2),
            graceful_restart: Some(15),
            ipv6: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct GobgpConfig {
    pub asn: u32,
    pub router_id: IpAddr,
    /// BGP listen port; -1 = do not listen (Cilium).
    pub listen_port: i32,
    pub neighbors: Vec<GobgpNeighbor>,
    /// Global default import policy "reject-route". Cilium's agent ignores
    /// the routes it is offered (it installs nothing from BGP); in gobgpd a
    /// global reject also drops the routes added with `gobgp global rib add`,
    /// so the Cilium-like config leaves it off (gobgpd has no FIB anyway).
    pub reject_imports: bool,
}

impl GobgpConfig {
    pub fn cilium(asn: u32, router_id: IpAddr, neighbors: Vec<GobgpNeighbor>) -> GobgpConfig {
        GobgpConfig {
            asn,
            router_id,
            listen_port: -1,
            neighbors,
            reject_imports: false,
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "[global.config]\n  as = {}\n  router-id = \"{}\"\n  port = {}",
            self.asn, self.router_id, self.listen_port
        );
        if self.reject_imports {
            let _ = writeln!(
                s,
                "[global.apply-policy.config]\n  default-import-policy = \"reject-route\""
            );
        }
        for n in &self.neighbors {
            let _ = writeln!(s, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}", n.address, n.peer_as);
            let _ = writeln!(
                s,
                "  [neighbors.timers.config]\n    hold-time = {}\n    keepalive-interval = {}\n    connect-retry = {}",
                n.hold_time, n.keepalive, n.connect_retry
            );
            let _ = writeln!(
                s,
                "  [neighbors.transport.config]\n    passive-mode = {}",
                n.passive
            );
            if let Some(l) = n.local_address {
                let _ = writeln!(s, "    local-address = \"{l}\"");
            }
            if let Some(ttl) = n.multihop_ttl {
                let _ = writeln!(s, "  [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = {ttl}");
            }
            if let Some(rt) = n.graceful_restart {
                let _ = writeln!(
                    s,
                    "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = {rt}\n    notification-enabled = true"
                );
            }
            let mut fams = vec!["ipv4-unicast"];
            if n.ipv6 {
                fams.push("ipv6-unicast");
            }
            for f in fams {
                let _ = writeln!(s, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\"");
                if n.graceful_restart.is_some() {
                    let _ = writeln!(s, "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true");
                }
            }
        }
        s
    }
}

/// A gobgpd in a namespace, driven with the `gobgp` CLI over its gRPC port
/// on the namespace's own loopback (each namespace has its own, so the
/// default port never collides).
pub struct Gobgpd {
    pub pid: u32,
    ns: Ns,
    conf: PathBuf,
}

impl Gobgpd {
    pub fn start(lab: &mut Lab, ns: &Ns, tag: &str, cfg: &GobgpConfig) -> Gobgpd {
        let conf = lab.dir().join(format!("gobgpd-{tag}.toml"));
        fs::write(&conf, cfg.render()).expect("write gobgpd config");
        let mut g = Gobgpd {
            pid: 0,
            ns: ns.clone(),
            conf,
        };
        g.restart(lab);
        g
    }

    /// Starts gobgpd (again) with the same config and waits for its API.
    pub fn restart(&mut self, lab: &mut Lab) {
        let conf = self.conf.to_string_lossy().into_owned();
        self.pid = lab.spawn(
            &self.ns,
            &[
                "gobgpd",
                "-f",
                &conf,
                "-t",
                "toml",
                "--api-hosts",
                "127.0.0.1:50051",
                "--log-level",
                "info",
            ],
        );
        let ok = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
            self.cli(&["global"]).is_ok()
        });
        assert!(
            ok,
            "gobgpd API not answering in {}:\n{}",
            self.ns.name(),
            lab.log_of(self.pid)
        );
    }

    /// Hard crash (SIGKILL by PID), like a Cilium agent killed by the kubelet.
    pub fn kill9(&mut self, lab: &mut Lab) {
        kill9(lab, self.pid);
    }

    /// Runs `gobgp ARGS` against this daemon; Err(output) on failure.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let mut argv = vec!["gobgp", "-u", "127.0.0.1", "-p", "50051"];
        argv.extend_from_slice(args);
        cli_result(&self.ns, &argv)
    }

    /// Originates `prefix` (next hop self on eBGP).
    pub fn announce(&self, prefix: &str) -> Result<(), String> {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.cli(&["global", "rib", "add", "-a", fam, prefix])
            .map(|_| ())
    }

    pub fn withdraw(&self, prefix: &str) -> Result<(), String> {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.cli(&["global", "rib", "del", "-a", fam, prefix])
            .map(|_| ())
    }

    /// The session state as gobgp names it ("established", "active", ...).
    pub fn neighbor_state(&self, addr: IpAddr) -> Option<String> {
        let out = self.cli(&["neighbor", &addr.to_string(), "-j"]).ok()?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v.pointer("/state/session_state").map(|s| match s {
            serde_json::Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        })
    }

    pub fn is_established(&self, addr: IpAddr) -> bool {
        // gobgp -j prints the enum either as a name or as its number (6 = ESTABLISHED).
        matches!(
            self.neighbor_state(addr).as_deref(),
            Some("established") | Some("6")
        )
    }

    /// Prefixes gobgpd holds in its global RIB for `family` ("ipv4").
    pub fn rib_count(&self, family: &str) -> Option<u64> {
        let out = self.cli(&["global", "rib", "summary", "-a", family]).ok()?;
        // "Table ipv4-unicast\nDestination: N, Path: M"
        let dest = out.split("Destination:").nth(1)?;
        dest.split(',').next()?.trim().parse().ok()
    }
}

// ---------------------------------------------------------------- BIRD 2

#[derive(Clone, Debug)]
pub struct BirdConfig {
    pub router_id: IpAddr,
    pub asn: u32,
    pub local: IpAddr,
    /// (address, AS) of each BGP neighbour.
    pub neighbors: Vec<(IpAddr, u32)>,
    /// Static prefixes to originate (installed as `unreachable` locally).
    pub originate: Vec<String>,
    /// Export learned routes into the namespace's kernel FIB.
    pub kernel_export: bool,
    pub hold_time: u16,
}

impl BirdConfig {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "router id {};\nprotocol device {{ scan time 10; }}",
            self.router_id
        );
        if self.kernel_export {
            // Batch the kernel sync like a production config would.
            let _ = writeln!(s, "protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; merge paths on; }}");
        }
        if !self.originate.is_empty() {
            let _ = writeln!(s, "protocol static {{ ipv4;");
            for p in &self.originate {
                let _ = writeln!(s, "  route {p} unreachable;");
            }
            let _ = writeln!(s, "}}");
        }
        for (i, (addr, asn)) in self.neighbors.iter().enumerate() {
            let _ = writeln!(
                s,
                "protocol bgp peer{i} {{\n  local {} as {};\n  neighbor {addr} as {asn};\n  hold time {};\n  connect retry time 1;\n  graceful restart on;\n  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}",
                self.local, self.asn, self.hold_time
            );
        }
        s
    }
}

pub struct Bird {
    pub pid: u32,
    ns: Ns,
    ctl: PathBuf,
}

impl Bird {
    pub fn start(lab: &mut Lab, ns: &Ns, tag: &str, cfg: &BirdConfig) -> Bird {
        let dir = lab.dir().to_path_buf();
        let conf = dir.join(format!("bird-{tag}.conf"));
        fs::write(&conf, cfg.render()).expect("write bird config");
        let ctl = dir.join(format!("bird-{tag}.ctl"));
        let pidf = dir.join(format!("bird-{tag}.pid"));
        let (c, k, p) = (
            conf.to_string_lossy().into_owned(),
            ctl.to_string_lossy().into_owned(),
            pidf.to_string_lossy().into_owned(),
        );
        let pid = lab.spawn(ns, &["bird", "-f", "-c", &c, "-s", &k, "-P", &p]);
        let b = Bird {
            pid,
            ns: ns.clone(),
            ctl,
        };
        let ok = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
            b.birdc(&["show", "status"]).is_ok()
        });
        assert!(
            ok,
            "bird not answering in {}:\n{}",
            ns.name(),
            lab.log_of(pid)
        );
        b
    }

    pub fn birdc(&self, args: &[&str]) -> Result<String, String> {
        let ctl = self.ctl.to_string_lossy().into_owned();
        let mut argv = vec!["birdc", "-s", &ctl];
        argv.extend_from_slice(args);
        cli_result(&self.ns, &argv)
    }

    /// Whether BGP protocol `peer{i}` is Established.
    pub fn is_established(&self, i: usize) -> bool {
        self.birdc(&["show", "protocols", &format!("peer{i}")])
            .map(|s| s.contains("Established"))
            .unwrap_or(false)
    }
}

// ---------------------------------------------------------------- FRR

#[derive(Clone, Debug)]
pub struct FrrConfig {
    pub asn: u32,
    pub router_id: IpAddr,
    /// (address, remote-as as FRR spells it: "65000" or "external").
    pub neighbors: Vec<(IpAddr, String)>,
    pub networks: Vec<String>,
}

impl FrrConfig {
    pub fn render_bgpd(&self) -> String {
        let mut s = String::from("frr defaults traditional\nhostname frr-test\nlog stdout\n");
        let _ = writeln!(
            s,
            "router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp graceful-restart",
            self.asn, self.router_id
        );
        for (a, r) in &self.neighbors {
            let _ = writeln!(
                s,
                " neighbor {a} remote-as {r}\n neighbor {a} timers connect 1"
            );
        }
        let _ = writeln!(s, " address-family ipv4 unicast");
        for n in &self.networks {
            let _ = writeln!(s, "  network {n}");
        }
        let _ = writeln!(s, " exit-address-family");
        s
    }
}

/// zebra (optional: installs into the namespace's kernel FIB) plus bgpd.
pub struct Frr {
    pub bgpd: u32,
    pub zebra: Option<u32>,
    ns: Ns,
    vty_dir: PathBuf,
}

impl Frr {
    pub fn start(lab: &mut Lab, ns: &Ns, tag: &str, cfg: &FrrConfig, with_zebra: bool) -> Frr {
        let vty_dir = shared_dir(lab, &format!("frr-{tag}"));
        let bgpd_conf = vty_dir.join("bgpd.conf");
        let zebra_conf = vty_dir.join("zebra.conf");
        fs::write(&bgpd_conf, cfg.render_bgpd()).expect("write bgpd.conf");
        fs::write(&zebra_conf, "hostname frr-test\nlog stdout\n").expect("write zebra.conf");
        let v = vty_dir.to_string_lossy().into_owned();
        let zsock = vty_dir.join("zserv.api").to_string_lossy().into_owned();
        // FRR drops to the `frr` user (which is in `frrvty`, needed for the vty sockets).
        let zebra = if with_zebra {
            let zc = zebra_conf.to_string_lossy().into_owned();
            let zp = vty_dir.join("zebra.pid").to_string_lossy().into_owned();
            let pid = lab.spawn(
                ns,
                &[
                    "/usr/lib/frr/zebra",
                    "-f",
                    &zc,
                    "-i",
                    &zp,
                    "-z",
                    &zsock,
                    "--vty_socket",
                    &v,
                    "-u",
                    "frr",
                    "-g",
                    "frr",
                ],
            );
            let sock = vty_dir.join("zserv.api");
            let ok = poll_until(Duration::from_secs(15), Duration::from_millis(50), || {
                sock.exists()
            });
            assert!(
                ok,
                "zebra did not start in {}:\n{}",
                ns.name(),
                lab.log_of(pid)
            );
            Some(pid)
        } else {
            None
        };
        let bc = bgpd_conf.to_string_lossy().into_owned();
        let bp = vty_dir.join("bgpd.pid").to_string_lossy().into_owned();
        let mut argv = vec![
            "/usr/lib/frr/bgpd",
            "-f",
            &bc,
            "-i",
            &bp,
            "-z",
            &zsock,
            "--vty_socket",
            &v,
            "-u",
            "frr",
            "-g",
            "frr",
            "-p",
            "179",
        ];
        if !with_zebra {
            argv.push("-Z");
        }
        let bgpd = lab.spawn(ns, &argv);
        let f = Frr {
            bgpd,
            zebra,
            ns: ns.clone(),
            vty_dir,
        };
        let ok = poll_until(Duration::from_secs(15), Duration::from_millis(100), || {
            f.vtysh(&["show bgp summary"]).is_ok()
        });
        assert!(
            ok,
            "bgpd not answering in {}:\n{}",
            ns.name(),
            lab.log_of(f.bgpd)
        );
        f
    }

    pub fn vtysh(&self, cmds: &[&str]) -> Result<String, String> {
        let v = self.vty_dir.to_string_lossy().into_owned();
        let mut argv = vec!["vtysh", "--vty_socket", &v];
        for c in cmds {
            argv.push("-c");
            argv.push(c);
        }
        cli_result(&self.ns, &argv)
    }

    pub fn is_established(&self, addr: IpAddr) -> bool {
        self.vtysh(&[&format!("show bgp neighbors {addr} json")])
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| {
                v.get(addr.to_string())
                    .and_then(|n| n.get("bgpState"))
                    .and_then(|s| s.as_str())
                    .map(|s| s == "Established")
            })
            .unwrap_or(false)
    }

    /// Peak RSS of bgpd plus zebra (KiB).
    pub fn vm_hwm_kib(&self) -> Option<u64> {
        let b = vm_hwm_kib(self.bgpd)?;
        Some(b + self.zebra.and_then(vm_hwm_kib).unwrap_or(0))
    }
}

/// Number of IPv4 routes in a namespace's main kernel table whose protocol
/// is `proto` (e.g. "bird", "bgp"), or all when None.
pub fn kernel_route_count(ns: &Ns, proto: Option<&str>) -> Option<u64> {
    let mut argv = vec!["ip", "-4", "route", "show", "table", "main"];
    if let Some(p) = proto {
        argv.push("proto");
        argv.push(p);
    }
    let o = ns.run(&argv, Duration::from_secs(60));
    if !o.success() {
        return None;
    }
    Some(o.stdout.lines().count() as u64)
}

/// Whether the namespace's kernel has a route for exactly `prefix`.
pub fn kernel_has_route(ns: &Ns, prefix: &str) -> bool {
    let o = ns.run(
        &["ip", "-4", "route", "show", "exact", prefix],
        Duration::from_secs(5),
    );
    o.success() && !o.stdout.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gobgp_config_is_cilium_like() {
        let n = GobgpNeighbor::cilium(
            "192.168.10.200".parse().unwrap(),
            65000,
            "192.168.10.100".parse().unwrap(),
        );
        let s = GobgpConfig::cilium(65001, "192.168.10.100".parse().unwrap(), vec![n]).render();
        for needle in [
            "as = 65001",
            "port = -1",
            "hold-time = 9",
            "keepalive-interval = 3",
            "multihop-ttl = 2",
            "restart-time = 15",
            "notification-enabled = true",
            "afi-safi-name = \"ipv6-unicast\"",
            "passive-mode = false",
        ] {
            assert!(s.contains(needle), "{needle} missing in\n{s}");
        }
    }

    #[test]
    fn frr_and_bird_configs_render() {
        let f = FrrConfig {
            asn: 65020,
            router_id: "10.0.0.1".parse().unwrap(),
            neighbors: vec![("10.0.0.2".parse().unwrap(), "external".into())],
            networks: vec!["172.31.0.0/24".into()],
        }
        .render_bgpd();
        assert!(f.contains("neighbor 10.0.0.2 remote-as external"));
        assert!(f.contains("network 172.31.0.0/24"));
        let b = BirdConfig {
            router_id: "10.0.0.3".parse().unwrap(),
            asn: 65010,
            local: "10.0.0.3".parse().unwrap(),
            neighbors: vec![("10.0.0.2".parse().unwrap(), 65000)],
            originate: vec!["172.30.0.0/24".into()],
            kernel_export: true,
            hold_time: 9,
        }
        .render();
        assert!(b.contains("neighbor 10.0.0.2 as 65000"));
        assert!(b.contains("route 172.30.0.0/24 unreachable"));
    }
}
