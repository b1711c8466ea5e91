//! The web listener (tiny_http): pages, the form login, and the embedded assets.
//!
//! Nothing here holds chat state. A login or a page that needs to know who you
//! are asks the hub with an [`Event`] carrying a one-shot reply channel, and
//! waits at most [`HUB_REPLY_TIMEOUT`] for the answer.
//!
//! tiny_http has known gaps when it faces the open internet (no timeouts, a
//! thread per connection, no header-size limit: tiny-http #143, #221, #56).
//! natter ships it patched (`.vendor/README.md`: timeouts, a deadline for a
//! request's head, a per-address connection cap, strict body framing), the
//! chat does not depend on this listener once a page is loaded, and the
//! README's deployment section says what to put in front of it (`natter
//! nginx-config`). What can be done from here is done: every request must
//! name this server in `Host` and the login forms must come from its own
//! pages (`origin.rs`); a `POST` whose body is still in the socket and every
//! export are answered on threads of their own, never on a page worker; and a
//! panic while answering costs one request, not a worker.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use rust_embed::RustEmbed;
use serde::Serialize;
use tiny_http::{HTTPVersion, Header, Method, Request, Response, Server, StatusCode};

use crate::config::{
    Config, EXPORT_RETRY_AFTER, HUB_REPLY_TIMEOUT, MAX_EXPORTS_PER_SESSION, MAX_EXPORT_MESSAGES,
    MAX_FORM_BYTES, WEB_WORKERS,
};
use crate::hub::{Ask, Event};
use crate::protocol::{check_name, check_room, ChatMessage};
use crate::session;

/// The files under `assets/`, compiled into the binary.
#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// What every request handler needs, shared.
pub struct WebContext {
    pub to_hub: Sender<Event>,
    pub config: Config,
    /// The WebSocket listener's actual port, told to the chat page.
    pub ws_port: u16,
    /// Whether the database file is still there, for `/healthz`.
    pub db_health: Arc<crate::storage::FileHealth>,
    /// The exports running now (see `ExportSlot`).
    exports: Mutex<Vec<String>>,
}

impl WebContext {
    pub fn new(
        to_hub: Sender<Event>,
        config: Config,
        ws_port: u16,
        db_health: Arc<crate::storage::FileHealth>,
    ) -> WebContext {
        WebContext {
            to_hub,
            config,
            ws_port,
            db_health,
            exports: Mutex::new(Vec::new()),
        }
    }
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

/// Every request must name this server in its one `Host` header (see
/// `origin::host_allowed`): a page on another site that has rebound its own
/// name to this machine's address still sends its own name, and gets 421.
/// HTTP/1.1 requires exactly one `Host` (RFC 9112 section 3.2); a request
/// without one comes from no browser, and is refused too.
fn check_host(request: &Request, config: &Config) -> Result<(), Page> {
    let mut hosts = request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str());
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host,
        (None, _) => return Err(text(400, "a request needs a Host header\n")),
        (Some(_), Some(_)) => return Err(text(400, "a request may carry one Host header\n")),
    };
    if crate::origin::host_allowed(host, config) {
        return Ok(());
    }
    let message = match crate::origin::normal_host_name(host) {
        Some(name) => format!(
            "this server does not answer to the name {name}; if that is its name, \
             start natter with --allowed-host {name}\n"
        ),
        None => "this server does not answer to that Host\n".to_string(),
    };
    Err(text(421, &message))
}

/// The first value of the header `name` (matched case-insensitively).
fn first_header<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// `POST /login` and `POST /logout` decide who the browser is logged in as, so
/// they must come from natter's own pages (see `origin::form_origin_allowed`).
/// Otherwise any site could log a visitor out with a hidden form, or log them
/// in as a name of its choosing in its room, replacing their session, and
/// then read what they write there.
fn check_form_origin(request: &Request, config: &Config) -> Result<(), Page> {
    let first = |name: &'static str| first_header(request, name);
    crate::origin::form_origin_allowed(
        first("Origin"),
        first("Sec-Fetch-Site"),
        first("Host").unwrap_or(""),
        config,
    )
    .map_err(|why| text(403, &format!("{why}\n")))
}

