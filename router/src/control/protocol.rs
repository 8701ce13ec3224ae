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
