//! `[bgp]` section of the router config.
//!
//! The TOML schema is the operator's view (names after FRR's
//! `router bgp` block); [`BgpConfig::to_speaker_config`] checks it and turns
//! it into the sans-IO speaker's [`bgp::config::SpeakerConfig`]. Values whose
//! meaning is checked after parsing are kept as [`toml::Spanned`] so an error
//! can name the line of the offending key (serde's own errors carry spans
//! already).
//!
//! ```toml
//! [bgp]
//! asn = 65000
//! router_id = "192.168.10.200"
//! networks = ["10.10.1.0/24"]
//! maximum_paths = 4
//! multipath_relax = true
//! graceful_restart = { enabled = true, restart_time = 120 }
//!
//! [[bgp.groups]]
//! name = "CILIUM"
//! remote_as = "external"
//!
//! [[bgp.neighbors]]
//! address = "192.168.10.100"
//! group = "CILIUM"
//! password_file = "/etc/router/bgp-secret"   # TCP-MD5 (RFC 2385); or password = "..."
//!
//! [[bgp.listen]]              # dynamic neighbours (FRR `bgp listen range`)
//! prefix = "192.168.20.0/24"
//! group = "CILIUM"
//! ```
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::Path;

use bgp::config as bc;
use ipnet::{IpNet, Ipv4Net};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The AS a neighbour must have: a number, or any AS but ours ("external",
/// FRR's `remote-as external`), or ours ("internal").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAs {
    Number(u32),
    External,
    Internal,
}

