//! How often a claimed name's password may be guessed, and how often an
//! address may claim a name. Counted in the hub (which is one thread), and
//! checked before any password is hashed: a guesser over the limit costs
//! the server nothing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use crate::config::{
    CLAIM_INTERVAL, LOGIN_FAILURES_PER_ADDRESS, LOGIN_FAILURES_PER_NAME, LOGIN_FAILURE_WINDOW,
};

/// Failed password logins in the last `LOGIN_FAILURE_WINDOW`, per claimed
/// name (by its key) and per address, and each address's last claim.
#[derive(Default)]
pub struct Logins {
    by_name: HashMap<String, VecDeque<Instant>>,
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
    claims: HashMap<IpAddr, Instant>,
}

impl Logins {
    /// Seconds until a password for `key` from `address` may be tried, if it
    /// may not be now.
    pub fn wait(&mut self, key: &str, address: IpAddr, now: Instant) -> Option<u64> {
        let name = wait_of(self.by_name.get_mut(key), LOGIN_FAILURES_PER_NAME, now);
        let from = wait_of(
            self.by_address.get_mut(&address),
            LOGIN_FAILURES_PER_ADDRESS,
            now,
        );
        name.max(from)
    }

    /// A wrong password for `key` from `address`.
    pub fn failed(&mut self, key: &str, address: IpAddr, now: Instant) {
        let name = self.by_name.entry(key.to_string()).or_default();
        keep(name, LOGIN_FAILURES_PER_NAME, now);
        let from = self.by_address.entry(address).or_default();
        keep(from, LOGIN_FAILURES_PER_ADDRESS, now);
    }

    /// Seconds until `address` may claim a name, if it may not now.
    pub fn claim_wait(&self, address: IpAddr, now: Instant) -> Option<u64> {
        let last = self.claims.get(&address)?;
        let ready = *last + CLAIM_INTERVAL;
        (ready > now).then(|| secs_until(ready, now))
    }

    /// `address` claimed a name.
    pub fn claimed(&mut self, address: IpAddr, now: Instant) {
        self.claims.insert(address, now);
    }

    /// Forget what is past its window (the hub's minute sweep).
    pub fn sweep(&mut self, now: Instant) {
        let fresh = |times: &mut VecDeque<Instant>| {
            times.retain(|&t| now.duration_since(t) < LOGIN_FAILURE_WINDOW);
            !times.is_empty()
        };
        self.by_name.retain(|_, times| fresh(times));
        self.by_address.retain(|_, times| fresh(times));
        self.claims
            .retain(|_, &mut t| now.duration_since(t) < CLAIM_INTERVAL);
    }
}

/// With `limit` failures within the window in `times`, how long until the
/// oldest leaves it.
fn wait_of(times: Option<&mut VecDeque<Instant>>, limit: usize, now: Instant) -> Option<u64> {
    let times = times?;
    times.retain(|&t| now.duration_since(t) < LOGIN_FAILURE_WINDOW);
    let oldest = *times.front()?;
    (times.len() >= limit).then(|| secs_until(oldest + LOGIN_FAILURE_WINDOW, now))
}

/// Add `now`, keeping at most `limit` (older ones no longer matter).
fn keep(times: &mut VecDeque<Instant>, limit: usize, now: Instant) {
    times.push_back(now);
    while times.len() > limit {
        times.pop_front();
    }
}

fn secs_until(at: Instant, now: Instant) -> u64 {
    at.saturating_duration_since(now).as_secs().max(1)
}
