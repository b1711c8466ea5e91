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
//!
//! And what the owner of a claimed name can do, each answered in the same
//! JSON shape:
//!
//! - `GET /account/sessions`: `{"sessions":[{"current":true,"connected":2,"idle_since":null},…]}`;
//! - `POST /account/logout-all`: every session of the name ends (this one
//!   too), their sockets close with 1008;
//! - `POST /account/password` (`current`, `password`, `confirm`): the other
//!   sessions end, and log in with the new one;
//! - `POST /account/profile` (`bio`, `color`): the member card;
//! - `POST /account/release` (`password`, `erase` = `on` to delete every
//!   message written under the name): the name is free again;
//! - `GET /u/<name>`: a claimed name's card (JSON with `?format=json` or
//!   `Accept: application/json`, else a small page), for logged-in people.

use serde_json::json;
use tiny_http::Request;

use super::login::{check_form_origin, client_address, cookie_token, read_form, session_user};
use super::pages::{escape, first_header, header, json, percent_decode, query_value, Page};
use super::{ask, hub_unavailable, WebContext};
use crate::config::ACCOUNT_SESSION_TTL;
use crate::hub::{AccountRefusal, Ask, Event};
use crate::passwords::{weak, Busy};
use crate::session;

pub(super) fn claim(request: &mut Request, context: &WebContext) -> Page {
    if let Err(refusal) = check_form_origin(request, &context.config) {
        return refusal;
    }
    let Some(token) = cookie_token(request) else {
        return refused(&AccountRefusal::NoSession);
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
        Err(Busy) => return busy(),
    };
    match ask(context, |reply| {
        Event::Ask(Ask::Claim {
            token: token.clone(),
            ip,
            phc,
            reply,
        })
    }) {
        // The session is a claimed name's from now on: its cookie lasts.
        Some(Ok(name)) => {
            let secure = super::login::secure_cookies(context);
            let cookie = session::set_lasting_cookie(&token, secure, ACCOUNT_SESSION_TTL);
            json(200, &json!({ "ok": true, "user": name }))
                .with_header(header("Set-Cookie", &cookie))
        }
        Some(Err(refusal)) => refused(&refusal),
        None => hub_unavailable(),
    }
}

/// A refused claim as JSON, under its status.
fn refused(refusal: &AccountRefusal) -> Page {
    let mut body = json!({ "error": refusal.to_string() });
    match refusal.retry_after() {
        Some(secs) => {
            body["retry_after"] = json!(secs);
            json(refusal.status(), &body).with_header(header("Retry-After", &secs.to_string()))
        }
        None => json(refusal.status(), &body),
    }
}

/// Every hasher stayed busy: 503, come back in a moment.
fn busy() -> Page {
    let why = "The server is busy checking passwords. Please try again in a moment.";
    json(503, &json!({ "error": why, "retry_after": 5 })).with_header(header("Retry-After", "5"))
}

/// What the hub answered an account request with, as JSON: `ok` with
/// `extra` fields, or the refusal.
fn answered<T>(answer: Option<Result<T, AccountRefusal>>, ok: impl FnOnce(T) -> Page) -> Page {
    match answer {
        Some(Ok(value)) => ok(value),
        Some(Err(refusal)) => refused(&refusal),
        None => hub_unavailable(),
    }
}

/// A POST of the account forms: its origin checked, its session and body.
fn form_of(request: &mut Request, context: &WebContext) -> Result<(String, Vec<u8>), Page> {
    check_form_origin(request, &context.config)?;
    let token = cookie_token(request).ok_or_else(|| refused(&AccountRefusal::NoSession))?;
    Ok((token, read_form(request)?))
}

/// The account of `token`, checked against `password` on this thread. A
/// wrong password counts against the name as a wrong login does.
fn checked_account(
    context: &WebContext,
    request: &Request,
    token: &str,
    password: &str,
) -> Result<String, Page> {
    let ip = client_address(request, context);
    let token = token.to_string();
    let account = match ask(context, |reply| {
        Event::Ask(Ask::AccountOf { token, ip, reply })
    }) {
        Some(Ok(account)) => account,
        Some(Err(refusal)) => return Err(refused(&refusal)),
        None => return Err(hub_unavailable()),
    };
    match context.passwords.verify(&account.phc, password) {
        Ok(true) => Ok(account.phc),
        Ok(false) => {
            let key = account.key;
            let _ = context
                .to_hub
                .send(Event::Ask(Ask::PasswordFailed { key, ip }));
            Err(refused(&AccountRefusal::WrongPassword))
        }
        Err(Busy) => Err(busy()),
    }
}

pub(super) fn sessions(request: &Request, context: &WebContext) -> Page {
    let Some(token) = cookie_token(request) else {
        return refused(&AccountRefusal::NoSession);
    };
    let answer = ask(context, |reply| {
        Event::Ask(Ask::AccountSessions { token, reply })
    });
    answered(answer, |list| json(200, &json!({ "sessions": list })))
}

