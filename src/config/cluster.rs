//! Cluster mode (`--redis`, `cluster/`): several natter nodes behind a load
//! balancer, one of them leading, sharing everything through one Redis.

use std::time::Duration;

/// How long a leader's lease lasts in Redis unless it is renewed. A leader
/// that crashes (or loses Redis) is replaced within about this time: its
/// clients wait that long at most before another node answers them.
/// Three seconds is Phoenix-like (heartbeats of about a second, a few missed
/// before a peer is declared down) and short enough that a deploy's failover
/// feels like a reconnect.
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// How often the leader renews its lease, and a follower tries to take a
/// lease that lapsed: a third of [`LEASE_TTL`], so two renewals can be lost
/// (a slow Redis, a pause) before the lease lapses.
pub const LEASE_RENEW: Duration = Duration::from_millis(1000);

/// How long a command to Redis may take before it counts as failed. A commit
/// that waits longer is refused `storage_failed` (the page sends it again
/// with the same `client_id`), so a slow Redis never stalls a hub for more
/// than this.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a connection to Redis may take to open.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest wait between two attempts to reach Redis again; the first
/// waits 100 ms, and each one after twice as long, up to this.
pub const REDIS_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long Redis may stay unreachable before `/healthz` answers 503 (so
/// the load balancer drains this node) and its clients are closed with 1013
/// "try again later", to come back through a healthy node. Shorter blips
/// are ridden out: commits fail and are sent again, clients stay.
pub const REDIS_DOWN_AFTER: Duration = Duration::from_secs(10);

/// How long a read of the shared log blocks in Redis (`XREAD BLOCK`) before
/// the reader looks around (is it the leader now? is a snapshot asked for?).
pub const LOG_BLOCK: Duration = Duration::from_millis(500);

/// Entries of the shared log read at once.
pub const LOG_READ_COUNT: usize = 512;

/// Entries the shared log keeps (`XADD MAXLEN ~`). A node that falls
/// further behind than this (stopped for a while, or new) loads a snapshot
/// of the leader's database instead. At about a kilobyte an entry, 100 000
/// entries are about 100 MB of Redis memory.
pub const DEFAULT_LOG_LENGTH: u64 = 100_000;

/// The largest snapshot natter writes to Redis: a Redis string holds at
/// most 512 MB. A database past it cannot bring a new node up to date;
/// the snapshot is refused with this limit in the log.
pub const MAX_SNAPSHOT_BYTES: u64 = 512 * 1024 * 1024;

/// What every key natter keeps in Redis starts with (`--redis-prefix`), so
/// several clusters (or a test's) can share one Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "natter";

/// How long a follower may say nothing (it says it is alive every second)
/// before the leader takes its clients out of the chat: a crashed node's
/// members leave after this and the leave grace. Two lease times: a
/// follower paused for a lease's length is not dropped at once.
pub const NODE_SILENT_AFTER: Duration = Duration::from_secs(6);

/// Requests a follower forwards to the leader at once, each on a thread of
/// its own (a long-poll holds one for up to 30 s); past it, 503 with
/// `Retry-After`. As many as the bots' long-polls and uploads of one node
/// could want together, with room for pages.
pub const MAX_RELAYS: usize = 256;
