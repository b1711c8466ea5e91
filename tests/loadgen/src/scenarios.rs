//! The scenarios of issue 5, each against a fresh server, each ending with
//! one [`Row`] of the table; the fixed-rate ones (small-rooms, big-room) with
//! a row per rate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::Endpoints;
use crate::crowd::{Crowd, PhaseReport, Plan};
use crate::flood::{Flood, FloodPlan, Tally};
use crate::metrics::{self, Scrape};
use crate::server::{self, CpuMeter, ServerProcess};
use crate::Error;
use crate::Row;

/// What every scenario needs: the server to run and the shared clock.
pub struct Bench {
    pub binary: PathBuf,
    /// Flags that lift per-address limits, when the server has them.
    pub flags: Vec<String>,
    /// Whether the server lists `--metrics` in its `--help` (older ones do
    /// not: the fixed-rate steps then show no hub figures).
    pub metrics: bool,
    /// Whether the server lists `--redis` (cluster mode) in its `--help`;
    /// without it, cluster-100 cannot run.
    pub redis: bool,
    /// Time zero for message timestamps.
    pub start: Instant,
    /// A temporary folder for the servers' database files, removed at the end.
    pub scratch: PathBuf,
    /// Our open-file limit, raised once at the start (servers inherit it).
    pub fd_limit: Option<u64>,
}

/// How long each steady-rate scenario (the fan-outs, many-rooms, the
/// cluster's) measures.
pub const STEADY_SECONDS: u64 = 10;
/// How many clients send in the single-room scenarios.
pub const FANOUT_SENDERS: usize = 10;
/// fanout-100: this many clients in one room, and this many messages per
/// second in all (100,000 deliveries per second). The cluster scenarios
/// (`cluster.rs`) send the same load, so that their rows compare with it.
pub const FANOUT_100_CLIENTS: usize = 100;
pub const FANOUT_100_RATE: f64 = 1000.0;
/// Unmeasured traffic before the first measured phase of a scenario. After
/// seconds of idling, the first messages meet cold caches and (on a shared VM)
/// descheduled cores; a warm-up keeps that out of the figures, as benchmarks
/// usually do. It is phase 0, and nothing reports it.
pub const WARM_UP: Duration = Duration::from_secs(1);

/// How long the crowd may take to go quiet after connecting.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// The ramp: total messages per second at each step (1,000 members each, so
/// deliveries per second are a thousand times these).
const RAMP_RATES: [f64; 18] = [
    50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1250.0, 1500.0, 2000.0,
    2500.0, 3000.0, 4000.0, 5000.0, 6000.0,
];
const RAMP_STEP: Duration = Duration::from_secs(3);
/// A ramp step passes only with p99 at most this, and nothing lost.
const RAMP_P99_LIMIT_NS: u64 = 50_000_000;
/// ... and only if the pacer reached this share of the step's rate.
const RAMP_MIN_RATE_SHARE: f64 = 0.95;
/// A step that fails on latency alone is tried again, up to this many times in
/// all: on a two-core box that also runs the generator, one scheduling hiccup
/// (or a core taken by the host) can push a p99 over the line. Loss is never
/// retried.
const RAMP_ATTEMPTS: usize = 3;

/// many-rooms: rooms of ten, one sender each, this many messages per second
/// in all (ten per room per second).
const MANY_ROOMS: usize = 200;
const MANY_ROOMS_RATE: f64 = 2000.0;

/// small-rooms: this many rooms of `SMALL_ROOM_SIZE`, one sender in each.
/// Many rooms and small ones, as most chats are: each message costs the hub
/// a room's work for ten deliveries, where big-room's pays for a thousand.
const SMALL_ROOMS: usize = 100;
const SMALL_ROOM_SIZE: usize = 10;
/// small-rooms' offered rates, messages per second in all (each reaches the
/// ten members of its room: 20k, 100k and 200k deliveries per second).
const SMALL_ROOMS_RATES: [f64; 3] = [2000.0, 10_000.0, 20_000.0];

/// big-room: this many clients in one room, `FANOUT_SENDERS` of them
/// sending. The opposite of small-rooms: every message fans out to all.
const BIG_ROOM: usize = 1000;
/// big-room's offered rates, messages per second in all (200k, 1M and 2M
/// deliveries per second).
const BIG_ROOM_RATES: [f64; 3] = [200.0, 1000.0, 2000.0];

/// How long each fixed-rate step measures, after its `WARM_UP`.
const STEP_MEASURED: Duration = Duration::from_secs(8);

