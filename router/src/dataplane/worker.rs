//! One forwarding worker: poll its RX rings, forward in batches, kick the
//! TX rings it filled once per batch.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::counters::DropReason;
use super::forward::Forwarder;
use super::rings::{frame_meta, RingSink};
use super::DataplaneOptions;
use crate::ports::PortId;
use crate::shared::Shared;
use crate::slowpath::{FlushTx, Handoff};
use router_sys::afpacket::{poll_readable, RxRing, TxRing};

/// How often a worker reads its sockets' PACKET_STATISTICS.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Ring checks between clock reads while spinning.
const SPIN_CHECKS_PER_CLOCK: usize = 16;

/// Length of the window over which a worker measures its packet rate.
const RATE_WINDOW: Duration = Duration::from_millis(1);

/// Frames handled in the current and the last complete [`RATE_WINDOW`].
#[derive(Default)]
struct RateWindow {
    start: Option<Instant>,
    frames: u64,
    heavy: bool,
}

impl RateWindow {
    /// Counts `frames` at `now`; true if the last complete window (or the
    /// current one so far) exceeded `max_per_sec`.
    fn add(&mut self, now: Instant, frames: usize, max_per_sec: u64) -> bool {
        let limit = max_per_sec.saturating_mul(RATE_WINDOW.as_micros() as u64) / 1_000_000;
        let frames = frames as u64;
        match self.start {
            Some(s) if now.saturating_duration_since(s) < RATE_WINDOW => {
                self.frames += frames;
            }
            last => {
                // A new window: the verdict starts from the last one's.
                self.heavy = last.is_some() && self.frames > limit;
                self.start = Some(now);
                self.frames = frames;
            }
        }
        self.heavy |= self.frames > limit;
        self.heavy
    }
}

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
    spin_max_rate: u64,
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
            spin_max_rate: opts.spin_max_rate,
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

    /// Watches the RX rings' status words until one has a frame or `until`
    /// passes; true if a frame is ready. Between looks it yields the CPU
    /// (sched_yield) instead of spinning on it: the consumer our last
    /// transmission woke (the echo server, the TCP receiver) is usually
    /// queued on this very CPU (wake-affine), and a pure spin delays it until
    /// the spin ends, which measured worse than sleeping in poll(2).
    /// Only runs while idle, so its syscalls are not per packet.
    fn spin_for_frames(&self, until: Instant) -> bool {
        loop {
            for _ in 0..SPIN_CHECKS_PER_CLOCK {
                if self.rx.iter().any(|r| r.has_frames()) {
                    return true;
                }
                std::thread::yield_now();
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
        // Frames are waiting (a full batch was taken, or the spin saw one):
        // process the rings again without poll(2).
        let mut busy = false;
        // Until when to watch the rings before sleeping in poll(2).
        let mut spin_until: Option<Instant> = None;
        let mut rate = RateWindow::default();
        while !self.stop.load(Ordering::Relaxed) {
            let pending_tx = self.tx.iter().any(|t| t.needs_flush());
            if !busy && !pending_tx {
                if let Some(until) = spin_until.take() {
                    busy = self.spin_for_frames(until);
                }
            }
            if !busy {
                // A TX kick that hit a busy device is retried soon, not
                // after a full poll timeout.
                let timeout = if pending_tx { 1 } else { self.poll_timeout_ms };
                match poll_readable(&fds, timeout, &mut ready) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::error!(worker = self.index, error = %e, "poll failed");
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                }
            }
            self.fwd.shared().heartbeats.beat(self.index);
            let now = Instant::now();
            let b = self.fwd.begin_batch(now);
            busy = false;
            let mut sink = RingSink {
                tx: &mut self.tx,
                touched: &mut touched,
                handoff: Some(&self.handoff),
                punted: false,
                host: None,
            };
            let mut handled = 0;
            for (p, r) in self.rx.iter_mut().enumerate() {
                let fwd = &mut self.fwd;
                let n = r.rx_batch(self.batch, |frame, meta| {
                    fwd.process(&b, p as PortId, frame, &frame_meta(meta), &mut sink)
                });
                busy |= n == self.batch;
                handled += n;
            }
            sink.flush_all();
            if sink.punted {
                self.handoff.wake();
            }
            drop(b);
            let heavy = rate.add(now, handled, self.spin_max_rate);
            if handled > 0 && !self.spin.is_zero() && !heavy {
                // Light traffic (request/response): the next frame, often
                // the reply to what we just sent, comes within tens of
                // microseconds, and sleeping in poll(2) would add a wake-up
                // (a context switch and, on a VM, an IPI) to its latency.
                // Not under heavy load: there the yields hand the CPU to the
                // sender for a whole time slice while our RX ring overflows
                // (measured: more loss with a 64-byte flood), whereas a
                // wake-up from poll(2) preempts it promptly.
                spin_until = Some(Instant::now() + self.spin);
            }
            if now >= next_stats {
                self.read_socket_stats();
                next_stats = now + STATS_EVERY;
            }
        }
        tracing::info!(worker = self.index, "worker stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_flags_heavy_traffic() {
        let t0 = Instant::now();
        let mut r = RateWindow::default();
        // 50k/s over 1 ms = 50 frames.
        assert!(!r.add(t0, 10, 50_000));
        assert!(!r.add(t0 + Duration::from_micros(500), 30, 50_000));
        assert!(r.add(t0 + Duration::from_micros(900), 20, 50_000));
        // The next window starts from the heavy verdict of the last one,
        // then clears once a light window completes.
        assert!(r.add(t0 + Duration::from_micros(1100), 1, 50_000));
        assert!(!r.add(t0 + Duration::from_micros(2200), 1, 50_000));
    }
}
