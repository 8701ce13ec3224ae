//! The route manager: the only writer of the FIB and the next-hop table.
//!
//! Routes come from three sources, each with an administrative distance
//! (lower wins at the same prefix, like FRR's zebra):
//!
//! | source    | distance | from |
//! |-----------|----------|------|
//! | connected | 0        | port subnets; `local` /32s for our own addresses; loopback subnets (unreachable) |
//! | static    | 1        | `[[routes]]` in the config |
//! | eBGP      | 20       | [`RouteManager::apply_bgp`] |
//! | iBGP      | 200      | [`RouteManager::apply_bgp`] |
//!
//! BGP never overrides the router's own subnets: a BGP prefix equal to or
//! inside a connected subnet (or one of our addresses) is refused, so a peer
//! cannot hijack part of a link the router sits on.
//!
//! BGP next hops are resolved one level deep through connected and static
//! routes (not through other BGP routes, and — like FRR without `ip nht
//! resolve-via-default` — not through the default route): a next hop on a
//! connected subnet is used as the gateway itself; one covered by a static
//! route takes that route's gateway(s). Several next hops become one ECMP
//! ([`NextHop::Multipath`](nexthop::NextHop::Multipath)) route.
//!
//! Publication. Workers read the FIB and then the next-hop table without
//! locks. Every change is published as one batch: first a next-hop table that
//! is a superset of the previous one (ids in use keep their meaning), then
//! `fib.apply(batch)`, so a reader never finds an id it cannot resolve.
//! Forwarding never stops: both are arc-swap publications.
//!
//! Next-hop ids are interned (the same [`NextHop`](nexthop::NextHop) always gets the same id
//! while in use). An id that no installed route uses any more is not reused
//! at once: a worker may still hold an older FIB that maps prefixes to it,
//! and its slot keeps the old next hop (which is exactly what such a stale
//! reader should get). The id is reused only after [`ID_REUSE_GRACE`] and two
//! further publications — a grace period like RCU's, bounded by time because
//! a worker holds a FIB snapshot for one RX batch (microseconds). If the
//! same next hop is needed again during the grace period its old id is
//! revived.
//!
//! Files: `manager` (the sources, selection and publication), `prefix_table`
//! (per-prefix state, compact), `nexthop` (next hops, their ids and the
//! published table), `view` (what `show route` prints).
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::config::LoopbackConfig;
use crate::ports::{PortId, PortInfo};
use crate::shared::Shared;
use nexthop::NextHopTable;

mod manager;
pub mod nexthop;
mod prefix_table;
mod view;

pub use self::manager::{
    BgpApplyOutcome, BgpNextHop, BgpReject, BgpRouteChange, RouteError, RouteManager,
};
pub use self::view::{RouteEntry, RouteHop, RouteSummary};
pub use fib::{V4, V6};

pub const DISTANCE_CONNECTED: u8 = 0;
pub const DISTANCE_STATIC: u8 = 1;
pub const DISTANCE_EBGP: u8 = 20;
pub const DISTANCE_IBGP: u8 = 200;
/// Most members of one ECMP group built from BGP next hops.
pub const MAX_MULTIPATH: usize = 64;
/// How long a freed next-hop id rests before it is reused.
pub const ID_REUSE_GRACE: Duration = Duration::from_secs(10);

/// A thread-safe handle: the route manager is control plane, a mutex is fine.
pub type RouteHandle = Arc<Mutex<Routes>>;

/// The route managers of both families, behind one lock. It derefs to
/// the IPv4 one, which every IPv4-only caller (BGP's IPv4 routes, `route
/// get`, the metrics) uses as before; `v6` is the IPv6 one.
pub struct Routes {
    pub v4: RouteManager<fib::V4>,
    pub v6: RouteManager<fib::V6>,
}

impl std::ops::Deref for Routes {
    type Target = RouteManager<fib::V4>;
    fn deref(&self) -> &Self::Target {
        &self.v4
    }
}

impl std::ops::DerefMut for Routes {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.v4
    }
}

impl Routes {
    pub fn into_handle(self) -> RouteHandle {
        Arc::new(Mutex::new(self))
    }
}

/// What the route manager needs of an address family besides what the FIB
/// does: where its tables are published, and which of a port's or a
/// loopback's addresses are its own. One implementation of the route
/// manager serves both.
pub trait Family:
    fib::Family<
    Net: bgp::prefix_map::MapKey + Serialize + Send,
    Addr: Ord + Serialize + std::fmt::Display + Send + Into<std::net::IpAddr>,
