//! CPU time per forwarded packet, from /proc (no perf counters needed).
//!
//! Two sources, sampled before and after a test:
//! * the router process: the on-CPU time of each of its threads,
//!   `/proc/PID/task/TID/schedstat`'s first field (the scheduler's
//!   `sum_exec_runtime`, exact ns; its workers live as long as the process),
//!   or, where schedstat is missing, `utime + stime` of `/proc/PID/stat`
//!   (tick-sampled). This includes softirq work that ran inside
//!   its threads (its TX kicks deliver into the peer veth's backlog, which
//!   the kernel processes on `local_bh_enable` in the caller's context);
//! * the kernel's packet work: the `softirq` column of `/proc/stat`'s `cpu`
//!   line (all CPUs). Kernel forwarding runs entirely there (the veth
//!   receive of the sender's frames, `ip_forward`, the veth transmit, the
//!   destination's UDP receive); for the router it holds the veth receive
//!   into its RX ring (and, without the ingress drop, the IPv4 input that
//!   drops each frame again) and the destination's receive.
//!
//! The forwarder's total is softirq for the kernel, process + softirq for
//! the router: an upper bound for the router, since softirq that ran in its
//! threads is in both. Without `CONFIG_IRQ_TIME_ACCOUNTING` (this VM's
//! kernel) softirq time is tick-sampled (`CONFIG_HZ` per CPU), so it is
//! statistical: a 4-s test on 2 CPUs at 250 Hz is 2,000 samples.
//! Softirq is machine-wide, so other work's network interrupts count too;
//! builds on the same machine do little networking, so it moves less than
//! whole-machine busy time (also reported, for reference).

/// Clock ticks per second of /proc's `utime`/`stime` and `/proc/stat`
/// (`USER_HZ`, 100 on Linux regardless of `CONFIG_HZ`).
const USER_HZ: f64 = 100.0;

#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// On-CPU time of the router process, ns (None: no process).
    pub proc_ns: Option<u64>,
    /// softirq, all CPUs, ticks.
    pub softirq: u64,
    /// everything but idle and iowait, all CPUs, ticks.
    pub busy: u64,
}

/// CPU seconds between two samples.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Delta {
    pub proc_secs: Option<f64>,
    pub softirq_secs: f64,
    pub busy_secs: f64,
}

/// On-CPU ns of process `pid`: its threads' schedstat run times, else its
/// utime + stime ticks.
fn proc_ns(pid: u32) -> Option<u64> {
    let from_schedstat = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|dir| {
            let mut sum = 0u64;
            for t in dir.flatten() {
                let text = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
                sum += parse_schedstat(&text)?;
            }
            Some(sum)
        });
    from_schedstat.or_else(|| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_proc_stat(&text).map(|t| (t as f64 * 1e9 / USER_HZ) as u64)
    })
}

/// The run time (ns, first field) of a `/proc/.../schedstat` line.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The comm
/// field may hold spaces and parentheses, so count from the last ')'.
fn parse_proc_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 -> index 11.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (softirq, busy) from the aggregate `cpu` line of `/proc/stat`.
fn parse_cpu_line(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice;
    // guest time is already inside user.
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((*v.get(6)?, total - idle))
}

pub fn sample(pid: Option<u32>) -> Sample {
    let (softirq, busy) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_cpu_line(&t))
        .unwrap_or((0, 0));
    Sample {
        proc_ns: pid.and_then(proc_ns),
        softirq,
        busy,
    }
}

impl Sample {
    pub fn since(&self, before: &Sample) -> Delta {
        let secs = |a: u64, b: u64| a.saturating_sub(b) as f64 / USER_HZ;
        Delta {
            proc_secs: match (self.proc_ns, before.proc_ns) {
                (Some(a), Some(b)) => Some(a.saturating_sub(b) as f64 / 1e9),
                _ => None,
            },
            softirq_secs: secs(self.softirq, before.softirq),
            busy_secs: secs(self.busy, before.busy),
        }
    }
}

