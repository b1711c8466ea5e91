//! Uploads, as the hub answers the web threads that receive and serve them
//! (`web/upload.rs`, `web/media.rs`) and the janitor (`media/janitor.rs`).
//! The hub decides who may upload where and how much, keeps the rows, and
//! says who may fetch a file; it never reads or writes one.

use std::net::IpAddr;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::chat::Chat;
use crate::config::{JANITOR_BATCH, RATE_COST_UPLOAD};
use crate::media::{mib, Refusal, StoredUpload};
use crate::protocol::{now_millis, room_key};
use crate::session::token_key;
use crate::storage::{day_of, MediaWrite, StorageError};

/// Who may upload, and where to: the answer to [`check`].
#[derive(Clone, Debug)]
pub struct Uploader {
    pub uid: String,
    /// The room's key and its name.
    pub key: String,
    pub room: String,
}

/// May the session of `token` upload `size` bytes to `room`? It must be in
/// the room now (joined from a page), allowed to speak there, within its
/// rate limit and within the storage limits. Charges the upload's cost.
pub fn check(
    chat: &mut Chat,
    token: &str,
    room: &str,
    size: u64,
    ip: IpAddr,
    now: Instant,
) -> Result<Uploader, Refusal> {
    if !chat.config().media.enabled {
        return Err(Refusal::new(
            403,
            "forbidden",
            "uploads are turned off on this server",
        ));
    }
    let session = chat
        .sessions()
        .live(&token_key(token), now)
        .ok_or_else(|| Refusal::new(401, "not_logged_in", "log in first"))?;
    let uid = chat
        .session(session)
        .expect("a live session exists")
        .uid
        .to_string();
    let key = room_key(room);
    let Some(r) = chat.room(&key).filter(|r| r.present.contains_key(&session)) else {
        return Err(Refusal::new(
            403,
            "forbidden",
            format!("join #{room} before you send files to it"),
        ));
    };
    let name = r.name.to_string();
    if let Some(until) = r.controls.muted_until(&uid, now_millis()) {
        let minutes = until.saturating_sub(now_millis()).div_ceil(60_000);
        return Err(Refusal::new(
            403,
            "forbidden",
            format!(
                "you are muted in #{name} for {minutes} more minute(s): you can read, not send"
            ),
        ));
    }
    if !chat.charge_if_allowed(session, ip, RATE_COST_UPLOAD, now) {
        return Err(Refusal::new(
            429,
            "rate_limited",
            "slow down: too many uploads; try again shortly",
        )
        .retry_after(5));
    }
    within_limits(chat, &uid, size)?;
    Ok(Uploader {
        uid,
        key,
        room: name,
    })
}

/// Whether `uid` may store `size` more bytes: the per-upload limit, the
/// whole store's, the person's stored total and their day's uploads.
fn within_limits(chat: &mut Chat, uid: &str, size: u64) -> Result<(), Refusal> {
    let limits = chat.config().media.clone();
    if size > limits.max_upload_bytes {
        return Err(Refusal::new(
            413,
            "too_large",
            format!(
                "the file is {}; the limit is {} per upload",
                mib(size),
                mib(limits.max_upload_bytes)
            ),
        ));
    }
    let now_ms = now_millis();
    let usage = chat
        .store()
        .media_usage(uid, now_ms)
        .map_err(|err| Refusal::new(503, "busy", format!("could not check the limits: {err}")))?;
    if usage.total_bytes + size > limits.max_total_bytes {
        return Err(Refusal::new(
            507,
            "media_full",
            format!(
                "media storage is full (the server keeps at most {}); nothing was stored",
                mib(limits.max_total_bytes)
            ),
        ));
    }
    if usage.person_bytes + size > limits.per_person_bytes {
        return Err(Refusal::new(
            429,
            "quota",
            format!(
                "you have {} of files stored; the limit is {} a person: delete some of your \
                 messages with files first",
                mib(usage.person_bytes),
                mib(limits.per_person_bytes)
            ),
        ));
    }
    if usage.today_bytes + size > limits.daily_bytes {
        let next_day_ms = (day_of(now_ms) + 1) * 24 * 60 * 60 * 1000;
        return Err(Refusal::new(
            429,
            "quota",
            format!(
                "you uploaded {} today; the limit is {} a day (it starts again at midnight UTC)",
                mib(usage.today_bytes),
                mib(limits.daily_bytes)
            ),
        )
        .retry_after((next_day_ms - now_ms).div_ceil(1000)));
    }
    Ok(())
}

