//! The WebSocket listener: `accept_loop` here, then one thread per connection
//! that does the handshake and reads the connection's frames.
//!
//! Read the files in the order a connection meets them: this one (accept),
//! `handshake.rs` (one HTTP request; decides what kind of peer this is),
//! `reader.rs` (frames become events for the hub), and `stream.rs` (why the
//! reader never writes). `admission.rs` is the hardening edge (the connection
//! caps and how refusals are answered): a first reading can skip it.
//!
//! # Why its own listener
//!
//! tiny_http's `Request::upgrade` hands back a single `Box<dyn ReadWrite>` that
//! cannot be split (tiny-http issues #8 and #247). A chat socket must be read
//! and written at the same time: the reader blocks waiting for the user while
//! the hub writes everyone else's messages. So WebSockets get a plain
//! `std::net::TcpListener`, where you own the `TcpStream` and can share it: the
//! reader thread keeps one handle, the hub gets the other.
//!
//! # One thread per connection
//!
//! Each connection gets a thread with a small stack (`READER_STACK_BYTES`)
//! that blocks in `read`. Blocking code reads top to bottom, and a thread that
//! waits costs memory, not CPU; the caps in `admission.rs` keep the number of
//! threads bounded. A connection's errors stay in its thread: nothing it does
//! can stop the accept loop or reach another connection.
//!
//! # Who writes
//!
//! Exactly one thread writes to a chat socket: during the handshake, its own
//! connection thread (nobody else knows the socket yet); after it, the hub,
//! always, including pongs and close frames. tungstenite likes to answer pings
//! and close frames by itself, from inside `read`. To keep it from writing
//! behind the hub's back, its stream is a `Stream` whose writes, once the
//! handshake is done, go into a buffer; the reader forwards those bytes to the
//! hub as an `AutoReply`, and the hub writes them in order with everything
//! else. The hub never waits on a client: its writes are non-blocking.
//!
//! # What ends a connection
//!
//! The reader stops when the peer closes or resets the socket, sends a close
//! frame, stays silent past the idle timeout, or breaks the protocol (then the
//! hub sends the close code first). The hub stops a connection by shutting its
//! socket down (a logout, a slow consumer, a server shutdown), which wakes the
//! blocked `read` with an error. Either way the reader's last word to the hub
//! is `Disconnected`, the thread returns, and the guards it held give its
//! places under the caps back. Connection threads are never joined: each ends
//! by itself, when its `read` fails (the socket shut, closed, or idle past the
//! timeout) or its next `send` finds the hub gone.
//!
//! # Stopping the listener
//!
//! `accept` blocks, so a flag alone cannot stop it. `Server::shutdown` (in
//! `server.rs`) sets `stop`, then connects to the listener once itself: the
//! accept returns, the loop sees the flag, and returns. That is the only way
//! this thread ends.

mod admission;
mod handshake;
mod reader;
mod stream;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::Sender;

use crate::config::{Config, CONNECTION_NICE, HANDSHAKE_STACK_BYTES, READER_STACK_BYTES};
use crate::hub::{ConnId, Event};
use admission::{Arrival, Caps};

pub(crate) use handshake::{bearer, client_ip};

// After a failed `accept` (say, out of file descriptors) the loop pauses,
// doubling from `ACCEPT_RETRY_MIN` to `ACCEPT_RETRY_MAX` (10 ms to 1 s), so it
// neither exits nor spins, and picks up within a second once descriptors are
// free: the same policy as the web listener's (patched) accept loop.
use tiny_http::{ACCEPT_RETRY_MAX, ACCEPT_RETRY_MIN};

/// What every connection thread needs, shared behind an `Arc`.
pub(crate) struct WsContext {
    /// The hub's input. Readers send `Event::Conn`; the handshake sends
    /// `Event::Ask(Ask::Admit)`. Bounded: a reader blocks when the hub is
    /// behind. A failed send means the hub is gone, and the connection ends.
    to_hub: Sender<Event>,
    config: Config,
    /// The web listener's port: the default allowed Origin is this host on it.
    web_port: u16,
    /// The connection caps and their counts (see `admission.rs`).
    caps: Arc<Caps>,
    /// The hasher threads, shared with the web threads: a room password in
    /// a request is checked or hashed there (see `reader.rs`).
    passwords: Arc<crate::passwords::Passwords>,
}

impl WsContext {
    pub(crate) fn new(
        to_hub: Sender<Event>,
        config: Config,
        web_port: u16,
        passwords: Arc<crate::passwords::Passwords>,
    ) -> WsContext {
        WsContext {
            to_hub,
            caps: Arc::new(Caps::new(&config)),
            config,
            web_port,
            passwords,
        }
    }
}

