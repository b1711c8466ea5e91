//! Rooms: who is in them, what they said lately, and the frames waiting to
//! go out to their members.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::protocol::{self, now_millis, ChatMessage, Reply, SystemEvent};
use crate::storage::{Controls, StorageError};

use super::{Chat, ConnId, SessionId};

/// A user shown in a room's member list.
pub struct Presence {
    pub name: Arc<str>,
    /// `protocol::name_key(name)`, kept so that checking a new name against
    /// a big room does not compute a thousand keys.
    pub key: String,
    /// This session's connections in the room.
    pub conns: usize,
    /// When this user's last `typing` went out here (see `TYPING_INTERVAL`).
    pub typing_at: Option<Instant>,
    /// Logged in to this claimed name (a check mark in the member list).
    pub verified: bool,
    /// Put back here by a restart (`Chat::rejoin_after_restart`), and not
    /// connected since: the name is kept for them, but a new login under it
    /// takes it (see `Chat::free_restored_name`).
    pub restored: bool,
}

pub struct Room {
    /// The first spelling of the room's name, sent in every `room` field.
    pub name: Arc<str>,
    /// Connections in the room: they receive its frames.
    pub members: Vec<ConnId>,
    /// Users in the member list, by session. A user whose last connection
    /// left stays here during the leave grace period.
    pub present: BTreeMap<SessionId, Presence>,
    /// The newest messages (up to `--history`), oldest first, each in its
    /// current state: a cache of what storage holds, so joining a busy room
    /// reads no disk. Changes are applied in place once stored.
    pub history: VecDeque<ChatMessage>,
    /// The room's sequence: the number the next message or change takes
    /// (a message's number is its id).
    pub next_id: u64,
    /// Numbers given out but not yet stored (messages and changes staged, or
    /// in the commit under way). Numbers below `next_id - unstored` are
    /// settled: stored, or refused. A room with any is kept in memory, so its
    /// `next_id` is never read back from a store that does not have them yet.
    pub unstored: u64,
    /// The latest number members have been sent (a stored message or
    /// change): the `cursor` a `joined` gives, and what its lists stop at.
    /// Not the latest settled number: numbers that could not be stored above
    /// it are not in storage, so when the room comes back from storage (after
    /// it left memory, or a restart) they are given out again, and a cursor
    /// that counted them would pass the messages that get them. Nor the
    /// latest in `batch`: a joiner gets the batch after its `joined`, so a
    /// cursor counting it would pass what a dropped connection never got.
    pub last_told: u64,
    /// The latest number in `batch` (it becomes `last_told` once the batch is
    /// handed out, see `Chat::deliver`).
    pub last_batched: u64,
    /// The latest change (`rev`) of any message older than the cache: while
    /// a resume's `since` is at least this, the cache answers it.
    pub max_rev_outside: u64,
    /// Messages with changes staged or being stored: their state once those
    /// are done, and how many there are. A change checks against this first
    /// (two edits, or a reaction on an emoji just added, in one pass), and it
    /// is dropped when the last is stored; the cache and storage change only
    /// once a change is stored.
    pub overlay: HashMap<u64, (ChatMessage, usize)>,
    /// Frames produced this pass, not yet handed to the members.
    pub batch: Vec<u8>,
    /// The member list changed since it was last sent.
    pub presence_dirty: bool,
    /// The member list may not be sent again before this (see
    /// `PRESENCE_INTERVAL_PER_MEMBER`).
    pub next_presence: Option<Instant>,
    /// Its claim, settings, members, invites, bans and mutes (see
    /// `controls.rs`): as stored, plus entries applied at once.
    pub controls: Controls,
    /// Changes to `controls` staged or being stored: the room stays in
    /// memory until they are done.
    pub unstored_controls: usize,
    /// The settings changed since the `room` frame was last sent.
    pub settings_dirty: bool,
    /// A claim staged or being stored, by this public id: a second claim is
    /// refused meanwhile, as if the first were stored already.
    pub claim_pending: Option<std::sync::Arc<str>>,
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: name.into(),
            members: Vec::new(),
            present: BTreeMap::new(),
            history: VecDeque::new(),
            next_id: 1,
            unstored: 0,
            last_told: 0,
            last_batched: 0,
            max_rev_outside: 0,
            overlay: HashMap::new(),
            batch: Vec::new(),
            presence_dirty: false,
            next_presence: None,
            controls: Controls::default(),
            unstored_controls: 0,
            settings_dirty: false,
            claim_pending: None,
        }
    }

    /// Member names, sorted case-insensitively, for `joined` and `presence`
    /// (a claimed name on two devices is one member).
    pub fn member_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.present.values().map(|p| &*p.name).collect();
        names.sort_by_key(|n| n.to_lowercase());
        names.dedup();
        names
    }

    /// The members whose names are claimed (and who are logged in to them).
    pub fn verified_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .present
            .values()
            .filter(|p| p.verified)
            .map(|p| &*p.name)
            .collect();
        names.sort_by_key(|n| n.to_lowercase());
        names.dedup();
        names
    }

    /// Whether another session in the room already goes by a name with this
    /// `name_key` (look-alikes count as the same name). With `account`, the
    /// joiner is logged in to that claimed name: its own other sessions (the
    /// same person on another device) do not count.
    pub fn name_taken(&self, key: &str, by_other_than: Option<SessionId>, account: bool) -> bool {
        let others = self
            .present
            .iter()
            .filter(|(&s, p)| Some(s) != by_other_than && !(account && p.verified));
        others.into_iter().any(|(_, p)| p.key == key)
    }

    /// Nobody here and nothing waiting to go out: the room can leave memory
    /// (its history stays in storage).
    pub fn is_idle(&self) -> bool {
        self.members.is_empty()
            && self.present.is_empty()
            && self.batch.is_empty()
            && self.unstored == 0
            && self.unstored_controls == 0
    }

    /// The id of the first message not yet settled: a store read on another
    /// connection may already hold it, but no member has been sent it, so a
    /// replay stops before it (the live batch brings it).
    pub fn first_unsettled(&self) -> u64 {
        self.next_id - self.unstored
    }

    /// The next number of the room's sequence, for a message or a change.
    pub fn take_number(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// The cached message `id`, if the cache holds it.
    pub fn cached(&self, id: u64) -> Option<&ChatMessage> {
        let at = self.history.binary_search_by_key(&id, |m| m.id).ok()?;
        self.history.get(at)
    }

    /// The cached message `id`, if the cache holds it.
    pub fn cached_mut(&mut self, id: u64) -> Option<&mut ChatMessage> {
        let at = self.history.binary_search_by_key(&id, |m| m.id).ok()?;
        self.history.get_mut(at)
    }

    /// Append an encoded frame to this pass's batch for the room `key`,
    /// noting the room in `batched` when its batch was empty.
    pub fn add_to_batch(&mut self, frame: &[u8], key: &str, batched: &mut Vec<String>) {
        if self.batch.is_empty() {
            batched.push(key.to_string());
        }
        self.batch.extend_from_slice(frame);
    }
}

