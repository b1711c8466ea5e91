//! Cluster mode (`--redis redis://HOST:PORT`): several natter nodes behind
//! a load balancer share every room, message, session and account through
//! one Redis. Without `--redis` none of this runs, and one natter is what it
//! always was.
//!
//! # The design: one node runs the rules, every node holds the sockets
//!
//! One natter's guarantees (one order per room, ids without gaps, names
//! unique, commit before you tell, resume without loss) all come from one
//! thing: one hub thread owns the state and applies every change in turn.
//! A cluster keeps exactly that. One node, the **leader**, runs the chat
//! (`chat/`, `cmd/`) for the whole cluster; the other nodes, **followers**,
//! hold their clients' sockets and relay: each client event goes to the
//! leader, and what the rules send comes back to the node that holds the
//! socket. Redis is the bus between them, the leader's lease, and the log
//! that keeps every node's database a copy of the leader's, so that any node
//! can take over.
//!
//! What this buys is the point of a cluster for natter: a thread per
//! connection is what limits one node (about 10 000 clients on a small box),
//! and the connections, their threads, their TLS and their writes are spread
//! over every node; the hub's work per message is microseconds. What it costs
//! is one more hop through Redis for a follower's client (`make bench`
//! measures it), and a failover of a few seconds when the leader goes.
//!
//! # The files
//!
//! - `resp.rs`: Redis's wire protocol, as much as natter speaks.
//! - `connect.rs`: one blocking connection to Redis per thread, reopened
//!   after any error, with back-off.
//! - `lease.rs`: who leads, the term that fences an old leader out, and the
//!   epoch, which changes when Redis restarts.
//! - `log.rs`: the shared log: the leader appends each commit inside its
//!   transaction; every node applies it to its own database; snapshots for
//!   a node that cannot catch up.
//!
//! # Threads, per node
//!
//! | thread | job |
//! |---|---|
//! | `cluster-lease` | takes, renews and gives up the lease; tells the hub when this node starts or stops leading |
//! | `cluster-log` | applies the log to this node's database; while leading, writes snapshots asked for |
//! | `store-writer` | (as on one node) commits the hub's batches; while leading, through the log |
//!
//! None of them touches chat state: that stays the hub's alone.

pub mod connect;
pub mod lease;
pub mod log;
pub mod relay;
pub mod resp;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;
use std::time::Instant;

/// What `--redis` and its companions set.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]` (`--redis`).
    pub redis: String,
    /// What every key starts with (`--redis-prefix`, see
    /// [`DEFAULT_REDIS_PREFIX`](crate::config::DEFAULT_REDIS_PREFIX)).
    pub prefix: String,
    /// This node's name in the cluster (`--node-id`), unique among the
    /// nodes; by default the host name and web port.
    pub node: String,
    /// Entries the shared log keeps (`--redis-log-length`, see
    /// [`DEFAULT_LOG_LENGTH`](crate::config::DEFAULT_LOG_LENGTH)).
    pub log_length: u64,
    /// Where the other nodes reach this one's pages (`--node-address
    /// HOST:PORT`); by default `--host` and the web port.
    pub address: Option<String>,
    /// This node's number, given by Redis at start: the high bits of its
    /// connection ids, so that no two nodes' ids meet in the leader's chat.
    pub index: u64,
}

impl ClusterConfig {
    /// `--redis URL` with every other setting at its default.
    pub fn new(redis: &str) -> ClusterConfig {
        ClusterConfig {
            redis: redis.to_string(),
            prefix: crate::config::DEFAULT_REDIS_PREFIX.to_string(),
            node: String::new(),
            log_length: crate::config::DEFAULT_LOG_LENGTH,
            address: None,
            index: 0,
        }
    }

    /// The first connection id this node gives out.
    pub fn first_conn_id(&self) -> u64 {
        (self.index << CONN_ID_BITS) + 1
    }
}

/// Bits of a connection id counted by its node; the bits above them are the
/// node's number (2^40 connections a node, 2^20 nodes).
const CONN_ID_BITS: u32 = 40;

/// The names of natter's keys in Redis.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }
    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
    /// `node:term` of the leader, expiring unless renewed (`lease.rs`).
    pub fn leader(&self) -> String {
        self.key("leader")
    }
    /// The last term given out.
    pub fn term(&self) -> String {
        self.key("term")
    }
    /// A hash: `run_id` of the Redis the epoch was made on, and the `epoch`.
    pub fn meta(&self) -> String {
        self.key("meta")
    }
    /// The number of the log's last entry.
    pub fn logseq(&self) -> String {
        self.key("logseq")
    }
    /// The stream of entries (`log.rs`).
    pub fn log(&self) -> String {
        self.key("log")
    }
    /// Counts snapshot requests; and which request the stored snapshot
    /// answers; and the snapshot (a whole database file).
    pub fn snapshot_asked(&self) -> String {
        self.key("snapshot:asked")
    }
    pub fn snapshot_served(&self) -> String {
        self.key("snapshot:served")
    }
    pub fn snapshot(&self) -> String {
        self.key("snapshot")
    }
    /// Followers' messages to the leader (`relay.rs`).
    pub fn up(&self) -> String {
        self.key("up")
    }
    /// The leader's messages to `node`.
    pub fn down(&self, node: &str) -> String {
        self.key(&format!("down:{node}"))
    }
    /// Counts nodes as they start: each node's number tells its connection
    /// ids apart from every other node's.
    pub fn nodes(&self) -> String {
        self.key("nodes")
    }
    /// The web address of the leader's pages (`http://host:port`), for
    /// followers to forward HTTP requests to.
    pub fn leader_web(&self) -> String {
        self.key("leader:web")
    }
    /// A secret the nodes share (made by the first), so the leader trusts
    /// the client address a follower forwards, and nobody else's.
    pub fn relay_secret(&self) -> String {
        self.key("relay-secret")
    }
}

