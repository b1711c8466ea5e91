//! The web listener (tiny_http): pages, the form login, and the embedded assets.
//!
//! Nothing here holds chat state. A login or a page that needs to know who you
//! are asks the hub with an [`Event`] carrying a one-shot reply channel, and
//! waits at most [`HUB_REPLY_TIMEOUT`] for the answer.
//!
//! tiny_http has known gaps when it faces the open internet (no read timeouts,
//! a thread per connection, no header-size limit: tiny-http #143, #221, #56).
//! The chat does not depend on this listener once a page is loaded, and the
//! README's deployment section says what to put in front of it (`natter
//! nginx-config`). What can be done from here is done: a request whose body is
//! still in the socket is answered on a thread of its own, never on a page
//! worker, and a panic while answering costs one request, not a worker.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use rust_embed::RustEmbed;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::config::{Config, HUB_REPLY_TIMEOUT, MAX_EXPORT_MESSAGES, MAX_FORM_BYTES, WEB_WORKERS};
use crate::hub::Event;
use crate::protocol::{check_name, check_room};
use crate::session;

/// The files under `assets/`, compiled into the binary.
#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// What every request handler needs, shared read-only.
pub struct WebContext {
    pub to_hub: Sender<Event>,
    pub config: Config,
    /// The WebSocket listener's actual port, told to the chat page.
    pub ws_port: u16,
}

/// Longest pause before the web listener is rebuilt after a failure.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// The tiny_http server currently running, so `stop` can reach it.
#[derive(Default)]
pub struct WebControl {
    current: Mutex<Option<Arc<Server>>>,
    stopping: AtomicBool,
}

impl WebControl {
    /// Stop serving pages: wake every worker so that `supervise` returns.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(server) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            for _ in 0..WEB_WORKERS {
                server.unblock();
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Supervisors to wake when tiny_http panics (see `watch_for_tiny_http_panics`).
static TINY_HTTP_PANICKED: Mutex<Vec<Sender<()>>> = Mutex::new(Vec::new());

/// tiny_http's accept thread can die without a word: it `unwrap`s a socket
/// clone, which panics when the process is out of file descriptors. Nothing
/// then accepts again. The only sign is the panic, so a panic hook (installed
/// once, keeping the default message) tells every supervisor to rebuild.
fn watch_for_tiny_http_panics(supervisor: Sender<()>) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            if info
                .location()
                .is_some_and(|l| l.file().contains("tiny_http"))
            {
                let mut supervisors = TINY_HTTP_PANICKED.lock().unwrap_or_else(|e| e.into_inner());
                // Forget supervisors that have ended; wake the others.
                supervisors.retain(|s| !matches!(s.try_send(()), Err(e) if e.is_disconnected()));
            }
        }));
    });
    let mut supervisors = TINY_HTTP_PANICKED.lock().unwrap_or_else(|e| e.into_inner());
    supervisors.push(supervisor);
}

/// Run the web listener until `control.stop()`, rebuilding it if it fails.
///
/// Why rebuild? tiny_http's accept thread gives up for good on the first
/// `accept` error, or panics (see `watch_for_tiny_http_panics`). Run out of
/// file descriptors for a moment (a connection flood) and the pages would be
/// gone until a restart. So a failure ends this tiny_http, and this loop starts
/// a fresh one on a clone of the same listening socket, after a short pause.
pub fn supervise(listener: TcpListener, context: Arc<WebContext>, control: Arc<WebControl>) {
    let (panicked, on_panic) = crossbeam_channel::bounded(1);
    watch_for_tiny_http_panics(panicked);
    let mut backoff = Duration::from_millis(10);
    while !control.stopping() {
        let started = listener
            .try_clone()
            .map_err(crate::Error::from)
            .and_then(|clone| {
                Server::from_listener_with_limits(clone, None, limits(&context.config))
            });
        let server = match started {
            Ok(server) => Arc::new(server),
            Err(err) => {
                eprintln!("natter: cannot start the web listener: {err}; retrying");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
                continue;
            }
        };
        *control.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(server.clone());
        // `stop` may have run just before `current` was set; it would have
        // missed this server. Checking again after setting it closes that gap.
        if control.stopping() {
            break;
        }
        let started_at = std::time::Instant::now();
        let (ended, any_ended) = crossbeam_channel::bounded(WEB_WORKERS);
        let workers: Vec<_> = (0..WEB_WORKERS)
            .filter_map(|i| {
                let (server, context, ended) = (server.clone(), context.clone(), ended.clone());
                thread::Builder::new()
                    .name(format!("web-{i}"))
                    .spawn(move || {
                        serve(&server, &context);
                        let _ = ended.send(());
                    })
                    .ok()
            })
            .collect();
        // A worker ending means either `stop` or a failed accept.
        crossbeam_channel::select! {
            recv(any_ended) -> _ => {}
            recv(on_panic) -> _ => {}
        }
        for _ in 0..workers.len() {
            server.unblock();
        }
        for worker in workers {
            let _ = worker.join();
        }
        if started_at.elapsed() > MAX_RESTART_BACKOFF * 10 {
            backoff = Duration::from_millis(10); // It had been healthy for a while.
        }
        if !control.stopping() {
            eprintln!("natter: the web listener failed; restarting it in {backoff:?}");
            thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
        }
    }
}

