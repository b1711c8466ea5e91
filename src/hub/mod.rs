//! The hub: the one thread that owns all chat state, and the one writer of every
//! chat socket.
//!
//! Everything that changes state arrives as an [`Event`] on one channel: page
//! requests from the web threads (log in, log out, who is this cookie?) and
//! frames from the WebSocket reader threads. Because only this thread touches
//! rooms, members, sessions and history, none of it needs a lock, and every
//! change happens in one order that every client sees.
//!
//! # How a pass works
//!
//! `hub_loop` waits for an event, then drains everything else already queued (up
//! to [`MAX_EVENTS_PER_PASS`]), handling each. Handling only *queues* work; the
//! end of the pass (`flush`) does it, in this order:
//!
//! 1. `commit`: the pass's new chat messages are saved in one SQLite
//!    transaction. Only then is each one serialised, once, into the bytes of a
//!    WebSocket frame and appended to its room's `batch`, after the join and
//!    leave notices the pass produced. A message nobody could save goes nowhere.
//! 2. `flush_presence`: changed member lists join their rooms' batches.
//! 3. `flush_rooms`: each room's batch becomes one shared chunk (`Arc<[u8]>`)
//!    queued to every member. A thousand members cost a thousand
//!    reference-count increments, not a thousand encodings.
//! 4. Each connection with something queued gets one non-blocking vectored
//!    write (see `outbox.rs`). What the kernel does not take waits for the next
//!    pass.
//!
//! Draining first and writing after is what makes fan-out cheap: under load one
//! `send` carries many messages to a member, instead of one wake-up and one
//! syscall per message.
//!
//! # The slow-client policy
//!
//! The hub never waits on a client. Each connection's queue is bounded
//! ([`MAX_OUTBOX_BYTES`](crate::config::MAX_OUTBOX_BYTES),
//! [`MAX_OUTBOX_CHUNKS`]). A client that lets it fill has stopped reading; it is
//! closed with 1008 "slow consumer" and everyone else carries on. So is one whose
//! socket takes nothing for [`WRITE_STALL_TIMEOUT`](crate::config::WRITE_STALL_TIMEOUT).
//!
//! # Time
//!
//! Every handler takes `now` as an argument instead of reading the clock, so
//! grace periods, pings and expiry can be driven by tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod event;
mod outbox;

pub use event::{Admission, Ask, ConnEvent, Control, Event, Peer};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::config::{
    Config, CLIENT_ID_MEMORY, CLOSE_FLUSH_TIMEOUT, MAX_EVENTS_PER_PASS, MAX_HISTORY_PAGE,
    MAX_OUTBOX_CHUNKS, MAX_RESUME, MAX_ROOMS_PER_CONNECTION, RATE_CHARS_PER_POINT,
    RATE_COST_INVALID, RATE_COST_JOIN, RATE_COST_MESSAGE, RATE_HALF_LIFE, RETENTION_INTERVAL,
    SHUTDOWN_TIMEOUT, WRITE_RETRY_INTERVAL,
};
use crate::config::{
    MAX_PRESENCE_INTERVAL, MAX_REPLY_BYTES, MIN_IDLE_TO_EVICT, PRESENCE_INTERVAL_PER_MEMBER,
    RATE_COST_CONNECT, RATE_COST_CONTROL, RATE_COST_HISTORY, RATE_COST_LEAVE, RATE_COST_LOGIN,
    RATE_COST_TYPING, STORED_SESSION_BYTES, TYPING_INTERVAL, UNUSED_SESSION_TTL,
};
use crate::protocol::{
    self, close, name_key, now_millis, room_key, ChatMessage, ErrorCode, Limits, Rejection, Reply,
    Request, SystemEvent,
};
use crate::ratelimit::{address_key, Budgets, Verdict};
use crate::session::token_key;
use crate::storage::{Storage, StorageError};
use outbox::Outbox;

/// Identifies one WebSocket connection for its whole life. Never reused.
pub type ConnId = u64;

/// Identifies one login session. The browser holds the token instead.
pub type SessionId = u64;

/// How often expired sessions are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Why a login was refused: the HTTP status the form is answered with, and a
/// message a person reads. 400 is the user's to fix (a taken name); 429 and
/// 503 pass with time, and `retry_after` says how much; 500 is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRefusal {
    pub status: u16,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl LoginRefusal {
    fn new(status: u16, message: String) -> LoginRefusal {
        LoginRefusal {
            status,
            message,
            retry_after: None,
        }
    }
}

/// One WebSocket connection, as the hub sees it.
struct Conn {
    session: SessionId,
    /// The client's address: the rate limit is per address, not per connection.
    ip: IpAddr,
    /// The socket, shared with its reader thread: the hub only writes to it.
    socket: Arc<TcpStream>,
    outbox: Outbox,
    /// Keys of the rooms this connection is in.
    rooms: Vec<String>,
    /// Set once a close frame is queued: the time after which the socket is shut
    /// whether or not the frame got out. A closing connection is in no room and
    /// gets no new frames.
    closing: Option<Instant>,
    /// Whether the write side was shut after the close frame went out.
    write_shut: bool,
    /// When the socket last took bytes, or when bytes were first queued for it.
    /// Used to spot a peer whose socket has stopped taking anything.
    last_progress: Instant,
    /// Already picked to be dropped this pass (queue overflow or write error).
    doomed: bool,
    /// Whether this connection still counts in its session and rooms. Cleared
    /// by `part_all`, so leaving happens exactly once however the end comes.
    counted: bool,
    /// The reader thread has ended: once the queue is written, nothing is left.
    reader_gone: bool,
}

struct Session {
    /// `session::token_key` of the cookie's token: the token itself is kept
    /// nowhere on the server.
    token: String,
    name: Arc<str>,
    /// The address (`ratelimit::address_key`) it was made from, which its
    /// count per address is kept by. `None` for sessions from before a
    /// restart: addresses are not stored.
    address: Option<IpAddr>,
    /// Open connections of this session.
    conns: usize,
    /// When `conns` last dropped to zero (or when the session was made).
    idle_since: Instant,
    /// Whether it has ever opened a WebSocket. Only such sessions are stored
    /// (see `UNUSED_SESSION_TTL`).
    used: bool,
    /// It was loaded from storage at start: its `recent` client ids were
    /// lost with the old process, so a resend is also looked for in the
    /// room's history (see `post`).
    restored: bool,
    /// Recent `client_id`s with the room key and message id they were posted as,
    /// so a page that resends after a reconnect never posts twice.
    recent: VecDeque<(String, String, u64)>,
}

/// A user shown in a room's member list.
struct Presence {
    name: Arc<str>,
    /// `protocol::name_key(name)`, kept so that checking a new name against
    /// a big room does not compute a thousand keys.
    key: String,
    /// This session's connections in the room.
    conns: usize,
    /// When this user's last `typing` went out here (see `TYPING_INTERVAL`).
    typing_at: Option<Instant>,
}

struct Room {
    /// The first spelling of the room's name, sent in every `room` field.
    name: Arc<str>,
    /// Connections in the room: they receive its frames.
    members: Vec<ConnId>,
    /// Users in the member list, by session. A user whose last connection left
    /// stays here during the leave grace period.
    present: BTreeMap<SessionId, Presence>,
    history: VecDeque<ChatMessage>,
    next_id: u64,
    /// Frames produced this pass, not yet handed to the members.
    batch: Vec<u8>,
    /// The member list changed since it was last sent.
    presence_dirty: bool,
    /// The member list may not be sent again before this (see
    /// `PRESENCE_INTERVAL_PER_MEMBER`).
    next_presence: Option<Instant>,
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: name.into(),
            members: Vec::new(),
            present: BTreeMap::new(),
            history: VecDeque::new(),
            next_id: 1,
            batch: Vec::new(),
            presence_dirty: false,
            next_presence: None,
        }
    }

    /// Member names, sorted case-insensitively, for `joined` and `presence`.
    fn member_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.present.values().map(|p| &*p.name).collect();
        names.sort_by_key(|n| n.to_lowercase());
        names
    }

    /// Nobody here and nothing waiting to go out: the room can leave memory
    /// (its history stays in storage).
    fn is_idle(&self) -> bool {
        self.members.is_empty() && self.present.is_empty() && self.batch.is_empty()
    }
}

