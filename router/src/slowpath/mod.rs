//! The slow path: one thread that handles what the forwarding workers hand
//! over (ARP, TCP for the router itself, packets waiting for neighbour
//! resolution), runs the neighbour state machine, answers and learns ARP,
//! announces our addresses with gratuitous ARP at start, and routes the
//! packets of the router's own TCP stack (BGP).
//!
//! * `handoff`: the queue from the workers (pooled buffers, a doorbell);
//! * `arp`: answering, learning, announcing, soliciting;
//! * `local_tcp`: TCP to our addresses, to and from the local stack;
//! * `host`: frames to and from the host interfaces (TAPs for the kernel);
//! * here: the thread ([`run`]) and [`SlowCore`], which sends packets once
//!   their neighbour resolves and ICMP host unreachable when it does not.
//!
//! It owns one TX-only socket per port and counts into the control thread's
//! counter block. It sleeps in one `crossbeam_channel::select!` on the
//! hand-off doorbell (which workers ring at most once per RX batch) and on
//! the local stack's channel, with a timeout of one timer tick (≤ 10 ms).
//!
//! TCP to our addresses: handed to the local stack (`shared.local_tcp`),
//! which answers segments for closed ports with RST itself (smoltcp does).
//! When no stack runs (`local_tcp.detached`), this thread answers with a RST
//! (RFC 793 "Reset Generation", state CLOSED).
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dataplane::counters::DropReason;
use crate::dataplane::forward::{Batch, Forwarder, Punt, TxSink};
use crate::neigh::{NeighAction, NeighCache, NeighOptions, Resolve};
use crate::ports::PortId;
use crate::shared::Shared;
use crate::wire::arp::{ArpOp, ArpRepr};
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::icmp::{msg, unreach};
use crate::wire::icmpv6;

/// `rig6!(core, sink, handoff, shared)`: a slow path over the IPv6
/// forwarding tests' two-port router (`forward::tests6::shared6`), for the
/// NDP and local-TCP tests (a macro: the core borrows the neighbour tables'
/// writers from `shared`, which must outlive it).
#[cfg(test)]
macro_rules! rig6 {
    ($c:ident, $s:ident, $h:ident, $shared:ident) => {
        let $shared = $crate::dataplane::forward::tests6::shared6(1500);
        let $h = std::sync::Arc::new($crate::slowpath::Handoff::new(
            $crate::slowpath::HandoffOptions {
                depth: 16,
                small_buffers: 16,
                small_size: 2048,
                large_buffers: 2,
                large_size: 65600,
            },
        ));
        let fwd = $crate::dataplane::forward::Forwarder::new(
            $shared.clone(),
            $shared.control_thread(),
            $crate::dataplane::forward::FwdOptions::default(),
        );
        #[allow(unused_mut)]
        let mut $c = $crate::slowpath::SlowCore::new(
            $shared.clone(),
            fwd,
            $crate::neigh::NeighOptions::default(),
            $shared.neigh.writer().unwrap(),
            $shared.neigh6.writer().unwrap(),
            $h.clone(),
        );
        #[allow(unused_mut)]
        let mut $s = $crate::dataplane::forward::tests::MockSink::default();
    };
}

mod arp;
mod handoff;
mod host;
mod local_tcp;
mod ndp;

pub use self::handoff::{Handoff, HandoffOptions, SlowPacket};
pub use self::local_tcp::{build_tcp_rst, LocalTcpPipe};

/// The slow path's logic, independent of sockets (tests drive it with a
/// mock sink).
pub struct SlowCore<'a> {
    shared: Arc<Shared>,
    fwd: Forwarder,
    cache: NeighCache<'a, SlowPacket>,
    /// IPv6 neighbours: the same state machine, fed by NDP.
    cache6: NeighCache<'a, SlowPacket, Ipv6Addr>,
    handoff: Arc<Handoff>,
    actions: Vec<NeighAction<SlowPacket>>,
    actions6: Vec<NeighAction<SlowPacket, Ipv6Addr>>,
    /// Our IPv6 addresses still in Duplicate Address Detection.
    tentative: Vec<ndp::Tentative>,
    /// Advertisements of one of our addresses by another node.
    pub dad_conflicts: u64,
}

/// Most packets handled per wake-up from each source, so no source starves
/// the timers.
const SLOW_BATCH: usize = 256;

impl<'a> SlowCore<'a> {
    pub fn new(
        shared: Arc<Shared>,
        fwd: Forwarder,
        neigh_opts: NeighOptions,
        writer: crate::neigh::NeighWriter<'a>,
        writer6: crate::neigh::NeighWriter<'a, Ipv6Addr>,
        handoff: Arc<Handoff>,
    ) -> Self {
        SlowCore {
            shared,
            fwd,
            cache: NeighCache::new(neigh_opts.clone(), writer),
            cache6: NeighCache::new(neigh_opts, writer6),
            handoff,
            actions: Vec::new(),
            actions6: Vec::new(),
            tentative: Vec::new(),
            dad_conflicts: 0,
        }
    }

    pub fn forwarder(&self) -> &Forwarder {
        &self.fwd
    }

