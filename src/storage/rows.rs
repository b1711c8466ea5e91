//! Rows: how messages and sessions become rows of the SQLite file, and back.
//!
//! A message's columns are spelled out here and nowhere else: every query that
//! reads messages goes through [`read_messages`], and every message is written
//! by [`write_all`].

use std::sync::Arc;

use rusqlite::{params, Connection, Row};

use super::{AccountChange, Change, Changed, SessionChange, StoredAccount, Write};
use crate::config::REPLY_EXCERPT_CHARS;
use crate::protocol::{ChatMessage, Preview, Reaction};

/// The columns of a message, after its room's key, in the order
/// [`message_from_row`] reads them and [`write_all`] binds them. (A
/// macro, so that `concat!` can build each query once, at compile time.)
///
/// A new message field: add the column here (and in [`read_columns!`]), a
/// migration in `schema.rs`, a `?` in `INSERT_MESSAGE`, and the field in
/// `message_from_row` and in the `params!` of `write_all`.
macro_rules! message_columns {
    () => {
        "id, user, text, ts, client_id, uid, rev, edited_ts, deleted, action, reply_to, mentions, \
         verified, attachments, bot"
    };
}

/// The same columns of message `m` in a read, and then those of the message
/// it replies to, `t` (NULL when it replies to none, or to one retention
/// removed): a reply's preview is always the original's current state.
macro_rules! read_columns {
    () => {
        "SELECT m.id, m.user, m.text, m.ts, m.client_id, m.uid, m.rev, m.edited_ts, m.deleted,
                m.action, m.reply_to, m.mentions, m.verified,
                t.id, t.uid, t.user, substr(t.text, 1, ?4), t.deleted, m.deleted_by,
                m.attachments, t.attachments, m.bot, t.bot
         FROM messages m LEFT JOIN messages t ON t.room = m.room AND t.id = m.reply_to"
    };
}

const INSERT_MESSAGE: &str = concat!(
    "INSERT INTO messages (room, ",
    message_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
);

/// New messages: ids above `?2` (resume, exports).
pub(super) const MESSAGES_AFTER: &str = concat!(
    read_columns!(),
    " WHERE m.room = ?1 AND m.id > ?2 ORDER BY m.id ASC LIMIT ?3"
);

/// Older messages: ids below `?2`, newest first (scroll-back).
pub(super) const MESSAGES_BEFORE: &str = concat!(
    read_columns!(),
    " WHERE m.room = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
);

/// Messages up to `?2` that changed after it, in the order of their latest
/// change (the `changes` of a resume). `rev > id` follows from the rest; it
/// is said so that SQLite uses the index of changed messages (a partial
/// index serves only a query that names its condition).
pub(super) const MESSAGES_CHANGED: &str = concat!(
    read_columns!(),
    " WHERE m.room = ?1 AND m.rev > ?2 AND m.id <= ?2 AND m.rev > m.id
     ORDER BY m.rev ASC LIMIT ?3"
);

/// Message `?2` alone (`?3` is 1).
pub(super) const MESSAGE_BY_ID: &str =
    concat!(read_columns!(), " WHERE m.room = ?1 AND m.id = ?2 LIMIT ?3");

