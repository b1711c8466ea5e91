//! The rows behind bot tokens (`cmd/bots.rs`): one per token, by the hash of
//! its secret. Tokens are not kept in memory: every use reads its row, so a
//! token revoked by `natter token revoke` (which writes the file directly,
//! beside a running natter) stops working at its next use.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::protocol::Scope;

/// A bot token as stored: never its secret, only `session::token_key` of it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredToken {
    pub hash: String,
    /// Its room's key, and the room's name when it was made.
    pub room: String,
    pub room_name: String,
    /// The bot's display name, reserved in the room.
    pub name: String,
    pub scope: Scope,
    /// Who made it: the owner's name, or "operator" (`natter token`).
    pub created_by: String,
    pub created_ms: u64,
    pub last_used_ms: Option<u64>,
    pub revoked: bool,
}

impl StoredToken {
    /// The public id it is listed and revoked by: the hash's first 12 hex
    /// digits (48 bits: unique among any room's tokens, and no help in
    /// guessing the secret).
    pub fn id(&self) -> &str {
        &self.hash[..12]
    }
}

const COLUMNS: &str = "hash, room, room_name, name, scope, created_by, created_ts, \
                       last_used_ts, revoked";

fn from_row(row: &Row) -> rusqlite::Result<StoredToken> {
    Ok(StoredToken {
        hash: row.get(0)?,
        room: row.get(1)?,
        room_name: row.get(2)?,
        name: row.get(3)?,
        // A word this build does not know grants the least: reading.
        scope: Scope::parse(&row.get::<_, String>(4)?).unwrap_or(Scope::Read),
        created_by: row.get(5)?,
        created_ms: row.get::<_, i64>(6)? as u64,
        last_used_ms: row.get::<_, Option<i64>>(7)?.map(|ms| ms as u64),
        revoked: row.get(8)?,
    })
}

/// The token whose secret hashes to `hash`, revoked or not.
pub(super) fn token(db: &Connection, hash: &str) -> rusqlite::Result<Option<StoredToken>> {
    db.prepare_cached(&format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1"))?
        .query_row(params![hash], from_row)
        .optional()
}

/// Tokens, newest first: room `room`'s live ones, or with `None` every
/// token, revoked ones too (for the operator).
pub(super) fn tokens(db: &Connection, room: Option<&str>) -> rusqlite::Result<Vec<StoredToken>> {
    let rows = match room {
        Some(room) => db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tokens WHERE room = ?1 AND revoked = 0
                 ORDER BY created_ts DESC"
            ))?
            .query_map(params![room], from_row)?
            .collect(),
        None => db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tokens ORDER BY created_ts DESC"
            ))?
            .query_map([], from_row)?
            .collect(),
    };
    rows
}

/// Store a new token (`RoomWrite::Token`).
pub(super) fn insert(tx: &Connection, t: &StoredToken) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO tokens (hash, room, room_name, name, name_key, scope, created_by,
                             created_ts, last_used_ts, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        t.hash,
        t.room,
        t.room_name,
        t.name,
        crate::protocol::name_key(&t.name),
        t.scope.as_str(),
        t.created_by,
        t.created_ms as i64,
        t.last_used_ms.map(|ms| ms as i64),
        t.revoked,
    ])
}

/// Revoke token `hash` (`RoomWrite::Untoken`).
pub(super) fn revoke(tx: &Connection, hash: &str) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE tokens SET revoked = 1 WHERE hash = ?1")?
        .execute(params![hash])
}

/// Token `hash` was used at `ms` (`RoomWrite::TokenUsed`).
pub(super) fn used(tx: &Connection, hash: &str, ms: u64) -> rusqlite::Result<usize> {
    tx.prepare_cached("UPDATE tokens SET last_used_ts = ?2 WHERE hash = ?1")?
        .execute(params![hash, ms as i64])
}
