//! The poptrie proper (Asai & Ohara, SIGCOMM 2015), written from the paper.
//!
//! * A direct-pointing array `dp` indexed by the top `s` bits of the key.
//!   An entry is either a leaf (bit 31 set, low bits = leaf value) or the
//!   index of the node that covers the slot.
//! * Internal nodes cover 6 bits each. `vector` bit p says position p is an
//!   internal node; those children sit contiguously from `base_node`, so
//!   child p is `base_node + popcount(vector & bits 0..=p) - 1`.
//! * Leaf compression: `leafvec` bit p is set where a run of equal leaf
//!   values starts among the non-internal positions; leaf p is
//!   `leaves[base_leaf + popcount(leafvec & bits 0..=p) - 1]`.
//!
//! Leaf values are 16-bit next-hop codes: 0 = no route but the default
//! route (kept beside the trie, so changing it costs nothing), otherwise an index
//! into the table's `hops` (the distinct next hops, interned by the writer).
//! 16-bit leaves halve the largest array of an IPv4 table (1.35M leaves for
//! 950k routes), and the `hops` array they index stays in L1.
//!
//! A [`Table`] holds three plain contiguous arrays, exactly the layout of a
//! static poptrie: a lookup is one load per level and nothing else. The
//! writer never changes a published table; it works on a second copy (see
//! `Arena` and the crate docs for the left-right scheme).

use std::sync::Arc;

use crate::key::Key;
use crate::popcnt::popcount;
use crate::Family;

/// Set in a direct-pointing entry that holds a leaf value.
pub(crate) const DP_LEAF: u32 = 1 << 31;

/// A leaf: a next-hop code.
pub(crate) type Leaf = u16;

/// Lookups interleaved per group in `lookup_many`.
pub(crate) const GROUP: usize = 32;

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Node {
    pub(crate) vector: u64,
    pub(crate) leafvec: u64,
    pub(crate) base_leaf: u32,
    pub(crate) base_node: u32,
}

/// Mask of bits `0..=p`.
#[inline(always)]
fn upto(p: u32) -> u64 {
    u64::MAX >> (63 - p)
}

/// One immutable, published version of the lookup table.
pub struct Table<F: Family> {
    pub(crate) dp: Vec<u32>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) leaves: Vec<Leaf>,
    /// Next hop per code; code 0 (nothing more specific) holds the
    /// default route, or `NO_HOP`.
    pub(crate) hops: Arc<Vec<u32>>,
    /// Every leaf code is its next hop + 1 (then `hops` need not be read).
    pub(crate) identity: bool,
    /// The default route's next hop + 1 (0: none), for identity decoding.
    pub(crate) default_code: u32,
    pub(crate) routes: usize,
    pub(crate) _family: std::marker::PhantomData<F>,
}

impl<F: Family> Table<F> {
    pub(crate) fn empty() -> Self {
        Table {
            dp: vec![DP_LEAF; 1 << F::DIRECT_BITS],
            nodes: Vec::new(),
            // Leaf 0 is never allocated: `lookup_group` reads it for lanes
            // that ended in the direct-pointing array.
            leaves: vec![0],
            hops: Arc::new(vec![crate::NO_HOP]),
            identity: true,
            default_code: 0,
            routes: 0,
            _family: std::marker::PhantomData,
        }
    }

