//! Deterministic synthetic routing tables, address arrays and churn for the
//! FIB benchmark (issue 3's recipe).
//!
//! IPv4 (~950k): the global table's length shape (59% /24, 9.5% /23, 11.5%
//! /22, 5% /21, 5% /20, 3.5% /19, 2% /18, 1.5% /17, 2% /16, 0.5% /8-/15,
//! 0.1% longer than /24), clustered inside allocation blocks, about half of
//! the /16-and-longer ones nested inside a shorter prefix, plus a default
//! route; 32 next hops. IPv6 (~200k): 55% /48, 12% /32, 10% /44, 8% /40,
//! 4% /36, the rest spread over /24-/47, inside 2000::/3.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const NEXT_HOPS: u32 = 32;

/// A prefix: key right-aligned in a u128 (IPv4 in the low 32 bits) and length.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pfx {
    pub key: u128,
    pub len: u8,
}

fn mask(k: u128, len: u8, bits: u32) -> u128 {
    let host = bits - len as u32;
    match host {
        0 => k,
        128 => 0,
        h => k & !((1u128 << h) - 1),
    }
}

fn random_inside(rng: &mut StdRng, p: Pfx, len: u8, bits: u32) -> u128 {
    let r: u128 = rng.gen::<u128>() >> (128 - bits);
    let host = if p.len == 0 {
        r
    } else {
        r & ((1u128 << (bits - p.len as u32)) - 1)
    };
    mask(p.key | host, len, bits)
}

/// Generic generator: `shares` are (length, count); `blocks` allocation
/// blocks drawn by `space`; from length `nest_from` on, half the prefixes
/// are placed inside an already generated shorter one.
fn generate(
    seed: u64,
    bits: u32,
    space: &dyn Fn(&mut StdRng, u8) -> u128,
    shares: &[(u8, usize)],
    block_lens: (u8, u8),
    blocks: usize,
    nest_from: u8,
) -> (Vec<(Pfx, u32)>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let blocks: Vec<Pfx> = (0..blocks)
        .map(|_| {
            let len = rng.gen_range(block_lens.0..=block_lens.1);
            Pfx {
                key: space(&mut rng, len),
                len,
            }
        })
        .collect();
    let mut seen: HashSet<Pfx> = HashSet::new();
    let mut list: Vec<Pfx> = Vec::new();
    let mut nested = 0usize;
    let mut shares = shares.to_vec();
    shares.sort();
    for &(len, count) in &shares {
        for _ in 0..count {
            for _attempt in 0..64 {
                let mut is_nested = false;
                let key = if len >= nest_from && !list.is_empty() && rng.gen_bool(0.5) {
                    let parent = list[rng.gen_range(0..list.len())];
                    if parent.len >= len {
                        continue;
                    }
                    is_nested = true;
                    random_inside(&mut rng, parent, len, bits)
                } else {
                    let b = blocks[rng.gen_range(0..blocks.len())];
                    if b.len >= len {
                        mask(b.key, len, bits)
                    } else {
                        random_inside(&mut rng, b, len, bits)
                    }
                };
                let p = Pfx { key, len };
                if seen.insert(p) {
                    list.push(p);
                    nested += is_nested as usize;
                    break;
                }
            }
        }
    }
    let mut out: Vec<(Pfx, u32)> = list
        .into_iter()
        .map(|p| (p, rng.gen_range(0..NEXT_HOPS)))
        .collect();
    out.push((Pfx { key: 0, len: 0 }, 0)); // default route
    (out, nested)
}

/// IPv4 table of about `total` prefixes; returns routes and how many of the
/// /16-and-longer were placed nested.
pub fn ipv4(seed: u64, total: usize) -> (Vec<(Ipv4Net, u32)>, usize) {
    let pct = |p: f64| (total as f64 * p / 100.0).round() as usize;
    let mut shares = vec![
        (16, pct(2.0)),
        (17, pct(1.5)),
        (18, pct(2.0)),
        (19, pct(3.5)),
        (20, pct(5.0)),
        (21, pct(5.0)),
        (22, pct(11.5)),
        (23, pct(9.5)),
        (24, pct(59.0)),
    ];
    // 0.5% over /8-/15, doubling per length (few /8s exist); 0.1% over /25-/32.
    let short = pct(0.5);
    for (i, len) in (8u8..=15).enumerate() {
        shares.push((len, short * (1 << i) / 255));
    }
    for len in 25u8..=32 {
        shares.push((len, pct(0.1) / 8));
    }
    // Allocation blocks live in the unicast space (first octet 1-223).
    let space = |rng: &mut StdRng, len: u8| {
        let first = rng.gen_range(1u128..=223);
        let rest = rng.gen::<u128>() & 0x00ff_ffff;
        mask(first << 24 | rest, len, 32)
    };
    let (routes, nested) = generate(seed, 32, &space, &shares, (12, 16), 6000, 16);
    let routes = routes
        .into_iter()
        .map(|(p, h)| {
            (
                Ipv4Net::new(Ipv4Addr::from(p.key as u32), p.len).expect("len <= 32"),
                h,
            )
        })
        .collect();
    (routes, nested)
}

