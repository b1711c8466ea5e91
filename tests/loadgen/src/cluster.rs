//! The cluster scenarios: what cluster mode (`--redis`) costs against one
//! node, under the same load.
//!
//! - `cluster-100`: a `redis-server` of our own and two natter nodes on it,
//!   each with its own database file. One of them takes the lease and leads
//!   (runs the chat for everybody); the other follows, relaying its clients'
//!   events up to the leader through Redis and their frames back down. 100
//!   clients in one room, every other one on each node (`Crowd::gather_on`),
//!   so half the senders and half the listeners are on the follower and pay
//!   the extra hops through Redis. Which node leads does not matter to the
//!   row; the note says which one did, and the CPU of each process.
//! - `cluster-100-one`: the same crowd and the same rate on one natter with a
//!   database file and no Redis, measured by the same code: the baseline the
//!   cluster row compares with. It is fanout-100's load (`FANOUT_100_*`) with
//!   fanout-100's flags, so that row should agree with this one too.
//!
//! Latency is, as everywhere, from send to receipt by every member of the
//! room, across both nodes. The `srv` column and `srv s/M` are the CPU of
//! every process that serves the load, summed: both nodes and Redis. What a
//! cluster costs is all of it, wherever it runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::Endpoints;
use crate::crowd::Plan;
use crate::scenarios::{self, Bench};
use crate::server::{CpuMeter, ServerProcess};
use crate::{Error, Row};

/// The nodes of `cluster-100`: one leader and one follower, the fewest that
/// show the relay's cost.
pub const CLUSTER_NODES: usize = 2;

/// Where `redis-server` may be installed (the Debian package's, then a
/// source build's): the same places natter's cluster tests look
/// (tests/common/src/redis.rs).
const REDIS_BINARIES: [&str; 2] = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"];

/// How long Redis may take to accept connections.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long every node may take to answer `/healthz` with 200: a node says
/// 503 until it knows a leader, and a lease is taken within a second or two
/// of start (natter's `LEASE_TTL` is 3 s, src/config/cluster.rs).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often to ask `/healthz` while waiting.
const READY_POLL: Duration = Duration::from_millis(50);

/// How long the processes are watched, idle, once ready and before any
/// client connects. A server with nothing to do should use next to no CPU;
/// what it uses anyway is in every figure after, so the row says it. Long
/// enough for every once-a-second timer of a cluster (the lease's renewal,
/// a follower's "alive") to fire twice or more, and for what a node starts
/// doing a second after it took the lease: measured only in the first
/// second, a leader that spun from then on looked idle.
const IDLE_WINDOW: Duration = Duration::from_secs(3);
/// Above this (in % of one core, every process together) the row says the
/// server was busy with nothing to do: `server::settle`'s own threshold of
/// quiet. A server that busy never settles, and its crowd is measured after
/// `SETTLE_LIMIT` ("quiet after 20 s" in the note).
const IDLE_BUSY_PERCENT: f64 = 5.0;

/// The Redis key that names the leader, as `NODE:TERM`: natter's
/// `Keys::leader` (src/cluster/mod.rs) under the default prefix
/// (`DEFAULT_REDIS_PREFIX`, src/config/cluster.rs). A node's default name is
/// its address, `--host` and web port.
const LEADER_KEY: &str = "natter:leader";

/// The flag cluster mode needs; a server without it cannot run `cluster-100`.
pub const REDIS_FLAG: &str = "--redis";

/// Both scenarios: `nodes` natter nodes (with a Redis when more than one),
/// fanout-100's crowd and rate; run again while the host steals time, as the
/// other traffic scenarios are.
pub fn cluster(bench: &Bench, name: &str, nodes: usize) -> Result<Row, Error> {
    if nodes > 1 && !bench.redis {
        return Err(format!("this server has no {REDIS_FLAG} (cluster mode)").into());
    }
    scenarios::least_disturbed(name, || run(bench, name, nodes))
}

