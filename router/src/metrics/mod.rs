//! Prometheus metrics: `[metrics] listen = "ADDR:PORT"` serves the text
//! exposition format (0.0.4) at `/metrics` (the `prometheus` crate encodes
//! it, tiny_http serves it; neither is hand-written here). Not
//! `prometheus-client`: its encoder writes OpenMetrics, whose counter
//! HELP/TYPE lines promtool's text-format linter rejects.
//!
//! Every value is read at scrape time from what already exists: the
//! per-thread port counters (relaxed loads, never a lock a worker takes),
//! the neighbour table's lock-free snapshot, the route manager (whose lock
//! only the control plane takes), and the BGP thread's operator query. So
//! metrics cost the dataplane nothing, scraped or not.
//!
//! Names follow Prometheus conventions (`_total` counters, base units:
//! bytes, seconds) and stay close to what frr_exporter and bird_exporter
//! users chart (per-peer state, uptime, prefixes received/accepted,
//! messages by type). `configs/grafana-dashboard.json` charts them.
mod collect;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use collect::{MetricsSources, RouterCollector};

/// The default port: not in the Prometheus exporter registry's list of
/// well-known exporter ports (9100 node, 9342 frr, 9324 bird, ...).
pub const DEFAULT_PORT: u16 = 9477;

/// Renders the whole exposition.
pub fn render(collector: &Arc<RouterCollector>) -> String {
    collector.scrape()
}

/// The HTTP server thread; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(listen: SocketAddr, collector: Arc<RouterCollector>) -> std::io::Result<Self> {
        let server = tiny_http::Server::http(listen)
            .map_err(|e| std::io::Error::other(format!("metrics listen {listen}: {e}")))?;
        let addr = server.server_addr().to_ip().unwrap_or(listen);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                crate::service::enter_control_plane("metrics");
                serve(server, collector, stop2)
            })?;
        tracing::info!(%addr, "metrics: serving /metrics");
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: tiny_http::Server, collector: Arc<RouterCollector>, stop: Arc<AtomicBool>) {
    let content_type = tiny_http::Header::from_bytes(
        &b"Content-Type"[..],
        &b"text/plain; version=0.0.4; charset=utf-8"[..],
    )
    .expect("static header");
    while !stop.load(Ordering::Relaxed) {
        // A short timeout so that the stop flag is seen promptly.
        let req = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(req)) => req,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let path = req.url().split('?').next().unwrap_or("");
        let resp = match (req.method(), path) {
            (tiny_http::Method::Get, "/metrics") => {
                tiny_http::Response::from_string(render(&collector))
                    .with_header(content_type.clone())
            }
            (tiny_http::Method::Get, "/") => {
                tiny_http::Response::from_string("router metrics: GET /metrics\n")
            }
            (tiny_http::Method::Get, _) => {
                tiny_http::Response::from_string("not found\n").with_status_code(404)
            }
            _ => tiny_http::Response::from_string("method not allowed\n").with_status_code(405),
        };
        if let Err(e) = req.respond(resp) {
            tracing::debug!(error = %e, "metrics: client went away");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::counters::DropReason;
    use crate::ports::PortInfo;
    use crate::rib::RouteManager;
    use crate::shared::Shared;

    fn collector() -> Arc<RouterCollector> {
        let port = PortInfo {
            id: 0,
            name: "eth1".into(),
            ifname: "veth-eth1".into(),
            ifindex: 7,
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
            addrs: vec!["192.168.10.200/24".parse().expect("net")],
            addrs6: Vec::new(),
        };
        let shared = Shared::new(vec![port], 2);
        shared.counters.port(0, 0).rx(100);
        shared.counters.port(1, 0).rx(60);
        shared.counters.port(1, 0).drop(DropReason::NoRoute);
        let routes = RouteManager::new(Arc::clone(&shared)).into_handle();
        RouterCollector::new(MetricsSources {
            shared,
            routes,
            bgp: None,
            started: std::time::Instant::now(),
        })
    }

    #[test]
    fn exposition_sums_the_worker_blocks_and_names_follow_conventions() {
        let text = render(&collector());
        for want in [
            "# TYPE router_port_receive_packets_total counter",
            "router_port_receive_packets_total{port=\"eth1\"} 2",
            "router_port_receive_bytes_total{port=\"eth1\"} 160",
            "router_port_drops_total{port=\"eth1\",reason=\"no_route\"} 1",
            "router_port_drops_total{port=\"eth1\",reason=\"martian\"} 0",
            "router_build_info{version=\"",
            "router_neighbours{family=\"ipv4\",state=\"reachable\"} 0",
            "router_neighbours{family=\"ipv6\",state=\"reachable\"} 0",
            "router_fib_routes{family=\"ipv4\",source=\"bgp\"} 0",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        // promtool's linter, where it is installed (the namespace test in
        // tests/ requires it under CI).
        if let Ok(mut child) = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write");
            let out = child.wait_with_output().expect("promtool");
            assert!(
                out.status.success(),
                "promtool check metrics:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn serves_http_and_stops() {
        let server = MetricsServer::start("127.0.0.1:0".parse().expect("addr"), collector())
            .expect("listen");
        let addr = server.local_addr();
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        use std::io::{Read, Write};
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read");
        assert!(
            body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
            "{body}"
        );
        assert!(body.contains("text/plain; version=0.0.4"), "{body}");
        assert!(body.contains("router_port_receive_packets_total"), "{body}");
        drop(server);
        // tiny_http's accept thread closes the listener shortly after the
        // server is dropped; bounded wait.
        let closed = (0..40).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(addr).is_err()
        });
        assert!(closed, "still listening 2 s after drop");
    }
}
