//! The WebSocket listener: `accept_loop`, the handshake checks, and one
//! `connection_loop` thread per client that reads its frames.
//!
//! # Why its own listener
//!
//! tiny_http's `Request::upgrade` hands back a single `Box<dyn ReadWrite>` that
//! cannot be split (tiny-http issues #8 and #247). A chat socket must be read
//! and written at the same time: the reader blocks waiting for the user while
//! the hub writes everyone else's messages. So WebSockets get a plain
//! `std::net::TcpListener`, where we own the `TcpStream` and can share it: the
//! reader thread keeps one handle, the hub gets the other.
//!
//! # Who writes
//!
//! Exactly one thread writes to a chat socket: during the handshake, its own
//! connection thread; after it, the hub, always. tungstenite likes to answer
//! pings and close frames by itself, from inside `read`. To keep it from writing
//! behind the hub's back, its stream is a `Stream` whose writes, once the
//! handshake is done, go into a buffer; the reader forwards those bytes to the
//! hub as an `AutoReply`, and the hub writes them in order with everything else.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error as WsError, Message};

use crate::config::{
    Config, HUB_REPLY_TIMEOUT, MAX_REFUSALS_PER_IP, MAX_WS_MESSAGE_BYTES, READER_STACK_BYTES,
    REFUSAL_SLACK, REFUSAL_TIMEOUT, WS_READ_BUFFER_BYTES,
};
use crate::hub::{Admission, Ask, ConnEvent, ConnId, Event, Peer};
use crate::protocol::{self, close};
use crate::ratelimit::address_key;
use crate::session;

/// Longest pause after a failed `accept` (for example, out of file
/// descriptors). The pause doubles from 10 ms up to this, so the loop neither
/// exits nor spins.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What every connection thread needs, shared.
pub struct WsContext {
    pub to_hub: Sender<Event>,
    pub config: Config,
    /// The web listener's port: the default allowed Origin is this host on it.
    pub web_port: u16,
    /// Connection threads alive now, handshakes included.
    threads: AtomicUsize,
    /// The counts the caps are checked against.
    admitted: Mutex<Admitted>,
}

/// What the connection caps count. One lock for all of it: it is taken a few
/// times per connection, never while doing I/O.
#[derive(Default)]
struct Admitted {
    /// Connections past every check, in all (`--max-connections`).
    total: usize,
    /// By address (`ratelimit::address_key`): counted at `accept`, before a
    /// thread is spawned (behind a trusted proxy, once the forwarded address
    /// is read).
    per_address: HashMap<IpAddr, PerAddress>,
    /// Connections by session (`session::token_key`), `--max-per-session`.
    per_session: HashMap<String, usize>,
}

#[derive(Default)]
struct PerAddress {
    /// Sockets of this address: handshakes in progress and connections.
    open: usize,
    /// Of those, handshakes not finished yet.
    pending: usize,
    /// Refused sockets still being answered (see `MAX_REFUSALS_PER_IP`).
    refusing: usize,
}

impl PerAddress {
    fn is_empty(&self) -> bool {
        self.open == 0 && self.refusing == 0
    }
}

