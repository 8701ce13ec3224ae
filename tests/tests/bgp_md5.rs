//! TCP-MD5 (RFC 2385) against the kernel's implementation (TCP_MD5SIG) as
//! gobgpd, FRR and BIRD set it up, one daemon per router port:
//!
//! ```text
//! gobgpd 192.168.51.1 (AS 65001) --eth1--+
//! frr    192.168.52.1 (AS 65002) --eth2--+-- router (AS 65000)
//! bird   192.168.53.1 (AS 65003) --eth3--+
//! ```
//!
//! 1. All three with the router's password (gobgpd's from a
//!    `password_file`, FRR's and BIRD's from the group): the sessions come
//!    up and routes flow both ways.
//! 2. gobgpd and BIRD with a wrong password, FRR with none: every session
//!    stays down, the router counts the drops (`md5_bad`, `md5_missing`) and
//!    `show bgp neighbors` says why.
//! 3. The other way round (gobgpd and BIRD with none, FRR wrong): the same.
use router_tests::router::show_json as show;
use std::time::Duration;

use router_tests::daemons::{
    kernel_has_route, Bird, BirdConfig, Frr, FrrConfig, GobgpConfig, GobgpNeighbor, Gobgpd,
};
use router_tests::{poll_until, require, wait_until, Lab, Ns, RouterProc};
use serde_json::Value;

const GOBGP_SECRET: &str = "gobgp-Secret-2385";
const GROUP_SECRET: &str = "frr+bird_secret";
const WRONG: &str = "not-the-password";

const CONFIG: &str = r#"
[router]
worker_threads = 1

[[ports]]
name = "eth1"
addresses = ["192.168.51.200/24"]

[[ports]]
name = "eth2"
addresses = ["192.168.52.200/24"]

[[ports]]
name = "eth3"
addresses = ["192.168.53.200/24"]

[[loopbacks]]
name = "loop1"
addresses = ["10.10.1.200/24"]

[bgp]
asn = 65000
router_id = "10.10.1.200"
networks = ["10.10.1.0/24"]

[[bgp.groups]]
name = "PEERS"
hold_time = 9
keepalive = 3
connect_retry = 1
password = "frr+bird_secret"

[[bgp.neighbors]]
address = "192.168.51.1"
remote_as = 65001
group = "PEERS"
# Cilium's secret is a file; relative to this config file.
password_file = "gobgp.secret"

[[bgp.neighbors]]
address = "192.168.52.1"
remote_as = 65002
group = "PEERS"

[[bgp.neighbors]]
address = "192.168.53.1"
remote_as = 65003
group = "PEERS"
"#;

const GOBGP: &str = "192.168.51.1";
const FRR: &str = "192.168.52.1";
const BIRD: &str = "192.168.53.1";

fn state(r: &RouterProc, peer: &str) -> String {
    let v = show(r, &["show", "bgp", "summary"]);
    v.get("peers")
        .and_then(|p| p.as_array())
        .and_then(|a| {
            a.iter()
                .find(|p| p.get("address").and_then(|x| x.as_str()) == Some(peer))
        })
        .and_then(|p| p.get("state").and_then(|s| s.as_str()))
        .unwrap_or("?")
        .to_string()
}

