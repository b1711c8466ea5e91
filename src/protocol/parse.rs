//! From a text frame to a [`Request`] the hub can trust, or a [`Rejection`]
//! that says what is wrong with it.
//!
//! This runs on the connection's reader thread, not on the hub, so the work of
//! parsing is spread over all cores and the hub only sees valid requests.
//! serde does the parsing; what is here is what serde cannot know: how deep
//! a frame may nest, which error code a refused frame earns, and the rules for
//! each field's contents (rooms, text, `client_id`).

use super::names::{check_name, check_room, name_key};
use super::refusal::{classify, nesting_depth};
use super::rooms::{
    Auth, Bans, Claim, CreateToken, Invite, ListRooms, ListTokens, Moderate, OpenDm, RevokeInvite,
    RevokeToken, SetRole, SetRoom,
};
use super::wire::{
    Delete, Edit, ErrorCode, History, Join, Leave, Post, React, Rejection, Request, Typing,
};
use crate::config::{
    MAX_ATTACHMENTS, MAX_CLIENT_ID_CHARS, MAX_EMOJI_BYTES, MAX_INVITE_AGE, MAX_INVITE_USES,
    MAX_JSON_DEPTH, MAX_MENTIONS, MAX_REASON_CHARS, MAX_TEXT_BYTES, MAX_TEXT_CHARS,
    MAX_TOPIC_CHARS, ROOM_PASSWORD_MAX_BYTES, ROOM_PASSWORD_MIN_CHARS,
};

