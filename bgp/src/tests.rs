//! Speakers wired back to back in memory, under simulated time.
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::config::*;
use crate::speaker::{Action, ConnId, RouteChange, Speaker};
use crate::time::Instant;
use crate::view::SessionState;
use crate::wire::{
    Capability, DecodeContext, Framer, GrFamily, Message, NotificationRepr, OpenRepr, Origin,
    PathAttributes, UpdateRepr,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A simulated network of speakers, each with one address. TCP is
/// modelled as instant, lossless delivery unless a link is cut.
struct Sim {
    now: Instant,
    nodes: Vec<(IpAddr, Speaker)>,
    /// (node, conn) -> (node, conn)
    links: HashMap<(usize, ConnId), (usize, ConnId)>,
    /// Links whose traffic is silently dropped (cable cut).
    cut: Vec<(usize, usize)>,
    /// Route changes seen per node, in order.
    changes: Vec<Vec<RouteChange>>,
    /// NOTIFICATIONs sent per node.
    notifications: Vec<Vec<NotificationRepr>>,
    /// Nodes that refuse TCP connections (like Cilium, which never listens).
    no_listen: Vec<usize>,
    /// (node, conn) of every connection a node initiated.
    initiated: Vec<(usize, ConnId)>,
    /// Every message delivered: (from node, to node, message).
    log: Vec<(usize, usize, Message)>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            now: Instant::from_secs(1000),
            nodes: Vec::new(),
            links: HashMap::new(),
            cut: Vec::new(),
            changes: Vec::new(),
            notifications: Vec::new(),
            no_listen: Vec::new(),
            initiated: Vec::new(),
            log: Vec::new(),
        }
    }

    fn add(&mut self, addr: &str, cfg: SpeakerConfig) -> usize {
        self.nodes
            .push((ip(addr), Speaker::new(cfg, self.now).unwrap()));
        self.changes.push(Vec::new());
        self.notifications.push(Vec::new());
        self.nodes.len() - 1
    }

    fn node_by_addr(&self, a: IpAddr) -> Option<usize> {
        self.nodes.iter().position(|(x, _)| *x == a)
    }

    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a, b)) || self.cut.contains(&(b, a))
    }

    /// Deliver actions until nothing moves.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(a) = self.nodes[i].1.poll_action() {
                    moved = true;
                    self.apply(i, a);
                }
                let ch = self.nodes[i].1.take_route_changes();
                self.changes[i].extend(ch);
            }
            if !moved {
                return;
            }
        }
        panic!("simulation did not settle");
    }

    fn apply(&mut self, i: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Connect { conn, remote, .. } => {
                self.initiated.push((i, conn));
                let local = self.nodes[i].0;
                match self.node_by_addr(remote) {
                    Some(j) if !self.no_listen.contains(&j) && !self.is_cut(i, j) => {
                        match self.nodes[j].1.accept_inbound(local, remote, now) {
                            Some(c2) => {
                                self.links.insert((i, conn), (j, c2));
                                self.links.insert((j, c2), (i, conn));
                                self.nodes[i].1.connected(conn, local, now);
                            }
                            None => self.nodes[i].1.closed(conn, now),
                        }
                    }
                    _ => self.nodes[i].1.closed(conn, now),
                }
            }
            Action::Send { conn, data } => {
                // Record NOTIFICATIONs for assertions.
                let mut f = Framer::new();
                f.set_max_len(65535);
                f.push(&data);
                while let Some(Ok(m)) = f.next_message() {
                    if let Ok(Message::Notification(n)) =
                        Message::parse(&m, &DecodeContext::default())
                    {
                        self.notifications[i].push(n);
                    }
                }
                if let Some(&(j, c2)) = self.links.get(&(i, conn)) {
                    if !self.is_cut(i, j) {
                        // Every speaker here negotiates 4-octet AS numbers.
                        let ctx = DecodeContext {
                            four_octet_as: true,
                            ebgp: false,
                            peer_as: 0,
                            max_message_len: 65535,
                            extended_next_hop_v4: false,
                        };
                        let mut f = Framer::new();
                        f.set_max_len(65535);
                        f.push(&data);
                        while let Some(Ok(m)) = f.next_message() {
                            if let Ok(m) = Message::parse(&m, &ctx) {
                                self.log.push((i, j, m));
                            }
                        }
                        self.nodes[j].1.receive(c2, &data, now);
                    }
                }
            }
            Action::Close { conn } => {
                if let Some((j, c2)) = self.links.remove(&(i, conn)) {
                    self.links.remove(&(j, c2));
                    if !self.is_cut(i, j) {
                        self.nodes[j].1.closed(c2, now);
                    }
                }
            }
        }
    }

    /// Advance simulated time by `d`, running timers as they fall due.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.pump();
        for _ in 0..100_000 {
            let next = self.nodes.iter().filter_map(|(_, s)| s.poll_at()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    for i in 0..self.nodes.len() {
                        let now = self.now;
                        self.nodes[i].1.poll(now);
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
        for i in 0..self.nodes.len() {
            let now = self.now;
            self.nodes[i].1.poll(now);
        }
        self.pump();
    }

    fn state(&self, i: usize, peer: &str) -> SessionState {
        let s = self.nodes[i].1.summary(self.now);
        s.peers
            .iter()
            .find(|p| p.address == ip(peer))
            .map(|p| p.state)
            .unwrap_or(SessionState::Idle)
    }

    /// Kill the TCP connection between two nodes as an RST would: both
    /// sides see `closed`, no NOTIFICATION.
    fn reset_tcp(&mut self, a: usize, b: usize) {
        let pairs: Vec<((usize, ConnId), (usize, ConnId))> = self
            .links
            .iter()
            .filter(|((x, _), (y, _))| *x == a && *y == b)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (k, v) in pairs {
            self.links.remove(&k);
            self.links.remove(&v);
            let now = self.now;
            self.nodes[k.0].1.closed(k.1, now);
            self.nodes[v.0].1.closed(v.1, now);
        }
        self.pump();
    }

    /// The router (192.168.10.200, configured with the neighbour
    /// 192.168.10.100) and one Cilium-like node at that address announcing
    /// `networks`.
    fn router_and_node(router: SpeakerConfig, networks: &[&str]) -> (Sim, usize, usize) {
        let mut sim = Sim::new();
        let r = sim.add(
            "192.168.10.200",
            with_neighbors(router, &["192.168.10.100"]),
        );
        let n1 = sim.add("192.168.10.100", node_cfg("192.168.10.100", networks));
        (sim, r, n1)
    }

    /// The next hops node `i` has installed for `prefix` (from its route changes).
    fn route(&self, i: usize, prefix: &str) -> Option<Vec<IpAddr>> {
        last_nh(&self.changes[i], net(prefix))
    }

    fn neighbor(&self, i: usize, peer: &str) -> Vec<crate::view::NeighborDetail> {
        self.nodes[i].1.neighbors(self.now, Some(ip(peer)))
    }

    /// Whether node `i` sent a NOTIFICATION with this (code, subcode).
    fn sent_notification(&self, i: usize, code_subcode: (u8, u8)) -> bool {
        self.notifications[i]
            .iter()
            .any(|n| (n.code, n.subcode) == code_subcode)
    }
}

fn router_cfg() -> SpeakerConfig {
    SpeakerConfig {
        local_as: 65000,
        router_id: "192.168.10.200".parse().unwrap(),
        networks: vec![net("10.10.1.0/24")],
        maximum_paths: 4,
        multipath_relax: true,
        graceful_restart: GracefulRestartConfig {
            enabled: true,
            ..Default::default()
        },
        groups: vec![GroupConfig {
            name: "CILIUM".into(),
            remote_as: Some(RemoteAs::External),
            hold_time: Some(9),
            keepalive: Some(3),
            ..Default::default()
        }],
        neighbors: vec![],
        listen_ranges: vec![],
    }
}

fn with_neighbors(mut cfg: SpeakerConfig, addrs: &[&str]) -> SpeakerConfig {
    for a in addrs {
        cfg.neighbors.push(NeighborConfig {
            group: Some("CILIUM".into()),
            ..NeighborConfig::new(ip(a))
        });
    }
    cfg
}

/// A Cilium-like node: AS 65001, hold 9, GR 15 s with N bit, announces
/// `networks`, peers with the router and never listens.
fn node_cfg(id: &str, networks: &[&str]) -> SpeakerConfig {
    SpeakerConfig {
        local_as: 65001,
        router_id: id.parse().unwrap(),
        networks: networks.iter().map(|n| net(n)).collect(),
        maximum_paths: 1,
        multipath_relax: false,
        graceful_restart: GracefulRestartConfig {
            enabled: true,
            restart_time: 15,
            ..Default::default()
        },
        groups: vec![],
        neighbors: vec![NeighborConfig {
            remote_as: Some(RemoteAs::Number(65000)),
            hold_time: Some(9),
            keepalive: Some(3),
            connect_retry: Some(5),
            ..NeighborConfig::new(ip("192.168.10.200"))
        }],
        listen_ranges: vec![],
    }
}

fn last_nh(changes: &[RouteChange], prefix: IpNet) -> Option<Vec<IpAddr>> {
    let mut cur = None;
    for c in changes {
        match c {
            RouteChange::Replace {
                prefix: p,
                next_hops,
            } if *p == prefix => cur = Some(next_hops.iter().map(|h| h.addr).collect()),
            RouteChange::Remove(p) if *p == prefix => cur = None,
            _ => {}
        }
    }
    cur
}

#[test]
fn lab_session_routes_and_ecmp() {
    let mut sim = Sim::new();
    let r = sim.add(
        "192.168.10.200",
        with_neighbors(router_cfg(), &["192.168.10.100", "192.168.10.101"]),
    );
    let n1 = sim.add(
        "192.168.10.100",
        node_cfg("192.168.10.100", &["172.20.0.0/24", "172.16.1.1/32"]),
    );
    let n2 = sim.add(
        "192.168.10.101",
        node_cfg("192.168.10.101", &["172.20.1.0/24", "172.16.1.1/32"]),
    );
    sim.no_listen = vec![n1, n2];
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    assert_eq!(sim.state(r, "192.168.10.101"), SessionState::Established);
    assert_eq!(sim.state(n1, "192.168.10.200"), SessionState::Established);
    let ch = &sim.changes[r];
    assert_eq!(
        last_nh(ch, net("172.20.0.0/24")),
        Some(vec![ip("192.168.10.100")])
    );
    assert_eq!(
        last_nh(ch, net("172.20.1.0/24")),
        Some(vec![ip("192.168.10.101")])
    );
    // The Service /32 from both nodes is one ECMP route.
    assert_eq!(
        last_nh(ch, net("172.16.1.1/32")),
        Some(vec![ip("192.168.10.100"), ip("192.168.10.101")])
    );
    // The nodes learned our network with next-hop self and AS_PATH [65000].
    assert_eq!(
        sim.route(n1, "10.10.1.0/24"),
        Some(vec![ip("192.168.10.200")])
    );
    let rv = sim.nodes[n1].1.routes(Some(net("10.10.1.0/24")), sim.now);
    assert_eq!(
        rv[0]
            .paths
            .iter()
            .find(|p| p.peer.is_some())
            .unwrap()
            .as_path,
        "65000"
    );
    // Views.
    let s = sim.nodes[r].1.summary(sim.now);
    assert_eq!(s.peers.len(), 2);
    assert_eq!(s.peers[0].prefixes_received, 2);
    assert_eq!(s.peers[0].prefixes_sent, 1);
    let d = sim.neighbor(r, "192.168.10.100");
    assert_eq!(d[0].hold_time, Some(9));
    assert_eq!(d[0].keepalive, Some(3));
    assert_eq!(
        d[0].graceful_restart.end_of_rib_received,
        vec![Family::Ipv4Unicast, Family::Ipv6Unicast]
    );
    let routes = sim.nodes[r].1.routes(Some(net("172.16.1.1/32")), sim.now);
    assert_eq!(routes[0].paths.iter().filter(|p| p.multipath).count(), 2);
    assert_eq!(routes[0].paths.iter().filter(|p| p.best).count(), 1);
    serde_json_like(&s);

    // Keepalives keep the session up for a long time.
    sim.advance(Duration::from_secs(120));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    assert!(
        sim.notifications.iter().all(|n| n.is_empty()),
        "{:?}",
        sim.notifications
    );
}

/// Views must serialise (the control socket prints them as JSON).
fn serde_json_like<T: serde::Serialize>(_v: &T) {}

#[test]
fn withdraw_removes_route() {
    let (mut sim, r, n1) = Sim::router_and_node(router_cfg(), &["172.20.0.0/24"]);
    sim.advance(Duration::from_secs(1));
    assert!(sim.route(r, "172.20.0.0/24").is_some());
    // The node withdraws by sending an UPDATE directly on its connection.
    let (&(_, conn), _) = sim.links.iter().find(|((i, _), _)| *i == n1).unwrap();
    let u = UpdateRepr {
        withdrawn: vec![net("172.20.0.0/24")],
        ..Default::default()
    };
    let bytes = Message::Update(u).to_bytes(&DecodeContext::default());
    let (j, c2) = sim.links[&(n1, conn)];
    let now = sim.now;
    sim.nodes[j].1.receive(c2, &bytes, now);
    sim.pump();
    assert_eq!(sim.route(r, "172.20.0.0/24"), None);
    assert_eq!(
        sim.changes[r].last(),
        Some(&RouteChange::Remove(net("172.20.0.0/24")))
    );
}

#[test]
fn collision_keeps_one_session() {
    // Both sides connect actively at the same time.
    let (mut sim, r, n1) = Sim::router_and_node(router_cfg(), &["172.20.0.0/24"]);
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    assert_eq!(sim.state(n1, "192.168.10.200"), SessionState::Established);
    // Exactly one connection pair survives; the loser got Cease/7.
    assert_eq!(sim.links.len(), 2);
    let cease7 = sim
        .notifications
        .iter()
        .flatten()
        .filter(|n| (n.code, n.subcode) == (6, 7))
        .count();
    assert!(cease7 >= 1);
    // RFC 4271 §6.8: the connection initiated by the higher identifier
    // (the router, 192.168.10.200 > 192.168.10.100) is the one kept.
    let (&(i, c), &(j, c2)) = sim.links.iter().next().unwrap();
    let router_end = if i == r { (i, c) } else { (j, c2) };
    assert!(
        sim.initiated.contains(&router_end),
        "router's outbound connection survives"
    );
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    assert_eq!(
        sim.route(r, "172.20.0.0/24"),
        Some(vec![ip("192.168.10.100")])
    );
}

#[test]
fn hold_timer_expiry_and_gr_with_n_bit() {
    let (mut sim, r, n1) = Sim::router_and_node(router_cfg(), &["172.20.0.0/24"]);
    sim.no_listen = vec![n1];
    sim.advance(Duration::from_secs(1));
    assert!(sim.route(r, "172.20.0.0/24").is_some());
    // Cut the cable: no FIN, no RST, nothing.
    sim.cut.push((r, n1));
    sim.advance(Duration::from_secs(7));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    sim.advance(Duration::from_secs(3));
    // 9 s hold expired: NOTIFICATION 4/0 sent...
    assert!(sim.sent_notification(r, (4, 0)));
    assert_ne!(sim.state(r, "192.168.10.100"), SessionState::Established);
    // ...but with the N bit negotiated the routes stay, stale (RFC 8538).
    assert!(sim.route(r, "172.20.0.0/24").is_some());
    let d = sim.neighbor(r, "192.168.10.100");
    assert_eq!(d[0].graceful_restart.stale_routes, 1);
    // Restart time (15 s) passes without the peer: purged.
    sim.advance(Duration::from_secs(16));
    assert_eq!(sim.route(r, "172.20.0.0/24"), None);
}

#[test]
fn hold_timer_expiry_without_gr_removes_routes() {
    let mut rc = router_cfg();
    rc.graceful_restart.enabled = false;
    let (mut sim, r, n1) = Sim::router_and_node(rc, &["172.20.0.0/24"]);
    sim.advance(Duration::from_secs(1));
    sim.cut.push((r, n1));
    sim.advance(Duration::from_secs(10));
    assert!(sim.sent_notification(r, (4, 0)));
    assert_eq!(sim.route(r, "172.20.0.0/24"), None);
}

#[test]
fn graceful_restart_stale_then_eor_purge() {
    let (mut sim, r, n1) = Sim::router_and_node(router_cfg(), &["172.20.0.0/24", "172.20.9.0/24"]);
    sim.no_listen = vec![n1];
    sim.advance(Duration::from_secs(1));
    let before = sim.changes[r].len();
    // The node's agent dies: its kernel resets the TCP connection.
    sim.reset_tcp(n1, r);
    assert_ne!(sim.state(r, "192.168.10.100"), SessionState::Established);
    // Routes kept (no FIB change at all).
    assert_eq!(sim.changes[r].len(), before);
    let d = sim.neighbor(r, "192.168.10.100");
    assert_eq!(d[0].graceful_restart.stale_routes, 2);
    // The agent comes back announcing only one of the two prefixes, and
    // with the forwarding bit set so stale routes wait for its EoR.
    let mut cfg = node_cfg("192.168.10.100", &["172.20.0.0/24"]);
    cfg.graceful_restart.restart_time = 15;
    sim.nodes[n1].1 = Speaker::new(cfg, sim.now).unwrap();
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    // Our GR capability says F=0, so the router — being the receiving
    // speaker for a peer with F=0 — deleted stale routes at re-establishment
    // (RFC 4724 §4.2); then the re-announced prefix came back.
    assert_eq!(
        sim.route(r, "172.20.0.0/24"),
        Some(vec![ip("192.168.10.100")])
    );
    assert_eq!(sim.route(r, "172.20.9.0/24"), None);
}

/// A hand-driven peer: the test writes raw bytes, reads the speaker's.
struct RawPeer {
    sp: Speaker,
    conn: ConnId,
    now: Instant,
    out: Framer,
    ctx: DecodeContext,
    closed: bool,
}

impl RawPeer {
    fn new(cfg: SpeakerConfig, remote: &str, open: OpenRepr) -> RawPeer {
        let now = Instant::from_secs(10);
        let mut sp = Speaker::new(cfg, now).unwrap();
        let conn = sp
            .accept_inbound(ip(remote), ip("192.168.10.200"), now)
            .expect("accepted");
        let mut p = RawPeer {
            sp,
            conn,
            now,
            out: Framer::new(),
            ctx: DecodeContext::default(),
            closed: false,
        };
        p.drain();
        p.send(&Message::Open(open));
        p.send(&Message::Keepalive);
        p
    }

    fn send(&mut self, m: &Message) {
        let b = m.to_bytes(&self.ctx);
        self.send_raw(&b);
    }

    fn send_raw(&mut self, b: &[u8]) {
        let now = self.now;
        self.sp.receive(self.conn, b, now);
    }

    /// Messages the speaker sent since the last call.
    fn drain(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        self.out.set_max_len(65535);
        while let Some(a) = self.sp.poll_action() {
            match a {
                Action::Send { conn, data } if conn == self.conn => self.out.push(&data),
                Action::Close { conn } if conn == self.conn => self.closed = true,
                _ => {}
            }
        }
        while let Some(Ok(m)) = self.out.next_message() {
            out.push(Message::parse(&m, &DecodeContext::default()).unwrap());
        }
        out
    }

    /// The router with a listen range (`dyn_router`) and this peer, as
    /// 192.168.10.55, Established after `open`; the handshake is drained.
    fn established(open: OpenRepr) -> RawPeer {
        let mut p = RawPeer::new(dyn_router(), "192.168.10.55", open);
        p.drain();
        p
    }

    /// `established`, and 172.20.0.0/24 announced and installed.
    fn with_route(open: OpenRepr) -> RawPeer {
        let mut p = RawPeer::established(open);
        p.announce(&["172.20.0.0/24"]);
        assert_eq!(p.changes().len(), 1, "172.20.0.0/24 installed");
        p
    }

    /// Announce `prefixes` from AS 65001 with the peer as next hop.
    fn announce(&mut self, prefixes: &[&str]) {
        self.send(&update(prefixes, "192.168.10.55", vec![65001]));
    }

    fn changes(&mut self) -> Vec<RouteChange> {
        self.sp.take_route_changes()
    }

    fn state(&self) -> SessionState {
        self.sp.summary(self.now).peers[0].state
    }

    fn stale_routes(&self) -> u64 {
        self.sp.neighbors(self.now, None)[0]
            .graceful_restart
            .stale_routes
    }

    fn notification(&mut self) -> Option<(u8, u8)> {
        self.drain().into_iter().find_map(|m| {
            if let Message::Notification(n) = m {
                Some((n.code, n.subcode))
            } else {
                None
            }
        })
    }
}

fn dyn_router() -> SpeakerConfig {
    let mut c = router_cfg();
    c.listen_ranges.push(ListenRange {
        prefix: net("192.168.10.0/24"),
        group: "CILIUM".into(),
    });
    c.groups[0].max_prefix = Some(3);
    c
}

fn gobgp_like_open() -> OpenRepr {
    OpenRepr::new(
        65001,
        9,
        "192.168.10.100".parse().unwrap(),
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
            Capability::GracefulRestart {
                restarting: false,
                notification: true,
                restart_time: 15,
                families: vec![GrFamily {
                    afi: 1,
                    safi: 1,
                    forwarding_preserved: true,
                }],
            },
            Capability::Unknown {
                code: 73,
                data: vec![2, b'n', b'1', 0],
            },
        ],
    )
}

