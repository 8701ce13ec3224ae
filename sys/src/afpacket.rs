//! AF_PACKET socket with mmap'ed TPACKET_V2 rings, split into an [`RxRing`]
//! and a [`TxRing`] so a worker can read one port's RX ring while writing
//! another's (or the same port's) TX ring.
//!
//! # Ring protocol (TPACKET_V2, `Documentation/networking/packet_mmap.rst`)
//!
//! Both rings are arrays of fixed-size frames laid out in blocks; each frame
//! starts with a `struct tpacket2_hdr` whose first word, `tp_status`, says
//! who owns the frame. Ownership is handed over with a store to `tp_status`
//! only: Acquire when we read it (so the data the kernel wrote before setting
//! the status is visible), Release when we write it (so our reads/writes of
//! the frame happen before the kernel sees the frame as its own again).
//!
//! RX frame: `tpacket2_hdr` | `sockaddr_ll` | pad | `virtio_net_hdr` (10 bytes,
//! only with PACKET_VNET_HDR, at `tp_mac - 10`) | frame at `tp_mac`
//! (`tp_snaplen` bytes captured of `tp_len` on the wire). For Ethernet with
//! the vnet header `tp_mac` is 76 (kernel `tpacket_rcv`: `netoff =
//! TPACKET_ALIGN(tp_hdrlen + max(16, maclen)) + vnet_hdr_sz; macoff = netoff
//! - maclen`).
//!
//! TX frame (PACKET_TX_HAS_OFF not set): data starts at
//! `TPACKET2_HDRLEN - sizeof(sockaddr_ll)` = 32 bytes into the frame
//! (kernel `tpacket_parse_header`); with PACKET_VNET_HDR the first 10 data
//! bytes are the `virtio_net_hdr` and `tp_len` counts them.
//!
//! # Choices
//!
//! * TPACKET_V2, not V3: V3 hands a block of frames to user space only when
//!   the block is full or its retire timer fires (`tp_retire_blk_tov`; the
//!   kernel's default on a veth is 8 ms), so at low and medium rates every
//!   packet waits for the timer; V2 wakes the reader per frame. Measured on
//!   this project's VM (200 packets/s over a veth, `sendto` in the peer to
//!   user space here, three runs): V2 p50 15–25 µs, p99 50–265 µs; V3 with
//!   a 1 ms timeout p50 ~570 µs, p99 1.05–1.2 ms; V3 with the kernel's
//!   timeout p50 ~4.1 ms, p99 ~7.9 ms. V3's benefit (variable-size slots,
//!   so small frames don't each cost a 64 KiB slot) is a memory saving we
//!   don't need. (The V3 reader used for that measurement is gone; the
//!   figures are in `bench/README.md`.)
//! * Fanout by symmetric flow hash (`__skb_get_hash_symmetric`), so both
//!   directions of a flow land on one worker. No PACKET_FANOUT_FLAG_DEFRAG:
//!   it makes the kernel reassemble IP fragments before the fanout, so the
//!   router would forward a reassembled datagram (which it would then have to
//!   refragment) instead of the fragments (RFC 1812 §5.2.6: a router must
//!   not reassemble a datagram before forwarding it). The cost: non-first
//!   fragments (no ports) may hash to another worker than the first
//!   fragment, so fragments of one datagram can be reordered, which
//!   reassembly at the destination tolerates. No FLAG_ROLLOVER either: it
//!   moves flows between workers under load and reorders them.
//! * Our own transmissions are never received: PACKET_IGNORE_OUTGOING on the
//!   socket, PACKET_FANOUT_FLAG_IGNORE_OUTGOING on the fanout group (the
//!   per-socket option has no effect once the socket joined a group, because
//!   the group's hook is the one registered), and `sll_pkttype ==
//!   PACKET_OUTGOING` frames are skipped in [`RxRing::rx_batch`] in case the
//!   kernel predates either option.
//! * PACKET_LOSS on the TX ring: a frame the kernel rejects is skipped
//!   (marked available again) instead of stopping the whole ring at
//!   TP_STATUS_WRONG_FORMAT; [`TxRing::send_with`] validates frames first
//!   (length, vnet header) the way the kernel does, so such frames are
//!   counted there.
//! * SO_RCVBUF does not matter with an RX ring (frames go to the ring, not
//!   the receive queue). SO_SNDBUF does: every frame handed to the driver is
//!   charged to the socket's send buffer until the skb is freed, and with
//!   64 KiB GSO frames the default (~208 KiB) admits three; so the send
//!   buffer is raised to the TX ring's size.
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Bytes of a `struct virtio_net_hdr` (PACKET_VNET_HDR). This crate moves
/// the header as bytes, in the kernel's (host) byte order, and mirrors only
/// the kernel's TX checks on it ([`vnet_hdr_acceptable`]); its meaning for
/// forwarding is the router's `wire::vnet::VnetHdr`.
pub const VNET_HDR_LEN: usize = 10;

/// A `struct virtio_net_hdr` as the kernel reads and writes it.
pub type VnetBytes = [u8; VNET_HDR_LEN];

/// `virtio_net_hdr` field offsets and flag values the TX checks need
/// (`include/uapi/linux/virtio_net.h`).
mod vnet {
    pub const FLAGS: usize = 0;
    pub const GSO_TYPE: usize = 1;
    pub const HDR_LEN: usize = 2;
    pub const GSO_SIZE: usize = 4;
    pub const CSUM_START: usize = 6;
    pub const CSUM_OFFSET: usize = 8;
    pub const F_NEEDS_CSUM: u8 = 1;
    pub const GSO_NONE: u8 = 0;
    pub const GSO_ECN: u8 = 0x80;

