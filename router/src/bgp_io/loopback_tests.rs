//! The BGP transport end to end without namespaces or root: a second
//! smoltcp interface plays two peers on the other side of the
//! `LocalTcpPipe` channels (where the slow path normally sits), connects to
//! port 179, speaks BGP with the crate's codec and checks that the sessions
//! come up, our End-of-RIB arrives and a route reaches the route manager.
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp::wire::{Capability, DecodeContext, Message, OpenRepr, UpdateRepr};
use ipnet::{IpNet, Ipv4Net};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};

use super::device::ChannelDevice;
use super::{spawn, Query, Reply};
use crate::config::Config;
use crate::ports::PortInfo;
use crate::rib::RouteManager;
use crate::shared::Shared;

const CONFIG: &str = r#"
[[ports]]
name = "eth1"
addresses = ["192.168.10.200/24"]

[bgp]
asn = 65000
router_id = "192.168.10.200"
networks = ["10.10.1.0/24"]

[[bgp.groups]]
name = "NODES"
remote_as = "external"

[[bgp.neighbors]]
address = "192.168.10.100"
group = "NODES"
passive = true

[[bgp.listen]]
prefix = "192.168.10.0/24"
group = "NODES"
"#;

fn peer_open(asn: u32, id: Ipv4Addr) -> Vec<u8> {
    let caps = vec![
        Capability::Multiprotocol { afi: 1, safi: 1 },
        Capability::FourOctetAs(asn),
    ];
    Message::Open(OpenRepr::new(asn, 9, id, caps)).to_bytes(&DecodeContext::default())
}

fn announce(prefix: &str, next_hop: Ipv4Addr, asn: u32) -> Vec<u8> {
    let mut u = UpdateRepr::default();
    u.attrs.origin = Some(bgp::wire::attr::Origin::Igp);
    u.attrs.as_path = Some(bgp::wire::attr::AsPath::sequence(vec![asn]));
    u.attrs.next_hop = Some(next_hop);
    u.nlri = vec![prefix.parse::<IpNet>().unwrap()];
    Message::Update(u).to_bytes(&DecodeContext::default())
}

/// Message types in a byte stream (whole messages only).
fn types(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while stream.len() >= at + 19 {
        let len = usize::from(u16::from_be_bytes([stream[at + 16], stream[at + 17]]));
        if len < 19 || stream.len() < at + len {
            break;
        }
        out.push(stream[at + 18]);
        at += len;
    }
    out
}

