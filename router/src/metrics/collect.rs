//! The one collector: reads the router's state at scrape time into a fresh
//! `prometheus` registry, which the text encoder turns into the 0.0.4
//! exposition format. Adding a metric means adding one block here.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bgp_io::{BgpClient, Query, Reply};
use crate::dataplane::counters::DropReason;
use crate::neigh::{NeighAddr, NeighState, NeighTable};
use crate::rib::RouteHandle;
use crate::shared::Shared;

/// How long a scrape waits for the BGP thread before leaving BGP out.
const BGP_QUERY_TIMEOUT: Duration = Duration::from_millis(500);

pub struct MetricsSources {
    pub shared: Arc<Shared>,
    pub routes: RouteHandle,
    pub bgp: Option<BgpClient>,
    pub started: Instant,
}

pub struct RouterCollector {
    sources: MetricsSources,
}

impl RouterCollector {
    pub fn new(sources: MetricsSources) -> Arc<Self> {
        Arc::new(RouterCollector { sources })
    }
}

type Labels = Vec<(&'static str, String)>;

/// Kinds of metric family this exporter writes.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// One scrape's registry: each family is created, filled and registered
/// in one call. Counters are created at zero and raised to the value read,
/// which is how a collector re-exports counters it does not own.
struct Scrape {
    registry: prometheus::Registry,
}

impl Scrape {
    fn family(
        &self,
        name: &str,
        help: &str,
        kind: Kind,
        values: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        let mut values = values.into_iter().peekable();
        let Some((first, _)) = values.peek() else {
            return;
        };
        let names: Vec<&str> = first.iter().map(|(k, _)| *k).collect();
        let opts = prometheus::Opts::new(name, help);
        let collector: Box<dyn prometheus::core::Collector> = match kind {
            Kind::Counter => {
                let vec = match prometheus::CounterVec::new(opts, &names) {
                    Ok(v) => v,
                    Err(e) => return tracing::warn!(%name, error = %e, "metrics: bad family"),
                };
                for (labels, v) in values {
                    let l: Vec<&str> = labels.iter().map(|(_, v)| v.as_str()).collect();
                    if let Ok(c) = vec.get_metric_with_label_values(&l) {
                        c.inc_by(v.max(0.0));
                    }
                }
                Box::new(vec)
            }
            Kind::Gauge => {
                let vec = match prometheus::GaugeVec::new(opts, &names) {
                    Ok(v) => v,
                    Err(e) => return tracing::warn!(%name, error = %e, "metrics: bad family"),
                };
                for (labels, v) in values {
                    let l: Vec<&str> = labels.iter().map(|(_, v)| v.as_str()).collect();
                    if let Ok(g) = vec.get_metric_with_label_values(&l) {
                        g.set(v);
                    }
                }
                Box::new(vec)
            }
        };
        if let Err(e) = self.registry.register(collector) {
            tracing::warn!(%name, error = %e, "metrics: family not registered");
        }
    }
}

impl RouterCollector {
    /// Reads everything once and renders the exposition.
    pub fn scrape(&self) -> String {
        let scrape = Scrape {
            registry: prometheus::Registry::new(),
        };
        self.collect_into(&scrape);
        let families = scrape.registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "metrics: encoding failed");
                String::new()
            })
    }

    fn collect_into(&self, m: &Scrape) {
        let s = &self.sources;
        let shared = &s.shared;

        // Build info, as node_exporter and Prometheus itself do it: a gauge
        // of 1 whose labels carry the facts.
        m.family(
            "router_build_info",
            "Version of the running router.",
            Kind::Gauge,
            [(
                vec![("version", env!("CARGO_PKG_VERSION").to_string())],
                1.0,
            )],
        );
        m.family(
            "router_uptime_seconds",
            "Time since the router started.",
            Kind::Gauge,
            [(vec![], s.started.elapsed().as_secs_f64())],
        );

        // Ports: traffic and drops, summed over the per-thread blocks with
        // relaxed loads (no lock a worker takes).
        let totals: Vec<_> = shared
            .ports
            .iter()
            .map(|p| (p.name.clone(), shared.counters.totals(p.id as usize)))
            .collect();
        let per_port = |f: fn(&crate::dataplane::counters::PortTotals) -> u64| {
            totals
                .iter()
                .map(move |(name, t)| (vec![("port", name.clone())], f(t) as f64))
        };
        m.family(
            "router_port_receive_packets_total",
            "Frames received on the port.",
            Kind::Counter,
            per_port(|t| t.rx_packets),
        );
        m.family(
            "router_port_receive_bytes_total",
            "Bytes received on the port.",
            Kind::Counter,
            per_port(|t| t.rx_bytes),
        );
        m.family(
            "router_port_transmit_packets_total",
            "Frames transmitted on the port.",
            Kind::Counter,
            per_port(|t| t.tx_packets),
        );
        m.family(
            "router_port_transmit_bytes_total",
            "Bytes transmitted on the port.",
            Kind::Counter,
            per_port(|t| t.tx_bytes),
        );
        m.family(
            "router_port_drops_total",
            "Frames dropped, by port and reason (the reasons of `router show drops`).",
            Kind::Counter,
            totals.iter().flat_map(|(name, t)| {
                DropReason::ALL.into_iter().map(move |r| {
                    (
                        vec![("port", name.clone()), ("reason", r.name().to_string())],
                        t.drops.get(r.name()).copied().unwrap_or(0) as f64,
                    )
                })
            }),
        );
        m.family(
            "router_port_socket_drops_total",
            "Frames the kernel dropped because the port's receive ring was full.",
            Kind::Counter,
            per_port(|t| {
                t.drops
                    .get(DropReason::SocketDrop.name())
                    .copied()
                    .unwrap_or(0)
            }),
        );

        // FIB routes by source. The route manager's lock is the control
        // plane's; workers read the published FIB, never this.
        let (v4, v6) = {
            let r = s.routes.lock().unwrap_or_else(|e| e.into_inner());
            (r.v4.summary(), r.v6.summary())
        };
        m.family(
            "router_fib_routes",
            "Routes in the FIB, by address family and source.",
            Kind::Gauge,
            [("ipv4", v4), ("ipv6", v6)]
                .into_iter()
                .flat_map(|(fam, summary)| {
                    [
                        ("connected", summary.connected),
                        ("local", summary.local),
                        ("static", summary.static_routes),
                        ("bgp", summary.bgp),
                    ]
                    .into_iter()
                    .map(move |(src, n)| {
                        (
                            vec![("family", fam.to_string()), ("source", src.to_string())],
                            n as f64,
                        )
                    })
                }),
        );

        // Neighbours by state (the lock-free table's snapshot).
        const STATES: [NeighState; 5] = [
            NeighState::Incomplete,
            NeighState::Reachable,
            NeighState::Stale,
            NeighState::Probe,
            NeighState::Failed,
        ];
        // ARP's table and NDP's, apart.
        fn by_state<A: NeighAddr>(t: &NeighTable<A>) -> [u64; STATES.len()] {
            let mut n = [0u64; STATES.len()];
            for (_, _, hit) in t.snapshot() {
                if let Some(i) = STATES.iter().position(|&st| st == hit.state) {
                    n[i] += 1;
                }
            }
            n
        }
        let (v4, v6) = (by_state(&shared.neigh), by_state(&shared.neigh6));
        m.family(
            "router_neighbours",
            "Entries in the neighbour tables (ARP for ipv4, NDP for ipv6), by state.",
            Kind::Gauge,
            [("ipv4", v4), ("ipv6", v6)]
                .into_iter()
                .flat_map(|(family, by_state)| {
                    STATES.iter().zip(by_state).map(move |(st, n)| {
                        (
                            vec![
                                ("family", family.to_string()),
                                ("state", st.name().to_ascii_lowercase()),
                            ],
                            n as f64,
                        )
                    })
                }),
        );

        if let Some(bgp) = &s.bgp {
            collect_bgp(m, bgp);
        }
    }
}

