//! RFC 4271 §4.3 UPDATE, with RFC 4760 MP_REACH/MP_UNREACH and RFC 7606
//! error handling.
use ipnet::IpNet;

use super::attr::{decode_attributes, AttrError};
pub use super::attr::{MpReach, MpUnreach};
use super::header::{emit_header, patch_length};
use super::nlri::{emit_prefix, PrefixIter};
use super::Family;
use super::{DecodeContext, ErrorKind, MessageError, MessageType, PathAttributes};

mod field {
    pub const WITHDRAWN_LEN: core::ops::Range<usize> = 19..21;
    pub const WITHDRAWN: usize = 21;
}

/// Header + Withdrawn Routes Length + Total Path Attribute Length.
pub const UPDATE_MIN_LEN: usize = 23;

/// Zero-copy view of an UPDATE.
#[derive(Debug, Clone, Copy)]
pub struct UpdatePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UpdatePacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        UpdatePacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, MessageError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// RFC 4271 §6.1: an UPDATE shorter than 23 octets is a "Bad Message
    /// Length". §6.3: "If the Withdrawn Routes Length or Total Attribute
    /// Length is too large (i.e., if Withdrawn Routes Length + Total
    /// Attribute Length + 23 exceeds the message Length), then the Error
    /// Subcode MUST be set to Malformed Attribute List" — a session reset
    /// under RFC 7606 §4 too, since the NLRI cannot be located.
    pub fn check_len(&self) -> Result<(), MessageError> {
        let len = self.buffer.as_ref().len();
        if len < UPDATE_MIN_LEN {
            return Err(MessageError::bad_length(len));
        }
        let wl = usize::from(self.withdrawn_len());
        if field::WITHDRAWN + wl + 2 > len {
            return Err(MessageError::new(
                ErrorKind::MalformedAttributeList,
                Vec::new(),
            ));
        }
        let al = usize::from(self.attributes_len());
        if UPDATE_MIN_LEN + wl + al > len {
            return Err(MessageError::new(
                ErrorKind::MalformedAttributeList,
                Vec::new(),
            ));
        }
        Ok(())
    }

    fn u16_at(&self, at: usize) -> u16 {
        match self.buffer.as_ref().get(at..at + 2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => 0,
        }
    }

    pub fn withdrawn_len(&self) -> u16 {
        self.u16_at(field::WITHDRAWN_LEN.start)
    }

    fn attrs_len_at(&self) -> usize {
        field::WITHDRAWN + usize::from(self.withdrawn_len())
    }

    pub fn attributes_len(&self) -> u16 {
        self.u16_at(self.attrs_len_at())
    }

    pub fn withdrawn(&self) -> &[u8] {
        let s = field::WITHDRAWN;
        self.buffer
            .as_ref()
            .get(s..s + usize::from(self.withdrawn_len()))
            .unwrap_or(&[])
    }

    pub fn attributes(&self) -> &[u8] {
        let s = self.attrs_len_at() + 2;
        self.buffer
            .as_ref()
            .get(s..s + usize::from(self.attributes_len()))
            .unwrap_or(&[])
    }

    pub fn nlri(&self) -> &[u8] {
        let s = self.attrs_len_at() + 2 + usize::from(self.attributes_len());
        self.buffer.as_ref().get(s..).unwrap_or(&[])
    }
}

/// A parsed UPDATE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateRepr {
    pub withdrawn: Vec<IpNet>,
    pub attrs: PathAttributes,
    pub nlri: Vec<IpNet>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// RFC 7606 treat-as-withdraw: set when an attribute error makes every
    /// NLRI of this UPDATE (IPv4 and MP_REACH) a withdrawal. Never emitted.
    pub treat_as_withdraw: Option<AttrError>,
    /// Attributes dropped under RFC 7606 "attribute discard". Never emitted.
    pub discarded: Vec<AttrError>,
}

