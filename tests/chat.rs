//! Two people in a room see each other's messages, byte for byte, in real time,
//! and nothing leaks into another room.

use natter_testkit as common;

use serde_json::json;

#[test]
fn two_users_exchange_messages_both_ways() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");

    alice.say("lobby", "hi bob");
    let got = bob.recv_message();
    assert_eq!(got["user"], "alice");
    assert_eq!(got["text"], "hi bob");
    assert_eq!(got["room"], "lobby");
    assert!(got["id"].as_u64().unwrap() >= 1);
    assert!(
        got["ts"].as_u64().unwrap() > 1_700_000_000_000,
        "ts is epoch ms"
    );
    // The sender gets its own message too, with the same id.
    assert_eq!(alice.recv_message()["id"], got["id"]);

    bob.say("lobby", "hello alice");
    assert_eq!(alice.recv_message()["text"], "hello alice");
    assert_eq!(bob.recv_message()["text"], "hello alice");
}

#[test]
fn emoji_and_any_unicode_round_trip_byte_exact() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    let text = "héllo 👋🏽 👨‍👩‍👧 🇺🇸 ∑ 漢字 עברית \u{1F9D1}\u{200D}\u{1F680}\nsecond line";
    alice.say("lobby", text);
    let got = bob.recv_message();
    assert_eq!(got["text"].as_str().unwrap().as_bytes(), text.as_bytes());
}

#[test]
fn rooms_are_isolated() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("kitchen");
    bob.join("garden");
    alice.say("kitchen", "only for the kitchen");
    bob.say("garden", "only for the garden");
    assert_eq!(bob.recv_message()["text"], "only for the garden");
    assert_eq!(alice.recv_message()["text"], "only for the kitchen");
    bob.expect_none("message", std::time::Duration::from_millis(300));
}

#[test]
fn rooms_match_case_insensitively_and_keep_the_first_spelling() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    assert_eq!(alice.join("Book Club")["room"], "Book Club");
    assert_eq!(bob.join("book club")["room"], "Book Club");
    bob.say("BOOK CLUB", "same room");
    let got = alice.recv_message();
    assert_eq!(got["text"], "same room");
    assert_eq!(got["room"], "Book Club");
}

#[test]
fn one_connection_can_be_in_several_rooms() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("one");
    alice.join("two");
    bob.join("two");
    bob.say("two", "in two");
    let got = alice.recv_message();
    assert_eq!(
        (got["room"].as_str(), got["text"].as_str()),
        (Some("two"), Some("in two"))
    );
}

#[test]
fn a_resent_client_id_is_posted_once() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    let message = json!({"type": "message", "room": "lobby", "text": "once", "client_id": "c-1"});
    alice.send(message.clone());
    let first = alice.recv_message();
    assert_eq!(first["client_id"], "c-1");
    alice.send(message);
    // The resend is answered with the original, to the sender only.
    assert_eq!(alice.recv_message()["id"], first["id"]);
    alice.say("lobby", "after");
    assert_eq!(bob.recv_message()["text"], "once");
    assert_eq!(
        bob.recv_message()["text"],
        "after",
        "no second copy of \"once\""
    );
}
