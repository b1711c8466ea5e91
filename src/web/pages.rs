//! The pages: the login form, the chat page, `/healthz` and the embedded
//! assets, and the helpers every handler builds its answer with.

use std::io::{Cursor, Read};
use std::sync::OnceLock;

use rust_embed::RustEmbed;
use tiny_http::{Header, Request, Response};

use super::login::logged_in_user;
use super::WebContext;
use crate::protocol::check_room;

/// The files under `assets/`, compiled into the binary gzipped.
///
/// `build.rs` gzips each file of `assets/` into `$OUT_DIR/assets-gz/` (same
/// paths: `Assets::get("js/chat.js")` is `assets/js/chat.js`, gzipped), and
/// rust-embed compiles that folder in (`$OUT_DIR` is filled in by its
/// `interpolate-folder-path` feature). The page is text, and gzip makes it
/// about a third of its size (443 KB become 152 KB): the binary is 270 KB
/// smaller, the inflater below included. Every browser takes gzip, so
/// [`asset`] sends it these bytes as they are; only a client that does not
/// (curl without `--compressed`) costs an inflate ([`gunzip`]). The two
/// templates are inflated once ([`template`]).
///
/// rust-embed's own `compression` feature is not used: its files are only
/// ever handed out inflated (into memory, on first use), so there would be
/// no gzip to send as it is.
#[derive(RustEmbed)]
#[folder = "$OUT_DIR/assets-gz/"]
struct Assets;

/// The body of every response but an export's: bytes, a status and extra headers.
pub(super) type Page = Response<Cursor<Vec<u8>>>;

/// `GET /` (and `GET /login`, a typed or bookmarked address): the login
/// form, its room filled in from `?room=` (where a room
/// link sends a visitor without a session, with `invited=1`: then the form
/// says so, "You're invited to #room").
pub(super) fn login_page(query: &str) -> Page {
    let room = query_value(query.as_bytes(), "room").unwrap_or_default();
    let room = check_room(&room).unwrap_or(room);
    let invited = query_value(query.as_bytes(), "invited").is_some_and(|v| v == "1");
    let invite = match invited && !room.is_empty() {
        true => format!("You’re invited to #{room}. Pick a display name to join."),
        false => String::new(),
    };
    let code = invite_code(query.as_bytes());
    form_page(200, "", &room, "", &invite, &code)
}

/// The login form with what the user typed and, if it was refused, why.
pub(super) fn login_form(status: u16, name: &str, room: &str, error: &str) -> Page {
    form_page(status, name, room, error, "", "")
}

/// The same, keeping an invite link's code (a hidden field) through it.
pub(super) fn login_form_with(
    status: u16,
    name: &str,
    room: &str,
    error: &str,
    code: &str,
) -> Page {
    form_page(status, name, room, error, "", code)
}

/// An invite link's code (`invite=`) in a query or form, if it looks like
/// one: it rides through the login form to the room's page, which sends it.
pub(super) fn invite_code(query: &[u8]) -> String {
    let code = query_value(query, "invite").unwrap_or_default();
    match code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        true => code,
        false => String::new(),
    }
}

fn form_page(status: u16, name: &str, room: &str, error: &str, invite: &str, code: &str) -> Page {
    html(
        status,
        render(
            "login.html",
            &[
                ("name", name),
                ("room", room),
                ("error", error),
                ("invite", invite),
                ("code", code),
            ],
        ),
    )
}

/// `GET /healthz`: 200 while the database file is in place, 503 saying what
/// is wrong with it otherwise (for a load balancer or a monitor).
/// In a cluster, also 503 once Redis has been unreachable for
/// `REDIS_DOWN_AFTER`, so the load balancer drains this node.
pub(super) fn healthz(context: &WebContext) -> Page {
    if let Some(status) = &context.cluster {
        let down = status.redis_down_for();
        if down > crate::config::REDIS_DOWN_AFTER {
            let why = format!(
                "the cluster's Redis has not answered for {} s (more than {} s)\n",
                down.as_secs(),
                crate::config::REDIS_DOWN_AFTER.as_secs()
            );
            return text(503, &why).with_header(header("Retry-After", "5"));
        }
        if status.lead().is_none() && status.leader_web().is_none() {
            let why = "this node knows no leader of its cluster yet\n";
            return text(503, why).with_header(header("Retry-After", "3"));
        }
    }
    match context.db_health.problem() {
        None => text(200, "ok\n"),
        Some(problem) => text(503, &format!("{problem}\n")),
    }
}

