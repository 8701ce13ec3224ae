//! `route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N]
//! [dport N] [ttl N] [len N] [df]`, for IPv4 and IPv6: what the router does
//! with such a packet and why. The verdict, next hop, ECMP member and
//! neighbour come from running the packet through the forwarding code
//! ([`crate::dataplane::explain`]); the route's provenance (connected,
//! static with its config line, BGP with peer and AS path) from the route
//! manager and the BGP speaker.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::protocol::{CommandResult, Registry, Reply, Request};
use crate::bgp_io::commands::up_down;
use crate::bgp_io::{BgpClient, Query, Reply as BgpReply};
use crate::config::running::RunningConfig;
use crate::config::Config;
use crate::dataplane::explain::{explain, Probe, ProbeEgress, ProbeProto, Trace, Verdict};
use crate::dataplane::forward::FwdOptions;
use crate::ports::{PortId, PortInfo};
use crate::rib::{RouteEntry, RouteHandle, RouteSource};
use crate::shared::Shared;
use crate::wire::ethernet::mac_to_string;
use crate::wire::ipv6::class;

/// A route of either family, as `route get` reads it.
type Entry = RouteEntry<IpNet, IpAddr>;

const BGP_TIMEOUT: Duration = Duration::from_secs(2);
/// Most neighbouring routes named in "considered".
const MAX_NEAREST: usize = 4;

/// Where the static route for `prefix` was configured ("FILE:LINE"), in
/// the config as last loaded (so a reload moves it).
fn static_origin(cfg: &Config, prefix: IpNet) -> Option<String> {
    let line = match prefix {
        IpNet::V4(p) => cfg
            .routes
            .iter()
            .zip(&cfg.route_lines)
            .find(|(r, _)| r.prefix == p)
            .map(|(_, l)| *l),
        IpNet::V6(p) => cfg
            .routes6
            .iter()
            .zip(&cfg.route_lines6)
            .find(|(r, _)| r.prefix == p)
            .map(|(_, l)| *l),
    }?;
    Some(format!("{}:{line}", cfg.file))
}

/// What `route get` reads.
pub struct RouteGetContext {
    pub shared: Arc<Shared>,
    pub routes: RouteHandle,
    pub fwd: FwdOptions,
    /// The running config, for the static routes' config lines.
    pub running: RunningConfig,
    pub bgp: Option<BgpClient>,
}

pub fn register(reg: &Registry, ctx: RouteGetContext) {
    let ctx = Arc::new(ctx);
    reg.register(
        "route get",
        "what the router does with a packet to ADDR (IPv4 or IPv6), and why: `route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N] [dport N] [ttl N] [len N] [df]`",
        move |req| route_get(&ctx, req),
    );
}

fn port_id(shared: &Shared, name: &str) -> Result<PortId, String> {
    shared
        .ports
        .iter()
        .find(|p| p.name == name || p.ifname == name)
        .map(|p| p.id)
        .ok_or_else(|| format!("no port {name:?}"))
}

fn family(a: IpAddr) -> &'static str {
    if a.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Parses the words after `route get`.
