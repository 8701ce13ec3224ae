//! Operator views of the routes (`show route`): what is installed, with
//! its source, distance and next hops.
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::Serialize;

use super::manager::RouteManager;
use super::nexthop::NextHop;
use super::prefix_table::Installed;
use super::{Family, RouteSource};
use crate::ports::PortId;

/// One member of a route's next hop, for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteHop<A = Ipv4Addr> {
    /// Port name (`None` for local/blackhole/unreachable routes).
    pub port: Option<String>,
    /// Gateway (`None`: directly connected).
    pub via: Option<A>,
}

/// One installed FIB route, for `show route`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteEntry<N = Ipv4Net, A = Ipv4Addr> {
    pub prefix: N,
    pub source: RouteSource,
    pub distance: u8,
    /// "connected", "gateway", "multipath", "local", "blackhole", "unreachable".
    pub kind: &'static str,
    pub next_hops: Vec<RouteHop<A>>,
    /// The interface that owns a connected/local route (ports and loopbacks).
    pub interface: Option<String>,
    pub nexthop_id: fib::NextHopId,
}

impl<N: Into<ipnet::IpNet>, A: Into<std::net::IpAddr>> RouteEntry<N, A> {
    /// The entry with family-neutral addresses (for views of both families).
    pub fn into_ip(self) -> RouteEntry<ipnet::IpNet, std::net::IpAddr> {
        RouteEntry {
            prefix: self.prefix.into(),
            source: self.source,
            distance: self.distance,
            kind: self.kind,
            next_hops: self
                .next_hops
                .into_iter()
                .map(|h| RouteHop {
                    port: h.port,
                    via: h.via.map(Into::into),
                })
                .collect(),
            interface: self.interface,
            nexthop_id: self.nexthop_id,
        }
    }
}

/// Route counts (installed in the FIB unless said otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RouteSummary {
    pub fib_routes: usize,
    pub connected: usize,
    pub local: usize,
    #[serde(rename = "static")]
    pub static_routes: usize,
    pub bgp: usize,
    /// BGP routes held, installed or not (a better route, or no next hop).
    pub bgp_stored: usize,
    /// Next-hop table slots (ids ever allocated).
    pub next_hops: usize,
}

impl<F: Family> RouteManager<F> {
    /// Every route in the FIB with its source and next hop(s), sorted by prefix.
    pub fn routes(&self) -> Vec<RouteEntry<F::Net, IpAddr>> {
        let mut out: Vec<RouteEntry<F::Net, IpAddr>> = self
            .table
            .installed_iter()
            .map(|(p, i)| self.entry(p, &i))
            .collect();
        out.sort_by_key(|e| F::net_parts(&e.prefix));
        out
    }

    /// The installed route for `prefix`, if any.
    pub fn route(&self, prefix: &F::Net) -> Option<RouteEntry<F::Net, IpAddr>> {
        self.table
            .installed(prefix)
            .map(|i| self.entry(*prefix, &i))
    }

    /// The route the FIB uses for `addr` (longest match), like `ip route get`.
    pub fn lookup(&self, addr: F::Addr) -> Option<RouteEntry<F::Net, IpAddr>> {
        (0..=F::BITS as u8)
            .rev()
            .find_map(|len| self.route(&super::net_of::<F>(addr, len)))
    }

    /// Route counts by source, for `show route summary`.
    pub fn summary(&self) -> RouteSummary {
        let mut s = RouteSummary {
            fib_routes: self.table.installed_len,
            bgp_stored: self.table.bgp_len,
            next_hops: self.ids.entries.len(),
            ..RouteSummary::default()
        };
        for (_, i) in self.table.installed_iter() {
            match i.source {
                RouteSource::Connected => s.connected += 1,
                RouteSource::Local => s.local += 1,
                RouteSource::Static => s.static_routes += 1,
                RouteSource::Bgp => s.bgp += 1,
            }
        }
        s
    }

    fn entry(&self, prefix: F::Net, i: &Installed) -> RouteEntry<F::Net, IpAddr> {
        let nh = &self.ids.entries[i.id as usize];
        let port_name = |p: PortId| self.shared.port_name(p).map(str::to_string);
        let (kind, next_hops) = match nh {
            NextHop::Connected { port } => (
                "connected",
                vec![RouteHop {
                    port: port_name(*port),
                    via: None,
                }],
            ),
            NextHop::Gateway { port, gw } => (
                "gateway",
                vec![RouteHop {
                    port: port_name(*port),
                    via: Some((*gw).into()),
                }],
            ),
            NextHop::Gateway6 { port, gw } => (
                "gateway",
                vec![RouteHop {
                    port: port_name(*port),
                    via: Some(IpAddr::V6(*gw)),
                }],
            ),
            NextHop::Multipath(m) => (
                "multipath",
                m.iter()
                    .map(|(p, gw)| RouteHop {
                        port: port_name(*p),
                        via: Some((*gw).into()),
                    })
                    .collect(),
            ),
            NextHop::Local => ("local", vec![]),
            NextHop::Blackhole => ("blackhole", vec![]),
            NextHop::Unreachable => ("unreachable", vec![]),
        };
        let interface = self
            .base
            .get(&prefix)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.source == i.source && c.distance == i.distance)
            })
            .and_then(|c| c.interface.clone());
        RouteEntry {
            prefix,
            source: i.source,
            distance: i.distance,
            kind,
            next_hops,
            interface,
            nexthop_id: i.id,
        }
    }
}
