//! The chat driven directly through its commands, with a chosen `now`: no
//! sockets, no threads, no sleeps. Each test is one rule a user would notice.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::cmd::{self, login::LoginRefusal};
use crate::config::{MAX_OUTBOX_BYTES, MIN_IDLE_TO_EVICT, UNUSED_SESSION_TTL};
use crate::protocol::parse_request;
use crate::storage::{Batch, SessionChange, Sqlite};

/// A chat on an empty in-memory database, and the moment it starts.
fn chat(adjust: impl FnOnce(&mut Config)) -> (Chat, Instant) {
    let mut config = Config {
        db: ":memory:".into(),
        ..Config::default()
    };
    adjust(&mut config);
    let store = Sqlite::open(":memory:", None).expect("an in-memory database opens");
    let now = Instant::now();
    let chat =
        Chat::new(config, Box::new(store), Writes::Inline, now).expect("an empty store loads");
    (chat, now)
}

/// The address the tests' connections come from.
const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn ip(text: &str) -> IpAddr {
    text.parse().expect("a literal address")
}

/// Log in as the web form does; returns the cookie's token.
fn login(chat: &mut Chat, name: &str, from: &str, now: Instant) -> Result<String, LoginRefusal> {
    let token = crate::session::new_token().expect("randomness");
    login_as(chat, name, token, from, now)
}

/// Log in as `name` in #lobby with this token, as the web form does for a
/// name nobody claimed.
fn login_as(
    chat: &mut Chat,
    name: &str,
    token: String,
    from: &str,
    now: Instant,
) -> Result<String, LoginRefusal> {
    let form = cmd::login::Form {
        name: name.into(),
        room: "lobby".into(),
        token,
        replaces: None,
        ip: ip(from),
        password: false,
    };
    match cmd::login::apply(chat, form, now)? {
        cmd::login::LoginStep::Done(token) => Ok(token),
        other => panic!("an unclaimed name needs no password: {other:?}"),
    }
}

fn lookup(chat: &Chat, token: &str, now: Instant) -> Option<String> {
    cmd::lookup::apply(chat, token, now)
}

/// Open connection `conn` for the session of `token`, as the hub does after
/// a handshake, and return its caller.
fn connect(chat: &mut Chat, token: &str, conn: ConnId, now: Instant) -> Caller {
    let session = chat
        .sessions()
        .live(&crate::session::token_key(token), now)
        .expect("a live session");
    chat.connect(conn, session, LOCAL, now)
        .expect("the session is live");
    Caller {
        session,
        address: ip("192.0.2.1"),
        conn,
        room_for_reply: MAX_OUTBOX_BYTES,
    }
}

/// A user logged in and connected as `conn`.
fn user(chat: &mut Chat, name: &str, conn: ConnId, now: Instant) -> Caller {
    let token = login(chat, name, "192.0.2.1", now).expect("login");
    connect(chat, &token, conn, now)
}

/// Send one frame as the page would.
fn send(chat: &mut Chat, caller: &Caller, json: &str, now: Instant) {
    let request = parse_request(json).expect("a valid request");
    cmd::run(chat, caller, request, now);
}

/// The JSON payloads of a run of unmasked server frames.
fn payloads(mut bytes: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (len, start) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        out.push(serde_json::from_slice(&bytes[start..start + len]).expect("JSON frames"));
        bytes = &bytes[start + len..];
    }
    out
}

/// Replies queued for `conn` since the last call (and drops the others').
fn replies(chat: &mut Chat, conn: ConnId) -> Vec<Value> {
    let out = chat.take_out();
    let mine = out.replies.iter().filter(|(c, _)| *c == conn);
    mine.flat_map(|(_, f)| payloads(f)).collect()
}

