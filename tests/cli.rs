//! The real `natter` binary, as an operator runs it: `--version` and `--help`
//! answer and exit 0; a mistake on the command line exits 2 with a one-line
//! error and the usage; started, it says where to open it, serves there, and on
//! SIGTERM tells every open WebSocket it is going away (1001) and exits 0.

use natter_testkit as common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Binary;

const BIN: &str = env!("CARGO_BIN_EXE_natter");

/// How long a stopping server may take before the test calls it stuck.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_the_version_and_exits_0() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        let stdout = text(&out.stdout);
        assert_eq!(
            stdout.trim(),
            format!("natter {}", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

#[test]
fn help_prints_the_usage_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        let stdout = text(&out.stdout);
        assert!(stdout.contains("usage: natter"), "{flag}: {stdout}");
        for option in [
            "--port",
            "--ws-port",
            "--host",
            "--public-url",
            "--ws-url",
            "--allowed-host",
            "--max-web-per-ip",
            "--max-exports",
            "--history",
        ] {
            assert!(stdout.contains(option), "{flag} documents {option}");
        }
        assert!(out.stderr.is_empty(), "help is not an error");
    }
}

/// A command-line mistake: exit status 2, one line saying what is wrong, then
/// the usage, all on stderr; nothing on stdout; no server started.
fn usage_error(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", out.status);
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout {:?}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    let mut lines = stderr.lines();
    let first = lines.next().unwrap_or("").to_string();
    assert!(first.starts_with("natter: "), "{args:?}: {stderr}");
    assert_eq!(
        lines.next(),
        Some(""),
        "{args:?}: the error is one line, then the usage: {stderr}"
    );
    assert!(stderr.contains("usage: natter"), "{args:?}: {stderr}");
    first
}

#[test]
fn an_unknown_flag_exits_2_naming_it_with_the_usage() {
    let error = usage_error(&["--bogus"]);
    assert!(
        error.contains("--bogus"),
        "the error names the flag: {error}"
    );
    let error = usage_error(&["--port", "0", "--bogus"]);
    assert!(error.contains("--bogus"), "{error}");
    let error = usage_error(&["stray"]);
    assert!(error.contains("stray"), "{error}");
}

#[test]
fn a_malformed_value_exits_2() {
    let error = usage_error(&["--port", "abc"]);
    assert!(
        error.contains("abc"),
        "the error shows the bad value: {error}"
    );
    let error = usage_error(&["--port", "70000"]);
    assert!(error.contains("70000"), "{error}");
    let error = usage_error(&["--history", "-1"]);
    assert!(error.contains("-1"), "{error}");
}

#[test]
fn a_flag_without_its_value_exits_2() {
    let error = usage_error(&["--port"]);
    assert!(error.contains("--port"), "{error}");
}

#[test]
fn bad_urls_exit_2() {
    let error = usage_error(&["--ws-url", "http://chat.example.com/ws"]);
    assert!(error.contains("--ws-url"), "{error}");
    let error = usage_error(&["--public-url", "chat.example.com"]);
    assert!(error.contains("--public-url"), "{error}");
    let error = usage_error(&["--allowed-host", "chat.lan/x"]);
    assert!(error.contains("--allowed-host"), "{error}");
}

#[test]
fn allowed_hosts_repeat_and_are_answered() {
    let running = Binary::start(&["--allowed-host", "chat.lan", "--allowed-host", "pi.home"]);
    let server = running.server();
    for (host, status) in [
        ("chat.lan", 200),
        ("pi.home:8080", 200),
        ("evil.example", 421),
    ] {
        let page = server.raw(
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(page.status, status, "{host}");
    }
}

fn start() -> Binary {
    Binary::start(&[])
}

#[test]
fn it_says_where_to_open_it_and_serves_there() {
    let running = start();
    assert_ne!(running.web.port(), 0, "a real port was picked");
    assert_ne!(running.ws.port(), 0);
    assert_ne!(running.web.port(), running.ws.port());
    let server = running.server();
    let health = server.get("/healthz", None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body.trim(), "ok");
    let page = server.get("/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("action=\"/login\""));
}

#[test]
fn sigterm_stops_it_with_exit_status_0() {
    let mut running = start();
    assert_eq!(running.server().get("/healthz", None).status, 200);
    running.signal("TERM");
    let status = running
        .wait_exit(EXIT_DEADLINE)
        .expect("it exits after SIGTERM");
    assert!(
        status.success(),
        "a requested stop is a success: {status:?}"
    );
}

#[test]
fn sigint_stops_it_with_exit_status_0() {
    let mut running = start();
    assert_eq!(running.server().get("/healthz", None).status, 200);
    running.signal("INT");
    let status = running
        .wait_exit(EXIT_DEADLINE)
        .expect("it exits after SIGINT");
    assert!(status.success(), "Ctrl-C is a success: {status:?}");
}

#[test]
fn sigterm_closes_open_websockets_with_1001() {
    let mut running = start();
    let server = running.server();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    alice.say("lobby", "before the end");
    assert_eq!(bob.recv_message()["text"], "before the end");

    running.signal("TERM");
    assert_eq!(
        alice.expect_close(),
        Some(1001),
        "alice is told it is going away"
    );
    assert_eq!(
        bob.expect_close(),
        Some(1001),
        "bob is told it is going away"
    );
    // The clients answer the close (tungstenite does it while reading), so
    // the server need not wait out its flush timeout; either way it exits 0.
    let status = running
        .wait_exit(EXIT_DEADLINE)
        .expect("it exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}