/// Record a received file (already in the store under its hash): answered
/// once the row is stored. The limits are checked again with its real size
/// (an image is smaller once its metadata is gone).
pub fn record(
    chat: &mut Chat,
    token: &str,
    upload: StoredUpload,
    reply: Sender<Result<(), Refusal>>,
    now: Instant,
) {
    let session = chat.sessions().live(&token_key(token), now);
    let uid = session
        .and_then(|s| chat.session(s))
        .map(|s| s.uid.to_string());
    if uid.as_deref() != Some(upload.uid.as_str()) {
        let _ = reply.try_send(Err(Refusal::new(401, "not_logged_in", "log in first")));
        return;
    }
    if let Err(refusal) = within_limits(chat, &upload.uid, upload.size) {
        let _ = reply.try_send(Err(refusal));
        return;
    }
    chat.stage_media(
        MediaWrite::Record(upload),
        Box::new(move |failed| {
            let _ = reply.try_send(match failed {
                None => Ok(()),
                Some(err) => Err(Refusal::new(
                    507,
                    "media_full",
                    format!("the upload could not be saved ({err}); nothing was stored"),
                )),
            });
        }),
    );
}

/// May the holder of `token` (or of no cookie) fetch upload `id`? An open
/// room's files are for anyone with the link; a private room's (invite,
/// password, a direct message) for its members only; an upload not yet
/// attached to a message for its uploader only.
pub fn fetch(
    chat: &mut Chat,
    token: Option<&str>,
    id: &str,
    now: Instant,
) -> Result<StoredUpload, Refusal> {
    let gone = || Refusal::new(404, "not_found", "no such file (it may have been deleted)");
    let upload = chat
        .store()
        .upload(id)
        .map_err(|err| Refusal::new(503, "busy", format!("could not look the file up: {err}")))?
        .ok_or_else(gone)?;
    let uid = token
        .and_then(|t| chat.sessions().live(&token_key(t), now))
        .and_then(|s| chat.session(s))
        .map(|s| s.uid.to_string());
    if upload.message_id.is_none() && uid.as_deref() != Some(upload.uid.as_str()) {
        return Err(gone());
    }
    let key = upload.room.clone();
    let r = chat
        .load_room(&key, &upload.room_name)
        .map_err(|err| Refusal::new(503, "busy", format!("could not read the room: {err}")))?;
    let c = &r.controls;
    let private = c.settings.access.is_private();
    let answer = match &uid {
        _ if !private => Ok(upload),
        Some(uid) if c.is_member(uid) && c.ban_of(uid, "", now_millis()).is_none() => Ok(upload),
        _ => Err(Refusal::new(
            403,
            "forbidden",
            format!("this file is in #{}, which is for its members only", r.name),
        )),
    };
    chat.maybe_idle(&key);
    answer
}

/// The janitor's sweep: forget up to `JANITOR_BATCH` uploads due to go
/// and the files nothing names then; answered, once that is stored, with
/// how many uploads went and the hashes of the files to delete.
pub fn sweep(
    chat: &mut Chat,
    orphan_before_ms: u64,
    reply: Sender<Result<(usize, Vec<String>), StorageError>>,
) {
    let (uploads, hashes) = match chat.store().media_garbage(orphan_before_ms, JANITOR_BATCH) {
        Ok(found) => found,
        Err(err) => {
            let _ = reply.try_send(Err(err));
            return;
        }
    };
    if uploads.is_empty() && hashes.is_empty() {
        let _ = reply.try_send(Ok((0, Vec::new())));
        return;
    }
    let count = uploads.len();
    let files = hashes.clone();
    chat.stage_media(
        MediaWrite::Forget { uploads, hashes },
        Box::new(move |failed| {
            let _ = reply.try_send(match failed {
                None => Ok((count, files)),
                Some(err) => Err(err.to_string()),
            });
        }),
    );
}
