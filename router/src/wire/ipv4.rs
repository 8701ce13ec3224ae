//! IPv4 header (RFC 791), zero-copy, with the in-place edits a router makes:
//! TTL decrement with an incremental checksum update (RFC 1624) and the
//! fields fragmentation rewrites.
use std::net::Ipv4Addr;

use super::checksum;
use super::WireError;

pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_HEADER_LEN: usize = 60;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet. After [`Ipv4Packet::check_len`] every accessor
/// is in bounds: the buffer holds the whole header (IHL ≥ 5) and the total
/// length it declares.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// RFC 1812 §5.2.2: the packet length reported by the link layer must
    /// hold the minimal header; IHL ≥ 5; the total length must cover the
    /// header and must not exceed the received length.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(WireError::Malformed);
        }
        if tl > len || hl > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }
    #[inline]
    fn be16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[r.start], b[r.start + 1]])
    }
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.be16(field::LENGTH)
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        self.be16(field::IDENT)
    }
    #[inline]
    pub fn flags_offset(&self) -> u16 {
        self.be16(field::FLG_OFF)
    }
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> usize {
        ((self.flags_offset() & OFFSET_MASK) as usize) * 8
    }
    /// Part of a fragmented datagram (offset ≠ 0 or MF set).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// True when the header checksum verifies (sum over the header is 0).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let hl = self.header_len();
        checksum::fold(checksum::sum(&self.buffer.as_ref()[..hl], 0)) == 0xffff
    }
    /// Options bytes (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }
    /// Payload up to the total length (link-layer padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn set_be16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_version_ihl(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        self.set_be16(field::LENGTH, v)
    }
    pub fn set_ident(&mut self, v: u16) {
        self.set_be16(field::IDENT, v)
    }
    pub fn set_flags_offset(&mut self, dont_frag: bool, more_frags: bool, offset_bytes: usize) {
        let mut v = ((offset_bytes / 8) as u16) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        self.set_be16(field::FLG_OFF, v)
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.set_be16(field::CHECKSUM, v)
    }
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    /// Recomputes the header checksum from scratch (over at most the
    /// buffer, so an unchecked view cannot panic here).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len().min(self.buffer.as_ref().len());
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    /// RFC 1812 §5.3.1 TTL decrement, with the checksum adjusted
    /// incrementally (RFC 1624 eqn. 3) over the TTL/protocol word. The caller
    /// has checked TTL > 1.
    #[inline]
    pub fn decrement_ttl(&mut self) {
        let b = self.buffer.as_mut();
        let old = u16::from_be_bytes([b[field::TTL], b[field::PROTOCOL]]);
        b[field::TTL] = b[field::TTL].wrapping_sub(1);
        let new = u16::from_be_bytes([b[field::TTL], b[field::PROTOCOL]]);
        let hc = u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]]);
        let c = checksum::update16(hc, old, new);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len() as usize);
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// A minimal (option-less) IPv4 header to emit, for packets the router
/// originates (ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parses a validated, unfragmented header (options are skipped).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        if p.version() != 4 {
            return Err(WireError::Malformed);
        }
        if !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            dscp_ecn: p.dscp_ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            payload_len: p.total_len() as usize - p.header_len(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }
    /// Writes the 20-byte header (checksum filled) into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let total = MIN_HEADER_LEN + self.payload_len;
        if total > u16::MAX as usize {
            return Err(WireError::Unsupported);
        }
        let b = buf
            .get_mut(..MIN_HEADER_LEN)
            .ok_or(WireError::BufferTooSmall)?;
        let mut p = Ipv4Packet::new_unchecked(b);
        p.set_version_ihl(MIN_HEADER_LEN);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len(total as u16);
        p.set_ident(self.ident);
        p.set_flags_offset(self.dont_frag, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src(self.src);
        p.set_dst(self.dst);
        p.fill_checksum();
        Ok(())
    }
}

