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
    }
}
