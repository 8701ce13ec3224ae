//! The host state file: the host set-up's changes, recorded while they
//! stand, so that a router that dies without undoing them (a crash, a
//! SIGKILL, a power cut of the process) is followed by a start that
//! restores them first ([`super::recover`]). Without it the next start
//! would read the router's own settings as the host's and "restore" those
//! at its stop.
//!
//! JSON, written to a temporary file and renamed over the old one, so a
//! reader never sees half a file. It lives next to the control socket
//! (`/run/router/router.host-state.json` by default): `/run` is emptied at
//! boot, as the kernel state it describes is.
use std::io;
use std::path::{Path, PathBuf};

use super::Change;

#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    /// The process that made the changes (for the operator).
    pid: u32,
    changes: Vec<Change>,
}

impl StateFile {
    pub fn new(path: PathBuf) -> StateFile {
        StateFile { path }
    }

    /// The state file of the router whose control socket is `socket`.
    pub fn for_socket(socket: &Path) -> StateFile {
        StateFile::new(socket.with_extension("host-state.json"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn save(&self, changes: &[Change]) -> io::Result<()> {
        let c = Contents {
            pid: std::process::id(),
            changes: changes.to_vec(),
        };
        let text = serde_json::to_vec_pretty(&c).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// The recorded changes; `Ok(None)` when there is no file.
    pub fn load(&self) -> Result<Option<Vec<Change>>, String> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        serde_json::from_slice::<Contents>(&text)
            .map(|c| Some(c.changes))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(file = %self.path.display(), error = %e, "host set-up: cannot remove the state file");
            }
        }
    }

    /// Moves an unreadable file out of the way (kept for the operator).
    pub fn set_aside(&self) {
        let _ = std::fs::rename(&self.path, self.path.with_extension("json.bad"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::rtnl::KernelAddress;
    use crate::host::sysctl::Sysctl;

    #[test]
    fn round_trip_and_missing_and_bad() {
        let dir = std::env::temp_dir().join(format!("router-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = StateFile::for_socket(&dir.join("router.sock"));
        assert_eq!(s.path(), dir.join("router.host-state.json"));
        assert_eq!(s.load(), Ok(None));
        let changes = vec![
            Change::DeleteAddress {
                port: "eth1".into(),
                ifname: "eth1".into(),
                ifindex: 7,
                address: KernelAddress {
                    net: "192.168.10.200/24".parse().unwrap(),
                    scope: 0,
                },
            },
            Change::Sysctl {
                port: "eth1".into(),
                ifname: "eth1".into(),
                sysctl: Sysctl::ipv6_conf("eth1", "disable_ipv6"),
                from: "0".into(),
                to: "1".into(),
            },
            Change::IngressDrop {
                ifnames: vec!["eth1".into()],
            },
        ];
        s.save(&changes).unwrap();
        assert_eq!(s.load(), Ok(Some(changes)));
        std::fs::write(s.path(), "{ not json").unwrap();
        assert!(s.load().unwrap_err().contains("router.host-state.json"));
        s.set_aside();
        assert_eq!(s.load(), Ok(None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
