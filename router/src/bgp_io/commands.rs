//! Operator views of BGP: `show bgp summary`, `show bgp neighbors [ADDR]`,
//! `show bgp routes [PREFIX]`. Each produces the JSON data (`--json`) and a
//! table for people, both from the speaker's serialisable views; the table
//! is built from the JSON so both always show the same values.
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::{BgpClient, Query, Reply as BgpReply, TransportStats};
use crate::control::{CommandResult, Registry, Reply, Request, Table};
use crate::rib::RouteHandle;

/// How long a command waits for the BGP thread (it answers between two
/// iterations of its loop, each bounded).
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers `show bgp summary`, `show bgp neighbors [ADDR]` and
/// `show bgp routes [PREFIX]`.
pub fn register(reg: &Registry, client: BgpClient, routes: RouteHandle) {
    let c = client.clone();
    reg.register(
        "show bgp summary",
        "BGP neighbours: AS, state, up/down time, prefixes received/accepted/sent, messages",
        move |_req| {
            let (sum, stats) = match c.query(Query::Summary, QUERY_TIMEOUT).map_err(|e| e.to_string())? {
                BgpReply::Summary(s, t) => (s, t),
                _ => return Err("unexpected answer from the bgp thread".into()),
            };
            let (fib_routes, bgp_routes) = match routes.lock() {
                Ok(rm) => (rm.len(), rm.bgp_route_count()),
                Err(_) => return Err("route manager unavailable".into()),
            };
            let (mut data, table) = summary(&sum, &stats);
            if let Value::Object(m) = &mut data {
                // FIB routes in total, and BGP routes the route manager holds
                // (installed, or waiting for their next hop).
                m.insert("fib_routes".into(), json!(fib_routes));
                m.insert("bgp_routes_in_route_manager".into(), json!(bgp_routes));
            }
            let mut text = format!(
                "BGP router identifier {}, local AS number {}\nLoc-RIB prefixes {}, FIB routes {} ({} from BGP)",
                sum.router_id, sum.local_as, sum.loc_rib_prefixes, fib_routes, bgp_routes
            );
            if let Some(line) = md5_line(&stats) {
                text.push('\n');
                text.push_str(&line);
            }
            Ok(Reply::data(data).with_table(table).with_text(text))
        },
    );
    let c = client.clone();
    reg.register(
        "show bgp neighbors",
        "BGP neighbour details (negotiated capabilities, timers, graceful restart, last error); `show bgp neighbors ADDR` one",
        move |req| show_neighbors(&c, req),
    );
    let c = client;
    reg.register(
        "show bgp routes",
        "BGP paths with attributes, best (>) and multipath (=) marks; `show bgp routes PREFIX` one prefix",
        move |req| show_routes(&c, req),
    );
}

fn show_neighbors(c: &BgpClient, req: &Request) -> CommandResult {
    let peer = match req.word(0).or_else(|| req.arg_str("address")) {
        None => None,
        Some(w) => Some(
            w.parse::<IpAddr>()
                .map_err(|e| format!("{w:?} is not an address: {e}"))?,
        ),
    };
    let list = match c
        .query(Query::Neighbors(peer), QUERY_TIMEOUT)
        .map_err(|e| e.to_string())?
    {
        BgpReply::Neighbors(l, md5) => (l, md5),
        _ => return Err("unexpected answer from the bgp thread".into()),
    };
    let (list, md5) = list;
    if let (Some(p), true) = (peer, list.is_empty()) {
        return Err(format!("no BGP neighbour {p}"));
    }
    let (data, table) = neighbors(&list, &md5);
    Ok(Reply::data(data).with_table(table))
}

/// A prefix, or an address taken as its host prefix (/32, /128).
fn parse_prefix(w: &str) -> Result<IpNet, String> {
    if let Ok(p) = w.parse::<IpNet>() {
        return Ok(p.trunc());
    }
    w.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{w:?} is not a prefix (like 172.20.0.0/24) or an address"))
}

fn show_routes(c: &BgpClient, req: &Request) -> CommandResult {
    let prefix = match req.word(0).or_else(|| req.arg_str("prefix")) {
        None => None,
        Some(w) => Some(parse_prefix(w)?),
    };
    let list = match c
        .query(Query::Routes(prefix), QUERY_TIMEOUT)
        .map_err(|e| e.to_string())?
    {
        BgpReply::Routes(l) => l,
        _ => return Err("unexpected answer from the bgp thread".into()),
    };
    let (data, table) = routes(&list);
    Ok(Reply::data(data).with_table(table))
}

fn s(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(x)) => x.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Array(a)) => {
            if a.is_empty() {
                "-".into()
            } else {
                a.iter().map(|x| s(Some(x))).collect::<Vec<_>>().join(" ")
            }
        }
        Some(other) => other.to_string(),
    }
}

