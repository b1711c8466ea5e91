//! Bots (issue 18), over real sockets: a room's owner makes a token and sees
//! its secret once; the webhook (JSON or a form's `payload`), the HTTP API
//! (post; read with `since`, and a long-poll that outlives a restart) and a
//! Bearer WebSocket each do what the token's scope allows and no more; the
//! name is the token's whatever the request says, and nobody else may take
//! it in the room; messages carry `bot: true`; a revoked token (from the
//! page or from `natter token revoke` beside the running server) stops at
//! once; each token has its own rate budget, not its address's.
//!
//! Every wait has a deadline ([`common::DEADLINE`]); a long-poll's own wait
//! is given as its `wait`, and the test only checks that it answered when
//! something came (long before that `wait`), never how fast.

use natter_testkit as common;

use std::time::{Duration, Instant};

use common::rooms::{is, Person, Rooms};
use common::{HttpResponse, TestServer};
use serde_json::{json, Value};

/// `name` joins `room` and claims it.
fn owner(server: &TestServer, name: &str, room: &str) -> Person {
    let mut person = server.person(name);
    person.enter(room);
    person.claim(room);
    person
}

/// A token made by `owner` of `room`: the `token_created` frame.
fn make_token(owner: &mut Person, room: &str, name: &str, scope: &str) -> Value {
    let frame = json!({"type": "create_token", "room": room, "name": name, "scope": scope});
    owner.ok(frame, &[is("token_created")]).remove(0)
}

fn secret(created: &Value) -> String {
    created["token"].as_str().expect("a secret").to_string()
}

/// The status a refused Bearer handshake gets (a test failure if it opens).
fn refused_status(server: &TestServer, secret: &str) -> u16 {
    match server.connect().bearer(secret).try_open() {
        Ok(_) => panic!("the handshake with {secret} was let through"),
        Err(refused) => refused.status,
    }
}

/// `POST path` with a JSON body (and `Authorization: Bearer` with a token).
fn post_json(server: &TestServer, path: &str, bearer: Option<&str>, body: &Value) -> HttpResponse {
    let mut headers = vec!["Content-Type: application/json".to_string()];
    if let Some(token) = bearer {
        headers.push(format!("Authorization: Bearer {token}"));
    }
    server.request("POST", path, &headers, body.to_string().as_bytes())
}

/// `GET path` with `Authorization: Bearer`.
fn get_bearer(server: &TestServer, path: &str, token: &str) -> HttpResponse {
    let headers = [format!("Authorization: Bearer {token}")];
    server.request("GET", path, &headers, b"")
}

fn body_json(response: &HttpResponse) -> Value {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("a JSON body ({e}): {}", response.body))
}

#[test]
fn an_owner_makes_a_token_whose_secret_is_shown_once_and_only_its_hash_is_kept() {
    let dir = common::TempDir::new("bots-owner");
    let db = dir.file("chat.db");
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = owner(&server, "alice", "Ops");
    let created = make_token(&mut alice, "Ops", "ci-bot", "post");
    let token = secret(&created);
    assert!(token.starts_with("ntb_") && token.len() == 36, "{created}");
    assert_eq!(created["hook_url"], format!("/hooks/{token}"));
    assert_eq!(created["name"], "ci-bot");

    // The list names it, never with its secret.
    let list = alice
        .ok(json!({"type": "tokens", "room": "Ops"}), &[is("tokens")])
        .remove(0);
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{list}");
    assert_eq!(tokens[0]["id"], created["id"]);
    assert_eq!(tokens[0]["scope"], "post");
    assert_eq!(tokens[0]["created_by"], "alice");
    assert!(!list.to_string().contains(&token[4..]), "{list}");

    // Someone who does not own the room can neither make nor list them.
    let mut bob = server.person("bob");
    bob.enter("Ops");
    let make = json!({"type": "create_token", "room": "Ops", "name": "evil", "scope": "bot"});
    bob.refused(make, &[is("token_created")], "not_owner");
    bob.refused(
        json!({"type": "tokens", "room": "Ops"}),
        &[is("tokens")],
        "not_owner",
    );

    // A second token of the same name, or of a person's, is refused.
    let again = json!({"type": "create_token", "room": "Ops", "name": "CI-Bot", "scope": "read"});
    alice.refused(again, &[is("token_created")], "name_taken");
    let bobs = json!({"type": "create_token", "room": "Ops", "name": "bob", "scope": "read"});
    alice.refused(bobs, &[is("token_created")], "name_taken");
    drop((alice, bob));
    assert!(server.shutdown());

    // The database holds its hash alone.
    let rows: Vec<String> = rusqlite::Connection::open(&db)
        .unwrap()
        .prepare("SELECT hash FROM tokens")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0], token);
    let file = std::fs::read(&db).unwrap();
    let wal = std::fs::read(format!("{db}-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    for bytes in [&file, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the secret is stored"
        );
    }
}

