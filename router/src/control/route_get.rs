//! `route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N]
//! [dport N] [ttl N] [len N] [df]`: what the router does with such a
//! packet and why. The verdict, next hop, ECMP member and neighbour come
//! from running the packet through the forwarding code
//! ([`crate::dataplane::explain`]); the route's provenance (connected,
//! static with its config line, BGP with peer and AS path) from the route
//! manager and the BGP speaker.
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde_json::{json, Value};

use super::protocol::{CommandResult, Registry, Reply, Request};
use crate::bgp_io::{BgpClient, Query, Reply as BgpReply};
use crate::config::running::RunningConfig;
use crate::config::Config;
use crate::dataplane::explain::{explain, Probe, Trace, Verdict};
use crate::dataplane::forward::{Egress, FwdOptions};
use crate::ports::PortId;
use crate::rib::{RouteEntry, RouteHandle, RouteSource};
use crate::shared::Shared;
use crate::wire::ipv4::protocol;

const BGP_TIMEOUT: Duration = Duration::from_secs(2);
/// Most neighbouring routes named in "considered".
const MAX_NEAREST: usize = 4;

/// Where the static route for `prefix` was configured ("FILE:LINE"), in
/// the config as last loaded (so a reload moves it).
fn static_origin(cfg: &Config, prefix: Ipv4Net) -> Option<String> {
    cfg.routes
        .iter()
        .zip(&cfg.route_lines)
        .find(|(r, _)| r.prefix == prefix)
        .map(|(_, line)| format!("{}:{line}", cfg.file))
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
        "what the router does with a packet to ADDR, and why: `route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N] [dport N] [ttl N] [len N] [df]`",
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

/// Parses the words after `route get`.
pub fn parse_probe(shared: &Shared, words: &[String]) -> Result<Probe, String> {
    const USAGE: &str = "usage: route get ADDR [from SRC] [iif PORT] [proto tcp|udp|icmp] [sport N] [dport N] [ttl N] [len N] [df]";
    let mut it = words.iter().map(String::as_str);
    let dst: Ipv4Addr = it
        .next()
        .ok_or(USAGE)?
        .parse()
        .map_err(|e| format!("not an IPv4 address: {e}; {USAGE}"))?;
    let mut p = Probe::to(dst);
    let mut proto_given = false;
    while let Some(k) = it.next() {
        if k == "df" {
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
                p.src = Some(
                    v.parse()
                        .map_err(|e| format!("`from {v}`: not an IPv4 address: {e}"))?,
                )
            }
            "iif" => p.iif = Some(port_id(shared, v)?),
            "proto" => {
                proto_given = true;
                p.protocol = match v {
                    "tcp" => protocol::TCP,
                    "udp" => protocol::UDP,
                    "icmp" => protocol::ICMP,
                    _ => return Err(format!("`proto {v}`: tcp, udp or icmp")),
                }
            }
            "sport" => p.sport = num(65535)? as u16,
            "dport" => p.dport = num(65535)? as u16,
            "ttl" => p.ttl = num(255)? as u8,
            "len" => p.len = num(65535)? as usize,
            _ => return Err(format!("unknown word `{k}`; {USAGE}")),
        }
    }
    if !proto_given && (p.sport != 0 || p.dport != 0) {
        // Ports without a protocol: a UDP flow (what ECMP hashes on).
        p.protocol = protocol::UDP;
    }
    Ok(p)
}

fn port_name(shared: &Shared, p: PortId) -> String {
    shared
        .ports
        .get(p as usize)
        .map_or_else(|| p.to_string(), |x| x.name.clone())
}

