//! The hub: the one thread that owns all chat state, and the one writer of every
//! chat socket. This file is the mechanism; the rules live in `chat/` (the
//! state) and `cmd/` (one file per command).
//!
//! Everything that changes state arrives as an [`Event`] on one channel:
//! questions from the web threads and the handshake (log in, log out, whose
//! cookie is this?), frames from the WebSocket reader threads, and control
//! from the `Server`. Because only this thread touches rooms, members,
//! sessions and history, none of it needs a lock, and every change happens in
//! one order that every client sees.
//!
//! # How a pass works
//!
//! `hub_loop` waits for an event, then drains everything else already queued (up
//! to [`MAX_EVENTS_PER_PASS`]), applying each: a request becomes a command on
//! the chat (`cmd::run`), and the replies the command produced are queued to
//! their connections at once, so each connection's answers keep the order of
//! its requests. Nothing is written yet; the end of the pass (`flush`) does
//! that, in this order:
//!
//! 1. `Chat::commit`: the pass's new chat messages are saved in one SQLite
//!    transaction: inline in memory, on the writer thread with a database file
//!    (then steps 2–4 run while it commits, and the hub waits at most
//!    `COMMIT_WAIT` at the end of the pass for it). Only once stored is each
//!    one serialised, once, into the bytes of a WebSocket frame and appended
//!    to its room's batch. A message nobody could save goes nowhere.
//! 2. `Chat::flush_presence`: changed member lists join their rooms' batches.
//! 3. `Chat::deliver`: each room's batch becomes one shared chunk
//!    (`Arc<[u8]>`) queued to every member. A thousand members cost a
//!    thousand reference-count increments, not a thousand encodings.
//! 4. `Conns::write`: each connection with something queued gets one
//!    non-blocking vectored write (see `outbox.rs`). What the kernel does not
//!    take waits for the next pass.
//!
//! Draining first and writing after is what makes fan-out cheap: under load one
//! `send` carries many messages to a member, instead of one wake-up and one
//! syscall per message.
//!
//! # The slow-client policy
//!
//! The hub never waits on a client. Each connection's queue is bounded
//! ([`MAX_OUTBOX_BYTES`](crate::config::MAX_OUTBOX_BYTES),
//! [`MAX_OUTBOX_CHUNKS`]). A client that lets it fill has stopped reading; it is
//! closed with 1008 "slow consumer" and everyone else carries on. So is one whose
//! socket takes nothing for [`WRITE_STALL_TIMEOUT`](crate::config::WRITE_STALL_TIMEOUT).
//!
//! # Time
//!
//! Only `hub_loop` reads the monotonic clock. Everything below it takes `now`
//! as an argument, so grace periods, presence spacing, rate limits and expiry
//! are driven by the unit tests in `chat/tests.rs` with a chosen `now`. The
//! wall clock (`protocol::now_millis`) is read only to stamp what is stored
//! and shown: a message's `ts`, when a stored session went idle, and the
//! `--retention` cutoff compared with those stamps.

