//! Edit, delete, react and reply over real WebSockets, and what a client
//! that was away sees: on resume with `since`, after a restart, and when
//! paging back to a message from far back. One sequence per room numbers
//! every message and every change, so each of them is exact.

use std::time::Duration;

use natter_testkit as common;
use serde_json::{json, Value};

/// `n` messages posted by `client` in `room`; the last one's id.
fn post(client: &mut common::Client, room: &str, n: usize) -> u64 {
    let mut last = 0;
    for i in 1..=n {
        client.say(room, &format!("m{i}"));
        last = client.recv_message()["id"].as_u64().unwrap();
    }
    last
}

/// Send a change and wait for its frame (`kind`) to come back.
fn change(client: &mut common::Client, frame: Value, kind: &str) -> Value {
    client.send(frame);
    client.recv_type(kind)
}

/// Page back with `history` until message `id` is in the page.
fn page_to(client: &mut common::Client, room: &str, id: u64) -> Value {
    let mut before = u64::MAX;
    loop {
        let mut ask = json!({"type": "history", "room": room, "limit": 100});
        if before != u64::MAX {
            ask["before"] = json!(before);
        }
        client.send(ask);
        let page = client.recv_type("history");
        let messages = page["messages"].as_array().unwrap();
        if let Some(m) = messages.iter().find(|m| m["id"] == id) {
            return m.clone();
        }
        assert_eq!(page["more"], true, "message {id} never came: {page}");
        before = messages[0]["id"].as_u64().unwrap();
    }
}

/// A client logged in as `name`, and its session's public id from `hello`.
fn with_uid(server: &common::TestServer, name: &str) -> (common::Client, String) {
    let token = server.login(name, "lobby");
    let mut client = server.connect().session(&token).open();
    let uid = client.recv_type("hello")["uid"]
        .as_str()
        .unwrap()
        .to_string();
    (client, uid)
}

fn by_id(list: &Value, id: u64) -> Option<&Value> {
    list.as_array().unwrap().iter().find(|m| m["id"] == id)
}

#[test]
fn changes_made_while_away_arrive_on_resume_and_when_paging_back_even_after_a_restart() {
    let dir = common::TempDir::new("actions-resume");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.history = 50;
    });
    let (alice_token, bob_token) = (server.login("alice", "lobby"), server.login("bob", "lobby"));
    let mut alice = server.connect().session(&alice_token).past_hello();
    alice.join("lobby");
    let last = post(&mut alice, "lobby", 150);
    let mut bob = server.connect().session(&bob_token).past_hello();
    let cursor = bob.join("lobby")["cursor"].as_u64().unwrap();
    assert_eq!(cursor, last);
    drop(bob);

    // While bob is away: changes to messages far older than the cache, and
    // to a recent one, and a new message.
    let edit = json!({"type": "edit", "room": "lobby", "id": 3, "text": "three, edited"});
    let edited = change(&mut alice, edit, "edit");
    assert_eq!(edited["seq"], last + 1);
    change(
        &mut alice,
        json!({"type": "delete", "room": "lobby", "id": 4}),
        "delete",
    );
    let react = json!({"type": "react", "room": "lobby", "id": 5, "emoji": "🎉", "on": true});
    change(&mut alice, react, "reactions");
    let edit = json!({"type": "edit", "room": "lobby", "id": 149, "text": "149, edited"});
    change(&mut alice, edit, "edit");
    let newest = post(&mut alice, "lobby", 1);

    let resumed = |server: &common::TestServer| {
        let mut bob = server.connect().session(&bob_token).past_hello();
        bob.send(json!({"type": "join", "room": "lobby", "since": cursor}));
        let joined = bob.recv_type("joined");
        assert_eq!(joined["gap"], false, "{joined}");
        let history: Vec<u64> = joined["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert_eq!(history, [newest], "the new message, once");
        let changed: Vec<u64> = joined["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert_eq!(
            changed,
            [3, 4, 5, 149],
            "each changed message once, in the order of its change"
        );
        let changes = &joined["changes"];
        assert_eq!(by_id(changes, 3).unwrap()["text"], "three, edited");
        assert!(by_id(changes, 3).unwrap()["edited_ts"].is_u64());
        assert_eq!(by_id(changes, 4).unwrap()["deleted"], true);
        assert_eq!(by_id(changes, 4).unwrap()["text"], "");
        assert_eq!(
            by_id(changes, 5).unwrap()["reactions"][0]["users"],
            json!(["alice"])
        );
        assert_eq!(joined["cursor"], newest);
        // Paging back from the newest, as a fresh page would: the same state.
        assert_eq!(page_to(&mut bob, "lobby", 3)["text"], "three, edited");
        let tombstone = page_to(&mut bob, "lobby", 4);
        assert_eq!(
            (tombstone["deleted"].clone(), tombstone["text"].clone()),
            (json!(true), json!(""))
        );
        assert_eq!(page_to(&mut bob, "lobby", 5)["reactions"][0]["count"], 1);
    };
    resumed(&server);
    drop(alice);
    assert!(server.shutdown());
    // After a restart every bit of it comes from the database.
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.history = 50;
    });
    resumed(&server);
}

