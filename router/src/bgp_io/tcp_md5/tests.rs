use super::*;
use smoltcp::wire::{IpAddress, Ipv4Address, TcpOption, TcpPacket};

/// A SYN signed by the Linux kernel (TCP_MD5SIG, set by gobgpd 3.x with
/// `auth-password = "kat-secret-2385"`), 10.99.0.1:47169 -> 10.99.0.2:179,
/// captured with tcpdump on a veth in a namespace (transmit checksum
/// offload off); `tcpdump -M kat-secret-2385` calls it "md5 valid".
/// Options: NOP NOP MD5 MSS(1460) NOP NOP SACK-permitted NOP WS(10).
const KERNEL_SYN: &str = "45000048891f40000106dbc80a6300010a630002b84100b31214ceb800000000\
d002faf08577000001011312c28633ed18b5405b3a2ebe1a34236004020405b4010104020103030a";
const KERNEL_KEY: &[u8] = b"kat-secret-2385";
const KERNEL_DIGEST: &str = "c28633ed18b5405b3a2ebe1a34236004";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn key(k: &[u8]) -> Md5Key {
    Md5Key::new(k).unwrap()
}

/// An IPv4/TCP packet as smoltcp would emit it: 10.0.0.1:179 ->
/// 10.0.0.2:50000, with `opts` (already padded) and `payload`.
fn segment(flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let tcp_len = 20 + opts.len() + payload.len();
    let mut p = vec![0u8; 20 + tcp_len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let t = &mut p[20..];
    t[0..2].copy_from_slice(&179u16.to_be_bytes());
    t[2..4].copy_from_slice(&50000u16.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[8..12].copy_from_slice(&2000u32.to_be_bytes());
    t[12] = (((20 + opts.len()) / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&8192u16.to_be_bytes());
    t[20..20 + opts.len()].copy_from_slice(opts);
    t[20 + opts.len()..].copy_from_slice(payload);
    fix_checksums(&mut p);
    p
}

fn fix_checksums(p: &mut [u8]) {
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    let mut t = TcpPacket::new_unchecked(&mut p[20..]);
    t.fill_checksum(
        &IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)),
        &IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2)),
    );
}

/// Independent checks with smoltcp's parser: both checksums right, the
/// options well formed; returns the options smoltcp sees.
fn check_wire(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let ip = Ipv4Packet::new_checked(p).unwrap();
    assert!(ip.verify_checksum(), "IPv4 checksum");
    assert_eq!(usize::from(ip.total_len()), p.len());
    let t = TcpPacket::new_checked(&p[20..]).unwrap();
    assert!(
        t.verify_checksum(&IpAddress::Ipv4(ip.src()), &IpAddress::Ipv4(ip.dst())),
        "TCP checksum"
    );
    let mut out = Vec::new();
    let mut opts = t.options();
    while !opts.is_empty() {
        let (rest, o) = TcpOption::parse(opts).unwrap();
        match o {
            TcpOption::EndOfList => break,
            TcpOption::NoOperation => {}
            _ => {
                let n = opts.len() - rest.len();
                out.push((opts[0], opts[..n].to_vec()));
            }
        }
        opts = rest;
    }
    out
}

#[test]
fn kernel_signed_syn_verifies() {
    let p = hex(KERNEL_SYN);
    assert_eq!(verify(&p, Some(&key(KERNEL_KEY))), Verdict::Verified);
    assert_eq!(
        verify(&p, Some(&key(b"kat-secret-2386"))),
        Verdict::Drop(Drop::Bad)
    );
    // Signed, but we have no key for the peer.
    assert_eq!(verify(&p, None), Verdict::Drop(Drop::Unexpected));
    // One flipped bit anywhere the digest covers breaks it: data offset
    // aside, the sequence number, the window, an address.
    for at in [24, 34, 12, 19] {
        let mut q = p.clone();
        q[at] ^= 0x01;
        assert_eq!(
            verify(&q, Some(&key(KERNEL_KEY))),
            Verdict::Drop(Drop::Bad),
            "byte {at}"
        );
    }
    // The checksum is not covered (RFC 2385 §2.0 step 2).
    let mut q = p.clone();
    q[36] ^= 0xff;
    assert_eq!(verify(&q, Some(&key(KERNEL_KEY))), Verdict::Verified);
}

