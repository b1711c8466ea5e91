//! `admit` (from the WebSocket handshake): may this session open a socket?

use std::net::IpAddr;
use std::time::Instant;

use crate::chat::Chat;
use crate::config::RATE_COST_CONNECT;
use crate::hub::Admission;
use crate::ratelimit::address_key;
use crate::session::token_key;

/// Only a live session, and only within both rate budgets. The budgets are
/// checked before they are charged, so a refused handshake costs nothing:
/// pages retrying behind one NAT address do not keep each other out for good.
pub fn apply(chat: &mut Chat, token: &str, ip: IpAddr, now: Instant) -> Admission {
    apply_key(chat, &token_key(token), ip, now)
}

/// [`apply`], given the token's `token_key` (a follower in a cluster sends
/// the leader that, never the token: `cluster/relay.rs`).
pub fn apply_key(chat: &mut Chat, key: &str, ip: IpAddr, now: Instant) -> Admission {
    let Some(id) = chat.sessions().live(key, now) else {
        return Admission::UnknownSession;
    };
    match chat.charge_if_allowed(id, address_key(ip), RATE_COST_CONNECT, now) {
        true => Admission::Welcome(id),
        false => Admission::RateLimited,
    }
}
