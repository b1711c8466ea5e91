//! The messages themselves: one Rust type for each thing the page and the
//! server say, and the JSON each one is on the wire.
//!
//! serde writes and reads every one of them, so this file is the protocol's
//! single description. To add a field to a request or a message, add it here
//! (with `#[serde(default)]`, so pages that do not send it still parse):
//! parsing, the error that names a wrong field, [`encoded_len`] and the
//! fuzz tests all follow from serde. Only a field with rules of its own (a
//! length, a character set) also needs a check in `parse.rs`.
//!
//! [`encoded_len`]: super::encoded_len

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::rooms::*;

use crate::config::{
    IMAGE_MAX_EDGE, IMAGE_QUALITY, MAX_ATTACHMENTS, MAX_EMOJI_BYTES, MAX_MENTIONS, MAX_REACTIONS,
    MAX_REACTION_NAMES, MAX_ROOMS_PER_CONNECTION, MAX_ROOM_CHARS, MAX_TEXT_BYTES, MAX_TEXT_CHARS,
    MAX_VOICE_MS, MAX_WS_MESSAGE_BYTES, REPLY_EXCERPT_CHARS,
};

/// What a page may ask of the server: one JSON object per text frame, told
/// apart by its `type`. Fields a request does not have are ignored, so a page
/// newer than the server still works; `null` is the same as leaving an
/// optional field out.
///
/// [`parse_request`](super::parse_request) makes one from a frame and checks
/// it; a request the hub sees has passed every rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Join(Join),
    Leave(Leave),
    Message(Post),
    Typing(Typing),
    History(History),
    Edit(Edit),
    Delete(Delete),
    React(React),
    // Rooms with owners (see `rooms.rs`).
    Claim(Claim),
    Auth(Auth),
    SetRoom(SetRoom),
    SetRole(SetRole),
    Invite(Invite),
    RevokeInvite(RevokeInvite),
    Kick(Moderate),
    Mute(Moderate),
    Unmute(Moderate),
    Ban(Moderate),
    Unban(Moderate),
    Bans(Bans),
    ListRooms(ListRooms),
    Dm(OpenDm),
    // Bots (see `rooms.rs`).
    CreateToken(CreateToken),
    Tokens(ListTokens),
    RevokeToken(RevokeToken),
}

/// Enter a room; with `since` (the last id the page saw), only messages
/// after it are sent back: `{"type":"join","room":"lobby","since":41}`.
/// `epoch` is the one `hello` gave when that id was seen: from another
/// database, `since` means nothing here, and `joined` says `gap`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Join {
    pub room: String,
    pub since: Option<u64>,
    pub epoch: Option<String>,
    /// An invite link's code, for a room that needs one.
    pub invite: Option<String>,
    /// The room's password, for a room that has one. The reader thread
    /// checks it against the room's hash and clears it, so the hub never
    /// sees it: only `password_right`.
    pub password: Option<String>,
    /// Whether `password` was the room's (set by the reader thread, never
    /// read from a client).
    #[serde(skip)]
    pub password_right: Option<bool>,
}

/// Leave a room: `{"type":"leave","room":"lobby"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leave {
    pub room: String,
}

/// Post a message. `client_id` is the page's own id for it, echoed back so
/// the page can match the echo to its pending copy, and never posted twice:
/// `{"type":"message","room":"lobby","text":"hi","client_id":"c-1"}`.
/// Optional: `reply_to` (a message of the room this answers), `mentions`
/// (names the page took from its @-list; kept only where `@name` is in the
/// text) and `action` (`/me waves` is `"text":"waves","action":true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub room: String,
    pub text: String,
    pub client_id: Option<String>,
    pub reply_to: Option<u64>,
    pub mentions: Option<Vec<String>>,
    pub action: Option<bool>,
    /// Upload ids (from `POST /upload/<room>`) to attach, at most
    /// `MAX_ATTACHMENTS`; with any, the text may be empty.
    pub attachments: Option<Vec<String>>,
}

/// Change the text of your own message `id`, within the edit window:
/// `{"type":"edit","room":"lobby","id":42,"text":"yes, at 7","mentions":["bob"],"client_id":"c-22"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    pub room: String,
    pub id: u64,
    pub text: String,
    pub mentions: Option<Vec<String>>,
    pub client_id: Option<String>,
}

