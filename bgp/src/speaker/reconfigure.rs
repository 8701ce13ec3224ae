//! Live reconfiguration: [`Speaker::reconfigure`] applies the difference
//! between the running configuration and a new one, touching only the
//! peers the difference concerns.
//!
//! Per peer (configured neighbour, or dynamic neighbour through the listen
//! range that now covers it), comparing the merged settings:
//!
//! * gone from the configuration: every connection is closed with Cease /
//!   Peer De-configured (RFC 4486 subcode 3; inside a Hard Reset where the
//!   RFC 8538 N bit was negotiated) and the peer's routes leave the RIB;
//! * a setting our OPEN carries or the peer's OPEN was checked against
//!   (local AS, router id, hold time, families, graceful restart and its
//!   restart time / N bit, a remote AS the running session no longer
//!   matches): the sessions that sent an OPEN are closed with Cease / Other
//!   Configuration Change (subcode 6, never a Hard Reset: RFC 8538 §5 lists
//!   it under graceful restart, so a GR peer keeps our routes and we keep
//!   its routes stale until it re-sends them) and the peer reconnects at
//!   once with the new settings;
//! * everything else is applied to the running session: the import filter
//!   is re-run over the Adj-RIB-In (rejected paths were always kept, marked
//!   filtered), the max-prefix limit is re-checked (exceeded: Cease/1 as on
//!   import, the session and its routes go), keepalive, connect-retry,
//!   passive, description and group name take effect in place.
//!
//! Speaker-wide: `networks` changes become UPDATEs and withdrawals to every
//! Established session; `maximum_paths` / `multipath_relax` reselect every
//! prefix; `stale_routes_time` applies to the next stale period.
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};
use tracing::info;

use super::graceful_restart::{cease, DownReason};
use super::Speaker;
use crate::config::{ConfigError, EffectivePeerConfig, Family, ListenRange, SpeakerConfig};
use crate::rib::Refiltered;
use crate::session::{keepalive_interval, ConnId, ConnState, Negotiated};
use crate::time::Instant;
use crate::wire::error::{CEASE_OTHER_CONFIG_CHANGE, CEASE_PEER_DECONFIGURED};

/// A configuration key whose change the report names. Serialised (and
/// displayed) as the `bgp::config` field name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigKey {
    LocalAs,
    RouterId,
    Networks,
    MaximumPaths,
    MultipathRelax,
    /// `graceful_restart.restart_time` (speaker-wide, in our OPEN).
    RestartTime,
    /// `graceful_restart.notification` (the RFC 8538 N bit in our OPEN).
    GrNotification,
    /// `graceful_restart.stale_routes_time`.
    StaleRoutesTime,
    RemoteAs,
    HoldTime,
    Keepalive,
    ConnectRetry,
    Passive,
    MaxPrefix,
    Import,
    Families,
    /// The peer's effective `graceful_restart` switch.
    GracefulRestart,
    Group,
    Description,
    /// A dynamic neighbour that is now a configured one.
    Neighbor,
}

impl ConfigKey {
    pub fn name(self) -> &'static str {
        match self {
            ConfigKey::LocalAs => "local_as",
            ConfigKey::RouterId => "router_id",
            ConfigKey::Networks => "networks",
            ConfigKey::MaximumPaths => "maximum_paths",
            ConfigKey::MultipathRelax => "multipath_relax",
            ConfigKey::RestartTime => "graceful_restart.restart_time",
            ConfigKey::GrNotification => "graceful_restart.notification",
            ConfigKey::StaleRoutesTime => "graceful_restart.stale_routes_time",
            ConfigKey::RemoteAs => "remote_as",
            ConfigKey::HoldTime => "hold_time",
            ConfigKey::Keepalive => "keepalive",
            ConfigKey::ConnectRetry => "connect_retry",
            ConfigKey::Passive => "passive",
            ConfigKey::MaxPrefix => "max_prefix",
            ConfigKey::Import => "import",
            ConfigKey::Families => "families",
            ConfigKey::GracefulRestart => "graceful_restart",
            ConfigKey::Group => "group",
            ConfigKey::Description => "description",
            ConfigKey::Neighbor => "neighbors",
        }
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ConfigKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// What happened to one peer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighborAction {
    /// New neighbour; it connects (or waits, if passive) like at start.
    Added,
    /// Closed with Cease / Peer De-configured; its routes withdrawn.
    Removed,
    /// Its sessions were closed with Cease / Other Configuration Change
    /// (`reset_keys` says why) and it reconnects with the new settings.
    /// Without a session that had sent an OPEN, only the settings changed.
    Reset,
    /// Settings applied to the running session (`updated_keys`).
    Updated,
    /// Configuration unchanged; only our networks were (un)announced.
    Unchanged,
}

