//! Rooms with owners, in the chat: who may come in, who may speak, and who
//! may do what to whom. The rules read a room's [`Controls`] (loaded with the
//! room); every change to them is staged with [`Chat::stage_room`] and is
//! applied, announced and answered only once it is stored: commit before you
//! tell, as for messages.
//!
//! Two kinds of change are applied at once instead, because a joiner cannot
//! wait a pass at the door: an entry (the membership an invite, a password,
//! or a first visit to an owned room gives, and the invite's use) and an
//! owner's visit. Should storing one fail, the joiner is still in; after a
//! restart they are asked for the invite or password again (it is logged).
//!
//! Roles: owner > moderator > member; nobody acts on an equal or higher
//! role. A claim lapses `--room-claim-days` after an owner was last seen:
//! from then on the room has no owner and no moderators, and anyone who can
//! join it may claim it (its roles start over).

use std::sync::Arc;

use crate::config::MAX_DMS_LISTED;
use crate::protocol::{
    self, now_millis, Access, DmEntry, ErrorCode, InviteEntry, MuteEntry, Rejection, Reply, Role,
    RoleEntry, RoomSettings, SystemEvent,
};
use crate::storage::{Controls, Membership, RoomWrite, StoredBan, StoredInvite, StoredMute};

use super::{Chat, ConnId, SessionId};

/// What to do once a staged room change is stored.
pub enum Then {
    /// Send this frame to that connection (a `claimed`, an `invite_created`).
    Reply(ConnId, Arc<[u8]>),
    /// Post this notice to the room (a `system` frame).
    Notice(Arc<[u8]>),
    /// Take everyone with this public id out of the room, sending each of
    /// their connections this frame (`removed`) first.
    Remove { uid: String, frame: Arc<[u8]> },
    /// End the session this key finds (a revoked bot token's), closing its
    /// connections.
    EndSession(String),
}

/// Room changes staged or being stored, with what follows each.
pub struct RoomWaiter {
    /// Who asked: told `storage_failed` if it cannot be stored.
    pub conn: ConnId,
    /// How many of the batch's room writes are this one's.
    pub writes: usize,
    /// They were applied at once (an entry, a visit): not applied again
    /// when stored; undone if that fails, where undoing matters.
    pub applied: bool,
    pub then: Vec<Then>,
}

impl Controls {
    /// Whether a claim on the room is live at `now_ms`.
    pub fn owned(&self, now_ms: u64, lapse_ms: u64) -> bool {
        self.claim
            .as_ref()
            .is_some_and(|c| now_ms < c.seen_ms.saturating_add(lapse_ms))
    }

    /// `uid`'s role: a member's, unless the claim lapsed (then everyone is
    /// a member). Someone never recorded is a member too.
    pub fn role_of(&self, uid: &str, now_ms: u64, lapse_ms: u64) -> Role {
        match self.owned(now_ms, lapse_ms) {
            true => self.members.get(uid).map_or(Role::Member, |m| m.role),
            false => Role::Member,
        }
    }

    pub fn is_member(&self, uid: &str) -> bool {
        self.members.contains_key(uid)
    }

    /// The ban that keeps `uid` (or, for an address ban, `address`) out now.
    pub fn ban_of(&self, uid: &str, address: &str, now_ms: u64) -> Option<&StoredBan> {
        self.bans.iter().find(|b| {
            let by_uid = b.uid == uid && b.until_ms.is_none_or(|t| now_ms < t);
            let by_address = b.address.as_deref() == Some(address)
                && b.address_until_ms.is_some_and(|t| now_ms < t);
            by_uid || by_address
        })
    }

    /// When `uid`'s mute ends, if they are muted now.
    pub fn muted_until(&self, uid: &str, now_ms: u64) -> Option<u64> {
        self.mutes
            .iter()
            .find(|m| m.uid == uid && now_ms < m.until_ms)
            .map(|m| m.until_ms)
    }

    /// The invite with this code's hash, if it is live (not expired, not
    /// used up).
    pub fn live_invite(&self, hash: &str, now_ms: u64) -> Option<&StoredInvite> {
        self.invites
            .iter()
            .find(|i| i.hash == hash && is_live(i, now_ms))
    }

