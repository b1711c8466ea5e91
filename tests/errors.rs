//! A bad request never breaks the chat: every error code in the README comes
//! back to the sender alone, with a message a person can read; the same
//! connection keeps working; a bystander in the room sees nothing of it. Only
//! what cannot be a chat frame at all (binary, over 64 KiB, not UTF-8) closes
//! the connection, with the documented close code, and the server serves on.

use natter_testkit as common;

use std::io::Write;

use common::{Client, TestServer};
use serde_json::{json, Value};
use tungstenite::Message;

/// alice (who will misbehave) and bob (who watches) in "lobby", with nothing
/// left to read on either side.
struct Scene {
    // Fields drop in order: the clients hang up before the server stops.
    alice: Client,
    bob: Client,
    server: TestServer,
    round: u32,
}

/// The next frame that is not a member list. Member lists of a room are sent
/// a moment after a join (they are spaced out in big rooms), so one may turn
/// up late; it says nothing about the request under test.
fn next_event(client: &mut common::Client) -> Value {
    loop {
        let event = client.recv();
        if event["type"] != "presence" {
            return event;
        }
    }
}

fn scene() -> Scene {
    scene_on(common::start())
}

fn scene_on(server: TestServer) -> Scene {
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    let mut scene = Scene {
        server,
        alice,
        bob,
        round: 0,
    };
    scene.sync();
    scene
}

impl Scene {
    /// alice says something and both read up to it: afterwards neither has
    /// anything unread.
    fn sync(&mut self) {
        self.round += 1;
        let text = format!("sync {}", self.round);
        self.alice.say("lobby", &text);
        while self.bob.recv_message()["text"] != text.as_str() {}
        while self.alice.recv_message()["text"] != text.as_str() {}
    }

    /// Send a bad frame and return the error it earns. Checks that the error is
    /// the very next thing alice gets, that it has a readable message, that
    /// alice can still chat, and that bob got nothing in between.
    fn refused(&mut self, frame: &str, code: &str) -> Value {
        self.alice.send_raw(frame);
        let error = next_event(&mut self.alice);
        assert_eq!(error["type"], "error", "answer to {frame:.80}: {error}");
        assert_eq!(error["code"], code, "answer to {frame:.80}: {error}");
        let message = error["message"].as_str().unwrap_or("");
        assert!(
            message.len() >= 10 && message.contains(' '),
            "a message a person can read: {error}"
        );
        self.still_works();
        error
    }

    /// alice's next message reaches bob, and is the next thing bob sees.
    fn still_works(&mut self) {
        self.round += 1;
        let text = format!("after {}", self.round);
        self.alice.say("lobby", &text);
        let echo = next_event(&mut self.alice);
        assert_eq!(
            (echo["type"].as_str(), echo["text"].as_str()),
            (Some("message"), Some(text.as_str())),
            "alice's connection still works: {echo}"
        );
        let seen = next_event(&mut self.bob);
        assert_eq!(
            (seen["type"].as_str(), seen["text"].as_str()),
            (Some("message"), Some(text.as_str())),
            "bob sees alice's next message and nothing before it: {seen}"
        );
    }
}

#[test]
fn invalid_json_is_bad_json() {
    let mut s = scene();
    for frame in [
        "{not json",
        "",
        "{\"type\":\"message\",",
        "nul",
        "{\"type\":\"join\",\"room\":\"lobby\"}}",
    ] {
        s.refused(frame, "bad_json");
    }
}

#[test]
fn json_that_is_not_a_typed_object_is_bad_request() {
    let mut s = scene();
    for frame in [
        "[1,2]",
        "\"join\"",
        "42",
        "null",
        "{}",
        r#"{"type":7}"#,
        r#"{"type":null,"room":"lobby"}"#,
        r#"{"kind":"message","room":"lobby","text":"hi"}"#,
    ] {
        s.refused(frame, "bad_request");
    }
}

