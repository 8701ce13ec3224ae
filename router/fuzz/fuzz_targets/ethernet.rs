//! `cargo +nightly fuzz run ethernet`: the Ethernet header view and repr (round trip).
//! The body is `router::fuzz::ethernet`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::ethernet(data);
});