/// The limits the patched tiny_http enforces before natter sees a request.
/// Behind a proxy (`--trust-proxy`) every connection comes from the proxy's
/// address, so a per-address cap would cap everyone together; the proxy caps
/// per address instead. A rebuilt tiny_http counts afresh: connections of the
/// one before it are not counted (it only happens after an accept failure).
fn limits(config: &Config) -> tiny_http::Limits {
    tiny_http::Limits {
        head_timeout: config.web_head_timeout,
        max_connections_per_address: match config.trust_proxy {
            true => usize::MAX,
            false => config.max_web_per_ip,
        },
    }
}

/// Answer requests until the server is unblocked or fails. Several threads run
/// this on one `Server`; each request is handled start to finish by one of them.
fn serve(server: &Server, context: &Arc<WebContext>) {
    for request in server.incoming_requests() {
        if needs_own_thread(&request) {
            handle_on_own_thread(request, context);
        } else {
            handle_caught(request, context);
        }
    }
}

/// Whether a request goes to a body thread (see `handle_on_own_thread`): a
/// `POST` whose body is still in the socket. Only `POST /login` ever reads a
/// body, so no other method needs a thread for one; a `GET` announcing a body
/// (refused by the patched tiny_http anyway) or a `DELETE` with a chunked one
/// is answered by the page worker without a byte of its body being read.
fn needs_own_thread(request: &Request) -> bool {
    *request.method() == Method::Post && !body_in_memory(request)
}

/// tiny_http reads a request body into memory before handing the request over
/// only when its `Content-Length` is at most this (and there is no `Expect`).
const TINY_HTTP_BUFFERED_BODY: usize = 1024;

/// Requests whose body is still in the socket that may be answered on threads
/// of their own at once (see `handle_on_own_thread`). Past this they are
/// answered by the page worker that received them, as any other request.
const MAX_BODY_THREADS: usize = 256;

/// Body threads running now, in this process.
static BODY_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Whether tiny_http has already read this request's whole body into memory.
/// This mirrors tiny_http 0.12's `new_request`: a `Content-Length` of at most
/// 1 KiB without `Expect` is read in tiny_http's own connection thread; every
/// other body (larger, chunked, `Expect: 100-continue`, a `Connection: upgrade`
/// stream) is still in the socket when the request reaches us.
fn body_in_memory(request: &Request) -> bool {
    let first = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str())
    };
    if first("Transfer-Encoding").is_some()
        || first("Connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
    {
        return false;
    }
    match request.body_length() {
        None | Some(0) => true,
        Some(n) => n <= TINY_HTTP_BUFFERED_BODY && first("Expect").is_none(),
    }
}

/// Answer a request whose body is still in the socket on a thread of its own.
///
/// Such a request can hold whichever thread answers it for as long as the
/// client likes, with no timeout we can set: reading the body waits for bytes
/// a lying `Content-Length` promised, and after the answer, dropping the request
/// makes tiny_http read and discard the rest of the announced body (its
/// `EqualReader`). On a page worker, four such clients stopped every page.
/// Browsers never send a login form this large, so only abuse lands here.
fn handle_on_own_thread(request: Request, context: &Arc<WebContext>) {
    let Some(slot) = BodyThread::claim() else {
        return handle_caught(request, context);
    };
    let (give, take) = crossbeam_channel::bounded::<Request>(1);
    let for_thread = context.clone();
    let spawned = thread::Builder::new()
        .name("web-body".into())
        .spawn(move || {
            let _slot = slot;
            if let Ok(request) = take.recv() {
                handle_caught(request, &for_thread);
            }
        });
    // Without a thread, or if it is somehow gone, answer it here after all.
    let request = match spawned {
        Ok(_) => match give.send(request) {
            Ok(()) => return,
            Err(unsent) => unsent.0,
        },
        Err(_) => request,
    };
    handle_caught(request, context);
}

