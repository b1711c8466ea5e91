//! Bots: room-scoped tokens, and the callers that use them.
//!
//! A room's owner makes a token (`create_token`) with a name and a scope;
//! its secret (`ntb_` and 128 random bits) is shown once, and only its hash
//! is stored (`storage/tokens.rs`). Whoever holds the secret acts in that one
//! room under that name, as a session of its own (`Sessions::insert_bot`):
//!
//! - **post**: an incoming webhook (`POST /hooks/<secret>`) or
//!   `POST /api/v1/rooms/<room>/messages`;
//! - **read**: `GET /api/v1/rooms/<room>/messages?since=` (a long-poll), or a
//!   WebSocket `join`;
//! - **bot**: both, and react, edit and delete its own messages, over HTTP
//!   or a WebSocket opened with `Authorization: Bearer <secret>`.
//!
//! Every one of these goes through the same commands as a person's frames
//! (`post::apply`, `join::joined_frame`, ...), so the rules (text limits,
//! mutes, dedupe by `client_id`, commit before you tell) are written once.
//! What differs is said here: [`gate`] keeps a bot to its room and scope,
//! its budget is the token's own (`--bot-rate-limit`, not its address's),
//! its name comes from the token and never from the request, and its
//! messages carry `bot: true` for the page's BOT badge.
//!
//! An HTTP request has no socket: it is a caller whose connection id is
//! above `HTTP_CALLERS`, and the first frame the rules send it is its answer
//! (`Chat::reply`), which `web/bots.rs` turns into an HTTP status and body.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::room::asker;
use crate::chat::{bot_key, Caller, Chat, Grant, Poll, SessionId, Then};
use crate::config::{
    MAX_POLL_WAITERS, MAX_REPLY_BYTES, MAX_TOKENS_PER_ROOM, RATE_COST_READ, RATE_COST_TOKEN,
    TOKEN_PREFIX, TOKEN_TOUCH_INTERVAL,
};
use crate::protocol::{
    self, name_key, now_millis, room_key, CreateToken, ErrorCode, ListTokens, Post, Rejection,
    Reply, Request, RevokeToken, Role, Scope, TokenEntry,
};
use crate::session::{new_token, token_key};
use crate::storage::{RoomWrite, StoredToken};

// -- the owner's requests ------------------------------------------------------

pub fn create(
    chat: &mut Chat,
    caller: &Caller,
    CreateToken { room, name, scope }: CreateToken,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(chat, caller, &room, Role::Owner, RATE_COST_TOKEN, now)? else {
        return Ok(());
    };
    let refuse = |code, message: String| Err(Rejection::new(code, message).in_room(&a.room));
    let live = live_tokens(chat, &a.key).map_err(|r| r.in_room(&a.room))?;
    if live.len() >= MAX_TOKENS_PER_ROOM {
        let message = format!(
            "#{} has {MAX_TOKENS_PER_ROOM} bot tokens, the most a room may; revoke one first",
            a.room
        );
        return refuse(ErrorCode::LimitReached, message);
    }
    let wanted = name_key(&name);
    let r = chat.room(&a.key).expect("members' rooms are loaded");
    let someone_here = r.present.values().any(|p| p.key == wanted);
    if live.iter().any(|t| name_key(&t.name) == wanted) || someone_here {
        let message = format!("the name \"{name}\" is already taken in #{}", a.room);
        return refuse(ErrorCode::NameTaken, message);
    }
    if let Ok(Some(_)) = chat.store().account(&wanted) {
        let message = format!("\"{name}\" is someone's claimed name; pick another for the bot");
        return refuse(ErrorCode::NameTaken, message);
    }
    let Ok(secret) = new_token() else {
        let message = "the system's random source failed; try again";
        return refuse(ErrorCode::StorageFailed, message.into());
    };
    let secret = format!("{TOKEN_PREFIX}{secret}");
    let token = StoredToken {
        hash: token_key(&secret),
        room: a.key.clone(),
        room_name: a.room.clone(),
        name,
        scope,
        created_by: a.name.to_string(),
        created_ms: a.now_ms,
        last_used_ms: None,
        revoked: false,
    };
    let frame = protocol::encode(&Reply::TokenCreated {
        room: &a.room,
        id: token.id(),
        name: &token.name,
        scope,
        token: &secret,
        hook_url: &format!("/hooks/{secret}"),
    });
    let then = vec![Then::Reply(caller.conn, frame)];
    let writes = vec![RoomWrite::Token(token)];
    chat.stage_room(&a.key, writes, caller.conn, false, then);
    Ok(())
}

