//! `message`: post to a room. The message gets the room's next id and waits
//! in the chat until `Chat::commit` has stored it; only then does anyone
//! receive it (commit before you tell).
//!
//! A page that lost its connection resends what it had not seen echoed,
//! with the same `client_id`; a resend of something already posted is
//! answered with the original, to that connection only, and posts nothing.

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::{ATTACH_MARGIN, RATE_CHARS_PER_POINT, RATE_COST_MESSAGE};
use crate::protocol::{
    self, name_key, now_millis, room_key, ChatMessage, ErrorCode, Post, Preview, Rejection, Reply,
};

/// A message costs more the longer it is: one point, plus one per
/// `RATE_CHARS_PER_POINT` characters.
pub fn cost(text: &str) -> f64 {
    RATE_COST_MESSAGE + text.chars().count() as f64 / RATE_CHARS_PER_POINT
}

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Post {
        room,
        text,
        client_id,
        reply_to,
        mentions,
        action,
        attachments,
    }: Post,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, cost(&text), client_id.as_deref(), now) {
        return Ok(());
    }
    let key = room_key(&room);
    super::require_member(chat, caller, &key, &room, client_id.as_deref())?;
    super::require_voice(chat, caller, &key, &room, client_id.as_deref())?;
    if let Some(cid) = &client_id {
        if let Some(id) = already_posted(chat, caller, &key, cid) {
            if let Some(original) = original(chat, &key, id) {
                let frame = protocol::encode(&Reply::Message(&original));
                chat.reply(caller.conn, frame);
            }
            return Ok(());
        }
    }
    let attachments = match attachments {
        Some(ids) => take_uploads(chat, caller, &key, ids)
            .map_err(|r| r.in_room(room.as_str()).for_client(client_id.as_deref()))?,
        None => Vec::new(),
    };
    let reply = match reply_to {
        Some(id) => Some(
            preview(chat, &key, id)
                .map_err(|r| r.in_room(room.as_str()).for_client(client_id.as_deref()))?,
        ),
        None => None,
    };
    let session = chat.session(caller.session).expect("members have sessions");
    let (user, uid, bot) = (
        session.name.clone(),
        session.uid.clone(),
        session.bot.is_some(),
    );
    // Not while its claim is still being stored (commit before you tell):
    // the claim may fail, and the message would keep its check mark.
    let verified = session.account.is_some() && !chat.claiming(&name_key(&user));
    let r = chat.room_mut(&key).expect("members' rooms are loaded");
    // A message ends its author's typing (pages clear the line when it
    // arrives), so the next `typing` passes at once, however soon.
    if let Some(presence) = r.present.get_mut(&caller.session) {
        presence.typing_at = None;
    }
    let mut message = ChatMessage::new(r.name.clone(), r.take_number(), user, text, now_millis());
    message.uid = Some(uid);
    message.verified = verified;
    message.bot = bot;
    message.client_id = client_id;
    message.reply_to = reply_to;
    message.reply = reply;
    message.mentions = mentions.unwrap_or_default();
    message.action = action.unwrap_or(false);
    chat.attach(attachments.iter().map(|a| a.id.clone()));
    message.attachments = attachments;
    if let Some(cid) = &message.client_id {
        chat.sessions_mut()
            .remember_post(caller.session, &key, cid, message.id);
    }
    chat.stage(key, message, caller.conn);
    Ok(())
}

/// The uploads a message attaches, as it shows them: each must be this
/// session's (by its public id), uploaded to this room, not on a message
/// already (nor on one being stored), and young enough that the janitor
/// will not delete it while the message is being stored.
fn take_uploads(
    chat: &mut Chat,
    caller: &Caller,
    key: &str,
    ids: Vec<String>,
) -> Result<Vec<crate::protocol::Attachment>, Rejection> {
    let bad = |why: String| Rejection::new(ErrorCode::BadAttachment, why);
    let uid = chat
        .session(caller.session)
        .expect("members have sessions")
        .uid
        .clone();
    let media = &chat.config().media;
    // A short orphan age (tests) keeps a quarter of itself as the margin.
    let ttl = media.orphan_age - ATTACH_MARGIN.min(media.orphan_age / 4);
    let oldest = now_millis().saturating_sub(ttl.as_millis() as u64);
    let mut taken = Vec::new();
    for id in ids {
        if chat.attaching(&id) {
            return Err(bad(format!("upload {id} is on another message already")));
        }
        let upload = chat.store().upload(&id).map_err(|err| {
            Rejection::new(
                ErrorCode::StorageFailed,
                format!("could not look upload {id} up ({err}); it was not sent"),
            )
        })?;
        let upload = match upload {
            None => Err(format!(
                "there is no upload {id}: an upload not sent within {} minutes is deleted; \
                 upload it again",
                ttl.as_secs() / 60
            )),
            Some(u) if *u.uid != *uid => Err(format!("upload {id} is not yours")),
            Some(u) if u.room != key => Err(format!("upload {id} was sent to another room")),
            Some(u) if u.message_id.is_some() => {
                Err(format!("upload {id} is on another message already"))
            }
            Some(u) if u.created_ms < oldest => Err(format!(
                "upload {id} is too old to send now; upload it again"
            )),
            Some(u) => Ok(u),
        }
        .map_err(bad)?;
        taken.push(upload.attachment());
    }
    Ok(taken)
}

/// The id this session already posted `client_id` as in this room, if any.
fn already_posted(chat: &Chat, caller: &Caller, key: &str, client_id: &str) -> Option<u64> {
    let session = chat.session(caller.session)?;
    if let Some(id) = chat.sessions().posted(caller.session, key, client_id) {
        return Some(id);
    }
    if !session.restored {
        return None;
    }
    // The session is older than this process, and so is its memory of client
    // ids: look in what the room remembers instead, for a message of this
    // name with this id. (A page resends only what it sent moments ago,
    // which is among the room's recent messages.)
    let r = chat.room(key)?;
    // By the public id, which outlives the restart (messages stored before
    // there were ids carry only the name).
    let theirs = |m: &ChatMessage| match &m.uid {
        Some(uid) => *uid == session.uid,
        None => m.user == session.name,
    };
    let found = r
        .history
        .iter()
        .rev()
        .find(|m| m.client_id.as_deref() == Some(client_id) && theirs(m));
    found.map(|m| m.id)
}

/// Message `id` of room `key` as it is now, or, while a change to it is
/// being stored, as the room's cache has it: nobody is shown a message or a
/// change before the room is (its frame follows).
fn original(chat: &mut Chat, key: &str, id: u64) -> Option<ChatMessage> {
    // Not yet sent to the room (storage may hold it already): the room's
    // batch brings it to this connection too. Echoed now, it would take the
    // page's cursor past messages before it that have not reached it either.
    if id >= chat.room(key)?.first_unsettled() {
        return None;
    }
    if chat.changing(key, id) {
        return chat.room(key)?.cached(id).cloned();
    }
    chat.current(key, id).ok().flatten()
}

/// The preview a reply to message `id` carries, or `bad_reply`: the
/// original must be a message of this room that is still there.
fn preview(chat: &mut Chat, key: &str, id: u64) -> Result<Preview, Rejection> {
    let bad = |why: String| Rejection::new(ErrorCode::BadReply, why);
    match super::target(chat, key, id) {
        Ok(m) if m.deleted => Err(bad(format!(
            "message {id} was deleted; it cannot be replied to"
        ))),
        Ok(m) => Ok(m.preview()),
        Err(r) if r.code == ErrorCode::NotFound => Err(bad(format!(
            "there is no message {id} in this room to reply to"
        ))),
        Err(r) => Err(r),
    }
}