/// One peer's part of a [`ReconfigureReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NeighborReport {
    pub address: IpAddr,
    /// Accepted through a listen range (before this reconfiguration, for a
    /// removed one).
    pub dynamic: bool,
    pub action: NeighborAction,
    /// The keys that forced the reset (`Reset` only).
    pub reset_keys: Vec<ConfigKey>,
    /// Keys applied without a reset.
    pub updated_keys: Vec<ConfigKey>,
    /// Whether a session that had sent an OPEN was closed (`Removed`/`Reset`).
    pub session_closed: bool,
    /// The import filter was re-run over the Adj-RIB-In: what it changed.
    pub reimport: Option<Refiltered>,
    /// The (new) max-prefix limit was exceeded: Cease/1 sent, routes gone.
    pub max_prefix_exceeded: bool,
    /// Paths of this peer removed from the RIB (`Removed`).
    pub routes_withdrawn: u64,
    /// Our networks announced to / withdrawn from this peer just now.
    pub networks_announced: u64,
    pub networks_withdrawn: u64,
}

impl NeighborReport {
    fn new(address: IpAddr, dynamic: bool, action: NeighborAction) -> NeighborReport {
        NeighborReport {
            address,
            dynamic,
            action,
            reset_keys: Vec::new(),
            updated_keys: Vec::new(),
            session_closed: false,
            reimport: None,
            max_prefix_exceeded: false,
            routes_withdrawn: 0,
            networks_announced: 0,
            networks_withdrawn: 0,
        }
    }
}

/// What [`Speaker::reconfigure`] changed, for the log and `router reload`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReconfigureReport {
    /// Speaker-wide keys that changed.
    pub changed: Vec<ConfigKey>,
    pub networks_added: Vec<IpNet>,
    pub networks_removed: Vec<IpNet>,
    pub groups_added: Vec<String>,
    pub groups_removed: Vec<String>,
    /// Groups whose settings changed (their members are listed under
    /// `neighbors` as far as it concerned them).
    pub groups_changed: Vec<String>,
    pub listen_ranges_added: Vec<ListenRange>,
    pub listen_ranges_removed: Vec<ListenRange>,
    /// Peers that were touched, by address; untouched peers are absent.
    pub neighbors: Vec<NeighborReport>,
}

impl ReconfigureReport {
    /// Nothing changed (the new configuration equals the running one).
    pub fn is_empty(&self) -> bool {
        *self == ReconfigureReport::default()
    }

    /// The entry for `address`, if that peer was touched.
    pub fn neighbor(&self, address: IpAddr) -> Option<&NeighborReport> {
        self.neighbors.iter().find(|n| n.address == address)
    }
}

