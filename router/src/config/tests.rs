//! Config parsing and validation tests: every error names the line and the
//! field.
use super::*;

const LAB: &str = r#"
[router]
worker_threads = 2
control_socket = "/tmp/r.sock"

[[ports]]
name = "eth0"
addresses = ["10.0.2.15/24"]

[[ports]]
name = "eth1"
ifname = "veth-r1"
addresses = ["192.168.10.200/24"]
mtu = 1500

[[ports]]
name = "eth2"
addresses = ["192.168.20.200/24"]

[[loopbacks]]
name = "loop1"
addresses = ["10.10.1.200/24"]

[[routes]]
prefix = "0.0.0.0/0"
via = "10.0.2.2"

[[routes]]
prefix = "172.20.0.0/24"
via = ["192.168.10.100", "192.168.10.101"]

[[routes]]
prefix = "172.20.2.0/24"
port = "eth2"

[[routes]]
prefix = "198.51.100.0/24"
blackhole = true

[[routes]]
prefix = "203.0.113.0/24"
unreachable = true
"#;

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse("test.toml", s)
}

/// Parses `text`, expects an error and returns its diagnostic.
#[track_caller]
fn diag(text: &str) -> Diagnostic {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e
            .diagnostic()
            .cloned()
            .unwrap_or_else(|| panic!("no diagnostic: {e}")),
    }
}

/// Expects an error at `line` about `field` whose text contains `needle`.
#[track_caller]
fn expect(text: &str, line: usize, field: &str, needle: &str) -> Diagnostic {
    let d = diag(text);
    let shown = d.to_string();
    assert_eq!(d.line, line, "line of: {shown}");
    assert_eq!(d.field, field, "field of: {shown}");
    assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
    assert!(shown.starts_with(&format!("test.toml:{line}:")), "{shown}");
    assert!(shown.contains(&format!("field `{field}`")), "{shown}");
    d
}

const PORT: &str = "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\n";

#[test]
fn lab_config_parses() {
    let c = parse(LAB).unwrap();
    assert_eq!(c.router.worker_threads, 2);
    assert_eq!(c.router.control_socket, PathBuf::from("/tmp/r.sock"));
    assert_eq!(c.router.icmp_rate_limit, 1000);
    assert_eq!(c.router.neighbour, NeighbourConfig::default());
    assert_eq!(c.ports.len(), 3);
    assert_eq!(c.ports[0].ifname, "eth0");
    assert_eq!(c.ports[1].ifname, "veth-r1");
    assert_eq!(c.ports[1].mtu, Some(1500));
    assert_eq!(c.ports[2].mtu, None);
    assert_eq!(
        c.loopbacks[0].addresses,
        vec!["10.10.1.200/24".parse::<Ipv4Net>().unwrap()]
    );
    assert_eq!(c.routes.len(), 5);
    assert_eq!(c.routes[0].prefix, "0.0.0.0/0".parse::<Ipv4Net>().unwrap());
    assert_eq!(
        c.routes[0].target,
        StaticTarget::Via(vec![Gateway {
            port: 0,
            addr: Ipv4Addr::new(10, 0, 2, 2)
        }])
    );
    assert_eq!(
        c.routes[1].target,
        StaticTarget::Via(vec![
            Gateway {
                port: 1,
                addr: Ipv4Addr::new(192, 168, 10, 100)
            },
            Gateway {
                port: 1,
                addr: Ipv4Addr::new(192, 168, 10, 101)
            },
        ])
    );
    assert_eq!(c.routes[2].target, StaticTarget::Port(2));
    assert_eq!(c.routes[3].target, StaticTarget::Blackhole);
    assert_eq!(c.routes[4].target, StaticTarget::Unreachable);
    assert!(c.bgp.is_none());
    assert_eq!(c.connected_subnets().count(), 4);
}

#[test]
fn defaults_apply_without_router_section() {
    let c = parse(PORT).unwrap();
    assert_eq!(c.router, RouterConfig::default());
    assert_eq!(c.router.worker_threads, 1);
}

#[test]
fn repo_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    for name in ["lab-static.toml", "lab-broken.toml", "lab-bgp.toml"] {
        let c = Config::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.ports.len(), 3, "{name}");
        assert_eq!(c.loopbacks.len(), 2, "{name}");
        assert!(
            c.routes.iter().any(|r| r.prefix.prefix_len() == 0),
            "{name}: default route"
        );
    }
    let s = Config::load(&dir.join("lab-static.toml")).unwrap();
    assert_eq!(s.routes.len(), 4);
    let b = Config::load(&dir.join("lab-broken.toml")).unwrap();
    assert_eq!(b.routes.len(), 1);
}

