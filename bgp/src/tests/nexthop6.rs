//! The next hop of our IPv6 networks (RFC 4760 §3, RFC 2545 §3), checked
//! on the bytes of the MP_REACH_NLRI we send: over an IPv4 session (what
//! Cilium and FRR peers use for both families) and over an IPv6 one.
use std::net::Ipv6Addr;

use super::*;
use crate::rib::NextHopAddr;
use crate::speaker::Ipv6NextHop;
use crate::wire::RouteRefreshRepr;

const V6_NET: &str = "2001:db8:100::/48";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The router with an IPv4 and an IPv6 network and a listen range for
/// both families of peer address.
fn router_v6() -> SpeakerConfig {
    let mut c = router_cfg();
    c.networks.push(net(V6_NET));
    for p in ["192.168.10.0/24", "2001:db8:10::/64"] {
        c.listen_ranges.push(ListenRange {
            prefix: net(p),
            group: "CILIUM".into(),
        });
    }
    c
}

/// An OPEN offering `families` (AFI, SAFI) and nothing else that matters.
fn open_with(families: &[(u16, u8)]) -> OpenRepr {
    let mut caps: Vec<Capability> = families
        .iter()
        .map(|&(afi, safi)| Capability::Multiprotocol { afi, safi })
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::FourOctetAs(65001));
    OpenRepr::new(65001, 9, "192.168.10.55".parse().unwrap(), caps)
}

/// A session from `remote` to our `local`, told `nh` before the OPEN
/// exchange, brought to Established; the raw bytes we sent on it.
fn session(
    remote: &str,
    local: &str,
    nh: Option<Ipv6NextHop>,
    open: OpenRepr,
) -> (Speaker, ConnId, Vec<u8>) {
    let now = Instant::from_secs(10);
    let mut sp = Speaker::new(router_v6(), now).unwrap();
    let conn = sp
        .accept_inbound(ip(remote), ip(local), now)
        .expect("accepted");
    if let Some(nh) = nh {
        sp.set_ipv6_next_hop(conn, nh);
    }
    let ctx = DecodeContext::default();
    sp.receive(conn, &Message::Open(open).to_bytes(&ctx), now);
    sp.receive(conn, &Message::Keepalive.to_bytes(&ctx), now);
    let bytes = raw_sent(&mut sp, conn);
    (sp, conn, bytes)
}

fn raw_sent(sp: &mut Speaker, conn: ConnId) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(a) = sp.poll_action() {
        if let Action::Send { conn: c, data } = a {
            if c == conn {
                out.extend_from_slice(&data);
            }
        }
    }
    out
}

/// The value of every path attribute of `code` in the UPDATEs of `bytes`
/// (whole BGP messages), walked by hand so that the test does not trust
/// the codec under test.
fn attrs_of(bytes: &[u8], code: u8) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 19 {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let (msg, tail) = rest.split_at(len);
        rest = tail;
        if msg[18] != 2 {
            continue;
        }
        let body = &msg[19..];
        let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
        let a = &body[2 + wlen..];
        let alen = usize::from(u16::from_be_bytes([a[0], a[1]]));
        let mut attrs = &a[2..2 + alen];
        while !attrs.is_empty() {
            let (flags, ty) = (attrs[0], attrs[1]);
            let (vlen, hdr) = if flags & 0x10 != 0 {
                (usize::from(u16::from_be_bytes([attrs[2], attrs[3]])), 4)
            } else {
                (usize::from(attrs[2]), 3)
            };
            if ty == code {
                found.push(attrs[hdr..hdr + vlen].to_vec());
            }
            attrs = &attrs[hdr + vlen..];
        }
    }
    found
}

/// The MP_REACH_NLRI values of `bytes` for AFI 2 / SAFI 1.
fn ipv6_reach(bytes: &[u8]) -> Vec<Vec<u8>> {
    attrs_of(bytes, 14)
        .into_iter()
        .filter(|v| v[..3] == [0, 2, 1])
        .collect()
}

/// AFI 2, SAFI 1, next-hop length and addresses, reserved 0, our /48.
fn expected_reach(next_hops: &[Ipv6Addr]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, (16 * next_hops.len()) as u8];
    for a in next_hops {
        v.extend_from_slice(&a.octets());
    }
    v.push(0);
    v.extend_from_slice(&[48, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00]);
    v
}