    pub fn u16_at(h: &super::VnetBytes, off: usize) -> u16 {
        u16::from_ne_bytes([h[off], h[off + 1]])
    }
    pub fn set_u16_at(h: &mut super::VnetBytes, off: usize, v: u16) {
        h[off..off + 2].copy_from_slice(&v.to_ne_bytes());
    }
    pub fn is_gso(h: &super::VnetBytes) -> bool {
        h[GSO_TYPE] & !GSO_ECN != GSO_NONE
    }
    pub fn needs_csum(h: &super::VnetBytes) -> bool {
        h[FLAGS] & F_NEEDS_CSUM != 0
    }
}

/// Fanout policy for the sockets of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanoutMode {
    /// PACKET_FANOUT_HASH: by flow hash, both directions of a flow on one socket.
    Hash,
    /// PACKET_FANOUT_CPU.
    Cpu,
}

/// What to open: one AF_PACKET socket on one interface, with an RX ring, a
/// TX ring or both. [`SocketConfig::new`] gives the defaults.
///
/// Memory: each ring is `frames × frame_size` of unswappable kernel memory
/// (rounded up to whole blocks, see [`RingLayout`]). With the vnet header a
/// slot must hold a whole 64 KiB GSO frame ([`GSO_FRAME_SIZE`], 68 KiB), so
/// the defaults (256 + 256 frames) cost about 36 MiB per socket, i.e. per
/// worker and port. Small-frame workloads waste most of each slot (that is
/// what TPACKET_V3 would save); fewer frames save memory but absorb shorter
/// bursts (256 GSO frames are ~10 ms at 13 Gbit/s).
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// Interface index to bind to (see [`crate::netdev::ifindex`]).
    pub ifindex: u32,
    /// Receive frames (bind with ETH_P_ALL); false gives a TX-only socket.
    pub rx: bool,
    /// Map a TX ring.
    pub tx: bool,
    /// Bytes per ring frame (holds the tpacket header, the vnet header and
    /// the frame; must hold a 64 KiB GSO frame when `vnet_hdr`).
    pub frame_size: u32,
    /// Minimum number of RX frames (rounded up to whole blocks).
    pub rx_frames: u32,
    /// Minimum number of TX frames (rounded up to whole blocks).
    pub tx_frames: u32,
    /// PACKET_VNET_HDR: exchange a `virtio_net_hdr` with every frame, so
    /// GSO super-frames and CHECKSUM_PARTIAL frames pass through whole.
    pub vnet_hdr: bool,
    /// (group id, mode): join a fanout group for this port.
    pub fanout: Option<(u16, FanoutMode)>,
    /// PACKET_QDISC_BYPASS: hand TX frames straight to the driver (no
    /// qdisc, so no queueing or shaping; a full device queue drops).
    pub qdisc_bypass: bool,
}

/// Frame size that holds a 64 KiB GSO frame with all ring headers:
/// 76 bytes of headers (RX) + 65536 + 14 (Ethernet) + 4 (VLAN), rounded up so
/// that 15 frames fill a 1 MiB block with 4 KiB to spare. Peers with BIG TCP
/// (gso_max_size above 64 KiB) would still be truncated (flagged, see
/// [`RxMeta::truncated`]).
pub const GSO_FRAME_SIZE: u32 = 68 * 1024;

/// Frame size for sockets without the vnet header: a 1500-byte MTU frame
/// plus headers fits, two frames per page.
pub const MTU_FRAME_SIZE: u32 = 2048;

/// Default number of RX (and TX) frames per socket.
pub const DEFAULT_FRAMES: u32 = 256;

impl SocketConfig {
    /// Defaults for a forwarding socket on `ifindex`: RX and TX rings of
    /// [`DEFAULT_FRAMES`] frames of [`GSO_FRAME_SIZE`], vnet header on, qdisc
    /// bypass on, no fanout.
    pub fn new(ifindex: u32) -> SocketConfig {
        SocketConfig {
            ifindex,
            rx: true,
            tx: true,
            frame_size: GSO_FRAME_SIZE,
            rx_frames: DEFAULT_FRAMES,
            tx_frames: DEFAULT_FRAMES,
            vnet_hdr: true,
            fanout: None,
            qdisc_bypass: true,
        }
    }
}

/// Metadata of a received frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxMeta {
    /// The `virtio_net_hdr` from the kernel when PACKET_VNET_HDR is on.
    pub vnet: Option<VnetBytes>,
    /// TP_STATUS_CSUMNOTREADY: the L4 checksum is not yet computed.
    pub csum_not_ready: bool,
    /// Frame length on the wire (tp_len) may exceed the captured length.
    pub wire_len: u32,
    /// sll_pkttype (PACKET_HOST, PACKET_BROADCAST, PACKET_OTHERHOST …).
    pub pkttype: u8,
    /// The frame did not fit its ring slot: the buffer holds only the first
    /// `tp_snaplen` of `wire_len` bytes. Never forward it (drop and count).
    pub truncated: bool,
    /// TP_STATUS_CSUM_VALID: the kernel (or NIC) verified the L4 checksum.
    pub csum_valid: bool,
    /// TCI of a priority-tagged frame (VLAN id 0) whose tag the kernel
    /// removed; the frame is otherwise handled as untagged, as the kernel
    /// does. Frames with a non-zero VLAN id never reach the callback.
    pub vlan_tci: Option<u16>,
    /// Kernel receive timestamp (CLOCK_REALTIME, nanoseconds).
    pub timestamp_ns: u64,
}

/// Geometry of one ring as passed to PACKET_RX_RING / PACKET_TX_RING.
///
/// The kernel's rules: `block_size` a multiple of the page size,
/// `frame_size` a multiple of TPACKET_ALIGNMENT (16) and at least
/// TPACKET2_HDRLEN, frames never straddle blocks, and
/// `frame_nr == block_nr * (block_size / frame_size)`. Each block is one
/// allocation of `2^order` pages, so a block size that is not a power of
/// two pages wastes the rest of its allocation: [`RingLayout::new`] picks the
/// smallest power-of-two block that wastes at most 1/16 of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// Bytes per block.
    pub block_size: u32,
    /// Number of blocks.
    pub block_nr: u32,
    /// Bytes per frame.
    pub frame_size: u32,
    /// Number of frames (a multiple of the frames per block).
    pub frame_nr: u32,
}

