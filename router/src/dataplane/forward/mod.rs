//! The per-packet forwarding decision (RFC 1812), independent of sockets:
//! [`Forwarder::process`] takes one received frame and emits what it causes
//! (the forwarded frame, an ICMP message, a hand-off to the slow path)
//! through a [`TxSink`], so it runs the same in a worker, in the slow path
//! and in the unit tests.
//!
//! One file per step of a packet's path, in order: `validate` (for us,
//! well formed, not martian), `lookup` (FIB, next hop, ECMP member),
//! `rewrite` (MTU, checksum offload, TTL, MACs, into the TX buffer) and
//! `fragment`; `local` for packets addressed to the router and
//! `icmp_error` for the errors sent back. `process` below strings them
//! together.
//!
//! Per packet: no allocation, no lock, no syscall. The FIB and next-hop
//! table guards are taken once per RX batch ([`Forwarder::begin_batch`]); the
//! neighbour table is read lock-free; counters are this thread's own.
//!
//! Fragmentation: packets larger than the egress MTU without DF are
//! fragmented here (RFC 791 §3.2, RFC 1812 §5.2.6) unless
//! [`FragmentPolicy::Drop`] is chosen, in which case they are dropped and
//! counted as `mtu`. GSO super-frames are never fragmented: their segment
//! size is checked against the MTU instead (segments with DF clear that do
//! not fit are dropped and counted as `mtu`).
//!
//! IPv4 options: only headers with IHL > 5 go through `options` (checked,
//! source routes dropped, Record Route recorded in `rewrite`); fragmentation
//! copies the "copied" ones.
//!
//! Not implemented (documented limitations): ICMP redirects (a packet that
//! leaves by the port it came in is forwarded silently), Timestamp
//! recording (the option is validated and forwarded unchanged), reassembly
//! of fragments addressed to the router.
use std::cell::Cell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::Guard;

use crate::dataplane::counters::{Counters, DropReason, PortCounters};
use crate::dataplane::icmp_out::{IcmpRateLimit, TokenBucket};
use crate::dataplane::monitor::{DropEvent, DropMonitor, IcmpSent};
use crate::neigh::NeighState;
use crate::ports::PortId;
use crate::rib::nexthop::NextHopTable;
use crate::shared::Shared;
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::icmp::{msg, unreach};
use crate::wire::icmpv6;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::vnet::VnetHdr;

mod fragment;
mod icmp_error;
mod local;
mod lookup;
mod options;
mod rewrite;
mod validate;

pub use self::lookup::{Egress, Egress6};
pub use self::rewrite::complete_checksum;
use self::validate::Received;

/// What to do with packets larger than the egress MTU that may be
/// fragmented (DF clear).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FragmentPolicy {
    /// Fragment (RFC 1812 §5.2.6 expects it).
    #[default]
    Fragment,
    /// Drop and count as `mtu`.
    Drop,
}

/// What forwarding needs to know about a received frame besides its bytes.
/// The I/O boundary fills it in from the ring's metadata
/// ([`crate::dataplane::rings::frame_meta`]), so nothing here depends on
/// the socket layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMeta {
    /// The vnet header that came with the frame (GSO, partial checksum).
    pub vnet: Option<VnetHdr>,
    /// The kernel left the L4 checksum to "hardware" (CHECKSUM_PARTIAL
    /// without a vnet header).
    pub csum_not_ready: bool,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// The frame did not fit the receive buffer: only its start is here.
    pub truncated: bool,
}

