//! The shared log: how every node's database holds the same rows.
//!
//! The leader's writer thread commits each of the hub's batches to its own
//! SQLite file as one node does, with one step more inside the transaction
//! ([`RedisJournal`], a `storage::Journal`): before `COMMIT` it appends the
//! batch to a Redis stream, `<prefix>:log`, through one Lua script that
//!
//! 1. refuses unless this node still holds the lease (the fence, see
//!    `lease.rs`), and unless the log has no entry this node lacks;
//! 2. numbers the entry: one more than the leader's own position, so the
//!    entries count 1, 2, 3, … with no gaps, whatever Redis lost;
//! 3. appends it (`XADD … MAXLEN ~ --redis-log-length`).
//!
//! If Redis refuses or does not answer within `REDIS_TIMEOUT`, the
//! transaction rolls back and the hub answers `storage_failed` (the page
//! sends it again with the same `client_id`). So nothing is stored, and
//! nobody is told of anything, that the other nodes will not get.
//!
//! Every node, the leader included, runs the applier thread
//! ([`spawn_applier`]): it reads the stream (`XREAD BLOCK`) and applies each
//! entry to its own database with the entry's position, in one transaction
//! (`Sqlite::apply`). The leader's own entries are already there and are
//! skipped. A follower's copy is thus never more than a moment behind, and
//! when the leader dies a follower can take over with every stored message.
//!
//! A copy that cannot continue from the log (a new node, one stopped for
//! longer than the log keeps, or one holding entries that Redis lost) asks
//! for a snapshot: the leader's applier writes its whole database to Redis
//! (`VACUUM INTO`, then one key), and the follower loads it over its own
//! (SQLite's backup), then reads the log on from the snapshot's position.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::connect::Redis;
use super::resp::{Cmd, Value};
use super::Status;
use crate::config::{LOG_BLOCK, LOG_READ_COUNT, MAX_SNAPSHOT_BYTES, REDIS_TIMEOUT};
use crate::storage::{Applied, Entry, EntryRef, Journal, Position, Sqlite, StorageError};

/// How long a node waits for the snapshot it asked for before it asks again.
const SNAPSHOT_ASK_AGAIN: Duration = Duration::from_secs(5);

/// Append one entry. KEYS: leader, logseq, log. ARGV: holder (`node:term`),
/// the leader's position, the log's length, the term, the entry's JSON.
/// Returns {n, stream id}, or an error reply saying why not.
const APPEND: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER this node no longer leads the cluster')
end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local at = tonumber(ARGV[2])
if last > at then
  return redis.error_reply('BEHIND the log has entries this node has not applied yet')
end
local n = at + 1
redis.call('SET', KEYS[2], n)
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
  'n', n, 'term', ARGV[4], 'data', ARGV[5])
return {n, id}
";

/// The leader's side of the log: the writer thread's `storage::Journal`.
pub struct RedisJournal {
    redis: Redis,
    status: Arc<Status>,
}

impl RedisJournal {
    pub fn new(redis: Redis, status: Arc<Status>) -> RedisJournal {
        RedisJournal { redis, status }
    }
}

impl Journal for RedisJournal {
    fn append(&mut self, at: Position, entry: &EntryRef) -> Result<Position, StorageError> {
        let Some(lead) = self.status.lead() else {
            return Err("this node does not lead the cluster now; try again".into());
        };
        let data = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        let keys = &self.status.keys;
        let holder = format!("{}:{}", self.status.node, lead.term);
        let cmd = Cmd::eval(APPEND, &[&keys.leader(), &keys.logseq(), &keys.log()])
            .arg(&holder)
            .arg(at.n)
            .arg(self.status.log_length)
            .arg(lead.term)
            .arg(&data);
        let got = self.redis.query(cmd);
        self.status
            .redis_seen(got.is_ok() || self.redis.is_connected());
        let reply = got.map_err(|e| format!("the cluster's Redis did not take it: {e}"))?;
        let items = reply.into_items();
        let n = items.first().and_then(Value::int);
        let id = items.get(1).and_then(Value::text);
        let (Some(n), Some(id)) = (n, id) else {
            return Err("the cluster's Redis answered the append strangely".into());
        };
        let n = n as u64;
        self.status.applied.store(n, Relaxed);
        Ok(Position {
            n,
            term: lead.term,
            id,
        })
    }
}

