//! Packets addressed to one of the router's own addresses: ICMP echo is
//! answered here, TCP goes to the slow path (the local stack), anything
//! else gets the ICMP error RFC 1122 asks for — unless the address belongs
//! to a port with a host interface: then what the router does not consume
//! itself ([`consumer`]) goes up the TAP to the kernel instead.
use std::sync::atomic::Ordering;

use super::{Batch, Forwarder, FrameMeta, Punt, TxSink};
use crate::dataplane::counters::DropReason;
use crate::dataplane::icmp_out::{self, Icmp6Headers, IcmpHeaders};
use crate::ports::PortId;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::icmp::{msg, unreach, Icmpv4Packet};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::ipv6::{class, next_header, Ipv6Packet};

/// TCP port of BGP (RFC 4271 §8.2.1).
const BGP_PORT: u16 = 179;

/// Local ports the embedded stack connects from (`bgp_io::transport`'s
/// ephemeral range): replies from a peer's port 179 to one of these are the
/// stack's.
const STACK_EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// Who takes a packet addressed to one of the router's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Consumer {
    /// An ICMP echo request: the router answers it.
    Echo,
    /// TCP for the embedded stack (BGP): to port 179, or from a peer's
    /// port 179 to one of the stack's own ports.
    Stack,
    /// Nothing of the router's: the port's host interface takes it (the
    /// kernel's sockets: TCP/22, DNS replies, echo replies and ICMP errors
    /// for the kernel's own connections, other protocols, fragments, which
    /// the kernel reassembles); without one, the router answers as RFC
    /// 1122 asks (RST, port or protocol unreachable) or drops it.
    Host,
}

/// Decides [`Consumer`] for a validated IPv4 packet to one of our
/// addresses; `stack_runs`: the embedded TCP stack (BGP) is on.
///
/// A kernel socket connecting to a remote port 179 from a local port in
/// the stack's ephemeral range would lose its replies to the stack: the
/// kernel's range (`ip_local_port_range`, 32768–60999 by default) overlaps
/// it. Documented in the README (Host interfaces).
pub(crate) fn consumer<T: AsRef<[u8]>>(ip: &Ipv4Packet<T>, stack_runs: bool) -> Consumer {
    if ip.is_fragment() {
        return Consumer::Host;
    }
    let l4 = ip.payload();
    match ip.protocol() {
        protocol::ICMP => match l4.first() {
            Some(&msg::ECHO_REQUEST) if l4.get(1) == Some(&0) => Consumer::Echo,
            _ => Consumer::Host,
        },
        protocol::TCP if stack_runs && tcp_for_stack(l4) => Consumer::Stack,
        _ => Consumer::Host,
    }
}

/// Whether the TCP segment `l4` is the embedded stack's: to port 179, or
/// from a peer's port 179 to one of the stack's ephemeral ports.
fn tcp_for_stack(l4: &[u8]) -> bool {
    let (Some(s), Some(d)) = (l4.get(0..2), l4.get(2..4)) else {
        return false;
    };
    let (src, dst) = (
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([d[0], d[1]]),
    );
    dst == BGP_PORT || (src == BGP_PORT && STACK_EPHEMERAL.contains(&dst))
}

