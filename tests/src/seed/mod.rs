//! The seed lab of LAB.md — the one definition of its topology, used by the
//! lab command (`scripts/lab.sh` runs the `lab` binary, [`command`]), by
//! every test ([`SeedLab`] in-process, [`LabScript`] through the README's
//! command) and, through [`Line`](crate::Line), by the forwarding tests and
//! benchmark.
//!
//! ```text
//! wan 10.0.2.2 (counts leaks) --eth0-- router --eth1-- switch(br0) --+-- k8s-ctr 192.168.10.100 -- curl-pod 172.20.0.95
//!                                        |                           |                          \- webpod-ctr 172.20.0.238
//!                                        |                           +-- k8s-w1  192.168.10.101 -- webpod-w1 172.20.1.154
//!                                        +--eth2-- k8s-w0 192.168.20.100 -- webpod-w0 172.20.2.249
//! ```
//!
//! Dual stack ([`LabOptions::dual_stack`], `lab.sh up … --dual-stack`): every
//! address above has an IPv6 twin in the same tables — ULA node subnets
//! fd00:10::/64 (eth1) and fd00:20::/64 (eth2), the wan fd00:2::/64, one
//! PodCIDR fd00:172:20:N::/64 per node matching 172.20.N.0/24, each pod's
//! address ending in the same number as its IPv4 one. The router's IPv6 side
//! is generated from the IPv4 config file ([`router_spec`]).
//!
//! Only the tables below are written down; everything else — the list of
//! namespaces, which node hangs off the switch, each node's gateway and
//! routes, which webpods the broken lab cannot reach — is derived from them.
//! The router's own side (its ports' addresses, loopbacks, routes, BGP) is
//! the `router` config in `configs/lab-<config>.toml`, which the kernel
//! forwarder applies too; a unit test below checks that those files agree
//! with [`ROUTER_PORTS`].

mod build;
pub mod command;
mod script;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};

pub use build::{curl_hostname, SeedLab};
pub use script::LabScript;

use crate::config::{RouteSpec, RouterSpec, Via};
use crate::daemons::{GobgpConfig, GobgpNeighbor};
use crate::env::repo_file;

/// The router's AS (the seed's FRR `router bgp 65000`).
pub const ROUTER_AS: u32 = 65000;
/// The Cilium agents' AS.
pub const NODE_AS: u32 = 65001;
/// The router's BGP identifier and the address every Cilium agent peers
/// with (the seed's `peerAddress`): for k8s-w0 it is not on its subnet,
/// which is why the seed needs eBGP multihop 2.
pub const ROUTER_ID: &str = "192.168.10.200";
/// Prefix length of every subnet of the lab (node subnets, wan).
pub const SUBNET_LEN: u8 = 24;
/// The public side's address (the VM's NAT gateway, the router's default route).
pub const WAN_ADDR: &str = "10.0.2.2";
/// Prefix length of every IPv6 subnet of the lab (node subnets, wan, PodCIDRs).
pub const SUBNET6_LEN: u8 = 64;
/// The public side's IPv6 address (the router's IPv6 default route).
pub const WAN_ADDR6: &str = "fd00:2::2";
/// What every node sends to the router over IPv6 (as [`VIA_ROUTER`]): all
/// IPv6 PodCIDRs, the router's IPv6 loopbacks, the public side.
pub const VIA_ROUTER6: [&str; 3] = ["fd00:172:20::/48", "fd00:10:10::/48", "fd00:2::/64"];
/// The router's IPv6 loopback addresses, by loopback name (the IPv4 ones
/// are in the config files).
pub const LOOPBACKS6: [(&str, &str); 2] = [
    ("loop1", "fd00:10:10:1::200/64"),
    ("loop2", "fd00:10:10:2::200/64"),
];
/// The pods' IPv6 gateway: a link-local address on the node's side of each
/// pod veth (one per link, like Cilium's per-endpoint gateway), since the
/// kernel answers neighbour solicitations only for addresses of the link
/// they arrive on (a /128 on `lo`, as for IPv4, would not be answered).
pub const POD_GATEWAY6: &str = "fe80::1";
/// Service addresses (announced as /32s by the nodes that serve them).
pub const SERVICE_CIDR: &str = "172.16.0.0/16";
/// What every node sends to the router on its subnet: all PodCIDRs, the
/// router's loopbacks, the public side and the Services. (More specific
/// routes to the PodCIDRs on the node's own subnet go direct.)
pub const VIA_ROUTER: [&str; 4] = ["172.20.0.0/16", "10.10.0.0/16", "10.0.2.0/24", SERVICE_CIDR];

