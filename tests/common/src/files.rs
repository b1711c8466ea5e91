//! Files a test needs: a directory of its own, and a database seeded with
//! history as an earlier run of natter would have left it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use natter::protocol::{room_key, ChatMessage};
use natter::storage::{Batch, Sqlite, Store, Write};

/// A fresh, empty directory for one test's files (a database), removed when
/// dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        // Tests run in parallel threads of one process: the counter keeps
        // their directories apart, the process id apart from other runs.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("natter-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    /// A path inside the directory, as a string for `--db`.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How many seeded messages go into one transaction.
const SEED_BATCH: usize = 500;

/// Store `messages` (user, text) in room `room` of the database file `db`
/// directly, as an earlier run of natter would have: ids from 1, a second
/// apart. For tests that need a long history quickly, or text that today's
/// rules would no longer let in.
pub fn seed_room<'a>(db: &str, room: &str, messages: impl IntoIterator<Item = (&'a str, String)>) {
    let mut store = Sqlite::open(db, None).expect("the test database opens");
    let key = room_key(room);
    let room: Arc<str> = room.into();
    let mut batch = Batch::default();
    let flush = |store: &mut Sqlite, batch: &mut Batch| {
        store.commit(batch).expect("the messages are stored");
        batch.writes.clear();
    };
    for (i, (user, text)) in messages.into_iter().enumerate() {
        let ts = 1_764_108_000_000 + i as u64 * 1000;
        let message = ChatMessage::new(room.clone(), i as u64 + 1, user.into(), text, ts);
        batch.writes.push((key.clone(), Write::Post(message)));
        if batch.writes.len() == SEED_BATCH {
            flush(&mut store, &mut batch);
        }
    }
    flush(&mut store, &mut batch);
}

/// `count` messages of `chars` characters each, numbered, by alice.
pub fn long_history(count: usize, chars: usize) -> impl Iterator<Item = (&'static str, String)> {
    (0..count).map(move |i| {
        let mut text = format!("{i:06} ");
        while text.len() < chars {
            text.push_str("the quick brown fox jumps over the lazy dog ");
        }
        text.truncate(chars);
        ("alice", text)
    })
}
