//! Bad input: a hand-made BGP peer sends malformed messages; the router
//! answers each with the RFC 7606 action (treat-as-withdraw) or the RFC 4271
//! NOTIFICATION (read back, code and subcode checked), never panics, and an
//! established gobgpd session on another port keeps running with its route.
//!
//! The test peer runs on a thread that has joined the peer namespace
//! (`Ns::enter`, setns(2) through nix), so its sockets live there.
//!
//! ```text
//! gobgpd 192.168.10.100 (AS 65001) --eth1-- router (AS 65000) --eth2-- test peer 192.168.20.5x (AS 65099, dynamic)
//! ```
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use router_tests::daemons::{GobgpConfig, GobgpNeighbor, Gobgpd};
use router_tests::{poll_until, require, router_bin, run_timeout, wait_until, Lab, RouterProc};
use serde_json::Value;

const CONFIG: &str = r#"
[router]
worker_threads = 1

[[ports]]
name = "eth1"
addresses = ["192.168.10.200/24"]

[[ports]]
name = "eth2"
addresses = ["192.168.20.200/24"]

[bgp]
asn = 65000
router_id = "192.168.10.200"
networks = ["10.10.1.0/24"]

[[bgp.groups]]
name = "TESTERS"
remote_as = "external"

[[bgp.neighbors]]
address = "192.168.10.100"
remote_as = 65001
passive = true

[[bgp.listen]]
prefix = "192.168.20.0/24"
group = "TESTERS"
"#;

const PEER_AS: u32 = 65099;
/// The prefix the peer announces (valid) before sending the bad UPDATE.
const PROBE: [u8; 3] = [172, 29, 0];

// ------------------------------------------------------------------ the peer

fn header(len: usize, ty: u8) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(ty);
    m
}

fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = header(19 + body.len(), ty);
    m.extend_from_slice(body);
    m
}

/// OPEN, AS 65099, hold 90, capabilities: IPv4 unicast, 4-octet AS.
fn open(router_id: Ipv4Addr, cap_len_override: Option<u8>) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1]; // MP: AFI 1, SAFI 1
    caps.extend_from_slice(&[65, cap_len_override.unwrap_or(4)]);
    caps.extend_from_slice(&PEER_AS.to_be_bytes());
    let mut body = vec![4];
    body.extend_from_slice(&23456u16.to_be_bytes()); // AS_TRANS: we are 4-octet capable
    body.extend_from_slice(&90u16.to_be_bytes());
    body.extend_from_slice(&router_id.octets());
    body.push((caps.len() + 2) as u8);
    body.push(2); // parameter type: capabilities
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(1, &body)
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code, value.len() as u8];
    a.extend_from_slice(value);
    a
}

fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

fn good_attrs(next_hop: Ipv4Addr) -> Vec<u8> {
    let mut path = vec![2, 1];
    path.extend_from_slice(&PEER_AS.to_be_bytes());
    let mut a = attr(0x40, 1, &[0]);
    a.extend(attr(0x40, 2, &path));
    a.extend(attr(0x40, 3, &next_hop.octets()));
    a
}

fn probe_nlri() -> Vec<u8> {
    let mut n = vec![24];
    n.extend_from_slice(&PROBE);
    n
}

/// The malformed UPDATE of an update case.
fn bad_update(case: &str, nh: Ipv4Addr) -> Vec<u8> {
    let mut path = vec![2, 1];
    path.extend_from_slice(&PEER_AS.to_be_bytes());
    let origin = attr(0x40, 1, &[0]);
    let as_path = attr(0x40, 2, &path);
    let next_hop = attr(0x40, 3, &nh.octets());
    let attrs: Vec<u8> = match case {
        // NEXT_HOP claims 10 octets; only 4 follow inside the attribute list.
        "attr-overrun" => [origin, as_path, vec![0x40, 3, 10], nh.octets().to_vec()].concat(),
        "bad-origin" => [attr(0x40, 1, &[5]), as_path, next_hop].concat(),
        "empty-as-path" => [origin, attr(0x40, 2, &[]), next_hop].concat(),
        "short-next-hop" => [origin, as_path, attr(0x40, 3, &nh.octets()[..3])].concat(),
        // MP_REACH_NLRI with AFI/SAFI and nothing else: no next-hop length.
        "truncated-mp-reach" => [origin, as_path, next_hop, attr(0x80, 14, &[0, 1, 1])].concat(),
        other => panic!("unknown update case {other}"),
    };
    update(&attrs, &probe_nlri())
}

/// Reads one whole BGP message (header + body), or None on EOF/timeout.
fn read_msg(s: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(timeout)).ok()?;
    let mut h = [0u8; 19];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut body = vec![0u8; len.saturating_sub(19)];
    s.read_exact(&mut body).ok()?;
    Some([h.to_vec(), body].concat())
}

