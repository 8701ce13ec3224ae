//! Forwarding benchmark: Linux kernel forwarding vs `router` on the same
//! `src — router — dst` namespace topology, in one run.
//!
//! `sudo cargo run --release -p bench --bin fwd_bench -- [--quick] [--out DIR]`
//!
//! Measures 64-byte UDP packets per second (sendmmsg blaster -> recvmmsg
//! sink) and loss, TCP Gbit/s with iperf3 (1 and 4 streams, default offloads;
//! 1 stream with offloads off), and UDP request/response latency in an
//! HdrHistogram, idle and under an iperf3 load. Repetitions alternate the
//! forwarders; the table shows medians (latency: all repetitions' samples
//! merged) and router/kernel ratios. Writes `.hgrm` files and
//! `fwd_summary.json` to the out dir (default bench/out/). Needs root.
#![forbid(unsafe_code)]

#[path = "../fwd/mod.rs"]
mod fwd;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

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
    /// Router worker threads.
    #[arg(long, default_value_t = 2)]
    workers: u32,
    /// UDP blaster threads for the pps test.
    #[arg(long, default_value_t = 2)]
    blast_threads: usize,
    /// Only these forwarders (kernel, router).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
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
    /// sendmmsg UDP blaster: DST SECS FLOWS PAYLOAD THREADS
    Blast {
        dst: SocketAddrV4,
        secs: f64,
        flows: usize,
        payload: usize,
        threads: usize,
    },
    /// recvmmsg UDP sink: PORT SECS
    Sink { port: u16, secs: f64 },
    /// UDP echo server: PORT SECS
    EchoServer { port: u16, secs: f64 },
    /// UDP echo client: DST COUNT WARMUP PAYLOAD TIMEOUT_MS HIST_FILE
    EchoClient {
        dst: SocketAddrV4,
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
        } => serde_json::to_string(&traffic::blast(dst, secs, flows, payload, threads)?)?,
        ToolCmd::Sink { port, secs } => serde_json::to_string(&traffic::sink(port, secs)?)?,
        ToolCmd::EchoServer { port, secs } => {
            traffic::echo_server(port, secs)?;
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
    p.workers = args.workers;
    p.pps_threads = args.blast_threads;
    if !args.only.is_empty() {
        p.modes.retain(|m| args.only.iter().any(|o| o == m));
    }
    if p.modes.contains(&"router") {
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
    let all = fwd::run(&p);
    let rows = fwd::rows(&all);
    println!("\nForwarding: kernel vs router ({} repetition(s), {} cores, medians; latency = all samples merged)\n", p.reps, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    print!("{}", fwd::table(&rows));
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
    for (m, r) in &all {
        for e in &r.errors {
            println!(
                "\n{m}: ERROR: {}",
                e.lines().take(15).collect::<Vec<_>>().join("\n    ")
            );
        }
    }
    if let Err(e) = fwd::write_outputs(&out, &p, &all, &rows) {
        eprintln!("writing {}: {e}", out.display());
        std::process::exit(1);
    }
    println!(
        "\nwrote {}/fwd_summary.json and .hgrm files ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    // A forwarder that could not be measured at all is an error (the smoke run in CI relies on it).
    if all.values().any(|r| r.reps.is_empty()) {
        std::process::exit(1);
    }
}
