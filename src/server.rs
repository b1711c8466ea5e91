//! Start, run and stop a server: the threads, the channels between them, and
//! the order they stop in.
//!
//! [`start`] binds both listeners and spawns every thread, and returns a
//! [`Server`] handle: that is how the tests run the real thing on port 0.
//! [`run`] is `start` plus what a whole process needs (room in its open-file
//! limit, signal handling), which is all `main.rs` calls.
//!
//! # Every thread, and how it stops
//!
//! The idiom is "close what it waits on". The checkpoint thread is the plain
//! case; every other thread is listed with why it differs:
//!
//! - **checkpoint**: waits on a channel; its guard (`Checkpointer`) drops the
//!   sender and joins it.
//! - **store-writer** (a database file only): commits the hub's batches.
//!   The same idiom: the hub owns its `Writer`, whose drop closes the job
//!   channel and joins it, after the hub has stored what was left.
//! - **hub**: waits on `to_hub`, but that channel has many senders (every
//!   reader, every web thread) that outlive a shutdown, so it gets one more
//!   event, `Control::Shutdown`: it must say goodbye to every client (close
//!   1001) before it returns. It also returns if every sender is gone.
//! - **a connection's reader** (`ws-N`): blocks in `read` on its socket; the
//!   hub shuts the socket down, which wakes the read with an end of file.
//!   Before its handshake is done the hub does not know it: it ends at its
//!   handshake deadline.
//! - **ws-accept**: blocks in `accept()`, which no channel can wake: `stop` is
//!   set, then a connection to itself wakes it to see the flag.
//! - **the page workers** (`web`, which `web::serve` runs itself, and
//!   `web-1`...): block in tiny_http's `recv()`, woken by tiny_http's own
//!   `unblock()` (see `web::WebControl`).
//! - **tiny_http's own** (its accept thread, one per web connection): end
//!   when its `Server` is dropped, after the page workers.
//! - **web-body, web-export and web-media**: short-lived, never joined; each
//!   ends with its request (an upload, an export, a file sent), which the
//!   body limits and the write timeout keep short.
//! - **janitor** (`media/janitor.rs`): waits on its wake-up channel, whose
//!   one sender the hub holds; when the hub is gone, so is the janitor.
//! - **signals**: never stops; it lives as long as the process.
//! - **metrics** (with `--metrics`): answers scrapes until the process
//!   ends; it holds only counters, so nothing waits for it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{self, Config, HUB_QUEUE};
use crate::hub::{self, Control, Event, Hub};
use crate::metrics::Metrics;
use crate::{storage, web, ws, Error};

/// A running server: both listeners, the hub, and the threads that serve them.
pub struct Server {
    web_addr: SocketAddr,
    ws_addr: SocketAddr,
    /// Where `--metrics` serves, if it does.
    metrics_addr: Option<SocketAddr>,
    /// Send `Control::Shutdown` here to start closing the chat.
    to_hub: Sender<Event>,
    /// Set, then wake `accept` with a connection, to stop the WebSocket listener.
    stop_accepting: Arc<AtomicBool>,
    /// Stops the page workers (tiny_http's `unblock`).
    web: Arc<web::WebControl>,
    web_thread: JoinHandle<()>,
    acceptor: JoinHandle<()>,
    hub: JoinHandle<()>,
    /// Closed (disconnected) when the hub thread ends, for whatever reason.
    hub_done: Receiver<()>,
    /// Dropping this stops the checkpoint thread (file databases only).
    checkpoints: Option<storage::checkpoint::Checkpointer>,
    media: Arc<crate::media::MediaStore>,
    /// In a cluster: what this node knows of it, and its lease and
    /// applier threads (stopped after the hub, in `shutdown`).
    cluster: Option<Arc<crate::cluster::Status>>,
    cluster_threads: Vec<thread::JoinHandle<()>>,
}