/// Start the applier thread, on a connection of its own to the database at
/// `db`; it runs until `status.stopping` is set.
pub fn spawn_applier(
    redis: Redis,
    db: String,
    status: Arc<Status>,
) -> Result<JoinHandle<()>, String> {
    let mut store = Sqlite::open(&db, None)?;
    let at = store.position()?;
    status.applied.store(at.n, Relaxed);
    let redis = redis.with_read_timeout(LOG_BLOCK + REDIS_TIMEOUT);
    thread::Builder::new()
        .name("cluster-log".into())
        .spawn(move || {
            Applier {
                redis,
                store,
                status,
                db: PathBuf::from(db),
            }
            .run(at)
        })
        .map_err(|e| e.to_string())
}

struct Applier {
    redis: Redis,
    store: Sqlite,
    status: Arc<Status>,
    /// The database file (snapshots are written beside it).
    db: PathBuf,
}

/// One entry as read from the stream.
struct Read {
    at: Position,
    data: Vec<u8>,
}

impl Applier {
    fn run(mut self, mut at: Position) {
        // Said once per outage, not every 200 ms of it.
        let mut failing = false;
        while !self.status.stopping.load(Relaxed) {
            if self.status.lead().is_some() {
                self.serve_snapshot();
            }
            let entries = match self.read(&at.id) {
                Ok(entries) => {
                    failing = false;
                    entries
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        eprintln!("natter: cluster: cannot read the log: {e}");
                    }
                    thread::sleep(Duration::from_millis(200));
                    continue;
                }
            };
            for read in entries {
                at.id = read.at.id.clone();
                match self.apply(&read) {
                    Ok(Applied::Done) | Ok(Applied::Skipped) => {}
                    Ok(Applied::Gap(here)) => {
                        eprintln!(
                            "natter: cluster: this database is at entry {} and the log \
                             goes on at {} (term {}): loading a snapshot",
                            here.n, read.at.n, read.at.term
                        );
                        if let Some(loaded) = self.load_snapshot() {
                            at = loaded;
                        }
                        break;
                    }
                    Err(e) => {
                        // The entry stays unapplied, and the read starts again
                        // from the position the database holds.
                        eprintln!("natter: cluster: cannot apply log entry {}: {e}", read.at.n);
                        thread::sleep(Duration::from_millis(200));
                        match self.store.position() {
                            Ok(here) => at = here,
                            Err(_) => break,
                        }
                        break;
                    }
                }
            }
            if let Ok(here) = self.store.position() {
                self.status.applied.store(here.n, Relaxed);
            }
        }
    }

    /// The entries after stream id `after`, waiting up to `LOG_BLOCK`.
    fn read(&mut self, after: &str) -> Result<Vec<Read>, String> {
        let log = self.status.keys.log();
        let cmd = Cmd::new("XREAD")
            .arg("COUNT")
            .arg(LOG_READ_COUNT as u64)
            .arg("BLOCK")
            .arg(LOG_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&log)
            .arg(after);
        // `[[log, [[id, [field, value, ...]], ...]]]`, or nil.
        let reply = self.redis.query(cmd)?;
        let mut out = Vec::new();
        for stream in reply.into_items() {
            let Some(entries) = stream.into_items().pop() else {
                continue;
            };
            for entry in entries.into_items() {
                let mut parts = entry.into_items().into_iter();
                let id = parts.next().and_then(|v| v.text()).unwrap_or_default();
                let mut fields = parts.next().map(Value::into_items).unwrap_or_default();
                let mut field = |name: &str| -> Option<Vec<u8>> {
                    let at = fields
                        .iter()
                        .position(|f| f.text().as_deref() == Some(name))?;
                    std::mem::replace(fields.get_mut(at + 1)?, Value::Nil).into_data()
                };
                let number = |b: Option<Vec<u8>>| {
                    b.and_then(|b| String::from_utf8(b).ok())
                        .and_then(|s| s.parse::<u64>().ok())
                };
                let (n, term, data) = (number(field("n")), number(field("term")), field("data"));
                let (Some(n), Some(term), Some(data)) = (n, term, data) else {
                    eprintln!("natter: cluster: log entry {id} is malformed; skipped");
                    continue;
                };
                out.push(Read {
                    at: Position { n, term, id },
                    data,
                });
            }
        }
        Ok(out)
    }

    fn apply(&mut self, read: &Read) -> Result<Applied, StorageError> {
        let entry: Entry = serde_json::from_slice(&read.data)
            .map_err(|e| format!("entry {} is not one this version reads: {e}", read.at.n))?;
        self.store.apply(read.at.clone(), &entry)
    }

    /// Ask the leader for a snapshot and load it; the position it brings.
    /// `None` if natter stops meanwhile.
    fn load_snapshot(&mut self) -> Option<Position> {
        let keys = self.status.keys.clone();
        let path = self.db.with_extension("snapshot-in");
        let mut asked = 0;
        let mut asked_at = std::time::Instant::now();
        loop {
            if self.status.stopping.load(Relaxed) {
                return None;
            }
            // Ask (again, every few seconds: the leader may have changed,
            // or Redis may have lost the request).
            if asked == 0 || asked_at.elapsed() > SNAPSHOT_ASK_AGAIN {
                let n = self
                    .redis
                    .query(Cmd::new("INCR").arg(&keys.snapshot_asked()));
                if let Some(n) = n.ok().and_then(|v| v.int()) {
                    asked = n as u64;
                    asked_at = std::time::Instant::now();
                }
            }
            thread::sleep(Duration::from_millis(200));
            let cmds = [
                Cmd::new("GET").arg(&keys.snapshot_served()),
                Cmd::new("GET").arg(&keys.snapshot()),
            ];
            let Ok(mut got) = self.redis.run(|con| con.pipeline(&cmds)) else {
                continue;
            };
            let bytes = got.pop().and_then(Result::ok).and_then(Value::into_data);
            let served = got.pop().and_then(Result::ok).and_then(|v| v.int());
            let (Some(served), Some(bytes)) = (served, bytes) else {
                continue;
            };
            let served = served as u64;
            if asked == 0 || served < asked {
                continue;
            }
            let loaded = std::fs::write(&path, &bytes)
                .map_err(|e| e.to_string())
                .and_then(|()| self.store.restore_from(&path))
                .and_then(|()| self.store.position());
            let _ = std::fs::remove_file(&path);
            match loaded {
                Ok(at) => {
                    eprintln!(
                        "natter: cluster: loaded a snapshot ({} bytes) at entry {}",
                        bytes.len(),
                        at.n
                    );
                    return Some(at);
                }
                Err(e) => eprintln!("natter: cluster: cannot load the snapshot: {e}"),
            }
        }
    }

    /// While leading: write a snapshot if a follower asked for one since
    /// the last.
    fn serve_snapshot(&mut self) {
        let keys = self.status.keys.clone();
        // Both counters live in Redis, so a Redis that lost them (and the
        // snapshot) starts both from nothing together.
        let cmds = [
            Cmd::new("GET").arg(&keys.snapshot_asked()),
            Cmd::new("GET").arg(&keys.snapshot_served()),
        ];
        let Ok(counters) = self.redis.run(|con| con.pipeline(&cmds)) else {
            return;
        };
        let mut counters = counters.into_iter().map(|r| r.ok().and_then(|v| v.int()));
        let (Some(asked), served) = (counters.next().flatten(), counters.next().flatten()) else {
            return;
        };
        if asked <= served.unwrap_or(0) {
            return;
        }
        let asked = asked as u64;
        let path = self.db.with_extension("snapshot-out");
        let _ = std::fs::remove_file(&path);
        let made = self
            .store
            .snapshot_to(&path)
            .and_then(|()| std::fs::read(&path).map_err(|e| e.to_string()));
        let _ = std::fs::remove_file(&path);
        let bytes = match made {
            Ok(bytes) if bytes.len() as u64 <= MAX_SNAPSHOT_BYTES => bytes,
            Ok(bytes) => {
                eprintln!(
                    "natter: cluster: the database is {} bytes, over the snapshot limit of \
                     {MAX_SNAPSHOT_BYTES} (a Redis string's): no snapshot for new nodes",
                    bytes.len()
                );
                let _ = self
                    .redis
                    .query(Cmd::new("SET").arg(&keys.snapshot_served()).arg(asked));
                return;
            }
            Err(e) => {
                eprintln!("natter: cluster: cannot make a snapshot: {e}");
                return;
            }
        };
        let cmds = [
            Cmd::new("SET").arg(&keys.snapshot()).arg(&bytes),
            Cmd::new("SET").arg(&keys.snapshot_served()).arg(asked),
        ];
        let set = self
            .redis
            .run(|con| con.pipeline(&cmds))
            .and_then(|replies| {
                replies
                    .into_iter()
                    .try_for_each(|r| r.map(drop).map_err(|e| e.to_string()))
            });
        match set {
            Ok(()) => {
                eprintln!("natter: cluster: wrote a snapshot ({} bytes)", bytes.len());
            }
            Err(e) => eprintln!("natter: cluster: cannot write the snapshot: {e}"),
        }
    }
}
