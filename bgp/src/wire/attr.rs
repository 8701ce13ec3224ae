//! Path attributes (RFC 4271 §4.3/§5) decoded through a table of attribute
//! descriptors, BIRD style: per type code the name, the Optional/Transitive
//! flags it must carry, its decoder and the RFC 7606 action taken when it
//! is malformed. The UPDATE parser looks a descriptor up and never matches
//! on type codes itself.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::nlri::{emit_prefix, parse_prefix};
use super::Family;
use super::{DecodeContext, ErrorKind, AS_TRANS};

pub const FLAG_OPTIONAL: u8 = 0x80;
pub const FLAG_TRANSITIVE: u8 = 0x40;
pub const FLAG_PARTIAL: u8 = 0x20;
pub const FLAG_EXTENDED_LENGTH: u8 = 0x10;

pub const ATTR_ORIGIN: u8 = 1;
pub const ATTR_AS_PATH: u8 = 2;
pub const ATTR_NEXT_HOP: u8 = 3;
pub const ATTR_MED: u8 = 4;
pub const ATTR_LOCAL_PREF: u8 = 5;
pub const ATTR_ATOMIC_AGGREGATE: u8 = 6;
pub const ATTR_AGGREGATOR: u8 = 7;
pub const ATTR_COMMUNITIES: u8 = 8;
pub const ATTR_ORIGINATOR_ID: u8 = 9;
pub const ATTR_CLUSTER_LIST: u8 = 10;
pub const ATTR_MP_REACH_NLRI: u8 = 14;
pub const ATTR_MP_UNREACH_NLRI: u8 = 15;
pub const ATTR_AS4_PATH: u8 = 17;
pub const ATTR_AS4_AGGREGATOR: u8 = 18;
pub const ATTR_LARGE_COMMUNITIES: u8 = 32;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "incomplete",
        })
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    pub fn sequence(asns: Vec<u32>) -> AsPath {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// RFC 4271 §9.1.2.2 a): "an AS_SET counts as 1, no matter how many ASes
    /// it contains"; RFC 5065 §5.3: confederation segments count 0.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The leftmost AS of the first AS_SEQUENCE segment (the neighbour AS).
    pub fn first_as(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    fn needs_as4(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns.iter().any(|&a| a > 0xffff))
    }

    /// RFC 6793 §4.2.3: rebuild the path from AS_PATH (2-octet, with
    /// AS_TRANS) and AS4_PATH: "if the number of AS numbers in the AS_PATH
    /// attribute is less than the number of AS numbers in the AS4_PATH
    /// attribute, then the AS4_PATH attribute SHALL be ignored"; otherwise
    /// take the leading ASes of AS_PATH and append AS4_PATH.
    fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let n = self.path_len();
        let n4 = as4.path_len();
        if n < n4 {
            return self.clone();
        }
        let mut keep = n - n4;
        let mut out = AsPath::default();
        for seg in &self.segments {
            if keep == 0 {
                break;
            }
            match seg.kind {
                SegmentType::Sequence => {
                    let take = keep.min(seg.asns.len());
                    out.segments.push(AsSegment {
                        kind: seg.kind,
                        asns: seg.asns[..take].to_vec(),
                    });
                    keep -= take;
                }
                SegmentType::Set => {
                    out.segments.push(seg.clone());
                    keep -= 1;
                }
                _ => out.segments.push(seg.clone()),
            }
        }
        for seg in &as4.segments {
            match out.segments.last_mut() {
                Some(last)
                    if last.kind == SegmentType::Sequence && seg.kind == SegmentType::Sequence =>
                {
                    last.asns.extend_from_slice(&seg.asns)
                }
                _ => out.segments.push(seg.clone()),
            }
        }
        out
    }

    fn emit_value(&self, as4: bool, out: &mut Vec<u8>) {
        for s in &self.segments {
            // A segment holds at most 255 ASes; longer ones are split.
            let chunks: Vec<&[u32]> = if s.asns.is_empty() {
                vec![&[][..]]
            } else {
                s.asns.chunks(255).collect()
            };
            for c in chunks {
                out.push(s.kind as u8);
                out.push(u8::try_from(c.len()).unwrap_or(u8::MAX));
                for &a in c {
                    if as4 {
                        out.extend_from_slice(&a.to_be_bytes());
                    } else {
                        out.extend_from_slice(&u16::try_from(a).unwrap_or(AS_TRANS).to_be_bytes());
                    }
                }
            }
        }
    }

    /// RFC 7606 §7.2: "An AS_PATH is considered malformed if an unrecognized
    /// segment type is encountered or if it contains a malformed segment" —
    /// an overrun, "only a single octet remaining", or "a Path Segment
    /// Length field of zero". AS4_PATH segments use the same syntax.
    fn parse(v: &[u8], as4: bool) -> Result<AsPath, &'static str> {
        let w = if as4 { 4 } else { 2 };
        let mut segments = Vec::new();
        let mut rest = v;
        while !rest.is_empty() {
            let h = rest.get(..2).ok_or("single octet after last segment")?;
            let kind = match h[0] {
                1 => SegmentType::Set,
                2 => SegmentType::Sequence,
                3 => SegmentType::ConfedSequence,
                4 => SegmentType::ConfedSet,
                _ => return Err("unknown segment type"),
            };
            let n = usize::from(h[1]);
            if n == 0 {
                return Err("zero segment length");
            }
            let body = rest.get(2..2 + n * w).ok_or("segment overruns attribute")?;
            let asns: Vec<u32> = body
                .chunks_exact(w)
                .map(|c| {
                    if as4 {
                        u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                    } else {
                        u32::from(u16::from_be_bytes([c[0], c[1]]))
                    }
                })
                .collect();
            // RFC 7607 §2: "An UPDATE message that contains the AS number of
            // zero in the AS_PATH ... MUST be considered as malformed" (and
            // the same for AS4_PATH); the attribute's table row says what
            // follows: treat-as-withdraw for AS_PATH (RFC 7606 §7.2),
            // attribute discard for AS4_PATH (RFC 6793 §6).
            if asns.contains(&0) {
                return Err("AS 0 in a path segment (RFC 7607 §2)");
            }
            segments.push(AsSegment { kind, asns });
            rest = &rest[2 + n * w..];
        }
        Ok(AsPath { segments })
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let list = s
                .asns
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            match s.kind {
                SegmentType::Sequence => f.write_str(&list)?,
                SegmentType::Set => write!(f, "{{{list}}}")?,
                SegmentType::ConfedSequence => write!(f, "({list})")?,
                SegmentType::ConfedSet => write!(f, "[{list}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// An attribute we do not interpret, kept to be passed on (optional
/// transitive ones, with the Partial bit set — RFC 4271 §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub type_code: u8,
    pub data: Vec<u8>,
}

/// The path attributes of an UPDATE (MP_REACH/MP_UNREACH are carried
/// separately by `UpdateRepr`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<[u32; 3]>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    /// Unknown optional transitive attributes, sorted by type code.
    pub unknown: Vec<RawAttribute>,
}

