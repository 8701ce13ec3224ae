//! The slow path: one thread that handles what the forwarding workers hand
//! over (ARP, TCP for the router itself, packets waiting for neighbour
//! resolution), runs the neighbour state machine, answers and learns ARP,
//! announces our addresses with gratuitous ARP at start, and routes the
//! packets of the router's own TCP stack (BGP).
//!
//! It owns one TX-only socket per port and counts into the control thread's
//! counter block. It sleeps in poll(2) on an eventfd the workers signal (at
//! most once per RX batch) with a short timeout for its timers and for the
//! stack's channel.
//!
//! TCP to our addresses: handed to the local stack (`shared.local_tcp`),
//! which answers segments for closed ports with RST itself (smoltcp does).
//! When no stack runs (`local_tcp.detached`), this thread answers with a RST
//! (RFC 793 "Reset Generation", state CLOSED).
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use crossbeam_queue::ArrayQueue;

use crate::dataplane::counters::DropReason;
use crate::dataplane::forward::{
    complete_checksum, Batch, Egress, Forwarder, FrameMeta, Punt, TxSink,
};
use crate::neigh::{ArpSeen, NeighAction, NeighCache, NeighOptions, Resolve};
use crate::ports::PortId;
use crate::shared::Shared;
use crate::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use crate::wire::ethernet::{self, ethertype, EthernetFrame, EthernetRepr, MacAddr};
use crate::wire::icmp::{msg, unreach};
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};

/// A frame handed to (or held by) the slow path, in a pooled buffer.
#[derive(Debug)]
pub struct SlowPacket {
    buf: Box<[u8]>,
    len: usize,
    /// Ingress port (for a packet of the local stack: the egress port).
    pub in_port: PortId,
    pub why: Punt,
    pub meta: FrameMeta,
    /// Originated by the local stack (no TTL decrement, no ICMP errors).
    pub from_stack: bool,
}

