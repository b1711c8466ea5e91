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

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::media::MediaStore;
use crate::protocol::ErrorCode;

mod process;

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

/// A fixed set of counters, one per value of a closed label (an error code,
/// a close code, a route): indexed by the enum, never a map, so bumping one
/// on the hub's hot path is one `Relaxed` add. An index past the end is
/// ignored, never a panic.
pub struct Counts<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Counts<N> {
    fn default() -> Self {
        Counts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Counts<N> {
    pub fn add(&self, index: usize, n: u64) {
        if let Some(count) = self.0.get(index) {
            count.fetch_add(n, Relaxed);
        }
    }

    pub fn get(&self, index: usize) -> u64 {
        self.0.get(index).map_or(0, |c| c.load(Relaxed))
    }
}

/// What a commit stored, by kind (`natter_events_committed_total{kind}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Message,
    Edit,
    Delete,
    React,
    /// A room's settings, roles, claim, invites or moderation.
    Setting,
}

impl EventKind {
    pub const LABELS: [&'static str; 5] = ["message", "edit", "delete", "react", "setting"];
}

/// How a `join` with `since` was answered (`natter_resumes_total{result}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Everything missed was in the room's cache.
    Cache,
    /// Read back from storage.
    Storage,
    /// Too much was missed (or another database): the page starts over.
    Gap,
}

impl Resume {
    pub const LABELS: [&'static str; 3] = ["cache", "storage", "gap"];
}

/// The close codes natter sends, then `peer` (the client closed or dropped
/// the connection first) and `other`: `natter_connections_closed_total{code}`.
pub const CLOSE_LABELS: [&str; 12] = [
    "1000", "1001", "1002", "1003", "1007", "1008", "1009", "1011", "1012", "1013", "peer", "other",
];

/// The index in [`CLOSE_LABELS`] of a close code natter sent.
pub fn close_index(code: u16) -> usize {
    let label = code.to_string();
    CLOSE_LABELS[..10]
        .iter()
        .position(|l| *l == label)
        .unwrap_or(CLOSE_LABELS.len() - 1)
}

/// The index in [`CLOSE_LABELS`] of a connection its client ended.
pub const CLOSE_BY_PEER: usize = 10;

/// The web listener's routes, as a fixed label: never the raw path, which
/// holds room names, upload ids and whatever a scanner tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /login`, `/logout`, `GET /session`.
    Login,
    /// The login page and the chat page (`/`, `/login`, `/r/<room>`).
    Page,
    /// `/assets/...`.
    Asset,
    /// `POST /upload/<room>`.
    Upload,
    /// `/m/<id>.<ext>`.
    Media,
    /// `/export/<room>`.
    Export,
    /// `/account/...` and `/u/<name>`.
    Account,
    /// `GET /rooms`.
    Rooms,
    /// `/healthz`.
    Healthz,
    /// `POST /hooks/<token>`.
    Hook,
    /// `/api/v1/...`.
    Api,
    /// Anything else (mostly 404s and 405s).
    Other,
}

impl Route {
    pub const LABELS: [&'static str; 12] = [
        "login", "page", "asset", "upload", "media", "export", "account", "rooms", "healthz",
        "hook", "api", "other",
    ];

    /// The route a path belongs to (the query already cut off).
    pub fn of(path: &str) -> Route {
        let prefix = |p: &str| path.starts_with(p);
        match path {
            "/login" | "/logout" | "/session" => Route::Login,
            "/" => Route::Page,
            "/rooms" => Route::Rooms,
            "/healthz" => Route::Healthz,
            _ if prefix("/r/") => Route::Page,
            _ if prefix("/assets/") => Route::Asset,
            _ if prefix("/upload/") => Route::Upload,
            _ if prefix("/m/") => Route::Media,
            _ if prefix("/export/") => Route::Export,
            _ if prefix("/account/") || prefix("/u/") => Route::Account,
            _ if prefix("/hooks/") => Route::Hook,
            _ if prefix("/api/") => Route::Api,
            _ => Route::Other,
        }
    }
}

/// HTTP statuses counted one by one: 100 to 599 (anything else is counted
/// as 599, which nothing sends).
const STATUSES: usize = 500;

/// Where the sizes a scrape reads live: set once at start (`watch_files`).
struct Files {
    /// The database file (`None` for `--db :memory:`); its log is `<db>-wal`.
    db: Option<PathBuf>,
    media: Arc<MediaStore>,
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
    /// Events waiting in the hub's channel, as the last pass found them.
    pub hub_queue: AtomicU64,
    /// Chat messages stored and handed to their rooms.
    pub messages: AtomicU64,
    /// Chunks queued to connections (one per member per room batch).
    pub deliveries: AtomicU64,
    /// The bytes of those chunks (a chunk shared by a thousand members
    /// counts a thousand times: it is written a thousand times).
    pub delivered_bytes: AtomicU64,
    /// Open WebSocket connections, as the hub last counted them.
    pub connections: AtomicU64,
    /// WebSocket connections the hub has taken in.
    pub connections_opened: AtomicU64,
    /// Connections ended, by [`CLOSE_LABELS`].
    pub closes: Counts<{ CLOSE_LABELS.len() }>,
    /// Login sessions the hub holds, as the last pass counted them.
    pub sessions: AtomicU64,
    /// Rooms in memory (with members, or just used), as the last pass
    /// counted them.
    pub rooms: AtomicU64,
    /// Stored by commits, by [`EventKind`].
    pub committed: Counts<{ EventKind::LABELS.len() }>,
    /// `error` frames sent, by [`ErrorCode`].
    pub refusals: Counts<{ ErrorCode::ALL.len() }>,
    /// `join`s with `since`, by [`Resume`].
    pub resumes: Counts<{ Resume::LABELS.len() }>,
    /// Web answers, by [`Route`] and status.
    pub http: Box<HttpCounts>,
    files: OnceLock<Files>,
}

/// `natter_http_requests_total`: a counter per route and status.
#[derive(Default)]
pub struct HttpCounts(Counts<{ Route::LABELS.len() * STATUSES }>);

impl Metrics {
    /// Where the database and the media folder are, for their sizes.
    pub fn watch_files(&self, db: &str, media: Arc<MediaStore>) {
        let db = (db != ":memory:").then(|| PathBuf::from(db));
        let _ = self.files.set(Files { db, media });
    }

