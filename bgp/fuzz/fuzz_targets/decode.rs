//! `cargo +nightly fuzz run decode`: the BGP message decoder on arbitrary
//! bytes (as a stream and as single messages, under several session
//! contexts), with an encode/decode round-trip check.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bgp::fuzz::decode_all(data);
});