use std::net::{IpAddr, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::chat::{Caller, Chat};
use crate::cmd;
use crate::config::{
    Config, COMMIT_WAIT, MAX_EVENTS_PER_PASS, PING_SLICES, RATE_COST_CONTROL, SHUTDOWN_TIMEOUT,
    TOKEN_CHECK_INTERVAL, WRITE_RETRY_INTERVAL,
};
use crate::metrics::{self, EventKind, Metrics};
use crate::protocol::{self, close};
use crate::storage::{Changed, Outcome, StorageError, Store, Write, Writes};

mod cluster;
mod conns;
mod event;
mod outbox;

pub use crate::chat::AccountRefusal;
pub use crate::chat::{ConnId, SessionId};
pub use crate::cmd::login::{Form as LoginForm, LoginRefusal, LoginStep};
pub use event::{ask, Admission, Ask, ConnEvent, Control, Event, PasswordStep, Peer};

use crate::cluster::relay::Up;
use conns::Conns;

/// The chat, and the connections it writes to. Owned by the hub thread alone.
pub struct Hub {
    /// All chat state and its rules, with no sockets.
    chat: Chat,
    /// Every connection's socket and outbox.
    conns: Conns,
    ping_interval: std::time::Duration,
    /// When the next slice of connections is pinged, and which slice.
    next_ping: Instant,
    ping_slice: u32,
    /// One ping frame, shared by every connection.
    ping: Arc<[u8]>,
    /// Set by `Control::Shutdown`: the time by which the hub returns regardless.
    shutdown_deadline: Option<Instant>,
    /// What the hub measures about itself (`--metrics`).
    metrics: Arc<Metrics>,
    /// Outcomes of commits on the writer thread (see `flush`).
    outcomes: Receiver<Outcome>,
    /// When open bot connections' tokens are next checked (a revoke by
    /// `natter token revoke`, beside natter: `cmd::bots::recheck`).
    next_token_check: Instant,
    /// In a cluster (`--redis`): this node's role, its bus to the others,
    /// and the connections other nodes hold (see `cluster.rs`).
    cluster: Option<cluster::Node>,
    /// The janitor's wake-up call, given again to a chat started anew.
    janitor: Option<crossbeam_channel::Sender<()>>,
    config: Config,
}

/// What woke the hub: one of its two inputs, or a timer coming due.
enum Woke {
    Event(Event),
    /// A commit on the writer thread is done.
    Stored(Outcome),
    Timer,
}

/// Run the hub until it is told to shut down and has closed every connection.
///
/// This is the hub thread's whole body. It returns when shutdown completes, or
/// when every sender is gone (which only happens if the server is torn down).
pub fn hub_loop(mut hub: Hub, events: Receiver<Event>) {
    // Outcomes of commits on the writer thread (never, when commits are
    // inline): the hub's second input, beside its events.
    let outcomes = hub.outcomes.clone();
    loop {
        let now = Instant::now();
        let wait = hub.next_wakeup(now).saturating_duration_since(now);
        let woke = crossbeam_channel::select! {
            recv(events) -> event => match event {
                Ok(event) => Woke::Event(event),
                Err(_) => break, // every sender is gone
            },
            recv(outcomes) -> outcome => Woke::Stored(outcome.unwrap_or_else(|_| writer_gone())),
            default(wait) => Woke::Timer,
        };
        let started = Instant::now();
        let busy = !matches!(woke, Woke::Timer);
        match woke {
            Woke::Event(event) => hub.handle(event, started),
            Woke::Stored(outcome) => hub.stored(outcome),
            Woke::Timer => {}
        }
        if busy {
            // Drain what else is already queued before writing anything:
            // this is where batching comes from.
            for outcome in outcomes.try_iter() {
                hub.stored(outcome);
            }
            for event in events.try_iter().take(MAX_EVENTS_PER_PASS) {
                hub.handle(event, Instant::now());
            }
        }
        let now = Instant::now();
        hub.tick(now);
        hub.flush(now);
        hub.metrics.hub_queue.store(events.len() as u64, Relaxed);
        hub.metrics.hub_pass.observe(started.elapsed());
        if hub.finished(now) {
            break;
        }
    }
    // What is still staged is stored before the hub ends: a client that
    // resumes after the restart gets it.
    hub.chat.finish_writes(SHUTDOWN_TIMEOUT);
}

impl Hub {
    /// A hub starting from what `store` holds. In a cluster (`cluster`:
    /// this node's status and its bus to the others) it starts following,
    /// with its chat on standby until the lease thread says this node leads.
    pub fn new(
        config: Config,
        store: Box<dyn Store>,
        writes: Writes,
        metrics: Arc<Metrics>,
        cluster: Option<(Arc<crate::cluster::Status>, crate::cluster::relay::Bus)>,
        now: Instant,
    ) -> Result<Hub, StorageError> {
        let mut chat = match cluster {
            None => Chat::new(config.clone(), store, writes, now)?,
            Some(_) => Chat::standby(config.clone(), store, writes, now),
        };
        chat.set_metrics(metrics.clone());
        Ok(Hub {
            metrics,
            outcomes: chat.outcomes(),
            conns: Conns::new(&config),
            ping_interval: config.ping_interval,
            next_ping: now + config.ping_interval / PING_SLICES,
            ping_slice: 0,
            ping: protocol::ping_frame(),
            shutdown_deadline: None,
            next_token_check: now + TOKEN_CHECK_INTERVAL,
            chat,
            cluster: cluster.map(|(status, bus)| cluster::Node::new(status, bus, now)),
            janitor: None,
            config,
        })
    }

    /// Whether this node is a cluster's follower: it runs no rules.
    fn follows(&self) -> bool {
        self.cluster.as_ref().is_some_and(|n| !n.leads())
    }

    /// Handle one event: who sent it decides where it goes. Only queues
    /// bytes; `flush` writes them.
    /// Give the chat the janitor's wake-up call (`media/janitor.rs`).
    pub fn set_janitor(&mut self, nudge: crossbeam_channel::Sender<()>) {
        self.janitor = Some(nudge.clone());
        self.chat.set_janitor(nudge);
    }

    fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::Role(role) => self.role_changed(role, now),
            Event::Cluster(received) => self.cluster_message(received, now),
            Event::Ask(ask) if self.follows() => {
                if let Some(node) = &mut self.cluster {
                    node.ask_leader(ask, now);
                }
            }
            Event::Ask(ask) => self.answer(ask, now),
            Event::Conn { id, event, sent } => {
                self.metrics
                    .hub_wait
                    .observe(now.saturating_duration_since(sent));
                self.conn_event(id, event, now)
            }
            Event::Control(Control::Shutdown) => self.shutdown(now),
            Event::Control(Control::InjectFailure) => panic!("hub failure injected by a test"),
        }
        self.carry_out(now);
        self.metrics.hub_events.fetch_add(1, Relaxed);
    }

    /// Answer a question. The asker waits on a fresh bounded(1) channel, so
    /// these sends cannot block; if it gave up waiting, nobody cares.
    fn answer(&mut self, ask: Ask, now: Instant) {
        let chat = &mut self.chat;
        match ask {
            Ask::Login { form, reply } => {
                let _ = reply.try_send(cmd::login::apply(chat, form, now));
            }
            Ask::LoginChecked {
                form,
                key,
                phc,
                right,
                reply,
            } => {
                let _ = reply.try_send(cmd::login::checked(chat, form, key, phc, right, now));
            }
            Ask::ClaimCheck { token, ip, reply } => {
                let checked = cmd::claim::check(chat, &token, ip, now).map(|(_, name)| name);
                let _ = reply.try_send(checked);
            }
            Ask::Claim {
                token,
                ip,
                phc,
                reply,
            } => cmd::claim::apply(chat, &token, ip, phc, reply, now),
            Ask::AccountOf { token, ip, reply } => {
                let answer = cmd::account::whose(chat, &token, now).and_then(|(_, account)| {
                    let address = crate::ratelimit::address_key(ip);
                    match chat.logins().wait(&account.key, address, now) {
                        Some(retry_after) => Err(AccountRefusal::TooSoon { retry_after }),
                        None => Ok(account),
                    }
                });
                let _ = reply.try_send(answer);
            }
            Ask::PasswordFailed { key, ip } => {
                let address = crate::ratelimit::address_key(ip);
                chat.logins().failed(&key, address, now);
            }
            Ask::AccountSessions { token, reply } => {
                let _ = reply.try_send(cmd::account::sessions(chat, &token, now));
            }
            Ask::LogoutAll { token, reply } => {
                let _ = reply.try_send(cmd::account::logout_all(chat, &token, now));
            }
            Ask::SetPassword {
                token,
                checked,
                phc,
                reply,
            } => cmd::account::set_password(chat, &token, &checked, phc, reply, now),
            Ask::SetProfile {
                token,
                bio,
                color,
                reply,
            } => cmd::account::set_profile(chat, &token, bio, color, reply, now),
            Ask::Release {
                token,
                checked,
                erase,
                reply,
            } => cmd::account::release(chat, &token, &checked, erase, reply, now),
            Ask::Profile { name, reply } => {
                let _ = reply.try_send(cmd::account::profile(chat, &name));
            }
            Ask::Logout { token } => cmd::logout::apply(chat, &token),
            Ask::Lookup { token, reply } => {
                let _ = reply.try_send(cmd::lookup::apply(chat, &token, now));
            }
            Ask::Admit { token, ip, reply } => {
                let _ = reply.try_send(cmd::admit::apply(chat, &token, ip, now));
            }
            Ask::RoomPassword {
                conn,
                room,
                set,
                reply,
            } => {
                let step = match self.conns.caller(conn) {
                    Some(caller) => cmd::room::password_step(chat, &caller, &room, set, now),
                    None => PasswordStep::Skip,
                };
                let _ = reply.try_send(step);
            }
            Ask::MayRead { token, room, reply } => {
                let _ = reply.try_send(cmd::export::may_read(chat, &token, &room, now));
            }
            Ask::UploadCheck {
                token,
                room,
                size,
                ip,
                reply,
            } => {
                let _ = reply.try_send(cmd::upload::check(chat, &token, &room, size, ip, now));
            }
            Ask::RecordUpload {
                token,
                upload,
                reply,
            } => cmd::upload::record(chat, &token, upload, reply, now),
            Ask::Media { token, id, reply } => {
                let _ = reply.try_send(cmd::upload::fetch(chat, token.as_deref(), &id, now));
            }
            Ask::MediaSweep {
                orphan_before_ms,
                reply,
            } => cmd::upload::sweep(chat, orphan_before_ms, reply),
            Ask::MediaKnown { reply } => {
                let _ = reply.try_send(chat.store().media_hashes());
            }
            Ask::BotPost {
                secret,
                room,
                post,
                ip,
                reply,
            } => cmd::bots::post(chat, &secret, room.as_deref(), post, ip, reply, now),
            Ask::BotRead {
                secret,
                room,
                since,
                epoch,
                wait,
                ip,
                reply,
            } => {
                let epoch = epoch.as_deref();
                cmd::bots::read(chat, &secret, &room, since, epoch, wait, ip, reply, now)
            }
            Ask::AdmitBot { secret, reply } => {
                let _ = reply.try_send(cmd::bots::admit(chat, &secret, now));
            }
            Ask::Directory { after, reply } => {
                let _ = reply.try_send(cmd::room::directory::page(chat, after));
            }
            Ask::Export { room, after, reply } => {
                let _ = reply.try_send(cmd::export::apply(chat, &room, after));
            }
        }
    }

    /// What a reader thread reports. A chat member's frames become commands;
    /// an echo peer's come straight back. A connection on its way out is
    /// ignored, apart from its reader ending.
    fn conn_event(&mut self, id: ConnId, event: ConnEvent, now: Instant) {
        match event {
            ConnEvent::Connected { peer, socket, ip } => self.connected(id, peer, socket, ip, now),
            ConnEvent::Disconnected { close } => self.disconnected(id, close, now),
            event => match self.conns.open_peer(id) {
                Some(Peer::Member(_)) if self.follows() => self.relay_up(id, event, now),
                Some(Peer::Member(_)) => {
                    let caller = self.conns.caller(id).expect("an open member has a caller");
                    self.member_event(&caller, event, now);
                }
                Some(Peer::Echo) => match event {
                    ConnEvent::Echo(frame) => self.conns.queue(id, frame, now),
                    ConnEvent::AutoReply(bytes) => self.conns.queue(id, bytes.into(), now),
                    _ => {}
                },
                // On its way out (or gone): nothing it still sends is done.
                None => {}
            },
        }
    }

    /// The handshake completed: a member joins the chat and gets `hello`,
    /// unless its session ended in the meantime.
    fn connected(
        &mut self,
        id: ConnId,
        peer: Peer,
        socket: Arc<TcpStream>,
        ip: IpAddr,
        now: Instant,
    ) {
        self.conns.insert(id, peer, socket, ip, now);
        self.metrics.connections_opened.fetch_add(1, Relaxed);
        if let Peer::Member(session) = peer {
            if let Some(node) = self.cluster.as_mut().filter(|n| !n.leads()) {
                node.up(Up::Connected {
                    conn: id,
                    session,
                    ip,
                });
                return;
            }
            let address = crate::ratelimit::address_key(ip);
            if let Err((code, reason)) = self.chat.connect(id, session, address, now) {
                self.close(id, code, reason, false, now);
            }
        }
    }

    /// A chat member's frame. Everything a client sends is charged.
    fn member_event(&mut self, caller: &Caller, event: ConnEvent, now: Instant) {
        match event {
            ConnEvent::Request(request) => cmd::run(&mut self.chat, caller, request, now),
            ConnEvent::Rejected(rejection) => cmd::invalid(&mut self.chat, caller, &rejection, now),
            ConnEvent::Refused(rejection) => self.chat.refuse(caller.conn, &rejection),
            ConnEvent::AutoReply(bytes) => {
                // A ping flood gets no pongs once it is over budget.
                if self.chat.charge_quietly(caller, RATE_COST_CONTROL, now) {
                    self.conns.queue(caller.conn, bytes.into(), now);
                }
            }
            ConnEvent::Pong => {
                self.chat.charge_quietly(caller, RATE_COST_CONTROL, now);
            }
            // Connected and Disconnected are handled by `conn_event`; only
            // an echo peer sends Echo.
            ConnEvent::Echo(_) | ConnEvent::Connected { .. } | ConnEvent::Disconnected { .. } => {}
        }
    }

    /// Carry out what the rules asked for: replies to their connections,
    /// then the closes (after the replies, so a refusal is read first).
    fn carry_out(&mut self, now: Instant) {
        let out = self.chat.take_out();
        for (conn, frame) in out.replies {
            queue(&mut self.conns, self.cluster.as_mut(), conn, &frame, now);
        }
        for (conn, code, reason) in out.closes {
            self.close(conn, code, reason, false, now);
        }
    }

    // -- a connection's end ------------------------------------------------------

    /// The reader thread ended. Take the connection out of the chat (leave
    /// notices wait for the grace period) and finish writing to it.
    fn disconnected(&mut self, id: ConnId, close: Option<(u16, &'static str)>, now: Instant) {
        if let Some((code, reason)) = close {
            // The peer broke the rules, but what we already owe it (replies
            // to its earlier, valid frames) still goes out before the close
            // frame. `close` does nothing if it is already closing.
            self.close(id, code, reason, false, now);
        }
        let Some((was_open, pending)) = self.conns.reader_gone(id, now) else {
            return;
        };
        if was_open {
            // Nobody closed it but its client.
            self.metrics.closes.add(metrics::CLOSE_BY_PEER, 1);
            self.chat.disconnect(id, now);
            self.left_locally(id);
        }
        if !pending {
            self.forget(id, now);
        }
    }

    /// Start closing a connection: it leaves the chat now, and its socket is
    /// shut once the close frame is out or `CLOSE_FLUSH_TIMEOUT` has passed.
    /// `discard` drops queued frames first (a slow consumer will not read them).
    fn close(&mut self, id: ConnId, code: u16, reason: &str, discard: bool, now: Instant) {
        if let Some(node) = self.cluster.as_mut().filter(|n| n.remote.contains_key(&id)) {
            // Another node's connection: it leaves the chat here, and its
            // node closes the socket.
            node.close_remote(id, code, reason);
            self.chat.disconnect(id, now);
            return;
        }
        if self.conns.start_close(id, code, reason, discard, now) {
            self.metrics.closes.add(metrics::close_index(code), 1);
            self.chat.disconnect(id, now);
            self.left_locally(id);
        }
    }

    /// A follower's member connection ended here: the leader takes it out
    /// of the chat.
    fn left_locally(&mut self, id: ConnId) {
        if let Some(node) = self.cluster.as_mut().filter(|n| !n.leads()) {
            node.up(Up::Disconnected { conn: id });
        }
    }

    /// Drop a connection for good.
    fn forget(&mut self, id: ConnId, now: Instant) {
        self.chat.disconnect(id, now);
        self.conns.remove(id);
    }

    // -- the end of a pass -------------------------------------------------------

    /// Commit, then hand out the rooms' batches, close the doomed, and write.
    fn flush(&mut self, now: Instant) {
        if self.follows() {
            self.send_out(now);
            if let Some(node) = &mut self.cluster {
                node.flush(now);
            }
            self.metrics
                .connections
                .store(self.conns.len() as u64, Relaxed);
            return;
        }
        // Inline (in memory) this stores the pass's messages now, and
        // `stored` hands them out. On the writer thread the commit runs while
        // everything else goes out, and its messages follow below.
        if let Some(outcome) = self.chat.commit() {
            self.stored(outcome);
        }
        self.send_out(now);
        // A healthy disk has committed by the time the writes above are
        // done (tens of microseconds): then the messages go out in this very
        // pass, not a pass later. A slow one is waited for `COMMIT_WAIT` at
        // most; its outcome then wakes the hub's `select!` when it comes.
        if self.chat.is_committing() {
            match self.outcomes.recv_timeout(COMMIT_WAIT) {
                Ok(outcome) => {
                    self.stored(outcome);
                    self.send_out(now);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => writer_gone(),
            }
        }
        // Long-polls whose room moved on in this pass (`last_told`).
        if !self.chat.polls.is_empty() {
            cmd::bots::polls(&mut self.chat, now, false);
        }
        self.chat.drop_idle_rooms();
        if let Some(node) = &mut self.cluster {
            node.flush(now);
        }
        let open = self.conns.len() as u64;
        self.metrics.connections.store(open, Relaxed);
        let (sessions, rooms) = self.chat.counts();
        self.metrics.sessions.store(sessions as u64, Relaxed);
        self.metrics.rooms.store(rooms as u64, Relaxed);
    }

    /// Queue the rooms' batches and what the rules asked for, close the
    /// doomed, and write.
    fn send_out(&mut self, now: Instant) {
        self.carry_out(now);
        self.chat.flush_presence(now);
        self.deliver(now);
        loop {
            let doomed = self.conns.take_doomed();
            if doomed.is_empty() {
                break;
            }
            for (id, code, reason) in doomed {
                self.close(id, code, reason, true, now);
            }
            // Leaving rooms adds notices to their batches, which may doom others.
            self.deliver(now);
        }
        for id in self.conns.write(now) {
            self.forget(id, now);
        }
    }

    /// A commit's outcome: its messages go to their rooms' batches (or their
    /// senders are told they could not be stored).
    fn stored(&mut self, outcome: Outcome) {
        self.metrics.commit.observe(outcome.took);
        self.count_committed(&outcome);
        let stored = self.chat.committed(outcome);
        self.metrics.messages.fetch_add(stored as u64, Relaxed);
    }

    /// What a commit stored, by kind (`natter_events_committed_total`).
    fn count_committed(&self, outcome: &Outcome) {
        let mut counts = [0u64; EventKind::LABELS.len()];
        for ((_, write), failed) in outcome.batch.writes.iter().zip(&outcome.failed) {
            let kind = match write {
                _ if failed.is_some() => continue,
                Write::Post(_) => EventKind::Message,
                Write::Change(change) => match change.what {
                    Changed::Edit { .. } => EventKind::Edit,
                    Changed::Delete { .. } => EventKind::Delete,
                    Changed::React { .. } => EventKind::React,
                },
            };
            counts[kind as usize] += 1;
        }
        if outcome.others.is_none() {
            counts[EventKind::Setting as usize] += outcome.batch.rooms.len() as u64;
        }
        for (i, n) in counts.into_iter().enumerate() {
            if n > 0 {
                self.metrics.committed.add(i, n);
            }
        }
    }

    /// Every room's batch, to its members.
    fn deliver(&mut self, now: Instant) {
        let (conns, node) = (&mut self.conns, &mut self.cluster);
        let (mut deliveries, mut bytes) = (0, 0);
        self.chat.deliver(|member, chunk| {
            deliveries += 1;
            bytes += chunk.len() as u64;
            queue(conns, node.as_mut(), member, chunk, now);
        });
        self.metrics.deliveries.fetch_add(deliveries, Relaxed);
        self.metrics.delivered_bytes.fetch_add(bytes, Relaxed);
    }

    // -- timers --------------------------------------------------------------------

    /// The earliest moment something needs the hub without an event arriving.
    fn next_wakeup(&self, now: Instant) -> Instant {
        let mut at = self.next_ping.min(self.chat.next_deadline());
        if let Some(node) = &self.cluster {
            at = at.min(node.next_deadline());
        }
        if let Some(due) = self.conns.next_deadline(now, WRITE_RETRY_INTERVAL) {
            at = at.min(due);
        }
        if let Some(deadline) = self.shutdown_deadline {
            at = at.min(deadline);
        }
        at
    }

    /// Timers: the chat's (leave notices, expiry, retention), pings, and
    /// closing sockets past their deadline.
    fn tick(&mut self, now: Instant) {
        self.cluster_tick(now);
        if self.follows() {
            self.ping(now);
            return;
        }
        self.chat.tick(now);
        if now >= self.next_token_check {
            self.next_token_check = now + TOKEN_CHECK_INTERVAL;
            cmd::bots::recheck(&mut self.chat);
        }
        self.carry_out(now);
        self.ping(now);
    }

    /// Pings, a slice of the connections at a time, and closing sockets
    /// past their deadline.
    fn ping(&mut self, now: Instant) {
        if now >= self.next_ping {
            // One slice at a time (see `PING_SLICES`): connection ids are
            // handed out in order, so the slices stay even.
            self.next_ping = now + self.ping_interval / PING_SLICES;
            let slice = self.ping_slice;
            self.ping_slice = (slice + 1) % PING_SLICES;
            for id in self.conns.ids() {
                if id % u64::from(PING_SLICES) == u64::from(slice) {
                    self.conns.queue(id, self.ping.clone(), now);
                }
            }
        }
        for id in self.conns.overdue(now) {
            self.forget(id, now);
        }
    }

    fn shutdown(&mut self, now: Instant) {
        self.shutdown_deadline = Some(now + SHUTDOWN_TIMEOUT);
        // Long-polls are answered with what there is.
        cmd::bots::polls(&mut self.chat, now, true);
        self.chat.shut_down(now);
        for id in self.conns.ids() {
            // Queued frames stay: they are delivered before the close frame.
            self.close(id, close::GOING_AWAY, "server shutting down", false, now);
        }
    }

    /// Shutdown is complete when every connection is gone, or time is up.
    fn finished(&self, now: Instant) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => self.conns.is_empty() || now >= deadline,
            None => false,
        }
    }
}