/// All chat state. Owned by the hub thread alone.
pub struct Hub {
    config: Config,
    limits: Limits,
    conns: HashMap<ConnId, Conn>,
    rooms: HashMap<String, Room>,
    sessions: HashMap<SessionId, Session>,
    tokens: HashMap<String, SessionId>,
    /// Sessions made from each address (`Session::address`).
    sessions_per_address: HashMap<IpAddr, BTreeSet<SessionId>>,
    /// Sessions that never opened a socket, oldest first: the first to go
    /// when the chat is full.
    unused: BTreeSet<SessionId>,
    /// Sessions that had a socket and have none open now, longest idle first:
    /// the next to go, once idle for `MIN_IDLE_TO_EVICT`.
    idle: BTreeSet<(Instant, SessionId)>,
    /// At most this many sessions: `MAX_SESSIONS`, or fewer with a database
    /// budget (see `STORED_SESSION_BYTES`).
    max_sessions: usize,
    next_session: SessionId,
    /// Connections with bytes queued: the only ones the write pass looks at.
    dirty: Vec<ConnId>,
    /// Connections to close at the end of this pass: overflowed or broken.
    doomed: Vec<(ConnId, u16, &'static str)>,
    /// Pending leave notices, in deadline order (the grace period is constant).
    leaving: VecDeque<(Instant, String, SessionId)>,
    /// Closing connections, in deadline order (the flush timeout is constant).
    closing: VecDeque<(Instant, ConnId)>,
    /// Keys of rooms whose `batch` is not empty.
    batched: Vec<String>,
    next_ping: Instant,
    next_sweep: Instant,
    ping: Arc<[u8]>,
    /// Per-session and per-address scores; `None` when rate limiting is off.
    budgets: Option<Budgets<SessionId>>,
    /// History, rooms and sessions on disk. The hub is its only user.
    store: Storage,
    /// Messages posted this pass, saved in one transaction at the end of it
    /// before anyone receives them: (room key, message, sender).
    unsaved: Vec<(String, ChatMessage, ConnId)>,
    /// Rooms whose member list changed and is still to be sent.
    presence_pending: Vec<String>,
    /// Rooms that may have become idle this pass, to drop from memory.
    maybe_idle: Vec<String>,
    /// When old messages are next deleted, with `--retention`.
    next_retention: Instant,
    /// Set by `Event::Shutdown`: the time by which the hub returns regardless.
    shutdown_deadline: Option<Instant>,
}

/// Run the hub until it is told to shut down and has closed every connection.
///
/// This is the hub thread's whole body. It returns when shutdown completes, or
/// when every sender is gone (which only happens if the server is torn down).
pub fn hub_loop(mut hub: Hub, events: Receiver<Event>) {
    loop {
        let now = Instant::now();
        let wait = hub.next_wakeup(now).saturating_duration_since(now);
        match events.recv_timeout(wait) {
            Ok(event) => {
                hub.handle(event, Instant::now());
                // Drain what else is already queued before writing anything: this
                // is where batching comes from.
                for event in events.try_iter().take(MAX_EVENTS_PER_PASS) {
                    hub.handle(event, Instant::now());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        hub.tick(now);
        hub.flush(now);
        if hub.finished(now) {
            return;
        }
    }
}

impl Hub {
    /// A hub starting from what `store` holds: its sessions are valid again,
    /// and rooms load from it when first used.
    pub fn new(config: Config, store: Storage, now: Instant) -> Result<Hub, StorageError> {
        let budgets = match (config.rate_limit, config.address_budget()) {
            (Some(session), Some(address)) => Some(Budgets::new(session, address, RATE_HALF_LIFE)),
            _ => None,
        };
        let max_sessions = config.db_max_bytes.map_or(config.max_sessions, |budget| {
            ((budget / 4 / STORED_SESSION_BYTES) as usize)
                .max(100)
                .min(config.max_sessions)
        });
        let stored_sessions = store.sessions()?;
        let mut hub = Hub {
            limits: Limits::new(config.history),
            next_ping: now + config.ping_interval,
            next_sweep: now + SWEEP_INTERVAL,
            config,
            conns: HashMap::new(),
            rooms: HashMap::new(),
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            sessions_per_address: HashMap::new(),
            unused: BTreeSet::new(),
            idle: BTreeSet::new(),
            max_sessions,
            next_session: 1,
            dirty: Vec::new(),
            doomed: Vec::new(),
            leaving: VecDeque::new(),
            closing: VecDeque::new(),
            batched: Vec::new(),
            ping: protocol::ping_frame(),
            budgets,
            store,
            unsaved: Vec::new(),
            maybe_idle: Vec::new(),
            presence_pending: Vec::new(),
            next_retention: now,
            shutdown_deadline: None,
        };
        let now_ms = now_millis();
        for stored in stored_sessions {
            let idle_for = Duration::from_millis(now_ms.saturating_sub(stored.idle_since_ms));
            if idle_for >= hub.config.session_ttl {
                // It expired while natter was stopped: it must not work even
                // until the first sweep.
                if let Err(err) = hub.store.delete_session(&stored.token) {
                    eprintln!("natter: could not delete an expired session: {err}");
                }
                continue;
            }
            let id = hub.next_session;
            hub.next_session += 1;
            hub.tokens.insert(stored.token.clone(), id);
            let idle_since = now.checked_sub(idle_for).unwrap_or(now);
            hub.idle.insert((idle_since, id));
            hub.sessions.insert(
                id,
                Session {
                    token: stored.token,
                    name: stored.name.into(),
                    address: None,
                    conns: 0,
                    idle_since,
                    used: true,
                    restored: true,
                    recent: VecDeque::new(),
                },
            );
        }
        Ok(hub)
    }

    /// Handle one event. Only queues bytes; `flush` writes them.
    pub fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::Ask(ask) => self.answer(ask, now),
            Event::Conn(conn, event) => self.conn_event(conn, event, now),
            Event::Control(Control::Shutdown) => self.shutdown(now),
            Event::Control(Control::InjectFailure) => panic!("hub failure injected by a test"),
        }
    }

    fn answer(&mut self, ask: Ask, now: Instant) {
        // The asker waits on a fresh bounded(1) channel, so these sends cannot
        // block; if it gave up waiting, nobody cares.
        match ask {
            Ask::Login {
                name,
                room,
                token,
                replaces,
                ip,
                reply,
            } => {
                let answer = self.login(name, &room, token, replaces, ip, now);
                let _ = reply.try_send(answer);
            }
            Ask::Logout { token } => {
                if let Some(id) = self.tokens.get(&token_key(&token)).copied() {
                    self.end_session(id, now);
                }
            }
            Ask::Lookup { token, reply } => {
                let name = self
                    .live_session(&token, now)
                    .map(|id| self.sessions[&id].name.to_string());
                let _ = reply.try_send(name);
            }
            Ask::Admit { token, ip, reply } => {
                let verdict = self.admit(&token, ip, now);
                let _ = reply.try_send(verdict);
            }
            Ask::Export { room, after, reply } => {
                let key = room_key(&room);
                // The display name: from memory, else storage, else as asked.
                let name: Arc<str> = match self.rooms.get(&key) {
                    Some(r) => r.name.clone(),
                    None => match self.store.room(&key) {
                        Ok(Some(stored)) => stored.name.into(),
                        _ => room.as_str().into(),
                    },
                };
                // One more than a page, to know whether there are more.
                let page_size = crate::config::EXPORT_PAGE;
                let page =
                    self.store
                        .after(&key, &name, after, page_size + 1)
                        .map(|mut messages| {
                            let more = messages.len() > page_size;
                            messages.truncate(page_size);
                            (messages, more)
                        });
                let _ = reply.try_send(page);
            }
        }
    }

    fn conn_event(&mut self, conn: ConnId, event: ConnEvent, now: Instant) {
        match event {
            ConnEvent::Connected { peer, socket, ip } => {
                self.connected(conn, peer, socket, ip, now)
            }
            ConnEvent::Echo(frame) => self.queue(conn, frame, now),
            ConnEvent::Request(request) => self.request(conn, request, now),
            ConnEvent::Rejected(rejection) => {
                if self.charge(conn, RATE_COST_INVALID, None, now) {
                    self.reject(conn, &rejection);
                }
            }
            ConnEvent::AutoReply(bytes) => {
                // A ping flood gets no pongs once it is over budget.
                if self.charge_quietly(conn, RATE_COST_CONTROL, now) {
                    self.queue(conn, bytes.into(), now);
                }
            }
            ConnEvent::Pong => {
                self.charge_quietly(conn, RATE_COST_CONTROL, now);
            }
            ConnEvent::Disconnected { close } => self.disconnected(conn, close, now),
        }
    }

    // -- sessions ---------------------------------------------------------------

    /// The session a cookie's token belongs to, if it exists and has not
    /// expired. Expiry is checked here, on every lookup, and not only by the
    /// sweep: a session past its time never works again, even for a moment.
    fn live_session(&self, token: &str, now: Instant) -> Option<SessionId> {
        let id = *self.tokens.get(&token_key(token))?;
        let session = self.sessions.get(&id)?;
        (!self.expired(session, now)).then_some(id)
    }

    /// A session expires once it has had no open socket for its time to live:
    /// `UNUSED_SESSION_TTL` if it never opened one, else `session_ttl`.
    fn expired(&self, session: &Session, now: Instant) -> bool {
        let ttl = match session.used {
            true => self.config.session_ttl,
            false => UNUSED_SESSION_TTL.min(self.config.session_ttl),
        };
        session.conns == 0 && now.duration_since(session.idle_since) >= ttl
    }

    /// May this session open a WebSocket from `ip`? Only a live session, and
    /// only within both rate budgets. The budgets are checked before they are
    /// charged, so a refused handshake costs nothing: pages retrying behind one
    /// NAT address do not keep each other out for good.
    fn admit(&mut self, token: &str, ip: IpAddr, now: Instant) -> Admission {
        let Some(id) = self.live_session(token, now) else {
            return Admission::UnknownSession;
        };
        let Some(budgets) = self.budgets.as_mut() else {
            return Admission::Welcome(id);
        };
        match budgets.check(Some(id), ip, RATE_COST_CONNECT, now) {
            Verdict::Allow => {
                budgets.charge(Some(id), ip, RATE_COST_CONNECT, now);
                Admission::Welcome(id)
            }
            _ => Admission::RateLimited,
        }
    }

    fn login(
        &mut self,
        name: String,
        room: &str,
        token: String,
        replaces: Option<String>,
        ip: IpAddr,
        now: Instant,
    ) -> Result<String, LoginRefusal> {
        let address = address_key(ip);
        if let Some(budgets) = self.budgets.as_mut() {
            // Charged even when refused: a login flood only digs itself deeper.
            let wait = match budgets.charge(None, address, RATE_COST_LOGIN, now) {
                Verdict::Allow => None,
                Verdict::Limit { retry_after_secs } => Some(retry_after_secs),
                // Far past the budget: at least two half-lives.
                Verdict::Close => Some(2 * RATE_HALF_LIFE.as_secs()),
            };
            if let Some(retry_after_secs) = wait {
                return Err(LoginRefusal {
                    status: 429,
                    message: format!(
                        "Too many logins from your address. Please try again in {retry_after_secs} s."
                    ),
                    retry_after: Some(retry_after_secs),
                });
            }
        }
        let previous = replaces.as_deref().and_then(|t| self.live_session(t, now));
        // Is the name held by another live session in that room?
        let wanted = name_key(&name);
        if let Some(r) = self.rooms.get(&room_key(room)) {
            let taken = r
                .present
                .iter()
                .any(|(&sid, p)| Some(sid) != previous && p.key == wanted);
            if taken {
                return Err(LoginRefusal::new(
                    400,
                    format!(
                        "The name \"{name}\" is already taken in #{}. Please choose another.",
                        r.name
                    ),
                ));
            }
        }
        if previous.is_none() {
            self.make_room_for_a_session(address, now)?;
        }
        if let Some(id) = previous {
            let session = &self.sessions[&id];
            if *session.name == *name {
                // Logging in again under the same name keeps the session, so open
                // tabs stay connected.
                return Ok(replaces.expect("`previous` comes from `replaces`"));
            }
            // A new name replaces the old session; its tabs are logged out.
            self.end_session(id, now);
        }
        // Not stored yet: only once it opens a socket (`connected`), so that
        // sessions nobody uses never take the database's space.
        let id = self.next_session;
        self.next_session += 1;
        let key = token_key(&token);
        self.tokens.insert(key.clone(), id);
        self.sessions_per_address
            .entry(address)
            .or_default()
            .insert(id);
        self.unused.insert(id);
        self.sessions.insert(
            id,
            Session {
                token: key,
                name: name.into(),
                address: Some(address),
                conns: 0,
                idle_since: now,
                used: false,
                restored: false,
                recent: VecDeque::new(),
            },
        );
        Ok(token)
    }

    /// Before a new session from `address`: within the caps per address and in
    /// all, evicting a session without an open socket when one is full, so
    /// that a flood of logins can neither grow without bound nor lock
    /// newcomers out. The first to go is the oldest that never opened a
    /// socket; then the longest idle, but only one idle for
    /// `MIN_IDLE_TO_EVICT`, so nobody who was chatting a moment ago (a page
    /// reload, a phone asleep, a restart) loses their session to a flood.
    /// Past that, the login is refused.
    fn make_room_for_a_session(
        &mut self,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), LoginRefusal> {
        let cap = self.config.max_sessions_per_ip;
        let mine = self.sessions_per_address.get(&address);
        if mine.is_some_and(|ids| ids.len() >= cap) {
            // At most `cap` of them: a short scan.
            let ids = mine.expect("checked above");
            let unused = ids.iter().find(|id| self.unused.contains(id));
            let idle = || {
                ids.iter()
                    .filter_map(|id| self.sessions.get(id).map(|s| (id, s)))
                    .filter(|(_, s)| s.conns == 0 && self.evictable(s.idle_since, now))
                    .min_by_key(|(_, s)| s.idle_since)
                    .map(|(id, _)| id)
            };
            let Some(&victim) = unused.or_else(idle) else {
                return Err(LoginRefusal {
                    status: 429,
                    message: format!(
                        "Too many sessions from your address ({cap}, --max-sessions-per-ip) \
                         are in use. Log out of one, or try again later."
                    ),
                    retry_after: Some(60),
                });
            };
            self.end_session(victim, now);
        }
        if self.sessions.len() >= self.max_sessions {
            let idle = self
                .idle
                .first()
                .filter(|(since, _)| self.evictable(*since, now))
                .map(|&(_, id)| id);
            let Some(victim) = self.unused.first().copied().or(idle) else {
                return Err(LoginRefusal {
                    status: 503,
                    message: format!(
                        "The chat is full ({} sessions, all in use). Please try again later.",
                        self.max_sessions
                    ),
                    retry_after: Some(60),
                });
            };
            self.end_session(victim, now);
        }
        Ok(())
    }

    /// Whether a session idle since `since` may be evicted for a newcomer.
    fn evictable(&self, since: Instant, now: Instant) -> bool {
        now.duration_since(since) >= MIN_IDLE_TO_EVICT
    }

    /// Forget a session (logout or expiry) and close its sockets with 1008.
    fn end_session(&mut self, id: SessionId, now: Instant) {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.session == id && c.closing.is_none())
            .map(|(&cid, _)| cid)
            .collect();
        for conn in conns {
            self.close(
                conn,
                close::POLICY,
                "session ended; log in again",
                false,
                now,
            );
        }
        if let Some(session) = self.sessions.remove(&id) {
            self.tokens.remove(&session.token);
            self.unused.remove(&id);
            self.idle.remove(&(session.idle_since, id));
            if let Some(address) = session.address {
                if let Some(ids) = self.sessions_per_address.get_mut(&address) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.sessions_per_address.remove(&address);
                    }
                }
            }
            if session.used {
                if let Err(err) = self.store.delete_session(&session.token) {
                    eprintln!("natter: could not delete a session from storage: {err}");
                }
            }
        }
    }

    // -- connections ------------------------------------------------------------

    fn connected(
        &mut self,
        id: ConnId,
        peer: Peer,
        socket: Arc<TcpStream>,
        ip: IpAddr,
        now: Instant,
    ) {
        let session = match &peer {
            Peer::Member(sid) => self
                .sessions
                .get(sid)
                .filter(|s| !self.expired(s, now))
                .map(|_| *sid),
            Peer::Echo => None,
        };
        self.conns.insert(
            id,
            Conn {
                session: session.unwrap_or(0),
                ip: address_key(ip),
                socket,
                outbox: Outbox::default(),
                rooms: Vec::new(),
                closing: None,
                write_shut: false,
                last_progress: now,
                doomed: false,
                counted: false,
                reader_gone: false,
            },
        );
        if peer == Peer::Echo {
            return; // Echo mode: no session, no rooms, no hello.
        }
        let Some(sid) = session else {
            // Logged out (or expired) between the handshake's check and now.
            self.close(id, close::POLICY, "session ended; log in again", false, now);
            return;
        };
        if self.shutdown_deadline.is_some() {
            self.close(id, close::GOING_AWAY, "server shutting down", false, now);
            return;
        }
        let session = self
            .sessions
            .get_mut(&sid)
            .expect("tokens map to live sessions");
        if session.conns == 0 && session.used {
            self.idle.remove(&(session.idle_since, sid));
        }
        self.unused.remove(&sid);
        session.conns += 1;
        if !session.used {
            // Its first socket: from now on it is a real session, and it is
            // stored, so that it outlives a restart.
            session.used = true;
            if let Err(err) = self
                .store
                .save_session(&session.token, &session.name, now_millis())
            {
                eprintln!("natter: could not save a session: {err}");
            }
        }
        self.conns.get_mut(&id).expect("inserted above").counted = true;
        let user = session.name.clone();
        let hello = protocol::encode(&Reply::Hello {
            user: &user,
            limits: &self.limits,
        });
        self.queue(id, hello, now);
    }

    /// The reader thread ended. Take the connection out of its rooms (leave
    /// notices wait for the grace period) and let the hub finish writing to it.
    fn disconnected(&mut self, id: ConnId, close: Option<(u16, &'static str)>, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.reader_gone = true;
        if conn.closing.is_none() {
            if let Some((code, reason)) = close {
                // The peer broke the rules, but what we already owe it (replies to
                // its earlier, valid frames) still goes out before the close frame.
                return self.close(id, code, reason, false, now);
            }
            self.part_all(id, now);
        }
        let conn = self.conns.get_mut(&id).expect("checked above");
        if conn.outbox.is_empty() {
            self.forget(id, now);
        } else if conn.closing.is_none() {
            // Finish writing what is queued (say, the echo of the peer's close
            // frame), then shut.
            conn.closing = Some(now + CLOSE_FLUSH_TIMEOUT);
            self.closing.push_back((now + CLOSE_FLUSH_TIMEOUT, id));
        }
    }

    /// Start closing a connection: leave its rooms, queue a close frame, and shut
    /// the socket once the frame is out or `CLOSE_FLUSH_TIMEOUT` has passed.
    /// `discard` drops queued frames first (a slow consumer will not read them).
    fn close(&mut self, id: ConnId, code: u16, reason: &str, discard: bool, now: Instant) {
        match self.conns.get(&id) {
            Some(conn) if conn.closing.is_none() => {}
            _ => return,
        }
        self.part_all(id, now);
        let conn = self.conns.get_mut(&id).expect("checked above");
        if discard {
            conn.outbox.discard_unstarted();
        }
        let was_empty = conn.outbox.is_empty();
        conn.outbox.push_final(protocol::close_frame(code, reason));
        conn.closing = Some(now + CLOSE_FLUSH_TIMEOUT);
        self.closing.push_back((now + CLOSE_FLUSH_TIMEOUT, id));
        if was_empty {
            self.dirty.push(id);
        }
    }

    /// Drop a connection for good. Shutting the socket down wakes its reader
    /// thread, whose blocking `read` then returns, so the thread ends too.
    fn forget(&mut self, id: ConnId, now: Instant) {
        self.part_all(id, now);
        if let Some(conn) = self.conns.remove(&id) {
            let _ = conn.socket.shutdown(Shutdown::Both);
        }
    }

    /// Leave every room, and count the connection out of its session. Runs once
    /// per connection, whichever way it ends.
    fn part_all(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.counted {
            return;
        }
        conn.counted = false;
        let rooms = std::mem::take(&mut conn.rooms);
        let session = conn.session;
        for key in rooms {
            self.part(id, session, &key, true, now);
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.conns = s.conns.saturating_sub(1);
            if s.conns == 0 {
                // Stored, so that after a restart the session still expires on time.
                s.idle_since = now;
                self.idle.insert((now, session));
                if let Err(err) = self.store.save_session(&s.token, &s.name, now_millis()) {
                    eprintln!("natter: could not save a session: {err}");
                }
            }
        }
    }

    // -- requests ---------------------------------------------------------------

    fn request(&mut self, id: ConnId, request: Request, now: Instant) {
        let (session, rooms) = match self.conns.get(&id) {
            Some(c) if c.closing.is_none() => (c.session, c.rooms.len()),
            _ => return,
        };
        let (cost, client_id) = match &request {
            Request::Join { .. } => (RATE_COST_JOIN, None),
            Request::Message {
                text, client_id, ..
            } => (
                RATE_COST_MESSAGE + text.chars().count() as f64 / RATE_CHARS_PER_POINT,
                client_id.as_deref(),
            ),
            // Each page is a database read: cheap, but not free.
            Request::History { .. } => (RATE_COST_HISTORY, None),
            Request::Leave { .. } => (RATE_COST_LEAVE, None),
            Request::Typing { .. } => (RATE_COST_TYPING, None),
        };
        // Everything a client sends is charged. A refused `typing` is simply
        // dropped: an error per notice would only be more traffic.
        let allowed = match request {
            Request::Typing { .. } => self.charge_quietly(id, cost, now),
            _ => self.charge(id, cost, client_id.map(str::to_string), now),
        };
        if !allowed {
            return;
        }
        match request {
            Request::Join { room, since } => {
                let key = room_key(&room);
                let already = self.conns[&id].rooms.contains(&key);
                if !already && rooms >= MAX_ROOMS_PER_CONNECTION {
                    let message = format!(
                        "a connection may be in at most {MAX_ROOMS_PER_CONNECTION} rooms; leave one first"
                    );
                    let mut r = Rejection::new(ErrorCode::TooManyRooms, message);
                    r.room = Some(room);
                    return self.reject(id, &r);
                }
                self.join(id, session, &room, key, since, already, now);
            }
            Request::Leave { room } => {
                let key = room_key(&room);
                if !self.require_member(id, &key, &room, None) {
                    return;
                }
                self.conns
                    .get_mut(&id)
                    .expect("checked above")
                    .rooms
                    .retain(|k| *k != key);
                self.part(id, session, &key, false, now);
            }
            Request::Message {
                room,
                text,
                client_id,
            } => {
                let key = room_key(&room);
                if !self.require_member(id, &key, &room, client_id.as_deref()) {
                    return;
                }
                self.post(id, session, &key, text, client_id, now);
            }
            Request::Typing { room } => {
                let key = room_key(&room);
                if !self.require_member(id, &key, &room, None) {
                    return;
                }
                self.typing(session, &key, now);
            }
            Request::History {
                room,
                before,
                limit,
            } => {
                let key = room_key(&room);
                if !self.require_member(id, &key, &room, None) {
                    return;
                }
                self.history(id, &key, before, limit, now);
            }
        }
    }

    /// Reply `not_joined` unless the connection is in the room.
    fn require_member(
        &mut self,
        id: ConnId,
        key: &str,
        room: &str,
        client_id: Option<&str>,
    ) -> bool {
        if self.conns[&id].rooms.iter().any(|k| k == key) {
            return true;
        }
        let mut r = Rejection::new(
            ErrorCode::NotJoined,
            format!("you are not in room \"{room}\"; send join first"),
        );
        r.room = Some(room.to_string());
        r.client_id = client_id.map(str::to_string);
        self.reject(id, &r);
        false
    }

    fn reject(&mut self, id: ConnId, rejection: &Rejection) {
        let frame = protocol::encode(&Reply::Error(rejection));
        self.queue(id, frame, Instant::now());
    }

    /// Charge what a connection sent to its session's and its address's
    /// budgets. Returns whether it may go ahead.
    fn verdict(&mut self, id: ConnId, cost: f64, now: Instant) -> Verdict {
        let (Some(budgets), Some(conn)) = (self.budgets.as_mut(), self.conns.get(&id)) else {
            return Verdict::Allow;
        };
        if conn.closing.is_some() {
            // On its way out: nothing it still sends is done, or charged.
            return Verdict::Limit {
                retry_after_secs: 0,
            };
        }
        if conn.session == 0 {
            return Verdict::Allow; // echo mode: no sessions, nothing to limit
        }
        budgets.charge(Some(conn.session), conn.ip, cost, now)
    }

    /// Charge a request's cost (see `verdict`). Returns whether it may go
    /// ahead; if not, the client has been told (`rate_limited`) or, when it
    /// kept going anyway, closed with 1008.
    fn charge(&mut self, id: ConnId, cost: f64, client_id: Option<String>, now: Instant) -> bool {
        match self.verdict(id, cost, now) {
            Verdict::Allow => true,
            Verdict::Limit { retry_after_secs } => {
                let mut r = Rejection::new(
                    ErrorCode::RateLimited,
                    format!("slow down: you can send again in {retry_after_secs} s"),
                );
                r.client_id = client_id;
                r.retry_after = Some(retry_after_secs);
                self.reject(id, &r);
                false
            }
            Verdict::Close => {
                self.close_flooder(id, now);
                false
            }
        }
    }

    /// Charge a frame that gets no answer (`typing`, a ping or pong): over the
    /// budget it is dropped without a word, far over it the connection closes.
    fn charge_quietly(&mut self, id: ConnId, cost: f64, now: Instant) -> bool {
        match self.verdict(id, cost, now) {
            Verdict::Allow => true,
            Verdict::Limit { .. } => false,
            Verdict::Close => {
                self.close_flooder(id, now);
                false
            }
        }
    }

    /// Close a connection that kept going far past its budget (1008), after
    /// the refusals already queued for it. The socket is shut once the close
    /// frame is out (at most `CLOSE_FLUSH_TIMEOUT`); until then
    /// its reader may still pass on frames, which cost the hub a lookup each
    /// and are neither done nor charged (see `verdict`).
    fn close_flooder(&mut self, id: ConnId, now: Instant) {
        self.close(id, close::POLICY, "rate limit exceeded", false, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        id: ConnId,
        session: SessionId,
        room: &str,
        key: String,
        since: Option<u64>,
        already: bool,
        now: Instant,
    ) {
        let name = self.sessions[&session].name.clone();
        let r = match self.load_room(&key, room) {
            Ok(r) => r,
            Err(err) => {
                let mut rejection = Rejection::new(
                    ErrorCode::StorageFailed,
                    format!("could not load the room: {err}"),
                );
                rejection.room = Some(room.to_string());
                return self.reject(id, &rejection);
            }
        };
        let wanted = name_key(&name);
        let clash = r
            .present
            .iter()
            .any(|(&sid, p)| sid != session && p.key == wanted);
        if clash {
            let mut rejection = Rejection::new(
                ErrorCode::NameTaken,
                format!("the name \"{name}\" is already taken in #{}", r.name),
            );
            rejection.room = Some(r.name.to_string());
            self.maybe_idle.push(key);
            return self.reject(id, &rejection);
        }
        // No flush of the room's batch is needed first: during a pass it holds
        // only notices, never chat messages (those are added by `commit`, after
        // every event of the pass). So the joiner cannot get a message twice,
        // and a join storm costs members one chunk per pass, not one per join.
        let r = self.rooms.get_mut(&key).expect("inserted above");
        let mut announce = false;
        if !already {
            r.members.push(id);
            let presence = r.present.entry(session).or_insert_with(|| {
                announce = true;
                Presence {
                    name: name.clone(),
                    key: wanted,
                    conns: 0,
                    typing_at: None,
                }
            });
            presence.conns += 1;
            self.conns
                .get_mut(&id)
                .expect("request() checked the connection")
                .rooms
                .push(key.clone());
        }
        // A user coming back within the grace period cancels their leave notice
        // simply by being present again with conns > 0 (see `tick`).
        let budget = self.reply_budget(id);
        let r = &self.rooms[&key];
        let oldest = r.history.front().map(|m| m.id);
        let last = r.next_id - 1;
        // Messages replayed from storage, when the cache does not reach back
        // far enough; `history` then points into this instead of the cache.
        let replayed: Vec<ChatMessage>;
        let all = || r.history.iter().collect::<Vec<&ChatMessage>>();
        let (history, gap): (Vec<&ChatMessage>, bool) = match since {
            None => (all(), false),
            // A `since` from the future: the database was replaced and ids
            // started again. The page must start over.
            Some(since) if since > last => (all(), true),
            // Everything missed is still in memory.
            Some(since) if oldest.is_some_and(|o| o <= since + 1) || since == last => {
                (r.history.iter().filter(|m| m.id > since).collect(), false)
            }
            // Older than the cache: replay from storage, up to a limit.
            Some(since) => match self.store.after(&key, &r.name, since, MAX_RESUME + 1) {
                Ok(missed) if missed.len() <= MAX_RESUME => {
                    replayed = missed;
                    (replayed.iter().collect(), false)
                }
                Ok(_) => (all(), true),
                Err(err) => {
                    eprintln!("natter: could not read history: {err}");
                    (all(), true)
                }
            },
        };
        // The answer must fit the joiner's queue whatever the room holds: past
        // the budget the oldest messages are left out. Without `since` that
        // is ordinary (the page scrolls back for them); with it, the page was
        // promised everything it missed, so it is told there is a gap.
        let (history, cut) = newest_within(history, budget);
        let gap = gap || (cut && since.is_some());
        let members = r.member_names();
        let joined = protocol::encode(&Reply::Joined {
            room: &r.name,
            members: &members,
            history,
            gap,
        });
        self.queue(id, joined, now);
        if announce {
            self.announce(&key, &name, SystemEvent::Join);
        }
    }

    /// Take one connection out of a room. When it was the user's last connection
    /// there, the leave notice is posted now (`explicit`: they chose to leave) or
    /// after the grace period (a dropped socket may be a page reload).
    fn part(&mut self, id: ConnId, session: SessionId, key: &str, grace: bool, now: Instant) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        r.members.retain(|&m| m != id);
        let Some(presence) = r.present.get_mut(&session) else {
            return;
        };
        presence.conns = presence.conns.saturating_sub(1);
        if presence.conns > 0 || self.shutdown_deadline.is_some() {
            return;
        }
        if grace {
            self.leaving
                .push_back((now + self.config.leave_grace, key.to_string(), session));
        } else {
            let name = r.present.remove(&session).expect("looked up above").name;
            self.announce(key, &name, SystemEvent::Leave);
        }
    }

    /// Post a join or leave notice to a room, and mark its member list to be
    /// sent (see `flush_presence`).
    fn announce(&mut self, key: &str, user: &str, event: SystemEvent) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        let verb = match event {
            SystemEvent::Join => "joined",
            SystemEvent::Leave => "left",
        };
        let system = protocol::encode(&Reply::System {
            room: &r.name,
            event,
            user,
            ts: now_millis(),
            text: format!("{user} {verb}"),
        });
        if r.batch.is_empty() {
            self.batched.push(key.to_string());
        }
        r.batch.extend_from_slice(&system);
        if !r.presence_dirty {
            r.presence_dirty = true;
            self.presence_pending.push(key.to_string());
        }
        if event == SystemEvent::Leave {
            self.maybe_idle.push(key.to_string());
        }
    }

    fn post(
        &mut self,
        id: ConnId,
        session: SessionId,
        key: &str,
        text: String,
        client_id: Option<String>,
        now: Instant,
    ) {
        let s = self
            .sessions
            .get_mut(&session)
            .expect("connections have sessions");
        if let Some(cid) = &client_id {
            let mut posted = s
                .recent
                .iter()
                .find(|(c, k, _)| c == cid && k == key)
                .map(|&(_, _, msg_id)| msg_id);
            if posted.is_none() && s.restored {
                // The session is older than this process, and so is its memory
                // of client ids: look in what the room remembers instead, for a
                // message of this name with this id. (A page resends only what
                // it sent moments ago, which is among the room's recent messages.)
                posted = self.rooms[key]
                    .history
                    .iter()
                    .rev()
                    .find(|m| m.client_id.as_deref() == Some(cid) && m.user == s.name)
                    .map(|m| m.id);
            }
            if let Some(msg_id) = posted {
                // A resend of something already posted (the page did not see the
                // echo before it lost the connection). Send the original to this
                // connection only; post nothing.
                let r = &self.rooms[key];
                let original = match r.history.iter().find(|m| m.id == msg_id) {
                    Some(m) => Some(m.clone()),
                    None => self
                        .store
                        .after(key, &r.name, msg_id - 1, 1)
                        .ok()
                        .and_then(|mut found| found.pop())
                        .filter(|m| m.id == msg_id),
                };
                if let Some(message) = original {
                    let frame = protocol::encode(&Reply::Message(&message));
                    self.queue(id, frame, now);
                }
                return;
            }
        }
        let user = s.name.clone();
        let r = self.rooms.get_mut(key).expect("members' rooms exist");
        // A message ends its author's typing (pages clear the line when it
        // arrives), so the next `typing` passes at once, however soon.
        if let Some(presence) = r.present.get_mut(&session) {
            presence.typing_at = None;
        }
        let message = ChatMessage {
            room: r.name.clone(),
            id: r.next_id,
            user,
            text,
            ts: now_millis(),
            client_id,
        };
        r.next_id += 1;
        if let Some(cid) = &message.client_id {
            if s.recent.len() == CLIENT_ID_MEMORY {
                s.recent.pop_front();
            }
            s.recent
                .push_back((cid.clone(), key.to_string(), message.id));
        }
        // Not sent yet: `commit` saves the pass's messages first.
        self.unsaved.push((key.to_string(), message, id));
    }

    /// Save this pass's messages in one transaction, then hand them to their
    /// rooms. Nobody receives a message before it is stored, so whatever a
    /// client has seen survives a crash. If saving fails, nothing is posted and
    /// each sender gets `storage_failed` (the page keeps the message pending).
    fn commit(&mut self) {
        if self.unsaved.is_empty() {
            return;
        }
        let unsaved = std::mem::take(&mut self.unsaved);
        let rows: Vec<(&str, &ChatMessage)> =
            unsaved.iter().map(|(k, m, _)| (k.as_str(), m)).collect();
        if let Err(err) = self.store.save_messages(&rows) {
            // One transaction failed; maybe only some of its messages cannot
            // be saved (a long one when the database is nearly full). Try each
            // alone, so nobody is refused for somebody else's message.
            eprintln!("natter: could not store {} message(s): {err}", rows.len());
            for (key, message, conn) in unsaved {
                match self.store.save_messages(&[(key.as_str(), &message)]) {
                    Ok(()) => self.deliver(key, message),
                    Err(err) => self.refuse_unsaved(key, message, conn, &err),
                }
            }
            return;
        }
        for (key, message, _) in unsaved {
            self.deliver(key, message);
        }
    }

    /// A stored message goes to its room's batch and history cache.
    fn deliver(&mut self, key: String, message: ChatMessage) {
        let Some(r) = self.rooms.get_mut(&key) else {
            return; // Everyone left; it is stored, and that is all.
        };
        if r.batch.is_empty() {
            self.batched.push(key);
        }
        r.batch
            .extend_from_slice(&protocol::encode(&Reply::Message(&message)));
        r.history.push_back(message);
        while r.history.len() > self.config.history {
            r.history.pop_front();
        }
    }

    /// A message that could not be stored is sent to nobody; its sender is
    /// told, and may send it again with the same `client_id`.
    fn refuse_unsaved(&mut self, key: String, message: ChatMessage, conn: ConnId, err: &str) {
        if let Some(s) = self
            .conns
            .get(&conn)
            .and_then(|c| self.sessions.get_mut(&c.session))
        {
            s.recent
                .retain(|(_, k, id)| !(*k == key && *id == message.id));
        }
        let mut r = Rejection::new(
            ErrorCode::StorageFailed,
            format!("your message could not be saved ({err}); it was not sent"),
        );
        r.room = Some(message.room.to_string());
        r.client_id = message.client_id;
        self.reject(conn, &r);
    }

    /// A page of older messages, from storage.
    fn history(
        &mut self,
        id: ConnId,
        key: &str,
        before: Option<u64>,
        limit: Option<usize>,
        now: Instant,
    ) {
        let r = &self.rooms[key];
        let limit = limit.unwrap_or(MAX_HISTORY_PAGE).clamp(1, MAX_HISTORY_PAGE);
        let before = before.unwrap_or(u64::MAX);
        let budget = self.reply_budget(id);
        let frame = match self.store.before(key, &r.name, before, limit) {
            Ok((messages, more)) => {
                // Past the byte budget the oldest are left for the next page.
                let (fit, cut) = newest_within(messages.iter().collect(), budget);
                let skip = messages.len() - fit.len();
                protocol::encode(&Reply::History {
                    room: &r.name,
                    messages: &messages[skip..],
                    more: more || cut,
                })
            }
            Err(err) => {
                let mut rejection = Rejection::new(
                    ErrorCode::StorageFailed,
                    format!("could not read history: {err}"),
                );
                rejection.room = Some(r.name.to_string());
                return self.reject(id, &rejection);
            }
        };
        self.queue(id, frame, now);
    }

    /// The room for `key`: from memory, else from storage (name, next id and
    /// recent history), else a new room named `display`.
    fn load_room(&mut self, key: &str, display: &str) -> Result<&mut Room, StorageError> {
        if !self.rooms.contains_key(key) {
            let room = match self.store.room(key)? {
                Some(stored) => {
                    let mut room = Room::new(&stored.name);
                    room.next_id = stored.next_id;
                    let (recent, _) =
                        self.store
                            .before(key, &room.name, u64::MAX, self.config.history)?;
                    room.history = recent.into();
                    room
                }
                None => Room::new(display),
            };
            self.rooms.insert(key.to_string(), room);
        }
        Ok(self.rooms.get_mut(key).expect("inserted above"))
    }

    /// Tell the room that this user is typing: at most once per
    /// `TYPING_INTERVAL`, in the room's batch like every other frame for the
    /// room. (Queued to each member on its own, a burst of notices made one
    /// chunk per notice per member and closed the whole room as slow
    /// consumers.) The typist's own pages get it too, and ignore their own name.
    fn typing(&mut self, session: SessionId, key: &str, now: Instant) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        let Some(presence) = r.present.get_mut(&session) else {
            return;
        };
        if presence
            .typing_at
            .is_some_and(|at| now.duration_since(at) < TYPING_INTERVAL)
        {
            return;
        }
        presence.typing_at = Some(now);
        let frame = protocol::encode(&Reply::Typing {
            room: &r.name,
            user: &presence.name,
        });
        if r.batch.is_empty() {
            self.batched.push(key.to_string());
        }
        r.batch.extend_from_slice(&frame);
    }

    /// How many bytes of messages an answer to this connection may carry:
    /// `MAX_REPLY_BYTES`, and no more than half of what its queue has free, so
    /// that the answer and the room's next batch both fit.
    fn reply_budget(&self, id: ConnId) -> usize {
        let queued = self.conns.get(&id).map_or(0, |c| c.outbox.len());
        let free = self.config.max_outbox_bytes.saturating_sub(queued);
        MAX_REPLY_BYTES.min(free / 2)
    }

    // -- writing ----------------------------------------------------------------

    /// Queue a chunk for one connection. If it does not fit, the connection is
    /// a slow consumer: it is marked to be closed at the end of the pass.
    fn queue(&mut self, id: ConnId, chunk: Arc<[u8]>, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.closing.is_some() || conn.doomed {
            return;
        }
        let was_empty = conn.outbox.is_empty();
        match conn
            .outbox
            .push(chunk, self.config.max_outbox_bytes, MAX_OUTBOX_CHUNKS)
        {
            Ok(()) if was_empty => {
                conn.last_progress = now;
                self.dirty.push(id);
            }
            Ok(()) => {}
            Err(_) => {
                conn.doomed = true;
                self.doomed.push((id, close::POLICY, "slow consumer"));
            }
        }
    }

    /// Hand a room's batched frames to its members as one shared chunk.
    fn flush_room(&mut self, key: &str, now: Instant) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        if r.batch.is_empty() {
            return;
        }
        let chunk: Arc<[u8]> = std::mem::take(&mut r.batch).into();
        // `queue` needs `&mut self`, so the member list is lent out of the room
        // and put back (`queue` never touches rooms).
        let members = std::mem::take(&mut r.members);
        for &m in &members {
            self.queue(m, chunk.clone(), now);
        }
        if let Some(r) = self.rooms.get_mut(key) {
            r.members = members;
        }
    }

    /// Add each changed member list to its room's batch: once per pass at most,
    /// and in big rooms no more often than `PRESENCE_INTERVAL_PER_MEMBER` allows.
    fn flush_presence(&mut self, now: Instant) {
        let mut later = Vec::new();
        for key in std::mem::take(&mut self.presence_pending) {
            let Some(r) = self.rooms.get_mut(&key) else {
                continue;
            };
            if r.next_presence.is_some_and(|due| due > now) {
                later.push(key);
                continue;
            }
            r.presence_dirty = false;
            let spacing = PRESENCE_INTERVAL_PER_MEMBER * r.members.len() as u32;
            r.next_presence = Some(now + spacing.min(MAX_PRESENCE_INTERVAL));
            let members = r.member_names();
            let presence = protocol::encode(&Reply::Presence {
                room: &r.name,
                members: &members,
            });
            if r.batch.is_empty() {
                self.batched.push(key);
            }
            r.batch.extend_from_slice(&presence);
        }
        self.presence_pending = later;
    }

    /// Hand every room's batch to its members.
    fn flush_rooms(&mut self, now: Instant) {
        for key in std::mem::take(&mut self.batched) {
            self.flush_room(&key, now);
        }
    }

    /// End of a pass: batches to members, doomed connections closed, then one
    /// non-blocking write per connection with bytes queued.
    fn flush(&mut self, now: Instant) {
        self.commit();
        self.flush_presence(now);
        self.flush_rooms(now);
        while !self.doomed.is_empty() {
            for (id, code, reason) in std::mem::take(&mut self.doomed) {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.doomed = false;
                }
                self.close(id, code, reason, true, now);
            }
            // Leaving rooms hands out their batches, which may doom others.
            self.flush_rooms(now);
        }
        let mut still_dirty = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            if conn.outbox.is_empty() {
                continue;
            }
            match conn.outbox.write_to(&conn.socket) {
                Ok(n) => {
                    if n > 0 {
                        conn.last_progress = now;
                    }
                    if !conn.outbox.is_empty() {
                        if now.duration_since(conn.last_progress) >= self.config.write_stall_timeout
                        {
                            conn.doomed = true;
                            self.doomed.push((id, close::POLICY, "write stalled"));
                        }
                        still_dirty.push(id);
                    } else if conn.closing.is_some() {
                        if conn.reader_gone {
                            self.forget(id, now);
                        } else if !conn.write_shut {
                            // The close frame is out: half-close, and wait for
                            // the reader to see the peer's reply (or the deadline).
                            let _ = conn.socket.shutdown(Shutdown::Write);
                            conn.write_shut = true;
                        }
                    }
                }
                // The peer is gone (reset, broken pipe). Its reader notices too.
                Err(_) => self.forget(id, now),
            }
        }
        // Forgetting may have parted rooms and queued to others meanwhile.
        still_dirty.append(&mut self.dirty);
        self.dirty = still_dirty;
        // Rooms nobody is in leave memory; storage keeps their history.
        for key in std::mem::take(&mut self.maybe_idle) {
            if self.rooms.get(&key).is_some_and(Room::is_idle) {
                self.rooms.remove(&key);
            }
        }
    }

    // -- timers -----------------------------------------------------------------

    /// The earliest moment something needs the hub without an event arriving.
    fn next_wakeup(&self, now: Instant) -> Instant {
        let mut at = self.next_ping.min(self.next_sweep);
        if !self.dirty.is_empty() {
            at = at.min(now + WRITE_RETRY_INTERVAL);
        }
        if let Some((deadline, _, _)) = self.leaving.front() {
            at = at.min(*deadline);
        }
        if let Some(deadline) = self.shutdown_deadline {
            at = at.min(deadline);
        }
        if let Some((deadline, _)) = self.closing.front() {
            at = at.min(*deadline);
        }
        for key in &self.presence_pending {
            if let Some(due) = self.rooms.get(key).and_then(|r| r.next_presence) {
                at = at.min(due);
            }
        }
        at
    }

    /// Timers: leave notices whose grace ran out, pings, expired sessions, and
    /// closing sockets past their deadline.
    pub fn tick(&mut self, now: Instant) {
        while let Some((deadline, _, _)) = self.leaving.front() {
            if *deadline > now {
                break;
            }
            let (_, key, session) = self.leaving.pop_front().expect("front exists");
            let gone = self
                .rooms
                .get(&key)
                .and_then(|r| r.present.get(&session))
                .is_some_and(|p| p.conns == 0);
            if gone {
                let r = self.rooms.get_mut(&key).expect("checked above");
                let name = r.present.remove(&session).expect("checked above").name;
                self.announce(&key, &name, SystemEvent::Leave);
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.config.ping_interval;
            let ids: Vec<ConnId> = self.conns.keys().copied().collect();
            for id in ids {
                self.queue(id, self.ping.clone(), now);
            }
        }
        if let Some(retention) = self.config.retention.filter(|_| now >= self.next_retention) {
            self.next_retention = now + RETENTION_INTERVAL;
            self.delete_old(retention);
        }
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_INTERVAL;
            let expired: Vec<SessionId> = self
                .sessions
                .iter()
                .filter(|(_, s)| self.expired(s, now))
                .map(|(&id, _)| id)
                .collect();
            for id in expired {
                self.end_session(id, now);
            }
            if let Some(budgets) = &mut self.budgets {
                budgets.sweep(now);
            }
        }
        while let Some(&(deadline, id)) = self.closing.front() {
            if deadline > now {
                break;
            }
            self.closing.pop_front();
            self.forget(id, now);
        }
    }

    /// `--retention`: delete stored messages older than `retention`, and the
    /// same from the rooms in memory, so nobody is shown what was deleted.
    fn delete_old(&mut self, retention: Duration) {
        let cutoff = now_millis().saturating_sub(retention.as_millis() as u64);
        match self.store.delete_before(cutoff) {
            Ok(0) => {}
            Ok(n) => println!("natter: retention deleted {n} message(s)"),
            Err(err) => eprintln!("natter: retention could not delete old messages: {err}"),
        }
        for r in self.rooms.values_mut() {
            r.history.retain(|m| m.ts >= cutoff);
        }
    }

    fn shutdown(&mut self, now: Instant) {
        self.shutdown_deadline = Some(now + SHUTDOWN_TIMEOUT);
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            // Queued frames stay: they are delivered before the close frame.
            self.close(id, close::GOING_AWAY, "server shutting down", false, now);
        }
    }

    /// Shutdown is complete when every connection is gone, or time is up.
    fn finished(&self, now: Instant) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => self.conns.is_empty() || now >= deadline,
            None => false,
        }
    }
}

