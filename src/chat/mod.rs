//! The chat itself, with no sockets: sessions, rooms, members, the history
//! cache, presence and rate-limit scores, and the rules that change them.
//!
//! Nothing here reads a clock, touches a socket or knows a thread. Every
//! change comes in as a call with `now` (a command from `cmd/`, or one of the
//! lifecycle calls below), and every consequence goes out as data the hub
//! picks up:
//!
//! - **replies**: bytes for one connection (`hello`, `joined`, an error), in
//!   [`Chat::take_out`], which the hub drains after every event so that a
//!   connection's answers keep the order of its requests;
//! - **room batches**: notices and messages for everyone in a room, handed
//!   out once per pass by [`Chat::deliver`], one shared chunk per room;
//! - **closes**: connections the rules want gone (a flood, an ended session);
//! - **writes to storage**: new messages wait in `pending` until
//!   [`Chat::commit`] has stored them, and only then join their rooms'
//!   batches. Commit before you tell: a message anyone has seen survives a
//!   crash.
//!
//! So the same rules serve any caller (a WebSocket today; a bot or another
//! node later), and the unit tests in `tests.rs` drive them with a chosen
//! `now`: exact, fast, no sleeps.

mod accounts;
mod budget;
mod changes;
mod controls;
mod eviction;
mod logins;
mod media;
mod pass;
mod room;
mod sessions;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, MAX_REPLY_BYTES, RATE_HALF_LIFE, RETENTION_INTERVAL};
use crate::metrics::Metrics;
use crate::protocol::{self, close, now_millis, ChatMessage, Limits, Rejection, Reply};
use crate::ratelimit::Budgets;
use crate::storage::{report_retention, Batch, SessionChange, StorageError, Store, Write, Writes};

pub use accounts::AccountRefusal;
pub use changes::{apply as apply_change, react};
pub use controls::{invite_id, membership, mute, spoken, Notice, RoomWaiter, Then};
pub use logins::Logins;
pub use room::{newest_within, Presence, Room};
pub use sessions::{bot_key, AccountLogin, Grant, Session, Sessions};

/// Identifies one connection for its whole life. Never reused. The chat
/// knows it only as "where this member's frames go".
pub type ConnId = u64;

/// The connection of nobody: what a change made by the chat itself (not by a
/// connection) names as its sender, so a refusal goes nowhere. Real
/// connections count from 1 (`ws::listen`).
pub const NOBODY: ConnId = 0;

/// The first connection id of the callers that have no socket: a bot's
/// HTTP request (`cmd/bots.rs`). Each is given the next id from here, and
/// what the rules send to it goes to the web thread waiting for the answer
/// (see [`Chat::http_caller`]). WebSocket ids count from 1 and never get here.
pub const HTTP_CALLERS: ConnId = 1 << 62;

/// A bot's HTTP request waiting for the first frame the rules send it
/// (`Chat::reply`), and one waiting for new messages (a long-poll).
struct HttpCaller {
    since: Instant,
    answer: crossbeam_channel::Sender<Arc<[u8]>>,
}

/// A long-poll: `GET /api/v1/rooms/<room>/messages?since=N&wait=S` with
/// nothing new after `since` yet. The hub answers it (`cmd::bots::polls`)
/// when the room's `last_told` passes `since`, or at `deadline`.
pub struct Poll {
    pub conn: ConnId,
    pub session: SessionId,
    pub key: String,
    pub since: u64,
    pub deadline: Instant,
}

/// Identifies one login session. The browser holds the token instead.
pub type SessionId = u64;

/// How often expired sessions are swept (they are also checked on every use).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Who asked, and where the answer goes. Every command takes one, so the
/// rules do not care whether the asker is a WebSocket or something else.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// Who: the session the request acts as. Its name signs messages, and
    /// its budget is charged.
    pub session: SessionId,
    /// The client's address (`ratelimit::address_key`): its budget is
    /// charged too, so many sessions from one place share one limit.
    pub address: IpAddr,
    /// Where answers go: the connection that asked.
    pub conn: ConnId,
    /// How many bytes of answer that connection can take now (free room in
    /// its queue). A `joined` or `history` is cut to fit.
    pub room_for_reply: usize,
}

impl Caller {
    /// How many bytes of messages an answer may carry: `MAX_REPLY_BYTES`, and
    /// no more than half of what the caller's queue has free, so that the
    /// answer and the room's next batch both fit.
    pub fn reply_budget(&self) -> usize {
        MAX_REPLY_BYTES.min(self.room_for_reply / 2)
    }
}