/// One of the `MAX_BODY_THREADS`; given back when dropped, even by a panic.
struct BodyThread;

impl BodyThread {
    fn claim() -> Option<BodyThread> {
        if BODY_THREADS.fetch_add(1, Ordering::SeqCst) < MAX_BODY_THREADS {
            Some(BodyThread)
        } else {
            BODY_THREADS.fetch_sub(1, Ordering::SeqCst);
            None
        }
    }
}

impl Drop for BodyThread {
    fn drop(&mut self) {
        BODY_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answer one request; a panic while doing so costs that request only.
///
/// tiny_http itself can panic after the answer: to discard an unread body it
/// allocates a buffer of the announced size, and a `Content-Length` of
/// `usize::MAX` is a "capacity overflow". A page worker that died that way was
/// never replaced, so four such requests left nobody to answer pages.
fn handle_caught(request: Request, context: &WebContext) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(request, context)));
}

/// The body of every response: bytes, a status and extra headers.
type Page = Response<std::io::Cursor<Vec<u8>>>;

fn route(request: &Request, context: &WebContext) -> Page {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let page = match (request.method(), path) {
        (Method::Get | Method::Head, "/") => login_page(query),
        (Method::Get | Method::Head, "/healthz") => text(200, "ok\n"),
        (Method::Get | Method::Head, p) if p.starts_with("/assets/") => asset(request, p),
        (Method::Get | Method::Head, p) if p.starts_with("/r/") => chat_page(request, p, context),
        (Method::Get | Method::Head, p) if p.starts_with("/export/") => {
            export(request, p, query, context)
        }
        (Method::Post, "/logout") => logout(request, context),
        (_, "/login" | "/logout") if *request.method() != Method::Post => {
            text(405, "use POST\n").with_header(header("Allow", "POST"))
        }
        _ => not_found(),
    };
    secure(page)
}