const BOTH: &[(u16, u8)] = &[(1, 1), (2, 1)];

#[test]
fn ipv4_session_sends_global_and_link_local_next_hop() {
    let nh = Ipv6NextHop {
        global: Some(v6("2001:db8:10::200")),
        link_local: Some(v6("fe80::200")),
        link: None,
    };
    let (_, _, bytes) = session("192.168.10.55", "192.168.10.200", Some(nh), open_with(BOTH));
    // RFC 2545 §3: length 32, the global address then the link-local one.
    assert_eq!(
        ipv6_reach(&bytes),
        vec![expected_reach(&[v6("2001:db8:10::200"), v6("fe80::200")])]
    );
    // The IPv4 network still goes in the classic NLRI with NEXT_HOP.
    assert_eq!(attrs_of(&bytes, 3), vec![vec![192, 168, 10, 200]]);
}

#[test]
fn ipv4_session_without_ipv6_on_the_port_sends_mapped_address() {
    // No IPv6 on the port: ::ffff:192.168.10.200, 16 octets.
    for nh in [None, Some(Ipv6NextHop::default())] {
        let (_, _, bytes) = session("192.168.10.55", "192.168.10.200", nh, open_with(BOTH));
        assert_eq!(
            ipv6_reach(&bytes),
            vec![expected_reach(&[v6("::ffff:192.168.10.200")])],
            "{nh:?}"
        );
    }
}

#[test]
fn ipv4_session_with_link_local_only_puts_it_after_the_mapped_address() {
    // A port with only its link-local address: the global next hop is the
    // mapped IPv4 address, the link-local one follows it.
    let nh = Ipv6NextHop {
        global: None,
        link_local: Some(v6("fe80::200")),
        link: None,
    };
    let (_, _, bytes) = session("192.168.10.55", "192.168.10.200", Some(nh), open_with(BOTH));
    assert_eq!(
        ipv6_reach(&bytes),
        vec![expected_reach(&[
            v6("::ffff:192.168.10.200"),
            v6("fe80::200")
        ])]
    );
}

#[test]
fn ipv6_networks_need_the_ipv6_family_negotiated() {
    let nh = Ipv6NextHop {
        global: Some(v6("2001:db8:10::200")),
        link_local: None,
        link: None,
    };
    let (mut sp, conn, bytes) = session(
        "192.168.10.55",
        "192.168.10.200",
        Some(nh),
        open_with(&[(1, 1)]),
    );
    assert!(ipv6_reach(&bytes).is_empty());
    assert!(attrs_of(&bytes, 14).is_empty(), "no MP_REACH at all");
    assert_eq!(attrs_of(&bytes, 3).len(), 1, "IPv4 network sent");
    // A route refresh for IPv6 (not negotiated) is ignored too.
    let rr = Message::RouteRefresh(RouteRefreshRepr {
        afi: 2,
        subtype: 0,
        safi: 1,
    });
    let now = Instant::from_secs(11);
    sp.receive(conn, &rr.to_bytes(&DecodeContext::default()), now);
    assert!(ipv6_reach(&raw_sent(&mut sp, conn)).is_empty());
}

#[test]
fn route_refresh_resends_the_same_ipv6_next_hop() {
    let nh = Ipv6NextHop {
        global: Some(v6("2001:db8:10::200")),
        link_local: Some(v6("fe80::200")),
        link: None,
    };
    let (mut sp, conn, _) = session("192.168.10.55", "192.168.10.200", Some(nh), open_with(BOTH));
    let rr = Message::RouteRefresh(RouteRefreshRepr {
        afi: 2,
        subtype: 0,
        safi: 1,
    });
    sp.receive(
        conn,
        &rr.to_bytes(&DecodeContext::default()),
        Instant::from_secs(11),
    );
    assert_eq!(
        ipv6_reach(&raw_sent(&mut sp, conn)),
        vec![expected_reach(&[v6("2001:db8:10::200"), v6("fe80::200")])]
    );
}

