#![forbid(unsafe_code)]
//! Test harness of the integration tests and the benchmarks: everything
//! they build happens inside network namespaces they create and remove.
//!
//! One job per module:
//! - [`env`](mod@env): prerequisites (root, tools; skip loudly or fail under CI) and
//!   the repository's files and binaries;
//! - [`process`]: bounded commands and polling, signals by PID (nix);
//! - [`netns`]: namespace names and the [`Ns`] handle (commands, counters,
//!   a thread inside one via setns);
//! - [`lab`]: [`Lab`], the owner that creates namespaces, links and
//!   processes and removes them;
//! - [`router`]: the `router` process, its CLI and counters, [`Forwarder`];
//! - [`config`]: [`RouterSpec`], the router's config file as serde structs;
//! - [`seed`]: the seed lab of LAB.md — its one definition, the in-process
//!   [`SeedLab`], the lab command, and [`LabScript`] (the README's command);
//! - [`line`](mod@line): [`Line`], src — router — dst, the seed lab's forwarding path;
//! - [`traffic`]: ping, bulk TCP, the whoami HTTP server;
//! - [`daemons`]: gobgpd, BIRD and FRR.

pub mod config;
pub mod daemons;
pub mod env;
pub mod lab;
pub mod line;
pub mod netns;
pub mod process;
pub mod router;
pub mod seed;
pub mod traffic;

pub use config::{PortSpec, RouteSpec, RouterSpec};
pub use env::{
    have_tool, in_ci, is_root, repo_file, require_root, require_root_and, require_tool, router_bin,
    workspace_root,
};
pub use lab::{Lab, TEST_PREFIX};
pub use line::{
    Line, DST_IP, DST_IP6, RTR_DST_SIDE, RTR_DST_SIDE6, RTR_SRC_SIDE, RTR_SRC_SIDE6, SRC_IP,
    SRC_IP6,
};
pub use netns::{parse_snmp, unique_name, Ns};
pub use process::{poll_until, run_timeout, wait_until, CmdOutput};
pub use router::{start_forwarder, Forwarder, PortStats, RouterProc};
pub use seed::{LabScript, SeedLab};
pub use traffic::{
    ping_counts, sha256_file, spawn_whoami, tcp_bulk, wait_listening, write_random_file, BulkResult,
};
