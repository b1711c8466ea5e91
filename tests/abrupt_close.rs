//! Connections that end badly end cleanly for everyone else: a reset in the
//! middle of a frame, and a close (polite, abrupt, or a reset) while the hub is
//! fanning a burst out to that very client, each give exactly one leave notice
//! per user, no panic (the hub lives and the server keeps serving), and a
//! member list that is right afterwards.

use natter_testkit as common;

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use common::{Client, TestServer};
use serde_json::{json, Value};

/// Write half of a frame, then reset the connection (SO_LINGER 0, close).
fn reset_mid_frame(mut client: Client) {
    let frame = common::text_frame(&json!({
        "type": "message", "room": "lobby", "text": "this frame never ends",
    }));
    let stream = client.socket.get_mut();
    stream.write_all(&frame[..frame.len() / 2]).unwrap();
    stream.flush().unwrap();
    socket2::SockRef::from(&*stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client); // close with linger 0: RST
}

/// Reset without writing anything first, with unread data waiting.
fn reset(client: Client) {
    socket2::SockRef::from(client.socket.get_ref())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
}

/// What a bystander has seen: leave notices by user, the latest member list,
/// and the chat messages.
#[derive(Default)]
struct Watch {
    leaves: HashMap<String, usize>,
    members: Value,
    messages: Vec<String>,
}

