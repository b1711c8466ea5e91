//! Shared test helpers: start the real server in-process on port 0, log in over
//! real HTTP, and talk WebSocket with a real tungstenite client. Every read has
//! a deadline, so a bug fails a test instead of hanging it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

pub use natter::Config;

/// How long any single expected event may take before the test fails. Generous:
/// CI machines are shared and slow, and a passing test never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A running server; shut down (close 1001 to everyone) when dropped.
pub struct TestServer {
    server: Option<natter::Server>,
    pub web: SocketAddr,
    pub ws: SocketAddr,
}

/// Start a server with test-friendly settings (port 0, a short leave grace, no
/// per-address limits).
pub fn start() -> TestServer {
    start_with(|_| {})
}

/// Start a server after adjusting its config.
pub fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    // Every test client comes from 127.0.0.1, so per-address limits would make
    // unrelated tests interfere; the tests of those limits turn them back on.
    let mut config = Config {
        port: 0,
        leave_grace: Duration::from_millis(300),
        rate_limit: None,
        db: ":memory:".to_string(),
        max_per_ip: 100_000,
        max_web_per_ip: 100_000,
        max_connections: 100_000,
        ..Config::default()
    };
    adjust(&mut config);
    let server = natter::start(config).expect("the server starts on port 0");
    TestServer {
        web: server.web_addr(),
        ws: server.ws_addr(),
        server: Some(server),
    }
}

impl TestServer {
    /// Graceful shutdown, as SIGTERM does it. Returns whether the hub ended cleanly.
    pub fn shutdown(mut self) -> bool {
        self.server.take().map(|s| s.shutdown()).unwrap_or(true)
    }

    /// Fault injection: make the hub thread panic.
    pub fn inject_hub_failure(&self) {
        self.server
            .as_ref()
            .expect("a running server")
            .inject_hub_failure();
    }

    /// Whether the hub thread has ended within `wait` (what `run` watches).
    pub fn hub_stopped_within(&self, wait: Duration) -> bool {
        let server = self.server.as_ref().expect("a running server");
        matches!(
            server.hub_done().recv_timeout(wait),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.web.port())
    }

    /// Log in and return the session token (the cookie's value).
    pub fn login(&self, name: &str, room: &str) -> String {
        let response = self.post_form("/login", &[("name", name), ("room", room)], None);
        assert_eq!(response.status, 303, "login failed: {}", response.body);
        response
            .cookie()
            .expect("a successful login sets the session cookie")
    }

    /// Log in and open a WebSocket for that session, already past `hello`.
    pub fn user(&self, name: &str) -> Client {
        let token = self.login(name, "lobby");
        let mut client = self.connect(&token);
        let hello = client.recv_type("hello");
        assert_eq!(hello["user"], name);
        client
    }

    /// Open a WebSocket with this session cookie and the page's own Origin.
    pub fn connect(&self, token: &str) -> Client {
        self.try_connect(Some(token), Some(&self.origin()))
            .unwrap_or_else(|status| panic!("WebSocket refused with HTTP {status}"))
    }

    /// Open a WebSocket; on refusal return the HTTP status.
    pub fn try_connect(&self, token: Option<&str>, origin: Option<&str>) -> Result<Client, u16> {
        self.try_connect_path("/ws", token, origin)
    }