pub fn ipv6(seed: u64, total: usize) -> (Vec<(Ipv6Net, u32)>, usize) {
    let pct = |p: f64| (total as f64 * p / 100.0).round() as usize;
    let mut shares = vec![
        (48, pct(55.0)),
        (32, pct(12.0)),
        (44, pct(10.0)),
        (40, pct(8.0)),
        (36, pct(4.0)),
    ];
    let others: Vec<u8> = (24u8..=47)
        .filter(|l| ![32, 36, 40, 44].contains(l))
        .collect();
    for &l in &others {
        shares.push((l, pct(11.0) / others.len()));
    }
    let global = Pfx {
        key: 0x2000_0000_0000_0000_0000_0000_0000_0000,
        len: 3,
    };
    let space = move |rng: &mut StdRng, len: u8| random_inside(rng, global, len, 128);
    let (routes, nested) = generate(seed ^ 0x6666, 128, &space, &shares, (20, 32), 4000, 32);
    let routes = routes
        .into_iter()
        .map(|(p, h)| {
            (
                Ipv6Net::new(Ipv6Addr::from(p.key), p.len).expect("len <= 128"),
                h,
            )
        })
        .collect();
    (routes, nested)
}

/// `n` uniformly random IPv4 addresses.
pub fn uniform_v4(seed: u64, n: usize) -> Vec<Ipv4Addr> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| Ipv4Addr::from(rng.gen::<u32>())).collect()
}

/// `n` uniformly random IPv6 addresses inside 2000::/3 (outside it every
/// structure answers from its first level).
pub fn uniform_v6(seed: u64, n: usize) -> Vec<Ipv6Addr> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| Ipv6Addr::from((rng.gen::<u128>() >> 3) | (1u128 << 125)))
        .collect()
}

/// `n` addresses drawn from inside random (non-default) table prefixes.
pub fn in_table_v4(seed: u64, n: usize, routes: &[(Ipv4Net, u32)]) -> Vec<Ipv4Addr> {
    let mut rng = StdRng::seed_from_u64(seed);
    let nets: Vec<&Ipv4Net> = routes
        .iter()
        .map(|r| &r.0)
        .filter(|n| n.prefix_len() > 0)
        .collect();
    (0..n)
        .map(|_| {
            let net = nets[rng.gen_range(0..nets.len())];
            let host = rng.gen::<u32>() & !u32::from(net.netmask());
            Ipv4Addr::from(u32::from(net.network()) | host)
        })
        .collect()
}

pub fn in_table_v6(seed: u64, n: usize, routes: &[(Ipv6Net, u32)]) -> Vec<Ipv6Addr> {
    let mut rng = StdRng::seed_from_u64(seed);
    let nets: Vec<&Ipv6Net> = routes
        .iter()
        .map(|r| &r.0)
        .filter(|n| n.prefix_len() > 0)
        .collect();
    (0..n)
        .map(|_| {
            let net = nets[rng.gen_range(0..nets.len())];
            let host = rng.gen::<u128>() & !u128::from(net.netmask());
            Ipv6Addr::from(u128::from(net.network()) | host)
        })
        .collect()
}

/// A churn step: `Some(hop)` upserts, `None` removes.
pub type Churn<N> = (N, Option<u32>);

/// Mixed churn over the table's own prefixes: a present prefix is removed
/// or gets a new next hop (even odds), an absent one comes back.
pub fn churn<N: Copy>(seed: u64, routes: &[(N, u32)], n: usize) -> Vec<Churn<N>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut present = vec![true; routes.len()];
    (0..n)
        .map(|_| {
            // Index 0.. excludes nothing: the default route churns too, rarely.
            let i = rng.gen_range(0..routes.len());
            let net = routes[i].0;
            if present[i] && rng.gen_bool(0.5) {
                present[i] = false;
                (net, None)
            } else {
                present[i] = true;
                (net, Some(rng.gen_range(0..NEXT_HOPS)))
            }
        })
        .collect()
}
