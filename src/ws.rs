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
    Config, HUB_REPLY_TIMEOUT, MAX_WS_MESSAGE_BYTES, READER_STACK_BYTES, REFUSAL_SLACK,
    WS_READ_BUFFER_BYTES,
};
use crate::hub::{Admission, ConnId, Event};
use crate::protocol::{self, close};
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
    /// Admitted connections, in total and per address.
    admitted: Mutex<Admitted>,
}

#[derive(Default)]
struct Admitted {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
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

    /// Count a connection in, unless a cap says no. The count goes down when the
    /// returned guard is dropped, however the connection ends.
    fn admit(&self, ip: IpAddr) -> Result<AdmitGuard<'_>, Refusal> {
        // A poisoned lock means a thread panicked while holding it; the counts
        // are plain integers and still usable.
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        if admitted.total >= self.config.max_connections {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is at its connection limit (--max-connections); try again soon",
            ));
        }
        let mine = admitted.per_ip.entry(ip).or_insert(0);
        if *mine >= self.config.max_per_ip {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address (--max-per-ip)",
            ));
        }
        *mine += 1;
        admitted.total += 1;
        Ok(AdmitGuard { context: self, ip })
    }
}

/// One admitted connection; dropping it counts the connection out.
struct AdmitGuard<'a> {
    context: &'a WsContext,
    ip: IpAddr,
}

impl Drop for AdmitGuard<'_> {
    fn drop(&mut self) {
        let mut admitted = self
            .context
            .admitted
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        admitted.total -= 1;
        if let Some(n) = admitted.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                admitted.per_ip.remove(&self.ip);
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
                connection_loop(stream, peer, id, &context);
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

/// One client, from handshake to goodbye. Runs on its own thread.
fn connection_loop(stream: TcpStream, peer: SocketAddr, id: ConnId, context: &WsContext) {
    // Chat frames are small and latency matters: without this, Nagle's
    // algorithm holds small writes back and throughput falls several times over.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(context.config.handshake_timeout));
    let stream = Stream {
        inner: Arc::new(stream),
        captured: None,
        deadline: Some(Instant::now() + context.config.handshake_timeout),
    };

    let mut admitted = None;
    // tungstenite's callback type returns a whole HTTP response as its error.
    #[allow(clippy::result_large_err)]
    let check =
        |request: &Request, response: Response| match check_handshake(request, peer, context) {
            Ok(ok) => {
                admitted = Some(ok);
                Ok(response)
            }
            Err((status, why)) => Err(refuse(status, why)),
        };
    let mut ws = match tungstenite::accept_hdr_with_config(stream, check, Some(websocket_config()))
    {
        Ok(ws) => ws,
        // Refused (401, 403, 404), timed out, or not WebSocket at all. The
        // response, if any, was written; dropping the stream closes it.
        Err(_) => return,
    };
    let (token, ip, _admitted) =
        admitted.expect("a handshake only succeeds after the check admitted it");

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
        .send(Event::Connected {
            conn: id,
            token,
            socket: writer,
            ip,
        })
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
                if to_hub.send(Event::AutoReply { conn: id, bytes }).is_err() {
                    return;
                }
            }
        }
        let event = match result {
            Ok(Message::Text(text)) if context.config.echo => Event::Echo {
                conn: id,
                frame: protocol::data_frame(text.as_bytes().to_vec(), false),
            },
            Ok(Message::Binary(data)) if context.config.echo => Event::Echo {
                conn: id,
                frame: protocol::data_frame(data.to_vec(), true),
            },
            Ok(Message::Text(text)) => match protocol::parse_request(&text) {
                Ok(request) => Event::Request { conn: id, request },
                Err(rejection) => Event::Rejected {
                    conn: id,
                    rejection,
                },
            },
            Ok(Message::Binary(_)) => {
                break Some((
                    close::UNSUPPORTED_DATA,
                    "binary frames are not supported; send JSON text",
                ))
            }
            Ok(Message::Close(_)) => break None,
            Ok(_) => continue, // ping or pong: reading it was all that mattered
            Err(err) => break close_for(&err),
        };
        if to_hub.send(event).is_err() {
            return;
        }
    };
    let _ = to_hub.send(Event::Disconnected { conn: id, close });
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

/// Decide whether to accept a handshake: the right path, an allowed Origin, a
/// live session, and room under the connection caps. Returns the session token
/// (none in echo mode), the client's address and its admission, or the refusal.
fn check_handshake<'a>(
    request: &Request,
    peer: SocketAddr,
    context: &'a WsContext,
) -> Result<(Option<String>, IpAddr, AdmitGuard<'a>), Refusal> {
    if context.config.echo {
        let ip = peer.ip();
        return Ok((None, ip, context.admit(ip)?));
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
    let (reply, answer) = crossbeam_channel::bounded(1);
    let admit = Event::Admit {
        token: token.clone(),
        ip,
        reply,
    };
    let verdict = match context.to_hub.send(admit) {
        Ok(()) => answer.recv_timeout(HUB_REPLY_TIMEOUT).ok(),
        Err(_) => None,
    };
    match verdict {
        Some(Admission::Welcome) => {}
        Some(Admission::RateLimited) => {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections or messages from your address; wait a little",
            ))
        }
        Some(Admission::UnknownSession) | None => {
            return Err((StatusCode::UNAUTHORIZED, "session expired; log in again"))
        }
    }
    let guard = context.admit(ip)?;
    Ok((Some(token), ip, guard))
}

/// The address limits apply to. Behind a reverse proxy every connection comes
/// from the proxy, so with `--trust-proxy` the last `X-Forwarded-For` entry (the
/// address the proxy itself saw) is used instead. Without the flag the header is
/// ignored: a client could put anything in it.
fn client_ip(peer: SocketAddr, forwarded_for: &str, trust_proxy: bool) -> IpAddr {
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
            ..Config::default()
        };
        let c = WsContext::new(to_hub, config, 8080);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = c.admit(a).unwrap();
        let _second = c.admit(a).unwrap();
        assert_eq!(c.admit(a).err().unwrap().0, StatusCode::TOO_MANY_REQUESTS);
        let _third = c.admit(b).unwrap();
        assert_eq!(c.admit(b).err().unwrap().0, StatusCode::SERVICE_UNAVAILABLE);
        drop(first);
        assert!(c.admit(b).is_ok());
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
