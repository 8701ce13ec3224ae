//! ICMPv4 (RFC 792), zero-copy: echo and the error messages a router sends
//! (destination unreachable incl. "fragmentation needed" with the next-hop
//! MTU of RFC 1191, time exceeded, parameter problem).
use super::checksum;
use super::WireError;

pub mod msg {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Codes of destination unreachable.
pub mod unreach {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const DATA: usize = 8;
}

pub const HEADER_LEN: usize = field::DATA;

/// True for the ICMP types that are error messages (RFC 1812 §4.3.2.7: no
/// error is sent about one of these). Unknown types are treated as errors,
/// the conservative choice.
pub fn is_error(icmp_type: u8) -> bool {
    !matches!(icmp_type, 0 | 8 | 9 | 10 | 13 | 14 | 15 | 16 | 17 | 18)
}

#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]])
    }
    /// The 4 bytes after the checksum (identifier+sequence, or unused+MTU).
    pub fn rest(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[4], b[5], b[6], b[7]]
    }
    pub fn echo_ident(&self) -> u16 {
        let r = self.rest();
        u16::from_be_bytes([r[0], r[1]])
    }
    pub fn echo_seq(&self) -> u16 {
        let r = self.rest();
        u16::from_be_bytes([r[2], r[3]])
    }
    /// RFC 1191 next-hop MTU of a "fragmentation needed" message.
    pub fn next_hop_mtu(&self) -> u16 {
        let r = self.rest();
        u16::from_be_bytes([r[2], r[3]])
    }
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref(), 0)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_rest(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v);
    }
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMP message borrowing its data (echo payload, or the quoted datagram
/// of an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    /// `next_hop_mtu` is meaningful for code FRAG_NEEDED only (else 0).
    DstUnreachable {
        code: u8,
        next_hop_mtu: u16,
        quote: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quote: &'a [u8],
    },
    /// RFC 792 Parameter Problem: `pointer` is the offending octet of the
    /// quoted header.
    ParamProblem {
        code: u8,
        pointer: u8,
        quote: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses the messages this router understands; others are Unsupported.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &'a Icmpv4Packet<&'a T>) -> Result<Self, WireError> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let data = &p.buffer.as_ref()[field::DATA..];
        Ok(match (p.msg_type(), p.code()) {
            (msg::ECHO_REQUEST, 0) => Icmpv4Repr::EchoRequest {
                ident: p.echo_ident(),
                seq: p.echo_seq(),
                data,
            },
            (msg::ECHO_REPLY, 0) => Icmpv4Repr::EchoReply {
                ident: p.echo_ident(),
                seq: p.echo_seq(),
                data,
            },
            (msg::DST_UNREACHABLE, code) => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: p.next_hop_mtu(),
                quote: data,
            },
            (msg::TIME_EXCEEDED, code) => Icmpv4Repr::TimeExceeded { code, quote: data },
            (msg::PARAM_PROBLEM, code) => Icmpv4Repr::ParamProblem {
                code,
                pointer: p.rest()[0],
                quote: data,
            },
            _ => return Err(WireError::Unsupported),
        })
    }
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { quote, .. }
                | Icmpv4Repr::TimeExceeded { quote, .. }
                | Icmpv4Repr::ParamProblem { quote, .. } => quote.len(),
            }
    }
    /// Writes the message with its checksum into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let len = self.buffer_len();
        let b = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        let (t, code, rest, data): (u8, u8, [u8; 4], &[u8]) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq, data } => {
                (msg::ECHO_REQUEST, 0, join(ident, seq), data)
            }
            Icmpv4Repr::EchoReply { ident, seq, data } => {
                (msg::ECHO_REPLY, 0, join(ident, seq), data)
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quote,
            } => (msg::DST_UNREACHABLE, code, join(0, next_hop_mtu), quote),
            Icmpv4Repr::TimeExceeded { code, quote } => (msg::TIME_EXCEEDED, code, [0; 4], quote),
            Icmpv4Repr::ParamProblem {
                code,
                pointer,
                quote,
            } => (msg::PARAM_PROBLEM, code, [pointer, 0, 0, 0], quote),
        };
        b[HEADER_LEN..].copy_from_slice(data);
        let mut p = Icmpv4Packet::new_unchecked(b);
        p.set_msg_type(t);
        p.set_code(code);
        p.set_rest(rest);
        p.fill_checksum();
        Ok(())
    }
}

fn join(a: u16, b: u16) -> [u8; 4] {
    let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
    [a[0], a[1], b[0], b[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request id 0x0102 seq 3, data "abcd" (checksum computed below).
    const ECHO: [u8; 12] = [8, 0, 0, 0, 0x01, 0x02, 0x00, 0x03, b'a', b'b', b'c', b'd'];

    fn echo() -> [u8; 12] {
        let mut b = ECHO;
        Icmpv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn parse_echo() {
        let b = echo();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        let other = smoltcp::wire::Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(other.verify_checksum(), "smoltcp agrees with the checksum");
        assert_eq!(other.checksum(), p.checksum());
        assert_eq!(
            Icmpv4Repr::parse(&p).unwrap(),
            Icmpv4Repr::EchoRequest {
                ident: 0x0102,
                seq: 3,
                data: b"abcd"
            }
        );
    }

    #[test]
    fn emit_round_trip() {
        let r = Icmpv4Repr::EchoRequest {
            ident: 0x0102,
            seq: 3,
            data: b"abcd",
        };
        let mut b = [0u8; 12];
        r.emit(&mut b).unwrap();
        assert_eq!(b, echo());
        let quote = [0x45u8; 28];
        let r = Icmpv4Repr::DstUnreachable {
            code: unreach::FRAG_NEEDED,
            next_hop_mtu: 1400,
            quote: &quote,
        };
        let mut b = [0u8; 36];
        r.emit(&mut b).unwrap();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.next_hop_mtu()), (3, 4, 1400));
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        assert_eq!(r.emit(&mut [0u8; 35]), Err(WireError::BufferTooSmall));
        let r = Icmpv4Repr::ParamProblem {
            code: 0,
            pointer: 22,
            quote: &quote,
        };
        r.emit(&mut b).unwrap();
        assert_eq!(&b[..8], &[12, 0, b[2], b[3], 22, 0, 0, 0]);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn bad() {
        let mut b = echo();
        b[9] ^= 1;
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&b[..])),
            Err(WireError::Checksum)
        );
        assert_eq!(
            Icmpv4Packet::new_checked(&b[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert!(is_error(3) && is_error(11) && is_error(5) && !is_error(8) && !is_error(0));
    }
}
