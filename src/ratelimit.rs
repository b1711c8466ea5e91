//! Rate limiting with a decaying score (as hack.chat does), kept per key: the
//! hub keeps one limiter per session and one per client address.
//!
//! Every key has a score. Each thing it does adds a cost (see `config/rates.rs`);
//! the score halves every [`RATE_HALF_LIFE`](crate::config::RATE_HALF_LIFE). Once
//! the score reaches the threshold, requests are refused with `rate_limited`
//! and the number of seconds until one would pass. An address that keeps going
//! until twice the threshold has its connection closed with 1008.
//!
//! Why per session and not per connection? Opening more tabs must not buy more
//! budget. Why per address as well, with a bigger threshold? A whole class
//! behind one NAT address must be able to chat at once, but one visitor who
//! opens many sessions must not multiply their budget without end. Why a
//! decaying score and not a fixed window? It lets a burst of about two dozen
//! quick messages from rest through, then settles to a steady rate, with no
//! edge where a window resets.
//!
//! [`address_key`] decides what "one address" means: an IPv6 /64 is one
//! address, because one home or phone is handed a whole /64 and can pick any
//! address in it.
//!
//! Time is passed in, so the tests below are exact.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The address that limits and caps are counted by: IPv4 as it is (also when
/// it arrives as an IPv4-mapped IPv6 address), IPv6 cut to its /64 prefix.
/// One rule for every cap and budget, the web port's included: it lives in
/// natter's patch to tiny_http (`.vendor/tiny_http-0.12.0`), which counts the
/// web port's connections by it and cannot depend on natter.
pub fn address_key(ip: IpAddr) -> IpAddr {
    tiny_http::address_group(ip)
}

/// What the limiter decides about one request.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Allow,
    /// Refuse it; one would pass again after this many seconds (rounded up).
    Limit {
        retry_after_secs: u64,
    },
    /// Still going well past the limit: close the connection.
    Close,
}

struct Score {
    value: f64,
    at: Instant,
}

/// Scores for every key (a session, an address) seen recently.
pub struct RateLimiter<K> {
    threshold: f64,
    half_life: Duration,
    /// Whether persisting past twice the threshold closes the connection
    /// (`Verdict::Close`). Only a key that belongs to one client may: an
    /// address is shared, and closing one sender there would close its
    /// neighbours too, so an address's budget only ever refuses.
    closes: bool,
    scores: HashMap<K, Score>,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    pub fn new(threshold: f64, half_life: Duration) -> RateLimiter<K> {
        RateLimiter {
            threshold,
            half_life,
            closes: true,
            scores: HashMap::new(),
        }
    }

    /// A limiter whose verdicts are only ever `Allow` or `Limit`.
    pub fn refusing_only(threshold: f64, half_life: Duration) -> RateLimiter<K> {
        RateLimiter {
            closes: false,
            ..RateLimiter::new(threshold, half_life)
        }
    }

    fn decayed(&self, score: &Score, now: Instant) -> f64 {
        let halves = now.duration_since(score.at).as_secs_f64() / self.half_life.as_secs_f64();
        score.value * 0.5f64.powf(halves)
    }

    /// The score `key` would have with `cost` added, now.
    fn after(&self, key: K, cost: f64, now: Instant) -> f64 {
        match self.scores.get(&key) {
            Some(score) => self.decayed(score, now) + cost,
            None => cost,
        }
    }

    /// Charge `cost` to `key` and say whether the request may go ahead. A
    /// refused request is charged too: hammering on a closed door keeps it
    /// closed. That is right for what a connected client sends, where
    /// persisting ends in a close; see [`RateLimiter::check`] for the door
    /// itself.
    ///
    /// A score never goes past twice the threshold: a flood that lasts an hour
    /// is refused for as long as it lasts, and its door opens again about a
    /// half-life after it stops, not hours later.
    pub fn charge(&mut self, key: K, cost: f64, now: Instant) -> Verdict {
        let value = self.after(key, cost, now);
        let kept = value.min(2.0 * self.threshold);
        self.scores.insert(
            key,
            Score {
                value: kept,
                at: now,
            },
        );
        self.verdict(value, cost)
    }

    /// Whether `cost` would pass for `key` now, charging nothing: for a door
    /// that is not yet open (a handshake), where charging refusals would keep
    /// out, for good, a class whose pages all retry at once behind one NAT.
    /// Charge with [`RateLimiter::charge`] once it is let in.
    pub fn check(&self, key: K, cost: f64, now: Instant) -> Verdict {
        self.verdict(self.after(key, cost, now), cost)
    }

    fn verdict(&self, value: f64, cost: f64) -> Verdict {
        if value < self.threshold {
            Verdict::Allow
        } else if value >= 2.0 * self.threshold && self.closes {
            Verdict::Close
        } else {
            // Solve value * 2^(-t / half_life) + cost < threshold for t. A cost at
            // or over the threshold could never pass; report one half-life.
            let room = (self.threshold - cost).max(f64::MIN_POSITIVE);
            let value = value.min(2.0 * self.threshold);
            let halves = (value / room).log2().max(0.0);
            let secs = (halves * self.half_life.as_secs_f64()).ceil().max(1.0);
            Verdict::Limit {
                retry_after_secs: secs as u64,
            }
        }
    }

    /// Forget keys whose score has decayed to nothing, so the map does not
    /// grow with every address or session ever seen.
    pub fn sweep(&mut self, now: Instant) {
        let half_life = self.half_life.as_secs_f64();
        self.scores.retain(|_, s| {
            let halves = now.duration_since(s.at).as_secs_f64() / half_life;
            s.value * 0.5f64.powf(halves) > 0.01
        });
    }
}

