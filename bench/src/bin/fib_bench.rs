//! FIB benchmark (issue 3): our poptrie against the `poptrie`, `prefix-trie`
//! and `ip_network_table` crates and a plain DIR-24-8, on the same
//! deterministic synthetic tables and the same pre-generated address arrays.
//!
//! `cargo run --release -p bench --bin fib_bench -- [--quick]`
//!
//! Measures build time, memory, single-thread lookups/s (plain loop and
//! batched), and update rates (mixed churn, batches of 1, 100, 10,000).
//! Lookup runs are interleaved across implementations (run 1 of each, then
//! run 2 of each, ...) so machine noise spreads evenly; medians are shown.
#![forbid(unsafe_code)]

#[path = "../fib/dir24.rs"]
mod dir24;
#[path = "../fib/static_poptrie.rs"]
mod static_poptrie;
#[path = "../fib/tables.rs"]
mod tables;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use clap::Parser;
use fib::{Change, Family, Fib, Table};
use ipnet::{Ipv4Net, Ipv6Net};
use tables::Churn;

/// Counts live heap bytes, to measure structures that do not report their size.
#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

#[derive(Parser, Debug)]
#[command(about = "FIB lookup/update benchmark")]
struct Args {
    /// Small tables and arrays (CI smoke test, well under 30 s).
    #[arg(long)]
    quick: bool,
    /// Lookup runs per measurement (median reported); default 5 (3 quick).
    #[arg(long)]
    runs: Option<usize>,
    #[arg(long, default_value_t = 2015)]
    seed: u64,
    /// Only this family: v4 or v6.
    #[arg(long)]
    only: Option<String>,
    /// Only our poptrie (s = 18) and the references (IPv4: static poptrie,
    /// DIR-24-8, prefix-trie; IPv6: prefix-trie), for quick iteration.
    #[arg(long)]
    ours_only: bool,
    /// Skip the update measurements.
    #[arg(long)]
    no_updates: bool,
    /// Skip the per-process memory measurement.
    #[arg(long)]
    no_memory: bool,
    /// Internal: build one structure in this (child) process and print its
    /// memory figures (see `memory_child`).
    #[arg(long, hide = true)]
    memory_child: Option<String>,
    /// Internal: routes for `--memory-child`.
    #[arg(long, hide = true)]
    routes: Option<usize>,
}

struct Config {
    v4_routes: usize,
    v6_routes: usize,
    addrs: usize,
    runs: usize,
    phases: [(usize, usize); 3], // (batch size, total changes)
    phase_cap: Duration,
    ours_only: bool,
    updates: bool,
    memory: bool,
}

/// Batch size handed to `lookup_many`-style calls.
const LOOKUP_BATCH: usize = 64;

trait Subject<A, N> {
    fn name(&self) -> String;
    /// Lookup structure bytes as the implementation reports them.
    fn reported_bytes(&self) -> Option<usize>;
    fn pass(&self, addrs: &[A]) -> u64;
    fn pass_batched(&self, addrs: &[A]) -> u64;
    /// Applies a batch; false if the subject does not support updates.
    fn apply(&mut self, batch: &[Churn<N>]) -> bool;
}

#[inline(always)]
fn acc(sum: u64, r: Option<u32>) -> u64 {
    sum.wrapping_add(r.map_or(0, |h| h as u64 + 1))
}

fn plain<A: Copy>(addrs: &[A], f: impl Fn(A) -> Option<u32>) -> u64 {
    let mut sum = 0u64;
    for &a in addrs {
        sum = acc(sum, f(a));
    }
    sum
}

fn batched<A: Copy>(addrs: &[A], f: impl Fn(&[A], &mut [Option<u32>])) -> u64 {
    let mut out = [None; LOOKUP_BATCH];
    let mut sum = 0u64;
    for chunk in addrs.chunks(LOOKUP_BATCH) {
        f(chunk, &mut out);
        for o in &out[..chunk.len()] {
            sum = acc(sum, *o);
        }
    }
    sum
}

// ---- our poptrie -------------------------------------------------------