/// A speaker with `cfg` and an inbound connection from `remote` to
/// 192.168.10.200; the OPEN it sent is drained.
fn inbound(cfg: SpeakerConfig, remote: &str) -> (Speaker, ConnId, Instant) {
    let now = Instant::from_secs(10);
    let mut sp = Speaker::new(cfg, now).unwrap();
    let conn = sp
        .accept_inbound(ip(remote), ip("192.168.10.200"), now)
        .expect("accepted");
    while sp.poll_action().is_some() {}
    (sp, conn, now)
}

/// Everything the speaker sent since the last call, decoded with `ctx`
/// (undecodable messages end the list), and whether it closed a connection.
fn sent(sp: &mut Speaker, ctx: &DecodeContext) -> (Vec<Message>, bool) {
    let mut f = Framer::new();
    f.set_max_len(65535);
    let mut closed = false;
    while let Some(a) = sp.poll_action() {
        match a {
            Action::Send { data, .. } => f.push(&data),
            Action::Close { .. } => closed = true,
            Action::Connect { .. } => {}
        }
    }
    let mut msgs = Vec::new();
    while let Some(Ok(m)) = f.next_message() {
        match Message::parse(&m, ctx) {
            Ok(m) => msgs.push(m),
            Err(_) => break,
        }
    }
    (msgs, closed)
}

