//! The built-in commands: `show interfaces`, `show route`, `show uptime`.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::config::running::RunningConfig;
use crate::config::LoopbackConfig;
use crate::dataplane::counters::DropReason;
use crate::neigh::{NeighAddr, NeighHit, NeighState, NeighTable};
use crate::ports::PortId;
use crate::rib::RouteHandle;
use crate::shared::Shared;
use crate::wire::ethernet::mac_to_string;

use super::protocol::{CommandResult, Registry, Reply, Request, Table};

/// What the built-in `show` commands read.
pub struct BuiltinContext {
    pub shared: Arc<Shared>,
    pub routes: RouteHandle,
    /// The running config (its loopbacks change with `router reload`).
    pub running: RunningConfig,
    pub started: Instant,
}

/// Registers `show interfaces`, `show route` and `show uptime`.
pub fn register_builtin(reg: &Registry, ctx: BuiltinContext) {
    let ctx = Arc::new(ctx);
    let c = Arc::clone(&ctx);
    reg.register(
        "show interfaces",
        "ports and loopbacks: addresses, MTU, packet counters, drops by reason",
        move |_| {
            Ok(show_interfaces(
                &c.shared,
                &c.running.load().config.loopbacks,
            ))
        },
    );
    let c = Arc::clone(&ctx);
    reg.register(
        "show route",
        "FIB routes with source and next hops; `show route ADDR` the route used for ADDR, `show route PREFIX` one prefix",
        move |req| show_route(&c.routes, req),
    );
    let c = Arc::clone(&ctx);
    reg.register(
        "show route summary",
        "number of routes by source",
        move |_| {
            let (s, s6) = {
                let r = c.routes.lock().unwrap_or_else(|e| e.into_inner());
                (r.v4.summary(), r.v6.summary())
            };
            let mut t = Table::new(&["SOURCE", "IPV4", "IPV6"]);
            for (name, n, n6) in [
                ("connected", s.connected, s6.connected),
                ("local", s.local, s6.local),
                ("static", s.static_routes, s6.static_routes),
                ("bgp", s.bgp, s6.bgp),
                ("total", s.fib_routes, s6.fib_routes),
            ] {
                t.row(vec![name.into(), n.to_string(), n6.to_string()]);
            }
            let text = format!(
                "{} IPv4 and {} IPv6 BGP routes held, {} and {} next-hop ids",
                s.bgp_stored, s6.bgp_stored, s.next_hops, s6.next_hops
            );
            let mut data = serde_json::to_value(&s).map_err(|e| e.to_string())?;
            if let Some(o) = data.as_object_mut() {
                o.insert(
                    "ipv6".into(),
                    serde_json::to_value(&s6).map_err(|e| e.to_string())?,
                );
            }
            Ok(Reply::data(data).with_table(t).with_text(text))
        },
    );
    let c = Arc::clone(&ctx);
    reg.register(
        "show neighbors",
        "the ARP and NDP neighbour tables: port, address, MAC, state, last confirmed",
        move |_| Ok(show_neighbors(&c.shared, Instant::now())),
    );
    let c = Arc::clone(&ctx);
    reg.register("show uptime", "time since start", move |_| {
        let s = c.started.elapsed().as_secs();
        Ok(Reply::data(json!({"seconds": s})).with_text(format_duration(s)))
    });
}

/// Both neighbour tables (ARP, then NDP), sorted by port and address, as
/// the workers see them: the lock-free tables' entries, read without a
/// lock (not one consistent snapshot, which display does not need).
pub fn show_neighbors(shared: &Shared, now: Instant) -> Reply {
    /// (port, address, entry, seconds since last confirmed).
    type Row = (PortId, IpAddr, NeighHit, Option<f64>);
    fn rows_of<A: NeighAddr + Into<IpAddr>>(
        table: &NeighTable<A>,
        now: Instant,
        into: &mut Vec<Row>,
    ) {
        for (port, ip, hit) in table.snapshot() {
            // Confirmation times are kept to the millisecond.
            let ago = table
                .last_confirmed(port, ip)
                .map(|t| (now.saturating_duration_since(t).as_secs_f64() * 1e3).round() / 1e3);
            into.push((port, ip.into(), hit, ago));
        }
    }
    let mut rows = Vec::new();
    rows_of(&shared.neigh, now, &mut rows);
    rows_of(&shared.neigh6, now, &mut rows);
    rows.sort_by_key(|r| (r.0, r.1));
    let mut t = Table::new(&["PORT", "ADDRESS", "MAC", "STATE", "CONFIRMED"]);
    let mut data = Vec::with_capacity(rows.len());
    for (port, ip, hit, confirmed) in rows {
        let port = shared
            .port_name(port)
            .map_or_else(|| format!("port{port}"), str::to_string);
        let mac = mac_to_string(&hit.mac);
        t.row(vec![
            port.clone(),
            ip.to_string(),
            // An entry that is still being resolved has no MAC yet.
            if hit.state == NeighState::Incomplete {
                "-".to_string()
            } else {
                mac.clone()
            },
            hit.state.name().to_string(),
            confirmed.map_or_else(|| "never".into(), |s| format!("{s:.1}s ago")),
        ]);
        data.push(json!({
            "port": port,
            "address": ip.to_string(),
            "family": if ip.is_ipv4() { "ipv4" } else { "ipv6" },
            "mac": mac,
            "state": hit.state.name(),
            "confirmed_secs_ago": confirmed,
        }));
    }
    Reply::data(Value::Array(data)).with_table(t)
}

