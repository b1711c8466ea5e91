//! Claimed names in the chat: a claim is stored before it is told (like a
//! message), and from then on the person's presence in every room shows the
//! check mark.

use std::fmt;

use crossbeam_channel::Sender;

use crate::protocol::now_millis;
use crate::storage::{AccountChange, StoredAccount};

use super::{Chat, Claimed, SessionId};

/// Why a claim was refused. Each kind has its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// No live session: log in first.
    NoSession,
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

impl ClaimRefusal {
    pub fn status(&self) -> u16 {
        match self {
            ClaimRefusal::NoSession => 401,
            ClaimRefusal::AlreadyYours { .. }
            | ClaimRefusal::Taken { .. }
            | ClaimRefusal::InUse { .. } => 409,
            ClaimRefusal::TooSoon { .. } => 429,
            ClaimRefusal::Failed { .. } => 503,
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ClaimRefusal::TooSoon { retry_after } => Some(*retry_after),
            ClaimRefusal::Failed { .. } => Some(5),
            _ => None,
        }
    }
}

/// The sentence the page shows.
impl fmt::Display for ClaimRefusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ClaimRefusal::NoSession => write!(f, "Your session ended. Log in again first."),
            ClaimRefusal::AlreadyYours { name } => {
                write!(f, "\u{201c}{name}\u{201d} is already yours.")
            }
            ClaimRefusal::Taken { name } => write!(
                f,
                "\u{201c}{name}\u{201d} (or a name that looks the same) is claimed already."
            ),
            ClaimRefusal::InUse { name } => write!(
                f,
                "\u{201c}{name}\u{201d} is in use in another session right now; \
                 try again once it has left."
            ),
            ClaimRefusal::TooSoon { retry_after } => write!(
                f,
                "A name was claimed from your address moments ago. Please try again in {retry_after} s."
            ),
            ClaimRefusal::Failed { why } => write!(f, "The claim could not be saved ({why}). Please try again."),
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
        reply: Sender<Result<String, ClaimRefusal>>,
    ) {
        let name = account.name.clone();
        let Some(s) = self.sessions.bind(session, Some(account.key.clone())) else {
            let _ = reply.try_send(Err(ClaimRefusal::NoSession));
            return;
        };
        let saved = s.stored(now_millis(), Vec::new());
        self.pending.accounts.push(AccountChange::Save(account));
        self.pending.sessions.push(saved);
        self.claims.push(Claimed {
            session,
            name,
            reply,
        });
        self.show_verified(session, true);
    }

    /// Whether the name with this `name_key` is being claimed (the claim is
    /// staged or being stored).
    pub fn claiming(&self, name_key: &str) -> bool {
        let claims = self.claims.iter().chain(&self.claims_committing);
        claims
            .into_iter()
            .any(|c| crate::protocol::name_key(&c.name) == name_key)
    }

    /// The commit that held `claims_committing` is done: tell each claimer,
    /// and undo the claims that could not be stored (`failed` says why).
    pub(super) fn answer_claims(&mut self, failed: Option<&str>) {
        for claim in std::mem::take(&mut self.claims_committing) {
            let answer = match failed {
                None => Ok(claim.name),
                Some(err) => {
                    self.sessions.bind(claim.session, None);
                    self.show_verified(claim.session, false);
                    Err(ClaimRefusal::Failed {
                        why: err.to_string(),
                    })
                }
            };
            let _ = claim.reply.try_send(answer);
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
