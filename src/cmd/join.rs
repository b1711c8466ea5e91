//! `join`: enter a room, get its member list and recent history (or, with
//! `since`, exactly what was missed), and be announced to the others.

use std::sync::Arc;
use std::time::Instant;

use crate::chat::{membership, newest_within, Caller, Chat, Presence};
use crate::cmd::room::moderate::address_hash;
use crate::config::{
    MAX_RESUME, MAX_ROOMS_PER_CONNECTION, MAX_ROOM_MEMBERS, OWNER_SEEN_EVERY, RATE_COST_JOIN,
    RATE_COST_KEY,
};
use crate::metrics::Resume;
use crate::protocol::{
    self, name_key, now_millis, room_key, Access, ChatMessage, ErrorCode, Join, Rejection, Reply,
    Role, SystemEvent,
};
use crate::session::token_key;
use crate::storage::RoomWrite;

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Join {
        room,
        since,
        epoch,
        invite,
        password_right,
        ..
    }: Join,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, RATE_COST_JOIN, None, now) {
        return Ok(());
    }
    let key = room_key(&room);
    let rooms = chat.rooms_of(caller.conn).unwrap_or_default();
    let already = rooms.contains(&key);
    if !already && rooms.len() >= MAX_ROOMS_PER_CONNECTION {
        let message = format!(
            "a connection may be in at most {MAX_ROOMS_PER_CONNECTION} rooms; leave one first"
        );
        return Err(in_room(
            Rejection::new(ErrorCode::TooManyRooms, message),
            &room,
        ));
    }
    let session = chat.session(caller.session).expect("members have sessions");
    let name = session.name.clone();
    let wanted = name_key(&name);
    // Shown once its claim is stored, not while it is (see `answer_claims`).
    let verified = session.account.is_some() && !chat.claiming(&wanted);
    let r = chat.load_room(&key, &room).map_err(|err| {
        let message = format!("could not load the room: {err}");
        in_room(Rejection::new(ErrorCode::StorageFailed, message), &room)
    })?;
    if r.name_taken(&wanted, Some(caller.session), verified) {
        let message = format!("the name \"{name}\" is already taken in #{}", r.name);
        let rejection = in_room(Rejection::new(ErrorCode::NameTaken, message), &r.name);
        chat.maybe_idle(&key);
        return Err(rejection);
    }
    // A bot token's name is reserved in its room, and the token lets its
    // bot in whatever the door (its owner made it for this room).
    let bot = super::bots::grant(chat, caller.session).is_some();
    if !bot {
        bot_name_taken(chat, &key, &name, &wanted).inspect_err(|_| chat.maybe_idle(&key))?;
    }
    // Who may come in (bans, invites, passwords, locks: see `admit`).
    let entry = match already || bot {
        true => Vec::new(),
        false => {
            admit(chat, caller, &key, &name, invite, password_right, now).inspect_err(|_| {
                chat.maybe_idle(&key);
            })?
        }
    };
    chat.stage_room(&key, entry, caller.conn, true, Vec::new());
    if bot {
        super::bots::touch(chat, caller.session, &key, now);
    }
    // No flush of the room's batch is needed first. It may hold messages and
    // changes already (with the writer thread, a commit's outcome can come
    // in before this pass's events), but `joined` stops at the last number
    // members were sent, so the joiner gets those once, from the batch. And
    // a join storm costs members one chunk per pass, not one per join.
    let announce = !already && enter(chat, caller, &key, &name, wanted, verified);
    // A `since` from another database (a replaced file, whatever its ids)
    // means nothing here: the page starts over, told so by `gap`.
    let foreign = since.is_some() && epoch.is_some_and(|e| *e != **chat.epoch());
    let joined = joined_frame(chat, caller, &key, since, foreign);
    chat.reply(caller.conn, joined);
    if announce {
        chat.announce(&key, &name, SystemEvent::Join);
    }
    Ok(())
}

/// `name_taken` when a live bot token of room `key` has the name `wanted`
/// (its key): nobody can pass for the room's bot.
fn bot_name_taken(chat: &mut Chat, key: &str, name: &str, wanted: &str) -> Result<(), Rejection> {
    let room = chat
        .room(key)
        .map(|r| r.name.to_string())
        .unwrap_or_default();
    match chat.store().tokens(Some(key)) {
        Ok(tokens) if tokens.iter().any(|t| name_key(&t.name) == wanted) => {
            let message = format!("\"{name}\" is the name of a bot of #{room}; pick another");
            Err(in_room(
                Rejection::new(ErrorCode::NameTaken, message),
                &room,
            ))
        }
        Ok(_) => Ok(()),
        Err(err) => {
            let message = format!("could not check the room's bot names: {err}");
            Err(in_room(
                Rejection::new(ErrorCode::StorageFailed, message),
                &room,
            ))
        }
    }
}

