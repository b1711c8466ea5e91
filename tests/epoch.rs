//! Every database has a random epoch, given in `hello` and sent back with
//! `since`: a page that resumes against a *replaced* database is told
//! `gap: true` and gets the room afresh, even when the new file's ids run
//! past its `since` (a smaller one was caught by its ids alone).

use natter_testkit as common;

use serde_json::json;

/// A server on `db`: log in as `name`, return the client and hello's epoch.
fn hello(server: &common::TestServer, name: &str) -> (common::Client, String) {
    let token = server.login(name, "lobby");
    let mut client = server.connect().session(&token).open();
    let hello = client.recv_type("hello");
    let epoch = hello["epoch"]
        .as_str()
        .expect("hello has an epoch")
        .to_string();
    (client, epoch)
}

fn post(client: &mut common::Client, n: usize) -> u64 {
    client.join("lobby");
    let mut last = 0;
    for i in 0..n {
        client.say("lobby", &format!("m{i}"));
        last = client.recv_message()["id"].as_u64().unwrap();
    }
    last
}

#[test]
fn a_since_from_a_replaced_database_is_a_gap_even_when_its_ids_run_further() {
    let dir = common::TempDir::new("epoch");
    let (old_db, new_db) = (dir.file("old.db"), dir.file("new.db"));

    let old = common::start_with(|c| c.db = old_db.clone());
    let (mut alice, old_epoch) = hello(&old, "alice");
    let since = post(&mut alice, 3);
    drop(alice);
    assert!(old.shutdown());

    // Another database, with more messages, under the page's feet.
    let new = common::start_with(|c| c.db = new_db.clone());
    let (mut bob, new_epoch) = hello(&new, "bob");
    assert_ne!(old_epoch, new_epoch, "each database has its own epoch");
    post(&mut bob, 10);

    bob.send(json!({"type": "join", "room": "lobby", "since": since, "epoch": old_epoch}));
    let joined = bob.recv_type("joined");
    assert_eq!(joined["gap"], true, "{joined}");
    assert_eq!(
        joined["history"].as_array().unwrap().len(),
        10,
        "the room afresh"
    );

    // The same database's epoch resumes exactly, as before.
    bob.send(json!({"type": "join", "room": "lobby", "since": since, "epoch": new_epoch}));
    let joined = bob.recv_type("joined");
    assert_eq!(joined["gap"], false, "{joined}");
    assert_eq!(
        joined["epoch"],
        new_epoch.as_str(),
        "joined names its epoch too"
    );
    assert_eq!(joined["history"].as_array().unwrap().len(), 7);
    drop(bob);
    assert!(new.shutdown());

    // And it stays the database's own across restarts.
    let again = common::start_with(|c| c.db = new_db.clone());
    let (_carol, epoch) = hello(&again, "carol");
    assert_eq!(epoch, new_epoch);
}