fn open_without_gr() -> OpenRepr {
    let mut open = gobgp_like_open();
    open.capabilities
        .retain(|c| !matches!(c, Capability::GracefulRestart { .. }));
    open
}

fn notification(code: u8, subcode: u8, data: Vec<u8>) -> Message {
    Message::Notification(NotificationRepr {
        code,
        subcode,
        data,
    })
}

fn update(prefixes: &[&str], nh: &str, path: Vec<u32>) -> Message {
    Message::Update(UpdateRepr {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(crate::wire::AsPath::sequence(path)),
            next_hop: Some(nh.parse().unwrap()),
            ..Default::default()
        },
        nlri: prefixes.iter().map(|p| net(p)).collect(),
        ..Default::default()
    })
}

#[test]
fn dynamic_neighbour_and_eor() {
    let mut p = RawPeer::new(dyn_router(), "192.168.10.55", gobgp_like_open());
    let msgs = p.drain();
    // (Our OPEN was drained already.) KEEPALIVE, our network, End-of-RIB
    // (IPv4, the only common family).
    assert!(matches!(msgs[0], Message::Keepalive));
    let Message::Update(u) = &msgs[1] else {
        panic!("{msgs:?}")
    };
    assert_eq!(u.nlri, vec![net("10.10.1.0/24")]);
    assert_eq!(u.attrs.next_hop, Some("192.168.10.200".parse().unwrap()));
    let Message::Update(eor) = &msgs[2] else {
        panic!()
    };
    assert_eq!(msgs.len(), 3);
    assert_eq!(eor.end_of_rib(), Some(Family::Ipv4Unicast));
    let s = p.sp.summary(p.now);
    assert!(s.peers[0].dynamic);
    assert_eq!(s.peers[0].state, SessionState::Established);
    // Outside every range: refused.
    assert!(p
        .sp
        .accept_inbound(ip("192.168.30.1"), ip("192.168.10.200"), p.now)
        .is_none());
}