impl<'de> Deserialize<'de> for RemoteAs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RemoteAs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an AS number (1..=4294967295), \"external\" or \"internal\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RemoteAs, E> {
                match u32::try_from(v) {
                    Ok(n) if n != 0 => Ok(RemoteAs::Number(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RemoteAs, E> {
                match u32::try_from(v) {
                    Ok(n) if n != 0 => Ok(RemoteAs::Number(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RemoteAs, E> {
                match v {
                    "external" => Ok(RemoteAs::External),
                    "internal" => Ok(RemoteAs::Internal),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One entry of an import filter: `prefix` itself, or (with `ge`/`le`) every
/// more specific prefix inside it whose length is in `ge..=le` (FRR
/// prefix-list semantics). The list ends with an implicit deny.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRule {
    pub prefix: Spanned<IpNet>,
    pub ge: Option<u8>,
    pub le: Option<u8>,
}

/// `graceful_restart = { ... }` at the `[bgp]` level (`bgp graceful-restart`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestart {
    #[serde(default)]
    pub enabled: bool,
    /// Seconds a peer should keep our routes while we restart (advertised).
    #[serde(default = "default_restart_time")]
    pub restart_time: Spanned<u16>,
    /// Seconds we keep a restarted peer's stale routes waiting for its End-of-RIB.
    pub stale_routes_time: Option<u16>,
    /// Advertise the RFC 8538 "N" bit (graceful restart also on NOTIFICATION).
    pub notification: Option<bool>,
}

fn default_restart_time() -> Spanned<u16> {
    Spanned::new(0..0, 120)
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: false,
            restart_time: default_restart_time(),
            stale_routes_time: None,
            notification: None,
        }
    }
}

/// `[[bgp.groups]]`: settings shared by neighbours (FRR's peer-group).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: Spanned<String>,
    pub remote_as: Option<Spanned<RemoteAs>>,
    pub hold_time: Option<Spanned<u16>>,
    pub keepalive: Option<Spanned<u16>>,
    pub connect_retry: Option<Spanned<u16>>,
    pub max_prefix: Option<Spanned<u32>>,
    pub passive: Option<bool>,
    pub graceful_restart: Option<bool>,
    pub families: Option<Vec<bc::Family>>,
    pub description: Option<String>,
    /// Allowed prefixes; absent = accept everything (eBGP accept-all, like
    /// FRR's `no bgp ebgp-requires-policy`).
    pub import: Option<Vec<PrefixRule>>,
    /// TCP-MD5 (RFC 2385) key, FRR's `neighbor X password`.
    pub password: Option<Spanned<String>>,
    /// A file holding the key (a Kubernetes Secret mounted as a file); one
    /// trailing newline is not part of it. Relative to the config file.
    pub password_file: Option<Spanned<String>>,
}

/// `[[bgp.neighbors]]`: one configured peer; its own keys override its group's.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborConfig {
    pub address: Spanned<IpAddr>,
    pub group: Option<Spanned<String>>,
    pub remote_as: Option<Spanned<RemoteAs>>,
    pub hold_time: Option<Spanned<u16>>,
    pub keepalive: Option<Spanned<u16>>,
    pub connect_retry: Option<Spanned<u16>>,
    pub max_prefix: Option<Spanned<u32>>,
    pub passive: Option<bool>,
    pub graceful_restart: Option<bool>,
    pub families: Option<Vec<bc::Family>>,
    pub description: Option<String>,
    pub import: Option<Vec<PrefixRule>>,
    /// TCP-MD5 key; with `password_file`, overrides the group's.
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
}

/// `[[bgp.listen]]`: accept sessions from any address in `prefix` with the
/// group's settings (FRR's `bgp listen range PREFIX peer-group NAME`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenRange {
    pub prefix: Spanned<IpNet>,
    pub group: Spanned<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpConfig {
    /// Our AS number (2- or 4-octet).
    pub asn: Spanned<u32>,
    pub router_id: Ipv4Addr,
    /// Prefixes we announce with next-hop self (`network 10.10.1.0/24`), IPv4
    /// or IPv6 (sent to peers that negotiated IPv6 unicast, with the next hop
    /// of the session's port).
    #[serde(default)]
    pub networks: Vec<Spanned<IpNet>>,
    /// Most paths installed for one prefix (ECMP); 1 = best path only.
    #[serde(default = "default_maximum_paths")]
    pub maximum_paths: Spanned<u8>,
    /// Paths with different neighbouring AS may share ECMP if their AS_PATH
    /// lengths match (`bgp bestpath as-path multipath-relax`).
    #[serde(default)]
    pub multipath_relax: bool,
    #[serde(default)]
    pub graceful_restart: GracefulRestart,
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    #[serde(default)]
    pub neighbors: Vec<NeighborConfig>,
    #[serde(default)]
    pub listen: Vec<ListenRange>,
}

fn default_maximum_paths() -> Spanned<u8> {
    Spanned::new(0..0, 1)
}

/// A `[bgp]` value that parsed but makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BgpConfigError {
    /// Dotted path of the key, e.g. `bgp.neighbors[1].group`.
    pub field: String,
    /// Byte range in the config file, when known (map to a line with the file text).
    pub span: Option<Range<usize>>,
    pub message: String,
}

fn err<T>(
    field: String,
    span: Option<Range<usize>>,
    message: impl Into<String>,
) -> Result<T, BgpConfigError> {
    Err(BgpConfigError {
        field,
        span,
        message: message.into(),
    })
}

fn span_of<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    let r = s.span();
    if r.start == 0 && r.end == 0 {
        None
    } else {
        Some(r)
    }
}

/// Checks the timer triple shared by groups and neighbours.
fn check_timers(
    path: &str,
    hold: Option<&Spanned<u16>>,
    keepalive: Option<&Spanned<u16>>,
    connect_retry: Option<&Spanned<u16>>,
) -> Result<(), BgpConfigError> {
    if let Some(h) = hold {
        // RFC 4271 §4.2: "Hold Time MUST be either zero or at least three seconds."
        if *h.get_ref() == 1 || *h.get_ref() == 2 {
            return err(
                format!("{path}.hold_time"),
                span_of(h),
                "must be 0 or at least 3 seconds (RFC 4271 §4.2)",
            );
        }
        if let Some(k) = keepalive {
            // RFC 4271 §4.4: "A reasonable maximum time between KEEPALIVE
            // messages would be one third of the Hold Time interval."
            if *h.get_ref() != 0 && u32::from(*k.get_ref()) * 3 > u32::from(*h.get_ref()) {
                return err(
                    format!("{path}.keepalive"),
                    span_of(k),
                    "must be at most a third of hold_time",
                );
            }
        }
    }
    if let Some(c) = connect_retry {
        if *c.get_ref() == 0 {
            return err(
                format!("{path}.connect_retry"),
                span_of(c),
                "must be at least 1 second",
            );
        }
    }
    Ok(())
}

fn convert_import(
    path: &str,
    rules: &Option<Vec<PrefixRule>>,
) -> Result<Option<bc::ImportFilter>, BgpConfigError> {
    let Some(rules) = rules else { return Ok(None) };
    let mut allow = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let p = *r.prefix.get_ref();
        let here = format!("{path}.import[{i}]");
        if p.addr() != p.network() {
            return err(
                format!("{here}.prefix"),
                span_of(&r.prefix),
                format!("{p} has host bits set (did you mean {}?)", p.trunc()),
            );
        }
        let max = p.max_prefix_len();
        let ge = r.ge.unwrap_or(p.prefix_len());
        let le =
            r.le.unwrap_or(if r.ge.is_some() { max } else { p.prefix_len() });
        // FRR prefix-list rule: len(prefix) <= ge <= le <= max.
        if ge < p.prefix_len() || ge > le || le > max {
            return err(
                here,
                span_of(&r.prefix),
                format!("need {} <= ge ({ge}) <= le ({le}) <= {max}", p.prefix_len()),
            );
        }
        allow.push(bc::PrefixRule {
            prefix: p,
            ge: r.ge,
            le: r.le,
        });
    }
    Ok(Some(bc::ImportFilter { allow }))
}

