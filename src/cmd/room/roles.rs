//! `set_role`: an owner names a moderator, or makes one a member again.
//! A role binds to the person's public id: for a claimed name it lasts, for
//! a temporary one as long as that session.

use std::time::Instant;

use crate::chat::{membership, Caller, Chat, Notice, Then};
use crate::config::{MAX_ROOM_MEMBERS, RATE_COST_MODERATE};
use crate::protocol::{target, ErrorCode, Rejection, Role, SetRole, SystemEvent};
use crate::storage::RoomWrite;

use super::{asker, outranks, whom};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    SetRole {
        room,
        user,
        uid,
        role,
    }: SetRole,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(chat, caller, &room, Role::Owner, RATE_COST_MODERATE, now)? else {
        return Ok(());
    };
    if role == Role::Owner {
        let message = "an owner is made by the owner key: give it to them (the owner link)";
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(&a.room));
    }
    let whom = whom(chat, &a, &target(&user, &uid))?;
    outranks(&a, &whom)?;
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    if !r.controls.is_member(&whom.uid) && r.controls.members.len() >= MAX_ROOM_MEMBERS {
        let message = format!(
            "#{} has {MAX_ROOM_MEMBERS} members, the most a room records",
            a.room
        );
        return Err(Rejection::new(ErrorCode::LimitReached, message).in_room(&a.room));
    }
    if whom.role == role {
        return Ok(());
    }
    let write = RoomWrite::Member {
        uid: whom.uid.clone(),
        membership: membership(&whom.name, role),
    };
    let text = match role {
        Role::Moderator => format!("{} made {} a moderator", a.name, whom.name),
        _ => format!("{} made {} a member again", a.name, whom.name),
    };
    let notice = chat.notice(
        &a.key,
        Notice {
            event: SystemEvent::Role,
            user: &whom.name,
            uid: Some(&whom.uid),
            by: &a.name,
            until_ts: None,
        },
        text,
    );
    chat.stage_room(
        &a.key,
        vec![write],
        caller.conn,
        false,
        vec![Then::Notice(notice)],
    );
    Ok(())
}
