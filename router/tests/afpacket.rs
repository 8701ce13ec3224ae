//! AF_PACKET ring tests against real kernel stacks in network namespaces.
//!
//! Each test creates its own namespace pair `afp<pid>-<n>{a,b}` joined by a
//! veth (`va` in a, `vb` in b, 10.201.0.1/24 and 10.201.0.2/24, default
//! offloads on), opens rings on `va` inside namespace a, drives traffic
//! with the kernel stack of namespace b (sockets created inside it), and
//! removes both namespaces when it ends, also when it panics.
//!
//! Needs root. Without it (or without `ip`/namespaces) the tests print why
//! and pass, except under `CI=true`, where a missing prerequisite fails.
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use router::wire::vnet::{VnetHdr, VNET_GSO_ECN, VNET_GSO_TCPV4, VNET_GSO_UDP_L4};
use router_sys::afpacket::{
    poll_readable, FanoutMode, PacketSocket, RxMeta, RxRing, SocketConfig, TxRing,
};
use router_sys::netdev;
use router_sys::netns::NetnsGuard;

const IP_A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);

// ---------------------------------------------------------------- the lab

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Why the tests cannot run here, if they cannot.
fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2));
    if uid != Some("0") {
        return Some("not running as root".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("`ip` (iproute2) not installed".into());
    }
    None
}

/// A namespace pair with a veth between them; removed on drop.
struct Pair {
    a: String,
    b: String,
    mac_a: [u8; 6],
    mac_b: [u8; 6],
}

static PAIR_SEQ: AtomicU32 = AtomicU32::new(0);

