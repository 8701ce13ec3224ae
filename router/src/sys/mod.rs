//! The only module with `unsafe` and raw syscalls: AF_PACKET sockets with
//! memory-mapped TPACKET_V2 RX/TX rings, PACKET_FANOUT, PACKET_VNET_HDR,
//! PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, PACKET_STATISTICS, poll(2),
//! and interface queries (ifindex, MAC, MTU). Everything it exports is safe.
//!
//! STUB SIGNATURES: bodies are filled in by the dataplane I/O work (issue 2).
pub mod afpacket;
pub mod netdev;
