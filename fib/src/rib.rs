//! The RIB beside the poptrie: every installed prefix, in two tries shaped
//! for rebuilding poptrie pieces cheaply.
//!
//! * [`ShortTrie`]: a binary trie of the prefixes no longer than the
//!   direct-pointing width `s`. They decide the default of each
//!   direct-pointing slot.
//! * [`LongTrie`]: the prefixes longer than `s`, in multibit nodes aligned
//!   with the poptrie's 6-bit strides (depths s, s+6, ...). A node holds the
//!   prefixes that end inside its stride as sorted `(code, value)` pairs, so
//!   expanding it into the 64 positions of the matching poptrie node reads
//!   one small vector instead of chasing up to 127 binary-trie nodes.
//!
//! Values are leaf codes (see `poptrie`): 0 means "no route here".

use crate::key::Key;

const NIL: u32 = 0;

#[derive(Clone, Copy, Default)]
struct BinNode {
    child: [u32; 2],
    value: u32,
}

/// Binary trie over the prefixes of length `0..=s`, keyed by their top `s`
/// bits (the slot number).
pub(crate) struct ShortTrie {
    nodes: Vec<BinNode>,
    free: Vec<u32>,
    s: u32,
}

impl ShortTrie {
    pub(crate) fn new(s: u32) -> Self {
        // Index 0 is the root; NIL (0) as a child index means "absent",
        // which is unambiguous because the root is nobody's child.
        ShortTrie {
            nodes: vec![BinNode::default()],
            free: Vec::new(),
            s,
        }
    }

    fn bit(&self, slot: u32, i: u32) -> usize {
        ((slot >> (self.s - 1 - i)) & 1) as usize
    }

    /// Sets (value != 0) or clears (value == 0) the prefix `slot >> (s-len)`
    /// of length `len`; returns the previous value.
    pub(crate) fn set(&mut self, slot: u32, len: u32, value: u32) -> u32 {
        debug_assert!(len <= self.s);
        let mut path = [NIL; 33];
        let mut cur = 0u32;
        for i in 0..len {
            path[i as usize] = cur;
            let b = self.bit(slot, i);
            let next = self.nodes[cur as usize].child[b];
            if next != NIL {
                cur = next;
                continue;
            }
            if value == 0 {
                return 0;
            }
            let n = match self.free.pop() {
                Some(n) => {
                    self.nodes[n as usize] = BinNode::default();
                    n
                }
                None => {
                    self.nodes.push(BinNode::default());
                    (self.nodes.len() - 1) as u32
                }
            };
            self.nodes[cur as usize].child[b] = n;
            cur = n;
        }
        let old = std::mem::replace(&mut self.nodes[cur as usize].value, value);
        if value == 0 {
            // Prune the now useless tail of the path.
            let mut i = len;
            while i > 0 {
                let node = self.nodes[cur as usize];
                if node.value != 0 || node.child != [NIL, NIL] {
                    break;
                }
                i -= 1;
                let parent = path[i as usize];
                let b = self.bit(slot, i);
                self.nodes[parent as usize].child[b] = NIL;
                self.free.push(cur);
                cur = parent;
            }
        }
        old
    }

