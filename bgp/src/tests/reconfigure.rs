//! `Speaker::reconfigure` under simulated time: the lab (router + two
//! Cilium-like nodes, both Established) is reconfigured and every peer the
//! change does not concern must see nothing but KEEPALIVEs.
use super::*;
use crate::rib::Refiltered;
use crate::speaker::{ConfigKey, NeighborAction, ReconfigureReport};
use crate::wire::MpReach;

const R: &str = "192.168.10.200";
const N1: &str = "192.168.10.100";
const N2: &str = "192.168.10.101";
const N3: &str = "192.168.10.102";

/// The router's configuration in the lab: neighbours N1 and N2.
fn lab_cfg() -> SpeakerConfig {
    with_neighbors(router_cfg(), &[N1, N2])
}

/// The lab, both sessions Established: N1 announces 172.20.0.0/24 and the
/// Service 172.16.1.1/32, N2 172.20.1.0/24 and the same /32 (ECMP).
fn lab() -> (Sim, usize, usize, usize) {
    let mut sim = Sim::new();
    let r = sim.add(R, lab_cfg());
    let n1 = sim.add(N1, node_cfg(N1, &["172.20.0.0/24", "172.16.1.1/32"]));
    let n2 = sim.add(N2, node_cfg(N2, &["172.20.1.0/24", "172.16.1.1/32"]));
    sim.no_listen = vec![n1, n2];
    sim.advance(Duration::from_secs(1));
    for peer in [N1, N2] {
        assert_eq!(sim.state(r, peer), SessionState::Established, "{peer}");
    }
    assert_eq!(sim.route(r, "172.16.1.1/32"), Some(vec![ip(N1), ip(N2)]));
    (sim, r, n1, n2)
}

impl Sim {
    /// Reconfigure node `i` (the new config must be valid) and deliver
    /// what it sends.
    fn reconfigure(&mut self, i: usize, cfg: SpeakerConfig) -> ReconfigureReport {
        let now = self.now;
        let rep = self.nodes[i].1.reconfigure(cfg, now).expect("valid config");
        self.pump();
        rep
    }

    /// Messages node `from` sent to node `to` since `mark` (a `log` length).
    fn sent_since(&self, mark: usize, from: usize, to: usize) -> Vec<&Message> {
        self.log[mark..]
            .iter()
            .filter(|(f, t, _)| *f == from && *t == to)
            .map(|(_, _, m)| m)
            .collect()
    }