#[test]
fn max_prefix_cease() {
    let mut p = RawPeer::established(gobgp_like_open());
    p.announce(&["172.20.0.0/24", "172.20.1.0/24", "172.20.2.0/24"]);
    assert_eq!(p.notification(), None);
    p.announce(&["172.20.3.0/24"]);
    // N bit negotiated: Cease/1 wrapped in a Hard Reset (RFC 8538).
    assert_eq!(p.notification(), Some((6, 9)));
    assert!(p.closed);
    // Hard reset: routes gone.
    assert!(p
        .changes()
        .iter()
        .any(|c| matches!(c, RouteChange::Remove(_))));
    assert_eq!(p.sp.loc_rib_len(), 0);
}

#[test]
fn max_prefix_cease_plain() {
    let open = open_without_gr();
    let mut p = RawPeer::established(open);
    p.announce(&[
        "172.20.0.0/24",
        "172.20.1.0/24",
        "172.20.2.0/24",
        "172.20.3.0/24",
    ]);
    assert_eq!(p.notification(), Some((6, 1)));
}

#[test]
fn loop_and_own_next_hop_rejected() {
    let mut p = RawPeer::established(gobgp_like_open());
    p.send(&update(
        &["172.20.0.0/24"],
        "192.168.10.55",
        vec![65001, 65000],
    ));
    p.send(&update(&["172.20.1.0/24"], "192.168.10.200", vec![65001]));
    assert_eq!(p.notification(), None);
    assert!(p.changes().is_empty());
    p.announce(&["172.20.2.0/24"]);
    assert_eq!(p.changes().len(), 1);
}