/// Our FIB. A pass loads the current table once, as a forwarding worker
/// does per packet batch, and drops it after (a version held for ever
/// would keep the writer from reusing its copy).
struct Ours<F: Family> {
    label: &'static str,
    fib: Fib<F>,
}

impl<F: Family> Subject<F::Addr, F::Net> for Ours<F> {
    fn name(&self) -> String {
        format!("fib (ours, s={})", F::DIRECT_BITS) + self.label
    }
    fn reported_bytes(&self) -> Option<usize> {
        Some(self.fib.load().memory_bytes())
    }
    fn pass(&self, addrs: &[F::Addr]) -> u64 {
        let t = self.fib.load();
        let t: &Table<F> = &t;
        plain(addrs, |a| t.lookup(a))
    }
    fn pass_batched(&self, addrs: &[F::Addr]) -> u64 {
        let t = self.fib.load();
        let t: &Table<F> = &t;
        batched(addrs, |a, o| t.lookup_many(a, o))
    }
    fn apply(&mut self, batch: &[Churn<F::Net>]) -> bool {
        let changes: Vec<Change<F::Net>> = batch
            .iter()
            .map(|&(n, h)| match h {
                Some(h) => Change::Upsert(n, h),
                None => Change::Remove(n),
            })
            .collect();
        self.fib.apply(&changes).expect("valid churn");
        true
    }
}

// ---- crates ------------------------------------------------------------

struct PoptrieCrate<N: poptrie::Prefix>(poptrie::Poptrie<N, u32>);
struct PrefixTrie<N: prefix_trie::Prefix>(prefix_trie::PrefixMap<N, u32>);
struct IpNetTable(ip_network_table::IpNetworkTable<u32>);
struct Dir24(dir24::Dir24);
struct StaticRef(static_poptrie::StaticPoptrie<18>);

impl Subject<Ipv4Addr, Ipv4Net> for StaticRef {
    fn name(&self) -> String {
        "static poptrie (reference, s=18)".into()
    }
    fn reported_bytes(&self) -> Option<usize> {
        Some(self.0.bytes())
    }
    fn pass(&self, addrs: &[Ipv4Addr]) -> u64 {
        plain(addrs, |a| self.0.lookup(a))
    }
    fn pass_batched(&self, addrs: &[Ipv4Addr]) -> u64 {
        batched(addrs, |a, o| {
            a.iter()
                .zip(o.iter_mut())
                .for_each(|(a, o)| *o = self.0.lookup(*a))
        })
    }
    fn apply(&mut self, _: &[Churn<Ipv4Net>]) -> bool {
        false
    }
}

