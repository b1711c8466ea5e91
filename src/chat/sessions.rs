//! Login sessions: who is who, how long a session lives, and which one makes
//! way when the chat is full.
//!
//! A session is made by the login form and lives in the browser as a cookie
//! holding a random token. The server keeps only `session::token_key` of the
//! token (a hash), so a copy of the database logs nobody in.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{
    Config, ACCOUNT_SESSION_TTL, CLIENT_ID_MEMORY, STORED_SESSION_BYTES, UNUSED_SESSION_TTL,
};
use crate::storage::{SessionChange, StoredSession};

use super::SessionId;

/// One login.
pub struct Session {
    /// `session::token_key` of the cookie's token.
    token: String,
    pub name: Arc<str>,
    /// Its public id: on its messages, in `hello`. The account's, when it is
    /// logged in to a claimed name; else `session::public_id` of its token.
    pub uid: Arc<str>,
    /// The key of the claimed name's account it is logged in to, if any.
    pub account: Option<String>,
    /// The address (`ratelimit::address_key`) it was made from, which its
    /// count per address is kept by. `None` for sessions from before a
    /// restart: addresses are not stored.
    address: Option<IpAddr>,
    /// Open connections of this session.
    pub(super) conns: usize,
    /// When `conns` last dropped to zero (or when the session was made).
    pub(super) idle_since: Instant,
    /// Whether it has ever opened a WebSocket. Only such sessions are stored
    /// (see `UNUSED_SESSION_TTL`).
    used: bool,
    /// It was loaded from storage at start: its `recent` client ids were
    /// lost with the old process, so a resend is also looked for in the
    /// room's history (see `cmd::post`).
    pub restored: bool,
    /// Recent `client_id`s with the room key and message id they were posted
    /// as, so a page that resends after a reconnect never posts twice.
    recent: VecDeque<(String, String, u64)>,
    /// A bot token's session: what the token grants (see `cmd/bots.rs`).
    pub bot: Option<Grant>,
}

/// What a bot token lets its session do: act in one room, within a scope.
#[derive(Clone, Debug)]
pub struct Grant {
    /// `session::token_key` of the secret.
    pub hash: String,
    /// The room's key, and its name when the token was made.
    pub room: String,
    pub room_name: String,
    pub scope: crate::protocol::Scope,
    /// When its row last had `last_used_ts` written (at most once a
    /// `TOKEN_TOUCH_INTERVAL`).
    pub touched: Option<Instant>,
}

impl Grant {
    /// The token's public id (`StoredToken::id`).
    pub fn id(&self) -> &str {
        &self.hash[..12]
    }
}

/// The key a bot token's session is found by: no cookie's `token_key` can
/// be it (those are hex digits alone).
pub fn bot_key(hash: &str) -> String {
    format!("bot:{hash}")
}

impl Session {
    /// This session as storage keeps it, idle since `idle_since_ms`, in
    /// `rooms` (only when natter stops: see `SessionChange::Save`).
    pub fn stored(&self, idle_since_ms: u64, rooms: Vec<String>) -> SessionChange {
        SessionChange::Save {
            token: self.token.clone(),
            name: self.name.to_string(),
            idle_since_ms,
            rooms,
            account: self.account.clone(),
        }
    }
}

/// A restored session and the rooms it was in when natter stopped.
pub type InRooms = (SessionId, Vec<String>);

/// Every session, with the indexes that make expiry and eviction cheap.
pub struct Sessions {
    pub(super) by_id: HashMap<SessionId, Session>,
    tokens: HashMap<String, SessionId>,
    /// Sessions made from each address (`Session::address`).
    pub(super) per_address: HashMap<IpAddr, BTreeSet<SessionId>>,
    /// Sessions that never opened a socket, oldest first: the first to go
    /// when the chat is full.
    pub(super) unused: BTreeSet<SessionId>,
    /// Sessions that had a socket and have none open now, longest idle
    /// first: the next to go, once idle for `MIN_IDLE_TO_EVICT`.
    pub(super) idle: BTreeSet<(Instant, SessionId)>,
    /// At most this many sessions: `--max-sessions`, or fewer with a
    /// database budget (see `STORED_SESSION_BYTES`).
    pub(super) max: usize,
    pub(super) max_per_address: usize,
    ttl: Duration,
    next_id: SessionId,
}

