//! The wire: what the page and the server say to each other over the WebSocket.
//!
//! Every frame is a JSON text frame holding one object with a `type` field.
//! The page sends [`Request`]s; the server answers with [`Reply`]s:
//!
//! ```text
//! page                                         server
//!                                         ◀──  {"type":"hello","user":"alice","limits":{...}}
//! {"type":"join","room":"lobby"}          ──▶
//!                                         ◀──  {"type":"joined","room":"lobby","members":[...],"history":[...],"gap":false}
//! {"type":"message","room":"lobby",
//!  "text":"hi","client_id":"c-1"}         ──▶
//!                                         ◀──  {"type":"message","room":"lobby","id":42,"user":"alice",
//!                                               "text":"hi","ts":1764108001234,"client_id":"c-1"}
//! {"type":"typing","room":"lobby"}        ──▶  (the room gets {"type":"typing",...})
//! {"type":"history","room":"lobby",
//!  "before":42}                           ──▶
//!                                         ◀──  {"type":"history","room":"lobby","messages":[...],"more":false}
//! {"type":"leave","room":"lobby"}         ──▶  (the room gets {"type":"system",...} and {"type":"presence",...})
//! {"type":"dance"}                        ──▶
//!                                         ◀──  {"type":"error","code":"unknown_type","message":"unknown type \"dance\"; ..."}
//! ```
//!
//! A refused request earns an `error` with a stable [`ErrorCode`] and the
//! connection stays open; only a frame that cannot be chat at all (binary,
//! too big, not UTF-8) closes it, with one of the [`close`] codes. The
//! README's protocol section describes every field.
//!
//! The files, in reading order:
//!
//! - `wire.rs`: the types, one per kind of message, each with its JSON.
//!   Adding a field to a request or a message is adding it there.
//! - `parse.rs`: a text frame to a checked [`Request`], or a [`Rejection`];
//!   run by each connection's reader thread, so the hub sees valid requests only.
//!   `refusal.rs` (the edge) explains a refused frame: which code, which field.
//! - `rooms.rs`: the types for rooms with owners (claims, settings, roles,
//!   moderation, direct messages, the directory).
//! - `names.rs`: the naming rules for display names and rooms, which the
//!   login form applies too; `unicode.rs` is the Unicode hardening behind
//!   them, the edge a first reading can skip.
//! - `frame.rs`: replies as the bytes of whole WebSocket frames, encoded once
//!   and shared; the close codes; [`encoded_len`] for byte budgets.

mod frame;
mod names;
mod parse;
mod refusal;
mod rooms;
mod unicode;
mod wire;

pub use frame::{close, close_frame, data_frame, encode, encoded_len, ping_frame};
pub use names::{check_name, check_room, is_dm_name, name_key, room_key};
pub use parse::{mentioned, parse_request};
pub use rooms::*;
pub use wire::{
    excerpt, now_millis, Attachment, ChatMessage, Delete, Edit, ErrorCode, History, Join, Leave,
    Limits, MediaKind, Post, Preview, React, Reaction, Rejection, Reply, Request, SystemEvent,
    Typing,
};
