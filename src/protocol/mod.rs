//! The wire: what the page and the server say to each other over the WebSocket.
//!
//! Every frame is a JSON text frame holding one object with a `type` field.
//! serde turns the tag into an enum variant, so a new message type is a new
//! variant here and a new arm in the hub. The README's protocol section shows an
//! example of each.
//!
//! This module also owns the naming rules (for display names, rooms and text)
//! and the stable error codes the hub sends back, so the web form and the
//! WebSocket apply exactly the same rules.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::config::{
    MAX_CLIENT_ID_CHARS, MAX_NAME_CHARS, MAX_ROOMS_PER_CONNECTION, MAX_ROOM_CHARS, MAX_TEXT_BYTES,
    MAX_TEXT_CHARS, MAX_WS_MESSAGE_BYTES,
};

/// What a page may ask of the server.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Enter a room; with `since`, only messages after that id are sent back.
    Join { room: String, since: Option<u64> },
    /// Leave a room.
    Leave { room: String },
    /// Post a message. `client_id` lets the page match the echo to its pending copy.
    Message {
        room: String,
        text: String,
        client_id: Option<String>,
    },
    /// "I am typing" in a room.
    Typing { room: String },
    /// Older messages: up to `limit` (capped) with ids below `before`.
    History {
        room: String,
        before: Option<u64>,
        limit: Option<usize>,
    },
}

/// A chat message as it is stored in a room's history and sent on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    pub room: Arc<str>,
    pub id: u64,
    pub user: Arc<str>,
    pub text: String,
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The limits a page needs to know, sent in `hello`.
#[derive(Debug, Serialize)]
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

/// What the server says. Borrowed fields keep encoding free of copies.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    Hello {
        user: &'a str,
        limits: &'a Limits,
    },
    Joined {
        room: &'a str,
        members: &'a [&'a str],
        history: Vec<&'a ChatMessage>,
        gap: bool,
    },
    Message(&'a ChatMessage),
    System {
        room: &'a str,
        event: SystemEvent,
        user: &'a str,
        ts: u64,
        text: String,
    },
    Presence {
        room: &'a str,
        members: &'a [&'a str],
    },
    Typing {
        room: &'a str,
        user: &'a str,
    },
    History {
        room: &'a str,
        messages: &'a [ChatMessage],
        more: bool,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
        /// With `rate_limited`: seconds until a request would pass.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum SystemEvent {
    Join,
    Leave,
}

/// Stable error codes. Pages branch on these, so never rename one.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
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

/// A refused request: the code the page branches on and a message a person reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// The room the request was about, when there was one.
    pub room: Option<String>,
    /// The refused message's `client_id`, so the page can mark it failed.
    pub client_id: Option<String>,
    /// With `RateLimited`: seconds until a request would pass.
    pub retry_after: Option<u64>,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            room: None,
            client_id: None,
            retry_after: None,
        }
    }
}

