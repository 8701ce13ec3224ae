//! A minimal static poptrie for IPv4: the speed reference for `fib`'s
//! lookups (issue 12). Same layout as `fib`'s table — an `S`-bit
//! direct-pointing array of `u32` (bit 31: leaf), 24-byte nodes of 6-bit
//! stride (`vector`, `leafvec`, `base_leaf`, `base_node`), 16-bit leaves
//! with leaf compression — built once from the same prefixes, with no
//! update support, no versioning and no next-hop indirection (a leaf holds
//! next hop + 1, 0 = no route). Whatever `fib` loses against it is the
//! price of being updatable.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

const LEAF: u32 = 1 << 31;

#[derive(Clone, Copy, Default)]
struct Node {
    vector: u64,
    leafvec: u64,
    base_leaf: u32,
    base_node: u32,
}

pub struct StaticPoptrie<const S: u32> {
    dp: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<u16>,
}

/// A prefix longer than `S`: address, length, leaf value.
type Long = (u32, u32, u16);

impl<const S: u32> StaticPoptrie<S> {
    /// Next hops must be < 0xffff.
    pub fn build(routes: &[(Ipv4Net, u32)]) -> Self {
        let mut sorted: Vec<(u32, u32, u16)> = routes
            .iter()
            .map(|(n, h)| {
                (
                    u32::from(n.network()),
                    n.prefix_len() as u32,
                    (*h + 1) as u16,
                )
            })
            .collect();
        // Address order, shorter first at the same address: a covering
        // prefix then always comes before the prefixes inside it.
        sorted.sort_unstable_by_key(|&(k, l, _)| (k, l));
        let mut by_len = sorted.clone();
        by_len.sort_by_key(|&(_, l, _)| l);
        // Values of the direct-pointing slots from the prefixes <= S.
        let mut slot_value = vec![0u16; 1 << S];
        for &(k, l, v) in by_len.iter().filter(|r| r.1 <= S) {
            let first = if l == 0 { 0 } else { (k >> (32 - S)) as usize };
            let n = 1usize << (S - l);
            slot_value[first..first + n].fill(v);
        }
        let long: Vec<Long> = sorted.into_iter().filter(|r| r.1 > S).collect();
        let mut t = StaticPoptrie {
            dp: slot_value.iter().map(|&v| LEAF | v as u32).collect(),
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let mut i = 0;
        while i < long.len() {
            let slot = long[i].0 >> (32 - S);
            let j = i + long[i..]
                .iter()
                .take_while(|r| r.0 >> (32 - S) == slot)
                .count();
            let root = t.nodes.len();
            t.nodes.push(Node::default());
            t.build_node(root, &long[i..j], S, slot_value[slot as usize]);
            t.dp[slot as usize] = root as u32;
            i = j;
        }
        t.nodes.shrink_to_fit();
        t.leaves.shrink_to_fit();
        t
    }

    /// Builds node `index` at `depth` from the prefixes (all longer than
    /// `depth`, inside the node's region, in address order).
    fn build_node(&mut self, index: usize, prefixes: &[Long], depth: u32, inherited: u16) {
        let stride = |k: u32| -> u32 {
            if depth >= 32 {
                0
            } else {
                (k << depth) >> 26
            }
        };
        let mut values = [inherited; 64];
        let mut vector = 0u64;
        for &(k, l, v) in prefixes {
            if l <= depth + 6 {
                let lo = (stride(k) >> (depth + 6 - l)) << (depth + 6 - l);
                let n = 1u32 << (depth + 6 - l);
                values[lo as usize..(lo + n) as usize].fill(v);
            } else {
                vector |= 1 << stride(k);
            }
        }
        let mut leafvec = 0u64;
        let mut prev = None;
        let base_leaf = self.leaves.len() as u32;
        for (p, &v) in values.iter().enumerate() {
            if vector >> p & 1 == 0 && prev != Some(v) {
                leafvec |= 1 << p;
                self.leaves.push(v);
                prev = Some(v);
            }
        }
        let base_node = self.nodes.len() as u32;
        let children = vector.count_ones() as usize;
        self.nodes
            .resize(self.nodes.len() + children, Node::default());
        self.nodes[index] = Node {
            vector,
            leafvec,
            base_leaf,
            base_node,
        };
        let mut rank = 0;
        let mut rest = vector;
        while rest != 0 {
            let p = rest.trailing_zeros();
            rest &= rest - 1;
            let inside: Vec<Long> = prefixes
                .iter()
                .filter(|r| r.1 > depth + 6 && stride(r.0) == p)
                .copied()
                .collect();
            self.build_node(
                base_node as usize + rank,
                &inside,
                depth + 6,
                values[p as usize],
            );
            rank += 1;
        }
    }

    #[inline]
    pub fn lookup(&self, a: Ipv4Addr) -> Option<u32> {
        let k = u32::from(a);
        let entry = self.dp[(k >> (32 - S)) as usize];
        let leaf = if entry & LEAF != 0 {
            entry & !LEAF
        } else {
            let mut index = entry as usize;
            let mut depth = S;
            loop {
                let node = &self.nodes[index];
                // depth <= 30 here: a node at depth 30 holds every prefix
                // up to /32 as leaves (bits past the address read as zero).
                let p = (k << depth) >> 26;
                let upto = u64::MAX >> (63 - p);
                if node.vector >> p & 1 == 0 {
                    let rank = (node.leafvec & upto).count_ones() as usize;
                    break self.leaves[node.base_leaf as usize + rank - 1] as u32;
                }
                index = node.base_node as usize + (node.vector & upto).count_ones() as usize - 1;
                depth += 6;
            }
        };
        leaf.checked_sub(1)
    }

    pub fn bytes(&self) -> usize {
        self.dp.capacity() * 4 + self.nodes.capacity() * 24 + self.leaves.capacity() * 2
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.nodes.len(), self.leaves.len())
    }
}