/// What the router sent after `deadline`: a NOTIFICATION, EOF or nothing.
fn outcome(s: &mut TcpStream, wait: Duration) -> String {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        match read_msg(s, Duration::from_millis(200)) {
            Some(m) if m[18] == 3 && m.len() >= 21 => {
                return format!("NOTIFICATION {} {}", m[19], m[20])
            }
            Some(_) => continue, // KEEPALIVE/UPDATE (our 10.10.1.0/24)
            None => {
                // Timeout: keep waiting; EOF: report.
                let mut b = [0u8; 1];
                s.set_read_timeout(Some(Duration::from_millis(1))).ok();
                match s.peek(&mut b) {
                    Ok(0) => return "EOF".into(),
                    _ => continue,
                }
            }
        }
    }
    "ALIVE".into()
}

fn route_installed(bin: &Path, sock: &Path, prefix: &str) -> bool {
    let out = run_timeout(
        Command::new(bin)
            .args(["show", "route", "--json", "--socket"])
            .arg(sock),
        Duration::from_secs(5),
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let routes = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(m) => m
            .get("routes")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    routes
        .iter()
        .any(|r| r.get("prefix").and_then(|p| p.as_str()) == Some(prefix))
}

/// The peer's side of one case (run inside the peer namespace): the
/// `RESULT ...` lines the test checks.
fn run_peer(case: &str, local: Ipv4Addr, bin: &Path, sock: &Path) -> Vec<String> {
    let mut results = Vec::new();
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((local, 0)).into())
        .expect("bind source address");
    s.connect_timeout(
        &SocketAddr::from(([192, 168, 20, 200], 179)).into(),
        Duration::from_secs(5),
    )
    .expect("connect to router:179");
    let mut s: TcpStream = s.into();
    s.set_nodelay(true).ok();
    let raw: Option<Vec<u8>> = match case {
        "bad-marker" => {
            let mut m = open(local, None);
            m[3] = 0;
            Some(m)
        }
        "length-too-short" => Some(header(18, 4)),
        // A KEEPALIVE is exactly 19 octets: 21 is too long for its type.
        "keepalive-too-long" => Some([header(21, 4), vec![0, 0]].concat()),
        "length-over-max" => Some([header(5000, 2), vec![0; 64]].concat()),
        "bad-capability-length" => Some(open(local, Some(3))),
        _ => None,
    };
    if let Some(m) = raw {
        s.write_all(&m).expect("send");
        results.push(format!(
            "RESULT {}",
            outcome(&mut s, Duration::from_secs(5))
        ));
        return results;
    }
    // Update cases: establish, announce the probe, then break it.
    s.write_all(&open(local, None)).expect("send OPEN");
    let theirs = read_msg(&mut s, Duration::from_secs(5)).expect("router's OPEN");
    assert_eq!(theirs[18], 1, "expected OPEN, got type {}", theirs[18]);
    s.write_all(&message(4, &[])).expect("send KEEPALIVE");
    let ka = read_msg(&mut s, Duration::from_secs(5)).expect("router's KEEPALIVE");
    assert_eq!(ka[18], 4, "expected KEEPALIVE, got type {}", ka[18]);
    s.write_all(&update(&good_attrs(local), &probe_nlri()))
        .expect("send UPDATE");
    let probe = "172.29.0.0/24";
    let installed = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        route_installed(bin, sock, probe)
    });
    results.push(format!("RESULT installed={installed}"));
    s.write_all(&bad_update(case, local))
        .expect("send bad UPDATE");
    let o = outcome(&mut s, Duration::from_secs(3));
    let gone = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        !route_installed(bin, sock, probe)
    });
    results.push(format!("RESULT {o} withdrawn={gone}"));
    results
}

// ------------------------------------------------------------------ the test