/// What binds a session to a claimed name: its account's key and public id.
#[derive(Clone, Debug)]
pub struct AccountLogin {
    pub key: String,
    pub uid: Arc<str>,
}

impl Sessions {
    /// The sessions `stored` holds, valid again; the changes to store now
    /// (deletions of those that expired while natter was stopped, and the
    /// rooms of the others cleared, since they are used once); and the rooms
    /// each was in when natter stopped.
    /// `accounts` gives the public id of each account key they name (one
    /// whose account is gone is not restored).
    pub fn restore(
        config: &Config,
        stored: Vec<StoredSession>,
        accounts: &HashMap<String, Arc<str>>,
        now: Instant,
        now_ms: u64,
    ) -> (Sessions, Vec<SessionChange>, Vec<InRooms>) {
        let max = config.db_max_bytes.map_or(config.max_sessions, |budget| {
            ((budget / 4 / STORED_SESSION_BYTES) as usize)
                .max(100)
                .min(config.max_sessions)
        });
        let mut sessions = Sessions {
            by_id: HashMap::new(),
            tokens: HashMap::new(),
            per_address: HashMap::new(),
            unused: BTreeSet::new(),
            idle: BTreeSet::new(),
            max,
            max_per_address: config.max_sessions_per_ip,
            ttl: config.session_ttl,
            next_id: 1,
        };
        let (mut changes, mut in_rooms) = (Vec::new(), Vec::new());
        for s in stored {
            let idle_for = Duration::from_millis(now_ms.saturating_sub(s.idle_since_ms));
            let login = match &s.account {
                None => None,
                Some(key) => match accounts.get(key) {
                    Some(uid) => Some(AccountLogin {
                        key: key.clone(),
                        uid: uid.clone(),
                    }),
                    None => {
                        changes.push(SessionChange::Delete { token: s.token });
                        continue;
                    }
                },
            };
            if idle_for >= sessions.ttl_of(login.is_some()) {
                changes.push(SessionChange::Delete { token: s.token });
                continue;
            }
            let idle_since = now.checked_sub(idle_for).unwrap_or(now);
            let id = sessions.add(s.token, s.name.into(), None, idle_since, true, login);
            sessions.idle.insert((idle_since, id));
            let session = sessions.by_id.get_mut(&id).expect("just added");
            session.restored = true;
            if !s.rooms.is_empty() {
                // After a crash the next start must not find them again.
                changes.push(session.stored(s.idle_since_ms, Vec::new()));
                in_rooms.push((id, s.rooms));
            }
        }
        (sessions, changes, in_rooms)
    }

    fn add(
        &mut self,
        token: String,
        name: Arc<str>,
        address: Option<IpAddr>,
        now: Instant,
        used: bool,
        login: Option<AccountLogin>,
    ) -> SessionId {
        let id = self.next_id;
        self.next_id += 1;
        self.tokens.insert(token.clone(), id);
        let (uid, account) = match login {
            Some(login) => (login.uid, Some(login.key)),
            None => (crate::session::public_id(&token).into(), None),
        };
        let session = Session {
            uid,
            account,
            token,
            name,
            address,
            conns: 0,
            idle_since: now,
            used,
            restored: false,
            recent: VecDeque::new(),
            bot: None,
        };
        self.by_id.insert(id, session);
        id
    }

    /// The sessions with public id `uid` (an account's, on several devices,
    /// or one temporary session's).
    pub fn with_uid(&self, uid: &str) -> Vec<SessionId> {
        let theirs = self.by_id.iter().filter(|(_, s)| &*s.uid == uid);
        theirs.map(|(&id, _)| id).collect()
    }