impl WsContext {
    pub fn new(to_hub: Sender<Event>, config: Config, web_port: u16) -> WsContext {
        WsContext {
            to_hub,
            config,
            web_port,
            threads: AtomicUsize::new(0),
            admitted: Mutex::new(Admitted::default()),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Admitted> {
        // A poisoned lock means a thread panicked while holding it; the counts
        // are plain integers and still usable.
        self.admitted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a new socket from `ip` in, unless its address is at a cap
    /// (`--max-per-ip` sockets, `MAX_PENDING_HANDSHAKES_PER_IP` of them
    /// unfinished). A refused socket is still given a thread to be told why,
    /// but only `MAX_REFUSALS_PER_IP` at once per address; `Err(None)` means
    /// not even that: close it.
    fn arrive(
        self: &Arc<Self>,
        ip: IpAddr,
        pending: bool,
    ) -> Result<AddressSlot, Option<Refusing>> {
        let ip = address_key(ip);
        let mut admitted = self.counts();
        let mine = admitted.per_address.entry(ip).or_default();
        let refusal = if mine.open >= self.config.max_per_ip {
            Some("too many connections from your address (--max-per-ip)")
        } else if pending && mine.pending >= self.config.max_pending_per_ip() {
            Some("too many unfinished handshakes from your address")
        } else {
            None
        };
        match refusal {
            None => {
                mine.open += 1;
                mine.pending += usize::from(pending);
                Ok(AddressSlot {
                    context: self.clone(),
                    ip,
                    pending,
                })
            }
            Some(why) if mine.refusing < MAX_REFUSALS_PER_IP => {
                mine.refusing += 1;
                Err(Some(Refusing {
                    context: self.clone(),
                    ip,
                    why: (StatusCode::TOO_MANY_REQUESTS, why),
                }))
            }
            Some(_) => {
                if mine.is_empty() {
                    admitted.per_address.remove(&ip);
                }
                Err(None)
            }
        }
    }

    /// Count a connection in past the caps in all and per session. The count
    /// goes down when the returned guard is dropped, however the connection
    /// ends.
    fn admit(&self, session: Option<String>) -> Result<AdmitGuard<'_>, Refusal> {
        let mut admitted = self.counts();
        if admitted.total >= self.config.max_connections {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is at its connection limit (--max-connections); try again soon",
            ));
        }
        if let Some(session) = &session {
            let mine = admitted.per_session.entry(session.clone()).or_insert(0);
            if *mine >= self.config.max_per_session {
                return Err((
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many connections for one session (--max-per-session)",
                ));
            }
            *mine += 1;
        }
        admitted.total += 1;
        Ok(AdmitGuard {
            context: self,
            session,
        })
    }
}

/// One socket counted against its address; dropping it counts it out.
struct AddressSlot {
    context: Arc<WsContext>,
    ip: IpAddr,
    /// Still counted as an unfinished handshake.
    pending: bool,
}

impl AddressSlot {
    /// The handshake is over: the socket no longer counts as unfinished.
    fn handshake_done(&mut self) {
        if std::mem::take(&mut self.pending) {
            let mut admitted = self.context.counts();
            if let Some(mine) = admitted.per_address.get_mut(&self.ip) {
                mine.pending -= 1;
            }
        }
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.handshake_done();
        let mut admitted = self.context.counts();
        if let Some(mine) = admitted.per_address.get_mut(&self.ip) {
            mine.open -= 1;
            if mine.is_empty() {
                admitted.per_address.remove(&self.ip);
            }
        }
    }
}

/// A refused socket being told so; dropping it counts the refusal out.
struct Refusing {
    context: Arc<WsContext>,
    ip: IpAddr,
    why: Refusal,
}

impl Drop for Refusing {
    fn drop(&mut self) {
        let mut admitted = self.context.counts();
        if let Some(mine) = admitted.per_address.get_mut(&self.ip) {
            mine.refusing -= 1;
            if mine.is_empty() {
                admitted.per_address.remove(&self.ip);
            }
        }
    }
}

/// One admitted connection; dropping it counts the connection out.
struct AdmitGuard<'a> {
    context: &'a WsContext,
    session: Option<String>,
}

impl Drop for AdmitGuard<'_> {
    fn drop(&mut self) {
        let mut admitted = self.context.counts();
        admitted.total -= 1;
        if let Some(session) = &self.session {
            if let Some(n) = admitted.per_session.get_mut(session) {
                *n -= 1;
                if *n == 0 {
                    admitted.per_session.remove(session);
                }
            }
        }
    }
}

