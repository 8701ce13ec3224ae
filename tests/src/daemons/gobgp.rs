//! gobgpd — the Cilium agent's BGP speaker — configured and driven with the
//! `gobgp` CLI. [`GobgpNeighbor::cilium`] is the one definition of the
//! Cilium-like peer the seed lab and the BGP tests use.

use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::cli_result;
use crate::lab::Lab;
use crate::netns::Ns;
use crate::process::poll_until;

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
    /// TCP-MD5 (RFC 2385) key, set on the socket by gobgpd (TCP_MD5SIG).
    pub auth_password: Option<String>,
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
            // Cilium's default offers both families. The lab is IPv4-only
            // today, but the router must cope with a peer that offers IPv6
            // unicast (it negotiates it and gets End-of-RIB for it), the
            // graceful-restart state is per family, and the coming
            // dual-stack lab needs it on: off would test a peer Cilium
            // never is.
            ipv6: true,
            // Cilium sets one only when the peer config has `authSecretRef`.
            auth_password: None,
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

    /// The gobgpd configuration file (TOML, gobgpd's schema).
    pub fn render(&self) -> String {
        toml::to_string(&file::Config::from(self)).expect("a gobgpd config always serialises")
    }
}

/// gobgpd's configuration file, as far as these tests use it: the structs
/// mirror gobgpd's TOML schema (`[global.config]`, `[[neighbors]]` with
/// `config`, `timers`, `transport`, `ebgp-multihop`, `graceful-restart` and
/// `afi-safis`), key for key.
mod file {
    use serde::Serialize;

    use super::GobgpConfig;