    pub fn try_connect_path(
        &self,
        path: &str,
        token: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Client, u16> {
        let stream = TcpStream::connect(self.ws).expect("the WebSocket port accepts");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let url = format!("ws://127.0.0.1:{}{path}", self.ws.port());
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        if let Some(token) = token {
            let cookie = format!("natter_session={token}");
            request
                .headers_mut()
                .insert("Cookie", cookie.parse().unwrap());
        }
        match tungstenite::client(request, stream) {
            Ok((socket, _)) => Ok(Client { socket }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(response.status().as_u16())
            }
            Err(err) => panic!("handshake failed: {err}"),
        }
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> HttpResponse {
        let mut headers = Vec::new();
        if let Some(token) = cookie {
            headers.push(format!("Cookie: natter_session={token}"));
        }
        self.request("GET", path, &headers, b"")
    }

    pub fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> HttpResponse {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut headers = vec!["Content-Type: application/x-www-form-urlencoded".to_string()];
        if let Some(token) = cookie {
            headers.push(format!("Cookie: natter_session={token}"));
        }
        self.request("POST", path, &headers, body.as_bytes())
    }

    /// One HTTP/1.1 request with `Connection: close`, read to the end.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[String],
        body: &[u8],
    ) -> HttpResponse {
        let mut stream = TcpStream::connect(self.web).expect("the web port accepts");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.web.port(),
            body.len()
        );
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .expect("the response arrives before the deadline");
        HttpResponse::parse(&raw)
    }
}

impl TestServer {
    /// Send these exact bytes to the web port, say that nothing more follows
    /// (so a server that would wait for a next request sees the end), and read
    /// the answer until the server closes the connection (within the deadline).
    /// The server may answer and hang up before it has read all of them (a
    /// head too large), so a failed write is not a failure here.
    pub fn raw(&self, bytes: &[u8]) -> HttpResponse {
        let mut stream = TcpStream::connect(self.web).expect("the web port accepts");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let _ = stream.write_all(bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .expect("the server answers and closes before the deadline");
        HttpResponse::parse(&raw)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A chunked body's data: each chunk is its size in hex, CRLF, the bytes,
/// CRLF; a chunk of size 0 ends it. What does not parse ends it too (a test
/// then sees a short body).
pub fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0 && raw.len() >= end + 2 + n) else {
            break;
        };
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = raw.get(end + 2 + size + 2..).unwrap_or(&[]);
    }
    body
}

impl HttpResponse {
    /// Parse a whole response as read off the socket; a chunked body is
    /// put back together.
    pub fn parse(raw: &[u8]) -> HttpResponse {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match split {
            Some(at) => (&raw[..at], &raw[at + 4..]),
            None => (raw, &b""[..]),
        };
        let head = String::from_utf8_lossy(head);
        let chunked = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim() == "chunked"
            })
        });
        let body = match chunked {
            true => dechunk(body),
            false => body.to_vec(),
        };
        let body = String::from_utf8_lossy(&body);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("an HTTP status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        HttpResponse {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The session token from `Set-Cookie`, if one was set (under either
    /// name: `__Host-natter_session` behind an `https://` public URL).
    pub fn cookie(&self) -> Option<String> {
        let value = self.header("set-cookie")?;
        let value = value.strip_prefix("__Host-").unwrap_or(value);
        let token = value.strip_prefix("natter_session=")?.split(';').next()?;
        (!token.is_empty()).then(|| token.to_string())
    }
}

/// A WebSocket client, as a page would be.
pub struct Client {
    pub socket: WebSocket<TcpStream>,
}

impl Client {
    pub fn send(&mut self, value: Value) {
        self.socket
            .send(Message::text(value.to_string()))
            .expect("sending to the server works");
    }

    pub fn send_raw(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .expect("sending to the server works");
    }