/// Queue `chunk` for connection `conn`: into its outbox when its socket is
/// here, down the bus to its node when another node holds it (a cluster's
/// leader, `cluster.rs`).
fn queue(
    conns: &mut Conns,
    cluster: Option<&mut cluster::Node>,
    conn: ConnId,
    chunk: &Arc<[u8]>,
    now: Instant,
) {
    match cluster {
        Some(node) if node.remote.contains_key(&conn) => node.send(conn, chunk),
        _ => conns.queue(conn, chunk.clone(), now),
    }
}

/// The writer thread ended while the hub runs (a panic in it): nothing can be
/// stored any more, so nothing can be delivered. The hub fails loudly, as a
/// bug in it would (see `Drop for Hub`), rather than wait for ever.
fn writer_gone() -> ! {
    panic!("the store-writer thread has stopped: nothing can be stored");
}

/// If the hub panics, the chat is over: nobody else can write the sockets or
/// knows the rooms. Tell every client plainly (close 1011) instead of leaving
/// them connected to a server that will never answer. `run` sees the hub thread
/// end and exits non-zero.
impl Drop for Hub {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let closing = self.conns.len() as u64;
            let code = metrics::close_index(close::INTERNAL_ERROR);
            self.metrics.closes.add(code, closing);
            self.conns.farewell();
        }
    }
}
