//! BGP-4 message codec (RFC 4271 §4), smoltcp style: per message a
//! zero-copy `…Packet<T: AsRef<[u8]>>` view with named field offsets whose
//! accessors cannot panic once `check_len` succeeded, and a `…Repr` with
//! `parse` / `emit` / `buffer_len`. Parse errors are typed and map onto the
//! NOTIFICATION (code, subcode, data) RFC 4271 §6 prescribes.
//!
//! Hand-written rather than taken from a crate: no maintained crate offers
//! RFC 7606 error actions per attribute, which the speaker needs.

pub mod attr;
pub mod error;
mod family;
mod framer;
mod header;
mod nlri;
mod notification;
pub mod open;
mod update;

#[cfg(test)]
mod proptests;

pub use attr::{
    attr_desc, Aggregator, AsPath, AsSegment, AttrDesc, AttrError, ErrorAction, Origin,
    PathAttributes, RawAttribute, SegmentType, ATTR_TABLE,
};
pub use error::{ErrorKind, MessageError};
pub use family::Family;
pub use framer::Framer;
pub use header::{HeaderPacket, MessageType};
pub use nlri::{emit_prefix, parse_prefix, prefix_wire_len, PrefixIter};
pub use notification::{
    NotificationPacket, NotificationRepr, RouteRefreshPacket, RouteRefreshRepr,
};
pub use open::{Capability, ExtendedNextHop, GrFamily, OpenPacket, OpenRepr};
pub use update::{MpReach, MpUnreach, UpdatePacket, UpdateRepr};

/// RFC 4271 §4.1: the 16-octet marker, all ones.
pub const MARKER: [u8; 16] = [0xff; 16];
pub const HEADER_LEN: usize = 19;
/// RFC 4271 §4.1: maximum message size.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// RFC 8654: maximum size once the Extended Message capability is negotiated.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// RFC 6793: the 2-octet placeholder for a 4-octet AS.
pub const AS_TRANS: u16 = 23456;
pub const BGP_VERSION: u8 = 4;
pub const BGP_PORT: u16 = 179;

pub const AFI_IPV4: u16 = 1;
pub const AFI_IPV6: u16 = 2;
pub const SAFI_UNICAST: u8 = 1;

/// What the codec needs to know about the session to decode an UPDATE.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DecodeContext {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH
    /// and AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// The peer is in another AS (eBGP).
    pub ebgp: bool,
    /// The peer's AS (for the RFC 4271 §6.3 first-AS check on eBGP).
    pub peer_as: u32,
    /// Largest message we accept (4096, or 65535 with RFC 8654).
    pub max_message_len: usize,
    /// RFC 8950 negotiated for IPv4 unicast: its MP_REACH_NLRI may carry
    /// an IPv6 next hop (16 or 32 octets).
    pub extended_next_hop_v4: bool,
}

impl Default for DecodeContext {
    fn default() -> Self {
        DecodeContext {
            four_octet_as: true,
            ebgp: true,
            peer_as: 0,
            max_message_len: MAX_MESSAGE_LEN,
            extended_next_hop_v4: false,
        }
    }
}

/// One parsed BGP message. Messages are transient (parsed, handled,
/// dropped), so the size difference between variants does not matter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Message {
    Open(OpenRepr),
    Update(UpdateRepr),
    Notification(NotificationRepr),
    Keepalive,
    RouteRefresh(RouteRefreshRepr),
}

impl Message {
    /// Parse one whole message (header included), as returned by [`Framer`].
    ///
    /// An `Err` is a session-reset error: send its NOTIFICATION and close.
    /// Softer RFC 7606 outcomes (treat-as-withdraw, attribute discard) are
    /// reported inside `UpdateRepr`.
    pub fn parse(msg: &[u8], ctx: &DecodeContext) -> Result<Message, MessageError> {
        let header = HeaderPacket::new_checked(msg, ctx.max_message_len)?;
        match header.msg_type() {
            MessageType::Open => Ok(Message::Open(OpenRepr::parse(&OpenPacket::new_checked(
                msg,
            )?)?)),
            MessageType::Update => Ok(Message::Update(UpdateRepr::parse(
                &UpdatePacket::new_checked(msg)?,
                ctx,
            )?)),
            MessageType::Notification => Ok(Message::Notification(NotificationRepr::parse(
                &NotificationPacket::new_checked(msg)?,
            ))),
            MessageType::Keepalive => {
                // RFC 4271 §4.4: a KEEPALIVE consists of only the header (19 octets).
                if msg.len() != HEADER_LEN {
                    return Err(MessageError::bad_length(msg.len()));
                }
                Ok(Message::Keepalive)
            }
            MessageType::RouteRefresh => Ok(Message::RouteRefresh(RouteRefreshRepr::parse(
                &RouteRefreshPacket::new_checked(msg)?,
            ))),
            MessageType::Unknown(t) => Err(MessageError::new(ErrorKind::BadMessageType, vec![t])),
        }
    }

    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Append the encoded message (header included) to `out`.
    pub fn emit(&self, ctx: &DecodeContext, out: &mut Vec<u8>) {
        match self {
            Message::Open(o) => o.emit(out),
            Message::Update(u) => u.emit(ctx, out),
            Message::Notification(n) => n.emit(out),
            Message::Keepalive => header::emit_header(out, MessageType::Keepalive, HEADER_LEN),
            Message::RouteRefresh(r) => r.emit(out),
        }
    }

    pub fn to_bytes(&self, ctx: &DecodeContext) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit(ctx, &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_round_trip() {
        let ctx = DecodeContext::default();
        let b = Message::Keepalive.to_bytes(&ctx);
        assert_eq!(b.len(), 19);
        assert_eq!(&b[..16], &MARKER);
        assert_eq!(&b[16..], &[0, 19, 4]);
        assert_eq!(Message::parse(&b, &ctx).unwrap(), Message::Keepalive);
    }

    #[test]
    fn keepalive_with_payload_is_bad_length() {
        let ctx = DecodeContext::default();
        let mut b = Message::Keepalive.to_bytes(&ctx);
        b.push(0);
        b[17] = 20;
        let e = Message::parse(&b, &ctx).unwrap_err();
        assert_eq!(e.code_subcode(), (1, 2));
        assert_eq!(e.data, vec![0, 20]);
    }

    #[test]
    fn unknown_type_is_bad_type() {
        let ctx = DecodeContext::default();
        let mut b = Message::Keepalive.to_bytes(&ctx);
        b[18] = 9;
        let e = Message::parse(&b, &ctx).unwrap_err();
        assert_eq!(e.code_subcode(), (1, 3));
        assert_eq!(e.data, vec![9]);
    }
}
