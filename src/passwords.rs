//! Passwords of claimed names: hashed with argon2id, and checked, never on
//! the hub. A hash takes about 60 ms of one core and 19 MiB, so they take
//! turns: at most `max_concurrent_hashes()` at once, each waiting up to
//! `HASH_WAIT` for its turn, after which the web thread answers 503. A login
//! flood then costs one core at most, and the chat goes on.
//!
//! Only a web thread calls these; the hub only ever sees the PHC string (the
//! salted hash with its parameters, `$argon2id$v=19$m=19456,t=2,p=1$…`),
//! never a password. Passwords are never logged.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};

use crate::config::{PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS};

/// Every hasher was busy for the whole wait: try again in a moment.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// The turns: how many hashes may run now, and how many wait.
pub struct Passwords {
    turns: Mutex<Turns>,
    freed: Condvar,
    wait: Duration,
}

struct Turns {
    /// Hashes that may start now.
    free: usize,
    /// Callers waiting for a turn, and how many may.
    waiting: usize,
    max_waiting: usize,
}

impl Passwords {
    /// `at_once` hashes may run together; up to `max_waiting` callers wait
    /// for a turn, each up to `wait`, and more are busy at once. (Each
    /// caller is a page worker: a flood of logins must leave some free to
    /// serve pages.)
    pub fn new(at_once: usize, max_waiting: usize, wait: Duration) -> Passwords {
        Passwords {
            turns: Mutex::new(Turns {
                free: at_once.max(1),
                waiting: 0,
                max_waiting,
            }),
            freed: Condvar::new(),
            wait,
        }
    }

    /// A new password's PHC string (argon2id, the crate's defaults, which are
    /// OWASP's minimum: 19 MiB, 2 passes, 1 lane; a fresh random salt).
    pub fn hash(&self, password: &str) -> Result<String, Busy> {
        let _turn = self.turn()?;
        let phc = Argon2::default()
            .hash_password(password.as_bytes())
            .expect("argon2 with its default parameters and a fresh salt cannot fail");
        Ok(phc.to_string())
    }

    /// Whether `password` is the one `phc` was made from (with the parameters
    /// stored in it). A PHC string that does not parse matches nothing.
    pub fn verify(&self, phc: &str, password: &str) -> Result<bool, Busy> {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return Ok(false);
        };
        let _turn = self.turn()?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }

    /// Wait for a turn; it is given back when the guard drops.
    fn turn(&self) -> Result<Turn<'_>, Busy> {
        let deadline = Instant::now() + self.wait;
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if turns.free == 0 && turns.waiting >= turns.max_waiting {
            return Err(Busy);
        }
        turns.waiting += 1;
        while turns.free == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                turns.waiting -= 1;
                return Err(Busy);
            }
            turns = self
                .freed
                .wait_timeout(turns, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        turns.waiting -= 1;
        turns.free -= 1;
        Ok(Turn(self))
    }
}

/// A running hash's turn.
struct Turn<'a>(&'a Passwords);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut turns = self.0.turns.lock().unwrap_or_else(|p| p.into_inner());
        turns.free += 1;
        self.0.freed.notify_one();
    }
}

/// Why a new password cannot be used, in words, or `None`.
pub fn weak(password: &str) -> Option<String> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Some(format!(
            "A password needs at least {PASSWORD_MIN_CHARS} characters."
        ));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Some(format!(
            "A password may be at most {PASSWORD_MAX_BYTES} bytes."
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_checks_against_its_own_hash_only() {
        let passwords = Passwords::new(1, 1, Duration::from_secs(5));
        let phc = passwords.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(passwords.verify(&phc, "correct horse"), Ok(true));
        assert_eq!(passwords.verify(&phc, "correct horsE"), Ok(false));
        assert_eq!(passwords.verify("not a hash", "correct horse"), Ok(false));
        assert_ne!(
            passwords.hash("correct horse").unwrap(),
            phc,
            "a fresh salt each time"
        );
    }

    #[test]
    fn hashes_take_turns_and_a_long_wait_is_busy() {
        let passwords = Passwords::new(1, 1, Duration::from_millis(10));
        let turn = passwords.turn().unwrap();
        assert_eq!(passwords.hash("whatever you like").err(), Some(Busy));
        drop(turn);
        assert!(passwords.hash("whatever you like").is_ok());
        // With nobody allowed to wait, a second caller is busy at once.
        let at_once = Passwords::new(1, 0, Duration::from_secs(60));
        let _turn = at_once.turn().unwrap();
        let started = Instant::now();
        assert_eq!(at_once.hash("whatever you like").err(), Some(Busy));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "it did not wait"
        );
    }

    #[test]
    fn weak_passwords_are_named() {
        assert!(weak("seven77").unwrap().contains("at least 8"));
        assert_eq!(weak("eight888"), None);
        assert_eq!(weak("ü".repeat(8).as_str()), None, "characters, not bytes");
        assert!(weak(&"x".repeat(129)).unwrap().contains("128 bytes"));
    }
}
