//! Speaker configuration. The same structs are deserialised from the
//! router's TOML (`[bgp]` section) — every struct denies unknown fields so a
//! typo is an error, not a silently ignored setting.
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The address family type lives with the codec (it is an AFI/SAFI pair);
/// configuration names it here too.
pub use crate::wire::Family;

/// Hold time we propose when nothing is configured (RFC 4271 §10 suggests 90 s).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// ConnectRetryTimer (RFC 4271 §10 suggests 120 s).
pub const DEFAULT_CONNECT_RETRY: u16 = 120;
/// Restart time we advertise in the graceful restart capability.
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// How long stale routes survive after the peer is back but before its
/// End-of-RIB (FRR's `stalepath-time`, BIRD's `long lived` analogue).
pub const DEFAULT_STALE_ROUTES_TIME: u16 = 360;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpeakerConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Prefixes we originate, with next-hop self, ORIGIN IGP.
    #[serde(default)]
    pub networks: Vec<IpNet>,
    /// `maximum-paths N`: how many equal paths form one ECMP route (1 = off).
    #[serde(default = "default_maximum_paths")]
    pub maximum_paths: u8,
    /// `bgp bestpath as-path multipath-relax`: paths with AS_PATHs of the
    /// same length but different content may be multipath.
    #[serde(default)]
    pub multipath_relax: bool,
    #[serde(default)]
    pub graceful_restart: GracefulRestartConfig,
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    #[serde(default)]
    pub neighbors: Vec<NeighborConfig>,
    /// Dynamic neighbours: sessions accepted from any address in `prefix`,
    /// with the settings of `group`.
    #[serde(default)]
    pub listen_ranges: Vec<ListenRange>,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        SpeakerConfig {
            local_as: 0,
            router_id: Ipv4Addr::UNSPECIFIED,
            networks: Vec::new(),
            maximum_paths: 1,
            multipath_relax: false,
            graceful_restart: GracefulRestartConfig::default(),
            groups: Vec::new(),
            neighbors: Vec::new(),
            listen_ranges: Vec::new(),
        }
    }
}

fn default_maximum_paths() -> u8 {
    1
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestartConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    #[serde(default = "default_stale_routes_time")]
    pub stale_routes_time: u16,
    /// Advertise the RFC 8538 "N" bit (graceful restart also on NOTIFICATION
    /// and hold timer expiry, Hard Reset for real resets).
    #[serde(default = "default_true")]
    pub notification: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            enabled: false,
            restart_time: DEFAULT_RESTART_TIME,
            stale_routes_time: DEFAULT_STALE_ROUTES_TIME,
            notification: true,
        }
    }
}

fn default_restart_time() -> u16 {
    DEFAULT_RESTART_TIME
}
fn default_stale_routes_time() -> u16 {
    DEFAULT_STALE_ROUTES_TIME
}
fn default_true() -> bool {
    true
}

/// The peer's AS: a number, `"external"` (any AS but ours) or `"internal"` (ours).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RemoteAs {
    Number(u32),
    External,
    Internal,
}

impl RemoteAs {
    /// Whether an OPEN's AS is acceptable for this setting.
    pub fn accepts(self, remote: u32, local: u32) -> bool {
        match self {
            RemoteAs::Number(n) => n == remote,
            RemoteAs::External => remote != local,
            RemoteAs::Internal => remote == local,
        }
    }
}

impl Serialize for RemoteAs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RemoteAs::Number(n) => s.serialize_u32(*n),
            RemoteAs::External => s.serialize_str("external"),
            RemoteAs::Internal => s.serialize_str("internal"),
        }
    }
}

