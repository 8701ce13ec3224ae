use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map};

use crate::config::LoopbackConfig;
use crate::dataplane::counters::DropReason;
use crate::shared::Shared;

use super::*;
use crate::ports::PortInfo;
use crate::rib::RouteManager;

/// A unique socket path in a fresh temp directory.
fn temp_socket(tag: &str) -> (PathBuf, PathBuf) {
    use std::sync::atomic::AtomicUsize;
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "router-ctl-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    (dir.join("ctl.sock"), dir)
}

fn ctx() -> BuiltinContext {
    let shared = Shared::new(
        vec![PortInfo {
            id: 0,
            name: "eth1".into(),
            ifname: "veth1".into(),
            ifindex: 7,
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
            addrs: vec!["192.168.10.200/24".parse().unwrap()],
            addrs6: Vec::new(),
        }],
        1,
    );
    shared.counters.port(0, 0).rx(100);
    shared.counters.port(1, 0).rx(60);
    shared.counters.port(0, 0).drop(DropReason::NoRoute);
    let mut rm = RouteManager::new(shared.clone());
    let loops = vec![LoopbackConfig {
        name: "loop1".into(),
        addresses: vec!["10.10.1.200/24".parse().unwrap()],
        addresses6: Vec::new(),
    }];
    rm.set_connected(&loops).unwrap();
    rm.apply_bgp([crate::rib::BgpRouteChange::Announce {
        prefix: "172.16.1.1/32".parse().unwrap(),
        next_hops: vec![
            "192.168.10.100"
                .parse::<std::net::Ipv4Addr>()
                .unwrap()
                .into(),
            "192.168.10.101"
                .parse::<std::net::Ipv4Addr>()
                .unwrap()
                .into(),
        ],
        internal: false,
    }])
    .unwrap();
    BuiltinContext {
        shared,
        routes: rm.into_handle(),
        running: crate::config::running::running_config(
            crate::config::Config {
                file: "test.toml".into(),
                router: Default::default(),
                ports: Vec::new(),
                loopbacks: loops,
                routes: Vec::new(),
                route_lines: Vec::new(),
                routes6: Vec::new(),
                route_lines6: Vec::new(),
                bgp: None,
                metrics: None,
            },
            String::new(),
        ),
        started: Instant::now(),
    }
}

fn ask(path: &Path, cmd: &str) -> Response {
    call(path, cmd, Map::new(), Duration::from_secs(5)).unwrap()
}

