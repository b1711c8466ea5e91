//! [`Sqlite`]: the [`Store`] in one SQLite file (or in memory).
//!
//! One connection per `Sqlite`, each used by one thread: with a database file
//! the hub reads through one and the writer thread commits through another
//! (see `writer.rs`); in memory the hub's one does both. It never checkpoints
//! (the checkpoint thread does, see `checkpoint.rs`), and when that thread
//! holds the database it waits in [`wait_for_checkpoint`], up to
//! `DB_BUSY_TIMEOUT`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::checkpoint::wal_limit;
use super::health::ShmWatch;
use super::rows::{
    self, read_messages, MESSAGES_AFTER, MESSAGES_BEFORE, MESSAGES_CHANGED, MESSAGE_BY_ID,
};
use super::{
    controls, schema, Applied, Batch, Controls, Entry, EntryRef, Journal, ListedRow, MediaUsage,
    Position, StorageError, Store, StoredAccount, StoredRoom, StoredSession,
};
use crate::config::{DB_BUSY_STEP, DB_BUSY_TIMEOUT};
use crate::protocol::ChatMessage;

/// The store in one SQLite file.
pub struct Sqlite {
    db: Connection,
    /// In cluster mode, the shared log every commit goes to before it is
    /// final (see [`Journal`]); `None` for one node.
    journal: Option<Box<dyn Journal>>,
    /// The shared-memory file beside a database file; `None` in memory.
    /// Shared with the checkpoint thread (see [`ShmWatch`]).
    shm: Option<Arc<ShmWatch>>,
}

impl Sqlite {
    /// Open (or create) the database at `path`; `:memory:` keeps nothing on
    /// disk. Refuses, with one line saying why, a file that is not a database,
    /// cannot be read, or has a newer schema than this build. With `max_bytes`,
    /// the file may not grow past that: saving then fails as "full".
    pub fn open(path: &str, max_bytes: Option<u64>) -> Result<Sqlite, StorageError> {
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
        let mut store = Sqlite {
            db,
            shm,
            journal: None,
        };
        store
            .prepare(wal_limit(max_bytes))
            .map_err(|e| format!("cannot use {path}: {e}"))?;
        if let Some(max_bytes) = max_bytes {
            let page_size: i64 = store
                .db
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .map_err(describe)?;
            let pages = (max_bytes as i64 / page_size).max(1);
            store
                .db
                .pragma_update(None, "max_page_count", pages)
                .map_err(describe)?;
        }
        Ok(store)
    }

    /// Set the connection up, then bring the schema up to date.
    fn prepare(&mut self, wal_limit: u64) -> Result<(), StorageError> {
        self.db
            .busy_handler(Some(wait_for_checkpoint))
            .map_err(describe)?;
        let db = &self.db;
        let version = schema::version(db)?;
        // WAL: readers never block the writer, and a commit is one append.
        // NORMAL: no fsync per commit (see the module doc for what that means).
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(describe)?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(describe)?;
        // No checkpoints on the hub's connection: a checkpoint copies the WAL
        // into the database and fsyncs it, which can take tens of milliseconds,
        // and every client waits while the hub waits. The checkpoint thread
        // does them instead (the hub waits only for the rare RESTART that
        // keeps the log's size bounded).
        db.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(describe)?;
        // When the log starts over, cut its file back to the limit (see
        // `checkpoint.rs`); below it the file is reused, not regrown.
        db.pragma_update(None, "journal_size_limit", wal_limit as i64)
            .map_err(describe)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(describe)?;
        // A deleted or edited message's old text is overwritten with zeros in
        // its page, not merely marked free: once the log is checkpointed it
        // is gone from the file (see `rows::apply_change`).
        db.pragma_update(None, "secure_delete", "ON")
            .map_err(describe)?;
        schema::migrate(&mut self.db, version)
    }

    /// The `-shm` watch, for the checkpoint thread to share; `None` in memory
    /// (then there is no file and no checkpoint thread).
    pub(crate) fn shm_watch(&self) -> Option<Arc<ShmWatch>> {
        self.shm.clone()
    }