/// Every page carries these. The CSP allows no inline script at all, so even a
/// bug that put user text into the page as HTML could not run it.
fn secure(page: Page) -> Page {
    page.with_header(header(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ))
    .with_header(header("X-Content-Type-Options", "nosniff"))
    .with_header(header("Referrer-Policy", "same-origin"))
    .with_header(header("X-Frame-Options", "DENY"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values here are ASCII without newlines")
}

fn text(status: u16, body: &str) -> Page {
    Response::from_data(body.as_bytes().to_vec())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn html(status: u16, body: String) -> Page {
    Response::from_data(body.into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/html; charset=utf-8"))
        .with_header(header("Cache-Control", "no-store"))
}

fn redirect(location: &str) -> Page {
    Response::from_data(Vec::new())
        .with_status_code(303)
        .with_header(header("Location", location))
}

fn not_found() -> Page {
    html(
        404,
        "<!doctype html><meta charset=utf-8><title>Not found · natter</title>\
         <link rel=stylesheet href=/assets/css/app.css>\
         <main class=notfound><h1>Not found</h1><p>There is nothing here. \
         <a href=/>Go to the login page</a>.</p></main>"
            .to_string(),
    )
}

/// Escape text for HTML, in element content and in quoted attributes alike.
fn escape(text: &str) -> String {
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
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let file = Assets::get(template).expect("templates are embedded at build time");
    let mut page = String::from_utf8_lossy(&file.data).into_owned();
    for (key, value) in values {
        page = page.replace(&format!("{{{{{key}}}}}"), &escape(value));
    }
    page
}

/// Percent-encode a room name for a path segment or a query value.
fn encode_component(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn cookie_token(request: &Request) -> Option<String> {
    request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Cookie"))
        .find_map(|h| session::token_from_cookies(h.value.as_str()))
}

/// Ask the hub something and wait for the answer, or give up with `None`.
fn ask<T>(context: &WebContext, make: impl FnOnce(Sender<T>) -> Event) -> Option<T> {
    let (reply, answer) = crossbeam_channel::bounded(1);
    context.to_hub.send(make(reply)).ok()?;
    answer.recv_timeout(HUB_REPLY_TIMEOUT).ok()
}

fn hub_unavailable() -> Page {
    text(503, "the chat is not answering; try again in a moment\n")
        .with_header(header("Retry-After", "5"))
}

// -- pages --------------------------------------------------------------------

fn login_page(query: &str) -> Page {
    let room = query_value(query, "room").unwrap_or_default();
    login_form(200, "", &room, "")
}

fn login_form(status: u16, name: &str, room: &str, error: &str) -> Page {
    html(
        status,
        render(
            "login.html",
            &[("name", name), ("room", room), ("error", error)],
        ),
    )
}

/// `POST /login`: check the form, ask the hub for a session, set the cookie,
/// and send the browser to its room. A mistake re-renders the form with what
/// the user typed and a message saying what to fix.
fn login(request: &mut Request, context: &WebContext) -> Page {
    let mut body = Vec::new();
    let limit = MAX_FORM_BYTES as u64;
    // An announced body over the limit is refused before a byte of it is read.
    if request.body_length().is_some_and(|n| n > MAX_FORM_BYTES) {
        return text(
            413,
            &format!("the login form is limited to {MAX_FORM_BYTES} bytes\n"),
        );
    }
    if let Err(err) = request.as_reader().take(limit + 1).read_to_end(&mut body) {
        return text(400, &format!("could not read the form: {err}\n"));
    }
    if body.len() as u64 > limit {
        return text(
            413,
            &format!("the login form is limited to {MAX_FORM_BYTES} bytes\n"),
        );
    }
    let field = |key: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (raw_name, raw_room) = (field("name"), field("room"));
    let name = match check_name(&raw_name) {
        Ok(name) => name,
        Err(message) => return login_form(400, &raw_name, &raw_room, &message),
    };
    let room = match check_room(&raw_room) {
        Ok(room) => room,
        Err(rejection) => return login_form(400, &raw_name, &raw_room, &rejection.message),
    };
    let token = match session::new_token() {
        Ok(token) => token,
        Err(err) => {
            eprintln!("natter: no randomness for a session token: {err}");
            return text(500, "could not create a session\n");
        }
    };
    let replaces = cookie_token(request);
    let answer = ask(context, |reply| Event::Login {
        name: name.clone(),
        room: room.clone(),
        token,
        replaces,
        reply,
    });
    match answer {
        Some(Ok(token)) => redirect(&format!("/r/{}", encode_component(&room)))
            .with_header(header("Set-Cookie", &session::set_cookie(&token))),
        Some(Err(message)) => login_form(400, &raw_name, &raw_room, &message),
        None => hub_unavailable(),
    }
}

/// Who the session cookie belongs to. Without a live session the answer is
/// the page to send instead: the login form for `room` (so a shared room link
/// still lands there after logging in), or 503 if the hub does not answer.
fn logged_in_user(request: &Request, room: &str, context: &WebContext) -> Result<String, Page> {
    let user = match cookie_token(request) {
        Some(token) => {
            ask(context, |reply| Event::Lookup { token, reply }).ok_or_else(hub_unavailable)?
        }
        None => None,
    };
    user.ok_or_else(|| redirect(&format!("/?room={}", encode_component(room))))
}

/// `GET /r/<room>`: the chat page, or the login form for that room when the
/// visitor has no session (so a room link can be shared).
fn chat_page(request: &Request, path: &str, context: &WebContext) -> Page {
    let raw: String = percent_decode(&path["/r/".len()..]);
    let Ok(room) = check_room(&raw) else {
        return not_found();
    };
    let user = match logged_in_user(request, &room, context) {
        Ok(user) => user,
        Err(page) => return page,
    };
    let ws_port = context.ws_port.to_string();
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

/// Decode `%xx` escapes (not `+`, which is literal in a path).
fn percent_decode(text: &str) -> String {
    // form_urlencoded decodes `+` as space, so protect literal pluses first.
    let protected = text.replace('+', "%2B");
    form_urlencoded::parse(format!("x={protected}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `GET /export/<room>?format=txt|json`: the room's whole stored transcript as
/// a download, for anyone logged in. The hub hands it over a page at a time
/// (newest first), so a long export never holds the chat up for long.
fn export(request: &Request, path: &str, query: &str, context: &WebContext) -> Page {
    let Ok(room) = check_room(&percent_decode(&path["/export/".len()..])) else {
        return not_found();
    };
    if let Err(page) = logged_in_user(request, &room, context) {
        return page;
    }
    let json = match query_value(query, "format").as_deref() {
        None | Some("txt") => false,
        Some("json") => true,
        Some(other) => return text(400, &format!("unknown format {other:?}; use txt or json\n")),
    };
    let mut pages = Vec::new();
    let (mut before, mut count) = (u64::MAX, 0);
    loop {
        let page = ask(context, |reply| Event::Export {
            room: room.clone(),
            before,
            reply,
        });
        let (messages, more) = match page {
            Some(Ok(page)) => page,
            Some(Err(err)) => return text(500, &format!("could not read the history: {err}\n")),
            None => return hub_unavailable(),
        };
        count += messages.len();
        before = messages.first().map_or(0, |m| m.id);
        pages.push(messages);
        if !more || count >= MAX_EXPORT_MESSAGES {
            break;
        }
    }
    let messages: Vec<_> = pages.into_iter().rev().flatten().collect();
    // The room's display name (its first spelling), when it has messages.
    let room = messages.first().map_or(room, |m| m.room.to_string());
    let (body, kind, extension) = if json {
        let rows: Vec<_> = messages
            .iter()
            .map(|m| serde_json::json!({"id": m.id, "user": &*m.user, "text": m.text, "ts": m.ts}))
            .collect();
        let body = serde_json::json!({"room": room, "messages": rows});
        (body.to_string(), "application/json", "json")
    } else {
        let mut body = format!("# natter transcript of #{room} (times in UTC)\n");
        for m in &messages {
            body.push_str(&format!("[{}] {}: {}\n", utc(m.ts), m.user, m.text));
        }
        (body, "text/plain; charset=utf-8", "txt")
    };
    let filename = format!("natter-{room}.{extension}");
    Response::from_data(body.into_bytes())
        .with_header(header("Content-Type", kind))
        .with_header(header(
            "Content-Disposition",
            &format!(
                "attachment; filename=\"natter-export.{extension}\"; filename*=UTF-8''{}",
                encode_component(&filename)
            ),
        ))
        .with_header(header("Cache-Control", "no-store"))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for milliseconds since the epoch, without a
/// date library: days to a civil date by Howard Hinnant's algorithm.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `POST /logout`: end the session (its sockets close with 1008) and forget
/// the cookie.
fn logout(request: &Request, context: &WebContext) -> Page {
    if let Some(token) = cookie_token(request) {
        let _ = context.to_hub.send(Event::Logout { token });
    }
    redirect("/").with_header(header("Set-Cookie", &session::clear_cookie()))
}

/// `GET /assets/<path>`: an embedded file with its Content-Type, and an ETag so
/// a browser that has it already gets a bodiless 304.
fn asset(request: &Request, path: &str) -> Page {
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
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let fresh = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("If-None-Match") && h.value.as_str() == etag);
    let page = if fresh {
        Response::from_data(Vec::new()).with_status_code(304)
    } else {
        Response::from_data(file.data.into_owned())
            .with_header(header("Content-Type", file.metadata.mimetype()))
    };
    page.with_header(header("ETag", &etag))
        .with_header(header("Cache-Control", "no-cache"))
}

/// Answer one request. `POST /login` is the one route that reads a body, so it
/// needs the request mutably; every other route only looks at it.
fn handle(mut request: Request, context: &WebContext) {
    let response = if *request.method() == Method::Post && request.url() == "/login" {
        secure(login(&mut request, context))
    } else {
        route(&request, context)
    };
    // A client that hung up before reading its answer is not our problem.
    let _ = request.respond(response);
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
    fn utc_dates_are_right() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_647_448_708), "2026-11-25 22:57:28");
    }

    #[test]
    fn only_a_post_with_its_body_in_the_socket_gets_a_body_thread() {
        use tiny_http::TestRequest;
        let chunked = || header("Transfer-Encoding", "chunked");
        for method in [Method::Get, Method::Head, Method::Options, Method::Delete] {
            let request: Request = TestRequest::new()
                .with_method(method.clone())
                .with_header(chunked())
                .into();
            assert!(!needs_own_thread(&request), "{method} with a chunked body");
        }
        let post: Request = TestRequest::new()
            .with_method(Method::Post)
            .with_header(chunked())
            .into();
        assert!(needs_own_thread(&post));
        let small: Request = TestRequest::new()
            .with_method(Method::Post)
            .with_body("name=a&room=b")
            .into();
        assert!(
            !needs_own_thread(&small),
            "a small body is already in memory"
        );
    }

    #[test]
    fn web_connections_count_per_address_and_ipv6_per_64() {
        let group = |ip: &str| tiny_http::address_group(ip.parse().unwrap());
        assert_eq!(group("192.0.2.7"), group("192.0.2.7"));
        assert_ne!(group("192.0.2.7"), group("192.0.2.8"));
        // One IPv6 subscriber picks any address in its /64.
        assert_eq!(group("2001:db8:1:2:aaaa::1"), group("2001:db8:1:2:bbbb::2"));
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        assert_eq!(group("::ffff:192.0.2.7"), group("192.0.2.7"));
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
