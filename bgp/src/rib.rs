//! Adj-RIB-In and Loc-RIB with the RFC 4271 §9.1 decision process and
//! ECMP (`maximum-paths`, `as-path multipath-relax`).
//!
//! Layout (chosen for a million prefixes): one [`PrefixMap`] per family from
//! prefix to `Dest`; a `Dest` holds every peer's path for that prefix —
//! the union of all Adj-RIBs-In — inline when there is only one. Path
//! attributes are interned (`Arc<RouteAttrs>`), so the paths of one UPDATE
//! and identical announcements share one allocation. The next-hop set last
//! handed to the FIB is interned too and stored as a `u32` per prefix.
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::config::Family;
use crate::decision::{Candidate, DecisionProcess};
use crate::prefix_map::{Entry, MapKey, PrefixMap};

/// A next hop as the FIB side needs it: the address, and for a
/// link-local one the link it belongs to.
///
/// RFC 4291 §2.5.6: a link-local address is unique only on its link, so
/// fe80::1 learned on one session and fe80::1 on another are two
/// neighbours. RFC 2545 §3 sends one next to the global address when the
/// peers share a link, and FRR sends only its link-local where its link
/// has no global IPv6 address. `link` is the link of the session the path
/// came over ([`crate::session::Ipv6NextHop::link`]), `None` for every
/// other address (and for a link-local one from a peer on no known link,
/// which then resolves nowhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHopAddr {
    pub addr: IpAddr,
    pub link: Option<u32>,
}

impl NextHopAddr {
    /// A next hop that needs no link (global, IPv4, IPv4-mapped).
    pub fn global(addr: IpAddr) -> NextHopAddr {
        NextHopAddr { addr, link: None }
    }
}

impl From<IpAddr> for NextHopAddr {
    fn from(addr: IpAddr) -> NextHopAddr {
        NextHopAddr::global(addr)
    }
}

/// Whether `a` is IPv6 link-local unicast (fe80::/10, RFC 4291 §2.4).
pub fn is_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// A Loc-RIB change for the FIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChange {
    /// Install or replace the route; `next_hops` is sorted, deduplicated,
    /// non-empty (several = ECMP).
    Replace {
        prefix: IpNet,
        next_hops: Vec<NextHopAddr>,
    },
    Remove(IpNet),
}

pub use crate::decision::{PeerInfo, RouteAttrs, DEFAULT_LOCAL_PREF};

/// A Loc-RIB change as queued until the FIB side takes it: the prefix and
/// the id of the next-hop set now installed (0: none, a removal). 24
/// octets, where a [`RouteChange`] is 48 plus its next-hop list on the
/// heap; a session that goes down with a full table queues one per prefix,
/// so this is what bounds that transient. Set ids are never reused
/// (`Rib::nh_sets` only grows), so resolving one later gives the same set.
#[derive(Clone, Copy, Debug)]
struct QueuedChange {
    prefix: IpNet,
    set: u32,
}

/// Index of a peer in the speaker (stable while it has paths in the RIB).
/// 16 bits keep a path at 16 octets; 65535 peers is far beyond need.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u16);

/// FxHash for the RIB's hash maps: SipHash costs noticeably at a million
/// inserts, and the keys (attribute sets, next hops) cannot be chosen by a
/// peer in a way that matters more than the max-prefix limit bounds.
type FxBuild = rustc_hash::FxBuildHasher;

const F_STALE: u8 = 1;
const F_FILTERED: u8 = 2;
/// Removed in all but storage: its peer's session went down (or its stale
/// paths were purged) and the sweep has not reached it yet (see
/// [`Rib::remove_peer`]). The decision process, the views and the counters
/// already treat it as gone.
const F_DYING: u8 = 4;

/// The installed set of a prefix whose last queued change was dropped
/// (`Rib::drain_changes`): what the FIB holds for it is not known, so any
/// selection differs from it and is queued.
const UNKNOWN_SET: u32 = u32::MAX;

/// Keys the sweep of dying paths collects per step: it never lists more
/// than this many prefixes at once.
const SWEEP_STEP: usize = 8192;

/// Where the sweep of dying paths resumes in one family's map.
#[derive(Clone, Copy, Debug)]
enum Sweep<K> {
    /// Nothing to sweep in this family.
    Done,
    /// From the first key.
    Start,
    /// From this key, the first one with a dying path that the last step
    /// had no room to collect.
    From(K),
}

#[derive(Clone, Debug)]
pub struct Path {
    pub peer: PeerId,
    flags: u8,
    /// Only in a destination's lone inline path: the destination's
    /// installed next-hop set (see [`Dest::installed`]). It sits in what
    /// would be padding, which keeps a prefix entry at 16 + 5 octets
    /// instead of 24 + 5 (~8 MiB at a full table). 0 elsewhere.
    lone_installed: u32,
    pub attrs: Arc<RouteAttrs>,
}

impl Path {
    pub fn stale(&self) -> bool {
        self.flags & F_STALE != 0
    }
    pub fn filtered(&self) -> bool {
        self.flags & F_FILTERED != 0
    }
    fn dying(&self) -> bool {
        self.flags & F_DYING != 0
    }
}

/// Several paths of one destination, and its installed next-hop set.
#[derive(Clone, Debug)]
struct ManyPaths {
    paths: Vec<Path>,
    installed: u32,
}

/// One path inline (the common case), several on the heap. With the box
/// this is 16 octets (the `Arc` niche tells the variants apart), so a
/// prefix entry is 16 + the key in a [`PrefixMap`].
#[derive(Clone, Debug)]
enum Paths {
    One(Path),
    Many(Box<ManyPaths>),
}

#[derive(Clone, Debug)]
struct Dest {
    paths: Paths,
}

impl Dest {
    fn new(mut path: Path) -> Dest {
        path.lone_installed = 0;
        Dest {
            paths: Paths::One(path),
        }
    }

    fn paths(&self) -> &[Path] {
        match &self.paths {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(m) => &m.paths,
        }
    }

    /// Next-hop set last sent to the FIB (0 = none).
    fn installed(&self) -> u32 {
        match &self.paths {
            Paths::One(p) => p.lone_installed,
            Paths::Many(m) => m.installed,
        }
    }

    fn set_installed(&mut self, id: u32) {
        match &mut self.paths {
            Paths::One(p) => p.lone_installed = id,
            Paths::Many(m) => m.installed = id,
        }
    }

    /// Insert or replace the path of `peer`; the previous one if any. A
    /// replacement with the same route keeps the previous attribute set,
    /// and with it the time the path last changed.
    fn upsert(&mut self, mut path: Path) -> Option<Path> {
        path.lone_installed = 0;
        let keep_set = |old: &Path, new: &mut Path| {
            if !old.dying() && old.attrs.same_route(&new.attrs) {
                new.attrs = old.attrs.clone();
            }
        };
        match &mut self.paths {
            Paths::One(p) if p.peer == path.peer => {
                path.lone_installed = p.lone_installed;
                keep_set(p, &mut path);
                let mut old = std::mem::replace(p, path);
                old.lone_installed = 0;
                Some(old)
            }
            Paths::One(p) => {
                let mut first = p.clone();
                let installed = std::mem::take(&mut first.lone_installed);
                self.paths = Paths::Many(Box::new(ManyPaths {
                    paths: vec![first, path],
                    installed,
                }));
                None
            }
            Paths::Many(m) => match m.paths.iter_mut().find(|p| p.peer == path.peer) {
                Some(p) => {
                    keep_set(p, &mut path);
                    Some(std::mem::replace(p, path))
                }
                None => {
                    m.paths.push(path);
                    None
                }
            },
        }
    }

