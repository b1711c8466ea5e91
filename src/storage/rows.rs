//! Rows: how messages and sessions become rows of the SQLite file, and back.
//!
//! A message's columns are spelled out here and nowhere else: every query that
//! reads messages goes through [`read_messages`], and every message is written
//! by [`insert_messages`].

use std::sync::Arc;

use rusqlite::{params, Connection, Row};

use super::SessionChange;
use crate::protocol::ChatMessage;

/// The columns of a message, after its room's key, in the order
/// [`message_from_row`] reads them and [`insert_messages`] binds them. (A
/// macro, so that `concat!` can build each query once, at compile time.)
///
/// A new message field (say `action: bool` for `/me`): add the column here, a
/// migration in `schema.rs`, a `?` in `INSERT_MESSAGE`, and the field in
/// `message_from_row` and in the `params!` of `insert_messages`. Nothing else
/// in storage names a message's fields.
macro_rules! message_columns {
    () => {
        "id, user, text, ts, client_id"
    };
}

const INSERT_MESSAGE: &str = concat!(
    "INSERT INTO messages (room, ",
    message_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
);

pub(super) const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE room = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3"
);

pub(super) const MESSAGES_BEFORE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
);

/// A message from a row of [`message_columns!`]; `room` is its room's name.
fn message_from_row(room: &Arc<str>, row: &Row) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        room: room.clone(),
        id: row.get::<_, i64>(0)? as u64,
        user: row.get::<_, String>(1)?.into(),
        text: row.get(2)?,
        ts: row.get::<_, i64>(3)? as u64,
        client_id: row.get(4)?,
    })
}

/// Insert a pass's messages, and give a room seen for the first time its row
/// (with the message's spelling of its name).
///
/// A room's row is written once, not once per pass: its `next_id` column is
/// only a floor (the id after the newest message when the row was written,
/// or when retention last deleted from it), and [`ROOM`] takes the larger of
/// it and the newest stored id + 1. Updating the row on every pass was a
/// third of the cost of storing a message in small rooms, where nearly
/// every message is its room's only one in its pass.
pub(super) fn insert_messages(
    tx: &Connection,
    messages: &[(String, ChatMessage)],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(INSERT_MESSAGE)?;
    let mut room =
        tx.prepare_cached("INSERT OR IGNORE INTO rooms (key, name, next_id) VALUES (?1, ?2, ?3)")?;
    let mut rooms_seen: Vec<&str> = Vec::new();
    for (key, m) in messages {
        insert.execute(params![
            key,
            m.id as i64,
            &*m.user,
            m.text,
            m.ts as i64,
            m.client_id
        ])?;
        if !rooms_seen.contains(&key.as_str()) {
            rooms_seen.push(key);
            room.execute(params![key, &*m.room, m.id as i64 + 1])?;
        }
    }
    Ok(())
}

/// A room's name and the id its next message gets: past its newest stored
/// message, and never below the floor kept in its row (see
/// [`insert_messages`]).
pub(super) const ROOM: &str = "SELECT name, max(next_id, coalesce(
         (SELECT max(id) + 1 FROM messages WHERE messages.room = rooms.key), 1))
     FROM rooms WHERE key = ?1";

/// Before retention deletes messages: raise every room's floor past its
/// newest message, so no id is ever given out twice.
pub(super) const RAISE_FLOORS: &str = "UPDATE rooms SET next_id = max(next_id, coalesce(
         (SELECT max(id) + 1 FROM messages WHERE messages.room = rooms.key), 1))";

/// Save and forget sessions, in the order they happened.
pub(super) fn change_sessions(tx: &Connection, changes: &[SessionChange]) -> rusqlite::Result<()> {
    for change in changes {
        match change {
            SessionChange::Save {
                token,
                name,
                idle_since_ms,
                rooms,
            } => tx
                .prepare_cached(
                    "INSERT INTO sessions (token, name, idle_since, rooms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (token) DO UPDATE SET name = excluded.name,
                                                       idle_since = excluded.idle_since,
                                                       rooms = excluded.rooms",
                )?
                .execute(params![
                    token,
                    name,
                    *idle_since_ms as i64,
                    join_rooms(rooms)
                ])?,
            SessionChange::Delete { token } => tx
                .prepare_cached("DELETE FROM sessions WHERE token = ?1")?
                .execute(params![token])?,
        };
    }
    Ok(())
}

/// A session's rooms in one column: room names cannot hold a newline (control
/// characters are refused), so one per line.
fn join_rooms(rooms: &[String]) -> String {
    rooms.join("\n")
}

/// The rooms of a session's `rooms` column.
pub(super) fn split_rooms(column: &str) -> Vec<String> {
    column
        .split('\n')
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// Up to `limit` messages of room `key` by `sql`, one of the `MESSAGES_*`
/// queries (`?2` is `bound`, `?3` is `limit`); `name` fills each one's `room`.
pub(super) fn read_messages(
    db: &Connection,
    sql: &str,
    key: &str,
    name: &str,
    bound: u64,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let room: Arc<str> = name.into();
    // SQLite's integers are signed; past `i64::MAX` means "no bound".
    let bound = bound.min(i64::MAX as u64) as i64;
    let mut stmt = db.prepare_cached(sql)?;
    let rows = stmt.query_map(params![key, bound, limit as i64], |row| {
        message_from_row(&room, row)
    })?;
    rows.collect()
}
