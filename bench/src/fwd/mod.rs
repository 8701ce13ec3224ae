//! The forwarding benchmark: `src — router — dst` namespaces (veths, default
//! offloads), measured once with the router namespace's kernel forwarding and
//! once with `router`, in the same run, alternating per repetition.
pub mod hgrm;
pub mod traffic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use router_tests::{run_timeout, wait_listening, Forwarder, Lab, Line, Ns, DST_IP};

/// Namespace prefix of the benchmark (scripts/test-all.sh checks for leftovers).
pub const PREFIX: &str = "rbench";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Params {
    pub quick: bool,
    pub reps: usize,
    pub pps_secs: f64,
    pub pps_flows: usize,
    pub pps_threads: usize,
    pub tcp_secs: u32,
    pub latency_requests: u64,
    pub offloads_off: bool,
    pub workers: u32,
    pub modes: Vec<&'static str>,
}

impl Params {
    pub fn new(quick: bool) -> Params {
        Params {
            quick,
            reps: if quick { 1 } else { 3 },
            pps_secs: if quick { 1.0 } else { 4.0 },
            pps_flows: 16,
            pps_threads: 2,
            tcp_secs: if quick { 2 } else { 5 },
            latency_requests: if quick { 2_000 } else { 20_000 },
            offloads_off: !quick,
            workers: 2,
            modes: vec!["kernel", "router"],
        }
    }
}

/// One repetition's figures for one forwarder.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RepResult {
    pub pps_sent: f64,
    pub pps_forwarded: f64,
    pub pps_received: f64,
    pub pps_loss: f64,
    pub tcp1_gbps: f64,
    pub tcp4_gbps: f64,
    pub tcp1_offloads_off_gbps: Option<f64>,
    pub latency_lost: u64,
    pub loaded_latency_lost: u64,
    pub loaded_tcp_gbps: f64,
    /// Router only: drop counters (all ports) that grew during the pps test.
    pub pps_router_drops: BTreeMap<String, u64>,
    /// Router only: the same pps test again with `router monitor drops`
    /// attached (its rings and per-batch check live), in the same run.
    pub pps_forwarded_monitored: Option<f64>,
}

/// Everything measured for one forwarder.
#[derive(Debug, Default)]
pub struct ModeResults {
    pub reps: Vec<RepResult>,
    pub errors: Vec<String>,
    pub latency: Option<Histogram<u64>>,
    pub loaded_latency: Option<Histogram<u64>>,
}

fn tool_exe() -> PathBuf {
    std::env::current_exe().expect("current exe")
}

/// Runs `fwd_bench tool ARGS` inside `ns`, bounded; returns its stdout.
fn run_tool(ns: &Ns, args: &[String], timeout: Duration) -> Result<String, String> {
    let mut full = vec![tool_exe().to_string_lossy().into_owned(), "tool".into()];
    full.extend_from_slice(args);
    let out = ns.run(&full, timeout);
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{out}"))
    }
}

fn spawn_tool(lab: &mut Lab, ns: &Ns, args: &[String]) -> u32 {
    let mut full = vec![tool_exe().to_string_lossy().into_owned(), "tool".into()];
    full.extend_from_slice(args);
    lab.spawn(ns, &full)
}

fn s<T: ToString>(v: T) -> String {
    v.to_string()
}

