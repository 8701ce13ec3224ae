//! `cargo +nightly fuzz run ipv4`: the IPv4 view with its options: option walk and checks, Record Route recording, TTL decrement, repr.
//! The body is `router::fuzz::ipv4`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::ipv4(data);
});
