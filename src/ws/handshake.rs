//! The handshake: the one HTTP request on a WebSocket socket, and the one place
//! that decides what kind of peer a connection is.
//!
//! A chat client must ask for `/ws`, from a page natter served (`Host` and
//! `Origin`), with a live session cookie the hub knows, and with room under
//! the caps; a bot sends `Authorization: Bearer <token>` instead of the cookie
//! (and needs no `Origin`: see `check_handshake`). Anything else gets an HTTP
//! refusal with a line saying why, and the
//! socket is closed. `natter echo` (the server the Autobahn suite tests) skips
//! all of that: its peers are [`Peer::Echo`], decided here, and nothing after
//! this file asks the configuration again.
//!
//! During the handshake the connection's own thread reads and writes its
//! socket: nobody else knows it yet. It must be over by the handshake timeout,
//! however slowly the client sends (see `Stream`'s deadline), so a client that
//! never finishes holds its thread for seconds, not forever.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Instant;

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use super::admission::{Arrival, Held, Refusal};
use super::stream::Stream;
use super::WsContext;
use crate::config::{MAX_WS_MESSAGE_BYTES, REFUSAL_TIMEOUT, WS_READ_BUFFER_BYTES};
use crate::hub::{Admission, Ask, Event, Peer, SessionId};
use crate::origin;
use crate::protocol::ErrorCode;
use crate::session;

/// A finished handshake: what the reader needs, and what the connection holds.
pub(super) struct Accepted {
    /// Boxed, as the whole `Accepted` is on its way to the reader: see
    /// `ws::connection_loop`.
    pub(super) ws: Box<WebSocket<Stream>>,
    /// What kind of peer this is, decided once, here.
    pub(super) peer: Peer,
    /// The client's address (forwarded, behind a trusted proxy), which the hub
    /// charges for what the connection sends.
    pub(super) ip: IpAddr,
    /// The connection's places under the caps, given back when dropped.
    pub(super) held: Held,
}

/// Read the handshake request on `socket`, check it, and answer it: `Some`
/// when the client is now a WebSocket peer, `None` when it was refused, timed
/// out, or did not speak WebSocket at all. In the `None` case the refusal (if
/// any) has been written and dropping the socket has closed it: there is
/// nothing left for you to do.
// Never inlined, and neither is `reader::read_loop`: merged into one frame,
// the handshake's big locals and the read loop's sat on the stack together,
// and each of thousands of reader threads kept one more page of stack
// resident (idle-2000: 27.5 KiB per connection instead of 23.5).
#[inline(never)]
pub(super) fn accept(
    socket: TcpStream,
    addr: SocketAddr,
    context: &WsContext,
    arrival: Arrival,
) -> Option<Accepted> {
    // Chat frames are small and latency matters: without this, Nagle's
    // algorithm holds small writes back and throughput falls several times
    // over. If it fails the socket still works, only slower.
    let _ = socket.set_nodelay(true);
    let (slot, refused) = match arrival {
        Arrival::Counted(slot) => (Some(slot), None),
        Arrival::Refused(refusing) => (None, Some(refusing)),
        Arrival::Uncounted => (None, None),
    };
    // A refused socket only gets its answer: it is given less time to read it.
    let patience = match refused {
        Some(_) => REFUSAL_TIMEOUT.min(context.config.handshake_timeout),
        None => context.config.handshake_timeout,
    };
    // A client that never reads the response cannot hold the thread either.
    let _ = socket.set_write_timeout(Some(patience));
    let stream = Stream::new(socket, Instant::now() + patience);

    let mut checked = None;
    // tungstenite's callback type returns a whole HTTP response as its error.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| {
        if let Some(refusing) = &refused {
            // Refused at accept; the request is read only to answer it.
            let (status, why) = refusing.why;
            return Err(refuse(status, why));
        }
        match check_handshake(request, addr, context) {
            Ok(ok) => {
                checked = Some(ok);
                Ok(response)
            }
            Err((status, why)) => Err(refuse(status, why)),
        }
    };
    // On `Err` (refused: 401, 403, 404, ...; timed out; not WebSocket at all)
    // the response, if any, was written; dropping the stream closes it.
    let ws = tungstenite::accept_hdr_with_config(stream, check, Some(websocket_config())).ok()?;
    let (peer, ip, mut held) =
        checked.expect("a handshake only succeeds after the check admitted it");
    // Counted at `accept` or by the check (behind a trusted proxy), never both.
    held.address = held.address.or(slot);
    if let Some(address) = held.address.as_mut() {
        address.handshake_done();
    }
    Some(Accepted {
        ws: Box::new(ws),
        peer,
        ip,
        held,
    })
}

