//! `export` (from the web threads): one page of a room's whole transcript.

use std::sync::Arc;
use std::time::Instant;

use crate::chat::Chat;
use crate::config::EXPORT_PAGE;
use crate::protocol::{now_millis, room_key, ChatMessage};
use crate::session::token_key;
use crate::storage::StorageError;

/// Up to `EXPORT_PAGE` messages of `room` with ids above `after`, oldest
/// first, and whether there are more. The export's thread asks a page at a
/// time as it writes them out, so the hub is never busy for long and an
/// export holds one page in memory.
pub fn apply(
    chat: &mut Chat,
    room: &str,
    after: u64,
) -> Result<(Vec<ChatMessage>, bool), StorageError> {
    let key = room_key(room);
    // The display name: from memory, else storage, else as asked.
    let name: Arc<str> = match chat.room(&key) {
        Some(r) => r.name.clone(),
        None => match chat.store().room(&key) {
            Ok(Some(stored)) => stored.name.into(),
            _ => room.into(),
        },
    };
    // One more than a page, to know whether there are more.
    let mut messages = chat.store().after(&key, &name, after, EXPORT_PAGE + 1)?;
    let more = messages.len() > EXPORT_PAGE;
    messages.truncate(EXPORT_PAGE);
    Ok((messages, more))
}

/// Whether the session of `token` may read `room`'s whole transcript: a
/// private room's (invite, password, a direct message) is for its members
/// only, and nobody banned from a room reads it.
pub fn may_read(chat: &mut Chat, token: &str, room: &str, now: Instant) -> Result<(), String> {
    let uid = chat
        .sessions()
        .live(&token_key(token), now)
        .and_then(|id| chat.session(id))
        .map(|s| s.uid.clone())
        .ok_or("log in first")?;
    let key = room_key(room);
    let r = chat
        .load_room(&key, room)
        .map_err(|err| format!("could not read the room: {err}"))?;
    let c = &r.controls;
    let answer = match () {
        _ if c.ban_of(&uid, "", now_millis()).is_some() => {
            Err(format!("you are banned from #{}", r.name))
        }
        _ if c.settings.access.is_private() && !c.is_member(&uid) => Err(format!(
            "#{} is private: only its members may read its transcript",
            r.name
        )),
        _ => Ok(()),
    };
    chat.maybe_idle(&key);
    answer
}
