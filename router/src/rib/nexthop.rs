//! Next hops referenced by FIB entries. The FIB maps a destination to a
//! `fib::NextHopId`, an index into the published [`NextHopTable`].
//!
//! Publication order (see `routes`): a new `NextHopTable` that is a superset
//! of the old is stored first, then the FIB change, so a reader that loads the
//! FIB table and then the next-hop table never sees an id it cannot resolve.
use std::net::Ipv4Addr;

use crate::ports::PortId;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// A subnet connected to a port: the destination itself is the neighbour.
    Connected { port: PortId },
    /// Via a gateway (neighbour) on a port.
    Gateway { port: PortId, gw: Ipv4Addr },
    /// One of the router's own addresses: deliver locally.
    Local,
    /// Drop silently (static blackhole route).
    Blackhole,
    /// Drop with ICMP destination unreachable (e.g. a loopback subnet's
    /// unused addresses, static `unreachable` route).
    Unreachable,
    /// ECMP: a flow hash picks one member; the same flow always takes the
    /// same member while the group is unchanged.
    Multipath(Box<[(PortId, Ipv4Addr)]>),
}

#[derive(Clone, Debug, Default)]
pub struct NextHopTable {
    pub entries: Vec<NextHop>,
}

impl NextHopTable {
    #[inline]
    pub fn get(&self, id: fib::NextHopId) -> Option<&NextHop> {
        self.entries.get(id as usize)
    }
}