/// Delete your own message `id`, for good:
/// `{"type":"delete","room":"lobby","id":42,"client_id":"c-23"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delete {
    pub room: String,
    pub id: u64,
    pub client_id: Option<String>,
}

/// Put your reaction `emoji` on message `id` (`on: true`) or take it off
/// (`false`). Explicit, never a toggle, so a frame sent twice (a retry after
/// a reconnect) cannot undo itself:
/// `{"type":"react","room":"lobby","id":41,"emoji":"👍","on":true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct React {
    pub room: String,
    pub id: u64,
    pub emoji: String,
    pub on: bool,
    pub client_id: Option<String>,
}

/// "I am typing" in a room: `{"type":"typing","room":"lobby"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Typing {
    pub room: String,
}

/// Older messages: up to `limit` (capped) with ids below `before`:
/// `{"type":"history","room":"lobby","before":41,"limit":50}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub room: String,
    pub before: Option<u64>,
    pub limit: Option<usize>,
}

/// A chat message as it is stored in a room's history and sent on the wire,
/// always in its current state (edited, reacted to, or deleted):
/// `{"room":"lobby","id":42,"uid":"3f9a0c1b7d2e","user":"alice","text":"hi","ts":1764108001234,"client_id":"c-1"}`
/// (with `"type":"message"` first when it travels alone, see [`Reply::Message`]).
/// The optional fields are left out when empty, so a plain message stays as
/// short as it always was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The room's name as first spelled (not the key it is found by).
    pub room: Arc<str>,
    /// The room's sequence number this message took: ids increase within a
    /// room, and skip the numbers that changes took.
    pub id: u64,
    /// The author's public id (see `session::public_id`): authorship is
    /// checked by it, never by the name, which is only unique per room at a
    /// time. `None` for messages stored before there were ids: nobody can
    /// edit those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Arc<str>>,
    pub user: Arc<str>,
    /// Written while logged in to the claimed name `user` (a check mark).
    #[serde(default, skip_serializing_if = "is_false")]
    pub verified: bool,
    /// Written by a bot token (`cmd/bots.rs`): the page shows a BOT badge,
    /// so a webhook cannot pass for a person.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bot: bool,
    /// Empty once deleted.
    pub text: String,
    /// Milliseconds since the Unix epoch ([`now_millis`]).
    pub ts: u64,
    /// The sender's own id for the message, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The sequence number of its latest change (edit, delete, reaction),
    /// when it changed after it was posted; else it is `id`. See [`Self::rev`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
    /// When it was last edited (ms since the epoch): the page shows "(edited)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<u64>,
    /// A tombstone: its text, mentions, reactions and reply are gone for good.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Deleted by a room's moderator (this name), not by its author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<Arc<str>>,
    /// Written with `/me`: shown as "* alice waves".
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// What that message is now (see [`Preview`]); not stored, but filled in
    /// from the original's current state whenever this one is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Preview>,
    /// The names it mentions, as the sender's page chose them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Its reactions, in the order each emoji first came.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Its files (images, voice notes, downloads); gone once it is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file on a message, as the page shows it:
/// `{"id":"u_5f2c…","url":"/m/u_5f2c….webp","kind":"image","mime":"image/webp",
/// "size":183422,"name":"cat.webp","width":1600,"height":1200}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The upload's id: a random capability, not the file's hash.
    pub id: String,
    /// Where it is served (`GET /m/<id>.<ext>`).
    pub url: String,
    pub kind: MediaKind,
    /// The type sniffed from its bytes (never the one the uploader claimed).
    pub mime: String,
    pub size: u64,
    /// The file name the uploader gave, for downloads and alt text.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A voice note's length, as its recorder said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// What a file is to the page: shown inline, played, or downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Voice,
    File,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<MediaKind> {
        match s {
            "image" => Some(MediaKind::Image),
            "voice" => Some(MediaKind::Voice),
            "file" => Some(MediaKind::File),
            _ => None,
        }
    }
}

