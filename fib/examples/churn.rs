//! Profiling aid: builds the benchmark's synthetic IPv4 table and applies
//! mixed churn in batches, printing per-batch times.
//! `cargo run --release -p fib --example churn -- [batch] [batches]`
#[path = "../../bench/src/fib/tables.rs"]
#[allow(dead_code)]
mod tables;

use std::time::Instant;

use fib::{Change, Fib4};

/// Nanoseconds this thread has run on a CPU (immune to time spent
/// preempted on a busy machine).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let batches: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let (routes, _) = tables::ipv4(2015, 950_000);
    let t = Instant::now();
    let fib = Fib4::from_routes(routes.iter().copied()).unwrap();
    println!(
        "build {:?}, {} routes, {:.1} MiB",
        t.elapsed(),
        fib.len(),
        fib.load().memory_bytes() as f64 / 1048576.0
    );
    let churn = tables::churn(7, &routes, batch * batches);
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let reader = fib.load_full(); // an old version held by a reader, as in the router
    for chunk in churn.chunks(batch) {
        let changes: Vec<_> = chunk
            .iter()
            .map(|&(n, h)| h.map_or(Change::Remove(n), |h| Change::Upsert(n, h)))
            .collect();
        let t = Instant::now();
        let c = cpu_ns();
        fib.apply(&changes).unwrap();
        cpu.push((cpu_ns() - c) as f64 / 1e9);
        times.push(t.elapsed().as_secs_f64());
    }
    drop(reader);
    if std::env::var_os("FIB_DEBUG").is_some() {
        println!(
            "{:?}",
            times
                .iter()
                .map(|t| (t * 1e4).round() / 10.0)
                .collect::<Vec<_>>()
        );
    }
    times.sort_by(|a, b| a.total_cmp(b));
    cpu.sort_by(|a, b| a.total_cmp(b));
    println!(
        "cpu time per batch: median {:.3} ms => {:.0} changes/s",
        cpu[cpu.len() / 2] * 1e3,
        batch as f64 / cpu[cpu.len() / 2]
    );
    let med = times[times.len() / 2];
    println!(
        "batch {batch}: median {:.3} ms, min {:.3} ms, max {:.3} ms => {:.0} changes/s (median); table {:.1} MiB",
        med * 1e3,
        times[0] * 1e3,
        times[times.len() - 1] * 1e3,
        batch as f64 / med,
        fib.load().memory_bytes() as f64 / 1048576.0
    );
}
