//! `--metrics ADDR` over real sockets: the counters move under real traffic
//! (logins, messages, a refused frame, an edit, an upload, a resume, a
//! close), and what a scrape returns is the Prometheus text format, as a
//! real parser of it (`prometheus-parse`) reads it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use natter_testkit::{self as common, TempDir, TestServer};
use prometheus_parse::{LineInfo, Scrape, Value};
use serde_json::json;

/// `GET /metrics`, its status, content type and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("the metrics listener accepts");
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, content_type.trim().to_string(), body.to_string())
}

/// One scrape, checked line by line and parsed.
fn scrape(addr: SocketAddr) -> Scrape {
    let (status, content_type, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4");
    // The parser skips what it cannot read: so every line is checked to be
    // one it reads, as a comment (HELP or TYPE) or as a sample with a value.
    for line in body.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } => {}
            LineInfo::Sample { value, .. } => {
                assert!(value.parse::<f64>().is_ok(), "a value in {line:?}")
            }
            other => panic!("{line:?} is not Prometheus text: {other:?}"),
        }
    }
    let parsed = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("it parses");
    let samples = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let buckets = body.lines().filter(|l| l.contains("_bucket{")).count();
    let histograms = parsed
        .samples
        .iter()
        .filter(|s| matches!(s.value, Value::Histogram(_)))
        .count();
    // A histogram's buckets are one sample to the parser; nothing else is lost.
    assert_eq!(parsed.samples.len(), samples - buckets + histograms);
    for sample in &parsed.samples {
        let family = ["_sum", "_count"]
            .iter()
            .find_map(|s| sample.metric.strip_suffix(s))
            .filter(|f| parsed.docs.contains_key(*f))
            .unwrap_or(&sample.metric);
        assert!(parsed.docs.contains_key(family), "no HELP for {family}");
        for label in ["room", "user", "uid", "name", "path"] {
            assert!(sample.labels.get(label).is_none(), "{label} on {family}");
        }
    }
    parsed
}

/// A sample's value: `labels` as (name, value) pairs, all of them matching.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(Value::Histogram(buckets)) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
        Some(other) => panic!("{metric}: {other:?}"),
        None => 0.0,
    }
}

/// Scrape until `done` holds (figures a pass bumps after the answer went out).
fn scrape_until(server: &TestServer, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let s = scrape(server.metrics.expect("--metrics"));
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} never showed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small PNG the upload's sniffer takes.
fn png() -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend([0; 4]);
        c
    };
    let mut ihdr = 4u32.to_be_bytes().to_vec();
    ihdr.extend(3u32.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(b"IDAT", b"some pixels"));
    out.extend(chunk(b"IEND", b""));
    out
}

