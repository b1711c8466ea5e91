//! natter: a small real-time web chat server, built to be read.
//!
//! One static binary, no async runtime: threads, blocking sockets and channels.
//! Follow a message from the browser and back, and you have read the whole
//! design:
//!
//! - [`config`]: every limit as a documented constant, and the [`Config`] that
//!   `main.rs` builds from the command line.
//! - [`web`]: the web listener (tiny_http): login form, chat page, embedded
//!   assets. Asks the hub about sessions over a channel.
//! - [`ws`]: the WebSocket listener: `accept_loop`, the handshake checks, and a
//!   reader thread per connection that parses frames and sends them to the hub.
//! - [`origin`]: which `Host` names the server answers to (against DNS
//!   rebinding), for both listeners, and which `Origin` a login or logout
//!   form must come from (against cross-site forms).
//! - [`hub`]: the one thread that owns all chat state (sessions, rooms, members,
//!   history) and writes every chat socket.
//! - [`outbox`]: a connection's bounded outbound queue and its non-blocking write.
//! - [`protocol`]: the JSON messages, the naming rules, error and close codes.
//! - [`ratelimit`]: the per-address decaying score that keeps floods out.
//! - [`session`]: session tokens and cookies.
//! - [`storage`]: history, rooms and sessions in SQLite, used by the hub alone.
//!
//! Tools outside the chat's path:
//!
//! - [`nginx`]: `natter nginx-config`, a reverse-proxy configuration to deploy with.
//!
//! ```text
//!  browser ──HTTP──▶ web threads ──Event::Login/Lookup──▶ ┐
//!  browser ──WS────▶ reader thread ──Event::Request─────▶ hub ──writes──▶ every socket
//!                                                          └──commits──▶ SQLite
//! ```
//!
//! [`start`] runs a server in the background and returns a handle, which is how
//! the tests run the real thing on port 0. [`run`] is `start` plus what a
//! whole process needs (room in its open-file limit, signal handling), which
//! is all `main.rs` calls.

#![forbid(unsafe_code)]

pub mod config;
pub mod hub;
pub mod nginx;
pub mod origin;
pub mod protocol;
pub mod ratelimit;
mod server;
pub mod session;
pub mod storage;
pub mod web;
pub mod ws;

pub use config::Config;
pub use server::{run, start, Server};

/// Errors while starting or running: plumbing, reported and then exit.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
