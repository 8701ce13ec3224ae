//! The route manager: the connected, static and BGP routes, the choice
//! between them at each prefix, BGP next-hop resolution, and publication
//! into the FIB and the next-hop table (see [`crate::rib`]).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use bgp::prefix_map::MapKey;
use ipnet::Ipv4Net;
use serde::Serialize;

use super::nexthop::{NextHop, NextHopIds, NextHopTable};
use super::prefix_table::{BgpEntry, Installed, PrefixTable};
use super::{
    covers, host_net, net_of, trunc, Family, RouteHandle, RouteSource, Routes, DISTANCE_CONNECTED,
    DISTANCE_EBGP, DISTANCE_IBGP, DISTANCE_STATIC, MAX_MULTIPATH,
};
use crate::config::{LoopbackConfig, StaticRoute, StaticTarget};
use crate::ports::PortId;
use crate::shared::Shared;

/// A BGP next hop as the route manager resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BgpNextHop<A = Ipv4Addr> {
    /// An address of the route's family, resolved through the connected
    /// and static routes.
    Routed(A),
    /// A link-local address on the port of the session it was learned over
    /// ([`bgp::NextHopAddr::link`]): a neighbour on that port, as a static
    /// route's `via = "fe80::1"` with its `port` is, resolved through no
    /// route (none covers fe80::/10).
    OnLink { addr: A, port: PortId },
    /// An IPv6 next hop of an IPv4 route (RFC 8950): a neighbour on the
    /// port whose IPv6 subnet holds it, or, link-local, on `port` (its
    /// session's). Only the IPv4 routes have these.
    Ipv6 {
        addr: Ipv6Addr,
        port: Option<PortId>,
    },
}

impl<A> From<A> for BgpNextHop<A> {
    /// A next hop resolved through the routes.
    fn from(addr: A) -> BgpNextHop<A> {
        BgpNextHop::Routed(addr)
    }
}

/// One BGP route change for [`RouteManager::apply_bgp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BgpRouteChange<N = Ipv4Net, A = Ipv4Addr> {
    /// Install or replace the route to `prefix` via these next hops (several:
    /// ECMP). `internal`: learned over iBGP (distance 200 instead of 20).
    Announce {
        prefix: N,
        next_hops: Vec<BgpNextHop<A>>,
        internal: bool,
    },
    /// Remove the BGP route to `prefix` (no-op if absent).
    Withdraw { prefix: N },
}

/// Why a BGP route was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum BgpReject<N: std::fmt::Display + std::fmt::Debug = Ipv4Net> {
    #[error("{prefix} has host bits set")]
    HostBitsSet { prefix: N },
    #[error(
        "{prefix} is inside connected subnet {connected}: BGP never overrides connected routes"
    )]
    Connected { prefix: N, connected: N },
    #[error("{prefix} has no next hop")]
    NoNextHop { prefix: N },
}

/// What [`RouteManager::apply_bgp`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BgpApplyOutcome<N: std::fmt::Display + std::fmt::Debug = Ipv4Net> {
    /// Announcements stored (installed, or waiting for a next hop to resolve).
    pub announced: usize,
    pub withdrawn: usize,
    pub rejected: Vec<BgpReject<N>>,
    /// FIB changes published.
    pub fib_changes: usize,
}

