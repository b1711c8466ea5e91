//! The bus between nodes: client events up to the leader, frames down to
//! the node that holds each client's socket.
//!
//! Each direction is a Redis list, so nothing is lost while a reader is
//! busy or reconnecting: `<prefix>:up` (every follower pushes, the leader
//! pops) and `<prefix>:down:<node>` (the leader pushes, that node pops).
//! Each node runs two threads for it, and the hub never touches Redis:
//!
//! - `cluster-send` takes what the hub hands it at the end of a pass, and
//!   pushes it in one pipeline (one round trip however many lists);
//! - `cluster-recv` pops this node's down list (and, while leading, the up
//!   list) and hands what it read to the hub as an `Event::Cluster`.
//!
//! Every message names the term of the leader it is for. A new leader starts
//! with every client reconnecting (followers close theirs with 1012), so a
//! message of another term is stale and is dropped.
//!
//! What crosses the bus is what a client sent and what it is sent: no
//! session token or bot secret, only their hashes (`token_key`). Room
//! passwords are checked or hashed on the node the client is on, as on
//! one node; invite codes and owner keys travel inside the requests that
//! carry them, so Redis should be on a private network (see the README).

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::connect::Redis;
use super::resp::{Cmd, Value};
use super::Status;
use crate::chat::{ConnId, SessionId};
use crate::cmd::room::PasswordStep;
use crate::hub::{Admission, Event};
use crate::protocol::{Rejection, Request};

/// Messages popped from a list at once.
const POP_COUNT: usize = 512;

/// How long a pop blocks in Redis when the lists are empty.
const POP_BLOCK: Duration = Duration::from_millis(500);

/// From a follower to the leader.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpMessage {
    pub node: String,
    /// Which run of that node (its number, see `ClusterConfig::index`): a
    /// node restarted under the same name is another instance, and the
    /// leader forgets the old one's clients when it falls silent.
    pub instance: u64,
    pub term: u64,
    pub up: Up,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Up {
    /// A WebSocket handshake: may this session connect? (`token_key`.)
    Admit {
        rpc: u64,
        key: String,
        ip: IpAddr,
    },
    /// A bot's handshake (`token_key` of its secret, or `None`: no token).
    AdmitBot {
        rpc: u64,
        key: Option<String>,
    },
    /// A reader met a room password (see `Ask::RoomPassword`).
    RoomPassword {
        rpc: u64,
        conn: ConnId,
        room: String,
        set: bool,
    },
    /// A client's socket is open on the sending node.
    Connected {
        conn: ConnId,
        session: SessionId,
        ip: IpAddr,
    },
    /// A valid request, with what its reader filled in from a password.
    Request {
        conn: ConnId,
        request: Request,
        password_right: Option<bool>,
        password_phc: Option<String>,
    },
    Rejected {
        conn: ConnId,
        rejection: Rejection,
    },
    Refused {
        conn: ConnId,
        rejection: Rejection,
    },
    Pong {
        conn: ConnId,
    },
    Disconnected {
        conn: ConnId,
    },
    /// Nothing else to say this second: the node is alive.
    Alive,
}

/// From the leader to one node.
#[derive(Debug)]
pub enum Down {
    /// These bytes (whole WebSocket frames) for each of these connections.
    Frames {
        term: u64,
        conns: Vec<ConnId>,
        bytes: Arc<[u8]>,
    },
    /// Everything else, as JSON.
    Other { term: u64, what: DownWhat },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum DownWhat {
    Admission {
        rpc: u64,
        admission: Admission,
    },
    Bot {
        rpc: u64,
        answer: Result<SessionId, Rejection>,
    },
    Password {
        rpc: u64,
        step: PasswordStep,
    },
    /// Close this connection with this code and reason.
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// The leader gave up on this instance's connections (it fell too far
    /// behind, or was silent too long): close every client, to resume.
    Reset {
        instance: u64,
    },
}

impl Down {
    pub fn term(&self) -> u64 {
        match self {
            Down::Frames { term, .. } | Down::Other { term, .. } => *term,
        }
    }

    /// `F`, term, count, the ids, then the bytes; or `J` and JSON.
    fn encode(&self) -> Vec<u8> {
        match self {
            Down::Frames { term, conns, bytes } => {
                let mut out = Vec::with_capacity(13 + conns.len() * 8 + bytes.len());
                out.push(b'F');
                out.extend_from_slice(&term.to_le_bytes());
                out.extend_from_slice(&(conns.len() as u32).to_le_bytes());
                for c in conns {
                    out.extend_from_slice(&c.to_le_bytes());
                }
                out.extend_from_slice(bytes);
                out
            }
            Down::Other { term, what } => {
                let mut out = vec![b'J'];
                out.extend_from_slice(&term.to_le_bytes());
                serde_json::to_writer(&mut out, what).expect("a Vec takes any JSON");
                out
            }
        }
    }

