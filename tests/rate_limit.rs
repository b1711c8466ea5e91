//! The rate limit is per session, with hack.chat's decaying score (threshold
//! 25), and per client address with a bigger one: from rest about two dozen
//! quick short messages pass, then each is refused with `rate_limited` and
//! the seconds to wait, and is not delivered; persisting closes the
//! connection with 1008. More tabs of a session share one budget; sessions
//! of one address share the address's. `X-Forwarded-For` names the address
//! only with `trust_proxy`. A flooder never holds up a bystander's messages.
//!
//! Every test client comes from 127.0.0.1, so the tests give each client its
//! own address through `X-Forwarded-For` on a server that trusts it, except
//! where the point is that an untrusting server ignores the header.

use natter_testkit as common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, TestServer};
use serde_json::{json, Value};
use tungstenite::Message;

fn limited(trust_proxy: bool) -> TestServer {
    common::start_with(|c| {
        c.rate_limit = Some(25.0);
        c.trust_proxy = trust_proxy;
    })
}

/// Send `n` short messages (client ids `{tag}-0`...) without waiting, then read
/// one answer per message. Returns, by index, the echo or the error.
fn burst(client: &mut Client, tag: &str, n: usize) -> Vec<Value> {
    for i in 0..n {
        client.send(json!({
            "type": "message", "room": "lobby",
            "text": format!("{tag} {i:02}"), "client_id": format!("{tag}-{i}"),
        }));
    }
    // Refusals go straight to the sender while echoes wait for the end of the
    // hub's pass, so answers are matched by client_id, not by position.
    let mut answers: HashMap<String, Value> = HashMap::new();
    while answers.len() < n {
        let event = client.recv();
        if matches!(event["type"].as_str(), Some("message" | "error")) {
            let cid = event["client_id"]
                .as_str()
                .expect("answers carry the client_id");
            if !cid.starts_with(&format!("{tag}-")) {
                continue; // another tab of the same session said it
            }
            assert!(
                answers.insert(cid.to_string(), event.clone()).is_none(),
                "one answer per message: {event}"
            );
        }
    }
    (0..n)
        .map(|i| answers.remove(&format!("{tag}-{i}")).unwrap())
        .collect()
}

/// How many answers are echoes; checks they come first and the rest are
/// `rate_limited` errors with a sensible `retry_after`.
fn passed(answers: &[Value]) -> usize {
    let k = answers
        .iter()
        .take_while(|a| a["type"] == "message")
        .count();
    for refused in &answers[k..] {
        assert_eq!(refused["type"], "error", "once refused, refused: {refused}");
        assert_eq!(refused["code"], "rate_limited", "{refused}");
        let secs = refused["retry_after"]
            .as_u64()
            .unwrap_or_else(|| panic!("retry_after is a number of seconds: {refused}"));
        assert!((1..=120).contains(&secs), "retry_after {secs}: {refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains(&secs.to_string()),
            "the message says how long: {refused}"
        );
    }
    k
}

/// Read chat messages until `marker` (from anyone); return the texts before it.
fn texts_until(client: &mut Client, marker: &str) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        let text = client.recv_message()["text"].as_str().unwrap().to_string();
        if text == marker {
            return texts;
        }
        texts.push(text);
    }
}

#[test]
fn about_two_dozen_quick_messages_pass_then_rate_limited_and_not_delivered() {
    let server = limited(true);
    let mut bob = server.connect().forwarded_for("198.51.100.2").user("bob");
    bob.join("lobby");
    let mut mallory = server
        .connect()
        .forwarded_for("198.51.100.1")
        .user("mallory");
    mallory.join("lobby"); // 3 points: a join costs as much as three messages

    let answers = burst(&mut mallory, "m", 30);
    let k = passed(&answers);
    println!("burst: {k} of 30 quick messages passed after a join (join = 3 points)");
    assert!(
        (20..=23).contains(&k),
        "about 23 message-points from rest, the join's 3 included: {k} passed"
    );
    assert!(k < 30, "some were refused");

    // bob saw exactly the messages that passed, in order, and none refused.
    bob.say("lobby", "sync");
    let seen = texts_until(&mut bob, "sync");
    let expected: Vec<String> = (0..k).map(|i| format!("m {i:02}")).collect();
    assert_eq!(seen, expected, "refused messages are not delivered");
}

