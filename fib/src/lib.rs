//! `fib`: longest-prefix-match forwarding table for IPv4 and IPv6, a
//! poptrie (Asai & Ohara, SIGCOMM 2015) with lock-free readers and
//! incremental updates.
//!
//! Knows nothing of packets, ports or BGP: it maps destination addresses to
//! opaque [`NextHopId`]s.
//!
//! * [`Table`]: one immutable version; `lookup`/`lookup_many` are the hot
//!   path (no allocation, no lock, no atomic read-modify-write).
//! * [`Fib`]: the RIB plus the published table. [`Fib::load`] gives readers
//!   the current version (wait-free, via `arc-swap`); [`Fib::apply`] applies
//!   a batch of changes by rebuilding only the poptrie nodes they affect
//!   and publishes the result at once, so a lookup sees the whole batch or
//!   none of it. Old versions stay valid until their last reader lets go.
//!
//! Versions are kept left-right style: two copies of the arrays, the
//! published one and the writer's. A batch is written into the writer's
//! copy, which is then published; the copy it replaces becomes the
//! writer's once its last reader has dropped it (`Arc::try_unwrap`), and
//! catches up by replaying the previous batch's writes. So readers see
//! plain contiguous arrays, with no indirection added for versioning.
//!
//! See `README.md` for the design and measurements.
#![forbid(unsafe_code)]

pub mod key;
mod popcnt;
mod poptrie;
mod rib;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};
use ipnet::{Ipv4Net, Ipv6Net};

pub use key::Key;
pub use poptrie::Table;
use poptrie::{Arena, Dirty, DP_LEAF};
use rib::{LongTrie, ShortTrie};

/// Opaque value stored per prefix. Values above [`MAX_NEXT_HOP`] are rejected.
pub type NextHopId = u32;
/// `hops` entry meaning "no route" (above every valid id).
const NO_HOP: NextHopId = u32::MAX;

/// Largest next-hop id the table can store. Ids are opaque; leaves hold a
/// 16-bit code per distinct id (see [`MAX_DISTINCT_NEXT_HOPS`]).
pub const MAX_NEXT_HOP: NextHopId = (1 << 24) - 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum FibError {
    /// The prefix has bits set past its length (e.g. `10.0.0.1/8`). Such a
    /// prefix is rejected, never silently truncated: it usually means the
    /// caller confused an address with a network.
    #[error("prefix {0} has host bits set")]
    HostBitsSet(String),
    #[error("next-hop id {0} exceeds the maximum {MAX_NEXT_HOP}")]
    NextHopOutOfRange(NextHopId),
    /// Leaves store 16-bit next-hop codes, so one table holds at most
    /// [`MAX_DISTINCT_NEXT_HOPS`] distinct next hops at a time.
    #[error(
        "batch would need {0} distinct next hops; the table holds at most {MAX_DISTINCT_NEXT_HOPS}"
    )]
    TooManyNextHops(usize),
}

/// Most distinct next-hop ids one table holds at once (16-bit leaf codes,
/// code 0 meaning "no route").
pub const MAX_DISTINCT_NEXT_HOPS: usize = u16::MAX as usize;

/// An address family the FIB can serve: IPv4 (u32 keys) or IPv6 (u128 keys),
/// with the width `DIRECT_BITS` of the poptrie's direct-pointing array.
pub trait Family: Copy + Send + Sync + 'static {
    type Addr: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync;
    type Net: Copy + Eq + std::hash::Hash + std::fmt::Debug + std::fmt::Display + Send + Sync;
    type Key: Key;
    const BITS: u32;
    /// `s`: the top `s` bits index the direct-pointing array (2^s entries).
    const DIRECT_BITS: u32;
    fn addr_key(a: Self::Addr) -> Self::Key;
    fn key_addr(k: Self::Key) -> Self::Addr;
    fn net_parts(n: &Self::Net) -> (Self::Key, u8);
    fn net_from_parts(k: Self::Key, len: u8) -> Self::Net;
    fn net_has_host_bits(n: &Self::Net) -> bool;
    fn mask(k: Self::Key, len: u8) -> Self::Key {
        k.mask(len as u32)
    }
}

