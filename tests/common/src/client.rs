//! The WebSocket client every test talks through, as a page would be: it
//! sends JSON, and reads with a deadline (a bug fails the test, it never
//! hangs). Opened with `server.connect()` (see `connect.rs`).

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use crate::DEADLINE;

/// An open WebSocket. The socket is public, for tests that need a frame the
/// methods do not send or a read they do not make.
pub struct Client {
    pub socket: WebSocket<TcpStream>,
}

impl Client {
    pub fn send(&mut self, value: Value) {
        self.send_raw(&value.to_string());
    }

    /// Send this text as it is, JSON or not.
    pub fn send_raw(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .expect("sending to the server works");
    }

    pub fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room}));
        self.recv_type("joined")
    }

    pub fn say(&mut self, room: &str, text: &str) {
        self.send(json!({"type": "message", "room": room, "text": text}));
    }

    /// The next JSON message, whatever its type. Panics at the deadline or if
    /// the connection closes.
    pub fn recv(&mut self) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "no message before the deadline");
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(&text).expect("the server sends JSON")
                }
                Ok(Message::Close(frame)) => panic!("closed by the server: {frame:?}"),
                Ok(_) => continue,
                Err(err) => panic!("read failed: {err}"),
            }
        }
    }

    /// Skip messages until one of this type arrives, and return it.
    pub fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let value = self.recv();
            if value["type"] == kind {
                return value;
            }
        }
    }

    /// The next chat message (skipping presence, typing and notices).
    pub fn recv_message(&mut self) -> Value {
        self.recv_type("message")
    }

    /// Pass each JSON message that has already arrived to `each`, without
    /// waiting for more (a client that reads as it goes). Panics if the
    /// connection closes.
    pub fn drain(&mut self, mut each: impl FnMut(Value)) {
        self.set_read_timeout(Duration::from_millis(1));
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    each(serde_json::from_str(&text).expect("the server sends JSON"))
                }
                Ok(Message::Close(frame)) => panic!("closed by the server: {frame:?}"),
                Ok(_) => {}
                Err(e) if timed_out(&e) => break,
                Err(err) => panic!("read failed: {err}"),
            }
        }
        self.set_read_timeout(DEADLINE);
    }

    /// Expect nothing of this type within `wait`. Other types are skipped.
    pub fn expect_none(&mut self, kind: &str, wait: Duration) {
        self.set_read_timeout(wait);
        let until = Instant::now() + wait;
        while Instant::now() < until {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).expect("the server sends JSON");
                    assert_ne!(value["type"], kind, "unexpected {kind}: {value}");
                }
                Ok(_) => {}
                Err(e) if timed_out(&e) => break,
                Err(err) => panic!("read failed: {err}"),
            }
        }
        self.set_read_timeout(DEADLINE);
    }

    /// The next JSON message, or `None` once the connection is closed (or
    /// broken). Panics at the deadline.
    pub fn try_recv(&mut self) -> Option<Value> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "no message before the deadline");
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).expect("the server sends JSON"))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) if timed_out(&e) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Read until the server closes, and return its close code (None when the
    /// connection ended without a close frame).
    pub fn expect_close(&mut self) -> Option<u16> {
        self.expect_close_within(DEADLINE)
    }

    /// `expect_close`, waiting up to `wait`.
    pub fn expect_close_within(&mut self, wait: Duration) -> Option<u16> {
        let deadline = Instant::now() + wait;
        loop {
            assert!(Instant::now() < deadline, "not closed before the deadline");
            match self.socket.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(e) if timed_out(&e) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Close abruptly: no close frame, as when a tab crashes or the network drops.
    pub fn drop_abruptly(self) {
        let _ = self.socket.get_ref().shutdown(std::net::Shutdown::Both);
    }

    fn set_read_timeout(&self, wait: Duration) {
        self.socket
            .get_ref()
            .set_read_timeout(Some(wait))
            .expect("a non-zero timeout is accepted");
    }
}

/// Whether a read failed only because its time-out passed (the connection
/// is still good).
fn timed_out(err: &tungstenite::Error) -> bool {
    matches!(err, tungstenite::Error::Io(e) if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ))
}