/// The neighbour's `tcp_md5` object from `show bgp neighbors ADDR`.
fn md5_of(r: &RouterProc, peer: &str) -> Value {
    let v = show(r, &["show", "bgp", "neighbors", peer]);
    v.get(0)
        .and_then(|n| n.get("tcp_md5"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn count(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(|x| x.as_u64()).unwrap_or(0)
}

fn transport(r: &RouterProc) -> Value {
    show(r, &["show", "bgp", "summary"])
        .get("transport")
        .cloned()
        .unwrap_or(Value::Null)
}

/// The BGP route for `prefix` is in the router's FIB.
fn has_bgp_route(r: &RouterProc, prefix: &str) -> bool {
    let v = show(r, &["show", "route"]);
    let routes = match v {
        Value::Array(a) => a,
        Value::Object(ref m) => m
            .get("routes")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    routes.iter().any(|e| {
        e.get("prefix").and_then(|p| p.as_str()) == Some(prefix)
            && e.get("source").and_then(|s| s.as_str()) == Some("bgp")
    })
}

struct Peers {
    gobgp_ns: Ns,
    frr_ns: Ns,
    bird_ns: Ns,
    gobgpd: Option<Gobgpd>,
    frr: Option<Frr>,
    bird: Option<Bird>,
}

impl Peers {
    /// (Re)starts the three daemons with these passwords (None = no TCP-MD5).
    fn start(
        &mut self,
        lab: &mut Lab,
        phase: &str,
        gobgp: Option<&str>,
        frr: Option<&str>,
        bird: Option<&str>,
        zebra: bool,
    ) {
        self.stop(lab);
        let mut n = GobgpNeighbor::cilium(
            "192.168.51.200".parse().unwrap(),
            65000,
            GOBGP.parse().unwrap(),
        );
        n.ipv6 = false;
        n.graceful_restart = None;
        n.auth_password = gobgp.map(str::to_string);
        let g = Gobgpd::start(
            lab,
            &self.gobgp_ns,
            &format!("node-{phase}"),
            &GobgpConfig::cilium(65001, GOBGP.parse().unwrap(), vec![n]),
        );
        g.announce("172.20.51.0/24").expect("gobgp global rib add");
        self.gobgpd = Some(g);
        self.frr = Some(Frr::start(
            lab,
            &self.frr_ns,
            &format!("peer-{phase}"),
            &FrrConfig {
                asn: 65002,
                router_id: FRR.parse().unwrap(),
                neighbors: vec![("192.168.52.200".parse().unwrap(), "65000".into())],
                networks: vec!["172.20.52.0/24".into()],
                password: frr.map(str::to_string),
            },
            zebra,
        ));
        self.bird = Some(Bird::start(
            lab,
            &self.bird_ns,
            &format!("peer-{phase}"),
            &BirdConfig {
                router_id: BIRD.parse().unwrap(),
                asn: 65003,
                local: BIRD.parse().unwrap(),
                neighbors: vec![("192.168.53.200".parse().unwrap(), 65000)],
                originate: vec!["172.20.53.0/24".into()],
                kernel_export: true,
                hold_time: 9,
                password: bird.map(str::to_string),
            },
        ));
    }

    fn stop(&mut self, lab: &mut Lab) {
        if let Some(g) = self.gobgpd.take() {
            lab.stop(g.pid);
        }
        if let Some(f) = self.frr.take() {
            lab.stop(f.bgpd);
            if let Some(z) = f.zebra {
                lab.stop(z);
            }
        }
        if let Some(b) = self.bird.take() {
            lab.stop(b.pid);
        }
    }

    fn gobgp_established(&self) -> bool {
        self.gobgpd
            .as_ref()
            .is_some_and(|g| g.is_established("192.168.51.200".parse().unwrap()))
    }

    fn frr_established(&self) -> bool {
        self.frr
            .as_ref()
            .is_some_and(|f| f.is_established("192.168.52.200".parse().unwrap()))
    }

    fn bird_established(&self) -> bool {
        self.bird.as_ref().is_some_and(|b| b.is_established(0))
    }
}

/// Waits until every `(peer, counter, reason)` shows drops of that kind
/// after `before`, with the reason in `show bgp neighbors`; then checks for
/// a few seconds that no session comes up on either side.
fn expect_refused(
    router: &RouterProc,
    peers: &Peers,
    cases: &[(&str, &str, &str)],
    before: &[(String, u64)],
) {
    for (peer, counter, words) in cases {
        let base = before
            .iter()
            .find(|(k, _)| k == &format!("{peer}/{counter}"))
            .map_or(0, |(_, v)| *v);
        let ok = poll_until(Duration::from_secs(20), Duration::from_millis(250), || {
            let m = md5_of(router, peer);
            count(&m, counter) > base
                && m.get("down_reason")
                    .and_then(|r| r.as_str())
                    .is_some_and(|r| r.contains(words) && r.contains(&format!("from {peer}")))
        });
        assert!(
            ok,
            "{peer}: no {counter} drops with reason {words:?}: {}",
            md5_of(router, peer)
        );
        let text = router.cli(&["show", "bgp", "neighbors", peer]);
        assert!(
            text.stdout.contains("down reason") && text.stdout.contains("TCP-MD5: "),
            "{text}"
        );
    }
    // The sessions stay down: sample for 4 s (the peers retry every second).
    for _ in 0..8 {
        for (peer, _, _) in cases {
            assert_ne!(state(router, peer), "Established", "{peer} came up");
        }
        assert!(!peers.gobgp_established(), "gobgpd came up");
        assert!(!peers.frr_established(), "FRR came up");
        assert!(!peers.bird_established(), "BIRD came up");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn snapshot(router: &RouterProc) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for p in [GOBGP, FRR, BIRD] {
        let m = md5_of(router, p);
        for c in ["missing", "bad", "unexpected", "verified"] {
            v.push((format!("{p}/{c}"), count(&m, c)));
        }
    }
    v
}

#[test]
fn tcp_md5_with_gobgpd_frr_and_bird() {
    require!(
        "gobgpd",
        "gobgp",
        "bird",
        "birdc",
        "vtysh",
        "/usr/lib/frr/bgpd",
        "/usr/lib/frr/zebra"
    );
    let mut lab = Lab::new("bgp-md5");
    let rtr = lab.ns("router");
    let mut peers = Peers {
        gobgp_ns: lab.ns("gobgp"),
        frr_ns: lab.ns("frr"),
        bird_ns: lab.ns("bird"),
        gobgpd: None,
        frr: None,
        bird: None,
    };
    lab.veth(&rtr, "eth1", &peers.gobgp_ns, "eth0");
    lab.veth(&rtr, "eth2", &peers.frr_ns, "eth0");
    lab.veth(&rtr, "eth3", &peers.bird_ns, "eth0");
    peers.gobgp_ns.ip("addr add 192.168.51.1/24 dev eth0");
    peers.frr_ns.ip("addr add 192.168.52.1/24 dev eth0");
    peers.bird_ns.ip("addr add 192.168.53.1/24 dev eth0");
    // gobgpd (Cilium) reaches the router's loopback only through BGP; the
    // next hop of what it learns is on the link.
    rtr.sysctl("net.ipv4.ip_forward", "0");
    // The secret file as a Kubernetes Secret mounts it: one trailing newline.
    std::fs::write(lab.dir().join("gobgp.secret"), format!("{GOBGP_SECRET}\n"))
        .expect("write the secret file");
    let cfg = lab.dir().join("router-md5.toml");
    std::fs::write(&cfg, CONFIG).expect("write router config");
    let router = lab.spawn_router_file(&rtr, &cfg);

    // 1. The same password everywhere: sessions up, routes both ways.
    peers.start(
        &mut lab,
        "right",
        Some(GOBGP_SECRET),
        Some(GROUP_SECRET),
        Some(GROUP_SECRET),
        true,
    );
    wait_until(
        "all three sessions Established with TCP-MD5",
        Duration::from_secs(30),
        || {
            [GOBGP, FRR, BIRD]
                .iter()
                .all(|p| state(&router, p) == "Established")
        },
    );
    assert!(peers.gobgp_established() && peers.frr_established() && peers.bird_established());
    wait_until(
        "the router installs the three peers' prefixes",
        Duration::from_secs(20),
        || {
            ["172.20.51.0/24", "172.20.52.0/24", "172.20.53.0/24"]
                .iter()
                .all(|p| has_bgp_route(&router, p))
        },
    );
    wait_until(
        "BIRD and zebra install 10.10.1.0/24, gobgpd has it",
        Duration::from_secs(20),
        || {
            kernel_has_route(&peers.bird_ns, "10.10.1.0/24")
                && kernel_has_route(&peers.frr_ns, "10.10.1.0/24")
                && peers
                    .gobgpd
                    .as_ref()
                    .and_then(|g| g.cli(&["global", "rib", "-a", "ipv4"]).ok())
                    .is_some_and(|s| s.contains("10.10.1.0/24"))
        },
    );
    let t = transport(&router);
    assert_eq!(count(&t, "md5_keys"), 3, "{t}");
    assert!(
        count(&t, "md5_signed") > 0 && count(&t, "md5_verified") > 0,
        "{t}"
    );
    for p in [GOBGP, FRR, BIRD] {
        let m = md5_of(&router, p);
        assert_eq!(m.get("key_configured"), Some(&Value::Bool(true)), "{m}");
        assert!(count(&m, "verified") > 0, "{p}: {m}");
        assert_eq!(m.get("down_reason"), Some(&Value::Null), "{p}: {m}");
    }

    // 2. gobgpd and BIRD with a wrong password, FRR with none.
    let before = snapshot(&router);
    peers.start(&mut lab, "wrong", Some(WRONG), None, Some(WRONG), false);
    expect_refused(
        &router,
        &peers,
        &[
            (GOBGP, "bad", "with a bad signature"),
            (FRR, "missing", "without a signature"),
            (BIRD, "bad", "with a bad signature"),
        ],
        &before,
    );

    // 3. gobgpd and BIRD with none, FRR with a wrong one.
    let before = snapshot(&router);
    peers.start(&mut lab, "none", None, Some(WRONG), None, false);
    expect_refused(
        &router,
        &peers,
        &[
            (GOBGP, "missing", "without a signature"),
            (FRR, "bad", "with a bad signature"),
            (BIRD, "missing", "without a signature"),
        ],
        &before,
    );
    let t = transport(&router);
    assert!(
        count(&t, "md5_bad") > 0 && count(&t, "md5_missing") > 0,
        "{t}"
    );

    // No password in anything the operator reads, nor in the log.
    let mut seen = String::new();
    for args in [
        &["show", "bgp", "summary"][..],
        &["show", "bgp", "neighbors"][..],
        &["show", "bgp", "summary", "--json"][..],
        &["show", "bgp", "neighbors", "--json"][..],
    ] {
        seen.push_str(&router.cli(args).stdout);
    }
    seen.push_str(&lab.log_of(router.pid));
    for secret in [GOBGP_SECRET, GROUP_SECRET] {
        assert!(!seen.contains(secret), "the password {secret:?} is shown");
    }
    assert!(seen.contains("TCP-MD5: 3 keys"), "summary line: {seen}");
    peers.stop(&mut lab);
}