/// RFC 4760 §3 MP_REACH_NLRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpReach {
    pub family: Family,
    pub next_hop: IpAddr,
    /// RFC 2545 §3: the optional link-local address after the global one.
    pub link_local: Option<Ipv6Addr>,
    pub nlri: Vec<IpNet>,
}

/// RFC 4760 §4 MP_UNREACH_NLRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: Vec<IpNet>,
}

/// What RFC 7606 §2 prescribes for a malformed attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// Drop the attribute, keep processing the UPDATE.
    AttributeDiscard,
    /// Handle the UPDATE's NLRI as withdrawn.
    TreatAsWithdraw,
    /// Send a NOTIFICATION with this subcode (error code 3) and close.
    SessionReset(ErrorKind),
}

/// A malformed attribute and the action taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name} (type {type_code}): {reason}; {action:?} ({section})")]
pub struct AttrError {
    pub type_code: u8,
    pub name: &'static str,
    pub reason: &'static str,
    pub action: ErrorAction,
    /// Where the action comes from, e.g. "RFC 7606 §7.1".
    pub section: &'static str,
    /// The offending attribute (flags, type, length, value) for NOTIFICATION data.
    pub data: Vec<u8>,
}

/// Decoder output for one UPDATE: attributes plus the MP ones.
#[derive(Default)]
pub(crate) struct Decoded {
    pub attrs: PathAttributes,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// MP attribute for an AFI/SAFI we do not handle (RFC 4760 §7: ignored).
    pub mp_ignored: bool,
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
    /// The AS of a well-formed-length AGGREGATOR even when it was discarded
    /// (AS 0), for the RFC 6793 §4.2.3 AS_TRANS test.
    aggregator_as: Option<u32>,
}

type DecodeFn = fn(&mut Decoded, &DecodeContext, &[u8]) -> Result<(), &'static str>;

/// One row of the attribute table.
pub struct AttrDesc {
    pub code: u8,
    pub name: &'static str,
    pub optional: bool,
    pub transitive: bool,
    pub on_error: ErrorAction,
    pub section: &'static str,
    decode: DecodeFn,
}

const fn wk(
    code: u8,
    name: &'static str,
    on_error: ErrorAction,
    section: &'static str,
    decode: DecodeFn,
) -> AttrDesc {
    AttrDesc {
        code,
        name,
        optional: false,
        transitive: true,
        on_error,
        section,
        decode,
    }
}
const fn opt(
    code: u8,
    name: &'static str,
    transitive: bool,
    on_error: ErrorAction,
    section: &'static str,
    decode: DecodeFn,
) -> AttrDesc {
    AttrDesc {
        code,
        name,
        optional: true,
        transitive,
        on_error,
        section,
        decode,
    }
}

use ErrorAction::{AttributeDiscard as DISCARD, TreatAsWithdraw as WITHDRAW};
const RESET: ErrorAction = ErrorAction::SessionReset(ErrorKind::OptionalAttribute);

