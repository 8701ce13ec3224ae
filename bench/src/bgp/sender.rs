//! The benchmark's BGP sender: one eBGP peer (AS 65100) that feeds a table
//! in full-size UPDATEs and later withdraws it, built on the `bgp` crate's
//! codec. It runs inside the sender namespace (the benchmark re-runs its own
//! binary there) and talks to the driver over stdin/stdout lines:
//!
//! ```text
//! sender -> driver   READY            session Established
//! driver -> sender   GO               send the table
//! sender -> driver   T0 <unix ns>     just before the first UPDATE
//! sender -> driver   SENT <unix ns>   after the last UPDATE was written
//! driver -> sender   WITHDRAW         withdraw it all
//! sender -> driver   W0 <unix ns> / WSENT <unix ns>
//! driver -> sender   EXIT
//! ```
//! A reader thread drains whatever the peer sends (its own UPDATEs,
//! KEEPALIVEs) so TCP never stalls, and a KEEPALIVE goes out every 20 s.
use std::io::{BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgp::wire::{self, Capability, DecodeContext, Message, OpenRepr, UpdateRepr};
use ipnet::{IpNet, Ipv4Net};

pub const SENDER_AS: u32 = 65100;
/// RFC 4271 §4.1: without the extended message capability a message is at
/// most 4096 octets; the sender fills each UPDATE up to that.
const MAX_MSG: usize = wire::MAX_MESSAGE_LEN;

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Packs `prefixes` into UPDATEs (announcements with one attribute set, or
/// withdrawals), each at most 4096 octets, using the crate's encoder.
pub fn build_updates(
    prefixes: &[Ipv4Net],
    next_hop: Ipv4Addr,
    withdraw: bool,
    ctx: &DecodeContext,
) -> Vec<Vec<u8>> {
    build_updates_from(SENDER_AS, prefixes, next_hop, withdraw, ctx)
}

/// [`build_updates`] for a sender in AS `asn` (the AS_PATH it prepends).
pub fn build_updates_from(
    asn: u32,
    prefixes: &[Ipv4Net],
    next_hop: Ipv4Addr,
    withdraw: bool,
    ctx: &DecodeContext,
) -> Vec<Vec<u8>> {
    let mut attrs = wire::attr::PathAttributes::default();
    if !withdraw {
        attrs.origin = Some(wire::attr::Origin::Igp);
        attrs.as_path = Some(wire::attr::AsPath::sequence(vec![asn]));
        attrs.next_hop = Some(next_hop);
    }
    let base = Message::Update(UpdateRepr {
        attrs: attrs.clone(),
        ..Default::default()
    })
    .to_bytes(ctx)
    .len();
    let mut out = Vec::new();
    let mut batch: Vec<IpNet> = Vec::new();
    let mut size = base;
    let flush = |batch: &mut Vec<IpNet>, out: &mut Vec<Vec<u8>>| {
        if batch.is_empty() {
            return;
        }
        let mut u = UpdateRepr {
            attrs: attrs.clone(),
            ..Default::default()
        };
        if withdraw {
            u.withdrawn = std::mem::take(batch);
        } else {
            u.nlri = std::mem::take(batch);
        }
        out.push(Message::Update(u).to_bytes(ctx));
    };
    for p in prefixes {
        let l = wire::prefix_wire_len(p.prefix_len());
        if size + l > MAX_MSG {
            flush(&mut batch, &mut out);
            size = base;
        }
        batch.push(IpNet::V4(*p));
        size += l;
    }
    flush(&mut batch, &mut out);
    out
}

/// One BGP message off `s` (header and body).
pub fn read_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; wire::HEADER_LEN];
    s.read_exact(&mut h)?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut body = vec![0u8; len.saturating_sub(wire::HEADER_LEN)];
    s.read_exact(&mut body)?;
    Ok([h.to_vec(), body].concat())
}

fn bound_socket(local: Ipv4Addr) -> Result<socket2::Socket, String> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| e.to_string())?;
    s.bind(&SocketAddr::from((local, 0)).into())
        .map_err(|e| format!("bind {local}: {e}"))?;
    Ok(s)
}

