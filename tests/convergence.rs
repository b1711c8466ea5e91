//! The property that makes resume and paging exact: a client that applies
//! what it receives in order (messages upserted by id; a change only when its
//! `seq` is past the `rev` it has) ends with exactly what is stored, however
//! often it drops and resumes with `since`, while others post, edit, delete
//! and react at full speed. Checked on a database file (the writer thread
//! commits while the hub goes on) with a small cache, so resumes are answered
//! from memory and from storage both.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use natter_testkit as common;
use serde_json::{json, Value};

const WRITERS: [&str; 3] = ["alice", "bob", "carol"];
const ACTIONS: usize = 250;
const EMOJI: [&str; 4] = ["👍", "🎉", "😂", "❤️"];

/// A message as a page keeps it: what it shows, and the `rev` it has.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    text: String,
    deleted: bool,
    edited: bool,
    /// emoji → the uids on it (order aside: it is not part of the state).
    reactions: BTreeMap<String, BTreeSet<String>>,
}

fn reactions(list: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let list = list.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|r| {
            let uids = r["uids"].as_array().unwrap();
            let uids = uids
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
            (r["emoji"].as_str().unwrap().to_string(), uids)
        })
        .collect()
}

fn shown(m: &Value) -> Shown {
    Shown {
        text: m["text"].as_str().unwrap().to_string(),
        deleted: m["deleted"] == true,
        edited: m["edited_ts"].is_u64(),
        reactions: reactions(&m["reactions"]),
    }
}

/// A page's state of one room, kept by the page's rules.
#[derive(Default)]
struct Page {
    messages: BTreeMap<u64, (Shown, u64)>,
    cursor: u64,
}

impl Page {
    fn upsert(&mut self, m: &Value) {
        let id = m["id"].as_u64().unwrap();
        let rev = m["rev"].as_u64().unwrap_or(id);
        self.cursor = self.cursor.max(rev);
        let stale = self.messages.get(&id).is_some_and(|(_, have)| *have > rev);
        if !stale {
            self.messages.insert(id, (shown(m), rev));
        }
    }

    fn apply(&mut self, frame: &Value) {
        match frame["type"].as_str().unwrap() {
            "joined" => {
                if frame["gap"] == true {
                    self.messages.clear();
                }
                for m in frame["history"].as_array().unwrap() {
                    self.upsert(m);
                }
                // A changed message the page has not loaded is left out:
                // paging brings it as it is.
                for m in frame["changes"].as_array().unwrap() {
                    if self.messages.contains_key(&m["id"].as_u64().unwrap()) {
                        self.upsert(m);
                    }
                }
                self.cursor = self.cursor.max(frame["cursor"].as_u64().unwrap());
            }
            "message" => self.upsert(frame),
            kind @ ("edit" | "delete" | "reactions") => {
                let (id, seq) = (
                    frame["id"].as_u64().unwrap(),
                    frame["seq"].as_u64().unwrap(),
                );
                self.cursor = self.cursor.max(seq);
                let Some((m, rev)) = self.messages.get_mut(&id) else {
                    return;
                };
                if seq <= *rev {
                    return;
                }
                *rev = seq;
                match kind {
                    "edit" => {
                        m.text = frame["text"].as_str().unwrap().to_string();
                        m.edited = true;
                    }
                    "delete" => {
                        *m = Shown {
                            text: String::new(),
                            deleted: true,
                            edited: m.edited,
                            reactions: BTreeMap::new(),
                        };
                    }
                    _ => m.reactions = reactions(&frame["reactions"]),
                }
            }
            _ => {}
        }
    }
}

/// A little xorshift, so each writer's run is the same every time.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One writer: posts, edits and deletes its own messages, and puts reactions
/// on and off anyone's, as fast as it can.
fn write(server: &common::TestServer, name: &'static str, seed: u64) {
    let mut client = server.connect().user(name);
    client.join("lobby");
    let mut mine: Vec<u64> = Vec::new();
    let mut newest = 1u64;
    let mut dice = Dice(seed);
    for i in 0..ACTIONS {
        client.drain(|frame| {
            if frame["type"] == "message" {
                let id = frame["id"].as_u64().unwrap();
                newest = newest.max(id);
                if frame["user"] == name {
                    mine.push(id);
                }
            }
        });
        let frame = match dice.roll(10) {
            0..=2 => json!({"type": "message", "room": "lobby", "text": format!("{name} {i}")}),
            3..=4 if !mine.is_empty() => {
                let id = mine[dice.roll(mine.len() as u64) as usize];
                json!({"type": "edit", "room": "lobby", "id": id, "text": format!("{name} {i}, edited")})
            }
            5 if !mine.is_empty() => {
                let id = mine.swap_remove(dice.roll(mine.len() as u64) as usize);
                json!({"type": "delete", "room": "lobby", "id": id})
            }
            _ => {
                let id = 1 + dice.roll(newest);
                let emoji = EMOJI[dice.roll(EMOJI.len() as u64) as usize];
                json!({"type": "react", "room": "lobby", "id": id, "emoji": emoji, "on": dice.roll(3) != 0})
            }
        };
        client.send(frame);
    }
    // Everything it sent is handled once this comes back.
    client.send(json!({"type": "join", "room": "lobby"}));
    client.recv_type("joined");
}

