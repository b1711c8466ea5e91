//! Rooms with owners: claims and keys, roles, invites, locks, mutes, bans,
//! kicks and direct messages, each stored before it takes effect.

use std::collections::HashMap;

use super::*;

/// Everything every connection got, replies and room batches, once the
/// pass has ended as the hub ends it (commit, then deliver).
fn pass(chat: &mut Chat, now: Instant) -> HashMap<ConnId, Vec<Value>> {
    let mut got: HashMap<ConnId, Vec<Value>> = HashMap::new();
    let take = |chat: &mut Chat, got: &mut HashMap<ConnId, Vec<Value>>| {
        for (conn, frame) in chat.take_out().replies {
            got.entry(conn).or_default().extend(payloads(&frame));
        }
    };
    take(chat, &mut got);
    if let Some(outcome) = chat.commit() {
        chat.committed(outcome);
    }
    take(chat, &mut got);
    chat.flush_presence(now);
    chat.deliver(|member, chunk| got.entry(member).or_default().extend(payloads(chunk)));
    chat.drop_idle_rooms();
    got
}

/// `name` logged in from `from`, connected as `conn`, in #lobby.
fn joined(chat: &mut Chat, name: &str, conn: ConnId, from: &str, now: Instant) -> Caller {
    let token = login(chat, name, from, now).expect("login");
    let mut caller = connect(chat, &token, conn, now);
    caller.address = ip(from);
    send(chat, &caller, r#"{"type":"join","room":"lobby"}"#, now);
    pass(chat, now);
    caller
}

/// The first frame of `kind` `conn` got.
fn first<'a>(got: &'a HashMap<ConnId, Vec<Value>>, conn: ConnId, kind: &str) -> Option<&'a Value> {
    got.get(&conn)?.iter().find(|f| f["type"] == kind)
}

fn error_code(got: &HashMap<ConnId, Vec<Value>>, conn: ConnId) -> Option<String> {
    Some(first(got, conn, "error")?["code"].as_str()?.to_string())
}

/// alice claims #lobby; returns her owner key.
fn claim(chat: &mut Chat, alice: &Caller, now: Instant) -> String {
    send(chat, alice, r#"{"type":"claim","room":"lobby"}"#, now);
    let got = pass(chat, now);
    let claimed = first(&got, alice.conn, "claimed").expect("claimed");
    claimed["owner_key"].as_str().unwrap().to_string()
}

#[test]
fn a_claim_gives_a_key_once_and_the_key_proves_ownership_anywhere() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    send(&mut chat, &alice, r#"{"type":"claim","room":"lobby"}"#, now);
    assert!(
        chat.take_out().replies.is_empty(),
        "nothing is told before the claim is stored"
    );
    let got = pass(&mut chat, now);
    let key = first(&got, 1, "claimed").expect("the key")["owner_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("ok_") && key.len() == 35, "{key}");
    assert!(
        first(&got, 2, "claimed").is_none(),
        "only the claimer sees the key"
    );
    let room = first(&got, 2, "room").expect("everyone gets the settings");
    assert_eq!(room["settings"]["owner"], "alice");
    let notice = first(&got, 2, "system").unwrap();
    assert_eq!(
        (notice["event"].as_str(), notice["by"].as_str()),
        (Some("claim"), Some("alice"))
    );

    send(&mut chat, &bob, r#"{"type":"claim","room":"lobby"}"#, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 2).as_deref(),
        Some("already_owned")
    );
    let guess = format!(
        r#"{{"type":"auth","room":"lobby","key":"ok_{}"}}"#,
        "0".repeat(32)
    );
    send(&mut chat, &bob, &guess, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 2).as_deref(),
        Some("bad_key")
    );
    send(
        &mut chat,
        &bob,
        &format!(r#"{{"type":"auth","room":"lobby","key":"{key}"}}"#),
        now,
    );
    let got = pass(&mut chat, now);
    let roles = &first(&got, 2, "room").expect("the new roles")["settings"]["roles"];
    let owners: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "owner")
        .map(|r| r["user"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["alice", "bob"]);
}

#[test]
fn a_moderator_cannot_act_on_the_owner_and_a_member_cannot_moderate() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    let carol = joined(&mut chat, "carol", 3, "192.0.2.3", now);
    claim(&mut chat, &alice, now);
    send(
        &mut chat,
        &carol,
        r#"{"type":"kick","room":"lobby","user":"bob"}"#,
        now,
    );
    assert_eq!(
        error_code(&pass(&mut chat, now), 3).as_deref(),
        Some("forbidden")
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"set_role","room":"lobby","user":"bob","role":"moderator"}"#,
        now,
    );
    pass(&mut chat, now);
    for frame in [
        r#"{"type":"kick","room":"lobby","user":"alice"}"#,
        r#"{"type":"mute","room":"lobby","user":"alice"}"#,
        r#"{"type":"ban","room":"lobby","user":"alice"}"#,
    ] {
        send(&mut chat, &bob, frame, now);
        assert_eq!(
            error_code(&pass(&mut chat, now), 2).as_deref(),
            Some("forbidden"),
            "{frame}"
        );
    }
    send(
        &mut chat,
        &bob,
        r#"{"type":"set_room","room":"lobby","access":"invite"}"#,
        now,
    );
    assert_eq!(
        error_code(&pass(&mut chat, now), 2).as_deref(),
        Some("not_owner")
    );
    send(
        &mut chat,
        &bob,
        r#"{"type":"set_room","room":"lobby","topic":"games"}"#,
        now,
    );
    let got = pass(&mut chat, now);
    assert_eq!(
        first(&got, 3, "room").unwrap()["settings"]["topic"],
        "games"
    );
}

