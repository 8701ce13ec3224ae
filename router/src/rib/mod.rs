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
//! ([`NextHop::Multipath`]) route.
//!
//! Publication. Workers read the FIB and then the next-hop table without
//! locks. Every change is published as one batch: first a next-hop table that
//! is a superset of the previous one (ids in use keep their meaning), then
//! `fib.apply(batch)`, so a reader never finds an id it cannot resolve.
//! Forwarding never stops: both are arc-swap publications.
//!
//! Next-hop ids are interned (the same [`NextHop`] always gets the same id
//! while in use). An id that no installed route uses any more is not reused
//! at once: a worker may still hold an older FIB that maps prefixes to it,
//! and its slot keeps the old next hop (which is exactly what such a stale
//! reader should get). The id is reused only after [`ID_REUSE_GRACE`] and two
//! further publications — a grace period like RCU's, bounded by time because
//! a worker holds a FIB snapshot for one RX batch (microseconds). If the
//! same next hop is needed again during the grace period its old id is
//! revived.
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp::prefix_map::PrefixMap;
use ipnet::Ipv4Net;
use serde::Serialize;

use crate::config::{LoopbackConfig, StaticRoute, StaticTarget};
use crate::ports::PortId;
use crate::rib::nexthop::{NextHop, NextHopTable};
use crate::shared::Shared;

pub mod nexthop;

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

/// One BGP route change for [`RouteManager::apply_bgp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BgpRouteChange {
    /// Install or replace the route to `prefix` via these next hops (several:
    /// ECMP). `internal`: learned over iBGP (distance 200 instead of 20).
    Announce {
        prefix: Ipv4Net,
        next_hops: Vec<Ipv4Addr>,
        internal: bool,
    },
    /// Remove the BGP route to `prefix` (no-op if absent).
    Withdraw { prefix: Ipv4Net },
}

/// Why a BGP route was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum BgpReject {
    #[error("{prefix} has host bits set")]
    HostBitsSet { prefix: Ipv4Net },
    #[error(
        "{prefix} is inside connected subnet {connected}: BGP never overrides connected routes"
    )]
    Connected { prefix: Ipv4Net, connected: Ipv4Net },
    #[error("{prefix} has no next hop")]
    NoNextHop { prefix: Ipv4Net },
}

/// What [`RouteManager::apply_bgp`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BgpApplyOutcome {
    /// Announcements stored (installed, or waiting for a next hop to resolve).
    pub announced: usize,
    pub withdrawn: usize,
    pub rejected: Vec<BgpReject>,
    /// FIB changes published.
    pub fib_changes: usize,
}

/// One member of a route's next hop, for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteHop {
    /// Port name (`None` for local/blackhole/unreachable routes).
    pub port: Option<String>,
    /// Gateway (`None`: directly connected).
    pub via: Option<Ipv4Addr>,
}

/// One installed FIB route, for `show route`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteEntry {
    pub prefix: Ipv4Net,
    pub source: RouteSource,
    pub distance: u8,
    /// "connected", "gateway", "multipath", "local", "blackhole", "unreachable".
    pub kind: &'static str,
    pub next_hops: Vec<RouteHop>,
    /// The interface that owns a connected/local route (ports and loopbacks).
    pub interface: Option<String>,
    pub nexthop_id: fib::NextHopId,
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

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("FIB update failed: {0}")]
    Fib(#[from] fib::FibError),
    #[error("next-hop ids exhausted ({0} in use)")]
    NextHopsExhausted(usize),
}

/// A non-BGP route candidate (connected, local, static).
#[derive(Clone, Debug)]
struct Candidate {
    source: RouteSource,
    distance: u8,
    next_hop: NextHop,
    /// Interface name for connected/local routes (ports and loopbacks).
    interface: Option<String>,
}

