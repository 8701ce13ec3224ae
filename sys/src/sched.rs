//! Thread scheduling priority (setpriority(2) on one thread).
//!
//! Linux keeps a nice value per thread: `setpriority(PRIO_PROCESS, tid, n)`
//! with a thread id changes that thread only, not the process.
use std::io;

/// Sets the calling thread's nice value (-20..=19; higher yields more).
/// Raising it needs no privilege; lowering it below the current value needs
/// CAP_SYS_NICE.
pub fn set_current_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    // SAFETY: plain integer arguments; the kernel validates them and reports
    // errors through the return value and errno.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, tid as libc::id_t, nice) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's nice value.
pub fn current_thread_nice() -> io::Result<i32> {
    // SAFETY: as above.
    let tid = unsafe { libc::gettid() };
    // getpriority may return -1 as a valid value: clear errno first.
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::getpriority(libc::PRIO_PROCESS as _, tid as libc::id_t) };
    let e = io::Error::last_os_error();
    if r == -1 && e.raw_os_error() != Some(0) {
        return Err(e);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_nice_value_changes_only_this_thread() {
        let before = current_thread_nice().expect("getpriority");
        let target = (before + 3).min(19);
        let t = std::thread::spawn(move || {
            set_current_thread_nice(target).expect("setpriority");
            current_thread_nice().expect("getpriority")
        });
        assert_eq!(t.join().expect("thread"), target);
        assert_eq!(current_thread_nice().expect("getpriority"), before);
    }
}