    /// Every read of the database starts here: the `-shm` file is checked
    /// first (see [`ShmWatch`]).
    fn guard(&self) -> &Connection {
        self.check_shm();
        &self.db
    }

    /// `guard`, for writes (a transaction needs the connection mutably).
    fn guard_mut(&mut self) -> &mut Connection {
        self.check_shm();
        &mut self.db
    }

    fn check_shm(&self) {
        if let Some(shm) = &self.shm {
            shm.check();
        }
    }
}

impl Store for Sqlite {
    fn commit(&mut self, batch: &Batch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        // One transaction for the whole pass: all of it or none, and one
        // append to the log however many rows it holds. BEGIN and COMMIT are
        // prepared once, like every other statement here (rusqlite's
        // `Transaction` parses them anew each time: a tenth of the cost of
        // a small room's one-message commit).
        self.check_shm();
        let (db, journal) = (&self.db, &mut self.journal);
        let step = |sql: &str| db.prepare_cached(sql).and_then(|mut s| s.execute([]));
        let written = step("BEGIN")
            .and_then(|_| write_batch(db, batch))
            .map_err(describe);
        // In cluster mode the batch goes to the shared log now, inside the
        // transaction: if the log refuses it, nothing is stored here either,
        // and if it takes it, the position it took is stored with the rows.
        let logged = written.and_then(|()| match journal {
            None => Ok(()),
            Some(journal) => {
                let at = position(db).map_err(describe)?;
                let now = journal.append(at, &EntryRef::Batch(batch))?;
                set_position(db, now).map_err(describe)
            }
        });
        logged
            .and_then(|()| step("COMMIT").map(|_| ()).map_err(describe))
            .inspect_err(|_| {
                // After some errors SQLite has already rolled back; then
                // there is nothing left to roll back, and that is fine.
                let _ = step("ROLLBACK");
            })
    }

