//! Errors that end a session, each with the NOTIFICATION code and subcode
//! RFC 4271 §4.5 / §6 (and RFC 4486, 6608, 7313, 8538) assign to it.
use std::fmt;

/// The (code, subcode) of a NOTIFICATION.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ErrorKind {
    // 1: Message Header Error
    #[error("connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
    #[error("bad message length")]
    BadMessageLength,
    #[error("bad message type")]
    BadMessageType,
    // 2: OPEN Message Error
    #[error("malformed OPEN message")]
    OpenUnspecific,
    #[error("unsupported version number")]
    UnsupportedVersion,
    #[error("bad peer AS")]
    BadPeerAs,
    #[error("bad BGP identifier")]
    BadBgpIdentifier,
    #[error("unsupported optional parameter")]
    UnsupportedOptionalParameter,
    #[error("unacceptable hold time")]
    UnacceptableHoldTime,
    #[error("unsupported capability")]
    UnsupportedCapability,
    // 3: UPDATE Message Error
    #[error("malformed attribute list")]
    MalformedAttributeList,
    #[error("unrecognized well-known attribute")]
    UnrecognizedWellKnownAttribute,
    #[error("missing well-known attribute")]
    MissingWellKnownAttribute,
    #[error("attribute flags error")]
    AttributeFlags,
    #[error("attribute length error")]
    AttributeLength,
    #[error("invalid ORIGIN attribute")]
    InvalidOrigin,
    #[error("invalid NEXT_HOP attribute")]
    InvalidNextHop,
    #[error("optional attribute error")]
    OptionalAttribute,
    #[error("invalid network field")]
    InvalidNetworkField,
    #[error("malformed AS_PATH")]
    MalformedAsPath,
    // 4
    #[error("hold timer expired")]
    HoldTimerExpired,
    // 5: Finite State Machine Error (RFC 6608 subcodes)
    #[error("finite state machine error (subcode {0})")]
    Fsm(u8),
    // 6: Cease (RFC 4486 / RFC 8538 subcodes)
    #[error("cease ({})", cease_name(*.0))]
    Cease(u8),
    // 7: ROUTE-REFRESH Message Error (RFC 7313)
    #[error("route-refresh invalid message length")]
    RouteRefreshLength,
    #[error("notification code {0} subcode {1}")]
    Other(u8, u8),
}

pub const CEASE_MAX_PREFIXES: u8 = 1;
pub const CEASE_ADMIN_SHUTDOWN: u8 = 2;
pub const CEASE_PEER_DECONFIGURED: u8 = 3;
pub const CEASE_ADMIN_RESET: u8 = 4;
pub const CEASE_CONNECTION_REJECTED: u8 = 5;
pub const CEASE_OTHER_CONFIG_CHANGE: u8 = 6;
pub const CEASE_CONNECTION_COLLISION: u8 = 7;
pub const CEASE_OUT_OF_RESOURCES: u8 = 8;
pub const CEASE_HARD_RESET: u8 = 9;

pub const FSM_UNEXPECTED_IN_OPENSENT: u8 = 1;
pub const FSM_UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
pub const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;

fn cease_name(sub: u8) -> &'static str {
    match sub {
        CEASE_MAX_PREFIXES => "maximum number of prefixes reached",
        CEASE_ADMIN_SHUTDOWN => "administrative shutdown",
        CEASE_PEER_DECONFIGURED => "peer de-configured",
        CEASE_ADMIN_RESET => "administrative reset",
        CEASE_CONNECTION_REJECTED => "connection rejected",
        CEASE_OTHER_CONFIG_CHANGE => "other configuration change",
        CEASE_CONNECTION_COLLISION => "connection collision resolution",
        CEASE_OUT_OF_RESOURCES => "out of resources",
        CEASE_HARD_RESET => "hard reset",
        _ => "unknown subcode",
    }
}

impl ErrorKind {
    pub fn code_subcode(self) -> (u8, u8) {
        use ErrorKind::*;
        match self {
            ConnectionNotSynchronized => (1, 1),
            BadMessageLength => (1, 2),
            BadMessageType => (1, 3),
            OpenUnspecific => (2, 0),
            UnsupportedVersion => (2, 1),
            BadPeerAs => (2, 2),
            BadBgpIdentifier => (2, 3),
            UnsupportedOptionalParameter => (2, 4),
            UnacceptableHoldTime => (2, 6),
            UnsupportedCapability => (2, 7),
            MalformedAttributeList => (3, 1),
            UnrecognizedWellKnownAttribute => (3, 2),
            MissingWellKnownAttribute => (3, 3),
            AttributeFlags => (3, 4),
            AttributeLength => (3, 5),
            InvalidOrigin => (3, 6),
            InvalidNextHop => (3, 8),
            OptionalAttribute => (3, 9),
            InvalidNetworkField => (3, 10),
            MalformedAsPath => (3, 11),
            HoldTimerExpired => (4, 0),
            Fsm(s) => (5, s),
            Cease(s) => (6, s),
            RouteRefreshLength => (7, 1),
            Other(c, s) => (c, s),
        }
    }

    pub fn from_code_subcode(code: u8, subcode: u8) -> ErrorKind {
        use ErrorKind::*;
        match (code, subcode) {
            (1, 1) => ConnectionNotSynchronized,
            (1, 2) => BadMessageLength,
            (1, 3) => BadMessageType,
            (2, 0) => OpenUnspecific,
            (2, 1) => UnsupportedVersion,
            (2, 2) => BadPeerAs,
            (2, 3) => BadBgpIdentifier,
            (2, 4) => UnsupportedOptionalParameter,
            (2, 6) => UnacceptableHoldTime,
            (2, 7) => UnsupportedCapability,
            (3, 1) => MalformedAttributeList,
            (3, 2) => UnrecognizedWellKnownAttribute,
            (3, 3) => MissingWellKnownAttribute,
            (3, 4) => AttributeFlags,
            (3, 5) => AttributeLength,
            (3, 6) => InvalidOrigin,
            (3, 8) => InvalidNextHop,
            (3, 9) => OptionalAttribute,
            (3, 10) => InvalidNetworkField,
            (3, 11) => MalformedAsPath,
            (4, 0) => HoldTimerExpired,
            (5, s) => Fsm(s),
            (6, s) => Cease(s),
            (7, 1) => RouteRefreshLength,
            (c, s) => Other(c, s),
        }
    }
}

/// A session-ending error: the NOTIFICATION to send, with its data field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageError {
    pub kind: ErrorKind,
    pub data: Vec<u8>,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, s) = self.kind.code_subcode();
        write!(f, "{} ({c}/{s})", self.kind)
    }
}

impl std::error::Error for MessageError {}

impl MessageError {
    pub fn new(kind: ErrorKind, data: Vec<u8>) -> MessageError {
        MessageError { kind, data }
    }

    pub fn code_subcode(&self) -> (u8, u8) {
        self.kind.code_subcode()
    }

    /// RFC 4271 §6.1: "Bad Message Length" carries the erroneous Length field.
    pub fn bad_length(len: usize) -> MessageError {
        let l = u16::try_from(len).unwrap_or(u16::MAX);
        MessageError::new(ErrorKind::BadMessageLength, l.to_be_bytes().to_vec())
    }
}
