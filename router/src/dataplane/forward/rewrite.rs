//! Step 3: out it goes. Once the next hop's MAC is known: the MTU check
//! (ICMP "fragmentation needed", or [`fragment`](super::fragment)), the
//! offloaded checksum passed on or completed, TTL decremented (RFC 1624
//! incremental checksum), Record Route recorded (headers with options
//! only), MACs rewritten, the frame copied into the egress
//! TX buffer.
use super::{Batch, Forwarder, FragmentPolicy, FrameMeta, TxSink};
use crate::dataplane::counters::DropReason;
use crate::ports::PortId;
use crate::wire::checksum;
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::icmp::{msg, unreach};
use crate::wire::icmpv6;
use crate::wire::ipv4::{self, protocol, Ipv4Packet};
use crate::wire::ipv6::{self, next_header, Ipv6Packet, UpperLayer};

impl Forwarder {
    /// The transmit half of forwarding, once the neighbour's MAC is known:
    /// MTU check (ICMP frag needed / fragmentation), TTL decrement, MAC
    /// rewrite, copy into the egress TX buffer. `frame` is validated and
    /// trimmed, with TTL > 1. Also used by the slow path for packets that
    /// waited for ARP.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_resolved<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        out_port: PortId,
        dst_mac: MacAddr,
        sink: &mut S,
    ) {
        if frame.get(12..14) == Some(&ethernet::ethertype::IPV6.to_be_bytes()[..]) {
            self.forward_resolved6(b, in_port, frame, meta, out_port, dst_mac, sink);
            return;
        }
        let Some(out) = self.ports.get(out_port as usize) else {
            return;
        };
        let (src_mac, mtu) = (out.mac, out.mtu);
        // `.get`: the slow path calls this too, and a short frame must not
        // panic it.
        let Some(Ok(ip)) = frame
            .get(ethernet::HEADER_LEN..)
            .map(Ipv4Packet::new_checked)
        else {
            self.drop_packet(in_port, DropReason::BadHeader, frame, None);
            return;
        };
        let ip_len = ip.total_len() as usize;
        let hl = ip.header_len();
        let df = ip.dont_frag();
        let vnet = meta.vnet.filter(|v| v.is_gso() || v.needs_csum());
        let gso = vnet.filter(|v| v.is_gso());
        if let Some(v) = gso {
            // A GSO super-frame leaves whole; the segments the kernel (or
            // the peer) cuts from it must fit the MTU.
            let l4_hdr = match ip.protocol() {
                protocol::TCP => ip.payload().get(12).map_or(20, |b| ((b >> 4) as usize) * 4),
                _ => 8,
            };
            let seg = hl + l4_hdr + v.gso_size as usize;
            if seg > mtu {
                if df {
                    self.drop_with_icmp(
                        b,
                        in_port,
                        DropReason::Mtu,
                        frame,
                        msg::DST_UNREACHABLE,
                        unreach::FRAG_NEEDED,
                        mtu as u16,
                        sink,
                    );
                } else {
                    self.drop_packet(in_port, DropReason::Mtu, frame, None);
                }
                return;
            }
            if !self.opts.tx_vnet {
                self.drop_packet(in_port, DropReason::Mtu, frame, None);
                return;
            }
        } else if ip_len > mtu {
            // RFC 1191 / RFC 1812 §5.2.6.
            if df {
                self.drop_with_icmp(
                    b,
                    in_port,
                    DropReason::Mtu,
                    frame,
                    msg::DST_UNREACHABLE,
                    unreach::FRAG_NEEDED,
                    mtu as u16,
                    sink,
                );
                return;
            }
            if self.opts.fragment == FragmentPolicy::Drop {
                self.drop_packet(in_port, DropReason::Mtu, frame, None);
                return;
            }
            if !complete_checksum(frame, meta) {
                self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                return;
            }
            if hl > ipv4::MIN_HEADER_LEN {
                self.record_route(frame, out_port);
            }
            Ipv4Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..]).decrement_ttl();
            self.fragment(in_port, frame, out_port, src_mac, dst_mac, mtu, sink);
            return;
        }
        // Frames whose checksum the kernel left to "hardware": pass the
        // request on with the vnet header, or finish it here.
        let tx_vnet = if self.opts.tx_vnet {
            vnet
        } else {
            if (vnet.is_some() || meta.csum_not_ready) && !complete_checksum(frame, meta) {
                self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                return;
            }
            None
        };
        if hl > ipv4::MIN_HEADER_LEN {
            self.record_route(frame, out_port);
        }
        Ipv4Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..]).decrement_ttl();
        self.transmit(in_port, frame, out_port, src_mac, dst_mac, tx_vnet, sink);
    }

    /// [`forward_resolved`](Self::forward_resolved) for IPv6 (RFC 8200):
    /// routers never fragment, so a packet larger than the egress MTU gets
    /// Packet Too Big carrying that MTU (RFC 4443 §3.2), and a GSO
    /// super-frame leaves whole if its segments fit; then hop limit − 1,
    /// MACs, TX.
    #[allow(clippy::too_many_arguments)]
    fn forward_resolved6<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &mut [u8],
        meta: &FrameMeta,
        out_port: PortId,
        dst_mac: MacAddr,
        sink: &mut S,
    ) {
        let Some(out) = self.ports.get(out_port as usize) else {
            return;
        };
        let (src_mac, mtu) = (out.mac, out.mtu);
        let Some(Ok(ip)) = frame
            .get(ethernet::HEADER_LEN..)
            .map(Ipv6Packet::new_checked)
        else {
            self.drop_packet(in_port, DropReason::BadHeader, frame, None);
            return;
        };
        let vnet = meta.vnet.filter(|v| v.is_gso() || v.needs_csum());
        let too_big = match vnet.filter(|v| v.is_gso()) {
            Some(v) => {
                // The segments cut from the super-frame: IPv6 and extension
                // headers, the TCP (or UDP) header, gso_size of data.
                let (ext, l4_hdr) = match ip.upper_layer() {
                    Some(UpperLayer {
                        protocol: next_header::TCP,
                        offset: Some(off),
                        ..
                    }) => (
                        off,
                        ip.payload()
                            .get(off + 12)
                            .map_or(20, |b| ((b >> 4) as usize) * 4),
                    ),
                    Some(UpperLayer {
                        offset: Some(off), ..
                    }) => (off, 8),
                    _ => (0, 8),
                };
                ipv6::HEADER_LEN + ext + l4_hdr + v.gso_size as usize > mtu || !self.opts.tx_vnet
            }
            None => ip.total_len() > mtu,
        };
        if too_big {
            if vnet.is_some_and(|v| v.is_gso()) && !self.opts.tx_vnet {
                self.drop_packet(in_port, DropReason::Mtu, frame, None);
                return;
            }
            // Packet Too Big is sent even about multicast (§2.4(e.3)), so
            // PMTU discovery works; the MTU is never below 1280.
            self.drop_with_icmp6(
                b,
                in_port,
                DropReason::Mtu,
                frame,
                icmpv6::msg::PACKET_TOO_BIG,
                0,
                mtu.max(ipv6::MIN_MTU) as u32,
                sink,
            );
            return;
        }
        let tx_vnet = if self.opts.tx_vnet {
            vnet
        } else {
            if (vnet.is_some() || meta.csum_not_ready) && !complete_checksum(frame, meta) {
                self.drop_packet(in_port, DropReason::BadHeader, frame, None);
                return;
            }
            None
        };
        Ipv6Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..]).decrement_hop_limit();
        self.transmit(in_port, frame, out_port, src_mac, dst_mac, tx_vnet, sink);
    }

    /// Copies a rewritten frame into `out_port`'s TX ring with its new MACs
    /// and counts it (or the drop).
    #[allow(clippy::too_many_arguments)]
    fn transmit<S: TxSink>(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        out_port: PortId,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        tx_vnet: Option<crate::wire::vnet::VnetHdr>,
        sink: &mut S,
    ) {
        let flen = frame.len();
        if flen > sink.frame_capacity(out_port) {
            self.drop_packet(in_port, DropReason::Mtu, frame, None);
            return;
        }
        let src: &[u8] = frame;
        let sent = sink.send(out_port, |buf| {
            let Some(buf) = buf.get_mut(..flen) else {
                return (0, None);
            };
            buf.copy_from_slice(src);
            buf[0..6].copy_from_slice(&dst_mac);
            buf[6..12].copy_from_slice(&src_mac);
            (flen, tx_vnet)
        });
        if sent {
            self.counters(out_port).tx(flen);
        } else {
            self.drop_packet(out_port, DropReason::QueueFull, frame, None);
        }
    }
}