    /// Remove the path of `peer` matching `pred`; `Some(removed, now_empty)`.
    fn remove_if(&mut self, peer: PeerId, pred: impl Fn(&Path) -> bool) -> Option<(Path, bool)> {
        match &mut self.paths {
            Paths::One(p) => {
                if p.peer == peer && pred(p) {
                    let mut removed = p.clone();
                    removed.lone_installed = 0;
                    Some((removed, true))
                } else {
                    None
                }
            }
            Paths::Many(m) => {
                let i = m.paths.iter().position(|p| p.peer == peer && pred(p))?;
                let removed = m.paths.swap_remove(i);
                if m.paths.len() == 1 {
                    let mut only = m.paths.pop()?;
                    only.lone_installed = m.installed;
                    self.paths = Paths::One(only);
                }
                Some((removed, false))
            }
        }
    }

    fn path_mut(&mut self, peer: PeerId) -> Option<&mut Path> {
        match &mut self.paths {
            Paths::One(p) => (p.peer == peer).then_some(p),
            Paths::Many(m) => m.paths.iter_mut().find(|p| p.peer == peer),
        }
    }

    fn set_flags(&mut self, peer: PeerId, set: u8) -> bool {
        let mut hit = false;
        let update = |p: &mut Path| {
            if p.peer == peer {
                p.flags |= set;
                true
            } else {
                false
            }
        };
        match &mut self.paths {
            Paths::One(p) => hit |= update(p),
            Paths::Many(m) => {
                for p in m.paths.iter_mut() {
                    hit |= update(p);
                }
            }
        }
        hit
    }
}

/// Per-peer counters kept by the RIB.
#[derive(Clone, Debug, Default)]
pub struct PeerRibStats {
    /// Paths in the Adj-RIB-In (accepted + filtered).
    pub received: u64,
    /// Paths that passed the import filter.
    pub accepted: u64,
    pub stale: u64,
    /// `received` and `accepted` split by family, indexed by
    /// [`Family::index`] (they sum to the totals).
    pub by_family: [FamilyCounts; 2],
}

/// Prefix counts of one peer in one AFI/SAFI.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyCounts {
    pub received: u64,
    pub accepted: u64,
}

impl PeerRibStats {
    fn family(&mut self, prefix: &IpNet) -> &mut FamilyCounts {
        &mut self.by_family[Family::of(prefix).index()]
    }

    /// Counts `old`, the peer's path for `prefix`, out.
    fn path_removed(&mut self, prefix: &IpNet, old: &Path) {
        self.received = self.received.saturating_sub(1);
        let f = self.family(prefix);
        f.received = f.received.saturating_sub(1);
        if !old.filtered() {
            self.accepted = self.accepted.saturating_sub(1);
            let f = self.family(prefix);
            f.accepted = f.accepted.saturating_sub(1);
        }
        if old.stale() {
            self.stale = self.stale.saturating_sub(1);
        }
    }
}

/// What re-running the import filter over one peer's Adj-RIB-In changed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Refiltered {
    /// Paths that passed before and are now rejected.
    pub now_filtered: usize,
    /// Paths that were rejected before and now pass.
    pub now_accepted: usize,
}

/// Result of announcing one path.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Announced {
    New,
    Replaced,
}

pub struct Rib {
    v4: PrefixMap<Ipv4Net, Dest>,
    v6: PrefixMap<Ipv6Net, Dest>,
    interned: HashSet<Arc<RouteAttrs>, FxBuild>,
    nh_sets: Vec<Arc<[NextHopAddr]>>,
    nh_set_ids: HashMap<Arc<[NextHopAddr]>, u32, FxBuild>,
    nh_reach: HashMap<NextHopAddr, bool, FxBuild>,
    resolver: Option<Box<dyn Fn(NextHopAddr) -> bool + Send>>,
    peers: Vec<Option<PeerInfo>>,
    stats: Vec<PeerRibStats>,
    decision: DecisionProcess,
    changes: VecDeque<QueuedChange>,
    /// Paths marked [`F_DYING`] and not yet swept.
    dying: usize,
    sweep4: Sweep<Ipv4Net>,
    sweep6: Sweep<Ipv6Net>,
    interned_since_gc: usize,
    /// Last single-next-hop set looked up (fast path of `reselect`).
    last_single: Option<(NextHopAddr, u32)>,
}

impl Rib {
    pub fn new(local_as: u32, maximum_paths: u8, multipath_relax: bool) -> Rib {
        Rib {
            v4: PrefixMap::default(),
            v6: PrefixMap::default(),
            interned: HashSet::default(),
            // Id 0 is "nothing installed".
            nh_sets: vec![Arc::from(Vec::new())],
            nh_set_ids: HashMap::default(),
            nh_reach: HashMap::default(),
            resolver: None,
            peers: Vec::new(),
            stats: Vec::new(),
            decision: DecisionProcess::new(local_as, maximum_paths, multipath_relax),
            changes: VecDeque::new(),
            dying: 0,
            sweep4: Sweep::Done,
            sweep6: Sweep::Done,
            interned_since_gc: 0,
            last_single: None,
        }
    }

    pub fn set_peer_info(&mut self, peer: PeerId, info: PeerInfo) {
        let i = peer.0 as usize;
        if self.peers.len() <= i {
            self.peers.resize(i + 1, None);
            self.stats.resize(i + 1, PeerRibStats::default());
        }
        self.peers[i] = Some(info);
    }

    pub fn peer_info(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.peers.get(peer.0 as usize).and_then(Option::as_ref)
    }

    pub fn stats(&self, peer: PeerId) -> PeerRibStats {
        self.stats.get(peer.0 as usize).cloned().unwrap_or_default()
    }

    fn stats_mut(&mut self, peer: PeerId) -> &mut PeerRibStats {
        let i = peer.0 as usize;
        if self.stats.len() <= i {
            self.stats.resize(i + 1, PeerRibStats::default());
            self.peers.resize(i + 1, None);
        }
        &mut self.stats[i]
    }

    pub fn prefix_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Install the next-hop resolver; call `revalidate_nexthops` after it
    /// so paths learned before are re-judged (the cache keeps the old
    /// verdicts to compare against).
    pub fn set_resolver(&mut self, r: Box<dyn Fn(NextHopAddr) -> bool + Send>) {
        self.resolver = Some(r);
    }

    pub fn take_changes(&mut self) -> Vec<RouteChange> {
        self.take_changes_upto(usize::MAX)
    }

