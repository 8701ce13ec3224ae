//! Traffic tools run inside the benchmark's namespaces (as `fwd_bench tool
//! ...` child processes): a sendmmsg UDP blaster, a recvmmsg UDP sink, and a
//! UDP echo server/client for request/response latency. All of them are
//! family-neutral: the address they are given (IPv4 or IPv6) picks the
//! socket family.
//!
//! Batching syscalls with sendmmsg/recvmmsg keeps the traffic generator's
//! per-packet cost far below the forwarder's, so the forwarder is what is
//! measured; nix wraps the syscalls safely (this crate forbids `unsafe`).
use std::io::IoSlice;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::serialization::Serializer as _;
use hdrhistogram::Histogram;
use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Messages per sendmmsg/recvmmsg call.
pub const BATCH: usize = 64;
/// UDP payload that makes a 64-byte Ethernet frame (14 + 20 + 8 + 18 + 4 FCS).
pub const PAYLOAD_64B: usize = 18;
/// UDP payload of the IPv6 tests' 78-byte frames (14 + 40 + 8 + 12 + 4 FCS):
/// IPv6 UDP cannot fit a 64-byte frame (the headers and FCS alone are 66
/// bytes), and 78 bytes is RFC 5180's smallest IPv6 frame on Ethernet. 12
/// bytes also hold the echo client's 8-byte sequence number.
pub const PAYLOAD6_78B: usize = 12;

/// The unspecified address of `addr`'s family, port 0: where a socket that
/// talks to `addr` binds (an IPv4 socket cannot reach an IPv6 peer).
fn any_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BlastReport {
    pub sent: u64,
    pub failed_calls: u64,
    pub secs: f64,
    /// This process's CPU time (all threads), ns: its sends and the kernel
    /// work they run in its context (a veth delivers synchronously, so for
    /// the kernel forwarder the forwarding itself).
    #[serde(default)]
    pub cpu_ns: u64,
}

/// CPU time of this process so far, ns (`getrusage`: on Linux the total is
/// the scheduler's exact run time, split by ticks between user and system).
pub fn self_cpu_ns() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let ns = |t: nix::sys::time::TimeVal| {
                t.tv_sec() as u64 * 1_000_000_000 + t.tv_usec() as u64 * 1_000
            };
            ns(u.user_time()) + ns(u.system_time())
        })
        .unwrap_or(0)
}

/// Sends `payload`-byte UDP datagrams to `dst` for `secs` from `threads`
/// threads, round-robin over `flows` sockets (distinct source ports, so a
/// flow-hashing forwarder spreads them over its workers): as fast as
/// possible, or paced to `rate` datagrams per second in all (`rate` > 0; in
/// bursts of one sendmmsg batch, never ahead of the rate).
pub fn blast(
    dst: SocketAddr,
    secs: f64,
    flows: usize,
    payload: usize,
    threads: usize,
    rate: f64,
) -> std::io::Result<BlastReport> {
    let threads = threads.max(1);
    let per_thread = flows.max(threads).div_ceil(threads);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let rate = rate / threads as f64;
            std::thread::spawn(move || blast_thread(dst, secs, per_thread, payload, rate))
        })
        .collect();
    let mut total = BlastReport {
        sent: 0,
        failed_calls: 0,
        secs: 0.0,
        cpu_ns: 0,
    };
    for h in handles {
        let r = h
            .join()
            .map_err(|_| std::io::Error::other("blaster thread panicked"))??;
        total.sent += r.sent;
        total.failed_calls += r.failed_calls;
    }
    total.secs = start.elapsed().as_secs_f64();
    total.cpu_ns = self_cpu_ns();
    Ok(total)
}

