//! Edits, deletes, reactions and replies, and how they come back on resume
//! and in pages: one sequence per room makes both exact.

use super::*;
use crate::config::MAX_RESUME;

/// A `since` resume of a second connection of `caller`'s session, as
/// `rejoin` does, closing the connection again afterwards.
fn resume(chat: &mut Chat, caller: &Caller, since: u64, now: Instant) -> Value {
    let joined = rejoin(chat, caller, since, now);
    chat.disconnect(50, now);
    joined
}

/// Bob, in `lobby` as connection 2.
fn bob(chat: &mut Chat, now: Instant) -> Caller {
    let bob = user(chat, "bob", 2, now);
    send(chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    end_pass(chat, 2, now);
    replies(chat, 2);
    bob
}

/// The error codes in `frames`.
fn errors(frames: &[Value]) -> Vec<String> {
    let errors = of_type(frames, "error");
    errors
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

/// The one message `id` of a list of messages.
fn find(list: &Value, id: u64) -> &Value {
    let list = list.as_array().expect("a list of messages");
    list.iter()
        .find(|m| m["id"] == id)
        .expect("the message is there")
}

#[test]
fn every_change_takes_the_rooms_next_number_and_reaches_everyone() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 2, now);
    let bob = bob(&mut chat, now);
    let edit = r#"{"type":"edit","room":"lobby","id":2,"text":"m2, fixed","client_id":"e1"}"#;
    send(&mut chat, &alice, edit, now);
    let react = r#"{"type":"react","room":"lobby","id":1,"emoji":"👍","on":true}"#;
    send(&mut chat, &bob, react, now);
    send(&mut chat, &alice, react, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"delete","room":"lobby","id":2}"#,
        now,
    );
    assert!(
        replies(&mut chat, 2).is_empty(),
        "nothing before the commit"
    );
    let got = end_pass(&mut chat, 2, now);
    let kinds: Vec<&str> = got.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["edit", "reactions", "reactions", "delete"]);
    let seqs: Vec<u64> = got.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        [3, 4, 5, 6],
        "one sequence: ids 1 and 2, then the changes"
    );
    assert_eq!(got[0]["client_id"], "e1");
    assert_eq!(got[2]["reactions"][0]["count"], 2);
    assert_eq!(
        got[2]["reactions"][0]["users"],
        serde_json::json!(["bob", "alice"])
    );
    // The next message takes the next number.
    send(
        &mut chat,
        &bob,
        r#"{"type":"message","room":"lobby","text":"ok"}"#,
        now,
    );
    let got = end_pass(&mut chat, 2, now);
    assert_eq!(of_type(&got, "message")[0]["id"], 7);
    // A page and a resume see the current state.
    let joined = resume(&mut chat, &alice, 0, now);
    let history = &joined["history"];
    assert_eq!(find(history, 1)["rev"], 5);
    assert_eq!(find(history, 2)["deleted"], true);
    assert_eq!(find(history, 2)["text"], "");
    assert_eq!(joined["cursor"], 7);
}

#[test]
fn only_the_author_edits_or_deletes_and_not_by_name() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    // Alice logs out; someone else logs in as "alice".
    let token = chat.session(alice.session).unwrap().stored(0, Vec::new());
    let SessionChange::Save { .. } = token else {
        panic!("a session")
    };
    chat.end_session(alice.session);
    end_pass(&mut chat, 1, now);
    let other = user(&mut chat, "alice", 3, now);
    send(&mut chat, &other, r#"{"type":"join","room":"lobby"}"#, now);
    replies(&mut chat, 3);
    let edit = r#"{"type":"edit","room":"lobby","id":1,"text":"mine now","client_id":"x"}"#;
    send(&mut chat, &other, edit, now);
    send(
        &mut chat,
        &other,
        r#"{"type":"delete","room":"lobby","id":1}"#,
        now,
    );
    let got = replies(&mut chat, 3);
    assert_eq!(errors(&got), ["not_author", "not_author"]);
    assert_eq!(of_type(&got, "error")[0]["client_id"], "x");
    let got = end_pass(&mut chat, 3, now);
    assert!(of_type(&got, "edit").is_empty() && of_type(&got, "delete").is_empty());
}

