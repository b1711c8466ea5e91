//! Rooms with owners (issue 16), over real sockets: a room is claimed once
//! and its owner key (not a guess, not another room's key, not a lapsed
//! claim's) makes an owner; owner > moderator > member, and nobody acts on an
//! equal or higher role; invite, password and locked rooms keep newcomers out
//! and let members back; mutes and bans say so, with their end; kicks,
//! settings and moderated deletes are announced; a private room's history,
//! resume and export are its members' only; a DM is two people's; the
//! directory lists public owned rooms; guesses cost rate budget; limits hold;
//! and a change still on its way to the disk counts for the requests that
//! come meanwhile (two claims at once make one owner).
//!
//! The rules are the README's (The protocol; Rooms with owners). Every wait
//! has a deadline; "X did not get it" is shown by order (the next message X
//! gets is a later one), never by a sleep. The only waits on the clock are
//! for a time the server gave (an invite's `expires_ts`, a claim's
//! `lapses_ts`) to pass.

use natter_testkit as common;

use common::rooms::{
    is, notice, notice_on, now_ms, role_of, room_where, settings_show, Person, Rooms,
};
use common::TestServer;
use serde_json::{json, Value};

/// `name` joins `room` and claims it: the person and the owner key.
fn owner(server: &TestServer, name: &str, room: &str) -> (Person, String) {
    let mut person = server.person(name);
    person.enter(room);
    let key = person.claim(room);
    (person, key)
}

/// `name`, a new session, in `room`.
fn member(server: &TestServer, name: &str, room: &str) -> Person {
    let mut person = server.person(name);
    person.enter(room);
    person
}

fn join(room: &str) -> Value {
    json!({"type": "join", "room": room})
}

fn say(room: &str, text: &str) -> Value {
    json!({"type": "message", "room": room, "text": text})
}

/// A moderation request (`kick`, `mute`, `ban`, ...) on `uid`, with `extra`.
fn on_uid(kind: &str, room: &str, uid: &str, extra: Value) -> Value {
    let mut frame = json!({"type": kind, "room": room, "uid": uid});
    for (k, v) in extra.as_object().expect("extra is an object") {
        frame[k] = v.clone();
    }
    frame
}

/// The same, naming the target by the display name it has in the room.
fn on_user(kind: &str, room: &str, user: &str, extra: Value) -> Value {
    let mut frame = json!({"type": kind, "room": room, "user": user});
    for (k, v) in extra.as_object().expect("extra is an object") {
        frame[k] = v.clone();
    }
    frame
}