/// Largest block the layout picks: 4 MiB (order 10 with 4 KiB pages).
const MAX_BLOCK_ORDER: u32 = 10;

impl RingLayout {
    /// Lays out at least `min_frames` frames of `frame_size` bytes (rounded
    /// up to TPACKET_ALIGNMENT) in blocks of whole pages of `page_size`.
    pub fn new(frame_size: u32, min_frames: u32, page_size: u32) -> io::Result<RingLayout> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
        if !page_size.is_power_of_two() {
            return Err(invalid("page size is not a power of two"));
        }
        if min_frames == 0 {
            return Err(invalid("ring needs at least one frame"));
        }
        let frame_size = frame_size
            .checked_add(TPACKET_ALIGNMENT - 1)
            .map(|s| s & !(TPACKET_ALIGNMENT - 1))
            .ok_or_else(|| invalid("frame size too large"))?;
        if (frame_size as usize) < TPACKET2_HDRLEN + VNET_HDR_LEN + ETH_HLEN {
            return Err(invalid("frame size smaller than the ring headers"));
        }
        let mut best: Option<(u64, u32)> = None; // (waste per mille, block size)
        for order in 0..=MAX_BLOCK_ORDER {
            let Some(block) = page_size.checked_mul(1 << order) else {
                break;
            };
            if block < frame_size {
                continue;
            }
            let waste = u64::from(block % frame_size) * 1000 / u64::from(block);
            if waste * 16 <= 1000 {
                best = Some((waste, block));
                break;
            }
            if !matches!(best, Some((w, _)) if w <= waste) {
                best = Some((waste, block));
            }
        }
        let block_size = match best {
            Some((_, b)) => b,
            // Frames larger than the largest power-of-two block: one frame
            // per block, page-rounded.
            None => frame_size
                .checked_add(page_size - 1)
                .map(|s| s & !(page_size - 1))
                .ok_or_else(|| invalid("frame size too large"))?,
        };
        let per_block = block_size / frame_size;
        let block_nr = min_frames.div_ceil(per_block);
        let frame_nr = block_nr
            .checked_mul(per_block)
            .ok_or_else(|| invalid("too many frames"))?;
        let bytes = u64::from(block_size) * u64::from(block_nr);
        if bytes > (isize::MAX as u64) / 2 || bytes > u64::from(u32::MAX) {
            return Err(invalid("ring too large"));
        }
        Ok(RingLayout {
            block_size,
            block_nr,
            frame_size,
            frame_nr,
        })
    }

    /// Bytes of the ring's mapping.
    pub fn bytes(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }

    fn frames_per_block(&self) -> u32 {
        self.block_size / self.frame_size
    }
}

const TPACKET_ALIGNMENT: u32 = libc::TPACKET_ALIGNMENT as u32;
/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`: where the sockaddr_ll
/// follows the header, and where TX data starts.
const TP2_HDR_ALIGNED: usize = (size_of::<libc::tpacket2_hdr>() + libc::TPACKET_ALIGNMENT - 1)
    & !(libc::TPACKET_ALIGNMENT - 1);
/// TPACKET2_HDRLEN: header + sockaddr_ll.
const TPACKET2_HDRLEN: usize = libc::TPACKET2_HDRLEN;
/// Offset of TX data in a frame (kernel: `tp_hdrlen - sizeof(sockaddr_ll)`).
const TX_DATA_OFFSET: usize = TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();
const ETH_HLEN: usize = 14;
/// Non-GSO TX frames up to this length are handed to the kernel to copy
/// whole into the skb's linear area (see [`TxRing::send_with`]): an MTU-sized
/// frame plus VLAN tag, well under a page.
const TX_LINEAR_MAX: usize = 2048;

const _: () = assert!(TP2_HDR_ALIGNED == 32);
const _: () = assert!(TX_DATA_OFFSET == TP2_HDR_ALIGNED);

/// Timestamp bits the kernel may OR into a returned TX status.
const TP_STATUS_TS_MASK: u32 =
    libc::TP_STATUS_TS_SOFTWARE | libc::TP_STATUS_TS_SYS_HARDWARE | libc::TP_STATUS_TS_RAW_HARDWARE;

/// The mapping shared by the two rings of one socket, and the socket.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
    // Dropped after `munmap` in `Drop` (fields drop after the body).
    fd: OwnedFd,
}

// SAFETY: `Mapping` owns an mmap'ed region and a file descriptor; both may
// be used and released from any thread. Access to the region's frames is
// partitioned by ring (RxRing owns the RX part, TxRing the TX part) and each
// ring is a single-owner value, so sharing the `Mapping` itself (via Arc)
// creates no unsynchronised access.
unsafe impl Send for Mapping {}
// SAFETY: see `Send`; `&Mapping` only exposes the fd and the base address.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned, and no ring
        // referencing the region outlives the last Arc<Mapping>.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// One ring inside the mapping: addresses frames by index.
#[derive(Clone, Copy)]
struct Ring {
    base: NonNull<u8>,
    layout: RingLayout,
    per_block: u32,
}

impl Ring {
    fn new(map: &Mapping, offset: usize, layout: RingLayout) -> Ring {
        debug_assert!(offset + layout.bytes() <= map.len);
        // SAFETY: offset + ring bytes lies within the mapping (the mapping
        // was sized as the sum of both rings).
        let base = unsafe { NonNull::new_unchecked(map.base.as_ptr().add(offset)) };
        Ring {
            base,
            layout,
            per_block: layout.frames_per_block(),
        }
    }

    /// Start of frame `i` (`i < frame_nr`).
    #[inline]
    fn frame(&self, i: u32) -> *mut u8 {
        debug_assert!(i < self.layout.frame_nr);
        let off = (i / self.per_block) as usize * self.layout.block_size as usize
            + (i % self.per_block) as usize * self.layout.frame_size as usize;
        // SAFETY: i < frame_nr, so the offset lies within this ring.
        unsafe { self.base.as_ptr().add(off) }
    }

    /// `tp_status` of a frame, as an atomic shared with the kernel.
    #[inline]
    fn status(&self, frame: *mut u8) -> &AtomicU32 {
        // SAFETY: every frame starts with `tpacket2_hdr`, whose first field
        // is the u32 `tp_status`; frames are 16-byte aligned, so the cast is
        // aligned; the mapping outlives the ring (held by Arc).
        unsafe { &*(frame as *const AtomicU32) }
    }

    #[inline]
    fn next(&self, i: u32) -> u32 {
        if i + 1 == self.layout.frame_nr {
            0
        } else {
            i + 1
        }
    }
}

/// An open AF_PACKET socket with its rings mapped; [`PacketSocket::split`]
/// hands the rings to their users.
pub struct PacketSocket {
    map: Arc<Mapping>,
    rx: Option<Ring>,
    tx: Option<Ring>,
    vnet_hdr: bool,
    ignore_outgoing_in_kernel: bool,
}

/// Counters kept by an [`RxRing`] (cumulative, read with [`RxRing::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxRingCounters {
    /// Frames we transmitted ourselves (PACKET_OUTGOING) seen despite the
    /// ignore-outgoing options, and skipped.
    pub outgoing_skipped: u64,
    /// Frames tagged with a non-zero VLAN id, dropped: the kernel would mark
    /// them PACKET_OTHERHOST without a VLAN device, and the router has none.
    pub vlan_dropped: u64,
    /// Frames whose ring header was inconsistent (never seen in practice;
    /// checked so a kernel bug cannot make us read outside the slot).
    pub bad_descriptor: u64,
}