    /// NOTIFICATIONs node `from` sent to node `to` since `mark`.
    fn notifications_since(&self, mark: usize, from: usize, to: usize) -> Vec<NotificationRepr> {
        self.sent_since(mark, from, to)
            .into_iter()
            .filter_map(|m| match m {
                Message::Notification(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// The peer at `addr` (node `node`) was not touched since `mark`: the
    /// router sent it only KEEPALIVEs (at least one), neither side sent
    /// anything else, and both ends are still Established.
    fn assert_untouched(&self, mark: usize, r: usize, node: usize, addr: &str) {
        let to = self.sent_since(mark, r, node);
        assert!(
            to.iter().all(|m| matches!(m, Message::Keepalive)),
            "{addr} got {to:?}"
        );
        assert!(!to.is_empty(), "{addr}: keepalives keep flowing");
        let from = self.sent_since(mark, node, r);
        assert!(
            from.iter().all(|m| matches!(m, Message::Keepalive)),
            "{addr} sent {from:?}"
        );
        assert_eq!(self.state(r, addr), SessionState::Established, "{addr}");
        assert_eq!(self.state(node, R), SessionState::Established, "{addr}");
        let d = self.neighbor(r, addr);
        assert_eq!(d[0].established_transitions, 1, "{addr} never went down");
    }
}

fn updates(msgs: &[&Message]) -> Vec<UpdateRepr> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

fn import_172_20() -> ImportFilter {
    ImportFilter {
        allow: vec![PrefixRule {
            prefix: net("172.20.0.0/16"),
            ge: None,
            le: Some(24),
        }],
    }
}

#[test]
fn reconfigure_same_config_changes_nothing_and_bad_config_is_refused() {
    let (mut sim, r, n1, n2) = lab();
    let mark = sim.log.len();
    let rep = sim.reconfigure(r, lab_cfg());
    assert!(rep.is_empty(), "{rep:?}");
    assert_eq!(rep.to_string(), "bgp: no changes\n");
    // Invalid configurations are refused whole: nothing changes.
    let now = sim.now;
    let mut bad = lab_cfg();
    bad.local_as = 0;
    bad.neighbors.pop();
    assert_eq!(
        sim.nodes[r].1.reconfigure(bad, now),
        Err(ConfigError::ZeroLocalAs)
    );
    let mut bad = lab_cfg();
    bad.neighbors.pop();
    bad.neighbors[0].group = Some("NOPE".into());
    assert!(matches!(
        sim.nodes[r].1.reconfigure(bad, now),
        Err(ConfigError::UnknownGroup { .. })
    ));
    assert_eq!(sim.nodes[r].1.config(), &lab_cfg());
    assert!(sim.nodes[r].1.poll_action().is_none());
    sim.advance(Duration::from_secs(30));
    sim.assert_untouched(mark, r, n1, N1);
    sim.assert_untouched(mark, r, n2, N2);
}

#[test]
fn reconfigure_removes_and_adds_neighbours() {
    let (mut sim, r, n1, n2) = lab();
    // A third node that keeps trying to connect; the router refuses it.
    let n3 = sim.add(N3, node_cfg(N3, &["172.20.2.0/24"]));
    sim.no_listen.push(n3);
    sim.advance(Duration::from_secs(6));
    assert_ne!(sim.state(n3, R), SessionState::Established);
    let mark = sim.log.len();
    let changes = sim.changes[r].len();

    let rep = sim.reconfigure(r, with_neighbors(router_cfg(), &[N1, N3]));
    let removed = rep.neighbor(ip(N2)).unwrap();
    assert_eq!(removed.action, NeighborAction::Removed);
    assert!(removed.session_closed);
    assert_eq!(removed.routes_withdrawn, 2);
    assert_eq!(rep.neighbor(ip(N3)).unwrap().action, NeighborAction::Added);
    assert!(rep.neighbor(ip(N1)).is_none(), "N1 untouched");
    assert!(rep.to_string().contains("192.168.10.101: removed"));
    // RFC 4486 Cease / Peer De-configured, inside a Hard Reset because the
    // N bit was negotiated (RFC 8538 §5).
    let n = sim.notifications_since(mark, r, n2);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(
        (n[0].code, n[0].subcode, &n[0].data[..]),
        (6, 9, &[6u8, 3][..])
    );
    // N2's routes left the Loc-RIB at once: its /24 removed, the ECMP /32
    // down to N1.
    let new_changes = &sim.changes[r][changes..];
    assert_eq!(new_changes.len(), 2, "{new_changes:?}");
    assert!(new_changes.contains(&RouteChange::Remove(net("172.20.1.0/24"))));
    assert!(new_changes.contains(&RouteChange::Replace {
        prefix: net("172.16.1.1/32"),
        next_hops: vec![ip(N1).into()]
    }));
    assert_eq!(sim.route(r, "172.20.1.0/24"), None);
    assert_eq!(sim.route(r, "172.16.1.1/32"), Some(vec![ip(N1)]));

    // N3's next attempt is accepted; N2's are refused from now on.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.state(r, N3), SessionState::Established);
    assert_eq!(sim.route(r, "172.20.2.0/24"), Some(vec![ip(N3)]));
    assert_ne!(sim.state(n2, R), SessionState::Established);
    let peers: Vec<IpAddr> = sim.nodes[r]
        .1
        .summary(sim.now)
        .peers
        .iter()
        .map(|p| p.address)
        .collect();
    assert_eq!(peers, vec![ip(N1), ip(N3)]);
    sim.assert_untouched(mark, r, n1, N1);
}

#[test]
fn reconfigure_removed_listen_range_deconfigures_dynamic_peer() {
    // Without graceful restart there is no N bit: a plain Cease/3.
    let mut p = RawPeer::with_route(open_without_gr());
    let mut cfg = dyn_router();
    cfg.listen_ranges.clear();
    let now = p.now;
    let rep = p.sp.reconfigure(cfg, now).unwrap();
    let n = rep.neighbor(ip("192.168.10.55")).unwrap();
    assert_eq!((n.action, n.dynamic), (NeighborAction::Removed, true));
    assert_eq!(rep.listen_ranges_removed.len(), 1);
    assert_eq!(p.notification(), Some((6, 3)));
    assert!(p.closed);
    assert_eq!(p.changes(), vec![RouteChange::Remove(net("172.20.0.0/24"))]);
    assert!(p.sp.summary(p.now).peers.is_empty());
    assert!(p
        .sp
        .accept_inbound(ip("192.168.10.55"), ip(R), now)
        .is_none());
}

#[test]
fn reconfigure_open_change_resets_only_that_session() {
    let (mut sim, r, n1, n2) = lab();
    let mark = sim.log.len();
    let mut cfg = lab_cfg();
    cfg.neighbors[0].hold_time = Some(6);
    cfg.neighbors[0].keepalive = Some(2);
    let rep = sim.reconfigure(r, cfg.clone());
    let n = rep.neighbor(ip(N1)).unwrap();
    assert_eq!(n.action, NeighborAction::Reset);
    assert_eq!(n.reset_keys, vec![ConfigKey::HoldTime]);
    assert_eq!(n.updated_keys, vec![ConfigKey::Keepalive]);
    assert!(n.session_closed);
    assert!(rep.neighbor(ip(N2)).is_none());
    assert!(
        rep.to_string().contains(
            "bgp: neighbor 192.168.10.100: session reset (Cease / Other Configuration Change) \
             for hold_time; updated keepalive\n"
        ),
        "{rep}"
    );
    // Cease / Other Configuration Change, plain (RFC 8538 §5: graceful).
    let notes = sim.notifications_since(mark, r, n1);
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0].code, notes[0].subcode), (6, 6));
    // The node reconnects (its idle hold time), with the new hold time.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.state(r, N1), SessionState::Established);
    let d = sim.neighbor(r, N1);
    assert_eq!((d[0].hold_time, d[0].keepalive), (Some(6), Some(2)));
    assert_eq!(d[0].established_transitions, 2);
    let opens: Vec<u16> = sim
        .sent_since(mark, r, n1)
        .iter()
        .filter_map(|m| match m {
            Message::Open(o) => Some(o.hold_time),
            _ => None,
        })
        .collect();
    assert_eq!(opens, vec![6]);
    assert_eq!(sim.route(r, "172.20.0.0/24"), Some(vec![ip(N1)]));
    assert_eq!(sim.route(r, "172.16.1.1/32"), Some(vec![ip(N1), ip(N2)]));
    sim.assert_untouched(mark, r, n2, N2);

    // remote_as: a value the running session still matches is applied in
    // place; one it does not match resets it, and the peer's next OPEN is
    // refused with Bad Peer AS.
    let mark = sim.log.len();
    cfg.neighbors[1].remote_as = Some(RemoteAs::Number(65001));
    let rep = sim.reconfigure(r, cfg.clone());
    let n = rep.neighbor(ip(N2)).unwrap();
    assert_eq!(
        (n.action, &n.updated_keys[..]),
        (NeighborAction::Updated, &[ConfigKey::RemoteAs][..])
    );
    sim.advance(Duration::from_secs(5));
    sim.assert_untouched(mark, r, n2, N2);
    cfg.neighbors[1].remote_as = Some(RemoteAs::Number(65099));
    let rep = sim.reconfigure(r, cfg);
    let n = rep.neighbor(ip(N2)).unwrap();
    assert_eq!(
        (n.action, &n.reset_keys[..]),
        (NeighborAction::Reset, &[ConfigKey::RemoteAs][..])
    );
    sim.advance(Duration::from_secs(10));
    assert!(sim.sent_notification(r, (2, 2)));
    assert_ne!(sim.state(r, N2), SessionState::Established);
    assert_eq!(sim.state(r, N1), SessionState::Established);
}

#[test]
fn reconfigure_speaker_wide_keys() {
    let (mut sim, r, n1, n2) = lab();
    // stale_routes_time is not in the OPEN: nothing is reset.
    let mark = sim.log.len();
    let mut cfg = lab_cfg();
    cfg.graceful_restart.stale_routes_time = 60;
    let rep = sim.reconfigure(r, cfg.clone());
    assert_eq!(rep.changed, vec![ConfigKey::StaleRoutesTime]);
    assert!(rep.neighbors.is_empty());
    // maximum_paths reselects every prefix, live: the ECMP /32 goes to the
    // best path alone (N1, the lower router id).
    cfg.maximum_paths = 1;
    let rep = sim.reconfigure(r, cfg.clone());
    assert_eq!(rep.changed, vec![ConfigKey::MaximumPaths]);
    assert_eq!(sim.route(r, "172.16.1.1/32"), Some(vec![ip(N1)]));
    sim.advance(Duration::from_secs(10));
    sim.assert_untouched(mark, r, n1, N1);
    sim.assert_untouched(mark, r, n2, N2);

    // The router id is in every OPEN: every session is reset, and comes
    // back carrying the new identifier.
    let mark = sim.log.len();
    cfg.router_id = "10.0.0.1".parse().unwrap();
    let rep = sim.reconfigure(r, cfg);
    assert_eq!(rep.changed, vec![ConfigKey::RouterId]);
    for (node, peer) in [(n1, N1), (n2, N2)] {
        let n = rep.neighbor(ip(peer)).unwrap();
        assert_eq!(n.reset_keys, vec![ConfigKey::RouterId]);
        let notes = sim.notifications_since(mark, r, node);
        assert_eq!((notes[0].code, notes[0].subcode), (6, 6));
    }
    sim.advance(Duration::from_secs(10));
    for (node, peer) in [(n1, N1), (n2, N2)] {
        assert_eq!(sim.state(r, peer), SessionState::Established);
        let d = sim.nodes[node].1.neighbors(sim.now, Some(ip(R)));
        assert_eq!(d[0].remote_router_id, Some("10.0.0.1".parse().unwrap()));
    }
}

#[test]
fn reconfigure_import_filter_reimports_without_reset() {
    let (mut sim, r, n1, n2) = lab();
    let mark = sim.log.len();
    let changes = sim.changes[r].len();
    // Only 172.20.0.0/16 up to /24: the Service /32 now fails, from both.
    let mut cfg = lab_cfg();
    cfg.groups[0].import = Some(import_172_20());
    let rep = sim.reconfigure(r, cfg);
    assert_eq!(rep.groups_changed, vec!["CILIUM".to_string()]);
    for peer in [N1, N2] {
        let n = rep.neighbor(ip(peer)).unwrap();
        assert_eq!(n.action, NeighborAction::Updated);
        assert_eq!(n.updated_keys, vec![ConfigKey::Import]);
        assert_eq!(
            n.reimport,
            Some(Refiltered {
                now_filtered: 1,
                now_accepted: 0
            })
        );
    }
    assert_eq!(
        sim.changes[r][changes..],
        [RouteChange::Remove(net("172.16.1.1/32"))]
    );
    assert_eq!(sim.route(r, "172.20.0.0/24"), Some(vec![ip(N1)]));
    let s = sim.nodes[r].1.summary(sim.now);
    let p = &s.peers[0];
    assert_eq!((p.prefixes_received, p.prefixes_accepted), (2, 1));
    assert_eq!(
        (
            p.families[0].family,
            p.families[0].received,
            p.families[0].accepted
        ),
        (Family::Ipv4Unicast, 2, 1)
    );
    let rv = sim.nodes[r].1.routes(Some(net("172.16.1.1/32")), sim.now);
    assert!(rv[0].paths.iter().all(|p| p.filtered));

    // Back to accept-all: the kept paths come back without asking the
    // peers for anything (no ROUTE-REFRESH).
    let changes = sim.changes[r].len();
    let rep = sim.reconfigure(r, lab_cfg());
    assert_eq!(
        rep.neighbor(ip(N1)).unwrap().reimport,
        Some(Refiltered {
            now_filtered: 0,
            now_accepted: 1
        })
    );
    assert_eq!(
        sim.changes[r][changes..].last(),
        Some(&RouteChange::Replace {
            prefix: net("172.16.1.1/32"),
            next_hops: vec![ip(N1).into(), ip(N2).into()]
        })
    );
    sim.advance(Duration::from_secs(30));
    sim.assert_untouched(mark, r, n1, N1);
    sim.assert_untouched(mark, r, n2, N2);
}

#[test]
fn reconfigure_max_prefix() {
    let (mut sim, r, n1, n2) = lab();
    let mark = sim.log.len();
    // Raised (or set above the count): nothing to do but remember it.
    let mut cfg = lab_cfg();
    cfg.neighbors[0].max_prefix = Some(5);
    let rep = sim.reconfigure(r, cfg.clone());
    let n = rep.neighbor(ip(N1)).unwrap();
    assert_eq!(
        (n.action, &n.updated_keys[..], n.max_prefix_exceeded),
        (NeighborAction::Updated, &[ConfigKey::MaxPrefix][..], false)
    );
    sim.advance(Duration::from_secs(5));
    sim.assert_untouched(mark, r, n1, N1);
    // Lowered below the 2 accepted prefixes: the max-prefix rule, as if the
    // peer had just exceeded it — Cease/1 with AFI/SAFI/limit (inside a
    // Hard Reset, N bit), and its routes go.
    let mark = sim.log.len();
    cfg.neighbors[0].max_prefix = Some(1);
    let rep = sim.reconfigure(r, cfg);
    assert!(rep.neighbor(ip(N1)).unwrap().max_prefix_exceeded);
    assert!(rep.to_string().contains("max-prefix exceeded"));
    let notes = sim.notifications_since(mark, r, n1);
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].code, notes[0].subcode, &notes[0].data[..]),
        (6, 9, &[6u8, 1, 0, 1, 1, 0, 0, 0, 1][..])
    );
    assert_eq!(sim.route(r, "172.20.0.0/24"), None);
    assert_eq!(sim.route(r, "172.16.1.1/32"), Some(vec![ip(N2)]));
    sim.advance(Duration::from_secs(3));
    sim.assert_untouched(mark, r, n2, N2);
}