/// A `presence` frame whose members leave out `name`.
fn presence_without(name: &'static str) -> common::rooms::Want {
    Box::new(move |v| {
        v["type"] == "presence"
            && !v["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|n| n == name))
    })
}

/// `until_ts` is about `seconds` from now (a minute's slack for slow CI).
fn about_from_now(until_ts: &Value, seconds: u64) {
    let until = until_ts
        .as_u64()
        .unwrap_or_else(|| panic!("until_ts is a time in ms: {until_ts}"));
    let expected = now_ms() + seconds * 1000;
    assert!(
        until.abs_diff(expected) < 60_000,
        "until_ts {until} is not about {seconds} s from now ({expected})"
    );
}

/// `retry_after` is at most `seconds` and not much less.
fn retry_about(error: &Value, seconds: u64) {
    let retry = error["retry_after"]
        .as_u64()
        .unwrap_or_else(|| panic!("retry_after in seconds: {error}"));
    assert!(
        retry <= seconds && retry + 60 >= seconds,
        "retry_after {retry}, expected about {seconds}: {error}"
    );
}

fn invites_ids(settings: &Value) -> Vec<String> {
    settings["invites"]
        .as_array()
        .unwrap_or_else(|| panic!("settings list invites: {settings}"))
        .iter()
        .map(|i| i["id"].as_str().expect("an invite id").to_string())
        .collect()
}

// ---------------------------------------------------------------- claim

#[test]
fn a_room_is_claimed_once_and_only_its_own_key_makes_another_session_an_owner() {
    let server = common::start();
    let mut alice = server.person("alice");
    let joined = alice.enter("Den");
    let fresh = &joined["settings"];
    assert_eq!(fresh["owned"], false, "nobody owns a new room: {joined}");
    assert_eq!(fresh["owner"], Value::Null, "{fresh}");
    assert_eq!(fresh["roles"], json!([]), "no first-joiner owner: {fresh}");
    assert_eq!(fresh["access"], "open", "{fresh}");
    assert_eq!(fresh["visibility"], "unlisted", "{fresh}");
    let mut bob = member(&server, "bob", "Den");

    // Not joined: no claim.
    let mut carol = server.person("carol");
    carol.refused(
        json!({"type": "claim", "room": "Den"}),
        &[is("claimed")],
        "not_joined",
    );

    let key = alice.claim("Den");
    assert!(key.starts_with("ok_") && key.len() >= 24, "{key}");
    let frames = bob
        .wait(&[room_where(|s| s["owned"] == true), notice("claim")])
        .unwrap();
    let settings = &frames[0]["settings"];
    assert_eq!(settings["owner"], "alice", "{settings}");
    assert_eq!(role_of(settings, &alice.uid), "owner");
    assert_eq!(role_of(settings, &bob.uid), "member");
    assert_eq!(frames[1]["by"], "alice", "{}", frames[1]);
    assert!(
        !frames[0].to_string().contains(&key),
        "the key goes to the claimer only"
    );

    // Owned: a second claim is refused, and bob is no owner.
    bob.refused(
        json!({"type": "claim", "room": "Den"}),
        &[is("claimed")],
        "already_owned",
    );
    bob.refused(
        json!({"type": "set_room", "room": "Den", "access": "invite"}),
        &[room_where(|s| s["access"] == "invite")],
        "not_owner",
    );

    // A guessed key, and a real key of another room, are refused.
    let guess = format!("ok_{}", "4q8c1m2j7w0x9s3d5f6g7h8k0a1b2c3d");
    let bob_uid = bob.uid.clone();
    bob.refused(
        json!({"type": "auth", "room": "Den", "key": guess}),
        &[room_where(move |s| role_of(s, &bob_uid) == "owner")],
        "bad_key",
    );
    carol.enter("Attic");
    let attic_key = carol.claim("Attic");
    carol.enter("Den");
    carol.refused(
        json!({"type": "auth", "room": "Den", "key": attic_key}),
        &[room_where(|s| {
            s["roles"].as_array().is_some_and(|r| r.len() > 1)
        })],
        "bad_key",
    );
    assert_ne!(attic_key, key, "every claim has its own key");

    // The right key, from another session (another browser): an owner.
    let mut dave = member(&server, "dave", "Den");
    let dave_uid = dave.uid.clone();
    let frames = dave.ok(
        json!({"type": "auth", "room": "Den", "key": key}),
        &[room_where(move |s| role_of(s, &dave_uid) == "owner")],
    );
    let settings = &frames[0]["settings"];
    assert_eq!(role_of(settings, &alice.uid), "owner", "alice stays one");
    // ... who can do what owners do.
    let settings = dave.set_role("Den", &bob.uid, "moderator");
    assert_eq!(role_of(&settings, &bob.uid), "moderator");
    // Two owners are equals: neither acts on the other.
    alice.refused(
        on_user("kick", "Den", "dave", json!({})),
        &[notice_on("kick", "dave")],
        "forbidden",
    );
    let dave_uid = dave.uid.clone();
    alice.refused(
        on_uid("set_role", "Den", &dave.uid, json!({"role": "member"})),
        &[room_where(move |s| role_of(s, &dave_uid) == "member")],
        "forbidden",
    );
    // A look-alike spelling is the same room, and it is owned.
    let mut erin = member(&server, "erin", "DEN");
    erin.refused(
        json!({"type": "claim", "room": "den"}),
        &[is("claimed")],
        "already_owned",
    );
}

#[test]
fn a_claimed_name_owns_its_room_from_another_device_without_the_key() {
    // An account's uid is the same on every device: ownership hangs on it.
    let server = common::start();
    let token = server.login("alice", "lobby");
    let mut first = server.connect().session(&token).open();
    let uid = first.recv_type("hello")["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let password = "correct horse battery";
    let claim = server.post_form(
        "/account/claim",
        &[("password", password), ("confirm", password)],
        Some(&token),
    );
    assert_eq!(claim.status, 200, "{}", claim.body);
    first.enter("Den");
    first.claim("Den");
    drop(first);

    let login = server.post_form(
        "/login",
        &[("name", "alice"), ("room", "lobby"), ("password", password)],
        None,
    );
    assert_eq!(login.status, 303, "{}", login.body);
    let mut other = server.connect().session(&login.cookie().unwrap()).open();
    assert_eq!(other.recv_type("hello")["uid"], uid.as_str());
    let joined = other.enter("Den");
    assert_eq!(role_of(&joined["settings"], &uid), "owner", "{joined}");
    other.set_room("Den", json!({"topic": "mine, from my phone"}));
}

// ---------------------------------------------------------------- roles

#[test]
fn nobody_acts_on_an_equal_or_higher_role_and_only_the_owner_changes_access() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Club");
    let mut bob = member(&server, "bob", "Club");
    let carol = member(&server, "carol", "Club");
    let mut mallory = member(&server, "mallory", "Club");
    let dave = member(&server, "dave", "Club");
    let dave_uid = dave.uid.clone();

    // The owner names two moderators, by name and by uid; the room is told.
    let bob_uid = bob.uid.clone();
    let frames = alice.ok(
        json!({"type": "set_role", "room": "Club", "user": "bob", "role": "moderator"}),
        &[room_where(move |s| role_of(s, &bob_uid) == "moderator")],
    );
    assert_eq!(role_of(&frames[0]["settings"], &alice.uid), "owner");
    let role = mallory.wait(&[notice("role")]).unwrap().remove(0);
    assert_eq!(
        (&role["by"], &role["user"]),
        (&json!("alice"), &json!("bob")),
        "{role}"
    );
    alice.set_role("Club", &carol.uid, "moderator");

    // A moderator on the owner, and on another moderator: forbidden.
    for (kind, accepted) in [("kick", "kick"), ("mute", "mute"), ("ban", "ban")] {
        let frame = on_user(kind, "Club", "alice", json!({"reason": "coup"}));
        bob.refused(frame, &[notice_on(accepted, "alice")], "forbidden");
        let frame = on_uid(kind, "Club", &carol.uid, json!({}));
        bob.refused(frame, &[notice_on(accepted, "carol")], "forbidden");
    }
    // A member on anyone: forbidden.
    mallory.refused(
        on_user("kick", "Club", "dave", json!({})),
        &[notice_on("kick", "dave")],
        "forbidden",
    );
    mallory.refused(
        on_user("mute", "Club", "dave", json!({})),
        &[notice_on("mute", "dave")],
        "forbidden",
    );
    mallory.refused(
        on_user("kick", "Club", "alice", json!({})),
        &[notice_on("kick", "alice")],
        "forbidden",
    );

    // Only the owner sets access, visibility, lock, and names roles.
    for fields in [
        json!({"access": "invite"}),
        json!({"visibility": "public"}),
        json!({"locked": true}),
    ] {
        let mut frame = json!({"type": "set_room", "room": "Club"});
        for (k, v) in fields.as_object().unwrap() {
            frame[k] = v.clone();
        }
        let shown = settings_show(fields.clone());
        bob.refused(frame, &[room_where(shown)], "not_owner");
    }
    bob.refused(
        on_uid("set_role", "Club", &dave.uid, json!({"role": "moderator"})),
        &[room_where(move |s| role_of(s, &dave_uid) == "moderator")],
        "not_owner",
    );

    // A moderator sets the topic; the room sees it and who did it.
    let settings = bob.set_room("Club", json!({"topic": "Friday game night"}));
    assert_eq!(settings["topic"], "Friday game night");
    let frames = mallory
        .wait(&[
            room_where(|s| s["topic"] == "Friday game night"),
            notice("topic"),
        ])
        .unwrap();
    assert_eq!(frames[1]["by"], "bob", "{}", frames[1]);
    // A member does not.
    let error = mallory
        .request(
            json!({"type": "set_room", "room": "Club", "topic": "pwned"}),
            &[room_where(|s| s["topic"] == "pwned")],
        )
        .expect_err("a member cannot set the topic");
    assert!(
        error["code"] == "forbidden" || error["code"] == "not_owner",
        "{error}"
    );

    // The owner's settings are announced too, with who made them.
    alice.set_room("Club", json!({"visibility": "public"}));
    let settings = mallory.wait(&[notice("settings")]).unwrap().remove(0);
    assert_eq!(settings["by"], "alice", "{settings}");
    assert!(
        settings["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{settings}"
    );

    // A moderator acts on a member (the control): dave is kicked.
    bob.ok(
        on_user("kick", "Club", "dave", json!({})),
        &[notice_on("kick", "dave")],
    );
    // Demoted, bob is a member again and can no longer.
    alice.set_role("Club", &bob.uid, "member");
    bob.refused(
        on_user("kick", "Club", "mallory", json!({})),
        &[notice_on("kick", "mallory")],
        "forbidden",
    );
    drop(dave);
}

// ---------------------------------------------------------------- invites

#[test]
fn an_invite_room_takes_newcomers_by_a_live_invite_only_and_members_come_back_without_one() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Club");
    let settings = alice.set_room("Club", json!({"access": "invite"}));
    assert_eq!(settings["access"], "invite");

    let mut bob = server.person("bob");
    bob.refused(join("Club"), &[is("joined")], "invite_required");

    let invite = alice.invite("Club", json!({}));
    let code = invite["code"].as_str().unwrap().to_string();
    let id = invite["id"].as_str().unwrap().to_string();
    assert!(code.starts_with("iv_"), "{invite}");
    assert_eq!(invite["url"], format!("/r/Club?invite={code}"), "{invite}");
    assert_eq!(invite["max_uses"], 0, "unlimited by default: {invite}");
    about_from_now(&invite["expires_ts"], 7 * 24 * 3600);
    // The room lists it (`invite` waited for that frame), without its code.
    let joined = alice.enter("Club");
    assert!(invites_ids(&joined["settings"]).contains(&id), "{joined}");
    assert!(!joined.to_string().contains(&code), "{joined}");

    // A guessed code, and a real one of another room, let nobody in.
    bob.refused(
        json!({"type": "join", "room": "Club", "invite": "iv_8f3k2m7q1x9w4c6d0e2r"}),
        &[is("joined")],
        "bad_invite",
    );
    alice.enter("Other");
    alice.claim("Other");
    alice.set_room("Other", json!({"access": "invite"}));
    let other = alice.invite("Other", json!({}));
    bob.refused(
        json!({"type": "join", "room": "Club", "invite": other["code"]}),
        &[is("joined")],
        "bad_invite",
    );

    // The invite lets bob in; from then on he is a member.
    let joined = bob.enter_with(json!({"type": "join", "room": "Club", "invite": code}));
    assert_eq!(joined["settings"]["access"], "invite", "{joined}");
    bob.send(json!({"type": "leave", "room": "Club"}));
    bob.enter("Club");
    let (mut tab, _) = server.tab(&bob);
    tab.enter("Club");
    drop(tab);
    drop(bob);
    let bob = server.person("bob");
    drop(bob); // (a new session is a new uid: not a member; see below)

    // Used up: max_uses 1 lets one person in, not a second.
    let once = alice.invite("Club", json!({"max_uses": 1}));
    assert_eq!(once["max_uses"], 1);
    let mut carol = server.person("carol");
    carol.enter_with(json!({"type": "join", "room": "Club", "invite": once["code"]}));
    let mut dave = server.person("dave");
    dave.refused(
        json!({"type": "join", "room": "Club", "invite": once["code"]}),
        &[is("joined")],
        "bad_invite",
    );

    // Expired: max_age_s 1, tried once the server's own expiry has passed.
    let brief = alice.invite("Club", json!({"max_age_s": 1}));
    let expires = brief["expires_ts"].as_u64().expect("expires_ts");
    assert!(expires <= now_ms() + 1500, "{brief}");
    while now_ms() <= expires + 100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    dave.refused(
        json!({"type": "join", "room": "Club", "invite": brief["code"]}),
        &[is("joined")],
        "bad_invite",
    );

    // Revoked: gone from the list, and it lets nobody in.
    let revoked = alice.invite("Club", json!({}));
    let revoked_id = revoked["id"].as_str().unwrap().to_string();
    let gone = revoked_id.clone();
    alice.ok(
        json!({"type": "revoke_invite", "room": "Club", "id": revoked_id}),
        &[room_where(move |s| !invites_ids(s).contains(&gone))],
    );
    dave.refused(
        json!({"type": "join", "room": "Club", "invite": revoked["code"]}),
        &[is("joined")],
        "bad_invite",
    );
    // The first invite still works (revoking one is not revoking all).
    dave.enter_with(json!({"type": "join", "room": "Club", "invite": code}));
    carol.enter("Club");

    // The live list counts uses (bob's and dave's: a member's rejoin is not
    // one), and leaves out the used-up and the expired.
    let settings = alice.enter("Club")["settings"].clone();
    let first = settings["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the first invite is live: {settings}"))
        .clone();
    assert_eq!(first["uses"], 2, "{first}");
    assert_eq!(first["by"], "alice", "{first}");
    let live = invites_ids(&settings);
    for dead in [&once["id"], &brief["id"]] {
        assert!(
            !live.iter().any(|l| dead == l.as_str()),
            "{dead} is not live: {settings}"
        );
    }
}

