//! One chat client, as a browser would be: log in over HTTP, open the
//! WebSocket with the cookie and the page's Origin, wait for `hello`, `join` a
//! room, wait for `joined`. After that, frames are read and written raw.
//!
//! # Why raw frames after the handshake
//!
//! A thousand receivers on a two-core box share the CPU with the server they
//! measure, so each delivery must cost them as little as possible. A
//! server-to-client frame is unmasked: a 2-, 4- or 10-byte header and the
//! payload. [`FrameReader`] reads whatever the socket has into one big buffer
//! and walks the frames in place, copying nothing and decoding no JSON; the
//! receiver only looks for the bench marker in each payload (see `stats.rs`).
//! Client-to-server frames must be masked, which [`masked_frame`] does in a few
//! lines.
//!
//! tungstenite does the handshake. It reads the HTTP response through
//! [`HeadersOnly`], which never hands it a byte past the end of the headers:
//! anything tungstenite read beyond them would stay in its buffer, lost to us,
//! and the raw reader would start in the middle of a frame.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tungstenite::client::ClientRequestBuilder;
use tungstenite::http::Uri;

use crate::Error;

/// The name of natter's session cookie, which `POST /login` sets and the
/// WebSocket handshake must carry: a copy of `natter::session::COOKIE`
/// (src/session.rs). If the two ever differ, every client fails its
/// handshake and the bench says so.
const COOKIE: &str = "natter_session";

/// How long any one step of setting up a client (login, handshake, `hello`,
/// `joined`) may take before that client counts as failed.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a running server listens.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub web: SocketAddr,
    pub ws: SocketAddr,
}

/// A connected, joined WebSocket. The socket is shared by reference: one
/// thread reads it, and any thread may write a whole frame under `writing`,
/// which keeps a pong from landing in the middle of a chat message.
pub struct Connection {
    pub stream: TcpStream,
    writing: Mutex<()>,
}

impl Connection {
    /// Write one text frame (masked, as a client must).
    pub fn send_text(&self, text: &str) -> io::Result<()> {
        self.send(OPCODE_TEXT, text.as_bytes())
    }

    fn send(&self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let frame = masked_frame(opcode, payload);
        let _guard = self
            .writing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (&self.stream).write_all(&frame)
    }

    /// Answer a server ping, or the server drops us after its idle timeout.
    pub fn send_pong(&self, payload: &[u8]) -> io::Result<()> {
        self.send(OPCODE_PONG, payload)
    }
}

const OPCODE_TEXT: u8 = 0x1;
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PING: u8 = 0x9;
const OPCODE_PONG: u8 = 0xA;

/// Log in, connect, and join `room` as `name`. Returns the connection and the
/// reader, whose buffer may already hold frames that came after `joined`.
pub fn join(
    endpoints: Endpoints,
    name: &str,
    room: &str,
) -> Result<(Connection, FrameReader), Error> {
    join_as(endpoints, name, room).map(|(connection, reader, _)| (connection, reader))
}

/// `join`, also giving back the session cookie (`natter_session=...`), for
/// the HTTP requests of that session (uploads).
pub fn join_as(
    endpoints: Endpoints,
    name: &str,
    room: &str,
) -> Result<(Connection, FrameReader, String), Error> {
    let cookie = login(endpoints.web, name, room)?;
    let stream = handshake(endpoints, &cookie)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    let connection = Connection {
        stream,
        writing: Mutex::new(()),
    };
    let mut reader = FrameReader::new();
    reader.wait_for(&connection, b"hello")?;
    let join = serde_json::json!({"type": "join", "room": room}).to_string();
    connection.send_text(&join)?;
    reader.wait_for(&connection, b"joined")?;
    Ok((connection, reader, cookie))
}

/// `POST /login` with a name and a room, like the login form. Returns the
/// `natter_session=...` pair to send back as a cookie.
fn login(web: SocketAddr, name: &str, room: &str) -> Result<String, Error> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", name)
        .append_pair("room", room)
        .finish();
    let mut stream = TcpStream::connect_timeout(&web, SETUP_TIMEOUT)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    write!(
        stream,
        "POST /login HTTP/1.1\r\nHost: {web}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // The answer is a bodiless 303; its headers are all we need.
    let mut response = Vec::new();
    let mut chunk = [0u8; 2048];
    while find(&response, b"\r\n\r\n").is_none() {
        let n = stream.read(&mut chunk)?;
        if n == 0 || response.len() > 64 * 1024 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let response = String::from_utf8_lossy(&response);
    let status = response.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 303") {
        return Err(format!("login refused: {status}").into());
    }
    let prefix = format!("{COOKIE}=");
    response
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(header, _)| header.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.trim().split(';').next())
        .find(|pair| pair.starts_with(&prefix))
        .map(str::to_string)
        .ok_or_else(|| "login answered without a session cookie".into())
}

/// The WebSocket handshake, with the cookie and the Origin of the page the
/// server would have served (`http://127.0.0.1:<web port>`).
fn handshake(endpoints: Endpoints, cookie: &str) -> Result<TcpStream, Error> {
    let stream = TcpStream::connect_timeout(&endpoints.ws, SETUP_TIMEOUT)?;
    // Our frames are small and latency is what we measure: no Nagle delay.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    let uri: Uri = format!("ws://{}/ws", endpoints.ws).parse()?;
    let request = ClientRequestBuilder::new(uri)
        .with_header(
            "Origin",
            format!("http://127.0.0.1:{}", endpoints.web.port()),
        )
        .with_header("Cookie", cookie);
    let stream = HeadersOnly {
        inner: stream,
        last_three: Vec::new(),
    };
    match tungstenite::client::client(request, stream) {
        Ok((websocket, _response)) => Ok(websocket.into_inner().inner),
        Err(err) => Err(format!("handshake failed: {err}").into()),
    }
}

