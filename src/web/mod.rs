//! The web listener (tiny_http): pages, the form login, the embedded assets
//! and the streamed export.
//!
//! Nothing here holds chat state. A login, or a page that needs to know who
//! you are, asks the hub with an [`Event::Ask`] carrying a one-shot reply
//! channel, and waits at most [`HUB_REPLY_TIMEOUT`] for the answer.
//!
//! Read it in this order: the route table below and `handle`; then `pages.rs`
//! (the login form, the chat page, assets, and the helpers that build
//! responses), `login.rs` (logging in and out) and `export.rs` (a room's
//! transcript as a download, written out by `transcript.rs`). `edge.rs` is
//! the edge a first reading can skip: the defences that keep the open
//! internet from taking the pages down, each with the attack it answers.

mod account;
mod bots;
mod directory;
mod edge;
mod export;
mod login;
mod media;
mod pages;
mod relay;
mod transcript;
mod upload;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::Sender;
use tiny_http::Method::{Get, Head, Post};
use tiny_http::{Request, Server};

use crate::config::{Config, HUB_REPLY_TIMEOUT, WEB_WORKERS};
use crate::hub::Event;
use crate::metrics::{Metrics, Route};

pub(crate) use pages::encode_component;
use pages::{secure, Page};
pub(crate) use transcript::utc;

/// Every route: the method, the path, and the handler that answers it.
///
/// `POST /login` is the one route that reads a body, so the request is
/// mutable here; every other route only looks at it. An export is the one
/// answer that is not a page: it is streamed from a thread of its own.
fn route(request: &mut Request, context: &Arc<WebContext>) -> Answer {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    match (request.method(), path) {
        (Get | Head, "/") => pages::login_page(query).into(),
        (Get | Head, "/healthz") => pages::healthz(context).into(),
        (Get | Head, p) if p.starts_with("/assets/") => pages::asset(request, p).into(),
        (Get | Head, p) if p.starts_with("/r/") => pages::chat_page(request, p, context).into(),
        (Get | Head, p) if p.starts_with("/export/") => export::start(request, p, query, context),
        (Get | Head, p) if p.starts_with("/m/") => match media::start(request, p, context) {
            Ok(download) => Answer::Media(download),
            Err(page) => page.into(),
        },
        (Post, p) if p.starts_with("/upload/") => upload::upload(request, p, context).into(),
        (Post, p) if p.starts_with("/hooks/") => bots::hook(request, p, context).into(),
        (Get | Head, "/api/v1/ws") => bots::ws_url(request, context).into(),
        (Get | Head | Post, p) if p.starts_with("/api/v1/rooms/") => {
            match bots::messages(request, p, query, context) {
                bots::Answer::Page(page) => page.into(),
                bots::Answer::Poll(poll) => Answer::Poll(poll),
            }
        }
        (Get | Head, "/session") => login::session_status(request, context).into(),
        (Get | Head, "/rooms") => directory::page(request, query, context).into(),
        (Get | Head, "/login") => pages::login_page(query).into(),
        (Post, "/login") => login::login(request, context).into(),
        (Post, "/logout") => login::logout(request, context).into(),
        (Post, "/account/claim") => account::claim(request, context).into(),
        (Post, "/account/logout-all") => account::logout_all(request, context).into(),
        (Post, "/account/password") => account::password(request, context).into(),
        (Post, "/account/profile") => account::profile(request, context).into(),
        (Post, "/account/release") => account::release(request, context).into(),
        (Get | Head, "/account/sessions") => account::sessions(request, context).into(),
        (Get | Head, p) if p.starts_with("/u/") => account::card(request, p, query, context).into(),
        (_, "/login" | "/logout") => pages::only_post().into(),
        (_, p) if p.starts_with("/upload/") || p.starts_with("/hooks/") => {
            pages::only_post().into()
        }
        (_, p) if p.starts_with("/account/") && p != "/account/sessions" => {
            pages::only_post().into()
        }
        _ => pages::not_found().into(),
    }
}

/// Answer one request: a page here and now, or an export on its own thread.
/// A request that does not name this server in `Host` gets no further.
///
/// Each answer is counted by its route's fixed label and its status
/// (`natter_http_requests_total`); an export or a file by the status it
/// starts with.
fn handle(mut request: Request, context: &Arc<WebContext>) {
    let url = request.url();
    let label = Route::of(url.split_once('?').map_or(url, |(path, _)| path));
    let metrics = &context.metrics;
    if let Err(refusal) = edge::check_host(&request, &context.config) {
        metrics.answered(label, refusal.status_code().0);
        let _ = request.respond(secure(refusal));
        return;
    }
    let path = url.split_once('?').map_or(url, |(path, _)| path);
    if relay::forwards(path, context) {
        metrics.answered(label, 200);
        return relay::on_own_thread(request, context);
    }
    match route(&mut request, context) {
        // A client that hung up before reading its answer is not our problem.
        Answer::Page(page) => {
            metrics.answered(label, page.status_code().0);
            drop(request.respond(secure(page)))
        }
        Answer::Export(export) => {
            metrics.answered(label, 200);
            export::on_own_thread(request, export, context)
        }
        // A file carries its own headers (a sandbox, not the page's CSP).
        Answer::Media(download) => {
            metrics.answered(label, download.status());
            media::on_own_thread(request, download)
        }
        // A read of the API, which may wait: counted once answered.
        Answer::Poll(poll) => bots::on_own_thread(request, poll, context),
    }
}

/// What a request is answered with: a page, or an export to stream.
enum Answer {
    Page(Page),
    Export(export::Export),
    Media(media::Download),
    Poll(bots::Poll),
}

impl From<Page> for Answer {
    fn from(page: Page) -> Answer {
        Answer::Page(page)
    }
}