/// Accept connections until `stop` is set, giving each its own thread.
///
/// Errors never end this loop: a failed accept backs off and retries, a failed
/// thread spawn refuses that one connection, and whatever a connection does
/// stays in its own thread. To stop it, set `stop` and connect once to wake the
/// blocking `accept`.
pub fn accept_loop(listener: TcpListener, context: Arc<WsContext>, stop: Arc<AtomicBool>) {
    let mut next_id: ConnId = 1;
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) => {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                eprintln!("natter: ws accept failed: {err}; retrying in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // Far past the connection cap (handshakes that will be refused, or never
        // finish), new sockets are closed without even a thread.
        let threads = context.threads.load(Ordering::SeqCst);
        if threads >= context.config.max_connections + REFUSAL_SLACK {
            continue;
        }
        // The address is counted here, before any thread is spent on it, so
        // that one address holding thousands of half-sent handshakes cannot
        // take the slots of everyone else. Behind a trusted proxy every
        // socket comes from the proxy: the real address is only known from
        // the request, so it is counted there (`check_handshake`).
        let slot = match context.config.trust_proxy {
            true => None,
            false => match context.arrive(peer.ip(), true) {
                Ok(slot) => Some(Ok(slot)),
                Err(Some(refusing)) => Some(Err(refusing)),
                Err(None) => continue, // dropping the stream closes it
            },
        };
        let id = next_id;
        next_id += 1;
        let context = context.clone();
        // `Builder::spawn` returns an error near the thread limit, where
        // `thread::spawn` would abort the whole process. The closure (and the
        // stream in it) is dropped on failure, which refuses this one client.
        let spawned = thread::Builder::new()
            .name(format!("ws-{id}"))
            .stack_size(READER_STACK_BYTES)
            .spawn(move || {
                context.threads.fetch_add(1, Ordering::SeqCst);
                connection_loop(stream, peer, id, &context, slot);
                context.threads.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(err) = spawned {
            eprintln!("natter: cannot start a thread for {peer}: {err}; connection refused");
        }
    }
}

/// The socket as tungstenite sees it: reads go to the network; writes go to the
/// network during the handshake and into `captured` after it.
struct Stream {
    /// Shared with the hub. `&TcpStream` can both read and write, so one
    /// socket (one file descriptor) serves both threads; `try_clone` would
    /// cost a second descriptor per client.
    inner: Arc<TcpStream>,
    captured: Option<Vec<u8>>,
    /// While set, no single read may wait past it (the handshake deadline).
    deadline: Option<Instant>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.inner.set_read_timeout(Some(left))?;
        }
        (&*self.inner).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.captured {
            Some(captured) => {
                captured.extend_from_slice(buf);
                Ok(buf.len())
            }
            None => (&*self.inner).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.captured {
            Some(_) => Ok(()),
            None => (&*self.inner).flush(),
        }
    }
}

/// tungstenite's limits, set explicitly. Its defaults (64 MiB messages, a
/// 128 KiB read buffer per connection) suit neither a chat nor a small host.
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_WS_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_WS_MESSAGE_BYTES))
        .write_buffer_size(0)
        .accept_unmasked_frames(false)
}

/// A socket's standing with its address's caps, decided at `accept`: counted
/// in, or refused (and to be told why). `None` behind a trusted proxy, where
/// the address is counted once the request names it.
type Arrival = Option<Result<AddressSlot, Refusing>>;

