//! `cargo +nightly fuzz run speaker`: arbitrary bytes from an Established
//! peer into a whole speaker (FSM, RFC 7606 handling, RIB, views).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bgp::fuzz::speaker_receive(data);
});
