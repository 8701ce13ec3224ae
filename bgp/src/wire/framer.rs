//! Cuts a TCP byte stream into whole BGP messages.
use super::{HeaderPacket, MessageError, HEADER_LEN, MAX_MESSAGE_LEN};

/// Accumulates stream bytes and yields whole messages. After an error the
/// stream cannot be resynchronised (RFC 4271 has no resync), so the framer
/// stays failed and the session must be closed.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    max_len: usize,
    failed: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    pub fn new() -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            max_len: MAX_MESSAGE_LEN,
            failed: false,
        }
    }

    /// 4096, or 65535 once RFC 8654 Extended Message is negotiated.
    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.failed {
            return;
        }
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole message (header included), `None` when more bytes are
    /// needed, or the header error (RFC 4271 §6.1) that ends the session.
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, MessageError>> {
        if self.failed {
            return None;
        }
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER_LEN {
            self.compact();
            return None;
        }
        let hdr = HeaderPacket::new_unchecked(&avail[..HEADER_LEN]);
        if let Err(e) = hdr.check_header(self.max_len) {
            self.failed = true;
            return Some(Err(e));
        }
        let len = usize::from(hdr.length());
        if avail.len() < len {
            self.compact();
            return None;
        }
        let msg = avail[..len].to_vec();
        self.start += len;
        Some(Ok(msg))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeContext, Message};

    #[test]
    fn splits_and_joins() {
        let ka = Message::Keepalive.to_bytes(&DecodeContext::default());
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(&ka);
        }
        let mut f = Framer::new();
        let mut got = 0;
        for chunk in stream.chunks(7) {
            f.push(chunk);
            while let Some(m) = f.next_message() {
                assert_eq!(m.unwrap(), ka);
                got += 1;
            }
        }
        assert_eq!(got, 3);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn bad_marker_fails_for_good() {
        let mut f = Framer::new();
        f.push(&[0u8; 40]);
        assert_eq!(
            f.next_message().unwrap().unwrap_err().code_subcode(),
            (1, 1)
        );
        assert!(f.next_message().is_none());
    }
}