#[test]
fn dispatch_matches_longest_command_and_passes_words() {
    let reg = Registry::new();
    reg.register("show bgp", "x", |_| Ok(Reply::data(json!("short"))));
    reg.register("show bgp neighbors", "x", |r| {
        Ok(Reply::data(json!(r.words)))
    });
    let r = reg.dispatch(WireRequest {
        command: "  show  bgp neighbors 10.0.0.1 ".into(),
        args: Map::new(),
    });
    assert!(r.ok);
    assert_eq!(r.data, Some(json!(["10.0.0.1"])));
    let mut args = Map::new();
    args.insert("words".into(), json!(["a", 5]));
    let r = reg.dispatch(WireRequest {
        command: "show bgp neighbors x".into(),
        args,
    });
    assert_eq!(r.data, Some(json!(["x", "a", "5"])));
    assert_eq!(
        reg.dispatch(WireRequest {
            command: "show bgp".into(),
            args: Map::new()
        })
        .data,
        Some(json!("short"))
    );
    let r = reg.dispatch(WireRequest {
        command: "show nothing".into(),
        args: Map::new(),
    });
    assert!(!r.ok);
    assert!(r.error.unwrap().contains("unknown command `show nothing`"));
    reg.register("boom", "panics", |_| panic!("bug"));
    let r = reg.dispatch(WireRequest {
        command: "boom".into(),
        args: Map::new(),
    });
    assert_eq!(r.error.as_deref(), Some("internal error in `boom`"));
    reg.register("fail", "errors", |_| Err("nope".into()));
    let r = reg.dispatch_line(br#"{"command":"fail"}"#);
    assert_eq!(r, Response::error("nope"));
    assert!(!reg.dispatch_line(b"{not json").ok);
    assert!(!reg.dispatch_line(br#"{"command":"ping","extra":1}"#).ok);
    assert!(reg.commands().iter().any(|(c, _)| c == "help"));
}

#[test]
fn round_trip_over_socket() {
    let (path, dir) = temp_socket("rt");
    let reg = Registry::new();
    register_builtin(&reg, ctx());
    let server = ControlServer::start(&path, Arc::clone(&reg)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    let r = ask(&path, "ping");
    assert_eq!((r.ok, r.data), (true, Some(json!("pong"))));
    let r = ask(&path, "show version");
    assert!(r.text.unwrap().starts_with("router "));

    let r = ask(&path, "show interfaces");
    assert!(r.ok, "{r:?}");
    let d = r.data.unwrap();
    assert_eq!(d[0]["name"], "eth1");
    assert_eq!(d[0]["rx_packets"], 2);
    assert_eq!(d[0]["rx_bytes"], 160);
    assert_eq!(d[0]["drops"]["no_route"], 1);
    assert_eq!(d[0]["mac"], "02:00:00:00:00:01");
    assert_eq!(d[1]["kind"], "loopback");
    let t = r.table.unwrap();
    assert_eq!(t.columns.last().unwrap(), "NO-ROUTE");
    assert_eq!(t.rows.len(), 2);

    let r = ask(&path, "show route");
    let d = r.data.unwrap();
    let ecmp = d
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["prefix"] == "172.16.1.1/32")
        .unwrap();
    assert_eq!(ecmp["source"], "bgp");
    assert_eq!(ecmp["next_hops"].as_array().unwrap().len(), 2);
    let t = r.table.unwrap();
    assert!(t
        .rows
        .iter()
        .any(|row| row[3] == "via 192.168.10.101 (ecmp 2/2)"));
    let r = ask(&path, "show route summary");
    assert_eq!(r.data.unwrap()["bgp"], 1);
    let r = ask(&path, "show route 172.16.1.1");
    assert_eq!(r.data.unwrap()[0]["prefix"], "172.16.1.1/32");
    let r = ask(&path, "show route 10.10.1.0/24");
    assert_eq!(r.data.unwrap()[0]["kind"], "unreachable");
    assert!(!ask(&path, "show route bogus").ok);

    // Several requests on one connection, and a request too long.
    {
        use std::os::unix::net::UnixStream as S;
        let s = S::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (&s).write_all(b"{\"command\":\"ping\"}\n\n{\"command\":\"show uptime\"}\n")
            .unwrap();
        let mut lines = BufReader::new(&s).lines();
        assert!(lines.next().unwrap().unwrap().contains("pong"));
        assert!(lines.next().unwrap().unwrap().contains("seconds"));
    }
    {
        use std::os::unix::net::UnixStream as S;
        let s = S::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = (&s).write_all(&vec![b'x'; MAX_REQUEST + 10]);
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        assert!(line.contains("request longer than"), "{line}");
    }
    // A registration after start is served.
    reg.register("show bgp summary", "test", |_| {
        Ok(Reply::data(json!({"peers": 0})))
    });
    assert_eq!(
        ask(&path, "show bgp summary").data,
        Some(json!({"peers": 0}))
    );

    server.stop();
    assert!(!path.exists(), "socket removed on stop");
    assert!(matches!(
        call(&path, "ping", Map::new(), Duration::from_secs(1)),
        Err(ClientError::Connect { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bounded_clients() {
    let (path, dir) = temp_socket("max");
    let server = ControlServer::start(&path, Registry::new()).unwrap();
    // Fill every slot; a ping answered on each proves it was accepted.
    let held: Vec<_> = (0..MAX_CLIENTS)
        .map(|_| {
            let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            (&s).write_all(b"{\"command\":\"ping\"}\n").unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            assert!(line.contains("pong"), "{line}");
            s
        })
        .collect();
    let r = call(&path, "ping", Map::new(), Duration::from_secs(5)).unwrap();
    assert_eq!(r.error.as_deref(), Some("too many control connections"));
    drop(held);
    // Slots free up once the server sees the connections close.
    let mut ok = false;
    for _ in 0..100 {
        if call(&path, "ping", Map::new(), Duration::from_secs(5)).is_ok_and(|r| r.ok) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok, "a slot became free");
    drop(server);
    assert!(!path.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn idle_connections_are_closed() {
    let (path, dir) = temp_socket("idle");
    let limits = Limits {
        idle_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = ControlServer::start_with(&path, Registry::new(), limits).unwrap();
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A partial request, then silence: the server hangs up.
    (&s).write_all(b"{\"comm").unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let n = (&s).read_to_end(&mut buf).unwrap();
    assert_eq!(n, 0, "closed without an answer");
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert!(ask(&path, "ping").ok);
    server.stop();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stale_socket_is_replaced_live_one_refused_file_kept() {
    let (path, dir) = temp_socket("stale");
    // A socket file nobody listens on (a crashed router's).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = ControlServer::start(&path, Registry::new()).unwrap();
    assert!(ask(&path, "ping").ok);
    // A second router on the same socket is refused; the first keeps it.
    let e = ControlServer::start(&path, Registry::new()).err().unwrap();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    assert!(ask(&path, "ping").ok);
    server.stop();
    // A regular file is never removed.
    std::fs::write(&path, b"data").unwrap();
    let e = ControlServer::start(&path, Registry::new()).err().unwrap();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn durations() {
    assert_eq!(format_duration(3725), "01:02:05");
    assert_eq!(format_duration(2 * 86400 + 3600 * 3 + 60 * 4), "2d03h04m");
}

#[test]
fn show_neighbors_lists_arp_and_ndp_entries_by_port_and_address() {
    use crate::neigh::NeighState;
    let c = ctx();
    let t0 = Instant::now();
    {
        let w = c.shared.neigh.writer().unwrap();
        w.upsert(
            0,
            "192.168.10.101".parse().unwrap(),
            [2, 0, 0, 0, 1, 1],
            NeighState::Stale,
        );
        w.upsert(
            0,
            "192.168.10.100".parse().unwrap(),
            [2, 0, 0, 0, 1, 0],
            NeighState::Reachable,
        );
        w.set_confirmed(0, "192.168.10.100".parse().unwrap(), t0);
        let w6 = c.shared.neigh6.writer().unwrap();
        w6.upsert(
            0,
            "fe80::1".parse().unwrap(),
            [0; 6],
            NeighState::Incomplete,
        );
    }
    let r = commands::show_neighbors(&c.shared, t0 + Duration::from_millis(2500));
    let rows = r.data.as_array().unwrap();
    let addrs: Vec<&str> = rows
        .iter()
        .map(|v| v["address"].as_str().unwrap())
        .collect();
    assert_eq!(addrs, ["192.168.10.100", "192.168.10.101", "fe80::1"]);
    assert_eq!(rows[0]["port"], "eth1");
    assert_eq!(rows[0]["mac"], "02:00:00:00:01:00");
    assert_eq!(rows[0]["state"], "REACHABLE");
    // Kept to the millisecond: up to 1 ms more than 2.5 s.
    let ago = rows[0]["confirmed_secs_ago"].as_f64().unwrap();
    assert!((2.5..=2.502).contains(&ago), "{ago}");
    assert!(rows[1]["confirmed_secs_ago"].is_null());
    assert_eq!(rows[2]["family"], "ipv6");
    let t = r.table.unwrap();
    assert_eq!(t.columns, ["PORT", "ADDRESS", "MAC", "STATE", "CONFIRMED"]);
    assert!(t.rows[0][4].starts_with("2.5") && t.rows[0][4].ends_with("s ago"));
    assert_eq!(t.rows[1][4], "never");
    // An unresolved neighbour has no MAC to show.
    assert_eq!(t.rows[2], ["eth1", "fe80::1", "-", "INCOMPLETE", "never"]);
}
