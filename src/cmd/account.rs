//! What the person behind a claimed name can do with it (from the web
//! threads): see their sessions and log them all out, change the password,
//! set a profile, and release the name, with or without erasing their
//! messages. A password is checked (or hashed) on the web thread first; the
//! hub gets the account's hash that was checked, and refuses if it changed
//! meanwhile. Changes are stored before the answer (`Chat::stage_account`).

use std::time::Instant;

use crossbeam_channel::Sender;
use serde::Serialize;

use crate::chat::{AccountRefusal, Chat, SessionId};
use crate::config::MAX_BIO_CHARS;
use crate::protocol::{check_name, name_key, now_millis};
use crate::session::token_key;
use crate::storage::{AccountChange, StoredAccount};

/// The session of `token` and the account it is logged in to.
pub fn whose(
    chat: &mut Chat,
    token: &str,
    now: Instant,
) -> Result<(SessionId, StoredAccount), AccountRefusal> {
    let Some(id) = chat.sessions().live(&token_key(token), now) else {
        return Err(AccountRefusal::NoSession);
    };
    let Some(key) = chat.session(id).expect("live").account.clone() else {
        return Err(AccountRefusal::NotClaimed);
    };
    match chat.store().account(&key) {
        Ok(Some(account)) => Ok((id, account)),
        Ok(None) => Err(AccountRefusal::NotClaimed),
        Err(why) => Err(AccountRefusal::Failed { why }),
    }
}

/// One session of an account, as its owner sees it.
#[derive(Debug, Serialize, PartialEq)]
pub struct SessionInfo {
    /// The one asking.
    pub current: bool,
    /// Its open connections (tabs).
    pub connected: usize,
    /// When its last connection closed (ms since the epoch), if none is open.
    pub idle_since: Option<u64>,
}

/// The sessions logged in to the account of `token`'s session.
pub fn sessions(
    chat: &mut Chat,
    token: &str,
    now: Instant,
) -> Result<Vec<SessionInfo>, AccountRefusal> {
    let (me, account) = whose(chat, token, now)?;
    let now_ms = now_millis();
    let ids = chat.sessions().of_account(&account.key);
    let mut list: Vec<SessionInfo> = ids
        .into_iter()
        .filter_map(|id| {
            let (connected, idle_since) = chat.sessions().activity(id, now, now_ms)?;
            Some(SessionInfo {
                current: id == me,
                connected,
                idle_since,
            })
        })
        .collect();
    list.sort_by_key(|s| (!s.current, s.idle_since));
    Ok(list)
}

/// Log out every session of the account (this one too); how many.
pub fn logout_all(chat: &mut Chat, token: &str, now: Instant) -> Result<usize, AccountRefusal> {
    let (_, account) = whose(chat, token, now)?;
    Ok(chat.end_account_sessions(&account.key, None))
}

/// A new password, hashed as `phc`, after the old one was checked against
/// `checked`. The account's other sessions end: they log in with the new one.
pub fn set_password(
    chat: &mut Chat,
    token: &str,
    checked: &str,
    phc: String,
    reply: Sender<Result<String, AccountRefusal>>,
    now: Instant,
) {
    let (me, mut account) = match mine(chat, token, checked, now) {
        Ok(found) => found,
        Err(refusal) => return refuse(reply, refusal),
    };
    account.phc = phc;
    let (key, name) = (account.key.clone(), account.name.clone());
    chat.stage_account(AccountChange::Save(account), name, reply);
    chat.end_account_sessions(&key, Some(me));
}

/// The profile the member card shows: a bio, and a colour.
pub fn set_profile(
    chat: &mut Chat,
    token: &str,
    bio: String,
    color: String,
    reply: Sender<Result<String, AccountRefusal>>,
    now: Instant,
) {
    let bio = bio.trim().to_string();
    if bio.chars().count() > MAX_BIO_CHARS || bio.chars().any(|c| c.is_control()) {
        let why = format!("A bio is one line of at most {MAX_BIO_CHARS} characters.");
        return refuse(reply, AccountRefusal::Invalid { why });
    }
    let is_hex = |c: char| c.is_ascii_hexdigit();
    if !(color.is_empty()
        || (color.len() == 7 && color.starts_with('#') && color[1..].chars().all(is_hex)))
    {
        let why = "A colour is written #rrggbb (say #7a5cff).".to_string();
        return refuse(reply, AccountRefusal::Invalid { why });
    }
    let mut account = match whose(chat, token, now) {
        Ok((_, account)) => account,
        Err(refusal) => return refuse(reply, refusal),
    };
    account.bio = bio;
    account.color = color.to_ascii_lowercase();
    let name = account.name.clone();
    chat.stage_account(AccountChange::Save(account), name, reply);
}

/// Give the name up, after the password was checked against `checked`: the
/// account goes, every session of it is logged out, and with `erase` every
/// message written under it is deleted for good first.
pub fn release(
    chat: &mut Chat,
    token: &str,
    checked: &str,
    erase: bool,
    reply: Sender<Result<String, AccountRefusal>>,
    now: Instant,
) {
    let (_, account) = match mine(chat, token, checked, now) {
        Ok(found) => found,
        Err(refusal) => return refuse(reply, refusal),
    };
    if erase {
        if let Err(why) = chat.erase_messages_of(&account.uid) {
            return refuse(reply, AccountRefusal::Failed { why });
        }
    }
    let (key, name) = (account.key.clone(), account.name.clone());
    chat.stage_account(AccountChange::Delete { key: key.clone() }, name, reply);
    chat.end_account_sessions(&key, None);
}

/// The profile of claimed name `name`, if it is claimed.
pub fn profile(chat: &mut Chat, name: &str) -> Result<Option<StoredAccount>, String> {
    let Ok(name) = check_name(name) else {
        return Ok(None);
    };
    chat.store().account(&name_key(&name))
}

/// `whose`, and the password checked was the account's current one.
fn mine(
    chat: &mut Chat,
    token: &str,
    checked: &str,
    now: Instant,
) -> Result<(SessionId, StoredAccount), AccountRefusal> {
    let (me, account) = whose(chat, token, now)?;
    if account.phc != checked {
        return Err(AccountRefusal::WrongPassword);
    }
    Ok((me, account))
}

fn refuse(reply: Sender<Result<String, AccountRefusal>>, refusal: AccountRefusal) {
    let _ = reply.try_send(Err(refusal));
}