/// `hh:mm:ss`, or `XdYYh` beyond a day (FRR's style); `never` when unknown.
pub fn up_down(secs: Option<u64>) -> String {
    match secs {
        None => "never".into(),
        Some(t) if t >= 86_400 => format!("{}d{:02}h", t / 86_400, (t % 86_400) / 3600),
        Some(t) => format!("{:02}:{:02}:{:02}", t / 3600, (t % 3600) / 60, t % 60),
    }
}

pub fn summary(summary: &bgp::view::Summary, transport: &TransportStats) -> (Value, Table) {
    let mut data = serde_json::to_value(summary).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut data {
        m.insert(
            "transport".into(),
            serde_json::to_value(transport).unwrap_or(Value::Null),
        );
    }
    let mut t = Table::new(&[
        "Neighbor", "AS", "State", "Up/Down", "PfxRcvd", "PfxAcc", "PfxSent", "MsgRcvd", "MsgSent",
        "Group",
    ]);
    if let Some(peers) = data.get("peers").and_then(|p| p.as_array()) {
        for p in peers {
            let dynamic = p.get("dynamic").and_then(|d| d.as_bool()).unwrap_or(false);
            let mut addr = s(p.get("address"));
            if dynamic {
                // FRR marks dynamic neighbours with a '*'.
                addr.insert(0, '*');
            }
            t.rows.push(vec![
                addr,
                s(p.get("remote_as")),
                s(p.get("state")),
                up_down(p.get("up_down_secs").and_then(|v| v.as_u64())),
                s(p.get("prefixes_received")),
                s(p.get("prefixes_accepted")),
                s(p.get("prefixes_sent")),
                s(p.get("messages_in")),
                s(p.get("messages_out")),
                s(p.get("group")),
            ]);
        }
    }
    (data, t)
}

/// The TCP-MD5 counters in one line, when any key is configured or anything
/// was dropped.
pub fn md5_line(t: &TransportStats) -> Option<String> {
    let drops = t.md5_missing + t.md5_bad + t.md5_unexpected;
    (t.md5_keys > 0 || drops > 0).then(|| {
        format!(
            "TCP-MD5: {} keys; segments signed {}, verified {}; dropped: {} missing, {} bad, {} unexpected signature",
            t.md5_keys, t.md5_signed, t.md5_verified, t.md5_missing, t.md5_bad, t.md5_unexpected
        )
    })
}

pub fn neighbors(
    list: &[bgp::view::NeighborDetail],
    md5: &[super::tcp_md5::PeerMd5View],
) -> (Value, Table) {
    let mut data = serde_json::to_value(list).unwrap_or(Value::Null);
    // Each neighbour gets its TCP-MD5 state, and the reason its session is
    // down when segments from it fail the check.
    if let Some(items) = data.as_array_mut() {
        for (n, item) in list.iter().zip(items.iter_mut()) {
            let Some(v) = md5
                .iter()
                .find(|v| IpAddr::V4(v.address) == n.summary.address)
            else {
                continue;
            };
            let mut m = serde_json::to_value(v).unwrap_or(Value::Null);
            let down = n.summary.state != bgp::view::SessionState::Established;
            if let Value::Object(o) = &mut m {
                o.remove("address");
                o.insert(
                    "down_reason".into(),
                    json!(if down { v.reason() } else { None }),
                );
            }
            if let Value::Object(o) = item {
                o.insert("tcp_md5".into(), m);
            }
        }
    }
    // One row per neighbour and attribute, like a key/value listing.
    let mut t = Table::new(&["Neighbor", "Field", "Value"]);
    if let Some(items) = data.as_array() {
        for n in items {
            let sum = n.get("summary").cloned().unwrap_or(Value::Null);
            let addr = s(sum.get("address"));
            let mut row = |k: &str, v: String| t.rows.push(vec![addr.clone(), k.to_string(), v]);
            row("remote AS", s(sum.get("remote_as")));
            row("state", s(sum.get("state")));
            row(
                "up/down",
                up_down(sum.get("up_down_secs").and_then(|v| v.as_u64())),
            );
            row("group", s(sum.get("group")));
            row("local address", s(n.get("local_address")));
            row("remote router id", s(n.get("remote_router_id")));
            row(
                "hold/keepalive",
                format!(
                    "{}/{} (configured hold {})",
                    s(n.get("hold_time")),
                    s(n.get("keepalive")),
                    s(n.get("configured_hold_time"))
                ),
            );
            flatten("capabilities", n.get("capabilities"), &mut row);
            flatten("graceful restart", n.get("graceful_restart"), &mut row);
            flatten("messages", n.get("counters"), &mut row);
            row("last error", s(n.get("last_error")));
            if let Some(m) = n.get("tcp_md5") {
                let on = m.get("key_configured").and_then(Value::as_bool) == Some(true);
                row(
                    "tcp-md5",
                    format!(
                        "{} (verified {}, dropped: missing {}, bad {}, unexpected {})",
                        if on { "on" } else { "off" },
                        s(m.get("verified")),
                        s(m.get("missing")),
                        s(m.get("bad")),
                        s(m.get("unexpected"))
                    ),
                );
                if let Some(Value::String(r)) = m.get("down_reason") {
                    row("down reason", r.clone());
                }
            }
        }
    }
    (data, t)
}

