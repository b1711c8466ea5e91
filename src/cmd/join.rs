//! `join`: enter a room, get its member list and recent history (or, with
//! `since`, exactly what was missed), and be announced to the others.

use std::sync::Arc;
use std::time::Instant;

use crate::chat::{newest_within, Caller, Chat, Presence};
use crate::config::{MAX_RESUME, MAX_ROOMS_PER_CONNECTION, RATE_COST_JOIN};
use crate::protocol::SystemEvent;
use crate::protocol::{self, name_key, room_key, ChatMessage, ErrorCode, Join, Rejection, Reply};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Join { room, since, epoch }: Join,
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
fn joined_frame(
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
    protocol::encode(&Reply::Joined {
        room: &r.name,
        epoch: chat.epoch(),
        members: &members,
        verified: &verified,
        cursor: told,
        history,
        changes,
        gap: gap || (cut && since.is_some()),
    })
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