/// The receive half: walks frames the kernel filled.
pub struct RxRing {
    ring: Ring,
    next: u32,
    vnet_hdr: bool,
    counters: RxRingCounters,
    map: Arc<Mapping>,
}

/// Counters kept by a [`TxRing`] (cumulative, read with [`TxRing::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRingCounters {
    /// Frames queued to the ring.
    pub queued: u64,
    /// `send_with` calls refused because no frame was free.
    pub ring_full: u64,
    /// Frames refused by our validation (length, vnet header), not sent.
    pub invalid: u64,
    /// Frames the kernel marked TP_STATUS_WRONG_FORMAT, reclaimed.
    pub wrong_format: u64,
    /// `send(2)` kicks issued.
    pub kicks: u64,
    /// Kicks that hit EAGAIN/ENOBUFS (send buffer or device queue full):
    /// the frames stay queued for the next kick.
    pub kick_busy: u64,
    /// Kicks that failed otherwise (link down …).
    pub kick_errors: u64,
}

/// The transmit half: fills free frames and kicks the kernel.
pub struct TxRing {
    ring: Ring,
    next: u32,
    vnet_hdr: bool,
    /// The most recently queued frame, to see after a kick whether the
    /// kernel took everything (it walks the ring in order).
    last_queued: Option<u32>,
    needs_kick: bool,
    counters: TxRingCounters,
    map: Arc<Mapping>,
}

// SAFETY: the raw pointers in `Ring` point into the Arc'ed mapping, which is
// Send + Sync; an RxRing/TxRing is the only accessor of its ring's frames
// (on our side), so moving it to another thread is sound.
unsafe impl Send for RxRing {}
// SAFETY: as for RxRing.
unsafe impl Send for TxRing {}

/// Adds what failed to an OS error, keeping its kind.
fn ctx(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live T of `size_of::<T>()` bytes for the
    // duration of the call; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u32
    } else {
        4096
    }
}

