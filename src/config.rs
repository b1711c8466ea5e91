//! Every knob and every limit natter has, in one place.
//!
//! A limit is a named constant with a doc comment that says what it bounds, what
//! happens when it is hit, and where the number comes from. The ones an operator
//! may want to change are also fields of [`Config`], whose defaults are these
//! constants; `main.rs` maps command-line flags onto those fields.

use std::time::Duration;

/// Longest display name, in characters, after trimming. A longer name is refused
/// at login with a message that names this limit. 24 fits a member list on a phone.
pub const MAX_NAME_CHARS: usize = 24;

/// Longest room name, in characters, after trimming. Refused at login and in
/// `join` (`bad_room`). 64 is plenty for a name and short enough for a URL.
pub const MAX_ROOM_CHARS: usize = 64;

/// Longest chat message, in characters, after trimming. A longer one gets an
/// `error` with code `text_too_long` and is not posted. The seed had no limit;
/// 4000 is a long screenful and keeps history in memory bounded.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Longest chat message in bytes of UTF-8, checked alongside
/// [`MAX_TEXT_CHARS`]: a longer one gets `text_too_long`, saying it was the
/// bytes, and is not posted. Characters alone do not bound the size: 4000
/// emoji are 16 KB. 12,000 is 4000 characters of 3 bytes, the most any
/// character of the Basic Multilingual Plane takes, so a message at the
/// character limit fits in every living script (Chinese, Hindi and Thai
/// included); only 4-byte characters (emoji, rare ideographs) meet this limit
/// first, at 3000. With control characters refused, JSON escaping only
/// doubles `"`, `\`, newline and tab, so a message's text takes at most
/// 13,332 bytes on the wire (1334 of those and 2666 emoji), and a room's 200
/// messages in memory at most 2.4 MB.
pub const MAX_TEXT_BYTES: usize = 12_000;

/// Longest `client_id` a page may attach to a message (`bad_client_id` beyond).
/// A UUID is 36 characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Largest WebSocket message, and largest single frame, the server will read.
/// A bigger one closes the connection with 1009 before the payload is buffered:
/// tungstenite checks the announced length against this first. A message's
/// text is at most [`MAX_TEXT_BYTES`] (under 14 KB escaped), so 64 KiB is generous.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;

/// Size of tungstenite's read buffer for each connection. Its default is 128 KiB,
/// allocated up front for every socket: 10,000 idle clients would pin 1.3 GB.
/// Chat frames from a browser are a few hundred bytes; the buffer grows by
/// itself for a bigger one. Measured with `natter bench --scenario idle-2000`:
/// 4 KiB gave 25.7 KiB of server memory per idle client, 1 KiB gives 22.9.
pub const WS_READ_BUFFER_BYTES: usize = 1024;

/// Stack size for each connection's reader thread. The default 2 MiB is mostly
/// untouched virtual memory, but a small stack makes the cost of a thread visible
/// and predictable. Parsing never recurses deeply: requests nested more than a
/// few levels are refused before serde_json sees them (`protocol.rs`), so even
/// a debug build's large stack frames fit with room to spare.
pub const READER_STACK_BYTES: usize = 256 * 1024;

/// How many rooms one connection may be in at once (`too_many_rooms` beyond).
pub const MAX_ROOMS_PER_CONNECTION: usize = 32;

/// How many recent messages each room keeps in memory, sent in `joined` and used
/// to answer `since`. Overridable with `--history`.
pub const DEFAULT_HISTORY: usize = 200;

/// How many of a session's recent `client_id`s the hub remembers to drop resent
/// duplicates. A page resends at most its outbox after a reconnect, which is far
/// smaller than this.
pub const CLIENT_ID_MEMORY: usize = 256;

/// Outbound queue bound, in bytes, for one connection: frames the socket has not
/// accepted yet. A client that falls this far behind is closed with 1008 "slow
/// consumer" so the hub never waits on it. 1 MiB is several seconds of a busy room.
pub const MAX_OUTBOX_BYTES: usize = 1024 * 1024;