/// The attribute table. Flags: RFC 4271 §5 (well-known: Optional=0,
/// Transitive=1). Actions: RFC 7606 §7.x for each attribute; §3 c) makes a
/// flags conflict "treat-as-withdraw" unless the attribute's own rule says
/// otherwise, so the same action applies to flag and value errors. RFC 7607
/// (AS 0) is checked by the decoders and takes the row's action.
pub static ATTR_TABLE: [AttrDesc; 15] = [
    wk(ATTR_ORIGIN, "ORIGIN", WITHDRAW, "RFC 7606 §7.1", dec_origin),
    wk(
        ATTR_AS_PATH,
        "AS_PATH",
        WITHDRAW,
        "RFC 7606 §7.2",
        dec_as_path,
    ),
    wk(
        ATTR_NEXT_HOP,
        "NEXT_HOP",
        WITHDRAW,
        "RFC 7606 §7.3",
        dec_next_hop,
    ),
    opt(
        ATTR_MED,
        "MULTI_EXIT_DISC",
        false,
        WITHDRAW,
        "RFC 7606 §7.4",
        dec_med,
    ),
    wk(
        ATTR_LOCAL_PREF,
        "LOCAL_PREF",
        WITHDRAW,
        "RFC 7606 §7.5",
        dec_local_pref,
    ),
    wk(
        ATTR_ATOMIC_AGGREGATE,
        "ATOMIC_AGGREGATE",
        DISCARD,
        "RFC 7606 §7.6",
        dec_atomic_aggregate,
    ),
    opt(
        ATTR_AGGREGATOR,
        "AGGREGATOR",
        true,
        DISCARD,
        "RFC 7606 §7.7",
        dec_aggregator,
    ),
    opt(
        ATTR_COMMUNITIES,
        "COMMUNITIES",
        true,
        WITHDRAW,
        "RFC 7606 §7.8",
        dec_communities,
    ),
    opt(
        ATTR_ORIGINATOR_ID,
        "ORIGINATOR_ID",
        false,
        WITHDRAW,
        "RFC 7606 §7.9",
        dec_originator_id,
    ),
    opt(
        ATTR_CLUSTER_LIST,
        "CLUSTER_LIST",
        false,
        WITHDRAW,
        "RFC 7606 §7.10",
        dec_cluster_list,
    ),
    opt(
        ATTR_MP_REACH_NLRI,
        "MP_REACH_NLRI",
        false,
        RESET,
        "RFC 7606 §7.11, §5.3",
        dec_mp_reach,
    ),
    opt(
        ATTR_MP_UNREACH_NLRI,
        "MP_UNREACH_NLRI",
        false,
        RESET,
        "RFC 7606 §7.12, §5.3",
        dec_mp_unreach,
    ),
    opt(
        ATTR_AS4_PATH,
        "AS4_PATH",
        true,
        DISCARD,
        "RFC 6793 §6, RFC 7607 §2",
        dec_as4_path,
    ),
    opt(
        ATTR_AS4_AGGREGATOR,
        "AS4_AGGREGATOR",
        true,
        DISCARD,
        "RFC 6793 §6, RFC 7607 §2",
        dec_as4_aggregator,
    ),
    opt(
        ATTR_LARGE_COMMUNITIES,
        "LARGE_COMMUNITY",
        true,
        WITHDRAW,
        "RFC 8092 §6",
        dec_large_communities,
    ),
];

pub fn attr_desc(code: u8) -> Option<&'static AttrDesc> {
    ATTR_TABLE.iter().find(|d| d.code == code)
}

fn u32_at(v: &[u8]) -> u32 {
    u32::from_be_bytes([v[0], v[1], v[2], v[3]])
}

fn dec_origin(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.1: "The attribute is considered malformed if its length is
    // not 1 or if it has an undefined value"; treat-as-withdraw (table).
    d.attrs.origin = Some(match v {
        [0] => Origin::Igp,
        [1] => Origin::Egp,
        [2] => Origin::Incomplete,
        [_] => return Err("undefined ORIGIN value"),
        _ => return Err("length is not 1"),
    });
    Ok(())
}

fn dec_as_path(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    let path = AsPath::parse(v, ctx.four_octet_as)?;
    // RFC 4271 §6.3: from an external peer, the leftmost AS must be the
    // neighbour's AS, else "Malformed AS_PATH" — which RFC 7606 §7.2 turns
    // into treat-as-withdraw ("An UPDATE message with a malformed AS_PATH
    // attribute SHALL be handled using the approach of 'treat-as-withdraw'").
    // An empty AS_PATH from eBGP fails this too.
    if ctx.ebgp && ctx.peer_as != 0 {
        let first = path.first_as();
        let first_ok = first == Some(ctx.peer_as)
            || (!ctx.four_octet_as && ctx.peer_as > 0xffff && first == Some(u32::from(AS_TRANS)));
        if !first_ok {
            return Err("leftmost AS is not the eBGP neighbour's AS");
        }
    }
    d.attrs.as_path = Some(path);
    Ok(())
}