    pub fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room}));
        self.recv_type("joined")
    }

    pub fn say(&mut self, room: &str, text: &str) {
        self.send(json!({"type": "message", "room": room, "text": text}));
    }

    /// The next JSON message, whatever its type. Panics at the deadline or if
    /// the connection closes.
    pub fn recv(&mut self) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "no message before the deadline");
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(&text).expect("the server sends JSON")
                }
                Ok(Message::Close(frame)) => panic!("closed by the server: {frame:?}"),
                Ok(_) => continue,
                Err(err) => panic!("read failed: {err}"),
            }
        }
    }

    /// Skip messages until one of this type arrives, and return it.
    pub fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let value = self.recv();
            if value["type"] == kind {
                return value;
            }
        }
    }

    /// The next chat message (skipping presence, typing and notices).
    pub fn recv_message(&mut self) -> Value {
        self.recv_type("message")
    }

    /// Expect nothing of this type within `wait`. Other types are skipped.
    pub fn expect_none(&mut self, kind: &str, wait: Duration) {
        let stream = self.socket.get_ref();
        stream.set_read_timeout(Some(wait)).unwrap();
        let until = Instant::now() + wait;
        while Instant::now() < until {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    assert_ne!(value["type"], kind, "unexpected {kind}: {value}");
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(err) => panic!("read failed: {err}"),
            }
        }
        self.socket
            .get_ref()
            .set_read_timeout(Some(DEADLINE))
            .unwrap();
    }

    /// Read until the server closes, and return its close code (None when the
    /// connection ended without a close frame).
    pub fn expect_close(&mut self) -> Option<u16> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "not closed before the deadline");
            match self.socket.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Close abruptly: no close frame, as when a tab crashes or the network drops.
    pub fn drop_abruptly(self) {
        let _ = self.socket.get_ref().shutdown(std::net::Shutdown::Both);
    }
}

/// `CloseCode` to number, for readable assertions.
pub fn code(code: CloseCode) -> u16 {
    u16::from(code)
}

/// A handle on a server that something else started (say, the real binary in
/// another process), so the same HTTP and WebSocket helpers can talk to it.
/// Dropping it does nothing: whoever started the server stops it.
pub fn attach(web: SocketAddr, ws: SocketAddr) -> TestServer {
    TestServer {
        server: None,
        web,
        ws,
    }
}

/// The value of the `<input name="...">` in a page, HTML entities left as sent.
pub fn input_value<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[at..tag_end];
    let start = tag.find("value=\"")? + "value=\"".len();
    let len = tag[start..].find('"')?;
    Some(&html[at + start..at + start + len])
}

/// Undo the escaping `web.rs` applies to text put into a page.
pub fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The real `natter` binary in its own process, started on free ports. A crash
/// there (even an abort) ends that process only, so a test can report it.
/// Killed when dropped, if it is still running.
pub struct Binary {
    pub child: std::process::Child,
    pub web: SocketAddr,
    pub ws: SocketAddr,
}

impl Binary {
    /// Start `natter --port 0 <args>` and wait (up to the deadline) for it to
    /// print where it listens.
    pub fn start(args: &[&str]) -> Binary {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_natter"));
        command
            .args(["--port", "0", "--host", "127.0.0.1"])
            .args(args);
        if !args.contains(&"--db") {
            command.args(["--db", ":memory:"]);
        }
        Binary::spawn(command)
    }

    /// Like `start`, under `ulimit FLAGS` (`-n 64`: at most 64 open files;
    /// `-Sn 1024`: a soft limit of 1024), with stderr going to `stderr` if
    /// given.
    pub fn start_with_ulimit(flags: &str, stderr: Option<&Path>, args: &[&str]) -> Binary {
        let redirect = stderr.map_or(String::new(), |path| format!(" 2>'{}'", path.display()));
        let mut command = std::process::Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit {flags} && exec \"$0\" \"$@\"{redirect}"))
            .arg(env!("CARGO_BIN_EXE_natter"))
            .args(["--port", "0", "--host", "127.0.0.1"])
            .args(args);
        if !args.contains(&"--db") {
            command.args(["--db", ":memory:"]);
        }
        Binary::spawn(command)
    }

    fn spawn(mut command: std::process::Command) -> Binary {
        use std::io::BufRead;
        use std::process::Stdio;

        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, startup) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut binary = Binary {
            child,
            web: SocketAddr::from(([0, 0, 0, 0], 0)),
            ws: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let deadline = Instant::now() + DEADLINE;
        let (mut web, mut ws) = (None, None);
        while web.is_none() || ws.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = startup
                .recv_timeout(left)
                .expect("the server says where it is listening before the deadline");
            if let Some(url) = line.split("open ").nth(1) {
                let addr = url
                    .trim()
                    .strip_prefix("http://")
                    .and_then(|rest| rest.strip_suffix('/'))
                    .unwrap_or_else(|| panic!("a URL to open: {line}"));
                web = Some(addr.parse::<SocketAddr>().expect("host:port"));
            }
            if let Some(rest) = line.split("WebSocket listener on port ").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                ws = Some(port.parse::<u16>().expect("a port number"));
            }
        }
        binary.web = web.unwrap();
        binary.ws = SocketAddr::new(binary.web.ip(), ws.unwrap());
        binary
    }

    /// The HTTP and WebSocket helpers, pointed at this process.
    pub fn server(&self) -> TestServer {
        attach(self.web, self.ws)
    }

    /// Send a signal by name (`TERM`, `INT`) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Whether the process has ended, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait works")
    }

    /// Wait up to `limit` for the process to end on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers for the abuse tests (issue 4): handshakes with extra headers, raw
