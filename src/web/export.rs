//! `GET /export/<room>?format=txt|json`: the room's whole stored transcript as
//! a download, for anyone logged in (a private room's for its members only).
//!
//! An export is streamed: its own thread asks the hub for one page of
//! messages at a time (oldest first) while tiny_http writes what it has to the
//! socket, so it holds one page in memory however long the room's history,
//! and it never holds one of the page workers, however slowly the client
//! reads. Exports are capped per session and in all (`ExportSlot`).

use std::io::{self, Read};
use std::sync::Arc;

use tiny_http::{HTTPVersion, Request, Response, StatusCode};

use super::login::{cookie_token, logged_in_user};
use super::pages::{
    encode_component, header, not_found, percent_decode, query_value, secure, text, Page,
};
use super::transcript::Format;
use super::{ask, hub_unavailable, Answer, WebContext};
use crate::config::{EXPORT_RETRY_AFTER, MAX_EXPORTS_PER_SESSION, MAX_EXPORT_MESSAGES};
use crate::hub::{Ask, Event};
use crate::protocol::{check_room, ChatMessage};
use crate::session;

/// Check an export request and claim its slot; the answer is the export to
/// stream (see `on_own_thread`), or the page saying why not.
pub(super) fn start(
    request: &Request,
    path: &str,
    query: &str,
    context: &Arc<WebContext>,
) -> Answer {
    let Ok(room) = check_room(&percent_decode(&path["/export/".len()..])) else {
        return not_found().into();
    };
    if let Err(page) = logged_in_user(request, &room, context) {
        return page.into();
    }
    // A private room's transcript is for its members (`cmd::export::may_read`).
    let token = cookie_token(request).unwrap_or_default();
    let may = ask(context, |reply| {
        Event::Ask(Ask::MayRead {
            token,
            room: room.clone(),
            reply,
        })
    });
    match may {
        None => return hub_unavailable().into(),
        Some(Err(why)) => return text(403, &format!("{why}\n")).into(),
        Some(Ok(())) => {}
    }
    let format = match query_value(query.as_bytes(), "format").as_deref() {
        None | Some("txt") => Format::Text,
        Some("json") => Format::Json,
        Some(other) => {
            return text(400, &format!("unknown format {other:?}; use txt or json\n")).into()
        }
    };
    // Without chunked transfer encoding, tiny_http would have to hold the
    // whole body to announce its length.
    if *request.http_version() < HTTPVersion(1, 1) {
        return text(
            505,
            "an export is streamed in chunks, which needs HTTP/1.1\n",
        )
        .into();
    }
    let session = cookie_token(request).map_or_else(String::new, |t| session::token_key(&t));
    match ExportSlot::claim(context, session) {
        Ok(slot) => Answer::Export(Export { room, format, slot }),
        Err(refusal) => refusal.into(),
    }
}

/// An export that may start: its room, its format and its claimed slot.
pub(super) struct Export {
    room: String,
    format: Format,
    slot: ExportSlot,
}

/// `Retry-After` for an export refused for now.
fn retry_later(page: Page) -> Page {
    page.with_header(header(
        "Retry-After",
        &EXPORT_RETRY_AFTER.as_secs().to_string(),
    ))
}

/// One running export, counted in `WebContext::exports` under its session
/// (the token's key: no usable token is kept) until dropped, even by a panic.
struct ExportSlot {
    context: Arc<WebContext>,
    session: String,
}

impl ExportSlot {
    /// Count a new export, or say which cap it would pass: the session's
    /// ([`MAX_EXPORTS_PER_SESSION`], 429) or the server's (`--max-exports`, 503).
    fn claim(context: &Arc<WebContext>, session: String) -> Result<ExportSlot, Page> {
        let mut running = context.exports.lock().unwrap_or_else(|e| e.into_inner());
        let mine = running.iter().filter(|s| **s == session).count();
        if mine >= MAX_EXPORTS_PER_SESSION {
            return Err(retry_later(text(
                429,
                &format!(
                    "you already have an export running, and a session may run \
                     {MAX_EXPORTS_PER_SESSION} at a time; try again when it has finished\n"
                ),
            )));
        }
        let max = context.config.max_exports;
        if running.len() >= max {
            return Err(retry_later(text(
                503,
                &format!(
                    "the server is running {max} exports, as many as it runs at once \
                     (--max-exports); try again in a moment\n"
                ),
            )));
        }
        running.push(session.clone());
        Ok(ExportSlot {
            context: context.clone(),
            session,
        })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut running = self
            .context
            .exports
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(at) = running.iter().position(|s| *s == self.session) {
            running.swap_remove(at);
        }
    }
}