/// Put the caller's connection in the room. Returns whether the user is new
/// there (not merely another tab of someone present), to be announced.
fn enter(
    chat: &mut Chat,
    caller: &Caller,
    key: &str,
    name: &Arc<str>,
    wanted: String,
    verified: bool,
) -> bool {
    let r = chat.room_mut(key).expect("loaded by `apply`");
    r.members.push(caller.conn);
    // The same claimed name on another device is the same person: already
    // there, so not announced again.
    let elsewhere = verified
        && r.present
            .iter()
            .any(|(&s, p)| s != caller.session && p.verified && p.key == wanted);
    let mut new = false;
    let presence = r.present.entry(caller.session).or_insert_with(|| {
        new = !elsewhere;
        Presence {
            name: name.clone(),
            key: wanted,
            conns: 0,
            typing_at: None,
            verified,
            restored: false,
        }
    });
    // A user coming back within the grace period cancels their leave notice
    // simply by being present again with conns > 0 (see `tick`).
    presence.conns += 1;
    presence.restored = false;
    chat.enter(caller.conn, key);
    new
}

/// The `joined` answer: the member list, and the history the joiner needs.
///
/// Without `since`: the recent messages, each in its current state. With
/// it: `history` holds the messages after `since`, and `changes` the current
/// state of older ones that changed after it (edits, deletes, reactions),
/// in the order of their changes. One sequence numbers both, so one cursor
/// says what the page has seen; together they are at most `MAX_RESUME`, and
/// past that (or when they do not fit the joiner's queue) `gap` says to start
/// the room over.
pub(crate) fn joined_frame(
    chat: &mut Chat,
    caller: &Caller,
    key: &str,
    since: Option<u64>,
    foreign: bool,
) -> std::sync::Arc<[u8]> {
    // What was missed, from storage, when the cache cannot tell; `history`
    // and `changes` then point into this instead of the cache.
    let replayed = match since {
        Some(since) if !foreign => replay(chat, key, since),
        _ => None,
    };
    let r = chat.room(key).expect("loaded by `apply`");
    // The latest number members have been sent (see `Room::last_told`):
    // what this pass put in the room's batch reaches the joiner after this
    // answer, and later numbers are still being stored. Both come live.
    let told = r.last_told;
    let all = || r.history.iter().collect::<Vec<&ChatMessage>>();
    let (history, changes, gap) = match (since, &replayed) {
        (None, _) => (all(), Vec::new(), false),
        (Some(_), _) if foreign => (all(), Vec::new(), true),
        // A `since` from the future: the database was replaced and ids
        // started again. The page must start over.
        (Some(since), _) if since >= r.next_id => (all(), Vec::new(), true),
        // Everything missed is in the cache (see `Room::max_rev_outside`).
        (Some(since), None) => {
            let new: Vec<&ChatMessage> = r.history.iter().filter(|m| m.id > since).collect();
            let seen = |m: &ChatMessage| m.rev().min(told);
            let mut changed: Vec<&ChatMessage> = r
                .history
                .iter()
                .filter(|m| m.id <= since && seen(m) > since)
                .collect();
            changed.sort_by_key(|m| seen(m));
            match new.len() + changed.len() > MAX_RESUME {
                true => (all(), Vec::new(), true),
                false => (new, changed, false),
            }
        }
        (Some(_), Some(Some((new, changed)))) => {
            (new.iter().collect(), changed.iter().collect(), false)
        }
        // Too much was missed, or storage failed: start over, with a gap.
        (Some(_), Some(None)) => (all(), Vec::new(), true),
    };
    // As members have been sent them: a message of this pass's batch is left
    // out (it comes live, not twice), and one changed in it shows with its
    // number held to `told` (see `settle`).
    let history: Vec<&ChatMessage> = history.into_iter().filter(|m| m.id <= told).collect();
    let held: Vec<ChatMessage> = (history.iter().chain(&changes))
        .filter(|m| m.rev() > told)
        .map(|m| held_to(m, told))
        .collect();
    let history: Vec<&ChatMessage> = history
        .into_iter()
        .map(|m| as_told(m, &held, told))
        .collect();
    let changes: Vec<&ChatMessage> = changes
        .into_iter()
        .map(|m| as_told(m, &held, told))
        .collect();
    // The answer must fit the joiner's queue whatever the room holds: past
    // the budget the oldest messages are left out. Without `since` that is
    // ordinary (the page scrolls back for them); with it, the page was
    // promised everything it missed, so it is told there is a gap.
    let budget = caller.reply_budget();
    let (history, cut) = newest_within(history, budget);
    let used: usize = history.iter().map(|m| protocol::encoded_len(m)).sum();
    let changed_bytes: usize = changes.iter().map(|m| protocol::encoded_len(m)).sum();
    let (changes, cut) = match used + changed_bytes > budget {
        true => (Vec::new(), true),
        false => (changes, cut),
    };
    let members = r.member_names();
    let verified = r.verified_names();
    let now_ms = now_millis();
    let settings = r.controls.view(now_ms, chat.lapse_ms());
    let uid = &chat
        .session(caller.session)
        .expect("members have sessions")
        .uid;
    let gap = gap || (cut && since.is_some());
    if since.is_some() {
        let how = match (gap, &replayed) {
            (true, _) => Resume::Gap,
            (false, Some(_)) => Resume::Storage,
            (false, None) => Resume::Cache,
        };
        chat.metrics().resumed(how);
    }
    protocol::encode(&Reply::Joined {
        room: &r.name,
        epoch: chat.epoch(),
        members: &members,
        verified: &verified,
        cursor: told,
        history,
        changes,
        gap,
        settings: &settings,
        muted_until: r.controls.muted_until(uid, now_ms),
    })
}

