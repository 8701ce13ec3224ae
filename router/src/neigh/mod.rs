//! Neighbour resolution, ARP (IPv4) and NDP (IPv6) alike: a bounded table the forwarding workers read
//! without locks ([`table`]), and the resolution state machine the slow
//! path drives ([`cache`]), which publishes into it.
//!
//! [`NeighTable`] is an open-addressed array of seqlocked slots. Exactly one
//! writer (the slow path, holding the [`NeighWriter`] token) publishes
//! entries; workers look up `(port, address)` with a few atomic loads. A
//! reader that races a write (or a backward-shift delete) may miss an entry
//! for an instant; a miss only sends the packet to the slow path, which holds
//! the authoritative state in [`NeighCache`] and sorts it out.
//!
//! States (RFC 1122 §2.3.2.1, after Linux's NUD states): INCOMPLETE
//! (resolving: broadcast requests, at most one per `retrans` per address,
//! packets queued), REACHABLE (confirmed within `reachable_time`), STALE
//! (usable; a use triggers re-probing), PROBE (usable; unicast requests
//! outstanding), FAILED (resolution failed: packets get ICMP host
//! unreachable until the entry is dropped after `failed_hold`).
use crate::ports::PortId;
use crate::wire::ethernet::MacAddr;

pub mod cache;
pub mod table;

pub use self::cache::{ArpSeen, NeighAction, NeighCache, NeighOptions, Resolve};
pub use self::table::{NeighTable, NeighWriter};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NeighState {
    Incomplete = 1,
    Reachable = 2,
    Stale = 3,
    Probe = 4,
    Failed = 5,
}

impl NeighState {
    fn from_u8(v: u8) -> Option<NeighState> {
        Some(match v {
            1 => NeighState::Incomplete,
            2 => NeighState::Reachable,
            3 => NeighState::Stale,
            4 => NeighState::Probe,
            5 => NeighState::Failed,
            _ => return None,
        })
    }
    /// The link-layer address may be used to transmit.
    pub fn is_usable(self) -> bool {
        matches!(
            self,
            NeighState::Reachable | NeighState::Stale | NeighState::Probe
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
        }
    }
}

/// An address family the neighbour machinery serves: `Ipv4Addr` (ARP) and
/// `Ipv6Addr` (NDP) share the table, the states and the timers; only the
/// slot key differs.
pub trait NeighAddr:
    Copy + Eq + std::hash::Hash + std::fmt::Debug + std::fmt::Display + Send + Sync + 'static
{
    /// "ipv4" or "ipv6" (for display).
    const FAMILY: &'static str;
    /// The table key of (`port`, `self`); word 0 has [`table::KEY_VALID`] set.
    fn key(self, port: PortId) -> table::Key;
    /// The (port, address) a key was made from.
    fn from_key(k: &table::Key) -> (PortId, Self);
}

/// What a worker learns from a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighHit {
    pub mac: MacAddr,
    pub state: NeighState,
}
