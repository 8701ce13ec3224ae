//! Forwarding benchmark: Linux kernel forwarding vs `router` on the same
//! `src — router — dst` namespace topology, in one run.
//!
//! `sudo cargo run --release -p bench --bin fwd_bench -- [--quick] [--out DIR] [--family v4|v6|both]`
//!
//! Measures minimum-size UDP packets per second (sendmmsg blaster ->
//! recvmmsg sink) and loss, TCP Gbit/s with iperf3 (1 and 4 streams, default
//! offloads; 1 stream with offloads off), and UDP request/response latency
//! in an HdrHistogram, idle and under an iperf3 load. Repetitions alternate
//! the forwarders; the table shows medians (latency: all repetitions'
//! samples merged) and router/kernel ratios, CPU time per forwarded packet
//! (/proc; `perf stat` instructions where the machine has counters), and
//! the pps cost of a drop monitor and of a Prometheus scrape every 100 ms
//! (`--cost-rounds N`, 0 skips it). Writes `.hgrm` files,
//! `fwd-latency.svg` and `fwd_summary.json` to the out dir (default
//! bench/out/). `--ingress-compare` adds the router without its ingress
//! drop (pps, CPU); `--workers 1,2,4,8` runs a pps sweep over worker counts
//! instead (`fwd_sweep.json`). Needs root.
//!
//! `--family` picks the address family: IPv4 (the default; 64-byte
//! frames), IPv6 (the same line dual-stack, all traffic to dst's IPv6
//! address; 78-byte frames, since IPv6 UDP cannot fit 64 bytes), or both,
//! IPv4 then IPv6 in one run. IPv6's files carry `-v6` in their names;
//! `fwd_summary.json`'s top level is the first family measured (its
//! `"family"` says which), and with `both` the IPv6 figures are its `"v6"`
//! section, of the same shape.
#![forbid(unsafe_code)]

#[path = "../fwd/mod.rs"]
mod fwd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use fwd::Family;

/// `--family`: which address families to measure.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum FamilyArg {
    V4,
    V6,
    /// IPv4, then IPv6, in one run and one fwd_summary.json.
    Both,
}

impl FamilyArg {
    fn families(self) -> Vec<Family> {
        match self {
            FamilyArg::V4 => vec![Family::V4],
            FamilyArg::V6 => vec![Family::V6],
            FamilyArg::Both => vec![Family::V4, Family::V6],
        }
    }
}

#[derive(Parser)]
#[command(about = "Forwarding benchmark: kernel vs router (run as root)")]
struct Args {
    /// Short smoke run: 1 repetition, short durations, no offloads-off run.
    #[arg(long)]
    quick: bool,
    /// Output directory for .hgrm files and fwd_summary.json.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Repetitions per forwarder (default 3, quick 1).
    #[arg(long)]
    reps: Option<usize>,
    /// Router worker threads; several (`1,2,4,8`) run the pps-only sweep
    /// over them instead of the full benchmark.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    workers: Vec<u32>,
    /// Also measure the router with `ingress_drop = false` (pps and CPU per
    /// packet, a fresh topology per repetition).
    #[arg(long)]
    ingress_compare: bool,
    /// UDP blaster threads for the pps test.
    #[arg(long, default_value_t = 2)]
    blast_threads: usize,
    /// Offered rate of the paced CPU-per-packet test, pps in all.
    #[arg(long, default_value_t = 100_000.0)]
    cpu_rate: f64,
    /// UDP flows (source ports) of the pps test; more spread better over
    /// many workers.
    #[arg(long, default_value_t = 16)]
    flows: usize,
    /// Only these forwarders (kernel, router).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Address family: IPv4, IPv6 (dual-stack line, 78-byte frames), or
    /// both one after the other.
    #[arg(long, value_enum, default_value = "v4")]
    family: FamilyArg,
    /// Rounds of the router's observability cost test (drop monitor,
    /// Prometheus scrape) per repetition; 0 skips it (default 2, quick 1).
    #[arg(long)]
    cost_rounds: Option<usize>,
    /// Only these tests of each repetition (default all); the rows of the
    /// others read 0 or n/a. For working on one figure: `--tests loaded`.
    #[arg(long, value_enum, value_delimiter = ',')]
    tests: Vec<fwd::Test>,
    /// Time the loaded test's round trips hop by hop (tcpdump at both
    /// forwarder ports and both ends): where the tail comes from.
    #[arg(long)]
    breakdown: bool,
    #[command(subcommand)]
    tool: Option<Tool>,
}

/// Traffic tools, run by the benchmark inside its namespaces.
#[derive(Subcommand)]
enum Tool {
    #[command(hide = true, subcommand)]
    Tool(ToolCmd),
}

