//! TCP-MD5 (RFC 2385) for BGP sessions, as a shim between smoltcp and the
//! slow path.
//!
//! smoltcp has no MD5 option and no hook for TCP options, so the signature
//! is added and checked on the IPv4 packets the stack exchanges with the
//! slow path ([`super::device::ChannelDevice`]):
//!
//! * egress: a segment to a peer with a key gets the 18-byte option (kind
//!   19), a new data offset, IPv4 total length and both checksums. The
//!   device announces an MTU 20 bytes lower to smoltcp while any key is
//!   configured, so the option always fits in the port MTU, and the MSS
//!   option of a signed SYN is clamped to match. Options that would push
//!   the header past 60 bytes are dropped, least useful first (timestamps,
//!   SACK blocks, SACK-permitted, window scale); MSS always stays.
//! * ingress: every TCP segment from a peer with a key must carry a valid
//!   signature; a missing or wrong one is dropped and counted before the
//!   stack sees it, so an unsigned SYN to port 179 never opens anything.
//!   A signed segment from a peer without a key is dropped too (RFC 2385
//!   §2.0 leaves that to the implementation; Linux does the same).
//!
//! Only whole segments can be verified: a fragment from a peer with a key is
//! dropped as bad.
use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use md5::{Digest, Md5};

use crate::wire::checksum;
use crate::wire::ipv4::{protocol, Ipv4Packet};

/// Longest key Linux accepts (TCP_MD5SIG_MAXKEYLEN); peers agree on it.
pub const MAX_KEY_LEN: usize = 80;

/// TCP header field offsets (RFC 793 §3.1).
mod field {
    use std::ops::Range;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const OPTIONS: usize = 20;
}
const TCP_MIN_HEADER: usize = 20;
const TCP_MAX_HEADER: usize = 60;
const FLAG_SYN: u8 = 0x02;

/// TCP option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
    /// RFC 2385 §3.0: "Kind=19 Length=18".
    pub const MD5: u8 = 19;
}
/// Length of the MD5 signature option.
pub const OPTION_LEN: usize = 18;
/// What the option costs in the header, padded to a 32-bit boundary.
pub const OPTION_SPACE: usize = 20;

/// A TCP-MD5 key. Never printed: `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Md5Key(Box<[u8]>);

impl Md5Key {
    /// A key of 1..=80 bytes.
    pub fn new(bytes: &[u8]) -> Option<Md5Key> {
        (!bytes.is_empty() && bytes.len() <= MAX_KEY_LEN).then(|| Md5Key(bytes.into()))
    }
}

impl fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5Key(<{} bytes>)", self.0.len())
    }
}

/// Keys by peer: configured neighbours exactly, dynamic neighbours by the
/// listen range that admits them (longest prefix first).
#[derive(Clone, Debug, Default)]
pub struct KeyTable {
    exact: HashMap<Ipv4Addr, Md5Key>,
    ranges: Vec<(Ipv4Net, Md5Key)>,
}

impl KeyTable {
    pub fn insert_peer(&mut self, addr: Ipv4Addr, key: Md5Key) {
        self.exact.insert(addr, key);
    }

    pub fn insert_range(&mut self, net: Ipv4Net, key: Md5Key) {
        self.ranges.push((net, key));
        self.ranges
            .sort_by_key(|r| std::cmp::Reverse(r.0.prefix_len()));
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.ranges.is_empty()
    }

    /// Peers and ranges with a key.
    pub fn len(&self) -> usize {
        self.exact.len() + self.ranges.len()
    }

    pub fn lookup(&self, peer: Ipv4Addr) -> Option<&Md5Key> {
        self.exact.get(&peer).or_else(|| {
            self.ranges
                .iter()
                .find(|(n, _)| n.contains(&peer))
                .map(|(_, k)| k)
        })
    }
}