/// End a pass as the hub does: commit, presence, and the rooms' batches;
/// returns what `conn` received from them.
fn end_pass(chat: &mut Chat, conn: ConnId, now: Instant) -> Vec<Value> {
    if let Some(outcome) = chat.commit() {
        chat.committed(outcome);
    }
    chat.flush_presence(now);
    let mut got = Vec::new();
    chat.deliver(|member, chunk| {
        if member == conn {
            got.extend(payloads(chunk));
        }
    });
    chat.drop_idle_rooms();
    got
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

fn ids(messages: &Value) -> Vec<u64> {
    let list = messages.as_array().expect("a list of messages");
    list.iter()
        .map(|m| m["id"].as_u64().expect("an id"))
        .collect()
}

// -- sessions ---------------------------------------------------------------

#[test]
fn a_session_that_never_connects_expires_soon_and_on_lookup() {
    let (mut chat, now) = chat(|_| {});
    let token = login(&mut chat, "alice", "192.0.2.1", now).unwrap();
    let almost = now + UNUSED_SESSION_TTL - Duration::from_secs(1);
    assert_eq!(lookup(&chat, &token, almost).as_deref(), Some("alice"));
    // No sweep has run: the lookup itself sees that it is over.
    let after = now + UNUSED_SESSION_TTL;
    assert_eq!(lookup(&chat, &token, after), None);
}

#[test]
fn a_used_session_lives_its_ttl_after_its_last_socket_closes() {
    let (mut chat, now) = chat(|c| c.session_ttl = Duration::from_secs(3600));
    let token = login(&mut chat, "alice", "192.0.2.1", now).unwrap();
    connect(&mut chat, &token, 1, now);
    // Connected, it never expires, however long.
    let much_later = now + Duration::from_secs(10 * 3600);
    assert_eq!(lookup(&chat, &token, much_later).as_deref(), Some("alice"));
    chat.disconnect(1, much_later);
    let almost = much_later + Duration::from_secs(3599);
    assert_eq!(lookup(&chat, &token, almost).as_deref(), Some("alice"));
    assert_eq!(lookup(&chat, &token, almost + Duration::from_secs(1)), None);
}

#[test]
fn logins_from_one_address_evict_its_oldest_unused_session() {
    let (mut chat, now) = chat(|c| {
        c.rate_limit = None;
        c.max_sessions_per_ip = 3;
    });
    let tokens: Vec<String> = (0..5)
        .map(|i| login(&mut chat, &format!("u{i}"), "192.0.2.1", now).unwrap())
        .collect();
    let alive: Vec<bool> = tokens
        .iter()
        .map(|t| lookup(&chat, t, now).is_some())
        .collect();
    assert_eq!(alive, [false, false, true, true, true]);
    // Another address is not affected by that one's cap.
    assert!(login(&mut chat, "bob", "192.0.2.2", now).is_ok());
    assert_eq!(chat.sessions.len(), 4);
}

#[test]
fn a_full_chat_evicts_instead_of_refusing() {
    let (mut chat, now) = chat(|c| {
        c.rate_limit = None;
        c.max_sessions = 10;
    });
    let first = login(&mut chat, "first", "192.0.2.1", now).unwrap();
    for i in 0..20 {
        let from = format!("198.51.100.{i}");
        assert!(login(&mut chat, &format!("flood{i}"), &from, now).is_ok());
    }
    assert_eq!(chat.sessions.len(), 10);
    assert_eq!(lookup(&chat, &first, now), None, "the oldest went first");
    assert!(login(&mut chat, "newcomer", "203.0.113.5", now).is_ok());
}

/// Open and close a socket for this session, as a page that was chatting
/// and then reloaded or went to sleep. The session is idle from `now`.
fn use_once(chat: &mut Chat, token: &str, conn: ConnId, now: Instant) {
    connect(chat, token, conn, now);
    chat.disconnect(conn, now);
}

#[test]
fn a_flood_never_evicts_someone_who_was_just_chatting() {
    let (mut chat, now) = chat(|c| {
        c.rate_limit = None;
        c.max_sessions = 2;
        c.max_sessions_per_ip = 2;
    });
    let alice = login(&mut chat, "alice", "192.0.2.1", now).unwrap();
    use_once(&mut chat, &alice, 1, now);
    // A flood from alice's address and from others: the unused go first.
    for i in 0..20 {
        let from = ["192.0.2.1", "198.51.100.7"][i % 2];
        assert!(login(&mut chat, &format!("f{i}"), from, now).is_ok());
    }
    assert_eq!(lookup(&chat, &alice, now).as_deref(), Some("alice"));
    // With every other place taken by someone who chatted too, a newcomer
    // is refused (503, try again later) rather than evicting them ...
    let bob = login(&mut chat, "bob", "203.0.113.1", now).unwrap();
    use_once(&mut chat, &bob, 2, now);
    let soon = now + Duration::from_secs(60);
    let refused = login(&mut chat, "carol", "203.0.113.2", soon).unwrap_err();
    assert_eq!((refused.status(), refused.retry_after()), (503, Some(60)));
    // ... until one has been away for a long while.
    let later = now + MIN_IDLE_TO_EVICT;
    assert!(login(&mut chat, "carol", "203.0.113.2", later).is_ok());
    assert_eq!(lookup(&chat, &alice, later), None, "the longest idle went");
    assert_eq!(lookup(&chat, &bob, later).as_deref(), Some("bob"));
}

#[test]
fn a_name_taken_in_the_room_is_refused_with_400() {
    let (mut chat, now) = chat(|_| {});
    let alice = user(&mut chat, "alice", 1, now);
    send(&mut chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    // A look-alike spelling is the same name.
    let refused = login(&mut chat, "ALICE", "192.0.2.9", now).unwrap_err();
    assert_eq!((refused.status(), refused.retry_after()), (400, None));
    assert!(
        refused.to_string().contains("already taken in #lobby"),
        "{refused}"
    );
}

#[test]
fn logins_are_charged_to_the_address() {
    let (mut chat, now) = chat(|c| c.rate_limit = Some(2.0));
    // The address budget is 10 x 2 = 20; a login costs 1.
    let passed = (0..40)
        .take_while(|i| login(&mut chat, &format!("u{i}"), "192.0.2.1", now).is_ok())
        .count();
    assert_eq!(passed, 19);
    let refused = login(&mut chat, "late", "192.0.2.1", now).unwrap_err();
    assert_eq!(refused.status(), 429);
    assert!(refused.retry_after().is_some_and(|s| s > 0), "{refused:?}");
    // An IPv6 neighbour in the same /64 shares it; another /64 does not.
    assert!(login(&mut chat, "v6a", "2001:db8::1", now).is_ok());
    assert!(login(&mut chat, "v6b", "2001:db8:0:1::1", now).is_ok());
    assert!(login(&mut chat, "other", "192.0.2.2", now).is_ok());
}

#[test]
fn sessions_that_expired_while_stopped_are_not_restored() {
    let mut store = Sqlite::open(":memory:", None).unwrap();
    let day = 24 * 60 * 60 * 1000;
    let save = |token: &str, name: &str, idle_since_ms| SessionChange::Save {
        token: token.into(),
        name: name.into(),
        idle_since_ms,
        rooms: Vec::new(),
        account: None,
    };
    let batch = Batch {
        sessions: vec![
            save("old", "alice", now_millis() - 2 * day),
            save("new", "bob", now_millis()),
        ],
        ..Batch::default()
    };
    store.commit(&batch).unwrap();
    let mut chat = Chat::new(
        Config::default(),
        Box::new(store),
        Writes::Inline,
        Instant::now(),
    )
    .unwrap();
    assert_eq!(chat.sessions.len(), 1);
    assert_eq!(
        chat.sessions
            .by_token("new")
            .and_then(|id| chat.session(id))
            .map(|s| s.name.to_string()),
        Some("bob".into())
    );
    assert_eq!(
        chat.store().sessions().unwrap().len(),
        1,
        "and it is deleted"
    );
}

// -- rooms, presence and the grace period -------------------------------------

#[test]
fn a_dropped_connection_is_announced_only_after_the_grace_period() {
    let (mut chat, now) = chat(|c| c.leave_grace = Duration::from_secs(4));
    let alice = user(&mut chat, "alice", 1, now);
    let bob = user(&mut chat, "bob", 2, now);
    send(&mut chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    end_pass(&mut chat, 1, now);
    chat.disconnect(2, now);
    let almost = now + Duration::from_millis(3999);
    chat.tick(almost);
    assert!(of_type(&end_pass(&mut chat, 1, almost), "system").is_empty());
    let due = now + Duration::from_secs(4);
    assert!(chat.next_deadline() <= due, "the hub is woken for it");
    chat.tick(due);
    let got = end_pass(&mut chat, 1, due);
    let notices = of_type(&got, "system");
    assert_eq!(notices.len(), 1, "{got:?}");
    assert_eq!(notices[0]["text"], "bob left");
}

#[test]
fn coming_back_within_the_grace_period_announces_nothing() {
    let (mut chat, now) = chat(|c| c.leave_grace = Duration::from_secs(4));
    let alice = user(&mut chat, "alice", 1, now);
    let token = login(&mut chat, "bob", "192.0.2.1", now).unwrap();
    let bob = connect(&mut chat, &token, 2, now);
    send(&mut chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    end_pass(&mut chat, 1, now);
    // A page reload: the old socket drops, a new one joins two seconds later.
    chat.disconnect(2, now);
    let back = now + Duration::from_secs(2);
    let bob = connect(&mut chat, &token, 3, back);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, back);
    let later = now + Duration::from_secs(10);
    chat.tick(later);
    let got = end_pass(&mut chat, 1, later);
    assert!(of_type(&got, "system").is_empty(), "{got:?}");
}

#[test]
fn a_restart_is_as_quiet_as_a_reload() {
    let path = std::env::temp_dir().join(format!("natter-restart-{}.db", std::process::id()));
    let path = path.display().to_string();
    let open = |now| {
        let config = Config {
            db: path.clone(),
            restart_grace: Duration::from_secs(20),
            ..Config::default()
        };
        let store = Sqlite::open(&path, None).expect("the scratch file opens");
        Chat::new(config, Box::new(store), Writes::Inline, now).expect("it loads")
    };
    let now = Instant::now();
    let mut chat = open(now);
    let mut tokens = Vec::new();
    for (conn, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        let token = login(&mut chat, name, "192.0.2.1", now).unwrap();
        let caller = connect(&mut chat, &token, conn, now);
        send(&mut chat, &caller, r#"{"type":"join","room":"Lobby"}"#, now);
        tokens.push(token);
    }
    end_pass(&mut chat, 1, now);
    // Stop, as the hub does: shut down, every connection closes, the last
    // commit runs.
    chat.shut_down(now);
    for conn in 1..=3 {
        chat.disconnect(conn, now);
    }
    end_pass(&mut chat, 1, now);
    drop(chat);

    let start = now + Duration::from_secs(5);
    let mut chat = open(start);
    let alice = connect(&mut chat, &tokens[0], 11, start);
    send(
        &mut chat,
        &alice,
        r#"{"type":"join","room":"Lobby"}"#,
        start,
    );
    let joined = replies(&mut chat, 11);
    let members = &of_type(&joined, "joined")[0]["members"];
    assert_eq!(
        members,
        &serde_json::json!(["alice", "bob", "carol"]),
        "the member list is as it was before the stop"
    );
    let bob = connect(&mut chat, &tokens[1], 12, start);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, start);
    let got = end_pass(&mut chat, 11, start);
    assert!(
        of_type(&got, "system").is_empty(),
        "nobody announced: {got:?}"
    );

    // Carol does not come back: she is announced once the restart's grace ends.
    let late = start + Duration::from_secs(19);
    chat.tick(late);
    assert!(of_type(&end_pass(&mut chat, 11, late), "system").is_empty());
    let due = start + Duration::from_secs(20);
    chat.tick(due);
    let got = end_pass(&mut chat, 11, due);
    let notices = of_type(&got, "system");
    assert_eq!(notices.len(), 1, "{got:?}");
    assert_eq!(notices[0]["text"], "carol left");
    drop(chat);

    // A fresh login as carol (a lost cookie, another device) takes her name
    // from the session the restart kept it for.
    let mut chat = open(due);
    let alice = connect(&mut chat, &tokens[0], 21, due);
    send(&mut chat, &alice, r#"{"type":"join","room":"Lobby"}"#, due);
    end_pass(&mut chat, 21, due);
    chat.shut_down(due);
    chat.disconnect(21, due);
    end_pass(&mut chat, 21, due);
    drop(chat);
    let mut chat = open(due);
    assert!(
        login_as(&mut chat, "alice", "t".repeat(32), "192.0.2.9", due).is_ok(),
        "a name kept only for a restart is free for a new login"
    );
    drop(chat);

    // The rooms were used once: after a crash now, nobody would be restored.
    let mut store = Sqlite::open(&path, None).unwrap();
    let stored = store.sessions().unwrap();
    assert!(stored.iter().all(|s| s.rooms.is_empty()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

#[test]
fn member_lists_in_big_rooms_are_spaced_out() {
    let (mut chat, now) = chat(|c| {
        c.rate_limit = None;
        c.max_sessions_per_ip = 1000;
    });
    let first = user(&mut chat, "u0", 1, now);
    send(&mut chat, &first, r#"{"type":"join","room":"big"}"#, now);
    for i in 1..500 {
        let u = user(&mut chat, &format!("u{i}"), 1 + i, now);
        send(&mut chat, &u, r#"{"type":"join","room":"big"}"#, now);
    }
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(
        of_type(&got, "presence").len(),
        1,
        "one list per pass, not 500"
    );
    // Another joins: the next list waits 1 ms per member (500 ms here).
    let late = user(&mut chat, "late", 9999, now);
    send(&mut chat, &late, r#"{"type":"join","room":"big"}"#, now);
    let soon = now + Duration::from_millis(100);
    assert!(of_type(&end_pass(&mut chat, 1, soon), "presence").is_empty());
    let due = now + Duration::from_millis(500);
    assert!(chat.next_deadline() <= due);
    let got = end_pass(&mut chat, 1, due);
    let lists = of_type(&got, "presence");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0]["members"].as_array().unwrap().len(), 501);
}

// -- posting, resuming and dedupe ----------------------------------------------

/// Alice in `lobby` with messages 1..=n posted and committed.
fn lobby_with(chat: &mut Chat, n: u64, now: Instant) -> Caller {
    let alice = user(chat, "alice", 1, now);
    send(chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    for i in 1..=n {
        send(
            chat,
            &alice,
            &format!(r#"{{"type":"message","room":"lobby","text":"m{i}"}}"#),
            now,
        );
    }
    end_pass(chat, 1, now);
    replies(chat, 1);
    alice
}

/// What a new connection of `caller`'s session gets when it joins with `since`.
fn rejoin(chat: &mut Chat, caller: &Caller, since: u64, now: Instant) -> Value {
    let again = Caller {
        conn: 50,
        ..*caller
    };
    chat.connect(50, caller.session, LOCAL, now).unwrap();
    let join = format!(r#"{{"type":"join","room":"lobby","since":{since}}}"#);
    send(chat, &again, &join, now);
    let got = replies(chat, 50);
    of_type(&got, "joined")[0].clone()
}

#[test]
fn a_message_reaches_nobody_before_it_is_committed() {
    let (mut chat, now) = chat(|_| {});
    let alice = lobby_with(&mut chat, 0, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"lobby","text":"hi"}"#,
        now,
    );
    assert!(
        of_type(&replies(&mut chat, 1), "message").is_empty(),
        "no echo before the commit"
    );
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(of_type(&got, "message")[0]["text"], "hi");
    let (stored, _) = chat.store().before("lobby", "lobby", u64::MAX, 10).unwrap();
    assert_eq!(stored.len(), 1, "stored by the time it was delivered");
}

#[test]
fn resuming_with_since_gets_exactly_what_was_missed() {
    let (mut chat, now) = chat(|c| {
        c.history = 5;
        c.rate_limit = None;
    });
    let alice = lobby_with(&mut chat, 20, now);
    // In the cache ...
    let joined = rejoin(&mut chat, &alice, 17, now);
    assert_eq!(
        (ids(&joined["history"]), &joined["gap"]),
        (vec![18, 19, 20], &Value::Bool(false))
    );
    // ... and older than the cache: replayed from storage.
    chat.disconnect(50, now);
    let joined = rejoin(&mut chat, &alice, 2, now);
    assert_eq!(ids(&joined["history"]), (3..=20).collect::<Vec<_>>());
    assert_eq!(joined["gap"], false);
}

#[test]
fn a_since_from_another_database_is_a_gap() {
    let (mut chat, now) = chat(|_| {});
    let alice = lobby_with(&mut chat, 3, now);
    // Ids above the newest: the database was replaced. Start over.
    let joined = rejoin(&mut chat, &alice, 100, now);
    assert_eq!(
        (ids(&joined["history"]), &joined["gap"]),
        (vec![1, 2, 3], &Value::Bool(true))
    );
}

#[test]
fn a_resume_cut_to_fit_the_queue_says_gap() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 50, now);
    // A joiner whose queue has room for only a few messages.
    let cramped = Caller {
        room_for_reply: 600,
        ..alice
    };
    chat.connect(60, alice.session, LOCAL, now).unwrap();
    let cramped = Caller {
        conn: 60,
        ..cramped
    };
    send(
        &mut chat,
        &cramped,
        r#"{"type":"join","room":"lobby","since":10}"#,
        now,
    );
    let got = replies(&mut chat, 60);
    let joined = of_type(&got, "joined")[0];
    let got_ids = ids(&joined["history"]);
    assert!(
        got_ids.len() < 40 && got_ids.last() == Some(&50),
        "{got_ids:?}"
    );
    assert_eq!(joined["gap"], true);
}

#[test]
fn a_resend_with_the_same_client_id_posts_nothing_and_gets_the_original() {
    let (mut chat, now) = chat(|_| {});
    let alice = lobby_with(&mut chat, 0, now);
    let frame = r#"{"type":"message","room":"lobby","text":"once","client_id":"c1"}"#;
    send(&mut chat, &alice, frame, now);
    let first = end_pass(&mut chat, 1, now);
    let original = of_type(&first, "message")[0].clone();
    send(&mut chat, &alice, frame, now);
    let answer = replies(&mut chat, 1);
    assert_eq!(
        of_type(&answer, "message"),
        vec![&original],
        "the original, to the sender"
    );
    assert!(
        of_type(&end_pass(&mut chat, 1, now), "message").is_empty(),
        "posted once"
    );
    // The same client id in another room is another message.
    send(&mut chat, &alice, r#"{"type":"join","room":"other"}"#, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"other","text":"once","client_id":"c1"}"#,
        now,
    );
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(of_type(&got, "message")[0]["room"], "other");
}

// -- rate limits ---------------------------------------------------------------

#[test]
fn a_flood_is_refused_then_closed_and_others_carry_on() {
    let (mut chat, now) = chat(|c| c.rate_limit = Some(5.0));
    let alice = lobby_with(&mut chat, 0, now);
    let bob = user(&mut chat, "bob", 2, now);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    chat.take_out();
    let flood = r#"{"type":"message","room":"lobby","text":"x","client_id":"f"}"#;
    for _ in 0..5 {
        send(&mut chat, &alice, flood, now);
    }
    let out = chat.take_out();
    let refusals: Vec<Value> = out.replies.iter().flat_map(|(_, f)| payloads(f)).collect();
    let limited = of_type(&refusals, "error");
    assert!(!limited.is_empty(), "{refusals:?}");
    assert_eq!(limited[0]["code"], "rate_limited");
    assert_eq!(limited[0]["client_id"], "f", "the page can mark it unsent");
    assert!(limited[0]["retry_after"].as_u64().is_some_and(|s| s > 0));
    assert!(out.closes.is_empty(), "refused, not yet closed");
    for _ in 0..20 {
        send(&mut chat, &alice, flood, now);
    }
    let out = chat.take_out();
    assert!(out
        .closes
        .contains(&(1, close::POLICY, "rate limit exceeded")));
    // Bob's budget is his own.
    send(
        &mut chat,
        &bob,
        r#"{"type":"message","room":"lobby","text":"still here"}"#,
        now,
    );
    assert!(chat.take_out().replies.is_empty(), "bob is not refused");
    let got = end_pass(&mut chat, 2, now);
    assert!(of_type(&got, "message")
        .iter()
        .any(|m| m["text"] == "still here"));
}

#[test]
fn budgets_recover_with_time() {
    let (mut chat, now) = chat(|c| c.rate_limit = Some(10.0));
    let alice = lobby_with(&mut chat, 0, now);
    let say = r#"{"type":"message","room":"lobby","text":"x"}"#;
    let sent = |chat: &mut Chat, at| {
        send(chat, &alice, say, at);
        let got = replies(chat, 1);
        of_type(&got, "error").is_empty()
    };
    while sent(&mut chat, now) {}
    assert!(!sent(&mut chat, now), "still refused at once");
    let later = now + Duration::from_secs(60);
    assert!(sent(&mut chat, later), "allowed again after two half-lives");
}

// -- answers within their byte budget ------------------------------------------

#[test]
fn answers_with_many_messages_keep_to_their_byte_budget() {
    let room: Arc<str> = "lobby".into();
    let messages: Vec<ChatMessage> = (1..=10)
        // 2,000 bytes each once escaped.
        .map(|id| ChatMessage::new(room.clone(), id, "alice".into(), "\"".repeat(1000), 0))
        .collect();
    let all: Vec<&ChatMessage> = messages.iter().collect();
    let (fit, cut) = newest_within(all.clone(), 5 * 2200);
    assert!(cut);
    assert_eq!(
        fit.iter().map(|m| m.id).collect::<Vec<_>>(),
        [6, 7, 8, 9, 10]
    );
    let (fit, cut) = newest_within(all, usize::MAX);
    assert_eq!((fit.len(), cut), (10, false));
}

#[test]
fn typing_is_passed_on_once_a_second_and_again_right_after_a_message() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 0, now);
    let typing = r#"{"type":"typing","room":"lobby"}"#;
    send(&mut chat, &alice, typing, now);
    send(&mut chat, &alice, typing, now + Duration::from_millis(500));
    assert_eq!(of_type(&end_pass(&mut chat, 1, now), "typing").len(), 1);
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"lobby","text":"done"}"#,
        now,
    );
    send(&mut chat, &alice, typing, now + Duration::from_millis(600));
    assert_eq!(
        of_type(&end_pass(&mut chat, 1, now), "typing").len(),
        1,
        "a message ends typing"
    );
}

mod actions;
mod rooms;

// -- claimed names ------------------------------------------------------------

#[test]
fn a_claim_is_shown_to_the_room_only_once_it_is_stored() {
    let (mut chat, now) = chat(|_| {});
    let token = login(&mut chat, "alice", "192.0.2.1", now).expect("login");
    let alice = connect(&mut chat, &token, 1, now);
    send(&mut chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    let bob = user(&mut chat, "bob", 2, now);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    end_pass(&mut chat, 2, now);
    replies(&mut chat, 2);
    let later = now + Duration::from_secs(10);
    let (reply, answer) = crossbeam_channel::bounded(1);
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_string();
    cmd::claim::apply(&mut chat, &token, ip("192.0.2.1"), phc, reply, later);
    // The hub's pass: the commit starts, and while the writer stores it the
    // member lists and batches go out (see `hub::flush`).
    let outcome = chat.commit().expect("the claim is to be stored");
    chat.flush_presence(later);
    let mut told = Vec::new();
    chat.deliver(|member, chunk| {
        if member == 2 {
            told.extend(payloads(chunk));
        }
    });
    assert!(
        of_type(&told, "presence")
            .iter()
            .all(|p| p["verified"] == serde_json::json!([])),
        "a check mark before the claim is stored: {told:?}"
    );
    assert!(answer.try_recv().is_err(), "no answer before it is stored");
    chat.committed(outcome);
    assert_eq!(answer.try_recv().unwrap(), Ok("alice".to_string()));
    let got = end_pass(&mut chat, 2, later + Duration::from_secs(10));
    assert_eq!(
        of_type(&got, "presence")[0]["verified"],
        serde_json::json!(["alice"])
    );
}

#[test]
fn a_message_written_while_a_claim_is_stored_has_no_check_mark_if_the_claim_fails() {
    let (mut chat, now) = chat(|_| {});
    let token = login(&mut chat, "alice", "192.0.2.1", now).expect("login");
    let alice = connect(&mut chat, &token, 1, now);
    send(&mut chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    end_pass(&mut chat, 1, now);
    replies(&mut chat, 1);
    // An account that already has alice's public id: her claim cannot be
    // stored (the id is unique).
    let uid = chat.session(alice.session).unwrap().uid.to_string();
    let taken = crate::storage::StoredAccount {
        key: "someone".into(),
        name: "someone".into(),
        uid,
        phc: "x".into(),
        created_ms: 0,
        bio: String::new(),
        color: String::new(),
    };
    let batch = Batch {
        accounts: vec![crate::storage::AccountChange::Save(taken)],
        ..Batch::default()
    };
    chat.store().commit(&batch).unwrap();
    let (reply, answer) = crossbeam_channel::bounded(1);
    cmd::claim::apply(&mut chat, &token, ip("192.0.2.1"), "phc".into(), reply, now);
    let outcome = chat.commit().expect("the claim is to be stored");
    // While it is being stored, she writes.
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"lobby","text":"mine now"}"#,
        now,
    );
    chat.committed(outcome);
    assert!(answer.try_recv().unwrap().is_err(), "the claim failed");
    let got = end_pass(&mut chat, 1, now);
    let message = of_type(&got, "message")[0];
    assert_eq!(message["text"], "mine now");
    assert!(
        message.get("verified").is_none(),
        "a check mark for a claim that failed: {message}"
    );
}