macro_rules! family {
    ($(#[$doc:meta])* $name:ident, v4, $s:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl Family for $name {
            type Addr = Ipv4Addr;
            type Net = Ipv4Net;
            type Key = u32;
            const BITS: u32 = 32;
            const DIRECT_BITS: u32 = $s;
            #[inline(always)]
            fn addr_key(a: Ipv4Addr) -> u32 {
                u32::from(a)
            }
            fn key_addr(k: u32) -> Ipv4Addr {
                Ipv4Addr::from(k)
            }
            fn net_parts(n: &Ipv4Net) -> (u32, u8) {
                (u32::from(n.network()), n.prefix_len())
            }
            fn net_from_parts(k: u32, len: u8) -> Ipv4Net {
                Ipv4Net::new_assert(Ipv4Addr::from(k), len)
            }
            fn net_has_host_bits(n: &Ipv4Net) -> bool {
                n.addr() != n.network()
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, v6, $s:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl Family for $name {
            type Addr = Ipv6Addr;
            type Net = Ipv6Net;
            type Key = u128;
            const BITS: u32 = 128;
            const DIRECT_BITS: u32 = $s;
            #[inline(always)]
            fn addr_key(a: Ipv6Addr) -> u128 {
                u128::from(a)
            }
            fn key_addr(k: u128) -> Ipv6Addr {
                Ipv6Addr::from(k)
            }
            fn net_parts(n: &Ipv6Net) -> (u128, u8) {
                (u128::from(n.network()), n.prefix_len())
            }
            fn net_from_parts(k: u128, len: u8) -> Ipv6Net {
                Ipv6Net::new_assert(Ipv6Addr::from(k), len)
            }
            fn net_has_host_bits(n: &Ipv6Net) -> bool {
                n.addr() != n.network()
            }
        }
    };
}

family!(
    /// IPv4 with an 18-bit direct-pointing array (1 MiB). With s = 18 the
    /// first node level covers bits 18-24, so every /19-/24 (94% of a
    /// global table) ends in the first node; s = 16 needs a second level
    /// for them and measured twice the size and half the speed (README).
    V4, v4, 18
);
family!(
    /// IPv4 with a 16-bit direct-pointing array (for comparison).
    V4S16, v4, 16
);
family!(
    /// IPv6 with an 18-bit direct-pointing array. Only the 2000::/3 eighth
    /// of it is hot (128 KiB); s = 18 measured faster and smaller than
    /// s = 16 on the synthetic 200k table (README).
    V6, v6, 18
);
family!(
    /// IPv6 with a 16-bit direct-pointing array (for comparison).
    V6S16, v6, 16
);

/// One route change; a batch of them is applied atomically by [`Fib::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<N> {
    /// Insert or replace the next hop of a prefix.
    Upsert(N, NextHopId),
    /// Remove a prefix (no-op if absent).
    Remove(N),
}

impl<F: Family> Table<F> {
    /// Next hop of a leaf code.
    #[inline(always)]
    fn decode(&self, code: u32) -> Option<NextHopId> {
        if self.identity {
            // Every code is its next hop + 1 (code 0: the default route's):
            // no dependent load (a select, not a branch, on code 0).
            let c = if code == 0 { self.default_code } else { code };
            return c.checked_sub(1);
        }
        // hops[0] is the default route (or NO_HOP): no branch on "code 0",
        // which random addresses would mispredict.
        let hop = self.hops.get(code as usize).copied().unwrap_or(NO_HOP);
        (hop != NO_HOP).then_some(hop)
    }

    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, addr: F::Addr) -> Option<NextHopId> {
        self.decode(self.lookup_key(F::addr_key(addr)))
    }

    /// Looks up `addrs[i]` into `out[i]` for `i < min(addrs.len(), out.len())`.
    /// Faster than a loop of [`Table::lookup`] for batches: lookups are
    /// interleaved in groups of 16 so their cache misses overlap.
    #[inline]
    pub fn lookup_many(&self, addrs: &[F::Addr], out: &mut [Option<NextHopId>]) {
        let n = addrs.len().min(out.len());
        let (addrs, out) = (&addrs[..n], &mut out[..n]);
        let mut groups = addrs.chunks_exact(poptrie::GROUP);
        let mut outs = out.chunks_exact_mut(poptrie::GROUP);
        let mut keys = [F::Key::default(); poptrie::GROUP];
        for (g, o) in (&mut groups).zip(&mut outs) {
            for (k, a) in keys.iter_mut().zip(g) {
                *k = F::addr_key(*a);
            }
            if let Ok(o) = <&mut [_; poptrie::GROUP]>::try_from(o) {
                self.lookup_group(&keys, o);
            }
        }
        for (a, o) in groups.remainder().iter().zip(outs.into_remainder()) {
            *o = self.decode(self.lookup_key(F::addr_key(*a)));
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes
    }

    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }

    /// Bytes of the lookup structure (direct-pointing array, nodes and
    /// leaves, including freed blocks awaiting reuse).
    pub fn memory_bytes(&self) -> usize {
        self.bytes()
    }
}

