//! `router reload` and SIGHUP: re-read the config file and apply the
//! difference while forwarding continues (see [`crate::config::diff`] for
//! what is live and what is refused).
//!
//! Order, so that a refusal changes nothing: read and check the file (the
//! `router check` errors), diff it against the running config (refusals),
//! convert `[bgp]` ([`BgpConfig::to_speaker_config`]); then hand the BGP
//! part to the BGP thread ([`Speaker::reconfigure`] checks it again before
//! it touches anything, so an error there still leaves everything as it
//! was), then publish the static and loopback routes as one FIB batch, and
//! only then is the new config the running one (`show config`).
//!
//! [`BgpConfig::to_speaker_config`]: crate::config::bgp::BgpConfig::to_speaker_config
//! [`Speaker::reconfigure`]: bgp::Speaker::reconfigure
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;

use crate::bgp_io::{self, BgpClient, BgpIoError};
use crate::config::diff::{self, ConfigDiff, Refusal};
use crate::config::running::{LoadedConfig, RunningConfig};
use crate::config::{Config, ConfigError};
use crate::control::{Registry, Reply};
use crate::rib::{RouteError, RouteHandle};

/// How long the BGP thread may take to apply a new configuration.
const BGP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not parse or check: the `router check` errors.
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{}", refusals(.0))]
    Refused(Vec<Refusal>),
    #[error("{0}")]
    Bgp(#[from] BgpIoError),
    /// Publishing the routes failed (BGP already took its new config).
    #[error("installing routes: {0}")]
    Routes(#[from] RouteError),
}

fn refusals(r: &[Refusal]) -> String {
    let mut s = String::from("reload refused, the running config stays:");
    for x in r {
        s.push_str("\n  ");
        s.push_str(&x.to_string());
    }
    s
}

/// What a reload changed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadReport {
    pub file: String,
    #[serde(flatten)]
    pub diff: ConfigDiff,
    /// FIB entries added, replaced or removed (one batch).
    pub fib_changes: usize,
    pub bgp: Option<bgp::ReconfigureReport>,
}

impl ReloadReport {
    pub fn is_empty(&self) -> bool {
        self.diff.is_empty() && self.bgp.as_ref().is_none_or(|b| b.is_empty())
    }
}

/// One line per change; "no changes" when there is none.
impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "{}: no changes", self.file);
        }
        let d = &self.diff;
        for r in &d.routes_added {
            writeln!(f, "route added {r}")?;
        }
        for r in &d.routes_removed {
            writeln!(f, "route removed {r}")?;
        }
        for (a, b) in &d.routes_changed {
            writeln!(f, "route changed {} {} -> {}", a.prefix, a.target, b.target)?;
        }
        for (what, v) in [
            ("loopback added", &d.loopbacks_added),
            ("loopback removed", &d.loopbacks_removed),
            ("loopback changed", &d.loopbacks_changed),
        ] {
            for l in v {
                writeln!(f, "{what} {l}")?;
            }
        }
        if d.router_id_changed {
            writeln!(f, "router.router_id changed")?;
        }
        if d.routes_differ() {
            writeln!(f, "fib: {} changes in one batch", self.fib_changes)?;
        }
        if let Some(b) = self.bgp.as_ref().filter(|b| !b.is_empty()) {
            write!(f, "{b}")?;
        }
        Ok(())
    }
}

