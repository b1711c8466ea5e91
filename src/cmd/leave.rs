//! `leave`: the caller chose to go, so the others are told at once (no
//! grace period, unlike a dropped connection).

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::RATE_COST_LEAVE;
use crate::protocol::{room_key, Leave, Rejection};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Leave { room }: Leave,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, RATE_COST_LEAVE, None, now) {
        return Ok(());
    }
    let key = room_key(&room);
    super::require_member(chat, caller, &key, &room, None)?;
    chat.exit(caller.conn, &key);
    chat.part(caller.conn, caller.session, &key, false, now);
    Ok(())
}
