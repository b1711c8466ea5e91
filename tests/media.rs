//! Uploads (issue 17) over real sockets: what is accepted and how it is
//! served, the limits, who may fetch a file, and files deleted for real.

use std::path::Path;
use std::time::{Duration, Instant};

use natter_testkit::rooms::Rooms;
use natter_testkit::{self as common, Client, HttpResponse, TempDir, TestServer};
use serde_json::{json, Value};

/// A small PNG: signature, IHDR (`w` x `h`), optional extra chunks, IDAT, IEND.
fn png(w: u32, h: u32, extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend([0; 4]);
        c
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    for (kind, data) in extra {
        out.extend(chunk(kind, data));
    }
    out.extend(chunk(b"IDAT", b"some pixels"));
    out.extend(chunk(b"IEND", b""));
    out
}

/// A JPEG with an EXIF segment holding a GPS position.
fn jpeg_with_gps() -> Vec<u8> {
    let segment = |marker: u8, data: &[u8]| {
        let mut s = vec![0xff, marker];
        s.extend(((data.len() + 2) as u16).to_be_bytes());
        s.extend(data);
        s
    };
    let mut j = vec![0xff, 0xd8];
    j.extend(segment(0xe0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    j.extend(segment(0xe1, b"Exif\0\0GPSLatitude 51.5074 N"));
    j.extend(segment(0xc0, &[8, 0, 48, 0, 64, 1, 1, 0x11, 0]));
    j.extend(segment(0xda, &[1, 1, 0, 0, 0x3f, 0]));
    j.extend([0x12, 0x34, 0xff, 0x00, 0x56]);
    j.extend([0xff, 0xd9]);
    j
}

/// `POST /upload/<room>` as the page sends it.
fn upload(
    server: &TestServer,
    token: &str,
    room: &str,
    kind: &str,
    name: &str,
    body: &[u8],
) -> HttpResponse {
    let headers = vec![
        format!("Cookie: natter_session={token}"),
        format!("Origin: {}", server.origin()),
        format!("X-Natter-Kind: {kind}"),
        format!("X-Natter-Name: {name}"),
        "Content-Type: application/octet-stream".to_string(),
    ];
    server.request("POST", &format!("/upload/{room}"), &headers, body)
}

fn uploaded(
    server: &TestServer,
    token: &str,
    room: &str,
    kind: &str,
    name: &str,
    body: &[u8],
) -> Value {
    let response = upload(server, token, room, kind, name, body);
    assert_eq!(response.status, 201, "{}", response.body);
    serde_json::from_str(&response.body).expect("JSON")
}

/// A server on `db` where alice sends a small image with `text`, stopped
/// in order; the image's URL.
fn image_sent_then_stopped(db: &str, text: &str) -> String {
    let server = common::start_with(|c| c.db = db.to_string());
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let up = uploaded(&server, &alice, "lobby", "image", "p.png", &png(4, 4, &[]));
    send_with(&mut a, "lobby", text, &[up["upload"].as_str().unwrap()]);
    assert!(server.shutdown());
    up["url"].as_str().unwrap().to_string()
}

/// The message of #lobby with this text, as `history` reads it from storage.
fn stored_message(client: &mut Client, text: &str) -> Value {
    client.send(json!({"type": "history", "room": "lobby", "before": 1000}));
    let page = client.recv_type("history");
    let found = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == text);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no message {text:?} in {page}"))
}

/// `response` is a refusal with this status and code.
fn refused(response: &HttpResponse, status: u16, code: &str) {
    assert_eq!(
        (response.status, error_code(response).as_str()),
        (status, code),
        "{}",
        response.body
    );
}

fn error_code(response: &HttpResponse) -> String {
    let v: Value =
        serde_json::from_str(&response.body).unwrap_or_else(|_| panic!("JSON: {}", response.body));
    v["code"].as_str().unwrap_or_default().to_string()
}

/// Log in as `name` and join `room`; the session token and the socket.
fn in_room(server: &TestServer, name: &str, room: &str) -> (String, Client) {
    let token = server.login(name, room);
    let mut client = server.connect().session(&token).past_hello();
    client.join(room);
    (token, client)
}

fn send_with(client: &mut Client, room: &str, text: &str, ids: &[&str]) -> Value {
    // A fresh client_id each time: a resent one is answered with its original.
    static SENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SENT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    client.send(json!({"type": "message", "room": room, "text": text, "client_id": format!("c-{n}"), "attachments": ids}));
    loop {
        let frame = client.recv();
        if frame["type"] == "message" || frame["type"] == "error" {
            return frame;
        }
    }
}

/// Raw bytes of a GET (the testkit's body is text).
fn fetch(
    server: &TestServer,
    path: &str,
    cookie: Option<&str>,
    extra: &[&str],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.web).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        server.web.port()
    );
    if let Some(token) = cookie {
        head.push_str(&format!("Cookie: natter_session={token}\r\n"));
    }
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let text = String::from_utf8_lossy(&raw[..at]).to_string();
    let mut lines = text.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[at + 4..].to_vec())
}

