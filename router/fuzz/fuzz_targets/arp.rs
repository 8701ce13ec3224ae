//! `cargo +nightly fuzz run arp`: the ARP view and repr (round trip).
//! The body is `router::fuzz::arp`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::arp(data);
});