#[test]
fn an_invite_is_for_moderators_and_owners() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Club");
    let mut bob = member(&server, "bob", "Club");
    bob.refused(
        json!({"type": "invite", "room": "Club"}),
        &[is("invite_created")],
        "forbidden",
    );
    alice.set_role("Club", &bob.uid, "moderator");
    let invite = bob.invite("Club", json!({"max_uses": 3}));
    assert_eq!(invite["max_uses"], 3);
}

// ---------------------------------------------------------------- password

#[test]
fn a_password_room_takes_the_right_password_once_and_never_shows_it() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Vault");
    for fields in [
        json!({"access": "password"}),
        json!({"access": "password", "password": "abc"}),
    ] {
        let mut frame = json!({"type": "set_room", "room": "Vault"});
        for (k, v) in fields.as_object().unwrap() {
            frame[k] = v.clone();
        }
        alice
            .request(frame, &[room_where(|s| s["access"] == "password")])
            .expect_err("a password room needs a password of 4 to 128 characters");
    }
    let frames = alice.ok(
        json!({"type": "set_room", "room": "Vault", "access": "password", "password": "hunter22"}),
        &[room_where(|s| s["access"] == "password")],
    );
    assert!(!frames[0].to_string().contains("hunter22"), "{}", frames[0]);

    let mut bob = server.person("bob");
    let error = bob.refused(join("Vault"), &[is("joined")], "bad_password");
    assert!(
        error["message"].as_str().unwrap_or("").contains("password"),
        "says the room needs its password: {error}"
    );
    bob.refused(
        json!({"type": "join", "room": "Vault", "password": "hunter2x"}),
        &[is("joined")],
        "bad_password",
    );
    let joined = bob.enter_with(json!({"type": "join", "room": "Vault", "password": "hunter22"}));
    assert_eq!(joined["settings"]["access"], "password", "{joined}");
    assert!(!joined.to_string().contains("hunter22"));

    // A member is not asked again: rejoin, a new tab.
    bob.send(json!({"type": "leave", "room": "Vault"}));
    bob.enter("Vault");
    let (mut tab, _) = server.tab(&bob);
    tab.enter("Vault");

    // A new password: the old one no longer opens it; members still come in.
    alice.ok(
        json!({"type": "set_room", "room": "Vault", "password": "swordfish"}),
        &[is("room")],
    );
    let mut carol = server.person("carol");
    carol.refused(
        json!({"type": "join", "room": "Vault", "password": "hunter22"}),
        &[is("joined")],
        "bad_password",
    );
    carol.enter_with(json!({"type": "join", "room": "Vault", "password": "swordfish"}));
    drop(tab);
    let (mut tab, _) = server.tab(&bob);
    tab.enter("Vault");
}

// ---------------------------------------------------------------- locked

#[test]
fn a_locked_room_lets_its_members_back_and_refuses_newcomers() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Fort");
    let bob = member(&server, "bob", "Fort");
    let (bob_token, bob_uid) = (bob.token.clone(), bob.uid.clone());
    drop(bob);
    let settings = alice.set_room("Fort", json!({"locked": true}));
    assert_eq!(settings["locked"], true);

    let mut carol = server.person("carol");
    carol.refused(join("Fort"), &[is("joined")], "locked");
    // bob, a member, comes back (a reconnect of his session).
    let mut bob = server.connect().session(&bob_token).open();
    assert_eq!(bob.recv_type("hello")["uid"], bob_uid.as_str());
    bob.enter("Fort");

    alice.set_room("Fort", json!({"locked": false}));
    carol.enter("Fort");
}

// ---------------------------------------------------------------- mute

#[test]
fn a_muted_member_is_told_until_when_the_room_is_told_and_unmute_lets_them_speak() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Quiet");
    let mut mallory = member(&server, "mallory", "Quiet");
    let mut bob = member(&server, "bob", "Quiet");
    let before = mallory.said("Quiet", "first!")["id"].as_u64().unwrap();
    bob.next_message_is("first!");

    let muted_uid = mallory.uid.clone();
    let frames = alice.ok(
        on_user(
            "mute",
            "Quiet",
            "mallory",
            json!({"minutes": 10, "reason": "calm down"}),
        ),
        &[
            notice("mute"),
            room_where(move |s| {
                s["muted"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x["uid"] == muted_uid.as_str()))
            }),
        ],
    );
    let notice_frame = &frames[0];
    assert_eq!(notice_frame["by"], "alice", "{notice_frame}");
    assert_eq!(notice_frame["user"], "mallory", "{notice_frame}");
    assert_eq!(notice_frame["uid"], mallory.uid.as_str(), "{notice_frame}");
    about_from_now(&notice_frame["until_ts"], 600);
    let until = notice_frame["until_ts"].as_u64().unwrap();
    let seen = bob.wait(&[notice("mute")]).unwrap().remove(0);
    assert_eq!(seen["user"], "mallory", "{seen}");
    assert!(
        seen["text"].as_str().is_some_and(|t| t.contains("mallory")),
        "{seen}"
    );

    // Refused, with how long: never a shadow mute.
    let error = mallory.refused(
        say("Quiet", "you can't silence me"),
        &[is("message")],
        "muted",
    );
    retry_about(&error, 600);
    assert_eq!(error["until_ts"], until, "{error}");
    assert_eq!(error["room"], "Quiet", "{error}");
    // Nor an edit or a reaction (a mute is not to be worked around).
    mallory.refused(
        json!({"type": "edit", "room": "Quiet", "id": before, "text": "edited while muted"}),
        &[is("edit")],
        "muted",
    );
    mallory.refused(
        json!({"type": "react", "room": "Quiet", "id": before, "emoji": "🎉", "on": true}),
        &[is("reactions")],
        "muted",
    );
    // Nobody got it: bob's next message is alice's, said after it.
    alice.said("Quiet", "moving on");
    bob.next_message_is("moving on");

    // A rejoin (a new tab) says the mute too.
    let (mut tab, _) = server.tab(&mallory);
    let joined = tab.enter("Quiet");
    assert_eq!(joined["muted_until"], until, "{joined}");

    // Unmuted: announced, and she speaks again.
    alice.ok(
        on_user("unmute", "Quiet", "mallory", json!({})),
        &[notice_on("unmute", "mallory")],
    );
    let seen = bob.wait(&[notice("unmute")]).unwrap().remove(0);
    assert_eq!(seen["by"], "alice", "{seen}");
    mallory.said("Quiet", "sorry");
    bob.next_message_is("sorry");
    let joined = tab.enter("Quiet");
    assert!(joined["muted_until"].is_null(), "{joined}");
}

// ---------------------------------------------------------------- ban

#[test]
fn a_banned_identity_is_removed_from_every_tab_and_refused_on_a_new_one() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Pub");
    let mut mallory = member(&server, "mallory", "Pub");
    let (mut second_tab, _) = server.tab(&mallory);
    second_tab.enter("Pub");
    let mut bob = member(&server, "bob", "Pub");

    alice.ok(
        on_user(
            "ban",
            "Pub",
            "mallory",
            json!({"minutes": 60, "reason": "spam"}),
        ),
        &[notice_on("ban", "mallory")],
    );
    for tab in [&mut mallory.client, &mut second_tab] {
        let removed = tab.recv_type("removed");
        assert_eq!(removed["room"], "Pub", "{removed}");
        assert_eq!(removed["event"], "ban", "{removed}");
        assert_eq!(removed["by"], "alice", "{removed}");
        about_from_now(&removed["until_ts"], 3600);
    }
    let frames = bob
        .wait(&[notice("ban"), presence_without("mallory")])
        .unwrap();
    assert_eq!(frames[0]["user"], "mallory", "{}", frames[0]);
    assert_eq!(frames[0]["by"], "alice", "{}", frames[0]);

    // Out of the room, and refused at the door, with the ban's end.
    mallory.refused(say("Pub", "still here?"), &[is("message")], "not_joined");
    let error = mallory.refused(join("Pub"), &[is("joined")], "banned");
    retry_about(&error, 3600);
    about_from_now(&error["until_ts"], 3600);
    let (mut new_tab, _) = server.tab(&mallory);
    new_tab.refused(join("Pub"), &[is("joined")], "banned");
    second_tab.refused(join("Pub"), &[is("joined")], "banned");

    // Nor does she read it: no export, no history.
    let export = server.get("/export/Pub", Some(&mallory.token));
    assert_eq!(export.status, 403, "a banned person reads none of it");
    mallory.refused(
        json!({"type": "history", "room": "Pub"}),
        &[is("history")],
        "not_joined",
    );

    // The list of bans says who, by whom, why and until when.
    let bans = alice
        .ok(json!({"type": "bans", "room": "Pub"}), &[is("bans")])
        .remove(0);
    let ban = bans["bans"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["uid"] == mallory.uid.as_str()))
        .unwrap_or_else(|| panic!("mallory's ban is listed: {bans}"))
        .clone();
    assert_eq!(
        (&ban["user"], &ban["by"], &ban["reason"], &ban["ip"]),
        (
            &json!("mallory"),
            &json!("alice"),
            &json!("spam"),
            &json!(false)
        ),
        "{ban}"
    );
    // A member cannot see them.
    bob.refused(
        json!({"type": "bans", "room": "Pub"}),
        &[is("bans")],
        "forbidden",
    );

    // Not an address ban: a new session from the same address gets in.
    let mut fresh = server.person("mallory2");
    fresh.enter("Pub");

    // Lifted: she comes back.
    alice.ok(
        json!({"type": "unban", "room": "Pub", "uid": mallory.uid}),
        &[notice("unban")],
    );
    mallory.enter("Pub");
}