/// Adds one row per leaf of a JSON object (`prefix.key`), so nested views
/// (capabilities, graceful restart timers) show without a fixed layout.
fn flatten(prefix: &str, v: Option<&Value>, row: &mut impl FnMut(&str, String)) {
    match v {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::Object(_) => flatten(&format!("{prefix}.{k}"), Some(v), row),
                    _ => row(&format!("{prefix}.{k}"), s(Some(v))),
                }
            }
        }
        other => row(prefix, s(other)),
    }
}

pub fn routes(list: &[bgp::view::RouteView]) -> (Value, Table) {
    let data = serde_json::to_value(list).unwrap_or(Value::Null);
    // FRR's codes: '*' valid, '>' best, '=' multipath, 'S' stale.
    let mut t = Table::new(&[
        "", "Prefix", "Next Hop", "Peer", "Age", "MED", "LocPrf", "AS Path", "Origin",
    ]);
    if let Some(items) = data.as_array() {
        for r in items {
            let prefix = s(r.get("prefix"));
            for (i, p) in r
                .get("paths")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let flag = |k: &str| p.get(k).and_then(|b| b.as_bool()).unwrap_or(false);
                let mut code = String::new();
                if flag("stale") {
                    code.push('S');
                }
                code.push(if flag("reachable") { '*' } else { ' ' });
                code.push(if flag("best") {
                    '>'
                } else if flag("multipath") {
                    '='
                } else {
                    ' '
                });
                t.rows.push(vec![
                    code,
                    if i == 0 {
                        prefix.clone()
                    } else {
                        String::new()
                    },
                    s(p.get("next_hop")),
                    s(p.get("peer")),
                    match p.get("age_secs").and_then(Value::as_u64) {
                        Some(a) => up_down(Some(a)),
                        None => "-".into(),
                    },
                    s(p.get("med")),
                    s(p.get("local_pref")),
                    s(p.get("as_path")),
                    s(p.get("origin")),
                ]);
            }
        }
    }
    (json!(data), t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_addresses_parse() {
        assert_eq!(
            parse_prefix("172.20.0.0/24").unwrap().to_string(),
            "172.20.0.0/24"
        );
        assert_eq!(
            parse_prefix("172.20.0.1/24").unwrap().to_string(),
            "172.20.0.0/24"
        );
        assert_eq!(
            parse_prefix("172.16.1.1").unwrap().to_string(),
            "172.16.1.1/32"
        );
        assert!(parse_prefix("nope").is_err());
    }

    #[test]
    fn routes_show_each_paths_age() {
        let path = |peer: Option<&str>, age_secs| bgp::view::PathView {
            peer: peer.map(|a| a.parse().unwrap()),
            next_hop: "192.168.10.100".parse().unwrap(),
            best: true,
            multipath: false,
            stale: false,
            reachable: true,
            filtered: false,
            ebgp: true,
            origin: "i".into(),
            as_path: "65001".into(),
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            age_secs,
        };
        let list = vec![bgp::view::RouteView {
            prefix: "172.20.0.0/24".parse().unwrap(),
            paths: vec![path(None, None), path(Some("192.168.10.100"), Some(75))],
        }];
        let (data, t) = routes(&list);
        let age = t.columns.iter().position(|c| c == "Age").unwrap();
        assert_eq!(t.rows[0][age], "-", "our own network has no age");
        assert_eq!(t.rows[1][age], "00:01:15");
        assert_eq!(data[0]["paths"][1]["age_secs"], 75);
    }

    #[test]
    fn up_down_formats_like_frr() {
        assert_eq!(up_down(None), "never");
        assert_eq!(up_down(Some(3725)), "01:02:05");
        assert_eq!(up_down(Some(90_000)), "1d01h");
    }

    #[test]
    fn flatten_walks_nested_objects() {
        let v = json!({"a": 1, "b": {"c": true}});
        let mut rows = Vec::new();
        flatten("x", Some(&v), &mut |k: &str, v: String| {
            rows.push((k.to_string(), v))
        });
        assert_eq!(
            rows,
            vec![
                ("x.a".to_string(), "1".to_string()),
                ("x.b.c".to_string(), "yes".to_string())
            ]
        );
    }
}
