//! The database's files changed under a running natter do not kill it without
//! a word: a truncated `-shm` file (which SQLite maps into memory, where a
//! truncation is a SIGBUS) is grown back and the chat goes on, and writes the
//! system refuses (here a file-size limit, which by default kills a process
//! with SIGXFSZ) are answered `storage_failed`, with a line in the log, and a
//! database file deleted under natter is reported in the log and by
//! `/healthz` (503) instead of going unnoticed.

use natter_testkit as common;

use std::time::Duration;

use serde_json::json;

#[test]
fn a_truncated_shm_file_is_survived_and_nothing_is_lost() {
    let dir = common::TempDir::new("shm");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    for i in 0..20 {
        if i % 4 == 0 {
            // As `: > natter.db-shm` would, while natter has it mapped.
            std::fs::File::create(format!("{db}-shm")).unwrap();
        }
        common::exchange(&mut alice, &mut bob, &format!("m{i}"));
    }
    let mut carol = server.user("carol");
    carol.send(json!({"type": "join", "room": "lobby"}));
    let joined = carol.recv_type("joined");
    assert_eq!(joined["history"].as_array().unwrap().len(), 40);
}

#[test]
fn writes_past_a_file_size_limit_fail_cleanly() {
    let dir = common::TempDir::new("fsize");
    let db = dir.file("natter.db");
    let log = std::path::PathBuf::from(dir.file("stderr.log"));
    // 256 KiB per file: the write-ahead log reaches it after some messages.
    let natter = common::Binary::start_with_ulimit(
        "-f 256",
        Some(&log),
        &["--db", &db, "--rate-limit", "off"],
    );
    let server = natter.server();
    let mut alice = server.user("alice");
    alice.join("lobby");
    let text = "x".repeat(3000);
    let mut refused = None;
    for i in 0..400 {
        alice.send(json!({"type": "message", "room": "lobby", "text": format!("{i} {text}"), "client_id": format!("c{i}")}));
        let answer = loop {
            let event = alice.recv();
            if matches!(event["type"].as_str(), Some("message" | "error")) {
                break event;
            }
        };
        if answer["type"] == "error" {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the limit is reached within 400 messages");
    assert_eq!(refused["code"], "storage_failed", "{refused}");
    // Still alive, and still answering what needs no write.
    std::thread::sleep(Duration::from_millis(200));
    let mut natter = natter;
    assert!(
        natter.exited().is_none(),
        "natter died: {:?}",
        natter.exited()
    );
    assert_eq!(server.get("/healthz", None).status, 200);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("could not store"), "{said}");
}

#[test]
fn a_deleted_database_file_is_noticed() {
    let dir = common::TempDir::new("deleted");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = server.user("alice");
    alice.join("lobby");
    alice.say("lobby", "before");
    alice.recv_message();
    assert_eq!(server.get("/healthz", None).status, 200);
    std::fs::remove_file(&db).unwrap();
    // The checkpoint thread looks once a second.
    let mut health = server.get("/healthz", None);
    for _ in 0..100 {
        if health.status != 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        health = server.get("/healthz", None);
    }
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(health.body.contains("deleted"), "{}", health.body);
    // The chat itself goes on.
    alice.say("lobby", "after");
    assert_eq!(alice.recv_message()["text"], "after");
}
