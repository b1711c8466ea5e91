//! `delete`: take back your own message, at any time. The text, mentions,
//! reply and reactions are gone for good, in storage too; what stays is a
//! tombstone (id, author, time), so the room's history keeps its shape.

use std::time::Instant;

use crate::chat::{apply_change, Caller, Chat};
use crate::config::RATE_COST_DELETE;
use crate::protocol::{self, room_key, Delete, ErrorCode, Rejection, Reply};
use crate::storage::{Change, Changed};

use super::{is_author, require_member, target};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Delete {
        room,
        id,
        client_id,
    }: Delete,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, RATE_COST_DELETE, client_id.as_deref(), now) {
        return Ok(());
    }
    let key = room_key(&room);
    require_member(chat, caller, &key, &room, client_id.as_deref())?;
    let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
    let m = target(chat, &key, id).map_err(about)?;
    if !is_author(chat, caller, &m) {
        let message = "you can only delete your own messages";
        return Err(about(Rejection::new(ErrorCode::NotAuthor, message)));
    }
    if m.deleted {
        // A retry: the frame again, to the asker alone, and no new number.
        // But a retry of a change still being stored gets no answer of its
        // own: until it is stored nobody may be shown it, nor the number it
        // took. Its frame then reaches this connection with the room (and if
        // it cannot be stored, whoever asked first is told so).
        if chat.changing(&key, id) {
            return Ok(());
        }
        let frame = protocol::encode(&Reply::Delete {
            room: &m.room,
            seq: m.rev(),
            id,
            client_id: client_id.as_deref(),
        });
        chat.reply(caller.conn, frame);
        return Ok(());
    }
    let seq = chat
        .room_mut(&key)
        .expect("members' rooms are loaded")
        .take_number();
    let change = Change {
        id,
        seq,
        client_id,
        what: Changed::Delete,
    };
    let mut after = m;
    apply_change(&mut after, &change);
    chat.stage_change(key, change, after, caller.conn);
    Ok(())
}