/// After a fixed-rate step that loses more than this share of its
/// deliveries, the higher rates are skipped: the server is past its limit,
/// and more load would only measure the backlog of the step before.
const SKIP_ABOVE_LOSS: f64 = 0.05;

/// Where the fixed-rate servers serve their metrics: a free port of the
/// loopback, printed by the server like its other ports.
const METRICS_ADDR: &str = "127.0.0.1:0";

/// How many times a traffic scenario may run while the host keeps stealing
/// time (see `least_disturbed`).
const DISTURBED_ATTEMPTS: usize = 3;

/// Cold starts to average.
const COLD_START_RUNS: usize = 10;

fn start_server(bench: &Bench, name: &str) -> Result<ServerProcess, Error> {
    eprintln!("bench: {name}: starting {}", bench.binary.display());
    ServerProcess::start(&bench.binary, &server_flags(bench, name))
}

/// The limit-lifting flags plus where to store history: `:memory:` for the
/// `-mem` scenarios, otherwise a fresh database file named after the scenario
/// in the bench's temporary folder (natter's default is a file too).
pub fn server_flags(bench: &Bench, name: &str) -> Vec<String> {
    let db = if name.ends_with("-mem") {
        ":memory:".to_string()
    } else {
        let path = bench.scratch.join(format!("{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path.display().to_string()
    };
    let mut flags = bench.flags.clone();
    flags.extend(["--db".to_string(), db]);
    flags
}

/// A note when the open-file limit is too low for this many connections. The
/// server holds one descriptor per WebSocket (the reader thread and the hub
/// share it), and children inherit our limit.
fn fd_limit_note(bench: &Bench, clients: usize) -> Option<String> {
    let limit = bench.fd_limit?;
    let needed = clients as u64 + 100;
    (limit < needed).then(|| {
        format!("open-file limit {limit} is below the ~{needed} the server needs (1 per client)")
    })
}

/// Connect a crowd and wait for the join storm to pass: every join sends a
/// notice to everyone already in the room (and, spaced out, the member list),
/// so a thousand joins into one room keep the receivers busy for a while.
fn gather(server: &ServerProcess, name: &str, plan: Plan, bench: &Bench) -> Crowd {
    gather_on(&[server.endpoints], &[server.pid], name, plan, bench)
}

/// `gather` on the nodes of a cluster (`Crowd::gather_on`: client `i` on
/// node `i % nodes`), waiting for every process in `pids` to go quiet.
pub fn gather_on(
    nodes: &[Endpoints],
    pids: &[u32],
    name: &str,
    plan: Plan,
    bench: &Bench,
) -> Crowd {
    eprintln!(
        "bench: {name}: connecting {} clients in {} room(s)",
        plan.rooms * plan.per_room,
        plan.rooms
    );
    let started = Instant::now();
    let mut crowd = Crowd::gather_on(nodes, pids, plan, bench.start);
    eprintln!(
        "bench: {name}: {} joined in {:.1} s; waiting for the server to go quiet",
        crowd.joined,
        crowd.connect_time.as_secs_f64()
    );
    server::settle_all(pids, SETTLE_LIMIT);
    crowd.quiet_after = started.elapsed();
    crowd.setup_bytes = crowd.bytes_received();
    crowd
}

/// Notes every traffic row shares: closes, errors, server complaints.
fn traffic_notes(row: &mut Row, report: &PhaseReport, crowd: &Crowd, server: &ServerProcess) {
    if let Some(err) = &report.send_error {
        row.notes.push(format!("sending failed: {err}"));
    }
    row.notes.extend(crowd.problems());
    if server.stderr_count() > 0 {
        row.notes
            .push(format!("server stderr: {}", server.stderr_summary()));
    }
}

/// Run a traffic scenario again, each time on a fresh server, while the host
/// (the hypervisor of this virtual machine) takes more than
/// `BUSY_HOST_PERCENT` of a core during its measurement, up to
/// `DISTURBED_ATTEMPTS` times; keep the attempt it disturbed least. A stolen
/// core stalls whatever thread it was running, server or generator, so such a
/// run measures the host's neighbours more than natter. The choice looks at
/// the steal figure only, never at the results.
pub fn least_disturbed(name: &str, run: impl Fn() -> Result<Row, Error>) -> Result<Row, Error> {
    let mut best: Option<Row> = None;
    let mut attempts = 0;
    while attempts < DISTURBED_ATTEMPTS {
        attempts += 1;
        let row = run()?;
        let stolen = row.stolen.unwrap_or(0.0);
        if best
            .as_ref()
            .is_none_or(|b| stolen < b.stolen.unwrap_or(0.0))
        {
            best = Some(row);
        }
        if stolen <= crate::BUSY_HOST_PERCENT {
            break;
        }
        eprintln!("bench: {name}: the host took {stolen:.0}% of a core meanwhile");
    }
    // At least one attempt ran: DISTURBED_ATTEMPTS is above zero.
    let mut row = best.expect("one attempt ran");
    if attempts > 1 {
        row.notes
            .push(format!("the least disturbed of {attempts} runs"));
    }
    Ok(row)
}

/// fanout-100 and fanout-1000: one room, ten senders, a fixed total rate.
pub fn fanout(bench: &Bench, name: &str, clients: usize, rate: f64) -> Result<Row, Error> {
    let plan = Plan {
        rooms: 1,
        per_room: clients,
        senders_per_room: FANOUT_SENDERS,
        receive: true,
        phases: 2,
    };
    least_disturbed(name, || steady(bench, name, plan, rate))
}

/// One run of a steady-rate scenario on a fresh server: gather the crowd,
/// warm up, then send `rate` messages per second for `STEADY_SECONDS` and
/// measure. `plan` must allow two phases (warm-up and measurement).
fn steady(bench: &Bench, name: &str, plan: Plan, rate: f64) -> Result<Row, Error> {
    let server = start_server(bench, name)?;
    let mut crowd = gather(&server, name, plan, bench);
    crowd.run_phase(0, rate, WARM_UP);
    eprintln!("bench: {name}: {rate} msgs/s for {STEADY_SECONDS} s");
    let report = crowd.run_phase(1, rate, Duration::from_secs(STEADY_SECONDS));
    let mut row = Row::traffic(name, crowd.joined, &report);
    row.notes.push(crowd.setup_note());
    traffic_notes(&mut row, &report, &crowd, &server);
    crowd.finish();
    Ok(row)
}

/// ramp-1000: raise the rate step by step until a step loses a delivery, its
/// p99 passes 50 ms, or the pacer cannot reach its rate. The row shows the
/// last step that passed.
pub fn ramp(bench: &Bench, name: &str) -> Result<Row, Error> {
    let server = start_server(bench, name)?;
    let plan = Plan {
        rooms: 1,
        per_room: 1000,
        senders_per_room: FANOUT_SENDERS,
        receive: true,
        phases: 1 + RAMP_RATES.len() * RAMP_ATTEMPTS,
    };
    let mut crowd = gather(&server, name, plan, bench);
    crowd.run_phase(0, RAMP_RATES[0], WARM_UP);
    let mut best: Option<PhaseReport> = None;
    let mut failure = None;
    let mut phase = 1;
    'steps: for &rate in &RAMP_RATES {
        for attempt in 1..=RAMP_ATTEMPTS {
            let report = crowd.run_phase(phase, rate, RAMP_STEP);
            phase += 1;
            let (why, retry) = ramp_verdict(&report, rate);
            eprintln!(
                "bench: {name}: {rate} msgs/s (attempt {attempt}): {:.0} deliveries/s, p99 {}, \
                 lost {}, host steal {:.0}%: {}",
                report.deliveries_per_second,
                crate::millis(report.p99),
                report.lost(),
                report.cpu.steal,
                why.as_deref().unwrap_or("pass")
            );
            match why {
                None => {
                    best = Some(report);
                    continue 'steps;
                }
                Some(_) if retry && attempt < RAMP_ATTEMPTS => continue,
                Some(why) => {
                    failure = Some(format!(
                        "next step ({rate:.0} msgs/s, {:.0} deliveries/s) failed: {why} \
                         (the host took {:.0}% of a core meanwhile)",
                        report.deliveries_per_second, report.cpu.steal
                    ));
                    break 'steps;
                }
            }
        }
    }
    let mut row = match &best {
        Some(report) => Row::traffic(name, crowd.joined, report),
        None => Row::new(name, crowd.joined),
    };
    match (&best, failure) {
        (_, Some(failure)) => row.notes.push(failure),
        (Some(_), None) => row.notes.push("every step passed".to_string()),
        (None, None) => {}
    }
    if best.is_none() {
        row.notes.insert(0, "no step passed".to_string());
    }
    row.notes.push(crowd.setup_note());
    row.notes.extend(crowd.problems());
    if server.stderr_count() > 0 {
        row.notes
            .push(format!("server stderr: {}", server.stderr_summary()));
    }
    crowd.finish();
    Ok(row)
}

/// Why a ramp step failed (`None`: it passed), and whether trying it again
/// could change that.
fn ramp_verdict(report: &PhaseReport, rate: f64) -> (Option<String>, bool) {
    if let Some(err) = &report.send_error {
        (Some(format!("sending failed: {err}")), false)
    } else if report.lost() > 0 {
        (Some(format!("{} deliveries lost", report.lost())), false)
    } else if report.p99 > RAMP_P99_LIMIT_NS {
        (Some(format!("p99 {}", crate::millis(report.p99))), true)
    } else if report.sent_rate() < RAMP_MIN_RATE_SHARE * rate {
        let sent = format!("only {:.0} msgs/s sent", report.sent_rate());
        (Some(sent), true)
    } else {
        (None, false)
    }
}

/// idle-N: connected, joined clients that say nothing, in rooms of ten (one
/// big room would measure the member-list storm of N joins, not idleness).
/// No threads on our side: the sockets are simply held.
pub fn idle(bench: &Bench, clients: usize) -> Result<Row, Error> {
    let name = format!("idle-{clients}");
    let mut server = start_server(bench, &name)?;
    server::settle(server.pid, SETTLE_LIMIT);
    let rss_before = server::status_value(server.pid, "VmRSS");
    let connecting = CpuMeter::start(server.pid);
    let plan = Plan {
        rooms: clients.div_ceil(10),
        per_room: 10,
        senders_per_room: 0,
        receive: false,
        phases: 0,
    };
    let crowd = gather(&server, &name, plan, bench);
    let cpu = connecting.read();
    let connect_rate = crowd.joined as f64 / crowd.connect_time.as_secs_f64().max(1e-9);
    let holding = CpuMeter::start(server.pid);
    thread::sleep(Duration::from_secs(2));
    let idle_cpu = holding.read();
    let rss_after = server::status_value(server.pid, "VmRSS");
    let threads = server::status_value(server.pid, "Threads");
    let fds = server::open_fds(server.pid);
    let alive = !server.exited();

    let mut row = Row::new(&name, crowd.joined);
    row.set_cpu(cpu);
    let per_connection = rss_after.saturating_sub(rss_before) as f64 / crowd.joined.max(1) as f64;
    row.notes.push(format!(
        "RSS {per_connection:.1} KiB/conn ({:.1} -> {:.1} MiB), {threads} threads, {fds} fds, \
         connect {connect_rate:.0} clients/s (the CPU columns are while connecting); \
         CPU while idle: {:.1}% server, {:.1}% generator",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        idle_cpu.server,
        idle_cpu.generator
    ));
    if !alive {
        row.notes.push("THE SERVER EXITED".to_string());
    }
    row.notes.extend(crowd.problems());
    row.notes.extend(fd_limit_note(bench, clients));
    if server.stderr_count() > 0 {
        row.notes
            .push(format!("server stderr: {}", server.stderr_summary()));
    }
    crowd.finish();
    Ok(row)
}

/// many-rooms: 200 rooms of 10, one sender in each, traffic everywhere.
pub fn many_rooms(bench: &Bench) -> Result<Row, Error> {
    let plan = Plan {
        rooms: MANY_ROOMS,
        per_room: 10,
        senders_per_room: 1,
        receive: true,
        phases: 2,
    };
    least_disturbed("many-rooms", || {
        steady(bench, "many-rooms", plan, MANY_ROOMS_RATE)
    })
}

/// cold-start: from exec until `/healthz` answers 200, averaged; and the size
/// of the binary.
pub fn cold_start(bench: &Bench) -> Result<Row, Error> {
    let name = "cold-start";
    eprintln!("bench: {name}: {COLD_START_RUNS} starts");
    let mut times = Vec::with_capacity(COLD_START_RUNS);
    let mut rss = 0;
    for _ in 0..COLD_START_RUNS {
        // The same database file each time: the first start creates it, the
        // rest open it, as a restart would.
        let mut flags = bench.flags.clone();
        let db = bench.scratch.join("cold-start.db").display().to_string();
        flags.extend(["--db".to_string(), db]);
        let server = ServerProcess::start(&bench.binary, &flags)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !healthy(server.endpoints.web) {
            if Instant::now() > deadline {
                return Err("/healthz did not answer within 5 s".into());
            }
            thread::sleep(Duration::from_micros(200));
        }
        times.push(server.spawned.elapsed());
        rss = server::status_value(server.pid, "VmRSS");
    }
    let average = times.iter().sum::<Duration>() / times.len() as u32;
    let (fastest, slowest) = (
        times.iter().min().copied().unwrap_or_default(),
        times.iter().max().copied().unwrap_or_default(),
    );
    let size = std::fs::metadata(&bench.binary)?.len();
    let linking = match server::is_dynamic(&bench.binary) {
        Some(true) => "dynamically linked",
        Some(false) => "static",
        None => "not a 64-bit ELF",
    };
    let mut row = Row::new(name, 0);
    row.clients = "-".to_string();
    row.notes.push(format!(
        "exec to /healthz {:.1} ms average of {COLD_START_RUNS} ({:.1}-{:.1}); binary {:.2} MB \
         ({linking}); RSS at start {:.1} MiB",
        average.as_secs_f64() * 1e3,
        fastest.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3,
        size as f64 / 1e6,
        rss as f64 / 1024.0
    ));
    Ok(row)
}

/// One `GET /healthz`: whether it answered 200.
pub fn healthy(web: SocketAddr) -> bool {
    let check = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(web)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n"
        )?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status)?;
        Ok(&status == b"HTTP/1.1 200")
    };
    check().unwrap_or(false)
}

