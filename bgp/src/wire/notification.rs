//! RFC 4271 §4.5 NOTIFICATION and RFC 2918 / RFC 7313 ROUTE-REFRESH.
use super::header::{emit_header, patch_length};
use super::{ErrorKind, MessageError, MessageType, HEADER_LEN};

mod field {
    pub const CODE: usize = 19;
    pub const SUBCODE: usize = 20;
    pub const DATA: usize = 21;
    pub const RR_AFI: core::ops::Range<usize> = 19..21;
    pub const RR_SUBTYPE: usize = 21;
    pub const RR_SAFI: usize = 22;
}

pub const NOTIFICATION_MIN_LEN: usize = field::DATA;
pub const ROUTE_REFRESH_LEN: usize = 23;

#[derive(Debug, Clone, Copy)]
pub struct NotificationPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NotificationPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        NotificationPacket { buffer }
    }

    /// RFC 4271 §6.1: a NOTIFICATION shorter than 21 octets has a bad length.
    pub fn new_checked(buffer: T) -> Result<Self, MessageError> {
        let len = buffer.as_ref().len();
        if len < NOTIFICATION_MIN_LEN {
            return Err(MessageError::bad_length(len));
        }
        Ok(NotificationPacket { buffer })
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref().get(field::CODE).copied().unwrap_or(0)
    }
    pub fn subcode(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::SUBCODE)
            .copied()
            .unwrap_or(0)
    }
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(field::DATA..).unwrap_or(&[])
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRepr {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl NotificationRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &NotificationPacket<T>) -> NotificationRepr {
        NotificationRepr {
            code: p.code(),
            subcode: p.subcode(),
            data: p.data().to_vec(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code_subcode(self.code, self.subcode)
    }

    pub fn buffer_len(&self) -> usize {
        NOTIFICATION_MIN_LEN + self.data.len()
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        emit_header(out, MessageType::Notification, 0);
        out.push(self.code);
        out.push(self.subcode);
        // A NOTIFICATION must fit a classic message even after RFC 8654.
        let room = super::MAX_MESSAGE_LEN - NOTIFICATION_MIN_LEN;
        out.extend_from_slice(&self.data[..self.data.len().min(room)]);
        patch_length(out, start);
    }
}

impl From<&MessageError> for NotificationRepr {
    fn from(e: &MessageError) -> Self {
        let (code, subcode) = e.code_subcode();
        NotificationRepr {
            code,
            subcode,
            data: e.data.clone(),
        }
    }
}

impl std::fmt::Display for NotificationRepr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}/{})", self.kind(), self.code, self.subcode)?;
        // RFC 8203/9003 shutdown communication: length-prefixed UTF-8.
        if self.code == 6 && (self.subcode == 2 || self.subcode == 4) {
            if let Some((&n, rest)) = self.data.split_first() {
                if let Some(Ok(s)) = rest.get(..usize::from(n)).map(std::str::from_utf8) {
                    write!(f, ": {s:?}")?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RouteRefreshPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouteRefreshPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        RouteRefreshPacket { buffer }
    }

    /// RFC 7313 §5: "If the length, excluding the fixed-size message
    /// header, of the received ROUTE-REFRESH message with Message Subtype 0
    /// is not 4, then the BGP speaker MUST send a NOTIFICATION message with
    /// the Error Code of 'ROUTE-REFRESH Message Error' and the subcode of
    /// 'Invalid Message Length'."
    pub fn new_checked(buffer: T) -> Result<Self, MessageError> {
        let b = buffer.as_ref();
        if b.len() != ROUTE_REFRESH_LEN {
            let msg = b.get(..HEADER_LEN.min(b.len())).unwrap_or(&[]).to_vec();
            let mut data = msg;
            data.extend_from_slice(b.get(HEADER_LEN..).unwrap_or(&[]));
            return Err(MessageError::new(ErrorKind::RouteRefreshLength, data));
        }
        Ok(RouteRefreshPacket { buffer })
    }

    pub fn afi(&self) -> u16 {
        match self.buffer.as_ref().get(field::RR_AFI) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => 0,
        }
    }
    pub fn subtype(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::RR_SUBTYPE)
            .copied()
            .unwrap_or(0)
    }
    pub fn safi(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::RR_SAFI)
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RouteRefreshRepr {
    pub afi: u16,
    /// RFC 7313: 0 normal request, 1 BoRR, 2 EoRR.
    pub subtype: u8,
    pub safi: u8,
}

impl RouteRefreshRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &RouteRefreshPacket<T>) -> RouteRefreshRepr {
        RouteRefreshRepr {
            afi: p.afi(),
            subtype: p.subtype(),
            safi: p.safi(),
        }
    }

    pub fn buffer_len(&self) -> usize {
        ROUTE_REFRESH_LEN
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        emit_header(out, MessageType::RouteRefresh, 0);
        out.extend_from_slice(&self.afi.to_be_bytes());
        out.push(self.subtype);
        out.push(self.safi);
        patch_length(out, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeContext, Message};

    #[test]
    fn notification_round_trip() {
        let n = NotificationRepr {
            code: 6,
            subcode: 2,
            data: vec![3, b'b', b'y', b'e'],
        };
        let ctx = DecodeContext::default();
        let b = Message::Notification(n.clone()).to_bytes(&ctx);
        assert_eq!(b.len(), n.buffer_len());
        assert_eq!(
            Message::parse(&b, &ctx).unwrap(),
            Message::Notification(n.clone())
        );
        assert_eq!(
            n.to_string(),
            "cease (administrative shutdown) (6/2): \"bye\""
        );
        let mut short = b[..20].to_vec();
        short[17] = 20;
        assert_eq!(
            Message::parse(&short, &ctx).unwrap_err().code_subcode(),
            (1, 2)
        );
    }

    #[test]
    fn route_refresh_round_trip() {
        let r = RouteRefreshRepr {
            afi: 2,
            subtype: 0,
            safi: 1,
        };
        let ctx = DecodeContext::default();
        let b = Message::RouteRefresh(r).to_bytes(&ctx);
        assert_eq!(b.len(), 23);
        assert_eq!(Message::parse(&b, &ctx).unwrap(), Message::RouteRefresh(r));
        let mut long = b.clone();
        long.push(0);
        long[17] = 24;
        assert_eq!(
            Message::parse(&long, &ctx).unwrap_err().code_subcode(),
            (7, 1)
        );
    }
}