#[test]
fn persisting_past_the_limit_closes_with_1008_and_others_carry_on() {
    let server = limited(true);
    let mut bob = server.connect().forwarded_for("198.51.100.2").user("bob");
    let mut carol = server.connect().forwarded_for("198.51.100.3").user("carol");
    bob.join("lobby");
    carol.join("lobby");
    let mut mallory = server
        .connect()
        .forwarded_for("198.51.100.1")
        .user("mallory");
    mallory.join("lobby");
    for i in 0..80 {
        let frame = json!({"type": "message", "room": "lobby", "text": format!("spam {i}")});
        // The server may close the connection before all of these are sent.
        if mallory
            .socket
            .send(Message::text(frame.to_string()))
            .is_err()
        {
            break;
        }
    }
    let mut refusals = 0;
    let code = loop {
        match mallory.socket.read() {
            Ok(Message::Text(text)) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["code"] == "rate_limited" {
                    refusals += 1;
                }
            }
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(err) => panic!("no close frame: {err} after {refusals} refusals"),
        }
    };
    println!("mallory: {refusals} rate_limited errors, then close {code:?}");
    assert!(refusals > 0, "refused before being closed");
    assert_eq!(code, Some(1008));

    // The bystanders, on their own addresses, chat on.
    for i in 0..5 {
        let text = format!("still here {i}");
        bob.say("lobby", &text);
        assert_eq!(next_not_spam(&mut carol), text);
        assert_eq!(next_not_spam(&mut bob), text);
        carol.say("lobby", &text);
        assert_eq!(next_not_spam(&mut bob), text);
        assert_eq!(next_not_spam(&mut carol), text);
    }
}

/// The next chat message that is not one of mallory's (those that passed).
fn next_not_spam(client: &mut Client) -> String {
    loop {
        let text = client.recv_message()["text"].as_str().unwrap().to_string();
        if !text.starts_with("spam") {
            return text;
        }
    }
}

#[test]
fn more_tabs_from_one_address_get_no_more_budget() {
    let server = limited(true);
    let token = server.login("mallory", "lobby");
    let mut tab1 = server
        .connect()
        .session(&token)
        .forwarded_for("198.51.100.1")
        .past_hello();
    let mut tab2 = server
        .connect()
        .session(&token)
        .forwarded_for("198.51.100.1")
        .past_hello();
    tab1.join("lobby");
    tab2.join("lobby");
    let k = passed(&burst(&mut tab1, "t1", 30));
    assert!(k < 30, "the first tab ran out");
    // The second tab, fresh connection but the same address, is refused too.
    let answers = burst(&mut tab2, "t2", 1);
    assert_eq!(
        passed(&answers),
        0,
        "a second tab is no new budget: {}",
        answers[0]
    );
    // A third connection from that address is refused at the handshake:
    // opening a connection is charged too.
    let refused = server
        .connect()
        .session(&token)
        .forwarded_for("198.51.100.1")
        .try_open()
        .err()
        .expect("a third tab is refused");
    assert_eq!(refused.status, 429, "{refused:?}");
    assert!(refused.retry_after.is_some());

    // Someone on another address is unaffected.
    let mut bob = server.connect().forwarded_for("198.51.100.2").user("bob");
    bob.join("lobby");
    assert_eq!(passed(&burst(&mut bob, "b", 5)), 5);
}

/// A server whose address budget is no bigger than a session's, so that one
/// session can spend its address's budget.
fn address_sized(trust_proxy: bool) -> TestServer {
    common::start_with(|c| {
        c.rate_limit = Some(25.0);
        c.address_rate_limit = Some(25.0);
        c.trust_proxy = trust_proxy;
    })
}

/// alice (claiming one address) exhausts her address's budget; then bob
/// (claiming another) sends one message. Returns bob's answer.
fn second_address_after_first_is_exhausted(server: &TestServer) -> Value {
    // bob logs in first: a login is charged to the address too.
    let token = server.login("bob", "lobby");
    let mut alice = server.connect().forwarded_for("198.51.100.1").user("alice");
    alice.join("lobby");
    let k = passed(&burst(&mut alice, "a", 30));
    assert!(k < 30, "alice ran out");
    let mut bob = match server
        .connect()
        .session(&token)
        .forwarded_for("198.51.100.2")
        .try_open()
    {
        Ok(mut bob) => {
            bob.recv_type("hello");
            bob
        }
        // Sharing alice's exhausted budget, bob cannot even connect.
        Err(refused) => {
            assert_eq!(refused.status, 429);
            return json!({"type": "error", "code": "rate_limited", "refused_at": "handshake"});
        }
    };
    bob.send(json!({"type": "join", "room": "lobby"}));
    bob.send(json!({"type": "message", "room": "lobby", "text": "b", "client_id": "b-0"}));
    loop {
        let event = bob.recv();
        if matches!(event["type"].as_str(), Some("message" | "error")) {
            return event;
        }
    }
}

