//! Commits off the hub: where a pass's [`Batch`] is written.
//!
//! Everything the hub does waits for the hub, so nothing on it may wait for
//! the disk. A commit to an SD card under writeback can take a second; if the
//! hub ran it, typing, member lists, joins and history pages would all stand
//! still meanwhile. So with a database file, commits run on a thread of
//! their own (`store-writer`), through a connection of its own, and the hub
//! carries on. Messages still reach nobody before their commit: the hub
//! delivers a batch's messages only when its [`Outcome`] comes back.
//!
//! One commit is under way at a time. What the hub stages meanwhile waits
//! for the next one, so a slow disk gets bigger batches (fewer, larger
//! transactions: group commit) rather than a queue of small ones.
//!
//! In memory (`--db :memory:`) there is no disk to wait for, and a second
//! connection could not see the first one's database: the hub commits
//! inline, through the same [`commit_all`], and gets its outcome at once.

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{Batch, StorageError, Store, Write};

/// What became of one batch: the batch itself, handed back so its messages
/// and changes can go to their rooms, and for each of its writes (in order)
/// why it could not be stored, if it could not.
pub struct Outcome {
    pub batch: Batch,
    pub failed: Vec<Option<StorageError>>,
    /// Why the batch's accounts, room changes and sessions could not be
    /// stored, if not.
    pub others: Option<StorageError>,
    /// How long the commit took (`natter_commit_seconds`).
    pub took: Duration,
}

/// Commit `batch` in one transaction. If that fails, its accounts and session
/// changes are tried alone, then each message or change alone: a long message may not
/// fit a nearly full database while the others do, and nobody is refused for
/// somebody else's message.
pub fn commit_all(store: &mut dyn Store, batch: Batch) -> Outcome {
    let started = Instant::now();
    let (failed, others) = match store.commit(&batch) {
        Ok(()) => (vec![None; batch.writes.len()], None),
        Err(err) => {
            eprintln!(
                "natter: could not store {} message(s) or change(s) and {} session change(s): {err}",
                batch.writes.len(),
                batch.sessions.len()
            );
            one_by_one(store, &batch)
        }
    };
    Outcome {
        batch,
        failed,
        others,
        took: started.elapsed(),
    }
}

fn one_by_one(
    store: &mut dyn Store,
    batch: &Batch,
) -> (Vec<Option<StorageError>>, Option<StorageError>) {
    let others = Batch {
        sessions: batch.sessions.clone(),
        accounts: batch.accounts.clone(),
        rooms: batch.rooms.clone(),
        media: batch.media.clone(),
        ..Batch::default()
    };
    let others = store.commit(&others).err();
    if let Some(err) = &others {
        eprintln!("natter: could not store account and session changes: {err}");
    }
    // A change was checked against the changes to its message before it (a
    // reaction's summary counts them): once one of those is refused, it is
    // refused too, and the hub checks what it staged since again (see
    // `Chat::recheck_staged`).
    let mut refused: Vec<(&str, u64)> = Vec::new();
    let failed = batch
        .writes
        .iter()
        .map(|(key, write)| {
            let target = match write {
                Write::Change(change) => Some((key.as_str(), change.id)),
                Write::Post(_) => None,
            };
            if target.is_some_and(|t| refused.contains(&t)) {
                return Some("an earlier change to this message could not be saved".into());
            }
            let alone = Batch {
                writes: vec![(key.clone(), write.clone())],
                ..Batch::default()
            };
            let failed = store.commit(&alone).err();
            if let (Some(t), Some(_)) = (target, &failed) {
                refused.push(t);
            }
            failed
        })
        .collect();
    (failed, others)
}

/// What the hub asks of the writer thread.
enum Job {
    Commit(Batch),
    /// `--retention`: delete messages older than this (ms since the epoch).
    DeleteBefore(u64),
}

