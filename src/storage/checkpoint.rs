//! The checkpoint thread: copies the write-ahead log into the database file,
//! so that the hub never waits for the disk's `fsync`.
//!
//! It is the one other thread that opens the database, with a connection of
//! its own; SQLite's file locks keep it and the hub apart. The hub waits for
//! it (in `sqlite.rs`'s busy handler) only when the log has grown past its
//! limit and must start over.
//!
//! [`spawn`] starts it and returns a [`Checkpointer`], a drop guard (as
//! mini-redis's `DbDropGuard`): dropping it stops the thread and waits for its
//! last checkpoint. There is nothing else to remember at shutdown.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use super::health::{file_identity, FileHealth, ShmWatch};
use super::sqlite::describe;
use crate::config::{CHECKPOINT_BUSY_TIMEOUT, MIN_WAL_LIMIT_BYTES, WAL_LIMIT_BYTES};

/// The largest the write-ahead log may grow before the checkpoint thread makes
/// it start over: `WAL_LIMIT_BYTES`, or with a database budget (`--db-max-mb`)
/// a quarter of it, but no less than `MIN_WAL_LIMIT_BYTES`.
pub fn wal_limit(max_bytes: Option<u64>) -> u64 {
    match max_bytes {
        Some(budget) => (budget / 4).clamp(MIN_WAL_LIMIT_BYTES, WAL_LIMIT_BYTES),
        None => WAL_LIMIT_BYTES,
    }
}

/// The running checkpoint thread. Dropping it stops the thread (closing
/// `stop` is the signal) and joins it, after one last checkpoint.
pub struct Checkpointer {
    /// Never sent on: dropping it disconnects the thread's `recv_timeout`,
    /// which is how the thread learns to stop. `None` once dropped.
    stop: Option<Sender<()>>,
    /// `None` once joined.
    thread: Option<JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A checkpoint thread that panicked has nothing left to stop;
            // the log stays for the next start to copy.
            let _ = thread.join();
        }
    }
}

/// Start the checkpoint thread for the database file at `path`: a checkpoint
/// every `every` (`CHECKPOINT_INTERVAL`), a RESTART once the log passes
/// `wal_limit`, the file's identity watched into `health`, and `shm` checked
/// before each use. Fails only if the thread cannot be started.
pub fn spawn(
    path: &str,
    every: Duration,
    wal_limit: u64,
    health: Arc<FileHealth>,
    shm: Arc<ShmWatch>,
) -> std::io::Result<Checkpointer> {
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let path = path.to_string();
    let thread = thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || checkpoint_loop(&path, every, wal_limit, stopped, &health, &shm))?;
    Ok(Checkpointer {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The checkpoint thread's body: `every` so often, copy the WAL into the
/// database file with its own connection, until `stop` is closed; then once
/// more, so that a clean shutdown leaves little log for the next start.
///
/// A PASSIVE checkpoint never blocks the hub's writes (WAL lets a checkpoint
/// and a writer run at once); the fsyncs it needs happen here, off the hub's
/// path. But SQLite starts the log over only when a write begins after a
/// checkpoint has copied *all* of it, and under steady traffic the hub has
/// always appended more by then: the file would grow for as long as the
/// traffic lasts. So once it passes `wal_limit` (see [`wal_limit`]) the
/// checkpoint is a RESTART, which holds the hub's next commit back (the hub
/// waits in its busy handler) until the log has been copied and can start
/// over.
///
/// A checkpoint that errors is logged and tried again next time: the log only
/// grows meanwhile, and nothing is lost. A RESTART that gives up on a busy
/// reader is not an error (its result row says so): it is simply tried again.
fn checkpoint_loop(
    path: &str,
    every: Duration,
    wal_limit: u64,
    stop: Receiver<()>,
    health: &FileHealth,
    shm: &ShmWatch,
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
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
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
    use std::time::Instant;

    use super::*;
    use crate::storage::testing::{save, ScratchDb};
    use crate::storage::Sqlite;

    /// Run `body` while a checkpoint thread works on `path`, then stop it.
    fn with_checkpoints(path: &str, every: Duration, wal_limit: u64, body: impl FnOnce()) {
        let shm = Arc::new(ShmWatch::new(path));
        let checkpoints = spawn(path, every, wal_limit, Arc::default(), shm).unwrap();
        body();
        drop(checkpoints);
    }

    #[test]
    fn the_log_stays_bounded_under_steady_traffic() {
        let db = ScratchDb::new("steady");
        let wal = format!("{}-wal", db.path);
        let mut s = Sqlite::open(&db.path, None).unwrap();
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
        let stored: i64 = Connection::open(&db.path)
            .unwrap()
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, 10_000);
    }

    #[test]
    fn a_reader_that_never_finishes_does_not_make_saves_fail() {
        let db = ScratchDb::new("reader");
        let mut s = Sqlite::open(&db.path, None).unwrap();
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
