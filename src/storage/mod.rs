//! Storage: chat history, rooms and sessions in one SQLite file.
//!
//! Only the hub thread uses [`Storage`] (it owns all chat state, and storage
//! is part of that state), so one connection and no locks. The hub keeps each
//! busy room's recent messages in memory as a cache; SQLite is the truth.
//!
//! One other thread opens the file: the checkpoint thread
//! ([`checkpoint_loop`]), with a connection of its own, copies the write-ahead
//! log into the database every second so that the hub never waits for the
//! disk's `fsync`. SQLite's file locks keep the two apart; the hub waits (in
//! `wait_for_checkpoint`) only when the log has grown past its limit and must
//! start over.
//!
//! # What is guaranteed
//!
//! The hub saves each pass's new messages in one transaction *before* anyone
//! receives them. So a message that any client has seen is committed.
//!
//! - **Process crash** (`kill -9`, a panic, the OOM killer): every committed
//!   message survives. The database is in WAL mode, and a commit is in the
//!   operating system's hands before `COMMIT` returns.
//! - **Power loss or kernel crash**: with `synchronous=NORMAL` (the WAL default
//!   that makes a commit cost no `fsync`), the last commits before the crash
//!   may be lost, but the database is never corrupted. Messages are lost only
//!   if they were sent in the last moments before the power went.
//!
//! # Schema
//!
//! The schema's version is SQLite's `user_version`. [`Storage::open`] runs the
//! migrations a database needs and refuses one newer than this build knows.
//! Since version 3 a room's key (`rooms.key`, `messages.room`) is
//! [`protocol::room_key`] of its name, which makes look-alike names one room;
//! before, it was the name in lower case.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use crate::config::{
    CHECKPOINT_BUSY_TIMEOUT, DB_BUSY_STEP, DB_BUSY_TIMEOUT, MAX_ROOM_CHARS, MIN_WAL_LIMIT_BYTES,
    WAL_LIMIT_BYTES,
};
use crate::protocol::{self, ChatMessage};

mod shim;
pub use shim::{Batch, SessionChange, Store};

/// The schema version this build writes. Each migration below moves a
/// database from `index` to `index + 1`.
const SCHEMA_VERSION: i64 = 3;

/// One step of the schema: SQL, or Rust for what SQL cannot compute.
enum Migration {
    Sql(&'static str),
    Rust(fn(&Transaction) -> Result<(), StorageError>),
}

/// Migrations, in order. Never edit one that has shipped; add another.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(
        "
    CREATE TABLE rooms (
        key      TEXT PRIMARY KEY,   -- lower-cased name: rooms match case-insensitively
        name     TEXT NOT NULL,      -- the first spelling, as displayed
        next_id  INTEGER NOT NULL    -- the id the room's next message gets
    ) WITHOUT ROWID;
    CREATE TABLE messages (
        room      TEXT NOT NULL,
        id        INTEGER NOT NULL,  -- per room, increasing, never reused
        user      TEXT NOT NULL,
        text      TEXT NOT NULL,
        ts        INTEGER NOT NULL,  -- milliseconds since the Unix epoch
        client_id TEXT,
        PRIMARY KEY (room, id)
    ) WITHOUT ROWID;
    CREATE INDEX messages_by_time ON messages (ts);
    CREATE TABLE sessions (
        token       TEXT PRIMARY KEY, -- since version 2: session::token_key(token)
        name        TEXT NOT NULL,
        idle_since  INTEGER NOT NULL -- ms since the epoch; the session expires a TTL after
    ) WITHOUT ROWID;
",
    ),
    Migration::Sql(
        "
    -- Sessions are now stored by the SHA-256 of their token (`token_key`), never
    -- the token itself. Tokens stored by version 1 cannot be converted here;
    -- those sessions end, and their users log in again.
    DELETE FROM sessions;
",
    ),
    // Rooms are keyed by `protocol::room_key`, the look-alike key, instead of
    // the lower-cased name. SQL cannot compute it.
    Migration::Rust(rekey_rooms),
];

