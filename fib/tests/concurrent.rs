//! Readers look up continuously while a writer applies batches. Version v
//! of the table maps every probe prefix, and a changing set of more-specific
//! prefixes inside them, to next hop v; other routes elsewhere churn too. So
//! every answer names the version it came from: within one loaded table all
//! answers must name the same version (a batch is atomic), versions never go
//! backwards, and an answer from a half-built or recycled structure would
//! name a wrong version or none.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fib::{Change, Family, Fib, Key, V4, V6};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PROBES: u32 = 24;
const VERSIONS: u32 = 300;

fn random_in<F: Family>(rng: &mut StdRng, key: F::Key, len: u32) -> F::Key {
    let mut k = key;
    let mut off = len;
    while off < F::BITS {
        let w = (F::BITS - off).min(32);
        k = k.or_bits(off, w, rng.gen::<u32>() >> (32 - w));
        off += w;
    }
    k
}

fn probe<F: Family>(i: u32) -> (F::Key, u32) {
    // Disjoint probes: distinct first octets; lengths across the
    // direct-pointing and stride boundaries.
    let lens = [8, 12, 16, 17, 18, 19, 20, 23, 24, 25, 28, 32];
    let len = lens[(i as usize) % lens.len()];
    let top = (1 + i * 9) << 24 | (i * 0x0001_0137) & 0x00ff_ffff;
    (F::Key::default().or_bits(0, 32, top).mask(len), len)
}

fn run<F: Family>() {
    let fib = Arc::new(Fib::<F>::new());
    let mut rng = StdRng::seed_from_u64(7);
    // Background routes that churn (next hop 1000+), away from the probes.
    let background: Vec<F::Net> = (0..3000)
        .map(|_| {
            let len = rng.gen_range(16..=F::BITS.min(40));
            let top = 0xE000_0000u32 | rng.gen::<u32>() >> 4; // 224.0.0.0/4 area
            let k = random_in::<F>(&mut rng, F::Key::default().or_bits(0, 32, top), 32).mask(len);
            F::net_from_parts(k, len as u8)
        })
        .collect();
    fib.apply(
        &background
            .iter()
            .map(|&n| Change::Upsert(n, 1000))
            .collect::<Vec<_>>(),
    )
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let fib = fib.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(100 + r);
                let addrs: Vec<F::Addr> = (0..PROBES * 8)
                    .map(|i| {
                        let (k, l) = probe::<F>(i % PROBES);
                        F::key_addr(random_in::<F>(&mut rng, k, l))
                    })
                    .collect();
                let mut out = vec![None; addrs.len()];
                let mut last = 0;
                let mut seen = BTreeSet::new();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = fib.load();
                    let version = t.lookup(addrs[0]).unwrap_or(0);
                    assert!(
                        version >= last,
                        "version went back from {last} to {version}"
                    );
                    for a in &addrs {
                        assert_eq!(
                            t.lookup(*a),
                            Some(version).filter(|&v| v > 0),
                            "mixed versions in one table"
                        );
                    }
                    t.lookup_many(&addrs, &mut out);
                    assert!(
                        out.iter().all(|o| *o == Some(version).filter(|&v| v > 0)),
                        "mixed versions in lookup_many"
                    );
                    last = version;
                    seen.insert(version);
                    rounds += 1;
                }
                (seen.len(), rounds)
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut subs: BTreeSet<(F::Key, u32)> = BTreeSet::new();
    for v in 1..=VERSIONS {
        if Instant::now() > deadline {
            break;
        }
        let mut batch = Vec::new();
        let mut next: BTreeSet<(F::Key, u32)> = BTreeSet::new();
        for i in 0..PROBES {
            let (k, l) = probe::<F>(i);
            batch.push(Change::Upsert(F::net_from_parts(k, l as u8), v));
            for _ in 0..if l < F::BITS { rng.gen_range(0..6) } else { 0 } {
                let sl = rng.gen_range(l + 1..=F::BITS.min(l + 20));
                next.insert((random_in::<F>(&mut rng, k, l).mask(sl), sl));
            }
        }
        for &(k, l) in subs.difference(&next) {
            batch.push(Change::Remove(F::net_from_parts(k, l as u8)));
        }
        for &(k, l) in &next {
            batch.push(Change::Upsert(F::net_from_parts(k, l as u8), v));
        }
        // Background churn in the same batch.
        for _ in 0..50 {
            let n = background[rng.gen_range(0..background.len())];
            batch.push(if rng.gen() {
                Change::Remove(n)
            } else {
                Change::Upsert(n, 1000)
            });
        }
        fib.apply(&batch).unwrap();
        subs = next;
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let (seen, rounds) = r.join().expect("reader panicked");
        assert!(
            seen > 10,
            "reader saw only {seen} versions in {rounds} rounds: test did not exercise updates"
        );
    }
}

#[test]
fn readers_see_whole_versions_v4() {
    run::<V4>();
}

#[test]
fn readers_see_whole_versions_v6() {
    run::<V6>();
}
