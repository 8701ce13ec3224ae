//! The decision process (RFC 4271 §9.1): which of a destination's paths
//! is best, and which others may share forwarding with it (ECMP,
//! `maximum-paths`, `as-path multipath-relax`). It judges candidates and
//! knows nothing of how the RIB stores them.
use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::time::Instant;
use crate::wire::{Origin, PathAttributes};

/// LOCAL_PREF assumed for paths without one (eBGP-learned): RFC 4271
/// leaves it to configuration; 100 is every implementation's default.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Everything about a path except which peer sent it: the attributes and
/// the resolved next hop. Interned and shared.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    pub attrs: PathAttributes,
    pub next_hop: IpAddr,
    /// RFC 2545 link-local next hop (IPv6), informational.
    pub link_local: Option<Ipv6Addr>,
    /// When the path was received with these attributes, in whole seconds
    /// (so one second's UPDATEs with the same attributes still share one
    /// set). It is part of the interning key, which gives each path the
    /// time it last changed at no cost per prefix: a path is 16 octets
    /// with no room for a time, a set is shared by many paths. A
    /// re-announcement that changes nothing keeps the path's older set
    /// ([`RouteAttrs::same_route`]), as FRR's "Last update" does.
    pub received: Instant,
}

impl RouteAttrs {
    /// The same route as `other`, whenever either was received.
    pub fn same_route(&self, other: &RouteAttrs) -> bool {
        self.next_hop == other.next_hop
            && self.link_local == other.link_local
            && self.attrs == other.attrs
    }
}

/// What the decision process needs to know about the peer a path came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub address: IpAddr,
    pub router_id: Ipv4Addr,
    pub asn: u32,
    pub ebgp: bool,
    /// The link the session runs over ([`crate::session::Ipv6NextHop::link`]):
    /// the scope of the link-local next hops learned from this peer.
    pub link: Option<u32>,
}

/// One path as the decision process sees it.
#[derive(Copy, Clone, Debug)]
pub struct Candidate<'a> {
    pub attrs: &'a RouteAttrs,
    /// `None` while the peer's session has never come up.
    pub peer: Option<&'a PeerInfo>,
    /// Kept from a restarting peer (RFC 4724).
    pub stale: bool,
    /// Rejected by the import filter.
    pub filtered: bool,
    /// The next hop resolves (RFC 4271 §9.1.2: "the NEXT_HOP ... is
    /// resolvable").
    pub nexthop_reachable: bool,
}

/// The configured knobs of the decision process.
#[derive(Clone, Debug)]
pub struct DecisionProcess {
    maximum_paths: usize,
    multipath_relax: bool,
    local_as: u32,
}

impl DecisionProcess {
    pub fn new(local_as: u32, maximum_paths: u8, multipath_relax: bool) -> DecisionProcess {
        DecisionProcess {
            maximum_paths: usize::from(maximum_paths.max(1)),
            multipath_relax,
            local_as,
        }
    }

    /// RFC 4271 §9.1.2: only feasible routes take part — here, routes that
    /// passed the import filter, whose next hop resolves, from a peer whose
    /// session has been up.
    pub fn eligible(&self, c: &Candidate) -> bool {
        !c.filtered && c.nexthop_reachable && c.peer.is_some()
    }