/// Version 3: give every room its `protocol::room_key`, and its name in NFKC
/// form (when the name is still a valid one).
///
/// Names that were two rooms may now be one key ("café" spelled with "é" and
/// with "e" + a combining accent, or "Lobby" and a "Lоbby" with a Cyrillic
/// "о"). Then the room that was there first (its oldest message) keeps the
/// key, and each later one keeps its own history under a numbered name,
/// "Lоbby 2", with one line in the log. Merging them instead would renumber
/// the messages that pages resume from, and pour a look-alike room's history
/// into the room it imitated.
fn rekey_rooms(tx: &Transaction) -> Result<(), StorageError> {
    let rooms: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare(
                "SELECT key, name,
                        (SELECT ts FROM messages WHERE room = rooms.key ORDER BY id LIMIT 1)
                          AS first
                 FROM rooms ORDER BY first IS NULL, first, key",
            )
            .map_err(describe)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(describe)?;
        rows.collect::<Result<_, _>>().map_err(describe)?
    };
    // The new name and key of each room, oldest first: the first of each key
    // keeps it, the others are numbered once every first has its key, so that
    // "Lоbby 2" does not take the key of a real "Lobby 2".
    let mut plan: Vec<(String, String)> = rooms
        .iter()
        .map(|(_, name)| {
            let name = protocol::check_room(name).unwrap_or_else(|_| name.clone());
            (protocol::room_key(&name), name)
        })
        .collect();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let later: Vec<usize> = (0..plan.len())
        .filter(|&i| *first_of.entry(plan[i].0.clone()).or_insert(i) != i)
        .collect();
    let mut taken: HashSet<String> = first_of.keys().cloned().collect();
    for i in later {
        let first = &rooms[first_of[&plan[i].0]].1;
        let renamed = (2..)
            .map(|n| numbered(&plan[i].1, n))
            .find(|name| !taken.contains(&protocol::room_key(name)))
            .expect("some number gives a free name: a finite set of keys is taken");
        let messages: i64 = tx
            .query_row(
                "SELECT count(*) FROM messages WHERE room = ?1",
                params![rooms[i].0],
                |row| row.get(0),
            )
            .map_err(describe)?;
        eprintln!(
            "natter: rooms {first:?} and {:?} now count as one name (they look alike); \
             the second keeps its {messages} messages as room {renamed:?}",
            rooms[i].1
        );
        plan[i] = (protocol::room_key(&renamed), renamed);
        taken.insert(plan[i].0.clone());
    }
    // Move each room's messages to its new key. Going straight there could
    // meet a room that has not moved yet and still holds that key (a room's
    // key is part of each message's primary key); such a room is parked
    // under a temporary key, which no real key can be (they have no control
    // characters), and moved on once all the others have gone.
    let mut present: HashSet<&str> = rooms.iter().map(|(key, _)| key.as_str()).collect();
    let mut parked = Vec::new();
    for (i, ((old_key, _), (new_key, name))) in rooms.iter().zip(&plan).enumerate() {
        if old_key == new_key {
            tx.execute(
                "UPDATE rooms SET name = ?2 WHERE key = ?1",
                params![old_key, name],
            )
            .map_err(describe)?;
            continue;
        }
        present.remove(old_key.as_str());
        if present.contains(new_key.as_str()) {
            let temporary = format!("\u{1}{i}");
            move_room(tx, old_key, &temporary, name)?;
            parked.push((temporary, new_key, name));
        } else {
            move_room(tx, old_key, new_key, name)?;
            present.insert(new_key);
        }
    }
    for (temporary, new_key, name) in parked {
        move_room(tx, &temporary, new_key, name)?;
    }
    Ok(())
}

/// Give a room and its messages a new key, and the room a new name.
fn move_room(tx: &Transaction, from: &str, to: &str, name: &str) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE messages SET room = ?2 WHERE room = ?1",
        params![from, to],
    )
    .map_err(describe)?;
    tx.execute(
        "UPDATE rooms SET key = ?2, name = ?3 WHERE key = ?1",
        params![from, to, name],
    )
    .map_err(describe)?;
    Ok(())
}

/// `name` with a number after it, shortened to fit the room-name limit.
fn numbered(name: &str, n: u32) -> String {
    let suffix = format!(" {n}");
    let room: String = name
        .chars()
        .take(MAX_ROOM_CHARS.saturating_sub(suffix.len()))
        .collect();
    format!("{}{suffix}", room.trim_end())
}

/// A storage failure, as a line a person can act on.
pub type StorageError = String;

fn describe(err: rusqlite::Error) -> StorageError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => "the disk (or database size limit) is full".into(),
        Some(rusqlite::ErrorCode::ReadOnly) => "the database is read-only".into(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            "the database is corrupt, or its file was deleted or its disk removed".into()
        }
        Some(rusqlite::ErrorCode::SystemIoFailure) => format!(
            "the disk refused a write or read (a file-size limit, a disk removed or \
             remounted read-only, a hardware fault): {err}"
        ),
        Some(rusqlite::ErrorCode::DatabaseBusy) => format!(
            "the database stayed busy for {} s: another program is using it",
            DB_BUSY_TIMEOUT.as_secs()
        ),
        _ => err.to_string(),
    }
}