pub(super) fn logout_all(request: &mut Request, context: &WebContext) -> Page {
    let (token, _) = match form_of(request, context) {
        Ok(form) => form,
        Err(page) => return page,
    };
    let answer = ask(context, |reply| Event::Ask(Ask::LogoutAll { token, reply }));
    answered(answer, |ended| {
        let mut page = json(200, &json!({ "ok": true, "ended": ended }));
        for cookie in session::clear_cookies(super::login::secure_cookies(context)) {
            page.add_header(header("Set-Cookie", &cookie));
        }
        page
    })
}

pub(super) fn password(request: &mut Request, context: &WebContext) -> Page {
    let (token, body) = match form_of(request, context) {
        Ok(form) => form,
        Err(page) => return page,
    };
    let field = |key: &str| query_value(&body, key).unwrap_or_default();
    let (current, password, confirm) = (field("current"), field("password"), field("confirm"));
    if let Some(why) = weak(&password) {
        return json(400, &json!({ "error": why }));
    }
    if password != confirm {
        let why = "The two new passwords differ. Type the same one twice.";
        return json(400, &json!({ "error": why }));
    }
    let checked = match checked_account(context, request, &token, &current) {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    let phc = match context.passwords.hash(&password) {
        Ok(phc) => phc,
        Err(Busy) => return busy(),
    };
    let answer = ask(context, |reply| {
        Event::Ask(Ask::SetPassword {
            token,
            checked,
            phc,
            reply,
        })
    });
    answered(answer, |_| json(200, &json!({ "ok": true })))
}

pub(super) fn profile(request: &mut Request, context: &WebContext) -> Page {
    let (token, body) = match form_of(request, context) {
        Ok(form) => form,
        Err(page) => return page,
    };
    let field = |key: &str| query_value(&body, key).unwrap_or_default();
    let (bio, color) = (field("bio"), field("color"));
    let answer = ask(context, |reply| {
        Event::Ask(Ask::SetProfile {
            token,
            bio,
            color,
            reply,
        })
    });
    answered(answer, |_| json(200, &json!({ "ok": true })))
}

pub(super) fn release(request: &mut Request, context: &WebContext) -> Page {
    let (token, body) = match form_of(request, context) {
        Ok(form) => form,
        Err(page) => return page,
    };
    let field = |key: &str| query_value(&body, key).unwrap_or_default();
    let (password, erase) = (field("password"), field("erase") == "on");
    let checked = match checked_account(context, request, &token, &password) {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    let answer = ask(context, |reply| {
        Event::Ask(Ask::Release {
            token,
            checked,
            erase,
            reply,
        })
    });
    answered(answer, |name| {
        let mut page = json(200, &json!({ "ok": true, "user": name }));
        for cookie in session::clear_cookies(super::login::secure_cookies(context)) {
            page.add_header(header("Set-Cookie", &cookie));
        }
        page
    })
}

/// `GET /u/<name>`: a claimed name's card, for people logged in.
pub(super) fn card(request: &Request, path: &str, query: &str, context: &WebContext) -> Page {
    match session_user(request, context) {
        Ok(Some(_)) => {}
        Ok(None) => return refused(&AccountRefusal::NoSession),
        Err(page) => return page,
    }
    let name = percent_decode(path.trim_start_matches("/u/"));
    let wants_json = query.split('&').any(|p| p == "format=json")
        || first_header(request, "Accept").is_some_and(|a| a.contains("application/json"));
    let answer = ask(context, |reply| {
        Event::Ask(Ask::Profile {
            name: name.clone(),
            reply,
        })
    });
    let account = match answer {
        Some(Ok(Some(account))) => account,
        Some(Ok(None)) => {
            let why = format!("Nobody claimed \u{201c}{name}\u{201d}.");
            return json(404, &json!({ "error": why }));
        }
        Some(Err(why)) => return refused(&AccountRefusal::Failed { why }),
        None => return hub_unavailable(),
    };
    let since = crate::web::utc(account.created_ms)[.."YYYY-MM-DD".len()].to_string();
    if wants_json {
        return json(
            200,
            &json!({
                "user": account.name,
                "uid": account.uid,
                "verified": true,
                "bio": account.bio,
                "color": account.color,
                "since": since,
            }),
        );
    }
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name} · natter</title><link rel=\"stylesheet\" href=\"/assets/css/app.css\"></head>\
         <body class=\"login-page\"><main class=\"login-card\"><h1>{name} <span aria-label=\"verified name\">✓</span></h1>\
         <p>{bio}</p><p class=\"muted\">Claimed since {since}</p></main></body></html>\n",
        name = escape(&account.name),
        bio = escape(&account.bio),
    );
    super::pages::html(200, html)
}