/// An upload that announces 100 kB, sends a few bytes and stalls: it holds
/// its slot until the connection goes.
fn stalled_upload(server: &TestServer, token: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(server.web).unwrap();
    let head = format!(
        "POST /upload/lobby HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: natter_session={token}\r\n\
         Origin: {}\r\nX-Natter-Kind: file\r\nContent-Length: 100000\r\n\r\nsome bytes",
        server.web.port(),
        server.origin()
    );
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// Two of `token`'s uploads, stalled, once both are being received (each has
/// its file in `<media>/tmp/`): they hold two slots, theirs and the server's.
fn stall_two(server: &TestServer, token: &str, media: &Path) -> Vec<std::net::TcpStream> {
    let stalled = (0..2).map(|_| stalled_upload(server, token)).collect();
    wait_until("both stalled uploads are being received", || {
        std::fs::read_dir(media.join("tmp")).map_or(0, |d| d.count()) == 2
    });
    stalled
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every file in a media folder (`<db>-media/aa/<hash>`).
fn stored_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap().flatten() {
        if sub.file_name() == "tmp" || !sub.path().is_dir() {
            continue;
        }
        files.extend(
            std::fs::read_dir(sub.path())
                .unwrap()
                .flatten()
                .map(|e| e.path()),
        );
    }
    files
}

#[test]
fn an_image_is_sent_seen_by_the_room_and_served_with_safe_headers() {
    let server = common::start();
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let (_bob, mut b) = in_room(&server, "bob", "lobby");
    let up = uploaded(
        &server,
        &alice,
        "lobby",
        "image",
        "cat%20photo.png",
        &png(640, 480, &[]),
    );
    assert_eq!(up["kind"], "image");
    assert_eq!(up["mime"], "image/png");
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(640), Some(480))
    );
    let id = up["upload"].as_str().unwrap();
    assert!(id.starts_with("u_") && id.len() == 34, "{up}");
    let url = up["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/m/{id}.png"));

    let echo = send_with(&mut a, "lobby", "", &[id]);
    assert_eq!(echo["type"], "message", "{echo}");
    let seen = b.recv_message();
    assert_eq!(seen["text"], "");
    assert_eq!(seen["attachments"][0]["url"], url.as_str(), "{seen}");
    assert_eq!(seen["attachments"][0]["name"], "cat photo.png");

    // Anyone with the link in an open room; the headers make it inert.
    let (status, headers, body) = fetch(&server, &url, None, &[]);
    assert_eq!(status, 200);
    assert_eq!(body, png(640, 480, &[]));
    assert_eq!(header(&headers, "content-type"), Some("image/png"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(header(&headers, "content-security-policy")
        .unwrap()
        .starts_with("sandbox"));
    assert!(header(&headers, "content-disposition")
        .unwrap()
        .starts_with("inline"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("private, max-age=31536000, immutable")
    );
    let etag = header(&headers, "etag").unwrap().to_string();
    let (status, _, _) = fetch(&server, &url, None, &[&format!("If-None-Match: {etag}")]);
    assert_eq!(status, 304);

    // Ranges: Safari's first two bytes, an open end, and one past the end.
    let (status, headers, body) = fetch(&server, &url, None, &["Range: bytes=0-1"]);
    assert_eq!((status, body.as_slice()), (206, &b"\x89P"[..]));
    let total = png(640, 480, &[]).len();
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes 0-1/{total}").as_str())
    );
    let (status, _, body) = fetch(&server, &url, None, &["Range: bytes=8-"]);
    assert_eq!((status, body.len()), (206, total - 8));
    let (status, headers, _) = fetch(&server, &url, None, &[&format!("Range: bytes={total}-")]);
    assert_eq!(status, 416);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes */{total}").as_str())
    );
    // The wrong extension or a made-up id is nothing.
    assert_eq!(fetch(&server, &format!("/m/{id}.html"), None, &[]).0, 404);
    assert_eq!(
        fetch(
            &server,
            "/m/u_00000000000000000000000000000000.png",
            None,
            &[]
        )
        .0,
        404
    );
}