pub fn parse_probe(shared: &Shared, words: &[String]) -> Result<Probe, String> {
    const USAGE: &str = "usage: route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N] [dport N] [ttl N] [len N] [df]";
    let mut it = words.iter().map(String::as_str);
    let dst: IpAddr = it
        .next()
        .ok_or(USAGE)?
        .parse()
        .map_err(|e| format!("not an IPv4 or IPv6 address: {e}; {USAGE}"))?;
    let mut p = Probe::to(dst);
    let mut proto_given = false;
    while let Some(k) = it.next() {
        if k == "df" {
            if dst.is_ipv6() {
                return Err("`df`: IPv6 has no DF bit; routers never fragment IPv6 (RFC 8200 §5), so any packet larger than the egress MTU gets Packet Too Big".into());
            }
            p.dont_frag = true;
            continue;
        }
        let v = it
            .next()
            .ok_or_else(|| format!("`{k}` needs a value; {USAGE}"))?;
        let num = |max: u64| -> Result<u64, String> {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("`{k} {v}`: a number up to {max}"))
        };
        match k {
            "from" => {
                let src: IpAddr = v
                    .parse()
                    .map_err(|e| format!("`from {v}`: not an IP address: {e}"))?;
                if src.is_ipv4() != dst.is_ipv4() {
                    return Err(format!(
                        "`from {v}`: an {} source for an {} destination",
                        family(src),
                        family(dst)
                    ));
                }
                p.src = Some(src);
            }
            "iif" => p.iif = Some(port_id(shared, v)?),
            "proto" => {
                proto_given = true;
                p.proto = match v {
                    "tcp" => ProbeProto::Tcp,
                    "udp" => ProbeProto::Udp,
                    "icmp" | "icmpv6" => ProbeProto::Echo,
                    _ => return Err(format!("`proto {v}`: tcp, udp or icmp")),
                }
            }
            "sport" => p.sport = num(65535)? as u16,
            "dport" => p.dport = num(65535)? as u16,
            "ttl" | "hoplimit" => p.ttl = num(255)? as u8,
            "len" => p.len = num(65535)? as usize,
            _ => return Err(format!("unknown word `{k}`; {USAGE}")),
        }
    }
    if !proto_given && (p.sport != 0 || p.dport != 0) {
        // Ports without a protocol: a UDP flow (what ECMP hashes on).
        p.proto = ProbeProto::Udp;
    }
    Ok(p)
}

fn port_name(shared: &Shared, p: PortId) -> String {
    shared
        .port_name(p)
        .map_or_else(|| p.to_string(), str::to_string)
}

fn hop_text(e: &Entry) -> String {
    let hops: Vec<String> = e
        .next_hops
        .iter()
        .map(|h| match (h.via, &h.port) {
            (Some(v), Some(p)) => format!("via {v} dev {p}"),
            (None, Some(p)) => format!("dev {p}"),
            _ => e.kind.to_string(),
        })
        .collect();
    if hops.is_empty() {
        e.kind.to_string()
    } else {
        hops.join(", ")
    }
}

/// Where the matching route came from, in words and JSON.
fn provenance(ctx: &RouteGetContext, e: &Entry) -> (String, Value) {
    match e.source {
        RouteSource::Connected => (
            format!("connected on {}", e.interface.as_deref().unwrap_or("?")),
            json!({"source": "connected", "interface": e.interface}),
        ),
        RouteSource::Local => (
            format!(
                "local: an address of {}",
                e.interface.as_deref().unwrap_or("the router")
            ),
            json!({"source": "local", "interface": e.interface}),
        ),
        RouteSource::Static => {
            let at = static_origin(&ctx.running.load().config, e.prefix);
            (
                format!(
                    "static, {}",
                    at.as_deref()
                        .map_or("from the config".to_string(), |a| format!(
                            "configured at {a}"
                        ))
                ),
                json!({"source": "static", "config": at}),
            )
        }
        RouteSource::Bgp => {
            let (text, paths) = bgp_paths(ctx, e.prefix);
            (
                format!("BGP, {text}"),
                json!({"source": "bgp", "paths": paths}),
            )
        }
    }
}

