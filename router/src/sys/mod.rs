//! The only module with `unsafe` and raw syscalls: AF_PACKET sockets with
//! memory-mapped TPACKET_V2 RX/TX rings, PACKET_FANOUT, PACKET_VNET_HDR,
//! PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, PACKET_STATISTICS, poll(2),
//! an eventfd waker, interface queries (ifindex, MAC, MTU) and network
//! namespace switching. Everything it exports is safe; every `unsafe` block
//! carries a `SAFETY:` comment.
pub mod afpacket;
pub mod afpacket_v3;
pub mod netdev;
pub mod netns;
pub mod waker;
