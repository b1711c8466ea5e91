//! Claimed names in the chat: a claim is stored before it is told (like a
//! message), and from then on the person's presence in every room shows the
//! check mark.

use std::fmt;

use crossbeam_channel::Sender;

use crate::protocol::now_millis;
use crate::storage::{AccountChange, StoredAccount};

use super::{AccountWaiter, Chat, SessionId, NOBODY};
use crate::storage::{Change, Changed, StorageError};

/// Why a claim, or something asked of a claimed name's account, was
/// refused. Each kind has its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRefusal {
    /// No live session: log in first.
    NoSession,
    /// This session's name is not claimed (so it has no account to manage).
    NotClaimed,
    /// The password given is not the account's.
    WrongPassword,
    /// What was given does not fit (a bio too long, a colour that is not one).
    Invalid { why: String },
    /// This session's name is claimed already (by it).
    AlreadyYours { name: String },
    /// Someone claimed this name (or one that looks the same).
    Taken { name: String },
    /// Another session uses the name right now, in some room.
    InUse { name: String },
    /// This address claimed a name moments ago.
    TooSoon { retry_after: u64 },
    /// The claim could not be stored, or the database read.
    Failed { why: String },
}

impl AccountRefusal {
    pub fn status(&self) -> u16 {
        match self {
            AccountRefusal::NoSession => 401,
            AccountRefusal::WrongPassword | AccountRefusal::Invalid { .. } => 400,
            AccountRefusal::NotClaimed => 409,
            AccountRefusal::AlreadyYours { .. }
            | AccountRefusal::Taken { .. }
            | AccountRefusal::InUse { .. } => 409,
            AccountRefusal::TooSoon { .. } => 429,
            AccountRefusal::Failed { .. } => 503,
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AccountRefusal::TooSoon { retry_after } => Some(*retry_after),
            AccountRefusal::Failed { .. } => Some(5),
            _ => None,
        }
    }
}

/// The sentence the page shows.
impl fmt::Display for AccountRefusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            AccountRefusal::NoSession => write!(f, "Your session ended. Log in again first."),
            AccountRefusal::NotClaimed => write!(f, "Your name is not claimed, so it has no account."),
            AccountRefusal::WrongPassword => write!(f, "That is not your password."),
            AccountRefusal::Invalid { why } => write!(f, "{why}"),
            AccountRefusal::AlreadyYours { name } => {
                write!(f, "\u{201c}{name}\u{201d} is already yours.")
            }
            AccountRefusal::Taken { name } => write!(
                f,
                "\u{201c}{name}\u{201d} (or a name that looks the same) is claimed already."
            ),
            AccountRefusal::InUse { name } => write!(
                f,
                "\u{201c}{name}\u{201d} is in use in another session right now; \
                 try again once it has left."
            ),
            AccountRefusal::TooSoon { retry_after } => write!(
                f,
                "A name was claimed from your address moments ago. Please try again in {retry_after} s."
            ),
            AccountRefusal::Failed { why } => write!(f, "The claim could not be saved ({why}). Please try again."),
        }
    }
}

impl Chat {
    /// Session `session` claims its name as `account`: the account and the
    /// session's binding go into this pass's commit, and `reply` is answered
    /// once it is stored (`answer_claims`). Meanwhile the name counts as
    /// claimed, so a second claim or a password-less login cannot slip in.
    pub fn stage_claim(
        &mut self,
        session: SessionId,
        account: StoredAccount,
        reply: Sender<Result<String, AccountRefusal>>,
    ) {
        let name = account.name.clone();
        let Some(s) = self.sessions.bind(session, Some(account.key.clone())) else {
            let _ = reply.try_send(Err(AccountRefusal::NoSession));
            return;
        };
        let saved = s.stored(now_millis(), Vec::new());
        self.pending.accounts.push(AccountChange::Save(account));
        self.pending.sessions.push(saved);
        self.claims.push(AccountWaiter {
            claim: Some(session),
            name,
            reply,
        });
        // The check mark is not shown yet: commit before you tell. The
        // member lists go out while the claim is being stored, and the claim
        // may fail (`answer_claims` shows it once it is stored).
    }

    /// Store `change` to an account named `name`, and answer `reply` once it
    /// is stored (a new password, a profile, a release).
    pub fn stage_account(
        &mut self,
        change: AccountChange,
        name: String,
        reply: Sender<Result<String, AccountRefusal>>,
    ) {
        self.pending.accounts.push(change);
        self.claims.push(AccountWaiter {
            claim: None,
            name,
            reply,
        });
    }

    /// End every session logged in to account `key` but `except` (their
    /// sockets close with 1008: log in again).
    pub fn end_account_sessions(&mut self, key: &str, except: Option<SessionId>) -> usize {
        let theirs = self.sessions.of_account(key);
        let ending: Vec<SessionId> = theirs
            .into_iter()
            .filter(|&id| Some(id) != except)
            .collect();
        for &id in &ending {
            self.end_session(id);
        }
        ending.len()
    }

    /// Erase every message written under public id `uid`: each is deleted
    /// as its author would delete it (a change with the room's next number,
    /// stored before anyone is told), so pages that resume see it go too.
    /// Returns how many.
    pub fn erase_messages_of(&mut self, uid: &str) -> Result<usize, StorageError> {
        let mut erased = 0;
        for (key, id) in self.store.messages_of(uid)? {
            let display = self
                .store
                .room(&key)?
                .map_or_else(|| key.clone(), |r| r.name);
            self.load_room(&key, &display)?;
            let Some(m) = self.current(&key, id)? else {
                continue;
            };
            if m.deleted {
                continue;
            }
            let room = self.room_mut(&key).expect("loaded above");
            let change = Change {
                id,
                seq: room.take_number(),
                client_id: None,
                what: Changed::Delete { by: None },
            };
            let mut after = m;
            super::apply_change(&mut after, &change);
            self.stage_change(key.clone(), change, after, NOBODY);
            self.maybe_idle(&key);
            erased += 1;
        }
        Ok(erased)
    }

    /// Whether the name with this `name_key` is being claimed (the claim is
    /// staged or being stored).
    pub fn claiming(&self, name_key: &str) -> bool {
        let claims = self.claims.iter().chain(&self.claims_committing);
        let claims = claims.filter(|c| c.claim.is_some());
        claims
            .into_iter()
            .any(|c| crate::protocol::name_key(&c.name) == name_key)
    }

    /// The commit that held `claims_committing` is done: tell each claimer,
    /// and undo the claims that could not be stored (`failed` says why).
    pub(super) fn answer_claims(&mut self, failed: Option<&str>) {
        for waiter in std::mem::take(&mut self.claims_committing) {
            let answer = match failed {
                None => {
                    if let Some(session) = waiter.claim {
                        self.show_verified(session, true);
                    }
                    Ok(waiter.name)
                }
                Some(err) => {
                    // Nobody was shown the check mark yet: only the session
                    // goes back to being temporary.
                    if let Some(session) = waiter.claim {
                        self.sessions.bind(session, None);
                    }
                    Err(AccountRefusal::Failed {
                        why: err.to_string(),
                    })
                }
            };
            let _ = waiter.reply.try_send(answer);
        }
    }

    /// Mark `session` verified (or not) in the member list of every room it
    /// is in; the lists go out again.
    fn show_verified(&mut self, session: SessionId, verified: bool) {
        let keys: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.present.contains_key(&session))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(p) = self
                .room_mut(&key)
                .and_then(|r| r.present.get_mut(&session))
            {
                p.verified = verified;
            }
            self.presence_changed(&key);
        }
    }
}
