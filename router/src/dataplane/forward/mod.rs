//! The per-packet forwarding decision (RFC 1812), independent of sockets:
//! [`Forwarder::process`] takes one received frame and emits what it causes
//! (the forwarded frame, an ICMP message, a hand-off to the slow path)
//! through a [`TxSink`], so it runs the same in a worker, in the slow path
//! and in the unit tests.
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
//! Not implemented (documented limitations): ICMP redirects (a packet that
//! leaves by the port it came in is forwarded silently), IP option
//! processing (options are forwarded unchanged; fragmentation copies the
//! "copied" ones), reassembly of fragments addressed to the router.
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::Guard;

use crate::dataplane::counters::{DropReason, PortCounters};
use crate::dataplane::icmp_out::{self, IcmpHeaders, IcmpRateLimit, TokenBucket};
use crate::neigh::NeighState;
use crate::ports::PortId;
use crate::rib::nexthop::{NextHop, NextHopTable};
use crate::shared::Shared;
use crate::wire::checksum;
use crate::wire::ethernet::{self, ethertype, EthernetFrame, MacAddr};
use crate::wire::icmp::{self as icmpw, msg, unreach, Icmpv4Packet};
use crate::wire::ipv4::{self, protocol, Ipv4Packet};
use crate::wire::vnet::VnetHdr;

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
    /// To be forwarded to `next_hop` on `port`, whose MAC is not known yet.
    /// The frame is as received (TTL not yet decremented, TTL > 1 checked).
    Resolve { port: PortId, next_hop: Ipv4Addr },
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
}

/// The route lookup state held for one RX batch.
pub struct Batch {
    fib: Guard<Arc<fib::Table<fib::V4>>>,
    nexthops: Guard<Arc<NextHopTable>>,
    pub now: Instant,
}

/// Where a packet leaves: port and the neighbour to hand it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    Out {
        port: PortId,
        next_hop: Ipv4Addr,
    },
    Local,
    Blackhole,
    /// ICMP destination unreachable with this code.
    Unreachable(u8),
}

/// One forwarding thread's state.
pub struct Forwarder {
    shared: Arc<Shared>,
    thread: usize,
    ports: Vec<PortView>,
    opts: FwdOptions,
    icmp_bucket: TokenBucket,
    ip_ident: u16,
}

/// Martian addresses (RFC 1812 §5.3.7, §4.2.2.11): 0/8, 127/8, 240/4
/// (which includes 255.255.255.255).
#[inline]
fn is_martian_common(a: u32) -> bool {
    let first = a >> 24;
    first == 0 || first == 127 || first >= 240
}

#[inline]
fn is_multicast(a: u32) -> bool {
    a >> 28 == 0xe
}

/// A flow hash over (src, dst, protocol, ports): the same flow always gives
/// the same value (a murmur3-style finaliser; no per-packet state).
#[inline]
fn flow_hash(src: u32, dst: u32, proto: u8, ports: u32) -> u32 {
    let mut h = (src as u64) << 32 | dst as u64;
    h ^= (proto as u64) << 56 ^ (ports as u64).rotate_left(17);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h as u32
}

