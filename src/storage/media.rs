//! The rows behind uploads: `media` (one per file, by hash) and `uploads`
//! (one per upload, by its random id), and `upload_days` for the daily
//! limit. The files themselves are in the media folder (`media/mod.rs`).
//!
//! A file is unused once no upload names it: an upload goes when its message
//! is deleted (in the same transaction, [`detach`]), when retention deletes
//! its message, or when it was never attached within the hour. The janitor
//! asks for the unused ones ([`garbage`]), forgets their rows
//! ([`MediaWrite::Forget`]) and deletes their files.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::media::StoredUpload;
use crate::protocol::{ChatMessage, MediaKind};

/// A change to the media rows, in a pass's [`Batch`](super::Batch).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum MediaWrite {
    /// A new upload (and its file's row, unless the same bytes are stored).
    Record(StoredUpload),
    /// The janitor's sweep: these uploads go, and these files' rows, if
    /// still nothing names them.
    Forget {
        uploads: Vec<String>,
        hashes: Vec<String>,
    },
}

/// What is stored, for the limits: one person's files, what they uploaded
/// today, and everything.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MediaUsage {
    pub person_bytes: u64,
    pub today_bytes: u64,
    pub total_bytes: u64,
}

pub(super) fn write_all(tx: &Connection, writes: &[MediaWrite]) -> rusqlite::Result<()> {
    for write in writes {
        match write {
            MediaWrite::Record(u) => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO media (hash, size, mime, created_ts)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    u.hash,
                    u.size as i64,
                    u.mime,
                    u.created_ms as i64
                ])?;
                tx.prepare_cached(
                    "INSERT INTO uploads (id, hash, room, room_name, uid, name, kind, width,
                                          height, duration_ms, created_ts, mime)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(params![
                    u.id,
                    u.hash,
                    u.room,
                    u.room_name,
                    u.uid,
                    u.name,
                    u.kind.as_str(),
                    u.width,
                    u.height,
                    u.duration_ms.map(|d| d as i64),
                    u.created_ms as i64,
                    u.mime,
                ])?;
                tx.prepare_cached(
                    "INSERT INTO upload_days (uid, day, bytes) VALUES (?1, ?2, ?3)
                     ON CONFLICT (uid, day) DO UPDATE SET bytes = bytes + excluded.bytes",
                )?
                .execute(params![
                    u.uid,
                    day_of(u.created_ms) as i64,
                    u.size as i64
                ])?;
            }
            MediaWrite::Forget { uploads, hashes } => {
                let mut upload = tx.prepare_cached("DELETE FROM uploads WHERE id = ?1")?;
                for id in uploads {
                    upload.execute(params![id])?;
                }
                let mut file = tx.prepare_cached(
                    "DELETE FROM media WHERE hash = ?1
                     AND NOT EXISTS (SELECT 1 FROM uploads WHERE hash = ?1)",
                )?;
                for hash in hashes {
                    file.execute(params![hash])?;
                }
                // Days before yesterday no longer count against anyone.
                let today = day_of(crate::protocol::now_millis()) as i64;
                tx.prepare_cached("DELETE FROM upload_days WHERE day < ?1")?
                    .execute(params![today - 1])?;
            }
        }
    }
    Ok(())
}

/// The UTC day a moment falls on, in days since the Unix epoch.
pub fn day_of(ms: u64) -> u64 {
    ms / (24 * 60 * 60 * 1000)
}

/// A new message takes its uploads: each must still be there and free (the
/// hub checked; this holds the line should the janitor have been quicker).
pub(super) fn attach(tx: &Connection, key: &str, m: &ChatMessage) -> rusqlite::Result<()> {
    for a in &m.attachments {
        let taken = tx
            .prepare_cached(
                "UPDATE uploads SET message_id = ?3
                 WHERE id = ?1 AND room = ?2 AND message_id IS NULL",
            )?
            .execute(params![a.id, key, m.id as i64])?;
        if taken != 1 {
            let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT);
            let why = format!("upload {} was deleted before the message was stored", a.id);
            return Err(rusqlite::Error::SqliteFailure(code, Some(why)));
        }
    }
    Ok(())
}

