//! The per-prefix state of every BGP and installed route.
use bgp::prefix_map::PrefixMap;
use ipnet::Ipv4Net;

use super::{RouteSource, DISTANCE_CONNECTED, DISTANCE_EBGP, DISTANCE_IBGP, DISTANCE_STATIC};

/// A BGP route as stored: its next-hop set (interned) and distance.
#[derive(Clone, Copy, Debug)]
pub(super) struct BgpEntry {
    pub(super) set: u32,
    pub(super) distance: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Installed {
    pub(super) id: fib::NextHopId,
    pub(super) source: RouteSource,
    pub(super) distance: u8,
}

/// Per prefix: its BGP route and what the FIB holds, in 8 octets (a full
/// table's million slots: 8 MiB, against 12 for the plain struct of
/// `u32, u32, u8, u8, u8`). The distances are not stored: they follow from
/// the source (`DISTANCE_CONNECTED`, `DISTANCE_STATIC`) and, for BGP, from
/// one bit saying the route is internal (`DISTANCE_IBGP` against
/// `DISTANCE_EBGP`).
///
/// * `bgp`: the next-hop set id in bits 0..31 ([`NO_SET`]: no BGP route),
///   bit 31 set for an iBGP route.
/// * `fib`: the installed next-hop id in bits 0..24 (the FIB's ids stop at
///   [`fib::MAX_NEXT_HOP`]), the source code in bits 24..27
///   ([`NOT_INSTALLED`]: not in the FIB), bit 27 set for an iBGP route.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    bgp: u32,
    fib: u32,
}

/// The set id of a slot without a BGP route; set ids are indices of
/// distinct next-hop sets, so they never come near it.
pub(super) const NO_SET: u32 = (1 << 31) - 1;
const BGP_INTERNAL: u32 = 1 << 31;
const FIB_ID_MASK: u32 = fib::MAX_NEXT_HOP;
const FIB_SOURCE_SHIFT: u32 = 24;
const FIB_INTERNAL: u32 = 1 << 27;
/// The source code of a slot whose prefix is not in the FIB.
pub(super) const NOT_INSTALLED: u8 = 7;

const _: () = assert!(std::mem::size_of::<Slot>() == 8);
const _: () = assert!(fib::MAX_NEXT_HOP < 1 << FIB_SOURCE_SHIFT);

pub(super) fn source_code(s: RouteSource) -> u8 {
    s as u8
}

pub(super) fn source_from(code: u8) -> RouteSource {
    match code {
        0 => RouteSource::Connected,
        1 => RouteSource::Local,
        2 => RouteSource::Static,
        _ => RouteSource::Bgp,
    }
}

/// The distance of a route of `source` (`internal`: learned over iBGP).
fn distance_of(source: RouteSource, internal: bool) -> u8 {
    match source {
        RouteSource::Connected | RouteSource::Local => DISTANCE_CONNECTED,
        RouteSource::Static => DISTANCE_STATIC,
        RouteSource::Bgp if internal => DISTANCE_IBGP,
        RouteSource::Bgp => DISTANCE_EBGP,
    }
}

impl Slot {
    const EMPTY: Slot = Slot {
        bgp: NO_SET,
        fib: (NOT_INSTALLED as u32) << FIB_SOURCE_SHIFT,
    };

    fn set(&self) -> u32 {
        self.bgp & !BGP_INTERNAL
    }

    fn has_bgp(&self) -> bool {
        self.set() != NO_SET
    }

    fn bgp_entry(&self) -> Option<BgpEntry> {
        self.has_bgp().then(|| BgpEntry {
            set: self.set(),
            distance: distance_of(RouteSource::Bgp, self.bgp & BGP_INTERNAL != 0),
        })
    }

    fn set_bgp(&mut self, e: Option<BgpEntry>) {
        self.bgp = match e {
            None => NO_SET,
            Some(e) => {
                debug_assert!(e.set < NO_SET, "next-hop set id {} out of range", e.set);
                debug_assert!(matches!(e.distance, DISTANCE_EBGP | DISTANCE_IBGP));
                (e.set & NO_SET)
                    | if e.distance == DISTANCE_IBGP {
                        BGP_INTERNAL
                    } else {
                        0
                    }
            }
        };
    }

    fn source_code(&self) -> u8 {
        ((self.fib >> FIB_SOURCE_SHIFT) & 7) as u8
    }

    fn is_installed(&self) -> bool {
        self.source_code() != NOT_INSTALLED
    }

    fn installed(&self) -> Option<Installed> {
        self.is_installed().then(|| {
            let source = source_from(self.source_code());
            Installed {
                id: self.fib & FIB_ID_MASK,
                source,
                distance: distance_of(source, self.fib & FIB_INTERNAL != 0),
            }
        })
    }

    fn set_installed(&mut self, i: Option<Installed>) {
        self.fib = match i {
            None => (NOT_INSTALLED as u32) << FIB_SOURCE_SHIFT,
            Some(i) => {
                debug_assert!(
                    i.id <= fib::MAX_NEXT_HOP,
                    "next-hop id {} out of range",
                    i.id
                );
                let internal = i.distance == DISTANCE_IBGP;
                debug_assert_eq!(distance_of(i.source, internal), i.distance);
                (i.id & FIB_ID_MASK)
                    | u32::from(source_code(i.source)) << FIB_SOURCE_SHIFT
                    | if internal { FIB_INTERNAL } else { 0 }
            }
        };
    }
}

