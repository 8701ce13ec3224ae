//! `struct virtio_net_hdr` (10 bytes, host byte order) as exchanged with the
//! kernel on AF_PACKET sockets with PACKET_VNET_HDR: it carries checksum
//! offload (CHECKSUM_PARTIAL) and GSO metadata alongside a frame.

pub const VNET_HDR_LEN: usize = 10;

pub const VNET_F_NEEDS_CSUM: u8 = 1;
pub const VNET_F_DATA_VALID: u8 = 2;

pub const VNET_GSO_NONE: u8 = 0;
pub const VNET_GSO_TCPV4: u8 = 1;
pub const VNET_GSO_UDP: u8 = 3;
pub const VNET_GSO_TCPV6: u8 = 4;
pub const VNET_GSO_UDP_L4: u8 = 5;
pub const VNET_GSO_ECN: u8 = 0x80;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16::from_ne_bytes([b[2], b[3]]),
            gso_size: u16::from_ne_bytes([b[4], b[5]]),
            csum_start: u16::from_ne_bytes([b[6], b[7]]),
            csum_offset: u16::from_ne_bytes([b[8], b[9]]),
        })
    }
    /// Writes the header into `b[..10]`; returns false if `b` is too short.
    pub fn emit(&self, b: &mut [u8]) -> bool {
        let Some(b) = b.get_mut(..VNET_HDR_LEN) else {
            return false;
        };
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        true
    }
    /// The header as the kernel reads it.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0; VNET_HDR_LEN];
        self.emit(&mut b);
        b
    }
    pub fn is_gso(&self) -> bool {
        self.gso_type & !VNET_GSO_ECN != VNET_GSO_NONE
    }
    pub fn needs_csum(&self) -> bool {
        self.flags & VNET_F_NEEDS_CSUM != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trip() {
        let h = VnetHdr {
            flags: 1,
            gso_type: VNET_GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut b = [0u8; 10];
        assert!(h.emit(&mut b));
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert!(VnetHdr::parse(&b[..9]).is_none());
        assert_eq!(h.to_bytes(), b);
    }
}
