//! Next hops referenced by FIB entries. The FIB maps a destination to a
//! `fib::NextHopId`, an index into the published [`NextHopTable`].
//!
//! Publication order (see [`crate::rib`]): a new `NextHopTable` that is a superset
//! of the old is stored first, then the FIB change, so a reader that loads the
//! FIB table and then the next-hop table never sees an id it cannot resolve.
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use super::{RouteError, ID_REUSE_GRACE};
use crate::ports::PortId;

/// A next hop of family `A` (the address type of its gateways): the IPv4
/// FIB's use `Ipv4Addr`, the IPv6 FIB's `Ipv6Addr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NextHop<A = Ipv4Addr> {
    /// A subnet connected to a port: the destination itself is the neighbour.
    Connected { port: PortId },
    /// Via a gateway (neighbour) on a port.
    Gateway { port: PortId, gw: A },
    /// Via an IPv6 neighbour on a port, whose MAC NDP finds: in the IPv4
    /// table, a route with an IPv6 next hop (RFC 8950, learned over BGP);
    /// the IPv6 table never holds one (its gateways are `Gateway`s).
    Gateway6 { port: PortId, gw: Ipv6Addr },
    /// One of the router's own addresses: deliver locally.
    Local,
    /// Drop silently (static blackhole route).
    Blackhole,
    /// Drop with ICMP destination unreachable (e.g. a loopback subnet's
    /// unused addresses, static `unreachable` route).
    Unreachable,
    /// ECMP: a flow hash picks one member; the same flow always takes the
    /// same member while the group is unchanged.
    Multipath(Box<[(PortId, A)]>),
}

#[derive(Clone, Debug)]
pub struct NextHopTable<A = Ipv4Addr> {
    pub entries: Vec<NextHop<A>>,
}

impl<A> Default for NextHopTable<A> {
    fn default() -> Self {
        NextHopTable {
            entries: Vec::new(),
        }
    }
}

impl<A> NextHopTable<A> {
    #[inline]
    pub fn get(&self, id: fib::NextHopId) -> Option<&NextHop<A>> {
        self.entries.get(id as usize)
    }
}

/// Next-hop id allocator with interning and delayed reuse (see module docs).
pub(super) struct NextHopIds<A = Ipv4Addr> {
    pub(super) entries: Vec<NextHop<A>>,
    pub(super) by_value: HashMap<NextHop<A>, fib::NextHopId>,
    pub(super) refs: Vec<u32>,
    /// Per id: when it last fell out of use (publication number, time);
    /// `None` while in use.
    pub(super) released: Vec<Option<(u64, Instant)>>,
    /// Ids in the order they fell out of use. May hold stale entries (an id
    /// revived, or released twice); `released` is the truth.
    pub(super) resting: VecDeque<fib::NextHopId>,
    /// Whether `entries` changed since the last publication.
    pub(super) dirty: bool,
}

impl<A> Default for NextHopIds<A> {
    fn default() -> Self {
        NextHopIds {
            entries: Vec::new(),
            by_value: HashMap::new(),
            refs: Vec::new(),
            released: Vec::new(),
            resting: VecDeque::new(),
            dirty: false,
        }
    }
}

impl<A: Clone + Eq + Hash> NextHopIds<A> {
    /// The id for `nh`, creating (or reviving, or reusing a rested) one.
    pub(super) fn intern(
        &mut self,
        nh: &NextHop<A>,
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
    pub(super) fn reusable(&mut self, publication: u64, now: Instant) -> Option<fib::NextHopId> {
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

    pub(super) fn acquire(&mut self, id: fib::NextHopId) {
        self.refs[id as usize] += 1;
        self.released[id as usize] = None;
    }

    pub(super) fn release(&mut self, id: fib::NextHopId, publication: u64, now: Instant) {
        let r = &mut self.refs[id as usize];
        *r = r.saturating_sub(1);
        if *r == 0 {
            self.released[id as usize] = Some((publication, now));
            self.resting.push_back(id);
        }
    }
}
