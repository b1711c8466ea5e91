//! `export` (from the web threads): one page of a room's whole transcript.

use std::sync::Arc;

use crate::chat::Chat;
use crate::config::EXPORT_PAGE;
use crate::protocol::{room_key, ChatMessage};
use crate::storage::StorageError;

/// Up to `EXPORT_PAGE` messages of `room` with ids above `after`, oldest
/// first, and whether there are more. The export's thread asks a page at a
/// time as it writes them out, so the hub is never busy for long and an
/// export holds one page in memory.
pub fn apply(
    chat: &mut Chat,
    room: &str,
    after: u64,
) -> Result<(Vec<ChatMessage>, bool), StorageError> {
    let key = room_key(room);
    // The display name: from memory, else storage, else as asked.
    let name: Arc<str> = match chat.room(&key) {
        Some(r) => r.name.clone(),
        None => match chat.store().room(&key) {
            Ok(Some(stored)) => stored.name.into(),
            _ => room.into(),
        },
    };
    // One more than a page, to know whether there are more.
    let mut messages = chat.store().after(&key, &name, after, EXPORT_PAGE + 1)?;
    let more = messages.len() > EXPORT_PAGE;
    messages.truncate(EXPORT_PAGE);
    Ok((messages, more))
}
