//! Graceful restart, helper side (RFC 4724), with the RFC 8538
//! Notification extension: which session ends keep the peer's routes as
//! stale, when stale routes go, and the Hard Reset wrapper for Cease.
use std::time::Duration;

use tracing::{debug, info};

use super::Speaker;
use crate::config::Family;
use crate::session::{ConnId, Negotiated, Session};
use crate::time::Instant;
use crate::wire::error::CEASE_HARD_RESET;
use crate::wire::NotificationRepr;

/// Why an established session ended; decides graceful restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DownReason {
    /// TCP closed or reset without a NOTIFICATION.
    TcpClosed,
    /// The peer opened a new session while this one was up (RFC 4724 §4.2).
    PeerRestarted,
    HoldTimerExpired,
    NotificationReceived(NotificationRepr),
    /// We sent this NOTIFICATION; `hard` when RFC 8538 says Hard Reset.
    NotificationSent {
        notification: NotificationRepr,
        hard: bool,
    },
}

impl DownReason {
    /// RFC 4724 §4.2 keeps routes when the session ends without a
    /// NOTIFICATION; RFC 8538 §3 extends this, when both sides sent the N
    /// bit, to every NOTIFICATION except Hard Reset (Cease/9) and to hold
    /// timer expiry.
    pub(super) fn keeps_routes(&self, n_bit: bool) -> bool {
        match self {
            DownReason::TcpClosed | DownReason::PeerRestarted => true,
            DownReason::HoldTimerExpired => n_bit,
            DownReason::NotificationReceived(n) => {
                n_bit && !(n.code == 6 && n.subcode == CEASE_HARD_RESET)
            }
            DownReason::NotificationSent { hard, .. } => n_bit && !hard,
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            DownReason::TcpClosed => "connection closed by peer".into(),
            DownReason::PeerRestarted => "peer opened a new session (restart)".into(),
            DownReason::HoldTimerExpired => "hold timer expired".into(),
            DownReason::NotificationReceived(n) => format!("received NOTIFICATION: {n}"),
            DownReason::NotificationSent { notification, .. } => {
                format!("sent NOTIFICATION: {notification}")
            }
        }
    }
}

