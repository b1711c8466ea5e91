//! The edge of sessions, which a first reading can skip: who makes way when
//! logins flood in. Without it, a script could log in forever and either
//! grow the session table without bound or fill it and lock everyone else
//! out; with it, a flood only ever evicts sessions nobody is using.

use std::net::IpAddr;
use std::time::Instant;

use crate::cmd::login::LoginRefusal;
use crate::config::MIN_IDLE_TO_EVICT;

use super::sessions::Sessions;
use super::SessionId;

impl Sessions {
    /// Before a new session from `address`: which session must make way, if
    /// any, to keep within the caps per address and in all. The first to go
    /// is the oldest that never opened a socket; then the longest idle, but
    /// only one idle for `MIN_IDLE_TO_EVICT`, so nobody who was chatting a
    /// moment ago (a page reload, a phone asleep, a restart) loses their
    /// session to a flood of logins. Past that, the login is refused.
    pub fn victim(&self, address: IpAddr, now: Instant) -> Result<Option<SessionId>, LoginRefusal> {
        let evictable = |since: Instant| now.duration_since(since) >= MIN_IDLE_TO_EVICT;
        if let Some(ids) = self
            .per_address
            .get(&address)
            .filter(|ids| ids.len() >= self.max_per_address)
        {
            // At most `max_per_address` of them: a short scan.
            let unused = ids.iter().find(|id| self.unused.contains(id));
            let idle = || {
                ids.iter()
                    .filter_map(|id| self.by_id.get(id).map(|s| (id, s)))
                    .filter(|(_, s)| s.conns == 0 && evictable(s.idle_since))
                    .min_by_key(|(_, s)| s.idle_since)
                    .map(|(id, _)| id)
            };
            return match unused.or_else(idle) {
                Some(&victim) => Ok(Some(victim)),
                None => Err(LoginRefusal::TooManyFromAddress {
                    cap: self.max_per_address,
                }),
            };
        }
        if self.by_id.len() >= self.max {
            let idle = self.idle.first().filter(|(since, _)| evictable(*since));
            return match self.unused.first().copied().or(idle.map(|&(_, id)| id)) {
                Some(victim) => Ok(Some(victim)),
                None => Err(LoginRefusal::Full { max: self.max }),
            };
        }
        Ok(None)
    }
}