#[derive(Subcommand)]
enum ToolCmd {
    /// sendmmsg UDP blaster: DST SECS FLOWS PAYLOAD THREADS RATE (pps in
    /// all, 0 = as fast as possible)
    Blast {
        dst: SocketAddr,
        secs: f64,
        flows: usize,
        payload: usize,
        threads: usize,
        rate: f64,
    },
    /// recvmmsg UDP sink: LISTEN_ADDR:PORT SECS
    Sink { listen: SocketAddr, secs: f64 },
    /// UDP echo server: LISTEN_ADDR:PORT SECS
    EchoServer { listen: SocketAddr, secs: f64 },
    /// UDP echo client: DST COUNT WARMUP PAYLOAD TIMEOUT_MS HIST_FILE
    EchoClient {
        dst: SocketAddr,
        count: u64,
        warmup: u64,
        payload: usize,
        timeout_ms: u64,
        hist: PathBuf,
    },
}

fn run_tool(t: ToolCmd) -> std::io::Result<()> {
    use fwd::traffic;
    let json = match t {
        ToolCmd::Blast {
            dst,
            secs,
            flows,
            payload,
            threads,
            rate,
        } => serde_json::to_string(&traffic::blast(dst, secs, flows, payload, threads, rate)?)?,
        ToolCmd::Sink { listen, secs } => serde_json::to_string(&traffic::sink(listen, secs)?)?,
        ToolCmd::EchoServer { listen, secs } => {
            traffic::echo_server(listen, secs)?;
            return Ok(());
        }
        ToolCmd::EchoClient {
            dst,
            count,
            warmup,
            payload,
            timeout_ms,
            hist,
        } => serde_json::to_string(&traffic::echo_client(
            dst,
            count,
            warmup,
            payload,
            Duration::from_millis(timeout_ms),
            &hist,
        )?)?,
    };
    println!("{json}");
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Some(Tool::Tool(t)) = args.tool {
        if let Err(e) = run_tool(t) {
            eprintln!("fwd_bench tool: {e}");
            std::process::exit(1);
        }
        return;
    }
    if !router_tests::is_root() {
        eprintln!("fwd_bench needs root (it creates network namespaces): sudo cargo run --release -p bench --bin fwd_bench");
        std::process::exit(2);
    }
    for t in ["ip", "iperf3", "ping", "ethtool", "ss"] {
        if !router_tests::have_tool(t) {
            eprintln!("fwd_bench needs `{t}` (scripts/install-deps.sh)");
            std::process::exit(2);
        }
    }
    let mut p = fwd::Params::new(args.quick);
    if let Some(r) = args.reps {
        p.reps = r.max(1);
    }
    if args.workers.is_empty() || args.workers.contains(&0) {
        eprintln!("fwd_bench: --workers needs counts >= 1");
        std::process::exit(2);
    }
    p.workers = args.workers[0];
    if args.workers.len() > 1 {
        p.workers_sweep = args.workers.clone();
    }
    p.ingress_compare = args.ingress_compare;
    p.pps_threads = args.blast_threads;
    p.pps_flows = args.flows.max(1);
    p.cpu_rate = args.cpu_rate.max(1_000.0);
    if let Some(n) = args.cost_rounds {
        p.cost_rounds = n;
    }
    if !args.tests.is_empty() {
        p.tests = args.tests.clone();
    }
    p.breakdown = args.breakdown;
    if p.breakdown && !router_tests::have_tool("tcpdump") {
        eprintln!("fwd_bench --breakdown needs `tcpdump` (scripts/install-deps.sh)");
        std::process::exit(2);
    }
    let families = args.family.families();
    p.family = families[0];
    if !args.only.is_empty() {
        p.modes.retain(|m| args.only.iter().any(|o| o == m));
    }
    p.perf = fwd::cpu::perf_instructions_supported();
    if !p.perf {
        println!("perf stat: no instruction counters on this machine (no PMU, e.g. a VM without vPMU); CPU per packet from /proc only");
    }
    if p.modes.contains(&"router") || !p.workers_sweep.is_empty() || p.ingress_compare {
        match fwd::ensure_router_bin() {
            // Read by router_tests when it starts the router; set before any thread exists.
            Ok(bin) => std::env::set_var("ROUTER_BIN", bin),
            Err(e) => {
                eprintln!("fwd_bench: {e}");
                std::process::exit(2);
            }
        }
    }
    let out = args
        .out
        .unwrap_or_else(|| router_tests::workspace_root().join("bench/out"));
    let started = std::time::Instant::now();
    if !p.workers_sweep.is_empty() {
        if families.len() > 1 {
            eprintln!("fwd_bench: a --workers sweep measures one family (--family v4 or v6)");
            std::process::exit(2);
        }
        sweep(&p, &out, started);
        return;
    }
    let runs: Vec<fwd::FamilyRun> = families
        .iter()
        .map(|&family| {
            fwd::FamilyRun::measure(fwd::Params {
                family,
                ..p.clone()
            })
        })
        .collect();
    for run in &runs {
        report(run);
    }
    if let Err(e) = fwd::write_outputs(&out, &runs) {
        eprintln!("writing {}: {e}", out.display());
        std::process::exit(1);
    }
    for run in &runs {
        match fwd::write_plot(&out, run) {
            Ok(f) => println!("\nplot: {}", f.display()),
            Err(e) => {
                eprintln!("writing the latency plot: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "wrote {}/fwd_summary.json and .hgrm files ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    // A forwarder that could not be measured at all is an error (the smoke run in CI relies on it).
    if runs
        .iter()
        .any(|run| run.all.values().any(|r| r.reps.is_empty()))
    {
        std::process::exit(1);
    }
}

/// Prints one family's table, the router's drops and the errors.
fn report(run: &fwd::FamilyRun) {
    let (p, all) = (&run.p, &run.all);
    println!("\nForwarding over {}: kernel vs router ({} repetition(s), {} cores, {}-byte frames, medians; latency = all samples merged)\n", p.family.label(), p.reps, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), p.family.frame_len());
    if p.tests.len() < fwd::Test::ALL.len() {
        println!(
            "only the tests {:?}: the other rows read 0 or n/a\n",
            p.tests
        );
    }
    print!("{}", fwd::table(&run.rows));
    if let Some(r) = all.get("router") {
        for (i, rep) in r.reps.iter().enumerate() {
            let drops: Vec<String> = rep
                .pps_router_drops
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!(
                "router drops during the pps test, repetition {}: {}",
                i + 1,
                if drops.is_empty() {
                    "none".into()
                } else {
                    drops.join(" ")
                }
            );
        }
    }
    if p.breakdown {
        println!("\nWhere the loaded round trips went (tcpdump at both forwarder ports and both ends; µs, p50 / p99 / p99.9):\n");
        println!(
            "| {:<24} | {:>24} | {:>24} |",
            "segment", "kernel", "router"
        );
        println!("|{:-<26}|{:->26}|{:->26}|", "", "", "");
        let cell = |m: &str, i: usize| {
            all.get(m)
                .and_then(|r| r.breakdown.get(i))
                .map(|h| {
                    let q = |x: f64| h.value_at_quantile(x) as f64 / 1e3;
                    format!("{:.1} / {:.1} / {:.1}", q(0.5), q(0.99), q(0.999))
                })
                .unwrap_or_else(|| "n/a".into())
        };
        for (i, seg) in fwd::breakdown::SEGMENTS.iter().enumerate() {
            println!(
                "| {:<24} | {:>24} | {:>24} |",
                seg,
                cell("kernel", i),
                cell("router", i)
            );
        }
    }
    for (m, r) in all {
        for e in &r.errors {
            println!(
                "\n{m}: ERROR: {}",
                e.lines().take(15).collect::<Vec<_>>().join("\n    ")
            );
        }
    }
    if p.ingress_compare {
        let none = Vec::new();
        let reps = |m: &str| all.get(m).map(|r| &r.reps).unwrap_or(&none).as_slice();
        println!(
            "\nThe ingress drop alone (pps test; router ingress_drop=true is the run above):\n"
        );
        print!(
            "{}",
            fwd::pps_table(
                &[
                    ("kernel", reps("kernel")),
                    ("router ingress_drop=true", reps("router")),
                    (fwd::INGRESS_OFF, reps(fwd::INGRESS_OFF)),
                ],
                0,
                2,
                p.family,
            )
        );
    }
}

/// `--workers A,B,...`: the pps sweep, its table and `fwd_sweep.json`.
fn sweep(p: &fwd::Params, out: &std::path::Path, started: std::time::Instant) {
    let lines = fwd::run_sweep(p);
    println!(
        "\nWorkers sweep: {}-byte {} UDP pps ({} repetition(s), {} cores, {} blaster threads, {} flows, medians)\n",
        p.family.frame_len(),
        p.family.label(),
        p.reps,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        p.pps_threads,
        p.pps_flows
    );
    let view: Vec<(&str, &[fwd::RepResult])> = lines
        .iter()
        .map(|(l, r)| (l.as_str(), r.reps.as_slice()))
        .collect();
    print!("{}", fwd::pps_table(&view, 0, 1, p.family));
    for (l, r) in &lines {
        for e in &r.errors {
            println!(
                "\n{l}: ERROR: {}",
                e.lines().take(15).collect::<Vec<_>>().join("\n    ")
            );
        }
    }
    let json = serde_json::json!({
        "params": p,
        "machine": {
            "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        },
        "lines": lines.iter().map(|(l, r)| serde_json::json!({"label": l, "reps": r.reps, "errors": r.errors})).collect::<Vec<_>>(),
    });
    let res = std::fs::create_dir_all(out).and_then(|()| {
        std::fs::write(
            out.join("fwd_sweep.json"),
            serde_json::to_string_pretty(&json)? + "\n",
        )
    });
    if let Err(e) = res {
        eprintln!("writing {}: {e}", out.display());
        std::process::exit(1);
    }
    println!(
        "\nwrote {}/fwd_sweep.json ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    if lines.iter().any(|(_, r)| r.reps.is_empty()) {
        std::process::exit(1);
    }
}