impl Chat {
    /// The room for `key`: from memory, else from storage (name, next id and
    /// recent history), else a new room named `display`.
    pub fn load_room(&mut self, key: &str, display: &str) -> Result<&mut Room, StorageError> {
        if !self.rooms.contains_key(key) {
            let room = match self.store.room(key)? {
                Some(stored) => {
                    let mut room = Room::new(&stored.name);
                    room.next_id = stored.next_id;
                    room.last_told = stored.next_id - 1;
                    room.last_batched = room.last_told;
                    let history = self.config.history;
                    let (recent, _) = self.store.before(key, &room.name, u64::MAX, history)?;
                    let oldest = recent.first().map_or(u64::MAX, |m| m.id);
                    room.max_rev_outside = self.store.max_rev_before(key, oldest)?;
                    room.history = recent.into();
                    room.controls = self.store.controls(key)?;
                    room.controls.prune(now_millis());
                    room
                }
                None => Room::new(display),
            };
            self.rooms.insert(key.to_string(), room);
        }
        Ok(self.rooms.get_mut(key).expect("inserted above"))
    }

    /// A room in memory.
    pub fn room(&self, key: &str) -> Option<&Room> {
        self.rooms.get(key)
    }

    pub fn room_mut(&mut self, key: &str) -> Option<&mut Room> {
        self.rooms.get_mut(key)
    }