/// What a reload needs of the running router.
pub struct Reloader {
    path: PathBuf,
    running: RunningConfig,
    routes: RouteHandle,
    bgp: Option<BgpClient>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        running: RunningConfig,
        routes: RouteHandle,
        bgp: Option<BgpClient>,
    ) -> Reloader {
        Reloader {
            path,
            running,
            routes,
            bgp,
        }
    }

    pub fn running(&self) -> &RunningConfig {
        &self.running
    }

    /// Re-reads the config file and applies the difference (see the module
    /// documentation). An error leaves the running config in place. The one
    /// error that can follow a change is [`ReloadError::Routes`] (the FIB or
    /// the next-hop ids full) after BGP took its new config: the running
    /// config then stays the old one, so the next reload retries the routes
    /// (and BGP, comparing with its own config, finds nothing to do).
    pub fn reload(&mut self) -> Result<ReloadReport, ReloadError> {
        let (new, text) = Config::load_text(&self.path)?;
        let old = self.running.load_full();
        let d = diff::diff(&old.config, &new).map_err(ReloadError::Refused)?;
        let speaker = match &new.bgp {
            // `Config::parse` already converted it once; this cannot fail
            // for a file that checked, but an error is still an error.
            Some(b) => Some({
                bgp_io::check_transport(b)
                    .map_err(|e| ReloadError::Bgp(BgpIoError::Refused(e.to_string())))?;
                b.to_speaker_config()
                    .map_err(|e| ReloadError::Bgp(BgpIoError::Refused(e.to_string())))?
            }),
            None => None,
        };
        if let Some(sc) = &speaker {
            sc.validate()
                .map_err(|e| ReloadError::Bgp(BgpIoError::Refused(e.to_string())))?;
        }
        let mut report = ReloadReport {
            file: self.path.display().to_string(),
            diff: d,
            ..ReloadReport::default()
        };
        // `diff` refused a [bgp] section added or removed, so both or
        // neither have one here.
        if let (Some(client), Some(sc)) = (&self.bgp, speaker) {
            report.bgp =
                Some(client.reconfigure(sc, bgp_io::local_addresses(&new), BGP_TIMEOUT)?);
        }
        if report.diff.routes_differ() {
            let mut rm = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            report.fib_changes = rm.v4.reload(&new.loopbacks, &new.routes)?
                + rm.v6.reload(&new.loopbacks, &new.routes6)?;
        }
        self.running.store(Arc::new(LoadedConfig {
            config: new,
            text,
            loaded_at: SystemTime::now(),
        }));
        Ok(report)
    }
}

