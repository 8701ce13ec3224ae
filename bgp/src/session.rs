//! One BGP connection and the RFC 4271 §8 state it is in, plus the OPEN
//! checks and capability negotiation. The speaker drives several of these
//! per peer (one inbound, one outbound) until collision detection keeps one.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::config::{EffectivePeerConfig, Family, GracefulRestartConfig};
use crate::time::Instant;
use crate::wire::{
    Capability, DecodeContext, ErrorKind, Framer, GrFamily, MessageError, OpenRepr,
    MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN,
};

/// Identifies one TCP connection between the transport and the speaker.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// RFC 4271 §8.2.2: "the HoldTimer is set to a large value" in OpenSent;
/// "A HoldTimer value of 4 minutes is suggested."
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// The state of one connection. `Idle` and `Active` belong to the peer (no
/// connection exists then), so a connection is in one of these.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnState {
    /// Outbound TCP connection requested, not yet up (peer state Connect).
    Connecting,
    OpenSent,
    OpenConfirm,
    Established,
}

/// The peer's graceful restart capability as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerGr {
    pub restart_time: u16,
    /// The peer set the R bit: it has restarted.
    pub restarting: bool,
    /// Both sides advertised the RFC 8538 N bit.
    pub notification: bool,
    /// Families the peer listed, with their Forwarding State bit.
    pub families: Vec<(Family, bool)>,
}

/// What both OPENs agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_as: u32,
    pub peer_id: Ipv4Addr,
    pub hold_time: u16,
    pub keepalive: u16,
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub extended_message: bool,
    /// Set only when both sides advertised graceful restart.
    pub gr: Option<PeerGr>,
    pub ebgp: bool,
    /// RFC 8950: both sides sent Extended Next Hop Encoding for IPv4
    /// unicast with IPv6 next hops.
    pub extended_next_hop_v4: bool,
    pub peer_unknown_capabilities: Vec<u8>,
}

impl Negotiated {
    pub fn decode_context(&self) -> DecodeContext {
        DecodeContext {
            four_octet_as: self.four_octet_as,
            ebgp: self.ebgp,
            peer_as: self.peer_as,
            max_message_len: if self.extended_message {
                MAX_EXTENDED_MESSAGE_LEN
            } else {
                MAX_MESSAGE_LEN
            },
            extended_next_hop_v4: self.extended_next_hop_v4,
        }
    }

    pub fn has_family(&self, f: Family) -> bool {
        self.families.contains(&f)
    }
}

/// Our IPv6 addresses on the link a session runs over, given by the
/// transport ([`crate::Speaker::set_ipv6_next_hop`]): what goes into the
/// MP_REACH_NLRI next hop of IPv6 routes we send (next-hop self).
///
/// RFC 2545 §3: the next hop of an IPv6 route is a global IPv6 address of
/// the sender, followed by its link-local address when sender and
/// receiver share the link (the length field then says 32, not 16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ipv6NextHop {
    pub global: Option<Ipv6Addr>,
    /// Only for a peer on a directly connected subnet.
    pub link_local: Option<Ipv6Addr>,
    /// The link the session runs over, numbered as the transport numbers
    /// its links (the router: its port id); `None` for a peer on no link
    /// of ours (multihop). A link-local next hop learned on the session
    /// names a neighbour on this link and on no other (RFC 4291 §2.5.6),
    /// so the RIB scopes it with this ([`crate::rib::NextHopAddr`]).
    pub link: Option<u32>,
}

impl Ipv6NextHop {
    /// The (global, link-local) pair to send on a session whose local
    /// TCP address is `local`; `None` when there is nothing usable.
    ///
    /// Over an IPv4 session with no IPv6 global address on the port the
    /// global next hop is the IPv4-mapped local address (::ffff:a.b.c.d,
    /// RFC 4291 §2.5.5.2) — what GoBGP sends, and what receivers such as
    /// FRR and Cilium resolve over the IPv4 session's link.
    pub fn for_local(&self, local: IpAddr) -> Option<(Ipv6Addr, Option<Ipv6Addr>)> {
        let global = match (self.global, local) {
            (Some(g), _) => g,
            (None, IpAddr::V4(l)) => l.to_ipv6_mapped(),
            (None, IpAddr::V6(l)) => l,
        };
        if global.is_unspecified() {
            return None;
        }
        // The link-local one is only sent as the second of two addresses,
        // never repeated.
        let ll = self.link_local.filter(|ll| *ll != global);
        Some((global, ll))
    }
}