    /// Apply a stored change.
    pub fn apply(&mut self, write: &RoomWrite) {
        match write {
            RoomWrite::Claim(claim) => {
                for m in self.members.values_mut() {
                    m.role = Role::Member;
                }
                let owner = Membership {
                    name: claim.name.clone(),
                    role: Role::Owner,
                    since_ms: claim.claimed_ms,
                };
                self.members.insert(claim.uid.clone(), owner);
                self.claim = Some(claim.clone());
            }
            RoomWrite::Seen(ms) => {
                if let Some(c) = &mut self.claim {
                    c.seen_ms = *ms;
                }
            }
            RoomWrite::Settings(s) => self.settings = s.clone(),
            RoomWrite::Member { uid, membership } => {
                self.members.insert(uid.clone(), membership.clone());
            }
            RoomWrite::Unmember { uid } => {
                self.members.remove(uid);
            }
            RoomWrite::Invite(i) => {
                self.invites.retain(|old| old.hash != i.hash);
                self.invites.push(i.clone());
            }
            RoomWrite::InviteUsed { hash } => {
                if let Some(i) = self.invites.iter_mut().find(|i| &i.hash == hash) {
                    i.uses += 1;
                }
            }
            RoomWrite::Uninvite { hash } => self.invites.retain(|i| &i.hash != hash),
            RoomWrite::Ban(b) => {
                self.bans.retain(|old| old.uid != b.uid);
                self.bans.push(b.clone());
            }
            RoomWrite::Unban { uid } => self.bans.retain(|b| &b.uid != uid),
            RoomWrite::Mute(m) => {
                self.mutes.retain(|old| old.uid != m.uid);
                self.mutes.push(m.clone());
            }
            RoomWrite::Unmute { uid } => self.mutes.retain(|m| &m.uid != uid),
            // Tokens are not kept in memory: each use reads its row.
            RoomWrite::Token(_) | RoomWrite::Untoken { .. } | RoomWrite::TokenUsed { .. } => {}
        }
    }

    /// Undo a change applied at once whose storing failed, where it matters:
    /// an invite's use goes back (it is counted against its limit).
    fn undo(&mut self, write: &RoomWrite) {
        if let RoomWrite::InviteUsed { hash } = write {
            if let Some(i) = self.invites.iter_mut().find(|i| &i.hash == hash) {
                i.uses = i.uses.saturating_sub(1);
            }
        }
    }

    /// Drop what has run out (mutes, bans, invites), so it neither counts
    /// against the limits nor shows.
    pub fn prune(&mut self, now_ms: u64) {
        self.mutes.retain(|m| now_ms < m.until_ms);
        self.bans.retain(|b| {
            b.until_ms.is_none_or(|t| now_ms < t) || b.address_until_ms.is_some_and(|t| now_ms < t)
        });
        self.invites.retain(|i| is_live(i, now_ms));
    }

    /// The settings as members see them.
    pub fn view(&self, now_ms: u64, lapse_ms: u64) -> RoomSettings {
        let owned = self.owned(now_ms, lapse_ms);
        let mut roles: Vec<RoleEntry> = match owned {
            true => self
                .members
                .iter()
                .filter(|(_, m)| m.role > Role::Member)
                .map(|(uid, m)| RoleEntry {
                    uid: uid.clone(),
                    user: m.name.clone(),
                    role: m.role,
                })
                .collect(),
            false => Vec::new(),
        };
        roles.sort_by(|a, b| b.role.cmp(&a.role).then_with(|| a.user.cmp(&b.user)));
        let s = &self.settings;
        RoomSettings {
            owned,
            owner: owned
                .then(|| self.claim.as_ref().map(|c| c.name.clone()))
                .flatten(),
            lapses_ts: owned
                .then(|| {
                    self.claim
                        .as_ref()
                        .map(|c| c.seen_ms.saturating_add(lapse_ms))
                })
                .flatten(),
            topic: s.topic.clone(),
            visibility: s.visibility,
            access: s.access,
            locked: s.locked,
            dm: s.access == Access::Dm,
            roles,
            muted: self
                .mutes
                .iter()
                .filter(|m| now_ms < m.until_ms)
                .map(|m| MuteEntry {
                    uid: m.uid.clone(),
                    user: m.user.clone(),
                    until_ts: m.until_ms,
                })
                .collect(),
            invites: self
                .invites
                .iter()
                .filter(|i| is_live(i, now_ms))
                .map(|i| InviteEntry {
                    id: invite_id(&i.hash),
                    by: i.by.clone(),
                    expires_ts: i.expires_ms,
                    max_uses: i.max_uses,
                    uses: i.uses,
                })
                .collect(),
        }
    }
}

fn is_live(i: &StoredInvite, now_ms: u64) -> bool {
    now_ms < i.expires_ms && (i.max_uses == 0 || i.uses < i.max_uses)
}

/// An invite's public id: the start of its code's hash (the settings list
/// it, and `revoke_invite` names it; the code is never shown again).
pub fn invite_id(hash: &str) -> String {
    hash.chars().take(12).collect()
}

