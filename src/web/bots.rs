//! The bots' HTTP side: the incoming webhook and the API (`cmd/bots.rs` has
//! the rules). Every answer comes from the hub as one WebSocket frame, the
//! same a connection would get; here it becomes an HTTP status and a JSON
//! body:
//!
//! - `POST /hooks/<secret>`: Slack's and Mattermost's shape, so their
//!   client libraries and existing integrations work unchanged: `{"text":…}`
//!   as JSON, or a form whose `payload` field holds that JSON. `200 ok`.
//! - `POST /api/v1/rooms/<room>/messages` (`Authorization: Bearer`):
//!   `{"text":…,"client_id":…,"reply_to":…}`; `201` and the stored message.
//! - `GET /api/v1/rooms/<room>/messages?since=&epoch=&wait=`: what `join`
//!   with `since` answers; with nothing new, held up to `wait` seconds.
//! - `GET /api/v1/ws`: where the WebSocket is, for `natter tail`.
//!
//! A refusal is `{"error":{"code":…,"message":…}}` with the WebSocket error's
//! code, the HTTP status that fits it, and `Retry-After` where waiting helps.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tiny_http::Request;

use super::login::client_address;
use super::pages::{first_header, header, json as json_page, percent_decode, text, Page};
use super::{hub_unavailable, Slot, WebContext};
use crate::config::{HUB_REPLY_TIMEOUT, MAX_API_BODY_BYTES, MAX_POLL_WAIT, MAX_POLL_WAITERS};
use crate::hub::{Ask, Event};
use crate::protocol::{parse_request, ErrorCode, Request as WsRequest};

/// `POST /hooks/<secret>`.
pub(super) fn hook(request: &mut Request, path: &str, context: &WebContext) -> Page {
    let secret = percent_decode(&path["/hooks/".len()..]);
    let body = match read_body(request) {
        Ok(body) => body,
        Err(page) => return page,
    };
    let Some(message) = hook_message(request, &body) else {
        return error(
            400,
            ErrorCode::BadJson,
            "send {\"text\":\"...\"} as JSON, or a form with a \"payload\" field holding it",
        );
    };
    // `username`, `icon_url` and `channel` are ignored: the name is the
    // token's, and so is the room (nobody can pass for someone else).
    let Some(text) = message.get("text").and_then(Value::as_str) else {
        return error(400, ErrorCode::BadField, "a webhook post needs \"text\"");
    };
    let frame = json!({"type": "message", "room": "-", "text": text});
    match post(&secret, None, frame, request, context) {
        Ok(_) => text_ok(),
        Err(page) => page,
    }
}

/// The webhook's plain answer, as Slack and Mattermost give it.
fn text_ok() -> Page {
    text(200, "ok")
}

/// The JSON a webhook request carries: a form's `payload` field (what
/// Slack's older clients send), or the body itself.
fn hook_message(request: &Request, body: &[u8]) -> Option<Value> {
    let form = first_header(request, "Content-Type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let payload = form_urlencoded::parse(body).find(|(k, _)| k == "payload");
    match (form, payload) {
        (true, Some((_, payload))) => serde_json::from_str(&payload).ok(),
        // `curl -d '{"text":...}'` says it is a form, and sends JSON.
        _ => serde_json::from_slice(body).ok(),
    }
}

/// `/api/v1/rooms/<room>/messages`: a post or a read.
pub(super) fn messages(
    request: &mut Request,
    path: &str,
    query: &str,
    context: &Arc<WebContext>,
) -> Answer {
    let Some(room) = path
        .strip_prefix("/api/v1/rooms/")
        .and_then(|rest| rest.strip_suffix("/messages"))
        .map(percent_decode)
    else {
        return Answer::Page(error(404, ErrorCode::NotFound, "no such endpoint"));
    };
    let Some(secret) = first_header(request, "Authorization")
        .and_then(crate::ws::bearer)
        .map(str::to_string)
    else {
        let page = error(
            401,
            ErrorCode::BadToken,
            "send Authorization: Bearer <token>",
        );
        return Answer::Page(page.with_header(header("WWW-Authenticate", "Bearer")));
    };
    match *request.method() {
        tiny_http::Method::Post => Answer::Page(api_post(request, &secret, &room, context)),
        _ => read(request, secret, room, query, context),
    }
}

/// `POST /api/v1/rooms/<room>/messages`: `201` and the stored message (the
/// original, for a resend of a `client_id` already posted: nothing is posted
/// twice).
fn api_post(request: &mut Request, secret: &str, room: &str, context: &WebContext) -> Page {
    let body = match read_body(request) {
        Ok(body) => body,
        Err(page) => return page,
    };
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&body) else {
        let why = "send a JSON object: {\"text\":\"...\"}, with \"client_id\" and \"reply_to\" if you like";
        return error(400, ErrorCode::BadJson, why);
    };
    // Only a message's own fields; a bot's name and room are its token's.
    fields.retain(|k, _| matches!(k.as_str(), "text" | "client_id" | "reply_to" | "mentions"));
    fields.insert("type".into(), "message".into());
    fields.insert("room".into(), room.into());
    match post(secret, Some(room), Value::Object(fields), request, context) {
        Ok(message) => json_page(201, &message),
        Err(page) => page,
    }
}

