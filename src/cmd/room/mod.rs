//! The commands of rooms with owners: claiming a room and proving its owner
//! key (`claim.rs`), its settings (`settings.rs`), roles (`roles.rs`),
//! invite links (`invites.rs`), moderation (`moderate.rs`), direct messages
//! (`dm.rs`) and the public directory (`directory.rs`). The rules they share
//! are here: who is asking, with what role, about whom.
//!
//! Every change goes through `Chat::stage_room`, so it is stored before it
//! takes effect and before anyone is told (`chat/controls.rs`).

pub mod claim;
pub mod directory;
pub mod dm;
pub mod invites;
pub mod moderate;
pub mod roles;
pub mod settings;

use std::sync::Arc;
use std::time::Instant;

use crate::chat::{membership, Caller, Chat, SessionId};
use crate::config::MAX_ROOM_MEMBERS;
use crate::protocol::{name_key, now_millis, room_key, Access, ErrorCode, Rejection, Role, Target};
use crate::storage::RoomWrite;

/// What a reader thread does with a room password it found in a request
/// (see `ws/reader.rs`): the hashing runs there, under the hashers' limit,
/// never on the hub.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum PasswordStep {
    /// Check the `join`'s password against this hash (argon2id PHC).
    Check(String),
    /// Hash the new password of `set_room`: the caller owns the room.
    Hash,
    /// Pass the request on without it: the room has no password, or the
    /// caller is a member already and needs none.
    Skip,
    /// Refuse the request with this.
    Refuse(Rejection),
}

/// The hub's answer to a reader thread holding a room password: for a
/// `join`, the room's hash, unless the caller needs no password; for a
/// `set_room` (`set`), whether the caller may set one. Nothing is charged
/// here (a wrong password is, in `join`), but a caller already over its
/// rate budget gets no hashing done: guesses cannot outrun the limit.
pub fn password_step(
    chat: &mut Chat,
    caller: &Caller,
    room: &str,
    set: bool,
    now: Instant,
) -> PasswordStep {
    if !chat.charge_quietly(caller, 0.0, now) {
        let message = "slow down: too many tries; wait a little before the next";
        let rejection = Rejection::new(ErrorCode::RateLimited, message)
            .in_room(room)
            .retry_after(10);
        return PasswordStep::Refuse(rejection);
    }
    let key = room_key(room);
    let uid = match chat.session(caller.session) {
        Some(s) => s.uid.clone(),
        None => return PasswordStep::Skip,
    };
    if set {
        // Only an owner of a room the caller is in may give it a password.
        let joined = chat
            .rooms_of(caller.conn)
            .unwrap_or_default()
            .contains(&key);
        let (role, _) = chat.role_in(&key, caller.session);
        return match joined && role == Role::Owner {
            true => PasswordStep::Hash,
            false => {
                let message = format!("only an owner of #{room} may give it a password");
                PasswordStep::Refuse(Rejection::new(ErrorCode::NotOwner, message).in_room(room))
            }
        };
    }
    // The room may not be in memory: its settings are read with it.
    let Ok(r) = chat.load_room(&key, room) else {
        return PasswordStep::Skip;
    };
    let c = &r.controls;
    let step = match (&c.settings.password_phc, c.settings.access) {
        (Some(phc), Access::Password) if !c.is_member(&uid) => PasswordStep::Check(phc.clone()),
        _ => PasswordStep::Skip,
    };
    chat.maybe_idle(&key);
    step
}

/// Who is asking, in which room, with what role.
pub struct Asker {
    /// The room's key and its name as displayed.
    pub key: String,
    pub room: String,
    pub uid: Arc<str>,
    pub name: Arc<str>,
    pub role: Role,
    pub now_ms: u64,
}