#[test]
fn reconfigure_networks_become_updates() {
    let (mut sim, r, n1, n2) = lab();
    let mark = sim.log.len();
    let mut cfg = lab_cfg();
    cfg.networks = vec![net("10.10.2.0/24"), net("10.10.3.0/24")];
    let rep = sim.reconfigure(r, cfg);
    assert_eq!(
        rep.networks_added,
        vec![net("10.10.2.0/24"), net("10.10.3.0/24")]
    );
    assert_eq!(rep.networks_removed, vec![net("10.10.1.0/24")]);
    assert_eq!(rep.changed, vec![ConfigKey::Networks]);
    for (node, peer) in [(n1, N1), (n2, N2)] {
        let n = rep.neighbor(ip(peer)).unwrap();
        assert_eq!(n.action, NeighborAction::Unchanged);
        assert_eq!((n.networks_announced, n.networks_withdrawn), (2, 1));
        let msgs = sim.sent_since(mark, r, node);
        let u = updates(&msgs);
        assert_eq!(u.len(), 2, "{msgs:?}");
        assert_eq!(u[0].withdrawn, vec![net("10.10.1.0/24")]);
        assert!(u[0].nlri.is_empty());
        assert_eq!(u[1].nlri, vec![net("10.10.2.0/24"), net("10.10.3.0/24")]);
        assert_eq!(u[1].attrs.next_hop, Some(R.parse().unwrap()));
        assert!(msgs
            .iter()
            .all(|m| matches!(m, Message::Update(_) | Message::Keepalive)));
        // The node installed the new ones and removed the old one.
        assert_eq!(sim.route(node, "10.10.1.0/24"), None);
        assert_eq!(sim.route(node, "10.10.2.0/24"), Some(vec![ip(R)]));
        assert_eq!(sim.route(node, "10.10.3.0/24"), Some(vec![ip(R)]));
        let s = sim.nodes[r].1.summary(sim.now);
        let ps = s.peers.iter().find(|p| p.address == ip(peer)).unwrap();
        assert_eq!(ps.prefixes_sent, 2);
    }
    sim.advance(Duration::from_secs(30));
    for peer in [N1, N2] {
        assert_eq!(sim.state(r, peer), SessionState::Established);
        assert_eq!(sim.neighbor(r, peer)[0].established_transitions, 1);
    }
    assert!(sim.notifications.iter().all(|n| n.is_empty()));
}

