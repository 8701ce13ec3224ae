//! `show drops` (counters per port and reason, like VPP's `show errors`)
//! and `monitor drops` (the live stream of dropped packets, see
//! [`crate::dataplane::monitor`]).
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use super::protocol::{CommandResult, Registry, Reply, Request, Stream, StreamResult, Table};
use crate::dataplane::counters::DropReason;
use crate::dataplane::monitor::{DropEvent, MonitorSession, DEFAULT_RATE};
use crate::shared::Shared;
use crate::wire::ipv4::protocol;

/// Registers `show drops` and `monitor drops`.
pub fn register(reg: &Registry, shared: Arc<Shared>) {
    let s = Arc::clone(&shared);
    reg.register(
        "show drops",
        "dropped packets per port and reason (zero rows hidden; --json has all)",
        move |_| show_drops(&s),
    );
    reg.register_stream(
        "monitor drops",
        "live stream of dropped packets; args: port, reason, address, count, duration, rate",
        move |req| monitor_drops(&shared, req),
    );
}

fn show_drops(shared: &Shared) -> CommandResult {
    let mut t = Table::new(&["PORT", "REASON", "PACKETS"]);
    let mut data = Vec::new();
    let mut total = 0u64;
    for p in &shared.ports {
        let tot = shared.counters.totals(p.id as usize);
        for r in DropReason::ALL {
            let n = tot.drops.get(r.name()).copied().unwrap_or(0);
            if n > 0 {
                t.row(vec![p.name.clone(), r.name().into(), n.to_string()]);
                total += n;
            }
        }
        data.push(json!({"port": p.name, "drops": tot.drops}));
    }
    Ok(Reply::data(Value::Array(data))
        .with_table(t)
        .with_text(format!("{total} packets dropped")))
}

/// Which events a monitor shows.
#[derive(Clone, Debug, Default)]
struct Filter {
    port: Option<u16>,
    reason: Option<DropReason>,
    /// Source or destination inside this prefix (either family).
    address: Option<IpNet>,
}

impl Filter {
    fn matches(&self, e: &DropEvent) -> bool {
        self.port.is_none_or(|p| p == e.port)
            && self.reason.is_none_or(|r| r == e.reason)
            && self.address.is_none_or(|net| {
                e.ip.is_some_and(|ip| net.contains(&ip.src) || net.contains(&ip.dst))
            })
    }
}

fn arg_u64(req: &Request, key: &str) -> Result<Option<u64>, String> {
    match req.args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a whole number")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("`{key}`: {s:?} is not a whole number")),
        Some(_) => Err(format!("`{key}` must be a whole number")),
    }
}

fn parse_filter(shared: &Shared, req: &Request) -> Result<Filter, String> {
    let mut f = Filter::default();
    if let Some(p) = req.arg_str("port") {
        f.port = Some(
            shared
                .ports
                .iter()
                .find(|x| x.name == p || x.ifname == p)
                .map(|x| x.id)
                .ok_or_else(|| format!("no port {p:?}"))?,
        );
    }
    if let Some(r) = req.arg_str("reason") {
        f.reason = Some(
            DropReason::ALL
                .into_iter()
                .find(|x| x.name() == r)
                .ok_or_else(|| {
                    let names: Vec<_> = DropReason::ALL.iter().map(|x| x.name()).collect();
                    format!("no drop reason {r:?} (one of {})", names.join(", "))
                })?,
        );
    }
    if let Some(a) = req.arg_str("address") {
        f.address = Some(if a.contains('/') {
            a.parse::<IpNet>()
                .map_err(|e| format!("{a:?} is not an IP prefix: {e}"))?
                .trunc()
        } else {
            IpNet::from(
                a.parse::<IpAddr>()
                    .map_err(|e| format!("{a:?} is not an IP address: {e}"))?,
            )
        });
    }
    Ok(f)
}