/// Whether the caller may come into room `key` (loaded), which they are not
/// in yet; and the changes their coming in makes, applied at once (see
/// `chat/controls.rs`): the membership an owned or private room records, an
/// invite's use, an owner's visit.
///
/// In this order: a ban keeps anyone out; a direct message lets in only its
/// two people; a locked room only its members; an invite room a member or
/// someone with a live invite; a password room a member or someone with the
/// password (checked on the reader thread). A wrong invite or password
/// costs `RATE_COST_KEY`.
fn admit(
    chat: &mut Chat,
    caller: &Caller,
    key: &str,
    name: &str,
    invite: Option<String>,
    password_right: Option<bool>,
    now: Instant,
) -> Result<Vec<RoomWrite>, Rejection> {
    let now_ms = now_millis();
    let lapse = chat.lapse_ms();
    let uid = chat
        .session(caller.session)
        .expect("members have sessions")
        .uid
        .clone();
    let r = chat.room(key).expect("loaded by `apply`");
    let (c, room) = (&r.controls, r.name.to_string());
    let refuse = |code, message: String| Err(in_room(Rejection::new(code, message), &room));
    // The address is hashed only for a room that has bans (most have none).
    let address = match c.bans.is_empty() {
        true => String::new(),
        false => address_hash(caller.address),
    };
    if let Some(ban) = c.ban_of(&uid, &address, now_ms) {
        let (message, until) = match ban.until_ms {
            Some(until) if ban.uid == *uid => {
                let minutes = until.saturating_sub(now_ms).div_ceil(60_000);
                (
                    format!("you are banned from #{room} for {minutes} more minutes"),
                    Some(until),
                )
            }
            None if ban.uid == *uid => (format!("you are banned from #{room}"), None),
            _ => {
                let until = ban.address_until_ms.unwrap_or(now_ms);
                let minutes = until.saturating_sub(now_ms).div_ceil(60_000);
                let message =
                    format!("your address is banned from #{room} for {minutes} more minutes");
                (message, Some(until))
            }
        };
        let mut rejection = in_room(Rejection::new(ErrorCode::Banned, message), &room);
        if let Some(until) = until {
            rejection = rejection.until(until, now_ms);
        }
        return Err(rejection);
    }
    let access = c.settings.access;
    if protocol::is_dm_name(&room) && access != Access::Dm {
        let message =
            "names that start with \"dm:\" are direct messages: open one from a member's card";
        return refuse(ErrorCode::BadRoom, message.into());
    }
    let mut writes = Vec::new();
    let member = c.is_member(&uid);
    if !member {
        if access == Access::Dm {
            return refuse(
                ErrorCode::Forbidden,
                "this is a direct message between two other people".into(),
            );
        }
        if c.settings.locked && c.claim.is_some() {
            return refuse(
                ErrorCode::Locked,
                format!("#{room} is locked: only its members may come in"),
            );
        }
        match (access, invite, password_right) {
            (Access::Invite, None, _) => {
                return refuse(
                    ErrorCode::InviteRequired,
                    format!("#{room} is invite-only: ask a member for an invite link"),
                )
            }
            (Access::Invite, Some(code), _) => {
                let hash = token_key(&code);
                if c.live_invite(&hash, now_ms).is_none() {
                    chat.charge_quietly(caller, RATE_COST_KEY, now);
                    return refuse(
                        ErrorCode::BadInvite,
                        format!(
                            "that invite to #{room} expired, was used up, or was revoked: ask for a new one"
                        ),
                    );
                }
                writes.push(RoomWrite::InviteUsed { hash });
            }
            (Access::Password, _, None) => {
                return refuse(
                    ErrorCode::BadPassword,
                    format!("#{room} has a password: join with it"),
                )
            }
            (Access::Password, _, Some(false)) => {
                chat.charge_quietly(caller, RATE_COST_KEY, now);
                return refuse(
                    ErrorCode::BadPassword,
                    format!("that is not the password of #{room}"),
                );
            }
            _ => {}
        }
        let r = chat.room(key).expect("loaded by `apply`");
        let c = &r.controls;
        // An owned or private room remembers who came in: they may come
        // back when it is locked or private, without asking again.
        if c.claim.is_some() || access.is_private() {
            match c.members.len() < MAX_ROOM_MEMBERS {
                true => writes.push(RoomWrite::Member {
                    uid: uid.to_string(),
                    membership: membership(name, Role::Member),
                }),
                false if access.is_private() => {
                    return refuse(
                        ErrorCode::LimitReached,
                        format!("#{room} has {MAX_ROOM_MEMBERS} members, the most a room records"),
                    )
                }
                false => {}
            }
        }
    }
    let r = chat.room(key).expect("loaded by `apply`");
    let c = &r.controls;
    let seen = c.claim.as_ref().map_or(u64::MAX, |claim| claim.seen_ms);
    let every = OWNER_SEEN_EVERY.as_millis() as u64;
    if c.role_of(&uid, now_ms, lapse) == Role::Owner && now_ms.saturating_sub(seen) >= every {
        writes.push(RoomWrite::Seen(now_ms));
    }
    Ok(writes)
}

