//! `GET /rooms`: the public directory as a page (or JSON with
//! `?format=json`), for people logged in: the rooms owners listed, with
//! their topics and how many are in them now. The chat page asks the same
//! over its WebSocket (`list_rooms`).

use serde_json::json;
use tiny_http::Request;

use super::login::session_user;
use super::pages::{encode_component, escape, first_header, html, json, query_value, text, Page};
use super::{ask, hub_unavailable, WebContext};
use crate::hub::{Ask, Event};

pub(super) fn page(request: &Request, query: &str, context: &WebContext) -> Page {
    match session_user(request, context) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return text(
                401,
                "log in first: the directory is for people in the chat\n",
            )
        }
        Err(page) => return page,
    }
    let after = query_value(query.as_bytes(), "after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let answer = ask(context, |reply| Event::Ask(Ask::Directory { after, reply }));
    let page = match answer {
        Some(Ok(page)) => page,
        Some(Err(why)) => return text(503, &format!("could not read the directory: {why}\n")),
        None => return hub_unavailable(),
    };
    let wants_json = query.split('&').any(|p| p == "format=json")
        || first_header(request, "Accept").is_some_and(|a| a.contains("application/json"));
    if wants_json {
        let mut body = json!({ "rooms": page.rooms, "next": page.next });
        if page.off {
            body["off"] = json!(true);
        }
        return json(200, &body);
    }
    let items: String = page
        .rooms
        .iter()
        .map(|r| {
            format!(
                "<li><a href=\"/r/{link}\">#{name}</a> <span class=\"muted\">{members} here</span>\
                 <p>{topic}</p></li>",
                link = encode_component(&r.name),
                name = escape(&r.name),
                members = r.members,
                topic = escape(&r.topic),
            )
        })
        .collect();
    let body = match (page.off, items.is_empty()) {
        (true, _) => "<p>The directory is turned off on this server.</p>".to_string(),
        (false, true) => {
            "<p>No public rooms yet. An owner can list a room in its settings.</p>".to_string()
        }
        (false, false) => format!("<ul class=\"directory\">{items}</ul>"),
    };
    let more = match &page.next {
        Some(next) => format!("<p><a href=\"/rooms?after={next}\">More rooms</a></p>"),
        None => String::new(),
    };
    html(
        200,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Public rooms · natter</title><link rel=\"stylesheet\" href=\"/assets/css/app.css\"></head>\
             <body class=\"login-page\"><main class=\"login-card\"><h1>Public rooms</h1>{body}{more}</main></body></html>\n"
        ),
    )
}