/// Longest a monitor may run without `duration` or `count`... forever,
/// until the client goes away; with them, whichever ends first.
struct DropStream {
    shared: Arc<Shared>,
    session: MonitorSession,
    filter: Filter,
    count: Option<u64>,
    deadline: Option<Instant>,
    shown: u64,
    filtered_out: u64,
    started: Instant,
    buf: Vec<DropEvent>,
}

impl Stream for DropStream {
    fn poll(&mut self, out: &mut Vec<Value>, max: usize) -> Option<Value> {
        self.buf.clear();
        self.session.drain(&mut self.buf, max);
        for e in &self.buf {
            if self.count.is_some_and(|c| self.shown >= c) {
                break;
            }
            if self.filter.matches(e) {
                out.push(event_json(&self.shared, e));
                self.shown += 1;
            } else {
                self.filtered_out += 1;
            }
        }
        let done = self.count.is_some_and(|c| self.shown >= c)
            || self.deadline.is_some_and(|d| Instant::now() >= d);
        done.then(|| {
            let (lost, rate_limited) = self.session.losses();
            json!({
                "events": self.shown,
                "filtered_out": self.filtered_out,
                "lost": lost,
                "rate_limited": rate_limited,
                "seconds": self.started.elapsed().as_secs_f64(),
            })
        })
    }
}

fn monitor_drops(shared: &Arc<Shared>, req: &Request) -> StreamResult {
    if !req.words.is_empty() {
        return Err("usage: monitor drops (filters are args: port, reason, address)".into());
    }
    let filter = parse_filter(shared, req)?;
    let count = arg_u64(req, "count")?;
    let duration = arg_u64(req, "duration")?;
    let rate = arg_u64(req, "rate")?.unwrap_or(DEFAULT_RATE as u64);
    let session = shared
        .monitor
        .attach(rate.clamp(1, u32::MAX as u64) as u32)
        .ok_or("a drop monitor is already attached (one at a time)")?;
    let started = Instant::now();
    Ok(Box::new(DropStream {
        shared: Arc::clone(shared),
        session,
        filter,
        count,
        deadline: duration.map(|d| started + Duration::from_secs(d)),
        shown: 0,
        filtered_out: 0,
        started,
        buf: Vec::new(),
    }))
}

/// The protocol's name for the event line.
pub fn protocol_name(p: u8) -> String {
    match p {
        protocol::ICMP => "icmp".into(),
        protocol::TCP => "tcp".into(),
        protocol::UDP => "udp".into(),
        crate::wire::ipv6::next_header::ICMPV6 => "icmpv6".into(),
        n => n.to_string(),
    }
}

fn event_json(shared: &Shared, e: &DropEvent) -> Value {
    let mut m = Map::new();
    m.insert("time_ns".into(), json!(e.time_ns));
    m.insert(
        "port".into(),
        json!(shared
            .ports
            .get(e.port as usize)
            .map_or_else(|| e.port.to_string(), |p| p.name.clone())),
    );
    m.insert("reason".into(), json!(e.reason.name()));
    m.insert("thread".into(), json!(e.thread));
    m.insert("len".into(), json!(e.len));
    m.insert("ethertype".into(), json!(format!("0x{:04x}", e.ethertype)));
    if let Some(ip) = e.ip {
        m.insert("src".into(), json!(ip.src));
        m.insert("dst".into(), json!(ip.dst));
        m.insert("protocol".into(), json!(protocol_name(ip.protocol)));
        m.insert("ttl".into(), json!(ip.ttl));
        match (ip.protocol, ip.l4) {
            (protocol::ICMP | crate::wire::ipv6::next_header::ICMPV6, Some((t, c))) => {
                m.insert("icmp_type".into(), json!(t));
                m.insert("icmp_code".into(), json!(c));
            }
            (_, Some((s, d))) => {
                m.insert("sport".into(), json!(s));
                m.insert("dport".into(), json!(d));
            }
            _ => {}
        }
    }
    if let Some(i) = e.icmp_sent {
        m.insert(
            "icmp_sent".into(),
            json!({"type": i.msg_type, "code": i.code, "name": i.name()}),
        );
    }
    Value::Object(m)
}

