//! systemd integration: `sd_notify` state changes and the watchdog.
//!
//! Under `Type=notify` the unit waits for READY=1, which `router run` sends
//! once the ports are prepared and bound, the FIB is published and the
//! control socket listens. A reload is bracketed by RELOADING=1 (with the
//! MONOTONIC_USEC systemd ≥ 253 asks for) and READY=1; shutdown starts with
//! STOPPING=1. Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op.
//!
//! The watchdog (`WatchdogSec=`, seen as `WATCHDOG_USEC`) is pinged from its
//! own thread, and only while every forwarding worker makes progress: each
//! worker bumps its heartbeat once per loop turn (it wakes at least every
//! poll timeout, ≤ 1 s, traffic or not), and a worker whose heartbeat stands
//! still for a whole ping interval stops the pings, so systemd restarts a
//! router whose dataplane hung rather than one that is merely idle.
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sd_notify::NotifyState;

/// `[router] control_plane_nice`, set once by `router run` before it starts
/// the control-plane threads; 0 (leave the priority alone) elsewhere, e.g.
/// for the servers unit tests start.
static CONTROL_PLANE_NICE: AtomicU8 = AtomicU8::new(0);

/// Records the nice value that [`enter_control_plane`] applies.
pub fn set_control_plane_nice(nice: u8) {
    CONTROL_PLANE_NICE.store(nice, Ordering::Relaxed);
}

/// Called first thing on a control-plane thread (BGP, control socket,
/// metrics): lowers its priority below the workers', so that when the cores
/// are short the control plane waits and the packets do not. A failure is a
/// warning: the router works as before, only without that protection.
pub fn enter_control_plane(thread: &str) {
    let nice = CONTROL_PLANE_NICE.load(Ordering::Relaxed);
    if nice == 0 {
        return;
    }
    if let Err(e) = router_sys::sched::set_current_thread_nice(i32::from(nice)) {
        tracing::warn!(thread, nice, error = %e, "cannot lower the thread's priority");
    }
}

/// Sends state changes to the service manager, if there is one.
#[derive(Clone, Copy, Debug)]
pub struct Notifier {
    enabled: bool,
}

impl Notifier {
    /// Enabled when `NOTIFY_SOCKET` is set (the variable is kept, so that
    /// every later notification reaches the same socket).
    pub fn from_env() -> Notifier {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(false, states) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn reloading(&self) {
        let mut states = vec![NotifyState::Reloading];
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        self.send(&states);
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}

/// One heartbeat per forwarding worker; a worker bumps its own once per
/// loop turn (a relaxed store: single writer), the watchdog reads them.
pub struct Heartbeats {
    beats: Box<[AtomicU64]>,
}

impl Heartbeats {
    pub fn new(workers: usize) -> Self {
        Heartbeats {
            beats: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    pub fn beat(&self, worker: usize) {
        if let Some(b) = self.beats.get(worker) {
            b.store(b.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    pub fn read(&self) -> Vec<u64> {
        self.beats
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }
}

/// The watchdog thread; stops when dropped.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts pinging if systemd asked for a watchdog (`WATCHDOG_USEC`),
    /// at half its interval, as sd_watchdog_enabled(3) recommends.
    pub fn start(
        notifier: Notifier,
        beats: impl Fn() -> Vec<u64> + Send + 'static,
    ) -> Option<Watchdog> {
        let mut usec = 0u64;
        if !notifier.is_enabled() || !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
            return None;
        }
        let interval = Duration::from_micros(usec / 2).max(Duration::from_millis(100));
        Some(Self::start_with(notifier, beats, interval))
    }

    /// `beats` reads the workers' heartbeats (see [`Heartbeats::read`]).
    pub fn start_with(
        notifier: Notifier,
        beats: impl Fn() -> Vec<u64> + Send + 'static,
        interval: Duration,
    ) -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut last = beats();
                let mut stuck_logged = false;
                // First ping at once: start-up is done when we get here.
                notifier.watchdog();
                while !stop2.load(Ordering::Relaxed) {
                    // Sleep in small steps so that a stop is seen promptly.
                    let until = std::time::Instant::now() + interval;
                    while std::time::Instant::now() < until && !stop2.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50).min(interval));
                    }
                    let now = beats();
                    let stuck: Vec<usize> = now
                        .iter()
                        .zip(&last)
                        .enumerate()
                        .filter(|(_, (n, l))| n == l)
                        .map(|(i, _)| i)
                        .collect();
                    last = now;
                    if stuck.is_empty() {
                        notifier.watchdog();
                        stuck_logged = false;
                    } else if !stuck_logged {
                        tracing::error!(
                            ?stuck,
                            "workers made no progress: watchdog pings withheld"
                        );
                        stuck_logged = true;
                    }
                }
            })
            .ok();
        Watchdog { stop, thread }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
