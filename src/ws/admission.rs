//! The connection caps: how many sockets one address may hold open (and how
//! many of those may still be handshaking), how many connections one session
//! may have, how many the whole server takes, and how refusals are answered.
//!
//! **This file is the hardening edge: a first reading can skip it.** All you
//! need from it to follow a connection is that `accept_loop` asks
//! [`Caps::arrive`] before it spends a thread, that the handshake asks
//! [`Caps::admit`] once it knows the session, and that both hand back guards:
//! a count goes down when its guard is dropped, however the connection ends
//! (a clean close, an error, a panic), so no path can leak a slot.
//!
//! Why count at all: a thread and a socket are the scarce things here. Without
//! these caps one address could hold thousands of half-sent handshakes (each a
//! thread, for up to the handshake timeout) and take every slot from everyone
//! else; one stolen cookie could open connections until the hub's memory ran
//! out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tungstenite::http::StatusCode;

use crate::config::{Config, MAX_REFUSALS_PER_IP, REFUSAL_SLACK};
use crate::ratelimit::address_key;

/// Why a handshake was refused: the HTTP status and a line for the body.
pub(super) type Refusal = (StatusCode, &'static str);

/// Why a socket over `--max-per-ip` is refused.
const TOO_MANY_FROM_ADDRESS: &str = "too many connections from your address (--max-per-ip)";

/// The caps and what they count, shared by every connection thread.
pub(super) struct Caps {
    /// `--max-connections`: admitted connections in all.
    max_connections: usize,
    /// `--max-per-ip`: sockets per address, handshakes included.
    max_per_ip: usize,
    /// Of those, how many may still be handshaking
    /// (`Config::max_pending_per_ip`).
    max_pending_per_ip: usize,
    /// `--max-per-session`.
    max_per_session: usize,
    /// Connection threads alive now, handshakes and refusals included.
    threads: AtomicUsize,
    /// One lock for all the counts: it is taken a few times per connection,
    /// never while doing I/O, so it is never held for long.
    counts: Mutex<Counts>,
}

/// What the caps count.
#[derive(Default)]
struct Counts {
    /// Connections past every check, in all.
    total: usize,
    /// By address (`ratelimit::address_key`, so one IPv6 /64 is one address):
    /// counted at `accept`, before a thread is spawned (behind a trusted proxy,
    /// once the forwarded address is read).
    per_address: HashMap<IpAddr, PerAddress>,
    /// Connections by session (`session::token_key`).
    per_session: HashMap<String, usize>,
}

#[derive(Default)]
struct PerAddress {
    /// Sockets of this address: handshakes in progress and connections.
    open: usize,
    /// Of those, handshakes not finished yet.
    pending: usize,
    /// Refused sockets still being answered (see `MAX_REFUSALS_PER_IP`).
    refusing: usize,
}

impl PerAddress {
    /// Nothing counted: the entry can go, so the map only holds live addresses.
    fn is_empty(&self) -> bool {
        self.open == 0 && self.refusing == 0
    }
}

impl Caps {
    pub(super) fn new(config: &Config) -> Caps {
        Caps {
            max_connections: config.max_connections,
            max_per_ip: config.max_per_ip,
            max_pending_per_ip: config.max_pending_per_ip(),
            max_per_session: config.max_per_session,
            threads: AtomicUsize::new(0),
            counts: Mutex::new(Counts::default()),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // A poisoned lock means a thread panicked while holding it; the counts
        // are plain integers, each update complete, and still usable.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether so many connection threads are alive (handshakes that will be
    /// refused, or never finish) that you should close a new socket at once,
    /// without even a thread to tell it why. `REFUSAL_SLACK` above the cap
    /// leaves room for the refusals that are answered.
    pub(super) fn too_many_threads(&self) -> bool {
        self.threads.load(Ordering::SeqCst) >= self.max_connections + REFUSAL_SLACK
    }

    /// Count one connection thread alive until the guard is dropped (by
    /// unwinding too, so a panicking connection does not leak its place).
    pub(super) fn thread_started(self: &Arc<Self>) -> ThreadCount {
        self.threads.fetch_add(1, Ordering::SeqCst);
        ThreadCount { caps: self.clone() }
    }

    /// Count a new socket from `ip` in, unless its address is at a cap
    /// (`--max-per-ip` sockets, `max_pending_per_ip` of them unfinished;
    /// `pending` says whether this one is still to handshake). A refused
    /// socket is still given a thread to be told why, but only
    /// `MAX_REFUSALS_PER_IP` at once per address; `Err(None)` means not even
    /// that: close it.
    pub(super) fn arrive(
        self: &Arc<Self>,
        ip: IpAddr,
        pending: bool,
    ) -> Result<AddressSlot, Option<Refusing>> {
        let ip = address_key(ip);
        let mut counts = self.counts();
        let mine = counts.per_address.entry(ip).or_default();
        let refusal = if mine.open >= self.max_per_ip {
            Some(TOO_MANY_FROM_ADDRESS)
        } else if pending && mine.pending >= self.max_pending_per_ip {
            Some("too many unfinished handshakes from your address")
        } else {
            None
        };
        match refusal {
            None => {
                mine.open += 1;
                mine.pending += usize::from(pending);
                Ok(AddressSlot {
                    caps: self.clone(),
                    ip,
                    pending,
                })
            }
            Some(why) if mine.refusing < MAX_REFUSALS_PER_IP => {
                mine.refusing += 1;
                Err(Some(Refusing {
                    caps: self.clone(),
                    ip,
                    why: (StatusCode::TOO_MANY_REQUESTS, why),
                }))
            }
            Some(_) => {
                if mine.is_empty() {
                    counts.per_address.remove(&ip);
                }
                Err(None)
            }
        }
    }

    /// Count a socket in against the address its request names, behind a
    /// trusted proxy (where `accept` only saw the proxy). Its request has
    /// arrived, so it is not counted as an unfinished handshake. Refused, it
    /// is told why by the handshake that is answering it anyway.
    pub(super) fn arrive_forwarded(self: &Arc<Self>, ip: IpAddr) -> Result<AddressSlot, Refusal> {
        // Not counted as pending, the only cap it can meet is the address's.
        self.arrive(ip, false)
            .map_err(|_| (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_FROM_ADDRESS))
    }

    /// Count a connection in past the caps in all and, for a chat member, per
    /// session (`session` is its `session::token_key`; an echo peer has no
    /// session and passes `None`). The count goes down when the returned guard
    /// is dropped, however the connection ends.
    pub(super) fn admit(self: &Arc<Self>, session: Option<String>) -> Result<AdmitGuard, Refusal> {
        let mut counts = self.counts();
        if counts.total >= self.max_connections {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is at its connection limit (--max-connections); try again soon",
            ));
        }
        if let Some(session) = &session {
            let mine = counts.per_session.entry(session.clone()).or_insert(0);
            if *mine >= self.max_per_session {
                return Err((
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many connections for one session (--max-per-session)",
                ));
            }
            *mine += 1;
        }
        counts.total += 1;
        Ok(AdmitGuard {
            caps: self.clone(),
            session,
        })
    }

    /// Count a socket out of its address: `open`, and `pending` if it was.
    fn leave(&self, ip: &IpAddr, pending: bool, open: bool) {
        self.release(ip, |mine| {
            mine.pending -= usize::from(pending);
            mine.open -= usize::from(open);
        });
    }

    /// Change an address's counts, and forget the address once nothing of it
    /// is counted any more (so the map holds only addresses in use).
    fn release(&self, ip: &IpAddr, change: impl FnOnce(&mut PerAddress)) {
        let mut counts = self.counts();
        if let Some(mine) = counts.per_address.get_mut(ip) {
            change(mine);
            if mine.is_empty() {
                counts.per_address.remove(ip);
            }
        }
    }
}

/// One connection thread alive; dropping it counts the thread out.
pub(super) struct ThreadCount {
    caps: Arc<Caps>,
}

impl Drop for ThreadCount {
    fn drop(&mut self) {
        self.caps.threads.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One socket counted against its address; dropping it counts it out.
pub(super) struct AddressSlot {
    caps: Arc<Caps>,
    ip: IpAddr,
    /// Still counted as an unfinished handshake.
    pending: bool,
}

impl AddressSlot {
    /// The handshake is over: the socket no longer counts as unfinished, but
    /// still counts as open until the slot is dropped.
    pub(super) fn handshake_done(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.caps.leave(&self.ip, true, false);
        }
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.caps.leave(&self.ip, self.pending, true);
    }
}

/// A refused socket being told so; dropping it counts the refusal out.
pub(super) struct Refusing {
    caps: Arc<Caps>,
    ip: IpAddr,
    /// What to answer its request with.
    pub(super) why: Refusal,
}

impl Drop for Refusing {
    fn drop(&mut self) {
        self.caps.release(&self.ip, |mine| mine.refusing -= 1);
    }
}

/// One admitted connection; dropping it counts the connection out.
pub(super) struct AdmitGuard {
    caps: Arc<Caps>,
    session: Option<String>,
}

impl Drop for AdmitGuard {
    fn drop(&mut self) {
        let mut counts = self.caps.counts();
        counts.total -= 1;
        if let Some(session) = &self.session {
            if let Some(n) = counts.per_session.get_mut(session) {
                *n -= 1;
                if *n == 0 {
                    counts.per_session.remove(session);
                }
            }
        }
    }
}

/// A socket's standing with its address's caps, decided at `accept`.
pub(super) enum Arrival {
    /// Counted in against its address, as an unfinished handshake.
    Counted(AddressSlot),
    /// Over a cap: its request is read only to be answered with why.
    Refused(Refusing),
    /// Behind a trusted proxy every socket comes from the proxy, so the real
    /// address is only known from the request: the handshake counts it.
    Uncounted,
}

/// What a connection holds against the caps for as long as it lasts. Dropping
/// it, when the connection thread returns, gives every place back.
pub(super) struct Held {
    /// Never read: it is here to be dropped.
    pub(super) _admitted: AdmitGuard,
    /// Its address's count, from `accept` or (behind a trusted proxy) from the
    /// handshake. `None` only for an echo peer behind a trusted proxy, which
    /// the handshake does not look at.
    pub(super) address: Option<AddressSlot>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(config: Config) -> Arc<Caps> {
        Arc::new(Caps::new(&config))
    }

    #[test]
    fn caps_refuse_and_release() {
        let config = Config {
            max_connections: 3,
            max_per_ip: 2,
            max_per_session: 2,
            ..Config::default()
        };
        let c = caps(config);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = c.arrive(a, true).ok().unwrap();
        let _second = c.arrive(a, true).ok().unwrap();
        // The third from that address is refused, and told why ...
        let refusing = c.arrive(a, true).err().unwrap().unwrap();
        assert_eq!(refusing.why.0, StatusCode::TOO_MANY_REQUESTS);
        let _also: Vec<_> = (1..crate::config::MAX_REFUSALS_PER_IP)
            .map(|_| c.arrive(a, true).err().unwrap().unwrap())
            .collect();
        // ... but only so many refusals are answered at once.
        assert!(c.arrive(a, true).err().unwrap().is_none());
        drop(first);
        assert!(c.arrive(a, true).is_ok());

        // Sessions and the total.
        let s1 = c.admit(Some("s1".into())).unwrap();
        let _s1b = c.admit(Some("s1".into())).unwrap();
        assert_eq!(
            c.admit(Some("s1".into())).err().unwrap().0,
            StatusCode::TOO_MANY_REQUESTS
        );
        let _s2 = c.admit(Some("s2".into())).unwrap();
        assert_eq!(
            c.admit(Some("s3".into())).err().unwrap().0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(s1);
        assert!(c.admit(Some("s3".into())).is_ok());
    }

    #[test]
    fn unfinished_handshakes_are_capped_per_address_and_ipv6_slash_64() {
        let c = caps(Config::default());
        let mut slots: Vec<_> = (0..crate::config::MAX_PENDING_HANDSHAKES_PER_IP)
            .map(|i| {
                let ip: IpAddr = format!("2001:db8::{:x}", i + 1).parse().unwrap();
                c.arrive(ip, true).ok().unwrap()
            })
            .collect();
        // Another address of the same /64 is the same address.
        let ip: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert!(c.arrive(ip, true).is_err());
        // A finished handshake frees its pending place, not its connection.
        slots[0].handshake_done();
        assert!(c.arrive(ip, true).is_ok());
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert!(c.arrive(other, true).is_ok());
    }

    #[test]
    fn a_thread_count_is_given_back_when_dropped() {
        let config = Config {
            max_connections: 1,
            ..Config::default()
        };
        let c = caps(config);
        let threads: Vec<_> = (0..=REFUSAL_SLACK).map(|_| c.thread_started()).collect();
        assert!(c.too_many_threads());
        drop(threads);
        assert!(!c.too_many_threads());
    }
}
