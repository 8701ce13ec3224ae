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
//!
//! Files: `protocol` (the messages and the command registry), `server`,
//! `client`, `commands` (the built-in `show` commands).
mod client;
mod commands;
mod protocol;
mod server;
#[cfg(test)]
mod tests;

pub use self::client::{call, ClientError, MAX_RESPONSE};
pub use self::commands::{format_duration, register_builtin, show_interfaces, BuiltinContext};
pub use self::protocol::{CommandResult, Registry, Reply, Request, Response, Table, WireRequest};
pub use self::server::{
    prepare_path, ControlServer, Limits, IDLE_TIMEOUT, MAX_CLIENTS, MAX_REQUEST,
};