impl Pair {
    /// `None` when prerequisites are missing outside CI; panics in CI.
    fn new() -> Option<Pair> {
        if let Some(why) = missing_prerequisite() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but AF_PACKET tests cannot run: {why}");
            }
            eprintln!("SKIPPED (not CI): {why}");
            return None;
        }
        let n = PAIR_SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("afp{}-{n}", std::process::id());
        let mut pair = Pair {
            a: format!("{id}a"),
            b: format!("{id}b"),
            mac_a: [0; 6],
            mac_b: [0; 6],
        };
        pair.setup()
            .unwrap_or_else(|e| panic!("namespace setup: {e}"));
        Some(pair)
    }

    fn setup(&mut self) -> Result<(), String> {
        let (a, b) = (self.a.clone(), self.b.clone());
        ip(&["netns", "add", &a])?;
        ip(&["netns", "add", &b])?;
        ip(&[
            "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b,
        ])?;
        for (ns, dev, addr) in [(&a, "va", "10.201.0.1/24"), (&b, "vb", "10.201.0.2/24")] {
            // No IPv6 link-local address: keeps ND/MLD chatter off the link.
            ip(&["-n", ns, "link", "set", dev, "addrgenmode", "none"])?;
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        self.mac_a = self.in_a(|| netdev::mac("va")).map_err(|e| e.to_string())?;
        self.mac_b = self.in_b(|| netdev::mac("vb")).map_err(|e| e.to_string())?;
        // Static neighbours: no ARP on the wire during the tests.
        let (ma, mb) = (fmt_mac(&self.mac_a), fmt_mac(&self.mac_b));
        ip(&[
            "-n",
            &a,
            "neigh",
            "replace",
            "10.201.0.2",
            "lladdr",
            &mb,
            "dev",
            "va",
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            &b,
            "neigh",
            "replace",
            "10.201.0.1",
            "lladdr",
            &ma,
            "dev",
            "vb",
            "nud",
            "permanent",
        ])?;
        Ok(())
    }

    fn path(ns: &str) -> PathBuf {
        PathBuf::from("/run/netns").join(ns)
    }

    fn in_a<T>(&self, f: impl FnOnce() -> T) -> T {
        let _g = NetnsGuard::enter(&Self::path(&self.a)).expect("enter namespace a");
        f()
    }

    fn in_b<T>(&self, f: impl FnOnce() -> T) -> T {
        let _g = NetnsGuard::enter(&Self::path(&self.b)).expect("enter namespace b");
        f()
    }

    /// Opens a socket on `va` (in namespace a).
    fn open_a(&self, cfg: impl FnOnce(u32) -> SocketConfig) -> (Option<RxRing>, Option<TxRing>) {
        self.in_a(|| {
            let idx = netdev::ifindex("va").expect("ifindex va");
            PacketSocket::open(&cfg(idx))
                .expect("open AF_PACKET socket")
                .split()
        })
    }

    /// Icmp OutDestUnreachs of namespace a's kernel (/proc/net/snmp).
    fn icmp_out_dest_unreachs_a(&self) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.a, "cat", "/proc/net/snmp"])
            .output()
            .expect("read /proc/net/snmp in a");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut icmp = text.lines().filter(|l| l.starts_with("Icmp:"));
        let (names, values) = (icmp.next().unwrap_or(""), icmp.next().unwrap_or(""));
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "OutDestUnreachs")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    }

    fn udp_b(&self) -> UdpSocket {
        self.in_b(|| UdpSocket::bind(SocketAddrV4::new(IP_B, 0)).expect("bind UDP in b"))
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth in it (and its peer).
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn small_cfg(ifindex: u32) -> SocketConfig {
    SocketConfig {
        rx_frames: 64,
        tx_frames: 64,
        ..SocketConfig::new(ifindex)
    }
}

// ------------------------------------------------------- frame helpers

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// How the UDP checksum of a built frame is filled.
#[derive(Clone, Copy, PartialEq)]
enum UdpCsum {
    /// Complete checksum.
    Full,
    /// Pseudo-header sum only (CHECKSUM_PARTIAL, with a NEEDS_CSUM vnet header).
    Partial,
}

/// Ethernet + IPv4 + UDP frame from a to b.
fn udp_frame(
    src: ([u8; 6], Ipv4Addr, u16),
    dst: ([u8; 6], Ipv4Addr, u16),
    payload: &[u8],
    mode: UdpCsum,
) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut iph = [0u8; 20];
    iph[0] = 0x45;
    iph[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    iph[6] = 0x40; // DF
    iph[8] = 64;
    iph[9] = 17;
    iph[12..16].copy_from_slice(&src.1.octets());
    iph[16..20].copy_from_slice(&dst.1.octets());
    let c = !csum_fold(csum_add(0, &iph));
    iph[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&iph);
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.2.to_be_bytes());
    udp.extend_from_slice(&dst.2.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.1.octets());
    pseudo.extend_from_slice(&dst.1.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let check = match mode {
        UdpCsum::Full => match !csum_fold(csum_add(csum_add(0, &pseudo), &udp)) {
            0 => 0xffff,
            c => c,
        },
        UdpCsum::Partial => csum_fold(csum_add(0, &pseudo)),
    };
    udp[6..8].copy_from_slice(&check.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

/// (source MAC, source port, destination port, payload) of an IPv4 UDP frame.
fn parse_udp(f: &[u8]) -> Option<([u8; 6], u16, u16, &[u8])> {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 || f[23] != 17 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let l4 = 14 + ihl;
    let udp = f.get(l4..)?;
    let ulen = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    let payload = udp.get(8..ulen)?;
    let src: [u8; 6] = f[6..12].try_into().ok()?;
    Some((
        src,
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
        payload,
    ))
}

/// Receives on `rx` until `done` says so or `limit` passes.
fn rx_until(rx: &mut RxRing, limit: Duration, mut on_frame: impl FnMut(&[u8], &RxMeta) -> bool) {
    let end = Instant::now() + limit;
    let mut ready = [false];
    let mut done = false;
    while !done && Instant::now() < end {
        poll_readable(&[rx.fd()], 20, &mut ready).expect("poll");
        rx.rx_batch(64, |f, m| done |= on_frame(f, m));
    }
}

/// The vnet header of a received frame, parsed as the router does.
fn vnet_of(m: &RxMeta) -> Option<VnetHdr> {
    m.vnet.and_then(|b| VnetHdr::parse(&b))
}

fn send_frame(tx: &mut TxRing, frame: &[u8], vnet: Option<VnetHdr>) {
    let queued = tx.send_with(|buf| {
        buf[..frame.len()].copy_from_slice(frame);
        (frame.len(), vnet.map(|v| v.to_bytes()))
    });
    assert!(queued, "TX ring refused the frame: {:?}", tx.counters());
    tx.flush().expect("flush");
}

// ------------------------------------------------------------- the tests

/// Frames the kernel of b sends arrive with correct metadata; the kernel of
/// a's own replies and our own TX are not received back; a TX frame reaches
/// b's UDP socket; PACKET_STATISTICS counts.
#[test]
fn rx_metadata_tx_and_no_outgoing() {
    let Some(pair) = Pair::new() else { return };
    let (rx, tx) = pair.open_a(small_cfg);
    let (mut rx, mut tx) = (rx.unwrap(), tx.unwrap());
    assert!(tx.vnet_hdr());

    // b's kernel sends 5 datagrams to a closed port on a; a's kernel answers
    // with ICMP port unreachable (outgoing on va: must not be received).
    let sb = pair.udp_b();
    for i in 0..5u8 {
        sb.send_to(&[i; 100], SocketAddrV4::new(IP_A, 40001))
            .unwrap();
    }
    let mut got = 0;
    let mut from_a = 0;
    rx_until(&mut rx, Duration::from_secs(2), |f, m| {
        if f[6..12] == pair.mac_a {
            from_a += 1;
        }
        if let Some((src, _, 40001, payload)) = parse_udp(f) {
            assert_eq!(src, pair.mac_b);
            assert_eq!(payload.len(), 100);
            assert_eq!(f.len(), 14 + 20 + 8 + 100);
            assert_eq!(m.wire_len as usize, f.len());
            assert!(!m.truncated);
            assert_eq!(m.pkttype, libc::PACKET_HOST);
            assert_eq!(m.vlan_tci, None);
            let v = vnet_of(m).expect("vnet header on a vnet socket");
            assert!(!v.is_gso());
            assert_eq!(
                m.csum_not_ready,
                v.needs_csum(),
                "status bit and vnet flag agree"
            );
            if v.needs_csum() {
                assert_eq!(
                    (v.csum_start, v.csum_offset),
                    (34, 6),
                    "UDP checksum field at 34+6"
                );
            }
            assert!(m.timestamp_ns > 0);
            got += 1;
        }
        got == 5
    });
    assert_eq!(got, 5, "all datagrams from b received");

    // Our TX reaches b's socket; it is not received back.
    let rb = pair.udp_b();
    rb.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let port_b = rb.local_addr().unwrap().port();
    let frame = udp_frame(
        (pair.mac_a, IP_A, 40002),
        (pair.mac_b, IP_B, port_b),
        b"hello from the ring",
        UdpCsum::Full,
    );
    send_frame(&mut tx, &frame, None);
    let mut buf = [0u8; 2048];
    let (n, from) = rb.recv_from(&mut buf).expect("b receives our TX frame");
    assert_eq!(&buf[..n], b"hello from the ring");
    assert_eq!(
        from,
        std::net::SocketAddr::V4(SocketAddrV4::new(IP_A, 40002))
    );
    assert!(!tx.needs_flush());
    assert_eq!(tx.counters().queued, 1);

    rx_until(&mut rx, Duration::from_millis(300), |f, _| {
        if f[6..12] == pair.mac_a {
            from_a += 1;
        }
        false
    });
    assert_eq!(
        from_a, 0,
        "frames sent from va (kernel ICMP or our TX) were received back"
    );
    assert!(
        pair.icmp_out_dest_unreachs_a() > 0,
        "a's kernel sent frames the socket had to ignore"
    );
    eprintln!(
        "outgoing frames skipped in user space: {}",
        rx.counters().outgoing_skipped
    );

    let (packets, drops) = rx.stats().expect("PACKET_STATISTICS");
    assert!(packets >= 5, "PACKET_STATISTICS packets {packets}");
    assert_eq!(drops, 0);
    assert_eq!(rx.stats().unwrap(), (0, 0), "statistics reset on read");
}

/// Checksum-offload and UDP GSO requests in the TX vnet header are carried
/// out by the kernel: b receives a partial-checksum datagram, and three
/// 1000-byte datagrams from one 3000-byte GSO super-frame.
#[test]
fn tx_vnet_checksum_and_gso() {
    let Some(pair) = Pair::new() else { return };
    let (_rx, tx) = pair.open_a(|i| SocketConfig {
        rx: false,
        ..small_cfg(i)
    });
    let mut tx = tx.unwrap();
    let rb = pair.udp_b();
    rb.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let port_b = rb.local_addr().unwrap().port();
    let src = (pair.mac_a, IP_A, 40003);
    let dst = (pair.mac_b, IP_B, port_b);

    let partial = VnetHdr {
        flags: 1,
        gso_type: 0,
        hdr_len: 42,
        gso_size: 0,
        csum_start: 34,
        csum_offset: 6,
    };
    send_frame(
        &mut tx,
        &udp_frame(src, dst, b"partial checksum", UdpCsum::Partial),
        Some(partial),
    );
    let mut buf = [0u8; 4096];
    let n = rb.recv(&mut buf).expect("partial-checksum datagram");
    assert_eq!(&buf[..n], b"partial checksum");

    let payload: Vec<u8> = (0..3000u32).map(|i| (i / 1000) as u8 + b'a').collect();
    let gso = VnetHdr {
        flags: 1,
        gso_type: VNET_GSO_UDP_L4,
        hdr_len: 42,
        gso_size: 1000,
        csum_start: 34,
        csum_offset: 6,
    };
    let frame = udp_frame(src, dst, &payload, UdpCsum::Partial);
    assert!(frame.len() > 1514, "a super-frame larger than the MTU");
    send_frame(&mut tx, &frame, Some(gso));
    for seg in [b'a', b'b', b'c'] {
        let n = rb.recv(&mut buf).expect("GSO segment");
        assert_eq!(n, 1000);
        assert!(
            buf[..n].iter().all(|&c| c == seg),
            "segment {}",
            seg as char
        );
    }

    // Offload requests on a socket without the vnet header are refused.
    let (_, tx_plain) = pair.open_a(|i| SocketConfig {
        rx: false,
        vnet_hdr: false,
        ..small_cfg(i)
    });
    let mut tx_plain = tx_plain.unwrap();
    assert!(!tx_plain.send_with(|buf| {
        buf[..frame.len()].copy_from_slice(&frame);
        (frame.len(), Some(gso.to_bytes()))
    }));
    assert_eq!(tx_plain.counters().invalid, 1);
    // Too short, and cancelled.
    assert!(!tx_plain.send_with(|_| (10, None)));
    assert!(!tx_plain.send_with(|_| (0, None)));
    assert_eq!(tx_plain.counters().invalid, 2);
    assert_eq!(tx_plain.counters().queued, 0);
}

/// Filling the TX ring without a kick makes it full (refusals counted, no
/// overwrite); one kick sends every queued frame and frees the slots.
#[test]
fn tx_ring_full_then_one_kick() {
    let Some(pair) = Pair::new() else { return };
    let (_, tx) = pair.open_a(|i| SocketConfig {
        rx: false,
        vnet_hdr: false,
        frame_size: 2048,
        tx_frames: 16,
        ..SocketConfig::new(i)
    });
    let mut tx = tx.unwrap();
    let slots = tx.layout().frame_nr as usize;
    assert_eq!(tx.free_slots(usize::MAX), slots);
    let rb = pair.udp_b();
    rb.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let port_b = rb.local_addr().unwrap().port();
    for i in 0..slots {
        let frame = udp_frame(
            (pair.mac_a, IP_A, 40006),
            (pair.mac_b, IP_B, port_b),
            &(i as u32).to_be_bytes(),
            UdpCsum::Full,
        );
        assert!(tx.send_with(|buf| {
            buf[..frame.len()].copy_from_slice(&frame);
            (frame.len(), None)
        }));
    }
    assert!(tx.is_full());
    assert!(!tx.send_with(|_| unreachable!("not called on a full ring")));
    assert_eq!(tx.counters().ring_full, 1);
    assert!(tx.needs_flush());
    tx.flush().unwrap();
    assert!(!tx.needs_flush());
    assert_eq!(tx.counters().kicks, 1);
    let mut buf = [0u8; 64];
    for i in 0..slots {
        let n = rb.recv(&mut buf).expect("every queued frame arrives");
        assert_eq!(&buf[..n], &(i as u32).to_be_bytes(), "in order");
    }
    // Slots come back once the skbs are freed (at b's IP input, here).
    let end = Instant::now() + Duration::from_secs(2);
    while tx.free_slots(usize::MAX) < slots && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(tx.free_slots(usize::MAX), slots);
    tx.flush().unwrap();
    assert_eq!(tx.counters().kicks, 1, "no kick without pending frames");
}

/// Bulk TCP from b's kernel with default offloads arrives as GSO
/// super-frames with a TCPV4 vnet header, whole (not truncated); sent back
/// out through a TX ring with the same vnet header (as a forwarder does),
/// such a frame reaches the peer whole, still one GSO frame.
#[test]
fn rx_gso_tcp_with_vnet_header_and_forward() {
    let Some(pair) = Pair::new() else { return };
    let (rx, tx) = pair.open_a(small_cfg);
    let (mut rx, mut tx) = (rx.unwrap(), tx.unwrap());
    // A receiver on b's end of the veth sees what our TX ring sent.
    let mut rx_b = pair
        .in_b(|| {
            let idx = netdev::ifindex("vb").unwrap();
            PacketSocket::open(&SocketConfig {
                tx: false,
                ..small_cfg(idx)
            })
        })
        .expect("socket on vb")
        .split()
        .0
        .unwrap();
    let listener =
        pair.in_a(|| TcpListener::bind(SocketAddrV4::new(IP_A, 5001)).expect("listen in a"));
    let stream = pair
        .in_b(|| {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(IP_A, 5001).into(),
                Duration::from_secs(2),
            )
        })
        .expect("connect from b");
    let (mut server, _) = listener.accept().expect("accept");
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    const TOTAL: usize = 8 << 20;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0;
        while n < TOTAL {
            match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        n
    });
    let writer = std::thread::spawn(move || {
        let mut stream = stream;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let chunk = vec![0x5au8; 1 << 16];
        let mut sent = 0;
        while sent < TOTAL {
            match stream.write(&chunk) {
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        sent
    });
    let mut gso_frames = 0;
    let mut biggest = 0;
    let mut truncated = 0;
    // (frame with swapped MACs, vnet header) of the GSO frames we forward.
    let mut forwarded: Vec<(Vec<u8>, VnetHdr)> = Vec::new();
    rx_until(&mut rx, Duration::from_secs(5), |f, m| {
        if f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == 6 {
            truncated += usize::from(m.truncated);
            if let Some(v) = vnet_of(m).filter(|v| v.is_gso()) {
                assert_eq!(v.gso_type & !VNET_GSO_ECN, VNET_GSO_TCPV4);
                assert!(
                    v.gso_size > 0 && v.gso_size <= 1460,
                    "gso_size {}",
                    v.gso_size
                );
                assert!(v.needs_csum(), "GSO frames are CHECKSUM_PARTIAL");
                assert_eq!(v.csum_start, 34);
                assert_eq!(v.csum_offset, 16);
                assert!(m.csum_not_ready);
                gso_frames += 1;
                biggest = biggest.max(f.len());
                if forwarded.len() < 3 {
                    let mut out = f.to_vec();
                    out[0..6].copy_from_slice(&pair.mac_b);
                    out[6..12].copy_from_slice(&pair.mac_a);
                    forwarded.push((out, v));
                }
            }
        }
        gso_frames >= 10
    });
    assert_eq!(writer.join().unwrap(), TOTAL);
    assert_eq!(reader.join().unwrap(), TOTAL);
    assert_eq!(truncated, 0, "GSO frames fit their ring slots");
    assert!(gso_frames >= 10, "saw {gso_frames} GSO frames");
    assert!(biggest > 1514, "largest GSO frame {biggest} bytes");
    let (_, drops) = rx.stats().unwrap();
    eprintln!(
        "GSO frames {gso_frames}, largest {biggest} bytes, ring drops {drops} (we stop reading \
         early), first vnet header {:?}",
        forwarded.first().map(|f| f.1)
    );

    // Forward them only now, with vb's receive ring emptied: during the
    // transfer that 64-slot ring fills with the stream's own frames, and
    // frames sent then were dropped there (the test failed now and then).
    for _ in 0..1000 {
        if rx_b.rx_batch(64, |_, _| {}) == 0 {
            break;
        }
    }
    for (frame, v) in &forwarded {
        let queued = tx.send_with(|buf| {
            buf[..frame.len()].copy_from_slice(frame);
            (frame.len(), Some(v.to_bytes()))
        });
        assert!(queued);
    }
    tx.flush().unwrap();
    // The forwarded frames arrive on vb unchanged, as GSO frames.
    let mut arrived = 0;
    rx_until(&mut rx_b, Duration::from_secs(2), |f, m| {
        if f[6..12] == pair.mac_a {
            if let Some((sent, v)) = forwarded.iter().find(|(sent, _)| sent[..] == f[..]) {
                let got = vnet_of(m).expect("vnet header on vb");
                assert!(got.is_gso(), "forwarded frame arrived segmented");
                assert_eq!((got.gso_type, got.gso_size), (v.gso_type, v.gso_size));
                assert_eq!(m.wire_len as usize, sent.len());
                arrived += 1;
            }
        }
        arrived == forwarded.len()
    });
    assert_eq!(arrived, forwarded.len(), "forwarded GSO frames seen on vb");
    assert_eq!(tx.counters().queued, forwarded.len() as u64);
}

/// Two sockets in one PACKET_FANOUT_HASH group: flows spread over both, and
/// each flow stays on one socket.
#[test]
fn fanout_spreads_flows() {
    let Some(pair) = Pair::new() else { return };
    let cfg = |i| SocketConfig {
        tx: false,
        fanout: Some((7, FanoutMode::Hash)),
        ..small_cfg(i)
    };
    let mut rings = [pair.open_a(cfg).0.unwrap(), pair.open_a(cfg).0.unwrap()];
    const FLOWS: usize = 32;
    const PER_FLOW: usize = 3;
    let senders: Vec<UdpSocket> = (0..FLOWS).map(|_| pair.udp_b()).collect();
    for round in 0..PER_FLOW {
        for s in &senders {
            s.send_to(&[round as u8; 64], SocketAddrV4::new(IP_A, 40004))
                .unwrap();
        }
    }
    let mut by_socket: [HashMap<u16, usize>; 2] = [HashMap::new(), HashMap::new()];
    let end = Instant::now() + Duration::from_secs(3);
    let fds = [rings[0].fd(), rings[1].fd()];
    let mut ready = [false; 2];
    let total = |m: &[HashMap<u16, usize>; 2]| m.iter().flat_map(|h| h.values()).sum::<usize>();
    while total(&by_socket) < FLOWS * PER_FLOW && Instant::now() < end {
        poll_readable(&fds, 20, &mut ready).unwrap();
        for (k, ring) in rings.iter_mut().enumerate() {
            ring.rx_batch(64, |f, _| {
                // a's kernel answers with ICMP port unreachable: outgoing,
                // never received (FANOUT_FLAG_IGNORE_OUTGOING / pkttype).
                assert_ne!(
                    f[6..12],
                    pair.mac_a,
                    "frame sent from va received by a fanout socket"
                );
                if let Some((_, sport, 40004, _)) = parse_udp(f) {
                    *by_socket[k].entry(sport).or_default() += 1;
                }
            });
        }
    }
    assert_eq!(
        total(&by_socket),
        FLOWS * PER_FLOW,
        "every datagram received exactly once"
    );
    let flows: [HashSet<u16>; 2] = [
        by_socket[0].keys().copied().collect(),
        by_socket[1].keys().copied().collect(),
    ];
    assert!(
        flows[0].is_disjoint(&flows[1]),
        "a flow was split between sockets"
    );
    assert!(
        !flows[0].is_empty() && !flows[1].is_empty(),
        "flows spread: {} / {}",
        flows[0].len(),
        flows[1].len()
    );
    assert!(by_socket
        .iter()
        .flat_map(|h| h.values())
        .all(|&c| c == PER_FLOW));
    assert!(
        pair.icmp_out_dest_unreachs_a() > 0,
        "a's kernel sent frames the sockets had to ignore"
    );
    let skipped: u64 = rings.iter().map(|r| r.counters().outgoing_skipped).sum();
    eprintln!(
        "fanout: {} / {} flows; outgoing frames skipped in user space: {skipped}",
        flows[0].len(),
        flows[1].len()
    );
}