impl Speaker {
    /// An Established session ended: graceful restart or route removal.
    pub(super) fn session_down(
        &mut self,
        pi: usize,
        sess: &Session,
        reason: DownReason,
        now: Instant,
    ) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        peer.up = false;
        peer.last_change = now;
        peer.prefixes_sent = 0;
        peer.last_error = Some(reason.describe());
        let id = peer.id;
        let neg = sess.negotiated.clone();
        let gr = neg.as_ref().and_then(|n| n.gr.clone());
        let keep = gr
            .as_ref()
            .is_some_and(|g| reason.keeps_routes(g.notification) && g.restart_time > 0);
        info!(peer = %peer.address, reason = %reason.describe(), graceful_restart = keep, "bgp: session down");
        if let (true, Some(gr), Some(neg)) = (keep, gr, neg) {
            // RFC 4724 §4.2: "the Receiving Speaker MUST retain the routes
            // received from the Restarting Speaker for all the address
            // families that were previously received in the Graceful
            // Restart Capability and MUST mark them as stale routing
            // information", and start a timer of the peer's Restart Time.
            for f in &neg.families {
                if gr.families.iter().any(|(g, _)| g == f) {
                    self.rib.mark_stale(id, *f);
                    if !peer.stale_families.contains(f) {
                        peer.stale_families.push(*f);
                    }
                } else {
                    self.rib.remove_peer(id, Some(*f));
                }
            }
            peer.stale_deadline = Some(now + Duration::from_secs(u64::from(gr.restart_time)));
        } else {
            self.rib.remove_peer(id, None);
            peer.stale_families.clear();
            peer.stale_deadline = None;
        }
    }

    pub(super) fn purge_stale(&mut self, pi: usize, family: Option<Family>) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        let fams: Vec<Family> = match family {
            Some(f) => vec![f],
            None => peer.stale_families.clone(),
        };
        for f in fams {
            let n = self.rib.purge_stale(peer.id, Some(f));
            if n > 0 {
                info!(peer = %peer.address, family = ?f, routes = n, "bgp: purged stale routes");
            }
            peer.stale_families.retain(|x| *x != f);
        }
        if peer.stale_families.is_empty() {
            peer.stale_deadline = None;
        }
    }

    /// RFC 4724 §4.2: on re-establishment, stale routes of families the
    /// peer no longer lists in its capability, or lists without the
    /// Forwarding State bit, "MUST be deleted"; the rest wait for its
    /// End-of-RIB, bounded by our stale-routes time.
    pub(super) fn stale_routes_on_reestablish(
        &mut self,
        pi: usize,
        neg: &Negotiated,
        now: Instant,
    ) {
        let Some(peer) = self.peers[pi].as_ref() else {
            return;
        };
        if !peer.stale_families.is_empty() {
            let keep: Vec<Family> = peer
                .stale_families
                .iter()
                .copied()
                .filter(|f| {
                    neg.gr
                        .as_ref()
                        .is_some_and(|g| g.families.contains(&(*f, true)))
                })
                .collect();
            let drop: Vec<Family> = peer
                .stale_families
                .iter()
                .copied()
                .filter(|f| !keep.contains(f))
                .collect();
            for f in drop {
                self.purge_stale(pi, Some(f));
            }
            if let Some(peer) = self.peers[pi].as_mut() {
                if !peer.stale_families.is_empty() {
                    peer.stale_deadline = Some(
                        now + Duration::from_secs(u64::from(
                            self.cfg.graceful_restart.stale_routes_time,
                        )),
                    );
                }
            }
        }
    }

    /// End-of-RIB from the peer for `family` (RFC 4724 §2).
    pub(super) fn end_of_rib_received(&mut self, pi: usize, conn: ConnId, family: Family) {
        let Some(peer) = self.peers[pi].as_mut() else {
            return;
        };
        debug!(peer = %peer.address, family = ?family, "bgp: End-of-RIB received");
        if let Some(si) = peer.session(conn) {
            peer.sessions[si].eor_received[family.index()] = true;
        }
        if !peer.eor_received.contains(&family) {
            peer.eor_received.push(family);
        }
        // RFC 4724 §4.2: on End-of-RIB, "immediately remove all routes
        // from the peer that are still marked as stale" for the family.
        if peer.stale_families.contains(&family) {
            self.purge_stale(pi, Some(family));
        }
    }
}

/// A Cease NOTIFICATION; with `hard` and the RFC 8538 N bit negotiated it
/// is wrapped in a Hard Reset (subcode 9, data = inner code, subcode, data).
/// RFC 8538 §5 requires Hard Reset for Maximum Number of Prefixes Reached,
/// Administrative Shutdown, Peer De-configured and Administrative Reset;
/// the other Cease subcodes (e.g. collision resolution) stay plain.
pub(super) fn cease(sub: u8, hard: bool, neg: Option<&Negotiated>) -> NotificationRepr {
    cease_with(sub, Vec::new(), hard, neg)
}

pub(super) fn cease_with(
    sub: u8,
    data: Vec<u8>,
    hard: bool,
    neg: Option<&Negotiated>,
) -> NotificationRepr {
    let n_bit = neg
        .and_then(|n| n.gr.as_ref())
        .is_some_and(|g| g.notification);
    if hard && n_bit {
        // RFC 8538 §3: "the Hard Reset ... data field: the encapsulated
        // NOTIFICATION's error code, subcode and data".
        let mut d = vec![6, sub];
        d.extend_from_slice(&data);
        NotificationRepr {
            code: 6,
            subcode: CEASE_HARD_RESET,
            data: d,
        }
    } else {
        NotificationRepr {
            code: 6,
            subcode: sub,
            data,
        }
    }
}