#[test]
fn import_filter() {
    let mut cfg = dyn_router();
    cfg.groups[0].import = Some(ImportFilter {
        allow: vec![PrefixRule {
            prefix: net("172.20.0.0/16"),
            ge: Some(24),
            le: Some(24),
        }],
    });
    let mut p = RawPeer::new(cfg, "192.168.10.55", gobgp_like_open());
    p.drain();
    p.announce(&["172.20.0.0/24", "10.0.0.0/8"]);
    let ch = p.changes();
    assert_eq!(
        ch,
        vec![RouteChange::Replace {
            prefix: net("172.20.0.0/24"),
            next_hops: vec![ip("192.168.10.55").into()]
        }]
    );
    let s = p.sp.summary(p.now);
    assert_eq!(
        (s.peers[0].prefixes_received, s.peers[0].prefixes_accepted),
        (2, 1)
    );
}

#[test]
fn route_refresh_resends() {
    let mut p = RawPeer::established(gobgp_like_open());
    p.send(&Message::RouteRefresh(crate::wire::RouteRefreshRepr {
        afi: 1,
        subtype: 0,
        safi: 1,
    }));
    let msgs = p.drain();
    assert!(matches!(&msgs[..], [Message::Update(u)] if u.nlri == vec![net("10.10.1.0/24")]));
    // Unknown family: ignored.
    p.send(&Message::RouteRefresh(crate::wire::RouteRefreshRepr {
        afi: 2,
        subtype: 0,
        safi: 1,
    }));
    assert!(p.drain().is_empty());
}

