//! A router port: one kernel interface the router owns, with its addresses.
use std::net::Ipv6Addr;

use ipnet::{Ipv4Net, Ipv6Net};

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
    /// IP MTU of the port (bytes of IP packet, not counting Ethernet).
    pub mtu: u16,
    /// The router's IPv4 addresses on this port, with their subnet lengths.
    pub addrs: Vec<Ipv4Net>,
    /// The router's IPv6 addresses on this port. Empty when the port has
    /// no IPv6; otherwise the first is its link-local address (fe80::/64,
    /// configured or derived from the MAC by [`link_local_from_mac`]).
    pub addrs6: Vec<Ipv6Net>,
}

impl PortInfo {
    /// The port's link-local address, if it runs IPv6.
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        self.addrs6
            .iter()
            .map(|n| n.addr())
            .find(|a| a.segments()[0] & 0xffc0 == 0xfe80)
    }
}

/// The modified EUI-64 link-local address of a MAC (RFC 4291 §2.5.1 and
/// appendix A: the universal/local bit inverted, ff:fe in the middle).
pub fn link_local_from_mac(mac: [u8; 6]) -> Ipv6Addr {
    let b = [
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ];
    Ipv6Addr::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_link_local() {
        // RFC 4291 appendix A's example shape: 02 flips, ff:fe inserted.
        let a = link_local_from_mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(a, "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
    }
}