/// Parse one text frame into a request and check every field against the rules.
///
/// This runs on the connection's reader thread, not on the hub, so the work of
/// parsing is spread over all cores and the hub only sees valid requests.
pub fn parse_request(text: &str) -> Result<Request, Rejection> {
    if nesting_depth(text) > MAX_JSON_DEPTH {
        return Err(Rejection::new(
            ErrorCode::BadJson,
            format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    let request: Request = serde_json::from_str(text).map_err(|err| classify(text, err))?;
    validate(request)
}

/// How deeply a request may nest. Ours nest two levels; serde_json allows 128,
/// and parsing that deep recursion on a reader thread's small stack (in a debug
/// build) could overflow it. A linear scan refuses deep input before any parse.
const MAX_JSON_DEPTH: usize = 16;

/// The deepest nesting of `[` and `{` in `text`, ignoring brackets in strings.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The fields of each request type and whether each is required, for telling a
/// client exactly which field is wrong.
const FIELDS: &[(&str, &[(&str, FieldKind)])] = &[
    (
        "join",
        &[("room", FieldKind::Text), ("since", FieldKind::OptionalId)],
    ),
    ("leave", &[("room", FieldKind::Text)]),
    (
        "message",
        &[
            ("room", FieldKind::Text),
            ("text", FieldKind::Text),
            ("client_id", FieldKind::OptionalText),
        ],
    ),
    ("typing", &[("room", FieldKind::Text)]),
    (
        "history",
        &[
            ("room", FieldKind::Text),
            ("before", FieldKind::OptionalId),
            ("limit", FieldKind::OptionalId),
        ],
    ),
];

#[derive(Clone, Copy)]
enum FieldKind {
    Text,
    OptionalText,
    OptionalId,
}

/// Which field of a request is missing or of the wrong type, in words.
fn field_problem(kind: &str, value: &serde_json::Value) -> Option<String> {
    let (_, fields) = FIELDS.iter().find(|(k, _)| *k == kind)?;
    fields.iter().find_map(|&(name, want)| {
        let field = value.get(name).filter(|v| !v.is_null());
        let ok = match (want, field) {
            (FieldKind::Text, None) => return Some(format!("missing field \"{name}\"")),
            (FieldKind::Text | FieldKind::OptionalText, Some(v)) => v.is_string(),
            (FieldKind::OptionalId, Some(v)) => v.is_u64(),
            (_, None) => true,
        };
        let expected = match want {
            FieldKind::OptionalId => "a whole number (a message id)",
            _ => "a string",
        };
        (!ok).then(|| format!("field \"{name}\" must be {expected}"))
    })
}

/// Work out which error code a frame deserves. Only runs on the failure path, so
/// the second parse costs nothing in normal operation.
fn classify(text: &str, err: serde_json::Error) -> Rejection {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return Rejection::new(ErrorCode::BadJson, format!("invalid JSON: {err}")),
    };
    match value.get("type").map(|t| t.as_str()) {
        None | Some(None) => Rejection::new(
            ErrorCode::BadRequest,
            "expected a JSON object with a string \"type\" field",
        ),
        Some(Some(kind)) if !FIELDS.iter().any(|(k, _)| *k == kind) => Rejection::new(
            ErrorCode::UnknownType,
            format!("unknown type {kind:?}; expected join, leave, message, typing or history"),
        ),
        Some(Some(kind)) => Rejection::new(
            ErrorCode::BadField,
            field_problem(kind, &value).unwrap_or_else(|| format!("bad field: {err}")),
        ),
    }
}

fn validate(request: Request) -> Result<Request, Rejection> {
    let room_of = |room: &str| check_room(room).map_err(|r| r.with_room(room));
    Ok(match request {
        Request::Join { room, since } => Request::Join {
            room: room_of(&room)?,
            since,
        },
        Request::Leave { room } => Request::Leave {
            room: room_of(&room)?,
        },
        Request::Typing { room } => Request::Typing {
            room: room_of(&room)?,
        },
        Request::History {
            room,
            before,
            limit,
        } => Request::History {
            room: room_of(&room)?,
            before,
            limit,
        },
        Request::Message {
            room,
            text,
            client_id,
        } => {
            let room = room_of(&room)?;
            let reject = |code, message: String| {
                Rejection::new(code, message)
                    .with_room(&room)
                    .with_client_id(client_id.as_deref())
            };
            if let Some(id) = &client_id {
                let chars = id.chars().count();
                if chars == 0 || chars > MAX_CLIENT_ID_CHARS {
                    return Err(reject(
                        ErrorCode::BadClientId,
                        format!("client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters"),
                    ));
                }
            }
            // Line ends from Windows or old Macs (`\r\n`, `\r`) are newlines:
            // the one control character people press, so it is turned into
            // the line break it means rather than refused.
            let text = match text.contains('\r') {
                true => text.replace("\r\n", "\n").replace('\r', "\n"),
                false => text,
            };
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Err(reject(ErrorCode::EmptyText, "the message is empty".into()));
            }
            let chars = trimmed.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(reject(
                    ErrorCode::TextTooLong,
                    format!(
                        "the message is {chars} characters; the limit is {MAX_TEXT_CHARS} characters"
                    ),
                ));
            }
            // Characters alone do not bound the size (an emoji is 4 bytes).
            if trimmed.len() > MAX_TEXT_BYTES {
                return Err(reject(
                    ErrorCode::TextTooLong,
                    format!(
                        "the message is {} bytes of UTF-8; the limit is {MAX_TEXT_BYTES} bytes \
                         (an emoji takes 4)",
                        trimmed.len()
                    ),
                ));
            }
            // Control characters are invisible, or worse: a backspace or an
            // escape sequence rewrites what a terminal shows of an export.
            // Newline and tab are how people lay text out.
            let control = |c: char| c.is_control() && c != '\n' && c != '\t';
            if let Some(bad) = trimmed.chars().find(|&c| control(c)) {
                return Err(reject(
                    ErrorCode::BadText,
                    format!(
                        "the message contains the control character U+{:04X}; \
                         only newline and tab are allowed",
                        bad as u32
                    ),
                ));
            }
            let text = if trimmed.len() == text.len() {
                text
            } else {
                trimmed.to_string()
            };
            Request::Message {
                room,
                text,
                client_id,
            }
        }
    })
}