#[test]
fn an_invite_lets_in_as_often_as_it_says_and_makes_a_member() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    claim(&mut chat, &alice, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"set_room","room":"lobby","access":"invite"}"#,
        now,
    );
    pass(&mut chat, now);
    let carol_token = login(&mut chat, "carol", "192.0.2.3", now).unwrap();
    let carol = connect(&mut chat, &carol_token, 3, now);
    send(&mut chat, &carol, r#"{"type":"join","room":"lobby"}"#, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 3).as_deref(),
        Some("invite_required")
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"invite","room":"lobby","max_uses":1}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let code = first(&got, 1, "invite_created").unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let with_code = format!(r#"{{"type":"join","room":"lobby","invite":"{code}"}}"#);
    send(&mut chat, &carol, &with_code, now);
    let got = pass(&mut chat, now);
    assert!(first(&got, 3, "joined").is_some(), "{got:?}");
    // Used up.
    let token = login(&mut chat, "dave", "192.0.2.4", now).unwrap();
    let dave = connect(&mut chat, &token, 4, now);
    send(&mut chat, &dave, &with_code, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 4).as_deref(),
        Some("bad_invite")
    );
    // carol is a member: a new connection needs no invite.
    let again = connect(&mut chat, &carol_token, 5, now);
    send(&mut chat, &again, r#"{"type":"join","room":"lobby"}"#, now);
    assert!(first(&pass(&mut chat, now), 5, "joined").is_some());
}

#[test]
fn a_mute_refuses_with_its_end_and_everyone_is_told() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    claim(&mut chat, &alice, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"mute","room":"lobby","user":"bob","minutes":10}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let notice = first(&got, 2, "system").expect("bob is told");
    assert_eq!(notice["event"], "mute");
    assert!(notice["until_ts"].as_u64().is_some());
    send(
        &mut chat,
        &bob,
        r#"{"type":"message","room":"lobby","text":"hi","client_id":"c1"}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let error = first(&got, 2, "error").unwrap();
    assert_eq!(error["code"], "muted");
    assert_eq!(error["client_id"], "c1");
    assert!((590..=600).contains(&error["retry_after"].as_u64().unwrap()));
    assert!(first(&got, 1, "message").is_none(), "nothing was posted");
    send(
        &mut chat,
        &alice,
        r#"{"type":"unmute","room":"lobby","user":"bob"}"#,
        now,
    );
    pass(&mut chat, now);
    send(
        &mut chat,
        &bob,
        r#"{"type":"message","room":"lobby","text":"hi"}"#,
        now,
    );
    assert!(first(&pass(&mut chat, now), 1, "message").is_some());
}

