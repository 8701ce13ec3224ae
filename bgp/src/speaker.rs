//! The speaker: peers, their connections, and the glue to the RIB.
use std::net::IpAddr;

use ipnet::IpNet;

/// Identifies one TCP connection between the transport and the speaker.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// What the transport must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to `remote`:`port` (from `local` if set), then
    /// report `connected` or `closed`.
    Connect { conn: ConnId, remote: IpAddr, local: Option<IpAddr>, port: u16 },
    /// Write these bytes (whole BGP messages) to the connection, in order.
    Send { conn: ConnId, data: Vec<u8> },
    /// Flush what was queued and close the connection; the id is dead.
    Close { conn: ConnId },
}

/// A Loc-RIB change for the FIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChange {
    /// Install or replace the route; `next_hops` is sorted, deduplicated,
    /// non-empty (several = ECMP).
    Replace { prefix: IpNet, next_hops: Vec<IpAddr> },
    Remove(IpNet),
}
pub struct Speaker;
