//! Property-based fuzzing of everything a client can type: incoming JSON frames,
//! display names, room names and message text. Whatever arrives, parsing never
//! panics, and whatever it accepts obeys the rules the hub relies on.
//!
//! The frames are built from what the protocol says of itself (its request
//! types and their fields, see `templates`), so a field added to the
//! protocol is fuzzed with no change here.
//!
//! Bounded: a fixed number of cases per property, so `make test` stays quick.

use natter::protocol::{
    check_name, check_room, parse_request, Auth, Bans, Claim, CreateToken, Delete, Edit, ErrorCode,
    History, Invite, Join, Leave, ListTokens, Moderate, OpenDm, Post, React, Request, RevokeInvite,
    RevokeToken, SetRole, Typing,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The request types, as the protocol lists them when it refuses one it does
/// not know ("unknown type \"\"; expected join, leave, ... or history").
fn request_types() -> Vec<String> {
    let refused = parse_request(r#"{"type":""}"#).unwrap_err();
    let (_, list) = refused
        .message
        .split_once("expected ")
        .unwrap_or_else(|| panic!("unknown_type lists the types: {refused:?}"));
    list.split(", ")
        .flat_map(|names| names.split(" or "))
        .map(str::to_string)
        .collect()
}

/// One frame of each request type with every field the protocol has, learnt
/// from the protocol instead of listed here, so a new field is fuzzed too: a
/// field the parser says is missing is filled in with a room name (or, when
/// it says the field is a number or a boolean, with one; an emoji when it
/// asks for one) until the frame parses, and the request, written back by
/// serde, has its optional fields as well (as `null`).
fn templates() -> Vec<Map<String, Value>> {
    let template = |kind: String| {
        let mut frame = json!({ "type": kind });
        // Fields whose valid values the refusals cannot teach: a role, and
        // whom a moderation request is about (a name or a uid, one of them).
        if ["set_role", "kick", "mute", "unmute", "ban", "unban", "dm"].contains(&kind.as_str()) {
            frame["user"] = json!("bob");
            frame["room"] = json!("lobby");
        }
        if kind == "set_role" {
            frame["role"] = json!("moderator");
        }
        for _ in 0..16 {
            match parse_request(&frame.to_string()) {
                Ok(request) => match serde_json::to_value(request) {
                    Ok(Value::Object(fields)) => return fields,
                    other => panic!("a request is written as an object: {other:?}"),
                },
                Err(refused) if refused.code == ErrorCode::BadEmoji => frame["emoji"] = json!("👍"),
                Err(refused) => {
                    let message = &refused.message;
                    let field = |prefix: &str| {
                        let rest = message.strip_prefix(prefix)?;
                        Some(rest.split('"').nth(1)?.to_string())
                    };
                    if let Some(name) = field("missing field ") {
                        frame[name] = json!("lobby");
                    } else if let Some(name) =
                        field("field ").filter(|_| message.contains("number"))
                    {
                        frame[name] = json!(1);
                    } else if let Some(name) = field("field ").filter(|_| message.contains("bool"))
                    {
                        frame[name] = json!(true);
                    } else {
                        panic!("{frame}: {refused:?}");
                    }
                }
            }
        }
        panic!("no frame of type {kind:?} parses: {frame}")
    };
    request_types().into_iter().map(template).collect()
}

/// Arbitrary JSON, nested a few levels, biased towards the protocol's own
/// types and field names; and, more often, the protocol's own frames with
/// some fields given other values (strings near the rules' edges, or any
/// JSON), or removed, and other fields added.
fn any_json() -> impl Strategy<Value = Value> {
    let templates = templates();
    let mut names: Vec<String> = templates.iter().flat_map(|t| t.keys().cloned()).collect();
    names.sort();
    names.dedup();
    let key = prop_oneof![prop::sample::select(names), ".{0,8}"];
    let string = prop_oneof![
        prop::sample::select(request_types()),
        Just(String::new()),
        Just(" ".to_string()),
        "[a-z]{60,70}",
        ".{0,40}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        string.clone().prop_map(Value::String),
    ];
    let json = leaf.prop_recursive(4, 32, 6, {
        let key = key.clone();
        move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        }
    });
    let value = prop_oneof![3 => string.prop_map(Value::String), 1 => json.clone()];
    let reshaped = (
        prop::sample::select(templates),
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::option::of(value)),
            0..3,
        ),
        prop::collection::vec((key, json.clone()), 0..2),
    )
        .prop_map(|(mut frame, edits, added)| {
            for (field, value) in edits {
                let name = field
                    .get(&frame.keys().cloned().collect::<Vec<_>>())
                    .clone();
                match value {
                    Some(value) => frame.insert(name, value),
                    None => frame.remove(&name),
                };
            }
            frame.extend(added);
            Value::Object(frame)
        });
    prop_oneof![1 => json, 2 => reshaped]
}

