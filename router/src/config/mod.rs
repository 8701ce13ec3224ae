//! The router's TOML configuration: parsing, validation, and the checked
//! [`Config`] the rest of the router starts from.
//!
//! ```toml
//! [router]
//! worker_threads = 2                    # forwarding threads (>= 1)
//! control_socket = "/run/router/router.sock" # `router show ...` talks to this
//! allow_kernel_forwarding = false       # start even if the kernel forwards
//! ingress_drop = true                   # nftables netdev drop on the ports
//! control_plane_nice = 19               # nice of the BGP, control and metrics
//!                                       # threads: forwarding goes first
//! router_id = "192.168.10.200"          # optional
//! icmp_rate_limit = 1000                # ICMP errors per second (token bucket)
//! icmp_burst = 50
//! rx_ring_frames = 256                  # AF_PACKET ring slots per worker per
//! tx_ring_frames = 128                  # port (68 KiB each, see below)
//! [router.neighbour]                    # ARP timers, Linux defaults
//! reachable_time_ms = 30000             # also retrans_time_ms, mcast_probes,
//!                                       # ucast_probes, queue_len,
//!                                       # failed_hold_ms, stale_time_ms
//!
//! [[ports]]
//! name = "eth1"                         # name in the CLI
//! ifname = "eth1"                       # kernel interface (default: name)
//! addresses = ["192.168.10.200/24", "fd00:10::200/64"] # IPv4 and IPv6;
//!                                       # an fe80::/10 one sets the port's
//!                                       # link-local (else from the MAC)
//! mtu = 1500                            # default: the interface MTU
//! host_interface = "eth1-host"          # or true ("<ifname>-host"): a TAP
//!                                       # for the kernel (see crate::hostif)
//!
//! [[loopbacks]]                         # addresses with no kernel device
//! name = "loop1"
//! addresses = ["10.10.1.200/24"]
//!
//! [[routes]]
//! prefix = "0.0.0.0/0"
//! via = "10.0.2.2"                      # or ["a", "b"] for ECMP,
//!                                       # or port = "eth1", blackhole = true,
//!                                       # unreachable = true
//! [[routes]]                            # IPv6 alike; a link-local via
//! prefix = "fd00:172:20:1::/64"         # names its port:
//! via = "fe80::1"                       #   via = "fe80::1", port = "eth1"
//! port = "eth1"
//! [metrics]                             # off unless present
//! listen = "127.0.0.1:9477"             # Prometheus /metrics over HTTP
//!
//! [bgp]                                 # see config::bgp
//! ```
//!
//! Parsing keeps every value that is checked after parsing as
//! [`toml::Spanned`], so a semantic error (a next hop on no connected subnet,
//! a duplicate address) names the line and column like a syntax error does.
//! Addresses are parsed as [`IpNet`]/[`IpAddr`] first and then sorted by
//! family: IPv4 and IPv6 share `addresses` and `[[routes]]`; a route and
//! its next hop must be of one family.
pub mod bgp;
pub mod diff;
pub mod error;
pub mod running;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use toml::Spanned;

pub use error::{ConfigError, Diagnostic, Problem, Source};

/// Where `router show` and `router run` put the control socket by default.
/// Under its own directory so that a hardened service (systemd's
/// `RuntimeDirectory=router`, read-only /run otherwise) can create it.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/router/router.sock";
/// Most members of one ECMP static route.
pub const MAX_ECMP_MEMBERS: usize = 64;

// ---------------------------------------------------------------------------
// The checked configuration.

#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from, as given.
    pub file: String,
    pub router: RouterConfig,
    pub ports: Vec<PortConfig>,
    pub loopbacks: Vec<LoopbackConfig>,
    pub routes: Vec<StaticRoute>,
    /// The line of each `[[routes]]` entry (1-based, parallel to `routes`),
    /// so `route get` can say which line installed a static route.
    pub route_lines: Vec<usize>,
    /// The IPv6 `[[routes]]`, and their lines.
    pub routes6: Vec<StaticRoute6>,
    pub route_lines6: Vec<usize>,
    /// `[bgp]`, already checked with [`bgp::BgpConfig::to_speaker_config`].
    pub bgp: Option<bgp::BgpConfig>,
    /// `[metrics]`: the Prometheus exporter, off when absent.
    pub metrics: Option<MetricsConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: std::net::SocketAddr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    pub worker_threads: usize,
    pub control_socket: PathBuf,
    pub router_id: Option<Ipv4Addr>,
    /// ICMP error messages per second, all destinations together (Linux:
    /// net.ipv4.icmp_msgs_per_sec = 1000).
    pub icmp_rate_limit: u32,
    /// Token bucket depth (Linux: net.ipv4.icmp_msgs_burst = 50).
    pub icmp_burst: u32,
    /// RX / TX ring slots of each forwarding socket (one per worker per
    /// port). Each slot holds a whole 64 KiB GSO frame (68 KiB), and the
    /// kernel pins every slot, so a worker's port costs
    /// `(rx + tx) × 68 KiB`: with the defaults 8 + 4 MiB, RX absorbing ~6 ms of
    /// 64 KiB GSO frames at 10 Gbit/s. The kernel rounds up to whole
    /// 1 MiB blocks of 15 slots, so multiples of 15 waste nothing.
    pub rx_ring_frames: u32,
    pub tx_ring_frames: u32,
    pub neighbour: NeighbourConfig,
    /// Start even though the namespace's kernel forwards (ip_forward=1).
    pub allow_kernel_forwarding: bool,
    /// Install the nftables netdev-ingress drop on the ports (host set-up).
    pub ingress_drop: bool,
    /// Nice value (0..=19) of the control-plane threads: BGP (with the FIB
    /// publications it triggers), the control socket and metrics. The
    /// kernel forwards in softirq, ahead of every process; this is the
    /// userspace equivalent, so that a BGP ingest or FIB churn competing for
    /// the same cores delays routes rather than dropping packets.
    pub control_plane_nice: u8,
}

/// Default [`RouterConfig::control_plane_nice`]. Under CFS a nice-19 thread
/// weighs 15 against a nice-0 one's 1024: with the cores saturated it still
/// runs every scheduling period (BGP keepalives and timers are microseconds
/// of work), and otherwise it runs at full speed. Chosen on `fault_bench
/// --only churn,ingest --control-plane-nice 0,10,19` (bench/README.md):
/// forwarding during a 1M-prefix ingest kept 0.85x / 0.90x / 0.96x of its
/// idle rate at nice 0 / 10 / 19, with no install-time difference between 10
/// and 19 above the noise.
pub const DEFAULT_CONTROL_PLANE_NICE: u8 = 19;

