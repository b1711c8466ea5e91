//! Small scenes many tests share: two users chatting, and a flood of numbered
//! messages that shows what a client was sent, in order, and what it missed.

use std::time::Duration;

use serde_json::Value;
use tungstenite::Message;

use crate::{Client, TestServer};

impl TestServer {
    /// The usual bystanders: alice and bob, logged in and in #lobby.
    pub fn pair(&self) -> (Client, Client) {
        let mut alice = self.user("alice");
        let mut bob = self.user("bob");
        alice.join("lobby");
        bob.join("lobby");
        (alice, bob)
    }
}

/// alice and bob, both in #lobby, exchange `text` both ways; each sees both
/// messages. The quickest proof that the chat still works.
pub fn exchange(alice: &mut Client, bob: &mut Client, text: &str) {
    alice.say("lobby", text);
    assert_eq!(bob.recv_message()["text"], text);
    assert_eq!(alice.recv_message()["text"], text);
    bob.say("lobby", &format!("re: {text}"));
    assert_eq!(alice.recv_message()["text"], format!("re: {text}"));
    assert_eq!(bob.recv_message()["text"], format!("re: {text}"));
}

/// alice sends numbered messages (`00001 <filler>`, `00002 <filler>`, ...)
/// and both alice and bob read each one, in order, until the leave notice of
/// `who` arrives. Returns how many were sent; fails past `limit`. `pause` goes
/// between messages (zero for as fast as they can be read).
pub fn numbered_until_left(
    alice: &mut Client,
    bob: &mut Client,
    who: &str,
    filler: &str,
    limit: u32,
    pause: Duration,
) -> u32 {
    let mut sent = 0;
    let mut left = false;
    while !left {
        assert!(sent < limit, "{who} was never dropped");
        sent += 1;
        alice.say("lobby", &format!("{sent:05} {filler}"));
        for reader in [&mut *alice, &mut *bob] {
            left |= read_number(reader, sent, who);
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    sent
}

/// Read up to message number `sent`, which must be the next one; returns
/// whether `who`'s leave notice came on the way.
fn read_number(reader: &mut Client, sent: u32, who: &str) -> bool {
    let mut left = false;
    loop {
        let event = reader.recv();
        match event["type"].as_str() {
            Some("message") => {
                assert_eq!(number(&event), sent, "in order, none missing");
                return left;
            }
            Some("system") if event["user"] == who && event["event"] == "leave" => left = true,
            _ => {}
        }
    }
}

/// Read everything a client that stopped reading was still sent: the numbered
/// messages of `numbered_until_left`, checked to be in order, then the end.
/// Returns the last number it got, and the close frame's code if a close frame
/// came (`None` when the connection just ended).
pub fn read_numbered_to_end(client: &mut Client) -> (u32, Option<Option<u16>>) {
    let mut last = 0;
    loop {
        match client.socket.read() {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).expect("the server sends JSON");
                if value["type"] == "message" {
                    let n = number(&value);
                    assert_eq!(n, last + 1, "what was delivered is in order");
                    last = n;
                }
            }
            Ok(Message::Close(frame)) => return (last, Some(frame.map(|f| u16::from(f.code)))),
            Ok(_) => {}
            Err(_) => return (last, None),
        }
    }
}

/// The number a numbered message starts with.
fn number(message: &Value) -> u32 {
    message["text"]
        .as_str()
        .and_then(|text| text.get(..5))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a numbered message: {message}"))
}
