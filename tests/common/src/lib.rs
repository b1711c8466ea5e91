//! natter's test support: everything a test in `tests/` needs to drive the real
//! server over real sockets. Each test file starts with
//! `use natter_testkit as common;` and then calls `common::start()`.
//!
//! - `start`: the server in-process on port 0 ([`start`], [`start_with`]), and
//!   [`TestServer`], the handle every other helper hangs off.
//! - `http`: one HTTP/1.1 request and its parsed [`HttpResponse`]; logging in.
//! - `connect`: the one way to open a WebSocket, [`TestServer::connect`], a
//!   builder for every handshake a test needs (own origin or none, another
//!   address, a proxy's header, a small receive buffer, hand-written).
//! - `client`: the [`Client`] it returns: send, and read with a deadline.
//! - `scenes`: small scenes many tests share (two users chatting, a flood of
//!   numbered messages).
//! - `frames`: hand-made WebSocket frames, for tests below the client library.
//! - `process`: the real binary in a process of its own ([`Binary`]), and what
//!   `/proc` says about it.
//! - `redis`: a real `redis-server` for the cluster tests ([`RedisServer`]).
//! - `files`: a temporary directory, and a database seeded with history.
//! - `rooms`: people with their public ids, and the room requests of issue 16
//!   (claim, roles, invites, moderation, DMs) with the frames that answer them.
//!
//! Every read has a deadline ([`DEADLINE`]), so a bug fails a test instead of
//! hanging it.

#![forbid(unsafe_code)]

use std::time::Duration;

mod client;
mod connect;
mod files;
mod frames;
mod http;
mod process;
mod redis;
pub mod rooms;
mod scenes;
mod start;

/// What `start_with` adjusts: the server's configuration, the very type
/// `natter::Config` (this library links the same `natter` as the tests).
pub use natter::Config;

pub use client::Client;
pub use connect::{Connect, Refused};
pub use files::{long_history, seed_room, TempDir};
pub use frames::{masked_frame, read_frame, text_frame, RawFrame};
pub use http::{input_value, unescape_html, HttpResponse};
pub use process::{proc_fds, proc_rss, proc_threads, Binary};
pub use redis::RedisServer;
pub use scenes::{exchange, numbered_until_left, read_numbered_to_end};
pub use start::{attach, restart_with, start, start_with, TestServer};

/// How long any single expected event may take before the test fails. Generous:
/// CI machines are shared and slow, and a passing test never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(10);