/// The handshake's view of the socket: reads stop exactly at the blank line
/// that ends the HTTP headers. It peeks first, then reads only up to there.
struct HeadersOnly {
    inner: TcpStream,
    /// The last three bytes handed out, in case `\r\n\r\n` spans two reads.
    last_three: Vec<u8>,
}

impl Read for HeadersOnly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut peeked = [0u8; 4096];
        let n = self.inner.peek(&mut peeked)?;
        if n == 0 {
            return Ok(0);
        }
        // Look for the end of the headers in what we gave before plus what is
        // waiting now; `end` counts bytes of `peeked` up to and including it.
        let mut window = self.last_three.clone();
        window.extend_from_slice(&peeked[..n]);
        let end = match find(&window, b"\r\n\r\n") {
            Some(at) => at + 4 - self.last_three.len(),
            None => n,
        };
        let take = end.min(buf.len());
        let n = self.inner.read(&mut buf[..take])?;
        self.last_three.extend_from_slice(&buf[..n]);
        let excess = self.last_three.len().saturating_sub(3);
        self.last_three.drain(..excess);
        Ok(n)
    }
}

impl Write for HeadersOnly {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A client frame: FIN and the opcode, the length with the mask bit set, the
/// 4-byte masking key, and the payload XORed with it (RFC 6455, section 5.3).
/// The key only has to vary; a counter run through a multiplicative hash does.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    static NEXT_KEY: AtomicU32 = AtomicU32::new(1);
    let key = NEXT_KEY
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9)
        .to_be_bytes();
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    frame
}

/// A frame from the server, borrowed from the reader's buffer.
pub enum Frame<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    /// The server closed the connection, with this code if it gave one.
    Close(Option<u16>),
    /// Pong, binary: nothing a bench client needs.
    Other,
}

/// Reads server frames in place from one growing buffer.
pub struct FrameReader {
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// Room for a few dozen chat frames per read; grows for bigger frames (a
/// `joined` with history, or a member list of thousands of names).
const READ_BUFFER_BYTES: usize = 16 * 1024;

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader {
            buf: vec![0; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
        }
    }

    /// One blocking read of whatever the socket has. `Ok(0)` is end of stream.
    pub fn fill(&mut self, stream: &TcpStream) -> io::Result<usize> {
        // Move a partial frame to the front, and grow if it fills the buffer.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = (&*stream).read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// The next complete frame in the buffer, or `None` until more is read.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        let bytes = &self.buf[self.start..self.end];
        if bytes.len() < 2 {
            return Ok(None);
        }
        let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0F);
        if bytes[1] & 0x80 != 0 {
            return Err("the server sent a masked frame".into());
        }
        if !fin || opcode == 0 {
            return Err("the server sent a fragmented frame; natter never does".into());
        }
        let (header, len) = match bytes[1] & 0x7F {
            126 if bytes.len() >= 4 => (4, u64::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
            127 if bytes.len() >= 10 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[2..10]);
                (10, u64::from_be_bytes(len))
            }
            126 | 127 => return Ok(None),
            len => (2, u64::from(len)),
        };
        let total = header + usize::try_from(len)?;
        if bytes.len() < total {
            return Ok(None);
        }
        let payload = &self.buf[self.start + header..self.start + total];
        self.start += total;
        Ok(Some(match opcode {
            OPCODE_TEXT => Frame::Text(payload),
            OPCODE_PING => Frame::Ping(payload),
            OPCODE_CLOSE => Frame::Close(
                (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
            ),
            _ => Frame::Other,
        }))
    }

    /// Read until a frame of this `type` arrives, answering pings and skipping
    /// anything else (presence and join notices of other clients). An `error`
    /// frame or a close is a failure, with the server's words in it.
    fn wait_for(&mut self, connection: &Connection, kind: &[u8]) -> Result<(), Error> {
        let wanted = [br#"{"type":""#, kind, b"\""].concat();
        loop {
            while let Some(frame) = self.next_frame()? {
                match frame {
                    Frame::Text(p) if p.starts_with(&wanted) => return Ok(()),
                    Frame::Text(p) if p.starts_with(br#"{"type":"error""#) => {
                        return Err(String::from_utf8_lossy(p).into_owned().into())
                    }
                    Frame::Ping(p) => connection.send_pong(p)?,
                    Frame::Close(code) => {
                        return Err(format!("closed by the server (code {code:?})").into())
                    }
                    Frame::Text(_) | Frame::Other => {}
                }
            }
            if self.fill(&connection.stream)? == 0 {
                return Err("the server hung up".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_and_restores_the_payload() {
        for len in [0, 5, 125, 126, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = masked_frame(OPCODE_TEXT, &payload);
            let header = match len {
                0..=125 => 2,
                126..=0xFFFF => 4,
                _ => 10,
            };
            assert_eq!(frame[0], 0x81);
            assert!(frame[1] & 0x80 != 0);
            let key = &frame[header..header + 4];
            let unmasked: Vec<u8> = frame[header + 4..]
                .iter()
                .zip(key.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect();
            assert_eq!(unmasked, payload);
        }
    }
}