    fn count(&self, port: PortId, r: DropReason) {
        if (port as usize) < self.shared.ports.len() {
            self.shared
                .counters
                .port(self.shared.control_thread(), port as usize)
                .drop(r);
        }
    }

    fn count_tx(&self, port: PortId, len: usize) {
        if (port as usize) < self.shared.ports.len() {
            self.shared
                .counters
                .port(self.shared.control_thread(), port as usize)
                .tx(len);
        }
    }

    /// Handles one frame from the workers.
    pub fn handle<S: TxSink>(&mut self, b: &Batch, p: SlowPacket, sink: &mut S) {
        // Workers hand over only their own ports' frames; anything else has
        // no port to count or answer on (found by the slowpath fuzz target
        // once drops began to go through the forwarder's drop hook).
        let valid = |port: PortId| (port as usize) < self.shared.ports.len();
        let ports_valid = valid(p.in_port)
            && match p.why {
                Punt::Resolve { port, .. }
                | Punt::Resolve6 { port, .. }
                | Punt::HostUp { port }
                | Punt::FromHost { port } => valid(port),
                Punt::Arp | Punt::Ndp | Punt::LocalTcp => true,
            };
        if !ports_valid {
            self.handoff.recycle(p);
            return;
        }
        match p.why {
            Punt::Arp => {
                self.handle_arp(b.now, &p, sink);
                self.handoff.recycle(p);
            }
            Punt::Ndp => {
                self.handle_ndp(b.now, &p, sink);
                self.handoff.recycle(p);
                self.run_actions(b, sink);
            }
            Punt::Resolve6 { port, next_hop } => {
                match self
                    .cache6
                    .resolve(port, next_hop, p, b.now, &mut self.actions6)
                {
                    Resolve::Send(mac, p) => self.transmit(b, p, port, mac, sink),
                    Resolve::Queued => {}
                    Resolve::Unreachable(p) => self.unreachable(b, p, sink),
                }
                self.run_actions(b, sink);
            }
            Punt::LocalTcp => self.local_tcp(b, p, sink),
            Punt::HostUp { port } => self.host_up(p, port, sink),
            Punt::FromHost { port } => self.host_down(b, p, port, sink),
            Punt::Resolve { port, next_hop } => {
                match self
                    .cache
                    .resolve(port, next_hop, p, b.now, &mut self.actions)
                {
                    Resolve::Send(mac, p) => self.transmit(b, p, port, mac, sink),
                    Resolve::Queued => {}
                    Resolve::Unreachable(p) => self.unreachable(b, p, sink),
                }
                self.run_actions(b, sink);
            }
        }
    }

    /// Sends a packet whose next hop resolved to `mac`.
    fn transmit<S: TxSink>(
        &mut self,
        b: &Batch,
        mut p: SlowPacket,
        port: PortId,
        mac: MacAddr,
        sink: &mut S,
    ) {
        if p.from_stack {
            let Some(src_mac) = self.fwd.port_mac(port) else {
                return;
            };
            let frame = p.frame();
            let len = frame.len();
            let sent = sink.send(port, |buf| {
                let Some(buf) = buf.get_mut(..len) else {
                    return (0, None);
                };
                buf.copy_from_slice(frame);
                buf[0..6].copy_from_slice(&mac);
                buf[6..12].copy_from_slice(&src_mac);
                (len, None)
            });
            if sent {
                self.count_tx(port, len);
            } else {
                self.count(port, DropReason::QueueFull);
            }
        } else if !ipv4_header_ok(p.frame()) {
            // Workers hand over only validated packets; one that is not (a
            // corrupted or forged hand-off: found by the slowpath fuzz
            // target) must not leave with its bad checksum carried along by
            // the incremental TTL update.
            self.fwd
                .drop_packet(p.in_port, DropReason::BadHeader, p.frame(), None);
        } else {
            let (in_port, meta, len) = (p.in_port, p.meta, p.len);
            self.fwd
                .forward_resolved(b, in_port, &mut p.buf[..len], &meta, port, mac, sink);
        }
        self.handoff.recycle(p);
    }

    /// Resolution failed: RFC 1812 §5.2.7.1 host unreachable to the source
    /// (for IPv6, RFC 4443 §3.1 address unreachable, code 3; an IPv6 packet
    /// may wait on ARP too, for an IPv4-mapped next hop).
    fn unreachable<S: TxSink>(&mut self, b: &Batch, p: SlowPacket, sink: &mut S) {
        let is_v6 = p.frame().get(12..14) == Some(&ethernet::ethertype::IPV6.to_be_bytes()[..]);
        if p.from_stack {
            self.count(p.in_port, DropReason::NeighUnresolved);
        } else if is_v6 {
            self.fwd.drop_with_icmp6(
                b,
                p.in_port,
                DropReason::NeighUnresolved,
                p.frame(),
                icmpv6::msg::DST_UNREACHABLE,
                icmpv6::unreach::ADDRESS,
                0,
                sink,
            );
        } else {
            self.fwd.drop_with_icmp(
                b,
                p.in_port,
                DropReason::NeighUnresolved,
                p.frame(),
                msg::DST_UNREACHABLE,
                unreach::HOST,
                0,
                sink,
            );
        }
        self.handoff.recycle(p);
    }

