//! Host set-up: the router makes its ports fit for it at start and undoes
//! that at stop, so that no script has to prepare the machine by hand.
//!
//! For each port it
//! - deletes the kernel's IPv4 and global IPv6 addresses on the port (the
//!   router answers for its addresses itself; a kernel address would make
//!   the kernel answer ARP and ICMP too);
//! - sets the link up;
//! - turns the kernel's IPv6 off on the port (`disable_ipv6`, and
//!   `accept_ra`/`autoconf` off), so it sends no router solicitations, MLD
//!   reports or DAD probes out of it;
//! - installs the netdev-ingress drop ([`ingress`]), so the kernel stops
//!   processing the frames the router takes. Where the kernel lacks
//!   nftables' netdev family this falls back to a warning.
//!
//! It refuses to start when the namespace's kernel forwards IPv4 or IPv6
//! (the kernel would forward copies of the router's frames) unless the
//! config allows it, and on a port it cannot prepare, naming the
//! interface, the setting and the fix.
//!
//! [`Plan::build`] only reads the kernel; `router run --dry-run` prints the
//! plan. [`Plan::apply`] makes the changes and returns [`Applied`], whose
//! [`Applied::undo`] (or drop) reverses them in the opposite order.
pub mod ingress;
pub mod rtnl;
pub mod state;
pub mod sysctl;

use std::fmt;

use rtnl::{KernelAddress, KernelRoute, Rtnl};
use state::StateFile;
use sysctl::Sysctl;

/// A port as the host set-up sees it: its name in the config and its
/// kernel interface.
#[derive(Debug, Clone)]
pub struct HostPort {
    pub name: String,
    pub ifname: String,
}

#[derive(Debug, Clone, Copy)]
pub struct HostOptions {
    /// `[router] allow_kernel_forwarding = true`: start even though the
    /// namespace's kernel forwards.
    pub allow_kernel_forwarding: bool,
    /// `[router] ingress_drop` (default on).
    pub ingress_drop: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            allow_kernel_forwarding: false,
            ingress_drop: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("port {port} (interface {ifname}): {setting}: {problem} (fix: {fix})")]
    Port {
        port: String,
        ifname: String,
        setting: String,
        problem: String,
        fix: String,
    },
    #[error("{setting}: {problem} (fix: {fix})")]
    Namespace {
        setting: String,
        problem: String,
        fix: String,
    },
}

/// The kernel values the IPv6 sysctls are set to on a port.
const PORT_IPV6_SYSCTLS: [(&str, &str); 3] =
    [("accept_ra", "0"), ("autoconf", "0"), ("disable_ipv6", "1")];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A kernel route through the port that goes away with its addresses;
    /// nothing is done to it at start, and it is added back at stop.
    KeepRoute {
        port: String,
        ifname: String,
        route: KernelRoute,
    },
    DeleteAddress {
        port: String,
        ifname: String,
        ifindex: u32,
        address: KernelAddress,
    },
    Sysctl {
        port: String,
        ifname: String,
        sysctl: Sysctl,
        from: String,
        to: String,
    },
    LinkUp {
        port: String,
        ifname: String,
        ifindex: u32,
    },
    IngressDrop {
        ifnames: Vec<String>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::KeepRoute { ifname, route, .. } => write!(
                f,
                "{ifname}: kernel route {route} goes with the addresses (added back at stop)"
            ),
            Change::DeleteAddress {
                ifname, address, ..
            } => write!(f, "{ifname}: delete kernel address {}", address.net),
            Change::Sysctl {
                sysctl, from, to, ..
            } => write!(f, "{sysctl}: {from} -> {to}"),
            Change::LinkUp { ifname, .. } => write!(f, "{ifname}: set link up"),
            Change::IngressDrop { ifnames } => write!(
                f,
                "nftables: table netdev {}: ingress chains with policy drop on {}",
                ingress::TABLE_NAME.to_string_lossy(),
                ifnames.join(", ")
            ),
        }
    }
}