/// One run on fresh processes: Redis (for a cluster), the nodes, the crowd,
/// a warm-up, then the measured window.
fn run(bench: &Bench, name: &str, nodes: usize) -> Result<Row, Error> {
    let mut redis = if nodes > 1 {
        eprintln!("bench: {name}: starting redis-server");
        Some(RedisProcess::start(
            &bench.scratch.join(format!("{name}-redis")),
        )?)
    } else {
        None
    };
    let mut servers = Vec::with_capacity(nodes);
    for n in 0..nodes {
        // Each node its own database file (cluster mode needs a file, and
        // every node keeps its own copy of the leader's).
        let mut flags = scenarios::server_flags(bench, &format!("{name}-node{n}"));
        if let Some(redis) = &redis {
            flags.extend([REDIS_FLAG.to_string(), redis.url()]);
        }
        eprintln!(
            "bench: {name}: starting node {n}: {}",
            bench.binary.display()
        );
        servers.push(ServerProcess::start(&bench.binary, &flags)?);
    }
    wait_ready(name, &mut servers)?;
    let leader = redis.as_ref().and_then(|r| leader_of(r, &servers));

    let endpoints: Vec<Endpoints> = servers.iter().map(|s| s.endpoints).collect();
    let mut pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    pids.extend(redis.as_ref().map(|r| r.pid));
    let plan = Plan {
        rooms: 1,
        per_room: scenarios::FANOUT_100_CLIENTS,
        senders_per_room: scenarios::FANOUT_SENDERS,
        receive: true,
        phases: 2,
    };
    let rate = scenarios::FANOUT_100_RATE;
    let idle_meters: Vec<CpuMeter> = pids.iter().map(|&pid| CpuMeter::start(pid)).collect();
    thread::sleep(IDLE_WINDOW);
    let idle: Vec<f64> = idle_meters.iter().map(|m| m.read().server).collect();
    let mut crowd = scenarios::gather_on(&endpoints, &pids, name, plan, bench);
    crowd.run_phase(0, rate, scenarios::WARM_UP);
    let stderr_before: Vec<usize> = servers.iter().map(ServerProcess::stderr_count).collect();
    eprintln!(
        "bench: {name}: {rate} msgs/s for {} s",
        scenarios::STEADY_SECONDS
    );
    // Each process's own share, over the same window as the row's sum.
    let each: Vec<CpuMeter> = pids.iter().map(|&pid| CpuMeter::start(pid)).collect();
    let report = crowd.run_phase(1, rate, Duration::from_secs(scenarios::STEADY_SECONDS));
    let each: Vec<f64> = each.iter().map(|meter| meter.read().server).collect();
    eprintln!(
        "bench: {name}: {:.0} deliveries/s, p99 {}, lost {}, host steal {:.0}%",
        report.deliveries_per_second,
        crate::millis(report.p99),
        report.lost(),
        report.cpu.steal
    );

    let mut row = Row::traffic(name, crowd.joined, &report);
    if report.lost() > 0 {
        let loss = report.lost() as f64 / report.expected.max(1) as f64;
        row.notes.insert(0, format!("LOST {:.1}%", loss * 100.0));
    }
    let cluster = redis.is_some();
    row.notes
        .push(layout_note(&servers, leader, cluster, &each));
    let idle_note = format!(
        "idle, before any client ({} s): {}",
        IDLE_WINDOW.as_secs(),
        shares(servers.len(), leader, cluster, &idle)
    );
    if idle.iter().sum::<f64>() > IDLE_BUSY_PERCENT {
        row.notes.push(format!("BUSY WHILE IDLE: {idle_note}"));
    } else {
        row.notes.push(idle_note);
    }
    row.notes.push(crowd.setup_note());
    if let Some(err) = &report.send_error {
        row.notes.push(format!("sending failed: {err}"));
    }
    row.notes.extend(crowd.problems());
    for (n, server) in servers.iter_mut().enumerate() {
        let who = node_name(n, leader, cluster);
        let count = server.stderr_count();
        if count > 0 {
            row.notes.push(format!(
                "{who} stderr ({} while measuring): {}",
                count.saturating_sub(stderr_before[n]),
                server.stderr_summary()
            ));
            for line in server.stderr_lines() {
                eprintln!("bench: {name}: {who} stderr: {line}");
            }
        }
        if server.exited() {
            row.notes.push(format!("{} EXITED", who.to_uppercase()));
        }
    }
    if redis.as_mut().is_some_and(RedisProcess::exited) {
        row.notes.push("REDIS EXITED".to_string());
    }
    crowd.finish();
    // The nodes go before their Redis, so that none sees it vanish.
    drop(servers);
    drop(redis);
    Ok(row)
}

