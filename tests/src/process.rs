//! Running programs: bounded commands ([`run_timeout`]), bounded polling
//! ([`poll_until`], [`wait_until`]) and signals by PID or process group
//! (through `nix`, so this crate needs no `unsafe`).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;
use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;

/// What a bounded command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Shell-like rendering of the command, for messages.
    pub cmd: String,
    /// Exit code; `None` when killed (timeout or signal).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Panics (with everything printed) unless the command exited 0.
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {}{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.cmd,
            self.code
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed".into()),
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

pub(crate) fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Sends `sig` to the process group `pgid` (the children are spawned as
/// group leaders). A group already gone is not an error.
pub fn kill_group(pgid: u32, sig: Signal) {
    if let Ok(pgid) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(pgid), sig);
    }
}

/// Sends `sig` to one process by PID (never by name).
pub fn kill_pid(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }
}

/// Whether a process with this PID exists (signal 0).
pub fn pid_alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .is_some_and(|p| kill(Pid::from_raw(p), None).is_ok())
}

/// Stops one process by PID that is not our child (the lab command's
/// daemons, recorded in PID files): SIGTERM, then SIGKILL if it is still
/// there after `grace`. Bounded.
pub fn terminate_pid(pid: u32, grace: Duration) {
    kill_pid(pid, Signal::SIGTERM);
    if !poll_until(grace, Duration::from_millis(50), || !pid_alive(pid)) {
        kill_pid(pid, Signal::SIGKILL);
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

pub(crate) fn wait_deadline(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    }
}

/// Runs `cmd` (stdin closed, output captured) for at most `timeout`; on expiry
/// its process group is killed and `timed_out` is set. Never hangs.
pub fn run_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let rendered = render(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CmdOutput {
                cmd: rendered,
                code: None,
                timed_out: false,
                stdout: String::new(),
                stderr: format!("spawn failed: {e}"),
            }
        }
    };
    let out = reader(child.stdout.take().expect("piped"));
    let err = reader(child.stderr.take().expect("piped"));
    let pgid = child.id();
    let status = wait_deadline(&mut child, Instant::now() + timeout);
    let timed_out = status.is_none();
    // Whatever the leader left behind in its group goes too.
    kill_group(pgid, Signal::SIGKILL);
    let status = status.or_else(|| child.wait().ok());
    let grace = Duration::from_secs(2);
    CmdOutput {
        cmd: rendered,
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        stdout: out.recv_timeout(grace).unwrap_or_default(),
        stderr: err.recv_timeout(grace).unwrap_or_default(),
    }
}

/// Polls `cond` every `every` until it holds or `timeout` passes; returns
/// whether it held. Bounded by construction.
pub fn poll_until(timeout: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(every);
    }
}

/// Like [`poll_until`] but panics with `what` on timeout.
pub fn wait_until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, Duration::from_millis(50), cond),
        "timed out after {timeout:?} waiting for {what}"
    );
}

// ---------------------------------------------------------------------------
// Namespaces

/// The last `n` bytes of `s` (on a character boundary), for log excerpts.
pub fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn run_timeout_kills() {
        let out = run_timeout(Command::new("sleep").arg("5"), Duration::from_millis(200));
        assert!(out.timed_out && out.code.is_none());
        let out = run_timeout(
            Command::new("sh").args(["-c", "echo hi; exit 3"]),
            Duration::from_secs(5),
        );
        assert_eq!((out.code, out.stdout.as_str()), (Some(3), "hi\n"));
    }
}