#[test]
fn refusals_say_what_is_wrong() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let frames = [
        r#"{"type":"edit","room":"lobby","id":9,"text":"x"}"#,
        r#"{"type":"react","room":"lobby","id":9,"emoji":"👍","on":true}"#,
        r#"{"type":"message","room":"lobby","text":"re","reply_to":9}"#,
    ];
    for frame in frames {
        send(&mut chat, &alice, frame, now);
    }
    assert_eq!(
        errors(&replies(&mut chat, 1)),
        ["not_found", "not_found", "bad_reply"]
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"delete","room":"lobby","id":1}"#,
        now,
    );
    end_pass(&mut chat, 1, now);
    for frame in [
        r#"{"type":"edit","room":"lobby","id":1,"text":"x"}"#,
        r#"{"type":"react","room":"lobby","id":1,"emoji":"👍","on":true}"#,
        r#"{"type":"message","room":"lobby","text":"re","reply_to":1}"#,
    ] {
        send(&mut chat, &alice, frame, now);
    }
    assert_eq!(
        errors(&replies(&mut chat, 1)),
        ["deleted", "deleted", "bad_reply"]
    );
    // Deleting again is a retry: the delete frame again, no new number.
    send(
        &mut chat,
        &alice,
        r#"{"type":"delete","room":"lobby","id":1,"client_id":"d"}"#,
        now,
    );
    let got = replies(&mut chat, 1);
    assert_eq!(
        (got[0]["type"].as_str(), got[0]["seq"].as_u64()),
        (Some("delete"), Some(2))
    );
    assert!(end_pass(&mut chat, 1, now).is_empty());
    // Editing off.
    let (mut chat, now) = chat_with_window(Some(Duration::ZERO));
    let alice = lobby_with(&mut chat, 1, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"edit","room":"lobby","id":1,"text":"x"}"#,
        now,
    );
    let got = replies(&mut chat, 1);
    assert_eq!(errors(&got), ["edit_window"]);
    assert!(got[0]["message"].as_str().unwrap().contains("turned off"));
}

fn chat_with_window(window: Option<Duration>) -> (Chat, Instant) {
    chat(|c| {
        c.rate_limit = None;
        c.edit_window = window;
    })
}

#[test]
fn reactions_are_explicit_idempotent_and_limited_even_within_one_pass() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let react = |emoji: &str, on: bool| {
        format!(r#"{{"type":"react","room":"lobby","id":1,"emoji":"{emoji}","on":{on}}}"#)
    };
    // Twenty-five different emoji in one burst: twenty go on.
    let emoji: Vec<String> = (0..25)
        .map(|i| char::from_u32(0x1F600 + i).unwrap().to_string())
        .collect();
    for e in &emoji {
        send(&mut chat, &alice, &react(e, true), now);
    }
    let refused = errors(&replies(&mut chat, 1));
    assert_eq!(refused, vec!["too_many_reactions"; 5]);
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(of_type(&got, "reactions").len(), 20);
    assert_eq!(
        got.last().unwrap()["reactions"].as_array().unwrap().len(),
        20
    );
    // On again: nothing new, the summary to the asker alone.
    send(&mut chat, &alice, &react(&emoji[0], true), now);
    let again = replies(&mut chat, 1);
    assert_eq!(again[0]["type"], "reactions");
    assert!(end_pass(&mut chat, 1, now).is_empty());
    // Off, twice: one change.
    send(&mut chat, &alice, &react(&emoji[0], false), now);
    send(&mut chat, &alice, &react(&emoji[0], false), now);
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(of_type(&got, "reactions").len(), 1);
    assert_eq!(got[0]["reactions"].as_array().unwrap().len(), 19);
}

#[test]
fn changes_made_while_away_come_back_on_resume_from_the_cache_and_from_storage() {
    let (mut chat, now) = chat(|c| {
        c.history = 5;
        c.rate_limit = None;
    });
    let alice = lobby_with(&mut chat, 10, now);
    // Message 9 is in the cache, message 2 is older than it.
    send(
        &mut chat,
        &alice,
        r#"{"type":"edit","room":"lobby","id":9,"text":"nine"}"#,
        now,
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"edit","room":"lobby","id":2,"text":"two"}"#,
        now,
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"lobby","text":"m13"}"#,
        now,
    );
    end_pass(&mut chat, 1, now);
    // From 12: only the new message and nothing changed since.
    let joined = resume(&mut chat, &alice, 12, now);
    assert_eq!(ids(&joined["history"]), [13]);
    assert_eq!(joined["changes"], serde_json::json!([]));
    // From 10: the edits (9 from the cache, 2 from storage), in their order.
    let joined = resume(&mut chat, &alice, 10, now);
    assert_eq!(ids(&joined["history"]), [13]);
    assert_eq!(ids(&joined["changes"]), [9, 2]);
    assert_eq!(find(&joined["changes"], 2)["text"], "two");
    assert_eq!(find(&joined["changes"], 2)["rev"], 12);
    // A page back from the cache's start shows message 2 edited.
    let page = r#"{"type":"history","room":"lobby","before":6}"#;
    send(&mut chat, &alice, page, now);
    let got = replies(&mut chat, 1);
    let page = &of_type(&got, "history")[0]["messages"];
    assert_eq!(find(page, 2)["text"], "two");
    assert!(find(page, 2)["edited_ts"].is_u64());
}

