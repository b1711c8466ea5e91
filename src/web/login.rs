//! Logging in and out with the form, and who a request's cookie belongs to.
//!
//! A login is answered by its status, so a person and a script both know
//! what to do next: 303 to the room when it worked; 400 with the form again
//! for a name or room to fix (or a name taken in that room); 429 with
//! `Retry-After` for too many logins or sessions from one address; 503 with
//! `Retry-After` for a full chat or a hub that does not answer; 500 for a
//! fault of ours. The hub decides its refusals, and says which is which.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use tiny_http::Request;

use super::pages::{
    encode_component, first_header, header, invite_code, json, login_form_with, query_value,
    redirect, text, Page,
};
use super::{ask, hub_unavailable, WebContext};
use crate::config::ACCOUNT_SESSION_TTL;
use crate::config::{Config, MAX_FORM_BYTES};
use crate::hub::{Ask, Event, LoginForm, LoginRefusal, LoginStep};
use crate::passwords::Busy;
use crate::protocol::{check_name, check_room};
use crate::session;

/// `POST /login`: check the form, ask the hub for a session, set the cookie,
/// and send the browser to its room. A mistake re-renders the form with what
/// the user typed and a message saying what to fix.
pub(super) fn login(request: &mut Request, context: &WebContext) -> Page {
    if let Err(refusal) = check_form_origin(request, &context.config) {
        return refusal;
    }
    let body = match read_form(request) {
        Ok(body) => body,
        Err(page) => return page,
    };
    let field = |key: &str| query_value(&body, key).unwrap_or_default();
    let (raw_name, raw_room) = (field("name"), field("room"));
    let code = invite_code(&body);
    let name = match check_name(&raw_name) {
        Ok(name) => name,
        Err(message) => return login_form_with(400, &raw_name, &raw_room, &message, &code),
    };
    let room = match check_room(&raw_room) {
        Ok(room) => room,
        Err(rejection) => {
            return login_form_with(400, &raw_name, &raw_room, &rejection.message, &code)
        }
    };
    let token = match session::new_token() {
        Ok(token) => token,
        Err(err) => {
            eprintln!("natter: no randomness for a session token: {err}");
            return text(500, "could not create a session\n");
        }
    };
    let password = field("password");
    let form = LoginForm {
        name: name.clone(),
        room: room.clone(),
        token,
        replaces: cookie_token(request),
        ip: client_address(request, context),
        password: !password.is_empty(),
    };
    let mut checked = false;
    let answer = match ask(context, |reply| {
        Event::Ask(Ask::Login {
            form: form.clone(),
            reply,
        })
    }) {
        Some(Ok(LoginStep::Check { key, phc })) => {
            // A claimed name: its password is checked here, on this web
            // thread, taking its turn with the other checks (see
            // `passwords.rs`); the hub only hears whether it was right.
            let right = match context.passwords.verify(&phc, &password) {
                Ok(right) => right,
                Err(Busy) => return refused(&LoginRefusal::Busy, &raw_name, &raw_room, &code),
            };
            checked = true;
            ask(context, |reply| {
                Event::Ask(Ask::LoginChecked {
                    form,
                    key,
                    phc,
                    right,
                    reply,
                })
            })
        }
        Some(Ok(LoginStep::Done(token))) => Some(Ok(token)),
        Some(Err(refusal)) => Some(Err(refusal)),
        None => None,
    };
    // A claimed name's session outlives the browser's: its cookie lasts.
    let lasting = matches!(answer, Some(Ok(_))) && !password.is_empty() && checked;
    match answer {
        Some(Ok(token)) => {
            let secure = secure_cookies(context);
            let cookie = match lasting {
                true => session::set_lasting_cookie(&token, secure, ACCOUNT_SESSION_TTL),
                false => session::set_cookie(&token, secure),
            };
            // An invite link's code goes on to the room's page, which
            // sends it with its first `join`.
            let invite = match code.is_empty() {
                true => String::new(),
                false => format!("?invite={code}"),
            };
            redirect(&format!("/r/{}{invite}", encode_component(&room)))
                .with_header(header("Set-Cookie", &cookie))
        }
        Some(Err(refusal)) => refused(&refusal, &raw_name, &raw_room, &code),
        None => hub_unavailable(),
    }
}

