//! The server: one mio thread, bounded clients, request size and idle time.
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::protocol::{Dispatched, Registry, Response, Stream};

/// Most bytes in one request line.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Most connections served at once; more are answered with an error.
pub const MAX_CLIENTS: usize = 16;
/// While a stream's replies wait unread beyond this many bytes, the stream
/// is not polled (its source keeps, or loses and counts, the records).
pub const MAX_STREAM_BACKLOG: usize = 256 * 1024;
/// How often streams are polled.
const STREAM_TICK: Duration = Duration::from_millis(20);
/// A connection with no progress for this long is closed (not while it
/// streams: a stream is bounded by its own count/duration, or ends when
/// the client goes away).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's bounds; [`Limits::default`] uses the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_clients: usize,
    pub max_request: usize,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: MAX_CLIENTS,
            max_request: MAX_REQUEST,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CLIENT: usize = 2;

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    written: usize,
    last_progress: Instant,
    /// Close once `outbuf` is flushed (after an over-long request).
    close_after_flush: bool,
    writable_registered: bool,
    /// The streaming reply in progress; requests wait until it ends.
    reply_stream: Option<Box<dyn Stream>>,
}

/// A running control server; [`ControlServer::stop`] (or drop) ends it and
/// removes the socket file.
pub struct ControlServer {
    path: PathBuf,
    /// (device, inode) of the socket we bound, so stop removes only ours.
    identity: (u64, u64),
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `path` (removing a stale socket left by a dead router, refusing
    /// a live one or a non-socket file), sets mode 0660 and starts serving.
    pub fn start(path: &Path, registry: Arc<Registry>) -> io::Result<ControlServer> {
        Self::start_with(path, registry, Limits::default())
    }

    /// [`ControlServer::start`] with other bounds.
    pub fn start_with(
        path: &Path,
        registry: Arc<Registry>,
        limits: Limits,
    ) -> io::Result<ControlServer> {
        prepare_path(path)?;
        let mut listener = UnixListener::bind(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot bind control socket {}: {e}", path.display()),
            )
        })?;
        // The socket is created with the umask's mode (connecting needs write
        // permission, which the default umask withholds from others), then
        // opened to the group.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        let meta = std::fs::metadata(path)?;
        let identity = (meta.dev(), meta.ino());
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                crate::service::enter_control_plane("control");
                serve(poll, listener, registry, stop2, limits)
            })?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer {
            path: path.to_path_buf(),
            identity,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the thread and removes the socket file.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(t) = self.thread.take() else { return };
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            tracing::warn!("control socket: cannot wake server: {e}");
        }
        if t.join().is_err() {
            tracing::error!("control thread panicked");
        }
        // Remove the file only if it is still the socket we bound.
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.identity {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), "cannot remove control socket: {e}");
                }
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Makes `path` free to bind: creates the parent directory, removes a stale
/// socket, refuses a live one (another router) or anything that is not a
/// socket. [`ControlServer::start`] calls it; `router run` also calls it
/// before opening any port, so a second router on the same socket starts
/// nothing.
pub fn prepare_path(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_socket() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not removing it",
                path.display()
            ),
        )),
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{}: another router is listening on this control socket",
                    path.display()
                ),
            )),
            Err(_) => {
                tracing::info!(path = %path.display(), "removing stale control socket");
                std::fs::remove_file(path)
            }
        },
    }
}

fn serve(
    mut poll: Poll,
    listener: UnixListener,
    registry: Arc<Registry>,
    stop: Arc<AtomicBool>,
    limits: Limits,
) {
    let mut events = Events::with_capacity(64);
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next_token = FIRST_CLIENT;
    // Wake at least this often to close idle connections.
    let tick = limits
        .idle_timeout
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    while !stop.load(Ordering::Acquire) {
        let streaming = clients.values().any(|c| c.reply_stream.is_some());
        let timeout = if streaming {
            STREAM_TICK.min(tick)
        } else {
            tick
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("control socket poll failed: {e}");
            return;
        }
        for ev in events.iter() {
            match ev.token() {
                WAKER => {}
                LISTENER => accept_all(
                    &poll,
                    &listener,
                    &mut clients,
                    &mut next_token,
                    limits.max_clients,
                ),
                t => {
                    let Some(c) = clients.get_mut(&t) else {
                        continue;
                    };
                    let keep = drive(c, &registry, ev.is_readable(), limits.max_request);
                    let keep = keep && update_interest(&poll, t, c);
                    if !keep {
                        if let Some(mut c) = clients.remove(&t) {
                            let _ = poll.registry().deregister(&mut c.stream);
                        }
                    }
                }
            }
        }
        if streaming {
            clients.retain(|t, c| {
                if c.reply_stream.is_none() {
                    return true;
                }
                let keep = drive(c, &registry, false, limits.max_request);
                let keep = keep && update_interest(&poll, *t, c);
                if !keep {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
                keep
            });
        }
        let now = Instant::now();
        clients.retain(|_, c| {
            let alive = c.reply_stream.is_some()
                || now.duration_since(c.last_progress) < limits.idle_timeout;
            if !alive {
                let _ = poll.registry().deregister(&mut c.stream);
            }
            alive
        });
    }
}

fn accept_all(
    poll: &Poll,
    listener: &UnixListener,
    clients: &mut HashMap<Token, Client>,
    next_token: &mut usize,
    max_clients: usize,
) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if clients.len() >= max_clients {
                    // Best effort: tell the client why, then close.
                    let mut line =
                        serde_json::to_vec(&Response::error("too many control connections"))
                            .unwrap_or_default();
                    line.push(b'\n');
                    let _ = stream.write(&line);
                    continue;
                }
                let token = Token(*next_token);
                *next_token = next_token.wrapping_add(1).max(FIRST_CLIENT);
                if let Err(e) = poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE)
                {
                    tracing::warn!("control socket: cannot register client: {e}");
                    continue;
                }
                clients.insert(
                    token,
                    Client {
                        stream,
                        inbuf: Vec::new(),
                        outbuf: Vec::new(),
                        written: 0,
                        last_progress: Instant::now(),
                        close_after_flush: false,
                        writable_registered: false,
                        reply_stream: None,
                    },
                );
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("control socket accept: {e}");
                return;
            }
        }
    }
}

