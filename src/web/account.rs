//! `POST /account/claim`: make your name your own, with a password. The
//! chat page calls it (a form-encoded body, your session's cookie, from its
//! own origin) and gets JSON back:
//!
//! - 200 `{"ok":true,"user":"alice"}`;
//! - 400 (the password is too short or too long, or the two differ), 401 (no
//!   session), 409 (claimed already, or the name is in use in another
//!   session), 429 (a claim from your address moments ago) and 503 (busy
//!   hashing, or the claim could not be stored), each `{"error":"…"}`, with
//!   `retry_after` and `Retry-After` where waiting helps.
//!
//! The password is hashed here, on the web thread, taking its turn (see
//! `passwords.rs`); the hub is asked first whether the claim may go ahead,
//! so that a refused one costs no hash, and again with the hash.

use serde_json::json;
use tiny_http::Request;

use super::login::{check_form_origin, client_address, cookie_token, read_form};
use super::pages::{header, json, query_value, Page};
use super::{ask, hub_unavailable, WebContext};
use crate::hub::{Ask, ClaimRefusal, Event};
use crate::passwords::{weak, Busy};

pub(super) fn claim(request: &mut Request, context: &WebContext) -> Page {
    if let Err(refusal) = check_form_origin(request, &context.config) {
        return refusal;
    }
    let Some(token) = cookie_token(request) else {
        return refused(&ClaimRefusal::NoSession);
    };
    let body = match read_form(request) {
        Ok(body) => body,
        Err(page) => return page,
    };
    let field = |key: &str| query_value(&body, key).unwrap_or_default();
    let (password, confirm) = (field("password"), field("confirm"));
    if let Some(why) = weak(&password) {
        return json(400, &json!({ "error": why }));
    }
    if password != confirm {
        let why = "The two passwords differ. Type the same one twice.";
        return json(400, &json!({ "error": why }));
    }
    let ip = client_address(request, context);
    let may = ask(context, |reply| {
        Event::Ask(Ask::ClaimCheck {
            token: token.clone(),
            ip,
            reply,
        })
    });
    match may {
        Some(Ok(_)) => {}
        Some(Err(refusal)) => return refused(&refusal),
        None => return hub_unavailable(),
    }
    let phc = match context.passwords.hash(&password) {
        Ok(phc) => phc,
        Err(Busy) => {
            let why = "The server is busy checking passwords. Please try again in a moment.";
            return json(503, &json!({ "error": why, "retry_after": 5 }))
                .with_header(header("Retry-After", "5"));
        }
    };
    match ask(context, |reply| {
        Event::Ask(Ask::Claim {
            token,
            ip,
            phc,
            reply,
        })
    }) {
        Some(Ok(name)) => json(200, &json!({ "ok": true, "user": name })),
        Some(Err(refusal)) => refused(&refusal),
        None => hub_unavailable(),
    }
}

/// A refused claim as JSON, under its status.
fn refused(refusal: &ClaimRefusal) -> Page {
    let mut body = json!({ "error": refusal.to_string() });
    match refusal.retry_after() {
        Some(secs) => {
            body["retry_after"] = json!(secs);
            json(refusal.status(), &body).with_header(header("Retry-After", &secs.to_string()))
        }
        None => json(refusal.status(), &body),
    }
}
