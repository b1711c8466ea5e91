//! The server's clocks: a handshake that stalls is dropped after
//! `handshake_timeout`, and stalled handshakes never delay anyone else's; the
//! server pings every `ping_interval`, and a peer that answers (pongs count)
//! stays; a peer that sends nothing at all is dropped after `idle_timeout` and
//! its leave notice is posted; a peer whose socket takes no bytes is dropped
//! after `write_stall_timeout` while a bystander pair chats on.
//!
//! The timeouts are shortened through `Config`, so the test takes seconds.

use natter_testkit as common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Client;
use serde_json::{json, Value};
use tungstenite::Message;

/// Wait until the server ends this raw connection: EOF or reset, not a read
/// timeout. Whatever the server sent first is skipped.
fn ended_by_server(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true, // reset
        }
    }
}

/// Whether the server still holds this raw connection open (nothing to read,
/// no EOF), checked without waiting.
fn still_open(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let open = matches!(stream.peek(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

/// alice and bob in the lobby, trading a line each way.
fn chat(alice: &mut Client, bob: &mut Client, text: &str) {
    alice.say("lobby", text);
    assert_eq!(bob.recv_message()["text"], text);
    assert_eq!(alice.recv_message()["text"], text);
    bob.say("lobby", text);
    assert_eq!(alice.recv_message()["text"], text);
    assert_eq!(bob.recv_message()["text"], text);
}

#[test]
fn a_stalled_handshake_is_dropped_after_the_handshake_timeout() {
    let server = common::start_with(|c| c.handshake_timeout = Duration::from_secs(1));
    let stalls: [&[u8]; 3] = [
        b"",                                           // connects, says nothing
        b"GET /ws HTT",                                // half a request line
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg", // headers, never finished
    ];
    for bytes in stalls {
        let started = Instant::now();
        let mut stream = TcpStream::connect(server.ws).unwrap();
        stream.write_all(bytes).unwrap();
        assert!(
            ended_by_server(&mut stream),
            "{:?}: still open after the deadline",
            String::from_utf8_lossy(bytes)
        );
        let took = started.elapsed();
        println!(
            "stalled handshake {:?} dropped after {took:?}",
            String::from_utf8_lossy(bytes)
        );
        // Not before the timeout: it was the clock, not the bytes, that ended it.
        assert!(
            took >= Duration::from_millis(950),
            "dropped early: {took:?}"
        );
    }
    // The server is fine.
    let (mut alice, mut bob) = server.pair();
    chat(&mut alice, &mut bob, "after the stalls");
}

#[test]
fn stalled_handshakes_never_delay_other_handshakes() {
    // A long timeout, so the stalls are certainly still stalling throughout.
    let server = common::start_with(|c| c.handshake_timeout = Duration::from_secs(60));
    let mut stalls = Vec::new();
    for i in 0..20 {
        // Each from an address of its own: one address may only have so many
        // unfinished handshakes (see tests/slot_hogs.rs).
        let mut stream = server.connect().from(&format!("127.0.0.{}", i + 2)).tcp();
        let bytes: &[u8] = match i % 3 {
            0 => b"",
            1 => b"GET /ws HTT",
            _ => b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg",
        };
        stream.write_all(bytes).unwrap();
        stalls.push(stream);
    }
    // Everyone else gets in and chats, several times over.
    let (mut alice, mut bob) = server.pair();
    for i in 0..5 {
        let mut carol = server.user(&format!("carol{i}"));
        carol.join("side");
        carol.say("side", "hi");
        assert_eq!(carol.recv_message()["text"], "hi");
        chat(&mut alice, &mut bob, &format!("round {i}"));
    }
    let open = stalls.iter().filter(|s| still_open(s)).count();
    assert_eq!(open, 20, "the stalls were stalling all along");
}

#[test]
fn the_server_pings_and_a_peer_that_pongs_stays() {
    let server = common::start_with(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_secs(1);
    });
    let mut alice = server.user("alice");
    alice.join("lobby");
    // alice only reads (tungstenite answers each ping with a pong) for three
    // idle timeouts, and says nothing herself.
    let until = Instant::now() + Duration::from_secs(3);
    let mut pings = 0;
    while Instant::now() < until {
        match alice.socket.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(Message::Close(frame)) => panic!("alice was closed: {frame:?}"),
            Ok(_) => {}
            Err(err) => panic!("alice's connection failed: {err}"),
        }
    }
    println!("alice got {pings} pings in 3 s (one every 200 ms expected)");
    assert!(pings >= 3, "the server pings: {pings} pings in 3 s");
    // Pongs count: alice is still connected after three idle timeouts.
    let mut bob = server.user("bob");
    bob.join("lobby");
    chat(&mut alice, &mut bob, "still here");
}

#[test]
fn a_silent_peer_is_dropped_after_the_idle_timeout_and_its_leave_is_posted() {
    let server = common::start_with(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_secs(1);
    });
    let (mut alice, mut bob) = server.pair();
    // "mute" completes the handshake and joins over a raw socket, then never
    // sends another byte: no pongs either.
    let token = server.login("mute", "lobby");
    let mut mute = server.connect().session(&token).raw();
    mute.write_all(&common::text_frame(
        &json!({"type": "join", "room": "lobby"}),
    ))
    .unwrap();
    loop {
        let frame = common::read_frame(&mut mute).expect("frames before joined");
        if frame.json().is_some_and(|v| v["type"] == "joined") {
            break;
        }
    }
    let silent_since = Instant::now();

    // alice and bob chat (and pong) meanwhile; alice watches for mute leaving.
    let mut leaves = Vec::new();
    let mut last_presence = Value::Null;
    let mut round = 0;
    while leaves.is_empty() {
        assert!(
            silent_since.elapsed() < common::DEADLINE,
            "the silent peer was never dropped"
        );
        round += 1;
        let text = format!("round {round}");
        alice.say("lobby", &text);
        loop {
            let event: Value = bob.recv();
            if event["type"] == "message" && event["text"] == text.as_str() {
                break;
            }
        }
        loop {
            let event: Value = alice.recv();
            if event["type"] == "system" && event["event"] == "leave" {
                leaves.push(event["user"].clone());
            }
            if event["type"] == "presence" {
                last_presence = event["members"].clone();
            }
            if event["type"] == "message" && event["text"] == text.as_str() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = silent_since.elapsed();
    println!("silent peer's leave notice after {took:?} (idle timeout 1 s, grace 300 ms)");
    assert_eq!(leaves, [json!("mute")], "one leave notice, mute's");
    assert!(
        took >= Duration::from_millis(950),
        "dropped early: {took:?}"
    );
    assert!(ended_by_server(&mut mute), "the server hung up on mute");
    // alice and bob, who answered every ping, are still here.
    // mute is out of the member list (which may follow the notice a little
    // later: presence is coalesced).
    let deadline = Instant::now() + common::DEADLINE;
    while last_presence != json!(["alice", "bob"]) {
        assert!(
            Instant::now() < deadline,
            "mute is still in the member list: {last_presence}"
        );
        let event = alice.recv();
        if event["type"] == "presence" {
            last_presence = event["members"].clone();
        }
    }
    chat(&mut alice, &mut bob, "after mute left");
}

#[test]
fn a_peer_whose_socket_takes_nothing_is_dropped_after_the_write_stall_timeout() {
    // A queue far too big to overflow in this test, so only the stall timer
    // can drop `stuck`; messages are paced so that the queue's chunk bound
    // (256, one per hub pass) is not reached within one stall timeout either.
    let server = common::start_with(|c| {
        c.write_stall_timeout = Duration::from_secs(1);
        c.max_outbox_bytes = 512 * 1024 * 1024;
    });
    let (mut alice, mut bob) = server.pair();
    let mut stuck = server.user("stuck");
    stuck.join("lobby");
    // `stuck` never reads again from here on.

    // 12 KB of UTF-8 per message, the most a message may take (with its
    // "00001 " number, just under MAX_TEXT_BYTES).
    let filler = "👋".repeat(2990);
    let started = Instant::now();
    let sent = common::numbered_until_left(
        &mut alice,
        &mut bob,
        "stuck",
        &filler,
        3000,
        Duration::from_millis(15),
    );
    println!(
        "stuck dropped after {sent} messages ({} MB) in {:?}",
        sent as usize * filler.len() / 1_000_000,
        started.elapsed()
    );
    // The bystanders carry on.
    chat(&mut alice, &mut bob, "life goes on");

    // What stuck finds when it finally reads: a prefix, in order, then the end.
    let (last, end) = common::read_numbered_to_end(&mut stuck);
    if let Some(code) = end {
        assert_eq!(code, Some(1008), "closed with {code:?}");
    }
    println!("stuck had received {last} of {sent} messages");
    assert!(last < sent, "the stalled peer did not get everything");
    // Each message was its own hub pass, so its own chunk in stuck's queue.
    // Had the queue's 256-chunk bound dropped stuck ("slow consumer") rather
    // than the stall timer, at least 256 would have been left undelivered.
    assert!(
        sent - last < 256,
        "dropped by the stall timer, not the queue bound: {} undelivered",
        sent - last
    );
}