fn peers(r: &RouterProc) -> Vec<Value> {
    let out = r.cli(&["show", "bgp", "summary", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.get("peers")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default()
}

fn gobgp_peer(r: &RouterProc) -> Option<Value> {
    peers(r)
        .into_iter()
        .find(|p| p.get("address").and_then(|a| a.as_str()) == Some("192.168.10.100"))
}

#[test]
fn bgp_malformed_messages_get_rfc_answers_and_hurt_no_one_else() {
    require!("gobgpd", "gobgp");
    let mut lab = Lab::new("bgp-bad");
    let rtr = lab.ns("router");
    let g = lab.ns("gobgp");
    let p = lab.ns("peer");
    lab.veth(&rtr, "eth1", &g, "eth0");
    lab.veth(&rtr, "eth2", &p, "eth0");
    g.ip("addr add 192.168.10.100/24 dev eth0");
    rtr.sysctl("net.ipv4.ip_forward", "0");
    let router = lab.spawn_router(&rtr, CONFIG);

    let n = GobgpNeighbor::cilium(
        "192.168.10.200".parse().unwrap(),
        65000,
        "192.168.10.100".parse().unwrap(),
    );
    let gobgpd = Gobgpd::start(
        &mut lab,
        &g,
        "node",
        &GobgpConfig::cilium(65001, "192.168.10.100".parse().unwrap(), vec![n]),
    );
    gobgpd.announce("172.20.0.0/24").expect("announce");
    wait_until(
        "gobgpd session Established",
        Duration::from_secs(30),
        || {
            gobgp_peer(&router)
                .and_then(|p| {
                    p.get("state")
                        .and_then(|s| s.as_str())
                        .map(|s| s == "Established")
                })
                .unwrap_or(false)
        },
    );
    let started = Instant::now();

    // (case, expected outcome). Header and OPEN errors: RFC 4271 §6.1/§6.2
    // NOTIFICATIONs. UPDATE attribute errors: RFC 7606 treat-as-withdraw
    // (the session stays up, the probe prefix is withdrawn); a truncated
    // MP_REACH_NLRI cannot be located, a session reset (RFC 7606 §7.11, §5.3).
    let cases: [(&str, &str); 10] = [
        // §6.1: "If the Marker field of the message header is not as expected,
        // then ... Connection Not Synchronized" (1/1).
        ("bad-marker", "RESULT NOTIFICATION 1 1"),
        // §6.1: Length < 19 → Bad Message Length (1/2).
        ("length-too-short", "RESULT NOTIFICATION 1 2"),
        // §6.1: KEEPALIVE with a length other than 19 → Bad Message Length.
        ("keepalive-too-long", "RESULT NOTIFICATION 1 2"),
        // §6.1: Length > 4096 (no extended messages) → Bad Message Length.
        ("length-over-max", "RESULT NOTIFICATION 1 2"),
        // RFC 5492 §4 / RFC 4271 §6.2: malformed capability → OPEN Message Error.
        ("bad-capability-length", "RESULT NOTIFICATION 2 0"),
        // RFC 7606 §4: an attribute overrunning the list → treat-as-withdraw.
        ("attr-overrun", "RESULT ALIVE withdrawn=true"),
        // RFC 7606 §7.1: undefined ORIGIN → treat-as-withdraw.
        ("bad-origin", "RESULT ALIVE withdrawn=true"),
        // RFC 4271 §6.3 (an eBGP AS_PATH must start with the peer's AS) made
        // treat-as-withdraw by RFC 7606 §7.2.
        ("empty-as-path", "RESULT ALIVE withdrawn=true"),
        // RFC 7606 §7.3: NEXT_HOP length other than 4 → treat-as-withdraw.
        ("short-next-hop", "RESULT ALIVE withdrawn=true"),
        // RFC 7606 §7.11: MP_REACH_NLRI that cannot be parsed → session reset,
        // UPDATE Message Error / Optional Attribute Error (3/9).
        (
            "truncated-mp-reach",
            "RESULT NOTIFICATION 3 9 withdrawn=true",
        ),
    ];
    let bin = router_bin();
    let mut failures = Vec::new();
    for (i, (case, want)) in cases.iter().enumerate() {
        let addr = format!("192.168.20.{}", 50 + i);
        p.ip(&format!("addr add {addr}/24 dev eth0"));
        let local: Ipv4Addr = addr.parse().expect("address");
        // A peer that panics (e.g. cannot connect) is one failed case.
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| {
            p.enter(|| run_peer(case, local, &bin, &router.socket))
        }))
        .unwrap_or_else(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            vec![format!("peer panicked: {msg}")]
        });
        let results: Vec<&str> = out.iter().map(String::as_str).collect();
        let last = results.last().copied().unwrap_or("(no result)");
        eprintln!("case {case}: {results:?}");
        if want.contains("withdrawn") && !results.contains(&"RESULT installed=true") {
            failures.push(format!(
                "{case}: the valid probe UPDATE was not installed: {results:?}"
            ));
        } else if last != *want {
            failures.push(format!("{case}: want {want:?}, got {last:?}\n{results:?}"));
        }
        // The router lives on and the gobgpd session never flapped.
        assert!(
            lab.alive(router.pid),
            "router died on case {case}:\n{}",
            lab.log_of(router.pid)
        );
        let gp = gobgp_peer(&router).unwrap_or(Value::Null);
        assert_eq!(
            gp.get("state").and_then(|s| s.as_str()),
            Some("Established"),
            "gobgpd session after {case}: {gp}"
        );
        let up = gp.get("up_down_secs").and_then(|u| u.as_u64()).unwrap_or(0);
        assert!(
            up + 1 >= started.elapsed().as_secs(),
            "gobgpd session was reset during {case} (up {up} s)"
        );
        assert!(
            gobgpd.is_established("192.168.10.200".parse().unwrap()),
            "gobgpd's view after {case}"
        );
    }
    let out = router.cli(&["show", "route", "172.20.0.0/24", "--json"]);
    assert!(
        out.stdout.contains("192.168.10.100"),
        "gobgpd's route must survive: {out}"
    );
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