/// Outbound queue bound, in queued chunks, for one connection. Each chunk is one
/// hub pass's frames for a room, or one direct reply.
pub const MAX_OUTBOX_CHUNKS: usize = 256;

/// A peer whose socket has accepted no bytes for this long while we had data for
/// it is dropped, even if its queue is not yet full.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the hub waits before retrying writes that a full socket refused. The
/// hub has no readiness notification (no epoll), so it polls while, and only
/// while, some connection has bytes waiting.
pub const WRITE_RETRY_INTERVAL: Duration = Duration::from_millis(2);

/// A WebSocket handshake must complete within this time, or the socket is
/// dropped. Each handshake runs in its own thread, so a slow one delays nobody;
/// but each holds a thread and a slot, so the wait is short. A browser sends
/// its whole handshake in one packet: 5 s is a very slow phone network.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Unfinished WebSocket handshakes one address may have at once. Counted at
/// `accept`, before a thread is spawned; past it, new sockets from that address
/// are refused (429) at once. A page opens one socket, and a class whose
/// pages all reconnect together after a restart finishes each handshake in
/// milliseconds, so 16 at once is plenty; without it, one address holding
/// thousands of half-sent handshakes took every thread slot from everyone.
/// An operator who raises `--max-per-ip` past 64 (a big NAT, a benchmark)
/// gets a quarter of it instead (see [`Config::max_pending_per_ip`]).
pub const MAX_PENDING_HANDSHAKES_PER_IP: usize = 16;

/// Refusals being answered at once for one address. A refused socket is
/// answered with a proper 429 on a short-lived thread so that a browser sees
/// why; past this many for one address, further ones are simply closed, so
/// refusing costs no more threads than this. Eight leave room for a few
/// pages retrying at once (a thread is still counted for a moment after its
/// answer has gone out).
pub const MAX_REFUSALS_PER_IP: usize = 8;

/// How long a refused socket has to send its request before it is closed
/// unanswered: a browser sends it at once, and a refusal is not worth a
/// thread for the whole [`HANDSHAKE_TIMEOUT`].
pub const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the server pings every connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// A peer that sends nothing at all (pongs count) for this long is dropped. Two
/// missed pings and some slack.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long after a user's last connection leaves a room before the leave notice
/// is posted. A page reload reconnects well within this, so it posts nothing.
pub const LEAVE_GRACE: Duration = Duration::from_secs(4);

/// A session with no open socket for this long expires; its cookie stops working.
pub const SESSION_IDLE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a server-initiated close (1001, 1008) may take to flush its queue and
/// close frame before the socket is simply shut.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a graceful shutdown may take in all before the process stops anyway.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(4);

/// Capacity of the channel from reader threads to the hub. When it is full, a
/// reader blocks on `send`, which stops it reading its socket: TCP flow control
/// then slows that client down. The hub itself never blocks on this channel.
pub const HUB_QUEUE: usize = 16 * 1024;

/// At most this many events are handled in one hub pass before it writes. This
/// bounds latency when the queue is long: writes are never starved.
pub const MAX_EVENTS_PER_PASS: usize = 4096;

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
/// with `--max-web-per-ip`; off with `--trust-proxy`, where every connection
/// comes from the proxy (nginx caps per address there, see `natter
/// nginx-config`).
pub const MAX_WEB_CONNECTIONS_PER_IP: usize = 32;

/// Rate limit threshold, per session: a session whose decaying score reaches
/// this is refused (`rate_limited`) until it decays; at twice this its
/// connection is closed with 1008. The numbers are hack.chat's: about 23
/// quick messages from rest pass. Overridable with `--rate-limit N`, or
/// `--rate-limit off` (which turns off the per-address budget too).
pub const RATE_THRESHOLD: f64 = 25.0;