/// A BGP route as stored: its next-hop set (interned) and distance.
#[derive(Clone, Copy, Debug)]
struct BgpEntry {
    set: u32,
    distance: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Installed {
    id: fib::NextHopId,
    source: RouteSource,
    distance: u8,
}

/// Per prefix: its BGP route and what the FIB holds, in 12 octets.
/// `set == NO_SET`: no BGP route; `source == NOT_INSTALLED`: not in the FIB.
#[derive(Clone, Copy, Debug)]
struct Slot {
    set: u32,
    id: fib::NextHopId,
    bgp_distance: u8,
    source: u8,
    distance: u8,
}

const NO_SET: u32 = u32::MAX;
const NOT_INSTALLED: u8 = u8::MAX;

fn source_code(s: RouteSource) -> u8 {
    s as u8
}

fn source_from(code: u8) -> RouteSource {
    match code {
        0 => RouteSource::Connected,
        1 => RouteSource::Local,
        2 => RouteSource::Static,
        _ => RouteSource::Bgp,
    }
}

/// The per-prefix state of every BGP and installed route, in one compact
/// ordered map. Sized for a full table: two hash maps (BGP routes,
/// installed routes) of a million prefixes sat at 2^21 buckets each, 68 MiB
/// together (and held old and new arrays while doubling); one
/// [`PrefixMap`] of 12-octet slots costs ~18 octets per prefix with no
/// resize transient. Lookups are a binary search (a few hundred ns), which
/// is not what limits convergence.
#[derive(Default)]
struct PrefixTable {
    slots: PrefixMap<Ipv4Net, Slot>,
    bgp_len: usize,
    installed_len: usize,
}

impl PrefixTable {
    fn bgp(&self, p: &Ipv4Net) -> Option<BgpEntry> {
        self.slots
            .get(p)
            .filter(|s| s.set != NO_SET)
            .map(|s| BgpEntry {
                set: s.set,
                distance: s.bgp_distance,
            })
    }

    fn installed(&self, p: &Ipv4Net) -> Option<Installed> {
        self.slots.get(p).and_then(Self::installed_of)
    }

    fn installed_of(s: &Slot) -> Option<Installed> {
        (s.source != NOT_INSTALLED).then(|| Installed {
            id: s.id,
            source: source_from(s.source),
            distance: s.distance,
        })
    }

    fn slot(&mut self, p: Ipv4Net) -> &mut Slot {
        self.slots.get_or_insert_with(p, || Slot {
            set: NO_SET,
            id: 0,
            bgp_distance: 0,
            source: NOT_INSTALLED,
            distance: 0,
        })
    }

    /// Drops the slot of `p` if it holds nothing.
    fn tidy(&mut self, p: &Ipv4Net) {
        if self
            .slots
            .get(p)
            .is_some_and(|s| s.set == NO_SET && s.source == NOT_INSTALLED)
        {
            self.slots.remove(p);
        }
    }

    fn insert_bgp(&mut self, p: Ipv4Net, e: BgpEntry) {
        let s = self.slot(p);
        let new = s.set == NO_SET;
        s.set = e.set;
        s.bgp_distance = e.distance;
        self.bgp_len += usize::from(new);
    }

    fn remove_bgp(&mut self, p: &Ipv4Net) -> bool {
        let Some(s) = self.slots.get_mut(p).filter(|s| s.set != NO_SET) else {
            return false;
        };
        s.set = NO_SET;
        self.bgp_len -= 1;
        self.tidy(p);
        true
    }

    fn bgp_prefixes(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.slots
            .iter()
            .filter(|(_, s)| s.set != NO_SET)
            .map(|(p, _)| *p)
    }

    /// Forgets every BGP route; returns their prefixes.
    fn clear_bgp(&mut self) -> Vec<Ipv4Net> {
        let prefixes: Vec<Ipv4Net> = self.bgp_prefixes().collect();
        for s in self.slots.values_mut() {
            s.set = NO_SET;
        }
        self.slots.retain(|_, s| s.source != NOT_INSTALLED);
        self.bgp_len = 0;
        prefixes
    }

    fn install(&mut self, p: Ipv4Net, i: Installed) {
        let s = self.slot(p);
        let new = s.source == NOT_INSTALLED;
        s.id = i.id;
        s.source = source_code(i.source);
        s.distance = i.distance;
        self.installed_len += usize::from(new);
    }

    fn uninstall(&mut self, p: &Ipv4Net) {
        let Some(s) = self.slots.get_mut(p).filter(|s| s.source != NOT_INSTALLED) else {
            return;
        };
        s.source = NOT_INSTALLED;
        self.installed_len -= 1;
        self.tidy(p);
    }

    fn installed_iter(&self) -> impl Iterator<Item = (Ipv4Net, Installed)> + '_ {
        self.slots
            .iter()
            .filter_map(|(p, s)| Some((*p, Self::installed_of(s)?)))
    }
}

/// Next-hop id allocator with interning and delayed reuse (see module docs).
#[derive(Default)]
struct NextHopIds {
    entries: Vec<NextHop>,
    by_value: HashMap<NextHop, fib::NextHopId>,
    refs: Vec<u32>,
    /// Per id: when it last fell out of use (publication number, time);
    /// `None` while in use.
    released: Vec<Option<(u64, Instant)>>,
    /// Ids in the order they fell out of use. May hold stale entries (an id
    /// revived, or released twice); `released` is the truth.
    resting: VecDeque<fib::NextHopId>,
    /// Whether `entries` changed since the last publication.
    dirty: bool,
}

