//! The web port (tiny_http): its workers, time-outs and caps, and exports.

use std::time::Duration;

/// How long a page request waits for the hub's answer before it fails with 503.
pub const HUB_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest login form body. Names and rooms are short; anything bigger is refused
/// with 413 without being read.
pub const MAX_FORM_BYTES: usize = 4 * 1024;

/// Threads that answer page requests. Pages are tiny; four keep a slow client
/// from holding up others while costing little.
pub const WEB_WORKERS: usize = 4;

/// The web port's read timeout: a connection that sends nothing for this long
/// (before its first request, between keep-alive requests, or while a body is
/// read) is closed without an answer, and its thread ends. It bounds one read
/// only; [`WEB_HEAD_TIMEOUT`] bounds a whole request head. tiny_http had none
/// (tiny-http #143); it is natter's patch in `.vendor/tiny_http-0.12.0`, where
/// the value lives.
pub const WEB_READ_TIMEOUT: Duration = tiny_http::READ_TIMEOUT;

/// The most bytes a web request's line and headers may take; past it, 431 and
/// the connection is closed. tiny_http had no limit (tiny-http #56); natter's
/// patch again.
pub const WEB_MAX_HEAD_BYTES: usize = tiny_http::MAX_HEAD_BYTES;

/// The longest a web request may take to arrive, from the first byte of its
/// request line to the end of its headers (and of a login form small enough
/// for tiny_http to read with them, up to 1 KiB); past it, 408 and the
/// connection is closed. [`WEB_READ_TIMEOUT`] only bounds one read, and a
/// client sending a header byte every 5 s held a connection thread for as long
/// as it liked: 4,500 of them kept the pages down. A browser sends a whole
/// head in one packet, so 10 s is slack for the slowest phone network.
/// natter's patch in `.vendor/tiny_http-0.12.0`, where the value lives.
pub const WEB_HEAD_TIMEOUT: Duration = tiny_http::HEAD_TIMEOUT;

/// The longest a write on the web port waits for the client to take bytes;
/// then that answer fails and its connection is closed. Without it a client
/// that stopped reading held whatever was answering it (a page worker, or an
/// export and its slot, see [`MAX_EXPORTS`]) for as long as it kept the
/// connection open. 10 s of taking nothing at all is a dead client, not a
/// slow one; nginx's `send_timeout` is the same. natter's patch in
/// `.vendor/tiny_http-0.12.0`, where the value lives.
pub const WEB_WRITE_TIMEOUT: Duration = tiny_http::WRITE_TIMEOUT;

/// Most web-port connections open at once from one client address (IPv6: one
/// /64). A connection past it is closed as soon as it is accepted, before
/// tiny_http gives it a thread, so a single address cannot hold the web port's
/// threads and file descriptors (slowloris). A browser opens about six per
/// site; 32 leaves room for a few people behind one NAT address. Overridable
/// with `--max-web-per-ip`; a raised `--max-per-ip` raises it to a quarter of
/// that (as for pending handshakes); off with `--trust-proxy`, where every connection
/// comes from the proxy (nginx caps per address there, see `natter
/// nginx-config`).
pub const MAX_WEB_CONNECTIONS_PER_IP: usize = 32;

/// Messages per page when an export's thread pages a room's transcript out of
/// the hub (`Event::Export`). An export holds one page and its encoding at a
/// time, so this bounds its memory: a few MB at worst (200 messages of 4000
/// characters), some 100 KiB for ordinary chat. One page is also only a few
/// milliseconds of the hub's time, so the chat never waits long behind an
/// export. (It was 1000, with every page kept until the end: a 32 MB
/// transcript took the server from 8 MB to 475 MB.)
pub const EXPORT_PAGE: usize = 200;

/// Most messages in one export, the oldest first. Past it the transcript ends
/// with a line saying it was cut short (`"truncated": true` in JSON). 200,000
/// messages is years of a busy room and at most about 800 MB of text.
pub const MAX_EXPORT_MESSAGES: usize = 200_000;

/// Most exports running at once, in all. Each has a thread of its own (never
/// one of the [`WEB_WORKERS`]) and keeps the hub reading pages, so a few
/// at a time is plenty for a chat server; past it an export is answered 503
/// with `Retry-After`. Overridable with `--max-exports`.
pub const MAX_EXPORTS: usize = 2;

/// Most exports one session may run at once; past it, 429 with
/// `Retry-After`. One: nobody needs two copies of a transcript at once, and
/// a session cannot then take every export slot for itself.
pub const MAX_EXPORTS_PER_SESSION: usize = 1;

/// The `Retry-After` of a refused export: long enough for a big export to
/// finish or to make progress.
pub const EXPORT_RETRY_AFTER: Duration = Duration::from_secs(10);
