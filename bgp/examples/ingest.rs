//! Feed one peer's N IPv4 prefixes (default 1,000,000) in full-size
//! UPDATEs into a speaker, then withdraw them; announce them again, reload
//! with and without an import filter (re-run over the Adj-RIB-In), drop the
//! session; print the times and the memory.
//! `cargo run --release -p bgp --example ingest [N]`
use std::net::Ipv4Addr;
use std::time::Instant as StdInstant;

use bgp::config::{GroupConfig, ImportFilter, ListenRange, PrefixRule, RemoteAs, SpeakerConfig};
use bgp::wire::{
    AsPath, Capability, DecodeContext, Message, OpenRepr, Origin, PathAttributes, UpdateRepr,
};
use bgp::{Action, Instant, RouteChange, Speaker};
use ipnet::{IpNet, Ipv4Net};

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let cfg = SpeakerConfig {
        local_as: 65000,
        router_id: Ipv4Addr::new(192, 168, 10, 200),
        groups: vec![GroupConfig {
            name: "G".into(),
            remote_as: Some(RemoteAs::External),
            ..Default::default()
        }],
        listen_ranges: vec![ListenRange {
            prefix: "192.168.10.0/24".parse().unwrap(),
            group: "G".into(),
        }],
        ..Default::default()
    };
    let now = Instant::from_secs(1);
    let mut sp = Speaker::new(cfg, now).unwrap();
    let conn = sp
        .accept_inbound(
            "192.168.10.100".parse().unwrap(),
            "192.168.10.200".parse().unwrap(),
            now,
        )
        .unwrap();
    let ctx = DecodeContext::default();
    let open = OpenRepr::new(
        65001,
        90,
        Ipv4Addr::new(192, 168, 10, 100),
        vec![Capability::Multiprotocol { afi: 1, safi: 1 }],
    );
    let mut hs = Message::Open(open).to_bytes(&ctx);
    hs.extend(Message::Keepalive.to_bytes(&ctx));
    sp.receive(conn, &hs, now);
    while sp.poll_action().is_some() {}

    // Prefixes: n distinct /24s (and /20../32 mix would change little).
    let prefixes: Vec<IpNet> = (0..n as u32)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from((1u32 << 24) + (i << 8)), 24).unwrap()))
        .collect();
    // ~800 /24s fit a 4096-octet UPDATE. A few distinct attribute sets
    // (as a real table has), shared by many UPDATEs.
    let per = 800;
    let mut stream = Vec::new();
    for (k, chunk) in prefixes.chunks(per).enumerate() {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![65001, 100 + (k % 50) as u32, 200])),
            next_hop: Some(Ipv4Addr::new(192, 168, 10, 100)),
            med: Some((k % 7) as u32),
            communities: vec![0xfde9_0001],
            ..Default::default()
        };
        let u = UpdateRepr {
            attrs,
            nlri: chunk.to_vec(),
            ..Default::default()
        };
        u.emit(&ctx, &mut stream);
    }
    let mut wstream = Vec::new();
    for chunk in prefixes.chunks(per) {
        UpdateRepr {
            withdrawn: chunk.to_vec(),
            ..Default::default()
        }
        .emit(&ctx, &mut wstream);
    }
    drop(prefixes);
    let base_rss = peak_rss_kib();
    let rss_before = status_kib("VmRSS:");

    let t = StdInstant::now();
    let mut installed = 0usize;
    for c in stream.chunks(65536) {
        sp.receive(conn, c, now);
        installed += sp.take_route_changes().len();
    }
    let t_in = t.elapsed();
    let rss = peak_rss_kib();
    let rss_table = status_kib("VmRSS:").saturating_sub(rss_before);
    for a in std::iter::from_fn(|| sp.poll_action()) {
        if let Action::Close { .. } = a {
            panic!("session closed");
        }
    }
    assert_eq!(installed, n, "route changes");
    assert_eq!(sp.loc_rib_len(), n);

    let t = StdInstant::now();
    let mut removed = 0usize;
    for c in wstream.chunks(65536) {
        sp.receive(conn, c, now);
        removed += sp
            .take_route_changes()
            .iter()
            .filter(|c| matches!(c, RouteChange::Remove(_)))
            .count();
    }
    let t_out = t.elapsed();
    assert_eq!(removed, n);

    // Again, then the session drops (no graceful restart negotiated): every
    // route of the peer goes at once.
    for c in stream.chunks(65536) {
        sp.receive(conn, c, now);
    }
    sp.take_route_changes();

    // Reload with an import filter that keeps only 1.0.0.0/8 (the first
    // 65,536 /24s), then without it: re-run over the Adj-RIB-In in place.
    let mut filtered_cfg = sp.config().clone();
    filtered_cfg.groups[0].import = Some(ImportFilter {
        allow: vec![PrefixRule {
            prefix: "1.0.0.0/8".parse().unwrap(),
            ge: None,
            le: Some(24),
        }],
    });
    let open_cfg = sp.config().clone();
    let hwm_before = peak_rss_kib();
    let rss_before = status_kib("VmRSS:");
    let t = StdInstant::now();
    sp.reconfigure(filtered_cfg, now).unwrap();
    let withdrawn = sp.take_route_changes().len();
    let t_filter = t.elapsed();
    let t = StdInstant::now();
    sp.reconfigure(open_cfg, now).unwrap();
    let restored = sp.take_route_changes().len();
    let t_unfilter = t.elapsed();
    let kept = n.min(65536);
    assert_eq!((withdrawn, restored), (n - kept, n - kept));
    for a in std::iter::from_fn(|| sp.poll_action()) {
        if let Action::Close { .. } = a {
            panic!("session closed by the reload");
        }
    }
    let reload_rss = status_kib("VmRSS:").saturating_sub(rss_before);
    let reload_hwm = peak_rss_kib().saturating_sub(hwm_before);

    let t = StdInstant::now();
    sp.closed(conn, now);
    let dropped = sp.take_route_changes().len();
    let t_drop = t.elapsed();
    assert_eq!(dropped, n);
    println!(
        "reload: import filter re-run over {n} paths ({} withdrawn) {:.3} s, removed again ({} restored) {:.3} s; RSS +{} KiB, peak +{} KiB",
        n - kept,
        t_filter.as_secs_f64(),
        n - kept,
        t_unfilter.as_secs_f64(),
        reload_rss,
        reload_hwm
    );
    println!(
        "prefixes {n}: announce {:.3} s ({:.0} k/s), withdraw {:.3} s, session drop {:.3} s; peak RSS {} MiB (before table {} MiB, UPDATE bytes {} MiB); table adds {} MiB ({} B/prefix)",
        t_in.as_secs_f64(),
        n as f64 / t_in.as_secs_f64() / 1000.0,
        t_out.as_secs_f64(),
        t_drop.as_secs_f64(),
        rss / 1024,
        base_rss / 1024,
        (stream.len() + wstream.len()) / (1 << 20),
        rss_table / 1024,
        rss_table * 1024 / n as u64
    );
}
