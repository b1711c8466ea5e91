//! The uploads scenario (issue 17): what receiving files costs, and proof
//! that a file is streamed to disk and never held whole in memory.
//!
//! One person in #lobby uploads 10 MiB files through `POST /upload/lobby`,
//! one after another and then four people at once, then 8 MiB PNG images (which
//! the server rewrites without their metadata and hashes again). The row
//! says the throughput, the time per upload and natter's peak memory
//! (`VmHWM`) against its memory before: with streaming, the peak grows by
//! buffers, not by files.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{self, Endpoints};
use crate::scenarios::Bench;
use crate::server::{self, ServerProcess};
use crate::{Error, Row};

const FILE_BYTES: usize = 10 * 1024 * 1024;
const IMAGE_BYTES: usize = 8 * 1024 * 1024;
const SEQUENTIAL: usize = 10;
const PARALLEL: usize = 4;
const EACH_PARALLEL: usize = 3;
const IMAGES: usize = 5;

pub fn uploads(bench: &Bench) -> Result<Row, Error> {
    let name = "uploads";
    let mut flags = bench.flags.clone();
    let db = bench.scratch.join("uploads.db").display().to_string();
    flags.extend(
        [
            "--db",
            &db,
            "--media-max-mb",
            "100000",
            "--media-per-person-mb",
            "100000",
            "--media-daily-mb",
            "100000",
        ]
        .map(String::from),
    );
    let server = ServerProcess::start(&bench.binary, &flags)?;
    let endpoints = server.endpoints;
    let (_connection, _reader, cookie) = client::join_as(endpoints, "uploader", "lobby")?;
    let before = server::status_value(server.pid, "VmRSS");
    eprintln!("bench: {name}: {SEQUENTIAL} files of 10 MiB, one at a time");
    let mut seed = 0u8;
    let mut next = |size: usize| {
        seed = seed.wrapping_add(1);
        file_of(size, seed)
    };
    let mut times = Vec::new();
    let started = Instant::now();
    for _ in 0..SEQUENTIAL {
        let body = next(FILE_BYTES);
        let one = Instant::now();
        upload(endpoints, &cookie, "file", &body)?;
        times.push(one.elapsed());
    }
    let sequential = started.elapsed();
    eprintln!("bench: {name}: {PARALLEL} at once, {EACH_PARALLEL} each");
    let bodies: Vec<Vec<Vec<u8>>> = (0..PARALLEL)
        .map(|_| (0..EACH_PARALLEL).map(|_| next(FILE_BYTES)).collect())
        .collect();
    // Four people: natter takes two uploads at a time from one person.
    let people = (0..PARALLEL)
        .map(|i| client::join_as(endpoints, &format!("uploader{i}"), "lobby"))
        .collect::<Result<Vec<_>, Error>>()?;
    let started = Instant::now();
    let workers: Vec<_> = bodies
        .into_iter()
        .zip(&people)
        .map(|(files, (_, _, cookie))| {
            let cookie = cookie.clone();
            thread::spawn(move || -> Result<(), String> {
                for body in files {
                    upload(endpoints, &cookie, "file", &body).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "an upload thread panicked")??;
    }
    let parallel = started.elapsed();
    eprintln!("bench: {name}: {IMAGES} PNG images of 8 MiB");
    let started = Instant::now();
    for i in 0..IMAGES {
        upload(endpoints, &cookie, "image", &png_of(IMAGE_BYTES, i as u8))?;
    }
    let images = started.elapsed();
    let peak = server::status_value(server.pid, "VmHWM");

    times.sort();
    let mib = |bytes: usize, took: Duration| bytes as f64 / 1048576.0 / took.as_secs_f64();
    let mut row = Row::new(name, 1);
    row.clients = "1".to_string();
    row.notes.push(format!(
        "10 MiB one at a time: {:.0} MiB/s, p50 {:.0} ms, max {:.0} ms; {PARALLEL} at once: {:.0} MiB/s \
         in all; 8 MiB PNGs (rewritten, hashed twice): {:.0} MiB/s; RSS {:.1} MiB before, \
         peak {:.1} MiB",
        mib(FILE_BYTES * SEQUENTIAL, sequential),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        mib(FILE_BYTES * PARALLEL * EACH_PARALLEL, parallel),
        mib(IMAGE_BYTES * IMAGES, images),
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
    ));
    Ok(row)
}

/// `size` bytes that differ from any other seed's (the store keeps each
/// content once).
fn file_of(size: usize, seed: u8) -> Vec<u8> {
    let mut body = vec![seed; size];
    body[..8].copy_from_slice(b"natter\0\0");
    body
}

/// A PNG of about `size` bytes: its IHDR, one big IDAT, IEND.
fn png_of(size: usize, seed: u8) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend([0; 4]);
        c
    };
    let mut ihdr = 2048u32.to_be_bytes().to_vec();
    ihdr.extend(1536u32.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &vec![seed; size]));
    png.extend(chunk(b"IEND", b""));
    png
}

/// One upload; an error unless it was stored (201).
fn upload(endpoints: Endpoints, cookie: &str, kind: &str, body: &[u8]) -> Result<(), Error> {
    let web: SocketAddr = endpoints.web;
    let mut stream = TcpStream::connect(web)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /upload/lobby HTTP/1.1\r\nHost: {web}\r\nCookie: {cookie}\r\nOrigin: http://{web}\r\n\
         X-Natter-Kind: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    match answer.starts_with("HTTP/1.1 201") {
        true => Ok(()),
        false => Err(format!("upload refused: {}", answer.lines().next().unwrap_or("")).into()),
    }
}