impl BgpConfig {
    /// Checks cross-references and ranges, and builds the speaker's config.
    pub fn to_speaker_config(&self) -> Result<bc::SpeakerConfig, BgpConfigError> {
        let asn = *self.asn.get_ref();
        // RFC 4271 §4.2 / RFC 7607: AS 0 is reserved and must not be used.
        if asn == 0 {
            return err(
                "bgp.asn".into(),
                span_of(&self.asn),
                "AS 0 is reserved (RFC 7607)",
            );
        }
        if self.router_id.is_unspecified() {
            return err(
                "bgp.router_id".into(),
                None,
                "0.0.0.0 is not a valid BGP identifier (RFC 4271 §6.2)",
            );
        }
        let mp = *self.maximum_paths.get_ref();
        if mp == 0 || mp > 64 {
            return err(
                "bgp.maximum_paths".into(),
                span_of(&self.maximum_paths),
                "must be in 1..=64",
            );
        }
        let mut networks = Vec::with_capacity(self.networks.len());
        for (i, n) in self.networks.iter().enumerate() {
            let net = *n.get_ref();
            if net.addr() != net.network() {
                return err(
                    format!("bgp.networks[{i}]"),
                    span_of(n),
                    format!("{net} has host bits set (did you mean {}?)", net.trunc()),
                );
            }
            networks.push(net);
        }
        let gr = &self.graceful_restart;
        // RFC 4724 §3: the Restart Time field is 12 bits.
        if *gr.restart_time.get_ref() > 4095 {
            return err(
                "bgp.graceful_restart.restart_time".into(),
                span_of(&gr.restart_time),
                "must be at most 4095 seconds (12-bit field, RFC 4724 §3)",
            );
        }

        let mut group_names: HashMap<&str, usize> = HashMap::new();
        let mut groups = Vec::with_capacity(self.groups.len());
        for (i, g) in self.groups.iter().enumerate() {
            let path = format!("bgp.groups[{i}]");
            if g.name.get_ref().is_empty() {
                return err(
                    format!("{path}.name"),
                    span_of(&g.name),
                    "must not be empty",
                );
            }
            if group_names.insert(g.name.get_ref(), i).is_some() {
                return err(
                    format!("{path}.name"),
                    span_of(&g.name),
                    format!("duplicate group {:?}", g.name.get_ref()),
                );
            }
            check_timers(
                &path,
                g.hold_time.as_ref(),
                g.keepalive.as_ref(),
                g.connect_retry.as_ref(),
            )?;
            groups.push(bc::GroupConfig {
                name: g.name.get_ref().clone(),
                remote_as: g.remote_as.as_ref().map(|r| to_bc_remote_as(*r.get_ref())),
                hold_time: g.hold_time.as_ref().map(|v| *v.get_ref()),
                keepalive: g.keepalive.as_ref().map(|v| *v.get_ref()),
                connect_retry: g.connect_retry.as_ref().map(|v| *v.get_ref()),
                passive: g.passive,
                max_prefix: g.max_prefix.as_ref().map(|v| *v.get_ref()),
                import: convert_import(&path, &g.import)?,
                families: g.families.clone(),
                graceful_restart: g.graceful_restart,
                description: g.description.clone(),
            });
        }

        let group_of =
            |path: &str, name: &Spanned<String>| -> Result<&GroupConfig, BgpConfigError> {
                match group_names.get(name.get_ref().as_str()) {
                    Some(&i) => Ok(&self.groups[i]),
                    None => err(
                        format!("{path}.group"),
                        span_of(name),
                        format!("no group named {:?}", name.get_ref()),
                    ),
                }
            };

        let mut seen = HashSet::new();
        let mut neighbors = Vec::with_capacity(self.neighbors.len());
        for (i, n) in self.neighbors.iter().enumerate() {
            let path = format!("bgp.neighbors[{i}]");
            let addr = *n.address.get_ref();
            if !seen.insert(addr) {
                return err(
                    format!("{path}.address"),
                    span_of(&n.address),
                    format!("duplicate neighbour {addr}"),
                );
            }
            if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
                return err(
                    format!("{path}.address"),
                    span_of(&n.address),
                    format!("{addr} cannot be a BGP neighbour"),
                );
            }
            let group = match &n.group {
                Some(g) => Some(group_of(&path, g)?),
                None => None,
            };
            check_timers(
                &path,
                n.hold_time.as_ref(),
                n.keepalive.as_ref(),
                n.connect_retry.as_ref(),
            )?;
            if n.remote_as.is_none() && group.and_then(|g| g.remote_as.as_ref()).is_none() {
                return err(
                    format!("{path}.remote_as"),
                    span_of(&n.address),
                    format!("neighbour {addr} needs remote_as (here or in its group)"),
                );
            }
            neighbors.push(bc::NeighborConfig {
                address: addr,
                group: n.group.as_ref().map(|g| g.get_ref().clone()),
                remote_as: n.remote_as.as_ref().map(|r| to_bc_remote_as(*r.get_ref())),
                hold_time: n.hold_time.as_ref().map(|v| *v.get_ref()),
                keepalive: n.keepalive.as_ref().map(|v| *v.get_ref()),
                connect_retry: n.connect_retry.as_ref().map(|v| *v.get_ref()),
                passive: n.passive,
                max_prefix: n.max_prefix.as_ref().map(|v| *v.get_ref()),
                import: convert_import(&path, &n.import)?,
                families: n.families.clone(),
                graceful_restart: n.graceful_restart,
                description: n.description.clone(),
            });
        }