/// Why a frame goes to the slow path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Punt {
    /// An ARP packet (requests for our addresses, replies, gratuitous).
    Arp,
    /// TCP addressed to one of our addresses (for the local stack).
    LocalTcp,
    /// Addressed to an address of `port`, which has a host interface, and
    /// not taken by the router itself: up the TAP to the kernel.
    HostUp { port: PortId },
    /// Sent by the kernel into the host interface of `port` (read by
    /// [`crate::hostif`], never by a worker).
    FromHost { port: PortId },
    /// To be forwarded to `next_hop` on `port`, whose MAC is not known yet.
    /// The frame is as received (TTL not yet decremented, TTL > 1 checked).
    /// An IPv6 packet whose next hop is IPv4-mapped (a BGP next hop learned
    /// over IPv4) waits here too: its neighbour is resolved by ARP.
    Resolve { port: PortId, next_hop: Ipv4Addr },
    /// A packet to be forwarded to IPv6 neighbour `next_hop` on `port`,
    /// whose MAC is not known yet (Neighbor Solicitation): an IPv6 packet
    /// (hop limit > 1 checked), or an IPv4 one with an IPv6 next hop
    /// (RFC 8950; TTL > 1 checked).
    Resolve6 { port: PortId, next_hop: Ipv6Addr },
    /// Neighbor Discovery (RFC 4861) addressed to us or to a group we
    /// listen to; checksum verified.
    Ndp,
}

/// Where [`Forwarder`] sends its output.
pub trait TxSink {
    /// Bytes of frame one transmit buffer of `port` holds.
    fn frame_capacity(&self, port: PortId) -> usize;
    /// Transmits one frame on `port`: `fill` writes it into the buffer and
    /// returns its length (0 cancels) and an optional vnet header. False if
    /// nothing was queued (ring full, or cancelled).
    fn send(
        &mut self,
        port: PortId,
        fill: impl FnOnce(&mut [u8]) -> (usize, Option<VnetHdr>),
    ) -> bool;
    /// Hands a frame to the slow path; false if its queue is full.
    fn punt(&mut self, why: Punt, in_port: PortId, frame: &[u8], meta: &FrameMeta) -> bool;
    /// Hands `frame` (with `vnet`) to the kernel on the host interface of
    /// `port`; false if there is none or it did not take the frame. Only
    /// the slow path has host interfaces (a write is a syscall).
    fn send_host(&mut self, _port: PortId, _vnet: &VnetHdr, _frame: &[u8]) -> bool {
        false
    }
}

/// Forwarding options (part of the dataplane options).
#[derive(Clone, Copy, Debug)]
pub struct FwdOptions {
    pub fragment: FragmentPolicy,
    pub icmp: IcmpRateLimit,
    /// The TX rings exchange a vnet header (GSO / checksum offload can be
    /// passed on); if false, partial checksums are completed in software and
    /// GSO frames cannot be sent.
    pub tx_vnet: bool,
}

impl Default for FwdOptions {
    fn default() -> Self {
        FwdOptions {
            fragment: FragmentPolicy::Fragment,
            icmp: IcmpRateLimit::default(),
            tx_vnet: true,
        }
    }
}

/// Per-port data the forwarding path needs, copied out of `PortInfo`.
#[derive(Clone, Debug)]
struct PortView {
    mac: MacAddr,
    mtu: usize,
    /// (address, network, prefix length) of each of the router's addresses.
    addrs: Vec<(Ipv4Addr, u32, u8)>,
    /// Directed-broadcast addresses of the connected subnets (prefix ≤ 30).
    broadcasts: Vec<Ipv4Addr>,
    /// The port has a host interface.
    host: bool,
    /// (address, network, prefix length) of each IPv6 address; the
    /// link-local first. Empty: no IPv6 on the port.
    addrs6: Vec<(Ipv6Addr, u128, u8)>,
}

/// The route lookup state held for one RX batch.
pub struct Batch {
    fib: Guard<Arc<fib::Table<fib::V4>>>,
    nexthops: Guard<Arc<NextHopTable>>,
    fib6: Guard<Arc<fib::Table<fib::V6>>>,
    nexthops6: Guard<Arc<NextHopTable<Ipv6Addr>>>,
    pub now: Instant,
}

