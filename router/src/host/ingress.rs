//! The netdev-ingress drop: one nftables table of family `netdev` with an
//! ingress chain per port whose policy is `drop`.
//!
//! Why: every frame AF_PACKET hands to the router would otherwise also climb
//! the kernel's own input path (an IPv4 route lookup, then a drop, since the
//! port has no address), which cost about a third of the router's CPU per
//! packet. The netdev ingress hook runs after the packet taps (our ETH_P_ALL
//! sockets have their copy by then) and before the protocol handlers, so the
//! kernel stops there. Frames the router sends are egress and unaffected.
//!
//! The table is created in one netlink transaction that first removes a
//! leftover of the same name (a router killed with SIGKILL leaves its table
//! behind; the next start replaces it), and deleted at stop.
use std::ffi::{CStr, CString};
use std::io;

use nftnl::{Batch, Chain, ChainType, FinalizedBatch, Hook, MsgType, Policy, ProtoFamily, Table};

/// The table's name; one router per network namespace owns it.
pub const TABLE_NAME: &CStr = c"router";
/// Before every other netdev ingress chain (nft's documented range starts
/// at -500 for early filtering).
const PRIORITY: i32 = -500;
/// NF_NETDEV_INGRESS (see `install`).
const NETDEV_INGRESS: Hook = Hook::PreRouting;

/// Installs the drop chains for `ifnames`, replacing a leftover table.
pub fn install(ifnames: &[String]) -> io::Result<()> {
    let table = Table::new(TABLE_NAME, ProtoFamily::NetDev);
    let mut batch = Batch::new();
    // "add table" is idempotent; deleting it then removes any leftover with
    // its chains, so the final "add" starts from nothing — all in one
    // transaction, so no frame sees a half-made table.
    batch.add(&table, MsgType::Add);
    batch.add(&table, MsgType::Del);
    batch.add(&table, MsgType::Add);
    let names: Vec<(CString, CString)> = ifnames
        .iter()
        .map(|ifname| {
            let dev = CString::new(ifname.as_str()).map_err(|_| invalid(ifname))?;
            let chain = CString::new(format!("ingress_{ifname}")).map_err(|_| invalid(ifname))?;
            Ok((chain, dev))
        })
        .collect::<io::Result<_>>()?;
    for (chain_name, dev) in &names {
        let mut chain = Chain::new(chain_name, &table);
        // The netdev family numbers its hooks on its own: NF_NETDEV_INGRESS
        // is 0, which nftnl's (inet-numbered) `Hook` enum spells PreRouting;
        // its `Hook::Ingress` is NF_INET_INGRESS (5), which the kernel
        // rejects for netdev with EOPNOTSUPP.
        chain.set_hook(NETDEV_INGRESS, PRIORITY);
        chain.set_type(ChainType::Filter);
        chain.set_device(dev);
        chain.set_policy(Policy::Drop);
        batch.add(&chain, MsgType::Add);
    }
    send(&batch.finalize())
}

/// Deletes the table; a table that is already gone is not an error.
pub fn remove() -> io::Result<()> {
    let table = Table::new(TABLE_NAME, ProtoFamily::NetDev);
    let mut batch = Batch::new();
    batch.add(&table, MsgType::Del);
    match send(&batch.finalize()) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

fn invalid(ifname: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("interface name {ifname:?} contains NUL"),
    )
}

/// Sends a batch and checks every acknowledgement (the first error aborts
/// the whole transaction in the kernel, and is returned).
fn send(batch: &FinalizedBatch) -> io::Result<()> {
    let socket = mnl::Socket::new(mnl::Bus::Netfilter)?;
    let portid = socket.portid();
    socket.send_all(batch)?;
    let mut buffer = vec![0u8; nftnl::nft_nlmsg_maxsize() as usize];
    let mut expected = batch.sequence_numbers();
    // Bounded by the batch: one acknowledgement per message at most.
    let mut rounds = 0usize;
    while !expected.is_empty() {
        rounds += 1;
        if rounds > 1024 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "nftables: acknowledgements never completed",
            ));
        }
        for message in socket.recv(&mut buffer[..])? {
            let message = message?;
            let Some(seq) = expected.next() else { break };
            mnl::cb_run(message, seq, portid)?;
        }
    }
    Ok(())
}
