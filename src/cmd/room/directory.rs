//! `list_rooms` and `GET /rooms`: the public directory. It lists owned rooms
//! their owners made public (so a spam room costs at least a claim), and
//! with `--directory all` every open unowned room too; the busiest first.

use std::time::Instant;

use crate::chat::{Caller, Chat};
use crate::config::{Directory, DIRECTORY_MAX, DIRECTORY_PAGE, RATE_COST_DIRECTORY};
use crate::protocol::{self, now_millis, ListRooms, ListedRoom, Rejection, Reply};
use crate::storage::StorageError;

/// A page of the directory: its rooms, the `after` of the next page (`None`
/// on the last), and whether the directory is off.
pub struct Page {
    pub rooms: Vec<ListedRoom>,
    pub next: Option<String>,
    pub off: bool,
}

pub fn apply(
    chat: &mut Chat,
    caller: &Caller,
    ListRooms { after }: ListRooms,
    now: Instant,
) -> Result<(), Rejection> {
    if !chat.charge(caller, RATE_COST_DIRECTORY, None, now) {
        return Ok(());
    }
    let after = after.and_then(|a| a.parse().ok()).unwrap_or(0);
    let page = page(chat, after).map_err(|err| {
        Rejection::new(
            protocol::ErrorCode::StorageFailed,
            format!("could not read the directory: {err}"),
        )
    })?;
    let frame = protocol::encode(&Reply::Rooms {
        rooms: &page.rooms,
        next: page.next,
        off: page.off,
    });
    chat.reply(caller.conn, frame);
    Ok(())
}

/// Rooms `after..after + DIRECTORY_PAGE` of the directory, sorted by how
/// many are in them now (counted in memory), then by their latest message.
pub fn page(chat: &mut Chat, after: usize) -> Result<Page, StorageError> {
    let unowned = match chat.config().directory {
        Directory::Off => {
            return Ok(Page {
                rooms: Vec::new(),
                next: None,
                off: true,
            })
        }
        Directory::Owned => false,
        Directory::All => true,
    };
    let live_since = now_millis().saturating_sub(chat.lapse_ms());
    let rows = chat.store().listed(unowned, live_since, DIRECTORY_MAX)?;
    let mut rooms: Vec<ListedRoom> = rows
        .into_iter()
        .map(|(key, name, topic, access, last_ts)| ListedRoom {
            members: chat.room(&key).map_or(0, |r| r.member_names().len()),
            name,
            topic,
            last_ts,
            access,
        })
        .collect();
    rooms.sort_by(|a, b| b.members.cmp(&a.members).then(b.last_ts.cmp(&a.last_ts)));
    let total = rooms.len();
    let rooms: Vec<ListedRoom> = rooms.into_iter().skip(after).take(DIRECTORY_PAGE).collect();
    let end = after + rooms.len();
    Ok(Page {
        rooms,
        next: (end < total).then(|| end.to_string()),
        off: false,
    })
}
