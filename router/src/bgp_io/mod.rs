//! BGP transport: the thread that runs the sans-IO [`bgp::Speaker`] over
//! TCP sockets of a userspace stack (smoltcp).
//!
//! The kernel owns no address on the router's ports, so it cannot terminate
//! BGP's TCP. The slow path hands every IPv4 packet carrying TCP to one of
//! our addresses to this thread (`LocalTcpPipe::to_stack_*`); a smoltcp
//! `Interface` (`Medium::Ip`) holding all our addresses turns them into
//! socket data, and what it emits goes back to the slow path
//! (`from_stack_*`), which routes it like any locally generated packet.
//!
//! One thread owns the interface, the sockets and the speaker:
//! * a pool of sockets always listens on port 179 (any of our addresses);
//!   one that takes a connection is replaced at once, so any number of
//!   peers can connect, also at the same moment — RFC 4271 §8.2.1 has every
//!   speaker accept passive opens, and Cilium only ever connects outward;
//!   who may stay is the speaker's decision (`accept_inbound`);
//! * `Action::Connect` from the speaker opens an active connection;
//! * bytes read are fed to `Speaker::receive`, `Action::Send` bytes are
//!   queued and written as the send window allows;
//! * Loc-RIB changes go to the route manager in batches, one batch per
//!   loop iteration.
//!
//! The loop blocks on the packet and query channels with a timeout of
//! min(smoltcp's poll delay, the speaker's next timer, 50 ms), and does a
//! bounded amount of work per iteration.
pub mod commands;
pub mod device;
pub mod tcp_md5;
mod transport;

use self::transport::Transport;
pub use self::transport::{BGP_PORT, RX_BUFFER, TX_BUFFER};
#[cfg(test)]
mod loopback_tests;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bgp::{RouteChange, Speaker};
use crossbeam_channel::{bounded, Sender};
use ipnet::{IpNet, Ipv4Net};

use crate::config::Config;
use crate::rib::{BgpNextHop, BgpRouteChange, RouteHandle};
use crate::shared::Shared;

/// The IPv6 route manager's BGP changes.
pub type BgpRouteChange6 = BgpRouteChange<ipnet::Ipv6Net, std::net::Ipv6Addr>;

/// An IPv6 next hop of the speaker's for the IPv6 route manager: a
/// link-local one goes with the port of the session it was learned over
/// (the link the transport gave the session, [`bgp::Ipv6NextHop::link`]).
fn scoped6(addr: std::net::Ipv6Addr, link: Option<u32>) -> BgpNextHop<std::net::Ipv6Addr> {
    match link_port(addr, link) {
        Some(port) => BgpNextHop::OnLink { addr, port },
        None => BgpNextHop::Routed(addr),
    }
}

/// The port a link-local `addr` learned on a session over `link` is on.
fn link_port(addr: std::net::Ipv6Addr, link: Option<u32>) -> Option<crate::ports::PortId> {
    link.filter(|_| crate::wire::ipv6::class::is_link_local(&addr))
        .and_then(|l| crate::ports::PortId::try_from(l).ok())
}

/// Converts the speaker's Loc-RIB changes into the route managers' (IPv4,
/// IPv6). An IPv6 route's next hops are IPv6 (global, link-local with its
/// session's port, or IPv4-mapped when learned over an IPv4 session); an
/// IPv4 route's are IPv4, or IPv6 ones (RFC 8950, extended next hop).
fn to_route_manager(
    changes: impl IntoIterator<Item = RouteChange>,
) -> (Vec<BgpRouteChange>, Vec<BgpRouteChange6>) {
    let mut v4_out = Vec::new();
    let mut v6_out = Vec::new();
    for c in changes {
        match c {
            RouteChange::Replace {
                prefix: IpNet::V4(prefix),
                next_hops,
            } => {
                // RFC 8950: IPv6 next hops of an IPv4 route (the route
                // manager prefers IPv4 ones where a route has both); an
                // IPv4-mapped one is the IPv4 address it maps.
                let v4: Vec<BgpNextHop> = next_hops
                    .into_iter()
                    .map(|h| match h.addr {
                        IpAddr::V4(a) => a.into(),
                        IpAddr::V6(a) => match a.to_ipv4_mapped() {
                            Some(m) => m.into(),
                            None => BgpNextHop::Ipv6 {
                                addr: a,
                                port: link_port(a, h.link),
                            },
                        },
                    })
                    .collect();
                v4_out.push(if v4.is_empty() {
                    BgpRouteChange::Withdraw { prefix }
                } else {
                    // The speaker's change does not say iBGP/eBGP; our
                    // deployments are eBGP (distance 20), which is also what
                    // FRR uses for the lab's `remote-as external` group.
                    BgpRouteChange::Announce {
                        prefix,
                        next_hops: v4,
                        internal: false,
                    }
                });
            }
            RouteChange::Replace {
                prefix: IpNet::V6(prefix),
                next_hops,
            } => {
                let v6: Vec<BgpNextHop<std::net::Ipv6Addr>> = next_hops
                    .into_iter()
                    .map(|h| match h.addr {
                        IpAddr::V6(a) => scoped6(a, h.link),
                        IpAddr::V4(a) => a.to_ipv6_mapped().into(),
                    })
                    .collect();
                v6_out.push(if v6.is_empty() {
                    BgpRouteChange::Withdraw { prefix }
                } else {
                    BgpRouteChange::Announce {
                        prefix,
                        next_hops: v6,
                        internal: false,
                    }
                });
            }
            RouteChange::Remove(IpNet::V4(prefix)) => {
                v4_out.push(BgpRouteChange::Withdraw { prefix })
            }
            RouteChange::Remove(IpNet::V6(prefix)) => {
                v6_out.push(BgpRouteChange::Withdraw { prefix })
            }
        }
    }
    (v4_out, v6_out)
}