#[test]
fn x_forwarded_for_is_ignored_without_trust_proxy() {
    let server = address_sized(false);
    let answer = second_address_after_first_is_exhausted(&server);
    assert_eq!(
        answer["type"], "error",
        "bob shares 127.0.0.1's budget: {answer}"
    );
    assert_eq!(answer["code"], "rate_limited", "{answer}");
}

#[test]
fn with_trust_proxy_each_forwarded_address_has_its_own_budget() {
    // The control for the test above: the same clients, a trusting server.
    let server = address_sized(true);
    let answer = second_address_after_first_is_exhausted(&server);
    assert_eq!(
        answer["type"], "message",
        "bob has his own budget: {answer}"
    );
    assert_eq!(answer["text"], "b");
}

/// A flooder that reconnects whenever it is closed, and floods again, until
/// told to stop. Returns how many connections it made.
fn flood(server: &TestServer, token: &str, stop: &AtomicBool) -> usize {
    let mut connections = 0;
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut client) = server
            .connect()
            .session(token)
            .forwarded_for("198.51.100.66")
            .try_open()
        else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        connections += 1;
        let _ = client.socket.send(Message::text(
            json!({"type": "join", "room": "lobby"}).to_string(),
        ));
        for i in 0..60 {
            let frame = json!({"type": "message", "room": "lobby", "text": format!("FLOOD {i} {}", "z".repeat(300))});
            if client
                .socket
                .send(Message::text(frame.to_string()))
                .is_err()
            {
                break;
            }
        }
        // Read until the server closes it (or a short while passes).
        let _ = client
            .socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)));
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            match client.socket.read() {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    connections
}

#[test]
fn a_flooder_next_to_a_bystander_who_sends_once_a_second() {
    let server = Arc::new(limited(true));
    let mut bob = server.connect().forwarded_for("198.51.100.2").user("bob");
    let mut carol = server.connect().forwarded_for("198.51.100.3").user("carol");
    bob.join("lobby");
    carol.join("lobby");
    let token = server.login("mallory", "lobby");

    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || flood(&server, &token, &stop))
    };
    // Let the flood get going: wait until carol sees some of it.
    while !carol.recv_message()["text"]
        .as_str()
        .unwrap()
        .starts_with("FLOOD")
    {}

    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let started = Instant::now();
        let text = format!("tick {i}");
        bob.say("lobby", &text);
        // carol gets every tick, in order, among the flood.
        loop {
            let got = carol.recv_message();
            let got = got["text"].as_str().unwrap();
            if got.starts_with("tick") {
                assert_eq!(got, text, "ticks arrive in order, none lost");
                break;
            }
        }
        worst = worst.max(started.elapsed());
        // bob's own echo too.
        while bob.recv_message()["text"] != text.as_str() {}
        std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    }
    stop.store(true, Ordering::SeqCst);
    let connections = flooder.join().expect("the flooder thread ends");
    println!("bystander: 5 of 5 ticks arrived; slowest {worst:?}; flooder made {connections} connections");
    assert!(connections >= 1);
}

#[test]
fn an_ipv6_slash_64_is_one_address() {
    // Sessions from two addresses in one /64 share one address budget: with
    // a per-address budget as small as a session's, the second one is out.
    let server = address_sized(true);
    let mut alice = server
        .connect()
        .forwarded_for("2001:db8:1:2::1")
        .user("alice");
    alice.join("lobby");
    assert!(passed(&burst(&mut alice, "a", 30)) < 30);
    let token = server.login("bob", "lobby");
    let neighbour = server
        .connect()
        .session(&token)
        .forwarded_for("2001:db8:1:2::ffff")
        .try_open();
    assert_eq!(neighbour.err().map(|r| r.status), Some(429));
    // An address in another /64 has its own.
    let mut carol = server
        .connect()
        .forwarded_for("2001:db8:1:3::1")
        .user("carol");
    carol.join("lobby");
    assert_eq!(passed(&burst(&mut carol, "c", 5)), 5);
}