#[test]
fn a_ban_without_minutes_lasts_until_lifted() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Pub");
    let mut spammer = member(&server, "spammer", "Pub");
    alice.ok(
        on_user("ban", "Pub", "spammer", json!({})),
        &[notice_on("ban", "spammer")],
    );
    let removed = spammer.recv_type("removed");
    assert!(removed["until_ts"].is_null(), "{removed}");
    let error = spammer.refused(join("Pub"), &[is("joined")], "banned");
    assert!(error["until_ts"].is_null(), "{error}");
    assert!(error["retry_after"].is_null(), "{error}");
    // And by uid, someone not present (a ban waiting at the door).
    let absent = server.person("lurker");
    let lurker_uid = absent.uid.clone();
    let token = absent.token.clone();
    drop(absent);
    alice.ok(
        on_uid("ban", "Pub", &lurker_uid, json!({})),
        &[notice("ban")],
    );
    let mut lurker = server.connect().session(&token).open();
    lurker.recv_type("hello");
    lurker.refused(join("Pub"), &[is("joined")], "banned");
}

#[test]
fn an_address_ban_is_opt_in_and_refuses_new_sessions_from_that_address_only() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Bar");
    let mut trudy = server.person_from("trudy", "127.0.0.2");
    trudy.enter("Bar");
    let mut victor = server.person_from("victor", "127.0.0.3");
    victor.enter("Bar");

    alice.ok(
        on_user(
            "ban",
            "Bar",
            "trudy",
            json!({"ip": true, "reason": "ban evasion"}),
        ),
        &[notice_on("ban", "trudy")],
    );
    trudy.recv_type("removed");
    // A new session (a cleared cookie) from the same address: banned, for
    // the address ban's default hour at most.
    let mut again = server.person_from("trudy2", "127.0.0.2");
    let error = again.refused(join("Bar"), &[is("joined")], "banned");
    let retry = error["retry_after"].as_u64().expect("an address ban ends");
    assert!(retry <= 3600, "{error}");
    // Other rooms are not affected, nor other addresses.
    again.enter("Elsewhere");
    let mut neighbour = server.person_from("wendy", "127.0.0.4");
    neighbour.enter("Bar");

    // Without ip, the same address is free to come back as a new session.
    alice.ok(
        on_user("ban", "Bar", "victor", json!({"reason": "rude"})),
        &[notice_on("ban", "victor")],
    );
    victor.recv_type("removed");
    victor.refused(join("Bar"), &[is("joined")], "banned");
    let mut victor2 = server.person_from("victor2", "127.0.0.3");
    victor2.enter("Bar");

    let bans = alice
        .ok(json!({"type": "bans", "room": "Bar"}), &[is("bans")])
        .remove(0);
    let ip_of = |uid: &str| {
        bans["bans"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["uid"] == uid))
            .map(|b| b["ip"].clone())
            .unwrap_or_else(|| panic!("{uid} is listed: {bans}"))
    };
    assert_eq!(ip_of(&trudy.uid), true);
    assert_eq!(ip_of(&victor.uid), false);
}

// ---------------------------------------------------------------- kick

#[test]
fn a_kicked_member_is_removed_and_told_by_whom_and_the_room_sees_it() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Hall");
    let mut mallory = member(&server, "mallory", "Hall");
    let mut bob = member(&server, "bob", "Hall");

    alice.ok(
        on_user("kick", "Hall", "mallory", json!({"reason": "spam"})),
        &[notice_on("kick", "mallory")],
    );
    let removed = mallory.recv_type("removed");
    assert_eq!(
        (
            &removed["room"],
            &removed["event"],
            &removed["by"],
            &removed["reason"]
        ),
        (
            &json!("Hall"),
            &json!("kick"),
            &json!("alice"),
            &json!("spam")
        ),
        "{removed}"
    );
    assert!(
        removed["text"]
            .as_str()
            .is_some_and(|t| t.contains("alice")),
        "{removed}"
    );
    let frames = bob
        .wait(&[notice("kick"), presence_without("mallory")])
        .unwrap();
    let kick = &frames[0];
    assert_eq!(
        (&kick["user"], &kick["uid"], &kick["by"]),
        (&json!("mallory"), &json!(mallory.uid), &json!("alice")),
        "{kick}"
    );
    assert!(
        kick["text"].as_str().is_some_and(|t| t.contains("mallory")),
        "{kick}"
    );
    mallory.refused(say("Hall", "hello?"), &[is("message")], "not_joined");
    alice.said("Hall", "better");
    bob.next_message_is("better");

    // An open room: a kick is not a ban, she may come back.
    let joined = mallory.enter("Hall");
    assert!(
        joined["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "mallory"),
        "{joined}"
    );
}

#[test]
fn a_member_kicked_from_an_invite_or_locked_room_is_a_newcomer_again() {
    // The design (next-wave.md §2.3): a kick revokes membership of an
    // invite/password/locked room, or the kick would be a page reload.
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Club");
    alice.set_room("Club", json!({"access": "invite"}));
    let invite = alice.invite("Club", json!({}));
    let mut mallory = server.person("mallory");
    mallory.enter_with(json!({"type": "join", "room": "Club", "invite": invite["code"]}));
    alice.ok(
        on_user("kick", "Club", "mallory", json!({})),
        &[notice_on("kick", "mallory")],
    );
    mallory.recv_type("removed");
    mallory.refused(join("Club"), &[is("joined")], "invite_required");

    // A locked room likewise: a kicked member is a newcomer again.
    alice.enter("Fort");
    alice.claim("Fort");
    let mut bob = member(&server, "bob", "Fort");
    alice.set_room("Fort", json!({"locked": true}));
    alice.ok(
        on_user("kick", "Fort", "bob", json!({})),
        &[notice_on("kick", "bob")],
    );
    bob.recv_type("removed");
    bob.refused(join("Fort"), &[is("joined")], "locked");
}

// ---------------------------------------------------------------- delete

/// The `delete` frame of message `id`.
fn delete_of(id: u64) -> common::rooms::Want {
    Box::new(move |v| v["type"] == "delete" && v["id"] == id)
}

