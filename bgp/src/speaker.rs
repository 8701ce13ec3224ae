//! The speaker: peers and their connections (RFC 4271 §8 FSM, §6.8
//! collision detection), UPDATE processing into the RIB, graceful restart
//! helper (RFC 4724, RFC 8538), export of configured networks, and the
//! operator views.
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;
use tracing::{debug, info, warn};

use crate::config::{ConfigError, EffectivePeerConfig, Family, SpeakerConfig};
use crate::rib::{PeerId, PeerInfo, Rib, RouteAttrs, DEFAULT_LOCAL_PREF};
use crate::session::{local_open, negotiate, ConnState, Negotiated, Session, OPEN_HOLD_TIME};
use crate::time::Instant;
use crate::view::{
    GrView, MessageCounters, NegotiatedView, NeighborDetail, PathView, PeerSummary, RouteView,
    SessionState, Summary,
};
use crate::wire::error::{
    CEASE_ADMIN_SHUTDOWN, CEASE_CONNECTION_COLLISION, CEASE_HARD_RESET, CEASE_MAX_PREFIXES,
    FSM_UNEXPECTED_IN_ESTABLISHED, FSM_UNEXPECTED_IN_OPENCONFIRM, FSM_UNEXPECTED_IN_OPENSENT,
};
use crate::wire::{
    AsPath, ErrorKind, Message, MessageError, MpReach, NotificationRepr, Origin, PathAttributes,
    RouteRefreshRepr, UpdateRepr, BGP_PORT,
};

/// Identifies one TCP connection between the transport and the speaker.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

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

/// A Loc-RIB change for the FIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChange {
    /// Install or replace the route; `next_hops` is sorted, deduplicated,
    /// non-empty (several = ECMP).
    Replace {
        prefix: IpNet,
        next_hops: Vec<IpAddr>,
    },
    Remove(IpNet),
}

/// After a session went down, wait this long before connecting again
/// (RFC 4271 §8.1.1 IdleHoldTimer, without oscillation damping).
pub const IDLE_HOLD_TIME: Duration = Duration::from_secs(5);

/// Prefixes per UPDATE when exporting (well inside 4096 octets).
const EXPORT_CHUNK_V4: usize = 500;
const EXPORT_CHUNK_V6: usize = 150;

/// Why an established session ended; decides graceful restart.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DownReason {
    /// TCP closed or reset without a NOTIFICATION.
    TcpClosed,
    /// The peer opened a new session while this one was up (RFC 4724 §4.2).
    PeerRestarted,
    HoldTimerExpired,
    NotificationReceived(NotificationRepr),
    /// We sent this NOTIFICATION; `hard` when RFC 8538 says Hard Reset.
    NotificationSent {
        notification: NotificationRepr,
        hard: bool,
    },
}

impl DownReason {
    /// RFC 4724 §4.2 keeps routes when the session ends without a
    /// NOTIFICATION; RFC 8538 §3 extends this, when both sides sent the N
    /// bit, to every NOTIFICATION except Hard Reset (Cease/9) and to hold
    /// timer expiry.
    fn keeps_routes(&self, n_bit: bool) -> bool {
        match self {
            DownReason::TcpClosed | DownReason::PeerRestarted => true,
            DownReason::HoldTimerExpired => n_bit,
            DownReason::NotificationReceived(n) => {
                n_bit && !(n.code == 6 && n.subcode == CEASE_HARD_RESET)
            }
            DownReason::NotificationSent { hard, .. } => n_bit && !hard,
        }
    }

    fn describe(&self) -> String {
        match self {
            DownReason::TcpClosed => "connection closed by peer".into(),
            DownReason::PeerRestarted => "peer opened a new session (restart)".into(),
            DownReason::HoldTimerExpired => "hold timer expired".into(),
            DownReason::NotificationReceived(n) => format!("received NOTIFICATION: {n}"),
            DownReason::NotificationSent { notification, .. } => {
                format!("sent NOTIFICATION: {notification}")
            }
        }
    }
}