/// Why an ingress segment was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drop {
    /// From a peer with a key, without the option.
    Missing,
    /// From a peer with a key, with a wrong signature (or not verifiable).
    Bad,
    /// Signed, from a peer without a key.
    Unexpected,
}

/// What the shim decided about an ingress packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not TCP, or TCP from a peer without a key and without the option.
    Pass,
    /// Signature checked and right.
    Verified,
    Drop(Drop),
}

/// Why a segment could not be signed (it is not sent; TCP retransmits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("not a well-formed IPv4/TCP packet")]
    Malformed,
    #[error("segment too long to carry the option")]
    TooLong,
}

/// The segment's parts, located in an IPv4 packet.
struct Segment {
    /// Start of the TCP header.
    tcp: usize,
    /// TCP header length (data offset).
    header_len: usize,
    /// End of the TCP segment (IPv4 total length).
    end: usize,
}

/// Locates the TCP segment of an unfragmented IPv4/TCP packet.
fn locate(pkt: &[u8]) -> Result<Option<Segment>, SignError> {
    let Ok(ip) = Ipv4Packet::new_checked(pkt) else {
        return Err(SignError::Malformed);
    };
    if ip.protocol() != protocol::TCP {
        return Ok(None);
    }
    let tcp = ip.header_len();
    let end = usize::from(ip.total_len());
    if end > pkt.len() || end < tcp + TCP_MIN_HEADER || ip.is_fragment() {
        return Err(SignError::Malformed);
    }
    let header_len = usize::from(pkt[tcp + field::DATA_OFFSET] >> 4) * 4;
    if header_len < TCP_MIN_HEADER || tcp + header_len > end {
        return Err(SignError::Malformed);
    }
    Ok(Some(Segment {
        tcp,
        header_len,
        end,
    }))
}

/// Splits TCP options into `(kind, bytes)` items, NOPs and the end dropped.
/// `None` when the list is malformed (a length of 0 or 1, or one that
/// overruns the header).
fn parse_options(opts: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            kind::END => break,
            kind::NOP => i += 1,
            k => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                out.push((k, &opts[i..i + len]));
                i += len;
            }
        }
    }
    Some(out)
}

/// RFC 2385 §2.0: "The MD5 digest is always 16 bytes in length, and the
/// digest is computed over the following data in this order:
///  1. the TCP pseudo-header (in the order: source IP address, destination
///     IP address, zero-padded protocol number, and segment length)
///  2. the TCP header, excluding options, and assuming a checksum of zero
///  3. the TCP segment data (if any)
///  4. an independently-specified key or password, known to both TCPs and
///     presumably connection-specific"
fn digest(pkt: &[u8], seg: &Segment, key: &Md5Key) -> [u8; 16] {
    let tcp = &pkt[seg.tcp..seg.end];
    let seg_len = (seg.end - seg.tcp) as u16;
    let mut pseudo = [0u8; 12];
    let (src, dst) = addrs(pkt);
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = protocol::TCP;
    pseudo[10..12].copy_from_slice(&seg_len.to_be_bytes());
    let mut header = [0u8; TCP_MIN_HEADER];
    header.copy_from_slice(&tcp[..TCP_MIN_HEADER]);
    header[field::CHECKSUM].fill(0);
    let mut h = Md5::new();
    h.update(pseudo);
    h.update(header);
    h.update(&tcp[seg.header_len..]);
    h.update(&key.0);
    h.finalize().into()
}

/// The source and destination of an IPv4 packet (`new_checked` passed).
fn addrs(pkt: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    let ip = Ipv4Packet::new_unchecked(pkt);
    (ip.src(), ip.dst())
}

/// The destination of an IPv4/TCP packet, if it is one.
pub fn tcp_destination(pkt: &[u8]) -> Option<Ipv4Addr> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    (ip.protocol() == protocol::TCP).then(|| ip.dst())
}