/// The login form's body, read up to [`MAX_FORM_BYTES`]; past that, 413.
pub(super) fn read_form(request: &mut Request) -> Result<Vec<u8>, Page> {
    let too_large = || {
        text(
            413,
            &format!("the login form is limited to {MAX_FORM_BYTES} bytes\n"),
        )
    };
    // An announced body over the limit is refused before a byte of it is read.
    if request.body_length().is_some_and(|n| n > MAX_FORM_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let limit = MAX_FORM_BYTES as u64;
    if let Err(err) = request.as_reader().take(limit + 1).read_to_end(&mut body) {
        return Err(text(400, &format!("could not read the form: {err}\n")));
    }
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// The form again, with the hub's reason, under the status it chose, and
/// `Retry-After` when waiting is what helps.
fn refused(refusal: &LoginRefusal, name: &str, room: &str, code: &str) -> Page {
    let page = login_form_with(refusal.status(), name, room, &refusal.to_string(), code);
    match refusal.retry_after() {
        Some(secs) => page.with_header(header("Retry-After", &secs.to_string())),
        None => page,
    }
}

/// `POST /logout`: end the session (its sockets close with 1008) and forget
/// the cookie.
pub(super) fn logout(request: &Request, context: &WebContext) -> Page {
    if let Err(refusal) = check_form_origin(request, &context.config) {
        return refusal;
    }
    if let Some(token) = cookie_token(request) {
        // Nothing to wait for: if the hub has stopped, so has the session.
        let _ = context.to_hub.send(Event::Ask(Ask::Logout { token }));
    }
    let mut page = redirect("/");
    for cookie in session::clear_cookies(secure_cookies(context)) {
        page.add_header(header("Set-Cookie", &cookie));
    }
    page
}

/// `POST /login` and `POST /logout` decide who the browser is logged in as, so
/// they must come from natter's own pages (see `origin::form_origin_allowed`).
/// Otherwise any site could log a visitor out with a hidden form, or log them
/// in as a name of its choosing in its room, replacing their session, and
/// then read what they write there. Refused with 403 before the body is read.
pub(super) fn check_form_origin(request: &Request, config: &Config) -> Result<(), Page> {
    let first = |name: &'static str| first_header(request, name);
    crate::origin::form_origin_allowed(
        first("Origin"),
        first("Sec-Fetch-Site"),
        first("Host").unwrap_or(""),
        config,
    )
    .map_err(|why| text(403, &format!("{why}\n")))
}

/// Who the session cookie belongs to. Without a live session the answer is
/// the page to send instead: the login form for `room` (so a shared room link
/// still lands there after logging in), or 503 if the hub does not answer.
pub(super) fn logged_in_user(
    request: &Request,
    room: &str,
    context: &WebContext,
) -> Result<String, Page> {
    let user = session_user(request, context)?;
    user.ok_or_else(|| redirect(&format!("/?room={}&invited=1", encode_component(room))))
}

/// The name of the live session the cookie names, if any; 503 if the hub
/// does not answer.
pub(super) fn session_user(
    request: &Request,
    context: &WebContext,
) -> Result<Option<String>, Page> {
    match cookie_token(request) {
        Some(token) => ask(context, |reply| Event::Ask(Ask::Lookup { token, reply }))
            .ok_or_else(hub_unavailable),
        None => Ok(None),
    }
}

/// `GET /session`: whether the cookie is a live session, for a page whose
/// socket cannot open to tell "the server is restarting" (200, keep trying)
/// from "your session has ended" (401, log in again). The browser hides a
/// failed WebSocket handshake's status, so the page asks here.
pub(super) fn session_status(request: &Request, context: &WebContext) -> Page {
    match session_user(request, context) {
        Ok(Some(user)) => json(200, &serde_json::json!({ "user": user })),
        Ok(None) => json(401, &serde_json::json!({ "error": "session ended" })),
        Err(unavailable) => unavailable,
    }
}

/// The session token from the request's cookies, if it carries one.
pub(super) fn cookie_token(request: &Request) -> Option<String> {
    request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Cookie"))
        .find_map(|h| session::token_from_cookies(h.value.as_str()))
}

/// The client's address, for the limits kept per address: the peer, or behind
/// a trusted proxy the address it forwarded (see `ws::client_ip`).
pub(super) fn client_address(request: &Request, context: &WebContext) -> IpAddr {
    // Forwarded by a follower of this cluster (`relay.rs`), with the secret.
    if let Some((ip, _)) = super::relay::relayed(request, context) {
        return ip;
    }
    let peer = request
        .remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let forwarded = first_header(request, "X-Forwarded-For").unwrap_or("");
    crate::ws::client_ip(peer, forwarded, context.config.trust_proxy)
}

/// Whether this server's session cookie is the `Secure` `__Host-` one.
pub(super) fn secure_cookies(context: &WebContext) -> bool {
    session::secure_cookies(context.config.public_url.as_deref())
}
