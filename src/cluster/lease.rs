//! Who leads: a lease in Redis, held by one node at a time.
//!
//! The leader is the node whose hub runs the chat's rules for the whole
//! cluster. Its lease is one key, `<prefix>:leader` = `node:term`, that
//! expires after [`LEASE_TTL`] unless renewed every [`LEASE_RENEW`]. The
//! term counts up with every new leader, and every entry the leader appends
//! to the shared log is checked against the key in the same script
//! (`log.rs`): a leader that lost its lease (paused, cut off from Redis)
//! cannot write one more entry once another node took over. That check is
//! the *fence*: without it, two nodes could both believe they lead.
//!
//! Two rules decide who may take a lapsed lease:
//!
//! - a node must have applied the whole log first (its database is as far
//!   as the log's last entry), so the new leader has every message the old
//!   one stored and told anyone about;
//! - after Redis restarted (a new `run_id`), the lease left from before is
//!   void and a new epoch starts (clients resuming with the old one get
//!   `gap: true`); the node that led before may take it back at once, and
//!   any other waits two lease times first, because the old leader holds
//!   everything and the log in Redis may have lost its tail.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connect::Redis;
use super::resp::{Cmd, Value};
use super::{Lead, Role, Status};
use crate::config::{LEASE_RENEW, LEASE_TTL};

/// Take the lease if nobody holds it (or it is void after a restart of
/// Redis) and this node is as far as the log. KEYS: leader, term, meta,
/// logseq. ARGV: node, ttl ms, run_id, a new epoch, this node's position,
/// the highest term this node has seen (a Redis that lost its keys counts
/// terms from 1 again; every term must still be new). Returns {term,
/// epoch}, or nil.
const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
local run = redis.call('HGET', KEYS[3], 'run_id')
if cur and run == ARGV[3] then return false end
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
if last > tonumber(ARGV[5]) then return false end
if run ~= ARGV[3] then
  redis.call('HSET', KEYS[3], 'run_id', ARGV[3], 'epoch', ARGV[4])
end
local term = redis.call('INCR', KEYS[2])
if term <= tonumber(ARGV[6]) then
  term = tonumber(ARGV[6]) + 1
  redis.call('SET', KEYS[2], term)
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. term, 'PX', ARGV[2])
return {term, redis.call('HGET', KEYS[3], 'epoch')}
";

/// Renew the lease if this node still holds it and Redis did not restart.
/// KEYS: leader, meta. ARGV: holder, ttl ms, run_id. Returns 1 or 0.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('HGET', KEYS[2], 'run_id') == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Give the lease up at shutdown, if still held, so another node takes over
/// at once rather than after it lapses. KEYS: leader. ARGV: holder.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// Start the lease thread: it runs until `status.stopping` is set, and tells
/// `on_role` each time this node starts or stops leading, or the leader
/// changes.
pub fn spawn(
    mut redis: Redis,
    status: Arc<Status>,
    on_role: Box<dyn Fn(Role) + Send>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("cluster-lease".into())
        .spawn(move || lease_loop(&mut redis, &status, on_role))
}

