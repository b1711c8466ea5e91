//! A client that stops reading is dropped (close 1008, "slow consumer") instead of
//! being waited for, and everyone else keeps receiving every message, in order.

use natter_testkit as common;

#[test]
fn a_client_that_stops_reading_is_dropped_and_others_get_everything() {
    // A small outbound bound makes the test quick; the kernel's socket buffers
    // (several MB on loopback) still have to fill first.
    let server = common::start_with(|c| c.max_outbox_bytes = 256 * 1024);
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    let mut stuck = server.user("stuck");
    alice.join("lobby");
    bob.join("lobby");
    stuck.join("lobby");
    // `stuck` never reads again from here on.

    let filler = "x".repeat(3990);
    let sent = common::numbered_until_left(
        &mut alice,
        &mut bob,
        "stuck",
        &filler,
        10_000,
        std::time::Duration::ZERO,
    );
    // Life goes on for the others.
    bob.say("lobby", "still here");
    assert_eq!(alice.recv_message()["text"], "still here");

    // What `stuck` finds when it finally reads: a prefix of the messages, then
    // the end of the connection (the close frame, if it fit, says 1008).
    let (last, end) = common::read_numbered_to_end(&mut stuck);
    assert!(last < sent, "the stuck client did not get everything");
    assert!(
        matches!(end, None | Some(None) | Some(Some(1008))),
        "closed with {end:?}"
    );
}