/// Charge `cost`, then make sure the caller is in `room` and has at least
/// role `needed` there (`not_owner` when it takes an owner, else
/// `forbidden`). `Ok(None)`: the rate limit refused it, and has answered.
pub fn asker(
    chat: &mut Chat,
    caller: &Caller,
    room: &str,
    needed: Role,
    cost: f64,
    now: Instant,
) -> Result<Option<Asker>, Rejection> {
    if !chat.charge(caller, cost, None, now) {
        return Ok(None);
    }
    let key = room_key(room);
    super::require_member(chat, caller, &key, room, None)?;
    let (role, uid) = chat.role_in(&key, caller.session);
    let r = chat.room(&key).expect("members' rooms are loaded");
    let display = r.name.to_string();
    if r.controls.settings.access == Access::Dm && needed > Role::Member {
        let message = "a direct message has no owner, settings or moderation";
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(display));
    }
    if role < needed {
        let (code, message) = match needed {
            Role::Owner => (
                ErrorCode::NotOwner,
                format!("only an owner of #{display} may do that"),
            ),
            _ => (
                ErrorCode::Forbidden,
                format!("only a moderator or owner of #{display} may do that"),
            ),
        };
        return Err(Rejection::new(code, message).in_room(display));
    }
    let name = chat
        .session(caller.session)
        .expect("members have sessions")
        .name
        .clone();
    Ok(Some(Asker {
        key,
        room: display,
        uid,
        name,
        role,
        now_ms: now_millis(),
    }))
}

/// Whom a request is about, as the room knows them.
pub struct Whom {
    pub uid: String,
    pub name: String,
    pub role: Role,
    /// Their sessions in the room's member list now (none, for someone
    /// named by `uid` who is away).
    pub sessions: Vec<SessionId>,
}

/// Find `target` in room `key`: a name in its member list, or a public id
/// (its name then comes from the member list, the room's records, or its
/// bans). `not_found` when a name is not in the room.
pub fn whom(chat: &Chat, a: &Asker, target: &Target) -> Result<Whom, Rejection> {
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    let uid_of = |s: SessionId| chat.session(s).map(|s| s.uid.to_string());
    let (uid, name) = match target {
        Target::User(user) => {
            let wanted = name_key(user);
            let Some((&session, p)) = r.present.iter().find(|(_, p)| p.key == wanted) else {
                let message = format!("nobody called \"{user}\" is in #{} now", a.room);
                return Err(Rejection::new(ErrorCode::NotFound, message).in_room(&a.room));
            };
            (uid_of(session).unwrap_or_default(), p.name.to_string())
        }
        Target::Uid(uid) => {
            let present = r
                .present
                .iter()
                .find(|(&s, _)| uid_of(s).as_deref() == Some(uid.as_str()));
            let name = match present {
                Some((_, p)) => p.name.to_string(),
                None => r
                    .controls
                    .members
                    .get(uid)
                    .map(|m| m.name.clone())
                    .or_else(|| {
                        let ban = r.controls.bans.iter().find(|b| &b.uid == uid);
                        ban.map(|b| b.user.clone())
                    })
                    .unwrap_or_else(|| uid.clone()),
            };
            (uid.clone(), name)
        }
    };
    let sessions = r
        .present
        .keys()
        .copied()
        .filter(|&s| uid_of(s).as_deref() == Some(uid.as_str()))
        .collect();
    let role = r.controls.role_of(&uid, a.now_ms, chat.lapse_ms());
    Ok(Whom {
        uid,
        name,
        role,
        sessions,
    })
}

/// Whoever is in room `key` now and not yet a recorded member (but `except`),
/// as member writes, as many as `MAX_ROOM_MEMBERS` leaves room for: a room
/// that is claimed or closed keeps them, and they may come back.
pub fn present_as_members(chat: &Chat, key: &str, except: &str) -> Vec<RoomWrite> {
    let r = chat.room(key).expect("members' rooms are loaded");
    let room_left = MAX_ROOM_MEMBERS.saturating_sub(r.controls.members.len());
    r.present
        .iter()
        .filter_map(|(&s, p)| Some((chat.session(s)?.uid.to_string(), p.name.to_string())))
        .filter(|(uid, _)| uid != except && !r.controls.is_member(uid))
        .take(room_left)
        .map(|(uid, name)| RoomWrite::Member {
            uid,
            membership: membership(&name, Role::Member),
        })
        .collect()
}

/// Nobody acts on an equal or higher role (nor on themselves).
pub fn outranks(a: &Asker, whom: &Whom) -> Result<(), Rejection> {
    if whom.uid == *a.uid {
        let message = "you cannot do that to yourself";
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(&a.room));
    }
    if whom.role >= a.role {
        let message = format!(
            "{} is {} of #{}: only someone above that role may do that",
            whom.name,
            match whom.role {
                Role::Owner => "an owner",
                Role::Moderator => "a moderator",
                Role::Member => "a member",
            },
            a.room
        );
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(&a.room));
    }
    Ok(())
}