#[test]
fn unreadable_file_is_a_read_error() {
    let e = Config::load(Path::new("/nonexistent/router.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/router.toml"), "{e}");
}

#[test]
fn unknown_key_names_line_and_field() {
    let d = expect(
        &format!("{PORT}speed = 10\n"),
        4,
        "ports[0].speed",
        "unknown key `speed`",
    );
    assert!(matches!(d.problem, Problem::UnknownKey(_)));
    assert_eq!(d.column, 1);
    expect(
        "[router]\nworkers = 2\n",
        2,
        "router.workers",
        "unknown key `workers`",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.168.10.1\"\nmetric = 5\n"),
        7,
        "routes[0].metric",
        "unknown key",
    );
    expect(
        &format!("{PORT}[extra]\n"),
        4,
        "extra",
        "unknown key `extra`",
    );
}

#[test]
fn syntax_and_type_errors_name_line_and_field() {
    let d = expect(
        &format!("{PORT}mtu = \"big\"\n"),
        4,
        "ports[0].mtu",
        "invalid type",
    );
    assert!(matches!(d.problem, Problem::Syntax(_)));
    assert_eq!(d.column, 7);
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = \"192.168.10.200/24\"\n",
        3,
        "ports[0].addresses",
        "invalid type",
    );
    let d = diag("[[ports]\n");
    assert_eq!(d.line, 1);
    expect(
        "[[ports]]\nname = \"eth1\"\n",
        1,
        "ports[0].addresses",
        "missing field `addresses`",
    );
}

#[test]
fn bad_addresses_and_prefixes() {
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.300/24\"]\n",
        3,
        "ports[0].addresses[0]",
        "not an IPv4 address",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200\"]\n",
        3,
        "ports[0].addresses[0]",
        "prefix length",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.0/24\"]\n",
        3,
        "ports[0].addresses[0]",
        "network address",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.255/24\"]\n",
        3,
        "ports[0].addresses[0]",
        "broadcast",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"127.0.0.1/8\"]\n",
        3,
        "ports[0].addresses[0]",
        "loopback",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = []\n",
        3,
        "ports[0].addresses",
        "at least one",
    );
    let d = expect(
        &format!("{PORT}[[routes]]\nprefix = \"172.20.0/24\"\nport = \"eth1\"\n"),
        5,
        "routes[0].prefix",
        "not an IPv4 prefix",
    );
    assert!(matches!(d.problem, Problem::BadPrefix { .. }));
    assert_eq!(d.column, 10);
    let d = expect(
        &format!("{PORT}[[routes]]\nprefix = \"172.20.2.1/24\"\nport = \"eth1\"\n"),
        5,
        "routes[0].prefix",
        "host bits set (did you mean 172.20.2.0/24?)",
    );
    assert!(matches!(d.problem, Problem::HostBitsSet { .. }));
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"172.20.2.0/33\"\nport = \"eth1\"\n"),
        5,
        "routes[0].prefix",
        "not an IPv4 prefix",
    );
}

const DUAL: &str =
    "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\", \"fd00:10::200/64\"]\n\
[[ports]]\nname = \"eth2\"\naddresses = [\"fd00:20::200/64\", \"fe80::1/64\"]\n";