/// The per-address budget is this many times the per-session one (unless
/// `--address-rate-limit N` sets it). Everything a session is charged, its
/// address is charged too, and logins are charged to the address alone. A
/// class of 30 behind one NAT address logs in, connects and joins (5 points
/// each, 150 in all) within it; one visitor who opens many sessions gets at
/// most this many sessions' worth.
pub const ADDRESS_RATE_FACTOR: f64 = 10.0;

/// The score halves every this long.
pub const RATE_HALF_LIFE: Duration = Duration::from_secs(30);

/// Cost of a chat message: this, plus its length over [`RATE_CHARS_PER_POINT`].
pub const RATE_COST_MESSAGE: f64 = 1.0;

/// A message costs one more point per this many characters.
pub const RATE_CHARS_PER_POINT: f64 = 332.0;

/// Cost of joining a room (joining is work for the server and noise for others).
pub const RATE_COST_JOIN: f64 = 3.0;

/// Cost of a frame that breaks the protocol's rules: two of those are a burst.
pub const RATE_COST_INVALID: f64 = 13.0;

/// Cost of a `history` page: a database read. Scrolling back through a busy
/// room a page at a time stays well inside the budget.
pub const RATE_COST_HISTORY: f64 = 1.0;

/// Cost of opening a WebSocket. Each connection is a thread, so an address
/// that reconnects in a loop is refused at the handshake (429) once its score
/// reaches the threshold, before a thread does any more work for it. Only an
/// accepted handshake is charged: refusals are not, so pages that retry behind
/// one NAT do not keep each other out.
pub const RATE_COST_CONNECT: f64 = 1.0;

/// Cost of a login, charged to the address (a session does not exist yet).
/// Refused logins are charged too. At the default budget one address can
/// make about 250 sessions in a burst, then about 6 a second; the cap on
/// sessions per address ([`MAX_SESSIONS_PER_IP`]) stops it sooner.
pub const RATE_COST_LOGIN: f64 = 1.0;

/// Cost of a `typing` notice. A page sends one at most every 3 s while you
/// type, which costs next to nothing; a flood of them is charged like anything
/// else, and the flooder is refused, then closed.
pub const RATE_COST_TYPING: f64 = 0.25;

/// Cost of a `leave`: cheap, but a leave-and-join loop is not free.
pub const RATE_COST_LEAVE: f64 = 1.0;

/// Cost of a control frame from a client: a ping (which the server must
/// answer) or a pong. Browsers only answer the server's pings, one per 25 s.
pub const RATE_COST_CONTROL: f64 = 0.25;

/// `typing` notices from one member of a room are passed on at most once per
/// this long; the rest are dropped (the page shows "is typing" for 5 s after
/// each, so nobody notices). They travel in the room's batch with everything
/// else, never as a frame queued per recipient.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// Most WebSocket connections at once, counting handshakes in progress. Past it
/// a handshake is answered 503 with `Retry-After`. Overridable with
/// `--max-connections`. 5,000 is well within a small host's threads and memory.
pub const MAX_CONNECTIONS: usize = 5_000;

/// Most WebSocket connections from one address (429 past it), handshakes in
/// progress included; counted at `accept`, before a thread is spawned (behind
/// a trusted proxy, once the forwarded address is read). An IPv6 /64 is one
/// address. A class behind one NAT address shares this, so it is generous.
/// Overridable with `--max-per-ip`.
pub const MAX_CONNECTIONS_PER_IP: usize = 64;

/// Most WebSocket connections of one session (429 past it): tabs and devices
/// of one person. Without it one session, connecting from many addresses,
/// could hold every connection slot. Overridable with `--max-per-session`.
pub const MAX_CONNECTIONS_PER_SESSION: usize = 16;

/// Handshakes beyond `max_connections` that are still given a thread so they can
/// be told 503 properly. Past this too, new sockets are closed at once.
pub const REFUSAL_SLACK: usize = 64;