/// The limits the patched tiny_http enforces before natter sees a request.
/// Behind a proxy (`--trust-proxy`) every connection comes from the proxy's
/// address, so a per-address cap would cap everyone together; the proxy caps
/// per address instead. A rebuilt tiny_http counts afresh: connections of the
/// one before it are not counted (it only happens after an accept failure).
fn limits(config: &Config) -> tiny_http::Limits {
    tiny_http::Limits {
        head_timeout: config.web_head_timeout,
        write_timeout: config.web_write_timeout,
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
    let first = |name: &'static str| first_header(request, name);
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
    let for_thread = context.clone();
    let answered = on_own_thread("web-body", request, move |request| {
        let _slot = slot;
        handle_caught(request, &for_thread);
    });
    // Without a thread, answer it here after all.
    if let Some(request) = answered {
        handle_caught(request, context);
    }
}

/// Run `work` on a new thread named `name`, handing it `request`. If no
/// thread can be started (near the system's limit), the request comes back
/// (`Some`) to be answered where it is: it is handed over by a channel, not moved into
/// the thread's closure, because a closure that never runs would drop it
/// unanswered. Whatever else `work` holds (a slot) is dropped, and so given
/// back, either way.
fn on_own_thread(
    name: &str,
    request: Request,
    work: impl FnOnce(Request) + Send + 'static,
) -> Option<Request> {
    let (give, take) = crossbeam_channel::bounded::<Request>(1);
    let spawned = thread::Builder::new().name(name.into()).spawn(move || {
        if let Ok(request) = take.recv() {
            work(request);
        }
    });
    match spawned {
        Ok(_) => give.send(request).err().map(|unsent| unsent.0),
        Err(_) => Some(request),
    }
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
fn handle_caught(request: Request, context: &Arc<WebContext>) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(request, context)));
}

/// The body of every response but an export's: bytes, a status and extra headers.
type Page = Response<std::io::Cursor<Vec<u8>>>;

/// What a request is answered with: a page, or an export to stream.
enum Answer {
    Page(Page),
    Export(Export),
}

impl From<Page> for Answer {
    fn from(page: Page) -> Answer {
        Answer::Page(page)
    }
}

/// `POST /login` is the one route that reads a body, so the request is
/// mutable here; every other route only looks at it.
fn route(request: &mut Request, context: &Arc<WebContext>) -> Answer {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if *request.method() == Method::Post && matches!(path, "/login" | "/logout") {
        if let Err(refusal) = check_form_origin(request, &context.config) {
            return refusal.into();
        }
    }
    let page = match (request.method(), path) {
        (Method::Get | Method::Head, "/") => login_page(query),
        (Method::Get | Method::Head, "/healthz") => match context.db_health.problem() {
            None => text(200, "ok\n"),
            Some(problem) => text(503, &format!("{problem}\n")),
        },
        (Method::Get | Method::Head, p) if p.starts_with("/assets/") => asset(request, p),
        (Method::Get | Method::Head, p) if p.starts_with("/r/") => chat_page(request, p, context),
        (Method::Get | Method::Head, p) if p.starts_with("/export/") => {
            return export(request, p, query, context)
        }
        (Method::Post, "/login") => login(request, context),
        (Method::Post, "/logout") => logout(request, context),
        (_, "/login" | "/logout") => text(405, "use POST\n").with_header(header("Allow", "POST")),
        _ => not_found(),
    };
    page.into()
}

