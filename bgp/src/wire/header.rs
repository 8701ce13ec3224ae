//! RFC 4271 §4.1 message header: 16-octet marker, 2-octet length, 1-octet type.
use super::{ErrorKind, MessageError, HEADER_LEN, MARKER};

mod field {
    use core::ops::Range;
    pub const MARKER: Range<usize> = 0..16;
    pub const LENGTH: Range<usize> = 16..18;
    pub const TYPE: usize = 18;
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Open,
    Update,
    Notification,
    Keepalive,
    RouteRefresh,
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            t => MessageType::Unknown(t),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
            MessageType::Unknown(t) => t,
        }
    }
}

/// Zero-copy view of a message header.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HeaderPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        HeaderPacket { buffer }
    }

    /// The buffer holds at least a header.
    pub fn check_len(&self) -> bool {
        self.buffer.as_ref().len() >= HEADER_LEN
    }

    /// Validate the header of one whole message: marker, Length equal to the
    /// buffer length and within `HEADER_LEN..=max_len`.
    pub fn new_checked(buffer: T, max_len: usize) -> Result<Self, MessageError> {
        let p = Self::new_unchecked(buffer);
        if !p.check_len() {
            return Err(MessageError::bad_length(p.buffer.as_ref().len()));
        }
        p.check_header(max_len)?;
        let len = usize::from(p.length());
        if len != p.buffer.as_ref().len() {
            return Err(MessageError::bad_length(len));
        }
        Ok(p)
    }

    /// RFC 4271 §6.1: marker all ones, else "Connection Not Synchronized";
    /// Length below 19 or above the maximum, else "Bad Message Length".
    /// Only needs the 19 header octets.
    pub fn check_header(&self, max_len: usize) -> Result<(), MessageError> {
        if !self.marker_ok() {
            return Err(MessageError::new(
                ErrorKind::ConnectionNotSynchronized,
                Vec::new(),
            ));
        }
        let len = usize::from(self.length());
        if len < HEADER_LEN || len > max_len {
            return Err(MessageError::bad_length(len));
        }
        Ok(())
    }

    pub fn marker_ok(&self) -> bool {
        self.buffer
            .as_ref()
            .get(field::MARKER)
            .is_some_and(|m| m == MARKER)
    }

    pub fn length(&self) -> u16 {
        let b = self.buffer.as_ref();
        match b.get(field::LENGTH) {
            Some(l) => u16::from_be_bytes([l[0], l[1]]),
            None => 0,
        }
    }

    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref().get(field::TYPE).copied().unwrap_or(0))
    }
}

/// Append a header for a message of `len` octets in total.
pub(crate) fn emit_header(out: &mut Vec<u8>, t: MessageType, len: usize) {
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    out.push(u8::from(t));
}

/// Patch the Length field of a message that starts at `start` in `out`.
pub(crate) fn patch_length(out: &mut [u8], start: usize) {
    let len = out.len() - start;
    let l = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    out[start + field::LENGTH.start] = l[0];
    out[start + field::LENGTH.start + 1] = l[1];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_marker() {
        let mut b = [0xffu8; 19];
        b[3] = 0;
        b[16] = 0;
        b[17] = 19;
        b[18] = 4;
        let e = HeaderPacket::new_checked(&b[..], 4096).unwrap_err();
        assert_eq!(e.code_subcode(), (1, 1));
    }

    #[test]
    fn length_bounds() {
        let mut b = [0xffu8; 19];
        b[16] = 0;
        b[17] = 18;
        b[18] = 4;
        let e = HeaderPacket::new_checked(&b[..], 4096).unwrap_err();
        assert_eq!((e.code_subcode(), e.data.clone()), ((1, 2), vec![0, 18]));
        b[16] = 0x10;
        b[17] = 0x01; // 4097
        assert_eq!(
            HeaderPacket::new_unchecked(&b[..])
                .check_header(4096)
                .unwrap_err()
                .data,
            vec![0x10, 0x01]
        );
        assert!(HeaderPacket::new_unchecked(&b[..])
            .check_header(65535)
            .is_ok());
        // Shorter buffer than the Length says.
        b[16] = 0;
        b[17] = 23;
        assert_eq!(
            HeaderPacket::new_checked(&b[..], 4096)
                .unwrap_err()
                .code_subcode(),
            (1, 2)
        );
        assert!(HeaderPacket::new_checked(&b[..3], 4096).is_err());
    }
}
