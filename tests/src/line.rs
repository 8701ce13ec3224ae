//! [`Line`]: the seed lab reduced to its forwarding path, one node on each
//! node subnet — the topology of the forwarding tests and benchmark:
//!
//! `src eth0 192.168.10.100/24` — `router eth1 192.168.10.200/24 | eth2 192.168.20.200/24` — `dst eth0 192.168.20.100/24`
//!
//! (k8s-ctr, the router and k8s-w0 of [`crate::seed`]; the addresses come
//! from there). Hosts route everything via the router. With IPv6 in the spec
//! ([`Line::dual_stack_spec`]) the hosts also get the seed's dual-stack
//! addresses, `src fd00:10::100/64 — router fd00:10::200 | fd00:20::200 —
//! dst fd00:20::100/64`, and an IPv6 default route via the router.

use crate::config::RouterSpec;
use crate::lab::Lab;
use crate::netns::Ns;
use crate::router::{start_forwarder, Forwarder, RouterProc};
use crate::seed::{self, SUBNET6_LEN, SUBNET_LEN};

/// The source host: the seed's k8s-ctr.
pub const SRC_IP: &str = seed::NODES[0].addr;
/// The destination host: the seed's k8s-w0.
pub const DST_IP: &str = seed::NODES[2].addr;
/// The router's port towards src (eth1) and towards dst (eth2).
pub const RTR_SRC_SIDE: &str = seed::ROUTER_PORTS[1].addr;
pub const RTR_DST_SIDE: &str = seed::ROUTER_PORTS[2].addr;
/// The same four addresses in IPv6 (dual-stack lines only).
pub const SRC_IP6: &str = seed::NODES[0].addr6;
pub const DST_IP6: &str = seed::NODES[2].addr6;
pub const RTR_SRC_SIDE6: &str = seed::ROUTER_PORTS[1].addr6;
pub const RTR_DST_SIDE6: &str = seed::ROUTER_PORTS[2].addr6;

/// src — router — dst. Field order matters: the forwarder handle is dropped
/// before the lab that kills it.
pub struct Line {
    pub router: Option<RouterProc>,
    pub src: Ns,
    pub rtr: Ns,
    pub dst: Ns,
    pub mode: Forwarder,
    pub spec: RouterSpec,
    pub lab: Lab,
}

impl Line {
    /// The default spec: both ports, connected routes only, 2 workers.
    pub fn default_spec() -> RouterSpec {
        RouterSpec::default()
            .workers(2)
            .port("eth1", &format!("{RTR_SRC_SIDE}/{SUBNET_LEN}"))
            .port("eth2", &format!("{RTR_DST_SIDE}/{SUBNET_LEN}"))
    }

    /// [`Line::default_spec`] with the IPv6 addresses on both ports too:
    /// a dual-stack line (hosts get IPv6 from [`Line::build_in`]).
    pub fn dual_stack_spec() -> RouterSpec {
        let mut spec = Line::default_spec();
        for (port, addr) in spec.ports.iter_mut().zip([RTR_SRC_SIDE6, RTR_DST_SIDE6]) {
            port.addresses.push(format!("{addr}/{SUBNET6_LEN}"));
        }
        spec
    }

    /// Builds the namespaces and links; `before_start` runs before the
    /// forwarder starts (e.g. to switch off ARP on a host).
    pub fn build_with(
        tag: &str,
        mode: Forwarder,
        spec: RouterSpec,
        before_start: impl FnOnce(&Line),
    ) -> Line {
        Line::build_in(Lab::new(tag), mode, spec, before_start)
    }

    pub fn build_in(
        mut lab: Lab,
        mode: Forwarder,
        spec: RouterSpec,
        before_start: impl FnOnce(&Line),
    ) -> Line {
        let src = lab.ns("src");
        let rtr = lab.ns("rtr");
        let dst = lab.ns("dst");
        lab.veth(&src, "eth0", &rtr, "eth1");
        lab.veth(&rtr, "eth2", &dst, "eth0");
        src.ip(&format!("addr add {SRC_IP}/{SUBNET_LEN} dev eth0"));
        src.ip(&format!("route add default via {RTR_SRC_SIDE}"));
        dst.ip(&format!("addr add {DST_IP}/{SUBNET_LEN} dev eth0"));
        dst.ip(&format!("route add default via {RTR_DST_SIDE}"));
        if spec.has_ipv6() {
            // Without DAD (`enable_ipv6`, `nodad`) the addresses are usable
            // at once: nothing to wait for before traffic starts.
            for (ns, addr, gw) in [
                (&src, SRC_IP6, RTR_SRC_SIDE6),
                (&dst, DST_IP6, RTR_DST_SIDE6),
            ] {
                ns.enable_ipv6();
                ns.ip(&format!("-6 addr add {addr}/{SUBNET6_LEN} dev eth0 nodad"));
                ns.ip(&format!("-6 route add default via {gw}"));
            }
        }
        let mut line = Line {
            router: None,
            src,
            rtr,
            dst,
            mode,
            spec,
            lab,
        };
        before_start(&line);
        let (rtr, spec) = (line.rtr.clone(), line.spec.clone());
        line.router = start_forwarder(&mut line.lab, &rtr, mode, &spec);
        line
    }

    pub fn build(tag: &str, mode: Forwarder, spec: RouterSpec) -> Line {
        Line::build_with(tag, mode, spec, |_| {})
    }

    /// The router process (panics in kernel mode).
    pub fn router(&self) -> &RouterProc {
        self.router.as_ref().expect("router mode")
    }
}
