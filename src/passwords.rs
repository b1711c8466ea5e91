//! Passwords of claimed names: hashed with argon2id, and checked, never on
//! the hub. A hash takes a few tens of milliseconds of one core and 19 MiB,
//! so they run on hasher threads of their own, `max_concurrent_hashes()` of
//! them, at the lowest scheduling priority (`HASH_NICE`): when a login flood
//! keeps them busy, the hub and the readers still get the cores first. A web
//! thread hands its hash over and waits up to `HASH_WAIT`; when the hashers
//! and their short queue (`MAX_HASH_WAITERS`) are full, it is busy at once,
//! and the web thread answers 503. So a flood costs at most those cores, a
//! little memory, and no page worker stays stuck for long.
//!
//! Only a web thread calls these; the hub only ever sees the PHC string (the
//! salted hash with its parameters, `$argon2id$v=19$m=19456,t=2,p=1$…`),
//! never a password. Passwords are never logged.

use std::thread;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use crossbeam_channel::{Receiver, Sender};

use crate::config::{HASH_NICE, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS};

/// The hashers and their queue were full, or the answer took too long: try
/// again in a moment.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// What a hasher thread is asked to do; the answer goes back on `reply`,
/// unless the asker stopped waiting at `deadline`.
enum Job {
    Hash {
        password: String,
        reply: Sender<String>,
        deadline: Instant,
    },
    Verify {
        phc: String,
        password: String,
        reply: Sender<bool>,
        deadline: Instant,
    },
}

/// The way to the hasher threads.
pub struct Passwords {
    jobs: Sender<Job>,
    /// The queue's other end, held so it stays open even when no hasher
    /// thread could start (then hashes wait their time out, as busy).
    _queue: Receiver<Job>,
    wait: Duration,
}

impl Passwords {
    /// `at_once` hasher threads; up to `max_waiting` hashes queue for them,
    /// each asker waiting up to `wait`, and more are busy at once.
    pub fn new(at_once: usize, max_waiting: usize, wait: Duration) -> Passwords {
        let (jobs, todo) = crossbeam_channel::bounded(max_waiting);
        for i in 0..at_once {
            let todo = todo.clone();
            // Without a thread, every hash is busy: logins to claimed names
            // get 503, and everything else goes on.
            let _ = thread::Builder::new()
                .name(format!("hasher-{i}"))
                .spawn(move || hasher(todo));
        }
        Passwords {
            jobs,
            _queue: todo,
            wait,
        }
    }

    /// A new password's PHC string (see [`hash_now`]).
    pub fn hash(&self, password: &str) -> Result<String, Busy> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + self.wait;
        let password = password.to_string();
        self.ask(
            Job::Hash {
                password,
                reply,
                deadline,
            },
            answer,
            deadline,
        )
    }

    /// Whether `password` is the one `phc` was made from (see [`verify_now`]).
    pub fn verify(&self, phc: &str, password: &str) -> Result<bool, Busy> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + self.wait;
        let (phc, password) = (phc.to_string(), password.to_string());
        let job = Job::Verify {
            phc,
            password,
            reply,
            deadline,
        };
        self.ask(job, answer, deadline)
    }

    fn ask<T>(&self, job: Job, answer: Receiver<T>, deadline: Instant) -> Result<T, Busy> {
        self.jobs.try_send(job).map_err(|_| Busy)?;
        let left = deadline.saturating_duration_since(Instant::now());
        answer.recv_timeout(left).map_err(|_| Busy)
    }
}

/// A hasher thread: the lowest priority there is, then one job at a time
/// (a job whose asker gave up is skipped).
fn hasher(todo: Receiver<Job>) {
    let _ = rustix::process::setpriority_process(None, HASH_NICE);
    for job in todo {
        match job {
            Job::Hash {
                password,
                reply,
                deadline,
            } if Instant::now() < deadline => {
                let _ = reply.try_send(hash_now(&password));
            }
            Job::Verify {
                phc,
                password,
                reply,
                deadline,
            } if Instant::now() < deadline => {
                let _ = reply.try_send(verify_now(&phc, &password));
            }
            _ => {}
        }
    }
}

/// A new password's PHC string, on this thread (argon2id with the crate's
/// defaults, which are OWASP's minimum: 19 MiB, 2 passes, 1 lane; a fresh
/// random salt). Web threads go through [`Passwords`]; `natter account reset`
/// calls this.
pub fn hash_now(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with its default parameters and a fresh salt cannot fail")
        .to_string()
}

/// Whether `password` is the one `phc` was made from, with the parameters
/// stored in it. A PHC string that does not parse matches nothing.
pub fn verify_now(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
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
        let passwords = Passwords::new(1, 1, Duration::from_secs(30));
        let phc = passwords.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(passwords.verify(&phc, "correct horse"), Ok(true));
        assert_eq!(passwords.verify(&phc, "correct horsE"), Ok(false));
        assert_eq!(passwords.verify("not a hash", "correct horse"), Ok(false));
        assert_ne!(hash_now("correct horse"), phc, "a fresh salt each time");
    }

    #[test]
    fn past_the_hashers_and_their_queue_it_is_busy_at_once() {
        // No hasher at all, a queue of one: the first waits its time out,
        // and stays queued; the next finds the queue full and is busy at once.
        let passwords = Passwords::new(0, 1, Duration::from_millis(200));
        let started = Instant::now();
        assert_eq!(passwords.hash("whatever you like"), Err(Busy));
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "it waited its turn"
        );
        let started = Instant::now();
        assert_eq!(
            passwords.verify("$argon2id$x", "whatever you like"),
            Err(Busy)
        );
        assert!(
            started.elapsed() < Duration::from_millis(200),
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