fn join<T: fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per change, for logs and the CLI.
impl fmt::Display for ReconfigureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "bgp: no changes");
        }
        if !self.changed.is_empty() {
            writeln!(f, "bgp: changed {}", join(&self.changed))?;
        }
        for (what, v) in [
            ("network added", &self.networks_added),
            ("network removed", &self.networks_removed),
        ] {
            for n in v {
                writeln!(f, "bgp: {what} {n}")?;
            }
        }
        for (what, v) in [
            ("group added", &self.groups_added),
            ("group removed", &self.groups_removed),
            ("group changed", &self.groups_changed),
        ] {
            for g in v {
                writeln!(f, "bgp: {what} {g}")?;
            }
        }
        for (what, v) in [
            ("listen range added", &self.listen_ranges_added),
            ("listen range removed", &self.listen_ranges_removed),
        ] {
            for r in v {
                writeln!(f, "bgp: {what} {} (group {})", r.prefix, r.group)?;
            }
        }
        for n in &self.neighbors {
            let mut parts: Vec<String> = Vec::new();
            match n.action {
                NeighborAction::Added => parts.push("added".into()),
                NeighborAction::Removed => parts.push(format!(
                    "removed{}, {} routes withdrawn",
                    if n.session_closed {
                        " (Cease / Peer De-configured)"
                    } else {
                        ""
                    },
                    n.routes_withdrawn
                )),
                NeighborAction::Reset => parts.push(format!(
                    "{} for {}",
                    if n.session_closed {
                        "session reset (Cease / Other Configuration Change)"
                    } else {
                        "no session to reset; new settings"
                    },
                    join(&n.reset_keys)
                )),
                NeighborAction::Updated | NeighborAction::Unchanged => {}
            }
            if !n.updated_keys.is_empty() {
                parts.push(format!("updated {}", join(&n.updated_keys)));
            }
            if let Some(r) = n.reimport {
                parts.push(format!(
                    "import re-run: {} now filtered, {} now accepted",
                    r.now_filtered, r.now_accepted
                ));
            }
            if n.max_prefix_exceeded {
                parts.push(
                    "max-prefix exceeded (Cease / Maximum Number of Prefixes Reached)".into(),
                );
            }
            if n.networks_announced > 0 || n.networks_withdrawn > 0 {
                parts.push(format!(
                    "networks sent {}, withdrawn {}",
                    n.networks_announced, n.networks_withdrawn
                ));
            }
            writeln!(
                f,
                "bgp: neighbor {}{}: {}",
                n.address,
                if n.dynamic { " (dynamic)" } else { "" },
                parts.join("; ")
            )?;
        }
        Ok(())
    }
}