/// Default RX ring slots per forwarding socket (8 blocks of 15 slots).
pub const DEFAULT_RX_RING_FRAMES: u32 = 256;
/// Default TX ring slots per forwarding socket (4 blocks): TX drains at
/// once (each round kicks the ring), RX must absorb bursts while the worker
/// is busy or descheduled.
pub const DEFAULT_TX_RING_FRAMES: u32 = 128;
/// Most ring slots per socket (about 1 GiB of pinned memory at 68 KiB).
pub const MAX_RING_FRAMES: i64 = 16_384;

/// ARP neighbour timers; defaults are Linux's (`net.ipv4.neigh.default.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// How long a confirmed entry stays REACHABLE (base_reachable_time_ms).
    pub reachable_time_ms: u32,
    /// Interval between ARP requests for one address (retrans_time_ms); at
    /// most one request per second is what RFC 1122 §2.3.2.1 asks for.
    pub retrans_time_ms: u32,
    /// Broadcast requests before resolution fails (mcast_solicit).
    pub mcast_probes: u32,
    /// Unicast re-probes of a STALE entry before it fails (ucast_solicit).
    pub ucast_probes: u32,
    /// Packets queued per unresolved address (unres_qlen).
    pub queue_len: u32,
    /// How long a failed address answers "host unreachable" before a new
    /// resolution may start.
    pub failed_hold_ms: u32,
    /// How long an unused STALE entry is kept (gc_stale_time).
    pub stale_time_ms: u32,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        NeighbourConfig {
            reachable_time_ms: 30_000,
            retrans_time_ms: 1_000,
            mcast_probes: 3,
            ucast_probes: 3,
            queue_len: 3,
            failed_hold_ms: 1_000,
            stale_time_ms: 60_000,
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            worker_threads: 1,
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            router_id: None,
            icmp_rate_limit: 1000,
            icmp_burst: 50,
            rx_ring_frames: DEFAULT_RX_RING_FRAMES,
            tx_ring_frames: DEFAULT_TX_RING_FRAMES,
            neighbour: NeighbourConfig::default(),
            allow_kernel_forwarding: false,
            ingress_drop: true,
            control_plane_nice: DEFAULT_CONTROL_PLANE_NICE,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    pub ifname: String,
    /// The router's IPv4 addresses on this port (address + subnet length).
    pub addresses: Vec<Ipv4Net>,
    /// Its IPv6 addresses; a link-local (fe80::/10) one, if given, is the
    /// port's link-local. Empty: no IPv6 on the port.
    pub addresses6: Vec<Ipv6Net>,
    /// IP MTU; `None`: the interface's MTU.
    pub mtu: Option<u16>,
    /// Name of the port's host interface (a TAP for the kernel, see
    /// [`crate::hostif`]); `None`: none.
    pub host_interface: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopbackConfig {
    pub name: String,
    pub addresses: Vec<Ipv4Net>,
    pub addresses6: Vec<Ipv6Net>,
}

/// A static route of one family (`StaticRoute6` for IPv6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRoute<N = Ipv4Net, A = Ipv4Addr> {
    pub prefix: N,
    pub target: StaticTarget<A>,
}

pub type StaticRoute6 = StaticRoute<Ipv6Net, Ipv6Addr>;

/// A gateway of a static route, with the port whose subnet holds it (for
/// an IPv6 link-local gateway: the port the config names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gateway<A = Ipv4Addr> {
    /// Index into [`Config::ports`] (= the port's `PortId`).
    pub port: usize,
    pub addr: A,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticTarget<A = Ipv4Addr> {
    /// One gateway, or several (ECMP).
    Via(Vec<Gateway<A>>),
    /// The prefix is directly on this port (index into [`Config::ports`]).
    Port(usize),
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP destination unreachable.
    Unreachable,
}

impl Config {
    /// Reads, parses and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_text(path).map(|(c, _)| c)
    }

    /// [`Config::load`], also returning the text it was read from (what
    /// `router show config` prints).
    pub fn load_text(path: &Path) -> Result<(Config, String), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let c = Config::parse(&path.display().to_string(), &text)?;
        Ok((c, text))
    }

    /// Parses and checks config text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let src = Source::new(file, text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| src.from_toml(&e))?;
        Validator { src: &src }.check(raw)
    }

    /// Every connected subnet (ports and loopbacks), with the name of the
    /// interface that holds it.
    pub fn connected_subnets(&self) -> impl Iterator<Item = (&str, Ipv4Net)> {
        let ports = self.ports.iter().flat_map(|p| {
            p.addresses
                .iter()
                .map(move |a| (p.name.as_str(), a.trunc()))
        });
        let loops = self.loopbacks.iter().flat_map(|l| {
            l.addresses
                .iter()
                .map(move |a| (l.name.as_str(), a.trunc()))
        });
        ports.chain(loops)
    }
}

/// The host interface name `host_interface = true` gives a port on kernel
/// interface `ifname`: `<ifname>-host`, the interface name cut to 10 bytes
/// so the whole fits IFNAMSIZ (15 bytes and a NUL).
pub fn default_host_interface(ifname: &str) -> String {
    let mut cut = ifname.len().min(10);
    while !ifname.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-host", &ifname[..cut])
}

