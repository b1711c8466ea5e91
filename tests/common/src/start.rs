//! The server under test: started in-process on port 0, the way `main.rs`
//! starts it, or attached to one something else started.

use std::net::SocketAddr;
use std::time::Duration;

use natter::Config;

/// A running server; shut down (close 1001 to everyone) when dropped. The
/// HTTP and WebSocket helpers are its methods (see `http.rs`, `connect.rs`).
pub struct TestServer {
    /// `None` when attached: whoever started that server stops it.
    server: Option<natter::Server>,
    pub web: SocketAddr,
    pub ws: SocketAddr,
    /// Where `GET /metrics` is answered, when started with `--metrics`
    /// (`config.metrics`, port 0 is fine).
    pub metrics: Option<SocketAddr>,
}

/// Start a server with test-friendly settings (port 0, an in-memory database,
/// a short leave grace, no rate limit, and no per-address or connection caps).
pub fn start() -> TestServer {
    start_with(|_| {})
}

/// Start a server after adjusting its config.
pub fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let config = test_config(adjust);
    let server = natter::start(config).expect("the server starts on port 0");
    TestServer {
        web: server.web_addr(),
        ws: server.ws_addr(),
        metrics: server.metrics_addr(),
        server: Some(server),
    }
}

/// Start a server on the fixed ports `adjust` names, which a server that
/// just stopped may still hold for a moment (its listeners close as its
/// threads end): tried again for up to the deadline.
pub fn restart_with(adjust: impl Fn(&mut Config)) -> TestServer {
    let deadline = std::time::Instant::now() + crate::DEADLINE;
    loop {
        match natter::start(test_config(&adjust)) {
            Ok(server) => {
                return TestServer {
                    web: server.web_addr(),
                    ws: server.ws_addr(),
                    metrics: server.metrics_addr(),
                    server: Some(server),
                }
            }
            Err(err) if std::time::Instant::now() < deadline => {
                assert!(err.to_string().contains("in use"), "{err}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("the server did not start again: {err}"),
        }
    }
}

/// The test-friendly settings, adjusted.
fn test_config(adjust: impl FnOnce(&mut Config)) -> Config {
    // Every test client comes from 127.0.0.1, so per-address limits would make
    // unrelated tests interfere; the tests of those limits turn them back on.
    let mut config = Config {
        port: 0,
        leave_grace: Duration::from_millis(300),
        rate_limit: None,
        db: ":memory:".to_string(),
        max_per_ip: 100_000,
        max_web_per_ip: 100_000,
        max_connections: 100_000,
        ..Config::default()
    };
    adjust(&mut config);
    config
}

/// A handle on a server that something else started (say, the real binary in
/// another process, or a proxy in front of one), so the same HTTP and
/// WebSocket helpers can talk to it. Dropping it does nothing.
pub fn attach(web: SocketAddr, ws: SocketAddr) -> TestServer {
    TestServer {
        server: None,
        web,
        ws,
        metrics: None,
    }
}

impl TestServer {
    /// Graceful shutdown, as SIGTERM does it. Returns whether the hub ended
    /// cleanly (an attached server counts as clean: it is not ours to stop).
    pub fn shutdown(mut self) -> bool {
        self.server.take().map(|s| s.shutdown()).unwrap_or(true)
    }

    /// Fault injection: make the hub thread panic.
    pub fn inject_hub_failure(&self) {
        self.running().inject_hub_failure();
    }

    /// Whether the hub thread has ended within `wait` (what `run` watches).
    pub fn hub_stopped_within(&self, wait: Duration) -> bool {
        matches!(
            self.running().hub_done().recv_timeout(wait),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }

    /// The page's own origin, which a browser sends with the handshake.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.web.port())
    }

    fn running(&self) -> &natter::Server {
        self.server
            .as_ref()
            .expect("only a server started in-process has a hub to reach")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}