    /// A table with no arrays at all: what the writer holds between batches
    /// (never published, never looked up).
    pub(crate) fn placeholder() -> Self {
        Table {
            dp: Vec::new(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            hops: Arc::new(vec![crate::NO_HOP]),
            identity: true,
            default_code: 0,
            routes: 0,
            _family: std::marker::PhantomData,
        }
    }

    /// A copy of the lookup arrays, each allocated to its exact length.
    pub(crate) fn copy_arrays(&self) -> Self {
        Table {
            dp: self.dp.clone(),
            nodes: self.nodes.clone(),
            leaves: self.leaves.clone(),
            hops: self.hops.clone(),
            identity: self.identity,
            default_code: self.default_code,
            routes: self.routes,
            _family: std::marker::PhantomData,
        }
    }

    /// Makes this table's arrays equal to `from`'s, given that they were
    /// equal before the writes `dirty` turned an earlier copy into `from`
    /// (left-right replay: only the written ranges are copied).
    pub(crate) fn replay(&mut self, from: &Table<F>, dirty: &Dirty) {
        fn sync<T: Copy>(to: &mut Vec<T>, from: &[T], ranges: &[(u32, u32)]) {
            // Arrays only grow between full builds; the grown tail is new.
            if to.len() > from.len() {
                to.truncate(from.len());
            }
            let old = to.len();
            reserve_for(to, from.len() - old);
            to.extend_from_slice(&from[old..]);
            for &(start, n) in ranges {
                let (start, end) = (start as usize, start as usize + n as usize);
                if start < old {
                    let end = end.min(old);
                    to[start..end].copy_from_slice(&from[start..end]);
                }
            }
        }
        sync(&mut self.dp, &from.dp, &dirty.dp);
        sync(&mut self.nodes, &from.nodes, &dirty.nodes);
        sync(&mut self.leaves, &from.leaves, &dirty.leaves);
    }

    /// The leaf value for `key` (0 = no route).
    #[inline(always)]
    pub(crate) fn lookup_key(&self, key: F::Key) -> u32 {
        let entry = self.dp[key.bits(0, F::DIRECT_BITS) as usize];
        if entry & DP_LEAF != 0 {
            return entry & !DP_LEAF;
        }
        let mut index = entry as usize;
        let mut depth = F::DIRECT_BITS;
        loop {
            let node = &self.nodes[index];
            let p = key.bits(depth, 6);
            if (node.vector >> p) & 1 == 0 {
                let rank = popcount(node.leafvec & upto(p)) as usize;
                return self.leaves[node.base_leaf as usize + rank - 1] as u32;
            }
            index = node.base_node as usize + popcount(node.vector & upto(p)) as usize - 1;
            depth += 6;
        }
    }

    /// Looks up `keys` into `out` (next hops) level by level across the
    /// group: first every direct-pointing entry, then every first-level
    /// node, and so on, then every leaf. The loads of one level are
    /// independent of each other, so the CPU overlaps their cache misses
    /// instead of waiting out one lookup's chain of dependent loads (and a
    /// mispredicted "leaf or node" branch no longer stalls the others).
    #[inline]
    pub(crate) fn lookup_group(
        &self,
        keys: &[F::Key; GROUP],
        out: &mut [Option<crate::NextHopId>; GROUP],
    ) {
        let mut cur = [0u32; GROUP];
        let mut pending = 0u64; // lanes still inside the trie
        for i in 0..GROUP {
            cur[i] = self.dp[keys[i].bits(0, F::DIRECT_BITS) as usize];
            // DP_LEAF is bit 31.
            pending |= (((cur[i] >> 31) ^ 1) as u64) << i;
        }
        let mut at_leaf = 0u64; // lanes whose `cur` is an index into `leaves`
        let mut depth = F::DIRECT_BITS;
        while pending != 0 {
            let mut lanes = pending;
            while lanes != 0 {
                let i = lanes.trailing_zeros() as usize;
                lanes &= lanes - 1;
                let node = &self.nodes[cur[i] as usize];
                let p = keys[i].bits(depth, 6);
                let m = upto(p);
                // Branch-free "leaf or node?": random keys would mispredict it.
                let internal = (node.vector >> p) as u32 & 1;
                let child = node.base_node.wrapping_add(popcount(node.vector & m));
                let leaf = node.base_leaf.wrapping_add(popcount(node.leafvec & m));
                let sel = internal.wrapping_neg();
                cur[i] = ((child & sel) | (leaf & !sel)).wrapping_sub(1);
                let done = ((internal ^ 1) as u64) << i;
                pending &= !done;
                at_leaf |= done;
            }
            depth += 6;
        }
        for i in 0..GROUP {
            let leaf_lane = (at_leaf >> i) & 1 == 1;
            // Lanes that ended in the direct-pointing array read leaf 0.
            let leaf = self.leaves[if leaf_lane { cur[i] as usize } else { 0 }] as u32;
            out[i] = self.decode(if leaf_lane { leaf } else { cur[i] & !DP_LEAF });
        }
    }

    /// Bytes of the lookup structure (direct-pointing array, nodes, leaves,
    /// hops; allocated capacity, including freed blocks awaiting reuse).
    pub(crate) fn bytes(&self) -> usize {
        self.dp.capacity() * 4
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.hops.len() * 4
    }
}

/// Grows a vector's capacity by an eighth (not the default doubling) when
/// `extra` more elements do not fit: the arrays are megabytes, and a
/// doubling would leave up to half of one allocated and unused.
fn reserve_for<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 8));
    }
}

