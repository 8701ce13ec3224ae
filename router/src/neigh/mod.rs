//! Neighbour (ARP) cache: a bounded table the forwarding workers read without
//! locks, and the resolution state machine the slow path drives.
//!
//! [`NeighTable`] is an open-addressed array of seqlocked slots. Exactly one
//! writer (the slow path, holding the [`NeighWriter`] token) publishes
//! entries; workers look up `(port, address)` with a few atomic loads. A
//! reader that races a write (or a backward-shift delete) may miss an entry
//! for an instant; a miss only sends the packet to the slow path, which holds
//! the authoritative state in [`NeighCache`] and sorts it out.
//!
//! States (RFC 1122 §2.3.2.1, after Linux's NUD states): INCOMPLETE
//! (resolving: broadcast requests, at most one per `retrans` per address,
//! packets queued), REACHABLE (confirmed within `reachable_time`), STALE
//! (usable; a use triggers re-probing), PROBE (usable; unicast requests
//! outstanding), FAILED (resolution failed: packets get ICMP host
//! unreachable until the entry is dropped after `failed_hold`).
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ports::PortId;
use crate::wire::ethernet::MacAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NeighState {
    Incomplete = 1,
    Reachable = 2,
    Stale = 3,
    Probe = 4,
    Failed = 5,
}

impl NeighState {
    fn from_u8(v: u8) -> Option<NeighState> {
        Some(match v {
            1 => NeighState::Incomplete,
            2 => NeighState::Reachable,
            3 => NeighState::Stale,
            4 => NeighState::Probe,
            5 => NeighState::Failed,
            _ => return None,
        })
    }
    /// The link-layer address may be used to transmit.
    pub fn is_usable(self) -> bool {
        matches!(
            self,
            NeighState::Reachable | NeighState::Stale | NeighState::Probe
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
        }
    }
}

/// What a worker learns from a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighHit {
    pub mac: MacAddr,
    pub state: NeighState,
}

struct Slot {
    /// Seqlock: odd while the writer changes the slot.
    seq: AtomicU32,
    /// 0 = empty; else 1<<63 | port<<32 | address.
    key: AtomicU64,
    /// MAC in the low 48 bits, state in bits 48..56.
    val: AtomicU64,
    /// Set by readers when they use a STALE entry (so the slow path re-probes).
    used: AtomicBool,
}

const KEY_VALID: u64 = 1 << 63;
const READ_RETRIES: usize = 4;

