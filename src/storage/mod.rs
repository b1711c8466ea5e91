//! Storage: chat history, rooms and sessions, behind the small [`Store`]
//! interface the chat core calls.
//!
//! The core keeps each busy room's recent messages in memory as a cache; the
//! store is the truth. Each store is held by one thread, so it needs no
//! locks: the hub's (it owns all chat state, and storage is part of that
//! state), and with a database file a second one on the writer thread, which
//! commits what the hub hands it (`writer.rs`), so that no disk ever stalls
//! the hub.
//! There is one implementation, [`Sqlite`], one SQLite file. In a cluster
//! (`--redis`, `cluster/`) every node keeps its own file too: the leader's
//! commits also go, inside their transaction, to a shared log (a
//! [`Journal`]), which every other node applies to its copy
//! ([`Sqlite::apply`]). The commands never know: they only see [`Store`].
//!
//! The files, in reading order:
//!
//! - `mod.rs` (here): the interface, its types, and what is guaranteed.
//! - `sqlite.rs`: [`Sqlite`], opening the file, and the [`Store`] methods.
//! - `rows.rs`: how messages and sessions become rows and back; the one place
//!   that spells out a message's columns.
//! - `schema.rs`: the schema's version and the migrations that bring an older
//!   database up to date.
//! - `writer.rs`: where commits run: the writer thread for a file, inline in
//!   memory, and what comes back ([`Outcome`]).
//! - `checkpoint.rs`: the checkpoint thread, which copies the write-ahead log
//!   into the database so that the hub never waits for the disk's `fsync`.
//! - `health.rs`: the edge against files changed under a running natter (a
//!   deleted database, a truncated `-shm`). Hardening: a first reading can
//!   skip it.
//!
//! # What is guaranteed
//!
//! The hub commits each pass's writes ([`Batch`]) in one transaction *before*
//! anyone is told of them. So a message that any client has seen is committed.
//!
//! - **Process crash** (`kill -9`, a panic, the OOM killer): every committed
//!   message survives. The database is in WAL mode, and a commit is in the
//!   operating system's hands before `COMMIT` returns.
//! - **Power loss or kernel crash**: with `synchronous=NORMAL` (the WAL default
//!   that makes a commit cost no `fsync`), the last commits before the crash
//!   may be lost, but the database is never corrupted. Messages are lost only
//!   if they were sent in the last moments before the power went.

pub(crate) mod checkpoint;
mod controls;
mod health;
mod media;
mod rows;
mod schema;
mod sqlite;
mod tokens;
mod writer;

pub(crate) use checkpoint::wal_limit;
pub use controls::{
    Controls, Membership, RoomClaim, RoomWrite, Settings, StoredBan, StoredInvite, StoredMute,
};
pub use health::FileHealth;
pub use media::{day_of, MediaUsage, MediaWrite};
pub use sqlite::Sqlite;
pub use tokens::StoredToken;
pub use writer::{commit_all, report_retention, Outcome, Writer, Writes};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::{ChatMessage, Reaction};

/// A storage failure, as a line a person can act on. The chat core never
/// branches on it: it answers `storage_failed` with this line, and logs it.
pub type StorageError = String;

/// What the chat core needs from a store.
///
/// Every method takes `&mut self`: a store is used by one thread (the hub's,
/// or the writer's), and an implementation may keep prepared statements or a
/// connection's buffers without locks. An error is a line for the log and for the client's
/// `storage_failed`; after one, the store is still usable (the next call tries
/// again).
pub trait Store: Send {
    /// Save one pass's writes atomically, before anyone is told of them: on
    /// `Ok` all of them are stored, on `Err` none of them is.
    fn commit(&mut self, batch: &Batch) -> Result<(), StorageError>;

    /// A room's stored display name and next message id, if it was ever used.
    fn room(&mut self, key: &str) -> Result<Option<StoredRoom>, StorageError>;