/// What the operator commands ask the BGP thread.
#[derive(Clone, Debug)]
pub enum Query {
    Summary,
    Neighbors(Option<IpAddr>),
    Routes(Option<IpNet>),
    /// `router reload`: apply this configuration with
    /// [`Speaker::reconfigure`]; `addrs` are the router's addresses now
    /// (loopbacks may have changed), for the TCP stack.
    Reconfigure {
        config: Box<bgp::SpeakerConfig>,
        addrs: Vec<Ipv4Net>,
    },
}

#[derive(Clone, Debug)]
pub enum Reply {
    Summary(bgp::view::Summary, TransportStats),
    /// The neighbours, and TCP-MD5 counters of the peers segments were
    /// checked or dropped for.
    Neighbors(Vec<bgp::view::NeighborDetail>, Vec<tcp_md5::PeerMd5View>),
    Routes(Vec<bgp::view::RouteView>),
    /// The speaker's report, or why it refused the configuration (then
    /// nothing changed).
    Reconfigured(Result<bgp::ReconfigureReport, String>),
}

/// Counters of the TCP transport, shown with `show bgp summary`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct TransportStats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub packets_out_dropped: u64,
    pub connections_accepted: u64,
    pub connections_refused: u64,
    pub connections_open: u64,
    pub route_batches: u64,
    pub route_changes: u64,
    /// Peers and listen ranges with a TCP-MD5 key.
    pub md5_keys: u64,
    /// Segments signed (RFC 2385) and signatures verified.
    pub md5_signed: u64,
    pub md5_verified: u64,
    /// Segments from a peer with a key that had no signature, or a wrong one.
    pub md5_missing: u64,
    pub md5_bad: u64,
    /// Signed segments from a peer without a key.
    pub md5_unexpected: u64,
    /// Segments to a peer with a key that could not be signed (not sent).
    pub md5_sign_failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BgpIoError {
    #[error("bgp config: {0}")]
    Config(String),
    #[error("the router has no IPv4 address to run BGP on")]
    NoAddress,
    #[error("spawning the bgp thread: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("the bgp thread is not running")]
    Gone,
    #[error("the bgp thread did not answer in time")]
    Timeout,
    #[error("bgp refused the new configuration: {0}")]
    Refused(String),
}

/// Asks the BGP thread questions (operator commands); cheap to clone.
#[derive(Clone)]
pub struct BgpClient {
    queries: Sender<(Query, Sender<Reply>)>,
}

impl BgpClient {
    /// Asks the BGP thread; answers within `timeout` or fails.
    pub fn query(&self, q: Query, timeout: Duration) -> Result<Reply, BgpIoError> {
        let (tx, rx) = bounded(1);
        self.queries
            .send_timeout((q, tx), timeout)
            .map_err(|_| BgpIoError::Gone)?;
        rx.recv_timeout(timeout).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => BgpIoError::Timeout,
            crossbeam_channel::RecvTimeoutError::Disconnected => BgpIoError::Gone,
        })
    }
}

impl BgpClient {
    /// Hands a new configuration to the BGP thread (`router reload`) and
    /// waits for the speaker's report. On an error the speaker runs on
    /// with its old configuration.
    pub fn reconfigure(
        &self,
        config: bgp::SpeakerConfig,
        addrs: Vec<Ipv4Net>,
        timeout: Duration,
    ) -> Result<bgp::ReconfigureReport, BgpIoError> {
        let q = Query::Reconfigure {
            config: Box::new(config),
            addrs,
        };
        match self.query(q, timeout)? {
            Reply::Reconfigured(r) => r.map_err(BgpIoError::Refused),
            _ => Err(BgpIoError::Gone),
        }
    }
}