#[test]
fn more_changes_than_a_resume_replays_is_a_gap() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let count = MAX_RESUME as u64 + 100;
    let alice = lobby_with(&mut chat, count, now);
    // A reaction on each of the first 1001 messages, one per pass.
    for id in 1..=MAX_RESUME as u64 + 1 {
        let frame =
            format!(r#"{{"type":"react","room":"lobby","id":{id},"emoji":"👍","on":true}}"#);
        send(&mut chat, &alice, &frame, now);
        end_pass(&mut chat, 1, now);
    }
    // Away since the last message: 1001 messages changed. Past the cap.
    let joined = resume(&mut chat, &alice, count, now);
    assert_eq!(joined["gap"], true);
    assert_eq!(joined["changes"], serde_json::json!([]));
    // Away since the first reaction: 1000, all of them, in order.
    let joined = resume(&mut chat, &alice, count + 1, now);
    assert_eq!(joined["gap"], false);
    let changed = ids(&joined["changes"]);
    assert_eq!(changed, (2..=MAX_RESUME as u64 + 1).collect::<Vec<_>>());
    // The same storm on one message is one entry: the message as it is now.
    for i in 0..MAX_RESUME + 1 {
        let on = i % 2 == 1;
        let frame = format!(r#"{{"type":"react","room":"lobby","id":5,"emoji":"🎉","on":{on}}}"#);
        send(&mut chat, &alice, &frame, now);
        end_pass(&mut chat, 1, now);
    }
    let cursor = resume(&mut chat, &alice, 0, now)["cursor"]
        .as_u64()
        .unwrap();
    let joined = resume(&mut chat, &alice, cursor - 1000, now);
    assert_eq!(
        (ids(&joined["changes"]), &joined["gap"]),
        (vec![5], &Value::Bool(false))
    );
}

#[test]
fn replies_carry_a_preview_of_the_original_as_it_is_now() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let bob = bob(&mut chat, now);
    let reply =
        r#"{"type":"message","room":"lobby","text":"yes","reply_to":1,"mentions":["alice"]}"#;
    send(&mut chat, &bob, reply, now);
    let got = end_pass(&mut chat, 1, now);
    let message = of_type(&got, "message")[0];
    assert_eq!(message["reply"]["user"], "alice");
    assert_eq!(message["reply"]["excerpt"], "m1");
    assert!(
        message.get("mentions").is_none(),
        "@alice is not in the text"
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"edit","room":"lobby","id":1,"text":"dinner?"}"#,
        now,
    );
    end_pass(&mut chat, 1, now);
    let joined = resume(&mut chat, &alice, 0, now);
    assert_eq!(find(&joined["history"], 2)["reply"]["excerpt"], "dinner?");
    send(
        &mut chat,
        &alice,
        r#"{"type":"delete","room":"lobby","id":1}"#,
        now,
    );
    end_pass(&mut chat, 1, now);
    let joined = resume(&mut chat, &alice, 0, now);
    assert_eq!(
        find(&joined["history"], 2)["reply"],
        serde_json::json!({"deleted": true})
    );
    // And the same from storage, when the room is read afresh.
    let page = r#"{"type":"history","room":"lobby"}"#;
    send(&mut chat, &bob, page, now);
    let got = replies(&mut chat, 2);
    let page = &of_type(&got, "history")[0]["messages"];
    assert_eq!(find(page, 2)["reply"], serde_json::json!({"deleted": true}));
}

#[test]
fn an_edit_notifies_only_the_newly_mentioned() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 0, now);
    let post = r#"{"type":"message","room":"lobby","text":"hi @bob","mentions":["bob"]}"#;
    send(&mut chat, &alice, post, now);
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(
        of_type(&got, "message")[0]["mentions"],
        serde_json::json!(["bob"])
    );
    let edit = r#"{"type":"edit","room":"lobby","id":1,"text":"hi @bob and @carol","mentions":["bob","carol"]}"#;
    send(&mut chat, &alice, edit, now);
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(got[0]["mentions"], serde_json::json!(["bob", "carol"]));
    assert_eq!(got[0]["new_mentions"], serde_json::json!(["carol"]));
}

