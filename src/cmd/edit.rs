//! `edit`: change the text of your own message, within the edit window.
//! Like a message, the edit takes the room's next number and is stored before
//! anyone sees it; the room then gets a small `edit` frame.

use std::time::{Duration, Instant};

use crate::chat::{Caller, Chat};
use crate::protocol::{self, mentioned, name_key, now_millis, Edit, ErrorCode, Rejection, Reply};
use crate::storage::Changed;

use super::{is_author, message_to_change, post, stage};

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    Edit {
        room,
        id,
        text,
        mentions,
        client_id,
    }: Edit,
    now: Instant,
) -> Result<(), Rejection> {
    // As much as a new message of that length: editing is writing.
    let cost = post::cost(&text);
    let cid = client_id.as_deref();
    let Some((key, m)) = message_to_change(chat, caller, &room, id, cid, cost, now)? else {
        return Ok(());
    };
    super::require_voice(chat, caller, &key, &room, cid)?;
    let about = |r: Rejection| r.in_room(room.as_str()).for_client(client_id.as_deref());
    if m.deleted {
        let message = format!("message {id} was deleted; it cannot be edited");
        return Err(about(Rejection::new(ErrorCode::Deleted, message)));
    }
    if !is_author(chat, caller, &m) {
        let message = "you can only edit your own messages";
        return Err(about(Rejection::new(ErrorCode::NotAuthor, message)));
    }
    if let Some(window) = chat.config().edit_window {
        let age = Duration::from_millis(now_millis().saturating_sub(m.ts));
        if age > window || window.is_zero() {
            return Err(about(Rejection::new(
                ErrorCode::EditWindow,
                window_passed(window),
            )));
        }
    }
    // Without a list from the page, the mentions the new text still shows.
    let mentions = mentions.unwrap_or_else(|| mentioned(&text, m.mentions.clone()));
    if text == m.text && mentions == m.mentions {
        // A retry of an edit already made (or an edit that changes nothing):
        // its frame again, to the asker alone, and no new number.
        if chat.changing(&key, id) {
            return Ok(()); // Not yet: see `delete.rs`.
        }
        let frame = protocol::encode(&Reply::Edit {
            room: &m.room,
            seq: m.rev(),
            id,
            text: &m.text,
            edited_ts: m.edited_ts,
            mentions: &m.mentions,
            new_mentions: &[],
            client_id: client_id.as_deref(),
        });
        chat.reply(caller.conn, frame);
        return Ok(());
    }
    // Only those the edit adds are notified: nobody is pinged twice.
    let before: Vec<String> = m.mentions.iter().map(|n| name_key(n)).collect();
    let new_mentions = mentions
        .iter()
        .filter(|n| !before.contains(&name_key(n)))
        .cloned()
        .collect();
    let what = Changed::Edit {
        text,
        mentions,
        new_mentions,
        edited_ts: now_millis(),
    };
    stage(chat, caller, key, m, client_id, what);
    Ok(())
}

/// Why an edit came too late, saying how long the window is.
fn window_passed(window: Duration) -> String {
    let secs = window.as_secs();
    match secs {
        0 => "editing messages is turned off on this server".to_string(),
        _ if secs.is_multiple_of(60) => format!(
            "a message can be edited for {} minute{} after it is sent; this one is older \
             (you can still delete it)",
            secs / 60,
            if secs == 60 { "" } else { "s" }
        ),
        _ => format!(
            "a message can be edited for {secs} seconds after it is sent; this one is older \
             (you can still delete it)"
        ),
    }
}
