//! `natter-bench`: a load generator that runs the scenarios of issue 5 against
//! real natter servers and prints one table line per scenario.
//!
//! ```text
//! natter-bench [--scenario NAME|all] [--server PATH]
//! ```
//!
//! `make bench` builds the static `natter` (the binary that ships) and this
//! generator beside it, and runs it with `--server` naming that `natter`.
//!
//! It is a crate of its own in natter's workspace (`tests/loadgen/`), not a
//! module of natter: nothing of it, nor `mio`, which only it uses, ships in
//! the binary it measures. It does not link natter's library either: it talks
//! to a server as browsers do, and the few facts it needs about natter are
//! copied here, each saying where it comes from.
//!
//! # How it works
//!
//! - **A fresh server per scenario** (`server.rs`). The binary under test (the
//!   `natter` next to `natter-bench` unless `--server` says otherwise) is started on free ports
//!   and read from its own stdout, so no scenario inherits another's rooms,
//!   sessions or memory. If the server has per-address limits, the flags that
//!   lift them are passed: every bench client comes from 127.0.0.1.
//! - **Clients like a browser** (`client.rs`): `POST /login` for a cookie, a
//!   WebSocket handshake with that cookie and the page's Origin, `hello`,
//!   `join`, `joined`. tungstenite does the handshake; after it, frames are
//!   read raw from the socket into one big buffer and walked in place, since
//!   server frames are unmasked and a header is 2 to 10 bytes. Receivers never
//!   decode JSON: they look for a marker in the text.
//! - **Threads, not async** (`crowd.rs`): two epoll threads (mio) receive for
//!   every client that only listens, each sender has a small thread of its own,
//!   a few setup threads log clients in, and one pacer sends every sender's
//!   messages on a fixed schedule. Idle clients get no thread at all; their
//!   sockets are held.
//!
//! # What is measured
//!
//! - **Latency** is from send to receipt by *every* member of the room, the
//!   sender included. Each message's text is `bench/PHASE/SENDER/SEQ/NS`, where
//!   `NS` is the send time in nanoseconds since one `Instant` shared by the
//!   whole generator: sender and receivers read the same clock, so no clock
//!   sync is involved. Receivers record into shared histograms (`stats.rs`),
//!   accurate to about 3%.
//! - **Loss**: a message must reach every member connected when the phase
//!   began; what has not arrived 3 s after the last send is lost. The sequence
//!   number also catches duplicates and reordering, which must never happen.
//! - **Deliveries per second**: deliveries divided by the time from the first
//!   send to the last receipt.
//! - **CPU**: user plus system time of the server (`/proc/<pid>/stat`) and of
//!   the generator itself (`/proc/self/stat`) over the measured window, in
//!   percent of one core. Both run on the same machine: when the two add up to
//!   all its cores, the machine, not necessarily the server, is the limit.
//! - **CPU per delivery** (`srv s/M`): the server's CPU seconds over the
//!   measured window (sending and draining) per million deliveries in it. A
//!   server can keep up at a rate and still cost twice as much per message;
//!   this shows it, and it compares across rates where a percentage does not.
//! - **Steal**: on a virtual machine, the time the host ran something else
//!   while our cores had work (`/proc/stat`). A stolen core stalls whichever
//!   thread it was running, so steal turns straight into tail latency. A
//!   traffic scenario during which the host took more than 2% of a core is run
//!   again on a fresh server (three runs at most), and the row shows the run
//!   the host disturbed least: chosen by steal, never by its results.
//!
//! # Fixed-rate steps
//!
//! `small-rooms` (100 rooms of 10, one sender each) and `big-room` (1,000
//! clients, 10 senders) hold one crowd on one server and step it through
//! three offered rates, a row per step: 1 s of unmeasured warm-up, 8 s
//! measured, then the drain. The same deliveries per second cost a server
//! differently spread over many small rooms than fanned out in one big one,
//! and a few fixed rates compare across servers and commits where a ramp's
//! breaking point does not. Their rows add **the hub's own figures**, from
//! natter's `--metrics` (`metrics.rs`): the p99 and longest of the hub's pass
//! (every client waits for the pass in progress) and the p99 of an event's
//! wait for the hub, over the measured window, to their histogram bucket's
//! upper bound. Beside the client latency they tell the hub's share of it from
//! the sockets' and the generator's. A server without `--metrics` shows `-`
//! there.
//!
//! A step that loses deliveries still gets its row; after one that loses more
//! than 5% of them, the higher rates get a row saying they were skipped: the
//! server is past its limit, and more load would only measure a backlog.
//!
//! Steal does not rerun these: a rerun would repeat every step. The steal
//! column and its note say which steps the host disturbed.
//!
//! # A login flood beside the chat
//!
//! `login-flood` (issue 15; `flood.rs`) claims 151 names with passwords, then
//! runs one room of 200 at 200 msgs/s through four steps as the fixed-rate
//! ones are run: no logins; 50 logins per second with wrong passwords at one
//! claimed name (natter hashes its first 5, then refuses with 429 before
//! hashing); the same 50 per second spread over 150 claimed names, at most
//! 4 each, so that every login that gets the hasher's turn is hashed (the
//! rest are 503); and no logins again. Each login and claim comes from an
//! address of its own (`X-Forwarded-For`, the server run with
//! `--trust-proxy`), so the limits per address decide nothing. The rows note
//! the logins' answers by status and how long `GET /` took meanwhile.
//!
//! # What a cluster costs
//!
//! `cluster-100` (`cluster.rs`) starts a `redis-server` of its own and two
//! natter nodes on it (`--redis`, each with its own database file), waits
//! until both answer `/healthz` with 200, and runs fanout-100's load on
//! them: 100 clients in one room, every other one on each node, 1,000
//! msgs/s. The follower's half pays the hops through Redis. Its latency is
//! every member's, on both nodes, and its `srv` the CPU of both nodes and
//! Redis summed. `cluster-100-one` runs the same load, measured the same
//! way, on one node with a database file and no Redis: the row to compare
//! it with.
//!
//! Every scenario stops by itself, and all traffic goes to 127.0.0.1.

