//! The local control socket: a Unix stream socket speaking JSON lines.
//!
//! Request (one line): `{"command": "show route", "args": {...}}`. The
//! command's words are matched against the registry, longest registered
//! command first; words after it become `args.words` (so
//! `"show bgp neighbors 192.168.10.100"` reaches the `show bgp neighbors`
//! handler with `words = ["192.168.10.100"]`).
//!
//! Response (one line): `{"ok": true, "data": <json>, "table": {"columns":
//! [...], "rows": [[...]]}, "text": "..."}` or `{"ok": false, "error": "..."}`.
//! `data` is the machine-readable answer (`--json`); `table` and `text` are
//! how the CLI shows it, so the CLI renders any command — including ones
//! registered later, like BGP's — without knowing it.
//!
//! The server is one thread (mio): at most [`MAX_CLIENTS`] connections,
//! requests of at most [`MAX_REQUEST`] bytes, connections idle for
//! [`IDLE_TIMEOUT`] closed. Handlers run on that thread: they must be quick
//! (they read counters, or lock the route manager briefly).
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::LoopbackConfig;
use crate::dataplane::counters::DropReason;
use crate::rib::RouteHandle;
use crate::shared::Shared;

/// Most bytes in one request line.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Most connections served at once; more are answered with an error.
pub const MAX_CLIENTS: usize = 16;
/// A connection with no progress for this long is closed.
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

/// Most bytes a client accepts in one response line.
pub const MAX_RESPONSE: usize = 1 << 30;

// ---------------------------------------------------------------------------
// Protocol.

/// A request on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRequest {
    pub command: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
}

/// A table for human output: every cell is text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// A response on the wire.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn error(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(msg.into()),
            ..Default::default()
        }
    }
}

/// What a handler sees.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The registered command that matched ("show bgp neighbors").
    pub command: String,
    /// Words after the command, then any `args.words` the client sent.
    pub words: Vec<String>,
    /// All `args` as sent (without `words`).
    pub args: Map<String, Value>,
}

impl Request {
    pub fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(String::as_str)
    }
    pub fn arg_str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }
}

/// What a handler returns on success.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub data: Value,
    pub table: Option<Table>,
    pub text: Option<String>,
}

impl Reply {
    pub fn data(data: Value) -> Reply {
        Reply {
            data,
            ..Default::default()
        }
    }
    pub fn with_table(mut self, t: Table) -> Reply {
        self.table = Some(t);
        self
    }
    pub fn with_text(mut self, t: impl Into<String>) -> Reply {
        self.text = Some(t.into());
        self
    }
}

/// Handler result: the error text goes to the client as `{"ok": false}`.
pub type CommandResult = Result<Reply, String>;
type Handler = Arc<dyn Fn(&Request) -> CommandResult + Send + Sync>;

struct Entry {
    help: String,
    handler: Handler,
}

/// Commands by name. Other modules (BGP) register theirs at start-up; the
/// registry may also change while the server runs.
#[derive(Default)]
pub struct Registry {
    commands: RwLock<BTreeMap<String, Entry>>,
}

