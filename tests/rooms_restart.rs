//! Rooms' state survives `kill -9` (issue 16: settings and moderation go
//! through commit before you tell): after a crash and a start on the same
//! database, the owner is still the owner (and the owner key still proves
//! it), moderators are still moderators, bans (by identity and by address)
//! and mutes still hold with the same end, live invites still let people in
//! (revoked ones do not), and members of a private room are still members.

use natter_testkit as common;

use common::rooms::{is, notice, role_of, room_where, Person, Rooms};
use common::{Binary, Client, TestServer};
use serde_json::{json, Value};

/// `person`'s session again, on `server`, from the same address (the kit's
/// second tab: it checks the session came back with the same `uid`).
fn reconnect(server: &TestServer, person: &Person) -> Client {
    server.tab(person).0
}

fn join(room: &str) -> Value {
    json!({"type": "join", "room": room})
}

fn with_invite(room: &str, code: &Value) -> Value {
    json!({"type": "join", "room": room, "invite": code})
}

#[test]
fn ownership_roles_bans_mutes_and_invites_survive_a_kill_9() {
    let dir = common::TempDir::new("rooms-restart");
    let db = dir.file("natter.db");
    let args = ["--rate-limit", "off", "--db", db.as_str()];
    let mut natter = Binary::start(&args);
    let server = natter.server();

    let mut alice = server.person("alice");
    alice.enter("Keep");
    let key = alice.claim("Keep");
    let mut bob = server.person("bob");
    bob.enter("Keep");
    alice.set_role("Keep", &bob.uid, "moderator");
    let mut mallory = server.person("mallory");
    mallory.enter("Keep");
    let mut trudy = server.person("trudy");
    trudy.enter("Keep");
    let mut ivan = server.person_from("ivan", "127.0.0.2");
    ivan.enter("Keep");

    // A ban until lifted, an address ban, and a mute of an hour.
    alice.ok(
        json!({"type": "ban", "room": "Keep", "uid": mallory.uid, "reason": "spam"}),
        &[notice("ban")],
    );
    mallory.recv_type("removed");
    alice.ok(
        json!({"type": "ban", "room": "Keep", "user": "ivan", "ip": true, "minutes": 60}),
        &[notice("ban")],
    );
    ivan.recv_type("removed");
    let muted = alice.ok(
        json!({"type": "mute", "room": "Keep", "user": "trudy", "minutes": 60}),
        &[notice("mute")],
    );
    let until = muted[0]["until_ts"].as_u64().expect("a mute has an end");

    // Private, with a topic; one invite used once, one revoked.
    alice.set_room(
        "Keep",
        json!({"access": "invite", "topic": "kept across crashes"}),
    );
    let invite = alice.invite("Keep", json!({"max_uses": 5}));
    let mut carol = server.person("carol");
    carol.enter_with(with_invite("Keep", &invite["code"]));
    let revoked = alice.invite("Keep", json!({}));
    let revoked_id = revoked["id"].as_str().unwrap().to_string();
    let gone = revoked_id.clone();
    alice.ok(
        json!({"type": "revoke_invite", "room": "Keep", "id": revoked_id}),
        &[room_where(move |s| {
            !s["invites"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["id"] == gone.as_str()))
        })],
    );

    // The last change was answered: it is stored. Crash.
    natter.signal("KILL");
    natter.wait_exit(common::DEADLINE).expect("SIGKILL ends it");

    let natter = Binary::start(&args);
    let server = natter.server();
    let mut alice_again = reconnect(&server, &alice);
    let joined = alice_again.enter("Keep");
    let settings = &joined["settings"];
    assert_eq!(settings["owned"], true, "{joined}");
    assert_eq!(settings["owner"], "alice", "{settings}");
    assert_eq!(role_of(settings, &alice.uid), "owner", "{settings}");
    assert_eq!(role_of(settings, &bob.uid), "moderator", "{settings}");
    assert_eq!(settings["access"], "invite", "{settings}");
    assert_eq!(settings["topic"], "kept across crashes", "{settings}");
    let mute = settings["muted"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["uid"] == trudy.uid.as_str()))
        .unwrap_or_else(|| panic!("trudy is still muted: {settings}"));
    assert_eq!(mute["until_ts"], until, "the same end: {mute}");
    let invites: Vec<&Value> = settings["invites"]
        .as_array()
        .unwrap_or_else(|| panic!("invites are listed: {settings}"))
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert!(invites.contains(&&invite["id"]), "{settings}");
    assert!(!invites.contains(&&revoked["id"]), "{settings}");

    // The roles act as before.
    let mut bob_again = reconnect(&server, &bob);
    bob_again.enter("Keep");
    bob_again.refused(
        json!({"type": "claim", "room": "Keep"}),
        &[is("claimed")],
        "already_owned",
    );
    let mut bans = alice_again
        .ok(json!({"type": "bans", "room": "Keep"}), &[is("bans")])
        .remove(0);
    let banned: Vec<Value> = bans["bans"].as_array_mut().unwrap().drain(..).collect();
    let uids: Vec<&Value> = banned.iter().map(|b| &b["uid"]).collect();
    assert!(uids.contains(&&json!(mallory.uid)), "{banned:?}");
    assert!(uids.contains(&&json!(ivan.uid)), "{banned:?}");

    // The bans hold: the identity, and the address for a new session.
    let mut mallory_again = reconnect(&server, &mallory);
    mallory_again.refused(join("Keep"), &[is("joined")], "banned");
    let mut ivan2 = server.person_from("ivan2", "127.0.0.2");
    ivan2.refused(
        with_invite("Keep", &invite["code"]),
        &[is("joined")],
        "banned",
    );

    // The mute holds, with its end.
    let mut trudy_again = reconnect(&server, &trudy);
    let joined = trudy_again.enter("Keep");
    assert_eq!(joined["muted_until"], until, "{joined}");
    let error = trudy_again.refused(
        json!({"type": "message", "room": "Keep", "text": "free at last?"}),
        &[is("message")],
        "muted",
    );
    assert_eq!(error["until_ts"], until, "{error}");

    // Members are members; the live invite works, the revoked one does not.
    let mut carol_again = reconnect(&server, &carol);
    carol_again.enter("Keep");
    let mut dave = server.person("dave");
    dave.refused(join("Keep"), &[is("joined")], "invite_required");
    dave.refused(
        with_invite("Keep", &revoked["code"]),
        &[is("joined")],
        "bad_invite",
    );
    dave.enter_with(with_invite("Keep", &invite["code"]));

    // And the owner key still proves ownership, from a new session.
    let dave_uid = dave.uid.clone();
    dave.ok(
        json!({"type": "auth", "room": "Keep", "key": key}),
        &[room_where(move |s| role_of(s, &dave_uid) == "owner")],
    );
}