/// A message from a row of [`read_columns!`]; `room` is its room's name.
/// Its reactions come from their own table (see [`attach_reactions`]).
fn message_from_row(room: &Arc<str>, row: &Row) -> rusqlite::Result<ChatMessage> {
    let id = row.get::<_, i64>(0)? as u64;
    let rev = row.get::<_, i64>(6)? as u64;
    let reply = match row.get::<_, Option<i64>>(13)? {
        None => None,
        Some(_) if row.get::<_, bool>(17)? => Some(Preview::deleted()),
        Some(_) => Some(Preview {
            uid: row.get::<_, Option<String>>(14)?.map(Into::into),
            user: Some(row.get::<_, String>(15)?.into()),
            excerpt: Some(match row.get::<_, String>(16)? {
                // A photo without a caption is quoted by its file's name.
                text if text.is_empty() => match row.get_ref(20)?.as_str()? {
                    "" => text,
                    json => attachments_from(20, json)?
                        .first()
                        .map(|a| crate::protocol::excerpt(&format!("📎 {}", a.name)))
                        .unwrap_or_default(),
                },
                text => text,
            }),
            deleted: false,
            bot: row.get::<_, Option<bool>>(22)?.unwrap_or(false),
        }),
    };
    Ok(ChatMessage {
        room: room.clone(),
        id,
        user: row.get::<_, String>(1)?.into(),
        text: row.get(2)?,
        ts: row.get::<_, i64>(3)? as u64,
        client_id: row.get(4)?,
        uid: row.get::<_, Option<String>>(5)?.map(Into::into),
        verified: row.get(12)?,
        bot: row.get(21)?,
        rev: (rev != id).then_some(rev),
        edited_ts: row.get::<_, Option<i64>>(7)?.map(|ts| ts as u64),
        deleted: row.get(8)?,
        deleted_by: row.get::<_, Option<String>>(18)?.map(Into::into),
        action: row.get(9)?,
        reply_to: row.get::<_, Option<i64>>(10)?.map(|id| id as u64),
        reply,
        mentions: split_lines(&row.get::<_, String>(11)?),
        reactions: Vec::new(),
        attachments: match row.get_ref(19)?.as_str()? {
            "" => Vec::new(),
            json => attachments_from(19, json)?,
        },
    })
}

/// Insert a pass's messages and apply its changes, in the order they were
/// made (an edit may follow its message in one pass), and give a room seen
/// for the first time its row (with the message's spelling of its name).
///
/// A room's row is written once, not once per pass: its `next_id` column is
/// only a floor (the number after the newest message or change when the row
/// was written, or when retention last deleted from it), and [`ROOM`] takes
/// the larger of it and the newest stored `rev` + 1. Updating the row on every
/// pass was a third of the cost of storing a message in small rooms, where
/// nearly every message is its room's only one in its pass.
pub(super) fn write_all(tx: &Connection, writes: &[(String, Write)]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(INSERT_MESSAGE)?;
    let mut room =
        tx.prepare_cached("INSERT OR IGNORE INTO rooms (key, name, next_id) VALUES (?1, ?2, ?3)")?;
    let mut rooms_seen: Vec<&str> = Vec::new();
    for (key, write) in writes {
        let m = match write {
            Write::Post(m) => m,
            Write::Change(change) => {
                apply_change(tx, key, change)?;
                continue;
            }
        };
        insert.execute(params![
            key,
            m.id as i64,
            &*m.user,
            m.text,
            m.ts as i64,
            m.client_id,
            m.uid.as_deref(),
            m.rev() as i64,
            m.edited_ts.map(|ts| ts as i64),
            m.deleted,
            m.action,
            m.reply_to.map(|id| id as i64),
            join_lines(&m.mentions),
            m.verified,
            attachments_json(&m.attachments),
            m.bot,
        ])?;
        super::media::attach(tx, key, m)?;
        if !rooms_seen.contains(&key.as_str()) {
            rooms_seen.push(key);
            room.execute(params![key, &*m.room, m.id as i64 + 1])?;
        }
    }
    Ok(())
}