impl Chat {
    /// The open connections of these sessions.
    pub fn conns_of(&self, sessions: &[SessionId]) -> Vec<ConnId> {
        let theirs = self
            .members
            .iter()
            .filter(|(_, m)| sessions.contains(&m.session));
        theirs.map(|(&c, _)| c).collect()
    }

    /// The address of one of these sessions' connections in room `key`.
    pub fn address_in_room(&self, key: &str, sessions: &[SessionId]) -> Option<std::net::IpAddr> {
        self.members
            .values()
            .find(|m| sessions.contains(&m.session) && m.rooms.iter().any(|k| k == key))
            .map(|m| m.address)
    }

    /// The direct messages `uid` is in, for `hello` (the most recent first).
    pub(super) fn dms_of(&mut self, uid: &str) -> Vec<DmEntry> {
        match self.store.dms_of(uid, MAX_DMS_LISTED) {
            Ok(rows) => rows
                .into_iter()
                .map(|(_, room, with_uid, with)| DmEntry {
                    room,
                    with,
                    with_uid,
                })
                .collect(),
            Err(err) => {
                eprintln!("natter: could not read the direct messages of a session: {err}");
                Vec::new()
            }
        }
    }

    /// Claims by `uid` staged or being stored (they count against
    /// `MAX_ROOMS_OWNED` before they are stored).
    pub fn claims_pending(&self, uid: &str) -> usize {
        let rooms = self.rooms.values();
        rooms
            .filter(|r| r.claim_pending.as_deref() == Some(uid))
            .count()
    }

    /// How long a claim lives without an owner's visit, in ms.
    pub fn lapse_ms(&self) -> u64 {
        self.config.room_claim_lapse.as_millis() as u64
    }

    /// The caller's role in room `key` (loaded), and its public id.
    pub fn role_in(&self, key: &str, session: SessionId) -> (Role, Arc<str>) {
        let uid = self
            .session(session)
            .map_or_else(|| Arc::from(""), |s| s.uid.clone());
        let role = self.rooms.get(key).map_or(Role::Member, |r| {
            r.controls.role_of(&uid, now_millis(), self.lapse_ms())
        });
        (role, uid)
    }