pub struct Session {
    pub conn: ConnId,
    pub outbound: bool,
    pub state: ConnState,
    pub local: Option<IpAddr>,
    /// The IPv6 addresses of our side of the link, for the next hop of
    /// IPv6 routes sent on this session (see [`Ipv6NextHop`]).
    pub nh6: Ipv6NextHop,
    pub framer: Framer,
    /// Connecting: give up at this instant. Other states: HoldTimer.
    pub hold_deadline: Option<Instant>,
    pub keepalive_at: Option<Instant>,
    pub remote_open: Option<OpenRepr>,
    pub negotiated: Option<Negotiated>,
    pub ctx: DecodeContext,
    pub eor_received: [bool; 2],
    pub eor_sent: [bool; 2],
    pub established_at: Option<Instant>,
}

impl Session {
    pub fn new(conn: ConnId, outbound: bool, local: Option<IpAddr>) -> Session {
        Session {
            conn,
            outbound,
            state: ConnState::Connecting,
            local,
            nh6: Ipv6NextHop::default(),
            framer: Framer::new(),
            hold_deadline: None,
            keepalive_at: None,
            remote_open: None,
            negotiated: None,
            ctx: DecodeContext::default(),
            eor_received: [false; 2],
            eor_sent: [false; 2],
            established_at: None,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match (self.hold_deadline, self.keepalive_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// RFC 4271 §8.2.2: restart the HoldTimer on every KEEPALIVE/UPDATE
    /// (and any message) once the hold time is negotiated; 0 = no timer.
    pub fn restart_hold_timer(&mut self, now: Instant) {
        if let Some(n) = &self.negotiated {
            self.hold_deadline =
                (n.hold_time != 0).then(|| now + Duration::from_secs(u64::from(n.hold_time)));
        }
    }

    pub fn restart_keepalive_timer(&mut self, now: Instant) {
        if let Some(n) = &self.negotiated {
            self.keepalive_at =
                (n.keepalive != 0).then(|| now + Duration::from_secs(u64::from(n.keepalive)));
        }
    }
}

/// The keepalive interval for a negotiated hold time: the configured one
/// capped at a third of the hold time (RFC 4271 §10), else that third; 0
/// (no keepalives) with a hold time of 0.
pub fn keepalive_interval(hold_time: u16, configured: Option<u16>) -> u16 {
    if hold_time == 0 {
        0
    } else {
        configured
            .map_or(hold_time / 3, |k| k.min(hold_time / 3))
            .max(1)
    }
}

/// The OPEN we send to a peer.
pub fn local_open(
    local_as: u32,
    router_id: Ipv4Addr,
    peer: &EffectivePeerConfig,
    gr: &GracefulRestartConfig,
) -> OpenRepr {
    let mut caps: Vec<Capability> = peer
        .families
        .iter()
        .map(|f| {
            let (afi, safi) = f.afi_safi();
            Capability::Multiprotocol { afi, safi }
        })
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::ExtendedMessage);
    caps.push(Capability::FourOctetAs(local_as));
    if peer.graceful_restart {
        // RFC 4724 §3: we do not preserve forwarding state across our own
        // restart (the FIB is rebuilt), so the F bit stays 0 for every
        // family; R is 0 (not restarting as far as peers need to know).
        caps.push(Capability::GracefulRestart {
            restarting: false,
            notification: gr.notification,
            restart_time: gr.restart_time & 0x0fff,
            families: peer
                .families
                .iter()
                .map(|f| {
                    let (afi, safi) = f.afi_safi();
                    GrFamily {
                        afi,
                        safi,
                        forwarding_preserved: false,
                    }
                })
                .collect(),
        });
    }
    OpenRepr::new(local_as, peer.hold_time, router_id, caps)
}

/// Check a received OPEN against the peer's configuration (RFC 4271 §6.2)
/// and negotiate the session parameters.
pub fn negotiate(
    local_as: u32,
    router_id: Ipv4Addr,
    peer: &EffectivePeerConfig,
    ours: &OpenRepr,
    theirs: &OpenRepr,
) -> Result<Negotiated, MessageError> {
    let peer_as = theirs.asn();
    // RFC 4271 §6.2: "If the Autonomous System field of the OPEN message is
    // unacceptable, then the Error Subcode MUST be set to Bad Peer AS."
    // RFC 6793 §4.1: with the capability, the 4-octet value is the AS, and
    // My AS must then be that AS or AS_TRANS.
    let my_as_ok = theirs.my_as == crate::wire::AS_TRANS || u32::from(theirs.my_as) == peer_as;
    // RFC 7607 §2: "If a BGP speaker receives zero as the peer AS in an OPEN
    // message, it MUST abort the connection and send a NOTIFICATION with
    // Error Code 'OPEN Message Error' and subcode 'Bad Peer AS'" — zero in
    // My AS or in the 4-octet AS capability.
    let as_zero = theirs.my_as == 0 || peer_as == 0;
    if as_zero || !my_as_ok || !peer.remote_as.accepts(peer_as, local_as) {
        return Err(MessageError::new(
            ErrorKind::BadPeerAs,
            theirs.my_as.to_be_bytes().to_vec(),
        ));
    }
    let ebgp = peer_as != local_as;
    // RFC 4271 §6.2: "If the BGP Identifier field of the OPEN message is
    // syntactically incorrect, then the Error Subcode MUST be set to Bad
    // BGP Identifier" — 0.0.0.0 (RFC 6286 §2.2 keeps that), and, for an
    // internal peer, our own identifier (RFC 6286 §2.1).
    if theirs.bgp_id.is_unspecified() || (!ebgp && theirs.bgp_id == router_id) {
        return Err(MessageError::new(
            ErrorKind::BadBgpIdentifier,
            theirs.bgp_id.octets().to_vec(),
        ));
    }
    // RFC 4271 §6.2: "An implementation MUST reject Hold Time values of one
    // or two seconds."
    if theirs.hold_time == 1 || theirs.hold_time == 2 {
        return Err(MessageError::new(
            ErrorKind::UnacceptableHoldTime,
            Vec::new(),
        ));
    }
    // RFC 4271 §4.2: the negotiated hold time is the smaller of the two;
    // §10 suggests a keepalive of a third of it.
    let hold_time = ours.hold_time.min(theirs.hold_time);
    let keepalive = keepalive_interval(hold_time, peer.keepalive);

    let has = |f: &dyn Fn(&Capability) -> bool| theirs.capabilities.iter().any(f);
    let their_mp: Vec<Family> = theirs
        .capabilities
        .iter()
        .filter_map(|c| {
            if let Capability::Multiprotocol { afi, safi } = c {
                Family::from_afi_safi(*afi, *safi)
            } else {
                None
            }
        })
        .collect();
    let sent_mp = theirs
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::Multiprotocol { .. }));
    // RFC 4760 §8 / RFC 4271: a speaker without any multiprotocol
    // capability does IPv4 unicast only.
    let their_families = if sent_mp {
        their_mp
    } else {
        vec![Family::Ipv4Unicast]
    };
    let families: Vec<Family> = peer
        .families
        .iter()
        .copied()
        .filter(|f| their_families.contains(f))
        .collect();