impl<'de> Deserialize<'de> for RemoteAs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RemoteAs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an AS number (1..=4294967295), \"external\" or \"internal\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RemoteAs, E> {
                match u32::try_from(v) {
                    Ok(n) if n != 0 => Ok(RemoteAs::Number(n)),
                    _ => Err(E::custom(format!(
                        "AS number {v} out of range 1..=4294967295"
                    ))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RemoteAs, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("AS number {v} out of range")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RemoteAs, E> {
                match v {
                    "external" => Ok(RemoteAs::External),
                    "internal" => Ok(RemoteAs::Internal),
                    other => other
                        .parse::<u64>()
                        .map_err(|_| E::custom(format!("expected an AS number, \"external\" or \"internal\", got {other:?}")))
                        .and_then(|n| self.visit_u64(n)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Allowed prefixes (like a prefix-list of `permit` entries); anything not
/// matched is rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFilter {
    pub allow: Vec<PrefixRule>,
}

impl ImportFilter {
    pub fn permits(&self, prefix: &IpNet) -> bool {
        self.allow.iter().any(|r| r.matches(prefix))
    }
}

/// `prefix [ge N] [le M]`: matches prefixes inside `prefix` whose length is
/// in `ge..=le`; with neither, only `prefix` itself (prefix-list semantics).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRule {
    pub prefix: IpNet,
    #[serde(default)]
    pub ge: Option<u8>,
    #[serde(default)]
    pub le: Option<u8>,
}

impl PrefixRule {
    pub fn matches(&self, p: &IpNet) -> bool {
        let base = self.prefix.prefix_len();
        let (lo, hi) = match (self.ge, self.le) {
            (None, None) => (base, base),
            (Some(g), None) => (g, p.max_prefix_len()),
            (None, Some(l)) => (base, l),
            (Some(g), Some(l)) => (g, l),
        };
        self.prefix.contains(p) && (lo..=hi).contains(&p.prefix_len())
    }
}

macro_rules! with_peer_settings {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            #[serde(default)]
            pub remote_as: Option<RemoteAs>,
            /// Proposed hold time in seconds: 0 (no keepalives) or >= 3.
            #[serde(default)]
            pub hold_time: Option<u16>,
            /// Keepalive interval in seconds (default: negotiated hold / 3).
            #[serde(default)]
            pub keepalive: Option<u16>,
            #[serde(default)]
            pub connect_retry: Option<u16>,
            /// Never open connections; wait for the peer.
            #[serde(default)]
            pub passive: Option<bool>,
            /// Cease (subcode 1) when the peer sends more prefixes than this.
            #[serde(default)]
            pub max_prefix: Option<u32>,
            #[serde(default)]
            pub import: Option<ImportFilter>,
            #[serde(default)]
            pub families: Option<Vec<Family>>,
            #[serde(default)]
            pub graceful_restart: Option<bool>,
            #[serde(default)]
            pub description: Option<String>,
        }

        impl $name {
            pub fn settings(&self) -> PeerSettings {
                PeerSettings {
                    remote_as: self.remote_as,
                    hold_time: self.hold_time,
                    keepalive: self.keepalive,
                    connect_retry: self.connect_retry,
                    passive: self.passive,
                    max_prefix: self.max_prefix,
                    import: self.import.clone(),
                    families: self.families.clone(),
                    graceful_restart: self.graceful_restart,
                    description: self.description.clone(),
                }
            }
        }
    };
}

impl NeighborConfig {
    /// A neighbour with only its address set.
    pub fn new(address: IpAddr) -> NeighborConfig {
        NeighborConfig {
            address,
            group: None,
            remote_as: None,
            hold_time: None,
            keepalive: None,
            connect_retry: None,
            passive: None,
            max_prefix: None,
            import: None,
            families: None,
            graceful_restart: None,
            description: None,
        }
    }
}

with_peer_settings! {
    /// A peer group (`neighbor NAME peer-group`).
    #[derive(Default)]
    pub struct GroupConfig {
        pub name: String,
    }
}

with_peer_settings! {
    /// A configured neighbour; unset fields come from its group, then defaults.
    pub struct NeighborConfig {
        pub address: IpAddr,
        #[serde(default)]
        pub group: Option<String>,
    }
}

with_peer_settings! {
    /// The per-peer knobs shared by groups and neighbours (all optional).
    #[derive(Default)]
    pub struct PeerSettings {}
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenRange {
    pub prefix: IpNet,
    pub group: String,
}

impl PeerSettings {
    /// `self` with unset fields taken from `lower`.
    pub fn or(&self, lower: &PeerSettings) -> PeerSettings {
        PeerSettings {
            remote_as: self.remote_as.or(lower.remote_as),
            hold_time: self.hold_time.or(lower.hold_time),
            keepalive: self.keepalive.or(lower.keepalive),
            connect_retry: self.connect_retry.or(lower.connect_retry),
            passive: self.passive.or(lower.passive),
            max_prefix: self.max_prefix.or(lower.max_prefix),
            import: self.import.clone().or_else(|| lower.import.clone()),
            families: self.families.clone().or_else(|| lower.families.clone()),
            graceful_restart: self.graceful_restart.or(lower.graceful_restart),
            description: self
                .description
                .clone()
                .or_else(|| lower.description.clone()),
        }
    }
}

/// Settings of one peer after merging neighbour, group and defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectivePeerConfig {
    pub remote_as: RemoteAs,
    pub hold_time: u16,
    pub keepalive: Option<u16>,
    pub connect_retry: u16,
    pub passive: bool,
    pub max_prefix: Option<u32>,
    pub import: Option<ImportFilter>,
    pub families: Vec<Family>,
    pub graceful_restart: bool,
    pub group: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("local_as must not be 0")]
    ZeroLocalAs,
    #[error("router_id must not be 0.0.0.0")]
    ZeroRouterId,
    #[error("{what}: hold_time {value} must be 0 or at least 3 seconds")]
    HoldTime { what: String, value: u16 },
    #[error("{what}: keepalive {keepalive} must be at most a third of hold_time {hold}")]
    Keepalive {
        what: String,
        keepalive: u16,
        hold: u16,
    },
    #[error("{what}: remote_as is not set (neither on the neighbour nor on its group)")]
    NoRemoteAs { what: String },
    #[error("{what}: unknown group {group:?}")]
    UnknownGroup { what: String, group: String },
    #[error("duplicate group {0:?}")]
    DuplicateGroup(String),
    #[error("duplicate neighbor {0}")]
    DuplicateNeighbor(IpAddr),
    #[error("maximum_paths must be 1..=64, got {0}")]
    MaximumPaths(u8),
    #[error("{what}: families must not be empty")]
    NoFamilies { what: String },
    #[error(
        "{what}: prefix rule {prefix} has ge {ge:?} / le {le:?} outside {len}..={max} or ge > le"
    )]
    PrefixRule {
        what: String,
        prefix: IpNet,
        ge: Option<u8>,
        le: Option<u8>,
        len: u8,
        max: u8,
    },
    #[error("graceful_restart.restart_time {0} must fit in 12 bits (<= 4095)")]
    RestartTime(u16),
}

