//! The drop monitor behind `router monitor drops`: a live stream of the
//! packets the router drops, one fixed-size [`DropEvent`] each.
//!
//! Cost when no monitor is attached: one relaxed atomic load per RX batch
//! ([`DropMonitor::is_attached`], read in `Forwarder::begin_batch`) and a
//! predictable branch per drop; nothing is allocated, locked or called.
//!
//! Attached: each thread that forwards (workers, the slow path) owns one
//! bounded lock-free ring ([`crossbeam_queue::ArrayQueue`], written only by
//! that thread) and a token bucket that limits its events per second.
//! An event that the bucket refuses is counted as `rate_limited`; one that
//! finds the ring full (the reader is slow) is counted as `lost`. Packets
//! are never held back: the worker never waits for the reader.
//!
//! One monitor at a time ([`DropMonitor::attach`] refuses a second): two
//! readers would split the events between them.
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;

use super::counters::DropReason;
use crate::ports::PortId;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::ipv4::{protocol, MIN_HEADER_LEN};

/// Events one thread's ring holds.
pub const RING_EVENTS: usize = 4096;
/// Default events per second per thread while attached (and burst).
pub const DEFAULT_RATE: u32 = 10_000;

/// The ICMP error the router sent about a dropped packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IcmpSent {
    #[serde(rename = "type")]
    pub msg_type: u8,
    pub code: u8,
    /// An ICMPv6 message (RFC 4443), not ICMP.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub v6: bool,
}

impl IcmpSent {
    /// "time-exceeded", "net-unreachable"… (the names `ping` prints).
    pub fn name(self) -> &'static str {
        use crate::wire::icmp::{msg, unreach};
        use crate::wire::icmpv6::{msg as msg6, unreach as unreach6};
        if self.v6 {
            return match (self.msg_type, self.code) {
                (msg6::TIME_EXCEEDED, _) => "time-exceeded",
                (msg6::PACKET_TOO_BIG, _) => "packet-too-big",
                (msg6::PARAM_PROBLEM, _) => "parameter-problem",
                (msg6::DST_UNREACHABLE, unreach6::NO_ROUTE) => "no-route",
                (msg6::DST_UNREACHABLE, unreach6::BEYOND_SCOPE) => "beyond-scope",
                (msg6::DST_UNREACHABLE, unreach6::ADDRESS) => "address-unreachable",
                (msg6::DST_UNREACHABLE, unreach6::PORT) => "port-unreachable",
                (msg6::DST_UNREACHABLE, _) => "dest-unreachable",
                _ => "icmpv6",
            };
        }
        match (self.msg_type, self.code) {
            (msg::TIME_EXCEEDED, _) => "time-exceeded",
            (msg::DST_UNREACHABLE, unreach::NET) => "net-unreachable",
            (msg::DST_UNREACHABLE, unreach::HOST) => "host-unreachable",
            (msg::DST_UNREACHABLE, unreach::PROTOCOL) => "protocol-unreachable",
            (msg::DST_UNREACHABLE, unreach::PORT) => "port-unreachable",
            (msg::DST_UNREACHABLE, unreach::FRAG_NEEDED) => "frag-needed",
            (msg::DST_UNREACHABLE, _) => "dest-unreachable",
            _ => "icmp",
        }
    }
}

/// One dropped packet, as much of its headers as could be read. Fixed
/// size and `Copy`: it goes through the ring without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropEvent {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The thread that dropped it (worker index; the slow path is last).
    pub thread: u16,
    /// The port it is counted on (usually where it came in).
    pub port: PortId,
    pub reason: DropReason,
    /// Ethernet type (0 if the frame was too short to have one).
    pub ethertype: u16,
    /// Frame length.
    pub len: u32,
    /// The IP part, when the frame had at least a fixed IPv4 or IPv6 header.
    pub ip: Option<IpSummary>,
    pub icmp_sent: Option<IcmpSent>,
}

