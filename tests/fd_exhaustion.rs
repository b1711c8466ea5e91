//! Running out of file descriptors does not take natter down: both accept
//! loops back off and retry, chats already open carry on, and once the flood
//! is gone new visitors can load pages and connect again.

use natter_testkit as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[test]
fn both_listeners_recover_after_running_out_of_file_descriptors() {
    // A real process with a small descriptor limit, so the test cannot starve
    // the test runner itself.
    let natter = common::Binary::start_with_ulimit("-n 64", None, &["--rate-limit", "off"]);
    let server = natter.server();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");

    // Flood both ports with idle connections until accepts must fail.
    let mut flood = Vec::new();
    for _ in 0..80 {
        for addr in [server.web, server.ws] {
            if let Ok(s) = TcpStream::connect(addr) {
                flood.push(s);
            }
        }
    }
    alice.say("lobby", "still talking during the flood");
    assert_eq!(bob.recv_message()["text"], "still talking during the flood");
    alice.recv_message();

    drop(flood);
    // Give the listeners time to come back, polling rather than sleeping blind.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if healthz_answers(server.web) {
            break;
        }
        assert!(Instant::now() < deadline, "the web port never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The WebSocket port too: the flood's connections still in its backlog
    // are accepted (and found closed) first, and until they are gone they
    // count against the address, so a newcomer from it would be refused.
    loop {
        if handshake_answers(server.ws) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the WebSocket port never recovered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut carol = server.user("carol");
    carol.join("lobby");
    carol.say("lobby", "I got in after the flood");
    assert_eq!(alice.recv_message()["text"], "I got in after the flood");
}

/// One `GET /healthz`, without panicking on the way: true if it said 200.
fn healthz_answers(web: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect(web)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer.starts_with("HTTP/1.1 200"))
    };
    attempt().unwrap_or(false)
}

/// One WebSocket handshake without a session or an Origin: true if the
/// listener read it and answered it on its merits (401 or 403), rather than
/// refusing the address (429) or resetting the connection.
fn handshake_answers(ws: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect(ws)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(&head == b"HTTP/1.1 401" || &head == b"HTTP/1.1 403")
    };
    attempt().unwrap_or(false)
}