/// Shape of one table version (for benchmarks and monitoring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableStats {
    /// Direct-pointing entries (2^s).
    pub direct_entries: usize,
    /// Internal node slots in use (including freed ones awaiting reuse).
    pub nodes: usize,
    /// Leaf slots in use (including freed ones awaiting reuse).
    pub leaves: usize,
    /// Size of one node in bytes.
    pub node_bytes: usize,
}

impl<F: Family> Table<F> {
    pub fn stats(&self) -> TableStats {
        TableStats {
            direct_entries: 1 << F::DIRECT_BITS,
            nodes: self.nodes.len(),
            leaves: self.leaves.len(),
            node_bytes: std::mem::size_of::<poptrie::Node>(),
        }
    }
}

/// How long a batch waits for the last reader of the previous version to
/// let go of it before copying the published table instead. Readers hold a
/// version for one batch of lookups (microseconds); a reader preempted
/// while holding one should not delay the update by its time slice.
const SPARE_WAIT: Duration = Duration::from_micros(100);

/// One change in the writer's form: key, prefix length, next hop (None:
/// remove).
type Item<F> = (<F as Family>::Key, u32, Option<NextHopId>);

/// The writer side: RIB and the working copy of the table.
struct Writer<F: Family> {
    short: ShortTrie,
    long: LongTrie<F::Key>,
    /// `arena.table` is the working copy while `working`, a placeholder
    /// between batches.
    arena: Arena<F>,
    working: bool,
    /// Per direct-pointing slot, the value of the longest prefix of length
    /// <= s covering it (what the slot's subtree inherits).
    slot_default: Vec<u32>,
    routes: usize,
    hops: HopCodes,
    /// Next hop per leaf code, shared copy-on-write with the tables.
    hop_table: Arc<Vec<NextHopId>>,
    /// The default route, kept beside the trie (leaf code 0 resolves to it).
    default_hop: Option<NextHopId>,
    /// The version readers get now.
    published: Arc<Table<F>>,
    /// The version before it, with the writes that turned it into
    /// `published` (None after a full build: it would be copied whole).
    spare: Option<(Arc<Table<F>>, Dirty)>,
}