impl UpdateRepr {
    pub fn parse<T: AsRef<[u8]>>(
        p: &UpdatePacket<T>,
        ctx: &DecodeContext,
    ) -> Result<UpdateRepr, MessageError> {
        p.check_len()?;
        // RFC 7606 §5.3: a syntactically incorrect Withdrawn Routes or NLRI
        // field cannot be handled by treat-as-withdraw → session reset
        // (RFC 4271 §6.3: "Invalid Network Field").
        let invalid = || MessageError::new(ErrorKind::InvalidNetworkField, Vec::new());
        let withdrawn = PrefixIter::new(Family::Ipv4Unicast, p.withdrawn())
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|()| invalid())?;
        let nlri = PrefixIter::new(Family::Ipv4Unicast, p.nlri())
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|()| invalid())?;
        let outcome = decode_attributes(p.attributes(), ctx)?;
        let d = outcome.decoded;
        let mut repr = UpdateRepr {
            withdrawn,
            attrs: d.attrs,
            nlri,
            mp_reach: d.mp_reach,
            mp_unreach: d.mp_unreach,
            treat_as_withdraw: outcome.treat_as_withdraw,
            discarded: outcome.discarded,
        };
        // RFC 7606 §3 d): "If any of the well-known mandatory attributes are
        // not present in an UPDATE message, then 'treat-as-withdraw' MUST be
        // used." NEXT_HOP is only mandatory with IPv4 NLRI in the UPDATE's
        // own NLRI field (RFC 4760 §3).
        let announces =
            !repr.nlri.is_empty() || repr.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if announces && repr.treat_as_withdraw.is_none() {
            let missing = if repr.attrs.origin.is_none() {
                Some(("ORIGIN", super::attr::ATTR_ORIGIN))
            } else if repr.attrs.as_path.is_none() {
                Some(("AS_PATH", super::attr::ATTR_AS_PATH))
            } else if !repr.nlri.is_empty() && repr.attrs.next_hop.is_none() {
                Some(("NEXT_HOP", super::attr::ATTR_NEXT_HOP))
            } else {
                None
            };
            if let Some((name, code)) = missing {
                repr.treat_as_withdraw = Some(AttrError {
                    type_code: code,
                    name,
                    reason: "missing well-known mandatory attribute",
                    action: super::ErrorAction::TreatAsWithdraw,
                    section: "RFC 7606 §3 d)",
                    data: Vec::new(),
                });
            }
        }
        Ok(repr)
    }

    /// RFC 4724 §2: End-of-RIB is an UPDATE with no withdrawn routes, no
    /// attributes and no NLRI (IPv4 unicast), or one whose only attribute is
    /// an MP_UNREACH_NLRI without withdrawn routes (other families).
    pub fn end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.mp_reach.is_some()
            || !self.attrs.is_empty()
        {
            return None;
        }
        match &self.mp_unreach {
            None => Some(Family::Ipv4Unicast),
            Some(u) if u.withdrawn.is_empty() => Some(u.family),
            Some(_) => None,
        }
    }

    pub fn end_of_rib_marker(family: Family) -> UpdateRepr {
        match family {
            Family::Ipv4Unicast => UpdateRepr::default(),
            f => UpdateRepr {
                mp_unreach: Some(MpUnreach {
                    family: f,
                    withdrawn: Vec::new(),
                }),
                ..Default::default()
            },
        }
    }

    /// Append the encoded UPDATE; MP attributes go first (RFC 7606 §5.1:
    /// "the MP_REACH_NLRI or MP_UNREACH_NLRI attribute ... SHOULD be
    /// encoded as the very first path attribute").
    pub fn emit(&self, ctx: &DecodeContext, out: &mut Vec<u8>) {
        let start = out.len();
        emit_header(out, MessageType::Update, 0);
        let wl_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for p in &self.withdrawn {
            emit_prefix(out, p);
        }
        let wl = out.len() - wl_at - 2;
        out[wl_at..wl_at + 2].copy_from_slice(&u16::try_from(wl).unwrap_or(u16::MAX).to_be_bytes());
        let al_at = out.len();
        out.extend_from_slice(&[0, 0]);
        if let Some(u) = &self.mp_unreach {
            u.emit(out);
        }
        if let Some(r) = &self.mp_reach {
            r.emit(out);
        }
        self.attrs.emit(ctx, out);
        let al = out.len() - al_at - 2;
        out[al_at..al_at + 2].copy_from_slice(&u16::try_from(al).unwrap_or(u16::MAX).to_be_bytes());
        for p in &self.nlri {
            emit_prefix(out, p);
        }
        patch_length(out, start);
    }

    pub fn buffer_len(&self, ctx: &DecodeContext) -> usize {
        let mut v = Vec::new();
        self.emit(ctx, &mut v);
        v.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::attr::*;
    use crate::wire::{Aggregator, AsPath, Message, Origin, RawAttribute};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn ctx() -> DecodeContext {
        DecodeContext {
            four_octet_as: true,
            ebgp: true,
            peer_as: 65001,
            ..Default::default()
        }
    }

    fn full_update() -> UpdateRepr {
        UpdateRepr {
            withdrawn: vec!["10.1.0.0/16".parse().unwrap()],
            attrs: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::sequence(vec![65001, 65002])),
                next_hop: Some(Ipv4Addr::new(192, 168, 10, 100)),
                med: Some(5),
                local_pref: None,
                atomic_aggregate: true,
                aggregator: Some(Aggregator {
                    asn: 65002,
                    address: Ipv4Addr::new(1, 1, 1, 1),
                }),
                communities: vec![0xfde9_0001],
                large_communities: vec![[65001, 1, 2]],
                originator_id: None,
                cluster_list: vec![],
                unknown: vec![RawAttribute {
                    flags: FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL,
                    type_code: 99,
                    data: vec![1, 2, 3],
                }],
            },
            nlri: vec![
                "172.20.2.0/24".parse().unwrap(),
                "172.16.1.1/32".parse().unwrap(),
            ],
            mp_reach: Some(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: IpAddr::V6("fd00::1".parse().unwrap()),
                link_local: Some("fe80::1".parse::<Ipv6Addr>().unwrap()),
                nlri: vec!["fd00:20::/64".parse().unwrap()],
            }),
            mp_unreach: Some(MpUnreach {
                family: Family::Ipv6Unicast,
                withdrawn: vec!["fd00:30::/64".parse().unwrap()],
            }),
            treat_as_withdraw: None,
            discarded: vec![],
        }
    }

    #[test]
    fn round_trip_full() {
        let u = full_update();
        let b = Message::Update(u.clone()).to_bytes(&ctx());
        assert_eq!(Message::parse(&b, &ctx()).unwrap(), Message::Update(u));
    }

    #[test]
    fn round_trip_two_octet_as() {
        let c = DecodeContext {
            four_octet_as: false,
            ..ctx()
        };
        let mut u = full_update();
        u.attrs.as_path = Some(AsPath::sequence(vec![65001, 4_200_000_000]));
        // RFC 6793 §4.2.3: an AGGREGATOR that is not AS_TRANS makes the
        // receiver ignore AS4_PATH, so leave it out here.
        u.attrs.aggregator = None;
        let b = Message::Update(u.clone()).to_bytes(&c);
        assert_eq!(Message::parse(&b, &c).unwrap(), Message::Update(u));
    }

    #[test]
    fn end_of_rib() {
        for f in Family::ALL {
            let m = UpdateRepr::end_of_rib_marker(f);
            let b = Message::Update(m).to_bytes(&ctx());
            let Message::Update(u) = Message::parse(&b, &ctx()).unwrap() else {
                panic!()
            };
            assert_eq!(u.end_of_rib(), Some(f));
        }
        assert_eq!(full_update().end_of_rib(), None);
        assert_eq!(
            UpdateRepr::end_of_rib_marker(Family::Ipv4Unicast).buffer_len(&ctx()),
            23
        );
    }

    /// Build an UPDATE by hand: raw attribute bytes and NLRI.
    fn raw_update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
        let mut b = vec![0xff; 16];
        let len = 23 + attrs.len() + nlri.len();
        b.extend_from_slice(&(len as u16).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(attrs);
        b.extend_from_slice(nlri);
        b
    }

    const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
    const AS_PATH_65001: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
    const NH: [u8; 7] = [0x40, 3, 4, 192, 168, 10, 100];
    const NLRI: [u8; 4] = [24, 172, 20, 2];

    fn attrs(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn parse(b: &[u8]) -> Result<UpdateRepr, MessageError> {
        match Message::parse(b, &ctx())? {
            Message::Update(u) => Ok(u),
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn well_formed_hand_built() {
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH]),
            &NLRI,
        ))
        .unwrap();
        assert!(u.treat_as_withdraw.is_none());
        assert_eq!(u.nlri, vec!["172.20.2.0/24".parse::<IpNet>().unwrap()]);
    }

    #[test]
    fn bad_origin_treat_as_withdraw() {
        let u = parse(&raw_update(
            &attrs(&[&[0x40, 1, 1, 7], &AS_PATH_65001, &NH]),
            &NLRI,
        ))
        .unwrap();
        let e = u.treat_as_withdraw.unwrap();
        assert_eq!(
            (e.type_code, e.action, e.section),
            (1, ErrorAction::TreatAsWithdraw, "RFC 7606 §7.1")
        );
        let u = parse(&raw_update(
            &attrs(&[&[0x40, 1, 2, 0, 0], &AS_PATH_65001, &NH]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().type_code, 1);
    }

    #[test]
    fn zero_length_as_path_from_ebgp() {
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &[0x40, 2, 0], &NH]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().type_code, 2);
        // Zero segment length is malformed too.
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &[0x40, 2, 2, 2, 0], &NH]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().reason, "zero segment length");
        // iBGP: an empty AS_PATH is fine.
        let c = DecodeContext {
            ebgp: false,
            peer_as: 65000,
            ..ctx()
        };
        let Message::Update(u) = Message::parse(
            &raw_update(&attrs(&[&ORIGIN_IGP, &[0x40, 2, 0], &NH]), &NLRI),
            &c,
        )
        .unwrap() else {
            panic!()
        };
        assert!(u.treat_as_withdraw.is_none());
    }

    #[test]
    fn short_next_hop() {
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &[0x40, 3, 3, 1, 2, 3]]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().section, "RFC 7606 §7.3");
    }

    #[test]
    fn missing_mandatory() {
        let u = parse(&raw_update(&attrs(&[&ORIGIN_IGP, &AS_PATH_65001]), &NLRI)).unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().name, "NEXT_HOP");
        // Withdraw-only UPDATE needs none.
        let u = parse(&raw_update(&[], &[])).unwrap();
        assert!(u.treat_as_withdraw.is_none());
    }

    #[test]
    fn attribute_length_overrun() {
        // NEXT_HOP claims 9 octets, only 4 remain in the attributes.
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &[0x40, 3, 9, 1, 2, 3, 4]]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().section, "RFC 7606 §4");
        assert_eq!(u.nlri.len(), 1);
        // Two stray octets (less than an attribute header).
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH, &[0x40]]),
            &NLRI,
        ))
        .unwrap();
        assert!(u.treat_as_withdraw.is_some());
    }

    #[test]
    fn total_attribute_length_too_large_is_reset() {
        let mut b = raw_update(&attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH]), &NLRI);
        b[22] = 200;
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 1));
        let mut b = raw_update(&[], &[]);
        b[20] = 5; // withdrawn length 5 in a 23-octet message
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 1));
    }

    #[test]
    fn bad_nlri_is_reset() {
        let b = raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH]),
            &[33, 1, 2, 3, 4, 5],
        );
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 10));
        let b = raw_update(&attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH]), &[24, 1, 2]);
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 10));
    }

    #[test]
    fn truncated_mp_reach_is_reset() {
        // IPv6 MP_REACH whose next hop length says 16 but only 4 follow.
        let mp = [0x80, 14, 8, 0, 2, 1, 16, 0xfd, 0, 0, 0];
        let b = raw_update(&attrs(&[&mp, &ORIGIN_IGP, &AS_PATH_65001]), &[]);
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 9));
        // NLRI inside MP_REACH overrunning.
        let mut mp = vec![0x80, 14, 0, 0, 2, 1, 16];
        mp.extend_from_slice(&[
            0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 64, 0xfd,
        ]);
        mp[2] = (mp.len() - 3) as u8;
        let b = raw_update(&attrs(&[&mp, &ORIGIN_IGP, &AS_PATH_65001]), &[]);
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 9));
        // Duplicate MP_REACH → malformed attribute list.
        let ok = [0x80, 14, 5, 0, 1, 1, 4, 1];
        let _ = ok;
        let mut mp = vec![0x80, 14, 0, 0, 2, 1, 16];
        mp.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        mp[2] = (mp.len() - 3) as u8;
        let b = raw_update(&attrs(&[&mp, &mp, &ORIGIN_IGP, &AS_PATH_65001]), &[]);
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 1));
    }

    #[test]
    fn discard_and_duplicates() {
        // ATOMIC_AGGREGATE with a length → attribute discard, route kept;
        // a second ORIGIN is dropped; LOCAL_PREF from eBGP is ignored.
        let u = parse(&raw_update(
            &attrs(&[
                &ORIGIN_IGP,
                &[0x40, 1, 1, 2],
                &AS_PATH_65001,
                &NH,
                &[0x40, 6, 1, 0],
                &[0x40, 5, 4, 0, 0, 0, 200],
            ]),
            &NLRI,
        ))
        .unwrap();
        assert!(u.treat_as_withdraw.is_none());
        assert_eq!(u.attrs.origin, Some(Origin::Igp));
        assert!(!u.attrs.atomic_aggregate);
        assert_eq!(u.attrs.local_pref, None);
        assert_eq!(u.discarded.len(), 1);
        assert_eq!(u.discarded[0].action, ErrorAction::AttributeDiscard);
    }

    #[test]
    fn unknown_attributes() {
        // Unknown well-known → session reset 3/2 with the attribute as data.
        let b = raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH, &[0x40, 77, 1, 9]]),
            &NLRI,
        );
        let e = parse(&b).unwrap_err();
        assert_eq!((e.code_subcode(), e.data), ((3, 2), vec![0x40, 77, 1, 9]));
        // Unknown optional transitive: kept, Partial set. Non-transitive: dropped.
        let b = raw_update(
            &attrs(&[
                &ORIGIN_IGP,
                &AS_PATH_65001,
                &NH,
                &[0xc0, 77, 1, 9],
                &[0x80, 78, 1, 9],
            ]),
            &NLRI,
        );
        let u = parse(&b).unwrap();
        assert_eq!(
            u.attrs.unknown,
            vec![RawAttribute {
                flags: 0xe0,
                type_code: 77,
                data: vec![9]
            }]
        );
    }

    #[test]
    fn flags_conflict() {
        // ORIGIN marked optional → treat-as-withdraw (RFC 7606 §3 c).
        let u = parse(&raw_update(
            &attrs(&[&[0xc0, 1, 1, 0], &AS_PATH_65001, &NH]),
            &NLRI,
        ))
        .unwrap();
        assert!(u.treat_as_withdraw.is_some());
        // Communities with a bad length → treat-as-withdraw.
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &AS_PATH_65001, &NH, &[0xc0, 8, 3, 1, 2, 3]]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().type_code, 8);
    }

    #[test]
    fn first_as_check() {
        let u = parse(&raw_update(
            &attrs(&[&ORIGIN_IGP, &[0x40, 2, 6, 2, 1, 0, 0, 0, 7], &NH]),
            &NLRI,
        ))
        .unwrap();
        assert_eq!(u.treat_as_withdraw.unwrap().type_code, 2);
    }

    // RFC 7606 §7 and RFC 7607, one rule per test, byte fixtures.

    fn ibgp() -> DecodeContext {
        DecodeContext {
            ebgp: false,
            peer_as: 65000,
            ..ctx()
        }
    }

    fn two_octet() -> DecodeContext {
        DecodeContext {
            four_octet_as: false,
            ..ctx()
        }
    }

    /// 2-octet AS_PATHs: 65001, and 65001 AS_TRANS.
    const AS_PATH_2_65001: [u8; 7] = [0x40, 2, 4, 2, 1, 0xfd, 0xe9];
    const AS_PATH_2_65001_TRANS: [u8; 9] = [0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0];

    /// An UPDATE for 172.20.2.0/24 with ORIGIN, NEXT_HOP and `extra`
    /// attributes (AS_PATH included by the caller), parsed under `c`.
    fn parse_with(c: &DecodeContext, extra: &[&[u8]]) -> Result<UpdateRepr, (u8, u8)> {
        let mut parts: Vec<&[u8]> = vec![&ORIGIN_IGP, &NH];
        parts.extend_from_slice(extra);
        match Message::parse(&raw_update(&attrs(&parts), &NLRI), c) {
            Ok(Message::Update(u)) => Ok(u),
            Ok(m) => panic!("{m:?}"),
            Err(e) => Err(e.code_subcode()),
        }
    }

    fn withdrawn_by(u: &UpdateRepr) -> Option<u8> {
        u.treat_as_withdraw.as_ref().map(|e| e.type_code)
    }

    fn discarded(u: &UpdateRepr) -> Vec<u8> {
        u.discarded.iter().map(|e| e.type_code).collect()
    }

    #[test]
    fn rfc7607_as0_in_as_path_is_treat_as_withdraw() {
        let cases: [(&str, DecodeContext, &[u8]); 4] = [
            (
                "sequence 65001 0",
                ctx(),
                &[0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0],
            ),
            (
                "AS_SET holding 0",
                ctx(),
                &[0x40, 2, 12, 2, 1, 0, 0, 0xfd, 0xe9, 1, 1, 0, 0, 0, 0],
            ),
            (
                "2-octet session",
                two_octet(),
                &[0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0, 0],
            ),
            ("iBGP", ibgp(), &[0x40, 2, 6, 2, 1, 0, 0, 0, 0]),
        ];
        for (name, c, as_path) in cases {
            let u = parse_with(&c, &[as_path]).unwrap();
            let e = u.treat_as_withdraw.expect(name);
            assert_eq!(
                (e.type_code, e.action),
                (2, ErrorAction::TreatAsWithdraw),
                "{name}"
            );
            assert!(e.reason.contains("AS 0"), "{name}: {}", e.reason);
        }
    }

    #[test]
    fn rfc7607_as0_in_as4_path_is_attribute_discard() {
        // From a 2-octet speaker: AS_PATH 65001 AS_TRANS, AS4_PATH 65001 0.
        let as4 = [0xc0, 17, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0];
        let u = parse_with(&two_octet(), &[&AS_PATH_2_65001_TRANS, &as4]).unwrap();
        assert_eq!(withdrawn_by(&u), None);
        assert_eq!(discarded(&u), vec![17]);
        assert_eq!(u.attrs.as_path, Some(AsPath::sequence(vec![65001, 23456])));
    }

    #[test]
    fn rfc7607_as0_in_aggregator_is_attribute_discard() {
        let agg0 = [0xc0, 7, 8, 0, 0, 0, 0, 1, 2, 3, 4];
        let u = parse_with(&ctx(), &[&AS_PATH_65001, &agg0]).unwrap();
        assert_eq!(withdrawn_by(&u), None);
        assert_eq!(discarded(&u), vec![7]);
        assert_eq!(u.attrs.aggregator, None);
        // From a 2-octet speaker an AGGREGATOR of AS 0 "is not AS_TRANS", so
        // AS4_AGGREGATOR and AS4_PATH are ignored too (RFC 6793 §4.2.3).
        let agg0 = [0xc0, 7, 6, 0, 0, 1, 2, 3, 4];
        let as4_agg = [0xc0, 18, 8, 0xfa, 0x56, 0xea, 0x01, 1, 2, 3, 4];
        let as4_path = [0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0x01];
        let u = parse_with(
            &two_octet(),
            &[&AS_PATH_2_65001_TRANS, &agg0, &as4_path, &as4_agg],
        )
        .unwrap();
        assert_eq!(withdrawn_by(&u), None);
        assert_eq!(discarded(&u), vec![7]);
        assert_eq!(u.attrs.aggregator, None);
        assert_eq!(u.attrs.as_path, Some(AsPath::sequence(vec![65001, 23456])));
    }

    #[test]
    fn rfc7607_as0_in_as4_aggregator_is_attribute_discard() {
        let agg_trans = [0xc0, 7, 6, 0x5b, 0xa0, 1, 2, 3, 4];
        let as4_agg0 = [0xc0, 18, 8, 0, 0, 0, 0, 1, 2, 3, 4];
        let u = parse_with(&two_octet(), &[&AS_PATH_2_65001, &agg_trans, &as4_agg0]).unwrap();
        assert_eq!(withdrawn_by(&u), None);
        assert_eq!(discarded(&u), vec![18]);
        assert_eq!(
            u.attrs.aggregator,
            Some(Aggregator {
                asn: 23456,
                address: Ipv4Addr::new(1, 2, 3, 4)
            })
        );
    }

    #[test]
    fn rfc7606_7_2_malformed_as_path_segments() {
        let cases: [(&[u8], &str); 4] = [
            (
                &[0x40, 2, 6, 5, 1, 0, 0, 0xfd, 0xe9],
                "unknown segment type",
            ),
            (
                &[0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe9],
                "segment overruns attribute",
            ),
            (
                &[0x40, 2, 7, 2, 1, 0, 0, 0xfd, 0xe9, 2],
                "single octet after last segment",
            ),
            (
                &[0x40, 2, 8, 2, 1, 0, 0, 0xfd, 0xe9, 2, 0],
                "zero segment length",
            ),
        ];
        for (as_path, reason) in cases {
            let u = parse_with(&ctx(), &[as_path]).unwrap();
            let e = u.treat_as_withdraw.expect(reason);
            assert_eq!((e.type_code, e.reason), (2, reason));
        }
    }

    #[test]
    fn rfc7606_7_4_med_length() {
        let u = parse_with(&ctx(), &[&AS_PATH_65001, &[0x80, 4, 3, 0, 0, 1]]).unwrap();
        assert_eq!(withdrawn_by(&u), Some(4));
        let u = parse_with(&ctx(), &[&AS_PATH_65001, &[0x80, 4, 4, 0, 0, 0, 1]]).unwrap();
        assert_eq!((withdrawn_by(&u), u.attrs.med), (None, Some(1)));
    }

    #[test]
    fn rfc7606_7_5_local_pref_length_from_ibgp() {
        let bad = [0x40, 5, 2, 0, 1];
        let u = parse_with(&ibgp(), &[&AS_PATH_65001, &bad]).unwrap();
        assert_eq!(withdrawn_by(&u), Some(5));
        // From eBGP the same bytes are discarded, whatever they hold.
        let u = parse_with(&ctx(), &[&AS_PATH_65001, &bad]).unwrap();
        assert_eq!((withdrawn_by(&u), u.attrs.local_pref), (None, None));
    }

    #[test]
    fn rfc7606_7_7_aggregator_length() {
        // 6 octets on a 4-octet session, 8 on a 2-octet one.
        let u = parse_with(
            &ctx(),
            &[&AS_PATH_65001, &[0xc0, 7, 6, 0xfd, 0xe9, 1, 2, 3, 4]],
        )
        .unwrap();
        assert_eq!((withdrawn_by(&u), discarded(&u)), (None, vec![7]));
        let u = parse_with(
            &two_octet(),
            &[
                &AS_PATH_2_65001,
                &[0xc0, 7, 8, 0, 0, 0xfd, 0xe9, 1, 2, 3, 4],
            ],
        )
        .unwrap();
        assert_eq!((withdrawn_by(&u), discarded(&u)), (None, vec![7]));
        assert_eq!(u.attrs.aggregator, None);
    }

    #[test]
    fn rfc7606_7_8_community_length_non_zero_multiple_of_4() {
        for bad in [&[0xc0, 8, 0][..], &[0xc0, 8, 2, 0, 1]] {
            let u = parse_with(&ctx(), &[&AS_PATH_65001, bad]).unwrap();
            assert_eq!(withdrawn_by(&u), Some(8), "{bad:?}");
        }
    }

    #[test]
    fn rfc7606_7_9_originator_id() {
        let good = [0x80, 9, 4, 1, 2, 3, 4];
        let bad = [0x80, 9, 3, 1, 2, 3];
        // From eBGP: discarded, well-formed or not.
        for a in [&good[..], &bad] {
            let u = parse_with(&ctx(), &[&AS_PATH_65001, a]).unwrap();
            assert_eq!((withdrawn_by(&u), u.attrs.originator_id), (None, None));
        }
        let u = parse_with(&ibgp(), &[&AS_PATH_65001, &bad]).unwrap();
        assert_eq!(withdrawn_by(&u), Some(9));
        let u = parse_with(&ibgp(), &[&AS_PATH_65001, &good]).unwrap();
        assert_eq!(u.attrs.originator_id, Some(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn rfc7606_7_10_cluster_list() {
        let good = [0x80, 10, 4, 1, 1, 1, 1];
        let u = parse_with(&ctx(), &[&AS_PATH_65001, &good]).unwrap();
        assert_eq!((withdrawn_by(&u), u.attrs.cluster_list.len()), (None, 0));
        let u = parse_with(&ctx(), &[&AS_PATH_65001, &[0x80, 10, 0]]).unwrap();
        assert_eq!(withdrawn_by(&u), None);
        for bad in [&[0x80, 10, 0][..], &[0x80, 10, 5, 1, 1, 1, 1, 2]] {
            let u = parse_with(&ibgp(), &[&AS_PATH_65001, bad]).unwrap();
            assert_eq!(withdrawn_by(&u), Some(10), "{bad:?}");
        }
        let u = parse_with(&ibgp(), &[&AS_PATH_65001, &good]).unwrap();
        assert_eq!(u.attrs.cluster_list, vec![Ipv4Addr::new(1, 1, 1, 1)]);
    }

    #[test]
    fn rfc7606_7_11_mp_reach_next_hop_length_is_reset() {
        // IPv6 unicast with a 4-octet next hop.
        let mp = [0x80, 14, 9, 0, 2, 1, 4, 1, 2, 3, 4, 0];
        let b = raw_update(&attrs(&[&mp, &ORIGIN_IGP, &AS_PATH_65001]), &[]);
        assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 9));
    }

    #[test]
    fn rfc7606_7_12_malformed_mp_unreach_is_reset() {
        for mp in [&[0x80, 15, 2, 0, 2][..], &[0x80, 15, 4, 0, 2, 1, 129]] {
            let b = raw_update(&attrs(&[mp]), &[]);
            assert_eq!(parse(&b).unwrap_err().code_subcode(), (3, 9), "{mp:?}");
        }
    }

    #[test]
    fn rfc8092_large_community_length() {
        for bad in [&[0xc0, 32, 0][..], &[0xc0, 32, 4, 0, 0, 0, 1]] {
            let u = parse_with(&ctx(), &[&AS_PATH_65001, bad]).unwrap();
            assert_eq!(withdrawn_by(&u), Some(32), "{bad:?}");
        }
    }
}
