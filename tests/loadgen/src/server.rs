//! The server under test, as a child process, and what `/proc` says about it.
//!
//! Every scenario starts its own server, so no scenario inherits another's
//! rooms, sessions or memory. The server picks free ports (`--port 0`) and
//! prints them on stdout; we read them from there, exactly as a person would.
//! The same goes for its metrics listener, when a scenario asks for one
//! (`--metrics 127.0.0.1:0`: see `metrics.rs`).
//!
//! # CPU accounting
//!
//! `/proc/<pid>/stat` counts the CPU time of all of a process's threads, in
//! clock ticks, as `utime` (user) and `stime` (kernel). Reading it before and
//! after a window, for the server and for ourselves (`/proc/self/stat`), gives
//! each side's CPU use as a percentage of one core. On a 2-core box the two
//! together cannot exceed 200%: a generator near its limit would show here.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::Endpoints;
use crate::Error;

/// The longest natter makes a room's member list wait: a copy of
/// `natter::config::MAX_PRESENCE_INTERVAL` (src/config/chat.rs), which [`settle`]
/// waits out. If natter's grows past this, `settle` may stop before the last
/// list of a join storm, and that list is measured as latency.
const MAX_PRESENCE_INTERVAL: Duration = Duration::from_secs(2);

/// How long a server may take to print its ports before we give up on it.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the metrics line once the ports are printed. natter
/// prints it right after them (`greet` in src/server.rs), so this is only for
/// a server that took `--metrics` and says nothing of it.
const METRICS_LINE_TIMEOUT: Duration = Duration::from_secs(1);

/// The flag that asks natter for a metrics listener (src/main.rs).
pub const METRICS_FLAG: &str = "--metrics";

/// Server stderr lines kept for the report (all of them are counted).
const STDERR_KEPT: usize = 20;

/// A running natter server. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    pub endpoints: Endpoints,
    /// Where `GET /metrics` is answered, if the server was started with
    /// `--metrics` and said where.
    pub metrics: Option<SocketAddr>,
    /// When `spawn` was called: the start of the cold-start clock.
    pub spawned: Instant,
    stderr: Arc<Mutex<StderrLog>>,
}

#[derive(Default)]
struct StderrLog {
    count: usize,
    first: Vec<String>,
}

impl ServerProcess {
    /// Start `binary` on free ports with `flags`, and wait until it says where
    /// it listens (and, if `flags` ask for metrics, where those are).
    pub fn start(binary: &Path, flags: &[String]) -> Result<ServerProcess, Error> {
        let spawned = Instant::now();
        let mut child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let pid = child.id();

        // Both pipes are drained by threads for the server's whole life, so a
        // chatty server never blocks on a full pipe.
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (lines, first_lines) = crossbeam_channel::unbounded();
        thread::Builder::new()
            .name("server-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            })?;
        let stderr_pipe = child.stderr.take().ok_or("no stderr pipe")?;
        let stderr = Arc::new(Mutex::new(StderrLog::default()));
        let log = stderr.clone();
        thread::Builder::new()
            .name("server-stderr".into())
            .spawn(move || {
                for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.count += 1;
                    if log.first.len() < STDERR_KEPT && !line.trim().is_empty() {
                        log.first.push(line);
                    }
                }
            })?;

        let mut server = ServerProcess {
            child,
            pid,
            endpoints: Endpoints {
                web: ([127, 0, 0, 1], 0).into(),
                ws: ([127, 0, 0, 1], 0).into(),
            },
            metrics: None,
            spawned,
            stderr,
        };
        let deadline = spawned + START_TIMEOUT;
        let (mut web, mut ws) = (None, None);
        while web.is_none() || ws.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = first_lines.recv_timeout(left).map_err(|_| {
                format!(
                    "the server did not print its ports within {START_TIMEOUT:?}; stderr: {}",
                    server.stderr_summary()
                )
            })?;
            parse_ports(&line, &mut web, &mut ws);
        }
        server.endpoints.web.set_port(web.unwrap_or_default());
        server.endpoints.ws.set_port(ws.unwrap_or_default());
        if flags.iter().any(|f| f == METRICS_FLAG) {
            // The line comes right after the ports. If it never does (the
            // server ignores the flag, or died), the scenario goes on
            // without the server's figures.
            let deadline = Instant::now() + METRICS_LINE_TIMEOUT;
            while server.metrics.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                match first_lines.recv_timeout(left) {
                    Ok(line) => server.metrics = parse_metrics_line(&line),
                    Err(_) => break,
                }
            }
        }
        Ok(server)
    }

    /// How many lines the server wrote to stderr, and the first one.
    pub fn stderr_summary(&self) -> String {
        let log = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        match log.first.first() {
            None => "none".to_string(),
            Some(first) => format!("{} line(s), first: {first:?}", log.count),
        }
    }

    /// The first lines the server wrote to stderr (up to `STDERR_KEPT`).
    pub fn stderr_lines(&self) -> Vec<String> {
        let log = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        log.first.clone()
    }

    /// Lines the server wrote to stderr so far.
    pub fn stderr_count(&self) -> usize {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).count
    }

    /// Whether the process has exited (crashed, or refused its flags).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

