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
            Some(b) => Some(
                b.to_speaker_config()
                    .map_err(|e| ReloadError::Bgp(BgpIoError::Refused(e.to_string())))?,
            ),
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
            report.fib_changes = rm.reload(&new.loopbacks, &new.routes)?;
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
