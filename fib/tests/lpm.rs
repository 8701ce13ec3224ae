//! Property tests: the poptrie against a plain reference LPM (a map per
//! prefix length), for IPv4 and IPv6 and both direct-pointing widths.

use std::collections::HashMap;

use fib::{Change, Family, Fib, FibError, Key, NextHopId, MAX_NEXT_HOP, V4, V4S16, V6, V6S16};
use proptest::prelude::*;

/// Reference LPM: one map per prefix length, searched longest first.
struct Reference<K: Key> {
    by_len: Vec<HashMap<K, NextHopId>>,
}

impl<K: Key> Reference<K> {
    fn new() -> Self {
        Reference {
            by_len: vec![HashMap::new(); K::BITS as usize + 1],
        }
    }
    fn apply(&mut self, key: K, len: u32, hop: Option<NextHopId>) {
        match hop {
            Some(h) => self.by_len[len as usize].insert(key, h),
            None => self.by_len[len as usize].remove(&key),
        };
    }
    fn lookup(&self, key: K) -> Option<NextHopId> {
        (0..=K::BITS)
            .rev()
            .find_map(|l| self.by_len[l as usize].get(&key.mask(l)).copied())
    }
    fn len(&self) -> usize {
        self.by_len.iter().map(|m| m.len()).sum()
    }
    fn routes(&self) -> Vec<(K, u32, NextHopId)> {
        let mut v: Vec<_> = self
            .by_len
            .iter()
            .enumerate()
            .flat_map(|(l, m)| m.iter().map(move |(k, h)| (*k, l as u32, *h)))
            .collect();
        v.sort();
        v
    }
}

/// A raw operation: (key seed, length seed, next hop or None for remove).
type Op = (u128, u8, Option<NextHopId>);

fn bases() -> impl Strategy<Value = Vec<u128>> {
    prop::collection::vec(any::<u128>(), 3)
}

/// Keys cluster around a few bases (so prefixes nest and overlap) plus the
/// extremes; lengths favour the stride and direct-pointing boundaries.
fn ops(n: usize) -> impl Strategy<Value = (Vec<u128>, Vec<Op>)> {
    let op = (
        any::<u128>(),
        prop_oneof![
            Just(0u8),
            any::<u8>(),
            prop::sample::select(vec![
                1u8, 8, 15, 16, 17, 18, 19, 22, 23, 24, 25, 29, 30, 31, 32, 48, 64, 127, 128
            ]),
        ],
        prop_oneof![3 => (0u32..6).prop_map(Some), 1 => ((MAX_NEXT_HOP - 2)..=MAX_NEXT_HOP).prop_map(Some), 2 => Just(None)],
    );
    (bases(), prop::collection::vec(op, 1..n))
}

fn key_of<F: Family>(bases: &[u128], seed: u128, len_seed: u8) -> (F::Key, u32) {
    let len = len_seed as u32 % (F::BITS + 1);
    // Pick a base by the seed's low bits, then flip up to 8 bits at a random
    // position (often past the prefix length, so prefixes nest and overlap).
    let raw = match seed % 8 {
        0 => 0,
        1 => u128::MAX,
        2 => seed,
        k => bases[(k as usize) % bases.len()] ^ (((seed >> 64) & 0xff) << ((seed >> 8) % 121)),
    };
    let k = F::Key::default().or_bits(0, F::BITS.min(32), (raw >> 96) as u32);
    let k = if F::BITS > 32 {
        k.or_bits(32, 32, (raw >> 64) as u32)
            .or_bits(64, 32, (raw >> 32) as u32)
            .or_bits(96, 32, raw as u32)
    } else {
        k
    };
    (k.mask(len), len)
}

fn probes<F: Family>(r: &Reference<F::Key>) -> Vec<F::Key> {
    let max = F::Key::default().or_bits(0, 32, u32::MAX);
    let max = if F::BITS > 32 {
        max.or_bits(32, 32, u32::MAX)
            .or_bits(64, 32, u32::MAX)
            .or_bits(96, 32, u32::MAX)
    } else {
        max
    };
    let mut v = vec![F::Key::default(), max];
    for (k, l, _) in r.routes() {
        v.push(k);
        // Last address of the prefix, and the neighbours outside it.
        v.push(fill_ones::<F>(k, l));
    }
    v
}

