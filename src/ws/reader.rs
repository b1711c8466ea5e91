//! After the handshake: the reader loop. It turns frames into events for the
//! hub and never writes a byte itself.
//!
//! Everything a connection does reaches the hub as `Event::Conn(id, …)`, in
//! the order it happened, on the one bounded channel. When the hub falls
//! behind, `send` blocks, this thread stops reading, the socket's receive
//! buffer fills, and TCP slows the client down: back-pressure for free.
//!
//! One request is not passed on as it came: a room password (in `join` or
//! `set_room`) is checked or hashed here, on this connection's own thread,
//! so the hub never spends tens of milliseconds on argon2 (`with_passwords`).
//!
//! What to do with a data frame depends on the kind of peer, which the
//! handshake decided. The loop is the same for both: the frame handler is
//! chosen once, before the first read, and nothing here asks again.

use crossbeam_channel::Sender;
use tungstenite::error::ProtocolError;
use tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes, WebSocket};

use super::handshake::Accepted;
use super::stream::Stream;
use super::WsContext;
use crate::config::MAX_WS_MESSAGE_BYTES;
use crate::hub::{self, Ask, ConnEvent, ConnId, Event, PasswordStep, Peer};
use crate::protocol::{self, close, ErrorCode, Rejection, Request};

/// A close code and reason: what the hub should send before it shuts a socket
/// whose peer broke the rules.
type Close = (u16, &'static str);

/// The payload of one complete data message.
enum Data {
    Text(Utf8Bytes),
    Binary(Bytes),
}

/// What one kind of peer makes of a data message: an event for the hub, or
/// the close that ends the connection.
type OnData = fn(Data) -> Result<ConnEvent, Close>;

/// The hub has stopped (its end of the channel is gone): there is nobody left
/// to tell anything, so the reader just returns.
struct HubGone;

/// Send one event about connection `id` to the hub, blocking while its queue
/// is full.
fn tell(to_hub: &Sender<Event>, id: ConnId, event: ConnEvent) -> Result<(), HubGone> {
    let sent = std::time::Instant::now();
    to_hub
        .send(Event::Conn { id, event, sent })
        .map_err(|_| HubGone)
}

/// Read `accepted`'s frames until the connection ends, telling the hub
/// everything, then return (which drops the connection's places under the
/// caps, and this thread's handle on the socket).
///
/// The hub learns the connection exists (`Connected`, with its handle on the
/// socket) before the first frame, and that it is over (`Disconnected`) after
/// the last, so it can count on that order. If the hub has stopped, `send`
/// fails: you simply return, as there is no one left to tell.
// Never inlined into `connection_loop`: see `handshake::accept`.
// Boxed on purpose, not by accident: see `connection_loop`.
#[inline(never)]
#[allow(clippy::boxed_local)]
pub(super) fn read_loop(accepted: Box<Accepted>, id: ConnId, context: &WsContext) {
    // `_held` keeps the connection's places under the caps until you return.
    let Accepted {
        mut ws,
        peer,
        ip,
        held: _held,
    } = *accepted;
    // From here on the hub is the only writer.
    let socket = match ws.get_mut().hand_over(context.config.idle_timeout) {
        Ok(socket) => socket,
        Err(_) => return, // the hub never heard of it; dropping closes it
    };
    let on_data: OnData = match peer {
        Peer::Member(_) => chat,
        Peer::Echo => echo,
    };
    let to_hub = &context.to_hub;
    let connected = ConnEvent::Connected { peer, socket, ip };
    if tell(to_hub, id, connected).is_err() {
        return;
    }
    if let Ok(close) = read_frames(&mut ws, id, context, on_data) {
        let _ = tell(to_hub, id, ConnEvent::Disconnected { close });
    }
}

/// The loop proper. `Ok` when the connection ended, with the close the hub
/// should send first if the peer broke the rules; `Err` when the hub is gone.
///
/// A read ends the connection when the peer sends a close frame, resets or
/// closes the socket, sends nothing for the idle timeout (a live peer answers
/// the hub's pings well within it), or breaks the protocol. The hub shutting
/// the socket down (a logout, a slow consumer, shutdown) also wakes a blocked
/// read with an error, which is how this thread learns to stop.
fn read_frames(
    ws: &mut WebSocket<Stream>,
    id: ConnId,
    context: &WsContext,
    on_data: OnData,
) -> Result<Option<Close>, HubGone> {
    let to_hub = &context.to_hub;
    loop {
        let result = ws.read();
        // A ping or close may have made tungstenite queue a reply (a text
        // frame never does). Hand it to the hub before the event that caused
        // it, so the hub can charge for it and write it in order.
        if !matches!(result, Ok(Message::Text(_))) {
            forward_auto_reply(ws, id, to_hub)?;
        }
        let handled = match result {
            Ok(Message::Text(text)) => on_data(Data::Text(text)),
            Ok(Message::Binary(data)) => on_data(Data::Binary(data)),
            Ok(Message::Close(_)) => return Ok(None),
            // A ping was answered just above (the hub charges the pong as an
            // `AutoReply`); a pong the client sends is charged too, so a flood
            // of control frames costs as much as a flood of messages.
            Ok(Message::Pong(_)) => Ok(ConnEvent::Pong),
            // A ping, or a raw frame (`read` never returns one).
            Ok(_) => continue,
            Err(err) => return Ok(close_for(&err)),
        };
        match handled {
            Ok(event) => tell(to_hub, id, with_passwords(event, id, context))?,
            Err(close) => return Ok(Some(close)),
        }
    }
}

/// A room password in a request is dealt with here, on this connection's
/// own thread, and never reaches the hub: a `join`'s is checked against the
/// room's hash (`password_right`), a `set_room`'s hashed (`password_phc`).
/// The hub says what to do first (see `PasswordStep`), so nobody can make
/// natter hash for a room they do not own, or guess past their rate limit.
/// Argon2 takes tens of milliseconds of one core; meanwhile this connection
/// waits, and nobody else does.
fn with_passwords(event: ConnEvent, id: ConnId, context: &WsContext) -> ConnEvent {
    let (room, set) = match &event {
        ConnEvent::Request(Request::Join(j)) if j.password.is_some() => (j.room.clone(), false),
        ConnEvent::Request(Request::SetRoom(s)) if s.password.is_some() => (s.room.clone(), true),
        _ => return event,
    };
    let asked = hub::ask(&context.to_hub, |reply| {
        Event::Ask(Ask::RoomPassword {
            conn: id,
            room: room.clone(),
            set,
            reply,
        })
    });
    let busy = || {
        let message = "the server is busy checking passwords; try again in a few seconds";
        ConnEvent::Refused(
            Rejection::new(ErrorCode::RateLimited, message)
                .in_room(&room)
                .retry_after(5),
        )
    };
    let step = match asked {
        Some(step) => step,
        None => return busy(),
    };
    match (event, step) {
        (_, PasswordStep::Refuse(rejection)) => ConnEvent::Refused(rejection),
        (ConnEvent::Request(Request::Join(mut join)), step) => {
            let password = join.password.take().unwrap_or_default();
            if let PasswordStep::Check(phc) = step {
                match context.passwords.verify(&phc, &password) {
                    Ok(right) => join.password_right = Some(right),
                    Err(_) => return busy(),
                }
            }
            ConnEvent::Request(Request::Join(join))
        }
        (ConnEvent::Request(Request::SetRoom(mut set)), PasswordStep::Hash) => {
            let password = set.password.take().unwrap_or_default();
            match context.passwords.hash(&password) {
                Ok(phc) => set.password_phc = Some(phc),
                Err(_) => return busy(),
            }
            ConnEvent::Request(Request::SetRoom(set))
        }
        (event, _) => event,
    }
}

/// Move whatever tungstenite wrote into the hub's queue as an `AutoReply`.
/// Flushing makes tungstenite hand its pending reply to the `Stream`, which
/// captures it instead of writing (see `stream.rs`). A failed flush means the
/// socket is broken; the next read says so and ends the loop.
fn forward_auto_reply(
    ws: &mut WebSocket<Stream>,
    id: ConnId,
    to_hub: &Sender<Event>,
) -> Result<(), HubGone> {
    let _ = ws.flush();
    let bytes = ws.get_mut().take_captured();
    match bytes.is_empty() {
        true => Ok(()),
        false => tell(to_hub, id, ConnEvent::AutoReply(bytes)),
    }
}

/// A chat member's data message: JSON text is a request (or a rejection the
/// hub answers with an error); binary is not part of the protocol, and ends
/// the connection with 1003.
fn chat(data: Data) -> Result<ConnEvent, Close> {
    match data {
        Data::Text(text) => Ok(match protocol::parse_request(&text) {
            Ok(request) => ConnEvent::Request(request),
            Err(rejection) => ConnEvent::Rejected(rejection),
        }),
        Data::Binary(_) => Err((
            close::UNSUPPORTED_DATA,
            "binary frames are not supported; send JSON text",
        )),
    }
}

/// An echo peer's data message: framed once here, on this thread, so the hub
/// only queues the bytes back.
fn echo(data: Data) -> Result<ConnEvent, Close> {
    let frame = match data {
        Data::Text(text) => protocol::data_frame(text.as_bytes().to_vec(), false),
        Data::Binary(data) => protocol::data_frame(data.to_vec(), true),
    };
    Ok(ConnEvent::Echo(frame))
}

/// The close code and reason for a read error, or `None` when the connection
/// simply ended (closed, reset, or idle past the timeout): then there is no
/// one to tell why.
///
/// A close reason is a `&'static str`, so the limit is written out in it; the
/// assertion below stops the build if the limit changes and the text does not.
fn close_for(err: &WsError) -> Option<Close> {
    match err {
        WsError::Capacity(_) => Some((close::TOO_BIG, "message too big: the limit is 64 KiB")),
        WsError::Utf8(_) => Some((close::INVALID_PAYLOAD, "text frame is not valid UTF-8")),
        // The socket ended without a close frame: the client is gone (a
        // crashed tab, a dropped network), not breaking any rule, and nobody
        // would read a close frame. It is counted as the peer's end.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((close::PROTOCOL_ERROR, "WebSocket protocol error")),
        _ => None,
    }
}

const _: () = assert!(
    MAX_WS_MESSAGE_BYTES == 64 * 1024,
    "update close_for's reason"
);
