//! Forwarding workers and the slow-path thread on AF_PACKET rings.
//!
//! [`start`] opens, for each of N workers, one socket per port (RX and TX
//! rings, vnet header, PACKET_FANOUT_HASH in that port's group so both
//! directions of a flow land on one worker), plus one TX-only socket per
//! port for the slow path, then spawns the threads ("fwd-0"…, "slowpath").
//! All sockets are opened before any thread starts, so a failure returns an
//! error and starts nothing.
//!
//! * [`worker`]: a worker's loop (poll, forward a batch, kick the TX rings);
//! * [`forward`]: the per-packet path, independent of sockets;
//! * [`rings`]: the I/O boundary between `forward` and `router-sys`;
//! * [`icmp_out`]: the ICMP messages the router builds, and their rate limit;
//! * [`counters`]: per-thread, per-port counters and the drop reasons;
//! * [`explain`]: `route get`, a synthetic packet through `forward`;
//! * [`monitor`]: the drop monitor's per-thread rings (`router monitor drops`).
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use self::forward::{FragmentPolicy, FwdOptions};
use self::icmp_out::IcmpRateLimit;
use self::rings::RingSink;
use crate::hostif::HostInterfaces;
use crate::neigh::NeighOptions;
use crate::shared::Shared;
use crate::slowpath::{Handoff, HandoffOptions};
use router_sys::afpacket::{self, FanoutMode, PacketSocket, SocketConfig};

pub mod counters;
pub mod explain;
pub mod forward;
pub mod icmp_out;
pub mod monitor;
pub mod rings;
pub mod worker;

/// Dataplane settings. The worker count is `shared.workers` (the counters
/// are sized by it).
#[derive(Clone, Debug)]
pub struct DataplaneOptions {
    /// Bytes per ring slot; 0 picks [`afpacket::GSO_FRAME_SIZE`] with the
    /// vnet header, else [`afpacket::MTU_FRAME_SIZE`].
    pub frame_size: u32,
    /// RX / TX ring slots per worker socket.
    pub rx_frames: u32,
    pub tx_frames: u32,
    /// TX ring slots of each slow-path socket.
    pub slow_tx_frames: u32,
    /// PACKET_VNET_HDR on every socket: GSO super-frames and partial
    /// checksums pass through whole (needed for kernel-like TCP throughput).
    pub vnet_hdr: bool,
    pub qdisc_bypass: bool,
    /// Frames taken from one RX ring per round (one TX kick per egress port
    /// per round).
    pub batch: usize,
    /// poll(2) timeout of the workers: how quickly they notice `stop`.
    pub poll_timeout_ms: i32,
    /// After a round that handled frames, watch the RX rings this long
    /// (yielding the CPU between looks) before sleeping in poll(2), which
    /// saves a wake-up per reply in request/response traffic; zero (the
    /// default) never spins. At most 1 ms. Measured on the 2-core lab VM
    /// with 2 workers, 100 µs against none: UDP ping-pong p50 ~27 µs
    /// instead of ~30–50 µs, but single-stream TCP ~6 instead of ~8 Gbit/s
    /// (the spinning worker takes CPU time iperf3 needs), so it is off.
    /// Worth enabling where cores are not shared with the endpoints.
    pub spin: Duration,
    /// No spinning while a worker handles more than this many frames per
    /// second: under load, yielding lets the sender run a whole time slice
    /// while the RX ring overflows (a 64-byte flood lost 2–4× more).
    pub spin_max_rate: u64,
    /// PACKET_FANOUT group of port p is `base + p`; None derives the base
    /// from the process id.
    pub fanout_group_base: Option<u16>,
    pub fragment: FragmentPolicy,
    pub icmp: IcmpRateLimit,
    pub neigh: NeighOptions,
    pub handoff: HandoffOptions,
    /// Slow-path timer tick (≤ 10 ms).
    pub slow_tick: Duration,
}

impl Default for DataplaneOptions {
    fn default() -> Self {
        DataplaneOptions {
            frame_size: 0,
            // Ring memory is pinned kernel memory in our RSS: see
            // `RouterConfig::rx_ring_frames` for the sizing.
            rx_frames: crate::config::DEFAULT_RX_RING_FRAMES,
            tx_frames: crate::config::DEFAULT_TX_RING_FRAMES,
            // One 1 MiB block: the slow path sends ARP, ICMP, BGP segments
            // and the few frames that waited for ARP, a handful per tick.
            slow_tx_frames: 15,
            vnet_hdr: true,
            qdisc_bypass: true,
            batch: 64,
            poll_timeout_ms: 100,
            spin: Duration::ZERO,
            spin_max_rate: 50_000,
            fanout_group_base: None,
            fragment: FragmentPolicy::Fragment,
            icmp: IcmpRateLimit::default(),
            neigh: NeighOptions::default(),
            handoff: HandoffOptions::default(),
            slow_tick: Duration::from_millis(10),
        }
    }
}

impl DataplaneOptions {
    fn frame_size(&self) -> u32 {
        match self.frame_size {
            0 if self.vnet_hdr => afpacket::GSO_FRAME_SIZE,
            0 => afpacket::MTU_FRAME_SIZE,
            n => n,
        }
    }
    /// The per-packet options (what `route get` runs with too).
    pub fn fwd(&self) -> FwdOptions {
        FwdOptions {
            fragment: self.fragment,
            icmp: self.icmp,
            tx_vnet: self.vnet_hdr,
        }
    }
}

