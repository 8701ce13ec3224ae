//! RFC 4271 §4.2 OPEN, with RFC 5492 capabilities and RFC 9072 extended
//! optional parameters length.
use std::net::Ipv4Addr;

use super::header::{emit_header, patch_length};
use super::{
    ErrorKind, HeaderPacket, MessageError, MessageType, AS_TRANS, BGP_VERSION, HEADER_LEN,
    MAX_MESSAGE_LEN,
};

mod field {
    use core::ops::Range;
    pub const VERSION: usize = 19;
    pub const MY_AS: Range<usize> = 20..22;
    pub const HOLD_TIME: Range<usize> = 22..24;
    pub const BGP_ID: Range<usize> = 24..28;
    pub const OPT_PARAM_LEN: usize = 28;
    pub const OPT_PARAMS: usize = 29;
    /// RFC 9072: when OPT_PARAM_LEN is 255 and the next octet is 255, a
    /// 2-octet length follows and each parameter has a 2-octet length.
    pub const EXT_OPT_PARAM_LEN: Range<usize> = 30..32;
    pub const EXT_OPT_PARAMS: usize = 32;
}

pub const OPEN_MIN_LEN: usize = field::OPT_PARAMS;
const PARAM_CAPABILITIES: u8 = 2;
const PARAM_EXTENDED_LENGTH: u8 = 255;

pub const CAP_MULTIPROTOCOL: u8 = 1;
pub const CAP_ROUTE_REFRESH: u8 = 2;
pub const CAP_EXTENDED_NEXT_HOP: u8 = 5;
pub const CAP_EXTENDED_MESSAGE: u8 = 6;
pub const CAP_GRACEFUL_RESTART: u8 = 64;
pub const CAP_FOUR_OCTET_AS: u8 = 65;
pub const CAP_FQDN: u8 = 73;

/// One (AFI, SAFI) of the graceful restart capability.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct GrFamily {
    pub afi: u16,
    pub safi: u8,
    /// "Forwarding State" bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// One entry of the RFC 8950 Extended Next Hop Encoding capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedNextHop {
    pub afi: u16,
    /// Two octets here, unlike the multiprotocol capability's one.
    pub safi: u16,
    pub next_hop_afi: u16,
}

impl ExtendedNextHop {
    /// IPv4 unicast NLRI with an IPv6 next hop, the one use of RFC 8950.
    pub const IPV4_UNICAST_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
        afi: 1,
        safi: 1,
        next_hop_afi: 2,
    };
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// RFC 4760 §8.
    Multiprotocol { afi: u16, safi: u8 },
    /// RFC 2918.
    RouteRefresh,
    /// RFC 8654.
    ExtendedMessage,
    /// RFC 4724 §3, with the RFC 8538 "N" bit.
    GracefulRestart {
        restarting: bool,
        notification: bool,
        restart_time: u16,
        families: Vec<GrFamily>,
    },
    /// RFC 6793.
    FourOctetAs(u32),
    /// RFC 8950 §3: the (NLRI AFI, NLRI SAFI, next-hop AFI) triples for
    /// which the sender takes a next hop of another address family.
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Anything else (FQDN 73, enhanced route refresh
    /// 70, …): carried, never acted on.
    Unknown { code: u8, data: Vec<u8> },
}