impl PacketSocket {
    /// Opens a socket per `cfg`: TPACKET_V2 rings (RX first, TX after, one
    /// mmap), optional vnet header, bound to `cfg.ifindex` (ETH_P_ALL when
    /// receiving; protocol 0, i.e. receiving nothing, when TX-only), qdisc
    /// bypass, ignore-outgoing, optional fanout. Non-blocking, close-on-exec.
    pub fn open(cfg: &SocketConfig) -> io::Result<PacketSocket> {
        if !cfg.rx && !cfg.tx {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket with neither RX nor TX ring",
            ));
        }
        if cfg.ifindex == 0 || cfg.ifindex > i32::MAX as u32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface index",
            ));
        }
        // Protocol 0: the socket receives nothing until bind() names the
        // interface, so no frame from another interface sneaks in while we
        // configure it.
        // SAFETY: plain syscall, no pointers.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })
        .map_err(ctx("socket(AF_PACKET)"))?;
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // Version, vnet header and loss mode must precede the rings (EBUSY after).
        let version: libc::c_int = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(ctx("PACKET_VERSION"))?;
        if cfg.vnet_hdr {
            setsockopt(
                raw,
                libc::SOL_PACKET,
                libc::PACKET_VNET_HDR,
                &1 as &libc::c_int,
            )
            .map_err(ctx("PACKET_VNET_HDR"))?;
        }
        if cfg.tx {
            setsockopt(raw, libc::SOL_PACKET, libc::PACKET_LOSS, &1 as &libc::c_int)
                .map_err(ctx("PACKET_LOSS"))?;
        }

        let page = page_size();
        let rx_layout = if cfg.rx {
            Some(RingLayout::new(cfg.frame_size, cfg.rx_frames, page)?)
        } else {
            None
        };
        let tx_layout = if cfg.tx {
            Some(RingLayout::new(cfg.frame_size, cfg.tx_frames, page)?)
        } else {
            None
        };
        let min_frame = TPACKET2_HDRLEN + if cfg.vnet_hdr { VNET_HDR_LEN } else { 0 } + ETH_HLEN;
        if (cfg.frame_size as usize) < min_frame {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame_size too small",
            ));
        }
        for (layout, opt, name) in [
            (rx_layout, libc::PACKET_RX_RING, "PACKET_RX_RING"),
            (tx_layout, libc::PACKET_TX_RING, "PACKET_TX_RING"),
        ] {
            if let Some(l) = layout {
                let req = libc::tpacket_req {
                    tp_block_size: l.block_size,
                    tp_block_nr: l.block_nr,
                    tp_frame_size: l.frame_size,
                    tp_frame_nr: l.frame_nr,
                };
                setsockopt(raw, libc::SOL_PACKET, opt, &req).map_err(ctx(name))?;
            }
        }
        let rx_bytes = rx_layout.map_or(0, |l| l.bytes());
        let tx_bytes = tx_layout.map_or(0, |l| l.bytes());
        let len = rx_bytes + tx_bytes;
        // SAFETY: mapping a packet socket's rings: fresh address chosen by
        // the kernel, length equal to the sum of the rings (the kernel
        // rejects anything else); the result is checked.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(ctx("mmap(rings)")(io::Error::last_os_error()));
        }
        let base = NonNull::new(addr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        let map = Arc::new(Mapping { base, len, fd });
        let rx = rx_layout.map(|l| Ring::new(&map, 0, l));
        let tx = tx_layout.map(|l| Ring::new(&map, rx_bytes, l));

        if cfg.qdisc_bypass {
            setsockopt(
                raw,
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &1 as &libc::c_int,
            )
            .map_err(ctx("PACKET_QDISC_BYPASS"))?;
        }
        let mut ignore_outgoing_in_kernel = false;
        if cfg.rx {
            // Older kernels (< 4.20) lack it; the pkttype check covers them.
            ignore_outgoing_in_kernel = setsockopt(
                raw,
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                &1 as &libc::c_int,
            )
            .is_ok();
        }
        if cfg.tx {
            // Room in the send buffer for the whole TX ring (see module doc).
            let want = tx_bytes.min(i32::MAX as usize / 2) as libc::c_int;
            if setsockopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &want).is_err() {
                // Without CAP_NET_ADMIN: capped at net.core.wmem_max.
                setsockopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, &want)
                    .map_err(ctx("SO_SNDBUF"))?;
            }
        }

        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = if cfg.rx {
            (libc::ETH_P_ALL as u16).to_be()
        } else {
            0
        };
        sll.sll_ifindex = cfg.ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        cvt(unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map_err(ctx("bind(AF_PACKET)"))?;

        if cfg.rx {
            // All-multicast on the port while the socket lives: the router
            // answers Neighbor Solicitations sent to solicited-node groups
            // (33:33:ff:…) that no kernel socket joined (the kernel's IPv6
            // is off on the port), and a NIC's multicast filter would drop
            // them. The kernel counts memberships and drops it at close.
            let mreq = libc::packet_mreq {
                mr_ifindex: cfg.ifindex as i32,
                mr_type: libc::PACKET_MR_ALLMULTI as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(raw, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(ctx("PACKET_ADD_MEMBERSHIP(ALLMULTI)"))?;
        }

        if let (true, Some((id, mode))) = (cfg.rx, cfg.fanout) {
            let kind = match mode {
                FanoutMode::Hash => libc::PACKET_FANOUT_HASH,
                FanoutMode::Cpu => libc::PACKET_FANOUT_CPU,
            };
            let arg = |flags: u32| (u32::from(id) | ((kind | flags) << 16)) as libc::c_int;
            let with_flag = arg(libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING);
            match setsockopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &with_flag) {
                Ok(()) => {}
                // Kernels without the flag (newer than the socket option)
                // reject it; then the group delivers our own frames and the
                // pkttype check in rx_batch skips them.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    ignore_outgoing_in_kernel = false;
                    setsockopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg(0))
                        .map_err(ctx("PACKET_FANOUT"))?;
                }
                Err(e) => return Err(ctx("PACKET_FANOUT")(e)),
            }
        }
        Ok(PacketSocket {
            map,
            rx,
            tx,
            vnet_hdr: cfg.vnet_hdr,
            ignore_outgoing_in_kernel,
        })
    }

    /// The socket's descriptor (for poll; owned by the socket).
    pub fn fd(&self) -> RawFd {
        self.map.fd.as_raw_fd()
    }

    /// Whether the kernel filters our own transmissions (PACKET_IGNORE_OUTGOING
    /// and, with fanout, PACKET_FANOUT_FLAG_IGNORE_OUTGOING were accepted).
    /// Either way [`RxRing::rx_batch`] never hands out PACKET_OUTGOING frames.
    pub fn ignores_outgoing_in_kernel(&self) -> bool {
        self.ignore_outgoing_in_kernel
    }

    /// Hands out the rings; the socket stays open while either exists.
    pub fn split(self) -> (Option<RxRing>, Option<TxRing>) {
        let rx = self.rx.map(|ring| RxRing {
            ring,
            next: 0,
            vnet_hdr: self.vnet_hdr,
            counters: RxRingCounters::default(),
            map: self.map.clone(),
        });
        let tx = self.tx.map(|ring| TxRing {
            ring,
            next: 0,
            vnet_hdr: self.vnet_hdr,
            last_queued: None,
            needs_kick: false,
            counters: TxRingCounters::default(),
            map: self.map.clone(),
        });
        (rx, tx)
    }
}

/// Fields of a `tpacket2_hdr` read after its status said it is ours.
struct RxHdr {
    len: u32,
    snaplen: u32,
    mac: u16,
    sec: u32,
    nsec: u32,
    vlan_tci: u16,
    pkttype: u8,
}