    #[derive(Serialize)]
    pub struct Config {
        pub global: Global,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub neighbors: Vec<Neighbor>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Global {
        pub config: GlobalConfig,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub apply_policy: Option<ApplyPolicy>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct GlobalConfig {
        #[serde(rename = "as")]
        pub asn: u32,
        pub router_id: String,
        /// -1: do not listen.
        pub port: i32,
    }

    #[derive(Serialize)]
    pub struct ApplyPolicy {
        pub config: ApplyPolicyConfig,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct ApplyPolicyConfig {
        pub default_import_policy: &'static str,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Neighbor {
        pub config: NeighborConfig,
        pub timers: Wrap<Timers>,
        pub transport: Wrap<Transport>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ebgp_multihop: Option<Wrap<Multihop>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub graceful_restart: Option<Wrap<GracefulRestart>>,
        pub afi_safis: Vec<AfiSafi>,
    }

    /// gobgpd nests most settings one level down, under `config`.
    #[derive(Serialize)]
    pub struct Wrap<T> {
        pub config: T,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct NeighborConfig {
        pub neighbor_address: String,
        pub peer_as: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub auth_password: Option<String>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Timers {
        pub hold_time: u16,
        pub keepalive_interval: u16,
        pub connect_retry: u16,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Transport {
        pub passive_mode: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub local_address: Option<String>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Multihop {
        pub enabled: bool,
        pub multihop_ttl: u8,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct GracefulRestart {
        pub enabled: bool,
        pub restart_time: u16,
        /// The N bit (RFC 8538): a NOTIFICATION keeps the routes too.
        pub notification_enabled: bool,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct AfiSafi {
        pub config: AfiSafiConfig,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub mp_graceful_restart: Option<Wrap<Enabled>>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct AfiSafiConfig {
        pub afi_safi_name: &'static str,
    }

    #[derive(Serialize)]
    pub struct Enabled {
        pub enabled: bool,
    }

    impl From<&GobgpConfig> for Config {
        fn from(c: &GobgpConfig) -> Config {
            Config {
                global: Global {
                    config: GlobalConfig {
                        asn: c.asn,
                        router_id: c.router_id.to_string(),
                        port: c.listen_port,
                    },
                    apply_policy: c.reject_imports.then_some(ApplyPolicy {
                        config: ApplyPolicyConfig {
                            default_import_policy: "reject-route",
                        },
                    }),
                },
                neighbors: c
                    .neighbors
                    .iter()
                    .map(|n| {
                        let mut families = vec!["ipv4-unicast"];
                        if n.ipv6 {
                            families.push("ipv6-unicast");
                        }
                        Neighbor {
                            config: NeighborConfig {
                                neighbor_address: n.address.to_string(),
                                peer_as: n.peer_as,
                                auth_password: n.auth_password.clone(),
                            },
                            timers: Wrap {
                                config: Timers {
                                    hold_time: n.hold_time,
                                    keepalive_interval: n.keepalive,
                                    connect_retry: n.connect_retry,
                                },
                            },
                            transport: Wrap {
                                config: Transport {
                                    passive_mode: n.passive,
                                    local_address: n.local_address.map(|a| a.to_string()),
                                },
                            },
                            ebgp_multihop: n.multihop_ttl.map(|ttl| Wrap {
                                config: Multihop {
                                    enabled: true,
                                    multihop_ttl: ttl,
                                },
                            }),
                            graceful_restart: n.graceful_restart.map(|rt| Wrap {
                                config: GracefulRestart {
                                    enabled: true,
                                    restart_time: rt,
                                    notification_enabled: true,
                                },
                            }),
                            afi_safis: families
                                .into_iter()
                                .map(|f| AfiSafi {
                                    config: AfiSafiConfig { afi_safi_name: f },
                                    mp_graceful_restart: n.graceful_restart.map(|_| Wrap {
                                        config: Enabled { enabled: true },
                                    }),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            }
        }
    }
}

/// A gobgpd in a namespace, driven with the `gobgp` CLI over its gRPC port
/// on the namespace's own loopback (each namespace has its own, so the
/// default port never collides).
pub struct Gobgpd {
    pub pid: u32,
    ns: Ns,
    tag: String,
    conf: PathBuf,
}

impl Gobgpd {
    pub fn start(lab: &mut Lab, ns: &Ns, tag: &str, cfg: &GobgpConfig) -> Gobgpd {
        let conf = lab.dir().join(format!("gobgpd-{tag}.toml"));
        fs::write(&conf, cfg.render()).expect("write gobgpd config");
        let mut g = Gobgpd {
            pid: 0,
            ns: ns.clone(),
            tag: tag.to_string(),
            conf,
        };
        g.restart(lab);
        g
    }

    /// Starts gobgpd (again) with the same config and waits for its API.
    pub fn restart(&mut self, lab: &mut Lab) {
        let conf = self.conf.to_string_lossy().into_owned();
        self.pid = lab.spawn_named(
            &self.ns,
            &format!("gobgpd-{}", self.tag),
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
        lab.kill9(self.pid);
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
        let v: toml::Table = toml::from_str(&s).expect("valid TOML");
        assert_eq!(v["global"]["config"]["as"].as_integer(), Some(65001), "{s}");
        assert_eq!(v["global"]["config"]["port"].as_integer(), Some(-1), "{s}");
        let n = &v["neighbors"][0];
        let int = |t: &toml::Value, k: &str| t["config"][k].as_integer();
        assert_eq!(int(&n["timers"], "hold-time"), Some(9), "{s}");
        assert_eq!(int(&n["timers"], "keepalive-interval"), Some(3), "{s}");
        assert_eq!(int(&n["ebgp-multihop"], "multihop-ttl"), Some(2), "{s}");
        assert_eq!(int(&n["graceful-restart"], "restart-time"), Some(15), "{s}");
        assert_eq!(
            n["graceful-restart"]["config"]["notification-enabled"].as_bool(),
            Some(true)
        );
        assert_eq!(
            n["transport"]["config"]["passive-mode"].as_bool(),
            Some(false),
            "{s}"
        );
        let fams: Vec<&str> = n["afi-safis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["config"]["afi-safi-name"].as_str().unwrap())
            .collect();
        assert_eq!(fams, ["ipv4-unicast", "ipv6-unicast"], "{s}");
        assert!(s.contains("[[neighbors.afi-safis]]"), "{s}");
    }
}
