//! A plain DIR-24-8 (Gupta, Lin, McKeown 1998) for IPv4: the speed
//! reference. `tbl24` has one 16-bit entry per /24 (32 MiB); an entry with
//! the top bit set points to a 256-entry block for the last octet.
//! Static: built once from sorted routes (no update support needed for a
//! lookup-speed reference).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

const LONG: u16 = 0x8000;

pub struct Dir24 {
    tbl24: Vec<u16>,
    long: Vec<u16>,
}

impl Dir24 {
    /// Next hops must be < 0x7fff.
    pub fn build(routes: &[(Ipv4Net, u32)]) -> Dir24 {
        let mut sorted: Vec<_> = routes.to_vec();
        sorted.sort_by_key(|r| r.0.prefix_len());
        let mut t = Dir24 {
            tbl24: vec![0; 1 << 24],
            long: Vec::new(),
        };
        for (net, hop) in sorted {
            let v = (hop + 1) as u16;
            let start = u32::from(net.network());
            let len = net.prefix_len();
            if len <= 24 {
                let first = (start >> 8) as usize;
                let n = 1usize << (24 - len);
                t.tbl24[first..first + n].fill(v);
            } else {
                let i = (start >> 8) as usize;
                if t.tbl24[i] & LONG == 0 {
                    let block = t.long.len() / 256;
                    let fill = t.tbl24[i];
                    t.long.extend(std::iter::repeat_n(fill, 256));
                    t.tbl24[i] = LONG | block as u16;
                }
                let base = ((t.tbl24[i] & !LONG) as usize) << 8;
                let lo = (start & 0xff) as usize;
                let n = 1usize << (32 - len);
                t.long[base + lo..base + lo + n].fill(v);
            }
        }
        t
    }

    #[inline]
    pub fn lookup(&self, a: Ipv4Addr) -> Option<u32> {
        let a = u32::from(a);
        let mut e = self.tbl24[(a >> 8) as usize];
        if e & LONG != 0 {
            e = self.long[(((e & !LONG) as usize) << 8) | (a & 0xff) as usize];
        }
        (e as u32).checked_sub(1)
    }

    pub fn bytes(&self) -> usize {
        (self.tbl24.len() + self.long.len()) * 2
    }
}
