//! Uploads (issue 17), from a review: the janitor and a message being stored
//! at once, and the same bytes uploaded as two kinds.

use std::time::{Duration, Instant};

use natter_testkit::{self as common, Client, HttpResponse, TempDir, TestServer};
use serde_json::{json, Value};

/// `POST /upload/<room>` as the page sends it.
fn upload(
    server: &TestServer,
    token: &str,
    room: &str,
    kind: &str,
    name: &str,
    extra: &[String],
    body: &[u8],
) -> Value {
    let mut headers = vec![
        format!("Cookie: natter_session={token}"),
        format!("Origin: {}", server.origin()),
        format!("X-Natter-Kind: {kind}"),
        format!("X-Natter-Name: {name}"),
        "Content-Type: application/octet-stream".to_string(),
    ];
    headers.extend(extra.iter().cloned());
    let response: HttpResponse = server.request("POST", &format!("/upload/{room}"), &headers, body);
    assert_eq!(response.status, 201, "{}", response.body);
    serde_json::from_str(&response.body).expect("JSON")
}

/// Log in as `name` and join `room`; the session token and the socket.
fn in_room(server: &TestServer, name: &str, room: &str) -> (String, Client) {
    let token = server.login(name, room);
    let mut client = server.connect().session(&token).past_hello();
    client.join(room);
    (token, client)
}

/// The next message or error frame carrying `client_id`.
fn answer_to(client: &mut Client, client_id: &str) -> Value {
    loop {
        let frame = client.recv();
        if (frame["type"] == "message" || frame["type"] == "error")
            && frame["client_id"] == client_id
        {
            return frame;
        }
    }
}

/// Status and Content-Type of a GET.
fn get(server: &TestServer, path: &str, cookie: &str) -> (u16, Option<String>) {
    let r = server.get(path, Some(cookie));
    let mime = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    (r.status, mime)
}

/// A message attaching an upload young enough to attach, stored slowly (a
/// commit ahead of it, and a slow disk), while the janitor sweeps: the
/// upload is on a message being stored (`attaching`), so the janitor must not
/// forget it, nor delete its file, once the upload is past the orphan age.
#[test]
fn an_upload_on_a_message_still_being_stored_is_not_swept() {
    const COMMIT: Duration = Duration::from_millis(3200);
    let dir = TempDir::new("media-review-attach-race");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.commit_delay = COMMIT;
        // Attachable for 4.5 s; the janitor sweeps every 3 s.
        c.media.orphan_age = Duration::from_secs(6);
    });
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    // Let the login's and the join's commits finish.
    std::thread::sleep(COMMIT + Duration::from_millis(500));
    a.drain(|_| {});

    let started = Instant::now();
    let up = upload(&server, &alice, "lobby", "file", "n.txt", &[], b"notes");
    let id = up["upload"].as_str().unwrap().to_string();
    // A commit under way, then the message with the file waits behind it:
    // stored some 3 x COMMIT after the upload, past the orphan age.
    a.send(json!({"type": "message", "room": "lobby", "text": "ahead", "client_id": "ahead"}));
    a.send(
        json!({"type": "message", "room": "lobby", "text": "with file",
                  "client_id": "with-file", "attachments": [id]}),
    );
    assert!(
        started.elapsed() < Duration::from_millis(4400),
        "the test's timing: the message must be sent while the upload is attachable"
    );
    let sent = answer_to(&mut a, "with-file");
    assert_eq!(sent["type"], "message", "{sent}");
    let url = sent["attachments"][0]["url"].as_str().unwrap().to_string();
    // Whatever the janitor staged meanwhile is stored by now.
    std::thread::sleep(COMMIT * 2 + Duration::from_millis(500));
    assert_eq!(
        get(&server, &url, &alice).0,
        200,
        "the file of a stored message was swept as an orphan"
    );
}

/// An Ogg file: its signature and some bytes.
fn ogg() -> Vec<u8> {
    let mut bytes = b"OggS\0\x02".to_vec();
    bytes.extend([7u8; 200]);
    bytes
}

/// The same bytes sent as a file and then as a voice note (a voice note
/// forwarded as a download, or the other way round) are stored once, and
/// each upload is served as what it was sent as, at the URL it was given.
#[test]
fn the_same_bytes_as_a_file_and_as_a_voice_note_are_each_served_as_sent() {
    let server = common::start();
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let duration = ["X-Natter-Duration-Ms: 1500".to_string()];
    let file = upload(&server, &alice, "lobby", "file", "v.ogg", &[], &ogg());
    let voice = upload(
        &server,
        &alice,
        "lobby",
        "voice",
        "v.ogg",
        &duration,
        &ogg(),
    );
    assert_eq!(voice["mime"], "audio/ogg", "{voice}");
    assert_eq!(file["mime"], "application/octet-stream", "{file}");
    let voice_url = voice["url"].as_str().unwrap();
    let file_url = file["url"].as_str().unwrap();
    assert_eq!(
        get(&server, voice_url, &alice),
        (200, Some("audio/ogg".to_string())),
        "the voice note at {voice_url}"
    );
    assert_eq!(
        get(&server, file_url, &alice),
        (200, Some("application/octet-stream".to_string())),
        "the file at {file_url}"
    );
    // And the other way round, in a fresh server.
    let server2 = common::start();
    let (bob, mut b) = in_room(&server2, "bob", "lobby");
    let voice2 = upload(&server2, &bob, "lobby", "voice", "v.ogg", &duration, &ogg());
    let file2 = upload(&server2, &bob, "lobby", "file", "v.ogg", &[], &ogg());
    assert_eq!(
        get(&server2, file2["url"].as_str().unwrap(), &bob),
        (200, Some("application/octet-stream".to_string()))
    );
    assert_eq!(
        get(&server2, voice2["url"].as_str().unwrap(), &bob),
        (200, Some("audio/ogg".to_string()))
    );
    // A message shows each as it was sent.
    a.send(json!({"type": "message", "room": "lobby", "text": "",
                  "client_id": "v", "attachments": [voice["upload"]]}));
    let sent = answer_to(&mut a, "v");
    assert_eq!(sent["attachments"][0]["mime"], "audio/ogg", "{sent}");
    assert_eq!(sent["attachments"][0]["url"], voice_url, "{sent}");
    b.send(json!({"type": "message", "room": "lobby", "text": "",
                  "client_id": "f", "attachments": [file2["upload"]]}));
    let sent = answer_to(&mut b, "f");
    assert_eq!(
        sent["attachments"][0]["mime"], "application/octet-stream",
        "{sent}"
    );
}
