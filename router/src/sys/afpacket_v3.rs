//! A minimal TPACKET_V3 receive ring, kept to measure what V3 costs in
//! latency (the `tpacket_v3_block_timeout_latency` test in
//! `router/tests/afpacket.rs`); the forwarder uses the V2 rings of
//! [`crate::sys::afpacket`].
//!
//! V3 fills variable-size frames into blocks and hands a whole block to user
//! space only when it is full or when its retire timer (`tp_retire_blk_tov`,
//! milliseconds; derived from the link speed when 0, 8 ms on a veth) fires;
//! the reader is woken once per block.
//! At low packet rates a packet therefore waits up to the block timeout
//! before the reader can see it, where a V2 reader is woken per frame.
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// A TPACKET_V3 RX-only socket bound to one interface (no fanout, no vnet
/// header), ignoring outgoing frames.
pub struct V3RxRing {
    base: NonNull<u8>,
    block_size: usize,
    block_nr: usize,
    next: usize,
    fd: OwnedFd,
}

// SAFETY: the ring owns its mapping and descriptor; nothing else in the
// process refers to them.
unsafe impl Send for V3RxRing {}

/// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then
/// `tpacket_hdr_v1`: block_status, num_pkts, offset_to_first_pkt, blk_len).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;

impl V3RxRing {
    /// Opens the socket with `block_nr` blocks of `block_size` bytes (a
    /// multiple of the page size) and a block retire timeout of
    /// `retire_tov_ms` milliseconds (0: the kernel derives one from the link
    /// speed).
    pub fn open(
        ifindex: u32,
        block_size: u32,
        block_nr: u32,
        retire_tov_ms: u32,
    ) -> io::Result<V3RxRing> {
        let frame_size: u32 = 2048;
        if block_size == 0 || block_size & 4095 != 0 || block_nr == 0 || ifindex > i32::MAX as u32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad V3 ring geometry",
            ));
        }
        // SAFETY: plain syscall, no pointers.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(raw, libc::PACKET_VERSION, &version)?;
        let req = libc::tpacket_req3 {
            tp_block_size: block_size,
            tp_block_nr: block_nr,
            tp_frame_size: frame_size,
            tp_frame_nr: block_size / frame_size * block_nr,
            tp_retire_blk_tov: retire_tov_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(raw, libc::PACKET_RX_RING, &req)?;
        let len = block_size as usize * block_nr as usize;
        // SAFETY: maps exactly the ring the kernel just allocated; checked.
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
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(addr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        let ring = V3RxRing {
            base,
            block_size: block_size as usize,
            block_nr: block_nr as usize,
            next: 0,
            fd,
        };
        setsockopt(raw, libc::PACKET_IGNORE_OUTGOING, &1 as &libc::c_int)?;
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: valid sockaddr_ll of the given length.
        let r = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ring)
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Hands every frame of up to `max_blocks` retired blocks to `f` (frame
    /// bytes, kernel timestamp in ns), returning the blocks to the kernel.
    /// Returns the number of frames.
    pub fn rx_blocks(&mut self, max_blocks: usize, mut f: impl FnMut(&[u8], u64)) -> usize {
        let mut frames = 0;
        for _ in 0..max_blocks {
            // SAFETY: next < block_nr, so the block lies in the mapping.
            let block = unsafe { self.base.as_ptr().add(self.next * self.block_size) };
            // SAFETY: block_status is an aligned u32 at offset 8 of the
            // block descriptor the kernel keeps at the start of each block.
            let status = unsafe { &*(block.add(BLOCK_STATUS) as *const AtomicU32) };
            if status.load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the block is ours (status USER); the fields are
            // aligned u32s of its descriptor.
            let (num, first) = unsafe {
                (
                    (block.add(BLOCK_NUM_PKTS) as *const u32).read(),
                    (block.add(BLOCK_FIRST_PKT) as *const u32).read() as usize,
                )
            };
            let mut off = first;
            for _ in 0..num {
                if off + size_of::<libc::tpacket3_hdr>() > self.block_size {
                    break;
                }
                // SAFETY: the header lies inside our block (checked above)
                // and is 4-aligned (the kernel aligns frames to 16).
                let h = unsafe { (block.add(off) as *const libc::tpacket3_hdr).read() };
                let (mac, snap) = (usize::from(h.tp_mac), h.tp_snaplen as usize);
                if off + mac + snap > self.block_size {
                    break;
                }
                // SAFETY: the frame bytes lie inside our block (checked).
                let data = unsafe { std::slice::from_raw_parts(block.add(off + mac), snap) };
                f(
                    data,
                    u64::from(h.tp_sec) * 1_000_000_000 + u64::from(h.tp_nsec),
                );
                frames += 1;
                if h.tp_next_offset == 0 {
                    break;
                }
                off += h.tp_next_offset as usize;
            }
            status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.next = (self.next + 1) % self.block_nr;
        }
        frames
    }
}

impl Drop for V3RxRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `open`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.block_size * self.block_nr);
        }
    }
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live T of the given size; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