/// A connection in the chat: whose it is and which rooms it is in.
struct Member {
    session: SessionId,
    /// Its client's address (`ratelimit::address_key`), for an address ban.
    address: IpAddr,
    /// Keys of its rooms, in the order it joined them.
    rooms: Vec<String>,
}

/// What the rules want done outside the chat, drained by the hub after
/// every event.
#[derive(Default)]
pub struct Out {
    /// Frames for one connection each, in order.
    pub replies: Vec<(ConnId, Arc<[u8]>)>,
    /// Connections to close with this code and reason (after their replies).
    pub closes: Vec<(ConnId, u16, &'static str)>,
}

/// All chat state. Owned by the hub thread alone, so it needs no locks.
pub struct Chat {
    config: Config,
    limits: Limits,
    sessions: Sessions,
    rooms: HashMap<String, Room>,
    members: HashMap<ConnId, Member>,
    /// Per-session and per-address scores; `None` when rate limiting is off.
    budgets: Option<Budgets<SessionId>>,
    /// History, rooms and sessions on disk: SQLite today (see `storage`).
    store: Box<dyn Store>,
    out: Out,
    /// What this pass will store, in one transaction, before anyone is told:
    /// new messages and changes to messages (room key, write), and session
    /// changes (see `commit`).
    pending: Batch,
    /// Who asked for each of `pending.writes`, in the same order: told if
    /// theirs cannot be saved.
    senders: Vec<ConnId>,
    /// Where commits run: inline, or on the writer thread.
    writes: Writes,
    /// The senders of the commit under way, if one is (see `commit`).
    committing: Option<Vec<ConnId>>,
    /// Keys of rooms whose `batch` is not empty.
    batched: Vec<String>,
    /// Rooms whose member list changed and is still to be sent.
    presence_pending: Vec<String>,
    /// Rooms that may have become idle, to drop from memory.
    maybe_idle: Vec<String>,
    /// Pending leave notices, in deadline order: (deadline, room key,
    /// session). A set, not a queue, because the grace is not always the same
    /// (see `RESTART_GRACE`).
    leaving: BTreeSet<(Instant, String, SessionId)>,
    next_sweep: Instant,
    /// When old messages are next deleted, with `--retention`.
    next_retention: Instant,
    /// Set by `shut_down`: nobody leaves any more (everyone is leaving).
    shutting_down: bool,
    /// The database's epoch (`Store::epoch`), in `hello`.
    epoch: Arc<str>,
    /// Failed password logins and claims, for their limits.
    logins: Logins,
    /// Account changes staged in `pending`, answered once stored (see
    /// `accounts.rs`).
    claims: Vec<AccountWaiter>,
    /// Those of the commit under way.
    claims_committing: Vec<AccountWaiter>,
    /// Room changes staged in `pending.rooms`, with what follows each once
    /// stored (see `controls.rs`), and those of the commit under way.
    room_waiters: Vec<RoomWaiter>,
    room_waiters_committing: Vec<RoomWaiter>,
    /// Rooms whose settings changed, their `room` frame still to be sent.
    settings_pending: Vec<String>,
    /// Media rows staged in `pending.media`, with what to do once stored
    /// (see `media.rs`), and those of the commit under way.
    media_waiters: Vec<media::MediaWaiter>,
    media_committing: Vec<media::MediaWaiter>,
    /// Uploads taken by messages staged or being stored.
    attaching: std::collections::HashSet<String>,
    /// Wakes the janitor thread (`media/janitor.rs`).
    janitor: Option<crossbeam_channel::Sender<()>>,
    /// The server's figures (`--metrics`): refusals and resumes are counted
    /// here, where they happen. A fresh set until the hub gives its own.
    metrics: Arc<Metrics>,
    /// Bots' HTTP requests waiting for their answer, by their connection id
    /// (from [`HTTP_CALLERS`]), and the next such id.
    http: HashMap<ConnId, HttpCaller>,
    next_http: ConnId,
    /// Long-polls waiting for something new (at most `MAX_POLL_WAITERS`).
    pub polls: Vec<Poll>,
}

/// An account change waiting for its commit: where the answer goes (the web
/// thread that asked), the name it is about, and for a claim, the session to
/// unbind again should it not be stored.
pub struct AccountWaiter {
    pub claim: Option<SessionId>,
    pub name: String,
    pub reply: crossbeam_channel::Sender<Result<String, AccountRefusal>>,
}

impl Chat {
    /// A chat starting from what `store` holds: its sessions are valid again,
    /// and rooms load from it when first used.
    pub fn new(
        config: Config,
        mut store: Box<dyn Store>,
        writes: Writes,
        now: Instant,
    ) -> Result<Chat, StorageError> {
        let stored = store.sessions()?;
        let epoch = store.epoch()?.into();
        let accounts = store.accounts()?;
        let uids = accounts
            .into_iter()
            .map(|a| (a.key, a.uid.into()))
            .collect();
        let (sessions, changes, in_rooms) =
            Sessions::restore(&config, stored, &uids, now, now_millis());
        let mut chat = Chat::blank(config, sessions, store, writes, epoch, now);
        // Sessions that expired while natter was stopped must not work even
        // until the first sweep: they go from storage now.
        chat.pending.sessions.extend(changes);
        if let Some(outcome) = chat.commit() {
            chat.committed(outcome);
        }
        // The first `--retention` sweep runs now, before anyone can read a
        // room, on the hub's own connection (the writer thread is idle);
        // later ones run on the writer thread (see `delete_old`).
        if let Some(retention) = chat.config.retention {
            report_retention(chat.store.delete_before(pass::retention_cutoff(retention)));
            chat.next_retention = now + RETENTION_INTERVAL;
        }
        // After the sweep: this loads rooms, and their cache must not hold
        // what it deleted.
        chat.rejoin_after_restart(in_rooms, now);
        Ok(chat)
    }