        let mut listen_ranges = Vec::with_capacity(self.listen.len());
        for (i, l) in self.listen.iter().enumerate() {
            let path = format!("bgp.listen[{i}]");
            let p = *l.prefix.get_ref();
            if p.addr() != p.network() {
                return err(
                    format!("{path}.prefix"),
                    span_of(&l.prefix),
                    format!("{p} has host bits set (did you mean {}?)", p.trunc()),
                );
            }
            let g = group_of(&path, &l.group)?;
            if g.remote_as.is_none() {
                return err(
                    format!("{path}.group"),
                    span_of(&l.group),
                    format!(
                        "group {:?} needs remote_as for dynamic neighbours",
                        g.name.get_ref()
                    ),
                );
            }
            listen_ranges.push(bc::ListenRange {
                prefix: p,
                group: l.group.get_ref().clone(),
            });
        }

        let cfg = bc::SpeakerConfig {
            local_as: asn,
            router_id: self.router_id,
            networks,
            maximum_paths: mp,
            multipath_relax: self.multipath_relax,
            graceful_restart: bc::GracefulRestartConfig {
                enabled: gr.enabled,
                restart_time: *gr.restart_time.get_ref(),
                stale_routes_time: gr.stale_routes_time.unwrap_or(360),
                notification: gr.notification.unwrap_or(true),
            },
            groups,
            neighbors,
            listen_ranges,
        };
        // The speaker's own checks come last; what it still rejects is reported
        // against the section as a whole.
        cfg.validate().map_err(|e| BgpConfigError {
            field: "bgp".into(),
            span: None,
            message: e.to_string(),
        })?;
        Ok(cfg)
    }
}

