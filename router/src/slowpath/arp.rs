//! ARP (RFC 826) on the slow path: answering requests for our addresses,
//! learning senders into the neighbour cache, gratuitous ARP at start
//! (RFC 5227 §2.3), and the requests the neighbour state machine asks for.
use std::net::Ipv4Addr;
use std::time::Instant;

use super::{SlowCore, SlowPacket};
use crate::dataplane::counters::DropReason;
use crate::dataplane::forward::TxSink;
use crate::neigh::ArpSeen;
use crate::ports::PortId;
use crate::wire::arp::{ArpOp, ArpPacket, ArpRepr};
use crate::wire::ethernet::{self, ethertype, EthernetFrame, EthernetRepr, MacAddr};

impl SlowCore<'_> {
    /// RFC 5227 §2.3 announcement (gratuitous ARP) of every port address,
    /// and for IPv6 the start of Duplicate Address Detection (the
    /// unsolicited Neighbor Advertisements follow it, see `ndp`).
    pub fn announce<S: TxSink>(&mut self, sink: &mut S) {
        self.start_dad(Instant::now(), sink);
        for port in 0..self.fwd.port_count() as PortId {
            let Some(mac) = self.fwd.port_mac(port) else {
                continue;
            };
            let addrs: Vec<_> = self.fwd.port_addresses(port).collect();
            for a in addrs {
                let arp = ArpRepr {
                    op: ArpOp::Request,
                    sha: mac,
                    spa: a,
                    tha: [0; 6],
                    tpa: a,
                };
                self.send_arp(port, ethernet::BROADCAST, &arp, sink);
            }
        }
    }

    pub(super) fn send_arp<S: TxSink>(
        &self,
        port: PortId,
        dst: MacAddr,
        arp: &ArpRepr,
        sink: &mut S,
    ) {
        let len = ethernet::HEADER_LEN + arp.buffer_len();
        let sent = sink.send(port, |buf| {
            let Some(buf) = buf.get_mut(..len) else {
                return (0, None);
            };
            let eth = EthernetRepr {
                dst,
                src: arp.sha,
                ethertype: ethertype::ARP,
            };
            if eth.emit(buf).is_err() || arp.emit(&mut buf[ethernet::HEADER_LEN..]).is_err() {
                return (0, None);
            }
            (len, None)
        });
        if sent {
            self.count_tx(port, len);
        }
    }

    pub(super) fn handle_arp<S: TxSink>(&mut self, now: Instant, p: &SlowPacket, sink: &mut S) {
        let port = p.in_port;
        let Some(mac) = self.fwd.port_mac(port) else {
            return;
        };
        let Ok(eth) = EthernetFrame::new_checked(p.frame()) else {
            self.fwd
                .drop_packet(port, DropReason::BadHeader, p.frame(), None);
            return;
        };
        let arp = match ArpPacket::new_checked(eth.payload()).and_then(|a| ArpRepr::parse(&a)) {
            Ok(a) => a,
            Err(_) => {
                self.fwd
                    .drop_packet(port, DropReason::BadHeader, p.frame(), None);
                return;
            }
        };
        if arp.sha == mac || ethernet::is_multicast(&arp.sha) {
            self.fwd
                .drop_packet(port, DropReason::NotForUs, p.frame(), None);
            return;
        }
        if self.fwd.is_port_address(port, arp.spa) {
            // Someone else claims our address; never learn it.
            tracing::warn!(port, addr = %arp.spa, mac = ?arp.sha, "ARP: address conflict");
            return;
        }
        let for_us = self.fwd.is_port_address(port, arp.tpa);
        // Learn only senders on one of the port's subnets.
        let learnable = arp.spa != Ipv4Addr::UNSPECIFIED && self.fwd.on_link(port, arp.spa);
        match arp.op {
            ArpOp::Request if for_us => {
                if learnable {
                    self.cache.learn(
                        port,
                        arp.spa,
                        arp.sha,
                        ArpSeen::RequestForUs,
                        now,
                        &mut self.actions,
                    );
                }
                // RFC 826: swap, fill in our hardware address, reply to the
                // requester (also to RFC 5227 probes with sender 0.0.0.0).
                let reply = ArpRepr {
                    op: ArpOp::Reply,
                    sha: mac,
                    spa: arp.tpa,
                    tha: arp.sha,
                    tpa: arp.spa,
                };
                self.send_arp(port, arp.sha, &reply, sink);
            }
            ArpOp::Reply if learnable => {
                let seen = if for_us && eth.dst() == mac {
                    ArpSeen::Reply
                } else {
                    ArpSeen::Other
                };
                self.cache
                    .learn(port, arp.spa, arp.sha, seen, now, &mut self.actions);
            }
            _ if learnable => {
                self.cache.learn(
                    port,
                    arp.spa,
                    arp.sha,
                    ArpSeen::Other,
                    now,
                    &mut self.actions,
                );
            }
            _ => {}
        }
    }
}