/// Refuses what the transport cannot do yet: TCP-MD5 over IPv6. The
/// signing shim handles IPv4 segments only, so an IPv6 neighbour (or IPv6
/// listen range) with a password, its own or its group's, would never get
/// a session up with a peer that signs; better a clear error at load.
pub fn check_transport(cfg: &crate::config::bgp::BgpConfig) -> Result<(), BgpIoError> {
    let group_has_key = |name: &str| {
        cfg.groups.iter().any(|g| {
            g.name.get_ref() == name && (g.password.is_some() || g.password_file.is_some())
        })
    };
    for (i, n) in cfg.neighbors.iter().enumerate() {
        let addr = *n.address.get_ref();
        let keyed = n.password.is_some()
            || n.password_file.is_some()
            || n.group.as_ref().is_some_and(|g| group_has_key(g.get_ref()));
        if addr.is_ipv6() && keyed {
            return Err(BgpIoError::Config(format!(
                "bgp.neighbors[{i}]: TCP-MD5 (password) is not supported for IPv6 neighbour {addr} yet"
            )));
        }
    }
    for (i, l) in cfg.listen.iter().enumerate() {
        let prefix = *l.prefix.get_ref();
        if matches!(prefix, ipnet::IpNet::V6(_)) && group_has_key(l.group.get_ref()) {
            return Err(BgpIoError::Config(format!(
                "bgp.listen[{i}]: TCP-MD5 (password) is not supported for IPv6 range {prefix} yet"
            )));
        }
    }
    Ok(())
}

/// The router's addresses (ports, then loopbacks): what BGP's TCP runs on.
pub fn local_addresses(cfg: &Config) -> Vec<Ipv4Net> {
    cfg.ports
        .iter()
        .flat_map(|p| p.addresses.iter().copied())
        .chain(
            cfg.loopbacks
                .iter()
                .flat_map(|l| l.addresses.iter().copied()),
        )
        .collect()
}

