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

/// One BIRD instance. IPv6 needs no extra field: the families follow the
/// addresses. A neighbour gets the channel of its own address's family
/// (an IPv6 neighbour: a session over IPv6) and one for every family in
/// `originate` (IPv6 prefixes on an IPv4 neighbour: IPv6 unicast carried
/// on the IPv4 session). An all-IPv4 config renders as it always has.
#[derive(Clone, Debug)]
pub struct BirdConfig {
    /// BIRD's router id is 32 bits: always an IPv4 address.
    pub router_id: IpAddr,
    pub asn: u32,
    /// The session's local address, written as `local ADDR as ASN` for the
    /// neighbours of its family (plain `local as ASN` for the others).
    pub local: IpAddr,
    /// (address, AS) of each BGP neighbour.
    pub neighbors: Vec<(IpAddr, u32)>,
    /// Static prefixes to originate (installed as `unreachable` locally),
    /// IPv4 and IPv6 (a prefix with a ':').
    pub originate: Vec<String>,
    /// Export learned routes into the namespace's kernel FIB.
    pub kernel_export: bool,
    pub hold_time: u16,
    /// TCP-MD5 key of every neighbour (`password "..."`).
    pub password: Option<String>,
}

impl BirdConfig {
    pub fn render(&self) -> String {
        self.render_ipv6_options("")
    }

    /// [`Self::render`] with `opts` (BIRD channel options, e.g. `extended
    /// next hop on;`) at the start of every IPv6 channel: on an IPv4
    /// session whose link has no global IPv6 address, BIRD 2 has no IPv6
    /// next hop of its own (`BGP Next hop: ::`) and sends no UPDATE for
    /// its IPv6 routes; with `extended next hop on` it sends ::ffff:a.b.c.d.
    /// Not a field of `BirdConfig`, whose struct literals stay valid.
    pub fn render_ipv6_options(&self, opts: &str) -> String {
        self.render_channel_options("", opts)
    }

    /// [`Self::render`] with options at the start of every IPv4 channel
    /// (`ipv4_opts`: `extended next hop on;` on an IPv6 session makes BIRD
    /// send its IPv4 routes with an IPv6 next hop, RFC 8950) and of every
    /// IPv6 channel (`opts`, as [`Self::render_ipv6_options`]).
    pub fn render_channel_options(&self, ipv4_opts: &str, opts: &str) -> String {
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
        let (v4, v6): (Vec<&String>, Vec<&String>) =
            self.originate.iter().partition(|p| !p.contains(':'));
        if !v4.is_empty() {
            let _ = writeln!(s, "protocol static {{ ipv4;");
            for p in &v4 {
                let _ = writeln!(s, "  route {p} unreachable;");
            }
            let _ = writeln!(s, "}}");
        }
        // A static protocol has one channel: IPv6 prefixes get their own.
        if !v6.is_empty() {
            let _ = writeln!(s, "protocol static static6 {{ ipv6;");
            for p in &v6 {
                let _ = writeln!(s, "  route {p} unreachable;");
            }
            let _ = writeln!(s, "}}");
        }
        for (i, (addr, asn)) in self.neighbors.iter().enumerate() {
            let password = match &self.password {
                Some(p) => format!("  password \"{p}\";\n"),
                None => String::new(),
            };
            // `local ADDR` must be of the neighbour's family.
            let local = if self.local.is_ipv4() == addr.is_ipv4() {
                format!("local {} as", self.local)
            } else {
                "local as".to_string()
            };
            let mut channels = String::new();
            if addr.is_ipv4() || !v4.is_empty() {
                let nh = if ipv4_opts.is_empty() {
                    String::new()
                } else {
                    format!("{ipv4_opts} ")
                };
                let _ = writeln!(
                    channels,
                    "  ipv4 {{ {nh}import all; export where source = RTS_STATIC; }};"
                );
            }
            if addr.is_ipv6() || !v6.is_empty() {
                let nh = if opts.is_empty() {
                    String::new()
                } else {
                    format!("{opts} ")
                };
                let _ = writeln!(
                    channels,
                    "  ipv6 {{ {nh}import all; export where source = RTS_STATIC; }};"
                );
            }
            let _ = writeln!(
                s,
                "protocol bgp peer{i} {{\n  {local} {};\n  neighbor {addr} as {asn};\n  hold time {};\n  connect retry time 1;\n{password}  graceful restart on;\n{channels}}}",
                self.asn, self.hold_time
            );
        }
        s
    }
}

pub struct Bird {
    pub pid: u32,
    ns: Ns,
    ctl: PathBuf,
    conf: PathBuf,
    ipv4_options: String,
    ipv6_options: String,
}

impl Bird {
    pub fn start(lab: &mut Lab, ns: &Ns, tag: &str, cfg: &BirdConfig) -> Bird {
        Bird::start_ipv6_options(lab, ns, tag, cfg, "")
    }

    /// [`Bird::start`] with [`BirdConfig::render_ipv6_options`]'s `opts`
    /// (kept for [`Bird::reconfigure`]).
    pub fn start_ipv6_options(
        lab: &mut Lab,
        ns: &Ns,
        tag: &str,
        cfg: &BirdConfig,
        opts: &str,
    ) -> Bird {
        Bird::start_channel_options(lab, ns, tag, cfg, "", opts)
    }

    /// [`Bird::start`] with [`BirdConfig::render_channel_options`]'s
    /// options (kept for [`Bird::reconfigure`]).
    pub fn start_channel_options(
        lab: &mut Lab,
        ns: &Ns,
        tag: &str,
        cfg: &BirdConfig,
        ipv4_opts: &str,
        opts: &str,
    ) -> Bird {
        let dir = lab.dir().to_path_buf();
        let conf = dir.join(format!("bird-{tag}.conf"));
        fs::write(&conf, cfg.render_channel_options(ipv4_opts, opts)).expect("write bird config");
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
            conf,
            ipv4_options: ipv4_opts.to_string(),
            ipv6_options: opts.to_string(),
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

    /// Rewrites the config file with `cfg` and applies it (`birdc
    /// configure`): e.g. a prefix dropped from `originate` is withdrawn.
    pub fn reconfigure(&self, cfg: &BirdConfig) -> Result<String, String> {
        fs::write(
            &self.conf,
            cfg.render_channel_options(&self.ipv4_options, &self.ipv6_options),
        )
        .map_err(|e| format!("write bird config: {e}"))?;
        let out = self.birdc(&["configure"])?;
        if out.contains("Reconfigured") || out.contains("Reconfiguration in progress") {
            Ok(out)
        } else {
            Err(out)
        }
    }

    /// Whether BGP protocol `peer{i}` is Established.
    pub fn is_established(&self, i: usize) -> bool {
        self.birdc(&["show", "protocols", &format!("peer{i}")])
            .map(|s| s.contains("Established"))
            .unwrap_or(false)
    }
}