/// The last address of `k/l`.
fn fill_ones<F: Family>(k: F::Key, l: u32) -> F::Key {
    let mut k = k;
    let mut off = l;
    while off < F::BITS {
        let w = (F::BITS - off).min(32);
        k = k.or_bits(off, w, u32::MAX);
        off += w;
    }
    k
}

fn check<F: Family>(
    fib: &Fib<F>,
    r: &Reference<F::Key>,
    extra: &[F::Key],
) -> Result<(), TestCaseError> {
    let t = fib.load();
    prop_assert_eq!(t.len(), r.len());
    let mut keys = probes::<F>(r);
    keys.extend_from_slice(extra);
    let addrs: Vec<F::Addr> = keys.iter().map(|&k| F::key_addr(k)).collect();
    let mut many = vec![None; addrs.len()];
    t.lookup_many(&addrs, &mut many);
    for (i, &k) in keys.iter().enumerate() {
        let want = r.lookup(k);
        prop_assert_eq!(t.lookup(addrs[i]), want, "key {:?}", k);
        prop_assert_eq!(many[i], want, "lookup_many key {:?}", k);
    }
    let mut got: Vec<(F::Key, u32, NextHopId)> = fib
        .routes()
        .iter()
        .map(|(n, h)| {
            let (k, l) = F::net_parts(n);
            (k, l as u32, *h)
        })
        .collect();
    got.sort();
    prop_assert_eq!(got, r.routes());
    Ok(())
}

fn run<F: Family>(
    bases: &[u128],
    ops: &[Op],
    batch: usize,
    extra: &[u128],
) -> Result<(), TestCaseError> {
    let fib = Fib::<F>::new();
    let mut r = Reference::<F::Key>::new();
    let extra: Vec<F::Key> = extra
        .iter()
        .map(|&e| key_of::<F>(bases, e, 255).0)
        .collect();
    let to_change = |&(seed, len_seed, hop): &Op| {
        let (k, l) = key_of::<F>(bases, seed, len_seed);
        let net = F::net_from_parts(k, l as u8);
        (
            k,
            l,
            hop,
            match hop {
                Some(h) => Change::Upsert(net, h),
                None => Change::Remove(net),
            },
        )
    };
    // A default route sometimes, so "no route" and "default" both occur.
    for chunk in ops.chunks(batch.max(1)) {
        let changes: Vec<_> = chunk.iter().map(to_change).collect();
        fib.apply(&changes.iter().map(|c| c.3).collect::<Vec<_>>())
            .unwrap();
        for (k, l, h, _) in &changes {
            r.apply(*k, *l, *h);
        }
        check(&fib, &r, &extra)?;
    }
    // Remove everything, in batches, down to an empty table.
    let all = r.routes();
    for chunk in all.chunks(batch.max(1)) {
        let changes: Vec<_> = chunk
            .iter()
            .map(|&(k, l, _)| Change::Remove(F::net_from_parts(k, l as u8)))
            .collect();
        fib.apply(&changes).unwrap();
        for &(k, l, _) in chunk {
            r.apply(k, l, None);
        }
        check(&fib, &r, &extra)?;
    }
    prop_assert!(fib.load().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn v4_matches_reference((bases, ops) in ops(120), batch in 1usize..40, extra in prop::collection::vec(any::<u128>(), 16)) {
        run::<V4>(&bases, &ops, batch, &extra)?;
    }

    #[test]
    fn v4_s16_matches_reference((bases, ops) in ops(120), batch in 1usize..40, extra in prop::collection::vec(any::<u128>(), 16)) {
        run::<V4S16>(&bases, &ops, batch, &extra)?;
    }

    #[test]
    fn v6_matches_reference((bases, ops) in ops(120), batch in 1usize..40, extra in prop::collection::vec(any::<u128>(), 16)) {
        run::<V6>(&bases, &ops, batch, &extra)?;
    }

    #[test]
    fn v6_s16_matches_reference((bases, ops) in ops(60), batch in 1usize..20, extra in prop::collection::vec(any::<u128>(), 16)) {
        run::<V6S16>(&bases, &ops, batch, &extra)?;
    }
}

#[test]
fn extremes_and_default() {
    let fib = fib::Fib4::from_routes([
        ("0.0.0.0/0".parse().unwrap(), 1),
        ("255.255.255.255/32".parse().unwrap(), 2),
        ("0.0.0.0/32".parse().unwrap(), 3),
    ])
    .unwrap();
    let t = fib.load();
    assert_eq!(t.lookup("0.0.0.0".parse().unwrap()), Some(3));
    assert_eq!(t.lookup("0.0.0.1".parse().unwrap()), Some(1));
    assert_eq!(t.lookup("255.255.255.255".parse().unwrap()), Some(2));
    assert_eq!(t.lookup("255.255.255.254".parse().unwrap()), Some(1));
    let fib6 = fib::Fib6::from_routes([
        ("::/0".parse().unwrap(), 1),
        (
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
                .parse()
                .unwrap(),
            2,
        ),
        ("::/128".parse().unwrap(), 3),
    ])
    .unwrap();
    let t = fib6.load();
    assert_eq!(t.lookup("::".parse().unwrap()), Some(3));
    assert_eq!(t.lookup("::1".parse().unwrap()), Some(1));
    assert_eq!(
        t.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()),
        Some(2)
    );
    assert_eq!(
        t.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".parse().unwrap()),
        Some(1)
    );
}

