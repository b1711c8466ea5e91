//! The janitor: a thread of its own (never the hub) that deletes files
//! nothing refers to any more.
//!
//! - At start it reconciles the folder with the database: a file no row
//!   names (natter stopped between moving a file into place and storing its
//!   row) goes, and so do leftovers in `tmp/` older than an hour.
//! - Then, every `JANITOR_INTERVAL` and whenever the hub wakes it (a message
//!   was deleted), it asks the hub to forget the uploads due to go (never
//!   attached within `--orphan-upload-secs`, or their message deleted by
//!   retention) and deletes the files that nothing names once they are gone.
//!
//! It holds the store's lock from asking until the files are deleted, and an
//! upload holds it from moving its file into place until its row is stored:
//! so a file the janitor was told is unused cannot have been uploaded again
//! in between.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::MediaStore;
use crate::config::{JANITOR_BATCH, JANITOR_INTERVAL};
use crate::hub::{ask, Ask, Event};
use crate::protocol::now_millis;

/// Start the janitor. The returned sender wakes it (give it to the hub);
/// it stops once that sender is gone.
pub fn spawn(
    store: Arc<MediaStore>,
    to_hub: Sender<Event>,
    orphan_age: Duration,
) -> std::io::Result<Sender<()>> {
    let (nudge, nudged) = crossbeam_channel::bounded(1);
    // A short orphan age (tests) is checked more often than every minute.
    let every = JANITOR_INTERVAL.min(orphan_age / 2);
    thread::Builder::new()
        .name("janitor".into())
        .spawn(move || run(&store, &to_hub, &nudged, every, orphan_age))?;
    Ok(nudge)
}

fn run(
    store: &MediaStore,
    to_hub: &Sender<Event>,
    nudged: &Receiver<()>,
    every: Duration,
    orphan_age: Duration,
) {
    reconcile(store, to_hub);
    // Retention may have deleted messages with files at start.
    sweep(store, to_hub, orphan_age);
    loop {
        match nudged.recv_timeout(every) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        sweep(store, to_hub, orphan_age);
    }
}

/// Forget what is due to go, a batch at a time, and delete its files.
fn sweep(store: &MediaStore, to_hub: &Sender<Event>, orphan_age: Duration) {
    let orphan_before_ms = now_millis().saturating_sub(orphan_age.as_millis() as u64);
    loop {
        let _held = store.lock();
        let answer = ask(to_hub, |reply| {
            Event::Ask(Ask::MediaSweep {
                orphan_before_ms,
                reply,
            })
        });
        match answer {
            Some(Ok((uploads, hashes))) => {
                for hash in &hashes {
                    store.remove(hash);
                }
                if uploads < JANITOR_BATCH && hashes.len() < JANITOR_BATCH {
                    return;
                }
            }
            Some(Err(err)) => {
                eprintln!("natter: the janitor could not sweep media: {err}");
                return;
            }
            // The hub is busy or stopping: next time.
            None => return,
        }
    }
}

/// At start: delete the files no row names, and old leftovers in `tmp/`.
fn reconcile(store: &MediaStore, to_hub: &Sender<Event>) {
    let _held = store.lock();
    let known = match ask(to_hub, |reply| Event::Ask(Ask::MediaKnown { reply })) {
        Some(Ok(known)) => known,
        Some(Err(err)) => {
            eprintln!("natter: the janitor could not read the media rows: {err}");
            return;
        }
        None => return,
    };
    let known: std::collections::HashSet<String> = known.into_iter().collect();
    let (files, leftovers) = match store.files() {
        Ok(found) => found,
        Err(err) => {
            eprintln!(
                "natter: the janitor could not read {}: {err}",
                store.root().display()
            );
            return;
        }
    };
    let unknown: Vec<&String> = files.iter().filter(|h| !known.contains(*h)).collect();
    if !unknown.is_empty() {
        eprintln!(
            "natter: deleting {} media file(s) no upload refers to",
            unknown.len()
        );
    }
    for hash in unknown {
        store.remove(hash);
    }
    let missing = known.iter().filter(|h| !files.contains(h)).count();
    if missing > 0 {
        eprintln!(
            "natter: {missing} media file(s) the database knows are missing from {}; \
             their messages show them as gone",
            store.root().display()
        );
    }
    let an_hour_ago = SystemTime::now() - Duration::from_secs(60 * 60);
    for path in leftovers {
        let old = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < an_hour_ago);
        if old {
            let _ = std::fs::remove_file(&path);
        }
    }
}