/// The two budgets a request is charged to: its session's (when it has one;
/// a login does not yet) and its address's, which has the bigger threshold.
/// It passes only if both let it. The address is charged only for what its
/// session let through, and its budget only refuses, never closes: what one
/// session does past its own budget costs that session alone, so a flooder
/// cannot spend the budget of everyone behind the same NAT address, nor get
/// them closed.
pub struct Budgets<S> {
    sessions: RateLimiter<S>,
    addresses: RateLimiter<IpAddr>,
    /// Bot tokens' sessions: each its own budget and no address's (CI
    /// runners share addresses). It only refuses: an HTTP caller has no
    /// connection to close.
    bots: RateLimiter<S>,
}

impl<S: Hash + Eq + Copy> Budgets<S> {
    pub fn new(
        per_session: f64,
        per_address: f64,
        per_bot: f64,
        half_life: Duration,
    ) -> Budgets<S> {
        Budgets {
            sessions: RateLimiter::new(per_session, half_life),
            addresses: RateLimiter::refusing_only(per_address, half_life),
            bots: RateLimiter::refusing_only(per_bot, half_life),
        }
    }

    /// Charge a bot token's session its own budget alone.
    pub fn charge_bot(&mut self, session: S, cost: f64, now: Instant) -> Verdict {
        self.bots.charge(session, cost, now)
    }

    /// Charge the session's budget, then, if it let the request through, the
    /// address's (see [`RateLimiter::charge`]).
    pub fn charge(&mut self, session: Option<S>, ip: IpAddr, cost: f64, now: Instant) -> Verdict {
        if let Some(session) = session {
            let own = self.sessions.charge(session, cost, now);
            if own != Verdict::Allow {
                return own;
            }
        }
        self.addresses.charge(address_key(ip), cost, now)
    }

    /// Whether both budgets would let `cost` through, charging nothing (see
    /// [`RateLimiter::check`]): the session's first, as `charge` does.
    pub fn check(&self, session: Option<S>, ip: IpAddr, cost: f64, now: Instant) -> Verdict {
        if let Some(session) = session {
            let own = self.sessions.check(session, cost, now);
            if own != Verdict::Allow {
                return own;
            }
        }
        self.addresses.check(address_key(ip), cost, now)
    }

    pub fn sweep(&mut self, now: Instant) {
        self.sessions.sweep(now);
        self.addresses.sweep(now);
        self.bots.sweep(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address() {
        let key = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn checking_the_door_charges_nothing() {
        let mut limiter = RateLimiter::new(25.0, Duration::from_secs(30));
        let now = Instant::now();
        assert_eq!(limiter.charge(ip(), 24.5, now), Verdict::Allow);
        for _ in 0..100 {
            assert!(matches!(
                limiter.check(ip(), 1.0, now),
                Verdict::Limit { .. }
            ));
        }
        // Knocking a hundred times did not push the reopening further away.
        let later = now + Duration::from_secs(30);
        assert_eq!(limiter.check(ip(), 1.0, later), Verdict::Allow);
    }

    #[test]
    fn a_burst_passes_then_stops_then_recovers() {
        let mut limiter = RateLimiter::new(25.0, Duration::from_secs(30));
        let now = Instant::now();
        let passed = (0..40)
            .take_while(|_| limiter.charge(ip(), 1.0 + 30.0 / 332.0, now) == Verdict::Allow)
            .count();
        assert_eq!(passed, 22, "about two dozen quick messages from rest");
        let Verdict::Limit { retry_after_secs } = limiter.charge(ip(), 1.1, now) else {
            panic!("still limited");
        };
        assert!((1..=10).contains(&retry_after_secs), "{retry_after_secs}");
        let later = now + Duration::from_secs(retry_after_secs);
        assert_eq!(limiter.charge(ip(), 1.1, later), Verdict::Allow);
    }

    #[test]
    fn other_addresses_are_unaffected_and_persisting_closes() {
        let mut limiter = RateLimiter::new(25.0, Duration::from_secs(30));
        let now = Instant::now();
        let verdicts: Vec<_> = (0..60).map(|_| limiter.charge(ip(), 1.0, now)).collect();
        assert!(verdicts.contains(&Verdict::Close));
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(limiter.charge(other, 1.0, now), Verdict::Allow);
    }

    #[test]
    fn sessions_share_their_address_budget() {
        let mut budgets: Budgets<u64> = Budgets::new(25.0, 50.0, 25.0, Duration::from_secs(30));
        let now = Instant::now();
        // Two sessions behind one address each get their own 25 ...
        for session in [1, 2] {
            let passed = (0..30)
                .take_while(|_| budgets.charge(Some(session), ip(), 1.0, now) == Verdict::Allow)
                .count();
            assert_eq!(passed, 24, "session {session}");
        }
        // ... and the address's 50 is then spent (48 let through, refusals
        // not counted), for a third session too ...
        assert_eq!(budgets.charge(Some(3), ip(), 1.0, now), Verdict::Allow);
        for session in 100..1100 {
            // ... and for any other, however long it goes on, but none is
            // ever closed for it: the address is shared.
            assert!(matches!(
                budgets.charge(Some(session), ip(), 1.0, now),
                Verdict::Limit { .. }
            ));
        }
        let other: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(budgets.charge(Some(4), other, 1.0, now), Verdict::Allow);
    }

    #[test]
    fn sweeping_forgets_quiet_addresses() {
        let mut limiter = RateLimiter::new(25.0, Duration::from_secs(30));
        let now = Instant::now();
        limiter.charge(ip(), 13.0, now);
        limiter.sweep(now + Duration::from_secs(30 * 11));
        assert!(limiter.scores.is_empty());
    }
}
