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

use crate::config::{
    MAX_ROOMS_PER_CONNECTION, MAX_ROOM_CHARS, MAX_TEXT_BYTES, MAX_TEXT_CHARS, MAX_WS_MESSAGE_BYTES,
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
}

/// Leave a room: `{"type":"leave","room":"lobby"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leave {
    pub room: String,
}

/// Post a message. `client_id` is the page's own id for it, echoed back so
/// the page can match the echo to its pending copy, and never posted twice:
/// `{"type":"message","room":"lobby","text":"hi","client_id":"c-1"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub room: String,
    pub text: String,
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

/// A chat message as it is stored in a room's history and sent on the wire:
/// `{"room":"lobby","id":42,"user":"alice","text":"hi","ts":1764108001234,"client_id":"c-1"}`
/// (with `"type":"message"` first when it travels alone, see [`Reply::Message`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The room's name as first spelled (not the key it is found by).
    pub room: Arc<str>,
    /// Increases by one per message within a room.
    pub id: u64,
    pub user: Arc<str>,
    pub text: String,
    /// Milliseconds since the Unix epoch ([`now_millis`]).
    pub ts: u64,
    /// The sender's own id for the message, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
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
}

impl Limits {
    pub fn new(history: usize) -> Limits {
        Limits {
            max_text_chars: MAX_TEXT_CHARS,
            max_text_bytes: MAX_TEXT_BYTES,
            max_room_chars: MAX_ROOM_CHARS,
            max_message_bytes: MAX_WS_MESSAGE_BYTES,
            max_rooms: MAX_ROOMS_PER_CONNECTION,
            history,
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
        limits: &'a Limits,
        epoch: &'a str,
    },
    /// The answer to `join`: `{"type":"joined","room":"Lobby","members":["alice","bob"],"history":[{...}],"gap":false}`.
    Joined {
        room: &'a str,
        members: &'a [&'a str],
        history: Vec<&'a ChatMessage>,
        gap: bool,
    },
    /// A chat message, to everyone in the room, the sender included:
    /// `{"type":"message","room":"Lobby","id":42,...}`.
    Message(&'a ChatMessage),
    /// A user's first connection entered the room, or their last one left:
    /// `{"type":"system","room":"Lobby","event":"join","user":"carol","ts":1764108002000,"text":"carol joined"}`.
    System {
        room: &'a str,
        event: SystemEvent,
        user: &'a str,
        ts: u64,
        text: String,
    },
    /// The room's member list changed: `{"type":"presence","room":"Lobby","members":["alice","bob"]}`.
    Presence {
        room: &'a str,
        members: &'a [&'a str],
    },
    /// Someone in the room is typing: `{"type":"typing","room":"Lobby","user":"bob"}`.
    Typing { room: &'a str, user: &'a str },
    /// The answer to `history`: `{"type":"history","room":"Lobby","messages":[{...}],"more":true}`.
    History {
        room: &'a str,
        messages: &'a [ChatMessage],
        more: bool,
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
        let limits = serde_json::to_value(Limits::new(200)).unwrap();
        assert_eq!(limits["max_text_chars"], 4000);
        assert_eq!(limits["max_text_bytes"], 12000);
        assert_eq!(limits["max_room_chars"], 64);
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
        let m = ChatMessage {
            room: "Lobby".into(),
            id: 42,
            user: "alice".into(),
            text: "hi \"you\"".into(),
            ts: 1_764_108_001_234,
            client_id: None,
        };
        let json = serde_json::to_string(&Reply::Message(&m)).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","room":"Lobby","id":42,"user":"alice","text":"hi \"you\"","ts":1764108001234}"#
        );
        assert_eq!(serde_json::from_str::<ChatMessage>(&json).unwrap(), m);
    }
}