/// Reads requests, answers complete lines, writes what it can. Returns
/// false when the connection should be closed.
fn drive(c: &mut Client, registry: &Registry, readable: bool, max_request: usize) -> bool {
    if readable && !c.close_after_flush {
        let mut buf = [0u8; 4096];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    // Peer closed its side: finish writing, then close. A
                    // stream has nobody left to read it.
                    c.close_after_flush = true;
                    c.reply_stream = None;
                    break;
                }
                Ok(n) => {
                    c.last_progress = Instant::now();
                    c.inbuf.extend_from_slice(&buf[..n]);
                    answer_lines(c, registry);
                    if c.inbuf.len() > max_request {
                        c.inbuf.clear();
                        respond(
                            c,
                            &Response::error(format!("request longer than {max_request} bytes")),
                        );
                        c.close_after_flush = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }
    pump_stream(c, registry);
    // Always try to flush (not only on WRITABLE): the socket may have room.
    while c.written < c.outbuf.len() {
        match c.stream.write(&c.outbuf[c.written..]) {
            Ok(0) => return false,
            Ok(n) => {
                c.written += n;
                c.last_progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    if c.written == c.outbuf.len() {
        c.outbuf.clear();
        c.written = 0;
        if c.close_after_flush {
            return false;
        }
    }
    true
}

/// Answers the complete request lines in `inbuf`, stopping at one that
/// starts a stream (the rest wait for it to end).
fn answer_lines(c: &mut Client, registry: &Registry) {
    while c.reply_stream.is_none() {
        let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') else {
            return;
        };
        let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match registry.dispatch_line_any(line) {
            Dispatched::Reply(r) => respond(c, &r),
            Dispatched::Stream(s) => c.reply_stream = Some(s),
        }
    }
}

/// Moves a stream's ready records into `outbuf` (unless the client is
/// behind), and its end line once it is over.
fn pump_stream(c: &mut Client, registry: &Registry) {
    let Some(stream) = c.reply_stream.as_mut() else {
        return;
    };
    if c.outbuf.len() - c.written > MAX_STREAM_BACKLOG {
        return;
    }
    let mut records = Vec::new();
    let end = stream.poll(&mut records, 1024);
    for r in records {
        respond(
            c,
            &Response {
                ok: true,
                event: Some(r),
                ..Default::default()
            },
        );
    }
    if let Some(summary) = end {
        c.reply_stream = None;
        respond(
            c,
            &Response {
                ok: true,
                end: true,
                data: Some(summary),
                ..Default::default()
            },
        );
        answer_lines(c, registry);
    }
}

fn respond(c: &mut Client, r: &Response) {
    match serde_json::to_writer(&mut c.outbuf, r) {
        Ok(()) => c.outbuf.push(b'\n'),
        Err(e) => {
            let mut line =
                serde_json::to_vec(&Response::error(format!("cannot encode response: {e}")))
                    .unwrap_or_default();
            line.push(b'\n');
            c.outbuf.extend_from_slice(&line);
        }
    }
}

/// Asks for WRITABLE only while there is something to write.
fn update_interest(poll: &Poll, token: Token, c: &mut Client) -> bool {
    let want_writable = !c.outbuf.is_empty();
    if want_writable == c.writable_registered {
        return true;
    }
    let interest = if want_writable {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    c.writable_registered = want_writable;
    poll.registry()
        .reregister(&mut c.stream, token, interest)
        .is_ok()
}