/// Open files natter needs besides one per chat connection: the web port's
/// connections (tiny_http holds two descriptors for each, so about 490 of
/// them fit), the refused handshakes above, the listeners, the database and
/// its log. At startup natter raises its open-file limit to `max_connections`
/// plus this (many systems start programs at 1024), and warns when the
/// system's hard limit does not allow it.
pub const FD_HEADROOM: usize = 1024;

/// Most live sessions. A login past it evicts the oldest session without an
/// open socket (one that never opened one first), so a login flood cannot
/// grow memory without bound, nor lock newcomers out. Only when every session
/// has a socket open is a login refused (503). Overridable with
/// `--max-sessions`.
pub const MAX_SESSIONS: usize = 50_000;

/// Most sessions made from one address (an IPv6 /64 counts as one). A login
/// past it evicts that address's oldest session without an open socket; if
/// all of them have one, it is refused (429). A school behind one NAT address
/// fits; one visitor cannot make 50,000. Overridable with `--max-sessions-per-ip`.
pub const MAX_SESSIONS_PER_IP: usize = 256;

/// A session that has had a socket is evicted for a newcomer (when the chat
/// or an address is at its session cap) only once it has had none for this
/// long. Reloads, a phone asleep in a pocket and the reconnects after a
/// restart come back well within it, so a login flood cannot log out people
/// who were just chatting; sessions nobody ever used go first anyway.
pub const MIN_IDLE_TO_EVICT: Duration = Duration::from_secs(60 * 60);

/// A session that never opened a WebSocket expires after this long. A real
/// login opens the chat page's socket within a second; a scripted login flood
/// never does. Such sessions are also never written to the database, so they
/// cannot take the space messages need.
pub const UNUSED_SESSION_TTL: Duration = Duration::from_secs(10 * 60);

/// What one stored session costs in the database, for sizing their share of
/// `--db-max-mb`: with a budget, at most a quarter of it is spent on sessions
/// (budget / 4 / this many sessions, at least 100), and the oldest unused
/// session is evicted past that. A row is about 130 bytes, plus its index.
pub const STORED_SESSION_BYTES: u64 = 256;

/// Member lists (`presence`) for a room go out at most once per this much time
/// per member in the room, capped by [`MAX_PRESENCE_INTERVAL`]. A member list
/// is sent to every member, so n joins in a row would cost n² names; spacing
/// the lists out in big rooms keeps a join storm linear. Join and leave notices
/// still go out at once; a 10-person room gets its list within 10 ms.
pub const PRESENCE_INTERVAL_PER_MEMBER: Duration = Duration::from_millis(1);

/// The longest a member list waits; see [`PRESENCE_INTERVAL_PER_MEMBER`].
pub const MAX_PRESENCE_INTERVAL: Duration = Duration::from_secs(2);

/// Where history and sessions are stored unless `--db` says otherwise: a file
/// next to where natter was started, easy to find, back up and delete.
/// `--db :memory:` keeps nothing on disk.
pub const DEFAULT_DB: &str = "natter.db";

/// How often the checkpoint thread copies the database's write-ahead log into
/// the database file (see `storage::checkpoint_loop`). Each pass is cheap: it
/// copies about a second of messages.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Largest size the write-ahead log (`natter.db-wal`) is let grow to. SQLite
/// starts the log over only once a checkpoint has copied all of it, which the
/// checkpoint thread never manages while messages keep arriving every few
/// milliseconds; past this size it makes the hub wait one checkpoint long (a
/// few milliseconds) so that the log can start over, and the file is cut back
/// to this size. Each commit appends two or three pages of 4 KiB, so under a
/// thousand commits a second this happens every five seconds or so.
///
/// With `--db-max-mb`, the log is held to a quarter of that budget instead
/// (but at least [`MIN_WAL_LIMIT_BYTES`]), so that a small SD card's budget
/// covers the log too; see `storage::wal_limit`.
pub const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
pub const MIN_WAL_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