/// What the router would change on the host, read from the kernel.
#[derive(Debug)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// Reads the kernel's state of every port and the namespace's
    /// forwarding settings; changes nothing.
    pub fn build(ports: &[HostPort], opts: HostOptions) -> Result<Plan, HostError> {
        if !opts.allow_kernel_forwarding {
            check_kernel_forwarding()?;
        }
        let mut rtnl = Rtnl::open().map_err(|e| HostError::Namespace {
            setting: "rtnetlink".into(),
            problem: format!("cannot open a netlink socket: {e}"),
            fix: "run the router as root or with CAP_NET_ADMIN".into(),
        })?;
        let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists();
        let mut changes = Vec::new();
        let mut sysctls = Vec::new();
        let mut links = Vec::new();
        for port in ports {
            let err = |setting: &str, problem: String, fix: &str| HostError::Port {
                port: port.name.clone(),
                ifname: port.ifname.clone(),
                setting: setting.into(),
                problem,
                fix: fix.into(),
            };
            let link = rtnl
                .link(&port.ifname)
                .map_err(|e| {
                    err(
                        "link",
                        format!("cannot query it: {e}"),
                        "check the interface",
                    )
                })?
                .ok_or_else(|| {
                    err(
                        "link",
                        "no such interface in this network namespace".into(),
                        "create it, or set the port's `ifname` to an existing interface",
                    )
                })?;
            let addresses = rtnl.addresses(link.index).map_err(|e| {
                err(
                    "addresses",
                    format!("cannot list them: {e}"),
                    "check the interface",
                )
            })?;
            let routes = rtnl.routes_via(link.index).map_err(|e| {
                err(
                    "routes",
                    format!("cannot list them: {e}"),
                    "check the interface",
                )
            })?;
            for route in routes {
                changes.push(Change::KeepRoute {
                    port: port.name.clone(),
                    ifname: port.ifname.clone(),
                    route,
                });
            }
            for address in addresses {
                // IPv6 link-local addresses belong to the kernel's IPv6 on the
                // port: disable_ipv6 removes them and re-enabling restores them.
                if let ipnet::IpNet::V6(v6) = address.net {
                    if ipv6 && (v6.addr().segments()[0] & 0xffc0) == 0xfe80 {
                        continue;
                    }
                }
                changes.push(Change::DeleteAddress {
                    port: port.name.clone(),
                    ifname: port.ifname.clone(),
                    ifindex: link.index,
                    address,
                });
            }
            if ipv6 {
                for (key, to) in PORT_IPV6_SYSCTLS {
                    let sysctl = Sysctl::ipv6_conf(&port.ifname, key);
                    let from = sysctl.read().map_err(|e| {
                        err(
                            &sysctl.0,
                            format!("cannot read it: {e}"),
                            "mount /proc/sys for this namespace",
                        )
                    })?;
                    if from != to {
                        sysctls.push(Change::Sysctl {
                            port: port.name.clone(),
                            ifname: port.ifname.clone(),
                            sysctl,
                            from,
                            to: to.into(),
                        });
                    }
                }
            }
            if !link.up {
                links.push(Change::LinkUp {
                    port: port.name.clone(),
                    ifname: port.ifname.clone(),
                    ifindex: link.index,
                });
            }
        }
        // Addresses first (their IPv6 ones would vanish with disable_ipv6
        // before we could record them), then the sysctls, the link, and last
        // the drop, once nothing else needs the kernel's view of the port.
        changes.extend(sysctls);
        changes.extend(links);
        if opts.ingress_drop && !ports.is_empty() {
            changes.push(Change::IngressDrop {
                ifnames: ports.iter().map(|p| p.ifname.clone()).collect(),
            });
        }
        Ok(Plan { changes })
    }

    /// `router run --dry-run`: one line per change, or a line saying there
    /// is nothing to do.
    pub fn describe(&self) -> Vec<String> {
        if self.changes.is_empty() {
            return vec!["host set-up: nothing to change".into()];
        }
        self.changes.iter().map(|c| c.to_string()).collect()
    }

    /// Makes the changes in order. On the first failure the changes already
    /// made are undone and the error names the port, setting and fix; the
    /// ingress drop alone falls back to a warning.
    pub fn apply(self) -> Result<Applied, HostError> {
        self.apply_recorded(None)
    }

    /// [`Plan::apply`], recording each change made in `state` as it is
    /// made, so that a run that dies without undoing them (a crash, a
    /// SIGKILL) leaves behind what the next start needs to restore
    /// ([`recover`]). The file goes once everything is undone.
    pub fn apply_recorded(self, state: Option<StateFile>) -> Result<Applied, HostError> {
        let mut applied = Applied {
            done: Vec::new(),
            rtnl: None,
            state,
        };
        for change in self.changes {
            match applied.make(&change) {
                Ok(true) => {
                    applied.done.push(change);
                    applied.record();
                }
                Ok(false) => {}
                Err(e) => {
                    applied.undo_all();
                    return Err(e);
                }
            }
        }
        Ok(applied)
    }
}

