//! Logging in and out over plain HTTP: a good form gets a safe session cookie
//! and a redirect to its room; every broken rule gets the form back (400) with a
//! message saying what to fix and what the user typed still in the inputs; a
//! name is unique per room; a session is needed for a room page and ends,
//! everywhere at once, on logout.

use natter_testkit as common;

use common::{input_value, unescape_html, HttpResponse, TestServer};

/// The inline error message of a re-rendered login form, unescaped.
fn form_error(page: &HttpResponse) -> String {
    let body = &page.body;
    let at = body
        .find("id=\"login-error\"")
        .expect("the login form has an error paragraph");
    let start = at + body[at..].find('>').unwrap() + 1;
    let end = start + body[start..].find("</p>").unwrap();
    unescape_html(body[start..end].trim())
}

/// POST the login form and expect it refused: 400, the form again, a message,
/// and both typed values kept. Returns the message.
fn refused(server: &TestServer, name: &str, room: &str) -> String {
    let page = server.post_form("/login", &[("name", name), ("room", room)], None);
    assert_eq!(
        page.status, 400,
        "login as {name:?} in {room:?} should be refused: {page:?}"
    );
    assert_eq!(page.cookie(), None, "a refused login sets no session");
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "the form comes back as HTML"
    );
    assert!(
        page.body.contains("action=\"/login\""),
        "the login form is re-rendered"
    );
    let name_value = input_value(&page.body, "name").expect("a name input");
    let room_value = input_value(&page.body, "room").expect("a room input");
    assert_eq!(unescape_html(name_value), name, "the typed name is kept");
    assert_eq!(unescape_html(room_value), room, "the typed room is kept");
    assert!(
        !name_value.contains('<') && !room_value.contains('<'),
        "typed values are HTML-escaped: {name_value:?} {room_value:?}"
    );
    let message = form_error(&page);
    assert!(!message.is_empty(), "the form says what is wrong");
    message
}

fn accepted(server: &TestServer, name: &str, room: &str) -> HttpResponse {
    let page = server.post_form("/login", &[("name", name), ("room", room)], None);
    assert_eq!(page.status, 303, "login as {name:?} in {room:?}: {page:?}");
    page
}

#[test]
fn a_valid_login_redirects_to_the_room_with_a_safe_session_cookie() {
    let server = common::start();
    let page = accepted(&server, "alice", "Book Club");
    assert_eq!(page.header("location"), Some("/r/Book%20Club"));
    let cookie = page.header("set-cookie").expect("a session cookie");
    let token = page.cookie().expect("natter_session=<token>");
    assert_eq!(token.len(), 32, "the token is 32 characters: {token}");
    assert!(
        token.bytes().all(|b| b.is_ascii_hexdigit()),
        "the token is hex: {token}"
    );
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(
        attributes.iter().any(|a| a == "httponly"),
        "HttpOnly: {cookie}"
    );
    assert!(
        attributes.iter().any(|a| a == "samesite=lax"),
        "SameSite=Lax: {cookie}"
    );
    // The cookie is a session: the room page recognises it.
    let room = server.get("/r/Book%20Club", Some(&token));
    assert_eq!(room.status, 200);
}

#[test]
fn two_logins_get_different_tokens() {
    let server = common::start();
    let a = server.login("alice", "lobby");
    let b = server.login("bob", "lobby");
    assert_ne!(a, b);
}

#[test]
fn a_room_with_non_ascii_letters_is_percent_encoded_in_the_redirect() {
    let server = common::start();
    let page = accepted(&server, "alice", "Café 5");
    assert_eq!(page.header("location"), Some("/r/Caf%C3%A9%205"));
}

#[test]
fn an_empty_name_is_refused() {
    let server = common::start();
    let message = refused(&server, "", "lobby");
    assert!(message.to_lowercase().contains("name"), "{message}");
}

#[test]
fn a_whitespace_only_name_is_refused() {
    let server = common::start();
    let message = refused(&server, "   ", "lobby");
    assert!(message.to_lowercase().contains("name"), "{message}");
}

