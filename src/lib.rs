//! natter: a small real-time web chat server, built to be read.
//!
//! One static binary, no async runtime: threads, blocking sockets and
//! channels. Follow a message from the browser and back, and you have read
//! the whole design. The reading path, in order:
//!
//! 1. `server`: starts every thread, and says how each one stops.
//! 2. `ws`: the WebSocket listener: `accept_loop`, the handshake that decides
//!    what kind of peer a connection is, and a reader thread per connection
//!    that turns frames into events for the hub.
//! 3. `hub`: the one thread that owns the chat and writes every chat socket:
//!    its input `Event`, its pass (drain, apply, commit, deliver), the
//!    connections' outboxes and timers.
//! 4. `chat`: the state with no sockets (sessions, rooms, members, presence,
//!    rate-limit scores), unit-tested with a chosen `now`.
//! 5. `cmd`: one file per command (join, post, history, login, ...): its
//!    cost and its rules, for any caller; `cmd/room/` holds those of rooms
//!    with owners (claims, settings, roles, invites, moderation, direct
//!    messages, the directory), whose state is `chat/controls.rs`;
//!    `cmd/bots.rs` holds bot tokens and the callers that use them (an HTTP
//!    request is a caller with no socket).
//! 6. [`protocol`]: the JSON messages, the naming rules, error and close codes.
//!
//! Around it:
//!
//! - [`config`]: every limit as a documented constant, and the [`Config`]
//!   that `main.rs` builds from the command line.
//! - `storage`: history, rooms and sessions in SQLite, behind the small
//!   `Store` interface the chat calls; the writer thread that commits off the
//!   hub (a database file), and the checkpoint thread.
//! - [`metrics`]: what the server measures about itself (the hub's pass and
//!   wait times, commits, counters), and `--metrics ADDR`.
//! - `web`: the pages (tiny_http): the route table, login form, chat page,
//!   embedded assets, exports, uploads and files, and the bots' webhook and
//!   HTTP API. Asks the hub over the same channel.
//! - [`media`]: uploaded files on disk by their hash, the sniffing and
//!   metadata stripping, and the janitor thread that deletes unused files.
//! - `origin`: which `Host` and `Origin` may talk to natter.
//! - `ratelimit`: the decaying scores that keep floods out.
//! - `session`: session tokens and cookies.
//! - [`passwords`]: argon2id on hasher threads of their own, for claimed
//!   names; [`account_cli`]: `natter account list | reset | delete`.
//! - [`token_cli`]: `natter token create | list | revoke`, bot tokens;
//!   [`client`]: `natter say` and `natter tail`, a bot's two commands, on
//!   natter's own HTTP and WebSocket code.
//! - [`nginx`]: `natter nginx-config`, a reverse-proxy configuration.
//! - [`cluster`]: cluster mode (`--redis`): one node leads and runs the chat
//!   for every node's clients, the others relay; the lease, the shared log
//!   that keeps every node's database a copy, and the bus between nodes.
//!   The hub's side is `hub/cluster.rs`, the pages' `web/relay.rs`.
//!
//! Files marked "the edge" in their first lines (`ws/admission.rs`,
//! `web/edge.rs`, `storage/health.rs`, `protocol/names.rs`) are hardening:
//! a first reading can skip them.
//!
//! ```text
//!  browser ──HTTP──▶ web threads ──Event::Ask──────────▶ ┐
//!  browser ──WS────▶ reader thread ──Event::Conn───────▶ hub ──writes──▶ every socket
//!                                                         │  (chat + cmd)
//!                                                         └──commits──▶ SQLite
//! ```
//!
//! [`start`] runs a server in the background and returns a handle, which is
//! how the tests run the real thing on port 0. [`run`] is `start` plus what a
//! whole process needs, which is all `main.rs` calls.

#![forbid(unsafe_code)]

// Public: what `main.rs` and the tests use. Everything else is private, so
// the compiler points out code nothing calls.
pub mod account_cli;
mod chat;
pub mod client;
pub mod cluster;
mod cmd;
pub mod config;
mod hub;
pub mod media;
pub mod metrics;
pub mod nginx;
pub mod origin;
pub mod passwords;
pub mod protocol;
mod ratelimit;
mod server;
mod session;
pub mod storage;
pub mod token_cli;
mod web;
mod ws;

pub use config::Config;
pub use server::{run, start, Server};

/// Errors while starting or running: plumbing, reported and then exit.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