/// The changes made; undone on [`Applied::undo`] or drop.
pub struct Applied {
    done: Vec<Change>,
    rtnl: Option<Rtnl>,
    /// Where the changes are recorded while they stand.
    state: Option<StateFile>,
}

/// Restores what a previous run recorded in `state` and never undid (it
/// died): the same undo as a clean stop, from the file. Returns how many
/// changes were undone (0: no file). A file that cannot be read is kept
/// aside as `<file>.bad` and reported, so a start is never blocked by it.
pub fn recover(state: &StateFile) -> Result<usize, String> {
    let changes = match state.load() {
        Ok(None) => return Ok(0),
        Ok(Some(c)) => c,
        Err(e) => {
            state.set_aside();
            return Err(e);
        }
    };
    let n = changes.len();
    let mut left = Applied {
        done: changes,
        rtnl: None,
        state: Some(state.clone()),
    };
    left.undo_all();
    Ok(n)
}

impl Applied {
    pub fn changes(&self) -> &[Change] {
        &self.done
    }

    /// True when the netdev-ingress drop is installed.
    pub fn ingress_drop_active(&self) -> bool {
        self.done
            .iter()
            .any(|c| matches!(c, Change::IngressDrop { .. }))
    }

    pub fn undo(mut self) {
        self.undo_all();
    }

    /// Writes the changes made so far to the state file (if any); a failure
    /// is a warning: the router runs, but a crash would leave the host set
    /// up.
    fn record(&self) {
        if let Some(s) = &self.state {
            if let Err(e) = s.save(&self.done) {
                tracing::warn!(file = %s.path().display(), error = %e,
                    "host set-up: cannot record the changes; a crash would leave them in place");
            }
        }
    }

    fn rtnl(&mut self) -> std::io::Result<&mut Rtnl> {
        if self.rtnl.is_none() {
            self.rtnl = Some(Rtnl::open()?);
        }
        Ok(self.rtnl.as_mut().expect("just set"))
    }

