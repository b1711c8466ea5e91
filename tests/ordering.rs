//! One room, one order: 50 clients each send 100 messages at once, from their
//! own threads, and every client sees the same 5,000 messages in the same
//! order (same ids, same senders, same texts), with no duplicates, no gaps,
//! ids strictly increasing, and each sender's messages in the order it sent.

use natter_testkit as common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use common::Client;
use serde_json::Value;

const CLIENTS: usize = 50;
const EACH: usize = 100;
const TOTAL: usize = CLIENTS * EACH;

/// (id, user, text) of one chat message.
type Seen = (u64, String, String);

fn keep(value: Value, seen: &mut Vec<Seen>) {
    if value["type"] == "message" {
        seen.push((
            value["id"].as_u64().expect("an id"),
            value["user"].as_str().unwrap().to_string(),
            value["text"].as_str().unwrap().to_string(),
        ));
    }
}

/// Read whatever has already arrived, without waiting for more.
fn drain(client: &mut Client, seen: &mut Vec<Seen>) {
    client.drain(|value| keep(value, seen));
}

/// Send 100 messages as fast as possible, reading as we go (a client that
/// stopped reading would be a slow consumer), then read up to 5,000.
fn chatter(mut client: Client, name: String, go: Arc<Barrier>) -> (Client, Vec<Seen>) {
    let mut seen = Vec::with_capacity(TOTAL);
    go.wait();
    for n in 0..EACH {
        client.say("lobby", &format!("{name} {n:03}"));
        drain(&mut client, &mut seen);
    }
    while seen.len() < TOTAL {
        keep(client.recv(), &mut seen);
    }
    (client, seen)
}

#[test]
fn fifty_clients_times_a_hundred_messages_everyone_sees_one_order() {
    let server = common::start();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let name = format!("u{i:02}");
        let mut client = server.user(&name);
        client.join("lobby");
        clients.push((name, client));
    }
    // Everyone has joined before anyone speaks, so all 5,000 arrive live.
    let go = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|(name, client)| {
            let go = go.clone();
            std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || chatter(client, name, go))
                .unwrap()
        })
        .collect();
    let results: Vec<(Client, Vec<Seen>)> = threads
        .into_iter()
        .map(|t| t.join().expect("every client got 5,000 messages"))
        .collect();

    let reference = &results[0].1;
    assert_eq!(reference.len(), TOTAL);
    // No duplicates, and exactly the messages that were sent.
    let distinct: HashSet<(&str, &str)> = reference
        .iter()
        .map(|(_, u, t)| (u.as_str(), t.as_str()))
        .collect();
    assert_eq!(distinct.len(), TOTAL, "no message twice");
    for i in 0..CLIENTS {
        let name = format!("u{i:02}");
        let texts: Vec<&str> = reference
            .iter()
            .filter(|(_, u, _)| *u == name)
            .map(|(_, _, t)| t.as_str())
            .collect();
        let sent: Vec<String> = (0..EACH).map(|n| format!("{name} {n:03}")).collect();
        assert_eq!(texts, sent, "{name}'s messages, all, in the order sent");
    }
    // Ids strictly increasing, and consecutive: nothing skipped.
    assert!(
        reference.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "ids strictly increasing with no gaps"
    );
    // Everyone saw exactly this sequence.
    for (i, (_, seen)) in results.iter().enumerate() {
        if let Some(at) = (0..TOTAL).find(|&k| seen[k] != reference[k]) {
            panic!(
                "client {i} differs at position {at}: {:?} vs {:?}",
                seen[at], reference[at]
            );
        }
    }
    // And nothing more after the 5,000: the next message anyone gets is "end".
    let mut clients: Vec<Client> = results.into_iter().map(|(c, _)| c).collect();
    clients[0].say("lobby", "end");
    for (i, client) in clients.iter_mut().enumerate() {
        let next = client.recv_message();
        assert_eq!(next["text"], "end", "client {i}: {next}");
    }
    println!("{CLIENTS} clients saw the same {TOTAL} messages in the same order");
}