// sockets and hand-made frames, and a look at a process's threads and fds.

/// A refused WebSocket handshake: the HTTP status and its `Retry-After`.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub retry_after: Option<String>,
}

impl TestServer {
    /// Open a WebSocket for this session with extra request headers (say,
    /// `X-Forwarded-For`). On refusal, the status and `Retry-After`.
    pub fn try_connect_with(
        &self,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, Refused> {
        let stream = TcpStream::connect(self.ws).expect("the WebSocket port accepts");
        self.handshake(stream, token, headers)
    }

    /// The client side of the WebSocket handshake on an open socket, as the
    /// page makes it: its own Origin, the session cookie, and `headers`.
    pub fn handshake(
        &self,
        stream: TcpStream,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, Refused> {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let url = format!("ws://127.0.0.1:{}/ws", self.ws.port());
        let mut request = url.into_client_request().unwrap();
        let h = request.headers_mut();
        h.insert("Origin", self.origin().parse().unwrap());
        h.insert("Cookie", format!("natter_session={token}").parse().unwrap());
        for (name, value) in headers {
            h.insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        match tungstenite::client(request, stream) {
            Ok((socket, _)) => Ok(Client { socket }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(Refused {
                    status: response.status().as_u16(),
                    retry_after: response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                })
            }
            Err(err) => panic!("handshake failed: {err}"),
        }
    }

    /// Connect this session claiming to come from `forwarded_for` (only a
    /// server with `trust_proxy` believes it), already past `hello`.
    pub fn connect_via(&self, token: &str, forwarded_for: &str) -> Client {
        let mut client = self
            .try_connect_with(token, &[("X-Forwarded-For", forwarded_for)])
            .unwrap_or_else(|r| panic!("WebSocket refused: {r:?}"));
        client.recv_type("hello");
        client
    }

    /// Log in as `name` and connect via `forwarded_for`, past `hello`.
    pub fn user_via(&self, name: &str, forwarded_for: &str) -> Client {
        let token = self.login(name, "lobby");
        self.connect_via(&token, forwarded_for)
    }

    /// A hand-written WebSocket handshake on a plain `TcpStream`. Returns the
    /// stream just past the `101` response head: nothing after it is read, so
    /// the server's frames (starting with `hello`) are still in the socket.
    pub fn raw_ws(&self, token: &str) -> TcpStream {
        self.raw_ws_headers(token, "")
    }

    /// `raw_ws`, claiming to come from `forwarded_for` (see `connect_via`).
    pub fn raw_ws_via(&self, token: &str, forwarded_for: &str) -> TcpStream {
        self.raw_ws_headers(token, &format!("X-Forwarded-For: {forwarded_for}\r\n"))
    }

    fn raw_ws_headers(&self, token: &str, extra: &str) -> TcpStream {
        let mut stream = TcpStream::connect(self.ws).expect("the WebSocket port accepts");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let head = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: {}\r\nCookie: natter_session={token}\r\n{extra}\r\n",
            self.ws.port(),
            self.origin()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // Byte by byte, so not one byte of the first frame is consumed.
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") {
            let n = stream
                .read(&mut byte)
                .expect("the handshake response arrives");
            assert_eq!(
                n, 1,
                "the server hung up during the handshake: {response:?}"
            );
            response.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 101"),
            "handshake refused: {text}"
        );
        stream
    }
}

/// A TCP connection to `to` from the loopback address `from`, such as
/// `127.0.0.2` (Linux routes all of 127.0.0.0/8 to the loopback interface):
/// how a test plays a second address without a proxy.
pub fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    let local: SocketAddr = format!("{from}:0").parse().expect("a loopback address");
    socket
        .bind(&local.into())
        .expect("bind to a loopback address");
    socket.connect(&to.into()).expect("the server accepts");
    socket.into()
}

/// A client frame as a browser sends it: `first` is the FIN/RSV/opcode byte,
/// the payload is masked, and the length uses the shortest form.
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// A masked, final text frame carrying this JSON.
pub fn text_frame(value: &Value) -> Vec<u8> {
    masked_frame(0x81, value.to_string().as_bytes())
}

/// One frame as the server sent it (server frames are never masked).
#[derive(Debug)]
pub struct RawFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code, if this is a close frame that carries one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The payload as JSON, for a text frame.
    pub fn json(&self) -> Option<Value> {
        (self.opcode == 0x1)
            .then(|| serde_json::from_slice(&self.payload).ok())
            .flatten()
    }
}

