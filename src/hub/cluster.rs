//! The hub in a cluster (`--redis`): which events it runs, and which it
//! relays. Without `--redis` none of this exists (`Hub::cluster` is `None`).
//!
//! A node is in one of two roles, told by the lease thread
//! (`cluster/lease.rs`) as an [`Event::Role`](super::Event::Role):
//!
//! - **Leading**: the hub runs the chat for every node's clients. A
//!   connection on another node is a *remote* connection: the chat sees it
//!   as any other (a `ConnId` in rooms), and what the rules send it goes
//!   down the bus to its node instead of into a local outbox. A room's
//!   batch for many members on one node crosses the bus once, with their
//!   ids.
//! - **Following**: the hub keeps its sockets (pings, outboxes, slow
//!   consumers, closes) and runs no rules. Each member's event goes up to
//!   the leader; each frame that comes down is queued to its connection as
//!   a local one's would be. The handshake's question (may this session
//!   connect?) goes up too and its answer comes back.
//!
//! When the role changes, every client of this node is closed with 1012:
//! the new leader's chat has never seen them, and they reconnect and resume
//! with `since` like after any restart. Nothing is lost: the new leader's
//! database holds every message the old one stored (`cluster/log.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::chat::{Caller, Chat, ConnId, SessionId};
use crate::cluster::relay::{Bus, Down, DownWhat, Received as R, Up, UpMessage};
use crate::cluster::{Role, Status};
use crate::cmd;
use crate::cmd::room::PasswordStep;
use crate::config::{NODE_SILENT_AFTER, REDIS_DOWN_AFTER};
use crate::protocol::{close, Rejection};

use super::{Admission, Ask, ConnEvent, Hub, Peer};

/// How often a follower says it is alive when it has nothing else to say.
const ALIVE_EVERY: Duration = Duration::from_secs(1);

/// One chunk, and the connections of one node it goes to.
type Shared = (Arc<[u8]>, Vec<ConnId>);

/// The hub's cluster state.
pub struct Node {
    pub status: Arc<Status>,
    pub bus: Bus,
    pub role: NodeRole,
    /// Leading: connections held by other nodes, by id.
    pub remote: HashMap<ConnId, Remote>,
    /// Leading: when each follower (name, instance) last spoke.
    seen: HashMap<(String, u64), Instant>,
    /// Following: questions waiting for the leader's answer.
    rpcs: HashMap<u64, Waiting>,
    next_rpc: u64,
    next_alive: Instant,
    /// This pass's frames for each node: (chunk, the connections it is for),
    /// so a chunk for many members crosses once.
    frames: HashMap<String, Vec<Shared>>,
    /// Whether this node's clients were closed for a Redis outage already.
    closed_for_outage: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NodeRole {
    /// This node leads, in this term.
    Leading(u64),
    /// Another node leads (in this term, once known).
    Following(Option<u64>),
}

/// A connection held by another node.
pub struct Remote {
    pub node: String,
    pub instance: u64,
    pub session: SessionId,
    pub address: IpAddr,
}

/// A question from this node's threads, waiting for the leader.
enum Waiting {
    Admit(Sender<Admission>, Instant),
    Bot(Sender<Result<SessionId, Rejection>>, Instant),
    Password(Sender<PasswordStep>, Instant),
}

/// What the hub must do after a role change.
pub enum Switch {
    /// Start the chat, in this epoch, and close this node's clients.
    Lead(String),
    /// Stop running the chat (if it did) and close this node's clients.
    Follow,
    Nothing,
}

impl Node {
    pub fn new(status: Arc<Status>, bus: Bus, now: Instant) -> Node {
        Node {
            status,
            bus,
            role: NodeRole::Following(None),
            remote: HashMap::new(),
            seen: HashMap::new(),
            rpcs: HashMap::new(),
            next_rpc: 1,
            next_alive: now,
            frames: HashMap::new(),
            closed_for_outage: false,
        }
    }

    pub fn leads(&self) -> bool {
        matches!(self.role, NodeRole::Leading(_))
    }

