//! The per-prefix state of every BGP and installed route.
use bgp::prefix_map::PrefixMap;
use ipnet::Ipv4Net;

use super::RouteSource;

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

/// Per prefix: its BGP route and what the FIB holds, in 12 octets.
/// `set == NO_SET`: no BGP route; `source == NOT_INSTALLED`: not in the FIB.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    pub(super) set: u32,
    pub(super) id: fib::NextHopId,
    pub(super) bgp_distance: u8,
    pub(super) source: u8,
    pub(super) distance: u8,
}

pub(super) const NO_SET: u32 = u32::MAX;
pub(super) const NOT_INSTALLED: u8 = u8::MAX;

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

impl<N: Ord + Copy> PrefixTable<N> {
    pub(super) fn bgp(&self, p: &N) -> Option<BgpEntry> {
        self.slots
            .get(p)
            .filter(|s| s.set != NO_SET)
            .map(|s| BgpEntry {
                set: s.set,
                distance: s.bgp_distance,
            })
    }

    pub(super) fn installed(&self, p: &N) -> Option<Installed> {
        self.slots.get(p).and_then(Self::installed_of)
    }

    pub(super) fn installed_of(s: &Slot) -> Option<Installed> {
        (s.source != NOT_INSTALLED).then(|| Installed {
            id: s.id,
            source: source_from(s.source),
            distance: s.distance,
        })
    }

    pub(super) fn slot(&mut self, p: N) -> &mut Slot {
        self.slots.get_or_insert_with(p, || Slot {
            set: NO_SET,
            id: 0,
            bgp_distance: 0,
            source: NOT_INSTALLED,
            distance: 0,
        })
    }

    /// Drops the slot of `p` if it holds nothing.
    pub(super) fn tidy(&mut self, p: &N) {
        if self
            .slots
            .get(p)
            .is_some_and(|s| s.set == NO_SET && s.source == NOT_INSTALLED)
        {
            self.slots.remove(p);
        }
    }

    pub(super) fn insert_bgp(&mut self, p: N, e: BgpEntry) {
        let s = self.slot(p);
        let new = s.set == NO_SET;
        s.set = e.set;
        s.bgp_distance = e.distance;
        self.bgp_len += usize::from(new);
    }

    pub(super) fn remove_bgp(&mut self, p: &N) -> bool {
        let Some(s) = self.slots.get_mut(p).filter(|s| s.set != NO_SET) else {
            return false;
        };
        s.set = NO_SET;
        self.bgp_len -= 1;
        self.tidy(p);
        true
    }

    pub(super) fn bgp_prefixes(&self) -> impl Iterator<Item = N> + '_ {
        self.slots
            .iter()
            .filter(|(_, s)| s.set != NO_SET)
            .map(|(p, _)| *p)
    }

    /// Forgets every BGP route; returns their prefixes.
    pub(super) fn clear_bgp(&mut self) -> Vec<N> {
        let prefixes: Vec<N> = self.bgp_prefixes().collect();
        for s in self.slots.values_mut() {
            s.set = NO_SET;
        }
        self.slots.retain(|_, s| s.source != NOT_INSTALLED);
        self.bgp_len = 0;
        prefixes
    }

    pub(super) fn install(&mut self, p: N, i: Installed) {
        let s = self.slot(p);
        let new = s.source == NOT_INSTALLED;
        s.id = i.id;
        s.source = source_code(i.source);
        s.distance = i.distance;
        self.installed_len += usize::from(new);
    }

    pub(super) fn uninstall(&mut self, p: &N) {
        let Some(s) = self.slots.get_mut(p).filter(|s| s.source != NOT_INSTALLED) else {
            return;
        };
        s.source = NOT_INSTALLED;
        self.installed_len -= 1;
        self.tidy(p);
    }

    pub(super) fn installed_iter(&self) -> impl Iterator<Item = (N, Installed)> + '_ {
        self.slots
            .iter()
            .filter_map(|(p, s)| Some((*p, Self::installed_of(s)?)))
    }
}