    /// Indices (into `paths`) of the best path followed by the other
    /// multipaths, best first. Empty when nothing is eligible.
    pub fn select<'a, P>(
        &self,
        paths: &'a [P],
        view: impl Fn(&'a P) -> Candidate<'a>,
    ) -> Vec<usize> {
        let mut cands: Vec<(usize, Candidate<'a>)> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (i, view(p)))
            .filter(|(_, c)| self.eligible(c))
            .collect();
        if cands.len() <= 1 {
            return cands.into_iter().map(|(i, _)| i).collect();
        }
        cands.sort_by(|(_, a), (_, b)| self.compare(a, b));
        let best = cands[0].1;
        let mut out = vec![cands[0].0];
        for (i, c) in &cands[1..] {
            if out.len() >= self.maximum_paths {
                break;
            }
            if self.multipath_equal(&best, c) {
                out.push(*i);
            }
        }
        out
    }

    fn local_pref(p: &Candidate) -> u32 {
        p.attrs.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    }

    /// The AS the path was received from, for the MED comparison.
    fn neighbor_as(&self, p: &Candidate) -> u32 {
        p.attrs
            .attrs
            .as_path
            .as_ref()
            .and_then(|a| a.first_as())
            .unwrap_or(self.local_as)
    }

    fn ebgp(p: &Candidate) -> bool {
        p.peer.is_some_and(|i| i.ebgp)
    }

    /// Steps a)–d) of RFC 4271 §9.1.2.2 plus the LOCAL_PREF step of
    /// §9.1.1 — the part of the comparison that decides multipath
    /// equality.
    fn compare_multipath_steps(&self, a: &Candidate, b: &Candidate) -> Ordering {
        // §9.1.1: the degree of preference is LOCAL_PREF; higher wins.
        Self::local_pref(b)
            .cmp(&Self::local_pref(a))
            // §9.1.2.2 a): "Remove from consideration all routes that are
            // not tied for having the smallest number of AS numbers present
            // in their AS_PATH attributes" (an AS_SET counts 1).
            .then_with(|| {
                a.attrs
                    .attrs
                    .as_path_len()
                    .cmp(&b.attrs.attrs.as_path_len())
            })
            // b): lowest ORIGIN (IGP < EGP < INCOMPLETE).
            .then_with(|| {
                let o = |p: &Candidate| p.attrs.attrs.origin.unwrap_or(Origin::Incomplete);
                o(a).cmp(&o(b))
            })
            // c): lowest MED, only among routes from the same neighbouring
            // AS; a missing MED counts as 0 (the lowest).
            .then_with(|| {
                if self.neighbor_as(a) == self.neighbor_as(b) {
                    a.attrs
                        .attrs
                        .med
                        .unwrap_or(0)
                        .cmp(&b.attrs.attrs.med.unwrap_or(0))
                } else {
                    Ordering::Equal
                }
            })
            // d): "If at least one of the candidate routes was received via
            // EBGP, remove from consideration all routes that were received
            // via IBGP."
            .then_with(|| Self::ebgp(b).cmp(&Self::ebgp(a)))
    }

    /// Full §9.1.2.2 order; `Less` = `a` is better.
    pub fn compare(&self, a: &Candidate, b: &Candidate) -> Ordering {
        self.compare_multipath_steps(a, b)
            // e) interior cost to the next hop: all next hops here are
            // directly connected or resolved equally, so this step ties.
            // f): lowest BGP Identifier (RFC 4456 §9: ORIGINATOR_ID if present).
            .then_with(|| {
                let id = |p: &Candidate| {
                    p.attrs
                        .attrs
                        .originator_id
                        .or_else(|| p.peer.map(|i| i.router_id))
                        .unwrap_or(Ipv4Addr::BROADCAST)
                };
                id(a).cmp(&id(b))
            })
            // RFC 4456 §9: shorter CLUSTER_LIST.
            .then_with(|| {
                a.attrs
                    .attrs
                    .cluster_list
                    .len()
                    .cmp(&b.attrs.attrs.cluster_list.len())
            })
            // g): lowest peer address.
            .then_with(|| {
                let addr = |p: &Candidate| p.peer.map(|i| i.address);
                addr(a).cmp(&addr(b))
            })
            // Stale paths lose a final tie.
            .then_with(|| a.stale.cmp(&b.stale))
    }

    /// Whether `p` may share forwarding with `best`: equal up to and
    /// including the eBGP/iBGP step, same AS_PATH length (relax) or the
    /// same AS_PATH (strict).
    fn multipath_equal(&self, best: &Candidate, p: &Candidate) -> bool {
        if self.compare_multipath_steps(best, p) != Ordering::Equal {
            return false;
        }
        // Without relax, the paths must also agree on the neighbour AS and MED
        // was compared above only within one AS: require the same AS_PATH.
        self.multipath_relax || best.attrs.attrs.as_path == p.attrs.attrs.as_path
    }
}