/// Read one server frame from a raw stream (whatever read timeout it has).
pub fn read_frame(stream: &mut TcpStream) -> std::io::Result<RawFrame> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok(RawFrame {
        fin: head[0] & 0x80 != 0,
        opcode: head[0] & 0x0f,
        payload,
    })
}

/// Read a raw stream until the server's close frame (its code) or the end of
/// the connection (`None`), within the deadline. Other frames are skipped.
pub fn read_until_close(stream: &mut TcpStream) -> Option<u16> {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "not closed before the deadline");
        match read_frame(stream) {
            Ok(frame) if frame.opcode == 0x8 => return frame.close_code(),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the server neither closed nor hung up before the deadline")
            }
            Err(_) => return None,
        }
    }
}

/// A process's thread count, from `/proc/<pid>/status`.
pub fn proc_threads(pid: u32) -> usize {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

/// A process's open file descriptors, counted in `/proc/<pid>/fd`.
pub fn proc_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process is alive")
        .count()
}

/// A fresh, empty directory for one test's files (a database), removed when
/// dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("natter-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    /// A path inside the directory, as a string for `--db`.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestServer {
    /// Log in as `name` and connect over a socket whose receive buffer is
    /// `rcvbuf` bytes, past `hello`: a client whose kernel holds little, so
    /// the server has to queue for it as soon as it stops reading.
    pub fn user_with_rcvbuf(&self, name: &str, rcvbuf: usize) -> Client {
        let token = self.login(name, "lobby");
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        socket.set_recv_buffer_size(rcvbuf).unwrap();
        socket
            .connect(&self.ws.into())
            .expect("the WebSocket port accepts");
        let stream: TcpStream = socket.into();
        let mut client = self
            .handshake(stream, &token, &[])
            .unwrap_or_else(|r| panic!("WebSocket refused: {r:?}"));
        assert_eq!(client.recv_type("hello")["user"], name);
        client
    }
}

/// alice and bob, both in #lobby, exchange `text` both ways; each sees both
/// messages. The quickest proof that the chat still works.
pub fn exchange(alice: &mut Client, bob: &mut Client, text: &str) {
    alice.say("lobby", text);
    assert_eq!(bob.recv_message()["text"], text);
    assert_eq!(alice.recv_message()["text"], text);
    bob.say("lobby", &format!("re: {text}"));
    assert_eq!(alice.recv_message()["text"], format!("re: {text}"));
    assert_eq!(bob.recv_message()["text"], format!("re: {text}"));
}

impl TestServer {
    /// The usual bystanders: alice and bob, logged in and in #lobby.
    pub fn pair(&self) -> (Client, Client) {
        let mut alice = self.user("alice");
        let mut bob = self.user("bob");
        alice.join("lobby");
        bob.join("lobby");
        (alice, bob)
    }
}

