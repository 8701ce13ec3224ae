//! A small synchronous rtnetlink client: the few link and address requests
//! the host set-up needs (list a link's addresses, add or delete one, set a
//! link up or down). Messages are built and parsed by `netlink-packet-route`;
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
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// One address of a kernel interface, as `ip addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