/// Wait until every node's `/healthz` answers 200 (it knows the leader).
fn wait_ready(name: &str, servers: &mut [ServerProcess]) -> Result<(), Error> {
    let deadline = Instant::now() + READY_TIMEOUT;
    for (n, server) in servers.iter_mut().enumerate() {
        while !scenarios::healthy(server.endpoints.web) {
            if server.exited() {
                return Err(format!(
                    "node {n} exited before it was ready; stderr: {}",
                    server.stderr_summary()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {n}'s /healthz did not answer 200 within {READY_TIMEOUT:?}; \
                     stderr: {}",
                    server.stderr_summary()
                )
                .into());
            }
            thread::sleep(READY_POLL);
        }
    }
    eprintln!("bench: {name}: every node is ready");
    Ok(())
}

/// Which of `servers` holds the lease, from Redis: the leader key starts
/// with the node's default name, `127.0.0.1:WEBPORT`, then `:TERM`.
fn leader_of(redis: &RedisProcess, servers: &[ServerProcess]) -> Option<usize> {
    let holder = redis.get(LEADER_KEY)?;
    servers
        .iter()
        .position(|s| holder.starts_with(&format!("127.0.0.1:{}:", s.endpoints.web.port())))
}

/// `node 0 (leader)`, `node 1 (follower)`, or `node 0` when unknown or alone.
fn node_name(n: usize, leader: Option<usize>, cluster: bool) -> String {
    match (cluster, leader) {
        (true, Some(l)) if l == n => format!("node {n} (leader)"),
        (true, Some(_)) => format!("node {n} (follower)"),
        _ => format!("node {n}"),
    }
}

/// What ran, and each process's CPU in the measured window: `each` has one
/// figure per node, then Redis's.
fn layout_note(
    servers: &[ServerProcess],
    leader: Option<usize>,
    cluster: bool,
    each: &[f64],
) -> String {
    if !cluster {
        return "one node, --db file, no Redis (the baseline of cluster-100)".to_string();
    }
    let per_node = scenarios::FANOUT_100_CLIENTS / servers.len();
    let senders = scenarios::FANOUT_SENDERS / servers.len();
    let found = match leader {
        Some(_) => "",
        None => " (no leader found in Redis)",
    };
    format!(
        "{} nodes + Redis, {per_node} clients ({senders} senders) on each{found}; \
         srv = all of them: {}",
        servers.len(),
        shares(servers.len(), leader, cluster, each)
    )
}

/// Each process's CPU, in % of one core: `each` has one figure per node
/// (there are `nodes`), then Redis's if there is one.
fn shares(nodes: usize, leader: Option<usize>, cluster: bool, each: &[f64]) -> String {
    let mut parts: Vec<String> = each
        .iter()
        .take(nodes)
        .enumerate()
        .map(|(n, share)| format!("{} {share:.0}%", node_name(n, leader, cluster)))
        .collect();
    if let Some(redis) = each.get(nodes) {
        parts.push(format!("redis {redis:.0}%"));
    }
    parts.join(", ")
}

/// A `redis-server` of our own on a free port of the loopback, keeping
/// nothing on disk (`--save ""`, no append-only file), as natter's cluster
/// tests run it. Dropping it kills the process.
struct RedisProcess {
    child: Child,
    pid: u32,
    port: u16,
    /// Its `--dir`, holding its log; removed on drop.
    dir: PathBuf,
}

impl RedisProcess {
    /// Start it in `dir` (made fresh) and wait until it accepts connections.
    fn start(dir: &Path) -> Result<RedisProcess, Error> {
        let binary = REDIS_BINARIES
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .ok_or("redis-server is not installed (make setup installs it)")?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        // A port the system has just handed out and we have let go of: free,
        // unless something takes it in the instant between.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = dir.join("redis.log");
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut redis = RedisProcess {
            pid: child.id(),
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + REDIS_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if redis.exited() || Instant::now() > deadline {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let last = said.lines().last().unwrap_or("nothing").to_string();
                return Err(format!(
                    "redis-server did not accept connections on port {port} within \
                     {REDIS_START_TIMEOUT:?}; its log's last line: {last}"
                )
                .into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT`, for `--redis`.
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// `GET key`, in Redis's protocol (RESP) by hand: one command does not
    /// need a client library. `None` if the key is unset or anything fails.
    fn get(&self, key: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(stream, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).ok()?;
        // A bulk string, `$LEN\r\nVALUE\r\n`; an unset key is `$-1\r\n`,
        // whose length does not parse as a `usize`.
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let len: usize = header.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut value = vec![0; len];
        reader.read_exact(&mut value).ok()?;
        String::from_utf8(value).ok()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