    /// Take one connection out of a room. When it was the user's last
    /// connection there, the leave notice is posted now (`grace` false: they
    /// chose to leave) or after the grace period (a dropped socket may be a
    /// page reload; coming back in time cancels it, see `tick`).
    pub fn part(&mut self, conn: ConnId, session: SessionId, key: &str, grace: bool, now: Instant) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        r.members.retain(|&m| m != conn);
        let Some(presence) = r.present.get_mut(&session) else {
            return;
        };
        presence.conns = presence.conns.saturating_sub(1);
        if presence.conns > 0 || self.shutting_down {
            return;
        }
        if grace {
            let deadline = now + self.config.leave_grace;
            self.leaving.insert((deadline, key.to_string(), session));
        } else {
            self.leave_room(key, session);
        }
    }

    /// Take `session` out of room `key`'s member list, and post its leave
    /// notice, unless the same claimed name is still there on another device
    /// (then the person has not left).
    pub(super) fn leave_room(&mut self, key: &str, session: SessionId) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        let Some(gone) = r.present.remove(&session) else {
            return;
        };
        if gone.verified && r.present.values().any(|p| p.verified && p.key == gone.key) {
            return;
        }
        self.announce(key, &gone.name, SystemEvent::Leave);
    }

    /// Post a join or leave notice to a room, and mark its member list to be
    /// sent (see `flush_presence`).
    pub fn announce(&mut self, key: &str, user: &str, event: SystemEvent) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        let verb = match event {
            SystemEvent::Join => "joined",
            _ => "left",
        };
        let system = protocol::encode(&Reply::System {
            room: &r.name,
            event,
            user,
            uid: None,
            by: None,
            until_ts: None,
            ts: now_millis(),
            text: format!("{user} {verb}"),
        });
        r.add_to_batch(&system, key, &mut self.batched);
        self.presence_changed(key);
        if event == SystemEvent::Leave {
            self.maybe_idle.push(key.to_string());
        }
    }

    /// A login under `name_key` in room `key` takes the name from a session
    /// that a restart put back in the room and that has not come back: the
    /// restart's grace (20 s) is for silent rejoins, not for keeping a name
    /// from someone who logs in afresh (often the same person, on another
    /// device or with a lost cookie). A name held across a reload stays held.
    pub fn free_restored_name(&mut self, key: &str, name_key: &str, except: Option<SessionId>) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        let before = r.present.len();
        r.present
            .retain(|&s, p| Some(s) == except || !(p.restored && p.key == name_key));
        if r.present.len() != before {
            self.presence_changed(key);
        }
    }

    /// Room `key`'s member list changed: it is sent at the end of the pass
    /// (or later, spaced out: see `flush_presence`).
    pub(super) fn presence_changed(&mut self, key: &str) {
        if let Some(r) = self.rooms.get_mut(key).filter(|r| !r.presence_dirty) {
            r.presence_dirty = true;
            self.presence_pending.push(key.to_string());
        }
    }

    /// Add a frame to a room's batch (typing notices, from `cmd::typing`).
    pub fn broadcast(&mut self, key: &str, frame: &[u8]) {
        if let Some(r) = self.rooms.get_mut(key) {
            r.add_to_batch(frame, key, &mut self.batched);
        }
    }

    /// A room loaded for nothing (a refused join) may leave memory again.
    pub fn maybe_idle(&mut self, key: &str) {
        self.maybe_idle.push(key.to_string());
    }
}

/// The newest of `messages` (oldest first) whose encoded size fits in
/// `budget` bytes, still oldest first, and whether any were left out.
pub fn newest_within(messages: Vec<&ChatMessage>, budget: usize) -> (Vec<&ChatMessage>, bool) {
    let mut used = 0;
    let keep = messages
        .iter()
        .rev()
        .take_while(|m| {
            used += protocol::encoded_len(m);
            used <= budget
        })
        .count();
    let cut = keep < messages.len();
    let mut messages = messages;
    messages.drain(..messages.len() - keep);
    (messages, cut)
}