/// 64-byte UDP packets per second through the forwarder: a sendmmsg blaster
/// in src, a recvmmsg sink in dst; "forwarded" is what arrived on dst's veth.
fn measure_pps(line: &mut Line, p: &Params, r: &mut RepResult) -> Result<(), String> {
    let port = 9000u16;
    let sink_secs = p.pps_secs + 2.5;
    let (src, dst) = (line.src.clone(), line.dst.clone());
    let sink = spawn_tool(&mut line.lab, &dst, &[s("sink"), s(port), s(sink_secs)]);
    let ready = router_tests::poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
        dst.run(
            &["ss", "-Hlun", &format!("sport = :{port}")],
            Duration::from_secs(5),
        )
        .stdout
        .contains(&format!(":{port}"))
    });
    if !ready {
        return Err("UDP sink did not start".into());
    }
    let drops0 = router_drops(line);
    let rx0 = dst.counter("eth0", "rx_packets");
    let out = run_tool(
        &src,
        &[
            s("blast"),
            format!("{DST_IP}:{port}"),
            s(p.pps_secs),
            s(p.pps_flows),
            s(traffic::PAYLOAD_64B),
            s(p.pps_threads),
        ],
        Duration::from_secs_f64(p.pps_secs + 20.0),
    )?;
    let blast: traffic::BlastReport =
        serde_json::from_str(out.trim()).map_err(|e| format!("blaster output {out:?}: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let rx = dst.counter("eth0", "rx_packets") - rx0;
    for (k, v) in router_drops(line) {
        let d = v.saturating_sub(drops0.get(&k).copied().unwrap_or(0));
        if d > 0 {
            r.pps_router_drops.insert(k, d);
        }
    }
    if line
        .lab
        .wait_exit(sink, Duration::from_secs_f64(sink_secs + 5.0))
        .is_none()
    {
        return Err(format!("sink did not finish: {}", line.lab.log_of(sink)));
    }
    let log = line.lab.log_of(sink);
    let sink: traffic::SinkReport =
        serde_json::from_str(log.trim()).map_err(|e| format!("sink output {log:?}: {e}"))?;
    r.pps_sent = blast.sent as f64 / blast.secs;
    r.pps_forwarded = rx as f64 / blast.secs;
    r.pps_received = sink.received as f64 / blast.secs;
    r.pps_loss = if blast.sent > 0 {
        1.0 - (rx as f64 / blast.sent as f64).min(1.0)
    } else {
        1.0
    };
    Ok(())
}

/// [`measure_pps`] with a drop monitor attached for the whole run (a
/// `router monitor drops` client reading into /dev/null): forwarded pps.
fn measure_pps_monitored(
    line: &mut Line,
    router: &router_tests::RouterProc,
    p: &Params,
) -> Result<f64, String> {
    let mut child = std::process::Command::new(&router.bin)
        .args(["monitor", "drops", "--json", "--duration"])
        .arg(s(p.pps_secs as u64 + 30))
        .arg("--socket")
        .arg(&router.socket)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("router monitor drops: {e}"))?;
    // Let it attach before the blast starts.
    std::thread::sleep(Duration::from_millis(300));
    let mut m = RepResult::default();
    let res = measure_pps(line, p, &mut m);
    // Ours, by PID.
    let _ = child.kill();
    let _ = child.wait();
    res.map(|()| m.pps_forwarded)
}

/// Drop counters summed over the router's ports (empty for the kernel).
fn router_drops(line: &Line) -> BTreeMap<String, u64> {
    let mut sum = BTreeMap::new();
    if let Some(r) = &line.router {
        let v = r.show_interfaces();
        for port in ["eth1", "eth2"] {
            if let Some(st) = router_tests::PortStats::from_json(&v, port) {
                for (k, n) in st.drops {
                    *sum.entry(k).or_insert(0) += n;
                }
            }
        }
    }
    sum
}

fn iperf_server(line: &mut Line, port: u16) -> u32 {
    let dst = line.dst.clone();
    let pid = line
        .lab
        .spawn(&dst, &["iperf3", "-s", "-1", "-p", &port.to_string()]);
    wait_listening(&dst, port);
    pid
}

fn iperf_gbps(json: &str) -> Result<f64, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("iperf3 JSON: {e}"))?;
    if let Some(e) = v.get("error") {
        return Err(format!("iperf3: {e}"));
    }
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|b| b / 1e9)
        .ok_or_else(|| "iperf3 JSON without end.sum_received".into())
}

/// iperf3 Gbit/s with `streams` parallel streams, src -> dst.
fn measure_tcp(line: &mut Line, secs: u32, streams: u32) -> Result<f64, String> {
    let port = 5201;
    let server = iperf_server(line, port);
    let out = line.src.run(
        &[
            "iperf3",
            "-c",
            DST_IP,
            "-p",
            &port.to_string(),
            "-t",
            &secs.to_string(),
            "-P",
            &streams.to_string(),
            "-J",
        ],
        Duration::from_secs(secs as u64 + 20),
    );
    line.lab.stop(server);
    if out.timed_out {
        return Err(format!("iperf3 timed out: {out}"));
    }
    iperf_gbps(&out.stdout)
}

fn read_hist(path: &Path) -> Result<Histogram<u64>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("histogram {}: {e:?}", path.display()))
}

