//! The slow path's side: per-neighbour NUD state, timers, packets queued
//! while an address resolves, and the actions (requests to send, packets to
//! flush or answer with host unreachable) it asks the slow path to take.
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{NeighAddr, NeighState, NeighWriter};
use crate::ports::PortId;
use crate::wire::ethernet::MacAddr;

/// Neighbour timers and limits (defaults after Linux's ARP defaults).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeighOptions {
    /// A confirmed entry is REACHABLE this long, then STALE (ms).
    pub reachable_ms: u64,
    /// Interval between requests for one address (ms); also the rate limit
    /// of "at most one ARP request per second per unresolved address".
    pub retrans_ms: u64,
    /// Broadcast requests before an INCOMPLETE entry FAILs.
    pub mcast_probes: u8,
    /// Unicast requests before a PROBE entry FAILs.
    pub ucast_probes: u8,
    /// Packets queued per unresolved address (oldest dropped beyond).
    pub unres_qlen: usize,
    /// How long a FAILED entry answers with host unreachable before a new
    /// resolution may start (ms).
    pub failed_hold_ms: u64,
    /// Unused STALE entries are removed after this long (ms).
    pub gc_stale_ms: u64,
}

impl Default for NeighOptions {
    fn default() -> Self {
        NeighOptions {
            reachable_ms: 30_000,
            retrans_ms: 1_000,
            mcast_probes: 3,
            ucast_probes: 3,
            unres_qlen: 3,
            failed_hold_ms: 1_000,
            gc_stale_ms: 60_000,
        }
    }
}

/// Something the slow path must do on behalf of the cache.
#[derive(Debug)]
pub enum NeighAction<P, A = Ipv4Addr> {
    /// Send an ARP request (IPv4) or a Neighbor Solicitation (IPv6) for `ip` on `port`, broadcast or (re-probe)
    /// unicast to `unicast`.
    Solicit {
        port: PortId,
        ip: A,
        unicast: Option<MacAddr>,
    },
    /// The address resolved: transmit these queued packets to `mac`.
    Flush {
        port: PortId,
        ip: A,
        mac: MacAddr,
        packets: VecDeque<P>,
    },
    /// Resolution failed: answer these with ICMP host unreachable.
    Failed {
        port: PortId,
        ip: A,
        packets: VecDeque<P>,
    },
    /// A queued packet was pushed out by a newer one (count it).
    Overflow(P),
}

/// What [`NeighCache::resolve`] decided for one packet.
#[derive(Debug)]
pub enum Resolve<P> {
    /// Usable now.
    Send(MacAddr, P),
    /// Held until resolution finishes.
    Queued,
    /// The address is FAILED (or the table is full): ICMP host unreachable.
    Unreachable(P),
}

/// How an ARP packet relates to our state, for learning (RFC 826 merge
/// rule, restricted like Linux with arp_accept=0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpSeen {
    /// A reply addressed to us.
    Reply,
    /// A request whose target is one of our addresses.
    RequestForUs,
    /// Anything else (gratuitous ARP, requests for others): only updates an
    /// existing entry.
    Other,
}

struct Entry<P> {
    state: NeighState,
    mac: MacAddr,
    /// When the state last changed / was confirmed.
    updated: Instant,
    /// When an ARP reply last confirmed it (published for `route get`).
    confirmed: Option<Instant>,
    probes: u8,
    next_probe: Instant,
    pending: VecDeque<P>,
}

/// The slow path's authoritative neighbour state; publishes into the
/// lock-free [`NeighTable`](super::NeighTable) through its writer token.
pub struct NeighCache<'a, P, A = Ipv4Addr> {
    opts: NeighOptions,
    writer: NeighWriter<'a, A>,
    entries: HashMap<(PortId, A), Entry<P>>,
}

