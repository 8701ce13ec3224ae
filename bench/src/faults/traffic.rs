//! In-process 64-byte UDP traffic for the fault benchmark: a blaster and a
//! sink whose sockets are opened inside their namespaces ([`Ns::enter`])
//! and driven from threads of the benchmark, so a scenario can start and
//! stop traffic around what it does to the router.
//!
//! Every datagram carries the CLOCK_REALTIME nanosecond at which its
//! sendmmsg batch was started, so a sink can tell, per datagram, whether it
//! was sent after a moment the driver noted (the route-flap criterion).
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders, SockaddrIn,
};
use router_tests::Ns;

/// Messages per sendmmsg/recvmmsg call.
const BATCH: usize = 64;
/// UDP payload of a 64-byte Ethernet frame (14 + 20 + 8 + 18 + 4 FCS).
pub const PAYLOAD_64B: usize = 18;
/// At most this many send stamps are kept by a recording sink (8 bytes each).
const MAX_STAMPS: usize = 16_000_000;

pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Sends 64-byte datagrams until stopped (or `limit` passes).
pub struct Blaster {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Blaster {
    /// `threads` threads round-robin over `flows` connected sockets each
    /// (distinct source ports: the router's flow hash spreads them, over
    /// ECMP next hops too). `pps`: paced to that total rate; `None`: as
    /// fast as sendmmsg goes.
    pub fn start(
        ns: &Ns,
        dst: SocketAddrV4,
        pps: Option<u64>,
        flows: usize,
        threads: usize,
        limit: Duration,
    ) -> Result<Blaster, String> {
        let threads = threads.max(1);
        let per = flows.max(threads).div_ceil(threads);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let mut hs = Vec::new();
        for _ in 0..threads {
            let socks: Vec<UdpSocket> = ns.enter(|| {
                (0..per)
                    .map(|_| {
                        let s = UdpSocket::bind("0.0.0.0:0")?;
                        s.connect(dst)?;
                        let _ = setsockopt(&s, sockopt::SndBufForce, &(4 << 20));
                        Ok(s)
                    })
                    .collect::<std::io::Result<Vec<_>>>()
                    .map_err(|e| format!("blaster sockets: {e}"))
            })?;
            let (stop, sent) = (stop.clone(), sent.clone());
            let rate = pps.map(|p| (p as f64 / threads as f64).max(1.0));
            hs.push(std::thread::spawn(move || {
                blast_loop(&socks, rate, &stop, &sent, limit)
            }));
        }
        Ok(Blaster {
            stop,
            sent,
            threads: hs,
            started: Instant::now(),
        })
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the threads; returns (datagrams sent, seconds).
    pub fn stop(mut self) -> (u64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        (self.sent(), self.started.elapsed().as_secs_f64())
    }
}

impl Drop for Blaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

fn blast_loop(
    socks: &[UdpSocket],
    rate: Option<f64>,
    stop: &AtomicBool,
    sent: &AtomicU64,
    limit: Duration,
) {
    let mut buf = [0u8; PAYLOAD_64B];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let addrs: Vec<Option<SockaddrIn>> = vec![None; BATCH];
    let start = Instant::now();
    let (mut i, mut total) = (0usize, 0u64);
    while !stop.load(Ordering::Relaxed) && start.elapsed() < limit {
        if let Some(r) = rate {
            // Paced: never ahead of `rate` datagrams per second.
            let due = Duration::from_secs_f64(total as f64 / r);
            let now = start.elapsed();
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(2)));
                continue;
            }
        }
        buf[..8].copy_from_slice(&unix_ns().to_le_bytes());
        let iovs: Vec<[IoSlice<'_>; 1]> = (0..BATCH).map(|_| [IoSlice::new(&buf)]).collect();
        let s = &socks[i % socks.len()];
        i = i.wrapping_add(1);
        // ENOBUFS, or ECONNREFUSED after an ICMP error: keep going.
        if let Ok(res) = sendmmsg(
            s.as_raw_fd(),
            &mut headers,
            &iovs,
            &addrs,
            [],
            MsgFlags::empty(),
        ) {
            let n = res.count() as u64;
            total += n;
            sent.fetch_add(n, Ordering::Relaxed);
        } else if rate.is_some() {
            // Count the attempt so pacing does not burst afterwards.
            total += BATCH as u64;
        }
    }
}

/// What a sink received.
#[derive(Debug, Default)]
pub struct SinkReport {
    pub received: u64,
    /// Send stamps (unix ns) of every datagram, if recording.
    pub stamps: Vec<u64>,
}

/// Receives datagrams on a port until stopped.
pub struct Sink {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    thread: Option<JoinHandle<SinkReport>>,
}

impl Sink {
    pub fn start(ns: &Ns, port: u16, record: bool, limit: Duration) -> Result<Sink, String> {
        let s = ns.enter(|| {
            let s = UdpSocket::bind(("0.0.0.0", port))?;
            let _ = setsockopt(&s, sockopt::RcvBufForce, &(16 << 20));
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            Ok::<_, std::io::Error>(s)
        });
        let s = s.map_err(|e| format!("sink on {port}: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (stop_t, recv_t) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            let mut rep = SinkReport::default();
            let mut bufs = vec![[0u8; 256]; BATCH];
            let start = Instant::now();
            while !stop_t.load(Ordering::Relaxed) && start.elapsed() < limit {
                let lens: Vec<usize> = {
                    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
                    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                        bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                    match recvmmsg(
                        s.as_raw_fd(),
                        &mut headers,
                        iovs.iter_mut(),
                        MsgFlags::MSG_WAITFORONE,
                        None,
                    ) {
                        Ok(res) => res.map(|r| r.bytes).collect(),
                        Err(_) => continue,
                    }
                };
                recv_t.fetch_add(lens.len() as u64, Ordering::Relaxed);
                rep.received += lens.len() as u64;
                if record {
                    for (b, n) in bufs.iter().zip(&lens) {
                        if *n >= 8 && rep.stamps.len() < MAX_STAMPS {
                            let mut t = [0u8; 8];
                            t.copy_from_slice(&b[..8]);
                            rep.stamps.push(u64::from_le_bytes(t));
                        }
                    }
                }
            }
            rep
        });
        Ok(Sink {
            stop,
            received,
            thread: Some(thread),
        })
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub fn stop(mut self) -> SinkReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
