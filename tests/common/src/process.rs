//! The real `natter` binary in a process of its own, and what `/proc` says
//! about a process. A crash there (even an abort) ends that process only, so
//! a test can report it.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{attach, TestServer, DEADLINE};

/// `natter --port 0` in its own process, started on free ports. Killed when
/// dropped, if it is still running.
pub struct Binary {
    pub child: Child,
    pub web: SocketAddr,
    pub ws: SocketAddr,
}

impl Binary {
    /// Start `natter --port 0 <args>` and wait (up to the deadline) for it to
    /// print where it listens.
    pub fn start(args: &[&str]) -> Binary {
        let mut command = Command::new(natter_exe());
        command.args(Binary::args(args));
        Binary::spawn(command)
    }

    /// Like `start`, under `ulimit FLAGS` (`-n 64`: at most 64 open files;
    /// `-Sn 1024`: a soft limit of 1024), with stderr going to `stderr` if
    /// given.
    pub fn start_with_ulimit(flags: &str, stderr: Option<&Path>, args: &[&str]) -> Binary {
        let redirect = stderr.map_or(String::new(), |path| format!(" 2>'{}'", path.display()));
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit {flags} && exec \"$0\" \"$@\"{redirect}"))
            .arg(natter_exe())
            .args(Binary::args(args));
        Binary::spawn(command)
    }

    /// The HTTP and WebSocket helpers, pointed at this process.
    pub fn server(&self) -> TestServer {
        attach(self.web, self.ws)
    }

    /// Send a signal by name (`TERM`, `INT`) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Whether the process has ended, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait works")
    }

    /// Wait up to `limit` for the process to end on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Free ports on loopback, and an in-memory database unless `args` name one.
    fn args<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--port", "0", "--host", "127.0.0.1"];
        all.extend_from_slice(args);
        if !args.contains(&"--db") {
            all.extend(["--db", ":memory:"]);
        }
        all
    }

    /// Run `command` with its stdout piped, and read it (on a thread of its
    /// own, so a silent process cannot block the test past the deadline)
    /// until it has said where both listeners are.
    fn spawn(mut command: Command) -> Binary {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, startup) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // Made before the wait, so that a process that never says where it
        // listens is killed (when this is dropped) as the test fails.
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut binary = Binary {
            child,
            web: unknown,
            ws: unknown,
        };
        (binary.web, binary.ws) = listening(&startup);
        binary
    }
}

/// The web and WebSocket addresses from the startup lines, which must come
/// within the deadline.
fn listening(startup: &mpsc::Receiver<String>) -> (SocketAddr, SocketAddr) {
    let deadline = Instant::now() + DEADLINE;
    let (mut web, mut ws): (Option<SocketAddr>, Option<u16>) = (None, None);
    loop {
        if let (Some(web), Some(ws)) = (web, ws) {
            return (web, SocketAddr::new(web.ip(), ws));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let line = startup
            .recv_timeout(left)
            .expect("the server says where it is listening before the deadline");
        if let Some(url) = line.split("open ").nth(1) {
            let addr = url
                .trim()
                .strip_prefix("http://")
                .and_then(|rest| rest.strip_suffix('/'))
                .unwrap_or_else(|| panic!("a URL to open: {line}"));
            web = Some(addr.parse().expect("host:port"));
        }
        if let Some(rest) = line.split("WebSocket listener on port ").nth(1) {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            ws = Some(port.parse::<u16>().expect("a port number"));
        }
    }
}

/// The `natter` binary cargo built for the tests. Cargo 1.94 and later tell
/// a test where at run time; older ones only tell the test crate itself (with
/// `env!`), not this library, and then it is where cargo always puts it: next
/// to the `deps/` directory the test runs from.
fn natter_exe() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_natter") {
        return path.into();
    }
    let test = std::env::current_exe().expect("a test knows its own path");
    test.parent()
        .and_then(Path::parent)
        .expect("a test runs from target/<profile>/deps")
        .join("natter")
}

impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's thread count, from `/proc/<pid>/status`.
pub fn proc_threads(pid: u32) -> usize {
    proc_status(pid, "Threads:")
        .parse()
        .expect("a number of threads")
}

/// A process's resident memory in bytes, from `/proc/<pid>/status`.
pub fn proc_rss(pid: u32) -> u64 {
    let kib: u64 = proc_status(pid, "VmRSS:")
        .strip_suffix("kB")
        .and_then(|n| n.trim().parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// A process's open file descriptors, counted in `/proc/<pid>/fd`.
pub fn proc_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process is alive")
        .count()
}

/// The value of one line of `/proc/<pid>/status`, trimmed.
fn proc_status(pid: u32, key: &str) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("a {key} line"))
}
