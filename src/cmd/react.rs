//! `react`: put an emoji on a message, or take yours off. Explicit on/off,
//! never a toggle: a frame sent twice changes nothing the second time. The
//! room gets the message's whole summary, so a repeated frame is harmless too.

use std::time::Instant;

use crate::chat::{react, Caller, Chat};
use crate::config::{MAX_REACTIONS, RATE_COST_REACT};
use crate::protocol::{self, now_millis, ErrorCode, React, Rejection, Reply};
use crate::storage::Changed;

use super::{message_to_change, stage};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    React {
        room,
        id,
        emoji,
        on,
        client_id,
    }: React,
    now: Instant,
) -> Result<(), Rejection> {
    let cid = client_id.as_deref();
    let Some((key, m)) = message_to_change(chat, caller, &room, id, cid, RATE_COST_REACT, now)?
    else {
        return Ok(());
    };
    super::require_voice(chat, caller, &key, &room, cid)?;
    let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
    if m.deleted {
        let message = format!("message {id} was deleted; it cannot get reactions");
        return Err(about(Rejection::new(ErrorCode::Deleted, message)));
    }
    let session = chat.session(caller.session).expect("members have sessions");
    let (uid, user) = (session.uid.clone(), session.name.clone());
    let mut after = m.reactions.clone();
    let group = after.iter().position(|r| r.emoji == emoji);
    let mine = group.is_some_and(|g| after[g].by.iter().any(|(u, _)| *u == uid));
    if on == mine {
        // Already so: the summary again, to the asker alone, no new number.
        if chat.changing(&key, id) {
            return Ok(()); // Not yet: see `delete.rs`.
        }
        let frame = protocol::encode(&Reply::Reactions {
            room: &m.room,
            seq: m.rev(),
            id,
            reactions: &m.reactions,
            client_id: client_id.as_deref(),
        });
        chat.reply(caller.conn, frame);
        return Ok(());
    }
    if on && group.is_none() && after.len() >= MAX_REACTIONS {
        let message = format!(
            "a message can have at most {MAX_REACTIONS} different reactions; \
             add yours to one that is there"
        );
        return Err(about(Rejection::new(ErrorCode::TooManyReactions, message)));
    }
    react(&mut after, &emoji, &uid, &user, on);
    let what = Changed::React {
        emoji,
        uid,
        user,
        on,
        ts: now_millis(),
        after,
    };
    stage(chat, caller, key, m, client_id, what);
    Ok(())
}