/// Interns next-hop ids as 16-bit leaf codes, reference-counted by the
/// routes using them. A freed code may be reused at once: the published
/// versions keep their own `hops` array (copy-on-write through `Arc`), and
/// every leaf of the working version that held the code belonged to a route
/// that this batch removed, so it is rebuilt before the next publish.
struct HopCodes {
    code_of: HashMap<NextHopId, u32>,
    refs: Vec<u32>,
    /// Freed codes (a hint: one may since have been taken as an identity
    /// code; `in_use` decides).
    free: Vec<u32>,
    /// Live codes that are not their next hop + 1.
    mismatched: usize,
    /// Where to look for a never-used code (see `code`).
    cursor: u32,
}

impl Default for HopCodes {
    fn default() -> Self {
        HopCodes {
            code_of: HashMap::new(),
            refs: vec![0],
            free: Vec::new(),
            mismatched: 0,
            cursor: 1,
        }
    }
}

impl HopCodes {
    fn in_use(&self, hops: &[NextHopId], c: u32) -> bool {
        hops.get(c as usize)
            .is_some_and(|h| self.code_of.get(h) == Some(&c))
    }

    fn code(&mut self, hops: &mut Arc<Vec<NextHopId>>, hop: NextHopId) -> u32 {
        if let Some(&c) = self.code_of.get(&hop) {
            return c;
        }
        // Prefer code = hop + 1: while every code is its next hop + 1, a
        // lookup decodes a leaf arithmetically, without loading `hops`
        // (`Table::decode`), like a static table storing next hops.
        let identity = hop
            .checked_add(1)
            .filter(|&c| c as usize <= MAX_DISTINCT_NEXT_HOPS && !self.in_use(hops, c));
        let c = match identity {
            Some(c) => c,
            None => loop {
                match self.free.pop() {
                    Some(c) if !self.in_use(hops, c) => break c,
                    Some(_) => continue,
                    None => {
                        // Codes below the cursor were all in use when it
                        // passed them; those freed since are on `free`.
                        while (self.cursor as usize) < MAX_DISTINCT_NEXT_HOPS
                            && self.in_use(hops, self.cursor)
                        {
                            self.cursor += 1;
                        }
                        // `Fib::apply` checked that a code is left.
                        debug_assert!(!self.in_use(hops, self.cursor));
                        break self.cursor;
                    }
                }
            },
        };
        let table = Arc::make_mut(hops);
        if table.len() <= c as usize {
            table.resize(c as usize + 1, NO_HOP);
            self.refs.resize(table.len(), 0);
        }
        table[c as usize] = hop;
        if Some(c) != hop.checked_add(1) {
            self.mismatched += 1;
        }
        self.code_of.insert(hop, c);
        c
    }

    /// Accounts a RIB change from code `old` to code `new` (0 = none).
    fn changed(&mut self, hops: &[NextHopId], old: u32, new: u32) {
        if old == new {
            return;
        }
        if new != 0 {
            self.refs[new as usize] += 1;
        }
        if old != 0 {
            self.refs[old as usize] -= 1;
            if self.refs[old as usize] == 0 {
                let hop = hops[old as usize];
                self.code_of.remove(&hop);
                self.free.push(old);
                if Some(old) != hop.checked_add(1) {
                    self.mismatched -= 1;
                }
            }
        }
    }
}

impl<F: Family> Writer<F> {
    fn new() -> Self {
        let s = F::DIRECT_BITS;
        Writer {
            short: ShortTrie::new(s),
            long: LongTrie::new(s),
            arena: Arena::new(),
            working: true,
            slot_default: vec![0; 1 << s],
            routes: 0,
            hops: HopCodes::default(),
            hop_table: Arc::new(vec![NO_HOP]),
            default_hop: None,
            published: Arc::new(Table::empty()),
            spare: None,
        }
    }