#[test]
fn the_webhook_posts_as_the_token_whatever_name_the_request_gives() {
    let server = common::start();
    let mut alice = owner(&server, "alice", "Ops");
    let token = secret(&make_token(&mut alice, "Ops", "ci-bot", "post"));
    let hook = format!("/hooks/{token}");

    // Mattermost's shape, with the fields natter ignores.
    let body =
        json!({"text": "deploy done", "username": "alice", "icon_url": "x", "channel": "town"});
    let response = post_json(&server, &hook, None, &body);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body, "ok");
    let m = alice.recv_message();
    assert_eq!(m["text"], "deploy done");
    assert_eq!(m["user"], "ci-bot", "the name is the token's: {m}");
    assert_eq!(m["bot"], true, "{m}");
    assert_eq!(m["room"], "Ops");

    // Slack's form shape: a `payload` field holding the JSON.
    let form = [("payload", r#"{"text":"from a form"}"#)];
    let response = server.post_form(&hook, &form, None);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(alice.recv_message()["text"], "from a form");

    // `curl -d '{...}'` says it is a form, and sends JSON.
    let headers = ["Content-Type: application/x-www-form-urlencoded".to_string()];
    let response = server.request("POST", &hook, &headers, br#"{"text":"curl -d"}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(alice.recv_message()["text"], "curl -d");

    // What a person would be refused, a bot is too: same rules, same codes.
    let response = post_json(&server, &hook, None, &json!({"text": "   "}));
    assert_eq!(response.status, 400);
    assert_eq!(body_json(&response)["error"]["code"], "empty_text");
    let long = "x".repeat(4001);
    let response = post_json(&server, &hook, None, &json!({"text": long}));
    assert_eq!(response.status, 413, "{}", response.body);
    assert_eq!(body_json(&response)["error"]["code"], "text_too_long");
    let response = server.request("POST", &hook, &[], b"not json");
    assert_eq!(response.status, 400);
    assert_eq!(body_json(&response)["error"]["code"], "bad_json");

    // A made-up token gets 401.
    let response = post_json(
        &server,
        "/hooks/ntb_0123456789abcdef0123456789abcdef",
        None,
        &body,
    );
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(body_json(&response)["error"]["code"], "bad_token");
}

#[test]
fn each_scope_does_what_it_says_and_no_more() {
    let server = common::start();
    let mut alice = owner(&server, "alice", "Ops");
    let post = secret(&make_token(&mut alice, "Ops", "poster", "post"));
    let read = secret(&make_token(&mut alice, "Ops", "reader", "read"));
    let bot = secret(&make_token(&mut alice, "Ops", "helper", "bot"));
    let api = "/api/v1/rooms/Ops/messages";

    // post: may post, and answers the stored message; may not read.
    let r = post_json(
        &server,
        api,
        Some(&post),
        &json!({"text": "one", "client_id": "c-1"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let one = body_json(&r);
    assert_eq!(
        (one["user"].clone(), one["bot"].clone()),
        (json!("poster"), json!(true))
    );
    let id = one["id"].as_u64().unwrap();
    assert_eq!(alice.recv_message()["id"], id);
    let r = get_bearer(&server, api, &post);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(body_json(&r)["error"]["code"], "forbidden");

    // A reply would quote the room, which a post token may not read.
    let r = post_json(
        &server,
        api,
        Some(&post),
        &json!({"text": "re", "reply_to": id}),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // The same client_id again posts nothing and answers the original.
    let r = post_json(
        &server,
        api,
        Some(&post),
        &json!({"text": "one", "client_id": "c-1"}),
    );
    assert_eq!(body_json(&r)["id"], id, "{}", r.body);

    // read: may read, may not post.
    let r = get_bearer(&server, api, &read);
    assert_eq!(r.status, 200, "{}", r.body);
    let page = body_json(&r);
    assert_eq!(
        page["history"].as_array().unwrap().last().unwrap()["text"],
        "one"
    );
    assert!(
        page["epoch"].is_string() && page["cursor"].as_u64() == Some(id),
        "{page}"
    );
    let r = post_json(&server, api, Some(&read), &json!({"text": "no"}));
    assert_eq!(r.status, 403, "{}", r.body);

    // bot: both; a reply to a message of the room.
    let r = post_json(
        &server,
        api,
        Some(&bot),
        &json!({"text": "two", "reply_to": id}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(body_json(&r)["reply"]["user"], "poster", "{}", r.body);
    assert_eq!(body_json(&r)["reply"]["bot"], true, "{}", r.body);
    let r = get_bearer(&server, &format!("{api}?since={id}"), &bot);
    let page = body_json(&r);
    let texts: Vec<&str> = page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["two"], "{page}");

    // Each token is for its own room only.
    let r = post_json(
        &server,
        "/api/v1/rooms/Elsewhere/messages",
        Some(&bot),
        &json!({"text": "x"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = get_bearer(&server, "/api/v1/rooms/Elsewhere/messages", &bot);
    assert_eq!(r.status, 403, "{}", r.body);
    // Without a token at all: 401 and how to send one.
    let r = server.request("GET", api, &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
}

#[test]
fn a_bot_name_is_reserved_in_its_room() {
    let server = common::start();
    let mut alice = owner(&server, "alice", "Ops");
    make_token(&mut alice, "Ops", "ci-bot", "post");
    let mut mallory = server.person("CI-Bot");
    mallory.refused(
        json!({"type": "join", "room": "Ops"}),
        &[is("joined")],
        "name_taken",
    );
    // Elsewhere the name is anyone's.
    mallory.enter("Other");
}

#[test]
fn a_revoked_token_stops_at_once_and_its_socket_closes() {
    let server = common::start();
    let mut alice = owner(&server, "alice", "Ops");
    let created = make_token(&mut alice, "Ops", "helper", "bot");
    let token = secret(&created);
    let hook = format!("/hooks/{token}");
    assert_eq!(
        post_json(&server, &hook, None, &json!({"text": "hi"})).status,
        200
    );
    alice.recv_message();
    let mut socket = server.connect().bearer(&token).open();
    assert_eq!(socket.recv_type("hello")["user"], "helper");
    socket.enter("Ops");

    let revoke = json!({"type": "revoke_token", "room": "Ops", "id": created["id"]});
    alice.ok(revoke, &[is("token_revoked")]);
    assert!(socket.expect_close().is_some(), "the bot's socket closes");
    let r = post_json(&server, &hook, None, &json!({"text": "after"}));
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(refused_status(&server, &token), 401);
    let list = alice
        .ok(json!({"type": "tokens", "room": "Ops"}), &[is("tokens")])
        .remove(0);
    assert_eq!(list["tokens"], json!([]), "{list}");
    // Revoking it again: there is no such live token.
    let again = json!({"type": "revoke_token", "room": "Ops", "id": created["id"]});
    alice.refused(again, &[is("token_revoked")], "not_found");
}

#[test]
fn the_operator_makes_and_revokes_tokens_beside_a_running_server() {
    let dir = common::TempDir::new("bots-cli");
    let db = dir.file("chat.db");
    let server = common::start_with(|c| c.db = db.clone());
    let natter = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(args)
            .args(["--db", &db])
            .output()
            .expect("the binary runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), text, err)
    };
    let (code, out, err) = natter(&["token", "create", "Ops", "deploy-bot", "--scope", "bot"]);
    assert_eq!(code, Some(0), "{err}");
    let token = out.lines().next().unwrap().to_string();
    assert!(token.starts_with("ntb_"), "{out}");

    let mut bob = server.person("bob");
    bob.enter("Ops");
    let hook = format!("/hooks/{token}");
    assert_eq!(
        post_json(
            &server,
            &hook,
            None,
            &json!({"text": "from the CLI's token"})
        )
        .status,
        200
    );
    let m = bob.recv_message();
    assert_eq!(
        (m["user"].clone(), m["bot"].clone()),
        (json!("deploy-bot"), json!(true))
    );

    let (_, list, _) = natter(&["token", "list"]);
    let id = list.split('\t').next().unwrap().to_string();
    assert!(
        list.contains("deploy-bot") && list.contains("by operator"),
        "{list}"
    );
    assert!(
        !list.contains(&token),
        "the list never shows a secret: {list}"
    );
    let (code, _, err) = natter(&["token", "revoke", &id]);
    assert_eq!(code, Some(0), "{err}");
    let r = post_json(&server, &hook, None, &json!({"text": "revoked?"}));
    assert_eq!(
        r.status, 401,
        "revoked beside the server, refused at the next use: {}",
        r.body
    );
    let (_, list, _) = natter(&["token", "list"]);
    assert!(list.contains("revoked"), "{list}");
    let (code, _, err) = natter(&["token", "create", "Ops", "x", "--scope", "admin"]);
    assert_eq!(code, Some(2), "a bad scope is a usage error: {err}");
}

#[test]
fn a_bearer_websocket_speaks_the_whole_protocol_in_its_room_only() {
    let server = common::start();
    let mut alice = owner(&server, "alice", "Ops");
    let bot = secret(&make_token(&mut alice, "Ops", "helper", "bot"));
    let read = secret(&make_token(&mut alice, "Ops", "watcher", "read"));
    let post = secret(&make_token(&mut alice, "Ops", "poster", "post"));

    // No Origin and no cookie: the token is the credential.
    let mut helper = server.connect().bearer(&bot).open();
    let hello = helper.recv_type("hello");
    assert_eq!(hello["user"], "helper");
    assert!(
        hello["uid"].as_str().unwrap().starts_with("bot-"),
        "{hello}"
    );
    helper.enter("Ops");
    let said = helper.said("Ops", "beep");
    assert_eq!(said["bot"], true);
    assert_eq!(alice.recv_message()["text"], "beep");
    // Its own message it may edit; another room it may not enter.
    let edit = json!({"type": "edit", "room": "Ops", "id": said["id"], "text": "boop"});
    helper.ok(edit, &[is("edit")]);
    helper.refused(
        json!({"type": "join", "room": "Elsewhere"}),
        &[is("joined")],
        "forbidden",
    );
    helper.refused(
        json!({"type": "claim", "room": "Ops"}),
        &[is("claimed")],
        "forbidden",
    );

    // A read token reads, and may not speak.
    let mut watcher = server.connect().bearer(&read).open();
    watcher.recv_type("hello");
    let joined = watcher.enter("Ops");
    assert!(
        joined["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "boop"),
        "{joined}"
    );
    let say = json!({"type": "message", "room": "Ops", "text": "hi"});
    watcher.refused(say, &[is("message")], "forbidden");

    // A post token is a webhook's: no socket. A made-up one: 401.
    assert_eq!(refused_status(&server, &post), 403);
    let made_up = "ntb_ffffffffffffffffffffffffffffffff";
    assert_eq!(refused_status(&server, made_up), 401);
}

#[test]
fn a_long_poll_with_since_answers_what_came_after_it_even_across_a_restart() {
    let dir = common::TempDir::new("bots-poll");
    let db = dir.file("chat.db");
    let server = common::start_with(|c| c.db = db.clone());
    let mut alice = owner(&server, "alice", "Ops");
    let token = secret(&make_token(&mut alice, "Ops", "reader", "bot"));
    let api = "/api/v1/rooms/Ops/messages";
    alice.said("Ops", "before the restart");
    let first = body_json(&get_bearer(&server, api, &token));
    let (epoch, cursor) = (
        first["epoch"].as_str().unwrap().to_string(),
        first["cursor"].as_u64().unwrap(),
    );
    drop(alice);
    assert!(server.shutdown());

    // After a restart the same cursor still means the same place: nothing
    // new yet, so a short wait answers empty with the same cursor.
    let server = common::start_with(|c| c.db = db.clone());
    let since = format!("{api}?since={cursor}&epoch={epoch}");
    let r = get_bearer(&server, &format!("{since}&wait=1"), &token);
    let empty = body_json(&r);
    assert_eq!(empty["history"], json!([]), "{empty}");
    assert_eq!(empty["cursor"], cursor);
    assert_eq!(empty["gap"], false);

    // A long-poll waits; a message posted meanwhile answers it.
    let (web, ws) = (server.web, server.ws);
    let token_for_poll = token.clone();
    let waiting = std::thread::spawn(move || {
        let server = common::attach(web, ws);
        let started = Instant::now();
        let r = get_bearer(&server, &format!("{since}&wait=30"), &token_for_poll);
        (r, started.elapsed())
    });
    let mut bob = server.person("bob");
    bob.enter("Ops");
    // Post until the poll has answered (it may not be waiting yet when the
    // first one goes: then that one is already in what it reads).
    bob.said("Ops", "after the restart");
    let (r, took) = waiting.join().unwrap();
    let page = body_json(&r);
    let texts: Vec<&str> = page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["after the restart"],
        "only what came after the cursor: {page}"
    );
    assert!(
        took < Duration::from_secs(30),
        "answered when the message came, not at the end of its wait"
    );
    assert!(page["cursor"].as_u64().unwrap() > cursor);

    // A cursor from another database is a gap: start over.
    let r = get_bearer(
        &server,
        &format!("{api}?since={cursor}&epoch=0000000000000000"),
        &token,
    );
    assert_eq!(body_json(&r)["gap"], true, "{}", r.body);
}

#[test]
fn each_token_has_its_own_budget_not_its_address() {
    let server = common::start_with(|c| {
        c.rate_limit = Some(25.0);
        c.bot_rate_limit = 4.0;
    });
    let mut alice = owner(&server, "alice", "Ops");
    let ci = secret(&make_token(&mut alice, "Ops", "ci", "post"));
    let other = secret(&make_token(&mut alice, "Ops", "alerts", "post"));
    let hook = format!("/hooks/{ci}");
    let mut limited = None;
    for i in 0..20 {
        let r = post_json(&server, &hook, None, &json!({"text": format!("build {i}")}));
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = limited.expect("a token past its budget is refused");
    assert_eq!(body_json(&r)["error"]["code"], "rate_limited");
    let retry: u64 = r
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    // Another token from the same address, and a person there, carry on.
    let r = post_json(
        &server,
        &format!("/hooks/{other}"),
        None,
        &json!({"text": "disk full"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    alice.said("Ops", "still here");
}