#[test]
fn polyglots_are_refused_or_served_inert() {
    let server = common::start();
    let (alice, _a) = in_room(&server, "alice", "lobby");
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>";
    for (name, body) in [("evil.png", &html[..]), ("evil.svg", &svg[..])] {
        refused(
            &upload(&server, &alice, "lobby", "image", name, body),
            415,
            "unsupported_type",
        );
    }
    // As a file it is a download, never a page.
    let up = uploaded(&server, &alice, "lobby", "file", "evil.html", html);
    assert_eq!(
        (up["kind"].as_str(), up["mime"].as_str()),
        (Some("file"), Some("application/octet-stream"))
    );
    let (status, headers, _) = fetch(&server, up["url"].as_str().unwrap(), Some(&alice), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/octet-stream")
    );
    assert!(header(&headers, "content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert!(header(&headers, "content-security-policy")
        .unwrap()
        .contains("sandbox"));

    // A PNG with a script after its end: the script is not kept.
    let mut tailed = png(16, 16, &[]);
    tailed.extend(b"<script>alert(1)</script>");
    let up = uploaded(&server, &alice, "lobby", "image", "tail.png", &tailed);
    let (_, _, body) = fetch(&server, up["url"].as_str().unwrap(), Some(&alice), &[]);
    assert_eq!(body, png(16, 16, &[]));
    // A decompression bomb's header.
    let r = upload(
        &server,
        &alice,
        "lobby",
        "image",
        "bomb.png",
        &png(30_000, 30_000, &[]),
    );
    refused(&r, 422, "image_too_large");
}

#[test]
fn exif_and_gps_are_stripped_on_the_server_too() {
    let server = common::start();
    let (alice, _a) = in_room(&server, "alice", "lobby");
    let jpeg = jpeg_with_gps();
    let up = uploaded(&server, &alice, "lobby", "image", "photo.jpg", &jpeg);
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(64), Some(48))
    );
    let (_, _, body) = fetch(&server, up["url"].as_str().unwrap(), Some(&alice), &[]);
    assert!(
        !body.windows(3).any(|w| w == b"GPS"),
        "the GPS position is gone"
    );
    assert!(body.starts_with(b"\xff\xd8") && body.ends_with(b"\xff\xd9"));
    assert!(body.len() < jpeg.len());
    let png = png(
        8,
        8,
        &[(b"eXIf", b"GPS 51.5N"), (b"tEXt", b"Author\0Alice")],
    );
    let up = uploaded(&server, &alice, "lobby", "image", "x.png", &png);
    let (_, _, body) = fetch(&server, up["url"].as_str().unwrap(), Some(&alice), &[]);
    assert!(!body.windows(3).any(|w| w == b"GPS") && !body.windows(5).any(|w| w == b"Alice"));
}

#[test]
fn size_limits_answer_from_content_length_before_the_body() {
    let server = common::start_with(|c| c.media.max_upload_bytes = 1024 * 1024);
    let (alice, _a) = in_room(&server, "alice", "lobby");
    // 50 MB announced, not a byte sent: the answer comes anyway.
    let head = format!(
        "POST /upload/lobby HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: natter_session={alice}\r\n\
         Origin: {}\r\nX-Natter-Kind: file\r\nContent-Length: 52428800\r\n\r\n",
        server.web.port(),
        server.origin()
    );
    let r = server.raw(head.as_bytes());
    refused(&r, 413, "too_large");
    assert!(
        r.body.contains("1 MiB"),
        "the message says the limit: {}",
        r.body
    );
    // With Expect: 100-continue (curl's way), no Continue is sent either.
    let head = head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    let r = server.raw(head.as_bytes());
    assert_eq!(r.status, 413, "{}", r.body);
    // No length at all.
    let chunked = format!(
        "POST /upload/lobby HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: natter_session={alice}\r\n\
         Origin: {}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        server.web.port(),
        server.origin()
    );
    assert_eq!(server.raw(chunked.as_bytes()).status, 411);
}

