//! A member who never reads costs the others nothing: while it sits in the
//! room without reading a byte, two others exchange 2,000 messages and both
//! get all 2,000, in order, with the default limits. (The silent reader is
//! eventually dropped as a slow consumer; that is its problem alone.)

use natter_testkit as common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use common::Client;
use serde_json::{json, Value};

/// Whether alice or bob saw the lurker's leave notice (it is dropped as a slow
/// consumer once its queue overflows). Reported, not asserted.
static LURKER_DROPPED: AtomicBool = AtomicBool::new(false);

/// Each of the pair sends this many; 2,000 in all.
const EACH: usize = 1000;
/// Sent before waiting for one's own echoes, to keep the pipe busy.
const WINDOW: usize = 20;

/// Send `EACH` messages in windows, reading everything meanwhile. Returns
/// every message seen (user, sequence number, id), in arrival order.
fn talk(
    mut me: Client,
    name: &'static str,
    go: Arc<Barrier>,
) -> (Client, Vec<(String, usize, u64)>) {
    // Long enough (~3.5 KB; 7 MB in all) that the silent reader's socket
    // buffers and its queue overflow while the pair is still talking.
    let filler = "r".repeat(3500);
    let mut seen = Vec::new();
    let mut mine = 0;
    go.wait();
    for start in (0..EACH).step_by(WINDOW) {
        for n in start..start + WINDOW {
            me.send(json!({"type": "message", "room": "lobby", "text": format!("{name} {n:04} {filler}")}));
        }
        while mine < start + WINDOW {
            record(&mut me, name, &mut seen, &mut mine);
        }
    }
    // Read on until the other's last message too.
    while seen.len() < 2 * EACH {
        record(&mut me, name, &mut seen, &mut mine);
    }
    (me, seen)
}

fn record(me: &mut Client, name: &str, seen: &mut Vec<(String, usize, u64)>, mine: &mut usize) {
    let m: Value = loop {
        let event = me.recv();
        match event["type"].as_str() {
            Some("message") => break event,
            Some("system") if event["event"] == "leave" && event["user"] == "lurker" => {
                LURKER_DROPPED.store(true, Ordering::SeqCst)
            }
            _ => {}
        }
    };
    let text = m["text"].as_str().unwrap();
    let mut parts = text.splitn(3, ' ');
    let (user, n) = (parts.next().unwrap(), parts.next().unwrap());
    assert_eq!(m["user"], user, "the text names its sender");
    if user == name {
        *mine += 1;
    }
    seen.push((
        user.to_string(),
        n.parse().unwrap(),
        m["id"].as_u64().unwrap(),
    ));
}

#[test]
fn two_exchange_2000_messages_past_a_member_who_never_reads() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    let mut lurker = server.user("lurker");
    alice.join("lobby");
    bob.join("lobby");
    lurker.join("lobby");
    // lurker never reads from here on.

    let go = Arc::new(Barrier::new(2));
    let a = {
        let go = go.clone();
        std::thread::spawn(move || talk(alice, "alice", go))
    };
    let b = std::thread::spawn(move || talk(bob, "bob", go));
    let (mut alice, seen_by_alice) = a.join().expect("alice got everything");
    let (_bob, seen_by_bob) = b.join().expect("bob got everything");

    for (who, seen) in [("alice", &seen_by_alice), ("bob", &seen_by_bob)] {
        assert_eq!(seen.len(), 2 * EACH, "{who} got all 2,000");
        // Each sender's messages in the order sent, none missing, none twice.
        for sender in ["alice", "bob"] {
            let numbers: Vec<usize> = seen
                .iter()
                .filter(|(u, _, _)| u == sender)
                .map(|(_, n, _)| *n)
                .collect();
            assert_eq!(
                numbers,
                (0..EACH).collect::<Vec<_>>(),
                "{who} got {sender}'s in order"
            );
        }
        // Ids strictly increasing: the room's one order.
        assert!(
            seen.windows(2).all(|w| w[0].2 < w[1].2),
            "{who} saw ids out of order"
        );
    }
    assert_eq!(seen_by_alice, seen_by_bob, "both saw the same sequence");
    // The lurker's fate: dropped as a slow consumer (its leave notice comes
    // after the grace period), or still holding on with full buffers.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    alice
        .socket
        .get_ref()
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    while !LURKER_DROPPED.load(Ordering::SeqCst) && std::time::Instant::now() < until {
        if let Ok(tungstenite::Message::Text(text)) = alice.socket.read() {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "system" && event["user"] == "lurker" {
                LURKER_DROPPED.store(true, Ordering::SeqCst);
            }
        }
    }
    println!(
        "2,000 of 2,000 delivered to both, in order; lurker dropped as a slow consumer: {}",
        LURKER_DROPPED.load(Ordering::SeqCst)
    );
    drop(lurker);
}