/// Each malformed input gets its RFC 7606 action or NOTIFICATION and
/// never panics.
#[test]
fn malformed_messages() {
    let good = update(&["172.20.0.0/24"], "192.168.10.55", vec![65001])
        .to_bytes(&DecodeContext::default());
    let with_attrs = |attrs: &[u8]| {
        let mut b = vec![0xff; 16];
        let nlri = [24u8, 172, 20, 0];
        b.extend_from_slice(&((23 + attrs.len() + nlri.len()) as u16).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(attrs);
        b.extend_from_slice(&nlri);
        b
    };
    const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
    const ASP: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
    const NH: [u8; 7] = [0x40, 3, 4, 192, 168, 10, 55];
    // (name, bytes, expected NOTIFICATION or None for treat-as-withdraw)
    let mut bad_marker = good.clone();
    bad_marker[0] = 0;
    let mut short_len = good.clone();
    short_len[17] = 18;
    let mut long_len = good.clone();
    long_len[16] = 0x20;
    let mut len_lt_update = vec![0xff; 16];
    len_lt_update.extend_from_slice(&[0, 21, 2, 0, 0]);
    type Case = (&'static str, Vec<u8>, Option<(u8, u8)>);
    let cases: Vec<Case> = vec![
        ("bad marker", bad_marker, Some((1, 1))),
        ("length below 19", short_len, Some((1, 2))),
        ("length above 4096", long_len, Some((1, 2))),
        ("UPDATE shorter than 23", len_lt_update, Some((1, 2))),
        (
            "attribute length overrun",
            with_attrs(&[&ORIGIN[..], &ASP, &[0x40, 3, 40, 1, 2, 3, 4]].concat()),
            None,
        ),
        (
            "bad ORIGIN",
            with_attrs(&[&[0x40, 1, 1, 9][..], &ASP, &NH].concat()),
            None,
        ),
        (
            "zero-length AS_PATH",
            with_attrs(&[&ORIGIN[..], &[0x40, 2, 0], &NH].concat()),
            None,
        ),
        (
            "AS 0 in AS_PATH (RFC 7607)",
            with_attrs(
                &[
                    &ORIGIN[..],
                    &[0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0],
                    &NH,
                ]
                .concat(),
            ),
            None,
        ),
        (
            "zero-length COMMUNITIES (RFC 7606 §7.8)",
            with_attrs(&[&ORIGIN[..], &ASP, &NH, &[0xc0, 8, 0]].concat()),
            None,
        ),
        (
            "short NEXT_HOP",
            with_attrs(&[&ORIGIN[..], &ASP, &[0x40, 3, 2, 1, 2]].concat()),
            None,
        ),
        (
            "truncated MP_REACH",
            with_attrs(&[&[0x80, 14, 4, 0, 2, 1, 16][..], &ORIGIN, &ASP, &NH].concat()),
            Some((3, 9)),
        ),
        (
            "unknown message type",
            {
                let mut b = good.clone();
                b[18] = 42;
                b
            },
            Some((1, 3)),
        ),
        (
            "OPEN in Established",
            Message::Open(gobgp_like_open()).to_bytes(&DecodeContext::default()),
            Some((5, 3)),
        ),
    ];
    for (name, bytes, expect) in cases {
        let mut p = RawPeer::established(gobgp_like_open());
        // First a good route so treat-as-withdraw has something to withdraw.
        p.send_raw(&good);
        assert_eq!(p.changes().len(), 1, "{name}");
        p.send_raw(&bytes);
        let got = p.notification();
        assert_eq!(got, expect, "{name}");
        if expect.is_none() {
            assert!(!p.closed, "{name}: session must stay up");
            assert_eq!(
                p.changes(),
                vec![RouteChange::Remove(net("172.20.0.0/24"))],
                "{name}"
            );
        } else {
            assert!(p.closed, "{name}: session must be closed");
        }
    }
}

#[test]
fn bad_open_notifications() {
    type Mangle = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Mangle, (u8, u8))> = vec![
        (
            "unsupported version",
            Box::new(|b: &mut Vec<u8>| b[19] = 3),
            (2, 1),
        ),
        (
            "bad peer AS (ours)",
            Box::new(|b: &mut Vec<u8>| {
                b[20] = 0xfd;
                b[21] = 0xe8;
            }),
            (2, 2),
        ),
        (
            "bad BGP identifier",
            Box::new(|b: &mut Vec<u8>| b[24..28].copy_from_slice(&[0, 0, 0, 0])),
            (2, 3),
        ),
        (
            "unacceptable hold time",
            Box::new(|b: &mut Vec<u8>| {
                b[22] = 0;
                b[23] = 2;
            }),
            (2, 6),
        ),
        (
            "bad capability length",
            Box::new(|b: &mut Vec<u8>| b[32] = 200),
            (2, 0),
        ),
    ];
    for (name, mangle, expect) in cases {
        let mut open = OpenRepr::new(
            65001,
            9,
            "192.168.10.100".parse().unwrap(),
            vec![Capability::RouteRefresh],
        );
        open.capabilities.clear();
        open.capabilities
            .push(Capability::Multiprotocol { afi: 1, safi: 1 });
        let mut b = Message::Open(open).to_bytes(&DecodeContext::default());
        mangle(&mut b);
        let (mut sp, conn, now) = inbound(dyn_router(), "192.168.10.55");
        sp.receive(conn, &b, now);
        let (msgs, closed) = sent(&mut sp, &DecodeContext::default());
        let Some(Message::Notification(n)) = msgs.first() else {
            panic!("{name}: {msgs:?}")
        };
        assert_eq!((n.code, n.subcode), expect, "{name}");
        assert!(closed, "{name}");
    }
}

/// RFC 7607 §2 through the whole speaker: an OPEN claiming AS 0 (in My AS,
/// or in the 4-octet AS capability behind AS_TRANS) gets OPEN Message
/// Error / Bad Peer AS and the connection is closed.
#[test]
fn as_zero_open_is_rejected() {
    // Version 4, My AS, hold 9, BGP Identifier 192.168.10.55, then the
    // optional parameters.
    let open = |my_as: [u8; 2], params: &[u8]| {
        let mut b = vec![0xff; 16];
        b.extend_from_slice(&((29 + params.len()) as u16).to_be_bytes());
        b.extend_from_slice(&[1, 4, my_as[0], my_as[1], 0, 9, 192, 168, 10, 55]);
        b.push(params.len() as u8);
        b.extend_from_slice(params);
        b
    };
    let cases = [
        ("My AS 0", open([0, 0], &[])),
        (
            "4-octet AS capability 0",
            open([0x5b, 0xa0], &[2, 6, 65, 4, 0, 0, 0, 0]),
        ),
    ];
    for (name, bytes) in cases {
        let (mut sp, conn, now) = inbound(dyn_router(), "192.168.10.55");
        sp.receive(conn, &bytes, now);
        let (msgs, closed) = sent(&mut sp, &DecodeContext::default());
        let Some(Message::Notification(n)) = msgs.first() else {
            panic!("{name}: {msgs:?}")
        };
        assert_eq!((n.code, n.subcode), (2, 2), "{name}");
        assert!(closed, "{name}");
    }
}

#[test]
fn unexpected_message_in_opensent_is_fsm_error() {
    let (mut sp, conn, now) = inbound(dyn_router(), "192.168.10.55");
    sp.receive(
        conn,
        &Message::Keepalive.to_bytes(&DecodeContext::default()),
        now,
    );
    let (msgs, _) = sent(&mut sp, &DecodeContext::default());
    assert_eq!(msgs.first(), Some(&notification(5, 1, vec![])));
}

#[test]
fn admin_shutdown_and_enable() {
    let (mut sim, r, n1) = Sim::router_and_node(router_cfg(), &["172.20.0.0/24"]);
    sim.no_listen = vec![n1];
    sim.advance(Duration::from_secs(1));
    let now = sim.now;
    assert!(sim.nodes[r].1.admin_shutdown(ip("192.168.10.100"), now));
    sim.pump();
    // Hard Reset (N bit) wrapping Cease/2; routes removed at once.
    assert!(sim.notifications[r]
        .iter()
        .any(|n| n.code == 6 && n.subcode == 9 && n.data[..2] == [6, 2]));
    assert_eq!(sim.route(r, "172.20.0.0/24"), None);
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Idle);
    let now = sim.now;
    sim.nodes[r].1.admin_enable(ip("192.168.10.100"), now);
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
}