    fn room(&mut self, key: &str) -> Result<Option<StoredRoom>, StorageError> {
        self.guard()
            .prepare_cached(rows::ROOM)
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

    fn after(
        &mut self,
        key: &str,
        name: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError> {
        read_messages(self.guard(), MESSAGES_AFTER, key, name, after, limit).map_err(describe)
    }

    fn before(
        &mut self,
        key: &str,
        name: &str,
        before: u64,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StorageError> {
        // One more than asked, newest first: whether it came says whether
        // there are older ones.
        let mut messages =
            read_messages(self.guard(), MESSAGES_BEFORE, key, name, before, limit + 1)
                .map_err(describe)?;
        let more = messages.len() > limit;
        messages.truncate(limit);
        messages.reverse();
        Ok((messages, more))
    }

    fn changed(
        &mut self,
        key: &str,
        name: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError> {
        read_messages(self.guard(), MESSAGES_CHANGED, key, name, since, limit).map_err(describe)
    }

    fn message(
        &mut self,
        key: &str,
        name: &str,
        id: u64,
    ) -> Result<Option<ChatMessage>, StorageError> {
        let mut found =
            read_messages(self.guard(), MESSAGE_BY_ID, key, name, id, 1).map_err(describe)?;
        Ok(found.pop())
    }

    fn max_rev_before(&mut self, key: &str, id: u64) -> Result<u64, StorageError> {
        let id = id.min(i64::MAX as u64) as i64;
        self.guard()
            .prepare_cached(rows::MAX_REV_BEFORE)
            .and_then(|mut stmt| stmt.query_row(params![key, id], |row| row.get::<_, i64>(0)))
            .map(|rev| rev as u64)
            .map_err(describe)
    }

    fn account(&mut self, key: &str) -> Result<Option<StoredAccount>, StorageError> {
        let sql = format!("{} WHERE key = ?1", rows::ACCOUNT_COLUMNS);
        self.guard()
            .prepare_cached(&sql)
            .and_then(|mut stmt| {
                stmt.query_row(params![key], rows::account_from_row)
                    .optional()
            })
            .map_err(describe)
    }

    fn messages_of(&mut self, uid: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let mut stmt = self
            .guard()
            .prepare(
                "SELECT room, id FROM messages WHERE uid = ?1 AND deleted = 0 ORDER BY room, id",
            )
            .map_err(describe)?;
        let rows = stmt
            .query_map(params![uid], |row| {
                Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))
            })
            .map_err(describe)?;
        rows.collect::<Result<_, _>>().map_err(describe)
    }

    fn accounts(&mut self) -> Result<Vec<StoredAccount>, StorageError> {
        let sql = format!("{} ORDER BY created_ts, key", rows::ACCOUNT_COLUMNS);
        let db = self.guard();
        let mut stmt = db.prepare(&sql).map_err(describe)?;
        let rows = stmt
            .query_map([], rows::account_from_row)
            .map_err(describe)?;
        rows.collect::<Result<_, _>>().map_err(describe)
    }

    fn controls(&mut self, key: &str) -> Result<Controls, StorageError> {
        controls::read(self.guard(), key).map_err(describe)
    }

    fn owned_by(&mut self, uid: &str, since_ms: u64) -> Result<usize, StorageError> {
        controls::owned_by(self.guard(), uid, since_ms).map_err(describe)
    }

    fn dms_of(
        &mut self,
        uid: &str,
        limit: usize,
    ) -> Result<Vec<(String, String, String, String)>, StorageError> {
        controls::dms_of(self.guard(), uid, limit).map_err(describe)
    }

    fn listed(
        &mut self,
        unowned: bool,
        live_since_ms: u64,
        limit: usize,
    ) -> Result<Vec<ListedRow>, StorageError> {
        controls::listed(self.guard(), unowned, live_since_ms, limit).map_err(describe)
    }

    fn token(&mut self, hash: &str) -> Result<Option<super::StoredToken>, StorageError> {
        super::tokens::token(self.guard(), hash).map_err(describe)
    }

    fn tokens(&mut self, room: Option<&str>) -> Result<Vec<super::StoredToken>, StorageError> {
        super::tokens::tokens(self.guard(), room).map_err(describe)
    }

    fn upload(&mut self, id: &str) -> Result<Option<crate::media::StoredUpload>, StorageError> {
        super::media::upload(self.guard(), id).map_err(describe)
    }

    fn media_usage(&mut self, uid: &str, now_ms: u64) -> Result<MediaUsage, StorageError> {
        super::media::usage(self.guard(), uid, now_ms).map_err(describe)
    }

    fn media_garbage(
        &mut self,
        orphan_before_ms: u64,
        limit: usize,
    ) -> Result<(Vec<String>, Vec<String>), StorageError> {
        super::media::garbage(self.guard(), orphan_before_ms, limit).map_err(describe)
    }

    fn media_hashes(&mut self) -> Result<Vec<String>, StorageError> {
        super::media::hashes(self.guard()).map_err(describe)
    }

    fn epoch(&mut self) -> Result<String, StorageError> {
        self.guard()
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
                row.get(0)
            })
            .map_err(describe)
    }

    fn sessions(&mut self) -> Result<Vec<StoredSession>, StorageError> {
        let mut stmt = self
            .guard()
            .prepare("SELECT token, name, idle_since, rooms, account FROM sessions")
            .map_err(describe)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(StoredSession {
                    token: row.get(0)?,
                    name: row.get(1)?,
                    idle_since_ms: row.get::<_, i64>(2)? as u64,
                    rooms: rows::split_lines(&row.get::<_, String>(3)?),
                    account: row.get(4)?,
                })
            })
            .map_err(describe)?;
        rows.collect::<Result<_, _>>().map_err(describe)
    }

    fn delete_before(&mut self, cutoff_ms: u64) -> Result<usize, StorageError> {
        let journal = self.journal.as_mut();
        let tx = self.db.transaction().map_err(describe)?;
        let deleted = delete_old(&tx, cutoff_ms).map_err(describe)?;
        if let Some(journal) = journal {
            let at = position(&tx).map_err(describe)?;
            let now = journal.append(at, &EntryRef::DeleteBefore(cutoff_ms))?;
            set_position(&tx, now).map_err(describe)?;
        }
        tx.commit().map_err(describe)?;
        Ok(deleted)
    }
}