#[test]
fn a_name_of_24_characters_is_accepted_and_25_refused() {
    let server = common::start();
    accepted(&server, &"a".repeat(24), "lobby");
    // Characters, not bytes: 24 three-byte characters are fine too.
    accepted(&server, &"李".repeat(24), "lobby");
    let message = refused(&server, &"b".repeat(25), "lobby");
    assert!(
        message.contains("24"),
        "the message names the limit: {message}"
    );
}

#[test]
fn a_name_with_markup_is_refused_and_shown_escaped() {
    let server = common::start();
    let message = refused(&server, "<b>", "lobby");
    assert!(message.to_lowercase().contains("letters"), "{message}");
    let page = server.post_form("/login", &[("name", "<b>"), ("room", "lobby")], None);
    assert!(!page.body.contains("<b>"), "no raw markup from the user");
    assert!(page.body.contains("value=\"&lt;b&gt;\""));
}

#[test]
fn a_name_with_a_quote_cannot_break_out_of_the_input() {
    let server = common::start();
    let name = "x\" autofocus onfocus=\"alert(1)";
    refused(&server, name, "lobby");
    let page = server.post_form("/login", &[("name", name), ("room", "lobby")], None);
    assert!(!page.body.contains("onfocus=\"alert"), "{}", page.body);
}

#[test]
fn a_name_with_an_invisible_character_is_refused() {
    let server = common::start();
    let message = refused(&server, "ali\u{200B}ce", "lobby");
    assert!(
        message.contains("U+200B"),
        "the message shows the invisible character: {message}"
    );
}

#[test]
fn a_name_with_a_tab_is_refused() {
    let server = common::start();
    let message = refused(&server, "ali\tce", "lobby");
    assert!(message.contains("U+0009"), "{message}");
}

#[test]
fn names_in_any_script_are_accepted_and_shown_on_the_room_page() {
    let server = common::start();
    for name in ["李小龙", "José", "प्रिया", "Zoë-Ann.O_1"] {
        let page = accepted(&server, name, "lobby");
        let token = page.cookie().unwrap();
        let room = server.get("/r/lobby", Some(&token));
        assert_eq!(room.status, 200);
        assert!(
            room.body.contains(&format!("data-user=\"{name}\"")),
            "the page knows the user as {name}"
        );
    }
}

#[test]
fn an_empty_room_is_refused() {
    let server = common::start();
    let message = refused(&server, "alice", "");
    assert!(message.to_lowercase().contains("room"), "{message}");
}

#[test]
fn a_room_of_64_characters_is_accepted_and_65_refused() {
    let server = common::start();
    let room = "r".repeat(64);
    let page = accepted(&server, "alice", &room);
    assert_eq!(page.header("location"), Some(format!("/r/{room}").as_str()));
    let message = refused(&server, "bob", &"r".repeat(65));
    assert!(
        message.contains("64"),
        "the message names the limit: {message}"
    );
}

#[test]
fn a_room_with_forbidden_characters_is_refused() {
    let server = common::start();
    let message = refused(&server, "alice", "<script>");
    assert!(message.to_lowercase().contains("room"), "{message}");
}

#[test]
fn a_name_in_use_in_the_room_is_refused_whatever_its_case() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("lobby");

    let message = refused(&server, "Alice", "lobby");
    assert!(
        message.contains("taken"),
        "the form says the name is taken: {message}"
    );
    // Rooms match case-insensitively too.
    refused(&server, "ALICE", "LOBBY");
    // The same name is free in another room.
    accepted(&server, "alice", "other");
    // And the first alice is still connected and chatting.
    alice.say("lobby", "still here");
    assert_eq!(alice.recv_message()["text"], "still here");
}

