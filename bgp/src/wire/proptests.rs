//! Property tests: random messages encode and decode back to themselves.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use super::*;
use crate::wire::Family;

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()))
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<[u8; 3]>())
        .prop_filter("not loopback", |(a, _)| *a != 127)
        .prop_map(|(a, r)| Ipv4Addr::new(a, r[0], r[1], r[2]))
}

fn as_path() -> impl Strategy<Value = AsPath> {
    let seg = (
        prop_oneof![Just(SegmentType::Sequence), Just(SegmentType::Set)],
        proptest::collection::vec(1u32.., 1..8),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    proptest::collection::vec(seg, 0..4).prop_map(|segments| {
        // Adjacent sequences would be the same path written differently.
        let mut out: Vec<AsSegment> = Vec::new();
        for s in segments {
            match out.last_mut() {
                Some(l) if l.kind == SegmentType::Sequence && s.kind == SegmentType::Sequence => {
                    l.asns.extend(s.asns)
                }
                _ => out.push(s),
            }
        }
        AsPath { segments: out }
    })
}

fn attrs() -> impl Strategy<Value = PathAttributes> {
    (
        (
            prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ],
            as_path(),
            unicast_v4(),
        ),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
        ),
        // AS 0 would be discarded (RFC 7607), which a round trip cannot show.
        proptest::option::of((1u32.., any::<[u8; 4]>())),
        proptest::collection::vec(any::<u32>(), 0..5),
        proptest::collection::vec(any::<[u32; 3]>(), 0..3),
        (
            proptest::option::of(any::<[u8; 4]>()),
            proptest::collection::vec(any::<[u8; 4]>(), 0..3),
        ),
        proptest::collection::btree_map(
            100u8..=200,
            proptest::collection::vec(any::<u8>(), 0..10),
            0..3,
        ),
    )
        .prop_map(
            |(
                (origin, as_path, nh),
                (med, lp, atomic),
                agg,
                comms,
                large,
                (orig, clusters),
                unknown,
            )| PathAttributes {
                origin: Some(origin),
                as_path: Some(as_path),
                next_hop: Some(nh),
                med,
                local_pref: lp,
                atomic_aggregate: atomic,
                aggregator: agg.map(|(asn, a)| Aggregator {
                    asn,
                    address: Ipv4Addr::from(a),
                }),
                communities: comms,
                large_communities: large,
                originator_id: orig.map(Ipv4Addr::from),
                cluster_list: clusters.into_iter().map(Ipv4Addr::from).collect(),
                unknown: unknown
                    .into_iter()
                    .map(|(type_code, data)| RawAttribute {
                        flags: 0xe0,
                        type_code,
                        data,
                    })
                    .collect(),
            },
        )
}

fn update() -> impl Strategy<Value = UpdateRepr> {
    (
        proptest::collection::vec(v4_prefix(), 0..50),
        attrs(),
        proptest::collection::vec(v4_prefix(), 0..50),
        proptest::option::of((
            any::<u128>(),
            proptest::option::of(any::<u128>()),
            proptest::collection::vec(v6_prefix(), 0..20),
        )),
        proptest::option::of(proptest::collection::vec(v6_prefix(), 0..20)),
    )
        .prop_map(|(withdrawn, attrs, nlri, reach, unreach)| UpdateRepr {
            withdrawn,
            attrs,
            nlri,
            mp_reach: reach.map(|(nh, ll, nlri)| MpReach {
                family: Family::Ipv6Unicast,
                next_hop: IpAddr::V6(Ipv6Addr::from(nh)),
                link_local: ll.map(Ipv6Addr::from),
                nlri,
            }),
            mp_unreach: unreach.map(|withdrawn| MpUnreach {
                family: Family::Ipv6Unicast,
                withdrawn,
            }),
            treat_as_withdraw: None,
            discarded: Vec::new(),
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            proptest::collection::vec((any::<u16>(), any::<u8>(), any::<bool>()), 0..3)
        )
            .prop_map(|(restarting, notification, restart_time, f)| {
                Capability::GracefulRestart {
                    restarting,
                    notification,
                    restart_time,
                    families: f
                        .into_iter()
                        .map(|(afi, safi, fw)| GrFamily {
                            afi,
                            safi,
                            forwarding_preserved: fw,
                        })
                        .collect(),
                }
            }),
        (
            prop_oneof![Just(70u8), Just(73u8), 128u8..=255],
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, data)| Capability::Unknown { code, data }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn update_round_trip(u in update(), four in any::<bool>()) {
        let ctx = DecodeContext { four_octet_as: four, ebgp: false, peer_as: 0, max_message_len: 65535, extended_next_hop_v4: false };
        let mut u = u;
        if !four {
            // With 2-octet peers AS4_PATH only survives an AGGREGATOR of AS_TRANS
            // (RFC 6793 §4.2.3); keep the property simple.
            u.attrs.aggregator = None;
        }
        let b = Message::Update(u.clone()).to_bytes(&ctx);
        let back = Message::parse(&b, &ctx).unwrap();
        prop_assert_eq!(back, Message::Update(u));
    }

    #[test]
    fn open_round_trip(asn in 1u32.., hold in prop_oneof![Just(0u16), 3u16..], id in any::<[u8; 4]>(), caps in proptest::collection::vec(capability(), 0..12)) {
        let o = OpenRepr::new(asn, hold, Ipv4Addr::from(id), caps);
        let ctx = DecodeContext::default();
        let b = Message::Open(o.clone()).to_bytes(&ctx);
        prop_assert_eq!(b.len(), o.buffer_len());
        prop_assert_eq!(Message::parse(&b, &ctx).unwrap(), Message::Open(o));
    }

    #[test]
    fn notification_round_trip(code in any::<u8>(), subcode in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let n = NotificationRepr { code, subcode, data };
        let ctx = DecodeContext::default();
        let b = Message::Notification(n.clone()).to_bytes(&ctx);
        prop_assert_eq!(Message::parse(&b, &ctx).unwrap(), Message::Notification(n));
    }

    #[test]
    fn route_refresh_round_trip(afi in any::<u16>(), subtype in any::<u8>(), safi in any::<u8>()) {
        let r = RouteRefreshRepr { afi, subtype, safi };
        let ctx = DecodeContext::default();
        prop_assert_eq!(Message::parse(&Message::RouteRefresh(r).to_bytes(&ctx), &ctx).unwrap(), Message::RouteRefresh(r));
    }

    /// Every strict prefix of a valid message is rejected or incomplete,
    /// never a panic; the framer waits for the rest.
    #[test]
    fn truncations_never_panic(u in update()) {
        let ctx = DecodeContext { four_octet_as: true, ebgp: false, peer_as: 0, max_message_len: 65535, extended_next_hop_v4: false };
        let b = Message::Update(u).to_bytes(&ctx);
        for cut in [0, 1, 18, 19, 20, 22, 23, b.len() / 2, b.len().saturating_sub(1)] {
            let _ = Message::parse(&b[..cut.min(b.len())], &ctx);
            let mut f = Framer::new();
            f.set_max_len(65535);
            f.push(&b[..cut.min(b.len())]);
            prop_assert!(f.next_message().is_none() || cut >= b.len());
        }
    }
}
