//! The speaker: peers and their connections (RFC 4271 §8 FSM, §6.8
//! collision detection), timers and operator actions. What happens to
//! routes lives beside it: `import` (UPDATE → RIB), `export` (our
//! networks → peers, End-of-RIB, route refresh), `graceful_restart`
//! (RFC 4724 helper, RFC 8538) and `reconfigure` (a new configuration
//! applied live, [`Speaker::reconfigure`]). The operator views are in
//! [`crate::view`].
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use tracing::{debug, info, warn};

use crate::config::{ConfigError, EffectivePeerConfig, Family, SpeakerConfig};
use crate::rib::{PeerId, PeerInfo, Rib};
use crate::session::{local_open, negotiate, ConnState, Negotiated, Session, OPEN_HOLD_TIME};
use crate::time::Instant;
use crate::view::{MessageCounters, SessionState};
use crate::wire::error::{
    CEASE_ADMIN_SHUTDOWN, CEASE_CONNECTION_COLLISION, FSM_UNEXPECTED_IN_ESTABLISHED,
    FSM_UNEXPECTED_IN_OPENCONFIRM, FSM_UNEXPECTED_IN_OPENSENT,
};
use crate::wire::{
    ErrorKind, Message, MessageError, NotificationRepr, OpenRepr, RouteRefreshRepr, BGP_PORT,
};

mod export;
mod graceful_restart;
mod import;
mod reconfigure;

use graceful_restart::{cease, DownReason};

pub use crate::rib::{Refiltered, RouteChange};
pub use crate::session::{ConnId, Ipv6NextHop};
pub use reconfigure::{ConfigKey, NeighborAction, NeighborReport, ReconfigureReport};

/// What the transport must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to `remote`:`port` (from `local` if set), then
    /// report `connected` or `closed`.
    Connect {
        conn: ConnId,
        remote: IpAddr,
        local: Option<IpAddr>,
        port: u16,
    },
    /// Write these bytes (whole BGP messages) to the connection, in order.
    Send { conn: ConnId, data: Vec<u8> },
    /// Flush what was queued and close the connection; the id is dead.
    Close { conn: ConnId },
}

/// After a session went down, wait this long before connecting again
/// (RFC 4271 §8.1.1 IdleHoldTimer, without oscillation damping).
pub const IDLE_HOLD_TIME: Duration = Duration::from_secs(5);

pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) address: IpAddr,
    pub(crate) cfg: EffectivePeerConfig,
    pub(crate) dynamic: bool,
    pub(crate) admin_down: bool,
    pub(crate) sessions: Vec<Session>,
    /// When to start the next outbound connection (ConnectRetryTimer).
    pub(crate) connect_at: Option<Instant>,
    pub(crate) up: bool,
    pub(crate) last_change: Instant,
    pub(crate) last_error: Option<String>,
    pub(crate) counters: MessageCounters,
    pub(crate) established_transitions: u64,
    pub(crate) prefixes_sent: u64,
    /// Negotiated parameters of the current or last established session.
    pub(crate) last_negotiated: Option<Negotiated>,
    pub(crate) last_local: Option<IpAddr>,
    /// Families with stale routes (graceful restart) and when they go.
    pub(crate) stale_families: Vec<Family>,
    pub(crate) stale_deadline: Option<Instant>,
    pub(crate) eor_received: Vec<Family>,
    pub(crate) eor_sent: Vec<Family>,
}

impl Peer {
    fn new(
        id: PeerId,
        address: IpAddr,
        cfg: EffectivePeerConfig,
        dynamic: bool,
        now: Instant,
    ) -> Peer {
        let connect_at = (!cfg.passive && !dynamic).then_some(now);
        Peer {
            id,
            address,
            cfg,
            dynamic,
            admin_down: false,
            sessions: Vec::new(),
            connect_at,
            up: false,
            last_change: now,
            last_error: None,
            counters: MessageCounters::default(),
            established_transitions: 0,
            prefixes_sent: 0,
            last_negotiated: None,
            last_local: None,
            stale_families: Vec::new(),
            stale_deadline: None,
            eor_received: Vec::new(),
            eor_sent: Vec::new(),
        }
    }