    /// The lease thread's news.
    pub fn role_changed(&mut self, role: Role) -> Switch {
        match (role, self.role) {
            (Role::Lead(lead), _) => {
                self.role = NodeRole::Leading(lead.term);
                self.remote.clear();
                self.seen.clear();
                Switch::Lead(lead.epoch)
            }
            (Role::Follow(term), NodeRole::Following(now)) if term == now => Switch::Nothing,
            (Role::Follow(term), _) => {
                self.role = NodeRole::Following(term);
                self.remote.clear();
                self.fail_rpcs();
                Switch::Follow
            }
        }
    }

    /// The term this node's messages are for.
    fn term(&self) -> Option<u64> {
        match self.role {
            NodeRole::Leading(term) => Some(term),
            NodeRole::Following(term) => term,
        }
    }

    // -- following ------------------------------------------------------------

    /// Relay a member's event to the leader (nowhere, before one is known:
    /// the client's request is lost with its connection, which is closed
    /// when a leader is known).
    pub fn up(&mut self, up: Up) {
        if let Some(term) = self.term() {
            self.bus.up(term, up);
        }
    }

    /// A question from this node's handshakes and readers: to the leader,
    /// with its reply channel kept until the answer comes. Any other
    /// question (a web page's) is not asked here: a follower forwards those
    /// requests to the leader's web port (`web/relay.rs`).
    pub fn ask_leader(&mut self, ask: Ask, now: Instant) {
        if self.term().is_none() {
            // No leader to ask: say so at once rather than let it wait.
            match ask {
                Ask::Admit { reply, .. } => drop(reply.try_send(Admission::Unavailable)),
                Ask::AdmitBot { reply, .. } => {
                    let busy = Rejection::new(
                        crate::protocol::ErrorCode::StorageFailed,
                        "the cluster is choosing a leader; try again in a few seconds",
                    );
                    drop(reply.try_send(Err(busy)))
                }
                _ => {}
            }
            return;
        }
        let rpc = self.next_rpc;
        self.next_rpc += 1;
        let (up, waiting) = match ask {
            Ask::Admit { token, ip, reply } => (
                Up::Admit {
                    rpc,
                    key: crate::session::token_key(&token),
                    ip,
                },
                Waiting::Admit(reply, now),
            ),
            Ask::AdmitBot { secret, reply } => (
                Up::AdmitBot {
                    rpc,
                    key: crate::cmd::bots::secret_key(&secret),
                },
                Waiting::Bot(reply, now),
            ),
            Ask::RoomPassword {
                conn,
                room,
                set,
                reply,
            } => (
                Up::RoomPassword {
                    rpc,
                    conn,
                    room,
                    set,
                },
                Waiting::Password(reply, now),
            ),
            // Dropping the reply channel: the asker hears "unavailable".
            _ => return,
        };
        self.up(up);
        self.rpcs.insert(rpc, waiting);
    }

    /// A message from the leader: frames to queue, closes, or an answer.
    /// Returns what the hub must do with its sockets.
    pub fn leader_said(&mut self, down: Down) -> Option<FromLeader> {
        if Some(down.term()) != self.term() || self.leads() {
            return None; // for another leader's clients
        }
        match down {
            Down::Frames { conns, bytes, .. } => Some(FromLeader::Frames(conns, bytes)),
            Down::Other { what, .. } => match what {
                DownWhat::Admission { rpc, admission } => {
                    if let Some(Waiting::Admit(reply, _)) = self.rpcs.remove(&rpc) {
                        let _ = reply.try_send(admission);
                    }
                    None
                }
                DownWhat::Bot { rpc, answer } => {
                    if let Some(Waiting::Bot(reply, _)) = self.rpcs.remove(&rpc) {
                        let _ = reply.try_send(answer);
                    }
                    None
                }
                DownWhat::Password { rpc, step } => {
                    if let Some(Waiting::Password(reply, _)) = self.rpcs.remove(&rpc) {
                        let _ = reply.try_send(step);
                    }
                    None
                }
                DownWhat::Close { conn, code, reason } => {
                    Some(FromLeader::Close(conn, code, reason))
                }
                DownWhat::Reset { instance } if instance == self.status.instance => {
                    Some(FromLeader::Reset)
                }
                DownWhat::Reset { .. } => None,
            },
        }
    }

    fn fail_rpcs(&mut self) {
        self.rpcs.clear(); // each asker hears "unavailable"
    }

    // -- leading --------------------------------------------------------------

