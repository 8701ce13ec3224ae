//! `bgp`: a sans-IO BGP-4 speaker. Bytes and time in; bytes, timer requests
//! and route changes out. No sockets, no threads.
#![forbid(unsafe_code)]
