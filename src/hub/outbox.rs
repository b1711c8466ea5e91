//! A connection's outbound queue, and the one non-blocking write that drains it.
//!
//! The hub is the only writer of every socket. It must never wait on one slow
//! client, so it never blocks in `send`: it offers the socket everything queued in
//! one vectored, non-blocking call, keeps whatever the kernel did not take, and
//! tries again on its next pass. The queue is bounded; a client that lets it fill
//! is dropped instead of being waited for.
//!
//! Why per-call non-blocking (`MSG_DONTWAIT`) instead of `set_nonblocking`? The
//! hub writes to the very socket its reader thread is blocked reading (they
//! share one `TcpStream`). `O_NONBLOCK` belongs to the socket, so setting it
//! would also make the reader's blocking `read` return `WouldBlock` in a loop.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::sync::Arc;

use socket2::SockRef;

/// How many queued chunks one `sendmsg` call offers the kernel. Far below the
/// kernel's `IOV_MAX` (1024), and far above what one pass queues for a socket.
const MAX_SLICES_PER_WRITE: usize = 64;

/// Why a chunk could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

/// Frames waiting for one socket. Each chunk is a shared, already-encoded run of
/// complete WebSocket frames; `offset` is how much of the first chunk the socket
/// has taken (a write may stop in the middle of a frame).
#[derive(Default)]
pub struct Outbox {
    chunks: VecDeque<Arc<[u8]>>,
    offset: usize,
    bytes: usize,
}

impl Outbox {
    /// Queue a chunk, unless that would break either bound. One chunk bigger
    /// than `max_bytes` is let into an empty queue: a client that has read
    /// everything it was sent is keeping up, and closing it for one big
    /// answer would make that answer impossible to receive, ever.
    pub fn push(
        &mut self,
        chunk: Arc<[u8]>,
        max_bytes: usize,
        max_chunks: usize,
    ) -> Result<(), Overflow> {
        let too_big = !self.chunks.is_empty() && self.bytes + chunk.len() > max_bytes;
        if too_big || self.chunks.len() >= max_chunks {
            return Err(Overflow);
        }
        self.bytes += chunk.len();
        self.chunks.push_back(chunk);
        Ok(())
    }

    /// Queue a chunk whatever the bounds say. Only for close frames, which end
    /// the connection and so cannot make a queue grow without limit.
    pub fn push_final(&mut self, chunk: Arc<[u8]>) {
        self.bytes += chunk.len();
        self.chunks.push_back(chunk);
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.bytes - self.offset
    }

    /// Forget everything queued except the rest of a frame the socket has already
    /// started on: cutting a frame in half would corrupt the stream, and the close
    /// frame that follows must arrive intact.
    pub fn discard_unstarted(&mut self) {
        if self.offset == 0 {
            self.chunks.clear();
            self.bytes = 0;
        } else {
            // A chunk may hold many frames; keep the whole started chunk. It is
            // bounded by one hub pass's output for one room.
            self.chunks.truncate(1);
            self.bytes = self.chunks[0].len();
        }
    }

    /// Offer the socket everything queued, once, without blocking.
    ///
    /// Returns how many bytes it took (0 when its buffer is full). An error is
    /// the connection's end: the caller drops it.
    pub fn write_to(&mut self, socket: &TcpStream) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES_PER_WRITE];
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES_PER_WRITE).enumerate() {
            let start = if i == 0 { self.offset } else { 0 };
            slices[i] = IoSlice::new(&chunk[start..]);
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        let socket = SockRef::from(socket);
        let written = loop {
            // One chunk (a quiet room's one message) goes by plain `send`:
            // the kernel then has no array of buffers to copy in and check.
            let sent = match count {
                1 => socket.send_with_flags(&slices[0], flags),
                _ => socket.send_vectored_with_flags(&slices[..count], flags),
            };
            match sent {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.consume(written);
        Ok(written)
    }

    /// Drop `n` written bytes from the front of the queue.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let first = self.chunks[0].len() - self.offset;
            if n < first {
                self.offset += n;
                return;
            }
            n -= first;
            let chunk = self
                .chunks
                .pop_front()
                .expect("the kernel cannot accept more bytes than were offered");
            self.bytes -= chunk.len();
            self.offset = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    #[test]
    fn bounds_refuse_without_losing_what_was_queued() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.push(Arc::from(&b"12345"[..]), 8, 10), Ok(()));
        assert_eq!(outbox.push(Arc::from(&b"6789"[..]), 8, 10), Err(Overflow));
        assert_eq!(outbox.len(), 5);
        assert_eq!(outbox.push(Arc::from(&b"67"[..]), 8, 1), Err(Overflow));
    }

    #[test]
    fn one_oversized_chunk_passes_an_empty_queue_only() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.push(Arc::from(&b"0123456789"[..]), 8, 10), Ok(()));
        assert_eq!(outbox.push(Arc::from(&b"x"[..]), 8, 10), Err(Overflow));
    }

    #[test]
    fn writes_everything_in_order_and_keeps_partial_frames() {
        let (server, mut client) = pair();
        let mut outbox = Outbox::default();
        for part in [&b"hello "[..], b"big ", b"world"] {
            outbox.push(Arc::from(part), 1 << 20, 64).unwrap();
        }
        outbox.consume(2);
        outbox.discard_unstarted();
        assert_eq!(outbox.len(), 4, "the started chunk stays whole");
        outbox.push_final(Arc::from(&b"!"[..]));
        assert_eq!(outbox.write_to(&server).unwrap(), 5);
        assert!(outbox.is_empty());
        drop(server);
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "llo !");
    }

    #[test]
    fn a_full_socket_takes_nothing_and_does_not_block() {
        let (server, _client) = pair();
        let mut outbox = Outbox::default();
        let chunk: Arc<[u8]> = vec![7u8; 1 << 20].into();
        let mut total = 0;
        // The client never reads, so the kernel buffers fill and writes stop.
        for _ in 0..64 {
            outbox.push(chunk.clone(), usize::MAX, usize::MAX).unwrap();
            total += outbox.write_to(&server).unwrap();
        }
        assert!(total < 64 << 20, "the kernel cannot buffer 64 MiB");
        assert_eq!(outbox.write_to(&server).unwrap(), 0);
    }
}
