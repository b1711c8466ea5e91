//! The commands: one file per thing a client can ask, each with its cost and
//! its rules.
//!
//! A command takes the [`Caller`] (who asked, and where answers go), the
//! request and `now`, and works on the [`Chat`] alone: it never touches a
//! socket, so a WebSocket, a web request or (later) a bot or another node all
//! go through the same validation, rate limits, dedupe and commit before you
//! tell. What it produces (replies, room batches, messages to commit) waits
//! in the chat for the hub to carry out.
//!
//! Adding a request type: a variant in `protocol` (the wire type), a file
//! here with its cost and `apply`, and one line in [`run`].

pub mod account;
pub mod admit;
pub mod bots;
pub mod claim;
pub mod delete;
pub mod edit;
pub mod export;
pub mod history;
pub mod join;
pub mod leave;
pub mod login;
pub mod logout;
pub mod lookup;
pub mod post;
pub mod react;
pub mod room;
pub mod typing;
pub mod upload;

use std::time::Instant;

use crate::chat::{apply_change, Caller, Chat};
use crate::config::RATE_COST_INVALID;
use crate::protocol::{now_millis, room_key, ChatMessage, ErrorCode, Rejection, Request};
use crate::storage::{Change, Changed};
use room::moderate::Action;

/// Run one request from a WebSocket client. A refusal goes back to the
/// caller as an `error` frame.
pub fn run(chat: &mut Chat, caller: &Caller, request: Request, now: Instant) {
    // A bot token's connection stays in its room and scope.
    if let Err(rejection) = bots::gate(chat, caller, &request) {
        return chat.refuse(caller.conn, &rejection);
    }
    let outcome = match request {
        Request::Join(join) => join::apply(chat, caller, join, now),
        Request::Leave(leave) => leave::apply(chat, caller, leave, now),
        Request::Message(post) => post::apply(chat, caller, post, now),
        Request::Typing(typing) => typing::apply(chat, caller, typing, now),
        Request::History(page) => history::apply(chat, caller, page, now),
        Request::Edit(edit) => edit::apply(chat, caller, edit, now),
        Request::Delete(delete) => delete::apply(chat, caller, delete, now),
        Request::React(react) => react::apply(chat, caller, react, now),
        Request::Claim(claim) => room::claim::claim(chat, caller, claim, now),
        Request::Auth(auth) => room::claim::auth(chat, caller, auth, now),
        Request::SetRoom(set) => room::settings::apply(chat, caller, set, now),
        Request::SetRole(set) => room::roles::apply(chat, caller, set, now),
        Request::Invite(invite) => room::invites::create(chat, caller, invite, now),
        Request::RevokeInvite(revoke) => room::invites::revoke(chat, caller, revoke, now),
        Request::Kick(m) => room::moderate::apply(chat, caller, Action::Kick, m, now),
        Request::Mute(m) => room::moderate::apply(chat, caller, Action::Mute, m, now),
        Request::Unmute(m) => room::moderate::apply(chat, caller, Action::Unmute, m, now),
        Request::Ban(m) => room::moderate::apply(chat, caller, Action::Ban, m, now),
        Request::Unban(m) => room::moderate::apply(chat, caller, Action::Unban, m, now),
        Request::Bans(bans) => room::moderate::list(chat, caller, bans, now),
        Request::ListRooms(list) => room::directory::apply(chat, caller, list, now),
        Request::Dm(dm) => room::dm::apply(chat, caller, dm, now),
        Request::CreateToken(create) => bots::create(chat, caller, create, now),
        Request::Tokens(list) => bots::list(chat, caller, list, now),
        Request::RevokeToken(revoke) => bots::revoke(chat, caller, revoke, now),
    };
    if let Err(rejection) = outcome {
        chat.refuse(caller.conn, &rejection);
    }
}

