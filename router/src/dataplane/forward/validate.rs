//! Step 1: is the frame for us, and well formed? Ethernet destination and
//! type, the IPv4 header checks of RFC 1812 §5.2.2, and the martian
//! filter of §5.3.7. A frame that fails is dropped with the reason
//! returned here; ARP goes to the slow path.
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Forwarder, FrameMeta};
use crate::dataplane::counters::DropReason;
use crate::ports::PortId;
use crate::wire::ethernet::{self, ethertype, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{class, Ipv6Packet};

/// What a frame that passed validation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Received {
    /// ARP, to the slow path (as received).
    Arp,
    /// An IPv4 packet to route; the frame's first `frame_len` bytes hold
    /// it (what follows is Ethernet padding).
    Ipv4 { frame_len: usize },
    /// An IPv6 packet to route or to take (unicast to us, or a link-local
    /// group we listen to); `frame_len` as for IPv4.
    Ipv6 { frame_len: usize },
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
        let Some((port_mac, ipv6_on)) = self
            .ports
            .get(in_port as usize)
            .map(|p| (p.mac, !p.addrs6.is_empty()))
        else {
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
        // RFC 2464 §7: IPv6 multicast goes to 33:33 + the group's low 32
        // bits (solicited-node groups, for Neighbor Solicitations).
        let link_multicast6 = dst_mac[0] == 0x33 && dst_mac[1] == 0x33;
        if dst_mac != port_mac && !link_broadcast && !link_multicast6 {
            return Err(DropReason::NotForUs);
        }
        match eth.ethertype() {
            ethertype::ARP if !link_multicast6 => return Ok(Received::Arp),
            ethertype::IPV4 if !link_multicast6 => {}
            // IPv6 only on ports that have an IPv6 address (like a kernel
            // interface with IPv6 disabled, the others drop it).
            ethertype::IPV6 if ipv6_on && !link_broadcast => {
                return self.validate_ipv6(in_port, frame, link_multicast6)
            }
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

    /// The IPv6 checks (RFC 8200 §3, RFC 4291 §2.5): version, payload
    /// length against the frame, then the addresses no router forwards or
    /// accepts. Multicast is taken only for the link-local groups we listen
    /// to (all-nodes, all-routers, our solicited-node groups): there is no
    /// multicast routing.
    fn validate_ipv6(
        &self,
        in_port: PortId,
        frame: &[u8],
        link_multicast: bool,
    ) -> Result<Received, DropReason> {
        let Ok(ip) = Ipv6Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else {
            return Err(DropReason::BadHeader);
        };
        if ip.version() != 6 {
            return Err(DropReason::BadHeader);
        }
        let (src, dst) = (ip.src(), ip.dst());
        // RFC 4291 §2.5.2/§2.5.3: the unspecified and loopback addresses are
        // never a destination, loopback never a source; §2.7: multicast is
        // never a source. RFC 4038 §4.2: IPv4-mapped addresses never appear
        // on the wire. A packet "from" one of our addresses came from
        // elsewhere (or looped).
        if src.is_loopback()
            || class::is_multicast(&src)
            || class::to_ipv4_mapped(&src).is_some()
            || dst.is_unspecified()
            || dst.is_loopback()
            || class::to_ipv4_mapped(&dst).is_some()
            || self.is_any_port_address6(&src)
        {
            return Err(DropReason::Martian);
        }
        let frame_len = ethernet::HEADER_LEN + ip.total_len();
        if class::is_multicast(&dst) {
            // Scope 0 is reserved and 1 (interface-local) never leaves a
            // node (RFC 4291 §2.7).
            if class::multicast_scope(&dst) <= 1 {
                return Err(DropReason::Martian);
            }
            if self.listens_to(in_port, &dst) {
                return Ok(Received::Ipv6 { frame_len });
            }
            return Err(DropReason::NotForUs);
        }
        if link_multicast {
            // A unicast packet in a multicast frame: not ours to forward.
            return Err(DropReason::NotForUs);
        }
        // RFC 4862 §5.4: only Duplicate Address Detection (to a
        // solicited-node group, taken above) comes from ::.
        if src.is_unspecified() {
            return Err(DropReason::Martian);
        }
        Ok(Received::Ipv6 { frame_len })
    }

    /// The groups of `port` we receive (RFC 4861 §7.2.1: all-nodes, and the
    /// solicited-node group of each of our addresses; RFC 4291 §2.8: a
    /// router also listens to all-routers).
    pub(super) fn listens_to(&self, port: PortId, group: &Ipv6Addr) -> bool {
        let Some(p) = self.ports.get(port as usize) else {
            return false;
        };
        if p.addrs6.is_empty() {
            return false;
        }
        *group == class::ALL_NODES
            || *group == class::ALL_ROUTERS
            || p.addrs6
                .iter()
                .any(|a| class::solicited_node(&a.0) == *group)
    }

    /// A packet from outside claiming one of our IPv6 addresses.
    fn is_any_port_address6(&self, a: &Ipv6Addr) -> bool {
        self.ports
            .iter()
            .any(|p| p.addrs6.iter().any(|x| x.0 == *a))
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
