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

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};

use crate::config::{
    MAX_CLIENT_ID_CHARS, MAX_NAME_CHARS, MAX_ROOMS_PER_CONNECTION, MAX_ROOM_CHARS, MAX_TEXT_CHARS,
    MAX_WS_MESSAGE_BYTES,
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
    pub max_message_bytes: usize,
    pub max_rooms: usize,
    pub history: usize,
}

impl Limits {
    pub fn new(history: usize) -> Limits {
        Limits {
            max_text_chars: MAX_TEXT_CHARS,
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
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Err(reject(ErrorCode::EmptyText, "the message is empty".into()));
            }
            let chars = trimmed.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(reject(
                    ErrorCode::TextTooLong,
                    format!("the message is {chars} characters; the limit is {MAX_TEXT_CHARS}"),
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

/// A character allowed in names and rooms: a letter or digit of any script, a
/// combining mark that belongs to one (é written as e + ◌́, Devanagari vowel
/// signs), space, `_`, `-` and `.`. Control, format and invisible characters
/// (zero-width joiners, bidi overrides) are refused, so two names that look the
/// same are spelled the same.
fn allowed_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.') || is_combining_mark(c)
}

/// Combining marks of the common blocks. The standard library has no general
/// category lookup; these ranges cover Latin diacritics and the Indic, Thai and
/// Arabic vowel signs that real names need.
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F       // combining diacritical marks
        | 0x0483..=0x0489     // Cyrillic
        | 0x0591..=0x05BD     // Hebrew points
        | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670 // Arabic
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963 // Devanagari
        | 0x0981..=0x0983 | 0x09BC..=0x09D7 // Bengali
        | 0x0A01..=0x0A03 | 0x0A3C..=0x0A51 // Gurmukhi
        | 0x0A81..=0x0A83 | 0x0ABC..=0x0ACD // Gujarati
        | 0x0B01..=0x0B03 | 0x0B3C..=0x0B57 // Oriya
        | 0x0B82 | 0x0BBE..=0x0BCD          // Tamil
        | 0x0C00..=0x0C04 | 0x0C3E..=0x0C56 // Telugu
        | 0x0C81..=0x0C83 | 0x0CBC..=0x0CD6 // Kannada
        | 0x0D00..=0x0D03 | 0x0D3B..=0x0D4D | 0x0D57 // Malayalam
        | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E // Thai
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF // more diacritics
        | 0x3099..=0x309A     // kana voicing marks
    )
}

/// Check a display name or room name and return it trimmed, or say what is wrong.
/// `what` is "name" or "room name", used in the message a person reads.
fn check_label(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let label = raw.trim();
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
        // Show a visible character as itself, an invisible one by its code.
        let invisible = bad.is_control()
            || bad.is_whitespace()
            || matches!(bad as u32, 0xAD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF);
        let shown = if invisible {
            format!("U+{:04X}", bad as u32)
        } else {
            format!("\"{bad}\"")
        };
        return Err(format!(
            "A {what} may only use letters, digits, spaces, \"_\", \"-\" and \".\" (found {shown})."
        ));
    }
    if label.starts_with(|c: char| is_combining_mark(c)) {
        return Err(format!("A {what} cannot start with a combining mark."));
    }
    Ok(label.to_string())
}

/// The display-name rule: 1–24 allowed characters after trimming.
pub fn check_name(raw: &str) -> Result<String, String> {
    check_label(raw, "name", MAX_NAME_CHARS)
}

/// The room-name rule: 1–64 allowed characters after trimming.
pub fn check_room(raw: &str) -> Result<String, Rejection> {
    check_label(raw, "room name", MAX_ROOM_CHARS)
        .map_err(|message| Rejection::new(ErrorCode::BadRoom, message))
}

/// The key a room is found by: rooms match case-insensitively, so "Lobby" and
/// "lobby" are one room. The first spelling is kept for display.
pub fn room_key(room: &str) -> String {
    room.to_lowercase()
}

/// The key two display names are compared by: names in one room must differ
/// by this key, so that look-alikes cannot sit side by side.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
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
