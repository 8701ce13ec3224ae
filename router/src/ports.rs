//! A router port: one kernel interface the router owns, with its addresses.
use ipnet::Ipv4Net;

pub type PortId = u16;

#[derive(Clone, Debug)]
pub struct PortInfo {
    pub id: PortId,
    /// Name in the config and the CLI (e.g. "eth1").
    pub name: String,
    /// Kernel interface name (usually the same).
    pub ifname: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// IP MTU of the port (bytes of IPv4 packet, not counting Ethernet).
    pub mtu: u16,
    /// The router's addresses on this port, with their subnet lengths.
    pub addrs: Vec<Ipv4Net>,
}
