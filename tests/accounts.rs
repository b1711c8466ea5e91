//! Claimed names: a name claimed with a password is reserved in every room,
//! logging in under it needs the password (from any device, for 30 days),
//! wrong guesses are limited, and an operator can reset or free it.

use std::process::Command;

use natter_testkit as common;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

/// Claim the name of `token`'s session; the status and the JSON answer.
fn claim(server: &common::TestServer, token: &str, password: &str, confirm: &str) -> (u16, Value) {
    let fields = [("password", password), ("confirm", confirm)];
    let response = server.post_form("/account/claim", &fields, Some(token));
    let body = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    (response.status, body)
}

/// A login with a password: its status, body and cookie.
fn login(
    server: &common::TestServer,
    name: &str,
    room: &str,
    password: &str,
) -> common::HttpResponse {
    let fields = [("name", name), ("room", room), ("password", password)];
    server.post_form("/login", &fields, None)
}

/// Log in as alice, open a socket (a session is real once used), claim.
fn claimed_alice(server: &common::TestServer) -> (String, common::Client, String) {
    let token = server.login("alice", "lobby");
    let mut client = server.connect().session(&token).open();
    let hello = client.recv_type("hello");
    assert_eq!(hello["verified"], false);
    let (status, body) = claim(server, &token, PASSWORD, PASSWORD);
    assert_eq!(
        (status, &body),
        (200, &json!({"ok": true, "user": "alice"}))
    );
    let uid = hello["uid"].as_str().unwrap().to_string();
    (token, client, uid)
}

#[test]
fn a_claimed_name_needs_its_password_in_every_room_and_works_from_another_client() {
    let server = common::start();
    let (_token, mut alice, uid) = claimed_alice(&server);
    alice.join("lobby");
    for (name, room) in [
        ("alice", "kitchen"),
        ("ALICE", "lobby"),
        ("\u{430}lice", "garden"),
    ] {
        let response = server.post_form("/login", &[("name", name), ("room", room)], None);
        assert_eq!(response.status, 400, "{name}");
        assert!(
            response.body.contains("is a claimed name"),
            "{}",
            response.body
        );
        let wrong = login(&server, name, room, "not the password");
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("Wrong password"), "{}", wrong.body);
    }
    // The right password, from another device, in another room and in the
    // same one: the same person, with the same public id.
    for room in ["kitchen", "lobby"] {
        let response = login(&server, "alice", room, PASSWORD);
        assert_eq!(response.status, 303, "{}", response.body);
        let token = response.cookie().unwrap();
        let mut other = server.connect().session(&token).open();
        let hello = other.recv_type("hello");
        assert_eq!(
            (hello["verified"].clone(), hello["uid"].clone()),
            (json!(true), json!(uid))
        );
        let joined = other.join(room);
        assert_eq!(joined["verified"], json!(["alice"]));
        assert_eq!(
            joined["members"],
            json!(["alice"]),
            "one member on two devices"
        );
    }
    // Messages and member lists show it to everyone else.
    let mut bob = server.connect().user("bob");
    bob.join("lobby");
    alice.say("lobby", "it is me");
    let message = bob.recv_message();
    assert_eq!(
        (message["verified"].clone(), message["uid"].clone()),
        (json!(true), json!(uid))
    );
    bob.say("lobby", "hi");
    assert!(
        bob.recv_message().get("verified").is_none(),
        "a temporary name has no check mark"
    );
}

