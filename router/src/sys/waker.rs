//! An eventfd that one thread signals to wake another's poll(2), e.g. to hand
//! the slow path work or to stop a worker.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Wakes a thread blocked in [`crate::sys::afpacket::poll_readable`] on
/// [`Waker::fd`]. Shareable between threads (`&Waker` suffices to wake).
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// Creates a non-blocking, close-on-exec eventfd.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: plain syscall, no pointers.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Makes the descriptor readable until [`Waker::drain`]. Never blocks; a
    /// wake while the counter is saturated is already pending and is dropped.
    pub fn wake(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, which outlives the call.
        let r = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) {
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    }

    /// Clears pending wakes; returns how many were pending (0 if none).
    pub fn drain(&self) -> u64 {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into `n`, which outlives the call.
        let r = unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
        if r == 8 {
            n
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::afpacket::poll_readable;

    #[test]
    fn wake_makes_readable_until_drained() {
        let w = Waker::new().unwrap();
        let mut ready = [false];
        assert_eq!(poll_readable(&[w.fd()], 0, &mut ready).unwrap(), 0);
        w.wake().unwrap();
        w.wake().unwrap();
        assert_eq!(poll_readable(&[w.fd()], 0, &mut ready).unwrap(), 1);
        assert!(ready[0]);
        assert_eq!(w.drain(), 2);
        assert_eq!(w.drain(), 0);
        assert_eq!(poll_readable(&[w.fd()], 0, &mut ready).unwrap(), 0);
    }

    #[test]
    fn wakes_another_thread() {
        let w = std::sync::Arc::new(Waker::new().unwrap());
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            let mut ready = [false];
            poll_readable(&[w2.fd()], 5000, &mut ready).unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        w.wake().unwrap();
        assert_eq!(t.join().unwrap(), 1);
    }
}
