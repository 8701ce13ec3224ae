//! Operator views, derived from the speaker's state on demand.
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::Serialize;

use crate::config::Family;

/// RFC 4271 §8.2.2 session states.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub router_id: Ipv4Addr,
    pub local_as: u32,
    /// Prefixes with at least one path in the Loc-RIB.
    pub loc_rib_prefixes: usize,
    pub peers: Vec<PeerSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PeerSummary {
    pub address: IpAddr,
    /// The AS the peer announced in its last OPEN, else the configured one.
    pub remote_as: Option<u32>,
    pub state: SessionState,
    /// Accepted through a listen range.
    pub dynamic: bool,
    pub group: Option<String>,
    pub description: Option<String>,
    /// Seconds since the session went up (Established) or down.
    pub up_down_secs: Option<u64>,
    /// Prefixes in the Adj-RIB-In (before the import filter).
    pub prefixes_received: u64,
    /// Prefixes that passed the import filter and loop checks.
    pub prefixes_accepted: u64,
    pub prefixes_sent: u64,
    pub messages_in: u64,
    pub messages_out: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MessageCounters {
    pub opens_in: u64,
    pub opens_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    pub keepalives_in: u64,
    pub keepalives_out: u64,
    pub notifications_in: u64,
    pub notifications_out: u64,
    pub route_refresh_in: u64,
    pub route_refresh_out: u64,
}

impl MessageCounters {
    pub fn total_in(&self) -> u64 {
        self.opens_in
            + self.updates_in
            + self.keepalives_in
            + self.notifications_in
            + self.route_refresh_in
    }
    pub fn total_out(&self) -> u64 {
        self.opens_out
            + self.updates_out
            + self.keepalives_out
            + self.notifications_out
            + self.route_refresh_out
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct NegotiatedView {
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub extended_message: bool,
    pub graceful_restart: bool,
    /// RFC 8538 N bit advertised by both sides.
    pub gr_notification: bool,
    /// Capability codes the peer sent that we do not act on.
    pub peer_unknown_capabilities: Vec<u8>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GrView {
    /// Restart time the peer advertised (seconds).
    pub peer_restart_time: Option<u16>,
    /// Routes of this peer currently kept as stale.
    pub stale_routes: u64,
    /// Seconds until stale routes are purged, if a timer runs.
    pub stale_purge_in_secs: Option<u64>,
    /// Families whose End-of-RIB we received in this session.
    pub end_of_rib_received: Vec<Family>,
    pub end_of_rib_sent: Vec<Family>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NeighborDetail {
    pub summary: PeerSummary,
    pub local_address: Option<IpAddr>,
    pub remote_router_id: Option<Ipv4Addr>,
    pub configured_hold_time: u16,
    /// Negotiated hold time and keepalive interval (seconds).
    pub hold_time: Option<u16>,
    pub keepalive: Option<u16>,
    pub connect_retry_secs: u16,
    pub passive: bool,
    pub max_prefix: Option<u32>,
    pub capabilities: Option<NegotiatedView>,
    pub graceful_restart: GrView,
    pub last_error: Option<String>,
    pub counters: MessageCounters,
    pub established_transitions: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RouteView {
    pub prefix: IpNet,
    pub paths: Vec<PathView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PathView {
    /// The peer the path came from; `None` for our own networks.
    pub peer: Option<IpAddr>,
    pub next_hop: IpAddr,
    pub best: bool,
    pub multipath: bool,
    pub stale: bool,
    pub reachable: bool,
    /// Rejected by the import filter (kept only for the counters/view).
    pub filtered: bool,
    pub ebgp: bool,
    pub origin: String,
    pub as_path: String,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
}
