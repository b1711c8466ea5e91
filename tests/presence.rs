//! Everyone in a room sees who is there: a join notice when a user's first
//! connection enters, a leave notice when their last one goes (even abruptly),
//! and nothing at all for a page reload inside the grace period.

use natter_testkit as common;

use std::time::Duration;

use serde_json::{json, Value};

/// The next notice about `user`, skipping others (everyone sees their own join).
fn notice_about(client: &mut common::Client, user: &str) -> Value {
    loop {
        let notice = client.recv_type("system");
        if notice["user"] == user {
            return notice;
        }
    }
}

#[test]
fn joining_posts_a_notice_and_the_member_list() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    assert_eq!(alice.join("lobby")["members"], json!(["alice"]));
    assert_eq!(bob.join("lobby")["members"], json!(["alice", "bob"]));

    let notice = notice_about(&mut alice, "bob");
    assert_eq!(notice["event"], "join");
    assert_eq!(notice["user"], "bob");
    assert_eq!(notice["room"], "lobby");
    assert_eq!(notice["text"], "bob joined");
    let mut presence = alice.recv_type("presence");
    while presence["members"] != json!(["alice", "bob"]) {
        presence = alice.recv_type("presence");
    }
}

#[test]
fn an_abrupt_disconnect_posts_one_leave_after_the_grace_period() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    notice_about(&mut alice, "bob");

    bob.drop_abruptly();
    let notice = notice_about(&mut alice, "bob");
    assert_eq!(
        (notice["event"].as_str(), notice["user"].as_str()),
        (Some("leave"), Some("bob"))
    );
    assert_eq!(alice.recv_type("presence")["members"], json!(["alice"]));
    alice.expect_none("system", Duration::from_millis(600));
}

#[test]
fn an_explicit_leave_is_announced_at_once_and_stops_delivery() {
    let server = common::start_with(|c| c.leave_grace = Duration::from_secs(60));
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    notice_about(&mut alice, "bob");
    bob.send(json!({"type": "leave", "room": "lobby"}));
    let notice = notice_about(&mut alice, "bob");
    assert_eq!(
        (notice["event"].as_str(), notice["user"].as_str()),
        (Some("leave"), Some("bob"))
    );
    alice.say("lobby", "bob is gone");
    bob.expect_none("message", Duration::from_millis(300));
}

#[test]
fn a_reload_inside_the_grace_period_posts_neither_leave_nor_join() {
    let server = common::start_with(|c| c.leave_grace = Duration::from_secs(3));
    let mut alice = server.user("alice");
    let bob_token = server.login("bob", "lobby");
    let mut bob = server.connect().session(&bob_token).open();
    alice.join("lobby");
    bob.join("lobby");
    notice_about(&mut alice, "bob");

    // The reload: the old page's socket drops, the new page connects and joins.
    bob.drop_abruptly();
    let mut bob = server.connect().session(&bob_token).open();
    assert_eq!(bob.join("lobby")["members"], json!(["alice", "bob"]));

    alice.expect_none("system", Duration::from_secs(4));
    bob.say("lobby", "back");
    assert_eq!(alice.recv_message()["text"], "back");
}

#[test]
fn a_second_tab_closing_does_not_make_the_user_leave() {
    let server = common::start();
    let mut alice = server.user("alice");
    let bob_token = server.login("bob", "lobby");
    let mut tab1 = server.connect().session(&bob_token).open();
    let mut tab2 = server.connect().session(&bob_token).open();
    alice.join("lobby");
    tab1.join("lobby");
    tab2.join("lobby");
    assert_eq!(notice_about(&mut alice, "bob")["event"], "join");
    alice.expect_none("system", Duration::from_millis(200));

    tab1.drop_abruptly();
    alice.expect_none("system", Duration::from_millis(800));
    tab2.drop_abruptly();
    assert_eq!(notice_about(&mut alice, "bob")["event"], "leave");
}
