//! What one chat message costs natter's own code, in nanoseconds, with no
//! sockets: parsing and validating the client's frame (a reader thread's
//! work), encoding the frame every member gets, and storing it (the hub's, or
//! with a database file the writer thread's).
//!
//! `cargo bench --bench core` (and `make bench`) prints one line per step.
//! Under `cargo test` it runs each step a few times only, so the suite
//! proves that the benchmark works without timing anything.
//!
//! The figures are medians of several rounds, each round timing many
//! repetitions, so one scheduling hiccup on a shared machine moves a round,
//! not the median. The README's performance section quotes them.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use natter::protocol::{self, ChatMessage, Reply};
use natter::storage::{Batch, Sqlite, Store, Write};

/// Rounds per step; the median is reported.
const ROUNDS: usize = 7;

/// A message as the page sends it: 64 characters of text, a client id.
const FRAME: &str = r#"{"type":"message","room":"Lobby","text":"Hello everyone, this is a message of sixty-four characters!!!!","client_id":"c-1733101234567-42"}"#;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let measure = std::env::args().any(|a| a == "--bench");
    let reps = if measure { 20_000 } else { 10 };
    let rounds = if measure { ROUNDS } else { 1 };
    match measure {
        true => println!("natter's own cost per message (median of {rounds} rounds):"),
        false => println!("a smoke run under `cargo test` (not a measurement: use `cargo bench`):"),
    }

    report("parse + validate a message frame", rounds, reps, 1, || {
        black_box(protocol::parse_request(black_box(FRAME)).expect("a valid frame"));
    });

    let message = sample(1);
    report("encode the frame members get", rounds, reps, 1, || {
        black_box(protocol::encode(&Reply::Message(black_box(&message))));
    });

    let dir = std::env::temp_dir().join(format!("natter-core-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("bench.db");
    let path = path.to_str().expect("a UTF-8 path");
    for (db, label) in [(":memory:", "in memory"), (path, "in a file (WAL)")] {
        let mut store = Sqlite::open(db, None).expect("the database opens");
        let mut next = 1;
        // A small room's message is usually alone in its pass's commit; a
        // busy pass commits many at once.
        for per_commit in [1, 10] {
            let what = format!("store {label}, {per_commit} per commit");
            report(&what, rounds, reps / per_commit, per_commit, || {
                next = commit(&mut store, next, per_commit);
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Message `id` of room "Lobby".
fn sample(id: u64) -> ChatMessage {
    let text = "Hello everyone, this is a message of sixty-four characters!!!!".into();
    let mut m = ChatMessage::new(
        Arc::from("Lobby"),
        id,
        Arc::from("alice"),
        text,
        1_733_101_234_567 + id,
    );
    m.client_id = Some(format!("c-{id}"));
    m
}

/// Commit `count` messages from id `next` on in one batch; the next free id.
fn commit(store: &mut Sqlite, next: u64, count: usize) -> u64 {
    let writes = (0..count as u64)
        .map(|i| ("lobby".to_string(), Write::Post(sample(next + i))))
        .collect();
    let batch = Batch {
        writes,
        ..Batch::default()
    };
    store.commit(&batch).expect("the commit succeeds");
    next + count as u64
}

/// Time `step` `reps` times per round, and print the median per message
/// (each call handles `messages`).
fn report(what: &str, rounds: usize, reps: usize, messages: usize, mut step: impl FnMut()) {
    let mut per_message: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..reps {
                step();
            }
            started.elapsed().as_nanos() as f64 / (reps * messages) as f64
        })
        .collect();
    per_message.sort_by(f64::total_cmp);
    println!("{what:>44}: {:>8.0} ns", per_message[rounds / 2]);
}