/// The BGP paths in use for `prefix`: peer, AS path, the path's age and
/// its session's.
fn bgp_paths(ctx: &RouteGetContext, prefix: IpNet) -> (String, Value) {
    let Some(c) = &ctx.bgp else {
        return ("no BGP speaker to ask".into(), Value::Null);
    };
    let routes = match c.query(Query::Routes(Some(prefix)), BGP_TIMEOUT) {
        Ok(BgpReply::Routes(r)) => r,
        Ok(_) => return ("unexpected answer from the BGP thread".into(), Value::Null),
        Err(e) => return (format!("BGP thread: {e}"), Value::Null),
    };
    let peers = match c.query(Query::Summary, BGP_TIMEOUT) {
        Ok(BgpReply::Summary(s, _)) => s.peers,
        _ => Vec::new(),
    };
    let mut texts = Vec::new();
    let mut data = Vec::new();
    for r in &routes {
        for p in r
            .paths
            .iter()
            .filter(|p| (p.best || p.multipath) && !p.filtered)
        {
            let peer = peers.iter().find(|s| Some(s.address) == p.peer);
            let up = peer.and_then(|s| s.up_down_secs);
            let asn = peer.and_then(|s| s.remote_as);
            let peer_text = match (p.peer, asn) {
                (Some(a), Some(n)) => format!("peer {a} (AS {n})"),
                (Some(a), None) => format!("peer {a}"),
                (None, _) => "our own network".into(),
            };
            let path = if p.as_path.is_empty() {
                "empty".to_string()
            } else {
                p.as_path.clone()
            };
            let mut t = format!("from {peer_text}, AS path {path}, next hop {}", p.next_hop);
            if let Some(a) = p.age_secs {
                t.push_str(&format!(", received {} ago", up_down(Some(a))));
            }
            if let Some(u) = up {
                t.push_str(&format!(", on a session up {}", up_down(Some(u))));
            }
            texts.push(t);
            data.push(json!({
                "peer": p.peer, "peer_as": asn, "as_path": p.as_path, "next_hop": p.next_hop,
                "best": p.best, "multipath": p.multipath, "session_up_secs": up,
                "age_secs": p.age_secs,
                "origin": p.origin, "local_pref": p.local_pref, "med": p.med,
            }));
        }
    }
    if texts.is_empty() {
        texts.push("no best path in the speaker's Loc-RIB".into());
    }
    (texts.join("; "), Value::Array(data))
}