#[test]
fn reconfigure_keepalive_and_passive_apply_live() {
    let (mut sim, r, n1, n2) = lab();
    let mark = sim.log.len();
    let mut cfg = lab_cfg();
    cfg.groups[0].keepalive = Some(1);
    cfg.neighbors[1].passive = Some(true);
    let rep = sim.reconfigure(r, cfg);
    assert_eq!(
        rep.neighbor(ip(N1)).unwrap().updated_keys,
        vec![ConfigKey::Keepalive]
    );
    assert_eq!(
        rep.neighbor(ip(N2)).unwrap().updated_keys,
        vec![ConfigKey::Keepalive, ConfigKey::Passive]
    );
    assert_eq!(sim.neighbor(r, N1)[0].keepalive, Some(1));
    sim.advance(Duration::from_secs(10));
    // One KEEPALIVE a second now (was every 3 s), no reset.
    let keepalives = sim.sent_since(mark, r, n1).len();
    assert!((9..=11).contains(&keepalives), "{keepalives}");
    sim.assert_untouched(mark, r, n1, N1);
    sim.assert_untouched(mark, r, n2, N2);
    assert!(sim.neighbor(r, N2)[0].passive);
}

#[test]
fn reconfigure_dynamic_peer_and_per_family_counts() {
    // A dynamic peer with IPv4 and IPv6 routes.
    let mut open = gobgp_like_open();
    open.capabilities
        .push(Capability::Multiprotocol { afi: 2, safi: 1 });
    let mut p = RawPeer::established(open);
    p.announce(&["172.20.0.0/24"]);
    p.send(&Message::Update(UpdateRepr {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(crate::wire::AsPath::sequence(vec![65001])),
            ..Default::default()
        },
        mp_reach: Some(MpReach {
            family: Family::Ipv6Unicast,
            next_hop: ip("2001:db8::55"),
            link_local: None,
            nlri: vec![net("2001:db8:1::/48")],
        }),
        ..Default::default()
    }));
    assert_eq!(p.changes().len(), 2);
    let counts = |p: &RawPeer| -> Vec<(Family, u64, u64)> {
        p.sp.summary(p.now).peers[0]
            .families
            .iter()
            .map(|f| (f.family, f.received, f.accepted))
            .collect()
    };
    assert_eq!(
        counts(&p),
        vec![(Family::Ipv4Unicast, 1, 1), (Family::Ipv6Unicast, 1, 1)]
    );
    let fam = &p.sp.summary(p.now).peers[0].families[1];
    assert_eq!((fam.afi, fam.safi), (2, 1));
    // The listen range's group gets an import filter: re-run over the
    // dynamic peer's Adj-RIB-In, the IPv6 route fails it.
    let mut cfg = dyn_router();
    cfg.groups[0].import = Some(import_172_20());
    let now = p.now;
    let rep = p.sp.reconfigure(cfg, now).unwrap();
    let n = rep.neighbor(ip("192.168.10.55")).unwrap();
    assert_eq!((n.action, n.dynamic), (NeighborAction::Updated, true));
    assert_eq!(
        p.changes(),
        vec![RouteChange::Remove(net("2001:db8:1::/48"))]
    );
    assert_eq!(
        counts(&p),
        vec![(Family::Ipv4Unicast, 1, 1), (Family::Ipv6Unicast, 1, 0)]
    );
    let s = &p.sp.summary(p.now).peers[0];
    assert_eq!((s.prefixes_received, s.prefixes_accepted), (2, 1));
    assert!(p.drain().is_empty(), "nothing sent to the peer");
    assert_eq!(p.state(), SessionState::Established);
}

