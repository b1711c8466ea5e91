//! `GET /m/<upload>.<ext>` (and `HEAD`): an uploaded file, streamed from the
//! store on a thread of its own (a 10 MiB file to a phone on a slow link
//! takes a while, and the page workers are few).
//!
//! The headers make a file harmless even if someone opens it directly:
//! `nosniff` and the type sniffed at upload (never one a browser runs), a
//! `sandbox` CSP (an opaque origin, no scripts), and for anything that is not
//! an image or a voice note, `Content-Disposition: attachment`. Single
//! `Range` requests get 206: Safari plays audio only that way.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use tiny_http::{Request, Response, StatusCode};

use super::login::cookie_token;
use super::pages::{encode_component, first_header, header, Page};
use super::upload::refused;
use super::{ask, Slot, WebContext};
use crate::config::MAX_DOWNLOADS;
use crate::hub::{Ask, Event};
use crate::media::{extension, is_upload_id, Refusal, StoredUpload, DOWNLOAD_MIME};
use crate::protocol::MediaKind;

/// A file to send: the answer to `start`, streamed by `on_own_thread`.
pub(super) struct Download {
    upload: StoredUpload,
    file: File,
    /// The bytes to send: all of them, or the one range asked for.
    range: Option<(u64, u64)>,
    slot: Slot,
}

impl Download {
    /// The status it is sent with: 206 for a range.
    pub(super) fn status(&self) -> u16 {
        match self.range {
            Some(_) => 206,
            None => 200,
        }
    }
}

/// Check the request and open the file, or the page saying why not.
pub(super) fn start(
    request: &Request,
    path: &str,
    context: &Arc<WebContext>,
) -> Result<Download, Page> {
    let gone = || refused(&Refusal::new(404, "not_found", "no such file"));
    let (id, ext) = path["/m/".len()..].split_once('.').ok_or_else(gone)?;
    if !is_upload_id(id) {
        return Err(gone());
    }
    let token = cookie_token(request);
    let answer = ask(context, |reply| {
        Event::Ask(Ask::Media {
            token,
            id: id.to_string(),
            reply,
        })
    });
    let upload = match answer {
        None => return Err(super::hub_unavailable()),
        Some(Err(refusal)) => return Err(refused(&refusal)),
        Some(Ok(upload)) => upload,
    };
    if ext != extension(&upload.mime) {
        return Err(gone());
    }
    let etag = format!("\"{}\"", upload.hash);
    if first_header(request, "If-None-Match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Err(with_file_headers(
            Response::from_data(Vec::new()).with_status_code(304),
            &upload,
        ));
    }
    let file = File::open(context.media.path_of(&upload.hash)).map_err(|_| {
        refused(&Refusal::new(
            404,
            "not_found",
            "the file is missing from the server's disk",
        ))
    })?;
    let size = upload.size;
    let range = match first_header(request, "Range").map(|r| parse_range(r, size)) {
        None | Some(RangeAsked::Ignored) => None,
        Some(RangeAsked::One(from, to)) => Some((from, to)),
        Some(RangeAsked::Unsatisfiable) => {
            return Err(Response::from_data(Vec::new())
                .with_status_code(416)
                .with_header(header("Content-Range", &format!("bytes */{size}"))));
        }
    };
    let slot = Slot::claim(&context.downloads, MAX_DOWNLOADS).ok_or_else(|| {
        refused(&Refusal::new(503, "busy", "too many downloads at once; try again").retry_after(2))
    })?;
    Ok(Download {
        upload,
        file,
        range,
        slot,
    })
}

/// Stream the file on a thread of its own; without one, answer 503.
pub(super) fn on_own_thread(request: Request, download: Download) {
    let started = super::edge::on_own_thread("web-media", request, move |request| {
        send(request, download);
    });
    if let Some(request) = started {
        let page = refused(&Refusal::new(503, "busy", "no thread to send the file").retry_after(2));
        let _ = request.respond(page);
    }
}

fn send(request: Request, download: Download) {
    let Download {
        upload,
        mut file,
        range,
        slot,
    } = download;
    let _slot = slot;
    let size = upload.size;
    let (status, from, length) = match range {
        Some((from, to)) => (206, from, to - from + 1),
        None => (200, 0, size),
    };
    if from > 0 && file.seek(SeekFrom::Start(from)).is_err() {
        let _ = request.respond(refused(&Refusal::new(
            500,
            "busy",
            "could not read the file",
        )));
        return;
    }
    let mut response = Response::new(
        StatusCode(status),
        Vec::new(),
        file.take(length),
        Some(length as usize),
        None,
    )
    // Sent with its length, never chunked (tiny_http chunks bodies past
    // 32 KiB by default): players and download bars want the length.
    .with_chunked_threshold(usize::MAX);
    if let Some((from, to)) = range {
        response = response.with_header(header(
            "Content-Range",
            &format!("bytes {from}-{to}/{size}"),
        ));
    }
    // A client that hung up midway is its own loss.
    let _ = request.respond(with_file_headers(response, &upload));
}

/// The headers every answer about a file carries (see the module's comment).
fn with_file_headers<R: Read>(response: Response<R>, upload: &StoredUpload) -> Response<R> {
    let inline = matches!(upload.kind, MediaKind::Image | MediaKind::Voice);
    let (mime, disposition) = match inline {
        true => (upload.mime.as_str(), "inline"),
        false => (DOWNLOAD_MIME, "attachment"),
    };
    response
        .with_header(header("Content-Type", mime))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header(
            "Content-Disposition",
            &format!(
                "{disposition}; filename*=UTF-8''{}",
                encode_component(&upload.name)
            ),
        ))
        .with_header(header(
            "Content-Security-Policy",
            "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; frame-ancestors 'none'",
        ))
        .with_header(header("Cross-Origin-Resource-Policy", "same-origin"))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header(
            "Cache-Control",
            "private, max-age=31536000, immutable",
        ))
        .with_header(header("ETag", &format!("\"{}\"", upload.hash)))
        .with_header(header("Accept-Ranges", "bytes"))
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq)]
enum RangeAsked {
    /// One range, first and last byte (inclusive).
    One(u64, u64),
    /// Nothing in the file: 416.
    Unsatisfiable,
    /// Not bytes, several ranges, or malformed: the whole file, 200 (RFC
    /// 9110 lets a server ignore a Range it does not serve).
    Ignored,
}

fn parse_range(value: &str, size: u64) -> RangeAsked {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsked::Ignored;
    };
    if spec.contains(',') {
        return RangeAsked::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Ignored;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // `bytes=-500`: the last 500 bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => {
            RangeAsked::One(size.saturating_sub(n), size - 1)
        }
        (true, _, _) => RangeAsked::Unsatisfiable,
        (false, Some(from), _) if from >= size => RangeAsked::Unsatisfiable,
        (false, Some(from), None) if last.trim().is_empty() => RangeAsked::One(from, size - 1),
        (false, Some(from), Some(to)) if to >= from => RangeAsked::One(from, to.min(size - 1)),
        _ => RangeAsked::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAsked::*;
        assert_eq!(parse_range("bytes=0-1", 100), One(0, 1));
        assert_eq!(parse_range("bytes=10-", 100), One(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), One(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), One(90, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
        assert_eq!(parse_range("bytes=5-2", 100), Ignored);
    }
}
