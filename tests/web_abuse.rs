//! The web port (tiny_http) under abuse: a lying `Content-Length`, a slow or
//! absurd body, must not take the page workers away from everyone else.
//!
//! tiny_http reads a body of up to 1 KiB before natter sees the request; any
//! larger body is still in the socket, and reading it waits for the client
//! (up to `WEB_READ_TIMEOUT` per read). natter answers such requests on
//! threads of their own, so more of them than there are page workers leave the
//! pages working. natter's patched tiny_http also refuses oversized heads and
//! closes connections that go silent.

use natter_testkit as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use natter::config::{
    MAX_FORM_BYTES, WEB_HEAD_TIMEOUT, WEB_MAX_HEAD_BYTES, WEB_READ_TIMEOUT, WEB_WORKERS,
};

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

/// Two users in the lobby exchange a message both ways.
fn check(pair: &mut (common::Client, common::Client), text: &str) {
    common::exchange(&mut pair.0, &mut pair.1, text);
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
                    "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
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
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n",
            b"",
        );
        assert_eq!(status(&mut s), 413, "refused before the body is read");
        // Keep the body coming, a little at a time. tiny_http reads it as the
        // head of the next request and closes the connection with 431 once
        // that passes WEB_MAX_HEAD_BYTES, so writes may start failing; either
        // way, no page worker waits for it.
        let _ = s.write_all(&[b'x'; 64 * 1024]);
        senders.push(s);
    }
    for round in 0..3 {
        for s in &mut senders {
            let _ = s.write_all(&[b'x'; 16 * 1024]);
        }
        assert_eq!(server.get("/healthz", None).status, 200);
        check(&mut pair, &format!("round {round}"));
    }
}

#[test]
fn an_absurd_content_length_costs_no_page_worker() {
    // tiny_http discards an unread body with a buffer of the announced size;
    // for usize::MAX that panics ("capacity overflow"). Each panic used to end a
    // page worker for good. (A GET with a body is refused before natter sees
    // it, so this is a DELETE: answered by a page worker, its body unread.)
    let server = common::start();
    let mut pair = server.pair();
    for _ in 0..2 * WEB_WORKERS {
        let mut s = send(
            server.web,
            "DELETE /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Length: 18446744073709551615\r\n\r\n",
            b"",
        );
        assert_eq!(status(&mut s), 404);
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
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n"
            );
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

/// Upstream tiny_http read header lines of any length into memory (100 MiB of
/// header cost 215 MiB). The patched one stops at `WEB_MAX_HEAD_BYTES`.
#[test]
fn an_oversized_request_head_is_refused_with_431() {
    let server = common::start();
    let mut pair = server.pair();
    let cookie = "x".repeat(WEB_MAX_HEAD_BYTES);
    let mut big = send(
        server.web,
        &format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n"),
        b"",
    );
    assert_eq!(status(&mut big), 431);
    // A head just under the limit is fine.
    let cookie = "x".repeat(WEB_MAX_HEAD_BYTES - 100);
    let mut fits = send(
        server.web,
        &format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n"),
        b"",
    );
    assert_eq!(status(&mut fits), 200);
    check(&mut pair, "after a big head");
}

/// A connection that sends nothing used to hold a tiny_http thread for as
/// long as the client liked. Now one that never starts a request is closed,
/// unanswered, once it has been silent for `WEB_READ_TIMEOUT`; one that
/// started a request and went quiet gets 408 when the request's time is up
/// (`WEB_HEAD_TIMEOUT`, see tests/web_slowloris.rs for a trickling one).
#[test]
fn silent_connections_are_closed() {
    let server = common::start();
    let idle = TcpStream::connect(server.web).expect("the web port accepts");
    let half = send(
        server.web,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        b"",
    );
    for (mut silent, answer) in [(idle, ""), (half, "HTTP/1.1 408")] {
        silent
            .set_read_timeout(Some(
                WEB_READ_TIMEOUT.max(WEB_HEAD_TIMEOUT) + common::DEADLINE,
            ))
            .unwrap();
        let mut got = Vec::new();
        silent
            .read_to_end(&mut got)
            .expect("closed by the server, not timed out here");
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with(answer), "{got:?}");
        assert_eq!(got.is_empty(), answer.is_empty(), "{got:?}");
    }
    // A page still loads.
    assert_eq!(server.get("/healthz", None).status, 200);
}

/// Send `head` (and the bytes after it) and read everything until the server
/// closes the connection, within the deadline.
fn answer_and_close(web: SocketAddr, raw: &[u8]) -> String {
    let mut stream = send(web, "", raw);
    let mut got = Vec::new();
    stream
        .read_to_end(&mut got)
        .expect("the server answers and closes before the deadline");
    String::from_utf8_lossy(&got).into_owned()
}

/// A `GET` or `HEAD` has no body. One that announces a body used to be
/// answered while the body waited in the socket (a chunked `GET` even took
/// one of the threads meant for login bodies); now it is refused with 400
/// and its connection closed, so what follows is never read as a request.
#[test]
fn a_get_or_head_with_a_body_is_refused_and_closed() {
    let server = common::start();
    let mut pair = server.pair();
    let smuggled = "GET /r/lobby HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for head in [
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n",
    ] {
        let body = format!("5\r\nhello\r\n0\r\n\r\n{smuggled}");
        let answer = answer_and_close(server.web, format!("{head}{body}").as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{head:?}: {answer}");
        assert!(answer.contains("may not carry a body"), "{answer}");
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "one answer, then closed"
        );
    }
    // A GET with an empty body is a plain GET.
    let plain = answer_and_close(
        server.web,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert_eq!(server.get("/healthz", None).status, 200);
    check(&mut pair, "after the bodies that should not be");
}

/// Headers that could mean two different bodies are how requests are smuggled
/// past a proxy: the proxy reads one body, natter another, and the bytes in
/// between become a request nobody checked. Each is refused with 400 and the
/// connection closed before anything after the head is read as a request.
#[test]
fn ambiguous_body_framing_is_refused_and_closed() {
    let server = common::start();
    let mut pair = server.pair();
    let post = "POST /logout HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (headers, why) in [
        (
            "Content-Length: 0\r\nContent-Length: 44\r\n",
            "one Content-Length",
        ),
        (
            "Content-Length: 44\r\nContent-Length: 44\r\n",
            "one Content-Length",
        ),
        (
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "not both",
        ),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "not both",
        ),
        ("Transfer-Encoding: gzip, chunked\r\n", "chunked"),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "chunked",
        ),
        ("Content-Length: +5\r\n", "decimal"),
        ("Content-Length: 5, 5\r\n", "decimal"),
    ] {
        let raw = format!("{post}{headers}\r\n0\r\n\r\n{smuggled}");
        let answer = answer_and_close(server.web, raw.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{headers:?}: {answer}");
        assert!(answer.contains(why), "{headers:?}: {answer}");
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "{headers:?}: {answer}"
        );
    }
    assert_eq!(server.get("/healthz", None).status, 200);
    check(&mut pair, "after the smugglers");
}
