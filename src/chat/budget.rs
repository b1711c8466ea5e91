//! Rate limits: every request is charged to its session and its address,
//! or a bot token's to the token alone.

use std::net::IpAddr;
use std::time::Instant;

use crate::protocol::{close, ErrorCode, Rejection};
use crate::ratelimit::Verdict;

use super::{Caller, Chat, SessionId};

impl Chat {
    /// Charge `cost` to the caller's session and address. With `client_id`,
    /// a refusal names it, so the page marks that message as not sent.
    /// Returns whether the request may go ahead; if not, the caller has been
    /// told (`rate_limited`) or, far past its budget, is being closed.
    pub fn charge(
        &mut self,
        caller: &Caller,
        cost: f64,
        client_id: Option<&str>,
        now: Instant,
    ) -> bool {
        match self.verdict(caller, cost, now) {
            Verdict::Allow => true,
            Verdict::Limit { retry_after_secs } => {
                let mut r = Rejection::new(
                    ErrorCode::RateLimited,
                    format!("slow down: you can send again in {retry_after_secs} s"),
                );
                r.client_id = client_id.map(str::to_string);
                r.retry_after = Some(retry_after_secs);
                self.refuse(caller.conn, &r);
                false
            }
            Verdict::Close => false,
        }
    }

    /// Charge something that gets no answer (`typing`, a ping or a pong):
    /// over the budget it is dropped without a word, far over it the
    /// connection is closed.
    pub fn charge_quietly(&mut self, caller: &Caller, cost: f64, now: Instant) -> bool {
        matches!(self.verdict(caller, cost, now), Verdict::Allow)
    }

    /// Charge an address alone (a login has no session yet).
    pub fn charge_address(&mut self, address: IpAddr, cost: f64, now: Instant) -> Verdict {
        match self.budgets.as_mut() {
            Some(budgets) => budgets.charge(None, address, cost, now),
            None => Verdict::Allow,
        }
    }

    /// Charge `cost` only if both budgets allow it; a refusal costs nothing.
    pub fn charge_if_allowed(
        &mut self,
        session: SessionId,
        address: IpAddr,
        cost: f64,
        now: Instant,
    ) -> bool {
        let Some(budgets) = self.budgets.as_mut() else {
            return true;
        };
        if budgets.check(Some(session), address, cost, now) != Verdict::Allow {
            return false;
        }
        budgets.charge(Some(session), address, cost, now);
        true
    }

    fn verdict(&mut self, caller: &Caller, cost: f64, now: Instant) -> Verdict {
        // A bot token is charged its own budget, never its address's.
        let bot = self
            .sessions
            .get(caller.session)
            .is_some_and(|s| s.bot.is_some());
        let Some(budgets) = self.budgets.as_mut() else {
            return Verdict::Allow;
        };
        let verdict = match bot {
            true => budgets.charge_bot(caller.session, cost, now),
            false => budgets.charge(Some(caller.session), caller.address, cost, now),
        };
        if verdict == Verdict::Close {
            self.close(caller.conn, close::POLICY, "rate limit exceeded");
        }
        verdict
    }
}
