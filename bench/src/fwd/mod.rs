//! The forwarding benchmark: `src — router — dst` namespaces (veths, default
//! offloads), measured once with the router namespace's kernel forwarding and
//! once with `router`, in the same run, alternating per repetition. The same
//! code measures IPv4 or IPv6 ([`Family`]): only the line's addresses, the
//! frame size and the kernel's input counter differ.
pub mod breakdown;
pub mod cpu;
pub mod hgrm;
pub mod plot;
pub mod traffic;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use router_tests::{run_timeout, wait_listening, Forwarder, Lab, Line, Ns, DST_IP, DST_IP6};

/// Namespace prefix of the benchmark (scripts/test-all.sh checks for leftovers).
pub const PREFIX: &str = "rbench";

/// The router's Prometheus listener, on the router namespace's own loopback
/// (scraped from a thread inside that namespace; nothing leaves it).
pub const METRICS_ADDR: &str = "127.0.0.1:9477";
/// Prometheus scrape interval of the scrape test.
pub const SCRAPE_INTERVAL: Duration = Duration::from_millis(100);

/// The address family a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// [`Line::default_spec`]: the IPv4-only line, 64-byte frames.
    V4,
    /// [`Line::dual_stack_spec`]: the same line with the hosts' and ports'
    /// IPv6 addresses; traffic to dst's IPv6 address, 78-byte frames.
    V6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// "IPv4" / "IPv6", for tables.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// The destination host's address on the line.
    pub fn dst(self) -> &'static str {
        match self {
            Family::V4 => DST_IP,
            Family::V6 => DST_IP6,
        }
    }

    /// `dst():port` as a socket address (the tools' argument).
    fn dst_at(self, port: u16) -> SocketAddr {
        // The seed's constants, checked by its own tests: always addresses.
        let ip: IpAddr = self.dst().parse().expect("seed address");
        SocketAddr::new(ip, port)
    }

    /// Where a server in dst listens: the family's unspecified address.
    fn listen_at(self, port: u16) -> SocketAddr {
        let ip = match self {
            Family::V4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        SocketAddr::new(ip, port)
    }

    /// UDP payload of the pps, paced and latency tests.
    pub fn payload(self) -> usize {
        match self {
            Family::V4 => traffic::PAYLOAD_64B,
            Family::V6 => traffic::PAYLOAD6_78B,
        }
    }

    /// The Ethernet frame those payloads make, FCS included.
    pub fn frame_len(self) -> usize {
        let ip_header = match self {
            Family::V4 => 20,
            Family::V6 => 40,
        };
        14 + ip_header + 8 + self.payload() + 4
    }

    /// The spec the line is built from (the router's config; the kernel
    /// forwarder gets the same addresses).
    fn spec(self) -> router_tests::RouterSpec {
        match self {
            Family::V4 => Line::default_spec(),
            Family::V6 => Line::dual_stack_spec(),
        }
    }

    /// Packets the namespace's kernel took into this family's IP input.
    fn ip_input(self, ns: &Ns) -> u64 {
        match self {
            Family::V4 => ns.snmp("Ip", "InReceives"),
            Family::V6 => ns.snmp6("Ip6InReceives"),
        }
    }

    /// A file-name tag: none for IPv4 (the names predate IPv6), `-v6`.
    fn file_tag(self) -> &'static str {
        match self {
            Family::V4 => "",
            Family::V6 => "-v6",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Params {
    pub quick: bool,
    /// The address family measured.
    pub family: Family,
    pub reps: usize,
    pub pps_secs: f64,
    pub pps_flows: usize,
    pub pps_threads: usize,
    pub tcp_secs: u32,
    pub latency_requests: u64,
    pub offloads_off: bool,
    pub workers: u32,
    pub modes: Vec<&'static str>,
    /// Also measure pps with `ingress_drop = false` (issue 12 item 1).
    pub ingress_compare: bool,
    /// Worker counts of a `--workers A,B,...` sweep (pps only).
    pub workers_sweep: Vec<u32>,
    /// `perf stat -e instructions` works here (no PMU in most VMs).
    pub perf: bool,
    /// Offered rate of the CPU-per-packet test (pps, paced): a rate both
    /// forwarders carry without loss, so the figure is the cost of
    /// forwarding, not of overload (ring overflows, a sender slowed down).
    pub cpu_rate: f64,
    /// Rounds of the observability cost test per repetition.
    pub cost_rounds: usize,
    /// The tests each repetition runs (all by default); a subset is for
    /// working on one figure, e.g. `--tests loaded` while chasing latency
    /// under load.
    pub tests: Vec<Test>,
    /// Time the loaded round trips hop by hop ([`breakdown`]; needs tcpdump).
    pub breakdown: bool,
}

/// One test of a repetition ([`Params::tests`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Test {
    /// 64-byte UDP flood: forwarded pps.
    Pps,
    /// Paced 64-byte UDP: CPU per forwarded packet.
    Cpu,
    /// The router's observability cost (drop monitor, 100-ms scrape).
    Cost,
    /// iperf3, 1 and 4 streams.
    Tcp,
    /// UDP request/response, unloaded.
    Latency,
    /// UDP request/response under one bulk TCP flow.
    Loaded,
    /// TCP, 1 stream, with offloads off (full runs only).
    Offloads,
}

impl Test {
    pub const ALL: [Test; 7] = [
        Test::Pps,
        Test::Cpu,
        Test::Cost,
        Test::Tcp,
        Test::Latency,
        Test::Loaded,
        Test::Offloads,
    ];
}

impl Params {
    pub fn new(quick: bool) -> Params {
        Params {
            quick,
            family: Family::V4,
            reps: if quick { 1 } else { 3 },
            pps_secs: if quick { 1.0 } else { 4.0 },
            pps_flows: 16,
            pps_threads: 2,
            tcp_secs: if quick { 2 } else { 5 },
            latency_requests: if quick { 2_000 } else { 20_000 },
            offloads_off: !quick,
            workers: 2,
            modes: vec!["kernel", "router"],
            ingress_compare: false,
            workers_sweep: Vec::new(),
            perf: false,
            cpu_rate: 100_000.0,
            cost_rounds: if quick { 1 } else { 2 },
            tests: Test::ALL.to_vec(),
            breakdown: false,
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
    /// Router only: the pps test again while a Prometheus scraper inside the
    /// router's namespace GETs /metrics every 100 ms.
    pub pps_forwarded_scraped: Option<f64>,
    pub scrapes: Option<ScrapeReport>,
    /// Router only: the observability cost test, round by round (forwarded
    /// pps: plain, with the drop monitor, with the 100-ms scrape).
    pub cost_rounds: Vec<CostRound>,
    /// The CPU-per-packet test: 64-byte UDP paced to `Params::cpu_rate`.
    pub paced: Option<PacedCpu>,
    /// CPU time during the (unpaced) pps test (blast + 0.5 s drain), from /proc.
    pub pps_cpu: Option<cpu::Delta>,
    /// The same per forwarded packet, ns.
    pub pps_cpu_per_packet: Option<cpu::PerPacket>,
    /// `perf stat` instructions per forwarded packet (system-wide, router
    /// process), where the machine has counters.
    pub pps_instructions_per_packet: Option<(Option<f64>, Option<f64>)>,
    /// Packets of the measured family the router namespace's kernel
    /// received (`Ip InReceives`, IPv6: `Ip6InReceives`) per offered packet:
    /// 1 for `router` without the ingress drop (every frame also goes up the
    /// kernel's IP input), 0 with it, 1 for the kernel forwarder.
    pub pps_kernel_ip_input_per_packet: f64,
    /// Router worker threads of this repetition (0 for the kernel).
    pub workers: u32,
    /// `[router] ingress_drop` of this repetition (None for the kernel).
    pub ingress_drop: Option<bool>,
}

/// One round of the observability cost test: the same pps test three times
/// back to back on one router (order rotated by round, so drift does not
/// favour one), forwarded pps each.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CostRound {
    pub plain: f64,
    pub monitored: f64,
    pub scraped: f64,
}

/// The CPU-per-packet test's figures.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PacedCpu {
    pub rate: f64,
    pub sent_pps: f64,
    pub forwarded_pps: f64,
    pub loss: f64,
    pub cpu: Option<cpu::Delta>,
    pub cpu_per_packet: Option<cpu::PerPacket>,
    pub instructions_per_packet: Option<(Option<f64>, Option<f64>)>,
}

/// What the Prometheus scraper did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ScrapeReport {
    pub ok: u64,
    pub failed: u64,
    pub bytes: u64,
    pub last_error: Option<String>,
}