/// Checks an ingress IPv4 packet against the key of its source (`None`:
/// the source has no key).
pub fn verify(pkt: &[u8], key: Option<&Md5Key>) -> Verdict {
    let seg = match locate(pkt) {
        Ok(Some(s)) => s,
        Ok(None) => return Verdict::Pass,
        // Not ours to judge unless a key is at stake: the stack drops what
        // it cannot parse.
        Err(_) if key.is_none() => return Verdict::Pass,
        Err(_) => return Verdict::Drop(Drop::Bad),
    };
    let opts = &pkt[seg.tcp + field::OPTIONS..seg.tcp + seg.header_len];
    let Some(list) = parse_options(opts) else {
        return match key {
            None => Verdict::Pass,
            Some(_) => Verdict::Drop(Drop::Bad),
        };
    };
    let option = list.iter().find(|(k, _)| *k == kind::MD5).map(|(_, b)| *b);
    match (key, option) {
        (None, None) => Verdict::Pass,
        (None, Some(_)) => Verdict::Drop(Drop::Unexpected),
        (Some(_), None) => Verdict::Drop(Drop::Missing),
        (Some(_), Some(o)) if o.len() != OPTION_LEN => Verdict::Drop(Drop::Bad),
        (Some(k), Some(o)) => {
            let want = digest(pkt, &seg, k);
            // Compared without an early exit: the time taken says nothing
            // about how much of a forged signature was right.
            let diff = want
                .iter()
                .zip(&o[2..])
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                Verdict::Verified
            } else {
                Verdict::Drop(Drop::Bad)
            }
        }
    }
}

/// Priority of an option when the header is too small for all of them
/// plus the signature: the lowest goes first.
fn keep_priority(k: u8) -> u8 {
    match k {
        kind::MSS => 4,
        kind::WINDOW_SCALE => 3,
        kind::SACK_PERMITTED => 2,
        kind::SACK => 1,
        kind::TIMESTAMPS => 0,
        _ => 0,
    }
}