#[test]
fn a_name_that_looks_like_one_in_the_room_is_refused() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("lobby");
    let mut jose = server.user("José");
    jose.join("lobby");
    for (name, what) in [
        ("\u{430}lice", "a Cyrillic а"),
        ("ａｌｉｃｅ", "fullwidth letters"),
        ("𝐚𝐥𝐢𝐜𝐞", "mathematical bold"),
        ("a1ice", "a digit 1 for the l"),
        ("Jose\u{301}", "e + a combining accent"),
    ] {
        let message = refused(&server, name, "lobby");
        assert!(message.contains("taken"), "{what}: {message}");
    }
    // The room is matched the same way: a look-alike of "lobby" is lobby.
    let message = refused(&server, "\u{430}lice", "L\u{43E}bby");
    assert!(message.contains("taken"), "{message}");
    // A name that only resembles is a different name.
    accepted(&server, "alicia", "lobby");
}

#[test]
fn a_name_is_stored_in_its_plain_form() {
    let server = common::start();
    // Fullwidth letters, as a Japanese keyboard may type them.
    let token = server.login("ｂｏｂ", "lobby");
    let mut client = server.connect().session(&token).open();
    assert_eq!(client.recv_type("hello")["user"], "bob");
    let token = server.login("Jose\u{301}", "lobby");
    let mut client = server.connect().session(&token).open();
    assert_eq!(client.recv_type("hello")["user"], "José", "one character é");
}

#[test]
fn names_with_fillers_or_invisible_characters_are_refused_by_their_code() {
    let server = common::start();
    for (name, code) in [
        ("ali\u{3164}ce", "U+3164"),
        ("ali\u{34F}ce", "U+034F"),
        ("\u{3164}\u{115F}\u{1160}\u{FFA0}", "U+3164"), // looks blank
        ("\u{115F}", "U+115F"),
        ("\u{FFA0}bob", "U+FFA0"),
    ] {
        let message = refused(&server, name, "lobby");
        assert!(message.contains(code), "{name:?}: {message}");
    }
}

#[test]
fn look_alike_rooms_are_one_room() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    let mut carol = server.user("carol");
    assert_eq!(alice.join("café")["room"], "café");
    assert_eq!(
        bob.join("cafe\u{301}")["room"],
        "café",
        "the first spelling"
    );
    assert_eq!(alice.join("Lobby")["room"], "Lobby");
    assert_eq!(bob.join("lobby")["room"], "Lobby");
    assert_eq!(carol.join("L\u{43E}bby")["room"], "Lobby", "a Cyrillic о");
    bob.say("cafe\u{301}", "one room");
    let got = alice.recv_message();
    assert_eq!(
        (&got["room"], &got["text"]),
        (&"café".into(), &"one room".into())
    );
    carol.say("L\u{43E}bby", "me too");
    let got = alice.recv_message();
    assert_eq!(
        (&got["room"], &got["text"]),
        (&"Lobby".into(), &"me too".into())
    );
    // Logging in to a spelling of it goes to the one room's page.
    let page = accepted(&server, "dave", "cafe\u{301}");
    assert_eq!(page.header("location"), Some("/r/caf%C3%A9"));
}

#[test]
fn a_room_of_only_dots_is_refused() {
    let server = common::start();
    for room in [".", "..", ". ."] {
        let message = refused(&server, "alice", room);
        assert!(message.contains("dots"), "{room:?}: {message}");
    }
    accepted(&server, "alice", "v1.2");
}

#[test]
fn a_name_is_free_again_once_its_owner_left_the_room() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    refused(&server, "alice", "lobby");
    alice.send(serde_json::json!({"type": "leave", "room": "lobby"}));
    // Once bob has seen alice leave, the server has handled it.
    wait_for_leave(&mut bob, "alice");
    accepted(&server, "Alice", "lobby");
}

/// Read until the `system` leave notice for `user` arrives.
fn wait_for_leave(client: &mut common::Client, user: &str) {
    loop {
        let event = client.recv_type("system");
        if event["event"] == "leave" && event["user"] == user {
            return;
        }
    }
}