/// Hand the request to a thread of its own that streams the export. Without
/// a thread it is answered 503 here, and the slot is given back.
pub(super) fn on_own_thread(request: Request, export: Export, context: &Arc<WebContext>) {
    let for_thread = context.clone();
    let started = super::edge::on_own_thread("web-export", request, move |request| {
        stream(request, export, &for_thread);
    });
    if let Some(request) = started {
        let page = text(503, "no thread for the export; try again in a moment\n");
        let _ = request.respond(secure(retry_later(page)));
    }
}

/// Stream one export to its client; the slot is given back when this returns.
fn stream(request: Request, export: Export, context: &Arc<WebContext>) {
    let Export { room, format, slot } = export;
    let _slot = slot;
    let mut body = ExportBody::new(context.clone(), room, format);
    // The first page comes before the headers: it names the room (its first
    // spelling), and if the hub cannot give it, a status can still say so.
    if let Err(err) = body.fetch_first() {
        let page = match err.kind() {
            io::ErrorKind::TimedOut => hub_unavailable(),
            _ => text(500, &format!("{err}\n")),
        };
        let _ = request.respond(secure(page));
        return;
    }
    let room = body.room.clone();
    let extension = format.extension();
    let filename = format!("natter-{room}.{extension}");
    // No length: tiny_http sends the body in chunks as `body` makes them.
    let response = Response::new(StatusCode(200), Vec::new(), body, None, None)
        .with_header(header("Content-Type", format.content_type()))
        .with_header(header(
            "Content-Disposition",
            &format!(
                "attachment; filename=\"natter-export.{extension}\"; filename*=UTF-8''{}",
                encode_component(&filename)
            ),
        ))
        .with_header(header("Cache-Control", "no-store"));
    // If the hub fails midway, the body stops without its closing chunk, so
    // the client can tell that the download is incomplete.
    if let Err(err) = request.respond(secure(response)) {
        eprintln!("natter: the export of #{room} stopped: {err}");
    }
}

/// An export's body, made a page at a time as tiny_http reads it.
struct ExportBody {
    context: Arc<WebContext>,
    /// The room as asked, then its display name (from the first page).
    room: String,
    format: Format,
    /// The id of the last message exported (0: none yet).
    after: u64,
    /// Whether the hub said there are messages after `after`.
    more: bool,
    exported: usize,
    /// Whether `MAX_EXPORT_MESSAGES` cut the transcript short.
    truncated: bool,
    /// The first page, fetched before the headers were sent.
    first: Option<Vec<ChatMessage>>,
    /// Bytes made and not yet read, from `written` on.
    out: Vec<u8>,
    written: usize,
    done: bool,
}

impl ExportBody {
    fn new(context: Arc<WebContext>, room: String, format: Format) -> ExportBody {
        ExportBody {
            context,
            room,
            format,
            after: 0,
            more: true,
            exported: 0,
            truncated: false,
            first: None,
            out: Vec::new(),
            written: 0,
            done: false,
        }
    }

    /// Fetch the first page, and take the room's display name from it.
    fn fetch_first(&mut self) -> io::Result<()> {
        let page = self.fetch()?;
        if let Some(first) = page.first() {
            self.room = first.room.to_string();
        }
        self.first = Some(page);
        Ok(())
    }

    /// The next page from the hub, oldest first. A hub that does not answer
    /// is `TimedOut` (503 if nothing was sent yet); a storage error is other.
    fn fetch(&mut self) -> io::Result<Vec<ChatMessage>> {
        let (room, after) = (self.room.clone(), self.after);
        match ask(&self.context, |reply| {
            Event::Ask(Ask::Export { room, after, reply })
        }) {
            Some(Ok((page, more))) => {
                self.more = more;
                Ok(page)
            }
            Some(Err(err)) => Err(io::Error::other(format!(
                "could not read the history: {err}"
            ))),
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the chat did not answer",
            )),
        }
    }

    /// Make the next bytes: the start and the first page, a further page, or
    /// the end.
    fn fill(&mut self) -> io::Result<()> {
        let page = match self.first.take() {
            Some(page) => {
                self.format.write_start(&mut self.out, &self.room);
                page
            }
            None if self.more && !self.truncated => self.fetch()?,
            None => {
                self.format.write_end(&mut self.out, self.truncated);
                self.done = true;
                return Ok(());
            }
        };
        let room_left = MAX_EXPORT_MESSAGES - self.exported;
        if page.len() > room_left || (page.len() == room_left && self.more) {
            self.truncated = true;
        }
        for m in page.iter().take(room_left) {
            self.after = m.id;
            // A deleted message is gone from the transcript as from the room.
            if m.deleted {
                continue;
            }
            self.format.write_row(&mut self.out, m, self.exported == 0);
            self.exported += 1;
        }
        if page.is_empty() {
            self.more = false;
        }
        Ok(())
    }
}

impl Read for ExportBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.written == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.out.clear();
            self.written = 0;
            self.fill()?;
        }
        let n = buf.len().min(self.out.len() - self.written);
        buf[..n].copy_from_slice(&self.out[self.written..self.written + n]);
        self.written += n;
        Ok(n)
    }
}
