//! [`LabScript`]: the seed lab as the README's command builds it — the tests
//! run `scripts/lab.sh` itself (under a namespace prefix unique to the test)
//! so the command users type is what they exercise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::{build::curl_hostname, namespaces, CLIENT_POD, WAN_NS};
use crate::env::{repo_file, router_bin};
use crate::lab::{Lab, TEST_PREFIX};
use crate::netns::{unique_name, Ns, SETUP_TIMEOUT};
use crate::process::{run_timeout, tail, CmdOutput};
use crate::router::{Forwarder, RouterProc};

/// A lab made by `scripts/lab.sh up`. Dropping it runs `lab.sh down` and
/// then deletes whatever is left of its namespaces (processes inside
/// killed by PID).
pub struct LabScript {
    pub prefix: String,
    pub state: PathBuf,
    pub mode: Forwarder,
    /// The `lab` binary lab.sh runs (`env!("CARGO_BIN_EXE_lab")` in a test).
    lab_bin: PathBuf,
    _lab: Lab,
}

impl LabScript {
    /// `lab.sh up <config> [--kernel]`, running `lab_bin`; panics (after
    /// cleaning up) if it fails.
    pub fn up(lab_bin: impl AsRef<Path>, config: &str, mode: Forwarder) -> LabScript {
        LabScript::up_with(lab_bin, config, mode, &[])
    }

    /// [`LabScript::up`] with more arguments for `lab.sh up` (`--dual-stack`).
    pub fn up_with(
        lab_bin: impl AsRef<Path>,
        config: &str,
        mode: Forwarder,
        extra: &[&str],
    ) -> LabScript {
        let prefix = unique_name(TEST_PREFIX, "seed");
        let mut lab = Lab::new("seedstate");
        let state = lab.dir().join("lab-state");
        for role in namespaces() {
            lab.adopt(&format!("{prefix}-{role}"));
        }
        let seed = LabScript {
            prefix,
            state,
            mode,
            lab_bin: lab_bin.as_ref().to_path_buf(),
            _lab: lab,
        };
        let mut args = vec!["up", config];
        if mode == Forwarder::Kernel {
            args.push("--kernel");
        }
        args.extend_from_slice(extra);
        let out = seed.lab_sh(&args, Duration::from_secs(90));
        assert!(out.success(), "{out}");
        seed
    }

    /// Runs `scripts/lab.sh ARGS` for this lab (no install, no build).
    pub fn lab_sh(&self, args: &[&str], timeout: Duration) -> CmdOutput {
        let mut c = Command::new("bash");
        c.arg(repo_file("scripts/lab.sh"))
            .args(args)
            .env("RLAB_PREFIX", &self.prefix)
            .env("RLAB_STATE", &self.state)
            .env("RLAB_BIN", &self.lab_bin)
            .env("RLAB_NO_SETUP", "1");
        if self.mode == Forwarder::Router {
            c.env("ROUTER_BIN", router_bin());
        }
        run_timeout(&mut c, timeout)
    }

    /// A namespace of the lab by role: "router", "wan", "k8s-w0", "curl-pod", ...
    pub fn ns(&self, role: &str) -> Ns {
        Ns::named(format!("{}-{role}", self.prefix))
    }

    /// `curl http://IP/` from curl-pod; the `Hostname:` it answered, if any.
    pub fn curl(&self, ip: &str) -> Option<String> {
        curl_hostname(&self.ns(CLIENT_POD), ip, None)
    }

    /// Packets for addresses the wan namespace does not own that reached it
    /// (it does not forward: Ip:InAddrErrors).
    pub fn wan_leaks(&self) -> u64 {
        self.ns(WAN_NS).snmp("Ip", "InAddrErrors")
    }

    /// IPv6 packets for foreign addresses that reached the wan namespace.
    pub fn wan_leaks6(&self) -> u64 {
        let wan = self.ns(WAN_NS);
        wan.snmp6("Ip6InAddrErrors") + wan.snmp6("Ip6InNoRoutes")
    }

    /// The running router (router mode).
    pub fn router(&self) -> RouterProc {
        let pid = fs::read_to_string(self.state.join("pids/router.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        RouterProc {
            pid,
            bin: router_bin(),
            socket: self.state.join("router.sock"),
            config: PathBuf::new(),
        }
    }

    /// `lab.sh down`; the namespaces must be gone afterwards.
    pub fn down(&mut self) {
        let out = self.lab_sh(&["down"], Duration::from_secs(30));
        assert!(out.success(), "{out}");
        let left = run_timeout(Command::new("ip").args(["netns", "list"]), SETUP_TIMEOUT).stdout;
        let ours: Vec<&str> = left
            .lines()
            .filter(|l| l.starts_with(&format!("{}-", self.prefix)))
            .collect();
        assert!(ours.is_empty(), "lab.sh down left namespaces: {ours:?}");
        assert!(
            !self.state.exists(),
            "lab.sh down left {}",
            self.state.display()
        );
    }
}

impl Drop for LabScript {
    fn drop(&mut self) {
        if self.state.exists() {
            if thread::panicking() {
                if let Ok(log) = fs::read_to_string(self.state.join("router.log")) {
                    eprintln!("--- router.log ---\n{}", tail(&log, 4000));
                }
            }
            let _ = self.lab_sh(&["down"], Duration::from_secs(30));
        }
        // `self._lab` drops next: it deletes any adopted namespace still there.
    }
}
