//! A crowd of chat clients: connecting them, receiving on each, and sending
//! paced traffic from a few of them.
//!
//! - **Connecting**: a few setup threads log clients in and join them, one at
//!   a time each, so the server sees a steady stream of arrivals.
//! - **Receiving**: the clients that only listen are shared out among a few
//!   poll threads ([`POLL_THREADS`]); each waits in `epoll` (through mio) for
//!   any of its sockets to have data, reads it, and walks the frames raw. A
//!   thread per client was simpler, but with a thousand clients on two cores
//!   its wake-ups cost the generator a whole core and set the latency floor.
//!   Senders, which also write, keep a small blocking thread each. Idle crowds
//!   get no threads at all.
//! - **Sending**: one pacer thread (the caller) writes every sender's messages
//!   on a fixed schedule, round robin. The timestamp in each message is taken
//!   just before its write, so a late pacer lowers the rate it reaches (which
//!   is reported) but never inflates the latency.
//!
//! # Loss
//!
//! The server sends each message to every member of its room, the sender
//! included. So a phase expects `sent × members` deliveries per room; whatever
//! has not arrived a few seconds after the last send is counted lost. A client
//! the server closes (say, as a slow consumer) loses everything after that.

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::client::{self, Connection, Endpoints, Frame, FrameReader};
use crate::server::{CpuMeter, CpuUse};
use crate::stats::{Marker, Phase};

/// Threads that log clients in and join them, each one client at a time.
const SETUP_THREADS: usize = 4;

/// Setup stops after this many clients fail: the server has hit a limit, and
/// waiting out the timeout for every remaining client would help nobody.
const MAX_SETUP_FAILURES: usize = 16;

/// Stack for each receiver thread: its loop is shallow and its buffer is on
/// the heap.
const RECEIVER_STACK_BYTES: usize = 64 * 1024;

/// Threads that receive for the clients that only listen. Two cores: one
/// for the server, one shared by these and the pacer.
const POLL_THREADS: usize = 2;

/// How long deliveries may keep arriving after a phase's last send before the
/// missing ones count as lost.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How a crowd is laid out. Client `i` is in room `i % rooms`; the first
/// `senders_per_room` clients of each room also send. On a cluster, client
/// `i` connects to node `i % nodes` (see [`Crowd::gather_on`]).
#[derive(Clone, Copy)]
pub struct Plan {
    pub rooms: usize,
    pub per_room: usize,
    pub senders_per_room: usize,
    /// Give every client a receiver thread. `false` for idle crowds.
    pub receive: bool,
    /// How many phases of traffic will be run (each has its own stats).
    pub phases: usize,
}

/// Everything the receiver threads share with the controller.
pub struct Shared {
    /// Time zero for every timestamp in the bench's messages.
    start: Instant,
    phases: Vec<Phase>,
    /// Receivers still connected, per room: the members a message reaches.
    alive: Vec<AtomicUsize>,
    stop: AtomicBool,
    bytes_received: AtomicU64,
    closed_by_server: AtomicU64,
    error_frames: AtomicU64,
    /// Deliveries whose sequence number was not above the sender's previous
    /// one: duplicates or reordering. Should always be 0.
    out_of_order: AtomicU64,
    first_problem: Mutex<Option<String>>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn note_problem(&self, problem: impl FnOnce() -> String) {
        let mut first = self.first_problem.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(problem());
        }
    }
}

/// A sending client and its place in the schedule.
struct Sender {
    id: usize,
    room: usize,
    connection: Arc<Connection>,
    next_seq: u64,
}

/// What one phase of traffic produced.
pub struct PhaseReport {
    pub sent: u64,
    /// Seconds from the phase's first send to its last.
    pub send_seconds: f64,
    pub expected: u64,
    pub delivered: u64,
    pub deliveries_per_second: f64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub cpu: CpuUse,
    /// Why sending stopped early, if it did.
    pub send_error: Option<String>,
}

impl PhaseReport {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// Messages per second actually sent (the target may not have been met).
    pub fn sent_rate(&self) -> f64 {
        if self.send_seconds > 0.0 {
            (self.sent.saturating_sub(1)) as f64 / self.send_seconds
        } else {
            0.0
        }
    }
}