/// small-rooms and big-room (and their `-mem` twins): one server, one crowd,
/// stepped through the scenario's fixed rates. Each step warms up for
/// `WARM_UP` (unmeasured), measures for `STEP_MEASURED` and drains, and
/// `emit` gets its row at once. The server's metrics are scraped around each
/// measured window for the hub's figures.
pub fn fixed_rate(bench: &Bench, name: &str, mut emit: impl FnMut(Row)) -> Result<(), Error> {
    let (plan, rates): (Plan, &[f64]) = match name.trim_end_matches("-mem") {
        "small-rooms" => (
            Plan {
                rooms: SMALL_ROOMS,
                per_room: SMALL_ROOM_SIZE,
                senders_per_room: 1,
                receive: true,
                phases: 2 * SMALL_ROOMS_RATES.len(),
            },
            &SMALL_ROOMS_RATES,
        ),
        "big-room" => (
            Plan {
                rooms: 1,
                per_room: BIG_ROOM,
                senders_per_room: FANOUT_SENDERS,
                receive: true,
                phases: 2 * BIG_ROOM_RATES.len(),
            },
            &BIG_ROOM_RATES,
        ),
        _ => return Err(format!("no fixed-rate scenario {name}").into()),
    };
    let (mut server, metrics_note) = start_with_metrics(bench, name, &[])?;
    let mut crowd = gather(&server, name, plan, bench);
    // Why the remaining rates are skipped, once a step says they must be.
    let mut skip: Option<String> = None;
    for (step, &rate) in rates.iter().enumerate() {
        let label = format!("{name} @ {}/s", crate::thousands(rate));
        if let Some(why) = &skip {
            let mut row = Row::new(&label, crowd.joined);
            row.notes.push(format!("SKIPPED: {why}"));
            emit(row);
            continue;
        }
        crowd.run_phase(2 * step, rate, WARM_UP);
        eprintln!(
            "bench: {label}: {rate} msgs/s for {} s",
            STEP_MEASURED.as_secs()
        );
        let before = server.metrics.map(metrics::scrape);
        let report = crowd.run_phase(2 * step + 1, rate, STEP_MEASURED);
        let after = server.metrics.map(metrics::scrape);
        eprintln!(
            "bench: {label}: {:.0} deliveries/s, p99 {}, lost {}, host steal {:.0}%",
            report.deliveries_per_second,
            crate::millis(report.p99),
            report.lost(),
            report.cpu.steal
        );

        let mut row = Row::traffic(&label, crowd.joined, &report);
        if step == 0 {
            row.notes.push(crowd.setup_note());
            row.notes.extend(metrics_note.clone());
            row.notes.extend(fd_limit_note(bench, crowd.joined));
        }
        match (before, after) {
            (Some(Ok(before)), Some(Ok(after))) => hub_figures(&mut row, &before, &after),
            (Some(Err(err)), _) | (_, Some(Err(err))) => {
                row.notes.push(format!("metrics scrape failed: {err}"));
            }
            _ => {}
        }
        let loss = report.lost() as f64 / report.expected.max(1) as f64;
        if report.lost() > 0 {
            row.notes.insert(0, format!("LOST {:.1}%", loss * 100.0));
        }
        traffic_notes(&mut row, &report, &crowd, &server);
        let exited = server.exited();
        if exited {
            row.notes.push("THE SERVER EXITED".to_string());
        }
        emit(row);

        skip = if exited {
            Some("the server exited".to_string())
        } else if report.send_error.is_some() {
            Some(format!("sending failed at {}/s", crate::thousands(rate)))
        } else if loss > SKIP_ABOVE_LOSS {
            Some(format!(
                "the {}/s step lost {:.1}% of its deliveries (more than {:.0}%)",
                crate::thousands(rate),
                loss * 100.0,
                SKIP_ABOVE_LOSS * 100.0
            ))
        } else {
            None
        };
    }
    crowd.finish();
    Ok(())
}

