//! The lock-free side: the table the workers read with a few atomic loads,
//! and the single writer's token.
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{NeighAddr, NeighHit, NeighState};
use crate::ports::PortId;
use crate::wire::ethernet::MacAddr;

struct Slot {
    /// Seqlock: odd while the writer changes the slot.
    seq: AtomicU32,
    /// `key[0] == 0`: empty; else the (port, address) key of
    /// [`NeighAddr::key`]. Three words so one layout serves both families.
    key: [AtomicU64; KEY_WORDS],
    /// MAC in the low 48 bits, state in bits 48..56.
    val: AtomicU64,
    /// Set by readers when they use a STALE entry (so the slow path re-probes).
    used: AtomicBool,
    /// When the neighbour was last confirmed reachable: milliseconds since
    /// the table's epoch, plus one (0: never). For operators only (`route
    /// get`), so outside the seqlock: a reader may see the previous value.
    confirmed: AtomicU64,
}

/// Words of a slot key.
pub const KEY_WORDS: usize = 3;
/// A slot key: word 0 has [`KEY_VALID`] set for every stored entry.
pub type Key = [u64; KEY_WORDS];
/// Set in word 0 of every valid key (so 0 means "empty").
pub const KEY_VALID: u64 = 1 << 63;
const READ_RETRIES: usize = 4;

impl NeighAddr for Ipv4Addr {
    const FAMILY: &'static str = "ipv4";
    #[inline]
    fn key(self, port: PortId) -> Key {
        [
            KEY_VALID | (port as u64) << 32 | u32::from(self) as u64,
            0,
            0,
        ]
    }
    fn from_key(k: &Key) -> (PortId, Self) {
        ((k[0] >> 32) as PortId, Ipv4Addr::from(k[0] as u32))
    }
}

impl NeighAddr for Ipv6Addr {
    const FAMILY: &'static str = "ipv6";
    #[inline]
    fn key(self, port: PortId) -> Key {
        let a = u128::from(self);
        [KEY_VALID | port as u64, (a >> 64) as u64, a as u64]
    }
    fn from_key(k: &Key) -> (PortId, Self) {
        (
            k[0] as PortId,
            Ipv6Addr::from((k[1] as u128) << 64 | k[2] as u128),
        )
    }
}

#[inline]
fn pack(mac: MacAddr, state: NeighState) -> u64 {
    let mut v = 0u64;
    for b in mac {
        v = v << 8 | b as u64;
    }
    v | (state as u64) << 48
}

#[inline]
fn unpack(v: u64) -> Option<NeighHit> {
    let state = NeighState::from_u8((v >> 48) as u8)?;
    let mut mac = [0u8; 6];
    for (i, m) in mac.iter_mut().enumerate() {
        *m = (v >> (40 - 8 * i)) as u8;
    }
    Some(NeighHit { mac, state })
}

/// The lock-free published neighbour table of one address family
/// (`Ipv4Addr`: ARP, `Ipv6Addr`: NDP).
pub struct NeighTable<A = Ipv4Addr> {
    slots: Box<[Slot]>,
    mask: usize,
    max_entries: usize,
    len: AtomicU32,
    writer_taken: AtomicBool,
    /// What the slots' `confirmed` times count from.
    epoch: Instant,
    family: PhantomData<A>,
}