/// `not_joined` unless the caller's connection is in the room `key`.
fn require_member(
    chat: &Chat,
    caller: &Caller,
    key: &str,
    room: &str,
    client_id: Option<&str>,
) -> Result<(), Rejection> {
    let rooms = chat.rooms_of(caller.conn).unwrap_or_default();
    if rooms.iter().any(|k| k == key) {
        return Ok(());
    }
    // A bot token acts in its room without joining (an HTTP post has no
    // connection to join with); the hub has loaded the room.
    if bots::grant(chat, caller.session).is_some_and(|g| g.room == key) && chat.room(key).is_some()
    {
        return Ok(());
    }
    let mut r = Rejection::new(
        ErrorCode::NotJoined,
        format!("you are not in room \"{room}\"; send join first"),
    );
    r.room = Some(room.to_string());
    r.client_id = client_id.map(str::to_string);
    Err(r)
}

/// `muted`, with its end, when a moderator muted the caller in room `key`:
/// they may read, not speak (post, edit, react). Never a shadow mute: the
/// refusal says so, and until when.
fn require_voice(
    chat: &Chat,
    caller: &Caller,
    key: &str,
    room: &str,
    client_id: Option<&str>,
) -> Result<(), Rejection> {
    let now_ms = now_millis();
    let uid = &chat
        .session(caller.session)
        .expect("members have sessions")
        .uid;
    let Some(until) = chat
        .room(key)
        .and_then(|r| r.controls.muted_until(uid, now_ms))
    else {
        return Ok(());
    };
    let minutes = until.saturating_sub(now_ms).div_ceil(60_000);
    let message = format!(
        "you are muted in #{room} for {minutes} more minute{}: you can read, not speak",
        if minutes == 1 { "" } else { "s" }
    );
    Err(Rejection::new(ErrorCode::Muted, message)
        .in_room(room)
        .for_client(client_id)
        .until(until, now_ms))
}

/// What every change to a message starts with: its cost charged, the caller
/// in the room, and message `id` as it is now. `Ok(None)`: the rate limit
/// refused it (and has answered already). Returns the room's key too.
fn message_to_change(
    chat: &mut Chat,
    caller: &Caller,
    room: &str,
    id: u64,
    client_id: Option<&str>,
    cost: f64,
    now: Instant,
) -> Result<Option<(String, ChatMessage)>, Rejection> {
    if !chat.charge(caller, cost, client_id, now) {
        return Ok(None);
    }
    let key = room_key(room);
    require_member(chat, caller, &key, room, client_id)?;
    let m = target(chat, &key, id).map_err(|r| r.in_room(room).for_client(client_id))?;
    Ok(Some((key, m)))
}

/// Stage `what` as the next change to `m`, which takes the room's next
/// number; it is stored, then applied and sent (see `chat/changes.rs`).
fn stage(
    chat: &mut Chat,
    caller: &Caller,
    key: String,
    m: ChatMessage,
    client_id: Option<String>,
    what: Changed,
) {
    let room = chat.room_mut(&key).expect("members' rooms are loaded");
    let change = Change {
        id: m.id,
        seq: room.take_number(),
        client_id,
        what,
    };
    let mut after = m;
    apply_change(&mut after, &change);
    chat.stage_change(key, change, after, caller.conn);
}

/// Message `id` of the caller's room `key` as it is now, for a change or a
/// reply: `not_found` when the room has no such message. The refusal names
/// no room yet; the caller adds it.
fn target(chat: &mut Chat, key: &str, id: u64) -> Result<ChatMessage, Rejection> {
    match chat.current(key, id) {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(Rejection::new(
            ErrorCode::NotFound,
            format!(
                "there is no message {id} in this room (it may have been removed by retention)"
            ),
        )),
        Err(err) => Err(Rejection::new(
            ErrorCode::StorageFailed,
            format!("could not read message {id}: {err}"),
        )),
    }
}

/// Whether the caller wrote `m`: by the public id, never by the name (a
/// name is only unique in a room while its holder is there).
fn is_author(chat: &Chat, caller: &Caller, m: &ChatMessage) -> bool {
    let session = chat.session(caller.session).expect("members have sessions");
    m.uid.as_deref() == Some(&*session.uid)
}

/// A frame that broke the protocol's rules: refused with its reason, and
/// charged heavily (a client that keeps sending garbage is soon closed).
pub fn invalid(chat: &mut Chat, caller: &Caller, rejection: &Rejection, now: Instant) {
    if chat.charge(caller, RATE_COST_INVALID, None, now) {
        chat.refuse(caller.conn, rejection);
    }
}