    /// Makes `arena.table` a copy of the published table to write into:
    /// the previous version once no reader holds it (left-right), caught up
    /// by replaying the last batch's writes; else a fresh copy.
    fn begin_work(&mut self) {
        if self.working {
            return;
        }
        let mut table = None;
        if let Some((mut spare, dirty)) = self.spare.take() {
            let started = Instant::now();
            loop {
                match Arc::try_unwrap(spare) {
                    Ok(mut t) => {
                        t.replay(&self.published, &dirty);
                        table = Some(t);
                        break;
                    }
                    Err(still_read) if started.elapsed() < SPARE_WAIT => {
                        spare = still_read;
                        std::thread::yield_now();
                    }
                    // Its readers free it when they are done.
                    Err(_) => break,
                }
            }
        }
        self.arena.table = table.unwrap_or_else(|| self.published.copy_arrays());
        self.arena.dirty = Dirty::default();
        self.arena.logging = true;
        self.working = true;
    }

    /// Publishes the working copy; returns it, and keeps the version it
    /// replaces as the next spare.
    fn publish(&mut self) -> Arc<Table<F>> {
        debug_assert!(self.working);
        let mut table = std::mem::replace(&mut self.arena.table, Table::placeholder());
        table.hops = self.hop_table.clone();
        table.identity = self.hops.mismatched == 0;
        table.default_code = self.default_hop.map_or(0, |h| h + 1);
        table.routes = self.routes;
        let table = Arc::new(table);
        let old = std::mem::replace(&mut self.published, table.clone());
        let dirty = std::mem::take(&mut self.arena.dirty);
        // After a full build the old version shares nothing useful.
        self.spare = self.arena.logging.then_some((old, dirty));
        self.working = false;
        table
    }

    /// Rebuilds the whole table into fresh arrays (initial load, huge
    /// batches, and compaction after heavy churn).
    fn rebuild_all(&mut self) {
        let s = F::DIRECT_BITS;
        self.arena = Arena::new();
        // A poptrie node per RIB node, at most 64 leaves each: reserve that
        // (untouched reserve costs no memory), shrink after.
        let nodes = self.long.live_nodes();
        self.arena.table.nodes.reserve_exact(nodes);
        self.arena.table.leaves.reserve_exact(nodes * 64);
        self.working = true;
        let slot_default = &mut self.slot_default;
        self.short
            .fill(0, 1 << s, &mut |slot, v| slot_default[slot as usize] = v);
        for slot in 0..(1usize << s) {
            let root = self.long.roots[slot];
            let def = self.slot_default[slot];
            let entry = if root != 0 {
                self.arena.build_root(&self.long, root, def)
            } else {
                DP_LEAF | def
            };
            self.arena.set_dp(slot, entry);
        }
        self.arena.shrink();
    }

