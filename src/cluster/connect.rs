//! Reaching Redis: one blocking connection per thread that needs one, with
//! time-outs on every read and write, and a new connection after any error.
//!
//! A connection that broke (a time-out, Redis restarted) may have left a
//! reply half read, so it is never used again: each thread holds a
//! [`Redis`], which drops a broken connection and opens a new one on the
//! next call, waiting longer between attempts while Redis stays away
//! ([`REDIS_MAX_BACKOFF`]). A refusal from Redis (an error reply) leaves the
//! connection as good as it was.

use std::time::{Duration, Instant};

use super::resp::{Cmd, Conn, Error, Url};
use crate::config::{REDIS_CONNECT_TIMEOUT, REDIS_MAX_BACKOFF, REDIS_TIMEOUT};

/// One thread's way to Redis.
pub struct Redis {
    url: Url,
    con: Option<Conn>,
    /// The server's `run_id` when this connection opened: a new one means
    /// Redis restarted (or a replica took over) and may have lost writes.
    run_id: String,
    /// When the next attempt may be made, and the wait after it.
    retry_at: Instant,
    backoff: Duration,
    /// How long a command may block (longer for `XREAD BLOCK`).
    read_timeout: Duration,
}

impl Redis {
    /// Check `url` (`redis://host:port[/db]`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Redis, String> {
        Ok(Redis {
            url: Url::parse(url)?,
            con: None,
            run_id: String::new(),
            retry_at: Instant::now(),
            backoff: Duration::ZERO,
            read_timeout: REDIS_TIMEOUT,
        })
    }

    /// Commands may block this long (a blocking read adds its block time).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Redis {
        self.read_timeout = timeout;
        self
    }

    /// The connection, opened now if there is none. Fails at once, without
    /// trying, while the back-off after a failure lasts.
    fn get(&mut self) -> Result<&mut Conn, String> {
        if self.con.is_none() {
            let now = Instant::now();
            if now < self.retry_at {
                return Err("Redis is unreachable (trying again shortly)".into());
            }
            match self.open() {
                Ok((con, run_id)) => {
                    self.con = Some(con);
                    self.run_id = run_id;
                    self.backoff = Duration::ZERO;
                }
                Err(e) => {
                    self.backoff = (self.backoff * 2)
                        .max(Duration::from_millis(100))
                        .min(REDIS_MAX_BACKOFF);
                    self.retry_at = now + self.backoff;
                    return Err(format!("cannot reach Redis at {}: {e}", self.url.address));
                }
            }
        }
        Ok(self.con.as_mut().expect("opened just above"))
    }

    fn open(&self) -> Result<(Conn, String), Error> {
        let mut con = Conn::connect(&self.url.address, REDIS_CONNECT_TIMEOUT)?;
        con.set_timeouts(self.read_timeout, REDIS_TIMEOUT)?;
        if let Some(password) = &self.url.password {
            con.query(&Cmd::new("AUTH").arg(password))?;
        }
        if self.url.db != 0 {
            con.query(&Cmd::new("SELECT").arg(self.url.db))?;
        }
        let info = con.query(&Cmd::new("INFO").arg("server"))?;
        let run_id = info
            .text()
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok((con, run_id))
    }

    /// Run `f` on the connection; an error comes back as a line for the
    /// log, and a broken connection is dropped (the next call opens one).
    pub fn run<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, Error>) -> Result<T, String> {
        let con = self.get()?;
        f(con).map_err(|e| {
            if let Error::Io(_) = e {
                self.con = None;
            }
            e.to_string()
        })
    }

    /// One command.
    pub fn query(&mut self, cmd: Cmd) -> Result<super::resp::Value, String> {
        self.run(|con| con.query(&cmd))
    }

    /// The `run_id` of the Redis this connection reached (empty before the
    /// first connection).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.con.is_some()
    }
}
