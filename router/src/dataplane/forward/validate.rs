//! Step 1: is the frame for us, and well formed? Ethernet destination and
//! type, the IPv4 header checks of RFC 1812 §5.2.2, and the martian
//! filter of §5.3.7. A frame that fails is dropped with the reason
//! returned here; ARP goes to the slow path.
use std::net::Ipv4Addr;

use super::{Forwarder, FrameMeta};
use crate::dataplane::counters::DropReason;
use crate::ports::PortId;
use crate::wire::ethernet::{self, ethertype, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;

/// What a frame that passed validation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Received {
    /// ARP, to the slow path (as received).
    Arp,
    /// An IPv4 packet to route; the frame's first `frame_len` bytes hold
    /// it (what follows is Ethernet padding).
    Ipv4 { frame_len: usize },
}

/// Martian addresses (RFC 1812 §5.3.7, §4.2.2.11): 0/8, 127/8, 240/4
/// (which includes 255.255.255.255).
#[inline]
pub(super) fn is_martian_common(a: u32) -> bool {
    let first = a >> 24;
    first == 0 || first == 127 || first >= 240
}

#[inline]
pub(super) fn is_multicast(a: u32) -> bool {
    a >> 28 == 0xe
}

impl Forwarder {
    /// Checks one frame received on `in_port`, in this
    /// order: whole in the buffer, Ethernet header, destination MAC, type,
    /// no link-layer broadcast, IPv4 header and checksum, martian source or
    /// destination, directed broadcast.
    pub(super) fn validate(
        &self,
        in_port: PortId,
        frame: &[u8],
        meta: &FrameMeta,
    ) -> Result<Received, DropReason> {
        let Some(port_mac) = self.ports.get(in_port as usize).map(|p| p.mac) else {
            // `process` only calls this for ports that exist.
            return Err(DropReason::NotForUs);
        };
        if meta.truncated || meta.wire_len as usize > frame.len() {
            // Larger than a ring slot: we do not hold the whole frame.
            return Err(DropReason::Mtu);
        }
        if frame.len() < ethernet::HEADER_LEN {
            return Err(DropReason::BadHeader);
        }
        let eth = EthernetFrame::new_unchecked(frame);
        let dst_mac = eth.dst();
        let link_broadcast = dst_mac == ethernet::BROADCAST;
        if dst_mac != port_mac && !link_broadcast {
            return Err(DropReason::NotForUs);
        }
        match eth.ethertype() {
            ethertype::ARP => return Ok(Received::Arp),
            ethertype::IPV4 => {}
            _ => return Err(DropReason::NotForUs),
        }
        if link_broadcast {
            // RFC 1812 §5.3.4: never forward a link-layer broadcast; nothing
            // of ours listens to IPv4 broadcasts.
            return Err(DropReason::NotForUs);
        }
        // RFC 1812 §5.2.2: validate before anything else.
        let Ok(ip) = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else {
            return Err(DropReason::BadHeader);
        };
        // The checksum is always verified: 20 bytes cost less than
        // forwarding a corrupted header (we rewrite it incrementally,
        // which would launder a bad checksum into a good one).
        if ip.version() != 4 || !ip.verify_checksum() {
            return Err(DropReason::BadHeader);
        }
        let (src, dst) = (u32::from(ip.src()), u32::from(ip.dst()));
        // RFC 1812 §5.3.7: martian source (0/8, 127/8, class E and
        // 255.255.255.255, multicast, a connected subnet's broadcast, one of
        // our own addresses) or destination (0/8, 127/8, class E, limited
        // broadcast). Multicast destinations are never forwarded (no
        // multicast routing; RFC 1812 forbids forwarding 224.0.0.0/24 in any
        // case).
        if is_martian_common(src)
            || is_multicast(src)
            || is_martian_common(dst)
            || is_multicast(dst)
            || self.is_directed_broadcast(Ipv4Addr::from(src))
            || self.is_any_port_address(src)
        {
            return Err(DropReason::Martian);
        }
        if self.is_directed_broadcast(Ipv4Addr::from(dst)) {
            // A directed broadcast to one of our subnets: not forwarded
            // (RFC 2644 default) and not answered (like Linux's
            // icmp_echo_ignore_broadcasts).
            return Err(DropReason::NotForUs);
        }
        Ok(Received::Ipv4 {
            frame_len: ethernet::HEADER_LEN + ip.total_len() as usize,
        })
    }

    /// A packet from outside claiming one of our addresses as its source
    /// (Linux counts it as a martian source too).
    fn is_any_port_address(&self, a: u32) -> bool {
        self.ports
            .iter()
            .any(|p| p.addrs.iter().any(|x| u32::from(x.0) == a))
    }

    pub(super) fn is_directed_broadcast(&self, a: Ipv4Addr) -> bool {
        self.ports.iter().any(|p| p.broadcasts.contains(&a))
    }
}