    /// Applies a validated batch, given as (key, length, next hop or
    /// removal) in batch order.
    fn apply(&mut self, mut sorted: Vec<Item<F>>) {
        let s = F::DIRECT_BITS;
        let routes_before = self.routes;
        // Apply in address order (a stable sort keeps "later change to the
        // same prefix wins"): the RIB, direct-pointing array and nodes are
        // then walked roughly sequentially, which the hardware prefetcher
        // turns from a cache miss per step into a stream.
        // Next hops become leaf codes only as each change is applied (a code
        // freed by an earlier change in the batch may be handed out again).
        if sorted.len() > 1 {
            sorted.sort_by_key(|&(k, l, _)| (k, l));
        }

        // Short prefixes first: they decide the slots' defaults.
        let mut short_ranges: Vec<(u32, u32)> = Vec::new();
        let mut long_count = 0;
        for &(key, len, hop) in &sorted {
            if len > s {
                long_count += 1;
                continue;
            }
            if len == 0 {
                self.set_default(hop);
                continue;
            }
            let value = self.code(hop);
            let slot = key.bits(0, s);
            let old = self.short.set(slot, len, value);
            if old != value {
                short_ranges.push((slot, slot + (1 << (s - len))));
            }
            self.count(old, value);
        }
        let short_slots: usize = short_ranges
            .iter()
            .map(|&(lo, hi)| (hi - lo) as usize)
            .sum();
        if short_slots > (1 << s) / 4 || long_count + short_ranges.len() > routes_before / 2 {
            // Big batch (or the initial load): one fresh build is cheaper.
            for &(key, len, hop) in sorted.iter().filter(|c| c.1 > s) {
                let value = self.code(hop);
                let old = self.long.set(key, len, value);
                self.count(old, value);
            }
            self.rebuild_all();
            return;
        }
        self.begin_work();

        // Slots whose inherited default changed are rebuilt whole, after
        // the long prefixes are in.
        short_ranges.sort_unstable();
        let mut full_slots: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < short_ranges.len() {
            let (lo, mut hi) = short_ranges[i];
            i += 1;
            while i < short_ranges.len() && short_ranges[i].0 <= hi {
                hi = hi.max(short_ranges[i].1);
                i += 1;
            }
            let slot_default = &mut self.slot_default;
            self.short.fill(lo, hi, &mut |slot, v| {
                if slot_default[slot as usize] != v {
                    slot_default[slot as usize] = v;
                    full_slots.push(slot);
                }
            });
        }

        // Long prefixes, slot by slot: update the RIB, then rebuild the
        // slot's nodes while its RIB nodes are still in cache.
        sorted.retain(|c| c.1 > s);
        let long = sorted;
        let mut touched: Vec<(F::Key, u32)> = Vec::new();
        let mut i = 0;
        while i < long.len() {
            let slot = long[i].0.bits(0, s);
            touched.clear();
            while i < long.len() && long[i].0.bits(0, s) == slot {
                let (key, len, hop) = long[i];
                let value = self.code(hop);
                let old = self.long.set(key, len, value);
                if old != value {
                    touched.push((key, len));
                }
                self.count(old, value);
                i += 1;
            }
            if !touched.is_empty() && full_slots.binary_search(&slot).is_err() {
                self.rebuild_slot(slot, &touched);
            }
        }
        for &slot in &full_slots {
            let entry = self.arena.table.dp[slot as usize];
            self.arena.free_entry(entry);
            let root = self.long.roots[slot as usize];
            let def = self.slot_default[slot as usize];
            let entry = if root != 0 {
                self.arena.build_root(&self.long, root, def)
            } else {
                DP_LEAF | def
            };
            self.arena.set_dp(slot as usize, entry);
        }

        // Compaction: exact-size free lists keep reuse high under churn, but
        // if half the arrays are garbage, rebuild into fresh ones.
        let nodes = self.arena.table.nodes.len();
        let leaves = self.arena.table.leaves.len();
        if (nodes > 1 << 16 && self.arena.free_node_count > nodes / 2)
            || (leaves > 1 << 16 && self.arena.free_leaf_count > leaves / 2)
        {
            self.rebuild_all();
        }
    }

    /// The default route lives beside the trie: "no leaf code" (0)
    /// resolves to it, so changing it rebuilds nothing.
    fn set_default(&mut self, hop: Option<NextHopId>) {
        let old = std::mem::replace(&mut self.default_hop, hop);
        if old != hop {
            Arc::make_mut(&mut self.hop_table)[0] = hop.unwrap_or(NO_HOP);
        }
        match (old, hop) {
            (None, Some(_)) => self.routes += 1,
            (Some(_), None) => self.routes -= 1,
            _ => {}
        }
    }

    /// Sets one route in the RIB only (the initial load, which ends with
    /// `rebuild_all`).
    fn set_rib(&mut self, key: F::Key, len: u32, hop: Option<NextHopId>) {
        let s = F::DIRECT_BITS;
        if len == 0 {
            return self.set_default(hop);
        }
        let value = self.code(hop);
        let old = if len <= s {
            self.short.set(key.bits(0, s), len, value)
        } else {
            self.long.set(key, len, value)
        };
        self.count(old, value);
    }

    /// The leaf code of a next hop (0 for a removal).
    fn code(&mut self, hop: Option<NextHopId>) -> u32 {
        hop.map_or(0, |h| self.hops.code(&mut self.hop_table, h))
    }