pub fn list(
    chat: &mut Chat,
    caller: &Caller,
    ListTokens { room }: ListTokens,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(chat, caller, &room, Role::Owner, RATE_COST_READ, now)? else {
        return Ok(());
    };
    let live = live_tokens(chat, &a.key).map_err(|r| r.in_room(&a.room))?;
    let tokens: Vec<TokenEntry> = live.iter().map(entry).collect();
    let frame = protocol::encode(&Reply::Tokens {
        room: &a.room,
        tokens: &tokens,
    });
    chat.reply(caller.conn, frame);
    Ok(())
}

pub fn revoke(
    chat: &mut Chat,
    caller: &Caller,
    RevokeToken { room, id }: RevokeToken,
    now: Instant,
) -> Result<(), Rejection> {
    let Some(a) = asker(chat, caller, &room, Role::Owner, RATE_COST_TOKEN, now)? else {
        return Ok(());
    };
    let live = live_tokens(chat, &a.key).map_err(|r| r.in_room(&a.room))?;
    let Some(token) = live.iter().find(|t| t.id() == id) else {
        let message = format!("#{} has no live bot token {id:?}", a.room);
        return Err(Rejection::new(ErrorCode::NotFound, message).in_room(&a.room));
    };
    let frame = protocol::encode(&Reply::TokenRevoked {
        room: &a.room,
        id: &id,
    });
    // Once stored: the owner is told, and whatever the token has open ends.
    let then = vec![
        Then::Reply(caller.conn, frame),
        Then::EndSession(bot_key(&token.hash)),
    ];
    let writes = vec![RoomWrite::Untoken {
        hash: token.hash.clone(),
    }];
    chat.stage_room(&a.key, writes, caller.conn, false, then);
    Ok(())
}

/// Room `key`'s live tokens, from storage (never cached: see
/// `storage/tokens.rs`).
fn live_tokens(chat: &mut Chat, key: &str) -> Result<Vec<StoredToken>, Rejection> {
    chat.store().tokens(Some(key)).map_err(|err| {
        Rejection::new(
            ErrorCode::StorageFailed,
            format!("could not read the room's bot tokens: {err}"),
        )
    })
}

/// A token as `tokens` lists it.
pub fn entry(t: &StoredToken) -> TokenEntry {
    TokenEntry {
        id: t.id().to_string(),
        name: t.name.clone(),
        scope: t.scope,
        created_by: t.created_by.clone(),
        created_ts: t.created_ms,
        last_used_ts: t.last_used_ms,
    }
}

// -- who a secret is -----------------------------------------------------------

/// The session of the token `secret`, made at its first use since natter
/// started: `bad_token` unless it is a live token. Its row is read on every
/// use, so a revoke by `natter token revoke` holds at once.
pub fn authenticate(chat: &mut Chat, secret: &str, now: Instant) -> Result<SessionId, Rejection> {
    match secret_key(secret) {
        Some(hash) => authenticate_key(chat, &hash, now),
        None => Err(bad_token()),
    }
}

/// `token_key` of a bot token's secret, or `None` for what cannot be one.
pub fn secret_key(secret: &str) -> Option<String> {
    secret.starts_with(TOKEN_PREFIX).then(|| token_key(secret))
}

