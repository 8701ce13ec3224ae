//! `router run`: load the config, bind the ports, install routes, start the
//! dataplane and the control socket, wait for SIGINT/SIGTERM (reloading the
//! config on SIGHUP and `router reload`, see [`super::reload`]), shut down.
//!
//! Nothing starts before the config is fully checked (a config error exits
//! with status 2 and touches nothing), and shutdown undoes start-up in
//! reverse order: control socket (and its file), BGP, dataplane and with it
//! the host interfaces. (Every
//! handle also stops its threads when dropped, so an error half-way through
//! start-up unwinds what was started.)
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::reload::{self, ReloadError, ReloadReport, Reloader};
use crate::cli::{EXIT_CONFIG, EXIT_RUNTIME};
use crate::config::running::running_config;
use crate::config::{Config, ConfigError, PortConfig, RouterConfig};
use crate::control::{self, BuiltinContext, ControlServer, Registry};
use crate::dataplane::icmp_out::IcmpRateLimit;
use crate::dataplane::{self, DataplaneOptions};
use crate::host::state::StateFile;
use crate::host::{self, HostOptions, HostPort, Plan};
use crate::hostif::HostInterfaces;
use crate::metrics::{MetricsServer, MetricsSources, RouterCollector};
use crate::neigh::NeighOptions;
use crate::ports::{PortId, PortInfo};
use crate::rib::RouteManager;
use crate::service::{Notifier, Watchdog};
use crate::shared::Shared;
use router_sys::netdev;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A port's kernel interface is missing or unusable.
    #[error("port {port}: kernel interface {ifname:?}: {message}")]
    Port {
        port: String,
        ifname: String,
        message: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Runtime(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => EXIT_CONFIG,
            _ => EXIT_RUNTIME,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let what = what.into();
    move |source| AppError::Io { what, source }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Already initialised (tests) is fine.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The dataplane settings the config controls; the rest keep their defaults.
pub fn dataplane_options(r: &RouterConfig) -> DataplaneOptions {
    let n = &r.neighbour;
    DataplaneOptions {
        icmp: IcmpRateLimit {
            per_sec: r.icmp_rate_limit,
            burst: r.icmp_burst,
        },
        neigh: NeighOptions {
            reachable_ms: u64::from(n.reachable_time_ms),
            retrans_ms: u64::from(n.retrans_time_ms),
            mcast_probes: u8::try_from(n.mcast_probes).unwrap_or(u8::MAX),
            ucast_probes: u8::try_from(n.ucast_probes).unwrap_or(u8::MAX),
            unres_qlen: n.queue_len as usize,
            failed_hold_ms: u64::from(n.failed_hold_ms),
            gc_stale_ms: u64::from(n.stale_time_ms),
        },
        rx_frames: r.rx_ring_frames,
        tx_frames: r.tx_ring_frames,
        ..DataplaneOptions::default()
    }
}

/// Queries the kernel for one port: ifindex, MAC, MTU.
fn resolve_port(id: PortId, p: &PortConfig) -> Result<PortInfo, AppError> {
    let fail = |what: &str, e: std::io::Error| AppError::Port {
        port: p.name.clone(),
        ifname: p.ifname.clone(),
        message: if e.raw_os_error() == Some(libc::ENODEV)
            || e.kind() == std::io::ErrorKind::NotFound
        {
            "no such interface (create it, or fix `ifname` in the config)".to_string()
        } else {
            format!("cannot read its {what}: {e}")
        },
    };
    let ifindex = netdev::ifindex(&p.ifname).map_err(|e| fail("index", e))?;
    let mac = netdev::mac(&p.ifname).map_err(|e| fail("MAC address", e))?;
    let if_mtu = netdev::mtu(&p.ifname).map_err(|e| fail("MTU", e))?;
    let if_mtu = u16::try_from(if_mtu).unwrap_or(u16::MAX);
    let mtu = match p.mtu {
        None => if_mtu,
        Some(m) if m <= if_mtu => m,
        Some(m) => {
            return Err(AppError::Port {
                port: p.name.clone(),
                ifname: p.ifname.clone(),
                message: format!("configured mtu {m} exceeds the interface MTU {if_mtu} (raise it with `ip link set mtu`)"),
            })
        }
    };
    // A down interface is no start-up error (it may come up later), but
    // nothing passes until it does.
    if let Ok(false) = netdev::is_up(&p.ifname) {
        tracing::warn!(port = %p.name, ifname = %p.ifname, "interface is down");
    }
    if !p.addresses6.is_empty() && (mtu as usize) < crate::wire::ipv6::MIN_MTU {
        return Err(AppError::Port {
            port: p.name.clone(),
            ifname: p.ifname.clone(),
            message: format!(
                "MTU {mtu} is below 1280, the least an IPv6 link carries (RFC 8200 §5), and the port has IPv6 addresses"
            ),
        });
    }
    Ok(PortInfo {
        id,
        name: p.name.clone(),
        ifname: p.ifname.clone(),
        ifindex,
        mac,
        mtu,
        addrs: p.addresses.clone(),
        addrs6: port_addresses6(p, mac),
    })
}

/// A port's IPv6 addresses as the dataplane holds them: none without IPv6;
/// else the link-local first (the configured one, or the modified EUI-64
/// one of the MAC, RFC 4291 §2.5.1), then the rest.
fn port_addresses6(p: &PortConfig, mac: [u8; 6]) -> Vec<ipnet::Ipv6Net> {
    use crate::wire::ipv6::class::is_link_local;
    if p.addresses6.is_empty() {
        return Vec::new();
    }
    let ll = p
        .addresses6
        .iter()
        .find(|a| is_link_local(&a.addr()))
        .copied()
        .unwrap_or_else(|| {
            ipnet::Ipv6Net::new(crate::ports::link_local_from_mac(mac), 64).expect("/64 is valid")
        });
    std::iter::once(ll)
        .chain(
            p.addresses6
                .iter()
                .filter(|a| !is_link_local(&a.addr()))
                .copied(),
        )
        .collect()
}

/// The host set-up's view of the configured ports.
fn host_ports(cfg: &Config) -> Vec<HostPort> {
    cfg.ports
        .iter()
        .map(|p| HostPort {
            name: p.name.clone(),
            ifname: p.ifname.clone(),
        })
        .collect()
}

fn host_options(cfg: &Config) -> HostOptions {
    HostOptions {
        allow_kernel_forwarding: cfg.router.allow_kernel_forwarding,
        ingress_drop: cfg.router.ingress_drop,
    }
}

/// `router run --dry-run`: checks the config, reads the kernel and prints
/// what the host set-up would change; changes nothing. Exit 0, 2 for a
/// config error, 1 for a host that cannot be prepared.
pub fn dry_run(config_path: &Path, socket: Option<PathBuf>) -> u8 {
    let cfg = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_CONFIG;
        }
    };
    let state = StateFile::for_socket(&socket.unwrap_or_else(|| cfg.router.control_socket.clone()));
    match state.load() {
        Ok(Some(changes)) => {
            println!(
                "a previous run did not stop cleanly ({}): `router run` first restores its {} changes:",
                state.path().display(),
                changes.len()
            );
            for c in changes.iter().rev() {
                println!("  undo: {c}");
            }
        }
        Ok(None) => {}
        Err(e) => println!("unreadable state file of a previous run (set aside at start): {e}"),
    }
    match Plan::build(&host_ports(&cfg), host_options(&cfg)) {
        Ok(plan) => {
            for line in plan.describe() {
                println!("{line}");
            }
            // The host interfaces come after the set-up (crate::hostif).
            for p in &cfg.ports {
                if let Some(tap) = &p.host_interface {
                    let addrs: Vec<String> = p.addresses.iter().map(|a| a.to_string()).collect();
                    let exists = netdev::ifindex(tap).is_ok();
                    println!(
                        "{}: host interface {tap}: create a TAP with the port's MAC and MTU, IPv6 off, addresses {}{}",
                        p.ifname,
                        if addrs.is_empty() { "none".into() } else { addrs.join(", ") },
                        if exists { " (an interface of that name exists: the start would fail)" } else { "" }
                    );
                }
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_RUNTIME
        }
    }
}

/// What the main thread waits for once the router runs.
enum Event {
    Signal(i32),
    /// `router reload` on the control socket; the answer goes back here.
    Reload(Sender<Result<ReloadReport, String>>),
}

/// How long `router reload` waits for the main thread's answer (the BGP
/// thread has 5 s of it; the CLI waits 10 s by default).
const RELOAD_WAIT: Duration = Duration::from_secs(8);

/// The one reload the run loop does, for SIGHUP and `router reload` alike:
/// [`Reloader::reload`], logged.
///
/// systemd sees RELOADING=1 before and READY=1 after (also after a refused
/// reload: the running config stays, and the router is ready again).
fn reload_and_log(
    reloader: &mut Reloader,
    notifier: Notifier,
) -> Result<ReloadReport, ReloadError> {
    notifier.reloading();
    let r = reloader.reload();
    notifier.ready(match &r {
        Ok(_) => "reloaded",
        Err(_) => "reload refused; running config unchanged",
    });
    match &r {
        Ok(report) => {
            for line in report.to_string().lines() {
                tracing::info!("reload: {line}");
            }
        }
        Err(e) => {
            for line in e.to_string().lines() {
                tracing::warn!("reload: {line}");
            }
        }
    }
    r
}

/// Registers `reload`: asks the main thread to reload and waits for its
/// report. The control thread waits meanwhile (other clients with it): a
/// reload takes milliseconds, the BGP thread answering within one loop
/// iteration, and [`RELOAD_WAIT`] bounds it.
fn register_reload(reg: &Registry, events: Sender<Event>) {
    reg.register(
        "reload",
        "re-read the config file and apply the difference (routes, loopbacks, bgp)",
        move |_| {
            let (tx, rx) = bounded(1);
            events
                .send_timeout(Event::Reload(tx), RELOAD_WAIT)
                .map_err(|_| "the router is shutting down".to_string())?;
            match rx.recv_timeout(RELOAD_WAIT) {
                Ok(Ok(report)) => Ok(control::Reply::data(
                    serde_json::to_value(&report).map_err(|e| e.to_string())?,
                )
                .with_text(report.to_string())),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("the reload did not finish in time".into()),
            }
        },
    );
}

/// Runs the router until SIGINT or SIGTERM.
pub fn run(config_path: &Path, socket: Option<PathBuf>) -> Result<(), AppError> {
    init_tracing();
    let started = Instant::now();
    let (cfg, text) = Config::load_text(config_path)?;
    let notifier = Notifier::from_env();
    // Signals are caught from here on, so a SIGTERM during start-up still
    // leads to a clean shutdown rather than a half-started process (and a
    // SIGHUP a reload once started, not the default exit).
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(io_err("cannot install signal handlers"))?;
    let socket_path = socket.unwrap_or_else(|| cfg.router.control_socket.clone());
    // The default lives in /run/router/ (systemd's RuntimeDirectory).
    if let Some(dir) = socket_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(format!(
            "control socket directory {}",
            dir.display()
        )))?;
    }
    // Refuse early if another router owns the control socket.
    control::prepare_path(&socket_path)
        .map_err(io_err(format!("control socket {}", socket_path.display())))?;

    // A previous run that died left its host set-up in place: restore it
    // first, or the plan below would take the router's settings for the
    // host's own.
    let state = StateFile::for_socket(&socket_path);
    match host::recover(&state) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            file = %state.path().display(), changes = n,
            "host set-up: a previous run did not stop cleanly; restored what it had changed"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "host set-up: unreadable state file of a previous run set aside; its changes are not restored"
        ),
    }
    // Make the ports fit for the router (undone when `host` drops: at the
    // end of this function, or on an error during start-up), recorded in
    // the state file while they stand.
    let host = Plan::build(&host_ports(&cfg), host_options(&cfg))
        .and_then(|p| p.apply_recorded(Some(state)))
        .map_err(|e| AppError::Runtime(format!("host set-up: {e}")))?;
    for change in host.changes() {
        tracing::info!(%change, "host set-up");
    }

    let ports = cfg
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| resolve_port(i as PortId, p))
        .collect::<Result<Vec<_>, _>>()?;
    for p in &ports {
        tracing::info!(
            port = %p.name, ifname = %p.ifname, ifindex = p.ifindex,
            mac = %format_args!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", p.mac[0], p.mac[1], p.mac[2], p.mac[3], p.mac[4], p.mac[5]),
            mtu = p.mtu, addresses = ?p.addrs, addresses6 = ?p.addrs6, "port"
        );
    }
    for l in &cfg.loopbacks {
        tracing::info!(loopback = %l.name, addresses = ?l.addresses, "loopback");
    }
    // Host interfaces (TAPs for the kernel) before anything runs: one that
    // cannot be made stops the start-up, and the ones made go with it.
    let (host_interfaces, hosts) =
        HostInterfaces::create(&ports, &cfg.ports).map_err(|e| AppError::Runtime(e.to_string()))?;
    let shared = Shared::with_hosts(ports, cfg.router.worker_threads, hosts);

    let mut rm = RouteManager::new(Arc::clone(&shared));
    rm.set_connected(&cfg.loopbacks)
        .map_err(|e| AppError::Runtime(format!("installing connected routes: {e}")))?;
    rm.set_static(&cfg.routes)
        .map_err(|e| AppError::Runtime(format!("installing static routes: {e}")))?;
    let mut rm6 = RouteManager::<crate::rib::V6>::with_family(Arc::clone(&shared));
    rm6.set_connected(&cfg.loopbacks)
        .map_err(|e| AppError::Runtime(format!("installing IPv6 connected routes: {e}")))?;
    rm6.set_static(&cfg.routes6)
        .map_err(|e| AppError::Runtime(format!("installing IPv6 static routes: {e}")))?;
    tracing::info!(routes = rm.len(), routes6 = rm6.len(), "FIB ready");
    let routes = crate::rib::Routes { v4: rm, v6: rm6 }.into_handle();

    // Without a BGP stack nothing reads `local_tcp`: the slow path answers
    // TCP to our addresses with a RST instead of queueing it.
    if cfg.bgp.is_none() {
        shared
            .local_tcp
            .detached
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    // Opens every socket before any thread starts: a failure starts nothing.
    // The dataplane takes the host interfaces over; they are removed when
    // it stops.
    let dataplane = dataplane::start_with_host(
        Arc::clone(&shared),
        dataplane_options(&cfg.router),
        Some(host_interfaces),
    )
    .map_err(io_err("cannot start the dataplane"))?;

    let registry = Registry::new();
    let running = running_config(cfg.clone(), text);
    control::register_builtin(
        &registry,
        BuiltinContext {
            shared: Arc::clone(&shared),
            routes: Arc::clone(&routes),
            running: Arc::clone(&running),
            started,
        },
    );
    reload::register_show_config(&registry, Arc::clone(&running));
    let (events_tx, events) = bounded::<Event>(8);
    register_reload(&registry, events_tx.clone());
    // The threads started from here on that are not workers run below the
    // workers' priority.
    crate::service::set_control_plane_nice(cfg.router.control_plane_nice);
    // BGP (when `[bgp]` is configured) registers its `show bgp ...` commands.
    let bgp = crate::bgp_io::start(Arc::clone(&shared), &cfg, Arc::clone(&routes), &registry)
        .map_err(|e| AppError::Runtime(format!("cannot start BGP: {e}")))?;

    let metrics = match &cfg.metrics {
        None => None,
        Some(m) => Some(
            MetricsServer::start(
                m.listen,
                RouterCollector::new(MetricsSources {
                    shared: Arc::clone(&shared),
                    routes: Arc::clone(&routes),
                    bgp: bgp.as_ref().map(|b| b.client.clone()),
                    started,
                }),
            )
            .map_err(io_err(format!("metrics listener {}", m.listen)))?,
        ),
    };

    // `show drops`, `monitor drops`, `route get`.
    control::drops::register(&registry, Arc::clone(&shared));
    control::route_get::register(
        &registry,
        control::route_get::RouteGetContext {
            shared: Arc::clone(&shared),
            routes: Arc::clone(&routes),
            fwd: dataplane_options(&cfg.router).fwd(),
            running: Arc::clone(&running),
            bgp: bgp.as_ref().map(|h| h.client.clone()),
        },
    );

    let control = ControlServer::start(&socket_path, Arc::clone(&registry))
        .map_err(io_err(format!("control socket {}", socket_path.display())))?;

    tracing::info!(
        config = %config_path.display(),
        ports = shared.ports.len(),
        loopbacks = cfg.loopbacks.len(),
        workers = cfg.router.worker_threads,
        socket = %socket_path.display(),
        bgp = cfg.bgp.is_some(),
        "router started"
    );

    // Ports prepared and bound, FIB published, control socket listening.
    notifier.ready(&format!(
        "forwarding on {} ports with {} workers",
        shared.ports.len(),
        cfg.router.worker_threads
    ));
    let beats = Arc::clone(&shared);
    let watchdog = Watchdog::start(notifier, move || beats.heartbeats.read());

    let mut reloader = Reloader::new(
        config_path.to_path_buf(),
        running,
        Arc::clone(&routes),
        bgp.as_ref().map(|b| b.client.clone()),
    );
    let signal_handle = signals.handle();
    let signal_thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if events_tx.send(Event::Signal(s)).is_err() {
                    break;
                }
            }
        })
        .map_err(io_err("cannot start the signal thread"))?;
    loop {
        match events.recv() {
            Ok(Event::Signal(SIGHUP)) => {
                tracing::info!("SIGHUP: reloading {}", config_path.display());
                let _ = reload_and_log(&mut reloader, notifier);
            }
            Ok(Event::Reload(reply)) => {
                let r = reload_and_log(&mut reloader, notifier);
                let _ = reply.try_send(r.map_err(|e| e.to_string()));
            }
            Ok(Event::Signal(s)) => {
                tracing::info!(signal = s, "shutting down");
                notifier.stopping();
                break;
            }
            Err(_) => break,
        }
    }
    signal_handle.close();
    let _ = signal_thread.join();
    drop(watchdog);
    drop(metrics);

    control.stop();
    if let Some(mut bgp) = bgp {
        bgp.shutdown();
    }
    dataplane.stop();
    // Last: give the kernel its ports back.
    host.undo();
    tracing::info!("stopped");
    Ok(())
}