fn dec_next_hop(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.3: "The attribute is considered malformed if its length is
    // not 4"; treat-as-withdraw.
    if v.len() != 4 {
        return Err("length is not 4");
    }
    let nh = Ipv4Addr::from(u32_at(v));
    // RFC 4271 §6.3: a semantically incorrect NEXT_HOP (not a valid host
    // address) — "the route SHOULD be ignored", without a NOTIFICATION.
    if nh.is_unspecified()
        || nh.is_multicast()
        || nh.is_broadcast()
        || nh.octets()[0] == 0
        || nh.is_loopback()
    {
        return Err("not a valid unicast host address");
    }
    d.attrs.next_hop = Some(nh);
    Ok(())
}

fn dec_med(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.4: "The attribute is considered malformed if its length is
    // not 4"; "An UPDATE message with a malformed MULTI_EXIT_DISC attribute
    // SHALL be handled using the approach of 'treat-as-withdraw'."
    if v.len() != 4 {
        return Err("length is not 4");
    }
    d.attrs.med = Some(u32_at(v));
    Ok(())
}

fn dec_local_pref(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.5: "If the LOCAL_PREF attribute is received from an
    // external neighbor, it SHALL be discarded using the approach of
    // 'attribute discard'" — not an error, whatever it contains.
    if ctx.ebgp {
        return Ok(());
    }
    // "if received from an internal neighbor, it SHALL be considered
    // malformed if its length is not equal to 4" (treat-as-withdraw).
    if v.len() != 4 {
        return Err("length is not 4");
    }
    d.attrs.local_pref = Some(u32_at(v));
    Ok(())
}

fn dec_atomic_aggregate(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.6: "The attribute SHALL be considered malformed if its
    // length is not 0"; "attribute discard".
    if !v.is_empty() {
        return Err("length is not 0");
    }
    d.attrs.atomic_aggregate = true;
    Ok(())
}

fn dec_aggregator(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.7: malformed if "Its length is not 6 (when the 4-octet AS
    // number capability is not advertised to or not received from the
    // peer)" or "not 8 (when ... both advertised to and received from the
    // peer)"; "attribute discard".
    let (asn, addr) = match (ctx.four_octet_as, v.len()) {
        (true, 8) => (u32_at(v), &v[4..8]),
        (false, 6) => (u32::from(u16::from_be_bytes([v[0], v[1]])), &v[2..6]),
        _ => return Err("length is not 6 (2-octet AS) / 8 (4-octet AS)"),
    };
    d.aggregator_as = Some(asn);
    // RFC 7607 §2: AS 0 in the AGGREGATOR makes the UPDATE malformed, to be
    // "handled by the procedures specified in [RFC7606]" — for AGGREGATOR
    // that is attribute discard (§7.7).
    if asn == 0 {
        return Err("AS 0 (RFC 7607 §2)");
    }
    d.attrs.aggregator = Some(Aggregator {
        asn,
        address: Ipv4Addr::from(u32_at(addr)),
    });
    Ok(())
}

fn dec_communities(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.8: "The Community attribute SHALL be considered malformed
    // if its length is not a non-zero multiple of 4"; "treat-as-withdraw".
    if v.is_empty() || !v.len().is_multiple_of(4) {
        return Err("length is not a non-zero multiple of 4");
    }
    d.attrs.communities = v.chunks_exact(4).map(u32_at).collect();
    Ok(())
}

fn dec_originator_id(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.9: "if the ORIGINATOR_ID attribute is received from an
    // external neighbor, it SHALL be discarded using the approach of
    // 'attribute discard'" — it must not steer the §9.1.2.2 f) tie-break.
    if ctx.ebgp {
        return Ok(());
    }
    // "if received from an internal neighbor, it SHALL be considered
    // malformed if its length is not equal to 4" (treat-as-withdraw).
    if v.len() != 4 {
        return Err("length is not 4");
    }
    d.attrs.originator_id = Some(Ipv4Addr::from(u32_at(v)));
    Ok(())
}

fn dec_cluster_list(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.10: "if the CLUSTER_LIST attribute is received from an
    // external neighbor, it SHALL be discarded using the approach of
    // 'attribute discard'".
    if ctx.ebgp {
        return Ok(());
    }
    // "if received from an internal neighbor, it SHALL be considered
    // malformed if its length is not a non-zero multiple of 4"
    // (treat-as-withdraw).
    if v.is_empty() || !v.len().is_multiple_of(4) {
        return Err("length is not a non-zero multiple of 4");
    }
    d.attrs.cluster_list = v
        .chunks_exact(4)
        .map(|c| Ipv4Addr::from(u32_at(c)))
        .collect();
    Ok(())
}

