//! Network namespace switching for the calling thread (setns(2)).
//!
//! The router itself is started inside its namespace (`ip netns exec`) and
//! never switches; tests and tools use this to open sockets inside
//! namespaces they created. A socket stays in the namespace it was created
//! in, whichever thread later uses it.
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Moves the calling thread into the network namespace at `path` (e.g.
/// `/run/netns/NAME`). Other threads are unaffected.
pub fn enter(path: &Path) -> io::Result<()> {
    let ns = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    setns(&ns)
}

fn setns(ns: &File) -> io::Result<()> {
    // SAFETY: `ns` is an open namespace file; setns only reads the fd.
    let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Enters a network namespace for the calling thread and returns it to the
/// namespace it was in when dropped. Not `Send`: it must be dropped on the
/// thread that created it.
pub struct NetnsGuard {
    original: File,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl NetnsGuard {
    /// Remembers the calling thread's namespace, then enters `path`.
    pub fn enter(path: &Path) -> io::Result<NetnsGuard> {
        let original = File::open("/proc/thread-self/ns/net")?;
        enter(path)?;
        Ok(NetnsGuard {
            original,
            _not_send: std::marker::PhantomData,
        })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.original) {
            // Continuing in the wrong namespace would send traffic to the
            // wrong place: stop here.
            panic!("cannot return to the original network namespace: {e}");
        }
    }
}