    /// A follower's message, if it is for this leader; the follower counts
    /// as alive.
    pub fn follower_said(
        &mut self,
        message: UpMessage,
        now: Instant,
    ) -> Option<((String, u64), Up)> {
        if Some(message.term) != self.term() || !self.leads() {
            return None;
        }
        let from = (message.node, message.instance);
        self.seen.insert(from.clone(), now);
        Some((from, message.up))
    }

    /// The caller a remote connection's request comes from. Its node keeps
    /// its outbox: the leader assumes it has room (a full one is that node's
    /// slow consumer, closed there and reported as gone).
    pub fn caller(&self, conn: ConnId, room_for_reply: usize) -> Option<Caller> {
        let r = self.remote.get(&conn)?;
        Some(Caller {
            session: r.session,
            address: r.address,
            conn,
            room_for_reply,
        })
    }

    /// Queue `chunk` for remote connection `conn` (grouped with the other
    /// connections of its node the same chunk goes to).
    pub fn send(&mut self, conn: ConnId, chunk: &Arc<[u8]>) {
        let Some(r) = self.remote.get(&conn) else {
            return;
        };
        let list = self.frames.entry(r.node.clone()).or_default();
        match list.last_mut() {
            Some((last, conns)) if Arc::ptr_eq(last, chunk) => conns.push(conn),
            _ => list.push((chunk.clone(), vec![conn])),
        }
    }

    /// Tell a remote connection's node to close it, and forget it.
    pub fn close_remote(&mut self, conn: ConnId, code: u16, reason: &str) {
        if let Some(r) = self.remote.remove(&conn) {
            self.flush_frames_of(&r.node);
            let what = DownWhat::Close {
                conn,
                code,
                reason: reason.to_string(),
            };
            self.down(&r.node, what);
        }
    }

    /// Answer a follower's question.
    pub fn answer(&mut self, node: &str, what: DownWhat) {
        self.down(node, what);
    }

    fn down(&mut self, node: &str, what: DownWhat) {
        if let Some(term) = self.term() {
            self.bus.down(node, &Down::Other { term, what });
        }
    }

    fn flush_frames_of(&mut self, node: &str) {
        let Some(term) = self.term() else { return };
        for (bytes, conns) in self.frames.remove(node).unwrap_or_default() {
            self.bus.down(node, &Down::Frames { term, conns, bytes });
        }
    }

    /// Followers silent for `NODE_SILENT_AFTER` (crashed, or cut off): their
    /// connections, to take out of the chat. Their node, if it comes back,
    /// is told to reset.
    pub fn silent_nodes(&mut self, now: Instant) -> Vec<ConnId> {
        let silent: Vec<(String, u64)> = self
            .seen
            .iter()
            .filter(|(_, &at)| now.saturating_duration_since(at) > NODE_SILENT_AFTER)
            .map(|(node, _)| node.clone())
            .collect();
        let mut gone = Vec::new();
        for (node, instance) in silent {
            eprintln!("natter: cluster: node {node} is silent; its clients leave");
            self.seen.remove(&(node.clone(), instance));
            gone.extend(
                self.remote
                    .iter()
                    .filter(|(_, r)| r.node == node && r.instance == instance)
                    .map(|(&id, _)| id),
            );
            self.down(&node, DownWhat::Reset { instance });
        }
        for id in &gone {
            self.remote.remove(id);
        }
        gone
    }

    // -- every pass -----------------------------------------------------------

    /// The end of a pass: what is queued goes to Redis. A follower with
    /// nothing to say says it is alive, once a second.
    pub fn flush(&mut self, now: Instant) {
        let nodes: Vec<String> = self.frames.keys().cloned().collect();
        for node in nodes {
            self.flush_frames_of(&node);
        }
        if now >= self.next_alive {
            self.next_alive = now + ALIVE_EVERY;
            if !self.leads() {
                self.up(Up::Alive);
            }
        }
        self.bus.flush();
        // Questions the leader never answered: their askers gave up.
        self.rpcs.retain(|_, w| {
            let since = match w {
                Waiting::Admit(_, t) | Waiting::Bot(_, t) | Waiting::Password(_, t) => *t,
            };
            now.saturating_duration_since(since) < crate::config::HUB_REPLY_TIMEOUT * 2
        });
    }