/// Where a router port leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// The public side: one namespace that only counts what leaks into it.
    Wan,
    /// The bridge of a node subnet shared by several nodes.
    Switch,
    /// A node alone on its subnet, on a direct link.
    Node(&'static str),
}

/// A port of the router: its interface, its address (/[`SUBNET_LEN`]) and where it leads.
#[derive(Clone, Copy, Debug)]
pub struct RouterPort {
    pub iface: &'static str,
    pub addr: &'static str,
    /// IPv6, /[`SUBNET6_LEN`] (dual stack only).
    pub addr6: &'static str,
    pub to: Segment,
}

/// A Kubernetes node (its Cilium agent runs gobgpd).
#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub name: &'static str,
    /// On `eth1`, /[`SUBNET_LEN`].
    pub addr: &'static str,
    pub pod_cidr: &'static str,
    /// On `eth1`, /[`SUBNET6_LEN`] (dual stack only).
    pub addr6: &'static str,
    pub pod_cidr6: &'static str,
}

/// A pod: a namespace behind its node's `lxc` veth, default via the node.
#[derive(Clone, Copy, Debug)]
pub struct Pod {
    pub name: &'static str,
    pub node: &'static str,
    pub addr: &'static str,
    /// /128 on the pod's eth0 (dual stack only).
    pub addr6: &'static str,
    /// The node's side of the pod's veth.
    pub lxc: &'static str,
    /// `Some` for a webpod: the hostname its HTTP server answers with.
    pub hostname: Option<&'static str>,
}

/// The router's ports (LAB.md, "Hosts and addresses").
pub const ROUTER_PORTS: [RouterPort; 3] = [
    RouterPort {
        iface: "eth0",
        addr: "10.0.2.15",
        addr6: "fd00:2::15",
        to: Segment::Wan,
    },
    RouterPort {
        iface: "eth1",
        addr: "192.168.10.200",
        addr6: "fd00:10::200",
        to: Segment::Switch,
    },
    RouterPort {
        iface: "eth2",
        addr: "192.168.20.200",
        addr6: "fd00:20::200",
        to: Segment::Node("k8s-w0"),
    },
];

pub const NODES: [Node; 3] = [
    Node {
        name: "k8s-ctr",
        addr: "192.168.10.100",
        pod_cidr: "172.20.0.0/24",
        addr6: "fd00:10::100",
        pod_cidr6: "fd00:172:20::/64",
    },
    Node {
        name: "k8s-w1",
        addr: "192.168.10.101",
        pod_cidr: "172.20.1.0/24",
        addr6: "fd00:10::101",
        pod_cidr6: "fd00:172:20:1::/64",
    },
    Node {
        name: "k8s-w0",
        addr: "192.168.20.100",
        pod_cidr: "172.20.2.0/24",
        addr6: "fd00:20::100",
        pod_cidr6: "fd00:172:20:2::/64",
    },
];

/// The seed's pods and their names.
pub const PODS: [Pod; 4] = [
    Pod {
        name: "curl-pod",
        node: "k8s-ctr",
        addr: "172.20.0.95",
        addr6: "fd00:172:20::95",
        lxc: "lxc-curl",
        hostname: None,
    },
    Pod {
        name: "webpod-ctr",
        node: "k8s-ctr",
        addr: "172.20.0.238",
        addr6: "fd00:172:20::238",
        lxc: "lxc-ctr",
        hostname: Some("webpod-697b545f57-85dkh"),
    },
    Pod {
        name: "webpod-w1",
        node: "k8s-w1",
        addr: "172.20.1.154",
        addr6: "fd00:172:20:1::154",
        lxc: "lxc-w1",
        hostname: Some("webpod-697b545f57-zjp55"),
    },
    Pod {
        name: "webpod-w0",
        node: "k8s-w0",
        addr: "172.20.2.249",
        addr6: "fd00:172:20:2::249",
        lxc: "lxc-w0",
        hostname: Some("webpod-697b545f57-9lpt4"),
    },
];

