//! Packets addressed to one of the router's own addresses: ICMP echo is
//! answered here, TCP goes to the slow path (the local stack), anything
//! else gets the ICMP error RFC 1122 asks for.
use super::{Batch, Forwarder, FrameMeta, Punt, TxSink};
use crate::dataplane::counters::DropReason;
use crate::dataplane::icmp_out::{self, IcmpHeaders};
use crate::ports::PortId;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::icmp::{msg, unreach, Icmpv4Packet};
use crate::wire::ipv4::{protocol, Ipv4Packet};

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