#[test]
fn dual_stack_addresses_and_ipv6_routes() {
    let text = format!(
        "{DUAL}[[loopbacks]]\nname = \"loop1\"\naddresses = [\"fd00:10:10:1::200/64\"]\n\
[[routes]]\nprefix = \"::/0\"\nvia = \"fd00:20::1\"\n\
[[routes]]\nprefix = \"fd00:172:20:1::/64\"\nvia = [\"fd00:10::101\", \"fd00:10::102\"]\n\
[[routes]]\nprefix = \"fd00:172:20:2::/64\"\nvia = \"fe80::64\"\nport = \"eth2\"\n\
[[routes]]\nprefix = \"fd00:99::/32\"\nblackhole = true\n\
[[routes]]\nprefix = \"0.0.0.0/0\"\nvia = \"192.168.10.1\"\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.ports[0].addresses.len(), 1);
    assert_eq!(
        c.ports[0].addresses6,
        vec!["fd00:10::200/64".parse().unwrap()]
    );
    assert!(c.ports[1].addresses.is_empty());
    assert_eq!(c.ports[1].addresses6.len(), 2);
    assert_eq!(c.loopbacks[0].addresses6.len(), 1);
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes6.len(), 4);
    assert_eq!(c.route_lines6.len(), 4);
    assert_eq!(
        c.routes6[2].target,
        StaticTarget::Via(vec![Gateway {
            port: 1,
            addr: "fe80::64".parse().unwrap()
        }])
    );
    assert_eq!(
        c.routes6[1].target,
        StaticTarget::Via(vec![
            Gateway {
                port: 0,
                addr: "fd00:10::101".parse().unwrap()
            },
            Gateway {
                port: 0,
                addr: "fd00:10::102".parse().unwrap()
            },
        ])
    );
}

#[test]
fn ipv6_config_errors_name_line_and_field() {
    expect(
        &format!("{DUAL}[[routes]]\nprefix = \"fd00:1::/64\"\nvia = \"fe80::9\"\n"),
        9,
        "routes[0].via",
        "link-local: name its port too",
    );
    expect(
        &format!("{DUAL}[[routes]]\nprefix = \"fd00:1::/64\"\nvia = \"fd00:30::1\"\n"),
        9,
        "routes[0].via",
        "on no connected subnet",
    );
    expect(
        &format!("{DUAL}[[routes]]\nprefix = \"fd00:1::/64\"\nvia = \"192.168.10.1\"\n"),
        9,
        "routes[0].via",
        "an IPv4 next hop for an IPv6 route",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = \"fe80::1\"\n"),
        6,
        "routes[0].via",
        "an IPv6 next hop for an IPv4 route",
    );
    expect(
        &format!("{DUAL}[[routes]]\nprefix = \"fd00:1::1/64\"\nport = \"eth1\"\n"),
        8,
        "routes[0].prefix",
        "host bits set",
    );
    expect(
        &format!(
            "{DUAL}[[routes]]\nprefix = \"fd00:1::/64\"\nvia = \"fd00:10::5\"\nport = \"eth1\"\n"
        ),
        10,
        "routes[0].port",
        "`port` goes with a link-local `via` only",
    );
    expect(
        &format!("{DUAL}[[routes]]\nprefix = \"fd00:1::/64\"\nvia = \"fd00:10::200\"\n"),
        9,
        "routes[0].via",
        "the router's own address",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"fd00:10::/64\"]\n",
        3,
        "ports[0].addresses[0]",
        "Subnet-Router anycast",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"ff02::1/64\"]\n",
        3,
        "ports[0].addresses[0]",
        "multicast",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"fe80::1/64\", \"fe80::2/64\"]\n",
        3,
        "ports[0].addresses[1]",
        "second link-local",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"fd00:10::1/64\"]\nmtu = 1200\n",
        4,
        "ports[0].mtu",
        "below 1280",
    );
    expect(
        &format!("{DUAL}[[loopbacks]]\nname = \"l\"\naddresses = [\"fe80::5/64\"]\n"),
        9,
        "loopbacks[0].addresses[0]",
        "a loopback has no link",
    );
    expect(
        "[[ports]]\nname = \"eth1\"\naddresses = [\"fd00:10::1/64\"]\n[[ports]]\nname = \"eth2\"\naddresses = [\"fd00:10::2/64\"]\n",
        6,
        "ports[1].addresses[0]",
        "overlaps",
    );
    // Link-local subnets of two ports do not overlap.
    parse("[[ports]]\nname = \"eth1\"\naddresses = [\"fe80::1/64\"]\n[[ports]]\nname = \"eth2\"\naddresses = [\"fe80::1/64\"]\n").unwrap();
    expect(
        &format!("{DUAL}[[routes]]\nprefix = \"::/0\"\nblackhole = true\n[[routes]]\nprefix = \"::/0\"\nunreachable = true\n"),
        11,
        "routes[1].prefix",
        "already",
    );
}

