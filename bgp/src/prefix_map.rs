//! An ordered map sized for a full routing table: sorted chunks of at most
//! [`CHUNK`] entries, keys and values in separate arrays.
//!
//! Why not `HashMap` or `BTreeMap` (both measured at 990,689 IPv4
//! prefixes, 24-octet values): a hash map sits at 2^21 buckets there (47 %
//! full: 69 MiB) and holds old and new arrays together while it doubles; a
//! `BTreeMap` fed in prefix order splits every full leaf in the middle and
//! leaves it 6/11 full (~56 octets per entry). Here a chunk that overflows
//! at its end (input in order, as tables usually arrive) starts a new chunk
//! and stays full; one that overflows in the middle first hands an entry to
//! a neighbour with room and only splits in half when both are full. Keys
//! and values live in separate arrays, so a 5-octet `Ipv4Net` key next to
//! an 8-aligned value costs 5 octets, not 8. Result: ~30 octets per entry
//! for a 24-octet value in order, ~35 in random order, and no transient.
//!
//! Lookups are a binary search over the chunks' first keys and one in the
//! chunk; an insert moves at most [`CHUNK`] entries within a chunk (plus,
//! when a chunk splits, the chunk list: one pointer-sized entry per chunk).
//! The searches compare [`MapKey::ord_key`]s: an `Ipv4Net`'s own `Ord`
//! compares its address as a byte array, two thirds of these searches'
//! time in a full-table withdrawal (perf); as one integer it is one
//! instruction.
use std::cell::Cell;
use std::mem;

use ipnet::{Ipv4Net, Ipv6Net};

/// A key of a [`PrefixMap`]: `ord_key` orders keys exactly as their `Ord`
/// does, but compares cheaply.
pub trait MapKey: Ord + Copy {
    type OrdKey: Ord + Copy;
    fn ord_key(&self) -> Self::OrdKey;
}

impl MapKey for Ipv4Net {
    type OrdKey = u64;
    /// (address, length), as `Ipv4Net`'s derived `Ord` compares them.
    #[inline]
    fn ord_key(&self) -> u64 {
        u64::from(u32::from(self.addr())) << 8 | u64::from(self.prefix_len())
    }
}

impl MapKey for Ipv6Net {
    type OrdKey = (u128, u8);
    #[inline]
    fn ord_key(&self) -> (u128, u8) {
        (u128::from(self.addr()), self.prefix_len())
    }
}

impl MapKey for u32 {
    type OrdKey = u32;
    #[inline]
    fn ord_key(&self) -> u32 {
        *self
    }
}

/// Most entries per chunk.
pub const CHUNK: usize = 128;

struct Chunk<K, V> {
    /// Sorted; both arrays are allocated with exactly [`CHUNK`] slots.
    keys: Vec<K>,
    vals: Vec<V>,
}

impl<K, V> Chunk<K, V> {
    fn new() -> Self {
        Chunk {
            keys: Vec::with_capacity(CHUNK),
            vals: Vec::with_capacity(CHUNK),
        }
    }
}

/// Sorted map from `K` to `V` (see the module docs for the layout).
pub struct PrefixMap<K, V> {
    /// Non-empty chunks in key order.
    chunks: Vec<Chunk<K, V>>,
    /// First key of each chunk, for the binary search.
    firsts: Vec<K>,
    len: usize,
    /// The chunk the last search ended in (see [`PrefixMap::chunk_of`]);
    /// only a hint, checked before it is used.
    last_chunk: Cell<usize>,
}

/// A key's place in a [`PrefixMap`] ([`PrefixMap::entry`]).
pub enum Entry<'a, K, V> {
    Occupied(&'a mut V),
    Vacant(VacantEntry<'a, K, V>),
}

/// Where an absent key belongs.
pub struct VacantEntry<'a, K, V> {
    map: &'a mut PrefixMap<K, V>,
    key: K,
    at: (usize, usize),
}

impl<'a, K: MapKey, V> VacantEntry<'a, K, V> {
    pub fn insert(self, v: V) -> &'a mut V {
        let (c, i) = self.map.put(self.at.0, self.at.1, self.key, v);
        &mut self.map.chunks[c].vals[i]
    }
}