/// The newest of `messages` (oldest first) whose encoded size fits in
/// `budget` bytes, still oldest first, and whether any were left out.
fn newest_within(messages: Vec<&ChatMessage>, budget: usize) -> (Vec<&ChatMessage>, bool) {
    let mut used = 0;
    let keep = messages
        .iter()
        .rev()
        .take_while(|m| {
            used += protocol::encoded_len(m);
            used <= budget
        })
        .count();
    let cut = keep < messages.len();
    let mut messages = messages;
    messages.drain(..messages.len() - keep);
    (messages, cut)
}

/// If the hub panics, the chat is over: nobody else can write the sockets or
/// knows the rooms. Tell every client plainly (close 1011) instead of leaving
/// them connected to a server that will never answer. `run` sees the hub thread
/// end and exits non-zero.
impl Drop for Hub {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let farewell = protocol::close_frame(close::INTERNAL_ERROR, "server error");
        for conn in self.conns.values_mut() {
            conn.outbox.discard_unstarted();
            conn.outbox.push_final(farewell.clone());
            let _ = conn.outbox.write_to(&conn.socket);
            let _ = conn.socket.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The hub driven directly, with a chosen `now`: no sockets, no sleeps.
    use super::*;

    fn hub(adjust: impl FnOnce(&mut Config)) -> (Hub, Instant) {
        let mut config = Config {
            db: ":memory:".into(),
            ..Config::default()
        };
        adjust(&mut config);
        let store = Storage::open(":memory:", None).expect("an in-memory database opens");
        let now = Instant::now();
        (
            Hub::new(config, store, now).expect("an empty store loads"),
            now,
        )
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a literal address")
    }

    /// Log in through the event the web thread sends; returns the answer.
    fn login(hub: &mut Hub, name: &str, from: &str, now: Instant) -> Result<String, LoginRefusal> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let token = crate::session::new_token().expect("randomness");
        let event = Event::Ask(Ask::Login {
            name: name.into(),
            room: "lobby".into(),
            token,
            replaces: None,
            ip: ip(from),
            reply,
        });
        hub.handle(event, now);
        answer.try_recv().expect("the hub answers a login at once")
    }

