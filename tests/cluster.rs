//! Cluster mode against a real `redis-server` and real natter processes:
//! several nodes share every room, in one order, and a client resumes on
//! any node with nothing lost or duplicated, whatever fails.

use std::time::{Duration, Instant};

use natter_testkit::{Binary, Client, RedisServer, TempDir, DEADLINE};
use serde_json::{json, Value};

/// What `hello` says, and a client past it.
fn hello_epoch(client_hello: &Value) -> String {
    client_hello["epoch"]
        .as_str()
        .expect("hello has an epoch")
        .to_string()
}

/// Redis, and natter nodes on it, each with its own database.
/// (Dropped in this order: the nodes, then Redis, then their files.)
struct Cluster {
    nodes: Vec<Option<Binary>>,
    redis: RedisServer,
    dir: TempDir,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let mut cluster = Cluster {
            nodes: Vec::new(),
            redis: RedisServer::start(),
            dir: TempDir::new("cluster"),
        };
        for _ in 0..n {
            cluster.add();
        }
        cluster.wait_leader();
        for i in 0..n {
            cluster.wait_ready(i);
        }
        cluster
    }

    fn add(&mut self) -> usize {
        let i = self.nodes.len();
        let db = self.dir.file(&format!("node{i}.db"));
        let node = Binary::start(&["--redis", &self.redis.url(), "--db", &db]);
        self.nodes.push(Some(node));
        i
    }

    /// Wait until node `i`'s `/healthz` says it can serve (it knows the leader).
    fn wait_ready(&self, i: usize) {
        let server = self.node(i).server();
        let deadline = Instant::now() + DEADLINE;
        while server.get("/healthz", None).status != 200 {
            assert!(Instant::now() < deadline, "node {i} never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn node(&self, i: usize) -> &Binary {
        self.nodes[i].as_ref().expect("a running node")
    }

    /// The index of the node that leads, waiting for one.
    fn wait_leader(&self) -> usize {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.leader() {
                return i;
            }
            assert!(Instant::now() < deadline, "no node took the lead");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn leader(&self) -> Option<usize> {
        let mut con = redis::Client::open(self.redis.url())
            .ok()?
            .get_connection()
            .ok()?;
        let holder: Option<String> = redis::cmd("GET")
            .arg("natter:leader")
            .query(&mut con)
            .ok()?;
        let holder = holder?;
        self.nodes.iter().position(|n| {
            n.as_ref()
                .is_some_and(|n| holder.starts_with(&format!("127.0.0.1:{}:", n.web.port())))
        })
    }

    /// A node that does not lead.
    fn follower(&self) -> usize {
        let leader = self.wait_leader();
        (0..self.nodes.len())
            .find(|&i| i != leader && self.nodes[i].is_some())
            .expect("a follower")
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.signal("KILL");
            node.wait_exit(DEADLINE);
        }
    }
}

/// Log in on node `i` and open a WebSocket there, waiting for `hello`.
fn connect(cluster: &Cluster, i: usize, name: &str) -> (Client, String) {
    let cookie = login(cluster, i, name);
    let client = connect_with(cluster, i, &cookie);
    (client, cookie)
}

fn connect_with(cluster: &Cluster, i: usize, cookie: &str) -> Client {
    connect_hello(cluster, i, cookie).0
}

/// Open a WebSocket on node `i` with this session, retrying while the node
/// says to (a failover under way); the client and its `hello`.
fn connect_hello(cluster: &Cluster, i: usize, cookie: &str) -> (Client, Value) {
    let server = cluster.node(i).server();
    let deadline = Instant::now() + DEADLINE;
    loop {
        match server.connect().session(cookie).try_open() {
            Ok(mut client) => {
                let hello = client.recv_type("hello");
                return (client, hello);
            }
            Err(refused) if refused.status == 503 && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(refused) => panic!("node {i} refused the WebSocket: {refused:?}"),
        }
    }
}

/// Log in on node `i`, retrying while it says to.
fn login(cluster: &Cluster, i: usize, name: &str) -> String {
    let server = cluster.node(i).server();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let response = server.post_form("/login", &[("name", name), ("room", "lobby")], None);
        if response.status == 303 {
            return response.cookie().expect("a login sets the cookie");
        }
        assert!(
            response.status == 503 && Instant::now() < deadline,
            "login on node {i} failed: {} {}",
            response.status,
            response.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Join `room` resuming after `since` in `epoch`; the `joined` frame.
fn resume(client: &mut Client, room: &str, since: u64, epoch: &str) -> Value {
    client.send(json!({"type": "join", "room": room, "since": since, "epoch": epoch}));
    client.recv_type("joined")
}

/// The texts of a `joined` frame's history.
fn history(joined: &Value) -> Vec<String> {
    texts(joined["history"].as_array().expect("joined has a history"))
}

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_message_sent_on_one_node_reaches_members_on_another_in_order() {
    let cluster = Cluster::start(2);
    let (a, b) = (cluster.wait_leader(), cluster.follower());
    let (mut alice, _) = connect(&cluster, b, "alice");
    let (mut bob, _) = connect(&cluster, a, "bob");
    alice.join("lobby");
    bob.join("lobby");
    // One member list for the room, whichever node each member is on.
    loop {
        let presence = alice.recv_type("presence");
        if presence["members"] == json!(["alice", "bob"]) {
            break;
        }
    }
    for n in 0..8 {
        alice.say("lobby", &format!("from the follower {n}"));
    }
    let mut ids = Vec::new();
    for n in 0..8 {
        let m = bob.recv_message();
        assert_eq!(m["text"], format!("from the follower {n}"));
        ids.push(m["id"].as_u64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    bob.say("lobby", "from the leader");
    let m = message_with(&mut alice, "from the leader");
    assert_eq!(
        m["id"].as_u64(),
        Some(ids[7] + 1),
        "one sequence for the room"
    );
}

/// alice, logged in on node `i` and in #lobby, has posted `PREFIX 0` to
/// `PREFIX n-1` and seen each come back: her client, her session, the epoch
/// and her messages' ids.
fn alice_posted(
    cluster: &Cluster,
    i: usize,
    prefix: &str,
    n: usize,
) -> (Client, String, String, Vec<u64>) {
    let cookie = login(cluster, i, "alice");
    let (mut alice, hello) = connect_hello(cluster, i, &cookie);
    alice.join("lobby");
    for k in 0..n {
        alice.say("lobby", &format!("{prefix} {k}"));
    }
    let ids = (0..n)
        .map(|k| {
            message_with(&mut alice, &format!("{prefix} {k}"))["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    (alice, cookie, hello_epoch(&hello), ids)
}

/// Skip messages until the one with this text.
fn message_with(client: &mut Client, text: &str) -> Value {
    loop {
        let m = client.recv_message();
        if m["text"] == text {
            return m;
        }
    }
}

#[test]
fn a_client_that_leaves_one_node_resumes_on_another_with_nothing_lost_or_twice() {
    let cluster = Cluster::start(3);
    let leader = cluster.wait_leader();
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let cookie = login(&cluster, followers[0], "alice");
    let (mut alice, hello) = connect_hello(&cluster, followers[0], &cookie);
    let epoch = hello_epoch(&hello);
    alice.join("lobby");
    let (mut bob, _) = connect(&cluster, leader, "bob");
    bob.join("lobby");
    bob.say("lobby", "seen");
    let since = message_with(&mut alice, "seen")["id"].as_u64().unwrap();
    alice.drop_abruptly();
    for n in 0..5 {
        bob.say("lobby", &format!("missed {n}"));
    }
    message_with(&mut bob, "missed 4");
    // Back on another follower, with the same session.
    let (mut alice, hello) = connect_hello(&cluster, followers[1], &cookie);
    assert_eq!(hello_epoch(&hello), epoch, "one epoch for the cluster");
    let joined = resume(&mut alice, "lobby", since, &epoch);
    assert_eq!(joined["gap"], false, "{joined}");
    let history = joined["history"].as_array().unwrap();
    assert_eq!(
        texts(history),
        ["missed 0", "missed 1", "missed 2", "missed 3", "missed 4"],
        "exactly what it missed: {joined}"
    );
    bob.say("lobby", "live again");
    assert_eq!(message_with(&mut alice, "live again")["text"], "live again");
}

#[test]
fn a_name_taken_on_one_node_is_refused_on_another() {
    let cluster = Cluster::start(2);
    let (a, b) = (cluster.wait_leader(), cluster.follower());
    let (mut alice, _) = connect(&cluster, b, "alice");
    alice.join("lobby");
    // Another "alice", logged in through the other node for another room.
    let server = cluster.node(a).server();
    let response = server.post_form("/login", &[("name", "alice"), ("room", "garden")], None);
    assert_eq!(response.status, 303, "{}", response.body);
    let token = response.cookie().unwrap();
    let mut other = connect_with(&cluster, a, &token);
    other.send(json!({"type": "join", "room": "lobby"}));
    let error = other.recv_type("error");
    assert_eq!(error["code"], "name_taken", "{error}");
}

#[test]
fn a_logout_on_one_node_closes_that_sessions_sockets_on_every_node() {
    let cluster = Cluster::start(3);
    let leader = cluster.wait_leader();
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let cookie = login(&cluster, followers[0], "alice");
    let mut on_leader = connect_with(&cluster, leader, &cookie);
    let mut on_follower = connect_with(&cluster, followers[1], &cookie);
    let server = cluster.node(followers[0]).server();
    let page = server.post_form("/logout", &[], Some(&cookie));
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(on_leader.expect_close(), Some(1008));
    assert_eq!(on_follower.expect_close(), Some(1008));
    let again = cluster
        .node(followers[1])
        .server()
        .connect()
        .session(&cookie)
        .try_open();
    assert!(
        matches!(again, Err(ref r) if r.status == 401),
        "the session is gone on every node"
    );
}

#[test]
fn a_killed_follower_s_clients_resume_elsewhere_and_its_members_leave() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_leader();
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let cookie = login(&cluster, followers[0], "alice");
    let (mut alice, hello) = connect_hello(&cluster, followers[0], &cookie);
    let epoch = hello_epoch(&hello);
    alice.join("lobby");
    let (mut bob, _) = connect(&cluster, followers[1], "bob");
    bob.join("lobby");
    alice.say("lobby", "before");
    let since = message_with(&mut alice, "before")["id"].as_u64().unwrap();
    cluster.kill(followers[0]);
    assert_eq!(alice.expect_close(), None, "its socket died with it");
    // Its members leave within a bounded time (the node goes silent, then
    // the leave grace), seen from another node.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "alice never left");
        let v = bob.recv();
        if v["type"] == "system" && v["event"] == "leave" && v["user"] == "alice" {
            break;
        }
    }
    bob.say("lobby", "after");
    message_with(&mut bob, "after");
    let (mut alice, _) = connect_hello(&cluster, leader, &cookie);
    let joined = resume(&mut alice, "lobby", since, &epoch);
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(history(&joined), ["after"]);
}

#[test]
fn when_the_leader_is_killed_another_node_leads_and_nothing_is_lost() {
    let mut cluster = Cluster::start(2);
    let (leader, follower) = (cluster.wait_leader(), cluster.follower());
    let (mut alice, cookie, epoch, ids) = alice_posted(&cluster, follower, "stored", 5);
    let since = ids[1];
    cluster.kill(leader);
    // The follower's clients are told to resume with the next leader.
    assert_eq!(alice.expect_close(), Some(1012));
    let new = cluster.wait_leader();
    assert_eq!(new, follower);
    let (mut alice, hello) = connect_hello(&cluster, follower, &cookie);
    assert_eq!(
        hello_epoch(&hello),
        epoch,
        "Redis did not restart: same epoch"
    );
    let joined = resume(&mut alice, "lobby", since, &epoch);
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(history(&joined), ["stored 2", "stored 3", "stored 4"]);
    alice.say("lobby", "on the new leader");
    let m = message_with(&mut alice, "on the new leader");
    assert_eq!(
        m["id"].as_u64(),
        Some(since + 4),
        "the room's sequence goes on"
    );
}

#[test]
fn a_redis_restart_gives_resuming_clients_a_gap_and_loses_nothing() {
    let mut cluster = Cluster::start(2);
    let follower = cluster.follower();
    let (mut alice, cookie, epoch, ids) = alice_posted(&cluster, follower, "kept", 3);
    let since = ids[0];
    // Redis with no persistence: a restart loses every key it had.
    cluster.redis.restart();
    assert_eq!(alice.expect_close(), Some(1012));
    cluster.wait_leader();
    let (mut alice, hello) = connect_hello(&cluster, follower, &cookie);
    assert_ne!(
        hello_epoch(&hello),
        epoch,
        "a new epoch after Redis restarted"
    );
    let joined = resume(&mut alice, "lobby", since, &epoch);
    assert_eq!(joined["gap"], true, "{joined}");
    assert_eq!(
        history(&joined),
        ["kept 0", "kept 1", "kept 2"],
        "the room afresh, with everything stored before"
    );
}

#[test]
fn concurrent_senders_on_every_node_make_one_gapless_order_per_room() {
    let cluster = Cluster::start(3);
    let per_node = 6;
    let mut watchers: Vec<Client> = (0..3)
        .map(|i| {
            let (mut w, _) = connect(&cluster, i, &format!("watcher{i}"));
            w.join("lobby");
            w
        })
        .collect();
    let senders: Vec<std::thread::JoinHandle<()>> = (0..3)
        .map(|i| {
            let cookie = login(&cluster, i, &format!("sender{i}"));
            let mut client = connect_with(&cluster, i, &cookie);
            std::thread::spawn(move || {
                client.join("lobby");
                for n in 0..per_node {
                    client.say("lobby", &format!("{i}-{n}"));
                }
                // Keep the socket until everything is sent.
                for _ in 0..per_node {
                    client.recv_message();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let total = 3 * per_node;
    let seen: Vec<Vec<(u64, String)>> = watchers
        .iter_mut()
        .map(|w| {
            (0..total)
                .map(|_| {
                    let m = w.recv_message();
                    (
                        m["id"].as_u64().unwrap(),
                        m["text"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(seen[0], seen[1], "every node delivers one order");
    assert_eq!(seen[0], seen[2], "every node delivers one order");
    let ids: Vec<u64> = seen[0].iter().map(|(id, _)| *id).collect();
    let first = ids[0];
    assert_eq!(
        ids,
        (first..first + total as u64).collect::<Vec<_>>(),
        "gapless"
    );
}

#[test]
fn without_redis_every_node_says_unhealthy_and_sends_its_clients_elsewhere() {
    let mut cluster = Cluster::start(2);
    let (leader, follower) = (cluster.wait_leader(), cluster.follower());
    let mut clients: Vec<Client> = [leader, follower]
        .iter()
        .map(|&i| connect(&cluster, i, &format!("user{i}")).0)
        .collect();
    cluster.redis.kill();
    // The leader stops leading at once (its lease cannot be renewed): 1012;
    // a follower rides out a short blip, then sends its clients away: 1013.
    for client in &mut clients {
        let code = client.expect_close_within(Duration::from_secs(20));
        assert!(
            matches!(code, Some(1012) | Some(1013)),
            "closed to reconnect: {code:?}"
        );
    }
    for i in [leader, follower] {
        let server = cluster.node(i).server();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let health = server.get("/healthz", None);
            if health.status == 503 {
                assert!(health.body.contains("Redis"), "{}", health.body);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} still says it is healthy"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    cluster.redis.start_again();
    for i in [leader, follower] {
        cluster.wait_ready(i);
    }
}

#[test]
fn a_message_redis_was_too_slow_for_is_refused_and_resent_once() {
    let cluster = Cluster::start(2);
    let leader = cluster.wait_leader();
    let cookie = login(&cluster, leader, "alice");
    let (mut alice, hello) = connect_hello(&cluster, leader, &cookie);
    let epoch = hello_epoch(&hello);
    alice.join("lobby");
    alice.say("lobby", "before");
    let since = message_with(&mut alice, "before")["id"].as_u64().unwrap();
    // Redis stops answering (SIGSTOP), as a stalled Redis would.
    cluster.redis.signal("STOP");
    alice.send(json!({"type": "message", "room": "lobby", "text": "slow", "client_id": "c-1"}));
    // Refused as not stored, or the socket is closed to resume: never
    // acknowledged as stored.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "no answer while Redis stalled");
        match alice.try_recv() {
            Some(v) if v["type"] == "error" => {
                assert_eq!(v["code"], "storage_failed", "{v}");
                break;
            }
            Some(v) => assert_ne!(v["text"], "slow", "told before it was stored: {v}"),
            None => break, // closed: it resumes below
        }
    }
    cluster.redis.signal("CONT");
    cluster.wait_leader();
    let leader = cluster.wait_leader();
    cluster.wait_ready(leader);
    // The page sends it again, with the same client_id, once it is back.
    let (mut alice, _) = connect_hello(&cluster, leader, &cookie);
    let joined = resume(&mut alice, "lobby", since, &epoch);
    let resent = |client: &mut Client| {
        client
            .send(json!({"type": "message", "room": "lobby", "text": "slow", "client_id": "c-1"}));
        message_with(client, "slow")
    };
    let first = resent(&mut alice);
    let second = resent(&mut alice);
    assert_eq!(first["id"], second["id"], "stored once, whatever was sent");
    let before: Vec<String> = history(&joined);
    assert!(
        before.iter().filter(|t| *t == "slow").count() <= 1,
        "{joined}"
    );
}