macro_rules! crate_subjects {
    ($addr:ty, $net:ty, $host:expr, $ipn:ident, $lm:ident) => {
        impl Subject<$addr, $net> for PoptrieCrate<$net> {
            fn name(&self) -> String {
                "poptrie (crate)".into()
            }
            fn reported_bytes(&self) -> Option<usize> {
                None
            }
            fn pass(&self, addrs: &[$addr]) -> u64 {
                plain(addrs, |a| self.0.lookup(a).copied())
            }
            fn pass_batched(&self, addrs: &[$addr]) -> u64 {
                batched(addrs, |a, o| {
                    a.iter()
                        .zip(o.iter_mut())
                        .for_each(|(a, o)| *o = self.0.lookup(*a).copied())
                })
            }
            fn apply(&mut self, batch: &[Churn<$net>]) -> bool {
                for &(n, h) in batch {
                    match h {
                        Some(h) => {
                            self.0.insert(n, h);
                        }
                        None => {
                            self.0.remove(n);
                        }
                    }
                }
                true
            }
        }
        impl Subject<$addr, $net> for PrefixTrie<$net> {
            fn name(&self) -> String {
                "prefix-trie".into()
            }
            fn reported_bytes(&self) -> Option<usize> {
                Some(self.0.mem_size())
            }
            fn pass(&self, addrs: &[$addr]) -> u64 {
                plain(addrs, |a| {
                    self.0
                        .get_lpm(&<$net>::new(a, $host).expect("host len"))
                        .map(|(_, v)| *v)
                })
            }
            fn pass_batched(&self, addrs: &[$addr]) -> u64 {
                batched(addrs, |a, o| {
                    a.iter().zip(o.iter_mut()).for_each(|(a, o)| {
                        *o = self
                            .0
                            .get_lpm(&<$net>::new(*a, $host).expect("host len"))
                            .map(|(_, v)| *v)
                    })
                })
            }
            fn apply(&mut self, batch: &[Churn<$net>]) -> bool {
                for &(n, h) in batch {
                    match h {
                        Some(h) => {
                            self.0.insert(n, h);
                        }
                        None => {
                            self.0.remove(&n);
                        }
                    }
                }
                true
            }
        }
        impl Subject<$addr, $net> for IpNetTable {
            fn name(&self) -> String {
                "ip_network_table".into()
            }
            fn reported_bytes(&self) -> Option<usize> {
                None
            }
            fn pass(&self, addrs: &[$addr]) -> u64 {
                plain(addrs, |a| self.0.$lm(a).map(|(_, v)| *v))
            }
            fn pass_batched(&self, addrs: &[$addr]) -> u64 {
                batched(addrs, |a, o| {
                    a.iter()
                        .zip(o.iter_mut())
                        .for_each(|(a, o)| *o = self.0.$lm(*a).map(|(_, v)| *v))
                })
            }
            fn apply(&mut self, batch: &[Churn<$net>]) -> bool {
                for &(n, h) in batch {
                    let n = ip_network::$ipn::new(n.network(), n.prefix_len()).expect("valid");
                    match h {
                        Some(h) => {
                            self.0.insert(n, h);
                        }
                        None => {
                            self.0.remove(n);
                        }
                    }
                }
                true
            }
        }
    };
}
crate_subjects!(Ipv4Addr, Ipv4Net, 32, Ipv4Network, longest_match_ipv4);
crate_subjects!(Ipv6Addr, Ipv6Net, 128, Ipv6Network, longest_match_ipv6);

impl Subject<Ipv4Addr, Ipv4Net> for Dir24 {
    fn name(&self) -> String {
        "DIR-24-8 (reference)".into()
    }
    fn reported_bytes(&self) -> Option<usize> {
        Some(self.0.bytes())
    }
    fn pass(&self, addrs: &[Ipv4Addr]) -> u64 {
        plain(addrs, |a| self.0.lookup(a))
    }
    fn pass_batched(&self, addrs: &[Ipv4Addr]) -> u64 {
        batched(addrs, |a, o| {
            a.iter()
                .zip(o.iter_mut())
                .for_each(|(a, o)| *o = self.0.lookup(*a))
        })
    }
    fn apply(&mut self, _: &[Churn<Ipv4Net>]) -> bool {
        false
    }
}

// ---- measurement ---------------------------------------------------------

struct Row<A, N> {
    subject: Box<dyn Subject<A, N>>,
    build: Duration,
    heap: usize,
    /// [random plain, random batched, in-table plain, in-table batched] in s per pass.
    times: [Vec<f64>; 4],
    sums: [u64; 2],
    agree: bool,
    rates: [Option<f64>; 3],
    latency: Option<(Duration, Duration, Duration)>,
}