#[test]
fn a_moderator_deletes_a_members_message_and_it_shows_who_did() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Hall");
    let mut bob = member(&server, "bob", "Hall");
    alice.set_role("Hall", &bob.uid, "moderator");
    let mut mallory = member(&server, "mallory", "Hall");
    let mut carol = member(&server, "carol", "Hall");

    let spam = mallory.said("Hall", "buy cheap pills");
    let id = spam["id"].as_u64().unwrap();
    let owners = alice.said("Hall", "house rules");
    let cursor = id;

    let deleted = bob
        .ok(
            json!({"type": "delete", "room": "Hall", "id": id}),
            &[is("delete")],
        )
        .remove(0);
    assert_eq!(
        (&deleted["id"], &deleted["by"]),
        (&json!(id), &json!("bob")),
        "{deleted}"
    );
    let frames = carol
        .wait(&[is("delete"), notice("moderated_delete")])
        .unwrap();
    assert_eq!(frames[0]["by"], "bob", "{}", frames[0]);
    assert_eq!(frames[1]["by"], "bob", "{}", frames[1]);
    assert_eq!(frames[1]["user"], "mallory", "{}", frames[1]);

    // The tombstone says who: in history, and on resume.
    let page = carol
        .ok(json!({"type": "history", "room": "Hall"}), &[is("history")])
        .remove(0);
    let tomb = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("the tombstone is in history: {page}"))
        .clone();
    assert_eq!(
        (&tomb["deleted"], &tomb["deleted_by"]),
        (&json!(true), &json!("bob")),
        "{tomb}"
    );
    assert_eq!(tomb["text"], "", "{tomb}");
    let (mut tab, _) = server.tab(&carol);
    let joined = tab.enter_with(json!({"type": "join", "room": "Hall", "since": cursor}));
    let changed = joined["changes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(joined["history"].as_array().unwrap())
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("the delete is in the resume: {joined}"))
        .clone();
    assert_eq!(changed["deleted_by"], "bob", "{changed}");

    // Not on a higher role: bob cannot delete the owner's message; and a
    // member deletes only their own.
    let owners_id = owners["id"].as_u64().unwrap();
    bob.refused(
        json!({"type": "delete", "room": "Hall", "id": owners_id}),
        &[delete_of(owners_id)],
        "forbidden",
    );
    // Nor another moderator's.
    alice.set_role("Hall", &carol.uid, "moderator");
    let moderators = carol.said("Hall", "a moderator's note")["id"]
        .as_u64()
        .unwrap();
    bob.refused(
        json!({"type": "delete", "room": "Hall", "id": moderators}),
        &[delete_of(moderators)],
        "forbidden",
    );
    alice.set_role("Hall", &carol.uid, "member");
    let carols = carol.said("Hall", "mine")["id"].as_u64().unwrap();
    let error = mallory
        .request(
            json!({"type": "delete", "room": "Hall", "id": carols}),
            &[delete_of(carols)],
        )
        .expect_err("a member cannot delete another's message");
    assert!(
        error["code"] == "not_author" || error["code"] == "forbidden",
        "{error}"
    );
}

// ---------------------------------------------------------------- privacy

#[test]
fn a_private_rooms_history_resume_and_export_are_refused_to_a_non_member() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Secret");
    let plan = alice.said("Secret", "the plan is at noon");
    let epoch = alice.hello["epoch"].clone();
    alice.set_room("Secret", json!({"access": "invite"}));
    let invite = alice.invite("Secret", json!({}));
    let mut bob = server.person("bob");
    bob.enter_with(json!({"type": "join", "room": "Secret", "invite": invite["code"]}));

    let mut eve = server.person("eve");
    eve.refused(join("Secret"), &[is("joined")], "invite_required");
    eve.refused(
        json!({"type": "join", "room": "Secret", "since": 0, "epoch": epoch}),
        &[is("joined")],
        "invite_required",
    );
    eve.refused(
        json!({"type": "join", "room": "Secret", "since": plan["id"], "epoch": epoch}),
        &[is("joined")],
        "invite_required",
    );
    eve.refused(
        json!({"type": "history", "room": "Secret"}),
        &[is("history")],
        "not_joined",
    );

    let refused = server.get("/export/Secret", Some(&eve.token));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!refused.body.contains("the plan"), "{}", refused.body);
    let refused = server.get("/export/secret?format=json", Some(&eve.token));
    assert_eq!(refused.status, 403, "{}", refused.body);
    for person in [&alice, &bob] {
        let export = server.get("/export/Secret", Some(&person.token));
        assert_eq!(export.status, 200, "{}: {}", person.name, export.body);
        assert!(
            export.body.contains("the plan is at noon"),
            "{}",
            export.body
        );
    }
    // A member resumes as before: with since, exactly what was missed.
    let later = alice.said("Secret", "moved to one o'clock");
    let (mut tab, _) = server.tab(&bob);
    let joined = tab
        .enter_with(json!({"type": "join", "room": "Secret", "since": plan["id"], "epoch": epoch}));
    assert_eq!(joined["gap"], false, "{joined}");
    let ids: Vec<&Value> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, [&later["id"]], "{joined}");

    // A password room, likewise; an open room stays open to anyone logged in.
    alice.enter("Safe");
    alice.claim("Safe");
    alice.said("Safe", "combination 1234");
    alice.set_room(
        "Safe",
        json!({"access": "password", "password": "hunter22"}),
    );
    assert_eq!(server.get("/export/Safe", Some(&eve.token)).status, 403);
    eve.refused(
        json!({"type": "join", "room": "Safe", "since": 0}),
        &[is("joined")],
        "bad_password",
    );
    alice.enter("Open");
    alice.claim("Open");
    alice.said("Open", "anyone may read this");
    assert_eq!(server.get("/export/Open", Some(&eve.token)).status, 200);
}

// ---------------------------------------------------------------- DMs

#[test]
fn a_direct_message_is_between_exactly_two_people_and_follows_them_to_a_new_tab() {
    let server = common::start();
    let mut alice = member(&server, "alice", "lobby");
    let mut bob = member(&server, "bob", "lobby");
    let mut carol = member(&server, "carol", "lobby");

    let opened = alice
        .ok(
            json!({"type": "dm", "room": "lobby", "user": "bob"}),
            &[is("dm")],
        )
        .remove(0);
    let room = opened["room"].as_str().unwrap().to_string();
    assert!(room.starts_with("dm:"), "{opened}");
    assert_eq!(
        (&opened["with"], &opened["with_uid"]),
        (&json!("bob"), &json!(bob.uid)),
        "{opened}"
    );
    let told = bob.wait(&[is("dm")]).unwrap().remove(0);
    assert_eq!(
        (&told["room"], &told["with"], &told["with_uid"]),
        (&json!(room), &json!("alice"), &json!(alice.uid)),
        "{told}"
    );

    let joined = alice.enter(&room);
    assert_eq!(joined["settings"]["dm"], true, "{joined}");
    assert_eq!(joined["settings"]["access"], "dm", "{joined}");
    bob.enter(&room);
    let error = carol.refused(join(&room), &[is("joined")], "forbidden");
    assert_eq!(
        error["room"].as_str().map(str::to_lowercase),
        Some(room.to_lowercase()),
        "{error}"
    );

    alice.said(&room, "psst, bob");
    bob.next_message_is("psst, bob");
    // carol got nothing of it: her next message is one said after it.
    alice.said("lobby", "hello all");
    carol.next_message_is("hello all");
    bob.next_message_is("hello all");

    assert_eq!(
        server
            .get(&format!("/export/{room}"), Some(&carol.token))
            .status,
        403
    );
    assert_eq!(
        server
            .get(&format!("/export/{room}"), Some(&bob.token))
            .status,
        200
    );

    // A new tab of either knows the DM from hello.
    for (person, with) in [(&alice, &bob), (&bob, &alice)] {
        let (_, hello) = server.tab(person);
        let listed = hello["dms"]
            .as_array()
            .unwrap_or_else(|| panic!("hello lists dms: {hello}"))
            .iter()
            .find(|d| d["room"] == room.as_str())
            .unwrap_or_else(|| panic!("the DM is in {}'s hello: {hello}", person.name))
            .clone();
        assert_eq!(
            (&listed["with"], &listed["with_uid"]),
            (&json!(with.name), &json!(with.uid)),
            "{listed}"
        );
    }
    let (_, hello) = server.tab(&carol);
    assert!(
        !hello["dms"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["room"] == room.as_str())),
        "{hello}"
    );

    // The same two again: the same room. With oneself: refused.
    let again = alice
        .ok(json!({"type": "dm", "uid": bob.uid}), &[is("dm")])
        .remove(0);
    assert_eq!(again["room"], room.as_str(), "{again}");
    let own = alice.uid.clone();
    alice
        .request(json!({"type": "dm", "uid": own}), &[is("dm")])
        .expect_err("no DM with oneself");
    // By uid, from another pair: another room.
    let other = carol
        .ok(json!({"type": "dm", "uid": alice.uid}), &[is("dm")])
        .remove(0);
    assert_ne!(other["room"], room.as_str(), "{other}");
}

// ---------------------------------------------------------------- directory

