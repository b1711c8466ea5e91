//! The edge: database files changed under a running natter.
//!
//! Hardening, which a first reading can skip. Nothing here is needed while the
//! files are left alone; it is here because operators (and their backup
//! tools) do not always leave them alone, and SQLite's answer to some of those
//! changes is to lose messages silently or to crash the process.
//!
//! - [`FileHealth`]: the database file was deleted or replaced. The checkpoint
//!   thread notices, and `/healthz` answers 503 while it lasts.
//! - [`ShmWatch`]: the `-shm` file was truncated, which would crash the whole
//!   process at SQLite's next touch. Every use of the database checks first.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Whether the database file is still the one natter opened. Deleting (or
/// replacing) `natter.db` under a running natter breaks nothing at once: its
/// connections keep writing to the open, now nameless file, and everything
/// written since is lost when natter stops. The checkpoint thread looks every
/// second, says so loudly in the log, and `/healthz` answers 503 while it lasts.
#[derive(Default)]
pub struct FileHealth {
    gone: AtomicBool,
}

impl FileHealth {
    /// Why the database is not what it should be, if it is not.
    pub fn problem(&self) -> Option<&'static str> {
        self.gone
            .load(Relaxed)
            .then_some("the database file was deleted or replaced while natter runs; restart it")
    }

    /// Record whether the file is gone; `true` if that changed, so that the
    /// caller logs each change once rather than every second.
    pub(super) fn set_gone(&self, gone: bool) -> bool {
        self.gone.swap(gone, Relaxed) != gone
    }
}

/// The identity of a file: which device and inode its name leads to now;
/// `None` if nothing has that name.
pub(super) fn file_identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
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
///
/// One watch is shared (in an `Arc`) by the hub's connection and the
/// checkpoint thread's, so that both go by the largest size either has seen.
pub struct ShmWatch {
    path: PathBuf,
    /// The largest size seen by the hub or the checkpoint thread: SQLite
    /// only ever grows the file while it is open.
    size: AtomicU64,
}

impl ShmWatch {
    /// The watch for the `-shm` file beside the database at `db_path`.
    pub(super) fn new(db_path: &str) -> ShmWatch {
        ShmWatch {
            path: format!("{db_path}-shm").into(),
            size: AtomicU64::new(0),
        }
    }

    /// Grow the file back if it shrank since the last look; call it before
    /// every use of the database. A file that cannot be grown back is logged,
    /// and natter goes on (it may then crash: nothing else can be done).
    pub(super) fn check(&self) {
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