    /// Calls `f(slot, value)` for every slot in `lo..hi`, with the value of
    /// the longest prefix covering it (0 if none), in increasing order.
    pub(crate) fn fill(&self, lo: u32, hi: u32, f: &mut impl FnMut(u32, u32)) {
        self.fill_rec(0, 0, 0, 0, lo, hi, f);
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_rec(
        &self,
        node: u32,
        depth: u32,
        prefix: u32,
        inherited: u32,
        lo: u32,
        hi: u32,
        f: &mut impl FnMut(u32, u32),
    ) {
        let span = 1u64 << (self.s - depth);
        let start = (prefix as u64) * span;
        let end = start + span;
        if end <= lo as u64 || start >= hi as u64 {
            return;
        }
        let n = self.nodes[node as usize];
        let inherited = if n.value != 0 { n.value } else { inherited };
        if depth == self.s {
            f(prefix, inherited);
            return;
        }
        for b in 0..2u32 {
            let child = n.child[b as usize];
            let child_prefix = prefix * 2 + b;
            if child != NIL {
                self.fill_rec(child, depth + 1, child_prefix, inherited, lo, hi, f);
            } else {
                let span = 1u64 << (self.s - depth - 1);
                let start = (child_prefix as u64 * span).max(lo as u64);
                let end = ((child_prefix as u64 + 1) * span).min(hi as u64);
                for slot in start..end {
                    f(slot as u32, inherited);
                }
            }
        }
    }

    /// Calls `f(slot_prefix, len, value)` for every stored prefix.
    pub(crate) fn for_each(&self, f: &mut impl FnMut(u32, u32, u32)) {
        let mut stack = vec![(0u32, 0u32, 0u32)];
        while let Some((node, depth, prefix)) = stack.pop() {
            let n = self.nodes[node as usize];
            if n.value != 0 {
                f(prefix, depth, n.value);
            }
            for b in (0..2u32).rev() {
                if n.child[b as usize] != NIL {
                    stack.push((n.child[b as usize], depth + 1, prefix * 2 + b));
                }
            }
        }
    }
}

/// One stride of the long-prefix trie at depth `d`: prefixes of length
/// `d+1..=d+6` and the child nodes (depth `d+6`) that hold longer ones.
///
/// Packed for memory (the RIB of a full table has 100k+ of these): one
/// exactly sized allocation holds the children, then the prefixes.
#[derive(Default, Clone)]
pub(crate) struct StrideNode {
    /// Bit `p` set: position `p` has a child node.
    pub(crate) child_bits: u64,
    /// `popcount(child_bits)` child indices in position order
    /// (popcount-indexed like a poptrie node), then the prefixes as
    /// `code << 16 | value`, sorted by code; `code = 1 << rel | bits` where
    /// `rel = len - d` in 1..=6 and `bits` are the prefix's `rel` bits
    /// after `d`. Sorting by code sorts by length first. Values are leaf
    /// codes, which fit 16 bits.
    data: Box<[u32]>,
}

impl StrideNode {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    fn rank(&self, p: u32) -> usize {
        (self.child_bits & ((1u64 << p) - 1)).count_ones() as usize
    }
    fn children(&self) -> usize {
        self.child_bits.count_ones() as usize
    }
    pub(crate) fn child(&self, rank: usize) -> u32 {
        self.data[rank]
    }
    /// The prefixes as `(code, value)`.
    fn prefixes(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.data[self.children()..]
            .iter()
            .map(|&e| (e >> 16, e & 0xffff))
    }
    /// Inserts `v` at `i` of `data`, keeping the allocation exact.
    fn insert(&mut self, i: usize, v: u32) {
        let mut d = std::mem::take(&mut self.data).into_vec();
        d.reserve_exact(1);
        d.insert(i, v);
        self.data = d.into_boxed_slice();
    }
    fn remove(&mut self, i: usize) {
        let mut d = std::mem::take(&mut self.data).into_vec();
        d.remove(i);
        self.data = d.into_boxed_slice();
    }
}

/// Multibit trie of the prefixes longer than `s`.
pub(crate) struct LongTrie<K: Key> {
    pub(crate) nodes: Vec<StrideNode>,
    free: Vec<u32>,
    /// Root node per direct-pointing slot (NIL if the slot has no long prefix).
    pub(crate) roots: Vec<u32>,
    s: u32,
    _key: std::marker::PhantomData<K>,
}

impl<K: Key> LongTrie<K> {
    pub(crate) fn new(s: u32) -> Self {
        LongTrie {
            nodes: vec![StrideNode::default()],
            free: Vec::new(),
            roots: vec![NIL; 1 << s],
            s,
            _key: std::marker::PhantomData,
        }
    }

    /// Room for about `routes` more prefixes' nodes (a reserve that is
    /// never touched costs no memory; `shrink` returns the rest).
    pub(crate) fn reserve(&mut self, routes: usize) {
        self.nodes.reserve(routes);
    }

    pub(crate) fn shrink(&mut self) {
        self.nodes.shrink_to_fit();
    }

    /// Nodes in use.
    pub(crate) fn live_nodes(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }

