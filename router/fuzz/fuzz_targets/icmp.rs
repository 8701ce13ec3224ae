//! `cargo +nightly fuzz run icmp`: the ICMP view and repr (parse, emit, parse again).
//! The body is `router::fuzz::icmp`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::icmp(data);
});