/// Bind both listeners and start every thread. Returns once the server is
/// accepting connections.
pub fn start(config: Config) -> Result<Server, Error> {
    // The ports first: opening storage already writes to the database (it
    // deletes sessions that expired, and uses up the rooms sessions were in
    // at the last stop), so a start that then could not listen would have
    // changed it for nothing. A port bound here is simply closed again if
    // the database cannot be used.
    let listen = |port: u16| {
        TcpListener::bind((config.host.as_str(), port))
            .map_err(|e| format!("cannot listen on {}:{port}: {e}", config.host))
    };
    let web_listener = listen(config.port)?;
    let web_addr = web_listener.local_addr()?;
    let ws_listener = listen(config.ws_port())?;
    let ws_addr = ws_listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    // The hub's input. Bounded: when the hub falls behind, readers block on
    // `send`, stop reading their sockets, and TCP slows the senders down.
    let (to_hub, events) = crossbeam_channel::bounded(HUB_QUEUE);
    // Cluster mode: join it first (this node's number goes into every
    // connection id, so the listeners must know it).
    let mut config = config;
    let cluster = match &mut config.cluster {
        None => None,
        Some(c) => {
            if config.db == ":memory:" {
                return Err("cluster mode (--redis) needs a database file (--db PATH): \
                            each node keeps a copy of the cluster's history, to lead with"
                    .into());
            }
            Some(Arc::new(crate::cluster::join(
                c,
                &config.host,
                web_addr.port(),
            )?))
        }
    };
    let (hub_state, checkpoints, db_health) =
        open_storage(&config, metrics.clone(), cluster.clone(), &to_hub)?;
    let (mut hub_state, checkpoints, db_health) = (hub_state, checkpoints, db_health);
    let cluster_threads = match (&cluster, &config.cluster) {
        (Some(status), Some(c)) => spawn_cluster(c, status, &config.db, &to_hub)?,
        _ => Vec::new(),
    };
    // Uploads: the folder, and the janitor that deletes unused files in it.
    let media = Arc::new(
        crate::media::MediaStore::open(&config)
            .map_err(|e| format!("cannot use the media folder: {e}"))?,
    );
    metrics.watch_files(&config.db, media.clone());
    let metrics_addr = match config.metrics {
        Some(addr) => Some(crate::metrics::serve(addr, metrics.clone())?),
        None => None,
    };
    hub_state.set_janitor(crate::media::janitor::spawn(
        media.clone(),
        to_hub.clone(),
        config.media.orphan_age,
    )?);
    let (hub_alive, hub_done) = crossbeam_channel::bounded::<()>(0);
    let hub = thread::Builder::new().name("hub".into()).spawn(move || {
        // Dropped when this thread ends, normally or by panic: that closes
        // `hub_done`, which is how `run` notices a dead hub.
        let _alive = hub_alive;
        hub::hub_loop(hub_state, events);
    })?;

    let stop_accepting = Arc::new(AtomicBool::new(false));
    // One set of hasher threads for every password: logins and claims on
    // the web threads, room passwords on the readers (see `passwords.rs`).
    let passwords = Arc::new(crate::passwords::Passwords::new(
        crate::config::max_concurrent_hashes(),
        crate::config::MAX_HASH_WAITERS,
        crate::config::HASH_WAIT,
    ));
    let ws_context = Arc::new(ws::WsContext::new(
        to_hub.clone(),
        config.clone(),
        web_addr.port(),
        passwords.clone(),
    ));
    let stop = stop_accepting.clone();
    let acceptor = thread::Builder::new()
        .name("ws-accept".into())
        .spawn(move || ws::accept_loop(ws_listener, ws_context, stop))?;

    let web = Arc::new(web::WebControl::default());
    let web_context = Arc::new(
        web::WebContext::new(
            to_hub.clone(),
            config,
            ws_addr.port(),
            db_health,
            passwords,
            media.clone(),
            metrics,
        )
        .with_cluster(cluster.clone()),
    );
    let control = web.clone();
    let web_thread = thread::Builder::new()
        .name("web".into())
        .spawn(move || web::serve(web_listener, web_context, control))?;

    Ok(Server {
        web_addr,
        ws_addr,
        metrics_addr,
        to_hub,
        stop_accepting,
        web,
        web_thread,
        acceptor,
        hub,
        hub_done,
        checkpoints,
        media,
        cluster,
        cluster_threads,
    })
}

