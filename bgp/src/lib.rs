//! `bgp`: a sans-IO BGP-4 speaker. Bytes and time in; bytes, timer requests
//! and route changes out. No sockets, no threads, no clock: see `API.md`.
//!
//! Layers, bottom up: [`wire`] (message codec with RFC 7606 / RFC 7607
//! error handling; imports nothing above it), [`config`], [`session`]
//! (RFC 4271 §8 FSM of one connection), [`decision`] (RFC 4271 §9.1 best
//! path and ECMP), [`rib`] (Adj-RIB-In and Loc-RIB storage, which calls
//! the decision process), [`speaker`] (peers, collision detection, import,
//! export, graceful restart, live reconfiguration) and [`view`] (operator
//! views: their types, and the `Speaker` methods that build them).
#![forbid(unsafe_code)]

pub mod config;
pub mod decision;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod prefix_map;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod time;
pub mod view;
pub mod wire;

#[cfg(test)]
mod tests;

pub use config::{ConfigError, Family, RemoteAs, SpeakerConfig};
pub use rib::NextHopAddr;
pub use speaker::{
    Action, ConfigKey, ConnId, Ipv6NextHop, NeighborAction, NeighborReport, ReconfigureReport,
    RouteChange, Speaker,
};
pub use time::Instant;
pub use view::SessionState;
