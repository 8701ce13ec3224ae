//! Reading and writing `net.*` sysctls through /proc/sys, in the calling
//! thread's network namespace (the net/ tree is per namespace).
use std::io;
use std::path::PathBuf;

/// A sysctl by its dotted name, e.g. `net.ipv6.conf.eth1.disable_ipv6`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sysctl(pub String);

impl Sysctl {
    /// `net.ipv6.conf.<ifname>.<key>`.
    pub fn ipv6_conf(ifname: &str, key: &str) -> Self {
        Sysctl(format!("net.ipv6.conf.{ifname}.{key}"))
    }

    pub fn ipv4_forwarding() -> Self {
        Sysctl("net.ipv4.ip_forward".into())
    }

    /// The file behind it. Dots separate levels, but an interface name may
    /// hold dots itself (`eth0.100`): in /proc/sys those stay dots, so the
    /// name is mapped level by level only outside the interface part.
    fn path(&self) -> PathBuf {
        let mut p = PathBuf::from("/proc/sys");
        let parts: Vec<&str> = self.0.split('.').collect();
        // net.ipv6.conf.<ifname...>.<key>: everything between the third part
        // and the last is one interface name.
        if parts.len() > 4 && parts[0] == "net" && parts[2] == "conf" {
            p.extend(&parts[..3]);
            p.push(parts[3..parts.len() - 1].join("."));
            p.push(parts[parts.len() - 1]);
        } else {
            p.extend(&parts);
        }
        p
    }

    pub fn read(&self) -> io::Result<String> {
        std::fs::read_to_string(self.path()).map(|s| s.trim().to_string())
    }

    pub fn write(&self, value: &str) -> io::Result<()> {
        std::fs::write(self.path(), value)
    }

    pub fn exists(&self) -> bool {
        self.path().exists()
    }
}

impl std::fmt::Display for Sysctl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_dots_in_interface_names() {
        assert_eq!(
            Sysctl::ipv6_conf("eth0.100", "disable_ipv6").path(),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth0.100/disable_ipv6")
        );
        assert_eq!(
            Sysctl::ipv4_forwarding().path(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
    }

    #[test]
    fn reads_loopback_settings() {
        // Every network namespace has lo and ip_forward.
        assert!(Sysctl::ipv4_forwarding().read().is_ok());
        assert!(
            Sysctl::ipv6_conf("lo", "mtu").exists()
                || !PathBuf::from("/proc/sys/net/ipv6").exists()
        );
    }
}
