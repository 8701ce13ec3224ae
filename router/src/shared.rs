//! State shared between the forwarding workers, the slow-path thread, the
//! route manager, the BGP transport and the control socket.
//!
//! Readers on the forwarding path never lock: the FIB and the next-hop table
//! are published with arc-swap, the neighbour table is lock-free for readers,
//! counters are per-thread.
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::dataplane::counters::Counters;
use crate::neigh::NeighTable;
use crate::ports::PortInfo;
use crate::rib::nexthop::NextHopTable;

/// IPv4 packets (no Ethernet header) between the slow path and the
/// router's own TCP stack (smoltcp, used by BGP). Slow path only: a `Vec` per
/// packet is acceptable here, never on the forwarding path.
pub struct LocalTcpPipe {
    /// Slow path -> stack: TCP segments addressed to one of our addresses.
    pub to_stack_tx: Sender<Vec<u8>>,
    pub to_stack_rx: Receiver<Vec<u8>>,
    /// Stack -> slow path: packets the stack wants routed and sent.
    pub from_stack_tx: Sender<Vec<u8>>,
    pub from_stack_rx: Receiver<Vec<u8>>,
    /// Set when no local TCP stack runs (e.g. no `[bgp]` section): the slow
    /// path then answers TCP to our addresses with a RST (RFC 793) instead
    /// of queueing it. While false, segments the stack cannot take (channel
    /// full) are dropped and counted as `queue_full` (TCP retransmits).
    pub detached: AtomicBool,
}

impl LocalTcpPipe {
    pub fn new(depth: usize) -> Self {
        let (a, b) = bounded(depth);
        let (c, d) = bounded(depth);
        LocalTcpPipe {
            to_stack_tx: a,
            to_stack_rx: b,
            from_stack_tx: c,
            from_stack_rx: d,
            detached: AtomicBool::new(false),
        }
    }
}

pub struct Shared {
    pub ports: Vec<PortInfo>,
    /// Number of forwarding workers; counters hold `workers + 1` thread
    /// blocks, the last one for the slow-path/control thread.
    pub workers: usize,
    pub counters: Counters,
    pub fib: fib::Fib4,
    pub nexthops: ArcSwap<NextHopTable>,
    pub neigh: NeighTable,
    pub local_tcp: LocalTcpPipe,
}

impl Shared {
    pub fn new(ports: Vec<PortInfo>, workers: usize) -> Arc<Shared> {
        let n = ports.len();
        Arc::new(Shared {
            ports,
            workers,
            counters: Counters::new(workers + 1, n),
            fib: fib::Fib4::new(),
            nexthops: ArcSwap::from_pointee(NextHopTable::default()),
            neigh: NeighTable::new(4096),
            local_tcp: LocalTcpPipe::new(4096),
        })
    }
    /// Index of the slow-path thread's counter block.
    pub fn control_thread(&self) -> usize {
        self.workers
    }
}