#[test]
fn nexthop_resolver_gates_routes() {
    let mut p = RawPeer::established(gobgp_like_open());
    let reachable = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r2 = reachable.clone();
    p.sp.set_nexthop_resolver(Box::new(move |_| {
        r2.load(std::sync::atomic::Ordering::Relaxed)
    }));
    p.announce(&["172.20.0.0/24"]);
    assert!(p.changes().is_empty());
    reachable.store(true, std::sync::atomic::Ordering::Relaxed);
    let now = p.now;
    p.sp.revalidate_nexthops(now);
    assert_eq!(p.changes().len(), 1);
}

impl RawPeer {
    /// The peer's TCP connection dies; it reconnects and sends `open`.
    fn reconnect(&mut self, open: OpenRepr, close_old: bool) {
        let now = self.now;
        if close_old {
            self.sp.closed(self.conn, now);
        }
        self.conn = self
            .sp
            .accept_inbound(ip("192.168.10.55"), ip("192.168.10.200"), now)
            .expect("accepted");
        self.out = Framer::new();
        self.closed = false;
        self.drain();
        self.send(&Message::Open(open));
        self.send(&Message::Keepalive);
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        let now = self.now;
        self.sp.poll(now);
    }
}

fn eor_v4() -> Message {
    Message::Update(UpdateRepr::end_of_rib_marker(Family::Ipv4Unicast))
}

#[test]
fn gr_forwarding_bit_keeps_stale_until_eor() {
    let mut p = RawPeer::established(gobgp_like_open());
    p.announce(&["172.20.0.0/24", "172.20.9.0/24"]);
    p.send(&eor_v4());
    assert_eq!(p.changes().len(), 2);
    // TCP reset: routes kept as stale, no FIB change.
    p.reconnect(gobgp_like_open(), true);
    assert!(p.changes().is_empty());
    assert_eq!(p.state(), SessionState::Established);
    let d = p.sp.neighbors(p.now, None);
    assert_eq!(d[0].graceful_restart.stale_routes, 2);
    // Re-announce one; the other stays until End-of-RIB.
    p.announce(&["172.20.0.0/24"]);
    assert!(p.changes().is_empty());
    p.advance(Duration::from_secs(5));
    p.send(&eor_v4());
    assert_eq!(p.changes(), vec![RouteChange::Remove(net("172.20.9.0/24"))]);
    assert_eq!(p.stale_routes(), 0);
}

#[test]
fn a_paths_age_is_the_time_since_it_last_changed() {
    let mut p = RawPeer::with_route(gobgp_like_open());
    let age = |p: &RawPeer| p.sp.routes(Some(net("172.20.0.0/24")), p.now)[0].paths[0].age_secs;
    assert_eq!(age(&p), Some(0));
    let wait = |p: &mut RawPeer, secs: u32| {
        for _ in 0..secs {
            p.send(&Message::Keepalive);
            p.advance(Duration::from_secs(1));
        }
    };
    wait(&mut p, 40);
    assert_eq!(age(&p), Some(40));
    // The same route again changes nothing, and its age stays.
    p.announce(&["172.20.0.0/24"]);
    assert!(p.changes().is_empty());
    wait(&mut p, 20);
    assert_eq!(age(&p), Some(60));
    // A new AS path is a new route.
    p.send(&update(
        &["172.20.0.0/24"],
        "192.168.10.55",
        vec![65001, 65009],
    ));
    assert_eq!(age(&p), Some(0));
    assert_eq!(
        p.sp.routes(Some(net("172.20.0.0/24")), p.now)[0].paths[0].as_path,
        "65001 65009"
    );
}

#[test]
fn gr_stale_routes_time_bounds_missing_eor() {
    let mut p = RawPeer::with_route(gobgp_like_open());
    p.reconnect(gobgp_like_open(), true);
    // Keepalives from the peer keep the session up; no EoR ever comes.
    for _ in 0..130 {
        p.send(&Message::Keepalive);
        p.advance(Duration::from_secs(3));
    }
    // Default stale-routes time 360 s has passed.
    assert_eq!(p.changes(), vec![RouteChange::Remove(net("172.20.0.0/24"))]);
}

#[test]
fn gr_new_open_while_established_means_restart() {
    let mut p = RawPeer::with_route(gobgp_like_open());
    // The peer restarted; we never saw its old connection close.
    p.reconnect(gobgp_like_open(), false);
    assert_eq!(p.state(), SessionState::Established);
    assert!(p.changes().is_empty());
    assert_eq!(p.stale_routes(), 1);
    p.send(&eor_v4());
    assert_eq!(p.changes(), vec![RouteChange::Remove(net("172.20.0.0/24"))]);
}

#[test]
fn no_gr_new_open_while_established_is_rejected() {
    let open = open_without_gr();
    let mut p = RawPeer::established(open.clone());
    let old = p.conn;
    p.reconnect(open, false);
    // RFC 4271 §6.8: the new connection loses against the Established one.
    assert_eq!(p.notification(), Some((6, 7)));
    assert!(p.closed);
    let _ = old;
    assert_eq!(p.state(), SessionState::Established);
}

