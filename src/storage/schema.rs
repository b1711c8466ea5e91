//! The schema: its version, and the migrations that bring an older database
//! up to date.
//!
//! The schema's version is SQLite's `user_version`. [`Sqlite::open`] runs the
//! migrations a database needs ([`migrate`]) and refuses one newer than this
//! build knows ([`version`]). Since version 3 a room's key (`rooms.key`,
//! `messages.room`) is [`protocol::room_key`] of its name, which makes
//! look-alike names one room; before, it was the name in lower case.
//!
//! A new column: add a migration at the end of [`MIGRATIONS`] (never edit one
//! that has shipped), and the column in `rows.rs` (see `message_columns!`).
//!
//! [`Sqlite::open`]: super::Sqlite::open

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, Transaction};

use super::sqlite::describe;
use super::StorageError;
use crate::config::MAX_ROOM_CHARS;
use crate::protocol;

/// The schema version this build writes. Each migration below moves a
/// database from `index` to `index + 1`.
const SCHEMA_VERSION: i64 = 11;

/// One step of the schema: SQL, or Rust for what SQL cannot compute.
enum Migration {
    Sql(&'static str),
    Rust(fn(&Transaction) -> Result<(), StorageError>),
}

/// Migrations, in order. Never edit one that has shipped; add another.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(
        "
    CREATE TABLE rooms (
        key      TEXT PRIMARY KEY,   -- lower-cased name: rooms match case-insensitively
        name     TEXT NOT NULL,      -- the first spelling, as displayed
        next_id  INTEGER NOT NULL    -- the id the room's next message gets
    ) WITHOUT ROWID;
    CREATE TABLE messages (
        room      TEXT NOT NULL,
        id        INTEGER NOT NULL,  -- per room, increasing, never reused
        user      TEXT NOT NULL,
        text      TEXT NOT NULL,
        ts        INTEGER NOT NULL,  -- milliseconds since the Unix epoch
        client_id TEXT,
        PRIMARY KEY (room, id)
    ) WITHOUT ROWID;
    CREATE INDEX messages_by_time ON messages (ts);
    CREATE TABLE sessions (
        token       TEXT PRIMARY KEY, -- since version 2: session::token_key(token)
        name        TEXT NOT NULL,
        idle_since  INTEGER NOT NULL -- ms since the epoch; the session expires a TTL after
    ) WITHOUT ROWID;
",
    ),
    Migration::Sql(
        "
    -- Sessions are now stored by the SHA-256 of their token (`token_key`), never
    -- the token itself. Tokens stored by version 1 cannot be converted here;
    -- those sessions end, and their users log in again.
    DELETE FROM sessions;
",
    ),
    // Rooms are keyed by `protocol::room_key`, the look-alike key, instead of
    // the lower-cased name. SQL cannot compute it.
    Migration::Rust(rekey_rooms),
    Migration::Sql(
        "
    -- The rooms a session was in when natter stopped, one per line, so that it
    -- rejoins them silently after a restart (empty at any other time).
    ALTER TABLE sessions ADD COLUMN rooms TEXT NOT NULL DEFAULT '';
",
    ),
    Migration::Sql(
        "
    -- The database's epoch: random, made once with the database. Pages send it
    -- back with `since`, so a database replaced under the same name (a restored
    -- backup, another machine's file) is told apart even when its ids run
    -- past theirs.
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(8))));
",
    ),
    Migration::Sql(
        "
    -- Messages change: edits, deletes and reactions each take the next number
    -- of the room's one sequence (the numbers ids come from), and a message
    -- keeps its current state and `rev`, the number of its latest change.
    -- A resume asks for the messages changed after `since`; this index
    -- answers it. Only changed messages (`rev > id`) are in it, so storing a
    -- new message costs no more than it did.
    ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET rev = id;
    CREATE INDEX messages_changed ON messages (room, rev) WHERE rev > id;
    -- The author's public id (session::public_id); NULL before: not editable.
    ALTER TABLE messages ADD COLUMN uid TEXT;
    ALTER TABLE messages ADD COLUMN edited_ts INTEGER;     -- ms since the epoch
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN action INTEGER NOT NULL DEFAULT 0;  -- /me
    ALTER TABLE messages ADD COLUMN reply_to INTEGER;      -- an id in the same room
    ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';  -- names, one per line
    -- One row per person and emoji on a message; they go with their message.
    CREATE TABLE reactions (
        room        TEXT NOT NULL,
        message_id  INTEGER NOT NULL,
        emoji       TEXT NOT NULL,
        uid         TEXT NOT NULL,
        name        TEXT NOT NULL,   -- the name they had when they reacted
        ts          INTEGER NOT NULL,
        PRIMARY KEY (room, message_id, emoji, uid),
        FOREIGN KEY (room, message_id) REFERENCES messages (room, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
",
    ),
    Migration::Sql(
        "
    -- Claimed names. `key` is protocol::name_key of the name, so a look-alike
    -- of a claimed name is that name. `phc` is the password's argon2id hash.
    CREATE TABLE accounts (
        key         TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        uid         TEXT NOT NULL UNIQUE,
        phc         TEXT NOT NULL,
        created_ts  INTEGER NOT NULL,
        bio         TEXT NOT NULL DEFAULT '',  -- a few words, on the member card
        color       TEXT NOT NULL DEFAULT ''   -- #rrggbb, or '' for the page's own
    ) WITHOUT ROWID;
    -- The account a session is logged in to; its sessions go with it.
    ALTER TABLE sessions ADD COLUMN account TEXT
        REFERENCES accounts (key) ON DELETE CASCADE;
    -- Written while logged in to a claimed name (shown with a check mark).
    ALTER TABLE messages ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
",
    ),
    Migration::Sql(
        "
    -- Rooms with owners. A claim: who claimed it (public id and name), the
    -- SHA-256 of its owner key (never the key), and an owner's latest visit
    -- (the claim lapses some days after). Settings: who may find the room and
    -- who may come in.
    ALTER TABLE rooms ADD COLUMN owner_uid TEXT;
    ALTER TABLE rooms ADD COLUMN owner_name TEXT;
    ALTER TABLE rooms ADD COLUMN owner_key_hash TEXT;
    ALTER TABLE rooms ADD COLUMN claimed_ts INTEGER;
    ALTER TABLE rooms ADD COLUMN owner_seen_ts INTEGER;
    ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
    ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'unlisted'
        CHECK (visibility IN ('unlisted', 'public'));
    ALTER TABLE rooms ADD COLUMN access TEXT NOT NULL DEFAULT 'open'
        CHECK (access IN ('open', 'invite', 'password', 'dm'));
    ALTER TABLE rooms ADD COLUMN password_phc TEXT;       -- argon2id, for 'password'
    ALTER TABLE rooms ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX rooms_by_owner ON rooms (owner_uid) WHERE owner_uid IS NOT NULL;
    -- Who may come back to an owned room (or a direct message), and roles.
    CREATE TABLE room_members (
        room      TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
        uid       TEXT NOT NULL,
        name      TEXT NOT NULL,
        role      TEXT NOT NULL CHECK (role IN ('member', 'moderator', 'owner')),
        since_ts  INTEGER NOT NULL,
        PRIMARY KEY (room, uid)
    ) WITHOUT ROWID;
    CREATE INDEX room_members_by_uid ON room_members (uid);
    -- Invite links, by the SHA-256 of their code (never the code).
    CREATE TABLE room_invites (
        room        TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
        hash        TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        expires_ts  INTEGER NOT NULL,
        max_uses    INTEGER NOT NULL,   -- 0: unlimited
        uses        INTEGER NOT NULL,
        PRIMARY KEY (room, hash)
    ) WITHOUT ROWID;
    -- Bans by public id; `address` (SHA-256 of it) only when asked, and short.
    CREATE TABLE room_bans (
        room              TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
        uid               TEXT NOT NULL,
        user              TEXT NOT NULL,
        until_ts          INTEGER,      -- NULL: until lifted
        address           TEXT,
        address_until_ts  INTEGER,
        by_user           TEXT NOT NULL,
        reason            TEXT NOT NULL,
        ts                INTEGER NOT NULL,
        PRIMARY KEY (room, uid)
    ) WITHOUT ROWID;
    CREATE TABLE room_mutes (
        room      TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
        uid       TEXT NOT NULL,
        user      TEXT NOT NULL,
        until_ts  INTEGER NOT NULL,
        by_user   TEXT NOT NULL,
        PRIMARY KEY (room, uid)
    ) WITHOUT ROWID;
    -- A message a moderator deleted says who did.
    ALTER TABLE messages ADD COLUMN deleted_by TEXT;
",
    ),
    // Version 9: uploads. The files are on disk, named by their hash
    // (media/mod.rs); these rows say what each is and who may see it.
    Migration::Sql(
        "
    CREATE TABLE media (
        hash        TEXT PRIMARY KEY,   -- SHA-256 of the bytes, hex: the file's name
        size        INTEGER NOT NULL,
        mime        TEXT NOT NULL,      -- sniffed from the bytes
        created_ts  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        id           TEXT PRIMARY KEY,  -- the random capability in its URL
        hash         TEXT NOT NULL REFERENCES media (hash),
        room         TEXT NOT NULL,     -- room key
        room_name    TEXT NOT NULL,
        uid          TEXT NOT NULL,     -- the uploader's public id
        name         TEXT NOT NULL,     -- the file name it was sent with
        kind         TEXT NOT NULL CHECK (kind IN ('image', 'voice', 'file')),
        width        INTEGER,
        height       INTEGER,
        duration_ms  INTEGER,
        created_ts   INTEGER NOT NULL,
        message_id   INTEGER            -- NULL until a message attaches it
    ) WITHOUT ROWID;
    CREATE INDEX uploads_by_hash ON uploads (hash);
    CREATE INDEX uploads_by_message ON uploads (room, message_id);
    CREATE INDEX uploads_by_uid ON uploads (uid);
    -- What each person uploaded per UTC day, for the daily limit.
    CREATE TABLE upload_days (
        uid    TEXT NOT NULL,
        day    INTEGER NOT NULL,        -- days since the Unix epoch
        bytes  INTEGER NOT NULL,
        PRIMARY KEY (uid, day)
    ) WITHOUT ROWID;
    -- A message's attachments as its frame shows them (JSON), '' for none.
    ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '';
",
    ),
    // Version 10: the type each upload is served as. The same bytes sent as
    // a file and as a voice note share one `media` row, and are served as
    // a download and as audio; NULL (before): the file's type.
    Migration::Sql(
        "
    ALTER TABLE uploads ADD COLUMN mime TEXT;
",
    ),
    // Version 11: bot tokens (`cmd/bots.rs`). A token is kept only as the
    // SHA-256 of its secret; its public id is the first 12 digits of that.
    // A revoked token's row stays (revoked = 1), so its id is never reused
    // and the operator can see what it was. Messages written by one carry
    // `bot`, for the BOT badge.
    Migration::Sql(
        "
    CREATE TABLE tokens (
        hash          TEXT PRIMARY KEY,   -- session::token_key(secret)
        room          TEXT NOT NULL,      -- the room's key
        room_name     TEXT NOT NULL,      -- its display name when the token was made
        name          TEXT NOT NULL,      -- the bot's display name
        name_key      TEXT NOT NULL,      -- protocol::name_key(name): reserved in the room
        scope         TEXT NOT NULL,      -- post | read | bot
        created_by    TEXT NOT NULL,      -- who made it: a name, or 'operator'
        created_ts    INTEGER NOT NULL,
        last_used_ts  INTEGER,
        revoked       INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX tokens_by_room ON tokens (room, revoked);
    ALTER TABLE messages ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;
",
    ),
];

/// Version 3: give every room its `protocol::room_key`, and its name in NFKC
/// form (when the name is still a valid one).
///
/// Names that were two rooms may now be one key ("café" spelled with "é" and
/// with "e" + a combining accent, or "Lobby" and a "Lоbby" with a Cyrillic
/// "о"). Then the room that was there first (its oldest message) keeps the
/// key, and each later one keeps its own history under a numbered name,
/// "Lоbby 2", with one line in the log. Merging them instead would renumber
/// the messages that pages resume from, and pour a look-alike room's history
/// into the room it imitated.
fn rekey_rooms(tx: &Transaction) -> Result<(), StorageError> {
    let rooms = rooms_oldest_first(tx)?;
    let plan = new_keys(tx, &rooms)?;
    move_rooms(tx, &rooms, &plan)
}

/// Every room's (key, name), the oldest first (by its first message; rooms
/// with none last).
fn rooms_oldest_first(tx: &Transaction) -> Result<Vec<(String, String)>, StorageError> {
    let mut stmt = tx
        .prepare(
            "SELECT key, name,
                    (SELECT ts FROM messages WHERE room = rooms.key ORDER BY id LIMIT 1)
                      AS first
             FROM rooms ORDER BY first IS NULL, first, key",
        )
        .map_err(describe)?;
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(describe)?;
    rows.collect::<Result<_, _>>().map_err(describe)
}

/// The new (key, name) of each of `rooms`, in the same order.
fn new_keys(
    tx: &Transaction,
    rooms: &[(String, String)],
) -> Result<Vec<(String, String)>, StorageError> {
    // The new name and key of each room, oldest first: the first of each key
    // keeps it, the others are numbered once every first has its key, so that
    // "Lоbby 2" does not take the key of a real "Lobby 2".
    let mut plan: Vec<(String, String)> = rooms
        .iter()
        .map(|(_, name)| {
            let name = protocol::check_room(name).unwrap_or_else(|_| name.clone());
            (protocol::room_key(&name), name)
        })
        .collect();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let later: Vec<usize> = (0..plan.len())
        .filter(|&i| *first_of.entry(plan[i].0.clone()).or_insert(i) != i)
        .collect();
    let mut taken: HashSet<String> = first_of.keys().cloned().collect();
    for i in later {
        let first = &rooms[first_of[&plan[i].0]].1;
        let renamed = (2..)
            .map(|n| numbered(&plan[i].1, n))
            .find(|name| !taken.contains(&protocol::room_key(name)))
            .expect("some number gives a free name: a finite set of keys is taken");
        let messages: i64 = tx
            .query_row(
                "SELECT count(*) FROM messages WHERE room = ?1",
                params![rooms[i].0],
                |row| row.get(0),
            )
            .map_err(describe)?;
        eprintln!(
            "natter: rooms {first:?} and {:?} now count as one name (they look alike); \
             the second keeps its {messages} messages as room {renamed:?}",
            rooms[i].1
        );
        plan[i] = (protocol::room_key(&renamed), renamed);
        taken.insert(plan[i].0.clone());
    }
    Ok(plan)
}

/// Give each of `rooms` its new (key, name) from `plan`.
fn move_rooms(
    tx: &Transaction,
    rooms: &[(String, String)],
    plan: &[(String, String)],
) -> Result<(), StorageError> {
    // Move each room's messages to its new key. Going straight there could
    // meet a room that has not moved yet and still holds that key (a room's
    // key is part of each message's primary key); such a room is parked
    // under a temporary key, which no real key can be (they have no control
    // characters), and moved on once all the others have gone.
    let mut present: HashSet<&str> = rooms.iter().map(|(key, _)| key.as_str()).collect();
    let mut parked = Vec::new();
    for (i, ((old_key, _), (new_key, name))) in rooms.iter().zip(plan).enumerate() {
        if old_key == new_key {
            tx.execute(
                "UPDATE rooms SET name = ?2 WHERE key = ?1",
                params![old_key, name],
            )
            .map_err(describe)?;
            continue;
        }
        present.remove(old_key.as_str());
        if present.contains(new_key.as_str()) {
            let temporary = format!("\u{1}{i}");
            move_room(tx, old_key, &temporary, name)?;
            parked.push((temporary, new_key, name));
        } else {
            move_room(tx, old_key, new_key, name)?;
            present.insert(new_key);
        }
    }
    for (temporary, new_key, name) in parked {
        move_room(tx, &temporary, new_key, name)?;
    }
    Ok(())
}

/// Give a room and its messages a new key, and the room a new name.
fn move_room(tx: &Transaction, from: &str, to: &str, name: &str) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE messages SET room = ?2 WHERE room = ?1",
        params![from, to],
    )
    .map_err(describe)?;
    tx.execute(
        "UPDATE rooms SET key = ?2, name = ?3 WHERE key = ?1",
        params![from, to, name],
    )
    .map_err(describe)?;
    Ok(())
}

