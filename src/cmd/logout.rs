//! `logout` (from the web form): end the session; its sockets close with 1008.

use crate::chat::Chat;
use crate::session::token_key;

pub fn apply(chat: &mut Chat, token: &str) {
    if let Some(id) = chat.sessions().by_token(&token_key(token)) {
        chat.end_session(id);
    }
}
