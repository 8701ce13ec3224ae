//! [`SeedLab`]: the seed lab built from the tables in [`super`], owned by a
//! [`Lab`] — a test's (removed when dropped) or the lab command's (detached
//! once up).

use std::time::Duration;

use super::{
    host_interface, namespaces, router_spec, LabConfig, LabOptions, Segment, CLIENT_POD, NODES,
    PODS, POD_GATEWAY6, ROUTER_NS, ROUTER_PORTS, SUBNET6_LEN, SUBNET_LEN, SWITCH_BRIDGE, SWITCH_NS,
    WAN_ADDR, WAN_ADDR6, WAN_NS,
};
use crate::daemons::Gobgpd;
use crate::env::repo_file;
use crate::lab::Lab;
use crate::netns::Ns;
use crate::process::poll_until;
use crate::router::{Forwarder, RouterProc};
use crate::traffic::wait_listening;

/// The seed lab, standing. Field order matters: the lab, which kills the
/// processes and deletes the namespaces, is dropped last.
pub struct SeedLab {
    pub forwarder: Forwarder,
    /// The router configuration running now (`configs/lab-<config>.toml`).
    pub config: LabConfig,
    /// Namespaces by role, in [`namespaces`] order.
    roles: Vec<(&'static str, Ns)>,
    /// Beyond the config: host interfaces (router forwarder only).
    pub options: LabOptions,
    /// The running `router` (router forwarder only).
    pub router: Option<RouterProc>,
    /// The nodes' gobgpd, in [`NODES`] order (BGP config only).
    pub gobgp: Vec<Gobgpd>,
    pub lab: Lab,
}

impl SeedLab {
    /// Builds the whole lab in `lab`: namespaces, links, addresses and
    /// routes, the webpods' HTTP servers, the forwarder with `config`, and
    /// for [`LabConfig::Bgp`] the nodes' gobgpd announcing their PodCIDRs.
    pub fn build(lab: Lab, forwarder: Forwarder, config: LabConfig) -> SeedLab {
        SeedLab::build_with(lab, forwarder, config, LabOptions::default())
    }

    /// [`SeedLab::build`] with `options` (host interfaces, dual stack, MTUs,
    /// extra routes).
    pub fn build_with(
        lab: Lab,
        forwarder: Forwarder,
        config: LabConfig,
        options: LabOptions,
    ) -> SeedLab {
        assert!(
            forwarder == Forwarder::Router || options.host_interfaces.is_empty(),
            "host interfaces are the router's"
        );
        assert!(
            !(forwarder == Forwarder::Kernel && config == LabConfig::Bgp),
            "--kernel supports static and broken"
        );
        for (iface, _) in &options.port_mtu {
            assert!(
                matches!(super::router_port(iface).to, Segment::Node(_)),
                "port_mtu: {iface} must lead to a single node"
            );
        }
        let mut lab = lab;
        let roles = namespaces().into_iter().map(|r| (r, lab.ns(r))).collect();
        let mut seed = SeedLab {
            forwarder,
            config,
            roles,
            options,
            router: None,
            gobgp: Vec::new(),
            lab,
        };
        if seed.options.dual_stack {
            // Before any link exists, so that every link is made with IPv6
            // on and no DAD. Not in the switch (it only bridges), nor where
            // `router` runs: the kernel side of its ports gets no IPv6.
            for (role, ns) in &seed.roles {
                let router_kernel = *role == ROUTER_NS && forwarder == Forwarder::Router;
                if *role != SWITCH_NS && !router_kernel {
                    ns.enable_ipv6();
                }
            }
        }
        seed.build_topology();
        seed.start_webpods();
        match forwarder {
            Forwarder::Kernel => {
                router_spec(config, &seed.options).apply_kernel(seed.ns(ROUTER_NS));
                seed.ns(ROUTER_NS).wait_ipv6_settled();
            }
            Forwarder::Router => seed.start_router(config),
        }
        if config == LabConfig::Bgp {
            seed.start_bgp_speakers();
        }
        seed
    }