impl Forwarder {
    /// Packets addressed to one of our addresses.
    pub(super) fn local_delivery<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        sink: &mut S,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        if let Some(port) = self.host_port_of(ip.dst()) {
            let stack_runs = !self.shared.local_tcp.detached.load(Ordering::Relaxed);
            if consumer(&ip, stack_runs) == Consumer::Host {
                if !sink.punt(Punt::HostUp { port }, in_port, frame, meta) {
                    self.counters(in_port).drop(DropReason::QueueFull);
                }
                return;
            }
        }
        if ip.is_fragment() {
            // No reassembly for the router's own traffic.
            self.drop_packet(in_port, DropReason::LocalUnsupported, frame, None);
            return;
        }
        match ip.protocol() {
            protocol::ICMP => {
                let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
                    self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                    return;
                };
                if icmp.msg_type() != msg::ECHO_REQUEST || icmp.code() != 0 {
                    // Echo replies and errors: nothing of ours waits for them.
                    self.drop_packet(in_port, DropReason::LocalUnsupported, frame, None);
                    return;
                }
                if !icmp.verify_checksum() {
                    self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                    return;
                }
                self.echo_reply(b, in_port, frame, sink);
            }
            protocol::TCP => {
                if !sink.punt(Punt::LocalTcp, in_port, frame, meta) {
                    self.drop_packet(in_port, DropReason::QueueFull, frame, None);
                }
            }
            protocol::UDP => {
                // RFC 1122 §4.1.3.1: no listener → port unreachable.
                self.drop_with_icmp(
                    b,
                    in_port,
                    DropReason::LocalUnsupported,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::PORT,
                    0,
                    sink,
                );
            }
            _ => {
                // RFC 1122 §3.2.2.1: unknown transport → protocol unreachable.
                self.drop_with_icmp(
                    b,
                    in_port,
                    DropReason::LocalUnsupported,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::PROTOCOL,
                    0,
                    sink,
                );
            }
        }
    }

    fn echo_reply<S: TxSink>(&mut self, b: &Batch, in_port: PortId, frame: &[u8], sink: &mut S) {
        let prev = EthernetFrame::new_unchecked(frame).src();
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let icmp = Icmpv4Packet::new_unchecked(ip.payload());
        let Some((port, mac, _)) = self.reply_path(b, in_port, prev, ip.src()) else {
            return;
        };
        let Some(src_mac) = self.port_mac(port) else {
            return;
        };
        let h = IcmpHeaders {
            src_mac,
            dst_mac: mac,
            src_ip: ip.dst(),
            dst_ip: ip.src(),
            ident: self.next_ident(),
        };
        let (tos, ident, seq, data) = (
            ip.dscp_ecn(),
            icmp.echo_ident(),
            icmp.echo_seq(),
            icmp.data(),
        );
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = icmp_out::build_echo_reply(buf, &h, tos, ident, seq, data).unwrap_or(0);
            (len, None)
        });
        if sent {
            self.counters(port).tx(len);
        }
    }
}