    /// Up to `limit` messages of room `key` with ids above `after`, oldest
    /// first (resume with `since`, exports). `name` fills each message's `room`.
    fn after(
        &mut self,
        key: &str,
        name: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError>;

    /// Up to `limit` messages of room `key` with ids below `before`, oldest
    /// first, and whether older ones exist (scroll-back pages, and a room's
    /// recent history when it is loaded). `name` fills each message's `room`.
    fn before(
        &mut self,
        key: &str,
        name: &str,
        before: u64,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StorageError>;

    /// Up to `limit` messages of room `key` with ids up to `since` that
    /// changed after it, in their current state, in the order of their latest
    /// change (the `changes` of a resume).
    fn changed(
        &mut self,
        key: &str,
        name: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError>;

    /// Message `id` of room `key` in its current state, if it is stored.
    fn message(
        &mut self,
        key: &str,
        name: &str,
        id: u64,
    ) -> Result<Option<ChatMessage>, StorageError>;

    /// The latest change (`rev`) to any message of room `key` older than
    /// message `id`, or 0.
    fn max_rev_before(&mut self, key: &str, id: u64) -> Result<u64, StorageError>;

    /// The ids of the messages written under account `uid` that are not
    /// deleted yet, by room key (releasing a name may erase them).
    fn messages_of(&mut self, uid: &str) -> Result<Vec<(String, u64)>, StorageError>;

    /// The account of a claimed name, by `protocol::name_key`, if claimed.
    fn account(&mut self, key: &str) -> Result<Option<StoredAccount>, StorageError>;

    /// Every account, oldest first (at start, and `natter account list`).
    fn accounts(&mut self) -> Result<Vec<StoredAccount>, StorageError>;

    /// Room `key`'s claim, settings, members, invites, bans and mutes
    /// (all defaults for a room never claimed).
    fn controls(&mut self, key: &str) -> Result<Controls, StorageError>;

    /// How many live claims (an owner seen since `since_ms`) `uid` holds.
    fn owned_by(&mut self, uid: &str, since_ms: u64) -> Result<usize, StorageError>;

    /// The direct messages `uid` is in, the most recent first, at most
    /// `limit`: (room key, room name, the other's uid, the other's name).
    fn dms_of(
        &mut self,
        uid: &str,
        limit: usize,
    ) -> Result<Vec<(String, String, String, String)>, StorageError>;

    /// Rooms for the directory, the most recently active first, at most
    /// `limit`: public owned rooms with live claims (an owner seen since
    /// `live_since_ms`), and with `unowned` every open unowned room too.
    /// (key, name, topic, access, latest message's ts.)
    fn listed(
        &mut self,
        unowned: bool,
        live_since_ms: u64,
        limit: usize,
    ) -> Result<Vec<ListedRow>, StorageError>;

    /// Upload `id`, with its file's type and size, if it is stored.
    fn upload(&mut self, id: &str) -> Result<Option<crate::media::StoredUpload>, StorageError>;

    /// What `uid` has stored and uploaded today, and what all media take.
    fn media_usage(&mut self, uid: &str, now_ms: u64) -> Result<MediaUsage, StorageError>;

    /// At most `limit` uploads due to go (never attached and older than
    /// `orphan_before_ms`, or their message gone), and the hashes of the
    /// files nothing names once they are gone.
    fn media_garbage(
        &mut self,
        orphan_before_ms: u64,
        limit: usize,
    ) -> Result<(Vec<String>, Vec<String>), StorageError>;

    /// The hash of every stored file.
    fn media_hashes(&mut self) -> Result<Vec<String>, StorageError>;

    /// The bot token whose secret hashes to `hash`, revoked or not.
    fn token(&mut self, hash: &str) -> Result<Option<StoredToken>, StorageError>;

    /// Room `room`'s live tokens, newest first; with `None` every token
    /// ever made, revoked ones too (`natter token list`).
    fn tokens(&mut self, room: Option<&str>) -> Result<Vec<StoredToken>, StorageError>;

    /// Every stored session (read once, at start).
    fn sessions(&mut self) -> Result<Vec<StoredSession>, StorageError>;

    /// This database's epoch: made at random with it and never changed, so a
    /// `since` from another database is recognised whatever its ids.
    fn epoch(&mut self) -> Result<String, StorageError>;

    /// Delete messages older than `cutoff_ms` (`--retention`), and rooms left
    /// with none; how many messages went. Rooms that stay keep their next id:
    /// ids are never reused.
    fn delete_before(&mut self, cutoff_ms: u64) -> Result<usize, StorageError>;
}

/// In cluster mode, what a commit also does inside its transaction (see
/// `cluster/log.rs`): after the rows are written and before `COMMIT`, the
/// leader appends the same change to the cluster's shared log. If the log
/// refuses it (Redis unreachable, or this node no longer leads), the
/// transaction rolls back and the commit fails: nothing is stored that the
/// other nodes will not get.
pub trait Journal: Send {
    /// Append `entry`, made on top of position `at`; the position it took.
    fn append(&mut self, at: Position, entry: &EntryRef) -> Result<Position, StorageError>;
}

/// One database's place in the cluster's log: the number of the last
/// entry in it (entries count 1, 2, 3, … with no gaps), and that entry's
/// id in the Redis stream (where to read on from).
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    pub n: u64,
    /// The leader's term when it wrote that entry (`cluster/lease.rs`).
    pub term: u64,
    pub id: String,
}

/// An entry of the cluster's log, as the leader writes it…
#[derive(Serialize)]
pub enum EntryRef<'a> {
    /// One commit of the hub's.
    Batch(&'a Batch),
    /// `--retention`'s delete of what is older than this (ms since the epoch).
    DeleteBefore(u64),
}

/// …and as a follower reads it.
#[derive(Deserialize)]
pub enum Entry {
    Batch(Batch),
    DeleteBefore(u64),
}

/// What [`Sqlite::apply`] did with an entry.
#[derive(Debug, PartialEq)]
pub enum Applied {
    Done,
    /// It was here already.
    Skipped,
    /// Entries between this position and it are missing, or a newer leader
    /// wrote over entries this copy has (Redis lost them): this copy needs a
    /// snapshot.
    Gap(Position),
}

/// A directory candidate (see [`Store::listed`]).
pub type ListedRow = (String, String, String, crate::protocol::Access, Option<u64>);

/// One pass's writes.
#[derive(Default, Serialize, Deserialize)]
pub struct Batch {
    /// New messages and changes to stored ones: (room key, write), in the
    /// order they took their rooms' numbers.
    pub writes: Vec<(String, Write)>,
    /// Sessions saved or forgotten this pass, in order.
    pub sessions: Vec<SessionChange>,
    /// Accounts made, changed or deleted this pass, in order (before the
    /// sessions: a session names its account).
    pub accounts: Vec<AccountChange>,
    /// Changes to rooms' controls (claims, settings, roles, invites, bans,
    /// mutes): (room key, room name, change), in order.
    pub rooms: Vec<(String, String, RoomWrite)>,
    /// Uploads recorded and the janitor's sweeps, in order.
    pub media: Vec<MediaWrite>,
}

impl Batch {
    /// Whether there is nothing to write (then `commit` touches nothing).
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.sessions.is_empty()
            && self.accounts.is_empty()
            && self.rooms.is_empty()
            && self.media.is_empty()
    }
}

/// A change to one claimed name's account.
#[derive(Clone, Serialize, Deserialize)]
pub enum AccountChange {
    /// Insert, or replace the one with its key.
    Save(StoredAccount),
    /// The name is free again (its sessions are deleted with it).
    Delete { key: String },
}

/// A claimed name, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAccount {
    /// `protocol::name_key(name)`: a look-alike of a claimed name is the
    /// same name, so nobody else can take it.
    pub key: String,
    /// The name as claimed.
    pub name: String,
    /// Its public id: on its messages, whatever session wrote them.
    pub uid: String,
    /// The password's argon2id PHC string (salt and parameters in it).
    pub phc: String,
    /// When it was claimed, ms since the epoch.
    pub created_ms: u64,
    /// The profile: a few words, and a colour (`#rrggbb`, or empty).
    pub bio: String,
    pub color: String,
}

