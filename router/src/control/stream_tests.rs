//! Streaming replies over a real control socket: records until the end
//! line, a stream dropped when its client goes away, the connection usable
//! again afterwards.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::*;

struct Counting {
    left: u64,
    dropped: Arc<AtomicBool>,
}

impl Stream for Counting {
    fn poll(&mut self, out: &mut Vec<Value>, max: usize) -> Option<Value> {
        // Two records per poll, then the end.
        for _ in 0..2.min(max) {
            if self.left == 0 {
                break;
            }
            out.push(json!({"n": self.left}));
            self.left -= 1;
        }
        (self.left == 0).then(|| json!({"done": true}))
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

fn serve(tag: &str, n: u64, dropped: Arc<AtomicBool>) -> (ControlServer, std::path::PathBuf) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "router-stream-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ctl.sock");
    let reg = Registry::new();
    reg.register_stream("count", "test stream", move |req| {
        let left = req.word(0).and_then(|w| w.parse().ok()).unwrap_or(n);
        Ok(Box::new(Counting {
            left,
            dropped: dropped.clone(),
        }))
    });
    (ControlServer::start(&path, reg).unwrap(), path)
}

#[test]
fn stream_sends_records_then_end() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (srv, path) = serve("end", 5, dropped.clone());
    let mut got = Vec::new();
    let end = call_stream(&path, "count", Map::new(), Duration::from_secs(5), |v| {
        got.push(v["n"].as_u64().unwrap());
        true
    })
    .unwrap()
    .unwrap();
    assert_eq!(got, [5, 4, 3, 2, 1]);
    assert!(end.ok && end.end);
    assert_eq!(end.data.unwrap()["done"], true);
    assert!(dropped.load(Ordering::SeqCst));
    // A plain call of a streaming command is refused clearly.
    let r = call(&path, "ping", Map::new(), Duration::from_secs(5)).unwrap();
    assert!(r.ok);
    srv.stop();
}

#[test]
fn client_going_away_drops_the_stream() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (srv, path) = serve("away", u64::MAX, dropped.clone());
    let mut n = 0;
    let r = call_stream(&path, "count", Map::new(), Duration::from_secs(5), |_| {
        n += 1;
        n < 3
    })
    .unwrap();
    assert!(r.is_none());
    let t0 = Instant::now();
    while !dropped.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "the server dropped the stream"
    );
    srv.stop();
}
