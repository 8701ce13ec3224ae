//! Real BGP daemons (gobgpd, BIRD 2, FRR bgpd/zebra) inside test namespaces.
//!
//! Each daemon runs in the foreground, started with [`Lab::spawn_named`]
//! (its own process group, killed by the lab on drop), and keeps its config,
//! control socket, PID file and log in the lab's scratch directory. Tests
//! that need a hard crash use [`kill9`] (SIGKILL by PID). Nothing here
//! touches the root namespace's network or any process it did not start.
//!
//! gobgpd's config is TOML and is serialised from structs mirroring its
//! schema (`gobgp.rs`); BIRD's and FRR's are their own languages, written
//! from the templates in `bird.rs` and `frr.rs` (and nowhere else).

mod bird;
mod frr;
mod gobgp;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

pub use bird::{Bird, BirdConfig};
pub use frr::{Frr, FrrConfig};
pub use gobgp::{GobgpConfig, GobgpNeighbor, Gobgpd};

use crate::lab::Lab;
use crate::netns::Ns;

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// SIGKILL one process by PID and wait (≤ 5 s) until the lab sees it gone.
pub fn kill9(lab: &mut Lab, pid: u32) {
    lab.kill9(pid);
}

/// VmHWM (peak RSS, KiB) of a process from /proc.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident KiB of a process's socket mappings (`socket:[INODE]` in
/// /proc/PID/smaps): for the router, its AF_PACKET rings, kernel pages it
/// maps whole at start and holds for its life, whatever its routes.
pub fn socket_mapped_kib(pid: u32) -> Option<u64> {
    socket_kib_in(&fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?)
}

fn socket_kib_in(smaps: &str) -> Option<u64> {
    let mut in_socket = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first == "Rss:" {
            if in_socket {
                kib += fields.next()?.parse::<u64>().ok()?;
            }
        } else if !first.ends_with(':') && first.contains('-') {
            // A mapping's header: "START-END PERMS OFFSET DEV INODE [NAME]".
            in_socket = fields.nth(4).is_some_and(|n| n.starts_with("socket:["));
        }
    }
    Some(kib)
}

/// A world-writable directory in the lab dir: FRR drops privileges to the
/// `frr` user and writes its PID file and sockets there.
fn shared_dir(lab: &Lab, name: &str) -> PathBuf {
    let d = lab.dir().join(name);
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    fs::set_permissions(lab.dir(), fs::Permissions::from_mode(0o755)).ok();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o777))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", d.display()));
    d
}

fn cli_result(ns: &Ns, argv: &[&str]) -> Result<String, String> {
    let o = ns.run(argv, CLI_TIMEOUT);
    if o.success() {
        Ok(o.stdout)
    } else {
        Err(o.to_string())
    }
}

/// Number of IPv4 routes in a namespace's main kernel table whose protocol
/// is `proto` (e.g. "bird", "bgp"), or all when None.
pub fn kernel_route_count(ns: &Ns, proto: Option<&str>) -> Option<u64> {
    let mut argv = vec!["ip", "-4", "route", "show", "table", "main"];
    if let Some(p) = proto {
        argv.push("proto");
        argv.push(p);
    }
    let o = ns.run(&argv, Duration::from_secs(60));
    if !o.success() {
        return None;
    }
    Some(o.stdout.lines().count() as u64)
}