impl ChatMessage {
    /// A new message with only the fields every message has.
    pub fn new(room: Arc<str>, id: u64, user: Arc<str>, text: String, ts: u64) -> ChatMessage {
        ChatMessage {
            room,
            id,
            uid: None,
            user,
            verified: false,
            bot: false,
            text,
            ts,
            client_id: None,
            rev: None,
            edited_ts: None,
            deleted: false,
            deleted_by: None,
            action: false,
            reply_to: None,
            reply: None,
            mentions: Vec::new(),
            reactions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    /// The sequence number of its latest change: its `id` until it changes.
    pub fn rev(&self) -> u64 {
        self.rev.unwrap_or(self.id)
    }

    /// The preview a reply to this message carries.
    pub fn preview(&self) -> Preview {
        match self.deleted {
            true => Preview::deleted(),
            false => Preview {
                uid: self.uid.clone(),
                user: Some(self.user.clone()),
                excerpt: Some(match (self.text.is_empty(), self.attachments.first()) {
                    // A photo without a caption is quoted by its file's name.
                    (true, Some(file)) => excerpt(&format!("📎 {}", file.name)),
                    _ => excerpt(&self.text),
                }),
                deleted: false,
                bot: self.bot,
            },
        }
    }
}

/// The start of a text, as a reply's preview shows it: the first
/// `REPLY_EXCERPT_CHARS` characters.
pub fn excerpt(text: &str) -> String {
    text.chars().take(REPLY_EXCERPT_CHARS).collect()
}

/// What a reply shows of the message it answers, from that message's
/// current state: `{"uid":"9b2c…","user":"bob","excerpt":"dinner tonight?"}`,
/// or `{"deleted":true}` once it is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The original is a bot's (its BOT badge shows in the quote too).
    #[serde(default, skip_serializing_if = "is_false")]
    pub bot: bool,
}

impl Preview {
    pub fn deleted() -> Preview {
        Preview {
            uid: None,
            user: None,
            excerpt: None,
            deleted: true,
            bot: false,
        }
    }
}

/// One emoji on a message and everyone who put it there, oldest first.
/// On the wire it is a summary: the whole `count`, and at most
/// `MAX_REACTION_NAMES` of the names and ids:
/// `{"emoji":"👍","count":3,"users":["alice","bob","carol"],"uids":["3f…","9b…","77…"]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "ReactionSummary")]
pub struct Reaction {
    pub emoji: String,
    /// (uid, name) of each person, in the order they reacted.
    pub by: Vec<(Arc<str>, Arc<str>)>,
}

impl Serialize for Reaction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let shown = &self.by[..self.by.len().min(MAX_REACTION_NAMES)];
        let mut out = s.serialize_struct("Reaction", 4)?;
        out.serialize_field("emoji", &self.emoji)?;
        out.serialize_field("count", &self.by.len())?;
        let users: Vec<&str> = shown.iter().map(|(_, name)| &**name).collect();
        out.serialize_field("users", &users)?;
        let uids: Vec<&str> = shown.iter().map(|(uid, _)| &**uid).collect();
        out.serialize_field("uids", &uids)?;
        out.end()
    }
}

/// A [`Reaction`] as a client reads it back (the names past
/// `MAX_REACTION_NAMES` are not on the wire).
#[derive(Deserialize)]
struct ReactionSummary {
    emoji: String,
    users: Vec<Arc<str>>,
    uids: Vec<Arc<str>>,
}

