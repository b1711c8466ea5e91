//! The socket as tungstenite sees it, and the reason the one-writer rule holds.
//!
//! tungstenite answers some frames by itself, from inside `read`: a ping gets
//! a pong, a close frame gets its echo. If those bytes went to the socket from
//! the reader thread, they could land in the middle of a frame the hub is
//! writing at the same moment, and the client would see garbage. So once the
//! handshake is done, a [`Stream`] keeps whatever tungstenite writes in a
//! buffer instead; the reader takes the bytes out after each read and sends
//! them to the hub (`ConnEvent::AutoReply`), which writes them in order with
//! everything else. During the handshake nobody else knows the socket yet, so
//! writes (the HTTP response) go straight out.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads go to the network; writes go to the network during the handshake and
/// into `captured` after it.
pub(super) struct Stream {
    /// Shared with the hub once the handshake is done. `&TcpStream` can both
    /// read and write, so one socket (one file descriptor) serves both
    /// threads; `try_clone` would cost you a second descriptor per client.
    socket: Arc<TcpStream>,
    /// `None` during the handshake; after it, what tungstenite wrote since the
    /// reader last took it.
    captured: Option<Vec<u8>>,
    /// While set (the handshake), no read may wait past it. A client that
    /// sends its request a byte at a time would otherwise restart a plain read
    /// timeout with every byte, and hold its thread for as long as it liked.
    deadline: Option<Instant>,
}

impl Stream {
    /// A fresh socket, whose handshake must be over by `deadline`.
    pub(super) fn new(socket: TcpStream, deadline: Instant) -> Stream {
        Stream {
            socket: Arc::new(socket),
            captured: None,
            deadline: Some(deadline),
        }
    }

    /// The handshake is done: capture every write from now on, let each read
    /// wait up to `idle_timeout`, and return the handle the hub writes with.
    ///
    /// The hub pings well within the idle timeout, so a live peer always has
    /// something to answer; a read that times out means the peer is gone. `Err`
    /// means the socket is already unusable: drop it, which closes it.
    pub(super) fn hand_over(&mut self, idle_timeout: Duration) -> io::Result<Arc<TcpStream>> {
        self.captured = Some(Vec::new());
        self.deadline = None;
        self.socket.set_read_timeout(Some(idle_timeout))?;
        Ok(self.socket.clone())
    }

    /// What tungstenite wrote since the last call (empty if nothing, or if the
    /// handshake is not over).
    pub(super) fn take_captured(&mut self) -> Vec<u8> {
        self.captured
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.socket.set_read_timeout(Some(left))?;
        }
        (&*self.socket).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.captured {
            Some(captured) => {
                captured.extend_from_slice(buf);
                Ok(buf.len())
            }
            None => (&*self.socket).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.captured {
            Some(_) => Ok(()),
            None => (&*self.socket).flush(),
        }
    }
}