impl Batch {
    /// What this batch's FIB snapshot maps `dst` to (for explanations;
    /// forwarding itself goes through [`Forwarder::route`]).
    pub fn next_hop_of(&self, dst: Ipv4Addr) -> Option<&crate::rib::nexthop::NextHop> {
        self.nexthops.get(self.fib.lookup(dst)?)
    }
}

/// One forwarding thread's state.
pub struct Forwarder {
    shared: Arc<Shared>,
    thread: usize,
    ports: Vec<PortView>,
    opts: FwdOptions,
    icmp_bucket: TokenBucket,
    /// ICMPv6 errors have their own bucket, with the same limits (RFC 4443
    /// §2.4(f); Linux keeps the two apart too).
    icmp6_bucket: TokenBucket,
    ip_ident: u16,
    /// Where drops and packets are counted: `shared.counters`, or a
    /// scratch block for a synthetic packet (`route get`).
    counters: Arc<Counters>,
    /// Where dropped packets are reported while a monitor is attached.
    monitor: Arc<DropMonitor>,
    /// `monitor.is_attached()` as read by the last `begin_batch`.
    monitor_on: Cell<bool>,
    /// The batch's clock, for the monitor's rate limit.
    monitor_now: Cell<Option<Instant>>,
    /// This thread's monitor rate limit and the rate it was built for.
    monitor_bucket: TokenBucket,
    monitor_rate: u64,
}

