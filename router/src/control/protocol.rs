//! The protocol: requests and responses as JSON lines, and the registry
//! that maps a command's words to its handler.
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

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
    /// A streaming command's record: more lines follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// The last line of a stream (`data` holds its summary).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
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

/// The source of a streaming reply (`monitor drops`). The server polls it
/// while the client reads: one `{"ok": true, "event": ...}` line per record,
/// then `{"ok": true, "end": true, "data": <summary>}`. Dropping it (the
/// client went away, or the stream ended) releases what it holds.
pub trait Stream: Send {
    /// Appends the records ready now (at most `max`) to `out`; returns the
    /// summary once the stream is over.
    fn poll(&mut self, out: &mut Vec<Value>, max: usize) -> Option<Value>;
}

/// A streaming handler's result.
pub type StreamResult = Result<Box<dyn Stream>, String>;

type Handler = Arc<dyn Fn(&Request) -> CommandResult + Send + Sync>;
type StreamHandler = Arc<dyn Fn(&Request) -> StreamResult + Send + Sync>;

#[derive(Clone)]
enum HandlerKind {
    Reply(Handler),
    Stream(StreamHandler),
}

struct Entry {
    help: String,
    handler: HandlerKind,
}

/// What a request started: a reply, or a stream to poll.
pub enum Dispatched {
    Reply(Response),
    Stream(Box<dyn Stream>),
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
                handler: HandlerKind::Reply(Arc::new(handler)),
            },
        );
    }

    /// Registers a streaming command (see [`Stream`]).
    pub fn register_stream<F>(&self, command: &str, help: &str, handler: F)
    where
        F: Fn(&Request) -> StreamResult + Send + Sync + 'static,
    {
        let mut m = self.commands.write().unwrap_or_else(|e| e.into_inner());
        m.insert(
            normalize(command),
            Entry {
                help: help.to_string(),
                handler: HandlerKind::Stream(Arc::new(handler)),
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

    /// Runs one request that must not stream (a streaming command is
    /// refused: its records need [`Registry::dispatch_any`]).
    pub fn dispatch(&self, req: WireRequest) -> Response {
        match self.dispatch_any(req) {
            Dispatched::Reply(r) => r,
            Dispatched::Stream(_) => {
                Response::error("a streaming command needs a streaming client")
            }
        }
    }

    /// Runs one request: its reply, or the stream it started.
    pub fn dispatch_any(&self, req: WireRequest) -> Dispatched {
        let words: Vec<&str> = req.command.split_whitespace().collect();
        let found = {
            let m = self.commands.read().unwrap_or_else(|e| e.into_inner());
            (1..=words.len()).rev().find_map(|n| {
                let key = words[..n].join(" ");
                m.get(&key).map(|e| (key, n, e.handler.clone()))
            })
        };
        let Some((command, n, handler)) = found else {
            return Dispatched::Reply(Response::error(format!(
                "unknown command `{}` (try `help`)",
                words.join(" ")
            )));
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
            Some(_) => return Dispatched::Reply(Response::error("`args.words` must be a list")),
        }
        let request = Request {
            command,
            words: rest,
            args,
        };
        // A bug in one handler must not take the control socket down.
        let panicked = || {
            tracing::error!(command = %request.command, "control handler panicked");
            Response::error(format!("internal error in `{}`", request.command))
        };
        match handler {
            HandlerKind::Reply(handler) => Dispatched::Reply(
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request))) {
                    Ok(Ok(r)) => Response {
                        ok: true,
                        data: Some(r.data),
                        table: r.table,
                        text: r.text,
                        ..Default::default()
                    },
                    Ok(Err(e)) => Response::error(e),
                    Err(_) => panicked(),
                },
            ),
            HandlerKind::Stream(handler) => {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request))) {
                    Ok(Ok(s)) => Dispatched::Stream(s),
                    Ok(Err(e)) => Dispatched::Reply(Response::error(e)),
                    Err(_) => Dispatched::Reply(panicked()),
                }
            }
        }
    }

    /// Parses and runs one request line.
    pub fn dispatch_line(&self, line: &[u8]) -> Response {
        match self.dispatch_line_any(line) {
            Dispatched::Reply(r) => r,
            Dispatched::Stream(_) => {
                Response::error("a streaming command needs a streaming client")
            }
        }
    }

    /// Parses and runs one request line, which may start a stream.
    pub fn dispatch_line_any(&self, line: &[u8]) -> Dispatched {
        match serde_json::from_slice::<WireRequest>(line) {
            Ok(req) => self.dispatch_any(req),
            Err(e) => Dispatched::Reply(Response::error(format!("bad request: {e}"))),
        }
    }
}
