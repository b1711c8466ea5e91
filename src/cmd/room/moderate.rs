//! Moderation: `kick`, `mute`, `unmute`, `ban`, `unban` and the `bans`
//! list, by moderators and owners, on lower roles only.
//!
//! Every action is a notice in the room saying who did it, and the person
//! it is about is told (never a shadow mute): a kicked or banned person's
//! connections get `removed`, a muted person sees the notice and has every
//! message refused with `muted` and its end. A ban is by public id; with
//! `ip: true` the address is banned too, but only for a short time
//! (`MAX_ADDRESS_BAN`): a whole class behind one NAT shares an address.

use std::time::{Duration, Instant};

use crate::chat::{mute, spoken, Caller, Chat, Notice, Then};
use crate::config::{
    ADDRESS_BAN, DEFAULT_MUTE, MAX_BAN, MAX_BANS_PER_ROOM, MAX_MUTE, MAX_MUTES_PER_ROOM,
    RATE_COST_MODERATE,
};
use crate::protocol::{
    self, target, BanEntry, Bans, ErrorCode, Moderate, Rejection, Reply, Role, SystemEvent,
};
use crate::storage::{RoomWrite, StoredBan};

use super::{asker, outranks, whom, Asker, Whom};

/// What a moderation request does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Kick,
    Mute,
    Unmute,
    Ban,
    Unban,
}

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    action: Action,
    m: Moderate,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(
        chat,
        caller,
        &m.room,
        Role::Moderator,
        RATE_COST_MODERATE,
        now,
    )?
    else {
        return Ok(());
    };
    let whom = whom(chat, &a, &target(&m.user, &m.uid))?;
    outranks(&a, &whom)?;
    let reason = m.reason.clone().unwrap_or_default();
    let because = match reason.is_empty() {
        true => String::new(),
        false => format!(" ({reason})"),
    };
    match action {
        Action::Kick => kick(chat, caller, &a, &whom, &reason, &because),
        Action::Mute => {
            let r = chat.room_mut(&a.key).expect("members' rooms are loaded");
            r.controls.prune(a.now_ms);
            let again = r.controls.mutes.iter().any(|m| m.uid == whom.uid);
            if !again && r.controls.mutes.len() >= MAX_MUTES_PER_ROOM {
                let message = format!(
                    "#{} has {MAX_MUTES_PER_ROOM} people muted, the most a room keeps",
                    a.room
                );
                return Err(Rejection::new(ErrorCode::LimitReached, message).in_room(&a.room));
            }
            let length = minutes(m.minutes, DEFAULT_MUTE, MAX_MUTE);
            let until = a.now_ms + length * 60_000;
            let write = RoomWrite::Mute(mute(&whom.uid, &whom.name, until, &a.name));
            let text = format!(
                "{} was muted by {} for {}{because}",
                whom.name,
                a.name,
                spoken(length)
            );
            let notice = notice(chat, &a, &whom, SystemEvent::Mute, Some(until), text);
            chat.stage_room(&a.key, vec![write], caller.conn, false, vec![notice]);
            Ok(())
        }
        Action::Unmute => {
            let write = RoomWrite::Unmute {
                uid: whom.uid.clone(),
            };
            let text = format!("{} may speak again ({} lifted the mute)", whom.name, a.name);
            let notice = notice(chat, &a, &whom, SystemEvent::Unmute, None, text);
            chat.stage_room(&a.key, vec![write], caller.conn, false, vec![notice]);
            Ok(())
        }
        Action::Ban => ban(chat, caller, &a, &whom, &m, &reason, &because),
        Action::Unban => {
            let r = chat.room(&a.key).expect("members' rooms are loaded");
            if !r.controls.bans.iter().any(|b| b.uid == whom.uid) {
                let message = format!("{} is not banned from #{}", whom.name, a.room);
                return Err(Rejection::new(ErrorCode::NotFound, message).in_room(&a.room));
            }
            let write = RoomWrite::Unban {
                uid: whom.uid.clone(),
            };
            let text = format!("{} lifted the ban on {}", a.name, whom.name);
            let notice = notice(chat, &a, &whom, SystemEvent::Unban, None, text);
            chat.stage_room(&a.key, vec![write], caller.conn, false, vec![notice]);
            Ok(())
        }
    }
}

/// Out of the room now. From an open room they may come back at once (a
/// kick is a warning); from a private one their membership goes with them,
/// so they need a new invite or the password.
fn kick(
    chat: &mut Chat,
    caller: &Caller,
    a: &Asker,
    whom: &Whom,
    reason: &str,
    because: &str,
) -> Result<(), Rejection> {
    if whom.sessions.is_empty() {
        let message = format!("{} is not in #{} now", whom.name, a.room);
        return Err(Rejection::new(ErrorCode::NotFound, message).in_room(&a.room));
    }
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    let revoke = r.controls.settings.access.is_private() || r.controls.settings.locked;
    let writes = match revoke && r.controls.is_member(&whom.uid) {
        true => vec![RoomWrite::Unmember {
            uid: whom.uid.clone(),
        }],
        false => Vec::new(),
    };
    let removed = removed(
        a,
        SystemEvent::Kick,
        reason,
        None,
        format!("{} removed you from #{}{because}", a.name, a.room),
    );
    let text = format!("{} was removed by {}{because}", whom.name, a.name);
    let notice = notice(chat, a, whom, SystemEvent::Kick, None, text);
    put_out(chat, caller, a, whom, writes, removed, notice);
    Ok(())
}

