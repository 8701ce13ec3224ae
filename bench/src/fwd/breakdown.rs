//! `fwd_bench --breakdown`: where a loaded round trip spends its time.
//!
//! While the loaded latency test runs, tcpdump records the echo traffic at
//! four places: the forwarder's two ports (as each request and reply
//! arrives), and the client's and the server's own interfaces (both ways:
//! their taps see what their kernel sends too). Matching the packets by the
//! sequence number the echo client writes in the first 8 payload octets
//! gives, per round trip, the time inside the forwarder each way, the
//! server's turnaround, and the client's (reply in to next request out).
//! Those are what a round trip's tail is made of, so the figures say which
//! part a change moved. The taps' timestamps are taken where the kernel
//! hands a packet to the taps (`dev_queue_xmit_nit` / `__netif_receive_skb`),
//! the same clock everywhere.
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use pcap_file::pcap::PcapReader;

use router_tests::Line;

/// The echo test's UDP port ([`super::measure_latency`]).
pub const ECHO_PORT: u16 = 7000;

/// The segments, in the order a round trip passes them.
pub const SEGMENTS: [&str; 5] = [
    "forwarder, request",
    "server turnaround",
    "forwarder, reply",
    "round trip on the wire",
    "client turnaround",
];

/// The tcpdumps of one loaded latency run.
pub struct Capture {
    pids: Vec<u32>,
    /// Forwarder's client-side port, server-side port, client, server.
    files: [PathBuf; 4],
}

/// Starts the four captures; give them a moment before traffic starts.
pub fn start(line: &mut Line) -> Capture {
    let dir = line.lab.dir().to_path_buf();
    let files =
        ["rtr-eth1", "rtr-eth2", "src-eth0", "dst-eth0"].map(|n| dir.join(format!("{n}.pcap")));
    let places = [
        (line.rtr.clone(), "eth1"),
        (line.rtr.clone(), "eth2"),
        (line.src.clone(), "eth0"),
        (line.dst.clone(), "eth0"),
    ];
    let filter = format!("udp port {ECHO_PORT}");
    let pids = places
        .iter()
        .zip(&files)
        .map(|((ns, iface), file)| {
            let file = file.to_string_lossy().into_owned();
            line.lab.spawn(
                ns,
                &[
                    "tcpdump",
                    "-i",
                    iface,
                    "-nn",
                    "-Z",
                    "root",
                    "-B",
                    "65536",
                    "--time-stamp-precision=nano",
                    "-w",
                    &file,
                    &filter,
                ],
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    Capture { pids, files }
}

/// Stops the captures (SIGTERM: tcpdump writes out what it holds) and
/// turns them into one histogram (ns) per segment of [`SEGMENTS`].
pub fn finish(line: &mut Line, c: Capture) -> Result<Vec<Histogram<u64>>, String> {
    for pid in c.pids {
        line.lab.stop(pid);
    }
    let [r_in, r_out, src, dst] = c.files.map(|f| read(&f));
    let (r_in, r_out, src, dst) = (r_in?, r_out?, src?, dst?);
    segments(&r_in, &r_out, &src, &dst)
}

/// (request?, sequence number) → when the tap saw it.
type Seen = HashMap<(bool, u64), u64>;

fn segments(
    r_in: &Seen,
    r_out: &Seen,
    src: &Seen,
    dst: &Seen,
) -> Result<Vec<Histogram<u64>>, String> {
    let mut h: Vec<Histogram<u64>> = (0..SEGMENTS.len())
        .map(|_| Histogram::new(3).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut record = |i: usize, from: Option<&u64>, to: Option<&u64>| {
        if let (Some(a), Some(b)) = (from, to) {
            let _ = h[i].record(b.saturating_sub(*a));
        }
    };
    let (req, rep) = (|s| (true, s), |s| (false, s));
    for &(is_req, seq) in src.keys() {
        if !is_req {
            continue;
        }
        record(0, r_in.get(&req(seq)), dst.get(&req(seq)));
        record(1, dst.get(&req(seq)), dst.get(&rep(seq)));
        record(2, r_out.get(&rep(seq)), src.get(&rep(seq)));
        record(3, src.get(&req(seq)), src.get(&rep(seq)));
        record(4, src.get(&rep(seq)), src.get(&req(seq + 1)));
    }
    if h[3].is_empty() {
        return Err("breakdown: no request and reply matched in the captures".into());
    }
    Ok(h)
}

fn read(path: &Path) -> Result<Seen, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = PcapReader::new(f).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut seen = Seen::new();
    while let Some(p) = r.next_packet() {
        // A capture cut off by SIGTERM may end in a partial record.
        let Ok(p) = p else { break };
        if let Some(key) = echo_key(&p.data) {
            seen.entry(key).or_insert(p.timestamp.as_nanos() as u64);
        }
    }
    Ok(seen)
}

/// (request?, sequence number) of an echo datagram in an Ethernet frame.
fn echo_key(frame: &[u8]) -> Option<(bool, u64)> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    let ip = frame.get(14..)?;
    let udp = match ethertype {
        0x0800 => ip.get(usize::from(ip.first()? & 0x0f) * 4..)?,
        0x86dd => ip.get(40..)?,
        _ => return None,
    };
    let dport = u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?);
    let seq = u64::from_le_bytes(udp.get(8..16)?.try_into().ok()?);
    Some((dport == ECHO_PORT, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_v4(dport: u16, seq: u64) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8 + 16];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[34 + 2..34 + 4].copy_from_slice(&dport.to_be_bytes());
        f[42..50].copy_from_slice(&seq.to_le_bytes());
        f
    }

    #[test]
    fn echo_keys_from_both_families_and_directions() {
        assert_eq!(echo_key(&frame_v4(ECHO_PORT, 7)), Some((true, 7)));
        assert_eq!(echo_key(&frame_v4(40000, 7)), Some((false, 7)));
        let mut v6 = vec![0u8; 14 + 40 + 8 + 8];
        v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        v6[54 + 2..54 + 4].copy_from_slice(&ECHO_PORT.to_be_bytes());
        v6[62..70].copy_from_slice(&9u64.to_le_bytes());
        assert_eq!(echo_key(&v6), Some((true, 9)));
        assert_eq!(echo_key(&v6[..60]), None);
        assert_eq!(echo_key(&[0u8; 10]), None);
    }

    #[test]
    fn segments_follow_one_round_trip() {
        let seen = |v: &[((bool, u64), u64)]| v.iter().copied().collect::<Seen>();
        // Request 0 leaves the client at 0, reaches the forwarder at 1,
        // the server at 11; the reply leaves at 16, reaches the forwarder at
        // 17, the client at 30; request 1 leaves at 33.
        let src = seen(&[((true, 0), 0), ((false, 0), 30), ((true, 1), 33)]);
        let r_in = seen(&[((true, 0), 1)]);
        let dst = seen(&[((true, 0), 11), ((false, 0), 16)]);
        let r_out = seen(&[((false, 0), 17)]);
        let h = segments(&r_in, &r_out, &src, &dst).unwrap();
        let max: Vec<u64> = h.iter().map(|h| h.max()).collect();
        assert_eq!(max, [10, 5, 13, 30, 3]);
        assert!(segments(&Seen::new(), &Seen::new(), &Seen::new(), &Seen::new()).is_err());
    }
}
