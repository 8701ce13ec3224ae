//! [`RouterSpec`]: a `router` configuration file as the tests write and read
//! it, serialised with `toml`, and applied to the kernel forwarder as `ip`
//! commands.
//!
//! These structs mirror the documented file format (README, `configs/`),
//! not the router crate's types: those are the validated result of parsing
//! (spans, resolved gateways, defaults filled in), are not `Serialize`, and
//! may move; a test should write the file a user writes. The mirror is kept
//! honest two ways: it denies unknown fields and reads every shipped config
//! (`configs/*.toml`, a unit test below), and `router check` accepts what it
//! writes (tests/tests/config_check.rs).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::netns::Ns;

/// The whole file: `[router]`, `[[ports]]`, `[[loopbacks]]`, `[[routes]]`, `[bgp]`, `[metrics]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    #[serde(default)]
    pub router: RouterSection,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loopbacks: Vec<LoopbackSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
}

/// `[metrics]`: the Prometheus exporter's `listen = "ADDR:PORT"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    pub listen: String,
}

/// `[router]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_rate_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_ring_frames: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_ring_frames: Option<u32>,
    /// The nftables netdev-ingress drop on the ports (router default: on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_drop: Option<bool>,
    /// Nice value of the control-plane threads (router default: 19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_nice: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbour: Option<NeighbourSection>,
}

/// `[router.neighbour]`: the ARP cache's timers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachable_time_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrans_time_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcast_probes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucast_probes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_len: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_hold_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_time_ms: Option<u32>,
}

/// `[[ports]]`: `ifname` is the kernel interface (default: `name`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    /// `a.b.c.d/len` or an IPv6 `addr/len`, mixed.
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// A TAP for the kernel: a name, or `true` for `<ifname>-host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interface: Option<HostInterfaceSpec>,
}

/// `host_interface = "NAME"` or `host_interface = true|false`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostInterfaceSpec {
    Default(bool),
    Name(String),
}

impl PortSpec {
    /// The kernel interface inside the router namespace.
    pub fn iface(&self) -> &str {
        self.ifname.as_deref().unwrap_or(&self.name)
    }
}

/// `[[loopbacks]]`: addresses the router owns without a kernel device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopbackSpec {
    pub name: String,
    pub addresses: Vec<String>,
}

/// `[[routes]]`: exactly one of `via`, `port`, `blackhole`, `unreachable`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blackhole: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<bool>,
}

/// A gateway, or several (ECMP).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Via {
    One(String),
    Many(Vec<String>),
}

impl Via {
    pub fn gateways(&self) -> Vec<&str> {
        match self {
            Via::One(g) => vec![g.as_str()],
            Via::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// `[bgp]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpSpec {
    pub asn: u32,
    pub router_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_paths: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipath_relax: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestartSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbors: Vec<NeighborSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<ListenSpec>,
}

/// `[bgp.graceful_restart]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestartSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_time: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_routes_time: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<bool>,
}

/// A peer's AS: a number, `"external"` or `"internal"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RemoteAs {
    Number(u32),
    Kind(String),
}

/// One `import` rule: `prefix`, optionally `ge`/`le`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRuleSpec {
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ge: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub le: Option<u8>,
}

/// `[[bgp.groups]]` (FRR's peer-group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_as: Option<RemoteAs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_retry: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_prefix: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<Vec<PrefixRuleSpec>>,
    /// TCP-MD5 key, or a file holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// `[[bgp.neighbors]]`: its own keys override its group's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborSpec {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_as: Option<RemoteAs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_retry: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_prefix: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<Vec<PrefixRuleSpec>>,
    /// TCP-MD5 key, or a file holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// `[[bgp.listen]]`: dynamic neighbours from a prefix, with a group's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSpec {
    pub prefix: String,
    pub group: String,
}