/// UDP request/response round trips, one outstanding at a time.
fn measure_latency(
    line: &mut Line,
    p: &Params,
    tag: &str,
) -> Result<(Histogram<u64>, u64), String> {
    let port = 7000u16;
    let dst = line.dst.clone();
    let server = spawn_tool(&mut line.lab, &dst, &[s("echo-server"), s(port), s(600)]);
    let ready = router_tests::poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
        dst.run(
            &["ss", "-Hlun", &format!("sport = :{port}")],
            Duration::from_secs(5),
        )
        .stdout
        .contains(&format!(":{port}"))
    });
    if !ready {
        return Err("echo server did not start".into());
    }
    let hist_file = line.lab.dir().join(format!("lat-{tag}.bin"));
    let out = run_tool(
        &line.src,
        &[
            s("echo-client"),
            format!("{DST_IP}:{port}"),
            s(p.latency_requests),
            s(200),
            s(traffic::PAYLOAD_64B),
            s(200),
            hist_file.to_string_lossy().into_owned(),
        ],
        Duration::from_secs(120),
    );
    line.lab.stop(server);
    let out = out?;
    let rep: traffic::EchoReport =
        serde_json::from_str(out.trim()).map_err(|e| format!("echo client output {out:?}: {e}"))?;
    Ok((read_hist(&hist_file)?, rep.lost))
}

/// Latency while one iperf3 stream loads the same path.
fn measure_loaded_latency(
    line: &mut Line,
    p: &Params,
    r: &mut RepResult,
) -> Result<Histogram<u64>, String> {
    let port = 5202;
    let server = iperf_server(line, port);
    // Long enough to cover the latency run; iperf3 stops by itself.
    let secs = (p.latency_requests / 1_000 + 6).to_string();
    let src = line.src.clone();
    let client = line.lab.spawn(
        &src,
        &[
            "iperf3",
            "-c",
            DST_IP,
            "-p",
            &port.to_string(),
            "-t",
            &secs,
            "-J",
        ],
    );
    std::thread::sleep(Duration::from_millis(1000));
    let res = measure_latency(line, p, "loaded");
    let _ = line.lab.wait_exit(
        client,
        Duration::from_secs(secs.parse::<u64>().unwrap_or(30) + 15),
    );
    r.loaded_tcp_gbps = iperf_gbps(&line.lab.log_of(client)).unwrap_or(0.0);
    line.lab.stop(client);
    line.lab.stop(server);
    let (h, lost) = res?;
    r.loaded_latency_lost = lost;
    Ok(h)
}

fn offloads_off(line: &Line) -> Result<(), String> {
    for (ns, ifs) in [
        (&line.src, &["eth0"][..]),
        (&line.rtr, &["eth1", "eth2"][..]),
        (&line.dst, &["eth0"][..]),
    ] {
        for i in ifs {
            let out = ns.run(
                &[
                    "ethtool", "-K", i, "tx", "off", "rx", "off", "tso", "off", "gso", "off",
                    "gro", "off",
                ],
                Duration::from_secs(10),
            );
            if !out.success() {
                return Err(format!("{out}"));
            }
        }
    }
    Ok(())
}

fn merge(into: &mut Option<Histogram<u64>>, h: Histogram<u64>) {
    match into {
        Some(acc) => {
            let _ = acc.add(&h);
        }
        None => *into = Some(h),
    }
}

/// One repetition with one forwarder, on a fresh topology.
fn run_one(mode: Forwarder, p: &Params, res: &mut ModeResults) -> Result<(), String> {
    let spec = Line::default_spec().workers(p.workers);
    let lab = Lab::with_prefix(PREFIX, mode.name());
    let mut line = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Line::build_in(lab, mode, spec, |_| {})
    }))
    .map_err(|e| format!("topology/forwarder start failed: {}", panic_text(&e)))?;
    // Resolve neighbours before measuring.
    let warm = line.src.run(
        &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", DST_IP],
        Duration::from_secs(10),
    );
    if !warm.combined().contains(" 0% packet loss") && !warm.combined().contains(", 0% packet loss")
    {
        return Err(format!(
            "no connectivity through the {} forwarder: {warm}",
            mode.name()
        ));
    }
    let mut r = RepResult::default();
    measure_pps(&mut line, p, &mut r)?;
    if let Some(router) = line.router.clone() {
        r.pps_forwarded_monitored = Some(measure_pps_monitored(&mut line, &router, p)?);
    }
    r.tcp1_gbps = measure_tcp(&mut line, p.tcp_secs, 1)?;
    r.tcp4_gbps = measure_tcp(&mut line, p.tcp_secs, 4)?;
    let (h, lost) = measure_latency(&mut line, p, "idle")?;
    r.latency_lost = lost;
    merge(&mut res.latency, h);
    let h = measure_loaded_latency(&mut line, p, &mut r)?;
    merge(&mut res.loaded_latency, h);
    if p.offloads_off {
        offloads_off(&line)?;
        r.tcp1_offloads_off_gbps = Some(measure_tcp(&mut line, p.tcp_secs, 1)?);
    }
    res.reps.push(r);
    Ok(())
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs all repetitions, alternating forwarders so drift hits both alike.
pub fn run(p: &Params) -> BTreeMap<&'static str, ModeResults> {
    let mut all: BTreeMap<&'static str, ModeResults> = BTreeMap::new();
    for rep in 0..p.reps {
        for &m in &p.modes {
            let mode = if m == "kernel" {
                Forwarder::Kernel
            } else {
                Forwarder::Router
            };
            eprintln!("[fwd_bench] repetition {}/{}: {m}", rep + 1, p.reps);
            let entry = all.entry(m).or_default();
            if let Err(e) = run_one(mode, p, entry) {
                eprintln!("[fwd_bench] {m}: {e}");
                entry.errors.push(e);
            }
        }
    }
    all
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A row of the summary: metric name, unit, per-mode value, and the target
/// ratio (router/kernel) with its direction.
pub struct Row {
    pub metric: String,
    pub kernel: Option<f64>,
    pub router: Option<f64>,
    pub target: Option<(f64, bool)>, // (ratio, higher_is_better)
    pub fmt: fn(f64) -> String,
}