/// One change to a stored message. Each kind writes only what it changes,
/// so changes made one after the other compose in any pass. A delete clears
/// the text, the mentions, the reply and the reactions in the same
/// transaction; with `secure_delete` on (see `sqlite.rs`) the old bytes are
/// overwritten, and the next checkpoint takes them out of the file.
fn apply_change(tx: &Connection, key: &str, change: &Change) -> rusqlite::Result<()> {
    let (id, seq) = (change.id as i64, change.seq as i64);
    match &change.what {
        Changed::Edit {
            text,
            mentions,
            edited_ts,
            ..
        } => tx
            .prepare_cached(
                "UPDATE messages SET text = ?3, mentions = ?4, edited_ts = ?5, rev = ?6
                 WHERE room = ?1 AND id = ?2",
            )?
            .execute(params![
                key,
                id,
                text,
                join_lines(mentions),
                *edited_ts as i64,
                seq
            ])?,
        Changed::Delete { by } => {
            tx.prepare_cached("DELETE FROM reactions WHERE room = ?1 AND message_id = ?2")?
                .execute(params![key, id])?;
            super::media::detach(tx, key, id)?;
            tx.prepare_cached(
                "UPDATE messages SET text = '', mentions = '', action = 0, reply_to = NULL,
                                     deleted = 1, rev = ?3, deleted_by = ?4,
                                     attachments = ''
                 WHERE room = ?1 AND id = ?2",
            )?
            .execute(params![key, id, seq, by.as_deref()])?
        }
        Changed::React {
            emoji,
            uid,
            user,
            on,
            ts,
            ..
        } => {
            match on {
                true => tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO reactions (room, message_id, emoji, uid, name, ts)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![key, id, emoji, &**uid, &**user, *ts as i64])?,
                false => {
                    // An emoji keeps its place when its first person leaves
                    // (reads order emoji by their earliest `ts`, as the hub
                    // has them: in the order each first came): the next
                    // person on it takes the leaver's time if it is earlier.
                    tx.prepare_cached(
                        "UPDATE reactions SET ts = min(ts, coalesce((SELECT ts FROM reactions
                             WHERE room = ?1 AND message_id = ?2 AND emoji = ?3 AND uid = ?4), ts))
                         WHERE room = ?1 AND message_id = ?2 AND emoji = ?3 AND uid =
                             (SELECT uid FROM reactions
                              WHERE room = ?1 AND message_id = ?2 AND emoji = ?3 AND uid != ?4
                              ORDER BY ts, uid LIMIT 1)",
                    )?
                    .execute(params![key, id, emoji, &**uid])?;
                    tx.prepare_cached(
                        "DELETE FROM reactions
                         WHERE room = ?1 AND message_id = ?2 AND emoji = ?3 AND uid = ?4",
                    )?
                    .execute(params![key, id, emoji, &**uid])?
                }
            };
            tx.prepare_cached("UPDATE messages SET rev = ?3 WHERE room = ?1 AND id = ?2")?
                .execute(params![key, id, seq])?
        }
    };
    Ok(())
}

/// A room's name and the number its next message or change gets: past its
/// newest stored one (the newest id, or a later `rev` of a changed message,
/// from the index of changed messages), and never below the floor kept in
/// its row (see [`write_all`]).
pub(super) const ROOM: &str = "SELECT name, max(next_id,
         coalesce((SELECT max(id) FROM messages WHERE messages.room = rooms.key), 0) + 1,
         coalesce((SELECT max(rev) FROM messages
                   WHERE messages.room = rooms.key AND rev > id), 0) + 1)
     FROM rooms WHERE key = ?1";

/// Before retention deletes messages: raise every room's floor past its
/// newest number (as [`ROOM`] finds it), so no number is ever given out twice.
pub(super) const RAISE_FLOORS: &str = "UPDATE rooms SET next_id = max(next_id,
         coalesce((SELECT max(id) FROM messages WHERE messages.room = rooms.key), 0) + 1,
         coalesce((SELECT max(rev) FROM messages
                   WHERE messages.room = rooms.key AND rev > id), 0) + 1)";

/// The latest number of any message of room `?1` older than message `?2`, or
/// of a change to one (0 if none): the hub's cache answers a resume only
/// from after it. An unchanged message's number is its id; a changed one's
/// `rev` is in the index of changed messages.
pub(super) const MAX_REV_BEFORE: &str = "SELECT max(
         coalesce((SELECT max(id) FROM messages WHERE room = ?1 AND id < ?2), 0),
         coalesce((SELECT max(rev) FROM messages WHERE room = ?1 AND id < ?2 AND rev > id), 0))";

/// Save and forget sessions, in the order they happened.
pub(super) fn change_sessions(tx: &Connection, changes: &[SessionChange]) -> rusqlite::Result<()> {
    for change in changes {
        match change {
            SessionChange::Save {
                token,
                name,
                idle_since_ms,
                rooms,
                account,
            } => tx
                // A session of an account deleted meanwhile (`natter account
                // delete` on the file while natter runs) is not stored: its
                // row went with the account, and storing it again would fail
                // the foreign key, and with it every session change of the
                // pass (other sessions' logouts and rooms among them).
                .prepare_cached(
                    "INSERT INTO sessions (token, name, idle_since, rooms, account)
                     SELECT ?1, ?2, ?3, ?4, ?5
                     WHERE ?5 IS NULL OR EXISTS (SELECT 1 FROM accounts WHERE key = ?5)
                     ON CONFLICT (token) DO UPDATE SET name = excluded.name,
                                                       idle_since = excluded.idle_since,
                                                       rooms = excluded.rooms,
                                                       account = excluded.account",
                )?
                .execute(params![
                    token,
                    name,
                    *idle_since_ms as i64,
                    join_lines(rooms),
                    account,
                ])?,
            SessionChange::Delete { token } => tx
                .prepare_cached("DELETE FROM sessions WHERE token = ?1")?
                .execute(params![token])?,
        };
    }
    Ok(())
}

