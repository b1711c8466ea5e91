//! Uploads, as the hub sees them: rows to store and answer once stored, the
//! uploads a staged message is taking (so two messages cannot take one), and
//! the janitor to wake when a message with files is deleted. The bytes are
//! never here (see `media/mod.rs`).

use crossbeam_channel::Sender;

use super::Chat;
use crate::storage::{MediaWrite, Write};

/// What to do once the commit holding a media write is done: `None` if it
/// was stored, else why not.
pub type MediaWaiter = Box<dyn FnOnce(Option<&str>) + Send>;

impl Chat {
    /// Store `write` with this pass, and call `then` once it is stored (or
    /// could not be).
    pub fn stage_media(&mut self, write: MediaWrite, then: MediaWaiter) {
        self.pending.media.push(write);
        self.media_waiters.push(then);
    }

    /// The commit that held `media_committing` is done.
    pub(super) fn answer_media(&mut self, failed: Option<&str>) {
        for then in std::mem::take(&mut self.media_committing) {
            then(failed);
        }
    }

    /// Whether upload `id` is on a message staged or being stored.
    pub fn attaching(&self, id: &str) -> bool {
        self.attaching.contains(id)
    }

    /// A message taking uploads was staged.
    pub fn attach(&mut self, ids: impl IntoIterator<Item = String>) {
        self.attaching.extend(ids);
    }

    /// A write's commit is done, stored or not: its uploads are either
    /// taken for good (the store says so) or free again.
    pub(super) fn attached(&mut self, write: &Write) {
        if let Write::Post(m) = write {
            for a in &m.attachments {
                self.attaching.remove(&a.id);
            }
        }
    }

    /// The janitor to wake when files may have become unused.
    pub fn set_janitor(&mut self, nudge: Sender<()>) {
        self.janitor = Some(nudge);
    }

    /// Wake the janitor (a message with files was deleted). A nudge already
    /// waiting is as good as two.
    pub(super) fn wake_janitor(&self) {
        if let Some(nudge) = &self.janitor {
            let _ = nudge.try_send(());
        }
    }
}