/// What the pacer did in one phase.
#[derive(Default)]
struct Sent {
    count: u64,
    /// Deliveries those messages owe: each one times its room's members.
    expected: u64,
    first_ns: u64,
    last_ns: u64,
    error: Option<String>,
}

/// A connected crowd. Call [`Crowd::finish`] when done with it.
pub struct Crowd {
    /// The server's process ids (a cluster's are several), for CPU
    /// accounting: their CPU is summed.
    server_pids: Vec<u32>,
    shared: Arc<Shared>,
    connections: Vec<Arc<Connection>>,
    senders: Vec<Sender>,
    receivers: Vec<JoinHandle<()>>,
    pub joined: usize,
    pub failed: usize,
    pub first_failure: Option<String>,
    /// From the first login to the last `joined`.
    pub connect_time: Duration,
    /// From the first login until the server went quiet (set by the caller).
    pub quiet_after: Duration,
    /// Bytes received by the time the server went quiet (set by the caller).
    pub setup_bytes: u64,
}

impl Crowd {
    /// Log in, connect and join every client of the plan. `nodes` are where:
    /// one server's endpoints, or a cluster's nodes, client `i` on
    /// `nodes[i % nodes.len()]`, so that with one room the senders and the
    /// listeners are spread evenly over the nodes. `pids` are every process
    /// that serves them (on a cluster, the nodes and their Redis), whose CPU
    /// the phases report, summed, as the server's.
    pub fn gather_on(nodes: &[Endpoints], pids: &[u32], plan: Plan, start: Instant) -> Crowd {
        let total = plan.rooms * plan.per_room;
        let shared = Arc::new(Shared {
            start,
            phases: (0..plan.phases).map(|_| Phase::new()).collect(),
            alive: (0..plan.rooms).map(|_| AtomicUsize::new(0)).collect(),
            stop: AtomicBool::new(false),
            bytes_received: AtomicU64::new(0),
            closed_by_server: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            first_problem: Mutex::new(None),
        });
        let next = AtomicUsize::new(0);
        let failures = AtomicUsize::new(0);
        let joined = Mutex::new(Vec::with_capacity(total));
        let first_failure = Mutex::new(None);
        let started = Instant::now();
        thread::scope(|scope| {
            for _ in 0..SETUP_THREADS {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= total || failures.load(Relaxed) >= MAX_SETUP_FAILURES {
                        return;
                    }
                    let room = i % plan.rooms;
                    let endpoints = nodes[i % nodes.len()];
                    match client::join(endpoints, &format!("u{i}"), &format!("r{room}")) {
                        Ok((connection, reader)) => {
                            let connection = Arc::new(connection);
                            let sender = i / plan.rooms < plan.senders_per_room;
                            let receiver = match (plan.receive, sender) {
                                (false, _) => None,
                                (true, true) => Some(Receiver::Thread(spawn_receiver(
                                    &connection,
                                    reader,
                                    room,
                                    &shared,
                                ))),
                                (true, false) => {
                                    // Counted now; the poll thread counts it
                                    // out when its connection ends.
                                    shared.alive[room].fetch_add(1, Relaxed);
                                    Some(Receiver::Polled(Polled::new(&connection, reader, room)))
                                }
                            };
                            let mut joined = joined.lock().unwrap_or_else(|p| p.into_inner());
                            joined.push((i, connection, receiver));
                        }
                        Err(err) => {
                            failures.fetch_add(1, Relaxed);
                            let mut first = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                            first.get_or_insert_with(|| format!("client {i}: {err}"));
                        }
                    }
                });
            }
        });
        let connect_time = started.elapsed();

        let mut crowd = Crowd {
            server_pids: pids.to_vec(),
            shared,
            connections: Vec::new(),
            senders: Vec::new(),
            receivers: Vec::new(),
            joined: 0,
            failed: failures.into_inner(),
            first_failure: first_failure
                .into_inner()
                .unwrap_or_else(|p| p.into_inner()),
            connect_time,
            quiet_after: connect_time,
            setup_bytes: 0,
        };
        let mut joined = joined.into_inner().unwrap_or_else(|p| p.into_inner());
        joined.sort_by_key(|(i, _, _)| *i);
        crowd.joined = joined.len();
        let mut polled: Vec<Vec<Polled>> = (0..POLL_THREADS).map(|_| Vec::new()).collect();
        for (i, connection, receiver) in joined {
            let room = i % plan.rooms;
            if i / plan.rooms < plan.senders_per_room {
                crowd.senders.push(Sender {
                    id: crowd.senders.len(),
                    room,
                    connection: connection.clone(),
                    next_seq: 0,
                });
            }
            crowd.connections.push(connection);
            match receiver {
                Some(Receiver::Thread(Ok(handle))) => crowd.receivers.push(handle),
                Some(Receiver::Thread(Err(err))) => {
                    crowd.shared.note_problem(|| format!("no receiver: {err}"))
                }
                Some(Receiver::Polled(p)) => polled[i % POLL_THREADS].push(p),
                None => {}
            }
        }
        for (n, share) in polled.into_iter().enumerate() {
            if share.is_empty() {
                continue;
            }
            let shared = crowd.shared.clone();
            match thread::Builder::new()
                .name(format!("bench-poll-{n}"))
                .spawn(move || poll_loop(share, &shared))
            {
                Ok(handle) => crowd.receivers.push(handle),
                Err(err) => crowd
                    .shared
                    .note_problem(|| format!("no poll thread: {err}")),
            }
        }
        crowd
    }

    /// Send `rate` messages per second in all, round robin over the senders,
    /// for `duration`; then wait for the deliveries, and report.
    pub fn run_phase(&mut self, phase: usize, rate: f64, duration: Duration) -> PhaseReport {
        let shared = self.shared.clone();
        let stats = &shared.phases[phase];
        let cpu = CpuMeter::start_all(&self.server_pids);
        let sent = self.send_paced(phase, rate, duration);

        // Drain: wait for every delivery, or until the stragglers are lost.
        let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
        while stats.latency.count() < sent.expected && Instant::now() < drain_deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let delivered = stats.latency.count();
        let last_receipt = stats.last_receipt_ns.load(Relaxed);
        let span = last_receipt.saturating_sub(sent.first_ns) as f64 / 1e9;
        PhaseReport {
            sent: sent.count,
            send_seconds: sent.last_ns.saturating_sub(sent.first_ns) as f64 / 1e9,
            expected: sent.expected,
            delivered,
            deliveries_per_second: if span > 0.0 {
                delivered as f64 / span
            } else {
                0.0
            },
            p50: stats.latency.quantile(0.50),
            p99: stats.latency.quantile(0.99),
            p999: stats.latency.quantile(0.999),
            max: stats.latency.max(),
            cpu: cpu.read(),
            send_error: sent.error,
        }
    }

    /// The pacer: message `n` is due `n / rate` seconds after the start and
    /// goes out from sender `n % senders`. A late pacer sends at once and
    /// catches up; it never sends past `duration`.
    fn send_paced(&mut self, phase: usize, rate: f64, duration: Duration) -> Sent {
        let shared = &self.shared;
        // Members each message will reach: those connected now.
        let members: Vec<u64> = shared
            .alive
            .iter()
            .map(|a| a.load(Relaxed) as u64)
            .collect();
        let mut sent = Sent::default();
        if self.senders.is_empty() {
            return sent;
        }
        let begin = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate);
        for n in 0u64.. {
            let due = begin + interval.mul_f64(n as f64);
            if due >= begin + duration {
                break;
            }
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            let count = self.senders.len();
            let sender = &mut self.senders[n as usize % count];
            let sent_ns = shared.now_ns();
            let marker = Marker {
                phase,
                sender: sender.id,
                seq: sender.next_seq,
                sent_ns,
            };
            let message = format!(
                r#"{{"type":"message","room":"r{}","text":"{}"}}"#,
                sender.room,
                marker.text()
            );
            if let Err(err) = sender.connection.send_text(&message) {
                sent.error = Some(format!("sender {}: {err}", sender.id));
                break;
            }
            sender.next_seq += 1;
            if n == 0 {
                sent.first_ns = sent_ns;
            }
            sent.last_ns = sent_ns;
            sent.count += 1;
            sent.expected += members[sender.room];
        }
        sent
    }

    /// Bytes all receivers have read so far, frame headers included.
    pub fn bytes_received(&self) -> u64 {
        self.shared.bytes_received.load(Relaxed)
    }

    /// How joining went: how long it took and how much it sent the crowd.
    pub fn setup_note(&self) -> String {
        format!(
            "joined in {:.1} s, quiet after {:.1} s, {:.0} MB received while joining",
            self.connect_time.as_secs_f64(),
            self.quiet_after.as_secs_f64(),
            self.setup_bytes as f64 / 1e6
        )
    }

    /// Clients the server has closed so far.
    pub fn closed_by_server(&self) -> u64 {
        self.shared.closed_by_server.load(Relaxed)
    }

    /// Problems worth a note in the table: failed joins, closes, errors.
    pub fn problems(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.failed > 0 {
            notes.push(format!(
                "{} of {} clients failed to join ({})",
                self.failed,
                self.failed + self.joined,
                self.first_failure.as_deref().unwrap_or("?")
            ));
        }
        let closed = self.closed_by_server();
        if closed > 0 {
            notes.push(format!("{closed} clients closed by the server"));
        }
        let errors = self.shared.error_frames.load(Relaxed);
        if errors > 0 {
            notes.push(format!("{errors} error frames"));
        }
        let disorder = self.shared.out_of_order.load(Relaxed);
        if disorder > 0 {
            notes.push(format!("{disorder} duplicated or reordered deliveries"));
        }
        let first = self
            .shared
            .first_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(problem) = first.as_ref() {
            notes.push(format!("first problem: {problem}"));
        }
        notes
    }

    /// Stop the receivers and close every socket.
    pub fn finish(self) {
        self.shared.stop.store(true, Relaxed);
        for connection in &self.connections {
            let _ = connection.stream.shutdown(Shutdown::Both);
        }
        for receiver in self.receivers {
            let _ = receiver.join();
        }
    }
}