#[test]
fn an_unknown_type_is_unknown_type_and_named() {
    let mut s = scene();
    let error = s.refused(r#"{"type":"dance","room":"lobby"}"#, "unknown_type");
    assert!(
        error["message"].as_str().unwrap().contains("dance"),
        "{error}"
    );
    // Types are exact: no case folding.
    s.refused(
        r#"{"type":"Message","room":"lobby","text":"hi"}"#,
        "unknown_type",
    );
    s.refused(r#"{"type":"hello"}"#, "unknown_type");
}

#[test]
fn a_missing_field_is_bad_field_and_named() {
    let mut s = scene();
    let error = s.refused(r#"{"type":"join"}"#, "bad_field");
    assert!(
        error["message"].as_str().unwrap().contains("room"),
        "{error}"
    );
    let error = s.refused(r#"{"type":"message","room":"lobby"}"#, "bad_field");
    assert!(
        error["message"].as_str().unwrap().contains("text"),
        "{error}"
    );
}

#[test]
fn a_field_of_the_wrong_type_is_bad_field_and_named() {
    let mut s = scene();
    let error = s.refused(r#"{"type":"message","room":"lobby","text":5}"#, "bad_field");
    assert!(
        error["message"].as_str().unwrap().contains("text"),
        "the message names the field: {error}"
    );
    let error = s.refused(r#"{"type":"join","room":["lobby"]}"#, "bad_field");
    assert!(
        error["message"].as_str().unwrap().contains("room"),
        "the message names the field: {error}"
    );
    let error = s.refused(
        r#"{"type":"join","room":"lobby","since":"41"}"#,
        "bad_field",
    );
    assert!(
        error["message"].as_str().unwrap().contains("since"),
        "the message names the field: {error}"
    );
}

#[test]
fn a_bad_room_name_is_bad_room() {
    let mut s = scene();
    let long = "r".repeat(65);
    for room in [
        "",
        "   ",
        "<script>",
        "a/b",
        "tab\there",
        long.as_str(),
        ".",
        "..",
        "lob\u{3164}by",
    ] {
        let frame = json!({"type": "join", "room": room}).to_string();
        let error = s.refused(&frame, "bad_room");
        assert_eq!(error["room"], room, "the error says which room: {error}");
    }
    // In a message too, and the message is not posted.
    let frame = json!({"type": "message", "room": "<b>", "text": "hi"}).to_string();
    s.refused(&frame, "bad_room");
    // 64 characters is a fine room.
    let room = "r".repeat(64);
    assert_eq!(s.alice.join(&room)["room"], room.as_str());
}

#[test]
fn an_empty_text_is_empty_text() {
    let mut s = scene();
    for text in ["", "   ", "\n\t "] {
        let frame = json!({"type": "message", "room": "lobby", "text": text}).to_string();
        let error = s.refused(&frame, "empty_text");
        assert_eq!(error["room"], "lobby");
    }
}

#[test]
fn a_text_over_4000_characters_is_text_too_long() {
    let mut s = scene();
    let frame = json!({"type": "message", "room": "lobby", "text": "x".repeat(4001), "client_id": "c-long"})
        .to_string();
    let error = s.refused(&frame, "text_too_long");
    assert!(
        error["message"].as_str().unwrap().contains("4000"),
        "the message names the limit: {error}"
    );
    assert_eq!(error["room"], "lobby");
    assert_eq!(error["client_id"], "c-long", "the page can mark it failed");
}

#[test]
fn a_text_of_4000_characters_in_any_script_is_accepted() {
    let mut s = scene();
    // Up to 3 bytes a character, every script fits the 4000 characters
    // within the 12,000 bytes; emoji are 4 bytes, so 3000 of them do.
    for text in [
        "x".repeat(4000),
        "é".repeat(4000),
        "李".repeat(4000),
        "क".repeat(4000),
        "👋".repeat(3000),
    ] {
        s.alice.say("lobby", &text);
        let got = next_event(&mut s.bob);
        assert_eq!(got["type"], "message", "{:.100}", got.to_string());
        assert_eq!(got["text"].as_str().unwrap(), text, "delivered whole");
        assert_eq!(s.alice.recv_message()["id"], got["id"]);
    }
    let frame = json!({"type": "message", "room": "lobby", "text": "👋".repeat(4001)}).to_string();
    s.refused(&frame, "text_too_long");
}

#[test]
fn a_text_over_12000_bytes_is_text_too_long_and_says_bytes() {
    let mut s = scene();
    // 3001 emoji: well under 4000 characters, but 12,004 bytes.
    let frame = json!({"type": "message", "room": "lobby", "text": "👋".repeat(3001), "client_id": "c-big"})
        .to_string();
    let error = s.refused(&frame, "text_too_long");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("12000 bytes"),
        "the message names the byte limit: {error}"
    );
    assert_eq!(error["client_id"], "c-big", "the page can mark it failed");
}

#[test]
fn a_text_with_a_control_character_is_bad_text() {
    let mut s = scene();
    for (text, code) in [
        ("ring \u{7} the bell", "U+0007"),
        ("\u{1b}[2J clear the screen", "U+001B"),
        ("back\u{8}space", "U+0008"),
        ("next\u{85}line", "U+0085"), // C1
    ] {
        let frame = json!({"type": "message", "room": "lobby", "text": text, "client_id": "c-ctl"})
            .to_string();
        let error = s.refused(&frame, "bad_text");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(code), "names {code}: {error}");
        assert_eq!(error["room"], "lobby");
        assert_eq!(error["client_id"], "c-ctl", "the page can mark it failed");
    }
    // Newline and tab are how text is laid out: they pass.
    let text = "line one\n\tindented";
    s.alice.say("lobby", text);
    assert_eq!(next_event(&mut s.bob)["text"], text);
    assert_eq!(s.alice.recv_message()["text"], text);
    // A Windows line end is a newline, not a refusal.
    s.alice.say("lobby", "crlf\r\nline");
    assert_eq!(next_event(&mut s.bob)["text"], "crlf\nline");
}

#[test]
fn a_bad_client_id_is_bad_client_id() {
    let mut s = scene();
    for id in [String::new(), "c".repeat(65)] {
        let frame =
            json!({"type": "message", "room": "lobby", "text": "hi", "client_id": id}).to_string();
        let error = s.refused(&frame, "bad_client_id");
        assert!(error["message"].as_str().unwrap().contains("64"), "{error}");
    }
}

#[test]
fn a_64_character_client_id_is_accepted_and_echoed() {
    let mut s = scene();
    let id = "c".repeat(64);
    s.alice
        .send(json!({"type": "message", "room": "lobby", "text": "ok", "client_id": id}));
    let echo = s.alice.recv_message();
    assert_eq!(
        echo["client_id"],
        id.as_str(),
        "the sender can match its pending copy"
    );
    let seen = s.bob.recv_message();
    assert_eq!((&seen["text"], &seen["id"]), (&json!("ok"), &echo["id"]));
}

#[test]
fn a_room_not_joined_is_not_joined() {
    let mut s = scene();
    let frame =
        json!({"type": "message", "room": "kitchen", "text": "hi", "client_id": "c-9"}).to_string();
    let error = s.refused(&frame, "not_joined");
    assert_eq!(error["room"], "kitchen");
    assert_eq!(error["client_id"], "c-9");
    for kind in ["typing", "leave"] {
        let frame = json!({"type": kind, "room": "kitchen"}).to_string();
        let error = s.refused(&frame, "not_joined");
        assert_eq!(error["room"], "kitchen");
    }
    // After leaving, the room is not joined any more.
    s.alice.send(json!({"type": "join", "room": "garden"}));
    s.alice.recv_type("joined");
    s.alice.send(json!({"type": "leave", "room": "garden"}));
    s.sync();
    let frame = json!({"type": "message", "room": "garden", "text": "hi"}).to_string();
    s.refused(&frame, "not_joined");
}

#[test]
fn a_name_already_in_the_room_is_name_taken() {
    let server = common::start();
    let mut bob = server.user("bob");
    let mut carol = server.user("carol");
    bob.join("garden");
    bob.join("lobby");
    carol.join("lobby");
    // A second "Carol", logged in for another room, where the name was free.
    let token = server.login("Carol", "garden");
    let mut carol2 = server.connect().session(&token).open();
    carol2.recv_type("hello");
    carol2.join("garden");
    // Read both up to a known point.
    carol2.say("garden", "sync");
    while bob.recv_message()["text"] != "sync" {}
    while carol2.recv_message()["text"] != "sync" {}

    carol2.send(json!({"type": "join", "room": "lobby"}));
    let error = next_event(&mut carol2);
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "name_taken", "{error}");
    assert_eq!(error["room"], "lobby");
    assert!(
        error["message"].as_str().unwrap().contains("taken"),
        "{error}"
    );

    // The refused join announced nothing; carol2 still chats in garden.
    carol2.say("garden", "after");
    assert_eq!(carol2.recv()["text"], "after");
    let seen = next_event(&mut bob);
    assert_eq!(
        (
            seen["type"].as_str(),
            seen["room"].as_str(),
            seen["text"].as_str()
        ),
        (Some("message"), Some("garden"), Some("after")),
        "bob saw nothing of the refused join: {seen}"
    );
    // And carol2 is not in lobby.
    carol2.send(json!({"type": "message", "room": "lobby", "text": "sneak"}));
    assert_eq!(carol2.recv()["code"], "not_joined");
    carol.say("lobby", "members?");
    assert_eq!(bob.recv_message()["text"], "members?");
}

#[test]
fn a_33rd_room_is_too_many_rooms() {
    let mut s = scene();
    for i in 1..32 {
        s.alice.join(&format!("room {i}"));
    }
    s.sync();
    let error = s.refused(r#"{"type":"join","room":"one too many"}"#, "too_many_rooms");
    assert!(error["message"].as_str().unwrap().contains("32"), "{error}");
    assert_eq!(error["room"], "one too many");
    // Joining a room already joined is still fine, and so is a new one after
    // leaving one.
    assert_eq!(s.alice.join("room 5")["room"], "room 5");
    s.alice.send(json!({"type": "leave", "room": "room 1"}));
    assert_eq!(s.alice.join("one too many")["room"], "one too many");
}

#[test]
fn a_binary_frame_closes_with_1003_and_the_room_carries_on() {
    let mut s = scene();
    s.alice
        .socket
        .send(Message::binary(
            br#"{"type":"message","room":"lobby","text":"bin"}"#.to_vec(),
        ))
        .unwrap();
    assert_eq!(s.alice.expect_close(), Some(1003));
    s.bob.say("lobby", "still here");
    let got = s.bob.recv_message();
    assert_eq!(got["text"], "still here", "the binary frame was not posted");
}

#[test]
fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let mut s = scene();
    // A masked text frame (FIN, opcode 1) whose payload is not UTF-8.
    let payload = [0xffu8, 0xfe, 0x80];
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    s.alice.socket.get_mut().write_all(&frame).unwrap();
    assert_eq!(s.alice.expect_close(), Some(1007));
    s.bob.say("lobby", "still here");
    assert_eq!(s.bob.recv_message()["text"], "still here");
}

#[test]
fn a_message_over_64_kib_closes_with_1009_and_reaches_nobody() {
    let mut s = scene();
    let big = json!({"type": "message", "room": "lobby", "text": "y".repeat(70 * 1024)});
    // The server may hang up before it has read it all.
    let _ = s.alice.socket.send(Message::text(big.to_string()));
    assert_eq!(s.alice.expect_close(), Some(1009));

    // Nothing of it reached the room: the next message bob gets is carol's.
    let mut carol = s.server.user("carol");
    carol.join("lobby");
    carol.say("lobby", "next");
    let got = s.bob.recv_message();
    assert_eq!(got["text"], "next", "the oversized message was not posted");
}

/// Send something nested far too deep for the parser, and check the answer is
/// an error, the connection still works, and the server still serves others.
///
/// The server runs as its own process here: if the parser overflows a stack,
/// that aborts the process, and this test reports it instead of taking every
/// other test down with it.
fn nesting_is_refused(frame: &str) {
    assert!(
        frame.len() < 64 * 1024,
        "under the size limit: a parse, not a 1009"
    );
    let mut process = common::Binary::start(&["--rate-limit", "off"]);
    let mut s = scene_on(process.server());
    s.alice.send_raw(frame);
    let answer = loop {
        match s.alice.socket.read() {
            Ok(Message::Text(text)) => {
                let value = serde_json::from_str::<Value>(&text).unwrap();
                if value["type"] != "presence" {
                    break value;
                }
            }
            other => match process.wait_exit(common::DEADLINE) {
                Some(status) => panic!("the server process died on {frame:.40}...: {status}"),
                None => panic!("no error reply, got {other:?}"),
            },
        }
    };
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], "bad_json", "{answer}");
    s.still_works();
    let mut carol = s.server.user("carol");
    assert_eq!(carol.join("lobby")["room"], "lobby");
}

#[test]
fn deeply_nested_arrays_are_an_error_not_a_crash() {
    nesting_is_refused(&"[".repeat(20_000));
}

#[test]
fn deeply_nested_objects_are_an_error_not_a_crash() {
    nesting_is_refused(&r#"{"a":"#.repeat(10_000));
}

#[test]
fn deeply_nested_closed_arrays_are_an_error_not_a_crash() {
    nesting_is_refused(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)));
}

#[test]
fn a_deeply_nested_extra_field_is_an_error_not_a_crash() {
    let mut s = scene();
    let nested = format!(
        r#"{{"type":"message","room":"lobby","text":"x","extra":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    s.alice.send_raw(&nested);
    let answer = next_event(&mut s.alice);
    // Refused, or (if the server can afford to skip the unknown field) posted
    // like any message; either way, not a crash.
    match answer["type"].as_str() {
        Some("error") => {}
        Some("message") => assert_eq!(next_event(&mut s.bob)["text"], "x"),
        _ => panic!("unexpected answer: {answer}"),
    }
    s.still_works();
}