impl SlowPacket {
    pub fn frame(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Sizes of the hand-off queue and its buffer pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffOptions {
    /// Frames waiting for the slow path.
    pub depth: usize,
    /// Buffers for ordinary frames (≤ `small_size` bytes).
    pub small_buffers: usize,
    pub small_size: usize,
    /// Buffers for GSO super-frames.
    pub large_buffers: usize,
    pub large_size: usize,
}

impl Default for HandoffOptions {
    fn default() -> Self {
        HandoffOptions {
            depth: 1024,
            small_buffers: 1024,
            small_size: 2048,
            large_buffers: 32,
            large_size: 65536 + 64,
        }
    }
}

/// Workers → slow path: a bounded lock-free queue of frames copied into
/// preallocated buffers (no allocation per packet; a full queue or an empty
/// pool makes `push` fail, which the worker counts as `queue_full`). The
/// buffers of packets waiting for ARP stay out of the pool while they wait.
pub struct Handoff {
    queue: ArrayQueue<SlowPacket>,
    small: ArrayQueue<Box<[u8]>>,
    large: ArrayQueue<Box<[u8]>>,
    opts: HandoffOptions,
    /// Doorbell: a one-slot channel. Workers ring it once per batch that
    /// punted something (`try_send` on a full slot is a few atomic ops; it
    /// makes a syscall only to wake a sleeping slow path). The slow path
    /// waits on it and on the local stack's channel at once, so neither
    /// source waits for a timer.
    bell_tx: Sender<()>,
    bell_rx: Receiver<()>,
}

impl Handoff {
    pub fn new(opts: HandoffOptions) -> Handoff {
        let small = ArrayQueue::new(opts.small_buffers.max(1));
        for _ in 0..opts.small_buffers {
            let _ = small.push(vec![0u8; opts.small_size].into_boxed_slice());
        }
        let (bell_tx, bell_rx) = bounded(1);
        let large = ArrayQueue::new(opts.large_buffers.max(1));
        for _ in 0..opts.large_buffers {
            let _ = large.push(vec![0u8; opts.large_size].into_boxed_slice());
        }
        Handoff {
            queue: ArrayQueue::new(opts.depth.max(1)),
            small,
            large,
            opts,
            bell_tx,
            bell_rx,
        }
    }

    /// Copies `frame` into a pooled buffer and queues it. No allocation.
    pub fn push(&self, why: Punt, in_port: PortId, frame: &[u8], meta: &FrameMeta) -> bool {
        if self.queue.is_full() {
            return false;
        }
        let pool = if frame.len() <= self.opts.small_size {
            &self.small
        } else if frame.len() <= self.opts.large_size {
            &self.large
        } else {
            return false;
        };
        let Some(mut buf) = pool.pop() else {
            return false;
        };
        buf[..frame.len()].copy_from_slice(frame);
        let p = SlowPacket {
            buf,
            len: frame.len(),
            in_port,
            why,
            meta: *meta,
            from_stack: false,
        };
        match self.queue.push(p) {
            Ok(()) => true,
            Err(p) => {
                self.recycle(p);
                false
            }
        }
    }

    pub fn pop(&self) -> Option<SlowPacket> {
        self.queue.pop()
    }

    /// Returns a packet's buffer to its pool (buffers of other sizes, i.e.
    /// the slow path's own allocations, are freed).
    pub fn recycle(&self, p: SlowPacket) {
        let pool = if p.buf.len() == self.opts.small_size {
            &self.small
        } else if p.buf.len() == self.opts.large_size {
            &self.large
        } else {
            return;
        };
        let _ = pool.push(p.buf);
    }

    /// Wakes the slow path (call once per batch, not per packet).
    pub fn wake(&self) {
        let _ = self.bell_tx.try_send(());
    }

    /// Buffers currently in the pools (for tests and diagnostics).
    pub fn free_buffers(&self) -> (usize, usize) {
        (self.small.len(), self.large.len())
    }
}

/// The slow path's logic, independent of sockets (tests drive it with a
/// mock sink).
pub struct SlowCore<'a> {
    shared: Arc<Shared>,
    fwd: Forwarder,
    cache: NeighCache<'a, SlowPacket>,
    handoff: Arc<Handoff>,
    actions: Vec<NeighAction<SlowPacket>>,
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
        handoff: Arc<Handoff>,
    ) -> Self {
        SlowCore {
            shared,
            fwd,
            cache: NeighCache::new(neigh_opts, writer),
            handoff,
            actions: Vec::new(),
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

    /// RFC 5227 §2.3 announcement (gratuitous ARP) of every port address.
    pub fn announce<S: TxSink>(&mut self, sink: &mut S) {
        for port in 0..self.fwd.port_count() as PortId {
            let Some(mac) = self.fwd.port_mac(port) else {
                continue;
            };
            let addrs: Vec<_> = self.fwd.port_addresses(port).collect();
            for a in addrs {
                let arp = ArpRepr {
                    op: ArpOp::Request,
                    sha: mac,
                    spa: a,
                    tha: [0; 6],
                    tpa: a,
                };
                self.send_arp(port, ethernet::BROADCAST, &arp, sink);
            }
        }
    }

    fn send_arp<S: TxSink>(&self, port: PortId, dst: MacAddr, arp: &ArpRepr, sink: &mut S) {
        let len = ethernet::HEADER_LEN + arp.buffer_len();
        let sent = sink.send(port, |buf| {
            let Some(buf) = buf.get_mut(..len) else {
                return (0, None);
            };
            let eth = EthernetRepr {
                dst,
                src: arp.sha,
                ethertype: ethertype::ARP,
            };
            if eth.emit(buf).is_err() || arp.emit(&mut buf[ethernet::HEADER_LEN..]).is_err() {
                return (0, None);
            }
            (len, None)
        });
        if sent {
            self.count_tx(port, len);
        }
    }

    /// Handles one frame from the workers.
    pub fn handle<S: TxSink>(&mut self, b: &Batch, p: SlowPacket, sink: &mut S) {
        match p.why {
            Punt::Arp => {
                self.handle_arp(b.now, &p, sink);
                self.handoff.recycle(p);
            }
            Punt::LocalTcp => self.local_tcp(b, p, sink),
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

    fn handle_arp<S: TxSink>(&mut self, now: Instant, p: &SlowPacket, sink: &mut S) {
        let port = p.in_port;
        let Some(mac) = self.fwd.port_mac(port) else {
            return;
        };
        let Ok(eth) = EthernetFrame::new_checked(p.frame()) else {
            self.count(port, DropReason::BadHeader);
            return;
        };
        let arp = match ArpPacket::new_checked(eth.payload()).and_then(|a| ArpRepr::parse(&a)) {
            Ok(a) => a,
            Err(_) => {
                self.count(port, DropReason::BadHeader);
                return;
            }
        };
        if arp.sha == mac || ethernet::is_multicast(&arp.sha) {
            self.count(port, DropReason::NotForUs);
            return;
        }
        if self.fwd.is_port_address(port, arp.spa) {
            // Someone else claims our address; never learn it.
            tracing::warn!(port, addr = %arp.spa, mac = ?arp.sha, "ARP: address conflict");
            return;
        }
        let for_us = self.fwd.is_port_address(port, arp.tpa);
        // Learn only senders on one of the port's subnets.
        let learnable = arp.spa != Ipv4Addr::UNSPECIFIED && self.fwd.on_link(port, arp.spa);
        match arp.op {
            ArpOp::Request if for_us => {
                if learnable {
                    self.cache.learn(
                        port,
                        arp.spa,
                        arp.sha,
                        ArpSeen::RequestForUs,
                        now,
                        &mut self.actions,
                    );
                }
                // RFC 826: swap, fill in our hardware address, reply to the
                // requester (also to RFC 5227 probes with sender 0.0.0.0).
                let reply = ArpRepr {
                    op: ArpOp::Reply,
                    sha: mac,
                    spa: arp.tpa,
                    tha: arp.sha,
                    tpa: arp.spa,
                };
                self.send_arp(port, arp.sha, &reply, sink);
            }
            ArpOp::Reply if learnable => {
                let seen = if for_us && eth.dst() == mac {
                    ArpSeen::Reply
                } else {
                    ArpSeen::Other
                };
                self.cache
                    .learn(port, arp.spa, arp.sha, seen, now, &mut self.actions);
            }
            _ if learnable => {
                self.cache.learn(
                    port,
                    arp.spa,
                    arp.sha,
                    ArpSeen::Other,
                    now,
                    &mut self.actions,
                );
            }
            _ => {}
        }
    }

    fn local_tcp<S: TxSink>(&mut self, b: &Batch, mut p: SlowPacket, sink: &mut S) {
        let port = p.in_port;
        let meta = p.meta;
        let len = p.len;
        if !complete_checksum(&mut p.buf[..len], &meta) {
            self.count(port, DropReason::BadHeader);
            self.handoff.recycle(p);
            return;
        }
        let ip_bytes = {
            let Ok(ip) = Ipv4Packet::new_checked(&p.buf[ethernet::HEADER_LEN..len]) else {
                self.count(port, DropReason::BadHeader);
                self.handoff.recycle(p);
                return;
            };
            ethernet::HEADER_LEN..ethernet::HEADER_LEN + ip.total_len() as usize
        };
        let pipe = &self.shared.local_tcp;
        if !pipe.detached.load(Ordering::Relaxed) {
            // The slow path may allocate: one Vec per segment for the stack.
            match pipe.to_stack_tx.try_send(p.buf[ip_bytes].to_vec()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.count(port, DropReason::QueueFull),
                Err(TrySendError::Disconnected(_)) => self.send_rst(b, &p, sink),
            }
        } else {
            self.send_rst(b, &p, sink);
        }
        self.handoff.recycle(p);
    }

    fn send_rst<S: TxSink>(&mut self, b: &Batch, p: &SlowPacket, sink: &mut S) {
        let frame = p.frame();
        let prev = EthernetFrame::new_unchecked(frame).src();
        let Ok(ip) = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else {
            return;
        };
        let Some((port, dst_mac, _)) = self.fwd.reply_path(b, p.in_port, prev, ip.src()) else {
            return;
        };
        let Some(src_mac) = self.fwd.port_mac(port) else {
            return;
        };
        let ident = self.fwd.next_ident();
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = build_tcp_rst(buf, src_mac, dst_mac, ident, &frame[ethernet::HEADER_LEN..])
                .unwrap_or(0);
            (len, None)
        });
        if sent {
            self.count_tx(port, len);
        }
        self.count(p.in_port, DropReason::LocalUnsupported);
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
        } else {
            let (in_port, meta, len) = (p.in_port, p.meta, p.len);
            self.fwd
                .forward_resolved(b, in_port, &mut p.buf[..len], &meta, port, mac, sink);
        }
        self.handoff.recycle(p);
    }

    /// Resolution failed: RFC 1812 §5.2.7.1 host unreachable to the source.
    fn unreachable<S: TxSink>(&mut self, b: &Batch, p: SlowPacket, sink: &mut S) {
        self.count(p.in_port, DropReason::NeighUnresolved);
        if !p.from_stack {
            self.fwd.icmp_error(
                b,
                p.in_port,
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
                    self.count(p.in_port, DropReason::NeighUnresolved);
                    self.handoff.recycle(p);
                }
            }
        }
        // Keep the vector's capacity for next time.
        if self.actions.is_empty() {
            self.actions = actions;
        }
    }