    /// A chat that has read nothing and runs nothing: a cluster's follower
    /// holds its storage in one until it leads (`hub/cluster.rs`), when
    /// [`Chat::new`] starts the real one from the same store.
    pub fn standby(config: Config, store: Box<dyn Store>, writes: Writes, now: Instant) -> Chat {
        let sessions = Sessions::restore(&config, Vec::new(), &HashMap::new(), now, 0).0;
        Chat::blank(config, sessions, store, writes, Arc::from(""), now)
    }

    /// The store and the writes, to start another chat on (see `standby`).
    /// What is staged is stored first, waiting up to `timeout`.
    pub fn into_storage(mut self, timeout: Duration) -> (Box<dyn Store>, Writes) {
        self.finish_writes(timeout);
        (self.store, self.writes)
    }

    /// The epoch `hello` gives: a cluster's, instead of the database's.
    pub fn set_epoch(&mut self, epoch: &str) {
        self.epoch = Arc::from(epoch);
    }

    fn blank(
        config: Config,
        sessions: Sessions,
        store: Box<dyn Store>,
        writes: Writes,
        epoch: Arc<str>,
        now: Instant,
    ) -> Chat {
        let budgets = match (config.rate_limit, config.address_budget()) {
            (Some(session), Some(address)) => Some(Budgets::new(
                session,
                address,
                config.bot_rate_limit,
                RATE_HALF_LIFE,
            )),
            _ => None,
        };
        Chat {
            limits: Limits::new(
                config.history,
                config.edit_window,
                match config.media.enabled {
                    true => config.media.max_upload_bytes,
                    false => 0,
                },
            ),
            sessions,
            rooms: HashMap::new(),
            members: HashMap::new(),
            budgets,
            store,
            out: Out::default(),
            pending: Batch::default(),
            senders: Vec::new(),
            writes,
            committing: None,
            batched: Vec::new(),
            presence_pending: Vec::new(),
            maybe_idle: Vec::new(),
            leaving: BTreeSet::new(),
            next_sweep: now + SWEEP_INTERVAL,
            next_retention: now,
            shutting_down: false,
            epoch,
            logins: Logins::default(),
            claims: Vec::new(),
            claims_committing: Vec::new(),
            room_waiters: Vec::new(),
            room_waiters_committing: Vec::new(),
            settings_pending: Vec::new(),
            media_waiters: Vec::new(),
            media_committing: Vec::new(),
            attaching: Default::default(),
            janitor: None,
            metrics: Arc::default(),
            http: HashMap::new(),
            next_http: HTTP_CALLERS,
            polls: Vec::new(),
            config,
        }
    }

    /// What the rules asked for since the last call.
    pub fn take_out(&mut self) -> Out {
        std::mem::take(&mut self.out)
    }

    // -- answering -------------------------------------------------------------

    /// Queue one frame for one connection.
    pub fn reply(&mut self, conn: ConnId, frame: Arc<[u8]>) {
        if conn >= HTTP_CALLERS {
            // A bot's HTTP request: its first answer is its whole answer.
            if let Some(caller) = self.http.remove(&conn) {
                let _ = caller.answer.try_send(frame);
            }
            return;
        }
        self.out.replies.push((conn, frame));
    }

