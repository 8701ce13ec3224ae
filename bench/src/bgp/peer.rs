//! An in-process eBGP peer for the fault benchmark: its TCP socket is
//! opened on a thread that joined a namespace ([`Ns::enter`]), so the
//! session lives there while the benchmark drives it from its own threads
//! (announce, withdraw, close with a NOTIFICATION or a TCP reset, reconnect).
//! The codec is the `bgp` crate's, the UPDATE packing the BGP benchmark's
//! sender's ([`build_updates`]).
//!
//! A reader thread drains what the router sends (so its TCP never stalls),
//! notes when the connection ends, and sends a KEEPALIVE every 20 s.
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgp::wire::{DecodeContext, Message, NotificationRepr};
use ipnet::Ipv4Net;
use router_tests::Ns;

use crate::sender::{build_updates_from, open_session};

/// Hold time we offer (the router's configured one is what counts if lower).
const HOLD_TIME: u16 = 180;
const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);
/// No benchmark session lives longer (every loop is bounded in time).
const MAX_LIFETIME: Duration = Duration::from_secs(4 * 3600);

/// How a session is ended by the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseHow {
    /// NOTIFICATION Cease / Administrative Reset (RFC 4486 subcode 4), then FIN.
    Notification,
    /// An abrupt TCP reset (SO_LINGER 0), no NOTIFICATION: a crashed peer.
    Reset,
}

pub struct Peer {
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
    pub asn: u32,
    ctx: DecodeContext,
    writer: Arc<Mutex<TcpStream>>,
    raw: socket2::Socket,
    stop: Arc<AtomicBool>,
    /// Set by the reader when the router closed the connection.
    closed: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Peer {
    /// Connects from `local` (an address of `ns`) to `remote`:179, retrying
    /// for at most `within`, and completes the OPEN/KEEPALIVE exchange.
    pub fn connect(
        ns: &Ns,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        asn: u32,
        within: Duration,
    ) -> Result<Peer, String> {
        let deadline = Instant::now() + within;
        let mut last;
        loop {
            let sock = ns.enter(|| -> Result<socket2::Socket, String> {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .map_err(|e| e.to_string())?;
                s.bind(&SocketAddr::from((local, 0)).into())
                    .map_err(|e| format!("bind {local}: {e}"))?;
                Ok(s)
            })?;
            match sock.connect_timeout(
                &SocketAddr::from((remote, 179)).into(),
                Duration::from_secs(2),
            ) {
                Ok(()) => match Peer::handshake(sock, local, remote, asn) {
                    Ok(p) => return Ok(p),
                    Err(e) => last = e,
                },
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(format!("BGP {local} -> {remote}: {last}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn handshake(
        raw: socket2::Socket,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        asn: u32,
    ) -> Result<Peer, String> {
        let mut s: TcpStream = raw.try_clone().map_err(|e| e.to_string())?.into();
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        // A router that stops reading must not hang the benchmark.
        s.set_write_timeout(Some(Duration::from_secs(60))).ok();
        let ctx = open_session(&mut s, asn, HOLD_TIME, local)?;
        let writer = Arc::new(Mutex::new(s.try_clone().map_err(|e| e.to_string())?));
        let stop = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicBool::new(false));
        let mut rd = s;
        rd.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let (stop_r, closed_r, w_k) = (stop.clone(), closed.clone(), writer.clone());
        let reader = std::thread::spawn(move || {
            let ka = Message::Keepalive.to_bytes(&DecodeContext::default());
            let mut buf = vec![0u8; 1 << 16];
            let mut last_ka = Instant::now();
            let born = Instant::now();
            while !stop_r.load(Ordering::Relaxed) && born.elapsed() < MAX_LIFETIME {
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
                if last_ka.elapsed() >= KEEPALIVE_EVERY {
                    last_ka = Instant::now();
                    if let Ok(mut w) = w_k.try_lock() {
                        let _ = w.write_all(&ka);
                    }
                }
            }
            closed_r.store(true, Ordering::Relaxed);
        });
        Ok(Peer {
            local,
            remote,
            asn,
            ctx,
            writer,
            raw,
            stop,
            closed,
            reader: Some(reader),
        })
    }

    /// The UPDATEs that announce `prefixes` with next hop `next_hop`.
    pub fn announcements(&self, prefixes: &[Ipv4Net], next_hop: Ipv4Addr) -> Vec<Vec<u8>> {
        build_updates_from(self.asn, prefixes, next_hop, false, &self.ctx)
    }

    /// The UPDATEs that withdraw `prefixes`.
    pub fn withdrawals(&self, prefixes: &[Ipv4Net]) -> Vec<Vec<u8>> {
        build_updates_from(self.asn, prefixes, self.local, true, &self.ctx)
    }

    /// Writes whole messages, 64 at a time under the lock (the keepalive
    /// interleaves only between whole messages).
    pub fn send(&self, msgs: &[Vec<u8>]) -> Result<(), String> {
        for chunk in msgs.chunks(64) {
            let buf: Vec<u8> = chunk.concat();
            let mut w = self.writer.lock().map_err(|_| "writer lock poisoned")?;
            w.write_all(&buf)
                .map_err(|e| format!("BGP {} -> {}: {e}", self.local, self.remote))?;
        }
        Ok(())
    }

    pub fn announce(&self, prefixes: &[Ipv4Net], next_hop: Ipv4Addr) -> Result<(), String> {
        self.send(&self.announcements(prefixes, next_hop))
    }

    pub fn withdraw(&self, prefixes: &[Ipv4Net]) -> Result<(), String> {
        self.send(&self.withdrawals(prefixes))
    }

    /// Whether the router closed the connection.
    pub fn closed_by_router(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Ends the session.
    pub fn close(mut self, how: CloseHow) {
        match how {
            CloseHow::Notification => {
                let n = Message::Notification(NotificationRepr {
                    code: 6,
                    subcode: 4,
                    data: Vec::new(),
                });
                let _ = self.send(&[n.to_bytes(&self.ctx)]);
                let _ = self.raw.shutdown(Shutdown::Both);
            }
            CloseHow::Reset => {
                let _ = self.raw.set_linger(Some(Duration::ZERO));
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        // Dropping the last handle closes the socket (an RST with linger 0).
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.finish();
    }
}
