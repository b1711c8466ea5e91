//! `claim` (from the web threads): make this session's name its own, with a
//! password. In two steps, so that the password is hashed on the web thread
//! and never on the hub: [`check`] says whether the claim may go ahead, the
//! web thread hashes, and [`apply`] checks again (things may have changed
//! meanwhile) and stages the account, which is stored before the answer.

use std::net::IpAddr;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::chat::{AccountRefusal, Chat, SessionId};
use crate::protocol::{name_key, now_millis};
use crate::ratelimit::address_key;
use crate::session::token_key;
use crate::storage::StoredAccount;

/// Whether the session of `token` may claim its name now: it is live, its
/// name is nobody's yet, no other session goes by it (in any room), and its
/// address has not just claimed one. Returns the session and its name.
pub fn check(
    chat: &mut Chat,
    token: &str,
    ip: IpAddr,
    now: Instant,
) -> Result<(SessionId, String), AccountRefusal> {
    let Some(id) = chat.sessions().live(&token_key(token), now) else {
        return Err(AccountRefusal::NoSession);
    };
    let session = chat.session(id).expect("live");
    let name = session.name.to_string();
    if session.account.is_some() {
        return Err(AccountRefusal::AlreadyYours { name });
    }
    let key = name_key(&name);
    let taken = chat
        .store()
        .account(&key)
        .map_err(|why| AccountRefusal::Failed { why })?;
    if taken.is_some() || chat.claiming(&key) {
        return Err(AccountRefusal::Taken { name });
    }
    let others = chat.sessions().named(&key, id);
    if others
        .iter()
        .any(|&other| chat.sessions().live_id(other, now))
    {
        return Err(AccountRefusal::InUse { name });
    }
    if let Some(retry_after) = chat.logins().claim_wait(address_key(ip), now) {
        return Err(AccountRefusal::TooSoon { retry_after });
    }
    Ok((id, name))
}

/// Claim the name of `token`'s session with the password hashed as `phc`;
/// `reply` is answered once the account is stored (or at once, refused).
pub fn apply(
    chat: &mut Chat,
    token: &str,
    ip: IpAddr,
    phc: String,
    reply: Sender<Result<String, AccountRefusal>>,
    now: Instant,
) {
    let (id, name) = match check(chat, token, ip, now) {
        Ok(found) => found,
        Err(refusal) => {
            let _ = reply.try_send(Err(refusal));
            return;
        }
    };
    chat.logins().claimed(address_key(ip), now);
    let uid = chat.session(id).expect("checked").uid.to_string();
    let account = StoredAccount {
        key: name_key(&name),
        name,
        uid,
        phc,
        created_ms: now_millis(),
        bio: String::new(),
        color: String::new(),
    };
    chat.stage_claim(id, account, reply);
}
