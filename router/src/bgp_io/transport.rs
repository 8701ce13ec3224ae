//! The transport loop: one thread owning the smoltcp interface, the TCP
//! sockets and the speaker (see [`crate::bgp_io`] for what it does).
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgp::{Action, ConnId, Ipv6NextHop, Speaker};
use crossbeam_channel::{select, Receiver, Sender};
use ipnet::{Ipv4Net, Ipv6Net};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};

use super::device::ChannelDevice;
use super::tcp_md5::KeyTable;
use super::{scoped6, to_route_manager, Query, Reply, TransportStats};
use crate::ports::PortInfo;
use crate::rib::{RouteHandle, Routes};
use crate::shared::Shared;
use crate::wire::ipv6::class::is_link_local;

/// The BGP port (RFC 4271 §8.2.1: "BGP uses TCP port 179").
pub const BGP_PORT: u16 = 179;
/// Receive buffer per connection. smoltcp derives the window scale from it
/// (RFC 7323): 2 MiB gives shift 5, enough to keep a peer sending a full
/// table at line rate between two reads of ours.
pub const RX_BUFFER: usize = 2 << 20;
/// Send buffer per connection (the speaker's output queues behind it).
pub const TX_BUFFER: usize = 1 << 20;
/// Longest sleep of the loop when nothing is due.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Packets moved from the slow path into the stack per iteration.
const RX_BATCH: usize = 512;
/// Sockets listening on port 179 at any time. smoltcp answers a SYN that no
/// listening socket takes with a RST, so the stack is fed at most this many
/// packets per poll and the pool is refilled in between: simultaneous
/// connection attempts (every node reconnecting after a router restart)
/// are all accepted.
const LISTEN_POOL: usize = 8;
/// Bytes read from one connection per iteration before the others get a turn.
const READ_BUDGET: usize = 128 << 10;
/// Egress rounds per iteration (smoltcp emits one segment per socket per round).
const EGRESS_ROUNDS: usize = 256;
/// Connections accepted but not yet established (handshakes in progress).
const MAX_PENDING_ACCEPTS: usize = 64;
/// Most bytes queued for one connection beyond its socket buffer; a peer
/// that stops reading until this much is waiting is reset (its hold timer
/// would end the session later anyway).
const MAX_OUT_QUEUE: usize = 256 << 20;
/// Route changes expanded and staged in the route manager at a time (see
/// `Transport::install_route_changes`): the expanded chunk (~80 octets a
/// change) is noise beside the table, and staging costs nothing per chunk
/// (one FIB publication at the end).
const ROUTE_CHUNK: usize = 8192;
/// Chunks per loop turn (the rest waits for the next turn): 2M changes,
/// more than two full tables.
const MAX_ROUTE_CHUNKS: usize = 256;
/// How long a closing socket may linger (FIN handshake) before it is aborted.
const LINGER: Duration = Duration::from_secs(10);
/// smoltcp gives up on a connection whose data is not acknowledged for this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(60);
/// Dynamic source ports for active opens (RFC 6335 §6).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// One BGP connection's socket and its queue of bytes not yet in the socket.
struct Conn {
    id: ConnId,
    handle: SocketHandle,
    /// Active open that the speaker has not been told about yet.
    connecting: bool,
    out: VecDeque<u8>,
    /// The speaker asked to close: flush `out`, then FIN.
    closing: bool,
}

pub(super) struct Transport {
    shared: Arc<Shared>,
    speaker: Speaker,
    iface: Interface,
    device: ChannelDevice,
    sockets: SocketSet<'static>,
    /// Sockets listening on port 179 (see [`LISTEN_POOL`]).
    listeners: Vec<SocketHandle>,
    /// Accepted handshakes not yet established, oldest first.
    pending: VecDeque<SocketHandle>,
    conns: Vec<Conn>,
    /// Sockets on their way out: handle, the time they must be gone by, and
    /// whether they were already seen closed (removed the round after, so
    /// a RST queued by `abort` has been sent).
    lingering: Vec<(SocketHandle, std::time::Instant, bool)>,
    addrs: Vec<Ipv4Net>,
    addrs6: Vec<Ipv6Net>,
    routes: RouteHandle,
    queries: Receiver<(Query, Sender<Reply>)>,
    stop: Arc<AtomicBool>,
    epoch: std::time::Instant,
    next_port: u16,
    stats: TransportStats,
}