/// Parse one text frame into a request and check every field against the rules.
pub fn parse_request(text: &str) -> Result<Request, Rejection> {
    if nesting_depth(text) > MAX_JSON_DEPTH {
        return Err(Rejection::new(
            ErrorCode::BadJson,
            format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    let request: Request = serde_json::from_str(text).map_err(|err| classify(text, &err))?;
    validate(request)
}

/// Check every field against the rules, and put each in the form it is kept
/// in. Fields with no rules of their own (`since`, `before`, `limit`) are
/// left as serde made them: `..` lets a new one pass through untouched.
fn validate(mut request: Request) -> Result<Request, Rejection> {
    match &mut request {
        Request::Message(Post {
            room,
            text,
            client_id,
            mentions,
            attachments: Some(ids),
            ..
        }) if !ids.is_empty() => {
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
            if let Some(id) = client_id.as_deref() {
                check_client_id(id).map_err(about)?;
            }
            check_attachments(ids).map_err(about)?;
            // With files attached, a message may say nothing.
            *text = match text.trim().is_empty() {
                true => String::new(),
                false => check_text(std::mem::take(text)).map_err(about)?,
            };
            if let Some(names) = mentions {
                *names = mentioned(text, std::mem::take(names));
            }
        }
        Request::Message(Post {
            room,
            text,
            client_id,
            mentions,
            ..
        })
        | Request::Edit(Edit {
            room,
            text,
            client_id,
            mentions,
            ..
        }) => {
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
            if let Some(id) = client_id.as_deref() {
                check_client_id(id).map_err(about)?;
            }
            *text = check_text(std::mem::take(text)).map_err(about)?;
            if let Some(names) = mentions {
                *names = mentioned(text, std::mem::take(names));
            }
        }
        Request::Delete(Delete {
            room, client_id, ..
        }) => {
            *room = room_rule(room)?;
            if let Some(id) = client_id.as_deref() {
                check_client_id(id).map_err(|r| r.in_room(room.as_str()).for_client(Some(id)))?;
            }
        }
        Request::React(React {
            room,
            emoji,
            client_id,
            ..
        }) => {
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
            if let Some(id) = client_id.as_deref() {
                check_client_id(id).map_err(about)?;
            }
            check_emoji(emoji).map_err(about)?;
        }
        Request::Join(Join {
            room,
            invite,
            password,
            ..
        }) => {
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str());
            if let Some(code) = invite {
                check_secret(code, "invite").map_err(about)?;
            }
            if let Some(password) = password {
                check_room_password(password).map_err(about)?;
            }
        }
        Request::Leave(Leave { room, .. })
        | Request::Typing(Typing { room, .. })
        | Request::History(History { room, .. })
        | Request::Claim(Claim { room })
        | Request::Bans(Bans { room })
        | Request::Invite(Invite { room, .. })
        | Request::RevokeInvite(RevokeInvite { room, .. })
        | Request::Tokens(ListTokens { room })
        | Request::RevokeToken(RevokeToken { room, .. }) => *room = room_rule(room)?,
        Request::CreateToken(CreateToken { room, name, .. }) => {
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str());
            *name =
                check_name(name).map_err(|why| about(Rejection::new(ErrorCode::BadField, why)))?;
        }
        Request::Auth(Auth { room, key }) => {
            *room = room_rule(room)?;
            check_secret(key, "key").map_err(|r| r.in_room(room.as_str()))?;
        }
        Request::SetRoom(SetRoom {
            room,
            topic,
            password,
            ..
        }) => {
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str());
            if let Some(topic) = topic {
                *topic = check_line(topic, "topic", MAX_TOPIC_CHARS).map_err(about)?;
            }
            if let Some(password) = password {
                check_room_password(password).map_err(about)?;
            }
        }
        Request::SetRole(SetRole {
            room, user, uid, ..
        }) => {
            *room = room_rule(room)?;
            check_target(user, uid).map_err(|r| r.in_room(room.as_str()))?;
        }
        Request::Kick(m)
        | Request::Mute(m)
        | Request::Unmute(m)
        | Request::Ban(m)
        | Request::Unban(m) => {
            let Moderate {
                room,
                user,
                uid,
                reason,
                minutes,
                ..
            } = m;
            *room = room_rule(room)?;
            let about = |r: Rejection| r.in_room(room.as_str());
            check_target(user, uid).map_err(about)?;
            if let Some(reason) = reason {
                *reason = check_line(reason, "reason", MAX_REASON_CHARS).map_err(about)?;
            }
            if *minutes == Some(0) {
                return Err(about(bad_field("\"minutes\" must be 1 or more")));
            }
        }
        Request::ListRooms(ListRooms { after }) => {
            if after.as_ref().is_some_and(|a| a.parse::<u32>().is_err()) {
                return Err(bad_field(
                    "\"after\" must be the \"next\" of the page before",
                ));
            }
        }
        Request::Dm(OpenDm { room, user, uid }) => {
            check_target(user, uid)?;
            match (room.as_mut(), user.is_some()) {
                (Some(room), _) => *room = room_rule(room)?,
                (None, true) => {
                    return Err(bad_field(
                        "a \"user\" is found by name in a \"room\" you share: give the room, or their \"uid\"",
                    ))
                }
                (None, false) => {}
            }
        }
    }
    if let Request::Invite(Invite {
        room,
        max_age_s,
        max_uses,
    }) = &request
    {
        let max_age = MAX_INVITE_AGE.as_secs();
        if max_age_s.is_some_and(|age| age == 0 || age > max_age) {
            let why = format!("\"max_age_s\" must be 1 to {max_age} seconds (30 days)");
            return Err(bad_field(why).in_room(room.as_str()));
        }
        if max_uses.is_some_and(|uses| uses > MAX_INVITE_USES) {
            let why = format!("\"max_uses\" must be 0 (unlimited) to {MAX_INVITE_USES}");
            return Err(bad_field(why).in_room(room.as_str()));
        }
    }
    Ok(request)
}

fn bad_field(message: impl Into<String>) -> Rejection {
    Rejection::new(ErrorCode::BadField, message)
}

/// One line of text for others to read (a topic, a reason): trimmed, at
/// most `max` characters, no control characters at all.
fn check_line(text: &str, what: &str, max: usize) -> Result<String, Rejection> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars > max {
        return Err(bad_field(format!(
            "the {what} is {chars} characters; the limit is {max}"
        )));
    }
    if let Some(bad) = text.chars().find(|c| c.is_control()) {
        return Err(Rejection::new(
            ErrorCode::BadText,
            format!(
                "the {what} contains the control character U+{:04X}; it is one line",
                bad as u32
            ),
        ));
    }
    Ok(text.to_string())
}

/// An owner key or invite code as a client sends it back: short printable
/// ASCII (the server makes them; anything else cannot be one).
fn check_secret(secret: &str, what: &str) -> Result<(), Rejection> {
    if secret.is_empty() || secret.len() > 64 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad_field(format!(
            "\"{what}\" is not one natter made: it is up to 64 letters and digits"
        )));
    }
    Ok(())
}

fn check_room_password(password: &str) -> Result<(), Rejection> {
    let chars = password.chars().count();
    if chars < ROOM_PASSWORD_MIN_CHARS || password.len() > ROOM_PASSWORD_MAX_BYTES {
        return Err(bad_field(format!(
            "a room password is {ROOM_PASSWORD_MIN_CHARS} characters to \
             {ROOM_PASSWORD_MAX_BYTES} bytes long"
        )));
    }
    Ok(())
}