#[test]
fn signing_the_unsigned_syn_gives_the_kernels_digest() {
    // The kernel's SYN without its signature: MSS, SACK-permitted, WS,
    // packed into 12 bytes as smoltcp would.
    let k = hex(KERNEL_SYN);
    let mut opts = vec![2, 4, 0x05, 0xb4, 4, 2, 3, 3, 10, 0, 0, 0];
    opts.truncate(12);
    let mut p = Vec::new();
    p.extend_from_slice(&k[..20]);
    p.extend_from_slice(&k[20..40]);
    p.extend_from_slice(&opts);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[32] = (32 / 4) << 4;
    assert_eq!(
        verify(&p, Some(&key(KERNEL_KEY))),
        Verdict::Drop(Drop::Missing)
    );
    assert!(sign(&mut p, &key(KERNEL_KEY), 1460).unwrap());
    // Same TCP length as the kernel's (32 bytes of options): same digest.
    assert_eq!(p.len(), k.len());
    let got = check_wire(&p);
    let md5 = got.iter().find(|(k, _)| *k == 19).unwrap();
    assert_eq!(md5.1[2..].to_vec(), hex(KERNEL_DIGEST));
    assert_eq!(verify(&p, Some(&key(KERNEL_KEY))), Verdict::Verified);
}

#[test]
fn sign_then_verify_round_trip_with_data() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let mut p = segment(0x18, &[], &payload);
    let k = key(b"s3cret");
    assert!(sign(&mut p, &k, 1400).unwrap());
    assert_eq!(p.len(), 20 + 20 + OPTION_SPACE + 1000);
    let opts = check_wire(&p);
    assert_eq!(opts.len(), 1);
    assert_eq!(opts[0].1.len(), OPTION_LEN);
    assert_eq!(&p[p.len() - 1000..], &payload[..]);
    assert_eq!(verify(&p, Some(&k)), Verdict::Verified);
    assert_eq!(verify(&p, Some(&key(b"s3creT"))), Verdict::Drop(Drop::Bad));
    // The data is covered.
    let n = p.len();
    p[n - 1] ^= 1;
    assert_eq!(verify(&p, Some(&k)), Verdict::Drop(Drop::Bad));
}

#[test]
fn syn_mss_is_clamped_and_other_options_kept() {
    // MSS 1460, WS 5, SACK-permitted, padded: smoltcp's SYN.
    let opts = [2, 4, 0x05, 0xb4, 3, 3, 5, 4, 2, 0, 0, 0];
    let mut p = segment(0x02, &opts, &[]);
    assert!(sign(&mut p, &key(b"k"), 1440).unwrap());
    let o = check_wire(&p);
    let kinds: Vec<u8> = o.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, vec![19, 2, 3, 4]);
    assert_eq!(o[1].1, vec![2, 4, 0x05, 0xa0]); // 1440
    assert_eq!(o[2].1, vec![3, 3, 5]);
    // A non-SYN's MSS (there is none in practice) is left alone.
    let mut p = segment(0x10, &[2, 4, 0x05, 0xb4], &[]);
    sign(&mut p, &key(b"k"), 1440).unwrap();
    assert_eq!(check_wire(&p)[1].1, vec![2, 4, 0x05, 0xb4]);
}

#[test]
fn options_that_do_not_fit_are_dropped_lowest_priority_first() {
    // Timestamps (10) + SACK with two blocks (18) + 4 NOPs = 32 bytes:
    // with the signature's 20 that is 52 > 40, so the timestamps go.
    let mut opts = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18];
    opts.extend_from_slice(&[0u8; 16]);
    let mut p = segment(0x10, &opts, b"x");
    let k = key(b"k");
    assert!(sign(&mut p, &k, 1400).unwrap());
    let o = check_wire(&p);
    let kinds: Vec<u8> = o.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, vec![19, 5]);
    assert_eq!(usize::from(p[32] >> 4) * 4, 60);
    assert_eq!(verify(&p, Some(&k)), Verdict::Verified);
    // Timestamps alone fit next to the signature and stay.
    let mut p = segment(0x10, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], &[]);
    sign(&mut p, &k, 1400).unwrap();
    let kinds: Vec<u8> = check_wire(&p).iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, vec![19, 8]);
}

#[test]
fn unsigned_missing_and_not_tcp() {
    let k = key(b"k");
    let p = segment(0x02, &[], &[]);
    assert_eq!(verify(&p, Some(&k)), Verdict::Drop(Drop::Missing));
    assert_eq!(verify(&p, None), Verdict::Pass);
    // Not TCP: not signed, passes.
    let mut u = p.clone();
    u[9] = 17;
    Ipv4Packet::new_unchecked(&mut u[..]).fill_checksum();
    assert_eq!(verify(&u, Some(&k)), Verdict::Pass);
    let before = u.clone();
    assert!(!sign(&mut u, &k, 1400).unwrap());
    assert_eq!(u, before);
}