/// Save and delete accounts, in the order they happened (before the pass's
/// sessions, which may name them).
pub(super) fn change_accounts(tx: &Connection, changes: &[AccountChange]) -> rusqlite::Result<()> {
    for change in changes {
        match change {
            AccountChange::Save(a) => tx
                .prepare_cached(
                    "INSERT INTO accounts (key, name, uid, phc, created_ts, bio, color)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (key) DO UPDATE SET name = excluded.name, phc = excluded.phc,
                                                     bio = excluded.bio, color = excluded.color",
                )?
                .execute(params![
                    a.key,
                    a.name,
                    a.uid,
                    a.phc,
                    a.created_ms as i64,
                    a.bio,
                    a.color
                ])?,
            AccountChange::Delete { key } => tx
                .prepare_cached("DELETE FROM accounts WHERE key = ?1")?
                .execute(params![key])?,
        };
    }
    Ok(())
}

/// The columns of an account, in the order [`account_from_row`] reads them.
pub(super) const ACCOUNT_COLUMNS: &str =
    "SELECT key, name, uid, phc, created_ts, bio, color FROM accounts";

pub(super) fn account_from_row(row: &Row) -> rusqlite::Result<StoredAccount> {
    Ok(StoredAccount {
        key: row.get(0)?,
        name: row.get(1)?,
        uid: row.get(2)?,
        phc: row.get(3)?,
        created_ms: row.get::<_, i64>(4)? as u64,
        bio: row.get(5)?,
        color: row.get(6)?,
    })
}

/// Names in one column (a session's rooms, a message's mentions): names
/// cannot hold a newline (control characters are refused), so one per line.
fn join_lines(names: &[String]) -> String {
    names.join("\n")
}

/// The names of a column written by [`join_lines`].
pub(super) fn split_lines(column: &str) -> Vec<String> {
    column
        .split('\n')
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// Up to `limit` messages of room `key` by `sql`, one of the `MESSAGES_*`
/// queries (`?2` is `bound`, `?3` is `limit`), with their reactions; `name`
/// fills each one's `room`.
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
    let rows = stmt.query_map(
        params![key, bound, limit as i64, REPLY_EXCERPT_CHARS as i64],
        |row| message_from_row(&room, row),
    )?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    attach_reactions(db, key, &mut messages)?;
    Ok(messages)
}

/// Fill in each message's reactions: each emoji in the order it first came,
/// its people oldest first.
fn attach_reactions(
    db: &Connection,
    key: &str,
    messages: &mut [ChatMessage],
) -> rusqlite::Result<()> {
    let mut stmt = db.prepare_cached(
        "SELECT emoji, uid, name FROM reactions WHERE room = ?1 AND message_id = ?2
         ORDER BY ts, emoji, uid",
    )?;
    for m in messages.iter_mut().filter(|m| !m.deleted) {
        let rows = stmt.query_map(params![key, m.id as i64], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (emoji, uid, user) = row?;
            let person = (uid.into(), user.into());
            match m.reactions.iter_mut().find(|r| r.emoji == emoji) {
                Some(r) => r.by.push(person),
                None => m.reactions.push(Reaction {
                    emoji,
                    by: vec![person],
                }),
            }
        }
    }
    Ok(())
}

/// The attachments stored as JSON in column `index`.
fn attachments_from(
    index: usize,
    json: &str,
) -> rusqlite::Result<Vec<crate::protocol::Attachment>> {
    serde_json::from_str(json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
    })
}

/// A message's attachments as stored: the JSON of its frame's, or '' for none.
fn attachments_json(attachments: &[crate::protocol::Attachment]) -> String {
    match attachments.is_empty() {
        true => String::new(),
        // A Vec of plain structs always serializes.
        false => serde_json::to_string(attachments).expect("attachments serialize"),
    }
}