fn dec_large_communities(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 8092 §6 (the RFC 7606 rule for Large Communities): malformed
    // unless the length is a non-zero multiple of 12; treat-as-withdraw.
    if v.is_empty() || !v.len().is_multiple_of(12) {
        return Err("length is not a non-zero multiple of 12");
    }
    d.attrs.large_communities = v
        .chunks_exact(12)
        .map(|c| [u32_at(c), u32_at(&c[4..]), u32_at(&c[8..])])
        .collect();
    Ok(())
}

fn mp_family(v: &[u8]) -> Result<Option<Family>, &'static str> {
    let h = v.get(..3).ok_or("shorter than AFI/SAFI")?;
    let afi = u16::from_be_bytes([h[0], h[1]]);
    Ok(Family::from_afi_safi(afi, h[2]))
}

fn parse_nlri_list(family: Family, mut b: &[u8]) -> Result<Vec<IpNet>, &'static str> {
    let mut out = Vec::with_capacity(b.len() / 4);
    while !b.is_empty() {
        let (p, used) = parse_prefix(family, b).ok_or("NLRI syntactically incorrect")?;
        out.push(p);
        b = &b[used..];
    }
    Ok(out)
}

fn dec_mp_reach(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // AFI(2) SAFI(1) NH-len(1) NH(var) Reserved(1) NLRI(var)
    let Some(family) = mp_family(v)? else {
        // RFC 4760 §7 / RFC 4271: a family we did not negotiate is ignored.
        d.mp_ignored = true;
        return Ok(());
    };
    let nh_len = usize::from(*v.get(3).ok_or("truncated before next hop length")?);
    let nh = v.get(4..4 + nh_len).ok_or("next hop overruns attribute")?;
    // RFC 7606 §7.11: "If the Length of Next Hop Network Address field of
    // the MP_REACH attribute is inconsistent with that which was expected,
    // the attribute is considered malformed. ... the 'session reset' or
    // 'AFI/SAFI disable' approach MUST be used" (session reset here).
    let (next_hop, link_local) = match (family, nh_len) {
        (Family::Ipv4Unicast, 4) => (IpAddr::V4(Ipv4Addr::from(u32_at(nh))), None),
        (Family::Ipv6Unicast, 16) => (IpAddr::V6(ipv6_at(nh)), None),
        (Family::Ipv6Unicast, 32) => (IpAddr::V6(ipv6_at(nh)), Some(ipv6_at(&nh[16..]))),
        // RFC 8950 §4: with the capability negotiated, IPv4 NLRI may come
        // with an IPv6 next hop of 16 octets (global) or 32 (global and
        // link-local), encoded as for IPv6 routes (RFC 2545).
        (Family::Ipv4Unicast, 16) if ctx.extended_next_hop_v4 => (IpAddr::V6(ipv6_at(nh)), None),
        (Family::Ipv4Unicast, 32) if ctx.extended_next_hop_v4 => {
            (IpAddr::V6(ipv6_at(nh)), Some(ipv6_at(&nh[16..])))
        }
        _ => return Err("next hop length inconsistent with AFI/SAFI"),
    };
    v.get(4 + nh_len).ok_or("truncated before reserved octet")?;
    let nlri = parse_nlri_list(family, &v[5 + nh_len..])?;
    d.mp_reach = Some(MpReach {
        family,
        next_hop,
        link_local,
        nlri,
    });
    Ok(())
}

fn ipv6_at(v: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&v[..16]);
    Ipv6Addr::from(a)
}

fn dec_mp_unreach(d: &mut Decoded, _: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 7606 §7.12 with §5.3: an MP_UNREACH_NLRI too short for its
    // AFI/SAFI, or with withdrawn routes that do not parse, cannot be
    // handled by treat-as-withdraw: session reset (table).
    let Some(family) = mp_family(v)? else {
        d.mp_ignored = true;
        return Ok(());
    };
    let withdrawn = parse_nlri_list(family, &v[3..])?;
    d.mp_unreach = Some(MpUnreach { family, withdrawn });
    Ok(())
}

fn dec_as4_path(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 6793 §4.1: a NEW speaker receiving AS4_PATH from a NEW speaker
    // discards it.
    if ctx.four_octet_as {
        return Ok(());
    }
    let p = AsPath::parse(v, true)?;
    // RFC 6793 §6: confederation segments in AS4_PATH make it malformed.
    if p.segments
        .iter()
        .any(|s| matches!(s.kind, SegmentType::ConfedSequence | SegmentType::ConfedSet))
    {
        return Err("confederation segment in AS4_PATH");
    }
    d.as4_path = Some(p);
    Ok(())
}

fn dec_as4_aggregator(d: &mut Decoded, ctx: &DecodeContext, v: &[u8]) -> Result<(), &'static str> {
    // RFC 6793 §4.1: from a NEW speaker it is discarded, not interpreted.
    if ctx.four_octet_as {
        return Ok(());
    }
    // RFC 6793 §6: malformed if its length is not 8; attribute discard.
    if v.len() != 8 {
        return Err("length is not 8");
    }
    // RFC 7607 §2: "An UPDATE message that contains the AS number of zero
    // in the AS4_PATH or AS4_AGGREGATOR attribute MUST be considered as
    // malformed and be handled by the procedures specified in [RFC6793]",
    // i.e. attribute discard.
    if u32_at(v) == 0 {
        return Err("AS 0 (RFC 7607 §2)");
    }
    d.as4_aggregator = Some(Aggregator {
        asn: u32_at(v),
        address: Ipv4Addr::from(u32_at(&v[4..])),
    });
    Ok(())
}