fn normalize(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        let r = Arc::new(Registry::default());
        // `help`, and `show help` so `router show help` works too.
        for name in ["help", "show help"] {
            let weak = Arc::downgrade(&r);
            r.register(name, "list the commands", move |_| {
                let Some(reg) = weak.upgrade() else {
                    return Err("shutting down".into());
                };
                let cmds = reg.commands();
                let mut t = Table::new(&["COMMAND", "DESCRIPTION"]);
                for (c, h) in &cmds {
                    t.row(vec![c.clone(), h.clone()]);
                }
                let data = cmds
                    .into_iter()
                    .map(|(c, h)| json!({"command": c, "help": h}))
                    .collect();
                Ok(Reply::data(Value::Array(data)).with_table(t))
            });
        }
        r.register("ping", "check that the router answers", |_| {
            Ok(Reply::data(json!("pong")).with_text("pong"))
        });
        r.register("show version", "program version", |_| {
            let v = env!("CARGO_PKG_VERSION");
            Ok(Reply::data(json!({"name": "router", "version": v}))
                .with_text(format!("router {v}")))
        });
        r
    }

    /// Registers (or replaces) `command` (words separated by spaces).
    pub fn register<F>(&self, command: &str, help: &str, handler: F)
    where
        F: Fn(&Request) -> CommandResult + Send + Sync + 'static,
    {
        let mut m = self.commands.write().unwrap_or_else(|e| e.into_inner());
        m.insert(
            normalize(command),
            Entry {
                help: help.to_string(),
                handler: Arc::new(handler),
            },
        );
    }

    pub fn unregister(&self, command: &str) {
        let mut m = self.commands.write().unwrap_or_else(|e| e.into_inner());
        m.remove(&normalize(command));
    }

    /// (command, help) of every registered command, sorted.
    pub fn commands(&self) -> Vec<(String, String)> {
        let m = self.commands.read().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (k.clone(), v.help.clone())).collect()
    }

    /// Runs one request.
    pub fn dispatch(&self, req: WireRequest) -> Response {
        let words: Vec<&str> = req.command.split_whitespace().collect();
        let found = {
            let m = self.commands.read().unwrap_or_else(|e| e.into_inner());
            (1..=words.len()).rev().find_map(|n| {
                let key = words[..n].join(" ");
                m.get(&key).map(|e| (key, n, Arc::clone(&e.handler)))
            })
        };
        let Some((command, n, handler)) = found else {
            return Response::error(format!(
                "unknown command `{}` (try `help`)",
                words.join(" ")
            ));
        };
        let mut args = req.args;
        let mut rest: Vec<String> = words[n..].iter().map(|w| w.to_string()).collect();
        match args.remove("words") {
            None => {}
            Some(Value::Array(extra)) => {
                for w in extra {
                    match w {
                        Value::String(s) => rest.push(s),
                        other => rest.push(other.to_string()),
                    }
                }
            }
            Some(_) => return Response::error("`args.words` must be a list"),
        }
        let request = Request {
            command,
            words: rest,
            args,
        };
        // A bug in one handler must not take the control socket down.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request))) {
            Ok(Ok(r)) => Response {
                ok: true,
                data: Some(r.data),
                table: r.table,
                text: r.text,
                error: None,
            },
            Ok(Err(e)) => Response::error(e),
            Err(_) => {
                tracing::error!(command = %request.command, "control handler panicked");
                Response::error(format!("internal error in `{}`", request.command))
            }
        }
    }

    /// Parses and runs one request line.
    pub fn dispatch_line(&self, line: &[u8]) -> Response {
        match serde_json::from_slice::<WireRequest>(line) {
            Ok(req) => self.dispatch(req),
            Err(e) => Response::error(format!("bad request: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Server.

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
            .spawn(move || serve(poll, listener, registry, stop2, limits))?;
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
        if let Err(e) = poll.poll(&mut events, Some(tick)) {
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
        let now = Instant::now();
        clients.retain(|_, c| {
            let alive = now.duration_since(c.last_progress) < limits.idle_timeout;
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
                    // Peer closed its side: finish writing, then close.
                    c.close_after_flush = true;
                    break;
                }
                Ok(n) => {
                    c.last_progress = Instant::now();
                    c.inbuf.extend_from_slice(&buf[..n]);
                    while let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
                        let line = line.trim_ascii();
                        if line.is_empty() {
                            continue;
                        }
                        respond(c, &registry.dispatch_line(line));
                    }
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

// ---------------------------------------------------------------------------
// Client.

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the control socket {}: {source} (is the router running? use --socket PATH)", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    #[error("control socket: bad response: {0}")]
    Protocol(String),
}

/// Sends one request and waits for its response.
pub fn call(
    path: &Path,
    command: &str,
    args: Map<String, Value>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(&WireRequest {
        command: command.to_string(),
        args,
    })
    .map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    // A server that refuses the connection (too many clients) answers and
    // closes without reading: read its answer even if the write failed.
    let written = (&stream).write_all(&line);
    let mut reader = BufReader::new(&stream).take(MAX_RESPONSE as u64);
    let mut buf = Vec::new();
    let read = reader.read_until(b'\n', &mut buf);
    if buf.is_empty() {
        written?;
        read?;
    }
    if buf.last() != Some(&b'\n') {
        return Err(ClientError::Protocol(if buf.is_empty() {
            "connection closed without an answer".into()
        } else {
            "response truncated".into()
        }));
    }
    serde_json::from_slice(&buf).map_err(|e| ClientError::Protocol(e.to_string()))
}

// ---------------------------------------------------------------------------
// Built-in commands.

/// What the built-in `show` commands read.
pub struct BuiltinContext {
    pub shared: Arc<Shared>,
    pub routes: RouteHandle,
    pub loopbacks: Vec<LoopbackConfig>,
    pub started: Instant,
}

/// Registers `show interfaces`, `show route` and `show uptime`.
pub fn register_builtin(reg: &Registry, ctx: BuiltinContext) {
    let ctx = Arc::new(ctx);
    let c = Arc::clone(&ctx);
    reg.register(
        "show interfaces",
        "ports and loopbacks: addresses, MTU, packet counters, drops by reason",
        move |_| Ok(show_interfaces(&c.shared, &c.loopbacks)),
    );
    let c = Arc::clone(&ctx);
    reg.register(
        "show route",
        "FIB routes with source and next hops; `show route ADDR` the route used for ADDR, `show route PREFIX` one prefix",
        move |req| show_route(&c.routes, req),
    );
    let c = Arc::clone(&ctx);
    reg.register(
        "show route summary",
        "number of routes by source",
        move |_| {
            let s = c.routes.lock().unwrap_or_else(|e| e.into_inner()).summary();
            let mut t = Table::new(&["SOURCE", "ROUTES"]);
            for (name, n) in [
                ("connected", s.connected),
                ("local", s.local),
                ("static", s.static_routes),
                ("bgp", s.bgp),
                ("total", s.fib_routes),
            ] {
                t.row(vec![name.into(), n.to_string()]);
            }
            let text = format!(
                "{} BGP routes held, {} next-hop ids",
                s.bgp_stored, s.next_hops
            );
            Ok(
                Reply::data(serde_json::to_value(&s).map_err(|e| e.to_string())?)
                    .with_table(t)
                    .with_text(text),
            )
        },
    );
    let c = Arc::clone(&ctx);
    reg.register("show uptime", "time since start", move |_| {
        let s = c.started.elapsed().as_secs();
        Ok(Reply::data(json!({"seconds": s})).with_text(format_duration(s)))
    });
}

/// "1d02h03m" / "02:03:04" style uptime.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn mac_string(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn show_interfaces(shared: &Shared, loopbacks: &[LoopbackConfig]) -> Reply {
    let totals: Vec<_> = shared
        .ports
        .iter()
        .map(|p| shared.counters.totals(p.id as usize))
        .collect();
    // Only drop reasons that happened get a column; --json has all.
    let reasons: Vec<DropReason> = DropReason::ALL
        .into_iter()
        .filter(|r| {
            totals
                .iter()
                .any(|t| t.drops.get(r.name()).copied().unwrap_or(0) > 0)
        })
        .collect();
    let mut cols = vec![
        "NAME",
        "IFNAME",
        "MAC",
        "MTU",
        "ADDRESSES",
        "RX-PKTS",
        "RX-BYTES",
        "TX-PKTS",
        "TX-BYTES",
        "DROPS",
    ];
    let upper: Vec<String> = reasons
        .iter()
        .map(|r| r.name().to_uppercase().replace('_', "-"))
        .collect();
    cols.extend(upper.iter().map(String::as_str));
    let mut t = Table::new(&cols);
    let mut data = Vec::new();
    for (p, tot) in shared.ports.iter().zip(&totals) {
        let drops: u64 = tot.drops.values().sum();
        let mut row = vec![
            p.name.clone(),
            p.ifname.clone(),
            mac_string(&p.mac),
            p.mtu.to_string(),
            join(&p.addrs),
            tot.rx_packets.to_string(),
            tot.rx_bytes.to_string(),
            tot.tx_packets.to_string(),
            tot.tx_bytes.to_string(),
            drops.to_string(),
        ];
        row.extend(
            reasons
                .iter()
                .map(|r| tot.drops.get(r.name()).copied().unwrap_or(0).to_string()),
        );
        t.row(row);
        data.push(json!({
            "name": p.name, "kind": "port", "ifname": p.ifname, "ifindex": p.ifindex, "mac": mac_string(&p.mac),
            "mtu": p.mtu, "addresses": p.addrs, "rx_packets": tot.rx_packets, "rx_bytes": tot.rx_bytes,
            "tx_packets": tot.tx_packets, "tx_bytes": tot.tx_bytes, "drops_total": drops, "drops": tot.drops,
        }));
    }
    for l in loopbacks {
        let mut row = vec![
            l.name.clone(),
            "(loopback)".into(),
            "-".into(),
            "-".into(),
            join(&l.addresses),
        ];
        row.extend(std::iter::repeat_n("-".to_string(), cols.len() - row.len()));
        t.row(row);
        data.push(json!({"name": l.name, "kind": "loopback", "addresses": l.addresses}));
    }
    Reply::data(Value::Array(data)).with_table(t)
}

fn show_route(routes: &RouteHandle, req: &Request) -> CommandResult {
    if req.words.len() > 1 {
        return Err("usage: show route [ADDRESS | PREFIX]".into());
    }
    let rm = routes.lock().unwrap_or_else(|e| e.into_inner());
    let entries = match req.word(0) {
        None => rm.routes(),
        Some(w) if w.contains('/') => {
            let p: ipnet::Ipv4Net = w
                .parse()
                .map_err(|e| format!("{w:?} is not an IPv4 prefix: {e}"))?;
            rm.route(&p.trunc()).into_iter().collect()
        }
        Some(w) => {
            let a: std::net::Ipv4Addr = w
                .parse()
                .map_err(|e| format!("{w:?} is not an IPv4 address or prefix: {e}"))?;
            rm.lookup(a).into_iter().collect()
        }
    };
    drop(rm);
    let mut t = Table::new(&["PREFIX", "SOURCE", "DIST", "NEXT-HOP", "PORT"]);
    for e in &entries {
        let first = vec![
            e.prefix.to_string(),
            e.source.name().to_string(),
            e.distance.to_string(),
        ];
        let blank = || vec![String::new(), String::new(), String::new()];
        match e.kind {
            "connected" => t.row(
                [
                    first,
                    vec!["directly connected".into(), port_cell(&e.next_hops[0].port)],
                ]
                .concat(),
            ),
            "gateway" | "multipath" => {
                let n = e.next_hops.len();
                for (i, h) in e.next_hops.iter().enumerate() {
                    let via = h.via.map_or_else(String::new, |v| {
                        if n > 1 {
                            format!("via {v} (ecmp {}/{n})", i + 1)
                        } else {
                            format!("via {v}")
                        }
                    });
                    let lead = if i == 0 { first.clone() } else { blank() };
                    t.row([lead, vec![via, port_cell(&h.port)]].concat());
                }
            }
            kind => {
                let port = e.interface.clone().unwrap_or_else(|| "-".into());
                t.row([first, vec![kind.to_string(), port]].concat());
            }
        }
    }
    Ok(Reply::data(serde_json::to_value(&entries).map_err(|e| e.to_string())?).with_table(t))
}

fn port_cell(p: &Option<String>) -> String {
    p.clone().unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortInfo;
    use crate::rib::RouteManager;

    /// A unique socket path in a fresh temp directory.
    fn temp_socket(tag: &str) -> (PathBuf, PathBuf) {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "router-ctl-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("ctl.sock"), dir)
    }

    fn ctx() -> BuiltinContext {
        let shared = Shared::new(
            vec![PortInfo {
                id: 0,
                name: "eth1".into(),
                ifname: "veth1".into(),
                ifindex: 7,
                mac: [2, 0, 0, 0, 0, 1],
                mtu: 1500,
                addrs: vec!["192.168.10.200/24".parse().unwrap()],
            }],
            1,
        );
        shared.counters.port(0, 0).rx(100);
        shared.counters.port(1, 0).rx(60);
        shared.counters.port(0, 0).drop(DropReason::NoRoute);
        let mut rm = RouteManager::new(shared.clone());
        let loops = vec![LoopbackConfig {
            name: "loop1".into(),
            addresses: vec!["10.10.1.200/24".parse().unwrap()],
        }];
        rm.set_connected(&loops).unwrap();
        rm.apply_bgp([crate::rib::BgpRouteChange::Announce {
            prefix: "172.16.1.1/32".parse().unwrap(),
            next_hops: vec![
                "192.168.10.100".parse().unwrap(),
                "192.168.10.101".parse().unwrap(),
            ],
            internal: false,
        }])
        .unwrap();
        BuiltinContext {
            shared,
            routes: rm.into_handle(),
            loopbacks: loops,
            started: Instant::now(),
        }
    }

    fn ask(path: &Path, cmd: &str) -> Response {
        call(path, cmd, Map::new(), Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn dispatch_matches_longest_command_and_passes_words() {
        let reg = Registry::new();
        reg.register("show bgp", "x", |_| Ok(Reply::data(json!("short"))));
        reg.register("show bgp neighbors", "x", |r| {
            Ok(Reply::data(json!(r.words)))
        });
        let r = reg.dispatch(WireRequest {
            command: "  show  bgp neighbors 10.0.0.1 ".into(),
            args: Map::new(),
        });
        assert!(r.ok);
        assert_eq!(r.data, Some(json!(["10.0.0.1"])));
        let mut args = Map::new();
        args.insert("words".into(), json!(["a", 5]));
        let r = reg.dispatch(WireRequest {
            command: "show bgp neighbors x".into(),
            args,
        });
        assert_eq!(r.data, Some(json!(["x", "a", "5"])));
        assert_eq!(
            reg.dispatch(WireRequest {
                command: "show bgp".into(),
                args: Map::new()
            })
            .data,
            Some(json!("short"))
        );
        let r = reg.dispatch(WireRequest {
            command: "show nothing".into(),
            args: Map::new(),
        });
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("unknown command `show nothing`"));
        reg.register("boom", "panics", |_| panic!("bug"));
        let r = reg.dispatch(WireRequest {
            command: "boom".into(),
            args: Map::new(),
        });
        assert_eq!(r.error.as_deref(), Some("internal error in `boom`"));
        reg.register("fail", "errors", |_| Err("nope".into()));
        let r = reg.dispatch_line(br#"{"command":"fail"}"#);
        assert_eq!(r, Response::error("nope"));
        assert!(!reg.dispatch_line(b"{not json").ok);
        assert!(!reg.dispatch_line(br#"{"command":"ping","extra":1}"#).ok);
        assert!(reg.commands().iter().any(|(c, _)| c == "help"));
    }

    #[test]
    fn round_trip_over_socket() {
        let (path, dir) = temp_socket("rt");
        let reg = Registry::new();
        register_builtin(&reg, ctx());
        let server = ControlServer::start(&path, Arc::clone(&reg)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);

        let r = ask(&path, "ping");
        assert_eq!((r.ok, r.data), (true, Some(json!("pong"))));
        let r = ask(&path, "show version");
        assert!(r.text.unwrap().starts_with("router "));

        let r = ask(&path, "show interfaces");
        assert!(r.ok, "{r:?}");
        let d = r.data.unwrap();
        assert_eq!(d[0]["name"], "eth1");
        assert_eq!(d[0]["rx_packets"], 2);
        assert_eq!(d[0]["rx_bytes"], 160);
        assert_eq!(d[0]["drops"]["no_route"], 1);
        assert_eq!(d[0]["mac"], "02:00:00:00:00:01");
        assert_eq!(d[1]["kind"], "loopback");
        let t = r.table.unwrap();
        assert_eq!(t.columns.last().unwrap(), "NO-ROUTE");
        assert_eq!(t.rows.len(), 2);

        let r = ask(&path, "show route");
        let d = r.data.unwrap();
        let ecmp = d
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["prefix"] == "172.16.1.1/32")
            .unwrap();
        assert_eq!(ecmp["source"], "bgp");
        assert_eq!(ecmp["next_hops"].as_array().unwrap().len(), 2);
        let t = r.table.unwrap();
        assert!(t
            .rows
            .iter()
            .any(|row| row[3] == "via 192.168.10.101 (ecmp 2/2)"));
        let r = ask(&path, "show route summary");
        assert_eq!(r.data.unwrap()["bgp"], 1);
        let r = ask(&path, "show route 172.16.1.1");
        assert_eq!(r.data.unwrap()[0]["prefix"], "172.16.1.1/32");
        let r = ask(&path, "show route 10.10.1.0/24");
        assert_eq!(r.data.unwrap()[0]["kind"], "unreachable");
        assert!(!ask(&path, "show route bogus").ok);

        // Several requests on one connection, and a request too long.
        {
            use std::os::unix::net::UnixStream as S;
            let s = S::connect(&path).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            (&s).write_all(b"{\"command\":\"ping\"}\n\n{\"command\":\"show uptime\"}\n")
                .unwrap();
            let mut lines = BufReader::new(&s).lines();
            assert!(lines.next().unwrap().unwrap().contains("pong"));
            assert!(lines.next().unwrap().unwrap().contains("seconds"));
        }
        {
            use std::os::unix::net::UnixStream as S;
            let s = S::connect(&path).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = (&s).write_all(&vec![b'x'; MAX_REQUEST + 10]);
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            assert!(line.contains("request longer than"), "{line}");
        }
        // A registration after start is served.
        reg.register("show bgp summary", "test", |_| {
            Ok(Reply::data(json!({"peers": 0})))
        });
        assert_eq!(
            ask(&path, "show bgp summary").data,
            Some(json!({"peers": 0}))
        );

        server.stop();
        assert!(!path.exists(), "socket removed on stop");
        assert!(matches!(
            call(&path, "ping", Map::new(), Duration::from_secs(1)),
            Err(ClientError::Connect { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bounded_clients() {
        let (path, dir) = temp_socket("max");
        let server = ControlServer::start(&path, Registry::new()).unwrap();
        // Fill every slot; a ping answered on each proves it was accepted.
        let held: Vec<_> = (0..MAX_CLIENTS)
            .map(|_| {
                let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                (&s).write_all(b"{\"command\":\"ping\"}\n").unwrap();
                let mut line = String::new();
                BufReader::new(&s).read_line(&mut line).unwrap();
                assert!(line.contains("pong"), "{line}");
                s
            })
            .collect();
        let r = call(&path, "ping", Map::new(), Duration::from_secs(5)).unwrap();
        assert_eq!(r.error.as_deref(), Some("too many control connections"));
        drop(held);
        // Slots free up once the server sees the connections close.
        let mut ok = false;
        for _ in 0..100 {
            if call(&path, "ping", Map::new(), Duration::from_secs(5)).is_ok_and(|r| r.ok) {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ok, "a slot became free");
        drop(server);
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn idle_connections_are_closed() {
        let (path, dir) = temp_socket("idle");
        let limits = Limits {
            idle_timeout: Duration::from_millis(100),
            ..Limits::default()
        };
        let server = ControlServer::start_with(&path, Registry::new(), limits).unwrap();
        let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A partial request, then silence: the server hangs up.
        (&s).write_all(b"{\"comm").unwrap();
        let t0 = Instant::now();
        let mut buf = Vec::new();
        let n = (&s).read_to_end(&mut buf).unwrap();
        assert_eq!(n, 0, "closed without an answer");
        assert!(t0.elapsed() < Duration::from_secs(4));
        assert!(ask(&path, "ping").ok);
        server.stop();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stale_socket_is_replaced_live_one_refused_file_kept() {
        let (path, dir) = temp_socket("stale");
        // A socket file nobody listens on (a crashed router's).
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = ControlServer::start(&path, Registry::new()).unwrap();
        assert!(ask(&path, "ping").ok);
        // A second router on the same socket is refused; the first keeps it.
        let e = ControlServer::start(&path, Registry::new()).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(ask(&path, "ping").ok);
        server.stop();
        // A regular file is never removed.
        std::fs::write(&path, b"data").unwrap();
        let e = ControlServer::start(&path, Registry::new()).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(3725), "01:02:05");
        assert_eq!(format_duration(2 * 86400 + 3600 * 3 + 60 * 4), "2d03h04m");
    }
}