    /// Handles on a lab that stands already (the lab command's `fix`): no
    /// namespace is created; `lab` owns only what is started from here on.
    pub fn attach(lab: Lab, forwarder: Forwarder, config: LabConfig) -> SeedLab {
        SeedLab::attach_with(lab, forwarder, config, LabOptions::default())
    }

    /// [`SeedLab::attach`] to a lab built with `options`.
    pub fn attach_with(
        lab: Lab,
        forwarder: Forwarder,
        config: LabConfig,
        options: LabOptions,
    ) -> SeedLab {
        let roles = namespaces()
            .into_iter()
            .map(|r| (r, Ns::named(lab.ns_name(r))))
            .collect();
        SeedLab {
            forwarder,
            config,
            roles,
            options,
            router: None,
            gobgp: Vec::new(),
            lab,
        }
    }

    /// The namespace of `role`: "router", "wan", "k8s-w0", "curl-pod", ...
    pub fn ns(&self, role: &str) -> &Ns {
        self.roles
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, ns)| ns)
            .unwrap_or_else(|| panic!("no namespace for role {role}"))
    }

    /// The running router (panics with the kernel forwarder).
    pub fn router(&self) -> &RouterProc {
        self.router.as_ref().expect("the router forwarder")
    }

    fn build_topology(&mut self) {
        let (sw, wan, rtr) = (self.ns(SWITCH_NS), self.ns(WAN_NS), self.ns(ROUTER_NS));
        self.lab.bridge(sw, SWITCH_BRIDGE);
        for p in ROUTER_PORTS {
            match p.to {
                Segment::Wan => {
                    self.lab.veth(rtr, p.iface, wan, "eth0");
                    wan.ip(&format!("addr add {WAN_ADDR}/{SUBNET_LEN} dev eth0"));
                    if self.options.dual_stack {
                        wan.ip(&format!(
                            "addr add {WAN_ADDR6}/{SUBNET6_LEN} dev eth0 nodad"
                        ));
                        // Not a router: what reaches it for a foreign
                        // address is counted (Ip6InAddrErrors, or
                        // Ip6InNoRoutes: it has no IPv6 default route).
                        wan.sysctl("net.ipv6.conf.all.forwarding", "0");
                    }
                    // It only receives: what reaches it for another address
                    // is counted in Ip:InAddrErrors.
                    wan.sysctl("net.ipv4.ip_forward", "0");
                }
                Segment::Switch => {
                    self.lab.veth(rtr, p.iface, sw, "p-router");
                    sw.ip(&format!("link set p-router master {SWITCH_BRIDGE}"));
                }
                Segment::Node(name) => self.lab.veth(rtr, p.iface, self.ns(name), "eth1"),
            }
        }
        for n in NODES {
            let ns = self.ns(n.name);
            if n.on_switch() {
                let port = n.switch_port();
                self.lab.veth(ns, "eth1", sw, &port);
                sw.ip(&format!("link set {port} master {SWITCH_BRIDGE}"));
            }
            ns.ip(&format!("addr add {}/{SUBNET_LEN} dev eth1", n.addr));
            // Nodes forward for their pods.
            ns.sysctl("net.ipv4.ip_forward", "1");
            if self.options.dual_stack {
                ns.ip(&format!(
                    "addr add {}/{SUBNET6_LEN} dev eth1 nodad",
                    n.addr6
                ));
                ns.sysctl("net.ipv6.conf.all.forwarding", "1");
                for r in n.routes6() {
                    ns.ip(&format!("-6 route add {r}"));
                }
            }
            for (iface, mtu) in &self.options.port_mtu {
                if super::router_port(iface).to == Segment::Node(n.name) {
                    ns.ip(&format!("link set eth1 mtu {mtu}"));
                }
            }
            // The pods' gateway as a /32 on lo: the kernel answers ARP for
            // it on every lxc veth.
            ns.ip(&format!("addr add {}/32 dev lo", n.pod_gateway()));
            for r in n.routes() {
                ns.ip(&format!("route add {r}"));
            }
        }
        for p in PODS {
            let (node, ns) = (p.node(), self.ns(p.name));
            let node_ns = self.ns(node.name);
            self.lab.veth(node_ns, p.lxc, ns, "eth0");
            let gw = node.pod_gateway();
            ns.ip(&format!("addr add {}/32 dev eth0", p.addr));
            ns.ip(&format!("route add {gw} dev eth0 scope link"));
            ns.ip(&format!("route add default via {gw} dev eth0"));
            node_ns.ip(&format!("route add {}/32 dev {}", p.addr, p.lxc));
            if self.options.dual_stack {
                node_ns.ip(&format!("addr add {POD_GATEWAY6}/64 dev {} nodad", p.lxc));
                ns.ip(&format!("addr add {}/128 dev eth0 nodad", p.addr6));
                ns.ip(&format!("-6 route add default via {POD_GATEWAY6} dev eth0"));
                node_ns.ip(&format!("-6 route add {}/128 dev {}", p.addr6, p.lxc));
            }
        }
        if self.options.dual_stack {
            for (role, ns) in &self.roles {
                if *role != SWITCH_NS && *role != ROUTER_NS {
                    ns.wait_ipv6_settled();
                }
            }
        }
    }

    fn start_webpods(&mut self) {
        let script = repo_file("scripts/lib/whoami.py");
        for p in PODS {
            let Some(host) = p.hostname else { continue };
            let ns = self.ns(p.name).clone();
            // `::` takes IPv4 too (a dual-stack socket).
            let bind = if self.options.dual_stack {
                "::"
            } else {
                "0.0.0.0"
            };
            self.lab.spawn_named(
                &ns,
                p.name,
                &[
                    "python3",
                    &script.to_string_lossy(),
                    "--name",
                    host,
                    "--port",
                    "80",
                    "--bind",
                    bind,
                ],
            );
        }
        for p in PODS.iter().filter(|p| p.hostname.is_some()) {
            wait_listening(self.ns(p.name), 80);
        }
    }

    /// Starts `router run -c configs/lab-<config>.toml` in the router
    /// namespace, whose kernel neither forwards nor owns an address; the
    /// control socket is `router.sock` in the lab's directory.
    ///
    /// With other [`LabOptions`] than the default the config is
    /// [`router_spec`] (that file plus IPv6, MTUs, extra routes) with
    /// `host_interface` on the ports of [`LabOptions::host_interfaces`],
    /// written to the lab's directory as `lab-<config>[-dual][-host].toml`;
    /// once the router runs the kernel gets its default route via
    /// [`WAN_ADDR`] on the wan port's host interface, as the VM had on eth0.
    pub fn start_router(&mut self, config: LabConfig) {
        let rtr = self.ns(ROUTER_NS).clone();
        rtr.sysctl("net.ipv4.ip_forward", "0");
        let sock = self.lab.dir().join("router.sock");
        let spec = router_spec(config, &self.options);
        spec.prepare_router_ns(&rtr);
        let file = if self.options == LabOptions::default() {
            config.file()
        } else {
            // The kernel stays off the ports because the router's host
            // set-up installs its netdev-ingress drop (`[router]
            // ingress_drop`, on by default): the lab does nothing for it.
            let mut spec = spec;
            for iface in &self.options.host_interfaces {
                spec = spec.host_interface(iface, &host_interface(iface));
            }
            let mut name = format!("lab-{}", config.name());
            if self.options.dual_stack {
                name.push_str("-dual");
            }
            if !self.options.host_interfaces.is_empty() {
                name.push_str("-host");
            }
            let f = self.lab.dir().join(format!("{name}.toml"));
            std::fs::write(&f, spec.to_toml())
                .unwrap_or_else(|e| panic!("write {}: {e}", f.display()));
            f
        };
        self.router = Some(self.lab.spawn_router_at(&rtr, &file, &sock, "router"));
        self.config = config;
        let wan = ROUTER_PORTS.iter().find(|p| p.to == Segment::Wan);
        if let Some(wan) = wan.filter(|p| self.options.host_interfaces.contains(&p.iface)) {
            rtr.ip(&format!(
                "route replace default via {WAN_ADDR} dev {}",
                host_interface(wan.iface)
            ));
        }
    }

    /// Stops the router this lab started (SIGTERM, then SIGKILL).
    pub fn stop_router(&mut self) {
        if let Some(r) = self.router.take() {
            self.lab.stop(r.pid);
        }
    }

    /// The router restarts with the same config.
    pub fn restart_router(&mut self) {
        self.stop_router();
        self.start_router(self.config);
    }

    /// Each node's Cilium agent: a gobgpd with the node's
    /// [`gobgp_config`](super::Node::gobgp_config), announcing its PodCIDR.
    pub fn start_bgp_speakers(&mut self) {
        for n in NODES {
            let ns = self.ns(n.name).clone();
            let g = Gobgpd::start(&mut self.lab, &ns, n.name, &n.gobgp_config());
            g.announce(n.pod_cidr)
                .unwrap_or_else(|e| panic!("gobgpd in {}: announce {}: {e}", n.name, n.pod_cidr));
            if self.options.dual_stack {
                // ipv6-unicast on the same IPv4 session, as Cilium does:
                // gobgpd sends the IPv4-mapped next hop ::ffff:<node>.
                g.announce(n.pod_cidr6).unwrap_or_else(|e| {
                    panic!("gobgpd in {}: announce {}: {e}", n.name, n.pod_cidr6)
                });
            }
            self.gobgp.push(g);
        }
    }

    /// Whether the router's FIB has every node's PodCIDR from BGP, within `timeout`.
    pub fn wait_bgp_learned(&self, timeout: Duration) -> bool {
        poll_until(timeout, Duration::from_millis(100), || {
            let out = self.router().cli(&["show", "route"]);
            let has = |cidr: &str| {
                out.stdout
                    .lines()
                    .any(|l| l.starts_with(cidr) && l.contains("bgp"))
            };
            NODES
                .iter()
                .all(|n| has(n.pod_cidr) && (!self.options.dual_stack || has(n.pod_cidr6)))
        })
    }

    /// `curl http://IP/` from `from` (1 s connect timeout like the seed's
    /// loop); the `Hostname:` it answered, if any.
    pub fn curl_from(&self, from: &str, ip: &str) -> Option<String> {
        curl_hostname(self.ns(from), ip, None)
    }

    /// [`SeedLab::curl_from`] the seed's client, curl-pod.
    pub fn curl(&self, ip: &str) -> Option<String> {
        self.curl_from(CLIENT_POD, ip)
    }

    /// Packets for addresses the wan namespace does not own that reached it.
    pub fn wan_leaks(&self) -> u64 {
        self.ns(WAN_NS).snmp("Ip", "InAddrErrors")
    }

    /// IPv6 packets for addresses the wan namespace does not own that
    /// reached it (it does not forward, and has no IPv6 default route).
    pub fn wan_leaks6(&self) -> u64 {
        let wan = self.ns(WAN_NS);
        wan.snmp6("Ip6InAddrErrors") + wan.snmp6("Ip6InNoRoutes")
    }

    /// Leaves the lab standing (the lab command's `up` and `fix`).
    pub fn detach(self) {
        self.lab.detach();
    }

    /// The router's config file now running.
    pub fn config_file(&self) -> std::path::PathBuf {
        self.config.file()
    }
}

/// The `Hostname:` line of an HTTP GET of `http://IP/` from `ns` (connect
/// timeout 1 s, 3 s in all), optionally from a fixed local port.
pub fn curl_hostname(ns: &Ns, ip: &str, local_port: Option<u16>) -> Option<String> {
    let url = format!("http://{}/", crate::traffic::url_host(ip));
    let lp = local_port.map(|p| p.to_string());
    let mut args = vec!["curl", "-s", "--connect-timeout", "1", "--max-time", "3"];
    if let Some(lp) = &lp {
        args.extend(["--local-port", lp]);
    }
    args.push(&url);
    ns.run(&args, Duration::from_secs(5))
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Hostname: ").map(|h| h.trim().to_string()))
}
