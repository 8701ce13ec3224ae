//! FRR: `bgpd` (and optionally `zebra`, which installs into the namespace's
//! kernel FIB) with `bgpd.conf` written from one template, driven with `vtysh`.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{cli_result, shared_dir, vm_hwm_kib};
use crate::lab::Lab;
use crate::netns::Ns;
use crate::process::poll_until;

/// One bgpd. IPv6 needs no extra field: the address families follow the
/// addresses. An IPv6 neighbour (a session over IPv6) is activated in
/// `address-family ipv6 unicast` only; every neighbour is activated there
/// as well when `networks` holds IPv6 prefixes (IPv6 unicast carried on an
/// IPv4 session). An all-IPv4 config renders as it always has.
#[derive(Clone, Debug)]
pub struct FrrConfig {
    pub asn: u32,
    pub router_id: IpAddr,
    /// (address, remote-as as FRR spells it: "65000" or "external").
    pub neighbors: Vec<(IpAddr, String)>,
    /// Prefixes to announce (`network P`), IPv4 and IPv6 (a prefix with a ':').
    pub networks: Vec<String>,
    /// TCP-MD5 key of every neighbour (`neighbor X password ...`).
    pub password: Option<String>,
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
            if let Some(p) = &self.password {
                let _ = writeln!(s, " neighbor {a} password {p}");
            }
        }
        let (v4, v6): (Vec<&String>, Vec<&String>) =
            self.networks.iter().partition(|n| !n.contains(':'));
        let _ = writeln!(s, " address-family ipv4 unicast");
        for n in &v4 {
            let _ = writeln!(s, "  network {n}");
        }
        // `bgp default ipv4-unicast` would activate IPv4 unicast on an IPv6
        // session too: these carry IPv6 only.
        for (a, _) in self.neighbors.iter().filter(|(a, _)| a.is_ipv6()) {
            let _ = writeln!(s, "  no neighbor {a} activate");
        }
        let _ = writeln!(s, " exit-address-family");
        let v6_neighbors: Vec<&IpAddr> = self
            .neighbors
            .iter()
            .map(|(a, _)| a)
            .filter(|a| a.is_ipv6() || !v6.is_empty())
            .collect();
        if !v6_neighbors.is_empty() {
            let _ = writeln!(s, " address-family ipv6 unicast");
            for n in &v6 {
                let _ = writeln!(s, "  network {n}");
            }
            for a in v6_neighbors {
                let _ = writeln!(s, "  neighbor {a} activate");
            }
            let _ = writeln!(s, " exit-address-family");
        }
        s
    }
}

/// zebra (optional: installs into the namespace's kernel FIB) plus bgpd.
pub struct Frr {
    pub bgpd: u32,
    pub zebra: Option<u32>,
    ns: Ns,
    vty_dir: PathBuf,
    asn: u32,
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
            asn: cfg.asn,
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

    /// Announces (`network P`) or withdraws (`no network P`) a prefix at
    /// run time, in the address family of the prefix.
    pub fn network(&self, prefix: &str, announce: bool) -> Result<String, String> {
        let router = format!("router bgp {}", self.asn);
        let af = if prefix.contains(':') {
            "address-family ipv6 unicast"
        } else {
            "address-family ipv4 unicast"
        };
        let net = format!("{}network {prefix}", if announce { "" } else { "no " });
        let out = self.vtysh(&["configure terminal", &router, af, &net])?;
        // vtysh exits 0 on some rejected commands: they print a "%" line.
        if out.lines().any(|l| l.trim_start().starts_with('%')) {
            Err(out)
        } else {
            Ok(out)
        }
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