#![forbid(unsafe_code)]

mod client;
mod cluster;
mod crowd;
mod flood;
mod metrics;
mod scenarios;
mod server;
mod stats;
mod uploads;

use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crowd::PhaseReport;
use scenarios::Bench;
use server::CpuUse;

/// Errors that end a scenario or the whole run: reported, never matched on.
/// The same alias as natter's own `natter::Error` (src/lib.rs).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "\
usage: natter-bench [--scenario NAME|all] [--server PATH]

  --scenario NAME   one of: fanout-100, fanout-100-mem, cluster-100-one,
                    cluster-100, fanout-1000,
                    fanout-1000-mem, ramp-1000, ramp-1000-mem, idle (both
                    idle-2000 and idle-10000), idle-2000, idle-10000,
                    many-rooms, small-rooms, small-rooms-mem, big-room,
                    big-room-mem, cold-start, login-flood, uploads; or all (the
                    default). A traffic
                    scenario disturbed by the host (steal) runs again, up
                    to three times. Servers store history
                    in a database file in a temporary folder, as natter does
                    by default; the -mem scenarios run with --db :memory:, to
                    show what storage costs.
                    small-rooms (100 rooms of 10, one sender each: 2,000,
                    10,000 and 20,000 msgs/s) and big-room (1,000 clients,
                    10 senders: 200, 1,000 and 2,000 msgs/s) step one crowd
                    through fixed rates, a row per step (never rerun),
                    with the hub's figures from the server's --metrics.
                    login-flood (issue 15: one room of 200 at 200 msgs/s)
                    measures the chat with no logins, during 50 wrong-
                    password logins/s at one claimed name, then spread over
                    150 claimed names, and with no logins again.
                    cluster-100 (cluster mode: a redis-server of its own,
                    /usr/bin/redis-server, and two natter nodes on it, 50
                    of the 100 clients on each) and cluster-100-one (one
                    node, no Redis) run fanout-100's load: 1,000 msgs/s in
                    one room; their srv is every node and Redis, summed.
  --server PATH     the natter binary to start (default: the natter next
                    to this executable; `make bench` builds both)
  -h, --help        show this help

Each scenario starts a fresh server on free ports of 127.0.0.1. Progress goes
to stderr; the table goes to stdout.";

const SCENARIOS: [&str; 18] = [
    "fanout-100",
    "fanout-100-mem",
    "cluster-100-one",
    "cluster-100",
    "fanout-1000",
    "fanout-1000-mem",
    "ramp-1000",
    "ramp-1000-mem",
    "idle-2000",
    "idle-10000",
    "many-rooms",
    "small-rooms",
    "small-rooms-mem",
    "big-room",
    "big-room-mem",
    "cold-start",
    "login-flood",
    "uploads",
];

