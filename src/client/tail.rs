//! `natter tail`: follow a room over a WebSocket opened with the bot's token,
//! and never miss or repeat a message across reconnects.
//!
//! It keeps what the page keeps: the room's cursor (the highest `cursor`,
//! `id` or `seq` it has seen) and the database's `epoch`. When the connection
//! drops (natter restarts, the network blinks), it connects again and joins
//! with `since` and `epoch`, and the server answers exactly what came in
//! between: new messages, and older ones that changed. A `gap` (more was
//! missed than the server replays, or another database) is said on stderr.

use std::io::Write;
use std::net::TcpStream;

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{HandshakeError, Message};

use super::http::{self, Url};
use super::{refusal, Target, CONNECT_TIMEOUT, RECONNECT_FIRST, RECONNECT_MOST, TAIL_SILENCE};

/// Where the room was left: what the next `join` resumes from.
#[derive(Default)]
struct Place {
    cursor: Option<u64>,
    epoch: Option<String>,
}

/// How one connection ended.
enum Ended {
    /// Nobody reads our output any more (`natter tail | head`): done.
    StdoutClosed,
    /// Gone for a reason that may pass (restart, network): connect again.
    /// `joined`: it had joined, so the next wait starts short again.
    Dropped { why: String, joined: bool },
    /// Refused for good (a revoked token, another room): stop.
    Refused(String),
}

pub(super) fn run(target: &Target, since: Option<u64>, json: bool) -> Result<(), String> {
    let mut place = Place {
        cursor: since,
        epoch: None,
    };
    let mut wait = RECONNECT_FIRST;
    loop {
        match follow(target, &mut place, json) {
            Ended::StdoutClosed => return Ok(()),
            Ended::Refused(why) => return Err(why),
            Ended::Dropped { why, joined } => {
                if joined {
                    wait = RECONNECT_FIRST;
                }
                eprintln!(
                    "natter tail: {why}; connecting again in {} s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
                wait = (wait * 2).min(RECONNECT_MOST);
            }
        }
    }
}

/// One connection: find the WebSocket, open it with the token, join, and
/// print what comes until it ends.
fn follow(target: &Target, place: &mut Place, json: bool) -> Ended {
    let dropped = |why: String| Ended::Dropped { why, joined: false };
    let url = match ws_url(target) {
        Ok(url) => url,
        Err(ended) => return ended,
    };
    let address = std::net::ToSocketAddrs::to_socket_addrs(&url.authority)
        .ok()
        .and_then(|mut a| a.next());
    let Some(address) = address else {
        return dropped(format!("{} has no address", url.authority));
    };
    let stream = match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
        Ok(stream) => stream,
        Err(err) => return dropped(format!("cannot reach {}: {err}", url.authority)),
    };
    // Silence this long means a dead connection (the server pings every 25 s).
    let _ = stream.set_read_timeout(Some(TAIL_SILENCE));
    let mut request = match format!("ws://{}{}", url.authority, url.prefix).into_client_request() {
        Ok(request) => request,
        Err(err) => return Ended::Refused(format!("a WebSocket URL natter gave is bad: {err}")),
    };
    let Ok(bearer) = format!("Bearer {}", target.token).parse() else {
        return Ended::Refused("the token holds characters no header may".into());
    };
    request.headers_mut().insert("Authorization", bearer);
    let mut socket = match tungstenite::client(request, stream) {
        Ok((socket, _)) => socket,
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let why = format!(
                "natter refused ({status}): {}",
                String::from_utf8_lossy(body).trim()
            );
            return match status {
                400..=499 if status != 429 => Ended::Refused(why),
                _ => dropped(why),
            };
        }
        Err(err) => return dropped(format!("the WebSocket handshake failed: {err}")),
    };
    let mut join = json!({"type": "join", "room": target.room});
    if let Some(cursor) = place.cursor {
        join["since"] = cursor.into();
    }
    if let Some(epoch) = &place.epoch {
        join["epoch"] = epoch.as_str().into();
    }
    if let Err(err) = socket.send(Message::text(join.to_string())) {
        return dropped(format!("the connection dropped: {err}"));
    }
    let mut joined = false;
    let mut out = std::io::stdout().lock();
    loop {
        let text = match socket.read() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                let why = frame.map_or("no reason".into(), |f| f.reason.to_string());
                return Ended::Dropped {
                    why: format!("natter closed the connection ({why})"),
                    joined,
                };
            }
            // Pings are answered by tungstenite as it reads.
            Ok(_) => continue,
            Err(err) => {
                let why = format!("the connection dropped: {err}");
                return Ended::Dropped { why, joined };
            }
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame["type"] == "error" {
            let message = frame["message"].as_str().unwrap_or("refused").to_string();
            return match frame["code"].as_str() {
                Some("rate_limited" | "storage_failed") => Ended::Dropped {
                    why: message,
                    joined,
                },
                _ => Ended::Refused(message),
            };
        }
        if frame["type"] == "joined" {
            joined = true;
            if frame["gap"] == true && place.cursor.is_some() {
                eprintln!(
                    "natter tail: more was missed than natter replays (or its database \
                     was replaced); here is the room's recent history"
                );
            }
            place.epoch = frame["epoch"].as_str().map(str::to_string);
        }
        if show(&mut out, &frame, json).is_err() {
            return Ended::StdoutClosed;
        }
        let seen = ["cursor", "seq", "id"]
            .iter()
            .find_map(|k| frame[*k].as_u64());
        if let Some(seen) = seen.filter(|_| frame["room"].is_string()) {
            place.cursor = Some(place.cursor.map_or(seen, |c| c.max(seen)));
        }
        // With a gap, the cursor starts over from what the server says.
        if frame["type"] == "joined" {
            place.cursor = frame["cursor"].as_u64();
        }
    }
}

