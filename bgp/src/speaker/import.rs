//! Import: an UPDATE's withdrawals and announcements into the RIB, with
//! the RFC 7606 outcomes the codec reported, loop and own-next-hop checks,
//! the import filter and the maximum-prefix limit (RFC 4486).
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use tracing::{debug, warn};

use super::graceful_restart::{cease_with, DownReason};
use super::Speaker;
use crate::config::Family;
use crate::rib::RouteAttrs;
use crate::session::ConnId;
use crate::time::Instant;
use crate::wire::error::CEASE_MAX_PREFIXES;
use crate::wire::UpdateRepr;

impl Speaker {
    pub(super) fn handle_update(&mut self, pi: usize, conn: ConnId, u: UpdateRepr, now: Instant) {
        let local_as = self.cfg.local_as;
        let router_id = self.cfg.router_id;
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let Some(neg) = peer.sessions[si].negotiated.clone() else {
            return;
        };
        let local = peer.sessions[si].local;
        let id = peer.id;

        for d in &u.discarded {
            debug!(peer = %peer.address, error = %d, "bgp: attribute discarded");
        }
        if let Some(f) = u.end_of_rib() {
            self.end_of_rib_received(pi, conn, f);
            return;
        }

        // Withdrawals.
        if neg.has_family(Family::Ipv4Unicast) {
            for p in &u.withdrawn {
                self.rib.withdraw(id, *p);
            }
        }
        if let Some(un) = &u.mp_unreach {
            if neg.has_family(un.family) {
                for p in &un.withdrawn {
                    self.rib.withdraw(id, *p);
                }
            }
        }

        // Announcements: (next hop, link-local next hop, prefixes) for the
        // IPv4 NLRI field and for MP_REACH_NLRI.
        let mut groups: Vec<(IpAddr, Option<std::net::Ipv6Addr>, &[IpNet])> = Vec::new();
        if !u.nlri.is_empty() && neg.has_family(Family::Ipv4Unicast) {
            // Without NEXT_HOP the UPDATE is treat-as-withdraw (RFC 7606
            // §3 d), so the placeholder never reaches the RIB.
            let nh = u.attrs.next_hop.unwrap_or(Ipv4Addr::UNSPECIFIED);
            groups.push((IpAddr::V4(nh), None, &u.nlri));
        }
        if let Some(mp) = &u.mp_reach {
            if neg.has_family(mp.family) && !mp.nlri.is_empty() {
                groups.push((mp.next_hop, mp.link_local, &mp.nlri));
            }
        }
        if groups.is_empty() {
            return;
        }

        // Reasons to handle the announcements as withdrawals.
        let withdraw_reason: Option<String> = if let Some(e) = &u.treat_as_withdraw {
            // RFC 7606 treat-as-withdraw (section cited in the error).
            Some(e.to_string())
        } else if u
            .attrs
            .as_path
            .as_ref()
            .is_some_and(|p| p.contains(local_as))
        {
            // RFC 4271 §9.1.2: a route whose AS_PATH contains our own AS is
            // a loop and is excluded.
            Some(format!("AS_PATH contains our AS {local_as}"))
        } else {
            None
        };
        let peer_addr = peer.address;
        let import = peer.cfg.import.clone();
        if let Some(r) = &withdraw_reason {
            debug!(peer = %peer_addr, reason = %r, "bgp: UPDATE handled as withdraw");
        }
        for (nh, ll, nlri) in groups {
            // RFC 4271 §6.3 / §5.1.3: a NEXT_HOP that is the receiving
            // speaker's own address is semantically incorrect; the route is ignored.
            let own_nh = Some(nh) == local || nh == IpAddr::V4(router_id);
            if withdraw_reason.is_some() || own_nh {
                if own_nh {
                    debug!(peer = %peer_addr, next_hop = %nh, "bgp: NEXT_HOP is our own address; routes ignored");
                }
                for p in nlri {
                    self.rib.withdraw(id, *p);
                }
                continue;
            }
            let attrs = self.rib.intern(RouteAttrs {
                attrs: u.attrs.clone(),
                next_hop: nh,
                link_local: ll,
                received: Instant::from_secs(now.total_millis() / 1000),
            });
            for p in nlri {
                let filtered = import.as_ref().is_some_and(|f| !f.permits(p));
                self.rib.announce(id, *p, attrs.clone(), filtered);
            }
        }

        self.enforce_max_prefix(pi, conn, now);
    }

    /// Per-peer maximum prefix limit: RFC 4486 §4 Cease subcode 1, data
    /// AFI, SAFI and the upper bound; the session goes down with its
    /// routes (a Hard Reset where RFC 8538 applies). Whether it fired.
    pub(super) fn enforce_max_prefix(&mut self, pi: usize, conn: ConnId, now: Instant) -> bool {
        let Some(peer) = self.peers[pi].as_ref() else {
            return false;
        };
        let Some(max) = peer.cfg.max_prefix else {
            return false;
        };
        let Some(si) = peer.session(conn) else {
            return false;
        };
        let neg = peer.sessions[si].negotiated.clone();
        let accepted = self.rib.stats(peer.id).accepted;
        if accepted <= u64::from(max) {
            return false;
        }
        warn!(peer = %peer.address, accepted, max, "bgp: maximum prefix limit exceeded");
        let mut data = Vec::with_capacity(7);
        data.extend_from_slice(&crate::wire::AFI_IPV4.to_be_bytes());
        data.push(crate::wire::SAFI_UNICAST);
        data.extend_from_slice(&max.to_be_bytes());
        let n = cease_with(CEASE_MAX_PREFIXES, data, true, neg.as_ref());
        let reason = DownReason::NotificationSent {
            notification: n.clone(),
            hard: true,
        };
        self.drop_session(pi, conn, Some(n), Some(reason), now);
        true
    }
}
