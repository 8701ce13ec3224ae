//! Workers → slow path: frames copied into pooled buffers and queued, and
//! a doorbell the workers ring once per batch that queued something.
use crossbeam_channel::{bounded, Receiver, Sender};
use crossbeam_queue::ArrayQueue;

use crate::dataplane::forward::{FrameMeta, Punt};
use crate::ports::PortId;

/// A frame handed to (or held by) the slow path, in a pooled buffer.
#[derive(Debug)]
pub struct SlowPacket {
    pub(super) buf: Box<[u8]>,
    pub(super) len: usize,
    /// Ingress port (for a packet of the local stack: the egress port).
    pub in_port: PortId,
    pub why: Punt,
    pub meta: FrameMeta,
    /// Originated by the local stack (no TTL decrement, no ICMP errors).
    pub from_stack: bool,
}

impl SlowPacket {
    pub fn frame(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Sizes of the hand-off queue and its buffer pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffOptions {
    /// Frames waiting for the slow path.
    pub depth: usize,
    /// Buffers for ordinary frames (≤ `small_size` bytes).
    pub small_buffers: usize,
    pub small_size: usize,
    /// Buffers for GSO super-frames.
    pub large_buffers: usize,
    pub large_size: usize,
}

impl Default for HandoffOptions {
    fn default() -> Self {
        HandoffOptions {
            depth: 1024,
            small_buffers: 1024,
            small_size: 2048,
            large_buffers: 32,
            large_size: 65536 + 64,
        }
    }
}

/// Workers → slow path: a bounded lock-free queue of frames copied into
/// preallocated buffers (no allocation per packet; a full queue or an empty
/// pool makes `push` fail, which the worker counts as `queue_full`). The
/// buffers of packets waiting for ARP stay out of the pool while they wait.
pub struct Handoff {
    queue: ArrayQueue<SlowPacket>,
    small: ArrayQueue<Box<[u8]>>,
    large: ArrayQueue<Box<[u8]>>,
    opts: HandoffOptions,
    /// Doorbell: a one-slot channel. Workers ring it once per batch that
    /// punted something (`try_send` on a full slot is a few atomic ops; it
    /// makes a syscall only to wake a sleeping slow path). The slow path
    /// waits on it and on the local stack's channel at once, so neither
    /// source waits for a timer.
    bell_tx: Sender<()>,
    pub(super) bell_rx: Receiver<()>,
}

impl Handoff {
    pub fn new(opts: HandoffOptions) -> Handoff {
        let small = ArrayQueue::new(opts.small_buffers.max(1));
        for _ in 0..opts.small_buffers {
            let _ = small.push(vec![0u8; opts.small_size].into_boxed_slice());
        }
        let (bell_tx, bell_rx) = bounded(1);
        let large = ArrayQueue::new(opts.large_buffers.max(1));
        for _ in 0..opts.large_buffers {
            let _ = large.push(vec![0u8; opts.large_size].into_boxed_slice());
        }
        Handoff {
            queue: ArrayQueue::new(opts.depth.max(1)),
            small,
            large,
            opts,
            bell_tx,
            bell_rx,
        }
    }

    /// Copies `frame` into a pooled buffer and queues it. No allocation.
    pub fn push(&self, why: Punt, in_port: PortId, frame: &[u8], meta: &FrameMeta) -> bool {
        if self.queue.is_full() {
            return false;
        }
        let pool = if frame.len() <= self.opts.small_size {
            &self.small
        } else if frame.len() <= self.opts.large_size {
            &self.large
        } else {
            return false;
        };
        let Some(mut buf) = pool.pop() else {
            return false;
        };
        buf[..frame.len()].copy_from_slice(frame);
        let p = SlowPacket {
            buf,
            len: frame.len(),
            in_port,
            why,
            meta: *meta,
            from_stack: false,
        };
        match self.queue.push(p) {
            Ok(()) => true,
            Err(p) => {
                self.recycle(p);
                false
            }
        }
    }

    pub fn pop(&self) -> Option<SlowPacket> {
        self.queue.pop()
    }

    /// Returns a packet's buffer to its pool (buffers of other sizes, i.e.
    /// the slow path's own allocations, are freed).
    pub fn recycle(&self, p: SlowPacket) {
        let pool = if p.buf.len() == self.opts.small_size {
            &self.small
        } else if p.buf.len() == self.opts.large_size {
            &self.large
        } else {
            return;
        };
        let _ = pool.push(p.buf);
    }

    /// Wakes the slow path (call once per batch, not per packet).
    pub fn wake(&self) {
        let _ = self.bell_tx.try_send(());
    }

    /// Buffers currently in the pools (for tests and diagnostics).
    pub fn free_buffers(&self) -> (usize, usize) {
        (self.small.len(), self.large.len())
    }
}