impl<N: std::fmt::Display + std::fmt::Debug> Default for BgpApplyOutcome<N> {
    fn default() -> Self {
        BgpApplyOutcome {
            announced: 0,
            withdrawn: 0,
            rejected: Vec::new(),
            fib_changes: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("FIB update failed: {0}")]
    Fib(#[from] fib::FibError),
    #[error("next-hop ids exhausted ({0} in use)")]
    NextHopsExhausted(usize),
}

/// A non-BGP route candidate (connected, local, static).
#[derive(Clone, Debug)]
pub(super) struct Candidate<A = Ipv4Addr> {
    pub(super) source: RouteSource,
    pub(super) distance: u8,
    pub(super) next_hop: NextHop<A>,
    /// Interface name for connected/local routes (ports and loopbacks).
    pub(super) interface: Option<String>,
}

/// The routes of one address family (`F`: [`fib::V4`] or [`fib::V6`]).
pub struct RouteManager<F: Family = fib::V4> {
    pub(super) shared: Arc<Shared>,
    /// Connected, local and static candidates per prefix.
    pub(super) base: BTreeMap<F::Net, Vec<Candidate<F::Addr>>>,
    /// Subnets BGP may not override (ports and loopbacks, and our /32s).
    pub(super) protected: Vec<F::Net>,
    /// BGP routes and installed routes per prefix.
    pub(super) table: PrefixTable<F::Net>,
    /// Interned BGP next-hop sets (sorted, deduplicated).
    pub(super) bgp_sets: Vec<Box<[BgpNextHop<F::Addr>]>>,
    pub(super) bgp_set_ids: HashMap<Box<[BgpNextHop<F::Addr>]>, u32>,
    /// Resolution of each BGP next-hop set (cleared when base routes change).
    pub(super) resolved: HashMap<u32, Option<NextHop<F::Addr>>>,
    pub(super) ids: NextHopIds<F::Addr>,
    /// Prefixes whose selection must be recomputed at the next publication.
    pub(super) pending: HashSet<F::Net>,
    publications: u64,
}

impl RouteManager<fib::V4> {
    /// The IPv4 route manager.
    pub fn new(shared: Arc<Shared>) -> RouteManager<fib::V4> {
        RouteManager::with_family(shared)
    }

    /// A handle holding this manager and an IPv6 one without routes yet.
    pub fn into_handle(self) -> RouteHandle {
        let v6 = RouteManager::with_family(Arc::clone(&self.shared));
        Routes { v4: self, v6 }.into_handle()
    }
}

impl<F: Family> RouteManager<F> {
    pub fn with_family(shared: Arc<Shared>) -> RouteManager<F> {
        RouteManager {
            shared,
            base: BTreeMap::new(),
            protected: Vec::new(),
            table: PrefixTable::default(),
            bgp_sets: Vec::new(),
            bgp_set_ids: HashMap::new(),
            resolved: HashMap::new(),
            ids: NextHopIds::default(),
            pending: HashSet::new(),
            publications: 0,
        }
    }

    /// Installs the connected routes of every port of `shared.ports` (each
    /// subnet → `Connected`, each address → `Local` /32) and of `loopbacks`
    /// (each address → `Local` /32, its subnet → `Unreachable`: the rest of
    /// a loopback subnet exists nowhere). Replaces earlier connected routes
    /// and publishes.
    pub fn set_connected(&mut self, loopbacks: &[LoopbackConfig]) -> Result<usize, RouteError> {
        self.load_connected(loopbacks);
        self.publish()
    }

    /// The candidates of [`RouteManager::set_connected`], not yet published.
    fn load_connected(&mut self, loopbacks: &[LoopbackConfig]) {
        self.retain_base(|c| !matches!(c.source, RouteSource::Connected | RouteSource::Local));
        self.protected.clear();
        let shared = Arc::clone(&self.shared);
        for p in &shared.ports {
            for (addr, subnet, connected) in F::port_addresses(p) {
                if connected {
                    self.add_base(
                        subnet,
                        RouteSource::Connected,
                        NextHop::Connected { port: p.id },
                        Some(&p.name),
                    );
                }
                self.add_base(
                    host_net::<F>(addr),
                    RouteSource::Local,
                    NextHop::Local,
                    Some(&p.name),
                );
                self.protected.push(subnet);
            }
        }
        for l in loopbacks {
            for (addr, subnet) in F::loopback_addresses(l) {
                let (_, len) = F::net_parts(&subnet);
                if u32::from(len) < F::BITS {
                    self.add_base(
                        subnet,
                        RouteSource::Connected,
                        NextHop::Unreachable,
                        Some(&l.name),
                    );
                }
                self.add_base(
                    host_net::<F>(addr),
                    RouteSource::Local,
                    NextHop::Local,
                    Some(&l.name),
                );
                self.protected.push(subnet);
            }
        }
        self.base_changed();
    }

    /// Replaces all static routes and publishes.
    pub fn set_static(
        &mut self,
        routes: &[StaticRoute<F::Net, F::Addr>],
    ) -> Result<usize, RouteError> {
        self.load_static(routes);
        self.publish()
    }

    /// Replaces the loopbacks' connected routes and all static routes
    /// (`router reload`) and publishes them as one batch. Candidates are
    /// rebuilt, but only prefixes whose winning route or next hop differs
    /// reach the FIB: an unchanged route keeps its next-hop id and is not
    /// touched (no remove and re-add), so its traffic never pauses.
    /// Returns the FIB changes.
    pub fn reload(
        &mut self,
        loopbacks: &[LoopbackConfig],
        routes: &[StaticRoute<F::Net, F::Addr>],
    ) -> Result<usize, RouteError> {
        self.load_connected(loopbacks);
        self.load_static(routes);
        self.publish()
    }

    /// FIB publications so far (each one batch).
    pub fn publications(&self) -> u64 {
        self.publications
    }

    /// The candidates of [`RouteManager::set_static`], not yet published.
    fn load_static(&mut self, routes: &[StaticRoute<F::Net, F::Addr>]) {
        self.retain_base(|c| c.source != RouteSource::Static);
        for r in routes {
            let nh = match &r.target {
                StaticTarget::Via(gws) => {
                    multipath(gws.iter().map(|g| (g.port as PortId, g.addr)).collect())
                }
                StaticTarget::Port(p) => Some(NextHop::Connected { port: *p as PortId }),
                StaticTarget::Blackhole => Some(NextHop::Blackhole),
                StaticTarget::Unreachable => Some(NextHop::Unreachable),
            };
            if let Some(nh) = nh {
                self.add_base(trunc::<F>(&r.prefix), RouteSource::Static, nh, None);
            }
        }
        self.base_changed();
    }

    /// Applies BGP route changes (one publication for the whole batch).
    pub fn apply_bgp(
        &mut self,
        changes: impl IntoIterator<Item = BgpRouteChange<F::Net, F::Addr>>,
    ) -> Result<BgpApplyOutcome<F::Net>, RouteError> {
        let mut out = self.stage_bgp(changes);
        out.fib_changes = self.publish()?;
        Ok(out)
    }

    /// Publishes what [`RouteManager::stage_bgp`] staged; the FIB changes.
    pub fn publish_staged(&mut self) -> Result<usize, RouteError> {
        self.publish()
    }

    /// Records BGP route changes without publishing them: several chunks
    /// staged and then one [`RouteManager::publish_staged`] cost one FIB
    /// publication, while the caller never holds more than a chunk of
    /// changes. (Each publication copies the FIB chunks it touches, so a
    /// full table published in 8k-route steps took ~25 % longer.)
    pub fn stage_bgp(
        &mut self,
        changes: impl IntoIterator<Item = BgpRouteChange<F::Net, F::Addr>>,
    ) -> BgpApplyOutcome<F::Net> {
        let mut out = BgpApplyOutcome::default();
        for c in changes {
            match c {
                BgpRouteChange::Announce {
                    prefix,
                    next_hops,
                    internal,
                } => {
                    if F::net_has_host_bits(&prefix) {
                        out.rejected.push(BgpReject::HostBitsSet { prefix });
                        continue;
                    }
                    if let Some(&connected) =
                        self.protected.iter().find(|c| covers::<F>(c, &prefix))
                    {
                        out.rejected
                            .push(BgpReject::Connected { prefix, connected });
                        continue;
                    }
                    let mut hops = next_hops;
                    hops.sort_unstable();
                    hops.dedup();
                    if hops.is_empty() {
                        out.rejected.push(BgpReject::NoNextHop { prefix });
                        continue;
                    }
                    let set = self.intern_set(hops.into_boxed_slice());
                    let distance = if internal {
                        DISTANCE_IBGP
                    } else {
                        DISTANCE_EBGP
                    };
                    self.table.insert_bgp(prefix, BgpEntry { set, distance });
                    self.pending.insert(prefix);
                    out.announced += 1;
                }
                BgpRouteChange::Withdraw { prefix } => {
                    if self.table.remove_bgp(&prefix) {
                        self.pending.insert(prefix);
                        out.withdrawn += 1;
                    }
                }
            }
        }
        out
    }

    /// Removes every BGP route (the BGP speaker stopped).
    pub fn clear_bgp(&mut self) -> Result<usize, RouteError> {
        let prefixes = self.table.clear_bgp();
        self.bgp_sets.clear();
        self.bgp_set_ids.clear();
        self.resolved.clear();
        self.pending.extend(prefixes);
        self.publish()
    }

    /// Number of BGP routes stored (installed or not).
    pub fn bgp_route_count(&self) -> usize {
        self.table.bgp_len
    }

    /// Whether the BGP route for `prefix` is the one in the FIB (false when
    /// a connected/static route wins or its next hops do not resolve).
    pub fn bgp_installed(&self, prefix: &F::Net) -> bool {
        self.table
            .installed(prefix)
            .is_some_and(|i| i.source == RouteSource::Bgp)
    }

    /// How a BGP next hop resolves through connected and static routes:
    /// the (port, gateway) pairs it would use, or `None`.
    pub fn resolve_next_hop(&self, hop: BgpNextHop<F::Addr>) -> Option<Vec<(PortId, F::Addr)>> {
        let v = self.resolve_hop(hop);
        if v.is_empty() {
            None
        } else {
            Some(v)
        }
    }

    /// Number of FIB routes.
    pub fn len(&self) -> usize {
        self.table.installed_len
    }

    pub fn is_empty(&self) -> bool {
        self.table.installed_len == 0
    }

    pub(super) fn add_base(
        &mut self,
        prefix: F::Net,
        source: RouteSource,
        next_hop: NextHop<F::Addr>,
        interface: Option<&str>,
    ) {
        let distance = if source == RouteSource::Static {
            DISTANCE_STATIC
        } else {
            DISTANCE_CONNECTED
        };
        let list = self.base.entry(prefix).or_default();
        // Two addresses of one subnet on one port give one connected route.
        if !list
            .iter()
            .any(|c| c.source == source && c.next_hop == next_hop)
        {
            list.push(Candidate {
                source,
                distance,
                next_hop,
                interface: interface.map(str::to_string),
            });
        }
        self.pending.insert(prefix);
    }

    pub(super) fn retain_base(&mut self, keep: impl Fn(&Candidate<F::Addr>) -> bool) {
        let mut empty = Vec::new();
        for (p, list) in self.base.iter_mut() {
            let before = list.len();
            list.retain(&keep);
            if list.len() != before {
                self.pending.insert(*p);
            }
            if list.is_empty() {
                empty.push(*p);
            }
        }
        for p in empty {
            self.base.remove(&p);
        }
    }

    /// Connected/static routes changed: BGP next hops may resolve differently.
    pub(super) fn base_changed(&mut self) {
        self.resolved.clear();
        self.pending.extend(self.table.bgp_prefixes());
    }

    pub(super) fn intern_set(&mut self, hops: Box<[BgpNextHop<F::Addr>]>) -> u32 {
        if let Some(&id) = self.bgp_set_ids.get(&hops) {
            return id;
        }
        let id = self.bgp_sets.len() as u32;
        self.bgp_sets.push(hops.clone());
        self.bgp_set_ids.insert(hops, id);
        id
    }

    /// The best connected/static candidate of a prefix.
    pub(super) fn best_base(&self, prefix: &F::Net) -> Option<&Candidate<F::Addr>> {
        self.base.get(prefix)?.iter().min_by_key(|c| c.distance)
    }

    /// Whether a BGP next hop leads anywhere (what the BGP speaker's
    /// RFC 4271 §9.1.2.1 reachability check asks).
    pub fn next_hop_resolves(&self, hop: BgpNextHop<F::Addr>) -> bool {
        match hop {
            BgpNextHop::Ipv6 { addr, port } => !resolve_ipv6(&self.shared, addr, port).is_empty(),
            _ => !self.resolve_hop(hop).is_empty(),
        }
    }

    /// Where one BGP next hop of the route's family leads: a link-local
    /// one is the neighbour on its port (a port that no longer exists:
    /// nowhere), any other is resolved through the routes. An IPv6 next
    /// hop of an IPv4 route leads to no gateway of the family: see
    /// [`resolve_ipv6`].
    pub(super) fn resolve_hop(&self, hop: BgpNextHop<F::Addr>) -> Vec<(PortId, F::Addr)> {
        match hop {
            BgpNextHop::OnLink { addr, port } if self.port_exists(port) => vec![(port, addr)],
            BgpNextHop::OnLink { .. } | BgpNextHop::Ipv6 { .. } => vec![],
            BgpNextHop::Routed(addr) => self.resolve_addr(addr),
        }
    }

    fn port_exists(&self, port: PortId) -> bool {
        self.shared.ports.iter().any(|p| p.id == port)
    }

    /// Resolves one BGP next hop through connected and static routes.
    pub(super) fn resolve_addr(&self, addr: F::Addr) -> Vec<(PortId, F::Addr)> {
        if let Some(direct) = F::resolve_direct(&self.shared, addr) {
            return direct;
        }
        // Longest match among base routes, never the default route.
        for len in (1..=F::BITS as u8).rev() {
            let Some(c) = self.best_base(&net_of::<F>(addr, len)) else {
                continue;
            };
            return match &c.next_hop {
                NextHop::Connected { port } => vec![(*port, addr)],
                NextHop::Gateway { port, gw } => vec![(*port, *gw)],
                NextHop::Multipath(m) => m.to_vec(),
                // Our own address, a route that drops, or one via an IPv6
                // neighbour (BGP's own, never a base route): not usable.
                NextHop::Local
                | NextHop::Blackhole
                | NextHop::Unreachable
                | NextHop::Gateway6 { .. } => vec![],
            };
        }
        vec![]
    }

    pub(super) fn resolve_set(&mut self, set: u32) -> Option<NextHop<F::Addr>> {
        if let Some(r) = self.resolved.get(&set) {
            return r.clone();
        }
        let hops = &self.bgp_sets[set as usize];
        let mut members: Vec<(PortId, F::Addr)> =
            hops.iter().flat_map(|h| self.resolve_hop(*h)).collect();
        members.sort_unstable();
        members.dedup();
        members.truncate(MAX_MULTIPATH);
        let nh = if members.is_empty() {
            // Only IPv6 next hops (RFC 8950): the first that resolves.
            // ECMP across IPv6 neighbours is not built for IPv4 routes.
            let mut via6: Vec<(PortId, Ipv6Addr)> = hops
                .iter()
                .flat_map(|h| match *h {
                    BgpNextHop::Ipv6 { addr, port } => resolve_ipv6(&self.shared, addr, port),
                    _ => Vec::new(),
                })
                .collect();
            via6.sort_unstable();
            via6.first()
                .map(|&(port, gw)| NextHop::Gateway6 { port, gw })
        } else {
            // IPv4 next hops first: an IPv4 route reaches IPv4 neighbours
            // when it has any.
            multipath(members)
        };
        self.resolved.insert(set, nh.clone());
        nh
    }

    /// The winning route of a prefix (`bgp`: its BGP route, read by the
    /// caller with the installed one): (source, distance, next hop).
    fn select(
        &mut self,
        prefix: &F::Net,
        bgp: Option<BgpEntry>,
    ) -> Option<(RouteSource, u8, NextHop<F::Addr>)> {
        let base = self
            .best_base(prefix)
            .map(|c| (c.source, c.distance, c.next_hop.clone()));
        match (base, bgp) {
            (Some(b), Some(g)) if b.1 <= g.distance => Some(b),
            (b, Some(g)) => match self.resolve_set(g.set) {
                Some(nh) => Some((RouteSource::Bgp, g.distance, nh)),
                None => b,
            },
            (b, None) => b,
        }
    }

    /// Recomputes the pending prefixes and publishes the differences:
    /// next-hop table first, then the FIB batch. Returns the FIB changes.
    pub(super) fn publish(&mut self) -> Result<usize, RouteError> {
        let now = Instant::now();
        let mut pending: Vec<F::Net> = self.pending.drain().collect();
        // In prefix order, not the hash set's: each search of the prefix
        // table then lands in the chunk of the one before (see
        // `PrefixMap::chunk_of`), and the FIB gets its batch in order.
        pending.sort_unstable_by_key(MapKey::ord_key);
        let mut batch = Vec::with_capacity(pending.len());
        let mut released = Vec::new();
        let mut first_error = None;
        for prefix in pending {
            // One search of the prefix table for both halves.
            let (bgp, have) = self.table.entry(&prefix);
            let want = self.select(&prefix, bgp);
            match want {
                Some((source, distance, nh)) => {
                    let id = match self.ids.intern(&nh, self.publications, now) {
                        Ok(id) => id,
                        Err(e) => {
                            tracing::error!(%prefix, "cannot install route: {e}");
                            first_error.get_or_insert(e);
                            continue;
                        }
                    };
                    if have
                        .is_some_and(|h| h.id == id && h.source == source && h.distance == distance)
                    {
                        continue;
                    }
                    self.ids.acquire(id);
                    if let Some(h) = have {
                        released.push(h.id);
                    }
                    self.table.install(
                        prefix,
                        Installed {
                            id,
                            source,
                            distance,
                        },
                    );
                    if have.map(|h| h.id) != Some(id) {
                        batch.push(fib::Change::Upsert(prefix, id));
                    }
                }
                None => {
                    if let Some(h) = have {
                        self.table.uninstall(&prefix);
                        released.push(h.id);
                        batch.push(fib::Change::Remove(prefix));
                    }
                }
            }
        }
        // Superset first: every id the batch uses is in the published table.
        if self.ids.dirty {
            F::nexthops(&self.shared).store(Arc::new(NextHopTable {
                entries: self.ids.entries.clone(),
            }));
            self.ids.dirty = false;
        }
        let result = if batch.is_empty() {
            Ok(())
        } else {
            F::fib(&self.shared).apply(&batch)
        };
        self.publications += 1;
        // Only now may ids fall out of use: the FIB no longer references them.
        for id in released {
            self.ids.release(id, self.publications, now);
        }
        result?;
        if let Some(e) = first_error {
            return Err(e);
        }
        if !batch.is_empty() {
            tracing::debug!(
                changes = batch.len(),
                routes = self.table.installed_len,
                "FIB published"
            );
        }
        Ok(batch.len())
    }
}

/// An IPv6 next hop of an IPv4 route (RFC 8950): a link-local one is the
/// neighbour on `port` (its session's); a global one the neighbour on the
/// port whose IPv6 subnet holds it (directly connected only, as for
/// IPv4-mapped next hops of IPv6 routes; never one of our addresses).
pub(super) fn resolve_ipv6(
    shared: &Shared,
    addr: Ipv6Addr,
    port: Option<PortId>,
) -> Vec<(PortId, Ipv6Addr)> {
    use crate::wire::ipv6::class::is_link_local;
    if is_link_local(&addr) {
        return port
            .filter(|p| shared.ports.iter().any(|x| x.id == *p))
            .map(|p| vec![(p, addr)])
            .unwrap_or_default();
    }
    shared
        .ports
        .iter()
        .find(|p| {
            p.addrs6
                .iter()
                .any(|n| !is_link_local(&n.addr()) && n.trunc().contains(&addr) && n.addr() != addr)
        })
        .map(|p| vec![(p.id, addr)])
        .unwrap_or_default()
}

/// One gateway → `Gateway`; several → `Multipath`; none → `None`.
pub(super) fn multipath<A: Ord + Copy>(mut members: Vec<(PortId, A)>) -> Option<NextHop<A>> {
    members.sort_unstable();
    members.dedup();
    match members.as_slice() {
        [] => None,
        [(port, gw)] => Some(NextHop::Gateway {
            port: *port,
            gw: *gw,
        }),
        _ => Some(NextHop::Multipath(members.into_boxed_slice())),
    }
}