/// The writer thread, as the hub holds it. Dropping it lets the thread
/// finish what it was given, and waits for that.
pub struct Writer {
    jobs: Option<Sender<Job>>,
    outcomes: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Start the writer thread on `store`. `delay` holds every commit back
    /// that long first: a test's slow disk (`Config::commit_delay`).
    pub fn spawn(mut store: Box<dyn Store>, delay: Duration) -> std::io::Result<Writer> {
        // Both unbounded, yet small: the hub has at most one commit under
        // way, and asks for retention once an hour.
        let (jobs, todo) = crossbeam_channel::unbounded::<Job>();
        let (done, outcomes) = crossbeam_channel::unbounded();
        let thread = thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                for job in todo {
                    match job {
                        Job::Commit(batch) => {
                            thread::sleep(delay);
                            // The hub gone means the process is ending.
                            let _ = done.send(commit_all(store.as_mut(), batch));
                        }
                        Job::DeleteBefore(cutoff) => report_retention(store.delete_before(cutoff)),
                    }
                }
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            outcomes,
            thread: Some(thread),
        })
    }

    /// Start committing `batch`; its outcome arrives on [`Writer::outcomes`].
    pub fn submit(&self, batch: Batch) {
        self.send(Job::Commit(batch));
    }

    pub fn delete_before(&self, cutoff_ms: u64) {
        self.send(Job::DeleteBefore(cutoff_ms));
    }

    fn send(&self, job: Job) {
        let jobs = self.jobs.as_ref().expect("only Drop takes the sender");
        // The thread only ends when this sender is dropped, or by a panic in
        // SQLite; then the outcome never comes, and `Writes::wait` says so.
        let _ = jobs.send(job);
    }

    /// Where outcomes arrive, one per `submit`, in order.
    pub fn outcomes(&self) -> &Receiver<Outcome> {
        &self.outcomes
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many messages `--retention` deleted, in the log.
pub fn report_retention(result: Result<usize, StorageError>) {
    match result {
        Ok(0) => {}
        Ok(n) => println!("natter: retention deleted {n} message(s)"),
        Err(err) => eprintln!("natter: retention could not delete old messages: {err}"),
    }
}

/// Where the chat's commits run: see the module doc.
pub enum Writes {
    /// On the hub, through the chat's own store (in memory).
    Inline,
    /// On the writer thread (a database file).
    Thread(Writer),
}

impl Writes {
    /// Where the hub waits for outcomes besides its events: a channel that
    /// never receives when commits are inline.
    pub fn outcomes(&self) -> Receiver<Outcome> {
        match self {
            Writes::Inline => crossbeam_channel::never(),
            Writes::Thread(writer) => writer.outcomes().clone(),
        }
    }

    /// Wait up to `timeout` for the outcome of the commit under way (at
    /// shutdown, when nothing else is left to do).
    pub fn wait(&self, timeout: Duration) -> Option<Outcome> {
        match self {
            Writes::Inline => None,
            Writes::Thread(writer) => match writer.outcomes().recv_timeout(timeout) {
                Ok(outcome) => Some(outcome),
                Err(_) => {
                    eprintln!(
                        "natter: a commit did not finish within {} s; its messages may be lost",
                        timeout.as_secs()
                    );
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::*;
    use crate::protocol::Reaction;
    use crate::storage::testing::{message, posts, ScratchDb};
    use crate::storage::{Change, Changed, Sqlite, Write};

    /// `uid` puts `emoji` on message 1 of #lobby; `after` is the summary the
    /// hub worked out for it.
    fn react(seq: u64, emoji: &str, uid: &str, after: Vec<Reaction>) -> (String, Write) {
        let change = Change {
            id: 1,
            seq,
            client_id: None,
            what: Changed::React {
                emoji: emoji.into(),
                uid: uid.into(),
                user: uid.into(),
                on: true,
                ts: seq,
                after,
            },
        };
        ("lobby".into(), Write::Change(change))
    }

    fn by(emoji: &str, uids: &[&str]) -> Reaction {
        Reaction {
            emoji: emoji.into(),
            by: uids
                .iter()
                .map(|u| (Arc::from(*u), Arc::from(*u)))
                .collect(),
        }
    }

    #[test]
    fn a_change_checked_against_one_that_could_not_be_stored_is_not_stored_either() {
        let db = ScratchDb::new("writer-poison");
        let mut s = Sqlite::open(&db.path, None).unwrap();
        s.commit(&posts(vec![("lobby".into(), message("lobby", 1, 1))]))
            .unwrap();
        // Alice's reaction cannot be stored (say the disk is full for it).
        Connection::open(&db.path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER full BEFORE INSERT ON reactions WHEN NEW.uid = 'alice'
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
            )
            .unwrap();
        // Bob's came after it, and its summary counts hers.
        let batch = Batch {
            writes: vec![
                react(2, "💥", "alice", vec![by("💥", &["alice"])]),
                react(
                    3,
                    "👍",
                    "bob",
                    vec![by("💥", &["alice"]), by("👍", &["bob"])],
                ),
            ],
            ..Batch::default()
        };
        let outcome = commit_all(&mut s, batch);
        assert!(outcome.failed[0].is_some());
        assert!(
            outcome.failed[1].is_some(),
            "stored, bob's would go out saying alice reacted"
        );
        let stored = s.message("lobby", "lobby", 1).unwrap().unwrap();
        assert_eq!(stored.reactions, []);
    }
}
