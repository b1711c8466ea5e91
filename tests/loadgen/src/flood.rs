//! login-flood's traffic beside the chat (issue 15): claimed names, a paced
//! flood of logins with wrong passwords, and a probe that loads a page.
//!
//! - **Claims** (`claim_names`): log a name in, then `POST /account/claim`
//!   with its cookie, one name at a time, so that no claim waits for the
//!   server's password hasher. natter allows one claim per address every
//!   30 s (`CLAIM_INTERVAL`), so each claim says it comes from an address of
//!   its own in `X-Forwarded-For`, which the server believes with
//!   `--trust-proxy`.
//! - **The flood** ([`Flood`]): one pacer thread puts login `n` due at
//!   `n / rate` seconds on a channel, and a few worker threads send each as a
//!   fresh `POST /login` (name, room, a wrong password) on a connection of
//!   its own, each from an address of its own (`X-Forwarded-For`), so
//!   natter's limit per address (20 failures in 15 minutes) never decides
//!   the answer: the limit per name does, or the hasher's turns. The answer's
//!   status and time are counted: 400 (the password was hashed and found
//!   wrong), 429 (refused before hashing: too many failures), 503 (the hasher
//!   was busy).
//! - **The page probe** ([`PageProbe`]): `GET /` every `PROBE_INTERVAL`, timed,
//!   to see whether the flood keeps the page workers from serving pages.
//!
//! Every request is HTTP/1.1 with `Connection: close`, read to the end.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::Error;

/// The password every bench account is claimed with (natter wants 8
/// characters at least, `PASSWORD_MIN_CHARS`).
const PASSWORD: &str = "bench password 15";
/// What the flood tries instead: the same length, never right.
const WRONG_PASSWORD: &str = "wrong password 15";

/// How long one request may take before it counts as failed. natter's
/// longest wait for a hash turn is 5 s (`HASH_WAIT`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Threads sending the flood's logins. Most answers take milliseconds; a
/// login that waits for the hasher takes up to its 5 s, so a few threads
/// keep the pace anyway.
const FLOOD_WORKERS: usize = 16;

/// A login sent this much after it was due counts as late (the generator,
/// not the server, fell behind).
const LATE: Duration = Duration::from_millis(50);

/// How often the probe loads the login page.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The address a request says it comes from: `base + n` as IPv4.
fn address(base: u32, n: u64) -> Ipv4Addr {
    Ipv4Addr::from(base.wrapping_add(n as u32))
}

/// One HTTP answer: its status and its whole text.
struct Answer {
    status: u16,
    text: String,
}

