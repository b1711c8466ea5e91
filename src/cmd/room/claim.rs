//! `claim` and `auth`: owning a room.
//!
//! An unowned room (or one whose claim lapsed) is claimed by someone in it.
//! The server makes a 128-bit owner key, answers it once (`claimed`) and
//! keeps only its hash: the key proves ownership from any browser (`auth`),
//! and the claimer's public id is an owner at once, so a claimed name (whose
//! id is its account's) needs no key at all. Never "first to join owns it"
//! (IRC's takeover), and nothing to brute-force: a wrong key costs
//! `RATE_COST_KEY`, against 128 bits.

use std::time::Instant;

use crate::chat::{membership, Caller, Chat, Notice, Then};
use crate::config::{MAX_ROOMS_OWNED, RATE_COST_CLAIM, RATE_COST_KEY};
use crate::protocol::{self, Auth, Claim, ErrorCode, Rejection, Reply, Role, SystemEvent};
use crate::session::{new_token, token_key};
use crate::storage::{RoomClaim, RoomWrite};

use super::{asker, present_as_members};

pub fn claim(
    chat: &mut Chat,
    caller: &Caller,
    Claim { room }: Claim,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(chat, caller, &room, Role::Member, RATE_COST_CLAIM, now)? else {
        return Ok(());
    };
    let refuse = |code, message: String| Err(Rejection::new(code, message).in_room(&a.room));
    let lapse = chat.lapse_ms();
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    if r.claim_pending.is_some() {
        return refuse(
            ErrorCode::AlreadyOwned,
            format!("#{} was claimed a moment ago", a.room),
        );
    }
    if r.controls.owned(a.now_ms, lapse) {
        let owner = r.controls.claim.as_ref().map_or("", |c| c.name.as_str());
        return refuse(
            ErrorCode::AlreadyOwned,
            format!(
                "#{} is owned by {owner} already; its owner key proves ownership (send auth)",
                a.room
            ),
        );
    }
    if r.controls.settings.access == protocol::Access::Dm {
        return refuse(
            ErrorCode::Forbidden,
            "a direct message cannot be claimed".into(),
        );
    }
    let since = a.now_ms.saturating_sub(lapse);
    let stored = chat.store().owned_by(&a.uid, since).map_err(|err| {
        Rejection::new(
            ErrorCode::StorageFailed,
            format!("could not check your rooms: {err}"),
        )
    })?;
    let owned = stored + chat.claims_pending(&a.uid);
    if owned >= MAX_ROOMS_OWNED {
        return refuse(
            ErrorCode::LimitReached,
            format!("you own {owned} rooms, the most one person may ({MAX_ROOMS_OWNED})"),
        );
    }
    let Ok(secret) = new_token() else {
        return refuse(
            ErrorCode::StorageFailed,
            "the system's random source failed; try again".into(),
        );
    };
    let key = format!("ok_{secret}");
    let mut writes = vec![RoomWrite::Claim(RoomClaim {
        uid: a.uid.to_string(),
        name: a.name.to_string(),
        key_hash: token_key(&key),
        claimed_ms: a.now_ms,
        seen_ms: a.now_ms,
    })];
    // Whoever is here now is a member from now on: they may come back once
    // the owner locks the room or makes it private.
    writes.extend(present_as_members(chat, &a.key, &a.uid));
    let claimed = protocol::encode(&Reply::Claimed {
        room: &a.room,
        owner_key: &key,
    });
    let text = format!("{} claimed #{}", a.name, a.room);
    let notice = chat.notice(
        &a.key,
        Notice {
            event: SystemEvent::Claim,
            user: &a.name,
            uid: Some(&a.uid),
            by: &a.name,
            until_ts: None,
        },
        text,
    );
    let then = vec![Then::Reply(caller.conn, claimed), Then::Notice(notice)];
    chat.stage_room(&a.key, writes, caller.conn, false, then);
    if let Some(r) = chat.room_mut(&a.key) {
        r.claim_pending = Some(a.uid.clone());
    }
    Ok(())
}