/// Where the WebSocket is: `GET /api/v1/ws` answers its URL.
fn ws_url(target: &Target) -> Result<Url, Ended> {
    let dropped = |why: String| Ended::Dropped { why, joined: false };
    let answer = http::request(&target.url, "GET", "/api/v1/ws", &[], b"").map_err(dropped)?;
    if answer.status != 200 {
        return Err(match answer.status {
            500.. => dropped(refusal(&answer)),
            _ => Ended::Refused(format!(
                "this server does not say where its WebSocket is (is it natter?): {}",
                refusal(&answer)
            )),
        });
    }
    let parsed: Option<Value> = serde_json::from_str(&answer.body).ok();
    let url = parsed
        .as_ref()
        .and_then(|v| v["url"].as_str())
        .ok_or_else(|| Ended::Refused("natter's WebSocket URL is missing".into()))?;
    // Behind a proxy the URL may be wss://: natter has no TLS of its own.
    Url::parse(url, "ws", 80).map_err(Ended::Refused)
}

/// Print what a frame shows. Plain: `14:02 ci-bot [bot]: deploy done`;
/// with `json`, one object per line (each message of `joined`, then live
/// frames as they come). Presence, typing and notices are left out.
fn show(out: &mut impl Write, frame: &Value, json: bool) -> std::io::Result<()> {
    match frame["type"].as_str() {
        Some("joined") => {
            let listed = ["history", "changes"].into_iter();
            let messages = listed.flat_map(|k| frame[k].as_array().cloned().unwrap_or_default());
            for (i, mut m) in messages.enumerate() {
                m["type"] = "message".into();
                let is_change = i >= frame["history"].as_array().map_or(0, Vec::len);
                match json {
                    true => writeln!(out, "{m}")?,
                    false if is_change => line(out, &changed(&m))?,
                    false => line(out, &message(&m))?,
                }
            }
        }
        Some("message" | "edit" | "delete" | "reactions") if json => writeln!(out, "{frame}")?,
        Some("message") => line(out, &message(frame))?,
        Some("edit") => {
            let (id, text) = (&frame["id"], frame["text"].as_str().unwrap_or(""));
            let at = clock(frame["edited_ts"].as_u64());
            line(out, &format!("{at} (#{id} edited): {text}"))?;
        }
        Some("delete") => line(out, &format!("(#{} deleted)", frame["id"]))?,
        _ => return Ok(()),
    }
    out.flush()
}

