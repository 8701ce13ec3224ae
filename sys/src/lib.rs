//! `router-sys`: the workspace's only `unsafe` code and raw syscalls, behind
//! safe functions and types.
//!
//! * [`afpacket`]: AF_PACKET sockets with memory-mapped TPACKET_V2 RX/TX
//!   rings, PACKET_FANOUT, PACKET_VNET_HDR (the `virtio_net_hdr` passes as
//!   bytes), PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING,
//!   PACKET_STATISTICS, and poll(2) over the ring sockets;
//! * [`netdev`]: interface queries (index, name, MAC, MTU, up state);
//! * [`netns`]: network namespace switching for the calling thread;
//! * [`sched`]: a thread's nice value (setpriority(2));
//! * [`tap`]: TAP devices (the router's host interfaces) and the SIOCSIF*
//!   calls that configure them (MAC, MTU, IPv4 address, up).
//!
//! Every other crate of the workspace has `unsafe_code = "forbid"`; this one
//! allows `unsafe` and denies `clippy::undocumented_unsafe_blocks`, so every
//! `unsafe` block carries a `SAFETY:` comment saying why it is sound.
pub mod afpacket;
pub mod netdev;
pub mod netns;
pub mod sched;
pub mod tap;