#[test]
fn withdrawing_an_ipv6_network_over_ipv4_uses_mp_unreach() {
    let (mut sp, conn, _) = session("192.168.10.55", "192.168.10.200", None, open_with(BOTH));
    let mut cfg = router_v6();
    cfg.networks.retain(|n| *n != net(V6_NET));
    sp.reconfigure(cfg, Instant::from_secs(11)).unwrap();
    let bytes = raw_sent(&mut sp, conn);
    // RFC 4760 §4: AFI 2, SAFI 1, the withdrawn /48.
    assert_eq!(
        attrs_of(&bytes, 15),
        vec![vec![0, 2, 1, 48, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00]]
    );
}

#[test]
fn ipv6_session_uses_its_local_address_or_the_port_addresses() {
    // Without a hint: the session's own address, 16 octets (as before).
    let (_, _, bytes) = session("2001:db8:10::55", "2001:db8:10::200", None, open_with(BOTH));
    assert_eq!(
        ipv6_reach(&bytes),
        vec![expected_reach(&[v6("2001:db8:10::200")])]
    );
    // IPv4 networks are not sent over IPv6 without RFC 8950.
    assert!(attrs_of(&bytes, 3).is_empty());
    // With the port's addresses: global and link-local.
    let nh = Ipv6NextHop {
        global: Some(v6("2001:db8:10::200")),
        link_local: Some(v6("fe80::200")),
        link: None,
    };
    let (_, _, bytes) = session(
        "2001:db8:10::55",
        "2001:db8:10::200",
        Some(nh),
        open_with(BOTH),
    );
    assert_eq!(
        ipv6_reach(&bytes),
        vec![expected_reach(&[v6("2001:db8:10::200"), v6("fe80::200")])]
    );
}

#[test]
fn for_local_rules() {
    let ll = v6("fe80::1");
    let l4 = ip("10.0.0.1");
    let nh = Ipv6NextHop {
        global: None,
        link_local: Some(ll),
        link: None,
    };
    assert_eq!(nh.for_local(l4), Some((v6("::ffff:10.0.0.1"), Some(ll))));
    // A session over the link-local address itself: sent once, 16 octets.
    assert_eq!(nh.for_local(IpAddr::V6(ll)), Some((ll, None)));
    // Nothing usable.
    assert_eq!(Ipv6NextHop::default().for_local(ip("::")), None);
}

/// End to end between two speakers over IPv4: the node learns our IPv6
/// network with the next hop we were told.
#[test]
fn sim_node_learns_ipv6_network_over_ipv4() {
    let mut sim = Sim::new();
    let mut rc = with_neighbors(router_cfg(), &["192.168.10.100"]);
    rc.networks.push(net(V6_NET));
    let r = sim.add("192.168.10.200", rc);
    let n1 = sim.add("192.168.10.100", node_cfg("192.168.10.100", &[]));
    sim.no_listen = vec![n1];
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.state(r, "192.168.10.100"), SessionState::Established);
    assert_eq!(
        sim.route(n1, V6_NET),
        Some(vec![ip("::ffff:192.168.10.200")])
    );
}

// ----------------------------------------------------------------------
// RFC 8950: IPv4 unicast routes with an IPv6 next hop (over IPv6 sessions).

use crate::wire::{ExtendedNextHop, MpReach};

fn has_extended_next_hop(open: &OpenRepr) -> bool {
    open.capabilities.iter().any(|c| {
        matches!(c, Capability::ExtendedNextHop(v)
            if v.contains(&ExtendedNextHop::IPV4_UNICAST_OVER_IPV6))
    })
}

/// Our OPEN in the bytes sent on a session.
fn our_open(bytes: &[u8]) -> OpenRepr {
    let mut f = Framer::new();
    f.set_max_len(65535);
    f.push(bytes);
    let m = f.next_message().unwrap().unwrap();
    match Message::parse(&m, &DecodeContext::default()).unwrap() {
        Message::Open(o) => o,
        m => panic!("not an OPEN: {m:?}"),
    }
}

fn open_with_ext_nh() -> OpenRepr {
    let mut o = open_with(BOTH);
    o.capabilities.push(Capability::ExtendedNextHop(vec![
        ExtendedNextHop::IPV4_UNICAST_OVER_IPV6,
    ]));
    o
}

/// An UPDATE with IPv4 NLRI in MP_REACH_NLRI and an IPv6 next hop.
fn ipv4_over_ipv6(nh: &str, ll: Option<&str>, prefix: &str) -> Vec<u8> {
    mp_update(Family::Ipv4Unicast, nh, ll, prefix)
}

