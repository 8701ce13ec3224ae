//! Export: our configured networks to a peer with next-hop self, the
//! initial End-of-RIB (RFC 4724 §4.1), and answers to ROUTE-REFRESH
//! (RFC 2918). Nothing learned from a peer is re-advertised.
use std::net::IpAddr;

use ipnet::IpNet;
use tracing::debug;

use super::{send, Speaker};
use crate::config::Family;
use crate::rib::DEFAULT_LOCAL_PREF;
use crate::session::ConnId;
use crate::wire::{
    AsPath, Message, MpReach, MpUnreach, Origin, PathAttributes, RouteRefreshRepr, UpdateRepr,
};

/// Prefixes per UPDATE when exporting (well inside 4096 octets).
const EXPORT_CHUNK_V4: usize = 500;
const EXPORT_CHUNK_V6: usize = 150;

impl Speaker {
    /// Send our configured networks of `family` with next-hop self.
    pub(super) fn export_family(&mut self, pi: usize, conn: ConnId, family: Family) {
        let nets: Vec<IpNet> = self
            .cfg
            .networks
            .iter()
            .copied()
            .filter(|n| Family::of(n) == family)
            .collect();
        self.announce_networks(pi, conn, family, &nets);
    }

    /// Announce `nets` (all of `family`) with next-hop self; how many were
    /// sent (0 when the family is not negotiated or there is no next hop
    /// of the family: IPv4 networks need an IPv4 session).
    pub(super) fn announce_networks(
        &mut self,
        pi: usize,
        conn: ConnId,
        family: Family,
        nets: &[IpNet],
    ) -> u64 {
        let Some(peer) = self.peers[pi].as_mut() else {
            return 0;
        };
        let Some(si) = peer.session(conn) else {
            return 0;
        };
        let s = &peer.sessions[si];
        let (Some(local), Some(neg)) = (s.local, s.negotiated.as_ref()) else {
            return 0;
        };
        let ctx = s.ctx;
        if nets.is_empty() || !neg.has_family(family) {
            return 0;
        }
        // Next-hop self: for IPv6 networks the session's IPv6 next hop,
        // whatever the family of the TCP connection (RFC 4760 carries IPv6
        // routes over an IPv4 session); an IPv4 network over an IPv6 session
        // would need RFC 8950 and is not sent.
        let nh6 = s.nh6.for_local(local);
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            // RFC 4271 §5.1.2: to an external peer we prepend our AS; to an
            // internal peer the AS_PATH of a locally originated route is empty.
            as_path: Some(if neg.ebgp {
                AsPath::sequence(vec![self.cfg.local_as])
            } else {
                AsPath::default()
            }),
            local_pref: (!neg.ebgp).then_some(DEFAULT_LOCAL_PREF),
            ..Default::default()
        };
        let mut sent = 0u64;
        match (family, local) {
            (Family::Ipv4Unicast, IpAddr::V4(l)) => {
                for chunk in nets.chunks(EXPORT_CHUNK_V4) {
                    let mut a = attrs.clone();
                    a.next_hop = Some(l);
                    let u = UpdateRepr {
                        attrs: a,
                        nlri: chunk.to_vec(),
                        ..Default::default()
                    };
                    send(
                        &mut self.actions,
                        &mut peer.counters,
                        conn,
                        &Message::Update(u),
                        &ctx,
                    );
                    sent += chunk.len() as u64;
                }
            }
            // RFC 8950 §4: with the capability negotiated on an IPv6 session,
            // IPv4 networks go in MP_REACH_NLRI with our IPv6 next hop.
            (Family::Ipv6Unicast, _) | (Family::Ipv4Unicast, IpAddr::V6(_))
                if nh6.is_some() && (family == Family::Ipv6Unicast || neg.extended_next_hop_v4) =>
            {
                let Some((global, link_local)) = nh6 else {
                    return 0;
                };
                for chunk in nets.chunks(EXPORT_CHUNK_V6) {
                    // RFC 2545 §3: the global address, then the link-local
                    // one when the peer shares our link.
                    let mp = MpReach {
                        family,
                        next_hop: IpAddr::V6(global),
                        link_local,
                        nlri: chunk.to_vec(),
                    };
                    let u = UpdateRepr {
                        attrs: attrs.clone(),
                        mp_reach: Some(mp),
                        ..Default::default()
                    };
                    send(
                        &mut self.actions,
                        &mut peer.counters,
                        conn,
                        &Message::Update(u),
                        &ctx,
                    );
                    sent += chunk.len() as u64;
                }
            }
            _ => {
                debug!(peer = %peer.address, ?family, "bgp: no next-hop-self address of this family; networks not sent")
            }
        }
        peer.prefixes_sent += sent;
        sent
    }

    /// Withdraw `nets` (all of `family`, previously announced by
    /// [`Self::announce_networks`]): the IPv4 withdrawn-routes field or
    /// MP_UNREACH_NLRI (RFC 4760 §4). The same next-hop-self rule decides
    /// whether they were sent, so only those are withdrawn; the count.
    pub(super) fn withdraw_networks(
        &mut self,
        pi: usize,
        conn: ConnId,
        family: Family,
        nets: &[IpNet],
    ) -> u64 {
        let Some(peer) = self.peers[pi].as_mut() else {
            return 0;
        };
        let Some(si) = peer.session(conn) else {
            return 0;
        };
        let s = &peer.sessions[si];
        let Some(local) = s.local else { return 0 };
        let ctx = s.ctx;
        let has = s.negotiated.as_ref().is_some_and(|n| n.has_family(family));
        if nets.is_empty() || !has {
            return 0;
        }
        let nh6 = s.nh6.for_local(local);
        let ext_v4 = s
            .negotiated
            .as_ref()
            .is_some_and(|n| n.extended_next_hop_v4);
        let mut sent = 0u64;
        match (family, local) {
            (Family::Ipv4Unicast, IpAddr::V4(_)) => {
                for chunk in nets.chunks(EXPORT_CHUNK_V4) {
                    let u = UpdateRepr {
                        withdrawn: chunk.to_vec(),
                        ..Default::default()
                    };
                    send(
                        &mut self.actions,
                        &mut peer.counters,
                        conn,
                        &Message::Update(u),
                        &ctx,
                    );
                    sent += chunk.len() as u64;
                }
            }
            (Family::Ipv6Unicast, _) | (Family::Ipv4Unicast, IpAddr::V6(_))
                if nh6.is_some() && (family == Family::Ipv6Unicast || ext_v4) =>
            {
                for chunk in nets.chunks(EXPORT_CHUNK_V6) {
                    let u = UpdateRepr {
                        mp_unreach: Some(MpUnreach {
                            family,
                            withdrawn: chunk.to_vec(),
                        }),
                        ..Default::default()
                    };
                    send(
                        &mut self.actions,
                        &mut peer.counters,
                        conn,
                        &Message::Update(u),
                        &ctx,
                    );
                    sent += chunk.len() as u64;
                }
            }
            _ => {}
        }
        peer.prefixes_sent = peer.prefixes_sent.saturating_sub(sent);
        sent
    }

    pub(super) fn handle_route_refresh(&mut self, pi: usize, conn: ConnId, r: RouteRefreshRepr) {
        let Some(peer) = self.peers[pi].as_ref() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        // RFC 2918 §4: a request for an AFI/SAFI not negotiated is ignored.
        let Some(f) = Family::from_afi_safi(r.afi, r.safi) else {
            return;
        };
        if !peer.sessions[si]
            .negotiated
            .as_ref()
            .is_some_and(|n| n.has_family(f))
        {
            return;
        }
        // Re-send the Adj-RIB-Out (our networks) for the family.
        if let Some(p) = self.peers[pi].as_mut() {
            p.prefixes_sent = p.prefixes_sent.saturating_sub(
                self.cfg
                    .networks
                    .iter()
                    .filter(|n| Family::of(n) == f)
                    .count() as u64,
            );
        }
        self.export_family(pi, conn, f);
    }

    /// RFC 4724 §4.1: End-of-RIB for every family once the initial
    /// update is sent — peers such as Cilium hold back their routes
    /// until they see ours.
    pub(super) fn send_end_of_rib(&mut self, pi: usize, conn: ConnId, families: &[Family]) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let Some(si) = peer.session(conn) else { return };
        let ctx = peer.sessions[si].ctx;
        for &f in families {
            send(
                &mut self.actions,
                &mut peer.counters,
                conn,
                &Message::Update(UpdateRepr::end_of_rib_marker(f)),
                &ctx,
            );
            peer.sessions[si].eor_sent[f.index()] = true;
            peer.eor_sent.push(f);
        }
    }
}