    /// Ok(true): made; Ok(false): skipped with a warning.
    fn make(&mut self, change: &Change) -> Result<bool, HostError> {
        let port_err =
            |port: &str, ifname: &str, setting: &str, problem: String, fix: &str| HostError::Port {
                port: port.into(),
                ifname: ifname.into(),
                setting: setting.into(),
                problem,
                fix: fix.into(),
            };
        match change {
            // The kernel drops it itself with the last address it needs.
            Change::KeepRoute { ifname, route, .. } => {
                tracing::info!(%ifname, %route, "host set-up: kernel route kept for the stop");
            }
            Change::DeleteAddress {
                port,
                ifname,
                ifindex,
                address,
            } => {
                let r = self
                    .rtnl()
                    .and_then(|rtnl| rtnl.delete_address(*ifindex, address));
                match r {
                    Ok(()) => {}
                    // Gone already (another tool raced us): nothing to undo.
                    Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => return Ok(false),
                    Err(e) => {
                        return Err(port_err(
                            port,
                            ifname,
                            "address",
                            format!("cannot delete {}: {e}", address.net),
                            &format!("ip addr del {} dev {ifname}", address.net),
                        ))
                    }
                }
                tracing::info!(%ifname, address = %address.net, "host set-up: deleted kernel address");
            }
            Change::Sysctl {
                port,
                ifname,
                sysctl,
                to,
                ..
            } => {
                sysctl.write(to).map_err(|e| {
                    port_err(
                        port,
                        ifname,
                        &sysctl.0,
                        format!("cannot set it to {to}: {e}"),
                        &format!("sysctl -w {sysctl}={to}"),
                    )
                })?;
            }
            Change::LinkUp {
                port,
                ifname,
                ifindex,
            } => {
                self.rtnl()
                    .and_then(|rtnl| rtnl.set_link_up(*ifindex, true))
                    .map_err(|e| {
                        port_err(
                            port,
                            ifname,
                            "link",
                            format!("cannot set it up: {e}"),
                            &format!("ip link set {ifname} up"),
                        )
                    })?;
            }
            Change::IngressDrop { ifnames } => {
                if let Err(e) = ingress::install(ifnames) {
                    tracing::warn!(
                        error = %e,
                        "host set-up: no netdev-ingress drop (nftables netdev family \
                         unavailable?): the kernel will also process every frame the \
                         router receives, which costs CPU per packet"
                    );
                    return Ok(false);
                }
                tracing::info!(ports = %ifnames.join(","), "host set-up: netdev-ingress drop installed");
            }
        }
        Ok(true)
    }

    fn undo_all(&mut self) {
        while let Some(change) = self.done.pop() {
            let r = match &change {
                Change::KeepRoute { route, .. } => {
                    let route = route.clone();
                    match self.rtnl().and_then(|rtnl| rtnl.add_route(&route)) {
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
                        r => r,
                    }
                }
                Change::DeleteAddress {
                    ifindex, address, ..
                } => {
                    let (ifindex, address) = (*ifindex, address.clone());
                    match self
                        .rtnl()
                        .and_then(|rtnl| rtnl.add_address(ifindex, &address))
                    {
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
                        r => r,
                    }
                }
                Change::Sysctl { sysctl, from, .. } => sysctl.write(from),
                Change::LinkUp { ifindex, .. } => {
                    let ifindex = *ifindex;
                    self.rtnl()
                        .and_then(|rtnl| rtnl.set_link_up(ifindex, false))
                }
                Change::IngressDrop { .. } => ingress::remove(),
            };
            if let Err(e) = r {
                tracing::warn!(change = %change, error = %e, "host set-up: could not undo");
            }
        }
        if let Some(s) = &self.state {
            s.remove();
        }
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        self.undo_all();
    }
}

/// The namespace's kernel must not forward (it would forward copies of the
/// frames the router forwards).
fn check_kernel_forwarding() -> Result<(), HostError> {
    let checks = [
        (Sysctl::ipv4_forwarding(), "sysctl -w net.ipv4.ip_forward=0"),
        (
            Sysctl("net.ipv6.conf.all.forwarding".into()),
            "sysctl -w net.ipv6.conf.all.forwarding=0",
        ),
    ];
    for (sysctl, fix) in checks {
        if !sysctl.exists() {
            continue;
        }
        if sysctl.read().map(|v| v == "1").unwrap_or(false) {
            return Err(HostError::Namespace {
                setting: sysctl.0.clone(),
                problem: "is 1: the kernel would forward copies of the frames the router forwards"
                    .into(),
                fix: format!(
                    "{fix}, or set `allow_kernel_forwarding = true` in [router] if this is wanted"
                ),
            });
        }
    }
    Ok(())
}
