//! `delete`: take back your own message, at any time. The text, mentions,
//! reply and reactions are gone for good, in storage too; what stays is a
//! tombstone (id, author, time), so the room's history keeps its shape.

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::RATE_COST_DELETE;
use crate::protocol::{self, Delete, ErrorCode, Rejection, Reply};
use crate::storage::Changed;

use super::{is_author, message_to_change, stage};

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
    let cid = client_id.as_deref();
    let Some((key, m)) = message_to_change(chat, caller, &room, id, cid, RATE_COST_DELETE, now)?
    else {
        return Ok(());
    };
    let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
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
    stage(chat, caller, key, m, client_id, Changed::Delete);
    Ok(())
}