#[test]
fn a_change_that_cannot_be_stored_reaches_nobody() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    send(
        &mut chat,
        &alice,
        r#"{"type":"edit","room":"lobby","id":1,"text":"new","client_id":"e"}"#,
        now,
    );
    // The commit's outcome says it failed (as a full disk makes it).
    let mut outcome = chat.commit().expect("inline");
    outcome.failed = vec![Some("the disk is full".into())];
    chat.committed(outcome);
    let got = replies(&mut chat, 1);
    assert_eq!(errors(&got), ["storage_failed"]);
    assert_eq!(got[0]["client_id"], "e");
    let joined = resume(&mut chat, &alice, 0, now);
    assert_eq!(
        find(&joined["history"], 1)["text"],
        "m1",
        "the cache is unchanged"
    );
}

#[test]
fn a_retry_of_a_change_still_being_stored_shows_nothing_before_it_is_stored() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let bob = bob(&mut chat, now);
    let react = r#"{"type":"react","room":"lobby","id":1,"emoji":"👍","on":true}"#;
    let edit = r#"{"type":"edit","room":"lobby","id":1,"text":"new","client_id":"e"}"#;
    let delete = r#"{"type":"delete","room":"lobby","id":1,"client_id":"d"}"#;
    // Each change twice in one pass (a double click, or a page resending
    // on a second connection): the second is a retry of one not yet stored.
    for frame in [react, edit, delete] {
        send(&mut chat, &alice, frame, now);
        send(&mut chat, &alice, frame, now);
        assert_eq!(
            replies(&mut chat, 1),
            Vec::<Value>::new(),
            "nothing of a change is shown before it is stored: {frame}"
        );
        // The change itself cannot be stored: nobody saw it, and the retry
        // had not told alice otherwise.
        let mut outcome = chat.commit().expect("inline");
        outcome.failed = vec![Some("the disk is full".into())];
        chat.committed(outcome);
        assert_eq!(errors(&replies(&mut chat, 1)), ["storage_failed"]);
        assert!(end_pass(&mut chat, 2, now).is_empty(), "bob saw nothing");
    }
    let joined = resume(&mut chat, &bob, 0, now);
    assert_eq!(find(&joined["history"], 1)["text"], "m1");
    assert_eq!(joined["cursor"], 1, "2 to 4 were refused: nobody has them");
    // A resent message whose edit is being stored comes back as it is stored.
    let post = r#"{"type":"message","room":"lobby","text":"hi","client_id":"p"}"#;
    send(&mut chat, &alice, post, now);
    end_pass(&mut chat, 1, now);
    let edit = r#"{"type":"edit","room":"lobby","id":5,"text":"hi!"}"#;
    send(&mut chat, &alice, edit, now);
    send(&mut chat, &alice, post, now);
    let echo = replies(&mut chat, 1);
    assert_eq!(
        (&echo[0]["text"], echo[0].get("rev")),
        (&Value::from("hi"), None),
        "the echo shows no edit before it is stored"
    );
}

