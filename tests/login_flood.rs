//! An anonymous login flood cannot lock anyone out: logins are charged to the
//! address, sessions are capped per address, the oldest unused session is
//! evicted instead of refusing newcomers, and a session that never opened a
//! socket is never written to the database (so it cannot take the space
//! messages need). A class behind one NAT address still all gets in.

use natter_testkit as common;

use common::TempDir;

#[test]
fn a_class_behind_one_address_logs_in_connects_and_joins() {
    // The shipped limits: nothing adjusted but the port and database.
    let server = common::start_with(|c| {
        c.rate_limit = natter::Config::default().rate_limit;
        c.max_per_ip = natter::config::MAX_CONNECTIONS_PER_IP;
    });
    let mut class = Vec::new();
    for i in 0..30 {
        let mut pupil = server.user(&format!("pupil{i}"));
        let joined = pupil.join("lobby");
        assert_eq!(joined["type"], "joined", "pupil {i}: {joined}");
        class.push(pupil);
    }
    let (first, rest) = class.split_first_mut().unwrap();
    first.say("lobby", "hello class");
    for pupil in rest {
        assert_eq!(pupil.recv_message()["text"], "hello class");
    }
}

#[test]
fn a_login_flood_from_one_address_is_refused_with_the_wait() {
    let server = common::start_with(|c| {
        c.rate_limit = natter::Config::default().rate_limit;
        c.trust_proxy = true;
    });
    let flood = |i: usize| {
        let body = format!("name=f{i}&room=lobby");
        server.request(
            "POST",
            "/login",
            &[
                "Content-Type: application/x-www-form-urlencoded".into(),
                "X-Forwarded-For: 198.51.100.66".into(),
            ],
            body.as_bytes(),
        )
    };
    let statuses: Vec<u16> = (0..400).map(|i| flood(i).status).collect();
    let passed = statuses.iter().take_while(|&&s| s == 303).count();
    assert!((200..300).contains(&passed), "{passed} logins passed");
    assert!(statuses[passed..].iter().all(|&s| s == 429), "{statuses:?}");
    let refused = flood(999);
    assert!(refused.header("Retry-After").is_some());
    assert!(refused.body.contains("Too many logins"), "{}", refused.body);
    // Someone else logs in as usual.
    assert_eq!(
        server
            .post_form("/login", &[("name", "bob"), ("room", "lobby")], None)
            .status,
        303
    );
}

#[test]
fn a_flood_of_sessions_evicts_unused_ones_and_stores_none() {
    let dir = TempDir::new("login-flood");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.db_max_bytes = Some(3 << 20);
        c.max_sessions_per_ip = 100;
    });
    // alice is chatting before the flood.
    let mut alice = server.user("alice");
    alice.join("lobby");
    let first_unused = server.login("idle", "lobby");
    for i in 0..500 {
        server.login(&format!("flood{i}"), "lobby");
    }
    // The oldest unused session made room; alice's, in use, did not.
    let page = server.get("/r/lobby", Some(&first_unused));
    assert_eq!(page.status, 303, "evicted: back to the login form");
    alice.say("lobby", "after the flood");
    assert_eq!(alice.recv_message()["text"], "after the flood");
    // A newcomer gets in.
    let mut bob = server.user("bob");
    bob.join("lobby");
    // Only sessions that opened a socket were ever stored.
    let stored: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 2, "alice and bob");
}

#[test]
fn an_expired_session_stops_working_at_once_and_after_a_restart() {
    let dir = TempDir::new("expiry");
    let db = dir.file("natter.db");
    let ttl = std::time::Duration::from_millis(800);
    let start = || {
        common::start_with(|c| {
            c.db = db.clone();
            c.session_ttl = ttl;
        })
    };
    let server = start();
    let token = server.login("alice", "lobby");
    drop(server.connect().session(&token).open()); // used, then idle from now
    std::thread::sleep(ttl * 2);
    // Well before any sweep: refused on the spot.
    assert_eq!(
        server
            .connect()
            .session(&token)
            .try_open()
            .map_err(|r| r.status)
            .err(),
        Some(401)
    );
    assert_eq!(server.get("/r/lobby", Some(&token)).status, 303);
    assert!(server.shutdown());
    let server = start();
    assert_eq!(
        server
            .connect()
            .session(&token)
            .try_open()
            .map_err(|r| r.status)
            .err(),
        Some(401)
    );
}