/// A room as stored.
pub struct StoredRoom {
    pub name: String,
    pub next_id: u64,
}

/// A session as stored.
pub struct StoredSession {
    pub token: String,
    pub name: String,
    pub idle_since_ms: u64,
}

pub struct Storage {
    db: Connection,
    /// The shared-memory file beside a database file; `None` in memory.
    /// Shared with the checkpoint thread, so that both go by the largest
    /// size either has seen.
    shm: Option<Arc<ShmWatch>>,
}

/// Keeps SQLite's `-shm` file from being cut short under it.
///
/// In WAL mode SQLite maps `natter.db-shm` into memory. If another program
/// truncates that file (a careless `: > natter.db-shm`, a backup tool), the
/// next touch of the mapping is a SIGBUS, and the whole process dies without
/// a word: no Rust code can catch it. So before every use of the database the
/// file's size is checked (one `stat`, about a microsecond), and a file that
/// shrank is grown back to the size SQLite mapped. Its content is then zeros,
/// which SQLite reads as a wal-index to rebuild, and rebuilds from the log.
///
/// This narrows the window, it does not close it: a truncation in the
/// microseconds between the check and SQLite's next touch still crashes,
/// and no safe Rust can catch a SIGBUS. The README says to leave the files
/// alone while natter runs.
pub struct ShmWatch {
    path: std::path::PathBuf,
    /// The largest size seen by the hub or the checkpoint thread: SQLite
    /// only ever grows the file while it is open.
    size: std::sync::atomic::AtomicU64,
}

impl ShmWatch {
    fn new(db_path: &str) -> ShmWatch {
        ShmWatch {
            path: format!("{db_path}-shm").into(),
            size: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn check(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return; // not made yet, or deleted: the mapping stays valid
        };
        let now = meta.len();
        let before = self.size.fetch_max(now, Relaxed).max(now);
        if now >= before {
            return;
        }
        // Only ever grow it: the other connection may have grown the file
        // since the `stat`, and cutting it back would be the very crash this
        // prevents. So the length is read again on the open file.
        let restored = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|file| match file.metadata()?.len() < before {
                true => file.set_len(before),
                false => Ok(()),
            });
        match restored {
            Ok(()) => eprintln!(
                "natter: {} was cut from {before} to {now} bytes by another program; \
                 grown back (SQLite rebuilds its index). Never truncate it while natter runs.",
                self.path.display()
            ),
            Err(err) => eprintln!(
                "natter: {} was cut short by another program and cannot be grown back \
                 ({err}); natter may crash. Stop whatever is changing it.",
                self.path.display()
            ),
        }
    }
}

impl Storage {
    /// Open (or create) the database at `path`; `:memory:` keeps nothing on
    /// disk. Refuses, with one line saying why, a file that is not a database,
    /// cannot be read, or has a newer schema than this build. With `max_bytes`,
    /// the file may not grow past that: saving then fails as "full".
    pub fn open(path: &str, max_bytes: Option<u64>) -> Result<Storage, StorageError> {
        let db = if path == ":memory:" {
            Connection::open_in_memory()
        } else {
            Connection::open_with_flags(
                Path::new(path),
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        }
        .map_err(|e| format!("cannot open {path}: {}", describe(e)))?;
        let shm = (path != ":memory:").then(|| Arc::new(ShmWatch::new(path)));
        let mut storage = Storage { db, shm };
        storage
            .prepare(wal_limit(max_bytes))
            .map_err(|e| format!("cannot use {path}: {e}"))?;
        if let Some(max_bytes) = max_bytes {
            let page_size: i64 = storage
                .db
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .map_err(describe)?;
            let pages = (max_bytes as i64 / page_size).max(1);
            storage
                .db
                .pragma_update(None, "max_page_count", pages)
                .map_err(describe)?;
        }
        Ok(storage)
    }

    fn prepare(&mut self, wal_limit: u64) -> Result<(), StorageError> {
        self.db
            .busy_handler(Some(wait_for_checkpoint))
            .map_err(describe)?;
        let db = &self.db;
        // Reading the version is the first real read: a file that is not a
        // database (or unreadable) fails here.
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(describe)?;
        if version > SCHEMA_VERSION {
            return Err(format!(
                "its schema is version {version}, newer than this natter understands \
                 ({SCHEMA_VERSION}); run a newer natter"
            ));
        }
        // WAL: readers never block the writer, and a commit is one append.
        // NORMAL: no fsync per commit (see the module doc for what that means).
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(describe)?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(describe)?;
        // No checkpoints on the hub's connection: a checkpoint copies the WAL
        // into the database and fsyncs it, which can take tens of milliseconds,
        // and every client waits while the hub waits. `checkpoint_loop` does
        // them on a thread of its own instead (the hub waits only for the rare
        // RESTART that keeps the log's size bounded).
        db.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(describe)?;
        // When the log starts over, cut its file back to the limit (see
        // `checkpoint_loop`); below it the file is reused, not regrown.
        db.pragma_update(None, "journal_size_limit", wal_limit as i64)
            .map_err(describe)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(describe)?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.db.transaction().map_err(describe)?;
            match migration {
                Migration::Sql(sql) => tx.execute_batch(sql).map_err(describe)?,
                Migration::Rust(migrate) => migrate(&tx)?,
            }
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(describe)?;
            tx.commit().map_err(describe)?;
        }
        Ok(())
    }