#[test]
fn a_burst_of_changes_past_the_replay_cap_is_a_gap_never_a_silent_loss() {
    let server = common::start();
    let mut alice = server.connect().user("alice");
    alice.join("lobby");
    let last = post(&mut alice, "lobby", 1100);
    // Bob was at the last message; then 1001 different messages changed.
    for id in 1..=1001 {
        alice.send(json!({"type": "react", "room": "lobby", "id": id, "emoji": "👍", "on": true}));
    }
    let mut seen = 0;
    while seen < 1001 {
        seen += usize::from(alice.recv()["type"] == "reactions");
    }
    let mut bob = server.connect().user("bob");
    bob.send(json!({"type": "join", "room": "lobby", "since": last}));
    let joined = bob.recv_type("joined");
    assert_eq!(joined["gap"], true, "more than 1000 changes: start over");
    let history = joined["history"].as_array().unwrap();
    assert!(
        !history.is_empty()
            && history
                .iter()
                .all(|m| m["reactions"][0]["count"] == 1 || m["id"].as_u64() > Some(1001))
    );
    // One change fewer fits, exactly.
    bob.send(json!({"type": "join", "room": "lobby", "since": last + 1}));
    let joined = bob.recv_type("joined");
    assert_eq!(joined["gap"], false);
    assert_eq!(joined["changes"].as_array().unwrap().len(), 1000);
}

#[test]
fn a_second_session_with_the_same_name_is_not_the_author() {
    let server = common::start();
    let (mut alice, uid) = with_uid(&server, "alice");
    alice.join("lobby");
    alice.say("lobby", "my words");
    let mine = alice.recv_message();
    assert_eq!(
        mine["uid"],
        uid.as_str(),
        "messages carry their author's public id"
    );
    alice.send(json!({"type": "leave", "room": "lobby"}));
    // Frames of one connection are handled in order: once this is answered,
    // the name is free in #lobby.
    alice.join("elsewhere");
    drop(alice);

    // Tomorrow's "alice": the same name, another session.
    let (mut other, other_uid) = with_uid(&server, "alice");
    assert_ne!(other_uid, uid);
    other.join("lobby");
    let id = mine["id"].clone();
    for frame in [
        json!({"type": "edit", "room": "lobby", "id": id, "text": "not mine", "client_id": "e"}),
        json!({"type": "delete", "room": "lobby", "id": id, "client_id": "d"}),
    ] {
        other.send(frame);
        let error = other.recv_type("error");
        assert_eq!(error["code"], "not_author", "{error}");
        assert!(error["message"].as_str().unwrap().contains("your own"));
    }
    let joined = other.join("lobby");
    assert_eq!(
        by_id(&joined["history"], id.as_u64().unwrap()).unwrap()["text"],
        "my words"
    );
}

#[test]
fn an_edit_after_the_window_is_refused_and_says_how_long_it_is() {
    let server = common::start_with(|c| c.edit_window = Some(Duration::from_secs(60)));
    let token = server.login("alice", "lobby");
    let mut alice = server.connect().session(&token).open();
    let hello = alice.recv_type("hello");
    assert_eq!(hello["limits"]["edit_window_s"], 60);
    alice.join("lobby");
    alice.say("lobby", "soon changed");
    let id = alice.recv_message()["id"].clone();
    let edit = json!({"type": "edit", "room": "lobby", "id": id, "text": "changed"});
    assert_eq!(change(&mut alice, edit.clone(), "edit")["text"], "changed");
    let short = common::start_with(|c| c.edit_window = Some(Duration::from_millis(300)));
    let mut bob = short.connect().user("bob");
    bob.join("lobby");
    bob.say("lobby", "too late to change");
    let id = bob.recv_message()["id"].clone();
    std::thread::sleep(Duration::from_millis(600));
    bob.send(json!({"type": "edit", "room": "lobby", "id": id, "text": "x", "client_id": "c-9"}));
    let error = bob.recv_type("error");
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("edit_window"), Some("c-9"))
    );
    // Deleting has no window.
    change(
        &mut bob,
        json!({"type": "delete", "room": "lobby", "id": id}),
        "delete",
    );
}

#[test]
fn deleted_and_edited_text_is_gone_from_the_database_file_after_a_checkpoint() {
    let dir = common::TempDir::new("actions-erasure");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = server.connect().user("alice");
    alice.join("lobby");
    let secret = "my PIN is zebra-7715-quokka";
    let before_edit = "meet at the old-mill-gate-3349";
    alice.say("lobby", secret);
    let deleted = alice.recv_message()["id"].clone();
    alice.say("lobby", before_edit);
    let edited = alice.recv_message()["id"].clone();
    let react = json!({"type": "react", "room": "lobby", "id": deleted, "emoji": "🦓", "on": true});
    change(&mut alice, react, "reactions");
    post(&mut alice, "lobby", 3);
    // Both are in the file once the checkpoint thread has copied the log in.
    let contains = |needle: &str| {
        let bytes = std::fs::read(&db).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    let until = std::time::Instant::now() + common::DEADLINE;
    while !(contains(secret) && contains(before_edit)) {
        assert!(
            std::time::Instant::now() < until,
            "the messages never reached the file"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    change(
        &mut alice,
        json!({"type": "delete", "room": "lobby", "id": deleted}),
        "delete",
    );
    let edit = json!({"type": "edit", "room": "lobby", "id": edited, "text": "meet at noon"});
    change(&mut alice, edit, "edit");
    let until = std::time::Instant::now() + common::DEADLINE;
    while contains(secret) || contains(before_edit) || contains("🦓") {
        assert!(
            std::time::Instant::now() < until,
            "the old text is still in natter.db"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(contains("meet at noon"));
    // And from the transcript.
    let token = server.login("bob", "lobby");
    let text = server.get("/export/lobby", Some(&token)).body;
    assert!(
        !text.contains("zebra") && text.contains("alice: meet at noon (edited)"),
        "{text}"
    );
}
