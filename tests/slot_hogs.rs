//! Nobody can hold everyone else's connection slots: unfinished handshakes
//! are counted per address when the socket is accepted (before a thread is
//! spent on it), and one session may hold only so many connections, from
//! however many addresses.

use natter_testkit as common;

use std::net::TcpStream;

use natter::config::{MAX_CONNECTIONS_PER_SESSION, MAX_PENDING_HANDSHAKES_PER_IP};

#[test]
fn half_open_handshakes_from_one_address_do_not_starve_others() {
    let server = common::start_with(|c| c.max_per_ip = natter::config::MAX_CONNECTIONS_PER_IP);
    let token = server.login("mallory", "lobby");
    // Sockets that never finish their handshake: not a byte is sent.
    let mut hogs: Vec<TcpStream> = (0..MAX_PENDING_HANDSHAKES_PER_IP)
        .map(|_| TcpStream::connect(server.ws).unwrap())
        .collect();
    // Past the cap, the same address is refused at once, and told why.
    let refused = server
        .connect()
        .session(&token)
        .try_open()
        .err()
        .expect("refused while its handshakes hang");
    assert_eq!(refused.status, 429);
    assert!(refused.retry_after.is_some());
    // Thousands more cost no threads: past a couple of answered refusals,
    // the rest are closed at once.
    hogs.extend((0..2000).map(|_| TcpStream::connect(server.ws).unwrap()));
    // Someone at another address connects and chats as usual.
    let bob_token = server.login("bob", "lobby");
    let mut bob = server
        .connect()
        .session(&bob_token)
        .from("127.0.0.2")
        .open();
    bob.recv_type("hello");
    bob.join("lobby");
    bob.say("lobby", "hi");
    assert_eq!(bob.recv_message()["text"], "hi");
    // Once they are gone, the address is welcome again.
    drop(hogs);
    let mut again = None;
    for _ in 0..100 {
        match server.connect().session(&token).try_open() {
            Ok(client) => {
                again = Some(client);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    again
        .expect("the address can connect again")
        .recv_type("hello");
}

#[test]
fn one_session_cannot_hold_every_slot_from_many_addresses() {
    let server = common::start_with(|c| c.trust_proxy = true);
    let token = server.login("mallory", "lobby");
    let held: Vec<_> = (0..MAX_CONNECTIONS_PER_SESSION)
        .map(|i| {
            server
                .connect()
                .session(&token)
                .forwarded_for(&format!("198.51.100.{i}"))
                .past_hello()
        })
        .collect();
    let refused = server
        .connect()
        .session(&token)
        .forwarded_for("203.0.113.1")
        .try_open()
        .err()
        .expect("one connection too many for a session");
    assert_eq!(refused.status, 429);
    // Another session is not affected.
    let mut bob = server.connect().forwarded_for("203.0.113.2").user("bob");
    bob.join("lobby");
    drop(held);
}