struct Peer {
    id: PeerId,
    address: IpAddr,
    cfg: EffectivePeerConfig,
    dynamic: bool,
    admin_down: bool,
    sessions: Vec<Session>,
    /// When to start the next outbound connection (ConnectRetryTimer).
    connect_at: Option<Instant>,
    up: bool,
    last_change: Instant,
    last_error: Option<String>,
    counters: MessageCounters,
    established_transitions: u64,
    prefixes_sent: u64,
    /// Negotiated parameters of the current or last established session.
    last_negotiated: Option<Negotiated>,
    last_local: Option<IpAddr>,
    /// Families with stale routes (graceful restart) and when they go.
    stale_families: Vec<Family>,
    stale_deadline: Option<Instant>,
    eor_received: Vec<Family>,
    eor_sent: Vec<Family>,
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

    fn session(&self, conn: ConnId) -> Option<usize> {
        self.sessions.iter().position(|s| s.conn == conn)
    }

    fn established(&self) -> Option<&Session> {
        self.sessions
            .iter()
            .find(|s| s.state == ConnState::Established)
    }

    fn state(&self) -> SessionState {
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
fn send(
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

/// The sans-IO BGP speaker. See the crate's `API.md`.
pub struct Speaker {
    cfg: SpeakerConfig,
    peers: Vec<Option<Peer>>,
    by_addr: HashMap<IpAddr, usize>,
    owner: HashMap<ConnId, usize>,
    next_conn: u64,
    actions: VecDeque<Action>,
    rib: Rib,
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

    pub fn set_nexthop_resolver(&mut self, resolver: Box<dyn Fn(IpAddr) -> bool + Send>) {
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
        let open = local_open(
            self.cfg.local_as,
            self.cfg.router_id,
            &peer.cfg,
            &self.cfg.graceful_restart,
        );
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

    /// An Established session ended: graceful restart or route removal.
    fn session_down(&mut self, pi: usize, sess: &Session, reason: DownReason, now: Instant) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        peer.up = false;
        peer.last_change = now;
        peer.prefixes_sent = 0;
        peer.last_error = Some(reason.describe());
        let id = peer.id;
        let neg = sess.negotiated.clone();
        let gr = neg.as_ref().and_then(|n| n.gr.clone());
        let keep = gr
            .as_ref()
            .is_some_and(|g| reason.keeps_routes(g.notification) && g.restart_time > 0);
        info!(peer = %peer.address, reason = %reason.describe(), graceful_restart = keep, "bgp: session down");
        if let (true, Some(gr), Some(neg)) = (keep, gr, neg) {
            // RFC 4724 §4.2: "the Receiving Speaker MUST retain the routes
            // received from the Restarting Speaker for all the address
            // families that were previously received in the Graceful
            // Restart Capability and MUST mark them as stale routing
            // information", and start a timer of the peer's Restart Time.
            for f in &neg.families {
                if gr.families.iter().any(|(g, _)| g == f) {
                    self.rib.mark_stale(id, *f);
                    if !peer.stale_families.contains(f) {
                        peer.stale_families.push(*f);
                    }
                } else {
                    self.rib.remove_peer(id, Some(*f));
                }
            }
            peer.stale_deadline = Some(now + Duration::from_secs(u64::from(gr.restart_time)));
        } else {
            self.rib.remove_peer(id, None);
            peer.stale_families.clear();
            peer.stale_deadline = None;
        }
    }

    fn purge_stale(&mut self, pi: usize, family: Option<Family>) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let fams: Vec<Family> = match family {
            Some(f) => vec![f],
            None => peer.stale_families.clone(),
        };
        for f in fams {
            let n = self.rib.purge_stale(peer.id, Some(f));
            if n > 0 {
                info!(peer = %peer.address, family = ?f, routes = n, "bgp: purged stale routes");
            }
            peer.stale_families.retain(|x| *x != f);
        }
        if peer.stale_families.is_empty() {
            peer.stale_deadline = None;
        }
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

    fn handle_open(&mut self, pi: usize, conn: ConnId, open: crate::wire::OpenRepr, now: Instant) {
        let (local_as, router_id) = (self.cfg.local_as, self.cfg.router_id);
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let ours = local_open(local_as, router_id, &peer.cfg, &self.cfg.graceful_restart);
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
            },
        );

        // RFC 4724 §4.2: on re-establishment, stale routes of families the
        // peer no longer lists in its capability, or lists without the
        // Forwarding State bit, "MUST be deleted"; the rest wait for its
        // End-of-RIB, bounded by our stale-routes time.
        if !peer.stale_families.is_empty() {
            let keep: Vec<Family> = peer
                .stale_families
                .iter()
                .copied()
                .filter(|f| {
                    neg.gr
                        .as_ref()
                        .is_some_and(|g| g.families.contains(&(*f, true)))
                })
                .collect();
            let drop: Vec<Family> = peer
                .stale_families
                .iter()
                .copied()
                .filter(|f| !keep.contains(f))
                .collect();
            for f in drop {
                self.purge_stale(pi, Some(f));
            }
            if let Some(peer) = self.peers[pi].as_mut() {
                if !peer.stale_families.is_empty() {
                    peer.stale_deadline = Some(
                        now + Duration::from_secs(u64::from(
                            self.cfg.graceful_restart.stale_routes_time,
                        )),
                    );
                }
            }
        }

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
        // RFC 4724 §4.1: End-of-RIB for every family once the initial
        // update is sent — peers such as Cilium hold back their routes
        // until they see ours.
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let ctx = peer.sessions[si].ctx;
        for f in neg.families {
            send(
                &mut self.actions,
                &mut peer.counters,
                conn,
                &Message::Update(UpdateRepr::end_of_rib_marker(f)),
                &ctx,
            );
            peer.sessions[si].eor_sent[f.index()] = true;
            peer.eor_sent.push(f);
        }
        peer.sessions[si].restart_keepalive_timer(now);
    }

    /// Send our configured networks of `family` with next-hop self.
    fn export_family(&mut self, pi: usize, conn: ConnId, family: Family) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let s = &peer.sessions[si];
        let (Some(local), Some(neg)) = (s.local, s.negotiated.as_ref()) else {
            return;
        };
        let ctx = s.ctx;
        let nets: Vec<IpNet> = self
            .cfg
            .networks
            .iter()
            .copied()
            .filter(|n| Family::of(n) == family)
            .collect();
        if nets.is_empty() {
            return;
        }
        // Next-hop self needs a local address of the family; an IPv6 network
        // over an IPv4 session (or the reverse) would need RFC 8950.
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            // RFC 4271 §5.1.2: to an external peer we prepend our AS; to an
            // internal peer the AS_PATH of a locally originated route is empty.
            as_path: Some(if neg.ebgp {
                AsPath::sequence(vec![self.cfg.local_as])
            } else {
                AsPath::default()
            }),
            local_pref: (!neg.ebgp).then_some(DEFAULT_LOCAL_PREF),
            ..Default::default()
        };
        let mut sent = 0u64;
        match (family, local) {
            (Family::Ipv4Unicast, IpAddr::V4(l)) => {
                for chunk in nets.chunks(EXPORT_CHUNK_V4) {
                    let mut a = attrs.clone();
                    a.next_hop = Some(l);
                    let u = UpdateRepr {
                        attrs: a,
                        nlri: chunk.to_vec(),
                        ..Default::default()
                    };
                    send(
                        &mut self.actions,
                        &mut peer.counters,
                        conn,
                        &Message::Update(u),
                        &ctx,
                    );
                    sent += chunk.len() as u64;
                }
            }
            (Family::Ipv6Unicast, IpAddr::V6(l)) => {
                for chunk in nets.chunks(EXPORT_CHUNK_V6) {
                    let mp = MpReach {
                        family,
                        next_hop: IpAddr::V6(l),
                        link_local: None,
                        nlri: chunk.to_vec(),
                    };
                    let u = UpdateRepr {
                        attrs: attrs.clone(),
                        mp_reach: Some(mp),
                        ..Default::default()
                    };
                    send(
                        &mut self.actions,
                        &mut peer.counters,
                        conn,
                        &Message::Update(u),
                        &ctx,
                    );
                    sent += chunk.len() as u64;
                }
            }
            _ => {
                debug!(peer = %peer.address, ?family, "bgp: no next-hop-self address of this family; networks not sent")
            }
        }
        peer.prefixes_sent += sent;
    }

    fn handle_route_refresh(&mut self, pi: usize, conn: ConnId, r: RouteRefreshRepr) {
        let Some(peer) = self.peers[pi].as_ref() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        // RFC 2918 §4: a request for an AFI/SAFI not negotiated is ignored.
        let Some(f) = Family::from_afi_safi(r.afi, r.safi) else {
            return;
        };
        if !peer.sessions[si]
            .negotiated
            .as_ref()
            .is_some_and(|n| n.has_family(f))
        {
            return;
        }
        // Re-send the Adj-RIB-Out (our networks) for the family.
        if let Some(p) = self.peers[pi].as_mut() {
            p.prefixes_sent = p.prefixes_sent.saturating_sub(
                self.cfg
                    .networks
                    .iter()
                    .filter(|n| Family::of(n) == f)
                    .count() as u64,
            );
        }
        self.export_family(pi, conn, f);
    }

    fn handle_update(&mut self, pi: usize, conn: ConnId, u: UpdateRepr, now: Instant) {
        let local_as = self.cfg.local_as;
        let router_id = self.cfg.router_id;
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let Some(neg) = peer.sessions[si].negotiated.clone() else {
            return;
        };
        let local = peer.sessions[si].local;
        let id = peer.id;

        for d in &u.discarded {
            debug!(peer = %peer.address, error = %d, "bgp: attribute discarded");
        }
        if let Some(f) = u.end_of_rib() {
            debug!(peer = %peer.address, family = ?f, "bgp: End-of-RIB received");
            peer.sessions[si].eor_received[f.index()] = true;
            if !peer.eor_received.contains(&f) {
                peer.eor_received.push(f);
            }
            // RFC 4724 §4.2: on End-of-RIB, "immediately remove all routes
            // from the peer that are still marked as stale" for the family.
            if peer.stale_families.contains(&f) {
                self.purge_stale(pi, Some(f));
            }
            return;
        }

        // Withdrawals.
        if neg.has_family(Family::Ipv4Unicast) {
            for p in &u.withdrawn {
                self.rib.withdraw(id, *p);
            }
        }
        if let Some(un) = &u.mp_unreach {
            if neg.has_family(un.family) {
                for p in &un.withdrawn {
                    self.rib.withdraw(id, *p);
                }
            }
        }

        // Announcements: (next hop, link-local next hop, prefixes) for the
        // IPv4 NLRI field and for MP_REACH_NLRI.
        let mut groups: Vec<(IpAddr, Option<std::net::Ipv6Addr>, &[IpNet])> = Vec::new();
        if !u.nlri.is_empty() && neg.has_family(Family::Ipv4Unicast) {
            // Without NEXT_HOP the UPDATE is treat-as-withdraw (RFC 7606
            // §3 d), so the placeholder never reaches the RIB.
            let nh = u.attrs.next_hop.unwrap_or(Ipv4Addr::UNSPECIFIED);
            groups.push((IpAddr::V4(nh), None, &u.nlri));
        }
        if let Some(mp) = &u.mp_reach {
            if neg.has_family(mp.family) && !mp.nlri.is_empty() {
                groups.push((mp.next_hop, mp.link_local, &mp.nlri));
            }
        }
        if groups.is_empty() {
            return;
        }

        // Reasons to handle the announcements as withdrawals.
        let withdraw_reason: Option<String> = if let Some(e) = &u.treat_as_withdraw {
            // RFC 7606 treat-as-withdraw (section cited in the error).
            Some(e.to_string())
        } else if u
            .attrs
            .as_path
            .as_ref()
            .is_some_and(|p| p.contains(local_as))
        {
            // RFC 4271 §9.1.2: a route whose AS_PATH contains our own AS is
            // a loop and is excluded.
            Some(format!("AS_PATH contains our AS {local_as}"))
        } else {
            None
        };
        let peer_addr = peer.address;
        let import = peer.cfg.import.clone();
        let max_prefix = peer.cfg.max_prefix;
        if let Some(r) = &withdraw_reason {
            debug!(peer = %peer_addr, reason = %r, "bgp: UPDATE handled as withdraw");
        }
        for (nh, ll, nlri) in groups {
            // RFC 4271 §6.3 / §5.1.3: a NEXT_HOP that is the receiving
            // speaker's own address is semantically incorrect; the route is ignored.
            let own_nh = Some(nh) == local || nh == IpAddr::V4(router_id);
            if withdraw_reason.is_some() || own_nh {
                if own_nh {
                    debug!(peer = %peer_addr, next_hop = %nh, "bgp: NEXT_HOP is our own address; routes ignored");
                }
                for p in nlri {
                    self.rib.withdraw(id, *p);
                }
                continue;
            }
            let attrs = self.rib.intern(RouteAttrs {
                attrs: u.attrs.clone(),
                next_hop: nh,
                link_local: ll,
            });
            for p in nlri {
                let filtered = import.as_ref().is_some_and(|f| !f.permits(p));
                self.rib.announce(id, *p, attrs.clone(), filtered);
            }
        }

        // Per-peer maximum prefix limit: RFC 4486 §4 Cease subcode 1, data
        // AFI, SAFI and the upper bound.
        if let Some(max) = max_prefix {
            let accepted = self.rib.stats(id).accepted;
            if accepted > u64::from(max) {
                warn!(peer = %peer_addr, accepted, max, "bgp: maximum prefix limit exceeded");
                let mut data = Vec::with_capacity(7);
                data.extend_from_slice(&crate::wire::AFI_IPV4.to_be_bytes());
                data.push(crate::wire::SAFI_UNICAST);
                data.extend_from_slice(&max.to_be_bytes());
                let n = cease_with(CEASE_MAX_PREFIXES, data, true, Some(&neg));
                let reason = DownReason::NotificationSent {
                    notification: n.clone(),
                    hard: true,
                };
                self.drop_session(pi, conn, Some(n), Some(reason), now);
            }
        }
    }

    // ------------------------------------------------------------------
    // Views

    fn peer_summary(&self, peer: &Peer, now: Instant) -> PeerSummary {
        let st = self.rib.stats(peer.id);
        PeerSummary {
            address: peer.address,
            remote_as: peer.last_negotiated.as_ref().map(|n| n.peer_as).or(
                match peer.cfg.remote_as {
                    crate::config::RemoteAs::Number(n) => Some(n),
                    crate::config::RemoteAs::Internal => Some(self.cfg.local_as),
                    crate::config::RemoteAs::External => None,
                },
            ),
            state: peer.state(),
            dynamic: peer.dynamic,
            group: peer.cfg.group.clone(),
            description: peer.cfg.description.clone(),
            up_down_secs: Some((now - peer.last_change).as_secs()),
            prefixes_received: st.received,
            prefixes_accepted: st.accepted,
            prefixes_sent: peer.prefixes_sent,
            messages_in: peer.counters.total_in(),
            messages_out: peer.counters.total_out(),
        }
    }

    pub fn summary(&self, now: Instant) -> Summary {
        let mut peers: Vec<PeerSummary> = self
            .peers
            .iter()
            .flatten()
            .map(|p| self.peer_summary(p, now))
            .collect();
        peers.sort_by_key(|p| p.address);
        Summary {
            router_id: self.cfg.router_id,
            local_as: self.cfg.local_as,
            loc_rib_prefixes: self.rib.prefix_count(),
            peers,
        }
    }

    pub fn neighbors(&self, now: Instant, filter: Option<IpAddr>) -> Vec<NeighborDetail> {
        let mut out: Vec<NeighborDetail> = self
            .peers
            .iter()
            .flatten()
            .filter(|p| filter.is_none_or(|a| a == p.address))
            .map(|p| {
                let est = p.established();
                let neg = est.and_then(|s| s.negotiated.as_ref());
                NeighborDetail {
                    summary: self.peer_summary(p, now),
                    local_address: est.and_then(|s| s.local).or(p.last_local),
                    remote_router_id: neg.map(|n| n.peer_id),
                    configured_hold_time: p.cfg.hold_time,
                    hold_time: neg.map(|n| n.hold_time),
                    keepalive: neg.map(|n| n.keepalive),
                    connect_retry_secs: p.cfg.connect_retry,
                    passive: p.cfg.passive || p.dynamic,
                    max_prefix: p.cfg.max_prefix,
                    capabilities: neg.map(|n| NegotiatedView {
                        families: n.families.clone(),
                        four_octet_as: n.four_octet_as,
                        route_refresh: n.route_refresh,
                        extended_message: n.extended_message,
                        graceful_restart: n.gr.is_some(),
                        gr_notification: n.gr.as_ref().is_some_and(|g| g.notification),
                        peer_unknown_capabilities: n.peer_unknown_capabilities.clone(),
                    }),
                    graceful_restart: GrView {
                        peer_restart_time: p
                            .last_negotiated
                            .as_ref()
                            .and_then(|n| n.gr.as_ref())
                            .map(|g| g.restart_time),
                        stale_routes: self.rib.stats(p.id).stale,
                        stale_purge_in_secs: p.stale_deadline.map(|d| (d - now).as_secs()),
                        end_of_rib_received: p.eor_received.clone(),
                        end_of_rib_sent: p.eor_sent.clone(),
                    },
                    last_error: p.last_error.clone(),
                    counters: p.counters.clone(),
                    established_transitions: p.established_transitions,
                }
            })
            .collect();
        out.sort_by_key(|d| d.summary.address);
        out
    }

    /// Loc-RIB paths, all prefixes or the one given (exact match, else the
    /// longest prefix containing it).
    pub fn routes(&self, prefix: Option<IpNet>) -> Vec<RouteView> {
        let mut prefixes = self.rib.prefixes();
        for n in &self.cfg.networks {
            if !prefixes.contains(n) {
                prefixes.push(*n);
            }
        }
        prefixes.sort();
        if let Some(want) = prefix {
            let exact = prefixes.iter().find(|p| **p == want).copied();
            let chosen = exact.or_else(|| {
                prefixes
                    .iter()
                    .filter(|p| p.contains(&want))
                    .max_by_key(|p| p.prefix_len())
                    .copied()
            });
            prefixes = chosen.into_iter().collect();
        }
        prefixes.into_iter().map(|p| self.route_view(p)).collect()
    }

    fn route_view(&self, prefix: IpNet) -> RouteView {
        let mut paths: Vec<PathView> = Vec::new();
        if self.cfg.networks.contains(&prefix) {
            paths.push(PathView {
                peer: None,
                next_hop: match prefix {
                    IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpNet::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                },
                best: false,
                multipath: false,
                stale: false,
                reachable: true,
                filtered: false,
                ebgp: false,
                origin: Origin::Igp.to_string(),
                as_path: String::new(),
                med: None,
                local_pref: None,
                communities: Vec::new(),
                large_communities: Vec::new(),
            });
        }
        for (p, best, multipath) in self.rib.paths_of(&prefix) {
            let info = self.rib.peer_info(p.peer);
            let a = &p.attrs.attrs;
            paths.push(PathView {
                peer: info.map(|i| i.address),
                next_hop: p.attrs.next_hop,
                best,
                multipath,
                stale: p.stale(),
                reachable: self.rib.nexthop_reachable(p.attrs.next_hop),
                filtered: p.filtered(),
                ebgp: info.is_some_and(|i| i.ebgp),
                origin: a.origin.map_or_else(|| "?".to_string(), |o| o.to_string()),
                as_path: a
                    .as_path
                    .as_ref()
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
                med: a.med,
                local_pref: a.local_pref,
                communities: a
                    .communities
                    .iter()
                    .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                    .collect(),
                large_communities: a
                    .large_communities
                    .iter()
                    .map(|c| format!("{}:{}:{}", c[0], c[1], c[2]))
                    .collect(),
            });
        }
        RouteView { prefix, paths }
    }

    /// Number of prefixes in the Loc-RIB.
    pub fn loc_rib_len(&self) -> usize {
        self.rib.prefix_count()
    }

    /// The next hops currently installed for `prefix` (tests, views).
    pub fn installed(&self, prefix: &IpNet) -> Vec<IpAddr> {
        self.rib.installed(prefix)
    }

    /// Drop attribute sets no route uses any more (call after big withdrawals).
    pub fn compact(&mut self) {
        self.rib.gc_interned();
    }
}

