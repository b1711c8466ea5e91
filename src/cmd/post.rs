//! `message`: post to a room. The message gets the room's next id and waits
//! in the chat until `Chat::commit` has stored it; only then does anyone
//! receive it (commit before you tell).
//!
//! A page that lost its connection resends what it had not seen echoed,
//! with the same `client_id`; a resend of something already posted is
//! answered with the original, to that connection only, and posts nothing.

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::{RATE_CHARS_PER_POINT, RATE_COST_MESSAGE};
use crate::protocol::{self, now_millis, room_key, ChatMessage, Post, Rejection, Reply};

/// A message costs more the longer it is: one point, plus one per
/// `RATE_CHARS_PER_POINT` characters.
pub fn cost(text: &str) -> f64 {
    RATE_COST_MESSAGE + text.chars().count() as f64 / RATE_CHARS_PER_POINT
}

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Post {
        room,
        text,
        client_id,
    }: Post,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, cost(&text), client_id.as_deref(), now) {
        return Ok(());
    }
    let key = room_key(&room);
    super::require_member(chat, caller, &key, &room, client_id.as_deref())?;
    if let Some(cid) = &client_id {
        if let Some(id) = already_posted(chat, caller, &key, cid) {
            if let Some(original) = original(chat, &key, id) {
                let frame = protocol::encode(&Reply::Message(&original));
                chat.reply(caller.conn, frame);
            }
            return Ok(());
        }
    }
    let user = chat
        .session(caller.session)
        .expect("members have sessions")
        .name
        .clone();
    let r = chat.room_mut(&key).expect("members' rooms are loaded");
    // A message ends its author's typing (pages clear the line when it
    // arrives), so the next `typing` passes at once, however soon.
    if let Some(presence) = r.present.get_mut(&caller.session) {
        presence.typing_at = None;
    }
    let message = ChatMessage {
        room: r.name.clone(),
        id: r.next_id,
        user,
        text,
        ts: now_millis(),
        client_id,
    };
    r.next_id += 1;
    if let Some(cid) = &message.client_id {
        chat.sessions_mut()
            .remember_post(caller.session, &key, cid, message.id);
    }
    chat.stage(key, message, caller.conn);
    Ok(())
}

/// The id this session already posted `client_id` as in this room, if any.
fn already_posted(chat: &Chat, caller: &Caller, key: &str, client_id: &str) -> Option<u64> {
    let session = chat.session(caller.session)?;
    if let Some(id) = chat.sessions().posted(caller.session, key, client_id) {
        return Some(id);
    }
    if !session.restored {
        return None;
    }
    // The session is older than this process, and so is its memory of client
    // ids: look in what the room remembers instead, for a message of this
    // name with this id. (A page resends only what it sent moments ago,
    // which is among the room's recent messages.)
    let r = chat.room(key)?;
    let found = r
        .history
        .iter()
        .rev()
        .find(|m| m.client_id.as_deref() == Some(client_id) && m.user == session.name);
    found.map(|m| m.id)
}

/// Message `id` of room `key`: from the cache, else from storage.
fn original(chat: &mut Chat, key: &str, id: u64) -> Option<ChatMessage> {
    let r = chat.room(key)?;
    if let Some(m) = r.history.iter().find(|m| m.id == id) {
        return Some(m.clone());
    }
    let name = r.name.clone();
    let mut found = chat.store().after(key, &name, id - 1, 1).ok()?;
    found.pop().filter(|m| m.id == id)
}