/// One client, from handshake to goodbye. Runs on its own thread.
fn connection_loop(
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnId,
    context: &Arc<WsContext>,
    arrival: Arrival,
) {
    // Chat frames are small and latency matters: without this, Nagle's
    // algorithm holds small writes back and throughput falls several times over.
    let _ = stream.set_nodelay(true);
    let (mut slot, refused) = match arrival {
        Some(Ok(slot)) => (Some(slot), None),
        Some(Err(refusing)) => (None, Some(refusing)),
        None => (None, None),
    };
    let patience = match refused {
        Some(_) => REFUSAL_TIMEOUT.min(context.config.handshake_timeout),
        None => context.config.handshake_timeout,
    };
    let _ = stream.set_write_timeout(Some(patience));
    let stream = Stream {
        inner: Arc::new(stream),
        captured: None,
        deadline: Some(Instant::now() + patience),
    };

    let mut admitted = None;
    // tungstenite's callback type returns a whole HTTP response as its error.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| {
        if let Some(refusing) = &refused {
            // Refused at accept; the request is read only to answer it.
            let (status, why) = refusing.why;
            return Err(refuse(status, why));
        }
        match check_handshake(request, peer, context, slot.is_none()) {
            Ok(ok) => {
                admitted = Some(ok);
                Ok(response)
            }
            Err((status, why)) => Err(refuse(status, why)),
        }
    };
    let mut ws = match tungstenite::accept_hdr_with_config(stream, check, Some(websocket_config()))
    {
        Ok(ws) => ws,
        // Refused (401, 403, 404), timed out, or not WebSocket at all. The
        // response, if any, was written; dropping the stream closes it.
        Err(_) => return,
    };
    let (peer, ip, _admitted, forwarded_slot) =
        admitted.expect("a handshake only succeeds after the check admitted it");
    if let Some(slot) = slot.as_mut() {
        slot.handshake_done();
    }
    // The address's count, from `accept` or from the check: held until this
    // function returns, when the connection is over.
    let _slots = (slot, forwarded_slot);

    // From here on, the hub is the only writer and reads may wait up to the
    // idle timeout: the hub pings well within it, so a live peer always has
    // something to answer.
    let socket = ws.get_mut();
    socket.captured = Some(Vec::new());
    socket.deadline = None;
    if socket
        .inner
        .set_read_timeout(Some(context.config.idle_timeout))
        .is_err()
    {
        return;
    }
    let writer = socket.inner.clone();
    let to_hub = &context.to_hub;
    if to_hub
        .send(Event::Conn(
            id,
            ConnEvent::Connected {
                peer,
                socket: writer,
                ip,
            },
        ))
        .is_err()
    {
        return; // The hub has stopped; so are we.
    }

    let close = loop {
        let result = ws.read();
        // A ping or close may have made tungstenite queue a reply. Flushing
        // moves it into our capture buffer, and from there to the hub.
        if !matches!(result, Ok(Message::Text(_))) {
            let _ = ws.flush();
            let captured = ws.get_mut().captured.as_mut().map(std::mem::take);
            if let Some(bytes) = captured.filter(|b| !b.is_empty()) {
                if to_hub
                    .send(Event::Conn(id, ConnEvent::AutoReply(bytes)))
                    .is_err()
                {
                    return;
                }
            }
        }
        let event = match result {
            Ok(Message::Text(text)) if peer == Peer::Echo => {
                ConnEvent::Echo(protocol::data_frame(text.as_bytes().to_vec(), false))
            }
            Ok(Message::Binary(data)) if peer == Peer::Echo => {
                ConnEvent::Echo(protocol::data_frame(data.to_vec(), true))
            }
            Ok(Message::Text(text)) => match protocol::parse_request(&text) {
                Ok(request) => ConnEvent::Request(request),
                Err(rejection) => ConnEvent::Rejected(rejection),
            },
            Ok(Message::Binary(_)) => {
                break Some((
                    close::UNSUPPORTED_DATA,
                    "binary frames are not supported; send JSON text",
                ))
            }
            Ok(Message::Close(_)) => break None,
            // Answered already (a ping's pong went out above as an AutoReply,
            // which the hub charges); a pong is charged too.
            Ok(Message::Pong(_)) => ConnEvent::Pong,
            Ok(_) => continue,
            Err(err) => break close_for(&err),
        };
        if to_hub.send(Event::Conn(id, event)).is_err() {
            return;
        }
    };
    let _ = to_hub.send(Event::Conn(id, ConnEvent::Disconnected { close }));
}

/// The close code and reason for a read error, or `None` when the connection
/// simply ended (closed, reset, or idle past the timeout).
fn close_for(err: &WsError) -> Option<(u16, &'static str)> {
    match err {
        WsError::Capacity(_) => Some((close::TOO_BIG, "message too big: the limit is 64 KiB")),
        WsError::Utf8(_) => Some((close::INVALID_PAYLOAD, "text frame is not valid UTF-8")),
        WsError::Protocol(_) => Some((close::PROTOCOL_ERROR, "WebSocket protocol error")),
        _ => None,
    }
}