/// Every row a batch changes, inside the caller's transaction.
fn write_batch(db: &Connection, batch: &Batch) -> rusqlite::Result<()> {
    rows::write_all(db, &batch.writes)?;
    rows::change_accounts(db, &batch.accounts)?;
    controls::write_all(db, &batch.rooms)?;
    super::media::write_all(db, &batch.media)?;
    rows::change_sessions(db, &batch.sessions)
}

/// `--retention`'s delete, inside the caller's transaction: messages older
/// than `cutoff_ms`, and the rooms left with none.
fn delete_old(db: &Connection, cutoff_ms: u64) -> rusqlite::Result<usize> {
    db.execute(rows::RAISE_FLOORS, [])?;
    let deleted = db.execute(
        "DELETE FROM messages WHERE ts < ?1",
        params![cutoff_ms as i64],
    )?;
    // A room with no messages left goes too, unless someone owns it or
    // it is private: its settings and members are not history.
    db.execute(
        "DELETE FROM rooms WHERE owner_uid IS NULL AND access = 'open' AND NOT EXISTS
           (SELECT 1 FROM messages WHERE messages.room = rooms.key)",
        [],
    )?;
    Ok(deleted)
}

/// Where this database is in the cluster's log (0: nowhere yet).
fn position(db: &Connection) -> rusqlite::Result<Position> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        db.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row(params![key], |row| row.get(0))
            .optional()
    };
    Ok(Position {
        n: get("log_n")?.and_then(|n| n.parse().ok()).unwrap_or(0),
        term: get("log_term")?.and_then(|n| n.parse().ok()).unwrap_or(0),
        id: get("log_id")?.unwrap_or_else(|| "0-0".into()),
    })
}

fn set_position(db: &Connection, at: Position) -> rusqlite::Result<()> {
    let mut put = db.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
    put.execute(params!["log_n", at.n.to_string()])?;
    put.execute(params!["log_term", at.term.to_string()])?;
    put.execute(params!["log_id", at.id])?;
    Ok(())
}

impl Sqlite {
    /// Send every commit from now on through `journal` (cluster mode: the
    /// leader's writer connection).
    pub fn set_journal(&mut self, journal: Box<dyn Journal>) {
        self.journal = Some(journal);
    }

    /// Where this database is in the cluster's log.
    pub fn position(&mut self) -> Result<Position, StorageError> {
        position(self.guard()).map_err(describe)
    }

    /// Refuse a change made beside natter (`natter account`, `natter
    /// token`) to a node's copy of a cluster's database: it would reach no
    /// other node, and the next snapshot would undo it.
    pub fn refuse_if_clustered(&mut self) -> Result<(), StorageError> {
        match self.position()?.n {
            0 => Ok(()),
            _ => Err(
                "this database is a node's copy of a cluster's (--redis): a change \
                      made here would reach no other node. Make it from the page (room \
                      settings, the account page) instead"
                    .into(),
            ),
        }
    }