    /// Run raw SQL. For tests that need to provoke failures (a size limit).
    #[doc(hidden)]
    pub fn execute_batch(&self, sql: &str) -> Result<(), StorageError> {
        self.db.execute_batch(sql).map_err(describe)
    }

    /// The `-shm` watch, for the checkpoint thread to share.
    pub fn shm_watch(&self) -> Option<Arc<ShmWatch>> {
        self.shm.clone()
    }

    /// Every use of the database starts here (see [`ShmWatch`]).
    fn guard(&self) -> &Connection {
        if let Some(shm) = &self.shm {
            shm.check();
        }
        &self.db
    }

    /// A room's stored name and next id, if it exists.
    pub fn room(&self, key: &str) -> Result<Option<StoredRoom>, StorageError> {
        self.guard()
            .prepare_cached("SELECT name, next_id FROM rooms WHERE key = ?1")
            .and_then(|mut stmt| {
                stmt.query_row(params![key], |row| {
                    Ok(StoredRoom {
                        name: row.get(0)?,
                        next_id: row.get::<_, i64>(1)? as u64,
                    })
                })
                .optional()
            })
            .map_err(describe)
    }

    /// Save one hub pass's new messages, and their rooms' next ids, in one
    /// transaction: all of them or none.
    pub fn save_messages(&mut self, messages: &[(&str, &ChatMessage)]) -> Result<(), StorageError> {
        self.guard();
        let tx = self.db.transaction().map_err(describe)?;
        {
            let mut room = tx
                .prepare_cached(
                    "INSERT INTO rooms (key, name, next_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET next_id = max(next_id, excluded.next_id)",
                )
                .map_err(describe)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (room, id, user, text, ts, client_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(describe)?;
            // One row per message; one room update per room, with its last id.
            let mut next_ids: Vec<(&str, &ChatMessage)> = Vec::new();
            for &(key, m) in messages {
                insert
                    .execute(params![
                        key,
                        m.id as i64,
                        &*m.user,
                        m.text,
                        m.ts as i64,
                        m.client_id
                    ])
                    .map_err(describe)?;
                match next_ids.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = m,
                    None => next_ids.push((key, m)),
                }
            }
            for (key, last) in next_ids {
                room.execute(params![key, &*last.room, last.id as i64 + 1])
                    .map_err(describe)?;
            }
        }
        tx.commit().map_err(describe)
    }