/// What every request handler needs, shared.
pub struct WebContext {
    to_hub: Sender<Event>,
    config: Config,
    /// The WebSocket listener's actual port, told to the chat page.
    ws_port: u16,
    /// Whether the database file is still there, for `/healthz`.
    db_health: Arc<crate::storage::FileHealth>,
    /// The exports running now (see `export::ExportSlot`).
    exports: Mutex<Vec<String>>,
    /// Turns to hash or check a password (see `passwords.rs`), shared with
    /// the WebSocket readers.
    passwords: Arc<crate::passwords::Passwords>,
    /// Where uploads are kept (`media/mod.rs`).
    media: Arc<crate::media::MediaStore>,
    /// Uploads being received now (`upload::UploadSlot`), and files being
    /// sent (a [`Slot`] each).
    uploads: std::sync::atomic::AtomicUsize,
    /// Each person's uploads in flight (`upload::PersonSlot`).
    uploads_by_uid: Mutex<std::collections::HashMap<String, usize>>,
    downloads: Arc<std::sync::atomic::AtomicUsize>,
    /// Bots' reads waiting for their answer (a [`Slot`] each).
    polls: Arc<std::sync::atomic::AtomicUsize>,
    /// The server's figures: requests are counted by route and status.
    metrics: Arc<Metrics>,
    /// In a cluster, what this node knows of it (see `relay.rs`).
    cluster: Option<Arc<crate::cluster::Status>>,
    /// Requests being forwarded to the leader now (a [`Slot`] each).
    relays: Arc<std::sync::atomic::AtomicUsize>,
}

impl WebContext {
    pub fn new(
        to_hub: Sender<Event>,
        config: Config,
        ws_port: u16,
        db_health: Arc<crate::storage::FileHealth>,
        passwords: Arc<crate::passwords::Passwords>,
        media: Arc<crate::media::MediaStore>,
        metrics: Arc<Metrics>,
    ) -> WebContext {
        WebContext {
            to_hub,
            config,
            ws_port,
            db_health,
            exports: Mutex::new(Vec::new()),
            passwords,
            media,
            uploads: Default::default(),
            uploads_by_uid: Default::default(),
            downloads: Default::default(),
            polls: Default::default(),
            metrics,
            cluster: None,
            relays: Default::default(),
        }
    }

    /// In a cluster: follow its leader (see `relay.rs`).
    pub fn with_cluster(mut self, cluster: Option<Arc<crate::cluster::Status>>) -> WebContext {
        self.cluster = cluster;
        self
    }
}

/// Ask the hub something (`hub::ask`); `None` means it did not answer, and
/// you answer with `hub_unavailable`.
fn ask<T>(context: &WebContext, make: impl FnOnce(Sender<T>) -> Event) -> Option<T> {
    crate::hub::ask(&context.to_hub, make)
}

/// The answer when the hub does not answer: 503, and come back after as long
/// as a request waited for it.
fn hub_unavailable() -> Page {
    pages::text(503, "the chat is not answering; try again in a moment\n").with_header(
        pages::header("Retry-After", &HUB_REPLY_TIMEOUT.as_secs().to_string()),
    )
}

/// One of at most so many things running at once (files being sent, bots'
/// reads waiting), counted in a shared number; given back when dropped,
/// even by a panic.
pub(super) struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A slot, unless `max` are taken already.
    pub(super) fn claim(count: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        if count.fetch_add(1, Ordering::SeqCst) < max {
            return Some(Slot(count.clone()));
        }
        count.fetch_sub(1, Ordering::SeqCst);
        None
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The tiny_http server once it runs, so that `stop` can reach it.
#[derive(Default)]
pub struct WebControl {
    current: Mutex<Option<Arc<Server>>>,
    stopping: AtomicBool,
}

impl WebControl {
    /// Stop serving pages: wake every page worker so that `serve` returns.
    /// Requests already being answered are answered first.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(server) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            for _ in 0..WEB_WORKERS {
                server.unblock();
            }
        }
    }

    /// Make `server` the one `stop` wakes. Returns whether to serve at all:
    /// `stop` may have run before there was a server to wake.
    fn serving(&self, server: &Arc<Server>) -> bool {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(server.clone());
        // Checked after `current` is set, so a `stop` cannot fall in between.
        !self.stopping.load(Ordering::SeqCst)
    }
}

/// Serve pages on `listener` with [`WEB_WORKERS`] page workers (this thread is
/// one of them) until `control.stop()`.
///
/// tiny_http accepts connections on a thread of its own and reads each
/// request on a thread per connection; the page workers take whole requests
/// from it and answer them. The patched tiny_http never stops accepting (see
/// `.vendor/README.md`), so nothing here has to watch it or rebuild it.
pub fn serve(listener: TcpListener, context: Arc<WebContext>, control: Arc<WebControl>) {
    let limits = edge::limits(&context.config);
    let server = match Server::from_listener_with_limits(listener, None, limits) {
        Ok(server) => Arc::new(server),
        Err(err) => {
            // A listener that cannot say its address, or no thread to spare
            // for tiny_http's accept loop.
            eprintln!("natter: cannot start the web listener: {err}; no pages will be served");
            return;
        }
    };
    if !control.serving(&server) {
        return;
    }
    // Fewer workers if the system has no threads to give: slower, not down.
    let workers: Vec<_> = (1..WEB_WORKERS)
        .filter_map(|i| {
            let (server, context) = (server.clone(), context.clone());
            thread::Builder::new()
                .name(format!("web-{i}"))
                .spawn(move || edge::page_worker(&server, &context))
                .ok()
        })
        .collect();
    edge::page_worker(&server, &context);
    for worker in workers {
        let _ = worker.join();
    }
}
