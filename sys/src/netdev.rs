//! Interface queries by name: index, MAC address, MTU, up state.
//!
//! Queries (setters for the host interfaces live in [`crate::tap`]). Every query
//! runs in the calling thread's network namespace.
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Index of interface `name` (if_nametoindex).
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = c_name(name)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("interface {name:?}: {e}")));
    }
    Ok(idx)
}

/// Name of the interface with index `ifindex` (if_indextoname).
pub fn name(ifindex: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "interface name not UTF-8"))
}

/// Ethernet address of interface `name` (SIOCGIFHWADDR); an error if the
/// interface is not Ethernet (ARPHRD_ETHER).
pub fn mac(name: &str) -> io::Result<[u8; 6]> {
    let mut req = ifreq(name)?;
    ioctl(name, libc::SIOCGIFHWADDR, &mut req)?;
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    if sa.sa_family != libc::ARPHRD_ETHER {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "interface {name:?} is not Ethernet (hardware type {})",
                sa.sa_family
            ),
        ));
    }
    let mut mac = [0u8; 6];
    for (m, &b) in mac.iter_mut().zip(&sa.sa_data[..6]) {
        *m = b as u8;
    }
    Ok(mac)
}

/// MTU of interface `name` (SIOCGIFMTU).
pub fn mtu(name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    ioctl(name, libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative MTU"))
}

/// Interface flags of `name` (SIOCGIFFLAGS: IFF_UP, IFF_RUNNING, …).
pub fn flags(name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    ioctl(name, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let f = unsafe { req.ifr_ifru.ifru_flags };
    Ok(u32::from(f as u16))
}

/// Whether interface `name` is administratively up (IFF_UP).
pub fn is_up(name: &str) -> io::Result<bool> {
    Ok(flags(name)? & libc::IFF_UP as u32 != 0)
}

/// Whether interface `name` is up with carrier (IFF_UP and IFF_RUNNING; a
/// veth is RUNNING only when its peer is up too).
pub fn is_running(name: &str) -> io::Result<bool> {
    let f = flags(name)?;
    Ok(f & libc::IFF_UP as u32 != 0 && f & libc::IFF_RUNNING as u32 != 0)
}

fn c_name(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        )
    })
}

/// An ifreq with `name` filled in (for the other modules' SIOC* calls).
pub(crate) fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    ifreq(name)
}

/// Runs interface ioctl `op` on `req` (see [`ifreq_for`]).
pub(crate) fn ifreq_ioctl(name: &str, op: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    ioctl(name, op, req)
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let c = c_name(name)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, &s) in req.ifr_name.iter_mut().zip(c.as_bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

fn ioctl(name: &str, op: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // Any socket works for interface ioctls; a datagram socket needs no
    // privileges.
    // SAFETY: plain syscall, no pointers.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `req` is a valid, live ifreq with a NUL-terminated name and,
    // for the SIOCSIF* requests, the member they read filled in.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), op as _, req as *mut libc::ifreq) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("interface {name:?}: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_queries() {
        // Every network namespace has `lo` with index 1.
        assert_eq!(ifindex("lo").unwrap(), 1);
        assert_eq!(name(1).unwrap(), "lo");
        assert!(mtu("lo").unwrap() >= 1280);
        // Loopback is not Ethernet.
        assert!(mac("lo").is_err());
    }

    #[test]
    fn bad_names() {
        assert!(ifindex("").is_err());
        assert!(ifindex("a-name-that-is-too-long").is_err());
        assert!(ifindex("nul\0").is_err());
        assert_eq!(ifindex("nonexistent0").unwrap_err().raw_os_error(), None); // wrapped with the name
        assert!(ifindex("nonexistent0")
            .unwrap_err()
            .to_string()
            .contains("nonexistent0"));
    }
}