impl Rejection {
    fn with_room(mut self, room: &str) -> Rejection {
        self.room = Some(room.to_string());
        self
    }

    fn with_client_id(mut self, client_id: Option<&str>) -> Rejection {
        self.client_id = client_id.map(str::to_string);
        self
    }
}

// ---------------------------------------------------------------------------
// Names and rooms.
//
// A name is checked, stored and shown in its NFKC form: the Unicode
// normalisation that gives each text one spelling. "é" typed as one character
// or as "e" plus a combining accent becomes the one character, and fullwidth
// "ａｌｉｃｅ" and mathematical bold "𝐚𝐥𝐢𝐜𝐞" become plain "alice".
//
// Two names are then the same name when they *look* the same: `name_key` and
// `room_key` compare the UTS #39 "skeleton" of the lower-cased name, which maps
// every character to one representative of those it is confused with
// (Cyrillic "а" to Latin "a", "0" to "O", "rn" to "m") and drops invisible ones.

/// Tables made by `build.rs` from UTS #39's data (`unicode-security`):
/// which characters names may use, which are default-ignorable, and each
/// character's confusable prototype.
mod tables {
    include!(concat!(env!("OUT_DIR"), "/unicode_tables.rs"));
}

/// A character allowed in names and rooms, in their NFKC form: space, `_`,
/// `-`, `.`, and the letters, digits and combining marks of every script,
/// except those that UTS #39 types as invisible (`Default_Ignorable`: the
/// Hangul fillers, U+034F, variation selectors), not identifier characters
/// (`Not_XID`) or deprecated. The rule, and why UTS #39's stricter "Allowed"
/// status is not it (it refuses Cherokee, N'Ko, Mongolian...), is in
/// `build.rs`, which makes the table.
fn allowed_char(c: char) -> bool {
    in_ranges(tables::ALLOWED, c)
}

/// Whether `c` is in one of `ranges` (inclusive, in order).
fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// A character a person cannot see, or cannot tell from a space: the message
/// that refuses it names it by its code rather than showing it.
fn invisible(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || in_ranges(tables::DEFAULT_IGNORABLE, c)
        // BRAILLE PATTERN BLANK: a symbol, drawn as nothing.
        || c == '\u{2800}'
}

/// Check a display name or room name and return its NFKC form, trimmed, or
/// say what is wrong. `what` is "name" or "room name", for the message.
fn check_label(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let raw = raw.trim();
    let label: String = raw.nfkc().collect();
    // NFKC can make spaces (U+3000 IDEOGRAPHIC SPACE is one), so trim again.
    let label = label.trim();
    let chars = label.chars().count();
    if chars == 0 {
        return Err(format!("Please enter a {what}."));
    }
    if chars > max {
        return Err(format!(
            "That {what} is {chars} characters long; the limit is {max}."
        ));
    }
    if let Some(bad) = label.chars().find(|&c| !allowed_char(c)) {
        // Name the character that was typed, not its normal form: a Hangul
        // filler typed as U+3164 is U+1160 after NFKC.
        let typed = raw
            .chars()
            .find(|&c| c.to_string().nfkc().any(|n| !allowed_char(n)))
            .unwrap_or(bad);
        return Err(if invisible(typed) {
            format!(
                "A {what} cannot contain invisible characters (found U+{:04X}).",
                typed as u32
            )
        } else {
            format!(
                "A {what} may only use letters, digits, spaces, \"_\", \"-\" and \".\" \
                 (found \"{typed}\")."
            )
        });
    }
    if label.starts_with(is_combining_mark) {
        return Err(format!("A {what} cannot start with a combining mark."));
    }
    Ok(label.to_string())
}

