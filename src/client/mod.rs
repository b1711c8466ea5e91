//! `natter say` and `natter tail`: a bot's two commands, in the same binary,
//! on natter's own HTTP (`http.rs`) and WebSocket (tungstenite's client
//! handshake, `tail.rs`) code. Both take a room's bot token (`natter token
//! create`, or the room's settings on the page).
//!
//! ```text
//! natter say --url http://127.0.0.1:8080 --room builds --token ntb_… "deploy done"
//! natter tail --url http://127.0.0.1:8080 --room builds --token ntb_… [--json]
//! ```

mod http;
mod tail;

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

pub use http::Url;

/// How long to wait for natter to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request may wait for a byte of its answer (`say`, and asking
/// where the WebSocket is). Above the server's own `HUB_REPLY_TIMEOUT` (5 s),
/// so a busy server answers "busy" before the client gives up.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The most of an answer read: a message is at most 12 000 bytes of text,
/// and its JSON a few times that.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// How often `say` tries again when it cannot reach natter (or natter is
/// busy), a second apart, doubling: with the same `client_id`, so a post
/// that did arrive is never posted twice.
const SAY_ATTEMPTS: u32 = 4;

/// `tail`'s wait before reconnecting: from the first, doubling to the last.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
const RECONNECT_MOST: Duration = Duration::from_secs(30);

/// How long `tail` waits for a frame before it takes the connection for
/// dead and reconnects: the server pings every 25 s.
const TAIL_SILENCE: Duration = Duration::from_secs(75);

const USAGE: &str = "usage: natter say --url URL --room ROOM [--token TOKEN] TEXT
                                  post TEXT (- reads it from stdin) as the token's bot
       natter tail --url URL --room ROOM [--token TOKEN] [--json] [--since N]
                                  print the room's messages, then follow it live,
                                  reconnecting and resuming without gaps

  --url URL      natter's web address, http://host:port (plain http only)
  --room ROOM    the token's room
  --token TOKEN  a bot token (ntb_…); without it, $NATTER_TOKEN, which keeps it
                 out of the process list
  --json         one JSON object per line: each message in its current state,
                 and each edit, delete and reactions frame as it comes
  --since N      start after this cursor (from an earlier --json run) instead
                 of the room's recent history";

/// What both commands are given.
struct Target {
    url: Url,
    room: String,
    token: String,
}

/// `natter say ...`.
pub fn say_main(mut args: pico_args::Arguments) -> ExitCode {
    if args.contains(["-h", "--help"]) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let target = match target(&mut args) {
        Ok(target) => target,
        Err(why) => return usage("say", &why),
    };
    let text: Option<String> = args.opt_free_from_str().ok().flatten();
    if let Some(extra) = args.finish().first() {
        return usage(
            "say",
            &format!("unknown argument {:?}", extra.to_string_lossy()),
        );
    }
    let text = match text.as_deref() {
        None => return usage("say", "say what? give the text (or - to read stdin)"),
        Some("-") => {
            let mut text = String::new();
            if let Err(err) = std::io::stdin().read_to_string(&mut text) {
                return fail("say", &format!("cannot read stdin: {err}"));
            }
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        Some(text) => text.to_string(),
    };
    match say(&target, &text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => fail("say", &why),
    }
}

/// Post `text`, trying again (with the same `client_id`) while natter
/// cannot be reached or is busy.
fn say(target: &Target, text: &str) -> Result<(), String> {
    let client_id = format!(
        "say-{}",
        &crate::session::new_token().map_err(|e| e.to_string())?[..16]
    );
    let body = json!({"text": text, "client_id": client_id}).to_string();
    let path = format!(
        "/api/v1/rooms/{}/messages",
        crate::web::encode_component(&target.room)
    );
    let headers = [
        format!("Authorization: Bearer {}", target.token),
        "Content-Type: application/json".to_string(),
    ];
    let mut wait = RECONNECT_FIRST;
    let mut attempt = 1;
    loop {
        let outcome = http::request(&target.url, "POST", &path, &headers, body.as_bytes());
        let retry = match &outcome {
            Err(_) => true,
            Ok(answer) => answer.status == 503,
        };
        if !retry || attempt == SAY_ATTEMPTS {
            let answer = outcome?;
            return match answer.status {
                200..=299 => Ok(()),
                _ => Err(refusal(&answer)),
            };
        }
        std::thread::sleep(wait);
        wait *= 2;
        attempt += 1;
    }
}

/// `natter tail ...`.
pub fn tail_main(mut args: pico_args::Arguments) -> ExitCode {
    if args.contains(["-h", "--help"]) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let json = args.contains("--json");
    let since: Option<u64> = match args.opt_value_from_str("--since") {
        Ok(since) => since,
        Err(err) => return usage("tail", &format!("bad value for --since: {err}")),
    };
    let target = match target(&mut args) {
        Ok(target) => target,
        Err(why) => return usage("tail", &why),
    };
    if let Some(extra) = args.finish().first() {
        return usage(
            "tail",
            &format!("unknown argument {:?}", extra.to_string_lossy()),
        );
    }
    match tail::run(&target, since, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => fail("tail", &why),
    }
}

/// `--url`, `--room` and the token, from the flags or `NATTER_TOKEN`.
fn target(args: &mut pico_args::Arguments) -> Result<Target, String> {
    let flag = |args: &mut pico_args::Arguments, name: &'static str| {
        args.opt_value_from_str::<_, String>(name)
            .map_err(|e| format!("bad value for {name}: {e}"))
    };
    let url = flag(args, "--url")?.ok_or("--url is needed: natter's web address")?;
    let room = flag(args, "--room")?.ok_or("--room is needed: the token's room")?;
    let token = match flag(args, "--token")? {
        Some(token) => token,
        None => std::env::var("NATTER_TOKEN")
            .map_err(|_| "--token is needed (or NATTER_TOKEN in the environment)")?,
    };
    Ok(Target {
        url: Url::parse(&url, "http", 80)?,
        room,
        token,
    })
}

/// The server's reason, from its error answer (`{"error":{"message":…}}`).
fn refusal(answer: &http::Answer) -> String {
    let parsed: Option<Value> = serde_json::from_str(&answer.body).ok();
    match parsed.as_ref().and_then(|v| v["error"]["message"].as_str()) {
        Some(message) => message.to_string(),
        None => format!(
            "the server answered {}: {}",
            answer.status,
            answer.body.trim()
        ),
    }
}

fn usage(command: &str, why: &str) -> ExitCode {
    eprintln!("natter {command}: {why}\n\n{USAGE}");
    ExitCode::from(2)
}

fn fail(command: &str, why: &str) -> ExitCode {
    eprintln!("natter {command}: {why}");
    ExitCode::FAILURE
}