/// Per-packet figures in ns: (process, softirq, forwarder total, machine busy).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PerPacket {
    /// Exact on-CPU ns of the whole path's processes (blaster + sink +
    /// router; the kernel's forwarding runs inside the blaster's sends):
    /// immune to other work on the machine; excludes ksoftirqd.
    pub path_ns: Option<f64>,
    pub proc_ns: Option<f64>,
    pub softirq_ns: f64,
    pub forwarder_ns: f64,
    pub busy_ns: f64,
}

impl Delta {
    pub fn per_packet(&self, packets: u64) -> Option<PerPacket> {
        if packets == 0 {
            return None;
        }
        let ns = |s: f64| s * 1e9 / packets as f64;
        Some(PerPacket {
            path_ns: None,
            proc_ns: self.proc_secs.map(ns),
            softirq_ns: ns(self.softirq_secs),
            forwarder_ns: ns(self.softirq_secs + self.proc_secs.unwrap_or(0.0)),
            busy_ns: ns(self.busy_secs),
        })
    }
}

/// Whether `perf stat` can count instructions here (false on VMs without a
/// virtual PMU; then only the /proc figures exist).
pub fn perf_instructions_supported() -> bool {
    let out = std::process::Command::new("perf")
        .args(["stat", "-x,", "-e", "instructions", "true"])
        .output();
    match out {
        Ok(o) => {
            o.status.success() && parse_perf_csv(&String::from_utf8_lossy(&o.stderr)).is_some()
        }
        Err(_) => false,
    }
}

/// The count of `perf stat -x, -e instructions` output (`N,,instructions,...`);
/// None for `<not supported>`/`<not counted>`.
fn parse_perf_csv(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.contains(",instructions"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok())
}

/// `perf stat -e instructions` over a window of the test: all CPUs (`-a`,
/// the figure that covers the kernel forwarder's softirqs) and, for the
/// router, its process (`-p PID`, all threads). Each perf runs `sleep SECS`
/// and stops by itself; [`PerfWindow::finish`] waits (bounded) for both.
pub struct PerfWindow {
    system: Option<std::process::Child>,
    process: Option<std::process::Child>,
    secs: f64,
}

/// Instructions counted in a window.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Instructions {
    pub system: Option<u64>,
    pub process: Option<u64>,
}

impl PerfWindow {
    pub fn start(pid: Option<u32>, secs: f64) -> PerfWindow {
        let spawn = |target: &[String]| {
            std::process::Command::new("perf")
                .args(["stat", "-x,", "-e", "instructions"])
                .args(target)
                .args(["--", "sleep", &format!("{secs:.2}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .ok()
        };
        PerfWindow {
            system: spawn(&["-a".into()]),
            process: pid.and_then(|p| spawn(&["-p".into(), p.to_string()])),
            secs,
        }
    }

    pub fn finish(self) -> Instructions {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(self.secs + 10.0);
        let wait = |c: Option<std::process::Child>| -> Option<u64> {
            let mut c = c?;
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(50))
                    }
                    _ => {
                        // Ours, by PID.
                        let _ = c.kill();
                        let _ = c.wait();
                        return None;
                    }
                }
            }
            let mut err = String::new();
            use std::io::Read;
            c.stderr.take()?.read_to_string(&mut err).ok()?;
            parse_perf_csv(&err)
        };
        Instructions {
            system: wait(self.system),
            process: wait(self.process),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_fields() {
        let line =
            "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_proc_stat(line), Some(325));
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn schedstat_line() {
        assert_eq!(parse_schedstat("993729 1921190 2\n"), Some(993_729));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn cpu_line() {
        let t = "cpu  100 5 50 1000 10 2 30 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        // busy = 100+5+50+2+30+0 = 187
        assert_eq!(parse_cpu_line(t), Some((30, 187)));
    }

    #[test]
    fn perf_csv() {
        assert_eq!(
            parse_perf_csv("123456789,,instructions,4004000,100.00,,\n"),
            Some(123_456_789)
        );
        // This VM: no PMU.
        assert_eq!(
            parse_perf_csv("<not supported>,,instructions,0,100.00,,\n"),
            None
        );
        assert_eq!(parse_perf_csv(""), None);
    }
}