fn main() -> ExitCode {
    let mut args = pico_args::Arguments::from_env();
    if args.contains(["-h", "--help"]) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = (|| -> Result<(Vec<&'static str>, Option<String>), String> {
        let scenario: Option<String> = args
            .opt_value_from_str("--scenario")
            .map_err(|e| e.to_string())?;
        let server: Option<String> = args
            .opt_value_from_str("--server")
            .map_err(|e| e.to_string())?;
        if let Some(extra) = args.finish().first() {
            return Err(format!("unknown argument {:?}", extra.to_string_lossy()));
        }
        let chosen = match scenario.as_deref().unwrap_or("all") {
            "all" => SCENARIOS.to_vec(),
            "idle" => vec!["idle-2000", "idle-10000"],
            name => match SCENARIOS.iter().find(|&&s| s == name) {
                Some(&s) => vec![s],
                None => return Err(format!("unknown scenario {name:?}")),
            },
        };
        Ok((chosen, server))
    })();
    let (chosen, server) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("natter-bench: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&chosen, server) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("natter-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Run the chosen scenarios, printing each row as it is done. Returns whether
/// every scenario ran (a scenario that could not run still gets its row).
fn run(chosen: &[&str], server: Option<String>) -> Result<bool, Error> {
    let binary = match server {
        Some(path) => std::path::PathBuf::from(path),
        None => server::default_binary()?,
    };
    let scratch = std::env::temp_dir().join(format!("natter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let help = server::help(&binary)?;
    let bench = Bench {
        flags: server::unlimited_flags(&help),
        metrics: help.contains(server::METRICS_FLAG),
        redis: help.contains(cluster::REDIS_FLAG),
        binary,
        start: Instant::now(),
        scratch,
        fd_limit: server::raise_fd_limit(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = bench
        .fd_limit
        .map_or("unknown".to_string(), |l| l.to_string());
    println!(
        "natter-bench: {cores} cores, {}, open-file limit {limit}, load average {}",
        utc_now(),
        server::load_average()
    );
    println!(
        "server: {} {}",
        bench.binary.display(),
        bench.flags.join(" ")
    );
    println!(
        "latency: send to receipt by every member; lost: not delivered 3 s after the last send\n\
         CPU in % of one core, while measuring: srv = the server (in cluster-100, both \
         nodes and Redis together), gen = this generator, \
         other = everything else on the machine, steal = time the host took from this \
         (virtual) machine"
    );
    println!(
        "srv s/M = server CPU seconds per million deliveries, while measuring; in the \
         fixed-rate steps (small-rooms, big-room), pass p99/max = the hub's pass and wait \
         p99 = an event's wait for the hub, from the server's --metrics over the measured \
         window, as the upper bound of their bucket{}",
        if bench.metrics {
            ""
        } else {
            " (this server has no --metrics: -)"
        }
    );
    if cfg!(debug_assertions) {
        println!("WARNING: this is a debug build; build with --release for real numbers");
    }
    println!();
    println!("{}", Row::header());

    let mut all_ran = true;
    for &name in chosen {
        let result = match name {
            // A row per step, each printed as it is done.
            "small-rooms" | "small-rooms-mem" | "big-room" | "big-room-mem" => {
                scenarios::fixed_rate(&bench, name, print)
            }
            "fanout-100" | "fanout-100-mem" => scenarios::fanout(
                &bench,
                name,
                scenarios::FANOUT_100_CLIENTS,
                scenarios::FANOUT_100_RATE,
            )
            .map(print),
            "cluster-100" => cluster::cluster(&bench, name, cluster::CLUSTER_NODES).map(print),
            "cluster-100-one" => cluster::cluster(&bench, name, 1).map(print),
            "fanout-1000" | "fanout-1000-mem" => {
                scenarios::fanout(&bench, name, 1000, 100.0).map(print)
            }
            "ramp-1000" | "ramp-1000-mem" => scenarios::ramp(&bench, name).map(print),
            "idle-2000" => scenarios::idle(&bench, 2000).map(print),
            "idle-10000" => scenarios::idle(&bench, 10_000).map(print),
            "many-rooms" => scenarios::many_rooms(&bench).map(print),
            "cold-start" => scenarios::cold_start(&bench).map(print),
            "login-flood" => scenarios::login_flood(&bench, print),
            "uploads" => uploads::uploads(&bench).map(print),
            other => Err(format!("no scenario {other}").into()),
        };
        if let Err(err) = result {
            all_ran = false;
            let mut row = Row::new(name, 0);
            row.notes.push(format!("DID NOT RUN: {err}"));
            print(row);
        }
    }
    let _ = std::fs::remove_dir_all(&bench.scratch);
    Ok(all_ran)
}

/// Print a row of the table as soon as it is done.
fn print(row: Row) {
    println!("{}", row.line());
}

/// Above this much CPU used by other processes during a measurement (in % of
/// one core), the row says that its numbers are not to be trusted.
const BUSY_MACHINE_PERCENT: f64 = 20.0;
/// Above this much CPU time taken by the host (in % of one core), the same,
/// and traffic scenarios are run again (see `scenarios::least_disturbed`).
/// Measured here: 1% of steal left fanout-100's p99 near 2 ms, 4% made it
/// 15 ms, 24% made it 70 ms.
const BUSY_HOST_PERCENT: f64 = 2.0;

/// The scenario column's width: the longest name, a fixed-rate step's
/// (`small-rooms-mem @ 20,000/s`).
const SCENARIO_WIDTH: usize = 26;

/// One line of the table. Cells that do not apply stay `-`.
pub struct Row {
    scenario: String,
    clients: String,
    sent_rate: String,
    deliveries: String,
    lost: String,
    p50: String,
    p99: String,
    p999: String,
    max: String,
    server_cpu: String,
    generator_cpu: String,
    other_cpu: String,
    /// Server CPU seconds per million deliveries (every traffic row).
    cpu_per_million: String,
    /// The hub's pass, p99 and longest, and an event's wait for the hub, p99,
    /// from the server's `--metrics` (fixed-rate steps).
    pass_p99: String,
    pass_max: String,
    wait_p99: String,
    /// The host's steal in % of a core, when the row measured CPU: shown, and
    /// used to choose between attempts.
    stolen: Option<f64>,
    notes: Vec<String>,
}

impl Row {
    fn new(scenario: &str, clients: usize) -> Row {
        let dash = || "-".to_string();
        Row {
            scenario: scenario.to_string(),
            clients: thousands(clients as f64),
            sent_rate: dash(),
            deliveries: dash(),
            lost: dash(),
            p50: dash(),
            p99: dash(),
            p999: dash(),
            max: dash(),
            server_cpu: dash(),
            generator_cpu: dash(),
            other_cpu: dash(),
            cpu_per_million: dash(),
            pass_p99: dash(),
            pass_max: dash(),
            wait_p99: dash(),
            stolen: None,
            notes: Vec::new(),
        }
    }

    /// A row for a phase of traffic.
    fn traffic(scenario: &str, clients: usize, report: &PhaseReport) -> Row {
        let mut row = Row::new(scenario, clients);
        row.sent_rate = thousands(report.sent_rate());
        row.deliveries = thousands(report.deliveries_per_second);
        row.lost = thousands(report.lost() as f64);
        row.p50 = millis(report.p50);
        row.p99 = millis(report.p99);
        row.p999 = millis(report.p999);
        row.max = millis(report.max);
        row.set_cpu(report.cpu);
        if report.delivered > 0 {
            let per_million = report.cpu.server_seconds / report.delivered as f64 * 1e6;
            row.cpu_per_million = format!("{per_million:.2}");
        }
        row
    }

    fn set_cpu(&mut self, cpu: CpuUse) {
        if cpu.other > BUSY_MACHINE_PERCENT {
            self.notes.push(format!(
                "MACHINE BUSY: other processes used {:.0}% of a core meanwhile",
                cpu.other
            ));
        }
        if cpu.steal > BUSY_HOST_PERCENT {
            self.notes.push(format!(
                "HOST BUSY: the hypervisor took {:.0}% of a core meanwhile",
                cpu.steal
            ));
        }
        self.server_cpu = format!("{:.0}%", cpu.server);
        self.generator_cpu = format!("{:.0}%", cpu.generator);
        self.other_cpu = format!("{:.0}%", cpu.other);
        self.stolen = Some(cpu.steal);
    }

    fn header() -> String {
        format!(
            "{:<SCENARIO_WIDTH$} {:>7} {:>7} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>5} {:>5} {:>5} \
             {:>5} {:>7} {:>8} {:>8} {:>8}  notes",
            "scenario",
            "clients",
            "sent/s",
            "deliv/s",
            "lost",
            "p50",
            "p99",
            "p99.9",
            "max",
            "srv",
            "gen",
            "other",
            "steal",
            "srv s/M",
            "pass p99",
            "pass max",
            "wait p99"
        )
    }

    fn line(&self) -> String {
        format!(
            "{:<SCENARIO_WIDTH$} {:>7} {:>7} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>5} {:>5} {:>5} \
             {:>5} {:>7} {:>8} {:>8} {:>8}  {}",
            self.scenario,
            self.clients,
            self.sent_rate,
            self.deliveries,
            self.lost,
            self.p50,
            self.p99,
            self.p999,
            self.max,
            self.server_cpu,
            self.generator_cpu,
            self.other_cpu,
            self.stolen
                .map_or("-".to_string(), |steal| format!("{steal:.1}%")),
            self.cpu_per_million,
            self.pass_p99,
            self.pass_max,
            self.wait_p99,
            self.notes.join("; ")
        )
    }
}

/// `1234567.8` → `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Nanoseconds as milliseconds with about three significant digits.
fn millis(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 10.0 {
        format!("{ms:.2}ms")
    } else if ms < 100.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

/// The current date and time in UTC, as `2025-11-25 22:40 UTC`, computed from
/// the Unix time with the days-to-civil algorithm (Howard Hinnant's), to avoid
/// a date crate.
fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        time / 3600,
        time % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(millis(312_000), "0.31ms");
        assert_eq!(millis(28_400_000), "28.4ms");
        assert_eq!(millis(1_234_000_000), "1234ms");
    }
}