impl Capability {
    fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol { .. } => CAP_MULTIPROTOCOL,
            Capability::RouteRefresh => CAP_ROUTE_REFRESH,
            Capability::ExtendedMessage => CAP_EXTENDED_MESSAGE,
            Capability::GracefulRestart { .. } => CAP_GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => CAP_FOUR_OCTET_AS,
            Capability::ExtendedNextHop(_) => CAP_EXTENDED_NEXT_HOP,
            Capability::Unknown { code, .. } => *code,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol { .. } => 4,
            Capability::RouteRefresh | Capability::ExtendedMessage => 0,
            Capability::GracefulRestart { families, .. } => 2 + 4 * families.len(),
            Capability::FourOctetAs(_) => 4,
            Capability::ExtendedNextHop(v) => 6 * v.len(),
            Capability::Unknown { data, .. } => data.len(),
        }
    }

    /// RFC 5492 §4: a capability whose value is malformed is an OPEN error;
    /// RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN message
    /// is recognized, but is malformed, then the Error Subcode MUST be set to
    /// 0 (Unspecific)."
    fn parse(code: u8, v: &[u8]) -> Result<Capability, MessageError> {
        let malformed = || MessageError::new(ErrorKind::OpenUnspecific, Vec::new());
        Ok(match code {
            CAP_MULTIPROTOCOL => {
                // AFI(2) Reserved(1) SAFI(1)
                if v.len() != 4 {
                    return Err(malformed());
                }
                Capability::Multiprotocol {
                    afi: u16::from_be_bytes([v[0], v[1]]),
                    safi: v[3],
                }
            }
            CAP_ROUTE_REFRESH => {
                if !v.is_empty() {
                    return Err(malformed());
                }
                Capability::RouteRefresh
            }
            CAP_EXTENDED_MESSAGE => {
                if !v.is_empty() {
                    return Err(malformed());
                }
                Capability::ExtendedMessage
            }
            CAP_FOUR_OCTET_AS => {
                if v.len() != 4 {
                    return Err(malformed());
                }
                Capability::FourOctetAs(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            CAP_GRACEFUL_RESTART => {
                // Restart Flags(4 bits) Restart Time(12 bits), then
                // (AFI(2) SAFI(1) Flags(1))*.
                if v.len() < 2 || !(v.len() - 2).is_multiple_of(4) {
                    return Err(malformed());
                }
                let flags_time = u16::from_be_bytes([v[0], v[1]]);
                let families = v[2..]
                    .chunks_exact(4)
                    .map(|c| GrFamily {
                        afi: u16::from_be_bytes([c[0], c[1]]),
                        safi: c[2],
                        forwarding_preserved: c[3] & 0x80 != 0,
                    })
                    .collect();
                Capability::GracefulRestart {
                    restarting: flags_time & 0x8000 != 0,
                    notification: flags_time & 0x4000 != 0,
                    restart_time: flags_time & 0x0fff,
                    families,
                }
            }
            CAP_EXTENDED_NEXT_HOP => {
                // RFC 8950 §3: (NLRI AFI(2), NLRI SAFI(2), Nexthop AFI(2))*.
                // A value that is not a list of triples is carried as
                // unknown (never acted on) rather than refused: before
                // RFC 8950 support every peer's capability 5 was accepted.
                if v.is_empty() || !v.len().is_multiple_of(6) {
                    return Ok(Capability::Unknown {
                        code,
                        data: v.to_vec(),
                    });
                }
                Capability::ExtendedNextHop(
                    v.chunks_exact(6)
                        .map(|c| ExtendedNextHop {
                            afi: u16::from_be_bytes([c[0], c[1]]),
                            safi: u16::from_be_bytes([c[2], c[3]]),
                            next_hop_afi: u16::from_be_bytes([c[4], c[5]]),
                        })
                        .collect(),
                )
            }
            _ => Capability::Unknown {
                code,
                data: v.to_vec(),
            },
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.code());
        out.push(u8::try_from(self.value_len()).unwrap_or(u8::MAX));
        match self {
            Capability::Multiprotocol { afi, safi } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.push(0);
                out.push(*safi);
            }
            Capability::RouteRefresh | Capability::ExtendedMessage => {}
            Capability::GracefulRestart {
                restarting,
                notification,
                restart_time,
                families,
            } => {
                let mut ft = restart_time & 0x0fff;
                if *restarting {
                    ft |= 0x8000;
                }
                if *notification {
                    ft |= 0x4000;
                }
                out.extend_from_slice(&ft.to_be_bytes());
                for f in families {
                    out.extend_from_slice(&f.afi.to_be_bytes());
                    out.push(f.safi);
                    out.push(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::ExtendedNextHop(v) => {
                for e in v {
                    out.extend_from_slice(&e.afi.to_be_bytes());
                    out.extend_from_slice(&e.safi.to_be_bytes());
                    out.extend_from_slice(&e.next_hop_afi.to_be_bytes());
                }
            }
            Capability::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// Zero-copy view of an OPEN message.
#[derive(Debug, Clone, Copy)]
pub struct OpenPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OpenPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        OpenPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, MessageError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// RFC 4271 §6.1: an OPEN shorter than 29 octets is a "Bad Message
    /// Length"; §6.2: Optional Parameters Length must match what follows.
    pub fn check_len(&self) -> Result<(), MessageError> {
        let b = self.buffer.as_ref();
        if b.len() < OPEN_MIN_LEN {
            return Err(MessageError::bad_length(b.len()));
        }
        let (start, len) = self.params_range();
        if start > b.len() || b.len() - start != len {
            return Err(MessageError::new(ErrorKind::OpenUnspecific, Vec::new()));
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }
    pub fn my_as(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MY_AS];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn hold_time(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::HOLD_TIME];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn bgp_id(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::BGP_ID];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Whether RFC 9072 extended optional parameters are used.
    pub fn extended_params(&self) -> bool {
        let b = self.buffer.as_ref();
        b[field::OPT_PARAM_LEN] == 255 && b.get(field::OPT_PARAMS) == Some(&PARAM_EXTENDED_LENGTH)
    }

    /// (offset, length) of the optional parameters.
    fn params_range(&self) -> (usize, usize) {
        let b = self.buffer.as_ref();
        if self.extended_params() {
            match b.get(field::EXT_OPT_PARAM_LEN) {
                Some(l) => (
                    field::EXT_OPT_PARAMS,
                    usize::from(u16::from_be_bytes([l[0], l[1]])),
                ),
                None => (usize::MAX, 0),
            }
        } else {
            (field::OPT_PARAMS, usize::from(b[field::OPT_PARAM_LEN]))
        }
    }

    pub fn params(&self) -> &[u8] {
        let (start, len) = self.params_range();
        self.buffer
            .as_ref()
            .get(start..start.saturating_add(len))
            .unwrap_or(&[])
    }
}

/// A parsed OPEN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpenRepr {
    pub version: u8,
    /// The 2-octet My Autonomous System field (AS_TRANS for 4-octet ASes).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl OpenRepr {
    /// An OPEN for our side: `asn` goes into My AS, or AS_TRANS plus the
    /// 4-octet AS capability (RFC 6793 §3).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> OpenRepr {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        OpenRepr {
            version: BGP_VERSION,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    pub fn parse<T: AsRef<[u8]>>(p: &OpenPacket<T>) -> Result<OpenRepr, MessageError> {
        p.check_len()?;
        // RFC 4271 §6.2: "If the version number in the Version field of the
        // received OPEN message is not supported, then the Error Subcode MUST
        // be set to Unsupported Version Number. The Data field is a 2-octet
        // unsigned integer, which indicates the largest, locally-supported
        // version number less than the version the remote BGP peer bid".
        if p.version() != BGP_VERSION {
            return Err(MessageError::new(
                ErrorKind::UnsupportedVersion,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ));
        }
        let ext = p.extended_params();
        let mut params = p.params();
        let mut capabilities = Vec::new();
        let malformed = || MessageError::new(ErrorKind::OpenUnspecific, Vec::new());
        while !params.is_empty() {
            let (ptype, plen, hdr) = if ext {
                let h = params.get(..3).ok_or_else(malformed)?;
                (h[0], usize::from(u16::from_be_bytes([h[1], h[2]])), 3)
            } else {
                let h = params.get(..2).ok_or_else(malformed)?;
                (h[0], usize::from(h[1]), 2)
            };
            let value = params.get(hdr..hdr + plen).ok_or_else(malformed)?;
            params = &params[hdr + plen..];
            // RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN
            // message is not recognized, then the Error Subcode MUST be set
            // to Unsupported Optional Parameters."
            if ptype != PARAM_CAPABILITIES {
                return Err(MessageError::new(
                    ErrorKind::UnsupportedOptionalParameter,
                    Vec::new(),
                ));
            }
            // RFC 5492 §4: a parameter may carry several capabilities.
            let mut caps = value;
            while !caps.is_empty() {
                let h = caps.get(..2).ok_or_else(malformed)?;
                let (code, clen) = (h[0], usize::from(h[1]));
                let v = caps.get(2..2 + clen).ok_or_else(malformed)?;
                capabilities.push(Capability::parse(code, v)?);
                caps = &caps[2 + clen..];
            }
        }
        Ok(OpenRepr {
            version: p.version(),
            my_as: p.my_as(),
            hold_time: p.hold_time(),
            bgp_id: p.bgp_id(),
            capabilities,
        })
    }

    /// The sender's AS: the 4-octet AS capability if present, else My AS
    /// (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| {
                if let Capability::FourOctetAs(a) = c {
                    Some(*a)
                } else {
                    None
                }
            })
            .unwrap_or(u32::from(self.my_as))
    }

    pub fn four_octet_as(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
    }

    fn caps_len(&self) -> usize {
        self.capabilities.iter().map(|c| 2 + c.value_len()).sum()
    }

    pub fn buffer_len(&self) -> usize {
        let caps = self.caps_len();
        if caps + 2 > 255 {
            OPEN_MIN_LEN + 3 + 3 + caps
        } else if caps == 0 {
            OPEN_MIN_LEN
        } else {
            OPEN_MIN_LEN + 2 + caps
        }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        emit_header(out, MessageType::Open, 0);
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let caps = self.caps_len();
        if caps == 0 {
            out.push(0);
        } else if caps + 2 > 255 {
            // RFC 9072 encoding: only when the classic one cannot hold them.
            out.push(255);
            out.push(PARAM_EXTENDED_LENGTH);
            out.extend_from_slice(&u16::try_from(caps + 3).unwrap_or(u16::MAX).to_be_bytes());
            out.push(PARAM_CAPABILITIES);
            out.extend_from_slice(&u16::try_from(caps).unwrap_or(u16::MAX).to_be_bytes());
            for c in &self.capabilities {
                c.emit(out);
            }
        } else {
            out.push(u8::try_from(caps + 2).unwrap_or(u8::MAX));
            out.push(PARAM_CAPABILITIES);
            out.push(u8::try_from(caps).unwrap_or(u8::MAX));
            for c in &self.capabilities {
                c.emit(out);
            }
        }
        patch_length(out, start);
        debug_assert!(out.len() - start <= MAX_MESSAGE_LEN);
        debug_assert!(HeaderPacket::new_unchecked(&out[start..]).length() as usize >= HEADER_LEN);
    }
}

#[cfg(test)]
pub(crate) mod tests_fixture {
    pub(crate) use super::tests::{GOBGP_3_10_OPEN, GOBGP_OPEN};
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::{DecodeContext, Message};

    /// Captured from gobgpd 3.10.0 (Debian package) configured like
    /// Cilium's BGP control plane: AS 65001, id 192.168.10.100, hold 9,
    /// graceful restart 15 s with the N bit for IPv4 and IPv6 unicast,
    /// eBGP multihop 2. One capabilities parameter holding route refresh,
    /// FQDN (73, host "vm"), multiprotocol IPv4 and IPv6, 4-octet AS,
    /// graceful restart (F bits 0) and extended next hop (5). Note: no
    /// extended message capability.
    pub(crate) const GOBGP_3_10_OPEN: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x4d, 0x01, 0x04, 0xfd, 0xe9, 0x00, 0x09, 0xc0, 0xa8, 0x0a, 0x64, 0x30, 0x02,
        0x2e, 0x02, 0x00, 0x49, 0x04, 0x02, 0x76, 0x6d, 0x00, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01,
        0x01, 0x04, 0x00, 0x02, 0x00, 0x01, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9, 0x40, 0x0a, 0x40,
        0x0f, 0x00, 0x01, 0x01, 0x00, 0x00, 0x02, 0x01, 0x00, 0x05, 0x06, 0x00, 0x01, 0x00, 0x01,
        0x00, 0x02,
    ];

    /// An OPEN laid out as GoBGP 3.x sends it (Cilium's BGP control plane): AS 65001,
    /// hold 9, id 192.168.10.100, with route refresh, extended next hop,
    /// 4-octet AS, multiprotocol IPv4+IPv6, graceful restart (N bit, 15 s,
    /// IPv4+IPv6 unicast), extended message and FQDN. Capabilities as one
    /// parameter each, like GoBGP sends them.
    pub(crate) const GOBGP_OPEN: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, //
        0x00, 0x5d, 0x01, // length 93, OPEN
        0x04, 0xfd, 0xe9, 0x00, 0x09, 0xc0, 0xa8, 0x0a, 0x64, // v4, AS 65001, hold 9, id
        0x40, // opt param len 64
        0x02, 0x02, 0x02, 0x00, // route refresh
        0x02, 0x08, 0x05, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00,
        0x02, // ext next hop: ipv4/unicast via ipv6
        0x02, 0x06, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9, // 4-octet AS 65001
        0x02, 0x06, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // MP ipv4 unicast
        0x02, 0x06, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01, // MP ipv6 unicast
        0x02, 0x0c, 0x40, 0x0a, 0x40, 0x0f, 0x00, 0x01, 0x01, 0x00, 0x00, 0x02, 0x01,
        0x00, // GR N-bit 15s
        0x02, 0x02, 0x06, 0x00, // extended message
        0x02, 0x06, 0x49, 0x04, 0x02, b'n', b'1', 0x00, // FQDN "n1", no domain
    ];

    #[test]
    fn parses_captured_gobgp_open() {
        let o = OpenRepr::parse(&OpenPacket::new_checked(GOBGP_3_10_OPEN).unwrap()).unwrap();
        assert_eq!((o.version, o.asn(), o.hold_time), (4, 65001, 9));
        assert_eq!(o.bgp_id, Ipv4Addr::new(192, 168, 10, 100));
        assert_eq!(
            o.capabilities,
            vec![
                Capability::RouteRefresh,
                Capability::Unknown {
                    code: CAP_FQDN,
                    data: vec![2, b'v', b'm', 0]
                },
                Capability::Multiprotocol { afi: 1, safi: 1 },
                Capability::Multiprotocol { afi: 2, safi: 1 },
                Capability::FourOctetAs(65001),
                Capability::GracefulRestart {
                    restarting: false,
                    notification: true,
                    restart_time: 15,
                    families: vec![
                        GrFamily {
                            afi: 1,
                            safi: 1,
                            forwarding_preserved: false
                        },
                        GrFamily {
                            afi: 2,
                            safi: 1,
                            forwarding_preserved: false
                        }
                    ],
                },
                Capability::ExtendedNextHop(vec![ExtendedNextHop::IPV4_UNICAST_OVER_IPV6]),
            ]
        );
        // Our encoder puts all capabilities in one parameter too: the
        // captured bytes are reproduced exactly.
        let mut b = Vec::new();
        o.emit(&mut b);
        assert_eq!(b, GOBGP_3_10_OPEN);
    }

    #[test]
    fn parses_gobgp_open() {
        let o = OpenRepr::parse(&OpenPacket::new_checked(GOBGP_OPEN).unwrap()).unwrap();
        assert_eq!(o.version, 4);
        assert_eq!(o.asn(), 65001);
        assert_eq!(o.hold_time, 9);
        assert_eq!(o.bgp_id, Ipv4Addr::new(192, 168, 10, 100));
        assert!(o.capabilities.contains(&Capability::RouteRefresh));
        assert!(o
            .capabilities
            .contains(&Capability::Multiprotocol { afi: 2, safi: 1 }));
        assert!(o.capabilities.contains(&Capability::ExtendedMessage));
        assert!(o.capabilities.contains(&Capability::GracefulRestart {
            restarting: false,
            notification: true,
            restart_time: 15,
            families: vec![
                GrFamily {
                    afi: 1,
                    safi: 1,
                    forwarding_preserved: false
                },
                GrFamily {
                    afi: 2,
                    safi: 1,
                    forwarding_preserved: false
                }
            ],
        }));
        assert!(o
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::Unknown { code: CAP_FQDN, .. })));
        assert!(o
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::ExtendedNextHop(_))));
        // Re-encoding (capabilities in one parameter) parses back equal.
        let ctx = DecodeContext::default();
        let again = Message::parse(&Message::Open(o.clone()).to_bytes(&ctx), &ctx).unwrap();
        assert_eq!(again, Message::Open(o));
    }

    #[test]
    fn four_octet_as_uses_as_trans() {
        let o = OpenRepr::new(
            4_200_000_000,
            90,
            Ipv4Addr::new(1, 1, 1, 1),
            vec![Capability::RouteRefresh],
        );
        assert_eq!(o.my_as, AS_TRANS);
        assert_eq!(o.asn(), 4_200_000_000);
        let ctx = DecodeContext::default();
        let b = Message::Open(o.clone()).to_bytes(&ctx);
        assert_eq!(Message::parse(&b, &ctx).unwrap(), Message::Open(o));
    }

    #[test]
    fn extended_params_round_trip() {
        // Enough unknown capabilities to need RFC 9072's encoding.
        let caps: Vec<_> = (0..40)
            .map(|i| Capability::Unknown {
                code: 200,
                data: vec![i; 6],
            })
            .collect();
        let o = OpenRepr::new(65000, 90, Ipv4Addr::new(1, 1, 1, 1), caps);
        let mut b = Vec::new();
        o.emit(&mut b);
        assert_eq!(b.len(), o.buffer_len());
        assert_eq!(b[28], 255);
        assert_eq!(b[29], 255);
        assert_eq!(
            OpenRepr::parse(&OpenPacket::new_checked(&b[..]).unwrap()).unwrap(),
            o
        );
    }

    #[test]
    fn open_errors() {
        let mut b = GOBGP_OPEN.to_vec();
        b[19] = 3;
        let e = OpenRepr::parse(&OpenPacket::new_checked(&b[..]).unwrap()).unwrap_err();
        assert_eq!((e.code_subcode(), e.data), ((2, 1), vec![0, 4]));
        // Bad capability length: 4-octet AS with length 3 inside a correctly sized parameter.
        let mut b = GOBGP_OPEN.to_vec();
        b[46] = 3;
        let e = OpenRepr::parse(&OpenPacket::new_checked(&b[..]).unwrap()).unwrap_err();
        assert_eq!(e.code_subcode(), (2, 0));
        // Capability length overrunning its parameter.
        let mut b = GOBGP_OPEN.to_vec();
        b[32] = 9;
        let e = OpenRepr::parse(&OpenPacket::new_checked(&b[..]).unwrap()).unwrap_err();
        assert_eq!(e.code_subcode(), (2, 0));
        // Optional parameter length not matching the message.
        let mut b = GOBGP_OPEN.to_vec();
        b[28] = 63;
        assert_eq!(
            OpenPacket::new_checked(&b[..]).unwrap_err().code_subcode(),
            (2, 0)
        );
        // Unknown optional parameter type.
        let mut b = GOBGP_OPEN.to_vec();
        b[29] = 1;
        assert_eq!(
            OpenRepr::parse(&OpenPacket::new_checked(&b[..]).unwrap())
                .unwrap_err()
                .code_subcode(),
            (2, 4)
        );
        // Too short.
        assert_eq!(
            OpenPacket::new_checked(&GOBGP_OPEN[..28])
                .unwrap_err()
                .code_subcode(),
            (1, 2)
        );
    }
}