/// Registers `show config`: the running config, secrets redacted.
pub fn register_show_config(reg: &Registry, running: RunningConfig) {
    reg.register(
        "show config",
        "the running configuration (TOML; passwords redacted)",
        move |_| {
            let c = running.load();
            let table = diff::redacted_toml(&c.text)?;
            let body = toml::to_string(&table).map_err(|e| e.to_string())?;
            let loaded = c
                .loaded_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let text = format!(
                "# running config, read from {} (unix time {loaded}); comments not kept\n{body}",
                c.config.file
            );
            let data = json!({
                "file": c.config.file,
                "loaded_at": loaded,
                "config": serde_json::to_value(&table).map_err(|e| e.to_string())?,
            });
            Ok(Reply::data(data).with_text(text))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diff::RouteLine;
    use crate::config::running::running_config;
    use crate::ports::PortInfo;
    use crate::rib::RouteManager;
    use crate::shared::Shared;

    const FILE: &str = r#"
[router]
worker_threads = 1

[[ports]]
name = "eth0"
addresses = ["10.0.2.15/24"]

[[ports]]
name = "eth2"
addresses = ["192.168.20.200/24"]

[[routes]]
prefix = "0.0.0.0/0"
via = "10.0.2.2"
"#;

    /// A reloader over `FILE` in a temporary file, with the route manager
    /// of a router started from it (no BGP).
    fn started(dir: &std::path::Path) -> (PathBuf, Reloader, RouteHandle) {
        let path = dir.join("router.toml");
        std::fs::write(&path, FILE).unwrap();
        let (cfg, text) = Config::load_text(&path).unwrap();
        let ports = cfg
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| PortInfo {
                id: i as u16,
                name: p.name.clone(),
                ifname: p.ifname.clone(),
                ifindex: 10 + i as u32,
                mac: [2, 0, 0, 0, 0, i as u8],
                mtu: 1500,
                addrs: p.addresses.clone(),
                addrs6: Vec::new(),
            })
            .collect();
        let mut rm = RouteManager::new(Shared::new(ports, 1));
        rm.set_connected(&cfg.loopbacks).unwrap();
        rm.set_static(&cfg.routes).unwrap();
        let routes = rm.into_handle();
        let r = Reloader::new(
            path.clone(),
            running_config(cfg, text),
            Arc::clone(&routes),
            None,
        );
        (path, r, routes)
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("router-reload-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reload_applies_routes_and_refusals_change_nothing() {
        let dir = tempdir("apply");
        let (path, mut r, routes) = started(&dir);
        let len = |routes: &RouteHandle| routes.lock().unwrap().len();
        let n0 = len(&routes);
        assert_eq!(
            r.reload().unwrap().to_string(),
            format!("{}: no changes\n", path.display())
        );

        // A route and a loopback added: one batch, three FIB entries.
        let more = FILE.to_string()
            + "[[routes]]\nprefix = \"172.20.2.0/24\"\nvia = \"192.168.20.100\"\n\
               [[loopbacks]]\nname = \"loop1\"\naddresses = [\"10.10.1.200/24\"]\n";
        std::fs::write(&path, &more).unwrap();
        let publications = routes.lock().unwrap().publications();
        let rep = r.reload().unwrap();
        assert_eq!(routes.lock().unwrap().publications(), publications + 1);
        assert_eq!(rep.fib_changes, 3, "{rep}");
        assert!(
            rep.to_string()
                .contains("route added 172.20.2.0/24 via 192.168.20.100"),
            "{rep}"
        );
        assert!(rep.to_string().contains("loopback added loop1"), "{rep}");
        assert_eq!(len(&routes), n0 + 3);
        assert_eq!(r.running().load().config.loopbacks.len(), 1);

        // An invalid file: the `router check` error, nothing changes.
        std::fs::write(&path, more.replace("192.168.20.100", "192.168.99.1")).unwrap();
        let e = r.reload().unwrap_err();
        let check = Config::load(&path).unwrap_err().to_string();
        assert!(matches!(e, ReloadError::Config(_)));
        assert_eq!(e.to_string(), check);
        assert!(
            check.starts_with(&format!("{}:", path.display())),
            "{check}"
        );
        // A key that cannot change live: refused by name, nothing changes.
        std::fs::write(
            &path,
            more.replace("worker_threads = 1", "worker_threads = 2"),
        )
        .unwrap();
        let e = r.reload().unwrap_err().to_string();
        assert!(e.contains("`router.worker_threads` cannot change"), "{e}");
        assert_eq!(len(&routes), n0 + 3);
        assert_eq!(r.running().load().text, more);

        // Back: removed again.
        std::fs::write(&path, FILE).unwrap();
        let rep = r.reload().unwrap();
        assert!(
            rep.to_string().contains("route removed 172.20.2.0/24"),
            "{rep}"
        );
        assert_eq!(len(&routes), n0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn report_lines() {
        let mut r = ReloadReport {
            file: "lab.toml".into(),
            ..ReloadReport::default()
        };
        assert_eq!(r.to_string(), "lab.toml: no changes\n");
        r.bgp = Some(bgp::ReconfigureReport::default());
        assert_eq!(r.to_string(), "lab.toml: no changes\n");
        r.diff.routes_added.push(RouteLine {
            prefix: "172.20.2.0/24".parse().unwrap(),
            target: "via 192.168.20.100".into(),
        });
        r.fib_changes = 1;
        let b = bgp::ReconfigureReport {
            networks_added: vec!["10.10.2.0/24".parse().unwrap()],
            ..Default::default()
        };
        r.bgp = Some(b);
        assert_eq!(
            r.to_string(),
            "route added 172.20.2.0/24 via 192.168.20.100\n\
             fib: 1 changes in one batch\n\
             bgp: network added 10.10.2.0/24\n"
        );
        let e = ReloadError::Refused(vec![Refusal {
            key: "router.worker_threads".into(),
            message: "why".into(),
        }]);
        assert_eq!(
            e.to_string(),
            "reload refused, the running config stays:\n  `router.worker_threads` cannot change while the router runs: why"
        );
    }
}