pub fn auth(
    chat: &mut Chat,
    caller: &Caller,
    Auth { room, key }: Auth,
    now: Instant,
) -> Result<(), Rejection> {
    let room_key = protocol::room_key(&room);
    let joined = chat.rooms_of(caller.conn).unwrap_or_default();
    if !joined.contains(&room_key) {
        return auth_outside(chat, caller, &room_key, &room, &key, now);
    }
    let Some(a) = asker(chat, caller, &room, Role::Member, 1.0, now)? else {
        return Ok(());
    };
    let lapse = chat.lapse_ms();
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    let right = r.controls.owned(a.now_ms, lapse)
        && r.controls
            .claim
            .as_ref()
            .is_some_and(|c| c.key_hash == token_key(&key));
    if !right {
        // The only guessing surface of ownership: it costs as much as a
        // claim, so guesses come a few per minute, against 128 bits.
        chat.charge_quietly(caller, RATE_COST_KEY, now);
        let message = format!(
            "that is not the owner key of #{} (or its claim lapsed)",
            a.room
        );
        return Err(Rejection::new(ErrorCode::BadKey, message).in_room(&a.room));
    }
    if a.role == Role::Owner {
        // Already an owner: the settings again, so the page knows.
        let settings = r.controls.view(a.now_ms, lapse);
        let frame = protocol::encode(&Reply::Room {
            room: &a.room,
            settings: &settings,
        });
        chat.reply(caller.conn, frame);
        return Ok(());
    }
    let writes = vec![
        RoomWrite::Member {
            uid: a.uid.to_string(),
            membership: membership(&a.name, Role::Owner),
        },
        RoomWrite::Seen(a.now_ms),
    ];
    chat.stage_room(&a.key, writes, caller.conn, false, Vec::new());
    Ok(())
}

/// `auth` from outside the room: the owner on a new browser (another public
/// id) of a room that keeps newcomers out (invite, password, locked) cannot
/// join it to prove the key. A right key makes them an owner, so a member:
/// the page's next `join` comes in. The answer is the room's settings.
fn auth_outside(
    chat: &mut Chat,
    caller: &Caller,
    key: &str,
    room: &str,
    owner_key: &str,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, 1.0, None, now) {
        return Ok(());
    }
    let session = chat.session(caller.session).expect("members have sessions");
    let (uid, name) = (session.uid.to_string(), session.name.to_string());
    let (now_ms, lapse) = (protocol::now_millis(), chat.lapse_ms());
    let r = chat.load_room(key, room).map_err(|err| {
        let message = format!("could not load the room: {err}");
        Rejection::new(ErrorCode::StorageFailed, message).in_room(room)
    })?;
    let display = r.name.to_string();
    let right = r.controls.owned(now_ms, lapse)
        && r.controls
            .claim
            .as_ref()
            .is_some_and(|c| c.key_hash == token_key(owner_key));
    if !right {
        chat.maybe_idle(key);
        chat.charge_quietly(caller, RATE_COST_KEY, now);
        let message = format!("that is not the owner key of #{display} (or its claim lapsed)");
        return Err(Rejection::new(ErrorCode::BadKey, message).in_room(display));
    }
    let mut writes = Vec::new();
    if r.controls.role_of(&uid, now_ms, lapse) != Role::Owner {
        writes.push(RoomWrite::Member {
            uid,
            membership: membership(&name, Role::Owner),
        });
        writes.push(RoomWrite::Seen(now_ms));
    }
    // The settings as they will be once stored.
    let mut after = r.controls.clone();
    for write in &writes {
        after.apply(write);
    }
    let settings = after.view(now_ms, lapse);
    let frame = protocol::encode(&Reply::Room {
        room: &display,
        settings: &settings,
    });
    if writes.is_empty() {
        chat.reply(caller.conn, frame);
        chat.maybe_idle(key);
        return Ok(());
    }
    let then = vec![Then::Reply(caller.conn, frame)];
    chat.stage_room(key, writes, caller.conn, false, then);
    Ok(())
}
