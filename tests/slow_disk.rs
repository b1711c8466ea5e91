//! A slow disk stalls nothing but the messages it is storing: while a commit
//! takes its time (an SD card under writeback, injected here as a delay on
//! the writer thread), typing, joins and history pages are answered, and the
//! message itself reaches nobody until its commit is done, then everyone
//! once, the member who joined meanwhile included.

use natter_testkit as common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Every commit on the writer thread waits this long first.
const SLOW_COMMIT: Duration = Duration::from_millis(1500);

/// The frames of these types `client` receives until one is a message,
/// and that message.
fn until_message(client: &mut common::Client, kinds: &[&str]) -> (Vec<String>, Value) {
    let mut seen = Vec::new();
    loop {
        let frame = client.recv();
        let kind = frame["type"].as_str().unwrap_or_default().to_string();
        if kind == "message" {
            return (seen, frame);
        }
        if kinds.contains(&kind.as_str()) {
            seen.push(kind);
        }
    }
}

#[test]
fn typing_joins_and_history_do_not_wait_for_a_slow_commit() {
    let dir = common::TempDir::new("slow-disk");
    let db = dir.file("chat.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.commit_delay = SLOW_COMMIT;
    });
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");

    let sent = Instant::now();
    alice.say("lobby", "stored slowly");
    alice.send(json!({"type": "typing", "room": "lobby"}));
    bob.send(json!({"type": "history", "room": "lobby", "before": 1_000_000, "limit": 10}));
    // Carol arrives while the message is being stored: she is let in at once,
    // and her history does not hold it yet (nobody has been sent it).
    let mut carol = server.user("carol");
    let joined = carol.join("lobby");
    assert!(
        sent.elapsed() < SLOW_COMMIT,
        "the join waited for the commit"
    );
    assert_eq!(joined["history"], json!([]), "{joined}");

    let (before, message) = until_message(&mut bob, &["typing", "history"]);
    assert_eq!(message["text"], "stored slowly");
    assert!(
        sent.elapsed() >= SLOW_COMMIT,
        "a message reached a member before its commit was done"
    );
    assert!(
        before.contains(&"typing".to_string()) && before.contains(&"history".to_string()),
        "typing and the history page came before the message: {before:?}"
    );

    // Carol gets it live, exactly once, with the same id as everyone.
    let got = carol.recv_message();
    assert_eq!(
        (&got["id"], &got["text"]),
        (&message["id"], &message["text"])
    );
    assert_eq!(alice.recv_message()["id"], message["id"]);
    carol.expect_none("message", Duration::from_millis(300));
    server.shutdown();
}

#[test]
fn what_is_still_being_stored_at_shutdown_is_kept() {
    let dir = common::TempDir::new("slow-disk-shutdown");
    let db = dir.file("chat.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.commit_delay = Duration::from_millis(300);
    });
    let mut alice = server.user("alice");
    alice.join("lobby");
    for i in 0..5 {
        alice.say("lobby", &format!("last words {i}"));
    }
    // Make sure the hub has them (the history answer comes after them).
    alice.send(json!({"type": "history", "room": "lobby", "before": 1_000_000, "limit": 10}));
    alice.recv_type("history");
    assert!(server.shutdown(), "the hub ended cleanly");

    let server = common::start_with(|c| c.db = db.clone());
    let mut bob = server.user("bob");
    let joined = bob.join("lobby");
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|m| m["text"].as_str().expect("a text"))
        .collect();
    assert_eq!(
        texts,
        (0..5)
            .map(|i| format!("last words {i}"))
            .collect::<Vec<_>>()
    );
    server.shutdown();
}
