//! Every knob and every limit natter has, in one place: this directory.
//!
//! A limit is a named constant with a doc comment that says what it bounds, what
//! happens when it is hit, and where the number comes from. The ones an operator
//! may want to change are also fields of [`Config`], whose defaults are these
//! constants; `main.rs` maps command-line flags onto those fields.
//!
//! The constants are grouped by what they protect, one file each, and all of
//! them are re-exported here, so you always write `config::MAX_TEXT_CHARS`
//! whichever file it is in:
//!
//! - [`accounts`]: claimed names: passwords, hashing, failed logins.
//! - [`bots`]: bot tokens, the webhook, the HTTP API and its long-poll.
//! - [`cluster`]: several nodes sharing one Redis (`--redis`).
//! - [`chat`]: names, rooms and messages; history, presence and typing.
//! - [`connections`]: the WebSocket port's threads, queues, time-outs and caps.
//! - [`web`]: the web port's workers, time-outs and caps, and exports.
//! - [`rates`]: rate-limit scores and costs, and how many sessions live.
//! - [`rooms`]: owned rooms: claims, roles, invites, bans, mutes, the directory.
//! - [`storage`]: the SQLite file, its log and its checkpoints.
//! - [`media`]: uploads: sizes, quotas, the janitor.

use std::time::Duration;

pub mod accounts;
pub mod bots;
pub mod chat;
pub mod cluster;
pub mod connections;
pub mod media;
pub mod rates;
pub mod rooms;
pub mod storage;
pub mod web;

pub use accounts::*;
pub use bots::*;
pub use chat::*;
pub use cluster::*;
pub use connections::*;
pub use media::*;
pub use rates::*;
pub use rooms::*;
pub use storage::*;
pub use web::*;

/// Everything `run` needs to start a server. `Config::default()` is what the
/// binary runs with no flags, except that tests use port 0.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address both listeners bind to (`--host`).
    pub host: String,
    /// Web port: pages, login, assets (`--port`). 0 picks a free port.
    pub port: u16,
    /// WebSocket port (`--ws-port`). `None` means web port + 1 (or a free port
    /// when the web port is 0).
    pub ws_port: Option<u16>,
    /// The URL the page connects its WebSocket to (`--ws-url`), e.g.
    /// `wss://chat.example.com/ws` behind a proxy. `None`: the page's own host
    /// on the WebSocket port.
    pub ws_url: Option<String>,
    /// The public origin of the pages (`--public-url`), e.g.
    /// `https://chat.example.com`. When set, it is the only Origin a WebSocket
    /// handshake may carry. `None`: the page's own origin (same host, web port).
    pub public_url: Option<String>,
    /// More names this server answers to (`--allowed-host NAME`, repeatable),
    /// besides its IP addresses, `localhost`, this machine's hostname and the
    /// hosts of the two URLs above: see `origin::host_allowed`. A LAN name
    /// such as `chat.lan` from the router's DNS needs one.
    pub allowed_hosts: Vec<String>,
    /// Messages each room keeps in memory (`--history`).
    pub history: usize,
    /// See [`LEAVE_GRACE`].
    pub leave_grace: Duration,
    /// See [`RESTART_GRACE`].
    pub restart_grace: Duration,
    /// See [`EDIT_WINDOW`] (`--edit-window MIN`). `None`: no window (`off`).
    pub edit_window: Option<Duration>,
    /// See [`PING_INTERVAL`].
    pub ping_interval: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`SESSION_IDLE_TTL`].
    pub session_ttl: Duration,
    /// See [`MAX_OUTBOX_BYTES`].
    pub max_outbox_bytes: usize,
    /// See [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`RATE_THRESHOLD`]. `None` turns rate limiting off (`--rate-limit off`).
    pub rate_limit: Option<f64>,
    /// The per-address budget (`--address-rate-limit`); `None` means
    /// [`ADDRESS_RATE_FACTOR`] times `rate_limit`.
    pub address_rate_limit: Option<f64>,
    /// Each bot token's own budget (`--bot-rate-limit`, see
    /// [`DEFAULT_BOT_RATE_LIMIT`]); with `--rate-limit off` bots have none.
    pub bot_rate_limit: f64,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`MAX_CONNECTIONS_PER_IP`].
    pub max_per_ip: usize,
    /// See [`MAX_CONNECTIONS_PER_SESSION`].
    pub max_per_session: usize,
    /// See [`MAX_SESSIONS_PER_IP`].
    pub max_sessions_per_ip: usize,
    /// See [`MAX_SESSIONS`].
    pub max_sessions: usize,
    /// See [`MAX_WEB_CONNECTIONS_PER_IP`] (`--max-web-per-ip`).
    pub max_web_per_ip: usize,
    /// See [`MAX_EXPORTS`] (`--max-exports`).
    pub max_exports: usize,
    /// See [`WEB_HEAD_TIMEOUT`]. No flag: the tests shorten it.
    pub web_head_timeout: Duration,
    /// See [`WEB_WRITE_TIMEOUT`]. No flag: the tests shorten it.
    pub web_write_timeout: Duration,
    /// Take the client address from the last `X-Forwarded-For` entry, as set by a
    /// reverse proxy (`--trust-proxy`). Off by default: anyone can send that header.
    pub trust_proxy: bool,
    /// `--redis URL` and its companions: cluster mode (see `cluster/`).
    /// `None`: one node, everything in SQLite.
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// `--metrics ADDR`: serve Prometheus text at `http://ADDR/metrics` on a
    /// listener of its own (off by default; see `metrics.rs`).
    pub metrics: Option<std::net::SocketAddr>,
    /// Hold every commit on the writer thread back this long: a slow disk,
    /// for tests. No flag; zero unless a test sets it.
    pub commit_delay: Duration,
    /// See [`WRITE_STALL_TIMEOUT`].
    pub write_stall_timeout: Duration,
    /// The SQLite file for history and sessions (`--db`); `:memory:` for none.
    pub db: String,
    /// Delete messages older than this (`--retention DAYS`); `None` keeps all.
    pub retention: Option<Duration>,
    /// Largest the database may grow, in bytes (`--db-max-mb`); past it new
    /// messages are refused with `storage_failed`. For small SD cards.
    pub db_max_bytes: Option<u64>,
    /// See [`ROOM_CLAIM_LAPSE`] (`--room-claim-days`).
    pub room_claim_lapse: Duration,
    /// Which rooms the directory lists (`--directory off|owned|all`).
    pub directory: Directory,
    /// Uploads (`--uploads on|off`, `--max-upload-mb` and the rest): see
    /// [`MediaConfig`].
    pub media: MediaConfig,
    /// Echo mode (`natter echo`): every WebSocket message comes straight back,
    /// with no login and no rooms. It exists to run the Autobahn conformance
    /// suite against natter's own WebSocket path: the same accept loop, reader
    /// threads, hub writes and outboxes as the chat.
    pub echo: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_string(),
            port: 8080,
            ws_port: None,
            ws_url: None,
            public_url: None,
            allowed_hosts: Vec::new(),
            history: DEFAULT_HISTORY,
            leave_grace: LEAVE_GRACE,
            restart_grace: RESTART_GRACE,
            edit_window: Some(EDIT_WINDOW),
            ping_interval: PING_INTERVAL,
            idle_timeout: IDLE_TIMEOUT,
            session_ttl: SESSION_IDLE_TTL,
            max_outbox_bytes: MAX_OUTBOX_BYTES,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            rate_limit: Some(RATE_THRESHOLD),
            address_rate_limit: None,
            cluster: None,
            bot_rate_limit: DEFAULT_BOT_RATE_LIMIT,
            max_connections: MAX_CONNECTIONS,
            max_per_ip: MAX_CONNECTIONS_PER_IP,
            max_per_session: MAX_CONNECTIONS_PER_SESSION,
            max_sessions_per_ip: MAX_SESSIONS_PER_IP,
            max_sessions: MAX_SESSIONS,
            max_web_per_ip: MAX_WEB_CONNECTIONS_PER_IP,
            max_exports: MAX_EXPORTS,
            web_head_timeout: WEB_HEAD_TIMEOUT,
            web_write_timeout: WEB_WRITE_TIMEOUT,
            trust_proxy: false,
            metrics: None,
            commit_delay: Duration::ZERO,
            write_stall_timeout: WRITE_STALL_TIMEOUT,
            room_claim_lapse: ROOM_CLAIM_LAPSE,
            directory: Directory::Owned,
            media: MediaConfig::default(),
            echo: false,
            db: DEFAULT_DB.to_string(),
            retention: None,
            db_max_bytes: None,
        }
    }
}

