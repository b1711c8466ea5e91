//! A long transcript is streamed, a page at a time: exporting a room costs
//! the server memory in proportion to one page, not to the room's history.
//! (Before, every page was collected and turned into a `serde_json::Value`
//! first: a 32 MB transcript took the server from 8 MB to 475 MB.)

use natter_testkit as common;

use std::io::{Read, Write};
use std::net::TcpStream;

/// About 20 MB of history, exported as JSON by the real binary in its own
/// process, so that its memory is the server's alone. The client reads as
/// fast as it can and keeps nothing but counts.
#[test]
fn a_20_mb_export_costs_the_server_a_few_pages_of_memory() {
    let dir = common::TempDir::new("export-memory");
    let db = dir.file("natter.db");
    let (count, chars) = (5_000, 4_000);
    common::seed_room(&db, "Big", common::long_history(count, chars));
    let natter = common::Binary::start(&["--db", &db, "--rate-limit", "off"]);
    let server = natter.server();
    let token = server.login("reader", "Big");
    // A first small request, so that what is only set up once is in the baseline.
    assert_eq!(server.get("/healthz", None).status, 200);
    let pid = natter.child.id();
    let before = common::proc_rss(pid);

    let mut stream = TcpStream::connect(server.web).expect("the web port accepts");
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    write!(
        stream,
        "GET /export/Big?format=json HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Cookie: natter_session={token}\r\nConnection: close\r\n\r\n",
        server.web.port()
    )
    .unwrap();
    let (mut received, mut peak, mut next_sample) = (0usize, before, 0usize);
    let mut tail = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = stream
            .read(&mut buffer)
            .expect("the export keeps coming before the deadline");
        if n == 0 {
            break;
        }
        received += n;
        tail.extend_from_slice(&buffer[..n]);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
        if received >= next_sample {
            peak = peak.max(common::proc_rss(pid));
            next_sample = received + 256 * 1024;
        }
    }
    peak = peak.max(common::proc_rss(pid));
    let transcript = count * chars;
    assert!(
        received > transcript,
        "the whole transcript came: {received} bytes"
    );
    let growth = peak.saturating_sub(before);
    eprintln!("export of {received} bytes: server RSS {before} -> peak {peak} (+{growth})");
    // Generous: a few pages' worth (and SQLite's page cache) is expected,
    // some 4 MB; collecting the transcript cost about 15 times its size.
    assert!(
        growth < transcript as u64,
        "exporting {transcript} bytes grew the server by {growth} bytes"
    );
    assert!(
        tail.ends_with(b"]}\r\n0\r\n\r\n"),
        "the JSON and the chunked body both end properly: {:?}",
        String::from_utf8_lossy(&tail)
    );
}
