//! Connection caps are checked at the WebSocket handshake: past the per-address
//! cap the handshake is answered 429, past the total cap 503, both with
//! `Retry-After`. Connections already open are untouched and keep chatting,
//! and closing one frees its slot for the next handshake.

use natter_testkit as common;

use std::time::{Duration, Instant};

use common::{Client, TestServer};

/// Two users in the lobby, the two connections the cap allows, and alice's
/// session token.
fn two_in_the_lobby(server: &TestServer) -> (Client, Client, String) {
    let token = server.login("alice", "lobby");
    let mut alice = server.connect().session(&token).open();
    alice.recv_type("hello");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    (alice, bob, token)
}

/// alice and bob exchange a line each way.
fn still_chatting(alice: &mut Client, bob: &mut Client, tag: &str) {
    alice.say("lobby", &format!("{tag} from alice"));
    assert_eq!(
        bob.recv_message()["text"],
        format!("{tag} from alice").as_str()
    );
    assert_eq!(
        alice.recv_message()["text"],
        format!("{tag} from alice").as_str()
    );
    bob.say("lobby", &format!("{tag} from bob"));
    assert_eq!(
        alice.recv_message()["text"],
        format!("{tag} from bob").as_str()
    );
    assert_eq!(
        bob.recv_message()["text"],
        format!("{tag} from bob").as_str()
    );
}

/// Try a handshake until one is accepted (a slot is freed once the server has
/// seen the old connection end), within the deadline.
fn connect_when_a_slot_frees(server: &TestServer, token: &str) -> Client {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        match server.connect().session(token).try_open() {
            Ok(client) => return client,
            Err(refused) => {
                assert!(
                    Instant::now() < deadline,
                    "the slot was never freed: {refused:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The refusal, its `Retry-After`, the survivors, and the freed slot.
fn cap_holds(server: TestServer, status: u16) {
    let (mut alice, mut bob, alice_token) = two_in_the_lobby(&server);
    let carol = server.login("carol", "lobby");
    // Refused, as often as asked, each time with Retry-After.
    for _ in 0..3 {
        let refused = server
            .connect()
            .session(&carol)
            .try_open()
            .err()
            .expect("a third connection is refused");
        assert_eq!(refused.status, status, "{refused:?}");
        let secs: u64 = refused
            .retry_after
            .as_deref()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in seconds: {refused:?}"));
        assert!(secs >= 1, "{refused:?}");
        // A second tab of an admitted session is refused just the same.
        let again = server.connect().session(&alice_token).try_open().err();
        assert_eq!(again.map(|r| r.status), Some(status));
    }
    // The admitted connections never noticed.
    still_chatting(&mut alice, &mut bob, "during");

    // bob leaves, with a close frame; his slot goes to carol.
    bob.socket.close(None).unwrap();
    let _ = bob.expect_close();
    drop(bob);
    let mut carol = connect_when_a_slot_frees(&server, &carol);
    carol.recv_type("hello");
    carol.join("lobby");
    carol.say("lobby", "I got bob's slot");
    assert_eq!(alice.recv_message()["text"], "I got bob's slot");
    assert_eq!(carol.recv_message()["text"], "I got bob's slot");
    // And the cap holds again.
    let dave = server.login("dave", "lobby");
    let refused = server.connect().session(&dave).try_open().err();
    assert_eq!(refused.map(|r| r.status), Some(status));

    // A connection that just vanishes (no close frame) frees its slot too.
    carol.drop_abruptly();
    let mut dave = connect_when_a_slot_frees(&server, &dave);
    dave.recv_type("hello");
    dave.join("lobby");
    dave.say("lobby", "and I got carol's");
    assert_eq!(alice.recv_message()["text"], "and I got carol's");
}

#[test]
fn a_third_connection_from_one_address_is_429_with_retry_after() {
    cap_holds(common::start_with(|c| c.max_per_ip = 2), 429);
}

#[test]
fn a_third_connection_in_all_is_503_with_retry_after() {
    cap_holds(common::start_with(|c| c.max_connections = 2), 503);
}

#[test]
fn the_per_address_cap_counts_each_forwarded_address_behind_a_trusted_proxy() {
    // Behind a proxy every connection comes from the proxy's address; with
    // trust_proxy the cap applies to each client's own address instead.
    let server = common::start_with(|c| {
        c.max_per_ip = 1;
        c.trust_proxy = true;
    });
    let alice = server.login("alice", "lobby");
    let bob = server.login("bob", "lobby");
    let mut a = server
        .connect()
        .session(&alice)
        .forwarded_for("198.51.100.1")
        .past_hello();
    let mut b = server
        .connect()
        .session(&bob)
        .forwarded_for("198.51.100.2")
        .past_hello();
    a.join("lobby");
    b.join("lobby");
    let refused = server
        .connect()
        .session(&alice)
        .forwarded_for("198.51.100.1")
        .try_open()
        .err()
        .expect("a second connection from 198.51.100.1 is refused");
    assert_eq!(refused.status, 429);
    assert!(refused.retry_after.is_some(), "{refused:?}");
    still_chatting(&mut a, &mut b, "behind the proxy");
}