/// The host interface the lab gives router port `iface` when asked to
/// ([`LabOptions::host_interfaces`]): a TAP through which the router
/// namespace's kernel keeps the port's address, as a router VM's sshd
/// keeps 10.0.2.15.
pub fn host_interface(iface: &str) -> String {
    format!("{iface}-host")
}

/// How the lab runs beyond its [`LabConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabOptions {
    /// Router ports (by interface) that get a host interface
    /// ([`host_interface`]). With the wan port among them the router
    /// namespace's kernel also gets the VM's default route, via
    /// [`WAN_ADDR`] on it.
    pub host_interfaces: Vec<&'static str>,
    /// IPv6 next to IPv4 everywhere: nodes, pods, the wan, the webpods'
    /// HTTP servers and the router ([`router_spec`]).
    pub dual_stack: bool,
    /// Router ports (by interface) with a lower MTU: `mtu = N` on the port
    /// in the config, and the same MTU on the far end of its link (a veth
    /// drops frames larger than the receiving end's MTU). Only ports to a
    /// single node ([`Segment::Node`]).
    pub port_mtu: Vec<(&'static str, u32)>,
    /// Extra static routes, `(prefix, via)`, appended to the config.
    pub extra_routes: Vec<(String, String)>,
}

/// The pod the seed curls from.
pub const CLIENT_POD: &str = "curl-pod";
/// Namespaces that are not nodes or pods.
pub const ROUTER_NS: &str = "router";
pub const SWITCH_NS: &str = "switch";
pub const WAN_NS: &str = "wan";
/// The bridge inside the switch namespace.
pub const SWITCH_BRIDGE: &str = "br0";

/// Every namespace of the lab, by role, in the order they are created.
pub fn namespaces() -> Vec<&'static str> {
    let mut v = vec![ROUTER_NS, SWITCH_NS, WAN_NS];
    v.extend(NODES.iter().map(|n| n.name));
    v.extend(PODS.iter().map(|p| p.name));
    v
}

fn subnet6(addr: &str) -> Ipv6Net {
    let a: Ipv6Addr = addr
        .parse()
        .unwrap_or_else(|e| panic!("seed address {addr}: {e}"));
    Ipv6Net::new(a, SUBNET6_LEN).expect("prefix length").trunc()
}

fn subnet(addr: &str) -> Ipv4Net {
    let a: Ipv4Addr = addr
        .parse()
        .unwrap_or_else(|e| panic!("seed address {addr}: {e}"));
    Ipv4Net::new(a, SUBNET_LEN).expect("prefix length").trunc()
}

/// The node called `name` (panics on an unknown name: the tables are static).
pub fn node(name: &str) -> &'static Node {
    NODES
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no seed node {name}"))
}

/// The pod called `name`.
pub fn pod(name: &str) -> &'static Pod {
    PODS.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no seed pod {name}"))
}

/// The pods that serve HTTP.
pub fn webpods() -> impl Iterator<Item = &'static Pod> {
    PODS.iter().filter(|p| p.hostname.is_some())
}

/// The router port called `iface`.
pub fn router_port(iface: &str) -> &'static RouterPort {
    ROUTER_PORTS
        .iter()
        .find(|p| p.iface == iface)
        .unwrap_or_else(|| panic!("no router port {iface}"))
}