#[test]
fn counters_move_under_traffic_and_the_text_parses() {
    let dir = TempDir::new("metrics-text");
    let server = common::start_with(|c| {
        c.db = dir.file("chat.db");
        c.metrics = Some("127.0.0.1:0".parse().unwrap());
    });
    let metrics = server.metrics.expect("the metrics listener's address");
    assert_ne!(metrics, server.web, "a listener of its own");
    assert_eq!(get(metrics, "/").0, 404);

    let before = scrape(metrics);
    let v = |s: &Scrape, m: &str, l: &[(&str, &str)]| value(s, m, l);
    assert!(v(&before, "natter_build_info", &[]) == 1.0);
    assert!(v(&before, "process_open_fds", &[]) > 0.0);
    assert!(v(&before, "process_max_fds", &[]) >= v(&before, "process_open_fds", &[]));
    assert!(v(&before, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(v(&before, "process_start_time_seconds", &[]) > 1.7e9);

    // Two people in #lobby; alice speaks, edits, and sends a frame that is
    // refused; she uploads a picture.
    let alice_token = server.login("alice", "lobby");
    let mut alice = server.connect().session(&alice_token).past_hello();
    alice.join("lobby");
    let bob_token = server.login("bob", "lobby");
    let mut bob = server.connect().session(&bob_token).past_hello();
    bob.join("lobby");
    alice.say("lobby", "hello bob");
    let message = bob.recv_message();
    let id = message["id"].as_u64().unwrap();
    alice.send(json!({"type": "edit", "room": "lobby", "id": id, "text": "hello, bob"}));
    bob.recv_type("edit");
    alice.send_raw("{not json");
    assert_eq!(alice.recv_type("error")["code"], "bad_json");
    let upload = server.request(
        "POST",
        "/upload/lobby",
        &[
            format!("Cookie: natter_session={alice_token}"),
            format!("Origin: {}", server.origin()),
            "X-Natter-Kind: image".to_string(),
            "X-Natter-Name: dot.png".to_string(),
            "Content-Type: application/octet-stream".to_string(),
        ],
        &png(),
    );
    assert_eq!(upload.status, 201, "{}", upload.body);
    assert_eq!(server.get("/nowhere/kitchen", None).status, 404);
    // Bob's tab drops, and comes back with `since`: what he missed is in
    // the cache.
    bob.drop_abruptly();
    let mut bob = server.connect().session(&bob_token).past_hello();
    bob.send(json!({"type": "join", "room": "lobby", "since": id}));
    bob.recv_type("joined");

    let after = scrape_until(&server, "bob's dropped connection", |s| {
        v(s, "natter_connections_closed_total", &[("code", "peer")]) >= 1.0
    });
    let moved = |m: &str, l: &[(&str, &str)]| {
        let (was, is) = (v(&before, m, l), v(&after, m, l));
        assert!(is > was, "{m}{l:?} did not move: {was} then {is}");
    };
    moved("natter_connections_opened_total", &[]);
    moved("natter_connections_closed_total", &[("code", "peer")]);
    moved("natter_events_committed_total", &[("kind", "message")]);
    moved("natter_events_committed_total", &[("kind", "edit")]);
    moved("natter_requests_refused_total", &[("code", "bad_json")]);
    moved("natter_resumes_total", &[("result", "cache")]);
    moved("natter_messages_total", &[]);
    moved("natter_deliveries_total", &[]);
    moved("natter_delivered_bytes_total", &[]);
    moved("natter_hub_events_total", &[]);
    moved("natter_hub_pass_seconds", &[]);
    moved("natter_commit_seconds", &[]);
    moved("natter_media_bytes", &[]);
    moved(
        "natter_http_requests_total",
        &[("route", "login"), ("code", "303")],
    );
    moved(
        "natter_http_requests_total",
        &[("route", "upload"), ("code", "201")],
    );
    moved(
        "natter_http_requests_total",
        &[("route", "other"), ("code", "404")],
    );
    assert_eq!(v(&after, "natter_connections", &[]), 2.0);
    assert!(v(&after, "natter_sessions", &[]) >= 2.0);
    assert!(v(&after, "natter_rooms_active", &[]) >= 1.0);
    assert!(v(&after, "natter_db_size_bytes", &[]) > 0.0);
    assert!(v(&after, "process_cpu_seconds_total", &[]) > 0.0);
    assert_eq!(
        v(
            &after,
            "natter_requests_refused_total",
            &[("code", "storage_failed")]
        ),
        0.0
    );
    // Only counters that moved: nothing named after a room or a path.
    let (_, _, text) = get(metrics, "/metrics");
    assert!(
        !text.contains("lobby") && !text.contains("nowhere"),
        "{text}"
    );

    // A close the server sends is counted by its code: at shutdown, 1001
    // to both (the metrics listener answers until the process ends).
    let going_away = |s: &Scrape| v(s, "natter_connections_closed_total", &[("code", "1001")]);
    assert_eq!(going_away(&after), 0.0);
    assert!(server.shutdown());
    drop((alice, bob));
    let last = scrape(metrics);
    assert_eq!(going_away(&last), 2.0);
    assert_eq!(v(&last, "natter_connections", &[]), 0.0);
}