#[test]
fn a_ban_removes_and_keeps_out_and_an_address_ban_is_opt_in() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    claim(&mut chat, &alice, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"ban","room":"lobby","user":"bob","reason":"spam"}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let removed = first(&got, 2, "removed").expect("bob is told");
    assert_eq!(
        (removed["event"].as_str(), removed["reason"].as_str()),
        (Some("ban"), Some("spam"))
    );
    assert_eq!(first(&got, 1, "system").unwrap()["event"], "ban");
    assert!(!chat.rooms_of(2).unwrap().iter().any(|k| k == "lobby"));
    send(
        &mut chat,
        &bob,
        r#"{"type":"message","room":"lobby","text":"still here?"}"#,
        now,
    );
    assert_eq!(
        error_code(&pass(&mut chat, now), 2).as_deref(),
        Some("not_joined")
    );
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 2).as_deref(),
        Some("banned")
    );
    // Someone else from bob's address gets in: the address was not banned.
    let token = login(&mut chat, "bob2", "192.0.2.2", now).unwrap();
    let mut other = connect(&mut chat, &token, 3, now);
    other.address = ip("192.0.2.2");
    send(&mut chat, &other, r#"{"type":"join","room":"lobby"}"#, now);
    assert!(first(&pass(&mut chat, now), 3, "joined").is_some());
}

#[test]
fn a_locked_room_keeps_its_members_and_refuses_newcomers() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    claim(&mut chat, &alice, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"set_room","room":"lobby","locked":true}"#,
        now,
    );
    pass(&mut chat, now);
    send(&mut chat, &bob, r#"{"type":"leave","room":"lobby"}"#, now);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    assert!(
        first(&pass(&mut chat, now), 2, "joined").is_some(),
        "bob comes back"
    );
    let token = login(&mut chat, "carol", "192.0.2.3", now).unwrap();
    let carol = connect(&mut chat, &token, 3, now);
    send(&mut chat, &carol, r#"{"type":"join","room":"lobby"}"#, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 3).as_deref(),
        Some("locked")
    );
}

#[test]
fn a_direct_message_is_for_exactly_two() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let _bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    let carol = joined(&mut chat, "carol", 3, "192.0.2.3", now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"dm","room":"lobby","user":"bob"}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let mine = first(&got, 1, "dm").expect("alice is told");
    let theirs = first(&got, 2, "dm").expect("bob is told");
    assert_eq!(
        (mine["with"].as_str(), theirs["with"].as_str()),
        (Some("bob"), Some("alice"))
    );
    assert_eq!(mine["room"], theirs["room"]);
    assert!(first(&got, 3, "dm").is_none());
    let room = mine["room"].as_str().unwrap().to_string();
    let join = format!(r#"{{"type":"join","room":"{room}"}}"#);
    send(&mut chat, &alice, &join, now);
    let got = pass(&mut chat, now);
    assert_eq!(first(&got, 1, "joined").unwrap()["settings"]["dm"], true);
    send(&mut chat, &carol, &join, now);
    assert_eq!(
        error_code(&pass(&mut chat, now), 3).as_deref(),
        Some("forbidden")
    );
    // Nobody can make such a room by joining it first.
    send(
        &mut chat,
        &carol,
        r#"{"type":"join","room":"dm:aaaa:bbbb"}"#,
        now,
    );
    assert_eq!(
        error_code(&pass(&mut chat, now), 3).as_deref(),
        Some("bad_room")
    );
}

