//! The WebSocket port's connections: threads, queues, time-outs and caps.
//! Each one bounds what a slow, idle or hostile client can hold.

use std::time::Duration;

/// Size of tungstenite's read buffer for each connection. Its default is 128 KiB,
/// allocated up front for every socket: 10,000 idle clients would pin 1.3 GB.
/// Chat frames from a browser are a few hundred bytes; the buffer grows by
/// itself for a bigger one (tungstenite reserves a frame's whole length once
/// its header is read, then reads it this many bytes at a time: a 4,000-
/// character message takes a few more `recv`s). Measured with 2,000 idle
/// clients: 4 KiB gave 25.7 KiB of server memory per idle client, 1 KiB 22.9,
/// and with today's reader 1 KiB gives 15.3–16.0 and 512 bytes 15.0–15.5.
pub const WS_READ_BUFFER_BYTES: usize = 512;

/// Stack size for each connection's reader thread. The default 2 MiB is mostly
/// untouched virtual memory, but a small stack makes the cost of a thread visible
/// and predictable. Parsing never recurses deeply: requests nested more than a
/// few levels are refused before serde_json sees them (`protocol::parse`), so even
/// a debug build's large stack frames fit with room to spare.
///
/// It is also more than four times [`HANDSHAKE_STACK_BYTES`], on purpose:
/// glibc keeps the stacks of threads that ended and hands them to new threads
/// that ask for a size up to four times smaller, with every page the old
/// thread touched still resident. A reader must get a fresh stack, never a
/// handshake's (see `ws::connection_loop`), and a handshake never a reader's.
pub const READER_STACK_BYTES: usize = 512 * 1024;

/// How much lower than the hub's a connection thread's scheduling priority
/// is (its nice value; Linux gives each thread its own). On a small machine
/// the hub is the one thread everybody waits for, and the scheduler shares
/// the cores per thread: measured at 20,000 msgs/s in 100 rooms of 10 on two
/// cores (the load generator on the same machine), the hub waited for a core
/// 19% of the time (`/proc/<pid>/task/<tid>/schedstat`). With readers at nice
/// 10 it waited 16%, and the clients' p99 went from 111 to 91 ms. A reader
/// only ever parses one frame and hands it on, so making it wait a little
/// costs nobody anything. Lowering a priority needs no privilege.
pub const CONNECTION_NICE: i32 = 10;

/// Stack size for each connection's handshake thread. The handshake touches
/// about 16 KiB (httparse's 124-header array is 4 KiB of it): six times that.
pub const HANDSHAKE_STACK_BYTES: usize = 96 * 1024;

const _: () = assert!(
    READER_STACK_BYTES > 4 * HANDSHAKE_STACK_BYTES,
    "a reader would be given a handshake's used stack"
);

/// Outbound queue bound, in bytes, for one connection: frames the socket has not
/// accepted yet. A client that falls this far behind is closed with 1008 "slow
/// consumer" so the hub never waits on it. 1 MiB is several seconds of a busy room.
pub const MAX_OUTBOX_BYTES: usize = 1024 * 1024;

/// Outbound queue bound, in queued chunks, for one connection. Each chunk is one
/// hub pass's frames for a room, or one direct reply.
pub const MAX_OUTBOX_CHUNKS: usize = 256;

/// A peer whose socket has accepted no bytes for this long while we had data for
/// it is dropped, even if its queue is not yet full.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the hub waits before retrying writes that a full socket refused. The
/// hub has no readiness notification (no epoll), so it polls while, and only
/// while, some connection has bytes waiting.
pub const WRITE_RETRY_INTERVAL: Duration = Duration::from_millis(2);

/// A WebSocket handshake must complete within this time, or the socket is
/// dropped. Each handshake runs in its own thread, so a slow one delays nobody;
/// but each holds a thread and a slot, so the wait is short. A browser sends
/// its whole handshake in one packet: 5 s is a very slow phone network.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Unfinished WebSocket handshakes one address may have at once. Counted at
/// `accept`, before a thread is spawned; past it, new sockets from that address
/// are refused (429) at once. A page opens one socket, and a class whose
/// pages all reconnect together after a restart finishes each handshake in
/// milliseconds, so 16 at once is plenty; without it, one address holding
/// thousands of half-sent handshakes took every thread slot from everyone.
/// An operator who raises `--max-per-ip` past 64 (a big NAT, a benchmark)
/// gets a quarter of it instead (see
/// [`Config::max_pending_per_ip`](super::Config::max_pending_per_ip)).
pub const MAX_PENDING_HANDSHAKES_PER_IP: usize = 16;

/// Refusals being answered at once for one address. A refused socket is
/// answered with a proper 429 on a short-lived thread so that a browser sees
/// why; past this many for one address, further ones are simply closed, so
/// refusing costs no more threads than this. Eight leave room for a few
/// pages retrying at once (a thread is still counted for a moment after its
/// answer has gone out).
pub const MAX_REFUSALS_PER_IP: usize = 8;

/// How long a refused socket has to send its request before it is closed
/// unanswered: a browser sends it at once, and a refusal is not worth a
/// thread for the whole [`HANDSHAKE_TIMEOUT`].
pub const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the server pings every connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// Pings go out in this many slices, spread over [`PING_INTERVAL`] (one slice
/// a second with the default), never to every connection in one pass: with
/// thousands connected, one pass of thousands of writes is a pause every
/// member of every room feels, every 25 s.
pub const PING_SLICES: u32 = 25;

/// A peer that sends nothing at all (pongs count) for this long is dropped. Two
/// missed pings and some slack.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server-initiated close (1001, 1008) may take to flush its queue and
/// close frame before the socket is simply shut.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a graceful shutdown may take in all before the process stops anyway.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(4);

/// Capacity of the channel from reader threads to the hub. When it is full, a
/// reader blocks on `send`, which stops it reading its socket: TCP flow control
/// then slows that client down. The hub itself never blocks on this channel.
pub const HUB_QUEUE: usize = 16 * 1024;

/// At most this many events are handled in one hub pass before it writes. This
/// bounds latency when the queue is long: writes are never starved.
pub const MAX_EVENTS_PER_PASS: usize = 4096;

/// Most WebSocket connections at once, counting handshakes in progress. Past it
/// a handshake is answered 503 with `Retry-After`. Overridable with
/// `--max-connections`. 5,000 is well within a small host's threads and memory.
pub const MAX_CONNECTIONS: usize = 5_000;

/// Most WebSocket connections from one address (429 past it), handshakes in
/// progress included; counted at `accept`, before a thread is spawned (behind
/// a trusted proxy, once the forwarded address is read). An IPv6 /64 is one
/// address. A class behind one NAT address shares this, so it is generous.
/// Overridable with `--max-per-ip`.
pub const MAX_CONNECTIONS_PER_IP: usize = 64;

/// Most WebSocket connections of one session (429 past it): tabs and devices
/// of one person. Without it one session, connecting from many addresses,
/// could hold every connection slot. Overridable with `--max-per-session`.
pub const MAX_CONNECTIONS_PER_SESSION: usize = 16;

/// Handshakes beyond `max_connections` that are still given a thread so they can
/// be told 503 properly. Past this too, new sockets are closed at once.
pub const REFUSAL_SLACK: usize = 64;

/// Open files natter needs besides one per chat connection: the web port's
/// connections (tiny_http holds two descriptors for each, so about 490 of
/// them fit), the refused handshakes above, the listeners, the database and
/// its log. At startup natter raises its open-file limit to `max_connections`
/// plus this (many systems start programs at 1024), and warns when the
/// system's hard limit does not allow it.
pub const FD_HEADROOM: usize = 1024;
