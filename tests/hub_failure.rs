//! If the hub dies, failure is loud: every client is closed with 1011 at once,
//! and the server reports the dead hub (so `run` exits non-zero) instead of
//! living on serving nothing.

use natter_testkit as common;

use std::time::Duration;

#[test]
fn a_dead_hub_closes_every_client_with_1011() {
    let server = common::start();
    let mut alice = server.user("alice");
    let mut bob = server.user("bob");
    alice.join("lobby");
    bob.join("lobby");

    server.inject_hub_failure();
    assert_eq!(alice.expect_close(), Some(1011));
    assert_eq!(bob.expect_close(), Some(1011));
    assert!(
        server.hub_stopped_within(Duration::from_secs(10)),
        "the server noticed its hub is gone"
    );
    assert!(
        !server.shutdown(),
        "shutdown reports the hub did not end cleanly"
    );
}
