//! ICMPv6 (RFC 4443): the message types and codes the router sends and
//! answers, a zero-copy view of the common header, and the checksum over
//! the IPv6 pseudo-header. Neighbor Discovery bodies (RFC 4861) are parsed
//! and built with smoltcp's `NdiscRepr` in the slow path (see
//! [`crate::slowpath`]); they never cross the forwarding path.
use std::net::Ipv6Addr;

use super::checksum;
use super::ipv6::{self, next_header};
use super::WireError;

pub mod msg {
    pub const DST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

/// Destination Unreachable codes (RFC 4443 §3.1).
pub mod unreach {
    pub const NO_ROUTE: u8 = 0;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PORT: u8 = 4;
}

/// Parameter Problem codes (RFC 4443 §3.4).
pub mod param {
    pub const HEADER_FIELD: u8 = 0;
    pub const NEXT_HEADER: u8 = 1;
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The second word: unused, MTU, pointer, or echo identifier+sequence.
    pub const WORD: Range<usize> = 4..8;
}

pub const HEADER_LEN: usize = 8;
/// RFC 4443 §2.4(c): an error carries as much of the invoking packet as
/// fits without the error exceeding the minimum IPv6 MTU.
pub const MAX_QUOTE: usize = ipv6::MIN_MTU - ipv6::HEADER_LEN - HEADER_LEN;

/// Error messages have types 0-127, informational ones 128-255 (§2.1).
pub fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

/// Types of Neighbor Discovery (RFC 4861 §4).
pub fn is_ndisc(msg_type: u8) -> bool {
    (msg::ROUTER_SOLICIT..=msg::REDIRECT).contains(&msg_type)
}

/// A view of an ICMPv6 message (after [`Icmpv6Packet::check_len`]: at least
/// the 8-byte header).
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The second 32-bit word (echo: identifier << 16 | sequence).
    pub fn word(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::WORD];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// What follows the 8-byte header.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// RFC 4443 §2.3: the checksum covers the pseudo-header and the message.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let acc = ipv6::pseudo_header_sum(src, dst, next_header::ICMPV6, b.len() as u32);
        checksum::fold(checksum::sum(b, acc)) == 0xffff
    }
}

/// Writes an ICMPv6 message (type, code, second word, body) into `buf` and
/// fills its checksum; returns its length.
pub fn emit(
    buf: &mut [u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    msg_type: u8,
    code: u8,
    word: u32,
    body: &[u8],
) -> Result<usize, WireError> {
    let len = HEADER_LEN + body.len();
    let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
    out[field::TYPE] = msg_type;
    out[field::CODE] = code;
    out[field::CHECKSUM].copy_from_slice(&[0, 0]);
    out[field::WORD].copy_from_slice(&word.to_be_bytes());
    out[HEADER_LEN..].copy_from_slice(body);
    let acc = ipv6::pseudo_header_sum(src, dst, next_header::ICMPV6, len as u32);
    let c = !checksum::fold(checksum::sum(out, acc));
    out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_verifies_here_and_in_smoltcp() {
        let s: Ipv6Addr = "fd00:10::200".parse().unwrap();
        let d: Ipv6Addr = "fd00:10::100".parse().unwrap();
        let mut buf = [0u8; 64];
        let n = emit(&mut buf, &s, &d, msg::ECHO_REPLY, 0, 0x0001_0002, b"abc").unwrap();
        assert_eq!(n, 11);
        let p = Icmpv6Packet::new_checked(&buf[..n]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        assert!(!p.verify_checksum(&d, &d));
        assert_eq!((p.msg_type(), p.code(), p.word()), (129, 0, 0x0001_0002));
        assert_eq!(p.body(), b"abc");
        let theirs = smoltcp::wire::Icmpv6Packet::new_checked(&buf[..n]).unwrap();
        assert!(theirs.verify_checksum(&s, &d));
        assert!(emit(&mut buf[..10], &s, &d, 1, 0, 0, b"abc").is_err());
    }

    #[test]
    fn fixture_echo_request_from_ping6() {
        // An echo request as Linux ping6 sends it (id 0x1c2d, seq 1, 4 data
        // bytes), fe80::1 → fe80::2; checksum computed by smoltcp's emitter.
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::2".parse().unwrap();
        let repr = smoltcp::wire::Icmpv6Repr::EchoRequest {
            ident: 0x1c2d,
            seq_no: 1,
            data: &[1, 2, 3, 4],
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(
            &s,
            &d,
            &mut smoltcp::wire::Icmpv6Packet::new_unchecked(&mut buf[..]),
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        assert_eq!(p.word(), 0x1c2d_0001);
        assert!(is_ndisc(135) && !is_ndisc(128) && is_error(2) && !is_error(128));
    }
}