#[test]
fn reconfigure_families_and_restart_time_reset_with_new_open() {
    let (mut sim, r, n1, n2) = lab();
    assert_eq!(
        sim.neighbor(r, N1)[0]
            .capabilities
            .as_ref()
            .unwrap()
            .families,
        Family::ALL.to_vec()
    );
    // N1 drops IPv6: its session is reset and comes back IPv4 only.
    let mark = sim.log.len();
    let mut cfg = lab_cfg();
    cfg.neighbors[0].families = Some(vec![Family::Ipv4Unicast]);
    let rep = sim.reconfigure(r, cfg.clone());
    assert_eq!(
        rep.neighbor(ip(N1)).unwrap().reset_keys,
        vec![ConfigKey::Families]
    );
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.state(r, N1), SessionState::Established);
    assert_eq!(
        sim.neighbor(r, N1)[0]
            .capabilities
            .as_ref()
            .unwrap()
            .families,
        vec![Family::Ipv4Unicast]
    );
    let open = sim
        .sent_since(mark, r, n1)
        .into_iter()
        .find_map(|m| match m {
            Message::Open(o) => Some(o.clone()),
            _ => None,
        })
        .unwrap();
    assert!(!open
        .capabilities
        .contains(&Capability::Multiprotocol { afi: 2, safi: 1 }));
    assert!(open
        .capabilities
        .contains(&Capability::Multiprotocol { afi: 1, safi: 1 }));
    sim.assert_untouched(mark, r, n2, N2);

    // The restart time we advertise is in every GR OPEN: both reset, and
    // the nodes see the new value.
    let mark = sim.log.len();
    cfg.graceful_restart.restart_time = 60;
    let rep = sim.reconfigure(r, cfg);
    assert_eq!(rep.changed, vec![ConfigKey::RestartTime]);
    for (node, peer) in [(n1, N1), (n2, N2)] {
        assert_eq!(
            rep.neighbor(ip(peer)).unwrap().reset_keys,
            vec![ConfigKey::RestartTime]
        );
        let notes = sim.notifications_since(mark, r, node);
        assert_eq!((notes[0].code, notes[0].subcode), (6, 6));
    }
    sim.advance(Duration::from_secs(10));
    for node in [n1, n2] {
        assert_eq!(sim.state(node, R), SessionState::Established);
        let d = sim.nodes[node].1.neighbors(sim.now, Some(ip(R)));
        assert_eq!(d[0].graceful_restart.peer_restart_time, Some(60));
    }
}