impl<'a, P, A: NeighAddr> NeighCache<'a, P, A> {
    pub fn new(opts: NeighOptions, writer: NeighWriter<'a, A>) -> Self {
        NeighCache {
            opts,
            writer,
            entries: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn state(&self, port: PortId, ip: A) -> Option<NeighState> {
        self.entries.get(&(port, ip)).map(|e| e.state)
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn publish(&self, port: PortId, ip: A, e: &Entry<P>) {
        if e.state == NeighState::Incomplete {
            self.writer.remove(port, ip);
        } else {
            // Cannot fail for an address the cache admitted (same bound).
            self.writer.upsert(port, ip, e.mac, e.state);
            if let Some(at) = e.confirmed {
                self.writer.set_confirmed(port, ip, at);
            }
        }
    }

    /// A packet needs `ip` on `port` resolved.
    pub fn resolve(
        &mut self,
        port: PortId,
        ip: A,
        pkt: P,
        now: Instant,
        out: &mut Vec<NeighAction<P, A>>,
    ) -> Resolve<P> {
        if let Some(e) = self.entries.get_mut(&(port, ip)) {
            return match e.state {
                s if s.is_usable() => Resolve::Send(e.mac, pkt),
                NeighState::Failed => Resolve::Unreachable(pkt),
                _ => {
                    // Linux unres_qlen semantics: the oldest queued packet
                    // makes room for the newest.
                    if e.pending.len() >= self.opts.unres_qlen.max(1) {
                        if let Some(old) = e.pending.pop_front() {
                            out.push(NeighAction::Overflow(old));
                        }
                    }
                    e.pending.push_back(pkt);
                    Resolve::Queued
                }
            };
        }
        if self.entries.len() >= self.writer.t.capacity() {
            return Resolve::Unreachable(pkt);
        }
        let mut pending = VecDeque::with_capacity(self.opts.unres_qlen.max(1));
        pending.push_back(pkt);
        self.entries.insert(
            (port, ip),
            Entry {
                state: NeighState::Incomplete,
                mac: [0; 6],
                updated: now,
                confirmed: None,
                probes: 1,
                next_probe: now + Self::ms(self.opts.retrans_ms),
                pending,
            },
        );
        out.push(NeighAction::Solicit {
            port,
            ip,
            unicast: None,
        });
        Resolve::Queued
    }

    /// Learns from an ARP packet's sender (RFC 826: "merge" if the sender is
    /// already known; add it if the request is for us).
    pub fn learn(
        &mut self,
        port: PortId,
        ip: A,
        mac: MacAddr,
        seen: ArpSeen,
        now: Instant,
        out: &mut Vec<NeighAction<P, A>>,
    ) {
        if mac == [0; 6] || crate::wire::ethernet::is_multicast(&mac) {
            return;
        }
        let key = (port, ip);
        let e = match self.entries.get_mut(&key) {
            Some(e) => e,
            None => {
                if seen != ArpSeen::RequestForUs || self.entries.len() >= self.writer.t.capacity() {
                    return;
                }
                let e = Entry {
                    state: NeighState::Stale,
                    mac,
                    updated: now,
                    confirmed: None,
                    probes: 0,
                    next_probe: now,
                    pending: VecDeque::new(),
                };
                self.publish(port, ip, &e);
                self.entries.insert(key, e);
                return;
            }
        };
        let new_state = match seen {
            // A reply confirms reachability (RFC 1122 §2.3.2.1).
            ArpSeen::Reply => NeighState::Reachable,
            // A request or gratuitous ARP proves the address is in use but
            // not that our path to it works: STALE unless already confirmed
            // with the same address.
            _ if e.state == NeighState::Reachable && e.mac == mac => NeighState::Reachable,
            _ if e.state.is_usable() && e.mac == mac => e.state,
            _ => NeighState::Stale,
        };
        e.state = new_state;
        e.mac = mac;
        e.updated = now;
        if seen == ArpSeen::Reply {
            e.confirmed = Some(now);
        }
        e.probes = 0;
        let packets = std::mem::take(&mut e.pending);
        let e = &self.entries[&key];
        self.publish(port, ip, e);
        if !packets.is_empty() {
            out.push(NeighAction::Flush {
                port,
                ip,
                mac,
                packets,
            });
        }
    }

    /// Runs the timers; call every few milliseconds.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<NeighAction<P, A>>) {
        let o = &self.opts;
        let retrans = Self::ms(o.retrans_ms);
        let mut remove = Vec::new();
        let mut republish = Vec::new();
        for (&(port, ip), e) in self.entries.iter_mut() {
            match e.state {
                NeighState::Incomplete | NeighState::Probe if now >= e.next_probe => {
                    let limit = if e.state == NeighState::Incomplete {
                        o.mcast_probes
                    } else {
                        o.ucast_probes
                    };
                    if e.probes < limit {
                        e.probes += 1;
                        e.next_probe = now + retrans;
                        let unicast = (e.state == NeighState::Probe).then_some(e.mac);
                        out.push(NeighAction::Solicit { port, ip, unicast });
                    } else {
                        e.state = NeighState::Failed;
                        e.updated = now;
                        republish.push((port, ip));
                        let packets = std::mem::take(&mut e.pending);
                        out.push(NeighAction::Failed { port, ip, packets });
                    }
                }
                NeighState::Reachable
                    if now.saturating_duration_since(e.updated) >= Self::ms(o.reachable_ms) =>
                {
                    e.state = NeighState::Stale;
                    e.updated = now;
                    republish.push((port, ip));
                }
                NeighState::Stale => {
                    if self.writer.take_used(port, ip) {
                        // Used while stale: re-confirm with unicast requests
                        // (Linux DELAY/PROBE, without the DELAY pause).
                        e.state = NeighState::Probe;
                        e.probes = 1;
                        e.next_probe = now + retrans;
                        republish.push((port, ip));
                        out.push(NeighAction::Solicit {
                            port,
                            ip,
                            unicast: Some(e.mac),
                        });
                    } else if now.saturating_duration_since(e.updated) >= Self::ms(o.gc_stale_ms) {
                        remove.push((port, ip));
                    }
                }
                NeighState::Failed
                    if now.saturating_duration_since(e.updated) >= Self::ms(o.failed_hold_ms) =>
                {
                    remove.push((port, ip));
                }
                _ => {}
            }
        }
        for k in republish {
            if let Some(e) = self.entries.get(&k) {
                self.publish(k.0, k.1, e);
            }
        }
        for k in remove {
            self.entries.remove(&k);
            self.writer.remove(k.0, k.1);
        }
    }

    /// Forgets everything learnt on `port` (e.g. the port went down).
    pub fn flush_port(&mut self, port: PortId) {
        let keys: Vec<_> = self
            .entries
            .keys()
            .filter(|k| k.0 == port)
            .copied()
            .collect();
        for k in keys {
            self.entries.remove(&k);
            self.writer.remove(k.0, k.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neigh::{NeighHit, NeighTable};

    const MAC: MacAddr = [2, 0, 0, 0, 0, 0x64];
    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 10, n)
    }

    fn opts() -> NeighOptions {
        NeighOptions::default()
    }

    #[test]
    fn resolve_queue_reply_flush() {
        let t = NeighTable::new(16);
        let mut c = NeighCache::new(opts(), t.writer().unwrap());
        let now = Instant::now();
        let mut out = Vec::new();
        assert!(matches!(
            c.resolve(0, ip(1), 1, now, &mut out),
            Resolve::Queued
        ));
        assert!(matches!(
            out.as_slice(),
            [NeighAction::Solicit { unicast: None, .. }]
        ));
        out.clear();
        for p in 2..=5 {
            assert!(matches!(
                c.resolve(0, ip(1), p, now, &mut out),
                Resolve::Queued
            ));
        }
        // unres_qlen = 3: packets 1 and 2 pushed out, no new request sent.
        assert!(matches!(
            out.as_slice(),
            [NeighAction::Overflow(1), NeighAction::Overflow(2)]
        ));
        out.clear();
        // Within the retransmit interval no second request.
        c.tick(now + Duration::from_millis(500), &mut out);
        assert!(out.is_empty());
        assert!(t.lookup(0, ip(1)).is_none());
        c.learn(0, ip(1), MAC, ArpSeen::Reply, now, &mut out);
        match out.pop() {
            Some(NeighAction::Flush { mac, packets, .. }) => {
                assert_eq!(mac, MAC);
                assert_eq!(Vec::from(packets), vec![3, 4, 5]);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            t.lookup(0, ip(1)).unwrap(),
            NeighHit {
                mac: MAC,
                state: NeighState::Reachable
            }
        );
        assert!(matches!(
            c.resolve(0, ip(1), 9, now, &mut out),
            Resolve::Send(MAC, 9)
        ));
    }

    #[test]
    fn resolution_fails_after_probes_one_per_second() {
        let t = NeighTable::new(16);
        let mut c = NeighCache::new(opts(), t.writer().unwrap());
        let t0 = Instant::now();
        let mut out = Vec::new();
        c.resolve(0, ip(1), 1u32, t0, &mut out);
        let mut solicits = 1;
        let mut failed = None;
        for ms in (0..5000).step_by(10) {
            out.clear();
            c.tick(t0 + Duration::from_millis(ms), &mut out);
            for a in out.drain(..) {
                match a {
                    NeighAction::Solicit { .. } => solicits += 1,
                    NeighAction::Failed { packets, .. } => failed = Some((ms, packets)),
                    _ => {}
                }
            }
        }
        assert_eq!(solicits, 3, "3 requests, one per second");
        let (ms, packets) = failed.unwrap();
        assert_eq!(ms, 3000);
        assert_eq!(Vec::from(packets), vec![1]);
        // FAILED for failed_hold (1 s from 3 s), then forgotten.
        assert_eq!(c.state(0, ip(1)), None, "removed after the hold");
        let mut out = Vec::new();
        let mut c2 = c;
        c2.resolve(0, ip(2), 7, t0, &mut out);
        for ms in [1000, 2000, 3000] {
            c2.tick(t0 + Duration::from_millis(ms), &mut out);
        }
        assert_eq!(t.lookup(0, ip(2)).unwrap().state, NeighState::Failed);
        assert!(matches!(
            c2.resolve(0, ip(2), 8, t0, &mut out),
            Resolve::Unreachable(8)
        ));
    }

    #[test]
    fn reachable_goes_stale_then_probe_then_reachable() {
        let t = NeighTable::new(16);
        let mut c: NeighCache<u32> = NeighCache::new(opts(), t.writer().unwrap());
        let t0 = Instant::now();
        let mut out = Vec::new();
        // A request for us creates a STALE entry (not confirmed).
        c.learn(0, ip(1), MAC, ArpSeen::RequestForUs, t0, &mut out);
        assert_eq!(c.state(0, ip(1)), Some(NeighState::Stale));
        assert_eq!(
            t.last_confirmed(0, ip(1)),
            None,
            "a request confirms nothing"
        );
        // Unsolicited replies about unknown hosts create nothing.
        c.learn(0, ip(2), MAC, ArpSeen::Other, t0, &mut out);
        assert_eq!(c.state(0, ip(2)), None);
        c.learn(0, ip(1), MAC, ArpSeen::Reply, t0, &mut out);
        assert_eq!(c.state(0, ip(1)), Some(NeighState::Reachable));
        let at = t.last_confirmed(0, ip(1)).expect("confirmed by the reply");
        assert!(at.saturating_duration_since(t0) < Duration::from_millis(2));
        c.tick(t0 + Duration::from_secs(31), &mut out);
        assert_eq!(t.lookup(0, ip(1)).unwrap().state, NeighState::Stale); // marks used
        out.clear();
        c.tick(t0 + Duration::from_secs(32), &mut out);
        assert!(matches!(
            out.as_slice(),
            [NeighAction::Solicit {
                unicast: Some(MAC),
                ..
            }]
        ));
        assert_eq!(t.lookup(0, ip(1)).unwrap().state, NeighState::Probe);
        c.learn(
            0,
            ip(1),
            MAC,
            ArpSeen::Reply,
            t0 + Duration::from_secs(32),
            &mut out,
        );
        assert_eq!(c.state(0, ip(1)), Some(NeighState::Reachable));
        let again = t.last_confirmed(0, ip(1)).expect("confirmed again");
        let moved = again.saturating_duration_since(at);
        assert!(moved >= Duration::from_millis(31_990), "{moved:?}");
        // Unused stale entries are collected.
        c.tick(t0 + Duration::from_secs(70), &mut out);
        c.tick(t0 + Duration::from_secs(200), &mut out);
        assert_eq!(c.state(0, ip(1)), None);
        assert!(t.lookup(0, ip(1)).is_none());
    }
}
