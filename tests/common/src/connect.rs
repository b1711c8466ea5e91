//! The one way a test opens a WebSocket: `server.connect()`, a builder. By
//! default it is what the page does (`/ws`, the page's own `Origin`, from
//! 127.0.0.1); each option changes one thing, and the last call says how far
//! to go (a bare TCP connection, a hand-written handshake, a [`Client`], or a
//! user logged in and greeted).
//!
//! ```text
//! server.connect().session(&token).open()                    // as the page
//! server.connect().session(&token).origin(None).try_open()   // refused?
//! server.connect().forwarded_for("198.51.100.2").user("bob") // via a proxy
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use tungstenite::client::IntoClientRequest;

use crate::{Client, TestServer, DEADLINE};

/// A WebSocket handshake to make; see the module's doc.
#[must_use = "a Connect does nothing until open, try_open, user, raw or tcp"]
pub struct Connect<'a> {
    server: &'a TestServer,
    path: String,
    host: String,
    cookie: Option<String>,
    authorization: Option<String>,
    origin: Option<String>,
    forwarded_for: Option<String>,
    from: Option<String>,
    rcvbuf: Option<usize>,
}

/// A refused WebSocket handshake: the HTTP status and its `Retry-After`.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub retry_after: Option<String>,
}

impl TestServer {
    /// Start a WebSocket handshake as the page makes it; see `Connect`.
    pub fn connect(&self) -> Connect<'_> {
        Connect {
            server: self,
            path: "/ws".to_string(),
            host: "127.0.0.1".to_string(),
            cookie: None,
            authorization: None,
            origin: Some(self.origin()),
            forwarded_for: None,
            from: None,
            rcvbuf: None,
        }
    }

    /// Log in as `name` (in #lobby) and connect as the page does, past
    /// `hello`: `connect().user(name)`, the usual start of a test.
    pub fn user(&self, name: &str) -> Client {
        self.connect().user(name)
    }
}

impl Connect<'_> {
    /// Send this session's cookie, as the page does once logged in.
    pub fn session(self, token: &str) -> Self {
        self.cookie(&format!("natter_session={token}"))
    }

    /// Send exactly this `Cookie` header (say, a `__Host-` cookie).
    pub fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_string());
        self
    }

    /// Connect as a bot does: `Authorization: Bearer <secret>`, no cookie
    /// and no `Origin` (a program is no page).
    pub fn bearer(mut self, secret: &str) -> Self {
        self.authorization = Some(format!("Bearer {secret}"));
        self.origin = None;
        self
    }

    /// Ask for another path than `/ws`.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    /// Name the server `host` in the `Host` header (the WebSocket port is
    /// added), as a page loaded under another name would.
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.to_string();
        self
    }

    /// Send this `Origin` instead of the page's own, or none at all.
    pub fn origin(mut self, origin: Option<&str>) -> Self {
        self.origin = origin.map(str::to_string);
        self
    }

    /// Claim to come from `address` through a proxy (`X-Forwarded-For`),
    /// which only a server with `trust_proxy` believes.
    pub fn forwarded_for(mut self, address: &str) -> Self {
        self.forwarded_for = Some(address.to_string());
        self
    }

    /// Connect from this loopback address, such as `127.0.0.2` (Linux routes
    /// all of 127.0.0.0/8 to the loopback interface): how a test plays a
    /// second address without a proxy.
    pub fn from(mut self, local: &str) -> Self {
        self.from = Some(local.to_string());
        self
    }

    /// Give the socket a receive buffer of `bytes`: a client whose kernel
    /// holds little, so the server has to queue for it as soon as it stops
    /// reading.
    pub fn rcvbuf(mut self, bytes: usize) -> Self {
        self.rcvbuf = Some(bytes);
        self
    }

    /// Only the TCP connection, with deadlines on reads and writes; not a byte
    /// is sent (a handshake that stalls, or one a test writes itself).
    pub fn tcp(self) -> TcpStream {
        use socket2::{Domain, Socket, Type};
        let to = self.server.ws;
        let socket = Socket::new(Domain::for_address(to), Type::STREAM, None).expect("a socket");
        if let Some(bytes) = self.rcvbuf {
            socket
                .set_recv_buffer_size(bytes)
                .expect("the kernel takes a receive buffer size");
        }
        if let Some(local) = &self.from {
            let local: SocketAddr = format!("{local}:0").parse().expect("a loopback address");
            socket
                .bind(&local.into())
                .expect("bind to a loopback address");
        }
        socket
            .connect(&to.into())
            .expect("the WebSocket port accepts");
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("a non-zero timeout is accepted");
        stream
            .set_write_timeout(Some(DEADLINE))
            .expect("a non-zero timeout is accepted");
        stream
    }

    /// The handshake with tungstenite, as a browser makes it. On refusal, the
    /// status and `Retry-After`; nothing is read past the handshake.
    pub fn try_open(self) -> Result<Client, Refused> {
        let url = format!("ws://{}:{}{}", self.host, self.server.ws.port(), self.path);
        let mut request = url.into_client_request().expect("a ws:// URL is a request");
        for (name, value) in self.headers() {
            let value = value.parse().expect("a header value is visible ASCII");
            request.headers_mut().insert(name, value);
        }
        match tungstenite::client(request, self.tcp()) {
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

    /// `try_open`, which must succeed.
    pub fn open(self) -> Client {
        self.try_open()
            .unwrap_or_else(|refused| panic!("WebSocket refused: {refused:?}"))
    }

    /// `open`, then read up to the server's `hello`: by then the hub has
    /// registered the connection.
    pub fn past_hello(self) -> Client {
        let mut client = self.open();
        client.recv_type("hello");
        client
    }

    /// Log in as `name` (in #lobby), open with that session, and check that
    /// `hello` names `name`.
    pub fn user(self, name: &str) -> Client {
        let token = self.server.login(name, "lobby");
        let mut client = self.session(&token).open();
        assert_eq!(client.recv_type("hello")["user"], name);
        client
    }

    /// A hand-written handshake on a plain `TcpStream`, which must be
    /// accepted. Returns the stream just past the `101` response head:
    /// nothing after it is read, so the server's frames (starting with
    /// `hello`) are still in the socket.
    pub fn raw(self) -> TcpStream {
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            self.path,
            self.host,
            self.server.ws.port()
        );
        for (name, value) in self.headers() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = self.tcp();
        stream
            .write_all(head.as_bytes())
            .expect("the server reads the handshake");
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

    /// The headers this handshake adds to the standard ones, in order.
    fn headers(&self) -> Vec<(&'static str, String)> {
        [
            ("Origin", &self.origin),
            ("Cookie", &self.cookie),
            ("Authorization", &self.authorization),
            ("X-Forwarded-For", &self.forwarded_for),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.clone()?)))
        .collect()
    }
}