/// A Cease NOTIFICATION; with `hard` and the RFC 8538 N bit negotiated it
/// is wrapped in a Hard Reset (subcode 9, data = inner code, subcode, data).
/// RFC 8538 §5 requires Hard Reset for Maximum Number of Prefixes Reached,
/// Administrative Shutdown, Peer De-configured and Administrative Reset;
/// the other Cease subcodes (e.g. collision resolution) stay plain.
fn cease(sub: u8, hard: bool, neg: Option<&Negotiated>) -> NotificationRepr {
    cease_with(sub, Vec::new(), hard, neg)
}

fn cease_with(sub: u8, data: Vec<u8>, hard: bool, neg: Option<&Negotiated>) -> NotificationRepr {
    let n_bit = neg
        .and_then(|n| n.gr.as_ref())
        .is_some_and(|g| g.notification);
    if hard && n_bit {
        // RFC 8538 §3: "the Hard Reset ... data field: the encapsulated
        // NOTIFICATION's error code, subcode and data".
        let mut d = vec![6, sub];
        d.extend_from_slice(&data);
        NotificationRepr {
            code: 6,
            subcode: CEASE_HARD_RESET,
            data: d,
        }
    } else {
        NotificationRepr {
            code: 6,
            subcode: sub,
            data,
        }
    }
}