/// Once `writes` are stored: `whom` out of the room, told with `removed`,
/// and the room told with `notice` (a kick, a ban).
fn put_out(
    chat: &mut Chat,
    caller: &Caller,
    a: &Asker,
    whom: &Whom,
    writes: Vec<RoomWrite>,
    removed: std::sync::Arc<[u8]>,
    notice: Then,
) {
    let out = Then::Remove {
        uid: whom.uid.clone(),
        frame: removed,
    };
    chat.stage_room(&a.key, writes, caller.conn, false, vec![out, notice]);
}

fn ban(
    chat: &mut Chat,
    caller: &Caller,
    a: &Asker,
    whom: &Whom,
    m: &Moderate,
    reason: &str,
    because: &str,
) -> Result<(), Rejection> {
    let r = chat.room_mut(&a.key).expect("members' rooms are loaded");
    r.controls.prune(a.now_ms);
    let banned_already = r.controls.bans.iter().any(|b| b.uid == whom.uid);
    if !banned_already && r.controls.bans.len() >= MAX_BANS_PER_ROOM {
        let message = format!(
            "#{} has {MAX_BANS_PER_ROOM} bans, the most a room keeps; lift old ones first",
            a.room
        );
        return Err(Rejection::new(ErrorCode::LimitReached, message).in_room(&a.room));
    }
    let length = m.minutes.map(|min| min.min(MAX_BAN.as_secs() / 60));
    let until = length.map(|min| a.now_ms + min * 60_000);
    // The address: of their connections in the room now (the only address
    // natter knows of a person), hashed like a token.
    let (address, address_until) = match m.ip == Some(true) {
        false => (None, None),
        true => {
            let Some(address) = chat.address_in_room(&a.key, &whom.sessions) else {
                let message = format!(
                    "{} is not connected, so natter does not know their address; ban them without ip",
                    whom.name
                );
                return Err(Rejection::new(ErrorCode::BadField, message).in_room(&a.room));
            };
            let ban_ms = length.map_or(u64::MAX, |min| min * 60_000);
            let short = ban_ms.min(ADDRESS_BAN.as_millis() as u64);
            (Some(address_hash(address)), Some(a.now_ms + short))
        }
    };
    let ban = StoredBan {
        uid: whom.uid.clone(),
        user: whom.name.clone(),
        until_ms: until,
        address,
        address_until_ms: address_until,
        by: a.name.to_string(),
        reason: reason.to_string(),
        ts: a.now_ms,
    };
    let mut writes = vec![RoomWrite::Ban(ban)];
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    if r.controls.is_member(&whom.uid) {
        writes.push(RoomWrite::Unmember {
            uid: whom.uid.clone(),
        });
    }
    let how_long = match length {
        Some(min) => format!(" for {}", spoken(min)),
        None => String::new(),
    };
    let you = format!("{} banned you from #{}{how_long}{because}", a.name, a.room);
    let removed = removed(a, SystemEvent::Ban, reason, until, you);
    let text = format!("{} was banned by {}{how_long}{because}", whom.name, a.name);
    let notice = notice(chat, a, whom, SystemEvent::Ban, until, text);
    put_out(chat, caller, a, whom, writes, removed, notice);
    Ok(())
}

/// `bans`: the room's bans, for its moderators.
pub fn list(
    chat: &mut Chat,
    caller: &Caller,
    Bans { room }: Bans,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(
        chat,
        caller,
        &room,
        Role::Moderator,
        RATE_COST_MODERATE,
        now,
    )?
    else {
        return Ok(());
    };
    let r = chat.room_mut(&a.key).expect("members' rooms are loaded");
    r.controls.prune(a.now_ms);
    let bans: Vec<BanEntry> = r
        .controls
        .bans
        .iter()
        .map(|b| BanEntry {
            uid: b.uid.clone(),
            user: b.user.clone(),
            until_ts: b.until_ms,
            ip: b.address_until_ms.is_some_and(|t| a.now_ms < t),
            ip_until_ts: b.address_until_ms.filter(|&t| a.now_ms < t),
            by: b.by.clone(),
            reason: b.reason.clone(),
            ts: b.ts,
        })
        .collect();
    let frame = protocol::encode(&Reply::Bans {
        room: &a.room,
        bans: &bans,
    });
    chat.reply(caller.conn, frame);
    Ok(())
}

/// What a room keeps of an address it bans: its hash, like a token's.
pub fn address_hash(address: std::net::IpAddr) -> String {
    crate::session::token_key(&format!("address\0{address}"))
}

/// A length in minutes: as asked, else `default`, at most `max`.
fn minutes(asked: Option<u64>, default: Duration, max: Duration) -> u64 {
    asked
        .unwrap_or(default.as_secs() / 60)
        .min(max.as_secs() / 60)
}

fn notice(
    chat: &Chat,
    a: &Asker,
    whom: &Whom,
    event: SystemEvent,
    until: Option<u64>,
    text: String,
) -> Then {
    Then::Notice(chat.notice(
        &a.key,
        Notice {
            event,
            user: &whom.name,
            uid: Some(&whom.uid),
            by: &a.name,
            until_ts: until,
        },
        text,
    ))
}

/// The `removed` frame for the person kicked or banned.
fn removed(
    a: &Asker,
    event: SystemEvent,
    reason: &str,
    until: Option<u64>,
    text: String,
) -> std::sync::Arc<[u8]> {
    protocol::encode(&Reply::Removed {
        room: &a.room,
        event,
        by: &a.name,
        reason: (!reason.is_empty()).then_some(reason),
        until_ts: until,
        text,
    })
}