/// Start a server for `name` (with `extra` flags too) with a metrics
/// listener, if it has `--metrics`; without one if it has not, or refuses the
/// flag. The note, if any, says why the hub's columns will stay `-`.
fn start_with_metrics(
    bench: &Bench,
    name: &str,
    extra: &[&str],
) -> Result<(ServerProcess, Option<String>), Error> {
    let mut flags = server_flags(bench, name);
    flags.extend(extra.iter().map(|f| f.to_string()));
    if !bench.metrics {
        eprintln!("bench: {name}: starting {}", bench.binary.display());
        let server = ServerProcess::start(&bench.binary, &flags)?;
        let note = "this server has no --metrics: no hub figures".to_string();
        return Ok((server, Some(note)));
    }
    let without_metrics = flags.clone();
    flags.extend([server::METRICS_FLAG.to_string(), METRICS_ADDR.to_string()]);
    eprintln!(
        "bench: {name}: starting {} {} {METRICS_ADDR}",
        bench.binary.display(),
        server::METRICS_FLAG
    );
    match ServerProcess::start(&bench.binary, &flags) {
        Ok(server) if server.metrics.is_some() => Ok((server, None)),
        Ok(server) => {
            let note = "the server printed no metrics line: no hub figures".to_string();
            Ok((server, Some(note)))
        }
        Err(err) => {
            eprintln!("bench: {name}: the server did not start with --metrics ({err})");
            let server = ServerProcess::start(&bench.binary, &without_metrics)?;
            let note = format!("the server refused --metrics ({err}): no hub figures");
            Ok((server, Some(note)))
        }
    }
}