impl<A: NeighAddr> NeighTable<A> {
    /// A table for up to `capacity` entries (the array is kept at most half
    /// full so probe sequences stay short).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, 1 << 20);
        let n = (capacity * 2).next_power_of_two();
        let slots = (0..n)
            .map(|_| Slot {
                seq: AtomicU32::new(0),
                key: Default::default(),
                val: AtomicU64::new(0),
                used: AtomicBool::new(false),
                confirmed: AtomicU64::new(0),
            })
            .collect();
        NeighTable {
            slots,
            mask: n - 1,
            max_entries: capacity,
            len: AtomicU32::new(0),
            writer_taken: AtomicBool::new(false),
            epoch: Instant::now(),
            family: PhantomData,
        }
    }

    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn home(&self, key: &Key) -> usize {
        let mixed = key[0] ^ key[1].rotate_left(21) ^ key[2].rotate_left(42);
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    /// Reads one slot consistently: (key, value), or None if the writer kept
    /// changing it.
    #[inline]
    fn read_slot(&self, s: &Slot) -> Option<(Key, u64)> {
        for _ in 0..READ_RETRIES {
            let s1 = s.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let k = load_key(s);
            let v = s.val.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if s.seq.load(Ordering::Relaxed) == s1 {
                return Some((k, v));
            }
        }
        None
    }

    /// Lock-free lookup (any thread). Marks a STALE entry as used.
    #[inline]
    pub fn lookup(&self, port: PortId, ip: A) -> Option<NeighHit> {
        let key = ip.key(port);
        let mut i = self.home(&key);
        for _ in 0..=self.mask {
            let s = &self.slots[i];
            let (k, v) = self.read_slot(s)?;
            if k[0] == 0 {
                return None;
            }
            if k == key {
                let hit = unpack(v)?;
                if hit.state == NeighState::Stale && !s.used.load(Ordering::Relaxed) {
                    s.used.store(true, Ordering::Relaxed);
                }
                return Some(hit);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// When the entry for (`port`, `ip`) was last confirmed reachable (an
    /// ARP reply), if it ever was. Display only.
    pub fn last_confirmed(&self, port: PortId, ip: A) -> Option<Instant> {
        let key = ip.key(port);
        let mut i = self.home(&key);
        for _ in 0..=self.mask {
            let s = &self.slots[i];
            let (k, _) = self.read_slot(s)?;
            if k[0] == 0 {
                return None;
            }
            if k == key {
                return match s.confirmed.load(Ordering::Relaxed) {
                    0 => None,
                    ms => Some(self.epoch + Duration::from_millis(ms - 1)),
                };
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// All published entries (for display; not a consistent snapshot).
    pub fn snapshot(&self) -> Vec<(PortId, A, NeighHit)> {
        let mut out = Vec::new();
        for s in self.slots.iter() {
            if let Some((k, v)) = self.read_slot(s) {
                if k[0] & KEY_VALID != 0 {
                    if let Some(h) = unpack(v) {
                        let (port, ip) = A::from_key(&k);
                        out.push((port, ip, h));
                    }
                }
            }
        }
        out
    }

    /// The single writer's token; None if someone holds it already.
    pub fn writer(&self) -> Option<NeighWriter<'_, A>> {
        if self.writer_taken.swap(true, Ordering::AcqRel) {
            None
        } else {
            Some(NeighWriter { t: self })
        }
    }
}

/// Exclusive write access to a [`NeighTable`]; released on drop.
pub struct NeighWriter<'a, A = Ipv4Addr> {
    pub(super) t: &'a NeighTable<A>,
}

impl<A> Drop for NeighWriter<'_, A> {
    fn drop(&mut self) {
        self.t.writer_taken.store(false, Ordering::Release);
    }
}

#[inline]
fn load_key(s: &Slot) -> Key {
    [
        s.key[0].load(Ordering::Relaxed),
        s.key[1].load(Ordering::Relaxed),
        s.key[2].load(Ordering::Relaxed),
    ]
}

impl<A: NeighAddr> NeighWriter<'_, A> {
    fn write_slot(&self, i: usize, key: &Key, val: u64) {
        let s = &self.t.slots[i];
        let seq = s.seq.load(Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (cell, w) in s.key.iter().zip(key) {
            cell.store(*w, Ordering::Relaxed);
        }
        s.val.store(val, Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    fn find(&self, key: &Key) -> Result<usize, Option<usize>> {
        let t = self.t;
        let mut i = t.home(key);
        for _ in 0..=t.mask {
            let k = load_key(&t.slots[i]);
            if k == *key {
                return Ok(i);
            }
            if k[0] == 0 {
                return Err(Some(i));
            }
            i = (i + 1) & t.mask;
        }
        Err(None)
    }

    /// Publishes or updates an entry; false if the table is full.
    pub fn upsert(&self, port: PortId, ip: A, mac: MacAddr, state: NeighState) -> bool {
        let key = ip.key(port);
        match self.find(&key) {
            Ok(i) => {
                let s = &self.t.slots[i];
                if state != NeighState::Stale {
                    s.used.store(false, Ordering::Relaxed);
                }
                self.write_slot(i, &key, pack(mac, state));
                true
            }
            Err(Some(i)) if self.t.len() < self.t.max_entries => {
                self.t.slots[i].used.store(false, Ordering::Relaxed);
                self.t.slots[i].confirmed.store(0, Ordering::Relaxed);
                self.write_slot(i, &key, pack(mac, state));
                self.t.len.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Records when the entry was last confirmed reachable (see
    /// [`NeighTable::last_confirmed`]); nothing if there is no entry.
    pub fn set_confirmed(&self, port: PortId, ip: A, at: Instant) {
        if let Ok(i) = self.find(&ip.key(port)) {
            let ms = at.saturating_duration_since(self.t.epoch).as_millis() as u64;
            self.t.slots[i].confirmed.store(ms + 1, Ordering::Relaxed);
        }
    }

    /// Reads and clears the "used while STALE" flag.
    pub fn take_used(&self, port: PortId, ip: A) -> bool {
        match self.find(&ip.key(port)) {
            Ok(i) => self.t.slots[i].used.swap(false, Ordering::Relaxed),
            Err(_) => false,
        }
    }

    /// Removes an entry (backward-shift deletion keeps probe chains intact
    /// without tombstones).
    pub fn remove(&self, port: PortId, ip: A) -> bool {
        let t = self.t;
        let Ok(mut hole) = self.find(&ip.key(port)) else {
            return false;
        };
        let mut j = hole;
        for _ in 0..=t.mask {
            j = (j + 1) & t.mask;
            let k = load_key(&t.slots[j]);
            if k[0] == 0 {
                break;
            }
            let home = t.home(&k);
            // The entry at j may move into the hole unless its home lies
            // cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                let v = t.slots[j].val.load(Ordering::Relaxed);
                let used = t.slots[j].used.load(Ordering::Relaxed);
                t.slots[hole].used.store(used, Ordering::Relaxed);
                self.write_slot(hole, &k, v);
                hole = j;
            }
        }
        self.write_slot(hole, &[0; KEY_WORDS], 0);
        t.len.fetch_sub(1, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = [2, 0, 0, 0, 0, 0x64];
    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 10, n)
    }

    #[test]
    fn ipv6_keys_are_exact() {
        let t: NeighTable<Ipv6Addr> = NeighTable::new(16);
        let w = t.writer().unwrap();
        let a: Ipv6Addr = "fd00:10::101".parse().unwrap();
        let b: Ipv6Addr = "fe80::101".parse().unwrap();
        assert!(w.upsert(1, a, MAC, NeighState::Reachable));
        assert!(w.upsert(1, b, [2, 0, 0, 0, 0, 1], NeighState::Stale));
        assert_eq!(t.lookup(1, a).unwrap().mac, MAC);
        assert_eq!(t.lookup(1, b).unwrap().state, NeighState::Stale);
        assert!(t.lookup(2, a).is_none(), "port is part of the key");
        let mut snap = t.snapshot();
        snap.sort_by_key(|e| e.1);
        assert_eq!((snap[0].0, snap[0].1), (1, a));
        assert!(w.remove(1, a));
        assert!(t.lookup(1, a).is_none());
        assert!(t.lookup(1, b).is_some());
    }

    #[test]
    fn table_insert_lookup_remove() {
        let t = NeighTable::new(64);
        let w = t.writer().unwrap();
        assert!(t.writer().is_none());
        for n in 1..=64 {
            assert!(w.upsert(1, ip(n), [2, 0, 0, 0, 0, n], NeighState::Reachable));
        }
        assert!(!w.upsert(1, ip(65), MAC, NeighState::Reachable), "bounded");
        assert_eq!(t.len(), 64);
        for n in 1..=64 {
            assert_eq!(t.lookup(1, ip(n)).unwrap().mac, [2, 0, 0, 0, 0, n]);
            assert!(t.lookup(2, ip(n)).is_none());
        }
        for n in (1..=64).step_by(2) {
            assert!(w.remove(1, ip(n)));
        }
        for n in 1..=64 {
            assert_eq!(t.lookup(1, ip(n)).is_some(), n % 2 == 0, "{n}");
        }
        assert_eq!(t.snapshot().len(), 32);
        drop(w);
        assert!(t.writer().is_some());
    }

    #[test]
    fn table_collisions_survive_deletes() {
        // A tiny table forces long probe chains and wrap-around.
        let t = NeighTable::new(4);
        let w = t.writer().unwrap();
        let addrs: Vec<_> = (0..4).map(|i| Ipv4Addr::new(10, 0, i, 1)).collect();
        for a in &addrs {
            assert!(w.upsert(0, *a, MAC, NeighState::Stale));
        }
        for (i, a) in addrs.iter().enumerate() {
            w.remove(0, *a);
            for b in &addrs[i + 1..] {
                assert!(t.lookup(0, *b).is_some());
            }
        }
        assert!(t.is_empty());
    }

    #[test]
    fn stale_use_is_noticed() {
        let t = NeighTable::new(8);
        let w = t.writer().unwrap();
        w.upsert(0, ip(1), MAC, NeighState::Stale);
        assert!(!w.take_used(0, ip(1)));
        assert_eq!(t.lookup(0, ip(1)).unwrap().state, NeighState::Stale);
        assert!(w.take_used(0, ip(1)));
        assert!(!w.take_used(0, ip(1)));
    }

    #[test]
    fn concurrent_readers_never_see_torn_entries() {
        use std::sync::Arc;
        let t = Arc::new(NeighTable::new(16));
        let stop = Arc::new(AtomicBool::new(false));
        let r = {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 5_000_000 {
                    if let Some(h) = t.lookup(0, ip(1)) {
                        // The writer always stores mac[5] == mac[4].
                        assert_eq!(h.mac[5], h.mac[4]);
                    }
                    n += 1;
                }
            })
        };
        let w = t.writer().unwrap();
        for i in 0..200_000u32 {
            let b = i as u8;
            w.upsert(0, ip(1), [2, 0, 0, 0, b, b], NeighState::Reachable);
            if i % 7 == 0 {
                w.remove(0, ip(1));
            }
        }
        stop.store(true, Ordering::Relaxed);
        r.join().unwrap();
    }
}