/// Messages and changes missed since `since`, from storage, when the cache
/// cannot answer: `None` when it can (nothing to read), `Some(None)` when
/// they are more than `MAX_RESUME` or cannot be read.
type Missed = (Vec<ChatMessage>, Vec<ChatMessage>);
fn replay(chat: &mut Chat, key: &str, since: u64) -> Option<Option<Missed>> {
    let r = chat.room(key)?;
    if since >= r.max_rev_outside || since >= r.next_id {
        return None;
    }
    let told = r.last_told;
    let name = r.name.clone();
    let new = chat.store().after(key, &name, since, MAX_RESUME + 1);
    // Past the cap already: no need to look for changes (a scan of the index).
    let changed = match &new {
        Ok(new) if new.len() > MAX_RESUME => Ok(Vec::new()),
        _ => chat.store().changed(key, &name, since, MAX_RESUME + 1),
    };
    match (new, changed) {
        (Ok(mut new), Ok(mut changed)) if new.len() + changed.len() <= MAX_RESUME => {
            settle(&mut new, told);
            settle(&mut changed, told);
            Some(Some((new, changed)))
        }
        (Ok(_), Ok(_)) => Some(None),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("natter: could not read history: {err}");
            Some(None)
        }
    }
}

/// Messages read from storage, as members have been sent them (up to
/// `told`, `Room::last_told`): the store may already hold messages and
/// changes the members have not been sent (their commit's outcome is not
/// back, or they wait in the room's batch). Such a message is left out (it
/// comes live, not twice), and a change shows with its number held to
/// `told`, so the page's cursor never passes a message it has not got; the
/// change's own frame, coming live, then applies the same state again.
pub(crate) fn settle(messages: &mut Vec<ChatMessage>, told: u64) {
    messages.retain(|m| m.id <= told);
    for m in messages.iter_mut().filter(|m| m.rev() > told) {
        *m = held_to(m, told);
    }
}

/// `m` with its number held to `told` (see `settle`).
fn held_to(m: &ChatMessage, told: u64) -> ChatMessage {
    let mut held = m.clone();
    held.rev = (told != held.id).then_some(told);
    held
}

/// `m`, or its copy in `held` when its number is past `told`.
fn as_told<'a>(m: &'a ChatMessage, held: &'a [ChatMessage], told: u64) -> &'a ChatMessage {
    match m.rev() > told {
        true => held
            .iter()
            .find(|h| h.id == m.id)
            .expect("`held` has each of them"),
        false => m,
    }
}

/// A refusal about `room`.
pub(crate) fn in_room(mut rejection: Rejection, room: &str) -> Rejection {
    rejection.room = Some(room.to_string());
    rejection
}
