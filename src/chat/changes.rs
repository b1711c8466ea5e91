//! Changes to messages already stored: edits, deletes and reactions.
//!
//! A change goes the way a message goes. A command checks it against the
//! message's current state ([`Chat::current`]) and stages it with the next
//! number of the room's sequence ([`Chat::stage_change`]). `commit` stores it
//! with the pass's other writes, and only then is it applied to the cache
//! and sent to the room as a small frame carrying its number
//! ([`Chat::publish_change`]). Nobody ever sees a change that is not stored.
//!
//! A message's state and its `rev` (the number of its latest change) are
//! what resume and paging read back, so a page that was away, or scrolls back
//! to a message from last week, sees it exactly as it is now.

use std::collections::HashMap;
use std::sync::Arc;

use crate::protocol::{
    self, excerpt, name_key, ChatMessage, ErrorCode, Preview, Reaction, Rejection, Reply,
    SystemEvent,
};
use crate::storage::{Change, Changed, StorageError, Write};

use super::{Chat, ConnId, Notice};

impl Chat {
    /// Message `id` of room `key` (which must be in memory) as it is now,
    /// counting the changes staged or being stored; `None` if the room has no
    /// such message (or it is not stored yet: nobody can know its id).
    pub fn current(&mut self, key: &str, id: u64) -> Result<Option<ChatMessage>, StorageError> {
        let Some(r) = self.rooms.get(key) else {
            return Ok(None);
        };
        if let Some((m, _)) = r.overlay.get(&id) {
            return Ok(Some(m.clone()));
        }
        if let Ok(at) = r.history.binary_search_by_key(&id, |m| m.id) {
            return Ok(Some(r.history[at].clone()));
        }
        // The cache holds every stored message from its oldest on: one it
        // does not have there does not exist (ids skip the numbers changes
        // took) or is not stored yet.
        if r.history.front().is_some_and(|oldest| id >= oldest.id) {
            return Ok(None);
        }
        let name = r.name.clone();
        self.store.message(key, &name, id)
    }

    /// Whether message `id` of room `key` has changes staged or being stored:
    /// its state from [`Chat::current`] is then not stored yet, and nobody
    /// may be shown it (nor the number it will have).
    pub fn changing(&self, key: &str, id: u64) -> bool {
        self.rooms
            .get(key)
            .is_some_and(|r| r.overlay.contains_key(&id))
    }

    /// A change to be stored by `commit` and only then applied and sent.
    /// `after` is the message as the change leaves it, which later changes in
    /// this pass (or while this commit runs) check against.
    pub fn stage_change(
        &mut self,
        key: String,
        change: Change,
        after: ChatMessage,
        sender: ConnId,
    ) {
        let r = self
            .rooms
            .get_mut(&key)
            .expect("changes are to rooms in memory");
        r.unstored += 1;
        let entry = r.overlay.entry(change.id).or_insert((after.clone(), 0));
        entry.0 = after;
        entry.1 += 1;
        self.pending.writes.push((key, Write::Change(change)));
        self.senders.push(sender);
    }

    /// A stored change: into the cache (and the previews of replies to the
    /// message), and to the room as its frame.
    pub(super) fn publish_change(&mut self, key: String, change: Change) {
        // A deleted message's files may be unused now (cached or not, it
        // may have had some): the janitor deletes them.
        if matches!(change.what, Changed::Delete { .. }) {
            self.wake_janitor();
        }
        let Some(r) = self.rooms.get_mut(&key) else {
            return;
        };
        let id = change.id;
        r.last_batched = r.last_batched.max(change.seq);
        done(&mut r.overlay, id);
        let author = r.cached(id).map(|m| m.user.clone());
        match r.cached_mut(id) {
            Some(m) => apply(m, &change),
            None => r.max_rev_outside = r.max_rev_outside.max(change.seq),
        }
        for reply in r.history.iter_mut().filter(|m| m.reply_to == Some(id)) {
            match (&change.what, &mut reply.reply) {
                (Changed::Delete { .. }, _) => reply.reply = Some(Preview::deleted()),
                (Changed::Edit { text, .. }, Some(preview)) => {
                    preview.excerpt = Some(excerpt(text));
                }
                _ => {}
            }
        }
        let frame = change_frame(&r.name, &change);
        r.add_to_batch(&frame, &key, &mut self.batched);
        // A moderator's delete is said in the room, with who did it.
        if let Changed::Delete { by: Some(by) } = &change.what {
            let author = author.map_or_else(|| "someone".to_string(), |a| a.to_string());
            let text = format!("{by} deleted a message by {author}");
            let notice = self.notice(
                &key,
                Notice {
                    event: SystemEvent::ModeratedDelete,
                    user: &author,
                    uid: None,
                    by,
                    until_ts: None,
                },
                text,
            );
            self.broadcast(&key, &notice);
        }
    }

    /// A change that could not be stored is applied nowhere and sent to
    /// nobody; whoever asked is told, and may ask again.
    pub(super) fn refuse_unsaved_change(
        &mut self,
        key: String,
        change: Change,
        conn: ConnId,
        err: &str,
    ) {
        let Some(r) = self.rooms.get_mut(&key) else {
            return;
        };
        // Changes staged after it were checked against it, and the overlay
        // still counts them: `committed` checks them again without it (see
        // `recheck_staged`) once the rest of the commit is handed out.
        done(&mut r.overlay, change.id);
        let what = match change.what {
            Changed::Edit { .. } => "your edit",
            Changed::Delete { .. } => "the delete",
            Changed::React { .. } => "your reaction",
        };
        let message = format!("{what} could not be saved ({err}); nobody saw it, try again");
        let rejection = Rejection::new(ErrorCode::StorageFailed, message)
            .in_room(r.name.to_string())
            .for_client(change.client_id);
        self.refuse(conn, &rejection);
    }