#[test]
fn the_claim_is_announced_and_refused_when_it_cannot_be_had() {
    let server = common::start();
    let token = server.login("carol", "lobby");
    let mut carol = server.connect().session(&token).past_hello();
    carol.join("lobby");
    let mut bob = server.connect().user("bob");
    bob.join("lobby");
    assert_eq!(claim(&server, &token, "short", "short").0, 400);
    let (status, body) = claim(&server, &token, PASSWORD, "something else entirely");
    assert_eq!(status, 400, "{body}");
    // Another "carol" in another room: the name is in use elsewhere.
    let other = server.login("carol", "kitchen");
    let _other_socket = server.connect().session(&other).past_hello();
    let (status, body) = claim(&server, &token, PASSWORD, PASSWORD);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("in use"), "{body}");
    assert_eq!(claim(&server, "no-such-session", PASSWORD, PASSWORD).0, 401);
    // Once the other has gone, the claim goes through, and bob is told.
    server.post_form("/logout", &[], Some(&other));
    let (status, body) = claim(&server, &token, PASSWORD, PASSWORD);
    assert_eq!(status, 200, "{body}");
    loop {
        let presence = bob.recv_type("presence");
        if presence["verified"] == json!(["carol"]) {
            break;
        }
    }
    assert_eq!(
        claim(&server, &token, PASSWORD, PASSWORD).0,
        409,
        "already yours"
    );
    // One claim per address every 30 s.
    let dave = server.login("dave", "lobby");
    let _dave_socket = server.connect().session(&dave).past_hello();
    let (status, body) = claim(&server, &dave, PASSWORD, PASSWORD);
    assert_eq!(status, 429, "{body}");
    assert!(body["retry_after"]
        .as_u64()
        .is_some_and(|s| (1..=30).contains(&s)));
}

#[test]
fn wrong_guesses_are_limited_before_anything_is_hashed() {
    let server = common::start();
    claimed_alice(&server);
    for _ in 0..5 {
        assert_eq!(login(&server, "alice", "lobby", "guess").status, 400);
    }
    let limited = login(&server, "alice", "lobby", PASSWORD);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("Retry-After").is_some());
    assert!(limited.body.contains("Too many wrong passwords"));
    // Unclaimed names are not touched by it.
    assert_eq!(
        server
            .post_form("/login", &[("name", "bob"), ("room", "lobby")], None)
            .status,
        303
    );
}

#[test]
fn account_sessions_survive_a_restart_and_an_operator_can_reset_or_free_the_name() {
    let dir = common::TempDir::new("accounts");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let (_token, alice, uid) = claimed_alice(&server);
    drop(alice);
    let response = login(&server, "alice", "lobby", PASSWORD);
    let token = response.cookie().unwrap();
    let mut again = server.connect().session(&token).open();
    again.recv_type("hello");
    drop(again);
    assert!(server.shutdown());

    let server = common::start_with(|c| c.db = db.clone());
    let mut again = server.connect().session(&token).open();
    let hello = again.recv_type("hello");
    assert_eq!(
        (hello["verified"].clone(), hello["uid"].clone()),
        (json!(true), json!(uid))
    );

    let natter = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(["account"])
            .args(args)
            .args(["--db", &db])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (ok, listed) = natter(&["list"]);
    assert!(
        ok && listed.starts_with(&format!("alice\t{uid}\tclaimed 20")),
        "{listed}"
    );
    let (ok, printed) = natter(&["reset", "alice"]);
    assert!(ok, "{printed}");
    let new_password = printed.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        !printed.contains(PASSWORD) && new_password.len() == 20,
        "{printed}"
    );
    assert_eq!(
        login(&server, "alice", "lobby", PASSWORD).status,
        400,
        "the old one is gone"
    );
    assert_eq!(login(&server, "alice", "lobby", &new_password).status, 303);
    let (ok, _) = natter(&["delete", "alice"]);
    assert!(ok);
    let free = server.post_form("/login", &[("name", "alice"), ("room", "garden")], None);
    assert_eq!(free.status, 303, "the name is free again: {}", free.body);
    let (ok, _) = natter(&["reset", "nobody"]);
    assert!(!ok);
}

/// A second device of claimed alice: logged in with the password, connected.
fn second_device(server: &common::TestServer, password: &str) -> (String, common::Client) {
    let response = login(server, "alice", "lobby", password);
    assert_eq!(response.status, 303, "{}", response.body);
    let token = response.cookie().unwrap();
    let client = server.connect().session(&token).past_hello();
    (token, client)
}

fn post_json(
    server: &common::TestServer,
    path: &str,
    fields: &[(&str, &str)],
    token: &str,
) -> (u16, Value) {
    let response = server.post_form(path, fields, Some(token));
    (
        response.status,
        serde_json::from_str(&response.body).unwrap_or(Value::Null),
    )
}

