//! `router`: wires the `fib` and `bgp` crates to AF_PACKET I/O.
//!
//! Layers (after smoltcp): `wire` (zero-copy frame views), `sys` (the one
//! module with `unsafe` and raw syscalls), `dataplane` (worker threads and the
//! per-packet forwarding path), `slowpath` (ARP, neighbour resolution, ICMP,
//! frames for the router itself), `routes` (connected/static/BGP routes into
//! the FIB), `config`, `control` (operator socket) and `cli`.
#![deny(unsafe_code)]

pub mod app;
pub mod bgp_io;
pub mod cli;
pub mod config;
pub mod control;
pub mod counters;
pub mod dataplane;
pub mod fwd;
pub mod icmp;
pub mod neigh;
pub mod nexthop;
pub mod ports;
pub mod routes;
pub mod slowpath;
pub mod state;
#[allow(unsafe_code)]
pub mod sys;
pub mod wire;