    pub(crate) fn session(&self, conn: ConnId) -> Option<usize> {
        self.sessions.iter().position(|s| s.conn == conn)
    }

    pub(crate) fn established(&self) -> Option<&Session> {
        self.sessions
            .iter()
            .find(|s| s.state == ConnState::Established)
    }

    pub(crate) fn state(&self) -> SessionState {
        if self.admin_down {
            return SessionState::Idle;
        }
        match self.sessions.iter().map(|s| s.state).max() {
            Some(ConnState::Established) => SessionState::Established,
            Some(ConnState::OpenConfirm) => SessionState::OpenConfirm,
            Some(ConnState::OpenSent) => SessionState::OpenSent,
            Some(ConnState::Connecting) => SessionState::Connect,
            None => SessionState::Active,
        }
    }

    fn can_connect(&self) -> bool {
        !self.admin_down && !self.cfg.passive && !self.dynamic && self.sessions.is_empty()
    }
}

/// Count and queue one outgoing message.
pub(crate) fn send(
    actions: &mut VecDeque<Action>,
    counters: &mut MessageCounters,
    conn: ConnId,
    msg: &Message,
    ctx: &crate::wire::DecodeContext,
) {
    match msg {
        Message::Open(_) => counters.opens_out += 1,
        Message::Update(_) => counters.updates_out += 1,
        Message::Notification(_) => counters.notifications_out += 1,
        Message::Keepalive => counters.keepalives_out += 1,
        Message::RouteRefresh(_) => counters.route_refresh_out += 1,
    }
    let data = msg.to_bytes(ctx);
    // Coalesce consecutive sends on one connection into one write.
    if let Some(Action::Send { conn: c, data: d }) = actions.back_mut() {
        if *c == conn && d.len() + data.len() <= 65536 {
            d.extend_from_slice(&data);
            return;
        }
    }
    actions.push_back(Action::Send { conn, data });
}

/// RFC 8950 §3: over an IPv6 session we offer to take IPv4 unicast routes
/// with an IPv6 next hop — the only next hop such a peer has for them (an
/// unnumbered or IPv6-only link). Over IPv4 the capability is not sent,
/// so nothing changes for IPv4 sessions.
fn add_extended_next_hop(open: &mut OpenRepr, local: Option<IpAddr>, families: &[Family]) {
    if local.is_some_and(|l| l.is_ipv6()) && families.contains(&Family::Ipv4Unicast) {
        open.capabilities
            .push(crate::wire::Capability::ExtendedNextHop(vec![
                crate::wire::ExtendedNextHop::IPV4_UNICAST_OVER_IPV6,
            ]));
    }
}

/// The sans-IO BGP speaker. See the crate's `API.md`.
pub struct Speaker {
    pub(crate) cfg: SpeakerConfig,
    /// Peer slots; a slot's index is its `PeerId` in the RIB.
    pub(crate) peers: Vec<Option<Peer>>,
    by_addr: HashMap<IpAddr, usize>,
    owner: HashMap<ConnId, usize>,
    next_conn: u64,
    actions: VecDeque<Action>,
    pub(crate) rib: Rib,
}

impl Speaker {
    pub fn new(config: SpeakerConfig, now: Instant) -> Result<Speaker, ConfigError> {
        config.validate()?;
        let mut sp = Speaker {
            rib: Rib::new(
                config.local_as,
                config.maximum_paths,
                config.multipath_relax,
            ),
            peers: Vec::new(),
            by_addr: HashMap::new(),
            owner: HashMap::new(),
            next_conn: 1,
            actions: VecDeque::new(),
            cfg: config,
        };
        for n in sp.cfg.neighbors.clone() {
            let eff = sp.cfg.neighbor_settings(&n)?;
            // Configured neighbours are far fewer than 65536 peer slots.
            let _ = sp.add_peer(n.address, eff, false, now);
        }
        Ok(sp)
    }