    /// Apply entry `at` of the cluster's log, written by the leader (a
    /// follower's copy, `cluster/log.rs`), in one transaction with the new
    /// position. An entry at or below the position is already here (the
    /// leader's own, or one read twice) and is skipped; one further on than
    /// the next means entries were lost, and nothing is applied.
    pub fn apply(&mut self, at: Position, entry: &Entry) -> Result<Applied, StorageError> {
        let tx = self
            .guard_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(describe)?;
        let here = position(&tx).map_err(describe)?;
        // Entries come in order, each leader's after the one before it's
        // (the lease fences an old leader out). So an entry at or below the
        // position was applied already, unless a newer leader wrote it: then
        // the log was rewound under this copy (Redis restarted and lost its
        // tail) and this copy holds entries nobody else has.
        if at.n <= here.n {
            return Ok(if at.term > here.term {
                Applied::Gap(here)
            } else {
                Applied::Skipped
            });
        }
        if at.n != here.n + 1 || at.term < here.term {
            return Ok(Applied::Gap(here));
        }
        match entry {
            Entry::Batch(batch) => write_batch(&tx, batch),
            Entry::DeleteBefore(cutoff) => delete_old(&tx, *cutoff).map(|_| ()),
        }
        .and_then(|()| set_position(&tx, at))
        .and_then(|()| tx.commit())
        .map_err(describe)?;
        Ok(Applied::Done)
    }

    /// A consistent copy of the whole database, in a new file at `path`
    /// (a snapshot for a follower that cannot catch up from the log).
    pub fn snapshot_to(&mut self, path: &Path) -> Result<(), StorageError> {
        let path = path.to_str().ok_or("the snapshot's path is not UTF-8")?;
        self.guard()
            .execute("VACUUM INTO ?1", params![path])
            .map(|_| ())
            .map_err(describe)
    }

    /// Replace this database's whole content with the snapshot at `path`.
    pub fn restore_from(&mut self, path: &Path) -> Result<(), StorageError> {
        let source = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(describe)?;
        let backup = rusqlite::backup::Backup::new(&source, &mut self.db).map_err(describe)?;
        backup
            .run_to_completion(256, std::time::Duration::ZERO, None)
            .map_err(describe)
    }
}

