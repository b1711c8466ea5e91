//! Exports are streamed on threads of their own, at most `--max-exports` at
//! once and one per session, so downloading transcripts cannot take the
//! pages (or the chat) away from anyone; and the plain-text transcript cannot
//! be made to show a line nobody wrote.

use natter_testkit as common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use common::TestServer;
use natter::config::{EXPORT_RETRY_AFTER, MAX_EXPORTS};

/// Start an export of #Big with a small receive buffer and read only its
/// status line: the server then writes until the socket is full and waits,
/// its export slot held, for as long as this stream is open.
fn held_export(server: &TestServer, token: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&server.web.into())
        .expect("the web port accepts");
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    write!(
        stream,
        "GET /export/Big HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: natter_session={token}\r\n\r\n",
        server.web.port()
    )
    .unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).expect("a status line"), 1);
        line.push(byte[0]);
    }
    assert!(
        line.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&line)
    );
    stream
}

#[test]
fn exports_are_capped_per_session_and_in_all_while_pages_still_load() {
    let dir = common::TempDir::new("export-caps");
    let db = dir.file("natter.db");
    // 10 MB: more than the kernel buffers between a stalled reader and the
    // server hold, so an export that is not read stays running.
    common::seed_room(&db, "Big", common::long_history(2_500, 4_000));
    // Stalled readers are not timed out during this test (see below).
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.web_write_timeout = 10 * common::DEADLINE;
    });
    let mut pair = server.pair();
    let readers: Vec<String> = (1..=3)
        .map(|i| server.login(&format!("reader{i}"), "Big"))
        .collect();
    assert_eq!(MAX_EXPORTS, 2, "this test fills the default cap");

    let first = held_export(&server, &readers[0]);
    // The same session again: 429, saying why and when to retry.
    let again = server.get("/export/Big", Some(&readers[0]));
    assert_eq!(again.status, 429, "{}", again.body);
    assert!(again.body.contains("1 at a time"), "{}", again.body);
    let retry = EXPORT_RETRY_AFTER.as_secs().to_string();
    assert_eq!(again.header("retry-after"), Some(retry.as_str()));

    let second = held_export(&server, &readers[1]);
    // A third session while two run: 503, naming the limit.
    let busy = server.get("/export/Big?format=json", Some(&readers[2]));
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert!(
        busy.body.contains("2 exports") && busy.body.contains("--max-exports"),
        "{}",
        busy.body
    );
    assert_eq!(busy.header("retry-after"), Some(retry.as_str()));

    // The exports hold no page worker: pages, logins and the chat go on.
    for _ in 0..3 {
        assert_eq!(server.get("/healthz", None).status, 200);
        assert_eq!(server.get("/r/lobby", Some(&readers[2])).status, 200);
    }
    server.login("latecomer", "lobby");
    common::exchange(&mut pair.0, &mut pair.1, "exports are running");

    // When a reader goes away, its slot is given back.
    drop(first);
    let deadline = Instant::now() + common::DEADLINE;
    let done = loop {
        let attempt = server.get("/export/Big?format=json", Some(&readers[2]));
        if attempt.status == 200 {
            break attempt;
        }
        assert_eq!(attempt.status, 503, "{}", attempt.body);
        assert!(Instant::now() < deadline, "the slot was never given back");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let value: serde_json::Value = serde_json::from_str(&done.body).expect("a whole JSON export");
    assert_eq!(value["messages"].as_array().map(Vec::len), Some(2_500));
    assert_eq!(value["room"], "Big");
    drop(second);
}

