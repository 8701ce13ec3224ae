//! Wire formats. Each has a zero-copy view whose accessors cannot panic once
//! its `check_len` has passed; offsets are named constants.
//!
//! Which packet library serves which part, and why:
//!
//! * **Our own views (this module)** — everything the dataplane and the
//!   slow path parse or build on the packet path: Ethernet, ARP, IPv4
//!   (and its options), IPv6 (and its extension-header walk),
//!   ICMP and ICMPv6, the Internet checksum, the vnet header. Hand-written (smoltcp
//!   style) because forwarding mutates single fields in place with
//!   incremental checksum updates (RFC 1624) and needs accessors that
//!   cannot panic after one length check, which neither library offers.
//! * **smoltcp's `wire`** — smoltcp is the TCP/IP stack BGP runs on
//!   (`bgp_io`), so its address types and TCP view are in the build anyway:
//!   the slow path builds the TCP RST it answers with when no stack runs
//!   with `smoltcp::wire::TcpPacket` (a segment the forwarding path never
//!   parses), and the unit tests use smoltcp's views as an independent
//!   parser to check ours. Neighbor Discovery (RFC 4861) bodies are
//!   parsed and built with smoltcp's `NdiscRepr` in the slow path: they
//!   never cross the forwarding path, and its option parser is maintained.
//! * **pnet_packet** — dropped: it served only that RST and the tests, both
//!   of which smoltcp's views already cover.
pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv4_options;
pub mod ipv6;
pub mod vnet;

/// Why a buffer could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("buffer shorter than the header or the length it declares")]
    Truncated,
    #[error("malformed header field")]
    Malformed,
    #[error("bad checksum")]
    Checksum,
    #[error("unsupported value")]
    Unsupported,
    #[error("output buffer too small")]
    BufferTooSmall,
}
