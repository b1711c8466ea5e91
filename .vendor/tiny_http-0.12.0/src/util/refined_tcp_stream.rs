use std::io::Result as IoResult;
use std::io::{Error as IoError, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::connection::Connection;
#[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
use crate::ssl::SslStream;

pub(crate) enum Stream {
    Http(Connection),
    #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
    Https(SslStream),
}

impl Stream {
    /// natter's patch: upstream implemented `Clone` with `try_clone().unwrap()`,
    /// run on the accept thread for every new connection. Cloning a socket
    /// takes a file descriptor, so when the process ran out of them that
    /// `unwrap` panicked and the accept thread was gone: no page was served
    /// again until a restart. Now the error goes back to the accept loop,
    /// which closes that one connection and carries on.
    fn try_clone(&self) -> IoResult<Self> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.try_clone().map(Stream::Http),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => Ok(Stream::Https(ssl_stream.clone())),
        }
    }
}

impl From<Connection> for Stream {
    fn from(tcp_stream: Connection) -> Self {
        Stream::Http(tcp_stream)
    }
}

impl Stream {
    fn secure(&self) -> bool {
        match self {
            Stream::Http(_) => false,
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(_) => true,
        }
    }

    fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.peer_addr(),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.peer_addr(),
        }
    }

    fn set_read_timeout(&self, timeout: Duration) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.set_read_timeout(timeout),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(_) => Ok(()),
        }
    }

    fn shutdown(&mut self, how: Shutdown) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.shutdown(how),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.read(buf),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.write(buf),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.write(buf),
        }
    }

    fn flush(&mut self) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.flush(),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.flush(),
        }
    }
}

/// natter's patch (see `HEAD_TIMEOUT`): when the request being read must be
/// complete. Set by the connection's `ClientConnection` at the first byte of a
/// request line and cleared once the request is read; every read of the
/// connection's read half waits at most until then.
#[derive(Default)]
pub(crate) struct HeadDeadline(Mutex<Option<Instant>>);

impl HeadDeadline {
    pub(crate) fn set(&self, deadline: Option<Instant>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = deadline;
    }

    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct RefinedTcpStream {
    stream: Stream,
    close_read: bool,
    close_write: bool,
    // natter's patch: the read half enforces this (see `HeadDeadline`)...
    head_deadline: Option<Arc<HeadDeadline>>,
    // ...and remembers whether it shortened the socket's read timeout for it.
    shortened: bool,
    // natter's patch: held by both halves, so that the connection counts
    // against its address until both are gone (see `PerAddress`).
    _slot: Option<Arc<crate::util::AddressSlot>>,
}

impl RefinedTcpStream {
    pub(crate) fn new<S>(
        stream: S,
        slot: Option<crate::util::AddressSlot>,
    ) -> IoResult<(RefinedTcpStream, RefinedTcpStream)>
    where
        S: Into<Stream>,
    {
        let stream: Stream = stream.into();
        let slot = slot.map(Arc::new);

        // natter's patch: fallible, see `Stream::try_clone`.
        let (read, write) = (stream.try_clone()?, stream);

        let read = RefinedTcpStream {
            stream: read,
            close_read: true,
            close_write: false,
            head_deadline: Some(Arc::default()),
            shortened: false,
            _slot: slot.clone(),
        };

        let write = RefinedTcpStream {
            stream: write,
            close_read: false,
            close_write: true,
            head_deadline: None,
            shortened: false,
            _slot: slot,
        };

        Ok((read, write))
    }

    /// natter's patch: the deadline this (read) half enforces.
    pub(crate) fn head_deadline(&self) -> Arc<HeadDeadline> {
        self.head_deadline.clone().unwrap_or_default()
    }

    /// Returns true if this struct wraps around a secure connection.
    #[inline]
    pub(crate) fn secure(&self) -> bool {
        self.stream.secure()
    }

    pub(crate) fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        self.stream.peer_addr()
    }
}

impl Drop for RefinedTcpStream {
    fn drop(&mut self) {
        if self.close_read {
            self.stream.shutdown(Shutdown::Read).ok();
        }

        if self.close_write {
            self.stream.shutdown(Shutdown::Write).ok();
        }
    }
}

impl Read for RefinedTcpStream {
    /// natter's patch: while a request is being read, each read waits no
    /// longer than its deadline, and past it fails with `TimedOut` (which
    /// `client.rs` answers with 408). The socket's own timeout, `READ_TIMEOUT`,
    /// bounds one read; a client sending a byte just before each would
    /// otherwise take as long as it liked over a head (slowloris).
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        let deadline = self.head_deadline.as_ref().and_then(|d| d.get());
        let Some(deadline) = deadline else {
            if self.shortened {
                self.stream.set_read_timeout(crate::READ_TIMEOUT)?;
                self.shortened = false;
            }
            return self.stream.read(buf);
        };
        let timed_out = || IoError::new(ErrorKind::TimedOut, "the request took too long to arrive");
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        self.stream
            .set_read_timeout(left.min(crate::READ_TIMEOUT))?;
        self.shortened = true;
        match self.stream.read(buf) {
            Err(e)
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                    && Instant::now() >= deadline =>
            {
                Err(timed_out())
            }
            result => result,
        }
    }
}

impl Write for RefinedTcpStream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> IoResult<()> {
        self.stream.flush()
    }
}
