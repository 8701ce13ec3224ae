//! Bodies of the fuzz targets (`bgp/fuzz/fuzz_targets/*.rs` call these).
//! Built only with the `fuzzing` feature (which `bgp/fuzz` enables) and in
//! the crate's own tests, which drive them with random input on stable.
use std::net::IpAddr;

use crate::config::{GroupConfig, ListenRange, RemoteAs, SpeakerConfig};
use crate::time::Instant;
use crate::wire::{Capability, DecodeContext, Framer, GrFamily, Message, OpenRepr};
use crate::Speaker;

fn contexts() -> [DecodeContext; 4] {
    let base = DecodeContext {
        four_octet_as: true,
        ebgp: true,
        peer_as: 65001,
        max_message_len: 65535,
        extended_next_hop_v4: true,
    };
    [
        base,
        DecodeContext {
            four_octet_as: false,
            ..base
        },
        DecodeContext {
            ebgp: false,
            peer_as: 65000,
            ..base
        },
        DecodeContext {
            four_octet_as: false,
            ebgp: false,
            peer_as: 0,
            max_message_len: 4096,
            extended_next_hop_v4: false,
        },
    ]
}

/// Decode `data` as a BGP byte stream and as one message under several
/// session contexts. Panics only if an invariant breaks: decoding must
/// never panic, and a cleanly decoded message must re-encode to bytes that
/// decode to the same message.
pub fn decode_all(data: &[u8]) {
    for ctx in contexts() {
        check_message(data, &ctx);
        let mut f = Framer::new();
        f.set_max_len(ctx.max_message_len);
        f.push(data);
        while let Some(Ok(m)) = f.next_message() {
            check_message(&m, &ctx);
        }
    }
}

fn check_message(bytes: &[u8], ctx: &DecodeContext) {
    let Ok(msg) = Message::parse(bytes, ctx) else {
        return;
    };
    if let Message::Update(u) = &msg {
        if u.treat_as_withdraw.is_some() || !u.discarded.is_empty() {
            return;
        }
    }
    let again = msg.to_bytes(ctx);
    if again.len() > ctx.max_message_len {
        // Normalisation (e.g. an AS_PATH split into 255-AS segments) can
        // grow a message; not an error of the decoder.
        return;
    }
    match Message::parse(&again, ctx) {
        Ok(m2) => assert_eq!(m2, msg, "re-encoded message decodes differently"),
        Err(e) => panic!("re-encoded message fails to decode: {e}"),
    }
}

