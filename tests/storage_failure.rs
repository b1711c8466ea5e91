//! When storage fails (here: the database reaches its size limit, as a full
//! disk would), a message is never falsely confirmed: its sender gets
//! `storage_failed` with the message's `client_id`, nobody receives it, and the
//! chat keeps working for everything that does not need to write. A database
//! natter cannot use stops the start with a one-line explanation.

use natter_testkit as common;

use serde_json::json;

#[test]
fn a_full_database_refuses_messages_without_confirming_them() {
    let dir = common::TempDir::new("full");
    let server = common::start_with(|c| {
        c.db = dir.file("chat.db");
        // A few dozen messages past the empty schema (about 100 KiB).
        c.db_max_bytes = Some(160 * 1024);
    });
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");

    let filler = "x".repeat(3000);
    let mut refused = None;
    for i in 0..500 {
        let client_id = format!("c-{i}");
        alice.send(json!({"type": "message", "room": "lobby", "text": format!("{i} {filler}"), "client_id": client_id}));
        let answer = loop {
            let event = alice.recv();
            if event["type"] == "message" || event["type"] == "error" {
                break event;
            }
        };
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "storage_failed");
            assert_eq!(
                answer["client_id"],
                client_id.as_str(),
                "the page can mark it failed"
            );
            assert!(
                answer["message"].as_str().unwrap().contains("full"),
                "{answer}"
            );
            refused = Some(i);
            break;
        }
        assert_eq!(bob.recv_message()["client_id"], client_id.as_str());
    }
    let refused = refused.expect("the size limit is reached");

    // Bob never got the refused message; the next thing he sees is this.
    alice.send(json!({"type": "typing", "room": "lobby"}));
    let next = bob.recv();
    assert_eq!(
        next["type"], "typing",
        "nothing from the refused message: {next}"
    );
    // And it is not in the history a newcomer sees.
    let mut carol = server.user("carol");
    let joined = carol.join("lobby");
    let history = joined["history"].as_array().unwrap();
    assert!(history.iter().all(|m| !m["text"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{refused} "))));
}

#[test]
fn an_unusable_database_stops_the_start_with_one_line() {
    let dir = common::TempDir::new("junk");
    let junk = dir.file("junk.db");
    std::fs::write(&junk, vec![b'x'; 8192]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["--port", "0", "--db", &junk])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("junk.db"), "names the file: {stderr}");

    let newer = dir.file("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["--port", "0", "--db", &newer])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("newer"), "says why: {stderr}");
}
