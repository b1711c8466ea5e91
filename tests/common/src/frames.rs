//! WebSocket frames made by hand, for tests that go below the client library:
//! frames a browser would never send, and reading what the server sends on a
//! raw stream (`server.connect().raw()`).

use std::io::Read;
use std::net::TcpStream;

use serde_json::Value;

/// A client frame as a browser sends it: `first` is the FIN/RSV/opcode byte,
/// the payload is masked, and the length uses the shortest form.
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// A masked, final text frame carrying this JSON.
pub fn text_frame(value: &Value) -> Vec<u8> {
    masked_frame(0x81, value.to_string().as_bytes())
}

/// One frame as the server sent it (server frames are never masked).
#[derive(Debug)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code, if this is a close frame that carries one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The payload as JSON, for a text frame.
    pub fn json(&self) -> Option<Value> {
        (self.opcode == 0x1)
            .then(|| serde_json::from_slice(&self.payload).ok())
            .flatten()
    }
}

/// Read one server frame from a raw stream, within its read timeout (the
/// deadline, for a stream from `connect()`): the error is the caller's to
/// judge, since some tests wait for the server to hang up.
pub fn read_frame(stream: &mut TcpStream) -> std::io::Result<RawFrame> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok(RawFrame {
        opcode: head[0] & 0x0f,
        payload,
    })
}
