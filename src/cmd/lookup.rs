//! `lookup` (from the web threads): whose session is this cookie's token?

use std::time::Instant;

use crate::chat::Chat;
use crate::session::token_key;

/// The session's display name, if the token belongs to a live session.
pub fn apply(chat: &Chat, token: &str, now: Instant) -> Option<String> {
    let id = chat.sessions().live(&token_key(token), now)?;
    Some(chat.session(id)?.name.to_string())
}
