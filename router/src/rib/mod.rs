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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

mod manager;
pub mod nexthop;
mod prefix_table;
mod view;

pub use self::manager::{BgpApplyOutcome, BgpReject, BgpRouteChange, RouteError, RouteManager};
pub use self::view::{RouteEntry, RouteHop, RouteSummary};

pub const DISTANCE_CONNECTED: u8 = 0;
pub const DISTANCE_STATIC: u8 = 1;
pub const DISTANCE_EBGP: u8 = 20;
pub const DISTANCE_IBGP: u8 = 200;
/// Most members of one ECMP group built from BGP next hops.
pub const MAX_MULTIPATH: usize = 64;
/// How long a freed next-hop id rests before it is reused.
pub const ID_REUSE_GRACE: Duration = Duration::from_secs(10);

/// A thread-safe handle: the route manager is control plane, a mutex is fine.
pub type RouteHandle = Arc<Mutex<RouteManager>>;

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
