//! Wire formats. Each has a zero-copy view whose accessors cannot panic once
//! its `check_len` has passed; offsets are named constants.
//!
//! These views are hand-written (smoltcp style) rather than pnet_packet's
//! because the forwarding path needs in-place mutation of single fields with
//! incremental checksum updates and accessors proven not to panic after one
//! length check; pnet_packet is used on the slow path (TCP RST) and in the
//! tests as an independent parser.
pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
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