/// Chat text may hold line breaks (and, stored by older versions, any control
/// character). In the plain-text transcript every message starts a line with
/// `[time] name:`; a line break inside a message used to start a line that
/// looked just like one. Now continuation lines are indented, and control and
/// bidi characters are replaced, so every line not starting with `[` belongs
/// to the message above.
#[test]
fn a_message_cannot_forge_a_line_of_the_plain_text_transcript() {
    let server = common::start();
    let token = server.login("mallory", "lobby");
    let mut mallory = server.connect().session(&token).open();
    mallory.recv_type("hello");
    mallory.join("lobby");
    let forged = "[2026-11-25 22:57:28] admin: the server moved, log in at evil.example";
    let texts = [
        format!("hi\n{forged}"),
        format!("crlf\r\n{forged}"),
        format!("a lone cr\r{forged}"),
        format!("line separator\u{2028}{forged}"),
        format!("paragraph separator\u{2029}{forged}"),
        "bidi \u{202e}]82:75:22 52-11-6202[ :nimda".to_string(),
        "a\ttab stays".to_string(),
    ];
    for text in &texts {
        mallory.say("lobby", text);
        mallory.recv_message();
    }
    let txt = server.get("/export/lobby", Some(&token));
    assert_eq!(txt.status, 200);
    let body = &txt.body;
    let lines: Vec<&str> = body.split('\n').collect();
    let starts = lines.iter().filter(|l| l.starts_with('[')).count();
    assert_eq!(starts, texts.len(), "one `[` line per message:\n{body}");
    for line in &lines {
        assert!(
            line.is_empty() || line.starts_with(['[', '#']) || line.starts_with("    "),
            "a line of its own: {line:?}"
        );
    }
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}')
    };
    assert!(!body.chars().any(unsafe_char), "{body:?}");
    // Nothing is lost: the text is there, indented or marked.
    assert!(
        body.contains(&format!("] mallory: hi\n    {forged}\n")),
        "{body}"
    );
    assert!(body.contains(&format!("] mallory: a lone cr\n    {forged}\n")));
    // (Control characters are refused when posted, `bad_text`; text stored
    // before that rule is made inert the same way: see the unit tests in
    // `web/transcript.rs`.)
    assert!(body.contains("] mallory: a\ttab stays\n"));
    // The JSON export keeps the text exactly as posted (a carriage return
    // is posted as the newline it means).
    let json = server.get("/export/lobby?format=json", Some(&token));
    let value: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let posted: Vec<String> = texts
        .iter()
        .map(|t| t.replace("\r\n", "\n").replace('\r', "\n"))
        .collect();
    let sent: Vec<&str> = posted.iter().map(String::as_str).collect();
    let got: Vec<&str> = value["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(got, sent);
}

/// An export's length is unknown until it ends, so it is sent in chunks.
/// tiny_http let a client ask for no chunks (`TE: identity`) and then read
/// the whole body into memory to announce its length.
#[test]
fn a_client_cannot_make_the_server_hold_a_whole_export() {
    let server = common::start();
    for (i, te) in ["identity", "identity;q=1, chunked;q=0", "gzip"].iter().enumerate() {
        // A session each: the export before may still hold its session's one
        // slot for a moment after its last byte was read.
        let token = server.login(&format!("alice{i}"), "lobby");
        let page = server.request(
            "GET",
            "/export/lobby",
            &[
                format!("Cookie: natter_session={token}"),
                format!("TE: {te}"),
            ],
            b"",
        );
        assert_eq!(page.status, 200, "TE: {te}");
        assert_eq!(
            page.header("transfer-encoding"),
            Some("chunked"),
            "TE: {te}"
        );
        assert!(page.header("content-length").is_none(), "TE: {te}");
        assert!(page.body.starts_with("# natter transcript of #lobby"));
    }
    // HTTP/1.0 has no chunks: an export says it needs HTTP/1.1.
    let token = server.login("bob", "lobby");
    let mut old = TcpStream::connect(server.web).unwrap();
    old.set_read_timeout(Some(common::DEADLINE)).unwrap();
    write!(
        old,
        "GET /export/lobby HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: natter_session={token}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    old.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 505"), "{answer}");
    assert!(answer.contains("needs HTTP/1.1"), "{answer}");
}

/// A reader that stops reading used to hold its export, and its slot, for as
/// long as it kept the connection open: two of them stopped every export.
/// A write that waits `web_write_timeout` for the client ends the answer.
#[test]
fn a_reader_that_stops_reading_loses_its_export_slot() {
    let dir = common::TempDir::new("export-stall");
    let db = dir.file("natter.db");
    common::seed_room(&db, "Big", common::long_history(2_500, 4_000));
    let write_timeout = std::time::Duration::from_secs(1);
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.max_exports = 1;
        c.web_write_timeout = write_timeout;
    });
    let stalled_reader = server.login("stalled", "Big");
    let patient_reader = server.login("patient", "Big");
    let stalled = held_export(&server, &stalled_reader);
    let deadline = Instant::now() + write_timeout + common::DEADLINE;
    let mut refused = 0;
    loop {
        let attempt = server.get("/export/Big", Some(&patient_reader));
        if attempt.status == 200 {
            assert_eq!(
                attempt.body.lines().filter(|l| l.starts_with('[')).count(),
                2_500
            );
            break;
        }
        assert_eq!(attempt.status, 503, "{}", attempt.body);
        refused += 1;
        assert!(
            Instant::now() < deadline,
            "the stalled export kept its slot"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        refused > 0,
        "the stalled export held the only slot for a while"
    );
    drop(stalled);
}
