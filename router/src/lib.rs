//! `router`: wires the `fib` and `bgp` crates to AF_PACKET I/O (crate
//! `router-sys`, the workspace's only `unsafe` code).
//!
//! The folders follow a frame's path through the router:
//!
//! * [`wire`]: zero-copy views of the formats on the wire (Ethernet, ARP,
//!   IPv4, ICMP, the vnet header).
//! * [`dataplane`]: the forwarding workers. [`dataplane::worker`] is the
//!   loop (poll the RX rings, forward a batch, kick the TX rings);
//!   [`dataplane::forward`] is the per-packet path, one file per step:
//!   `validate` (is it for us, is it well formed), `lookup` (FIB and
//!   next hop), `rewrite` (MTU, TTL, MACs, into the TX ring), `fragment`,
//!   `local` (addressed to the router) and `icmp_error` (when and where an
//!   error goes back); [`dataplane::icmp_out`] builds the ICMP messages and
//!   rate-limits them; [`dataplane::counters`] counts drops by reason.
//! * [`slowpath`]: the one thread for what the workers hand over: ARP,
//!   packets waiting for a neighbour, TCP for the router itself.
//! * [`neigh`]: the neighbour table workers read without locks and the
//!   state machine (NUD) the slow path runs.
//! * [`rib`]: where routes are chosen (connected, static, BGP) and
//!   published into the FIB and the next-hop table.
//! * [`bgp_io`]: the BGP speaker's thread and its TCP (smoltcp).
//! * [`hostif`]: host interfaces, TAPs through which the kernel keeps
//!   using the ports' addresses (and routes through the router).
//! * [`host`]: what the router changes on its host at start and undoes at
//!   stop (kernel addresses off the ports, IPv6 off, the ingress drop);
//!   [`service`]: systemd's notify protocol and watchdog.
//! * [`control`], [`cli`], [`config`]: the operator's side;
//!   [`metrics`] the Prometheus exporter.
//!
//! Names: `forward` rather than `fwd`, and its steps named by what they do
//! to the packet, so a newcomer finds "where is the TTL decremented"
//! (`rewrite`) from the tree alone. `icmp_out` is what the router sends;
//! `wire::icmp` is how ICMP looks on the wire, and the two no longer share
//! a name. `rib` (routing information base) is the usual name for the
//! table routes are chosen from; it also owns the next-hop ids the FIB
//! maps to. `shared` holds the state the threads share ([`shared::Shared`]),
//! `ports` what the router knows about each of its ports.
pub mod bgp_io;
pub mod cli;
pub mod config;
pub mod control;
pub mod dataplane;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod host;
pub mod hostif;
pub mod metrics;
pub mod neigh;
pub mod ports;
pub mod rib;
pub mod service;
pub mod shared;
pub mod slowpath;
pub mod wire;