fn blast_thread(
    dst: SocketAddr,
    secs: f64,
    flows: usize,
    payload: usize,
    rate: f64,
) -> std::io::Result<BlastReport> {
    let socks: Vec<UdpSocket> = (0..flows.max(1))
        .map(|_| {
            let s = UdpSocket::bind(any_of(dst))?;
            s.connect(dst)?;
            // Big send buffers: the blaster should not be what stalls.
            let _ = setsockopt(&s, sockopt::SndBufForce, &(4 << 20));
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let buf = vec![0x5au8; payload];
    let iovs: Vec<[IoSlice<'_>; 1]> = (0..BATCH).map(|_| [IoSlice::new(&buf)]).collect();
    // Connected sockets: no per-message address (storage fits either family).
    let addrs: Vec<Option<SockaddrStorage>> = vec![None; BATCH];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let (mut sent, mut failed_calls, mut i) = (0u64, 0u64, 0usize);
    while start.elapsed() < limit {
        if rate > 0.0 {
            let due = start.elapsed().as_secs_f64() * rate;
            if sent as f64 >= due {
                let ahead = (sent as f64 - due) / rate;
                std::thread::sleep(Duration::from_secs_f64(ahead.clamp(50e-6, 0.01)));
                continue;
            }
        }
        let s = &socks[i % socks.len()];
        i = i.wrapping_add(1);
        match sendmmsg(
            s.as_raw_fd(),
            &mut headers,
            &iovs,
            &addrs,
            [],
            MsgFlags::empty(),
        ) {
            Ok(res) => sent += res.count() as u64,
            // ENOBUFS / ECONNREFUSED (an ICMP error came back): keep going.
            Err(_) => failed_calls += 1,
        }
    }
    Ok(BlastReport {
        sent,
        failed_calls,
        secs: start.elapsed().as_secs_f64(),
        cpu_ns: 0,
    })
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SinkReport {
    /// This process's CPU time, ns (its receives; mostly asleep otherwise).
    #[serde(default)]
    pub cpu_ns: u64,
    pub received: u64,
    pub bytes: u64,
}

/// Counts UDP datagrams arriving at `listen` for `secs` (recvmmsg batches).
pub fn sink(listen: SocketAddr, secs: f64) -> std::io::Result<SinkReport> {
    let s = UdpSocket::bind(listen)?;
    let _ = setsockopt(&s, sockopt::RcvBufForce, &(16 << 20));
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut bufs = vec![[0u8; 256]; BATCH];
    // Storage, not SockaddrIn: the senders' addresses may be IPv6.
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let (mut received, mut bytes) = (0u64, 0u64);
    while Instant::now() < deadline {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        if let Ok(res) = recvmmsg(
            s.as_raw_fd(),
            &mut headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        ) {
            for r in res {
                received += 1;
                bytes += r.bytes as u64;
            }
        }
    }
    Ok(SinkReport {
        cpu_ns: self_cpu_ns(),
        received,
        bytes,
    })
}

/// Echoes every datagram arriving at `listen` back to its sender, for at
/// most `secs`.
pub fn echo_server(listen: SocketAddr, secs: f64) -> std::io::Result<()> {
    let s = UdpSocket::bind(listen)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    }
    Ok(())
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EchoReport {
    pub requests: u64,
    pub answered: u64,
    pub lost: u64,
}

/// Sends `count` requests to `dst`, one outstanding at a time, and records
/// each round trip (ns) in a histogram written to `hist_out` (V2 format).
/// The first `warmup` exchanges are not recorded.
pub fn echo_client(
    dst: SocketAddr,
    count: u64,
    warmup: u64,
    payload: usize,
    timeout: Duration,
    hist_out: &Path,
) -> std::io::Result<EchoReport> {
    let s = UdpSocket::bind(any_of(dst))?;
    s.connect(dst)?;
    s.set_read_timeout(Some(timeout))?;
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let mut req = vec![0u8; payload.max(8)];
    let mut resp = [0u8; 2048];
    let (mut answered, mut lost) = (0u64, 0u64);
    for seq in 0..count + warmup {
        req[..8].copy_from_slice(&seq.to_le_bytes());
        let t0 = Instant::now();
        s.send(&req)?;
        let got = loop {
            match s.recv(&mut resp) {
                // A late answer to an earlier request: skip it.
                Ok(n) if n >= 8 && resp[..8] != seq.to_le_bytes() => continue,
                Ok(_) => break true,
                Err(_) => break false,
            }
        };
        let rtt = t0.elapsed();
        if seq < warmup {
            continue;
        }
        if got {
            answered += 1;
            let _ = hist.record(rtt.as_nanos().max(1) as u64);
        } else {
            lost += 1;
        }
    }
    let mut out = Vec::new();
    hdrhistogram::serialization::V2Serializer::new()
        .serialize(&hist, &mut out)
        .map_err(|e| std::io::Error::other(format!("serialize histogram: {e:?}")))?;
    std::fs::write(hist_out, out)?;
    Ok(EchoReport {
        requests: count,
        answered,
        lost,
    })
}