impl SpeakerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        // RFC 7607 §2: "A router MUST NOT initiate a connection claiming to
        // be AS 0."
        if self.local_as == 0 {
            return Err(ConfigError::ZeroLocalAs);
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::ZeroRouterId);
        }
        if self.maximum_paths == 0 || self.maximum_paths > 64 {
            return Err(ConfigError::MaximumPaths(self.maximum_paths));
        }
        if self.graceful_restart.restart_time > 4095 {
            return Err(ConfigError::RestartTime(self.graceful_restart.restart_time));
        }
        let mut names = HashSet::new();
        for g in &self.groups {
            if !names.insert(g.name.as_str()) {
                return Err(ConfigError::DuplicateGroup(g.name.clone()));
            }
            check_settings(&format!("group {}", g.name), &g.settings())?;
        }
        let mut addrs = HashSet::new();
        for n in &self.neighbors {
            if !addrs.insert(n.address) {
                return Err(ConfigError::DuplicateNeighbor(n.address));
            }
            let eff = self.neighbor_settings(n)?;
            let _ = eff;
        }
        for r in &self.listen_ranges {
            self.group_settings(&r.group, &format!("listen range {}", r.prefix))?;
        }
        Ok(())
    }

    fn group_settings(&self, name: &str, what: &str) -> Result<EffectivePeerConfig, ConfigError> {
        let g = self.groups.iter().find(|g| g.name == name).ok_or_else(|| {
            ConfigError::UnknownGroup {
                what: what.to_string(),
                group: name.to_string(),
            }
        })?;
        self.effective(&g.settings(), Some(name.to_string()), what)
    }

    /// Merged settings of a configured neighbour.
    pub fn neighbor_settings(
        &self,
        n: &NeighborConfig,
    ) -> Result<EffectivePeerConfig, ConfigError> {
        let what = format!("neighbor {}", n.address);
        let mut s = n.settings();
        if let Some(gname) = &n.group {
            let g = self
                .groups
                .iter()
                .find(|g| &g.name == gname)
                .ok_or_else(|| ConfigError::UnknownGroup {
                    what: what.clone(),
                    group: gname.clone(),
                })?;
            s = s.or(&g.settings());
        }
        self.effective(&s, n.group.clone(), &what)
    }

    /// Settings for a dynamic neighbour accepted through a listen range.
    pub fn range_settings(&self, r: &ListenRange) -> Result<EffectivePeerConfig, ConfigError> {
        let mut eff = self.group_settings(&r.group, &format!("listen range {}", r.prefix))?;
        eff.passive = true;
        Ok(eff)
    }

    fn effective(
        &self,
        s: &PeerSettings,
        group: Option<String>,
        what: &str,
    ) -> Result<EffectivePeerConfig, ConfigError> {
        check_settings(what, s)?;
        let remote_as = s.remote_as.ok_or_else(|| ConfigError::NoRemoteAs {
            what: what.to_string(),
        })?;
        let hold_time = s.hold_time.unwrap_or(DEFAULT_HOLD_TIME);
        if let Some(k) = s.keepalive {
            if hold_time != 0 && k > hold_time / 3 {
                return Err(ConfigError::Keepalive {
                    what: what.to_string(),
                    keepalive: k,
                    hold: hold_time,
                });
            }
        }
        Ok(EffectivePeerConfig {
            remote_as,
            hold_time,
            keepalive: s.keepalive,
            connect_retry: s.connect_retry.unwrap_or(DEFAULT_CONNECT_RETRY).max(1),
            passive: s.passive.unwrap_or(false),
            max_prefix: s.max_prefix,
            import: s.import.clone(),
            families: s.families.clone().unwrap_or_else(|| Family::ALL.to_vec()),
            graceful_restart: s.graceful_restart.unwrap_or(self.graceful_restart.enabled),
            group,
            description: s.description.clone(),
        })
    }
}

