//! `cargo +nightly fuzz run forward`: `Forwarder::process` on shaped frames, every emitted frame checked (checksum, TTL one lower, or an ICMP error quoting the original).
//! The body is `router::fuzz::forward`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::forward(data);
});