#[test]
fn gr_notification_received_with_n_bit_keeps_routes() {
    let mut p = RawPeer::with_route(gobgp_like_open());
    p.send(&notification(6, 4, vec![]));
    p.drain();
    assert!(p.closed);
    assert!(p.changes().is_empty());
    // A Hard Reset is not graceful.
    let mut p = RawPeer::with_route(gobgp_like_open());
    p.send(&notification(6, 9, vec![6, 2]));
    assert_eq!(p.changes(), vec![RouteChange::Remove(net("172.20.0.0/24"))]);
    // Dynamic neighbour without routes or connections is forgotten.
    assert!(p.sp.summary(p.now).peers.is_empty());
}

#[test]
fn gr_without_n_bit_notification_removes_routes() {
    let mut open = gobgp_like_open();
    for c in &mut open.capabilities {
        if let Capability::GracefulRestart { notification, .. } = c {
            *notification = false;
        }
    }
    let mut p = RawPeer::with_route(open);
    p.send(&notification(6, 4, vec![]));
    assert_eq!(p.changes(), vec![RouteChange::Remove(net("172.20.0.0/24"))]);
}

#[test]
fn active_connect_retry_and_passive() {
    // A configured neighbour that refuses connections: we retry with the
    // connect-retry timer (and stay Active in between).
    let mut sim = Sim::new();
    let mut rc = with_neighbors(router_cfg(), &["192.168.10.100"]);
    rc.groups[0].connect_retry = Some(30);
    let r = sim.add("192.168.10.200", rc);
    for _ in 0..4 {
        sim.advance(Duration::from_secs(10));
    }
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Active);
    let d = sim.nodes[r].1.neighbors(sim.now, None);
    assert_eq!(d[0].counters.opens_out, 0);
    // Passive neighbours never emit Connect.
    let mut rc = with_neighbors(router_cfg(), &["192.168.10.100"]);
    rc.neighbors[0].passive = Some(true);
    let mut sp = Speaker::new(rc, Instant::from_secs(1)).unwrap();
    sp.poll(Instant::from_secs(100));
    assert!(sp.poll_action().is_none());
    assert_eq!(sp.poll_at(), None);
}

#[test]
fn connect_retry_timer_spaces_attempts() {
    let mut rc = with_neighbors(router_cfg(), &["192.168.10.100"]);
    rc.groups[0].connect_retry = Some(30);
    let mut sp = Speaker::new(rc, Instant::from_secs(0)).unwrap();
    let mut connects = Vec::new();
    let mut t = 0;
    while t <= 100 {
        let now = Instant::from_secs(t);
        sp.poll(now);
        while let Some(a) = sp.poll_action() {
            if let Action::Connect { conn, .. } = a {
                connects.push(t);
                sp.closed(conn, now);
            }
        }
        t += 1;
    }
    assert_eq!(connects, vec![0, 30, 60, 90]);
}

#[test]
fn two_octet_peer_with_as4_path() {
    // An OLD speaker (no 4-octet AS capability) relaying a path through a
    // 4-octet AS: AS_PATH carries AS_TRANS, AS4_PATH the real AS.
    let open = OpenRepr {
        version: 4,
        my_as: 65001,
        hold_time: 90,
        bgp_id: "192.168.10.55".parse().unwrap(),
        capabilities: vec![Capability::Multiprotocol { afi: 1, safi: 1 }],
    };
    let mut p = RawPeer::new(dyn_router(), "192.168.10.55", open);
    let msgs = p.drain();
    // Our export to an OLD speaker uses 2-octet AS numbers.
    let two = DecodeContext {
        four_octet_as: false,
        ..DecodeContext::default()
    };
    assert!(msgs
        .iter()
        .any(|m| matches!(m, Message::Update(u) if !u.nlri.is_empty())));
    p.ctx = two;
    let m = update(
        &["172.20.0.0/24"],
        "192.168.10.55",
        vec![65001, 4_200_000_001],
    );
    p.send(&m);
    let ch = p.changes();
    assert_eq!(ch.len(), 1);
    let rv = p.sp.routes(Some(net("172.20.0.0/24")), p.now);
    assert_eq!(rv[0].paths[0].as_path, "65001 4200000001");
}

#[test]
fn ibgp_neighbour() {
    let mut cfg = router_cfg();
    cfg.neighbors.push(NeighborConfig {
        remote_as: Some(RemoteAs::Internal),
        passive: Some(true),
        ..NeighborConfig::new(ip("192.168.10.7"))
    });
    let open = OpenRepr::new(
        65000,
        90,
        "192.168.10.7".parse().unwrap(),
        vec![Capability::Multiprotocol { afi: 1, safi: 1 }],
    );
    let (mut sp, conn, now) = inbound(cfg, "192.168.10.7");
    let ctx = DecodeContext {
        ebgp: false,
        peer_as: 65000,
        ..DecodeContext::default()
    };
    let mut b = Message::Open(open).to_bytes(&ctx);
    b.extend(Message::Keepalive.to_bytes(&ctx));
    sp.receive(conn, &b, now);
    let mut saw_export = false;
    for m in sent(&mut sp, &ctx).0 {
        if let Message::Update(u) = m {
            if !u.nlri.is_empty() {
                // iBGP: empty AS_PATH, LOCAL_PREF 100, next-hop self.
                assert_eq!(u.attrs.as_path, Some(crate::wire::AsPath::default()));
                assert_eq!(u.attrs.local_pref, Some(100));
                assert_eq!(u.attrs.next_hop, Some("192.168.10.200".parse().unwrap()));
                saw_export = true;
            }
        }
    }
    assert!(saw_export);
    // iBGP routes keep LOCAL_PREF and an empty AS_PATH is fine.
    let mut u = match update(&["172.30.0.0/16"], "192.168.10.7", vec![]) {
        Message::Update(u) => u,
        _ => unreachable!(),
    };
    u.attrs.local_pref = Some(300);
    sp.receive(conn, &Message::Update(u).to_bytes(&ctx), now);
    assert_eq!(sp.take_route_changes().len(), 1);
    let rv = sp.routes(Some(net("172.30.0.0/16")), now);
    assert_eq!(rv[0].paths[0].local_pref, Some(300));
    assert!(!rv[0].paths[0].ebgp);
}

#[test]
fn speaker_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Speaker>();
}

mod nexthop6;
mod reconfigure;