/// The names in a `rooms` answer.
fn names(rooms: &Value) -> Vec<String> {
    rooms["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("a list of rooms: {rooms}"))
        .iter()
        .map(|r| r["name"].as_str().expect("a room name").to_string())
        .collect()
}

#[test]
fn the_directory_lists_public_owned_rooms_with_topic_and_members() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Games");
    alice.set_room(
        "Games",
        json!({"visibility": "public", "topic": "Friday game night"}),
    );
    let _bob = member(&server, "bob", "Games");
    alice.enter("Hidden");
    alice.claim("Hidden");
    let _carol = member(&server, "carol", "lobby");
    // A quieter public room, private to join: listed after, with its access.
    let (mut dave, _) = owner(&server, "dave", "Club");
    dave.set_room("Club", json!({"visibility": "public", "access": "invite"}));

    let rooms = alice
        .ok(json!({"type": "list_rooms", "after": null}), &[is("rooms")])
        .remove(0);
    assert_eq!(
        names(&rooms),
        ["Games", "Club"],
        "public and owned only, the busiest first: {rooms}"
    );
    assert_eq!(
        (&rooms["rooms"][1]["members"], &rooms["rooms"][1]["access"]),
        (&json!(1), &json!("invite")),
        "{rooms}"
    );
    let games = &rooms["rooms"][0];
    assert_eq!(
        (&games["topic"], &games["members"], &games["access"]),
        (&json!("Friday game night"), &json!(2), &json!("open")),
        "{games}"
    );
    assert!(rooms["next"].is_null(), "one page: {rooms}");

    let web = server.get("/rooms?format=json", Some(&alice.token));
    assert_eq!(web.status, 200, "{}", web.body);
    let web: Value = serde_json::from_str(&web.body).expect("JSON");
    assert_eq!(names(&web), ["Games", "Club"], "{web}");
    assert_eq!(web["rooms"][0]["topic"], "Friday game night");
    let page = server.get("/rooms", Some(&alice.token));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Games") && !page.body.contains("Hidden"));

    // A topic is text, never markup, on the page.
    dave.set_room("Club", json!({"topic": "<script>alert(1)</script>"}));
    let page = server.get("/rooms", Some(&alice.token));
    assert!(
        !page.body.contains("<script>alert(1)"),
        "the topic is escaped: {}",
        page.body
    );
    assert!(page.body.contains("&lt;script&gt;"), "{}", page.body);
}

/// The binary with `--directory <mode>`, a public owned room, an unlisted
/// owned one and an unowned open one in it: `check` runs on the `rooms`
/// answer alice gets, then on `/rooms?format=json`.
fn directory(mode: &str, check: impl Fn(&Value)) {
    let natter = common::Binary::start(&["--rate-limit", "off", "--directory", mode]);
    let server = natter.server();
    let (mut alice, _) = owner(&server, "alice", "Games");
    alice.set_room("Games", json!({"visibility": "public"}));
    alice.enter("Hidden");
    alice.claim("Hidden");
    let mut carol = member(&server, "carol", "lobby");
    carol.said("lobby", "anyone here?");
    let rooms = alice
        .ok(json!({"type": "list_rooms"}), &[is("rooms")])
        .remove(0);
    check(&rooms);
    let web = server.get("/rooms?format=json", Some(&alice.token));
    assert_eq!(web.status, 200, "{}", web.body);
    check(&serde_json::from_str(&web.body).expect("JSON"));
}

#[test]
fn with_the_directory_off_nothing_is_listed_and_the_answer_says_so() {
    directory("off", |answer| {
        assert_eq!(answer["rooms"], json!([]), "{answer}");
        assert_eq!(answer["off"], true, "{answer}");
        assert!(answer["next"].is_null(), "{answer}");
    });
}

#[test]
fn with_the_directory_all_unowned_open_rooms_are_listed_too_but_not_unlisted_owned_ones() {
    directory("all", |answer| {
        let listed = names(answer);
        assert!(listed.contains(&"Games".to_string()), "{answer}");
        assert!(listed.contains(&"lobby".to_string()), "{answer}");
        assert!(!listed.contains(&"Hidden".to_string()), "{answer}");
    });
}

// ---------------------------------------------------------------- guessing

/// Send `attempt` until it is answered `rate_limited`: the `wrong` answers
/// before that (each must be `code`). A guess that costs 10 points meets a
/// threshold of 25 by the third; at a message's cost it would take 20.
fn guesses_until_limited(
    person: &mut Person,
    attempt: Value,
    accepted: fn() -> common::rooms::Want,
    code: &str,
) -> usize {
    for n in 1..=3 {
        let error = person
            .request(attempt.clone(), &[accepted()])
            .expect_err("a wrong guess is refused");
        if error["code"] == "rate_limited" {
            assert!(error["retry_after"].as_u64().is_some(), "{error}");
            return n - 1;
        }
        assert_eq!(error["code"], code, "guess {n}: {error}");
    }
    panic!("three wrong guesses of {attempt} in a row were not rate limited");
}

#[test]
fn wrong_keys_invites_and_passwords_cost_enough_rate_budget_to_stop_guessing() {
    let server = common::start_with(|c| {
        c.rate_limit = Some(25.0);
        c.address_rate_limit = Some(100_000.0);
    });
    // One owner per room: a claim costs 10 points of its session's 25.
    let (_alice, _) = owner(&server, "alice", "Den");
    let (mut erin, _) = owner(&server, "erin", "Club");
    erin.set_room("Club", json!({"access": "invite"}));
    let (mut frank, _) = owner(&server, "frank", "Vault");
    frank.set_room(
        "Vault",
        json!({"access": "password", "password": "hunter22"}),
    );

    let mut bob = member(&server, "bob", "Den");
    let key = json!({"type": "auth", "room": "Den", "key": "ok_4q8c1m2j7w0x9s3d5f6g7h8k0a1b2c3d"});
    let wrong = guesses_until_limited(&mut bob, key, || is("room"), "bad_key");
    assert!(wrong >= 1, "a first guess is answered");
    let mut carol = server.person("carol");
    let invite = json!({"type": "join", "room": "Club", "invite": "iv_8f3k2m7q1x9w4c6d0e2r"});
    guesses_until_limited(&mut carol, invite, || is("joined"), "bad_invite");
    let mut dave = server.person("dave");
    let password = json!({"type": "join", "room": "Vault", "password": "guess1234"});
    guesses_until_limited(&mut dave, password, || is("joined"), "bad_password");
}

// ---------------------------------------------------------------- lapse

