//! Joining a room shows its recent history, and a page that reconnects with
//! `since` gets exactly what it missed: nothing lost, nothing twice. When more
//! was missed than the server holds, the reply says so.

use natter_testkit as common;

use serde_json::{json, Value};

fn texts(history: &Value) -> Vec<String> {
    history
        .as_array()
        .expect("history is a list")
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn joining_shows_recent_history_oldest_first() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("lobby");
    for i in 1..=3 {
        alice.say("lobby", &format!("m{i}"));
        alice.recv_message();
    }
    let mut bob = server.user("bob");
    let joined = bob.join("lobby");
    assert_eq!(texts(&joined["history"]), ["m1", "m2", "m3"]);
    assert_eq!(joined["gap"], false);
    assert_eq!(joined["history"][0]["user"], "alice");
}

#[test]
fn history_keeps_only_the_last_n_messages() {
    let server = common::start_with(|c| c.history = 5);
    let mut alice = server.user("alice");
    alice.join("lobby");
    for i in 1..=8 {
        alice.say("lobby", &format!("m{i}"));
        alice.recv_message();
    }
    let mut bob = server.user("bob");
    assert_eq!(
        texts(&bob.join("lobby")["history"]),
        ["m4", "m5", "m6", "m7", "m8"]
    );
}

#[test]
fn a_since_resume_gets_exactly_what_was_missed() {
    let server = common::start();
    let mut alice = server.user("alice");
    let bob_token = server.login("bob", "lobby");
    let mut bob = server.connect().session(&bob_token).open();
    alice.join("lobby");
    bob.join("lobby");
    alice.say("lobby", "before");
    let last_seen = bob.recv_message()["id"].as_u64().unwrap();

    bob.drop_abruptly();
    for text in ["gap 1", "gap 2", "gap 3"] {
        alice.say("lobby", text);
    }
    // Make sure the hub has posted all three before bob comes back.
    for _ in 0..3 {
        alice.recv_message();
    }
    let mut bob = server.connect().session(&bob_token).open();
    bob.send(json!({"type": "join", "room": "lobby", "since": last_seen}));
    let joined = bob.recv_type("joined");
    assert_eq!(texts(&joined["history"]), ["gap 1", "gap 2", "gap 3"]);
    assert_eq!(joined["gap"], false);
    alice.say("lobby", "after");
    assert_eq!(
        bob.recv_message()["text"],
        "after",
        "live messages follow, none repeated"
    );
}

#[test]
fn a_since_older_than_the_memory_cache_replays_from_storage() {
    let server = common::start_with(|c| c.history = 3);
    let mut alice = server.user("alice");
    alice.join("lobby");
    for i in 1..=6 {
        alice.say("lobby", &format!("m{i}"));
        alice.recv_message();
    }
    let mut bob = server.user("bob");
    bob.send(json!({"type": "join", "room": "lobby", "since": 1}));
    let joined = bob.recv_type("joined");
    assert_eq!(joined["gap"], false, "storage still has m2 and m3");
    assert_eq!(texts(&joined["history"]), ["m2", "m3", "m4", "m5", "m6"]);
}

#[test]
fn missing_more_than_the_resume_limit_reports_a_gap() {
    let server = common::start_with(|c| c.history = 10);
    let mut alice = server.user("alice");
    alice.join("lobby");
    let total = natter::config::MAX_RESUME + 5;
    for i in 1..=total {
        alice.say("lobby", &format!("m{i}"));
    }
    for _ in 1..=total {
        alice.recv_message();
    }
    let mut bob = server.user("bob");
    bob.send(json!({"type": "join", "room": "lobby", "since": 1}));
    let joined = bob.recv_type("joined");
    assert_eq!(joined["gap"], true, "too much was missed to replay");
    let recent = texts(&joined["history"]);
    assert_eq!(
        recent.len(),
        10,
        "the page starts afresh from recent history"
    );
    assert_eq!(recent.last().unwrap(), &format!("m{total}"));
}

#[test]
fn ids_increase_per_room() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("a");
    alice.join("b");
    alice.say("a", "a1");
    let a1 = alice.recv_message()["id"].as_u64().unwrap();
    alice.say("b", "b1");
    let b1 = alice.recv_message()["id"].as_u64().unwrap();
    alice.say("a", "a2");
    let a2 = alice.recv_message()["id"].as_u64().unwrap();
    assert_eq!((a1, b1, a2), (1, 1, 2));
}