/// The hub's columns for a measured window, from scrapes before and after
/// it, and a note with what the columns leave out: how many passes, the
/// longest wait, the storage commits, and the exact longest pass when the
/// window set a new one (the since-start `_max` gauge then belongs to it).
fn hub_figures(row: &mut Row, before: &Scrape, after: &Scrape) {
    let window = |name: &str| metrics::window(before.get(name)?, after.get(name)?);
    let pass = window(metrics::HUB_PASS);
    let wait = window(metrics::EVENT_WAIT);
    let commit = window(metrics::COMMIT);
    let mut note = Vec::new();
    if let Some(pass) = pass {
        row.pass_p99 = pass.p99.to_string();
        row.pass_max = pass.max.to_string();
        note.push(format!("{} passes", crate::thousands(pass.count as f64)));
        let since_start = after.get(metrics::HUB_PASS).and_then(|h| h.max);
        match (pass.exact_max, since_start) {
            (Some(exact), _) => note.push(format!("longest pass {}", seconds(exact))),
            (None, Some(earlier)) => note.push(format!(
                "longest pass since start {} (before this step)",
                seconds(earlier)
            )),
            (None, None) => {}
        }
    }
    if let Some(wait) = wait {
        row.wait_p99 = wait.p99.to_string();
        note.push(format!("wait max {}", wait.max));
    }
    if let Some(commit) = commit {
        note.push(format!("commit p99 {} max {}", commit.p99, commit.max));
    }
    if !note.is_empty() {
        row.notes.push(format!("hub: {}", note.join(", ")));
    }
}