/// Why a handshake was refused: the HTTP status and a line for the body.
type Refusal = (StatusCode, &'static str);

/// What a successful check hands on: what kind of peer this is (decided here,
/// once), the client's address, its admission, and (behind a trusted proxy)
/// its count against the forwarded address.
type Checked<'a> = (Peer, IpAddr, AdmitGuard<'a>, Option<AddressSlot>);

/// Decide whether to accept a handshake: the right path, an allowed Origin, a
/// live session, and room under the connection caps.
fn check_handshake<'a>(
    request: &Request,
    peer: SocketAddr,
    context: &'a Arc<WsContext>,
    count_address: bool,
) -> Result<Checked<'a>, Refusal> {
    if context.config.echo {
        return Ok((Peer::Echo, peer.ip(), context.admit(None)?, None));
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
    if !crate::origin::host_allowed(header("host"), &context.config) {
        return Err((
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that host name; its operator can allow \
             it with --allowed-host NAME",
        ));
    }
    if !origin_allowed(header("origin"), header("host"), context) {
        return Err((StatusCode::FORBIDDEN, "origin not allowed"));
    }
    let token = request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::token_from_cookies)
        .ok_or((StatusCode::UNAUTHORIZED, "log in first"))?;
    let ip = client_ip(peer, header("x-forwarded-for"), context.config.trust_proxy);
    let address_slot = match count_address {
        true => Some(
            context
                .arrive(ip, false)
                .map_err(|refusing| match refusing {
                    Some(refusing) => refusing.why,
                    None => (
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many connections from your address (--max-per-ip)",
                    ),
                })?,
        ),
        false => None,
    };
    let (reply, answer) = crossbeam_channel::bounded(1);
    let admit = Event::Ask(Ask::Admit {
        token: token.clone(),
        ip,
        reply,
    });
    let verdict = match context.to_hub.send(admit) {
        Ok(()) => answer.recv_timeout(HUB_REPLY_TIMEOUT).ok(),
        Err(_) => None,
    };
    let session = match verdict {
        Some(Admission::Welcome(session)) => session,
        Some(Admission::RateLimited) => {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections or messages from your session or address; wait a little",
            ))
        }
        Some(Admission::UnknownSession) | None => {
            return Err((StatusCode::UNAUTHORIZED, "session expired; log in again"))
        }
    };
    let guard = context.admit(Some(session::token_key(&token)))?;
    Ok((Peer::Member(session), ip, guard, address_slot))
}

/// The address limits apply to. Behind a reverse proxy every connection comes
/// from the proxy, so with `--trust-proxy` the last `X-Forwarded-For` entry (the
/// address the proxy itself saw) is used instead. Without the flag the header is
/// ignored: a client could put anything in it.
pub fn client_ip(peer: SocketAddr, forwarded_for: &str, trust_proxy: bool) -> IpAddr {
    let forwarded = || forwarded_for.rsplit(',').next()?.trim().parse().ok();
    match trust_proxy {
        true => forwarded().unwrap_or(peer.ip()),
        false => peer.ip(),
    }
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(format!("{why}\n")));
    *response.status_mut() = status;
    if matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        let retry = tungstenite::http::HeaderValue::from_static("10");
        response.headers_mut().insert("retry-after", retry);
    }
    response
}

/// The Origin check. Browsers always send Origin on a WebSocket handshake, and
/// a page on another site cannot forge it; checking it stops other sites from
/// using a visitor's cookie to chat as them.
///
/// With `--public-url`, that origin exactly. Otherwise the page's own origin:
/// `http://` + the host this request was sent to + the web port. Whole strings
/// are compared, never substrings, so `http://localhost:8080.evil.example` fails.
fn origin_allowed(origin: &str, host: &str, context: &WsContext) -> bool {
    if origin.is_empty() {
        return false;
    }
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if let Some(public) = &context.config.public_url {
        return origin == public.trim_end_matches('/').to_ascii_lowercase();
    }
    let hostname = strip_port(host).to_ascii_lowercase();
    if hostname.is_empty() {
        return false;
    }
    let expected = match context.web_port {
        80 => format!("http://{hostname}"),
        port => format!("http://{hostname}:{port}"),
    };
    origin == expected
}