/// How long the hub waits for the database when a checkpoint holds it (see
/// [`WAL_LIMIT_BYTES`]) before the save fails with `storage_failed`, and the
/// step it waits in. SQLite's own busy timeout sleeps 1, 2, 5, 10 ms and so
/// on, and would often wait several milliseconds past the end of the
/// checkpoint; small steps keep the hub's wait close to the checkpoint's.
pub const DB_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
pub const DB_BUSY_STEP: Duration = Duration::from_micros(250);

/// How long the checkpoint that restarts the log (see [`WAL_LIMIT_BYTES`])
/// waits for the hub's write in flight and for other readers of the log (an
/// operator's `sqlite3 natter.db`, say). The hub's commits wait meanwhile, so
/// this is short; when it runs out, the checkpoint tries again a second later.
pub const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// Most messages one `history` request returns (scroll-back pages).
pub const MAX_HISTORY_PAGE: usize = 100;

/// Most bytes of messages in one `joined` or `history` answer; it is also
/// held to half of what is free in the asker's outbound queue. Past it the
/// oldest messages are left out: `history` says `more: true` (the page asks
/// again), `joined` with `since` says `gap: true`. So a room full of long
/// messages can always be joined and scrolled; without a bound, 44 long
/// messages made every join overflow the 1 MiB queue and close the joiner.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// Most missed messages a `join` with `since` replays from storage. Past it the
/// reply says `gap: true` and the page starts the room afresh.
pub const MAX_RESUME: usize = 1000;

/// With `--retention`, how often old messages are deleted (also once at start).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60 * 60);

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

