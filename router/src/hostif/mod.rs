//! Host interfaces (linux-cp style): for each port with `host_interface`
//! set, a TAP device in the router's namespace through which the kernel
//! keeps using the port's addresses (sshd on 10.0.2.15, DNS, an exporter)
//! while the router owns the port.
//!
//! The TAP has the port's MAC, MTU and addresses (so the kernel has the
//! connected routes), IPv6 off, and a carrier that follows the port's
//! (IFF_RUNNING, checked once a second). It goes when the router stops:
//! the device is not persistent, so the kernel removes it when the last
//! descriptor closes.
//!
//! * Up (`Punt::HostUp`): what a worker finds addressed to the port's
//!   address and the router does not consume itself
//!   ([`crate::dataplane::forward`]'s `local::consumer`) is queued for the
//!   slow path, which writes it into the TAP (`slowpath::host`).
//! * Down (`Punt::FromHost`): the thread here ("hostif") waits in poll(2)
//!   on the TAPs, reads what the kernel sends and queues it for the slow
//!   path, which answers the kernel's ARP (for every address but the
//!   kernel's own, with [`router_mac`]) and routes its IPv4 packets through
//!   the FIB as the router's own.
//!
//! No worker ever touches a TAP: each read or write is a syscall, so all
//! of it happens on this thread and the slow path's (host traffic is
//! management traffic).
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use router_sys::afpacket::poll_readable;
use router_sys::{netdev, tap};

use crate::config::PortConfig;
use crate::dataplane::forward::{FrameMeta, Punt};
use crate::ports::{PortId, PortInfo};
use crate::shared::{HostPort, Shared};
use crate::slowpath::Handoff;
use crate::wire::ethernet::MacAddr;
use crate::wire::vnet::{VnetHdr, VNET_HDR_LEN};

/// How long the reader sleeps in poll(2) at most (how quickly it notices
/// a stop).
const POLL_MS: i32 = 100;
/// How often the TAPs' carrier is matched to their ports'.
const CARRIER_EVERY: Duration = Duration::from_secs(1);
/// Frames read from one TAP per wake-up, so one cannot starve the others.
const READ_BATCH: usize = 64;
/// Read buffer: a 64 KiB frame and its Ethernet header.
const READ_BUF: usize = 65536 + 64;

/// The MAC the router uses towards the kernel on a host interface: the
/// port's with the locally-administered bit flipped, so it differs from
/// the TAP's own (the port's) and stays unicast.
pub fn router_mac(port_mac: MacAddr) -> MacAddr {
    let mut m = port_mac;
    m[0] ^= 0x02;
    m
}

/// Labels for the TAP's addresses: its name for the first, `NAME:N` for
/// further ones (the config checks they fit IFNAMSIZ).
pub fn address_labels(name: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            if i == 0 {
                name.to_string()
            } else {
                format!("{name}:{i}")
            }
        })
        .collect()
}

/// A host interface could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("port {port}: host interface {name:?}: {what}: {source}")]
pub struct HostIfError {
    pub port: String,
    pub name: String,
    pub what: String,
    #[source]
    pub source: io::Error,
}

struct Entry {
    port: PortId,
    port_ifname: String,
    tap: Arc<tap::Tap>,
    carrier: bool,
}

/// The host interfaces, created; [`crate::dataplane::start_with_host`]
/// takes them over.
pub struct HostInterfaces {
    entries: Vec<Entry>,
    ports: usize,
}

/// The slow path's handle for writing into the TAPs.
pub struct HostTx {
    taps: Vec<Option<Arc<tap::Tap>>>,
}

impl HostTx {
    /// Writes one frame into the TAP of `port`; false if it has none or
    /// the kernel refused it (its queue is full, the device is down).
    pub fn send(&self, port: PortId, vnet: &VnetHdr, frame: &[u8]) -> bool {
        let Some(Some(t)) = self.taps.get(port as usize) else {
            return false;
        };
        match t.send(&vnet.to_bytes(), frame) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(tap = t.name(), error = %e, "host interface write");
                false
            }
        }
    }
}

