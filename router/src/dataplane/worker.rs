//! One forwarding worker: poll its RX rings, forward in batches, kick the
//! TX rings it filled once per batch.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DataplaneOptions, RingSink};
use crate::counters::DropReason;
use crate::fwd::Forwarder;
use crate::ports::PortId;
use crate::slowpath::{FlushTx, Handoff};
use crate::state::Shared;
use crate::sys::afpacket::{poll_readable, RxRing, TxRing};

/// How often a worker reads its sockets' PACKET_STATISTICS.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Ring checks between clock reads while spinning.
const SPIN_CHECKS_PER_CLOCK: usize = 16;
static YIELD_ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
#[allow(non_snake_case)]
fn YIELD_() -> bool { *YIELD_ONCE.get_or_init(|| std::env::var("ROUTER_SPIN_YIELD").is_ok()) }


pub(super) struct Worker {
    shared: Arc<Shared>,
    index: usize,
    fwd: Forwarder,
    rx: Vec<RxRing>,
    tx: Vec<TxRing>,
    handoff: Arc<Handoff>,
    stop: Arc<AtomicBool>,
    batch: usize,
    poll_timeout_ms: i32,
    spin: Duration,
}

impl Worker {
    pub(super) fn new(
        shared: Arc<Shared>,
        index: usize,
        opts: &DataplaneOptions,
        rx: Vec<RxRing>,
        tx: Vec<TxRing>,
        handoff: Arc<Handoff>,
        stop: Arc<AtomicBool>,
    ) -> Worker {
        let fwd = Forwarder::new(shared.clone(), index, opts.fwd());
        Worker {
            shared,
            index,
            fwd,
            rx,
            tx,
            handoff,
            stop,
            batch: opts.batch.max(1),
            poll_timeout_ms: opts.poll_timeout_ms.clamp(1, 1000),
            spin: opts.spin.min(Duration::from_millis(1)),
        }
    }

    fn read_socket_stats(&self) {
        for (p, r) in self.rx.iter().enumerate() {
            if let Ok((_, drops)) = r.stats() {
                if drops > 0 {
                    self.shared
                        .counters
                        .port(self.index, p)
                        .drop_n(DropReason::SocketDrop, drops as u64);
                }
            }
        }
    }

    /// Watches the RX rings' status words (no syscall) until one has a
    /// frame or `until` passes; true if a frame is ready.
    fn spin_for_frames(&self, until: Instant) -> bool {
        loop {
            // Reading the clock costs more than a status word: look at the
            // rings a few times per clock read.
            for _ in 0..SPIN_CHECKS_PER_CLOCK {
                if self.rx.iter().any(|r| r.has_frames()) {
                    return true;
                }
                if YIELD_() {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            if Instant::now() >= until || self.stop.load(Ordering::Relaxed) {
                return false;
            }
        }
    }

    pub(super) fn run(mut self) {
        tracing::info!(worker = self.index, ports = self.rx.len(), "worker started");
        let fds: Vec<_> = self.rx.iter().map(|r| r.fd()).collect();
        let mut ready = vec![false; fds.len()];
        let mut touched = vec![false; self.tx.len()];
        let mut next_stats = Instant::now() + STATS_EVERY;
        // After a full batch, look again without sleeping.
        let mut busy = false;
        // Until when to watch the rings before sleeping in poll(2).
        let mut spin_until: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let pending_tx = self.tx.iter().any(|t| t.needs_flush());
            if !busy && !pending_tx {
                if let Some(until) = spin_until.take() {
                    busy = self.spin_for_frames(until);
                }
            }
            // A TX kick that hit a busy device is retried soon, not after
            // a full poll timeout.
            let timeout = if busy {
                0
            } else if pending_tx {
                1
            } else {
                self.poll_timeout_ms
            };
            match poll_readable(&fds, timeout, &mut ready) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!(worker = self.index, error = %e, "poll failed");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
            let now = Instant::now();
            let b = self.fwd.begin_batch(now);
            busy = false;
            let mut sink = RingSink {
                tx: &mut self.tx,
                touched: &mut touched,
                handoff: Some(&self.handoff),
                punted: false,
            };
            let mut handled = 0;
            for (p, r) in self.rx.iter_mut().enumerate() {
                let fwd = &mut self.fwd;
                let n = r.rx_batch(self.batch, |frame, meta| {
                    fwd.process(&b, p as PortId, frame, meta, &mut sink)
                });
                busy |= n == self.batch;
                handled += n;
            }
            sink.flush_all();
            if sink.punted {
                self.handoff.wake();
            }
            drop(b);
            if handled > 0 && !self.spin.is_zero() {
                // Traffic is flowing: the next frame (a reply, the next
                // packet of a burst) likely comes within microseconds, and
                // sleeping in poll(2) would add a wake-up (a context switch
                // and, on a VM, an IPI) to its latency.
                spin_until = Some(now + self.spin);
            }
            if now >= next_stats {
                self.read_socket_stats();
                next_stats = now + STATS_EVERY;
            }
        }
        tracing::info!(worker = self.index, "worker stopped");
    }
}