/// Everything `run` needs to start a server. `Config::default()` is what the
/// binary runs with no flags, except that tests use port 0.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address both listeners bind to (`--host`).
    pub host: String,
    /// Web port: pages, login, assets (`--port`). 0 picks a free port.
    pub port: u16,
    /// WebSocket port (`--ws-port`). `None` means web port + 1 (or a free port
    /// when the web port is 0).
    pub ws_port: Option<u16>,
    /// The URL the page connects its WebSocket to (`--ws-url`), e.g.
    /// `wss://chat.example.com/ws` behind a proxy. `None`: the page's own host
    /// on the WebSocket port.
    pub ws_url: Option<String>,
    /// The public origin of the pages (`--public-url`), e.g.
    /// `https://chat.example.com`. When set, it is the only Origin a WebSocket
    /// handshake may carry. `None`: the page's own origin (same host, web port).
    pub public_url: Option<String>,
    /// More names this server answers to (`--allowed-host NAME`, repeatable),
    /// besides its IP addresses, `localhost`, this machine's hostname and the
    /// hosts of the two URLs above: see `origin::host_allowed`. A LAN name
    /// such as `chat.lan` from the router's DNS needs one.
    pub allowed_hosts: Vec<String>,
    /// Messages each room keeps in memory (`--history`).
    pub history: usize,
    /// See [`LEAVE_GRACE`].
    pub leave_grace: Duration,
    /// See [`PING_INTERVAL`].
    pub ping_interval: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`SESSION_IDLE_TTL`].
    pub session_ttl: Duration,
    /// See [`MAX_OUTBOX_BYTES`].
    pub max_outbox_bytes: usize,
    /// See [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`RATE_THRESHOLD`]. `None` turns rate limiting off (`--rate-limit off`).
    pub rate_limit: Option<f64>,
    /// The per-address budget (`--address-rate-limit`); `None` means
    /// [`ADDRESS_RATE_FACTOR`] times `rate_limit`.
    pub address_rate_limit: Option<f64>,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`MAX_CONNECTIONS_PER_IP`].
    pub max_per_ip: usize,
    /// See [`MAX_CONNECTIONS_PER_SESSION`].
    pub max_per_session: usize,
    /// See [`MAX_SESSIONS_PER_IP`].
    pub max_sessions_per_ip: usize,
    /// See [`MAX_SESSIONS`].
    pub max_sessions: usize,
    /// See [`MAX_WEB_CONNECTIONS_PER_IP`] (`--max-web-per-ip`).
    pub max_web_per_ip: usize,
    /// See [`MAX_EXPORTS`] (`--max-exports`).
    pub max_exports: usize,
    /// See [`WEB_HEAD_TIMEOUT`]. No flag: the tests shorten it.
    pub web_head_timeout: Duration,
    /// See [`WEB_WRITE_TIMEOUT`]. No flag: the tests shorten it.
    pub web_write_timeout: Duration,
    /// Take the client address from the last `X-Forwarded-For` entry, as set by a
    /// reverse proxy (`--trust-proxy`). Off by default: anyone can send that header.
    pub trust_proxy: bool,
    /// See [`WRITE_STALL_TIMEOUT`].
    pub write_stall_timeout: Duration,
    /// The SQLite file for history and sessions (`--db`); `:memory:` for none.
    pub db: String,
    /// Delete messages older than this (`--retention DAYS`); `None` keeps all.
    pub retention: Option<Duration>,
    /// Largest the database may grow, in bytes (`--db-max-mb`); past it new
    /// messages are refused with `storage_failed`. For small SD cards.
    pub db_max_bytes: Option<u64>,
    /// Echo mode (`natter echo`): every WebSocket message comes straight back,
    /// with no login and no rooms. It exists to run the Autobahn conformance
    /// suite against natter's own WebSocket path: the same accept loop, reader
    /// threads, hub writes and outboxes as the chat.
    pub echo: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_string(),
            port: 8080,
            ws_port: None,
            ws_url: None,
            public_url: None,
            allowed_hosts: Vec::new(),
            history: DEFAULT_HISTORY,
            leave_grace: LEAVE_GRACE,
            ping_interval: PING_INTERVAL,
            idle_timeout: IDLE_TIMEOUT,
            session_ttl: SESSION_IDLE_TTL,
            max_outbox_bytes: MAX_OUTBOX_BYTES,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            rate_limit: Some(RATE_THRESHOLD),
            address_rate_limit: None,
            max_connections: MAX_CONNECTIONS,
            max_per_ip: MAX_CONNECTIONS_PER_IP,
            max_per_session: MAX_CONNECTIONS_PER_SESSION,
            max_sessions_per_ip: MAX_SESSIONS_PER_IP,
            max_sessions: MAX_SESSIONS,
            max_web_per_ip: MAX_WEB_CONNECTIONS_PER_IP,
            max_exports: MAX_EXPORTS,
            web_head_timeout: WEB_HEAD_TIMEOUT,
            web_write_timeout: WEB_WRITE_TIMEOUT,
            trust_proxy: false,
            write_stall_timeout: WRITE_STALL_TIMEOUT,
            echo: false,
            db: DEFAULT_DB.to_string(),
            retention: None,
            db_max_bytes: None,
        }
    }
}

impl Config {
    /// The per-address rate budget, if rate limiting is on.
    pub fn address_budget(&self) -> Option<f64> {
        let session = self.rate_limit?;
        Some(
            self.address_rate_limit
                .unwrap_or(session * ADDRESS_RATE_FACTOR),
        )
    }

    /// Unfinished handshakes one address may have: see
    /// [`MAX_PENDING_HANDSHAKES_PER_IP`].
    pub fn max_pending_per_ip(&self) -> usize {
        (self.max_per_ip / 4).max(MAX_PENDING_HANDSHAKES_PER_IP)
    }

    /// The WebSocket port to bind: explicit, or web port + 1, or 0 for tests.
    pub fn ws_port(&self) -> u16 {
        match self.ws_port {
            Some(port) => port,
            None if self.port == 0 => 0,
            None => self.port.saturating_add(1),
        }
    }
}