impl Forwarder {
    /// A forwarder counting into thread block `thread` of `shared.counters`.
    pub fn new(shared: Arc<Shared>, thread: usize, opts: FwdOptions) -> Forwarder {
        let ports = shared
            .ports
            .iter()
            .map(|p| {
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
                PortView {
                    mac: p.mac,
                    mtu: p.mtu as usize,
                    addrs,
                    broadcasts,
                }
            })
            .collect();
        Forwarder {
            icmp_bucket: TokenBucket::new(opts.icmp),
            shared,
            thread,
            ports,
            opts,
            ip_ident: thread as u16 * 7919,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes the FIB and next-hop guards for a batch. The next-hop table is
    /// loaded after the FIB: routes publishes next hops first, so every id
    /// the FIB table holds resolves.
    pub fn begin_batch(&self, now: Instant) -> Batch {
        let fib = self.shared.fib.load();
        let nexthops = self.shared.nexthops.load();
        Batch { fib, nexthops, now }
    }

    #[inline]
    fn counters(&self, port: PortId) -> &PortCounters {
        self.shared.counters.port(self.thread, port as usize)
    }

    /// True if `a` is one of the router's port addresses.
    pub fn is_port_address(&self, port: PortId, a: Ipv4Addr) -> bool {
        self.ports
            .get(port as usize)
            .is_some_and(|p| p.addrs.iter().any(|x| x.0 == a))
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

    /// Route lookup for `dst`, with `hash` picking an ECMP member.
    pub fn route(&self, b: &Batch, dst: Ipv4Addr, hash: u32) -> Egress {
        let Some(id) = b.fib.lookup(dst) else {
            return Egress::Unreachable(unreach::NET);
        };
        match b.nexthops.get(id) {
            Some(NextHop::Connected { port }) => Egress::Out {
                port: *port,
                next_hop: dst,
            },
            Some(NextHop::Gateway { port, gw }) => Egress::Out {
                port: *port,
                next_hop: *gw,
            },
            Some(NextHop::Local) => Egress::Local,
            Some(NextHop::Blackhole) => Egress::Blackhole,
            Some(NextHop::Unreachable) => Egress::Unreachable(unreach::HOST),
            Some(NextHop::Multipath(members)) => {
                if members.is_empty() {
                    return Egress::Unreachable(unreach::NET);
                }
                // Multiply-shift maps the hash evenly onto the members.
                let i = ((hash as u64 * members.len() as u64) >> 32) as usize;
                let (port, gw) = members[i];
                Egress::Out { port, next_hop: gw }
            }
            // An id the table cannot resolve: treat as no route.
            None => Egress::Unreachable(unreach::NET),
        }
    }

    /// Processes one received frame. `frame` is the ring buffer (modified in
    /// place: TTL, checksum).
    pub fn process<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        sink: &mut S,
    ) {
        let Some(port_mac) = self.ports.get(in_port as usize).map(|p| p.mac) else {
            return;
        };
        self.counters(in_port).rx(frame.len());
        if meta.truncated || meta.wire_len as usize > frame.len() {
            // Larger than a ring slot: we do not hold the whole frame.
            self.counters(in_port).drop(DropReason::Mtu);
            return;
        }
        if frame.len() < ethernet::HEADER_LEN {
            self.counters(in_port).drop(DropReason::BadHeader);
            return;
        }
        let eth = EthernetFrame::new_unchecked(&frame[..]);
        let dst_mac = eth.dst();
        let link_broadcast = dst_mac == ethernet::BROADCAST;
        if dst_mac != port_mac && !link_broadcast {
            self.counters(in_port).drop(DropReason::NotForUs);
            return;
        }
        match eth.ethertype() {
            ethertype::ARP => {
                if !sink.punt(Punt::Arp, in_port, frame, meta) {
                    self.counters(in_port).drop(DropReason::QueueFull);
                }
                return;
            }
            ethertype::IPV4 => {}
            _ => {
                self.counters(in_port).drop(DropReason::NotForUs);
                return;
            }
        }
        if link_broadcast {
            // RFC 1812 §5.3.4: never forward a link-layer broadcast; nothing
            // of ours listens to IPv4 broadcasts.
            self.counters(in_port).drop(DropReason::NotForUs);
            return;
        }
        // RFC 1812 §5.2.2: validate before anything else.
        let ip_len = {
            let ip = match Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]) {
                Ok(ip) => ip,
                Err(_) => {
                    self.counters(in_port).drop(DropReason::BadHeader);
                    return;
                }
            };
            // The checksum is always verified: 20 bytes cost less than
            // forwarding a corrupted header (we rewrite it incrementally,
            // which would launder a bad checksum into a good one).
            if ip.version() != 4 || !ip.verify_checksum() {
                self.counters(in_port).drop(DropReason::BadHeader);
                return;
            }
            ip.total_len() as usize
        };
        // Trim Ethernet padding: from here on the frame ends with the packet.
        let flen = ethernet::HEADER_LEN + ip_len;
        let frame = &mut frame[..flen];
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let (src, dst) = (u32::from(ip.src()), u32::from(ip.dst()));
        // RFC 1812 §5.3.7: martian source (0/8, 127/8, class E and
        // 255.255.255.255, multicast, a connected subnet's broadcast, one of
        // our own addresses) or destination (0/8, 127/8, class E, limited
        // broadcast). Multicast destinations are never forwarded (no
        // multicast routing; RFC 1812 forbids forwarding 224.0.0.0/24 in any
        // case).
        if is_martian_common(src)
            || is_multicast(src)
            || is_martian_common(dst)
            || is_multicast(dst)
            || self.is_directed_broadcast(Ipv4Addr::from(src))
            || self.is_any_port_address(src)
        {
            self.counters(in_port).drop(DropReason::Martian);
            return;
        }
        if self.is_directed_broadcast(Ipv4Addr::from(dst)) {
            // A directed broadcast to one of our subnets: not forwarded
            // (RFC 2644 default) and not answered (like Linux's
            // icmp_echo_ignore_broadcasts).
            self.counters(in_port).drop(DropReason::NotForUs);
            return;
        }
        let hash = self.packet_hash(&ip);
        let ttl = ip.ttl();
        match self.route(b, Ipv4Addr::from(dst), hash) {
            Egress::Local => self.local_delivery(b, in_port, frame, meta, sink),
            Egress::Blackhole => self.counters(in_port).drop(DropReason::NoRoute),
            Egress::Unreachable(code) => {
                self.counters(in_port).drop(DropReason::NoRoute);
                self.icmp_error(b, in_port, frame, msg::DST_UNREACHABLE, code, 0, sink);
            }
            Egress::Out {
                port: out_port,
                next_hop,
            } => {
                // RFC 1812 §5.3.1: a packet whose TTL would reach 0 is not
                // forwarded; time exceeded goes back to the source.
                if ttl <= 1 {
                    self.counters(in_port).drop(DropReason::TtlExceeded);
                    self.icmp_error(b, in_port, frame, msg::TIME_EXCEEDED, 0, 0, sink);
                    return;
                }
                match self.shared.neigh.lookup(out_port, next_hop) {
                    Some(n) if n.state.is_usable() => {
                        self.forward_resolved(b, in_port, frame, meta, out_port, n.mac, sink);
                    }
                    Some(n) if n.state == NeighState::Failed => {
                        self.counters(in_port).drop(DropReason::NeighUnresolved);
                        self.icmp_error(
                            b,
                            in_port,
                            frame,
                            msg::DST_UNREACHABLE,
                            unreach::HOST,
                            0,
                            sink,
                        );
                    }
                    _ => {
                        if !sink.punt(
                            Punt::Resolve {
                                port: out_port,
                                next_hop,
                            },
                            in_port,
                            frame,
                            meta,
                        ) {
                            self.counters(in_port).drop(DropReason::QueueFull);
                        }
                    }
                }
            }
        }
    }

