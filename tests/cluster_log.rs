//! The shared log keeps every node's database a copy of the leader's: what
//! the leader commits reaches a follower's file, a commit Redis cannot take
//! is not stored either, a node that starts late or fell past the log's
//! length loads a snapshot, and a leader that lost its lease is fenced out.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::cluster::{connect::Redis, lease, log, ClusterConfig, Status};
use natter::protocol::ChatMessage;
use natter::storage::{Batch, Sqlite, Store, Write};
use natter_testkit::{self as common, RedisServer, TempDir, DEADLINE};

fn config(redis: &RedisServer, node: &str) -> ClusterConfig {
    let mut c = ClusterConfig::new(&redis.url());
    c.prefix = "t".into();
    c.node = node.into();
    c.log_length = 100;
    c
}

/// A node's cluster threads (lease and applier) on database `db`.
struct Node {
    status: Arc<Status>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Node {
    fn start(redis: &RedisServer, name: &str, db: &str) -> Node {
        let cfg = config(redis, name);
        let status = Arc::new(Status::new(&cfg, String::new(), String::new()));
        let applier =
            log::spawn_applier(Redis::new(&cfg.redis).unwrap(), db.into(), status.clone()).unwrap();
        let lease = lease::spawn(
            Redis::new(&cfg.redis).unwrap(),
            status.clone(),
            Box::new(|_| {}),
        )
        .unwrap();
        Node {
            status,
            threads: vec![applier, lease],
        }
    }

    /// The writer's store: commits go through the log.
    fn writer(&self, redis: &RedisServer, db: &str) -> Sqlite {
        let mut store = Sqlite::open(db, None).unwrap();
        let journal =
            log::RedisJournal::new(Redis::new(&redis.url()).unwrap(), self.status.clone());
        store.set_journal(Box::new(journal));
        store
    }

    fn wait_lead(&self) {
        wait_for("the node to lead", || self.status.lead().is_some());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.status.stopping.store(true, Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn post(store: &mut Sqlite, id: u64) -> Result<(), String> {
    let message = ChatMessage::new(Arc::from("lobby"), id, "alice".into(), format!("m{id}"), id);
    store.commit(&Batch {
        writes: vec![("lobby".into(), Write::Post(message))],
        ..Batch::default()
    })
}

fn texts(db: &str) -> Vec<String> {
    let mut store = Sqlite::open(db, None).unwrap();
    let messages = store.after("lobby", "lobby", 0, 1000).unwrap();
    messages.into_iter().map(|m| m.text).collect()
}

#[test]
fn a_leaders_commits_reach_a_followers_database_in_order() {
    let redis = RedisServer::start();
    let dir = TempDir::new("cluster-log");
    let (a, b) = (dir.file("a.db"), dir.file("b.db"));
    let leader = Node::start(&redis, "a", &a);
    leader.wait_lead();
    let follower = Node::start(&redis, "b", &b);
    let mut writer = leader.writer(&redis, &a);
    for id in 1..=5 {
        post(&mut writer, id).unwrap();
    }
    wait_for("the follower's copy", || texts(&b).len() == 5);
    assert_eq!(texts(&b), ["m1", "m2", "m3", "m4", "m5"]);
    assert!(follower.status.lead().is_none(), "one leader at a time");
    assert_eq!(follower.status.applied.load(Relaxed), 5);
}

#[test]
fn a_commit_redis_cannot_take_is_not_stored() {
    let mut redis = RedisServer::start();
    let dir = TempDir::new("cluster-log");
    let a = dir.file("a.db");
    let leader = Node::start(&redis, "a", &a);
    leader.wait_lead();
    let mut writer = leader.writer(&redis, &a);
    post(&mut writer, 1).unwrap();
    redis.kill();
    let refused = post(&mut writer, 2).expect_err("no Redis, no commit");
    assert!(refused.contains("Redis"), "says why: {refused}");
    assert_eq!(
        texts(&a),
        ["m1"],
        "nothing stored that the others cannot get"
    );
    drop(leader);
    redis.start_again();
}

#[test]
fn a_late_node_past_the_logs_length_loads_a_snapshot() {
    let redis = RedisServer::start();
    let dir = TempDir::new("cluster-log");
    let (a, c) = (dir.file("a.db"), dir.file("c.db"));
    let leader = Node::start(&redis, "a", &a);
    leader.wait_lead();
    let mut writer = leader.writer(&redis, &a);
    for id in 1..=300 {
        post(&mut writer, id).unwrap();
    }
    // The log keeps about 100 entries: the first ones are gone.
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let first: Vec<redis::Value> = redis::cmd("XRANGE")
        .arg("t:log")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert!(!first.is_empty());
    let late = Node::start(&redis, "c", &c);
    wait_for("the snapshot", || texts(&c).len() == 300);
    post(&mut writer, 301).unwrap();
    wait_for("the log after the snapshot", || texts(&c).len() == 301);
    assert_eq!(late.status.applied.load(Relaxed), 301);
}

#[test]
fn a_leader_that_lost_its_lease_cannot_append() {
    let redis = RedisServer::start();
    let dir = TempDir::new("cluster-log");
    let a = dir.file("a.db");
    let leader = Node::start(&redis, "a", &a);
    leader.wait_lead();
    let mut writer = leader.writer(&redis, &a);
    post(&mut writer, 1).unwrap();
    // Another node's lease, as if this one had paused past its lease.
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("t:leader")
        .arg("b:99")
        .query(&mut con)
        .unwrap();
    let refused = post(&mut writer, 2).expect_err("fenced out");
    assert!(refused.contains("no longer leads"), "says why: {refused}");
    assert_eq!(texts(&a), ["m1"]);
    let _ = common::DEADLINE;
}
