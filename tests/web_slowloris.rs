//! Slowloris on the web port: clients that send a request a byte at a time,
//! or open many connections and never finish them, to hold tiny_http's
//! threads (one per connection) until nobody else gets a page.
//!
//! Two limits in natter's patched tiny_http stop it: a request must arrive
//! within `web_head_timeout` of its first byte, whatever the pace of its bytes
//! (the per-read timeout alone let a byte every 5 s hold a thread for ever),
//! and one address may hold at most `max_web_per_ip` connections; past that a
//! new one is closed as soon as it is accepted.

use natter_testkit as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::config::{MAX_WEB_CONNECTIONS_PER_IP, WEB_READ_TIMEOUT};

/// A connection to the web port from `local` (any address in 127.0.0.0/8 is
/// this machine, so 127.0.0.2 is another client address as far as the
/// server can tell).
fn connect_from(local: &str, web: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let from: SocketAddr = format!("{local}:0").parse().unwrap();
    socket
        .bind(&from.into())
        .expect("bind to a loopback address");
    socket.connect(&web.into()).expect("the web port accepts");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    stream
}

/// `GET /healthz` on `stream`, with `Connection: close`: the whole answer.
fn healthz(mut stream: TcpStream, port: u16) -> String {
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("an answer before the deadline");
    answer
}

/// A request head sent one byte a second never finishes: each byte comes well
/// within the per-read timeout, so only a deadline for the whole head ends it.
#[test]
fn a_request_trickled_a_byte_at_a_time_is_cut_off_at_the_head_deadline() {
    let head_timeout = Duration::from_secs(2);
    let server = common::start_with(|c| c.web_head_timeout = head_timeout);
    let mut slow = TcpStream::connect(server.web).expect("the web port accepts");
    let start = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Slow: ",
        server.web.port()
    );
    slow.write_all(start.as_bytes()).unwrap();
    // Trickle one byte a second, far more slowly than any browser, but
    // always faster than the per-read timeout, until the server hangs up.
    let trickled = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let most = 4 * (WEB_READ_TIMEOUT.as_secs() as usize);
    let trickler = {
        let (mut slow, trickled, stop) =
            (slow.try_clone().unwrap(), trickled.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) && trickled.load(Ordering::SeqCst) < most {
                if slow.write_all(b"a").is_err() {
                    break;
                }
                trickled.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    // Meanwhile a bystander's page loads.
    assert_eq!(server.get("/healthz", None).status, 200);
    slow.set_read_timeout(Some(head_timeout + common::DEADLINE))
        .unwrap();
    let mut answer = Vec::new();
    let ended = slow.read_to_end(&mut answer);
    stop.store(true, Ordering::SeqCst);
    trickler.join().unwrap();
    ended.expect("the server closed the connection, long before the trickle ended");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("within 2 s"),
        "the answer names the limit: {answer}"
    );
    assert!(
        answer.contains("X-Content-Type-Options: nosniff"),
        "{answer}"
    );
    assert!(
        trickled.load(Ordering::SeqCst) < most,
        "the server hung up while the client was still trickling"
    );
    assert_eq!(server.get("/healthz", None).status, 200);
}

/// One address opens more slow connections than its share: those past the
/// cap are closed at once, those within it are still served once they finish,
/// another address is served all along, and a slot is free again once a
/// connection closes.
#[test]
fn one_address_holds_at_most_its_share_of_web_connections() {
    let server = common::start_with(|c| c.max_web_per_ip = MAX_WEB_CONNECTIONS_PER_IP);
    let port = server.web.port();
    let partial = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    let mut held: Vec<TcpStream> = (0..MAX_WEB_CONNECTIONS_PER_IP)
        .map(|_| {
            let mut s = connect_from("127.0.0.1", server.web);
            s.write_all(partial.as_bytes()).unwrap();
            s
        })
        .collect();
    // Every connection past the cap is closed without a byte of answer.
    for extra in 0..8 {
        let mut s = connect_from("127.0.0.1", server.web);
        let mut got = Vec::new();
        match s.read_to_end(&mut got) {
            Ok(_) => assert!(got.is_empty(), "extra {extra}: {got:?}"),
            Err(e) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "extra {extra}"
            ),
        }
    }
    // Another address is served while the first one is at its cap.
    let bystander = healthz(connect_from("127.0.0.2", server.web), port);
    assert!(bystander.starts_with("HTTP/1.1 200"), "{bystander}");
    // The connections within the cap were held, not refused: they are
    // answered as soon as their heads are complete.
    for (i, s) in held.iter_mut().enumerate() {
        s.write_all(b"Connection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "held {i}: {answer}");
    }
    drop(held);
    // Once they have closed, the address may connect again.
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let mut s = connect_from("127.0.0.1", server.web);
        write!(
            s,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the address's slots never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
