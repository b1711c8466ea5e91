//! Who may open the chat WebSocket: only a live session, only at `/ws`, and
//! only from the page's own origin (or exactly `--public-url` when it is set),
//! so another site cannot use a visitor's cookie to chat as them. A good
//! handshake is greeted with `hello`: who you are and the limits in force.

use natter_testkit as common;

use serde_json::json;

#[test]
fn a_valid_handshake_is_greeted_with_hello_and_the_limits() {
    let server = common::start_with(|c| c.history = 50);
    let token = server.login("alice", "lobby");
    let mut client = server.connect().session(&token).open();
    let hello = client.recv();
    assert_eq!(hello["type"], "hello", "hello is the first frame: {hello}");
    assert_eq!(hello["user"], "alice");
    assert_eq!(
        hello["limits"],
        json!({
            "max_text_chars": 4000,
            "max_text_bytes": 12000,
            "max_room_chars": 64,
            "max_message_bytes": 65536,
            "max_rooms": 32,
            "history": 50,
            "edit_window_s": 600,
            "max_reactions": 20,
            "max_mentions": 20,
            "max_emoji_bytes": 32,
            "reply_excerpt_chars": 120,
            "max_upload_bytes": 10 * 1024 * 1024,
            "max_attachments": 4,
            "max_voice_ms": 300000,
            "image_max_edge": 2048,
            "image_quality": 0.85
        })
    );
    let uid = hello["uid"]
        .as_str()
        .expect("hello gives the session's public id");
    assert_eq!(uid.len(), 12, "{uid}");
}

#[test]
fn hello_names_the_user_as_they_logged_in() {
    let server = common::start();
    let token = server.login("  李小龙 ", "lobby");
    let mut client = server.connect().session(&token).open();
    assert_eq!(
        client.recv_type("hello")["user"],
        "李小龙",
        "trimmed, exact"
    );
}

#[test]
fn without_a_session_cookie_the_handshake_is_refused_with_401() {
    let server = common::start();
    let refused = server.connect().try_open().map_err(|r| r.status);
    assert_eq!(refused.err(), Some(401));
}

#[test]
fn an_unknown_token_is_refused_with_401() {
    let server = common::start();
    let _real = server.login("alice", "lobby");
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        server
            .connect()
            .session(unknown)
            .try_open()
            .map_err(|r| r.status)
            .err(),
        Some(401)
    );
    assert_eq!(
        server
            .connect()
            .session("not-a-token")
            .try_open()
            .map_err(|r| r.status)
            .err(),
        Some(401)
    );
}

#[test]
fn a_foreign_origin_is_refused_with_403_even_with_a_session() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let web = server.web.port();
    let ws = server.ws.port();
    for origin in [
        "http://evil.example".to_string(),
        format!("http://127.0.0.1:{web}.evil.example"),
        format!("http://evil.example/http://127.0.0.1:{web}"),
        format!("https://127.0.0.1:{web}"),
        // The WebSocket port is not where the pages are.
        format!("http://127.0.0.1:{ws}"),
        format!("http://127.0.0.2:{web}"),
        "null".to_string(),
    ] {
        assert_eq!(
            server
                .connect()
                .session(&token)
                .origin(Some(&origin))
                .try_open()
                .map_err(|r| r.status)
                .err(),
            Some(403),
            "Origin: {origin}"
        );
    }
    // The session itself is fine: from its own page it connects.
    let mut client = server.connect().session(&token).open();
    assert_eq!(client.recv_type("hello")["user"], "alice");
}

#[test]
fn a_handshake_without_an_origin_is_refused_with_403() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    assert_eq!(
        server
            .connect()
            .session(&token)
            .origin(None)
            .try_open()
            .map_err(|r| r.status)
            .err(),
        Some(403)
    );
}

#[test]
fn the_origin_check_ignores_case_and_a_trailing_slash() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let origin = format!("HTTP://127.0.0.1:{}/", server.web.port());
    let mut client = server
        .connect()
        .session(&token)
        .origin(Some(&origin))
        .try_open()
        .map_err(|r| r.status)
        .expect("the same origin, spelled differently, is allowed");
    assert_eq!(client.recv_type("hello")["user"], "alice");
}

#[test]
fn a_wrong_path_is_refused_with_404() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    for path in ["/chat", "/", "/ws/", "/wss"] {
        assert_eq!(
            server
                .connect()
                .session(&token)
                .path(path)
                .try_open()
                .map_err(|r| r.status)
                .err(),
            Some(404),
            "path {path}"
        );
    }
}

#[test]
fn with_a_public_url_only_that_origin_is_allowed() {
    let server = common::start_with(|c| c.public_url = Some("https://chat.example.com".into()));
    let token = server.login("alice", "lobby");
    let mut client = server
        .connect()
        .session(&token)
        .origin(Some("https://chat.example.com"))
        .try_open()
        .map_err(|r| r.status)
        .expect("the public origin is allowed");
    assert_eq!(client.recv_type("hello")["user"], "alice");

    for origin in [
        server.origin(),
        "http://chat.example.com".to_string(),
        "https://chat.example.com.evil.example".to_string(),
        "https://chat.example.com:8443".to_string(),
        "https://evil.example".to_string(),
    ] {
        assert_eq!(
            server
                .connect()
                .session(&token)
                .origin(Some(&origin))
                .try_open()
                .map_err(|r| r.status)
                .err(),
            Some(403),
            "Origin: {origin}"
        );
    }
}

#[test]
fn a_refused_handshake_does_not_disturb_the_chat() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("lobby");
    let token = server.login("mallory", "lobby");
    assert_eq!(
        server
            .connect()
            .session(&token)
            .origin(Some("http://evil.example"))
            .try_open()
            .map_err(|r| r.status)
            .err(),
        Some(403)
    );
    alice.say("lobby", "hi");
    let got = alice.recv_message();
    assert_eq!(got["text"], "hi");
    let joined = alice.join("lobby");
    assert_eq!(joined["members"], json!(["alice"]), "mallory never joined");
}