#[test]
fn who_may_upload_and_attach() {
    let server = common::start();
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let (bob, mut b) = in_room(&server, "bob", "lobby");
    let file = b"just some notes";
    // No cookie, a foreign page, a room you are not in.
    let mut no_cookie = vec![format!("Origin: {}", server.origin())];
    no_cookie.push("X-Natter-Kind: file".into());
    assert_eq!(
        server
            .request("POST", "/upload/lobby", &no_cookie, file)
            .status,
        401
    );
    let foreign = vec![
        format!("Cookie: natter_session={alice}"),
        "Origin: https://evil.example".into(),
    ];
    assert_eq!(
        server
            .request("POST", "/upload/lobby", &foreign, file)
            .status,
        403
    );
    let r = upload(&server, &alice, "elsewhere", "file", "n.txt", file);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("join #elsewhere"), "{}", r.body);

    let up = uploaded(&server, &alice, "lobby", "file", "notes.txt", file);
    let id = up["upload"].as_str().unwrap();
    // Nobody else can post alice's upload, and nobody else can see it before she does.
    let refused = send_with(&mut b, "lobby", "mine now", &[id]);
    assert_eq!(refused["code"], "bad_attachment", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("not yours"));
    assert_eq!(
        fetch(&server, up["url"].as_str().unwrap(), Some(&bob), &[]).0,
        404
    );
    // Once on a message, it is the room's; and it cannot be attached twice.
    let sent = send_with(&mut a, "lobby", "my notes", &[id]);
    assert_eq!(sent["attachments"][0]["kind"], "file", "{sent}");
    assert_eq!(
        fetch(&server, up["url"].as_str().unwrap(), Some(&bob), &[]).0,
        200
    );
    a.send(json!({"type": "message", "room": "lobby", "text": "again", "client_id": "c-2", "attachments": [id]}));
    let again = a.recv_type("error");
    assert_eq!(again["code"], "bad_attachment", "{again}");
    // An upload for another room.
    a.join("den");
    let den = uploaded(&server, &alice, "den", "file", "d.txt", file);
    let wrong = send_with(&mut a, "lobby", "x", &[den["upload"].as_str().unwrap()]);
    assert!(
        wrong["message"].as_str().unwrap().contains("another room"),
        "{wrong}"
    );
    // Five attachments are too many, and a made-up id is refused by its form.
    a.send(json!({"type": "message", "room": "lobby", "text": "", "attachments": ["nope"]}));
    assert_eq!(a.recv_type("error")["code"], "bad_attachment");
    // An empty message with no attachments is still empty.
    a.send(json!({"type": "message", "room": "lobby", "text": " ", "attachments": []}));
    assert_eq!(a.recv_type("error")["code"], "empty_text");
    b.drain(|_| {});
}

#[test]
fn a_private_rooms_files_are_for_its_members_only() {
    let server = common::start();
    let mut alice = server.person("alice");
    alice.enter("Club");
    alice.claim("Club");
    alice.set_room("Club", json!({"access": "invite"}));
    let up = uploaded(
        &server,
        &alice.token,
        "Club",
        "image",
        "p.png",
        &png(4, 4, &[]),
    );
    let id = up["upload"].as_str().unwrap().to_string();
    let sent = send_with(&mut alice, "Club", "members only", &[&id]);
    assert_eq!(sent["type"], "message", "{sent}");
    let url = up["url"].as_str().unwrap();
    let bob = server.login("bob", "lobby");
    assert_eq!(fetch(&server, url, Some(&bob), &[]).0, 403);
    assert_eq!(fetch(&server, url, None, &[]).0, 403);
    assert_eq!(fetch(&server, url, Some(&alice.token), &[]).0, 200);
}