    /// Up to `limit` messages of a room with ids below `before`, oldest first,
    /// and whether there are older ones still.
    pub fn before(
        &self,
        key: &str,
        room: &Arc<str>,
        before: u64,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StorageError> {
        let mut messages = self.query(
            "SELECT id, user, text, ts, client_id FROM messages
             WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            key,
            room,
            before.min(i64::MAX as u64) as i64,
            limit + 1,
        )?;
        let more = messages.len() > limit;
        messages.truncate(limit);
        messages.reverse();
        Ok((messages, more))
    }

    /// Up to `limit` messages of a room with ids above `after`, oldest first.
    pub fn after(
        &self,
        key: &str,
        room: &Arc<str>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError> {
        self.query(
            "SELECT id, user, text, ts, client_id FROM messages
             WHERE room = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3",
            key,
            room,
            after.min(i64::MAX as u64) as i64,
            limit,
        )
    }

    fn query(
        &self,
        sql: &str,
        key: &str,
        room: &Arc<str>,
        bound: i64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError> {
        let mut stmt = self.guard().prepare_cached(sql).map_err(describe)?;
        let rows = stmt
            .query_map(params![key, bound, limit as i64], |row| {
                Ok(ChatMessage {
                    room: room.clone(),
                    id: row.get::<_, i64>(0)? as u64,
                    user: row.get::<_, String>(1)?.into(),
                    text: row.get(2)?,
                    ts: row.get::<_, i64>(3)? as u64,
                    client_id: row.get(4)?,
                })
            })
            .map_err(describe)?;
        rows.collect::<Result<_, _>>().map_err(describe)
    }

    /// Remember a session (login), or update when it went idle.
    pub fn save_session(
        &self,
        token: &str,
        name: &str,
        idle_since_ms: u64,
    ) -> Result<(), StorageError> {
        self.guard()
            .prepare_cached(
                "INSERT INTO sessions (token, name, idle_since) VALUES (?1, ?2, ?3)
                 ON CONFLICT (token) DO UPDATE SET name = excluded.name,
                                                   idle_since = excluded.idle_since",
            )
            .and_then(|mut stmt| stmt.execute(params![token, name, idle_since_ms as i64]))
            .map(drop)
            .map_err(describe)
    }

    /// Forget a session (logout or expiry).
    pub fn delete_session(&self, token: &str) -> Result<(), StorageError> {
        self.guard()
            .prepare_cached("DELETE FROM sessions WHERE token = ?1")
            .and_then(|mut stmt| stmt.execute(params![token]))
            .map(drop)
            .map_err(describe)
    }

    /// Every stored session, for the hub to start with.
    pub fn sessions(&self) -> Result<Vec<StoredSession>, StorageError> {
        let mut stmt = self
            .db
            .prepare("SELECT token, name, idle_since FROM sessions")
            .map_err(describe)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(StoredSession {
                    token: row.get(0)?,
                    name: row.get(1)?,
                    idle_since_ms: row.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(describe)?;
        rows.collect::<Result<_, _>>().map_err(describe)
    }

    /// Delete messages older than `cutoff_ms`, then rooms with none left.
    /// Returns how many messages went.
    pub fn delete_before(&mut self, cutoff_ms: u64) -> Result<usize, StorageError> {
        self.guard();
        let tx = self.db.transaction().map_err(describe)?;
        let deleted = tx
            .execute(
                "DELETE FROM messages WHERE ts < ?1",
                params![cutoff_ms as i64],
            )
            .map_err(describe)?;
        tx.execute(
            "DELETE FROM rooms WHERE NOT EXISTS
               (SELECT 1 FROM messages WHERE messages.room = rooms.key)",
            [],
        )
        .map_err(describe)?;
        tx.commit().map_err(describe)?;
        Ok(deleted)
    }

    /// `PRAGMA integrity_check`: "ok" for a sound database.
    pub fn integrity_check(&self) -> Result<String, StorageError> {
        self.db
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(describe)
    }
}

/// Whether the database file is still the one natter opened. Deleting (or
/// replacing) `natter.db` under a running natter breaks nothing at once: its
/// connections keep writing to the open, now nameless file, and everything
/// written since is lost when natter stops. The checkpoint thread looks every
/// second, says so loudly in the log, and `/healthz` answers 503 while it lasts.
#[derive(Default)]
pub struct FileHealth {
    gone: std::sync::atomic::AtomicBool,
}

impl FileHealth {
    /// Why the database is not what it should be, if it is not.
    pub fn problem(&self) -> Option<&'static str> {
        self.gone
            .load(std::sync::atomic::Ordering::Relaxed)
            .then_some("the database file was deleted or replaced while natter runs; restart it")
    }

    fn set_gone(&self, gone: bool) -> bool {
        self.gone.swap(gone, std::sync::atomic::Ordering::Relaxed) != gone
    }
}

/// The identity of a file: which device and inode its name leads to now.
fn file_identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The largest the write-ahead log may grow before the checkpoint thread makes
/// it start over: `WAL_LIMIT_BYTES`, or with a database budget (`--db-max-mb`)
/// a quarter of it, but no less than `MIN_WAL_LIMIT_BYTES`.
pub fn wal_limit(max_bytes: Option<u64>) -> u64 {
    match max_bytes {
        Some(budget) => (budget / 4).clamp(MIN_WAL_LIMIT_BYTES, WAL_LIMIT_BYTES),
        None => WAL_LIMIT_BYTES,
    }
}

/// The hub's busy handler: called while a checkpoint (or another program)
/// holds the database, with how many times it has been called in this wait;
/// `true` means "try again". It is given nothing else, so the wait's start is
/// kept per thread: counting steps would stretch with each oversleep.
fn wait_for_checkpoint(calls: i32) -> bool {
    thread_local! {
        static WAIT_STARTED: std::cell::Cell<Instant> = std::cell::Cell::new(Instant::now());
    }
    let now = Instant::now();
    if calls == 0 {
        WAIT_STARTED.set(now);
    }
    std::thread::sleep(DB_BUSY_STEP);
    now.duration_since(WAIT_STARTED.get()) < DB_BUSY_TIMEOUT
}

/// The checkpoint thread's body: `every` so often (`CHECKPOINT_INTERVAL`),
/// copy the WAL into the database file with its own connection, until `stop`
/// is closed.
///
/// A PASSIVE checkpoint never blocks the hub's writes (WAL lets a checkpoint
/// and a writer run at once); the fsyncs it needs happen here, off the hub's
/// path. But SQLite starts the log over only when a write begins after a
/// checkpoint has copied *all* of it, and under steady traffic the hub has
/// always appended more by then: the file would grow for as long as the
/// traffic lasts. So once it passes `wal_limit` (see [`wal_limit`]) the
/// checkpoint is a RESTART, which holds the hub's next commit back (the hub
/// waits in `wait_for_checkpoint`) until the log has been copied and can
/// start over.
pub fn checkpoint_loop(
    path: &str,
    every: Duration,
    wal_limit: u64,
    stop: crossbeam_channel::Receiver<()>,
    health: &FileHealth,
    shm: Arc<ShmWatch>,
) {
    let opened = file_identity(path);
    let db = match Connection::open(path) {
        Ok(db) => db,
        Err(err) => {
            eprintln!(
                "natter: the checkpoint thread cannot open {path}: {}",
                describe(err)
            );
            return;
        }
    };
    if let Err(err) = db.busy_timeout(CHECKPOINT_BUSY_TIMEOUT) {
        eprintln!("natter: checkpoint thread: {}", describe(err));
    }
    let wal = format!("{path}-wal");
    let run = |sql: &str| {
        shm.check();
        if let Err(err) = db.query_row(sql, [], |_| Ok(())) {
            eprintln!("natter: checkpoint failed: {}", describe(err));
        }
    };
    let checkpoint = || {
        // The PASSIVE pass copies nearly everything without holding anyone up,
        // so the RESTART that may follow has only the last moment's pages to
        // copy while the hub waits.
        run("PRAGMA wal_checkpoint(PASSIVE)");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > wal_limit) {
            run("PRAGMA wal_checkpoint(RESTART)");
        }
    };
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        let gone = opened.is_some() && file_identity(path) != opened;
        if health.set_gone(gone) {
            match gone {
                true => eprintln!(
                    "natter: ERROR: {path} was deleted or replaced while natter runs. \
                     Messages still go to the old file, which has no name now and is \
                     lost when natter stops; /healthz answers 503. Put the file back \
                     or restart natter."
                ),
                false => eprintln!("natter: {path} is back"),
            }
        }
        checkpoint();
    }
    checkpoint();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: &Arc<str>, id: u64, ts: u64) -> ChatMessage {
        ChatMessage {
            room: room.clone(),
            id,
            user: "alice".into(),
            text: format!("m{id}"),
            ts,
            client_id: None,
        }
    }

    #[test]
    fn messages_rooms_and_sessions_come_back() {
        let mut s = Storage::open(":memory:", None).unwrap();
        let room: Arc<str> = "Lobby".into();
        let batch: Vec<_> = (1..=5).map(|id| message(&room, id, 1000 + id)).collect();
        let refs: Vec<_> = batch.iter().map(|m| ("lobby", m)).collect();
        s.save_messages(&refs).unwrap();
        let stored = s.room("lobby").unwrap().unwrap();
        assert_eq!((stored.name.as_str(), stored.next_id), ("Lobby", 6));
        let (page, more) = s.before("lobby", &room, 4, 2).unwrap();
        assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 3]);
        assert!(more);
        let (page, more) = s.before("lobby", &room, 2, 10).unwrap();
        assert_eq!((page.len(), more), (1, false));
        assert_eq!(s.after("lobby", &room, 3, 10).unwrap().len(), 2);

