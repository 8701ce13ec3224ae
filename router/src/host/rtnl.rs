//! A small synchronous rtnetlink client: the few link, address and route
//! requests the host set-up needs (list a link's addresses, add or delete
//! one, set a link up or down, list a link's routes and add one back). Messages are built and parsed by `netlink-packet-route`;
//! `netlink-sys` owns the socket, so nothing here is `unsafe`.
//!
//! Requests run one at a time with NLM_F_ACK and wait for their answer, in
//! the calling thread's network namespace. Only the start-up and shutdown
//! paths use this: never a worker.
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// One address of a kernel interface, as `ip addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelAddress {
    pub net: IpNet,
    /// `RT_SCOPE_*` (0 global, 253 link); restored as it was.
    pub scope: u8,
}

/// What the host set-up needs to know of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub up: bool,
}

/// A kernel route through a port that the kernel did not make itself for
/// one of the port's addresses (e.g. a VM's `default via 10.0.2.2 dev
/// eth0`). Deleting the port's last address makes the kernel drop it, so the
/// host set-up keeps it to add back at stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// The route as the kernel listed it, reduced to the attributes that
    /// re-create it.
    msg: RouteMessage,
}

impl KernelRoute {
    /// The route as netlink bytes (what the host state file stores).
    pub fn to_bytes(&self) -> Vec<u8> {
        use netlink_packet_core::Emitable;
        let mut buf = vec![0u8; self.msg.buffer_len()];
        self.msg.emit(&mut buf);
        buf
    }

    /// A route from [`KernelRoute::to_bytes`]; None if they do not parse.
    pub fn from_bytes(bytes: &[u8]) -> Option<KernelRoute> {
        use netlink_packet_core::Parseable;
        RouteMessage::parse(bytes)
            .ok()
            .map(|msg| KernelRoute { msg })
    }

    fn from_dump(m: RouteMessage) -> KernelRoute {
        let mut msg = RouteMessage::default();
        msg.header = m.header;
        msg.attributes = m
            .attributes
            .into_iter()
            .filter(|a| {
                matches!(
                    a,
                    RouteAttribute::Destination(_)
                        | RouteAttribute::Gateway(_)
                        | RouteAttribute::Oif(_)
                        | RouteAttribute::Priority(_)
                        | RouteAttribute::PrefSource(_)
                        | RouteAttribute::Table(_)
                )
            })
            .collect();
        KernelRoute { msg }
    }
}

impl std::fmt::Display for KernelRoute {
    /// Like `ip route`: `default via 10.0.2.2` or `10.9.0.0/16 via 10.0.2.2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = |a: &RouteAddress| match a {
            RouteAddress::Inet(ip) => ip.to_string(),
            RouteAddress::Inet6(ip) => ip.to_string(),
            other => format!("{other:?}"),
        };
        let dst = self.msg.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(d) => Some(addr(d)),
            _ => None,
        });
        match dst {
            Some(d) => write!(f, "{d}/{}", self.msg.header.destination_prefix_length)?,
            None => write!(f, "default")?,
        }
        for a in &self.msg.attributes {
            if let RouteAttribute::Gateway(g) = a {
                write!(f, " via {}", addr(g))?;
            }
        }
        for a in &self.msg.attributes {
            if let RouteAttribute::Priority(p) = a {
                write!(f, " metric {p}")?;
            }
        }
        Ok(())
    }
}

pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { socket, seq: 0 })
    }

    /// The link called `name`, or `None` if there is none.
    pub fn link(&mut self, name: &str) -> io::Result<Option<LinkState>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(LinkState {
                    index: l.header.index,
                    up: l.header.flags.contains(LinkFlags::Up),
                }),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The addresses of interface `ifindex`, both families.
    pub fn addresses(&mut self, ifindex: u32) -> io::Result<Vec<KernelAddress>> {
        let msg = AddressMessage::default();
        let answers = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for answer in answers {
            let RouteNetlinkMessage::NewAddress(a) = answer else {
                continue;
            };
            if a.header.index != ifindex {
                continue;
            }
            // IFA_LOCAL is the interface's own address on point-to-point
            // links, where IFA_ADDRESS is the peer's; prefer it.
            let mut addr = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(ip) => addr = Some(*ip),
                    AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
                    _ => {}
                }
            }
            let Some(ip) = addr else { continue };
            let Ok(net) = IpNet::new(ip, a.header.prefix_len) else {
                continue;
            };
            out.push(KernelAddress {
                net,
                scope: u8::from(a.header.scope),
            });
        }
        Ok(out)
    }

    pub fn delete_address(&mut self, ifindex: u32, addr: &KernelAddress) -> io::Result<()> {
        let msg = address_message(ifindex, addr);
        self.request(RouteNetlinkMessage::DelAddress(msg), 0)
            .map(drop)
    }

    pub fn add_address(&mut self, ifindex: u32, addr: &KernelAddress) -> io::Result<()> {
        let msg = address_message(ifindex, addr);
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// The routes of every table whose one output interface is `ifindex`,
    /// both families, except those the kernel made itself (`proto kernel`:
    /// an address's subnet route, which comes back with the address) and
    /// IPv6 link-local ones (they come back with the port's IPv6).
    pub fn routes_via(&mut self, ifindex: u32) -> io::Result<Vec<KernelRoute>> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RouteMessage::default();
            msg.header.address_family = family;
            let answers = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
            for answer in answers {
                let RouteNetlinkMessage::NewRoute(r) = answer else {
                    continue;
                };
                let oif = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(i) => Some(*i),
                    _ => None,
                });
                let link_local = r.attributes.iter().any(|a| {
                    matches!(a, RouteAttribute::Destination(RouteAddress::Inet6(d))
                        if (d.segments()[0] & 0xffc0) == 0xfe80 || d.is_multicast())
                });
                let table = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                });
                // The local table holds the kernel's own address routes.
                let local = table == Some(255) || r.header.table == 255;
                if oif == Some(ifindex)
                    && r.header.protocol != RouteProtocol::Kernel
                    && !link_local
                    && !local
                {
                    out.push(KernelRoute::from_dump(r));
                }
            }
        }
        Ok(out)
    }

    /// Adds a route listed by [`Rtnl::routes_via`] back.
    pub fn add_route(&mut self, route: &KernelRoute) -> io::Result<()> {
        self.request(
            RouteNetlinkMessage::NewRoute(route.msg.clone()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// Sets IFF_UP on (`up`) or off, leaving every other flag alone.
    pub fn set_link_up(&mut self, ifindex: u32, up: bool) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Sends one request and collects its answers up to the ACK (or the end
    /// of a dump). A netlink error comes back as the OS error it carries.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        extra_flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | extra_flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;

        let mut answers = Vec::new();
        // Bounded: a dump of a namespace's addresses is a few datagrams; a
        // kernel that never ends one is a bug we refuse to spin on.
        for _ in 0..10_000 {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number == self.seq {
                    match reply.payload {
                        NetlinkPayload::Done(_) => return Ok(answers),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(answers),
                                Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            };
                        }
                        NetlinkPayload::InnerMessage(m) => answers.push(m),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "rtnetlink: no end to the answer",
        ))
    }
}

fn address_message(ifindex: u32, addr: &KernelAddress) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match addr.net {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = addr.net.prefix_len();
    msg.header.scope = AddressScope::from(addr.scope);
    msg.header.index = ifindex;
    let ip: IpAddr = addr.net.addr();
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    if let IpNet::V4(v4) = addr.net {
        if v4.prefix_len() < 31 {
            msg.attributes
                .push(AddressAttribute::Broadcast(v4.broadcast()));
        }
    }
    msg
}

impl serde::Serialize for KernelRoute {
    /// As hex netlink bytes: the message re-creates the route exactly.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex: String = self.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }
}

impl<'de> serde::Deserialize<'de> for KernelRoute {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(d)?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| serde::de::Error::custom("route: not hex"))?;
        KernelRoute::from_bytes(&bytes)
            .ok_or_else(|| serde::de::Error::custom("route: not a netlink route message"))
    }
}