fn new_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; RX_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TX_BUFFER]),
    );
    // BGP messages are whole units; KEEPALIVEs must not wait behind Nagle.
    s.set_nagle_enabled(false);
    // ACK every segment: a bulk sender's window opens as fast as we read.
    s.set_ack_delay(None);
    s.set_timeout(Some(smoltcp::time::Duration::from_millis(
        TCP_TIMEOUT.as_millis() as u64,
    )));
    s
}

/// The IPv6 address the interface holds for AnyIP (see [`Transport::new`]):
/// the first global one, else the first at all.
fn anchor6(addrs6: &[Ipv6Net]) -> Option<Ipv6Addr> {
    addrs6
        .iter()
        .map(|n| n.addr())
        .find(|a| !is_link_local(a))
        .or_else(|| addrs6.first().map(|n| n.addr()))
}

fn set_iface_addrs(iface: &mut Interface, addrs: &[Ipv4Net], addrs6: &[Ipv6Net]) {
    // The interface holds a few addresses (a compile-time capacity, 2 by
    // default); the rest are covered by AnyIP. One of each family first, so
    // that AnyIP has an address of the family to route through.
    let mut cidrs: Vec<IpCidr> = Vec::new();
    if let Some(a) = addrs.first() {
        cidrs.push(IpCidr::new(IpAddress::Ipv4(a.addr()), a.prefix_len()));
    }
    if let Some(a6) = anchor6(addrs6) {
        let len = addrs6
            .iter()
            .find(|n| n.addr() == a6)
            .map_or(128, |n| n.prefix_len());
        cidrs.push(IpCidr::new(IpAddress::Ipv6(a6), len));
    }
    for a in addrs.iter().skip(1) {
        cidrs.push(IpCidr::new(IpAddress::Ipv4(a.addr()), a.prefix_len()));
    }
    iface.update_ip_addrs(|ips| {
        ips.clear();
        for c in cidrs {
            if ips.push(c).is_err() {
                break;
            }
        }
    });
}

/// Publishes what is staged in each family's route manager, and clears
/// the flags that say so.
fn publish_staged(rm: &mut Routes, staged4: &mut bool, staged6: &mut bool) {
    if std::mem::take(staged4) {
        if let Err(e) = rm.v4.publish_staged() {
            tracing::error!(error = %e, "bgp: installing routes failed");
        }
    }
    if std::mem::take(staged6) {
        if let Err(e) = rm.v6.publish_staged() {
            tracing::error!(error = %e, "bgp: installing IPv6 routes failed");
        }
    }
}

fn to_ip(a: IpAddress) -> IpAddr {
    match a {
        IpAddress::Ipv4(v4) => IpAddr::V4(v4),
        #[allow(unreachable_patterns)]
        IpAddress::Ipv6(v6) => IpAddr::V6(v6),
    }
}

/// Our IPv6 next hop for the session with `remote` (RFC 2545 §3): the
/// IPv6 addresses of the port on the peer's subnet — the first global one,
/// and the link-local one since the peer shares that link. A peer on no
/// subnet of ours (multihop) gets no link-local address; with no global
/// one the speaker falls back to the IPv4-mapped session address.
/// The address to connect to IPv6 peer `remote` from: a global address
/// of ours on its subnet, else our first global one. A link-local peer
/// would need the port as its scope, which the stack's addressing lacks:
/// none.
fn local_for6(addrs6: &[Ipv6Net], remote: Ipv6Addr) -> Option<Ipv6Addr> {
    if is_link_local(&remote) {
        return None;
    }
    let global = || addrs6.iter().filter(|n| !is_link_local(&n.addr()));
    global()
        .find(|n| n.trunc().contains(&remote))
        .or_else(|| global().next())
        .map(|n| n.addr())
}