/// `b` without the elements of `a`, in `b`'s order.
fn missing_from<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in b {
        if !a.contains(x) && !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// State shared by the per-peer steps of one reconfiguration.
#[derive(Default)]
struct Pass {
    /// Speaker-wide keys that reset every session.
    reset_all: Vec<ConfigKey>,
    /// Speaker-wide keys that reset the sessions with graceful restart on.
    reset_gr: Vec<ConfigKey>,
    /// Prefixes to reselect once every peer is done.
    reselect: Vec<IpNet>,
}

fn same_families(a: &[Family], b: &[Family]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

impl Speaker {
    /// Apply `new` in place of the running configuration; see the module
    /// docs for what each change does. An invalid `new` is refused with
    /// the error [`SpeakerConfig::validate`] gives, and nothing changes.
    /// Drain `poll_action()` and `take_route_changes()` afterwards, as
    /// after any other call.
    pub fn reconfigure(
        &mut self,
        new: SpeakerConfig,
        now: Instant,
    ) -> Result<ReconfigureReport, ConfigError> {
        new.validate()?;
        let mut configured: Vec<(IpAddr, EffectivePeerConfig)> =
            Vec::with_capacity(new.neighbors.len());
        for n in &new.neighbors {
            configured.push((n.address, new.neighbor_settings(n)?));
        }
        let old = std::mem::replace(&mut self.cfg, new);
        let new = &self.cfg;
        let mut report = ReconfigureReport::default();

        // Speaker-wide keys.
        let mut pass = Pass::default();
        if old.local_as != new.local_as {
            pass.reset_all.push(ConfigKey::LocalAs);
        }
        if old.router_id != new.router_id {
            pass.reset_all.push(ConfigKey::RouterId);
        }
        if old.graceful_restart.restart_time != new.graceful_restart.restart_time {
            pass.reset_gr.push(ConfigKey::RestartTime);
        }
        if old.graceful_restart.notification != new.graceful_restart.notification {
            pass.reset_gr.push(ConfigKey::GrNotification);
        }
        report
            .changed
            .extend(pass.reset_all.iter().chain(&pass.reset_gr));
        if old.graceful_restart.stale_routes_time != new.graceful_restart.stale_routes_time {
            report.changed.push(ConfigKey::StaleRoutesTime);
        }
        if old.maximum_paths != new.maximum_paths {
            report.changed.push(ConfigKey::MaximumPaths);
        }
        if old.multipath_relax != new.multipath_relax {
            report.changed.push(ConfigKey::MultipathRelax);
        }
        report.networks_added = missing_from(&old.networks, &new.networks);
        report.networks_removed = missing_from(&new.networks, &old.networks);
        if !report.networks_added.is_empty() || !report.networks_removed.is_empty() {
            report.changed.push(ConfigKey::Networks);
        }
        let names = |c: &SpeakerConfig| c.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        report.groups_added = missing_from(&names(&old), &names(new));
        report.groups_removed = missing_from(&names(new), &names(&old));
        report.groups_changed = new
            .groups
            .iter()
            .filter(|g| old.groups.iter().any(|o| o.name == g.name && o != *g))
            .map(|g| g.name.clone())
            .collect();
        report.listen_ranges_added = missing_from(&old.listen_ranges, &new.listen_ranges);
        report.listen_ranges_removed = missing_from(&new.listen_ranges, &old.listen_ranges);

        // Peers we have: removed, reset or updated. Prefixes whose paths
        // changed their import verdict are reselected once, at the end.
        for pi in 0..self.peers.len() {
            let Some(peer) = self.peers[pi].as_ref() else {
                continue;
            };
            let (address, dynamic) = (peer.address, peer.dynamic);
            let target = match configured.iter().find(|(a, _)| *a == address) {
                Some((_, eff)) => Some((eff.clone(), false)),
                None if dynamic => self
                    .cfg
                    .listen_ranges
                    .iter()
                    .find(|r| r.prefix.contains(&address))
                    .and_then(|r| self.cfg.range_settings(r).ok())
                    .map(|eff| (eff, true)),
                None => None,
            };
            let entry = match target {
                None => self.deconfigure_peer(pi, now),
                Some((eff, dynamic)) => self.update_peer(pi, eff, dynamic, &mut pass, now),
            };
            report.neighbors.extend(entry);
        }
        // New neighbours.
        for (address, eff) in configured {
            if self.by_addr.contains_key(&address) {
                continue;
            }
            info!(peer = %address, "bgp: neighbour added");
            if self.add_peer(address, eff, false, now).is_some() {
                report
                    .neighbors
                    .push(NeighborReport::new(address, false, NeighborAction::Added));
            }
        }

        // Our networks, to every session still Established.
        if !report.networks_added.is_empty() || !report.networks_removed.is_empty() {
            for pi in 0..self.peers.len() {
                let Some(peer) = self.peers[pi].as_ref() else {
                    continue;
                };
                let Some(s) = peer.established() else {
                    continue;
                };
                let (conn, families) = (
                    s.conn,
                    s.negotiated
                        .as_ref()
                        .map(|n| n.families.clone())
                        .unwrap_or_default(),
                );
                let (address, dynamic) = (peer.address, peer.dynamic);
                let (mut sent, mut withdrawn) = (0, 0);
                for f in families {
                    let of = |v: &[IpNet]| -> Vec<IpNet> {
                        v.iter().copied().filter(|n| Family::of(n) == f).collect()
                    };
                    let (add, del) = (of(&report.networks_added), of(&report.networks_removed));
                    withdrawn += self.withdraw_networks(pi, conn, f, &del);
                    sent += self.announce_networks(pi, conn, f, &add);
                }
                if sent == 0 && withdrawn == 0 {
                    continue;
                }
                let i = match report.neighbors.iter().position(|n| n.address == address) {
                    Some(i) => i,
                    None => {
                        report.neighbors.push(NeighborReport::new(
                            address,
                            dynamic,
                            NeighborAction::Unchanged,
                        ));
                        report.neighbors.len() - 1
                    }
                };
                report.neighbors[i].networks_announced += sent;
                report.neighbors[i].networks_withdrawn += withdrawn;
            }
        }

        if old.local_as != self.cfg.local_as
            || old.maximum_paths != self.cfg.maximum_paths
            || old.multipath_relax != self.cfg.multipath_relax
        {
            // Reselects every prefix, `reselect` included.
            self.rib.set_decision(
                self.cfg.local_as,
                self.cfg.maximum_paths,
                self.cfg.multipath_relax,
            );
        } else {
            self.rib
                .reselect_prefixes(std::mem::take(&mut pass.reselect));
        }
        report.neighbors.sort_by_key(|n| n.address);
        Ok(report)
    }

    /// The peer in slot `pi` left the configuration: Cease / Peer
    /// De-configured on every connection, its routes out of the RIB, the
    /// slot freed.
    fn deconfigure_peer(&mut self, pi: usize, now: Instant) -> Option<NeighborReport> {
        let peer = self.peers[pi].as_ref()?;
        let mut rep = NeighborReport::new(peer.address, peer.dynamic, NeighborAction::Removed);
        let id = peer.id;
        rep.routes_withdrawn = self.rib.stats(id).received;
        info!(peer = %peer.address, "bgp: neighbour de-configured");
        let conns: Vec<(ConnId, ConnState, Option<Negotiated>)> = peer
            .sessions
            .iter()
            .map(|s| (s.conn, s.state, s.negotiated.clone()))
            .collect();
        for (conn, state, neg) in conns {
            if state == ConnState::Connecting {
                // Nothing was said on it yet: abandon the attempt.
                self.drop_session(pi, conn, None, None, now);
                continue;
            }
            // RFC 4486 §4: "If a BGP speaker decides to de-configure a peer,
            // then the speaker SHOULD send a NOTIFICATION message with the
            // Error Code Cease and the Error Subcode 'Peer De-configured'."
            // RFC 8538 §5: a Hard Reset where the N bit was negotiated.
            let n = cease(CEASE_PEER_DECONFIGURED, true, neg.as_ref());
            let reason = DownReason::NotificationSent {
                notification: n.clone(),
                hard: true,
            };
            self.drop_session(pi, conn, Some(n), Some(reason), now);
            rep.session_closed = true;
        }
        // A dynamic peer may already be forgotten by the drop above.
        if let Some(peer) = self.peers[pi].take() {
            self.rib.remove_peer(peer.id, None);
            self.by_addr.remove(&peer.address);
            self.owner.retain(|_, p| *p != pi);
        }
        Some(rep)
    }

    /// Give the peer in slot `pi` its new merged settings; `None` when none
    /// of them changed.
    fn update_peer(
        &mut self,
        pi: usize,
        eff: EffectivePeerConfig,
        dynamic: bool,
        pass: &mut Pass,
        now: Instant,
    ) -> Option<NeighborReport> {
        let local_as = self.cfg.local_as;
        let peer = self.peers[pi].as_mut()?;
        let old = peer.cfg.clone();
        let mut reset: Vec<ConfigKey> = pass.reset_all.clone();
        let mut updated: Vec<ConfigKey> = Vec::new();
        if old.graceful_restart && eff.graceful_restart {
            reset.extend_from_slice(&pass.reset_gr);
        }
        if old.hold_time != eff.hold_time {
            reset.push(ConfigKey::HoldTime);
        }
        if !same_families(&old.families, &eff.families) {
            reset.push(ConfigKey::Families);
        }
        if old.graceful_restart != eff.graceful_restart {
            reset.push(ConfigKey::GracefulRestart);
        }
        if old.remote_as != eff.remote_as {
            // The peer's AS is not in our OPEN: a running session that
            // still matches the new rule can stay.
            let still_ok = peer.sessions.iter().all(|s| {
                s.negotiated
                    .as_ref()
                    .is_none_or(|n| eff.remote_as.accepts(n.peer_as, local_as))
            });
            if still_ok {
                updated.push(ConfigKey::RemoteAs);
            } else {
                reset.push(ConfigKey::RemoteAs);
            }
        }
        for (changed, key) in [
            (old.keepalive != eff.keepalive, ConfigKey::Keepalive),
            (
                old.connect_retry != eff.connect_retry,
                ConfigKey::ConnectRetry,
            ),
            (old.passive != eff.passive, ConfigKey::Passive),
            (old.max_prefix != eff.max_prefix, ConfigKey::MaxPrefix),
            (old.import != eff.import, ConfigKey::Import),
            (old.group != eff.group, ConfigKey::Group),
            (old.description != eff.description, ConfigKey::Description),
            (peer.dynamic && !dynamic, ConfigKey::Neighbor),
        ] {
            if changed {
                updated.push(key);
            }
        }
        if reset.is_empty() && updated.is_empty() {
            return None;
        }
        let action = if reset.is_empty() {
            NeighborAction::Updated
        } else {
            NeighborAction::Reset
        };
        let mut rep = NeighborReport::new(peer.address, dynamic, action);
        let (id, address) = (peer.id, peer.address);
        peer.cfg = eff.clone();
        peer.dynamic = dynamic;

        if !reset.is_empty() {
            info!(peer = %address, keys = %join(&reset), "bgp: session reset for a configuration change");
            let conns: Vec<(ConnId, Option<Negotiated>)> = peer
                .sessions
                .iter()
                .filter(|s| s.state != ConnState::Connecting)
                .map(|s| (s.conn, s.negotiated.clone()))
                .collect();
            for (conn, neg) in conns {
                // RFC 4486 §4: "If a BGP speaker decides to terminate its
                // peering with a neighbor because the configuration of the
                // peering has been changed, then the speaker SHOULD send a
                // NOTIFICATION message with the Error Code Cease and the
                // Error Subcode 'Other Configuration Change'." Not a Hard
                // Reset (RFC 8538 §5: graceful restart applies).
                let n = cease(CEASE_OTHER_CONFIG_CHANGE, false, neg.as_ref());
                let reason = DownReason::NotificationSent {
                    notification: n.clone(),
                    hard: false,
                };
                self.drop_session(pi, conn, Some(n), Some(reason), now);
                rep.session_closed = true;
            }
            // Routes kept stale of families no longer configured would
            // only wait for an End-of-RIB that cannot come.
            if let Some(peer) = self.peers[pi].as_mut() {
                for f in Family::ALL {
                    if !eff.families.contains(&f) {
                        self.rib.remove_peer(id, Some(f));
                        peer.stale_families.retain(|x| *x != f);
                    }
                }
                if peer.stale_families.is_empty() {
                    peer.stale_deadline = None;
                }
                // No damping for a change the operator asked for.
                if peer.can_connect() {
                    peer.connect_at = Some(now);
                }
            }
            self.maybe_forget_dynamic(pi);
            rep.reset_keys = reset;
        } else {
            if old.keepalive != eff.keepalive {
                // Not in the OPEN: recompute the interval of the running
                // sessions from their negotiated hold time.
                for s in peer.sessions.iter_mut() {
                    let Some(n) = s.negotiated.as_mut() else {
                        continue;
                    };
                    n.keepalive = keepalive_interval(n.hold_time, eff.keepalive);
                    if s.state == ConnState::Established {
                        peer.last_negotiated = Some(n.clone());
                    }
                    s.restart_keepalive_timer(now);
                }
            }
            if old.passive != eff.passive {
                if peer.cfg.passive {
                    // Abandon our own attempts that have not got anywhere.
                    let conns: Vec<ConnId> = peer
                        .sessions
                        .iter()
                        .filter(|s| s.outbound && s.state == ConnState::Connecting)
                        .map(|s| s.conn)
                        .collect();
                    for c in conns {
                        self.drop_session(pi, c, None, None, now);
                    }
                } else {
                    peer.connect_at = Some(now);
                }
            }
        }
        rep.updated_keys = updated;

        // Import filter and max-prefix, over what the Adj-RIB-In holds
        // (stale paths kept across a reset included).
        if old.import != eff.import {
            let filter = eff.import.clone();
            let r = self.rib.refilter(
                id,
                |p| filter.as_ref().is_some_and(|f| !f.permits(p)),
                &mut pass.reselect,
            );
            info!(peer = %address, now_filtered = r.now_filtered, now_accepted = r.now_accepted, "bgp: import filter re-applied");
            rep.reimport = Some(r);
        }
        if old.import != eff.import || old.max_prefix != eff.max_prefix {
            let est = self.peers[pi]
                .as_ref()
                .and_then(|p| p.established())
                .map(|s| s.conn);
            if let Some(conn) = est {
                rep.max_prefix_exceeded = self.enforce_max_prefix(pi, conn, now);
            }
        }
        Some(rep)
    }
}
