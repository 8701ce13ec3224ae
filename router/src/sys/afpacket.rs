//! AF_PACKET socket with mmap'ed TPACKET_V2 rings, split into an [`RxRing`]
//! and a [`TxRing`] so a worker can read one port's RX ring while writing
//! another's (or the same port's) TX ring.
use std::io;
use std::os::fd::RawFd;

use crate::wire::vnet::VnetHdr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanoutMode {
    /// PACKET_FANOUT_HASH: by flow hash, both directions of a flow on one socket.
    Hash,
    /// PACKET_FANOUT_CPU.
    Cpu,
}

#[derive(Clone, Debug)]
pub struct SocketConfig {
    pub ifindex: u32,
    /// Receive frames (bind with ETH_P_ALL); false gives a TX-only socket.
    pub rx: bool,
    pub tx: bool,
    /// Bytes per ring frame (holds the tpacket header, the vnet header and
    /// the frame; must hold a 64 KiB GSO frame when `vnet_hdr`).
    pub frame_size: u32,
    pub rx_frames: u32,
    pub tx_frames: u32,
    pub vnet_hdr: bool,
    /// (group id, mode): join a fanout group for this port.
    pub fanout: Option<(u16, FanoutMode)>,
    pub qdisc_bypass: bool,
}

/// Metadata of a received frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxMeta {
    /// virtio_net_hdr from the kernel when PACKET_VNET_HDR is on.
    pub vnet: Option<VnetHdr>,
    /// TP_STATUS_CSUMNOTREADY: the L4 checksum is not yet computed.
    pub csum_not_ready: bool,
    /// Frame length on the wire (tp_len) may exceed the captured length.
    pub wire_len: u32,
    /// sll_pkttype (PACKET_HOST, PACKET_BROADCAST, PACKET_OTHERHOST …).
    pub pkttype: u8,
}

pub struct PacketSocket {
    _priv: (),
}

pub struct RxRing {
    _priv: (),
}

pub struct TxRing {
    _priv: (),
}

impl PacketSocket {
    pub fn open(_cfg: &SocketConfig) -> io::Result<PacketSocket> {
        todo!("dataplane I/O")
    }
    pub fn split(self) -> (Option<RxRing>, Option<TxRing>) {
        todo!("dataplane I/O")
    }
}

impl RxRing {
    pub fn fd(&self) -> RawFd {
        todo!()
    }
    /// Hands up to `max` ready frames to `f` (frame bytes starting at the
    /// Ethernet header, mutable in place), returning each to the kernel after
    /// `f` returns. Returns how many frames were handled. No syscall.
    pub fn rx_batch(&mut self, _max: usize, _f: impl FnMut(&mut [u8], &RxMeta)) -> usize {
        todo!()
    }
    /// (packets, drops) since the last call (PACKET_STATISTICS resets).
    pub fn stats(&self) -> io::Result<(u32, u32)> {
        todo!()
    }
}

impl TxRing {
    pub fn fd(&self) -> RawFd {
        todo!()
    }
    /// Fills the next free TX frame: `f` gets the frame buffer (Ethernet
    /// header onwards, at most frame capacity) and returns the frame length
    /// and an optional vnet header (GSO / checksum offload request). Returns
    /// false (and does not call `f`) when the ring is full. No syscall.
    pub fn send_with(&mut self, _f: impl FnOnce(&mut [u8]) -> (usize, Option<VnetHdr>)) -> bool {
        todo!()
    }
    /// Kicks the kernel (one `send(2)`) if frames are pending.
    pub fn flush(&mut self) -> io::Result<()> {
        todo!()
    }
}

/// poll(2) for readability on `fds`; returns which are readable.
pub fn poll_readable(_fds: &[RawFd], _timeout_ms: i32, _ready: &mut [bool]) -> io::Result<usize> {
    todo!()
}