fn spawn_receiver(
    connection: &Arc<Connection>,
    reader: FrameReader,
    room: usize,
    shared: &Arc<Shared>,
) -> std::io::Result<JoinHandle<()>> {
    // Counted before the thread starts, so that its decrement can never come
    // first; taken back if the thread cannot start.
    shared.alive[room].fetch_add(1, Relaxed);
    let (connection, for_thread) = (connection.clone(), shared.clone());
    thread::Builder::new()
        .name("bench-recv".into())
        .stack_size(RECEIVER_STACK_BYTES)
        .spawn(move || {
            receive(&connection, reader, &for_thread);
            for_thread.alive[room].fetch_sub(1, Relaxed);
        })
        .inspect_err(|_| {
            shared.alive[room].fetch_sub(1, Relaxed);
        })
}

/// A receiver thread's whole life: read, walk the frames, record each bench
/// message's latency in its phase, answer pings. Ends at end of stream, on a
/// close frame, or when the crowd is finished.
fn receive(connection: &Connection, mut reader: FrameReader, shared: &Shared) {
    // Wake up now and then to notice `stop`, even on a silent socket.
    let _ = connection
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)));
    // The last sequence number seen from each sender.
    let mut last_seq: Vec<Option<u64>> = Vec::new();
    loop {
        match reader.fill(&connection.stream) {
            Ok(0) => return,
            Ok(n) => {
                shared.bytes_received.fetch_add(n as u64, Relaxed);
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if shared.stop.load(Relaxed) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        if !walk_frames(connection, &mut reader, &mut last_seq, shared) {
            return;
        }
    }
}

/// Walk every complete frame the reader holds: record bench messages, answer
/// pings, count errors. Returns false when the connection is over (a close
/// frame or a broken stream).
fn walk_frames(
    connection: &Connection,
    reader: &mut FrameReader,
    last_seq: &mut Vec<Option<u64>>,
    shared: &Shared,
) -> bool {
    // One clock reading per read: every frame in it arrived together.
    let now = shared.now_ns();
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return true,
            Err(err) => {
                shared.note_problem(|| err.to_string());
                return false;
            }
        };
        match frame {
            Frame::Text(payload) => {
                if let Some(marker) = Marker::find(payload) {
                    if let Some(phase) = shared.phases.get(marker.phase) {
                        phase.record(marker.sent_ns, now);
                    }
                    if last_seq.len() <= marker.sender {
                        last_seq.resize(marker.sender + 1, None);
                    }
                    if last_seq[marker.sender].is_some_and(|last| marker.seq <= last) {
                        shared.out_of_order.fetch_add(1, Relaxed);
                    }
                    last_seq[marker.sender] = Some(marker.seq);
                } else if payload.starts_with(br#"{"type":"error""#) {
                    shared.error_frames.fetch_add(1, Relaxed);
                    shared.note_problem(|| String::from_utf8_lossy(payload).into_owned());
                }
            }
            Frame::Ping(payload) => {
                let _ = connection.send_pong(payload);
            }
            Frame::Close(code) => {
                if !shared.stop.load(Relaxed) {
                    shared.closed_by_server.fetch_add(1, Relaxed);
                    shared.note_problem(|| format!("closed by the server, code {code:?}"));
                }
                return false;
            }
            Frame::Other => {}
        }
    }
}

