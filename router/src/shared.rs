//! State shared between the forwarding workers, the slow-path thread, the
//! route manager, the BGP transport and the control socket.
//!
//! Readers on the forwarding path never lock: the FIB and the next-hop table
//! are published with arc-swap, the neighbour table is lock-free for readers,
//! counters are per-thread.
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
    pub neigh: NeighTable,
    pub local_tcp: LocalTcpPipe,
    /// One per forwarding worker, bumped once per loop turn; the systemd
    /// watchdog pings only while all of them move.
    pub heartbeats: crate::service::Heartbeats,
}

impl Shared {
    pub fn new(ports: Vec<PortInfo>, workers: usize) -> Arc<Shared> {
        let n = ports.len();
        Arc::new(Shared {
            ports,
            workers,
            counters: Arc::new(Counters::new(workers + 1, n)),
            monitor: Arc::new(DropMonitor::new(workers + 1, RING_EVENTS)),
            fib: fib::Fib4::new(),
            nexthops: ArcSwap::from_pointee(NextHopTable::default()),
            neigh: NeighTable::new(4096),
            local_tcp: LocalTcpPipe::new(4096),
            heartbeats: crate::service::Heartbeats::new(workers),
        })
    }
    /// Index of the slow-path thread's counter block.
    pub fn control_thread(&self) -> usize {
        self.workers
    }
}