impl Forwarder {
    /// IPv6 packets to one of our addresses or to a group we listen to:
    /// Neighbor Discovery to the slow path, echo answered here, the rest
    /// answered as RFC 4443 and RFC 8200 §4 ask (port unreachable, or
    /// Parameter Problem "unrecognized Next Header"); TCP for the embedded
    /// stack (BGP over IPv6) to the slow path. Not yet: host interfaces.
    pub(super) fn local_delivery6<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        sink: &mut S,
    ) {
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let multicast = class::is_multicast(&ip.dst());
        let Some(ul) = ip.upper_layer() else {
            self.drop_packet(in_port, DropReason::BadHeader, frame, None);
            return;
        };
        let Some(off) = ul.offset.filter(|_| !ul.fragment) else {
            // No reassembly for the router's own traffic.
            self.drop_packet(in_port, DropReason::LocalUnsupported, frame, None);
            return;
        };
        match ul.protocol {
            next_header::ICMPV6 => {
                let (src, dst) = (ip.src(), ip.dst());
                let Some(Ok(icmp)) = ip.payload().get(off..).map(Icmpv6Packet::new_checked) else {
                    self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                    return;
                };
                if !icmp.verify_checksum(&src, &dst) {
                    self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                    return;
                }
                let t = icmp.msg_type();
                if icmpv6::is_ndisc(t) {
                    if !sink.punt(Punt::Ndp, in_port, frame, meta) {
                        self.drop_packet(in_port, DropReason::QueueFull, frame, None);
                    }
                } else if t == icmpv6::msg::ECHO_REQUEST && icmp.code() == 0 && !multicast {
                    self.echo_reply6(b, in_port, frame, off, sink);
                } else {
                    // Echo replies, errors, MLD, multicast echo: nothing of
                    // ours waits for them.
                    self.drop_packet(in_port, DropReason::LocalUnsupported, frame, None);
                }
            }
            _ if multicast => {
                self.drop_packet(in_port, DropReason::NotForUs, frame, None);
            }
            // BGP over IPv6: the stack's segments go to it like IPv4 ones.
            // Only with TCP right after the fixed header: smoltcp would not
            // walk extension headers the way `upper_layer` does, and a BGP
            // peer sends none.
            next_header::TCP
                if off == 0
                    && ip.next_header() == next_header::TCP
                    && !self.shared.local_tcp.detached.load(Ordering::Relaxed)
                    && tcp_for_stack(ip.payload()) =>
            {
                if !sink.punt(Punt::LocalTcp, in_port, frame, meta) {
                    self.drop_packet(in_port, DropReason::QueueFull, frame, None);
                }
            }
            next_header::UDP | next_header::TCP => {
                // RFC 4443 §3.1: no listener → port unreachable (code 4).
                self.drop_with_icmp6(
                    b,
                    in_port,
                    DropReason::LocalUnsupported,
                    frame,
                    icmpv6::msg::DST_UNREACHABLE,
                    icmpv6::unreach::PORT,
                    0,
                    sink,
                );
            }
            next_header::NO_NEXT => {
                self.drop_packet(in_port, DropReason::LocalUnsupported, frame, None);
            }
            _ => {
                // RFC 8200 §4: an unrecognised Next Header is answered with
                // Parameter Problem code 1 pointing at that field.
                self.drop_with_icmp6(
                    b,
                    in_port,
                    DropReason::LocalUnsupported,
                    frame,
                    icmpv6::msg::PARAM_PROBLEM,
                    icmpv6::param::NEXT_HEADER,
                    ul.next_header_at as u32,
                    sink,
                );
            }
        }
    }

    /// RFC 4443 §4.2: the reply carries the request's identifier, sequence
    /// number and data, from the address the request was sent to.
    fn echo_reply6<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &[u8],
        off: usize,
        sink: &mut S,
    ) {
        let prev = EthernetFrame::new_unchecked(frame).src();
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let Some(Ok(icmp)) = ip.payload().get(off..).map(Icmpv6Packet::new_checked) else {
            return;
        };
        let src = ip.src();
        let Some((port, mac, _)) = self.reply_path6(b, in_port, prev, &src) else {
            return;
        };
        let Some(src_mac) = self.port_mac(port) else {
            return;
        };
        let h = Icmp6Headers {
            src_mac,
            dst_mac: mac,
            src_ip: ip.dst(),
            dst_ip: src,
        };
        let (word, data) = (icmp.word(), icmp.body());
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = icmp_out::build_icmp6(
                buf,
                &h,
                icmp_out::DEFAULT_HOP_LIMIT,
                icmpv6::msg::ECHO_REPLY,
                0,
                word,
                data,
            )
            .unwrap_or(0);
            (len, None)
        });
        if sent {
            self.counters(port).tx(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Repr;

    /// An IPv4 packet with `proto` and the first bytes of its payload.
    fn packet(proto: u8, l4: &[u8], frag_offset: u16) -> Vec<u8> {
        let mut b = vec![0u8; 20 + l4.len()];
        Ipv4Repr {
            src: "192.168.10.100".parse().unwrap(),
            dst: "192.168.10.200".parse().unwrap(),
            protocol: proto,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: false,
            payload_len: l4.len(),
        }
        .emit(&mut b)
        .unwrap();
        if frag_offset > 0 {
            b[6..8].copy_from_slice(&frag_offset.to_be_bytes());
        }
        b[20..].copy_from_slice(l4);
        b
    }

    fn tcp(src: u16, dst: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&src.to_be_bytes());
        t[2..4].copy_from_slice(&dst.to_be_bytes());
        packet(protocol::TCP, &t, 0)
    }

    fn of(b: &[u8], stack: bool) -> Consumer {
        consumer(&Ipv4Packet::new_checked(b).unwrap(), stack)
    }

    #[test]
    fn echo_requests_stay_everything_else_icmp_goes_up() {
        assert_eq!(
            of(&packet(protocol::ICMP, &[8, 0, 0, 0, 0, 0, 0, 0], 0), true),
            Consumer::Echo
        );
        // Echo replies and errors (PMTU: fragmentation needed) are the kernel's.
        for (t, c) in [(0, 0), (3, 4), (11, 0), (8, 1)] {
            let p = packet(protocol::ICMP, &[t, c, 0, 0, 0, 0, 0, 0], 0);
            assert_eq!(of(&p, false), Consumer::Host, "type {t} code {c}");
        }
        assert_eq!(of(&packet(protocol::ICMP, &[], 0), false), Consumer::Host);
    }

    #[test]
    fn tcp_179_is_the_stacks_only_while_it_runs() {
        assert_eq!(of(&tcp(40000, 179), true), Consumer::Stack);
        assert_eq!(
            of(&tcp(179, 50000), true),
            Consumer::Stack,
            "reply to our connect"
        );
        assert_eq!(of(&tcp(40000, 22), true), Consumer::Host);
        assert_eq!(
            of(&tcp(179, 40000), true),
            Consumer::Host,
            "kernel's own client"
        );
        assert_eq!(of(&tcp(40000, 179), false), Consumer::Host, "no stack");
        assert_eq!(of(&packet(protocol::TCP, &[0, 1], 0), true), Consumer::Host);
    }

    #[test]
    fn udp_other_protocols_and_fragments_go_up() {
        assert_eq!(
            of(
                &packet(protocol::UDP, &[0, 53, 0x9c, 0x40, 0, 8, 0, 0], 0),
                true
            ),
            Consumer::Host
        );
        assert_eq!(of(&packet(47, &[0; 8], 0), true), Consumer::Host);
        // A non-first fragment of an echo request: the kernel reassembles.
        assert_eq!(
            of(&packet(protocol::ICMP, &[0; 8], 100), true),
            Consumer::Host
        );
    }
}
