//! `bgp`: a sans-IO BGP-4 speaker. Bytes and time in; bytes, timer requests
//! and route changes out. No sockets, no threads, no clock: see `API.md`.
//!
//! Layers: [`wire`] (message codec with RFC 7606 error handling),
//! [`session`] (RFC 4271 §8 FSM of one connection), [`rib`] (Adj-RIB-In,
//! Loc-RIB, decision process, ECMP), [`speaker`] (peers, collision
//! detection, graceful restart, export), [`view`] (operator views).
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
pub use speaker::{Action, ConnId, RouteChange, Speaker};
pub use time::Instant;
pub use view::SessionState;