#[inline]
fn make_key(port: PortId, ip: Ipv4Addr) -> u64 {
    KEY_VALID | (port as u64) << 32 | u32::from(ip) as u64
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

/// The lock-free published neighbour table.
pub struct NeighTable {
    slots: Box<[Slot]>,
    mask: usize,
    max_entries: usize,
    len: AtomicU32,
    writer_taken: AtomicBool,
}

impl NeighTable {
    /// A table for up to `capacity` entries (the array is kept at most half
    /// full so probe sequences stay short).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, 1 << 20);
        let n = (capacity * 2).next_power_of_two();
        let slots = (0..n)
            .map(|_| Slot {
                seq: AtomicU32::new(0),
                key: AtomicU64::new(0),
                val: AtomicU64::new(0),
                used: AtomicBool::new(false),
            })
            .collect();
        NeighTable {
            slots,
            mask: n - 1,
            max_entries: capacity,
            len: AtomicU32::new(0),
            writer_taken: AtomicBool::new(false),
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
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    /// Reads one slot consistently: (key, value), or None if the writer kept
    /// changing it.
    #[inline]
    fn read_slot(&self, s: &Slot) -> Option<(u64, u64)> {
        for _ in 0..READ_RETRIES {
            let s1 = s.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let k = s.key.load(Ordering::Relaxed);
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
    pub fn lookup(&self, port: PortId, ip: Ipv4Addr) -> Option<NeighHit> {
        let key = make_key(port, ip);
        let mut i = self.home(key);
        for _ in 0..=self.mask {
            let s = &self.slots[i];
            let (k, v) = self.read_slot(s)?;
            if k == 0 {
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

    /// All published entries (for display; not a consistent snapshot).
    pub fn snapshot(&self) -> Vec<(PortId, Ipv4Addr, NeighHit)> {
        let mut out = Vec::new();
        for s in self.slots.iter() {
            if let Some((k, v)) = self.read_slot(s) {
                if k & KEY_VALID != 0 {
                    if let Some(h) = unpack(v) {
                        out.push(((k >> 32) as u16, Ipv4Addr::from(k as u32), h));
                    }
                }
            }
        }
        out
    }

    /// The single writer's token; None if someone holds it already.
    pub fn writer(&self) -> Option<NeighWriter<'_>> {
        if self.writer_taken.swap(true, Ordering::AcqRel) {
            None
        } else {
            Some(NeighWriter { t: self })
        }
    }
}

/// Exclusive write access to a [`NeighTable`]; released on drop.
pub struct NeighWriter<'a> {
    t: &'a NeighTable,
}

impl Drop for NeighWriter<'_> {
    fn drop(&mut self) {
        self.t.writer_taken.store(false, Ordering::Release);
    }
}

impl NeighWriter<'_> {
    fn write_slot(&self, i: usize, key: u64, val: u64) {
        let s = &self.t.slots[i];
        let seq = s.seq.load(Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        s.key.store(key, Ordering::Relaxed);
        s.val.store(val, Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    fn find(&self, key: u64) -> Result<usize, Option<usize>> {
        let t = self.t;
        let mut i = t.home(key);
        for _ in 0..=t.mask {
            let k = t.slots[i].key.load(Ordering::Relaxed);
            if k == key {
                return Ok(i);
            }
            if k == 0 {
                return Err(Some(i));
            }
            i = (i + 1) & t.mask;
        }
        Err(None)
    }

    /// Publishes or updates an entry; false if the table is full.
    pub fn upsert(&self, port: PortId, ip: Ipv4Addr, mac: MacAddr, state: NeighState) -> bool {
        let key = make_key(port, ip);
        match self.find(key) {
            Ok(i) => {
                let s = &self.t.slots[i];
                if state != NeighState::Stale {
                    s.used.store(false, Ordering::Relaxed);
                }
                self.write_slot(i, key, pack(mac, state));
                true
            }
            Err(Some(i)) if self.t.len() < self.t.max_entries => {
                self.t.slots[i].used.store(false, Ordering::Relaxed);
                self.write_slot(i, key, pack(mac, state));
                self.t.len.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Reads and clears the "used while STALE" flag.
    pub fn take_used(&self, port: PortId, ip: Ipv4Addr) -> bool {
        match self.find(make_key(port, ip)) {
            Ok(i) => self.t.slots[i].used.swap(false, Ordering::Relaxed),
            Err(_) => false,
        }
    }

    /// Removes an entry (backward-shift deletion keeps probe chains intact
    /// without tombstones).
    pub fn remove(&self, port: PortId, ip: Ipv4Addr) -> bool {
        let t = self.t;
        let Ok(mut hole) = self.find(make_key(port, ip)) else {
            return false;
        };
        let mut j = hole;
        for _ in 0..=t.mask {
            j = (j + 1) & t.mask;
            let k = t.slots[j].key.load(Ordering::Relaxed);
            if k == 0 {
                break;
            }
            let home = t.home(k);
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
                self.write_slot(hole, k, v);
                hole = j;
            }
        }
        self.write_slot(hole, 0, 0);
        t.len.fetch_sub(1, Ordering::Relaxed);
        true
    }
}

/// Neighbour timers and limits (defaults after Linux's ARP defaults).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeighOptions {
    /// A confirmed entry is REACHABLE this long, then STALE (ms).
    pub reachable_ms: u64,
    /// Interval between requests for one address (ms); also the rate limit
    /// of "at most one ARP request per second per unresolved address".
    pub retrans_ms: u64,
    /// Broadcast requests before an INCOMPLETE entry FAILs.
    pub mcast_probes: u8,
    /// Unicast requests before a PROBE entry FAILs.
    pub ucast_probes: u8,
    /// Packets queued per unresolved address (oldest dropped beyond).
    pub unres_qlen: usize,
    /// How long a FAILED entry answers with host unreachable before a new
    /// resolution may start (ms).
    pub failed_hold_ms: u64,
    /// Unused STALE entries are removed after this long (ms).
    pub gc_stale_ms: u64,
}

impl Default for NeighOptions {
    fn default() -> Self {
        NeighOptions {
            reachable_ms: 30_000,
            retrans_ms: 1_000,
            mcast_probes: 3,
            ucast_probes: 3,
            unres_qlen: 3,
            failed_hold_ms: 1_000,
            gc_stale_ms: 60_000,
        }
    }
}

/// Something the slow path must do on behalf of the cache.
#[derive(Debug)]
pub enum NeighAction<P> {
    /// Send an ARP request for `ip` on `port`, broadcast or (re-probe)
    /// unicast to `unicast`.
    Solicit {
        port: PortId,
        ip: Ipv4Addr,
        unicast: Option<MacAddr>,
    },
    /// The address resolved: transmit these queued packets to `mac`.
    Flush {
        port: PortId,
        ip: Ipv4Addr,
        mac: MacAddr,
        packets: VecDeque<P>,
    },
    /// Resolution failed: answer these with ICMP host unreachable.
    Failed {
        port: PortId,
        ip: Ipv4Addr,
        packets: VecDeque<P>,
    },
    /// A queued packet was pushed out by a newer one (count it).
    Overflow(P),
}

/// What [`NeighCache::resolve`] decided for one packet.
#[derive(Debug)]
pub enum Resolve<P> {
    /// Usable now.
    Send(MacAddr, P),
    /// Held until resolution finishes.
    Queued,
    /// The address is FAILED (or the table is full): ICMP host unreachable.
    Unreachable(P),
}

/// How an ARP packet relates to our state, for learning (RFC 826 merge
/// rule, restricted like Linux with arp_accept=0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpSeen {
    /// A reply addressed to us.
    Reply,
    /// A request whose target is one of our addresses.
    RequestForUs,
    /// Anything else (gratuitous ARP, requests for others): only updates an
    /// existing entry.
    Other,
}

struct Entry<P> {
    state: NeighState,
    mac: MacAddr,
    /// When the state last changed / was confirmed.
    updated: Instant,
    probes: u8,
    next_probe: Instant,
    pending: VecDeque<P>,
}

/// The slow path's authoritative neighbour state; publishes into the
/// lock-free [`NeighTable`] through its writer token.
pub struct NeighCache<'a, P> {
    opts: NeighOptions,
    writer: NeighWriter<'a>,
    entries: HashMap<(PortId, Ipv4Addr), Entry<P>>,
}

impl<'a, P> NeighCache<'a, P> {
    pub fn new(opts: NeighOptions, writer: NeighWriter<'a>) -> Self {
        NeighCache {
            opts,
            writer,
            entries: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn state(&self, port: PortId, ip: Ipv4Addr) -> Option<NeighState> {
        self.entries.get(&(port, ip)).map(|e| e.state)
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn publish(&self, port: PortId, ip: Ipv4Addr, e: &Entry<P>) {
        if e.state == NeighState::Incomplete {
            self.writer.remove(port, ip);
        } else {
            // Cannot fail for an address the cache admitted (same bound).
            self.writer.upsert(port, ip, e.mac, e.state);
        }
    }

    /// A packet needs `ip` on `port` resolved.
    pub fn resolve(
        &mut self,
        port: PortId,
        ip: Ipv4Addr,
        pkt: P,
        now: Instant,
        out: &mut Vec<NeighAction<P>>,
    ) -> Resolve<P> {
        if let Some(e) = self.entries.get_mut(&(port, ip)) {
            return match e.state {
                s if s.is_usable() => Resolve::Send(e.mac, pkt),
                NeighState::Failed => Resolve::Unreachable(pkt),
                _ => {
                    // Linux unres_qlen semantics: the oldest queued packet
                    // makes room for the newest.
                    if e.pending.len() >= self.opts.unres_qlen.max(1) {
                        if let Some(old) = e.pending.pop_front() {
                            out.push(NeighAction::Overflow(old));
                        }
                    }
                    e.pending.push_back(pkt);
                    Resolve::Queued
                }
            };
        }
        if self.entries.len() >= self.writer.t.capacity() {
            return Resolve::Unreachable(pkt);
        }
        let mut pending = VecDeque::with_capacity(self.opts.unres_qlen.max(1));
        pending.push_back(pkt);
        self.entries.insert(
            (port, ip),
            Entry {
                state: NeighState::Incomplete,
                mac: [0; 6],
                updated: now,
                probes: 1,
                next_probe: now + Self::ms(self.opts.retrans_ms),
                pending,
            },
        );
        out.push(NeighAction::Solicit {
            port,
            ip,
            unicast: None,
        });
        Resolve::Queued
    }

    /// Learns from an ARP packet's sender (RFC 826: "merge" if the sender is
    /// already known; add it if the request is for us).
    pub fn learn(
        &mut self,
        port: PortId,
        ip: Ipv4Addr,
        mac: MacAddr,
        seen: ArpSeen,
        now: Instant,
        out: &mut Vec<NeighAction<P>>,
    ) {
        if mac == [0; 6] || crate::wire::ethernet::is_multicast(&mac) {
            return;
        }
        let key = (port, ip);
        let e = match self.entries.get_mut(&key) {
            Some(e) => e,
            None => {
                if seen != ArpSeen::RequestForUs || self.entries.len() >= self.writer.t.capacity() {
                    return;
                }
                let e = Entry {
                    state: NeighState::Stale,
                    mac,
                    updated: now,
                    probes: 0,
                    next_probe: now,
                    pending: VecDeque::new(),
                };
                self.publish(port, ip, &e);
                self.entries.insert(key, e);
                return;
            }
        };
        let new_state = match seen {
            // A reply confirms reachability (RFC 1122 §2.3.2.1).
            ArpSeen::Reply => NeighState::Reachable,
            // A request or gratuitous ARP proves the address is in use but
            // not that our path to it works: STALE unless already confirmed
            // with the same address.
            _ if e.state == NeighState::Reachable && e.mac == mac => NeighState::Reachable,
            _ if e.state.is_usable() && e.mac == mac => e.state,
            _ => NeighState::Stale,
        };
        e.state = new_state;
        e.mac = mac;
        e.updated = now;
        e.probes = 0;
        let packets = std::mem::take(&mut e.pending);
        let e = &self.entries[&key];
        self.publish(port, ip, e);
        if !packets.is_empty() {
            out.push(NeighAction::Flush {
                port,
                ip,
                mac,
                packets,
            });
        }
    }

    /// Runs the timers; call every few milliseconds.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<NeighAction<P>>) {
        let o = &self.opts;
        let retrans = Self::ms(o.retrans_ms);
        let mut remove = Vec::new();
        let mut republish = Vec::new();
        for (&(port, ip), e) in self.entries.iter_mut() {
            match e.state {
                NeighState::Incomplete | NeighState::Probe if now >= e.next_probe => {
                    let limit = if e.state == NeighState::Incomplete {
                        o.mcast_probes
                    } else {
                        o.ucast_probes
                    };
                    if e.probes < limit {
                        e.probes += 1;
                        e.next_probe = now + retrans;
                        let unicast = (e.state == NeighState::Probe).then_some(e.mac);
                        out.push(NeighAction::Solicit { port, ip, unicast });
                    } else {
                        e.state = NeighState::Failed;
                        e.updated = now;
                        republish.push((port, ip));
                        let packets = std::mem::take(&mut e.pending);
                        out.push(NeighAction::Failed { port, ip, packets });
                    }
                }
                NeighState::Reachable
                    if now.saturating_duration_since(e.updated) >= Self::ms(o.reachable_ms) =>
                {
                    e.state = NeighState::Stale;
                    e.updated = now;
                    republish.push((port, ip));
                }
                NeighState::Stale => {
                    if self.writer.take_used(port, ip) {
                        // Used while stale: re-confirm with unicast requests
                        // (Linux DELAY/PROBE, without the DELAY pause).
                        e.state = NeighState::Probe;
                        e.probes = 1;
                        e.next_probe = now + retrans;
                        republish.push((port, ip));
                        out.push(NeighAction::Solicit {
                            port,
                            ip,
                            unicast: Some(e.mac),
                        });
                    } else if now.saturating_duration_since(e.updated) >= Self::ms(o.gc_stale_ms) {
                        remove.push((port, ip));
                    }
                }
                NeighState::Failed
                    if now.saturating_duration_since(e.updated) >= Self::ms(o.failed_hold_ms) =>
                {
                    remove.push((port, ip));
                }
                _ => {}
            }
        }
        for k in republish {
            if let Some(e) = self.entries.get(&k) {
                self.publish(k.0, k.1, e);
            }
        }
        for k in remove {
            self.entries.remove(&k);
            self.writer.remove(k.0, k.1);
        }
    }

    /// Forgets everything learnt on `port` (e.g. the port went down).
    pub fn flush_port(&mut self, port: PortId) {
        let keys: Vec<_> = self
            .entries
            .keys()
            .filter(|k| k.0 == port)
            .copied()
            .collect();
        for k in keys {
            self.entries.remove(&k);
            self.writer.remove(k.0, k.1);
        }
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

    fn opts() -> NeighOptions {
        NeighOptions::default()
    }

    #[test]
    fn resolve_queue_reply_flush() {
        let t = NeighTable::new(16);
        let mut c = NeighCache::new(opts(), t.writer().unwrap());
        let now = Instant::now();
        let mut out = Vec::new();
        assert!(matches!(
            c.resolve(0, ip(1), 1, now, &mut out),
            Resolve::Queued
        ));
        assert!(matches!(
            out.as_slice(),
            [NeighAction::Solicit { unicast: None, .. }]
        ));
        out.clear();
        for p in 2..=5 {
            assert!(matches!(
                c.resolve(0, ip(1), p, now, &mut out),
                Resolve::Queued
            ));
        }
        // unres_qlen = 3: packets 1 and 2 pushed out, no new request sent.
        assert!(matches!(
            out.as_slice(),
            [NeighAction::Overflow(1), NeighAction::Overflow(2)]
        ));
        out.clear();
        // Within the retransmit interval no second request.
        c.tick(now + Duration::from_millis(500), &mut out);
        assert!(out.is_empty());
        assert!(t.lookup(0, ip(1)).is_none());
        c.learn(0, ip(1), MAC, ArpSeen::Reply, now, &mut out);
        match out.pop() {
            Some(NeighAction::Flush { mac, packets, .. }) => {
                assert_eq!(mac, MAC);
                assert_eq!(Vec::from(packets), vec![3, 4, 5]);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            t.lookup(0, ip(1)).unwrap(),
            NeighHit {
                mac: MAC,
                state: NeighState::Reachable
            }
        );
        assert!(matches!(
            c.resolve(0, ip(1), 9, now, &mut out),
            Resolve::Send(MAC, 9)
        ));
    }

    #[test]
    fn resolution_fails_after_probes_one_per_second() {
        let t = NeighTable::new(16);
        let mut c = NeighCache::new(opts(), t.writer().unwrap());
        let t0 = Instant::now();
        let mut out = Vec::new();
        c.resolve(0, ip(1), 1u32, t0, &mut out);
        let mut solicits = 1;
        let mut failed = None;
        for ms in (0..5000).step_by(10) {
            out.clear();
            c.tick(t0 + Duration::from_millis(ms), &mut out);
            for a in out.drain(..) {
                match a {
                    NeighAction::Solicit { .. } => solicits += 1,
                    NeighAction::Failed { packets, .. } => failed = Some((ms, packets)),
                    _ => {}
                }
            }
        }
        assert_eq!(solicits, 3, "3 requests, one per second");
        let (ms, packets) = failed.unwrap();
        assert_eq!(ms, 3000);
        assert_eq!(Vec::from(packets), vec![1]);
        // FAILED for failed_hold (1 s from 3 s), then forgotten.
        assert_eq!(c.state(0, ip(1)), None, "removed after the hold");
        let mut out = Vec::new();
        let mut c2 = c;
        c2.resolve(0, ip(2), 7, t0, &mut out);
        for ms in [1000, 2000, 3000] {
            c2.tick(t0 + Duration::from_millis(ms), &mut out);
        }
        assert_eq!(t.lookup(0, ip(2)).unwrap().state, NeighState::Failed);
        assert!(matches!(
            c2.resolve(0, ip(2), 8, t0, &mut out),
            Resolve::Unreachable(8)
        ));
    }

    #[test]
    fn reachable_goes_stale_then_probe_then_reachable() {
        let t = NeighTable::new(16);
        let mut c: NeighCache<u32> = NeighCache::new(opts(), t.writer().unwrap());
        let t0 = Instant::now();
        let mut out = Vec::new();
        // A request for us creates a STALE entry (not confirmed).
        c.learn(0, ip(1), MAC, ArpSeen::RequestForUs, t0, &mut out);
        assert_eq!(c.state(0, ip(1)), Some(NeighState::Stale));
        // Unsolicited replies about unknown hosts create nothing.
        c.learn(0, ip(2), MAC, ArpSeen::Other, t0, &mut out);
        assert_eq!(c.state(0, ip(2)), None);
        c.learn(0, ip(1), MAC, ArpSeen::Reply, t0, &mut out);
        assert_eq!(c.state(0, ip(1)), Some(NeighState::Reachable));
        c.tick(t0 + Duration::from_secs(31), &mut out);
        assert_eq!(t.lookup(0, ip(1)).unwrap().state, NeighState::Stale); // marks used
        out.clear();
        c.tick(t0 + Duration::from_secs(32), &mut out);
        assert!(matches!(
            out.as_slice(),
            [NeighAction::Solicit {
                unicast: Some(MAC),
                ..
            }]
        ));
        assert_eq!(t.lookup(0, ip(1)).unwrap().state, NeighState::Probe);
        c.learn(
            0,
            ip(1),
            MAC,
            ArpSeen::Reply,
            t0 + Duration::from_secs(32),
            &mut out,
        );
        assert_eq!(c.state(0, ip(1)), Some(NeighState::Reachable));
        // Unused stale entries are collected.
        c.tick(t0 + Duration::from_secs(70), &mut out);
        c.tick(t0 + Duration::from_secs(200), &mut out);
        assert_eq!(c.state(0, ip(1)), None);
        assert!(t.lookup(0, ip(1)).is_none());
    }
}