/// This node's lead: its term, and the cluster's epoch it leads in.
#[derive(Clone, Debug, PartialEq)]
pub struct Lead {
    pub term: u64,
    pub epoch: String,
}

/// What the lease thread tells the hub.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// This node leads from now on: it runs the chat, in this epoch.
    Lead(Lead),
    /// Another node leads, in this term (or none, for now): whatever this
    /// node's clients were told by an earlier leader, they must resume with
    /// the next one.
    Follow(Option<u64>),
}

/// What the cluster's threads share about this node. Each field says who
/// writes it.
pub struct Status {
    pub node: String,
    /// This run's number (`ClusterConfig::index`).
    pub instance: u64,
    pub keys: Keys,
    pub log_length: u64,
    /// Written by the lease thread.
    lead: Mutex<Option<Lead>>,
    /// The position of this node's database in the log: by the applier,
    /// and by the leader's journal after each append.
    pub applied: AtomicU64,
    /// Since when Redis has not answered, if it has not (for `/healthz`).
    down_since: Mutex<Option<Instant>>,
    /// Set at shutdown: the cluster's threads return.
    pub stopping: AtomicBool,
    /// This node's pages (`host:port`), which followers forward to while it
    /// leads; and the leader's, while this node follows (by the lease thread).
    pub web: String,
    leader_web: Mutex<Option<String>>,
    /// The secret the nodes share (`web/relay.rs`).
    pub relay_secret: String,
}

impl Status {
    pub fn new(config: &ClusterConfig, web: String, relay_secret: String) -> Status {
        Status {
            node: config.node.clone(),
            instance: config.index,
            keys: Keys::new(&config.prefix),
            log_length: config.log_length,
            lead: Mutex::new(None),
            applied: AtomicU64::new(0),
            down_since: Mutex::new(None),
            stopping: AtomicBool::new(false),
            web,
            leader_web: Mutex::new(None),
            relay_secret,
        }
    }

    /// Where the leader's pages are (`host:port`), while another node leads.
    pub fn leader_web(&self) -> Option<String> {
        self.leader_web
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_leader_web(&self, web: Option<String>) {
        *self.leader_web.lock().unwrap_or_else(|p| p.into_inner()) = web;
    }

    /// This node's lead, if it leads.
    pub fn lead(&self) -> Option<Lead> {
        self.lead.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_lead(&self, lead: Option<Lead>) {
        *self.lead.lock().unwrap_or_else(|p| p.into_inner()) = lead;
    }

    /// Record whether Redis just answered.
    pub(crate) fn redis_seen(&self, up: bool) {
        let mut down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
        match (up, *down) {
            (true, _) => *down = None,
            (false, None) => *down = Some(Instant::now()),
            (false, Some(_)) => {}
        }
    }

    /// How long Redis has not answered (zero while it does).
    pub fn redis_down_for(&self) -> std::time::Duration {
        let down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
        down.map(|since| since.elapsed()).unwrap_or_default()
    }
}

/// Join the cluster at start: take this node's number and the shared
/// secret from Redis, and fill in what `config` left to defaults. Fails,
/// saying why, if Redis cannot be reached: a node that starts without its
/// cluster would serve nobody.
pub fn join(config: &mut ClusterConfig, host: &str, web_port: u16) -> Result<Status, String> {
    let mut redis = connect::Redis::new(&config.redis)?;
    let keys = Keys::new(&config.prefix);
    let address = match &config.address {
        Some(address) => address.clone(),
        None if host == "0.0.0.0" || host == "::" => {
            return Err(format!(
                "--host {host} listens everywhere, so the other nodes cannot know this \
                 one's address: give it with --node-address HOST:PORT"
            ))
        }
        None => format!("{host}:{web_port}"),
    };
    if config.node.is_empty() {
        config.node = address.clone();
    }
    let fresh = crate::session::new_token().map_err(|e| e.to_string())?;
    let cmds = [
        resp::Cmd::new("INCR").arg(&keys.nodes()),
        resp::Cmd::new("SET")
            .arg(&keys.relay_secret())
            .arg(&fresh)
            .arg("NX"),
        resp::Cmd::new("GET").arg(&keys.relay_secret()),
    ];
    let replies = redis
        .run(|con| con.pipeline(&cmds))
        .map_err(|e| format!("cannot join the cluster at {}: {e}", config.redis))?;
    let mut replies = replies.into_iter().map(|r| r.ok());
    let index = replies.next().flatten().and_then(|v| v.int());
    let secret = replies.nth(1).flatten().and_then(|v| v.text());
    let (Some(index), Some(secret)) = (index, secret) else {
        return Err(format!(
            "cannot join the cluster at {}: Redis refused",
            config.redis
        ));
    };
    config.index = index as u64 % (1 << 20);
    Ok(Status::new(config, address, secret))
}