/// Check `frame` as a WebSocket `message` is checked, then ask the hub to
/// post it as the token's bot: the stored message as JSON, or the page
/// saying why not.
fn post(
    secret: &str,
    room: Option<&str>,
    frame: Value,
    request: &Request,
    context: &WebContext,
) -> Result<Value, Page> {
    let post = match parse_request(&frame.to_string()) {
        Ok(WsRequest::Message(post)) => post,
        Ok(_) => return Err(error(400, ErrorCode::BadRequest, "not a message")),
        Err(rejection) => {
            return Err(refused(
                &serde_json::to_value(&rejection).unwrap_or_default(),
            ))
        }
    };
    let ip = client_address(request, context);
    let answer = super::ask(context, |reply| {
        Event::Ask(Ask::BotPost {
            secret: secret.to_string(),
            room: room.map(str::to_string),
            post,
            ip,
            reply,
        })
    });
    match answer.map(|frame| frame_json(&frame)) {
        Some(Some(v)) if v["type"] == "message" => Ok(without_type(v)),
        Some(Some(v)) if v["type"] == "error" => Err(refused(&v)),
        _ => Err(hub_unavailable()),
    }
}

/// `GET /api/v1/rooms/<room>/messages`: answered on a thread of its own,
/// which may wait (a long-poll) without holding a page worker.
fn read(
    request: &Request,
    secret: String,
    room: String,
    query: &str,
    context: &Arc<WebContext>,
) -> Answer {
    let mut since = None;
    let mut epoch = None;
    let mut wait = Duration::ZERO;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "since" => match value.parse::<u64>() {
                Ok(n) => since = Some(n),
                Err(_) => {
                    let why = "\"since\" must be the \"cursor\" of the answer before";
                    return Answer::Page(error(400, ErrorCode::BadField, why));
                }
            },
            "epoch" => epoch = Some(value.into_owned()),
            "wait" => match value.parse::<u64>() {
                Ok(s) => wait = Duration::from_secs(s).min(MAX_POLL_WAIT),
                Err(_) => {
                    let why = format!(
                        "\"wait\" must be a number of seconds, at most {}",
                        MAX_POLL_WAIT.as_secs()
                    );
                    return Answer::Page(error(400, ErrorCode::BadField, &why));
                }
            },
            _ => {}
        }
    }
    let Some(slot) = Slot::claim(&context.polls, MAX_POLL_WAITERS) else {
        let why =
            format!("{MAX_POLL_WAITERS} reads are waiting already; try again in a few seconds");
        let page = error(503, ErrorCode::LimitReached, &why);
        return Answer::Page(page.with_header(header("Retry-After", "5")));
    };
    let ip = client_address(request, context);
    let (reply, answer) = crossbeam_channel::bounded(1);
    let asked = Ask::BotRead {
        secret,
        room,
        since,
        epoch,
        wait,
        ip,
        reply,
    };
    if context.to_hub.send(Event::Ask(asked)).is_err() {
        return Answer::Page(hub_unavailable());
    }
    Answer::Poll(Poll {
        answer,
        patience: wait + HUB_REPLY_TIMEOUT,
        _slot: slot,
    })
}

/// A read waiting for the hub's answer, on its own thread (see `on_own_thread`).
pub(super) struct Poll {
    answer: crossbeam_channel::Receiver<Arc<[u8]>>,
    /// How long to wait: the long-poll's `wait`, and the hub's usual time.
    patience: Duration,
    _slot: Slot,
}

/// What `messages` answers: a page now, or a read to wait for.
pub(super) enum Answer {
    Page(Page),
    Poll(Poll),
}

/// Wait for the read's answer on a thread of its own, and send it.
/// It is counted (`natter_http_requests_total`) once answered.
pub(super) fn on_own_thread(request: Request, poll: Poll, context: &Arc<WebContext>) {
    let metrics = context.metrics.clone();
    let started = super::edge::on_own_thread("web-poll", request, move |request| {
        let page = match poll.answer.recv_timeout(poll.patience) {
            Ok(frame) => read_page(&frame),
            Err(_) => hub_unavailable(),
        };
        drop(poll._slot);
        metrics.answered(crate::metrics::Route::Api, page.status_code().0);
        let _ = request.respond(super::pages::secure(page));
    });
    if let Some(request) = started {
        let page = error(
            503,
            ErrorCode::LimitReached,
            "no thread for the read; try again",
        );
        let _ = request.respond(super::pages::secure(
            page.with_header(header("Retry-After", "5")),
        ));
    }
}

