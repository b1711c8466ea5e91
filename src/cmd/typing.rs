//! `typing`: tell a room that the caller is typing, at most once per
//! `TYPING_INTERVAL`, in the room's batch like every other frame for the
//! room. (Queued to each member on its own, a burst of notices once made one
//! chunk per notice per member and closed a whole room as slow consumers.)
//! The typist's own pages get it too, and ignore their own name.

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::{RATE_COST_TYPING, TYPING_INTERVAL};
use crate::protocol::{self, room_key, Rejection, Reply, Typing};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Typing { room }: Typing,
    now: Instant,
) -> Result<(), Rejection> {
    // A refused notice is simply dropped: an error per notice would only be
    // more traffic.
    if !chat.charge_quietly(caller, RATE_COST_TYPING, now) {
        return Ok(());
    }
    let key = room_key(&room);
    super::require_member(chat, caller, &key, &room, None)?;
    // Someone muted cannot speak, so they are not shown typing either (and
    // are not told again: their messages are refused with the end).
    if super::require_voice(chat, caller, &key, &room, None).is_err() {
        return Ok(());
    }
    let Some(r) = chat.room_mut(&key) else {
        return Ok(());
    };
    let Some(presence) = r.present.get_mut(&caller.session) else {
        return Ok(());
    };
    if presence
        .typing_at
        .is_some_and(|at| now.duration_since(at) < TYPING_INTERVAL)
    {
        return Ok(());
    }
    presence.typing_at = Some(now);
    let frame = protocol::encode(&Reply::Typing {
        room: &r.name,
        user: &presence.name,
    });
    chat.broadcast(&key, &frame);
    Ok(())
}
