//! ARP for IPv4 over Ethernet (RFC 826), zero-copy. Only hardware type 1
//! (Ethernet) with protocol 0x0800 and address lengths 6/4 is accepted.
use std::net::Ipv4Addr;

use super::ethernet::{ethertype, MacAddr};
use super::WireError;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

pub const PACKET_LEN: usize = 28;
pub const HTYPE_ETHERNET: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
}

impl ArpOp {
    fn code(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}
fn mac(b: &[u8], r: core::ops::Range<usize>) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[r]);
    m
}
fn ip(b: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    Ipv4Addr::new(b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3])
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }
    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }
    pub fn sha(&self) -> MacAddr {
        mac(self.buffer.as_ref(), field::SHA)
    }
    pub fn spa(&self) -> Ipv4Addr {
        ip(self.buffer.as_ref(), field::SPA)
    }
    pub fn tha(&self) -> MacAddr {
        mac(self.buffer.as_ref(), field::THA)
    }
    pub fn tpa(&self) -> Ipv4Addr {
        ip(self.buffer.as_ref(), field::TPA)
    }
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: ArpOp,
    pub sha: MacAddr,
    pub spa: Ipv4Addr,
    pub tha: MacAddr,
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<Self, WireError> {
        p.check_len()?;
        if p.htype() != HTYPE_ETHERNET
            || p.ptype() != ethertype::IPV4
            || p.hlen() != 6
            || p.plen() != 4
        {
            return Err(WireError::Unsupported);
        }
        let op = match p.oper() {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            _ => return Err(WireError::Unsupported),
        };
        Ok(ArpRepr {
            op,
            sha: p.sha(),
            spa: p.spa(),
            tha: p.tha(),
            tpa: p.tpa(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let b = buf.get_mut(..PACKET_LEN).ok_or(WireError::BufferTooSmall)?;
        b[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        b[field::PTYPE].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::OPER].copy_from_slice(&self.op.code().to_be_bytes());
        b[field::SHA].copy_from_slice(&self.sha);
        b[field::SPA].copy_from_slice(&self.spa.octets());
        b[field::THA].copy_from_slice(&self.tha);
        b[field::TPA].copy_from_slice(&self.tpa.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 192.168.10.200? Tell 192.168.10.100 (from 02:00:00:00:00:64).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype ptype hlen plen oper
        0x02, 0x00, 0x00, 0x00, 0x00, 0x64, 192, 168, 10, 100, // sha spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 168, 10, 200, // tha tpa
    ];

    #[test]
    fn parse_request() {
        let r = ArpRepr::parse(&ArpPacket::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(r.op, ArpOp::Request);
        assert_eq!(r.sha, [2, 0, 0, 0, 0, 0x64]);
        assert_eq!(r.spa, Ipv4Addr::new(192, 168, 10, 100));
        assert_eq!(r.tpa, Ipv4Addr::new(192, 168, 10, 200));
        let other = smoltcp::wire::ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(other.target_protocol_addr(), r.tpa.octets());
    }

    #[test]
    fn emit_round_trip() {
        let r = ArpRepr::parse(&ArpPacket::new_unchecked(&REQUEST[..])).unwrap();
        let mut b = [0u8; 28];
        r.emit(&mut b).unwrap();
        assert_eq!(b, REQUEST);
        assert_eq!(r.emit(&mut [0u8; 27]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn rejects_bad() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            WireError::Truncated
        );
        let mut b = REQUEST;
        b[7] = 9;
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_unchecked(&b[..])),
            Err(WireError::Unsupported)
        );
        let mut b = REQUEST;
        b[4] = 8;
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_unchecked(&b[..])),
            Err(WireError::Unsupported)
        );
    }
}
