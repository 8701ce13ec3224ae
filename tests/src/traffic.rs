//! Traffic the tests send through a forwarder and check: ping summaries,
//! bulk TCP with checksums (socat), and the webpods' whoami HTTP server.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::env::repo_file;
use crate::lab::Lab;
use crate::netns::{Ns, COUNTER, SETUP_TIMEOUT};
use crate::process::{poll_until, run_timeout, wait_until, CmdOutput};

/// `IP` as the host part of a URL: an IPv6 address in brackets (anything
/// else, `a.b.c.d:port` included, as it is).
pub fn url_host(ip: &str) -> String {
    if ip.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Parses iputils ping's summary: (transmitted, received).
pub fn ping_counts(output: &str) -> Option<(u32, u32)> {
    let line = output.lines().find(|l| l.contains("packets transmitted"))?;
    let mut nums = line.split(',').map(|f| {
        f.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    });
    Some((nums.next()??, nums.next()??))
}

/// Generates `size` bytes of pseudo-random data into `path` (xorshift; no
/// dependency) and returns nothing; use `sha256sum` to check it.
pub fn write_random_file(path: &Path, size: usize, seed: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(
        1 << 20,
        fs::File::create(path).expect("create data file"),
    );
    let mut x = seed | 1;
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for w in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).expect("write data");
        left -= n;
    }
    f.flush().expect("flush data");
}

/// `sha256sum FILE` (hex digest).
pub fn sha256_file(path: &Path) -> String {
    let out = run_timeout(Command::new("sha256sum").arg(path), Duration::from_secs(60)).ok();
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Sends `size` bytes of random data from `from` to `to_ip:port` over TCP with
/// socat and returns (sent sha256, received sha256, received byte count, seconds).
/// The receiver hashes the stream as it arrives.
pub fn tcp_bulk(
    lab: &mut Lab,
    from: &Ns,
    to: &Ns,
    to_ip: &str,
    port: u16,
    size: usize,
    timeout: Duration,
) -> BulkResult {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let data = lab.dir().join(format!("bulk{n}.bin"));
    write_random_file(&data, size, 0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let sent = sha256_file(&data);
    let result = lab.dir().join(format!("bulk{n}.recv"));
    // The receiver hashes and counts the stream as it arrives, then writes
    // "<sha256> <bytes>" to `result` atomically (rename).
    let hasher = format!(
        "import hashlib,os,sys\nh=hashlib.sha256();n=0\nwhile True:\n b=sys.stdin.buffer.read(1<<20)\n if not b: break\n h.update(b);n+=len(b)\n\
         open('{r}.tmp','w').write(h.hexdigest()+' '+str(n))\nos.rename('{r}.tmp','{r}')\n",
        r = result.display()
    );
    // IPv6: socat's TCP-LISTEN/TCP are IPv4 unless told.
    let (listen, connect) = if to_ip.contains(':') {
        ("TCP6-LISTEN", format!("TCP6:[{to_ip}]:{port}"))
    } else {
        ("TCP-LISTEN", format!("TCP:{to_ip}:{port}"))
    };
    let server = lab.spawn(
        to,
        &[
            "bash",
            "-c",
            &format!("socat -u {listen}:{port},reuseaddr STDOUT | python3 -c \"$0\"",),
            &hasher,
        ],
    );
    wait_listening(to, port);
    let start = Instant::now();
    let client = run_timeout(
        &mut from.command(
            "socat",
            &[
                "-u".to_string(),
                format!("OPEN:{}", data.display()),
                format!("{connect},connect-timeout=5"),
            ],
        ),
        timeout,
    );
    let got = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        result.exists()
    });
    let secs = start.elapsed().as_secs_f64();
    let _ = lab.wait_exit(server, Duration::from_secs(2));
    lab.stop(server);
    let _ = fs::remove_file(&data);
    let received = if got {
        fs::read_to_string(&result).unwrap_or_default()
    } else {
        String::new()
    };
    let mut fields = received.split_whitespace();
    let recv_sha = fields.next().unwrap_or_default().to_string();
    let bytes = fields.next().and_then(|b| b.parse().ok()).unwrap_or(0);
    BulkResult {
        sent_sha: sent,
        recv_sha,
        bytes,
        secs,
        client,
    }
}

#[derive(Debug)]
pub struct BulkResult {
    pub sent_sha: String,
    pub recv_sha: String,
    pub bytes: u64,
    pub secs: f64,
    pub client: CmdOutput,
}

impl BulkResult {
    pub fn gbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.secs / 1e9
    }
    /// Panics unless all `size` bytes arrived intact.
    pub fn assert_intact(&self, size: usize) {
        assert!(self.client.success(), "sender failed: {}", self.client);
        assert_eq!(
            self.bytes, size as u64,
            "byte count at the receiver (sender: {})",
            self.client
        );
        assert_eq!(
            self.sent_sha, self.recv_sha,
            "sha256 of the data differs between sender and receiver"
        );
    }
}

/// Waits (≤ 10 s) until something listens on TCP `port` inside `ns`.
pub fn wait_listening(ns: &Ns, port: u16) {
    wait_until(
        &format!("TCP listener on :{port} in {}", ns.name()),
        Duration::from_secs(10),
        || {
            ns.run(&["ss", "-Hltn", &format!("sport = :{port}")], SETUP_TIMEOUT)
                .stdout
                .contains("LISTEN")
        },
    );
}

/// Starts the whoami-like HTTP server (`scripts/lib/whoami.py`) in `ns`.
pub fn spawn_whoami(lab: &mut Lab, ns: &Ns, hostname: &str, port: u16) -> u32 {
    let script = repo_file("scripts/lib/whoami.py");
    let pid = lab.spawn(
        ns,
        &[
            "python3",
            &script.to_string_lossy(),
            "--name",
            hostname,
            "--port",
            &port.to_string(),
        ],
    );
    wait_listening(ns, port);
    pid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("fd00:172:20:2::249"), "[fd00:172:20:2::249]");
        assert_eq!(url_host("172.20.2.249"), "172.20.2.249");
        assert_eq!(url_host("192.168.10.200:8080"), "192.168.10.200:8080");
    }

    #[test]
    fn ping_summary() {
        let out = "--- 1.2.3.4 ping statistics ---\n3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n";
        assert_eq!(ping_counts(out), Some((3, 2)));
        let err = "2 packets transmitted, 0 received, +2 errors, 100% packet loss";
        assert_eq!(ping_counts(err), Some((2, 0)));
    }
}
