//! The smoltcp [`Device`] of the BGP thread: IPv4 packets (no link header)
//! in from the slow path, out to the slow path, over the channels of
//! [`crate::slowpath::LocalTcpPipe`].
//!
//! `Medium::Ip`: the slow path already did ARP, Ethernet and the decision
//! that the packet is for one of our addresses; on the way out it routes
//! whatever the stack emits like any locally generated packet.
//!
//! Every packet passes the TCP-MD5 shim ([`Md5Shim`]) on its way: segments
//! to a peer with a key are signed on transmit, segments from one are
//! verified before the stack sees them.
use std::collections::VecDeque;

use crossbeam_channel::{Sender, TrySendError};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::tcp_md5::{KeyTable, Md5Shim, OPTION_SPACE};

/// Packets received from the slow path, waiting for the interface to
/// consume them (bounded by the caller: it moves at most a batch at a time).
pub struct ChannelDevice {
    pub rx_queue: VecDeque<Vec<u8>>,
    tx: Sender<Vec<u8>>,
    mtu: usize,
    /// Packets handed to the slow path.
    pub tx_packets: u64,
    /// Packets the stack produced while the slow path's queue was full (TCP
    /// retransmits them; counted so the operator sees it).
    pub tx_dropped: u64,
    pub rx_packets: u64,
    /// Packets the interface may still take before `receive` reports none
    /// (the transport meters ingress per poll; `usize::MAX` = unmetered).
    pub rx_budget: usize,
    /// Signs and verifies segments of peers with a TCP-MD5 key.
    pub md5: Md5Shim,
}

impl ChannelDevice {
    pub fn new(tx: Sender<Vec<u8>>, mtu: usize) -> ChannelDevice {
        Self::with_md5_keys(tx, mtu, KeyTable::default())
    }

    /// A device whose segments to and from the peers in `keys` are signed
    /// and verified (RFC 2385).
    pub fn with_md5_keys(tx: Sender<Vec<u8>>, mtu: usize, keys: KeyTable) -> ChannelDevice {
        ChannelDevice {
            rx_queue: VecDeque::new(),
            tx,
            mtu,
            tx_packets: 0,
            tx_dropped: 0,
            rx_packets: 0,
            rx_budget: usize::MAX,
            md5: Md5Shim::new(keys, mtu),
        }
    }
}

pub struct RxToken(Vec<u8>);

pub struct TxToken<'a> {
    dev_tx: &'a Sender<Vec<u8>>,
    tx_packets: &'a mut u64,
    tx_dropped: &'a mut u64,
    md5: &'a mut Md5Shim,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        // A segment that cannot be signed is not sent (counted by the
        // shim); TCP retransmits it like a lost one.
        if !self.md5.egress(&mut buf) {
            *self.tx_dropped += 1;
            return r;
        }
        match self.dev_tx.try_send(buf) {
            Ok(()) => *self.tx_packets += 1,
            // A full queue behaves like a full NIC ring: the segment is lost
            // and TCP's retransmission recovers it.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                *self.tx_dropped += 1
            }
        }
        r
    }
}