impl HostInterfaces {
    /// Creates and configures the TAP of every port of `cfg` that asks for
    /// one (`ports[i]` is what the kernel said about `cfg[i]`). Returns
    /// them with what the dataplane needs to know (`hosts[port]`). On an
    /// error the TAPs made so far are removed again (dropped).
    pub fn create(
        ports: &[PortInfo],
        cfg: &[PortConfig],
    ) -> Result<(HostInterfaces, Vec<Option<HostPort>>), HostIfError> {
        let mut entries = Vec::new();
        let mut hosts = vec![None; ports.len()];
        for (p, c) in ports.iter().zip(cfg) {
            let Some(name) = &c.host_interface else {
                continue;
            };
            let fail = |what: &str| {
                let (port, name, what) = (p.name.clone(), name.clone(), what.to_string());
                move |source| HostIfError {
                    port,
                    name,
                    what,
                    source,
                }
            };
            let tap = tap::Tap::create(name).map_err(fail("create the TAP"))?;
            tap::set_mac(name, p.mac).map_err(fail("set its MAC"))?;
            tap::set_mtu(name, u32::from(p.mtu)).map_err(fail("set its MTU"))?;
            kernel_settings(name).map_err(fail("sysctl"))?;
            let carrier = netdev::is_running(&p.ifname).unwrap_or(false);
            tap.set_carrier(carrier)
                .map_err(fail("set its carrier (TUNSETCARRIER, Linux >= 4.19)"))?;
            for (label, a) in address_labels(name, p.addrs.len()).iter().zip(&p.addrs) {
                tap::add_ipv4(label, a.addr(), a.prefix_len())
                    .map_err(fail(&format!("add address {a}")))?;
            }
            tap::set_up(name, true).map_err(fail("set it up"))?;
            tracing::info!(port = %p.name, host_interface = %name, carrier, "host interface");
            hosts[p.id as usize] = Some(HostPort {
                name: name.clone(),
                router_mac: router_mac(p.mac),
            });
            entries.push(Entry {
                port: p.id,
                port_ifname: p.ifname.clone(),
                tap: Arc::new(tap),
                carrier,
            });
        }
        Ok((
            HostInterfaces {
                entries,
                ports: ports.len(),
            },
            hosts,
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The writers for the slow path.
    pub fn tx(&self) -> HostTx {
        let mut taps = vec![None; self.ports];
        for e in &self.entries {
            if let Some(slot) = taps.get_mut(e.port as usize) {
                *slot = Some(Arc::clone(&e.tap));
            }
        }
        HostTx { taps }
    }

    /// The "hostif" thread's body: reads what the kernel sends into the
    /// TAPs and queues it for the slow path, and mirrors the ports' carrier,
    /// until `stop`. The TAPs go when it returns and the slow path's
    /// [`HostTx`] is dropped.
    pub fn run(mut self, shared: &Shared, handoff: &Handoff, stop: &AtomicBool) {
        let fds: Vec<_> = self.entries.iter().map(|e| e.tap.raw_fd()).collect();
        let mut ready = vec![false; fds.len()];
        let mut buf = vec![0u8; READ_BUF];
        let mut vnet = [0u8; VNET_HDR_LEN];
        let mut last_carrier = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match poll_readable(&fds, POLL_MS, &mut ready) {
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "host interfaces: poll");
                    return;
                }
            }
            let mut queued = false;
            for (e, _) in self.entries.iter().zip(&ready).filter(|(_, r)| **r) {
                for _ in 0..READ_BATCH {
                    let n = match e.tap.recv(&mut vnet, &mut buf) {
                        Ok(n) => n,
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) => {
                            tracing::debug!(tap = e.tap.name(), error = %err, "host interface read");
                            break;
                        }
                    };
                    let meta = FrameMeta {
                        vnet: VnetHdr::parse(&vnet),
                        wire_len: n as u32,
                        ..FrameMeta::default()
                    };
                    let frame = &buf[..n.min(buf.len())];
                    if handoff.push(Punt::FromHost { port: e.port }, e.port, frame, &meta) {
                        queued = true;
                    } else {
                        shared.host_drops.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if queued {
                handoff.wake();
            }
            if last_carrier.elapsed() >= CARRIER_EVERY {
                last_carrier = Instant::now();
                self.mirror_carrier();
            }
        }
    }

    /// Sets each TAP's carrier to its port's (the kernel then shows it as
    /// NO-CARRIER / LOWER_DOWN and stops using its routes for new traffic).
    fn mirror_carrier(&mut self) {
        for e in &mut self.entries {
            let up = netdev::is_running(&e.port_ifname).unwrap_or(false);
            if up != e.carrier {
                match e.tap.set_carrier(up) {
                    Ok(()) => {
                        tracing::info!(tap = e.tap.name(), carrier = up, "host interface carrier");
                        e.carrier = up;
                    }
                    Err(err) => tracing::warn!(tap = e.tap.name(), error = %err, "TUNSETCARRIER"),
                }
            }
        }
    }
}

/// The kernel's settings for a host interface, before it comes up: no IPv6
/// (no router solicitations or MLD from it; the router is IPv4 only), and
/// packets with a local source accepted (`accept_local`, with no reverse
/// path filter): ICMP errors about the kernel's packets come from a port
/// address, which the kernel may hold itself on another host interface.
fn kernel_settings(name: &str) -> io::Result<()> {
    let v6 = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::write(&v6, "1") {
        // No IPv6 in this kernel: nothing to turn off.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        r => r.map_err(|e| io::Error::new(e.kind(), format!("{v6}: {e}")))?,
    }
    for (key, value) in [("accept_local", "1"), ("rp_filter", "0")] {
        let path = format!("/proc/sys/net/ipv4/conf/{name}/{key}");
        std::fs::write(&path, value)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    }
    Ok(())
}

/// True if `a` is one of the addresses the kernel holds on the host
/// interface of a port with addresses `addrs` (the port's own).
pub fn is_kernel_address(addrs: &[ipnet::Ipv4Net], a: Ipv4Addr) -> bool {
    addrs.iter().any(|n| n.addr() == a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_mac_differs_and_stays_unicast() {
        for mac in [
            [0x02, 1, 2, 3, 4, 5],
            [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            [0; 6],
        ] {
            let r = router_mac(mac);
            assert_ne!(r, mac);
            assert_eq!(r[0] & 1, 0, "unicast");
            assert_eq!(r[1..], mac[1..]);
        }
    }

    #[test]
    fn labels_alias_further_addresses() {
        assert_eq!(address_labels("eth0-host", 1), ["eth0-host"]);
        assert_eq!(
            address_labels("eth0-host", 3),
            ["eth0-host", "eth0-host:1", "eth0-host:2"]
        );
    }
}
