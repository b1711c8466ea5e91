//! `POST /upload/<room>`: a file's bytes as the raw body (not multipart),
//! streamed to disk on this thread, checked, and recorded by the hub. The
//! answer is the upload's id, which a `message` then attaches.
//!
//! In order: the Origin (a form on another site must not upload as you),
//! the cookie, `Content-Length` (required: the limit is checked before a
//! byte of the body is read), the hub's yes (in the room, allowed to speak,
//! within the limits), a slot among the uploads in flight; then the body.

use std::sync::atomic::Ordering;

use tiny_http::Request;

use super::login::{client_address, cookie_token};
use super::pages::{first_header, header, json, percent_decode, Page};
use super::{ask, WebContext};
use crate::config::{MAX_FILE_NAME_CHARS, MAX_UPLOADS_PER_PERSON, MAX_VOICE_MS};
use crate::hub::{Ask, Event};
use crate::media::{new_upload_id, Declared, Refusal, StoredUpload};
use crate::protocol::{check_room, now_millis, MediaKind};

pub(super) fn upload(request: &mut Request, path: &str, context: &WebContext) -> Page {
    match receive(request, path, context) {
        Ok(upload) => {
            let mut body =
                serde_json::to_value(upload.attachment()).expect("an attachment serializes");
            body["upload"] = upload.id.clone().into();
            json(201, &body)
        }
        Err(refusal) => refused(&refusal),
    }
}

/// A refusal as the JSON the page shows: `{"code":..,"message":..}`.
pub(super) fn refused(refusal: &Refusal) -> Page {
    let body = serde_json::json!({ "code": refusal.code, "message": refusal.message });
    let page = json(refusal.status, &body);
    match refusal.retry_after {
        Some(seconds) => page.with_header(header("Retry-After", &seconds.to_string())),
        None => page,
    }
}

fn receive(
    request: &mut Request,
    path: &str,
    context: &WebContext,
) -> Result<StoredUpload, Refusal> {
    super::login::check_form_origin(request, &context.config)
        .map_err(|_| Refusal::new(403, "forbidden", "uploads must come from natter's own page"))?;
    let room = check_room(&percent_decode(&path["/upload/".len()..]))
        .map_err(|r| Refusal::new(404, "not_found", r.message))?;
    let token =
        cookie_token(request).ok_or_else(|| Refusal::new(401, "not_logged_in", "log in first"))?;
    let size = request.body_length().ok_or_else(|| {
        Refusal::new(
            411,
            "length_required",
            "an upload needs a Content-Length (send the file whole, not chunked)",
        )
    })? as u64;
    if size == 0 {
        return Err(Refusal::new(400, "bad_request", "the file is empty"));
    }
    let declared = declared(request);
    let name = file_name(first_header(request, "X-Natter-Name"), declared);
    let duration_ms = match (declared, first_header(request, "X-Natter-Duration-Ms")) {
        (Declared::Voice, Some(ms)) => Some(
            ms.trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= MAX_VOICE_MS + 5_000)
                .ok_or_else(|| {
                    Refusal::new(
                        400,
                        "bad_request",
                        format!("X-Natter-Duration-Ms must be a number of ms up to {MAX_VOICE_MS}"),
                    )
                })?,
        ),
        _ => None,
    };
    let _slot = UploadSlot::claim(context)?;
    let ip = client_address(request, context);
    let uploader = ask(context, |reply| {
        Event::Ask(Ask::UploadCheck {
            token: token.clone(),
            room: room.clone(),
            size,
            ip,
            reply,
        })
    })
    .ok_or_else(unavailable)??;
    let _mine = PersonSlot::claim(context, &uploader.uid)?;
    let media = &context.media;
    let received = media.receive(request.as_reader(), declared, size)?;
    let upload = StoredUpload {
        id: new_upload_id().map_err(|e| Refusal::new(503, "busy", e.to_string()))?,
        hash: received.hash.clone(),
        room: uploader.key,
        room_name: uploader.room,
        uid: uploader.uid,
        name: match received.kind {
            // The name says what the bytes are (a PNG sent as "x.jpg" is a .png).
            MediaKind::Image | MediaKind::Voice => with_extension(&name, received.mime),
            MediaKind::File => name,
        },
        kind: received.kind,
        mime: received.mime.to_string(),
        size: received.size,
        width: received.width,
        height: received.height,
        duration_ms: duration_ms.filter(|_| received.kind == MediaKind::Voice),
        created_ms: now_millis(),
        message_id: None,
    };
    // From here to the row being stored, the janitor waits (`media::janitor`).
    let _held = media.lock();
    let new = media.install(&received).map_err(|err| {
        let _ = std::fs::remove_file(&received.tmp);
        Refusal::new(
            507,
            "media_full",
            format!("could not store the file ({err}); nothing was stored"),
        )
    })?;
    let recorded = ask(context, |reply| {
        Event::Ask(Ask::RecordUpload {
            token,
            upload: upload.clone(),
            reply,
        })
    });
    match recorded {
        Some(Ok(())) => Ok(upload),
        Some(Err(refusal)) => {
            if new {
                media.remove(&upload.hash);
            }
            Err(refusal)
        }
        // It may yet be stored; if not, the janitor deletes the file at the
        // next start (nothing names it).
        None => Err(unavailable()),
    }
}

