//! Nothing a client sends is free, and no frame one client can send at will
//! is queued to each member on its own: a burst of `typing` (which once
//! closed a whole room as slow consumers), pings, pongs or leaves gets the
//! sender refused and then closed, while everyone else in the room keeps
//! receiving everything.

use natter_testkit as common;

use std::io::Write;
use std::net::TcpStream;

use common::{Client, TestServer};
use serde_json::{json, Value};

/// A server with the default rate limits, trusting `X-Forwarded-For` so that
/// each test client can have an address of its own.
fn limited() -> TestServer {
    common::start_with(|c| {
        c.rate_limit = Some(natter::config::RATE_THRESHOLD);
        c.trust_proxy = true;
    })
}

/// mallory's raw socket, joined to the lobby, from an address of her own.
fn mallory(server: &TestServer) -> TcpStream {
    let token = server.login("mallory", "lobby");
    let mut stream = server
        .connect()
        .session(&token)
        .forwarded_for("198.51.100.66")
        .raw();
    stream
        .write_all(&common::text_frame(
            &json!({"type": "join", "room": "lobby"}),
        ))
        .unwrap();
    stream
}

/// bob and carol, in the lobby from addresses of their own.
fn bystanders(server: &TestServer) -> (Client, Client) {
    let mut bob = server.connect().forwarded_for("198.51.100.2").user("bob");
    let mut carol = server.connect().forwarded_for("198.51.100.3").user("carol");
    bob.join("lobby");
    carol.join("lobby");
    (bob, carol)
}

/// Everything `client` receives until `marker` arrives as a chat message.
fn until_marker(client: &mut Client, marker: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = client.recv();
        if event["type"] == "message" && event["text"] == marker {
            return seen;
        }
        seen.push(event);
    }
}

/// The close frame's reason, read past everything before it. (Its code alone
/// would not tell a flooder closed for its flood from one closed for not
/// reading the answers its flood earned.)
fn close_reason(stream: &mut TcpStream) -> String {
    loop {
        match common::read_frame(stream) {
            Ok(frame) if frame.opcode == 0x8 => {
                assert_eq!(frame.close_code(), Some(1008));
                return String::from_utf8_lossy(&frame.payload[2..]).into_owned();
            }
            Ok(_) => continue,
            Err(err) => panic!("no close frame: {err}"),
        }
    }
}

/// Send `frames` in one write, so that they reach the hub in one pass, then
/// check that the bystanders still chat and return why mallory was closed.
fn attack(server: &TestServer, frames: Vec<u8>) -> String {
    let (mut bob, mut carol) = bystanders(server);
    let mut stream = mallory(server);
    // Some of this may not be written: the server may close first.
    let _ = stream.write_all(&frames);
    let mallory_end = close_reason(&mut stream);
    for i in 0..3 {
        let marker = format!("still here {i}");
        carol.say("lobby", &marker);
        let seen = until_marker(&mut bob, &marker);
        let typing = seen.iter().filter(|e| e["type"] == "typing").count();
        assert!(
            typing <= 2,
            "mallory's typing is passed on coalesced: {typing}"
        );
        until_marker(&mut carol, &marker);
    }
    mallory_end
}

#[test]
fn a_typing_burst_closes_the_typist_not_the_room() {
    let server = limited();
    let typing = common::text_frame(&json!({"type": "typing", "room": "lobby"}));
    let end = attack(&server, typing.repeat(5000));
    assert_eq!(end, "rate limit exceeded", "the flooder is closed for it");
}

#[test]
fn a_few_typing_notices_pass_as_at_most_one_a_second() {
    let server = limited();
    let (mut bob, mut carol) = bystanders(&server);
    for _ in 0..20 {
        carol.send(json!({"type": "typing", "room": "lobby"}));
    }
    carol.say("lobby", "done");
    let seen = until_marker(&mut bob, "done");
    let typing: Vec<&Value> = seen.iter().filter(|e| e["type"] == "typing").collect();
    assert_eq!(typing.len(), 1, "{typing:?}");
    assert_eq!(typing[0]["user"], "carol");
}

#[test]
fn a_ping_flood_is_charged_and_closed() {
    let server = limited();
    let ping = common::masked_frame(0x89, b"x");
    assert_eq!(attack(&server, ping.repeat(5000)), "rate limit exceeded");
}

#[test]
fn a_pong_flood_is_charged_and_closed() {
    let server = limited();
    let pong = common::masked_frame(0x8A, b"x");
    assert_eq!(attack(&server, pong.repeat(5000)), "rate limit exceeded");
}

#[test]
fn a_leave_flood_is_charged_and_closed() {
    let server = limited();
    let leave = common::text_frame(&json!({"type": "leave", "room": "lobby"}));
    assert_eq!(attack(&server, leave.repeat(200)), "rate limit exceeded");
}

#[test]
fn typing_right_after_a_message_is_passed_on() {
    let server = limited();
    let (mut bob, mut carol) = bystanders(&server);
    carol.send(json!({"type": "typing", "room": "lobby"}));
    carol.say("lobby", "first");
    until_marker(&mut carol, "first");
    // Typing the next one at once, well within a second of the last notice.
    carol.send(json!({"type": "typing", "room": "lobby"}));
    carol.say("lobby", "second");
    until_marker(&mut bob, "first");
    let seen = until_marker(&mut bob, "second");
    assert_eq!(
        seen.iter().filter(|e| e["type"] == "typing").count(),
        1,
        "{seen:?}"
    );
}

#[test]
fn a_flooder_cannot_spend_or_close_its_neighbours_budget() {
    // Behind one NAT address: what mallory sends past her own budget costs
    // her alone, and the address's budget never closes anyone.
    let server = limited();
    let mut bob = server.connect().forwarded_for("198.51.100.9").user("bob");
    bob.join("lobby");
    let token = server.login("mallory", "lobby");
    let mut stream = server
        .connect()
        .session(&token)
        .forwarded_for("198.51.100.9")
        .raw();
    let junk = common::masked_frame(0x81, b"{not json");
    let _ = stream.write_all(&junk.repeat(500));
    assert_eq!(close_reason(&mut stream), "rate limit exceeded");
    for i in 0..10 {
        let text = format!("bob still here {i}");
        bob.say("lobby", &text);
        assert_eq!(bob.recv_message()["text"], text.as_str());
    }
    // And a classmate can still come in from that address.
    let mut carol = server.connect().forwarded_for("198.51.100.9").user("carol");
    carol.join("lobby");
}
