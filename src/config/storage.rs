//! The SQLite database: where it is, how its log is checkpointed and bounded,
//! how long the hub waits for it.

use std::time::Duration;

/// Where history and sessions are stored unless `--db` says otherwise: a file
/// next to where natter was started, easy to find, back up and delete.
/// `--db :memory:` keeps nothing on disk.
pub const DEFAULT_DB: &str = "natter.db";

/// How often the checkpoint thread copies the database's write-ahead log into
/// the database file (see `checkpoint_loop` in `storage/checkpoint.rs`). Each pass is cheap: it
/// copies about a second of messages.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Largest size the write-ahead log (`natter.db-wal`) is let grow to. SQLite
/// starts the log over only once a checkpoint has copied all of it, which the
/// checkpoint thread never manages while messages keep arriving every few
/// milliseconds; past this size it makes the hub wait one checkpoint long (a
/// few milliseconds) so that the log can start over, and the file is cut back
/// to this size. Each commit appends two or three pages of 4 KiB, so under a
/// thousand commits a second this happens every five seconds or so.
///
/// With `--db-max-mb`, the log is held to a quarter of that budget instead
/// (but at least [`MIN_WAL_LIMIT_BYTES`]), so that a small SD card's budget
/// covers the log too; see `storage::wal_limit`.
pub const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// The least the write-ahead log is held to under `--db-max-mb` (see
/// [`WAL_LIMIT_BYTES`]): below a few MiB it would start over so often that
/// the hub waited on checkpoints all the time.
pub const MIN_WAL_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

/// How long the hub waits for the database when a checkpoint holds it (see
/// [`WAL_LIMIT_BYTES`]) before the save fails with `storage_failed`, and the
/// step it waits in. SQLite's own busy timeout sleeps 1, 2, 5, 10 ms and so
/// on, and would often wait several milliseconds past the end of the
/// checkpoint; small steps keep the hub's wait close to the checkpoint's.
pub const DB_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The step the hub waits in while a checkpoint holds the database: see
/// [`DB_BUSY_TIMEOUT`].
pub const DB_BUSY_STEP: Duration = Duration::from_micros(250);

/// How long the checkpoint that restarts the log (see [`WAL_LIMIT_BYTES`])
/// waits for the hub's write in flight and for other readers of the log (an
/// operator's `sqlite3 natter.db`, say). The hub's commits wait meanwhile, so
/// this is short; when it runs out, the checkpoint tries again a second later.
pub const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// With `--retention`, how often old messages are deleted (also once at start).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// How long the hub waits, at the end of a pass, for the commit it started
/// at its beginning (with a database file, where commits run on the writer
/// thread). A healthy disk commits in tens of microseconds, usually before
/// the pass's writes are done, and then the messages go out in the same pass;
/// a slow one (an SD card under writeback) is left to finish on its own, and
/// the hub carries on: typing, joins and member lists wait at most this long.
pub const COMMIT_WAIT: Duration = Duration::from_millis(1);