fn bad_token() -> Rejection {
    Rejection::new(
        ErrorCode::BadToken,
        "that bot token is not valid: it was revoked, or never was one",
    )
}

/// [`authenticate`], given the secret's `token_key`.
pub fn authenticate_key(chat: &mut Chat, hash: &str, now: Instant) -> Result<SessionId, Rejection> {
    let bad = bad_token;
    let hash = hash.to_string();
    let token = match chat.store().token(&hash) {
        Ok(Some(token)) if !token.revoked => token,
        Ok(_) => {
            // Revoked beside natter (`natter token revoke`): its session,
            // if it has one, ends now.
            if let Some(id) = chat.sessions().by_token(&bot_key(&hash)) {
                chat.end_session(id);
            }
            return Err(bad());
        }
        Err(err) => {
            let message = format!("could not check the token: {err}");
            return Err(Rejection::new(ErrorCode::StorageFailed, message));
        }
    };
    let key = bot_key(&hash);
    if let Some(id) = chat.sessions().live(&key, now) {
        return Ok(id);
    }
    // Expired (idle past its time) and not swept yet: it goes first, so the
    // new session is the only one its key finds.
    if let Some(old) = chat.sessions().by_token(&key) {
        chat.end_session(old);
    }
    let grant = Grant {
        hash,
        room: token.room,
        room_name: token.room_name,
        scope: token.scope,
        touched: None,
    };
    let name: Arc<str> = token.name.into();
    Ok(chat.sessions_mut().insert_bot(grant, name, now))
}

/// What session `id`'s token grants, if it is a bot's.
pub fn grant(chat: &Chat, id: SessionId) -> Option<&Grant> {
    chat.session(id)?.bot.as_ref()
}

/// Record that the token was used (its room `key` is loaded), at most once
/// a `TOKEN_TOUCH_INTERVAL`: the owner's list shows when each was last used.
pub fn touch(chat: &mut Chat, session: SessionId, key: &str, now: Instant) {
    let Some(grant) = chat
        .sessions_mut()
        .get_mut(session)
        .and_then(|s| s.bot.as_mut())
    else {
        return;
    };
    if grant
        .touched
        .is_some_and(|at| now.saturating_duration_since(at) < TOKEN_TOUCH_INTERVAL)
    {
        return;
    }
    grant.touched = Some(now);
    let write = RoomWrite::TokenUsed {
        hash: grant.hash.clone(),
        ms: now_millis(),
    };
    // Applied at once (there is nothing in memory to apply): a failure to
    // store a timestamp is only logged.
    chat.stage_room(key, vec![write], crate::chat::NOBODY, true, Vec::new());
}

/// Keep a bot to its token: its own room only, and only what its scope
/// allows. Anything else is `forbidden`, saying what the token may do.
pub fn gate(chat: &Chat, caller: &Caller, request: &Request) -> Result<(), Rejection> {
    let Some(grant) = grant(chat, caller.session) else {
        return Ok(());
    };
    let (room, needs) = match request {
        Request::Join(j) => (&j.room, Need::Read),
        Request::Leave(l) => (&l.room, Need::Read),
        Request::History(h) => (&h.room, Need::Read),
        Request::Typing(t) => (&t.room, Need::Read),
        Request::Message(m) => (&m.room, Need::Post),
        Request::Edit(e) => (&e.room, Need::Own),
        Request::Delete(d) => (&d.room, Need::Own),
        Request::React(r) => (&r.room, Need::Own),
        _ => {
            let message = "a bot token may join, read and (with its scope) post, react, \
                           edit and delete in its room; nothing else";
            return Err(Rejection::new(ErrorCode::Forbidden, message));
        }
    };
    if room_key(room) != grant.room {
        let message = format!("this bot token is for #{} only", grant.room_name);
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(room.as_str()));
    }
    let allowed = match needs {
        Need::Read => grant.scope.may_read(),
        Need::Post => grant.scope.may_post(),
        Need::Own => grant.scope == Scope::Bot,
    };
    if !allowed {
        let message = format!(
            "this bot token's scope is \"{}\": it may not do that",
            grant.scope.as_str()
        );
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(room.as_str()));
    }
    Ok(())
}

