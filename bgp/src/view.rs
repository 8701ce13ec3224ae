//! Operator views (`show bgp summary / neighbors / routes`), derived from
//! the speaker's state on demand and serialisable for the control socket.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Family, RemoteAs};
use crate::speaker::{Peer, Speaker};
use crate::time::Instant;
use crate::wire::Origin;

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
    /// `prefixes_received` / `prefixes_accepted` per AFI/SAFI: every
    /// family configured for the peer, and any other it still has paths in
    /// (e.g. stale ones after a families change). Sums to the totals.
    pub families: Vec<FamilyPrefixes>,
    pub messages_in: u64,
    pub messages_out: u64,
}

/// One peer's prefix counts in one AFI/SAFI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FamilyPrefixes {
    pub family: Family,
    /// `(afi, safi)` as on the wire (RFC 4760), for exporters' labels.
    pub afi: u16,
    pub safi: u8,
    pub received: u64,
    pub accepted: u64,
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
    /// Seconds since the path was received as it is now (a
    /// re-announcement that changed nothing does not reset it); `None`
    /// for our own networks.
    pub age_secs: Option<u64>,
}

impl Speaker {
    pub(crate) fn peer_summary(&self, peer: &Peer, now: Instant) -> PeerSummary {
        let st = self.rib.stats(peer.id);
        PeerSummary {
            address: peer.address,
            remote_as: peer.last_negotiated.as_ref().map(|n| n.peer_as).or(
                match peer.cfg.remote_as {
                    RemoteAs::Number(n) => Some(n),
                    RemoteAs::Internal => Some(self.cfg.local_as),
                    RemoteAs::External => None,
                },
            ),
            state: peer.state(),
            dynamic: peer.dynamic,
            group: peer.cfg.group.clone(),
            description: peer.cfg.description.clone(),
            up_down_secs: Some((now - peer.last_change).as_secs()),
            prefixes_received: st.received,
            prefixes_accepted: st.accepted,
            prefixes_sent: peer.prefixes_sent,
            families: Family::ALL
                .iter()
                .filter_map(|&f| {
                    let c = st.by_family[f.index()];
                    let (afi, safi) = f.afi_safi();
                    (peer.cfg.families.contains(&f) || c.received > 0).then_some(FamilyPrefixes {
                        family: f,
                        afi,
                        safi,
                        received: c.received,
                        accepted: c.accepted,
                    })
                })
                .collect(),
            messages_in: peer.counters.total_in(),
            messages_out: peer.counters.total_out(),
        }
    }

    pub fn summary(&self, now: Instant) -> Summary {
        let mut peers: Vec<PeerSummary> = self
            .peers
            .iter()
            .flatten()
            .map(|p| self.peer_summary(p, now))
            .collect();
        peers.sort_by_key(|p| p.address);
        Summary {
            router_id: self.cfg.router_id,
            local_as: self.cfg.local_as,
            loc_rib_prefixes: self.rib.prefix_count(),
            peers,
        }
    }

    pub fn neighbors(&self, now: Instant, filter: Option<IpAddr>) -> Vec<NeighborDetail> {
        let mut out: Vec<NeighborDetail> = self
            .peers
            .iter()
            .flatten()
            .filter(|p| filter.is_none_or(|a| a == p.address))
            .map(|p| {
                let est = p.established();
                let neg = est.and_then(|s| s.negotiated.as_ref());
                NeighborDetail {
                    summary: self.peer_summary(p, now),
                    local_address: est.and_then(|s| s.local).or(p.last_local),
                    remote_router_id: neg.map(|n| n.peer_id),
                    configured_hold_time: p.cfg.hold_time,
                    hold_time: neg.map(|n| n.hold_time),
                    keepalive: neg.map(|n| n.keepalive),
                    connect_retry_secs: p.cfg.connect_retry,
                    passive: p.cfg.passive || p.dynamic,
                    max_prefix: p.cfg.max_prefix,
                    capabilities: neg.map(|n| NegotiatedView {
                        families: n.families.clone(),
                        four_octet_as: n.four_octet_as,
                        route_refresh: n.route_refresh,
                        extended_message: n.extended_message,
                        graceful_restart: n.gr.is_some(),
                        gr_notification: n.gr.as_ref().is_some_and(|g| g.notification),
                        peer_unknown_capabilities: n.peer_unknown_capabilities.clone(),
                    }),
                    graceful_restart: GrView {
                        peer_restart_time: p
                            .last_negotiated
                            .as_ref()
                            .and_then(|n| n.gr.as_ref())
                            .map(|g| g.restart_time),
                        stale_routes: self.rib.stats(p.id).stale,
                        stale_purge_in_secs: p.stale_deadline.map(|d| (d - now).as_secs()),
                        end_of_rib_received: p.eor_received.clone(),
                        end_of_rib_sent: p.eor_sent.clone(),
                    },
                    last_error: p.last_error.clone(),
                    counters: p.counters.clone(),
                    established_transitions: p.established_transitions,
                }
            })
            .collect();
        out.sort_by_key(|d| d.summary.address);
        out
    }

    /// Loc-RIB paths, all prefixes or the one given (exact match, else the
    /// longest prefix containing it).
    pub fn routes(&self, prefix: Option<IpNet>, now: Instant) -> Vec<RouteView> {
        let mut prefixes = self.rib.prefixes();
        for n in &self.cfg.networks {
            if !prefixes.contains(n) {
                prefixes.push(*n);
            }
        }
        prefixes.sort();
        if let Some(want) = prefix {
            let exact = prefixes.iter().find(|p| **p == want).copied();
            let chosen = exact.or_else(|| {
                prefixes
                    .iter()
                    .filter(|p| p.contains(&want))
                    .max_by_key(|p| p.prefix_len())
                    .copied()
            });
            prefixes = chosen.into_iter().collect();
        }
        prefixes
            .into_iter()
            .map(|p| self.route_view(p, now))
            .collect()
    }

    fn route_view(&self, prefix: IpNet, now: Instant) -> RouteView {
        let mut paths: Vec<PathView> = Vec::new();
        if self.cfg.networks.contains(&prefix) {
            paths.push(PathView {
                peer: None,
                next_hop: match prefix {
                    IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                best: false,
                multipath: false,
                stale: false,
                reachable: true,
                filtered: false,
                ebgp: false,
                origin: Origin::Igp.to_string(),
                as_path: String::new(),
                med: None,
                local_pref: None,
                communities: Vec::new(),
                large_communities: Vec::new(),
                age_secs: None,
            });
        }
        for (p, best, multipath) in self.rib.paths_of(&prefix) {
            let info = self.rib.peer_info(p.peer);
            let a = &p.attrs.attrs;
            paths.push(PathView {
                peer: info.map(|i| i.address),
                next_hop: p.attrs.next_hop,
                best,
                multipath,
                stale: p.stale(),
                reachable: self.rib.nexthop_reachable(self.rib.path_next_hop(&p)),
                filtered: p.filtered(),
                ebgp: info.is_some_and(|i| i.ebgp),
                origin: a.origin.map_or_else(|| "?".to_string(), |o| o.to_string()),
                as_path: a
                    .as_path
                    .as_ref()
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
                med: a.med,
                local_pref: a.local_pref,
                communities: a
                    .communities
                    .iter()
                    .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                    .collect(),
                large_communities: a
                    .large_communities
                    .iter()
                    .map(|c| format!("{}:{}:{}", c[0], c[1], c[2]))
                    .collect(),
                age_secs: Some(now.saturating_duration_since(p.attrs.received).as_secs()),
            });
        }
        RouteView { prefix, paths }
    }
}