    /// A new session, not stored yet: only once it opens a socket (`open`),
    /// so that sessions nobody uses never take the database's space.
    pub fn insert(
        &mut self,
        token: String,
        name: Arc<str>,
        address: IpAddr,
        now: Instant,
        login: Option<AccountLogin>,
    ) -> SessionId {
        let id = self.add(token, name, Some(address), now, false, login);
        self.per_address.entry(address).or_default().insert(id);
        self.unused.insert(id);
        id
    }

    /// The session of a bot token, made at its first use since natter
    /// started (`cmd/bots.rs`). It is never stored (the token's row is what
    /// lasts), counts against no address, and is named by the token; its
    /// public id is `bot-` and the token's id.
    pub fn insert_bot(&mut self, grant: Grant, name: Arc<str>, now: Instant) -> SessionId {
        let id = self.add(bot_key(&grant.hash), name, None, now, true, None);
        let s = self.by_id.get_mut(&id).expect("just added");
        s.uid = format!("{}{}", crate::config::BOT_UID_PREFIX, grant.id()).into();
        s.bot = Some(grant);
        // Its `client_id`s of before a restart are in the rooms' history,
        // under its uid, which the token keeps: a resend is found there.
        s.restored = true;
        self.idle.insert((now, id));
        id
    }

    /// Bot sessions with a connection open, and their grants.
    pub fn bots(&self) -> impl Iterator<Item = (SessionId, &Grant)> {
        let open = self.by_id.iter().filter(|(_, s)| s.conns > 0);
        open.filter_map(|(&id, s)| Some((id, s.bot.as_ref()?)))
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.by_id.get_mut(&id)
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The session a cookie's token key belongs to, if it exists and has not
    /// expired. Expiry is checked here, on every lookup, and not only by the
    /// sweep: a session past its time never works again, even for a moment.
    pub fn live(&self, token_key: &str, now: Instant) -> Option<SessionId> {
        let id = *self.tokens.get(token_key)?;
        let session = self.by_id.get(&id)?;
        (!self.is_expired(session, now)).then_some(id)
    }

    /// Whether session `id` exists and has not expired.
    pub fn live_id(&self, id: SessionId, now: Instant) -> bool {
        self.by_id
            .get(&id)
            .is_some_and(|s| !self.is_expired(s, now))
    }

    /// The session a token key belongs to, expired or not (for logout).
    pub fn by_token(&self, token_key: &str) -> Option<SessionId> {
        self.tokens.get(token_key).copied()
    }

    /// A session expires once it has had no open socket for its time to
    /// live: `UNUSED_SESSION_TTL` if it never opened one, else `session_ttl`.
    fn is_expired(&self, session: &Session, now: Instant) -> bool {
        // A bot's session lasts as long as its token: a revoke ends it.
        if session.bot.is_some() {
            return false;
        }
        let ttl = match session.used {
            true => self.ttl_of(session.account.is_some()),
            false => UNUSED_SESSION_TTL.min(self.ttl),
        };
        session.conns == 0 && now.duration_since(session.idle_since) >= ttl
    }

    /// How long a used session lives without a socket: longer when it is
    /// logged in to a claimed name (`ACCOUNT_SESSION_TTL`).
    fn ttl_of(&self, account: bool) -> Duration {
        match account {
            true => self.ttl.max(ACCOUNT_SESSION_TTL),
            false => self.ttl,
        }
    }

    /// Bind session `id` to a claimed name's account (it just claimed it:
    /// the account's public id is the session's own, so its messages stay
    /// its own), or, with `None`, no longer (the claim could not be stored).
    pub fn bind(&mut self, id: SessionId, key: Option<String>) -> Option<&Session> {
        let s = self.by_id.get_mut(&id)?;
        s.account = key;
        Some(s)
    }

    /// Session `id`'s open connections, and when it last had none (ms since
    /// the epoch, `None` while it has some).
    pub fn activity(
        &self,
        id: SessionId,
        now: Instant,
        now_ms: u64,
    ) -> Option<(usize, Option<u64>)> {
        let s = self.by_id.get(&id)?;
        let idle = now.duration_since(s.idle_since).as_millis() as u64;
        Some((s.conns, (s.conns == 0).then(|| now_ms.saturating_sub(idle))))
    }

    /// The sessions logged in to account `key`.
    pub fn of_account(&self, key: &str) -> Vec<SessionId> {
        let theirs = self
            .by_id
            .iter()
            .filter(|(_, s)| s.account.as_deref() == Some(key));
        theirs.map(|(&id, _)| id).collect()
    }

    /// The sessions whose name has this `name_key`, other than `except`.
    pub fn named(&self, name_key: &str, except: SessionId) -> Vec<SessionId> {
        let named = self
            .by_id
            .iter()
            .filter(|(&id, s)| id != except && crate::protocol::name_key(&s.name) == name_key);
        named.map(|(&id, _)| id).collect()
    }

    /// Every session past its time, for the sweep.
    pub fn expired(&self, now: Instant) -> Vec<SessionId> {
        let expired = self.by_id.iter().filter(|(_, s)| self.is_expired(s, now));
        expired.map(|(&id, _)| id).collect()
    }

    /// A connection of `id` opened. `None` if the session is gone or
    /// expired; else whether this was its first socket ever (store it now).
    pub fn open(&mut self, id: SessionId, now: Instant) -> Option<bool> {
        let live = self
            .by_id
            .get(&id)
            .is_some_and(|s| !self.is_expired(s, now));
        if !live {
            return None;
        }
        let s = self.by_id.get_mut(&id).expect("checked above");
        if s.conns == 0 && s.used {
            self.idle.remove(&(s.idle_since, id));
        }
        self.unused.remove(&id);
        s.conns += 1;
        let first_use = !s.used;
        s.used = true;
        Some(first_use)
    }

    /// A connection of `id` closed. When it was the last, the session is
    /// idle from now, and storage is told when (so that after a restart it
    /// still expires on time).
    pub fn close(&mut self, id: SessionId, now: Instant, now_ms: u64) -> Option<SessionChange> {
        let s = self.by_id.get_mut(&id)?;
        s.conns = s.conns.saturating_sub(1);
        if s.conns > 0 {
            return None;
        }
        s.idle_since = now;
        self.idle.insert((now, id));
        // A bot's session is not stored: its token is.
        s.bot.is_none().then(|| s.stored(now_ms, Vec::new()))
    }

    /// Forget a session. Returns its deletion from storage, if it was stored.
    pub fn remove(&mut self, id: SessionId) -> Option<SessionChange> {
        let session = self.by_id.remove(&id)?;
        self.tokens.remove(&session.token);
        self.unused.remove(&id);
        self.idle.remove(&(session.idle_since, id));
        if let Some(address) = session.address {
            if let Some(ids) = self.per_address.get_mut(&address) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.per_address.remove(&address);
                }
            }
        }
        // A claim stores its session at once, used or not (see
        // `Chat::stage_claim`): such a row must go too, or the logged-out
        // token works again after a restart.
        (session.used || session.account.is_some()).then_some(SessionChange::Delete {
            token: session.token,
        })
    }

    /// The id of the message this session already posted in `key` with this
    /// `client_id`, if it did recently.
    pub fn posted(&self, id: SessionId, key: &str, client_id: &str) -> Option<u64> {
        let s = self.by_id.get(&id)?;
        let found = s.recent.iter().find(|(c, k, _)| c == client_id && k == key);
        found.map(|&(_, _, message)| message)
    }

    /// Remember that this session posted `client_id` in `key` as `message`.
    pub fn remember_post(&mut self, id: SessionId, key: &str, client_id: &str, message: u64) {
        let Some(s) = self.by_id.get_mut(&id) else {
            return;
        };
        if s.recent.len() == CLIENT_ID_MEMORY {
            s.recent.pop_front();
        }
        s.recent
            .push_back((client_id.to_string(), key.to_string(), message));
    }

    /// Forget a post that could not be saved, so a resend posts it anew.
    pub fn forget_post(&mut self, id: SessionId, key: &str, message: u64) {
        if let Some(s) = self.by_id.get_mut(&id) {
            s.recent.retain(|(_, k, m)| !(k == key && *m == message));
        }
    }
}