fn lease_loop(redis: &mut Redis, status: &Status, on_role: Box<dyn Fn(Role) + Send>) {
    let keys = &status.keys;
    let ttl_ms = LEASE_TTL.as_millis() as u64;
    // The leader this node last saw, and the Redis it saw it on.
    let mut seen: Option<String> = None;
    let mut last_run_id = String::new();
    let mut led_before = false;
    // The highest term this node has seen, led or followed.
    let mut max_term = 0u64;
    // Not before this may a node that did not lead take a lease made void by
    // a restart of Redis.
    let mut wait_until = Instant::now();
    while !status.stopping.load(Relaxed) {
        let up = redis.query(Cmd::new("PING")).is_ok();
        status.redis_seen(up);
        if up && redis.run_id() != last_run_id {
            if !last_run_id.is_empty() {
                eprintln!("natter: cluster: Redis restarted (a new run_id): a new epoch starts");
                if !led_before {
                    wait_until = Instant::now() + 2 * LEASE_TTL;
                }
            }
            last_run_id = redis.run_id().to_string();
        }
        let run_id = last_run_id.clone();
        match status.lead() {
            Some(lead) => {
                let holder = format!("{}:{}", status.node, lead.term);
                let renewed = redis
                    .query(
                        Cmd::eval(RENEW, &[&keys.leader(), &keys.meta()])
                            .arg(&holder)
                            .arg(ttl_ms)
                            .arg(&run_id),
                    )
                    .map(|v| v.int());
                // Unsure (Redis did not answer) counts as lost: the lease may
                // lapse meanwhile, and a leader that is not sure must stop
                // before another starts. Its next append would be fenced out
                // anyway.
                if renewed != Ok(Some(1)) {
                    eprintln!(
                        "natter: cluster: this node no longer leads (term {})",
                        lead.term
                    );
                    status.set_lead(None);
                    led_before = true;
                    seen = None;
                    on_role(Role::Follow(None));
                }
            }
            None if up && Instant::now() >= wait_until => {
                let at = status.applied.load(Relaxed);
                let Ok(epoch) = crate::session::new_token() else {
                    thread::sleep(LEASE_RENEW); // no randomness now; try again
                    continue;
                };
                let keys4 = [keys.leader(), keys.term(), keys.meta(), keys.logseq()];
                let keys4: Vec<&str> = keys4.iter().map(String::as_str).collect();
                let got = redis
                    .query(
                        Cmd::eval(ACQUIRE, &keys4)
                            .arg(&status.node)
                            .arg(ttl_ms)
                            .arg(&run_id)
                            .arg(&epoch[..16])
                            .arg(at)
                            .arg(max_term),
                    )
                    .map(term_and_epoch);
                match got {
                    Ok(Some((term, epoch))) => {
                        max_term = max_term.max(term);
                        eprintln!(
                            "natter: cluster: node {} leads (term {term}, epoch {epoch})",
                            status.node
                        );
                        let lead = Lead { term, epoch };
                        status.set_lead(Some(lead.clone()));
                        seen = Some(format!("{}:{term}", status.node));
                        on_role(Role::Lead(lead));
                    }
                    Ok(None) => {
                        let now = redis
                            .query(Cmd::new("GET").arg(&keys.leader()))
                            .ok()
                            .and_then(|v| v.text());
                        if now.is_some() && now != seen {
                            let term = now
                                .as_deref()
                                .and_then(|h| h.rsplit(':').next())
                                .and_then(|t| t.parse().ok());
                            max_term = max_term.max(term.unwrap_or(0));
                            seen = now;
                            on_role(Role::Follow(term));
                        }
                    }
                    Err(e) => eprintln!("natter: cluster: cannot take the lease: {e}"),
                }
            }
            None => {}
        }
        if up {
            publish_web(redis, status, ttl_ms);
        }
        thread::sleep(pause(status));
    }
    if let Some(lead) = status.lead() {
        let holder = format!("{}:{}", status.node, lead.term);
        let _ = redis.query(Cmd::eval(RELEASE, &[&keys.leader()]).arg(&holder));
    }
}

/// While leading, say where this node's pages are (for the followers'
/// forwarded requests, `web/relay.rs`); while following, read where the
/// leader's are.
fn publish_web(redis: &mut Redis, status: &Status, ttl_ms: u64) {
    let key = status.keys.leader_web();
    if status.lead().is_some() {
        let set = Cmd::new("SET")
            .arg(&key)
            .arg(&status.web)
            .arg("PX")
            .arg(ttl_ms);
        let _ = redis.query(set);
    } else if let Ok(web) = redis.query(Cmd::new("GET").arg(&key)) {
        status.set_leader_web(web.text());
    }
}

/// `{term, epoch}` from the acquire script, or `None` (nil: not taken).
fn term_and_epoch(reply: Value) -> Option<(u64, String)> {
    let items = reply.into_items();
    let term = items.first()?.int()?;
    let epoch = items.get(1)?.text()?;
    Some((term as u64, epoch))
}

/// The lease thread's pause between rounds: a renewal every
/// [`LEASE_RENEW`] while leading, and a look for a lapsed lease more often
/// while following, so a failover is not slowed by the poll.
fn pause(status: &Status) -> Duration {
    if status.lead().is_some() {
        LEASE_RENEW
    } else {
        Duration::from_millis(200)
    }
}