#[test]
fn changes_staged_while_an_earlier_one_fails_are_checked_again_without_it() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let bob = bob(&mut chat, now);
    let react = r#"{"type":"react","room":"lobby","id":1,"emoji":"👍","on":true}"#;
    send(&mut chat, &alice, react, now);
    // Alice's reaction is being stored (the database is locked a while) ...
    let mut outcome = chat.commit().expect("inline");
    // ... when bob adds his to it.
    send(&mut chat, &bob, react, now);
    // (The outcome is made to say so; storage itself did take it.)
    outcome.failed = vec![Some("database is locked".into())];
    chat.committed(outcome);
    assert_eq!(errors(&replies(&mut chat, 1)), ["storage_failed"]);
    // Bob's alone is stored: that is what the room is told, and has.
    let got = end_pass(&mut chat, 1, now);
    let summary = &of_type(&got, "reactions")[0]["reactions"][0];
    assert_eq!(
        (&summary["count"], &summary["users"]),
        (&1.into(), &serde_json::json!(["bob"]))
    );
    let joined = resume(&mut chat, &alice, 0, now);
    assert_eq!(
        find(&joined["history"], 1)["reactions"][0]["users"],
        serde_json::json!(["bob"])
    );

    // A delete staged behind a change that fails still holds: an edit that
    // comes before the delete is stored is refused, and the text is gone.
    let react = r#"{"type":"react","room":"lobby","id":1,"emoji":"🎉","on":true}"#;
    send(&mut chat, &alice, react, now);
    let mut outcome = chat.commit().expect("inline");
    send(
        &mut chat,
        &alice,
        r#"{"type":"delete","room":"lobby","id":1}"#,
        now,
    );
    outcome.failed = vec![Some("database is locked".into())];
    chat.committed(outcome);
    replies(&mut chat, 1);
    let edit = r#"{"type":"edit","room":"lobby","id":1,"text":"back again"}"#;
    send(&mut chat, &alice, edit, now);
    assert_eq!(errors(&replies(&mut chat, 1)), ["deleted"]);
    let got = end_pass(&mut chat, 1, now);
    assert!(of_type(&got, "edit").is_empty());
    let joined = resume(&mut chat, &alice, 0, now);
    let m = find(&joined["history"], 1);
    assert_eq!((&m["deleted"], &m["text"]), (&true.into(), &"".into()));
    let page = r#"{"type":"history","room":"lobby"}"#;
    send(&mut chat, &alice, page, now);
    let got = replies(&mut chat, 1);
    let stored = find(&of_type(&got, "history")[0]["messages"], 1);
    assert_eq!(stored["text"], "", "nothing of it is stored");
}