impl Node {
    /// The router port on this node's subnet.
    pub fn router_port(&self) -> &'static RouterPort {
        let mine = subnet(self.addr);
        ROUTER_PORTS
            .iter()
            .find(|p| subnet(p.addr) == mine)
            .unwrap_or_else(|| panic!("no router port on the subnet of {}", self.name))
    }

    /// The router's address on this node's subnet (its gateway).
    pub fn gateway(&self) -> &'static str {
        self.router_port().addr
    }

    /// Whether the node hangs off the switch (else it has a direct link).
    pub fn on_switch(&self) -> bool {
        self.router_port().to == Segment::Switch
    }

    /// The router's IPv6 address on this node's subnet (its IPv6 gateway).
    pub fn gateway6(&self) -> &'static str {
        self.router_port().addr6
    }

    /// The node's side of its pods' default gateway (Cilium's cilium_host):
    /// the first address of its PodCIDR.
    pub fn pod_gateway(&self) -> Ipv4Addr {
        let net: Ipv4Net = self.pod_cidr.parse().expect("PodCIDR");
        Ipv4Addr::from(u32::from(net.network()) + 1)
    }

    /// The switch port of this node (in the switch namespace).
    pub fn switch_port(&self) -> String {
        format!("p-{}", self.name)
    }

    /// Every route of the node besides its connected subnet, as `ip route
    /// add` arguments: the same-subnet nodes' PodCIDRs direct (Cilium's auto
    /// direct node routes), the other node subnets and [`VIA_ROUTER`] via
    /// its gateway.
    pub fn routes(&self) -> Vec<String> {
        let gw = self.gateway();
        let mine = subnet(self.addr);
        let mut v: Vec<String> = VIA_ROUTER.iter().map(|d| format!("{d} via {gw}")).collect();
        for other in NODES.iter().filter(|o| o.name != self.name) {
            if subnet(other.addr) == mine {
                v.push(format!("{} via {}", other.pod_cidr, other.addr));
            }
        }
        let mut others: Vec<Ipv4Net> = NODES
            .iter()
            .map(|o| subnet(o.addr))
            .filter(|s| *s != mine)
            .collect();
        others.sort();
        others.dedup();
        v.extend(others.iter().map(|s| format!("{s} via {gw}")));
        v
    }

    /// [`Node::routes`] for IPv6, as `ip -6 route add` arguments: the
    /// same-subnet nodes' IPv6 PodCIDRs direct, the other node subnets and
    /// [`VIA_ROUTER6`] via the router's IPv6 address.
    pub fn routes6(&self) -> Vec<String> {
        let gw = self.gateway6();
        let mine = subnet6(self.addr6);
        let mut v: Vec<String> = VIA_ROUTER6
            .iter()
            .map(|d| format!("{d} via {gw}"))
            .collect();
        for other in NODES.iter().filter(|o| o.name != self.name) {
            if subnet6(other.addr6) == mine {
                v.push(format!("{} via {}", other.pod_cidr6, other.addr6));
            }
        }
        let mut others: Vec<Ipv6Net> = NODES
            .iter()
            .map(|o| subnet6(o.addr6))
            .filter(|s| *s != mine)
            .collect();
        others.sort();
        others.dedup();
        v.extend(others.iter().map(|s| format!("{s} via {gw}")));
        v
    }

    /// The Cilium agent's gobgpd: AS [`NODE_AS`], peering with the router.
    pub fn gobgp_config(&self) -> GobgpConfig {
        let addr = self.addr.parse().expect("node address");
        let router = ROUTER_ID.parse().expect("router id");
        GobgpConfig::cilium(
            NODE_AS,
            addr,
            vec![GobgpNeighbor::cilium(router, ROUTER_AS, addr)],
        )
    }
}

impl Pod {
    pub fn node(&self) -> &'static Node {
        node(self.node)
    }

    /// Whether the pod sits on a node of another subnet than the client's:
    /// only the router connects them (the webpod the broken lab loses).
    pub fn behind_router(&self) -> bool {
        subnet(self.node().addr) != subnet(pod(CLIENT_POD).node().addr)
    }
}

/// The router configuration the lab runs for `config` with `options`:
/// `configs/lab-<config>.toml`, plus in dual stack each port's and
/// loopback's IPv6 address, `::/0` via [`WAN_ADDR6`] and — in the static
/// fix only, exactly where the IPv4 file routes the IPv4 PodCIDRs — each
/// IPv6 PodCIDR via its node; then the MTUs and extra routes of `options`.
/// (Host interfaces are the router's alone: [`SeedLab`] adds them.)
pub fn router_spec(config: LabConfig, options: &LabOptions) -> RouterSpec {
    let mut spec = RouterSpec::load(&config.file());
    if options.dual_stack {
        for p in &mut spec.ports {
            if let Some(rp) = ROUTER_PORTS.iter().find(|rp| rp.iface == p.iface()) {
                p.addresses.push(format!("{}/{SUBNET6_LEN}", rp.addr6));
            }
        }
        for l in &mut spec.loopbacks {
            if let Some((_, a)) = LOOPBACKS6.iter().find(|(n, _)| *n == l.name) {
                l.addresses.push((*a).to_string());
            }
        }
        spec.routes.push(RouteSpec {
            prefix: "::/0".into(),
            via: Some(Via::One(WAN_ADDR6.into())),
            ..RouteSpec::default()
        });
        for n in NODES {
            // The IPv6 twin of each IPv4 PodCIDR route the file has: the
            // broken lab lacks them all, as it lacks the IPv4 ones.
            if spec.routes.iter().any(|r| r.prefix == n.pod_cidr) {
                spec.routes.push(RouteSpec {
                    prefix: n.pod_cidr6.into(),
                    via: Some(Via::One(n.addr6.into())),
                    ..RouteSpec::default()
                });
            }
        }
    }
    for (iface, mtu) in &options.port_mtu {
        let p = spec
            .ports
            .iter_mut()
            .find(|p| p.iface() == *iface)
            .unwrap_or_else(|| panic!("no router port {iface}"));
        p.mtu = Some(*mtu);
    }
    for (prefix, via) in &options.extra_routes {
        spec.routes.push(RouteSpec {
            prefix: prefix.clone(),
            via: Some(Via::One(via.clone())),
            ..RouteSpec::default()
        });
    }
    spec
}