impl RxRing {
    /// The socket's descriptor, for [`poll_readable`].
    pub fn fd(&self) -> RawFd {
        self.map.fd.as_raw_fd()
    }

    /// Geometry of the ring.
    pub fn layout(&self) -> RingLayout {
        self.ring.layout
    }

    /// Cumulative counters of frames this ring skipped.
    pub fn counters(&self) -> RxRingCounters {
        self.counters
    }

    /// Whether a frame is ready (one Acquire load, no syscall).
    pub fn has_frames(&self) -> bool {
        let frame = self.ring.frame(self.next);
        self.ring.status(frame).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    fn read_hdr(frame: *mut u8) -> RxHdr {
        let h = frame as *const libc::tpacket2_hdr;
        let sll = frame.wrapping_add(TP2_HDR_ALIGNED) as *const libc::sockaddr_ll;
        // SAFETY: the frame belongs to us (status USER, loaded with Acquire
        // by the caller), so the kernel does not write these fields now; the
        // pointers are within the frame and aligned (frame 16-aligned,
        // tpacket2_hdr and sockaddr_ll need 4).
        unsafe {
            RxHdr {
                len: std::ptr::addr_of!((*h).tp_len).read(),
                snaplen: std::ptr::addr_of!((*h).tp_snaplen).read(),
                mac: std::ptr::addr_of!((*h).tp_mac).read(),
                sec: std::ptr::addr_of!((*h).tp_sec).read(),
                nsec: std::ptr::addr_of!((*h).tp_nsec).read(),
                vlan_tci: std::ptr::addr_of!((*h).tp_vlan_tci).read(),
                pkttype: std::ptr::addr_of!((*sll).sll_pkttype).read(),
            }
        }
    }

    /// Hands up to `max` ready frames to `f` (frame bytes starting at the
    /// Ethernet header, mutable in place), returning each to the kernel after
    /// `f` returns. Returns how many frames were handed to `f`; at most `max`
    /// ring slots are consumed per call, including skipped ones (our own
    /// outgoing frames, frames with a VLAN id, see [`RxRingCounters`]).
    /// Truncated frames are handed over with [`RxMeta::truncated`] set.
    /// No syscall.
    pub fn rx_batch(&mut self, max: usize, mut f: impl FnMut(&mut [u8], &RxMeta)) -> usize {
        let frame_size = self.ring.layout.frame_size as usize;
        let min_mac = TPACKET2_HDRLEN + if self.vnet_hdr { VNET_HDR_LEN } else { 0 };
        let mut handed = 0;
        for _ in 0..max {
            let frame = self.ring.frame(self.next);
            let status_word = self.ring.status(frame);
            let status = status_word.load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            let h = Self::read_hdr(frame);
            let mac = usize::from(h.mac);
            let snaplen = h.snaplen as usize;
            let vlan_valid = status & libc::TP_STATUS_VLAN_VALID != 0;
            if mac < min_mac || mac + snaplen > frame_size {
                self.counters.bad_descriptor += 1;
            } else if h.pkttype == libc::PACKET_OUTGOING {
                self.counters.outgoing_skipped += 1;
            } else if vlan_valid && h.vlan_tci & 0x0fff != 0 {
                // Linux (__netif_receive_skb_core): a tag with a VLAN id and
                // no VLAN device makes the frame PACKET_OTHERHOST; only
                // priority tags (id 0) are handled as untagged.
                self.counters.vlan_dropped += 1;
            } else {
                let vnet = if self.vnet_hdr {
                    // SAFETY: mac >= TPACKET2_HDRLEN + 10, so the 10 bytes
                    // before the frame lie inside this slot, which we own.
                    let b = unsafe {
                        std::slice::from_raw_parts(frame.add(mac - VNET_HDR_LEN), VNET_HDR_LEN)
                    };
                    b.try_into().ok()
                } else {
                    None
                };
                let meta = RxMeta {
                    vnet,
                    csum_not_ready: status & libc::TP_STATUS_CSUMNOTREADY != 0,
                    wire_len: h.len,
                    pkttype: h.pkttype,
                    truncated: h.snaplen < h.len,
                    csum_valid: status & libc::TP_STATUS_CSUM_VALID != 0,
                    vlan_tci: vlan_valid.then_some(h.vlan_tci),
                    timestamp_ns: u64::from(h.sec) * 1_000_000_000 + u64::from(h.nsec),
                };
                // SAFETY: [mac, mac + snaplen) lies inside this slot (checked
                // above); the slot is ours until we store TP_STATUS_KERNEL
                // below, after `f` is done with the slice.
                let data = unsafe { std::slice::from_raw_parts_mut(frame.add(mac), snaplen) };
                f(data, &meta);
                handed += 1;
            }
            status_word.store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.next = self.ring.next(self.next);
        }
        handed
    }

    /// (packets, drops) since the last call (PACKET_STATISTICS resets).
    /// `packets` counts every frame the socket was offered, drops included;
    /// `drops` are frames lost because the ring was full.
    pub fn stats(&self) -> io::Result<(u32, u32)> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are live and sized for the option.
        cvt(unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        })
        .map_err(ctx("PACKET_STATISTICS"))?;
        Ok((st.tp_packets, st.tp_drops))
    }
}

impl TxRing {
    /// The socket's descriptor.
    pub fn fd(&self) -> RawFd {
        self.map.fd.as_raw_fd()
    }

    /// Geometry of the ring.
    pub fn layout(&self) -> RingLayout {
        self.ring.layout
    }

    /// Cumulative counters.
    pub fn counters(&self) -> TxRingCounters {
        self.counters
    }