#[test]
fn bad_input_is_rejected_and_nothing_applied() {
    let fib = fib::Fib4::new();
    let good = Change::Upsert("10.0.0.0/8".parse().unwrap(), 1);
    let host_bits = Change::Upsert("10.0.0.1/8".parse().unwrap(), 1);
    assert!(matches!(
        fib.apply(&[good, host_bits]),
        Err(FibError::HostBitsSet(_))
    ));
    assert!(fib.load().is_empty());
    let too_big = Change::Upsert("10.0.0.0/8".parse().unwrap(), MAX_NEXT_HOP + 1);
    assert_eq!(
        fib.apply(&[too_big]),
        Err(FibError::NextHopOutOfRange(MAX_NEXT_HOP + 1))
    );
    assert!(matches!(
        fib.apply(&[Change::Remove("10.0.0.1/8".parse().unwrap())]),
        Err(FibError::HostBitsSet(_))
    ));
    fib.apply(&[Change::Upsert("10.0.0.0/8".parse().unwrap(), MAX_NEXT_HOP)])
        .unwrap();
    assert_eq!(
        fib.load().lookup("10.1.2.3".parse().unwrap()),
        Some(MAX_NEXT_HOP)
    );
}

#[test]
fn distinct_next_hop_limit() {
    use fib::MAX_DISTINCT_NEXT_HOPS;
    let fib = fib::Fib4::new();
    // One /32 per distinct next hop, up to the limit.
    let routes: Vec<Change<ipnet::Ipv4Net>> = (0..MAX_DISTINCT_NEXT_HOPS as u32)
        .map(|i| {
            Change::Upsert(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap(),
                i * 7,
            )
        })
        .collect();
    fib.apply(&routes).unwrap();
    let extra = Change::Upsert("192.0.2.0/24".parse().unwrap(), 999_999);
    assert!(matches!(
        fib.apply(&[extra]),
        Err(FibError::TooManyNextHops(_))
    ));
    // Freeing one next hop makes room again; its code is reused without
    // disturbing other routes.
    fib.apply(&[Change::Remove(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0005), 32).unwrap(),
    )])
    .unwrap();
    fib.apply(&[extra]).unwrap();
    let t = fib.load();
    assert_eq!(t.lookup("192.0.2.1".parse().unwrap()), Some(999_999));
    assert_eq!(t.lookup("10.0.0.5".parse().unwrap()), None);
    assert_eq!(t.lookup("10.0.0.6".parse().unwrap()), Some(42));
    assert_eq!(
        t.lookup(std::net::Ipv4Addr::from(0x0a00_0000 + 65534)),
        Some(65534 * 7)
    );
}
