//! State shared between the forwarding workers, the slow-path thread, the
//! route manager, the BGP transport and the control socket.
//!
//! Readers on the forwarding path never lock: the FIB and the next-hop table
//! are published with arc-swap, the neighbour table is lock-free for readers,
//! counters are per-thread.
use std::net::Ipv6Addr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::dataplane::counters::Counters;
use crate::dataplane::monitor::{DropMonitor, RING_EVENTS};
use crate::neigh::NeighTable;
use crate::ports::PortInfo;
use crate::rib::nexthop::NextHopTable;
use crate::slowpath::LocalTcpPipe;
use arc_swap::ArcSwap;

pub struct Shared {
    pub ports: Vec<PortInfo>,
    /// Number of forwarding workers; counters hold `workers + 1` thread
    /// blocks, the last one for the slow-path/control thread.
    pub workers: usize,
    /// Shared with each `Forwarder` (which may count elsewhere instead:
    /// `Forwarder::scratch`).
    pub counters: Arc<Counters>,
    /// `router monitor drops`: one ring per counter thread block.
    pub monitor: Arc<DropMonitor>,
    pub fib: fib::Fib4,
    pub nexthops: ArcSwap<NextHopTable>,
    /// The IPv6 FIB and its next hops, published the same way.
    pub fib6: fib::Fib6,
    pub nexthops6: ArcSwap<NextHopTable<Ipv6Addr>>,
    pub neigh: NeighTable,
    /// IPv6 neighbours (NDP), the same machinery as `neigh`.
    pub neigh6: NeighTable<Ipv6Addr>,
    pub local_tcp: LocalTcpPipe,
    /// One per forwarding worker, bumped once per loop turn; the systemd
    /// watchdog pings only while all of them move.
    pub heartbeats: crate::service::Heartbeats,
    /// Per port (by `PortId`): its host interface, if it has one. Empty
    /// when no port has one.
    pub hosts: Vec<Option<HostPort>>,
    /// Frames read from a host interface that the slow path's queue could
    /// not take (the reader thread counts here: the per-port counter
    /// blocks have one writer each).
    pub host_drops: AtomicU64,
}

/// What the dataplane knows of a port's host interface (the TAP itself
/// belongs to [`crate::hostif`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// The TAP's name in the kernel.
    pub name: String,
    /// The MAC the router answers the kernel's ARP requests on the TAP
    /// with: the kernel sends everything it routes out of the TAP there.
    /// (The TAP itself has the port's MAC.)
    pub router_mac: [u8; 6],
}

impl Shared {
    pub fn new(ports: Vec<PortInfo>, workers: usize) -> Arc<Shared> {
        Shared::with_hosts(ports, workers, Vec::new())
    }

    /// [`Shared::new`] with the ports' host interfaces (`hosts[port]`).
    pub fn with_hosts(
        ports: Vec<PortInfo>,
        workers: usize,
        hosts: Vec<Option<HostPort>>,
    ) -> Arc<Shared> {
        let n = ports.len();
        Arc::new(Shared {
            ports,
            workers,
            counters: Arc::new(Counters::new(workers + 1, n)),
            monitor: Arc::new(DropMonitor::new(workers + 1, RING_EVENTS)),
            fib: fib::Fib4::new(),
            nexthops: ArcSwap::from_pointee(NextHopTable::default()),
            fib6: fib::Fib6::new(),
            nexthops6: ArcSwap::from_pointee(NextHopTable::default()),
            neigh: NeighTable::new(4096),
            neigh6: NeighTable::new(4096),
            local_tcp: LocalTcpPipe::new(4096),
            heartbeats: crate::service::Heartbeats::new(workers),
            hosts,
            host_drops: AtomicU64::new(0),
        })
    }

    /// The configured name of port `id` (ports are indexed by id).
    pub fn port_name(&self, id: crate::ports::PortId) -> Option<&str> {
        self.ports.get(usize::from(id)).map(|p| p.name.as_str())
    }

    /// The host interface of `port`, if it has one.
    pub fn host(&self, port: crate::ports::PortId) -> Option<&HostPort> {
        self.hosts.get(port as usize).and_then(Option::as_ref)
    }

    /// Index of the slow-path thread's counter block.
    pub fn control_thread(&self) -> usize {
        self.workers
    }
}