/// The display-name rule: 1–24 allowed characters after trimming, in NFKC
/// form. The name returned is the one to store and show.
pub fn check_name(raw: &str) -> Result<String, String> {
    check_label(raw, "name", MAX_NAME_CHARS)
}

/// The room-name rule: 1–64 allowed characters after trimming, in NFKC form,
/// and not only dots and spaces.
pub fn check_room(raw: &str) -> Result<String, Rejection> {
    let room = check_label(raw, "room name", MAX_ROOM_CHARS)
        .map_err(|message| Rejection::new(ErrorCode::BadRoom, message))?;
    // A browser reads "." and ".." in an address as "this folder" and "the
    // folder above" (typed as %2E%2E too), so /r/.. is the site's root: such
    // a room could be joined over the WebSocket but never opened in a page.
    if room.chars().all(|c| c == '.' || c == ' ') {
        return Err(Rejection::new(
            ErrorCode::BadRoom,
            "A room name needs a letter or digit: one made only of dots cannot be opened \
             in a browser.",
        ));
    }
    Ok(room)
}

/// The key a room is found by, in memory and in the database (`rooms.key`,
/// `messages.room`): rooms whose names look alike are one room, so "Lobby",
/// "lobby" and "Lоbby" with a Cyrillic "о" are all #Lobby, and so are "café"
/// written with "é" and with "e" + a combining accent. The first spelling is
/// kept for display. See [`name_key`] for what the key is and costs.
///
/// The key depends on the confusables table of `unicode-security`, whose
/// version Cargo.toml pins: a new table can change stored keys, and so needs a
/// schema migration that re-keys the rooms (`storage.rs` has one).
pub fn room_key(room: &str) -> String {
    look_alike_key(room)
}

/// The key two display names are compared by: names in one room must differ
/// by this key, so that nobody can sit next to "alice" as "аlice" (Cyrillic
/// "а"), "ａｌｉｃｅ" or "ALICE".
///
/// It is the UTS #39 skeleton of the lower-cased NFKC name. Lower case first
/// makes case not matter; but a skeleton maps some characters to a capital
/// ("0" and "O" both become "O", while "o" stays "o"), so a key with capitals
/// in it is lower-cased and skeletonised once more, and "B0B" meets "bob".
/// One limit follows from ignoring case: "aIice" with a capital I is read as
/// "aiice", not as the "alice" it looks like in many fonts.
///
/// A key costs about 50 ns for an ASCII name (a table lookup per character)
/// and 1.5–8 µs for others (normalisation and the skeleton's table searches,
/// in a release build). Compute it once per name, at login or join, and keep
/// it, rather than once per comparison.
pub fn name_key(name: &str) -> String {
    look_alike_key(name)
}

fn look_alike_key(text: &str) -> String {
    ascii_key(text).unwrap_or_else(|| skeleton_key(text))
}

/// The key, computed the long way: see [`name_key`].
fn skeleton_key(text: &str) -> String {
    let folded = text.nfkc().collect::<String>().to_lowercase();
    let key = skeleton(&folded);
    let lower = key.to_lowercase();
    if lower == key {
        key
    } else {
        skeleton(&lower)
    }
}

/// The UTS #39 skeleton of a text: its NFD form with each character replaced
/// by its confusable prototype and default-ignorable ones dropped, in NFD
/// form again. This is `unicode_security::skeleton` on natter's compact
/// tables; a test checks the two agree on every character.
fn skeleton(text: &str) -> String {
    let mut mapped = String::with_capacity(text.len());
    for c in text.nfd() {
        if in_ranges(tables::DEFAULT_IGNORABLE, c) {
            continue;
        }
        match prototype(c) {
            Some(prototype) => mapped.push_str(prototype),
            None => mapped.push(c),
        }
    }
    mapped.nfd().collect()
}

/// The confusable prototype of `c`, when it is not `c` itself.
fn prototype(c: char) -> Option<&'static str> {
    let at = tables::CONFUSABLES
        .binary_search_by_key(&c, |&(from, _)| from)
        .ok()?;
    let packed = tables::CONFUSABLES[at].1 as usize;
    tables::PROTOTYPES.get(packed >> 8..(packed >> 8) + (packed & 0xFF))
}