/// The IPv4 fields an event shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpSummary {
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub protocol: u8,
    pub ttl: u8,
    /// TCP/UDP source and destination port, or ICMP type and code (first
    /// fragments only).
    pub l4: Option<(u16, u16)>,
}

impl DropEvent {
    /// Reads what it can of `frame` without trusting it (it may be the
    /// malformed frame being dropped).
    pub fn from_frame(
        thread: u16,
        port: PortId,
        reason: DropReason,
        frame: &[u8],
        icmp_sent: Option<IcmpSent>,
    ) -> DropEvent {
        let time_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let ethertype = frame
            .get(12..14)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let ip = match ethertype {
            ethertype::IPV4 => frame.get(ethernet::HEADER_LEN..).and_then(ip_summary),
            ethertype::IPV6 => frame.get(ethernet::HEADER_LEN..).and_then(ip_summary6),
            _ => None,
        };
        DropEvent {
            time_ns,
            thread,
            port,
            reason,
            ethertype,
            len: frame.len() as u32,
            ip,
            icmp_sent,
        }
    }
}

fn ip_summary(p: &[u8]) -> Option<IpSummary> {
    let h = p.get(..MIN_HEADER_LEN)?;
    let ihl = (h[0] & 0x0f) as usize * 4;
    let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    let proto = h[9];
    let l4 = if ihl >= MIN_HEADER_LEN && frag_off == 0 {
        p.get(ihl..ihl + 4).and_then(|l| match proto {
            protocol::TCP | protocol::UDP => Some((
                u16::from_be_bytes([l[0], l[1]]),
                u16::from_be_bytes([l[2], l[3]]),
            )),
            protocol::ICMP => Some((l[0] as u16, l[1] as u16)),
            _ => None,
        })
    } else {
        None
    };
    Some(IpSummary {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]).into(),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]).into(),
        protocol: proto,
        ttl: h[8],
        l4,
    })
}

/// The IPv6 fields of an event: addresses, hop limit as `ttl`, and the
/// upper layer found past the extension headers (its ports or ICMPv6
/// type and code). The payload length is not trusted: the frame may be
/// why the packet was dropped.
fn ip_summary6(p: &[u8]) -> Option<IpSummary> {
    use crate::wire::ipv6::{next_header, Ipv6Packet, HEADER_LEN};
    let h = p.get(..HEADER_LEN)?;
    let mut src = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&h[24..40]);
    let view = Ipv6Packet::new_checked(p).ok();
    let ul = view.as_ref().and_then(|v| v.upper_layer());
    let protocol = ul.map_or(h[6], |u| u.protocol);
    let l4 = match (ul, view.as_ref()) {
        (Some(u), Some(v)) => u
            .offset
            .and_then(|o| v.payload().get(o..o + 4))
            .and_then(|l| match protocol {
                next_header::TCP | next_header::UDP => Some((
                    u16::from_be_bytes([l[0], l[1]]),
                    u16::from_be_bytes([l[2], l[3]]),
                )),
                next_header::ICMPV6 => Some((l[0] as u16, l[1] as u16)),
                _ => None,
            }),
        _ => None,
    };
    Some(IpSummary {
        src: std::net::Ipv6Addr::from(src).into(),
        dst: std::net::Ipv6Addr::from(dst).into(),
        protocol,
        ttl: h[7],
        l4,
    })
}

/// One thread's ring and its loss counters (written by that thread only).
struct ThreadRing {
    events: ArrayQueue<DropEvent>,
    /// Events that found the ring full.
    lost: AtomicU64,
    /// Events the thread's rate limit refused.
    rate_limited: AtomicU64,
}

/// The rings of every forwarding thread, and whether a reader is attached.
pub struct DropMonitor {
    attached: AtomicBool,
    /// Events per second per thread (and the bucket's depth).
    rate: AtomicU64,
    rings: Vec<ThreadRing>,
}