/// The options a non-first fragment carries: those with the "copied" flag
/// (RFC 791 §3.1), padded with End-of-Options to a 4-byte multiple. Writes
/// them into `out` and returns their length; malformed options end the copy.
pub fn copied_options(options: &[u8], out: &mut [u8; 40]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < options.len() {
        let kind = options[i];
        match kind {
            0 => break,
            1 => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(&olen) = options.get(i + 1) else {
            break;
        };
        let olen = olen as usize;
        if olen < 2 || i + olen > options.len() {
            break;
        }
        if kind & 0x80 != 0 && n + olen <= out.len() {
            out[n..n + olen].copy_from_slice(&options[i..i + olen]);
            n += olen;
        }
        i += olen;
    }
    let padded = n.div_ceil(4) * 4;
    out[n..padded].fill(0);
    padded
}

#[inline]
pub fn is_multicast(a: Ipv4Addr) -> bool {
    a.octets()[0] & 0xf0 == 0xe0
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.10.100 -> 172.20.2.249, UDP, TTL 64, DF, id 0x1234, 4 bytes of
    // payload, plus 2 bytes of Ethernet padding.
    const PACKET: [u8; 26] = [
        0x45, 0x00, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192, 168, 10, 100,
        172, 20, 2, 249, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
    ];

    fn fixture() -> [u8; 26] {
        let mut b = PACKET;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn parse() {
        let b = fixture();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 24);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.src(), Ipv4Addr::new(192, 168, 10, 100));
        assert_eq!(p.dst(), Ipv4Addr::new(172, 20, 2, 249));
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(p.verify_checksum());
        let other = smoltcp::wire::Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(other.verify_checksum(), "smoltcp agrees with the checksum");
        assert_eq!(other.checksum(), p.checksum());
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 4);
        let mut e = [0u8; 20];
        r.emit(&mut e).unwrap();
        assert_eq!(e, b[..20]);
    }

    #[test]
    fn length_errors() {
        let b = fixture();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..23]).unwrap_err(),
            WireError::Truncated
        );
        let mut c = b;
        c[0] = 0x44; // IHL 4
        assert_eq!(
            Ipv4Packet::new_checked(&c[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut c = b;
        c[3] = 19; // total length < header
        assert_eq!(
            Ipv4Packet::new_checked(&c[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut c = b;
        c[0] = 0x4f; // IHL 15 = 60 bytes > buffer
        c[3] = 0x1a;
        assert!(Ipv4Packet::new_checked(&c[..]).is_err());
        let mut c = b;
        c[10] ^= 1;
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&c[..])),
            Err(WireError::Checksum)
        );
        let mut c = b;
        c[0] = 0x65;
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&c[..])),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn ttl_decrement_matches_full_recompute() {
        let mut b = fixture();
        for _ in 0..63 {
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            p.decrement_ttl();
            let inc = p.checksum();
            p.fill_checksum();
            assert_eq!(p.checksum(), inc);
            assert!(p.verify_checksum());
        }
        assert_eq!(b[8], 1);
    }

    #[test]
    fn fragment_fields() {
        let mut b = fixture();
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_flags_offset(false, true, 1480);
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        p.set_flags_offset(false, false, 8);
        assert!(p.is_fragment());
    }

    #[test]
    fn copied_options_filter() {
        // NOP, Record Route (0x07, not copied, len 7), Security-like (0x82, copied, len 4), EOL
        let opts = [1, 0x07, 7, 4, 0, 0, 0, 0, 0x82, 4, 0xaa, 0xbb, 0, 0, 0, 0];
        let mut out = [0u8; 40];
        let n = copied_options(&opts, &mut out);
        assert_eq!(n, 4);
        assert_eq!(&out[..4], &[0x82, 4, 0xaa, 0xbb]);
        // Malformed length stops the scan without panicking.
        assert_eq!(copied_options(&[0x83, 1], &mut out), 0);
        assert_eq!(copied_options(&[0x83, 9, 0], &mut out), 0);
        assert_eq!(copied_options(&[0x83, 3, 0], &mut out), 4);
    }
}
