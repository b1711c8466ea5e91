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
    let name = chat
        .session(caller.session)
        .expect("members have sessions")
        .name
        .clone();
    let wanted = name_key(&name);
    let r = chat.load_room(&key, &room).map_err(|err| {
        let message = format!("could not load the room: {err}");
        in_room(Rejection::new(ErrorCode::StorageFailed, message), &room)
    })?;
    if r.name_taken(&wanted, Some(caller.session)) {
        let message = format!("the name \"{name}\" is already taken in #{}", r.name);
        let rejection = in_room(Rejection::new(ErrorCode::NameTaken, message), &r.name);
        chat.maybe_idle(&key);
        return Err(rejection);
    }
    // No flush of the room's batch is needed first: during a pass it holds
    // only notices, never chat messages (those are added by `commit`, after
    // every event of the pass). So the joiner cannot get a message twice,
    // and a join storm costs members one chunk per pass, not one per join.
    let announce = !already && enter(chat, caller, &key, &name, wanted);
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
fn enter(chat: &mut Chat, caller: &Caller, key: &str, name: &Arc<str>, wanted: String) -> bool {
    let r = chat.room_mut(key).expect("loaded by `apply`");
    r.members.push(caller.conn);
    let mut new = false;
    let presence = r.present.entry(caller.session).or_insert_with(|| {
        new = true;
        Presence {
            name: name.clone(),
            key: wanted,
            conns: 0,
            typing_at: None,
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
fn joined_frame(
    chat: &mut Chat,
    caller: &Caller,
    key: &str,
    since: Option<u64>,
    foreign: bool,
) -> std::sync::Arc<[u8]> {
    // Messages replayed from storage, when the cache does not reach back far
    // enough; `history` then points into this instead of the cache.
    let replayed = match since {
        Some(since) if !foreign => replay(chat, key, since),
        _ => None,
    };
    let r = chat.room(key).expect("loaded by `apply`");
    let oldest = r.history.front().map(|m| m.id);
    // The newest message members have been sent; later ones are still being
    // stored, and the live batch brings them.
    let last = r.first_unsettled() - 1;
    let all = || r.history.iter().collect::<Vec<&ChatMessage>>();
    let (history, gap): (Vec<&ChatMessage>, bool) = match (since, &replayed) {
        (None, _) => (all(), false),
        (Some(_), _) if foreign => (all(), true),
        // A `since` from the future: the database was replaced and ids
        // started again. The page must start over.
        (Some(since), _) if since >= r.next_id => (all(), true),
        // Everything missed is still in memory.
        (Some(since), _) if oldest.is_some_and(|o| o <= since + 1) || since >= last => {
            (r.history.iter().filter(|m| m.id > since).collect(), false)
        }
        (Some(_), Some(Some(missed))) => (missed.iter().collect(), false),
        // Too much was missed, or storage failed: start over, with a gap.
        (Some(_), _) => (all(), true),
    };
    // The answer must fit the joiner's queue whatever the room holds: past
    // the budget the oldest messages are left out. Without `since` that is
    // ordinary (the page scrolls back for them); with it, the page was
    // promised everything it missed, so it is told there is a gap.
    let (history, cut) = newest_within(history, caller.reply_budget());
    let members = r.member_names();
    protocol::encode(&Reply::Joined {
        room: &r.name,
        members: &members,
        history,
        gap: gap || (cut && since.is_some()),
    })
}

/// What was missed since `since`, from storage, when the cache does not hold
/// it: `None` when the cache does (nothing to read), `Some(None)` when it is
/// more than `MAX_RESUME` messages or cannot be read.
fn replay(chat: &mut Chat, key: &str, since: u64) -> Option<Option<Vec<ChatMessage>>> {
    let r = chat.room(key)?;
    let oldest = r.history.front().map(|m| m.id);
    let last = r.first_unsettled() - 1;
    if since >= last || oldest.is_some_and(|o| o <= since + 1) {
        return None;
    }
    let name = r.name.clone();
    match chat.store().after(key, &name, since, MAX_RESUME + 1) {
        // The store may already hold messages whose outcome the hub has not
        // seen yet: those come live, not twice.
        Ok(mut missed) if missed.len() <= MAX_RESUME => {
            missed.retain(|m| m.id <= last);
            Some(Some(missed))
        }
        Ok(_) => Some(None),
        Err(err) => {
            eprintln!("natter: could not read history: {err}");
            Some(None)
        }
    }
}

/// A refusal about `room`.
pub(crate) fn in_room(mut rejection: Rejection, room: &str) -> Rejection {
    rejection.room = Some(room.to_string());
    rejection
}