    /// The oldest `max` queued changes, in order (a prefix changed twice
    /// appears twice; the later one holds), then, room permitting, those
    /// of the dying paths the sweep removes meanwhile.
    pub fn take_changes_upto(&mut self, max: usize) -> Vec<RouteChange> {
        // What is queued first, then what the sweep of dying paths adds:
        // a change queued for a prefix whose path has since died is
        // dropped on the way, and the sweep sends that prefix's final
        // state instead (see `drain_changes`).
        let mut out = Vec::with_capacity(max.min(self.changes.len()));
        self.drain_changes(max, &mut out);
        if out.len() < max && self.dying > 0 {
            self.sweep_dying(max - out.len());
            self.drain_changes(max, &mut out);
        }
        // After a full table's worth, give the memory back rather than
        // keep it for batches that are usually a few thousand.
        if self.changes.is_empty() && self.changes.capacity() > 1 << 16 {
            self.changes = VecDeque::new();
        }
        out
    }

    /// Moves queued changes into `out` until it holds `max`.
    ///
    /// While paths are dying, a change for a prefix that holds one is
    /// dropped, and the prefix's installed set becomes [`UNKNOWN_SET`], so
    /// the sweep that removes the path always queues what the FIB must end
    /// with. That nets out the routes a session announced in its last
    /// moments (a peer past its `max_prefix`): they never reach the FIB
    /// only to leave it again.
    fn drain_changes(&mut self, max: usize, out: &mut Vec<RouteChange>) {
        while out.len() < max {
            let Some(c) = self.changes.pop_front() else {
                break;
            };
            if self.dying > 0 && self.forget_if_dying(c.prefix) {
                continue;
            }
            out.push(match c.set {
                0 => RouteChange::Remove(c.prefix),
                id => RouteChange::Replace {
                    prefix: c.prefix,
                    next_hops: self.nh_sets[id as usize].to_vec(),
                },
            });
        }
    }

    /// If `prefix` holds a dying path, marks its installed set unknown;
    /// whether it did.
    fn forget_if_dying(&mut self, prefix: IpNet) -> bool {
        let dying = |d: &mut Dest| {
            let hit = d.paths().iter().any(Path::dying);
            if hit {
                d.set_installed(UNKNOWN_SET);
            }
            hit
        };
        match prefix {
            IpNet::V4(p) => self.v4.get_mut(&p).is_some_and(dying),
            IpNet::V6(p) => self.v6.get_mut(&p).is_some_and(dying),
        }
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || self.dying > 0
    }

    /// Whether removed paths wait to be swept (a session went down or its
    /// stale paths were purged, and not every change has been taken).
    pub fn sweeping(&self) -> bool {
        self.dying > 0
    }

    /// Share identical attribute sets.
    pub fn intern(&mut self, a: RouteAttrs) -> Arc<RouteAttrs> {
        if let Some(x) = self.interned.get(&a) {
            return x.clone();
        }
        let arc = Arc::new(a);
        self.interned.insert(arc.clone());
        self.interned_since_gc += 1;
        if self.interned_since_gc > 4096 && self.interned_since_gc > self.interned.len() / 2 {
            self.gc_interned();
        }
        arc
    }

    /// Drop interned sets no path uses any more.
    pub fn gc_interned(&mut self) {
        self.interned.retain(|a| Arc::strong_count(a) > 1);
        self.interned_since_gc = 0;
    }

    fn reachable(&mut self, nh: NextHopAddr) -> bool {
        if let Some(&r) = self.nh_reach.get(&nh) {
            return r;
        }
        let r = self.resolver.as_ref().is_none_or(|f| f(nh));
        self.nh_reach.insert(nh, r);
        r
    }

    pub fn nexthop_reachable(&self, nh: NextHopAddr) -> bool {
        self.nh_reach.get(&nh).copied().unwrap_or(true)
    }

    /// The next hop of a path from `peer`: its address, scoped to the
    /// peer's link when link-local.
    fn next_hop_from(&self, peer: PeerId, addr: IpAddr) -> NextHopAddr {
        let link = if is_link_local(&addr) {
            self.peer_info(peer).and_then(|i| i.link)
        } else {
            None
        };
        NextHopAddr { addr, link }
    }

    /// The next hop of a stored path.
    pub fn path_next_hop(&self, p: &Path) -> NextHopAddr {
        self.next_hop_from(p.peer, p.attrs.next_hop)
    }

    /// Add or replace `peer`'s path for `prefix`.
    pub fn announce(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        attrs: Arc<RouteAttrs>,
        filtered: bool,
    ) -> Announced {
        self.reachable(self.next_hop_from(peer, attrs.next_hop));
        let path = Path {
            peer,
            flags: if filtered { F_FILTERED } else { 0 },
            lone_installed: 0,
            attrs,
        };
        let old = match prefix {
            IpNet::V4(p) => upsert(&mut self.v4, p, path),
            IpNet::V6(p) => upsert(&mut self.v6, p, path),
        };
        // A dying path was counted out when it was marked: the new one is
        // new (a session that came back before the sweep reached it).
        let old = match old {
            Some(o) if o.dying() => {
                self.dying = self.dying.saturating_sub(1);
                None
            }
            o => o,
        };
        let st = self.stats_mut(peer);
        match &old {
            Some(o) => {
                if o.stale() {
                    st.stale = st.stale.saturating_sub(1);
                }
                if !o.filtered() {
                    st.accepted = st.accepted.saturating_sub(1);
                    let f = st.family(&prefix);
                    f.accepted = f.accepted.saturating_sub(1);
                }
            }
            None => {
                st.received += 1;
                st.family(&prefix).received += 1;
            }
        }
        if !filtered {
            st.accepted += 1;
            st.family(&prefix).accepted += 1;
        }
        self.reselect(prefix);
        if old.is_some() {
            Announced::Replaced
        } else {
            Announced::New
        }
    }

    /// Remove `peer`'s path for `prefix`; whether there was one.
    pub fn withdraw(&mut self, peer: PeerId, prefix: IpNet) -> bool {
        match self.remove_where(peer, prefix, |p| !p.dying()) {
            Some(old) => {
                self.stats_mut(peer).path_removed(&prefix, &old);
                true
            }
            None => false,
        }
    }

    /// Removes `peer`'s path for `prefix` if `pred` holds for it, and
    /// reselects or queues the removal; the path removed. The caller
    /// counts it out of the peer's stats (a dying path already was).
    fn remove_where(
        &mut self,
        peer: PeerId,
        prefix: IpNet,
        pred: impl Fn(&Path) -> bool,
    ) -> Option<Path> {
        let removed = match prefix {
            IpNet::V4(p) => remove(&mut self.v4, p, peer, pred),
            IpNet::V6(p) => remove(&mut self.v6, p, peer, pred),
        };
        let old = match removed? {
            Removed::Others(old) => {
                self.reselect(prefix);
                old
            }
            Removed::Last(old, installed) => {
                if installed {
                    self.changes.push_back(QueuedChange { prefix, set: 0 });
                }
                old
            }
        };
        Some(old)
    }

