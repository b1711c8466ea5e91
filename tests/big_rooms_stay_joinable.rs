//! A room full of long messages can always be joined and scrolled back, live
//! and after a restart: `joined` and `history` answers are bounded by bytes
//! (the oldest left out, with `more` or `gap` saying so), so they always fit
//! the joiner's queue. Once, 44 long messages made every join overflow the
//! queue and close the joiner as a slow consumer, for good.

use natter_testkit as common;

use common::{Client, TempDir};
use serde_json::{json, Value};

/// Each of these is 4,000 characters that JSON doubles (`"` becomes `\"`).
fn long_text(i: usize) -> String {
    format!("{i:03} {}", "\"".repeat(3990))
}

fn fill(alice: &mut Client, n: usize) {
    alice.join("lobby");
    for i in 0..n {
        alice.say("lobby", &long_text(i));
        alice.recv_message();
    }
}

/// Page back from the `joined` answer to the first message; returns every id
/// seen, oldest first, and how many pages it took.
fn scroll_to_the_start(client: &mut Client, joined: &Value) -> (Vec<u64>, usize) {
    let mut ids: Vec<u64> = ids_of(&joined["history"]);
    let mut pages = 0;
    loop {
        let before = ids[0];
        client.send(json!({"type": "history", "room": "lobby", "before": before}));
        let page = client.recv_type("history");
        pages += 1;
        let mut older = ids_of(&page["messages"]);
        assert!(!older.is_empty() || page["more"] == false, "{page}");
        older.extend(ids);
        ids = older;
        if page["more"] == false {
            return (ids, pages);
        }
    }
}

fn ids_of(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["id"].as_u64().expect("an id"))
        .collect()
}

#[test]
fn a_room_of_long_messages_can_be_joined_scrolled_and_resumed() {
    // A 256 KiB queue: 60 messages of 8 KB are twice that.
    let server = common::start_with(|c| c.max_outbox_bytes = 256 * 1024);
    let mut alice = server.user("alice");
    fill(&mut alice, 60);

    let mut bob = server.user("bob");
    let joined = bob.join("lobby");
    let shown = ids_of(&joined["history"]);
    assert!(!shown.is_empty(), "the newest messages are shown");
    assert!(shown.len() < 60, "not all of them fit: {}", shown.len());
    assert_eq!(*shown.last().unwrap(), 60, "ending with the newest");
    assert_eq!(joined["gap"], false, "nothing was promised");

    let (all, pages) = scroll_to_the_start(&mut bob, &joined);
    assert_eq!(
        all,
        (1..=60).collect::<Vec<_>>(),
        "every message, once, in order"
    );
    assert!(
        pages >= 2,
        "pages are bounded by bytes too: {pages} page(s)"
    );

    // A resume that cannot fit what was missed says so.
    let mut carol = server.user("carol");
    carol.send(json!({"type": "join", "room": "lobby", "since": 1}));
    let resumed = carol.recv_type("joined");
    assert_eq!(
        resumed["gap"],
        true,
        "{}",
        resumed["history"].as_array().unwrap().len()
    );

    // Bob and carol are still connected and chatting.
    common::exchange(&mut bob, &mut carol, "fine");
}

#[test]
fn the_same_room_after_a_restart() {
    let dir = TempDir::new("big-rooms");
    let db = dir.file("natter.db");
    {
        let server = common::start_with(|c| c.db = db.clone());
        let mut alice = server.user("alice");
        fill(&mut alice, 200);
        assert!(server.shutdown());
    }
    let server = common::start_with(|c| c.db = db.clone());
    let mut bob = server.user("bob");
    let joined = bob.join("lobby");
    assert!(!ids_of(&joined["history"]).is_empty());
    let (all, _) = scroll_to_the_start(&mut bob, &joined);
    assert_eq!(all.len(), 200);
    bob.say("lobby", "still joinable");
    assert_eq!(bob.recv_message()["text"], "still joinable");
}