fn unavailable() -> Refusal {
    Refusal::new(
        503,
        "busy",
        "the chat is not answering; try again in a moment",
    )
    .retry_after(2)
}

/// What the page says it sends: `X-Natter-Kind`, else the declared type.
fn declared(request: &Request) -> Declared {
    let content_type = first_header(request, "Content-Type").unwrap_or("");
    match first_header(request, "X-Natter-Kind").map(str::trim) {
        Some("image") => Declared::Image,
        Some("voice") => Declared::Voice,
        Some(_) => Declared::File,
        None if content_type.starts_with("image/") => Declared::Image,
        None if content_type.starts_with("audio/") => Declared::Voice,
        None => Declared::File,
    }
}

/// The file name to show and to download as: `X-Natter-Name` decoded, with
/// no path, no control characters and at most `MAX_FILE_NAME_CHARS`
/// characters (cut before the extension), or a plain one.
fn file_name(raw: Option<&str>, declared: Declared) -> String {
    let decoded = percent_decode(raw.unwrap_or(""));
    let base = decoded.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        return match declared {
            Declared::Image => "image",
            Declared::Voice => "voice note",
            Declared::File => "file",
        }
        .to_string();
    }
    if clean.chars().count() <= MAX_FILE_NAME_CHARS {
        return clean;
    }
    let (stem, ext) = match clean.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 10 => (stem, format!(".{ext}")),
        _ => (clean.as_str(), String::new()),
    };
    let keep = MAX_FILE_NAME_CHARS - ext.chars().count();
    format!("{}{ext}", stem.chars().take(keep).collect::<String>())
}

/// `name` ending in the extension of `mime`.
fn with_extension(name: &str, mime: &str) -> String {
    let ext = crate::media::extension(mime);
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    format!("{stem}.{ext}")
}

/// One of the uploads in flight (`--uploads-in-flight`); given back when
/// dropped.
struct UploadSlot<'a>(&'a WebContext);

impl<'a> UploadSlot<'a> {
    fn claim(context: &'a WebContext) -> Result<UploadSlot<'a>, Refusal> {
        let limit = context.config.media.in_flight;
        if context.uploads.fetch_add(1, Ordering::SeqCst) < limit {
            return Ok(UploadSlot(context));
        }
        context.uploads.fetch_sub(1, Ordering::SeqCst);
        Err(Refusal::new(
            503,
            "busy",
            format!("{limit} uploads are being received already; trying again shortly"),
        )
        .retry_after(2))
    }
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        self.0.uploads.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One of a person's own uploads in flight (`MAX_UPLOADS_PER_PERSON`), so
/// that one person's stalled uploads cannot hold every slot.
struct PersonSlot<'a>(&'a WebContext, String);

impl<'a> PersonSlot<'a> {
    fn claim(context: &'a WebContext, uid: &str) -> Result<PersonSlot<'a>, Refusal> {
        let mut mine = context
            .uploads_by_uid
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = mine.entry(uid.to_string()).or_insert(0);
        if *count >= MAX_UPLOADS_PER_PERSON {
            return Err(Refusal::new(
                429,
                "busy",
                format!(
                    "you are sending {MAX_UPLOADS_PER_PERSON} files already; \
                     the next one starts when one of them is done"
                ),
            )
            .retry_after(2));
        }
        *count += 1;
        Ok(PersonSlot(context, uid.to_string()))
    }
}

impl Drop for PersonSlot<'_> {
    fn drop(&mut self) {
        let mut mine = self
            .0
            .uploads_by_uid
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = mine.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                mine.remove(&self.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_controls_and_keep_their_extension() {
        assert_eq!(
            file_name(Some("..%2F..%2Fetc%2Fpasswd"), Declared::File),
            "passwd"
        );
        assert_eq!(
            file_name(Some("a%0Ab%E2%80%AEc.txt"), Declared::File),
            "abc.txt"
        );
        assert_eq!(file_name(None, Declared::Voice), "voice note");
        assert_eq!(file_name(Some(".hidden"), Declared::File), "hidden");
        let long = format!("{}.pdf", "x".repeat(300));
        let cut = file_name(Some(&long), Declared::File);
        assert_eq!(cut.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(cut.ends_with(".pdf"));
        assert_eq!(with_extension("cat.jpg", "image/png"), "cat.png");
        assert_eq!(with_extension("voice", "audio/webm"), "voice.webm");
    }
}