impl From<ReactionSummary> for Reaction {
    fn from(r: ReactionSummary) -> Reaction {
        Reaction {
            emoji: r.emoji,
            by: r.uids.into_iter().zip(r.users).collect(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The limits a page needs to know, sent in `hello`:
/// `{"max_text_chars":4000,"max_text_bytes":12000,"max_room_chars":64,"max_message_bytes":65536,"max_rooms":32,"history":200}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_text_chars: usize,
    /// A message's text in bytes of UTF-8, checked alongside `max_text_chars`.
    pub max_text_bytes: usize,
    /// A room name's characters (after NFKC normalisation, see `check_room`).
    pub max_room_chars: usize,
    pub max_message_bytes: usize,
    pub max_rooms: usize,
    pub history: usize,
    /// Seconds after posting that a message can be edited; `null`: no limit,
    /// `0`: no editing (`--edit-window`).
    pub edit_window_s: Option<u64>,
    pub max_reactions: usize,
    pub max_mentions: usize,
    pub max_emoji_bytes: usize,
    pub reply_excerpt_chars: usize,
    /// The largest upload in bytes; 0: uploads are off (`--uploads off`).
    pub max_upload_bytes: u64,
    pub max_attachments: usize,
    pub max_voice_ms: u64,
    /// What the page re-encodes images to before uploading them.
    pub image_max_edge: u32,
    pub image_quality: f64,
}

impl Limits {
    pub fn new(
        history: usize,
        edit_window: Option<std::time::Duration>,
        max_upload_bytes: u64,
    ) -> Limits {
        Limits {
            max_text_chars: MAX_TEXT_CHARS,
            max_text_bytes: MAX_TEXT_BYTES,
            max_room_chars: MAX_ROOM_CHARS,
            max_message_bytes: MAX_WS_MESSAGE_BYTES,
            max_rooms: MAX_ROOMS_PER_CONNECTION,
            history,
            edit_window_s: edit_window.map(|w| w.as_secs()),
            max_reactions: MAX_REACTIONS,
            max_mentions: MAX_MENTIONS,
            max_emoji_bytes: MAX_EMOJI_BYTES,
            reply_excerpt_chars: REPLY_EXCERPT_CHARS,
            max_upload_bytes,
            max_attachments: MAX_ATTACHMENTS,
            max_voice_ms: MAX_VOICE_MS,
            image_max_edge: IMAGE_MAX_EDGE,
            image_quality: IMAGE_QUALITY,
        }
    }
}

/// What the server says. Borrowed fields keep encoding free of copies: a
/// reply is built, encoded once ([`encode`](super::encode)) and dropped, so
/// it is written by serde but never read back (a Rust client reads the JSON
/// into [`ChatMessage`], [`Rejection`] or `serde_json::Value`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    /// The first frame after the handshake: who you are, the limits, and
    /// the database's epoch (see [`Join`]):
    /// `{"type":"hello","user":"alice","limits":{...},"epoch":"9f2c4e1a7b3d5f60"}`.
    Hello {
        user: &'a str,
        /// The session's public id: messages with this `uid` are yours.
        uid: &'a str,
        /// Whether this session is logged in to its name, claimed.
        verified: bool,
        limits: &'a Limits,
        epoch: &'a str,
        /// This identity's direct messages, the most recent first.
        dms: &'a [DmEntry],
    },
    /// The answer to `join`: `{"type":"joined","room":"Lobby","epoch":"9f2c4e1a7b3d5f60","members":["alice","bob"],"cursor":46,"history":[{...}],"changes":[],"gap":false}`.
    /// `history`: new messages (after `since`), or the recent ones; `changes`:
    /// the current state of older messages changed after `since`, in the
    /// order of their changes; `cursor`: the latest number of the room's
    /// sequence that its members have been sent (see `Room::last_told`).
    Joined {
        room: &'a str,
        /// The database's epoch, as in `hello`: the one `cursor` counts in.
        epoch: &'a str,
        members: &'a [&'a str],
        /// The members logged in to their claimed names (a check mark).
        verified: &'a [&'a str],
        cursor: u64,
        history: Vec<&'a ChatMessage>,
        changes: Vec<&'a ChatMessage>,
        gap: bool,
        /// The room's settings and roles (see [`RoomSettings`]).
        settings: &'a RoomSettings,
        /// The joiner is muted here until then (ms since the epoch).
        #[serde(skip_serializing_if = "Option::is_none")]
        muted_until: Option<u64>,
    },
    /// A chat message, to everyone in the room, the sender included:
    /// `{"type":"message","room":"Lobby","id":42,...}`.
    Message(&'a ChatMessage),
    /// A user's first connection entered the room, or their last one left:
    /// `{"type":"system","room":"Lobby","event":"join","user":"carol","ts":1764108002000,"text":"carol joined"}`.
    /// A moderation notice says who did it (`by`), to whom (`uid`), and
    /// until when (`until_ts`):
    /// `{"type":"system","room":"Lobby","event":"mute","user":"mallory","uid":"77aa00bb11cc","by":"alice","until_ts":1764108700000,"ts":1764108100000,"text":"mallory was muted by alice for 10 minutes"}`.
    System {
        room: &'a str,
        event: SystemEvent,
        user: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        uid: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        until_ts: Option<u64>,
        ts: u64,
        text: String,
    },
    /// The room's member list changed: `{"type":"presence","room":"Lobby","members":["alice","bob"],"verified":["alice"]}`.
    Presence {
        room: &'a str,
        members: &'a [&'a str],
        /// The members logged in to their claimed names (a check mark).
        verified: &'a [&'a str],
    },
    /// Someone in the room is typing: `{"type":"typing","room":"Lobby","user":"bob"}`.
    Typing { room: &'a str, user: &'a str },
    /// The answer to `history`: `{"type":"history","room":"Lobby","messages":[{...}],"more":true}`.
    History {
        room: &'a str,
        messages: &'a [ChatMessage],
        more: bool,
    },
    /// Message `id` was edited; `seq` is the change's number:
    /// `{"type":"edit","room":"Lobby","seq":43,"id":42,"text":"yes, at 7","edited_ts":1764108050000,"mentions":["bob","carol"],"new_mentions":["carol"],"client_id":"c-22"}`.
    /// `new_mentions` are the names the edit added: only they are notified.
    Edit {
        room: &'a str,
        seq: u64,
        id: u64,
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        edited_ts: Option<u64>,
        mentions: &'a [String],
        new_mentions: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// Message `id` was deleted: `{"type":"delete","room":"Lobby","seq":44,"id":42,"client_id":"c-23"}`.
    /// `by`: the moderator who deleted it, when its author did not.
    Delete {
        room: &'a str,
        seq: u64,
        id: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// Message `id`'s reactions are now these (the whole summary, not what
    /// changed, so a repeated frame changes nothing):
    /// `{"type":"reactions","room":"Lobby","seq":45,"id":41,"reactions":[{"emoji":"👍","count":1,"users":["bob"],"uids":["9b…"]}],"client_id":"c-25"}`
    /// (`client_id`: the one of the `react` that made this change).
    Reactions {
        room: &'a str,
        seq: u64,
        id: u64,
        reactions: &'a [Reaction],
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// A room's settings changed (claimed, a topic, roles, mutes, invites):
    /// `{"type":"room","room":"Lobby","settings":{...}}`, to every member.
    Room {
        room: &'a str,
        settings: &'a RoomSettings,
    },
    /// The answer to `claim`: the owner key, shown this once (the server
    /// keeps only its hash): `{"type":"claimed","room":"Lobby","owner_key":"ok_…"}`.
    Claimed { room: &'a str, owner_key: &'a str },
    /// The answer to `invite`: the link, shown this once.
    InviteCreated {
        room: &'a str,
        id: &'a str,
        code: &'a str,
        url: &'a str,
        expires_ts: u64,
        max_uses: u32,
    },
    /// The answer to `bans`.
    Bans { room: &'a str, bans: &'a [BanEntry] },
    /// The answer to `create_token`, once stored: the secret and the
    /// webhook's path, shown this once.
    TokenCreated {
        room: &'a str,
        id: &'a str,
        name: &'a str,
        scope: Scope,
        token: &'a str,
        hook_url: &'a str,
    },
    /// The answer to `tokens`: the room's live tokens, newest first.
    Tokens {
        room: &'a str,
        tokens: &'a [TokenEntry],
    },
    /// The answer to `revoke_token`, once stored.
    TokenRevoked { room: &'a str, id: &'a str },
    /// The answer to `list_rooms`: a page of the directory, and what to
    /// send as `after` for the next one (`null`: this was the last).
    /// `off`: the operator turned the directory off.
    Rooms {
        rooms: &'a [ListedRoom],
        next: Option<String>,
        #[serde(skip_serializing_if = "is_false")]
        off: bool,
    },
    /// A direct message was opened (to both people): `{"type":"dm","room":"dm:…","with":"bob","with_uid":"…"}`.
    Dm(&'a DmEntry),
    /// You were kicked or banned from a room, and are no longer in it:
    /// `{"type":"removed","room":"Lobby","event":"kick","by":"alice","text":"alice removed you from #Lobby"}`.
    Removed {
        room: &'a str,
        event: SystemEvent,
        by: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        until_ts: Option<u64>,
        text: String,
    },
    /// A refused request; the connection stays open:
    /// `{"type":"error","code":"not_joined","message":"...","room":"kitchen"}`.
    Error(&'a Rejection),
}

/// What a `system` notice announces.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum SystemEvent {
    Join,
    Leave,
    /// The room was claimed.
    Claim,
    Topic,
    /// Who may find or enter it changed (visibility, access, lock).
    Settings,
    /// Someone was made a moderator, or a member again.
    Role,
    Kick,
    Mute,
    Unmute,
    Ban,
    Unban,
    /// A moderator deleted someone's message.
    ModeratedDelete,
}

/// Stable error codes. Pages branch on these, so never rename one.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    BadRequest,
    UnknownType,
    BadField,
    BadRoom,
    EmptyText,
    TextTooLong,
    /// The text holds a control character (anything but newline and tab).
    BadText,
    BadClientId,
    NotJoined,
    NameTaken,
    TooManyRooms,
    RateLimited,
    StorageFailed,
    /// No message with that id in the room (or retention removed it).
    NotFound,
    /// Editing or deleting a message that is not yours.
    NotAuthor,
    /// Editing a message older than the edit window.
    EditWindow,
    /// Editing or reacting to a deleted message.
    Deleted,
    /// A reaction that is not an emoji.
    BadEmoji,
    /// A new emoji on a message that has `MAX_REACTIONS` already.
    TooManyReactions,
    /// `reply_to` names no message of the room, or a deleted one.
    BadReply,
    /// Only an owner of the room may do that.
    NotOwner,
    /// Your role is too low for that, or theirs is as high as yours.
    Forbidden,
    /// The room has an owner already.
    AlreadyOwned,
    /// That is not the room's owner key.
    BadKey,
    /// The room is invite-only and you are not a member: ask for a link.
    InviteRequired,
    /// The invite link expired, was used up, or was revoked.
    BadInvite,
    /// The room needs its password, and that was not it.
    BadPassword,
    /// The room is locked: only its members may come in.
    Locked,
    Banned,
    Muted,
    /// A limit on owned rooms, invites, bans or members was reached.
    LimitReached,
    /// An attachment names no upload of yours in this room, one attached
    /// already, or one the janitor deleted (never attached within the hour).
    BadAttachment,
    /// A bot token that is not one, or was revoked (HTTP 401).
    BadToken,
}

impl ErrorCode {
    /// Every code, in declaration order: `ALL[code as usize] == code`
    /// (`natter_requests_refused_total` keeps one counter per code).
    pub const ALL: [ErrorCode; 34] = [
        ErrorCode::BadJson,
        ErrorCode::BadRequest,
        ErrorCode::UnknownType,
        ErrorCode::BadField,
        ErrorCode::BadRoom,
        ErrorCode::EmptyText,
        ErrorCode::TextTooLong,
        ErrorCode::BadText,
        ErrorCode::BadClientId,
        ErrorCode::NotJoined,
        ErrorCode::NameTaken,
        ErrorCode::TooManyRooms,
        ErrorCode::RateLimited,
        ErrorCode::StorageFailed,
        ErrorCode::NotFound,
        ErrorCode::NotAuthor,
        ErrorCode::EditWindow,
        ErrorCode::Deleted,
        ErrorCode::BadEmoji,
        ErrorCode::TooManyReactions,
        ErrorCode::BadReply,
        ErrorCode::NotOwner,
        ErrorCode::Forbidden,
        ErrorCode::AlreadyOwned,
        ErrorCode::BadKey,
        ErrorCode::InviteRequired,
        ErrorCode::BadInvite,
        ErrorCode::BadPassword,
        ErrorCode::Locked,
        ErrorCode::Banned,
        ErrorCode::Muted,
        ErrorCode::LimitReached,
        ErrorCode::BadAttachment,
        ErrorCode::BadToken,
    ];

    /// The code as the wire spells it (`"rate_limited"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadField => "bad_field",
            ErrorCode::BadRoom => "bad_room",
            ErrorCode::EmptyText => "empty_text",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::BadText => "bad_text",
            ErrorCode::BadClientId => "bad_client_id",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::StorageFailed => "storage_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotAuthor => "not_author",
            ErrorCode::EditWindow => "edit_window",
            ErrorCode::Deleted => "deleted",
            ErrorCode::BadEmoji => "bad_emoji",
            ErrorCode::TooManyReactions => "too_many_reactions",
            ErrorCode::BadReply => "bad_reply",
            ErrorCode::NotOwner => "not_owner",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::AlreadyOwned => "already_owned",
            ErrorCode::BadKey => "bad_key",
            ErrorCode::InviteRequired => "invite_required",
            ErrorCode::BadInvite => "bad_invite",
            ErrorCode::BadPassword => "bad_password",
            ErrorCode::Locked => "locked",
            ErrorCode::Banned => "banned",
            ErrorCode::Muted => "muted",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::BadAttachment => "bad_attachment",
            ErrorCode::BadToken => "bad_token",
        }
    }
}