/// Completes an offloaded TCP/UDP checksum in software: from the vnet
/// header's csum_start/csum_offset when present, else (TP_STATUS_CSUMNOTREADY
/// without a vnet header) from the IPv4/TCP/UDP headers. True if the frame
/// needed nothing or was completed.
pub fn complete_checksum(frame: &mut [u8], meta: &FrameMeta) -> bool {
    if let Some(v) = meta.vnet {
        if v.needs_csum() {
            // The checksum to complete is an L4 one, after the IP header: a
            // csum_start inside the header would rewrite it (found by the
            // forward fuzz target: an IHL of 0 reached the option code).
            let ip_end = frame.get(ethernet::HEADER_LEN).map(|b| match b >> 4 {
                6 => ethernet::HEADER_LEN + ipv6::HEADER_LEN,
                _ => ethernet::HEADER_LEN + ((b & 0x0f) as usize) * 4,
            });
            if !matches!(ip_end, Some(end) if v.csum_start as usize >= end) {
                return false;
            }
            return checksum::complete_partial(
                frame,
                v.csum_start as usize,
                v.csum_offset as usize,
            )
            .is_ok();
        }
        return true;
    }
    if !meta.csum_not_ready {
        return true;
    }
    if frame.get(ethernet::HEADER_LEN).is_some_and(|b| b >> 4 == 6) {
        let Ok(ip) = Ipv6Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else {
            return false;
        };
        let Some(UpperLayer {
            protocol,
            offset: Some(off),
            ..
        }) = ip.upper_layer()
        else {
            return true;
        };
        let offset = match protocol {
            next_header::TCP => 16,
            next_header::UDP => 6,
            _ => return true,
        };
        let start = ethernet::HEADER_LEN + ipv6::HEADER_LEN + off;
        return checksum::complete_partial(frame, start, offset).is_ok();
    }
    let Ok(ip) = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN.min(frame.len())..]) else {
        return false;
    };
    if ip.is_fragment() {
        return true;
    }
    let offset = match ip.protocol() {
        protocol::TCP => 16,
        protocol::UDP => 6,
        _ => return true,
    };
    let start = ethernet::HEADER_LEN + ip.header_len();
    checksum::complete_partial(frame, start, offset).is_ok()
}