        s.save_session("t1", "alice", 5).unwrap();
        s.save_session("t1", "alice", 9).unwrap();
        assert_eq!(s.sessions().unwrap()[0].idle_since_ms, 9);
        s.delete_session("t1").unwrap();
        assert!(s.sessions().unwrap().is_empty());
    }

    #[test]
    fn retention_deletes_old_messages_and_empty_rooms() {
        let mut s = Storage::open(":memory:", None).unwrap();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let (old, new, gone) = (message(&a, 1, 10), message(&a, 2, 500), message(&b, 1, 10));
        s.save_messages(&[("a", &old), ("a", &new), ("b", &gone)])
            .unwrap();
        assert_eq!(s.delete_before(100).unwrap(), 2);
        assert!(s.room("b").unwrap().is_none(), "an emptied room disappears");
        assert_eq!(
            s.room("a").unwrap().unwrap().next_id,
            3,
            "ids are never reused"
        );
    }

    #[test]
    fn a_newer_schema_or_a_non_database_is_refused() {
        let scratch = ScratchDb::new("schema");
        let dir = &scratch.dir;
        let newer = dir.join("newer.db");
        let db = Connection::open(&newer).unwrap();
        db.pragma_update(None, "user_version", 99).unwrap();
        drop(db);
        let err = Storage::open(newer.to_str().unwrap(), None).err().unwrap();
        assert!(err.contains("newer"), "{err}");
        let junk = dir.join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        assert!(Storage::open(junk.to_str().unwrap(), None).is_err());
    }

    #[test]
    fn version_2_rooms_are_rekeyed_and_look_alikes_keep_their_history() {
        let scratch = ScratchDb::new("rekey");
        // A version-2 database as natter wrote it: rooms keyed by their
        // lower-cased name, so look-alike names were separate rooms.
        let db = Connection::open(&scratch.path).unwrap();
        for migration in &MIGRATIONS[..2] {
            let Migration::Sql(sql) = migration else {
                panic!("versions 1 and 2 are SQL")
            };
            db.execute_batch(sql).unwrap();
        }
        db.pragma_update(None, "user_version", 2).unwrap();
        // (name, first message's time, messages): oldest first within a key.
        let old_rooms = [
            ("Lobby", 100, 3),
            ("L\u{43E}bby", 200, 2), // a Cyrillic о, made later
            ("Lobby 2", 300, 1),     // a real room of that name
            ("cafe\u{301}", 60, 2),  // e + combining accent, made later
            ("café", 50, 1),
            ("Commons", 10, 1),  // its key changes: "m" looks like "rn"
            ("ｆｕｌｌ", 10, 1), // fullwidth: its name becomes "full"
        ];
        for (name, ts, count) in old_rooms {
            let key = name.to_lowercase();
            db.execute(
                "INSERT INTO rooms (key, name, next_id) VALUES (?1, ?2, ?3)",
                params![key, name, count + 1],
            )
            .unwrap();
            for id in 1..=count {
                db.execute(
                    "INSERT INTO messages (room, id, user, text, ts) VALUES (?1, ?2, 'u', ?3, ?4)",
                    params![key, id, format!("{name} {id}"), ts + id],
                )
                .unwrap();
            }
        }
        drop(db);

        let s = Storage::open(&scratch.path, None).unwrap();
        let version: i64 =
            s.db.query_row("PRAGMA user_version", [], |row| row.get(0))
                .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // What a page sees when it joins a room by a name (the hub looks
        // rooms up by `room_key`): the room's name and its texts.
        let open = |typed: &str| {
            let key = protocol::room_key(&protocol::check_room(typed).unwrap());
            let stored = s.room(&key).unwrap().expect("the room is there");
            let name: Arc<str> = stored.name.as_str().into();
            let (messages, _) = s.before(&key, &name, u64::MAX, 100).unwrap();
            let texts: Vec<String> = messages.into_iter().map(|m| m.text).collect();
            (stored.name, stored.next_id, texts)
        };
        let texts = |name: &str, count: u64| (1..=count).map(|id| format!("{name} {id}")).collect();
        assert_eq!(open("lobby"), ("Lobby".into(), 4, texts("Lobby", 3)));
        assert_eq!(open("L\u{43E}BBY"), ("Lobby".into(), 4, texts("Lobby", 3)));
        assert_eq!(open("Lobby 2"), ("Lobby 2".into(), 2, texts("Lobby 2", 1)));
        assert_eq!(
            open("Lobby 3"),
            ("L\u{43E}bby 3".into(), 3, texts("L\u{43E}bby", 2)),
            "the later look-alike keeps its history under a free numbered name"
        );
        assert_eq!(open("cafe\u{301}"), ("café".into(), 2, texts("café", 1)));
        assert_eq!(
            open("café 2"),
            ("café 2".into(), 3, texts("cafe\u{301}", 2))
        );
        assert_eq!(open("commons"), ("Commons".into(), 2, texts("Commons", 1)));
        assert_eq!(open("full"), ("full".into(), 2, texts("ｆｕｌｌ", 1)));
        let rooms: i64 =
            s.db.query_row("SELECT count(*) FROM rooms", [], |row| row.get(0))
                .unwrap();
        assert_eq!(rooms, 7, "no room was lost");
        drop(s);
        // Opening it again migrates nothing more.
        let s = Storage::open(&scratch.path, None).unwrap();
        assert_eq!(open_name(&s, "Lobby 3"), "L\u{43E}bby 3");
    }

    /// The stored name of the room a person typing `typed` joins.
    fn open_name(s: &Storage, typed: &str) -> String {
        let key = protocol::room_key(typed);
        s.room(&key).unwrap().expect("the room is there").name
    }

    /// A database file in a fresh temporary folder, removed when dropped.
    struct ScratchDb {
        dir: std::path::PathBuf,
        path: String,
    }

    impl ScratchDb {
        fn new(name: &str) -> ScratchDb {
            let dir = std::env::temp_dir().join(format!("natter-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}.db")).display().to_string();
            ScratchDb { dir, path }
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Save message `id` of #lobby on its own, as the hub does in a quiet pass.
    fn save(s: &mut Storage, id: u64) -> Result<(), StorageError> {
        let room: Arc<str> = "lobby".into();
        s.save_messages(&[("lobby", &message(&room, id, id))])
    }

    /// Run `body` while a checkpoint thread works on `path`, then stop it.
    fn with_checkpoints(path: &str, every: Duration, wal_limit: u64, body: impl FnOnce()) {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let checkpoints = {
            let path = path.to_string();
            std::thread::spawn(move || {
                let shm = Arc::new(ShmWatch::new(&path));
                checkpoint_loop(
                    &path,
                    every,
                    wal_limit,
                    stopped,
                    &FileHealth::default(),
                    shm,
                )
            })
        };
        body();
        drop(stop);
        checkpoints.join().unwrap();
    }

    #[test]
    fn a_database_held_by_another_program_fails_with_a_clear_error() {
        let db = ScratchDb::new("busy");
        let mut s = Storage::open(&db.path, None).unwrap();
        // Say, an operator's `sqlite3 natter.db` in the middle of a write.
        let other = Connection::open(&db.path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = save(&mut s, 1).unwrap_err();
        assert!(err.contains("stayed busy for 5 s"), "{err}");
        // Once the other program lets go, saving works again.
        other.execute_batch("ROLLBACK").unwrap();
        save(&mut s, 1).unwrap();
    }

    #[test]
    fn the_log_stays_bounded_under_steady_traffic() {
        let db = ScratchDb::new("steady");
        let wal = format!("{}-wal", db.path);
        let mut s = Storage::open(&db.path, None).unwrap();
        // A commit every 0.2 ms, never a pause long enough for a PASSIVE
        // checkpoint to catch up: without the RESTART past the limit, the log
        // would keep all 10,000 of them (a page or two each, 40-80 MB). With
        // it, the log stays within a few checkpoints' worth; the bound is
        // loose because a disk busy with other writes (a fresh build's) makes
        // each checkpoint's fsync slow, and the log grows meanwhile.
        let mut largest = 0;
        with_checkpoints(&db.path, Duration::from_millis(5), 256 * 1024, || {
            for id in 1..=10_000 {
                save(&mut s, id).unwrap();
                largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        assert!(largest < 16 << 20, "the log grew to {largest} bytes");
        let stored: i64 =
            s.db.query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
                .unwrap();
        assert_eq!(stored, 10_000);
    }

    #[test]
    fn a_reader_that_never_finishes_does_not_make_saves_fail() {
        let db = ScratchDb::new("reader");
        let mut s = Storage::open(&db.path, None).unwrap();
        save(&mut s, 1).unwrap();
        // An operator's `sqlite3 natter.db` sitting in a read transaction: the
        // log cannot start over while it lasts. The RESTART checkpoint holds
        // the hub's writes while it waits for that reader, so it must give up
        // long before the hub's own patience (5 s) runs out.
        let reader = Connection::open(&db.path).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM messages;")
            .unwrap();
        with_checkpoints(&db.path, Duration::from_millis(50), 64 * 1024, || {
            let started = Instant::now();
            let mut id = 1;
            while started.elapsed() < Duration::from_millis(5500) {
                id += 1;
                let saved = save(&mut s, id);
                assert!(saved.is_ok(), "message {id}: {saved:?}");
                std::thread::sleep(Duration::from_micros(500));
            }
        });
    }

    #[test]
    fn a_database_budget_holds_the_log_to_a_quarter_of_it() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(wal_limit(None), WAL_LIMIT_BYTES);
        assert_eq!(wal_limit(Some(100 * MIB)), 25 * MIB);
        assert_eq!(wal_limit(Some(10 * MIB)), MIN_WAL_LIMIT_BYTES);
        assert_eq!(wal_limit(Some(10_000 * MIB)), WAL_LIMIT_BYTES);
    }
}