/// Index ranges `(start, len)` of the arrays written by one batch: what
/// the other copy must replay to catch up.
#[derive(Default, Debug)]
pub(crate) struct Dirty {
    pub(crate) dp: Vec<(u32, u32)>,
    pub(crate) nodes: Vec<(u32, u32)>,
    pub(crate) leaves: Vec<(u32, u32)>,
}

/// Builds and incrementally rebuilds the poptrie of a [`Table`] from the RIB.
///
/// Blocks of nodes and leaves are allocated from per-size free lists (a
/// node's children and its leaves are each one contiguous block of at most
/// 64). The table is the writer's own copy, never one that readers see, so
/// a freed block may be reused at once, even in the same batch. Every
/// write is recorded in `dirty` (when `logging`), for the other copy to
/// replay.
pub(crate) struct Arena<F: Family> {
    pub(crate) table: Table<F>,
    pub(crate) dirty: Dirty,
    /// Record writes? Off for full builds (a fresh table is copied whole).
    pub(crate) logging: bool,
    free_nodes: Vec<Vec<u32>>,
    free_leaves: Vec<Vec<u32>>,
    pub(crate) free_node_count: usize,
    pub(crate) free_leaf_count: usize,
}

/// A change inside the long trie, as (key, prefix length).
pub(crate) type Touched<K> = (K, u32);

impl<F: Family> Arena<F> {
    pub(crate) fn new() -> Self {
        Arena {
            table: Table::empty(),
            dirty: Dirty::default(),
            logging: false,
            free_nodes: vec![Vec::new(); 65],
            free_leaves: vec![Vec::new(); 65],
            free_node_count: 0,
            free_leaf_count: 0,
        }
    }

    fn grow_nodes(&mut self, n: u32) -> u32 {
        let v = &mut self.table.nodes;
        let start = v.len();
        reserve_for(v, n as usize);
        v.resize(start + n as usize, Node::default());
        start as u32
    }

    fn grow_leaves(&mut self, n: u32) -> u32 {
        let v = &mut self.table.leaves;
        let start = v.len();
        reserve_for(v, n as usize);
        v.resize(start + n as usize, 0);
        start as u32
    }

    #[inline]
    fn set_node(&mut self, index: u32, node: Node) {
        self.table.nodes[index as usize] = node;
        if self.logging {
            self.dirty.nodes.push((index, 1));
        }
    }

    #[inline]
    pub(crate) fn set_dp(&mut self, slot: usize, entry: u32) {
        self.table.dp[slot] = entry;
        if self.logging {
            self.dirty.dp.push((slot as u32, 1));
        }
    }

    fn write_leaf_block(&mut self, base: u32, values: &[Leaf]) {
        let start = base as usize;
        self.table.leaves[start..start + values.len()].copy_from_slice(values);
        if self.logging {
            self.dirty.leaves.push((base, values.len() as u32));
        }
    }

    /// Makes the arrays compact after a full build (their growth left
    /// capacity unused).
    pub(crate) fn shrink(&mut self) {
        self.table.nodes.shrink_to_fit();
        self.table.leaves.shrink_to_fit();
    }