    pub fn committed(&self, kind: EventKind, n: u64) {
        self.committed.add(kind as usize, n);
    }

    pub fn refused(&self, code: ErrorCode) {
        self.refusals.add(code as usize, 1);
    }

    pub fn resumed(&self, how: Resume) {
        self.resumes.add(how as usize, 1);
    }

    /// A web answer: its route and status.
    pub fn answered(&self, route: Route, status: u16) {
        let status = usize::from(status.clamp(100, 599)) - 100;
        self.http.0.add(route as usize * STATUSES + status, 1);
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP natter_build_info The version of natter running.\n\
             # TYPE natter_build_info gauge\n\
             natter_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
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
            (
                "natter_delivered_bytes_total",
                "Bytes of the chunks queued to connections.",
                &self.delivered_bytes,
            ),
            (
                "natter_connections_opened_total",
                "WebSocket connections taken into the chat.",
                &self.connections_opened,
            ),
        ];
        for (name, help, value) in counters {
            scalar(&mut out, name, "counter", help, value.load(Relaxed));
        }
        let gauges = [
            (
                "natter_connections",
                "Open WebSocket connections.",
                &self.connections,
            ),
            (
                "natter_sessions",
                "Login sessions the server holds.",
                &self.sessions,
            ),
            (
                "natter_rooms_active",
                "Rooms in memory: with members, or just used.",
                &self.rooms,
            ),
            (
                "natter_hub_queue_events",
                "Events waiting in the hub's channel at the last pass.",
                &self.hub_queue,
            ),
        ];
        for (name, help, value) in gauges {
            scalar(&mut out, name, "gauge", help, value.load(Relaxed));
        }
        labelled(
            &mut out,
            "natter_connections_closed_total",
            "WebSocket connections ended, by the close code natter sent (peer: the client ended it).",
            "code",
            &CLOSE_LABELS,
            |i| self.closes.get(i),
        );
        labelled(
            &mut out,
            "natter_events_committed_total",
            "Changes stored by commits, by kind.",
            "kind",
            &EventKind::LABELS,
            |i| self.committed.get(i),
        );
        let codes = ErrorCode::ALL.map(ErrorCode::as_str);
        labelled(
            &mut out,
            "natter_requests_refused_total",
            "Requests answered with an error frame, by its code.",
            "code",
            &codes,
            |i| self.refusals.get(i),
        );
        labelled(
            &mut out,
            "natter_resumes_total",
            "Joins with `since`, by how what was missed was found (gap: start over).",
            "result",
            &Resume::LABELS,
            |i| self.resumes.get(i),
        );
        self.render_http(&mut out);
        self.render_files(&mut out);
        process::render(&mut out);
        out
    }

    /// Only the statuses a route has answered with: the rest would be
    /// thousands of zeros.
    fn render_http(&self, out: &mut String) {
        let name = "natter_http_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Web requests answered, by route and status.\n# TYPE {name} counter"
        );
        for (r, route) in Route::LABELS.iter().enumerate() {
            for status in 0..STATUSES {
                let value = self.http.0.get(r * STATUSES + status);
                if value > 0 {
                    let code = status + 100;
                    let _ = writeln!(out, "{name}{{route=\"{route}\",code=\"{code}\"}} {value}");
                }
            }
        }
    }

    /// File sizes, read now from the files' metadata; the media folder's is
    /// the running figure its store keeps (see `MediaStore::bytes`).
    fn render_files(&self, out: &mut String) {
        let Some(files) = self.files.get() else {
            return;
        };
        let size = |path: Option<PathBuf>| {
            path.and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len())
        };
        let db = files.db.clone();
        let wal = files.db.as_ref().map(|db| {
            let mut wal = db.clone().into_os_string();
            wal.push("-wal");
            PathBuf::from(wal)
        });
        let sizes = [
            (
                "natter_db_size_bytes",
                "The database file (0 in memory).",
                size(db),
            ),
            (
                "natter_wal_size_bytes",
                "The database's write-ahead log (0 in memory).",
                size(wal),
            ),
            (
                "natter_media_bytes",
                "The files in the media folder.",
                files.media.bytes(),
            ),
        ];
        for (name, help, value) in sizes {
            scalar(out, name, "gauge", help, value);
        }
    }
}