/// The key of an ASCII text, one character at a time from a table: ASCII is
/// what most names and rooms are, and this is some fifty times quicker than
/// [`skeleton_key`]. It gives the same key: NFKC and NFD leave ASCII as it is,
/// and lower-casing and the skeleton map each character on its own, so for a
/// character whose key is ASCII (all but `%`) the key of a text is the keys
/// of its characters in a row. The table is made from `skeleton_key` itself,
/// so it cannot disagree with the confusables data; a test checks the rest.
fn ascii_key(text: &str) -> Option<String> {
    static TABLE: OnceLock<Vec<Option<String>>> = OnceLock::new();
    if !text.is_ascii() {
        return None;
    }
    let table = TABLE.get_or_init(|| {
        (0..128u8)
            .map(|b| Some(skeleton_key(&char::from(b).to_string())).filter(|k| k.is_ascii()))
            .collect()
    });
    let mut key = String::with_capacity(text.len() + 4);
    for b in text.bytes() {
        key.push_str(table[usize::from(b)].as_deref()?);
    }
    Some(key)
}

/// Milliseconds since the Unix epoch, the `ts` of every message.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The size of a message once encoded as JSON, without encoding it: its
/// strings with their escapes, plus the fields around them (an upper bound
/// of those, so a budget built on this is never exceeded). The hub uses it to
/// keep answers that carry many messages within a byte budget.
pub fn encoded_len(m: &ChatMessage) -> usize {
    /// `{"type":"message","room":"","id":,"user":"","text":"","ts":,"client_id":""}`
    /// with two 20-digit numbers.
    const FRAME: usize = 120;
    FRAME
        + json_string_len(&m.room)
        + json_string_len(&m.user)
        + json_string_len(&m.text)
        + m.client_id.as_deref().map_or(0, json_string_len)
}

/// Bytes of `text` inside a JSON string: control characters become `\uXXXX`
/// (or a two-byte escape), `"` and `\` get a backslash, the rest is UTF-8.
fn json_string_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\t' | b'\r' | 0x08 | 0x0C => 2,
            0..=0x1F => 6,
            _ => 1,
        })
        .sum()
}

// ---------------------------------------------------------------------------
// Frames. The hub encodes each outgoing event once, into the bytes of a complete
// WebSocket frame, and shares those bytes among every recipient.

/// Serialise a reply to JSON and wrap it in a text frame.
pub fn encode(reply: &Reply) -> Arc<[u8]> {
    let json = serde_json::to_vec(reply).expect("replies are plain data and always serialise");
    frame_bytes(Frame::message(json, OpCode::Data(Data::Text), true))
}

/// A data frame carrying `payload` as it is, text or binary (echo mode).
pub fn data_frame(payload: Vec<u8>, binary: bool) -> Arc<[u8]> {
    let kind = if binary { Data::Binary } else { Data::Text };
    frame_bytes(Frame::message(payload, OpCode::Data(kind), true))
}

/// A close frame with a code and a reason (the reason must stay under 123 bytes).
pub fn close_frame(code: u16, reason: &str) -> Arc<[u8]> {
    frame_bytes(Frame::close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    })))
}

/// An empty ping frame, shared by every connection at each ping tick.
pub fn ping_frame() -> Arc<[u8]> {
    frame_bytes(Frame::ping(Vec::new()))
}

fn frame_bytes(frame: Frame) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(frame.len());
    frame
        .format(&mut out)
        .expect("writing a frame into a Vec cannot fail");
    out.into()
}

