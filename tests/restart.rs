//! A restart is invisible to users: history, message ids, sessions and room
//! names carry over, and a page that reconnects with `since` continues with no
//! gap and no duplicate. Nobody has to log in again.

use natter_testkit as common;

use serde_json::json;

#[test]
fn history_ids_sessions_and_rooms_survive_a_restart() {
    let dir = common::TempDir::new("restart");
    let db = dir.file("chat.db");
    let with_db = |c: &mut common::Config| c.db = db.clone();

    let server = common::start_with(with_db);
    let alice_token = server.login("alice", "Book Club");
    let bob_token = server.login("bob", "Book Club");
    let mut alice = server.connect().session(&alice_token).open();
    let mut bob = server.connect().session(&bob_token).open();
    alice.join("Book Club");
    bob.join("book club");
    let mut last_seen = 0;
    for text in ["one", "two", "three"] {
        alice.say("Book Club", text);
        last_seen = bob.recv_message()["id"].as_u64().unwrap();
    }
    drop((alice, bob));
    assert!(server.shutdown());

    // Sessions are stored, but never as the token itself: a copy of the
    // database file logs nobody in.
    let stored: Vec<String> = rusqlite::Connection::open(&db)
        .unwrap()
        .prepare("SELECT token FROM sessions")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(!stored.contains(&alice_token) && !stored.contains(&bob_token));

    // Second half: same database, new process state.
    let server = common::start_with(with_db);
    let mut alice = server.connect().session(&alice_token).open(); // the old cookie still works
    let joined = alice.join("BOOK CLUB");
    assert_eq!(
        joined["room"], "Book Club",
        "the first spelling is remembered"
    );
    let texts: Vec<_> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("one"), json!("two"), json!("three")]);
    alice.say("Book Club", "four");
    let four = alice.recv_message();
    assert_eq!(four["id"], 4, "ids keep increasing across restarts");

    // Bob's page reconnects and resumes from the last id it saw.
    let mut bob = server.connect().session(&bob_token).open();
    bob.send(json!({"type": "join", "room": "Book Club", "since": last_seen}));
    let resumed = bob.recv_type("joined");
    let ids: Vec<_> = resumed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [4], "exactly what was missed: no gap, no duplicate");
    alice.say("Book Club", "five");
    assert_eq!(bob.recv_message()["id"], 5);
}
