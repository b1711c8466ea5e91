//! The end of a pass, and the chat's timers: commit before you tell, then
//! hand each room's batch to its members.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{MAX_PRESENCE_INTERVAL, PRESENCE_INTERVAL_PER_MEMBER, RETENTION_INTERVAL};
use crate::protocol::{self, now_millis, ChatMessage, ErrorCode, Rejection, Reply};
use crate::storage::{commit_all, report_retention, Outcome, Write, Writes};
use crossbeam_channel::Receiver;

use super::{Chat, ConnId, Room, SWEEP_INTERVAL};

impl Chat {
    /// Start storing this pass's messages and session changes, in one
    /// transaction, unless a commit is already under way (then they wait
    /// for the next one). Nobody receives a message before it is stored:
    /// [`Chat::committed`] hands them to their rooms when the outcome is
    /// back. Inline (in memory) it is returned here; on the writer thread
    /// (a database file, see `storage/writer.rs`) it arrives in a later pass.
    #[must_use = "an outcome returned must be handed to `committed`"]
    pub fn commit(&mut self) -> Option<Outcome> {
        if self.committing.is_some() || self.pending.is_empty() {
            return None;
        }
        let batch = std::mem::take(&mut self.pending);
        self.committing = Some(std::mem::take(&mut self.senders));
        self.claims_committing = std::mem::take(&mut self.claims);
        self.room_waiters_committing = std::mem::take(&mut self.room_waiters);
        self.media_committing = std::mem::take(&mut self.media_waiters);
        match &self.writes {
            Writes::Inline => Some(commit_all(self.store.as_mut(), batch)),
            Writes::Thread(writer) => {
                writer.submit(batch);
                None
            }
        }
    }

    /// A commit's outcome: each stored message goes to its room's batch and
    /// history cache, each stored change to the cache and the batch as its
    /// frame; one that could not be stored goes to nobody, and its sender is
    /// told `storage_failed` (the page keeps it pending, to send again).
    /// Returns how many messages were stored.
    pub fn committed(&mut self, mut outcome: Outcome) -> usize {
        let rooms = std::mem::take(&mut outcome.batch.rooms);
        self.rooms_committed(rooms, outcome.others.as_deref());
        let senders = self
            .committing
            .take()
            .expect("an outcome answers the one commit under way");
        self.answer_claims(outcome.others.as_deref());
        self.answer_media(outcome.others.as_deref());
        let mut stored = 0;
        let mut refused_changes = Vec::new();
        let writes = outcome.batch.writes.into_iter().zip(outcome.failed);
        for (((key, write), failed), conn) in writes.zip(senders) {
            if let Some(r) = self.rooms.get_mut(&key) {
                r.unstored -= 1;
            }
            self.attached(&write);
            match (write, failed) {
                (Write::Post(message), None) => {
                    stored += 1;
                    // A bot's HTTP post is answered with what was stored.
                    if conn >= super::HTTP_CALLERS {
                        self.reply(conn, protocol::encode(&Reply::Message(&message)));
                    }
                    self.publish(key, message);
                }
                (Write::Post(message), Some(err)) => self.refuse_unsaved(key, message, conn, &err),
                (Write::Change(change), None) => self.publish_change(key, change),
                (Write::Change(change), Some(err)) => {
                    refused_changes.push((key.clone(), change.id));
                    self.refuse_unsaved_change(key, change, conn, &err)
                }
            }
        }
        // What is staged now is all that is still on its way.
        for (key, id) in refused_changes {
            self.recheck_staged(&key, id);
        }
        stored
    }

    /// Whether a commit is under way.
    pub fn is_committing(&self) -> bool {
        self.committing.is_some()
    }

    /// Whether anything is staged or being stored (shutdown waits for it).
    pub fn has_unstored(&self) -> bool {
        !self.pending.is_empty() || self.committing.is_some()
    }

    /// At shutdown: store what is still staged, waiting up to `timeout` for
    /// each commit under way. What they publish goes nowhere (everyone is
    /// gone); it is stored, and a client resuming later gets it.
    pub fn finish_writes(&mut self, timeout: Duration) {
        while self.has_unstored() {
            let outcome = match self.commit() {
                Some(outcome) => outcome,
                None => match self.writes.wait(timeout) {
                    Some(outcome) => outcome,
                    None => return,
                },
            };
            self.committed(outcome);
        }
    }

    /// Where outcomes of commits on the writer thread arrive.
    pub fn outcomes(&self) -> Receiver<Outcome> {
        self.writes.outcomes()
    }

    /// A stored message goes to its room's batch and history cache.
    fn publish(&mut self, key: String, mut message: ChatMessage) {
        let Some(r) = self.rooms.get_mut(&key) else {
            return; // Everyone left; it is stored, and that is all.
        };
        // A reply shows its original as it is stored now: the preview was
        // taken when the reply was written, counting changes to the original
        // then still being stored, and one of those may have been refused.
        if let Some(original) = message.reply_to.and_then(|id| r.cached(id)) {
            message.reply = Some(original.preview());
        }
        r.last_batched = r.last_batched.max(message.id);
        r.add_to_batch(
            &protocol::encode(&Reply::Message(&message)),
            &key,
            &mut self.batched,
        );
        r.history.push_back(message);
        while r.history.len() > self.config.history {
            let gone = r.history.pop_front().expect("longer than the limit");
            r.max_rev_outside = r.max_rev_outside.max(gone.rev());
        }
    }