/// Handle to the running BGP thread; stops it when dropped.
pub struct BgpHandle {
    pub client: BgpClient,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BgpHandle {
    /// Stops the thread and waits for it.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BgpHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the BGP thread. `cfg.bgp` must be present. Routes go to `routes`,
/// which also decides which next hops are reachable (connected and static
/// routes).
pub fn spawn(
    shared: Arc<Shared>,
    cfg: &Config,
    routes: RouteHandle,
) -> Result<BgpHandle, BgpIoError> {
    let bgp_cfg = cfg
        .bgp
        .as_ref()
        .ok_or_else(|| BgpIoError::Config("no [bgp] section".into()))?;
    check_transport(bgp_cfg)?;
    let speaker_cfg = bgp_cfg
        .to_speaker_config()
        .map_err(|e| BgpIoError::Config(e.to_string()))?;
    let mut md5_keys = tcp_md5::KeyTable::default();
    for (peer, password) in bgp_cfg
        .tcp_md5_keys(&crate::config::config_dir(&cfg.file))
        .map_err(|e| BgpIoError::Config(e.to_string()))?
    {
        let key = tcp_md5::Md5Key::new(password.as_bytes()).ok_or_else(|| {
            BgpIoError::Config(format!("TCP-MD5 password for {peer}: bad length"))
        })?;
        if peer.prefix_len() == 32 {
            md5_keys.insert_peer(peer.addr(), key);
        } else {
            md5_keys.insert_range(peer, key);
        }
    }
    let addrs = local_addresses(cfg);
    if addrs.is_empty() {
        return Err(BgpIoError::NoAddress);
    }
    let mtu = shared
        .ports
        .iter()
        .map(|p| usize::from(p.mtu))
        .filter(|&m| m >= 576)
        .min()
        .unwrap_or(1500);
    let (qtx, qrx) = bounded(16);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    // The speaker's clock starts now; the thread measures from the same epoch.
    let epoch = std::time::Instant::now();
    let speaker = Speaker::new(speaker_cfg, bgp::time::Instant::ZERO)
        .map_err(|e| BgpIoError::Config(e.to_string()))?;
    let thread = std::thread::Builder::new()
        .name("bgp".into())
        .spawn(move || {
            crate::service::enter_control_plane("bgp");
            let mut t = Transport::new(
                shared, speaker, epoch, addrs, mtu, md5_keys, routes, qrx, stop2,
            );
            t.run();
        })?;
    Ok(BgpHandle {
        client: BgpClient { queries: qtx },
        stop,
        thread: Some(thread),
    })
}

/// Starts BGP if the config has a `[bgp]` section and registers its
/// operator commands (`show bgp ...`) in the control registry. The one call
/// the application makes.
pub fn start(
    shared: Arc<Shared>,
    cfg: &Config,
    routes: RouteHandle,
    registry: &crate::control::Registry,
) -> Result<Option<BgpHandle>, BgpIoError> {
    if cfg.bgp.is_none() {
        return Ok(None);
    }
    let h = spawn(shared, cfg, routes.clone())?;
    commands::register(registry, h.client.clone(), routes);
    Ok(Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::NextHopAddr;

    #[test]
    fn changes_split_by_family() {
        let (v, v6) = to_route_manager(vec![
            RouteChange::Replace {
                prefix: "172.20.0.0/24".parse().unwrap(),
                next_hops: vec![
                    NextHopAddr::global("192.168.10.100".parse().unwrap()),
                    NextHopAddr::global("192.168.10.101".parse().unwrap()),
                ],
            },
            RouteChange::Remove("172.20.1.0/24".parse().unwrap()),
            // A link-local next hop learned on port 2's session; a global one.
            RouteChange::Replace {
                prefix: "2001:db8::/32".parse().unwrap(),
                next_hops: vec![
                    NextHopAddr {
                        addr: "fe80::1".parse().unwrap(),
                        link: Some(2),
                    },
                    NextHopAddr {
                        addr: "2001:db8:1::1".parse().unwrap(),
                        link: Some(2),
                    },
                ],
            },
            // RFC 8950: an IPv4 prefix via IPv6 next hops, a global one and
            // a link-local one from port 1's session; and an IPv4-mapped one.
            RouteChange::Replace {
                prefix: "172.20.2.0/24".parse().unwrap(),
                next_hops: vec![
                    NextHopAddr::global("2001:db8::1".parse().unwrap()),
                    NextHopAddr {
                        addr: "fe80::9".parse().unwrap(),
                        link: Some(1),
                    },
                    NextHopAddr::global("::ffff:192.168.10.9".parse().unwrap()),
                ],
            },
        ]);
        assert_eq!(v.len(), 3);
        assert!(
            matches!(&v[0], BgpRouteChange::Announce { next_hops, internal: false, .. } if next_hops.len() == 2)
        );
        assert!(
            matches!(&v[1], BgpRouteChange::Withdraw { prefix } if prefix.to_string() == "172.20.1.0/24")
        );
        assert_eq!(
            v[2],
            BgpRouteChange::Announce {
                prefix: "172.20.2.0/24".parse().unwrap(),
                next_hops: vec![
                    BgpNextHop::Ipv6 {
                        addr: "2001:db8::1".parse().unwrap(),
                        port: None,
                    },
                    BgpNextHop::Ipv6 {
                        addr: "fe80::9".parse().unwrap(),
                        port: Some(1),
                    },
                    BgpNextHop::Routed("192.168.10.9".parse().unwrap()),
                ],
                internal: false,
            }
        );
        assert_eq!(
            v6,
            vec![BgpRouteChange::Announce {
                prefix: "2001:db8::/32".parse().unwrap(),
                next_hops: vec![
                    BgpNextHop::OnLink {
                        addr: "fe80::1".parse().unwrap(),
                        port: 2,
                    },
                    // Only a link-local address is scoped to the port.
                    BgpNextHop::Routed("2001:db8:1::1".parse().unwrap()),
                ],
                internal: false,
            }]
        );
    }

    #[test]
    fn tcp_md5_is_refused_on_ipv6_neighbours_and_ranges() {
        let base = "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n";
        let check = |extra: &str| {
            let src = format!("{base}{extra}");
            let cfg: crate::config::bgp::BgpConfig = toml::from_str::<
                std::collections::HashMap<String, crate::config::bgp::BgpConfig>,
            >(&src)
            .unwrap()
            .remove("bgp")
            .unwrap();
            check_transport(&cfg)
        };
        let v4 = "[[bgp.neighbors]]\naddress = \"10.0.0.1\"\nremote_as = 1\npassword = \"k\"\n";
        assert!(check(v4).is_ok());
        let v6 = "[[bgp.neighbors]]\naddress = \"2001:db8::1\"\nremote_as = 1\n";
        assert!(check(v6).is_ok(), "IPv6 without a key is fine");
        let e = check(&format!("{v6}password = \"k\"\n")).unwrap_err();
        assert!(e.to_string().contains("not supported for IPv6"), "{e}");
        let grp = "[[bgp.groups]]\nname = \"G\"\nremote_as = 1\npassword = \"k\"\n";
        let e = check(&format!(
            "{grp}[[bgp.neighbors]]\naddress = \"2001:db8::1\"\ngroup = \"G\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("bgp.neighbors[0]"), "{e}");
        let e = check(&format!(
            "{grp}[[bgp.listen]]\nprefix = \"2001:db8::/64\"\ngroup = \"G\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("bgp.listen[0]"), "{e}");
    }
}