    fn new_node(&mut self) -> u32 {
        match self.free.pop() {
            Some(n) => n,
            None => {
                self.nodes.push(StrideNode::default());
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn free_node(&mut self, n: u32) {
        self.nodes[n as usize] = StrideNode::default();
        self.free.push(n);
    }

    /// Sets (value != 0) or clears (value == 0) the prefix `key/len`,
    /// `len > s`; returns the previous value.
    pub(crate) fn set(&mut self, key: K, len: u32, value: u32) -> u32 {
        debug_assert!(len > self.s && len <= K::BITS);
        let slot = key.bits(0, self.s) as usize;
        let mut cur = self.roots[slot];
        if cur == NIL {
            if value == 0 {
                return 0;
            }
            cur = self.new_node();
            self.roots[slot] = cur;
        }
        let mut path: Vec<(u32, u32)> = Vec::new();
        let mut depth = self.s;
        while len > depth + 6 {
            let p = key.bits(depth, 6);
            let node = &self.nodes[cur as usize];
            let rank = node.rank(p);
            let next = if node.child_bits >> p & 1 == 1 {
                node.child(rank)
            } else {
                if value == 0 {
                    return 0;
                }
                let n = self.new_node();
                let node = &mut self.nodes[cur as usize];
                node.insert(rank, n);
                node.child_bits |= 1 << p;
                n
            };
            path.push((cur, p));
            cur = next;
            depth += 6;
        }
        let rel = len - depth;
        let code = (1u32 << rel) | key.bits(depth, rel);
        debug_assert!(value <= 0xffff);
        let node = &mut self.nodes[cur as usize];
        let first = node.children();
        let old = match node.data[first..].binary_search_by_key(&code, |e| e >> 16) {
            Ok(i) => {
                let old = node.data[first + i] & 0xffff;
                if value == 0 {
                    node.remove(first + i);
                } else {
                    node.data[first + i] = code << 16 | value;
                }
                old
            }
            Err(i) => {
                if value != 0 {
                    node.insert(first + i, code << 16 | value);
                }
                0
            }
        };
        if value == 0 {
            // Remove nodes left empty, bottom up.
            while self.nodes[cur as usize].is_empty() {
                self.free_node(cur);
                match path.pop() {
                    None => {
                        self.roots[slot] = NIL;
                        break;
                    }
                    Some((parent, p)) => {
                        let node = &mut self.nodes[parent as usize];
                        let rank = node.rank(p);
                        node.remove(rank);
                        node.child_bits &= !(1u64 << p);
                        cur = parent;
                    }
                }
            }
        }
        old
    }

    /// The 64 leaf values of node `n` when the prefixes above it leave
    /// `inherited`: longer prefixes overwrite shorter ones.
    #[inline]
    pub(crate) fn expand(&self, n: u32, inherited: u32, out: &mut [u32; 64]) {
        *out = [inherited; 64];
        for (code, value) in self.nodes[n as usize].prefixes() {
            let rel = 31 - code.leading_zeros();
            let bits = code ^ (1 << rel);
            let lo = (bits << (6 - rel)) as usize;
            out[lo..lo + (1 << (6 - rel))].fill(value);
        }
    }

    /// Calls `f(key, len, value)` for every stored prefix.
    pub(crate) fn for_each(&self, f: &mut impl FnMut(K, u32, u32)) {
        for (slot, &root) in self.roots.iter().enumerate() {
            if root != NIL {
                let key = K::default().or_bits(0, self.s, slot as u32);
                self.for_each_rec(root, self.s, key, f);
            }
        }
    }

    fn for_each_rec(&self, n: u32, depth: u32, key: K, f: &mut impl FnMut(K, u32, u32)) {
        let node = &self.nodes[n as usize];
        for (code, value) in node.prefixes() {
            let rel = 31 - code.leading_zeros();
            let bits = code ^ (1 << rel);
            f(key.or_bits(depth, rel, bits), depth + rel, value);
        }
        let mut bitsleft = node.child_bits;
        let mut rank = 0;
        while bitsleft != 0 {
            let p = bitsleft.trailing_zeros();
            bitsleft &= bitsleft - 1;
            self.for_each_rec(node.child(rank), depth + 6, key.or_bits(depth, 6, p), f);
            rank += 1;
        }
    }
}