    /// Bytes of frame (Ethernet header onwards) one TX slot holds.
    pub fn frame_capacity(&self) -> usize {
        self.ring.layout.frame_size as usize
            - TX_DATA_OFFSET
            - if self.vnet_hdr { VNET_HDR_LEN } else { 0 }
    }

    /// Whether the socket exchanges a vnet header (GSO / checksum offload
    /// requests are honoured only then).
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    #[inline]
    fn slot_state(&self, i: u32) -> u32 {
        self.ring.status(self.ring.frame(i)).load(Ordering::Acquire) & !TP_STATUS_TS_MASK
    }

    /// Whether the next slot is still owned by the kernel (no syscall).
    pub fn is_full(&self) -> bool {
        let s = self.slot_state(self.next);
        s != libc::TP_STATUS_AVAILABLE && s != libc::TP_STATUS_WRONG_FORMAT
    }

    /// Free slots ahead, counting at most `limit` (reads `limit` status
    /// words at most; no syscall).
    pub fn free_slots(&self, limit: usize) -> usize {
        let mut i = self.next;
        let mut n = 0;
        while n < limit.min(self.ring.layout.frame_nr as usize) {
            let s = self.slot_state(i);
            if s != libc::TP_STATUS_AVAILABLE && s != libc::TP_STATUS_WRONG_FORMAT {
                break;
            }
            n += 1;
            i = self.ring.next(i);
        }
        n
    }

    /// Whether frames are queued that the kernel has not taken yet: call
    /// [`TxRing::flush`] again soon (after a busy kick, before sleeping).
    pub fn needs_flush(&self) -> bool {
        self.needs_kick
    }

    /// Fills the next free TX frame: `f` gets the frame buffer (Ethernet
    /// header onwards, [`TxRing::frame_capacity`] bytes, stale contents) and
    /// returns the frame length and an optional vnet header (GSO / checksum
    /// offload request; `None` means a plain frame). Returns false (and does
    /// not call `f`) when the ring is full. Returning length 0 from `f`
    /// cancels (false, nothing queued); an invalid result (shorter than an
    /// Ethernet header, longer than the buffer, an offload request on a
    /// socket without the vnet header, a vnet header the kernel would
    /// reject) is counted in [`TxRingCounters::invalid`] and also returns
    /// false. No syscall: the frame leaves on the next [`TxRing::flush`].
    pub fn send_with(&mut self, f: impl FnOnce(&mut [u8]) -> (usize, Option<VnetBytes>)) -> bool {
        let frame = self.ring.frame(self.next);
        let state = self.slot_state(self.next);
        if state != libc::TP_STATUS_AVAILABLE {
            if state == libc::TP_STATUS_WRONG_FORMAT {
                // Only without PACKET_LOSS; reclaim the slot.
                self.counters.wrong_format += 1;
            } else {
                self.counters.ring_full += 1;
                return false;
            }
        }
        let vnet_len = if self.vnet_hdr { VNET_HDR_LEN } else { 0 };
        let data_off = TX_DATA_OFFSET + vnet_len;
        let cap = self.frame_capacity();
        // SAFETY: the slot is ours (status AVAILABLE, loaded with Acquire);
        // [data_off, data_off + cap) = [data_off, frame_size) lies inside it.
        let buf = unsafe { std::slice::from_raw_parts_mut(frame.add(data_off), cap) };
        let (len, vnet) = f(buf);
        if len == 0 {
            return false;
        }
        if !(ETH_HLEN..=cap).contains(&len) {
            self.counters.invalid += 1;
            return false;
        }
        if self.vnet_hdr {
            let mut h = vnet.unwrap_or([0; VNET_HDR_LEN]);
            if !vnet::is_gso(&h) && len <= TX_LINEAR_MAX {
                // The kernel copies `hdr_len` bytes into the skb's linear
                // area and attaches the rest as pages of this ring, flagged
                // as user memory; veth (dev_forward_skb) and any local
                // delivery must then copy those pages into freshly
                // allocated ones (skb_copy_ubufs). For a frame this small
                // one linear copy is far cheaper than a page allocation
                // and a copy (measured: 64-byte flood, perf).
                let hdr_len = vnet::u16_at(&h, vnet::HDR_LEN).max(len as u16);
                vnet::set_u16_at(&mut h, vnet::HDR_LEN, hdr_len);
            }
            if !vnet_hdr_acceptable(&h, len) {
                self.counters.invalid += 1;
                return false;
            }
            // SAFETY: the 10 bytes at TX_DATA_OFFSET lie inside our slot.
            let hb =
                unsafe { std::slice::from_raw_parts_mut(frame.add(TX_DATA_OFFSET), VNET_HDR_LEN) };
            hb.copy_from_slice(&h);
        } else if vnet.is_some_and(|h| vnet::is_gso(&h) || vnet::needs_csum(&h)) {
            self.counters.invalid += 1;
            return false;
        }
        let tp_len = (len + vnet_len) as u32;
        let h = frame as *mut libc::tpacket2_hdr;
        // SAFETY: our slot; tp_len is an aligned u32 inside the header.
        unsafe { std::ptr::addr_of_mut!((*h).tp_len).write(tp_len) };
        self.ring
            .status(frame)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.last_queued = Some(self.next);
        self.needs_kick = true;
        self.next = self.ring.next(self.next);
        self.counters.queued += 1;
        true
    }

    /// Kicks the kernel (one `send(2)`) if frames are pending. EAGAIN and
    /// ENOBUFS (send buffer or device busy) are not errors: the frames stay
    /// queued, [`TxRing::needs_flush`] stays true, and the next flush retries.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.needs_kick {
            return Ok(());
        }
        self.counters.kicks += 1;
        // SAFETY: send with no buffer: the kernel transmits the ring's
        // SEND_REQUEST frames; nothing is read from our address space
        // besides the ring.
        let r = unsafe { libc::send(self.fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
        let result = if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR) => {
                    self.counters.kick_busy += 1;
                    Ok(())
                }
                _ => {
                    self.counters.kick_errors += 1;
                    Err(ctx("send(TX ring)")(e))
                }
            }
        } else {
            Ok(())
        };
        // The kernel takes frames in ring order and stops at the first that
        // is not SEND_REQUEST (or on a full send buffer); if the last frame
        // we queued is no longer SEND_REQUEST, it took all of them.
        self.needs_kick = self
            .last_queued
            .is_some_and(|i| self.slot_state(i) == libc::TP_STATUS_SEND_REQUEST);
        result
    }
}

