//! `natter say` and `natter tail`, the real binary against a real server:
//! `say` posts as the token's bot (from an argument or stdin) and says why
//! when refused; `tail` prints the room and follows it, and across a server
//! restart it resumes from its cursor: nothing is missed, nothing printed
//! twice. Every wait has a deadline.

use natter_testkit as common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::rooms::Rooms;
use serde_json::Value;

fn natter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_natter"))
}

/// A bot token for `room` made by the operator on `db`: its secret.
fn token(db: &str, room: &str, name: &str, scope: &str) -> String {
    let out = natter()
        .args(["token", "create", room, name, "--scope", scope, "--db", db])
        .output()
        .expect("natter token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string()
}

/// `natter say` with these arguments (and `stdin`): exit code and stderr.
fn say(args: &[&str], stdin: Option<&str>) -> (Option<i32>, String) {
    let mut child = natter()
        .arg("say")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natter say runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn say_posts_as_the_bot_and_says_why_when_refused() {
    let dir = common::TempDir::new("cli-say");
    let db = dir.file("chat.db");
    let server = common::start_with(|c| c.db = db.clone());
    let secret = token(&db, "builds", "ci-bot", "post");
    let url = format!("http://{}", server.web);
    let mut alice = server.person("alice");
    alice.enter("builds");

    let (code, err) = say(
        &[
            "--url",
            &url,
            "--room",
            "builds",
            "--token",
            &secret,
            "deploy done",
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    let m = alice.recv_message();
    assert_eq!(
        (m["text"].as_str(), m["user"].as_str(), m["bot"].as_bool()),
        (Some("deploy done"), Some("ci-bot"), Some(true))
    );

    // From stdin, the token from the environment (out of `ps`).
    let mut child = natter()
        .args(["say", "--url", &url, "--room", "builds", "-"])
        .env("NATTER_TOKEN", &secret)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from a pipe\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(alice.recv_message()["text"], "from a pipe");

    // Refusals say why and exit 1; bad arguments exit 2.
    let (code, err) = say(
        &[
            "--url",
            &url,
            "--room",
            "elsewhere",
            "--token",
            &secret,
            "x",
        ],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("for #builds only"), "{err}");
    let made_up = "ntb_0123456789abcdef0123456789abcdef";
    let (code, err) = say(
        &["--url", &url, "--room", "builds", "--token", made_up, "x"],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("not valid"), "{err}");
    let (code, err) = say(
        &[
            "--url",
            "https://example.com",
            "--room",
            "builds",
            "--token",
            &secret,
            "x",
        ],
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _) = say(&["--url", &url, "--token", &secret, "x"], None);
    assert_eq!(code, Some(2), "no --room");
}

/// `natter tail --json` running, and its lines as they come.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Tail {
    fn start(url: &str, room: &str, secret: &str) -> Tail {
        let mut child = natter()
            .args([
                "tail", "--url", url, "--room", room, "--token", secret, "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("natter tail runs");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Tail { child, lines }
    }

    /// The texts of the messages printed until one says `text` (within 30 s:
    /// a reconnect waits a few seconds first).
    fn until(&self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut texts = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("tail never printed {text:?}; it printed {texts:?}"));
            let frame: Value = serde_json::from_str(&line).expect("each line is JSON");
            if frame["type"] == "message" {
                let t = frame["text"].as_str().unwrap().to_string();
                texts.push(t.clone());
                if t == text {
                    return texts;
                }
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two ports nothing listens on now.
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

#[test]
fn tail_prints_the_room_then_follows_it_and_resumes_across_a_restart() {
    let dir = common::TempDir::new("cli-tail");
    let db = dir.file("chat.db");
    let (web, ws) = free_ports();
    let config = |c: &mut common::Config| {
        c.db = db.clone();
        c.port = web;
        c.ws_port = Some(ws);
    };
    let server = common::restart_with(config);
    let secret = token(&db, "builds", "watcher", "read");
    let mut alice = server.person("alice");
    alice.enter("builds");
    alice.said("builds", "before tail");
    let url = format!("http://127.0.0.1:{web}");

    let tail = Tail::start(&url, "builds", &secret);
    assert_eq!(
        tail.until("before tail"),
        ["before tail"],
        "the history first"
    );
    alice.said("builds", "live");
    assert_eq!(tail.until("live"), ["live"]);
    drop(alice);
    assert!(server.shutdown());

    // natter restarts on the same ports and database; tail connects again
    // and resumes after "live": nothing twice, nothing missed.
    let server = common::restart_with(config);
    let mut bob = server.person("bob");
    bob.enter("builds");
    bob.said("builds", "after the restart");
    bob.said("builds", "and one more");
    assert_eq!(
        tail.until("and one more"),
        ["after the restart", "and one more"]
    );
}
