//! SIGTERM under load, on the real binary: with 50 clients in a room and
//! several of them sending in a loop, every client receives close 1001 after
//! everything already sent to it (every message the server echoed to its
//! sender reaches everyone, and all see the same messages), and the process
//! exits 0 within 5 s. A second signal during the shutdown exits at once.

use natter_testkit as common;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Client;
use serde_json::Value;
use tungstenite::Message;

const CLIENTS: usize = 50;
const SENDERS: usize = 5;

/// What one client saw before the end.
struct Outcome {
    name: String,
    /// Ids of every chat message received, in order.
    ids: Vec<u64>,
    /// Ids of this client's own messages that the server echoed back to it.
    echoed: Vec<u64>,
    /// The close code, or None if the connection ended without one.
    close: Option<u16>,
}

/// Handle one frame; returns the close code once the server closes.
fn take(
    result: tungstenite::Result<Message>,
    name: &str,
    out: &mut Outcome,
) -> Option<Option<u16>> {
    match result {
        Ok(Message::Text(text)) => {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "message" {
                let id = v["id"].as_u64().unwrap();
                out.ids.push(id);
                if v["user"] == name {
                    out.echoed.push(id);
                }
            }
            None
        }
        Ok(Message::Close(frame)) => Some(frame.map(|f| u16::from(f.code))),
        Ok(_) => None,
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            None
        }
        Err(_) => Some(None),
    }
}

/// A sender: say something, read what has arrived, again, until closed.
fn sender(mut client: Client, name: String, go: Arc<Barrier>, said: Arc<AtomicUsize>) -> Outcome {
    let mut out = Outcome {
        name: name.clone(),
        ids: Vec::new(),
        echoed: Vec::new(),
        close: None,
    };
    go.wait();
    let started = Instant::now();
    let mut n = 0;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} never closed"
        );
        n += 1;
        let text = format!("{name} {n}");
        let frame = serde_json::json!({"type": "message", "room": "lobby", "text": text});
        let sent = client.socket.send(Message::text(frame.to_string())).is_ok();
        if sent {
            said.fetch_add(1, Ordering::SeqCst);
        }
        client
            .socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(if sent { 2 } else { 100 })))
            .unwrap();
        loop {
            let result = client.socket.read();
            let would_block = matches!(&result, Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
            if let Some(close) = take(result, &name, &mut out) {
                out.close = close;
                return out;
            }
            if would_block {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A reader: read until closed.
fn reader(mut client: Client, name: String, go: Arc<Barrier>) -> Outcome {
    let mut out = Outcome {
        name: name.clone(),
        ids: Vec::new(),
        echoed: Vec::new(),
        close: None,
    };
    client
        .socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    go.wait();
    loop {
        if let Some(close) = take(client.socket.read(), &name, &mut out) {
            out.close = close;
            return out;
        }
    }
}

#[test]
fn sigterm_under_load_delivers_what_was_sent_closes_1001_and_exits_0() {
    let mut natter = common::Binary::start(&["--rate-limit", "off", "--max-per-ip", "1000"]);
    let server = natter.server();
    let go = Arc::new(Barrier::new(CLIENTS + 1));
    let said = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for i in 0..CLIENTS {
        let name = format!("c{i:02}");
        let mut client = server.user(&name);
        client.join("lobby");
        let go = go.clone();
        let said = said.clone();
        threads.push(std::thread::spawn(move || {
            if i < SENDERS {
                sender(client, name, go, said)
            } else {
                reader(client, name, go)
            }
        }));
    }
    go.wait();
    // Messages in flight: let the senders get going.
    let deadline = Instant::now() + common::DEADLINE;
    while said.load(Ordering::SeqCst) < 1000 {
        assert!(Instant::now() < deadline, "the senders never got going");
        std::thread::sleep(Duration::from_millis(10));
    }

    let signalled = Instant::now();
    natter.signal("TERM");
    let status = natter
        .wait_exit(Duration::from_secs(10))
        .expect("the process exits after SIGTERM");
    let took = signalled.elapsed();
    let outcomes: Vec<Outcome> = threads
        .into_iter()
        .map(|t| t.join().expect("every client thread ends"))
        .collect();
    println!(
        "SIGTERM with {CLIENTS} clients, {} messages sent: exited {status} after {took:?}",
        said.load(Ordering::SeqCst)
    );
    assert!(status.success(), "exit status 0, got {status}");
    assert!(took < Duration::from_secs(10), "exited after {took:?}");

    for out in &outcomes {
        assert_eq!(
            out.close,
            Some(1001),
            "{} was closed with {:?}",
            out.name,
            out.close
        );
    }
    // Everyone received the same messages, in order, with no gaps...
    let reference = &outcomes[0].ids;
    assert!(
        !reference.is_empty(),
        "messages were delivered before the close"
    );
    assert!(
        reference.windows(2).all(|w| w[1] == w[0] + 1),
        "ids increase with no gaps"
    );
    for out in &outcomes {
        assert_eq!(
            &out.ids,
            reference,
            "{} got {} messages, {} got {}",
            out.name,
            out.ids.len(),
            outcomes[0].name,
            reference.len()
        );
    }
    // ...and that includes every message any sender saw echoed.
    let last = *reference.last().unwrap();
    for out in &outcomes[..SENDERS] {
        if let Some(&echoed) = out.echoed.last() {
            assert!(
                echoed <= last,
                "{}'s message {echoed} was echoed to it but not delivered to everyone (last {last})",
                out.name
            );
        }
    }
    println!(
        "every client got the same {} messages, then 1001",
        reference.len()
    );
}

/// A server with alice in #lobby and a client that never reads nor answers:
/// the close handshake with it can only end at the server's close-flush
/// timeout (2 s), so a graceful shutdown takes at least that long.
fn with_a_stuck_client() -> (common::Binary, common::Client, std::net::TcpStream) {
    let natter = common::Binary::start(&["--rate-limit", "off"]);
    let server = natter.server();
    let mut alice = server.user("alice");
    alice.join("lobby");
    let token = server.login("stuck", "lobby");
    let stuck = server.connect().session(&token).raw();
    (natter, alice, stuck)
}

#[test]
fn a_second_signal_during_shutdown_exits_at_once() {
    let (mut natter, mut alice, _stuck) = with_a_stuck_client();

    natter.signal("TERM");
    assert_eq!(alice.expect_close(), Some(1001), "the shutdown has begun");
    let second = Instant::now();
    natter.signal("TERM");
    let status = natter
        .wait_exit(common::DEADLINE)
        .expect("the process exits after a second signal");
    let took = second.elapsed();
    println!("second signal: exited {status} after {took:?}");
    // A graceful exit would be status 0; the second signal's is not.
    assert!(
        !status.success(),
        "the second signal ended it, not the graceful path: {status}"
    );
}

#[test]
fn without_a_second_signal_the_same_shutdown_is_graceful() {
    // The control for the test above: the stuck client delays the exit, and
    // the exit is still 0.
    let (mut natter, mut alice, _stuck) = with_a_stuck_client();

    let signalled = Instant::now();
    natter.signal("TERM");
    assert_eq!(alice.expect_close(), Some(1001));
    let status = natter
        .wait_exit(Duration::from_secs(10))
        .expect("the process exits after SIGTERM");
    println!(
        "one signal, a stuck client: exited {status} after {:?}",
        signalled.elapsed()
    );
    assert!(status.success(), "{status}");
}
