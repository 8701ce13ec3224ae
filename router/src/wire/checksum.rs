//! The Internet checksum (RFC 1071), its incremental update (RFC 1624) and
//! completion of offloaded (CHECKSUM_PARTIAL) TCP/UDP checksums.
//!
//! Hand-written rather than taken from smoltcp: the forwarding path needs
//! the 16-bit incremental update and a sum over an arbitrary byte range that
//! smoltcp does not expose; its checksum verification is used in the tests
//! as an independent check.

/// Adds `data` as big-endian 16-bit words to a 32-bit accumulator (not
/// folded). An odd trailing byte is padded with zero (RFC 1071).
#[inline]
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    // Summing 32-bit words into a 64-bit accumulator is the same as summing
    // 16-bit words once folded (one's complement arithmetic is associative).
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64;
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u16::from_be_bytes([rest[i], rest[i + 1]]) as u64;
        i += 2;
    }
    if i < rest.len() {
        acc += (rest[i] as u64) << 8;
    }
    acc
}

/// Folds a 64-bit accumulator into 16 bits (not complemented).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data` (complemented, ready to store).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Sum of the IPv4 pseudo header used by TCP and UDP (RFC 793, RFC 768).
#[inline]
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u32) -> u64 {
    let mut acc = sum(&src, 0);
    acc = sum(&dst, acc);
    acc + protocol as u64 + l4_len as u64
}

/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')` — the checksum after the
/// 16-bit word `old` of the covered data changed to `new`. Unlike eqn. 2 of
/// RFC 1141 this never produces 0xFFFF... wrongly for a 0x0000 sum.
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    let acc = (!hc) as u64 + (!old) as u64 + new as u64;
    !fold(acc)
}

/// Why an offloaded checksum could not be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsumError {
    #[error("checksum start/offset outside the frame")]
    OutOfRange,
}

/// Completes a CHECKSUM_PARTIAL checksum in place: the kernel left the
/// pseudo-header sum (not complemented) in the field at
/// `csum_start + csum_offset`; the final value is the complemented sum of
/// everything from `csum_start` to the end of `data` (that field included).
/// Offsets are relative to `data` (the Ethernet frame for AF_PACKET).
pub fn complete_partial(
    data: &mut [u8],
    csum_start: usize,
    csum_offset: usize,
) -> Result<(), CsumError> {
    let field = csum_start
        .checked_add(csum_offset)
        .ok_or(CsumError::OutOfRange)?;
    match field.checked_add(2) {
        Some(end) if csum_start < data.len() && end <= data.len() => {}
        _ => return Err(CsumError::OutOfRange),
    }
    let mut c = !fold(sum(&data[csum_start..], 0));
    // RFC 768: a UDP checksum that computes to zero is sent as all ones; for
    // TCP 0x0000 and 0xFFFF are equivalent, so doing it always is harmless.
    if c == 0 {
        c = 0xffff;
    }
    data[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
        assert_eq!(fold(sum(&[0xab], 0)), 0xab00);
    }

    #[test]
    fn incremental_matches_full_recompute() {
        // A real IPv4 header (checksum 0xb861) with TTL 64, protocol UDP.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0);
        for _ in 0..64 {
            let old = u16::from_be_bytes([h[8], h[9]]);
            h[8] -= 1;
            let new = u16::from_be_bytes([h[8], h[9]]);
            let c = update16(u16::from_be_bytes([h[10], h[11]]), old, new);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            assert_eq!(checksum(&h), 0, "ttl {}", h[8]);
            let mut z = h;
            z[10] = 0;
            z[11] = 0;
            assert_eq!(checksum(&z), c);
        }
    }

    #[test]
    fn complete_partial_udp() {
        // IPv4/UDP 10.0.0.1:1234 -> 10.0.0.2:80, payload "hi", as a frame
        // without Ethernet header (csum_start = 20).
        let mut p = vec![0u8; 20 + 8 + 2];
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[24..26].copy_from_slice(&10u16.to_be_bytes());
        p[28..30].copy_from_slice(b"hi");
        let ph = fold(pseudo_header_sum([10, 0, 0, 1], [10, 0, 0, 2], 17, 10));
        p[26..28].copy_from_slice(&ph.to_be_bytes());
        complete_partial(&mut p, 20, 6).unwrap();
        let udp = smoltcp::wire::UdpPacket::new_checked(&p[20..]).unwrap();
        let (src, dst) = (
            smoltcp::wire::IpAddress::Ipv4("10.0.0.1".parse().unwrap()),
            smoltcp::wire::IpAddress::Ipv4("10.0.0.2".parse().unwrap()),
        );
        // Non-zero (zero would mean "no checksum") and right, says smoltcp.
        assert_ne!(u16::from_be_bytes([p[26], p[27]]), 0);
        assert!(udp.verify_checksum(&src, &dst));
        assert_eq!(complete_partial(&mut p, 29, 6), Err(CsumError::OutOfRange));
        assert_eq!(complete_partial(&mut p, 40, 0), Err(CsumError::OutOfRange));
        assert_eq!(
            complete_partial(&mut p, usize::MAX, 2),
            Err(CsumError::OutOfRange)
        );
    }
}
