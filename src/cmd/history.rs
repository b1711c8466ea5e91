//! `history`: a page of older messages, from storage, for scrolling back.

use std::time::Instant;

use crate::chat::{newest_within, Caller, Chat};
use crate::config::{MAX_HISTORY_PAGE, RATE_COST_HISTORY};
use crate::protocol::{self, room_key, ErrorCode, History, Rejection, Reply};

use super::join::in_room;

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    History {
        room,
        before,
        limit,
    }: History,
    now: Instant,
) -> Result<(), Rejection> {
    // Each page is a database read: cheap, but not free.
    if !chat.charge(caller, RATE_COST_HISTORY, None, now) {
        return Ok(());
    }
    let key = room_key(&room);
    super::require_member(chat, caller, &key, &room, None)?;
    let limit = limit.unwrap_or(MAX_HISTORY_PAGE).clamp(1, MAX_HISTORY_PAGE);
    let before = before.unwrap_or(u64::MAX);
    let r = chat.room(&key).expect("members' rooms are loaded");
    let (name, told) = (r.name.clone(), r.last_told);
    let (mut messages, more) = chat
        .store()
        .before(&key, &name, before, limit)
        .map_err(|err| {
            let message = format!("could not read history: {err}");
            in_room(Rejection::new(ErrorCode::StorageFailed, message), &name)
        })?;
    super::join::settle(&mut messages, told);
    // Past the byte budget the oldest are left for the next page.
    let (fit, cut) = newest_within(messages.iter().collect(), caller.reply_budget());
    let skip = messages.len() - fit.len();
    let frame = protocol::encode(&Reply::History {
        room: &name,
        messages: &messages[skip..],
        more: more || cut,
    });
    chat.reply(caller.conn, frame);
    Ok(())
}