impl Watch {
    fn see(&mut self, event: Value) {
        match event["type"].as_str() {
            Some("system") if event["event"] == "leave" => {
                *self
                    .leaves
                    .entry(event["user"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            Some("presence") => self.members = event["members"].clone(),
            Some("message") => self
                .messages
                .push(event["text"].as_str().unwrap().to_string()),
            _ => {}
        }
    }

    /// Read until every one of `users` has left.
    fn until_left(&mut self, bob: &mut Client, users: &[&str]) {
        let deadline = Instant::now() + common::DEADLINE;
        while !users.iter().all(|u| self.leaves.contains_key(*u)) {
            assert!(
                Instant::now() < deadline,
                "no leave notice for some of {users:?}: {:?}",
                self.leaves
            );
            self.see(bob.recv());
        }
    }

    /// Read until the latest member list is `members`. Nobody else acts
    /// meanwhile: the list must come by itself (it may be sent a little
    /// later than the notices, as presence is coalesced).
    fn until_members(&mut self, bob: &mut Client, members: Value) {
        let deadline = Instant::now() + common::DEADLINE;
        while self.members != members {
            assert!(
                Instant::now() < deadline,
                "member list never became {members}: {}",
                self.members
            );
            self.see(bob.recv());
        }
    }

    /// Read until this chat message.
    fn until_message(&mut self, bob: &mut Client, text: &str) {
        while self.messages.last().map(String::as_str) != Some(text) {
            self.see(bob.recv());
        }
    }
}

/// After the dust settles: wait past any duplicate notice, then check the
/// count, the member list, a newcomer's view, and that the hub is alive.
fn settle(
    server: &TestServer,
    alice: &mut Client,
    bob: &mut Client,
    watch: &mut Watch,
    gone: &[&str],
) {
    watch.until_members(bob, json!(["alice", "bob"]));
    std::thread::sleep(Duration::from_secs(1)); // > 3 leave grace periods
    alice.say("lobby", "sync");
    watch.until_message(bob, "sync");
    for user in gone {
        assert_eq!(
            watch.leaves.get(*user).copied(),
            Some(1),
            "exactly one leave notice for {user}: {:?}",
            watch.leaves
        );
    }
    assert_eq!(
        watch.leaves.len(),
        gone.len(),
        "nobody else left: {:?}",
        watch.leaves
    );
    assert_eq!(
        watch.members,
        json!(["alice", "bob"]),
        "member list afterwards"
    );
    assert!(
        !server.hub_stopped_within(Duration::from_millis(100)),
        "the hub is alive: no panic"
    );
    let mut carol = server.user("carol");
    let joined = carol.join("lobby");
    assert_eq!(
        joined["members"],
        json!(["alice", "bob", "carol"]),
        "{joined}"
    );
    carol.say("lobby", "hello after all that");
    watch.until_message(bob, "hello after all that");
    while alice.recv_message()["text"] != "hello after all that" {}
}

#[test]
fn a_reset_mid_frame_gives_exactly_one_leave_notice() {
    let server = common::start();
    let (mut alice, mut bob) = server.pair();
    let mut rst = server.user("rst");
    rst.join("lobby");
    // A user with two tabs, both reset mid-frame: still one notice.
    let token = server.login("twotabs", "lobby");
    let mut tabs: Vec<Client> = (0..2)
        .map(|_| server.connect().session(&token).open())
        .collect();
    for tab in &mut tabs {
        tab.recv_type("hello");
        tab.join("lobby");
    }
    let mut watch = Watch::default();
    alice.say("lobby", "all here");
    watch.until_message(&mut bob, "all here");
    watch.until_members(&mut bob, json!(["alice", "bob", "rst", "twotabs"]));

    reset_mid_frame(rst);
    for tab in tabs {
        reset_mid_frame(tab);
    }
    // The pair chats on meanwhile.
    alice.say("lobby", "during");
    watch.until_message(&mut bob, "during");
    watch.until_left(&mut bob, &["rst", "twotabs"]);
    settle(
        &server,
        &mut alice,
        &mut bob,
        &mut watch,
        &["rst", "twotabs"],
    );
    // Nothing of the half frames was ever posted.
    assert!(
        !watch.messages.iter().any(|m| m.contains("never ends")),
        "{:?}",
        watch.messages
    );
}

#[test]
fn a_close_while_the_hub_is_sending_gives_exactly_one_leave_notice() {
    let server = common::start();
    let (alice, mut bob) = server.pair();
    // Three who will go in the middle of a burst, each its own way.
    let mut quitters: Vec<(&str, Client)> = ["polite", "abrupt", "resetter"]
        .into_iter()
        .map(|name| {
            // A small receive buffer: once it stops reading, the hub has
            // frames queued for it, so it goes while the hub is mid-write.
            let mut c = server.connect().rcvbuf(4096).user(name);
            c.join("lobby");
            (name, c)
        })
        .collect();
    let mut watch = Watch::default();

    // alice bursts 300 messages of 2 KB, reading her echoes as she goes.
    const BURST: usize = 300;
    let burster = std::thread::spawn(move || {
        let mut alice = alice;
        let filler = "b".repeat(2000);
        for window in 0..BURST / 20 {
            for n in window * 20..(window + 1) * 20 {
                alice.say("lobby", &format!("{n:03} {filler}"));
            }
            let last = format!("{:03}", (window + 1) * 20 - 1);
            while !alice.recv_message()["text"]
                .as_str()
                .unwrap()
                .starts_with(&last)
            {}
        }
        alice
    });
    // Once the burst is well under way, the quitters go; none has read a byte
    // of it, so the hub is mid-write to each of them.
    while watch.messages.len() < 40 {
        watch.see(bob.recv());
    }
    for (name, mut client) in quitters.drain(..) {
        match name {
            "polite" => {
                let _ = client.socket.close(None);
                let _ = client.socket.flush();
                drop(client);
            }
            "abrupt" => client.drop_abruptly(),
            _ => reset(client),
        }
    }
    // bob gets the whole burst, in order.
    let mut alice = burster.join().expect("alice's burst went through");
    watch.until_message(&mut bob, &format!("{:03} {}", BURST - 1, "b".repeat(2000)));
    let numbers: Vec<usize> = watch
        .messages
        .iter()
        .map(|m| m[..3].parse().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (0..BURST).collect::<Vec<_>>(),
        "bob got all, in order"
    );
    watch.messages.clear();
    watch.until_left(&mut bob, &["polite", "abrupt", "resetter"]);
    settle(
        &server,
        &mut alice,
        &mut bob,
        &mut watch,
        &["polite", "abrupt", "resetter"],
    );
}
