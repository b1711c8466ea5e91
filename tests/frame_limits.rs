//! Frames the server must not read: a header announcing a huge payload is
//! refused with 1009 before any payload is read or allocated; a fragmented
//! message whose total passes 64 KiB is refused with 1009 and nothing of it
//! reaches the room; unmasked client frames, reserved bits and unknown opcodes
//! are protocol errors (1002, or a plain close). In every case a bystander pair
//! in the same room keeps chatting, during and after.

use natter_testkit as common;

use std::io::Write;

use common::{Client, TestServer};
use serde_json::json;

/// alice (who will send the bad frame), and bob and carol, who keep chatting.
struct Scene {
    alice: Client,
    bob: Client,
    carol: Client,
    server: TestServer,
    round: u32,
    /// Leave notices bob has seen, by user.
    left: Vec<String>,
}

fn scene() -> Scene {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    let mut carol = server.user("carol");
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("lobby");
    }
    let mut s = Scene {
        alice,
        bob,
        carol,
        server,
        round: 0,
        left: Vec::new(),
    };
    s.bystanders_chat();
    // alice reads up to here too, so the next thing she gets is the answer to
    // her bad frame.
    let last = format!("carol {}", s.round);
    while s.alice.recv_message()["text"] != last.as_str() {}
    s
}

impl Scene {
    /// bob and carol each say something and both see both lines, in order.
    fn bystanders_chat(&mut self) {
        self.round += 1;
        let (b, c) = (
            format!("bob {}", self.round),
            format!("carol {}", self.round),
        );
        self.bob.say("lobby", &b);
        assert_eq!(self.carol.recv_message()["text"], b.as_str());
        assert_eq!(self.bob_message()["text"], b.as_str());
        self.carol.say("lobby", &c);
        assert_eq!(self.bob_message()["text"], c.as_str());
        assert_eq!(self.carol.recv_message()["text"], c.as_str());
    }

    /// bob's next chat message, noting the leave notices on the way.
    fn bob_message(&mut self) -> serde_json::Value {
        loop {
            let event = self.bob.recv();
            match event["type"].as_str() {
                Some("message") => return event,
                Some("system") if event["event"] == "leave" => {
                    self.left.push(event["user"].as_str().unwrap().to_string())
                }
                _ => {}
            }
        }
    }

    /// Write raw bytes on alice's connection, ignoring a server that already
    /// hung up.
    fn alice_writes(&mut self, bytes: &[u8]) {
        let stream = self.alice.socket.get_mut();
        let _ = stream.write_all(bytes);
        let _ = stream.flush();
    }

    /// After the fault: the bystanders chat on, and a newcomer gets in.
    fn others_unaffected(mut self) {
        self.bystanders_chat();
        // alice's leave notice comes once the grace period is over.
        let deadline = std::time::Instant::now() + common::DEADLINE;
        while self.left.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no leave notice for alice"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
            self.bystanders_chat();
        }
        assert_eq!(self.left, ["alice"], "one leave notice, alice's");
        let mut dave = self.server.user("dave");
        let joined = dave.join("lobby");
        let members: Vec<&str> = joined["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(members, ["bob", "carol", "dave"], "alice is gone: {joined}");
        self.bystanders_chat();
    }
}

#[test]
fn a_header_announcing_a_terabyte_closes_with_1009_before_the_payload() {
    let mut s = scene();
    // FIN + text, masked, 127-length form: 2^40 bytes. Then not one byte of
    // payload: the server must answer from the header alone.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    s.alice_writes(&header);
    assert_eq!(s.alice.expect_close(), Some(1009));
    s.others_unaffected();
}

#[test]
fn a_header_announcing_just_over_64_kib_closes_with_1009() {
    let mut s = scene();
    // 64 KiB + 1 in the 127-length form (legal but not minimal); no payload.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(64u64 * 1024 + 1).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    s.alice_writes(&header);
    assert_eq!(s.alice.expect_close(), Some(1009));
    s.others_unaffected();
}

#[test]
fn an_unmasked_client_frame_is_a_protocol_error() {
    let mut s = scene();
    let payload = json!({"type": "message", "room": "lobby", "text": "unmasked"}).to_string();
    let mut frame = vec![0x81, payload.len() as u8];
    frame.extend_from_slice(payload.as_bytes());
    s.alice_writes(&frame);
    let code = s.alice.expect_close();
    assert!(matches!(code, Some(1002) | None), "closed with {code:?}");
    // Nothing of it was posted: the next line the room sees is bob's.
    s.others_unaffected();
}

#[test]
fn reserved_bits_are_a_protocol_error() {
    // RSV1 (compression, never negotiated), RSV2, RSV3.
    for rsv in [0x40u8, 0x20, 0x10] {
        let mut s = scene();
        let payload = json!({"type": "message", "room": "lobby", "text": "rsv"}).to_string();
        s.alice_writes(&common::masked_frame(0x81 | rsv, payload.as_bytes()));
        let code = s.alice.expect_close();
        assert!(
            matches!(code, Some(1002) | None),
            "RSV {rsv:#x}: closed with {code:?}"
        );
        s.others_unaffected();
    }
}

#[test]
fn an_unknown_opcode_is_a_protocol_error() {
    // 0x3-0x7 are reserved data opcodes, 0xB-0xF reserved control opcodes.
    for opcode in [0x3u8, 0x7, 0xB] {
        let mut s = scene();
        s.alice_writes(&common::masked_frame(0x80 | opcode, b"{}"));
        let code = s.alice.expect_close();
        assert!(
            matches!(code, Some(1002) | None),
            "opcode {opcode:#x}: closed with {code:?}"
        );
        s.others_unaffected();
    }
}

#[test]
fn a_fragmented_message_over_64_kib_closes_with_1009_and_reaches_nobody() {
    let mut s = scene();
    // A message of two frames, 40 KiB each: each frame is under the limit, the
    // message is not. The JSON is whole, so only the size can refuse it.
    let text = "f".repeat(80 * 1024);
    let message = json!({"type": "message", "room": "lobby", "text": text}).to_string();
    let (first, rest) = message.as_bytes().split_at(40 * 1024);
    s.alice_writes(&common::masked_frame(0x01, first)); // text, not FIN
    s.alice_writes(&common::masked_frame(0x80, rest)); // continuation, FIN
    assert_eq!(s.alice.expect_close(), Some(1009));
    // bob's next line is the bystanders' own: nothing of alice's got through.
    s.others_unaffected();
}

#[test]
fn a_fragmented_message_under_64_kib_is_accepted() {
    // The control for the test above: fragments themselves are fine.
    let mut s = scene();
    let message = json!({"type": "message", "room": "lobby", "text": "in three parts"}).to_string();
    let bytes = message.as_bytes();
    s.alice_writes(&common::masked_frame(0x01, &bytes[..10]));
    s.alice_writes(&common::masked_frame(0x00, &bytes[10..20]));
    s.alice_writes(&common::masked_frame(0x80, &bytes[20..]));
    assert_eq!(s.bob.recv_message()["text"], "in three parts");
    assert_eq!(s.carol.recv_message()["text"], "in three parts");
    assert_eq!(s.alice.recv_message()["text"], "in three parts");
    s.bystanders_chat();
}