#[test]
fn fragments_and_malformed_segments_from_keyed_peers_are_bad() {
    let k = key(b"k");
    let mut p = segment(0x02, &[], &[]);
    sign(&mut p, &k, 1400).unwrap();
    let mut f = p.clone();
    f[6] = 0x20; // MF
    Ipv4Packet::new_unchecked(&mut f[..]).fill_checksum();
    assert_eq!(verify(&f, Some(&k)), Verdict::Drop(Drop::Bad));
    // An option whose length overruns the header.
    let mut m = segment(0x02, &[2, 40, 0, 0], &[]);
    assert_eq!(verify(&m, Some(&k)), Verdict::Drop(Drop::Bad));
    assert_eq!(sign(&mut m, &k, 1400), Err(SignError::Malformed));
    // A length-1 option.
    let m = segment(0x02, &[8, 1, 0, 0], &[]);
    assert_eq!(verify(&m, Some(&k)), Verdict::Drop(Drop::Bad));
    // An MD5 option of the wrong length.
    let m = segment(0x02, &[19, 4, 0, 0], &[]);
    assert_eq!(verify(&m, Some(&k)), Verdict::Drop(Drop::Bad));
}

#[test]
fn truncated_and_garbled_packets_never_panic() {
    let k = key(KERNEL_KEY);
    let full = hex(KERNEL_SYN);
    for n in 0..=full.len() {
        let mut p = full[..n].to_vec();
        let _ = verify(&p, Some(&k));
        let _ = verify(&p, None);
        let _ = sign(&mut p, &k, 1400);
    }
    for at in 0..full.len() {
        for v in [0u8, 0x0f, 0xf0, 0xff] {
            let mut p = full.clone();
            p[at] = v;
            let _ = verify(&p, Some(&k));
            let _ = sign(&mut p, &k, 1400);
        }
    }
}

#[test]
fn keys_are_never_printed_and_bounded() {
    let k = key(b"hunter2");
    assert_eq!(format!("{k:?}"), "Md5Key(<7 bytes>)");
    assert!(Md5Key::new(b"").is_none());
    assert!(Md5Key::new(&[b'a'; 80]).is_some());
    assert!(Md5Key::new(&[b'a'; 81]).is_none());
}

#[test]
fn key_table_exact_before_longest_range() {
    let mut t = KeyTable::default();
    t.insert_range("10.0.0.0/8".parse().unwrap(), key(b"wide"));
    t.insert_range("10.1.0.0/16".parse().unwrap(), key(b"narrow"));
    t.insert_peer("10.1.2.3".parse().unwrap(), key(b"exact"));
    let l = |a: &str| t.lookup(a.parse().unwrap()).cloned();
    assert_eq!(l("10.1.2.3"), Some(key(b"exact")));
    assert_eq!(l("10.1.2.4"), Some(key(b"narrow")));
    assert_eq!(l("10.2.0.1"), Some(key(b"wide")));
    assert_eq!(l("11.0.0.1"), None);
}

#[test]
fn shim_drops_counts_and_explains() {
    let mut keys = KeyTable::default();
    keys.insert_peer(Ipv4Addr::new(10, 0, 0, 1), key(b"right"));
    let mut shim = Md5Shim::new(keys, 1500);
    assert!(shim.is_active());
    let unsigned = segment(0x02, &[], &[]);
    assert!(!shim.accept(&unsigned));
    let mut wrong = unsigned.clone();
    sign(&mut wrong, &key(b"wrong"), 1400).unwrap();
    for _ in 0..3 {
        assert!(!shim.accept(&wrong));
    }
    let mut right = unsigned.clone();
    sign(&mut right, &key(b"right"), 1400).unwrap();
    assert!(shim.accept(&right));
    assert_eq!(
        (shim.totals.missing, shim.totals.bad, shim.totals.verified),
        (1, 3, 1)
    );
    let v = shim.views();
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].reason().unwrap(),
        "TCP-MD5: 3 segments with a bad signature from 10.0.0.1"
    );
    // Egress to the keyed peer is signed, to others untouched.
    let mut to_peer = segment(0x12, &[], &[]);
    to_peer[16..20].copy_from_slice(&[10, 0, 0, 1]);
    to_peer[12..16].copy_from_slice(&[10, 0, 0, 2]);
    assert!(shim.egress(&mut to_peer));
    assert_eq!(shim.totals.signed, 1);
    let mut other = segment(0x12, &[], &[]);
    let before = other.clone();
    assert!(shim.egress(&mut other));
    assert_eq!(other, before);
    // A signed segment from a peer without a key.
    let mut shim = Md5Shim::new(KeyTable::default(), 1500);
    assert!(!shim.is_active());
    assert!(!shim.accept(&right));
    assert_eq!(shim.totals.unexpected, 1);
    assert!(shim.views()[0]
        .reason()
        .unwrap()
        .contains("no password configured here"));
    // Untracked sources stay bounded.
    for i in 0..(MAX_TRACKED_PEERS as u32 + 10) {
        let mut p = right.clone();
        p[12..16].copy_from_slice(&(0x0b00_0000 + i).to_be_bytes());
        let _ = shim.accept(&p);
    }
    assert!(shim.views().len() <= MAX_TRACKED_PEERS);
}
