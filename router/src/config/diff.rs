//! What `router reload` may change: the difference between the running
//! [`Config`] and a newly read one, or the keys that cannot change while the
//! router runs.
//!
//! Live: `[[routes]]`, `[[loopbacks]]` (their connected and local routes)
//! and `[bgp]` (through [`bgp::Speaker::reconfigure`]); `router.router_id`,
//! which nothing reads at run time.
//!
//! Refused, each naming its key: the forwarding threads and their rings
//! (`router.worker_threads`, `router.rx_ring_frames`,
//! `router.tx_ring_frames`), the settings the dataplane copies at start
//! (`router.icmp_rate_limit`, `router.icmp_burst`, `router.neighbour.*`),
//! the control socket the reload itself arrives on
//! (`router.control_socket`), every port key (ports added, removed,
//! renamed, or with other addresses or MTU: the workers hold one socket per
//! worker per port and the port table they read is fixed at start), and a
//! `[bgp]` section added or removed (the BGP thread and its TCP stack start
//! with the router; removing every neighbour stops peering live).
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use super::{Config, PortConfig, StaticRoute, StaticTarget};

/// A key whose change needs a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The key as written in the file (`router.worker_threads`, `ports[1].mtu`).
    pub key: String,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` cannot change while the router runs: {}",
            self.key, self.message
        )
    }
}

/// One static route, as `show route` and the reload reply describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteLine {
    pub prefix: IpNet,
    /// "via 192.168.20.100", "port eth2", "blackhole", "unreachable".
    pub target: String,
}

impl fmt::Display for RouteLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.prefix, self.target)
    }
}

fn target<A: fmt::Display>(t: &StaticTarget<A>, ports: &[PortConfig]) -> String {
    let port = |i: usize| ports.get(i).map_or("?", |p| p.name.as_str()).to_string();
    match t {
        StaticTarget::Via(gws) => format!(
            "via {}",
            gws.iter()
                .map(|g| g.addr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        StaticTarget::Port(p) => format!("port {}", port(*p)),
        StaticTarget::Blackhole => "blackhole".into(),
        StaticTarget::Unreachable => "unreachable".into(),
    }
}

fn line<N: Copy + Into<IpNet>, A: fmt::Display>(
    r: &StaticRoute<N, A>,
    ports: &[PortConfig],
) -> RouteLine {
    RouteLine {
        prefix: r.prefix.into(),
        target: target(&r.target, ports),
    }
}

/// The static routes of one family added, removed and changed.
fn diff_routes<N: Copy + PartialEq + Into<IpNet>, A: fmt::Display + PartialEq>(
    old: &[StaticRoute<N, A>],
    new: &[StaticRoute<N, A>],
    old_ports: &[PortConfig],
    new_ports: &[PortConfig],
    d: &mut ConfigDiff,
) {
    for r in new {
        match old.iter().find(|x| x.prefix == r.prefix) {
            None => d.routes_added.push(line(r, new_ports)),
            Some(x) if x.target != r.target => d
                .routes_changed
                .push((line(x, old_ports), line(r, new_ports))),
            Some(_) => {}
        }
    }
    for r in old {
        if !new.iter().any(|x| x.prefix == r.prefix) {
            d.routes_removed.push(line(r, old_ports));
        }
    }
}

/// What a reload changes outside BGP (BGP reports its own changes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigDiff {
    pub routes_added: Vec<RouteLine>,
    pub routes_removed: Vec<RouteLine>,
    /// Same prefix, another target: (old, new).
    pub routes_changed: Vec<(RouteLine, RouteLine)>,
    pub loopbacks_added: Vec<String>,
    pub loopbacks_removed: Vec<String>,
    /// Same name, other addresses.
    pub loopbacks_changed: Vec<String>,
    pub router_id_changed: bool,
}

impl ConfigDiff {
    /// Whether the static or connected routes change.
    pub fn routes_differ(&self) -> bool {
        !(self.routes_added.is_empty()
            && self.routes_removed.is_empty()
            && self.routes_changed.is_empty()
            && self.loopbacks_added.is_empty()
            && self.loopbacks_removed.is_empty()
            && self.loopbacks_changed.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        !self.routes_differ() && !self.router_id_changed
    }
}

/// The difference from `old` (running) to `new`, or every key `new`
/// changes that cannot change live.
pub fn diff(old: &Config, new: &Config) -> Result<ConfigDiff, Vec<Refusal>> {
    let mut refused = Vec::new();
    let mut refuse = |key: &str, message: &str| {
        refused.push(Refusal {
            key: key.to_string(),
            message: message.to_string(),
        })
    };
    // Keys read once at start: (changed, key, why it cannot change live).
    let (o, n) = (&old.router, &new.router);
    let at_start = [
        (
            o.worker_threads != n.worker_threads,
            "router.worker_threads",
            "the forwarding threads and their sockets are created at start",
        ),
        (
            o.rx_ring_frames != n.rx_ring_frames,
            "router.rx_ring_frames",
            "the rings are mapped at start",
        ),
        (
            o.tx_ring_frames != n.tx_ring_frames,
            "router.tx_ring_frames",
            "the rings are mapped at start",
        ),
        (
            o.control_socket != n.control_socket,
            "router.control_socket",
            "the control socket is bound at start (and this reload came through it)",
        ),
        (
            o.icmp_rate_limit != n.icmp_rate_limit,
            "router.icmp_rate_limit",
            "each worker copies it at start",
        ),
        (
            o.icmp_burst != n.icmp_burst,
            "router.icmp_burst",
            "each worker copies it at start",
        ),
        (
            o.neighbour != n.neighbour,
            "router.neighbour",
            "the neighbour timers are copied by the slow path at start",
        ),
        (
            o.allow_kernel_forwarding != n.allow_kernel_forwarding,
            "router.allow_kernel_forwarding",
            "the host set-up checks the kernel's forwarding at start",
        ),
        (
            o.ingress_drop != n.ingress_drop,
            "router.ingress_drop",
            "the host set-up installs or leaves out the ingress drop at start",
        ),
        (
            o.control_plane_nice != n.control_plane_nice,
            "router.control_plane_nice",
            "the control-plane threads set their priority when they start",
        ),
        (
            old.metrics != new.metrics,
            "metrics",
            "the metrics listener is bound at start",
        ),
    ];
    for (changed, key, why) in at_start {
        if changed {
            refuse(key, why);
        }
    }
    if old.ports.len() != new.ports.len() {
        refuse(
            "ports",
            &format!(
                "ports added or removed ({} -> {}): each worker opens its sockets on every port at start",
                old.ports.len(),
                new.ports.len()
            ),
        );
    } else {
        for (i, (a, b)) in old.ports.iter().zip(&new.ports).enumerate() {
            let why = "the port table the workers read is fixed at start";
            let fields = [
                (a.name != b.name, "name", why),
                (a.ifname != b.ifname, "ifname", why),
                (
                    a.addresses != b.addresses || a.addresses6 != b.addresses6,
                    "addresses",
                    why,
                ),
                (a.mtu != b.mtu, "mtu", why),
                (
                    a.host_interface != b.host_interface,
                    "host_interface",
                    "host interfaces (TAPs) are created at start",
                ),
            ];
            for (changed, field, why) in fields {
                if changed {
                    refuse(&format!("ports[{i}].{field}"), why);
                }
            }
        }
    }
    // TCP-MD5 keys sit in the BGP transport's device shim, built at start.
    if let (Some(a), Some(b)) = (&old.bgp, &new.bgp) {
        let keys = |c: &crate::config::bgp::BgpConfig, file: &str| {
            c.tcp_md5_keys(&crate::config::config_dir(file)).ok()
        };
        if keys(a, &old.file) != keys(b, &new.file) {
            refuse(
                "bgp password",
                "TCP-MD5 keys are installed at start (a changed password or password file needs a restart)",
            );
        }
    }
    match (&old.bgp, &new.bgp) {
        (None, Some(_)) => refuse(
            "bgp",
            "adding [bgp] needs a restart (the BGP thread and its TCP stack start with the router)",
        ),
        (Some(_), None) => refuse(
            "bgp",
            "removing [bgp] needs a restart; to stop peering live, remove its neighbors and listen ranges",
        ),
        _ => {}
    }
    if !refused.is_empty() {
        return Err(refused);
    }

    let mut d = ConfigDiff {
        router_id_changed: o.router_id != n.router_id,
        ..ConfigDiff::default()
    };
    diff_routes(&old.routes, &new.routes, &old.ports, &new.ports, &mut d);
    diff_routes(&old.routes6, &new.routes6, &old.ports, &new.ports, &mut d);
    for l in &new.loopbacks {
        match old.loopbacks.iter().find(|x| x.name == l.name) {
            None => d.loopbacks_added.push(l.name.clone()),
            Some(x) if x.addresses != l.addresses || x.addresses6 != l.addresses6 => {
                d.loopbacks_changed.push(l.name.clone())
            }
            Some(_) => {}
        }
    }
    for l in &old.loopbacks {
        if !new.loopbacks.iter().any(|x| x.name == l.name) {
            d.loopbacks_removed.push(l.name.clone());
        }
    }
    Ok(d)
}

/// Keys whose values `show config` never prints (TCP-MD5 passwords and the like).
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret")
}

/// The config text as TOML with every secret value replaced by "<redacted>".
/// `text` is the file the running config was read from (it parsed, so it
/// is valid TOML); comments and layout are not kept.
pub fn redacted_toml(text: &str) -> Result<toml::Table, String> {
    let mut t: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    fn walk(v: &mut toml::Value) {
        match v {
            toml::Value::Table(t) => walk_table(t),
            toml::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    fn walk_table(t: &mut toml::Table) {
        for (k, v) in t.iter_mut() {
            if is_secret(k) && !v.is_table() && !v.is_array() {
                *v = toml::Value::String("<redacted>".into());
            } else {
                walk(v);
            }
        }
    }
    walk_table(&mut t);
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[router]
worker_threads = 2
control_socket = "/tmp/r.sock"

[[ports]]
name = "eth0"
addresses = ["10.0.2.15/24"]

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
prefix = "198.51.100.0/24"
blackhole = true
"#;

    fn cfg(text: &str) -> Config {
        Config::parse("test.toml", text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[track_caller]
    fn refused(old: &str, new: &str) -> Vec<String> {
        match diff(&cfg(old), &cfg(new)) {
            Ok(d) => panic!("expected a refusal, got {d:?}"),
            Err(r) => {
                for x in &r {
                    let shown = x.to_string();
                    assert!(shown.contains(&format!("`{}`", x.key)), "{shown}");
                }
                r.into_iter().map(|x| x.key).collect()
            }
        }
    }

    #[test]
    fn same_file_is_no_change() {
        let d = diff(&cfg(BASE), &cfg(BASE)).unwrap();
        assert!(d.is_empty(), "{d:?}");
        // Reordering routes changes nothing either.
        let swapped = BASE.replace(
            "[[routes]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.2.2\"\n",
            "",
        ) + "[[routes]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.2.2\"\n";
        assert!(diff(&cfg(BASE), &cfg(&swapped)).unwrap().is_empty());
    }

    #[test]
    fn routes_added_removed_changed() {
        let new = BASE.replace("blackhole = true", "unreachable = true")
            + "[[routes]]\nprefix = \"172.20.2.0/24\"\nvia = \"192.168.20.100\"\n";
        let d = diff(&cfg(BASE), &cfg(&new)).unwrap();
        assert_eq!(d.routes_added.len(), 1);
        assert_eq!(
            d.routes_added[0].to_string(),
            "172.20.2.0/24 via 192.168.20.100"
        );
        assert_eq!(d.routes_changed.len(), 1);
        assert_eq!(
            d.routes_changed[0].0.to_string(),
            "198.51.100.0/24 blackhole"
        );
        assert_eq!(
            d.routes_changed[0].1.to_string(),
            "198.51.100.0/24 unreachable"
        );
        assert!(d.routes_removed.is_empty());
        // And back: the /24 is removed.
        let d = diff(&cfg(&new), &cfg(BASE)).unwrap();
        assert_eq!(d.routes_removed.len(), 1);
        assert_eq!(d.routes_removed[0].prefix.to_string(), "172.20.2.0/24");
        assert!(d.routes_differ());
    }

    #[test]
    fn loopbacks_are_live() {
        let new = BASE.replace("10.10.1.200/24", "10.10.1.201/24")
            + "[[loopbacks]]\nname = \"loop2\"\naddresses = [\"10.10.2.200/24\"]\n";
        let d = diff(&cfg(BASE), &cfg(&new)).unwrap();
        assert_eq!(d.loopbacks_added, ["loop2"]);
        assert_eq!(d.loopbacks_changed, ["loop1"]);
        let d = diff(&cfg(&new), &cfg(BASE)).unwrap();
        assert_eq!(d.loopbacks_removed, ["loop2"]);
        // router_id is informational: live.
        let new = BASE.replace(
            "worker_threads = 2",
            "worker_threads = 2\nrouter_id = \"1.2.3.4\"",
        );
        let d = diff(&cfg(BASE), &cfg(&new)).unwrap();
        assert!(d.router_id_changed && !d.routes_differ());
    }

    #[test]
    fn host_and_metrics_keys_are_refused_by_name() {
        assert_eq!(
            refused(
                BASE,
                &BASE.replace(
                    "worker_threads = 2",
                    "worker_threads = 2\ningress_drop = false"
                )
            ),
            ["router.ingress_drop"]
        );
        assert_eq!(
            refused(
                BASE,
                &BASE.replace(
                    "worker_threads = 2",
                    "worker_threads = 2\ncontrol_plane_nice = 5"
                )
            ),
            ["router.control_plane_nice"]
        );
        assert_eq!(
            refused(
                BASE,
                &format!("{BASE}\n[metrics]\nlisten = \"127.0.0.1:9477\"\n")
            ),
            ["metrics"]
        );
    }

    #[test]
    fn non_live_keys_are_refused_by_name() {
        assert_eq!(
            refused(
                BASE,
                &BASE.replace("worker_threads = 2", "worker_threads = 3")
            ),
            ["router.worker_threads"]
        );
        assert_eq!(
            refused(BASE, &BASE.replace("/tmp/r.sock", "/tmp/other.sock")),
            ["router.control_socket"]
        );
        let rings = BASE.replace(
            "worker_threads = 2",
            "worker_threads = 2\nrx_ring_frames = 120\ntx_ring_frames = 60\nicmp_burst = 5",
        );
        assert_eq!(
            refused(BASE, &rings),
            [
                "router.rx_ring_frames",
                "router.tx_ring_frames",
                "router.icmp_burst"
            ]
        );
        let neigh = BASE.replace(
            "control_socket = \"/tmp/r.sock\"\n",
            "control_socket = \"/tmp/r.sock\"\n[router.neighbour]\nqueue_len = 9\n",
        );
        assert_eq!(refused(BASE, &neigh), ["router.neighbour"]);
        assert_eq!(
            refused(
                BASE,
                &BASE.replace("192.168.20.200/24", "192.168.21.200/24")
            ),
            ["ports[1].addresses"]
        );
        let mtu = BASE.replace(
            "name = \"eth2\"\n",
            "name = \"eth2\"\nmtu = 1400\nifname = \"veth9\"\n",
        );
        assert_eq!(refused(BASE, &mtu), ["ports[1].ifname", "ports[1].mtu"]);
        let tap = BASE.replace(
            "name = \"eth2\"\n",
            "name = \"eth2\"\nhost_interface = true\n",
        );
        assert_eq!(refused(BASE, &tap), ["ports[1].host_interface"]);
        let more =
            BASE.to_string() + "[[ports]]\nname = \"eth3\"\naddresses = [\"192.168.30.1/24\"]\n";
        assert_eq!(refused(BASE, &more), ["ports"]);
        // Several at once: all named.
        let both = more.replace("worker_threads = 2", "worker_threads = 4");
        assert_eq!(refused(BASE, &both), ["router.worker_threads", "ports"]);
    }

    #[test]
    fn bgp_section_added_or_removed_is_refused() {
        let bgp = BASE.to_string()
            + "[bgp]\nasn = 65000\nrouter_id = \"10.0.2.15\"\n\
               [[bgp.neighbors]]\naddress = \"192.168.20.100\"\nremote_as = 65001\n";
        let r = diff(&cfg(BASE), &cfg(&bgp)).unwrap_err();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].key, "bgp");
        assert!(
            r[0].message.contains("adding [bgp] needs a restart"),
            "{}",
            r[0]
        );
        let r = diff(&cfg(&bgp), &cfg(BASE)).unwrap_err();
        assert!(r[0].message.contains("removing [bgp]"), "{}", r[0]);
        // A changed [bgp] is BGP's business, not a refusal.
        let more = bgp.replace("remote_as = 65001", "remote_as = 65002");
        assert!(diff(&cfg(&bgp), &cfg(&more)).unwrap().is_empty());
    }

    #[test]
    fn secrets_are_redacted() {
        let t = redacted_toml(
            "[bgp]\nasn = 1\n[[bgp.neighbors]]\naddress = \"1.2.3.4\"\npassword = \"hunter2\"\n\
             [[bgp.groups]]\nname = \"G\"\ntcp_md5 = { password = \"x\" }\n",
        )
        .unwrap();
        let s = toml::to_string(&t).unwrap();
        assert!(!s.contains("hunter2") && !s.contains("\"x\""), "{s}");
        assert_eq!(s.matches("<redacted>").count(), 2, "{s}");
        assert!(s.contains("1.2.3.4"), "{s}");
    }
}