impl Config {
    /// The per-address rate budget, if rate limiting is on.
    pub fn address_budget(&self) -> Option<f64> {
        let session = self.rate_limit?;
        Some(
            self.address_rate_limit
                .unwrap_or(session * ADDRESS_RATE_FACTOR),
        )
    }

    /// Unfinished handshakes one address may have: see
    /// [`MAX_PENDING_HANDSHAKES_PER_IP`].
    pub fn max_pending_per_ip(&self) -> usize {
        (self.max_per_ip / 4).max(MAX_PENDING_HANDSHAKES_PER_IP)
    }

    /// The WebSocket port to bind: explicit, or web port + 1, or 0 for tests.
    pub fn ws_port(&self) -> u16 {
        match self.ws_port {
            Some(port) => port,
            None if self.port == 0 => 0,
            None => self.port.saturating_add(1),
        }
    }
}

/// What the operator may change about uploads (see `config/media.rs`).
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// `--uploads on|off`: off hides the page's attach and microphone
    /// buttons and answers every upload 403.
    pub enabled: bool,
    /// Where files are kept (`--media-dir`); `None`: beside the database,
    /// `<db>-media/` (with `--db :memory:`, a temporary folder deleted at exit).
    pub dir: Option<std::path::PathBuf>,
    /// The largest upload in bytes (`--max-upload-mb`).
    pub max_upload_bytes: u64,
    /// All media together, in bytes (`--media-max-mb`).
    pub max_total_bytes: u64,
    /// One person's stored media, in bytes (`--media-per-person-mb`).
    pub per_person_bytes: u64,
    /// One person's uploads in a day, in bytes (`--media-daily-mb`).
    pub daily_bytes: u64,
    /// Uploads received at once (`--uploads-in-flight`).
    pub in_flight: usize,
    /// See [`ORPHAN_UPLOAD_AGE`] (`--orphan-upload-secs`).
    pub orphan_age: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        MediaConfig {
            enabled: true,
            dir: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_MB * MIB,
            max_total_bytes: DEFAULT_MEDIA_MAX_MB * MIB,
            per_person_bytes: DEFAULT_MEDIA_PER_PERSON_MB * MIB,
            daily_bytes: DEFAULT_MEDIA_DAILY_MB * MIB,
            in_flight: DEFAULT_UPLOADS_IN_FLIGHT,
            orphan_age: ORPHAN_UPLOAD_AGE,
        }
    }
}