impl RouterSpec {
    /// Reads a config file (e.g. `configs/lab-static.toml`).
    pub fn load(path: &Path) -> RouterSpec {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        RouterSpec::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<RouterSpec, toml::de::Error> {
        toml::from_str(text)
    }

    /// Adds a port `iface` (port name = interface name) with one address.
    pub fn port(mut self, iface: &str, addr: &str) -> Self {
        self.ports.push(PortSpec {
            name: iface.to_string(),
            ifname: Some(iface.to_string()),
            addresses: vec![addr.to_string()],
            mtu: None,
            host_interface: None,
        });
        self
    }
    pub fn port_mtu(mut self, iface: &str, addr: &str, mtu: u32) -> Self {
        self = self.port(iface, addr);
        if let Some(p) = self.ports.last_mut() {
            p.mtu = Some(mtu);
        }
        self
    }
    pub fn via(mut self, prefix: &str, via: &str) -> Self {
        self.routes.push(RouteSpec {
            prefix: prefix.to_string(),
            via: Some(Via::One(via.to_string())),
            ..RouteSpec::default()
        });
        self
    }
    pub fn blackhole(mut self, prefix: &str) -> Self {
        self.routes.push(RouteSpec {
            prefix: prefix.to_string(),
            blackhole: Some(true),
            ..RouteSpec::default()
        });
        self
    }
    /// Gives port `name` a host interface called `tap`.
    pub fn host_interface(mut self, port: &str, tap: &str) -> Self {
        let p = self
            .ports
            .iter_mut()
            .find(|p| p.name == port)
            .unwrap_or_else(|| panic!("no port {port}"));
        p.host_interface = Some(HostInterfaceSpec::Name(tap.to_string()));
        self
    }
    pub fn workers(mut self, n: u32) -> Self {
        self.router.worker_threads = Some(n);
        self
    }
    pub fn bgp(mut self, bgp: BgpSpec) -> Self {
        self.bgp = Some(bgp);
        self
    }
    /// `[router] ingress_drop` (the kernel forwarder ignores it).
    pub fn ingress_drop(mut self, on: bool) -> Self {
        self.router.ingress_drop = Some(on);
        self
    }

    /// `[router] control_plane_nice`.
    pub fn control_plane_nice(mut self, nice: u8) -> Self {
        self.router.control_plane_nice = Some(nice);
        self
    }
    /// `[metrics] listen = ADDR` (the kernel forwarder ignores it).
    pub fn metrics(mut self, listen: &str) -> Self {
        self.metrics = Some(MetricsSpec {
            listen: listen.to_string(),
        });
        self
    }

    /// The `router` configuration file.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a RouterSpec always serialises");
        format!("# generated by router-tests\n{body}")
    }

    /// The kernel interface of port `name`.
    fn iface_of<'a>(&'a self, port: &'a str) -> &'a str {
        self.ports
            .iter()
            .find(|p| p.name == port)
            .map(PortSpec::iface)
            .unwrap_or(port)
    }

    /// Whether the config has any IPv6 address or route.
    pub fn has_ipv6(&self) -> bool {
        let v6 = |a: &String| a.contains(':');
        self.ports.iter().any(|p| p.addresses.iter().any(v6))
            || self.loopbacks.iter().any(|l| l.addresses.iter().any(v6))
            || self.routes.iter().any(|r| v6(&r.prefix))
    }