    fn run_actions<S: TxSink>(&mut self, b: &Batch, sink: &mut S) {
        let mut actions = std::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            match a {
                NeighAction::Solicit { port, ip, unicast } => {
                    let (Some(mac), Some(spa)) =
                        (self.fwd.port_mac(port), self.fwd.source_address(port, ip))
                    else {
                        continue;
                    };
                    let arp = ArpRepr {
                        op: ArpOp::Request,
                        sha: mac,
                        spa,
                        tha: unicast.unwrap_or([0; 6]),
                        tpa: ip,
                    };
                    self.send_arp(port, unicast.unwrap_or(ethernet::BROADCAST), &arp, sink);
                }
                NeighAction::Flush {
                    port, mac, packets, ..
                } => {
                    for p in packets {
                        self.transmit(b, p, port, mac, sink);
                    }
                }
                NeighAction::Failed { packets, .. } => {
                    for p in packets {
                        self.unreachable(b, p, sink);
                    }
                }
                NeighAction::Overflow(p) => {
                    // Through the forwarder, so a drop monitor sees it.
                    self.fwd
                        .drop_packet(p.in_port, DropReason::NeighUnresolved, p.frame(), None);
                    self.handoff.recycle(p);
                }
            }
        }
        // Keep the vector's capacity for next time.
        if self.actions.is_empty() {
            self.actions = actions;
        }
        let mut actions6 = std::mem::take(&mut self.actions6);
        for a in actions6.drain(..) {
            match a {
                NeighAction::Solicit { port, ip, unicast } => self.send_ns(port, ip, unicast, sink),
                NeighAction::Flush {
                    port, mac, packets, ..
                } => {
                    for p in packets {
                        self.transmit(b, p, port, mac, sink);
                    }
                }
                NeighAction::Failed { packets, .. } => {
                    for p in packets {
                        self.unreachable(b, p, sink);
                    }
                }
                NeighAction::Overflow(p) => {
                    self.fwd
                        .drop_packet(p.in_port, DropReason::NeighUnresolved, p.frame(), None);
                    self.handoff.recycle(p);
                }
            }
        }
        if self.actions6.is_empty() {
            self.actions6 = actions6;
        }
    }

    /// Runs the neighbour timers.
    pub fn tick<S: TxSink>(&mut self, b: &Batch, sink: &mut S) {
        self.cache.tick(b.now, &mut self.actions);
        self.cache6.tick(b.now, &mut self.actions6);
        self.run_actions(b, sink);
        self.finish_dad(b.now, sink);
    }

    /// One round: drains the hand-off queue and the stack's channel (bounded),
    /// then runs the timers.
    pub fn round<S: TxSink>(&mut self, sink: &mut S) {
        let b = self.fwd.begin_batch(Instant::now());
        for _ in 0..SLOW_BATCH {
            let Some(p) = self.handoff.pop() else { break };
            self.handle(&b, p, sink);
        }
        for _ in 0..SLOW_BATCH {
            let Ok(pkt) = self.shared.local_tcp.from_stack_rx.try_recv() else {
                break;
            };
            self.from_stack(&b, &pkt, sink);
        }
        self.tick(&b, sink);
    }
}

/// False for an IPv4 frame whose header is short or fails its checksum
/// (other frames: true; IPv6 has no header checksum).
fn ipv4_header_ok(frame: &[u8]) -> bool {
    if frame.get(12..14) != Some(&ethernet::ethertype::IPV4.to_be_bytes()[..]) {
        return true;
    }
    frame
        .get(ethernet::HEADER_LEN..)
        .and_then(|ip| crate::wire::ipv4::Ipv4Packet::new_checked(ip).ok())
        .is_some_and(|ip| ip.verify_checksum())
}

/// The slow-path thread's body: `core` plus its own TX rings.
pub fn run<S: TxSink + FlushTx>(
    mut core: SlowCore<'_>,
    sink: &mut S,
    stop: &AtomicBool,
    tick: Duration,
) {
    core.announce(sink);
    sink.flush_all();
    let tick = tick.clamp(Duration::from_millis(1), Duration::from_millis(10));
    let bell = core.handoff.bell_rx.clone();
    let from_stack = core.shared.local_tcp.from_stack_rx.clone();
    while !stop.load(Ordering::Relaxed) {
        // Sleep until a worker rings, the stack sends, or the timer tick.
        crossbeam_channel::select! {
            recv(bell) -> _ => {},
            recv(from_stack) -> pkt => if let Ok(pkt) = pkt {
                let b = core.fwd.begin_batch(Instant::now());
                core.from_stack(&b, &pkt, sink);
            },
            default(tick) => {},
        }
        core.round(sink);
        sink.flush_all();
    }
}

/// Flushing the TX rings a sink touched (one send(2) kick per ring).
pub trait FlushTx {
    fn flush_all(&mut self);
}

#[cfg(test)]
mod tests;