#[test]
fn next_hop_must_be_on_a_connected_port_subnet() {
    let d = expect(
        &format!("{PORT}[[routes]]\nprefix = \"172.20.2.0/24\"\nvia = \"192.168.20.100\"\n"),
        6,
        "routes[0].via",
        "next hop 192.168.20.100 is on no connected subnet",
    );
    assert!(matches!(d.problem, Problem::NextHopNotConnected { .. }));
    assert_eq!(d.column, 7);
    // A loopback subnet is not a link to send on.
    expect(
        &format!("{PORT}[[loopbacks]]\nname = \"loop1\"\naddresses = [\"10.10.1.200/24\"]\n[[routes]]\nprefix = \"172.20.2.0/24\"\nvia = \"10.10.1.1\"\n"),
        9,
        "routes[0].via",
        "no connected subnet",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.168.10.200\"\n"),
        6,
        "routes[0].via",
        "own address",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.168.10.255\"\n"),
        6,
        "routes[0].via",
        "broadcast",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = [\"192.168.10.1\", \"192.168.10.1\"]\n"),
        6,
        "routes[0].via",
        "listed twice",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = []\n"),
        6,
        "routes[0].via",
        "non-empty list",
    );
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = 5\n"),
        6,
        "routes[0].via",
        "must be an address",
    );
}

#[test]
fn route_target_must_be_exactly_one() {
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\n"),
        4,
        "routes[0]",
        "needs one of",
    );
    expect(
        &format!(
            "{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.168.10.1\"\nblackhole = true\n"
        ),
        7,
        "routes[0].blackhole",
        "both `via` and `blackhole`",
    );
    // `blackhole = false` means no blackhole.
    let c = parse(&format!(
        "{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nvia = \"192.168.10.1\"\nblackhole = false\n"
    ))
    .unwrap();
    assert!(matches!(c.routes[0].target, StaticTarget::Via(_)));
    let d = expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nport = \"eth9\"\n"),
        6,
        "routes[0].port",
        "no port named \"eth9\"",
    );
    assert!(matches!(d.problem, Problem::UnknownPort { .. }));
    expect(
        &format!("{PORT}[[routes]]\nprefix = \"10.0.0.0/8\"\nblackhole = true\n[[routes]]\nprefix = \"10.0.0.0/8\"\nunreachable = true\n"),
        8,
        "routes[1].prefix",
        "already configured at `routes[0].prefix` (line 5",
    );
}

#[test]
fn duplicate_addresses_across_ports_and_loopbacks() {
    let d = expect(
        &format!("{PORT}[[loopbacks]]\nname = \"loop1\"\naddresses = [\"192.168.10.200/32\"]\n"),
        6,
        "loopbacks[0].addresses[0]",
        "address 192.168.10.200 is already used at `ports[0].addresses[0]` (line 3",
    );
    assert!(matches!(d.problem, Problem::DuplicateAddress { .. }));
    expect(
        "[[ports]]\nname = \"a\"\naddresses = [\"10.0.0.1/24\", \"10.0.0.1/24\"]\n",
        3,
        "ports[0].addresses[1]",
        "already used",
    );
}

#[test]
fn overlapping_subnets_on_two_ports() {
    let d = expect(
        &format!("{PORT}[[ports]]\nname = \"eth2\"\naddresses = [\"192.168.10.201/25\"]\n"),
        6,
        "ports[1].addresses[0]",
        "subnet 192.168.10.128/25 overlaps 192.168.10.0/24",
    );
    assert!(matches!(d.problem, Problem::OverlappingSubnet { .. }));
    // A secondary address in the same subnet of the same port is fine.
    parse("[[ports]]\nname = \"a\"\naddresses = [\"10.0.0.1/24\", \"10.0.0.2/24\"]\n").unwrap();
}

#[test]
fn duplicate_names() {
    let d = expect(
        &format!(
            "{PORT}[[ports]]\nname = \"eth1\"\nifname = \"x\"\naddresses = [\"10.0.0.1/24\"]\n"
        ),
        5,
        "ports[1].name",
        "name \"eth1\" is already used at `ports[0].name` (line 2",
    );
    assert!(matches!(d.problem, Problem::DuplicateName { .. }));
    expect(
        &format!("{PORT}[[loopbacks]]\nname = \"eth1\"\naddresses = [\"10.0.0.1/24\"]\n"),
        5,
        "loopbacks[0].name",
        "already used",
    );
    expect(
        &format!(
            "{PORT}[[ports]]\nname = \"eth2\"\nifname = \"eth1\"\naddresses = [\"10.0.0.1/24\"]\n"
        ),
        6,
        "ports[1].ifname",
        "kernel interface \"eth1\" is already used",
    );
    expect(
        "[[ports]]\nname = \"a-very-long-interface-name\"\naddresses = [\"10.0.0.1/24\"]\n",
        2,
        "ports[0].name",
        "kernel interface name",
    );
    expect(
        "[[ports]]\nname = \"\"\naddresses = [\"10.0.0.1/24\"]\n",
        2,
        "ports[0].name",
        "not a valid name",
    );
}