/// Running dataplane threads; [`DataplaneHandle::stop`] (or drop) stops and
/// joins them.
pub struct DataplaneHandle {
    stop: Arc<AtomicBool>,
    handoff: Arc<Handoff>,
    threads: Vec<JoinHandle<()>>,
}

impl DataplaneHandle {
    /// Signals every thread and waits for them (workers notice within their
    /// poll timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.handoff.wake();
        for t in self.threads.drain(..) {
            let name = t.thread().name().unwrap_or("?").to_string();
            if t.join().is_err() {
                tracing::error!(thread = name, "dataplane thread panicked");
            }
        }
    }
}

impl Drop for DataplaneHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn fanout_base(opts: &DataplaneOptions) -> u16 {
    opts.fanout_group_base
        .unwrap_or_else(|| (std::process::id() as u16).wrapping_mul(16))
}

/// Opens all sockets and starts the workers and the slow-path thread.
pub fn start(shared: Arc<Shared>, opts: DataplaneOptions) -> io::Result<DataplaneHandle> {
    start_with_host(shared, opts, None)
}

/// [`start`], plus the host interfaces: the slow path writes into them and
/// a "hostif" thread reads them. They are removed once the handle stops.
pub fn start_with_host(
    shared: Arc<Shared>,
    opts: DataplaneOptions,
    host: Option<HostInterfaces>,
) -> io::Result<DataplaneHandle> {
    let host = host.filter(|h| !h.is_empty());
    let host_tx = host.as_ref().map(HostInterfaces::tx);
    let workers = shared.workers.max(1);
    let frame_size = opts.frame_size();
    let base = fanout_base(&opts);
    let mut worker_rings = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for (p, port) in shared.ports.iter().enumerate() {
            let cfg = SocketConfig {
                ifindex: port.ifindex,
                rx: true,
                tx: true,
                frame_size,
                rx_frames: opts.rx_frames,
                tx_frames: opts.tx_frames,
                vnet_hdr: opts.vnet_hdr,
                fanout: Some((base.wrapping_add(p as u16), FanoutMode::Hash)),
                qdisc_bypass: opts.qdisc_bypass,
            };
            let s = PacketSocket::open(&cfg).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("port {} ({}): {e}", port.name, port.ifname),
                )
            })?;
            let (r, t) = s.split();
            let (Some(r), Some(t)) = (r, t) else {
                return Err(io::Error::other(format!(
                    "port {}: socket without rings",
                    port.name
                )));
            };
            rx.push(r);
            tx.push(t);
        }
        worker_rings.push((rx, tx));
    }
    let mut slow_tx = Vec::new();
    for port in shared.ports.iter() {
        let cfg = SocketConfig {
            ifindex: port.ifindex,
            rx: false,
            tx: true,
            frame_size,
            rx_frames: 0,
            tx_frames: opts.slow_tx_frames,
            vnet_hdr: opts.vnet_hdr,
            fanout: None,
            qdisc_bypass: opts.qdisc_bypass,
        };
        let s = PacketSocket::open(&cfg).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("port {} ({}) slow path: {e}", port.name, port.ifname),
            )
        })?;
        let (_, t) = s.split();
        slow_tx.push(t.ok_or_else(|| io::Error::other(format!("port {}: no TX ring", port.name)))?);
    }
    let handoff = Arc::new(Handoff::new(opts.handoff));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handle = DataplaneHandle {
        stop: stop.clone(),
        handoff: handoff.clone(),
        threads: Vec::new(),
    };

    {
        let (shared, handoff, stop, opts) =
            (shared.clone(), handoff.clone(), stop.clone(), opts.clone());
        let t = std::thread::Builder::new()
            .name("slowpath".into())
            .spawn(move || {
                let (Some(writer), Some(writer6)) = (shared.neigh.writer(), shared.neigh6.writer())
                else {
                    tracing::error!("slow path: the neighbour table already has a writer");
                    return;
                };
                let fwd = crate::dataplane::forward::Forwarder::new(
                    shared.clone(),
                    shared.control_thread(),
                    opts.fwd(),
                );
                let core = crate::slowpath::SlowCore::new(
                    shared.clone(),
                    fwd,
                    opts.neigh.clone(),
                    writer,
                    writer6,
                    handoff,
                );
                let mut touched = vec![false; slow_tx.len()];
                let mut sink = RingSink {
                    tx: &mut slow_tx,
                    touched: &mut touched,
                    handoff: None,
                    punted: false,
                    host: host_tx.as_ref(),
                };
                tracing::info!("slow path started");
                crate::slowpath::run(core, &mut sink, &stop, opts.slow_tick);
            })?;
        handle.threads.push(t);
    }
    if let Some(host) = host {
        let (shared, handoff, stop) = (shared.clone(), handoff.clone(), stop.clone());
        let t = std::thread::Builder::new()
            .name("hostif".into())
            .spawn(move || host.run(&shared, &handoff, &stop))?;
        handle.threads.push(t);
    }
    for (i, (rx, tx)) in worker_rings.into_iter().enumerate() {
        let w = worker::Worker::new(
            shared.clone(),
            i,
            &opts,
            rx,
            tx,
            handoff.clone(),
            stop.clone(),
        );
        let t = std::thread::Builder::new()
            .name(format!("fwd-{i}"))
            .spawn(move || w.run())?;
        handle.threads.push(t);
    }
    Ok(handle)
}