    /// Whether Redis has been away so long that this node's clients must go
    /// elsewhere (true once per outage).
    pub fn outage_begins(&mut self) -> bool {
        let down = self.status.redis_down_for() > REDIS_DOWN_AFTER;
        if !down {
            self.closed_for_outage = false;
            return false;
        }
        !std::mem::replace(&mut self.closed_for_outage, true)
    }

    /// When the hub must wake for the cluster at the latest: a follower to
    /// say it is alive; a leader to look for silent nodes, once a second.
    pub fn next_deadline(&self) -> Instant {
        self.next_alive
    }
}

/// What a leader's message asks of the follower's sockets.
pub enum FromLeader {
    Frames(Vec<ConnId>, Arc<[u8]>),
    Close(ConnId, u16, String),
    Reset,
}

/// The close every client of a node gets when the leader changes.
pub const ROLE_CHANGE: (u16, &str) = (
    close::SERVICE_RESTART,
    "the cluster's leader changed; resume",
);

/// The close every client of a node gets when it lost Redis.
pub const OUTAGE: (u16, &str) = (
    close::TRY_AGAIN_LATER,
    "this node lost its cluster; reconnect",
);

// -- the hub's side: what it does with its node's role and messages --------------

impl Hub {
    /// The lease thread's news: start or stop running the chat. Either way
    /// this node's clients reconnect, to resume with the new leader.
    pub(super) fn role_changed(&mut self, role: Role, now: Instant) {
        let Some(node) = &mut self.cluster else {
            return;
        };
        let epoch = match node.role_changed(role) {
            Switch::Nothing => return,
            Switch::Lead(epoch) => Some(epoch),
            Switch::Follow => None,
        };
        // The chat starts over from the database, which holds everything
        // the cluster stored: a leader's from its own commits, a follower's
        // from the log (the lease is only taken once it is applied).
        let spare = match crate::storage::Sqlite::open(":memory:", None) {
            Ok(spare) => spare,
            Err(e) => panic!("cannot switch roles without a spare in-memory store: {e}"),
        };
        let old = std::mem::replace(
            &mut self.chat,
            Chat::standby(
                self.config.clone(),
                Box::new(spare),
                crate::storage::Writes::Inline,
                now,
            ),
        );
        let (store, writes) = old.into_storage(crate::config::SHUTDOWN_TIMEOUT);
        let mut chat = match &epoch {
            Some(epoch) => match Chat::new(self.config.clone(), store, writes, now) {
                Ok(mut chat) => {
                    chat.set_epoch(epoch);
                    chat
                }
                Err(e) => panic!("the leader cannot read its database: {e}"),
            },
            None => Chat::standby(self.config.clone(), store, writes, now),
        };
        chat.set_metrics(self.metrics.clone());
        if let Some(janitor) = &self.janitor {
            chat.set_janitor(janitor.clone());
        }
        self.chat = chat;
        self.close_members(ROLE_CHANGE, now);
    }

    /// Close every chat client on this node (not echo peers).
    fn close_members(&mut self, (code, reason): (u16, &str), now: Instant) {
        for id in self.conns.ids() {
            if matches!(self.conns.open_peer(id), Some(Peer::Member(_))) {
                self.close(id, code, reason, false, now);
            }
        }
    }

    /// A message from another node.
    pub(super) fn cluster_message(&mut self, received: R, now: Instant) {
        let Some(node) = &mut self.cluster else {
            return;
        };
        match received {
            R::Up(up) => {
                if let Some((from, up)) = node.follower_said(up, now) {
                    self.follower_event(from, up, now);
                }
            }
            R::Down(down) => match node.leader_said(down) {
                Some(FromLeader::Frames(conns, bytes)) => {
                    for conn in conns {
                        self.conns.queue(conn, bytes.clone(), now);
                    }
                }
                Some(FromLeader::Close(conn, code, reason)) => {
                    self.close(conn, code, &reason, false, now)
                }
                Some(FromLeader::Reset) => self.close_members(ROLE_CHANGE, now),
                None => {}
            },
        }
    }