    /// Configures the router namespace's kernel as the forwarder: the ports'
    /// addresses and MTUs, the loopbacks' addresses as host addresses on
    /// `lo` (no `dummy` links here), the static routes, ip_forward=1 — and
    /// with IPv6 in the config, IPv6 on (no DAD, no RAs), the IPv6
    /// addresses and forwarding=1, as a dual-stack router VM.
    pub fn apply_kernel(&self, ns: &Ns) {
        let v6 = self.has_ipv6();
        if v6 {
            for key in ["accept_dad", "accept_ra", "autoconf"] {
                for scope in ["all", "default"] {
                    ns.sysctl(&format!("net.ipv6.conf.{scope}.{key}"), "0");
                }
            }
            for p in &self.ports {
                for key in ["accept_dad", "accept_ra", "autoconf"] {
                    ns.sysctl(&format!("net.ipv6.conf.{}.{key}", p.iface()), "0");
                }
            }
            // `all` also switches it on for every existing link (lo too).
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", "0");
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", "0");
        }
        for p in &self.ports {
            for a in &p.addresses {
                let nodad = if a.contains(':') { " nodad" } else { "" };
                ns.ip(&format!("addr add {a} dev {}{nodad}", p.iface()));
            }
            if let Some(m) = p.mtu {
                ns.ip(&format!("link set {} mtu {m}", p.iface()));
            }
        }
        for l in &self.loopbacks {
            for a in &l.addresses {
                let host = a.split('/').next().unwrap_or(a);
                if host.contains(':') {
                    ns.ip(&format!("addr add {host}/128 dev lo nodad"));
                } else {
                    ns.ip(&format!("addr add {host}/32 dev lo"));
                }
            }
        }
        self.apply_kernel_routes(ns);
        ns.sysctl("net.ipv4.ip_forward", "1");
        if v6 {
            ns.sysctl("net.ipv6.conf.all.forwarding", "1");
        }
    }

    /// The static routes alone, as `ip route replace` (idempotent). A
    /// gateway with a `port` (an IPv6 link-local next hop) is `via G dev IF`.
    pub fn apply_kernel_routes(&self, ns: &Ns) {
        for r in &self.routes {
            let p = &r.prefix;
            let how = if let Some(via) = &r.via {
                let dev = r
                    .port
                    .as_ref()
                    .map(|port| format!(" dev {}", self.iface_of(port)))
                    .unwrap_or_default();
                match via.gateways().as_slice() {
                    [one] => format!("via {one}{dev}"),
                    many => many
                        .iter()
                        .map(|g| format!("nexthop via {g}{dev}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                }
            } else if let Some(port) = &r.port {
                format!("dev {}", self.iface_of(port))
            } else if r.blackhole == Some(true) {
                ns.ip(&format!("route replace blackhole {p}"));
                continue;
            } else if r.unreachable == Some(true) {
                ns.ip(&format!("route replace unreachable {p}"));
                continue;
            } else {
                panic!("route {p}: no via, port, blackhole or unreachable");
            };
            ns.ip(&format!("route replace {p} {how}"));
        }
    }

    /// Prepares the router namespace for `router`: no kernel forwarding, no
    /// IPv4 address on the ports (they were created without), link MTUs set.
    pub fn prepare_router_ns(&self, ns: &Ns) {
        ns.sysctl("net.ipv4.ip_forward", "0");
        for p in &self.ports {
            if let Some(m) = p.mtu {
                ns.ip(&format!("link set {} mtu {m}", p.iface()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_shipped_config() {
        let dir = crate::env::workspace_root().join("configs");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("configs/") {
            let path = e.expect("entry").path();
            if path.extension().and_then(|x| x.to_str()) == Some("toml") {
                let spec = RouterSpec::load(&path);
                // Written back and read again: nothing lost.
                assert_eq!(RouterSpec::parse(&spec.to_toml()).unwrap(), spec);
                n += 1;
            }
        }
        assert!(n >= 3, "configs/*.toml: {n}");
    }

    #[test]
    fn writes_the_documented_keys() {
        let s = RouterSpec::default()
            .workers(2)
            .port_mtu("eth1", "192.168.10.200/24", 1400)
            .via("172.20.2.0/24", "192.168.20.100")
            .blackhole("172.20.8.0/24")
            .to_toml();
        for needle in [
            "[router]\nworker_threads = 2",
            "[[ports]]\nname = \"eth1\"\nifname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\nmtu = 1400",
            "[[routes]]\nprefix = \"172.20.2.0/24\"\nvia = \"192.168.20.100\"",
            "prefix = \"172.20.8.0/24\"\nblackhole = true",
        ] {
            assert!(s.contains(needle), "{needle:?} missing in\n{s}");
        }
    }
}