/// What a request needs of a token's scope.
enum Need {
    Read,
    Post,
    /// React, edit or delete (its own): the `bot` scope.
    Own,
}

// -- HTTP callers (`web/bots.rs` asks; the answer is the first frame) ---------

/// A caller for a bot's HTTP request, in its room `key` (loaded), with room
/// for a whole `joined`.
fn http_caller(session: SessionId, address: IpAddr, conn: crate::chat::ConnId) -> Caller {
    Caller {
        session,
        address,
        conn,
        room_for_reply: 2 * MAX_REPLY_BYTES,
    }
}

/// The token `secret`'s session, with its grant checked against `room`
/// (`None`: the token's own room, for a webhook) and the scope it `needs`;
/// the room is loaded. Returns the session, the room's key and name.
fn open(
    chat: &mut Chat,
    secret: &str,
    room: Option<&str>,
    may: fn(Scope) -> bool,
    now: Instant,
) -> Result<(SessionId, String, String), Rejection> {
    let session = authenticate(chat, secret, now)?;
    let grant = grant(chat, session).expect("`authenticate` gives a bot's session");
    let (key, name, scope) = (grant.room.clone(), grant.room_name.clone(), grant.scope);
    if room.is_some_and(|room| room_key(room) != key) {
        let message = format!("this bot token is for #{name} only");
        return Err(Rejection::new(ErrorCode::Forbidden, message));
    }
    if !may(scope) {
        let message = format!(
            "this bot token's scope is \"{}\": it may not do that",
            scope.as_str()
        );
        return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(name.as_str()));
    }
    let display = chat
        .load_room(&key, &name)
        .map_err(|err| {
            let message = format!("could not load the room: {err}");
            Rejection::new(ErrorCode::StorageFailed, message)
        })?
        .name
        .to_string();
    touch(chat, session, &key, now);
    Ok((session, key, display))
}

/// A post from the webhook or the API (`room: None`: the token's own room).
/// Answered with the stored message once committed, or an error frame.
pub fn post(
    chat: &mut Chat,
    secret: &str,
    room: Option<&str>,
    mut post: Post,
    ip: IpAddr,
    answer: Sender<Arc<[u8]>>,
    now: Instant,
) {
    let conn = chat.http_caller(answer, now);
    let outcome =
        open(chat, secret, room, Scope::may_post, now).and_then(|(session, key, name)| {
            // A reply's answer quotes its original: reading, which `post` may not.
            let scope = grant(chat, session).map(|g| g.scope);
            if post.reply_to.is_some() && scope == Some(Scope::Post) {
                let message =
                    "a post token cannot reply: a reply quotes the room, which it may not read";
                return Err(Rejection::new(ErrorCode::Forbidden, message).in_room(name.as_str()));
            }
            post.room = name;
            let caller = http_caller(session, ip, conn);
            let outcome = super::post::apply(chat, &caller, post, now);
            chat.maybe_idle(&key);
            outcome
        });
    if let Err(rejection) = outcome {
        chat.refuse(conn, &rejection);
    }
}