    /// A caller with no socket: a bot's HTTP request, whose answer (the first
    /// frame the rules send to the id returned) goes to `answer`. One the
    /// rules never answer is forgotten by the sweep (its web thread gave up).
    pub fn http_caller(
        &mut self,
        answer: crossbeam_channel::Sender<Arc<[u8]>>,
        now: Instant,
    ) -> ConnId {
        let conn = self.next_http;
        self.next_http += 1;
        self.http.insert(conn, HttpCaller { since: now, answer });
        conn
    }

    /// Tell a connection why its request was refused.
    pub fn refuse(&mut self, conn: ConnId, rejection: &Rejection) {
        self.metrics.refused(rejection.code);
        self.reply(conn, error_frame(rejection));
    }

    /// Count in `metrics` from now on (the hub's, shared with `--metrics`).
    pub fn set_metrics(&mut self, metrics: Arc<Metrics>) {
        self.metrics = metrics;
    }

    /// The server's figures, for a command to count what it did.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Ask the hub to close a connection, after what is already queued for it.
    pub fn close(&mut self, conn: ConnId, code: u16, reason: &'static str) {
        self.out.closes.push((conn, code, reason));
    }

    // -- state the commands work on -------------------------------------------

    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(id)
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn sessions_mut(&mut self) -> &mut Sessions {
        &mut self.sessions
    }

    /// Storage, for reads a command needs now (history pages, replays).
    /// Writes go through `stage` and `commit`, never straight here.
    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// The connection is now in room `key`.
    pub fn enter(&mut self, conn: ConnId, key: &str) {
        if let Some(m) = self.members.get_mut(&conn) {
            m.rooms.push(key.to_string());
        }
    }

    /// The connection is no longer in room `key`.
    pub fn exit(&mut self, conn: ConnId, key: &str) {
        if let Some(m) = self.members.get_mut(&conn) {
            m.rooms.retain(|k| k != key);
        }
    }

    /// A new message, to be stored by `commit` and only then delivered.
    pub fn stage(&mut self, key: String, message: ChatMessage, sender: ConnId) {
        if let Some(r) = self.rooms.get_mut(&key) {
            r.unstored += 1;
        }
        self.pending.writes.push((key, Write::Post(message)));
        self.senders.push(sender);
    }

    // -- connections -----------------------------------------------------------

    /// A connection of `session` opened: it gets `hello`, or is refused with a
    /// close code when its session ended in the meantime.
    pub fn connect(
        &mut self,
        conn: ConnId,
        session: SessionId,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), (u16, &'static str)> {
        if self.shutting_down {
            return Err((close::GOING_AWAY, "server shutting down"));
        }
        let Some(first_use) = self.sessions.open(session, now) else {
            // Logged out (or expired) between the handshake's check and now.
            return Err((close::POLICY, "session ended; log in again"));
        };
        let s = self.sessions.get(session).expect("`open` found it");
        if first_use {
            // Its first socket: from now on it is a real session, and it is
            // stored, so that it outlives a restart.
            self.pending
                .sessions
                .push(s.stored(now_millis(), Vec::new()));
        }
        let (uid, name, verified) = (s.uid.clone(), s.name.clone(), s.account.is_some());
        let dms = self.dms_of(&uid);
        let hello = protocol::encode(&Reply::Hello {
            user: &name,
            uid: &uid,
            verified,
            limits: &self.limits,
            epoch: &self.epoch,
            dms: &dms,
        });
        self.members.insert(
            conn,
            Member {
                session,
                address,
                rooms: Vec::new(),
            },
        );
        self.reply(conn, hello);
        Ok(())
    }