    let our_gr = ours.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart { notification, .. } => Some(*notification),
        _ => None,
    });
    let gr = match (
        our_gr,
        theirs
            .capabilities
            .iter()
            .find(|c| matches!(c, Capability::GracefulRestart { .. })),
    ) {
        (
            Some(our_n),
            Some(Capability::GracefulRestart {
                restarting,
                notification,
                restart_time,
                families: gf,
            }),
        ) => Some(PeerGr {
            restart_time: *restart_time,
            restarting: *restarting,
            notification: our_n && *notification,
            families: gf
                .iter()
                .filter_map(|g| {
                    Family::from_afi_safi(g.afi, g.safi).map(|f| (f, g.forwarding_preserved))
                })
                .collect(),
        }),
        _ => None,
    };
    Ok(Negotiated {
        peer_as,
        peer_id: theirs.bgp_id,
        hold_time,
        keepalive,
        families,
        four_octet_as: theirs.four_octet_as() && ours.four_octet_as(),
        route_refresh: has(&|c| matches!(c, Capability::RouteRefresh)),
        extended_message: has(&|c| matches!(c, Capability::ExtendedMessage))
            && ours.capabilities.contains(&Capability::ExtendedMessage),
        gr,
        ebgp,
        // RFC 8950 §3: usable only when both sides advertised the triple.
        extended_next_hop_v4: [ours, theirs].iter().all(|o| {
            o.capabilities.iter().any(|c| {
                matches!(c, Capability::ExtendedNextHop(v)
                    if v.contains(&crate::wire::ExtendedNextHop::IPV4_UNICAST_OVER_IPV6))
            })
        }),
        peer_unknown_capabilities: theirs
            .capabilities
            .iter()
            .filter_map(|c| {
                if let Capability::Unknown { code, .. } = c {
                    Some(*code)
                } else {
                    None
                }
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RemoteAs, SpeakerConfig};
    use crate::wire::{OpenPacket, AS_TRANS};

    fn peer_cfg(remote_as: RemoteAs, hold: u16) -> EffectivePeerConfig {
        EffectivePeerConfig {
            remote_as,
            hold_time: hold,
            keepalive: None,
            connect_retry: 120,
            passive: false,
            max_prefix: None,
            import: None,
            families: Family::ALL.to_vec(),
            graceful_restart: true,
            group: None,
            description: None,
        }
    }

    fn gobgp_open() -> OpenRepr {
        let b = crate::wire::open::tests_fixture::GOBGP_OPEN;
        OpenRepr::parse(&OpenPacket::new_checked(b).unwrap()).unwrap()
    }

    #[test]
    fn negotiates_with_captured_gobgp() {
        let b = crate::wire::open::tests_fixture::GOBGP_3_10_OPEN;
        let theirs = OpenRepr::parse(&OpenPacket::new_checked(b).unwrap()).unwrap();
        let cfg = SpeakerConfig::default();
        let pc = peer_cfg(RemoteAs::External, 90);
        let ours = local_open(
            65000,
            Ipv4Addr::new(192, 168, 10, 200),
            &pc,
            &cfg.graceful_restart,
        );
        let n = negotiate(65000, Ipv4Addr::new(192, 168, 10, 200), &pc, &ours, &theirs).unwrap();
        assert_eq!((n.hold_time, n.keepalive), (9, 3));
        assert_eq!(n.families, Family::ALL.to_vec());
        assert!(n.four_octet_as && n.ebgp);
        assert!(n.route_refresh && !n.extended_message);
        let gr = n.gr.unwrap();
        assert_eq!((gr.restart_time, gr.notification), (15, true));
        assert_eq!(
            gr.families,
            vec![(Family::Ipv4Unicast, false), (Family::Ipv6Unicast, false)]
        );
        assert_eq!(n.peer_unknown_capabilities, vec![73]);
    }

    #[test]
    fn negotiates_with_gobgp() {
        let cfg = SpeakerConfig::default();
        let pc = peer_cfg(RemoteAs::External, 90);
        let ours = local_open(
            65000,
            Ipv4Addr::new(192, 168, 10, 200),
            &pc,
            &cfg.graceful_restart,
        );
        let n = negotiate(
            65000,
            Ipv4Addr::new(192, 168, 10, 200),
            &pc,
            &ours,
            &gobgp_open(),
        )
        .unwrap();
        assert_eq!((n.hold_time, n.keepalive), (9, 3));
        assert_eq!(n.families, Family::ALL.to_vec());
        assert!(n.four_octet_as && n.route_refresh && n.extended_message && n.ebgp);
        let gr = n.gr.unwrap();
        assert_eq!(gr.restart_time, 15);
        assert!(gr.notification);
        assert_eq!(n.peer_unknown_capabilities, vec![73]);
        // GoBGP offers RFC 8950 even over IPv4; we do not, so it is off.
        assert!(!n.extended_next_hop_v4);
    }

    #[test]
    fn open_checks() {
        let cfg = SpeakerConfig::default();
        let id = Ipv4Addr::new(192, 168, 10, 200);
        let pc = peer_cfg(RemoteAs::Number(65002), 90);
        let ours = local_open(65000, id, &pc, &cfg.graceful_restart);
        let e = negotiate(65000, id, &pc, &ours, &gobgp_open()).unwrap_err();
        assert_eq!(e.code_subcode(), (2, 2));
        // "external" refuses our own AS.
        let pc = peer_cfg(RemoteAs::External, 90);
        let mut o = gobgp_open();
        o.capabilities
            .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
        o.my_as = 65000;
        assert_eq!(
            negotiate(65000, id, &pc, &ours, &o)
                .unwrap_err()
                .code_subcode(),
            (2, 2)
        );
        // My AS inconsistent with the 4-octet capability.
        let mut o = gobgp_open();
        o.my_as = 7;
        assert_eq!(
            negotiate(65000, id, &pc, &ours, &o)
                .unwrap_err()
                .code_subcode(),
            (2, 2)
        );
        let mut o = gobgp_open();
        o.my_as = AS_TRANS;
        assert!(negotiate(65000, id, &pc, &ours, &o).is_ok());
        let mut o = gobgp_open();
        o.bgp_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            negotiate(65000, id, &pc, &ours, &o)
                .unwrap_err()
                .code_subcode(),
            (2, 3)
        );
        let mut o = gobgp_open();
        o.hold_time = 2;
        assert_eq!(
            negotiate(65000, id, &pc, &ours, &o)
                .unwrap_err()
                .code_subcode(),
            (2, 6)
        );
        // Hold 0: no keepalives.
        let mut o = gobgp_open();
        o.hold_time = 0;
        let n = negotiate(65000, id, &pc, &ours, &o).unwrap();
        assert_eq!((n.hold_time, n.keepalive), (0, 0));
        // iBGP with our own identifier.
        let pc = peer_cfg(RemoteAs::Internal, 90);
        let mut o = gobgp_open();
        o.capabilities
            .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
        o.my_as = 65000;
        o.bgp_id = id;
        assert_eq!(
            negotiate(65000, id, &pc, &ours, &o)
                .unwrap_err()
                .code_subcode(),
            (2, 3)
        );
    }

    /// RFC 7607 §2: zero as the peer AS, in My AS or in the 4-octet AS
    /// capability, is OPEN Message Error / Bad Peer AS — even where
    /// `remote-as external` would accept any other AS.
    #[test]
    fn as_zero_in_open_is_bad_peer_as() {
        let cfg = SpeakerConfig::default();
        let id = Ipv4Addr::new(192, 168, 10, 200);
        let pc = peer_cfg(RemoteAs::External, 90);
        let ours = local_open(65000, id, &pc, &cfg.graceful_restart);
        let peer_id = Ipv4Addr::new(1, 1, 1, 1);
        let two_octet = |my_as: u16| OpenRepr {
            version: 4,
            my_as,
            hold_time: 90,
            bgp_id: peer_id,
            capabilities: vec![],
        };
        let with_cap = |my_as: u16, cap: u32| OpenRepr {
            capabilities: vec![Capability::FourOctetAs(cap)],
            ..two_octet(my_as)
        };
        let cases = [
            ("My AS 0, no capability", two_octet(0)),
            ("capability AS 0, My AS AS_TRANS", with_cap(AS_TRANS, 0)),
            ("capability AS 0, My AS 0", with_cap(0, 0)),
            ("My AS 0, capability AS 65001", with_cap(0, 65001)),
        ];
        for (name, open) in cases {
            let e = negotiate(65000, id, &pc, &ours, &open).unwrap_err();
            assert_eq!(e.code_subcode(), (2, 2), "{name}");
        }
        // The same OPENs with a real AS pass.
        assert!(negotiate(65000, id, &pc, &ours, &two_octet(65001)).is_ok());
        assert!(negotiate(65000, id, &pc, &ours, &with_cap(AS_TRANS, 4_200_000_001)).is_ok());
    }

    #[test]
    fn no_mp_capability_means_ipv4() {
        let cfg = SpeakerConfig::default();
        let id = Ipv4Addr::new(192, 168, 10, 200);
        let pc = peer_cfg(RemoteAs::External, 90);
        let ours = local_open(65000, id, &pc, &cfg.graceful_restart);
        let o = OpenRepr::new(65001, 90, Ipv4Addr::new(1, 1, 1, 1), vec![]);
        let n = negotiate(65000, id, &pc, &ours, &o).unwrap();
        assert_eq!(n.families, vec![Family::Ipv4Unicast]);
        assert!(n.gr.is_none());
        assert_eq!(n.keepalive, 30);
    }
}