    fn alloc_nodes(&mut self, n: u32) -> u32 {
        if let Some(b) = self.free_nodes[n as usize].pop() {
            self.free_node_count -= n as usize;
            return b;
        }
        self.grow_nodes(n)
    }

    fn alloc_leaves(&mut self, n: u32) -> u32 {
        if let Some(b) = self.free_leaves[n as usize].pop() {
            self.free_leaf_count -= n as usize;
            return b;
        }
        self.grow_leaves(n)
    }

    fn release_nodes(&mut self, base: u32, n: u32) {
        if n > 0 {
            self.free_nodes[n as usize].push(base);
            self.free_node_count += n as usize;
        }
    }

    fn release_leaves(&mut self, base: u32, n: u32) {
        if n > 0 {
            self.free_leaves[n as usize].push(base);
            self.free_leaf_count += n as usize;
        }
    }

    /// Frees everything below node `index` (not the node itself).
    pub(crate) fn free_below(&mut self, index: u32) {
        let node = self.table.nodes[index as usize];
        let children = popcount(node.vector);
        for r in 0..children {
            self.free_below(node.base_node + r);
        }
        self.release_nodes(node.base_node, children);
        self.release_leaves(node.base_leaf, popcount(node.leafvec));
    }

    /// Frees the subtree hanging from a direct-pointing entry.
    pub(crate) fn free_entry(&mut self, entry: u32) {
        if entry & DP_LEAF == 0 {
            self.free_below(entry);
            self.release_nodes(entry, 1);
        }
    }

    /// Compresses 64 leaf values (skipping internal positions) into a
    /// leafvec and the run values.
    fn compress(values: &[u32; 64], internal: u64, out: &mut [Leaf; 64]) -> (u64, u32) {
        let mut leafvec = 0u64;
        let mut n = 0u32;
        let mut prev: Option<u32> = None;
        for (p, &v) in values.iter().enumerate() {
            if internal >> p & 1 == 1 {
                continue;
            }
            if prev != Some(v) {
                leafvec |= 1 << p;
                out[n as usize] = v as Leaf; // codes fit 16 bits (interning caps them)
                n += 1;
                prev = Some(v);
            }
        }
        (leafvec, n)
    }

    fn write_leaves(&mut self, values: &[Leaf]) -> u32 {
        let base = self.alloc_leaves(values.len() as u32);
        self.write_leaf_block(base, values);
        base
    }

    /// Builds the subtree of long-trie node `rnode` into node slot `index`,
    /// allocating fresh blocks.
    pub(crate) fn build(
        &mut self,
        rib: &crate::rib::LongTrie<F::Key>,
        index: u32,
        rnode: u32,
        inherited: u32,
    ) {
        let mut values = [0u32; 64];
        rib.expand(rnode, inherited, &mut values);
        let internal = rib.nodes[rnode as usize].child_bits;
        let mut runs = [0 as Leaf; 64];
        let (leafvec, nleaves) = Self::compress(&values, internal, &mut runs);
        let base_leaf = if nleaves > 0 {
            self.write_leaves(&runs[..nleaves as usize])
        } else {
            0
        };
        let children = popcount(internal);
        let base_node = if children > 0 {
            self.alloc_nodes(children)
        } else {
            0
        };
        self.set_node(
            index,
            Node {
                vector: internal,
                leafvec,
                base_leaf,
                base_node,
            },
        );
        let mut rest = internal;
        let mut rank = 0;
        while rest != 0 {
            let p = rest.trailing_zeros();
            rest &= rest - 1;
            let child = rib.nodes[rnode as usize].child(rank);
            self.build(rib, base_node + rank as u32, child, values[p as usize]);
            rank += 1;
        }
    }