#[test]
fn log_out_everywhere_closes_every_socket_of_the_account_with_1008() {
    let server = common::start();
    let (token, mut first, _) = claimed_alice(&server);
    let (_, mut second) = second_device(&server, PASSWORD);
    let sessions = server.get("/account/sessions", Some(&token));
    let list: Value = serde_json::from_str(&sessions.body).unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list["sessions"][0]["current"], true);
    assert_eq!(list["sessions"][0]["connected"], 1);
    let (status, body) = post_json(&server, "/account/logout-all", &[], &token);
    assert_eq!((status, body["ended"].as_u64()), (200, Some(2)), "{body}");
    assert_eq!(first.expect_close(), Some(1008));
    assert_eq!(second.expect_close(), Some(1008));
    assert_eq!(server.get("/session", Some(&token)).status, 401);
}

#[test]
fn a_new_password_ends_the_other_sessions_and_replaces_the_old_one() {
    let server = common::start();
    let (token, _first, _) = claimed_alice(&server);
    let (_, mut second) = second_device(&server, PASSWORD);
    let new = "a much better passphrase";
    let wrong = [("current", "not it"), ("password", new), ("confirm", new)];
    assert_eq!(
        post_json(&server, "/account/password", &wrong, &token).0,
        400
    );
    let right = [("current", PASSWORD), ("password", new), ("confirm", new)];
    let (status, body) = post_json(&server, "/account/password", &right, &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        second.expect_close(),
        Some(1008),
        "the other device logs in again"
    );
    assert_eq!(
        server.get("/session", Some(&token)).status,
        200,
        "this one stays"
    );
    assert_eq!(login(&server, "alice", "lobby", PASSWORD).status, 400);
    second_device(&server, new);
}

#[test]
fn releasing_the_name_frees_it_and_can_erase_every_message_for_good() {
    let dir = common::TempDir::new("release");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let (token, mut alice, _) = claimed_alice(&server);
    alice.join("lobby");
    alice.say("lobby", "my secret plans for quokka-9931");
    let id = alice.recv_message()["id"].clone();
    let mut bob = server.connect().user("bob");
    bob.join("lobby");
    let release = [("password", PASSWORD), ("erase", "on")];
    let (status, body) = post_json(&server, "/account/release", &release, &token);
    assert_eq!((status, &body["user"]), (200, &json!("alice")), "{body}");
    assert_eq!(alice.expect_close(), Some(1008));
    // Bob sees it deleted, as its author would delete it.
    let deleted = bob.recv_type("delete");
    assert_eq!(deleted["id"], id);
    let joined = bob.join("lobby");
    let kept = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(
        (kept["deleted"].clone(), kept["text"].clone()),
        (json!(true), json!(""))
    );
    // The name is anyone's again.
    assert_eq!(
        server
            .post_form("/login", &[("name", "alice"), ("room", "garden")], None)
            .status,
        303
    );
    let text = server
        .get("/export/lobby", Some(&server.login("carol", "lobby")))
        .body;
    assert!(!text.contains("quokka"), "{text}");
}

#[test]
fn a_claimed_name_has_a_card_with_its_profile() {
    let server = common::start();
    let (token, _alice, uid) = claimed_alice(&server);
    let bad = [("bio", "hi"), ("color", "red")];
    assert_eq!(post_json(&server, "/account/profile", &bad, &token).0, 400);
    let long = "x".repeat(161);
    assert_eq!(
        post_json(
            &server,
            "/account/profile",
            &[("bio", &long), ("color", "")],
            &token
        )
        .0,
        400
    );
    let good = [("bio", "I like quiet rooms."), ("color", "#7A5CFF")];
    assert_eq!(post_json(&server, "/account/profile", &good, &token).0, 200);
    let bob = server.login("bob", "lobby");
    let card = server.get("/u/alice?format=json", Some(&bob));
    assert_eq!(card.status, 200, "{}", card.body);
    let card: Value = serde_json::from_str(&card.body).unwrap();
    assert_eq!(
        (
            &card["user"],
            &card["uid"],
            &card["bio"],
            &card["color"],
            &card["verified"]
        ),
        (
            &json!("alice"),
            &json!(uid),
            &json!("I like quiet rooms."),
            &json!("#7a5cff"),
            &json!(true)
        )
    );
    let page = server.get("/u/alice", Some(&bob));
    assert!(page.body.contains("I like quiet rooms.") && page.body.contains("✓"));
    assert_eq!(server.get("/u/nobody?format=json", Some(&bob)).status, 404);
    assert_eq!(server.get("/u/alice?format=json", None).status, 401);
    // A temporary session has no account to manage.
    let (status, _) = post_json(&server, "/account/profile", &good, &bob);
    assert_eq!(status, 409);
}