/// One durable thing that happened in a room, with the number it took of
/// the room's sequence.
#[derive(Clone, Serialize, Deserialize)]
pub enum Write {
    /// A new message (its `id` is its number).
    Post(ChatMessage),
    /// A change to a stored message.
    Change(Change),
}

/// A change to message `id`: its `seq` becomes the message's `rev`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Change {
    pub id: u64,
    pub seq: u64,
    /// The `client_id` of the request, echoed in its frame and its errors.
    pub client_id: Option<String>,
    pub what: Changed,
}

/// What a [`Change`] did. Each kind carries what its frame needs too.
#[derive(Clone, Serialize, Deserialize)]
pub enum Changed {
    /// New text and mentions; `new_mentions` are the names it added.
    Edit {
        text: String,
        mentions: Vec<String>,
        new_mentions: Vec<String>,
        edited_ts: u64,
    },
    /// Gone for good: text, mentions, reply and reactions. `by`: the
    /// moderator who deleted it, when its author did not.
    Delete { by: Option<Arc<str>> },
    /// `uid` (named `user`) put `emoji` on the message, or took it off;
    /// `after` is the message's whole summary once this is done.
    React {
        emoji: String,
        uid: Arc<str>,
        user: Arc<str>,
        on: bool,
        ts: u64,
        after: Vec<Reaction>,
    },
}

