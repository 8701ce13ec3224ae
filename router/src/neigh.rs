//! Neighbour (ARP) table. STUB: filled in by the forwarding-path work.
pub struct NeighTable {}

impl NeighTable {
    pub fn new(_capacity: usize) -> Self {
        NeighTable {}
    }
}
