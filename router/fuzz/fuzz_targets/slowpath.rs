//! `cargo +nightly fuzz run slowpath`: the slow path (ARP, local TCP, neighbour resolution) on a sequence of hand-offs.
//! The body is `router::fuzz::slowpath`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::slowpath(data);
});