fn check_settings(what: &str, s: &PeerSettings) -> Result<(), ConfigError> {
    if let Some(h) = s.hold_time {
        if h == 1 || h == 2 {
            return Err(ConfigError::HoldTime {
                what: what.to_string(),
                value: h,
            });
        }
    }
    if let Some(f) = &s.families {
        if f.is_empty() {
            return Err(ConfigError::NoFamilies {
                what: what.to_string(),
            });
        }
    }
    if let Some(imp) = &s.import {
        for r in &imp.allow {
            let len = r.prefix.prefix_len();
            let max = r.prefix.max_prefix_len();
            let ok_ge = r.ge.is_none_or(|g| g >= len && g <= max);
            let ok_le = r.le.is_none_or(|l| l >= len && l <= max);
            let ok_order = match (r.ge, r.le) {
                (Some(g), Some(l)) => g <= l,
                _ => true,
            };
            if !(ok_ge && ok_le && ok_order) {
                return Err(ConfigError::PrefixRule {
                    what: what.to_string(),
                    prefix: r.prefix,
                    ge: r.ge,
                    le: r.le,
                    len,
                    max,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rule_semantics() {
        let r = PrefixRule {
            prefix: "172.20.0.0/16".parse().unwrap(),
            ge: None,
            le: Some(24),
        };
        assert!(r.matches(&"172.20.2.0/24".parse().unwrap()));
        assert!(r.matches(&"172.20.0.0/16".parse().unwrap()));
        assert!(!r.matches(&"172.20.2.1/32".parse().unwrap()));
        assert!(!r.matches(&"172.21.0.0/24".parse().unwrap()));
        let exact = PrefixRule {
            prefix: "10.0.0.0/8".parse().unwrap(),
            ge: None,
            le: None,
        };
        assert!(exact.matches(&"10.0.0.0/8".parse().unwrap()));
        assert!(!exact.matches(&"10.1.0.0/16".parse().unwrap()));
        let ge = PrefixRule {
            prefix: "0.0.0.0/0".parse().unwrap(),
            ge: Some(32),
            le: None,
        };
        assert!(ge.matches(&"172.16.1.1/32".parse().unwrap()));
        assert!(!ge.matches(&"172.16.1.0/24".parse().unwrap()));
    }

    #[test]
    fn neighbor_inherits_group() {
        let cfg = SpeakerConfig {
            local_as: 65000,
            router_id: "192.168.10.200".parse().unwrap(),
            maximum_paths: 4,
            groups: vec![GroupConfig {
                name: "CILIUM".into(),
                remote_as: Some(RemoteAs::External),
                hold_time: Some(9),
                ..Default::default()
            }],
            neighbors: vec![NeighborConfig {
                group: Some("CILIUM".into()),
                hold_time: Some(30),
                ..NeighborConfig::new("192.168.10.100".parse().unwrap())
            }],
            ..Default::default()
        };
        cfg.validate().unwrap();
        let eff = cfg.neighbor_settings(&cfg.neighbors[0]).unwrap();
        assert_eq!(eff.remote_as, RemoteAs::External);
        assert_eq!(eff.hold_time, 30);
        assert_eq!(eff.families, Family::ALL.to_vec());
        let mut bad = cfg.clone();
        bad.neighbors[0].group = Some("NOPE".into());
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::UnknownGroup { .. })
        ));
        let mut bad = cfg;
        bad.groups[0].hold_time = Some(2);
        assert!(matches!(bad.validate(), Err(ConfigError::HoldTime { .. })));
    }

    #[test]
    fn remote_as_accepts() {
        assert!(RemoteAs::External.accepts(65001, 65000));
        assert!(!RemoteAs::External.accepts(65000, 65000));
        assert!(RemoteAs::Internal.accepts(65000, 65000));
        assert!(RemoteAs::Number(7).accepts(7, 65000));
    }
}