/// tungstenite's limits, set explicitly. Its defaults (64 MiB messages, a
/// 128 KiB read buffer per connection) suit neither a chat nor a small host.
/// No write buffer: the `Stream` captures writes anyway, and the hub writes.
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_WS_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_WS_MESSAGE_BYTES))
        .write_buffer_size(0)
        .accept_unmasked_frames(false)
}

/// What a successful check hands on: what kind of peer this is, the client's
/// address, and its places under the caps.
type Checked = (Peer, IpAddr, Held);

/// Decide whether to accept a handshake, and as what kind of peer: the right
/// path, an allowed `Host` and `Origin`, a live session, and room under the
/// connection caps. The checks run cheapest first, so a stranger is refused
/// before the hub is asked anything.
///
/// Behind a trusted proxy `accept_loop` could not count the socket against
/// its address (it only saw the proxy's): the address is in the request, and
/// it is counted here.
fn check_handshake(
    request: &Request,
    addr: SocketAddr,
    context: &WsContext,
) -> Result<Checked, Refusal> {
    // The one place that asks for echo mode: any path, any Origin, no session.
    // An echo peer still counts against the total.
    if context.config.echo {
        let admitted = context.caps.admit(None)?;
        let held = Held {
            _admitted: admitted,
            address: None,
        };
        return Ok((Peer::Echo, addr.ip(), held));
    }
    if request.uri().path() != "/ws" {
        return Err((StatusCode::NOT_FOUND, "no WebSocket here; use /ws"));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    // DNS rebinding: a page elsewhere that points its own name at this
    // machine still says that name in `Host` (see `origin.rs`).
    if !origin::host_allowed(header("host"), &context.config) {
        return Err((
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that host name; its operator can allow \
             it with --allowed-host NAME",
        ));
    }
    // A bot: its token is in `Authorization`, not in a cookie, so no other
    // site's page can make a browser send it, and there is no Origin to check.
    if let Some(secret) = bearer(header("authorization")) {
        let ip = client_ip(addr, header("x-forwarded-for"), context.config.trust_proxy);
        let address = match context.config.trust_proxy {
            true => Some(context.caps.arrive_forwarded(ip)?),
            false => None,
        };
        let session = ask_hub_bot(context, secret)?;
        let admitted = context.caps.admit(Some(session::token_key(secret)))?;
        let held = Held {
            _admitted: admitted,
            address,
        };
        return Ok((Peer::Member(session), ip, held));
    }
    // Another site's page could otherwise open a socket with your visitor's
    // cookie and chat as them.
    let (origin, host) = (header("origin"), header("host"));
    if !origin::ws_origin_allowed(origin, host, context.web_port, &context.config) {
        return Err((StatusCode::FORBIDDEN, "origin not allowed"));
    }
    let token = session_token(request)?;
    let ip = client_ip(addr, header("x-forwarded-for"), context.config.trust_proxy);
    let address = match context.config.trust_proxy {
        true => Some(context.caps.arrive_forwarded(ip)?),
        false => None,
    };
    let session = ask_hub(context, &token, ip)?;
    let admitted = context.caps.admit(Some(session::token_key(&token)))?;
    Ok((
        Peer::Member(session),
        ip,
        Held {
            _admitted: admitted,
            address,
        },
    ))
}

/// The session token from the request's cookies (a browser may send several
/// `Cookie` headers); without one, the client has not logged in.
fn session_token(request: &Request) -> Result<String, Refusal> {
    request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::token_from_cookies)
        .ok_or((StatusCode::UNAUTHORIZED, "log in first"))
}