/// Seconds, as the table writes milliseconds.
fn seconds(seconds: f64) -> String {
    crate::millis((seconds * 1e9) as u64)
}

/// login-flood: the busy room.
const FLOOD_ROOM_SIZE: usize = 200;
/// ... and its traffic, messages per second (40,000 deliveries per second).
const FLOOD_CHAT_RATE: f64 = 200.0;
/// Wrong-password logins per second during the flood steps (issue 15).
const FLOOD_LOGIN_RATE: f64 = 50.0;
/// The names claimed for the step that spreads the flood: each gets at most
/// `FLOOD_TRIES_PER_NAME` wrong passwords, under natter's limit of 5 per
/// name (`LOGIN_FAILURES_PER_NAME`), so that no login is refused for its
/// name's failures and every one that gets a turn is hashed. 150 names at 4
/// tries are 12 s of logins at 50/s: the warm-up, the measured window and
/// the drain.
const FLOOD_NAMES: usize = 150;
const FLOOD_TRIES_PER_NAME: usize = 4;
/// The single claimed name of the first flood step: it takes 5 wrong
/// passwords, then natter refuses it (429) before hashing.
const FLOOD_TARGET: &str = "victim";
/// Where each kind of request says it comes from (`X-Forwarded-For`, with
/// `--trust-proxy`): an address per request, so that natter's limits per
/// address (a claim per 30 s, 20 failures per 15 min) decide nothing here.
const CLAIM_ADDRESSES: u32 = 0x0A01_0000; // 10.1.0.0
const ONE_NAME_ADDRESSES: u32 = 0x0A02_0000; // 10.2.0.0
const MANY_NAMES_ADDRESSES: u32 = 0x0A03_0000; // 10.3.0.0

