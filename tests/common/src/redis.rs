//! A real `redis-server` for the cluster tests, on a free loopback port, in a
//! directory of its own, killed when dropped. It can be stopped and started
//! again on the same port (a Redis restart), with or without its data.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, DEADLINE};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: TempDir,
    /// `appendonly yes` + `appendfsync always`: every write is on disk before
    /// Redis answers, so a restart loses nothing.
    durable: bool,
}

impl RedisServer {
    /// Redis keeping nothing on disk: a restart loses everything.
    pub fn start() -> RedisServer {
        RedisServer::start_as(false)
    }

    /// Redis with its append-only file fsynced on every write.
    pub fn start_durable() -> RedisServer {
        RedisServer::start_as(true)
    }

    fn start_as(durable: bool) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = RedisServer {
            port,
            child: None,
            dir: TempDir::new("redis"),
            durable,
        };
        redis.run();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let exe = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!(
                    "redis-server is not installed, and the cluster tests need a real one: \
                     run `make setup`, which installs it (or names the command that does)"
                )
            });
        let persistence: &[&str] = if self.durable {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = Command::new(exe)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--dir"])
            .arg(&self.dir.0)
            .args(persistence)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill it (SIGKILL: no last save) and start it again on the same port.
    pub fn restart(&mut self) {
        self.signal("CONT"); // a stopped process dies only once it runs
        self.kill();
        self.run();
    }

    /// Send a signal by name (`STOP` stalls it, `CONT` wakes it).
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([format!("-{name}"), child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill -{name} failed");
        }
    }

    /// Kill it and leave it down.
    pub fn kill(&mut self) {
        self.signal("CONT");
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again after `kill`.
    pub fn start_again(&mut self) {
        self.run();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