    /// A packet from outside claiming one of our addresses as its source
    /// (Linux counts it as a martian source too).
    fn is_any_port_address(&self, a: u32) -> bool {
        self.ports
            .iter()
            .any(|p| p.addrs.iter().any(|x| u32::from(x.0) == a))
    }

    fn is_directed_broadcast(&self, a: Ipv4Addr) -> bool {
        self.ports.iter().any(|p| p.broadcasts.contains(&a))
    }

    /// Flow hash of a validated packet; ports only for unfragmented TCP/UDP
    /// (fragments all hash alike so they stay on one path).
    #[inline]
    pub fn packet_hash<T: AsRef<[u8]>>(&self, ip: &Ipv4Packet<T>) -> u32 {
        let proto = ip.protocol();
        let mut ports = 0;
        if !ip.is_fragment() && (proto == protocol::TCP || proto == protocol::UDP) {
            if let Some(p) = ip.payload().get(..4) {
                ports = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            }
        }
        flow_hash(u32::from(ip.src()), u32::from(ip.dst()), proto, ports)
    }

    /// The transmit half of forwarding, once the neighbour's MAC is known:
    /// MTU check (ICMP frag needed / fragmentation), TTL decrement, MAC
    /// rewrite, copy into the egress TX buffer. `frame` is validated and
    /// trimmed, with TTL > 1. Also used by the slow path for packets that
    /// waited for ARP.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_resolved<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        out_port: PortId,
        dst_mac: MacAddr,
        sink: &mut S,
    ) {
        let Some(out) = self.ports.get(out_port as usize) else {
            return;
        };
        let (src_mac, mtu) = (out.mac, out.mtu);
        let Ok(ip) = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else {
            self.counters(in_port).drop(DropReason::BadHeader);
            return;
        };
        let ip_len = ip.total_len() as usize;
        let hl = ip.header_len();
        let df = ip.dont_frag();
        let vnet = meta.vnet.filter(|v| v.is_gso() || v.needs_csum());
        let gso = vnet.filter(|v| v.is_gso());
        if let Some(v) = gso {
            // A GSO super-frame leaves whole; the segments the kernel (or
            // the peer) cuts from it must fit the MTU.
            let l4_hdr = match ip.protocol() {
                protocol::TCP => ip.payload().get(12).map_or(20, |b| ((b >> 4) as usize) * 4),
                _ => 8,
            };
            let seg = hl + l4_hdr + v.gso_size as usize;
            if seg > mtu {
                self.counters(in_port).drop(DropReason::Mtu);
                if df {
                    self.icmp_error(
                        b,
                        in_port,
                        frame,
                        msg::DST_UNREACHABLE,
                        unreach::FRAG_NEEDED,
                        mtu as u16,
                        sink,
                    );
                }
                return;
            }
            if !self.opts.tx_vnet {
                self.counters(in_port).drop(DropReason::Mtu);
                return;
            }
        } else if ip_len > mtu {
            // RFC 1191 / RFC 1812 §5.2.6.
            if df {
                self.counters(in_port).drop(DropReason::Mtu);
                self.icmp_error(
                    b,
                    in_port,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::FRAG_NEEDED,
                    mtu as u16,
                    sink,
                );
                return;
            }
            if self.opts.fragment == FragmentPolicy::Drop {
                self.counters(in_port).drop(DropReason::Mtu);
                return;
            }
            if !complete_checksum(frame, meta) {
                self.counters(in_port).drop(DropReason::BadHeader);
                return;
            }
            Ipv4Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..]).decrement_ttl();
            self.fragment(in_port, frame, out_port, src_mac, dst_mac, mtu, sink);
            return;
        }
        // Frames whose checksum the kernel left to "hardware": pass the
        // request on with the vnet header, or finish it here.
        let tx_vnet = if self.opts.tx_vnet {
            vnet
        } else {
            if (vnet.is_some() || meta.csum_not_ready) && !complete_checksum(frame, meta) {
                self.counters(in_port).drop(DropReason::BadHeader);
                return;
            }
            None
        };
        Ipv4Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..]).decrement_ttl();
        let flen = frame.len();
        if flen > sink.frame_capacity(out_port) {
            self.counters(in_port).drop(DropReason::Mtu);
            return;
        }
        let src: &[u8] = frame;
        let sent = sink.send(out_port, |buf| {
            let Some(buf) = buf.get_mut(..flen) else {
                return (0, None);
            };
            buf.copy_from_slice(src);
            buf[0..6].copy_from_slice(&dst_mac);
            buf[6..12].copy_from_slice(&src_mac);
            (flen, tx_vnet)
        });
        if sent {
            self.counters(out_port).tx(flen);
        } else {
            self.counters(out_port).drop(DropReason::QueueFull);
        }
    }

    /// RFC 791 §3.2 fragmentation of a trimmed frame whose TTL has been
    /// decremented and checksum completed.
    #[allow(clippy::too_many_arguments)]
    fn fragment<S: TxSink>(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        out_port: PortId,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        mtu: usize,
        sink: &mut S,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let hl = ip.header_len();
        let payload = ip.payload();
        let base_off = ip.frag_offset();
        let orig_mf = ip.more_frags();
        let mut opts_buf = [0u8; 40];
        let later_opts_len = ipv4::copied_options(ip.options(), &mut opts_buf);
        let cap = sink.frame_capacity(out_port);
        let mut pos = 0;
        while pos < payload.len() {
            let first = pos == 0;
            let this_hl = if first {
                hl
            } else {
                ipv4::MIN_HEADER_LEN + later_opts_len
            };
            // Fragment data is a multiple of 8 bytes except in the last one.
            let room = mtu.saturating_sub(this_hl) & !7;
            if room == 0 || base_off + pos > 0xffff * 8 {
                self.counters(in_port).drop(DropReason::Mtu);
                return;
            }
            let n = room.min(payload.len() - pos);
            let last = pos + n == payload.len();
            let flen = ethernet::HEADER_LEN + this_hl + n;
            if flen > cap {
                self.counters(in_port).drop(DropReason::Mtu);
                return;
            }
            let chunk = &payload[pos..pos + n];
            let fixed = &frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN];
            let all_opts = ip.options();
            let later_opts = &opts_buf[..later_opts_len];
            let offset = base_off + pos;
            let sent = sink.send(out_port, |buf| {
                let Some(buf) = buf.get_mut(..flen) else {
                    return (0, None);
                };
                buf[0..6].copy_from_slice(&dst_mac);
                buf[6..12].copy_from_slice(&src_mac);
                buf[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
                let h = &mut buf[ethernet::HEADER_LEN..];
                h[..ipv4::MIN_HEADER_LEN].copy_from_slice(fixed);
                let opts = if first { all_opts } else { later_opts };
                h[ipv4::MIN_HEADER_LEN..this_hl].copy_from_slice(opts);
                h[this_hl..this_hl + n].copy_from_slice(chunk);
                let mut p = Ipv4Packet::new_unchecked(&mut h[..this_hl + n]);
                p.set_version_ihl(this_hl);
                p.set_total_len((this_hl + n) as u16);
                p.set_flags_offset(false, !last || orig_mf, offset);
                p.fill_checksum();
                (flen, None)
            });
            if !sent {
                self.counters(out_port).drop(DropReason::QueueFull);
                return;
            }
            self.counters(out_port).tx(flen);
            pos += n;
        }
    }

    /// Packets addressed to one of our addresses.
    fn local_delivery<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        sink: &mut S,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        if ip.is_fragment() {
            // No reassembly for the router's own traffic.
            self.counters(in_port).drop(DropReason::LocalUnsupported);
            return;
        }
        match ip.protocol() {
            protocol::ICMP => {
                let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
                    self.counters(in_port).drop(DropReason::BadHeader);
                    return;
                };
                if icmp.msg_type() != msg::ECHO_REQUEST || icmp.code() != 0 {
                    // Echo replies and errors: nothing of ours waits for them.
                    self.counters(in_port).drop(DropReason::LocalUnsupported);
                    return;
                }
                if !icmp.verify_checksum() {
                    self.counters(in_port).drop(DropReason::BadHeader);
                    return;
                }
                self.echo_reply(b, in_port, frame, sink);
            }
            protocol::TCP => {
                if !sink.punt(Punt::LocalTcp, in_port, frame, meta) {
                    self.counters(in_port).drop(DropReason::QueueFull);
                }
            }
            protocol::UDP => {
                // RFC 1122 §4.1.3.1: no listener → port unreachable.
                self.counters(in_port).drop(DropReason::LocalUnsupported);
                self.icmp_error(
                    b,
                    in_port,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::PORT,
                    0,
                    sink,
                );
            }
            _ => {
                // RFC 1122 §3.2.2.1: unknown transport → protocol unreachable.
                self.counters(in_port).drop(DropReason::LocalUnsupported);
                self.icmp_error(
                    b,
                    in_port,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::PROTOCOL,
                    0,
                    sink,
                );
            }
        }
    }

    /// Where a reply to `dst` (the source of a packet that came in on
    /// `in_port` from `prev_hop_mac`) leaves, and to which MAC. A reply that
    /// leaves by the ingress port goes to the frame's previous hop, which
    /// routed the packet to us and can route the answer back.
    pub fn reply_path(
        &self,
        b: &Batch,
        in_port: PortId,
        prev_hop_mac: MacAddr,
        dst: Ipv4Addr,
    ) -> Option<(PortId, MacAddr, Ipv4Addr)> {
        let hash = flow_hash(u32::from(dst), 0, 0, 0);
        let Egress::Out { port, next_hop } = self.route(b, dst, hash) else {
            return None;
        };
        let mac = if port == in_port {
            prev_hop_mac
        } else {
            match self.shared.neigh.lookup(port, next_hop) {
                Some(n) if n.state.is_usable() => n.mac,
                _ => return None,
            }
        };
        Some((port, mac, next_hop))
    }

    pub fn next_ident(&mut self) -> u16 {
        self.ip_ident = self.ip_ident.wrapping_add(1);
        self.ip_ident
    }

    fn echo_reply<S: TxSink>(&mut self, b: &Batch, in_port: PortId, frame: &[u8], sink: &mut S) {
        let prev = EthernetFrame::new_unchecked(frame).src();
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let icmp = Icmpv4Packet::new_unchecked(ip.payload());
        let Some((port, mac, _)) = self.reply_path(b, in_port, prev, ip.src()) else {
            return;
        };
        let Some(src_mac) = self.port_mac(port) else {
            return;
        };
        let h = IcmpHeaders {
            src_mac,
            dst_mac: mac,
            src_ip: ip.dst(),
            dst_ip: ip.src(),
            ident: self.next_ident(),
        };
        let (tos, ident, seq, data) = (
            ip.dscp_ecn(),
            icmp.echo_ident(),
            icmp.echo_seq(),
            icmp.data(),
        );
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = icmp_out::build_echo_reply(buf, &h, tos, ident, seq, data).unwrap_or(0);
            (len, None)
        });
        if sent {
            self.counters(port).tx(len);
        }
    }

    /// Sends an ICMP error about the packet in `frame` (validated, trimmed)
    /// back to its source, subject to the rules of RFC 1812 §4.3.2.7 and the
    /// rate limit. Sourced from the address of the port it leaves by.
    #[allow(clippy::too_many_arguments)]
    pub fn icmp_error<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &[u8],
        msg_type: u8,
        code: u8,
        mtu: u16,
        sink: &mut S,
    ) {
        let eth = EthernetFrame::new_unchecked(frame);
        let Ok(ip) = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else {
            return;
        };
        let src = ip.src();
        let s = u32::from(src);
        // Never about: non-first fragments, packets to (link or IP)
        // broadcast/multicast, packets from addresses that do not name a
        // single host, or ICMP errors.
        if ip.frag_offset() != 0
            || ethernet::is_multicast(&eth.dst())
            || is_multicast(u32::from(ip.dst()))
            || u32::from(ip.dst()) == u32::MAX
            || is_martian_common(s)
            || is_multicast(s)
            || self.is_directed_broadcast(src)
        {
            return;
        }
        if ip.protocol() == protocol::ICMP {
            match ip.payload().first() {
                Some(&t) if !icmpw::is_error(t) => {}
                _ => return,
            }
        }
        if !self.icmp_bucket.allow(b.now) {
            return;
        }
        let Some((port, mac, next_hop)) = self.reply_path(b, in_port, eth.src(), src) else {
            return;
        };
        let Some(src_ip) = self.source_address(port, next_hop) else {
            return;
        };
        let Some(src_mac) = self.port_mac(port) else {
            return;
        };
        let h = IcmpHeaders {
            src_mac,
            dst_mac: mac,
            src_ip,
            dst_ip: src,
            ident: self.next_ident(),
        };
        let offending = &frame[ethernet::HEADER_LEN..];
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = icmp_out::build_error(buf, &h, msg_type, code, mtu, offending).unwrap_or(0);
            (len, None)
        });
        if sent {
            self.counters(port).tx(len);
        }
    }
}

/// Completes an offloaded TCP/UDP checksum in software: from the vnet
/// header's csum_start/csum_offset when present, else (TP_STATUS_CSUMNOTREADY
/// without a vnet header) from the IPv4/TCP/UDP headers. True if the frame
/// needed nothing or was completed.
pub fn complete_checksum(frame: &mut [u8], meta: &FrameMeta) -> bool {
    if let Some(v) = meta.vnet {
        if v.needs_csum() {
            return checksum::complete_partial(
                frame,
                v.csum_start as usize,
                v.csum_offset as usize,
            )
            .is_ok();
        }
        return true;
    }
    if !meta.csum_not_ready {
        return true;
    }
    let Ok(ip) = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN.min(frame.len())..]) else {
        return false;
    };
    if ip.is_fragment() {
        return true;
    }
    let offset = match ip.protocol() {
        protocol::TCP => 16,
        protocol::UDP => 6,
        _ => return true,
    };
    let start = ethernet::HEADER_LEN + ip.header_len();
    checksum::complete_partial(frame, start, offset).is_ok()
}

#[cfg(test)]
pub(crate) mod tests;
