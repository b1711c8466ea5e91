//! `dm`: a direct message, a private room of two people. It is a room like
//! any other (history, resume, notifications and unread counts work the
//! same), named after the two public ids so that the same two people always
//! meet in the same one, with `access: dm`: only they may join it, and it is
//! listed nowhere. Both are told (`dm`), and `hello` lists a person's DMs.

use std::time::Instant;

use crate::chat::{membership, Caller, Chat, Then};
use crate::config::RATE_COST_JOIN;
use crate::protocol::{
    self, name_key, room_key, target, Access, DmEntry, ErrorCode, OpenDm, Rejection, Reply, Role,
    Target,
};
use crate::storage::{RoomWrite, Settings};

/// The room of `a` and `b`, whichever asks: `dm:<uid>:<uid>`, a name no
/// other room may take (see `protocol::is_dm_name`).
pub fn dm_name(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{first}:{second}")
}

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    OpenDm { room, user, uid }: OpenDm,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, RATE_COST_JOIN, None, now) {
        return Ok(());
    }
    let me = chat.session(caller.session).expect("members have sessions");
    let (my_uid, my_name) = (me.uid.to_string(), me.name.to_string());
    let (other_uid, other_name) = match target(&user, &uid) {
        Target::User(user) => {
            let room = room.unwrap_or_default();
            let key = room_key(&room);
            super::super::require_member(chat, caller, &key, &room, None)?;
            let r = chat.room(&key).expect("members' rooms are loaded");
            let wanted = name_key(&user);
            let found = r.present.iter().find(|(_, p)| p.key == wanted);
            let Some((uid, name)) = found
                .and_then(|(&s, p)| Some((chat.session(s)?.uid.to_string(), p.name.to_string())))
            else {
                let message = format!("nobody called \"{user}\" is in #{} now", r.name);
                return Err(Rejection::new(ErrorCode::NotFound, message).in_room(room));
            };
            (uid, name)
        }
        Target::Uid(uid) => {
            let found = chat.sessions().with_uid(&uid).into_iter().next();
            let Some(name) = found
                .and_then(|s| chat.session(s))
                .map(|s| s.name.to_string())
            else {
                let message = "nobody with that id is logged in now";
                return Err(Rejection::new(ErrorCode::NotFound, message));
            };
            (uid, name)
        }
    };
    if other_uid == my_uid {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "a direct message is with someone else",
        ));
    }
    let name = dm_name(&my_uid, &other_uid);
    let key = room_key(&name);
    let r = chat.load_room(&key, &name).map_err(|err| {
        Rejection::new(
            ErrorCode::StorageFailed,
            format!("could not open the room: {err}"),
        )
    })?;
    let mine = DmEntry {
        room: r.name.to_string(),
        with: other_name.clone(),
        with_uid: other_uid.clone(),
    };
    if r.controls.settings.access == Access::Dm {
        chat.reply(caller.conn, protocol::encode(&Reply::Dm(&mine)));
        chat.maybe_idle(&key);
        return Ok(());
    }
    let theirs = DmEntry {
        room: mine.room.clone(),
        with: my_name.clone(),
        with_uid: my_uid.clone(),
    };
    let settings = Settings {
        access: Access::Dm,
        ..Settings::default()
    };
    let writes = vec![
        RoomWrite::Settings(settings),
        RoomWrite::Member {
            uid: my_uid,
            membership: membership(&my_name, Role::Member),
        },
        RoomWrite::Member {
            uid: other_uid.clone(),
            membership: membership(&other_name, Role::Member),
        },
    ];
    let mut then = vec![Then::Reply(
        caller.conn,
        protocol::encode(&Reply::Dm(&mine)),
    )];
    let frame = protocol::encode(&Reply::Dm(&theirs));
    let sessions = chat.sessions().with_uid(&other_uid);
    for conn in chat.conns_of(&sessions) {
        then.push(Then::Reply(conn, frame.clone()));
    }
    chat.stage_room(&key, writes, caller.conn, false, then);
    Ok(())
}