/// Send one request on a fresh connection and read the answer to its end.
fn request(
    web: SocketAddr,
    method: &str,
    path: &str,
    form: Option<&str>,
    cookie: Option<&str>,
    forwarded: Option<Ipv4Addr>,
) -> Result<Answer, Error> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(ip) = forwarded {
        head.push_str(&format!("X-Forwarded-For: {ip}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body);
    let mut stream = TcpStream::connect_timeout(&web, REQUEST_TIMEOUT)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_nodelay(true)?;
    stream.write_all(head.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {:?}", first_line(&text)))?;
    Ok(Answer { status, text })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        form.append_pair(key, value);
    }
    form.finish()
}

/// The `natter_session=...` pair an answer sets (see `client::COOKIE`).
fn session_cookie(answer: &Answer) -> Option<String> {
    answer
        .text
        .split("\r\n\r\n")
        .next()?
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(header, _)| header.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.trim().split(';').next())
        .find(|pair| pair.starts_with("natter_session="))
        .map(str::to_string)
}

/// Claim every name in `names` with [`PASSWORD`]: log it in to `room`, then
/// `POST /account/claim` with its cookie, each from address `base + i`. One
/// at a time; a claim answered 503 (the hasher busy) is tried again.
pub fn claim_names(web: SocketAddr, names: &[String], room: &str, base: u32) -> Result<(), Error> {
    for (i, name) in names.iter().enumerate() {
        let from = Some(address(base, i as u64));
        let login = form(&[("name", name), ("room", room)]);
        let answer = request(web, "POST", "/login", Some(&login), None, from)?;
        let cookie = match (answer.status, session_cookie(&answer)) {
            (303, Some(cookie)) => cookie,
            _ => {
                let status = first_line(&answer.text);
                return Err(format!("login as {name} to claim it: {status}").into());
            }
        };
        let claim = form(&[("password", PASSWORD), ("confirm", PASSWORD)]);
        let mut tries = 0;
        loop {
            tries += 1;
            let answer = request(
                web,
                "POST",
                "/account/claim",
                Some(&claim),
                Some(&cookie),
                from,
            )?;
            match answer.status {
                200 => break,
                503 if tries < 5 => thread::sleep(Duration::from_millis(200)),
                _ => {
                    let body = answer.text.split("\r\n\r\n").nth(1).unwrap_or("");
                    return Err(format!(
                        "claiming {name}: {} {}",
                        first_line(&answer.text),
                        body.trim()
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}

/// Answers and their times, over a window.
#[derive(Default)]
pub struct Tally {
    /// Requests answered (any status) or failed.
    pub sent: u64,
    /// Answers by status: 303/200, 400, 429, 503, anything else.
    pub ok: u64,
    pub wrong: u64,
    pub limited: u64,
    pub busy: u64,
    pub other: u64,
    /// The first status of the `other` kind, for the note.
    pub other_example: Option<String>,
    /// Requests that got no answer (refused connection, timeout, reset).
    pub failed: u64,
    pub first_failure: Option<String>,
    /// Requests sent more than `LATE` after they were due.
    pub late: u64,
    /// Time from connecting to the end of the answer, in nanoseconds.
    times: Vec<u64>,
}

impl Tally {
    fn count(&mut self, result: Result<Answer, Error>, took: Duration) {
        self.sent += 1;
        match result {
            Ok(answer) => {
                self.times.push(took.as_nanos() as u64);
                match answer.status {
                    200 | 303 => self.ok += 1,
                    400 => self.wrong += 1,
                    429 => self.limited += 1,
                    503 => self.busy += 1,
                    _ => {
                        self.other += 1;
                        self.other_example
                            .get_or_insert_with(|| first_line(&answer.text).to_string());
                    }
                }
            }
            Err(err) => {
                self.failed += 1;
                self.first_failure.get_or_insert_with(|| err.to_string());
            }
        }
    }

    /// The time below which a fraction `q` of the answers came (ns).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.times.is_empty() {
            return 0;
        }
        let mut times = self.times.clone();
        times.sort_unstable();
        let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
        times[rank - 1]
    }

    pub fn max(&self) -> u64 {
        self.times.iter().copied().max().unwrap_or(0)
    }
}

/// Who a flood's logins are for: login `n` is for `names[n % names.len()]`,
/// from address `base + n`, and the flood stops by itself after
/// `names.len() * tries_per_name` logins.
pub struct FloodPlan {
    pub names: Vec<String>,
    pub tries_per_name: usize,
    pub room: String,
    pub base: u32,
    pub rate: f64,
}

/// A running flood of wrong-password logins. [`Flood::take`] hands over what
/// was counted since the last take; [`Flood::stop`] ends it.
pub struct Flood {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<JoinHandle<()>>,
}

impl Flood {
    pub fn start(web: SocketAddr, plan: FloodPlan) -> Result<Flood, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (jobs, work) = crossbeam_channel::unbounded::<(u64, Instant)>();
        let plan = Arc::new(plan);
        let mut threads = Vec::new();
        for n in 0..FLOOD_WORKERS {
            let (work, tally, plan) = (work.clone(), tally.clone(), plan.clone());
            threads.push(
                thread::Builder::new()
                    .name(format!("bench-flood-{n}"))
                    .spawn(move || {
                        for (n, due) in work {
                            let late = due.elapsed() > LATE;
                            let name = &plan.names[n as usize % plan.names.len()];
                            let login = form(&[
                                ("name", name),
                                ("room", &plan.room),
                                ("password", WRONG_PASSWORD),
                            ]);
                            let from = Some(address(plan.base, n));
                            let began = Instant::now();
                            let result = request(web, "POST", "/login", Some(&login), None, from);
                            let took = began.elapsed();
                            let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
                            tally.late += u64::from(late);
                            tally.count(result, took);
                        }
                    })?,
            );
        }
        let pacer_stop = stop.clone();
        threads.push(
            thread::Builder::new()
                .name("bench-flood-pacer".into())
                .spawn(move || {
                    let total = (plan.names.len() * plan.tries_per_name) as u64;
                    let interval = Duration::from_secs_f64(1.0 / plan.rate);
                    let begin = Instant::now();
                    for n in 0..total {
                        let due = begin + interval.mul_f64(n as f64);
                        // Sleep in short naps, to notice `stop`.
                        while let Some(wait) = due.checked_duration_since(Instant::now()) {
                            if pacer_stop.load(Relaxed) {
                                return;
                            }
                            thread::sleep(wait.min(Duration::from_millis(50)));
                        }
                        if pacer_stop.load(Relaxed) || jobs.send((n, due)).is_err() {
                            return;
                        }
                    }
                    // Dropping `jobs` ends the workers once the queue is empty.
                })?,
        );
        Ok(Flood {
            stop,
            tally,
            threads,
        })
    }

    /// What was counted since the last take (or the start).
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Stop sending and wait for the logins in flight; returns what they
    /// counted since the last take.
    pub fn stop(self) -> Tally {
        self.stop.store(true, Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Loads `GET /` (the login page) every `PROBE_INTERVAL`, one at a time, for
/// as long as it lives.
pub struct PageProbe {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    thread: Option<JoinHandle<()>>,
}

impl PageProbe {
    pub fn start(web: SocketAddr) -> Result<PageProbe, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (for_thread, counts) = (stop.clone(), tally.clone());
        let thread = thread::Builder::new()
            .name("bench-page-probe".into())
            .spawn(move || {
                let begin = Instant::now();
                for n in 1u32.. {
                    if for_thread.load(Relaxed) {
                        return;
                    }
                    let began = Instant::now();
                    let result = request(web, "GET", "/", None, None, None);
                    let took = began.elapsed();
                    counts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .count(result, took);
                    let next = begin + PROBE_INTERVAL * n;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
            })?;
        Ok(PageProbe {
            stop,
            tally,
            thread: Some(thread),
        })
    }

    /// What was counted since the last take (or the start).
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for PageProbe {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_login_comes_from_an_address_of_its_own() {
        let base = u32::from(Ipv4Addr::new(10, 2, 0, 0));
        assert_eq!(address(base, 0), Ipv4Addr::new(10, 2, 0, 0));
        assert_eq!(address(base, 257), Ipv4Addr::new(10, 2, 1, 1));
    }

    #[test]
    fn answers_are_counted_by_status() {
        let mut tally = Tally::default();
        for (status, ms) in [(400, 70), (429, 1), (429, 2), (503, 3), (418, 4)] {
            let answer = Answer {
                status,
                text: format!("HTTP/1.1 {status} X\r\n\r\n"),
            };
            tally.count(Ok(answer), Duration::from_millis(ms));
        }
        tally.count(Err("refused".into()), Duration::ZERO);
        assert_eq!(
            (
                tally.sent,
                tally.wrong,
                tally.limited,
                tally.busy,
                tally.other
            ),
            (6, 1, 2, 1, 1)
        );
        assert_eq!(tally.failed, 1);
        assert_eq!(tally.quantile(0.5), 3_000_000);
        assert_eq!(tally.max(), 70_000_000);
    }
}