fn build<A, N>(f: impl FnOnce() -> Box<dyn Subject<A, N>>) -> Row<A, N> {
    let before = ALLOC.allocated();
    let t = Instant::now();
    let subject = f();
    let build = t.elapsed();
    let heap = ALLOC.allocated().saturating_sub(before);
    eprintln!(
        "  built {:<24} in {:>8.1} ms, heap {:>7.1} MiB",
        subject.name(),
        build.as_secs_f64() * 1e3,
        mib(heap)
    );
    Row {
        subject,
        build,
        heap,
        times: Default::default(),
        sums: [0; 2],
        agree: true,
        rates: [None; 3],
        latency: None,
    }
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn measure_lookups<A, N>(rows: &mut [Row<A, N>], mixes: [&[A]; 2], runs: usize) {
    for run in 0..runs {
        for row in rows.iter_mut() {
            for (m, addrs) in mixes.iter().enumerate() {
                let t = Instant::now();
                let s1 = black_box(row.subject.pass(black_box(addrs)));
                row.times[m * 2].push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                let s2 = black_box(row.subject.pass_batched(black_box(addrs)));
                row.times[m * 2 + 1].push(t.elapsed().as_secs_f64());
                if run == 0 {
                    row.sums[m] = s1;
                }
                row.agree &= s1 == s2 && s1 == row.sums[m];
            }
        }
        eprintln!("  lookup run {}/{} done", run + 1, runs);
    }
    let reference = rows[0].sums;
    for row in rows.iter_mut() {
        row.agree &= row.sums == reference;
    }
}

fn measure_updates<A, N: Copy>(
    rows: &mut [Row<A, N>],
    phases: &[(usize, Vec<Churn<N>>)],
    cap: Duration,
) {
    for row in rows.iter_mut() {
        for (p, (batch, changes)) in phases.iter().enumerate() {
            let started = Instant::now();
            let mut per_batch: Vec<Duration> = Vec::new();
            let mut supported = true;
            for chunk in changes.chunks(*batch) {
                let t = Instant::now();
                supported = row.subject.apply(chunk);
                per_batch.push(t.elapsed());
                if !supported || started.elapsed() > cap {
                    break;
                }
            }
            if !supported {
                continue;
            }
            let mut secs: Vec<f64> = per_batch.iter().map(|d| d.as_secs_f64()).collect();
            secs.sort_by(|a, b| a.total_cmp(b));
            row.rates[p] = Some(*batch as f64 / median(&secs));
            if *batch == 1 {
                let mut d = per_batch.clone();
                d.sort();
                let q = |f: f64| d[((d.len() - 1) as f64 * f) as usize];
                row.latency = Some((q(0.5), q(0.99), d[d.len() - 1]));
            }
        }
        eprintln!("  updates done for {}", row.subject.name());
    }
}

fn print_table<A, N>(title: &str, rows: &[Row<A, N>], n_addrs: usize) {
    println!("\n### {title}\n");
    println!("Lookups in millions per second (median), {n_addrs} addresses per mix; batched = {LOOKUP_BATCH} per call.\n");
    println!(
        "| implementation | build ms | table MiB | heap MiB | random | random batched | in-table | in-table batched | upd/s b=1 | upd/s b=100 | upd/s b=10k | b=1 latency p50/p99/max | agree |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for r in rows {
        let mlps = |i: usize| n_addrs as f64 / median(&r.times[i]) / 1e6;
        let rate = |i: usize| r.rates[i].map_or("n/a".to_string(), |x| format!("{:.0}", x));
        let lat = r.latency.map_or("n/a".to_string(), |(a, b, c)| {
            format!("{:.0}/{:.0}/{:.0} µs", us(a), us(b), us(c))
        });
        println!(
            "| {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {} |",
            r.subject.name(),
            r.build.as_secs_f64() * 1e3,
            r.subject
                .reported_bytes()
                .map_or("-".to_string(), |b| format!("{:.1}", mib(b))),
            mib(r.heap),
            mlps(0),
            mlps(1),
            mlps(2),
            mlps(3),
            rate(0),
            rate(1),
            rate(2),
            lat,
            if r.agree { "yes" } else { "NO" }
        );
    }
    let find = |name: &str| rows.iter().find(|r| r.subject.name().starts_with(name));
    let best = |r: &Row<A, N>, mix: usize| {
        let a = n_addrs as f64 / median(&r.times[mix * 2]);
        let b = n_addrs as f64 / median(&r.times[mix * 2 + 1]);
        a.max(b)
    };
    println!("\nRatios (best of plain/batched, random / in-table):\n");
    for r in rows.iter().filter(|r| r.subject.name().starts_with("fib")) {
        let mut line = format!("- {}:", r.subject.name());
        for (label, other) in [
            ("prefix-trie", find("prefix-trie")),
            ("DIR-24-8", find("DIR-24-8")),
        ] {
            if let Some(o) = other {
                line += &format!(
                    " vs {label} {:.2}x / {:.2}x;",
                    best(r, 0) / best(o, 0),
                    best(r, 1) / best(o, 1)
                );
            }
        }
        println!("{line}");
    }
}

/// The issue 12 target ratios for our s = 18 row, from the medians.
fn print_targets<A, N>(rows: &[Row<A, N>], n_addrs: usize) {
    let find = |prefix: &str| rows.iter().find(|r| r.subject.name().starts_with(prefix));
    let Some(ours) = find("fib (ours, s=18)") else {
        return;
    };
    // Mlookups/s of median column `i` (0 random, 1 random batched,
    // 2 in-table, 3 in-table batched).
    let m = |r: &Row<A, N>, i: usize| n_addrs as f64 / median(&r.times[i]) / 1e6;
    println!("\nTargets (issue 12), medians, random / in-table:\n");
    let line = |label: &str, other: Option<&Row<A, N>>, ours_i: [usize; 2], other_i: [usize; 2]| {
        if let Some(o) = other {
            println!(
                "- {label}: {:.2}x / {:.2}x",
                m(ours, ours_i[0]) / m(o, other_i[0]),
                m(ours, ours_i[1]) / m(o, other_i[1])
            );
        }
    };
    line(
        "single lookups vs static poptrie single (target >= 0.9x)",
        find("static poptrie"),
        [0, 2],
        [0, 2],
    );
    line(
        "single lookups vs prefix-trie (target >= 5x random; IPv6 >= 3x)",
        find("prefix-trie"),
        [0, 2],
        [0, 2],
    );
    line(
        "lookup_many vs DIR-24-8 batched (target >= 1.0x)",
        find("DIR-24-8"),
        [1, 3],
        [1, 3],
    );
    line(
        "lookup_many vs static poptrie single",
        find("static poptrie"),
        [1, 3],
        [0, 2],
    );
}

/// Kernel figure `field` (e.g. `VmRSS:`) of this process, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Child process of the memory measurement: generates the IPv4 table (as
/// every child does, so that part is the same for all), resets the peak,
/// builds one structure and prints `rss_before rss_after peak rss_updated`
/// in KiB (`rss_updated`: after one batch of 100 changes, which for `fib`
/// creates its second, writer's copy; 0 where there are no updates).
fn memory_child(what: &str, n: usize, seed: u64) {
    let (routes, _) = tables::ipv4(seed, n);
    let churn = tables::churn(seed + 3, &routes, 100);
    // Resets VmHWM to the current RSS (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS:");
    let mut updated = 0;
    let keep: Box<dyn std::any::Any> = match what {
        "fib" => {
            let fib = Fib::<fib::V4>::from_routes(routes.iter().copied()).expect("valid");
            let after = status_kib("VmRSS:");
            let peak = status_kib("VmHWM:");
            let mut ours = Ours { label: "", fib };
            ours.apply(&churn);
            updated = status_kib("VmRSS:");
            println!("{before} {after} {peak} {updated}");
            return;
        }
        "prefix-trie" => Box::new(PrefixTrie::<Ipv4Net>(routes.iter().copied().collect())),
        "static" => Box::new(static_poptrie::StaticPoptrie::<18>::build(&routes)),
        "dir24" => Box::new(dir24::Dir24::build(&routes)),
        other => panic!("unknown --memory-child {other}"),
    };
    let after = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    black_box(&keep);
    println!("{before} {after} {peak} {updated}");
}

/// Runs `memory_child` for each structure in a fresh process of this
/// binary and prints the process figures.
fn print_memory(family: &str, n: usize, seed: u64) {
    println!("\nProcess memory ({family}, {n} routes requested; each structure built alone in a fresh process; RSS in MiB):\n");
    println!("| structure | RSS before build | RSS after build | growth | peak during build | RSS after 1 batch of 100 changes |");
    println!("|---|---:|---:|---:|---:|---:|");
    let Ok(exe) = std::env::current_exe() else {
        println!("(no current_exe)");
        return;
    };
    for what in ["fib", "prefix-trie", "static", "dir24"] {
        let out = std::process::Command::new(&exe)
            .args([
                "--memory-child",
                what,
                "--routes",
                &n.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .output();
        let figures: Vec<f64> = match &out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|x| x.parse::<f64>().ok())
                .map(|k| k / 1024.0)
                .collect(),
            _ => Vec::new(),
        };
        if figures.len() != 4 {
            println!("| {what} | failed: {:?} | | | | |", out.map(|o| o.status));
            continue;
        }
        let upd = if figures[3] > 0.0 {
            format!("{:.1}", figures[3])
        } else {
            "n/a".into()
        };
        println!(
            "| {what} | {:.1} | {:.1} | {:.1} | {:.1} | {upd} |",
            figures[0],
            figures[1],
            figures[1] - figures[0],
            figures[2]
        );
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn anon_huge_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn churn_phases<N: Copy>(
    cfg: &Config,
    seed: u64,
    routes: &[(N, u32)],
) -> Vec<(usize, Vec<Churn<N>>)> {
    cfg.phases
        .iter()
        .enumerate()
        .map(|(i, &(batch, total))| (batch, tables::churn(seed + i as u64, routes, total)))
        .collect()
}

fn run_v4(cfg: &Config, seed: u64) {
    let t = Instant::now();
    let (routes, nested) = tables::ipv4(seed, cfg.v4_routes);
    let long16 = routes.iter().filter(|r| r.0.prefix_len() >= 16).count();
    eprintln!(
        "IPv4 table: {} routes ({} of {} /16+ placed nested) in {:.1} s",
        routes.len(),
        nested,
        long16,
        t.elapsed().as_secs_f64()
    );
    let uniform = tables::uniform_v4(seed + 1, cfg.addrs);
    let in_table = tables::in_table_v4(seed + 2, cfg.addrs, &routes);
    let phases = churn_phases(cfg, seed + 3, &routes);

    type Builder<'a> = Box<dyn FnOnce() -> Box<dyn Subject<Ipv4Addr, Ipv4Net>> + 'a>;
    let builders: Vec<Builder> = vec![
        Box::new(|| {
            let fib = Fib::<fib::V4>::from_routes(routes.iter().copied()).expect("valid");
            eprintln!("  shape: {:?}", fib.load().stats());
            Box::new(Ours { label: "", fib })
        }),
        Box::new(|| {
            let t = static_poptrie::StaticPoptrie::<18>::build(&routes);
            eprintln!("  static poptrie shape (nodes, leaves): {:?}", t.shape());
            Box::new(StaticRef(t))
        }),
        Box::new(|| Box::new(Dir24(dir24::Dir24::build(&routes)))),
        Box::new(|| Box::new(PrefixTrie(routes.iter().copied().collect()))),
        Box::new(|| {
            let fib = Fib::<fib::V4S16>::from_routes(routes.iter().copied()).expect("valid");
            eprintln!("  shape: {:?}", fib.load().stats());
            Box::new(Ours { label: "", fib })
        }),
        Box::new(|| Box::new(PoptrieCrate(routes.iter().copied().collect()))),
        Box::new(|| {
            let mut t = ip_network_table::IpNetworkTable::new();
            for (n, h) in &routes {
                t.insert(
                    ip_network::Ipv4Network::new(n.network(), n.prefix_len()).expect("valid"),
                    *h,
                );
            }
            Box::new(IpNetTable(t))
        }),
    ];
    let mut rows: Vec<_> = builders
        .into_iter()
        .take(if cfg.ours_only { 4 } else { usize::MAX })
        .map(build)
        .collect();
    measure_lookups(&mut rows, [&uniform, &in_table], cfg.runs);
    if cfg.updates {
        measure_updates(&mut rows, &phases, cfg.phase_cap);
    }
    print_table(
        &format!("IPv4: {} routes (seed {seed})", routes.len()),
        &rows,
        cfg.addrs,
    );
    print_targets(&rows, cfg.addrs);
    if cfg.memory {
        print_memory("v4", cfg.v4_routes, seed);
    }
}

fn run_v6(cfg: &Config, seed: u64) {
    let t = Instant::now();
    let (routes, nested) = tables::ipv6(seed, cfg.v6_routes);
    eprintln!(
        "IPv6 table: {} routes ({} placed nested) in {:.1} s",
        routes.len(),
        nested,
        t.elapsed().as_secs_f64()
    );
    let uniform = tables::uniform_v6(seed + 11, cfg.addrs);
    let in_table = tables::in_table_v6(seed + 12, cfg.addrs, &routes);
    let phases = churn_phases(cfg, seed + 13, &routes);
    type Builder<'a> = Box<dyn FnOnce() -> Box<dyn Subject<Ipv6Addr, Ipv6Net>> + 'a>;
    let builders: Vec<Builder> = vec![
        Box::new(|| {
            let fib = Fib::<fib::V6>::from_routes(routes.iter().copied()).expect("valid");
            eprintln!("  shape: {:?}", fib.load().stats());
            Box::new(Ours { label: "", fib })
        }),
        Box::new(|| Box::new(PrefixTrie(routes.iter().copied().collect()))),
        Box::new(|| {
            let fib = Fib::<fib::V6S16>::from_routes(routes.iter().copied()).expect("valid");
            eprintln!("  shape: {:?}", fib.load().stats());
            Box::new(Ours { label: "", fib })
        }),
        Box::new(|| Box::new(PoptrieCrate(routes.iter().copied().collect()))),
        Box::new(|| {
            let mut t = ip_network_table::IpNetworkTable::new();
            for (n, h) in &routes {
                t.insert(
                    ip_network::Ipv6Network::new(n.network(), n.prefix_len()).expect("valid"),
                    *h,
                );
            }
            Box::new(IpNetTable(t))
        }),
    ];
    let mut rows: Vec<_> = builders
        .into_iter()
        .take(if cfg.ours_only { 2 } else { usize::MAX })
        .map(build)
        .collect();
    measure_lookups(&mut rows, [&uniform, &in_table], cfg.runs);
    if cfg.updates {
        measure_updates(&mut rows, &phases, cfg.phase_cap);
    }
    print_table(
        &format!("IPv6: {} routes (seed {seed})", routes.len()),
        &rows,
        cfg.addrs,
    );
    print_targets(&rows, cfg.addrs);
}

fn main() {
    let args = Args::parse();
    if let Some(what) = &args.memory_child {
        memory_child(what, args.routes.unwrap_or(950_000), args.seed);
        return;
    }
    let cfg = if args.quick {
        Config {
            v4_routes: 100_000,
            v6_routes: 25_000,
            addrs: 1_000_000,
            runs: args.runs.unwrap_or(3),
            phases: [(1, 1_000), (100, 5_000), (10_000, 20_000)],
            phase_cap: Duration::from_millis(500),
            ours_only: args.ours_only,
            updates: !args.no_updates,
            memory: !args.no_memory,
        }
    } else {
        Config {
            v4_routes: 950_000,
            v6_routes: 200_000,
            addrs: 10_000_000,
            runs: args.runs.unwrap_or(5),
            phases: [(1, 5_000), (100, 30_000), (10_000, 100_000)],
            phase_cap: Duration::from_secs(5),
            ours_only: args.ours_only,
            updates: !args.no_updates,
            memory: !args.no_memory,
        }
    };
    let started = Instant::now();
    println!(
        "fib_bench: {} mode, seed {}, {} runs, THP (AnonHugePages) before: {:?} KiB, GLIBC_TUNABLES={:?}",
        if args.quick { "quick" } else { "full" },
        args.seed,
        cfg.runs,
        anon_huge_kib(),
        std::env::var("GLIBC_TUNABLES").ok()
    );
    if args.only.as_deref() != Some("v6") {
        run_v4(&cfg, args.seed);
        println!("\nAnonHugePages after IPv4: {:?} KiB", anon_huge_kib());
    }
    if args.only.as_deref() != Some("v4") {
        run_v6(&cfg, args.seed);
    }
    println!("\nTotal time {:.1} s", started.elapsed().as_secs_f64());
}