/// Exactly one of `user` (a valid name, kept in its normal form) and `uid`.
fn check_target(user: &mut Option<String>, uid: &Option<String>) -> Result<(), Rejection> {
    match (user.as_mut(), uid) {
        (Some(_), Some(_)) | (None, None) => Err(bad_field(
            "say whom: give \"user\" (a name in the room) or \"uid\", one of them",
        )),
        (Some(name), None) => {
            *name = check_name(name).map_err(bad_field)?;
            Ok(())
        }
        (None, Some(uid)) => match uid.len() <= 32 && uid.bytes().all(|b| b.is_ascii_hexdigit()) {
            true => Ok(()),
            false => Err(bad_field("\"uid\" is a public id: up to 32 hex digits")),
        },
    }
}

/// A room as it is kept ([`check_room`]), or the refusal, naming the room.
fn room_rule(room: &str) -> Result<String, Rejection> {
    check_room(room).map_err(|r| r.in_room(room))
}

/// The names of `names` a message's text really mentions: valid names that
/// appear in it as `@name` (in any case), each once, at most `MAX_MENTIONS`.
/// The page says whom it meant (names may hold spaces, so the server never
/// guesses them from the text), and the text must show it: no invisible
/// pings (Discord's rule).
pub fn mentioned(text: &str, names: Vec<String>) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut keys = Vec::new();
    let mut kept = Vec::new();
    for name in names {
        let Ok(name) = check_name(&name) else {
            continue;
        };
        let key = name_key(&name);
        if kept.len() == MAX_MENTIONS || keys.contains(&key) {
            continue;
        }
        if lower.contains(&format!("@{}", name.to_lowercase())) {
            keys.push(key);
            kept.push(name);
        }
    }
    kept
}

/// A reaction is one emoji: not empty, at most `MAX_EMOJI_BYTES`, and none
/// of the characters that make words or layout (ASCII letters and digits,
/// spaces, control characters), so that a reaction cannot carry a message.
fn check_emoji(emoji: &str) -> Result<(), Rejection> {
    let wordy = |c: char| c.is_ascii_alphanumeric() || c.is_whitespace() || c.is_control();
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES || emoji.chars().any(wordy) {
        return Err(Rejection::new(
            ErrorCode::BadEmoji,
            format!(
                "a reaction is one emoji of at most {MAX_EMOJI_BYTES} bytes, \
                 with no letters, digits or spaces; pick one from the emoji list"
            ),
        ));
    }
    Ok(())
}

