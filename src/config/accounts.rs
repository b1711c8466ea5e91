//! Claimed names: passwords, how they are checked, and how often one may try.

use std::time::Duration;

/// A session of a claimed name lives this long without an open socket (a
/// temporary one lives `SESSION_IDLE_TTL`): someone who owns a name comes back.
pub const ACCOUNT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Fewest characters of a password. Below it, a claim is refused with a
/// message that says so.
pub const PASSWORD_MIN_CHARS: usize = 8;

/// Most bytes of a password (argon2 takes any length; this bounds the work
/// and the form).
pub const PASSWORD_MAX_BYTES: usize = 128;

/// Password hashes (argon2id, 19 MiB and some tens of ms of one core each)
/// that may run at once, each on a hasher thread of its own: half the cores,
/// at least one. Never on the hub, so a login flood can use neither all the
/// cores nor much memory.
pub fn max_concurrent_hashes() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}

/// How long a login or a claim waits for its turn to hash; past it, 503 with
/// `Retry-After`.
pub const HASH_WAIT: Duration = Duration::from_secs(5);

/// Hashes that may queue for a hasher; more are answered 503 at once. Each
/// waiting one holds one of the `WEB_WORKERS` page workers, so a flood of
/// logins keeps the waiting to half of them, and the others serve pages.
pub const MAX_HASH_WAITERS: usize = 1;

/// The hasher threads' niceness: the lowest priority, so that under a flood
/// of logins the hub and the readers get the cores first (`CONNECTION_NICE`
/// is what the readers run at).
pub const HASH_NICE: i32 = 19;

/// Failed password logins to one claimed name within `LOGIN_FAILURE_WINDOW`
/// before it is refused with 429 (and the wait): 20 guesses an hour, each
/// costing the guesser nothing and the server 60 ms, so no more.
pub const LOGIN_FAILURES_PER_NAME: usize = 5;

/// Failed password logins from one address (an IPv6 /64 counts as one)
/// within `LOGIN_FAILURE_WINDOW`: more than per name, since a class behind
/// one address mistypes too.
pub const LOGIN_FAILURES_PER_ADDRESS: usize = 20;

/// The window the two limits above count in.
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// One claim per address in this long (IRC services' `regdelay`): claims hash
/// a password and take a name for good.
pub const CLAIM_INTERVAL: Duration = Duration::from_secs(30);

/// Most characters of a claimed name's bio, on its member card (one line).
pub const MAX_BIO_CHARS: usize = 160;