/// The kernel's checks on a TX vnet header (`__packet_snd_vnet_parse`,
/// `virtio_net_hdr_to_skb`), so that a frame it would drop is refused here
/// and counted.
fn vnet_hdr_acceptable(h: &VnetBytes, len: usize) -> bool {
    let mut hdr_len = usize::from(vnet::u16_at(h, vnet::HDR_LEN));
    if vnet::needs_csum(h) {
        let end = usize::from(vnet::u16_at(h, vnet::CSUM_START))
            + usize::from(vnet::u16_at(h, vnet::CSUM_OFFSET))
            + 2;
        if end > len {
            return false;
        }
        hdr_len = hdr_len.max(end);
    }
    if hdr_len > len {
        return false;
    }
    if vnet::is_gso(h) && vnet::u16_at(h, vnet::GSO_SIZE) == 0 {
        return false;
    }
    true
}

/// Most descriptors [`poll_readable`] takes (it uses a stack array).
pub const POLL_MAX_FDS: usize = 64;

/// poll(2) for readability on `fds`; returns which are readable.
/// Sets `ready[i]` for each readable (or errored) `fds[i]` and returns how
/// many; 0 on timeout or EINTR. `timeout_ms` < 0 waits forever. At most
/// [`POLL_MAX_FDS`] descriptors; `ready` must be at least as long as `fds`.
/// No allocation.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32, ready: &mut [bool]) -> io::Result<usize> {
    if fds.len() > POLL_MAX_FDS || ready.len() < fds.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "poll_readable: too many fds or short `ready`",
        ));
    }
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; POLL_MAX_FDS];
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    // SAFETY: `pfds` holds at least `fds.len()` initialised pollfd entries.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            ready[..fds.len()].iter_mut().for_each(|r| *r = false);
            return Ok(0);
        }
        return Err(e);
    }
    let mut n = 0;
    for (p, r) in pfds[..fds.len()].iter().zip(ready.iter_mut()) {
        *r = p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
        n += usize::from(*r);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gso_layout_fills_megabyte_blocks() {
        let l = RingLayout::new(GSO_FRAME_SIZE, 256, 4096).unwrap();
        assert_eq!(l.block_size, 1 << 20);
        assert_eq!(l.frame_size, GSO_FRAME_SIZE);
        assert_eq!(l.frame_nr % (l.block_size / l.frame_size), 0);
        assert_eq!(l.frame_nr, 270);
        assert_eq!(l.block_nr, 18);
        assert_eq!(l.frame_nr, l.block_nr * (l.block_size / l.frame_size));
    }

    #[test]
    fn small_frames_use_pages() {
        let l = RingLayout::new(MTU_FRAME_SIZE, 256, 4096).unwrap();
        assert_eq!((l.block_size, l.block_nr, l.frame_nr), (4096, 128, 256));
        // Unaligned frame sizes are rounded to TPACKET_ALIGNMENT.
        let l = RingLayout::new(1601, 10, 4096).unwrap();
        assert_eq!(l.frame_size, 1616);
        assert_eq!(l.block_size % 4096, 0);
        assert!(l.frame_nr >= 10);
    }

    #[test]
    fn layout_rejects_nonsense() {
        assert!(RingLayout::new(16, 10, 4096).is_err());
        assert!(RingLayout::new(2048, 0, 4096).is_err());
        assert!(RingLayout::new(2048, 10, 4095).is_err());
        assert!(RingLayout::new(u32::MAX, 10, 4096).is_err());
        assert!(RingLayout::new(1 << 30, 10, 4096).is_err());
    }

    #[test]
    fn huge_frames_one_per_block() {
        let l = RingLayout::new(5 << 20, 2, 4096).unwrap();
        assert_eq!(l.block_size, 5 << 20);
        assert_eq!(l.frame_nr, 2);
    }

    #[test]
    fn vnet_checks_match_kernel() {
        /// flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
        fn hdr(f: u8, t: u8, hl: u16, gs: u16, cs: u16, co: u16) -> VnetBytes {
            let mut h = [f, t, 0, 0, 0, 0, 0, 0, 0, 0];
            vnet::set_u16_at(&mut h, vnet::HDR_LEN, hl);
            vnet::set_u16_at(&mut h, vnet::GSO_SIZE, gs);
            vnet::set_u16_at(&mut h, vnet::CSUM_START, cs);
            vnet::set_u16_at(&mut h, vnet::CSUM_OFFSET, co);
            h
        }
        let ok = hdr(1, 1, 66, 1448, 34, 16);
        assert!(vnet_hdr_acceptable(&ok, 3000));
        assert!(!vnet_hdr_acceptable(&ok, 50)); // csum field beyond the frame
        assert!(!vnet_hdr_acceptable(&hdr(1, 1, 66, 0, 34, 16), 3000));
        assert!(!vnet_hdr_acceptable(&hdr(1, 1, 4000, 1448, 34, 16), 3000));
        assert!(vnet_hdr_acceptable(&[0; VNET_HDR_LEN], 60));
    }

    #[test]
    fn poll_rejects_too_many() {
        let fds = [0; POLL_MAX_FDS + 1];
        let mut ready = [false; POLL_MAX_FDS + 1];
        assert!(poll_readable(&fds, 0, &mut ready).is_err());
    }
}
