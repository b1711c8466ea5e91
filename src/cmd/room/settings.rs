//! `set_room`: a room's topic (moderators), and who may find it and come in
//! (owners). Only the fields given change. A room password arrives here
//! already hashed: the connection's reader thread hashed it (argon2id, as
//! account passwords), never the hub.

use std::time::Instant;

use crate::chat::{Caller, Chat, Notice, Then};
use crate::config::RATE_COST_MODERATE;
use crate::protocol::{Access, ErrorCode, Rejection, Role, SetRoom, SystemEvent, Visibility};
use crate::storage::RoomWrite;

use super::{asker, present_as_members};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    set: SetRoom,
    now: Instant,
) -> Result<(), Rejection> {
    let owner_fields = set.visibility.is_some()
        || set.access.is_some()
        || set.locked.is_some()
        || set.password_phc.is_some();
    let needed = match owner_fields {
        true => Role::Owner,
        false => Role::Moderator,
    };
    let Some(a) = asker(chat, caller, &set.room, needed, RATE_COST_MODERATE, now)? else {
        return Ok(());
    };
    let refuse = |message: &str| Err(Rejection::new(ErrorCode::BadField, message).in_room(&a.room));
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    let before = r.controls.settings.clone();
    let mut after = before.clone();
    if let Some(topic) = set.topic {
        after.topic = topic;
    }
    if let Some(visibility) = set.visibility {
        after.visibility = visibility;
    }
    if let Some(locked) = set.locked {
        after.locked = locked;
    }
    if let Some(phc) = set.password_phc {
        after.password_phc = Some(phc);
    }
    if let Some(access) = set.access {
        if access == Access::Dm {
            return refuse(
                "\"access\" is open, invite or password (a direct message is made by dm)",
            );
        }
        after.access = access;
    }
    if after.access == Access::Password && after.password_phc.is_none() {
        return refuse("a password room needs a \"password\"");
    }
    if after.access != Access::Password {
        after.password_phc = None;
    }
    if after == before {
        return Ok(());
    }
    let mut writes = vec![RoomWrite::Settings(after.clone())];
    // Closing the room (private, or locked) keeps whoever is here: they are
    // members, and may come back.
    if after.access.is_private() || after.locked {
        writes.extend(present_as_members(chat, &a.key, &a.uid));
    }
    let mut then = Vec::new();
    if after.topic != before.topic {
        let text = match after.topic.is_empty() {
            true => format!("{} cleared the topic", a.name),
            false => format!("{} set the topic: {}", a.name, after.topic),
        };
        then.push(Then::Notice(chat.notice(
            &a.key,
            Notice {
                event: SystemEvent::Topic,
                user: &a.name,
                uid: None,
                by: &a.name,
                until_ts: None,
            },
            text,
        )));
    }
    let mut said = Vec::new();
    if after.visibility != before.visibility {
        said.push(match after.visibility {
            Visibility::Public => "listed the room in the directory".to_string(),
            Visibility::Unlisted => "took the room out of the directory".to_string(),
        });
    }
    if after.access != before.access {
        said.push(match after.access {
            Access::Open => "opened the room to everyone".to_string(),
            Access::Invite => "made the room invite-only".to_string(),
            _ => "gave the room a password".to_string(),
        });
    } else if after.password_phc != before.password_phc {
        said.push("changed the room's password".to_string());
    }
    if after.locked != before.locked {
        said.push(match after.locked {
            true => "locked the room: only its members may come in".to_string(),
            false => "unlocked the room".to_string(),
        });
    }
    if !said.is_empty() {
        let text = format!("{} {}", a.name, said.join(", and "));
        then.push(Then::Notice(chat.notice(
            &a.key,
            Notice {
                event: SystemEvent::Settings,
                user: &a.name,
                uid: None,
                by: &a.name,
                until_ts: None,
            },
            text,
        )));
    }
    chat.stage_room(&a.key, writes, caller.conn, false, then);
    Ok(())
}