/// An address as 128 bits, IPv4 in the top 32 (so prefix arithmetic is the
/// same for both families), and the family's width.
fn bits(a: IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// Leading bits `a` and `b` share, at most the family's width.
fn common_len(a: IpAddr, b: IpAddr) -> u8 {
    let ((x, w), (y, _)) = (bits(a), bits(b));
    ((x ^ y).leading_zeros() as u8).min(w)
}

/// What else was considered: the less specific routes that also cover the
/// address, and the gap the address falls into — the largest block around
/// it that no more specific route touches (shown at the granularity of a
/// subnet at least: /24 for IPv4, the size of the lab's PodCIDRs and of
/// most LAN subnets; /64 for IPv6, RFC 4291's subnet size and Cilium's
/// IPv6 PodCIDR), with the nearest routes beside it.
fn considered(routes: &[Entry], matched: Option<&Entry>, dst: IpAddr) -> (String, Value) {
    let (width, subnet, near_min) = match dst {
        IpAddr::V4(_) => (32u8, 24u8, 8u8),
        // Near in IPv6 means in the same site: its /48 (RFC 4193 §3.1 for
        // ULAs; sites get /48s of global space too). Any two ULAs share
        // fd00::/8, which says nothing.
        IpAddr::V6(_) => (128, 64, 48),
    };
    let mlen = matched.map_or(0, |m| m.prefix.prefix_len());
    let covering: Vec<&Entry> = routes
        .iter()
        .filter(|e| e.prefix.contains(&dst) && e.prefix.prefix_len() < mlen)
        .collect();
    // Routes more specific than the match (none of them holds `dst`).
    let finer: Vec<(&Entry, u8)> = routes
        .iter()
        .filter(|e| e.prefix.prefix_len() > mlen)
        .map(|e| (e, common_len(e.prefix.network(), dst)))
        .collect();
    // dst/L overlaps such a route r iff r is longer than L and agrees with
    // dst on L bits: the smallest empty L is one past the largest
    // min(common, len - 1).
    let gap_len = finer
        .iter()
        .map(|(e, c)| (*c).min(e.prefix.prefix_len() - 1) + 1)
        .max()
        .unwrap_or(mlen + 1)
        .max(mlen + 1)
        .min(width);
    let block = |len: u8| IpNet::new(dst, len).map(|n| n.trunc()).ok();
    let gap = block(gap_len);
    let shown = if gap_len < subnet { block(subnet) } else { gap };
    let best = finer
        .iter()
        .map(|(_, c)| *c)
        .max()
        .filter(|c| *c >= near_min);
    let mut nearest: Vec<&Entry> = finer
        .iter()
        .filter(|(_, c)| Some(*c) == best)
        .map(|(e, _)| *e)
        .collect();
    nearest.sort_by_key(|e| (bits(e.prefix.network()).0, e.prefix.prefix_len()));
    nearest.truncate(MAX_NEAREST);
    let mut parts = Vec::new();
    match matched {
        Some(m) => parts.push(format!("no route more specific than {}", m.prefix)),
        None => parts.push("no route at all, not even a default".into()),
    }
    if let (Some(shown), Some(gap)) = (shown, gap) {
        // Worth saying when a coarse route (a default) caught the packet,
        // or when finer routes sit right beside it.
        if mlen < subnet || !nearest.is_empty() {
            let mut t = format!("no route covers {shown}");
            if gap != shown {
                t.push_str(&format!(" (none anywhere in {gap})"));
            }
            if !nearest.is_empty() {
                let names: Vec<String> = nearest
                    .iter()
                    .map(|e| format!("{} {}", e.prefix, hop_text(e)))
                    .collect();
                t.push_str(&format!("; nearest: {}", names.join(", ")));
            }
            parts.push(t);
        }
    }
    if !covering.is_empty() {
        let names: Vec<String> = covering.iter().map(|e| e.prefix.to_string()).collect();
        parts.push(format!("also covered by {}", names.join(", ")));
    }
    let data = json!({
        "more_specific_than": matched.map(|m| m.prefix),
        "uncovered": shown,
        "empty_block": gap,
        "nearest": nearest.iter().map(|e| e.prefix).collect::<Vec<_>>(),
        "less_specific": covering.iter().map(|e| e.prefix).collect::<Vec<_>>(),
    });
    (parts.join("; "), data)
}

fn route_get(ctx: &RouteGetContext, req: &Request) -> CommandResult {
    let probe = parse_probe(&ctx.shared, &req.words)?;
    let (matched, all): (Option<Entry>, Vec<Entry>) = {
        let rm = ctx.routes.lock().unwrap_or_else(|e| e.into_inner());
        match probe.dst {
            IpAddr::V4(d) => (
                rm.v4.lookup(d).map(RouteEntry::into_ip),
                rm.v4
                    .routes()
                    .into_iter()
                    .map(RouteEntry::into_ip)
                    .collect(),
            ),
            IpAddr::V6(d) => (
                rm.v6.lookup(d).map(RouteEntry::into_ip),
                rm.v6
                    .routes()
                    .into_iter()
                    .map(RouteEntry::into_ip)
                    .collect(),
            ),
        }
    };
    let trace = explain(&ctx.shared, ctx.fwd, &probe).map_err(|e| e.to_string())?;
    let (prov_text, prov) = matched
        .as_ref()
        .map_or(("-".into(), Value::Null), |m| provenance(ctx, m));
    let (cons_text, cons) = considered(&all, matched.as_ref(), probe.dst);
    Ok(render(
        ctx,
        &probe,
        &trace,
        matched.as_ref(),
        prov_text,
        prov,
        cons_text,
        cons,
    ))
}

/// How a next hop's MAC is found: ARP for IPv4 and IPv4-mapped IPv6 next
/// hops (BGP over IPv4 sessions), Neighbor Solicitation for IPv6.
fn resolution(next_hop: IpAddr) -> &'static str {
    match next_hop {
        IpAddr::V6(a) if class::to_ipv4_mapped(&a).is_none() => "Neighbor Solicitation",
        _ => "ARP",
    }
}