impl Forwarder {
    /// A forwarder counting into thread block `thread` of `shared.counters`.
    pub fn new(shared: Arc<Shared>, thread: usize, opts: FwdOptions) -> Forwarder {
        let ports = shared
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let host = shared.host(i as PortId).is_some();
                let addrs: Vec<_> = p
                    .addrs
                    .iter()
                    .map(|n| (n.addr(), u32::from(n.network()), n.prefix_len()))
                    .collect();
                let broadcasts = p
                    .addrs
                    .iter()
                    .filter(|n| n.prefix_len() <= 30)
                    .map(|n| n.broadcast())
                    .collect();
                let addrs6 = p
                    .addrs6
                    .iter()
                    .map(|n| (n.addr(), u128::from(n.network()), n.prefix_len()))
                    .collect();
                PortView {
                    mac: p.mac,
                    mtu: p.mtu as usize,
                    addrs,
                    broadcasts,
                    host,
                    addrs6,
                }
            })
            .collect();
        Forwarder {
            icmp_bucket: TokenBucket::new(opts.icmp),
            icmp6_bucket: TokenBucket::new(opts.icmp),
            counters: Arc::clone(&shared.counters),
            monitor: Arc::clone(&shared.monitor),
            monitor_on: Cell::new(false),
            monitor_now: Cell::new(None),
            monitor_bucket: TokenBucket::new(IcmpRateLimit {
                per_sec: 0,
                burst: 0,
            }),
            monitor_rate: 0,
            shared,
            thread,
            ports,
            opts,
            ip_ident: thread as u16 * 7919,
        }
    }

    /// A forwarder for synthetic packets (`route get`): the same decision
    /// code as the workers', but counting into its own scratch counters,
    /// with its own ICMP token bucket (never the workers'), and reporting
    /// every drop to its own always-attached monitor (never the live one).
    pub fn scratch(shared: Arc<Shared>, opts: FwdOptions) -> (Forwarder, Arc<DropMonitor>) {
        let opts = FwdOptions {
            // The answer says what the rules allow, not what the rate
            // limit happens to leave.
            icmp: IcmpRateLimit {
                per_sec: u32::MAX / 2,
                burst: 1024,
            },
            ..opts
        };
        let mut f = Forwarder::new(Arc::clone(&shared), 0, opts);
        f.counters = Arc::new(Counters::new(1, shared.ports.len()));
        let monitor = Arc::new(DropMonitor::new(1, 64));
        f.monitor = Arc::clone(&monitor);
        (f, monitor)
    }

    /// Counts a dropped packet on `port` (the one place a forwarder counts
    /// a drop) and, while a drop monitor is attached, records it with the
    /// ICMP error sent about it. Off, this costs one predictable branch.
    #[inline]
    pub fn drop_packet(
        &mut self,
        port: PortId,
        reason: DropReason,
        frame: &[u8],
        icmp_sent: Option<IcmpSent>,
    ) {
        self.counters(port).drop(reason);
        if self.monitor_on.get() {
            self.record_drop(port, reason, frame, icmp_sent);
        }
    }

    /// Sends the ICMP error the rules allow about `frame`, then counts
    /// (and reports) the drop with it.
    #[allow(clippy::too_many_arguments)]
    pub fn drop_with_icmp<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        reason: DropReason,
        frame: &[u8],
        msg_type: u8,
        code: u8,
        mtu: u16,
        sink: &mut S,
    ) {
        let sent = self.icmp_error(b, in_port, frame, msg_type, code, mtu, sink);
        self.drop_packet(in_port, reason, frame, sent);
    }

    #[cold]
    #[inline(never)]
    fn record_drop(
        &mut self,
        port: PortId,
        reason: DropReason,
        frame: &[u8],
        icmp_sent: Option<IcmpSent>,
    ) {
        let rate = self.monitor.rate();
        if rate != self.monitor_rate {
            let r = rate.min(u32::MAX as u64) as u32;
            self.monitor_bucket = TokenBucket::new(IcmpRateLimit {
                per_sec: r,
                burst: r,
            });
            self.monitor_rate = rate;
        }
        let now = self.monitor_now.get().unwrap_or_else(Instant::now);
        if !self.monitor_bucket.allow(now) {
            self.monitor.count_rate_limited(self.thread);
            return;
        }
        let ev = DropEvent::from_frame(self.thread as u16, port, reason, frame, icmp_sent);
        self.monitor.push(self.thread, ev);
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes the FIB and next-hop guards for a batch. The next-hop table is
    /// loaded after the FIB: the rib publishes next hops first, so every id
    /// the FIB table holds resolves.
    pub fn begin_batch(&self, now: Instant) -> Batch {
        // The drop monitor's one relaxed load per batch.
        let on = self.monitor.is_attached();
        self.monitor_on.set(on);
        if on {
            self.monitor_now.set(Some(now));
        }
        let fib = self.shared.fib.load();
        let nexthops = self.shared.nexthops.load();
        let fib6 = self.shared.fib6.load();
        let nexthops6 = self.shared.nexthops6.load();
        Batch {
            fib,
            nexthops,
            fib6,
            nexthops6,
            now,
        }
    }

    #[inline]
    fn counters(&self, port: PortId) -> &PortCounters {
        self.counters.port(self.thread, port as usize)
    }

    /// True if `a` is one of the router's port addresses.
    pub fn is_port_address(&self, port: PortId, a: Ipv4Addr) -> bool {
        self.ports
            .get(port as usize)
            .is_some_and(|p| p.addrs.iter().any(|x| x.0 == a))
    }

    /// The port that owns address `a` and has a host interface.
    pub fn host_port_of(&self, a: Ipv4Addr) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.host && p.addrs.iter().any(|x| x.0 == a))
            .map(|i| i as PortId)
    }

    /// Source address for a packet leaving `port` towards `toward`: the
    /// port address on the same subnet, else the port's first address.
    pub fn source_address(&self, port: PortId, toward: Ipv4Addr) -> Option<Ipv4Addr> {
        let p = self.ports.get(port as usize)?;
        let t = u32::from(toward);
        p.addrs
            .iter()
            .find(|(_, net, len)| *len > 0 && t & (u32::MAX << (32 - *len as u32)) == *net)
            .or(p.addrs.first())
            .map(|x| x.0)
    }

    /// True if `a` lies in one of `port`'s connected subnets.
    pub fn on_link(&self, port: PortId, a: Ipv4Addr) -> bool {
        let t = u32::from(a);
        self.ports.get(port as usize).is_some_and(|p| {
            p.addrs
                .iter()
                .any(|(_, net, len)| *len > 0 && t & (u32::MAX << (32 - *len as u32)) == *net)
        })
    }

    /// True if `a` is the directed broadcast of one of our subnets.
    pub fn is_subnet_broadcast(&self, a: Ipv4Addr) -> bool {
        self.is_directed_broadcast(a)
    }

    /// Number of ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// The router's addresses on `port`.
    pub fn port_addresses(&self, port: PortId) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.ports
            .get(port as usize)
            .into_iter()
            .flat_map(|p| p.addrs.iter().map(|x| x.0))
    }

    pub fn port_mac(&self, port: PortId) -> Option<MacAddr> {
        self.ports.get(port as usize).map(|p| p.mac)
    }

    pub fn port_mtu(&self, port: PortId) -> Option<usize> {
        self.ports.get(port as usize).map(|p| p.mtu)
    }

    /// Processes one received frame: `validate` it, look
    /// its destination up ([`route`](Self::route)), then deliver it locally,
    /// drop it, or — TTL permitting and once the next hop's MAC is known —
    /// [`forward_resolved`](Self::forward_resolved) it. `frame` is the ring
    /// buffer (modified in place: TTL, checksum).
    pub fn process<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        sink: &mut S,
    ) {
        if in_port as usize >= self.ports.len() {
            return;
        }
        self.counters(in_port).rx(frame.len());
        let frame_len = match self.validate(in_port, frame, meta) {
            Ok(Received::Ipv4 { frame_len }) => frame_len,
            Ok(Received::Ipv6 { frame_len }) => {
                self.process6(b, in_port, &mut frame[..frame_len], meta, sink);
                return;
            }
            Ok(Received::Arp) => {
                if !sink.punt(Punt::Arp, in_port, frame, meta) {
                    self.drop_packet(in_port, DropReason::QueueFull, frame, None);
                }
                return;
            }
            Err(reason) => {
                self.drop_packet(in_port, reason, frame, None);
                return;
            }
        };
        // Trim Ethernet padding: from here on the frame ends with the packet.
        let frame = &mut frame[..frame_len];
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        if ip.header_len() > ipv4::MIN_HEADER_LEN && !self.options_allow(b, in_port, frame, sink) {
            return;
        }
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let hash = self.packet_hash(&ip);
        let (ttl, dst) = (ip.ttl(), ip.dst());
        match self.route(b, dst, hash) {
            Egress::Local => self.local_delivery(b, in_port, frame, meta, sink),
            Egress::Blackhole => self.drop_packet(in_port, DropReason::NoRoute, frame, None),
            Egress::Unreachable(code) => {
                self.drop_with_icmp(
                    b,
                    in_port,
                    DropReason::NoRoute,
                    frame,
                    msg::DST_UNREACHABLE,
                    code,
                    0,
                    sink,
                );
            }
            Egress::Out {
                port: out_port,
                next_hop,
            } => {
                let n = self.shared.neigh.lookup(out_port, next_hop);
                let punt = Punt::Resolve {
                    port: out_port,
                    next_hop,
                };
                self.forward_to(b, in_port, frame, meta, ttl, out_port, n, punt, sink);
            }
            // RFC 8950: an IPv4 route via an IPv6 neighbour, whose MAC NDP
            // finds; its packets wait on Neighbor Solicitation.
            Egress::Out6 {
                port: out_port,
                next_hop,
            } => {
                let n = self.shared.neigh6.lookup(out_port, next_hop);
                let punt = Punt::Resolve6 {
                    port: out_port,
                    next_hop,
                };
                self.forward_to(b, in_port, frame, meta, ttl, out_port, n, punt, sink);
            }
        }
    }

    /// The end of [`process`](Self::process) for a packet leaving `out_port`
    /// towards a neighbour: TTL, then the neighbour entry `neighbour` (from
    /// ARP or NDP): forward, answer a failed one with host unreachable, or
    /// hand the packet to the slow path as `punt` to wait for resolution.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn forward_to<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        ttl: u8,
        out_port: PortId,
        neighbour: Option<crate::neigh::NeighHit>,
        punt: Punt,
        sink: &mut S,
    ) {
        // RFC 1812 §5.3.1: a packet whose TTL would reach 0 is not
        // forwarded; time exceeded goes back to the source.
        if ttl <= 1 {
            self.drop_with_icmp(
                b,
                in_port,
                DropReason::TtlExceeded,
                frame,
                msg::TIME_EXCEEDED,
                0,
                0,
                sink,
            );
            return;
        }
        match neighbour {
            Some(n) if n.state.is_usable() => {
                self.forward_resolved(b, in_port, frame, meta, out_port, n.mac, sink);
            }
            Some(n) if n.state == NeighState::Failed => {
                self.drop_with_icmp(
                    b,
                    in_port,
                    DropReason::NeighUnresolved,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::HOST,
                    0,
                    sink,
                );
            }
            _ => {
                if !sink.punt(punt, in_port, frame, meta) {
                    self.drop_packet(in_port, DropReason::QueueFull, frame, None);
                }
            }
        }
    }
}