#[test]
fn bad_mtu() {
    let d = expect(
        &format!("{PORT}mtu = 40\n"),
        4,
        "ports[0].mtu",
        "mtu 40 is out of range",
    );
    assert!(matches!(d.problem, Problem::BadMtu { value: 40 }));
    expect(
        &format!("{PORT}mtu = 70000\n"),
        4,
        "ports[0].mtu",
        "out of range",
    );
    expect(
        &format!("{PORT}mtu = -1\n"),
        4,
        "ports[0].mtu",
        "out of range",
    );
}

#[test]
fn worker_count_and_router_section() {
    let d = expect(
        &format!("[router]\nworker_threads = 0\n{PORT}"),
        2,
        "router.worker_threads",
        "at least 1",
    );
    assert!(matches!(d.problem, Problem::BadWorkerCount { value: 0 }));
    assert_eq!(d.column, 18);
    expect(
        &format!("[router]\nworker_threads = 5000\n{PORT}"),
        2,
        "router.worker_threads",
        "out of range",
    );
    expect(
        &format!("[router]\nrouter_id = \"1.2.3\"\n{PORT}"),
        2,
        "router.router_id",
        "not an IPv4 address",
    );
    expect(
        &format!("[router]\n[router.neighbour]\nretrans_time_ms = 10\n{PORT}"),
        3,
        "router.neighbour.retrans_time_ms",
        "1000..=60000",
    );
    expect(
        &format!("[router]\nicmp_burst = 0\n{PORT}"),
        2,
        "router.icmp_burst",
        "out of range",
    );
    expect(
        &format!("[router]\nrx_ring_frames = 4\n{PORT}"),
        2,
        "router.rx_ring_frames",
        "8..=16384",
    );
    expect(
        &format!("[router]\nworker_threads = 2\ntx_ring_frames = 100000\n{PORT}"),
        3,
        "router.tx_ring_frames",
        "out of range",
    );
    let c = parse(&format!(
        "[router]\nrx_ring_frames = 30\ntx_ring_frames = 15\n{PORT}"
    ))
    .unwrap();
    assert_eq!((c.router.rx_ring_frames, c.router.tx_ring_frames), (30, 15));
    let c = parse(PORT).unwrap();
    assert_eq!(
        (c.router.rx_ring_frames, c.router.tx_ring_frames),
        (DEFAULT_RX_RING_FRAMES, DEFAULT_TX_RING_FRAMES)
    );
    let c = parse(&format!("[router]\nrouter_id = \"192.168.10.200\"\n[router.neighbour]\nreachable_time_ms = 5000\n{PORT}")).unwrap();
    assert_eq!(c.router.router_id, Some(Ipv4Addr::new(192, 168, 10, 200)));
    assert_eq!(c.router.neighbour.reachable_time_ms, 5000);
}

#[test]
fn no_ports_is_an_error() {
    let d = diag("[router]\nworker_threads = 1\n");
    assert_eq!(d.field, "ports");
    assert!(d.to_string().contains("no [[ports]]"), "{d}");
}

#[test]
fn bgp_section_errors_are_located() {
    let text = format!("{PORT}[bgp]\nasn = 0\nrouter_id = \"1.1.1.1\"\n");
    let d = diag(&text);
    assert_eq!(d.field, "bgp.asn");
    assert_eq!(d.line, 5);
    let d = diag(&format!(
        "{PORT}[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\nfoo = 1\n"
    ));
    assert_eq!(d.line, 7);
    assert_eq!(d.field, "bgp.foo");
}