/// Everything measured for one forwarder.
#[derive(Debug, Default)]
pub struct ModeResults {
    pub reps: Vec<RepResult>,
    pub errors: Vec<String>,
    pub latency: Option<Histogram<u64>>,
    pub loaded_latency: Option<Histogram<u64>>,
    /// `--breakdown`: one histogram (ns) per [`breakdown::SEGMENTS`],
    /// all repetitions merged.
    pub breakdown: Vec<Histogram<u64>>,
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

/// Minimum-size UDP packets ([`Family::frame_len`]) per second through the forwarder: a sendmmsg blaster
/// in src, a recvmmsg sink in dst; "forwarded" is what arrived on dst's veth.
fn measure_pps(line: &mut Line, p: &Params, r: &mut RepResult) -> Result<(), String> {
    measure_pps_at(line, p, 0.0, r)
}

/// The CPU-per-packet test: [`measure_pps_at`] paced to `p.cpu_rate`.
fn measure_cpu_paced(line: &mut Line, p: &Params) -> Result<PacedCpu, String> {
    let mut m = RepResult::default();
    measure_pps_at(line, p, p.cpu_rate, &mut m)?;
    Ok(PacedCpu {
        rate: p.cpu_rate,
        sent_pps: m.pps_sent,
        forwarded_pps: m.pps_forwarded,
        loss: m.pps_loss,
        cpu: m.pps_cpu,
        cpu_per_packet: m.pps_cpu_per_packet,
        instructions_per_packet: m.pps_instructions_per_packet,
    })
}

/// The pps test, unpaced (`rate` 0) or paced to `rate` pps in all.
fn measure_pps_at(line: &mut Line, p: &Params, rate: f64, r: &mut RepResult) -> Result<(), String> {
    let port = 9000u16;
    let sink_secs = p.pps_secs + 2.5;
    let (src, dst) = (line.src.clone(), line.dst.clone());
    let sink = spawn_tool(
        &mut line.lab,
        &dst,
        &[s("sink"), s(p.family.listen_at(port)), s(sink_secs)],
    );
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
    let ip_in0 = p.family.ip_input(&line.rtr);
    let pid = line.router.as_ref().map(|r| r.pid);
    let perf = p
        .perf
        .then(|| cpu::PerfWindow::start(pid, p.pps_secs + 0.5));
    let cpu0 = cpu::sample(pid);
    let out = run_tool(
        &src,
        &[
            s("blast"),
            s(p.family.dst_at(port)),
            s(p.pps_secs),
            s(p.pps_flows),
            s(p.family.payload()),
            s(p.pps_threads),
            s(rate),
        ],
        Duration::from_secs_f64(p.pps_secs + 20.0),
    )?;
    let blast: traffic::BlastReport =
        serde_json::from_str(out.trim()).map_err(|e| format!("blaster output {out:?}: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let cpu1 = cpu::sample(pid);
    let rx = dst.counter("eth0", "rx_packets") - rx0;
    let ip_in = p.family.ip_input(&line.rtr).saturating_sub(ip_in0);
    let delta = cpu1.since(&cpu0);
    r.pps_cpu = Some(delta);
    r.pps_cpu_per_packet = delta.per_packet(rx);
    if let Some(w) = perf {
        let n = w.finish();
        let per = |c: Option<u64>| c.filter(|_| rx > 0).map(|c| c as f64 / rx as f64);
        r.pps_instructions_per_packet = Some((per(n.system), per(n.process)));
    }
    r.pps_kernel_ip_input_per_packet = if blast.sent > 0 {
        ip_in as f64 / blast.sent as f64
    } else {
        0.0
    };
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
    if let Some(c) = r.pps_cpu_per_packet.as_mut() {
        let tools = (blast.cpu_ns + sink.cpu_ns) as f64;
        c.path_ns = Some((tools + delta.proc_secs.unwrap_or(0.0) * 1e9) / rx.max(1) as f64);
    }
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

/// [`measure_pps`] while a Prometheus scraper GETs the router's /metrics
/// every [`SCRAPE_INTERVAL`] from a thread inside the router's namespace
/// (the listener is on that namespace's loopback): forwarded pps and what
/// the scraper did. A run in which no scrape succeeded is an error, so the
/// figure cannot be vacuous.
fn measure_pps_scraped(line: &mut Line, p: &Params) -> Result<(f64, ScrapeReport), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let ns = line.rtr.clone();
    let flag = stop.clone();
    // Bounded: at most the test's length (plus slack) in scrapes.
    let max = ((p.pps_secs + 30.0) / SCRAPE_INTERVAL.as_secs_f64()) as u64;
    let scraper = std::thread::spawn(move || ns.enter(|| scrape_loop(&flag, max)));
    std::thread::sleep(Duration::from_millis(300));
    let mut m = RepResult::default();
    let res = measure_pps(line, p, &mut m);
    stop.store(true, Ordering::Relaxed);
    let report = scraper
        .join()
        .map_err(|_| "scraper thread panicked".to_string())?;
    res?;
    if report.ok == 0 {
        return Err(format!("no Prometheus scrape succeeded: {report:?}"));
    }
    Ok((m.pps_forwarded, report))
}

/// GET http://METRICS_ADDR/metrics every [`SCRAPE_INTERVAL`] (one
/// keep-alive connection, as Prometheus does) until `stop` or `max` scrapes.
fn scrape_loop(stop: &AtomicBool, max: u64) -> ScrapeReport {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    let url = format!("http://{METRICS_ADDR}/metrics");
    let mut rep = ScrapeReport::default();
    let mut next = Instant::now();
    for _ in 0..max {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match agent.get(&url).call().map(|r| r.into_string()) {
            Ok(Ok(body)) if body.contains("# TYPE") => {
                rep.ok += 1;
                rep.bytes += body.len() as u64;
            }
            Ok(Ok(body)) => {
                rep.failed += 1;
                rep.last_error = Some(format!(
                    "not an exposition: {:?}",
                    &body[..body.len().min(80)]
                ));
            }
            Ok(Err(e)) => {
                rep.failed += 1;
                rep.last_error = Some(e.to_string());
            }
            Err(e) => {
                rep.failed += 1;
                rep.last_error = Some(e.to_string());
            }
        }
        next += SCRAPE_INTERVAL;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    rep
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

/// iperf3 Gbit/s with `streams` parallel streams, src -> dst over `fam`
/// (iperf3 picks the family from the address; its server listens on both).
fn measure_tcp(line: &mut Line, fam: Family, secs: u32, streams: u32) -> Result<f64, String> {
    let port = 5201;
    let server = iperf_server(line, port);
    let out = line.src.run(
        &[
            "iperf3",
            "-c",
            fam.dst(),
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
    let port = breakdown::ECHO_PORT;
    let dst = line.dst.clone();
    let server = spawn_tool(
        &mut line.lab,
        &dst,
        &[s("echo-server"), s(p.family.listen_at(port)), s(600)],
    );
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
            s(p.family.dst_at(port)),
            s(p.latency_requests),
            s(200),
            s(p.family.payload()),
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
            p.family.dst(),
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

/// The topology with `mode` forwarding, neighbours (ARP or NDP for `fam`)
/// resolved.
fn build_line(
    mode: Forwarder,
    spec: router_tests::RouterSpec,
    fam: Family,
) -> Result<Line, String> {
    let lab = Lab::with_prefix(PREFIX, mode.name());
    let line = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Line::build_in(lab, mode, spec, |_| {})
    }))
    .map_err(|e| format!("topology/forwarder start failed: {}", panic_text(&e)))?;
    // Resolve neighbours before measuring.
    let warm = line.src.run(
        &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", fam.dst()],
        Duration::from_secs(10),
    );
    if !warm.combined().contains(" 0% packet loss") && !warm.combined().contains(", 0% packet loss")
    {
        return Err(format!(
            "no connectivity through the {} forwarder: {warm}",
            mode.name()
        ));
    }
    Ok(line)
}

/// The router's config for `fam`'s line, `workers` threads and the ingress
/// drop on/off.
fn router_spec(fam: Family, workers: u32, ingress_drop: bool) -> router_tests::RouterSpec {
    fam.spec()
        .workers(workers)
        .ingress_drop(ingress_drop)
        .metrics(METRICS_ADDR)
}

fn mode_of(m: &str) -> Forwarder {
    if m == "kernel" {
        Forwarder::Kernel
    } else {
        Forwarder::Router
    }
}

/// One repetition with one forwarder, on a fresh topology.
fn run_one(mode: Forwarder, p: &Params, res: &mut ModeResults) -> Result<(), String> {
    let mut line = build_line(mode, router_spec(p.family, p.workers, true), p.family)?;
    let mut r = RepResult::default();
    if let Forwarder::Router = mode {
        r.workers = p.workers;
        r.ingress_drop = Some(true);
    }
    let runs = |t: Test| p.tests.contains(&t);
    if runs(Test::Pps) {
        measure_pps(&mut line, p, &mut r)?;
    }
    if runs(Test::Cpu) {
        r.paced = Some(measure_cpu_paced(&mut line, p)?);
    }
    if let Some(router) = line.router.clone().filter(|_| runs(Test::Cost)) {
        let mut scrapes = ScrapeReport::default();
        for round in 0..p.cost_rounds {
            let mut c = CostRound::default();
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => {
                        let mut m = RepResult::default();
                        measure_pps(&mut line, p, &mut m)?;
                        c.plain = m.pps_forwarded;
                    }
                    1 => c.monitored = measure_pps_monitored(&mut line, &router, p)?,
                    _ => {
                        let (pps, s) = measure_pps_scraped(&mut line, p)?;
                        c.scraped = pps;
                        scrapes.ok += s.ok;
                        scrapes.failed += s.failed;
                        scrapes.bytes += s.bytes;
                        scrapes.last_error = s.last_error.or(scrapes.last_error);
                    }
                }
            }
            r.cost_rounds.push(c);
        }
        r.pps_forwarded_monitored = median(r.cost_rounds.iter().map(|c| c.monitored).collect());
        r.pps_forwarded_scraped = median(r.cost_rounds.iter().map(|c| c.scraped).collect());
        r.scrapes = Some(scrapes);
    }
    if runs(Test::Tcp) {
        r.tcp1_gbps = measure_tcp(&mut line, p.family, p.tcp_secs, 1)?;
        r.tcp4_gbps = measure_tcp(&mut line, p.family, p.tcp_secs, 4)?;
    }
    if runs(Test::Latency) {
        let (h, lost) = measure_latency(&mut line, p, "idle")?;
        r.latency_lost = lost;
        merge(&mut res.latency, h);
    }
    if runs(Test::Loaded) {
        let capture = p.breakdown.then(|| breakdown::start(&mut line));
        let h = measure_loaded_latency(&mut line, p, &mut r)?;
        merge(&mut res.loaded_latency, h);
        if let Some(c) = capture {
            let segments = breakdown::finish(&mut line, c)?;
            if res.breakdown.is_empty() {
                res.breakdown = segments;
            } else {
                for (acc, h) in res.breakdown.iter_mut().zip(&segments) {
                    let _ = acc.add(h);
                }
            }
        }
    }
    if p.offloads_off && runs(Test::Offloads) {
        offloads_off(&line)?;
        r.tcp1_offloads_off_gbps = Some(measure_tcp(&mut line, p.family, p.tcp_secs, 1)?);
    }
    res.reps.push(r);
    Ok(())
}

/// The pps test alone on a fresh topology: `router` with `workers` threads
/// and the ingress drop on or off, or (`None`) the kernel.
fn run_pps_only(router: Option<(u32, bool)>, p: &Params) -> Result<RepResult, String> {
    let (mode, spec) = match router {
        Some((w, drop)) => (Forwarder::Router, router_spec(p.family, w, drop)),
        None => (Forwarder::Kernel, router_spec(p.family, p.workers, true)),
    };
    let mut line = build_line(mode, spec, p.family)?;
    let mut r = RepResult::default();
    if let Some((w, drop)) = router {
        r.workers = w;
        r.ingress_drop = Some(drop);
    }
    measure_pps(&mut line, p, &mut r)?;
    r.paced = Some(measure_cpu_paced(&mut line, p)?);
    Ok(r)
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// A pps-only variant's key in [`run`]'s results.
pub const INGRESS_OFF: &str = "router ingress_drop=false";

/// Runs all repetitions, alternating forwarders so drift hits both alike.
/// With `ingress_compare`, each repetition also measures pps with a router
/// whose ingress drop is off (results under [`INGRESS_OFF`]).
pub fn run(p: &Params) -> BTreeMap<&'static str, ModeResults> {
    let mut all: BTreeMap<&'static str, ModeResults> = BTreeMap::new();
    for rep in 0..p.reps {
        for &m in &p.modes {
            eprintln!("[fwd_bench] repetition {}/{}: {m}", rep + 1, p.reps);
            let entry = all.entry(m).or_default();
            if let Err(e) = run_one(mode_of(m), p, entry) {
                eprintln!("[fwd_bench] {m}: {e}");
                entry.errors.push(e);
            }
        }
        if p.ingress_compare {
            eprintln!(
                "[fwd_bench] repetition {}/{}: {INGRESS_OFF} (pps)",
                rep + 1,
                p.reps
            );
            let entry = all.entry(INGRESS_OFF).or_default();
            match run_pps_only(Some((p.workers, false)), p) {
                Ok(r) => entry.reps.push(r),
                Err(e) => {
                    eprintln!("[fwd_bench] {INGRESS_OFF}: {e}");
                    entry.errors.push(e);
                }
            }
        }
    }
    all
}

/// `--workers A,B,...`: per repetition the kernel once, then `router` at each
/// worker count; the pps test only (with CPU per packet), so a sweep stays
/// bounded: (1 + workers) × (topology + pps_secs + ~3 s) per repetition.
pub fn run_sweep(p: &Params) -> Vec<(String, ModeResults)> {
    let mut lines: Vec<(String, ModeResults)> = std::iter::once("kernel".to_string())
        .chain(
            p.workers_sweep
                .iter()
                .map(|w| format!("router {w} worker(s)")),
        )
        .map(|l| (l, ModeResults::default()))
        .collect();
    for rep in 0..p.reps {
        for (i, (label, res)) in lines.iter_mut().enumerate() {
            eprintln!(
                "[fwd_bench] sweep repetition {}/{}: {label}",
                rep + 1,
                p.reps
            );
            let router = (i > 0).then(|| (p.workers_sweep[i - 1], true));
            match run_pps_only(router, p) {
                Ok(r) => res.reps.push(r),
                Err(e) => {
                    eprintln!("[fwd_bench] {label}: {e}");
                    res.errors.push(e);
                }
            }
        }
    }
    lines
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
fn fmt_ns(v: f64) -> String {
    format!("{v:.0}")
}
fn fmt_ratio(v: f64) -> String {
    format!("{v:.2}")
}

/// The summary rows of one family's run. The metric names carry `fam`'s
/// frame size and name (IPv4's are the names consumers of
/// `fwd_summary.json` have always seen).
pub fn rows(all: &BTreeMap<&'static str, ModeResults>, fam: Family) -> Vec<Row> {
    let udp = format!("UDP {}B", fam.frame_len());
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
        &format!("{udp} forwarded pps"),
        &|m| med(m, &|r| Some(r.pps_forwarded)),
        Some((1.0, true)),
        fmt_pps,
    );
    add(
        &format!("{udp} pps, drop monitor attached"),
        &|m| med(m, &|r| r.pps_forwarded_monitored),
        None,
        fmt_pps,
    );
    // The monitor's cost as a ratio in the same run: attached / detached
    // (router only; 100% = no cost).
    // The observability costs as ratios within each round of the cost
    // test (attached / plain, same router, back to back; 100% = no cost),
    // the median over all rounds of all repetitions.
    let round_ratio = |m: &str, f: fn(&CostRound) -> f64| {
        all.get(m).and_then(|r| {
            median(
                r.reps
                    .iter()
                    .flat_map(|x| &x.cost_rounds)
                    .filter(|c| c.plain > 0.0)
                    .map(|c| f(c) / c.plain)
                    .collect(),
            )
        })
    };
    add(
        "cost test: plain pps",
        &|m| {
            all.get(m).and_then(|r| {
                median(
                    r.reps
                        .iter()
                        .flat_map(|x| &x.cost_rounds)
                        .map(|c| c.plain)
                        .collect(),
                )
            })
        },
        None,
        fmt_pps,
    );
    add(
        "drop monitor pps attached/plain",
        &|m| round_ratio(m, |c| c.monitored),
        None,
        fmt_pct,
    );
    add(
        &format!("{udp} pps, scrape every 100 ms"),
        &|m| med(m, &|r| r.pps_forwarded_scraped),
        None,
        fmt_pps,
    );
    add(
        "scrape/100ms pps attached/plain",
        &|m| round_ratio(m, |c| c.scraped),
        None,
        fmt_pct,
    );
    add(
        &format!("{udp} offered pps"),
        &|m| med(m, &|r| Some(r.pps_sent)),
        None,
        fmt_pps,
    );
    add(
        &format!("{udp} loss"),
        &|m| med(m, &|r| Some(r.pps_loss)),
        None,
        fmt_pct,
    );
    // CPU per forwarded packet (cpu.rs says what each figure holds): the
    // paced test first (the comparable figure), then the unpaced pps test.
    let paced = |f: fn(&cpu::PerPacket) -> Option<f64>| {
        move |r: &RepResult| {
            r.paced
                .as_ref()
                .and_then(|c| c.cpu_per_packet.as_ref())
                .and_then(f)
        }
    };
    add(
        "paced test: offered pps",
        &|m| med(m, &|r| r.paced.as_ref().map(|c| c.sent_pps)),
        None,
        fmt_pps,
    );
    add(
        "paced test: loss",
        &|m| med(m, &|r| r.paced.as_ref().map(|c| c.loss)),
        None,
        fmt_pct,
    );
    add(
        "CPU ns/pkt paced: whole path (exact)",
        &|m| med(m, &paced(|c| c.path_ns)),
        Some((1.3, false)),
        fmt_ns,
    );
    add(
        "CPU ns/pkt paced: forwarder",
        &|m| med(m, &paced(|c| Some(c.forwarder_ns))),
        None,
        fmt_ns,
    );
    add(
        "CPU ns/pkt paced: router process",
        &|m| med(m, &paced(|c| c.proc_ns)),
        None,
        fmt_ns,
    );
    add(
        "CPU ns/pkt paced: softirq",
        &|m| med(m, &paced(|c| Some(c.softirq_ns))),
        None,
        fmt_ns,
    );
    add(
        "CPU ns/pkt paced: machine busy",
        &|m| med(m, &paced(|c| Some(c.busy_ns))),
        None,
        fmt_ns,
    );
    add(
        "instructions/pkt paced: all CPUs",
        &|m| {
            med(m, &|r| {
                r.paced
                    .as_ref()
                    .and_then(|c| c.instructions_per_packet)
                    .and_then(|x| x.0)
            })
        },
        None,
        fmt_ns,
    );
    add(
        "instructions/pkt paced: router",
        &|m| {
            med(m, &|r| {
                r.paced
                    .as_ref()
                    .and_then(|c| c.instructions_per_packet)
                    .and_then(|x| x.1)
            })
        },
        None,
        fmt_ns,
    );
    let unpaced = |f: fn(&cpu::PerPacket) -> Option<f64>| {
        move |r: &RepResult| r.pps_cpu_per_packet.as_ref().and_then(f)
    };
    add(
        "CPU ns/pkt unpaced: forwarder",
        &|m| med(m, &unpaced(|c| Some(c.forwarder_ns))),
        None,
        fmt_ns,
    );
    add(
        "CPU ns/pkt unpaced: machine busy",
        &|m| med(m, &unpaced(|c| Some(c.busy_ns))),
        None,
        fmt_ns,
    );
    add(
        &format!("kernel {} input per offered pkt", fam.label()),
        &|m| med(m, &|r| Some(r.pps_kernel_ip_input_per_packet)),
        None,
        fmt_ratio,
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

/// Medians of the pps-only figures of some runs, one line each, with ratios
/// against line `kernel` and against line `reference` (both indices into
/// `lines`): the ingress-drop comparison and the workers sweep, of `fam`.
pub fn pps_table(
    lines: &[(&str, &[RepResult])],
    kernel: usize,
    reference: usize,
    fam: Family,
) -> String {
    let ip_in = format!("{} in/p", fam.label());
    use std::fmt::Write;
    let med = |reps: &[RepResult], f: &dyn Fn(&RepResult) -> Option<f64>| {
        median(reps.iter().filter_map(f).collect())
    };
    let fig = |reps: &[RepResult]| {
        [
            med(reps, &|r| Some(r.pps_forwarded)),
            med(reps, &|r| {
                r.paced
                    .as_ref()
                    .and_then(|c| c.cpu_per_packet)
                    .map(|c| c.forwarder_ns)
            }),
            med(reps, &|r| {
                r.paced
                    .as_ref()
                    .and_then(|c| c.cpu_per_packet)
                    .and_then(|c| c.path_ns)
            }),
        ]
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    };
    let k = lines.get(kernel).map(|l| fig(l.1)).unwrap_or_default();
    let (ref_name, rf) = lines
        .get(reference)
        .map(|l| (l.0, fig(l.1)))
        .unwrap_or(("-", [None; 3]));
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| {:<30} | {:>4} | {:>9} | {:>7} | {:>7} | {:>6} | {:>9} | {:>7} | {:>9} | {:>7} | {:>8} |",
        "forwarder", "reps", "pps", "×kernel", "×ref", "loss", "CPU ns/p", "×kernel", "path ns/p", "×kernel", ip_in
    );
    let _ = writeln!(
        t,
        "|{:-<32}|{:->6}|{:->11}|{:->9}|{:->9}|{:->8}|{:->11}|{:->9}|{:->11}|{:->9}|{:->10}|",
        "", "", "", "", "", "", "", "", "", "", ""
    );
    for (name, reps) in lines {
        let f = fig(reps);
        let v = |x: Option<f64>, fmt: fn(f64) -> String| x.map(fmt).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(
            t,
            "| {:<30} | {:>4} | {:>9} | {:>7} | {:>7} | {:>6} | {:>9} | {:>7} | {:>9} | {:>7} | {:>8} |",
            name,
            reps.len(),
            v(f[0], fmt_pps),
            ratio(f[0], k[0]),
            ratio(f[0], rf[0]),
            v(med(reps, &|r| Some(r.pps_loss)), fmt_pct),
            v(f[1], fmt_ns),
            ratio(f[1], k[1]),
            v(f[2], fmt_ns),
            ratio(f[2], k[2]),
            v(med(reps, &|r| Some(r.pps_kernel_ip_input_per_packet)), fmt_ratio),
        );
    }
    let _ = writeln!(
        t,
        "(pps, loss: unpaced test; CPU (forwarder: softirq + router process), path (blaster + sink + router, exact): ns per forwarded packet in the paced test; {ip_in}: the router namespace kernel's {} input per offered packet; ×ref: against \"{ref_name}\")",
        fam.label()
    );
    t
}

/// One address family's run: its parameters, what [`run`] measured and the
/// summary [`rows`] of it.
pub struct FamilyRun {
    pub p: Params,
    pub all: BTreeMap<&'static str, ModeResults>,
    pub rows: Vec<Row>,
}

impl FamilyRun {
    /// Runs all repetitions of `p` (its family) and summarises them.
    pub fn measure(p: Params) -> FamilyRun {
        let all = run(&p);
        let rows = rows(&all, p.family);
        FamilyRun { p, all, rows }
    }

    /// This run's part of `fwd_summary.json`.
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "family": self.p.family,
            "params": self.p,
            "metrics": self.rows.iter().map(|r| serde_json::json!({
                "metric": r.metric,
                "kernel": r.kernel,
                "router": r.router,
                "ratio": match (r.kernel, r.router) { (Some(k), Some(x)) if k > 0.0 => Some(x / k), _ => None },
                "target": r.target.map(|(t, up)| serde_json::json!({"ratio": t, "higher_is_better": up})),
            })).collect::<Vec<_>>(),
            "repetitions": self.all.iter().map(|(m, r)| (m.to_string(), serde_json::json!({"reps": r.reps, "errors": r.errors}))).collect::<BTreeMap<_, _>>(),
        })
    }
}

/// Writes the latency plot (`fwd-latency.svg`, IPv6: `fwd-latency-v6.svg`):
/// kernel vs router, unloaded and loaded, from the same histograms as the
/// .hgrm files.
pub fn write_plot(out: &Path, run: &FamilyRun) -> Result<PathBuf, String> {
    let curves = |loaded: bool| {
        ["kernel", "router"]
            .iter()
            .filter_map(|m| {
                let r = run.all.get(m)?;
                let h = if loaded {
                    r.loaded_latency.as_ref()
                } else {
                    r.latency.as_ref()
                }?;
                Some(plot::Curve { label: m, hist: h })
            })
            .collect::<Vec<_>>()
    };
    let fam = run.p.family;
    let path = out.join(format!("fwd-latency{}.svg", fam.file_tag()));
    let idle = format!("UDP request/response over {}, unloaded", fam.label());
    plot::latency_svg(
        &path,
        &[
            (idle.as_str(), curves(false)),
            ("with one bulk TCP flow (iperf3)", curves(true)),
        ],
    )?;
    Ok(path)
}

/// Writes the .hgrm files (IPv6's with `-v6` in the name) and
/// `fwd_summary.json` to `out`. The JSON's top level is the first run, in
/// the shape it had before IPv6 (plus `family`); every further run is a
/// section of the same shape under its family's name (`"v6"`).
pub fn write_outputs(out: &Path, runs: &[FamilyRun]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    for run in runs {
        let tag = run.p.family.file_tag();
        for (mode, r) in &run.all {
            for (kind, h) in [("", &r.latency), ("-loaded", &r.loaded_latency)] {
                if let Some(h) = h {
                    std::fs::write(
                        out.join(format!("fwd-latency{kind}{tag}-{mode}.hgrm")),
                        hgrm::percentile_distribution(h, 5),
                    )?;
                }
            }
        }
    }
    let Some((first, rest)) = runs.split_first() else {
        return Err(std::io::Error::other("no run to write"));
    };
    let mut json = first.json();
    json["machine"] = serde_json::json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    });
    json["cpu_method"] = serde_json::json!("process: utime+stime of the router (all threads); softirq and busy: /proc/stat cpu line, all CPUs; tick-sampled (no CONFIG_IRQ_TIME_ACCOUNTING); forwarder = softirq (+ process for the router: an upper bound, softirq in its threads counts twice)");
    for run in rest {
        json[run.p.family.name()] = run.json();
    }
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
    fn family_frames_and_addresses() {
        assert_eq!(Family::V4.frame_len(), 64);
        assert_eq!(Family::V6.frame_len(), 78);
        assert_eq!(Family::V4.dst_at(9000).to_string(), "192.168.20.100:9000");
        assert_eq!(Family::V6.dst_at(9000).to_string(), "[fd00:20::100]:9000");
        assert_eq!(Family::V6.listen_at(7000).to_string(), "[::]:7000");
    }

    #[test]
    fn v4_metric_names_unchanged() {
        let names: Vec<String> = rows(&BTreeMap::new(), Family::V4)
            .into_iter()
            .map(|r| r.metric)
            .collect();
        for n in [
            "UDP 64B forwarded pps",
            "UDP 64B loss",
            "kernel IPv4 input per offered pkt",
        ] {
            assert!(names.iter().any(|m| m == n), "{n} missing: {names:?}");
        }
        let v6 = rows(&BTreeMap::new(), Family::V6);
        assert!(v6.iter().any(|r| r.metric == "UDP 78B forwarded pps"));
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