/// Whether the namespace's kernel has a route for exactly `prefix`.
pub fn kernel_has_route(ns: &Ns, prefix: &str) -> bool {
    let o = ns.run(
        &["ip", "-4", "route", "show", "exact", prefix],
        Duration::from_secs(5),
    );
    o.success() && !o.stdout.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn socket_mappings_are_summed_and_nothing_else() {
        let smaps = "\
7f884c000000-7f8850000000 rw-p 00000000 00:00 0 
Size:              65536 kB
Rss:               56520 kB
7f8861028000-7f8862b28000 rw-s 00000000 00:09 157065                     socket:[157065]
Size:              27648 kB
Rss:               27648 kB
Pss:               27648 kB
VmFlags: rd wr sh mr mw me ms io pf dc de dd 
7f8862c29000-7f88630ef000 rw-s 00000000 00:09 157070                     socket:[157070]
Rss:                1024 kB
56089f8a0000-56089ff2b000 rw-p 00000000 00:00 0                          [heap]
Rss:                6572 kB
";
        assert_eq!(socket_kib_in(smaps), Some(27648 + 1024));
        assert_eq!(socket_kib_in(""), Some(0));
    }

    #[test]
    fn frr_and_bird_configs_render() {
        let f = FrrConfig {
            asn: 65020,
            router_id: "10.0.0.1".parse().unwrap(),
            neighbors: vec![("10.0.0.2".parse().unwrap(), "external".into())],
            networks: vec!["172.31.0.0/24".into()],
            password: Some("s3cret".into()),
        }
        .render_bgpd();
        assert!(f.contains("neighbor 10.0.0.2 password s3cret"));
        assert!(f.contains("neighbor 10.0.0.2 remote-as external"));
        assert!(f.contains("network 172.31.0.0/24"));
        let b = BirdConfig {
            router_id: "10.0.0.3".parse().unwrap(),
            asn: 65010,
            local: "10.0.0.3".parse().unwrap(),
            neighbors: vec![("10.0.0.2".parse().unwrap(), 65000)],
            originate: vec!["172.30.0.0/24".into()],
            kernel_export: true,
            hold_time: 9,
            password: Some("s3cret".into()),
        }
        .render();
        assert!(b.contains("password \"s3cret\";"));
        assert!(b.contains("neighbor 10.0.0.2 as 65000"));
        assert!(b.contains("route 172.30.0.0/24 unreachable"));
        // Byte for byte what the IPv4-only renderers wrote before IPv6.
        assert_eq!(
            f,
            "frr defaults traditional\nhostname frr-test\nlog stdout\nrouter bgp 65020\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp graceful-restart\n neighbor 10.0.0.2 remote-as external\n neighbor 10.0.0.2 timers connect 1\n neighbor 10.0.0.2 password s3cret\n address-family ipv4 unicast\n  network 172.31.0.0/24\n exit-address-family\n"
        );
        assert_eq!(
            b,
            "router id 10.0.0.3;\nprotocol device { scan time 10; }\nprotocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }\nprotocol static { ipv4;\n  route 172.30.0.0/24 unreachable;\n}\nprotocol bgp peer0 {\n  local 10.0.0.3 as 65010;\n  neighbor 10.0.0.2 as 65000;\n  hold time 9;\n  connect retry time 1;\n  password \"s3cret\";\n  graceful restart on;\n  ipv4 { import all; export where source = RTS_STATIC; };\n}\n"
        );
        // An all-IPv4 config has no trace of IPv6.
        assert!(!f.contains("ipv6") && !f.contains("activate"), "{f}");
        assert!(!b.contains("ipv6") && !b.contains("static6"), "{b}");
        assert!(b.contains("  local 10.0.0.3 as 65010;\n"), "{b}");

        // A session over IPv6: IPv6 unicast only.
        let f6 = FrrConfig {
            asn: 65020,
            router_id: "10.0.0.1".parse().unwrap(),
            neighbors: vec![("fd00:62::200".parse().unwrap(), "65000".into())],
            networks: vec!["fd00:6a::/64".into()],
            password: None,
        }
        .render_bgpd();
        assert!(f6.contains("neighbor fd00:62::200 remote-as 65000"), "{f6}");
        assert!(
            f6.contains(" address-family ipv4 unicast\n  no neighbor fd00:62::200 activate\n"),
            "{f6}"
        );
        assert!(
            f6.contains(" address-family ipv6 unicast\n  network fd00:6a::/64\n  neighbor fd00:62::200 activate\n exit-address-family"),
            "{f6}"
        );
        let b6cfg = BirdConfig {
            router_id: "10.0.0.3".parse().unwrap(),
            asn: 65010,
            local: "fd00:62::1".parse().unwrap(),
            neighbors: vec![("fd00:62::200".parse().unwrap(), 65000)],
            originate: vec!["fd00:6a::/64".into()],
            kernel_export: false,
            hold_time: 9,
            password: None,
        };
        let b6 = b6cfg.clone().render();
        assert!(
            b6.contains("protocol static static6 { ipv6;\n  route fd00:6a::/64 unreachable;\n}"),
            "{b6}"
        );
        assert!(b6.contains("  local fd00:62::1 as 65010;\n"), "{b6}");
        assert!(b6.contains("  neighbor fd00:62::200 as 65000;\n"), "{b6}");
        assert!(
            b6.contains("  ipv6 { import all;") && !b6.contains("ipv4"),
            "{b6}"
        );

        // IPv6 unicast on an IPv4 session: both families on the neighbour.
        let f46 = FrrConfig {
            asn: 65020,
            router_id: "10.0.0.1".parse().unwrap(),
            neighbors: vec![("10.0.0.2".parse().unwrap(), "65000".into())],
            networks: vec!["172.31.0.0/24".into(), "fd00:6a::/64".into()],
            password: None,
        }
        .render_bgpd();
        assert!(
            f46.contains(
                " address-family ipv4 unicast\n  network 172.31.0.0/24\n exit-address-family"
            ),
            "{f46}"
        );
        assert!(
            f46.contains(" address-family ipv6 unicast\n  network fd00:6a::/64\n  neighbor 10.0.0.2 activate\n"),
            "{f46}"
        );
        let b46cfg = BirdConfig {
            local: "10.0.0.3".parse().unwrap(),
            neighbors: vec![("10.0.0.2".parse().unwrap(), 65000)],
            originate: vec!["fd00:6a::/64".into()],
            ..b6cfg
        };
        let b46cfg_nh = b46cfg.clone();
        let b46 = b46cfg.render();
        assert!(b46.contains("  local 10.0.0.3 as 65010;\n"), "{b46}");
        assert!(
            b46.contains("  ipv4 { import all;") && b46.contains("  ipv6 { import all;"),
            "{b46}"
        );
        // An IPv6 neighbour next to an IPv4 local address: `local as` only.
        let bmix = BirdConfig {
            neighbors: vec![("fd00:62::200".parse().unwrap(), 65000)],
            ..b46cfg
        }
        .render();
        assert!(bmix.contains("  local as 65010;\n"), "{bmix}");
        let bnh = b46cfg_nh.render_ipv6_options("next hop address ::ffff:10.0.0.3;");
        assert!(
            bnh.contains("  ipv6 { next hop address ::ffff:10.0.0.3; import all;"),
            "{bnh}"
        );
        assert_eq!(b46cfg_nh.render_ipv6_options(""), b46cfg_nh.render());
    }
}