/// Accept connections until `stop` is set, giving each its own thread.
///
/// Errors never end this loop: a failed accept backs off and retries, a failed
/// thread spawn refuses that one connection, and whatever a connection does
/// stays in its own thread. To stop it, set `stop` and connect once to wake the
/// blocking `accept` (see the module doc).
pub(crate) fn accept_loop(listener: TcpListener, context: Arc<WsContext>, stop: Arc<AtomicBool>) {
    // In a cluster, each node counts in its own range (see
    // `ClusterConfig::first_conn_id`).
    let mut next_id: ConnId = context
        .config
        .cluster
        .as_ref()
        .map_or(1, |c| c.first_conn_id());
    let mut backoff = ACCEPT_RETRY_MIN;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return; // the socket, if any, is our own wake-up call: dropped
        }
        let (socket, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("natter: ws accept failed: {err}; retrying in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_RETRY_MAX);
                continue;
            }
        };
        backoff = ACCEPT_RETRY_MIN;
        // Far past the connection cap (handshakes that will be refused, or
        // never finish), new sockets are closed without even a thread.
        if context.caps.too_many_threads() {
            continue;
        }
        // The address is counted here, before any thread is spent on it, so
        // that one address holding thousands of half-sent handshakes cannot
        // take the slots of everyone else. Behind a trusted proxy every
        // socket comes from the proxy: the handshake counts the real address.
        let arrival = match context.config.trust_proxy {
            true => Arrival::Uncounted,
            false => match context.caps.arrive(addr.ip(), true) {
                Ok(slot) => Arrival::Counted(slot),
                Err(Some(refusing)) => Arrival::Refused(refusing),
                Err(None) => continue, // dropping the socket closes it
            },
        };
        spawn_connection(socket, addr, next_id, &context, arrival);
        next_id += 1;
    }
}

/// Start `connection_loop` on a thread of its own (`hs-N`: the handshake).
///
/// `Builder::spawn` returns an error near the thread limit, where
/// `thread::spawn` would abort the whole process. On failure the closure (and
/// the socket and counts in it) is dropped, which refuses this one client and
/// gives its places back.
fn spawn_connection(
    socket: TcpStream,
    addr: SocketAddr,
    id: ConnId,
    context: &Arc<WsContext>,
    arrival: Arrival,
) {
    let context = context.clone();
    let spawned = thread::Builder::new()
        .name(format!("hs-{id}"))
        .stack_size(HANDSHAKE_STACK_BYTES)
        .spawn(move || {
            let _thread = context.caps.thread_started();
            lower_priority();
            connection_loop(socket, addr, id, &context, arrival);
        });
    if let Err(err) = spawned {
        eprintln!("natter: cannot start a thread for {addr}: {err}; connection refused");
    }
}

/// Give the calling thread (and the reader it starts, which inherits it) a
/// lower scheduling priority than the hub's: see [`CONNECTION_NICE`]. Best
/// effort: a system that refuses leaves the thread as it was.
fn lower_priority() {
    // On Linux, "the process" 0 of setpriority is the calling thread alone.
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(None, CONNECTION_NICE);
}

/// One client's handshake; then its reader, on a fresh thread (`ws-N`).
///
/// Why two threads, one after the other: a thread keeps every page of stack
/// it ever touched, and the handshake is the deepest thing a connection
/// does (httparse's array of 124 headers alone is a page). The reader's loop
/// is shallow. Started on a fresh stack (the two stack sizes keep glibc from
/// handing a reader a used one: see `READER_STACK_BYTES`), an idle
/// connection's thread holds two pages of stack (8 KiB) instead of four or
/// five: its glibc thread block and its frames down to a `send` to the hub
/// or to parsing a frame. Two more things keep it to two pages: what the
/// handshake hands over travels boxed, and ASCII names skip the NFKC
/// normalizer (`protocol::names`). A room name outside ASCII costs that
/// reader a third page. The handshake thread ends as soon as the reader is
/// running.
fn connection_loop(
    socket: TcpStream,
    addr: SocketAddr,
    id: ConnId,
    context: &Arc<WsContext>,
    arrival: Arrival,
) {
    let Some(accepted) = handshake::accept(socket, addr, context, arrival) else {
        return;
    };
    // On the heap, with the WebSocket in it: moved by value it would be
    // copied into three of the reader's frames, and its thread keeps every
    // stack page those ever reach (this keeps an idle reader to two).
    let accepted = Box::new(accepted);
    let reader_context = context.clone();
    let spawned = thread::Builder::new()
        .name(format!("ws-{id}"))
        .stack_size(READER_STACK_BYTES)
        .spawn(move || {
            let _thread = reader_context.caps.thread_started();
            reader::read_loop(accepted, id, &reader_context);
        });
    // Dropping what `spawn` failed to move closes the socket and gives its
    // places back; the hub never heard of it.
    if let Err(err) = spawned {
        eprintln!("natter: cannot start a reader thread for {addr}: {err}; connection closed");
    }
}