// ---------------------------------------------------------------------------
// The file as written (spans kept for the checks below).

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    router: Option<RawRouter>,
    #[serde(default)]
    ports: Vec<Spanned<RawPort>>,
    #[serde(default)]
    loopbacks: Vec<Spanned<RawLoopback>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
    bgp: Option<bgp::BgpConfig>,
    metrics: Option<Spanned<RawMetrics>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    worker_threads: Option<Spanned<i64>>,
    control_socket: Option<Spanned<String>>,
    router_id: Option<Spanned<String>>,
    icmp_rate_limit: Option<Spanned<i64>>,
    icmp_burst: Option<Spanned<i64>>,
    rx_ring_frames: Option<Spanned<i64>>,
    tx_ring_frames: Option<Spanned<i64>>,
    neighbour: Option<RawNeighbour>,
    allow_kernel_forwarding: Option<bool>,
    ingress_drop: Option<bool>,
    control_plane_nice: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbour {
    reachable_time_ms: Option<Spanned<i64>>,
    retrans_time_ms: Option<Spanned<i64>>,
    mcast_probes: Option<Spanned<i64>>,
    ucast_probes: Option<Spanned<i64>>,
    queue_len: Option<Spanned<i64>>,
    failed_hold_ms: Option<Spanned<i64>>,
    stale_time_ms: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    ifname: Option<Spanned<String>>,
    addresses: Spanned<Vec<Spanned<String>>>,
    mtu: Option<Spanned<i64>>,
    /// A name, or `true` for [`default_host_interface`]'s, `false` for none.
    host_interface: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoopback {
    name: Spanned<String>,
    addresses: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Spanned<String>,
    /// An address, or a list of addresses (ECMP). Kept as a TOML value so
    /// both shapes get our own error text.
    via: Option<Spanned<toml::Value>>,
    port: Option<Spanned<String>>,
    blackhole: Option<Spanned<bool>>,
    unreachable: Option<Spanned<bool>>,
}

// ---------------------------------------------------------------------------
// Checks.

/// The folder of the config file `file` (relative paths in the config,
/// such as `password_file`, are taken from there).
pub fn config_dir(file: &str) -> PathBuf {
    Path::new(file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn span<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

/// An interface (port or loopback) address, with where it was written.
struct OwnedAddr<N = Ipv4Net> {
    net: N,
    iface: usize,
    field: String,
    span: Range<usize>,
}

struct Validator<'a> {
    src: &'a Source,
}

impl Validator<'_> {
    fn err<T>(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        problem: Problem,
    ) -> Result<T, ConfigError> {
        Err(self.src.error(span, field, problem))
    }

    /// "line N" of a span, for "already used at ..." messages.
    fn at(&self, field: &str, span: &Range<usize>) -> String {
        let (line, col) = self.src.position(span.start);
        format!("`{field}` (line {line}, column {col})")
    }

    fn check(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let router = self.router(raw.router)?;
        let metrics = match &raw.metrics {
            None => None,
            Some(m) => {
                let listen = m.get_ref().listen.get_ref();
                match listen.parse::<std::net::SocketAddr>() {
                    Ok(listen) => Some(MetricsConfig { listen }),
                    Err(_) => {
                        return self.err(
                            Some(m.get_ref().listen.span()),
                            "metrics.listen",
                            Problem::Invalid(format!(
                                "{listen:?} is not ADDRESS:PORT (e.g. \"127.0.0.1:{}\")",
                                crate::metrics::DEFAULT_PORT
                            )),
                        )
                    }
                }
            }
        };
        if raw.ports.is_empty() {
            return self.err(
                None,
                "ports",
                Problem::Invalid("no [[ports]] configured: the router needs at least one".into()),
            );
        }

        // Names: ports and loopbacks share one namespace (both are shown by
        // `router show interfaces` and referenced by name).
        let mut names: HashMap<String, String> = HashMap::new();
        let mut ifnames: HashMap<String, String> = HashMap::new();
        let mut owned: Vec<OwnedAddr> = Vec::new();
        let mut owned6: Vec<OwnedAddr<Ipv6Net>> = Vec::new();
        let mut ports = Vec::with_capacity(raw.ports.len());
        for (i, p) in raw.ports.iter().enumerate() {
            let p = p.get_ref();
            let path = format!("ports[{i}]");
            let name = self.name(&p.name, &format!("{path}.name"), &mut names)?;
            let ifname = match &p.ifname {
                Some(ifn) => {
                    self.ifname(ifn, &format!("{path}.ifname"))?;
                    ifn.get_ref().clone()
                }
                None => {
                    self.ifname(&p.name, &format!("{path}.name"))?;
                    name.clone()
                }
            };
            let ifspan = p.ifname.as_ref().map_or(p.name.span(), |s| s.span());
            let iffield = if p.ifname.is_some() {
                format!("{path}.ifname")
            } else {
                format!("{path}.name")
            };
            if let Some(first) = ifnames.get(&ifname) {
                return self.err(
                    Some(ifspan),
                    iffield,
                    Problem::Invalid(format!(
                        "kernel interface {ifname:?} is already used by {first}"
                    )),
                );
            }
            ifnames.insert(ifname.clone(), self.at(&iffield, &ifspan));
            let (addresses, addresses6) = self.addresses(
                &p.addresses,
                &path,
                ports.len(),
                true,
                &mut owned,
                &mut owned6,
            )?;
            let mtu = match &p.mtu {
                Some(m) => {
                    let v = *m.get_ref();
                    if !(68..=65535).contains(&v) {
                        return self.err(
                            span(m),
                            format!("{path}.mtu"),
                            Problem::BadMtu { value: v },
                        );
                    }
                    // RFC 8200 §5: every IPv6 link carries 1280 octets.
                    if !addresses6.is_empty() && v < crate::wire::ipv6::MIN_MTU as i64 {
                        return self.err(
                            span(m),
                            format!("{path}.mtu"),
                            Problem::Invalid(format!(
                                "{v} is below 1280, the least an IPv6 link carries (RFC 8200 §5), and the port has IPv6 addresses"
                            )),
                        );
                    }
                    Some(v as u16)
                }
                None => None,
            };
            let host_interface =
                self.host_interface(p, &path, &ifname, &addresses, &mut ifnames)?;
            ports.push(PortConfig {
                name,
                ifname,
                addresses,
                addresses6,
                mtu,
                host_interface,
            });
        }
        if ports.len() > usize::from(crate::ports::PortId::MAX) {
            return self.err(None, "ports", Problem::Invalid("too many ports".into()));
        }
        let mut loopbacks = Vec::with_capacity(raw.loopbacks.len());
        for (i, l) in raw.loopbacks.iter().enumerate() {
            let l = l.get_ref();
            let path = format!("loopbacks[{i}]");
            let name = self.name(&l.name, &format!("{path}.name"), &mut names)?;
            let (addresses, addresses6) = self.addresses(
                &l.addresses,
                &path,
                ports.len() + loopbacks.len(),
                false,
                &mut owned,
                &mut owned6,
            )?;
            loopbacks.push(LoopbackConfig {
                name,
                addresses,
                addresses6,
            });
        }
        self.owned_addresses(&owned)?;
        self.owned_addresses6(&owned6)?;

        let mut routes = Vec::with_capacity(raw.routes.len());
        let mut route_lines = Vec::with_capacity(raw.routes.len());
        let mut seen: HashMap<IpNet, String> = HashMap::new();
        let mut routes6 = Vec::new();
        let mut route_lines6 = Vec::new();
        for (i, r) in raw.routes.iter().enumerate() {
            let path = format!("routes[{i}]");
            let line = self.src.position(r.span().start).0;
            let prefix: IpNet = if self.is_ipv6_route(r) {
                let route = self.route6(r, &path, &ports, &owned6)?;
                route_lines6.push(line);
                let p = IpNet::V6(route.prefix);
                routes6.push(route);
                p
            } else {
                let route = self.route(r, &path, &ports, &owned)?;
                route_lines.push(line);
                let p = IpNet::V4(route.prefix);
                routes.push(route);
                p
            };
            let r = r.get_ref();
            if let Some(first) = seen.get(&prefix) {
                return self.err(
                    span(&r.prefix),
                    format!("{path}.prefix"),
                    Problem::DuplicateRoute {
                        prefix: prefix.to_string(),
                        first: first.clone(),
                    },
                );
            }
            seen.insert(prefix, self.at(&format!("{path}.prefix"), &r.prefix.span()));
        }

        if let Some(b) = &raw.bgp {
            let base = config_dir(&self.src.file);
            if let Err(e) = b
                .to_speaker_config()
                .and_then(|_| b.tcp_md5_keys(&base).map(|_| ()))
            {
                return self.err(
                    e.span.clone(),
                    e.field.clone(),
                    Problem::Invalid(e.message.clone()),
                );
            }
        }

        Ok(Config {
            file: self.src.file.clone(),
            router,
            ports,
            loopbacks,
            routes,
            route_lines,
            routes6,
            route_lines6,
            bgp: raw.bgp,
            metrics,
        })
    }

    fn int(
        &self,
        v: &Option<Spanned<i64>>,
        field: &str,
        range: Range<i64>,
        default: i64,
    ) -> Result<i64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if range.contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => self.err(
                span(s),
                field,
                Problem::OutOfRange {
                    value: *s.get_ref(),
                    range: format!("{}..={}", range.start, range.end - 1),
                },
            ),
        }
    }

    fn router(&self, raw: Option<RawRouter>) -> Result<RouterConfig, ConfigError> {
        let d = RouterConfig::default();
        let Some(r) = raw else { return Ok(d) };
        let worker_threads = match &r.worker_threads {
            None => d.worker_threads,
            Some(w) if *w.get_ref() < 1 => {
                return self.err(
                    span(w),
                    "router.worker_threads",
                    Problem::BadWorkerCount {
                        value: *w.get_ref(),
                    },
                )
            }
            // More workers than that is a typo, not a machine.
            Some(w) if *w.get_ref() > 1024 => {
                return self.err(
                    span(w),
                    "router.worker_threads",
                    Problem::OutOfRange {
                        value: *w.get_ref(),
                        range: "1..=1024".into(),
                    },
                )
            }
            Some(w) => *w.get_ref() as usize,
        };
        let control_socket = match &r.control_socket {
            None => d.control_socket,
            Some(s) if s.get_ref().is_empty() => {
                return self.err(
                    span(s),
                    "router.control_socket",
                    Problem::Invalid("must not be empty".into()),
                )
            }
            // sockaddr_un.sun_path holds 108 bytes including the NUL.
            Some(s) if s.get_ref().len() > 107 => {
                return self.err(
                    span(s),
                    "router.control_socket",
                    Problem::Invalid(
                        "path longer than 107 bytes (the limit of a Unix socket address)".into(),
                    ),
                )
            }
            Some(s) => PathBuf::from(s.get_ref()),
        };
        let router_id = match &r.router_id {
            None => None,
            Some(s) => {
                let a = self.v4_addr(s, "router.router_id")?;
                if a.is_unspecified() {
                    return self.err(
                        span(s),
                        "router.router_id",
                        Problem::Invalid("0.0.0.0 is not a router id".into()),
                    );
                }
                Some(a)
            }
        };
        const U32: Range<i64> = 1..(u32::MAX as i64 + 1);
        let icmp_rate_limit =
            self.int(&r.icmp_rate_limit, "router.icmp_rate_limit", U32, 1000)? as u32;
        let icmp_burst = self.int(
            &r.icmp_burst,
            "router.icmp_burst",
            1..(u32::MAX as i64 + 1),
            50,
        )? as u32;
        // Fewer than 8 slots cannot hold one RX batch of GSO frames.
        const RING: Range<i64> = 8..(MAX_RING_FRAMES + 1);
        let rx_ring_frames = self.int(
            &r.rx_ring_frames,
            "router.rx_ring_frames",
            RING,
            i64::from(d.rx_ring_frames),
        )? as u32;
        let tx_ring_frames = self.int(
            &r.tx_ring_frames,
            "router.tx_ring_frames",
            RING,
            i64::from(d.tx_ring_frames),
        )? as u32;
        let control_plane_nice = self.int(
            &r.control_plane_nice,
            "router.control_plane_nice",
            0..20,
            i64::from(d.control_plane_nice),
        )? as u8;
        let dn = NeighbourConfig::default();
        let neighbour = match &r.neighbour {
            None => dn,
            Some(n) => {
                let f = |v: &Option<Spanned<i64>>, name: &str, range: Range<i64>, default: u32| {
                    self.int(
                        v,
                        &format!("router.neighbour.{name}"),
                        range,
                        i64::from(default),
                    )
                    .map(|v| v as u32)
                };
                NeighbourConfig {
                    reachable_time_ms: f(
                        &n.reachable_time_ms,
                        "reachable_time_ms",
                        1..3_600_001,
                        dn.reachable_time_ms,
                    )?,
                    // RFC 1122 §2.3.2.1: no more than one ARP request per second per address.
                    retrans_time_ms: f(
                        &n.retrans_time_ms,
                        "retrans_time_ms",
                        1000..60_001,
                        dn.retrans_time_ms,
                    )?,
                    mcast_probes: f(&n.mcast_probes, "mcast_probes", 1..101, dn.mcast_probes)?,
                    ucast_probes: f(&n.ucast_probes, "ucast_probes", 0..101, dn.ucast_probes)?,
                    queue_len: f(&n.queue_len, "queue_len", 0..1025, dn.queue_len)?,
                    failed_hold_ms: f(
                        &n.failed_hold_ms,
                        "failed_hold_ms",
                        0..3_600_001,
                        dn.failed_hold_ms,
                    )?,
                    stale_time_ms: f(
                        &n.stale_time_ms,
                        "stale_time_ms",
                        1000..86_400_001,
                        dn.stale_time_ms,
                    )?,
                }
            }
        };
        Ok(RouterConfig {
            worker_threads,
            control_socket,
            router_id,
            icmp_rate_limit,
            icmp_burst,
            rx_ring_frames,
            tx_ring_frames,
            neighbour,
            allow_kernel_forwarding: r
                .allow_kernel_forwarding
                .unwrap_or(d.allow_kernel_forwarding),
            ingress_drop: r.ingress_drop.unwrap_or(d.ingress_drop),
            control_plane_nice,
        })
    }

    fn name(
        &self,
        s: &Spanned<String>,
        field: &str,
        names: &mut HashMap<String, String>,
    ) -> Result<String, ConfigError> {
        let n = s.get_ref();
        let ok = !n.is_empty()
            && n.len() <= 32
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'));
        if !ok {
            return self.err(
                span(s),
                field,
                Problem::Invalid(format!(
                    "{n:?} is not a valid name (1 to 32 of A-Z a-z 0-9 - _ . : @)"
                )),
            );
        }
        if let Some(first) = names.get(n) {
            return self.err(
                span(s),
                field,
                Problem::DuplicateName {
                    name: n.clone(),
                    first: first.clone(),
                },
            );
        }
        names.insert(n.clone(), self.at(field, &s.span()));
        Ok(n.clone())
    }

    /// Linux interface names: 1..=15 bytes (IFNAMSIZ 16 with the NUL), no
    /// '/', no whitespace, not "." or "..".
    /// `host_interface`: a valid name not used by any other interface of
    /// the config, with room for the `NAME:N` labels of further addresses.
    fn host_interface(
        &self,
        p: &RawPort,
        path: &str,
        ifname: &str,
        addresses: &[Ipv4Net],
        ifnames: &mut HashMap<String, String>,
    ) -> Result<Option<String>, ConfigError> {
        let Some(v) = &p.host_interface else {
            return Ok(None);
        };
        let field = format!("{path}.host_interface");
        let name = match v.get_ref() {
            toml::Value::Boolean(false) => return Ok(None),
            toml::Value::Boolean(true) => default_host_interface(ifname),
            toml::Value::String(n) => {
                self.ifname(&Spanned::new(v.span(), n.clone()), &field)?;
                n.clone()
            }
            _ => {
                return self.err(
                    span(v),
                    field,
                    Problem::Invalid("expected an interface name or a boolean".into()),
                )
            }
        };
        if addresses.len() > 1 && name.len() + 1 + (addresses.len() - 1).to_string().len() > 15 {
            return self.err(
                span(v),
                field,
                Problem::Invalid(format!(
                    "{name:?} is too long for the labels of its {} addresses (\"{name}:N\" must fit 15 bytes)",
                    addresses.len()
                )),
            );
        }
        if let Some(first) = ifnames.get(&name) {
            return self.err(
                span(v),
                field,
                Problem::Invalid(format!(
                    "kernel interface {name:?} is already used by {first}"
                )),
            );
        }
        ifnames.insert(name.clone(), self.at(&field, &v.span()));
        Ok(Some(name))
    }

    fn ifname(&self, s: &Spanned<String>, field: &str) -> Result<(), ConfigError> {
        let n = s.get_ref();
        let ok = !n.is_empty()
            && n.len() <= 15
            && n != "."
            && n != ".."
            && !n
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
        if ok {
            Ok(())
        } else {
            self.err(
                span(s),
                field,
                Problem::Invalid(format!("{n:?} is not a valid kernel interface name (1 to 15 bytes, no '/', ':' or spaces)")),
            )
        }
    }

    fn v4_addr(&self, s: &Spanned<String>, field: &str) -> Result<Ipv4Addr, ConfigError> {
        let v = s.get_ref().trim();
        match IpAddr::from_str(v) {
            Ok(IpAddr::V4(a)) => Ok(a),
            Ok(IpAddr::V6(_)) => self.err(
                span(s),
                field,
                Problem::FamilyMismatch {
                    value: v.to_string(),
                    reason: if field.ends_with(".via") {
                        "an IPv6 next hop for an IPv4 route (a route and its next hop are of one family)".into()
                    } else {
                        "must be an IPv4 address".into()
                    },
                },
            ),
            Err(e) => self.err(
                span(s),
                field,
                Problem::BadAddress {
                    value: v.to_string(),
                    reason: e.to_string(),
                },
            ),
        }
    }

    fn v4_net(
        &self,
        s: &Spanned<String>,
        field: &str,
        bad: fn(String, String) -> Problem,
    ) -> Result<Ipv4Net, ConfigError> {
        let v = s.get_ref().trim();
        if !v.contains('/') {
            let hint = if IpAddr::from_str(v).is_ok() {
                "missing the prefix length (\"/24\")"
            } else {
                "no '/'"
            };
            return self.err(span(s), field, bad(v.to_string(), hint.to_string()));
        }
        match IpNet::from_str(v) {
            Ok(IpNet::V4(n)) => Ok(n),
            Ok(IpNet::V6(_)) => self.err(
                span(s),
                field,
                Problem::FamilyMismatch {
                    value: v.to_string(),
                    reason: "expected an IPv4 prefix here".into(),
                },
            ),
            Err(e) => self.err(span(s), field, bad(v.to_string(), e.to_string())),
        }
    }

    /// The `addresses` of a port (`is_port`) or loopback, sorted by family.
    #[allow(clippy::too_many_arguments)]
    fn addresses(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        path: &str,
        iface: usize,
        is_port: bool,
        owned: &mut Vec<OwnedAddr>,
        owned6: &mut Vec<OwnedAddr<Ipv6Net>>,
    ) -> Result<(Vec<Ipv4Net>, Vec<Ipv6Net>), ConfigError> {
        if list.get_ref().is_empty() {
            return self.err(
                span(list),
                format!("{path}.addresses"),
                Problem::Invalid("needs at least one address".into()),
            );
        }
        let mut out = Vec::with_capacity(list.get_ref().len());
        let mut out6: Vec<Ipv6Net> = Vec::new();
        for (j, a) in list.get_ref().iter().enumerate() {
            let field = format!("{path}.addresses[{j}]");
            if a.get_ref().contains(':') {
                let net = self.v6_net(a, &field, |value, reason| Problem::BadInterfaceAddress {
                    value,
                    reason,
                })?;
                let ip = net.addr();
                let link_local = crate::wire::ipv6::class::is_link_local(&ip);
                // RFC 4291 §2.5.2-§2.7, §2.6.1: addresses no interface holds
                // as its own.
                let why = if ip.is_unspecified() {
                    Some("is the unspecified address".to_string())
                } else if ip.is_loopback() {
                    Some("is the loopback address".into())
                } else if crate::wire::ipv6::class::is_multicast(&ip) {
                    Some("is a multicast address".into())
                } else if crate::wire::ipv6::class::to_ipv4_mapped(&ip).is_some() {
                    Some("is an IPv4-mapped address (::ffff:0:0/96), never on the wire".into())
                } else if net.prefix_len() < 127 && ip == net.network() {
                    Some(
                        "is the Subnet-Router anycast address of its subnet (RFC 4291 §2.6.1)"
                            .into(),
                    )
                } else if link_local && !is_port {
                    Some("is link-local: a loopback has no link".into())
                } else if link_local
                    && out6
                        .iter()
                        .any(|n| crate::wire::ipv6::class::is_link_local(&n.addr()))
                {
                    Some("is a second link-local address: a port has one".into())
                } else {
                    None
                };
                if let Some(why) = why {
                    return self.err(
                        span(a),
                        field,
                        Problem::Invalid(format!("{net}: {ip} {why}")),
                    );
                }
                owned6.push(OwnedAddr {
                    net,
                    iface,
                    field,
                    span: a.span(),
                });
                out6.push(net);
                continue;
            }
            let net = self.v4_net(a, &field, |value, reason| Problem::BadInterfaceAddress {
                value,
                reason,
            })?;
            let ip = net.addr();
            let o = ip.octets();
            // RFC 1122 §3.2.1.3 / RFC 1812 §5.3.7: addresses no interface may hold.
            let why = if o[0] == 0 {
                Some("is in 0.0.0.0/8 (\"this network\")")
            } else if ip.is_loopback() {
                Some("is a loopback address (127.0.0.0/8)")
            } else if ip.is_multicast() {
                Some("is a multicast address")
            } else if ip.is_broadcast() {
                Some("is the limited broadcast address")
            } else if o[0] >= 240 {
                Some("is in the reserved class E (240.0.0.0/4)")
            } else if net.prefix_len() < 31 && ip == net.network() {
                Some("is the network address of its subnet")
            } else if net.prefix_len() < 31 && ip == net.broadcast() {
                Some("is the broadcast address of its subnet")
            } else {
                None
            };
            if let Some(why) = why {
                return self.err(
                    span(a),
                    field,
                    Problem::Invalid(format!("{net}: {ip} {why}")),
                );
            }
            owned.push(OwnedAddr {
                net,
                iface,
                field,
                span: a.span(),
            });
            out.push(net);
        }
        Ok((out, out6))
    }

    /// Duplicate addresses anywhere; overlapping subnets on two interfaces.
    fn owned_addresses(&self, owned: &[OwnedAddr]) -> Result<(), ConfigError> {
        for (k, b) in owned.iter().enumerate() {
            for a in &owned[..k] {
                if a.net.addr() == b.net.addr() {
                    return self.err(
                        Some(b.span.clone()),
                        b.field.clone(),
                        Problem::DuplicateAddress {
                            address: b.net.addr().to_string(),
                            first: self.at(&a.field, &a.span),
                        },
                    );
                }
                let (sa, sb) = (a.net.trunc(), b.net.trunc());
                let overlap = sa.contains(&sb.network()) || sb.contains(&sa.network());
                // Two addresses of one subnet on one port are fine (a
                // secondary address); anything else that overlaps is ambiguous.
                if overlap && !(a.iface == b.iface && sa == sb) {
                    return self.err(
                        Some(b.span.clone()),
                        b.field.clone(),
                        Problem::OverlappingSubnet {
                            subnet: sb.to_string(),
                            other: sa.to_string(),
                            first: self.at(&a.field, &a.span),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// [`Self::owned_addresses`] for IPv6. Link-local subnets are per link:
    /// fe80::/64 on two ports does not overlap.
    fn owned_addresses6(&self, owned: &[OwnedAddr<Ipv6Net>]) -> Result<(), ConfigError> {
        use crate::wire::ipv6::class::is_link_local;
        for (k, b) in owned.iter().enumerate() {
            for a in &owned[..k] {
                let both_ll = is_link_local(&a.net.addr()) && is_link_local(&b.net.addr());
                if a.net.addr() == b.net.addr() && !(both_ll && a.iface != b.iface) {
                    return self.err(
                        Some(b.span.clone()),
                        b.field.clone(),
                        Problem::DuplicateAddress {
                            address: b.net.addr().to_string(),
                            first: self.at(&a.field, &a.span),
                        },
                    );
                }
                let (sa, sb) = (a.net.trunc(), b.net.trunc());
                let overlap = sa.contains(&sb.network()) || sb.contains(&sa.network());
                if overlap && !both_ll && !(a.iface == b.iface && sa == sb) {
                    return self.err(
                        Some(b.span.clone()),
                        b.field.clone(),
                        Problem::OverlappingSubnet {
                            subnet: sb.to_string(),
                            other: sa.to_string(),
                            first: self.at(&a.field, &a.span),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn v6_net(
        &self,
        s: &Spanned<String>,
        field: &str,
        bad: fn(String, String) -> Problem,
    ) -> Result<Ipv6Net, ConfigError> {
        let v = s.get_ref().trim();
        if !v.contains('/') {
            let hint = if IpAddr::from_str(v).is_ok() {
                "missing the prefix length (\"/64\")"
            } else {
                "no '/'"
            };
            return self.err(span(s), field, bad(v.to_string(), hint.to_string()));
        }
        match IpNet::from_str(v) {
            Ok(IpNet::V6(n)) => Ok(n),
            Ok(IpNet::V4(_)) => self.err(
                span(s),
                field,
                Problem::FamilyMismatch {
                    value: v.to_string(),
                    reason: "expected an IPv6 prefix here".into(),
                },
            ),
            Err(e) => self.err(span(s), field, bad(v.to_string(), e.to_string())),
        }
    }

    /// An IPv6 `[[routes]]` entry: its prefix has a ':'.
    fn is_ipv6_route(&self, r: &Spanned<RawRoute>) -> bool {
        r.get_ref().prefix.get_ref().contains(':')
    }

    /// An IPv6 `[[routes]]` entry: the checks of [`Self::route`], and a
    /// link-local `via`, which only names a neighbour together with its
    /// port (`via = "fe80::1"`, `port = "eth1"`, like `ip -6 route add …
    /// via fe80::1 dev eth1`).
    fn route6(
        &self,
        r: &Spanned<RawRoute>,
        path: &str,
        ports: &[PortConfig],
        owned: &[OwnedAddr<Ipv6Net>],
    ) -> Result<StaticRoute6, ConfigError> {
        let whole = r.span();
        let r = r.get_ref();
        let pfield = format!("{path}.prefix");
        let prefix = self.v6_net(&r.prefix, &pfield, |value, reason| Problem::BadPrefix {
            value,
            reason,
        })?;
        if prefix.addr() != prefix.network() {
            return self.err(
                span(&r.prefix),
                pfield,
                Problem::HostBitsSet {
                    value: prefix.to_string(),
                    network: prefix.trunc().to_string(),
                },
            );
        }
        let blackhole = r.blackhole.as_ref().filter(|b| *b.get_ref());
        let unreachable = r.unreachable.as_ref().filter(|b| *b.get_ref());
        let via_link_local = r.via.as_ref().is_some_and(|v| {
            v.get_ref()
                .as_str()
                .and_then(|s| s.trim().parse::<Ipv6Addr>().ok())
                .is_some_and(|a| crate::wire::ipv6::class::is_link_local(&a))
        });
        let given: Vec<(&str, Range<usize>)> = [
            r.via.as_ref().map(|v| ("via", v.span())),
            // With a link-local via, `port` is part of the next hop.
            r.port
                .as_ref()
                .filter(|_| !via_link_local)
                .map(|v| ("port", v.span())),
            blackhole.map(|v| ("blackhole", v.span())),
            unreachable.map(|v| ("unreachable", v.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        match given.as_slice() {
            [] => {
                return self.err(
                    Some(whole),
                    path,
                    Problem::Invalid(format!(
                        "route {prefix} needs one of `via`, `port`, `blackhole = true` or `unreachable = true`"
                    )),
                )
            }
            [_] => {}
            [_, (second, sp), ..] => {
                let hint = if given[0].0 == "via" && *second == "port" {
                    " (`port` goes with a link-local `via` only: a global next hop's port is its subnet's)"
                } else {
                    ""
                };
                return self.err(
                    Some(sp.clone()),
                    format!("{path}.{second}"),
                    Problem::Invalid(format!(
                        "route {prefix} has both `{}` and `{second}`: give only one of via, port, blackhole, unreachable{hint}",
                        given[0].0
                    )),
                );
            }
        }
        let port_index = |p: &Spanned<String>| -> Result<usize, ConfigError> {
            match ports.iter().position(|q| &q.name == p.get_ref()) {
                Some(i) => Ok(i),
                None => {
                    let known = ports
                        .iter()
                        .map(|q| q.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    self.err(
                        span(p),
                        format!("{path}.port"),
                        Problem::UnknownPort {
                            name: p.get_ref().clone(),
                            known,
                        },
                    )
                }
            }
        };
        let target = if let Some(via) = &r.via {
            let port = match &r.port {
                Some(p) if via_link_local => Some(port_index(p)?),
                _ => None,
            };
            StaticTarget::Via(self.via6(via, &format!("{path}.via"), port, ports, owned)?)
        } else if let Some(p) = &r.port {
            StaticTarget::Port(port_index(p)?)
        } else if blackhole.is_some() {
            StaticTarget::Blackhole
        } else {
            StaticTarget::Unreachable
        };
        Ok(StaticRoute { prefix, target })
    }

    /// The gateways of an IPv6 route: globals on a port's IPv6 subnet, or
    /// one link-local with the port `link_port` names.
    fn via6(
        &self,
        via: &Spanned<toml::Value>,
        field: &str,
        link_port: Option<usize>,
        ports: &[PortConfig],
        owned: &[OwnedAddr<Ipv6Net>],
    ) -> Result<Vec<Gateway<Ipv6Addr>>, ConfigError> {
        use crate::wire::ipv6::class;
        let strings = self.via_strings(via, field, "fd00:10::100")?;
        let mut gws: Vec<Gateway<Ipv6Addr>> = Vec::with_capacity(strings.len());
        for s in strings {
            let v = s.trim();
            let a = match IpAddr::from_str(v) {
                Ok(IpAddr::V6(a)) => a,
                Ok(IpAddr::V4(_)) => {
                    return self.err(
                        span(via),
                        field,
                        Problem::FamilyMismatch {
                            value: v.to_string(),
                            reason: "an IPv4 next hop for an IPv6 route (a route and its next hop are of one family)".into(),
                        },
                    )
                }
                Err(e) => {
                    return self.err(
                        span(via),
                        field,
                        Problem::BadAddress {
                            value: v.to_string(),
                            reason: e.to_string(),
                        },
                    )
                }
            };
            if a.is_unspecified()
                || a.is_loopback()
                || class::is_multicast(&a)
                || class::to_ipv4_mapped(&a).is_some()
            {
                return self.err(
                    span(via),
                    field,
                    Problem::Invalid(format!("next hop {a} names no neighbour (unspecified, loopback, multicast or IPv4-mapped)")),
                );
            }
            if let Some(o) = owned.iter().find(|o| o.net.addr() == a) {
                return self.err(
                    span(via),
                    field,
                    Problem::Invalid(format!(
                        "next hop {a} is the router's own address ({})",
                        self.at(&o.field, &o.span)
                    )),
                );
            }
            let port = if class::is_link_local(&a) {
                match link_port {
                    Some(p) if gws.is_empty() => p,
                    Some(_) => {
                        return self.err(
                            span(via),
                            field,
                            Problem::Invalid("a link-local next hop stands alone, with its `port`".into()),
                        )
                    }
                    None => {
                        return self.err(
                            span(via),
                            field,
                            Problem::Invalid(format!(
                                "next hop {a} is link-local: name its port too (`port = \"eth1\"`), as every link has fe80::/64"
                            )),
                        )
                    }
                }
            } else {
                let found = ports.iter().position(|p| {
                    p.addresses6
                        .iter()
                        .any(|n| !class::is_link_local(&n.addr()) && n.trunc().contains(&a))
                });
                let Some(port) = found else {
                    return self.err(
                        span(via),
                        field,
                        Problem::NextHopNotConnected {
                            next_hop: a.to_string(),
                        },
                    );
                };
                port
            };
            let gw = Gateway { port, addr: a };
            if gws.contains(&gw) {
                return self.err(
                    span(via),
                    field,
                    Problem::Invalid(format!("next hop {a} is listed twice")),
                );
            }
            gws.push(gw);
        }
        Ok(gws)
    }

    fn route(
        &self,
        r: &Spanned<RawRoute>,
        path: &str,
        ports: &[PortConfig],
        owned: &[OwnedAddr],
    ) -> Result<StaticRoute, ConfigError> {
        let whole = r.span();
        let r = r.get_ref();
        let pfield = format!("{path}.prefix");
        let prefix = self.v4_net(&r.prefix, &pfield, |value, reason| Problem::BadPrefix {
            value,
            reason,
        })?;
        if prefix.addr() != prefix.network() {
            return self.err(
                span(&r.prefix),
                pfield,
                Problem::HostBitsSet {
                    value: prefix.to_string(),
                    network: prefix.trunc().to_string(),
                },
            );
        }
        let blackhole = r.blackhole.as_ref().filter(|b| *b.get_ref());
        let unreachable = r.unreachable.as_ref().filter(|b| *b.get_ref());
        let given: Vec<(&str, Range<usize>)> = [
            r.via.as_ref().map(|v| ("via", v.span())),
            r.port.as_ref().map(|v| ("port", v.span())),
            blackhole.map(|v| ("blackhole", v.span())),
            unreachable.map(|v| ("unreachable", v.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        match given.as_slice() {
            [] => {
                return self.err(
                    Some(whole),
                    path,
                    Problem::Invalid(format!(
                        "route {prefix} needs one of `via`, `port`, `blackhole = true` or `unreachable = true`"
                    )),
                )
            }
            [_] => {}
            [_, (second, sp), ..] => {
                return self.err(
                    Some(sp.clone()),
                    format!("{path}.{second}"),
                    Problem::Invalid(format!(
                        "route {prefix} has both `{}` and `{second}`: give only one of via, port, blackhole, unreachable",
                        given[0].0
                    )),
                )
            }
        }
        let target = if let Some(via) = &r.via {
            StaticTarget::Via(self.via(via, &format!("{path}.via"), ports, owned)?)
        } else if let Some(p) = &r.port {
            match ports.iter().position(|q| &q.name == p.get_ref()) {
                Some(i) => StaticTarget::Port(i),
                None => {
                    let known = ports
                        .iter()
                        .map(|q| q.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    return self.err(
                        span(p),
                        format!("{path}.port"),
                        Problem::UnknownPort {
                            name: p.get_ref().clone(),
                            known,
                        },
                    );
                }
            }
        } else if blackhole.is_some() {
            StaticTarget::Blackhole
        } else {
            StaticTarget::Unreachable
        };
        Ok(StaticRoute { prefix, target })
    }

    /// A `via`: one address string, or a non-empty list of them (ECMP, at
    /// most [`MAX_ECMP_MEMBERS`]); `example` is the address the error shows.
    fn via_strings<'v>(
        &self,
        via: &'v Spanned<toml::Value>,
        field: &str,
        example: &str,
    ) -> Result<Vec<&'v str>, ConfigError> {
        let strings: Vec<&str> = match via.get_ref() {
            toml::Value::String(s) => vec![s.as_str()],
            toml::Value::Array(items) if !items.is_empty() => {
                let mut v = Vec::with_capacity(items.len());
                for it in items {
                    match it.as_str() {
                        Some(s) => v.push(s),
                        None => {
                            return self.err(
                                span(via),
                                field,
                                Problem::Invalid(
                                    "every `via` entry must be an address string".into(),
                                ),
                            )
                        }
                    }
                }
                v
            }
            _ => {
                return self.err(
                    span(via),
                    field,
                    Problem::Invalid(format!(
                    "must be an address (\"{example}\") or a non-empty list of addresses (ECMP)"
                )),
                )
            }
        };
        if strings.len() > MAX_ECMP_MEMBERS {
            return self.err(
                span(via),
                field,
                Problem::Invalid(format!("at most {MAX_ECMP_MEMBERS} ECMP next hops")),
            );
        }
        Ok(strings)
    }

    fn via(
        &self,
        via: &Spanned<toml::Value>,
        field: &str,
        ports: &[PortConfig],
        owned: &[OwnedAddr],
    ) -> Result<Vec<Gateway>, ConfigError> {
        let strings = self.via_strings(via, field, "192.168.10.100")?;
        let mut gws: Vec<Gateway> = Vec::with_capacity(strings.len());
        for s in strings {
            let a = self.v4_addr(&Spanned::new(via.span(), s.to_string()), field)?;
            // A next hop must be a neighbour: on the subnet of a port (not a
            // loopback, which has no link to send on), and not ourselves.
            if let Some(o) = owned.iter().find(|o| o.net.addr() == a) {
                return self.err(
                    span(via),
                    field,
                    Problem::Invalid(format!(
                        "next hop {a} is the router's own address ({})",
                        self.at(&o.field, &o.span)
                    )),
                );
            }
            let port = ports
                .iter()
                .position(|p| p.addresses.iter().any(|n| n.trunc().contains(&a)));
            let Some(port) = port else {
                return self.err(
                    span(via),
                    field,
                    Problem::NextHopNotConnected {
                        next_hop: a.to_string(),
                    },
                );
            };
            if let Some(n) = ports[port]
                .addresses
                .iter()
                .find(|n| n.prefix_len() < 31 && n.trunc().contains(&a))
            {
                if a == n.network() || a == n.broadcast() {
                    return self.err(
                        span(via),
                        field,
                        Problem::Invalid(format!(
                            "next hop {a} is the network or broadcast address of {}",
                            n.trunc()
                        )),
                    );
                }
            }
            let gw = Gateway { port, addr: a };
            if gws.contains(&gw) {
                return self.err(
                    span(via),
                    field,
                    Problem::Invalid(format!("next hop {a} is listed twice")),
                );
            }
            gws.push(gw);
        }
        Ok(gws)
    }
}

#[cfg(test)]
mod tests;