fn fmt_pps(v: f64) -> String {
    format!("{:.1}k", v / 1e3)
}
fn fmt_pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}
fn fmt_gbps(v: f64) -> String {
    format!("{v:.2}")
}
fn fmt_us(v: f64) -> String {
    format!("{v:.1}")
}

pub fn rows(all: &BTreeMap<&'static str, ModeResults>) -> Vec<Row> {
    let med = |m: &str, f: &dyn Fn(&RepResult) -> Option<f64>| -> Option<f64> {
        all.get(m)
            .and_then(|r| median(r.reps.iter().filter_map(f).collect()))
    };
    let q = |m: &str, loaded: bool, quantile: f64| -> Option<f64> {
        all.get(m)
            .and_then(|r| {
                if loaded {
                    r.loaded_latency.as_ref()
                } else {
                    r.latency.as_ref()
                }
            })
            .map(|h| {
                if quantile >= 1.0 {
                    h.max() as f64 / 1e3
                } else {
                    h.value_at_quantile(quantile) as f64 / 1e3
                }
            })
    };
    let mut rows = Vec::new();
    let mut add = |metric: &str,
                   f: &dyn Fn(&str) -> Option<f64>,
                   target: Option<(f64, bool)>,
                   fmt: fn(f64) -> String| {
        rows.push(Row {
            metric: metric.to_string(),
            kernel: f("kernel"),
            router: f("router"),
            target,
            fmt,
        });
    };
    add(
        "UDP 64B forwarded pps",
        &|m| med(m, &|r| Some(r.pps_forwarded)),
        Some((1.0, true)),
        fmt_pps,
    );
    add(
        "UDP 64B pps, drop monitor attached",
        &|m| med(m, &|r| r.pps_forwarded_monitored),
        None,
        fmt_pps,
    );
    // The monitor's cost as a ratio in the same run: attached / detached
    // (router only; 100% = no cost).
    add(
        "drop monitor pps attached/detached",
        &|m| {
            med(m, &|r| {
                r.pps_forwarded_monitored
                    .filter(|_| r.pps_forwarded > 0.0)
                    .map(|x| x / r.pps_forwarded)
            })
        },
        None,
        fmt_pct,
    );
    add(
        "UDP 64B offered pps",
        &|m| med(m, &|r| Some(r.pps_sent)),
        None,
        fmt_pps,
    );
    add(
        "UDP 64B loss",
        &|m| med(m, &|r| Some(r.pps_loss)),
        None,
        fmt_pct,
    );
    add(
        "TCP 1 stream Gbit/s",
        &|m| med(m, &|r| Some(r.tcp1_gbps)),
        Some((1.0, true)),
        fmt_gbps,
    );
    add(
        "TCP 4 streams Gbit/s",
        &|m| med(m, &|r| Some(r.tcp4_gbps)),
        Some((1.0, true)),
        fmt_gbps,
    );
    add(
        "TCP 1 stream, offloads off",
        &|m| med(m, &|r| r.tcp1_offloads_off_gbps),
        None,
        fmt_gbps,
    );
    for (name, quant, target) in [
        ("latency p50 us", 0.5, Some((1.2, false))),
        ("latency p90 us", 0.9, None),
        ("latency p99 us", 0.99, Some((1.5, false))),
        ("latency p99.9 us", 0.999, None),
        ("latency max us", 1.0, None),
    ] {
        add(name, &|m| q(m, false, quant), target, fmt_us);
    }
    for (name, quant) in [
        ("loaded latency p50 us", 0.5),
        ("loaded latency p99 us", 0.99),
        ("loaded latency p99.9 us", 0.999),
        ("loaded latency max us", 1.0),
    ] {
        add(name, &|m| q(m, true, quant), None, fmt_us);
    }
    add(
        "TCP Gbit/s during loaded latency",
        &|m| med(m, &|r| Some(r.loaded_tcp_gbps)),
        None,
        fmt_gbps,
    );
    rows
}

