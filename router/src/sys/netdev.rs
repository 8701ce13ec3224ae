//! Interface queries by name: index, MAC address, MTU, up state.
use std::io;

pub fn ifindex(_name: &str) -> io::Result<u32> {
    todo!()
}
pub fn mac(_name: &str) -> io::Result<[u8; 6]> {
    todo!()
}
pub fn mtu(_name: &str) -> io::Result<u32> {
    todo!()
}