/// A TCP-MD5 key as configured. Never printed: `Debug` shows its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} bytes>)", self.0.len())
    }
}

/// Longest key Linux (TCP_MD5SIG_MAXKEYLEN), and so gobgpd, BIRD and FRR,
/// accept.
pub const MAX_PASSWORD_LEN: usize = 80;

/// The TCP-MD5 key of one neighbour or group: `password` or the contents
/// of `password_file`, not both.
fn password_of(
    path: &str,
    password: Option<&Spanned<String>>,
    password_file: Option<&Spanned<String>>,
    base: &Path,
) -> Result<Option<Password>, BgpConfigError> {
    let (bytes, field, span) = match (password, password_file) {
        (None, None) => return Ok(None),
        (Some(_), Some(f)) => {
            return err(
                format!("{path}.password_file"),
                span_of(f),
                "set either password or password_file, not both",
            )
        }
        (Some(p), None) => (
            p.get_ref().as_bytes().to_vec(),
            format!("{path}.password"),
            span_of(p),
        ),
        (None, Some(f)) => {
            let file = base.join(f.get_ref());
            let mut bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    return err(
                        format!("{path}.password_file"),
                        span_of(f),
                        format!("cannot read {}: {e}", file.display()),
                    )
                }
            };
            // `echo secret > file` and Secrets written by editors end in a
            // newline that is not part of the key.
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            (bytes, format!("{path}.password_file"), span_of(f))
        }
    };
    if bytes.is_empty() {
        return err(field, span, "the TCP-MD5 password is empty");
    }
    if bytes.len() > MAX_PASSWORD_LEN {
        return err(
            field,
            span,
            format!(
                "the TCP-MD5 password is {} bytes, longer than {MAX_PASSWORD_LEN} (the Linux limit peers share)",
                bytes.len()
            ),
        );
    }
    Ok(Some(Password(bytes)))
}

impl BgpConfig {
    /// TCP-MD5 keys by peer: each configured IPv4 neighbour's own key or its
    /// group's (as a /32), and each IPv4 listen range whose group has one.
    /// Password files are read now, relative to `base` (the config file's
    /// folder). IPv6 peers have no TCP transport yet and get no key.
    pub fn tcp_md5_keys(&self, base: &Path) -> Result<Vec<(Ipv4Net, Password)>, BgpConfigError> {
        let mut groups: HashMap<&str, Option<Password>> = HashMap::new();
        for (i, g) in self.groups.iter().enumerate() {
            let k = password_of(
                &format!("bgp.groups[{i}]"),
                g.password.as_ref(),
                g.password_file.as_ref(),
                base,
            )?;
            groups.insert(g.name.get_ref(), k);
        }
        let group_key = |name: Option<&Spanned<String>>| {
            name.and_then(|n| groups.get(n.get_ref().as_str()).cloned().flatten())
        };
        let mut out = Vec::new();
        for (i, n) in self.neighbors.iter().enumerate() {
            let own = password_of(
                &format!("bgp.neighbors[{i}]"),
                n.password.as_ref(),
                n.password_file.as_ref(),
                base,
            )?;
            let key = own.or_else(|| group_key(n.group.as_ref()));
            if let (IpAddr::V4(a), Some(k)) = (*n.address.get_ref(), key) {
                out.push((Ipv4Net::from(a), k));
            }
        }
        for l in &self.listen {
            if let (IpNet::V4(p), Some(k)) = (*l.prefix.get_ref(), group_key(Some(&l.group))) {
                out.push((p, k));
            }
        }
        Ok(out)
    }
}