pub(super) fn ipv6_next_hop(ports: &[PortInfo], remote: IpAddr) -> Ipv6NextHop {
    let on_link = ports.iter().find(|p| match remote {
        IpAddr::V4(r) => p.addrs.iter().any(|n| n.trunc().contains(&r)),
        IpAddr::V6(r) => p.addrs6.iter().any(|n| n.trunc().contains(&r)),
    });
    let Some(port) = on_link else {
        return Ipv6NextHop::default();
    };
    let link_local = port.link_local();
    Ipv6NextHop {
        global: port
            .addrs6
            .iter()
            .map(|n| n.addr())
            .find(|a| Some(*a) != link_local),
        link_local,
        // The peer's link-local next hops are neighbours on this port.
        link: Some(u32::from(port.id)),
    }
}

impl Transport {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        shared: Arc<Shared>,
        speaker: Speaker,
        epoch: std::time::Instant,
        addrs: Vec<Ipv4Net>,
        mtu: usize,
        md5_keys: KeyTable,
        routes: RouteHandle,
        queries: Receiver<(Query, Sender<Reply>)>,
        stop: Arc<AtomicBool>,
    ) -> Transport {
        let mut device =
            ChannelDevice::with_md5_keys(shared.local_tcp.from_stack_tx.clone(), mtu, md5_keys);
        let mut iface = Interface::new(
            IfaceConfig::new(HardwareAddress::Ip),
            &mut device,
            smoltcp::time::Instant::ZERO,
        );
        // The ports' IPv6 addresses (global and link-local): BGP over IPv6.
        let addrs6: Vec<Ipv6Net> = shared
            .ports
            .iter()
            .flat_map(|p| p.addrs6.iter().copied())
            .collect();
        set_iface_addrs(&mut iface, &addrs, &addrs6);
        // AnyIP with a default route via one of our own addresses: accept
        // TCP to any of our addresses (the slow path only hands us those) and
        // emit to any destination (the slow path routes it). smoltcp's own
        // routing is not used beyond that.
        iface.set_any_ip(true);
        let _ = iface.routes_mut().add_default_ipv4_route(addrs[0].addr());
        if let Some(a6) = anchor6(&addrs6) {
            let _ = iface.routes_mut().add_default_ipv6_route(a6);
        }

        let mut sockets = SocketSet::new(Vec::new());
        let listeners = (0..LISTEN_POOL)
            .map(|_| Self::make_listener(&mut sockets))
            .collect();
        let mut t = Transport {
            shared,
            speaker,
            iface,
            device,
            sockets,
            listeners,
            pending: VecDeque::new(),
            conns: Vec::new(),
            lingering: Vec::new(),
            addrs,
            addrs6,
            routes: routes.clone(),
            queries,
            stop,
            epoch,
            next_port: *EPHEMERAL.start() + (std::process::id() % 1000) as u16,
            stats: TransportStats::default(),
        };
        let resolver = routes;
        t.speaker
            .set_nexthop_resolver(Box::new(move |h| match h.addr {
                // A poisoned lock means the route manager panicked; treat the
                // next hop as unreachable rather than propagate the panic.
                IpAddr::V4(v4) => resolver
                    .lock()
                    .map(|r| r.next_hop_resolves(v4.into()))
                    .unwrap_or(false),
                // Global IPv6 next hops resolve through the IPv6 routes, an
                // IPv4-mapped one (an IPv6 route over an IPv4 session) through
                // the port of its IPv4 subnet (`rib::Family for V6`), a
                // link-local one to the port of its session (as the next hop of
                // an IPv4 route, RFC 8950, it is installed only where a port
                // holds its subnet).
                IpAddr::V6(v6) => resolver
                    .lock()
                    .map(|r| r.v6.next_hop_resolves(scoped6(v6, h.link)))
                    .unwrap_or(false),
            }));
        t
    }

    fn make_listener(sockets: &mut SocketSet<'static>) -> SocketHandle {
        let mut s = new_socket();
        // Listening on port 179 of every address cannot fail for a fresh socket.
        let _ = s.listen(IpListenEndpoint {
            addr: None,
            port: BGP_PORT,
        });
        sockets.add(s)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(super) fn run(&mut self) {
        tracing::info!(addresses = self.addrs.len(), "bgp: transport started");
        while !self.stop.load(Ordering::Relaxed) {
            self.iteration();
            let timeout = self.sleep_time();
            let rx = self.shared.local_tcp.to_stack_rx.clone();
            let queries = self.queries.clone();
            select! {
                recv(rx) -> pkt => if let Ok(p) = pkt { self.device.rx_queue.push_back(p) },
                recv(queries) -> q => if let Ok((q, reply)) = q { self.answer(q, reply) },
                default(timeout) => {}
            }
        }
        tracing::info!("bgp: transport stopped");
    }

    /// How long to sleep: until smoltcp or the speaker has work, at most MAX_SLEEP.
    fn sleep_time(&mut self) -> Duration {
        let now_ms = self.now_ms();
        let mut d = MAX_SLEEP;
        if let Some(p) = self.iface.poll_delay(
            smoltcp::time::Instant::from_millis(now_ms as i64),
            &self.sockets,
        ) {
            d = d.min(Duration::from_micros(p.total_micros()));
        }
        if let Some(at) = self.speaker.poll_at() {
            d = d.min(Duration::from_millis(
                at.total_millis().saturating_sub(now_ms),
            ));
        }
        if !self.device.rx_queue.is_empty() || self.conns.iter().any(|c| !c.out.is_empty()) {
            d = d.min(Duration::from_millis(1));
        }
        d
    }

    fn iteration(&mut self) {
        // Move a batch of packets from the slow path into the device.
        while self.device.rx_queue.len() < RX_BATCH {
            match self.shared.local_tcp.to_stack_rx.try_recv() {
                Ok(p) => self.device.rx_queue.push_back(p),
                Err(_) => break,
            }
        }
        while let Ok((q, reply)) = self.queries.try_recv() {
            self.answer(q, reply);
        }
        let ms = self.now_ms();
        let snow = smoltcp::time::Instant::from_millis(ms as i64);
        let bnow = bgp::time::Instant::from_millis(ms);
        // At most LISTEN_POOL packets per poll, refilling the listeners in
        // between; bounded by the batch size.
        for _ in 0..=RX_BATCH / LISTEN_POOL {
            self.device.rx_budget = LISTEN_POOL;
            self.iface.poll(snow, &mut self.device, &mut self.sockets);
            self.refill_listeners();
            if self.device.rx_queue.is_empty() {
                break;
            }
        }
        self.device.rx_budget = 0;

        self.service_pending(bnow);
        self.service_conns(bnow);
        if self.speaker.poll_at().is_some_and(|at| at <= bnow) {
            self.speaker.poll(bnow);
        }
        self.drain_actions(bnow);
        self.flush_output();
        self.reap_lingering();
        // In chunks: a session that goes down with a full table (a peer
        // over its max_prefix, a flap) withdraws every route at once, and
        // expanding them all at once would hold the change list for all of
        // them beside the table itself. The speaker queues 24 octets per
        // change; a chunk at a time is expanded and staged in the route
        // manager, and everything staged is published once.
        self.install_route_changes();
        // Send what the reads and writes above produced (ACKs, window
        // updates, data), a bounded number of segments.
        for _ in 0..EGRESS_ROUNDS {
            let before = self.device.tx_packets;
            self.iface
                .poll_egress(snow, &mut self.device, &mut self.sockets);
            if self.device.tx_packets == before {
                break;
            }
        }
        self.stats.packets_in = self.device.rx_packets;
        self.stats.packets_out = self.device.tx_packets;
        self.stats.packets_out_dropped = self.device.tx_dropped;
        self.stats.connections_open = self.conns.len() as u64;
        let m = &self.device.md5;
        self.stats.md5_keys = m.key_count() as u64;
        self.stats.md5_signed = m.totals.signed;
        self.stats.md5_verified = m.totals.verified;
        self.stats.md5_missing = m.totals.missing;
        self.stats.md5_bad = m.totals.bad;
        self.stats.md5_unexpected = m.totals.unexpected;
        self.stats.md5_sign_failed = m.totals.sign_failed;
    }

    /// Moves the speaker's Loc-RIB changes into the route managers, a
    /// chunk at a time, with one FIB publication per family at the end;
    /// while a peer's routes are being removed (a session went down), one
    /// per chunk instead.
    ///
    /// Why the difference: a publication's own transient (the pending
    /// prefixes, the FIB batch, the next-hop ids it releases) grows with
    /// what it publishes. A whole table arriving is published once because
    /// each publication copies the FIB chunks it touches (8k-route steps
    /// took ~25 % longer). A teardown is where memory must not peak: a peer
    /// cut off by its `max_prefix` must cost no more than its limit. With
    /// a publication per chunk, a session at a 100k limit that then closes
    /// peaked 15.1 MiB above its start instead of 19.5 (fault_bench
    /// `maxprefix`, bench/README).
    fn install_route_changes(&mut self) {
        if !self.speaker.has_route_changes() {
            return;
        }
        let Ok(mut rm) = self.routes.lock() else {
            tracing::error!("bgp: route manager lock poisoned; routes not installed");
            return;
        };
        let (mut staged4, mut staged6) = (false, false);
        for _ in 0..MAX_ROUTE_CHUNKS {
            let removing = self.speaker.removing_routes();
            let changes = self.speaker.take_route_changes_upto(ROUTE_CHUNK);
            if changes.is_empty() {
                break;
            }
            self.stats.route_batches += 1;
            self.stats.route_changes += changes.len() as u64;
            let (batch, batch6) = to_route_manager(changes);
            if !batch.is_empty() {
                staged4 = true;
                for r in rm.v4.stage_bgp(batch).rejected.iter().take(8) {
                    tracing::warn!(reason = %r, "bgp: route refused by the route manager");
                }
            }
            if !batch6.is_empty() {
                staged6 = true;
                for r in rm.v6.stage_bgp(batch6).rejected.iter().take(8) {
                    tracing::warn!(reason = %r, "bgp: IPv6 route refused by the route manager");
                }
            }
            if removing {
                publish_staged(&mut rm, &mut staged4, &mut staged6);
            }
        }
        publish_staged(&mut rm, &mut staged4, &mut staged6);
    }

    /// Hands listeners that took a connection to `pending` and replaces them.
    fn refill_listeners(&mut self) {
        for i in 0..self.listeners.len() {
            let h = self.listeners[i];
            if self.sockets.get::<tcp::Socket>(h).state() != tcp::State::Listen {
                self.pending.push_back(h);
                self.listeners[i] = Self::make_listener(&mut self.sockets);
            }
        }
        // A flood of half-open connections must not grow without bound.
        while self.pending.len() > MAX_PENDING_ACCEPTS {
            if let Some(h) = self.pending.pop_front() {
                self.sockets.get_mut::<tcp::Socket>(h).abort();
                self.lingering.push((h, std::time::Instant::now(), false));
            }
        }
    }

    /// Accepted handshakes that completed go to the speaker.
    fn service_pending(&mut self, now: bgp::time::Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            let h = self.pending[i];
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            match s.state() {
                tcp::State::SynReceived => i += 1,
                tcp::State::Established | tcp::State::CloseWait => {
                    self.pending.remove(i);
                    let (Some(remote), Some(local)) = (s.remote_endpoint(), s.local_endpoint())
                    else {
                        s.abort();
                        self.lingering
                            .push((h, std::time::Instant::now() + LINGER, false));
                        continue;
                    };
                    let (remote, local) = (to_ip(remote.addr), to_ip(local.addr));
                    match self.speaker.accept_inbound(remote, local, now) {
                        Some(id) => {
                            tracing::info!(%remote, %local, conn = %id, "bgp: accepted connection");
                            let nh6 = ipv6_next_hop(&self.shared.ports, remote);
                            self.speaker.set_ipv6_next_hop(id, nh6);
                            self.stats.connections_accepted += 1;
                            self.conns.push(Conn {
                                id,
                                handle: h,
                                connecting: false,
                                out: VecDeque::new(),
                                closing: false,
                            });
                        }
                        None => {
                            // RFC 4271 §8.2.1.1-ish: a connection from an
                            // unconfigured address is refused; reset it.
                            tracing::info!(%remote, %local, "bgp: refused connection (not a neighbour)");
                            self.stats.connections_refused += 1;
                            s.abort();
                            self.lingering
                                .push((h, std::time::Instant::now() + LINGER, false));
                        }
                    }
                }
                _ => {
                    // Reset or timed out during the handshake.
                    self.pending.remove(i);
                    self.sockets.remove(h);
                }
            }
        }
    }

    fn service_conns(&mut self, now: bgp::time::Instant) {
        let mut i = 0;
        while i < self.conns.len() {
            let c = &mut self.conns[i];
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            if c.connecting {
                match s.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => {
                        i += 1;
                        continue;
                    }
                    tcp::State::Established => {
                        c.connecting = false;
                        let local = s.local_endpoint().map(|e| to_ip(e.addr));
                        let remote = s.remote_endpoint().map(|e| to_ip(e.addr));
                        if let Some(remote) = remote {
                            let nh6 = ipv6_next_hop(&self.shared.ports, remote);
                            self.speaker.set_ipv6_next_hop(c.id, nh6);
                        }
                        if let Some(local) = local {
                            self.speaker.connected(c.id, local, now);
                        }
                    }
                    _ => {
                        // Refused (RST) or timed out: tell the speaker, forget it.
                        let c = self.conns.swap_remove(i);
                        self.speaker.closed(c.id, now);
                        self.sockets.remove(c.handle);
                        continue;
                    }
                }
            }
            let c = &mut self.conns[i];
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            let mut budget = READ_BUDGET;
            let id = c.id;
            while budget > 0 && s.can_recv() {
                let speaker = &mut self.speaker;
                let n = s
                    .recv(|buf| {
                        let n = buf.len().min(budget);
                        speaker.receive(id, &buf[..n], now);
                        (n, n)
                    })
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                budget -= n;
            }
            // The peer closed its side (FIN, with everything read) or the
            // connection is gone (RST, timeout): the session is over.
            let gone = !s.is_open() || (!s.may_recv() && !s.can_recv());
            if gone && !c.closing {
                let c = self.conns.swap_remove(i);
                tracing::info!(conn = %c.id, "bgp: connection closed by peer");
                self.speaker.closed(c.id, now);
                let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
                s.close();
                self.lingering
                    .push((c.handle, std::time::Instant::now() + LINGER, false));
                continue;
            }
            i += 1;
        }
    }

    fn local_for(&self, remote: IpAddr) -> Option<IpAddr> {
        match remote {
            IpAddr::V4(r) => self
                .addrs
                .iter()
                .find(|n| n.trunc().contains(&r))
                .or_else(|| self.addrs.first())
                .map(|n| IpAddr::V4(n.addr())),
            IpAddr::V6(r) => local_for6(&self.addrs6, r).map(IpAddr::V6),
        }
    }

    fn ephemeral_port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p >= *EPHEMERAL.end() {
            *EPHEMERAL.start()
        } else {
            p + 1
        };
        p
    }

    fn drain_actions(&mut self, now: bgp::time::Instant) {
        while let Some(a) = self.speaker.poll_action() {
            match a {
                Action::Connect {
                    conn,
                    remote,
                    local,
                    port,
                } => {
                    let Some(l) = local.or_else(|| self.local_for(remote)) else {
                        tracing::warn!(%remote, "bgp: no local address of the family to connect from");
                        self.speaker.closed(conn, now);
                        continue;
                    };
                    let mut s = new_socket();
                    let lport = self.ephemeral_port();
                    let remote_ep = IpEndpoint::new(IpAddress::from(remote), port);
                    let local_ep = IpListenEndpoint {
                        addr: Some(IpAddress::from(l)),
                        port: lport,
                    };
                    match s.connect(self.iface.context(), remote_ep, local_ep) {
                        Ok(()) => {
                            tracing::debug!(%remote, local = %l, conn = %conn, "bgp: connecting");
                            let handle = self.sockets.add(s);
                            self.conns.push(Conn {
                                id: conn,
                                handle,
                                connecting: true,
                                out: VecDeque::new(),
                                closing: false,
                            });
                        }
                        Err(e) => {
                            tracing::warn!(%remote, error = %e, "bgp: cannot connect");
                            self.speaker.closed(conn, now);
                        }
                    }
                }
                Action::Send { conn, data } => {
                    if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                        if c.out.len() + data.len() > MAX_OUT_QUEUE {
                            tracing::warn!(conn = %conn, "bgp: peer not reading; resetting the connection");
                            let h = c.handle;
                            self.conns.retain(|c| c.id != conn);
                            self.sockets.get_mut::<tcp::Socket>(h).abort();
                            self.lingering.push((h, std::time::Instant::now(), false));
                            self.speaker.closed(conn, now);
                            continue;
                        }
                        c.out.extend(data);
                    }
                }
                Action::Close { conn } => {
                    if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                        c.closing = true;
                    }
                }
            }
        }
    }

    /// Moves queued bytes into the sockets; finishes closes whose queue is empty.
    fn flush_output(&mut self) {
        let mut i = 0;
        while i < self.conns.len() {
            let c = &mut self.conns[i];
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            while !c.out.is_empty() && s.can_send() {
                let (a, _) = c.out.as_slices();
                match s.send_slice(a) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        c.out.drain(..n);
                    }
                }
            }
            if c.closing && (c.out.is_empty() || !s.may_send()) {
                s.close();
                let c = self.conns.swap_remove(i);
                self.lingering
                    .push((c.handle, std::time::Instant::now() + LINGER, false));
                continue;
            }
            i += 1;
        }
    }

    fn reap_lingering(&mut self) {
        let now = std::time::Instant::now();
        let sockets = &mut self.sockets;
        self.lingering.retain_mut(|(h, deadline, seen_closed)| {
            let s = sockets.get_mut::<tcp::Socket>(*h);
            let done = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if done && *seen_closed {
                sockets.remove(*h);
                return false;
            }
            if done {
                // Keep it one more round: an aborted socket sends its RST
                // on the next egress.
                *seen_closed = true;
            } else if now >= *deadline {
                s.abort();
            }
            true
        });
    }

    fn answer(&mut self, q: Query, reply: Sender<Reply>) {
        let now = bgp::time::Instant::from_millis(self.now_ms());
        let r = match q {
            Query::Summary => Reply::Summary(self.speaker.summary(now), self.stats),
            Query::Neighbors(a) => {
                let list = self.speaker.neighbors(now, a);
                let md5 = list
                    .iter()
                    .filter_map(|n| match n.summary.address {
                        IpAddr::V4(a) => Some(self.device.md5.view_of(a)),
                        IpAddr::V6(_) => None,
                    })
                    .collect();
                Reply::Neighbors(list, md5)
            }
            Query::Routes(p) => Reply::Routes(self.speaker.routes(p, now)),
            Query::Reconfigure { config, addrs } => {
                // The NOTIFICATIONs, OPENs, UPDATEs and route changes it
                // queues go out in this loop's next iteration, like any.
                let r = self.speaker.reconfigure(*config, now);
                match &r {
                    Ok(report) => {
                        for line in report.to_string().lines() {
                            tracing::info!("{line}");
                        }
                        // Ports cannot change live, so the first address
                        // (the default route's source) stays the same.
                        if !addrs.is_empty() && addrs != self.addrs {
                            set_iface_addrs(&mut self.iface, &addrs, &self.addrs6);
                            self.addrs = addrs;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "bgp: reconfiguration refused"),
                }
                Reply::Reconfigured(r.map_err(|e| e.to_string()))
            }
        };
        let _ = reply.try_send(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortId;

    fn port(addrs: &[&str], addrs6: &[&str]) -> PortInfo {
        PortInfo {
            id: 0,
            name: "eth1".into(),
            ifname: "eth1".into(),
            ifindex: 1,
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            addrs6: addrs6.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_next_hop_from_the_port_on_the_peer_subnet() {
        let mut ports = vec![
            port(&["10.0.0.1/24"], &[]),
            port(
                &["192.168.10.200/24"],
                &["fe80::200/64", "2001:db8:10::200/64"],
            ),
            port(&["172.16.0.1/24"], &["fe80::300/64"]),
        ];
        for (i, p) in ports.iter_mut().enumerate() {
            p.id = i as PortId;
        }
        let ll = |s: &str| s.parse::<std::net::Ipv6Addr>().ok();
        assert_eq!(
            ipv6_next_hop(&ports, ip("192.168.10.55")),
            Ipv6NextHop {
                global: ll("2001:db8:10::200"),
                link_local: ll("fe80::200"),
                link: Some(1),
            }
        );
        // An IPv6 peer: the port whose IPv6 subnet holds it.
        assert_eq!(
            ipv6_next_hop(&ports, ip("2001:db8:10::55")),
            ipv6_next_hop(&ports, ip("192.168.10.55"))
        );
        // No IPv6 on the port: no address (the speaker sends
        // ::ffff:a.b.c.d), but still the port.
        assert_eq!(
            ipv6_next_hop(&ports, ip("10.0.0.9")),
            Ipv6NextHop {
                link: Some(0),
                ..Ipv6NextHop::default()
            }
        );
        // Link-local only.
        assert_eq!(
            ipv6_next_hop(&ports, ip("172.16.0.9")),
            Ipv6NextHop {
                global: None,
                link_local: ll("fe80::300"),
                link: Some(2),
            }
        );
        // Not on any subnet of ours (multihop): no link-local next hop.
        assert_eq!(
            ipv6_next_hop(&ports, ip("203.0.113.1")),
            Ipv6NextHop::default()
        );
    }

    #[test]
    fn local_address_for_an_ipv6_peer() {
        let a6 = |v: &[&str]| -> Vec<Ipv6Net> { v.iter().map(|a| a.parse().unwrap()).collect() };
        let addrs6 = a6(&[
            "fe80::200/64",
            "2001:db8:10::200/64",
            "fe80::300/64",
            "2001:db8:20::200/64",
        ]);
        let l = |r: &str| local_for6(&addrs6, r.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(l("2001:db8:20::55").as_deref(), Some("2001:db8:20::200"));
        assert_eq!(l("2001:db8:10::55").as_deref(), Some("2001:db8:10::200"));
        // Off-link: the first global address.
        assert_eq!(l("2001:db8:99::1").as_deref(), Some("2001:db8:10::200"));
        // Link-local peers need a scope the stack does not have.
        assert_eq!(l("fe80::55"), None);
        assert_eq!(
            local_for6(&a6(&["fe80::200/64"]), "2001:db8::1".parse().unwrap()),
            None
        );
        // The address AnyIP routes IPv6 through: a global one when there is one.
        assert_eq!(anchor6(&addrs6), "2001:db8:10::200".parse().ok());
        assert_eq!(anchor6(&a6(&["fe80::200/64"])), "fe80::200".parse().ok());
        assert_eq!(anchor6(&[]), None);
    }
}