/// A line, unless it is empty (a change that shows nothing in plain text).
fn line(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    match text.is_empty() {
        true => Ok(()),
        false => writeln!(out, "{text}"),
    }
}

/// `14:02 alice: hi`, `14:02 * alice waves`, `14:03 ci-bot [bot]: done`.
fn message(m: &Value) -> String {
    if m["deleted"] == true {
        return format!("(#{} deleted)", m["id"]);
    }
    let at = clock(m["ts"].as_u64());
    let user = m["user"].as_str().unwrap_or("?");
    let bot = if m["bot"] == true { " [bot]" } else { "" };
    let mut text = m["text"].as_str().unwrap_or("").to_string();
    for file in m["attachments"].as_array().into_iter().flatten() {
        text.push_str(&format!(" [file: {}]", file["name"].as_str().unwrap_or("")));
    }
    match m["action"] == true {
        true => format!("{at} * {user}{bot} {text}"),
        false => format!("{at} {user}{bot}: {text}"),
    }
}

/// An older message that changed while away: edited or deleted (a change
/// to its reactions alone shows nothing here).
fn changed(m: &Value) -> String {
    match (m["deleted"] == true, m["edited_ts"].as_u64()) {
        (true, _) => format!("(#{} deleted)", m["id"]),
        (false, Some(ts)) => {
            let user = m["user"].as_str().unwrap_or("?");
            let text = m["text"].as_str().unwrap_or("");
            format!("{} {user} (edited #{}): {text}", clock(Some(ts)), m["id"])
        }
        (false, None) => String::new(),
    }
}

/// `HH:MM` in UTC (natter knows no time zone).
fn clock(ms: Option<u64>) -> String {
    let stamp = crate::web::utc(ms.unwrap_or(0));
    stamp.get(11..16).unwrap_or("--:--").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(frame: Value, json: bool) -> String {
        let mut out = Vec::new();
        show(&mut out, &frame, json).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_as_a_person_reads_them() {
        let ts: u64 = 1_764_108_120_000; // 22:02 UTC
        let m = json!({"type":"message","room":"r","id":3,"user":"ci","bot":true,"text":"done","ts":ts});
        assert_eq!(shown(m, false), "22:02 ci [bot]: done\n");
        let m = json!({"type":"message","room":"r","id":4,"user":"al","text":"waves","ts":ts,"action":true});
        assert_eq!(shown(m, false), "22:02 * al waves\n");
        let e = json!({"type":"edit","room":"r","seq":5,"id":3,"text":"redone","edited_ts":ts});
        assert_eq!(shown(e, false), "22:02 (#3 edited): redone\n");
        assert_eq!(
            shown(json!({"type":"delete","room":"r","seq":6,"id":3}), false),
            "(#3 deleted)\n"
        );
        assert_eq!(
            shown(json!({"type":"presence","room":"r","members":[]}), false),
            ""
        );
    }

    #[test]
    fn json_lines_are_messages_in_their_current_state() {
        let joined = json!({"type":"joined","room":"r","cursor":9,"history":[{"id":8,"text":"a"}],
                            "changes":[{"id":2,"text":"b","edited_ts":1}]});
        let out = shown(joined, true);
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l["type"] == "message"));
        assert_eq!(
            (lines[0]["id"].clone(), lines[1]["id"].clone()),
            (json!(8), json!(2))
        );
    }
}