/// How a joined client receives: a thread of its own (senders), or a share
/// of a poll thread (everyone else).
enum Receiver {
    Thread(std::io::Result<JoinHandle<()>>),
    Polled(Polled),
}

/// A listening client as a poll thread keeps it.
struct Polled {
    connection: Arc<Connection>,
    reader: FrameReader,
    room: usize,
    last_seq: Vec<Option<u64>>,
    done: bool,
}

impl Polled {
    fn new(connection: &Arc<Connection>, reader: FrameReader, room: usize) -> Polled {
        Polled {
            connection: connection.clone(),
            reader,
            room,
            last_seq: Vec::new(),
            done: false,
        }
    }

    /// Read everything the socket has (it is non-blocking) and walk it.
    /// Returns false once the connection is over.
    fn drain(&mut self, shared: &Shared) -> bool {
        loop {
            match self.reader.fill(&self.connection.stream) {
                Ok(0) => return false,
                Ok(n) => {
                    shared.bytes_received.fetch_add(n as u64, Relaxed);
                    if !walk_frames(
                        &self.connection,
                        &mut self.reader,
                        &mut self.last_seq,
                        shared,
                    ) {
                        return false;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// A poll thread's whole life: wait until any of its clients' sockets has
/// data, drain those, repeat until the crowd is finished. The sockets are made
/// non-blocking (these clients never write, but for pongs, which are tiny) and
/// registered edge-triggered, so each readiness is drained to `WouldBlock`.
fn poll_loop(mut clients: Vec<Polled>, shared: &Shared) {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    use std::os::fd::AsRawFd;

    let mut poll = match Poll::new() {
        Ok(poll) => poll,
        Err(err) => return shared.note_problem(|| format!("no poller: {err}")),
    };
    for (i, client) in clients.iter_mut().enumerate() {
        let fd = client.connection.stream.as_raw_fd();
        let ready = client
            .connection
            .stream
            .set_nonblocking(true)
            .and_then(|()| {
                poll.registry()
                    .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)
            });
        // Whatever arrived before registration is read now, not lost.
        if ready.is_err() || !client.drain(shared) {
            client.done = true;
            shared.alive[client.room].fetch_sub(1, Relaxed);
        }
    }
    let mut events = Events::with_capacity(1024);
    while !shared.stop.load(Relaxed) {
        if poll
            .poll(&mut events, Some(Duration::from_millis(500)))
            .is_err()
        {
            continue;
        }
        for event in &events {
            let client = &mut clients[event.token().0];
            if !client.done && !client.drain(shared) {
                client.done = true;
                shared.alive[client.room].fetch_sub(1, Relaxed);
            }
        }
    }
}