/// The cluster's threads besides the bus (which the hub holds): the lease,
/// which tells the hub when this node starts or stops leading, and the
/// applier, which keeps this node's database a copy of the leader's.
fn spawn_cluster(
    config: &crate::cluster::ClusterConfig,
    status: &Arc<crate::cluster::Status>,
    db: &str,
    to_hub: &crossbeam_channel::Sender<Event>,
) -> Result<Vec<thread::JoinHandle<()>>, Error> {
    use crate::cluster::{connect::Redis, lease, log};
    let applier = log::spawn_applier(Redis::new(&config.redis)?, db.to_string(), status.clone())?;
    let to_hub = to_hub.clone();
    let on_role = Box::new(move |role| {
        let _ = to_hub.send(Event::Role(role));
    });
    let lease = lease::spawn(Redis::new(&config.redis)?, status.clone(), on_role)?;
    Ok(vec![applier, lease])
}

/// The database, the hub's state loaded from it, and (for a file) the
/// checkpoint thread with the health watch it shares with `/healthz`.
type Opened = (
    Hub,
    Option<storage::checkpoint::Checkpointer>,
    Arc<storage::FileHealth>,
);

fn open_storage(
    config: &Config,
    metrics: Arc<Metrics>,
    cluster: Option<Arc<crate::cluster::Status>>,
    to_hub: &crossbeam_channel::Sender<Event>,
) -> Result<Opened, Error> {
    let open = || {
        storage::Sqlite::open(&config.db, config.db_max_bytes).map_err(|e| format!("storage: {e}"))
    };
    let store = open()?;
    // The checkpoint thread watches the same `-shm` file (see `ShmWatch`).
    let shm = store.shm_watch();
    // A database file gets a second connection, for the writer thread: the
    // hub only reads through its own (see `storage/writer.rs`).
    // In a cluster the writer's commits go through the shared log too
    // (`cluster/log.rs`), and the hub's messages to other nodes through the
    // bus (`cluster/relay.rs`).
    let mut bus = None;
    let writes = match shm {
        None => storage::Writes::Inline,
        Some(_) => {
            let mut writer = open()?;
            if let (Some(status), Some(c)) = (&cluster, &config.cluster) {
                let redis = crate::cluster::connect::Redis::new(&c.redis)?;
                writer.set_journal(Box::new(crate::cluster::log::RedisJournal::new(
                    redis,
                    status.clone(),
                )));
                let (relay, _threads) =
                    crate::cluster::relay::spawn(&c.redis, status.clone(), to_hub.clone())?;
                bus = Some((status.clone(), relay));
            }
            storage::Writes::Thread(storage::Writer::spawn(
                Box::new(writer),
                config.commit_delay,
            )?)
        }
    };
    let hub = Hub::new(
        config.clone(),
        Box::new(store),
        writes,
        metrics,
        bus,
        Instant::now(),
    )
    .map_err(|e| format!("storage: {e}"))?;
    let db_health = Arc::new(storage::FileHealth::default());
    // Only a database file has a `-shm` file, and a log to checkpoint.
    let checkpoints = match shm {
        None => None,
        Some(shm) => Some(storage::checkpoint::spawn(
            &config.db,
            config::CHECKPOINT_INTERVAL,
            storage::wal_limit(config.db_max_bytes),
            db_health.clone(),
            shm,
        )?),
    };
    Ok((hub, checkpoints, db_health))
}

impl Server {
    /// Where the pages are served.
    pub fn web_addr(&self) -> SocketAddr {
        self.web_addr
    }

    /// Where the WebSocket listener is.
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// Where `GET /metrics` is answered, with `--metrics`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Make the hub thread panic, as a bug would (fault injection for tests).
    #[doc(hidden)]
    pub fn inject_hub_failure(&self) {
        let _ = self.to_hub.send(Event::Control(Control::InjectFailure));
    }

    /// A channel that disconnects when the hub thread ends.
    pub fn hub_done(&self) -> &Receiver<()> {
        &self.hub_done
    }