/// A read of the API: what `join` with `since` would answer, at once when
/// there is something new (or no `since`), else once there is, or after
/// `wait` (a long-poll).
#[allow(clippy::too_many_arguments)]
pub fn read(
    chat: &mut Chat,
    secret: &str,
    room: &str,
    since: Option<u64>,
    epoch: Option<&str>,
    wait: Duration,
    ip: IpAddr,
    answer: Sender<Arc<[u8]>>,
    now: Instant,
) {
    let conn = chat.http_caller(answer, now);
    let outcome = open(chat, secret, Some(room), Scope::may_read, now);
    let (session, key, name) = match outcome {
        Ok(opened) => opened,
        Err(rejection) => return chat.refuse(conn, &rejection),
    };
    let caller = http_caller(session, ip, conn);
    if !chat.charge(&caller, RATE_COST_READ, None, now) {
        chat.maybe_idle(&key);
        return;
    }
    let foreign = epoch.is_some_and(|e| e != &**chat.epoch());
    let r = chat.room(&key).expect("loaded by `open`");
    let nothing_new = since.is_some_and(|since| since == r.last_told && since < r.next_id);
    if nothing_new && !foreign && !wait.is_zero() {
        if chat.polls.len() >= MAX_POLL_WAITERS {
            let message = format!(
                "{MAX_POLL_WAITERS} long-polls are waiting already; try again in a few seconds"
            );
            let mut rejection = Rejection::new(ErrorCode::LimitReached, message).in_room(name);
            rejection.retry_after = Some(5);
            return chat.refuse(conn, &rejection);
        }
        chat.polls.push(Poll {
            conn,
            session,
            key,
            since: since.expect("`nothing_new` needs a `since`"),
            deadline: now + wait,
        });
        return;
    }
    let frame = super::join::joined_frame(chat, &caller, &key, since, foreign && since.is_some());
    chat.reply(conn, frame);
    chat.maybe_idle(&key);
}

/// Answer the long-polls whose room has something new, or whose wait is
/// over (all of them with `all`, at shutdown). The hub calls this after
/// each pass's delivery, when `last_told` has moved.
pub fn polls(chat: &mut Chat, now: Instant, all: bool) {
    let (due, waiting): (Vec<Poll>, Vec<Poll>) =
        std::mem::take(&mut chat.polls).into_iter().partition(|p| {
            all || now >= p.deadline || chat.room(&p.key).is_none_or(|r| r.last_told != p.since)
        });
    chat.polls = waiting;
    for poll in due {
        chat.maybe_idle(&poll.key);
        if chat.session(poll.session).is_none() || chat.room(&poll.key).is_none() {
            let message = "the token's session ended while it waited; ask again";
            let mut rejection = Rejection::new(ErrorCode::StorageFailed, message);
            rejection.retry_after = Some(1);
            chat.refuse(poll.conn, &rejection);
            continue;
        }
        let caller = http_caller(
            poll.session,
            std::net::Ipv4Addr::UNSPECIFIED.into(),
            poll.conn,
        );
        let frame = super::join::joined_frame(chat, &caller, &poll.key, Some(poll.since), false);
        chat.reply(poll.conn, frame);
    }
}

/// May token `secret` open a WebSocket? Only to read (`read` or `bot`): a
/// `post` token is a webhook's. Charged to the token's budget.
pub fn admit(chat: &mut Chat, secret: &str, now: Instant) -> Result<SessionId, Rejection> {
    match secret_key(secret) {
        Some(hash) => admit_key(chat, &hash, now),
        None => Err(bad_token()),
    }
}

/// [`admit`], given the secret's `token_key`.
pub fn admit_key(chat: &mut Chat, hash: &str, now: Instant) -> Result<SessionId, Rejection> {
    let session = authenticate_key(chat, hash, now)?;
    let grant = grant(chat, session).expect("`authenticate` gives a bot's session");
    if !grant.scope.may_read() {
        let message = "a post token is for the webhook and the HTTP API, not a WebSocket";
        return Err(Rejection::new(ErrorCode::Forbidden, message));
    }
    Ok(session)
}

/// Open bot connections whose token was revoked beside natter (`natter
/// token revoke`) end: checked by the hub once a minute.
pub fn recheck(chat: &mut Chat) {
    let bots: Vec<(SessionId, String)> = chat
        .sessions()
        .bots()
        .map(|(id, grant)| (id, grant.hash.clone()))
        .collect();
    for (id, hash) in bots {
        // A read that fails keeps the connection: the next check tries again.
        if let Ok(found) = chat.store().token(&hash) {
            if found.is_none_or(|t| t.revoked) {
                chat.end_session(id);
            }
        }
    }
}
