//! TAP devices (`/dev/net/tun`, IFF_TAP): the router's host interfaces.
//!
//! A [`Tap`] is an Ethernet interface of the kernel whose "wire" is a file
//! descriptor of ours: what the kernel transmits on it we read, what we
//! write the kernel receives. It is created without IFF_TUN_PERSIST, so the
//! kernel removes the device (with its addresses and routes) when the
//! descriptor closes, i.e. when the `Tap` is dropped or the process dies.
//!
//! Frames carry a `virtio_net_hdr` (IFF_VNET_HDR, [`VNET_HDR_LEN`] bytes,
//! host byte order) in front: writing a GSO super-frame or a frame whose
//! checksum is partial (as a port's RX ring hands them over) passes that
//! on to the kernel intact. No TUNSETOFFLOAD: the kernel sends us only
//! whole, checksummed frames.
//!
//! The interface configuration (MAC, MTU, IPv4 addresses, up) uses the
//! classic SIOCSIF* ioctls: one IPv4 address per label, further addresses
//! as `NAME:N` aliases, which is all a host interface needs.
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::afpacket::VNET_HDR_LEN;

/// `include/uapi/linux/if_tun.h`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETCARRIER: libc::c_ulong = 0x4004_54e2;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;

/// A TAP device, removed by the kernel when this is dropped.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates TAP `name` in the calling thread's network namespace,
    /// non-blocking, with a vnet header on every frame. Fails with EBUSY if
    /// an interface of that name exists.
    pub fn create(name: &str) -> io::Result<Tap> {
        let mut req = ifreq(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        req.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        // SAFETY: `req` is a live ifreq with a NUL-terminated name and the
        // flags set, which is what TUNSETIFF reads (and writes the final
        // name back into).
        let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req as *mut _) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TAP {name:?}: {e}")));
        }
        Ok(Tap {
            file,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads one frame the kernel sent: its vnet header into `vnet`, the
    /// Ethernet frame into `buf`; returns the frame's length.
    /// `WouldBlock` when nothing waits. A frame longer than `buf` is cut
    /// (the kernel discards the rest).
    pub fn recv(&self, vnet: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<usize> {
        let mut iov = [
            libc::iovec {
                iov_base: vnet.as_mut_ptr().cast(),
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
        ];
        // SAFETY: both iovecs point at live, writable buffers of the given
        // lengths that outlive the call; the descriptor is ours.
        let r = unsafe { libc::readv(self.file.as_raw_fd(), iov.as_mut_ptr(), 2) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((r as usize).saturating_sub(VNET_HDR_LEN))
    }

    /// Hands one frame to the kernel as if received on the interface.
    pub fn send(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        let n = (&self.file).write_vectored(&[IoSlice::new(vnet), IoSlice::new(frame)])?;
        if n != VNET_HDR_LEN + frame.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short TAP write"));
        }
        Ok(())
    }

    /// Sets the carrier the kernel sees (TUNSETCARRIER, Linux ≥ 4.19):
    /// operstate follows it (UP / NO-CARRIER).
    pub fn set_carrier(&self, on: bool) -> io::Result<()> {
        let mut v: libc::c_int = on.into();
        // SAFETY: TUNSETCARRIER reads one int through the pointer, which
        // points at `v`, live for the call.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), TUNSETCARRIER as _, &mut v as *mut _) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Sets the Ethernet address of interface `name` (SIOCSIFHWADDR).
pub fn set_mac(name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut req = ifreq(name)?;
    let mut sa: libc::sockaddr = zeroed_sockaddr();
    sa.sa_family = libc::ARPHRD_ETHER;
    for (d, &s) in sa.sa_data.iter_mut().zip(&mac) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_hwaddr = sa;
    ioctl(name, libc::SIOCSIFHWADDR, &mut req)
}

/// Sets the MTU of interface `name` (SIOCSIFMTU).
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU out of range"))?;
    ioctl(name, libc::SIOCSIFMTU, &mut req)
}

/// Sets or clears IFF_UP on interface `name` (SIOCGIFFLAGS/SIOCSIFFLAGS).
pub fn set_up(name: &str, up: bool) -> io::Result<()> {
    let mut req = ifreq(name)?;
    ioctl(name, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let mut f = unsafe { req.ifr_ifru.ifru_flags };
    if up {
        f |= libc::IFF_UP as libc::c_short;
    } else {
        f &= !(libc::IFF_UP as libc::c_short);
    }
    req.ifr_ifru.ifru_flags = f;
    ioctl(name, libc::SIOCSIFFLAGS, &mut req)
}

/// Gives label `label` (an interface name, or `NAME:N` for a further
/// address on NAME) the IPv4 address `addr`/`prefix_len`
/// (SIOCSIFADDR, SIOCSIFNETMASK). The kernel adds the subnet's route once
/// the interface is up.
pub fn add_ipv4(label: &str, addr: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
    if prefix_len > 32 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "prefix length"));
    }
    let mut req = ifreq(label)?;
    req.ifr_ifru.ifru_addr = sockaddr_in(addr);
    ioctl(label, libc::SIOCSIFADDR, &mut req)?;
    let mask = if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    };
    let mut req = ifreq(label)?;
    req.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(mask));
    ioctl(label, libc::SIOCSIFNETMASK, &mut req)
}

fn zeroed_sockaddr() -> libc::sockaddr {
    // SAFETY: sockaddr is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn sockaddr_in(a: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(a).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut sa = zeroed_sockaddr();
    const _: () = assert!(std::mem::size_of::<libc::sockaddr_in>() == 16);
    const _: () = assert!(std::mem::size_of::<libc::sockaddr>() == 16);
    // SAFETY: both types are 16 bytes of plain old data (checked above);
    // sockaddr_in is the AF_INET form of sockaddr, which is how the kernel
    // reads it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&sin as *const libc::sockaddr_in).cast::<u8>(),
            (&mut sa as *mut libc::sockaddr).cast::<u8>(),
            16,
        )
    };
    sa
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    crate::netdev::ifreq_for(name)
}

fn ioctl(name: &str, op: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    crate::netdev::ifreq_ioctl(name, op, req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_in_is_network_order() {
        let sa = sockaddr_in(Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(sa.sa_family, libc::AF_INET as libc::sa_family_t);
        // sa_data: port (2 bytes), then the address.
        let d: Vec<u8> = sa.sa_data[..6].iter().map(|&c| c as u8).collect();
        assert_eq!(d, [0, 0, 10, 0, 2, 15]);
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(Tap::create("").is_err());
        assert!(Tap::create("a-name-that-is-too-long").is_err());
        assert!(add_ipv4("lo", Ipv4Addr::LOCALHOST, 33).is_err());
    }
}
