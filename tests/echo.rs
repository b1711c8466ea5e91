//! Echo mode (`natter echo`, for the Autobahn suite) sends every message back
//! unchanged, text and binary, through the chat's own reader and hub path.

use natter_testkit as common;

use tungstenite::Message;

#[test]
fn echo_mode_returns_every_message_unchanged() {
    let server = common::start_with(|c| c.echo = true);
    let mut client = server
        .connect()
        .origin(None)
        .try_open()
        .expect("echo mode needs no session and no Origin");
    let big = "é".repeat(30_000);
    for message in [
        Message::text("hello 👋"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(big.as_str()),
    ] {
        client.socket.send(message.clone()).unwrap();
        let back = loop {
            match client.socket.read().expect("the echo arrives") {
                Message::Ping(_) | Message::Pong(_) => continue,
                other => break other,
            }
        };
        assert_eq!(back, message);
    }
}
