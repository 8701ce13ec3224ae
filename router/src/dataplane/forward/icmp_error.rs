//! ICMP errors about a packet: whether RFC 1812 §4.3.2.7 allows one, the
//! rate limit, and the way back to the source (the reply path, also used
//! for echo replies and TCP resets). The bytes are built by
//! [`icmp_out`](crate::dataplane::icmp_out).
use std::net::{Ipv4Addr, Ipv6Addr};

use super::lookup::{flow_hash, fold128, Egress, Egress6};
use super::validate::{is_martian_common, is_multicast};
use super::{Batch, Forwarder, TxSink};
use crate::dataplane::icmp_out::{self, Icmp6Headers, IcmpHeaders};
use crate::dataplane::monitor::IcmpSent;
use crate::ports::PortId;
use crate::wire::ethernet::{self, EthernetFrame, MacAddr};
use crate::wire::icmp as icmpw;
use crate::wire::icmpv6;
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::ipv6::{class, next_header, Ipv6Packet};

impl Forwarder {
    /// Where a reply to `dst` (the source of a packet that came in on
    /// `in_port` from `prev_hop_mac`) leaves, and to which MAC. A reply that
    /// leaves by the ingress port goes to the frame's previous hop, which
    /// routed the packet to us and can route the answer back.
    pub fn reply_path(
        &self,
        b: &Batch,
        in_port: PortId,
        prev_hop_mac: MacAddr,
        dst: Ipv4Addr,
    ) -> Option<(PortId, MacAddr, Ipv4Addr)> {
        let hash = flow_hash(u32::from(dst), 0, 0, 0);
        let Egress::Out { port, next_hop } = self.route(b, dst, hash) else {
            return None;
        };
        let mac = if port == in_port {
            prev_hop_mac
        } else {
            match self.shared.neigh.lookup(port, next_hop) {
                Some(n) if n.state.is_usable() => n.mac,
                _ => return None,
            }
        };
        Some((port, mac, next_hop))
    }

    pub fn next_ident(&mut self) -> u16 {
        self.ip_ident = self.ip_ident.wrapping_add(1);
        self.ip_ident
    }