fn to_bc_remote_as(r: RemoteAs) -> bc::RemoteAs {
    match r {
        RemoteAs::Number(n) => bc::RemoteAs::Number(n),
        RemoteAs::External => bc::RemoteAs::External,
        RemoteAs::Internal => bc::RemoteAs::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapper {
        bgp: BgpConfig,
    }

    fn parse(s: &str) -> Result<bc::SpeakerConfig, String> {
        let w: Wrapper = toml::from_str(s).map_err(|e| e.to_string())?;
        w.bgp.to_speaker_config().map_err(|e| e.to_string())
    }

    const LAB: &str = r#"
[bgp]
asn = 65000
router_id = "192.168.10.200"
networks = ["10.10.1.0/24"]
maximum_paths = 4
multipath_relax = true
graceful_restart = { enabled = true }

[[bgp.groups]]
name = "CILIUM"
remote_as = "external"
import = [{ prefix = "172.16.0.0/12", le = 32 }]

[[bgp.neighbors]]
address = "192.168.10.100"
group = "CILIUM"

[[bgp.neighbors]]
address = "192.168.20.100"
group = "CILIUM"
hold_time = 9
keepalive = 3

[[bgp.listen]]
prefix = "192.168.10.0/24"
group = "CILIUM"
"#;

    #[test]
    fn lab_config_converts() {
        let c = parse(LAB).unwrap();
        assert_eq!(c.local_as, 65000);
        assert_eq!(c.maximum_paths, 4);
        assert!(c.multipath_relax);
        assert!(c.graceful_restart.enabled);
        assert_eq!(c.graceful_restart.restart_time, 120);
        assert_eq!(c.neighbors.len(), 2);
        assert_eq!(c.neighbors[1].hold_time, Some(9));
        assert_eq!(c.groups[0].remote_as, Some(bc::RemoteAs::External));
        assert_eq!(c.listen_ranges.len(), 1);
        let f = c.groups[0].import.as_ref().unwrap();
        assert_eq!(f.allow[0].le, Some(32));
    }

    #[test]
    fn remote_as_number_and_words() {
        let c = parse(
            "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.neighbors]]\naddress = \"10.0.0.1\"\nremote_as = 4200000000\n",
        )
        .unwrap();
        assert_eq!(
            c.neighbors[0].remote_as,
            Some(bc::RemoteAs::Number(4_200_000_000))
        );
        let e = parse("[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.neighbors]]\naddress = \"10.0.0.1\"\nremote_as = \"ebgp\"\n")
            .unwrap_err();
        assert!(e.contains("external"), "{e}");
    }

    #[test]
    fn unknown_group_is_reported_with_span() {
        let src = "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.neighbors]]\naddress = \"10.0.0.1\"\ngroup = \"NOPE\"\n";
        let w: Wrapper = toml::from_str(src).unwrap();
        let e = w.bgp.to_speaker_config().unwrap_err();
        assert_eq!(e.field, "bgp.neighbors[0].group");
        let span = e.span.unwrap();
        assert_eq!(&src[span], "\"NOPE\"");
    }

    #[test]
    fn networks_of_both_families() {
        let c = parse("[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\nnetworks = [\"10.10.1.0/24\", \"fd00:10:10:1::/64\"]\n").unwrap();
        assert_eq!(
            c.networks,
            vec![
                "10.10.1.0/24".parse::<IpNet>().unwrap(),
                "fd00:10:10:1::/64".parse().unwrap()
            ]
        );
        let e = parse(
            "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\nnetworks = [\"fd00:10:10:1::1/64\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("host bits"), "{e}");
    }

    #[test]
    fn neighbour_without_remote_as_is_rejected() {
        let e = parse("[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.neighbors]]\naddress = \"10.0.0.1\"\n").unwrap_err();
        assert!(e.contains("remote_as"), "{e}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let base = "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n";
        for (extra, needle) in [
            ("networks = [\"10.10.1.1/24\"]\n", "host bits"),
            ("maximum_paths = 0\n", "maximum_paths"),
            ("[[bgp.groups]]\nname = \"G\"\nremote_as = 1\nhold_time = 2\n", "hold_time"),
            ("[[bgp.groups]]\nname = \"G\"\nremote_as = 1\nhold_time = 9\nkeepalive = 9\n", "keepalive"),
            ("[[bgp.groups]]\nname = \"G\"\nremote_as = 1\nimport = [{ prefix = \"10.0.0.0/8\", ge = 4 }]\n", "ge"),
            ("[[bgp.groups]]\nname = \"G\"\nremote_as = 1\n[[bgp.groups]]\nname = \"G\"\nremote_as = 2\n", "duplicate"),
            ("[[bgp.listen]]\nprefix = \"10.0.0.0/8\"\ngroup = \"X\"\n", "no group"),
            ("bogus = 1\n", "unknown field"),
            ("[[bgp.groups]]\nname = \"G\"\nremote_as = 0\n", "AS number"),
        ] {
            let e = parse(&format!("{base}{extra}")).unwrap_err();
            assert!(e.contains(needle), "{extra}: {e}");
        }
        let e = parse("[bgp]\nasn = 0\nrouter_id = \"1.1.1.1\"\n").unwrap_err();
        assert!(e.contains("reserved"), "{e}");
    }

    fn md5_keys(src: &str, base: &Path) -> Result<Vec<(Ipv4Net, Password)>, String> {
        let w: Wrapper = toml::from_str(src).map_err(|e| e.to_string())?;
        w.bgp.to_speaker_config().map_err(|e| e.to_string())?;
        w.bgp.tcp_md5_keys(base).map_err(|e| e.to_string())
    }

    #[test]
    fn passwords_from_groups_neighbours_and_files() {
        let dir = std::env::temp_dir().join(format!("router-md5-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "from-file\n").unwrap();
        std::fs::write(dir.join("crlf"), "windows\r\n").unwrap();
        let src = r#"
[bgp]
asn = 65000
router_id = "1.1.1.1"
[[bgp.groups]]
name = "G"
remote_as = "external"
password_file = "secret"
[[bgp.neighbors]]
address = "10.0.0.1"
group = "G"
[[bgp.neighbors]]
address = "10.0.0.2"
group = "G"
password = "own"
[[bgp.neighbors]]
address = "10.0.0.3"
remote_as = 65001
[[bgp.neighbors]]
address = "10.0.0.4"
remote_as = 65001
password_file = "crlf"
[[bgp.listen]]
prefix = "10.1.0.0/16"
group = "G"
"#;
        let keys = md5_keys(src, &dir).unwrap();
        let got: Vec<(String, Vec<u8>)> = keys
            .iter()
            .map(|(n, p)| (n.to_string(), p.as_bytes().to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.0.1/32".into(), b"from-file".to_vec()),
                ("10.0.0.2/32".into(), b"own".to_vec()),
                ("10.0.0.4/32".into(), b"windows".to_vec()),
                ("10.1.0.0/16".into(), b"from-file".to_vec()),
            ]
        );
        // The key never shows in Debug output.
        let dbg = format!("{keys:?}");
        assert!(!dbg.contains("from-file") && !dbg.contains("own"), "{dbg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn password_errors() {
        let base = "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.neighbors]]\naddress = \"10.0.0.1\"\nremote_as = 1\n";
        let dir = std::env::temp_dir();
        for (extra, needle) in [
            ("password = \"a\"\npassword_file = \"b\"\n", "not both"),
            (
                "password_file = \"/nonexistent/router-md5-secret\"\n",
                "cannot read /nonexistent/router-md5-secret",
            ),
            ("password = \"\"\n", "empty"),
            (
                &format!("password = \"{}\"\n", "x".repeat(81)),
                "longer than 80",
            ),
            ("passwd = \"x\"\n", "unknown field"),
        ] {
            let e = md5_keys(&format!("{base}{extra}"), &dir).unwrap_err();
            assert!(e.contains(needle), "{extra}: {e}");
            assert!(!e.contains("xxxxxxxx"), "the password is not echoed: {e}");
        }
        let e = md5_keys(
            "[bgp]\nasn = 65000\nrouter_id = \"1.1.1.1\"\n[[bgp.groups]]\nname = \"G\"\nremote_as = 1\npassword = \"a\"\npassword_file = \"b\"\n",
            &dir,
        )
        .unwrap_err();
        assert!(e.starts_with("bgp.groups[0].password_file"), "{e}");
    }
}