#[test]
fn a_deleted_messages_file_is_gone_from_disk_and_an_orphan_is_collected() {
    let dir = TempDir::new("media-delete");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.media.orphan_age = Duration::from_secs(2);
    });
    let media = std::path::PathBuf::from(format!("{db}-media"));
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let up = uploaded(&server, &alice, "lobby", "image", "p.png", &png(4, 4, &[]));
    let id = up["upload"].as_str().unwrap();
    let sent = send_with(&mut a, "lobby", "soon gone", &[id]);
    assert_eq!(stored_files(&media).len(), 1);
    a.send(json!({"type": "delete", "room": "lobby", "id": sent["id"]}));
    let deleted = loop {
        let f = a.recv();
        if f["type"] == "delete" {
            break f;
        }
    };
    assert_eq!(deleted["id"], sent["id"]);
    wait_until("the deleted message's file is gone", || {
        stored_files(&media).is_empty()
    });
    assert_eq!(
        fetch(&server, up["url"].as_str().unwrap(), Some(&alice), &[]).0,
        404
    );
    // History shows the tombstone without the file.
    a.send(json!({"type": "history", "room": "lobby", "before": 1000}));
    let page = a.recv_type("history");
    assert!(page["messages"][0].get("attachments").is_none(), "{page}");

    // Never attached: collected after the orphan age (2 s here).
    let orphan = uploaded(&server, &alice, "lobby", "file", "o.txt", b"orphan bytes");
    assert_eq!(stored_files(&media).len(), 1);
    wait_until("the orphan is collected", || {
        stored_files(&media).is_empty()
    });
    let late = send_with(
        &mut a,
        "lobby",
        "too late",
        &[orphan["upload"].as_str().unwrap()],
    );
    assert_eq!(late["code"], "bad_attachment", "{late}");
}

#[test]
fn the_same_bytes_are_stored_once_and_outlive_one_of_their_messages() {
    let dir = TempDir::new("media-dedupe");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let media = std::path::PathBuf::from(format!("{db}-media"));
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let one = uploaded(&server, &alice, "lobby", "image", "a.png", &png(4, 4, &[]));
    let two = uploaded(&server, &alice, "lobby", "image", "b.png", &png(4, 4, &[]));
    assert_ne!(one["upload"], two["upload"], "each upload has its own id");
    let first = send_with(&mut a, "lobby", "one", &[one["upload"].as_str().unwrap()]);
    send_with(&mut a, "lobby", "two", &[two["upload"].as_str().unwrap()]);
    assert_eq!(stored_files(&media).len(), 1);
    a.send(json!({"type": "delete", "room": "lobby", "id": first["id"]}));
    a.recv_type("delete");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        stored_files(&media).len(),
        1,
        "the other message still shows it"
    );
    assert_eq!(
        fetch(&server, two["url"].as_str().unwrap(), Some(&alice), &[]).0,
        200
    );
    assert_eq!(
        fetch(&server, one["url"].as_str().unwrap(), Some(&alice), &[]).0,
        404
    );
}

#[test]
fn a_full_store_answers_507_and_keeps_what_it_has() {
    let server = common::start_with(|c| c.media.max_total_bytes = 1024 * 1024);
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let big = vec![b'x'; 700 * 1024];
    let first = uploaded(&server, &alice, "lobby", "file", "a.bin", &big);
    send_with(
        &mut a,
        "lobby",
        "kept",
        &[first["upload"].as_str().unwrap()],
    );
    let mut other = big.clone();
    other[0] = b'y';
    let r = upload(&server, &alice, "lobby", "file", "b.bin", &other);
    refused(&r, 507, "media_full");
    assert!(r.body.contains("1 MiB"), "{}", r.body);
    let (status, _, body) = fetch(&server, first["url"].as_str().unwrap(), Some(&alice), &[]);
    assert_eq!((status, body.len()), (200, big.len()));
}

