//! Crash safety: kill the server with SIGKILL in the middle of a burst from
//! several clients, start it again on the same file, and every message any
//! client had received is in the history. The database opens cleanly and
//! passes SQLite's integrity check.

use natter_testkit as common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use serde_json::json;

#[test]
fn every_message_seen_before_a_kill_9_is_there_after_restart() {
    let dir = common::TempDir::new("crash");
    let db = dir.file("chat.db");
    let mut natter = common::Binary::start(&["--rate-limit", "off", "--db", &db]);
    let server = natter.server();

    let mut watcher = server.user("watcher");
    watcher.join("lobby");
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..3)
        .map(|n| {
            let mut client = server.user(&format!("sender{n}"));
            client.join("lobby");
            let stop = stop.clone();
            thread::spawn(move || {
                let mut i = 0;
                // Send until the server dies under us.
                while !stop.load(Ordering::SeqCst) && i < 100_000 {
                    i += 1;
                    let frame =
                        json!({"type": "message", "room": "lobby", "text": format!("s{n}-{i}")});
                    if client
                        .socket
                        .send(tungstenite::Message::text(frame.to_string()))
                        .is_err()
                    {
                        break;
                    }
                    // Drain our own echoes now and then so we never become a slow consumer.
                    if i % 20 == 0 {
                        while let Ok(m) = client.socket.read() {
                            if m.is_text() && m.to_text().unwrap().contains(&format!("s{n}-{i}\""))
                            {
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    // Watch messages arrive; kill the server once a good number have been seen.
    let mut seen = BTreeSet::new();
    while seen.len() < 300 {
        let message = watcher.recv_message();
        seen.insert(message["id"].as_u64().unwrap());
    }
    natter.signal("KILL");
    natter.wait_exit(common::DEADLINE).expect("SIGKILL ends it");
    // Whatever else reached the watcher before the socket died counts too.
    while let Ok(tungstenite::Message::Text(text)) = watcher.socket.read() {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if value["type"] == "message" {
            seen.insert(value["id"].as_u64().unwrap());
        }
    }
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        let _ = sender.join();
    }

    let check = rusqlite::Connection::open(&db).expect("the database opens");
    let verdict: String = check
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    drop(check);

    // Restart on the same file, and page through the whole history.
    let natter = common::Binary::start(&["--rate-limit", "off", "--db", &db]);
    let server = natter.server();
    let mut reader = server.user("reader");
    reader.join("lobby");
    let mut stored = BTreeSet::new();
    let mut before: Option<u64> = None;
    loop {
        reader.send(json!({"type": "history", "room": "lobby", "before": before, "limit": 100}));
        let page = reader.recv_type("history");
        let messages = page["messages"].as_array().unwrap();
        for m in messages {
            stored.insert(m["id"].as_u64().unwrap());
        }
        before = messages.first().map(|m| m["id"].as_u64().unwrap());
        if page["more"] == false {
            break;
        }
    }
    let lost: Vec<_> = seen.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "seen before the crash but not stored: {lost:?}"
    );
    println!(
        "{} messages seen before SIGKILL, {} stored",
        seen.len(),
        stored.len()
    );
}