/// A chat on a database file in a fresh folder (removed when the test ends),
/// and a second connection to that file, to make it refuse writes.
fn chat_on_file(name: &str) -> (Chat, Instant, rusqlite::Connection, TempDir) {
    let dir = TempDir(std::env::temp_dir().join(format!("natter-{name}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("natter.db").display().to_string();
    let store = Sqlite::open(&path, None).expect("a new database opens");
    let config = Config {
        db: path.clone(),
        rate_limit: None,
        ..Config::default()
    };
    let now = Instant::now();
    let chat = Chat::new(config, Box::new(store), Writes::Inline, now).expect("it loads");
    (chat, now, rusqlite::Connection::open(&path).unwrap(), dir)
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_cursor_never_counts_numbers_that_were_refused_and_may_be_given_out_again() {
    let (mut chat, now, db, _dir) = chat_on_file("refused-numbers");
    let alice = lobby_with(&mut chat, 1, now);
    // Message 2 cannot be stored: number 2 is settled, and nothing has it.
    db.execute_batch(
        "CREATE TRIGGER full BEFORE INSERT ON messages WHEN NEW.text = 'lost'
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    )
    .unwrap();
    let post = r#"{"type":"message","room":"lobby","text":"lost"}"#;
    send(&mut chat, &alice, post, now);
    end_pass(&mut chat, 1, now);
    assert_eq!(errors(&replies(&mut chat, 1)), ["storage_failed"]);
    let cursor = resume(&mut chat, &alice, 1, now)["cursor"]
        .as_u64()
        .unwrap();
    // Everyone leaves; the room leaves memory, and storage, whose newest
    // number is 1, gives it 2 again when it comes back.
    send(&mut chat, &alice, r#"{"type":"leave","room":"lobby"}"#, now);
    end_pass(&mut chat, 1, now);
    assert!(chat.room("lobby").is_none(), "the room left memory");
    send(&mut chat, &alice, r#"{"type":"join","room":"lobby"}"#, now);
    let post = r#"{"type":"message","room":"lobby","text":"found"}"#;
    send(&mut chat, &alice, post, now);
    end_pass(&mut chat, 1, now);
    // A page that was told the cursor then gets the new message on resume.
    let joined = resume(&mut chat, &alice, cursor, now);
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["found"], "cursor {cursor}");
}

#[test]
fn an_edit_staged_behind_one_that_fails_still_notifies_whom_it_adds() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let edit = |text: &str| {
        format!(r#"{{"type":"edit","room":"lobby","id":1,"text":"{text}","mentions":["bob"]}}"#)
    };
    send(&mut chat, &alice, &edit("hi @bob"), now);
    let mut outcome = chat.commit().expect("inline");
    // A second edit while the first is being stored: bob is not new to it.
    send(&mut chat, &alice, &edit("hi @bob!"), now);
    outcome.failed = vec![Some("database is locked".into())];
    chat.committed(outcome);
    // The first was never stored: bob is new to the text that is.
    let got = end_pass(&mut chat, 1, now);
    let edit = of_type(&got, "edit")[0];
    assert_eq!(edit["new_mentions"], serde_json::json!(["bob"]));
}

#[test]
fn a_reply_never_shows_an_edit_of_its_original_that_could_not_be_stored() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let bob = bob(&mut chat, now);
    let edit = r#"{"type":"edit","room":"lobby","id":1,"text":"not for everyone"}"#;
    send(&mut chat, &alice, edit, now);
    let mut outcome = chat.commit().expect("inline");
    // Bob replies while the edit is being stored; then it is refused.
    let reply = r#"{"type":"message","room":"lobby","text":"yes","reply_to":1}"#;
    send(&mut chat, &bob, reply, now);
    outcome.failed = vec![Some("database is locked".into())];
    chat.committed(outcome);
    let got = end_pass(&mut chat, 2, now);
    let message = of_type(&got, "message")[0];
    assert_eq!(message["reply"]["excerpt"], "m1");
    let joined = resume(&mut chat, &bob, 0, now);
    assert_eq!(find(&joined["history"], 3)["reply"]["excerpt"], "m1");
}

#[test]
fn a_resent_message_is_not_echoed_from_storage_before_the_room_gets_it() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 0, now);
    let bob = bob(&mut chat, now);
    let post = |who: &str| {
        format!(r#"{{"type":"message","room":"lobby","text":"{who}","client_id":"{who}"}}"#)
    };
    send(&mut chat, &bob, &post("bob"), now);
    send(&mut chat, &alice, &post("alice"), now);
    // Both are in storage, but the hub has not heard back yet (the writer
    // thread is slow): the room has been sent neither.
    let outcome = chat.commit().expect("inline");
    send(&mut chat, &alice, &post("alice"), now);
    let echo = replies(&mut chat, 1);
    assert!(
        of_type(&echo, "message").is_empty(),
        "an echo of 2 would take alice's cursor past bob's 1, not yet sent: {echo:?}"
    );
    chat.committed(outcome);
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(ids(&serde_json::json!(of_type(&got, "message"))), [1, 2]);
}

#[test]
fn a_joiner_gets_what_the_rooms_batch_holds_once_and_its_cursor_stops_before_it() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    // Stored, and in the room's batch, not yet handed out (as when a
    // commit's outcome comes in before the pass's events).
    send(
        &mut chat,
        &alice,
        r#"{"type":"message","room":"lobby","text":"two"}"#,
        now,
    );
    send(
        &mut chat,
        &alice,
        r#"{"type":"edit","room":"lobby","id":1,"text":"one!"}"#,
        now,
    );
    let outcome = chat.commit().expect("inline");
    chat.committed(outcome);
    let bob = user(&mut chat, "bob", 2, now);
    send(&mut chat, &bob, r#"{"type":"join","room":"lobby"}"#, now);
    let got = replies(&mut chat, 2);
    let joined = of_type(&got, "joined")[0];
    assert_eq!(
        ids(&joined["history"]),
        [1],
        "message 2 comes in the batch, once"
    );
    assert_eq!(joined["cursor"], 1, "nothing the batch holds is counted");
    assert!(
        joined["history"][0].get("rev").is_none(),
        "the edit's number is held back"
    );
    let live = end_pass(&mut chat, 2, now);
    let kinds: Vec<&str> = live.iter().filter_map(|f| f["type"].as_str()).collect();
    assert!(
        kinds.contains(&"message") && kinds.contains(&"edit"),
        "{kinds:?}"
    );
    let edit = of_type(&live, "edit")[0];
    assert_eq!(
        (edit["seq"].as_u64(), edit["text"].as_str()),
        (Some(3), Some("one!"))
    );
    // Handed out: the next joiner's cursor counts it.
    let joined = resume(&mut chat, &alice, 0, now);
    assert_eq!(joined["cursor"], 3);
}

#[test]
fn a_reaction_frame_names_the_react_that_made_it() {
    let (mut chat, now) = chat(|c| c.rate_limit = None);
    let alice = lobby_with(&mut chat, 1, now);
    let react = r#"{"type":"react","room":"lobby","id":1,"emoji":"👍","on":true,"client_id":"r1"}"#;
    send(&mut chat, &alice, react, now);
    let got = end_pass(&mut chat, 1, now);
    assert_eq!(got[0]["client_id"], "r1");
    // A retry is answered with the summary and the retry's own client_id.
    let again = r#"{"type":"react","room":"lobby","id":1,"emoji":"👍","on":true,"client_id":"r2"}"#;
    send(&mut chat, &alice, again, now);
    assert_eq!(replies(&mut chat, 1)[0]["client_id"], "r2");
}