#[test]
fn a_person_has_a_stored_and_a_daily_quota() {
    let server = common::start_with(|c| {
        c.media.per_person_bytes = 100 * 1024;
        c.media.daily_bytes = 150 * 1024;
    });
    let (alice, _a) = in_room(&server, "alice", "lobby");
    uploaded(
        &server,
        &alice,
        "lobby",
        "file",
        "a.bin",
        &vec![1u8; 80 * 1024],
    );
    let r = upload(
        &server,
        &alice,
        "lobby",
        "file",
        "b.bin",
        &vec![2u8; 40 * 1024],
    );
    refused(&r, 429, "quota");
    // Someone else is not held to alice's quota.
    let (bob, _b) = in_room(&server, "bob", "lobby");
    uploaded(
        &server,
        &bob,
        "lobby",
        "file",
        "c.bin",
        &vec![3u8; 80 * 1024],
    );
}

#[test]
fn attachments_survive_a_restart() {
    let dir = TempDir::new("media-restart");
    let db = dir.file("natter.db");
    let url = image_sent_then_stopped(&db, "before");
    let server = common::start_with(|c| c.db = db.clone());
    let (_bob, mut b) = in_room(&server, "bob", "lobby");
    let m = stored_message(&mut b, "before");
    assert_eq!(m["attachments"][0]["url"], url.as_str(), "{m}");
    assert_eq!(fetch(&server, &url, None, &[]).0, 200);
}

#[test]
fn the_nginx_config_takes_uploads_as_large_as_natter() {
    let options = natter::nginx::parse(pico_args::Arguments::from_vec(vec![
        "--max-upload-mb".into(),
        "25".into(),
    ]))
    .unwrap()
    .unwrap();
    let text = natter::nginx::render(&options);
    let upload = text
        .split("location /upload/")
        .nth(1)
        .expect("an /upload/ location");
    assert!(upload.contains("client_max_body_size 25m;"), "{text}");
}

#[test]
fn uploads_in_flight_are_capped_and_a_slow_one_hurts_nobody_else() {
    let dir = TempDir::new("media-slots");
    let db = dir.file("natter.db");
    let media = std::path::PathBuf::from(format!("{db}-media"));
    let server = common::start_with(|c| {
        c.db = db.clone();
        c.media.in_flight = 2;
    });
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    // Two uploads that stall after a few bytes hold both slots.
    let stalled = stall_two(&server, &alice, &media);
    let r = upload(&server, &alice, "lobby", "file", "n.txt", b"notes");
    refused(&r, 503, "busy");
    assert!(r.header("retry-after").is_some());
    // The chat goes on meanwhile.
    a.say("lobby", "still here");
    assert_eq!(a.recv_message()["text"], "still here");
    // A stalled upload that goes away gives its slot back, and leaves nothing.
    drop(stalled);
    wait_until("a slot is free", || {
        upload(&server, &alice, "lobby", "file", "n.txt", b"notes").status == 201
    });
}

#[test]
fn retention_takes_the_files_of_the_messages_it_deletes() {
    let dir = TempDir::new("media-retention");
    let db = dir.file("natter.db");
    let media = std::path::PathBuf::from(format!("{db}-media"));
    image_sent_then_stopped(&db, "old news");
    assert_eq!(stored_files(&media).len(), 1);
    std::thread::sleep(Duration::from_millis(1500));
    // Messages older than a second go at start, and their files with them.
    let _server = common::start_with(|c| {
        c.db = db.clone();
        c.retention = Some(Duration::from_secs(1));
    });
    wait_until("the file of the expired message is gone", || {
        stored_files(&media).is_empty()
    });
}

#[test]
fn an_export_names_the_files() {
    let server = common::start();
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let up = uploaded(
        &server,
        &alice,
        "lobby",
        "file",
        "plan.pdf",
        b"%PDF-1.7 not really",
    );
    send_with(
        &mut a,
        "lobby",
        "the plan",
        &[up["upload"].as_str().unwrap()],
    );
    let text = server.get("/export/lobby", Some(&alice)).body;
    let url = up["url"].as_str().unwrap();
    assert!(
        text.contains(&format!("alice: the plan [file: plan.pdf {url}]")),
        "{text}"
    );
    let json: Value =
        serde_json::from_str(&server.get("/export/lobby?format=json", Some(&alice)).body).unwrap();
    assert_eq!(json["messages"][0]["attachments"][0]["url"], url);
}

