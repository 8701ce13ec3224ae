//! IPv6 header (RFC 8200), zero-copy, with what a router reads and edits:
//! the fixed header, the hop limit (no header checksum to update), the walk
//! over extension headers to the upper-layer header (for the flow hash and
//! the local protocols), and the address classes the forwarding rules test.
use std::net::Ipv6Addr;

use super::checksum;
use super::WireError;

/// Next Header values (IANA "Assigned Internet Protocol Numbers").
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
}

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

pub const HEADER_LEN: usize = 40;
/// RFC 8200 §5: every link has an MTU of at least 1280.
pub const MIN_MTU: usize = 1280;
/// Extension headers walked before giving up on finding the upper layer
/// (bounds the work per packet; RFC 8200 §4.1 recommends far fewer).
const MAX_EXTENSION_HEADERS: usize = 8;

/// A view of an IPv6 packet. After [`Ipv6Packet::check_len`] every accessor
/// is in bounds: the buffer holds the fixed header and the payload length it
/// declares.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The fixed header must be there and the payload length must not
    /// exceed what was received (what follows is link-layer padding).
    /// A payload length of 0 with a Hop-by-Hop header would be a jumbogram
    /// (RFC 2675), which no Ethernet port carries: treated as an empty payload.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if HEADER_LEN + self.payload_len() as usize > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (self.word() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.word() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::PAYLOAD_LEN];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len() as usize
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::DST])
    }

    /// The payload (extension headers and upper layer), as declared.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// Walks the extension headers (RFC 8200 §4) to the upper-layer header:
    /// its protocol and its offset in the payload. Hop-by-Hop, Routing,
    /// Destination Options and AH are passed over; a Fragment header with a
    /// non-zero offset ends the walk with [`UpperLayer::fragment`] set and
    /// no offset (the upper-layer header is in the first fragment only).
    /// `None` if a header runs past the payload, or the chain is longer
    /// than we walk.
    pub fn upper_layer(&self) -> Option<UpperLayer> {
        let p = self.payload();
        let mut nh = self.next_header();
        let mut off = 0usize;
        let mut fragment = false;
        let mut next_header_at = field::NEXT_HEADER;
        for _ in 0..MAX_EXTENSION_HEADERS {
            match nh {
                next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS => {
                    // Next Header, Hdr Ext Len in 8-octet units not
                    // counting the first 8.
                    let h = p.get(off..off + 2)?;
                    let len = 8 + h[1] as usize * 8;
                    p.get(off..off + len)?;
                    nh = h[0];
                    next_header_at = HEADER_LEN + off;
                    off += len;
                }
                next_header::AH => {
                    // RFC 4302 §2.2: Payload Len in 4-octet units, minus 2.
                    let h = p.get(off..off + 2)?;
                    let len = (h[1] as usize + 2) * 4;
                    p.get(off..off + len)?;
                    nh = h[0];
                    next_header_at = HEADER_LEN + off;
                    off += len;
                }
                next_header::FRAGMENT => {
                    let h = p.get(off..off + 8)?;
                    let offset = u16::from_be_bytes([h[2], h[3]]) >> 3;
                    fragment = true;
                    nh = h[0];
                    next_header_at = HEADER_LEN + off;
                    off += 8;
                    if offset != 0 {
                        return Some(UpperLayer {
                            protocol: nh,
                            offset: None,
                            fragment,
                            next_header_at,
                        });
                    }
                }
                _ => {
                    return Some(UpperLayer {
                        protocol: nh,
                        offset: Some(off),
                        fragment,
                        next_header_at,
                    })
                }
            }
        }
        None
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Hop limit minus one (the caller has checked it is > 1); IPv6 has no
    /// header checksum to update.
    pub fn decrement_hop_limit(&mut self) {
        let h = self.hop_limit();
        self.set_hop_limit(h.saturating_sub(1));
    }
}

/// Where the upper-layer header of a packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer {
    pub protocol: u8,
    /// Offset in the payload; `None` for a non-first fragment.
    pub offset: Option<usize>,
    /// A Fragment header was passed.
    pub fragment: bool,
    /// Where the Next Header field that names `protocol` is, from the start
    /// of the IPv6 header (the pointer of a Parameter Problem about it).
    pub next_header_at: usize,
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

/// The running sum of the upper-layer pseudo-header (RFC 8200 §8.1).
pub fn pseudo_header_sum(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: u32) -> u64 {
    let mut acc = checksum::sum(&src.octets(), 0);
    acc = checksum::sum(&dst.octets(), acc);
    acc + (len >> 16) as u64 + (len & 0xffff) as u64 + next_header as u64
}

/// Address classes (RFC 4291 §2.4) the forwarding rules test.
pub mod class {
    use std::net::{Ipv4Addr, Ipv6Addr};

    pub fn is_link_local(a: &Ipv6Addr) -> bool {
        a.segments()[0] & 0xffc0 == 0xfe80
    }

    pub fn is_multicast(a: &Ipv6Addr) -> bool {
        a.octets()[0] == 0xff
    }

    /// The multicast scope (RFC 4291 §2.7): 1 interface-local, 2 link-local.
    pub fn multicast_scope(a: &Ipv6Addr) -> u8 {
        a.octets()[1] & 0x0f
    }