impl Device for ChannelDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        if self.rx_budget == 0 {
            return None;
        }
        // Segments that fail TCP-MD5 are dropped here, before the stack:
        // nothing unsigned from a peer with a key reaches a socket.
        let pkt = loop {
            let p = self.rx_queue.pop_front()?;
            if self.md5.accept(&p) {
                break p;
            }
        };
        self.rx_budget -= 1;
        self.rx_packets += 1;
        Some((
            RxToken(pkt),
            TxToken {
                dev_tx: &self.tx,
                tx_packets: &mut self.tx_packets,
                tx_dropped: &mut self.tx_dropped,
                md5: &mut self.md5,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        // Let the stack keep its segments queued rather than drop them.
        if self.tx.is_full() {
            return None;
        }
        Some(TxToken {
            dev_tx: &self.tx,
            tx_packets: &mut self.tx_packets,
            tx_dropped: &mut self.tx_dropped,
            md5: &mut self.md5,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        // With keys, every segment may grow by the signature: the stack
        // sizes its segments (and its MSS) for a 20-byte smaller packet so
        // the signed one still fits the ports' MTU.
        caps.max_transmission_unit = if self.md5.is_active() {
            self.mtu - OPTION_SPACE
        } else {
            self.mtu
        };
        let mut cs = ChecksumCapabilities::default();
        cs.ipv4 = Checksum::Both;
        // The TCP checksum is computed on transmit; on receive the slow
        // path has already completed partial checksums (CHECKSUM_PARTIAL
        // from a veth) and verified every segment, counting bad ones
        // (slowpath/local_tcp.rs), so the stack does not check again. The
        // IPv4 header checksum is verified here too.
        cs.tcp = Checksum::Tx;
        cs.udp = Checksum::Both;
        cs.icmpv4 = Checksum::Both;
        caps.checksum = cs;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{RxToken as _, TxToken as _};

    #[test]
    fn packets_flow_both_ways_and_full_queue_backpressures() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut d = ChannelDevice::new(tx, 1500);
        assert!(d.receive(Instant::ZERO).is_none());
        d.rx_queue.push_back(vec![1, 2, 3]);
        let (r, _t) = d.receive(Instant::ZERO).unwrap();
        assert_eq!(r.consume(|b| b.to_vec()), vec![1, 2, 3]);
        let t = d.transmit(Instant::ZERO).unwrap();
        t.consume(4, |b| b.copy_from_slice(&[9, 9, 9, 9]));
        assert_eq!(d.tx_packets, 1);
        // The queue (depth 1) is full now: no token, nothing dropped.
        assert!(d.transmit(Instant::ZERO).is_none());
        assert_eq!(rx.recv().unwrap(), vec![9, 9, 9, 9]);
        assert!(d.transmit(Instant::ZERO).is_some());
        assert_eq!(d.capabilities().medium, Medium::Ip);
    }

    #[test]
    fn an_unsigned_syn_from_a_peer_with_a_key_never_reaches_the_stack() {
        use crate::bgp_io::tcp_md5::Md5Key;
        let (tx, _rx) = crossbeam_channel::bounded(4);
        let mut keys = KeyTable::default();
        keys.insert_peer(
            std::net::Ipv4Addr::new(10, 0, 0, 1),
            Md5Key::new(b"k").unwrap(),
        );
        let mut d = ChannelDevice::with_md5_keys(tx, 1500, keys);
        // 10.0.0.1:40000 -> 10.0.0.2:179, SYN, no options.
        let mut syn = vec![0u8; 40];
        syn[0] = 0x45;
        syn[3] = 40;
        syn[8] = 64;
        syn[9] = 6;
        syn[12..16].copy_from_slice(&[10, 0, 0, 1]);
        syn[16..20].copy_from_slice(&[10, 0, 0, 2]);
        syn[20..22].copy_from_slice(&40000u16.to_be_bytes());
        syn[22..24].copy_from_slice(&179u16.to_be_bytes());
        syn[32] = 5 << 4;
        syn[33] = 0x02;
        crate::wire::ipv4::Ipv4Packet::new_unchecked(&mut syn[..]).fill_checksum();
        d.rx_queue.push_back(syn.clone());
        assert!(d.receive(Instant::ZERO).is_none());
        assert_eq!((d.rx_packets, d.md5.totals.missing), (0, 1));
        // From another address it is the stack's to answer.
        syn[15] = 9;
        crate::wire::ipv4::Ipv4Packet::new_unchecked(&mut syn[..]).fill_checksum();
        d.rx_queue.push_back(syn);
        assert!(d.receive(Instant::ZERO).is_some());
        // The signature's room comes off the MTU the stack sees.
        assert_eq!(d.capabilities().max_transmission_unit, 1480);
    }
}