#[test]
fn the_login_page_prefills_the_room_from_the_query() {
    let server = common::start();
    let page = server.get("/?room=kitchen", None);
    assert_eq!(page.status, 200);
    assert_eq!(input_value(&page.body, "room"), Some("kitchen"));
    assert_eq!(input_value(&page.body, "name"), Some(""));
    assert_eq!(form_error(&page), "", "no error on a fresh form");

    let page = server.get("/?room=Book%20Club", None);
    assert_eq!(input_value(&page.body, "room"), Some("Book Club"));

    let page = server.get("/?room=%3Cscript%3E%22", None);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>\""), "the query is escaped");
    assert_eq!(
        input_value(&page.body, "room"),
        Some("&lt;script&gt;&quot;")
    );
}

#[test]
fn a_room_page_without_a_session_redirects_to_the_login_form_for_that_room() {
    let server = common::start();
    let page = server.get("/r/kitchen", None);
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/?room=kitchen&invited=1"));

    let page = server.get("/r/Book%20Club", None);
    assert_eq!(page.status, 303);
    assert_eq!(
        page.header("location"),
        Some("/?room=Book%20Club&invited=1")
    );

    // A cookie that is not a session is the same as none.
    let page = server.get("/r/kitchen", Some(&"0".repeat(32)));
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/?room=kitchen&invited=1"));
}

#[test]
fn a_room_page_with_a_session_names_the_room_the_user_and_the_ws_port() {
    let server = common::start();
    let token = server.login("José", "Café Society");
    let page = server.get("/r/Caf%C3%A9%20Society", Some(&token));
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(
        page.body.contains("data-room=\"Café Society\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-user=\"José\""));
    assert!(page
        .body
        .contains(&format!("data-ws-port=\"{}\"", server.ws.port())));
    // Any room is open to a logged-in user, not just the one logged in for.
    let page = server.get("/r/kitchen", Some(&token));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-room=\"kitchen\""));
}

#[test]
fn a_room_page_for_an_invalid_room_is_the_styled_form_saying_why_and_echoes_nothing() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let page = server.get("/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E", Some(&token));
    assert_eq!(page.status, 404);
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("/assets/css/app.css"), "styled");
    let error = form_error(&page);
    assert!(error.contains("room name does not work"), "{error}");
    assert!(error.contains("may only use letters"), "{error}");
}

#[test]
fn logout_redirects_home_and_clears_the_cookie() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let page = server.post_form("/logout", &[], Some(&token));
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/"));
    let cookie = page.header("set-cookie").expect("the cookie is cleared");
    assert!(cookie.starts_with("natter_session=;"), "{cookie}");
    assert!(
        cookie.to_ascii_lowercase().contains("max-age=0"),
        "the browser forgets it at once: {cookie}"
    );
    assert_eq!(page.cookie(), None);
}

#[test]
fn after_logout_the_old_token_no_longer_works() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    assert_eq!(server.get("/r/x", Some(&token)).status, 200);
    server.post_form("/logout", &[], Some(&token));

    let page = server.get("/r/x", Some(&token));
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/?room=x&invited=1"));
    let refused = server
        .connect()
        .session(&token)
        .try_open()
        .map_err(|r| r.status);
    assert_eq!(refused.err(), Some(401));
}

#[test]
fn logout_closes_the_sessions_open_sockets_with_1008() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let mut tab1 = server.connect().session(&token).open();
    let mut tab2 = server.connect().session(&token).open();
    tab1.recv_type("hello");
    tab2.recv_type("hello");
    tab1.join("lobby");
    let mut bob = server.user("bob");
    bob.join("lobby");

    server.post_form("/logout", &[], Some(&token));
    assert_eq!(tab1.expect_close(), Some(1008));
    assert_eq!(tab2.expect_close(), Some(1008));
    // Others are unaffected, and see alice leave.
    wait_for_leave(&mut bob, "alice");
    bob.say("lobby", "still here");
    assert_eq!(bob.recv_message()["text"], "still here");
}

