//! Per-worker, per-port counters. Each counter block is written by exactly one
//! thread (its owner) with relaxed load+store (no locked RMW on the hot path)
//! and summed by readers (control socket) with relaxed loads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a frame was dropped. Add new reasons at the end; names are shown by
/// `router show interfaces` and used as JSON keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Malformed Ethernet/ARP/IPv4 header (short, bad version, IHL < 5,
    /// total length > frame, bad header checksum).
    BadHeader = 0,
    /// Martian source or destination (RFC 1812 §5.3.7).
    Martian,
    /// TTL would reach zero.
    TtlExceeded,
    /// No route in the FIB (or a blackhole route).
    NoRoute,
    /// Next hop did not resolve (ARP failed) or the pending queue overflowed.
    NeighUnresolved,
    /// A TX ring or a hand-off queue was full.
    QueueFull,
    /// Too big for the egress MTU (DF set, or fragmentation not possible).
    Mtu,
    /// Kernel socket drops (PACKET_STATISTICS tp_drops).
    SocketDrop,
    /// Not for us and not forwardable (other ethertypes, foreign unicast MAC…).
    NotForUs,
    /// Addressed to the router but unsupported (e.g. unknown protocol).
    LocalUnsupported,
    /// A malformed IPv4 option (RFC 1812 §4.3.3.5: answered with ICMP
    /// Parameter Problem).
    BadOption,
    /// A Loose or Strict Source Route option (RFC 7126 §4.3, §4.4: dropped
    /// by default).
    SourceRoute,
}

impl DropReason {
    pub const COUNT: usize = 12;
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::BadHeader,
        DropReason::Martian,
        DropReason::TtlExceeded,
        DropReason::NoRoute,
        DropReason::NeighUnresolved,
        DropReason::QueueFull,
        DropReason::Mtu,
        DropReason::SocketDrop,
        DropReason::NotForUs,
        DropReason::LocalUnsupported,
        DropReason::BadOption,
        DropReason::SourceRoute,
    ];
    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadHeader => "bad_header",
            DropReason::Martian => "martian",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::NoRoute => "no_route",
            DropReason::NeighUnresolved => "neigh_unresolved",
            DropReason::QueueFull => "queue_full",
            DropReason::Mtu => "mtu",
            DropReason::SocketDrop => "socket_drop",
            DropReason::NotForUs => "not_for_us",
            DropReason::LocalUnsupported => "local_unsupported",
            DropReason::BadOption => "bad_option",
            DropReason::SourceRoute => "source_route",
        }
    }
}

/// Counters of one port as seen by one thread. Cache-line aligned so that
/// two workers never share a line.
#[repr(align(64))]
#[derive(Default)]
pub struct PortCounters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub drops: [AtomicU64; DropReason::COUNT],
}

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    // Single writer: a plain load+store is enough and avoids a `lock` prefix.
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl PortCounters {
    #[inline(always)]
    pub fn rx(&self, bytes: usize) {
        bump(&self.rx_packets, 1);
        bump(&self.rx_bytes, bytes as u64);
    }
    #[inline(always)]
    pub fn tx(&self, bytes: usize) {
        bump(&self.tx_packets, 1);
        bump(&self.tx_bytes, bytes as u64);
    }
    #[inline(always)]
    pub fn drop(&self, reason: DropReason) {
        bump(&self.drops[reason as usize], 1);
    }
    #[inline(always)]
    pub fn drop_n(&self, reason: DropReason, n: u64) {
        bump(&self.drops[reason as usize], n);
    }
}

/// A plain-value sum of counters, for display.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PortTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub drops: std::collections::BTreeMap<&'static str, u64>,
}

/// All counters: one block per (thread, port). Thread 0..workers are the
/// forwarding workers; the last block set belongs to the control thread.
pub struct Counters {
    ports: usize,
    blocks: Vec<PortCounters>,
}

impl Counters {
    pub fn new(threads: usize, ports: usize) -> Self {
        let mut blocks = Vec::with_capacity(threads * ports);
        blocks.resize_with(threads * ports, PortCounters::default);
        Counters { ports, blocks }
    }
    #[inline(always)]
    pub fn port(&self, thread: usize, port: usize) -> &PortCounters {
        &self.blocks[thread * self.ports + port]
    }
    pub fn totals(&self, port: usize) -> PortTotals {
        let mut t = PortTotals::default();
        for r in DropReason::ALL {
            t.drops.insert(r.name(), 0);
        }
        for b in self.blocks.iter().skip(port).step_by(self.ports) {
            t.rx_packets += b.rx_packets.load(Relaxed);
            t.rx_bytes += b.rx_bytes.load(Relaxed);
            t.tx_packets += b.tx_packets.load(Relaxed);
            t.tx_bytes += b.tx_bytes.load(Relaxed);
            for r in DropReason::ALL {
                *t.drops.get_mut(r.name()).expect("all reasons inserted") +=
                    b.drops[r as usize].load(Relaxed);
            }
        }
        t
    }
}