/// `name` with a number after it, shortened to fit the room-name limit.
fn numbered(name: &str, n: u32) -> String {
    let suffix = format!(" {n}");
    let room: String = name
        .chars()
        .take(MAX_ROOM_CHARS.saturating_sub(suffix.len()))
        .collect();
    format!("{}{suffix}", room.trim_end())
}

/// The schema version of the database `db` holds, refused if it is newer than
/// this build knows: an older natter must not write to a newer one's file.
/// This is the first real read, so a file that is not a database (or cannot be
/// read) fails here.
pub(super) fn version(db: &Connection) -> Result<i64, StorageError> {
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(describe)?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "its schema is version {version}, newer than this natter understands \
             ({SCHEMA_VERSION}); run a newer natter"
        ));
    }
    Ok(version)
}

/// Run the migrations from version `from` on, each in a transaction of its
/// own with the version it reaches: a migration that fails (a full disk)
/// leaves the database at the last version it completed, and the next start
/// goes on from there.
pub(super) fn migrate(db: &mut Connection, from: i64) -> Result<(), StorageError> {
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = db.transaction().map_err(describe)?;
        match migration {
            Migration::Sql(sql) => tx.execute_batch(sql).map_err(describe)?,
            Migration::Rust(migrate) => migrate(&tx)?,
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(describe)?;
        tx.commit().map_err(describe)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::storage::testing::ScratchDb;
    use crate::storage::{Sqlite, Store};

    /// The schema version of the file at `path`, read beside the store.
    fn version_of(path: &str) -> i64 {
        let db = Connection::open(path).unwrap();
        db.query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_newer_schema_or_a_non_database_is_refused() {
        let scratch = ScratchDb::new("schema");
        let dir = &scratch.dir;
        let newer = dir.join("newer.db");
        let db = Connection::open(&newer).unwrap();
        db.pragma_update(None, "user_version", 99).unwrap();
        drop(db);
        let err = Sqlite::open(newer.to_str().unwrap(), None).err().unwrap();
        assert!(err.contains("newer"), "{err}");
        let junk = dir.join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        assert!(Sqlite::open(junk.to_str().unwrap(), None).is_err());
    }

    #[test]
    fn version_2_rooms_are_rekeyed_and_look_alikes_keep_their_history() {
        let scratch = ScratchDb::new("rekey");
        // A version-2 database as natter wrote it: rooms keyed by their
        // lower-cased name, so look-alike names were separate rooms.
        let db = Connection::open(&scratch.path).unwrap();
        for migration in &MIGRATIONS[..2] {
            let Migration::Sql(sql) = migration else {
                panic!("versions 1 and 2 are SQL")
            };
            db.execute_batch(sql).unwrap();
        }
        db.pragma_update(None, "user_version", 2).unwrap();
        // (name, first message's time, messages): oldest first within a key.
        let old_rooms = [
            ("Lobby", 100, 3),
            ("L\u{43E}bby", 200, 2), // a Cyrillic о, made later
            ("Lobby 2", 300, 1),     // a real room of that name
            ("cafe\u{301}", 60, 2),  // e + combining accent, made later
            ("café", 50, 1),
            ("Commons", 10, 1),  // its key changes: "m" looks like "rn"
            ("ｆｕｌｌ", 10, 1), // fullwidth: its name becomes "full"
        ];
        for (name, ts, count) in old_rooms {
            let key = name.to_lowercase();
            db.execute(
                "INSERT INTO rooms (key, name, next_id) VALUES (?1, ?2, ?3)",
                params![key, name, count + 1],
            )
            .unwrap();
            for id in 1..=count {
                db.execute(
                    "INSERT INTO messages (room, id, user, text, ts) VALUES (?1, ?2, 'u', ?3, ?4)",
                    params![key, id, format!("{name} {id}"), ts + id],
                )
                .unwrap();
            }
        }
        drop(db);

        let mut s = Sqlite::open(&scratch.path, None).unwrap();
        assert_eq!(version_of(&scratch.path), SCHEMA_VERSION);
        // What a page sees when it joins a room by a name (the hub looks
        // rooms up by `room_key`): the room's name and its texts.
        let mut open = |typed: &str| {
            let key = protocol::room_key(&protocol::check_room(typed).unwrap());
            let stored = s.room(&key).unwrap().expect("the room is there");
            let (messages, _) = s.before(&key, &stored.name, u64::MAX, 100).unwrap();
            let texts: Vec<String> = messages.into_iter().map(|m| m.text).collect();
            (stored.name, stored.next_id, texts)
        };
        let texts = |name: &str, count: u64| (1..=count).map(|id| format!("{name} {id}")).collect();
        assert_eq!(open("lobby"), ("Lobby".into(), 4, texts("Lobby", 3)));
        assert_eq!(open("L\u{43E}BBY"), ("Lobby".into(), 4, texts("Lobby", 3)));
        assert_eq!(open("Lobby 2"), ("Lobby 2".into(), 2, texts("Lobby 2", 1)));
        assert_eq!(
            open("Lobby 3"),
            ("L\u{43E}bby 3".into(), 3, texts("L\u{43E}bby", 2)),
            "the later look-alike keeps its history under a free numbered name"
        );
        assert_eq!(open("cafe\u{301}"), ("café".into(), 2, texts("café", 1)));
        assert_eq!(
            open("café 2"),
            ("café 2".into(), 3, texts("cafe\u{301}", 2))
        );
        assert_eq!(open("commons"), ("Commons".into(), 2, texts("Commons", 1)));
        assert_eq!(open("full"), ("full".into(), 2, texts("ｆｕｌｌ", 1)));
        let rooms: i64 = Connection::open(&scratch.path)
            .unwrap()
            .query_row("SELECT count(*) FROM rooms", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rooms, 7, "no room was lost");
        drop(s);
        // Opening it again migrates nothing more.
        let mut s = Sqlite::open(&scratch.path, None).unwrap();
        let key = protocol::room_key("Lobby 3");
        let name = s.room(&key).unwrap().expect("the room is there").name;
        assert_eq!(name, "L\u{43E}bby 3");
    }

    #[test]
    fn version_5_messages_become_current_state_rows_that_nobody_can_claim() {
        use crate::storage::{Batch, Change, Changed, Write};
        let scratch = ScratchDb::new("v5");
        let mut db = Connection::open(&scratch.path).unwrap();
        for (index, migration) in MIGRATIONS[..5].iter().enumerate() {
            let tx = db.transaction().unwrap();
            match migration {
                Migration::Sql(sql) => tx.execute_batch(sql).unwrap(),
                Migration::Rust(migrate) => migrate(&tx).unwrap(),
            }
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        db.execute_batch(
            "INSERT INTO rooms (key, name, next_id) VALUES ('lobby', 'Lobby', 3);
             INSERT INTO messages (room, id, user, text, ts) VALUES ('lobby', 1, 'ann', 'old one', 10),
                                                                    ('lobby', 2, 'ann', 'old two', 20);",
        )
        .unwrap();
        drop(db);

        let mut s = Sqlite::open(&scratch.path, None).unwrap();
        assert_eq!(version_of(&scratch.path), SCHEMA_VERSION);
        let (old, _) = s.before("lobby", "Lobby", u64::MAX, 10).unwrap();
        assert_eq!(
            old.iter().map(|m| (m.id, m.rev())).collect::<Vec<_>>(),
            [(1, 1), (2, 2)]
        );
        assert!(
            old.iter().all(|m| m.uid.is_none()),
            "no author id: not editable"
        );
        assert_eq!(s.room("lobby").unwrap().unwrap().next_id, 3);
        // A reaction on an old message moves the room's sequence on ...
        let (uid, user) = (Arc::from("u1"), Arc::from("bob"));
        let react = Change {
            id: 1,
            seq: 3,
            client_id: None,
            what: Changed::React {
                emoji: "👍".into(),
                uid,
                user,
                on: true,
                ts: 30,
                after: Vec::new(),
            },
        };
        let batch = Batch {
            writes: vec![("lobby".into(), Write::Change(react))],
            ..Batch::default()
        };
        s.commit(&batch).unwrap();
        assert_eq!(s.room("lobby").unwrap().unwrap().next_id, 4);
        let changed = s.changed("lobby", "Lobby", 2, 10).unwrap();
        assert_eq!(changed[0].reactions[0].by[0].1.as_ref(), "bob");
        // ... and goes with its message when retention deletes that.
        assert_eq!(s.delete_before(15).unwrap(), 1);
        let left: i64 = Connection::open(&scratch.path)
            .unwrap()
            .query_row("SELECT count(*) FROM reactions", [], |row| row.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert_eq!(
            s.room("lobby").unwrap().unwrap().next_id,
            4,
            "numbers are never reused"
        );
    }
}
