//! The hub's one input, grouped by who sends it: the top-level `match` in
//! `Hub::handle` reads like the data flow.

use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::config::HUB_REPLY_TIMEOUT;
use crate::protocol::{ChatMessage, Rejection, Request};
use crate::storage::StorageError;

use super::{AccountRefusal, ConnId, LoginForm, LoginRefusal, LoginStep, SessionId};
use crate::cmd::account::SessionInfo;
pub use crate::cmd::room::PasswordStep;
use crate::storage::StoredAccount;

/// Everything that can happen to the chat. Every thread that is not the hub
/// talks to it through this one enum on one bounded channel (`to_hub`).
pub enum Event {
    /// A question from a thread that waits for the answer: the web threads
    /// (login, logout, whose cookie, an export page) and the WebSocket
    /// handshake (may this session connect?).
    Ask(Ask),
    /// Something that happened to one WebSocket connection, sent by its
    /// reader thread in the order it happened, and when it was sent (the hub
    /// measures how long events wait for it: `natter_hub_event_wait_seconds`).
    Conn {
        id: ConnId,
        event: ConnEvent,
        sent: Instant,
    },
    /// From the `Server` handle.
    Control(Control),
    /// From the other nodes of a cluster (`cluster/relay.rs`).
    Cluster(crate::cluster::relay::Received),
    /// This node starts or stops leading its cluster (`cluster/lease.rs`).
    Role(crate::cluster::Role),
}

/// Ask the hub something and wait for the answer (see [`Ask`]), or give up
/// with `None`: the hub has stopped (the channel is closed) or is too busy to
/// answer within `HUB_REPLY_TIMEOUT`. Used by the web threads and the
/// WebSocket handshake, the two places that wait on the hub.
pub fn ask<T>(to_hub: &Sender<Event>, make: impl FnOnce(Sender<T>) -> Event) -> Option<T> {
    let (reply, answer) = crossbeam_channel::bounded(1);
    to_hub.send(make(reply)).ok()?;
    answer.recv_timeout(HUB_REPLY_TIMEOUT).ok()
}

/// Questions with a reply channel. The asker waits on a fresh `bounded(1)`
/// channel, so the hub's `try_send` of the answer never blocks; if the asker
/// gave up waiting, the answer is dropped.
pub enum Ask {
    /// A login form was accepted by `web`. `token` is freshly generated;
    /// `replaces` is the cookie the browser already had, if any; `ip` is the
    /// client's address (logins are charged to it). The reply is the token to
    /// set as a cookie, or why the login is refused.
    /// The login form: a session for a name, or for a claimed one the
    /// account's password hash to check (see `cmd::login`).
    Login {
        form: LoginForm,
        reply: Sender<Result<LoginStep, LoginRefusal>>,
    },
    /// The web thread checked a claimed name's password.
    LoginChecked {
        form: LoginForm,
        key: String,
        phc: String,
        right: bool,
        reply: Sender<Result<String, LoginRefusal>>,
    },
    /// May this session claim its name? (Before its password is hashed.)
    ClaimCheck {
        token: String,
        ip: IpAddr,
        reply: Sender<Result<String, AccountRefusal>>,
    },
    /// Claim it, with the password hashed as `phc`; answered once stored.
    Claim {
        token: String,
        ip: IpAddr,
        phc: String,
        reply: Sender<Result<String, AccountRefusal>>,
    },
    /// The account of `token`'s session (its hash, for the web thread to
    /// check a password against), unless too many wrong ones came lately.
    AccountOf {
        token: String,
        ip: IpAddr,
        reply: Sender<Result<StoredAccount, AccountRefusal>>,
    },
    /// A wrong password for account `key`, from `ip` (it counts, see `Logins`).
    PasswordFailed {
        key: String,
        ip: IpAddr,
    },
    /// The sessions of the account, as its owner sees them.
    AccountSessions {
        token: String,
        reply: Sender<Result<Vec<SessionInfo>, AccountRefusal>>,
    },
    /// Log out every session of the account.
    LogoutAll {
        token: String,
        reply: Sender<Result<usize, AccountRefusal>>,
    },
    /// A new password (hashed as `phc`), the old one checked as `checked`.
    SetPassword {
        token: String,
        checked: String,
        phc: String,
        reply: Sender<Result<String, AccountRefusal>>,
    },
    /// A new profile for the member card.
    SetProfile {
        token: String,
        bio: String,
        color: String,
        reply: Sender<Result<String, AccountRefusal>>,
    },
    /// Give the name up (with `erase`, its messages too).
    Release {
        token: String,
        checked: String,
        erase: bool,
        reply: Sender<Result<String, AccountRefusal>>,
    },
    /// The account of a claimed name, for its member card.
    Profile {
        name: String,
        reply: Sender<Result<Option<StoredAccount>, StorageError>>,
    },
    Logout {
        token: String,
    },
    /// Whose session is this token? Answers the display name, or `None`.
    Lookup {
        token: String,
        reply: Sender<Option<String>>,
    },
    /// May this WebSocket handshake go ahead? Checks the session and charges
    /// the address for a connection (see `RATE_COST_CONNECT`).
    Admit {
        token: String,
        ip: IpAddr,
        reply: Sender<Admission>,
    },
    /// A reader thread met a room password in a request (`set`: a new one,
    /// in `set_room`; else a `join`'s): what to do with it (see
    /// `cmd::room::password_step`). The hub never hashes.
    RoomPassword {
        conn: ConnId,
        room: String,
        set: bool,
        reply: Sender<PasswordStep>,
    },
    /// May this session read room `room`'s transcript (an export)? A
    /// private room's is for its members only; the answer says why not.
    MayRead {
        token: String,
        room: String,
        reply: Sender<Result<(), String>>,
    },
    /// May this session upload `size` bytes to `room` (before the body is
    /// read)? Charges the upload (see `cmd::upload::check`).
    UploadCheck {
        token: String,
        room: String,
        size: u64,
        ip: IpAddr,
        reply: Sender<Result<crate::cmd::upload::Uploader, crate::media::Refusal>>,
    },
    /// Record a received file, already in the store under its hash;
    /// answered once stored.
    RecordUpload {
        token: String,
        upload: crate::media::StoredUpload,
        reply: Sender<Result<(), crate::media::Refusal>>,
    },
    /// May this cookie (or none) fetch upload `id`? The answer says what the
    /// file is and where it lives.
    Media {
        token: Option<String>,
        id: String,
        reply: Sender<Result<crate::media::StoredUpload, crate::media::Refusal>>,
    },
    /// The janitor: forget uploads due to go (never attached before
    /// `orphan_before_ms`, or their message gone) and answer, once stored,
    /// how many went and which files nothing names any more.
    MediaSweep {
        orphan_before_ms: u64,
        reply: Sender<Result<(usize, Vec<String>), StorageError>>,
    },
    /// The janitor at start: the hash of every file the rows know.
    MediaKnown {
        reply: Sender<Result<Vec<String>, StorageError>>,
    },
    /// A bot's post (`POST /hooks/<secret>`, `room: None`; or the API's,
    /// for `room`), checked by the web thread as a `message` frame is. The
    /// answer is one frame: the stored message, or an error.
    BotPost {
        secret: String,
        room: Option<String>,
        post: crate::protocol::Post,
        ip: IpAddr,
        reply: Sender<Arc<[u8]>>,
    },
    /// A bot's read of the API: a `joined` frame (at once, or when
    /// something new comes within `wait`: a long-poll), or an error.
    BotRead {
        secret: String,
        room: String,
        since: Option<u64>,
        epoch: Option<String>,
        wait: std::time::Duration,
        ip: IpAddr,
        reply: Sender<Arc<[u8]>>,
    },
    /// May a WebSocket handshake with `Authorization: Bearer` go ahead?
    AdmitBot {
        secret: String,
        reply: Sender<Result<SessionId, Rejection>>,
    },
    /// A page of the public directory (`GET /rooms`).
    Directory {
        after: usize,
        reply: Sender<Result<crate::cmd::room::directory::Page, StorageError>>,
    },
    /// A page of a room's transcript for an export: up to `EXPORT_PAGE`
    /// messages with ids above `after`, oldest first, and whether there are
    /// more. The export's thread asks a page at a time as it writes them out,
    /// so the hub is never busy for long and an export holds one page.
    Export {
        room: String,
        after: u64,
        reply: Sender<Result<(Vec<ChatMessage>, bool), StorageError>>,
    },
}