/// An UPDATE with `family` NLRI in MP_REACH_NLRI, next hop `nh` (and
/// `ll`, RFC 2545), encoded with extended next hop negotiated.
fn mp_update(family: Family, nh: &str, ll: Option<&str>, prefix: &str) -> Vec<u8> {
    let u = UpdateRepr {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(crate::wire::AsPath::sequence(vec![65001])),
            ..Default::default()
        },
        mp_reach: Some(MpReach {
            family,
            next_hop: ip(nh),
            link_local: ll.map(v6),
            nlri: vec![net(prefix)],
        }),
        ..Default::default()
    };
    let ctx = DecodeContext {
        extended_next_hop_v4: true,
        ..DecodeContext::default()
    };
    Message::Update(u).to_bytes(&ctx)
}

#[test]
fn extended_next_hop_is_offered_over_ipv6_only() {
    let (_, _, bytes) = session("2001:db8:10::55", "2001:db8:10::200", None, open_with(BOTH));
    assert!(has_extended_next_hop(&our_open(&bytes)));
    let (_, _, bytes) = session("192.168.10.55", "192.168.10.200", None, open_with(BOTH));
    assert!(!has_extended_next_hop(&our_open(&bytes)));
}

#[test]
fn ipv4_routes_with_an_ipv6_next_hop_when_negotiated() {
    let (mut sp, conn, _) = session(
        "2001:db8:10::55",
        "2001:db8:10::200",
        None,
        open_with_ext_nh(),
    );
    assert_eq!(
        sp.summary(Instant::from_secs(10)).peers[0].state,
        SessionState::Established
    );
    let now = Instant::from_secs(11);
    sp.receive(
        conn,
        &ipv4_over_ipv6("2001:db8:10::55", Some("fe80::55"), "172.20.0.0/24"),
        now,
    );
    let ch = sp.take_route_changes();
    assert_eq!(
        last_nh(&ch, net("172.20.0.0/24")),
        Some(vec![ip("2001:db8:10::55")]),
        "{ch:?}"
    );
    assert!(raw_sent(&mut sp, conn).is_empty(), "no NOTIFICATION");
    assert_eq!(sp.summary(now).peers[0].state, SessionState::Established);
}

#[test]
fn ipv4_routes_with_an_ipv6_next_hop_without_the_capability_reset_the_session() {
    // The peer did not send the capability: RFC 7606 §7.11, next hop
    // length inconsistent with the AFI → NOTIFICATION UPDATE error 3/9.
    let (mut sp, conn, _) = session("2001:db8:10::55", "2001:db8:10::200", None, open_with(BOTH));
    sp.receive(
        conn,
        &ipv4_over_ipv6("2001:db8:10::55", None, "172.20.0.0/24"),
        Instant::from_secs(11),
    );
    let (msgs, closed) = sent(&mut sp, &DecodeContext::default());
    assert!(closed);
    assert!(
        msgs.iter()
            .any(|m| matches!(m, Message::Notification(n) if (n.code, n.subcode) == (3, 9))),
        "{msgs:?}"
    );
    assert!(sp.take_route_changes().is_empty());
}

#[test]
fn extended_next_hop_capability_round_trips_and_rejects_bad_lengths() {
    let o = open_with_ext_nh();
    let b = Message::Open(o.clone()).to_bytes(&DecodeContext::default());
    assert_eq!(
        Message::parse(&b, &DecodeContext::default()).unwrap(),
        Message::Open(o)
    );
    // The value: AFI 1, SAFI 1 (two octets), next-hop AFI 2.
    let cap = [5u8, 6, 0, 1, 0, 1, 0, 2];
    assert!(b.windows(cap.len()).any(|w| w == cap));
}

#[test]
fn wire_ipv4_mp_reach_next_hop_lengths() {
    let with = DecodeContext {
        extended_next_hop_v4: true,
        ..DecodeContext::default()
    };
    for ll in [None, Some("fe80::55")] {
        let b = ipv4_over_ipv6("2001:db8::55", ll, "10.1.0.0/16");
        let Message::Update(u) = Message::parse(&b, &with).unwrap() else {
            panic!("not an UPDATE")
        };
        let mp = u.mp_reach.unwrap();
        assert_eq!(
            (mp.family, mp.next_hop),
            (Family::Ipv4Unicast, ip("2001:db8::55"))
        );
        assert_eq!(mp.link_local, ll.map(v6));
        assert_eq!(mp.nlri, vec![net("10.1.0.0/16")]);
        let e = Message::parse(&b, &DecodeContext::default()).unwrap_err();
        assert_eq!(e.code_subcode(), (3, 9));
    }
}