/// Outcome of decoding an attribute block.
pub(crate) struct AttrOutcome {
    pub decoded: Decoded,
    pub treat_as_withdraw: Option<AttrError>,
    pub discarded: Vec<AttrError>,
}

/// Decode the path attributes field of an UPDATE, applying RFC 7606.
/// `Err` is a session reset (NOTIFICATION code 3).
pub(crate) fn decode_attributes(
    mut b: &[u8],
    ctx: &DecodeContext,
) -> Result<AttrOutcome, super::MessageError> {
    let mut out = AttrOutcome {
        decoded: Decoded::default(),
        treat_as_withdraw: None,
        discarded: Vec::new(),
    };
    let mut seen = [0u64; 4];
    while !b.is_empty() {
        // RFC 7606 §4: fewer octets than an attribute header, or an
        // attribute length overrunning the Total Path Attribute Length →
        // treat-as-withdraw; the NLRI is still found via the total length.
        let (flags, code) = match b {
            [f, c, ..] => (*f, *c),
            _ => {
                out.treat_as_withdraw.get_or_insert(overrun_error(0, b));
                break;
            }
        };
        let hdr = if flags & FLAG_EXTENDED_LENGTH != 0 {
            4
        } else {
            3
        };
        let len = match (hdr, b.get(2), b.get(3)) {
            (4, Some(&h), Some(&l)) => usize::from(u16::from_be_bytes([h, l])),
            (3, Some(&l), _) => usize::from(l),
            _ => {
                out.treat_as_withdraw.get_or_insert(overrun_error(code, b));
                break;
            }
        };
        let Some(whole) = b.get(..hdr + len) else {
            out.treat_as_withdraw.get_or_insert(overrun_error(code, b));
            break;
        };
        let value = &whole[hdr..];
        b = &b[hdr + len..];

        // RFC 7606 §3 g): MP_REACH_NLRI / MP_UNREACH_NLRI more than once →
        // "Malformed Attribute List" (session reset); any other repeated
        // attribute: all but the first occurrence are discarded.
        let (word, bit) = (usize::from(code / 64), 1u64 << (code % 64));
        if seen[word] & bit != 0 {
            if code == ATTR_MP_REACH_NLRI || code == ATTR_MP_UNREACH_NLRI {
                return Err(super::MessageError::new(
                    ErrorKind::MalformedAttributeList,
                    Vec::new(),
                ));
            }
            continue;
        }
        seen[word] |= bit;

        let Some(desc) = attr_desc(code) else {
            if flags & FLAG_OPTIONAL == 0 {
                // RFC 4271 §6.3: "If any of the well-known mandatory
                // attributes are not recognized, then the Error Subcode MUST
                // be set to Unrecognized Well-known Attribute. The Data field
                // MUST contain the unrecognized attribute (type, length, and
                // value)." RFC 7606 keeps this a session reset.
                return Err(super::MessageError::new(
                    ErrorKind::UnrecognizedWellKnownAttribute,
                    whole.to_vec(),
                ));
            }
            // RFC 4271 §5: unrecognized optional transitive attributes are
            // passed on with the Partial bit set; optional non-transitive
            // ones are quietly ignored.
            if flags & FLAG_TRANSITIVE != 0 {
                out.decoded.attrs.unknown.push(RawAttribute {
                    flags: (flags | FLAG_PARTIAL) & !FLAG_EXTENDED_LENGTH,
                    type_code: code,
                    data: value.to_vec(),
                });
            }
            continue;
        };

        let flags_ok = (flags & FLAG_OPTIONAL != 0) == desc.optional
            && (flags & FLAG_TRANSITIVE != 0) == desc.transitive;
        let result = if flags_ok {
            (desc.decode)(&mut out.decoded, ctx, value)
        } else {
            Err("Optional/Transitive flags conflict with the attribute type")
        };
        if let Err(reason) = result {
            let err = AttrError {
                type_code: code,
                name: desc.name,
                reason,
                action: desc.on_error,
                section: desc.section,
                data: whole.to_vec(),
            };
            match desc.on_error {
                ErrorAction::SessionReset(kind) => {
                    let kind = if flags_ok {
                        kind
                    } else {
                        ErrorKind::AttributeFlags
                    };
                    return Err(super::MessageError::new(kind, whole.to_vec()));
                }
                ErrorAction::TreatAsWithdraw => {
                    out.treat_as_withdraw.get_or_insert(err);
                }
                ErrorAction::AttributeDiscard => out.discarded.push(err),
            }
        }
    }

    // RFC 6793 §4.2.3: AS4_PATH / AS4_AGGREGATOR from an OLD speaker. "If
    // the AS number in the AGGREGATOR attribute is not AS_TRANS, then ...
    // the AS4_AGGREGATOR attribute and the AS4_PATH attribute SHALL be
    // ignored".
    let d = &mut out.decoded;
    if !ctx.four_octet_as {
        // The AGGREGATOR's AS as received: an AGGREGATOR discarded for AS 0
        // still "is not AS_TRANS".
        let agg_is_trans = d.aggregator_as.is_none_or(|a| a == u32::from(AS_TRANS));
        if agg_is_trans {
            if let Some(a4) = d.as4_aggregator.take() {
                d.attrs.aggregator = Some(a4);
            }
            if let (Some(p), Some(p4)) = (d.attrs.as_path.as_ref(), d.as4_path.take()) {
                d.attrs.as_path = Some(p.merge_as4(&p4));
            }
        }
    }
    Ok(out)
}

