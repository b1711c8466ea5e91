//! `natter account list | reset NAME | delete NAME [--db PATH]`: what an
//! operator can do for people who claimed names. natter has no email, so a
//! forgotten password cannot be reset by its owner: `reset` makes a new one
//! and prints it, once, for the operator to pass on.
//!
//! It works on the database file directly, so it works whether natter runs
//! or not. A reset or a delete counts for the next login at once (logins
//! read the account from the file); sessions already logged in keep going
//! until they log out, expire, or natter restarts (a deleted account's
//! sessions go with it).

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::config::DEFAULT_DB;
use crate::passwords::hash_now;
use crate::protocol::{check_name, name_key};
use crate::storage::{AccountChange, Batch, Sqlite, Store};

const USAGE: &str = "usage: natter account list [--db PATH]
       natter account reset NAME [--db PATH]   print a new password for NAME
       natter account delete NAME [--db PATH]  free NAME (its sessions end)";

/// Random bytes of a password `reset` makes: 80 bits, as 20 hex digits.
const RESET_PASSWORD_BYTES: usize = 10;

pub fn main(mut args: pico_args::Arguments) -> ExitCode {
    let db: String = match args.opt_value_from_str("--db") {
        Ok(db) => db.unwrap_or_else(|| DEFAULT_DB.to_string()),
        Err(err) => return usage(&format!("bad value for --db: {err}")),
    };
    let command = args.subcommand().ok().flatten();
    let name = args.free_from_str::<String>().ok();
    if let Some(extra) = args.finish().first() {
        return usage(&format!("unknown argument {:?}", extra.to_string_lossy()));
    }
    let mut store = match Sqlite::open(&db, None) {
        Ok(store) => store,
        Err(err) => return fail(&err),
    };
    let result = match (command.as_deref(), name) {
        (Some("list"), None) => list(&mut store),
        (Some("reset"), Some(name)) => store
            .refuse_if_clustered()
            .and_then(|()| reset(&mut store, &name)),
        (Some("delete"), Some(name)) => store
            .refuse_if_clustered()
            .and_then(|()| delete(&mut store, &name)),
        _ => return usage("say list, reset NAME or delete NAME"),
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

/// One line per claimed name: the name, its public id, when it was claimed.
fn list(store: &mut Sqlite) -> Result<String, String> {
    let mut out = String::new();
    for a in store.accounts()? {
        let _ = writeln!(out, "{}\t{}\tclaimed {}", a.name, a.uid, date(a.created_ms));
    }
    if out.is_empty() {
        out.push_str("no claimed names\n");
    }
    Ok(out)
}

/// A new random password for `name`, printed once; the old one stops working.
fn reset(store: &mut Sqlite, name: &str) -> Result<String, String> {
    let mut account = find(store, name)?;
    let mut bytes = [0u8; RESET_PASSWORD_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let password: String = bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    account.phc = hash_now(&password);
    let name = account.name.clone();
    commit(store, AccountChange::Save(account))?;
    Ok(format!(
        "new password for \u{201c}{name}\u{201d} (shown once; pass it on, and have it changed): {password}\n"
    ))
}

/// Free `name`: the account and its sessions are deleted.
fn delete(store: &mut Sqlite, name: &str) -> Result<String, String> {
    let account = find(store, name)?;
    commit(store, AccountChange::Delete { key: account.key })?;
    Ok(format!("\u{201c}{}\u{201d} is free again\n", account.name))
}

fn find(store: &mut Sqlite, name: &str) -> Result<crate::storage::StoredAccount, String> {
    let name = check_name(name)?;
    store
        .account(&name_key(&name))?
        .ok_or_else(|| format!("nobody claimed \u{201c}{name}\u{201d}"))
}

fn commit(store: &mut Sqlite, change: AccountChange) -> Result<(), String> {
    store.commit(&Batch {
        accounts: vec![change],
        ..Batch::default()
    })
}

/// A day, as `YYYY-MM-DD` (UTC), from ms since the epoch.
pub(crate) fn date(ms: u64) -> String {
    let mut day = crate::web::utc(ms);
    day.truncate("YYYY-MM-DD".len());
    day
}

fn usage(message: &str) -> ExitCode {
    eprintln!("natter account: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("natter account: {message}");
    ExitCode::FAILURE
}
