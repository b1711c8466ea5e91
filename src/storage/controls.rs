//! Rooms with owners, as stored: a room's claim and settings (columns of
//! `rooms`), its members and roles (`room_members`), invites, bans and mutes
//! (a table each). A room's whole [`Controls`] is read once, when the room
//! loads; every change is a [`RoomWrite`] in a pass's [`Batch`], stored
//! before anyone is told, like a message.
//!
//! [`Batch`]: super::Batch

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::protocol::{Access, Role, Visibility};

/// Everything that decides who may do what in one room.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Controls {
    /// The claim on the room, if it was ever claimed (it may have lapsed:
    /// see `Controls::owned` in `chat/controls.rs`).
    pub claim: Option<RoomClaim>,
    pub settings: Settings,
    /// Its recorded members by `uid`, with their roles.
    pub members: HashMap<String, Membership>,
    pub invites: Vec<StoredInvite>,
    pub bans: Vec<StoredBan>,
    pub mutes: Vec<StoredMute>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomClaim {
    /// The claimer's public id, and the name they claimed it under.
    pub uid: String,
    pub name: String,
    /// `session::token_key` (SHA-256) of the owner key, never the key.
    pub key_hash: String,
    pub claimed_ms: u64,
    /// An owner's latest visit: the claim lapses `--room-claim-days` after.
    pub seen_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub topic: String,
    pub visibility: Visibility,
    pub access: Access,
    /// The room password's argon2id PHC string, with `Access::Password`.
    pub password_phc: Option<String>,
    pub locked: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            topic: String::new(),
            visibility: Visibility::Unlisted,
            access: Access::Open,
            password_phc: None,
            locked: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The name they had when they last came in or were given a role.
    pub name: String,
    pub role: Role,
    pub since_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredInvite {
    /// `session::token_key` of the code: the code itself is never stored.
    pub hash: String,
    pub by: String,
    pub expires_ms: u64,
    /// 0: unlimited.
    pub max_uses: u32,
    pub uses: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredBan {
    pub uid: String,
    pub user: String,
    /// `None`: until lifted.
    pub until_ms: Option<u64>,
    /// `session::token_key` of the address (`ratelimit::address_key`), for
    /// an address ban, and when that ends.
    pub address: Option<String>,
    pub address_until_ms: Option<u64>,
    pub by: String,
    pub reason: String,
    pub ts: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredMute {
    pub uid: String,
    pub user: String,
    pub until_ms: u64,
    pub by: String,
}

/// One change to a room's controls. Each writes the whole of what it is
/// about (a membership, a ban), so applying the same one twice changes
/// nothing more.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RoomWrite {
    /// Claimed (anew): the claim, and its claimer the one owner; the roles
    /// before it (a lapsed claim's) start over as plain memberships.
    Claim(RoomClaim),
    /// An owner came by: the claim lives on.
    Seen(u64),
    Settings(Settings),
    Member {
        uid: String,
        membership: Membership,
    },
    Unmember {
        uid: String,
    },
    Invite(StoredInvite),
    /// One more use of invite `hash`.
    InviteUsed {
        hash: String,
    },
    Uninvite {
        hash: String,
    },
    Ban(StoredBan),
    Unban {
        uid: String,
    },
    Mute(StoredMute),
    Unmute {
        uid: String,
    },
    /// A bot token made for the room (`storage/tokens.rs`).
    Token(super::tokens::StoredToken),
    /// Token `hash` revoked.
    Untoken {
        hash: String,
    },
    /// Token `hash` was used at this time (ms since the epoch).
    TokenUsed {
        hash: String,
        ms: u64,
    },
}

/// A room's controls: read when the room loads.
pub(super) fn read(db: &Connection, key: &str) -> rusqlite::Result<Controls> {
    let row = db
        .prepare_cached(
            "SELECT owner_uid, owner_name, owner_key_hash, claimed_ts, owner_seen_ts,
                    topic, visibility, access, password_phc, locked
             FROM rooms WHERE key = ?1",
        )?
        .query_row(params![key], |row| {
            let claim = match row.get::<_, Option<String>>(0)? {
                None => None,
                Some(uid) => Some(RoomClaim {
                    uid,
                    name: row.get(1)?,
                    key_hash: row.get(2)?,
                    claimed_ms: row.get::<_, i64>(3)? as u64,
                    seen_ms: row.get::<_, i64>(4)? as u64,
                }),
            };
            let settings = Settings {
                topic: row.get(5)?,
                visibility: visibility(&row.get::<_, String>(6)?),
                access: access(&row.get::<_, String>(7)?),
                password_phc: row.get(8)?,
                locked: row.get(9)?,
            };
            Ok((claim, settings))
        })
        .optional()?;
    let Some((claim, settings)) = row else {
        return Ok(Controls::default());
    };
    let mut controls = Controls {
        claim,
        settings,
        ..Controls::default()
    };
    let mut stmt =
        db.prepare_cached("SELECT uid, name, role, since_ts FROM room_members WHERE room = ?1")?;
    for row in stmt.query_map(params![key], |row| {
        Ok((
            row.get::<_, String>(0)?,
            Membership {
                name: row.get(1)?,
                role: role(&row.get::<_, String>(2)?),
                since_ms: row.get::<_, i64>(3)? as u64,
            },
        ))
    })? {
        let (uid, membership) = row?;
        controls.members.insert(uid, membership);
    }
    let mut stmt = db.prepare_cached(
        "SELECT hash, created_by, expires_ts, max_uses, uses FROM room_invites
         WHERE room = ?1 ORDER BY expires_ts",
    )?;
    controls.invites = stmt
        .query_map(params![key], |row| {
            Ok(StoredInvite {
                hash: row.get(0)?,
                by: row.get(1)?,
                expires_ms: row.get::<_, i64>(2)? as u64,
                max_uses: row.get(3)?,
                uses: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = db.prepare_cached(
        "SELECT uid, user, until_ts, address, address_until_ts, by_user, reason, ts
         FROM room_bans WHERE room = ?1 ORDER BY ts",
    )?;
    controls.bans = stmt
        .query_map(params![key], ban_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = db.prepare_cached(
        "SELECT uid, user, until_ts, by_user FROM room_mutes WHERE room = ?1 ORDER BY until_ts",
    )?;
    controls.mutes = stmt
        .query_map(params![key], |row| {
            Ok(StoredMute {
                uid: row.get(0)?,
                user: row.get(1)?,
                until_ms: row.get::<_, i64>(2)? as u64,
                by: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(controls)
}

fn ban_from_row(row: &Row) -> rusqlite::Result<StoredBan> {
    Ok(StoredBan {
        uid: row.get(0)?,
        user: row.get(1)?,
        until_ms: row.get::<_, Option<i64>>(2)?.map(|t| t as u64),
        address: row.get(3)?,
        address_until_ms: row.get::<_, Option<i64>>(4)?.map(|t| t as u64),
        by: row.get(5)?,
        reason: row.get(6)?,
        ts: row.get::<_, i64>(7)? as u64,
    })
}

/// Store a pass's room changes, in order: (room key, room name, change).
pub(super) fn write_all(
    tx: &Connection,
    changes: &[(String, String, RoomWrite)],
) -> rusqlite::Result<()> {
    for (key, name, change) in changes {
        // A room is stored once it is used: with its first message, or its
        // first change here (a claim before anyone spoke).
        tx.prepare_cached("INSERT OR IGNORE INTO rooms (key, name, next_id) VALUES (?1, ?2, 1)")?
            .execute(params![key, name])?;
        write(tx, key, change)?;
    }
    Ok(())
}

fn write(tx: &Connection, key: &str, change: &RoomWrite) -> rusqlite::Result<usize> {
    let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| tx.prepare_cached(sql)?.execute(p);
    match change {
        RoomWrite::Claim(c) => {
            run(
                "UPDATE room_members SET role = 'member' WHERE room = ?1",
                params![key],
            )?;
            run(
                "UPDATE rooms SET owner_uid = ?2, owner_name = ?3, owner_key_hash = ?4,
                                  claimed_ts = ?5, owner_seen_ts = ?5 WHERE key = ?1",
                params![key, c.uid, c.name, c.key_hash, c.claimed_ms as i64],
            )?;
            run(
                "INSERT INTO room_members (room, uid, name, role, since_ts)
                 VALUES (?1, ?2, ?3, 'owner', ?4)
                 ON CONFLICT (room, uid) DO UPDATE SET name = excluded.name, role = 'owner'",
                params![key, c.uid, c.name, c.claimed_ms as i64],
            )
        }
        RoomWrite::Seen(ms) => run(
            "UPDATE rooms SET owner_seen_ts = ?2 WHERE key = ?1",
            params![key, *ms as i64],
        ),
        RoomWrite::Settings(s) => run(
            "UPDATE rooms SET topic = ?2, visibility = ?3, access = ?4, password_phc = ?5,
                              locked = ?6 WHERE key = ?1",
            params![
                key,
                s.topic,
                s.visibility.as_str(),
                s.access.as_str(),
                s.password_phc,
                s.locked
            ],
        ),
        RoomWrite::Member { uid, membership: m } => run(
            "INSERT INTO room_members (room, uid, name, role, since_ts) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (room, uid) DO UPDATE SET name = excluded.name, role = excluded.role",
            params![key, uid, m.name, m.role.as_str(), m.since_ms as i64],
        ),
        RoomWrite::Unmember { uid } => run(
            "DELETE FROM room_members WHERE room = ?1 AND uid = ?2",
            params![key, uid],
        ),
        RoomWrite::Invite(i) => run(
            "INSERT OR REPLACE INTO room_invites (room, hash, created_by, expires_ts, max_uses, uses)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key, i.hash, i.by, i.expires_ms as i64, i.max_uses, i.uses],
        ),
        RoomWrite::InviteUsed { hash } => run(
            "UPDATE room_invites SET uses = uses + 1 WHERE room = ?1 AND hash = ?2",
            params![key, hash],
        ),
        RoomWrite::Uninvite { hash } => run(
            "DELETE FROM room_invites WHERE room = ?1 AND hash = ?2",
            params![key, hash],
        ),
        RoomWrite::Ban(b) => run(
            "INSERT OR REPLACE INTO room_bans
                 (room, uid, user, until_ts, address, address_until_ts, by_user, reason, ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                key,
                b.uid,
                b.user,
                b.until_ms.map(|t| t as i64),
                b.address,
                b.address_until_ms.map(|t| t as i64),
                b.by,
                b.reason,
                b.ts as i64
            ],
        ),
        RoomWrite::Unban { uid } => run(
            "DELETE FROM room_bans WHERE room = ?1 AND uid = ?2",
            params![key, uid],
        ),
        RoomWrite::Mute(m) => run(
            "INSERT OR REPLACE INTO room_mutes (room, uid, user, until_ts, by_user)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key, m.uid, m.user, m.until_ms as i64, m.by],
        ),
        RoomWrite::Unmute { uid } => run(
            "DELETE FROM room_mutes WHERE room = ?1 AND uid = ?2",
            params![key, uid],
        ),
        RoomWrite::Token(t) => super::tokens::insert(tx, t),
        RoomWrite::Untoken { hash } => super::tokens::revoke(tx, hash),
        RoomWrite::TokenUsed { hash, ms } => super::tokens::used(tx, hash, *ms),
    }
}

/// How many rooms `uid` claimed whose claims are live (seen since `since_ms`).
pub(super) fn owned_by(db: &Connection, uid: &str, since_ms: u64) -> rusqlite::Result<usize> {
    db.prepare_cached("SELECT count(*) FROM rooms WHERE owner_uid = ?1 AND owner_seen_ts >= ?2")?
        .query_row(params![uid, since_ms as i64], |row| row.get::<_, i64>(0))
        .map(|n| n as usize)
}

/// (A room's latest message is its highest id, found in the primary key:
/// `max(ts)` would read every message of the room, on the hub.)
///
/// The direct messages `uid` is in, the most recent first: (room key, room
/// name, the other person's uid and name).
pub(super) fn dms_of(
    db: &Connection,
    uid: &str,
    limit: usize,
) -> rusqlite::Result<Vec<(String, String, String, String)>> {
    let mut stmt = db.prepare_cached(
        "SELECT r.key, r.name, o.uid, o.name FROM room_members me
           JOIN rooms r ON r.key = me.room AND r.access = 'dm'
           JOIN room_members o ON o.room = me.room AND o.uid != me.uid
         WHERE me.uid = ?1
         ORDER BY coalesce((SELECT ts FROM messages m WHERE m.room = r.key ORDER BY id DESC LIMIT 1),
                  me.since_ts) DESC
         LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![uid, limit as i64], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    rows.collect()
}

/// Rooms the directory may list: (key, name, topic, access, latest message
/// ts). Owned rooms made public whose claims are live (seen since
/// `live_since_ms`); with `unowned`, every open room nobody owns too.
pub(super) fn listed(
    db: &Connection,
    unowned: bool,
    live_since_ms: u64,
    limit: usize,
) -> rusqlite::Result<Vec<super::ListedRow>> {
    let mut stmt = db.prepare_cached(
        "SELECT key, name, topic, access,
                (SELECT ts FROM messages m WHERE m.room = rooms.key ORDER BY id DESC LIMIT 1) AS last
         FROM rooms
         WHERE access != 'dm'
           AND ((visibility = 'public' AND owner_uid IS NOT NULL AND owner_seen_ts >= ?2)
                OR (?1 AND access = 'open' AND (owner_uid IS NULL OR owner_seen_ts < ?2)))
         ORDER BY last DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![unowned, live_since_ms as i64, limit as i64],
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                access(&row.get::<_, String>(3)?),
                row.get::<_, Option<i64>>(4)?.map(|t| t as u64),
            ))
        },
    )?;
    rows.collect()
}

fn visibility(s: &str) -> Visibility {
    match s {
        "public" => Visibility::Public,
        _ => Visibility::Unlisted,
    }
}

fn access(s: &str) -> Access {
    match s {
        "invite" => Access::Invite,
        "password" => Access::Password,
        "dm" => Access::Dm,
        _ => Access::Open,
    }
}

fn role(s: &str) -> Role {
    match s {
        "owner" => Role::Owner,
        "moderator" => Role::Moderator,
        _ => Role::Member,
    }
}
