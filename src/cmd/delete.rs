//! `delete`: take back your own message, at any time. The text, mentions,
//! reply and reactions are gone for good, in storage too; what stays is a
//! tombstone (id, author, time), so the room's history keeps its shape.
//!
//! A room's moderators and owners may delete anyone's message whose author
//! has a lower role: the tombstone then says who did (`deleted_by`), and so
//! does a notice in the room.

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::RATE_COST_DELETE;
use crate::protocol::{self, now_millis, Delete, ErrorCode, Rejection, Reply, Role};
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
    let by = match is_author(chat, caller, &m) {
        true => None,
        false => {
            let (role, _) = chat.role_in(&key, caller.session);
            let lapse = chat.lapse_ms();
            let r = chat.room(&key).expect("members' rooms are loaded");
            let author = m.uid.as_deref().map_or(Role::Member, |uid| {
                r.controls.role_of(uid, now_millis(), lapse)
            });
            if role < Role::Moderator {
                let message = "you can only delete your own messages";
                return Err(about(Rejection::new(ErrorCode::NotAuthor, message)));
            }
            if author >= role {
                let message = format!(
                    "{} has a role as high as yours in #{}: only their own or a higher role may delete it",
                    m.user, r.name
                );
                return Err(about(Rejection::new(ErrorCode::Forbidden, message)));
            }
            let session = chat.session(caller.session).expect("members have sessions");
            Some(session.name.clone())
        }
    };
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
            by: m.deleted_by.as_deref(),
            client_id: client_id.as_deref(),
        });
        chat.reply(caller.conn, frame);
        return Ok(());
    }
    stage(chat, caller, key, m, client_id, Changed::Delete { by });
    Ok(())
}