#[test]
fn reconfigure_dynamic_peer_becomes_configured_in_place() {
    let mut p = RawPeer::with_route(gobgp_like_open());
    let mut cfg = dyn_router();
    cfg.neighbors.push(NeighborConfig {
        group: Some("CILIUM".into()),
        ..NeighborConfig::new(ip("192.168.10.55"))
    });
    let now = p.now;
    let rep = p.sp.reconfigure(cfg, now).unwrap();
    let n = rep.neighbor(ip("192.168.10.55")).unwrap();
    assert_eq!(n.action, NeighborAction::Updated);
    // Dynamic neighbours are always passive; configured ones are not.
    assert_eq!(
        n.updated_keys,
        vec![ConfigKey::Passive, ConfigKey::Neighbor]
    );
    assert!(p.drain().is_empty());
    assert!(!p.closed);
    assert!(p.changes().is_empty());
    let s = p.sp.summary(p.now);
    assert!(!s.peers[0].dynamic);
    assert_eq!(s.peers[0].state, SessionState::Established);
    assert_eq!(
        p.sp.installed(&net("172.20.0.0/24")),
        vec![ip("192.168.10.55")]
    );
}

#[test]
fn reconfigure_passive_neighbour_made_active_connects() {
    let mut rc = with_neighbors(router_cfg(), &[N1]);
    rc.neighbors[0].passive = Some(true);
    let mut sp = Speaker::new(rc.clone(), Instant::from_secs(1)).unwrap();
    sp.poll(Instant::from_secs(50));
    assert!(sp.poll_action().is_none());
    rc.neighbors[0].passive = None;
    let rep = sp.reconfigure(rc, Instant::from_secs(50)).unwrap();
    assert_eq!(
        rep.neighbor(ip(N1)).unwrap().updated_keys,
        vec![ConfigKey::Passive]
    );
    assert_eq!(sp.poll_at(), Some(Instant::from_secs(50)));
    sp.poll(Instant::from_secs(50));
    assert!(matches!(
        sp.poll_action(),
        Some(Action::Connect { remote, .. }) if remote == ip(N1)
    ));
}