    /// A follower relays one of its client's events: the leader runs it
    /// as it runs a local one.
    fn follower_event(&mut self, (from, instance): (String, u64), up: Up, now: Instant) {
        let from = from.as_str();
        let chat = &mut self.chat;
        let node = self.cluster.as_mut().expect("only a cluster gets here");
        match up {
            Up::Alive => {}
            Up::Admit { rpc, key, ip } => {
                let admission = cmd::admit::apply_key(chat, &key, ip, now);
                node.answer(from, DownWhat::Admission { rpc, admission });
            }
            Up::AdmitBot { rpc, key } => {
                let answer = match key {
                    Some(key) => cmd::bots::admit_key(chat, &key, now),
                    None => cmd::bots::admit(chat, "", now),
                };
                node.answer(from, DownWhat::Bot { rpc, answer });
            }
            Up::RoomPassword {
                rpc,
                conn,
                room,
                set,
            } => {
                let step = match node.caller(conn, self.config.max_outbox_bytes) {
                    Some(caller) => cmd::room::password_step(chat, &caller, &room, set, now),
                    None => PasswordStep::Skip,
                };
                node.answer(from, DownWhat::Password { rpc, step });
            }
            Up::Connected { conn, session, ip } => {
                let address = crate::ratelimit::address_key(ip);
                node.remote.insert(
                    conn,
                    Remote {
                        node: from.to_string(),
                        instance,
                        session,
                        address,
                    },
                );
                if let Err((code, reason)) = chat.connect(conn, session, address, now) {
                    self.close(conn, code, reason, false, now);
                }
            }
            Up::Disconnected { conn } => {
                if node.remote.remove(&conn).is_some() {
                    chat.disconnect(conn, now);
                }
            }
            Up::Request {
                conn,
                mut request,
                password_right,
                password_phc,
            } => {
                use crate::protocol::Request;
                match &mut request {
                    Request::Join(join) => join.password_right = password_right,
                    Request::SetRoom(set) => set.password_phc = password_phc,
                    _ => {}
                }
                self.remote_event(conn, ConnEvent::Request(request), now);
            }
            Up::Rejected { conn, rejection } => {
                self.remote_event(conn, ConnEvent::Rejected(rejection), now)
            }
            Up::Refused { conn, rejection } => {
                self.remote_event(conn, ConnEvent::Refused(rejection), now)
            }
            Up::Pong { conn } => self.remote_event(conn, ConnEvent::Pong, now),
        }
        self.carry_out(now);
    }

    fn remote_event(&mut self, conn: ConnId, event: ConnEvent, now: Instant) {
        let node = self.cluster.as_ref().expect("only a cluster gets here");
        if let Some(caller) = node.caller(conn, self.config.max_outbox_bytes) {
            self.member_event(&caller, event, now);
        }
    }

    /// A follower's member sent something: up it goes, as it is. (Its pings'
    /// pongs are answered here: they need no rules.)
    pub(super) fn relay_up(&mut self, id: ConnId, event: ConnEvent, now: Instant) {
        let up = match event {
            ConnEvent::Request(request) => {
                use crate::protocol::Request;
                let (password_right, password_phc) = match &request {
                    Request::Join(join) => (join.password_right, None),
                    Request::SetRoom(set) => (None, set.password_phc.clone()),
                    _ => (None, None),
                };
                Up::Request {
                    conn: id,
                    request,
                    password_right,
                    password_phc,
                }
            }
            ConnEvent::Rejected(rejection) => Up::Rejected {
                conn: id,
                rejection,
            },
            ConnEvent::Refused(rejection) => Up::Refused {
                conn: id,
                rejection,
            },
            ConnEvent::Pong => Up::Pong { conn: id },
            ConnEvent::AutoReply(bytes) => {
                self.conns.queue(id, bytes.into(), now);
                return;
            }
            ConnEvent::Echo(_) | ConnEvent::Connected { .. } | ConnEvent::Disconnected { .. } => {
                return
            }
        };
        if let Some(node) = &mut self.cluster {
            node.up(up);
        }
    }

    /// The cluster's timers: a leader drops the clients of silent nodes; a
    /// node that lost Redis sends its clients elsewhere.
    pub(super) fn cluster_tick(&mut self, now: Instant) {
        let Some(node) = &mut self.cluster else {
            return;
        };
        if node.outage_begins() {
            eprintln!("natter: cluster: Redis is unreachable; this node's clients go elsewhere");
            self.close_members(OUTAGE, now);
            return;
        }
        if node.leads() {
            for conn in node.silent_nodes(now) {
                self.chat.disconnect(conn, now);
            }
        }
    }
}
