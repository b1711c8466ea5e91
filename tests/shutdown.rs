//! A graceful shutdown delivers what was already said, then closes every
//! client with 1001 ("going away"), so pages know to reconnect later.

use natter_testkit as common;

#[test]
fn shutdown_delivers_queued_messages_then_closes_everyone_with_1001() {
    let server = common::start();
    let mut clients: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| {
            let mut c = server.user(name);
            c.join("lobby");
            c
        })
        .collect();
    clients[0].say("lobby", "last words");
    clients[0].recv_message();

    let stopper = std::thread::spawn(move || server.shutdown());
    for client in clients.iter_mut().skip(1) {
        assert_eq!(client.recv_message()["text"], "last words");
    }
    for client in &mut clients {
        assert_eq!(client.expect_close(), Some(1001));
    }
    assert!(stopper.join().unwrap(), "the hub ended cleanly");
}
