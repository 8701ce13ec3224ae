//! The I/O boundary: what the forwarding path sees of the AF_PACKET rings
//! of `router-sys`. `RingSink` is a [`TxSink`] over one TX ring per port;
//! [`frame_meta`] turns a ring's receive metadata into the dataplane's own
//! [`FrameMeta`]. Nothing past this file uses a `router_sys` type.
use router_sys::afpacket::{RxMeta, TxRing, VNET_HDR_LEN as SYS_VNET_HDR_LEN};

use super::forward::{FrameMeta, Punt, TxSink};
use crate::hostif::HostTx;
use crate::ports::PortId;
use crate::slowpath::{FlushTx, Handoff};
use crate::wire::vnet::{VnetHdr, VNET_HDR_LEN};

// The rings pass the header as the bytes `wire::vnet` parses.
const _: () = assert!(VNET_HDR_LEN == SYS_VNET_HDR_LEN);

/// The dataplane's view of a received frame's ring metadata.
#[inline]
pub fn frame_meta(m: &RxMeta) -> FrameMeta {
    FrameMeta {
        vnet: m.vnet.as_ref().and_then(|b| VnetHdr::parse(b)),
        csum_not_ready: m.csum_not_ready,
        wire_len: m.wire_len,
        truncated: m.truncated,
    }
}

/// A sink over a set of TX rings (one per port), remembering which need a
/// kick, and optionally handing frames to the slow path.
pub(crate) struct RingSink<'a> {
    pub tx: &'a mut [TxRing],
    pub touched: &'a mut [bool],
    pub handoff: Option<&'a Handoff>,
    pub punted: bool,
    /// The host interfaces' writers (slow path only).
    pub host: Option<&'a HostTx>,
}

impl TxSink for RingSink<'_> {
    fn frame_capacity(&self, port: PortId) -> usize {
        self.tx.get(port as usize).map_or(0, |t| t.frame_capacity())
    }
    #[inline]
    fn send(
        &mut self,
        port: PortId,
        fill: impl FnOnce(&mut [u8]) -> (usize, Option<VnetHdr>),
    ) -> bool {
        let Some(t) = self.tx.get_mut(port as usize) else {
            return false;
        };
        let ok = t.send_with(|buf| {
            let (len, vnet) = fill(buf);
            (len, vnet.map(|v| v.to_bytes()))
        });
        if ok {
            self.touched[port as usize] = true;
        }
        ok
    }
    fn punt(&mut self, why: Punt, in_port: PortId, frame: &[u8], meta: &FrameMeta) -> bool {
        let Some(h) = self.handoff else { return false };
        let ok = h.push(why, in_port, frame, meta);
        self.punted |= ok;
        ok
    }
    fn send_host(&mut self, port: PortId, vnet: &VnetHdr, frame: &[u8]) -> bool {
        self.host.is_some_and(|h| h.send(port, vnet, frame))
    }
}

impl FlushTx for RingSink<'_> {
    fn flush_all(&mut self) {
        for (i, t) in self.tx.iter_mut().enumerate() {
            if self.touched[i] || t.needs_flush() {
                if let Err(e) = t.flush() {
                    tracing::debug!(port = i, error = %e, "TX kick failed");
                }
                self.touched[i] = false;
            }
        }
    }
}
