//! Frame bytes. The hub encodes each outgoing event once, into the bytes of a
//! complete WebSocket frame, and shares those bytes among every recipient: a
//! message to a thousand members is serialised once.

use std::io;
use std::sync::Arc;

use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};

use super::wire::{ChatMessage, Reply};

/// Serialise a reply to JSON and wrap it in a text frame.
pub fn encode(reply: &Reply) -> Arc<[u8]> {
    let json = serde_json::to_vec(reply).expect("replies are plain data and always serialise");
    frame_bytes(Frame::message(json, OpCode::Data(Data::Text), true))
}

/// A data frame carrying `payload` as it is, text or binary (echo mode).
pub fn data_frame(payload: Vec<u8>, binary: bool) -> Arc<[u8]> {
    let kind = if binary { Data::Binary } else { Data::Text };
    frame_bytes(Frame::message(payload, OpCode::Data(kind), true))
}

/// A close frame with a code and a reason (the reason must stay under 123 bytes).
pub fn close_frame(code: u16, reason: &str) -> Arc<[u8]> {
    frame_bytes(Frame::close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    })))
}

/// An empty ping frame, shared by every connection at each ping tick.
pub fn ping_frame() -> Arc<[u8]> {
    frame_bytes(Frame::ping(Vec::new()))
}

fn frame_bytes(frame: Frame) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(frame.len());
    frame
        .format(&mut out)
        .expect("writing a frame into a Vec cannot fail");
    out.into()
}

/// Close codes natter sends (RFC 6455 section 7.4.1).
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary frame: natter speaks JSON text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy: slow consumer, or the session ended.
    pub const POLICY: u16 = 1008;
    /// A frame or message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Cluster mode: another node leads now (or this node's place in the
    /// cluster was reset): reconnect and resume, nothing is lost.
    pub const SERVICE_RESTART: u16 = 1012;
    /// Cluster mode: this node lost Redis; reconnect (through the load
    /// balancer, to a healthy node) and resume.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The size of a message's JSON in a `message` frame, exactly: serde writes
/// it into a counter instead of a buffer, so nothing is allocated and a field
/// added to [`ChatMessage`] is counted with no change here. Inside `joined`
/// and `history` a message takes less (no `"type":"message"`, one comma), so a
/// budget built on this is never exceeded. The hub uses it to keep answers
/// that carry many messages within a byte budget.
pub fn encoded_len(m: &ChatMessage) -> usize {
    let mut count = ByteCount(0);
    serde_json::to_writer(&mut count, &Reply::Message(m))
        .expect("a message is plain data, and counting bytes cannot fail");
    count.0
}

/// A writer that keeps nothing but how many bytes it was given.
struct ByteCount(usize);

impl io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoded_length_is_the_real_one() {
        for text in [
            "hi",
            "say \"hi\"\n\ttab \\ ok",
            "\u{1}\u{7f}\u{1f}\u{8}\u{c}\r",
            "😀 José प्रिया",
            "",
        ] {
            for client_id in [None, Some("c\"1\u{0}")] {
                // Built from JSON, as a client would read it, so that a field
                // added to `ChatMessage` needs no change here.
                let m: ChatMessage = serde_json::from_value(serde_json::json!({
                    "room": "Lobby \"☕\"", "id": u64::MAX, "user": "alice\\",
                    "text": text, "ts": 7, "client_id": client_id,
                }))
                .unwrap();
                let real = serde_json::to_vec(&Reply::Message(&m)).unwrap().len();
                assert_eq!(encoded_len(&m), real, "{m:?}");
                // In a list it takes less: the same object without its type.
                let alone = serde_json::to_vec(&m).unwrap().len();
                assert!(alone < real, "{m:?}");
            }
        }
    }

    #[test]
    fn frames_are_complete_websocket_frames() {
        let bytes = close_frame(close::POLICY, "slow consumer");
        assert_eq!(bytes[0], 0x88, "FIN + close opcode");
        assert_eq!(bytes[1] as usize, 2 + "slow consumer".len());
        assert_eq!(&bytes[2..4], &1008u16.to_be_bytes());
    }
}