#[test]
fn ipv4_networks_go_over_ipv6_with_extended_next_hop_only() {
    // Without the capability from the peer: not sent (as before).
    let (_, _, bytes) = session("2001:db8:10::55", "2001:db8:10::200", None, open_with(BOTH));
    assert!(attrs_of(&bytes, 14).iter().all(|v| v[..3] != [0, 1, 1]));
    // With it: MP_REACH_NLRI for AFI 1 / SAFI 1, our IPv6 next hop(s), 10.10.1.0/24.
    let nh = Ipv6NextHop {
        global: Some(v6("2001:db8:10::200")),
        link_local: Some(v6("fe80::200")),
        link: None,
    };
    let (mut sp, conn, bytes) = session(
        "2001:db8:10::55",
        "2001:db8:10::200",
        Some(nh),
        open_with_ext_nh(),
    );
    let v4: Vec<Vec<u8>> = attrs_of(&bytes, 14)
        .into_iter()
        .filter(|v| v[..3] == [0, 1, 1])
        .collect();
    let mut want = vec![0, 1, 1, 32];
    want.extend_from_slice(&v6("2001:db8:10::200").octets());
    want.extend_from_slice(&v6("fe80::200").octets());
    want.extend_from_slice(&[0, 24, 10, 10, 1]);
    assert_eq!(v4, vec![want]);
    assert!(attrs_of(&bytes, 3).is_empty(), "no classic NEXT_HOP");
    // Withdrawn with MP_UNREACH_NLRI for AFI 1.
    let mut cfg = router_v6();
    cfg.networks.retain(|n| *n != net("10.10.1.0/24"));
    sp.reconfigure(cfg, Instant::from_secs(11)).unwrap();
    assert_eq!(
        attrs_of(&raw_sent(&mut sp, conn), 15),
        vec![vec![0, 1, 1, 24, 10, 10, 1]]
    );
}

/// An UPDATE with IPv6 NLRI and next hop `nh` (and `ll`, RFC 2545).
fn ipv6_update(nh: &str, ll: Option<&str>, prefix: &str) -> Vec<u8> {
    mp_update(Family::Ipv6Unicast, nh, ll, prefix)
}

/// The next hops of the last change to `prefix`, links included.
fn last_scoped(changes: &[RouteChange], prefix: &str) -> Option<Vec<NextHopAddr>> {
    let prefix = net(prefix);
    changes.iter().rev().find_map(|c| match c {
        RouteChange::Replace {
            prefix: p,
            next_hops,
        } if *p == prefix => Some(next_hops.clone()),
        _ => None,
    })
}

#[test]
fn link_local_next_hop_carries_the_sessions_link() {
    // FRR on a link with no global IPv6 address sends its link-local as
    // both next hops (length 32); the address means something only on
    // the link the session runs over.
    let nh = Ipv6NextHop {
        global: None,
        link_local: Some(v6("fe80::200")),
        link: Some(2),
    };
    let (mut sp, conn, _) = session("192.168.10.55", "192.168.10.200", Some(nh), open_with(BOTH));
    let now = Instant::from_secs(11);
    sp.receive(
        conn,
        &ipv6_update("fe80::55", Some("fe80::55"), "2001:db8:55::/48"),
        now,
    );
    sp.receive(
        conn,
        &ipv6_update("2001:db8:10::55", Some("fe80::55"), "2001:db8:56::/48"),
        now,
    );
    let ch = sp.take_route_changes();
    assert_eq!(
        last_scoped(&ch, "2001:db8:55::/48"),
        Some(vec![NextHopAddr {
            addr: ip("fe80::55"),
            link: Some(2)
        }]),
        "{ch:?}"
    );
    // A global next hop needs no link, even from the same session.
    assert_eq!(
        last_scoped(&ch, "2001:db8:56::/48"),
        Some(vec![NextHopAddr::global(ip("2001:db8:10::55"))]),
        "{ch:?}"
    );
}