/// 503 with `Retry-After`: the cluster cannot answer this now.
pub(super) fn unavailable(why: &str) -> Page {
    text(503, &format!("{why}\n")).with_header(header("Retry-After", "3"))
}

/// `GET /r/<room>`: the chat page, or the login form for that room when the
/// visitor has no session (so a room link can be shared).
pub(super) fn chat_page(request: &Request, path: &str, context: &WebContext) -> Page {
    let raw: String = percent_decode(&path["/r/".len()..]);
    if raw.trim().is_empty() {
        return not_found();
    }
    let room = match check_room(&raw) {
        Ok(room) => room,
        // The styled login form, saying what is wrong with the link's room
        // and letting the visitor pick another, instead of a bare 404.
        Err(rejection) => {
            let error = format!("This link's room name does not work: {}", rejection.message);
            return login_form(404, "", &raw, &error);
        }
    };
    let user = match logged_in_user(request, &room, context) {
        Ok(user) => user,
        // Logged out with an invite link: the login form keeps its code.
        Err(page) => {
            let url = request.url();
            let query = url.split_once('?').map_or("", |(_, q)| q);
            let code = invite_code(query.as_bytes());
            return match code.is_empty() || page.status_code().0 != 303 {
                true => page,
                false => redirect(&format!(
                    "/?room={}&invited=1&invite={code}",
                    encode_component(&room)
                )),
            };
        }
    };
    let ws_port = super::relay::ws_port(request, context).to_string();
    let ws_url = context.config.ws_url.as_deref().unwrap_or("");
    html(
        200,
        render(
            "chat.html",
            &[
                ("room", &room),
                ("user", &user),
                ("ws_url", ws_url),
                ("ws_port", &ws_port),
            ],
        ),
    )
}

/// `GET /assets/<path>`: an embedded file with its Content-Type, and an ETag so
/// a browser that has it already gets a bodiless 304.
///
/// A client whose `Accept-Encoding` takes gzip gets the stored gzip with
/// `Content-Encoding: gzip`; any other gets the file inflated. Both answers
/// say `Vary: Accept-Encoding`, so a cache keeps them apart. Each has an
/// ETag of its own: an ETag names the exact bytes sent, and these differ.
pub(super) fn asset(request: &Request, path: &str) -> Page {
    let name = percent_decode(&path["/assets/".len()..]);
    // Only plain relative paths: no `..`, no `.` segments, no empty segments, no
    // backslashes. rust-embed only knows the embedded files anyway, but a path
    // that could mean something else on disk is refused before it gets there.
    let safe = !name.is_empty()
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    let Some(file) = safe.then(|| Assets::get(&name)).flatten() else {
        return not_found();
    };
    let gzip = accepts_gzip(
        request
            .headers()
            .iter()
            .filter(|h| h.field.equiv("Accept-Encoding"))
            .map(|h| h.value.as_str()),
    );
    // The hash is of the stored gzip, which build.rs makes the same for the
    // same file; `-gzip` tells the two encodings' ETags apart.
    let hash: String = file.metadata.sha256_hash()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let etag = match gzip {
        true => format!("\"{hash}-gzip\""),
        false => format!("\"{hash}\""),
    };
    let fresh = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("If-None-Match") && h.value.as_str() == etag);
    let page = if fresh {
        Response::from_data(Vec::new()).with_status_code(304)
    } else if gzip {
        Response::from_data(file.data.into_owned())
            .with_header(header("Content-Type", content_type(&name)))
            .with_header(header("Content-Encoding", "gzip"))
    } else {
        Response::from_data(gunzip(&file.data))
            .with_header(header("Content-Type", content_type(&name)))
    };
    page.with_header(header("ETag", &etag))
        .with_header(header("Cache-Control", "no-cache"))
        .with_header(header("Vary", "Accept-Encoding"))
}