/// A read's answer: the `joined` frame's room, epoch, cursor, gap, history
/// and changes (not its member list or settings), or the error.
fn read_page(frame: &[u8]) -> Page {
    match frame_json(frame) {
        Some(v) if v["type"] == "joined" => {
            let pick = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
            let body = json!({
                "room": pick("room"),
                "epoch": pick("epoch"),
                "cursor": pick("cursor"),
                "gap": pick("gap"),
                "history": pick("history"),
                "changes": v.get("changes").cloned().unwrap_or_else(|| json!([])),
            });
            json_page(200, &body)
        }
        Some(v) if v["type"] == "error" => refused(&v),
        _ => hub_unavailable(),
    }
}

/// `GET /api/v1/ws`: the WebSocket's URL, as the chat page would use it.
pub(super) fn ws_url(request: &Request, context: &WebContext) -> Page {
    let url = match &context.config.ws_url {
        Some(url) => url.clone(),
        None => {
            let host = first_header(request, "Host").unwrap_or("127.0.0.1");
            // The name without the web port (an IPv6 address keeps its brackets).
            let name = match host.rsplit_once(':') {
                Some((name, port)) if !port.contains(']') => name,
                _ => host,
            };
            let secure = context
                .config
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
            let scheme = if secure { "wss" } else { "ws" };
            let port = super::relay::ws_port(request, context);
            format!("{scheme}://{name}:{port}/ws")
        }
    };
    json_page(200, &json!({ "url": url }))
}

// -- the pieces ----------------------------------------------------------------

/// A request's body, up to [`MAX_API_BODY_BYTES`]; past that, 413 (before a
/// byte is read, when it says its length).
fn read_body(request: &mut Request) -> Result<Vec<u8>, Page> {
    let too_large = || {
        let why = format!("a request body is limited to {MAX_API_BODY_BYTES} bytes");
        error(413, ErrorCode::TextTooLong, &why)
    };
    if request
        .body_length()
        .is_some_and(|n| n > MAX_API_BODY_BYTES)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let limit = MAX_API_BODY_BYTES as u64;
    if let Err(err) = request.as_reader().take(limit + 1).read_to_end(&mut body) {
        let why = format!("could not read the body: {err}");
        return Err(error(400, ErrorCode::BadRequest, &why));
    }
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// The JSON inside one encoded WebSocket frame (`protocol::encode`): its
/// payload, after the 2-, 4- or 10-byte header a server's frame has.
fn frame_json(frame: &[u8]) -> Option<Value> {
    let header = match frame.get(1)? & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    serde_json::from_slice(frame.get(header..)?).ok()
}

/// An answer without its frame's `type`: the object the API documents.
fn without_type(mut v: Value) -> Value {
    if let Some(fields) = v.as_object_mut() {
        fields.remove("type");
    }
    v
}

/// An error answer in the WebSocket error's shape, with `status`.
fn error(status: u16, code: ErrorCode, message: &str) -> Page {
    let body = json!({"error": {"code": code.as_str(), "message": message}});
    json_page(status, &body)
}

/// An error frame (or a `Rejection` as JSON) as an HTTP answer: its fields
/// under `error`, the status its code means, and `Retry-After` with
/// `retry_after`.
fn refused(frame: &Value) -> Page {
    let mut fields = frame.clone();
    if let Some(f) = fields.as_object_mut() {
        f.remove("type");
    }
    let code = frame["code"].as_str().unwrap_or("");
    let page = json_page(status_of(code), &json!({ "error": fields }));
    // A 503 always says when to come back (a disk that refused a write, say).
    let retry = frame["retry_after"]
        .as_u64()
        .or((status_of(code) == 503).then_some(5));
    match retry {
        Some(secs) => page.with_header(header("Retry-After", &secs.to_string())),
        None => page,
    }
}

/// The HTTP status for a WebSocket error code.
fn status_of(code: &str) -> u16 {
    match code {
        "bad_token" => 401,
        "forbidden" | "muted" | "banned" | "not_owner" => 403,
        "not_found" => 404,
        "text_too_long" => 413,
        "rate_limited" => 429,
        "storage_failed" => 503,
        "limit_reached" => 503,
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_gives_back_its_json() {
        use crate::protocol::{encode, Rejection, Reply};
        // Lengths that take each of a frame's three header sizes.
        for chars in [10, 1_000, 70_000] {
            let rejection = Rejection::new(ErrorCode::BadText, "x".repeat(chars));
            let v = frame_json(&encode(&Reply::Error(&rejection))).expect("JSON");
            assert_eq!(v["type"], "error");
            assert_eq!(v["message"].as_str().map(str::len), Some(chars));
        }
    }

    #[test]
    fn every_refusal_has_a_fitting_status() {
        assert_eq!(status_of("bad_token"), 401);
        assert_eq!(status_of("forbidden"), 403);
        assert_eq!(status_of("rate_limited"), 429);
        assert_eq!(status_of("text_too_long"), 413);
        assert_eq!(status_of("empty_text"), 400);
    }
}
