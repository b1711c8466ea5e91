//! The wire for rooms with owners: claiming a room, its settings, roles,
//! invites, moderation, direct messages and the directory. The requests are
//! variants of [`Request`](super::Request) and the answers of
//! [`Reply`](super::Reply), like every other message; their types live here
//! so that `wire.rs` stays the chat's own. `chat/controls.rs` has the rules.

use serde::{Deserialize, Serialize};

/// Claim an unowned room (or one whose claim lapsed) you are in:
/// `{"type":"claim","room":"lobby"}`. Answered with `claimed`, which holds
/// the owner key, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub room: String,
}

/// Prove you own a room with its owner key (from another browser, say):
/// `{"type":"auth","room":"lobby","key":"ok_…"}`. Your `uid` becomes an owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Auth {
    pub room: String,
    pub key: String,
}

/// Change a room's settings; only the fields given change:
/// `{"type":"set_room","room":"lobby","topic":"Friday game night","access":"invite"}`.
/// The topic is for moderators; the rest for owners. `access: "password"`
/// needs `password` (hashed on the connection's reader thread, never on the
/// hub; the hub receives only the hash, in `password_phc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetRoom {
    pub room: String,
    pub topic: Option<String>,
    pub visibility: Option<Visibility>,
    pub access: Option<Access>,
    pub password: Option<String>,
    pub locked: Option<bool>,
    /// Filled in by the reader thread from `password`, which it then clears:
    /// never read from a client (see `ws/reader.rs`).
    #[serde(skip)]
    pub password_phc: Option<String>,
}

/// Whom a moderation request is about: the name of someone in the room's
/// member list now (`user`), or anyone's public id (`uid`, on their
/// messages). The requests below carry both fields; `parse.rs` makes sure
/// exactly one is given.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    User(String),
    Uid(String),
}

/// `user` or `uid`, as a [`Target`] (`parse.rs` checked that one is there).
pub fn target(user: &Option<String>, uid: &Option<String>) -> Target {
    match (user, uid) {
        (Some(user), _) => Target::User(user.clone()),
        (None, Some(uid)) => Target::Uid(uid.clone()),
        (None, None) => Target::Uid(String::new()),
    }
}

/// Name a moderator, or make one a member again (owners only):
/// `{"type":"set_role","room":"lobby","user":"bob","role":"moderator"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetRole {
    pub room: String,
    pub user: Option<String>,
    pub uid: Option<String>,
    pub role: Role,
}

/// Make an invite link (moderators): `{"type":"invite","room":"lobby","max_age_s":86400,"max_uses":10}`.
/// Both optional: 7 days, and unlimited uses (0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    pub room: String,
    pub max_age_s: Option<u64>,
    pub max_uses: Option<u32>,
}

/// Revoke an invite link by the `id` the room's settings list:
/// `{"type":"revoke_invite","room":"lobby","id":"a1b2c3d4e5f6"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeInvite {
    pub room: String,
    pub id: String,
}

/// Kick, mute, unmute, ban or unban someone (moderators, on lower roles):
/// `{"type":"kick","room":"lobby","user":"mallory","reason":"spam"}`,
/// `{"type":"mute","room":"lobby","user":"mallory","minutes":10}`,
/// `{"type":"ban","room":"lobby","user":"mallory","minutes":60,"ip":true}`.
/// `minutes` is a mute's or ban's length (a ban without it lasts until it
/// is lifted); `ip` also bans the address, for a short time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moderate {
    pub room: String,
    pub user: Option<String>,
    pub uid: Option<String>,
    pub minutes: Option<u64>,
    pub ip: Option<bool>,
    pub reason: Option<String>,
}

/// A room's bans, for its moderators: `{"type":"bans","room":"lobby"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bans {
    pub room: String,
}

/// A page of the public directory: `{"type":"list_rooms","after":"50"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListRooms {
    pub after: Option<String>,
}

/// Open a direct message with someone: `user` is present in `room`, or
/// give their `uid`: `{"type":"dm","room":"lobby","user":"bob"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenDm {
    pub room: Option<String>,
    pub user: Option<String>,
    pub uid: Option<String>,
}

/// Who may find a room: `unlisted` (the default) or `public` (in the
/// directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Unlisted,
    Public,
}