/// A message's upload ids: at most `MAX_ATTACHMENTS`, each once, each in
/// the form uploads are named (`media::is_upload_id`).
fn check_attachments(ids: &[String]) -> Result<(), Rejection> {
    let bad = |why: String| Rejection::new(ErrorCode::BadAttachment, why);
    if ids.len() > MAX_ATTACHMENTS {
        return Err(bad(format!(
            "a message carries at most {MAX_ATTACHMENTS} attachments, not {}",
            ids.len()
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if !crate::media::is_upload_id(id) {
            return Err(bad(format!("{id:?} is not an upload id")));
        }
        if ids[..i].contains(id) {
            return Err(bad(format!("upload {id} is attached twice")));
        }
    }
    Ok(())
}

fn check_client_id(id: &str) -> Result<(), Rejection> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_CLIENT_ID_CHARS {
        return Err(Rejection::new(
            ErrorCode::BadClientId,
            format!("client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A message's text as it is posted, trimmed, or why it cannot be.
fn check_text(text: String) -> Result<String, Rejection> {
    // Line ends from Windows or old Macs (`\r\n`, `\r`) are newlines: the one
    // control character people press, so it is turned into the line break it
    // means rather than refused.
    let text = match text.contains('\r') {
        true => text.replace("\r\n", "\n").replace('\r', "\n"),
        false => text,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Rejection::new(ErrorCode::EmptyText, "the message is empty"));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(Rejection::new(
            ErrorCode::TextTooLong,
            format!("the message is {chars} characters; the limit is {MAX_TEXT_CHARS} characters"),
        ));
    }
    // Characters alone do not bound the size (an emoji is 4 bytes).
    if trimmed.len() > MAX_TEXT_BYTES {
        return Err(Rejection::new(
            ErrorCode::TextTooLong,
            format!(
                "the message is {} bytes of UTF-8; the limit is {MAX_TEXT_BYTES} bytes \
                 (an emoji takes 4)",
                trimmed.len()
            ),
        ));
    }
    // Control characters are invisible, or worse: a backspace or an escape
    // sequence rewrites what a terminal shows of an export. Newline and tab
    // are how people lay text out.
    let control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if let Some(bad) = trimmed.chars().find(|&c| control(c)) {
        return Err(Rejection::new(
            ErrorCode::BadText,
            format!(
                "the message contains the control character U+{:04X}; \
                 only newline and tab are allowed",
                bad as u32
            ),
        ));
    }
    Ok(match trimmed.len() == text.len() {
        true => text,
        false => trimmed.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse a `message` request for room "a" with this text.
    fn json_message(text: &str) -> Result<Request, Rejection> {
        let frame = serde_json::json!({"type": "message", "room": "a", "text": text});
        parse_request(&frame.to_string())
    }

    /// The text of a parsed `message`.
    fn text_of(request: Request) -> String {
        match request {
            Request::Message(Post { text, .. }) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_with_control_characters_is_bad_text() {
        let message = |text: &str| json_message(text).map(text_of);
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
        // A field given twice is refused as serde refuses it.
        let twice = r#"{"type":"join","room":"a","room":"b"}"#;
        assert_eq!(code(twice), ErrorCode::BadField);
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
        assert_eq!(
            message(r#"{"type":"history","room":"a","limit":-1,"x":-1}"#),
            "field \"limit\" must be a whole number (found integer `-1`)"
        );
        assert_eq!(
            message(r#"{"type":"join","room":["a"]}"#),
            "field \"room\" must be a string (found sequence)"
        );
    }

    #[test]
    fn an_unknown_type_is_named_with_the_known_ones() {
        let rejection = parse_request(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(
            rejection.message,
            "unknown type \"dance\"; expected join, leave, message, typing, history, edit, delete, \
             react, claim, auth, set_room, set_role, invite, revoke_invite, kick, mute, unmute, ban, \
             unban, bans, list_rooms, dm, create_token, tokens or revoke_token"
        );
    }

    #[test]
    fn only_mentions_the_text_shows_are_kept() {
        let frame = serde_json::json!({"type": "message", "room": "a",
            "text": "hi @Bob Smith and @carol, not dan",
            "mentions": ["bob smith", "Carol", "carol", "dan", "", "eve"]});
        let Ok(Request::Message(post)) = parse_request(&frame.to_string()) else {
            panic!("a message")
        };
        assert_eq!(
            post.mentions.unwrap(),
            ["bob smith", "Carol"],
            "named in the text, once each"
        );
        let many: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
        let text = many
            .iter()
            .map(|n| format!("@{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let frame = serde_json::json!({"type": "edit", "room": "a", "id": 4, "text": text, "mentions": many});
        let Ok(Request::Edit(edit)) = parse_request(&frame.to_string()) else {
            panic!("an edit")
        };
        assert_eq!(edit.mentions.unwrap().len(), MAX_MENTIONS);
    }

    #[test]
    fn a_reaction_must_be_an_emoji() {
        let react = |emoji: &str| {
            let frame = serde_json::json!({"type": "react", "room": "a", "id": 1, "emoji": emoji, "on": true});
            parse_request(&frame.to_string()).map(|_| ())
        };
        for good in ["👍", "🎉", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "+"] {
            assert_eq!(react(good), Ok(()), "{good}");
        }
        for bad in ["", "a", "👍 ", "lol", "1", "\u{7}", &"👍".repeat(9)] {
            assert_eq!(react(bad).unwrap_err().code, ErrorCode::BadEmoji, "{bad:?}");
        }
        let missing = parse_request(r#"{"type":"react","room":"a","id":1,"emoji":"👍"}"#);
        assert_eq!(
            missing.unwrap_err().code,
            ErrorCode::BadField,
            "on is required"
        );
    }

    #[test]
    fn text_is_trimmed_but_otherwise_exact() {
        let request = parse_request(r#"{"type":"message","room":"a","text":"  hi 👋🏽\n"}"#);
        assert_eq!(text_of(request.unwrap()), "hi 👋🏽");
    }

    #[test]
    fn fields_a_request_does_not_have_are_ignored() {
        let request = parse_request(r#"{"type":"leave","room":"a","colour":"red"}"#);
        assert!(
            matches!(&request, Ok(Request::Leave(Leave { room, .. })) if room == "a"),
            "{request:?}"
        );
    }
}
