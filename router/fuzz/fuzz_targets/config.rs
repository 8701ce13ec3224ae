//! `cargo +nightly fuzz run config`: the config parser and checker (`router check`) on arbitrary text.
//! The body is `router::fuzz::config`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    router::fuzz::config(data);
});