/// Whether a client takes gzip, from its `Accept-Encoding` values (the
/// header may come more than once): `gzip` (or `x-gzip`, its old name) is
/// listed, or else `*` is, with a quality (`;q=`) above zero or none.
/// `gzip;q=0` means "not gzip", and no header at all means plain bytes.
fn accepts_gzip<'h>(values: impl Iterator<Item = &'h str>) -> bool {
    let (mut gzip, mut any) = (None, None);
    for item in values.flat_map(|value| value.split(',')) {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        // A quality is 0 to 1 with up to three decimals: it is zero when it
        // has no digit but 0 (`0`, `0.0`, `0.000`). One that is not a
        // number at all counts as zero too: plain bytes are always safe.
        let quality = parts.find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")));
        let yes = quality.is_none_or(|q| q.bytes().any(|b| (b'1'..=b'9').contains(&b)));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(yes);
        } else if coding == "*" {
            any = Some(yes);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// An embedded file inflated back to the bytes of `assets/`.
///
/// A gzip file is a 10-byte header, the compressed (deflate) data, and an
/// 8-byte trailer: a CRC-32, then the original's length. build.rs writes
/// the plain header, so the data starts at byte 10, and the length tells
/// how large a buffer to inflate into. `miniz_oxide` does the inflating:
/// without its default features it is the decompressor alone, 13 KB of the
/// binary. Only clients that do not take gzip come here.
fn gunzip(gzip: &[u8]) -> Vec<u8> {
    const HEADER: usize = 10;
    const TRAILER: usize = 8;
    assert!(
        gzip.len() >= HEADER + TRAILER && gzip[..4] == [0x1f, 0x8b, 8, 0],
        "build.rs writes gzip with the plain header"
    );
    let (data, trailer) = gzip[HEADER..].split_at(gzip.len() - HEADER - TRAILER);
    let length = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    let mut file = vec![0; length as usize];
    let inflated = miniz_oxide::inflate::decompress_slice_iter_to_slice(
        &mut file,
        std::iter::once(data),
        false, // raw deflate: gzip's header and trailer are not zlib's
        true,
    )
    .expect("the embedded gzip inflates");
    assert_eq!(inflated, file.len(), "the gzip trailer gives the length");
    file
}

/// The type of an embedded file, by its extension. The assets are of four
/// kinds, so four lines do what a MIME table (`mime_guess`, some 60 KB of
/// the binary) would. Module scripts must be served as JavaScript, or the
/// browser refuses to run them.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Any other path.
pub(super) fn not_found() -> Page {
    html(
        404,
        "<!doctype html><meta charset=utf-8><title>Not found · natter</title>\
         <link rel=stylesheet href=/assets/css/app.css>\
         <main class=notfound><h1>Not found</h1><p>There is nothing here. \
         <a href=/>Go to the login page</a>.</p></main>"
            .to_string(),
    )
}

/// `/login` or `/logout` with a method other than `POST`.
pub(super) fn only_post() -> Page {
    text(405, "use POST\n").with_header(header("Allow", "POST"))
}

// -- building answers ---------------------------------------------------------

/// Every answer carries these. The CSP allows no inline script at all, so even
/// a bug that put user text into the page as HTML could not run it. `blob:`
/// images and media are the page's own previews of a file before it is sent.
pub(super) fn secure<R: Read>(page: Response<R>) -> Response<R> {
    page.with_header(header(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
    ))
    .with_header(header("X-Content-Type-Options", "nosniff"))
    .with_header(header("Referrer-Policy", "same-origin"))
    .with_header(header("X-Frame-Options", "DENY"))
}

pub(super) fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values here are ASCII without newlines")
}

pub(super) fn text(status: u16, body: &str) -> Page {
    Response::from_data(body.as_bytes().to_vec())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

pub(super) fn html(status: u16, body: String) -> Page {
    Response::from_data(body.into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .with_header(header("Cache-Control", "no-store"))
}

/// A small JSON answer (`/session`), never cached.
pub(super) fn json(status: u16, body: &serde_json::Value) -> Page {
    Response::from_data(body.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Cache-Control", "no-store"))
}

pub(super) fn redirect(location: &str) -> Page {
    Response::from_data(Vec::new())
        .with_status_code(303)
        .with_header(header("Location", location))
}

/// Escape text for HTML, in element content and in quoted attributes alike.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fill a template from `assets/`: each `{{key}}` becomes its escaped value.
fn render(template_name: &str, values: &[(&str, &str)]) -> String {
    let mut page = template(template_name).to_string();
    for (key, value) in values {
        page = page.replace(&format!("{{{{{key}}}}}"), &escape(value));
    }
    page
}

/// A template's text: `chat.html` or `login.html`, inflated the first time
/// it is needed and kept (some 36 KB of memory for the two). They are
/// embedded gzipped like every asset, which keeps the binary 27 KB smaller
/// than a second, plain copy would, and a page is then filled in with no
/// inflating at all.
fn template(name: &str) -> &'static str {
    static CHAT: OnceLock<String> = OnceLock::new();
    static LOGIN: OnceLock<String> = OnceLock::new();
    let cell = match name {
        "chat.html" => &CHAT,
        "login.html" => &LOGIN,
        _ => panic!("no template {name}"),
    };
    cell.get_or_init(|| {
        let file = Assets::get(name).expect("templates are embedded at build time");
        String::from_utf8_lossy(&gunzip(&file.data)).into_owned()
    })
}

// -- reading requests ---------------------------------------------------------

/// The first value of the header `name` (matched case-insensitively).
pub(super) fn first_header<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// Percent-encode a room name for a path segment or a query value.
pub(crate) fn encode_component(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The value of `key` in a query string or a form body (`a=1&b=2`), decoded.
pub(super) fn query_value(query: &[u8], key: &str) -> Option<String> {
    form_urlencoded::parse(query)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Decode `%xx` escapes (not `+`, which is literal in a path).
pub(super) fn percent_decode(text: &str) -> String {
    // form_urlencoded decodes `+` as space, so protect literal pluses first.
    let protected = text.replace('+', "%2B");
    form_urlencoded::parse(format!("x={protected}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn every_asset_inflates_to_its_file() {
        let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut count = 0;
        for name in Assets::iter() {
            let stored = Assets::get(&name).expect("listed, so embedded").data;
            let file = std::fs::read(assets.join(&*name)).expect("every asset is in assets/");
            assert_eq!(gunzip(&stored), file, "{name}");
            assert!(stored.len() < file.len(), "{name} is smaller gzipped");
            count += 1;
        }
        assert!(count > 40, "the whole of assets/ is embedded: {count}");
        assert!(template("chat.html").contains("{{room}}"));
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let takes = |values: &[&str]| accepts_gzip(values.iter().copied());
        for yes in [
            &["gzip"][..],
            &["gzip, deflate, br, zstd"],
            &["br;q=1.0, gzip;q=0.8"],
            &["GZip; Q=0.001"],
            &["x-gzip"],
            &["*"],
            &["deflate", "gzip"],
            &["*;q=0, gzip"],
        ] {
            assert!(takes(yes), "{yes:?}");
        }
        for no in [
            &[][..],
            &[""],
            &["identity"],
            &["deflate, br"],
            &["gzip;q=0"],
            &["gzip; q=0.000"],
            &["gzip;q=0, *"],
            &["*;q=0"],
            &["gzip;q=nope"],
            &["gzipped"],
        ] {
            assert!(!takes(no), "{no:?}");
        }
    }

    #[test]
    fn room_names_survive_the_url() {
        let room = "Café + Friends 100%";
        let path = encode_component(room);
        assert!(!path.contains(' ') && !path.contains('+'));
        assert_eq!(percent_decode(&path), room);
        assert_eq!(percent_decode("a+b"), "a+b");
    }
}