    /// Sends an ICMP error about the packet in `frame` (validated, trimmed)
    /// back to its source, subject to the rules of RFC 1812 §4.3.2.7 and the
    /// rate limit. Sourced from the address of the port it leaves by.
    #[allow(clippy::too_many_arguments)]
    pub fn icmp_error<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &[u8],
        msg_type: u8,
        code: u8,
        mtu: u16,
        sink: &mut S,
    ) -> Option<IcmpSent> {
        let Some(Ok(ip)) = frame
            .get(ethernet::HEADER_LEN..)
            .map(Ipv4Packet::new_checked)
        else {
            return None;
        };
        let eth = EthernetFrame::new_unchecked(frame);
        let src = ip.src();
        let s = u32::from(src);
        // Never about: non-first fragments, packets to (link or IP)
        // broadcast/multicast, packets from addresses that do not name a
        // single host, or ICMP errors.
        if ip.frag_offset() != 0
            || ethernet::is_multicast(&eth.dst())
            || is_multicast(u32::from(ip.dst()))
            || u32::from(ip.dst()) == u32::MAX
            || is_martian_common(s)
            || is_multicast(s)
            || self.is_directed_broadcast(src)
        {
            return None;
        }
        if ip.protocol() == protocol::ICMP {
            match ip.payload().first() {
                Some(&t) if !icmpw::is_error(t) => {}
                _ => return None,
            }
        }
        if !self.icmp_bucket.allow(b.now) {
            return None;
        }
        let (port, mac, next_hop) = self.reply_path(b, in_port, eth.src(), src)?;
        let src_ip = self.source_address(port, next_hop)?;
        let src_mac = self.port_mac(port)?;
        let h = IcmpHeaders {
            src_mac,
            dst_mac: mac,
            src_ip,
            dst_ip: src,
            ident: self.next_ident(),
        };
        let offending = &frame[ethernet::HEADER_LEN..];
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = icmp_out::build_error(buf, &h, msg_type, code, mtu, offending).unwrap_or(0);
            (len, None)
        });
        if !sent {
            return None;
        }
        self.counters(port).tx(len);
        Some(IcmpSent {
            msg_type,
            code,
            v6: false,
        })
    }

    /// Where a reply to IPv6 `dst` (the source of a packet that came in on
    /// `in_port` from `prev_hop_mac`) leaves, and to which MAC: back to the
    /// previous hop when it leaves by the ingress port (always so for a
    /// link-local `dst`, which only that link has).
    pub fn reply_path6(
        &self,
        b: &Batch,
        in_port: PortId,
        prev_hop_mac: MacAddr,
        dst: &Ipv6Addr,
    ) -> Option<(PortId, MacAddr, Ipv6Addr)> {
        if class::is_link_local(dst) {
            return Some((in_port, prev_hop_mac, *dst));
        }
        let hash = flow_hash(fold128(*dst), 0, 0, 0);
        let Egress6::Out { port, next_hop } = self.route6(b, *dst, hash) else {
            return None;
        };
        let mac = if port == in_port {
            prev_hop_mac
        } else {
            match self.neighbour6(port, next_hop) {
                Some(n) if n.state.is_usable() => n.mac,
                _ => return None,
            }
        };
        Some((port, mac, next_hop))
    }

    /// Sends an ICMPv6 error about the packet in `frame` (validated,
    /// trimmed) back to its source, as RFC 4443 §2.4 allows, within the
    /// ICMPv6 rate limit, from the address of the port it leaves by.
    #[allow(clippy::too_many_arguments)]
    pub fn icmp6_error<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &[u8],
        msg_type: u8,
        code: u8,
        word: u32,
        sink: &mut S,
    ) -> Option<IcmpSent> {
        let Some(Ok(ip)) = frame
            .get(ethernet::HEADER_LEN..)
            .map(Ipv6Packet::new_checked)
        else {
            return None;
        };
        let eth = EthernetFrame::new_unchecked(frame);
        let (src, dst) = (ip.src(), ip.dst());
        // §2.4(e.3, e.4): not about a packet to a multicast address (link
        // or IP), except Packet Too Big and Parameter Problem code 2
        // (unrecognised option that asks for a report).
        let exempt = msg_type == icmpv6::msg::PACKET_TOO_BIG
            || (msg_type == icmpv6::msg::PARAM_PROBLEM && code == 2);
        if !exempt && (class::is_multicast(&dst) || ethernet::is_multicast(&eth.dst())) {
            return None;
        }
        // §2.4(e.6): not to a source that names no single node.
        if src.is_unspecified() || class::is_multicast(&src) {
            return None;
        }
        // §2.4(e.1, e.2): never about an ICMPv6 error or a Redirect. A
        // packet whose headers we cannot walk gets nothing: it might be one.
        let ul = ip.upper_layer()?;
        if ul.protocol == next_header::ICMPV6 {
            match ul.offset.and_then(|o| ip.payload().get(o)) {
                Some(&t) if !icmpv6::is_error(t) && t != icmpv6::msg::REDIRECT => {}
                _ => return None,
            }
        }
        // §2.4(f): rate-limited.
        if !self.icmp6_bucket.allow(b.now) {
            return None;
        }
        let (port, mac, _) = self.reply_path6(b, in_port, eth.src(), &src)?;
        let src_ip = self.source_address6(port, &src)?;
        let src_mac = self.port_mac(port)?;
        let h = Icmp6Headers {
            src_mac,
            dst_mac: mac,
            src_ip,
            dst_ip: src,
        };
        let offending = &frame[ethernet::HEADER_LEN..];
        let mut len = 0;
        let sent = sink.send(port, |buf| {
            len = icmp_out::build_error6(buf, &h, msg_type, code, word, offending).unwrap_or(0);
            (len, None)
        });
        if !sent {
            return None;
        }
        self.counters(port).tx(len);
        Some(IcmpSent {
            msg_type,
            code,
            v6: true,
        })
    }
}