#[test]
fn a_lapsed_claim_can_be_claimed_again_and_the_old_key_is_then_refused() {
    // About 2.6 s of claim (--room-claim-days takes fractions).
    let natter = common::Binary::start(&["--rate-limit", "off", "--room-claim-days", "0.00003"]);
    let server = natter.server();
    let mut bob = member(&server, "bob", "Den");
    let mut carol = member(&server, "carol", "Den");
    let (mut alice, key) = owner(&server, "alice", "Den");
    let settings = bob
        .wait(&[room_where(|s| s["owned"] == true)])
        .unwrap()
        .remove(0)["settings"]
        .clone();
    let lapses = settings["lapses_ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("an owned room says when its claim lapses: {settings}"));
    assert!(lapses <= now_ms() + 3_000, "{settings}");
    alice.set_role("Den", &carol.uid, "moderator");
    alice.set_room("Den", json!({"visibility": "public"}));
    let listed = bob
        .ok(json!({"type": "list_rooms"}), &[is("rooms")])
        .remove(0);
    assert_eq!(names(&listed), ["Den"], "{listed}");
    // A claim that is live cannot be taken.
    bob.refused(
        json!({"type": "claim", "room": "Den"}),
        &[is("claimed")],
        "already_owned",
    );
    // The owner goes away; the claim lapses with no owner coming back.
    let (alice_token, alice_uid) = (alice.token.clone(), alice.uid.clone());
    drop(alice);
    while now_ms() <= lapses + 200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Lapsed, it is nobody's, so not in the directory.
    let listed = bob
        .ok(json!({"type": "list_rooms"}), &[is("rooms")])
        .remove(0);
    assert_eq!(names(&listed), Vec::<String>::new(), "{listed}");
    let new_key = bob.claim("Den");
    assert_ne!(new_key, key);
    let settings = carol
        .wait(&[room_where(|s| s["owner"] == "bob")])
        .unwrap()
        .remove(0)["settings"]
        .clone();
    assert_eq!(role_of(&settings, &bob.uid), "owner", "{settings}");
    assert_eq!(
        role_of(&settings, &carol.uid),
        "member",
        "the roles start over: {settings}"
    );
    assert_eq!(role_of(&settings, &alice_uid), "member", "{settings}");

    // The old owner's key (a replayed key) is refused now.
    let mut alice = server.connect().session(&alice_token).open();
    alice.recv_type("hello");
    alice.enter("Den");
    alice.refused(
        json!({"type": "auth", "room": "Den", "key": key}),
        &[room_where(move |s| role_of(s, &alice_uid) == "owner")],
        "bad_key",
    );
}

// ---------------------------------------------------------------- limits

#[test]
fn an_identity_owns_at_most_20_rooms_and_settings_keep_to_their_limits() {
    let server = common::start();
    let mut alice = server.person("alice");
    for n in 1..=20 {
        let room = format!("Room{n}");
        alice.enter(&room);
        alice.claim(&room);
    }
    alice.enter("Room21");
    alice.refused(
        json!({"type": "claim", "room": "Room21"}),
        &[is("claimed")],
        "limit_reached",
    );

    // A topic of 300 characters is fine, 301 is not.
    let topic = "x".repeat(300);
    alice.set_room("Room1", json!({"topic": topic}));
    alice
        .request(
            json!({"type": "set_room", "room": "Room1", "topic": "y".repeat(301)}),
            &[room_where(|s| {
                s["topic"].as_str().is_some_and(|t| t.starts_with('y'))
            })],
        )
        .expect_err("a topic of 301 characters is refused");

    // 50 live invites in a room, not 51.
    for _ in 0..50 {
        alice.invite("Room2", json!({}));
    }
    alice.refused(
        json!({"type": "invite", "room": "Room2"}),
        &[is("invite_created")],
        "limit_reached",
    );

    // An invite lives 30 days at most, a mute 24 hours at most: asked for
    // more, the server refuses or gives the most.
    match alice.request(
        json!({"type": "invite", "room": "Room1", "max_age_s": 90 * 24 * 3600}),
        &[is("invite_created")],
    ) {
        Ok(frames) => {
            let expires = frames[0]["expires_ts"].as_u64().unwrap();
            assert!(
                expires <= now_ms() + 30 * 24 * 3600 * 1000 + 60_000,
                "{}",
                frames[0]
            );
        }
        Err(error) => assert_ne!(error["code"], "unknown_type", "{error}"),
    }
    alice
        .request(
            json!({"type": "invite", "room": "Room1", "max_uses": 1001}),
            &[is("invite_created")],
        )
        .map(|f| assert!(f[0]["max_uses"].as_u64().unwrap() <= 1000, "{}", f[0]))
        .unwrap_or_else(|error| assert_ne!(error["code"], "unknown_type", "{error}"));
    let mut bob = member(&server, "bob", "Room1");
    // A reason of 201 characters is refused, and nothing happens.
    alice
        .request(
            on_user("kick", "Room1", "bob", json!({"reason": "r".repeat(201)})),
            &[notice_on("kick", "bob")],
        )
        .expect_err("a reason of 201 characters is refused");
    bob.said("Room1", "still here");
    match alice.request(
        on_user("mute", "Room1", "bob", json!({"minutes": 7 * 24 * 60})),
        &[notice_on("mute", "bob")],
    ) {
        Ok(frames) => {
            let until = frames[0]["until_ts"].as_u64().unwrap();
            assert!(
                until <= now_ms() + 24 * 3600 * 1000 + 60_000,
                "{}",
                frames[0]
            );
        }
        Err(error) => assert_ne!(error["code"], "unknown_type", "{error}"),
    }
    // A mute without minutes: ten.
    alice.ok(
        on_user("unmute", "Room1", "bob", json!({})),
        &[notice_on("unmute", "bob")],
    );
    let frames = alice.ok(
        on_user("mute", "Room1", "bob", json!({})),
        &[notice_on("mute", "bob")],
    );
    about_from_now(&frames[0]["until_ts"], 600);
    bob.refused(say("Room1", "hm"), &[is("message")], "muted");
}

#[test]
fn the_directory_pages_by_50_and_needs_a_login() {
    let server = common::start();
    let mut owners: Vec<Person> = Vec::new();
    for (o, name) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let mut person = server.person(name);
        for n in 0..17 {
            let room = format!("Public{:02}", o * 17 + n);
            person.enter(&room);
            person.claim(&room);
            person.set_room(&room, json!({"visibility": "public"}));
        }
        owners.push(person);
    }
    let alice = &mut owners[0];
    let first = alice
        .ok(json!({"type": "list_rooms", "after": null}), &[is("rooms")])
        .remove(0);
    assert_eq!(names(&first).len(), 50, "{first}");
    let next = first["next"].clone();
    assert!(!next.is_null(), "there is a second page: {first}");
    let second = alice
        .ok(json!({"type": "list_rooms", "after": next}), &[is("rooms")])
        .remove(0);
    assert!(second["next"].is_null(), "{second}");
    let mut all = names(&first);
    all.extend(names(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 51, "every public room once: {all:?}");

    let after = next
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| next.to_string());
    let web = server.get(
        &format!("/rooms?format=json&after={after}"),
        Some(&alice.token),
    );
    assert_eq!(web.status, 200, "{}", web.body);
    let web: Value = serde_json::from_str(&web.body).unwrap();
    assert_eq!(names(&web), names(&second), "the same second page");
    for path in ["/rooms", "/rooms?format=json"] {
        let anonymous = server.get(path, None);
        assert_ne!(anonymous.status, 200, "logged-in people only: {path}");
        assert!(!anonymous.body.contains("Public00"), "{}", anonymous.body);
    }
}

#[test]
fn a_dm_stays_two_peoples_whatever_is_tried_before_or_after_it_is_opened() {
    let server = common::start();
    let mut alice = member(&server, "alice", "lobby");
    let mut bob = member(&server, "bob", "lobby");
    let mut eve = member(&server, "eve", "lobby");
    // Squatting the name before the DM exists: refused, in either order.
    for name in [
        format!("dm:{}:{}", alice.uid, bob.uid),
        format!("dm:{}:{}", bob.uid, alice.uid),
    ] {
        eve.request(join(&name), &[is("joined")])
            .expect_err("a dm: name is not a room anyone can make by joining");
    }
    let room = alice
        .ok(
            json!({"type": "dm", "room": "lobby", "user": "bob"}),
            &[is("dm")],
        )
        .remove(0)["room"]
        .as_str()
        .unwrap()
        .to_string();
    alice.enter(&room);
    bob.enter(&room);
    // One of the two tries to open it up: claim it, make it open, invite.
    let _ = alice.request(json!({"type": "claim", "room": room}), &[is("claimed")]);
    let _ = alice.request(
        json!({"type": "set_room", "room": room, "access": "open"}),
        &[room_where(|s| s["access"] == "open")],
    );
    let invite = alice
        .request(
            json!({"type": "invite", "room": room}),
            &[is("invite_created")],
        )
        .ok()
        .map(|mut f| f.remove(0)["code"].clone());
    // Still only the two.
    eve.refused(join(&room), &[is("joined")], "forbidden");
    if let Some(code) = invite {
        eve.request(
            json!({"type": "join", "room": room, "invite": code}),
            &[is("joined")],
        )
        .expect_err("no invite opens a DM");
    }
    let joined = bob.enter(&room);
    assert_eq!(joined["settings"]["access"], "dm", "{joined}");
    assert_eq!(joined["settings"]["dm"], true, "{joined}");
}

// ---------------------------------------------------------------- races

/// Whether `person`'s `join`/`claim` just sent was taken: `Ok` with the
/// frame, or the error.
fn outcome(client: &mut common::Client, kind: &'static str) -> Result<Value, Value> {
    client.wait(&[is(kind)]).map(|mut f| f.remove(0))
}

/// A server on a database file whose every commit takes 300 ms: the second
/// request of a pair arrives while the first one's change is on its way to
/// the disk.
fn slow_disk(dir: &common::TempDir) -> TestServer {
    common::start_with(|c| {
        c.db = dir.file("natter.db");
        c.commit_delay = std::time::Duration::from_millis(300);
    })
}

#[test]
fn two_claims_at_once_make_one_owner_even_while_the_first_is_being_stored() {
    let dir = common::TempDir::new("rooms-race-claim");
    let server = slow_disk(&dir);
    let mut bob = member(&server, "bob", "Den");
    let mut carol = member(&server, "carol", "Den");
    let claim = json!({"type": "claim", "room": "Den"});
    bob.send(claim.clone());
    carol.send(claim);
    let answers = [outcome(&mut bob, "claimed"), outcome(&mut carol, "claimed")];
    let won = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(won, 1, "exactly one claim: {answers:?}");
    let lost = answers.iter().find_map(|a| a.clone().err()).unwrap();
    assert_eq!(lost["code"], "already_owned", "{lost}");
    // And the room says one owner.
    let joined = server.person("dave").enter("Den");
    let owners = joined["settings"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "owner")
        .count();
    assert_eq!(owners, 1, "{joined}");
}

#[test]
fn a_one_use_invite_used_twice_at_once_lets_one_in() {
    let dir = common::TempDir::new("rooms-race-invite");
    let server = slow_disk(&dir);
    let (mut alice, _) = owner(&server, "alice", "Den");
    alice.set_room("Den", json!({"access": "invite"}));
    let invite = alice.invite("Den", json!({"max_uses": 1}));
    let mut dave = server.person("dave");
    let mut erin = server.person("erin");
    let with_invite = json!({"type": "join", "room": "Den", "invite": invite["code"]});
    dave.send(with_invite.clone());
    erin.send(with_invite);
    let answers = [outcome(&mut dave, "joined"), outcome(&mut erin, "joined")];
    assert_eq!(
        answers.iter().filter(|a| a.is_ok()).count(),
        1,
        "one use: {answers:?}"
    );
    let lost = answers.iter().find_map(|a| a.clone().err()).unwrap();
    assert_eq!(lost["code"], "bad_invite", "{lost}");
}