/// The per-prefix state of every BGP and installed route, in one compact
/// ordered map. Sized for a full table: two hash maps (BGP routes,
/// installed routes) of a million prefixes sat at 2^21 buckets each, 68 MiB
/// together (and held old and new arrays while doubling); one
/// [`PrefixMap`] of 12-octet slots costs ~18 octets per prefix with no
/// resize transient. Lookups are a binary search (a few hundred ns), which
/// is not what limits convergence.
pub(super) struct PrefixTable<N = Ipv4Net> {
    pub(super) slots: PrefixMap<N, Slot>,
    pub(super) bgp_len: usize,
    pub(super) installed_len: usize,
}

impl<N> Default for PrefixTable<N> {
    fn default() -> Self {
        PrefixTable {
            slots: PrefixMap::default(),
            bgp_len: 0,
            installed_len: 0,
        }
    }
}

impl<N: bgp::prefix_map::MapKey> PrefixTable<N> {
    pub(super) fn installed(&self, p: &N) -> Option<Installed> {
        self.slots.get(p).and_then(Slot::installed)
    }

    fn slot(&mut self, p: N) -> &mut Slot {
        self.slots.get_or_insert_with(p, || Slot::EMPTY)
    }

    pub(super) fn insert_bgp(&mut self, p: N, e: BgpEntry) {
        let s = self.slot(p);
        let new = !s.has_bgp();
        s.set_bgp(Some(e));
        self.bgp_len += usize::from(new);
    }

    /// Both halves of `p`'s slot, in one search.
    pub(super) fn entry(&self, p: &N) -> (Option<BgpEntry>, Option<Installed>) {
        self.slots
            .get(p)
            .map_or((None, None), |s| (s.bgp_entry(), s.installed()))
    }

    pub(super) fn remove_bgp(&mut self, p: &N) -> bool {
        let removed = self.slots.modify(p, |s| {
            let had = s.has_bgp();
            s.set_bgp(None);
            (had, !s.is_installed())
        });
        let removed = removed == Some(true);
        self.bgp_len -= usize::from(removed);
        removed
    }

    pub(super) fn bgp_prefixes(&self) -> impl Iterator<Item = N> + '_ {
        self.slots
            .iter()
            .filter(|(_, s)| s.has_bgp())
            .map(|(p, _)| *p)
    }

    /// Forgets every BGP route; returns their prefixes.
    pub(super) fn clear_bgp(&mut self) -> Vec<N> {
        let prefixes: Vec<N> = self.bgp_prefixes().collect();
        for s in self.slots.values_mut() {
            s.set_bgp(None);
        }
        self.slots.retain(|_, s| s.is_installed());
        self.bgp_len = 0;
        prefixes
    }

    pub(super) fn install(&mut self, p: N, i: Installed) {
        let s = self.slot(p);
        let new = !s.is_installed();
        s.set_installed(Some(i));
        self.installed_len += usize::from(new);
    }

    pub(super) fn uninstall(&mut self, p: &N) {
        let removed = self.slots.modify(p, |s| {
            let had = s.is_installed();
            s.set_installed(None);
            (had, !s.has_bgp())
        });
        self.installed_len -= usize::from(removed == Some(true));
    }

    pub(super) fn installed_iter(&self) -> impl Iterator<Item = (N, Installed)> + '_ {
        self.slots
            .iter()
            .filter_map(|(p, s)| Some((*p, s.installed()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn slot_round_trips_every_source_and_the_largest_ids() {
        let mut t = PrefixTable::<Ipv4Net>::default();
        let p = net("10.0.0.0/8");
        for (source, distance) in [
            (RouteSource::Connected, DISTANCE_CONNECTED),
            (RouteSource::Local, DISTANCE_CONNECTED),
            (RouteSource::Static, DISTANCE_STATIC),
            (RouteSource::Bgp, DISTANCE_EBGP),
            (RouteSource::Bgp, DISTANCE_IBGP),
        ] {
            for id in [0, 1, fib::MAX_NEXT_HOP] {
                let i = Installed {
                    id,
                    source,
                    distance,
                };
                t.install(p, i);
                assert_eq!(t.installed(&p), Some(i));
            }
        }
        for (set, distance) in [(0, DISTANCE_EBGP), (NO_SET - 1, DISTANCE_IBGP)] {
            t.insert_bgp(p, BgpEntry { set, distance });
            let e = t.entry(&p).0.unwrap();
            assert_eq!((e.set, e.distance), (set, distance));
            // The two halves are independent.
            assert_eq!(t.installed(&p).map(|i| i.id), Some(fib::MAX_NEXT_HOP));
        }
        assert_eq!((t.bgp_len, t.installed_len), (1, 1));
    }

    #[test]
    fn a_slot_goes_when_it_holds_nothing() {
        let mut t = PrefixTable::<Ipv4Net>::default();
        let (a, b) = (net("10.0.0.0/8"), net("10.1.0.0/16"));
        t.insert_bgp(
            a,
            BgpEntry {
                set: 3,
                distance: DISTANCE_EBGP,
            },
        );
        t.install(
            a,
            Installed {
                id: 9,
                source: RouteSource::Bgp,
                distance: DISTANCE_EBGP,
            },
        );
        t.install(
            b,
            Installed {
                id: 1,
                source: RouteSource::Static,
                distance: DISTANCE_STATIC,
            },
        );
        assert!(t.remove_bgp(&a));
        assert!(!t.remove_bgp(&a));
        assert!(t.entry(&a).0.is_none());
        assert_eq!(t.installed(&a).map(|i| i.id), Some(9));
        t.uninstall(&a);
        assert_eq!(t.slots.len(), 1);
        assert_eq!(t.clear_bgp(), Vec::<Ipv4Net>::new());
        assert_eq!(t.installed_iter().count(), 1);
    }
}
