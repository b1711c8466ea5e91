//! `natter token create ROOM NAME [--scope post|read|bot] | list [ROOM] |
//! revoke ID [--db PATH]`: bot tokens made by the operator rather than by a
//! room's owner (`cmd/bots.rs` has what a token may do).
//!
//! It works on the database file directly, so it works whether natter runs
//! or not: every use of a token reads its row, so a token made here works
//! at once, and one revoked here stops at its next use (an open WebSocket
//! of it within `TOKEN_CHECK_INTERVAL`).

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::account_cli::date;
use crate::config::{DEFAULT_DB, TOKEN_PREFIX};
use crate::protocol::{check_name, check_room, now_millis, room_key, Scope};
use crate::session::{new_token, token_key};
use crate::storage::{Batch, RoomWrite, Sqlite, Store, StoredToken};

const USAGE: &str = "usage: natter token create ROOM NAME [--scope post|read|bot] [--db PATH]
                                      a token for bot NAME in ROOM (default scope: post);
                                      its secret is printed once
       natter token list [ROOM] [--db PATH]   every token (or ROOM's live ones)
       natter token revoke ID [--db PATH]     it stops working at its next use";

pub fn main(mut args: pico_args::Arguments) -> ExitCode {
    let db: String = match args.opt_value_from_str("--db") {
        Ok(db) => db.unwrap_or_else(|| DEFAULT_DB.to_string()),
        Err(err) => return usage(&format!("bad value for --db: {err}")),
    };
    let scope = match args.opt_value_from_str::<_, String>("--scope") {
        Ok(None) => Scope::Post,
        Ok(Some(word)) => match Scope::parse(&word) {
            Some(scope) => scope,
            None => return usage(&format!("--scope takes post, read or bot, not {word:?}")),
        },
        Err(err) => return usage(&format!("bad value for --scope: {err}")),
    };
    let command = args.subcommand().ok().flatten();
    let first = args.opt_free_from_str::<String>().ok().flatten();
    let second = args.opt_free_from_str::<String>().ok().flatten();
    if let Some(extra) = args.finish().first() {
        return usage(&format!("unknown argument {:?}", extra.to_string_lossy()));
    }
    let run = |f: &dyn Fn(&mut Sqlite) -> Result<String, String>| {
        let mut store = Sqlite::open(&db, None)?;
        f(&mut store)
    };
    let result = match (command.as_deref(), first, second) {
        (Some("create"), Some(room), Some(name)) => run(&|s| {
            s.refuse_if_clustered()?;
            create(s, &room, &name, scope)
        }),
        (Some("list"), room, None) => run(&|s| list(s, room.as_deref())),
        (Some("revoke"), Some(id), None) => run(&|s| {
            s.refuse_if_clustered()?;
            revoke(s, &id)
        }),
        _ => return usage("say create ROOM NAME, list [ROOM] or revoke ID"),
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("natter token: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Make a token and print its secret, once.
fn create(store: &mut Sqlite, room: &str, name: &str, scope: Scope) -> Result<String, String> {
    let room = check_room(room).map_err(|r| r.message)?;
    if crate::protocol::is_dm_name(&room) {
        return Err("a direct message is two people's: it has no bots".into());
    }
    let name = check_name(name)?;
    let key = room_key(&room);
    let wanted = crate::protocol::name_key(&name);
    let live = store.tokens(Some(&key))?;
    if live.len() >= crate::config::MAX_TOKENS_PER_ROOM {
        return Err(format!(
            "#{room} has {} bot tokens, the most a room may; revoke one first",
            live.len()
        ));
    }
    if live
        .iter()
        .any(|t| crate::protocol::name_key(&t.name) == wanted)
    {
        return Err(format!(
            "#{room} has a bot named \u{201c}{name}\u{201d} already"
        ));
    }
    if store.account(&wanted)?.is_some() {
        return Err(format!("\u{201c}{name}\u{201d} is someone's claimed name"));
    }
    let secret = new_token().map_err(|e| format!("no randomness: {e}"))?;
    let secret = format!("{TOKEN_PREFIX}{secret}");
    let token = StoredToken {
        hash: token_key(&secret),
        room: key.clone(),
        room_name: room.clone(),
        name,
        scope,
        created_by: "operator".into(),
        created_ms: now_millis(),
        last_used_ms: None,
        revoked: false,
    };
    let id = token.id().to_string();
    commit(store, key, room.clone(), RoomWrite::Token(token))?;
    Ok(format!(
        "{secret}\n\
         (token {id} for #{room}, scope {}: shown once, keep it secret)\n\
         webhook: POST /hooks/{secret}\n",
        scope.as_str()
    ))
}

/// One line per token: id, room, name, scope, made by and when, last used.
fn list(store: &mut Sqlite, room: Option<&str>) -> Result<String, String> {
    let key = match room {
        Some(room) => Some(room_key(&check_room(room).map_err(|r| r.message)?)),
        None => None,
    };
    let mut out = String::new();
    for t in store.tokens(key.as_deref())? {
        let used = t
            .last_used_ms
            .map_or("never used".into(), |ms| format!("used {}", date(ms)));
        let state = if t.revoked { "\trevoked" } else { "" };
        let _ = writeln!(
            out,
            "{}\t#{}\t{}\t{}\tby {} {}\t{used}{state}",
            t.id(),
            t.room_name,
            t.name,
            t.scope.as_str(),
            t.created_by,
            date(t.created_ms),
        );
    }
    if out.is_empty() {
        out.push_str("no bot tokens\n");
    }
    Ok(out)
}

/// Revoke the live token with this id.
fn revoke(store: &mut Sqlite, id: &str) -> Result<String, String> {
    let all = store.tokens(None)?;
    let Some(t) = all.iter().find(|t| t.id() == id && !t.revoked) else {
        return Err(format!(
            "there is no live token {id:?} (see natter token list)"
        ));
    };
    let write = RoomWrite::Untoken {
        hash: t.hash.clone(),
    };
    commit(store, t.room.clone(), t.room_name.clone(), write)?;
    Ok(format!(
        "revoked token {id} (\u{201c}{}\u{201d} in #{})\n",
        t.name, t.room_name
    ))
}

fn commit(store: &mut Sqlite, key: String, room: String, write: RoomWrite) -> Result<(), String> {
    store.commit(&Batch {
        rooms: vec![(key, room, write)],
        ..Batch::default()
    })
}

fn usage(message: &str) -> ExitCode {
    eprintln!("natter token: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