#[test]
fn a_moderators_delete_says_who_and_cannot_reach_up() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    claim(&mut chat, &alice, now);
    send(
        &mut chat,
        &bob,
        r#"{"type":"message","room":"lobby","text":"spam"}"#,
        now,
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"lobby","text":"mine"}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let ids: Vec<u64> = got[&1]
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    send(
        &mut chat,
        &alice,
        &format!(r#"{{"type":"delete","room":"lobby","id":{}}}"#, ids[0]),
        now,
    );
    let got = pass(&mut chat, now);
    let delete = first(&got, 2, "delete").expect("the delete");
    assert_eq!(delete["by"], "alice");
    let notice = first(&got, 2, "system").expect("a notice");
    assert_eq!(notice["event"], "moderated_delete");
    send(
        &mut chat,
        &bob,
        &format!(r#"{{"type":"delete","room":"lobby","id":{}}}"#, ids[1]),
        now,
    );
    assert_eq!(
        error_code(&pass(&mut chat, now), 2).as_deref(),
        Some("not_author")
    );
}

/// The public id of `caller`'s session.
fn uid_of(chat: &Chat, caller: &Caller) -> String {
    chat.session(caller.session).unwrap().uid.to_string()
}

#[test]
fn a_look_alike_of_a_direct_messages_name_is_not_a_way_into_it() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
    let bob = joined(&mut chat, "bob", 2, "192.0.2.2", now);
    let carol = joined(&mut chat, "carol", 3, "192.0.2.3", now);
    let (a, b) = (uid_of(&chat, &alice), uid_of(&chat, &bob));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // U+A4FD LISU LETTER TONE MYA JEU is a letter, and looks like ":".
    let look_alike = format!("dm\u{A4FD}{lo}\u{A4FD}{hi}");
    let join = format!(r#"{{"type":"join","room":"{look_alike}"}}"#);
    let refused = |chat: &mut Chat| match parse_request(&join) {
        Err(rejection) => rejection.code == crate::protocol::ErrorCode::BadRoom,
        Ok(_) => {
            send(chat, &carol, &join, now);
            first(&pass(chat, now), 3, "joined").is_none()
        }
    };
    assert!(
        refused(&mut chat),
        "carol sits in the room alice and bob will DM in"
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"dm","room":"lobby","user":"bob"}"#,
        now,
    );
    let got = pass(&mut chat, now);
    let room = first(&got, 1, "dm").unwrap()["room"]
        .as_str()
        .unwrap()
        .to_string();
    send(
        &mut chat,
        &alice,
        &format!(r#"{{"type":"join","room":"{room}"}}"#),
        now,
    );
    pass(&mut chat, now);
    let post = format!(r#"{{"type":"message","room":"{room}","text":"just us"}}"#);
    send(&mut chat, &alice, &post, now);
    let got = pass(&mut chat, now);
    assert!(
        first(&got, 3, "message").is_none(),
        "carol reads alice and bob's direct message"
    );
    assert!(refused(&mut chat), "carol comes into their direct message");
}

#[test]
fn the_owner_key_works_from_a_new_browser_in_a_room_that_keeps_newcomers_out() {
    for closing in [
        r#"{"type":"set_room","room":"lobby","access":"invite"}"#,
        r#"{"type":"set_room","room":"lobby","locked":true}"#,
    ] {
        let (mut chat, now) = chat(|c| c.rate_limit = None);
        let alice = joined(&mut chat, "alice", 1, "192.0.2.1", now);
        let key = claim(&mut chat, &alice, now);
        send(&mut chat, &alice, closing, now);
        pass(&mut chat, now);
        // alice on her phone: a temporary name, so another public id.
        let token = login(&mut chat, "alice-phone", "192.0.2.9", now).unwrap();
        let phone = connect(&mut chat, &token, 4, now);
        send(&mut chat, &phone, r#"{"type":"join","room":"lobby"}"#, now);
        assert!(first(&pass(&mut chat, now), 4, "joined").is_none());
        let auth = format!(r#"{{"type":"auth","room":"lobby","key":"{key}"}}"#);
        send(&mut chat, &phone, &auth, now);
        let got = pass(&mut chat, now);
        assert_eq!(error_code(&got, 4), None, "{closing}: {:?}", got.get(&4));
        let phone_uid = uid_of(&chat, &phone);
        let room = first(&got, 4, "room").expect("the settings, with her a new owner");
        let roles = room["settings"]["roles"].as_array().unwrap();
        assert!(roles
            .iter()
            .any(|r| r["uid"] == phone_uid.as_str() && r["role"] == "owner"));
        send(&mut chat, &phone, r#"{"type":"join","room":"lobby"}"#, now);
        assert!(
            first(&pass(&mut chat, now), 4, "joined").is_some(),
            "{closing}: an owner comes into her own room"
        );
    }
}