/// `example.com:8081` → `example.com`; `[::1]:8081` → `[::1]`.
pub fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(public_url: Option<&str>) -> WsContext {
        let (to_hub, _) = crossbeam_channel::bounded(1);
        let config = Config {
            public_url: public_url.map(str::to_string),
            ..Config::default()
        };
        WsContext::new(to_hub, config, 8080)
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let header = "203.0.113.9, 198.51.100.7";
        assert_eq!(client_ip(peer, header, false), peer.ip());
        assert_eq!(client_ip(peer, header, true).to_string(), "198.51.100.7");
        assert_eq!(client_ip(peer, "garbage", true), peer.ip());
    }

    #[test]
    fn caps_refuse_and_release() {
        let (to_hub, _) = crossbeam_channel::bounded(1);
        let config = Config {
            max_connections: 3,
            max_per_ip: 2,
            max_per_session: 2,
            ..Config::default()
        };
        let c = Arc::new(WsContext::new(to_hub, config, 8080));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = c.arrive(a, true).ok().unwrap();
        let _second = c.arrive(a, true).ok().unwrap();
        // The third from that address is refused, and told why ...
        let refusing = c.arrive(a, true).err().unwrap().unwrap();
        assert_eq!(refusing.why.0, StatusCode::TOO_MANY_REQUESTS);
        let _also: Vec<_> = (1..crate::config::MAX_REFUSALS_PER_IP)
            .map(|_| c.arrive(a, true).err().unwrap().unwrap())
            .collect();
        // ... but only so many refusals are answered at once.
        assert!(c.arrive(a, true).err().unwrap().is_none());
        drop(first);
        assert!(c.arrive(a, true).is_ok());

        // Sessions and the total.
        let s1 = c.admit(Some("s1".into())).unwrap();
        let _s1b = c.admit(Some("s1".into())).unwrap();
        assert_eq!(
            c.admit(Some("s1".into())).err().unwrap().0,
            StatusCode::TOO_MANY_REQUESTS
        );
        let _s2 = c.admit(Some("s2".into())).unwrap();
        assert_eq!(
            c.admit(Some("s3".into())).err().unwrap().0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(s1);
        assert!(c.admit(Some("s3".into())).is_ok());
    }

    #[test]
    fn unfinished_handshakes_are_capped_per_address_and_ipv6_slash_64() {
        let (to_hub, _) = crossbeam_channel::bounded(1);
        let c = Arc::new(WsContext::new(to_hub, Config::default(), 8080));
        let mut slots: Vec<_> = (0..crate::config::MAX_PENDING_HANDSHAKES_PER_IP)
            .map(|i| {
                let ip: IpAddr = format!("2001:db8::{:x}", i + 1).parse().unwrap();
                c.arrive(ip, true).ok().unwrap()
            })
            .collect();
        // Another address of the same /64 is the same address.
        let ip: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert!(c.arrive(ip, true).is_err());
        // A finished handshake frees its pending place, not its connection.
        slots[0].handshake_done();
        assert!(c.arrive(ip, true).is_ok());
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert!(c.arrive(other, true).is_ok());
    }

    #[test]
    fn origin_must_match_exactly() {
        let c = context(None);
        assert!(origin_allowed(
            "http://localhost:8080",
            "localhost:8081",
            &c
        ));
        assert!(origin_allowed("http://[::1]:8080", "[::1]:8081", &c));
        assert!(!origin_allowed(
            "http://localhost:8080.evil.example",
            "localhost:8081",
            &c
        ));
        assert!(!origin_allowed("http://evil.example", "localhost:8081", &c));
        assert!(!origin_allowed(
            "http://localhost:9999",
            "localhost:8081",
            &c
        ));
        assert!(!origin_allowed("", "localhost:8081", &c));
        let c = context(Some("https://chat.example.com/"));
        assert!(origin_allowed("https://chat.example.com", "anything", &c));
        assert!(!origin_allowed(
            "https://chat.example.com.evil",
            "anything",
            &c
        ));
    }
}
