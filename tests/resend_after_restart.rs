//! A page that resends an acknowledged message after a server restart (its
//! outbox resends whatever it has not seen echoed) never posts it twice: the
//! dedupe by `client_id` survives the restart.

use natter_testkit as common;

use common::TempDir;
use serde_json::json;

#[test]
fn a_resend_of_an_acknowledged_message_after_a_restart_posts_nothing() {
    let dir = TempDir::new("resend");
    let db = dir.file("natter.db");
    let start = || common::start_with(|c| c.db = db.clone());
    let server = start();
    let token = server.login("alice", "lobby");
    let mut alice = server.connect().session(&token).open();
    alice.recv_type("hello");
    alice.join("lobby");
    let post = json!({"type": "message", "room": "lobby", "text": "only once", "client_id": "c-1"});
    alice.send(post.clone());
    let original = alice.recv_message();
    assert!(server.shutdown());

    let server = start();
    let mut alice = server.connect().session(&token).open();
    alice.recv_type("hello");
    alice.join("lobby");
    alice.send(post);
    let answer = alice.recv_message();
    assert_eq!(
        answer["id"], original["id"],
        "the original, not a copy: {answer}"
    );
    // Nobody else sees it again, and the next message takes the next id.
    let mut bob = server.user("bob");
    let joined = bob.join("lobby");
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["only once"]);
    alice.say("lobby", "next");
    let next = bob.recv_message();
    assert_eq!(next["id"], original["id"].as_u64().unwrap() + 1);
}