/// Ask the hub whether this token's session may connect (`Ask::Admit`, which
/// also charges the address for it). You wait at most `HUB_REPLY_TIMEOUT`: a
/// hub too busy to answer, or gone, refuses the handshake like an unknown
/// session, and the client logs in again rather than hanging.
fn ask_hub(context: &WsContext, token: &str, ip: IpAddr) -> Result<SessionId, Refusal> {
    let verdict = crate::hub::ask(&context.to_hub, |reply| {
        let token = token.to_string();
        Event::Ask(Ask::Admit { token, ip, reply })
    });
    match verdict {
        Some(Admission::Welcome(session)) => Ok(session),
        Some(Admission::RateLimited) => Err((
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections or messages from your session or address; wait a little",
        )),
        Some(Admission::Unavailable) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is choosing a leader; try again in a few seconds",
        )),
        Some(Admission::UnknownSession) | None => {
            Err((StatusCode::UNAUTHORIZED, "session expired; log in again"))
        }
    }
}

/// The secret of `Authorization: Bearer <secret>`, if that is the header.
pub(crate) fn bearer(header: &str) -> Option<&str> {
    let (scheme, secret) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
}

/// Ask the hub whether this bot token may open a WebSocket (`Ask::AdmitBot`).
fn ask_hub_bot(context: &WsContext, secret: &str) -> Result<SessionId, Refusal> {
    let verdict = crate::hub::ask(&context.to_hub, |reply| {
        let secret = secret.to_string();
        Event::Ask(Ask::AdmitBot { secret, reply })
    });
    match verdict {
        Some(Ok(session)) => Ok(session),
        Some(Err(r)) if r.code == ErrorCode::BadToken => Err((
            StatusCode::UNAUTHORIZED,
            "that bot token is not valid: it was revoked, or never was one",
        )),
        Some(Err(r)) if r.code == ErrorCode::Forbidden => Err((
            StatusCode::FORBIDDEN,
            "a post token is for the webhook and the HTTP API; a WebSocket needs a read or bot token",
        )),
        Some(Err(_)) | None => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "the chat could not check the token; try again in a moment",
        )),
    }
}

/// The address limits apply to. Behind a reverse proxy every connection comes
/// from the proxy, so with `--trust-proxy` the last `X-Forwarded-For` entry (the
/// address the proxy itself saw) is used instead. Without the flag the header is
/// ignored: a client could put anything in it.
pub(crate) fn client_ip(peer: SocketAddr, forwarded_for: &str, trust_proxy: bool) -> IpAddr {
    let forwarded = || forwarded_for.rsplit(',').next()?.trim().parse().ok();
    match trust_proxy {
        true => forwarded().unwrap_or(peer.ip()),
        false => peer.ip(),
    }
}

/// The HTTP answer to a refused handshake: the status and `why` as the body.
/// For the caps (429, 503) it says when to try again, so a well-behaved client
/// backs off instead of retrying at once.
fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(format!("{why}\n")));
    *response.status_mut() = status;
    if matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        let retry = HeaderValue::from_static("10");
        response.headers_mut().insert("retry-after", retry);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let header = "203.0.113.9, 198.51.100.7";
        assert_eq!(client_ip(peer, header, false), peer.ip());
        assert_eq!(client_ip(peer, header, true).to_string(), "198.51.100.7");
        assert_eq!(client_ip(peer, "garbage", true), peer.ip());
    }
}