impl NextHopIds {
    /// The id for `nh`, creating (or reviving, or reusing a rested) one.
    fn intern(
        &mut self,
        nh: &NextHop,
        publication: u64,
        now: Instant,
    ) -> Result<fib::NextHopId, RouteError> {
        if let Some(&id) = self.by_value.get(nh) {
            return Ok(id);
        }
        let id = match self.reusable(publication, now) {
            Some(id) => {
                let old = std::mem::replace(&mut self.entries[id as usize], nh.clone());
                self.by_value.remove(&old);
                id
            }
            None => {
                let id = self.entries.len() as fib::NextHopId;
                if id > fib::MAX_NEXT_HOP {
                    return Err(RouteError::NextHopsExhausted(self.entries.len()));
                }
                self.entries.push(nh.clone());
                self.refs.push(0);
                self.released.push(None);
                id
            }
        };
        self.by_value.insert(nh.clone(), id);
        self.dirty = true;
        Ok(id)
    }

    /// Pops a rested id whose grace period is over.
    fn reusable(&mut self, publication: u64, now: Instant) -> Option<fib::NextHopId> {
        while let Some(&id) = self.resting.front() {
            match self.released[id as usize] {
                // Revived since: drop the stale queue entry.
                None => {
                    self.resting.pop_front();
                }
                Some((seq, at))
                    if publication >= seq + 2 && now.duration_since(at) >= ID_REUSE_GRACE =>
                {
                    self.resting.pop_front();
                    self.released[id as usize] = None;
                    return Some(id);
                }
                Some(_) => return None,
            }
        }
        None
    }

    fn acquire(&mut self, id: fib::NextHopId) {
        self.refs[id as usize] += 1;
        self.released[id as usize] = None;
    }

    fn release(&mut self, id: fib::NextHopId, publication: u64, now: Instant) {
        let r = &mut self.refs[id as usize];
        *r = r.saturating_sub(1);
        if *r == 0 {
            self.released[id as usize] = Some((publication, now));
            self.resting.push_back(id);
        }
    }
}

pub struct RouteManager {
    shared: Arc<Shared>,
    /// Connected, local and static candidates per prefix.
    base: BTreeMap<Ipv4Net, Vec<Candidate>>,
    /// Subnets BGP may not override (ports and loopbacks, and our /32s).
    protected: Vec<Ipv4Net>,
    /// BGP routes and installed routes per prefix.
    table: PrefixTable,
    /// Interned BGP next-hop sets (sorted, deduplicated).
    bgp_sets: Vec<Box<[Ipv4Addr]>>,
    bgp_set_ids: HashMap<Box<[Ipv4Addr]>, u32>,
    /// Resolution of each BGP next-hop set (cleared when base routes change).
    resolved: HashMap<u32, Option<NextHop>>,
    ids: NextHopIds,
    /// Prefixes whose selection must be recomputed at the next publication.
    pending: HashSet<Ipv4Net>,
    publications: u64,
}

