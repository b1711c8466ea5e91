//! Scroll-back: paging with `history {room, before, limit}` through 10,000
//! messages returns each exactly once, in order, and says when there are no
//! more. The page size is capped.

use natter_testkit as common;

use serde_json::json;

#[test]
fn paging_through_ten_thousand_messages_returns_each_once_in_order() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("lobby");
    const TOTAL: u64 = 10_000;
    // Send in slices and read the echoes as we go, so our own queue stays small.
    for start in (1..=TOTAL).step_by(100) {
        for i in start..start + 100 {
            alice.say("lobby", &format!("m{i}"));
        }
        for _ in 0..100 {
            alice.recv_message();
        }
    }

    let mut collected: Vec<u64> = Vec::new();
    let mut before: Option<u64> = None;
    let mut pages = 0;
    loop {
        alice.send(json!({"type": "history", "room": "lobby", "before": before, "limit": 1000}));
        let page = alice.recv_type("history");
        let messages = page["messages"].as_array().unwrap();
        assert!(messages.len() <= 100, "the page size is capped at 100");
        let ids: Vec<u64> = messages.iter().map(|m| m["id"].as_u64().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "oldest first within a page"
        );
        for m in messages {
            let id = m["id"].as_u64().unwrap();
            assert_eq!(m["text"], format!("m{id}"));
        }
        // Pages go backwards; put each in front of what we have.
        collected.splice(0..0, ids.iter().copied());
        before = ids.first().copied();
        pages += 1;
        if page["more"] == false {
            break;
        }
        assert!(pages <= 200, "paging never ends");
    }
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(collected, expected, "every message exactly once, in order");
}

#[test]
fn history_needs_the_room_joined() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.send(json!({"type": "history", "room": "lobby"}));
    assert_eq!(alice.recv_type("error")["code"], "not_joined");
}