/// One line per event, for people:
/// `07:31:02.123456 eth1 no_route 192.168.10.100:40000 > 8.8.8.8:53 udp ttl 64 len 60, sent net-unreachable`.
pub fn format_event(e: &Value) -> String {
    let g = |k: &str| e.get(k);
    let s = |k: &str| g(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let n = |k: &str| g(k).and_then(Value::as_u64);
    let t = n("time_ns").unwrap_or(0);
    let secs = t / 1_000_000_000;
    let time = format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        t % 1_000_000_000 / 1000
    );
    let mut line = format!("{time} {} {}", s("port"), s("reason"));
    if g("src").is_some() {
        let port = |k: &str| n(k).map_or(String::new(), |p| format!(":{p}"));
        line.push_str(&format!(
            " {}{} > {}{} {}",
            s("src"),
            port("sport"),
            s("dst"),
            port("dport"),
            s("protocol")
        ));
        if let (Some(ty), Some(code)) = (n("icmp_type"), n("icmp_code")) {
            line.push_str(&format!(" type {ty} code {code}"));
        }
        line.push_str(&format!(" ttl {}", n("ttl").unwrap_or(0)));
    } else {
        line.push_str(&format!(" ethertype {}", s("ethertype")));
    }
    line.push_str(&format!(" len {}", n("len").unwrap_or(0)));
    if let Some(name) = g("icmp_sent")
        .and_then(|i| i.get("name"))
        .and_then(Value::as_str)
    {
        line.push_str(&format!(", sent {name}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::forward::tests::{ip_frame, shared_with, udp};

    fn req(args: Value) -> Request {
        Request {
            command: "monitor drops".into(),
            words: vec![],
            args: args.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn stream_filters_counts_and_ends() {
        let shared = shared_with(1500);
        let mut s = monitor_drops(
            &shared,
            &req(json!({"reason": "no_route", "address": "8.8.0.0/16", "count": 2})),
        )
        .unwrap();
        assert!(
            monitor_drops(&shared, &req(json!({}))).is_err(),
            "one monitor at a time"
        );
        let frame = |dst| {
            ip_frame(
                "192.168.10.100",
                dst,
                64,
                false,
                protocol::UDP,
                &udp(7, 53, 3),
            )
        };
        for (reason, dst) in [
            (DropReason::NoRoute, "8.8.8.8"),
            (DropReason::NoRoute, "9.9.9.9"),
            (DropReason::TtlExceeded, "8.8.4.4"),
            (DropReason::NoRoute, "8.8.4.4"),
            (DropReason::NoRoute, "8.8.1.1"),
        ] {
            let f = frame(dst);
            shared
                .monitor
                .push(0, DropEvent::from_frame(0, 0, reason, &f, None));
        }
        let mut out = Vec::new();
        let end = s.poll(&mut out, 100).expect("count reached");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["dst"], "8.8.8.8");
        assert_eq!(out[1]["dst"], "8.8.4.4");
        assert_eq!(out[1]["reason"], "no_route");
        assert_eq!(end["events"], 2);
        let line = format_event(&out[0]);
        assert!(
            line.contains(" eth1 no_route 192.168.10.100:7 > 8.8.8.8:53 udp ttl 64 len"),
            "{line}"
        );
        drop(s);
        assert!(!shared.monitor.is_attached(), "the stream's end detaches");
        assert!(monitor_drops(&shared, &req(json!({"reason": "nope"}))).is_err());
        assert!(monitor_drops(&shared, &req(json!({"port": "eth9"}))).is_err());
    }

    #[test]
    fn show_drops_hides_zero_rows() {
        let shared = shared_with(1500);
        shared.counters.port(0, 1).drop_n(DropReason::Martian, 3);
        let r = show_drops(&shared).unwrap();
        let t = r.table.unwrap();
        assert_eq!(
            t.rows,
            vec![vec!["eth2".to_string(), "martian".into(), "3".into()]]
        );
        let d = r.data;
        assert_eq!(d[1]["drops"]["martian"], 3);
        assert_eq!(d[0]["drops"]["no_route"], 0);
    }
}