/// login-flood (issue 15): one room of 200 at 200 msgs/s, measured as the
/// fixed-rate steps are, four times on one server and one crowd: with no
/// logins; while 50 logins per second with wrong passwords hit one claimed
/// name (after its 5 failures natter refuses them before hashing); while the
/// same rate is spread over 150 claimed names, each tried at most 4 times
/// (so every login that gets a turn is hashed, about 60 ms of a core, one at
/// a time); and with no logins again. Each row notes how the logins were
/// answered and how long `GET /` took meanwhile (one load every 100 ms).
///
/// The server runs with `--trust-proxy`, and each login and claim says in
/// `X-Forwarded-For` that it comes from an address of its own: the chat's
/// clients send no such header and count as 127.0.0.1, as in the other
/// scenarios.
pub fn login_flood(bench: &Bench, mut emit: impl FnMut(Row)) -> Result<(), Error> {
    let name = "login-flood";
    let (mut server, metrics_note) = start_with_metrics(bench, name, &["--trust-proxy"])?;
    let web = server.endpoints.web;
    let target = vec![FLOOD_TARGET.to_string()];
    let many: Vec<String> = (0..FLOOD_NAMES).map(|i| format!("acct{i}")).collect();
    eprintln!("bench: {name}: claiming {} names", many.len() + 1);
    let claiming = Instant::now();
    let mut claimed = target.clone();
    claimed.extend(many.iter().cloned());
    crate::flood::claim_names(web, &claimed, "claims", CLAIM_ADDRESSES)?;
    let claim_seconds = claiming.elapsed().as_secs_f64();
    let plan = Plan {
        rooms: 1,
        per_room: FLOOD_ROOM_SIZE,
        senders_per_room: FANOUT_SENDERS,
        receive: true,
        phases: 8,
    };
    let mut crowd = gather(&server, name, plan, bench);
    let room = "r0".to_string();
    let steps: [(&str, Option<FloodPlan>); 4] = [
        ("login-flood quiet", None),
        (
            "login-flood 50/s 1 name",
            Some(FloodPlan {
                names: target,
                // Enough for the step; it is stopped at its end.
                tries_per_name: 1000,
                room: room.clone(),
                base: ONE_NAME_ADDRESSES,
                rate: FLOOD_LOGIN_RATE,
            }),
        ),
        (
            "login-flood 50/s 150 names",
            Some(FloodPlan {
                names: many,
                tries_per_name: FLOOD_TRIES_PER_NAME,
                room,
                base: MANY_NAMES_ADDRESSES,
                rate: FLOOD_LOGIN_RATE,
            }),
        ),
        ("login-flood quiet again", None),
    ];
    let probe = crate::flood::PageProbe::start(web)?;
    for (step, (label, flood_plan)) in steps.into_iter().enumerate() {
        let flood = match flood_plan {
            Some(plan) => Some(Flood::start(web, plan)?),
            None => None,
        };
        crowd.run_phase(2 * step, FLOOD_CHAT_RATE, WARM_UP);
        // What the warm-up counted is not the measured window's (but the
        // first step's first logins are where a name's failures run out).
        let warm_up = flood.as_ref().map(Flood::take);
        let _ = probe.take();
        eprintln!(
            "bench: {label}: {FLOOD_CHAT_RATE} msgs/s for {} s",
            STEP_MEASURED.as_secs()
        );
        let before = server.metrics.map(metrics::scrape);
        let report = crowd.run_phase(2 * step + 1, FLOOD_CHAT_RATE, STEP_MEASURED);
        let after = server.metrics.map(metrics::scrape);
        // The window ends here; the logins still in flight are not its own.
        let logins = flood.as_ref().map(Flood::take);
        let pages = probe.take();
        let _ = flood.map(Flood::stop);
        eprintln!(
            "bench: {label}: {:.0} deliveries/s, p99 {}, lost {}, host steal {:.0}%",
            report.deliveries_per_second,
            crate::millis(report.p99),
            report.lost(),
            report.cpu.steal
        );

        let mut row = Row::traffic(label, crowd.joined, &report);
        if report.lost() > 0 {
            let loss = report.lost() as f64 / report.expected.max(1) as f64;
            row.notes.insert(0, format!("LOST {:.1}%", loss * 100.0));
        }
        if let Some(logins) = logins {
            row.notes.push(login_note(&logins, STEP_MEASURED));
        }
        if let Some(w) = warm_up {
            row.notes.push(format!(
                "in the {} s warm-up before: {} logins, 400 {}, 429 {}, 503 {}, other {}",
                WARM_UP.as_secs(),
                w.sent,
                w.wrong,
                w.limited,
                w.busy,
                w.other + w.ok + w.failed
            ));
        }
        row.notes.push(page_note(&pages));
        if step == 0 {
            row.notes.push(
                "server flags besides those above: --trust-proxy (the logins' \
                 X-Forwarded-For), --metrics"
                    .to_string(),
            );
            row.notes.push(format!(
                "{} names claimed in {claim_seconds:.1} s before the crowd joined",
                claimed.len()
            ));
            row.notes.push(crowd.setup_note());
            row.notes.extend(metrics_note.clone());
        }
        match (before, after) {
            (Some(Ok(before)), Some(Ok(after))) => hub_figures(&mut row, &before, &after),
            (Some(Err(err)), _) | (_, Some(Err(err))) => {
                row.notes.push(format!("metrics scrape failed: {err}"));
            }
            _ => {}
        }
        traffic_notes(&mut row, &report, &crowd, &server);
        let exited = server.exited();
        if exited {
            row.notes.push("THE SERVER EXITED".to_string());
        }
        emit(row);
        if exited {
            break;
        }
    }
    drop(probe);
    crowd.finish();
    Ok(())
}