fn overrun_error(code: u8, rest: &[u8]) -> AttrError {
    AttrError {
        type_code: code,
        name: attr_desc(code).map_or("attribute", |d| d.name),
        reason: "attribute header or length overruns the path attributes",
        action: ErrorAction::TreatAsWithdraw,
        section: "RFC 7606 §4",
        data: rest.to_vec(),
    }
}

fn emit_attr(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    if value.len() > 255 {
        out.push(flags | FLAG_EXTENDED_LENGTH);
        out.push(code);
        out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
    } else {
        out.push(flags & !FLAG_EXTENDED_LENGTH);
        out.push(code);
        out.push(value.len() as u8);
    }
    out.extend_from_slice(value);
}

const WELL_KNOWN: u8 = FLAG_TRANSITIVE;
const OPT_TRANS: u8 = FLAG_OPTIONAL | FLAG_TRANSITIVE;
const OPT_NON_TRANS: u8 = FLAG_OPTIONAL;

impl PathAttributes {
    /// Append the encoded attributes, in type-code order. With 2-octet AS
    /// peers, ASes above 65535 become AS_TRANS and AS4_PATH / AS4_AGGREGATOR
    /// carry the real ones (RFC 6793 §4.2.2).
    pub fn emit(&self, ctx: &DecodeContext, out: &mut Vec<u8>) {
        let mut v = Vec::with_capacity(64);
        if let Some(o) = self.origin {
            emit_attr(out, WELL_KNOWN, ATTR_ORIGIN, &[o as u8]);
        }
        let mut as4_path = None;
        if let Some(p) = &self.as_path {
            v.clear();
            p.emit_value(ctx.four_octet_as, &mut v);
            emit_attr(out, WELL_KNOWN, ATTR_AS_PATH, &v);
            if !ctx.four_octet_as && p.needs_as4() {
                as4_path = Some(p);
            }
        }
        if let Some(nh) = self.next_hop {
            emit_attr(out, WELL_KNOWN, ATTR_NEXT_HOP, &nh.octets());
        }
        if let Some(m) = self.med {
            emit_attr(out, OPT_NON_TRANS, ATTR_MED, &m.to_be_bytes());
        }
        if let Some(lp) = self.local_pref {
            emit_attr(out, WELL_KNOWN, ATTR_LOCAL_PREF, &lp.to_be_bytes());
        }
        if self.atomic_aggregate {
            emit_attr(out, WELL_KNOWN, ATTR_ATOMIC_AGGREGATE, &[]);
        }
        let mut as4_agg = None;
        if let Some(a) = self.aggregator {
            v.clear();
            if ctx.four_octet_as {
                v.extend_from_slice(&a.asn.to_be_bytes());
            } else {
                v.extend_from_slice(&u16::try_from(a.asn).unwrap_or(AS_TRANS).to_be_bytes());
                if a.asn > 0xffff {
                    as4_agg = Some(a);
                }
            }
            v.extend_from_slice(&a.address.octets());
            emit_attr(out, OPT_TRANS, ATTR_AGGREGATOR, &v);
        }
        if !self.communities.is_empty() {
            v.clear();
            for c in &self.communities {
                v.extend_from_slice(&c.to_be_bytes());
            }
            emit_attr(out, OPT_TRANS, ATTR_COMMUNITIES, &v);
        }
        if let Some(o) = self.originator_id {
            emit_attr(out, OPT_NON_TRANS, ATTR_ORIGINATOR_ID, &o.octets());
        }
        if !self.cluster_list.is_empty() {
            v.clear();
            for c in &self.cluster_list {
                v.extend_from_slice(&c.octets());
            }
            emit_attr(out, OPT_NON_TRANS, ATTR_CLUSTER_LIST, &v);
        }
        if let Some(p) = as4_path {
            v.clear();
            p.emit_value(true, &mut v);
            emit_attr(out, OPT_TRANS, ATTR_AS4_PATH, &v);
        }
        if let Some(a) = as4_agg {
            v.clear();
            v.extend_from_slice(&a.asn.to_be_bytes());
            v.extend_from_slice(&a.address.octets());
            emit_attr(out, OPT_TRANS, ATTR_AS4_AGGREGATOR, &v);
        }
        if !self.large_communities.is_empty() {
            v.clear();
            for c in &self.large_communities {
                for x in c {
                    v.extend_from_slice(&x.to_be_bytes());
                }
            }
            emit_attr(out, OPT_TRANS, ATTR_LARGE_COMMUNITIES, &v);
        }
        for u in &self.unknown {
            emit_attr(out, u.flags, u.type_code, &u.data);
        }
    }