    /// Keeps the route count and code references from a RIB change
    /// `old -> new`.
    fn count(&mut self, old: u32, new: u32) {
        self.hops.changed(&self.hop_table, old, new);
        match (old, new) {
            (0, v) if v != 0 => self.routes += 1,
            (o, 0) if o != 0 => self.routes -= 1,
            _ => {}
        }
    }

    fn rebuild_slot(&mut self, slot: u32, touched: &[(F::Key, u32)]) {
        let root = self.long.roots[slot as usize];
        let entry = self.arena.table.dp[slot as usize];
        let def = self.slot_default[slot as usize];
        if root == 0 {
            self.arena.free_entry(entry);
            self.arena.set_dp(slot as usize, DP_LEAF | def);
        } else if entry & DP_LEAF != 0 {
            let index = self.arena.build_root(&self.long, root, def);
            self.arena.set_dp(slot as usize, index);
        } else {
            self.arena
                .rebuild(&self.long, entry, root, F::DIRECT_BITS, def, touched);
        }
    }

    fn routes(&self) -> Vec<(F::Net, NextHopId)> {
        let mut out = Vec::with_capacity(self.routes);
        if let Some(hop) = self.default_hop {
            out.push((F::net_from_parts(F::Key::default(), 0), hop));
        }
        let hops = &self.hop_table;
        self.short.for_each(&mut |prefix, len, code| {
            let key = if len == 0 {
                F::Key::default()
            } else {
                F::Key::default().or_bits(0, len, prefix)
            };
            out.push((F::net_from_parts(key, len as u8), hops[code as usize]));
        });
        self.long.for_each(&mut |key, len, code| {
            out.push((F::net_from_parts(key, len as u8), hops[code as usize]))
        });
        out
    }
}

/// The updatable FIB: a RIB of prefixes plus the published lookup table.
/// Readers call [`Fib::load`] (lock-free, wait-free) from any thread; one
/// writer at a time calls [`Fib::apply`] (writers serialise on a mutex that
/// readers never touch).
pub struct Fib<F: Family> {
    writer: Mutex<Writer<F>>,
    current: ArcSwap<Table<F>>,
}

pub type Fib4 = Fib<V4>;
pub type Fib6 = Fib<V6>;

impl<F: Family> Fib<F> {
    pub fn new() -> Self {
        let writer = Writer::new();
        let current = ArcSwap::new(writer.published.clone());
        Fib {
            writer: Mutex::new(writer),
            current,
        }
    }

    pub fn from_routes(
        routes: impl IntoIterator<Item = (F::Net, NextHopId)>,
    ) -> Result<Self, FibError> {
        let fib = Self::new();
        // Straight into the RIB, then one build: no batch vector, so the
        // build leaves no large freed temporaries behind in the heap (they
        // would count in the process's memory for good).
        let routes = routes.into_iter();
        let mut writer = fib.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.long.reserve(routes.size_hint().0);
        for (n, h) in routes {
            let (key, len, hop) = Self::item(&n, Some(h))?;
            let codes = writer.hops.code_of.len();
            if codes >= MAX_DISTINCT_NEXT_HOPS && !writer.hops.code_of.contains_key(&h) {
                return Err(FibError::TooManyNextHops(codes + 1));
            }
            writer.set_rib(key, len, hop);
        }
        writer.long.shrink();
        writer.rebuild_all();
        let table = writer.publish();
        drop(fib.current.swap(table));
        drop(writer);
        Ok(fib)
    }

    /// A change in the writer's form, validated.
    fn item(n: &F::Net, hop: Option<NextHopId>) -> Result<Item<F>, FibError> {
        if F::net_has_host_bits(n) {
            return Err(FibError::HostBitsSet(n.to_string()));
        }
        if let Some(h) = hop {
            if h > MAX_NEXT_HOP {
                return Err(FibError::NextHopOutOfRange(h));
            }
        }
        let (key, len) = F::net_parts(n);
        Ok((key, len as u32, hop))
    }

