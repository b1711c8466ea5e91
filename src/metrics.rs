//! What the server measures about itself, and `--metrics ADDR`: the same
//! figures in the Prometheus text format, on a listener of their own.
//!
//! Every figure is an atomic, bumped where the thing happens, so reading them
//! never asks the hub anything: a scrape costs the chat nothing. Only the hub
//! writes the hub's figures, so they are plain `Relaxed` adds (no ordering
//! between figures is promised; each one is exact).
//!
//! The figures that matter most for a chat are how long the hub's pass takes
//! (every client waits for it: see `hub/mod.rs`) and how long an event waits
//! in the hub's channel before a pass takes it. `make bench` prints their p99
//! beside the latency clients see.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Upper bounds of the duration buckets, in nanoseconds: 10 µs to 10 s, three
/// to a decade. A chat's passes mostly take tens of microseconds, and a tail
/// worth alerting on is tens of milliseconds.
const BOUNDS_NS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A histogram of durations: a count per bucket (the last one is "longer
/// than every bound"), their sum, and the longest seen.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(BOUNDS_NS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.max_ns.fetch_max(ns, Relaxed);
    }

    /// Prometheus lines: cumulative `_bucket`s, `_sum`, `_count`, and the
    /// longest observation since start as a gauge `_max`.
    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Relaxed);
            match BOUNDS_NS.get(i) {
                Some(&bound) => {
                    let le = bound as f64 / 1e9;
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let max = self.max_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
        let _ = writeln!(
            out,
            "# HELP {name}_max The longest since start.\n# TYPE {name}_max gauge\n{name}_max {max}"
        );
    }
}

/// Every figure the server keeps. One per server, shared by `Arc`.
#[derive(Default)]
pub struct Metrics {
    /// From the first event a pass takes to the end of its writes.
    pub hub_pass: Histogram,
    /// From a reader thread's send to the hub taking the event.
    pub hub_wait: Histogram,
    /// One storage commit (a pass's messages and session changes).
    pub commit: Histogram,
    /// Events the hub has handled.
    pub hub_events: AtomicU64,
    /// Chat messages stored and handed to their rooms.
    pub messages: AtomicU64,
    /// Chunks queued to connections (one per member per room batch).
    pub deliveries: AtomicU64,
    /// Open WebSocket connections, as the hub last counted them.
    pub connections: AtomicU64,
}

impl Metrics {
    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.hub_pass.render(
            &mut out,
            "natter_hub_pass_seconds",
            "One pass of the hub: its events, commit, delivery and writes.",
        );
        self.hub_wait.render(
            &mut out,
            "natter_hub_event_wait_seconds",
            "How long a connection's event waited in the hub's channel.",
        );
        self.commit.render(
            &mut out,
            "natter_commit_seconds",
            "One storage commit of a pass's messages and session changes.",
        );
        let counters = [
            (
                "natter_hub_events_total",
                "Events the hub handled.",
                &self.hub_events,
            ),
            (
                "natter_messages_total",
                "Chat messages stored and sent.",
                &self.messages,
            ),
            (
                "natter_deliveries_total",
                "Chunks of frames queued to connections.",
                &self.deliveries,
            ),
        ];
        for (name, help, value) in counters {
            let value = value.load(Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "natter_connections";
        let value = self.connections.load(Relaxed);
        let _ = writeln!(
            out,
            "# HELP {name} Open WebSocket connections.\n# TYPE {name} gauge\n{name} {value}"
        );
        out
    }
}

/// `--metrics ADDR`: answer `GET /metrics` on a listener of its own, on one
/// thread, until the process ends. It is never the chat's port, so the
/// generated nginx config never exposes it; bind it to 127.0.0.1 or a
/// private address.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("metrics listener on {addr} is not an IP socket"))?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = match request.url() {
                    "/metrics" => {
                        tiny_http::Response::from_string(metrics.render()).with_header(text_plain())
                    }
                    _ => tiny_http::Response::from_string("metrics are at /metrics\n")
                        .with_status_code(404),
                };
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
    Ok(bound)
}

fn text_plain() -> tiny_http::Header {
    "Content-Type: text/plain; version=0.0.4"
        .parse()
        .expect("a constant, valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_max_is_kept() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(5));
        h.observe(Duration::from_micros(30));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.00001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert!(out.contains("x_max 20\n"), "{out}");
    }
}