/// Signs an egress IPv4/TCP packet in place: inserts the MD5 option, clamps
/// the MSS of a SYN to `max_mss`, and fixes the data offset, the IPv4 total
/// length and both checksums. Returns false when the packet is not TCP (left
/// untouched).
pub fn sign(pkt: &mut Vec<u8>, key: &Md5Key, max_mss: u16) -> Result<bool, SignError> {
    let Some(seg) = locate(pkt)? else {
        return Ok(false);
    };
    let syn = pkt[seg.tcp + field::FLAGS] & FLAG_SYN != 0;
    let old_opts = &pkt[seg.tcp + field::OPTIONS..seg.tcp + seg.header_len];
    let list = parse_options(old_opts).ok_or(SignError::Malformed)?;
    // An option already there (never from smoltcp) would be signed twice.
    let mut keep: Vec<Vec<u8>> = list
        .iter()
        .filter(|(k, _)| *k != kind::MD5)
        .map(|(_, b)| b.to_vec())
        .collect();
    if syn {
        for o in keep.iter_mut() {
            if o[0] == kind::MSS && o.len() == 4 {
                let mss = u16::from_be_bytes([o[2], o[3]]).min(max_mss);
                o[2..4].copy_from_slice(&mss.to_be_bytes());
            }
        }
    }
    let room = TCP_MAX_HEADER - TCP_MIN_HEADER - OPTION_SPACE;
    while keep.iter().map(Vec::len).sum::<usize>() > room {
        let Some((i, _)) = keep
            .iter()
            .enumerate()
            .filter(|(_, o)| o[0] != kind::MSS)
            .min_by_key(|(_, o)| keep_priority(o[0]))
        else {
            break;
        };
        keep.remove(i);
    }
    // The signature goes first, after two NOPs so the digest starts on a
    // 32-bit boundary (Linux's layout); the other options follow packed, and
    // the list is padded with END to a multiple of 4.
    let mut opts: Vec<u8> = Vec::with_capacity(40);
    opts.extend_from_slice(&[kind::NOP, kind::NOP, kind::MD5, OPTION_LEN as u8]);
    let digest_at = opts.len();
    opts.extend_from_slice(&[0u8; 16]);
    for o in &keep {
        opts.extend_from_slice(o);
    }
    while !opts.len().is_multiple_of(4) {
        opts.push(kind::END);
    }
    if opts.len() > TCP_MAX_HEADER - TCP_MIN_HEADER {
        return Err(SignError::TooLong);
    }
    let new_header_len = TCP_MIN_HEADER + opts.len();
    let new_end = seg.end - seg.header_len + new_header_len;
    let total = u16::try_from(new_end).map_err(|_| SignError::TooLong)?;

    let mut out = Vec::with_capacity(new_end);
    out.extend_from_slice(&pkt[..seg.tcp + TCP_MIN_HEADER]);
    let opts_at = out.len();
    out.extend_from_slice(&opts);
    out.extend_from_slice(&pkt[seg.tcp + seg.header_len..seg.end]);
    out[seg.tcp + field::DATA_OFFSET] =
        ((new_header_len / 4) as u8) << 4 | (out[seg.tcp + field::DATA_OFFSET] & 0x0f);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut out[..]);
        ip.set_total_len(total);
        ip.fill_checksum();
    }
    let new_seg = Segment {
        tcp: seg.tcp,
        header_len: new_header_len,
        end: new_end,
    };
    let d = digest(&out, &new_seg, key);
    out[opts_at + digest_at..opts_at + digest_at + 16].copy_from_slice(&d);
    out[seg.tcp + field::CHECKSUM.start..seg.tcp + field::CHECKSUM.end].fill(0);
    let (src, dst) = addrs(&out);
    let acc = checksum::pseudo_header_sum(
        src.octets(),
        dst.octets(),
        protocol::TCP,
        (new_end - seg.tcp) as u32,
    );
    let c = !checksum::fold(checksum::sum(&out[seg.tcp..new_end], acc));
    out[seg.tcp + field::CHECKSUM.start..seg.tcp + field::CHECKSUM.end]
        .copy_from_slice(&c.to_be_bytes());
    *pkt = out;
    Ok(true)
}

/// Drops and signatures for one peer address (shown by `show bgp neighbors`).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PeerMd5 {
    pub verified: u64,
    pub missing: u64,
    pub bad: u64,
    pub unexpected: u64,
    /// What the latest drop was.
    pub last_drop: Option<Drop>,
    #[serde(skip)]
    last_logged: Option<std::time::Instant>,
}

/// The per-peer view, with the key's presence but never the key.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerMd5View {
    pub address: Ipv4Addr,
    pub key_configured: bool,
    #[serde(flatten)]
    pub counts: PeerMd5,
}

impl PeerMd5View {
    /// Why segments from this peer are being dropped, in one line; `None`
    /// when nothing was dropped.
    pub fn reason(&self) -> Option<String> {
        let c = &self.counts;
        let a = self.address;
        Some(match c.last_drop? {
            Drop::Bad => format!("TCP-MD5: {} segments with a bad signature from {a}", c.bad),
            Drop::Missing => format!(
                "TCP-MD5: {} segments without a signature from {a} (no password set on the peer?)",
                c.missing
            ),
            Drop::Unexpected => format!(
                "TCP-MD5: {} signed segments from {a}, which has no password configured here",
                c.unexpected
            ),
        })
    }
}

/// Peers tracked one by one; drops from further sources are only counted
/// in total (spoofed sources must not grow the table).
const MAX_TRACKED_PEERS: usize = 1024;
/// At most one log line per peer in this interval.
const LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Totals, in the transport's stats.
#[derive(Clone, Copy, Debug, Default)]
pub struct Md5Totals {
    pub signed: u64,
    pub sign_failed: u64,
    pub verified: u64,
    pub missing: u64,
    pub bad: u64,
    pub unexpected: u64,
}