    /// Rebuilds node `index` (at `depth`, for long-trie node `rnode`) after
    /// the changes `touched` (all inside the node's region, longer than
    /// `depth`), keeping the subtrees they do not affect in place.
    pub(crate) fn rebuild(
        &mut self,
        rib: &crate::rib::LongTrie<F::Key>,
        index: u32,
        rnode: u32,
        depth: u32,
        inherited: u32,
        touched: &[Touched<F::Key>],
    ) {
        let old = self.table.nodes[index as usize];
        let mut values = [0u32; 64];
        rib.expand(rnode, inherited, &mut values);
        let internal = rib.nodes[rnode as usize].child_bits;

        // Positions whose inherited value may have changed: covered by a
        // touched prefix that ends in this stride.
        let mut covered = 0u64;
        for &(key, len) in touched {
            if len <= depth + 6 {
                let rel = len - depth;
                let lo = key.bits(depth, rel) << (6 - rel);
                let n = 1u32 << (6 - rel);
                covered |= (u64::MAX >> (64 - n)) << lo;
            }
        }

        let same_shape = internal == old.vector;
        let children = popcount(internal);
        let base_node = if same_shape || children == 0 {
            old.base_node
        } else {
            self.alloc_nodes(children)
        };
        let mut rest = internal;
        let mut rank = 0u32;
        let mut below: Vec<Touched<F::Key>> = Vec::new();
        while rest != 0 {
            let p = rest.trailing_zeros();
            rest &= rest - 1;
            let rchild = rib.nodes[rnode as usize].child(rank as usize);
            let new_index = base_node + rank;
            rank += 1;
            if old.vector >> p & 1 == 0 {
                self.build(rib, new_index, rchild, values[p as usize]);
                continue;
            }
            let old_index = old.base_node + popcount(old.vector & upto(p)) - 1;
            if covered >> p & 1 == 1 {
                self.free_below(old_index);
                self.build(rib, new_index, rchild, values[p as usize]);
                continue;
            }
            below.clear();
            below.extend(
                touched
                    .iter()
                    .filter(|&&(k, l)| l > depth + 6 && k.bits(depth, 6) == p),
            );
            if !below.is_empty() {
                let below = std::mem::take(&mut below);
                self.rebuild(
                    rib,
                    old_index,
                    rchild,
                    depth + 6,
                    values[p as usize],
                    &below,
                );
            }
            if !same_shape {
                let moved = self.table.nodes[old_index as usize];
                self.set_node(new_index, moved);
            }
        }
        if !same_shape {
            let mut gone = old.vector & !internal;
            while gone != 0 {
                let p = gone.trailing_zeros();
                gone &= gone - 1;
                self.free_below(old.base_node + popcount(old.vector & upto(p)) - 1);
            }
            self.release_nodes(old.base_node, popcount(old.vector));
        }

        let mut runs = [0 as Leaf; 64];
        let (leafvec, nleaves) = Self::compress(&values, internal, &mut runs);
        let old_nleaves = popcount(old.leafvec);
        let base_leaf = if nleaves == old_nleaves {
            // Same size: overwrite in place (this copy is not published),
            // skipping the write if nothing changed.
            let runs = &runs[..nleaves as usize];
            if (0..nleaves)
                .any(|i| self.table.leaves[(old.base_leaf + i) as usize] != runs[i as usize])
            {
                self.write_leaf_block(old.base_leaf, runs);
            }
            old.base_leaf
        } else {
            self.release_leaves(old.base_leaf, old_nleaves);
            if nleaves > 0 {
                self.write_leaves(&runs[..nleaves as usize])
            } else {
                0
            }
        };
        self.set_node(
            index,
            Node {
                vector: internal,
                leafvec,
                base_leaf,
                base_node,
            },
        );
    }

    /// Makes a fresh root node for a slot and builds it.
    pub(crate) fn build_root(
        &mut self,
        rib: &crate::rib::LongTrie<F::Key>,
        rnode: u32,
        inherited: u32,
    ) -> u32 {
        let index = self.alloc_nodes(1);
        self.build(rib, index, rnode, inherited);
        index
    }
}
