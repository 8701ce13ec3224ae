//! Step 1b: IPv4 options (RFC 791 §3.1, RFC 1812 §5.2.4), for headers
//! longer than 20 bytes only: `process` tests IHL and calls in here, so a
//! packet without options never runs any of this (both functions are
//! `#[cold]` and out of line to keep the fast path's code as it was).
//!
//! What each option gets:
//! - malformed (length 0 or 1, running past the header, a pointer out of
//!   range, an undefined timestamp flag): dropped as `bad_option`, ICMP
//!   Parameter Problem pointing at the offending octet;
//! - Loose/Strict Source Route: dropped as `source_route` (RFC 7126);
//! - Record Route: the egress port's address recorded while there is room
//!   ([`record_route`](Forwarder::record_route)), forwarded unchanged when
//!   full;
//! - Timestamp, Router Alert, Security and unknown options: forwarded
//!   unchanged (validated).
use super::{Batch, Forwarder, TxSink};
use crate::dataplane::counters::DropReason;
use crate::ports::PortId;
use crate::wire::ethernet;
use crate::wire::icmp::msg;
use crate::wire::ipv4::{Ipv4Packet, MIN_HEADER_LEN};
use crate::wire::ipv4_options::{self, IpOption};

/// RFC 792: code 0, "pointer indicates the error".
const PARAM_PROBLEM_POINTER: u8 = 0;

impl Forwarder {
    /// Checks the options of a validated, trimmed frame whose IHL is above 5.
    /// False if the packet was dropped (and counted, and answered).
    #[cold]
    #[inline(never)]
    pub(super) fn options_allow<S: TxSink>(
        &mut self,
        b: &Batch,
        in_port: PortId,
        frame: &[u8],
        sink: &mut S,
    ) -> bool {
        let ip = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        match ipv4_options::check(ip.options()) {
            // RFC 1812 §4.3.3.5: "A router MUST generate a Parameter
            // Problem message for any error not specifically covered by
            // another ICMP message", the pointer at the octet in error.
            Err(m) => {
                self.drop_with_icmp(
                    b,
                    in_port,
                    DropReason::BadOption,
                    frame,
                    msg::PARAM_PROBLEM,
                    PARAM_PROBLEM_POINTER,
                    m.pointer as u16,
                    sink,
                );
                false
            }
            // RFC 7126 §4.3.3/§4.4.3: "the default configuration of a device
            // SHOULD be to drop IP packets that contain LSRR/SSRR".
            Ok(v) if v.source_route => {
                self.drop_packet(in_port, DropReason::SourceRoute, frame, None);
                false
            }
            Ok(_) => true,
        }
    }

    /// RFC 791 Record Route: "When an internet module routes a datagram it
    /// checks to see if the record route option is present. If it is, it
    /// inserts its own internet address as known in the environment into
    /// which this datagram is being forwarded into the recorded route". The
    /// address is the egress port's (the one on the destination's subnet,
    /// else its first); a full option is left as it is. The header
    /// checksum is recomputed (the header is at most 60 bytes).
    #[cold]
    #[inline(never)]
    pub(super) fn record_route(&self, frame: &mut [u8], out_port: PortId) {
        let Some(h) = frame.get_mut(ethernet::HEADER_LEN..) else {
            return;
        };
        let Ok(ip) = Ipv4Packet::new_checked(h) else {
            return;
        };
        let Ok(v) = ipv4_options::check(ip.options()) else {
            return;
        };
        let Some(off) = v.record_route else {
            return;
        };
        let Some(addr) = self.source_address(out_port, ip.dst()) else {
            return;
        };
        let hl = ip.header_len();
        let h = ip.into_inner();
        let start = MIN_HEADER_LEN + off;
        let Some(&olen) = h.get(start + 1) else {
            return;
        };
        let Some(opt) = h.get_mut(start..(start + olen as usize).min(hl)) else {
            return;
        };
        if let Some(mut o) = IpOption::new_checked(opt) {
            if o.record(addr.octets()) {
                Ipv4Packet::new_unchecked(h).fill_checksum();
            }
        }
    }
}