    /// Remove all paths of `peer` (optionally one family); the count.
    ///
    /// The paths are marked dying here, in one pass that lists nothing:
    /// from now on the decision process, the views and the peer's counters
    /// treat them as gone. Storage and the FIB follow as the route changes
    /// are taken ([`Rib::take_changes_upto`]): each take sweeps only as
    /// many prefixes as it returns changes for. A session that goes down
    /// with a full table (or a max-prefix teardown) so never holds a list
    /// of its prefixes plus a queue of all their removals at once (~1.8 and
    /// ~2.4 MiB at 100k prefixes).
    pub fn remove_peer(&mut self, peer: PeerId, family: Option<Family>) -> usize {
        let n = self.mark_dying(peer, family, false);
        if family.is_none() {
            *self.stats_mut(peer) = PeerRibStats::default();
        }
        n
    }

    /// Marks `peer`'s live paths of `family` (or all), only the stale ones
    /// if asked, dying: counted out of its stats and left to the sweep.
    fn mark_dying(&mut self, peer: PeerId, family: Option<Family>, only_stale: bool) -> usize {
        self.stats_mut(peer);
        let st = &mut self.stats[peer.0 as usize];
        let mut n = 0;
        if family.is_none_or(|f| f == Family::Ipv4Unicast) {
            let m = mark(&mut self.v4, IpNet::V4, peer, only_stale, st);
            if m > 0 {
                self.sweep4 = Sweep::Start;
            }
            n += m;
        }
        if family.is_none_or(|f| f == Family::Ipv6Unicast) {
            let m = mark(&mut self.v6, IpNet::V6, peer, only_stale, st);
            if m > 0 {
                self.sweep6 = Sweep::Start;
            }
            n += m;
        }
        self.dying += n;
        n
    }

    /// Removes dying paths until `max` changes are queued or none is left.
    /// Each round either removes at least one path or ends a family's
    /// sweep, so this ends.
    fn sweep_dying(&mut self, max: usize) {
        let mut keys = Vec::new();
        while self.dying > 0 && self.changes.len() < max {
            let budget = (max - self.changes.len()).min(SWEEP_STEP);
            keys.clear();
            if !matches!(self.sweep4, Sweep::Done) {
                self.sweep4 = collect_dying(&self.v4, self.sweep4, budget, IpNet::V4, &mut keys);
            } else if !matches!(self.sweep6, Sweep::Done) {
                self.sweep6 = collect_dying(&self.v6, self.sweep6, budget, IpNet::V6, &mut keys);
            } else {
                debug_assert_eq!(self.dying, 0, "dying paths the sweep cannot find");
                self.dying = 0;
                break;
            }
            for &prefix in &keys {
                while let Some(peer) = self
                    .dest(&prefix)
                    .and_then(|d| d.paths().iter().find(|p| p.dying()))
                    .map(|p| p.peer)
                {
                    if self.remove_where(peer, prefix, Path::dying).is_none() {
                        break;
                    }
                    self.dying = self.dying.saturating_sub(1);
                }
            }
        }
    }

    /// RFC 4724 §4.2: mark `peer`'s paths of `family` stale.
    pub fn mark_stale(&mut self, peer: PeerId, family: Family) -> usize {
        let mut n = 0;
        match family {
            Family::Ipv4Unicast => {
                for d in self.v4.values_mut() {
                    if d.paths()
                        .iter()
                        .any(|p| p.peer == peer && !p.stale() && !p.dying())
                        && d.set_flags(peer, F_STALE)
                    {
                        n += 1;
                    }
                }
            }
            Family::Ipv6Unicast => {
                for d in self.v6.values_mut() {
                    if d.paths()
                        .iter()
                        .any(|p| p.peer == peer && !p.stale() && !p.dying())
                        && d.set_flags(peer, F_STALE)
                    {
                        n += 1;
                    }
                }
            }
        }
        self.stats_mut(peer).stale += n as u64;
        n
    }

    /// Remove `peer`'s stale paths (of one family or all); the count.
    /// Like [`Rib::remove_peer`], the paths are marked and swept later.
    pub fn purge_stale(&mut self, peer: PeerId, family: Option<Family>) -> usize {
        self.mark_dying(peer, family, true)
    }

    /// Re-run an import filter over `peer`'s Adj-RIB-In (stale paths
    /// included): `rejects(prefix)` says whether the path is now filtered.
    /// Paths whose verdict changed flip their flag and the counters follow;
    /// their prefixes are appended to `pending`, for
    /// [`Rib::reselect_prefixes`] once every peer's filter has run (so a
    /// filter change on several peers yields one route change per prefix).
    /// The paths themselves are not touched: rejected paths were always
    /// kept, so nothing has to be re-learned from the peer; the only
    /// allocation is that list of changed prefixes.
    pub fn refilter(
        &mut self,
        peer: PeerId,
        rejects: impl Fn(&IpNet) -> bool,
        pending: &mut Vec<IpNet>,
    ) -> Refiltered {
        self.stats_mut(peer);
        let st = &mut self.stats[peer.0 as usize];
        let mut out = Refiltered::default();
        let mut visit = |prefix: IpNet, d: &mut Dest| {
            let Some(p) = d.path_mut(peer).filter(|p| !p.dying()) else {
                return;
            };
            let filtered = rejects(&prefix);
            if filtered == p.filtered() {
                return;
            }
            p.flags ^= F_FILTERED;
            if filtered {
                out.now_filtered += 1;
                st.accepted = st.accepted.saturating_sub(1);
                let f = st.family(&prefix);
                f.accepted = f.accepted.saturating_sub(1);
            } else {
                out.now_accepted += 1;
                st.accepted += 1;
                st.family(&prefix).accepted += 1;
            }
            pending.push(prefix);
        };
        for (k, d) in self.v4.iter_mut() {
            visit(IpNet::V4(*k), d);
        }
        for (k, d) in self.v6.iter_mut() {
            visit(IpNet::V6(*k), d);
        }
        out
    }

    /// Run the decision process for these prefixes (sorted, deduplicated
    /// first), queuing route changes.
    pub fn reselect_prefixes(&mut self, mut prefixes: Vec<IpNet>) {
        prefixes.sort_unstable();
        prefixes.dedup();
        for p in prefixes {
            self.reselect(p);
        }
    }

    /// New decision-process parameters (local AS, `maximum_paths`,
    /// `multipath_relax`); every prefix is reselected and the next-hop sets
    /// that differ are queued as route changes.
    pub fn set_decision(&mut self, local_as: u32, maximum_paths: u8, multipath_relax: bool) {
        self.decision = DecisionProcess::new(local_as, maximum_paths, multipath_relax);
        for p in self.prefixes() {
            self.reselect(p);
        }
    }

