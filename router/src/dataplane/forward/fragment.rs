//! Step 3b: fragmentation (RFC 791 §3.2, RFC 1812 §5.2.6) of a packet
//! without DF that is larger than the egress MTU. Options marked "copied"
//! go into every fragment; the original's offset and MF are kept, so a
//! fragment can be fragmented again.
use super::{Forwarder, TxSink};
use crate::dataplane::counters::DropReason;
use crate::ports::PortId;
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::ipv4::{self, Ipv4Packet};

impl Forwarder {
    /// RFC 791 §3.2 fragmentation of a trimmed frame whose TTL has been
    /// decremented and checksum completed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fragment<S: TxSink>(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        out_port: PortId,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        mtu: usize,
        sink: &mut S,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let hl = ip.header_len();
        let payload = ip.payload();
        let base_off = ip.frag_offset();
        let orig_mf = ip.more_frags();
        let mut opts_buf = [0u8; 40];
        let later_opts_len = ipv4::copied_options(ip.options(), &mut opts_buf);
        let cap = sink.frame_capacity(out_port);
        let mut pos = 0;
        while pos < payload.len() {
            let first = pos == 0;
            let this_hl = if first {
                hl
            } else {
                ipv4::MIN_HEADER_LEN + later_opts_len
            };
            // Fragment data is a multiple of 8 bytes except in the last one.
            let room = mtu.saturating_sub(this_hl) & !7;
            if room == 0 || base_off + pos > 0xffff * 8 {
                self.drop_packet(in_port, DropReason::Mtu, frame, None);
                return;
            }
            let n = room.min(payload.len() - pos);
            let last = pos + n == payload.len();
            let flen = ethernet::HEADER_LEN + this_hl + n;
            if flen > cap {
                self.drop_packet(in_port, DropReason::Mtu, frame, None);
                return;
            }
            let chunk = &payload[pos..pos + n];
            let fixed = &frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN];
            let all_opts = ip.options();
            let later_opts = &opts_buf[..later_opts_len];
            let offset = base_off + pos;
            let sent = sink.send(out_port, |buf| {
                let Some(buf) = buf.get_mut(..flen) else {
                    return (0, None);
                };
                buf[0..6].copy_from_slice(&dst_mac);
                buf[6..12].copy_from_slice(&src_mac);
                buf[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
                let h = &mut buf[ethernet::HEADER_LEN..];
                h[..ipv4::MIN_HEADER_LEN].copy_from_slice(fixed);
                let opts = if first { all_opts } else { later_opts };
                h[ipv4::MIN_HEADER_LEN..this_hl].copy_from_slice(opts);
                h[this_hl..this_hl + n].copy_from_slice(chunk);
                let mut p = Ipv4Packet::new_unchecked(&mut h[..this_hl + n]);
                p.set_version_ihl(this_hl);
                p.set_total_len((this_hl + n) as u16);
                p.set_flags_offset(false, !last || orig_mf, offset);
                p.fill_checksum();
                (flen, None)
            });
            if !sent {
                self.drop_packet(out_port, DropReason::QueueFull, frame, None);
                return;
            }
            self.counters(out_port).tx(flen);
            pos += n;
        }
    }
}