#[test]
fn a_password_a_lock_and_a_dm_survive_a_kill_9() {
    let dir = common::TempDir::new("rooms-restart-dm");
    let db = dir.file("natter.db");
    let args = ["--rate-limit", "off", "--db", db.as_str()];
    let mut natter = Binary::start(&args);
    let server = natter.server();

    let mut alice = server.person("alice");
    alice.enter("Vault");
    alice.claim("Vault");
    alice.set_room(
        "Vault",
        json!({"access": "password", "password": "hunter22"}),
    );
    let mut bob = server.person("bob");
    bob.enter_with(json!({"type": "join", "room": "Vault", "password": "hunter22"}));
    alice.set_room("Vault", json!({"locked": true}));
    let dm = alice
        .ok(
            json!({"type": "dm", "room": "Vault", "user": "bob"}),
            &[is("dm")],
        )
        .remove(0);
    let room = dm["room"].as_str().unwrap().to_string();
    alice.enter(&room);
    alice.said(&room, "before the crash");

    natter.signal("KILL");
    natter.wait_exit(common::DEADLINE).expect("SIGKILL ends it");

    let natter = Binary::start(&args);
    let server = natter.server();
    let mut bob_again = reconnect(&server, &bob);
    let hello_dms = {
        let (_, hello) = server.tab(&bob);
        hello["dms"].clone()
    };
    assert!(
        hello_dms.as_array().is_some_and(|d| d
            .iter()
            .any(|d| d["room"] == room.as_str() && d["with"] == "alice")),
        "{hello_dms}"
    );
    // A member of the password room, not asked again, though it is locked.
    let joined = bob_again.enter("Vault");
    assert_eq!(joined["settings"]["locked"], true, "{joined}");
    assert_eq!(joined["settings"]["access"], "password", "{joined}");
    let joined = bob_again.enter(&room);
    assert!(
        joined["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|m| m["text"] == "before the crash")),
        "{joined}"
    );
    // A newcomer: locked (even with the password), and the DM is not theirs.
    let mut carol = server.person("carol");
    let error = carol
        .request(
            json!({"type": "join", "room": "Vault", "password": "hunter22"}),
            &[is("joined")],
        )
        .expect_err("a locked room refuses a newcomer");
    assert_eq!(error["code"], "locked", "{error}");
    carol.refused(join(&room), &[is("joined")], "forbidden");
    // Unlocked, the password still counts.
    let mut alice_again = reconnect(&server, &alice);
    alice_again.enter("Vault");
    alice_again.set_room("Vault", json!({"locked": false}));
    carol.refused(
        json!({"type": "join", "room": "Vault", "password": "wrong one"}),
        &[is("joined")],
        "bad_password",
    );
    carol.enter_with(json!({"type": "join", "room": "Vault", "password": "hunter22"}));
    drop(alice);
}

#[test]
fn owner_keys_invite_codes_and_room_passwords_are_stored_only_as_hashes() {
    let dir = common::TempDir::new("rooms-hashed");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = server.person("alice");
    alice.enter("Vault");
    let key = alice.claim("Vault");
    let topic = "topic-marker-5521-in-the-file";
    alice.set_room("Vault", json!({"topic": topic}));
    let invite = alice.invite("Vault", json!({}));
    let code = invite["code"].as_str().unwrap().to_string();
    let password = "pw-marker-8812";
    alice.set_room("Vault", json!({"access": "password", "password": password}));
    drop(alice);
    assert!(server.shutdown());

    // Every file natter left (the database, its log), byte for byte.
    let files: Vec<Vec<u8>> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    let stored = |needle: &str| {
        files
            .iter()
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    assert!(stored(topic), "the control: the topic is in the files");
    let secret = |s: &str| s.split_once('_').map_or(s, |(_, rest)| rest).to_string();
    assert!(
        !stored(&secret(&key)),
        "the owner key is stored as a hash only"
    );
    assert!(
        !stored(&secret(&code)),
        "the invite code is stored as a hash only"
    );
    assert!(
        !stored(password),
        "the room password is stored as a hash only"
    );
}
