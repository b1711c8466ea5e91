//! The web port (tiny_http) under abuse: a lying `Content-Length`, a slow or
//! absurd body, must not take the page workers away from everyone else.
//!
//! tiny_http reads a body of up to 1 KiB before natter sees the request; any
//! larger body is still in the socket, and both reading it and tiny_http's
//! discarding of the unread rest (when the request is dropped) wait for the
//! client with no timeout. natter answers such requests on threads of their
//! own, so more of them than there are page workers leave the pages working.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use natter::config::{MAX_FORM_BYTES, WEB_WORKERS};

/// Open a connection and send `head` and `body`, keeping the socket open.
fn send(web: SocketAddr, head: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(web).expect("the web port accepts");
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream
}

/// Read up to the end of the status line (within the deadline) and return the
/// status code.
fn status(stream: &mut TcpStream) -> u16 {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n") && seen.len() < 200 {
        match stream.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            other => panic!("no status line before the deadline: {other:?} after {seen:?}"),
        }
    }
    let line = String::from_utf8_lossy(&seen);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"))
}

/// Two users in the lobby; `check` makes them exchange a message both ways.
fn check(pair: &mut (common::Client, common::Client), text: &str) {
    let (alice, bob) = pair;
    alice.say("lobby", text);
    assert_eq!(bob.recv_message()["text"], text);
    assert_eq!(alice.recv_message()["text"], text);
    bob.say("lobby", &format!("re: {text}"));
    assert_eq!(alice.recv_message()["text"], format!("re: {text}"));
    assert_eq!(bob.recv_message()["text"], format!("re: {text}"));
}

#[test]
fn lying_content_length_does_not_hold_the_page_workers() {
    let server = common::start();
    let mut pair = server.pair();
    let partial = b"name=mallory&room=x";
    let mut held = Vec::new();
    // Twice as many liars as page workers, of two kinds: a body announced as
    // 1 GB, and one within the form limit (so natter must read it) but over
    // tiny_http's 1 KiB in-memory threshold. Each sends a few bytes and waits.
    for announced in [1_000_000_000usize, MAX_FORM_BYTES] {
        for _ in 0..WEB_WORKERS {
            held.push(send(
                server.web,
                &format!(
                    "POST /login HTTP/1.1\r\nHost: x\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {announced}\r\n\r\n"
                ),
                partial,
            ));
        }
    }
    // An announced body over the limit is refused at once, unread.
    for liar in held.iter_mut().take(WEB_WORKERS) {
        assert_eq!(status(liar), 413);
    }
    // Everyone else still gets pages and can log in.
    let health = server.get("/healthz", None);
    assert_eq!(health.status, 200);
    assert_eq!(server.get("/", None).status, 200);
    let carol = server.login("carol", "lobby");
    assert!(!carol.is_empty());
    check(&mut pair, "still here with liars connected");
    drop(held);
    assert_eq!(server.get("/healthz", None).status, 200);
    check(&mut pair, "and after they left");
}

#[test]
fn a_body_sent_slowly_after_the_refusal_holds_no_page_worker() {
    let server = common::start();
    let mut pair = server.pair();
    let mut senders = Vec::new();
    for _ in 0..2 * WEB_WORKERS {
        let mut s = send(
            server.web,
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
            b"",
        );
        assert_eq!(status(&mut s), 413, "refused before the body is read");
        // tiny_http now discards the announced body as it comes in; keep it
        // coming, a little at a time.
        s.write_all(&[b'x'; 64 * 1024]).unwrap();
        senders.push(s);
    }
    for round in 0..3 {
        for s in &mut senders {
            s.write_all(&[b'x'; 16 * 1024]).unwrap();
        }
        assert_eq!(server.get("/healthz", None).status, 200);
        check(&mut pair, &format!("round {round}"));
    }
}

#[test]
fn an_absurd_content_length_costs_no_page_worker() {
    // tiny_http discards an unread body with a buffer of the announced size;
    // for usize::MAX that panics ("capacity overflow"). Each panic used to end a
    // page worker for good.
    let server = common::start();
    let mut pair = server.pair();
    for _ in 0..2 * WEB_WORKERS {
        let mut s = send(
            server.web,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Length: 18446744073709551615\r\n\r\n",
            b"",
        );
        assert_eq!(status(&mut s), 200);
    }
    for _ in 0..2 * WEB_WORKERS {
        assert_eq!(server.get("/healthz", None).status, 200);
    }
    check(&mut pair, "the workers are all still there");
}

/// One request announcing more body than the machine could ever allocate used
/// to abort the whole process, chat included: tiny_http allocated a buffer of
/// the announced size to discard the unread body. natter's patched tiny_http
/// (see .vendor/README.md) allocates nothing. A separate process, so that a
/// regression is a failed test rather than a dead test runner.
#[test]
fn a_huge_content_length_does_not_kill_the_process() {
    let mut natter = common::Binary::start(&["--rate-limit", "off"]);
    let server = natter.server();
    let mut pair = server.pair();
    for length in [64u64 << 30, 1 << 62, u64::MAX] {
        for path in ["/healthz", "/login"] {
            let head =
                format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
            let mut liar = send(server.web, &head, b"a little");
            let answered = status(&mut liar);
            assert!(answered >= 400, "{path} with {length}: {answered}");
            drop(liar);
        }
        assert!(
            natter.exited().is_none(),
            "Content-Length {length} killed natter"
        );
        check(&mut pair, &format!("after {length}"));
    }
    assert_eq!(server.get("/healthz", None).status, 200);
}
