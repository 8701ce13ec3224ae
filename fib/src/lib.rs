//! `fib`: longest-prefix-match forwarding table (poptrie) for IPv4 and IPv6.
//!
//! Knows nothing of packets, ports or BGP: it maps destination addresses to
//! opaque [`NextHopId`]s.
//!
//! PLACEHOLDER INTERNALS: this file currently holds the public API with a
//! naive per-length map behind it so that dependants compile. The poptrie
//! replaces the internals (issue 3); the API below is the contract.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};
use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Opaque value stored per prefix. Values above [`MAX_NEXT_HOP`] are rejected.
pub type NextHopId = u32;
/// Largest next-hop id the table can store.
pub const MAX_NEXT_HOP: NextHopId = (1 << 24) - 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum FibError {
    #[error("prefix {0} has host bits set")]
    HostBitsSet(String),
    #[error("next-hop id {0} exceeds the maximum {MAX_NEXT_HOP}")]
    NextHopOutOfRange(NextHopId),
}

/// An address family the FIB can serve: IPv4 (u32 keys) or IPv6 (u128 keys).
pub trait Family: Copy + Send + Sync + 'static {
    type Addr: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync;
    type Net: Copy + Eq + std::hash::Hash + std::fmt::Debug + std::fmt::Display + Send + Sync;
    type Key: Copy + Eq + std::hash::Hash + Send + Sync;
    const BITS: u32;
    fn addr_key(a: Self::Addr) -> Self::Key;
    fn net_parts(n: &Self::Net) -> (Self::Key, u8);
    fn net_has_host_bits(n: &Self::Net) -> bool;
    fn mask(k: Self::Key, len: u8) -> Self::Key;
}

#[derive(Clone, Copy, Debug)]
pub struct V4;
#[derive(Clone, Copy, Debug)]
pub struct V6;

impl Family for V4 {
    type Addr = Ipv4Addr;
    type Net = Ipv4Net;
    type Key = u32;
    const BITS: u32 = 32;
    fn addr_key(a: Ipv4Addr) -> u32 {
        u32::from(a)
    }
    fn net_parts(n: &Ipv4Net) -> (u32, u8) {
        (u32::from(n.network()), n.prefix_len())
    }
    fn net_has_host_bits(n: &Ipv4Net) -> bool {
        n.addr() != n.network()
    }
    fn mask(k: u32, len: u8) -> u32 {
        if len == 0 { 0 } else { k & (u32::MAX << (32 - len as u32)) }
    }
}

impl Family for V6 {
    type Addr = Ipv6Addr;
    type Net = Ipv6Net;
    type Key = u128;
    const BITS: u32 = 128;
    fn addr_key(a: Ipv6Addr) -> u128 {
        u128::from(a)
    }
    fn net_parts(n: &Ipv6Net) -> (u128, u8) {
        (u128::from(n.network()), n.prefix_len())
    }
    fn net_has_host_bits(n: &Ipv6Net) -> bool {
        n.addr() != n.network()
    }
    fn mask(k: u128, len: u8) -> u128 {
        if len == 0 { 0 } else { k & (u128::MAX << (128 - len as u32)) }
    }
}

/// One route change; a batch of them is applied atomically by [`Fib::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<N> {
    /// Insert or replace the next hop of a prefix.
    Upsert(N, NextHopId),
    /// Remove a prefix (no-op if absent).
    Remove(N),
}

/// An immutable lookup table (one published version).
pub struct Table<F: Family> {
    by_len: Vec<HashMap<F::Key, NextHopId>>,
    len: usize,
}

impl<F: Family> Table<F> {
    pub fn lookup(&self, addr: F::Addr) -> Option<NextHopId> {
        let k = F::addr_key(addr);
        for l in (0..=F::BITS as usize).rev() {
            if let Some(v) = self.by_len[l].get(&F::mask(k, l as u8)) {
                return Some(*v);
            }
        }
        None
    }
    pub fn lookup_many(&self, addrs: &[F::Addr], out: &mut [Option<NextHopId>]) {
        for (a, o) in addrs.iter().zip(out.iter_mut()) {
            *o = self.lookup(*a);
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn memory_bytes(&self) -> usize {
        self.len * 16
    }
}

/// The updatable FIB: a RIB of prefixes plus the published lookup table.
/// Readers call [`Fib::load`] (lock-free, wait-free) from any thread; one
/// writer at a time calls [`Fib::apply`].
pub struct Fib<F: Family> {
    rib: Mutex<HashMap<(F::Key, u8), (F::Net, NextHopId)>>,
    current: ArcSwap<Table<F>>,
}

pub type Fib4 = Fib<V4>;
pub type Fib6 = Fib<V6>;

impl<F: Family> Fib<F> {
    pub fn new() -> Self {
        Fib {
            rib: Mutex::new(HashMap::new()),
            current: ArcSwap::from_pointee(Table { by_len: vec![HashMap::new(); F::BITS as usize + 1], len: 0 }),
        }
    }

    pub fn from_routes(routes: impl IntoIterator<Item = (F::Net, NextHopId)>) -> Result<Self, FibError> {
        let fib = Self::new();
        let changes: Vec<_> = routes.into_iter().map(|(n, h)| Change::Upsert(n, h)).collect();
        fib.apply(&changes)?;
        Ok(fib)
    }

    /// Current table; hold the guard for a batch of lookups.
    pub fn load(&self) -> Guard<Arc<Table<F>>> {
        self.current.load()
    }

    /// Applies a batch atomically: readers see all of it or none of it.
    pub fn apply(&self, changes: &[Change<F::Net>]) -> Result<(), FibError> {
        for c in changes {
            match c {
                Change::Upsert(n, h) => {
                    if F::net_has_host_bits(n) {
                        return Err(FibError::HostBitsSet(n.to_string()));
                    }
                    if *h > MAX_NEXT_HOP {
                        return Err(FibError::NextHopOutOfRange(*h));
                    }
                }
                Change::Remove(n) => {
                    if F::net_has_host_bits(n) {
                        return Err(FibError::HostBitsSet(n.to_string()));
                    }
                }
            }
        }
        let mut rib = self.rib.lock().unwrap_or_else(|e| e.into_inner());
        for c in changes {
            match c {
                Change::Upsert(n, h) => {
                    rib.insert(F::net_parts(n), (*n, *h));
                }
                Change::Remove(n) => {
                    rib.remove(&F::net_parts(n));
                }
            }
        }
        let mut by_len = vec![HashMap::new(); F::BITS as usize + 1];
        for ((k, l), (_, h)) in rib.iter() {
            by_len[*l as usize].insert(*k, *h);
        }
        self.current.store(Arc::new(Table { by_len, len: rib.len() }));
        Ok(())
    }

    /// Installed routes (a snapshot of the RIB).
    pub fn routes(&self) -> Vec<(F::Net, NextHopId)> {
        let rib = self.rib.lock().unwrap_or_else(|e| e.into_inner());
        rib.values().copied().collect()
    }
}

impl<F: Family> Default for Fib<F> {
    fn default() -> Self {
        Self::new()
    }
}