pub fn table(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| {:<34} | {:>10} | {:>10} | {:>14} | {:>8} |",
        "metric", "kernel", "router", "router/kernel", "target"
    );
    let _ = writeln!(
        t,
        "|{:-<36}|{:->12}|{:->12}|{:->16}|{:->10}|",
        "", "", "", "", ""
    );
    for r in rows {
        let v = |x: Option<f64>| x.map(r.fmt).unwrap_or_else(|| "n/a".into());
        let ratio = match (r.kernel, r.router) {
            (Some(k), Some(x)) if k > 0.0 => format!("{:.2}", x / k),
            _ => "n/a".into(),
        };
        let target = r
            .target
            .map(|(t, up)| format!("{} {t:.1}", if up { ">=" } else { "<=" }))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "| {:<34} | {:>10} | {:>10} | {:>14} | {:>8} |",
            r.metric,
            v(r.kernel),
            v(r.router),
            ratio,
            target
        );
    }
    t
}

/// Writes the .hgrm files and `fwd_summary.json` to `out`.
pub fn write_outputs(
    out: &Path,
    p: &Params,
    all: &BTreeMap<&'static str, ModeResults>,
    rows: &[Row],
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    for (mode, r) in all {
        if let Some(h) = &r.latency {
            std::fs::write(
                out.join(format!("fwd-latency-{mode}.hgrm")),
                hgrm::percentile_distribution(h, 5),
            )?;
        }
        if let Some(h) = &r.loaded_latency {
            std::fs::write(
                out.join(format!("fwd-latency-loaded-{mode}.hgrm")),
                hgrm::percentile_distribution(h, 5),
            )?;
        }
    }
    let json = serde_json::json!({
        "params": p,
        "machine": {
            "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        },
        "metrics": rows.iter().map(|r| serde_json::json!({
            "metric": r.metric,
            "kernel": r.kernel,
            "router": r.router,
            "ratio": match (r.kernel, r.router) { (Some(k), Some(x)) if k > 0.0 => Some(x / k), _ => None },
            "target": r.target.map(|(t, up)| serde_json::json!({"ratio": t, "higher_is_better": up})),
        })).collect::<Vec<_>>(),
        "repetitions": all.iter().map(|(m, r)| (m.to_string(), serde_json::json!({"reps": r.reps, "errors": r.errors}))).collect::<BTreeMap<_, _>>(),
    });
    std::fs::write(
        out.join("fwd_summary.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
}

/// The `router` binary for the benchmark: `$ROUTER_BIN`, else the release
/// build (built with `$CARGO` when run through `cargo run`).
pub fn ensure_router_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ROUTER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let bin = router_tests::workspace_root().join("target/release/router");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let out = run_timeout(
            std::process::Command::new(cargo)
                .args(["build", "--release", "-p", "router"])
                .current_dir(router_tests::workspace_root()),
            Duration::from_secs(1800),
        );
        if !out.success() {
            return Err(format!("building the router failed: {out}"));
        }
    }
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} missing: cargo build --release -p router",
            bin.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn iperf_json() {
        assert_eq!(
            iperf_gbps(r#"{"end":{"sum_received":{"bits_per_second":13.5e9}}}"#),
            Ok(13.5)
        );
        assert!(iperf_gbps(r#"{"error":"unable to connect"}"#).is_err());
    }

    #[test]
    fn table_ratio_and_missing() {
        let rows = vec![
            Row {
                metric: "pps".into(),
                kernel: Some(200.0),
                router: Some(100.0),
                target: Some((1.0, true)),
                fmt: fmt_gbps,
            },
            Row {
                metric: "lat".into(),
                kernel: None,
                router: Some(1.0),
                target: None,
                fmt: fmt_us,
            },
        ];
        let t = table(&rows);
        assert!(
            t.contains("0.50") && t.contains(">= 1.0") && t.contains("n/a"),
            "{t}"
        );
    }
}
