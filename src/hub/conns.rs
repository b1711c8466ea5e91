//! The hub's connections: each socket's outbox, its place in its life, and
//! the non-blocking write pass.
//!
//! The hub is the only writer of every chat socket (the reader thread only
//! reads), so nothing here needs a lock, and frames for one connection go
//! out in exactly the order they were queued.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outbox::Outbox;
use super::Peer;
use crate::chat::{Caller, ConnId};
use crate::config::{Config, CLOSE_FLUSH_TIMEOUT, MAX_OUTBOX_CHUNKS};
use crate::protocol::{self, close};
use crate::ratelimit::address_key;

/// Where a connection is in its life. It only moves down this list.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Life {
    /// Reading and writing; a chat member is in the chat (`Chat::connect`).
    Open,
    /// Picked this pass to be closed at the end of it (its queue overflowed,
    /// or its socket stopped taking bytes). Nothing more is queued to it.
    Doomed,
    /// Out of the chat, finishing its queue (ending in a close frame, when
    /// we close it). The socket is shut once the queue is out, or at
    /// `deadline` (`CLOSE_FLUSH_TIMEOUT`) whether or not it got out.
    Closing { deadline: Instant, write_shut: bool },
}

/// One WebSocket connection, as the hub sees it.
struct Conn {
    peer: Peer,
    /// The client's address (`ratelimit::address_key`): budgets are per
    /// address as well as per session.
    address: IpAddr,
    /// The socket, shared with its reader thread: the hub only writes to it.
    socket: Arc<TcpStream>,
    outbox: Outbox,
    life: Life,
    /// When the socket last took bytes, or when bytes were first queued for
    /// it: a peer whose socket takes nothing for `write_stall_timeout` is
    /// closed.
    last_progress: Instant,
    /// The reader thread has ended: once the queue is written, nothing is left.
    reader_gone: bool,
}

/// Every connection, and the work lists of the current pass.
pub struct Conns {
    map: HashMap<ConnId, Conn>,
    /// Connections with bytes queued: the only ones the write pass looks at.
    dirty: Vec<ConnId>,
    /// Connections to close at the end of this pass, and why.
    doomed: Vec<(ConnId, u16, &'static str)>,
    /// Closing connections, in deadline order (the flush timeout is constant).
    closing: VecDeque<(Instant, ConnId)>,
    max_outbox_bytes: usize,
    write_stall_timeout: Duration,
}

impl Conns {
    pub fn new(config: &Config) -> Conns {
        Conns {
            map: HashMap::new(),
            dirty: Vec::new(),
            doomed: Vec::new(),
            closing: VecDeque::new(),
            max_outbox_bytes: config.max_outbox_bytes,
            write_stall_timeout: config.write_stall_timeout,
        }
    }