/// Every page carries these. The CSP allows no inline script at all, so even a
/// bug that put user text into the page as HTML could not run it.
fn secure<R: Read>(page: Response<R>) -> Response<R> {
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

/// The client's address, for the limits kept per address: the peer, or behind
/// a trusted proxy the address it forwarded (see `ws::client_ip`).
fn client_address(request: &Request, context: &WebContext) -> std::net::IpAddr {
    let peer = request
        .remote_addr()
        .copied()
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let forwarded = first_header(request, "X-Forwarded-For").unwrap_or("");
    crate::ws::client_ip(peer, forwarded, context.config.trust_proxy)
}

/// Whether this server's session cookie is the `Secure` `__Host-` one.
fn secure_cookies(context: &WebContext) -> bool {
    session::secure_cookies(context.config.public_url.as_deref())
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
    let ip = client_address(request, context);
    let answer = ask(context, |reply| {
        Event::Ask(Ask::Login {
            name: name.clone(),
            room: room.clone(),
            token,
            replaces,
            ip,
            reply,
        })
    });
    match answer {
        Some(Ok(token)) => {
            redirect(&format!("/r/{}", encode_component(&room))).with_header(header(
                "Set-Cookie",
                &session::set_cookie(&token, secure_cookies(context)),
            ))
        }
        Some(Err(refusal)) => {
            let page = login_form(refusal.status(), &raw_name, &raw_room, &refusal.to_string());
            match refusal.retry_after() {
                Some(secs) => page.with_header(header("Retry-After", &secs.to_string())),
                None => page,
            }
        }
        None => hub_unavailable(),
    }
}

/// Who the session cookie belongs to. Without a live session the answer is
/// the page to send instead: the login form for `room` (so a shared room link
/// still lands there after logging in), or 503 if the hub does not answer.
fn logged_in_user(request: &Request, room: &str, context: &WebContext) -> Result<String, Page> {
    let user = match cookie_token(request) {
        Some(token) => ask(context, |reply| Event::Ask(Ask::Lookup { token, reply }))
            .ok_or_else(hub_unavailable)?,
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
/// a download, for anyone logged in.
///
/// An export is streamed: its own thread asks the hub for one page of
/// messages at a time (oldest first) while tiny_http writes what it has to the
/// socket, so it holds one page in memory however long the room's history,
/// and it never holds one of the page workers, however slowly the client
/// reads. Exports are capped per session and in all (`ExportSlot`).
fn export(request: &Request, path: &str, query: &str, context: &Arc<WebContext>) -> Answer {
    let Ok(room) = check_room(&percent_decode(&path["/export/".len()..])) else {
        return not_found().into();
    };
    if let Err(page) = logged_in_user(request, &room, context) {
        return page.into();
    }
    let format = match query_value(query, "format").as_deref() {
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
struct Export {
    room: String,
    format: Format,
    slot: ExportSlot,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Text,
    Json,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json",
        }
    }
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
        let retry = EXPORT_RETRY_AFTER.as_secs().to_string();
        let mine = running.iter().filter(|s| **s == session).count();
        if mine >= MAX_EXPORTS_PER_SESSION {
            return Err(text(
                429,
                &format!(
                    "you already have an export running, and a session may run \
                     {MAX_EXPORTS_PER_SESSION} at a time; try again when it has finished\n"
                ),
            )
            .with_header(header("Retry-After", &retry)));
        }
        let max = context.config.max_exports;
        if running.len() >= max {
            return Err(text(
                503,
                &format!(
                    "the server is running {max} exports, as many as it runs at once \
                     (--max-exports); try again in a moment\n"
                ),
            )
            .with_header(header("Retry-After", &retry)));
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

/// Hand the request to a thread of its own that streams the export, as
/// `handle_on_own_thread` does for bodies. Without a thread it is answered
/// 503 here, and the slot is given back.
fn export_on_own_thread(request: Request, export: Export, context: &Arc<WebContext>) {
    let for_thread = context.clone();
    let started = on_own_thread("web-export", request, move |request| {
        stream_export(request, export, &for_thread);
    });
    let Some(request) = started else {
        return;
    };
    let page = text(503, "no thread for the export; try again in a moment\n").with_header(header(
        "Retry-After",
        &EXPORT_RETRY_AFTER.as_secs().to_string(),
    ));
    let _ = request.respond(secure(page));
}

/// Stream one export to its client; the slot is given back when this returns.
fn stream_export(request: Request, export: Export, context: &Arc<WebContext>) {
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

    /// The next page from the hub, oldest first.
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
                self.write_start();
                page
            }
            None if self.more && !self.truncated => self.fetch()?,
            None => {
                self.write_end();
                self.done = true;
                return Ok(());
            }
        };
        let room_left = MAX_EXPORT_MESSAGES - self.exported;
        if page.len() > room_left || (page.len() == room_left && self.more) {
            self.truncated = true;
        }
        for m in page.iter().take(room_left) {
            self.write_row(m);
            self.exported += 1;
            self.after = m.id;
        }
        if page.is_empty() {
            self.more = false;
        }
        Ok(())
    }

    fn write_start(&mut self) {
        match self.format {
            Format::Text => {
                let room = transcript_text(&self.room, None);
                let _ = writeln!(self.out, "# natter transcript of #{room} (times in UTC)");
            }
            Format::Json => {
                self.out.extend_from_slice(b"{\"room\":");
                serde_json::to_writer(&mut self.out, &self.room)
                    .expect("a string always serialises");
                self.out.extend_from_slice(b",\"messages\":[");
            }
        }
    }

    fn write_row(&mut self, m: &ChatMessage) {
        match self.format {
            Format::Text => {
                let user = transcript_text(&m.user, None);
                let text = transcript_text(&m.text, Some(CONTINUATION));
                let _ = writeln!(self.out, "[{}] {user}: {text}", utc(m.ts));
            }
            Format::Json => {
                if self.exported > 0 {
                    self.out.push(b',');
                }
                let row = ExportRow {
                    id: m.id,
                    user: &m.user,
                    text: &m.text,
                    ts: m.ts,
                };
                serde_json::to_writer(&mut self.out, &row)
                    .expect("a row of strings and numbers always serialises");
            }
        }
    }

    fn write_end(&mut self) {
        match (self.format, self.truncated) {
            (Format::Text, false) => {}
            (Format::Text, true) => {
                let _ = writeln!(
                    self.out,
                    "# cut short: an export holds at most {MAX_EXPORT_MESSAGES} messages"
                );
            }
            (Format::Json, false) => self.out.extend_from_slice(b"]}"),
            (Format::Json, true) => self.out.extend_from_slice(b"],\"truncated\":true}"),
        }
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

/// One message in a JSON export, borrowed from the page: serialised straight
/// into the body, with no tree of values in between.
#[derive(Serialize)]
struct ExportRow<'a> {
    id: u64,
    user: &'a str,
    text: &'a str,
    ts: u64,
}

/// What starts a message's second and later lines in a plain-text transcript.
/// Every line of a transcript that does not start with `[` belongs to the
/// message above it, so no text can forge a line of its own.
const CONTINUATION: &str = "    ";

/// Text as it goes into a plain-text transcript. A line break (`\n`, `\r\n`,
/// a lone `\r`, U+2028, U+2029) starts a line with `continuation`, or, where
/// there may be none (names), becomes U+FFFD like every other control
/// character and the bidi controls, which could make a line look as if it
/// started elsewhere. Messages stored before today's rules may hold any of
/// these.
fn transcript_text(text: &str, continuation: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let line_break = matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue; // `\r\n` is one break: the `\n` makes it.
        }
        match (line_break, continuation) {
            (true, Some(indent)) => {
                out.push('\n');
                out.push_str(indent);
            }
            _ if line_break || is_unsafe_in_a_transcript(c) => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    out
}

/// Control characters (a tab is fine) and the bidi embedding, override and
/// isolate controls.
fn is_unsafe_in_a_transcript(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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
        let _ = context.to_hub.send(Event::Ask(Ask::Logout { token }));
    }
    let mut page = redirect("/");
    for cookie in session::clear_cookies(secure_cookies(context)) {
        page.add_header(header("Set-Cookie", &cookie));
    }
    page
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

/// Answer one request: a page here and now, or an export on its own thread.
fn handle(mut request: Request, context: &Arc<WebContext>) {
    if let Err(refusal) = check_host(&request, &context.config) {
        let _ = request.respond(secure(refusal));
        return;
    }
    match route(&mut request, context) {
        // A client that hung up before reading its answer is not our problem.
        Answer::Page(page) => drop(request.respond(secure(page))),
        Answer::Export(export) => export_on_own_thread(request, export, context),
    }
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
    fn transcript_text_keeps_every_message_on_lines_of_its_own() {
        let text = |t| transcript_text(t, Some(CONTINUATION));
        assert_eq!(text("a\nb"), "a\n    b");
        assert_eq!(text("a\r\nb\rc"), "a\n    b\n    c");
        assert_eq!(text("a\u{2028}b"), "a\n    b");
        assert_eq!(
            text("tab\tok \u{1b}[2J \u{202e}x"),
            "tab\tok \u{fffd}[2J \u{fffd}x"
        );
        assert_eq!(transcript_text("ali\nce", None), "ali\u{fffd}ce");
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