    /// Whether the attributes carry nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == PathAttributes::default()
    }

    pub fn as_path_len(&self) -> usize {
        self.as_path.as_ref().map_or(0, AsPath::path_len)
    }
}

impl MpReach {
    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        let mut v = Vec::with_capacity(64);
        let (afi, safi) = self.family.afi_safi();
        v.extend_from_slice(&afi.to_be_bytes());
        v.push(safi);
        match (self.next_hop, self.link_local) {
            (IpAddr::V4(a), _) => {
                v.push(4);
                v.extend_from_slice(&a.octets());
            }
            (IpAddr::V6(a), None) => {
                v.push(16);
                v.extend_from_slice(&a.octets());
            }
            (IpAddr::V6(a), Some(ll)) => {
                v.push(32);
                v.extend_from_slice(&a.octets());
                v.extend_from_slice(&ll.octets());
            }
        }
        v.push(0);
        for p in &self.nlri {
            emit_prefix(&mut v, p);
        }
        emit_attr(out, OPT_NON_TRANS, ATTR_MP_REACH_NLRI, &v);
    }
}

impl MpUnreach {
    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        let mut v = Vec::with_capacity(16);
        let (afi, safi) = self.family.afi_safi();
        v.extend_from_slice(&afi.to_be_bytes());
        v.push(safi);
        for p in &self.withdrawn {
            emit_prefix(&mut v, p);
        }
        emit_attr(out, OPT_NON_TRANS, ATTR_MP_UNREACH_NLRI, &v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx2() -> DecodeContext {
        DecodeContext {
            four_octet_as: false,
            ebgp: true,
            peer_as: 65001,
            ..Default::default()
        }
    }

    #[test]
    fn as4_path_merge() {
        // OLD speaker path: 65001 AS_TRANS AS_TRANS 100; AS4_PATH: 4200000001 4200000002 100
        let mut b = Vec::new();
        emit_attr(
            &mut b,
            WELL_KNOWN,
            ATTR_AS_PATH,
            &[2, 4, 0xfd, 0xe9, 0x5b, 0xa0, 0x5b, 0xa0, 0, 100],
        );
        let mut v4 = Vec::new();
        AsPath::sequence(vec![4_200_000_001, 4_200_000_002, 100]).emit_value(true, &mut v4);
        emit_attr(&mut b, OPT_TRANS, ATTR_AS4_PATH, &v4);
        let out = decode_attributes(&b, &ctx2()).unwrap();
        assert_eq!(
            out.decoded.attrs.as_path,
            Some(AsPath::sequence(vec![
                65001,
                4_200_000_001,
                4_200_000_002,
                100
            ]))
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let mut b = Vec::new();
        emit_attr(&mut b, WELL_KNOWN, ATTR_AS_PATH, &[2, 1, 0xfd, 0xe9]);
        emit_attr(&mut b, OPT_TRANS, ATTR_AS4_PATH, &v4);
        let out = decode_attributes(&b, &ctx2()).unwrap();
        assert_eq!(
            out.decoded.attrs.as_path,
            Some(AsPath::sequence(vec![65001]))
        );
    }

    #[test]
    fn as4_emit_round_trip() {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![65001, 4_200_000_001])),
            next_hop: Some(Ipv4Addr::new(192, 168, 10, 100)),
            aggregator: Some(Aggregator {
                asn: 4_200_000_001,
                address: Ipv4Addr::new(1, 2, 3, 4),
            }),
            ..Default::default()
        };
        let mut b = Vec::new();
        attrs.emit(&ctx2(), &mut b);
        let out = decode_attributes(&b, &ctx2()).unwrap();
        assert!(out.treat_as_withdraw.is_none());
        assert_eq!(out.decoded.attrs, attrs);
    }

    #[test]
    fn path_len_counts_set_once() {
        let p = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![1, 2],
                },
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![3, 4, 5],
                },
                AsSegment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![6],
                },
            ],
        };
        assert_eq!(p.path_len(), 3);
        assert_eq!(p.to_string(), "1 2 {3 4 5} (6)");
    }

    #[test]
    fn table_is_consistent() {
        for (i, d) in ATTR_TABLE.iter().enumerate() {
            assert!(
                ATTR_TABLE[i + 1..].iter().all(|e| e.code != d.code),
                "duplicate {}",
                d.name
            );
            assert_eq!(attr_desc(d.code).map(|x| x.name), Some(d.name));
        }
    }
}
