//! A minimal blocking-free std::net transport around the sans-IO speaker,
//! for manual interop checks against real daemons (the router's own
//! transport is smoltcp). Accepts sessions from any address on
//! `LISTEN:179` (AS 65000, remote-as external, GR on, announces
//! 10.10.1.0/24), prints route changes, and exits after `SECONDS`
//! printing the summary and routes as JSON.
//!
//! `cargo run -p bgp --example tcp_peer -- 192.168.10.200 10`
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use bgp::config::{GracefulRestartConfig, GroupConfig, ListenRange, RemoteAs, SpeakerConfig};
use bgp::{Action, Instant, Speaker};

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: IpAddr = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or([127, 0, 0, 1].into());
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let cfg = SpeakerConfig {
        local_as: 65000,
        router_id: match listen {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => [10, 0, 0, 1].into(),
        },
        networks: vec!["10.10.1.0/24".parse().unwrap()],
        maximum_paths: 4,
        multipath_relax: true,
        graceful_restart: GracefulRestartConfig {
            enabled: true,
            ..Default::default()
        },
        groups: vec![GroupConfig {
            name: "ANY".into(),
            remote_as: Some(RemoteAs::External),
            ..Default::default()
        }],
        listen_ranges: vec![ListenRange {
            prefix: "0.0.0.0/0".parse().unwrap(),
            group: "ANY".into(),
        }],
        ..Default::default()
    };
    let start = StdInstant::now();
    let now = || Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut sp = Speaker::new(cfg, now()).expect("config");
    let listener = TcpListener::bind(SocketAddr::new(listen, 179)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let mut conns: HashMap<bgp::ConnId, TcpStream> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    while start.elapsed() < Duration::from_secs(secs) {
        if let Ok((s, peer)) = listener.accept() {
            let local = s.local_addr().map(|a| a.ip()).unwrap_or(listen);
            match sp.accept_inbound(peer.ip(), local, now()) {
                Some(c) => {
                    s.set_nonblocking(true).ok();
                    conns.insert(c, s);
                }
                None => drop(s),
            }
        }
        let ids: Vec<_> = conns.keys().copied().collect();
        for c in ids {
            let Some(s) = conns.get_mut(&c) else { continue };
            match s.read(&mut buf) {
                Ok(0) => {
                    conns.remove(&c);
                    sp.closed(c, now());
                }
                Ok(n) => sp.receive(c, &buf[..n], now()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    conns.remove(&c);
                    sp.closed(c, now());
                }
            }
        }
        sp.poll(now());
        while let Some(a) = sp.poll_action() {
            match a {
                Action::Send { conn, data } => {
                    if let Some(s) = conns.get_mut(&conn) {
                        s.set_nonblocking(false).ok();
                        let _ = s.write_all(&data);
                        s.set_nonblocking(true).ok();
                    }
                }
                Action::Close { conn } => {
                    conns.remove(&conn);
                }
                Action::Connect { conn, .. } => sp.closed(conn, now()),
            }
        }
        for ch in sp.take_route_changes() {
            println!("route change: {ch:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("{}", serde_json_string(&sp.summary(now())));
    for r in sp.routes(None, now()) {
        println!("{r:?}");
    }
    for n in sp.neighbors(now(), None) {
        println!("{n:?}");
    }
}

fn serde_json_string<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:#?}")
}