impl RouteManager {
    pub fn new(shared: Arc<Shared>) -> RouteManager {
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

    pub fn into_handle(self) -> RouteHandle {
        Arc::new(Mutex::new(self))
    }

    /// Installs the connected routes of every port of `shared.ports` (each
    /// subnet → `Connected`, each address → `Local` /32) and of `loopbacks`
    /// (each address → `Local` /32, its subnet → `Unreachable`: the rest of
    /// a loopback subnet exists nowhere). Replaces earlier connected routes
    /// and publishes.
    pub fn set_connected(&mut self, loopbacks: &[LoopbackConfig]) -> Result<usize, RouteError> {
        self.retain_base(|c| !matches!(c.source, RouteSource::Connected | RouteSource::Local));
        self.protected.clear();
        let shared = Arc::clone(&self.shared);
        for p in &shared.ports {
            for a in &p.addrs {
                let subnet = a.trunc();
                if a.prefix_len() < 32 {
                    self.add_base(
                        subnet,
                        RouteSource::Connected,
                        NextHop::Connected { port: p.id },
                        Some(&p.name),
                    );
                }
                self.add_base(
                    host(a.addr()),
                    RouteSource::Local,
                    NextHop::Local,
                    Some(&p.name),
                );
                self.protected.push(subnet);
            }
        }
        for l in loopbacks {
            for a in &l.addresses {
                let subnet = a.trunc();
                if a.prefix_len() < 32 {
                    self.add_base(
                        subnet,
                        RouteSource::Connected,
                        NextHop::Unreachable,
                        Some(&l.name),
                    );
                }
                self.add_base(
                    host(a.addr()),
                    RouteSource::Local,
                    NextHop::Local,
                    Some(&l.name),
                );
                self.protected.push(subnet);
            }
        }
        self.base_changed();
        self.publish()
    }

    /// Replaces all static routes and publishes.
    pub fn set_static(&mut self, routes: &[StaticRoute]) -> Result<usize, RouteError> {
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
                self.add_base(r.prefix.trunc(), RouteSource::Static, nh, None);
            }
        }
        self.base_changed();
        self.publish()
    }

    /// Applies BGP route changes (one publication for the whole batch).
    pub fn apply_bgp(
        &mut self,
        changes: impl IntoIterator<Item = BgpRouteChange>,
    ) -> Result<BgpApplyOutcome, RouteError> {
        let mut out = BgpApplyOutcome::default();
        for c in changes {
            match c {
                BgpRouteChange::Announce {
                    prefix,
                    next_hops,
                    internal,
                } => {
                    if prefix.addr() != prefix.network() {
                        out.rejected.push(BgpReject::HostBitsSet { prefix });
                        continue;
                    }
                    if let Some(&connected) = self.protected.iter().find(|c| c.contains(&prefix)) {
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
        out.fib_changes = self.publish()?;
        Ok(out)
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
    pub fn bgp_installed(&self, prefix: &Ipv4Net) -> bool {
        self.table
            .installed(prefix)
            .is_some_and(|i| i.source == RouteSource::Bgp)
    }

    /// How a BGP next hop resolves through connected and static routes:
    /// the (port, gateway) pairs it would use, or `None`.
    pub fn resolve_next_hop(&self, addr: Ipv4Addr) -> Option<Vec<(PortId, Ipv4Addr)>> {
        let v = self.resolve_addr(addr);
        if v.is_empty() {
            None
        } else {
            Some(v)
        }
    }

    /// Every route in the FIB with its source and next hop(s), sorted by prefix.
    pub fn routes(&self) -> Vec<RouteEntry> {
        let mut out: Vec<RouteEntry> = self
            .table
            .installed_iter()
            .map(|(p, i)| self.entry(p, &i))
            .collect();
        out.sort_by_key(|e| (u32::from(e.prefix.network()), e.prefix.prefix_len()));
        out
    }

    /// The installed route for `prefix`, if any.
    pub fn route(&self, prefix: &Ipv4Net) -> Option<RouteEntry> {
        self.table
            .installed(prefix)
            .map(|i| self.entry(*prefix, &i))
    }

    /// The route the FIB uses for `addr` (longest match), like `ip route get`.
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<RouteEntry> {
        (0..=32u8)
            .rev()
            .find_map(|len| self.route(&Ipv4Net::new(addr, len).ok()?.trunc()))
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

    /// Number of FIB routes.
    pub fn len(&self) -> usize {
        self.table.installed_len
    }

    pub fn is_empty(&self) -> bool {
        self.table.installed_len == 0
    }

    // -- internals ---------------------------------------------------------

    fn entry(&self, prefix: Ipv4Net, i: &Installed) -> RouteEntry {
        let nh = &self.ids.entries[i.id as usize];
        let port_name = |p: PortId| self.shared.ports.get(p as usize).map(|p| p.name.clone());
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
                    via: Some(*gw),
                }],
            ),
            NextHop::Multipath(m) => (
                "multipath",
                m.iter()
                    .map(|(p, gw)| RouteHop {
                        port: port_name(*p),
                        via: Some(*gw),
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

    fn add_base(
        &mut self,
        prefix: Ipv4Net,
        source: RouteSource,
        next_hop: NextHop,
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

    fn retain_base(&mut self, keep: impl Fn(&Candidate) -> bool) {
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
    fn base_changed(&mut self) {
        self.resolved.clear();
        self.pending.extend(self.table.bgp_prefixes());
    }

    fn intern_set(&mut self, hops: Box<[Ipv4Addr]>) -> u32 {
        if let Some(&id) = self.bgp_set_ids.get(&hops) {
            return id;
        }
        let id = self.bgp_sets.len() as u32;
        self.bgp_sets.push(hops.clone());
        self.bgp_set_ids.insert(hops, id);
        id
    }

    /// The best connected/static candidate of a prefix.
    fn best_base(&self, prefix: &Ipv4Net) -> Option<&Candidate> {
        self.base.get(prefix)?.iter().min_by_key(|c| c.distance)
    }

    /// Resolves one BGP next hop through connected and static routes.
    fn resolve_addr(&self, addr: Ipv4Addr) -> Vec<(PortId, Ipv4Addr)> {
        // Longest match among base routes, never the default route.
        for len in (1..=32u8).rev() {
            let Ok(net) = Ipv4Net::new(addr, len) else {
                continue;
            };
            let Some(c) = self.best_base(&net.trunc()) else {
                continue;
            };
            return match &c.next_hop {
                NextHop::Connected { port } => vec![(*port, addr)],
                NextHop::Gateway { port, gw } => vec![(*port, *gw)],
                NextHop::Multipath(m) => m.to_vec(),
                // Our own address, or a route that drops: not a usable next hop.
                NextHop::Local | NextHop::Blackhole | NextHop::Unreachable => vec![],
            };
        }
        vec![]
    }

    fn resolve_set(&mut self, set: u32) -> Option<NextHop> {
        if let Some(r) = self.resolved.get(&set) {
            return r.clone();
        }
        let mut members: Vec<(PortId, Ipv4Addr)> = self.bgp_sets[set as usize]
            .iter()
            .flat_map(|a| self.resolve_addr(*a))
            .collect();
        members.sort_unstable();
        members.dedup();
        members.truncate(MAX_MULTIPATH);
        let nh = multipath(members);
        self.resolved.insert(set, nh.clone());
        nh
    }

    /// The winning route of a prefix: (source, distance, next hop).
    fn select(&mut self, prefix: &Ipv4Net) -> Option<(RouteSource, u8, NextHop)> {
        let base = self
            .best_base(prefix)
            .map(|c| (c.source, c.distance, c.next_hop.clone()));
        let bgp = self.table.bgp(prefix);
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
    fn publish(&mut self) -> Result<usize, RouteError> {
        let now = Instant::now();
        let pending: Vec<Ipv4Net> = self.pending.drain().collect();
        let mut batch = Vec::with_capacity(pending.len());
        let mut released = Vec::new();
        let mut first_error = None;
        for prefix in pending {
            let want = self.select(&prefix);
            let have = self.table.installed(&prefix);
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
            self.shared.nexthops.store(Arc::new(NextHopTable {
                entries: self.ids.entries.clone(),
            }));
            self.ids.dirty = false;
        }
        let result = if batch.is_empty() {
            Ok(())
        } else {
            self.shared.fib.apply(&batch)
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

fn host(a: Ipv4Addr) -> Ipv4Net {
    Ipv4Net::new(a, 32).expect("/32 is valid")
}

/// One gateway → `Gateway`; several → `Multipath`; none → `None`.
fn multipath(mut members: Vec<(PortId, Ipv4Addr)>) -> Option<NextHop> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Gateway;
    use crate::ports::PortInfo;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn port(id: PortId, name: &str, addr: &str) -> PortInfo {
        PortInfo {
            id,
            name: name.into(),
            ifname: name.into(),
            ifindex: u32::from(id) + 10,
            mac: [2, 0, 0, 0, 0, id as u8],
            mtu: 1500,
            addrs: vec![net(addr)],
        }
    }

    /// The lab: eth0 10.0.2.15/24, eth1 192.168.10.200/24, eth2 192.168.20.200/24,
    /// loop1 10.10.1.200/24.
    fn lab() -> (Arc<Shared>, RouteManager) {
        let shared = Shared::new(
            vec![
                port(0, "eth0", "10.0.2.15/24"),
                port(1, "eth1", "192.168.10.200/24"),
                port(2, "eth2", "192.168.20.200/24"),
            ],
            1,
        );
        let mut rm = RouteManager::new(shared.clone());
        rm.set_connected(&[LoopbackConfig {
            name: "loop1".into(),
            addresses: vec![net("10.10.1.200/24")],
        }])
        .unwrap();
        rm.set_static(&[StaticRoute {
            prefix: net("0.0.0.0/0"),
            target: StaticTarget::Via(vec![Gateway {
                port: 0,
                addr: ip("10.0.2.2"),
            }]),
        }])
        .unwrap();
        (shared, rm)
    }

    /// What the published FIB + next-hop table say for `addr`.
    fn fib_lookup(shared: &Shared, addr: &str) -> Option<NextHop> {
        let id = shared.fib.load().lookup(ip(addr))?;
        Some(shared.nexthops.load().get(id).expect("id in table").clone())
    }

    fn announce(prefix: &str, hops: &[&str]) -> BgpRouteChange {
        BgpRouteChange::Announce {
            prefix: net(prefix),
            next_hops: hops.iter().map(|h| ip(h)).collect(),
            internal: false,
        }
    }

    #[test]
    fn connected_local_loopback_and_default() {
        let (shared, rm) = lab();
        assert_eq!(
            fib_lookup(&shared, "192.168.10.100"),
            Some(NextHop::Connected { port: 1 })
        );
        assert_eq!(fib_lookup(&shared, "192.168.10.200"), Some(NextHop::Local));
        assert_eq!(fib_lookup(&shared, "10.10.1.200"), Some(NextHop::Local));
        assert_eq!(fib_lookup(&shared, "10.10.1.7"), Some(NextHop::Unreachable));
        assert_eq!(
            fib_lookup(&shared, "172.20.2.36"),
            Some(NextHop::Gateway {
                port: 0,
                gw: ip("10.0.2.2")
            })
        );
        let routes = rm.routes();
        // 3 subnets + 3 locals, loop1 subnet + local, default.
        assert_eq!(routes.len(), 9);
        assert_eq!(routes[0].prefix, net("0.0.0.0/0"));
        assert_eq!(routes[0].source, RouteSource::Static);
        assert_eq!(
            routes[0].next_hops,
            vec![RouteHop {
                port: Some("eth0".into()),
                via: Some(ip("10.0.2.2"))
            }]
        );
        let l = rm.route(&net("10.10.1.200/32")).unwrap();
        assert_eq!(
            (l.source, l.kind, l.interface.as_deref()),
            (RouteSource::Local, "local", Some("loop1"))
        );
        assert_eq!(
            rm.lookup(ip("192.168.20.5")).unwrap().prefix,
            net("192.168.20.0/24")
        );
        let s = rm.summary();
        assert_eq!(
            (s.fib_routes, s.connected, s.local, s.static_routes, s.bgp),
            (9, 4, 4, 1, 0)
        );
    }

    #[test]
    fn preference_by_distance() {
        let (shared, mut rm) = lab();
        // eBGP and static for the same prefix: static (1) beats eBGP (20).
        rm.apply_bgp([announce("172.20.2.0/24", &["192.168.20.100"])])
            .unwrap();
        assert!(rm.bgp_installed(&net("172.20.2.0/24")));
        rm.set_static(&[StaticRoute {
            prefix: net("172.20.2.0/24"),
            target: StaticTarget::Via(vec![Gateway {
                port: 1,
                addr: ip("192.168.10.100"),
            }]),
        }])
        .unwrap();
        assert_eq!(
            fib_lookup(&shared, "172.20.2.1"),
            Some(NextHop::Gateway {
                port: 1,
                gw: ip("192.168.10.100")
            })
        );
        assert!(!rm.bgp_installed(&net("172.20.2.0/24")));
        assert_eq!(
            rm.route(&net("172.20.2.0/24")).unwrap().source,
            RouteSource::Static
        );
        // Static removed (and the default gone): BGP takes over again.
        rm.set_static(&[]).unwrap();
        assert_eq!(
            fib_lookup(&shared, "172.20.2.1"),
            Some(NextHop::Gateway {
                port: 2,
                gw: ip("192.168.20.100")
            })
        );
        assert_eq!(
            rm.route(&net("172.20.2.0/24")).unwrap().distance,
            DISTANCE_EBGP
        );
        // Withdrawn: nothing left (no default route either).
        let out = rm
            .apply_bgp([BgpRouteChange::Withdraw {
                prefix: net("172.20.2.0/24"),
            }])
            .unwrap();
        assert_eq!(out.withdrawn, 1);
        assert_eq!(fib_lookup(&shared, "172.20.2.1"), None);
    }

    #[test]
    fn ibgp_and_ebgp_distances() {
        let (_, mut rm) = lab();
        rm.apply_bgp([BgpRouteChange::Announce {
            prefix: net("172.16.0.0/16"),
            next_hops: vec![ip("192.168.10.1")],
            internal: true,
        }])
        .unwrap();
        assert_eq!(
            rm.route(&net("172.16.0.0/16")).unwrap().distance,
            DISTANCE_IBGP
        );
    }

    #[test]
    fn bgp_never_overrides_connected() {
        let (shared, mut rm) = lab();
        let out = rm
            .apply_bgp([
                announce("192.168.10.0/24", &["192.168.20.100"]),
                announce("192.168.10.128/25", &["192.168.20.100"]),
                announce("192.168.10.200/32", &["192.168.20.100"]),
                announce("10.10.1.0/24", &["192.168.20.100"]),
                // Less specific than a connected subnet is fine: LPM keeps the subnet.
                announce("192.168.0.0/16", &["192.168.20.100"]),
            ])
            .unwrap();
        assert_eq!(out.rejected.len(), 4, "{out:?}");
        assert!(matches!(out.rejected[0], BgpReject::Connected { .. }));
        assert_eq!(out.announced, 1);
        assert_eq!(
            fib_lookup(&shared, "192.168.10.130"),
            Some(NextHop::Connected { port: 1 })
        );
        assert_eq!(fib_lookup(&shared, "192.168.10.200"), Some(NextHop::Local));
        assert_eq!(
            fib_lookup(&shared, "192.168.30.1"),
            Some(NextHop::Gateway {
                port: 2,
                gw: ip("192.168.20.100")
            })
        );
        let bad = rm
            .apply_bgp([
                announce("172.20.0.1/24", &["192.168.10.100"]),
                announce("172.20.9.0/24", &[]),
            ])
            .unwrap();
        assert!(matches!(bad.rejected[0], BgpReject::HostBitsSet { .. }));
        assert!(matches!(bad.rejected[1], BgpReject::NoNextHop { .. }));
    }

    #[test]
    fn bgp_next_hop_resolution() {
        let (shared, mut rm) = lab();
        rm.set_static(&[
            StaticRoute {
                prefix: net("0.0.0.0/0"),
                target: StaticTarget::Via(vec![Gateway {
                    port: 0,
                    addr: ip("10.0.2.2"),
                }]),
            },
            // A next hop behind a static route: use that static's gateway.
            StaticRoute {
                prefix: net("10.99.0.0/16"),
                target: StaticTarget::Via(vec![Gateway {
                    port: 2,
                    addr: ip("192.168.20.1"),
                }]),
            },
        ])
        .unwrap();
        rm.apply_bgp([
            announce("172.20.0.0/24", &["192.168.10.100"]),
            announce("172.21.0.0/24", &["10.99.1.1"]),
            // Only resolvable via the default route: not installed (FRR's default).
            announce("172.22.0.0/24", &["8.8.8.8"]),
            // Our own address is no next hop.
            announce("172.23.0.0/24", &["192.168.10.200"]),
        ])
        .unwrap();
        assert_eq!(
            fib_lookup(&shared, "172.20.0.5"),
            Some(NextHop::Gateway {
                port: 1,
                gw: ip("192.168.10.100")
            })
        );
        assert_eq!(
            fib_lookup(&shared, "172.21.0.5"),
            Some(NextHop::Gateway {
                port: 2,
                gw: ip("192.168.20.1")
            })
        );
        // Not installed: the default route (static) answers for it.
        assert!(!rm.bgp_installed(&net("172.22.0.0/24")));
        assert!(!rm.bgp_installed(&net("172.23.0.0/24")));
        assert_eq!(rm.bgp_route_count(), 4);
        assert_eq!(
            rm.resolve_next_hop(ip("10.99.3.3")),
            Some(vec![(2, ip("192.168.20.1"))])
        );
        assert_eq!(rm.resolve_next_hop(ip("8.8.8.8")), None);
        // The static route behind 172.21/24 goes away: its BGP route is removed.
        rm.set_static(&[]).unwrap();
        assert!(!rm.bgp_installed(&net("172.21.0.0/24")));
        assert_eq!(fib_lookup(&shared, "172.21.0.5"), None);
        assert!(rm.bgp_installed(&net("172.20.0.0/24")));
    }

    #[test]
    fn ecmp_from_bgp_and_static() {
        let (shared, mut rm) = lab();
        rm.apply_bgp([announce(
            "172.16.1.1/32",
            &[
                "192.168.20.100",
                "192.168.10.101",
                "192.168.10.100",
                "192.168.10.100",
            ],
        )])
        .unwrap();
        let want = NextHop::Multipath(
            vec![
                (1, ip("192.168.10.100")),
                (1, ip("192.168.10.101")),
                (2, ip("192.168.20.100")),
            ]
            .into_boxed_slice(),
        );
        assert_eq!(fib_lookup(&shared, "172.16.1.1"), Some(want.clone()));
        let e = rm.route(&net("172.16.1.1/32")).unwrap();
        assert_eq!(e.kind, "multipath");
        assert_eq!(e.next_hops.len(), 3);
        assert_eq!(
            e.next_hops[2],
            RouteHop {
                port: Some("eth2".into()),
                via: Some(ip("192.168.20.100"))
            }
        );
        // A second route with the same next-hop set shares the id.
        rm.apply_bgp([announce(
            "172.16.1.2/32",
            &["192.168.10.100", "192.168.20.100", "192.168.10.101"],
        )])
        .unwrap();
        assert_eq!(
            rm.route(&net("172.16.1.2/32")).unwrap().nexthop_id,
            e.nexthop_id
        );
        // One member withdrawn by re-announcement: two members left.
        rm.apply_bgp([announce(
            "172.16.1.1/32",
            &["192.168.10.100", "192.168.20.100"],
        )])
        .unwrap();
        assert_eq!(rm.route(&net("172.16.1.1/32")).unwrap().next_hops.len(), 2);
        // Static ECMP.
        rm.set_static(&[StaticRoute {
            prefix: net("172.30.0.0/16"),
            target: StaticTarget::Via(vec![
                Gateway {
                    port: 2,
                    addr: ip("192.168.20.100"),
                },
                Gateway {
                    port: 1,
                    addr: ip("192.168.10.100"),
                },
            ]),
        }])
        .unwrap();
        assert!(
            matches!(fib_lookup(&shared, "172.30.1.1"), Some(NextHop::Multipath(m)) if m.len() == 2)
        );
    }

    #[test]
    fn next_hop_table_is_a_superset_and_ids_are_interned() {
        let (shared, mut rm) = lab();
        let before = shared.nexthops.load_full();
        rm.apply_bgp([
            announce("172.20.0.0/24", &["192.168.10.100"]),
            announce("172.20.1.0/24", &["192.168.10.101"]),
        ])
        .unwrap();
        let after = shared.nexthops.load_full();
        // Every old id keeps its meaning.
        assert!(after.entries.len() >= before.entries.len());
        assert_eq!(&after.entries[..before.entries.len()], &before.entries[..]);
        // Every FIB id resolves in the published table.
        for (_, id) in shared.fib.routes() {
            assert!(after.get(id).is_some(), "id {id}");
        }
        // Interned: equal next hops, equal ids; no duplicate values.
        let mut seen = HashSet::new();
        for e in after.entries.iter() {
            assert!(seen.insert(e.clone()), "duplicate {e:?}");
        }
        let a = rm.route(&net("172.20.0.0/24")).unwrap().nexthop_id;
        rm.apply_bgp([announce("172.20.5.0/24", &["192.168.10.100"])])
            .unwrap();
        assert_eq!(rm.route(&net("172.20.5.0/24")).unwrap().nexthop_id, a);
        // Withdraw everything using id `a`: the id is not reused at once, and
        // its slot keeps the old next hop for stale readers.
        rm.apply_bgp([
            BgpRouteChange::Withdraw {
                prefix: net("172.20.0.0/24"),
            },
            BgpRouteChange::Withdraw {
                prefix: net("172.20.5.0/24"),
            },
        ])
        .unwrap();
        rm.apply_bgp([announce("172.20.7.0/24", &["192.168.20.100"])])
            .unwrap();
        let table = shared.nexthops.load_full();
        assert_eq!(
            table.get(a),
            Some(&NextHop::Gateway {
                port: 1,
                gw: ip("192.168.10.100")
            })
        );
        assert_ne!(rm.route(&net("172.20.7.0/24")).unwrap().nexthop_id, a);
        // Needed again during the grace period: the same id comes back.
        rm.apply_bgp([announce("172.20.0.0/24", &["192.168.10.100"])])
            .unwrap();
        assert_eq!(rm.route(&net("172.20.0.0/24")).unwrap().nexthop_id, a);
    }

    #[test]
    fn rested_ids_are_reused_after_grace() {
        let mut ids = NextHopIds::default();
        let t0 = Instant::now();
        let a = ids.intern(&NextHop::Blackhole, 0, t0).unwrap();
        ids.acquire(a);
        ids.release(a, 1, t0);
        // Too early (publications and time).
        let b = ids.intern(&NextHop::Unreachable, 2, t0).unwrap();
        assert_ne!(a, b);
        let later = t0 + ID_REUSE_GRACE;
        let c = ids.intern(&NextHop::Local, 3, later).unwrap();
        assert_eq!(c, a, "rested id reused");
        ids.acquire(c);
        assert_eq!(ids.entries[a as usize], NextHop::Local);
        assert!(!ids.by_value.contains_key(&NextHop::Blackhole));
    }

    #[test]
    fn publication_is_batched_and_idempotent() {
        let (shared, mut rm) = lab();
        let changes: Vec<_> = (0..1000u32)
            .map(|i| {
                announce(
                    &format!("172.{}.{}.0/24", 16 + i / 256, i % 256),
                    &["192.168.10.100"],
                )
            })
            .collect();
        let out = rm.apply_bgp(changes.clone()).unwrap();
        assert_eq!(out.fib_changes, 1000);
        assert_eq!(shared.fib.load().len(), 9 + 1000);
        // The same announcements again change nothing.
        assert_eq!(rm.apply_bgp(changes).unwrap().fib_changes, 0);
        assert_eq!(rm.clear_bgp().unwrap(), 1000);
        assert_eq!(shared.fib.load().len(), 9);
    }

    #[test]
    fn handle_is_shareable() {
        let (_, rm) = lab();
        let h = rm.into_handle();
        let h2 = Arc::clone(&h);
        std::thread::spawn(move || {
            h2.lock()
                .unwrap()
                .apply_bgp([announce("172.20.0.0/24", &["192.168.10.100"])])
                .unwrap()
        })
        .join()
        .unwrap();
        assert!(h.lock().unwrap().bgp_installed(&net("172.20.0.0/24")));
    }
}