impl<K, V> Default for PrefixMap<K, V> {
    fn default() -> Self {
        PrefixMap {
            chunks: Vec::new(),
            firsts: Vec::new(),
            len: 0,
            last_chunk: Cell::new(0),
        }
    }
}

impl<K: MapKey, V> PrefixMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The chunk that holds `k` if anything does (the last chunk whose first
    /// key is ≤ `k`, or chunk 0).
    ///
    /// Peers send a table, and withdraw it, in prefix order, and the RIB
    /// then asks for each prefix several times: so the chunk of the last
    /// search, or the one after it, is tried first. Two comparisons on a
    /// cached line replace a binary search of ~8k first keys (13 loads,
    /// most of them cache misses at a full table); a miss costs the two
    /// comparisons.
    fn chunk_of(&self, k: &K) -> usize {
        let key = k.ord_key();
        let holds = |c: usize| {
            self.firsts.get(c).is_some_and(|f| f.ord_key() <= key)
                && self.firsts.get(c + 1).is_none_or(|f| key < f.ord_key())
        };
        let last = self.last_chunk.get();
        let c = if holds(last) {
            last
        } else if holds(last + 1) {
            last + 1
        } else {
            self.firsts
                .partition_point(|f| f.ord_key() <= key)
                .saturating_sub(1)
        };
        self.last_chunk.set(c);
        c
    }

    fn find(&self, k: &K) -> Option<(usize, usize)> {
        self.slot(*k).ok()
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        let (c, i) = self.find(k)?;
        Some(&self.chunks[c].vals[i])
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let (c, i) = self.find(k)?;
        Some(&mut self.chunks[c].vals[i])
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_some()
    }

    /// Inserts or replaces; the previous value if any.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.slot(k) {
            Ok((c, i)) => Some(mem::replace(&mut self.chunks[c].vals[i], v)),
            Err((c, i)) => {
                self.put(c, i, k, v);
                None
            }
        }
    }

    /// The entry of `k`, found with one search, to read or fill in.
    pub fn entry(&mut self, k: K) -> Entry<'_, K, V> {
        match self.slot(k) {
            Ok((c, i)) => Entry::Occupied(&mut self.chunks[c].vals[i]),
            Err(at) => Entry::Vacant(VacantEntry {
                map: self,
                key: k,
                at,
            }),
        }
    }

    /// The value of `k`, inserting `f()` first if there is none.
    pub fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &mut V {
        let (c, i) = match self.slot(k) {
            Ok(at) => at,
            Err((c, i)) => self.put(c, i, k, f()),
        };
        &mut self.chunks[c].vals[i]
    }

    /// `Ok(chunk, index)` of `k`, or `Err(chunk, index)` where it belongs.
    fn slot(&self, k: K) -> Result<(usize, usize), (usize, usize)> {
        let c = self.chunk_of(&k);
        let key = k.ord_key();
        match self.chunks.get(c) {
            None => Err((0, 0)),
            Some(ch) => match ch.keys.binary_search_by(|x| x.ord_key().cmp(&key)) {
                Ok(i) => Ok((c, i)),
                Err(i) => Err((c, i)),
            },
        }
    }

    /// Inserts a new key at (chunk `c`, index `i`); where it ended up.
    fn put(&mut self, mut c: usize, mut i: usize, k: K, v: V) -> (usize, usize) {
        self.len += 1;
        if self.chunks.is_empty() {
            let mut ch = Chunk::new();
            ch.keys.push(k);
            ch.vals.push(v);
            self.chunks.push(ch);
            self.firsts.push(k);
            return (0, 0);
        }
        if self.chunks[c].keys.len() == CHUNK {
            let right_has_room = self.chunks.get(c + 1).is_some_and(|r| r.keys.len() < CHUNK);
            if i == CHUNK && right_has_room {
                // Belongs between this chunk and the next: front of the next.
                c += 1;
                i = 0;
            } else if i == CHUNK {
                // Appending past a full chunk (input in order): start the
                // next chunk and leave this one full.
                let mut ch = Chunk::new();
                ch.keys.push(k);
                ch.vals.push(v);
                self.chunks.insert(c + 1, ch);
                self.firsts.insert(c + 1, k);
                return (c + 1, 0);
            } else if c > 0 && self.chunks[c - 1].keys.len() < CHUNK {
                // Full: hand the first entry to the left neighbour instead
                // of splitting (as a B*-tree does), so random input keeps
                // chunks ~85 % full rather than ~70 %. `i > 0` here: a key
                // before this chunk's first would belong to chunk c - 1.
                let (fk, fv) = (self.chunks[c].keys.remove(0), self.chunks[c].vals.remove(0));
                self.chunks[c - 1].keys.push(fk);
                self.chunks[c - 1].vals.push(fv);
                i -= 1;
                self.firsts[c] = match self.chunks[c].keys.first() {
                    Some(f) if i > 0 => *f,
                    _ => k,
                };
            } else if right_has_room {
                // Or the last entry to the right neighbour.
                let lk = self.chunks[c].keys.pop();
                let lv = self.chunks[c].vals.pop();
                if let (Some(lk), Some(lv)) = (lk, lv) {
                    self.chunks[c + 1].keys.insert(0, lk);
                    self.chunks[c + 1].vals.insert(0, lv);
                    self.firsts[c + 1] = lk;
                }
            } else {
                // Split in half; never reallocates (the new arrays are CHUNK).
                let mut upper = Chunk::new();
                let half = CHUNK / 2;
                upper.keys.extend(self.chunks[c].keys.drain(half..));
                upper.vals.extend(self.chunks[c].vals.drain(half..));
                self.firsts.insert(c + 1, upper.keys[0]);
                self.chunks.insert(c + 1, upper);
                if i > half {
                    c += 1;
                    i -= half;
                }
            }
        }
        let ch = &mut self.chunks[c];
        ch.keys.insert(i, k);
        ch.vals.insert(i, v);
        if i == 0 {
            self.firsts[c] = k;
        }
        (c, i)
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let (c, i) = self.find(k)?;
        Some(self.remove_at(c, i))
    }

    /// Runs `f` on the value of `k` and, when `f` says so (its `bool`),
    /// removes the entry: one search where `get_mut` then `remove` take
    /// two. `None` (and `f` not run): no such key.
    pub fn modify<R>(&mut self, k: &K, f: impl FnOnce(&mut V) -> (R, bool)) -> Option<R> {
        let (c, i) = self.find(k)?;
        let (r, remove) = f(&mut self.chunks[c].vals[i]);
        if remove {
            self.remove_at(c, i);
        }
        Some(r)
    }

    fn remove_at(&mut self, c: usize, i: usize) -> V {
        self.len -= 1;
        let ch = &mut self.chunks[c];
        ch.keys.remove(i);
        let v = ch.vals.remove(i);
        if ch.keys.is_empty() {
            self.chunks.remove(c);
            self.firsts.remove(c);
        } else {
            if i == 0 {
                self.firsts[c] = ch.keys[0];
            }
            self.merge_if_sparse(c);
        }
        v
    }

    /// After withdrawals: fold a chunk under a quarter full into its left
    /// neighbour when that has room, so memory follows the entry count.
    fn merge_if_sparse(&mut self, c: usize) {
        if c == 0 || self.chunks[c].keys.len() > CHUNK / 4 {
            return;
        }
        if self.chunks[c - 1].keys.len() + self.chunks[c].keys.len() > CHUNK {
            return;
        }
        let ch = self.chunks.remove(c);
        self.firsts.remove(c);
        let left = &mut self.chunks[c - 1];
        left.keys.extend(ch.keys);
        left.vals.extend(ch.vals);
    }

    /// Keeps the entries for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        let old = mem::take(&mut self.chunks);
        self.firsts.clear();
        self.len = 0;
        let mut out: Chunk<K, V> = Chunk::new();
        for ch in old {
            for (k, mut v) in ch.keys.into_iter().zip(ch.vals) {
                if f(&k, &mut v) {
                    if out.keys.len() == CHUNK {
                        self.push_chunk(mem::replace(&mut out, Chunk::new()));
                    }
                    out.keys.push(k);
                    out.vals.push(v);
                }
            }
        }
        if !out.keys.is_empty() {
            self.push_chunk(out);
        }
    }

    fn push_chunk(&mut self, ch: Chunk<K, V>) {
        self.len += ch.keys.len();
        self.firsts.push(ch.keys[0]);
        self.chunks.push(ch);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.chunks
            .iter()
            .flat_map(|c| c.keys.iter().zip(c.vals.iter()))
    }

    /// Entries whose keys are ≥ `k`, in key order: a sweep that stops
    /// after a bounded number of entries resumes here, with one search.
    pub fn range_from(&self, k: &K) -> impl Iterator<Item = (&K, &V)> {
        let (c, i) = match self.slot(*k) {
            Ok(at) | Err(at) => at,
        };
        self.chunks
            .iter()
            .skip(c)
            .enumerate()
            .flat_map(move |(n, ch)| {
                let skip = if n == 0 { i } else { 0 };
                ch.keys.iter().zip(ch.vals.iter()).skip(skip)
            })
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.chunks.iter().flat_map(|c| c.keys.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.chunks.iter().flat_map(|c| c.vals.iter())
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.chunks.iter_mut().flat_map(|c| c.vals.iter_mut())
    }

    /// Entries in key order, values mutable (keys are not: they order the map).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.chunks
            .iter_mut()
            .flat_map(|c| c.keys.iter().zip(c.vals.iter_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Same answers as `BTreeMap` under a random mix of operations.
    fn against_btree(seed: u64, ops: usize, key_space: u32) {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ours: PrefixMap<u32, u64> = PrefixMap::new();
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        for n in 0..ops {
            let r = next();
            let k = (r >> 8) as u32 % key_space;
            match r % 8 {
                0..=3 => assert_eq!(ours.insert(k, r), model.insert(k, r)),
                4 => assert_eq!(ours.remove(&k), model.remove(&k)),
                5 => {
                    // Bump the value; remove the entry when it turns odd.
                    let got = ours.modify(&k, |v| {
                        *v += 1;
                        (*v, *v % 2 == 1)
                    });
                    let want = model.get_mut(&k).map(|v| {
                        *v += 1;
                        *v
                    });
                    if want.is_some_and(|v| v % 2 == 1) {
                        model.remove(&k);
                    }
                    assert_eq!(got, want);
                }
                6 => {
                    *ours.get_or_insert_with(k, || 7) += 1;
                    *model.entry(k).or_insert(7) += 1;
                }
                7 if r & 0x10000 != 0 => {
                    match ours.entry(k) {
                        Entry::Occupied(v) => *v = v.wrapping_mul(3),
                        Entry::Vacant(e) => {
                            e.insert(11);
                        }
                    }
                    model
                        .entry(k)
                        .and_modify(|v| *v = v.wrapping_mul(3))
                        .or_insert(11);
                }
                7 => assert!(ours
                    .range_from(&k)
                    .take(5)
                    .map(|(k, v)| (*k, *v))
                    .eq(model.range(k..).take(5).map(|(k, v)| (*k, *v)))),
                _ => assert_eq!(ours.get(&k), model.get(&k)),
            }
            assert_eq!(ours.len(), model.len());
            if n % 997 == 0 {
                assert!(ours
                    .iter()
                    .map(|(k, v)| (*k, *v))
                    .eq(model.iter().map(|(k, v)| (*k, *v))));
                for (c, ch) in ours.chunks.iter().enumerate() {
                    assert!(!ch.keys.is_empty() && ch.keys.len() <= CHUNK);
                    assert_eq!(ch.keys.capacity(), CHUNK, "no reallocation");
                    assert_eq!(ours.firsts[c], ch.keys[0]);
                }
            }
        }
        ours.retain(|k, v| {
            *v += 1;
            k % 3 == 0
        });
        model.retain(|k, v| {
            *v += 1;
            k % 3 == 0
        });
        assert!(ours
            .iter()
            .map(|(k, v)| (*k, *v))
            .eq(model.iter().map(|(k, v)| (*k, *v))));
        assert_eq!(ours.len(), model.len());
    }

    #[test]
    fn searches_in_order_reverse_and_between_keys() {
        let mut m: PrefixMap<u32, u32> = PrefixMap::new();
        for k in 0..20_000u32 {
            m.insert(k * 2, k);
        }
        let check = |m: &PrefixMap<u32, u32>, k: u32| {
            assert_eq!(m.get(&(k * 2)), Some(&k));
            assert_eq!(m.get(&(k * 2 + 1)), None);
        };
        for k in 0..20_000 {
            check(&m, k);
        }
        for k in (0..20_000).rev() {
            check(&m, k);
        }
        for k in (0..20_000u32).map(|k| k.wrapping_mul(7919) % 20_000) {
            check(&m, k);
        }
        // In-order removals while searching (chunks merge and shift).
        for k in 0..10_000u32 {
            assert_eq!(m.remove(&(k * 2)), Some(k));
            check(&m, k + 10_000);
        }
        assert_eq!(m.len(), 10_000);
    }

    #[test]
    fn iter_mut_visits_in_order() {
        let mut m: PrefixMap<u32, u64> = PrefixMap::new();
        for k in (0..1000u32).rev() {
            m.insert(k * 3, 0);
        }
        for (k, v) in m.iter_mut() {
            *v = u64::from(*k) + 1;
        }
        let got: Vec<(u32, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        let want: Vec<(u32, u64)> = (0..1000u32)
            .map(|k| (k * 3, u64::from(k * 3) + 1))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn matches_btreemap() {
        against_btree(0x9e37_79b9_7f4a_7c15, 60_000, 5_000);
        against_btree(1, 30_000, 200);
        against_btree(42, 20_000, 1 << 30);
    }

    #[test]
    fn in_order_input_fills_chunks() {
        let mut m = PrefixMap::new();
        for k in 0..10 * CHUNK as u32 {
            m.insert(k, ());
        }
        assert_eq!(m.chunks.len(), 10);
        assert!(m.chunks.iter().all(|c| c.keys.len() == CHUNK));
        for k in (0..10 * CHUNK as u32).rev() {
            m.insert(k, ());
        }
        assert_eq!(m.chunks.len(), 10);
    }

    #[test]
    fn random_input_fills_chunks() {
        let mut m = PrefixMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        while m.len() < 200 * CHUNK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.insert(x as u32, ());
        }
        let fill = m.len() as f64 / (m.chunks.len() * CHUNK) as f64;
        assert!(fill > 0.8, "fill {fill}");
    }

    #[test]
    fn withdrawals_give_chunks_back() {
        let mut m = PrefixMap::new();
        let n = 20 * CHUNK as u32;
        for k in 0..n {
            m.insert(k, k);
        }
        for k in 0..n {
            if k % 8 != 0 {
                assert_eq!(m.remove(&k), Some(k));
            }
        }
        // 1/8 left: a fold into the left neighbour keeps chunks ≥ 1/4 full
        // on average.
        assert!(m.chunks.len() <= 5, "{} chunks", m.chunks.len());
        for k in (0..n).step_by(8) {
            assert_eq!(m.remove(&k), Some(k));
        }
        assert!(m.is_empty() && m.chunks.is_empty() && m.firsts.is_empty());
        assert_eq!(m.get(&0), None);
        assert_eq!(m.remove(&0), None);
    }

    #[test]
    fn ord_keys_order_as_ord_does() {
        let v4: Vec<Ipv4Net> = [
            "0.0.0.0/0",
            "0.0.0.0/8",
            "10.0.0.0/8",
            "10.0.0.0/9",
            "10.128.0.0/9",
            "9.255.255.255/32",
            "255.255.255.255/32",
            "128.0.0.0/1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for a in &v4 {
            for b in &v4 {
                assert_eq!(a.ord_key().cmp(&b.ord_key()), a.cmp(b), "{a} {b}");
            }
        }
        let v6: Vec<Ipv6Net> = [
            "::/0",
            "::/8",
            "fd00::/8",
            "fd00::/64",
            "fd00:0:0:1::/64",
            "ffff::/16",
            "8000::/1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for a in &v6 {
            for b in &v6 {
                assert_eq!(a.ord_key().cmp(&b.ord_key()), a.cmp(b), "{a} {b}");
            }
        }
    }
}