/// "1d02h03m" / "02:03:04" style uptime.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn show_interfaces(shared: &Shared, loopbacks: &[LoopbackConfig]) -> Reply {
    let totals: Vec<_> = shared
        .ports
        .iter()
        .map(|p| shared.counters.totals(p.id as usize))
        .collect();
    // Only drop reasons that happened get a column; --json has all.
    let reasons: Vec<DropReason> = DropReason::ALL
        .into_iter()
        .filter(|r| {
            totals
                .iter()
                .any(|t| t.drops.get(r.name()).copied().unwrap_or(0) > 0)
        })
        .collect();
    let mut cols = vec![
        "NAME",
        "IFNAME",
        "MAC",
        "MTU",
        "ADDRESSES",
        "RX-PKTS",
        "RX-BYTES",
        "TX-PKTS",
        "TX-BYTES",
        "DROPS",
    ];
    let upper: Vec<String> = reasons
        .iter()
        .map(|r| r.name().to_uppercase().replace('_', "-"))
        .collect();
    cols.extend(upper.iter().map(String::as_str));
    let mut t = Table::new(&cols);
    let mut data = Vec::new();
    for (p, tot) in shared.ports.iter().zip(&totals) {
        let drops: u64 = tot.drops.values().sum();
        let mut row = vec![
            p.name.clone(),
            p.ifname.clone(),
            mac_to_string(&p.mac),
            p.mtu.to_string(),
            join(&p.addrs),
            tot.rx_packets.to_string(),
            tot.rx_bytes.to_string(),
            tot.tx_packets.to_string(),
            tot.tx_bytes.to_string(),
            drops.to_string(),
        ];
        row.extend(
            reasons
                .iter()
                .map(|r| tot.drops.get(r.name()).copied().unwrap_or(0).to_string()),
        );
        t.row(row);
        data.push(json!({
            "name": p.name, "kind": "port", "ifname": p.ifname, "ifindex": p.ifindex, "mac": mac_to_string(&p.mac),
            "mtu": p.mtu, "addresses": p.addrs, "rx_packets": tot.rx_packets, "rx_bytes": tot.rx_bytes,
            "tx_packets": tot.tx_packets, "tx_bytes": tot.tx_bytes, "drops_total": drops, "drops": tot.drops,
        }));
    }
    for l in loopbacks {
        let mut row = vec![
            l.name.clone(),
            "(loopback)".into(),
            "-".into(),
            "-".into(),
            join(&l.addresses),
        ];
        row.extend(std::iter::repeat_n("-".to_string(), cols.len() - row.len()));
        t.row(row);
        data.push(json!({"name": l.name, "kind": "loopback", "addresses": l.addresses}));
    }
    Reply::data(Value::Array(data)).with_table(t)
}

fn show_route(routes: &RouteHandle, req: &Request) -> CommandResult {
    if req.words.len() > 1 {
        return Err("usage: show route [ADDRESS | PREFIX]".into());
    }
    let rm = routes.lock().unwrap_or_else(|e| e.into_inner());
    let ip = |e: Option<crate::rib::RouteEntry<_, _>>| e.map(crate::rib::RouteEntry::into_ip);
    let entries: Vec<crate::rib::RouteEntry<ipnet::IpNet, std::net::IpAddr>> = match req.word(0) {
        None => rm
            .v4
            .routes()
            .into_iter()
            .map(|e| e.into_ip())
            .chain(rm.v6.routes().into_iter().map(|e| e.into_ip()))
            .collect(),
        Some(w) if w.contains('/') => {
            let p: ipnet::IpNet = w
                .parse()
                .map_err(|e| format!("{w:?} is not an IP prefix: {e}"))?;
            match p.trunc() {
                ipnet::IpNet::V4(p) => ip(rm.v4.route(&p)).into_iter().collect(),
                ipnet::IpNet::V6(p) => rm.v6.route(&p).map(|e| e.into_ip()).into_iter().collect(),
            }
        }
        Some(w) => {
            let a: std::net::IpAddr = w
                .parse()
                .map_err(|e| format!("{w:?} is not an IP address or prefix: {e}"))?;
            match a {
                std::net::IpAddr::V4(a) => ip(rm.v4.lookup(a)).into_iter().collect(),
                std::net::IpAddr::V6(a) => {
                    rm.v6.lookup(a).map(|e| e.into_ip()).into_iter().collect()
                }
            }
        }
    };
    drop(rm);
    let mut t = Table::new(&["PREFIX", "SOURCE", "DIST", "NEXT-HOP", "PORT"]);
    for e in &entries {
        let first = vec![
            e.prefix.to_string(),
            e.source.name().to_string(),
            e.distance.to_string(),
        ];
        let blank = || vec![String::new(), String::new(), String::new()];
        match e.kind {
            "connected" => t.row(
                [
                    first,
                    vec!["directly connected".into(), port_cell(&e.next_hops[0].port)],
                ]
                .concat(),
            ),
            "gateway" | "multipath" => {
                let n = e.next_hops.len();
                for (i, h) in e.next_hops.iter().enumerate() {
                    let via = h.via.map_or_else(String::new, |v| {
                        if n > 1 {
                            format!("via {v} (ecmp {}/{n})", i + 1)
                        } else {
                            format!("via {v}")
                        }
                    });
                    let lead = if i == 0 { first.clone() } else { blank() };
                    t.row([lead, vec![via, port_cell(&h.port)]].concat());
                }
            }
            kind => {
                let port = e.interface.clone().unwrap_or_else(|| "-".into());
                t.row([first, vec![kind.to_string(), port]].concat());
            }
        }
    }
    Ok(Reply::data(serde_json::to_value(&entries).map_err(|e| e.to_string())?).with_table(t))
}

fn port_cell(p: &Option<String>) -> String {
    p.clone().unwrap_or_else(|| "-".into())
}