    /// Stage changes to room `key`'s controls, stored with this pass's
    /// commit; `then` runs once they are. `applied`: they were applied to
    /// the room already (see the module doc). With no writes, `then` runs
    /// now: there is nothing to store (a kick from an open room).
    pub fn stage_room(
        &mut self,
        key: &str,
        writes: Vec<RoomWrite>,
        conn: ConnId,
        applied: bool,
        then: Vec<Then>,
    ) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        if writes.is_empty() {
            self.run_then(key, then);
            return;
        }
        r.unstored_controls += 1;
        let name = r.name.to_string();
        let count = writes.len();
        // Of what is applied at once, only an invite's use shows in the
        // settings (its count).
        let shows = applied
            && writes
                .iter()
                .any(|w| matches!(w, RoomWrite::InviteUsed { .. }));
        for write in writes {
            if applied {
                r.controls.apply(&write);
            }
            self.pending
                .rooms
                .push((key.to_string(), name.clone(), write));
        }
        self.room_waiters.push(RoomWaiter {
            conn,
            writes: count,
            applied,
            then,
        });
        if shows {
            self.settings_changed(key);
        }
    }

    /// The commit of the room changes in `rooms` is done (`failed`: it was
    /// not stored, and why): apply them, run what follows, and send the
    /// rooms' new settings; or tell whoever asked.
    pub(super) fn rooms_committed(
        &mut self,
        rooms: Vec<(String, String, RoomWrite)>,
        failed: Option<&str>,
    ) {
        let mut writes = rooms.into_iter();
        for waiter in std::mem::take(&mut self.room_waiters_committing) {
            let mine: Vec<(String, String, RoomWrite)> =
                writes.by_ref().take(waiter.writes).collect();
            let Some((key, name, _)) = mine.first().cloned() else {
                continue;
            };
            if let Some(r) = self.rooms.get_mut(&key) {
                r.unstored_controls -= 1;
                if mine
                    .iter()
                    .any(|(_, _, w)| matches!(w, RoomWrite::Claim(_)))
                {
                    r.claim_pending = None;
                }
            }
            self.maybe_idle.push(key.clone());
            match failed {
                None if waiter.applied => self.run_then(&key, waiter.then),
                None => {
                    if let Some(r) = self.rooms.get_mut(&key) {
                        for (_, _, write) in &mine {
                            r.controls.apply(write);
                        }
                    }
                    self.run_then(&key, waiter.then);
                    self.settings_changed(&key);
                }
                Some(err) if waiter.applied => {
                    if let Some(r) = self.rooms.get_mut(&key) {
                        for (_, _, write) in &mine {
                            r.controls.undo(write);
                        }
                    }
                    eprintln!(
                        "natter: could not store a change to #{name} ({err}); \
                         it holds until natter restarts"
                    );
                }
                Some(err) => {
                    let message =
                        format!("that could not be saved ({err}); nothing changed, try again");
                    let rejection = Rejection::new(ErrorCode::StorageFailed, message).in_room(name);
                    self.refuse(waiter.conn, &rejection);
                }
            }
        }
    }

    fn run_then(&mut self, key: &str, then: Vec<Then>) {
        for step in then {
            match step {
                Then::Reply(conn, frame) => self.reply(conn, frame),
                Then::Notice(frame) => self.broadcast(key, &frame),
                Then::Remove { uid, frame } => self.remove_from_room(key, &uid, &frame),
                Then::EndSession(token_key) => {
                    if let Some(id) = self.sessions.by_token(&token_key) {
                        self.end_session(id);
                    }
                }
            }
        }
    }

    /// Take every session with public id `uid` out of room `key`: each of
    /// its connections there gets `frame` and leaves the room, and the name
    /// leaves the member list (no "left" notice: the kick or ban notice says
    /// what happened).
    fn remove_from_room(&mut self, key: &str, uid: &str, frame: &Arc<[u8]>) {
        let theirs: Vec<SessionId> = self
            .rooms
            .get(key)
            .map(|r| {
                let present = r.present.keys().copied();
                present
                    .filter(|&s| self.sessions.get(s).is_some_and(|s| &*s.uid == uid))
                    .collect()
            })
            .unwrap_or_default();
        let conns: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| theirs.contains(&m.session) && m.rooms.iter().any(|k| k == key))
            .map(|(&c, _)| c)
            .collect();
        for conn in conns {
            self.reply(conn, frame.clone());
            self.exit(conn, key);
            if let Some(r) = self.rooms.get_mut(key) {
                r.members.retain(|&m| m != conn);
            }
        }
        if let Some(r) = self.rooms.get_mut(key) {
            for s in &theirs {
                r.present.remove(s);
            }
        }
        self.presence_changed(key);
        self.maybe_idle.push(key.to_string());
    }

    /// Room `key`'s settings changed: its `room` frame goes out at the end
    /// of the pass (once, however many changes).
    pub(super) fn settings_changed(&mut self, key: &str) {
        if let Some(r) = self.rooms.get_mut(key).filter(|r| !r.settings_dirty) {
            r.settings_dirty = true;
            self.settings_pending.push(key.to_string());
        }
    }

    /// Add each changed room's `room` frame to its batch.
    pub(super) fn flush_settings(&mut self) {
        let (now_ms, lapse) = (now_millis(), self.lapse_ms());
        for key in std::mem::take(&mut self.settings_pending) {
            let Some(r) = self.rooms.get_mut(&key) else {
                continue;
            };
            r.settings_dirty = false;
            let settings = r.controls.view(now_ms, lapse);
            let frame = protocol::encode(&Reply::Room {
                room: &r.name,
                settings: &settings,
            });
            r.add_to_batch(&frame, &key, &mut self.batched);
        }
    }

    /// A `system` notice about room `key` (see [`Reply::System`]).
    pub fn notice(&self, key: &str, n: Notice, text: String) -> Arc<[u8]> {
        let room = self.rooms.get(key).map_or("", |r| &*r.name);
        protocol::encode(&Reply::System {
            room,
            event: n.event,
            user: n.user,
            uid: n.uid,
            by: Some(n.by),
            until_ts: n.until_ts,
            ts: now_millis(),
            text,
        })
    }
}

/// What a moderation notice is about: the event, whom (`user`, `uid`),
/// who did it (`by`), and until when.
pub struct Notice<'a> {
    pub event: SystemEvent,
    pub user: &'a str,
    pub uid: Option<&'a str>,
    pub by: &'a str,
    pub until_ts: Option<u64>,
}

/// A membership as it starts now.
pub fn membership(name: &str, role: Role) -> Membership {
    Membership {
        name: name.to_string(),
        role,
        since_ms: now_millis(),
    }
}

/// A mute of `uid` (named `user`) until `until_ms`, by `by`.
pub fn mute(uid: &str, user: &str, until_ms: u64, by: &str) -> StoredMute {
    StoredMute {
        uid: uid.to_string(),
        user: user.to_string(),
        until_ms,
        by: by.to_string(),
    }
}

/// "10 minutes", "2 hours", "3 days": a length as a notice says it.
pub fn spoken(minutes: u64) -> String {
    let (n, unit) = match minutes {
        m if m % (24 * 60) == 0 => (m / (24 * 60), "day"),
        m if m % 60 == 0 => (m / 60, "hour"),
        m => (m, "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
