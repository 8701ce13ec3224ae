//! `cargo +nightly fuzz run vnet`: the virtio-net header (round trip).
//! The body is `router::fuzz::vnet`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::vnet(data);
});