impl DropMonitor {
    /// A monitor with one ring of `capacity` events for each of `threads`.
    pub fn new(threads: usize, capacity: usize) -> DropMonitor {
        DropMonitor {
            attached: AtomicBool::new(false),
            rate: AtomicU64::new(DEFAULT_RATE as u64),
            rings: (0..threads)
                .map(|_| ThreadRing {
                    events: ArrayQueue::new(capacity.max(1)),
                    lost: AtomicU64::new(0),
                    rate_limited: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Whether a reader is attached: the one load per batch.
    #[inline(always)]
    pub fn is_attached(&self) -> bool {
        self.attached.load(Relaxed)
    }

    /// Events per second each thread may record.
    pub fn rate(&self) -> u64 {
        self.rate.load(Relaxed)
    }

    /// Attaches the (only) reader, with at most `rate` events per second
    /// per thread; `None` if one is attached already.
    pub fn attach(self: &Arc<Self>, rate: u32) -> Option<MonitorSession> {
        self.attached
            .compare_exchange(false, true, Relaxed, Relaxed)
            .ok()?;
        self.rate.store(rate.max(1) as u64, Relaxed);
        // Events left from an earlier session are not this one's.
        for r in &self.rings {
            while r.events.pop().is_some() {}
        }
        let base = self.loss_totals();
        Some(MonitorSession {
            monitor: Arc::clone(self),
            base,
        })
    }

    /// Records one event from thread `thread` (called only while attached,
    /// after its rate limit allowed it).
    pub(crate) fn push(&self, thread: usize, ev: DropEvent) {
        let Some(r) = self.rings.get(thread) else {
            return;
        };
        if r.events.push(ev).is_err() {
            bump(&r.lost);
        }
    }

    pub(crate) fn count_rate_limited(&self, thread: usize) {
        if let Some(r) = self.rings.get(thread) {
            bump(&r.rate_limited);
        }
    }

    fn loss_totals(&self) -> (u64, u64) {
        self.rings.iter().fold((0, 0), |(l, r), t| {
            (l + t.lost.load(Relaxed), r + t.rate_limited.load(Relaxed))
        })
    }
}

#[inline(always)]
fn bump(c: &AtomicU64) {
    // One writer per ring (its thread): load+store, no locked RMW.
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

/// The attached reader; dropping it detaches.
pub struct MonitorSession {
    monitor: Arc<DropMonitor>,
    base: (u64, u64),
}

impl MonitorSession {
    /// Moves every waiting event into `out` (at most `max`), oldest first
    /// within each thread.
    pub fn drain(&mut self, out: &mut Vec<DropEvent>, max: usize) {
        for r in &self.monitor.rings {
            while out.len() < max {
                match r.events.pop() {
                    Some(e) => out.push(e),
                    None => break,
                }
            }
        }
        out.sort_by_key(|e| e.time_ns);
    }

    /// (lost because the ring was full, refused by the rate limit) since
    /// this session attached.
    pub fn losses(&self) -> (u64, u64) {
        let (l, r) = self.monitor.loss_totals();
        (l.wrapping_sub(self.base.0), r.wrapping_sub(self.base.1))
    }
}

impl Drop for MonitorSession {
    fn drop(&mut self) {
        self.monitor.attached.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 14 + 28];
        f[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[8] = 1;
        ip[9] = protocol::UDP;
        ip[12..16].copy_from_slice(&[192, 168, 10, 100]);
        ip[16..20].copy_from_slice(&[172, 20, 2, 36]);
        ip[20..22].copy_from_slice(&5000u16.to_be_bytes());
        ip[22..24].copy_from_slice(&53u16.to_be_bytes());
        f
    }

    #[test]
    fn event_reads_addresses_and_ports() {
        let e = DropEvent::from_frame(1, 2, DropReason::TtlExceeded, &udp_frame(), None);
        let ip = e.ip.unwrap();
        assert_eq!(
            ip.src,
            std::net::IpAddr::from(Ipv4Addr::new(192, 168, 10, 100))
        );
        assert_eq!(
            ip.dst,
            std::net::IpAddr::from(Ipv4Addr::new(172, 20, 2, 36))
        );
        assert_eq!(ip.l4, Some((5000, 53)));
        assert_eq!((e.thread, e.port, e.ttl()), (1, 2, 1));
        // Short or foreign frames still give an event, without IP fields.
        let e = DropEvent::from_frame(0, 0, DropReason::BadHeader, &[0u8; 5], None);
        assert_eq!((e.ethertype, e.ip), (0, None));
        let e = DropEvent::from_frame(0, 0, DropReason::BadHeader, &udp_frame()[..20], None);
        assert_eq!(e.ip, None);
    }

    impl DropEvent {
        fn ttl(&self) -> u8 {
            self.ip.map_or(0, |i| i.ttl)
        }
    }

    #[test]
    fn full_ring_counts_lost_events() {
        let m = Arc::new(DropMonitor::new(2, 4));
        assert!(!m.is_attached());
        let mut s = m.attach(100).unwrap();
        assert!(m.is_attached());
        assert!(m.attach(100).is_none(), "one reader at a time");
        let ev = DropEvent::from_frame(0, 0, DropReason::NoRoute, &udp_frame(), None);
        for _ in 0..10 {
            m.push(0, ev);
        }
        m.push(1, ev);
        m.count_rate_limited(1);
        assert_eq!(s.losses(), (6, 1));
        let mut out = Vec::new();
        s.drain(&mut out, 100);
        assert_eq!(out.len(), 5);
        drop(s);
        assert!(!m.is_attached());
        // A new session starts from zero and with empty rings.
        m.push(0, ev);
        let mut s = m.attach(100).unwrap();
        assert_eq!(s.losses(), (0, 0));
        out.clear();
        s.drain(&mut out, 100);
        assert!(out.is_empty());
    }

    /// The forwarder's hook: nothing recorded while detached (the flag is
    /// read per batch), every drop while attached, and the per-thread rate
    /// limit counts what it refuses.
    #[test]
    fn forwarder_records_only_while_attached() {
        use crate::dataplane::forward::tests::{a, ip_frame, shared_with, udp, MockSink};
        use crate::dataplane::forward::{Forwarder, FrameMeta, FwdOptions};
        use std::time::Instant;
        let shared = shared_with(1500);
        let mut f = Forwarder::new(shared.clone(), 0, FwdOptions::default());
        let mut sink = MockSink::default();
        let mut send = |f: &mut Forwarder, n: usize| {
            let b = f.begin_batch(Instant::now());
            for _ in 0..n {
                let mut fr = ip_frame(
                    "192.168.10.100",
                    "8.8.8.8",
                    64,
                    false,
                    protocol::UDP,
                    &udp(1, 2, 3),
                );
                f.process(&b, 0, &mut fr, &FrameMeta::default(), &mut sink);
            }
        };
        send(&mut f, 3);
        {
            let mut s = shared.monitor.attach(2).unwrap();
            let mut out = Vec::new();
            s.drain(&mut out, 100);
            assert!(out.is_empty(), "nothing recorded while detached");
            // The flag is taken at the next batch; 2/s allows 2 of 5.
            send(&mut f, 5);
            s.drain(&mut out, 100);
            assert_eq!(out.len(), 2);
            let e = out[0];
            assert_eq!((e.port, e.reason), (0, DropReason::NoRoute));
            assert_eq!(e.ip.unwrap().dst, std::net::IpAddr::from(a("8.8.8.8")));
            assert_eq!(e.ip.unwrap().l4, Some((1, 2)));
            assert_eq!(e.icmp_sent.map(|i| i.name()), Some("net-unreachable"));
            assert_eq!(s.losses(), (0, 3));
        }
        // Detached again: counted, not recorded.
        send(&mut f, 2);
        assert_eq!(shared.counters.totals(0).drops["no_route"], 10);
        let mut s = shared.monitor.attach(2).unwrap();
        let mut out = Vec::new();
        s.drain(&mut out, 100);
        assert!(out.is_empty());
    }
}