    /// Shut down in order: stop accepting, tell every client (close 1001) after
    /// what is already queued for it, wait for the hub, then stop the pages.
    /// Returns whether the hub ended cleanly (it did not panic).
    pub fn shutdown(self) -> bool {
        self.stop_accepting.store(true, Ordering::SeqCst);
        // Wake the blocking accept() by connecting to ourselves.
        let _ = TcpStream::connect(self.ws_addr);
        let _ = self.acceptor.join();
        let _ = self.to_hub.send(Event::Control(Control::Shutdown));
        let hub_ok = self.hub.join().is_ok();
        self.web.stop();
        let _ = self.web_thread.join();
        // Stops the checkpoint thread and waits for its last checkpoint.
        drop(self.checkpoints);
        self.media.close();
        // The cluster's threads last: the lease is given up, so another
        // node leads at once rather than after it lapses.
        if let Some(status) = &self.cluster {
            status.stopping.store(true, Ordering::SeqCst);
        }
        for thread in self.cluster_threads {
            let _ = thread.join();
        }
        hub_ok
    }
}

/// Make room for `max_connections`: each chat connection holds one file
/// descriptor, and many systems start programs with a soft limit of 1024, which
/// would refuse connections long before the cap. Raising the soft limit up to
/// the hard one needs no privilege; past the hard one, only the operator can
/// help, so say how.
fn raise_fd_limit(max_connections: usize) {
    let needed = (max_connections + config::FD_HEADROOM) as u64;
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit < needed => eprintln!(
            "natter: warning: the open-file limit is {limit}, and --max-connections \
             {max_connections} needs about {needed}; past about {} chat connections new \
             ones will fail. Raise it with `ulimit -n {needed}` (or LimitNOFILE={needed} in \
             a systemd unit).",
            limit.saturating_sub(config::FD_HEADROOM as u64)
        ),
        Ok(_) => {}
        Err(err) => eprintln!("natter: warning: cannot raise the open-file limit: {err}"),
    }
}

/// Run until SIGINT or SIGTERM, then shut down gracefully; a second signal
/// exits at once. Returns an error if the hub thread died, so that the process
/// exits non-zero rather than living on serving nothing.
pub fn run(config: Config) -> Result<(), Error> {
    raise_fd_limit(config.max_connections);
    // A write past the file-size limit (`ulimit -f`, `LimitFSIZE=`) kills a
    // process with SIGXFSZ by default, chat and all, without a word. With any
    // handler installed the write fails with EFBIG instead: the hub then
    // answers `storage_failed` and says why in the log.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )?;
    let config_db = config.db.clone();
    let server = start(config)?;
    greet(&server, &config_db);

    let on_signal = watch_signals()?;

    crossbeam_channel::select! {
        recv(on_signal) -> _ => {
            println!("natter: shutting down");
            if server.shutdown() {
                Ok(())
            } else {
                Err("the hub failed while shutting down".into())
            }
        }
        recv(server.hub_done()) -> _ => {
            Err("the hub thread stopped unexpectedly; every client was closed with 1011".into())
        }
    }
}

/// Say where the chat is, and where its history goes.
fn greet(server: &Server, db: &str) {
    let web = server.web_addr();
    let host = match web.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    println!("natter is running: open http://{host}:{}/", web.port());
    match db {
        ":memory:" => println!("history is kept in memory only (--db :memory:)"),
        path => println!("history is stored in {path}"),
    }
    println!(
        "(WebSocket listener on port {}; Ctrl-C to stop)",
        server.ws_addr().port()
    );
    if let Some(addr) = server.metrics_addr() {
        println!("metrics on http://{addr}/metrics");
    }
}

/// A channel that receives once on the first SIGINT or SIGTERM; a second
/// signal exits at once (someone is impatient, or shutdown is stuck).
fn watch_signals() -> Result<Receiver<()>, Error> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let (signalled, on_signal) = crossbeam_channel::bounded(1);
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut count = 0;
            for _ in signals.forever() {
                count += 1;
                if count > 1 {
                    eprintln!("natter: second signal, exiting now");
                    std::process::exit(130);
                }
                let _ = signalled.try_send(());
            }
        })?;
    Ok(on_signal)
}