/// A router configuration of the lab: `configs/lab-<name>.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabConfig {
    /// The seed's static fix: each PodCIDR via its node.
    Static,
    /// The seed's failure: no PodCIDR routes.
    Broken,
    /// The seed's BGP fix: the nodes' gobgpd announce their PodCIDRs.
    Bgp,
}

impl LabConfig {
    pub const ALL: [LabConfig; 3] = [LabConfig::Static, LabConfig::Broken, LabConfig::Bgp];

    pub fn name(self) -> &'static str {
        match self {
            LabConfig::Static => "static",
            LabConfig::Broken => "broken",
            LabConfig::Bgp => "bgp",
        }
    }

    pub fn parse(s: &str) -> Option<LabConfig> {
        LabConfig::ALL.into_iter().find(|c| c.name() == s)
    }

    pub fn file(self) -> PathBuf {
        repo_file(&format!("configs/lab-{}.toml", self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_derived_once_each() {
        let ns = namespaces();
        assert_eq!(ns.len(), 3 + NODES.len() + PODS.len());
        let mut sorted = ns.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ns.len(), "duplicate role in {ns:?}");
    }

    #[test]
    fn nodes_routes_follow_their_subnet() {
        let ctr = node("k8s-ctr");
        assert!(ctr.on_switch() && !node("k8s-w0").on_switch());
        assert_eq!(
            (ctr.gateway(), node("k8s-w0").gateway()),
            ("192.168.10.200", "192.168.20.200")
        );
        assert_eq!(ctr.pod_gateway().to_string(), "172.20.0.1");
        let r = ctr.routes();
        assert!(
            r.contains(&"172.20.1.0/24 via 192.168.10.101".to_string()),
            "{r:?}"
        );
        assert!(
            r.contains(&"192.168.20.0/24 via 192.168.10.200".to_string()),
            "{r:?}"
        );
        assert!(!r.iter().any(|x| x.starts_with("172.20.2.0/24")), "{r:?}");
        let far: Vec<&str> = webpods()
            .filter(|p| p.behind_router())
            .map(|p| p.name)
            .collect();
        assert_eq!(far, ["webpod-w0"]);
    }

    #[test]
    fn ipv6_twins_share_subnets_with_their_ipv4_ones() {
        for n in NODES {
            // The IPv6 gateway is on the same port as the IPv4 one.
            assert_eq!(subnet6(n.addr6), subnet6(n.gateway6()), "{}", n.name);
            let v4: Ipv4Net = n.pod_cidr.parse().unwrap();
            let v6: Ipv6Net = n.pod_cidr6.parse().unwrap();
            assert_eq!(v6.prefix_len(), SUBNET6_LEN);
            // fd00:172:20:N::/64 for 172.20.N.0/24.
            assert_eq!(
                u128::from(v6.network()) >> 64 & 0xffff,
                u128::from(v4.network().octets()[2]),
                "{}",
                n.name
            );
            assert!(VIA_ROUTER6[0].parse::<Ipv6Net>().unwrap().contains(&v6));
        }
        for p in PODS {
            let a6: Ipv6Addr = p.addr6.parse().unwrap();
            let cidr: Ipv6Net = p.node().pod_cidr6.parse().unwrap();
            assert!(cidr.contains(&a6), "{}", p.name);
            let last = p.addr.rsplit('.').next().unwrap();
            assert!(p.addr6.ends_with(&format!("::{last}")), "{}", p.name);
        }
        assert_eq!(subnet6(WAN_ADDR6), subnet6(router_port("eth0").addr6));
        let ctr = node("k8s-ctr").routes6();
        assert!(
            ctr.contains(&"fd00:172:20:1::/64 via fd00:10::101".to_string()),
            "{ctr:?}"
        );
        assert!(
            ctr.contains(&"fd00:20::/64 via fd00:10::200".to_string()),
            "{ctr:?}"
        );
        assert!(
            ctr.contains(&"fd00:172:20::/48 via fd00:10::200".to_string()),
            "{ctr:?}"
        );
    }

    /// The dual-stack configs: IPv6 next to IPv4 on each port and
    /// loopback, `::/0` to the wan, and the IPv6 PodCIDR routes exactly in
    /// the static fix.
    #[test]
    fn dual_stack_configs_twin_the_ipv4_ones() {
        let dual = LabOptions {
            dual_stack: true,
            ..LabOptions::default()
        };
        for c in LabConfig::ALL {
            let spec = router_spec(c, &dual);
            for p in &spec.ports {
                let rp = router_port(p.iface());
                assert_eq!(
                    p.addresses,
                    [
                        format!("{}/{SUBNET_LEN}", rp.addr),
                        format!("{}/{SUBNET6_LEN}", rp.addr6)
                    ]
                );
            }
            let via = |prefix: &str| {
                spec.routes
                    .iter()
                    .find(|r| r.prefix == prefix)
                    .and_then(|r| r.via.clone())
            };
            assert_eq!(via("::/0"), Some(Via::One(WAN_ADDR6.into())));
            for n in NODES {
                let want = (c == LabConfig::Static).then(|| Via::One(n.addr6.into()));
                assert_eq!(via(n.pod_cidr6), want, "{} {}", c.name(), n.pod_cidr6);
            }
            let text = spec.to_toml();
            assert!(
                text.contains("addresses = [\"192.168.10.200/24\", \"fd00:10::200/64\"]"),
                "{text}"
            );
            assert!(
                text.contains("addresses = [\"10.10.1.200/24\", \"fd00:10:10:1::200/64\"]"),
                "{text}"
            );
            // Written back and read again: nothing lost.
            assert_eq!(RouterSpec::parse(&text).unwrap(), spec);
        }
        // Without dual stack: the file as it is.
        assert_eq!(
            router_spec(LabConfig::Static, &LabOptions::default()),
            RouterSpec::load(&LabConfig::Static.file())
        );
    }

    /// configs/lab-*.toml are the router's side of this definition: the
    /// ports are the ones above, the default route is the wan, and the
    /// static fix routes each PodCIDR to its node.
    #[test]
    fn lab_configs_agree_with_the_topology() {
        for c in LabConfig::ALL {
            let spec = RouterSpec::load(&c.file());
            let ports: Vec<(String, Vec<String>)> = spec
                .ports
                .iter()
                .map(|p| (p.iface().to_string(), p.addresses.clone()))
                .collect();
            let want: Vec<(String, Vec<String>)> = ROUTER_PORTS
                .iter()
                .map(|p| {
                    (
                        p.iface.to_string(),
                        vec![format!("{}/{SUBNET_LEN}", p.addr)],
                    )
                })
                .collect();
            assert_eq!(ports, want, "{}", c.name());
            let via = |prefix: &str| {
                spec.routes
                    .iter()
                    .find(|r| r.prefix == prefix)
                    .and_then(|r| r.via.clone())
            };
            assert_eq!(
                via("0.0.0.0/0"),
                Some(Via::One(WAN_ADDR.into())),
                "{}",
                c.name()
            );
            for n in NODES {
                let want = (c == LabConfig::Static).then(|| Via::One(n.addr.into()));
                assert_eq!(via(n.pod_cidr), want, "{} {}", c.name(), n.pod_cidr);
            }
            if c == LabConfig::Bgp {
                let bgp = spec.bgp.as_ref().expect("[bgp]");
                assert_eq!((bgp.asn, bgp.router_id.as_str()), (ROUTER_AS, ROUTER_ID));
                let mut peers: Vec<&str> =
                    bgp.neighbors.iter().map(|n| n.address.as_str()).collect();
                peers.sort();
                assert_eq!(peers, NODES.map(|n| n.addr));
            }
        }
    }
}