fn collect_bgp(m: &Scrape, bgp: &BgpClient) {
    let peers = match bgp.query(Query::Neighbors(None), BGP_QUERY_TIMEOUT) {
        Ok(Reply::Neighbors(peers, _md5)) => peers,
        Ok(_) => return,
        Err(e) => {
            tracing::debug!(error = %e, "metrics: BGP left out of this scrape");
            return;
        }
    };
    use bgp::view::{NeighborDetail, SessionState};
    use bgp::Family;
    let label = |p: &NeighborDetail| -> Labels {
        vec![
            ("peer", p.summary.address.to_string()),
            (
                "peer_as",
                p.summary
                    .remote_as
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
        ]
    };
    let up = |p: &NeighborDetail| p.summary.state == SessionState::Established;
    m.family(
        "router_bgp_peer_state",
        "1 if the session is Established, else 0 (frr_exporter's bgp_peer_state).",
        Kind::Gauge,
        peers.iter().map(|p| (label(p), f64::from(u8::from(up(p))))),
    );
    m.family(
        "router_bgp_peer_uptime_seconds",
        "Time since the session was established (0 while it is not).",
        Kind::Gauge,
        peers.iter().map(|p| {
            let secs = if up(p) {
                p.summary.up_down_secs.unwrap_or(0)
            } else {
                0
            };
            (label(p), secs as f64)
        }),
    );
    m.family(
        "router_bgp_peer_established_transitions_total",
        "Times the session reached Established.",
        Kind::Counter,
        peers
            .iter()
            .map(|p| (label(p), p.established_transitions as f64)),
    );
    // Per AFI/SAFI, labelled as frr_exporter does (`afi="ipv4"`,
    // `safi="unicast"`); the series of a peer sum to its totals.
    let by_family = |p: &NeighborDetail, accepted: bool| -> Vec<(Labels, f64)> {
        let base = label(p);
        p.summary
            .families
            .iter()
            .map(|f| {
                let (afi, safi) = match f.family {
                    Family::Ipv4Unicast => ("ipv4", "unicast"),
                    Family::Ipv6Unicast => ("ipv6", "unicast"),
                };
                let mut l = base.clone();
                l.push(("afi", afi.to_string()));
                l.push(("safi", safi.to_string()));
                let n = if accepted { f.accepted } else { f.received };
                (l, n as f64)
            })
            .collect()
    };
    m.family(
        "router_bgp_peer_prefixes_received",
        "Prefixes in the peer's Adj-RIB-In, before the import filter, per AFI/SAFI.",
        Kind::Gauge,
        peers.iter().flat_map(|p| by_family(p, false)),
    );
    m.family(
        "router_bgp_peer_prefixes_accepted",
        "Prefixes of the peer that passed the import filter, per AFI/SAFI.",
        Kind::Gauge,
        peers.iter().flat_map(|p| by_family(p, true)),
    );
    m.family(
        "router_bgp_peer_prefixes_sent",
        "Prefixes advertised to the peer.",
        Kind::Gauge,
        peers
            .iter()
            .map(|p| (label(p), p.summary.prefixes_sent as f64)),
    );
    let by_type = |p: &NeighborDetail, received: bool| {
        let c = &p.counters;
        let v = if received {
            [
                ("open", c.opens_in),
                ("update", c.updates_in),
                ("keepalive", c.keepalives_in),
                ("notification", c.notifications_in),
                ("route_refresh", c.route_refresh_in),
            ]
        } else {
            [
                ("open", c.opens_out),
                ("update", c.updates_out),
                ("keepalive", c.keepalives_out),
                ("notification", c.notifications_out),
                ("route_refresh", c.route_refresh_out),
            ]
        };
        let base = label(p);
        v.into_iter().map(move |(t, n)| {
            let mut l = base.clone();
            l.push(("type", t.to_string()));
            (l, n as f64)
        })
    };
    m.family(
        "router_bgp_peer_messages_received_total",
        "BGP messages received from the peer, by type.",
        Kind::Counter,
        peers.iter().flat_map(|p| by_type(p, true)),
    );
    m.family(
        "router_bgp_peer_messages_sent_total",
        "BGP messages sent to the peer, by type.",
        Kind::Counter,
        peers.iter().flat_map(|p| by_type(p, false)),
    );
    m.family(
        "router_bgp_peer_last_error_info",
        "1 for a peer whose session ended with an error; the error is the label.",
        Kind::Gauge,
        peers.iter().filter_map(|p| {
            let err = p.last_error.clone()?;
            let mut l = label(p);
            l.push(("error", err));
            Some((l, 1.0))
        }),
    );
}