#[test]
fn two_peers_connect_to_port_179_and_a_route_is_installed() {
    let cfg = Config::parse("test.toml", CONFIG).expect("config");
    let port = PortInfo {
        id: 0,
        name: "eth1".into(),
        ifname: "eth1".into(),
        ifindex: 1,
        mac: [2, 0, 0, 0, 0, 1],
        mtu: 1500,
        addrs: vec!["192.168.10.200/24".parse().unwrap()],
        addrs6: Vec::new(),
    };
    let shared = Shared::new(vec![port], 1);
    let mut rm = RouteManager::new(shared.clone());
    rm.set_connected(&[]).expect("connected routes");
    let routes = rm.into_handle();
    let mut handle = spawn(shared.clone(), &cfg, routes.clone()).expect("bgp thread");

    // The peers' stack: packets to the router go where the slow path would
    // put them; the router's packets come back from `from_stack_rx`.
    let mut dev = ChannelDevice::new(shared.local_tcp.to_stack_tx.clone(), 1500);
    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        &mut dev,
        smoltcp::time::Instant::ZERO,
    );
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(192, 168, 10, 100), 24))
            .unwrap();
        a.push(IpCidr::new(IpAddress::v4(192, 168, 10, 101), 24))
            .unwrap();
    });
    let mut sockets = SocketSet::new(Vec::new());
    let peers = [
        (Ipv4Addr::new(192, 168, 10, 100), 65001u32),
        (Ipv4Addr::new(192, 168, 10, 101), 65002u32),
    ];
    let mut handles = Vec::new();
    for (i, (addr, _)) in peers.iter().enumerate() {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65536]),
            tcp::SocketBuffer::new(vec![0; 65536]),
        );
        s.connect(
            iface.context(),
            IpEndpoint::new(IpAddress::v4(192, 168, 10, 200), 179),
            IpListenEndpoint {
                addr: Some(IpAddress::Ipv4(*addr)),
                port: 40000 + i as u16,
            },
        )
        .expect("connect");
        handles.push(sockets.add(s));
    }
    let mut received: Vec<Vec<u8>> = vec![Vec::new(); 2];
    let mut step = [0u8; 2];
    let start = Instant::now();
    let prefix: Ipv4Net = "172.20.0.0/24".parse().unwrap();
    let mut installed = false;
    let done = |installed: bool, received: &[Vec<u8>]| {
        installed && received.iter().all(|r| types(r).contains(&2))
    };
    while start.elapsed() < Duration::from_secs(10) && !done(installed, &received) {
        while let Ok(p) = shared.local_tcp.from_stack_rx.try_recv() {
            dev.rx_queue.push_back(p);
        }
        let now = smoltcp::time::Instant::from_millis(start.elapsed().as_millis() as i64);
        iface.poll(now, &mut dev, &mut sockets);
        for (i, h) in handles.iter().enumerate() {
            let s = sockets.get_mut::<tcp::Socket>(*h);
            while s.can_recv() {
                let _ = s.recv(|b| {
                    received[i].extend_from_slice(b);
                    (b.len(), ())
                });
            }
            let (addr, asn) = peers[i];
            let t = types(&received[i]);
            match step[i] {
                0 if s.may_send() => {
                    s.send_slice(&peer_open(asn, addr)).unwrap();
                    step[i] = 1;
                }
                // Their OPEN and KEEPALIVE: we confirm, then announce (peer 0 only).
                1 if t.starts_with(&[1, 4]) => {
                    s.send_slice(&Message::Keepalive.to_bytes(&DecodeContext::default()))
                        .unwrap();
                    if i == 0 {
                        s.send_slice(&announce("172.20.0.0/24", addr, asn)).unwrap();
                    }
                    step[i] = 2;
                }
                _ => {}
            }
        }
        iface.poll(now, &mut dev, &mut sockets);
        installed = routes.lock().unwrap().bgp_installed(&prefix);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        installed,
        "172.20.0.0/24 not installed; peer streams: {:?} {:?}",
        types(&received[0]),
        types(&received[1])
    );
    let route = routes.lock().unwrap().route(&prefix).expect("route");
    assert_eq!(route.next_hops.len(), 1);
    assert_eq!(
        route.next_hops[0].via,
        Some(Ipv4Addr::new(192, 168, 10, 100).into())
    );

    // Both sessions are up (one configured, one dynamic from the listen
    // range), and each peer got our UPDATE (10.10.1.0/24, next-hop self).
    let Reply::Summary(sum, stats) = handle
        .client
        .query(Query::Summary, Duration::from_secs(2))
        .unwrap()
    else {
        panic!("expected a summary")
    };
    assert_eq!(sum.peers.len(), 2, "{sum:?}");
    assert!(
        sum.peers
            .iter()
            .all(|p| p.state == bgp::SessionState::Established),
        "{sum:?}"
    );
    assert_eq!(stats.connections_accepted, 2);
    for r in &received {
        assert!(
            types(r).contains(&2),
            "an UPDATE from the router: {:?}",
            types(r)
        );
    }
    handle.shutdown();
}

const MD5_CONFIG: &str = r#"
[[ports]]
name = "eth1"
addresses = ["192.168.10.200/24"]

[bgp]
asn = 65000
router_id = "192.168.10.200"
networks = ["10.10.1.0/24"]

[[bgp.groups]]
name = "NODES"
remote_as = "external"
passive = true
password = "right"

[[bgp.neighbors]]
address = "192.168.10.100"
group = "NODES"

[[bgp.neighbors]]
address = "192.168.10.101"
group = "NODES"
"#;

/// One peer on its own smoltcp interface, signing with its own key.
struct Md5Peer {
    addr: Ipv4Addr,
    asn: u32,
    dev: ChannelDevice,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: smoltcp::iface::SocketHandle,
    received: Vec<u8>,
    step: u8,
}

impl Md5Peer {
    fn new(shared: &Shared, addr: Ipv4Addr, asn: u32, key: &[u8]) -> Md5Peer {
        let mut keys = super::tcp_md5::KeyTable::default();
        keys.insert_peer(
            Ipv4Addr::new(192, 168, 10, 200),
            super::tcp_md5::Md5Key::new(key).unwrap(),
        );
        let mut dev =
            ChannelDevice::with_md5_keys(shared.local_tcp.to_stack_tx.clone(), 1500, keys);
        let mut iface = Interface::new(
            IfaceConfig::new(HardwareAddress::Ip),
            &mut dev,
            smoltcp::time::Instant::ZERO,
        );
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(addr), 24)).unwrap();
        });
        let mut sockets = SocketSet::new(Vec::new());
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65536]),
            tcp::SocketBuffer::new(vec![0; 65536]),
        );
        s.connect(
            iface.context(),
            IpEndpoint::new(IpAddress::v4(192, 168, 10, 200), 179),
            IpListenEndpoint {
                addr: Some(IpAddress::Ipv4(addr)),
                port: 40000,
            },
        )
        .expect("connect");
        let handle = sockets.add(s);
        Md5Peer {
            addr,
            asn,
            dev,
            iface,
            sockets,
            handle,
            received: Vec::new(),
            step: 0,
        }
    }

    fn poll(&mut self, now: smoltcp::time::Instant) {
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        let s = self.sockets.get_mut::<tcp::Socket>(self.handle);
        while s.can_recv() {
            let _ = s.recv(|b| {
                self.received.extend_from_slice(b);
                (b.len(), ())
            });
        }
        let t = types(&self.received);
        match self.step {
            0 if s.may_send() => {
                s.send_slice(&peer_open(self.asn, self.addr)).unwrap();
                self.step = 1;
            }
            1 if t.starts_with(&[1, 4]) => {
                s.send_slice(&Message::Keepalive.to_bytes(&DecodeContext::default()))
                    .unwrap();
                s.send_slice(&announce("172.20.0.0/24", self.addr, self.asn))
                    .unwrap();
                self.step = 2;
            }
            _ => {}
        }
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
    }
}