    /// ::ffff:0:0/96 (RFC 4291 §2.5.5.2): never valid on the wire
    /// (RFC 4038 §4.2), but the form BGP uses for an IPv4 next hop of an
    /// IPv6 route.
    pub fn to_ipv4_mapped(a: &Ipv6Addr) -> Option<Ipv4Addr> {
        let o = a.octets();
        (o[..10] == [0; 10] && o[10] == 0xff && o[11] == 0xff)
            .then(|| Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    }

    /// ff02::1:ffXX:XXXX, the solicited-node group of `a` (RFC 4291 §2.7.1).
    pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
        let o = a.octets();
        Ipv6Addr::new(
            0xff02,
            0,
            0,
            0,
            0,
            1,
            0xff00 | o[13] as u16,
            u16::from_be_bytes([o[14], o[15]]),
        )
    }

    /// The Ethernet group address of IPv6 multicast `a` (RFC 2464 §7).
    pub fn multicast_mac(a: &Ipv6Addr) -> [u8; 6] {
        let o = a.octets();
        [0x33, 0x33, o[12], o[13], o[14], o[15]]
    }

    pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
}

/// Writes a fixed IPv6 header (no extension headers) into `buf[..40]`.
pub fn emit_header(
    buf: &mut [u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    payload_len: u16,
    hop_limit: u8,
) -> Result<(), WireError> {
    let h = buf.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
    h[field::VER_TC_FLOW].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    h[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
    h[field::NEXT_HEADER] = next_header;
    h[field::HOP_LIMIT] = hop_limit;
    h[field::SRC].copy_from_slice(&src.octets());
    h[field::DST].copy_from_slice(&dst.octets());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICMPv6 echo request fd00:10::100 → fd00:20::100, hop limit 64,
    /// flow label 0x12345, traffic class 0xb8, with a Hop-by-Hop header
    /// (PadN) in front of the ICMPv6 header.
    fn fixture() -> Vec<u8> {
        let mut p = vec![
            0x6b, 0x81, 0x23, 0x45, // version 6, TC 0xb8, flow 0x12345
            0x00, 0x10, // payload length 16
            0x00, // next header: hop-by-hop
            0x40, // hop limit 64
        ];
        p.extend("fd00:10::100".parse::<Ipv6Addr>().unwrap().octets());
        p.extend("fd00:20::100".parse::<Ipv6Addr>().unwrap().octets());
        // Hop-by-Hop: next ICMPv6, len 0, PadN of 4.
        p.extend([58, 0, 1, 4, 0, 0, 0, 0]);
        // ICMPv6 echo request (checksum not filled in).
        p.extend([128, 0, 0, 0, 0, 1, 0, 1]);
        p
    }

    #[test]
    fn fields() {
        let b = fixture();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 16);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src(), "fd00:10::100".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            p.upper_layer(),
            Some(UpperLayer {
                protocol: next_header::ICMPV6,
                offset: Some(8),
                fragment: false,
                next_header_at: HEADER_LEN,
            })
        );
    }

    #[test]
    fn padding_is_not_payload_and_short_is_rejected() {
        let mut b = fixture();
        b.extend([0; 6]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 16);
        let b = fixture();
        assert_eq!(
            Ipv6Packet::new_checked(&b[..b.len() - 1]).unwrap_err(),
            WireError::Truncated
        );
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
    }

    #[test]
    fn extension_header_overrunning_the_payload_is_none() {
        let mut b = fixture();
        b[HEADER_LEN + 1] = 5; // hop-by-hop claims 48 bytes
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), None);
    }

    #[test]
    fn non_first_fragment_has_no_upper_layer_offset() {
        let mut b = fixture();
        b[6] = next_header::FRAGMENT;
        b[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&[17, 0, 0x05, 0x00, 0, 0, 0, 7]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let u = p.upper_layer().unwrap();
        assert_eq!((u.protocol, u.offset, u.fragment), (17, None, true));
    }

    #[test]
    fn hop_limit_and_classes() {
        let mut b = fixture();
        Ipv6Packet::new_unchecked(&mut b[..]).decrement_hop_limit();
        assert_eq!(Ipv6Packet::new_unchecked(&b[..]).hop_limit(), 63);
        let a: Ipv6Addr = "fd00:10::1:2345".parse().unwrap();
        assert_eq!(
            class::solicited_node(&a),
            "ff02::1:ff01:2345".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            class::multicast_mac(&class::solicited_node(&a)),
            [0x33, 0x33, 0xff, 0x01, 0x23, 0x45]
        );
        assert_eq!(
            class::to_ipv4_mapped(&"::ffff:192.168.10.100".parse().unwrap()),
            Some(std::net::Ipv4Addr::new(192, 168, 10, 100))
        );
        assert!(class::is_link_local(&"fe80::1".parse().unwrap()));
        assert!(!class::is_link_local(&"fec0::1".parse().unwrap()));
    }

    #[test]
    fn pseudo_header_matches_smoltcp() {
        // An ICMPv6 echo checksummed with our pseudo-header sum must verify
        // with smoltcp's independent parser.
        let mut b = fixture();
        b[6] = next_header::ICMPV6;
        b.truncate(HEADER_LEN);
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        b.extend([128, 0, 0, 0, 0, 1, 0, 1]);
        let (s, d) = {
            let p = Ipv6Packet::new_unchecked(&b[..]);
            (p.src(), p.dst())
        };
        let acc = pseudo_header_sum(&s, &d, next_header::ICMPV6, 8);
        let c = !checksum::fold(checksum::sum(&b[HEADER_LEN..], acc));
        b[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&c.to_be_bytes());
        let icmp = smoltcp::wire::Icmpv6Packet::new_checked(&b[HEADER_LEN..]).unwrap();
        assert!(icmp.verify_checksum(&s, &d));
    }
}