/// A refused request: the code the page branches on and a message a person
/// reads. It is the body of the `error` reply ([`Reply::Error`]), field for
/// field: `{"type":"error","code":"rate_limited","message":"slow down: you can
/// send again in 4 s","client_id":"c-18","retry_after":4}`. Fields that are
/// `None` are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// The room the request was about, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The refused message's `client_id`, so the page can mark it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// With `RateLimited`: seconds until a request would pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `Muted` and `Banned`: when it ends (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ts: Option<u64>,
}

impl Rejection {
    /// A refusal about no room or message in particular; add those with the
    /// methods below: `Rejection::new(code, msg).in_room(r).for_client(id)`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            room: None,
            client_id: None,
            retry_after: None,
            until_ts: None,
        }
    }

    /// The room the refused request was about.
    pub fn in_room(mut self, room: impl Into<String>) -> Rejection {
        self.room = Some(room.into());
        self
    }

    /// The refused message's `client_id`, when it had one.
    pub fn for_client<S: Into<String>>(mut self, client_id: Option<S>) -> Rejection {
        self.client_id = client_id.map(Into::into);
        self
    }

    /// With `RateLimited`: how many seconds until a request would pass.
    pub fn retry_after(mut self, secs: u64) -> Rejection {
        self.retry_after = Some(secs);
        self
    }

    /// With `Muted` and `Banned`: when it ends (ms), and so the seconds
    /// until then as `retry_after`.
    pub fn until(mut self, until_ms: u64, now_ms: u64) -> Rejection {
        self.until_ts = Some(until_ms);
        self.retry_after = Some(until_ms.saturating_sub(now_ms).div_ceil(1000));
        self
    }
}