fn mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn hop_text(e: &RouteEntry) -> String {
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
fn provenance(ctx: &RouteGetContext, e: &RouteEntry) -> (String, Value) {
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

/// The BGP paths in use for `prefix`: peer, AS path, session age.
fn bgp_paths(ctx: &RouteGetContext, prefix: Ipv4Net) -> (String, Value) {
    let Some(c) = &ctx.bgp else {
        return ("no BGP speaker to ask".into(), Value::Null);
    };
    let routes = match c.query(Query::Routes(Some(IpNet::V4(prefix))), BGP_TIMEOUT) {
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
            if let Some(u) = up {
                t.push_str(&format!(
                    ", learned on a session up {}",
                    crate::bgp_io::commands::up_down(Some(u))
                ));
            }
            texts.push(t);
            data.push(json!({
                "peer": p.peer, "peer_as": asn, "as_path": p.as_path, "next_hop": p.next_hop,
                "best": p.best, "multipath": p.multipath, "session_up_secs": up,
                "origin": p.origin, "local_pref": p.local_pref, "med": p.med,
            }));
        }
    }
    if texts.is_empty() {
        texts.push("no best path in the speaker's Loc-RIB".into());
    }
    (texts.join("; "), Value::Array(data))
}

fn common_len(a: u32, b: u32) -> u8 {
    (a ^ b).leading_zeros().min(32) as u8
}

/// What else was considered: the less specific routes that also cover the
/// address, and the gap the address falls into — the largest block around
/// it that no more specific route touches (shown at /24 granularity at
/// least, the size of the lab's PodCIDRs and of most LAN subnets), with the
/// nearest routes beside it.
fn considered(
    routes: &[RouteEntry],
    matched: Option<&RouteEntry>,
    dst: Ipv4Addr,
) -> (String, Value) {
    let d = u32::from(dst);
    let mlen = matched.map_or(0, |m| m.prefix.prefix_len());
    let covering: Vec<&RouteEntry> = routes
        .iter()
        .filter(|e| e.prefix.contains(&dst) && e.prefix.prefix_len() < mlen)
        .collect();
    // Routes more specific than the match (none of them holds `dst`).
    let finer: Vec<(&RouteEntry, u8)> = routes
        .iter()
        .filter(|e| e.prefix.prefix_len() > mlen)
        .map(|e| (e, common_len(u32::from(e.prefix.network()), d)))
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
        .min(32);
    let block = |len: u8| Ipv4Net::new(dst, len).map(|n| n.trunc()).ok();
    let gap = block(gap_len);
    let shown = if gap_len < 24 { block(24) } else { gap };
    let best = finer.iter().map(|(_, c)| *c).max().filter(|c| *c >= 8);
    let mut nearest: Vec<&RouteEntry> = finer
        .iter()
        .filter(|(_, c)| Some(*c) == best)
        .map(|(e, _)| *e)
        .collect();
    nearest.sort_by_key(|e| (u32::from(e.prefix.network()), e.prefix.prefix_len()));
    nearest.truncate(MAX_NEAREST);
    let mut parts = Vec::new();
    match matched {
        Some(m) => parts.push(format!("no route more specific than {}", m.prefix)),
        None => parts.push("no route at all, not even a default".into()),
    }
    if let (Some(shown), Some(gap)) = (shown, gap) {
        // Worth saying when a coarse route (a default) caught the packet,
        // or when finer routes sit right beside it.
        if mlen < 24 || !nearest.is_empty() {
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
    let (matched, all) = {
        let rm = ctx.routes.lock().unwrap_or_else(|e| e.into_inner());
        (rm.lookup(probe.dst), rm.routes())
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

fn verdict_text(ctx: &RouteGetContext, t: &Trace, src: Ipv4Addr) -> (String, Value) {
    let s = &ctx.shared;
    match &t.verdict {
        Verdict::Forwarded {
            port,
            dst_mac,
            frames,
        } => (
            format!(
                "forwarded out of {} to {}{}",
                port_name(s, *port),
                mac(dst_mac),
                if *frames > 1 {
                    format!(" in {frames} fragments")
                } else {
                    String::new()
                }
            ),
            json!({"verdict": "forwarded", "port": port_name(s, *port), "dst_mac": mac(dst_mac), "frames": frames}),
        ),
        Verdict::AwaitingNeighbour { port, next_hop } => (
            format!(
                "forwarded once {next_hop} answers ARP on {} (not resolved yet; it is held meanwhile, and dropped with ICMP host-unreachable if resolution fails)",
                port_name(s, *port)
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
        Verdict::Dropped { port, reason, icmp } => {
            let icmp_text = match icmp {
                Some(i) => format!(", ICMP {} sent to {src}", i.name()),
                None => ", no ICMP error".into(),
            };
            (
                format!(
                    "dropped ({}, counted on {}){icmp_text}",
                    reason.name(),
                    port_name(s, *port)
                ),
                json!({"verdict": "dropped", "reason": reason.name(), "port": port_name(s, *port),
                       "icmp_sent": icmp.map(|i| json!({"type": i.msg_type, "code": i.code, "name": i.name()}))}),
            )
        }
        Verdict::Nothing => (
            "no effect (nothing sent, nothing dropped)".into(),
            json!({"verdict": "none"}),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    ctx: &RouteGetContext,
    probe: &Probe,
    t: &Trace,
    matched: Option<&RouteEntry>,
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
        Egress::Out { port, next_hop } => {
            let via = if next_hop == probe.dst {
                String::new()
            } else {
                format!(" via {next_hop}")
            };
            let src = s
                .ports
                .get(port as usize)
                .and_then(|p| {
                    let nh = u32::from(next_hop);
                    p.addrs
                        .iter()
                        .find(|n| n.contains(&Ipv4Addr::from(nh)))
                        .or(p.addrs.first())
                })
                .map_or(String::new(), |n| format!(" src {}", n.addr()));
            format!("{}{from}{via} dev {}{src}", probe.dst, port_name(s, port))
        }
        Egress::Local => format!("local {}{from}", probe.dst),
        Egress::Blackhole => format!("blackhole {}{from}", probe.dst),
        Egress::Unreachable(_) => format!("unreachable {}{from}", probe.dst),
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
    let proto = match probe.protocol {
        protocol::TCP => format!(
            "tcp {}:{} > {}:{}",
            t.src, probe.sport, probe.dst, probe.dport
        ),
        protocol::UDP => format!(
            "udp {}:{} > {}:{}",
            t.src, probe.sport, probe.dst, probe.dport
        ),
        _ => format!("icmp echo {} > {}", t.src, probe.dst),
    };
    let mut lines = vec![format!("{head}: {why}")];
    lines.push(format!(
        "  packet      {proto}, ttl {}, {} bytes{}, in on {}{}",
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
    if let Egress::Out { port, next_hop } = t.egress {
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
                mac(&n.mac),
                n.state.name(),
                t.confirmed_ago
                    .map_or("never confirmed by an ARP reply".into(), |d| format!(
                        "last confirmed {:.1} s ago",
                        d.as_secs_f64()
                    ))
            ),
            None => format!("{next_hop}: no entry (ARP not done yet)"),
        };
        lines.push(format!("  neighbour   {neigh}"));
        nh_data = json!({
            "address": next_hop, "port": port_name(s, port),
            "ecmp": t.ecmp.map(|(i, n)| json!({"member": i, "members": n, "hash": t.hash})),
            "neighbour": t.neighbour.map(|n| json!({
                "mac": mac(&n.mac),
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
            "protocol": crate::control::drops::protocol_name(probe.protocol),
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
    let _ = IpAddr::V4(probe.dst);
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
            (
                p.iif,
                p.protocol,
                p.sport,
                p.dport,
                p.ttl,
                p.len,
                p.dont_frag
            ),
            (Some(0), protocol::TCP, 40000, 80, 1, 1400, true)
        );
        assert_eq!(
            parse_probe(&sh, &words("1.2.3.4 dport 53"))
                .unwrap()
                .protocol,
            protocol::UDP
        );
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

    fn entry(p: &str, via: &str) -> RouteEntry {
        RouteEntry {
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
        let dst: Ipv4Addr = "172.20.2.36".parse().unwrap();
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
}