    fn decode(raw: &[u8]) -> Option<Down> {
        let (&tag, rest) = raw.split_first()?;
        let term = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let rest = &rest[8..];
        match tag {
            b'F' => {
                let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let ids = rest.get(4..4 + count * 8)?;
                let conns = ids
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
                    .collect();
                let bytes = rest[4 + count * 8..].into();
                Some(Down::Frames { term, conns, bytes })
            }
            b'J' => serde_json::from_slice(rest)
                .ok()
                .map(|what| Down::Other { term, what }),
            _ => None,
        }
    }
}

/// What the recv thread hands the hub.
pub enum Received {
    Up(UpMessage),
    Down(Down),
}

/// One pass's messages for the send thread: (list key, encoded message).
pub type Outgoing = Vec<(String, Vec<u8>)>;

/// The hub's side of the bus.
pub struct Bus {
    status: Arc<Status>,
    to_send: Sender<Outgoing>,
    pending: Outgoing,
}

impl Bus {
    /// Queue a message up to the leader (sent at the end of the pass).
    pub fn up(&mut self, term: u64, up: Up) {
        let message = UpMessage {
            node: self.status.node.clone(),
            instance: self.status.instance,
            term,
            up,
        };
        let json = serde_json::to_vec(&message).expect("a Vec takes any JSON");
        self.pending.push((self.status.keys.up(), json));
    }

    /// Queue a message down to `node`.
    pub fn down(&mut self, node: &str, down: &Down) {
        self.pending
            .push((self.status.keys.down(node), down.encode()));
    }

    /// Hand the pass's messages to the send thread. It is never waited on:
    /// if it fell a whole channel behind (Redis stalled), this pass's go,
    /// and the clients they were for resume once Redis is back (their
    /// node's silence makes the leader drop them, or the epoch changes).
    pub fn flush(&mut self) {
        if !self.pending.is_empty() {
            let out = std::mem::take(&mut self.pending);
            if self.to_send.try_send(out).is_err() {
                eprintln!(
                    "natter: cluster: Redis is not keeping up; messages between nodes dropped"
                );
            }
        }
    }
}

/// How many passes the send thread may fall behind before the hub drops
/// what it would hand it (see [`Bus::flush`]).
const SEND_QUEUE: usize = 1024;

/// Start the send and recv threads; the [`Bus`] the hub queues on.
pub fn spawn(
    url: &str,
    status: Arc<Status>,
    to_hub: Sender<Event>,
) -> Result<(Bus, Vec<JoinHandle<()>>), String> {
    let (to_send, sends) = crossbeam_channel::bounded(SEND_QUEUE);
    let sender = Redis::new(url)?;
    let receiver = Redis::new(url)?.with_read_timeout(POP_BLOCK + crate::config::REDIS_TIMEOUT);
    let s = status.clone();
    let send = thread::Builder::new()
        .name("cluster-send".into())
        .spawn(move || send_loop(sender, sends, &s))
        .map_err(|e| e.to_string())?;
    let s = status.clone();
    let recv = thread::Builder::new()
        .name("cluster-recv".into())
        .spawn(move || recv_loop(receiver, &s, to_hub))
        .map_err(|e| e.to_string())?;
    let bus = Bus {
        status,
        to_send,
        pending: Vec::new(),
    };
    Ok((bus, vec![send, recv]))
}

fn send_loop(mut redis: Redis, sends: Receiver<Outgoing>, status: &Status) {
    let mut failing = false;
    while let Ok(first) = sends.recv() {
        let mut batch = first;
        for more in sends.try_iter().take(64) {
            batch.extend(more);
        }
        let cmds: Vec<Cmd> = batch
            .iter()
            .map(|(key, message)| Cmd::new("RPUSH").arg(key).arg(message))
            .collect();
        // One try again after a reconnect; then the batch is given up (the
        // clients it was for resume, see `Bus::flush`).
        let sent = redis
            .run(|con| con.pipeline(&cmds))
            .or_else(|_| redis.run(|con| con.pipeline(&cmds)))
            .map(drop);
        status.redis_seen(sent.is_ok());
        match sent {
            Err(e) if !std::mem::replace(&mut failing, true) => {
                eprintln!("natter: cluster: could not send to the other nodes: {e}")
            }
            Err(_) => {}
            Ok(()) => failing = false,
        }
    }
}

fn recv_loop(mut redis: Redis, status: &Status, to_hub: Sender<Event>) {
    let mine = status.keys.down(&status.node);
    while !status.stopping.load(Relaxed) {
        let mut keys = vec![mine.clone()];
        if status.lead().is_some() {
            keys.push(status.keys.up());
        }
        // Take what is there; if nothing is, wait for the first in Redis.
        let mut got: Vec<(String, Vec<u8>)> = Vec::new();
        for key in &keys {
            let popped = redis.query(Cmd::new("LPOP").arg(key).arg(POP_COUNT as u64));
            match popped {
                Ok(values) => got.extend(
                    values
                        .into_items()
                        .into_iter()
                        .filter_map(Value::into_data)
                        .map(|v| (key.clone(), v)),
                ),
                Err(_) => {
                    status.redis_seen(false);
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
        if got.is_empty() {
            let mut blpop = Cmd::new("BLPOP");
            for key in &keys {
                blpop = blpop.arg(key);
            }
            let blpop = blpop.arg(format!("{}", POP_BLOCK.as_secs_f64()).as_str());
            if let Ok(reply) = redis.query(blpop) {
                let mut pair = reply.into_items().into_iter();
                if let (Some(key), Some(value)) = (
                    pair.next().and_then(|k| k.text()),
                    pair.next().and_then(Value::into_data),
                ) {
                    got.push((key, value));
                }
            }
        }
        for (key, raw) in got {
            let received = if key == mine {
                Down::decode(&raw).map(Received::Down)
            } else {
                serde_json::from_slice(&raw).ok().map(Received::Up)
            };
            match received {
                Some(r) => {
                    if to_hub.send(Event::Cluster(r)).is_err() {
                        return; // the hub is gone
                    }
                }
                None => eprintln!("natter: cluster: a message on {key} is malformed; dropped"),
            }
        }
    }
}