/// Milliseconds since the Unix epoch, the `ts` of every message. A clock set
/// before 1970 gives 0 rather than failing.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_tells_the_page_every_text_limit() {
        let limits = serde_json::to_value(Limits::new(200, None, 0)).unwrap();
        assert_eq!(limits["max_text_chars"], 4000);
        assert_eq!(limits["max_text_bytes"], 12000);
        assert_eq!(limits["max_room_chars"], 64);
    }

    #[test]
    fn every_error_code_is_listed_in_order_and_spelled_as_on_the_wire() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn an_error_reply_is_its_rejection_with_a_type() {
        let json = |r: &Rejection| serde_json::to_string(&Reply::Error(r)).unwrap();
        let r = Rejection::new(ErrorCode::NotJoined, "send join first").in_room("kitchen");
        assert_eq!(
            json(&r),
            r#"{"type":"error","code":"not_joined","message":"send join first","room":"kitchen"}"#
        );
        let r = Rejection::new(ErrorCode::RateLimited, "slow down")
            .for_client(Some("c-18"))
            .retry_after(4);
        assert_eq!(
            json(&r),
            r#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"c-18","retry_after":4}"#
        );
        let all = Rejection::new(ErrorCode::BadText, "no")
            .in_room("r")
            .for_client(Some("c"))
            .retry_after(1);
        assert_eq!(
            json(&all),
            r#"{"type":"error","code":"bad_text","message":"no","room":"r","client_id":"c","retry_after":1}"#
        );
        // A Rust client reads the same JSON back into the same refusal.
        assert_eq!(serde_json::from_str::<Rejection>(&json(&all)).unwrap(), all);
    }

    #[test]
    fn a_message_reads_back_as_it_was_written() {
        let m = ChatMessage::new(
            "Lobby".into(),
            42,
            "alice".into(),
            "hi \"you\"".into(),
            1_764_108_001_234,
        );
        let json = serde_json::to_string(&Reply::Message(&m)).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","room":"Lobby","id":42,"user":"alice","text":"hi \"you\"","ts":1764108001234}"#
        );
        assert_eq!(serde_json::from_str::<ChatMessage>(&json).unwrap(), m);
    }
}