#[test]
fn a_claimed_session_that_never_opened_a_socket_stays_logged_out_after_a_restart() {
    let dir = common::TempDir::new("accounts-unused");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    // Claimed straight from the form, before any socket: the claim stores
    // the session.
    let token = server.login("alice", "lobby");
    let (status, body) = claim(&server, &token, PASSWORD, PASSWORD);
    assert_eq!(status, 200, "{body}");
    server.post_form("/logout", &[], Some(&token));
    assert!(server.shutdown());

    let server = common::start_with(|c| c.db = db.clone());
    let refused = server.connect().session(&token).try_open();
    assert!(refused.is_err(), "a logged-out session came back");
}

#[test]
fn deleting_an_account_while_natter_runs_leaves_the_other_sessions_stored() {
    let dir = common::TempDir::new("accounts-delete-live");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let (_token, mut alice, _uid) = claimed_alice(&server);
    alice.join("lobby");
    let bob_token = server.login("bob", "lobby");
    let mut bob = server.connect().session(&bob_token).open();
    bob.join("lobby");
    // The operator frees alice's name while she is still connected.
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["account", "delete", "alice", "--db", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Stopping stores every session with its rooms, alice's among them.
    drop((alice, bob));
    assert!(server.shutdown());

    let server = common::start_with(|c| c.db = db.clone());
    let mut carol = server.connect().user("carol");
    let joined = carol.join("lobby");
    assert!(
        joined["members"]
            .as_array()
            .unwrap()
            .contains(&json!("bob")),
        "bob's session was stored with its room: {joined}"
    );
}

#[test]
fn a_claimed_name_on_a_second_device_neither_joins_nor_leaves_again() {
    let server = common::start();
    let (_token, mut alice, _) = claimed_alice(&server);
    alice.join("lobby");
    let mut bob = server.connect().user("bob");
    bob.join("lobby");
    let (_, mut phone) = second_device(&server, PASSWORD);
    phone.join("lobby");
    phone.say("lobby", "from my phone");
    bob.recv_message();
    drop(phone);
    // Past the leave grace (300 ms in tests): still no word from alice.
    std::thread::sleep(std::time::Duration::from_millis(800));
    alice.say("lobby", "still here");
    loop {
        let frame = bob.recv();
        assert_ne!(frame["type"], "system", "alice never came or went: {frame}");
        if frame["type"] == "message" {
            break;
        }
    }
    // Her last device leaving is a leave.
    alice.send(json!({"type": "leave", "room": "lobby"}));
    let notice = bob.recv_type("system");
    assert_eq!(
        (notice["event"].as_str(), notice["user"].as_str()),
        (Some("leave"), Some("alice"))
    );
}

#[test]
fn a_claimed_names_cookie_outlives_the_browser_session_and_a_temporary_ones_does_not() {
    let server = common::start();
    let plain = server.post_form("/login", &[("name", "alice"), ("room", "lobby")], None);
    let cookie = plain.header("Set-Cookie").unwrap().to_string();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    let token = plain.cookie().unwrap();
    let _socket = server.connect().session(&token).past_hello();
    let fields = [("password", PASSWORD), ("confirm", PASSWORD)];
    let claimed = server.post_form("/account/claim", &fields, Some(&token));
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    let cookie = claimed.header("Set-Cookie").unwrap().to_string();
    assert!(
        cookie.contains(&format!("natter_session={token}")) && cookie.contains("Max-Age=2592000"),
        "{cookie}"
    );
    let again = login(&server, "alice", "kitchen", PASSWORD);
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(again
        .header("Set-Cookie")
        .unwrap()
        .contains("Max-Age=2592000"));
}