/// What a reader thread reports about its connection.
pub enum ConnEvent {
    /// The handshake completed. `socket` is shared with the reader thread,
    /// which only reads: from now on only the hub writes to it. `peer` is what
    /// the handshake decided this connection is.
    Connected {
        peer: Peer,
        socket: Arc<TcpStream>,
        /// The client's address, for rate limiting.
        ip: IpAddr,
    },
    /// A valid request.
    Request(Request),
    /// A frame that broke the protocol's rules.
    Rejected(Rejection),
    /// A valid request the reader thread could not pass on (the hashers
    /// were busy with its room password): refused with this, uncharged.
    Refused(Rejection),
    /// Bytes tungstenite wanted to write on the reader thread (a pong, or the
    /// echo of the peer's close frame). Only the hub writes, so they come here.
    /// The ping that caused them is charged like any other frame.
    AutoReply(Vec<u8>),
    /// The client sent a pong. Nothing to do but charge it: everything a
    /// client sends costs something, so a flood of them is stopped.
    Pong,
    /// An echo peer's frame, complete, to send straight back.
    Echo(Arc<[u8]>),
    /// The reader thread is gone. `close` is the close code and reason to send
    /// first when the reader stopped because the peer broke the rules.
    Disconnected { close: Option<(u16, &'static str)> },
}

/// What kind of peer a connection is: decided once, by the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A chat client, logged in as this session (checked by `Ask::Admit`).
    Member(SessionId),
    /// `natter echo`: every frame comes straight back; no session, no rooms.
    Echo,
}

/// From the `Server` handle.
pub enum Control {
    /// Close everyone with 1001, deliver what is queued, and return.
    Shutdown,
    /// Fault injection: panic, as a bug in the hub would. Only sent by
    /// `Server::inject_hub_failure`, which tests use to prove that a dead hub
    /// is loud (every client closed with 1011) rather than silent.
    InjectFailure,
}

/// The hub's answer to `Ask::Admit`.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Admission {
    /// Go ahead, as this session.
    Welcome(SessionId),
    UnknownSession,
    RateLimited,
    /// A cluster's follower that knows no leader now (a failover is under
    /// way): try again in a moment.
    Unavailable,
}