/// A change to one stored session.
#[derive(Clone, Serialize, Deserialize)]
pub enum SessionChange {
    /// Insert or update: `token` is already `session::token_key` of the
    /// cookie (a hash), never the token. `idle_since_ms` is when its last
    /// connection closed (ms since the epoch): it expires a TTL after.
    /// `rooms` are the rooms the session was in when natter stopped (the
    /// display names), so that it is back in them, silently, after the
    /// restart; empty at any other time (see `Chat::shut_down`).
    Save {
        token: String,
        name: String,
        idle_since_ms: u64,
        rooms: Vec<String>,
        /// The key of the account it is logged in to, if its name is claimed.
        account: Option<String>,
    },
    /// Forget it (logout or expiry); a token not stored is no error.
    Delete { token: String },
}

/// A room as stored.
pub struct StoredRoom {
    /// The room's name as displayed (the first spelling).
    pub name: String,
    /// The id the room's next message gets.
    pub next_id: u64,
}

/// A session as stored.
pub struct StoredSession {
    /// `session::token_key` of the cookie, never the token itself.
    pub token: String,
    pub name: String,
    /// When its last connection closed, in ms since the epoch.
    pub idle_since_ms: u64,
    /// The rooms it was in when natter stopped (see [`SessionChange::Save`]).
    pub rooms: Vec<String>,
    /// The account it is logged in to, if any.
    pub account: Option<String>,
}

/// Helpers shared by the unit tests of every file here.
#[cfg(test)]
mod testing {
    use std::sync::Arc;

    use super::{Batch, Sqlite, StorageError, Store, Write};
    use crate::protocol::ChatMessage;

    /// Message `id` of `room` by alice, posted at `ts`.
    pub fn message(room: &str, id: u64, ts: u64) -> ChatMessage {
        ChatMessage::new(Arc::from(room), id, "alice".into(), format!("m{id}"), ts)
    }

    /// A batch of these new messages: (room key, message).
    pub fn posts(messages: Vec<(String, ChatMessage)>) -> Batch {
        let writes = messages.into_iter().map(|(k, m)| (k, Write::Post(m)));
        Batch {
            writes: writes.collect(),
            ..Batch::default()
        }
    }

    /// Save message `id` of #lobby on its own, as the hub does in a quiet pass.
    pub fn save(s: &mut Sqlite, id: u64) -> Result<(), StorageError> {
        s.commit(&posts(vec![("lobby".into(), message("lobby", id, id))]))
    }

    /// A database file in a fresh temporary folder, removed when dropped.
    pub struct ScratchDb {
        pub dir: std::path::PathBuf,
        pub path: String,
    }

    impl ScratchDb {
        pub fn new(name: &str) -> ScratchDb {
            let dir = std::env::temp_dir().join(format!("natter-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}.db")).display().to_string();
            ScratchDb { dir, path }
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