#[test]
fn a_page_that_keeps_dropping_and_resuming_ends_with_exactly_what_is_stored() {
    let dir = common::TempDir::new("convergence");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.history = 30;
    });
    let mut seed = server.connect().user("seed");
    seed.join("lobby");
    for i in 0..60 {
        seed.say("lobby", &format!("seed {i}"));
        seed.recv_message();
    }
    let dave_token = server.login("dave", "lobby");
    let done = Arc::new(AtomicBool::new(false));

    // Dave's page: joins, reads a while, drops without a word, resumes.
    let reader = {
        let (server, done) = (common::attach(server.web, server.ws), done.clone());
        thread::spawn(move || {
            let mut page = Page::default();
            let mut dice = Dice(99);
            let mut first: Option<u64> = None;
            let mut resumes = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let mut dave = server.connect().session(&dave_token).past_hello();
                let mut join = json!({"type": "join", "room": "lobby"});
                if first.is_some() {
                    join["since"] = json!(page.cursor);
                    resumes += 1;
                }
                dave.send(join);
                let joined = dave.recv_type("joined");
                first.get_or_insert_with(|| joined["history"][0]["id"].as_u64().unwrap());
                page.apply(&joined);
                let until = Instant::now() + Duration::from_millis(20 + dice.roll(150));
                while Instant::now() < until {
                    dave.drain(|frame| page.apply(&frame));
                }
                if finished {
                    // The writers are done and this connection started after
                    // that: what it has read is everything.
                    let (dave_ws, page) = (dave, page);
                    drop(dave_ws);
                    return (page, first.unwrap(), resumes);
                }
                dave.drop_abruptly();
            }
        })
    };
    let writers: Vec<_> = WRITERS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let server = common::attach(server.web, server.ws);
            thread::spawn(move || write(&server, name, 7 + i as u64 * 1000))
        })
        .collect();
    for w in writers {
        w.join().expect("a writer finished");
    }
    done.store(true, Ordering::SeqCst);
    let (page, first, resumes) = reader.join().expect("the reader finished");
    assert!(resumes >= 3, "the page resumed {resumes} times");

    // What is stored: a fresh page, paging back to the start.
    let mut eve = server.connect().user("eve");
    let joined = eve.join("lobby");
    let mut stored: BTreeMap<u64, Shown> = BTreeMap::new();
    for m in joined["history"].as_array().unwrap() {
        stored.insert(m["id"].as_u64().unwrap(), shown(m));
    }
    let mut before = *stored.keys().next().unwrap();
    loop {
        eve.send(json!({"type": "history", "room": "lobby", "before": before, "limit": 100}));
        let page = eve.recv_type("history");
        for m in page["messages"].as_array().unwrap() {
            stored.insert(m["id"].as_u64().unwrap(), shown(m));
        }
        if page["more"] == false {
            break;
        }
        before = *stored.keys().next().unwrap();
    }
    let expected: BTreeMap<u64, Shown> = stored
        .range(first..)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let got: BTreeMap<u64, Shown> = page
        .messages
        .range(first..)
        .map(|(k, (v, _))| (*k, v.clone()))
        .collect();
    let missing: Vec<&u64> = expected.keys().filter(|id| !got.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "the page never got messages {missing:?}"
    );
    for (id, want) in &expected {
        assert_eq!(&got[id], want, "message {id} differs from what is stored");
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "the page has messages that are not stored"
    );
    let changed = expected
        .values()
        .filter(|m| m.deleted || m.edited || !m.reactions.is_empty())
        .count();
    assert!(changed > 50, "the run changed {changed} messages");
}