#[test]
fn after_logout_the_name_is_free_at_once_whatever_the_leave_grace() {
    let server = common::start_with(|c| c.leave_grace = std::time::Duration::from_secs(60));
    let token = server.login("alice", "lobby");
    let mut tab = server.connect().session(&token).open();
    tab.recv_type("hello");
    tab.join("lobby");
    let mut bob = server.user("bob");
    bob.join("lobby");
    server.post_form("/logout", &[], Some(&token));
    // Not after the grace: a logout is a choice, and she is told at once.
    wait_for_leave(&mut bob, "alice");
    accepted(&server, "alice", "lobby");
}

#[test]
fn logout_of_one_session_leaves_other_sessions_logged_in() {
    let server = common::start();
    let alice = server.login("alice", "lobby");
    let bob = server.login("bob", "lobby");
    server.post_form("/logout", &[], Some(&alice));
    assert_eq!(server.get("/r/lobby", Some(&bob)).status, 200);
    let mut client = server.connect().session(&bob).open();
    assert_eq!(client.recv_type("hello")["user"], "bob");
}

#[test]
fn get_login_goes_to_the_form_and_logout_only_accepts_post() {
    let server = common::start();
    let page = server.get("/login", None);
    assert_eq!(page.status, 200, "a typed or bookmarked /login");
    assert!(page.body.contains("action=\"/login\""), "the form");
    let page = server.get("/login?room=kitchen", None);
    assert_eq!(input_value(&page.body, "room"), Some("kitchen"));

    let page = server.get("/logout", None);
    assert_eq!(page.status, 405, "GET /logout");
    assert_eq!(page.header("allow"), Some("POST"));
}

#[test]
fn a_room_link_without_a_session_says_you_are_invited() {
    let server = common::start();
    let page = server.get("/?room=kitchen&invited=1", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("invited to #kitchen"), "{}", page.body);
    // The plain form (or "log in again") invites nobody.
    let page = server.get("/?room=kitchen", None);
    assert!(!page.body.contains("invited to #kitchen"), "{}", page.body);
}

#[test]
fn a_leading_hash_in_the_room_is_dropped_not_refused() {
    let server = common::start();
    let page = accepted(&server, "alice", "#kitchen");
    assert_eq!(page.header("location"), Some("/r/kitchen"));
}

#[test]
fn session_says_whether_the_cookie_is_a_live_session() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let page = server.get("/session", Some(&token));
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(body["user"], "alice");

    assert_eq!(server.get("/session", None).status, 401, "no cookie");
    server.post_form("/logout", &[], Some(&token));
    let page = server.get("/session", Some(&token));
    assert_eq!(page.status, 401, "after logout: {page:?}");
    assert!(page.body.contains("session ended"));
}

#[test]
fn a_full_chat_refuses_a_login_with_503_and_retry_after() {
    // Two sessions in all, both with a socket open: nobody can be evicted.
    let server = common::start_with(|c| c.max_sessions = 2);
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");

    let page = server.post_form("/login", &[("name", "carol"), ("room", "lobby")], None);
    assert_eq!(
        page.status, 503,
        "a full chat is the server's state: {page:?}"
    );
    let retry: u64 = page
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {page:?}"));
    assert!(retry > 0);
    assert_eq!(page.cookie(), None, "a refused login sets no session");
    assert!(
        form_error(&page).contains("full"),
        "the form says why: {}",
        page.body
    );
    let name_value = input_value(&page.body, "name").expect("a name input");
    assert_eq!(unescape_html(name_value), "carol", "the typed name is kept");

    // The sessions in use are untouched.
    common::exchange(&mut alice, &mut bob, "still chatting in a full chat");
}

#[test]
fn a_name_taken_in_the_room_is_400_without_retry_after() {
    let server = common::start();
    let mut alice = server.user("alice");
    alice.join("lobby");
    let page = server.post_form("/login", &[("name", "alice"), ("room", "lobby")], None);
    assert_eq!(page.status, 400, "{page:?}");
    assert_eq!(
        page.header("retry-after"),
        None,
        "waiting does not free a name"
    );
}