/// The ports in one line of the server's greeting, if it has them.
fn parse_ports(line: &str, web: &mut Option<u16>, ws: &mut Option<u16>) {
    // "metrics on http://127.0.0.1:PORT/metrics" is not the web port.
    if parse_metrics_line(line).is_some() {
        return;
    }
    // "natter is running: open http://127.0.0.1:PORT/"
    if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
        *web = rest.trim_end_matches('/').parse::<u16>().ok();
    }
    // "(WebSocket listener on port N; Ctrl-C to stop)"
    if let Some(rest) = line.split("WebSocket listener on port ").nth(1) {
        *ws = rest.split(';').next().and_then(|p| p.parse::<u16>().ok());
    }
}

/// Where the metrics are, from "metrics on http://ADDR/metrics".
fn parse_metrics_line(line: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix("metrics on http://")?
        .strip_suffix("/metrics")?
        .parse()
        .ok()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The most clients any scenario connects (idle-10000), with room to spare:
/// the bench's `--max-connections` and `--max-per-ip`.
const MOST_CLIENTS: &str = "12000";

/// What the server says to `--help`: which flags it knows. Older servers lack
/// some, so the bench asks rather than assumes, and works with both.
pub fn help(binary: &Path) -> Result<String, Error> {
    let output = Command::new(binary).arg("--help").output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The flags that lift the server's per-address limits, for the ones this
/// server knows (`help` is its `--help`). Every bench client comes from
/// 127.0.0.1, so a rate limit or a per-address cap would throttle the bench,
/// not protect anyone.
pub fn unlimited_flags(help: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for (flag, value) in [
        ("--rate-limit", "off"),
        ("--max-connections", MOST_CLIENTS),
        ("--max-per-ip", MOST_CLIENTS),
        ("--max-sessions-per-ip", MOST_CLIENTS),
        ("--max-web-per-ip", MOST_CLIENTS),
    ] {
        if help.contains(flag) {
            flags.extend([flag.to_string(), value.to_string()]);
        }
    }
    flags
}

/// The binary to benchmark unless `--server PATH` says otherwise: the
/// `natter` built next to this `natter-bench`.
pub fn default_binary() -> Result<PathBuf, Error> {
    let bench = std::env::current_exe()?;
    let natter = bench.with_file_name("natter");
    match natter.exists() {
        true => Ok(natter),
        false => Err(format!(
            "no natter next to {}; build it (make static) or pass --server PATH",
            bench.display()
        )
        .into()),
    }
}

// -- /proc ----------------------------------------------------------------------

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// User plus system CPU time of a process (`None`: this one), in clock ticks.
pub fn cpu_ticks(pid: Option<u32>) -> u64 {
    let stat = std::fs::read_to_string(proc_path(pid, "stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may contain spaces, so
    // count fields from after its closing parenthesis: state is field 3, and
    // utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Clock ticks per second, for `cpu_ticks` (`getconf CLK_TCK`; 100 on Linux).
fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// A number from `/proc/<pid>/status`, such as `VmRSS` (KiB) or `Threads`.
pub fn status_value(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(proc_path(Some(pid), "status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// How many file descriptors a process has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(proc_path(Some(pid), "fd")).map_or(0, |dir| dir.count())
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` has them.
pub fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Raise this process's limit on open files as far as the system's hard limit
/// allows, and return it: the generator holds a socket per client, and the
/// server, which inherits the limit, one per connection. idle-10000 needs far
/// more than the 1024 many systems start programs with.
pub fn raise_fd_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// The `cpu` line of `/proc/stat`, in clock ticks.
struct MachineTicks {
    /// Time every process on the machine used: the user, nice and system
    /// columns.
    busy: u64,
    /// Time the hypervisor ran something else while this virtual machine's
    /// cores had work: the steal column (the 8th). Zero on bare metal.
    steal: u64,
}

fn machine_ticks() -> MachineTicks {
    MachineTicks::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
}

impl MachineTicks {
    /// From the text of `/proc/stat`, whose first line is `cpu  user nice
    /// system idle iowait irq softirq steal ...`.
    fn parse(stat: &str) -> MachineTicks {
        let columns: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        MachineTicks {
            busy: columns.iter().take(3).sum(),
            steal: columns.get(7).copied().unwrap_or(0),
        }
    }
}

/// Measures the CPU used by the server and by the generator over a window,
/// and by everything else on the machine, which should be close to nothing:
/// other work on the box shows up as noise in the latencies.
///
/// "The server" may be several processes (a cluster's nodes and its Redis):
/// their CPU is summed, as what serving the load cost in all.
pub struct CpuMeter {
    servers: Vec<u32>,
    started: Instant,
    server_ticks: u64,
    own_ticks: u64,
    machine: MachineTicks,
}

/// CPU use over a window, in percent of one core.
#[derive(Clone, Copy, Default)]
pub struct CpuUse {
    pub server: f64,
    pub generator: f64,
    /// Every other process on the machine.
    pub other: f64,
    /// Time the host took from this machine's cores (see `MachineTicks`). On
    /// a shared virtual machine this, more than anything, decides the tail
    /// latencies: a stolen core stalls whatever thread was on it.
    pub steal: f64,
    /// The server's CPU time in the window, in seconds (user plus system):
    /// what a delivery costs it, once divided by the deliveries.
    pub server_seconds: f64,
}

impl CpuMeter {
    pub fn start(server: u32) -> CpuMeter {
        CpuMeter::start_all(&[server])
    }

    /// A meter whose server is all of `servers` together.
    pub fn start_all(servers: &[u32]) -> CpuMeter {
        CpuMeter {
            servers: servers.to_vec(),
            started: Instant::now(),
            server_ticks: servers_ticks(servers),
            own_ticks: cpu_ticks(None),
            machine: machine_ticks(),
        }
    }

    pub fn read(&self) -> CpuUse {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let percent = |ticks: u64| 100.0 * ticks as f64 / ticks_per_second() as f64 / seconds;
        let server = servers_ticks(&self.servers).saturating_sub(self.server_ticks);
        let generator = cpu_ticks(None).saturating_sub(self.own_ticks);
        let machine = machine_ticks();
        let busy = machine.busy.saturating_sub(self.machine.busy);
        CpuUse {
            server: percent(server),
            generator: percent(generator),
            other: percent(busy.saturating_sub(server + generator)),
            steal: percent(machine.steal.saturating_sub(self.machine.steal)),
            server_seconds: server as f64 / ticks_per_second() as f64,
        }
    }
}

/// The CPU ticks of several processes together.
fn servers_ticks(servers: &[u32]) -> u64 {
    servers.iter().map(|&pid| cpu_ticks(Some(pid))).sum()
}

/// Wait until the server has been nearly idle (under 5% of a core) for longer
/// than the longest gap between member lists, or `limit` has passed. Used after
/// connecting a crowd: a thousand joins send every member a thousand notices
/// and, spaced out (up to `MAX_PRESENCE_INTERVAL` apart in a big room), member
/// lists. That storm must be over before latency is measured; a list arriving
/// during the first measured second would be measured as latency.
pub fn settle(server: u32, limit: Duration) {
    settle_all(&[server], limit);
}

/// `settle` for a server made of several processes (a cluster's nodes and its
/// Redis): all of them together under 5% of a core. A follower's join storm
/// goes through the leader and Redis too, so all of them must be done.
pub fn settle_all(servers: &[u32], limit: Duration) {
    let needed = MAX_PRESENCE_INTERVAL + Duration::from_millis(500);
    let deadline = Instant::now() + limit;
    let mut quiet_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let meter = CpuMeter::start_all(servers);
        thread::sleep(Duration::from_millis(200));
        if meter.read().server < 5.0 {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= needed {
                return;
            }
        } else {
            quiet_since = None;
        }
    }
}

/// Whether an ELF executable asks for a dynamic loader (a `PT_INTERP` program
/// header). `None` if the file is not a 64-bit little-endian ELF.
pub fn is_dynamic(binary: &Path) -> Option<bool> {
    let mut file = std::fs::File::open(binary).ok()?;
    let mut head = vec![0u8; 64 * 1024];
    let n = file.read(&mut head).ok()?;
    let head = &head[..n];
    if !head.starts_with(b"\x7fELF\x02\x01") {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?));
    let (offset, size, count) = (
        usize::try_from(u64_at(0x20)?).ok()?,
        usize::from(u16_at(0x36)?),
        usize::from(u16_at(0x38)?),
    );
    const PT_INTERP: u32 = 3;
    let mut dynamic = false;
    for i in 0..count {
        dynamic |= u32_at(offset + i * size)? == PT_INTERP;
    }
    Some(dynamic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_and_steal_come_from_the_cpu_line() {
        let stat = "cpu  556111 23347 225774 670789 4455 0 73173 34867 0 0\n\
                    cpu0 278000 11000 112000 335000 2200 0 36000 17000 0 0\n";
        let ticks = MachineTicks::parse(stat);
        assert_eq!(ticks.busy, 556_111 + 23_347 + 225_774);
        assert_eq!(ticks.steal, 34_867);
        // Bare metal kernels of old had no steal column.
        assert_eq!(MachineTicks::parse("cpu  1 2 3 4\n").steal, 0);
    }

    #[test]
    fn the_metrics_line_is_not_the_web_port() {
        let (mut web, mut ws) = (None, None);
        for line in [
            "natter is running: open http://127.0.0.1:41679/",
            "history is kept in memory only (--db :memory:)",
            "(WebSocket listener on port 44641; Ctrl-C to stop)",
            "metrics on http://127.0.0.1:41475/metrics",
        ] {
            parse_ports(line, &mut web, &mut ws);
        }
        assert_eq!((web, ws), (Some(41679), Some(44641)));
        assert_eq!(
            parse_metrics_line("metrics on http://127.0.0.1:41475/metrics"),
            Some(([127, 0, 0, 1], 41475).into())
        );
        assert_eq!(
            parse_metrics_line("natter is running: open http://127.0.0.1:41679/"),
            None
        );
    }

    /// A stand-in server: a shell script that prints natter's greeting, with
    /// or without the metrics line, and refuses `--metrics` if told to.
    fn fake_server(name: &str, metrics_line: bool, refuse_metrics: bool) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "natter-bench-test-{}-{name}.sh",
            std::process::id()
        ));
        let refuse = if refuse_metrics {
            "for a in \"$@\"; do [ \"$a\" = --metrics ] && { echo 'unknown flag' >&2; exit 2; }; done\n"
        } else {
            ""
        };
        let metrics = if metrics_line {
            "echo 'metrics on http://127.0.0.1:9/metrics'\n"
        } else {
            ""
        };
        let script = format!(
            "#!/bin/sh\n{refuse}echo 'natter is running: open http://127.0.0.1:8/'\n\
             echo '(WebSocket listener on port 7; Ctrl-C to stop)'\n{metrics}exec sleep 5\n"
        );
        std::fs::write(&path, script).expect("a temporary file");
        let mut permissions = std::fs::metadata(&path)
            .expect("just written")
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).expect("our own file");
        path
    }

    #[test]
    fn a_server_without_metrics_still_starts() {
        let flags = [METRICS_FLAG.to_string(), "127.0.0.1:0".to_string()];
        let with = fake_server("with", true, false);
        let server = ServerProcess::start(&with, &flags).expect("it prints its ports");
        assert_eq!(server.metrics, Some(([127, 0, 0, 1], 9).into()));
        assert_eq!(server.endpoints.web.port(), 8);
        drop(server);
        // Took the flag, said nothing of it: no metrics, but a server.
        let silent = fake_server("silent", false, false);
        let server = ServerProcess::start(&silent, &flags).expect("it prints its ports");
        assert_eq!(server.metrics, None);
        assert_eq!(server.endpoints.ws.port(), 7);
        drop(server);
        // Refused the flag: an error the scenario falls back from.
        let refusing = fake_server("refusing", false, true);
        assert!(ServerProcess::start(&refusing, &flags).is_err());
        assert!(ServerProcess::start(&refusing, &[]).is_ok());
        for path in [with, silent, refusing] {
            let _ = std::fs::remove_file(path);
        }
    }
}