/// alice sends numbered messages (`00001 <filler>`, `00002 <filler>`, ...)
/// and both alice and bob read each one, in order, until the leave notice of
/// `who` arrives. Returns how many were sent; fails past `limit`. `pause` goes
/// between messages (zero for as fast as they can be read).
pub fn numbered_until_left(
    alice: &mut Client,
    bob: &mut Client,
    who: &str,
    filler: &str,
    limit: u32,
    pause: Duration,
) -> u32 {
    let mut sent = 0;
    let mut left = false;
    while !left {
        assert!(sent < limit, "{who} was never dropped");
        sent += 1;
        alice.say("lobby", &format!("{sent:05} {filler}"));
        for reader in [&mut *alice, &mut *bob] {
            loop {
                let event = reader.recv();
                match event["type"].as_str() {
                    Some("message") => {
                        let text = event["text"].as_str().unwrap();
                        assert_eq!(&text[..5], format!("{sent:05}"), "in order, none missing");
                        break;
                    }
                    Some("system") if event["user"] == who && event["event"] == "leave" => {
                        left = true;
                    }
                    _ => {}
                }
            }
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    sent
}

/// Read everything a client that stopped reading was still sent: the numbered
/// messages of `numbered_until_left`, checked to be in order, then the end.
/// Returns the last number it got, and the close frame's code if a close frame
/// came (`None` when the connection just ended).
pub fn read_numbered_to_end(client: &mut Client) -> (u32, Option<Option<u16>>) {
    let mut last = 0;
    loop {
        match client.socket.read() {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "message" {
                    let n: u32 = value["text"].as_str().unwrap()[..5].parse().unwrap();
                    assert_eq!(n, last + 1, "what was delivered is in order");
                    last = n;
                }
            }
            Ok(Message::Close(frame)) => return (last, Some(frame.map(|f| u16::from(f.code)))),
            Ok(_) => {}
            Err(_) => return (last, None),
        }
    }
}

/// Store `messages` (user, text) in room `room` of the database file `db`
/// directly, as an earlier run of natter would have: ids from 1, a second
/// apart. For tests that need a long history quickly, or text that today's
/// rules would no longer let in.
pub fn seed_room<'a>(db: &str, room: &str, messages: impl IntoIterator<Item = (&'a str, String)>) {
    use natter::protocol::ChatMessage;
    let mut store = natter::storage::Storage::open(db, None).expect("the test database opens");
    let key = natter::protocol::room_key(room);
    let room: std::sync::Arc<str> = room.into();
    let mut batch = Vec::new();
    let flush = |store: &mut natter::storage::Storage, batch: &mut Vec<ChatMessage>| {
        let rows: Vec<(&str, &ChatMessage)> = batch.iter().map(|m| (key.as_str(), m)).collect();
        store.save_messages(&rows).expect("the messages are stored");
        batch.clear();
    };
    for (i, (user, text)) in messages.into_iter().enumerate() {
        batch.push(ChatMessage {
            room: room.clone(),
            id: i as u64 + 1,
            user: user.into(),
            text,
            ts: 1_764_108_000_000 + i as u64 * 1000,
            client_id: None,
        });
        if batch.len() == 500 {
            flush(&mut store, &mut batch);
        }
    }
    flush(&mut store, &mut batch);
}

/// `count` messages of `chars` characters each, numbered, by alice.
pub fn long_history(count: usize, chars: usize) -> impl Iterator<Item = (&'static str, String)> {
    (0..count).map(move |i| {
        let mut text = format!("{i:06} ");
        while text.len() < chars {
            text.push_str("the quick brown fox jumps over the lazy dog ");
        }
        text.truncate(chars);
        ("alice", text)
    })
}

/// A process's resident memory in bytes, from `/proc/<pid>/status`.
pub fn proc_rss(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("a VmRSS: line")
        * 1024
}