/// Feed `data` to an Established session of a speaker (as the peer's
/// bytes after the handshake). Must never panic.
pub fn speaker_receive(data: &[u8]) {
    let cfg = SpeakerConfig {
        local_as: 65000,
        router_id: "192.168.10.200"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST),
        networks: vec!["10.10.1.0/24"
            .parse()
            .unwrap_or_else(|_| ipnet::IpNet::default())],
        maximum_paths: 4,
        multipath_relax: true,
        graceful_restart: crate::config::GracefulRestartConfig {
            enabled: true,
            ..Default::default()
        },
        groups: vec![GroupConfig {
            name: "G".into(),
            remote_as: Some(RemoteAs::External),
            max_prefix: Some(1000),
            ..Default::default()
        }],
        listen_ranges: vec![ListenRange {
            prefix: "192.168.10.0/24".parse().unwrap_or_default(),
            group: "G".into(),
        }],
        ..Default::default()
    };
    let now = Instant::from_secs(1);
    let Ok(mut sp) = Speaker::new(cfg, now) else {
        return;
    };
    let peer: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 10, 100));
    let local: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 10, 200));
    let Some(conn) = sp.accept_inbound(peer, local, now) else {
        return;
    };
    let open = OpenRepr::new(
        65001,
        9,
        std::net::Ipv4Addr::new(192, 168, 10, 100),
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::Multiprotocol { afi: 2, safi: 1 },
            Capability::RouteRefresh,
            Capability::ExtendedMessage,
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
        ],
    );
    let ctx = DecodeContext::default();
    let mut hs = Message::Open(open).to_bytes(&ctx);
    hs.extend(Message::Keepalive.to_bytes(&ctx));
    sp.receive(conn, &hs, now);
    // Split the input at a data-dependent point to exercise the framer.
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    sp.receive(conn, &data[..cut], now);
    sp.receive(conn, &data[cut..], now);
    while sp.poll_action().is_some() {}
    let _ = sp.take_route_changes();
    let later = Instant::from_secs(100);
    sp.poll(later);
    let _ = sp.summary(later);
    let _ = sp.routes(None, later);
    let _ = sp.neighbors(later, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The seed corpus (`bgp/fuzz/seeds`) holds valid messages, plus the
    /// AS 0 ones below.
    #[test]
    fn seeds_are_valid() {
        let seeds: [&[u8]; 6] = [
            include_bytes!("../fuzz/seeds/gobgp-3.10-open.bin"),
            include_bytes!("../fuzz/seeds/update-ipv4.bin"),
            include_bytes!("../fuzz/seeds/update-ipv6.bin"),
            include_bytes!("../fuzz/seeds/eor-ipv4-keepalive.bin"),
            include_bytes!("../fuzz/seeds/notification.bin"),
            include_bytes!("../fuzz/seeds/route-refresh.bin"),
        ];
        for seed in seeds {
            let mut f = Framer::new();
            f.push(seed);
            let mut n = 0;
            while let Some(m) = f.next_message() {
                if let Message::Update(u) = Message::parse(&m.unwrap(), &contexts()[0]).unwrap() {
                    assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
                }
                n += 1;
            }
            assert!(n >= 1);
            assert_eq!(f.pending(), 0);
            decode_all(seed);
            speaker_receive(seed);
        }
    }

    /// Seeds that are malformed on purpose, with the RFC 7607 outcome each
    /// must keep producing.
    #[test]
    fn as0_seeds_are_handled_per_rfc7607() {
        let as_path: &[u8] = include_bytes!("../fuzz/seeds/update-as0-as-path.bin");
        let aggregator: &[u8] = include_bytes!("../fuzz/seeds/update-as0-aggregator.bin");
        let Ok(Message::Update(u)) = Message::parse(as_path, &contexts()[0]) else {
            panic!("AS_PATH seed is not an UPDATE")
        };
        assert_eq!(u.treat_as_withdraw.map(|e| e.type_code), Some(2));
        let Ok(Message::Update(u)) = Message::parse(aggregator, &contexts()[0]) else {
            panic!("AGGREGATOR seed is not an UPDATE")
        };
        assert!(u.treat_as_withdraw.is_none());
        assert_eq!(
            u.discarded.iter().map(|e| e.type_code).collect::<Vec<_>>(),
            vec![7]
        );
        for seed in [as_path, aggregator] {
            decode_all(seed);
            speaker_receive(seed);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            decode_all(&data);
        }

        /// Random bytes behind a valid header, so the body decoders run.
        #[test]
        fn random_bodies_never_panic(t in 1u8..=5, body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut m = vec![0xff; 16];
            m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
            m.push(t);
            m.extend_from_slice(&body);
            decode_all(&m);
            speaker_receive(&m);
        }

        /// UPDATE-shaped inputs: plausible lengths, random attributes.
        #[test]
        fn random_updates_never_panic(attrs in proptest::collection::vec(any::<u8>(), 0..300), nlri in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut m = vec![0xff; 16];
            m.extend_from_slice(&((23 + attrs.len() + nlri.len()) as u16).to_be_bytes());
            m.push(2);
            m.extend_from_slice(&[0, 0]);
            m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
            m.extend_from_slice(&attrs);
            m.extend_from_slice(&nlri);
            decode_all(&m);
            speaker_receive(&m);
        }
    }
}