>
{
    fn fib(shared: &Shared) -> &fib::Fib<Self>;
    fn nexthops(shared: &Shared) -> &ArcSwap<NextHopTable<Self::Addr>>;
    /// The router's addresses on a port, each with its subnet and whether
    /// that subnet is a connected route.
    fn port_addresses(p: &PortInfo) -> Vec<(Self::Addr, Self::Net, bool)>;
    /// A loopback's addresses, each with its subnet.
    fn loopback_addresses(l: &LoopbackConfig) -> Vec<(Self::Addr, Self::Net)>;
    /// A BGP next hop this family resolves without its own routes.
    fn resolve_direct(_shared: &Shared, _a: Self::Addr) -> Option<Vec<(PortId, Self::Addr)>> {
        None
    }
}

impl Family for fib::V4 {
    fn fib(shared: &Shared) -> &fib::Fib<Self> {
        &shared.fib
    }
    fn nexthops(shared: &Shared) -> &ArcSwap<NextHopTable<Ipv4Addr>> {
        &shared.nexthops
    }
    fn port_addresses(p: &PortInfo) -> Vec<(Ipv4Addr, Ipv4Net, bool)> {
        p.addrs
            .iter()
            .map(|a| (a.addr(), a.trunc(), a.prefix_len() < 32))
            .collect()
    }
    fn loopback_addresses(l: &LoopbackConfig) -> Vec<(Ipv4Addr, Ipv4Net)> {
        l.addresses.iter().map(|a| (a.addr(), a.trunc())).collect()
    }
}

impl Family for fib::V6 {
    fn fib(shared: &Shared) -> &fib::Fib<Self> {
        &shared.fib6
    }
    fn nexthops(shared: &Shared) -> &ArcSwap<NextHopTable<Ipv6Addr>> {
        &shared.nexthops6
    }
    /// A port's link-local subnet is no connected route: RFC 4291 §2.5.6,
    /// a link-local destination is never forwarded (and every link has
    /// fe80::/64). Its address is one of ours all the same.
    fn port_addresses(p: &PortInfo) -> Vec<(Ipv6Addr, Ipv6Net, bool)> {
        p.addrs6
            .iter()
            .map(|a| {
                let ll = crate::wire::ipv6::class::is_link_local(&a.addr());
                (a.addr(), a.trunc(), a.prefix_len() < 128 && !ll)
            })
            .collect()
    }
    fn loopback_addresses(l: &LoopbackConfig) -> Vec<(Ipv6Addr, Ipv6Net)> {
        l.addresses6.iter().map(|a| (a.addr(), a.trunc())).collect()
    }
    /// An IPv4-mapped next hop (::ffff:a.b.c.d, what a BGP speaker sends
    /// for IPv6 routes over an IPv4 session, Cilium's default) is the node
    /// a.b.c.d: a neighbour on the port whose IPv4 subnet holds it, whose
    /// MAC ARP finds. Reached through static IPv4 routes it is not.
    fn resolve_direct(shared: &Shared, a: Ipv6Addr) -> Option<Vec<(PortId, Ipv6Addr)>> {
        let v4 = crate::wire::ipv6::class::to_ipv4_mapped(&a)?;
        let port = shared.ports.iter().find(|p| {
            p.addrs
                .iter()
                .any(|n| n.trunc().contains(&v4) && n.addr() != v4)
        })?;
        Some(vec![(port.id, a)])
    }
}

/// `n` with its host bits cleared.
pub(crate) fn trunc<F: fib::Family>(n: &F::Net) -> F::Net {
    let (k, len) = F::net_parts(n);
    F::net_from_parts(F::mask(k, len), len)
}

/// The /32 or /128 of `a`.
pub(crate) fn host_net<F: fib::Family>(a: F::Addr) -> F::Net {
    F::net_from_parts(F::addr_key(a), F::BITS as u8)
}

/// The `len`-bit prefix holding `a`.
pub(crate) fn net_of<F: fib::Family>(a: F::Addr, len: u8) -> F::Net {
    F::net_from_parts(F::mask(F::addr_key(a), len), len)
}

/// Whether `outer` covers `inner`.
pub(crate) fn covers<F: fib::Family>(outer: &F::Net, inner: &F::Net) -> bool {
    let (ko, lo) = F::net_parts(outer);
    let (ki, li) = F::net_parts(inner);
    li >= lo && F::mask(ki, lo) == F::mask(ko, lo)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteSource {
    /// A subnet on a port (or a loopback's subnet).
    Connected,
    /// One of the router's own addresses (/32).
    Local,
    Static,
    Bgp,
}

impl RouteSource {
    pub fn name(self) -> &'static str {
        match self {
            RouteSource::Connected => "connected",
            RouteSource::Local => "local",
            RouteSource::Static => "static",
            RouteSource::Bgp => "bgp",
        }
    }
}

#[cfg(test)]
mod tests;
