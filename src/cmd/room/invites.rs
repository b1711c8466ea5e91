//! `invite` and `revoke_invite`: links into an invite-only room. A code is
//! 96 random bits, shown once to whoever made it; the room keeps only its
//! hash, an expiry and a use count. Whoever comes in with one is a member
//! from then on (see `cmd::join`), so a reload or a resume needs no link.

use std::time::Instant;

use crate::chat::{invite_id, Caller, Chat, Then};
use crate::config::{
    DEFAULT_INVITE_AGE, MAX_INVITES_PER_ROOM, RATE_COST_INVITE, RATE_COST_MODERATE,
};
use crate::protocol::{self, ErrorCode, Invite, Rejection, Reply, RevokeInvite, Role};
use crate::session::{new_token, token_key};
use crate::storage::{RoomWrite, StoredInvite};

use super::asker;

pub fn create(
    chat: &mut Chat,
    caller: &Caller,
    Invite {
        room,
        max_age_s,
        max_uses,
    }: Invite,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(chat, caller, &room, Role::Moderator, RATE_COST_INVITE, now)? else {
        return Ok(());
    };
    let r = chat.room_mut(&a.key).expect("members' rooms are loaded");
    r.controls.prune(a.now_ms);
    if r.controls.invites.len() >= MAX_INVITES_PER_ROOM {
        let message = format!(
            "#{} has {MAX_INVITES_PER_ROOM} live invite links, the most a room may; revoke one first",
            a.room
        );
        return Err(Rejection::new(ErrorCode::LimitReached, message).in_room(&a.room));
    }
    let Ok(secret) = new_token() else {
        let message = "the system's random source failed; try again";
        return Err(Rejection::new(ErrorCode::StorageFailed, message).in_room(&a.room));
    };
    // 96 bits: 24 of the token's 32 hex digits.
    let code = format!("iv_{}", &secret[..24]);
    let age = max_age_s.map_or(DEFAULT_INVITE_AGE.as_millis() as u64, |s| s * 1000);
    let invite = StoredInvite {
        hash: token_key(&code),
        by: a.name.to_string(),
        expires_ms: a.now_ms + age,
        max_uses: max_uses.unwrap_or(0),
        uses: 0,
    };
    let url = format!("/r/{}?invite={code}", crate::web::encode_component(&a.room));
    let frame = protocol::encode(&Reply::InviteCreated {
        room: &a.room,
        id: &invite_id(&invite.hash),
        code: &code,
        url: &url,
        expires_ts: invite.expires_ms,
        max_uses: invite.max_uses,
    });
    let writes = vec![RoomWrite::Invite(invite)];
    chat.stage_room(
        &a.key,
        writes,
        caller.conn,
        false,
        vec![Then::Reply(caller.conn, frame)],
    );
    Ok(())
}

pub fn revoke(
    chat: &mut Chat,
    caller: &Caller,
    RevokeInvite { room, id }: RevokeInvite,
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
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    // By its id, or by the code itself (whoever made it has the link).
    let hash = token_key(&id);
    let Some(invite) = r
        .controls
        .invites
        .iter()
        .find(|i| invite_id(&i.hash) == id || i.hash == hash)
    else {
        let message = format!("#{} has no live invite {id:?}", a.room);
        return Err(Rejection::new(ErrorCode::NotFound, message).in_room(&a.room));
    };
    let write = RoomWrite::Uninvite {
        hash: invite.hash.clone(),
    };
    chat.stage_room(&a.key, vec![write], caller.conn, false, Vec::new());
    Ok(())
}
