//! BIRD 2: `bird` with its config written from one template, driven with `birdc`.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::cli_result;
use crate::lab::Lab;
use crate::netns::Ns;
use crate::process::poll_until;

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
    /// TCP-MD5 key of every neighbour (`password "..."`).
    pub password: Option<String>,
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
            let password = match &self.password {
                Some(p) => format!("  password \"{p}\";\n"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "protocol bgp peer{i} {{\n  local {} as {};\n  neighbor {addr} as {asn};\n  hold time {};\n  connect retry time 1;\n{password}  graceful restart on;\n  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}",
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
        let pid = lab.spawn_named(
            ns,
            &format!("bird-{tag}"),
            &["bird", "-f", "-c", &c, "-s", &k, "-P", &p],
        );
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