    fn lookup(hub: &mut Hub, token: &str, now: Instant) -> Option<String> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let token = token.to_string();
        hub.handle(Event::Ask(Ask::Lookup { token, reply }), now);
        answer.try_recv().expect("the hub answers a lookup at once")
    }

    #[test]
    fn a_session_that_never_connects_expires_soon_and_on_lookup() {
        let (mut hub, now) = hub(|_| {});
        let token = login(&mut hub, "alice", "192.0.2.1", now).unwrap();
        let almost = now + UNUSED_SESSION_TTL - Duration::from_secs(1);
        assert_eq!(lookup(&mut hub, &token, almost).as_deref(), Some("alice"));
        // No sweep has run: the lookup itself sees that it is over.
        let after = now + UNUSED_SESSION_TTL;
        assert_eq!(lookup(&mut hub, &token, after), None);
    }

    #[test]
    fn logins_from_one_address_evict_its_oldest_unused_session() {
        let (mut hub, now) = hub(|c| {
            c.rate_limit = None;
            c.max_sessions_per_ip = 3;
        });
        let tokens: Vec<String> = (0..5)
            .map(|i| login(&mut hub, &format!("u{i}"), "192.0.2.1", now).unwrap())
            .collect();
        let alive: Vec<bool> = tokens
            .iter()
            .map(|t| lookup(&mut hub, t, now).is_some())
            .collect();
        assert_eq!(alive, [false, false, true, true, true]);
        // Another address is not affected by that one's cap.
        assert!(login(&mut hub, "bob", "192.0.2.2", now).is_ok());
        assert_eq!(hub.sessions.len(), 4);
    }

    #[test]
    fn a_full_chat_evicts_instead_of_refusing() {
        let (mut hub, now) = hub(|c| {
            c.rate_limit = None;
            c.max_sessions = 10;
        });
        let first = login(&mut hub, "first", "192.0.2.1", now).unwrap();
        for i in 0..20 {
            let from = format!("198.51.100.{i}");
            assert!(login(&mut hub, &format!("flood{i}"), &from, now).is_ok());
        }
        assert_eq!(hub.sessions.len(), 10);
        assert_eq!(lookup(&mut hub, &first, now), None, "the oldest went first");
        assert!(login(&mut hub, "newcomer", "203.0.113.5", now).is_ok());
    }

    /// Open and close a socket for this session, as a page that was chatting
    /// and then reloaded or went to sleep. The session is idle from `now`.
    fn use_once(hub: &mut Hub, token: &str, conn: ConnId, now: Instant) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let session = hub.live_session(token, now).expect("a live session");
        let event = ConnEvent::Connected {
            peer: Peer::Member(session),
            socket: Arc::new(server),
            ip: ip("192.0.2.1"),
        };
        hub.handle(Event::Conn(conn, event), now);
        hub.handle(
            Event::Conn(conn, ConnEvent::Disconnected { close: None }),
            now,
        );
    }

    #[test]
    fn a_flood_never_evicts_someone_who_was_just_chatting() {
        let (mut hub, now) = hub(|c| {
            c.rate_limit = None;
            c.max_sessions = 2;
            c.max_sessions_per_ip = 2;
        });
        let alice = login(&mut hub, "alice", "192.0.2.1", now).unwrap();
        use_once(&mut hub, &alice, 1, now);
        // A flood from alice's address and from others: the unused go first.
        for i in 0..20 {
            let from = ["192.0.2.1", "198.51.100.7"][i % 2];
            assert!(login(&mut hub, &format!("f{i}"), from, now).is_ok());
        }
        assert_eq!(lookup(&mut hub, &alice, now).as_deref(), Some("alice"));
        // With every other place taken by someone who chatted too, a
        // newcomer is refused rather than evicting them ...
        let bob = login(&mut hub, "bob", "203.0.113.1", now).unwrap();
        use_once(&mut hub, &bob, 2, now);
        let soon = now + Duration::from_secs(60);
        let refused = login(&mut hub, "carol", "203.0.113.2", soon).unwrap_err();
        assert_eq!((refused.status, refused.retry_after), (503, Some(60)));
        // ... until one has been away for a long while.
        let later = now + MIN_IDLE_TO_EVICT;
        assert!(login(&mut hub, "carol", "203.0.113.2", later).is_ok());
        assert_eq!(
            lookup(&mut hub, &alice, later),
            None,
            "the longest idle went"
        );
        assert_eq!(lookup(&mut hub, &bob, later).as_deref(), Some("bob"));
    }

    #[test]
    fn logins_are_charged_to_the_address() {
        let (mut hub, now) = hub(|c| c.rate_limit = Some(2.0));
        // The address budget is 10 x 2 = 20; a login costs 1.
        let passed = (0..40)
            .take_while(|i| login(&mut hub, &format!("u{i}"), "192.0.2.1", now).is_ok())
            .count();
        assert_eq!(passed, 19);
        let refused = login(&mut hub, "late", "192.0.2.1", now).unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(refused.retry_after.is_some_and(|s| s > 0), "{refused:?}");
        // An IPv6 neighbour in the same /64 shares it; another /64 does not.
        assert!(login(&mut hub, "v6a", "2001:db8::1", now).is_ok());
        assert!(login(&mut hub, "v6b", "2001:db8:0:1::1", now).is_ok());
        assert!(login(&mut hub, "other", "192.0.2.2", now).is_ok());
    }

    #[test]
    fn sessions_that_expired_while_stopped_are_not_restored() {
        let store = Storage::open(":memory:", None).unwrap();
        let day = 24 * 60 * 60 * 1000;
        store
            .save_session("old", "alice", now_millis() - 2 * day)
            .unwrap();
        store.save_session("new", "bob", now_millis()).unwrap();
        let hub = Hub::new(Config::default(), store, Instant::now()).unwrap();
        let names: Vec<&str> = hub.sessions.values().map(|s| &*s.name).collect();
        assert_eq!(names, ["bob"]);
        assert_eq!(hub.store.sessions().unwrap().len(), 1, "and it is deleted");
    }

    #[test]
    fn answers_with_many_messages_keep_to_their_byte_budget() {
        let room: Arc<str> = "lobby".into();
        let messages: Vec<ChatMessage> = (1..=10)
            .map(|id| ChatMessage {
                room: room.clone(),
                id,
                user: "alice".into(),
                text: "\"".repeat(1000), // 2,000 bytes once escaped
                ts: 0,
                client_id: None,
            })
            .collect();
        let all: Vec<&ChatMessage> = messages.iter().collect();
        let (fit, cut) = newest_within(all.clone(), 5 * 2200);
        assert!(cut);
        assert_eq!(
            fit.iter().map(|m| m.id).collect::<Vec<_>>(),
            [6, 7, 8, 9, 10]
        );
        let (fit, cut) = newest_within(all, usize::MAX);
        assert_eq!((fit.len(), cut), (10, false));
    }
}