#[test]
fn tcp_md5_right_key_comes_up_wrong_key_is_dropped_and_explained() {
    let cfg = Config::parse("test.toml", MD5_CONFIG).expect("config");
    let port = PortInfo {
        id: 0,
        name: "eth1".into(),
        ifname: "eth1".into(),
        ifindex: 1,
        mac: [2, 0, 0, 0, 0, 1],
        mtu: 1500,
        addrs: vec!["192.168.10.200/24".parse().unwrap()],
        addrs6: Vec::new(),
    };
    let shared = Shared::new(vec![port], 1);
    let mut rm = RouteManager::new(shared.clone());
    rm.set_connected(&[]).expect("connected routes");
    let routes = rm.into_handle();
    let mut handle = spawn(shared.clone(), &cfg, routes.clone()).expect("bgp thread");
    let mut peers = [
        Md5Peer::new(&shared, Ipv4Addr::new(192, 168, 10, 100), 65001, b"right"),
        Md5Peer::new(&shared, Ipv4Addr::new(192, 168, 10, 101), 65002, b"wrong"),
    ];
    let start = Instant::now();
    let prefix: Ipv4Net = "172.20.0.0/24".parse().unwrap();
    let mut installed = false;
    // The wrong-key peer retransmits its SYN (1 s, 2 s...): a few drops.
    while start.elapsed() < Duration::from_secs(10)
        && !(installed
            && peers[1].dev.md5.totals.verified == 0
            && start.elapsed() > Duration::from_secs(2))
    {
        while let Ok(p) = shared.local_tcp.from_stack_rx.try_recv() {
            // Where the slow path would route it: by destination.
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            if let Some(peer) = peers.iter_mut().find(|x| x.addr == dst) {
                peer.dev.rx_queue.push_back(p);
            }
        }
        let now = smoltcp::time::Instant::from_millis(start.elapsed().as_millis() as i64);
        for p in peers.iter_mut() {
            p.poll(now);
        }
        installed = routes.lock().unwrap().bgp_installed(&prefix);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(installed, "route from the right-key peer not installed");
    // Our segments were signed: the peer's shim verified them.
    assert!(peers[0].dev.md5.totals.verified > 0);
    assert_eq!(
        peers[0].dev.md5.totals.bad + peers[0].dev.md5.totals.missing,
        0
    );
    let Reply::Summary(sum, stats) = handle
        .client
        .query(Query::Summary, Duration::from_secs(2))
        .unwrap()
    else {
        panic!("expected a summary")
    };
    let state = |a: &str| {
        sum.peers
            .iter()
            .find(|p| p.address.to_string() == a)
            .map(|p| p.state)
    };
    assert_eq!(
        state("192.168.10.100"),
        Some(bgp::SessionState::Established)
    );
    assert_ne!(
        state("192.168.10.101"),
        Some(bgp::SessionState::Established)
    );
    assert!(stats.md5_bad >= 1, "{stats:?}");
    assert!(stats.md5_verified > 0 && stats.md5_signed > 0, "{stats:?}");
    assert_eq!(stats.md5_keys, 2);
    let Reply::Neighbors(list, md5) = handle
        .client
        .query(
            Query::Neighbors(Some("192.168.10.101".parse().unwrap())),
            Duration::from_secs(2),
        )
        .unwrap()
    else {
        panic!("expected neighbours")
    };
    let (data, table) = super::commands::neighbors(&list, &md5);
    let reason = data[0]["tcp_md5"]["down_reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("TCP-MD5: ")
            && reason.ends_with("segments with a bad signature from 192.168.10.101"),
        "{reason}"
    );
    assert!(table
        .rows
        .iter()
        .any(|r| r[1] == "down reason" && r[2] == reason));
    // Nothing the operator sees holds the password.
    assert!(!data.to_string().contains("right") && !data.to_string().contains("wrong"));
    handle.shutdown();
}

const V6_CONFIG: &str = r#"
[[ports]]
name = "eth1"
addresses = ["192.168.10.200/24"]

[bgp]
asn = 65000
router_id = "192.168.10.200"
networks = ["10.10.1.0/24"]

[[bgp.groups]]
name = "NODES"
remote_as = "external"

[[bgp.listen]]
prefix = "2001:db8:10::/64"
group = "NODES"
"#;

/// A peer connecting over IPv6 to the port's global address: the session
/// comes up on the stack's IPv6 address (AnyIP through the port's global
/// address) and the router's End-of-RIB arrives.
#[test]
fn a_peer_connects_over_ipv6_and_the_session_comes_up() {
    use std::net::Ipv6Addr;
    let cfg = Config::parse("test.toml", V6_CONFIG).expect("config");
    let ours: Ipv6Addr = "2001:db8:10::200".parse().unwrap();
    let theirs: Ipv6Addr = "2001:db8:10::100".parse().unwrap();
    let port = PortInfo {
        id: 0,
        name: "eth1".into(),
        ifname: "eth1".into(),
        ifindex: 1,
        mac: [2, 0, 0, 0, 0, 1],
        mtu: 1500,
        addrs: vec!["192.168.10.200/24".parse().unwrap()],
        addrs6: vec![
            "fe80::1/64".parse().unwrap(),
            "2001:db8:10::200/64".parse().unwrap(),
        ],
    };
    let shared = Shared::new(vec![port], 1);
    let mut rm = RouteManager::new(shared.clone());
    rm.set_connected(&[]).expect("connected routes");
    let routes = rm.into_handle();
    let mut handle = spawn(shared.clone(), &cfg, routes).expect("bgp thread");

    let mut dev = ChannelDevice::new(shared.local_tcp.to_stack_tx.clone(), 1500);
    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        &mut dev,
        smoltcp::time::Instant::ZERO,
    );
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::Ipv6(theirs), 64)).unwrap();
    });
    let mut sockets = SocketSet::new(Vec::new());
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 65536]),
        tcp::SocketBuffer::new(vec![0; 65536]),
    );
    s.connect(
        iface.context(),
        IpEndpoint::new(IpAddress::Ipv6(ours), 179),
        IpListenEndpoint {
            addr: Some(IpAddress::Ipv6(theirs)),
            port: 40000,
        },
    )
    .expect("connect");
    let h = sockets.add(s);
    let mut received = Vec::new();
    let mut step = 0;
    let mut v6_out = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) && !types(&received).contains(&2) {
        while let Ok(p) = shared.local_tcp.from_stack_rx.try_recv() {
            if p.first().is_some_and(|v| v >> 4 == 6) {
                v6_out += 1;
            }
            dev.rx_queue.push_back(p);
        }
        let now = smoltcp::time::Instant::from_millis(start.elapsed().as_millis() as i64);
        iface.poll(now, &mut dev, &mut sockets);
        let s = sockets.get_mut::<tcp::Socket>(h);
        while s.can_recv() {
            let _ = s.recv(|b| {
                received.extend_from_slice(b);
                (b.len(), ())
            });
        }
        let t = types(&received);
        match step {
            0 if s.may_send() => {
                let caps = vec![
                    Capability::Multiprotocol { afi: 1, safi: 1 },
                    Capability::Multiprotocol { afi: 2, safi: 1 },
                    Capability::FourOctetAs(65001),
                ];
                let open = Message::Open(OpenRepr::new(
                    65001,
                    9,
                    Ipv4Addr::new(192, 168, 10, 100),
                    caps,
                ));
                s.send_slice(&open.to_bytes(&DecodeContext::default()))
                    .unwrap();
                step = 1;
            }
            1 if t.starts_with(&[1, 4]) => {
                s.send_slice(&Message::Keepalive.to_bytes(&DecodeContext::default()))
                    .unwrap();
                step = 2;
            }
            _ => {}
        }
        iface.poll(now, &mut dev, &mut sockets);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        types(&received).contains(&2),
        "End-of-RIB over IPv6: {:?}",
        types(&received)
    );
    assert!(v6_out > 0, "the router's stack sent IPv6");
    let Reply::Summary(sum, _) = handle
        .client
        .query(Query::Summary, Duration::from_secs(2))
        .unwrap()
    else {
        panic!("expected a summary")
    };
    assert_eq!(sum.peers.len(), 1, "{sum:?}");
    assert_eq!(sum.peers[0].state, bgp::SessionState::Established);
    handle.shutdown();
}
