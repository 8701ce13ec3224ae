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
//! Streaming replies (`monitor drops`): a handler registered with
//! [`Registry::register_stream`] returns a [`Stream`] the server polls while
//! the client reads; each record goes out as `{"ok": true, "event": ...}`,
//! the last line is `{"ok": true, "end": true, "data": <summary>}`. The
//! stream is bounded by its own limits and dropped when the client goes
//! away; while the client is behind, the stream is not polled (its source
//! decides what that costs: the drop monitor loses and counts events).
//!
//! Files: `protocol` (the messages and the command registry), `server`,
//! `client`, `commands` (the built-in `show` commands), `drops` (`show
//! drops`, `monitor drops`), `route_get` (`route get`).
mod client;
mod commands;
pub mod drops;
mod protocol;
pub mod route_get;
mod server;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

pub use self::client::{call, call_stream, ClientError, MAX_RESPONSE};
pub use self::commands::{format_duration, register_builtin, show_interfaces, BuiltinContext};
pub use self::protocol::{
    CommandResult, Dispatched, Registry, Reply, Request, Response, Stream, StreamResult, Table,
    WireRequest,
};
pub use self::server::{
    prepare_path, ControlServer, Limits, IDLE_TIMEOUT, MAX_CLIENTS, MAX_REQUEST,
};