    /// Current table; hold the guard for a batch of lookups (and not much
    /// longer: a held guard keeps that version's memory alive).
    #[inline]
    pub fn load(&self) -> Guard<Arc<Table<F>>> {
        self.current.load()
    }

    /// Current table as an owned `Arc` (for holding across many batches).
    pub fn load_full(&self) -> Arc<Table<F>> {
        self.current.load_full()
    }

    /// Applies a batch atomically: readers see all of it or none of it.
    /// Within a batch, later changes to the same prefix win. The batch is
    /// validated first; on error nothing is applied.
    pub fn apply(&self, changes: &[Change<F::Net>]) -> Result<(), FibError> {
        let items = changes
            .iter()
            .map(|c| match c {
                Change::Upsert(n, h) => Self::item(n, Some(*h)),
                Change::Remove(n) => Self::item(n, None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.apply_items(items)
    }

    fn apply_items(&self, items: Vec<Item<F>>) -> Result<(), FibError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // Refuse (before changing anything) a batch that could run out of
        // leaf codes; conservative: ignores codes the batch itself frees.
        let mut fresh: Vec<NextHopId> = items
            .iter()
            .filter_map(|&(_, _, h)| h.filter(|h| !writer.hops.code_of.contains_key(h)))
            .collect();
        if !fresh.is_empty() {
            fresh.sort_unstable();
            fresh.dedup();
            let needed = writer.hops.code_of.len() + fresh.len();
            if needed > MAX_DISTINCT_NEXT_HOPS {
                return Err(FibError::TooManyNextHops(needed));
            }
        }
        writer.apply(items);
        let table = writer.publish();
        // `swap` returns only once every reader still on the old version
        // holds a counted reference to it, which `begin_work` waits out.
        drop(self.current.swap(table));
        Ok(())
    }

    /// Installed routes (a snapshot of the RIB), sorted by address within
    /// the short (<= s) and long (> s) prefixes.
    pub fn routes(&self) -> Vec<(F::Net, NextHopId)> {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.routes()
    }

    /// Number of installed routes.
    pub fn len(&self) -> usize {
        self.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F: Family> Default for Fib<F> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A version held across batches keeps its answers, and the writer (which
    /// then cannot take that copy back) still publishes correct versions,
    /// both while it is held and once it is dropped (left-right resumes).
    #[test]
    fn held_version_never_changes_and_writer_copes() {
        let fib = Fib4::from_routes((0..200u32).map(|i| {
            (
                Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | i << 8), 24).unwrap(),
                1,
            )
        }))
        .unwrap();
        let held = fib.load_full();
        for v in 2..6 {
            fib.apply(&[
                Change::Upsert(net("10.0.5.0/24"), v),
                Change::Upsert(net("10.0.6.128/25"), v),
            ])
            .unwrap();
            let t = fib.load();
            assert_eq!(t.lookup(addr("10.0.5.1")), Some(v));
            assert_eq!(t.lookup(addr("10.0.6.200")), Some(v));
            assert_eq!(t.lookup(addr("10.0.6.1")), Some(1));
        }
        assert_eq!(held.lookup(addr("10.0.5.1")), Some(1));
        assert_eq!(held.lookup(addr("10.0.6.200")), Some(1));
        drop(held);
        for v in 6..10 {
            fib.apply(&[Change::Upsert(net("10.0.6.128/25"), v)])
                .unwrap();
            fib.apply(&[Change::Remove(net("10.0.7.0/24"))]).unwrap();
            let t = fib.load();
            assert_eq!(t.lookup(addr("10.0.6.200")), Some(v));
            assert_eq!(t.lookup(addr("10.0.5.1")), Some(5));
            assert_eq!(t.lookup(addr("10.0.7.1")), None);
        }
        assert_eq!(fib.len(), 200);
    }
}
