//! A logged-in user can download a room's transcript, as plain text or JSON;
//! a logged-out visitor is sent to log in.

use natter_testkit as common;

#[test]
fn a_room_transcript_downloads_as_text_and_json() {
    let server = common::start();
    let token = server.login("alice", "Book Club");
    let mut alice = server.connect().session(&token).open();
    alice.join("Book Club");
    for text in ["first", "second <b>not html</b>", "third 🎉"] {
        alice.say("Book Club", text);
        alice.recv_message();
    }

    let txt = server.get("/export/Book%20Club", Some(&token));
    assert_eq!(txt.status, 200);
    assert!(txt
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(txt
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    let lines: Vec<&str> = txt.body.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].ends_with("] alice: first"), "{}", lines[0]);
    assert!(lines[2].ends_with("] alice: third 🎉"));

    let json = server.get("/export/book%20club?format=json", Some(&token));
    assert_eq!(json.status, 200);
    let value: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(value["room"], "Book Club", "the room's own spelling");
    let texts: Vec<_> = value["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second <b>not html</b>", "third 🎉"]);

    let anonymous = server.get("/export/Book%20Club", None);
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        server
            .get("/export/Book%20Club?format=pdf", Some(&token))
            .status,
        400
    );
}