#[test]
fn metrics_and_host_setup_keys() {
    let c = parse(LAB).expect("lab");
    assert_eq!(c.metrics, None, "metrics are off unless configured");
    assert!(!c.router.allow_kernel_forwarding);
    assert!(c.router.ingress_drop);

    let text = format!("{LAB}\n[metrics]\nlisten = \"127.0.0.1:9477\"\n").replace(
        "worker_threads = 2\n",
        "worker_threads = 2\nallow_kernel_forwarding = true\ningress_drop = false\n",
    );
    let c = parse(&text).expect("metrics");
    assert_eq!(
        c.metrics.map(|m| m.listen),
        Some("127.0.0.1:9477".parse().expect("addr"))
    );
    assert!(c.router.allow_kernel_forwarding);
    assert!(!c.router.ingress_drop);

    let bad = format!("{LAB}\n[metrics]\nlisten = \"localhost\"\n");
    let line = bad.lines().count();
    expect(&bad, line, "metrics.listen", "not ADDRESS:PORT");
    let unknown = format!("{LAB}\n[metrics]\nlisten = \"127.0.0.1:1\"\npath = \"/m\"\n");
    let line = unknown.lines().count();
    expect(&unknown, line, "metrics.path", "unknown key `path`");
}

#[test]
fn bgp_password_errors_name_file_line_and_column() {
    let head = format!("{PORT}[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.neighbors]]\naddress = \"10.0.0.1\"\nremote_as = 1\n");
    let d = diag(&format!("{head}password = \"a\"\npassword_file = \"b\"\n"));
    assert_eq!(d.field, "bgp.neighbors[0].password_file");
    assert_eq!((d.line, d.column), (11, 17));
    assert!(d.to_string().contains("not both"), "{d}");
    let d = diag(&format!("{head}password_file = \"/nonexistent/md5.key\"\n"));
    assert_eq!(d.line, 10);
    assert!(
        d.to_string().contains("cannot read /nonexistent/md5.key"),
        "{d}"
    );
}

#[test]
fn host_interface_names() {
    let port = |hi: &str| {
        format!("[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\"]\nhost_interface = {hi}\n")
    };
    assert_eq!(parse(PORT).unwrap().ports[0].host_interface, None);
    let c = parse(&port("true")).unwrap();
    assert_eq!(c.ports[0].host_interface.as_deref(), Some("eth1-host"));
    let c = parse(&port("\"mgmt0\"")).unwrap();
    assert_eq!(c.ports[0].host_interface.as_deref(), Some("mgmt0"));
    assert_eq!(parse(&port("false")).unwrap().ports[0].host_interface, None);
    expect(
        &port("3"),
        4,
        "ports[0].host_interface",
        "interface name or a boolean",
    );
    expect(
        &port("\"a:b\""),
        4,
        "ports[0].host_interface",
        "not a valid kernel interface name",
    );
    // The port's own interface, or another port's, is taken.
    expect(
        &port("\"eth1\""),
        4,
        "ports[0].host_interface",
        "already used",
    );
    let two = format!(
        "{}[[ports]]\nname = \"eth2\"\naddresses = [\"192.168.20.200/24\"]\nhost_interface = \"eth1-host\"\n",
        port("true")
    );
    expect(&two, 8, "ports[1].host_interface", "already used");
    // Room for "NAME:1" when there are two addresses.
    let long = "[[ports]]\nname = \"eth1\"\naddresses = [\"192.168.10.200/24\", \"10.1.0.1/24\"]\nhost_interface = \"fifteen-bytes-x\"\n";
    expect(long, 4, "ports[0].host_interface", "too long");
}

#[test]
fn default_host_interface_fits_ifnamsiz() {
    use super::default_host_interface;
    assert_eq!(default_host_interface("eth0"), "eth0-host");
    let d = default_host_interface("enp0s31f6-long");
    assert!(d.len() <= 15 && d.ends_with("-host"), "{d}");
}

#[test]
fn control_plane_nice_defaults_low_and_is_bounded() {
    let c = parse(LAB).expect("lab");
    assert_eq!(c.router.control_plane_nice, DEFAULT_CONTROL_PLANE_NICE);
    let zero = LAB.replace(
        "worker_threads = 2\n",
        "worker_threads = 2\ncontrol_plane_nice = 0\n",
    );
    assert_eq!(parse(&zero).expect("nice 0").router.control_plane_nice, 0);
    // Negative values would need CAP_SYS_NICE and put the control plane
    // ahead of the workers: refused, like anything past 19.
    for bad in ["-5", "20"] {
        let text = LAB.replace(
            "worker_threads = 2\n",
            &format!("worker_threads = 2\ncontrol_plane_nice = {bad}\n"),
        );
        expect(&text, 4, "router.control_plane_nice", "0..=19");
    }
}
