//! Rate limiting by client address, with a decaying score (as hack.chat does).
//!
//! Every address has a score. Each thing it does adds a cost (see `config.rs`);
//! the score halves every [`RATE_HALF_LIFE`](crate::config::RATE_HALF_LIFE). Once
//! the score reaches the threshold, requests are refused with `rate_limited`
//! and the number of seconds until one would pass. An address that keeps going
//! until twice the threshold has its connection closed with 1008.
//!
//! Why per address and not per connection? Opening more tabs must not buy more
//! budget. Why a decaying score and not a fixed window? It lets a burst of
//! about two dozen quick messages from rest through, then settles to a steady
//! rate, with no edge where a window resets.
//!
//! Time is passed in, so the tests below are exact.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

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

/// Scores for every address seen recently.
pub struct RateLimiter {
    threshold: f64,
    half_life: Duration,
    scores: HashMap<IpAddr, Score>,
}

impl RateLimiter {
    pub fn new(threshold: f64, half_life: Duration) -> RateLimiter {
        RateLimiter {
            threshold,
            half_life,
            scores: HashMap::new(),
        }
    }

    fn decayed(&self, score: &Score, now: Instant) -> f64 {
        let halves = now.duration_since(score.at).as_secs_f64() / self.half_life.as_secs_f64();
        score.value * 0.5f64.powf(halves)
    }

    /// Charge `cost` to `ip` and say whether the request may go ahead. A refused
    /// request is charged too: hammering on a closed door keeps it closed.
    pub fn charge(&mut self, ip: IpAddr, cost: f64, now: Instant) -> Verdict {
        let value = match self.scores.get(&ip) {
            Some(score) => self.decayed(score, now) + cost,
            None => cost,
        };
        self.scores.insert(ip, Score { value, at: now });
        if value < self.threshold {
            Verdict::Allow
        } else if value >= 2.0 * self.threshold {
            Verdict::Close
        } else {
            // Solve value * 2^(-t / half_life) + cost < threshold for t. A cost at
            // or over the threshold could never pass; report one half-life.
            let room = (self.threshold - cost).max(f64::MIN_POSITIVE);
            let halves = (value / room).log2().max(0.0);
            let secs = (halves * self.half_life.as_secs_f64()).ceil().max(1.0);
            Verdict::Limit {
                retry_after_secs: secs as u64,
            }
        }
    }

    /// Forget addresses whose score has decayed to nothing, so the map does not
    /// grow with every address ever seen.
    pub fn sweep(&mut self, now: Instant) {
        let half_life = self.half_life.as_secs_f64();
        self.scores.retain(|_, s| {
            let halves = now.duration_since(s.at).as_secs_f64() / half_life;
            s.value * 0.5f64.powf(halves) > 0.01
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "192.0.2.1".parse().unwrap()
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
    fn sweeping_forgets_quiet_addresses() {
        let mut limiter = RateLimiter::new(25.0, Duration::from_secs(30));
        let now = Instant::now();
        limiter.charge(ip(), 13.0, now);
        limiter.sweep(now + Duration::from_secs(30 * 11));
        assert!(limiter.scores.is_empty());
    }
}