    /// Re-ask the resolver about every known next hop and reselect the
    /// prefixes whose paths use one that changed.
    pub fn revalidate_nexthops(&mut self) {
        let Some(res) = self.resolver.as_ref() else {
            return;
        };
        let changed: HashSet<NextHopAddr> = self
            .nh_reach
            .iter_mut()
            .filter_map(|(nh, r)| {
                let now = res(*nh);
                (now != *r).then(|| {
                    *r = now;
                    *nh
                })
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        let uses = |d: &Dest| {
            d.paths()
                .iter()
                .any(|p| changed.contains(&self.path_next_hop(p)))
        };
        let mut prefixes: Vec<IpNet> = self
            .v4
            .iter()
            .filter(|(_, d)| uses(d))
            .map(|(k, _)| IpNet::V4(*k))
            .collect();
        prefixes.extend(
            self.v6
                .iter()
                .filter(|(_, d)| uses(d))
                .map(|(k, _)| IpNet::V6(*k)),
        );
        for p in prefixes {
            self.reselect(p);
        }
    }

    fn dest(&self, prefix: &IpNet) -> Option<&Dest> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    /// Run the decision process for `prefix` and queue a FIB change if the
    /// selected next-hop set differs from the installed one.
    fn reselect(&mut self, prefix: IpNet) {
        enum Selected {
            Single(Option<NextHopAddr>),
            Multi(Vec<NextHopAddr>),
        }
        let (old_id, sel) = match self.dest(&prefix) {
            None => return,
            Some(d) => match d.paths() {
                // Fast path (the common case at a million prefixes): one
                // path, no allocation, the next-hop set id cached.
                [only] => (
                    d.installed(),
                    Selected::Single(self.eligible(only).then(|| self.path_next_hop(only))),
                ),
                paths => (
                    d.installed(),
                    Selected::Multi(self.selected_next_hops(paths)),
                ),
            },
        };
        let new_id = match sel {
            Selected::Single(None) => 0,
            Selected::Single(Some(nh)) => self.single_nh_set_id(nh),
            Selected::Multi(v) if v.is_empty() => 0,
            Selected::Multi(v) => self.nh_set_id(v),
        };
        if new_id == old_id {
            return;
        }
        match prefix {
            IpNet::V4(p) => {
                if let Some(d) = self.v4.get_mut(&p) {
                    d.set_installed(new_id);
                }
            }
            IpNet::V6(p) => {
                if let Some(d) = self.v6.get_mut(&p) {
                    d.set_installed(new_id);
                }
            }
        }
        self.changes.push_back(QueuedChange {
            prefix,
            set: new_id,
        });
    }

    fn single_nh_set_id(&mut self, nh: NextHopAddr) -> u32 {
        if let Some((cached, id)) = self.last_single {
            if cached == nh {
                return id;
            }
        }
        let id = self.nh_set_id(vec![nh]);
        self.last_single = Some((nh, id));
        id
    }

    fn nh_set_id(&mut self, nhs: Vec<NextHopAddr>) -> u32 {
        if let Some(&id) = self.nh_set_ids.get(nhs.as_slice()) {
            return id;
        }
        let arc: Arc<[NextHopAddr]> = Arc::from(nhs);
        let id = u32::try_from(self.nh_sets.len()).unwrap_or(u32::MAX);
        self.nh_sets.push(arc.clone());
        self.nh_set_ids.insert(arc, id);
        id
    }

    /// The decision process's view of one stored path.
    fn candidate<'a>(&'a self, p: &'a Path) -> Candidate<'a> {
        Candidate {
            attrs: &p.attrs,
            peer: self.peer_info(p.peer),
            stale: p.stale(),
            // A dying path is gone for the decision process.
            filtered: p.filtered() || p.dying(),
            nexthop_reachable: self.nexthop_reachable(self.path_next_hop(p)),
        }
    }

    fn eligible(&self, p: &Path) -> bool {
        self.decision.eligible(&self.candidate(p))
    }

    /// Indices (into `paths`) of the best path followed by the other
    /// multipaths, best first. Empty when nothing is eligible.
    pub fn select(&self, paths: &[Path]) -> Vec<usize> {
        self.decision.select(paths, |p| self.candidate(p))
    }

    /// Full RFC 4271 §9.1.2.2 order of two stored paths; `Less` = `a` is better.
    pub fn compare(&self, a: &Path, b: &Path) -> Ordering {
        self.decision
            .compare(&self.candidate(a), &self.candidate(b))
    }

    fn selected_next_hops(&self, paths: &[Path]) -> Vec<NextHopAddr> {
        let sel = self.select(paths);
        let mut nhs: Vec<NextHopAddr> =
            sel.iter().map(|&i| self.path_next_hop(&paths[i])).collect();
        nhs.sort();
        nhs.dedup();
        nhs
    }

    /// Paths of `prefix` with (best, multipath) marks; for the views.
    pub fn paths_of(&self, prefix: &IpNet) -> Vec<(Path, bool, bool)> {
        let Some(d) = self.dest(prefix) else {
            return Vec::new();
        };
        let sel = self.select(d.paths());
        d.paths()
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.dying())
            .map(|(i, p)| {
                (
                    p.clone(),
                    sel.first() == Some(&i),
                    sel.len() > 1 && sel.contains(&i),
                )
            })
            .collect()
    }

    /// All prefixes, sorted.
    pub fn prefixes(&self) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = self
            .v4
            .keys()
            .map(|k| IpNet::V4(*k))
            .chain(self.v6.keys().map(|k| IpNet::V6(*k)))
            .collect();
        v.sort();
        v
    }

    pub fn contains(&self, prefix: &IpNet) -> bool {
        self.dest(prefix).is_some()
    }

    /// The next hops currently installed for `prefix`.
    pub fn installed(&self, prefix: &IpNet) -> Vec<NextHopAddr> {
        self.dest(prefix)
            .and_then(|d| self.nh_sets.get(d.installed() as usize))
            .map(|set| set.to_vec())
            .unwrap_or_default()
    }
}

fn upsert<K: MapKey>(map: &mut PrefixMap<K, Dest>, key: K, path: Path) -> Option<Path> {
    match map.entry(key) {
        Entry::Occupied(d) => d.upsert(path),
        Entry::Vacant(e) => {
            e.insert(Dest::new(path));
            None
        }
    }
}

/// Marks `peer`'s live paths in `map` (only the stale ones if asked) dying
/// and counts them out of `st`; how many.
fn mark<K: MapKey>(
    map: &mut PrefixMap<K, Dest>,
    net: impl Fn(K) -> IpNet,
    peer: PeerId,
    only_stale: bool,
    st: &mut PeerRibStats,
) -> usize {
    let mut n = 0;
    for (k, d) in map.iter_mut() {
        if let Some(p) = d.path_mut(peer) {
            if !p.dying() && (!only_stale || p.stale()) {
                p.flags |= F_DYING;
                st.path_removed(&net(*k), p);
                n += 1;
            }
        }
    }
    n
}

/// Appends to `out` the keys with a dying path, from `at` on, until
/// `budget` are found; where the next step resumes.
fn collect_dying<K: MapKey>(
    map: &PrefixMap<K, Dest>,
    at: Sweep<K>,
    budget: usize,
    net: impl Fn(K) -> IpNet,
    out: &mut Vec<IpNet>,
) -> Sweep<K> {
    let mut visit = |it: &mut dyn Iterator<Item = (&K, &Dest)>| {
        for (k, d) in it {
            if d.paths().iter().any(Path::dying) {
                if out.len() == budget {
                    return Sweep::From(*k);
                }
                out.push(net(*k));
            }
        }
        Sweep::Done
    };
    match at {
        Sweep::Done => Sweep::Done,
        Sweep::Start => visit(&mut map.iter()),
        Sweep::From(k) => visit(&mut map.range_from(&k)),
    }
}