    pub fn insert(
        &mut self,
        id: ConnId,
        peer: Peer,
        socket: Arc<TcpStream>,
        ip: IpAddr,
        now: Instant,
    ) {
        let conn = Conn {
            peer,
            address: address_key(ip),
            socket,
            outbox: Outbox::default(),
            life: Life::Open,
            last_progress: now,
            reader_gone: false,
        };
        self.map.insert(id, conn);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn ids(&self) -> Vec<ConnId> {
        self.map.keys().copied().collect()
    }

    /// What kind of peer `id` is, while it is open: events from a
    /// connection on its way out are ignored (nothing it still sends is
    /// done, or charged).
    pub fn open_peer(&self, id: ConnId) -> Option<Peer> {
        self.map
            .get(&id)
            .filter(|c| c.life == Life::Open)
            .map(|c| c.peer)
    }

    /// The caller a chat member's request comes from.
    pub fn caller(&self, id: ConnId) -> Option<Caller> {
        let conn = self.map.get(&id).filter(|c| c.life == Life::Open)?;
        let Peer::Member(session) = conn.peer else {
            return None;
        };
        Some(Caller {
            session,
            address: conn.address,
            conn: id,
            room_for_reply: self.max_outbox_bytes.saturating_sub(conn.outbox.len()),
        })
    }

    /// Queue a chunk for one connection. If it does not fit, the connection
    /// is a slow consumer: it is doomed, to be closed at the end of the pass.
    /// The hub never waits on a client.
    pub fn queue(&mut self, id: ConnId, chunk: Arc<[u8]>, now: Instant) {
        let Some(conn) = self.map.get_mut(&id).filter(|c| c.life == Life::Open) else {
            return;
        };
        let was_empty = conn.outbox.is_empty();
        match conn
            .outbox
            .push(chunk, self.max_outbox_bytes, MAX_OUTBOX_CHUNKS)
        {
            Ok(()) if was_empty => {
                conn.last_progress = now;
                self.dirty.push(id);
            }
            Ok(()) => {}
            Err(_) => self.doom(id, "slow consumer"),
        }
    }

    fn doom(&mut self, id: ConnId, reason: &'static str) {
        if let Some(conn) = self.map.get_mut(&id) {
            conn.life = Life::Doomed;
            self.doomed.push((id, close::POLICY, reason));
        }
    }

    /// The connections doomed so far this pass, made closable again.
    pub fn take_doomed(&mut self) -> Vec<(ConnId, u16, &'static str)> {
        let doomed = std::mem::take(&mut self.doomed);
        for (id, _, _) in &doomed {
            if let Some(conn) = self.map.get_mut(id).filter(|c| c.life == Life::Doomed) {
                conn.life = Life::Open;
            }
        }
        doomed
    }

    /// Start closing: queue a close frame (after what is queued, or instead
    /// of it with `discard`: a slow consumer will not read it). Returns
    /// whether the connection was open, i.e. whether it must now leave the
    /// chat.
    pub fn start_close(
        &mut self,
        id: ConnId,
        code: u16,
        reason: &str,
        discard: bool,
        now: Instant,
    ) -> bool {
        let Some(conn) = self.map.get_mut(&id) else {
            return false;
        };
        if matches!(conn.life, Life::Closing { .. }) {
            return false;
        }
        if discard {
            conn.outbox.discard_unstarted();
        }
        let was_empty = conn.outbox.is_empty();
        conn.outbox.push_final(protocol::close_frame(code, reason));
        self.set_closing(id, now);
        if was_empty {
            self.dirty.push(id);
        }
        true
    }

    fn set_closing(&mut self, id: ConnId, now: Instant) {
        let deadline = now + CLOSE_FLUSH_TIMEOUT;
        if let Some(conn) = self.map.get_mut(&id) {
            conn.life = Life::Closing {
                deadline,
                write_shut: false,
            };
            self.closing.push_back((deadline, id));
        }
    }

    /// The reader thread ended. Returns whether the connection was open (it
    /// must now leave the chat) and whether anything is left to write (if
    /// not, it can be forgotten now).
    pub fn reader_gone(&mut self, id: ConnId, now: Instant) -> Option<(bool, bool)> {
        let conn = self.map.get_mut(&id)?;
        conn.reader_gone = true;
        let was_open = !matches!(conn.life, Life::Closing { .. });
        let pending = !conn.outbox.is_empty();
        if pending && was_open {
            // Finish writing what is queued (say, the echo of the peer's
            // close frame), then shut.
            self.set_closing(id, now);
        }
        Some((was_open, pending))
    }

    /// Drop a connection for good. Shutting the socket down wakes its reader
    /// thread, whose blocking `read` then returns, so the thread ends too.
    pub fn remove(&mut self, id: ConnId) {
        if let Some(conn) = self.map.remove(&id) {
            let _ = conn.socket.shutdown(Shutdown::Both);
        }
    }

    /// Closing connections whose deadline has passed.
    pub fn overdue(&mut self, now: Instant) -> Vec<ConnId> {
        let mut overdue = Vec::new();
        while let Some(&(deadline, id)) = self.closing.front() {
            if deadline > now {
                break;
            }
            self.closing.pop_front();
            overdue.push(id);
        }
        overdue
    }

    /// The earliest moment the connections need the hub: a write to retry,
    /// or a closing deadline.
    pub fn next_deadline(&self, now: Instant, retry: Duration) -> Option<Instant> {
        let retry = (!self.dirty.is_empty()).then_some(now + retry);
        let closing = self.closing.front().map(|&(deadline, _)| deadline);
        retry.into_iter().chain(closing).min()
    }

    /// One non-blocking write per connection with bytes queued. Returns the
    /// connections that are finished (peer gone, or closed and written out
    /// with their reader gone), for the hub to forget.
    pub fn write(&mut self, now: Instant) -> Vec<ConnId> {
        let mut finished = Vec::new();
        let mut still_dirty = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            let Some(conn) = self.map.get_mut(&id) else {
                continue;
            };
            if conn.outbox.is_empty() {
                continue;
            }
            let Ok(n) = conn.outbox.write_to(&conn.socket) else {
                // The peer is gone (reset, broken pipe). Its reader notices too.
                finished.push(id);
                continue;
            };
            if n > 0 {
                conn.last_progress = now;
            }
            if !conn.outbox.is_empty() {
                let stalled = now.duration_since(conn.last_progress) >= self.write_stall_timeout;
                if stalled && conn.life == Life::Open {
                    conn.life = Life::Doomed;
                    self.doomed.push((id, close::POLICY, "write stalled"));
                }
                still_dirty.push(id);
            } else if let Life::Closing { write_shut, .. } = &mut conn.life {
                if conn.reader_gone {
                    finished.push(id);
                } else if !*write_shut {
                    // The close frame is out: half-close, and wait for the
                    // reader to see the peer's reply (or the deadline).
                    let _ = conn.socket.shutdown(Shutdown::Write);
                    *write_shut = true;
                }
            }
        }
        still_dirty.append(&mut self.dirty);
        self.dirty = still_dirty;
        finished
    }

    /// The hub is dying (a panic): tell every client plainly with 1011,
    /// best effort, and shut every socket.
    pub fn farewell(&mut self) {
        let farewell = protocol::close_frame(close::INTERNAL_ERROR, "server error");
        for conn in self.map.values_mut() {
            conn.outbox.discard_unstarted();
            conn.outbox.push_final(farewell.clone());
            let _ = conn.outbox.write_to(&conn.socket);
            let _ = conn.socket.shutdown(Shutdown::Both);
        }
    }
}