/// The shim's state: keys, counters, the largest MSS a signed SYN may offer.
#[derive(Debug)]
pub struct Md5Shim {
    keys: KeyTable,
    max_mss: u16,
    pub totals: Md5Totals,
    peers: HashMap<Ipv4Addr, PeerMd5>,
}

impl Md5Shim {
    /// `mtu`: the ports' (real) IPv4 MTU.
    pub fn new(keys: KeyTable, mtu: usize) -> Md5Shim {
        let max_mss = mtu.saturating_sub(40 + OPTION_SPACE).clamp(536, 65495) as u16;
        Md5Shim {
            keys,
            max_mss,
            totals: Md5Totals::default(),
            peers: HashMap::new(),
        }
    }

    pub fn is_active(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Decides about one ingress packet: true = hand it to the stack.
    pub fn accept(&mut self, pkt: &[u8]) -> bool {
        let Ok(ip) = Ipv4Packet::new_checked(pkt) else {
            return true;
        };
        if ip.protocol() != protocol::TCP {
            return true;
        }
        let src = ip.src();
        let key = self.keys.lookup(src);
        let verdict = verify(pkt, key);
        let track = key.is_some() || verdict != Verdict::Pass;
        if !track {
            return true;
        }
        let n = self.peers.len();
        let peer = if n < MAX_TRACKED_PEERS || self.peers.contains_key(&src) {
            Some(self.peers.entry(src).or_default())
        } else {
            None
        };
        let drop = match verdict {
            Verdict::Pass => return true,
            Verdict::Verified => {
                self.totals.verified += 1;
                if let Some(p) = peer {
                    p.verified += 1;
                }
                return true;
            }
            Verdict::Drop(d) => d,
        };
        match drop {
            Drop::Missing => self.totals.missing += 1,
            Drop::Bad => self.totals.bad += 1,
            Drop::Unexpected => self.totals.unexpected += 1,
        }
        if let Some(p) = peer {
            match drop {
                Drop::Missing => p.missing += 1,
                Drop::Bad => p.bad += 1,
                Drop::Unexpected => p.unexpected += 1,
            }
            p.last_drop = Some(drop);
            let now = std::time::Instant::now();
            if p.last_logged
                .is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL)
            {
                p.last_logged = Some(now);
                tracing::warn!(
                    peer = %src,
                    reason = ?drop,
                    missing = p.missing,
                    bad = p.bad,
                    unexpected = p.unexpected,
                    "bgp: TCP-MD5: segment dropped"
                );
            }
        }
        false
    }

    /// Signs an egress packet if its destination has a key; false = do not
    /// send it (it could not be signed; counted).
    pub fn egress(&mut self, pkt: &mut Vec<u8>) -> bool {
        let Some(dst) = tcp_destination(pkt) else {
            return true;
        };
        let Some(key) = self.keys.lookup(dst) else {
            return true;
        };
        match sign(pkt, key, self.max_mss) {
            Ok(_) => {
                self.totals.signed += 1;
                true
            }
            Err(e) => {
                self.totals.sign_failed += 1;
                tracing::debug!(peer = %dst, error = %e, "bgp: TCP-MD5: segment not signed");
                false
            }
        }
    }

    /// Per-peer counters for `show bgp neighbors`.
    pub fn views(&self) -> Vec<PeerMd5View> {
        self.peers
            .iter()
            .map(|(a, c)| PeerMd5View {
                address: *a,
                key_configured: self.keys.lookup(*a).is_some(),
                counts: *c,
            })
            .collect()
    }

    /// One peer's counters (zero when nothing was checked or dropped).
    pub fn view_of(&self, peer: Ipv4Addr) -> PeerMd5View {
        PeerMd5View {
            address: peer,
            key_configured: self.keys.lookup(peer).is_some(),
            counts: self.peers.get(&peer).copied().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;