/// Who may come in: anyone (`open`), with an invite link (`invite`), with the
/// room's password (`password`), or its two people (`dm`, a direct message:
/// never set, only made by `dm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Open,
    Invite,
    Password,
    Dm,
}

/// Roles in an owned room, lowest first (so `Ord` compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Moderator,
    Owner,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Unlisted => "unlisted",
            Visibility::Public => "public",
        }
    }
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Invite => "invite",
            Access::Password => "password",
            Access::Dm => "dm",
        }
    }

    /// Whether only members may come in (and read the history).
    pub fn is_private(self) -> bool {
        self != Access::Open
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Owner => "owner",
        }
    }
}

/// A room's settings and roles as every member sees them: in `joined`
/// (`settings`) and in the `room` frame that follows every change. This and
/// the answers below are only ever written (a client reads the JSON), so they
/// derive `Serialize` alone: each `Deserialize` would be code in the binary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomSettings {
    /// Someone's claim on the room is live.
    pub owned: bool,
    /// The name the room was claimed under, while the claim is live.
    pub owner: Option<String>,
    /// When the claim lapses unless an owner comes back (ms since the epoch).
    pub lapses_ts: Option<u64>,
    pub topic: String,
    pub visibility: Visibility,
    pub access: Access,
    pub locked: bool,
    pub dm: bool,
    /// Owners and moderators (everyone else is a member).
    pub roles: Vec<RoleEntry>,
    /// Who is muted now, and until when.
    pub muted: Vec<MuteEntry>,
    /// The live invite links (never their codes).
    pub invites: Vec<InviteEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleEntry {
    pub uid: String,
    pub user: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MuteEntry {
    pub uid: String,
    pub user: String,
    pub until_ts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InviteEntry {
    pub id: String,
    pub by: String,
    pub expires_ts: u64,
    /// 0: unlimited.
    pub max_uses: u32,
    pub uses: u32,
}

/// One ban, as its room's moderators see it (`bans`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BanEntry {
    pub uid: String,
    pub user: String,
    /// `None`: until lifted.
    pub until_ts: Option<u64>,
    /// The address is banned too (until `ip_until_ts`).
    pub ip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_until_ts: Option<u64>,
    pub by: String,
    pub reason: String,
    pub ts: u64,
}

/// One room in the directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedRoom {
    pub name: String,
    pub topic: String,
    /// People in its member list now.
    pub members: usize,
    /// Its latest message (ms since the epoch), if it has one.
    pub last_ts: Option<u64>,
    pub access: Access,
}

/// A direct message, as `hello` lists it and the `dm` frame announces it:
/// the room, and the other person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DmEntry {
    pub room: String,
    pub with: String,
    pub with_uid: String,
}

// -- bots and webhooks (issue 18; the rules are `cmd/bots.rs`) --------------

/// What a bot token may do in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Post messages (an incoming webhook, `POST /api/v1/.../messages`).
    Post,
    /// Read the room (`GET /api/v1/.../messages`, a WebSocket `join`).
    Read,
    /// Both, and react, edit and delete its own messages.
    Bot,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Post => "post",
            Scope::Read => "read",
            Scope::Bot => "bot",
        }
    }

    /// The scope stored as `text` (an unknown word reads as the narrowest).
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "post" => Some(Scope::Post),
            "read" => Some(Scope::Read),
            "bot" => Some(Scope::Bot),
            _ => None,
        }
    }

    pub fn may_post(self) -> bool {
        matches!(self, Scope::Post | Scope::Bot)
    }

    pub fn may_read(self) -> bool {
        matches!(self, Scope::Read | Scope::Bot)
    }
}

/// Make a bot token for a room you own; its secret is shown once, in
/// `token_created`: `{"type":"create_token","room":"lobby","name":"ci-bot","scope":"post"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateToken {
    pub room: String,
    pub name: String,
    pub scope: Scope,
}

/// The room's live tokens, for its owner: `{"type":"tokens","room":"lobby"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListTokens {
    pub room: String,
}

/// Revoke a token by its id (from `tokens`): its connections close, and it
/// never works again: `{"type":"revoke_token","room":"lobby","id":"3f2a9c1b0d4e"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeToken {
    pub room: String,
    pub id: String,
}

/// A token in `tokens`: never its secret, which nobody can show again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenEntry {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub created_by: String,
    pub created_ts: u64,
    pub last_used_ts: Option<u64>,
}