/// Connects to `peer`:179 from `local` (retrying while the target starts,
/// at most 60 s), establishes the session and serves the driver's commands.
pub fn run(peer: Ipv4Addr, local: Ipv4Addr, prefixes: Vec<Ipv4Net>) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..120 {
        // A failed connect leaves a socket unusable: a fresh one per try.
        let sock = bound_socket(local)?;
        match sock.connect_timeout(
            &SocketAddr::from((peer, 179)).into(),
            Duration::from_secs(2),
        ) {
            Ok(()) => return finish(sock.into(), local, prefixes),
            Err(e) => {
                last = e.to_string();
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    Err(format!("connect {peer}:179: {last}"))
}

/// Sends our OPEN as `asn` (IPv4 unicast, four-octet AS), answers the
/// target's OPEN with a KEEPALIVE and waits for its KEEPALIVE (bounded: a
/// few messages, each under `s`'s read timeout). Returns the context to
/// encode UPDATEs for this session.
pub fn open_session(
    s: &mut TcpStream,
    asn: u32,
    hold_time: u16,
    local: Ipv4Addr,
) -> Result<DecodeContext, String> {
    let caps = vec![
        Capability::Multiprotocol {
            afi: wire::AFI_IPV4,
            safi: wire::SAFI_UNICAST,
        },
        Capability::FourOctetAs(asn),
    ];
    let ctx0 = DecodeContext::default();
    let open = Message::Open(OpenRepr::new(asn, hold_time, local, caps)).to_bytes(&ctx0);
    s.write_all(&open).map_err(|e| format!("send OPEN: {e}"))?;
    let (mut four_octet, mut peer_as) = (false, 0);
    for _ in 0..8 {
        let m = read_message(s).map_err(|e| format!("waiting for OPEN/KEEPALIVE: {e}"))?;
        match Message::parse(&m, &ctx0) {
            Ok(Message::Open(o)) => {
                peer_as = u32::from(o.my_as);
                for c in &o.capabilities {
                    if let Capability::FourOctetAs(a) = c {
                        four_octet = true;
                        peer_as = *a;
                    }
                }
                s.write_all(&Message::Keepalive.to_bytes(&ctx0))
                    .map_err(|e| e.to_string())?;
            }
            Ok(Message::Keepalive) => {
                return Ok(DecodeContext {
                    four_octet_as: four_octet,
                    ebgp: true,
                    peer_as,
                    ..DecodeContext::default()
                })
            }
            Ok(Message::Notification(n)) => return Err(format!("NOTIFICATION: {n:?}")),
            Ok(_) => {}
            Err(e) => return Err(format!("bad message: {e:?}")),
        }
    }
    Err("no KEEPALIVE after OPEN".into())
}

fn finish(mut s: TcpStream, local: Ipv4Addr, prefixes: Vec<Ipv4Net>) -> Result<(), String> {
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let ctx = open_session(&mut s, SENDER_AS, 180, local)?;
    // Encode before the clock starts: the measurement is the target's work.
    let announce = build_updates(&prefixes, local, false, &ctx);
    let withdraw = build_updates(&prefixes, local, true, &ctx);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = Arc::new(Mutex::new(s.try_clone().map_err(|e| e.to_string())?));
    // Drain the peer (its UPDATEs and KEEPALIVEs): a full receive window
    // would stall the peer's own sending and, with it, its processing.
    let mut rd = s.try_clone().map_err(|e| e.to_string())?;
    rd.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let stop_r = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while !stop_r.load(Ordering::Relaxed) {
            match rd.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    });
    let stop_k = stop.clone();
    let w_k = writer.clone();
    let keepalive = std::thread::spawn(move || {
        let ka = Message::Keepalive.to_bytes(&DecodeContext::default());
        let mut waited = Duration::ZERO;
        while !stop_k.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            waited += Duration::from_millis(200);
            if waited >= Duration::from_secs(20) {
                waited = Duration::ZERO;
                if let Ok(mut w) = w_k.lock() {
                    let _ = w.write_all(&ka);
                }
            }
        }
    });

    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    say(format!(
        "READY {} updates {} prefixes",
        announce.len(),
        prefixes.len()
    ));
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut result = Ok(());
    // Bounded by the driver: it sends EXIT, or closes stdin.
    while let Some(Ok(cmd)) = lines.next() {
        let msgs = match cmd.trim() {
            "GO" => &announce,
            "WITHDRAW" => &withdraw,
            "EXIT" => break,
            other => {
                say(format!("ERROR unknown command {other:?}"));
                continue;
            }
        };
        let (t0, t1) = if cmd.trim() == "GO" {
            ("T0", "SENT")
        } else {
            ("W0", "WSENT")
        };
        say(format!("{t0} {}", unix_ns()));
        // Write in large chunks under the lock (the keepalive thread may interleave
        // only between whole messages).
        for chunk in msgs.chunks(64) {
            let buf: Vec<u8> = chunk.concat();
            let mut w = match writer.lock() {
                Ok(w) => w,
                Err(_) => break,
            };
            if let Err(e) = w.write_all(&buf) {
                result = Err(format!("sending UPDATEs: {e}"));
                break;
            }
        }
        say(format!("{t1} {}", unix_ns()));
        if result.is_err() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = reader.join();
    let _ = keepalive.join();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_fit_4096_and_carry_every_prefix() {
        let prefixes: Vec<Ipv4Net> = (0..5000u32)
            .map(|i| Ipv4Net::new(Ipv4Addr::from((10 << 24) | (i << 8)), 24).unwrap())
            .collect();
        let ctx = DecodeContext::default();
        for withdraw in [false, true] {
            let msgs = build_updates(&prefixes, Ipv4Addr::new(10, 77, 0, 1), withdraw, &ctx);
            let mut n = 0;
            for m in &msgs {
                assert!(m.len() <= 4096);
                match Message::parse(m, &ctx).unwrap() {
                    Message::Update(u) => {
                        n += if withdraw {
                            u.withdrawn.len()
                        } else {
                            u.nlri.len()
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(n, prefixes.len());
            assert!(
                msgs.len() <= 6,
                "about 1000 /24s per UPDATE, got {} messages",
                msgs.len()
            );
        }
    }
}
