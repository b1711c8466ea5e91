//! Reaching Redis: one blocking connection per thread that needs one, with
//! time-outs on every read and write, and a new connection after any error.
//!
//! The `redis` crate's synchronous `Connection` never reconnects by itself:
//! after an I/O error it stays broken. So each thread here holds a
//! [`Redis`], which drops a broken connection and opens a new one on the
//! next call, waiting longer between attempts while Redis stays away
//! ([`REDIS_MAX_BACKOFF`]).

use std::time::{Duration, Instant};

use redis::{Client, Connection, RedisError};

use crate::config::{REDIS_CONNECT_TIMEOUT, REDIS_MAX_BACKOFF, REDIS_TIMEOUT};

/// One thread's way to Redis.
pub struct Redis {
    client: Client,
    con: Option<Connection>,
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
        let client = Client::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
        Ok(Redis {
            client,
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
    pub fn get(&mut self) -> Result<&mut Connection, String> {
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
                    return Err(format!("cannot reach Redis: {e}"));
                }
            }
        }
        Ok(self.con.as_mut().expect("opened just above"))
    }

    fn open(&self) -> Result<(Connection, String), RedisError> {
        let mut con = self
            .client
            .get_connection_with_timeout(REDIS_CONNECT_TIMEOUT)?;
        con.set_read_timeout(Some(self.read_timeout))?;
        con.set_write_timeout(Some(REDIS_TIMEOUT))?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut con)?;
        let run_id = info
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok((con, run_id))
    }

    /// Run `f` on the connection; an error drops it (the next call opens a
    /// new one), and comes back as a line for the log.
    pub fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let con = self.get()?;
        f(con).map_err(|e| {
            // A script's own refusal (an error reply) leaves the connection
            // good; anything else may have left it mid-reply.
            if !matches!(e.kind(), redis::ErrorKind::Server(_)) || e.is_io_error() {
                self.con = None;
            }
            e.to_string()
        })
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
