//! The assets are stored gzipped (build.rs) and sent that way to a client
//! that takes gzip: `Content-Encoding: gzip`, the same file once decoded,
//! `Vary: Accept-Encoding`, and an ETag of its own. A client that does not
//! take gzip (or refuses it with `q=0`) gets the plain file.
//!
//! The gzip is decoded with the system's `gzip`, a decoder other than the
//! server's own, which is how a browser would see it. The responses are read
//! off a socket here rather than with the test kit's `request`, whose body
//! is text: a gzip body is bytes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use natter_testkit as common;

use common::TestServer;

/// A response with its body as bytes: status, headers (names in lower
/// case), body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection, read to the end. tiny_http sends a
/// large body (32 KB and up) in chunks: it is put back together.
fn fetch(server: &TestServer, method: &str, path: &str, headers: &[&str]) -> Raw {
    let mut stream = TcpStream::connect(server.web).expect("the web port accepts");
    stream
        .set_read_timeout(Some(common::DEADLINE))
        .expect("a non-zero timeout is accepted");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        server.web.port()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("the server reads");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("the response arrives");
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let text = String::from_utf8(raw[..at].to_vec()).expect("an ASCII head");
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[at + 4..].to_vec();
    let chunked = headers.contains(&("transfer-encoding".into(), "chunked".into()));
    if chunked && method != "HEAD" {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
    }
}

/// A chunked body's bytes: each chunk is its size in hex, CRLF, the bytes,
/// CRLF, until a chunk of size 0.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let line = std::str::from_utf8(&raw[..end]).expect("a chunk size");
        let size = usize::from_str_radix(line.trim(), 16).expect("a chunk size");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// A file of `assets/`, as it is in the source tree.
fn asset_file(name: &str) -> Vec<u8> {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Decode gzip with the system's `gzip -dc`.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    let mut stdin = child.stdin.take().expect("a pipe");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("gzip runs");
    writer.join().expect("the writer ends").expect("gzip reads");
    assert!(output.status.success(), "gzip -dc: not valid gzip");
    output.stdout
}

#[test]
fn an_asset_comes_gzipped_to_a_client_that_takes_gzip() {
    let server = common::start();
    for path in [
        "/assets/css/app.css",
        "/assets/js/chat.js",
        "/assets/js/emoji-data.js",
        "/assets/favicon.svg",
        "/assets/chat.html",
    ] {
        let plain = fetch(&server, "GET", path, &[]);
        let gzip = fetch(
            &server,
            "GET",
            path,
            &["Accept-Encoding: gzip, deflate, br"],
        );
        assert_eq!((plain.status, gzip.status), (200, 200), "GET {path}");

        assert_eq!(plain.header("content-encoding"), None, "{path}: plain");
        assert_eq!(gzip.header("content-encoding"), Some("gzip"), "{path}");
        for response in [&plain, &gzip] {
            assert_eq!(response.header("vary"), Some("Accept-Encoding"), "{path}");
            assert_eq!(response.header("cache-control"), Some("no-cache"));
        }
        assert_eq!(plain.header("content-type"), gzip.header("content-type"));
        if let Some(length) = gzip.header("content-length") {
            assert_eq!(length, gzip.body.len().to_string(), "{path}: the gzip's");
        }

        let file = asset_file(&path["/assets/".len()..]);
        assert!(plain.body == file, "{path}: the plain answer is the file");
        assert!(gunzip(&gzip.body) == file, "{path}: the gzip decodes to it");
        assert!(gzip.body.len() < plain.body.len(), "{path}: and smaller");

        assert_ne!(
            plain.header("etag"),
            gzip.header("etag"),
            "{path}: different bytes, different ETags"
        );
    }
}

#[test]
fn gzip_refused_or_not_offered_means_plain_bytes() {
    let server = common::start();
    let file = asset_file("css/app.css");
    for header in [
        "Accept-Encoding: gzip;q=0",
        "Accept-Encoding: gzip; q=0.000, deflate",
        "Accept-Encoding: *;q=0",
        "Accept-Encoding: identity",
        "Accept-Encoding: br",
    ] {
        let page = fetch(&server, "GET", "/assets/css/app.css", &[header]);
        assert_eq!(page.status, 200, "{header}");
        assert_eq!(page.header("content-encoding"), None, "{header}");
        assert_eq!(page.header("vary"), Some("Accept-Encoding"), "{header}");
        assert!(page.body == file, "{header}: the file as it is");
    }
    let star = fetch(
        &server,
        "GET",
        "/assets/css/app.css",
        &["Accept-Encoding: *"],
    );
    assert_eq!(
        star.header("content-encoding"),
        Some("gzip"),
        "* takes gzip"
    );
}

#[test]
fn each_encoding_revalidates_with_its_own_etag() {
    let server = common::start();
    let path = "/assets/js/chat.js";
    let takes = "Accept-Encoding: gzip";
    let gzip = fetch(&server, "GET", path, &[takes]);
    let plain = fetch(&server, "GET", path, &[]);
    let gzip_tag = format!("If-None-Match: {}", gzip.header("etag").expect("an ETag"));
    let plain_tag = format!("If-None-Match: {}", plain.header("etag").expect("an ETag"));

    let again = fetch(&server, "GET", path, &[takes, &gzip_tag]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty(), "a 304 has no body");
    assert_eq!(again.header("etag"), gzip.header("etag"));
    assert_eq!(again.header("vary"), Some("Accept-Encoding"));
    let again = fetch(&server, "GET", path, &[&plain_tag]);
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), plain.header("etag"));

    // The gzip's ETag does not stand for the plain file, nor the other way.
    let crossed = fetch(&server, "GET", path, &[&gzip_tag]);
    assert_eq!(crossed.status, 200);
    assert!(crossed.body == plain.body);
    let crossed = fetch(&server, "GET", path, &[takes, &plain_tag]);
    assert_eq!(crossed.status, 200);
    assert!(crossed.body == gzip.body);
}

#[test]
fn head_gives_the_headers_of_get_and_no_body() {
    let server = common::start();
    let path = "/assets/css/app.css";
    for headers in [&[][..], &["Accept-Encoding: gzip"]] {
        let get = fetch(&server, "GET", path, headers);
        let head = fetch(&server, "HEAD", path, headers);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty(), "HEAD has no body");
        for name in [
            "content-type",
            "content-length",
            "transfer-encoding",
            "content-encoding",
            "etag",
            "vary",
        ] {
            assert_eq!(head.header(name), get.header(name), "{headers:?}: {name}");
        }
    }
}