/// One metric without labels.
fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// A counter with one closed label: every value, zeros too, so a rate is
/// defined before the first event.
fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
    count: impl Fn(usize) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (i, value) in values.iter().enumerate() {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {}", count(i));
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

    /// Every figure bumped at least once, so every labelled line shows.
    fn busy() -> Metrics {
        let m = Metrics::default();
        m.hub_pass.observe(Duration::from_micros(40));
        m.commit.observe(Duration::from_millis(2));
        for code in ErrorCode::ALL {
            m.refused(code);
        }
        for i in 0..CLOSE_LABELS.len() {
            m.closes.add(i, 1);
        }
        m.committed(EventKind::Edit, 2);
        m.resumed(Resume::Gap);
        m.answered(Route::of("/r/kitchen"), 200);
        m.answered(Route::of("/upload/kitchen"), 413);
        m.answered(Route::of("/m/u_0123.png"), 206);
        m.answered(Route::of("/wp-admin.php"), 404);
        m
    }

    #[test]
    fn no_line_carries_a_room_or_user_label() {
        let out = busy().render();
        let allowed = ["le", "code", "kind", "result", "route", "version"];
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let Some((_, labels)) = line.split_once('{') else {
                continue;
            };
            let labels = labels.split_once('}').expect("labels are closed").0;
            for pair in labels.split(',') {
                let name = pair.split_once('=').expect("name=value").0;
                assert!(allowed.contains(&name), "label {name} in {line}");
            }
            assert!(!line.contains("kitchen"), "a room name leaked: {line}");
        }
        // Routes are fixed labels, never the raw path.
        assert!(out.contains("route=\"page\",code=\"200\"} 1\n"), "{out}");
        assert!(out.contains("route=\"upload\",code=\"413\"} 1\n"), "{out}");
        assert!(out.contains("route=\"other\",code=\"404\"} 1\n"), "{out}");
    }

    #[test]
    fn every_metric_has_help_and_type_before_its_samples() {
        let out = busy().render();
        let mut typed: Vec<(String, String)> = Vec::new();
        let mut helped: Vec<String> = Vec::new();
        for line in out.lines() {
            let words: Vec<&str> = line.splitn(4, ' ').collect();
            match words.as_slice() {
                ["#", "HELP", name, _] => helped.push(name.to_string()),
                ["#", "TYPE", name, kind] => typed.push((name.to_string(), kind.to_string())),
                _ => {
                    let name = line.split(['{', ' ']).next().unwrap();
                    let family = typed.iter().rev().find(|(family, kind)| {
                        name == family
                            || (kind == "histogram"
                                && ["_bucket", "_sum", "_count"]
                                    .iter()
                                    .any(|s| name.strip_suffix(s) == Some(family.as_str())))
                    });
                    let (family, _) = family.unwrap_or_else(|| panic!("no TYPE for {line}"));
                    assert!(helped.contains(family), "no HELP for {line}");
                }
            }
        }
        for (name, _) in &typed {
            assert_eq!(typed.iter().filter(|(n, _)| n == name).count(), 1, "{name}");
        }
        assert!(typed.iter().any(|(n, _)| n == "process_open_fds"), "{out}");
        assert!(out.contains("natter_requests_refused_total{code=\"storage_failed\"} 1\n"));
        assert!(out.contains("natter_connections_closed_total{code=\"1008\"} 1\n"));
        assert!(out.contains("natter_events_committed_total{kind=\"edit\"} 2\n"));
        assert!(out.contains("natter_resumes_total{result=\"gap\"} 1\n"));
    }

    #[test]
    fn close_codes_and_routes_map_to_their_labels() {
        assert_eq!(CLOSE_LABELS[close_index(1008)], "1008");
        assert_eq!(CLOSE_LABELS[close_index(4000)], "other");
        assert_eq!(CLOSE_LABELS[CLOSE_BY_PEER], "peer");
        let route = |p| Route::LABELS[Route::of(p) as usize];
        assert_eq!(route("/login"), "login");
        assert_eq!(route("/assets/app.js"), "asset");
        assert_eq!(route("/export/kitchen"), "export");
        assert_eq!(route("/u/alice"), "account");
        assert_eq!(route("/healthz"), "healthz");
    }
}