    /// After a change to message `id` of room `key` could not be stored, once
    /// the rest of its commit is handed out: the changes to the message
    /// staged since (all that is still on its way) were checked against a
    /// state that held it. They are applied again, in order, to the message
    /// as stored, and the overlay gets that state, so that what is asked next
    /// is checked against the truth (an edit after a staged delete is refused,
    /// not written into the tombstone). A reaction's summary, which its frame
    /// carries and the cache takes, is worked out again the way storage
    /// applies it: this one person on or off; an edit's newly mentioned,
    /// against the mentions stored.
    pub(super) fn recheck_staged(&mut self, key: &str, id: u64) {
        let Some(r) = self.rooms.get(key) else {
            return;
        };
        if !r.overlay.contains_key(&id) {
            return; // Nothing else is on its way to it.
        }
        let stored = match r.cached(id) {
            Some(m) => Ok(Some(m.clone())),
            None => {
                let name = r.name.clone();
                self.store.message(key, &name, id)
            }
        };
        let Ok(Some(mut state)) = stored else {
            eprintln!("natter: could not read message {id} of #{key} again after a failed change");
            return;
        };
        for (k, write) in &mut self.pending.writes {
            let Write::Change(change) = write else {
                continue;
            };
            if k != key || change.id != id {
                continue;
            }
            match &mut change.what {
                Changed::React {
                    emoji,
                    uid,
                    user,
                    on,
                    after,
                    ..
                } => {
                    after.clone_from(&state.reactions);
                    react(after, emoji, uid, user, *on);
                }
                // Whom it adds, to the text as stored: nobody is left
                // unnotified because the refused edit had named them.
                Changed::Edit {
                    mentions,
                    new_mentions,
                    ..
                } => {
                    let before: Vec<String> = state.mentions.iter().map(|n| name_key(n)).collect();
                    *new_mentions = mentions
                        .iter()
                        .filter(|n| !before.contains(&name_key(n)))
                        .cloned()
                        .collect();
                }
                Changed::Delete { .. } => {}
            }
            apply(&mut state, change);
        }
        if let Some(entry) = self.rooms.get_mut(key).and_then(|r| r.overlay.get_mut(&id)) {
            entry.0 = state;
        }
    }
}

/// One change of `overlay`'s message `id` is stored or refused: when it was
/// the last on its way, the cache (and storage) are the truth again.
fn done(overlay: &mut HashMap<u64, (ChatMessage, usize)>, id: u64) {
    if let Some(entry) = overlay.get_mut(&id) {
        entry.1 -= 1;
        if entry.1 == 0 {
            overlay.remove(&id);
        }
    }
}

/// `uid` (named `user`) puts `emoji` on, or takes it off, as storage does:
/// on when already on, or off when not on, changes nothing. (`cmd::react`
/// checks the limit on distinct emoji first.)
pub fn react(
    reactions: &mut Vec<Reaction>,
    emoji: &str,
    uid: &Arc<str>,
    user: &Arc<str>,
    on: bool,
) {
    let group = reactions.iter().position(|r| r.emoji == emoji);
    match (on, group) {
        (true, Some(g)) if !reactions[g].by.iter().any(|(u, _)| u == uid) => {
            reactions[g].by.push((uid.clone(), user.clone()));
        }
        (true, None) => reactions.push(Reaction {
            emoji: emoji.to_string(),
            by: vec![(uid.clone(), user.clone())],
        }),
        (false, Some(g)) => {
            reactions[g].by.retain(|(u, _)| u != uid);
            if reactions[g].by.is_empty() {
                reactions.remove(g);
            }
        }
        _ => {}
    }
}

/// A change, applied to a message's state.
pub fn apply(m: &mut ChatMessage, change: &Change) {
    m.rev = Some(change.seq);
    match &change.what {
        Changed::Edit {
            text,
            mentions,
            edited_ts,
            ..
        } => {
            m.text.clone_from(text);
            m.mentions.clone_from(mentions);
            m.edited_ts = Some(*edited_ts);
        }
        Changed::Delete { by } => {
            m.deleted_by.clone_from(by);
            m.text.clear();
            m.mentions.clear();
            m.reactions.clear();
            m.reply = None;
            m.reply_to = None;
            m.action = false;
            m.deleted = true;
            m.attachments.clear();
        }
        Changed::React { after, .. } => m.reactions.clone_from(after),
    }
}

/// The frame that tells a room of a change.
fn change_frame(room: &str, change: &Change) -> Arc<[u8]> {
    let (seq, id, client_id) = (change.seq, change.id, change.client_id.as_deref());
    protocol::encode(&match &change.what {
        Changed::Edit {
            text,
            mentions,
            new_mentions,
            edited_ts,
        } => Reply::Edit {
            room,
            seq,
            id,
            text,
            edited_ts: Some(*edited_ts),
            mentions,
            new_mentions,
            client_id,
        },
        Changed::Delete { by } => Reply::Delete {
            room,
            seq,
            id,
            by: by.as_deref(),
            client_id,
        },
        Changed::React { after, .. } => Reply::Reactions {
            room,
            seq,
            id,
            reactions: after,
            client_id,
        },
    })
}