/// What every accepted request must satisfy.
fn assert_valid(request: &Request) {
    let room = match request {
        Request::SetRoom(set) => {
            if let Some(topic) = &set.topic {
                assert!(topic.chars().count() <= 300 && !topic.chars().any(char::is_control));
            }
            assert!(
                set.password_phc.is_none(),
                "a hash never comes from a client"
            );
            &set.room
        }
        Request::Join(join) if join.password_right.is_some() => {
            panic!("whether a password was right never comes from a client")
        }
        Request::Claim(Claim { room })
        | Request::Auth(Auth { room, .. })
        | Request::SetRole(SetRole { room, .. })
        | Request::Invite(Invite { room, .. })
        | Request::RevokeInvite(RevokeInvite { room, .. })
        | Request::Kick(Moderate { room, .. })
        | Request::Mute(Moderate { room, .. })
        | Request::Unmute(Moderate { room, .. })
        | Request::Ban(Moderate { room, .. })
        | Request::Unban(Moderate { room, .. })
        | Request::Bans(Bans { room })
        | Request::Tokens(ListTokens { room })
        | Request::RevokeToken(RevokeToken { room, .. })
        | Request::Dm(OpenDm {
            room: Some(room), ..
        }) => room,
        Request::CreateToken(CreateToken { room, name, .. }) => {
            assert!(!name.is_empty() && name.chars().count() <= 24);
            room
        }
        Request::Dm(OpenDm { room: None, .. }) | Request::ListRooms(_) => return,
        Request::Join(Join { room, .. })
        | Request::Leave(Leave { room, .. })
        | Request::Typing(Typing { room, .. })
        | Request::History(History { room, .. }) => room,
        Request::Delete(Delete {
            room, client_id, ..
        }) => {
            if let Some(id) = client_id {
                assert!((1..=64).contains(&id.chars().count()));
            }
            room
        }
        Request::React(React { room, emoji, .. }) => {
            assert!(!emoji.is_empty() && emoji.len() <= 32, "{emoji:?}");
            assert!(!emoji
                .chars()
                .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace()));
            room
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
            for name in mentions.iter().flatten() {
                assert!(
                    text.to_lowercase()
                        .contains(&format!("@{}", name.to_lowercase())),
                    "a mention kept is in the text: {name:?} in {text:?}"
                );
                assert_eq!(check_name(name).as_deref(), Ok(name.as_str()));
            }
            assert_eq!(text.trim(), text, "text is trimmed");
            assert!(!text.is_empty() && text.chars().count() <= 4000 && text.len() <= 12_000);
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "no control characters but newline and tab: {text:?}"
            );
            if let Some(id) = client_id {
                assert!((1..=64).contains(&id.chars().count()));
            }
            room
        }
    };
    assert_eq!(
        check_room(room).as_deref(),
        Ok(room.as_str()),
        "room obeys the rules"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_frames_never_panic(frame in ".{0,200}") {
        if let Ok(request) = parse_request(&frame) {
            assert_valid(&request);
        }
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let frame = String::from_utf8_lossy(&bytes);
        if let Ok(request) = parse_request(&frame) {
            assert_valid(&request);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        match parse_request(&value.to_string()) {
            Ok(request) => assert_valid(&request),
            Err(rejection) => prop_assert!(!rejection.message.is_empty()),
        }
    }

    #[test]
    fn well_formed_messages_round_trip(room in "[a-zA-Z0-9 _.-]{1,64}", text in ".{1,300}") {
        let frame = json!({"type": "message", "room": room, "text": text}).to_string();
        // A carriage return is taken as the newline it means.
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        match parse_request(&frame) {
            Ok(Request::Message(Post { room: r, text: t, .. })) => {
                prop_assert_eq!(r, room.trim());
                prop_assert_eq!(t, text.trim());
            }
            Ok(other) => prop_assert!(false, "parsed as {:?}", other),
            Err(rejection) => {
                // Refused only for a reason the rules give: a blank room or
                // text, a room of only dots (and spaces), a control character.
                let blank = room.trim().is_empty() || text.trim().is_empty();
                let dots = room.chars().all(|c| c == '.' || c == ' ');
                let control = text.trim().chars().any(|c| c.is_control() && c != '\n' && c != '\t');
                prop_assert!(blank || dots || control, "refused {:?}: {}", frame, rejection.message);
            }
        }
    }

    #[test]
    fn names_are_checked_without_panicking(name in "\\PC{0,40}|.{0,40}") {
        if let Ok(clean) = check_name(&name) {
            prop_assert_eq!(clean.trim(), clean.as_str());
            let chars = clean.chars().count();
            prop_assert!((1..=24).contains(&chars));
            let visible = clean.chars().all(|c| !c.is_control() && c != '\u{200B}');
            prop_assert!(visible, "invisible characters in {:?}", clean);
            // What was accepted is stored as it is: checking it again changes nothing.
            prop_assert_eq!(check_name(&clean), Ok(clean.clone()));
        }
    }

    #[test]
    fn rooms_are_checked_without_panicking(room in ".{0,80}") {
        if let Ok(clean) = check_room(&room) {
            let chars = clean.chars().count();
            prop_assert!((1..=64).contains(&chars));
            prop_assert!(!clean.contains('<') && !clean.contains('/'));
        }
    }
}
