//! A client that stops reading is dropped (close 1008, "slow consumer") instead of
//! being waited for, and everyone else keeps receiving every message, in order.

mod common;

use serde_json::json;

#[test]
fn a_client_that_stops_reading_is_dropped_and_others_get_everything() {
    // A small outbound bound makes the test quick; the kernel's socket buffers
    // (several MB on loopback) still have to fill first.
    let server = common::start_with(|c| c.max_outbox_bytes = 256 * 1024);
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    let mut stuck = server.user("stuck");
    alice.join("lobby");
    bob.join("lobby");
    stuck.join("lobby");
    // `stuck` never reads again from here on.

    let filler = "x".repeat(3990);
    let mut sent = 0;
    let mut stuck_left = false;
    while !stuck_left {
        assert!(sent < 10_000, "the stuck client was never dropped");
        sent += 1;
        alice.send(
            json!({"type": "message", "room": "lobby", "text": format!("{sent:05} {filler}")}),
        );
        // Alice and Bob read everything, in order, as it arrives.
        for reader in [&mut alice, &mut bob] {
            loop {
                let event = reader.recv();
                match event["type"].as_str() {
                    Some("message") => {
                        let text = event["text"].as_str().unwrap();
                        assert_eq!(&text[..5], format!("{sent:05}"), "in order, none missing");
                        break;
                    }
                    Some("system") if event["user"] == "stuck" && event["event"] == "leave" => {
                        stuck_left = true;
                    }
                    _ => {}
                }
            }
        }
    }
    // Life goes on for the others.
    bob.say("lobby", "still here");
    assert_eq!(alice.recv_message()["text"], "still here");

    // What `stuck` finds when it finally reads: a prefix of the messages, then
    // the end of the connection (the close frame, if it fit, says 1008).
    let mut last = 0;
    let code = loop {
        match stuck.socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "message" {
                    let n: u32 = value["text"].as_str().unwrap()[..5].parse().unwrap();
                    assert_eq!(n, last + 1, "what was delivered is in order");
                    last = n;
                }
            }
            Ok(tungstenite::Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    assert!(last < sent, "the stuck client did not get everything");
    assert!(matches!(code, None | Some(1008)), "closed with {code:?}");
}