/// What removing a path left behind.
enum Removed {
    /// Other paths remain: the prefix needs a new selection.
    Others(Path),
    /// It was the last path; the entry is gone. `true` if a FIB route was
    /// installed for it (a `Remove` must be emitted).
    Last(Path, bool),
}

fn remove<K: MapKey>(
    map: &mut PrefixMap<K, Dest>,
    key: K,
    peer: PeerId,
    pred: impl Fn(&Path) -> bool,
) -> Option<Removed> {
    map.modify(&key, |d| match d.remove_if(peer, pred) {
        Some((removed, true)) => (Some(Removed::Last(removed, d.installed() != 0)), true),
        Some((removed, false)) => (Some(Removed::Others(removed)), false),
        None => (None, false),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;
    use crate::wire::{AsPath, Origin, PathAttributes};
    use std::net::Ipv4Addr;

    fn attrs(
        rib: &mut Rib,
        nh: &str,
        path: &[u32],
        f: impl FnOnce(&mut PathAttributes),
    ) -> Arc<RouteAttrs> {
        let mut a = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(path.to_vec())),
            next_hop: None,
            ..Default::default()
        };
        f(&mut a);
        rib.intern(RouteAttrs {
            attrs: a,
            next_hop: nh.parse().unwrap(),
            link_local: None,
            received: Instant::ZERO,
        })
    }

    fn rib_with_peers(n: u16, max_paths: u8, relax: bool) -> Rib {
        let mut rib = Rib::new(65000, max_paths, relax);
        for i in 0..n {
            rib.set_peer_info(
                PeerId(i),
                PeerInfo {
                    address: format!("192.168.10.{}", 100 + i).parse().unwrap(),
                    router_id: Ipv4Addr::new(10, 0, 0, 10 - i as u8),
                    asn: 65001,
                    ebgp: true,
                    link: None,
                },
            );
        }
        rib
    }

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// A global next hop (no link).
    fn nh(s: &str) -> NextHopAddr {
        NextHopAddr::global(s.parse().unwrap())
    }

    #[test]
    fn compact_layout() {
        assert_eq!(std::mem::size_of::<Path>(), 16);
        assert_eq!(std::mem::size_of::<Paths>(), 16);
        // The installed set id rides in the lone path's padding; the
        // PrefixMap stores keys apart, so an IPv4 entry is 16 + 5 octets.
        assert_eq!(std::mem::size_of::<Dest>(), 16);
    }

    #[test]
    fn ecmp_with_relax() {
        let mut rib = rib_with_peers(3, 4, true);
        let pre = p("172.16.1.1/32");
        let a0 = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        let a1 = attrs(&mut rib, "192.168.10.101", &[65002], |_| {});
        rib.announce(PeerId(0), pre, a0, false);
        rib.announce(PeerId(1), pre, a1, false);
        let ch = rib.take_changes();
        assert_eq!(
            ch.last().unwrap(),
            &RouteChange::Replace {
                prefix: pre,
                next_hops: vec![nh("192.168.10.100"), nh("192.168.10.101")]
            }
        );
        // Without relax the different AS paths are not multipath.
        let mut strict = rib_with_peers(3, 4, false);
        let a0 = attrs(&mut strict, "192.168.10.100", &[65001], |_| {});
        let a1 = attrs(&mut strict, "192.168.10.101", &[65002], |_| {});
        strict.announce(PeerId(0), pre, a0, false);
        strict.announce(PeerId(1), pre, a1, false);
        // Peer 1 has the lower router id (10.0.0.9) and wins alone.
        assert_eq!(strict.installed(&pre), vec![nh("192.168.10.101")]);
        // Longer path is not multipath even with relax.
        let a2 = attrs(&mut rib, "192.168.10.102", &[65003, 65004], |_| {});
        rib.announce(PeerId(2), pre, a2, false);
        assert_eq!(rib.installed(&pre).len(), 2);
        assert!(rib.take_changes().is_empty());
        // Withdraw one: single next hop.
        rib.withdraw(PeerId(0), pre);
        assert_eq!(
            rib.take_changes(),
            vec![RouteChange::Replace {
                prefix: pre,
                next_hops: vec![nh("192.168.10.101")]
            }]
        );
        rib.withdraw(PeerId(1), pre);
        rib.withdraw(PeerId(2), pre);
        assert_eq!(
            rib.take_changes(),
            vec![
                RouteChange::Replace {
                    prefix: pre,
                    next_hops: vec![nh("192.168.10.102")]
                },
                RouteChange::Remove(pre)
            ]
        );
        assert!(!rib.contains(&pre));
    }

    #[test]
    fn maximum_paths_caps_ecmp() {
        let mut rib = rib_with_peers(3, 2, true);
        let pre = p("172.16.1.1/32");
        for i in 0..3 {
            let a = attrs(
                &mut rib,
                &format!("192.168.10.{}", 100 + i),
                &[65001],
                |_| {},
            );
            rib.announce(PeerId(i), pre, a, false);
        }
        // Best = lowest router id (peer 2, then peer 1).
        assert_eq!(
            rib.installed(&pre),
            vec![nh("192.168.10.101"), nh("192.168.10.102")]
        );
    }

    #[test]
    fn decision_steps() {
        let pre = p("10.0.0.0/8");
        // Each case: (better, worse) attribute tweaks, with peer 0 = worse router id.
        type Tweak = fn(&mut PathAttributes);
        type Case = (&'static str, Vec<u32>, Tweak, Vec<u32>, Tweak);
        let cases: Vec<Case> = vec![
            (
                "local_pref",
                vec![65001, 1],
                |a| a.local_pref = Some(200),
                vec![65001],
                |_| {},
            ),
            ("as_path", vec![65001], |_| {}, vec![65001, 2], |_| {}),
            (
                "origin",
                vec![65001],
                |_| {},
                vec![65001],
                |a| a.origin = Some(Origin::Incomplete),
            ),
            (
                "med",
                vec![65001],
                |a| a.med = Some(1),
                vec![65001],
                |a| a.med = Some(5),
            ),
        ];
        for (name, better_path, better, worse_path, worse) in cases {
            let mut rib = rib_with_peers(2, 1, false);
            // Peer 1 has the better router id; give peer 0 the better attributes.
            let a = attrs(&mut rib, "192.168.10.100", &better_path, better);
            let b = attrs(&mut rib, "192.168.10.101", &worse_path, worse);
            rib.announce(PeerId(0), pre, a, false);
            rib.announce(PeerId(1), pre, b, false);
            assert_eq!(
                rib.installed(&pre),
                vec![nh("192.168.10.100")],
                "step {name}"
            );
        }
        // MED is not compared across neighbour ASes: router id decides.
        let mut rib = rib_with_peers(2, 1, false);
        let a = attrs(&mut rib, "192.168.10.100", &[65001], |a| a.med = Some(1));
        let b = attrs(&mut rib, "192.168.10.101", &[65002], |a| a.med = Some(5));
        rib.announce(PeerId(0), pre, a, false);
        rib.announce(PeerId(1), pre, b, false);
        assert_eq!(rib.installed(&pre), vec![nh("192.168.10.101")]);
        // eBGP over iBGP.
        let mut rib = rib_with_peers(2, 1, false);
        let mut info = rib.peer_info(PeerId(1)).unwrap().clone();
        info.ebgp = false;
        rib.set_peer_info(PeerId(1), info);
        let a = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        let b = attrs(&mut rib, "192.168.10.101", &[65001], |_| {});
        rib.announce(PeerId(0), pre, a, false);
        rib.announce(PeerId(1), pre, b, false);
        assert_eq!(rib.installed(&pre), vec![nh("192.168.10.100")]);
        // Equal router ids: lowest peer address.
        let mut rib = rib_with_peers(2, 1, false);
        for i in 0..2 {
            let mut info = rib.peer_info(PeerId(i)).unwrap().clone();
            info.router_id = Ipv4Addr::new(1, 1, 1, 1);
            rib.set_peer_info(PeerId(i), info);
        }
        let a = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        let b = attrs(&mut rib, "192.168.10.101", &[65001], |_| {});
        rib.announce(PeerId(1), pre, b, false);
        rib.announce(PeerId(0), pre, a, false);
        assert_eq!(rib.installed(&pre), vec![nh("192.168.10.100")]);
    }

    #[test]
    fn changes_are_taken_in_order_in_chunks() {
        let mut rib = rib_with_peers(1, 1, false);
        let (a, b) = (p("172.20.0.0/24"), p("172.20.1.0/24"));
        let x = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        rib.announce(PeerId(0), a, x.clone(), false);
        rib.announce(PeerId(0), b, x, false);
        rib.withdraw(PeerId(0), a);
        rib.withdraw(PeerId(0), b);
        // Four queued: two installs, two removals; the oldest come first and
        // a set id is resolved to its next hops when taken.
        let first = rib.take_changes_upto(3);
        assert_eq!(
            first,
            vec![
                RouteChange::Replace {
                    prefix: a,
                    next_hops: vec![nh("192.168.10.100")]
                },
                RouteChange::Replace {
                    prefix: b,
                    next_hops: vec![nh("192.168.10.100")]
                },
                RouteChange::Remove(a),
            ]
        );
        assert!(rib.has_changes());
        assert_eq!(rib.take_changes_upto(3), vec![RouteChange::Remove(b)]);
        assert!(rib.take_changes_upto(3).is_empty() && !rib.has_changes());
    }

    #[test]
    fn one_link_local_address_on_two_links_is_two_next_hops() {
        // RFC 4291 §2.5.6: fe80::1 behind port 1 and fe80::1 behind port 2
        // are different neighbours; an ECMP route via both has two members.
        let mut rib = rib_with_peers(2, 4, true);
        for (i, link) in [(0u16, 1u32), (1, 2)] {
            let mut info = rib.peer_info(PeerId(i)).unwrap().clone();
            info.link = Some(link);
            rib.set_peer_info(PeerId(i), info);
        }
        let pre = p("2001:db8:1::/48");
        let ll = rib.intern(RouteAttrs {
            attrs: PathAttributes {
                as_path: Some(AsPath::sequence(vec![65001])),
                ..Default::default()
            },
            next_hop: nh("fe80::1").addr,
            link_local: None,
            received: Instant::ZERO,
        });
        rib.announce(PeerId(0), pre, ll.clone(), false);
        rib.announce(PeerId(1), pre, ll, false);
        let scoped = |link| NextHopAddr {
            addr: nh("fe80::1").addr,
            link: Some(link),
        };
        assert_eq!(rib.installed(&pre), vec![scoped(1), scoped(2)]);
        // The resolver is asked per link: one link's neighbour going away
        // leaves the other member.
        rib.set_resolver(Box::new(move |h| h.link != Some(1)));
        rib.revalidate_nexthops();
        assert_eq!(rib.installed(&pre), vec![scoped(2)]);
    }

    #[test]
    fn unreachable_next_hop_is_ineligible() {
        let mut rib = rib_with_peers(2, 4, true);
        let pre = p("172.20.0.0/24");
        // Learned before any resolver: reachable by default.
        let a = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        rib.announce(PeerId(0), pre, a, false);
        assert_eq!(rib.take_changes().len(), 1);
        // A resolver that says otherwise takes the route away...
        rib.set_resolver(Box::new(|nh| {
            nh.addr != "192.168.10.100".parse::<IpAddr>().unwrap()
        }));
        rib.revalidate_nexthops();
        assert_eq!(rib.take_changes(), vec![RouteChange::Remove(pre)]);
        assert!(rib.contains(&pre));
        // ...a new path via an unreachable next hop is not installed...
        let b = attrs(&mut rib, "192.168.10.100", &[65001, 7], |_| {});
        rib.announce(PeerId(0), pre, b, false);
        assert!(rib.take_changes().is_empty());
        // ...and it comes back when the next hop becomes reachable.
        rib.set_resolver(Box::new(|_| true));
        rib.revalidate_nexthops();
        assert_eq!(rib.installed(&pre), vec![nh("192.168.10.100")]);
        assert_eq!(rib.take_changes().len(), 1);
    }

    #[test]
    fn stale_and_filtered() {
        let mut rib = rib_with_peers(1, 1, false);
        let a = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        rib.announce(PeerId(0), p("172.20.0.0/24"), a.clone(), false);
        rib.announce(PeerId(0), p("172.20.1.0/24"), a.clone(), false);
        rib.announce(PeerId(0), p("10.99.0.0/16"), a.clone(), true);
        let st = rib.stats(PeerId(0));
        assert_eq!((st.received, st.accepted), (3, 2));
        assert_eq!(rib.take_changes().len(), 2);
        assert_eq!(rib.mark_stale(PeerId(0), Family::Ipv4Unicast), 3);
        // Re-announce one: no longer stale, no FIB change.
        rib.announce(PeerId(0), p("172.20.0.0/24"), a, false);
        assert!(rib.take_changes().is_empty());
        assert_eq!(rib.stats(PeerId(0)).stale, 2);
        assert_eq!(rib.purge_stale(PeerId(0), Some(Family::Ipv4Unicast)), 2);
        assert_eq!(
            rib.take_changes(),
            vec![RouteChange::Remove(p("172.20.1.0/24"))]
        );
        let st = rib.stats(PeerId(0));
        assert_eq!((st.received, st.accepted, st.stale), (1, 1, 0));
        assert_eq!(rib.remove_peer(PeerId(0), None), 1);
        assert_eq!(
            rib.take_changes(),
            vec![RouteChange::Remove(p("172.20.0.0/24"))]
        );
        assert_eq!(rib.prefix_count(), 0);
    }

    #[test]
    fn changes_of_a_dying_peer_not_yet_taken_net_out() {
        let mut rib = rib_with_peers(2, 1, false);
        let a = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        let b_own = attrs(&mut rib, "192.168.10.101", &[65001, 65002], |_| {});
        // Then peer 1 sends peer 0's next hop (a third-party next hop).
        let b_third = attrs(&mut rib, "192.168.10.100", &[65001, 65002], |_| {});
        let (x, y) = (p("172.20.0.0/24"), p("172.20.1.0/24"));
        rib.announce(PeerId(1), y, b_own, false);
        assert_eq!(rib.take_changes().len(), 1);
        // Peer 0 announces both (its y is better: y's change is queued);
        // peer 1's y changes to the same next hop (no change: peer 0's is
        // still best); and peer 0 goes down before any of it is taken.
        rib.announce(PeerId(0), x, a.clone(), false);
        rib.announce(PeerId(0), y, a, false);
        rib.announce(PeerId(1), y, b_third, false);
        rib.remove_peer(PeerId(0), None);
        // x never reaches the FIB (its removal is sent in case it had);
        // y ends as peer 1's route via .100. That is the set peer 0's
        // dropped change held, and it is sent: without it the FIB would
        // keep .101.
        assert_eq!(
            rib.take_changes(),
            vec![
                RouteChange::Remove(x),
                RouteChange::Replace {
                    prefix: y,
                    next_hops: vec![nh("192.168.10.100")]
                },
            ]
        );
        assert_eq!(rib.installed(&y), vec![nh("192.168.10.100")]);
        assert!(rib.installed(&x).is_empty() && !rib.has_changes());
    }

    #[test]
    fn a_peer_is_removed_a_chunk_at_a_time() {
        // 20k prefixes from peer 0; every tenth also from peer 1, whose
        // path takes over when peer 0's goes.
        let mut rib = rib_with_peers(2, 1, false);
        let a0 = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        let a1 = attrs(&mut rib, "192.168.10.101", &[65001, 65002], |_| {});
        let net =
            |i: u32| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap());
        for i in 0..20_000 {
            rib.announce(PeerId(0), net(i), a0.clone(), false);
            if i % 10 == 0 {
                rib.announce(PeerId(1), net(i), a1.clone(), false);
            }
        }
        assert_eq!(rib.take_changes().len(), 20_000);
        assert_eq!(rib.remove_peer(PeerId(0), None), 20_000);
        // Gone at once for the counters, the views and the decision...
        assert_eq!(rib.stats(PeerId(0)).received, 0);
        assert!(rib.paths_of(&net(5)).is_empty());
        let shown = rib.paths_of(&net(10));
        assert_eq!(shown.len(), 1);
        assert_eq!((shown[0].0.peer, shown[0].1), (PeerId(1), true));
        // ...but nothing is listed or queued until the changes are taken,
        // and then only as many as are taken.
        assert!(rib.changes.is_empty() && rib.has_changes());
        let first = rib.take_changes_upto(1000);
        assert_eq!(first.len(), 1000);
        assert!(rib.changes.len() <= SWEEP_STEP, "{}", rib.changes.len());
        assert!(rib.dying > 0 && rib.dying < 20_000);
        // The peer comes back before the sweep is done: its new path is
        // not swept, and it counts as new.
        let late = net(19_999);
        assert_eq!(
            rib.announce(PeerId(0), late, a0.clone(), false),
            Announced::New
        );
        assert_eq!(rib.stats(PeerId(0)).received, 1);
        let mut rest = first;
        for _ in 0..100 {
            let c = rib.take_changes_upto(1000);
            if c.is_empty() {
                break;
            }
            assert!(c.len() <= 1000);
            rest.extend(c);
        }
        assert!(!rib.has_changes());
        let (mut removed, mut moved) = (0, 0);
        for c in &rest {
            match c {
                RouteChange::Remove(_) => removed += 1,
                RouteChange::Replace { next_hops, .. } => {
                    assert_eq!(next_hops, &vec![nh("192.168.10.101")]);
                    moved += 1;
                }
            }
        }
        // The swept prefix 19,999 was never removed (its path came back).
        assert_eq!((removed, moved), (17_999, 2_000));
        assert_eq!(rib.prefix_count(), 2_001);
        assert_eq!(rib.installed(&late), vec![nh("192.168.10.100")]);
        assert_eq!(rib.dying, 0);
        // A withdrawal of a dying path does nothing; a second removal while
        // the first is swept restarts the sweep and finds both.
        rib.remove_peer(PeerId(0), None);
        assert!(!rib.withdraw(PeerId(0), late));
        rib.remove_peer(PeerId(1), None);
        assert_eq!(rib.take_changes().len(), 2_001);
        assert_eq!(rib.prefix_count(), 0);
    }

    #[test]
    fn refilter_flips_kept_paths_and_counts_per_family() {
        let mut rib = rib_with_peers(2, 4, true);
        let a0 = attrs(&mut rib, "192.168.10.100", &[65001], |_| {});
        let a1 = attrs(&mut rib, "192.168.10.101", &[65001], |_| {});
        let v6 = rib.intern(RouteAttrs {
            attrs: PathAttributes::default(),
            next_hop: nh("2001:db8::1").addr,
            link_local: None,
            received: Instant::ZERO,
        });
        let svc = p("172.16.1.1/32");
        rib.announce(PeerId(0), p("172.20.0.0/24"), a0.clone(), false);
        rib.announce(PeerId(0), svc, a0.clone(), false);
        rib.announce(PeerId(0), p("10.99.0.0/16"), a0, true);
        rib.announce(PeerId(0), p("2001:db8:1::/48"), v6, false);
        rib.announce(PeerId(1), svc, a1, false);
        rib.take_changes();
        let st = rib.stats(PeerId(0));
        assert_eq!((st.received, st.accepted), (4, 3));
        assert_eq!(
            st.by_family,
            [
                FamilyCounts {
                    received: 3,
                    accepted: 2
                },
                FamilyCounts {
                    received: 1,
                    accepted: 1
                }
            ]
        );
        // New filter for peer 0: only 10.0.0.0/8 and longer.
        let mut reselect = Vec::new();
        let r = rib.refilter(PeerId(0), |x| !p("10.0.0.0/8").contains(x), &mut reselect);
        assert_eq!(
            r,
            Refiltered {
                now_filtered: 3,
                now_accepted: 1
            }
        );
        // Nothing changes before the reselection...
        assert!(rib.take_changes().is_empty());
        rib.reselect_prefixes(reselect);
        let mut ch = rib.take_changes();
        ch.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            ch,
            vec![
                RouteChange::Remove(p("172.20.0.0/24")),
                RouteChange::Remove(p("2001:db8:1::/48")),
                RouteChange::Replace {
                    prefix: p("10.99.0.0/16"),
                    next_hops: vec![nh("192.168.10.100")]
                },
                RouteChange::Replace {
                    prefix: svc,
                    next_hops: vec![nh("192.168.10.101")]
                },
            ]
        );
        // ...the paths stay (received unchanged), peer 1 is untouched.
        let st = rib.stats(PeerId(0));
        assert_eq!((st.received, st.accepted), (4, 1));
        assert_eq!(
            st.by_family[1],
            FamilyCounts {
                received: 1,
                accepted: 0
            }
        );
        assert_eq!(rib.stats(PeerId(1)).accepted, 1);
        // Withdrawing keeps the per-family counts in step with the totals.
        rib.withdraw(PeerId(0), p("10.99.0.0/16"));
        rib.withdraw(PeerId(0), p("2001:db8:1::/48"));
        let st = rib.stats(PeerId(0));
        assert_eq!((st.received, st.accepted), (2, 0));
        assert_eq!(
            st.by_family,
            [
                FamilyCounts {
                    received: 2,
                    accepted: 0
                },
                FamilyCounts::default()
            ]
        );
    }
}