/// Close codes natter sends (RFC 6455 section 7.4.1).
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary frame: natter speaks JSON text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy: slow consumer, or the session ended.
    pub const POLICY: u16 = 1008;
    /// A frame or message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed.
    pub const INTERNAL_ERROR: u16 = 1011;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(check_name("  alice ").unwrap(), "alice");
        assert!(
            check_name("Zoë_O'Neil").is_err(),
            "apostrophe is not allowed"
        );
        assert!(check_name("José-María.").is_ok());
        assert!(check_name("प्रिया").is_ok(), "Devanagari with vowel signs");
        assert!(check_name("李小龙").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("   ").is_err());
        assert!(check_name(&"a".repeat(24)).is_ok());
        assert!(check_name(&"a".repeat(25)).is_err());
        assert!(check_name("a\u{200B}b").is_err(), "zero-width space");
        assert!(check_name("a\u{202E}b").is_err(), "bidi override");
        assert!(check_name("a\tb").is_err());
        assert!(check_name("<script>").is_err());
    }

    #[test]
    fn names_are_kept_in_their_nfkc_form() {
        assert_eq!(
            check_name("Jose\u{301}").unwrap(),
            "José",
            "e + combining acute"
        );
        assert_eq!(check_name("ａｌｉｃｅ").unwrap(), "alice", "fullwidth");
        assert_eq!(check_name("𝐚𝐥𝐢𝐜𝐞").unwrap(), "alice", "mathematical bold");
        assert_eq!(
            check_name("\u{3000}bob\u{3000}").unwrap(),
            "bob",
            "ideographic spaces"
        );
        assert_eq!(check_room("cafe\u{301}").unwrap(), "café");
    }

    #[test]
    fn every_script_is_welcome() {
        for name in [
            "José-María",
            "प्रिया", // Devanagari, with a virama and vowel signs
            "李小龙",
            "محمد",         // Arabic
            "สมชาย",        // Thai, with vowel marks
            "דוד",          // Hebrew
            "Дмитрий",      // Cyrillic
            "Αλέξανδρος",   // Greek
            "김민준",       // Hangul syllables
            "か\u{3099}く", // が written with a combining voicing mark
            "தமிழ்",         // Tamil
            "ᏣᎳᎩ",          // Cherokee (a UTS #39 "Limited_Use" script)
            "ᠮᠣᠩᠭᠣᠯ",       // Mongolian ("Exclusion" in UTS #39)
            "ߒߞߏ",          // N'Ko
            "ǃXóõ",         // a click letter
            "user_42.x",
            "٤٢", // Arabic-Indic digits
        ] {
            // Kept as typed, only composed: か + ◌゙ is stored as が.
            let composed: String = name.nfc().collect();
            assert_eq!(check_name(name), Ok(composed), "{name} is a name");
        }
        assert!(check_room("Book Club 2").is_ok());
    }

    #[test]
    fn invisible_and_filler_characters_are_refused_by_their_code() {
        for (c, code) in [
            ('\u{3164}', "U+3164"), // HANGUL FILLER
            ('\u{115F}', "U+115F"), // HANGUL CHOSEONG FILLER
            ('\u{1160}', "U+1160"), // HANGUL JUNGSEONG FILLER
            ('\u{FFA0}', "U+FFA0"), // HALFWIDTH HANGUL FILLER
            ('\u{034F}', "U+034F"), // COMBINING GRAPHEME JOINER
            ('\u{200B}', "U+200B"), // ZERO WIDTH SPACE
            ('\u{200D}', "U+200D"), // ZERO WIDTH JOINER
            ('\u{FE0F}', "U+FE0F"), // VARIATION SELECTOR-16
            ('\u{2800}', "U+2800"), // BRAILLE PATTERN BLANK
            ('\u{00AD}', "U+00AD"), // SOFT HYPHEN
        ] {
            let message = check_name(&format!("al{c}ice")).unwrap_err();
            assert!(message.contains(code), "{code}: {message}");
            assert!(message.contains("invisible"), "{code}: {message}");
            assert!(
                check_room(&format!("lob{c}by")).is_err(),
                "{code} in a room"
            );
        }
        // A name that is nothing but fillers looks blank.
        for blank in [
            "\u{3164}",
            "\u{3164}\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
        ] {
            assert!(check_name(blank).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn rooms_of_only_dots_are_refused() {
        for room in [".", "..", "...", ". .", " .. ", "．．"] {
            let rejection = check_room(room).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::BadRoom);
            assert!(
                rejection.message.contains("dots"),
                "{room:?}: {rejection:?}"
            );
        }
        for room in ["a.b", ".net", "..a", "v1.2", "-", "_"] {
            assert!(check_room(room).is_ok(), "{room:?}");
        }
    }

    #[test]
    fn look_alike_names_share_a_key() {
        let same = |a: &str, b: &str| {
            let (a, b) = (check_name(a).unwrap(), check_name(b).unwrap());
            assert_eq!(name_key(&a), name_key(&b), "{a:?} and {b:?}");
        };
        same("alice", "Alice");
        same("alice", "ALICE");
        same("alice", "\u{430}lice"); // Cyrillic а
        same("alice", "ａｌｉｃｅ");
        same("alice", "𝐚𝐥𝐢𝐜𝐞");
        same("alice", "a1ice");
        same("José", "Jose\u{301}");
        same("bob", "B0B");
        same("room", "r00m");
        same("Kim", "Kirn");
        let differ = |a: &str, b: &str| assert_ne!(name_key(a), name_key(b), "{a:?} and {b:?}");
        differ("alice", "alicia");
        differ("José", "Jose");
        differ("bob", "rob");
        differ("李小龙", "李小");
        differ("a b", "ab");
    }

    #[test]
    fn look_alike_rooms_are_one_room() {
        let key = |room: &str| room_key(&check_room(room).unwrap());
        assert_eq!(key("café"), key("cafe\u{301}"));
        assert_eq!(key("Lobby"), key("lobby"));
        assert_eq!(key("Lobby"), key("L\u{43E}bby")); // Cyrillic о
        assert_eq!(key("Lobby"), key("Ｌｏｂｂｙ"));
        assert_ne!(key("Lobby"), key("Lobby 2"));
    }

    #[test]
    fn the_tables_agree_with_unicode_security_on_every_character() {
        use unicode_security::general_security_profile::IdentifierType::*;
        use unicode_security::GeneralSecurityProfile;
        // The rule of build.rs, again, as the reference for the table.
        let allowed = |c: char| match c {
            ' ' | '_' | '-' | '.' => true,
            _ if c.is_alphanumeric() || is_combining_mark(c) => !matches!(
                c.identifier_type(),
                None | Some(Default_Ignorable | Not_XID | Not_NFKC | Deprecated | Not_Character)
            ),
            _ => false,
        };
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(allowed_char(c), allowed(c), "U+{:04X}", c as u32);
            let alone = c.to_string();
            let reference: String = unicode_security::skeleton(&alone).collect();
            assert_eq!(skeleton(&alone), reference, "U+{:04X}", c as u32);
        }
        // Texts, where NFD reorders and composes across characters.
        for text in [
            "Jose\u{301}",
            "e\u{323}\u{302}",
            "L\u{43E}bby",
            "a\u{34F}b",
            "ǅ𝐀ℌ",
            "가\u{11A8}",
        ] {
            let reference: String = unicode_security::skeleton(text).collect();
            assert_eq!(skeleton(text), reference, "{text:?}");
        }
    }

    #[test]
    fn the_ascii_shortcut_gives_the_full_key() {
        // Every ASCII character and pair of characters, and some names.
        let mut texts: Vec<String> = (0..128u8).map(|b| char::from(b).to_string()).collect();
        for a in 0..128u8 {
            for b in 0..128u8 {
                texts.push([char::from(a), char::from(b)].iter().collect());
            }
        }
        texts.extend(["Book Club", "B0B", "commons", "a-b_c.d 9"].map(String::from));
        for text in texts {
            assert_eq!(look_alike_key(&text), skeleton_key(&text), "{text:?}");
        }
        assert!(
            ascii_key("Lobby").is_some(),
            "ASCII names take the shortcut"
        );
    }

    #[test]
    fn text_with_control_characters_is_bad_text() {
        let message = |text: &str| {
            json_message(text).map(|r| match r {
                Request::Message { text, .. } => text,
                other => panic!("{other:?}"),
            })
        };
        for c in [
            '\u{0}', '\u{7}', '\u{8}', '\u{1B}', '\u{7F}', '\u{85}', '\u{9B}',
        ] {
            let rejection = message(&format!("a{c}b")).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::BadText, "U+{:04X}", c as u32);
            let code = format!("U+{:04X}", c as u32);
            assert!(rejection.message.contains(&code), "{rejection:?}");
        }
        assert_eq!(
            message("line 1\nline 2\tcell").unwrap(),
            "line 1\nline 2\tcell"
        );
        assert_eq!(
            message("a\r\nb\rc").unwrap(),
            "a\nb\nc",
            "line ends become newlines"
        );
    }

    #[test]
    fn text_is_limited_in_bytes_as_well_as_characters() {
        let outcome = |text: String| json_message(&text).map(|_| ()).map_err(|r| r.message);
        // Any script fits up to the character limit: 3 bytes at most each.
        assert_eq!(outcome("李".repeat(MAX_TEXT_CHARS)), Ok(()));
        assert_eq!(outcome("प".repeat(MAX_TEXT_CHARS)), Ok(()));
        // Emoji are 4 bytes: 3000 fit in 12,000 bytes, 3001 do not.
        assert_eq!(outcome("👋".repeat(3000)), Ok(()));
        let message = outcome("👋".repeat(3001)).unwrap_err();
        assert!(message.contains("12004 bytes"), "{message}");
        assert!(message.contains("limit is 12000 bytes"), "{message}");
        let message = outcome("x".repeat(MAX_TEXT_CHARS + 1)).unwrap_err();
        assert!(message.contains("limit is 4000 characters"), "{message}");
    }

    #[test]
    fn hello_tells_the_page_every_text_limit() {
        let limits = serde_json::to_value(Limits::new(200)).unwrap();
        assert_eq!(limits["max_text_chars"], 4000);
        assert_eq!(limits["max_text_bytes"], 12000);
        assert_eq!(limits["max_room_chars"], 64);
    }

    /// Parse a `message` request for room "a" with this text.
    fn json_message(text: &str) -> Result<Request, Rejection> {
        let frame = serde_json::json!({"type": "message", "room": "a", "text": text});
        parse_request(&frame.to_string())
    }

    #[test]
    fn each_malformed_frame_gets_its_code() {
        let code = |text: &str| parse_request(text).unwrap_err().code;
        assert_eq!(code("{not json"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"join"}"#), ErrorCode::BadField);
        assert_eq!(code(r#"{"type":"join","room":""}"#), ErrorCode::BadRoom);
        assert_eq!(
            code(r#"{"type":"message","room":"a","text":" "}"#),
            ErrorCode::EmptyText
        );
        let long = format!(
            r#"{{"type":"message","room":"a","text":"{}"}}"#,
            "x".repeat(4001)
        );
        assert_eq!(code(&long), ErrorCode::TextTooLong);
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!(r#"{{"type":"join","room":{}"#, "[".repeat(100_000));
        assert_eq!(parse_request(&deep).unwrap_err().code, ErrorCode::BadJson);
        let in_string = format!(r#"{{"type":"join","room":"{}"}}"#, "[".repeat(60));
        assert_eq!(
            parse_request(&in_string).unwrap_err().code,
            ErrorCode::BadRoom
        );
    }

    #[test]
    fn a_wrong_field_is_named() {
        let message = |text: &str| parse_request(text).unwrap_err().message;
        assert!(message(r#"{"type":"message","room":"a","text":5}"#).contains("\"text\""));
        assert!(message(r#"{"type":"join"}"#).contains("\"room\""));
        assert!(message(r#"{"type":"join","room":"a","since":"4"}"#).contains("\"since\""));
    }

    #[test]
    fn text_is_trimmed_but_otherwise_exact() {
        let request = parse_request(r#"{"type":"message","room":"a","text":"  hi 👋🏽\n"}"#);
        assert_eq!(
            request.unwrap(),
            Request::Message {
                room: "a".into(),
                text: "hi 👋🏽".into(),
                client_id: None
            }
        );
    }

    #[test]
    fn the_encoded_length_is_never_less_than_the_real_one() {
        for text in [
            "hi",
            "say \"hi\"\n\ttab \\ ok",
            "\u{1}\u{7f}\u{1f}",
            "😀 José प्रिया",
        ] {
            let m = ChatMessage {
                room: "Lobby".into(),
                id: u64::MAX,
                user: "alice".into(),
                text: text.to_string(),
                ts: u64::MAX,
                client_id: Some("c\"1".into()),
            };
            let real = serde_json::to_vec(&Reply::Message(&m)).unwrap().len();
            let estimate = encoded_len(&m);
            assert!(
                estimate >= real && estimate <= real + 64,
                "{text:?}: {estimate} vs {real}"
            );
        }
    }

    #[test]
    fn frames_are_complete_websocket_frames() {
        let bytes = close_frame(close::POLICY, "slow consumer");
        assert_eq!(bytes[0], 0x88, "FIN + close opcode");
        assert_eq!(bytes[1] as usize, 2 + "slow consumer".len());
        assert_eq!(&bytes[2..4], &1008u16.to_be_bytes());
    }
}