    pub fn config(&self) -> &SpeakerConfig {
        &self.cfg
    }

    /// `None` when all 65536 peer slots are taken.
    fn add_peer(
        &mut self,
        address: IpAddr,
        cfg: EffectivePeerConfig,
        dynamic: bool,
        now: Instant,
    ) -> Option<usize> {
        let pi = match self.peers.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.peers.push(None);
                self.peers.len() - 1
            }
        };
        let Ok(raw) = u16::try_from(pi) else {
            self.peers.truncate(usize::from(u16::MAX) + 1);
            warn!(peer = %address, "bgp: too many peers");
            return None;
        };
        self.peers[pi] = Some(Peer::new(PeerId(raw), address, cfg, dynamic, now));
        self.by_addr.insert(address, pi);
        Some(pi)
    }

    fn new_conn(&mut self, pi: usize) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        self.owner.insert(c, pi);
        c
    }

    // ------------------------------------------------------------------
    // Transport events

    /// A TCP connection arrived on port 179 from `remote` to our `local`.
    pub fn accept_inbound(
        &mut self,
        remote: IpAddr,
        local: IpAddr,
        now: Instant,
    ) -> Option<ConnId> {
        let pi = match self.by_addr.get(&remote) {
            Some(&pi) => pi,
            None => {
                // Dynamic neighbours: the first listen range containing the address.
                let range = self
                    .cfg
                    .listen_ranges
                    .iter()
                    .find(|r| r.prefix.contains(&remote))?
                    .clone();
                let eff = self.cfg.range_settings(&range).ok()?;
                info!(peer = %remote, range = %range.prefix, group = %range.group, "bgp: dynamic neighbour");
                self.add_peer(remote, eff, true, now)?
            }
        };
        if self.peers[pi].as_ref()?.admin_down {
            return None;
        }
        // An inbound connection that has not reached Established is
        // superseded by a new one from the same address (the peer gave up
        // on it, e.g. restarted); the old one is closed silently.
        let stale: Vec<ConnId> = self.peers[pi]
            .as_ref()?
            .sessions
            .iter()
            .filter(|s| !s.outbound && s.state != ConnState::Established)
            .map(|s| s.conn)
            .collect();
        for c in stale {
            self.drop_session(pi, c, None, None, now);
        }
        let conn = self.new_conn(pi);
        let peer = self.peers[pi].as_mut()?;
        peer.sessions.push(Session::new(conn, false, Some(local)));
        self.send_open(pi, conn, now);
        Some(conn)
    }

    /// An outbound connection requested with `Action::Connect` is up.
    pub fn connected(&mut self, conn: ConnId, local: IpAddr, now: Instant) {
        let Some(&pi) = self.owner.get(&conn) else {
            return;
        };
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        if peer.sessions[si].state != ConnState::Connecting {
            return;
        }
        peer.sessions[si].local = Some(local);
        self.send_open(pi, conn, now);
    }

    /// Our IPv6 addresses on the link of `conn` (from its port), the next
    /// hop of the IPv6 networks sent on it; call after `accept_inbound` or
    /// before `connected`, i.e. before the session is established. Without
    /// it an IPv4 session sends the IPv4-mapped local address and an IPv6
    /// session its local address (see [`Ipv6NextHop::for_local`]).
    pub fn set_ipv6_next_hop(&mut self, conn: ConnId, nh: Ipv6NextHop) {
        let Some(&pi) = self.owner.get(&conn) else {
            return;
        };
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        if let Some(si) = peer.session(conn) {
            peer.sessions[si].nh6 = nh;
        }
    }

    /// The connection failed, was reset or closed by the peer.
    pub fn closed(&mut self, conn: ConnId, now: Instant) {
        let Some(&pi) = self.owner.get(&conn) else {
            return;
        };
        self.drop_session_quiet(pi, conn, DownReason::TcpClosed, now);
    }

    /// Bytes read from a connection.
    pub fn receive(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let Some(&pi) = self.owner.get(&conn) else {
            return;
        };
        {
            let Some(peer) = self.peers[pi].as_mut() else {
                return;
            };
            let Some(si) = peer.session(conn) else { return };
            peer.sessions[si].framer.push(data);
        }
        loop {
            let Some(peer) = self.peers[pi].as_mut() else {
                return;
            };
            let Some(si) = peer.session(conn) else { return };
            let sess = &mut peer.sessions[si];
            let Some(next) = sess.framer.next_message() else {
                return;
            };
            let msg = next.and_then(|bytes| Message::parse(&bytes, &sess.ctx));
            match msg {
                Err(e) => {
                    warn!(peer = %peer.address, error = %e, "bgp: bad message");
                    self.close_with_error(pi, conn, &e, now);
                    return;
                }
                Ok(m) => self.handle_message(pi, conn, m, now),
            }
        }
    }

    /// Run expired timers.
    pub fn poll(&mut self, now: Instant) {
        for pi in 0..self.peers.len() {
            let Some(peer) = self.peers[pi].as_ref() else {
                continue;
            };
            let mut expired_hold = Vec::new();
            let mut keepalives = Vec::new();
            for s in &peer.sessions {
                if s.hold_deadline.is_some_and(|d| d <= now) {
                    expired_hold.push((s.conn, s.state));
                } else if s.keepalive_at.is_some_and(|d| d <= now) {
                    keepalives.push(s.conn);
                }
            }
            for (conn, state) in expired_hold {
                if state == ConnState::Connecting {
                    // RFC 4271 §8.2.2 (Connect state): the ConnectRetryTimer
                    // expired before the TCP connection came up — drop the
                    // attempt; a new one starts with the timer.
                    self.drop_session(pi, conn, None, None, now);
                } else {
                    // RFC 4271 §6.5: "If a system does not receive successive
                    // KEEPALIVE, UPDATE, and/or NOTIFICATION messages within
                    // the period specified in the Hold Time field of the OPEN
                    // message, then the NOTIFICATION message with the Hold
                    // Timer Expired Error Code is sent and the BGP connection
                    // is closed."
                    let n = NotificationRepr {
                        code: 4,
                        subcode: 0,
                        data: Vec::new(),
                    };
                    self.drop_session(pi, conn, Some(n), Some(DownReason::HoldTimerExpired), now);
                }
            }
            for conn in keepalives {
                let Some(peer) = self.peers[pi].as_mut() else {
                    break;
                };
                let Some(si) = peer.session(conn) else {
                    continue;
                };
                let ctx = peer.sessions[si].ctx;
                send(
                    &mut self.actions,
                    &mut peer.counters,
                    conn,
                    &Message::Keepalive,
                    &ctx,
                );
                peer.sessions[si].restart_keepalive_timer(now);
            }
            let Some(peer) = self.peers[pi].as_ref() else {
                continue;
            };
            if peer.stale_deadline.is_some_and(|d| d <= now) {
                self.purge_stale(pi, None);
            }
            let Some(peer) = self.peers[pi].as_ref() else {
                continue;
            };
            if peer.can_connect() && peer.connect_at.is_some_and(|d| d <= now) {
                self.start_connect(pi, now);
            }
            self.maybe_forget_dynamic(pi);
        }
    }

    /// The earliest instant at which `poll` has something to do.
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        for peer in self.peers.iter().flatten() {
            for s in &peer.sessions {
                take(s.deadline());
            }
            take(peer.stale_deadline);
            if peer.can_connect() {
                take(peer.connect_at);
            }
        }
        at
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn take_route_changes(&mut self) -> Vec<RouteChange> {
        self.rib.take_changes()
    }

    /// The oldest `max` Loc-RIB changes, in order; call until it returns
    /// none. Taken in chunks, a session that goes down with a full table
    /// never has all its withdrawals expanded at once.
    pub fn take_route_changes_upto(&mut self, max: usize) -> Vec<RouteChange> {
        self.rib.take_changes_upto(max)
    }

    /// Whether Loc-RIB changes wait to be taken.
    pub fn has_route_changes(&self) -> bool {
        self.rib.has_changes()
    }

    /// Whether the changes waiting include the removal of a peer's routes
    /// (its session went down, or its stale routes were purged) that the
    /// RIB sweeps as they are taken ([`crate::rib::Rib::remove_peer`]).
    pub fn removing_routes(&self) -> bool {
        self.rib.sweeping()
    }

    /// How the FIB side judges a next hop reachable (RFC 4271 §9.1.2.1);
    /// a link-local one comes with its link ([`crate::rib::NextHopAddr`]).
    pub fn set_nexthop_resolver(
        &mut self,
        resolver: Box<dyn Fn(crate::rib::NextHopAddr) -> bool + Send>,
    ) {
        self.rib.set_resolver(resolver);
        self.rib.revalidate_nexthops();
    }

    pub fn revalidate_nexthops(&mut self, _now: Instant) {
        self.rib.revalidate_nexthops();
    }

    // ------------------------------------------------------------------
    // Operator actions

    /// Shut the session down (Cease / Administrative Shutdown) and keep the
    /// peer Idle until `admin_enable`.
    pub fn admin_shutdown(&mut self, peer: IpAddr, now: Instant) -> bool {
        let Some(&pi) = self.by_addr.get(&peer) else {
            return false;
        };
        let conns: Vec<(ConnId, Option<Negotiated>)> = match self.peers[pi].as_mut() {
            Some(p) => {
                p.admin_down = true;
                p.sessions
                    .iter()
                    .map(|s| (s.conn, s.negotiated.clone()))
                    .collect()
            }
            None => return false,
        };
        for (conn, neg) in conns {
            let n = cease(CEASE_ADMIN_SHUTDOWN, true, neg.as_ref());
            let reason = DownReason::NotificationSent {
                notification: n.clone(),
                hard: true,
            };
            self.drop_session(pi, conn, Some(n), Some(reason), now);
        }
        // Stale routes of a shut-down peer are not kept either.
        self.purge_stale(pi, None);
        true
    }

    pub fn admin_enable(&mut self, peer: IpAddr, now: Instant) -> bool {
        let Some(&pi) = self.by_addr.get(&peer) else {
            return false;
        };
        let Some(p) = self.peers[pi].as_mut() else {
            return false;
        };
        p.admin_down = false;
        p.connect_at = (!p.cfg.passive && !p.dynamic).then_some(now);
        true
    }

    /// Ask the peer to re-send its routes (RFC 2918), if it supports it.
    pub fn route_refresh(&mut self, peer: IpAddr, _now: Instant) -> bool {
        let Some(&pi) = self.by_addr.get(&peer) else {
            return false;
        };
        let Some(p) = self.peers[pi].as_mut() else {
            return false;
        };
        let Some(s) = p
            .sessions
            .iter()
            .find(|s| s.state == ConnState::Established)
        else {
            return false;
        };
        let Some(n) = &s.negotiated else { return false };
        if !n.route_refresh {
            return false;
        }
        let (conn, ctx) = (s.conn, s.ctx);
        for f in n.families.clone() {
            let (afi, safi) = f.afi_safi();
            send(
                &mut self.actions,
                &mut p.counters,
                conn,
                &Message::RouteRefresh(RouteRefreshRepr {
                    afi,
                    subtype: 0,
                    safi,
                }),
                &ctx,
            );
        }
        true
    }

    // ------------------------------------------------------------------
    // Connection lifecycle

    fn start_connect(&mut self, pi: usize, now: Instant) {
        let conn = self.new_conn(pi);
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let mut s = Session::new(conn, true, None);
        // RFC 4271 §8.2.2: the ConnectRetryTimer bounds the attempt and
        // spaces the next one.
        let retry = Duration::from_secs(u64::from(peer.cfg.connect_retry));
        s.hold_deadline = Some(now + retry);
        peer.sessions.push(s);
        peer.connect_at = Some(now + retry);
        debug!(peer = %peer.address, %conn, "bgp: connecting");
        self.actions.push_back(Action::Connect {
            conn,
            remote: peer.address,
            local: None,
            port: BGP_PORT,
        });
    }

    fn send_open(&mut self, pi: usize, conn: ConnId, now: Instant) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let mut open = local_open(
            self.cfg.local_as,
            self.cfg.router_id,
            &peer.cfg,
            &self.cfg.graceful_restart,
        );
        add_extended_next_hop(&mut open, peer.sessions[si].local, &peer.cfg.families);
        let s = &mut peer.sessions[si];
        s.state = ConnState::OpenSent;
        s.hold_deadline = Some(now + OPEN_HOLD_TIME);
        let ctx = s.ctx;
        send(
            &mut self.actions,
            &mut peer.counters,
            conn,
            &Message::Open(open),
            &ctx,
        );
    }

    /// Send a NOTIFICATION for a decoding error and close.
    fn close_with_error(&mut self, pi: usize, conn: ConnId, e: &MessageError, now: Instant) {
        let n = NotificationRepr::from(e);
        let reason = DownReason::NotificationSent {
            notification: n.clone(),
            hard: false,
        };
        self.drop_session(pi, conn, Some(n), Some(reason), now);
    }

    /// Connection closed by the transport: no NOTIFICATION, no Close action.
    fn drop_session_quiet(&mut self, pi: usize, conn: ConnId, reason: DownReason, now: Instant) {
        self.remove_session(pi, conn, Some(reason), now);
    }

    /// Optionally send `notification`, close `conn`, and handle the session
    /// going down.
    fn drop_session(
        &mut self,
        pi: usize,
        conn: ConnId,
        notification: Option<NotificationRepr>,
        reason: Option<DownReason>,
        now: Instant,
    ) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        if let Some(n) = &notification {
            let ctx = peer.sessions[si].ctx;
            if peer.sessions[si].state != ConnState::Connecting {
                send(
                    &mut self.actions,
                    &mut peer.counters,
                    conn,
                    &Message::Notification(n.clone()),
                    &ctx,
                );
            }
            peer.last_error = Some(format!("sent NOTIFICATION: {n}"));
        }
        self.actions.push_back(Action::Close { conn });
        self.remove_session(pi, conn, reason, now);
    }

    fn remove_session(
        &mut self,
        pi: usize,
        conn: ConnId,
        reason: Option<DownReason>,
        now: Instant,
    ) {
        self.owner.remove(&conn);
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let sess = peer.sessions.remove(si);
        if sess.state == ConnState::Established {
            let reason = reason.unwrap_or(DownReason::TcpClosed);
            self.session_down(pi, &sess, reason, now);
        } else if let Some(DownReason::NotificationReceived(n)) = &reason {
            peer.last_error = Some(format!("received NOTIFICATION: {n}"));
        }
        if let Some(peer) = self.peers[pi].as_mut() {
            if peer.sessions.is_empty() && !peer.cfg.passive && !peer.dynamic {
                // Retry after the idle hold time unless a retry is due sooner.
                let at = now
                    + IDLE_HOLD_TIME.min(Duration::from_secs(u64::from(peer.cfg.connect_retry)));
                if sess.state != ConnState::Connecting {
                    peer.connect_at = Some(peer.connect_at.map_or(at, |c| c.max(at)));
                }
            }
        }
        self.maybe_forget_dynamic(pi);
    }

    /// Dynamic neighbours disappear once they have no connection and no
    /// (stale) routes left.
    fn maybe_forget_dynamic(&mut self, pi: usize) {
        let Some(peer) = self.peers[pi].as_ref() else {
            return;
        };
        if peer.dynamic && peer.sessions.is_empty() && peer.stale_families.is_empty() {
            let (id, addr) = (peer.id, peer.address);
            self.rib.remove_peer(id, None);
            self.by_addr.remove(&addr);
            self.peers[pi] = None;
            debug!(peer = %addr, "bgp: dynamic neighbour removed");
        }
    }

    // ------------------------------------------------------------------
    // Messages

    fn handle_message(&mut self, pi: usize, conn: ConnId, msg: Message, now: Instant) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        match &msg {
            Message::Open(_) => peer.counters.opens_in += 1,
            Message::Update(_) => peer.counters.updates_in += 1,
            Message::Notification(_) => peer.counters.notifications_in += 1,
            Message::Keepalive => peer.counters.keepalives_in += 1,
            Message::RouteRefresh(_) => peer.counters.route_refresh_in += 1,
        }
        let state = peer.sessions[si].state;
        if state >= ConnState::OpenConfirm {
            peer.sessions[si].restart_hold_timer(now);
        }
        match (state, msg) {
            (_, Message::Notification(n)) => {
                // RFC 4271 §6.4 / §8.2.2: on a NOTIFICATION, close the
                // connection (no reply).
                warn!(peer = %peer.address, notification = %n, "bgp: received NOTIFICATION");
                peer.last_error = Some(format!("received NOTIFICATION: {n}"));
                self.actions.push_back(Action::Close { conn });
                self.remove_session(pi, conn, Some(DownReason::NotificationReceived(n)), now);
            }
            (ConnState::OpenSent, Message::Open(open)) => self.handle_open(pi, conn, open, now),
            (ConnState::OpenConfirm, Message::Keepalive) => self.establish(pi, conn, now),
            (ConnState::Established, Message::Keepalive) => {}
            (ConnState::Established, Message::Update(u)) => self.handle_update(pi, conn, u, now),
            (ConnState::Established, Message::RouteRefresh(r)) => {
                self.handle_route_refresh(pi, conn, r)
            }
            (state, _) => {
                // RFC 4271 §8.2.2 / RFC 6608: any other message is an FSM
                // error, with the subcode naming the state.
                let sub = match state {
                    ConnState::OpenSent | ConnState::Connecting => FSM_UNEXPECTED_IN_OPENSENT,
                    ConnState::OpenConfirm => FSM_UNEXPECTED_IN_OPENCONFIRM,
                    ConnState::Established => FSM_UNEXPECTED_IN_ESTABLISHED,
                };
                let e = MessageError::new(ErrorKind::Fsm(sub), Vec::new());
                self.close_with_error(pi, conn, &e, now);
            }
        }
    }

    fn handle_open(&mut self, pi: usize, conn: ConnId, open: OpenRepr, now: Instant) {
        let (local_as, router_id) = (self.cfg.local_as, self.cfg.router_id);
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let mut ours = local_open(local_as, router_id, &peer.cfg, &self.cfg.graceful_restart);
        let local = peer.session(conn).and_then(|si| peer.sessions[si].local);
        add_extended_next_hop(&mut ours, local, &peer.cfg.families);
        let neg = match negotiate(local_as, router_id, &peer.cfg, &ours, &open) {
            Ok(n) => n,
            Err(e) => {
                warn!(peer = %peer.address, error = %e, "bgp: OPEN rejected");
                self.close_with_error(pi, conn, &e, now);
                return;
            }
        };
        let Some(si) = peer.session(conn) else { return };
        // RFC 4271 §8.2.2 (OpenSent, OPEN received): send KEEPALIVE, set the
        // timers to the negotiated values, go to OpenConfirm.
        let s = &mut peer.sessions[si];
        s.ctx = neg.decode_context();
        s.framer.set_max_len(s.ctx.max_message_len);
        s.remote_open = Some(open);
        s.negotiated = Some(neg.clone());
        s.state = ConnState::OpenConfirm;
        s.restart_hold_timer(now);
        s.restart_keepalive_timer(now);
        let ctx = s.ctx;
        send(
            &mut self.actions,
            &mut peer.counters,
            conn,
            &Message::Keepalive,
            &ctx,
        );

        // RFC 4271 §6.8 collision detection against the peer's other connection.
        let other = peer
            .sessions
            .iter()
            .find(|s| s.conn != conn && s.state >= ConnState::OpenConfirm)
            .map(|s| (s.conn, s.state, s.negotiated.clone()));
        let Some((oconn, ostate, oneg)) = other else {
            return;
        };
        if ostate == ConnState::Established {
            if oneg.as_ref().is_some_and(|n| n.gr.is_some()) {
                // RFC 4724 §4.2: an OPEN on a new connection while the old
                // session is Established means the peer restarted; handle
                // it as the old session's TCP failure (keep routes stale).
                info!(peer = %peer.address, "bgp: peer restarted (new OPEN while Established)");
                self.drop_session(pi, oconn, None, Some(DownReason::PeerRestarted), now);
            } else {
                // RFC 4271 §6.8: "collision with an existing BGP connection
                // that is in the Established state causes closing of the
                // newly created connection."
                let n = cease(CEASE_CONNECTION_COLLISION, false, None);
                self.drop_session(pi, conn, Some(n), None, now);
            }
            return;
        }
        // Both in OpenConfirm. RFC 4271 §6.8: "The convention is to compare
        // the BGP Identifiers of the peers involved in the collision and to
        // retain only the connection initiated by the BGP speaker with the
        // higher-valued BGP Identifier." On equal identifiers, the one
        // initiated by the larger AS (RFC 6286 §2.3).
        let local_wins = if router_id != neg.peer_id {
            router_id > neg.peer_id
        } else {
            local_as > neg.peer_as
        };
        let Some(peer) = self.peers[pi].as_ref() else {
            return;
        };
        let loser = peer
            .sessions
            .iter()
            .find(|s| (s.conn == conn || s.conn == oconn) && s.outbound != local_wins)
            .map(|s| s.conn);
        if let Some(loser) = loser {
            info!(peer = %peer.address, %loser, "bgp: connection collision resolved");
            let n = cease(CEASE_CONNECTION_COLLISION, false, None);
            self.drop_session(pi, loser, Some(n), None, now);
        }
    }

    fn establish(&mut self, pi: usize, conn: ConnId, now: Instant) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let s = &mut peer.sessions[si];
        let Some(neg) = s.negotiated.clone() else {
            return;
        };
        s.state = ConnState::Established;
        s.established_at = Some(now);
        s.restart_hold_timer(now);
        peer.up = true;
        peer.last_change = now;
        peer.established_transitions += 1;
        peer.last_negotiated = Some(neg.clone());
        peer.last_local = s.local;
        let link = s.nh6.link;
        peer.eor_received.clear();
        peer.eor_sent.clear();
        let id = peer.id;
        info!(peer = %peer.address, asn = neg.peer_as, hold = neg.hold_time, "bgp: session established");
        self.rib.set_peer_info(
            id,
            PeerInfo {
                address: peer.address,
                router_id: neg.peer_id,
                asn: neg.peer_as,
                ebgp: neg.ebgp,
                link,
            },
        );

        self.stale_routes_on_reestablish(pi, &neg, now);

        // Other connections of this peer lose to the established one.
        let others: Vec<ConnId> = self.peers[pi]
            .as_ref()
            .map(|p| {
                p.sessions
                    .iter()
                    .filter(|s| s.conn != conn)
                    .map(|s| s.conn)
                    .collect()
            })
            .unwrap_or_default();
        for o in others {
            let n = cease(CEASE_CONNECTION_COLLISION, false, None);
            self.drop_session(pi, o, Some(n), None, now);
        }

        for f in neg.families.clone() {
            self.export_family(pi, conn, f);
        }
        self.send_end_of_rib(pi, conn, &neg.families);
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        peer.sessions[si].restart_keepalive_timer(now);
    }

    /// Number of prefixes in the Loc-RIB.
    pub fn loc_rib_len(&self) -> usize {
        self.rib.prefix_count()
    }

    /// The next hops currently installed for `prefix` (tests, views).
    pub fn installed(&self, prefix: &IpNet) -> Vec<IpAddr> {
        self.rib.installed(prefix).iter().map(|h| h.addr).collect()
    }

    /// Drop attribute sets no route uses any more (call after big withdrawals).
    pub fn compact(&mut self) {
        self.rib.gc_interned();
    }
}