/// A deleted message lets go of its uploads; their files go once nothing
/// else names them (the janitor).
pub(super) fn detach(tx: &Connection, key: &str, id: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM uploads WHERE room = ?1 AND message_id = ?2")?
        .execute(params![key, id])?;
    Ok(())
}

pub(super) fn upload(db: &Connection, id: &str) -> rusqlite::Result<Option<StoredUpload>> {
    db.prepare_cached(
        "SELECT u.id, u.hash, u.room, u.room_name, u.uid, u.name, u.kind,
                coalesce(u.mime, m.mime), m.size,
                u.width, u.height, u.duration_ms, u.created_ts, u.message_id
         FROM uploads u JOIN media m ON m.hash = u.hash WHERE u.id = ?1",
    )?
    .query_row(params![id], |row| {
        let kind: String = row.get(6)?;
        Ok(StoredUpload {
            id: row.get(0)?,
            hash: row.get(1)?,
            room: row.get(2)?,
            room_name: row.get(3)?,
            uid: row.get(4)?,
            name: row.get(5)?,
            kind: MediaKind::parse(&kind).unwrap_or(MediaKind::File),
            mime: row.get(7)?,
            size: row.get::<_, i64>(8)? as u64,
            width: row.get(9)?,
            height: row.get(10)?,
            duration_ms: row.get::<_, Option<i64>>(11)?.map(|d| d as u64),
            created_ms: row.get::<_, i64>(12)? as u64,
            message_id: row.get::<_, Option<i64>>(13)?.map(|id| id as u64),
        })
    })
    .optional()
}

pub(super) fn usage(db: &Connection, uid: &str, now_ms: u64) -> rusqlite::Result<MediaUsage> {
    db.prepare_cached(
        "SELECT (SELECT coalesce(sum(m.size), 0) FROM uploads u JOIN media m ON m.hash = u.hash
                 WHERE u.uid = ?1),
                (SELECT coalesce(sum(bytes), 0) FROM upload_days WHERE uid = ?1 AND day = ?2),
                (SELECT coalesce(sum(size), 0) FROM media)",
    )?
    .query_row(params![uid, day_of(now_ms) as i64], |row| {
        Ok(MediaUsage {
            person_bytes: row.get::<_, i64>(0)? as u64,
            today_bytes: row.get::<_, i64>(1)? as u64,
            total_bytes: row.get::<_, i64>(2)? as u64,
        })
    })
}

/// The uploads that are due to go: never attached and older than
/// `orphan_before_ms`, or whose message retention deleted.
const DOOMED: &str = "WITH doomed AS (
        SELECT id FROM uploads u
        WHERE (u.message_id IS NULL AND u.created_ts < ?1)
           OR (u.message_id IS NOT NULL AND NOT EXISTS
                 (SELECT 1 FROM messages m WHERE m.room = u.room AND m.id = u.message_id))
        ORDER BY id LIMIT ?2)";

/// At most `limit` uploads due to go, and the files that nothing else
/// names once they are gone. Both queries see the same `limit` uploads
/// (the first by id): between them the set can only grow (the janitor, the
/// one that forgets, holds the media lock, and no upload that old can be
/// attached), so no file still named is in the second list.
pub(super) fn garbage(
    db: &Connection,
    orphan_before_ms: u64,
    limit: usize,
) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
    let cutoff = orphan_before_ms as i64;
    let uploads = db
        .prepare_cached(&format!("{DOOMED} SELECT id FROM doomed"))?
        .query_map(params![cutoff, limit as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let hashes = db
        .prepare_cached(&format!(
            "{DOOMED} SELECT hash FROM media WHERE NOT EXISTS
                 (SELECT 1 FROM uploads u WHERE u.hash = media.hash
                  AND u.id NOT IN (SELECT id FROM doomed))
             LIMIT ?2"
        ))?
        .query_map(params![cutoff, limit as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok((uploads, hashes))
}

/// Every file the rows know, by hash (the janitor reconciles the folder).
pub(super) fn hashes(db: &Connection) -> rusqlite::Result<Vec<String>> {
    db.prepare_cached("SELECT hash FROM media")?
        .query_map([], |row| row.get(0))?
        .collect()
}