    /// A connection is gone (or going): it leaves every room, and its session
    /// counts it out. Leave notices wait for the grace period, since a
    /// dropped socket is often a page reload. Safe to call twice.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        let Some(member) = self.members.remove(&conn) else {
            return;
        };
        for key in member.rooms {
            self.part(conn, member.session, &key, true, now);
        }
        if let Some(mut change) = self.sessions.close(member.session, now, now_millis()) {
            // Stored, so that after a restart the session still expires on
            // time; and, when natter is stopping, with the rooms it is in.
            if let (true, SessionChange::Save { rooms, .. }) = (self.shutting_down, &mut change) {
                *rooms = self.rooms_present(member.session);
            }
            self.pending.sessions.push(change);
        }
    }

    /// How many sessions and rooms (in memory) there are, for the metrics.
    pub fn counts(&self) -> (usize, usize) {
        (self.sessions.len(), self.rooms.len())
    }

    /// Failed password logins and claims (see `Logins`).
    pub fn logins(&mut self) -> &mut Logins {
        &mut self.logins
    }

    /// The rules operators set (`--edit-window`, ...).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database's epoch: `hello` gives it, `join` may send it back.
    pub fn epoch(&self) -> &Arc<str> {
        &self.epoch
    }

    /// The rooms a connection is in, if it is in the chat.
    pub fn rooms_of(&self, conn: ConnId) -> Option<&[String]> {
        self.members.get(&conn).map(|m| m.rooms.as_slice())
    }

    /// The session a connection belongs to.
    pub fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        self.members.get(&conn).map(|m| m.session)
    }

    /// Everyone is about to be closed: nobody is announced as leaving, and
    /// every session in a room (connected, or within its leave grace) is
    /// stored with its rooms, so that after the restart it is back in them
    /// without a word (see `rejoin_after_restart`). Its connections' closes
    /// store the same rooms again (see `disconnect`).
    pub fn shut_down(&mut self, now: Instant) {
        self.shutting_down = true;
        let now_ms = now_millis();
        let present: BTreeSet<SessionId> = self
            .rooms
            .values()
            .flat_map(|r| r.present.keys().copied())
            .collect();
        for id in present {
            let rooms = self.rooms_present(id);
            let Some(session) = self.sessions.get(id).filter(|s| s.bot.is_none()) else {
                continue;
            };
            let idle_since_ms = match session.conns {
                0 => {
                    now_ms.saturating_sub(now.duration_since(session.idle_since).as_millis() as u64)
                }
                _ => now_ms,
            };
            self.pending
                .sessions
                .push(session.stored(idle_since_ms, rooms));
        }
    }

    /// The rooms a session is in the member list of (with a connection
    /// there, or within its leave grace), by display name.
    fn rooms_present(&self, session: SessionId) -> Vec<String> {
        let rooms = self.rooms.values();
        let theirs = rooms.filter(|r| r.present.contains_key(&session));
        theirs.map(|r| r.name.to_string()).collect()
    }

    /// Put each restored session back in the member lists of the rooms it
    /// was in when natter stopped, as if it had just dropped its connection:
    /// coming back within `RESTART_GRACE` announces nothing (a restart is
    /// then as quiet as a page reload); otherwise its leave notice is posted.
    fn rejoin_after_restart(&mut self, in_rooms: Vec<sessions::InRooms>, now: Instant) {
        let deadline = now + self.config.restart_grace.max(self.config.leave_grace);
        for (id, rooms) in in_rooms {
            let Some((name, verified)) = self
                .sessions
                .get(id)
                .map(|s| (s.name.clone(), s.account.is_some()))
            else {
                continue;
            };
            let key = protocol::name_key(&name);
            for display in rooms {
                let room_key = protocol::room_key(&display);
                let room = match self.load_room(&room_key, &display) {
                    Ok(room) => room,
                    Err(err) => {
                        eprintln!("natter: could not load #{display} after the restart: {err}");
                        continue;
                    }
                };
                // Two sessions of one name cannot both be in a room; should a
                // database say so anyway, the first keeps it.
                if room.name_taken(&key, Some(id), verified) {
                    continue;
                }
                room.present.insert(
                    id,
                    Presence {
                        name: name.clone(),
                        key: key.clone(),
                        conns: 0,
                        typing_at: None,
                        verified,
                        restored: true,
                    },
                );
                self.leaving.insert((deadline, room_key, id));
            }
        }
    }

    /// Forget a session (logout, expiry, eviction, a new name) and close its
    /// connections with 1008.
    pub fn end_session(&mut self, id: SessionId) {
        let conns: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| m.session == id)
            .map(|(&c, _)| c)
            .collect();
        for conn in conns {
            self.close(conn, close::POLICY, "session ended; log in again");
        }
        // Its name is free at once in every room it was in: no leave grace,
        // since it is not coming back (a logout is a choice, like `leave`),
        // and "log in again" under the same name must not find it taken.
        let keys: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.present.contains_key(&id))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.leave_room(&key, id);
        }
        if let Some(change) = self.sessions.remove(id) {
            self.pending.sessions.push(change);
        }
    }
}

/// The `error` frame for a refusal.
pub fn error_frame(rejection: &Rejection) -> Arc<[u8]> {
    protocol::encode(&Reply::Error(rejection))
}