    /// A message that could not be stored is sent to nobody; its sender is
    /// told, and may send it again with the same `client_id`.
    fn refuse_unsaved(&mut self, key: String, message: ChatMessage, conn: ConnId, err: &str) {
        if let Some(session) = self.session_of(conn) {
            self.sessions.forget_post(session, &key, message.id);
        }
        let mut r = Rejection::new(
            ErrorCode::StorageFailed,
            format!("your message could not be saved ({err}); it was not sent"),
        );
        r.room = Some(message.room.to_string());
        r.client_id = message.client_id;
        self.refuse(conn, &r);
    }

    /// Add each changed member list to its room's batch: once per pass at
    /// most, and in big rooms no more often than
    /// `PRESENCE_INTERVAL_PER_MEMBER` allows.
    pub fn flush_presence(&mut self, now: Instant) {
        self.flush_settings();
        let mut later = Vec::new();
        for key in std::mem::take(&mut self.presence_pending) {
            let Some(r) = self.rooms.get_mut(&key) else {
                continue;
            };
            if r.next_presence.is_some_and(|due| due > now) {
                later.push(key);
                continue;
            }
            r.presence_dirty = false;
            let spacing = PRESENCE_INTERVAL_PER_MEMBER * r.members.len() as u32;
            r.next_presence = Some(now + spacing.min(MAX_PRESENCE_INTERVAL));
            let (members, verified) = (r.member_names(), r.verified_names());
            let presence = protocol::encode(&Reply::Presence {
                room: &r.name,
                members: &members,
                verified: &verified,
            });
            r.add_to_batch(&presence, &key, &mut self.batched);
        }
        self.presence_pending = later;
    }

    /// Hand every room's batch to its members as one shared chunk: `send`
    /// is called once per member. A thousand members cost a thousand
    /// reference-count increments, not a thousand encodings.
    pub fn deliver(&mut self, mut send: impl FnMut(ConnId, &Arc<[u8]>)) {
        for key in std::mem::take(&mut self.batched) {
            let Some(r) = self.rooms.get_mut(&key) else {
                continue;
            };
            let chunk: Arc<[u8]> = std::mem::take(&mut r.batch).into();
            r.last_told = r.last_batched;
            for &m in &r.members {
                send(m, &chunk);
            }
        }
    }

    /// Rooms nobody is in leave memory; storage keeps their history.
    pub fn drop_idle_rooms(&mut self) {
        for key in std::mem::take(&mut self.maybe_idle) {
            // A room a long-poll waits on stays: its `last_told` is watched.
            if self.polls.iter().any(|p| p.key == key) {
                continue;
            }
            if self.rooms.get(&key).is_some_and(Room::is_idle) {
                self.rooms.remove(&key);
            }
        }
    }

    /// The earliest moment the chat needs `tick` without an event arriving.
    pub fn next_deadline(&self) -> Instant {
        let mut at = self.next_sweep;
        if let Some((deadline, _, _)) = self.leaving.first() {
            at = at.min(*deadline);
        }
        for key in &self.presence_pending {
            if let Some(due) = self.rooms.get(key).and_then(|r| r.next_presence) {
                at = at.min(due);
            }
        }
        for poll in &self.polls {
            at = at.min(poll.deadline);
        }
        at
    }

    /// Leave notices whose grace ran out, old messages past `--retention`,
    /// expired sessions and forgotten rate-limit scores.
    pub fn tick(&mut self, now: Instant) {
        while self
            .leaving
            .first()
            .is_some_and(|(deadline, _, _)| *deadline <= now)
        {
            let (_, key, session) = self.leaving.pop_first().expect("first exists");
            let Some(r) = self.rooms.get_mut(&key) else {
                continue;
            };
            if r.present.get(&session).is_some_and(|p| p.conns == 0) {
                self.leave_room(&key, session);
            }
        }
        if let Some(retention) = self.config.retention.filter(|_| now >= self.next_retention) {
            self.next_retention = now + RETENTION_INTERVAL;
            self.delete_old(retention);
        }
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_INTERVAL;
            for id in self.sessions.expired(now) {
                self.end_session(id);
            }
            if let Some(budgets) = &mut self.budgets {
                budgets.sweep(now);
            }
            // HTTP callers the rules never answered: their web threads gave
            // up after `HUB_REPLY_TIMEOUT` (or the long-poll's wait).
            let gone = crate::config::MAX_POLL_WAIT + crate::config::HUB_REPLY_TIMEOUT;
            self.http
                .retain(|_, c| now.saturating_duration_since(c.since) < gone);
            self.logins.sweep(now);
        }
    }

    /// `--retention`: delete stored messages older than `retention`, and the
    /// same from the rooms in memory, so nobody is shown what was deleted.
    fn delete_old(&mut self, retention: Duration) {
        let cutoff = retention_cutoff(retention);
        match &self.writes {
            Writes::Inline => report_retention(self.store.delete_before(cutoff)),
            Writes::Thread(writer) => writer.delete_before(cutoff),
        }
        for r in self.rooms.values_mut() {
            r.history.retain(|m| m.ts >= cutoff);
        }
    }
}

/// The `ts` before which `--retention` deletes messages (ms since the epoch).
pub(super) fn retention_cutoff(retention: Duration) -> u64 {
    now_millis().saturating_sub(retention.as_millis() as u64)
}