fn verdict_text(ctx: &RouteGetContext, t: &Trace, src: IpAddr) -> (String, Value) {
    let s = &ctx.shared;
    let icmp = if src.is_ipv4() { "ICMP" } else { "ICMPv6" };
    match &t.verdict {
        Verdict::Forwarded {
            port,
            dst_mac,
            frames,
        } => (
            format!(
                "forwarded out of {} to {}{}",
                port_name(s, *port),
                mac_to_string(dst_mac),
                if *frames > 1 {
                    format!(" in {frames} fragments")
                } else {
                    String::new()
                }
            ),
            json!({"verdict": "forwarded", "port": port_name(s, *port), "dst_mac": mac_to_string(dst_mac), "frames": frames}),
        ),
        Verdict::AwaitingNeighbour { port, next_hop } => (
            format!(
                "forwarded once {next_hop} answers {} on {} (not resolved yet; it is held meanwhile, and dropped with {icmp} {} if resolution fails)",
                resolution(*next_hop),
                port_name(s, *port),
                if src.is_ipv4() { "host-unreachable" } else { "address-unreachable" },
            ),
            json!({"verdict": "awaiting_neighbour", "port": port_name(s, *port), "next_hop": next_hop}),
        ),
        Verdict::LocalAnswered { port } => (
            format!("local delivery: answered (echo reply out of {})", port_name(s, *port)),
            json!({"verdict": "local", "answer": "echo_reply"}),
        ),
        Verdict::LocalTcp => (
            "local delivery: to the router's TCP stack".into(),
            json!({"verdict": "local", "answer": "tcp_stack"}),
        ),
        Verdict::ToHost { port } => {
            let tap = s.host(*port).map_or("?", |h| h.name.as_str());
            (
                format!(
                    "local delivery: up the host interface {tap} of {} to the kernel",
                    port_name(s, *port)
                ),
                json!({"verdict": "local", "answer": "host_interface", "host_interface": tap}),
            )
        }
        Verdict::Dropped { port, reason, icmp: sent } => {
            let icmp_text = match sent {
                Some(i) => format!(", {icmp} {} sent to {src}", i.name()),
                None => format!(", no {icmp} error"),
            };
            (
                format!(
                    "dropped ({}, counted on {}){icmp_text}",
                    reason.name(),
                    port_name(s, *port)
                ),
                json!({"verdict": "dropped", "reason": reason.name(), "port": port_name(s, *port),
                       "icmp_sent": sent.map(|i| json!({"type": i.msg_type, "code": i.code, "name": i.name()}))}),
            )
        }
        Verdict::Nothing => (
            "no effect (nothing sent, nothing dropped)".into(),
            json!({"verdict": "none"}),
        ),
    }
}