/// How a window's logins were answered: how many of each status, how fast.
fn login_note(logins: &Tally, window: Duration) -> String {
    let mut note = format!(
        "logins: {} in {} s ({:.0}/s): 400 wrong {}, 429 limited {}, 503 busy {}",
        logins.sent,
        window.as_secs(),
        logins.sent as f64 / window.as_secs_f64(),
        logins.wrong,
        logins.limited,
        logins.busy,
    );
    if logins.ok > 0 {
        note.push_str(&format!(", ACCEPTED {}", logins.ok));
    }
    if logins.other > 0 {
        let example = logins.other_example.as_deref().unwrap_or("?");
        note.push_str(&format!(", other {} ({example})", logins.other));
    }
    if logins.failed > 0 {
        let first = logins.first_failure.as_deref().unwrap_or("?");
        note.push_str(&format!(", no answer {} ({first})", logins.failed));
    }
    if logins.late > 0 {
        note.push_str(&format!(", {} sent late by the generator", logins.late));
    }
    note.push_str(&format!(
        "; answered in p50 {} p99 {} max {}",
        crate::millis(logins.quantile(0.5)),
        crate::millis(logins.quantile(0.99)),
        crate::millis(logins.max())
    ));
    note
}

/// How `GET /` fared in a window.
fn page_note(pages: &Tally) -> String {
    let mut note = format!(
        "GET /: {} loads, p50 {} p99 {} max {}",
        pages.ok,
        crate::millis(pages.quantile(0.5)),
        crate::millis(pages.quantile(0.99)),
        crate::millis(pages.max())
    );
    let refused = pages.sent - pages.ok - pages.failed;
    if refused > 0 {
        note.push_str(&format!(
            ", {refused} not 200 (503: {}, 429: {})",
            pages.busy, pages.limited
        ));
    }
    if pages.failed > 0 {
        let first = pages.first_failure.as_deref().unwrap_or("?");
        note.push_str(&format!(", {} unanswered ({first})", pages.failed));
    }
    note
}