/// An SQLite error as a line a person can act on (see [`StorageError`]).
pub(super) fn describe(err: rusqlite::Error) -> StorageError {
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

/// The hub's busy handler: called while a checkpoint (or another program)
/// holds the database, with how many times it has been called in this wait;
/// `true` means "try again". It is given nothing else, so the wait's start is
/// kept per thread: counting steps would stretch with each oversleep. When it
/// gives up, the write fails as "stayed busy" (see [`describe`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::testing::{message, posts, save, ScratchDb};
    use crate::storage::{SessionChange, Write};

    /// A batch of one session change.
    fn session(change: SessionChange) -> Batch {
        Batch {
            sessions: vec![change],
            ..Batch::default()
        }
    }

    fn keep(token: &str, idle_since_ms: u64) -> Batch {
        let (token, name) = (token.into(), "alice".into());
        session(SessionChange::Save {
            token,
            name,
            idle_since_ms,
            rooms: Vec::new(),
            account: None,
        })
    }

    #[test]
    fn messages_rooms_and_sessions_come_back() {
        let mut s = Sqlite::open(":memory:", None).unwrap();
        let messages = (1..=5)
            .map(|id| ("lobby".into(), message("Lobby", id, 1000 + id)))
            .collect();
        s.commit(&posts(messages)).unwrap();
        let stored = s.room("lobby").unwrap().unwrap();
        assert_eq!((stored.name.as_str(), stored.next_id), ("Lobby", 6));
        let (page, more) = s.before("lobby", "Lobby", 4, 2).unwrap();
        assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            &*page[0].room, "Lobby",
            "the name fills each message's room"
        );
        assert!(more);
        let (page, more) = s.before("lobby", "Lobby", 2, 10).unwrap();
        assert_eq!((page.len(), more), (1, false));
        assert_eq!(s.after("lobby", "Lobby", 3, 10).unwrap().len(), 2);

        s.commit(&keep("t1", 5)).unwrap();
        s.commit(&keep("t1", 9)).unwrap();
        assert_eq!(s.sessions().unwrap()[0].idle_since_ms, 9);
        assert!(s.sessions().unwrap()[0].rooms.is_empty());
        let rooms = vec!["Lobby".to_string(), "Book Club".to_string()];
        let (token, name) = ("t1".into(), "alice".into());
        let stopped = session(SessionChange::Save {
            token,
            name,
            idle_since_ms: 10,
            rooms: rooms.clone(),
            account: None,
        });
        s.commit(&stopped).unwrap();
        assert_eq!(s.sessions().unwrap()[0].rooms, rooms, "the rooms at a stop");
        let token = "t1".into();
        s.commit(&session(SessionChange::Delete { token })).unwrap();
        assert!(s.sessions().unwrap().is_empty());
    }

    #[test]
    fn a_batch_is_stored_whole_or_not_at_all() {
        let mut s = Sqlite::open(":memory:", None).unwrap();
        save(&mut s, 1).unwrap();
        // Message 1 again (its key is taken) beside a session: neither stays.
        let mut batch = keep("t1", 5);
        let again = Write::Post(message("lobby", 1, 1));
        batch.writes.push(("lobby".into(), again));
        assert!(s.commit(&batch).is_err());
        assert!(s.sessions().unwrap().is_empty(), "the session was not kept");
        assert_eq!(s.room("lobby").unwrap().unwrap().next_id, 2);
        assert!(Batch::default().is_empty());
        s.commit(&Batch::default()).unwrap();
    }

    #[test]
    fn retention_deletes_old_messages_and_empty_rooms() {
        let mut s = Sqlite::open(":memory:", None).unwrap();
        let messages = vec![
            ("a".into(), message("a", 1, 10)),
            ("a".into(), message("a", 2, 500)),
            ("b".into(), message("b", 1, 10)),
        ];
        s.commit(&posts(messages)).unwrap();
        assert_eq!(s.delete_before(100).unwrap(), 2);
        assert!(s.room("b").unwrap().is_none(), "an emptied room disappears");
        assert_eq!(
            s.room("a").unwrap().unwrap().next_id,
            3,
            "ids are never reused"
        );
        // The wall clock went back: the newest message is the oldest by its
        // stamp. Deleting it must not hand its id out again.
        let messages = vec![("a".into(), message("a", 3, 20))];
        s.commit(&posts(messages)).unwrap();
        assert_eq!(s.delete_before(100).unwrap(), 1);
        assert_eq!(s.after("a", "a", 0, 10).unwrap().len(), 1);
        assert_eq!(s.room("a").unwrap().unwrap().next_id, 4, "3 stays used");
    }

    #[test]
    fn a_database_held_by_another_program_fails_with_a_clear_error() {
        let db = ScratchDb::new("busy");
        let mut s = Sqlite::open(&db.path, None).unwrap();
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
    fn reactions_keep_the_order_each_emoji_first_came_after_its_first_person_leaves() {
        let mut s = Sqlite::open(":memory:", None).unwrap();
        save(&mut s, 1).unwrap();
        // (seq, emoji, who, on), each a millisecond after the one before.
        let changes = [
            (2, "👍", "alice", true),
            (3, "🎉", "bob", true),
            (4, "👍", "carol", true),
            (5, "👍", "alice", false),
        ];
        for (seq, emoji, who, on) in changes {
            let what = crate::storage::Changed::React {
                emoji: emoji.into(),
                uid: who.into(),
                user: who.into(),
                on,
                ts: 1000 + seq,
                after: Vec::new(),
            };
            let change = crate::storage::Change {
                id: 1,
                seq,
                client_id: None,
                what,
            };
            let batch = Batch {
                writes: vec![("lobby".into(), Write::Change(change))],
                ..Batch::default()
            };
            s.commit(&batch).unwrap();
        }
        // As the hub's cache and the live frames have it: 👍 came first, and
        // carol is on it still.
        let m = s.message("lobby", "lobby", 1).unwrap().unwrap();
        let order: Vec<(&str, Vec<&str>)> = m
            .reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.by.iter().map(|(_, n)| &**n).collect()))
            .collect();
        assert_eq!(order, [("👍", vec!["carol"]), ("🎉", vec!["bob"])]);
    }
}
