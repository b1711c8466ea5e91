//! `--retention DAYS` deletes exactly the messages older than that, at startup
//! (and periodically after), from storage and from what joiners are shown.
//! Rooms with nothing left disappear. Without the flag nothing is deleted.

use natter_testkit as common;

use std::time::Duration;

/// Put messages straight into the database file, with chosen timestamps.
fn seed(db: &str, rows: &[(&str, u64, &str, u64)]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    for (room, id, text, ts) in rows {
        conn.execute(
            "INSERT INTO rooms (key, name, next_id) VALUES (?1, ?1, ?2)
             ON CONFLICT (key) DO UPDATE SET next_id = max(next_id, excluded.next_id)",
            rusqlite::params![room, (*id + 1) as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO messages (room, id, user, text, ts) VALUES (?1, ?2, 'old', ?3, ?4)",
            rusqlite::params![room, *id as i64, text, *ts as i64],
        )
        .unwrap();
    }
}

fn texts(joined: &serde_json::Value) -> Vec<String> {
    joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn retention_deletes_exactly_the_old_messages() {
    let dir = common::TempDir::new("retention");
    let db = dir.file("chat.db");
    // Create the schema with a first run.
    common::start_with(|c| c.db = db.clone()).shutdown();
    let now = natter::protocol::now_millis();
    let day = 24 * 60 * 60 * 1000;
    seed(
        &db,
        &[
            ("lobby", 1, "three days old", now - 3 * day),
            ("lobby", 2, "two days old", now - 2 * day),
            ("lobby", 3, "an hour old", now - day / 24),
            ("attic", 1, "ancient", now - 10 * day),
        ],
    );

    // Without the flag nothing goes.
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = server.user("alice");
    assert_eq!(texts(&alice.join("lobby")).len(), 3);
    drop(alice);
    server.shutdown();

    let server = common::start_with(|c| {
        c.db = db.clone();
        c.retention = Some(Duration::from_secs(36 * 60 * 60)); // a day and a half
    });
    let mut alice = server.user("alice");
    let joined = alice.join("lobby");
    assert_eq!(texts(&joined), ["an hour old"]);
    drop(alice);
    server.shutdown();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let left: Vec<(String, i64)> = conn
        .prepare("SELECT room, id FROM messages ORDER BY room, id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, [("lobby".to_string(), 3)]);
    let attic: i64 = conn
        .query_row(
            "SELECT count(*) FROM rooms WHERE key = 'attic'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(attic, 0, "a room with nothing left disappears");
}