/// The source address the router would give its own packets to
/// `next_hop` out of `port` (the `src` of `ip route get`): the port's
/// address on the next hop's subnet, else its first (for IPv6, its first
/// global one: a link-local source never leaves the link).
fn source_on(p: &PortInfo, next_hop: IpAddr) -> Option<IpAddr> {
    match next_hop {
        IpAddr::V4(nh) => p
            .addrs
            .iter()
            .find(|n| n.contains(&nh))
            .or(p.addrs.first())
            .map(|n| n.addr().into()),
        IpAddr::V6(nh) => {
            let global = || p.addrs6.iter().find(|n| !n.addr().is_unicast_link_local());
            // An IPv4-mapped next hop sits on the port's IPv4 subnet.
            p.addrs6
                .iter()
                .find(|n| n.contains(&nh) && !n.addr().is_unicast_link_local())
                .or_else(global)
                .map(|n| n.addr().into())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    ctx: &RouteGetContext,
    probe: &Probe,
    t: &Trace,
    matched: Option<&Entry>,
    prov_text: String,
    prov: Value,
    cons_text: String,
    cons: Value,
) -> Reply {
    let s = &ctx.shared;
    let (vtext, vdata) = verdict_text(ctx, t, t.src);
    let from = probe.src.map_or(String::new(), |a| format!(" from {a}"));
    // The one line, like `ip route get`, then why.
    let head = match t.egress {
        ProbeEgress::Out { port, next_hop } => {
            let via = if next_hop == probe.dst {
                String::new()
            } else {
                format!(" via {next_hop}")
            };
            let src = s
                .ports
                .get(port as usize)
                // Of the packet's family: an IPv4 route via an IPv6 next
                // hop (RFC 8950) leaves with an IPv4 source, if the port
                // has one.
                .and_then(|p| {
                    let toward = if next_hop.is_ipv4() == probe.dst.is_ipv4() {
                        next_hop
                    } else {
                        probe.dst
                    };
                    source_on(p, toward)
                })
                .map_or(String::new(), |a| format!(" src {a}"));
            format!("{}{from}{via} dev {}{src}", probe.dst, port_name(s, port))
        }
        ProbeEgress::Local => format!("local {}{from}", probe.dst),
        ProbeEgress::Blackhole => format!("blackhole {}{from}", probe.dst),
        ProbeEgress::Unreachable(_) => format!("unreachable {}{from}", probe.dst),
    };
    let why = match (matched, &t.verdict) {
        (Some(m), Verdict::Forwarded { .. } | Verdict::AwaitingNeighbour { .. })
            if m.prefix.prefix_len() == 0 =>
        {
            format!(
                "forwarded by the default route (no route more specific than {})",
                m.prefix
            )
        }
        (Some(m), Verdict::Forwarded { .. } | Verdict::AwaitingNeighbour { .. }) => {
            format!("forwarded by {} ({})", m.prefix, m.source.name())
        }
        _ => vtext.clone(),
    };
    // Addresses with ports in the usual notation ([v6]:port).
    let sock = |a: IpAddr, port: u16| std::net::SocketAddr::new(a, port).to_string();
    let proto = match probe.proto {
        ProbeProto::Tcp => format!(
            "tcp {} > {}",
            sock(t.src, probe.sport),
            sock(probe.dst, probe.dport)
        ),
        ProbeProto::Udp => format!(
            "udp {} > {}",
            sock(t.src, probe.sport),
            sock(probe.dst, probe.dport)
        ),
        ProbeProto::Echo if probe.dst.is_ipv6() => format!("icmpv6 echo {} > {}", t.src, probe.dst),
        ProbeProto::Echo => format!("icmp echo {} > {}", t.src, probe.dst),
    };
    let mut lines = vec![format!("{head}: {why}")];
    lines.push(format!(
        "  packet      {proto}, {} {}, {} bytes{}, in on {}{}",
        if probe.dst.is_ipv4() {
            "ttl"
        } else {
            "hop limit"
        },
        probe.ttl,
        probe.len,
        if probe.dont_frag { ", DF" } else { "" },
        port_name(s, t.in_port),
        if probe.src.is_none() || probe.iif.is_none() {
            " (synthetic; `from`/`iif` choose)"
        } else {
            ""
        }
    ));
    match matched {
        Some(m) => lines.push(format!(
            "  route       {} {}, {prov_text}, distance {}",
            m.prefix,
            hop_text(m),
            m.distance
        )),
        None => lines.push("  route       none".into()),
    }
    lines.push(format!("  considered  {cons_text}"));
    let mut nh_data = Value::Null;
    if let ProbeEgress::Out { port, next_hop } = t.egress {
        let ecmp = t.ecmp.map_or(String::new(), |(i, n)| {
            format!(
                ", ECMP member {} of {n} for this flow (hash {:08x})",
                i + 1,
                t.hash
            )
        });
        lines.push(format!(
            "  next hop    {next_hop} dev {}{ecmp}",
            port_name(s, port)
        ));
        let neigh = match t.neighbour {
            Some(n) => format!(
                "{next_hop} at {} {}, {}",
                mac_to_string(&n.mac),
                n.state.name(),
                t.confirmed_ago.map_or(
                    format!(
                        "never confirmed by {}",
                        match resolution(next_hop) {
                            "ARP" => "an ARP reply",
                            _ => "a solicited Neighbor Advertisement",
                        }
                    ),
                    |d| format!("last confirmed {:.1} s ago", d.as_secs_f64())
                )
            ),
            None => format!(
                "{next_hop}: no entry ({} not done yet)",
                resolution(next_hop)
            ),
        };
        lines.push(format!("  neighbour   {neigh}"));
        nh_data = json!({
            "address": next_hop, "port": port_name(s, port),
            "ecmp": t.ecmp.map(|(i, n)| json!({"member": i, "members": n, "hash": t.hash})),
            "neighbour": t.neighbour.map(|n| json!({
                "mac": mac_to_string(&n.mac),
                "state": n.state.name(),
                "confirmed_ms_ago": t.confirmed_ago.map(|d| d.as_millis() as u64),
            })),
        });
    }
    lines.push(format!("  verdict     {vtext}"));
    let data = json!({
        "summary": lines[0],
        "destination": probe.dst,
        "packet": {
            "src": t.src, "in_port": port_name(s, t.in_port),
            "protocol": crate::control::drops::protocol_name(probe.proto.number(probe.dst)),
            "sport": probe.sport, "dport": probe.dport, "ttl": probe.ttl, "len": probe.len, "df": probe.dont_frag,
        },
        "route": matched.map(|m| json!({
            "prefix": m.prefix, "source": m.source, "distance": m.distance, "kind": m.kind,
            "next_hops": m.next_hops, "provenance": prov,
        })),
        "considered": cons,
        "next_hop": nh_data,
        "verdict": vdata,
    });
    Reply::data(data).with_text(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::forward::tests::shared_with;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn probe_words_parse() {
        let sh = shared_with(1500);
        let p = parse_probe(&sh, &words("10.96.0.10 from 172.20.0.95 iif eth1 proto tcp sport 40000 dport 80 ttl 1 len 1400 df")).unwrap();
        assert_eq!(p.src, Some("172.20.0.95".parse().unwrap()));
        assert_eq!(
            (p.iif, p.proto, p.sport, p.dport, p.ttl, p.len, p.dont_frag),
            (Some(0), ProbeProto::Tcp, 40000, 80, 1, 1400, true)
        );
        assert_eq!(
            parse_probe(&sh, &words("1.2.3.4 dport 53")).unwrap().proto,
            ProbeProto::Udp
        );
        // IPv6: the same words; hop limit; no DF; one family per probe.
        let p = parse_probe(
            &sh,
            &words("fd00:172:20:2::249 from fd00:10::100 proto tcp dport 80 hoplimit 2"),
        )
        .unwrap();
        assert_eq!(p.dst, "fd00:172:20:2::249".parse::<IpAddr>().unwrap());
        assert_eq!(
            (p.proto, p.dport, p.ttl, p.len),
            (ProbeProto::Tcp, 80, 2, 104)
        );
        for bad in [
            "fd00::1 df",
            "fd00::1 from 10.0.0.1",
            "10.0.0.1 from fd00::1",
        ] {
            let e = parse_probe(&sh, &words(bad)).unwrap_err();
            assert!(e.contains("IPv6") || e.contains("IPv4"), "{bad}: {e}");
        }
        for bad in [
            "",
            "nope",
            "1.2.3.4 iif eth9",
            "1.2.3.4 sport",
            "1.2.3.4 ttl 300",
            "1.2.3.4 proto gre",
            "1.2.3.4 bogus 1",
        ] {
            assert!(parse_probe(&sh, &words(bad)).is_err(), "{bad}");
        }
    }

    fn entry(p: &str, via: &str) -> Entry {
        Entry {
            prefix: p.parse().unwrap(),
            source: RouteSource::Static,
            distance: 1,
            kind: "gateway",
            next_hops: vec![crate::rib::RouteHop {
                port: Some("eth1".into()),
                via: Some(via.parse().unwrap()),
            }],
            interface: None,
            nexthop_id: 0,
        }
    }

    #[test]
    fn considered_names_the_gap_and_its_neighbours() {
        let dflt = entry("0.0.0.0/0", "10.0.2.2");
        let dst: IpAddr = "172.20.2.36".parse().unwrap();
        // The broken lab: nothing near 172.20/16 at all.
        let routes = vec![dflt.clone(), entry("192.168.10.0/24", "192.168.10.1")];
        let (t, d) = considered(&routes, Some(&dflt), dst);
        assert_eq!(
            t,
            "no route more specific than 0.0.0.0/0; no route covers 172.20.2.0/24 (none anywhere in 128.0.0.0/2)"
        );
        assert_eq!(d["uncovered"], "172.20.2.0/24");
        // Two PodCIDRs routed, the third missing.
        let routes = vec![
            dflt.clone(),
            entry("172.20.0.0/24", "192.168.10.100"),
            entry("172.20.1.0/24", "192.168.10.101"),
        ];
        let (t, _) = considered(&routes, Some(&dflt), dst);
        assert_eq!(
            t,
            "no route more specific than 0.0.0.0/0; no route covers 172.20.2.0/24 (none anywhere in 172.20.2.0/23); \
             nearest: 172.20.0.0/24 via 192.168.10.100 dev eth1, 172.20.1.0/24 via 192.168.10.101 dev eth1"
        );
        let covered = entry("172.20.2.0/24", "192.168.20.100");
        let routes = vec![dflt.clone(), covered.clone()];
        let (t, _) = considered(&routes, Some(&covered), dst);
        assert_eq!(
            t,
            "no route more specific than 172.20.2.0/24; also covered by 0.0.0.0/0"
        );
    }

    #[test]
    fn considered_in_ipv6_names_the_missing_pod_cidr() {
        let dflt = entry("::/0", "fd00:2::2");
        let dst: IpAddr = "fd00:172:20:2::249".parse().unwrap();
        // The broken dual-stack lab: only the node subnets and a default.
        let routes = vec![dflt.clone(), entry("fd00:10::/64", "fd00:10::1")];
        let (t, d) = considered(&routes, Some(&dflt), dst);
        assert_eq!(
            t,
            "no route more specific than ::/0; no route covers fd00:172:20:2::/64 (none anywhere in fd00:100::/24)"
        );
        assert_eq!(d["uncovered"], "fd00:172:20:2::/64");
        // Two IPv6 PodCIDRs routed, the third missing.
        let routes = vec![
            dflt.clone(),
            entry("fd00:172:20::/64", "fd00:10::100"),
            entry("fd00:172:20:1::/64", "fd00:10::101"),
        ];
        let (t, _) = considered(&routes, Some(&dflt), dst);
        assert_eq!(
            t,
            "no route more specific than ::/0; no route covers fd00:172:20:2::/64 (none anywhere in fd00:172:20:2::/63); \
             nearest: fd00:172:20::/64 via fd00:10::100 dev eth1, fd00:172:20:1::/64 via fd00:10::101 dev eth1"
        );
        // Covered: nothing to add but the default behind it.
        let covered = entry("fd00:172:20:2::/64", "fd00:20::100");
        let (t, _) = considered(&[dflt.clone(), covered.clone()], Some(&covered), dst);
        assert_eq!(
            t,
            "no route more specific than fd00:172:20:2::/64; also covered by ::/0"
        );
    }
}
