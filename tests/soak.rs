//! Nothing leaks: after 200 clients connect, chat and leave (politely, abruptly
//! or with a reset), the server process's threads and open file descriptors
//! return to where they were before. The real binary runs in its own process,
//! and is measured through `/proc/<pid>`.

use natter_testkit as common;

use std::time::{Duration, Instant};

use common::Client;

const CLIENTS: usize = 200;

/// (threads, fds) of the process.
fn measure(pid: u32) -> (usize, usize) {
    (common::proc_threads(pid), common::proc_fds(pid))
}

/// Wait until the counts hold still for a second; return them.
fn settled(pid: u32) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = measure(pid);
    let mut steady_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = measure(pid);
        if now != last {
            last = now;
            steady_since = Instant::now();
        } else if steady_since.elapsed() >= Duration::from_secs(1) {
            return now;
        }
        assert!(Instant::now() < deadline, "never settled: {now:?}");
    }
}

#[test]
fn threads_and_fds_return_to_baseline_after_200_clients() {
    let natter = common::Binary::start(&["--rate-limit", "off", "--max-per-ip", "1000"]);
    let pid = natter.child.id();
    let server = natter.server();

    // Warm up: one client through the whole cycle, so that whatever is made
    // once and kept (web worker threads, the database) is in the baseline.
    {
        let mut warm = server.user("warmup");
        warm.join("lobby");
        warm.say("lobby", "warming up");
        warm.recv_message();
        let _ = warm.socket.close(None);
        let _ = warm.expect_close();
    }
    let baseline = settled(pid);

    // 200 clients in four rooms of 50.
    let mut clients: Vec<(String, Client)> = (0..CLIENTS)
        .map(|i| {
            let name = format!("soak{i:03}");
            let mut client = server.user(&name);
            client.join(&format!("room{}", i % 4));
            (name, client)
        })
        .collect();
    let peak = measure(pid);
    // Each says something and sees it come back.
    for (i, (name, client)) in clients.iter_mut().enumerate() {
        let text = format!("hello from {name}");
        client.say(&format!("room{}", i % 4), &text);
        while client.recv_message()["text"] != text.as_str() {}
    }
    // And they leave: a third with a close frame, a third abruptly, a third
    // with a reset.
    for (i, (_, mut client)) in clients.drain(..).enumerate() {
        match i % 3 {
            0 => {
                let _ = client.socket.close(None);
                let _ = client.expect_close();
            }
            1 => client.drop_abruptly(),
            _ => {
                socket2::SockRef::from(client.socket.get_ref())
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
                drop(client);
            }
        }
    }

    // Back to baseline within a generous deadline (tiny_http's extra pool
    // threads, if any were made for the logins, retire after a few idle
    // seconds).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut now = measure(pid);
    while now.0 > baseline.0 || now.1 > baseline.1 {
        assert!(
            Instant::now() < deadline,
            "not back to baseline: (threads, fds) baseline {baseline:?}, peak {peak:?}, now {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        now = measure(pid);
    }
    println!(
        "(threads, fds): baseline {baseline:?}, with {CLIENTS} clients {peak:?}, after {now:?}"
    );
    // Still serving.
    let mut last = server.user("last");
    last.join("lobby");
    last.say("lobby", "still here");
    assert_eq!(last.recv_message()["text"], "still here");
}