#[test]
fn a_disk_that_refuses_a_write_answers_507_and_loses_nothing_stored() {
    let dir = TempDir::new("media-disk-full");
    let db = dir.file("natter.db");
    let media = std::path::PathBuf::from(format!("{db}-media"));
    // No file may pass 512 KiB: the disk is "full" for a larger upload.
    let natter =
        common::Binary::start_with_ulimit("-f 512", None, &["--db", &db, "--rate-limit", "off"]);
    let server = natter.server();
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let small = vec![b'a'; 300 * 1024];
    let kept = uploaded(&server, &alice, "lobby", "file", "small.bin", &small);
    send_with(&mut a, "lobby", "kept", &[kept["upload"].as_str().unwrap()]);
    let r = upload(
        &server,
        &alice,
        "lobby",
        "file",
        "big.bin",
        &vec![b'b'; 700 * 1024],
    );
    refused(&r, 507, "media_full");
    assert!(r.body.contains("disk is full"), "{}", r.body);
    // What was stored is whole, nothing half-written is left, and the chat goes on.
    let (status, _, body) = fetch(&server, kept["url"].as_str().unwrap(), Some(&alice), &[]);
    assert_eq!((status, body.len()), (200, small.len()));
    assert_eq!(std::fs::read_dir(media.join("tmp")).unwrap().count(), 0);
    assert_eq!(stored_files(&media).len(), 1);
    a.say("lobby", "still chatting");
    assert_eq!(a.recv_message()["text"], "still chatting");
}

#[test]
fn a_reply_to_a_photo_without_words_quotes_its_file_name() {
    let dir = TempDir::new("media-reply");
    let db = dir.file("natter.db");
    let server = common::start_with(|c| c.db = db.clone());
    let (alice, mut a) = in_room(&server, "alice", "lobby");
    let up = uploaded(
        &server,
        &alice,
        "lobby",
        "image",
        "sunset.png",
        &png(4, 4, &[]),
    );
    let photo = send_with(&mut a, "lobby", "", &[up["upload"].as_str().unwrap()]);
    a.send(json!({"type": "message", "room": "lobby", "text": "lovely", "reply_to": photo["id"], "client_id": "r-1"}));
    let reply = a.recv_message();
    assert_eq!(reply["reply"]["excerpt"], "📎 sunset.png", "{reply}");
    // The same from storage, after a restart.
    assert!(server.shutdown());
    let server = common::start_with(|c| c.db = db.clone());
    let token = server.login("bob", "lobby");
    let mut b = server.connect().session(&token).past_hello();
    b.send(json!({"type": "join", "room": "lobby"}));
    b.recv_type("joined");
    let stored = stored_message(&mut b, "lovely");
    assert_eq!(stored["reply"]["excerpt"], "📎 sunset.png", "{stored}");
}

#[test]
fn one_persons_stalled_uploads_leave_the_others_room() {
    let dir = TempDir::new("media-person-slots");
    let db = dir.file("natter.db");
    let media = std::path::PathBuf::from(format!("{db}-media"));
    let server = common::start_with(|c| c.db = db.clone());
    let (alice, _a) = in_room(&server, "alice", "lobby");
    let (bob, _b) = in_room(&server, "bob", "lobby");
    let stalled = stall_two(&server, &alice, &media);
    let r = upload(&server, &alice, "lobby", "file", "third.txt", b"third");
    refused(&r, 429, "busy");
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        upload(&server, &bob, "lobby", "file", "b.txt", b"bob's").status,
        201
    );
    drop(stalled);
}

#[test]
fn at_start_the_janitor_deletes_files_no_upload_names() {
    let dir = TempDir::new("media-reconcile");
    let db = dir.file("natter.db");
    let media = std::path::PathBuf::from(format!("{db}-media"));
    let kept = image_sent_then_stopped(&db, "kept");
    // A file natter moved into place but never recorded (a crash between the two).
    let stray = "ab".to_string() + &"c".repeat(62);
    std::fs::create_dir_all(media.join("ab")).unwrap();
    std::fs::write(media.join("ab").join(&stray), b"nobody's").unwrap();
    assert_eq!(stored_files(&media).len(), 2);
    let server = common::start_with(|c| c.db = db.clone());
    wait_until("the stray file is gone", || stored_files(&media).len() == 1);
    assert!(!media.join("ab").join(&stray).exists());
    assert_eq!(fetch(&server, &kept, None, &[]).0, 200);
}