    /// Routes one IPv4 packet from the local TCP stack.
    pub fn from_stack<S: TxSink>(&mut self, b: &Batch, pkt: &[u8], sink: &mut S) {
        let Ok(ip) = Ipv4Packet::new_checked(pkt) else {
            return;
        };
        let hash = self.fwd.packet_hash(&ip);
        let Egress::Out { port, next_hop } = self.fwd.route(b, ip.dst(), hash) else {
            tracing::debug!(dst = %ip.dst(), "local stack: no route");
            return;
        };
        let ip_len = ip.total_len() as usize;
        if self.fwd.port_mtu(port).is_some_and(|m| ip_len > m) {
            self.count(port, DropReason::Mtu);
            return;
        }
        let mut buf = vec![0u8; ethernet::HEADER_LEN + ip_len].into_boxed_slice();
        buf[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        buf[ethernet::HEADER_LEN..].copy_from_slice(&pkt[..ip_len]);
        let len = buf.len();
        let p = SlowPacket {
            buf,
            len,
            in_port: port,
            why: Punt::LocalTcp,
            meta: FrameMeta::default(),
            from_stack: true,
        };
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

    /// Runs the neighbour timers.
    pub fn tick<S: TxSink>(&mut self, b: &Batch, sink: &mut S) {
        self.cache.tick(b.now, &mut self.actions);
        self.run_actions(b, sink);
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

/// Builds an Ethernet frame with a TCP RST answering the segment in
/// `orig_ip` (RFC 793 §3.4 "Reset Generation", connection CLOSED): if the
/// segment has ACK, `<SEQ=SEG.ACK><CTL=RST>`, else
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Never answers a RST. Uses
/// pnet_packet's TCP view (slow path only).
pub fn build_tcp_rst(
    out: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    ident: u16,
    orig_ip: &[u8],
) -> Option<usize> {
    use pnet_packet::tcp::{ipv4_checksum, MutableTcpPacket, TcpFlags, TcpPacket};
    let ip = Ipv4Packet::new_checked(orig_ip).ok()?;
    if ip.protocol() != protocol::TCP || ip.is_fragment() {
        return None;
    }
    let seg = ip.payload();
    let tcp = TcpPacket::new(seg)?;
    let doff = tcp.get_data_offset() as usize * 4;
    if doff < 20 || doff > seg.len() {
        return None;
    }
    let flags = tcp.get_flags();
    if flags & TcpFlags::RST != 0 {
        return None;
    }
    let (seq, ack, out_flags) = if flags & TcpFlags::ACK != 0 {
        (tcp.get_acknowledgement(), 0, TcpFlags::RST)
    } else {
        let mut seg_len = (seg.len() - doff) as u32;
        if flags & TcpFlags::SYN != 0 {
            seg_len += 1;
        }
        if flags & TcpFlags::FIN != 0 {
            seg_len += 1;
        }
        (
            0,
            tcp.get_sequence().wrapping_add(seg_len),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    let total = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + 20;
    let out = out.get_mut(..total)?;
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(out)
    .ok()?;
    let (src, dst) = (ip.dst(), ip.src());
    Ipv4Repr {
        src,
        dst,
        protocol: protocol::TCP,
        ttl: 64,
        dscp_ecn: 0,
        ident,
        dont_frag: true,
        payload_len: 20,
    }
    .emit(&mut out[ethernet::HEADER_LEN..])
    .ok()?;
    let t = &mut out[ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN..];
    t.fill(0);
    let mut r = MutableTcpPacket::new(t)?;
    r.set_source(tcp.get_destination());
    r.set_destination(tcp.get_source());
    r.set_sequence(seq);
    r.set_acknowledgement(ack);
    r.set_data_offset(5);
    r.set_flags(out_flags);
    r.set_window(0);
    let c = ipv4_checksum(&r.to_immutable(), &src, &dst);
    r.set_checksum(c);
    Some(total)
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