#[test]
fn a_new_tab_joining_while_its_ban_is_being_stored_ends_up_out() {
    let dir = common::TempDir::new("rooms-race-ban");
    let server = slow_disk(&dir);
    let (mut alice, _) = owner(&server, "alice", "Den");
    let mut mallory = member(&server, "mallory", "Den");
    let (mut tab, _) = server.tab(&mallory);
    alice.send(on_uid("ban", "Den", &mallory.uid, json!({})));
    tab.send(join("Den"));
    mallory.recv_type("removed");
    // Refused, or let in and removed with the rest: out either way.
    match outcome(&mut tab, "joined") {
        Ok(_) => {
            tab.recv_type("removed");
        }
        Err(error) => assert_eq!(error["code"], "banned", "{error}"),
    }
    tab.refused(say("Den", "am I in?"), &[is("message")], "not_joined");
    tab.refused(join("Den"), &[is("joined")], "banned");
}

#[test]
fn a_new_tab_joining_while_its_kick_from_an_invite_room_is_being_stored_ends_up_out() {
    let dir = common::TempDir::new("rooms-race-kick");
    let server = slow_disk(&dir);
    let (mut alice, _) = owner(&server, "alice", "Den");
    alice.set_room("Den", json!({"access": "invite"}));
    let invite = alice.invite("Den", json!({}));
    let mut mallory = server.person("mallory");
    mallory.enter_with(json!({"type": "join", "room": "Den", "invite": invite["code"]}));
    let (mut tab, _) = server.tab(&mallory);
    alice.send(on_uid("kick", "Den", &mallory.uid, json!({})));
    tab.send(join("Den"));
    mallory.recv_type("removed");
    match outcome(&mut tab, "joined") {
        Ok(_) => {
            tab.recv_type("removed");
        }
        Err(error) => assert_eq!(error["code"], "invite_required", "{error}"),
    }
    tab.refused(say("Den", "am I in?"), &[is("message")], "not_joined");
    tab.refused(join("Den"), &[is("joined")], "invite_required");
}

#[test]
fn two_people_opening_a_dm_with_each_other_at_once_get_one_room() {
    let dir = common::TempDir::new("rooms-race-dm");
    let server = slow_disk(&dir);
    let mut alice = member(&server, "alice", "lobby");
    let mut bob = member(&server, "bob", "lobby");
    alice.send(json!({"type": "dm", "room": "lobby", "user": "bob"}));
    bob.send(json!({"type": "dm", "room": "lobby", "user": "alice"}));
    // Each gets its answer (and perhaps the other's first): the same room.
    let mut rooms = Vec::new();
    for person in [&mut alice, &mut bob] {
        let dm = person.wait(&[is("dm")]).expect("the DM opens").remove(0);
        rooms.push(dm["room"].as_str().unwrap().to_string());
    }
    rooms.dedup();
    assert_eq!(rooms.len(), 1, "one room for the two: {rooms:?}");
    let (_, hello) = server.tab(&alice);
    let listed = hello["dms"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{hello}");
}

#[test]
fn closing_a_room_keeps_whoever_is_in_it_as_members() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Club");
    let bob = member(&server, "bob", "Club");
    alice.set_room("Club", json!({"access": "invite", "locked": true}));
    // bob was in it when it closed: he comes back, from a new tab too.
    let (mut tab, _) = server.tab(&bob);
    tab.enter("Club");
    let export = server.get("/export/Club", Some(&bob.token));
    assert_eq!(export.status, 200, "{}", export.body);
    let mut carol = server.person("carol");
    let error = carol
        .request(join("Club"), &[is("joined")])
        .expect_err("a newcomer is refused");
    assert!(
        error["code"] == "locked" || error["code"] == "invite_required",
        "{error}"
    );
}

// ---------------------------------------------------------------- invite links

#[test]
fn an_invite_links_code_rides_through_the_login_form_to_the_room() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Club");
    alice.set_room("Club", json!({"access": "invite"}));
    let invite = alice.invite("Club", json!({}));
    let code = invite["code"].as_str().unwrap().to_string();
    let url = invite["url"].as_str().unwrap().to_string();

    // A logged-out visitor opens the link: the login form keeps the code.
    let first = server.get(&url, None);
    assert_eq!(first.status, 303, "{}", first.body);
    let login_page = first
        .header("location")
        .expect("sent to log in")
        .to_string();
    let form = server.get(&login_page, None);
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(
        common::input_value(&form.body, "invite"),
        Some(code.as_str()),
        "{}",
        form.body
    );
    // Logging in goes on to the room's page with the code, and the page's
    // join with it lets the newcomer in.
    let login = server.post_form(
        "/login",
        &[("name", "carol"), ("room", "Club"), ("invite", &code)],
        None,
    );
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.header("location"), Some(url.as_str()));
    let token = login.cookie().unwrap();
    let mut carol = server.connect().session(&token).open();
    carol.recv_type("hello");
    carol.enter_with(json!({"type": "join", "room": "Club", "invite": code}));

    // What does not look like a code is not carried (nor shown).
    let odd = server.get(
        "/r/Club?invite=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        None,
    );
    if let Some(next) = odd.header("location") {
        let page = server.get(next, None);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
    }
    assert!(!odd.body.contains("<script>alert"), "{}", odd.body);
}

#[test]
fn a_moderation_target_is_someone_present_by_name_or_anyone_by_uid() {
    let server = common::start();
    let (mut alice, _) = owner(&server, "alice", "Hall");
    let bob = member(&server, "bob", "Hall");
    for frame in [
        // Nobody of that name is here.
        on_user("kick", "Hall", "ghost", json!({})),
        // No target at all.
        json!({"type": "mute", "room": "Hall", "minutes": 5}),
        // A uid that is not one.
        on_uid("ban", "Hall", "not a uid", json!({})),
    ] {
        let sent = frame.to_string();
        let error = alice
            .request(
                frame,
                &[Box::new(|v: &Value| {
                    v["type"] == "system"
                        && ["kick", "mute", "ban"].contains(&v["event"].as_str().unwrap_or(""))
                })],
            )
            .expect_err("no such target");
        assert_ne!(error["code"], "unknown_type", "{sent} → {error}");
    }
    // bob is untouched, and the room still works.
    alice.said("Hall", "all quiet");
    drop(bob);
}

#[test]
fn an_owner_key_works_from_a_new_browser_outside_a_private_room() {
    // A new session (another uid) cannot join the locked invite room to send auth
    // from inside it: auth works from outside, and then the door opens.
    let server = common::start();
    let (mut alice, key) = owner(&server, "alice", "Club");
    alice.set_room("Club", json!({"access": "invite", "locked": true}));
    let mut again = server.person("alice2");
    again.refused(join("Club"), &[is("joined")], "locked");
    let uid = again.uid.clone();
    again.ok(
        json!({"type": "auth", "room": "Club", "key": key}),
        &[is("room")],
    );
    let joined = again.enter("Club");
    assert_eq!(role_of(&joined["settings"], &uid), "owner", "{joined}");
    // A wrong key from outside is still bad_key, and opens nothing.
    let mut eve = server.person("eve");
    eve.refused(
        json!({"type": "auth", "room": "Club", "key": "ok_4q8c1m2j7w0x9s3d5f6g7h8k0a1b2c3d"}),
        &[is("room")],
        "bad_key",
    );
    eve.refused(join("Club"), &[is("joined")], "locked");
}

#[test]
fn a_room_name_that_looks_like_a_dm_cannot_be_joined_to_sit_in_one() {
    let server = common::start();
    let mut alice = member(&server, "alice", "lobby");
    let bob = member(&server, "bob", "lobby");
    let room = alice
        .ok(
            json!({"type": "dm", "room": "lobby", "user": "bob"}),
            &[is("dm")],
        )
        .remove(0)["room"]
        .as_str()
        .unwrap()
        .to_string();
    // U+A4FD LISU LETTER TONE MYA JEU looks like ":".
    let look_alike = room.replace(':', "\u{a4fd}");
    let mut eve = member(&server, "eve", "lobby");
    eve.request(join(&look_alike), &[is("joined")])
        .expect_err("a look-alike of a DM's name is refused");
    alice.enter(&room);
    alice.said(&room, "just us");
    // eve got nothing of it: her next message is one said after it.
    alice.said("lobby", "hi all");
    eve.next_message_is("hi all");
    drop(bob);
}