impl Forwarder {
    /// [`process`](Self::process) for a validated, trimmed IPv6 packet
    /// (RFC 8200, RFC 4443): to us (or a group we listen to) → local;
    /// link-local scope kept on its link (RFC 4291 §2.5.6); hop limit;
    /// FIB; neighbour (NDP, or ARP for an IPv4-mapped next hop).
    fn process6<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        sink: &mut S,
    ) {
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let (src, dst, hop_limit) = (ip.src(), ip.dst(), ip.hop_limit());
        if ipv6::class::is_multicast(&dst) {
            // Validation let through only the link-local groups we join.
            self.local_delivery6(b, in_port, frame, meta, sink);
            return;
        }
        let hash = self.packet_hash6(&ip);
        let egress = self.route6(b, dst, hash);
        if egress != Egress6::Local && ipv6::class::is_link_local(&dst) {
            // RFC 4291 §2.5.6: routers never forward link-local
            // destinations; this one is not ours.
            self.drop_packet(in_port, DropReason::Martian, frame, None);
            return;
        }
        match egress {
            Egress6::Local => self.local_delivery6(b, in_port, frame, meta, sink),
            Egress6::Blackhole => self.drop_packet(in_port, DropReason::NoRoute, frame, None),
            Egress6::Unreachable(code) => self.drop_with_icmp6(
                b,
                in_port,
                DropReason::NoRoute,
                frame,
                icmpv6::msg::DST_UNREACHABLE,
                code,
                0,
                sink,
            ),
            Egress6::Out {
                port: out_port,
                next_hop,
            } => {
                // RFC 4291 §2.5.6 / RFC 4443 §3.1: a link-local source
                // cannot leave its link; code 2, "beyond scope of source".
                if ipv6::class::is_link_local(&src) {
                    self.drop_with_icmp6(
                        b,
                        in_port,
                        DropReason::Martian,
                        frame,
                        icmpv6::msg::DST_UNREACHABLE,
                        icmpv6::unreach::BEYOND_SCOPE,
                        0,
                        sink,
                    );
                    return;
                }
                // RFC 8200 §3: a packet whose hop limit would reach zero is
                // discarded with Time Exceeded (code 0) to the source.
                if hop_limit <= 1 {
                    self.drop_with_icmp6(
                        b,
                        in_port,
                        DropReason::TtlExceeded,
                        frame,
                        icmpv6::msg::TIME_EXCEEDED,
                        0,
                        0,
                        sink,
                    );
                    return;
                }
                let punt = match ipv6::class::to_ipv4_mapped(&next_hop) {
                    Some(v4) => Punt::Resolve {
                        port: out_port,
                        next_hop: v4,
                    },
                    None => Punt::Resolve6 {
                        port: out_port,
                        next_hop,
                    },
                };
                match self.neighbour6(out_port, next_hop) {
                    Some(n) if n.state.is_usable() => {
                        self.forward_resolved(b, in_port, frame, meta, out_port, n.mac, sink);
                    }
                    Some(n) if n.state == NeighState::Failed => self.drop_with_icmp6(
                        b,
                        in_port,
                        DropReason::NeighUnresolved,
                        frame,
                        icmpv6::msg::DST_UNREACHABLE,
                        icmpv6::unreach::ADDRESS,
                        0,
                        sink,
                    ),
                    _ => {
                        if !sink.punt(punt, in_port, frame, meta) {
                            self.drop_packet(in_port, DropReason::QueueFull, frame, None);
                        }
                    }
                }
            }
        }
    }

    /// [`drop_with_icmp`](Self::drop_with_icmp) for IPv6: the ICMPv6 error
    /// the rules allow, then the counted (and reported) drop.
    #[allow(clippy::too_many_arguments)]
    pub fn drop_with_icmp6<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        reason: DropReason,
        frame: &[u8],
        msg_type: u8,
        code: u8,
        param: u32,
        sink: &mut S,
    ) {
        let sent = self.icmp6_error(b, in_port, frame, msg_type, code, param, sink);
        self.drop_packet(in_port, reason, frame, sent);
    }

    /// The neighbour entry of IPv6 next hop `next_hop` on `port`: from the
    /// NDP table, or from the ARP table for an IPv4-mapped one.
    #[inline]
    pub fn neighbour6(&self, port: PortId, next_hop: Ipv6Addr) -> Option<crate::neigh::NeighHit> {
        match ipv6::class::to_ipv4_mapped(&next_hop) {
            Some(v4) => self.shared.neigh.lookup(port, v4),
            None => self.shared.neigh6.lookup(port, next_hop),
        }
    }

    /// True if `a` is one of the router's IPv6 addresses on `port`.
    pub fn is_port_address6(&self, port: PortId, a: &Ipv6Addr) -> bool {
        self.ports
            .get(port as usize)
            .is_some_and(|p| p.addrs6.iter().any(|x| x.0 == *a))
    }

    /// Source address for an IPv6 packet leaving `port` towards `toward`
    /// (RFC 6724 in brief): the link-local for a link-local destination;
    /// else a global on the destination's subnet, else the first global,
    /// else the link-local.
    pub fn source_address6(&self, port: PortId, toward: &Ipv6Addr) -> Option<Ipv6Addr> {
        let p = self.ports.get(port as usize)?;
        let link_local = p
            .addrs6
            .iter()
            .find(|a| ipv6::class::is_link_local(&a.0))
            .map(|a| a.0);
        if ipv6::class::is_link_local(toward) || ipv6::class::is_multicast(toward) {
            return link_local.or(p.addrs6.first().map(|a| a.0));
        }
        let t = u128::from(*toward);
        let globals = || {
            p.addrs6
                .iter()
                .filter(|a| !ipv6::class::is_link_local(&a.0))
        };
        globals()
            .find(|(_, net, len)| *len > 0 && t & (u128::MAX << (128 - *len as u32)) == *net)
            .or_else(|| globals().next())
            .map(|a| a.0)
            .or(link_local)
    }

    /// The router's IPv6 addresses on `port` (link-local first).
    pub fn port_addresses6(&self, port: PortId) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.ports
            .get(port as usize)
            .into_iter()
            .flat_map(|p| p.addrs6.iter().map(|x| x.0))
    }
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) mod tests6;
